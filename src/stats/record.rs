//! One session's statistics record: who it is, what it is doing now, and its recent history as
//! once-a-second samples of its counters.
//!
//! History is kept at two resolutions so that its size does not depend on how long a session
//! lasts: every second for the last [`RECENT_S`] seconds, then one sample per [`COARSE_S`]-second
//! slot back to [`KEEP_S`] seconds. A record therefore holds at most about 90 samples (32 bytes
//! each), whatever the session does: about 3 KB per session.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::hub::session::{ConnCounters, SessionKind};

/// Seconds of history kept at one-second resolution.
pub const RECENT_S: i64 = 30;
/// Resolution of older history, in seconds.
pub const COARSE_S: i64 = 10;
/// How far back history goes (manual §2.7: about ten minutes), plus one coarse slot.
pub const KEEP_S: i64 = 600 + COARSE_S;
/// How long a session of request-based protocols (HLS, CMAF, the info pages) counts as
/// connected after its last request ended: a player asks for a playlist or a segment every few
/// seconds. MistServer's session process lingers for the same 15 s (`STATS_DELAY`).
pub const REQUEST_LINGER_S: i64 = 15;

/// The counters at one moment (32 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Unix seconds.
    pub t: i64,
    pub down: u64,
    pub up: u64,
    /// Media packets (saturating).
    pub packets: u32,
    /// Media position in whole seconds.
    pub position_s: u32,
}

/// The visit a session is on: from its first connection to the moment it has had none for its
/// linger time. Each visit that ends writes one access-log line.
#[derive(Debug, Clone, Copy)]
pub struct Visit {
    pub start: i64,
    pub down0: u64,
    pub up0: u64,
}

/// One session.
#[derive(Debug)]
pub struct Record {
    pub id: String,
    pub stream: String,
    pub host: IpAddr,
    pub kind: SessionKind,
    /// Connectors in the order the session first used them (`RTMP`, `HLS`, `INPUT:RTMP`...).
    pub protocols: Vec<String>,
    pub tags: Vec<String>,
    pub counters: Arc<ConnCounters>,
    /// Open connections.
    pub conns: u32,
    /// When the first connection came (unix s); `None` before any.
    pub first_join: Option<i64>,
    /// When the connection count last dropped to zero.
    pub last_left: Option<i64>,
    /// Whether the session uses request-based protocols (see [`REQUEST_LINGER_S`]).
    pub lingers: bool,
    pub visit: Option<Visit>,
    pub samples: VecDeque<Sample>,
    /// How many samples at the front are older than [`RECENT_S`] and already thinned.
    thinned: usize,
}

impl Record {
    pub fn new(
        id: String,
        stream: String,
        host: IpAddr,
        kind: SessionKind,
        counters: Arc<ConnCounters>,
    ) -> Self {
        Record {
            id,
            stream,
            host,
            kind,
            protocols: Vec::new(),
            tags: Vec::new(),
            counters,
            conns: 0,
            first_join: None,
            last_left: None,
            lingers: false,
            visit: None,
            samples: VecDeque::new(),
            thinned: 0,
        }
    }

    /// The counters now.
    pub fn read(&self, t: i64) -> Sample {
        let c = &self.counters;
        Sample {
            t,
            down: c.down.load(Ordering::Relaxed),
            up: c.up.load(Ordering::Relaxed),
            packets: u32::try_from(c.packets.load(Ordering::Relaxed)).unwrap_or(u32::MAX),
            position_s: u32::try_from(c.position_ms.load(Ordering::Relaxed).max(0) / 1000)
                .unwrap_or(u32::MAX),
        }
    }

    /// The protocol name as `clients` shows it: inputs and outputs carry a prefix.
    pub fn label(kind: SessionKind, protocol: &str) -> String {
        match kind {
            SessionKind::Viewer => protocol.to_string(),
            SessionKind::Input => format!("INPUT:{protocol}"),
            SessionKind::Output => format!("OUTPUT:{protocol}"),
        }
    }

    pub fn joined(&mut self, protocol: &str, now: i64) {
        let label = Self::label(self.kind, protocol);
        if !self.protocols.contains(&label) {
            self.protocols.push(label);
        }
        self.lingers |= is_request_based(protocol);
        self.conns += 1;
        self.first_join.get_or_insert(now);
        if self.visit.is_none() {
            let s = self.read(now);
            self.visit = Some(Visit {
                start: now,
                down0: s.down,
                up0: s.up,
            });
        }
    }

    pub fn left(&mut self, now: i64) {
        self.conns = self.conns.saturating_sub(1);
        if self.conns == 0 {
            self.last_left = Some(now);
        }
    }

    /// Whether the session counts as connected at `now`: it has a connection, or its last one
    /// ended within its linger time (at least one sample is always taken after the last
    /// connection left, so its final counters are recorded).
    pub fn on(&self, now: i64) -> bool {
        if self.conns > 0 {
            return true;
        }
        let linger = if self.lingers { REQUEST_LINGER_S } else { 1 };
        self.last_left.is_some_and(|l| now - l <= linger)
    }

    /// Records the counters at `now` if the session is connected, and thins and trims the
    /// history. Returns the visit that just ended, if one did.
    pub fn sample(&mut self, now: i64) -> Option<Visit> {
        let mut ended = None;
        if self.on(now) {
            if self.samples.back().is_none_or(|s| s.t < now) {
                let s = self.read(now);
                if self.samples.len() == self.samples.capacity() {
                    // Grow by a little: the history settles at about 90 samples, and doubling
                    // would leave most records with room for 128.
                    self.samples.reserve_exact(8);
                }
                self.samples.push_back(s);
            }
        } else {
            ended = self.visit.take();
        }
        self.thin(now);
        ended
    }

    /// Keeps one sample per coarse slot (the first) among those older than [`RECENT_S`], and
    /// none older than [`KEEP_S`].
    fn thin(&mut self, now: i64) {
        while self.samples.front().is_some_and(|s| s.t < now - KEEP_S) {
            self.samples.pop_front();
            self.thinned = self.thinned.saturating_sub(1);
        }
        while let Some(s) = self.samples.get(self.thinned) {
            if s.t >= now - RECENT_S {
                break;
            }
            let slot = s.t.div_euclid(COARSE_S);
            let same_slot = self.thinned > 0
                && self
                    .samples
                    .get(self.thinned - 1)
                    .is_some_and(|p| p.t.div_euclid(COARSE_S) == slot);
            if same_slot {
                self.samples.remove(self.thinned);
            } else {
                self.thinned += 1;
            }
        }
    }

    /// The latest sample at or before `t`.
    pub fn at_or_before(&self, t: i64) -> Option<&Sample> {
        let i = self.samples.partition_point(|s| s.t <= t);
        i.checked_sub(1).and_then(|i| self.samples.get(i))
    }

    /// The sample that stands for second `t`, when the session was connected then: the latest
    /// at or before `t`, no older than `step` seconds (the history's resolution there).
    pub fn sample_for(&self, t: i64, step: i64) -> Option<&Sample> {
        self.at_or_before(t).filter(|s| t - s.t < step)
    }

    /// Bytes per second (down, up) over the `window` seconds before `s`.
    pub fn rates(&self, s: &Sample, window: i64) -> (u64, u64) {
        let (base, since) = match self.at_or_before(s.t - window) {
            Some(b) => (*b, b.t),
            None => (Sample::default(), self.first_join.unwrap_or(s.t - 1)),
        };
        let span = (s.t - since).max(1) as u64;
        (
            s.down.saturating_sub(base.down) / span,
            s.up.saturating_sub(base.up) / span,
        )
    }

    /// Drops the history (`clearstatlogs`): the next sample starts it again.
    pub fn clear_history(&mut self) {
        self.samples.clear();
        self.thinned = 0;
    }

    /// A rough figure of the heap this record holds, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.id.capacity()
            + self.stream.capacity()
            + self.samples.capacity() * std::mem::size_of::<Sample>()
            + self
                .protocols
                .iter()
                .map(|p| p.capacity() + 24)
                .sum::<usize>()
            + self.tags.iter().map(|t| t.capacity() + 24).sum::<usize>()
    }
}

/// Protocols whose viewers come back in separate requests rather than holding one connection.
pub fn is_request_based(protocol: &str) -> bool {
    matches!(protocol, "HLS" | "CMAF" | "DASH" | "HTTP" | "HDS" | "HSS")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record::new(
            "s1".into(),
            "live".into(),
            "10.0.0.1".parse().expect("ip"),
            SessionKind::Viewer,
            Arc::new(ConnCounters::default()),
        )
    }

    #[test]
    fn history_stays_bounded_and_keeps_one_sample_per_slot() {
        let mut r = record();
        r.joined("RTMP", 1000);
        for t in 1000..3000 {
            r.counters.down.fetch_add(1000, Ordering::Relaxed);
            assert!(r.sample(t).is_none());
        }
        let n = r.samples.len() as i64;
        assert!(n <= RECENT_S + KEEP_S / COARSE_S + 2, "{n} samples");
        // The recent part is complete, the older part has one sample per slot.
        assert!(r.sample_for(2999, 1).is_some());
        assert!(r.sample_for(2975, 1).is_some());
        assert!(r.sample_for(2500, COARSE_S).is_some());
        assert!(r.sample_for(2000, COARSE_S).is_none(), "beyond the window");
        let s = *r.sample_for(2999, 1).expect("sample");
        assert_eq!(r.rates(&s, 5), (1000, 0));
        let old = *r.sample_for(2600, COARSE_S).expect("old");
        assert_eq!(r.rates(&old, COARSE_S).0, 1000);
    }

    #[test]
    fn visits_end_after_the_linger() {
        let mut r = record();
        r.joined("HLS", 100);
        r.left(101);
        assert!(r.on(110), "HLS lingers between requests");
        assert!(r.sample(110).is_none());
        let v = r.sample(117).expect("visit ended");
        assert_eq!(v.start, 100);
        let mut rtmp = record();
        rtmp.joined("RTMP", 100);
        rtmp.left(105);
        assert!(rtmp.sample(106).is_none(), "one sample after leaving");
        assert!(rtmp.sample(107).is_some());
        assert_eq!(rtmp.protocols, vec!["RTMP"]);
        assert_eq!(Record::label(SessionKind::Input, "RTMP"), "INPUT:RTMP");
    }
}
