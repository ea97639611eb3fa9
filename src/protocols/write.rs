//! Writing to a peer: vectored writes straight from the shared packet buffers (no copy). One
//! time-out rule for every write Eddy makes to a viewer (media, HTTP answers, RTMP): a peer whose
//! socket takes no data for [`VIEWER_WRITE_TIMEOUT`] is dropped; a slow peer that keeps taking
//! bytes is not. [`deliver`] also counts the bytes for the stream and the session and records
//! the fan-out latency.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::hub::buffer::{Counters, Entry};
use crate::hub::latency::FANOUT_LATENCY;
use crate::hub::session::ConnCounters;

/// A viewer whose socket takes no data for this long is dropped.
pub const VIEWER_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes one batch to a viewer ([`write_all_within`] [`VIEWER_WRITE_TIMEOUT`]), adding the
/// bytes to the stream's counters and the batch's age to the fan-out latency. `Ok(false)` when
/// the viewer took nothing for that long and should be dropped.
pub async fn deliver<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    out: &[Bytes],
    batch: &[Arc<Entry>],
    counters: &Counters,
    session: &ConnCounters,
) -> std::io::Result<bool> {
    let written = match write_all_within(w, out, VIEWER_WRITE_TIMEOUT).await {
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Ok(false),
        other => other?,
    };
    counters.bytes_out.fetch_add(written, Ordering::Relaxed);
    let position = batch.last().map(|e| e.packet.time);
    session.sent(written, batch.len() as u64, position);
    if let Some(oldest) = batch.first() {
        FANOUT_LATENCY.record(oldest.arrived.elapsed());
    }
    Ok(true)
}

/// How many buffers a viewer's write list keeps room for between batches: a live batch is a
/// packet or two, a few pieces each.
const KEPT_PIECES: usize = 32;

/// Empties a viewer's list of buffers to write for the next batch. A catch-up batch (a new
/// viewer's first seconds, in 188-byte TS pieces) may have grown it to thousands of entries;
/// that room is given back, so an idle viewer keeps room for at most 32.
pub fn recycle(out: &mut Vec<Bytes>) {
    out.clear();
    out.shrink_to(KEPT_PIECES);
}

/// The error of a write that made no progress for `stall`.
pub fn stalled(stall: Duration) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("the peer took nothing for {stall:?}"),
    )
}

/// Most buffers one `writev` takes (Linux's `IOV_MAX`). A progressive TS viewer writes two
/// pieces per 188-byte packet, so a keyframe's worth goes out in one call.
const MAX_SLICES: usize = 1024;

/// The slice array of an ordinary write (a live batch: a packet or two, a few buffers each).
const FEW_SLICES: usize = 32;

/// One `writev` of up to `N` of `bufs` (the first from `off` on), skipping empty ones.
fn poll_slices<const N: usize, W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    cx: &mut std::task::Context<'_>,
    bufs: &[Bytes],
    off: usize,
) -> std::task::Poll<std::io::Result<usize>> {
    let mut slices = [std::io::IoSlice::new(&[]); N];
    let mut count = 0;
    for (i, b) in bufs.iter().enumerate() {
        if count == N {
            break;
        }
        let part = if i == 0 { &b[off..] } else { &b[..] };
        if !part.is_empty() {
            slices[count] = std::io::IoSlice::new(part);
            count += 1;
        }
    }
    std::pin::Pin::new(w).poll_write_vectored(cx, &slices[..count])
}

/// Writes every buffer in order with vectored writes (no copying) and returns the bytes
/// written; fails with [`std::io::ErrorKind::TimedOut`] as soon as the peer takes nothing for
/// `stall`: each write call must make progress within it, so a slow reader that keeps taking
/// bytes is never cut off, and one that takes nothing is dropped.
pub async fn write_all_within<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    bufs: &[Bytes],
    stall: Duration,
) -> std::io::Result<u64> {
    let (mut idx, mut off, mut total) = (0usize, 0usize, 0u64);
    loop {
        while idx < bufs.len() && bufs[idx].len() == off {
            idx += 1;
            off = 0;
        }
        if idx >= bufs.len() {
            return Ok(total);
        }
        // The slice array lives only while the write is polled, not in this future's state
        // (it would cost every waiting viewer 16 KiB), and is only as large as the write needs:
        // most writes are a few buffers, and filling 1024 slots for them costs more than the
        // copy of their slices.
        let write = std::future::poll_fn(|cx| {
            let rest = &bufs[idx..];
            if rest.len() <= FEW_SLICES {
                poll_slices::<FEW_SLICES, W>(&mut *w, cx, rest, off)
            } else {
                poll_slices::<MAX_SLICES, W>(&mut *w, cx, rest, off)
            }
        });
        let mut n = tokio::time::timeout(stall, write)
            .await
            .map_err(|_| stalled(stall))??;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        total += n as u64;
        while n > 0 && idx < bufs.len() {
            let left = bufs[idx].len() - off;
            if n >= left {
                n -= left;
                idx += 1;
                off = 0;
            } else {
                off += n;
                n = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A writer that takes at most 5 bytes per call.
    struct Trickle(Vec<u8>);

    impl tokio::io::AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = buf.len().min(5);
            self.0.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            let mut left = 5;
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(left);
                self.0.extend_from_slice(&b[..take]);
                n += take;
                left -= take;
                if left == 0 {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn vectored_writes_survive_partial_writes() {
        let bufs: Vec<Bytes> = ["abc", "", "defghijkl", "m", "", "nopqrstuvwxyz"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        let mut w = Trickle(Vec::new());
        let n = write_all_within(&mut w, &bufs, VIEWER_WRITE_TIMEOUT)
            .await
            .expect("write");
        assert_eq!(n, 26);
        assert_eq!(w.0, b"abcdefghijklmnopqrstuvwxyz");
        let many: Vec<Bytes> = (0..200u8).map(|i| Bytes::from(vec![i; 3])).collect();
        let mut w = Trickle(Vec::new());
        write_all_within(&mut w, &many, VIEWER_WRITE_TIMEOUT)
            .await
            .expect("write");
        assert_eq!(w.0.len(), 600);
        assert_eq!(w.0[597..], [199, 199, 199]);
        assert_eq!(
            write_all_within(&mut Trickle(Vec::new()), &[], VIEWER_WRITE_TIMEOUT)
                .await
                .expect("empty"),
            0
        );
    }

    #[tokio::test]
    async fn more_buffers_than_one_writev_takes() {
        let count = MAX_SLICES * 2 + 7;
        let bufs: Vec<Bytes> = (0..count)
            .map(|i| Bytes::from(vec![(i % 251) as u8; 1 + i % 3]))
            .collect();
        let expected: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        let mut w = Vec::new();
        let n = write_all_within(&mut w, &bufs, VIEWER_WRITE_TIMEOUT)
            .await
            .expect("write");
        assert_eq!(n as usize, expected.len());
        assert_eq!(w, expected);
    }
}
