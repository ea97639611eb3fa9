//! Frames over a socket, for both directions of DTSC: a receive buffer that yields whole
//! frames with a time-out for a silent peer, and writes that give up on a peer that takes
//! nothing for [`VIEWER_WRITE_TIMEOUT`](crate::protocols::VIEWER_WRITE_TIMEOUT).
//!
//! A malformed frame is an error that ends the connection (the caller logs it once).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::media::dtsc::frame::{bytes_missing, read_frame, Frame, FrameError};
use crate::protocols::write::write_all_within;
use crate::protocols::VIEWER_WRITE_TIMEOUT;

/// Most bytes asked of the socket in one read while a large frame comes in.
const READ_CHUNK_MAX: usize = 1024 * 1024;

/// Why a DTSC connection ended badly.
#[derive(Debug, thiserror::Error)]
pub enum DtscError {
    #[error("malformed DTSC: {0}")]
    Frame(#[from] FrameError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("nothing received for {0:?}")]
    Timeout(Duration),
    #[error("the peer closed the connection in the middle of a frame")]
    Truncated,
    #[error("{0}")]
    Refused(String),
}

/// The receiving side of a DTSC connection.
#[derive(Default)]
pub struct FrameReader {
    buf: BytesMut,
    /// Bytes received so far (for the session's counters).
    pub received: u64,
}

impl FrameReader {
    pub fn new() -> Self {
        FrameReader::default()
    }

    /// The next frame; `Ok(None)` when the peer closed between frames. A peer silent for
    /// `limit` is an error. Cancel-safe: what was read stays buffered.
    pub async fn next<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        limit: Duration,
    ) -> Result<Option<Frame>, DtscError> {
        loop {
            if let Some(f) = read_frame(&mut self.buf)? {
                return Ok(Some(f));
            }
            let want = bytes_missing(&self.buf).clamp(4096, READ_CHUNK_MAX);
            self.buf.reserve(want);
            let n = tokio::time::timeout(limit, r.read_buf(&mut self.buf))
                .await
                .map_err(|_| DtscError::Timeout(limit))??;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(DtscError::Truncated)
                };
            }
            self.received += n as u64;
        }
    }
}

/// Writes whole frames, giving up on a peer that takes nothing for the viewer write time-out.
pub async fn send<W: AsyncWrite + Unpin>(w: &mut W, frames: &[Bytes]) -> Result<u64, DtscError> {
    Ok(write_all_within(w, frames, VIEWER_WRITE_TIMEOUT).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::dtsc::frame::command_frame;
    use crate::media::dtsc::Value;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn frames_come_whole_and_errors_end_the_stream() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let hi = command_frame(&Value::object([("cmd", Value::str("hi"))]));
        let sender = tokio::spawn(async move {
            for piece in hi.chunks(3) {
                a.write_all(piece).await.expect("write");
            }
            a.write_all(b"DTP2\x7f\xff\xff\xff").await.expect("write");
        });
        let mut r = FrameReader::new();
        let f = r.next(&mut b, Duration::from_secs(5)).await.expect("frame");
        assert!(matches!(f, Some(Frame::Command(_))));
        let e = r.next(&mut b, Duration::from_secs(5)).await;
        assert!(matches!(
            e,
            Err(DtscError::Frame(FrameError::TooLarge { .. }))
        ));
        sender.await.expect("sender");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out_and_a_cut_frame_is_an_error() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let mut r = FrameReader::new();
        let e = r.next(&mut b, Duration::from_secs(3)).await;
        assert!(matches!(e, Err(DtscError::Timeout(_))));
        a.write_all(b"DTCM\x00\x00\x00\x09\x03")
            .await
            .expect("write");
        drop(a);
        let e = r.next(&mut b, Duration::from_secs(3)).await;
        assert!(matches!(e, Err(DtscError::Truncated)));
    }
}
