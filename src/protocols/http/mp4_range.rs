//! `/STREAM.mp4` of an on-demand stream: a progressive MP4 (`moov` first) of known length that a
//! browser `<video>` can seek in, with HTTP Range requests (RFC 9110 14, 15.3.7, 15.5.17).
//!
//! - Every answer says `Accept-Ranges: bytes` and its `Content-Length`; a HEAD gets the head.
//! - `Range: bytes=A-B`, `A-` and `-N` get `206 Partial Content` with `Content-Range`. Only the
//!   first range of a list is answered (as `206` for that range: a client asking for several
//!   gets the first, which RFC 9110 14.2 allows). A start past the end (or `-0`) gets
//!   `416 Range Not Satisfiable` with `Content-Range: bytes */LEN`. A header that is not a
//!   byte range (another unit, a malformed one) is ignored, as 14.2 says: `200` and the whole.
//! - `If-Range` is ignored: the file's bytes follow from the source file's version, and a
//!   changed source is a new stream load. A client revalidating gets the range it asked for.
//! - `?start=` and `?end=` pick a part of the file as on the other outputs (its own layout).
//!
//! The body is read from the source file a run of samples at a time
//! ([`crate::hub::vod::progressive::RangeBody`]) and written before the next run is read, so a
//! slow client holds one run. The bytes count for the stream and the session as the other
//! progressive outputs count them; each request is a connection of the viewer's session, so a
//! keep-alive connection asking for several ranges stays one viewer.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::net::TcpStream;

use super::{Request, Response, Status};
use crate::hub::session::SessionConn;
use crate::hub::vod::progressive::{layout, RangeBody};
use crate::hub::vod::VodFile;
use crate::hub::Subscription;
use crate::media::Track;
use crate::protocols::{write_all_within, VIEWER_WRITE_TIMEOUT};

/// What a request's `Range` header asks of a body of known length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteRange {
    /// No usable range: the whole body, `200`.
    Whole,
    /// Bytes `start..end` (end exclusive), `206`.
    Part { start: u64, end: u64 },
    /// Nothing of it can be sent: `416`.
    Unsatisfiable,
}

/// A decimal number of at most 19 digits; longer ones saturate (a position that large is past
/// any end).
fn position(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

/// Reads a `Range` header (RFC 9110 14.1.2) for a body of `len` bytes: the first range of a
/// `bytes=` list, clipped to the body.
pub fn parse_range(header: Option<&str>, len: u64) -> ByteRange {
    let Some(value) = header else {
        return ByteRange::Whole;
    };
    let value = value.trim();
    let Some((unit, set)) = value.split_once('=') else {
        return ByteRange::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return ByteRange::Whole;
    }
    let Some(first) = set.split(',').map(str::trim).find(|r| !r.is_empty()) else {
        return ByteRange::Whole;
    };
    let Some((a, b)) = first.split_once('-') else {
        return ByteRange::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    match (position(a), position(b)) {
        // `-N`: the last N bytes.
        (None, Some(n)) if a.is_empty() => {
            if n == 0 || len == 0 {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part {
                    start: len - n.min(len),
                    end: len,
                }
            }
        }
        // `A-`: from A to the end.
        (Some(start), None) if b.is_empty() => {
            if start >= len {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part { start, end: len }
            }
        }
        // `A-B`, both included.
        (Some(start), Some(last)) if start <= last => {
            if start >= len {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part {
                    start,
                    end: last.saturating_add(1).min(len),
                }
            }
        }
        _ => ByteRange::Whole,
    }
}

/// Answers a GET or HEAD of the progressive MP4 of an on-demand stream with `tracks`.
pub async fn serve(
    req: &Request,
    sock: &mut TcpStream,
    (file, tracks): (Arc<VodFile>, &[Track]),
    sub: &Subscription,
    session: &mut SessionConn,
    (name, peer): (&str, SocketAddr),
) -> std::io::Result<bool> {
    let ids: Vec<u32> = tracks.iter().map(|t| t.id).collect();
    let mp4 = match layout(&file, &ids, super::play_range(req)).await {
        Ok(l) => l,
        Err(e) => return Response::not_found(e).send(sock, req).await,
    };
    let len = mp4.len;
    let asked = req.header("range");
    let (status, start, end) = match parse_range(asked, len) {
        ByteRange::Whole => (Status::Ok, 0, len),
        ByteRange::Part { start, end } => (Status::PartialContent, start, end),
        ByteRange::Unsatisfiable => {
            tracing::info!(
                stream = name,
                "MP4 viewer {peer}: range {asked:?} of {len} bytes cannot be satisfied"
            );
            return Response::new(Status::RangeNotSatisfiable)
                .header("Accept-Ranges", "bytes")
                .header("Content-Range", format!("bytes */{len}"))
                .send(sock, req)
                .await;
        }
    };
    let mut head =
        Response::sized(status, "video/mp4", end - start).header("Accept-Ranges", "bytes");
    if status == Status::PartialContent {
        let last = end - 1;
        head = head.header("Content-Range", format!("bytes {start}-{last}/{len}"));
        tracing::info!(
            stream = name,
            "MP4 viewer {peer}: range request, bytes {start}-{last}/{len}"
        );
    }
    let keep = head.send(sock, req).await?;
    if req.is_head() {
        return Ok(keep);
    }
    let counters = &sub.reader.buffer().counters;
    let mut body = RangeBody::new(file, mp4, start..end);
    let mut stop = session.stop.clone();
    let ended = crate::hub::session::stopped(&mut stop);
    tokio::pin!(ended);
    loop {
        let piece = tokio::select! {
            biased;
            _ = &mut ended => {
                tracing::info!(stream = name, "viewer {peer} disconnected: session {} stopped", session.id);
                return Ok(false);
            }
            p = body.next() => p?,
        };
        let Some(piece) = piece else {
            return Ok(keep);
        };
        let written = match write_all_within(sock, &piece.bufs, VIEWER_WRITE_TIMEOUT).await {
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                tracing::info!(stream = name, "MP4 viewer {peer} stopped reading; dropped");
                return Ok(false);
            }
            other => other?,
        };
        counters.bytes_out.fetch_add(written, Ordering::Relaxed);
        session
            .counters
            .sent(written, piece.samples, piece.position_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end: u64) -> ByteRange {
        ByteRange::Part { start, end }
    }

    #[test]
    fn ranges() {
        let r = |h: &str| parse_range(Some(h), 1000);
        assert_eq!(parse_range(None, 1000), ByteRange::Whole);
        assert_eq!(r("bytes=0-499"), part(0, 500));
        assert_eq!(r("bytes=500-"), part(500, 1000));
        assert_eq!(r("bytes=-100"), part(900, 1000));
        assert_eq!(
            r("bytes=-5000"),
            part(0, 1000),
            "a suffix longer than the body"
        );
        assert_eq!(r("bytes=900-5000"), part(900, 1000), "clipped to the end");
        assert_eq!(r("bytes=999-999"), part(999, 1000));
        assert_eq!(r("Bytes = 1-2"), part(1, 3), "unit case and spaces");
        assert_eq!(r("bytes=0-0,5-9"), part(0, 1), "the first of several");
        assert_eq!(r("bytes= ,10-19"), part(10, 20), "empty list elements");
        assert_eq!(r("bytes=1000-"), ByteRange::Unsatisfiable);
        assert_eq!(r("bytes=1000-2000"), ByteRange::Unsatisfiable);
        assert_eq!(r("bytes=-0"), ByteRange::Unsatisfiable);
        assert_eq!(
            r("bytes=99999999999999999999999-"),
            ByteRange::Unsatisfiable,
            "a huge start saturates"
        );
        assert_eq!(parse_range(Some("bytes=0-"), 0), ByteRange::Unsatisfiable);
    }

    #[test]
    fn malformed_ranges_are_ignored() {
        for h in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=1-b",
            "bytes=+1-2",
            "bytes=1--2",
            "bytes=0x10-",
            "items=0-10",
            "=0-10",
            "bytes=1.5-2",
            "bytes=\u{1F600}-",
        ] {
            assert_eq!(parse_range(Some(h), 1000), ByteRange::Whole, "{h:?}");
        }
    }

    #[test]
    fn random_headers_never_panic() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let alphabet = b"bytes=-0123456789, ";
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = (seed % 24) as usize;
            let s: String = (0..n)
                .map(|i| alphabet[((seed >> (i % 8 * 8)) as usize + i) % alphabet.len()] as char)
                .collect();
            let len = seed % 5000;
            match parse_range(Some(&s), len) {
                ByteRange::Part { start, end } => {
                    assert!(start < end && end <= len, "{s:?} {len}: {start}..{end}")
                }
                ByteRange::Whole | ByteRange::Unsatisfiable => {}
            }
        }
    }
}
