//! On-demand buffers: a viewer of a file gets a [`LiveBuffer`] of its own, filled by a feeder
//! that reads the file ([`crate::hub::vod`]). Its one reader notes how far it took; the feeder
//! asks [`LiveBuffer::read_ahead`] how much is left and waits on [`LiveBuffer::wait_taken`],
//! and what was taken is dropped instead of trimmed by time. A stream's description (its
//! tracks and length, no packets, for `json_`) is an on-demand buffer too.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use tokio::sync::{watch, Notify};

use super::{BufferSettings, Counters, Inner, LiveBuffer, Reader};
use crate::hub::vod::VodFile;

/// What an on-demand buffer knows besides its packets.
#[derive(Debug)]
pub(super) struct OnDemand {
    /// The file's length in media time, ms.
    duration_ms: i64,
    /// The reader's cursor: every packet before it was taken.
    taken: AtomicU64,
    /// Wakes the feeder when the reader took packets.
    took: Notify,
    /// A stream's description: the file it plays and the segment size of its segmented
    /// outputs (HLS, DASH), which cut the file themselves.
    file: OnceLock<(Arc<VodFile>, i64)>,
}

impl OnDemand {
    /// The reader took everything before `cursor`.
    pub(super) fn take_to(&self, cursor: u64) {
        self.taken.store(cursor, Ordering::Release);
        self.took.notify_one();
    }

    /// Everything before this was taken.
    pub(super) fn taken(&self) -> u64 {
        self.taken.load(Ordering::Acquire)
    }
}

/// How far an on-demand buffer's packets reach past what its reader took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadAhead {
    /// Media time from the oldest untaken packet to the newest, ms.
    pub ms: i64,
    pub bytes: usize,
}

impl LiveBuffer {
    /// A buffer for a file `duration_ms` long: one viewer's read-ahead (its feeder pushes, its
    /// one reader from [`LiveBuffer::reader_at_start`] takes), or a stream's description (its
    /// tracks, no packets). Nothing is trimmed by time or cut, and no reader skips ahead;
    /// `counters` are the stream's.
    pub fn on_demand(duration_ms: i64, counters: Arc<Counters>) -> Arc<LiveBuffer> {
        let settings = BufferSettings {
            max_keepaway_ms: i64::MAX,
            cut_ms: i64::MIN,
            ..BufferSettings::default()
        };
        Arc::new(LiveBuffer {
            inner: RwLock::new(Inner::default()),
            notify: Arc::new(watch::channel(0).0),
            held: Arc::default(),
            batch_ms: AtomicI64::new(0),
            deferring: AtomicU64::new(0),
            deferred: AtomicU8::new(0),
            max_keepaway_ms: AtomicI64::new(settings.max_keepaway_ms),
            settings: Mutex::new(settings),
            counters,
            on_demand: Some(OnDemand {
                duration_ms,
                taken: AtomicU64::new(0),
                took: Notify::new(),
                file: OnceLock::new(),
            }),
        })
    }

    /// The file's length in ms when this buffer plays a file; `None` for a live stream.
    pub fn vod_duration(&self) -> Option<i64> {
        self.on_demand.as_ref().map(|od| od.duration_ms)
    }

    /// Makes an on-demand buffer the description of a stream playing `file`, whose segmented
    /// outputs cut segments of at least `segment_ms` (the stream's `segmentsize`).
    pub fn describe(&self, file: Arc<VodFile>, segment_ms: i64) {
        if let Some(od) = &self.on_demand {
            let _ = od.file.set((file, segment_ms));
        }
    }

    /// The file a stream's description buffer plays, and its segment size (see
    /// [`LiveBuffer::describe`]).
    pub fn described_file(&self) -> Option<(Arc<VodFile>, i64)> {
        self.on_demand.as_ref()?.file.get().cloned()
    }

    /// On demand: drops what the reader took and tells how far the rest reaches.
    pub fn read_ahead(&self) -> ReadAhead {
        let Some(od) = &self.on_demand else {
            return ReadAhead::default();
        };
        let mut inner = self.lock();
        inner.drop_before(od.taken());
        let ms = match (inner.packets.front(), inner.packets.back()) {
            (Some(a), Some(b)) => b.packet.time - a.packet.time,
            _ => 0,
        };
        ReadAhead {
            ms,
            bytes: inner.bytes,
        }
    }

    /// On demand: waits until the reader takes packets (at once if it did since the last
    /// wait). A live buffer returns at once.
    pub async fn wait_taken(&self) {
        if let Some(od) = &self.on_demand {
            od.took.notified().await;
        }
    }

    /// A reader at the first packet the buffer will ever hold, started: an on-demand viewer's,
    /// made before its feeder pushes anything, takes every packet from the start point on.
    pub fn reader_at_start(self: &Arc<Self>) -> Reader {
        let cursor = self.read().base_seq;
        Reader {
            buffer: self.clone(),
            cursor,
            started: true,
            rx: self.notify.subscribe(),
        }
    }
}
