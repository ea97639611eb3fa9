//! Statistics (manual §2.7, §4.1.15-§4.1.18, §4.5; facts §8): one record per session, fed by
//! the SessionActors (connections joining and leaving, tags) and by the protocols (the byte,
//! packet and position counters of [`ConnCounters`]), sampled once a second by the supervisor.
//!
//! A record lives as long as its session is cached (ten minutes after its last connection) and
//! keeps ten minutes of history at a bounded size ([`record`]). The number of records is capped
//! at [`MAX_RECORDS`]: past it, the records of the sessions idle the longest are dropped first,
//! so memory stays bounded whatever the load.
//!
//! What reads it: the `clients` and `totals` API commands ([`query`]), the viewer counts of
//! `active_streams`, Prometheus ([`prometheus`]), and the access log ([`access`]), one line per
//! ended visit.

pub mod access;
pub mod metrics;
pub mod prometheus;
pub mod query;
pub mod record;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::hub::session::{ConnCounters, SessionKind};
use record::Record;

/// Most records kept; the longest idle go first past it.
pub const MAX_RECORDS: usize = 25_000;

/// A record's handle, given to the SessionActor that feeds it.
pub type RecordKey = u64;

/// The statistics store, shared by the actors, the API and Prometheus.
#[derive(Clone, Default)]
pub struct Stats {
    inner: Arc<Mutex<Store>>,
}

/// Sessions started since the server started, by kind (Prometheus `mist_sessions_count`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KindCounts {
    pub viewers: u64,
    pub inputs: u64,
    pub outputs: u64,
}

impl KindCounts {
    fn add(&mut self, kind: SessionKind, n: u64) {
        match kind {
            SessionKind::Viewer => self.viewers += n,
            SessionKind::Input => self.inputs += n,
            SessionKind::Output => self.outputs += n,
        }
    }
}

#[derive(Default)]
pub struct Store {
    records: HashMap<RecordKey, Record>,
    next_key: RecordKey,
    /// Sessions opened since start, by kind.
    pub opened: KindCounts,
    /// Bytes of records already dropped, so totals since start stay whole.
    pub gone_down: u64,
    pub gone_up: u64,
    /// The time of the last sample (unix s).
    pub now: i64,
    /// The last [`RECENT_VISITS`] ended visits (the WebSocket feed's `access` messages).
    recent_visits: std::collections::VecDeque<VisitEnd>,
    /// Visits ended since start.
    visits_ended: u64,
}

/// How many ended visits are kept for the WebSocket feed.
pub const RECENT_VISITS: usize = 100;

/// An ended visit, for the access log.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitEnd {
    pub at: i64,
    pub sessid: String,
    pub stream: String,
    pub protocols: String,
    pub host: IpAddr,
    pub seconds: i64,
    pub down: u64,
    pub up: u64,
    pub tags: Vec<String>,
}

/// Current sessions of one stream (`active_streams` viewers/inputs/outputs).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamCurrent {
    pub viewers: u64,
    pub inputs: u64,
    pub outputs: u64,
}

impl Stats {
    pub fn new() -> Self {
        Self::default()
    }

    /// The store, for the readers in this module's children.
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session started; its record is fed through the returned key.
    pub fn open(
        &self,
        id: String,
        stream: String,
        host: IpAddr,
        kind: SessionKind,
        counters: Arc<ConnCounters>,
    ) -> RecordKey {
        let mut s = self.lock();
        s.next_key += 1;
        let key = s.next_key;
        s.opened.add(kind, 1);
        s.records
            .insert(key, Record::new(id, stream, host, kind, counters));
        if s.records.len() > MAX_RECORDS {
            s.evict_idle();
        }
        key
    }

    /// A connection joined; `false` when the record is gone (dropped past [`MAX_RECORDS`]): the
    /// session then opens a new one.
    pub fn joined(&self, key: RecordKey, protocol: &str) -> bool {
        let now = unix_now();
        match self.lock().records.get_mut(&key) {
            Some(r) => {
                r.joined(protocol, now);
                true
            }
            None => false,
        }
    }

    pub fn left(&self, key: RecordKey) {
        let now = unix_now();
        if let Some(r) = self.lock().records.get_mut(&key) {
            r.left(now);
        }
    }

    pub fn tag(&self, key: RecordKey, tag: &str) {
        if let Some(r) = self.lock().records.get_mut(&key) {
            if !r.tags.iter().any(|t| t == tag) {
                r.tags.push(tag.to_string());
            }
        }
    }

    /// The session expired from the cache: its record goes. A visit still open is returned
    /// for the access log.
    pub fn close(&self, key: RecordKey) -> Option<VisitEnd> {
        let mut s = self.lock();
        let mut r = s.records.remove(&key)?;
        let c = r.read(s.now);
        s.gone_down += c.down;
        s.gone_up += c.up;
        let now = s.now;
        r.visit.take().map(|v| visit_end(&r, v, now))
    }

    /// Takes the once-a-second sample at `now` (unix s); returns the visits that ended.
    pub fn sample(&self, now: i64) -> Vec<VisitEnd> {
        let mut s = self.lock();
        s.now = now;
        let mut ended = Vec::new();
        for r in s.records.values_mut() {
            if let Some(v) = r.sample(now) {
                ended.push(visit_end(r, v, now));
            }
        }
        ended
    }

    /// `clearstatlogs`: the history of every session goes; connected sessions start a new one
    /// with the next sample.
    pub fn clear(&self) {
        for r in self.lock().records.values_mut() {
            r.clear_history();
        }
    }

    /// Keeps ended visits for [`Stats::visits_after`].
    pub fn remember_visits(&self, visits: &[VisitEnd]) {
        let mut s = self.lock();
        for v in visits {
            if s.recent_visits.len() == RECENT_VISITS {
                s.recent_visits.pop_front();
            }
            s.recent_visits.push_back(v.clone());
            s.visits_ended += 1;
        }
    }

    /// The visits that ended after the first `seen` (of those still kept), and how many have
    /// ended in all.
    pub fn visits_after(&self, seen: u64) -> (Vec<VisitEnd>, u64) {
        let s = self.lock();
        let new = usize::try_from(s.visits_ended.saturating_sub(seen))
            .unwrap_or(usize::MAX)
            .min(s.recent_visits.len());
        let skip = s.recent_visits.len() - new;
        (
            s.recent_visits.iter().skip(skip).cloned().collect(),
            s.visits_ended,
        )
    }

    /// Current sessions per stream.
    pub fn current_by_stream(&self) -> BTreeMap<String, StreamCurrent> {
        let s = self.lock();
        let now = s.now.max(unix_now());
        let mut out: BTreeMap<String, StreamCurrent> = BTreeMap::new();
        for r in s.records.values().filter(|r| r.on(now)) {
            let e = out.entry(r.stream.clone()).or_default();
            match r.kind {
                SessionKind::Viewer => e.viewers += 1,
                SessionKind::Input => e.inputs += 1,
                SessionKind::Output => e.outputs += 1,
            }
        }
        out
    }

    /// Names of the streams that cached sessions reference (`stats_streams`).
    pub fn streams(&self) -> Vec<String> {
        let s = self.lock();
        let mut names: Vec<String> = s.records.values().map(|r| r.stream.clone()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// How many records, and roughly how many bytes they hold.
    pub fn footprint(&self) -> (usize, usize) {
        let s = self.lock();
        let heap: usize = s
            .records
            .values()
            .map(|r| r.heap_bytes() + std::mem::size_of::<Record>() + 16)
            .sum();
        (s.records.len(), heap)
    }
}

impl Store {
    /// The records, for the queries.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.values()
    }

    /// Drops the tenth of the records idle the longest (never a connected one).
    fn evict_idle(&mut self) {
        let now = self.now;
        let mut idle: Vec<(i64, RecordKey)> = self
            .records
            .iter()
            .filter(|(_, r)| !r.on(now))
            .map(|(k, r)| (r.last_left.unwrap_or(i64::MIN), *k))
            .collect();
        idle.sort_unstable();
        let n = (MAX_RECORDS / 10).max(1).min(idle.len());
        for (_, k) in idle.into_iter().take(n) {
            if let Some(r) = self.records.remove(&k) {
                let c = r.read(now);
                self.gone_down += c.down;
                self.gone_up += c.up;
            }
        }
    }
}

fn visit_end(r: &Record, v: record::Visit, now: i64) -> VisitEnd {
    let last = r.read(now);
    let end = r.last_left.filter(|&l| l >= v.start).unwrap_or(now);
    VisitEnd {
        at: now,
        sessid: r.id.clone(),
        stream: r.stream.clone(),
        protocols: r.protocols.join(","),
        host: r.host,
        seconds: (end - v.start).max(0),
        down: last.down.saturating_sub(v.down0),
        up: last.up.saturating_sub(v.up0),
        tags: r.tags.clone(),
    }
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn records_follow_their_sessions() {
        let stats = Stats::new();
        let c = Arc::new(ConnCounters::default());
        let ip: IpAddr = "10.0.0.9".parse().expect("ip");
        let k = stats.open(
            "a".into(),
            "live".into(),
            ip,
            SessionKind::Viewer,
            c.clone(),
        );
        stats.joined(k, "RTMP");
        let now = unix_now();
        assert!(stats.sample(now).is_empty());
        assert_eq!(stats.current_by_stream()["live"].viewers, 1);
        c.down.fetch_add(5000, Ordering::Relaxed);
        stats.left(k);
        stats.sample(now + 1);
        let ended = stats.sample(now + 3);
        assert_eq!(ended.len(), 1, "the visit ended");
        assert_eq!(ended[0].down, 5000);
        assert_eq!(ended[0].protocols, "RTMP");
        assert!(stats.current_by_stream().is_empty());
        assert_eq!(stats.streams(), vec!["live"]);
        assert!(stats.close(k).is_none());
        assert_eq!(stats.lock().gone_down, 5000);
        assert!(stats.streams().is_empty());
    }

    #[test]
    fn clear_empties_the_history() {
        let stats = Stats::new();
        let ip: IpAddr = "::1".parse().expect("ip");
        let on = stats.open(
            "on".into(),
            "a".into(),
            ip,
            SessionKind::Viewer,
            Arc::default(),
        );
        stats.joined(on, "FLV");
        let off = stats.open(
            "off".into(),
            "b".into(),
            ip,
            SessionKind::Viewer,
            Arc::default(),
        );
        stats.joined(off, "FLV");
        stats.left(off);
        let now = unix_now();
        stats.sample(now + 5);
        stats.clear();
        let store = stats.lock();
        assert!(store.records().all(|r| r.samples.is_empty()));
        drop(store);
        stats.sample(now + 6);
        let store = stats.lock();
        let sampled: Vec<&str> = store
            .records()
            .filter(|r| !r.samples.is_empty())
            .map(|r| r.stream.as_str())
            .collect();
        assert_eq!(
            sampled,
            vec!["a"],
            "only the connected session samples again"
        );
    }
}
