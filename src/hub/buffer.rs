//! The live buffer: one bounded ring of packets per stream, shared by its publisher and viewers.
//!
//! ```text
//!   publisher ──Writer::push──▶ [ ring: Arc<Entry> seq 120 … seq 987 ] ──▶ Reader (cursor 950)
//!                                 ^ keyframe index (seqs)                 ──▶ Reader (cursor 987)
//!                                 trimmed to the DVR window from the front
//! ```
//!
//! Media enters once: each packet is an `Arc<Entry>` whose payload is a `Bytes` every viewer
//! shares; per-format framing (FLV tag heads, RTMP chunk headers, TS PES) is cached on the entry
//! the first time any viewer needs it ([`Entry::cache`]). A reader is a cursor (a sequence number) plus a `watch` receiver that
//! wakes it when packets arrive, so a slow viewer costs nothing but its cursor: it never holds
//! the ring, and the ring never waits for it. A reader whose cursor fell out of the ring, or that
//! is further behind live than `maxkeepaway`, skips ahead to a keyframe.
//!
//! Trimming (facts §11.3, simplified): the front keyframe group is dropped while the second
//! keyframe is more than `dvr_ms` older than the newest packet, and while the ring holds more
//! than [`MAX_BUFFER_BYTES`]. Packets before `cut_ms` are not stored.
//!
//! On demand ([`LiveBuffer::on_demand`]): a viewer of a file gets a buffer of its own, filled
//! by a feeder that reads the file; what its one reader took is dropped instead of trimmed by
//! time, so the ring is only the read-ahead. A live buffer pays one untaken branch per read for this.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU8};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::watch;

mod on_demand;
use on_demand::OnDemand;
pub use on_demand::ReadAhead;

use super::cache::FormatCache;
use super::fragments::{Fragment, FragmentIndex};

use crate::media::{Packet, Track, TrackKind};

/// Hard ceiling on what one stream's ring may hold, whatever its DVR setting.
pub const MAX_BUFFER_BYTES: usize = 256 * 1024 * 1024;

/// Buffer options from the stream config (manual §3.3.1, facts §11.1).
#[derive(Debug, Clone, PartialEq)]
pub struct BufferSettings {
    /// Target window in ms (`DVR`, default 50 000, at least 1 000).
    pub dvr_ms: i64,
    /// Packets before this time are not kept (`cut`).
    pub cut_ms: i64,
    /// How far behind live a viewer may fall before it skips ahead (`maxkeepaway`).
    pub max_keepaway_ms: i64,
    /// Minimum fragment length for segmented outputs (`segmentsize`, default 1900).
    pub segment_ms: i64,
    /// Fan-out batching (`fanout_batch_ms`, an Eddy option, default 0 = off): in a stream with
    /// video, viewers waiting for packets are not woken for audio or data packets; those go out
    /// with the next video packet, or this many ms after the first of them came, in one write.
    /// Video is never held. At 40 ms a 25 fps stream costs a viewer one write per video frame
    /// instead of one per audio or video packet, and audio waits about half a frame on average.
    /// Readers that are not waiting (catching up, HLS) are not held back.
    pub batch_ms: i64,
}

impl Default for BufferSettings {
    fn default() -> Self {
        BufferSettings {
            dvr_ms: 50_000,
            cut_ms: 0,
            max_keepaway_ms: 45_000,
            segment_ms: 1_900,
            batch_ms: 0,
        }
    }
}

/// One buffered packet and its cached per-format framing.
#[derive(Debug)]
pub struct Entry {
    pub seq: u64,
    pub packet: Packet,
    /// The version of the track list this packet belongs to.
    pub meta_version: u64,
    /// When the packet entered the buffer (for the fan-out latency figures).
    pub arrived: std::time::Instant,
    /// Per-format framing, built once by the first viewer of each format that needs it.
    pub cache: FormatCache,
}

/// The tracks of a stream, versioned so readers notice changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub version: u64,
    pub tracks: Vec<Track>,
}

impl Meta {
    pub fn track(&self, id: u32) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    pub fn has_video(&self) -> bool {
        self.tracks
            .iter()
            .any(|t| t.kind() == Some(TrackKind::Video))
    }
}

/// Byte and viewer counters, updated by the protocols without locking.
#[derive(Debug, Default)]
pub struct Counters {
    /// Bytes received from publishers.
    pub bytes_in: AtomicU64,
    /// Bytes sent to viewers.
    pub bytes_out: AtomicU64,
    /// Packets viewers skipped because they fell behind.
    pub skipped: AtomicU64,
    /// Problems an input met in what it received (TS continuity errors and lost packets,
    /// damaged PES, lost sync): `packloss` in `active_streams`.
    pub lost: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    meta: Arc<Meta>,
    packets: VecDeque<Arc<Entry>>,
    /// Sequence number of `packets[0]`; the next packet gets `base_seq + packets.len()`.
    base_seq: u64,
    /// Sequence numbers of the keyframes viewers may start at (video keyframes, or every packet
    /// of the first track when there is no video).
    keys: VecDeque<u64>,
    bytes: usize,
    /// Which publisher may write (see [`LiveBuffer::new_publisher`]).
    publisher: u64,
    /// Added to the current publisher's timestamps so time keeps increasing across a resume.
    time_offset: Option<i64>,
    last_time: i64,
    /// `(track id, first ms, last ms)` of what this publisher sent (kept out of `meta`, which
    /// readers share and which only changes when tracks do).
    track_times: Vec<(u32, i64, i64)>,
    /// Where segmented outputs cut.
    fragments: FragmentIndex,
    /// Wall-clock milliseconds of media time 0 (set by the first packet of a stream).
    zero_unix_ms: Option<i64>,
    closed: bool,
}

/// The ring, shared behind an `Arc` by the stream actor, its publisher and its readers.
#[derive(Debug)]
pub struct LiveBuffer {
    inner: RwLock<Inner>,
    /// The sequence number one past the newest packet; bumped on every change readers must see.
    notify: Arc<watch::Sender<u64>>,
    /// Non-zero while packets are in the ring that readers were not woken for (see
    /// [`BufferSettings::batch_ms`]): the number of that batch, so a batch's timer wakes the
    /// readers only if its own batch is still held.
    held: Arc<AtomicU64>,
    /// `settings.batch_ms`, read on every push without the settings lock.
    batch_ms: AtomicI64,
    /// The publisher (token) whose pushes do not wake the readers until it calls
    /// [`LiveBuffer::wake_deferred`] (0: none), and what those pushes were: 0 nothing, 1 only
    /// packets batching would hold, 2 a packet that wakes.
    deferring: AtomicU64,
    deferred: AtomicU8,
    settings: Mutex<BufferSettings>,
    /// `settings.max_keepaway_ms`, readable by every viewer without a lock.
    max_keepaway_ms: AtomicI64,
    /// Shared by every on-demand viewer's buffer of one stream, so the stream counts them all.
    pub counters: Arc<Counters>,
    /// Set for a buffer that plays a file rather than a live stream.
    on_demand: Option<OnDemand>,
}

/// Why a write was not taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    #[error("another publisher took over this stream")]
    Superseded,
    #[error("the stream has ended")]
    Closed,
}

impl LiveBuffer {
    pub fn new(settings: BufferSettings) -> Arc<LiveBuffer> {
        Arc::new(LiveBuffer {
            inner: RwLock::new(Inner::default()),
            notify: Arc::new(watch::channel(0).0),
            held: Arc::default(),
            batch_ms: AtomicI64::new(settings.batch_ms),
            deferring: AtomicU64::new(0),
            deferred: AtomicU8::new(0),
            max_keepaway_ms: AtomicI64::new(settings.max_keepaway_ms),
            settings: Mutex::new(settings),
            counters: Arc::default(),
            on_demand: None,
        })
    }

    /// For the publisher's changes.
    fn lock(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// For readers: many viewers read at once without waiting on each other.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_settings(&self, s: BufferSettings) {
        self.max_keepaway_ms
            .store(s.max_keepaway_ms, Ordering::Relaxed);
        self.batch_ms.store(s.batch_ms.max(0), Ordering::Relaxed);
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// The minimum fragment length of segmented outputs, ms (`segmentsize`).
    pub fn segment_ms(&self) -> i64 {
        self.settings().segment_ms
    }

    fn settings(&self) -> BufferSettings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Starts a new publisher's turn and returns its token; earlier publishers' writes fail from
    /// now on. With `resume`, tracks and packets stay and the new publisher's time continues
    /// after the last packet; without it the buffer starts empty.
    pub fn new_publisher(&self, resume: bool) -> u64 {
        let mut inner = self.lock();
        inner.publisher += 1;
        inner.time_offset = None;
        let (end, last) = (inner.base_seq + inner.packets.len() as u64, inner.last_time);
        inner.fragments.on_new_publisher(resume, end, last);
        if !resume {
            let next = inner.base_seq + inner.packets.len() as u64;
            inner.packets.clear();
            inner.keys.clear();
            inner.bytes = 0;
            inner.base_seq = next;
            let version = inner.meta.version + 1;
            inner.meta = Arc::new(Meta {
                version,
                tracks: Vec::new(),
            });
            inner.track_times.clear();
            inner.zero_unix_ms = None;
        }
        let token = inner.publisher;
        drop(inner);
        self.wake();
        token
    }

    /// Adds or replaces a track. Readers see the new track list with the next packet.
    pub fn set_track(&self, publisher: u64, track: Track) -> Result<(), WriteError> {
        let mut inner = self.lock();
        inner.check_writer(publisher)?;
        let mut meta = (*inner.meta).clone();
        match meta.tracks.iter_mut().find(|t| t.id == track.id) {
            Some(t) if *t == track => return Ok(()),
            Some(t) => *t = track,
            None => meta.tracks.push(track),
        }
        meta.version += 1;
        inner.meta = Arc::new(meta);
        Ok(())
    }

    /// Appends a packet (time in the publisher's own timeline).
    pub fn push(&self, publisher: u64, mut packet: Packet) -> Result<(), WriteError> {
        let settings = self.settings();
        let mut inner = self.lock();
        inner.check_writer(publisher)?;
        let offset = match inner.time_offset {
            Some(o) => o,
            None => {
                // First packet of this publisher: continue after what is buffered.
                let o = if inner.packets.is_empty() {
                    0
                } else {
                    inner.last_time + 1 - packet.time
                };
                inner.time_offset = Some(o);
                o
            }
        };
        packet.time = packet.time.saturating_add(offset);
        if packet.time < settings.cut_ms {
            return Ok(());
        }
        inner.last_time = inner.last_time.max(packet.time);
        if inner.zero_unix_ms.is_none() {
            inner.zero_unix_ms = Some(chrono::Utc::now().timestamp_millis() - packet.time);
        }
        let seq = inner.base_seq + inner.packets.len() as u64;
        let is_key = inner.is_start_point(&packet);
        let batch_ms = self.batch_ms.load(Ordering::Relaxed);
        let hold = batch_ms > 0
            && self.on_demand.is_none()
            && inner.meta.has_video()
            && inner.meta.track(packet.track).and_then(Track::kind) != Some(TrackKind::Video);
        let len = packet.data.len();
        let entry_time = packet.time;
        let entry = Arc::new(Entry {
            seq,
            meta_version: inner.meta.version,
            arrived: std::time::Instant::now(),
            packet,
            cache: FormatCache::default(),
        });
        let (track_id, time) = (entry.packet.track, entry.packet.time);
        match inner.track_times.iter_mut().find(|t| t.0 == track_id) {
            Some(t) => t.2 = time,
            None => inner.track_times.push((track_id, time, time)),
        }
        inner.packets.push_back(entry);
        inner.bytes += len;
        self.counters
            .bytes_in
            .fetch_add(len as u64, Ordering::Relaxed);
        if is_key {
            inner.keys.push_back(seq);
            inner
                .fragments
                .on_start_point(seq, entry_time, settings.segment_ms);
        }
        match &self.on_demand {
            None => inner.trim(&settings),
            Some(od) => inner.drop_before(od.taken()),
        }
        let end = seq + 1;
        drop(inner);
        if self.deferring.load(Ordering::Relaxed) == publisher {
            self.record_end(end);
            self.deferred
                .fetch_max(if hold { 1 } else { 2 }, Ordering::Relaxed);
        } else if hold {
            self.hold(end, batch_ms);
        } else {
            self.held.store(0, Ordering::Release);
            self.notify.send_replace(end);
        }
        Ok(())
    }

    /// From now on `publisher`'s pushes do not wake the readers until it calls
    /// [`LiveBuffer::wake_deferred`]: a publisher that reads several packets at once (one read
    /// of its socket) has them written to viewers together, in one write each, instead of one
    /// write per packet. It must wake them before it waits for more input, and when it ends.
    pub fn defer_wakes(&self, publisher: u64) {
        self.deferring.store(publisher, Ordering::Relaxed);
    }

    /// Wakes the readers for what the deferring publisher pushed since its last call (audio
    /// alone goes to the batch hold, as [`BufferSettings::batch_ms`] says).
    pub fn wake_deferred(&self) {
        match self.deferred.swap(0, Ordering::Relaxed) {
            0 => {}
            1 => {
                let end = *self.notify.borrow();
                self.hold(end, self.batch_ms.load(Ordering::Relaxed));
            }
            _ => self.wake(),
        }
    }

    /// Makes `end` the readers' next wake-up point without waking them.
    fn record_end(&self, end: u64) {
        self.notify.send_if_modified(|v| {
            *v = end;
            false
        });
    }

    /// Records `end` without waking the readers; the first held packet of a batch arms a timer
    /// that wakes them `batch_ms` later, unless a video packet did first.
    fn hold(&self, end: u64, batch_ms: i64) {
        self.record_end(end);
        // Batches are numbered by the sequence number that opened them (never 0: `end` ≥ 1).
        if self
            .held
            .compare_exchange(0, end, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.wake();
            return;
        };
        let (notify, held) = (self.notify.clone(), self.held.clone());
        let wait = Duration::from_millis(batch_ms.unsigned_abs());
        runtime.spawn(async move {
            tokio::time::sleep(wait).await;
            if held
                .compare_exchange(end, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                notify.send_modify(|_| {});
            }
        });
    }

    /// Marks the stream ended; readers finish what they have and then see the end.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake();
    }

    pub fn is_closed(&self) -> bool {
        self.read().closed
    }

    fn wake(&self) {
        self.held.store(0, Ordering::Release);
        self.notify.send_modify(|_| {});
    }

    /// The current track list.
    pub fn meta(&self) -> Arc<Meta> {
        self.read().meta.clone()
    }

    /// The track list with each track's `firstms`/`lastms` filled in.
    pub fn meta_with_times(&self) -> Meta {
        let inner = self.read();
        let mut meta = (*inner.meta).clone();
        for t in &mut meta.tracks {
            if let Some(&(_, first, last)) = inner.track_times.iter().find(|x| x.0 == t.id) {
                t.firstms = first;
                t.lastms = last;
            }
        }
        meta
    }

    /// Wall-clock milliseconds of media time 0, once data arrived.
    pub fn zero_unix_ms(&self) -> Option<i64> {
        self.read().zero_unix_ms
    }

    /// The finished fragments, oldest first.
    pub fn fragments(&self) -> Vec<Arc<Fragment>> {
        self.read().fragments.list()
    }

    /// The finished fragment starting at `start_ms`, if it is still in the buffer.
    pub fn fragment_at(&self, start_ms: i64) -> Option<Arc<Fragment>> {
        self.read().fragments.find(start_ms)
    }

    /// The packets `first..end` still in the ring (fewer if some were trimmed).
    pub fn packets(&self, first: u64, end: u64) -> Vec<Arc<Entry>> {
        let inner = self.read();
        let lo = first.max(inner.base_seq);
        let hi = end.min(inner.base_seq + inner.packets.len() as u64);
        if lo >= hi {
            return Vec::new();
        }
        let (a, b) = (
            (lo - inner.base_seq) as usize,
            (hi - inner.base_seq) as usize,
        );
        inner.packets.range(a..b).cloned().collect()
    }

    /// Whether this buffer plays a file for one viewer rather than a live stream.
    pub fn is_on_demand(&self) -> bool {
        self.on_demand.is_some()
    }

    /// A receiver that changes whenever readers would be woken (for a fan-out that keeps its
    /// own cursor, [`crate::protocols::fanout`]).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// Appends the packets from `first` on (at most `max`) to `out`, for a reader that keeps
    /// its own cursor.
    pub fn read_from(&self, first: u64, max: usize, out: &mut Vec<Arc<Entry>>) -> ReadFrom {
        let inner = self.read();
        let end = inner.base_seq + inner.packets.len() as u64;
        if first < inner.base_seq {
            return ReadFrom::Trimmed;
        }
        if first >= end {
            return if inner.closed {
                ReadFrom::Closed
            } else {
                ReadFrom::Nothing
            };
        }
        let start = (first - inner.base_seq) as usize;
        let take = ((end - first) as usize).min(max);
        out.extend(inner.packets.range(start..start + take).cloned());
        ReadFrom::Packets
    }

    /// Waits until at least `count` fragments exist (or `limit` passes, or the stream ends).
    pub async fn wait_fragments(&self, count: usize, limit: Duration) -> bool {
        let mut rx = self.notify.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            {
                let inner = self.read();
                if inner.fragments.len() >= count {
                    return true;
                }
                if inner.closed {
                    return false;
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.read().fragments.len() >= count,
            }
        }
    }

    /// A reader positioned at the newest keyframe (or at the end, when there is none yet).
    pub fn reader(self: &Arc<Self>) -> Reader {
        let inner = self.read();
        let end = inner.base_seq + inner.packets.len() as u64;
        let cursor = inner.keys.back().copied().unwrap_or(end);
        let started = inner.keys.back().is_some();
        drop(inner);
        Reader {
            buffer: self.clone(),
            cursor,
            started,
            rx: self.notify.subscribe(),
        }
    }

    /// A reader positioned at the oldest keyframe still buffered (recordings of a stream that
    /// just started keep its first seconds).
    pub fn reader_from_start(self: &Arc<Self>) -> Reader {
        let mut reader = self.reader();
        let inner = self.read();
        if let Some(&k) = inner.keys.front() {
            reader.cursor = k;
            reader.started = true;
        }
        drop(inner);
        reader
    }

    /// `(first ms, last ms, buffered bytes, packets)` for status reports.
    pub fn stats(&self) -> BufferStats {
        let inner = self.read();
        BufferStats {
            firstms: inner.packets.front().map(|e| e.packet.time).unwrap_or(0),
            lastms: inner.packets.back().map(|e| e.packet.time).unwrap_or(0),
            bytes: inner.bytes,
            packets: inner.packets.len(),
            tracks: inner.meta.tracks.len(),
        }
    }
}

/// A summary of the buffer's contents.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BufferStats {
    pub firstms: i64,
    pub lastms: i64,
    pub bytes: usize,
    pub packets: usize,
    pub tracks: usize,
}

impl Inner {
    fn check_writer(&self, publisher: u64) -> Result<(), WriteError> {
        if self.closed {
            Err(WriteError::Closed)
        } else if publisher != self.publisher {
            Err(WriteError::Superseded)
        } else {
            Ok(())
        }
    }

    /// Whether a viewer may start at this packet.
    fn is_start_point(&self, p: &Packet) -> bool {
        let video = self.meta.has_video();
        let kind = self.meta.track(p.track).and_then(Track::kind);
        if video {
            p.keyframe && kind == Some(TrackKind::Video)
        } else {
            // Audio-only: any packet of the first track will do.
            self.meta.tracks.first().is_some_and(|t| t.id == p.track)
        }
    }

    fn time_at(&self, seq: u64) -> Option<i64> {
        let idx = usize::try_from(seq.checked_sub(self.base_seq)?).ok()?;
        self.packets.get(idx).map(|e| e.packet.time)
    }

    fn trim(&mut self, s: &BufferSettings) {
        let newest = self.packets.back().map(|e| e.packet.time).unwrap_or(0);
        let dvr = s.dvr_ms.max(1_000);
        while let Some(&second) = self.keys.get(1) {
            let old = self.time_at(second).is_some_and(|t| newest - t > dvr);
            if !(old || self.bytes > MAX_BUFFER_BYTES) {
                break;
            }
            self.drop_before(second);
        }
        // Without enough keyframes (a publisher that sends none, or very long groups) the window
        // is still bounded: by twice the DVR time plus 10 s, and by the byte cap.
        let hard_limit = dvr * 2 + 10_000;
        while self.packets.len() > 1
            && (self.bytes > MAX_BUFFER_BYTES
                || self
                    .packets
                    .front()
                    .is_some_and(|e| newest - e.packet.time > hard_limit))
        {
            let next = self.base_seq + 1;
            self.drop_before(next);
        }
    }

    fn drop_before(&mut self, seq: u64) {
        while self.base_seq < seq {
            let Some(e) = self.packets.pop_front() else {
                break;
            };
            self.bytes -= e.packet.data.len();
            self.base_seq += 1;
        }
        while self.keys.front().is_some_and(|&k| k < self.base_seq) {
            self.keys.pop_front();
        }
        self.fragments.trim(self.base_seq);
    }
}

/// What [`LiveBuffer::read_from`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// Packets were appended.
    Packets,
    /// None yet.
    Nothing,
    /// The stream ended and every packet was read.
    Closed,
    /// The asked position is no longer in the ring.
    Trimmed,
}

/// What a reader found.
#[derive(Debug)]
pub enum ReadEvent {
    /// Packets were appended to the caller's vector.
    Packets,
    /// The reader fell behind and jumped ahead over this many packets.
    Skipped(u64),
    /// The stream ended.
    Closed,
}

/// A viewer's position in a [`LiveBuffer`].
pub struct Reader {
    buffer: Arc<LiveBuffer>,
    cursor: u64,
    /// False until the reader sits on a start point (it waits for the first keyframe).
    started: bool,
    rx: watch::Receiver<u64>,
}

impl Reader {
    pub fn buffer(&self) -> &Arc<LiveBuffer> {
        &self.buffer
    }

    /// The sequence number of the next packet this reader takes.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Continues at `seq` (where a fan-out that wrote for this reader stopped).
    pub fn resume_at(&mut self, seq: u64) {
        self.cursor = seq;
        self.started = true;
    }

    /// Whether the reader has taken every packet in the ring.
    pub fn at_end(&self) -> bool {
        let inner = self.buffer.read();
        self.started && self.cursor == inner.base_seq + inner.packets.len() as u64
    }

    /// Waits until the stream has a start point, up to `limit`. False on time-out or end.
    pub async fn wait_ready(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.position() {
                return true;
            }
            if self.buffer.is_closed() {
                return false;
            }
            match tokio::time::timeout_at(deadline, self.rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return self.position(),
            }
        }
    }

    /// Moves an unstarted reader onto the newest start point; true when started.
    fn position(&mut self) -> bool {
        if self.started {
            return true;
        }
        let inner = self.buffer.read();
        if let Some(&k) = inner.keys.back() {
            self.cursor = k;
            self.started = true;
        }
        self.started
    }

    /// Appends up to `max` packets to `out`, waiting for them when there are none.
    pub async fn next_batch(&mut self, out: &mut Vec<Arc<Entry>>, max: usize) -> ReadEvent {
        loop {
            if !self.position() {
                if self.rx.changed().await.is_err() {
                    return ReadEvent::Closed;
                }
                continue;
            }
            let keepaway = self.buffer.max_keepaway_ms.load(Ordering::Relaxed);
            {
                let inner = self.buffer.read();
                let end = inner.base_seq + inner.packets.len() as u64;
                let newest = inner.packets.back().map(|e| e.packet.time).unwrap_or(0);
                let behind = self.cursor < inner.base_seq
                    || inner
                        .time_at(self.cursor)
                        .is_some_and(|t| newest - t > keepaway);
                if behind {
                    let from = self.cursor;
                    let target = inner
                        .keys
                        .iter()
                        .copied()
                        .find(|&k| k >= self.cursor)
                        .unwrap_or(end);
                    // Prefer the newest start point when far behind: catch up to live in one jump.
                    self.cursor = inner.keys.back().copied().unwrap_or(target).max(target);
                    drop(inner);
                    let skipped = self.cursor.saturating_sub(from);
                    self.buffer
                        .counters
                        .skipped
                        .fetch_add(skipped, Ordering::Relaxed);
                    return ReadEvent::Skipped(skipped);
                }
                if self.cursor < end {
                    let start = usize::try_from(self.cursor - inner.base_seq).unwrap_or(usize::MAX);
                    let take = (end - self.cursor).min(max as u64) as usize;
                    out.extend(inner.packets.range(start..start + take).cloned());
                    self.cursor += take as u64;
                    drop(inner);
                    if let Some(od) = &self.buffer.on_demand {
                        od.take_to(self.cursor);
                    }
                    return ReadEvent::Packets;
                }
                if inner.closed {
                    return ReadEvent::Closed;
                }
            }
            if self.rx.changed().await.is_err() {
                return ReadEvent::Closed;
            }
        }
    }
}

#[cfg(test)]
mod tests;
