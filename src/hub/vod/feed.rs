//! One on-demand viewer's feeder: reads its part of the file into its private buffer, a run of
//! nearby packets per read, staying a bounded read-ahead in front of what the viewer took.
//!
//! ```text
//!   entries  … [k ─────── run: ≤ 256 packets, ≤ 256 KiB of file ────] [next run] …
//!   one read of the run's byte span (blocking thread) ─▶ zero-copy slices ─▶ packet() ─▶ push
//!   then wait while the buffer holds ≥ READ_AHEAD_MS of media or ≥ READ_AHEAD_BYTES untaken
//! ```
//!
//! A slow viewer costs its read-ahead and no more; a fast one (a download) is fed as fast as
//! the file reads. At the end of the file, or of the asked range, the buffer closes and the
//! viewer's output ends its answer.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::body::BodyReader;
use super::VodFile;
use crate::hub::buffer::{Counters, LiveBuffer, Reader};
use crate::hub::{OnDrop, PlayRange};
use crate::media::vod::{self, IndexEntry};

/// The feeder waits while the viewer's buffer holds this much media it has not taken, ms.
pub const READ_AHEAD_MS: i64 = 1_000;
/// ... or this many bytes.
pub const READ_AHEAD_BYTES: usize = 1024 * 1024;
/// Most file bytes one read covers (a single larger packet is read alone). The packets are
/// slices of the read, which lives until the last of them is sent: this is also about what a
/// viewer holds beyond its read-ahead.
pub const RUN_BYTES: u64 = 256 * 1024;
/// Most packets one read covers.
const RUN_PACKETS: usize = 256;

/// Starts playing `range` of `file` for one viewer: the reader of its own buffer (from the
/// start point on), and what stops the feeder when dropped. Byte counts go to `counters`, the
/// stream's. Must be called within a tokio runtime (the feeder is spawned on it).
///
/// The viewer's times are the file's moved by [`VodFile::shift_ms`], so none is negative;
/// `range` is in the file's own times.
pub fn play(file: Arc<VodFile>, range: PlayRange, counters: Arc<Counters>) -> (Reader, OnDrop) {
    let (duration, shift) = (file.duration_ms(), file.shift_ms());
    let end = range.end_ms.map_or(duration, |e| e.clamp(0, duration));
    let buffer = LiveBuffer::on_demand(end + shift, counters);
    let token = buffer.new_publisher(false);
    for t in &file.index.tracks {
        let mut t = t.clone();
        t.firstms += shift;
        t.lastms += shift;
        // A fresh buffer with its own token takes every track.
        let _ = buffer.set_track(token, t);
    }
    let reader = buffer.reader_at_start();
    let task = tokio::spawn(feed(file, range, buffer, token));
    let stop = task.abort_handle();
    (reader, OnDrop::new(move || stop.abort()))
}

/// The entry a viewer asking for `range` starts at: the file's first packet when it asks for
/// no start (or 0), else the last start point at or before its start.
pub fn first_entry(file: &VodFile, range: PlayRange) -> usize {
    match range.start_ms {
        Some(ms) if ms > 0 => file.index.seek(ms),
        _ => 0,
    }
}

/// The packets of the next read from `from`: nearby in the file (at most [`RUN_BYTES`] from
/// the first byte to the last), at most 256, none at or after `end_ms`. Returns
/// the entries and the byte span to read.
pub fn next_run(
    entries: &[IndexEntry],
    from: usize,
    end_ms: Option<i64>,
) -> (Range<usize>, Range<u64>) {
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    let mut to = from;
    while let Some(e) = entries.get(to) {
        if to - from >= RUN_PACKETS || end_ms.is_some_and(|end| e.time >= end) {
            break;
        }
        let (a, b) = (e.pos, e.pos.saturating_add(u64::from(e.raw_len)));
        let (next_lo, next_hi) = (lo.min(a), hi.max(b));
        if to > from && next_hi - next_lo > RUN_BYTES {
            break;
        }
        (lo, hi) = (next_lo, next_hi);
        to += 1;
    }
    if to == from {
        return (from..from, 0..0);
    }
    (from..to, lo..hi)
}

/// An open reader of a file's body, shared by the reads of one viewer or answer.
pub(super) type Handle = Arc<Mutex<BodyReader>>;

/// Opens the body of `file` on a blocking thread.
pub(super) async fn open_handle(file: &VodFile) -> std::io::Result<Handle> {
    let body = file.body.clone();
    let opened = tokio::task::spawn_blocking(move || body.open())
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))?;
    Ok(Arc::new(Mutex::new(opened)))
}

/// Reads `span` of a body on a blocking thread.
pub(super) async fn read_span(handle: &Handle, span: Range<u64>) -> std::io::Result<Bytes> {
    let handle = handle.clone();
    let read = move || {
        let len = usize::try_from(span.end - span.start)
            .map_err(|_| std::io::Error::other("span too large"))?;
        let mut buf = vec![0u8; len];
        let mut reader = handle.lock().unwrap_or_else(|p| p.into_inner());
        reader.seek(SeekFrom::Start(span.start))?;
        reader.read_exact(&mut buf)?;
        Ok(Bytes::from(buf))
    };
    tokio::task::spawn_blocking(read)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// Waits until the viewer's buffer has room for more.
async fn wait_for_room(buffer: &LiveBuffer) {
    loop {
        let ahead = buffer.read_ahead();
        if ahead.ms < READ_AHEAD_MS && ahead.bytes < READ_AHEAD_BYTES {
            return;
        }
        buffer.wait_taken().await;
    }
}

/// The feeder task: fills `buffer` with `range` of `file`, then closes it.
async fn feed(file: Arc<VodFile>, range: PlayRange, buffer: Arc<LiveBuffer>, token: u64) {
    if let Err(e) = feed_all(&file, range, &buffer, token).await {
        tracing::warn!(
            kind = "FAIL",
            "{}: a viewer's playback ends early: {e}",
            file.path.display()
        );
    }
    buffer.close();
}

async fn feed_all(
    file: &VodFile,
    range: PlayRange,
    buffer: &LiveBuffer,
    token: u64,
) -> Result<(), vod::VodError> {
    let handle = open_handle(file).await?;
    let (index, shift) = (&file.index, file.shift_ms());
    let mut at = first_entry(file, range);
    loop {
        wait_for_room(buffer).await;
        let (run, span) = next_run(&index.entries, at, range.end_ms);
        if run.is_empty() {
            return Ok(());
        }
        let bytes = read_span(&handle, span.clone()).await?;
        for i in run.clone() {
            let e = &index.entries[i];
            let from = (e.pos - span.start) as usize;
            let raw = bytes.slice(from..from + e.raw_len as usize);
            let mut packet = vod::packet(index, i, raw)?;
            packet.time += shift;
            if buffer.push(token, packet).is_err() {
                return Ok(());
            }
        }
        at = run.end;
    }
}
