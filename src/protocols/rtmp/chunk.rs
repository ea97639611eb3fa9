//! RTMP chunk stream: de-chunking (reader) and chunking (writer).
//!
//! Reference: Adobe RTMP specification 1.0, section 5.3 (5.3.1.1 basic
//! header, 5.3.1.2 message header types 0–3, 5.3.1.3 extended timestamp,
//! 5.3.2 examples), 5.4.1 (Set Chunk Size), 5.4.2 (Abort Message) and 3
//! ("timestamps ... wrap around after 2^32 ms").
//!
//! ```text
//!  chunk := basic header | message header | [extended timestamp] | data
//!
//!  basic header (1, 2 or 3 bytes), fmt = 2 high bits of the first byte:
//!    0 1 2 3 4 5 6 7
//!   +-+-+-+-+-+-+-+-+
//!   |fmt|   csid    |                          csid 2..=63
//!   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!   |fmt|     0     |  csid - 64    |          csid 64..=319
//!   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!   |fmt|     1     |  (csid-64) % 256  | (csid-64)/256 |  csid 64..=65599
//!   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//!  message header (all integers big-endian except stream id):
//!   fmt 0 (11 bytes): | timestamp (3) | length (3) | type (1) | stream id (4, LE) |
//!   fmt 1 (7 bytes):  | ts delta (3)  | length (3) | type (1) |
//!   fmt 2 (3 bytes):  | ts delta (3)  |
//!   fmt 3 (0 bytes):  everything from the previous header of this csid
//!
//!  extended timestamp (4 bytes): present when the 3-byte timestamp / delta
//!  field is 0xFFFFFF; then it holds the full 32-bit value. It is repeated
//!  on fmt 3 chunks of a chunk stream whose latest fmt 0/1/2 header had one.
//!
//!  data: min(chunk size, bytes left in the message); chunk size defaults
//!  to 128 and is changed by the peer's Set Chunk Size message.
//! ```
//!
//! Hardening: a message length is at most [`MAX_MESSAGE_LEN`] (the 24-bit
//! maximum), at most [`MAX_CHUNK_STREAMS`] chunk stream ids may be used, and
//! the total size of all partially assembled messages is capped at
//! [`MAX_BUFFERED`]. Partial messages grow only as bytes arrive; the chunk
//! size and the announced message length never drive an allocation.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Largest message length (24-bit length field).
pub const MAX_MESSAGE_LEN: u32 = 0x00FF_FFFF;
/// Cap on the sum of all partially assembled messages.
pub const MAX_BUFFERED: usize = 32 * 1024 * 1024;
/// Cap on the number of distinct chunk stream ids a peer may use.
pub const MAX_CHUNK_STREAMS: usize = 64;
/// Chunk size in force until a Set Chunk Size message (spec 5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest valid chunk size (31 bits).
pub const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;
/// Smallest and largest chunk stream id.
pub const MIN_CSID: u32 = 2;
pub const MAX_CSID: u32 = 65599;

const EXTENDED_MARKER: u32 = 0x00FF_FFFF;

/// Message header length for a chunk format (spec 5.3.1.2).
fn message_header_len(fmt: u8) -> usize {
    match fmt {
        0 => 11,
        1 => 7,
        2 => 3,
        _ => 0,
    }
}

/// One de-chunked RTMP message.
#[derive(Debug, Clone, PartialEq)]
pub struct RtmpMessage {
    pub csid: u32,
    pub timestamp: u32,
    pub msg_type: u8,
    pub stream_id: u32,
    pub payload: Bytes,
}

/// Chunk stream errors. After any error the connection should be closed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ChunkError {
    #[error("invalid chunk size {0} (valid: 1..=2147483647)")]
    InvalidChunkSize(u32),
    #[error("chunk stream {csid}: fmt {fmt} chunk without a previous full header")]
    NoPreviousHeader { csid: u32, fmt: u8 },
    #[error("chunk stream {csid}: message length {length} exceeds the maximum {max}")]
    MessageTooLarge { csid: u32, length: u32, max: u32 },
    #[error(
        "chunk stream {csid}: {incoming} more bytes would exceed the {max}-byte limit \
         on partially assembled messages ({buffered} bytes buffered)"
    )]
    BufferLimit {
        csid: u32,
        buffered: usize,
        incoming: usize,
        max: usize,
    },
    #[error("chunk stream {csid}: more than {max} chunk streams in use")]
    TooManyChunkStreams { csid: u32, max: usize },
}

/// Per chunk stream id state (spec 5.3.1.2: fields omitted by fmt 1/2/3
/// headers are taken from here).
#[derive(Debug, Default)]
struct ChunkStream {
    csid: u32,
    /// Absolute timestamp of the current / latest message.
    timestamp: u32,
    /// Timestamp delta reused by a fmt 3 chunk that starts a new message.
    delta: u32,
    length: u32,
    msg_type: u8,
    stream_id: u32,
    /// The 32-bit extended timestamp field of the latest fmt 0/1/2 header,
    /// if it had one (fmt 3 chunks of this stream then carry it too).
    ext: Option<u32>,
    /// Message being assembled from several chunks.
    partial: Option<BytesMut>,
}

/// What the header of the next chunk says, before any state is changed.
struct Header {
    fmt: u8,
    csid: u32,
    /// Basic + message header + extended timestamp bytes.
    len: usize,
    /// 3-byte timestamp/delta field, replaced by the extended value if any
    /// (fmt 0/1/2 only).
    ts: u32,
    /// Extended timestamp value present on a fmt 0/1/2 header.
    ext: Option<u32>,
    length: u32,
    msg_type: u8,
    stream_id: u32,
}

fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    let s = b.get(at..at.checked_add(N)?)?;
    <[u8; N]>::try_from(s).ok()
}

fn be24(b: &[u8], at: usize) -> Option<u32> {
    let [x, y, z] = bytes_at::<3>(b, at)?;
    Some(u32::from_be_bytes([0, x, y, z]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    bytes_at::<4>(b, at).map(u32::from_be_bytes)
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    bytes_at::<4>(b, at).map(u32::from_le_bytes)
}

/// Parses the basic header: `(fmt, csid, length)`, `None` if incomplete.
fn basic_header(b: &[u8]) -> Option<(u8, u32, usize)> {
    let b0 = *b.first()?;
    let fmt = b0 >> 6;
    match b0 & 0x3F {
        0 => Some((fmt, 64 + u32::from(*b.get(1)?), 2)),
        1 => {
            let lo = u32::from(*b.get(1)?);
            let hi = u32::from(*b.get(2)?);
            Some((fmt, 64 + lo + hi * 256, 3))
        }
        n => Some((fmt, u32::from(n), 1)),
    }
}

/// Reassembles messages from the peer's chunk stream (spec 5.3).
#[derive(Debug)]
pub struct ChunkReader {
    chunk_size: u32,
    streams: Vec<ChunkStream>,
    buffered: usize,
}

impl Default for ChunkReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkReader {
    /// A reader with the default chunk size of 128.
    pub fn new() -> Self {
        ChunkReader {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: Vec::new(),
            buffered: 0,
        }
    }

    /// Applies the peer's Set Chunk Size (spec 5.4.1): 1..=0x7FFFFFFF.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(ChunkError::InvalidChunkSize(size));
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Current incoming chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Total bytes held in partially assembled messages.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Drops the partially received message on `csid` (spec 5.4.2).
    pub fn abort(&mut self, csid: u32) {
        if let Some(st) = self.streams.iter_mut().find(|s| s.csid == csid) {
            if let Some(p) = st.partial.take() {
                self.buffered = self.buffered.saturating_sub(p.len());
            }
        }
    }

    fn stream_index(&self, csid: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.csid == csid)
    }

    /// Parses the chunk header at the start of `b` without changing state.
    /// `Ok(None)`: more bytes are needed.
    fn header(&self, b: &[u8]) -> Result<Option<Header>, ChunkError> {
        let Some((fmt, csid, bh_len)) = basic_header(b) else {
            return Ok(None);
        };
        let mh_len = message_header_len(fmt);
        let mut len = bh_len + mh_len;
        if b.len() < len {
            return Ok(None);
        }
        let prev = self.stream_index(csid).and_then(|i| self.streams.get(i));
        let mut h = Header {
            fmt,
            csid,
            len,
            ts: 0,
            ext: None,
            length: prev.map_or(0, |p| p.length),
            msg_type: prev.map_or(0, |p| p.msg_type),
            stream_id: prev.map_or(0, |p| p.stream_id),
        };
        if prev.is_none() && fmt >= 2 {
            return Err(ChunkError::NoPreviousHeader { csid, fmt });
        }
        if fmt <= 2 {
            // All reads below are within `len`, checked above.
            let ts = be24(b, bh_len).unwrap_or(0);
            if fmt <= 1 {
                h.length = be24(b, bh_len + 3).unwrap_or(0);
                h.msg_type = b.get(bh_len + 6).copied().unwrap_or(0);
            }
            if fmt == 0 {
                h.stream_id = le32(b, bh_len + 7).unwrap_or(0);
            }
            h.ts = ts;
            if ts == EXTENDED_MARKER {
                let Some(ext) = be32(b, len) else {
                    return Ok(None);
                };
                h.ts = ext;
                h.ext = Some(ext);
                len += 4;
            }
        } else if let Some(ext) = prev.and_then(|p| p.ext) {
            // fmt 3 on a stream whose latest header had an extended
            // timestamp: the spec (5.3.1.3) says the 4 bytes are repeated.
            // Flash Player, FMS, OBS and ffmpeg (since 2013) repeat them;
            // old librtmp (<= 2.3) and some hardware encoders omit them on
            // continuation chunks. Peek: the field is taken as present only
            // if the next 4 bytes equal the value last seen.
            let want = ext.to_be_bytes();
            let have = b.get(len..).unwrap_or(&[]);
            let n = have.len().min(4);
            if have.get(..n) == want.get(..n) {
                if n < 4 {
                    return Ok(None); // Cannot decide yet.
                }
                len += 4;
            }
        }
        if h.length > MAX_MESSAGE_LEN {
            return Err(ChunkError::MessageTooLarge {
                csid,
                length: h.length,
                max: MAX_MESSAGE_LEN,
            });
        }
        h.len = len;
        Ok(Some(h))
    }

    /// Consumes complete chunks from `buf` and returns the next complete
    /// message, or `Ok(None)` when more bytes are needed (an incomplete
    /// chunk is left in `buf`; complete chunks of unfinished messages are
    /// consumed and kept inside the reader). It returns as soon as one
    /// message completes, so the caller can apply a Set Chunk Size or Abort
    /// message before the chunks after it are parsed. A message carried by
    /// a single chunk is a zero-copy slice of `buf`; a multi-chunk message
    /// is assembled into its own buffer.
    pub fn read_message(&mut self, buf: &mut BytesMut) -> Result<Option<RtmpMessage>, ChunkError> {
        loop {
            let Some(h) = self.header(buf)? else {
                return Ok(None);
            };
            let idx = self.stream_index(h.csid);
            let in_progress = idx
                .and_then(|i| self.streams.get(i))
                .and_then(|s| s.partial.as_ref())
                .map(BytesMut::len);
            // A fmt 3 chunk continues the message in progress; any other
            // chunk starts a new message.
            let continuing = h.fmt == 3 && in_progress.is_some();
            let received = if continuing {
                in_progress.unwrap_or(0)
            } else {
                0
            };
            let left = usize::try_from(h.length)
                .unwrap_or(usize::MAX)
                .saturating_sub(received);
            let chunk_size = usize::try_from(self.chunk_size).unwrap_or(usize::MAX);
            let data_len = left.min(chunk_size);
            let total = h.len.saturating_add(data_len);
            if buf.len() < total {
                return Ok(None);
            }
            let completes = data_len == left;
            // Limits, checked before any state changes.
            if idx.is_none() && self.streams.len() >= MAX_CHUNK_STREAMS {
                return Err(ChunkError::TooManyChunkStreams {
                    csid: h.csid,
                    max: MAX_CHUNK_STREAMS,
                });
            }
            // A new message replacing an unfinished one frees its bytes.
            let freed = if continuing {
                0
            } else {
                in_progress.unwrap_or(0)
            };
            let buffered_after = self.buffered.saturating_sub(freed);
            // Only a message carried whole by one chunk skips the partial
            // buffers (it is handed out zero-copy).
            let goes_to_partial = continuing || !completes;
            if goes_to_partial && buffered_after.saturating_add(data_len) > MAX_BUFFERED {
                return Err(ChunkError::BufferLimit {
                    csid: h.csid,
                    buffered: buffered_after,
                    incoming: data_len,
                    max: MAX_BUFFERED,
                });
            }

            // Commit.
            let idx = match idx {
                Some(i) => i,
                None => {
                    self.streams.push(ChunkStream {
                        csid: h.csid,
                        ..ChunkStream::default()
                    });
                    self.streams.len() - 1
                }
            };
            let Some(st) = self.streams.get_mut(idx) else {
                return Ok(None); // Unreachable: idx is valid.
            };
            buf.advance(h.len);
            if !continuing {
                // A fmt 0/1/2 header in the middle of a message: the spec
                // forbids it; like ffmpeg we drop the unfinished message.
                if st.partial.take().is_some() {
                    self.buffered = buffered_after;
                }
                match h.fmt {
                    0 => {
                        // Spec 5.3.1.2.4: a following fmt 3 message reuses
                        // this timestamp as its delta (ffmpeg does the same;
                        // nginx-rtmp uses 0).
                        st.timestamp = h.ts;
                        st.delta = h.ts;
                    }
                    1 | 2 => {
                        st.delta = h.ts;
                        st.timestamp = st.timestamp.wrapping_add(h.ts);
                    }
                    _ => st.timestamp = st.timestamp.wrapping_add(st.delta),
                }
                if h.fmt <= 2 {
                    st.ext = h.ext;
                }
                st.length = h.length;
                st.msg_type = h.msg_type;
                st.stream_id = h.stream_id;
                if completes {
                    // Whole message in one chunk: zero-copy.
                    return Ok(Some(RtmpMessage {
                        csid: h.csid,
                        timestamp: st.timestamp,
                        msg_type: st.msg_type,
                        stream_id: st.stream_id,
                        payload: buf.split_to(data_len).freeze(),
                    }));
                }
            }
            let part = st.partial.get_or_insert_with(BytesMut::new);
            part.extend_from_slice(buf.get(..data_len).unwrap_or(&[]));
            buf.advance(data_len);
            self.buffered = self.buffered.saturating_add(data_len);
            if completes {
                let payload = st.partial.take().unwrap_or_default().freeze();
                self.buffered = self.buffered.saturating_sub(payload.len());
                return Ok(Some(RtmpMessage {
                    csid: h.csid,
                    timestamp: st.timestamp,
                    msg_type: st.msg_type,
                    stream_id: st.stream_id,
                    payload,
                }));
            }
        }
    }
}

fn clamp_csid(csid: u32) -> u32 {
    csid.clamp(MIN_CSID, MAX_CSID)
}

fn put_basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    let fmt = (fmt & 3) << 6;
    let csid = clamp_csid(csid);
    if csid < 64 {
        out.put_u8(fmt | csid as u8);
    } else if csid < 320 {
        out.put_u8(fmt);
        out.put_u8((csid - 64) as u8);
    } else {
        let v = csid - 64;
        out.put_u8(fmt | 1);
        out.put_u8((v & 0xFF) as u8);
        out.put_u8((v >> 8) as u8);
    }
}

fn put_u24(out: &mut BytesMut, v: u32) {
    out.put_slice(&v.to_be_bytes()[1..]);
}

/// Writes a fmt 0 header (with extended timestamp if needed).
fn put_first_header(
    out: &mut BytesMut,
    csid: u32,
    timestamp: u32,
    msg_type: u8,
    stream_id: u32,
    len: usize,
) {
    let ext = timestamp >= EXTENDED_MARKER;
    put_basic_header(out, 0, csid);
    put_u24(out, if ext { EXTENDED_MARKER } else { timestamp });
    put_u24(
        out,
        u32::try_from(len)
            .unwrap_or(MAX_MESSAGE_LEN)
            .min(MAX_MESSAGE_LEN),
    );
    out.put_u8(msg_type);
    out.put_u32_le(stream_id);
    if ext {
        out.put_u32(timestamp);
    }
}

/// Writes a fmt 3 continuation header (repeating the extended timestamp,
/// as Flash, ffmpeg and librtmp readers expect).
fn put_continuation_header(out: &mut BytesMut, csid: u32, timestamp: u32) {
    put_basic_header(out, 3, csid);
    if timestamp >= EXTENDED_MARKER {
        out.put_u32(timestamp);
    }
}

fn writer_chunk_size(chunk_size: u32) -> usize {
    usize::try_from(chunk_size.clamp(1, MAX_CHUNK_SIZE)).unwrap_or(usize::MAX)
}

/// Appends `payload` as one message in chunks: a fmt 0 chunk, then fmt 3
/// continuations. `chunk_size` is clamped to 1..=0x7FFFFFFF, `csid` to
/// 2..=65599, and a payload longer than [`MAX_MESSAGE_LEN`] is cut there.
pub fn write_message(
    out: &mut BytesMut,
    chunk_size: u32,
    csid: u32,
    timestamp: u32,
    msg_type: u8,
    stream_id: u32,
    payload: &[u8],
) {
    let max = usize::try_from(MAX_MESSAGE_LEN).unwrap_or(usize::MAX);
    let payload = payload.get(..payload.len().min(max)).unwrap_or(payload);
    let cs = writer_chunk_size(chunk_size);
    out.reserve(payload.len() + 16 + (payload.len() / cs) * 8);
    put_first_header(out, csid, timestamp, msg_type, stream_id, payload.len());
    for (i, data) in payload.chunks(cs).enumerate() {
        if i > 0 {
            put_continuation_header(out, csid, timestamp);
        }
        out.put_slice(data);
    }
}

/// Zero-copy chunking of a message whose payload is the concatenation of
/// `parts`: returns header `Bytes` interleaved with `Bytes::slice`s of the
/// parts. Concatenated, the result equals [`write_message`]'s output.
pub fn chunk_message(
    chunk_size: u32,
    csid: u32,
    timestamp: u32,
    msg_type: u8,
    stream_id: u32,
    parts: &[Bytes],
) -> Vec<Bytes> {
    let max = usize::try_from(MAX_MESSAGE_LEN).unwrap_or(usize::MAX);
    let total = parts
        .iter()
        .fold(0usize, |a, p| a.saturating_add(p.len()))
        .min(max);
    let cs = writer_chunk_size(chunk_size);

    // Both headers in one allocation; every continuation header is equal.
    let mut hdr = BytesMut::with_capacity(24);
    put_first_header(&mut hdr, csid, timestamp, msg_type, stream_id, total);
    let first = hdr.split().freeze();
    put_continuation_header(&mut hdr, csid, timestamp);
    let cont = hdr.freeze();

    let mut out = Vec::with_capacity(parts.len() + 2 * (total / cs) + 2);
    out.push(first);
    let mut left_total = total;
    let mut left_in_chunk = cs;
    for part in parts {
        let mut off = 0usize;
        while off < part.len() && left_total > 0 {
            if left_in_chunk == 0 {
                out.push(cont.clone());
                left_in_chunk = cs;
            }
            let n = (part.len() - off).min(left_in_chunk).min(left_total);
            out.push(part.slice(off..off + n));
            off += n;
            left_in_chunk -= n;
            left_total -= n;
        }
    }
    out
}

/// Extends a 32-bit RTMP timestamp onto a 64-bit millisecond timeline:
/// returns the value congruent to `ts32` modulo 2^32 that is nearest to
/// `last` (the previous extended value) among the non-negative candidates,
/// so forward wrap-around keeps counting up and small backward steps
/// (audio/video interleaving) stay small. Start a timeline with `last = 0`.
pub fn extend_timestamp(last: i64, ts32: u32) -> i64 {
    const SPAN: i64 = 1 << 32;
    let low = last.rem_euclid(SPAN) as u32;
    let diff = i64::from(ts32.wrapping_sub(low) as i32);
    let r = last.saturating_add(diff);
    if r < 0 {
        i64::from(ts32)
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(csid: u32, ts: u32, t: u8, sid: u32, payload: &[u8]) -> RtmpMessage {
        RtmpMessage {
            csid,
            timestamp: ts,
            msg_type: t,
            stream_id: sid,
            payload: Bytes::copy_from_slice(payload),
        }
    }

    fn read_all(r: &mut ChunkReader, bytes: &[u8]) -> Result<Vec<RtmpMessage>, ChunkError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(m) = r.read_message(&mut buf)? {
            out.push(m);
        }
        Ok(out)
    }

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn single_chunk_message() {
        let mut out = BytesMut::new();
        write_message(&mut out, 128, 3, 1000, 20, 0, b"hello");
        assert_eq!(
            &out[..],
            &[0x03, 0, 0x03, 0xE8, 0, 0, 5, 20, 0, 0, 0, 0, b'h', b'e', b'l', b'l', b'o']
        );
        let mut r = ChunkReader::new();
        assert_eq!(
            read_all(&mut r, &out),
            Ok(vec![msg(3, 1000, 20, 0, b"hello")])
        );
    }

    #[test]
    fn multi_chunk_message_and_chunk_size() {
        let p = payload(1000);
        for cs in [1u32, 2, 127, 128, 999, 1000, 1001, 4096] {
            let mut out = BytesMut::new();
            write_message(&mut out, cs, 4, 5, 9, 1, &p);
            let mut r = ChunkReader::new();
            r.set_chunk_size(cs).unwrap();
            assert_eq!(
                read_all(&mut r, &out),
                Ok(vec![msg(4, 5, 9, 1, &p)]),
                "cs {cs}"
            );
            assert_eq!(r.buffered(), 0);
        }
    }

    #[test]
    fn byte_by_byte_feeding() {
        let mut out = BytesMut::new();
        write_message(&mut out, 128, 6, 0x0100_0000, 8, 1, &payload(700));
        write_message(&mut out, 128, 6, 0x0100_0010, 8, 1, &payload(10));
        write_message(&mut out, 128, 400, 7, 18, 1, &payload(300));
        let mut r = ChunkReader::new();
        let expected = read_all(&mut r, &out).unwrap();
        assert_eq!(expected.len(), 3);
        let mut r = ChunkReader::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in out.iter() {
            buf.put_u8(*b);
            while let Some(m) = r.read_message(&mut buf).unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, expected);
        assert!(buf.is_empty());
    }

    #[test]
    fn basic_header_forms() {
        for csid in [2u32, 63, 64, 65, 319, 320, 321, 1000, 65599] {
            let mut out = BytesMut::new();
            write_message(&mut out, 128, csid, 1, 20, 0, b"x");
            let expected_len = match csid {
                2..=63 => 1,
                64..=319 => 2,
                _ => 3,
            };
            assert_eq!(out.len(), expected_len + 11 + 1, "csid {csid}");
            let mut r = ChunkReader::new();
            assert_eq!(read_all(&mut r, &out).unwrap()[0].csid, csid);
        }
        assert_eq!(basic_header(&[0x00, 0xFF]), Some((0, 319, 2)));
        assert_eq!(basic_header(&[0x41, 0xFF, 0xFF]), Some((1, 65599, 3)));
        assert_eq!(basic_header(&[0x01, 0xFF]), None);
        assert_eq!(basic_header(&[]), None);
    }

    /// Hand-made fmt 0/1/2/3 sequence (spec 5.3.2.1 example 1 style).
    #[test]
    fn header_compression_and_deltas() {
        let mut b = vec![];
        // fmt 0, csid 3, ts 1000, len 2, type 8, sid 1
        b.extend_from_slice(&[0x03, 0, 0x03, 0xE8, 0, 0, 2, 8, 1, 0, 0, 0, 0xAA, 0xBB]);
        // fmt 1, delta 40, len 3, type 9
        b.extend_from_slice(&[0x43, 0, 0, 40, 0, 0, 3, 9, 1, 2, 3]);
        // fmt 2, delta 20
        b.extend_from_slice(&[0x83, 0, 0, 20, 4, 5, 6]);
        // fmt 3 new message: reuses delta 20
        b.extend_from_slice(&[0xC3, 7, 8, 9]);
        b.extend_from_slice(&[0xC3, 10, 11, 12]);
        let mut r = ChunkReader::new();
        let m = read_all(&mut r, &b).unwrap();
        let ts: Vec<u32> = m.iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, vec![1000, 1040, 1060, 1080, 1100]);
        assert_eq!(m[1].msg_type, 9);
        assert_eq!(m[1].stream_id, 1);
        assert_eq!(&m[4].payload[..], &[10, 11, 12]);
    }

    #[test]
    fn fmt3_after_fmt0_reuses_timestamp_as_delta() {
        let mut b = vec![0x03, 0, 0, 10, 0, 0, 1, 8, 1, 0, 0, 0, 0xAA];
        b.extend_from_slice(&[0xC3, 0xBB]);
        let mut r = ChunkReader::new();
        let m = read_all(&mut r, &b).unwrap();
        assert_eq!(m[1].timestamp, 20);
    }

    #[test]
    fn timestamp_wraps() {
        let mut out = BytesMut::new();
        write_message(&mut out, 128, 3, 0xFFFF_FFF0, 8, 1, b"a");
        out.extend_from_slice(&[0x83, 0, 0, 0x20, b'b']);
        let mut r = ChunkReader::new();
        let m = read_all(&mut r, &out).unwrap();
        assert_eq!(m[0].timestamp, 0xFFFF_FFF0);
        assert_eq!(m[1].timestamp, 0x10);
    }

    #[test]
    fn extended_timestamp_repeated_on_continuations() {
        let p = payload(300);
        let mut out = BytesMut::new();
        write_message(&mut out, 128, 5, 0x0123_4567, 9, 1, &p);
        // 12-byte header + 4 ext, then two continuations of 1 + 4.
        assert_eq!(out.len(), 16 + 300 + 2 * 5);
        assert_eq!(&out[1..4], &[0xFF, 0xFF, 0xFF]);
        assert_eq!(
            &out[16 + 128..16 + 128 + 5],
            &[0xC5, 0x01, 0x23, 0x45, 0x67]
        );
        let mut r = ChunkReader::new();
        assert_eq!(
            read_all(&mut r, &out),
            Ok(vec![msg(5, 0x0123_4567, 9, 1, &p)])
        );
    }

    #[test]
    fn extended_timestamp_omitted_on_continuations_is_tolerated() {
        // Old librtmp style: ext field only in the fmt 0 header.
        let p = payload(300);
        let mut b = vec![0x05, 0xFF, 0xFF, 0xFF, 0, 0x01, 0x2C, 9, 1, 0, 0, 0];
        b.extend_from_slice(&0x0123_4567u32.to_be_bytes());
        b.extend_from_slice(&p[..128]);
        b.push(0xC5);
        b.extend_from_slice(&p[128..256]);
        b.push(0xC5);
        b.extend_from_slice(&p[256..]);
        let mut r = ChunkReader::new();
        assert_eq!(
            read_all(&mut r, &b),
            Ok(vec![msg(5, 0x0123_4567, 9, 1, &p)])
        );
        // Same, fed byte by byte (the peek must wait, then decide).
        let mut r = ChunkReader::new();
        let mut buf = BytesMut::new();
        let mut got = vec![];
        for x in &b {
            buf.put_u8(*x);
            if let Some(m) = r.read_message(&mut buf).unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, vec![msg(5, 0x0123_4567, 9, 1, &p)]);
    }

    #[test]
    fn fmt3_new_message_with_extended_delta() {
        // fmt 1 with extended delta, then fmt 3 new message repeating it.
        let mut b = vec![0x04, 0, 0, 0, 0, 0, 1, 8, 1, 0, 0, 0, 0x11];
        b.extend_from_slice(&[0x44, 0xFF, 0xFF, 0xFF, 0, 0, 1, 8]);
        b.extend_from_slice(&0x0100_0000u32.to_be_bytes());
        b.push(0x22);
        b.push(0xC4);
        b.extend_from_slice(&0x0100_0000u32.to_be_bytes());
        b.push(0x33);
        let mut r = ChunkReader::new();
        let m = read_all(&mut r, &b).unwrap();
        let ts: Vec<u32> = m.iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, vec![0, 0x0100_0000, 0x0200_0000]);
        assert_eq!(&m[2].payload[..], &[0x33]);
    }

    #[test]
    fn partial_chunk_left_in_buffer() {
        let mut out = BytesMut::new();
        write_message(&mut out, 128, 3, 0, 20, 0, &payload(200));
        let mut r = ChunkReader::new();
        let mut buf = BytesMut::from(&out[..100]);
        assert_eq!(r.read_message(&mut buf), Ok(None));
        assert_eq!(buf.len(), 100, "incomplete first chunk stays");
        let mut buf = BytesMut::from(&out[..150]);
        assert_eq!(r.read_message(&mut buf), Ok(None));
        assert_eq!(buf.len(), 150 - 140, "first chunk consumed");
        assert_eq!(r.buffered(), 128);
        buf.extend_from_slice(&out[150..]);
        assert_eq!(
            r.read_message(&mut buf).unwrap().unwrap().payload.len(),
            200
        );
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn interleaved_chunk_streams() {
        let a = payload(300);
        let c = payload(200);
        let mut wa = BytesMut::new();
        write_message(&mut wa, 128, 4, 10, 8, 1, &a);
        let mut wc = BytesMut::new();
        write_message(&mut wc, 128, 6, 20, 9, 1, &c);
        // Interleave: a0 c0 a1 c1 a2
        let mut b = vec![];
        b.extend_from_slice(&wa[..140]);
        b.extend_from_slice(&wc[..140]);
        b.extend_from_slice(&wa[140..269]);
        b.extend_from_slice(&wc[140..]);
        b.extend_from_slice(&wa[269..]);
        let mut r = ChunkReader::new();
        let m = read_all(&mut r, &b).unwrap();
        assert_eq!(m, vec![msg(6, 20, 9, 1, &c), msg(4, 10, 8, 1, &a)]);
    }

    #[test]
    fn abort_drops_partial() {
        let mut out = BytesMut::new();
        write_message(&mut out, 128, 3, 0, 9, 1, &payload(200));
        let mut r = ChunkReader::new();
        let mut buf = BytesMut::from(&out[..140]);
        assert_eq!(r.read_message(&mut buf), Ok(None));
        assert_eq!(r.buffered(), 128);
        r.abort(3);
        r.abort(99);
        assert_eq!(r.buffered(), 0);
        // The next fmt 3 chunk now starts a new 200-byte message, whose
        // first chunk (128 bytes) is not complete yet.
        let mut buf = BytesMut::from(&out[140..]);
        assert_eq!(r.read_message(&mut buf), Ok(None));
        assert_eq!(buf.len(), 73);
        assert_eq!(r.buffered(), 0);
        buf.extend_from_slice(&[0xC3; 56]);
        assert_eq!(r.read_message(&mut buf), Ok(None));
        assert_eq!(r.buffered(), 128);
    }

    #[test]
    fn new_header_mid_message_drops_partial() {
        let mut out = BytesMut::new();
        write_message(&mut out, 128, 3, 0, 9, 1, &payload(200));
        let mut b = out[..140].to_vec();
        let mut second = BytesMut::new();
        write_message(&mut second, 128, 3, 5, 9, 1, b"xy");
        b.extend_from_slice(&second);
        let mut r = ChunkReader::new();
        assert_eq!(read_all(&mut r, &b), Ok(vec![msg(3, 5, 9, 1, b"xy")]));
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn empty_message() {
        let mut out = BytesMut::new();
        write_message(&mut out, 128, 3, 0, 20, 0, b"");
        assert_eq!(out.len(), 12);
        let mut r = ChunkReader::new();
        assert_eq!(read_all(&mut r, &out), Ok(vec![msg(3, 0, 20, 0, b"")]));
    }

    #[test]
    fn errors() {
        let mut r = ChunkReader::new();
        assert_eq!(r.set_chunk_size(0), Err(ChunkError::InvalidChunkSize(0)));
        assert_eq!(
            r.set_chunk_size(0x8000_0000),
            Err(ChunkError::InvalidChunkSize(0x8000_0000))
        );
        assert_eq!(r.set_chunk_size(0x7FFF_FFFF), Ok(()));
        assert_eq!(r.chunk_size(), 0x7FFF_FFFF);
        let mut r = ChunkReader::new();
        assert_eq!(
            read_all(&mut r, &[0xC3, 1, 2]),
            Err(ChunkError::NoPreviousHeader { csid: 3, fmt: 3 })
        );
        assert_eq!(
            read_all(&mut r, &[0x84, 0, 0, 1]),
            Err(ChunkError::NoPreviousHeader { csid: 4, fmt: 2 })
        );
        // fmt 1 without history is tolerated (stream id 0).
        let mut r = ChunkReader::new();
        assert_eq!(
            read_all(&mut r, &[0x45, 0, 0, 7, 0, 0, 1, 8, 0xAA]),
            Ok(vec![msg(5, 7, 8, 0, &[0xAA])])
        );
        let e = ChunkError::BufferLimit {
            csid: 3,
            buffered: 10,
            incoming: 5,
            max: 20,
        };
        assert!(e.to_string().contains("chunk stream 3"));
    }

    #[test]
    fn too_many_chunk_streams() {
        let mut out = BytesMut::new();
        for csid in 2..(2 + MAX_CHUNK_STREAMS as u32) {
            write_message(&mut out, 128, csid, 0, 8, 1, b"a");
        }
        let mut r = ChunkReader::new();
        assert_eq!(read_all(&mut r, &out).unwrap().len(), MAX_CHUNK_STREAMS);
        let mut more = BytesMut::new();
        write_message(&mut more, 128, 500, 0, 8, 1, b"a");
        assert_eq!(
            read_all(&mut r, &more),
            Err(ChunkError::TooManyChunkStreams {
                csid: 500,
                max: MAX_CHUNK_STREAMS
            })
        );
        // Known csids still work.
        let mut again = BytesMut::new();
        write_message(&mut again, 128, 2, 0, 8, 1, b"b");
        assert_eq!(read_all(&mut r, &again).unwrap().len(), 1);
    }

    #[test]
    fn buffered_limit_across_streams() {
        let cs: u32 = 1 << 20;
        let mut r = ChunkReader::new();
        r.set_chunk_size(cs).unwrap();
        let chunk = vec![0u8; cs as usize];
        let mut err = None;
        'outer: for csid in 3..10u32 {
            let mut b = BytesMut::new();
            put_first_header(&mut b, csid, 0, 9, 1, MAX_MESSAGE_LEN as usize);
            b.extend_from_slice(&chunk);
            for _ in 0..14 {
                b.put_u8(0xC0 | csid as u8);
                b.extend_from_slice(&chunk);
            }
            // One call consumes every complete chunk in `b`.
            match r.read_message(&mut b) {
                Ok(None) => assert!(b.is_empty()),
                Ok(Some(_)) => panic!("no message can complete"),
                Err(e) => {
                    err = Some(e);
                    break 'outer;
                }
            }
            assert!(r.buffered() <= MAX_BUFFERED);
        }
        assert!(
            matches!(err, Some(ChunkError::BufferLimit { .. })),
            "{err:?}"
        );
        assert!(r.buffered() <= MAX_BUFFERED);
    }

    fn concat(v: &[Bytes]) -> Vec<u8> {
        v.iter().flat_map(|b| b.iter().copied()).collect()
    }

    #[test]
    fn chunk_message_equals_write_message() {
        let data = Bytes::from(payload(1000));
        let splits: Vec<Vec<Bytes>> = vec![
            vec![],
            vec![data.clone()],
            vec![data.slice(..5), data.slice(5..)],
            vec![data.slice(..128), data.slice(128..256), data.slice(256..)],
            vec![
                data.slice(..100),
                Bytes::new(),
                data.slice(100..130),
                data.slice(130..129 + 128),
                data.slice(257..900),
                data.slice(900..),
            ],
            (0..1000).map(|i| data.slice(i..i + 1)).collect(),
        ];
        for parts in &splits {
            let joined = concat(parts);
            for cs in [1u32, 3, 128, 129, 999, 1000, 4096] {
                for ts in [0u32, 1000, 0xFF_FFFE, 0xFF_FFFF, 0xFFFF_FFFF] {
                    for csid in [3u32, 100, 1000] {
                        let mut w = BytesMut::new();
                        write_message(&mut w, cs, csid, ts, 9, 1, &joined);
                        let z = chunk_message(cs, csid, ts, 9, 1, parts);
                        assert_eq!(concat(&z), w.to_vec(), "cs {cs} ts {ts} csid {csid}");
                        // Payload pieces are zero-copy views into `data`.
                        for piece in &z {
                            if piece.len() > 20 {
                                let base = data.as_ptr() as usize;
                                let p = piece.as_ptr() as usize;
                                assert!(p >= base && p < base + data.len());
                            }
                        }
                        // And the reader gets the message back.
                        let mut r = ChunkReader::new();
                        r.set_chunk_size(cs).unwrap();
                        let m = read_all(&mut r, &w).unwrap();
                        assert_eq!(m, vec![msg(csid, ts, 9, 1, &joined)]);
                    }
                }
            }
        }
    }

    #[test]
    fn writer_clamps() {
        let mut a = BytesMut::new();
        write_message(&mut a, 0, 0, 0, 8, 0, b"ab");
        let mut b = BytesMut::new();
        write_message(&mut b, 1, 2, 0, 8, 0, b"ab");
        assert_eq!(a, b);
        let z = chunk_message(0, 0, 0, 8, 0, &[Bytes::from_static(b"ab")]);
        assert_eq!(concat(&z), b.to_vec());
    }

    #[test]
    fn extend_timestamp_cases() {
        assert_eq!(extend_timestamp(0, 0), 0);
        assert_eq!(extend_timestamp(0, 40), 40);
        assert_eq!(extend_timestamp(1000, 990), 990);
        // Forward wrap.
        assert_eq!(extend_timestamp(0xFFFF_FFF0, 0x10), 0x1_0000_0010);
        // Small step back across the wrap.
        assert_eq!(extend_timestamp(0x1_0000_0010, 0xFFFF_FFF0), 0xFFFF_FFF0);
        // Second wrap.
        assert_eq!(extend_timestamp(0x1_FFFF_FFFF, 5), 0x2_0000_0005);
        // A stream starting at a high timestamp never goes negative.
        assert_eq!(extend_timestamp(0, 0xF000_0000), 0xF000_0000);
        // Monotonic over a long run crossing several wraps.
        let mut last = 0i64;
        let mut t: u32 = 0;
        for _ in 0..100_000 {
            t = t.wrapping_add(100_000);
            let n = extend_timestamp(last, t);
            assert_eq!(n - last, 100_000);
            last = n;
        }
        assert_eq!(extend_timestamp(i64::MAX, 0), i64::MAX);
        assert!(extend_timestamp(i64::MIN, 0) >= 0);
    }

    /// Bytes ffmpeg 5.1 sent after the handshake when publishing
    /// `testsrc` 640x480 + `sine` (libx264/aac, 2 s) to a minimal server built from
    /// these modules (examples/capture_ffmpeg.rs in the scratch crate).
    const FFMPEG_PUBLISH: &[u8] = include_bytes!("testdata/ffmpeg_publish.bin");

    fn parse_ffmpeg_capture(pieces: &mut dyn FnMut() -> usize) -> Vec<RtmpMessage> {
        use super::super::message::{self, Control};
        let mut r = ChunkReader::new();
        let mut buf = BytesMut::new();
        let mut pos = 0;
        let mut out = Vec::new();
        while pos < FFMPEG_PUBLISH.len() {
            let n = pieces().clamp(1, FFMPEG_PUBLISH.len() - pos);
            buf.extend_from_slice(&FFMPEG_PUBLISH[pos..pos + n]);
            pos += n;
            while let Some(m) = r.read_message(&mut buf).unwrap() {
                if m.msg_type == message::SET_CHUNK_SIZE {
                    match message::parse_control(m.msg_type, &m.payload).unwrap() {
                        Control::SetChunkSize(cs) => r.set_chunk_size(cs).unwrap(),
                        other => panic!("{other:?}"),
                    }
                }
                out.push(m);
            }
        }
        assert!(buf.is_empty(), "capture ends on a message boundary");
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.chunk_size(), 4096);
        out
    }

    #[test]
    fn ffmpeg_publish_capture() {
        use super::super::message::{self, parse_command, parse_data};
        use crate::media::amf0::Amf0Value;
        let msgs = parse_ffmpeg_capture(&mut || usize::MAX);

        let commands: Vec<_> = msgs
            .iter()
            .filter(|m| m.msg_type == message::COMMAND_AMF0)
            .map(|m| parse_command(m.msg_type, &m.payload).unwrap())
            .collect();
        let names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "connect",
                "releaseStream",
                "FCPublish",
                "createStream",
                "publish",
                "FCUnpublish",
                "deleteStream"
            ]
        );
        let connect = &commands[0];
        assert_eq!(connect.transaction_id, 1.0);
        assert_eq!(
            connect.object.get("app").and_then(Amf0Value::as_str),
            Some("live")
        );
        let tc_url = connect
            .object
            .get("tcUrl")
            .and_then(Amf0Value::as_str)
            .unwrap();
        assert!(tc_url.starts_with("rtmp://127.0.0.1:"), "{tc_url}");
        assert!(tc_url.ends_with("/live"), "{tc_url}");
        let publish = &commands[4];
        assert_eq!(publish.object, Amf0Value::Null);
        assert_eq!(
            publish.args,
            vec![
                Amf0Value::String("test".into()),
                Amf0Value::String("live".into())
            ]
        );
        let publish_msg = msgs
            .iter()
            .find(|m| {
                m.msg_type == message::COMMAND_AMF0
                    && parse_command(m.msg_type, &m.payload).unwrap().name == "publish"
            })
            .unwrap();
        assert_eq!(publish_msg.stream_id, 1);

        let data: Vec<_> = msgs
            .iter()
            .filter(|m| m.msg_type == message::DATA_AMF0)
            .collect();
        assert_eq!(data.len(), 1);
        let values = parse_data(data[0].msg_type, &data[0].payload).unwrap();
        assert_eq!(values[0].as_str(), Some("@setDataFrame"));
        assert_eq!(values[1].as_str(), Some("onMetaData"));
        let meta = &values[2];
        assert!(matches!(meta, Amf0Value::EcmaArray(_)));
        assert_eq!(meta.get("width").and_then(Amf0Value::as_f64), Some(640.0));
        assert_eq!(meta.get("height").and_then(Amf0Value::as_f64), Some(480.0));
        assert_eq!(
            meta.get("videocodecid").and_then(Amf0Value::as_f64),
            Some(7.0)
        );
        assert_eq!(
            meta.get("audiocodecid").and_then(Amf0Value::as_f64),
            Some(10.0)
        );

        let video: Vec<_> = msgs.iter().filter(|m| m.msg_type == 9).collect();
        let audio: Vec<_> = msgs.iter().filter(|m| m.msg_type == 8).collect();
        assert!(video.len() >= 50, "{} video", video.len());
        assert!(audio.len() >= 80, "{} audio", audio.len());
        // AVC sequence header (keyframe, AVCPacketType 0) and AAC sequence
        // header first, then frames.
        assert_eq!(&video[0].payload[..2], &[0x17, 0x00]);
        assert_eq!(&video[1].payload[..2], &[0x17, 0x01]);
        assert_eq!(&audio[0].payload[..2], &[0xAF, 0x00]);
        assert_eq!(&audio[1].payload[..2], &[0xAF, 0x01]);
        for track in [&video, &audio] {
            assert!(track.iter().all(|m| m.stream_id == 1));
            assert!(track.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
            let last = track.last().unwrap().timestamp;
            assert!((1800..=2100).contains(&last), "last ts {last}");
        }
        // Multi-chunk video frames (> 4096 bytes) were reassembled.
        let max = video.iter().map(|m| m.payload.len()).max().unwrap();
        assert!(max > 4096, "largest video message {max}");
    }

    #[test]
    fn ffmpeg_publish_capture_in_random_pieces() {
        let whole = parse_ffmpeg_capture(&mut || usize::MAX);
        let mut x: u64 = 77;
        let mut pieces = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 700) as usize + 1
        };
        assert_eq!(parse_ffmpeg_capture(&mut pieces), whole);
        assert_eq!(parse_ffmpeg_capture(&mut || 1), whole);
    }

    /// Mutated copies of the real ffmpeg capture, driven like the server
    /// does (Set Chunk Size applied, commands and data decoded): no panic,
    /// bounded buffering.
    #[test]
    fn fuzz_mutated_ffmpeg_capture() {
        use super::super::message::{self, Control};
        let mut x: u64 = 0xA076_1D64_78BD_642F;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut decoded = 0usize;
        for _ in 0..300 {
            let mut input = FFMPEG_PUBLISH.to_vec();
            for _ in 0..(next() % 8 + 1) {
                // Mutations concentrate on the command-heavy start.
                let span = if next() % 2 == 0 { 600 } else { input.len() };
                let p = (next() as usize) % span;
                input[p] = next() as u8;
            }
            let mut r = ChunkReader::new();
            let mut buf = BytesMut::new();
            'feed: for piece in input.chunks(1 + (next() % 3000) as usize) {
                buf.extend_from_slice(piece);
                loop {
                    match r.read_message(&mut buf) {
                        Ok(Some(m)) => match m.msg_type {
                            message::SET_CHUNK_SIZE => {
                                if let Ok(Control::SetChunkSize(n)) =
                                    message::parse_control(m.msg_type, &m.payload)
                                {
                                    if r.set_chunk_size(n).is_err() {
                                        break 'feed;
                                    }
                                }
                            }
                            message::COMMAND_AMF0 => {
                                decoded += usize::from(
                                    message::parse_command(m.msg_type, &m.payload).is_ok(),
                                );
                            }
                            message::DATA_AMF0 => {
                                let _ = message::parse_data(m.msg_type, &m.payload);
                            }
                            _ => {}
                        },
                        Ok(None) => break,
                        Err(_) => break 'feed,
                    }
                }
                assert!(r.buffered() <= MAX_BUFFERED);
            }
        }
        assert!(decoded > 300, "mutations leave most commands decodable");
    }

    /// Deterministic xorshift fuzz: random and mutated chunk streams fed in
    /// random pieces never panic, and memory stays bounded.
    #[test]
    fn fuzz_no_panic_bounded() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut valid = BytesMut::new();
        for i in 0..12u32 {
            let ts = if i % 4 == 0 { 0xFF_FFFF + i } else { i * 40 };
            write_message(
                &mut valid,
                64,
                3 + i % 3,
                ts,
                8 + (i % 2) as u8,
                1,
                &payload(50 + i as usize * 20),
            );
        }
        for round in 0..4000 {
            let mut input: Vec<u8> = match round % 3 {
                0 => (0..(next() % 400)).map(|_| next() as u8).collect(),
                _ => {
                    let mut v = valid.to_vec();
                    for _ in 0..(next() % 6 + 1) {
                        let p = (next() as usize) % v.len();
                        v[p] = next() as u8;
                    }
                    v
                }
            };
            if round % 5 == 0 {
                input.truncate((next() as usize) % (input.len() + 1));
            }
            let mut r = ChunkReader::new();
            if round % 3 == 1 {
                r.set_chunk_size(64).unwrap();
            } else if round % 3 == 2 {
                let _ = r.set_chunk_size((next() % 300) as u32);
            }
            let mut buf = BytesMut::new();
            let mut pos = 0;
            'feed: while pos < input.len() {
                let n = ((next() % 64) as usize + 1).min(input.len() - pos);
                buf.extend_from_slice(&input[pos..pos + n]);
                pos += n;
                loop {
                    match r.read_message(&mut buf) {
                        Ok(Some(m)) => {
                            assert!(m.payload.len() <= MAX_MESSAGE_LEN as usize);
                            if next() % 8 == 0 {
                                r.abort(m.csid);
                            }
                        }
                        Ok(None) => break,
                        Err(_) => break 'feed,
                    }
                }
                assert!(r.buffered() <= MAX_BUFFERED);
                assert!(r.streams.len() <= MAX_CHUNK_STREAMS);
                let cap: usize = r
                    .streams
                    .iter()
                    .filter_map(|s| s.partial.as_ref())
                    .map(|p| p.capacity())
                    .sum();
                assert!(cap <= 2 * r.buffered() + 64 * r.streams.len(), "cap {cap}");
                let held: usize = r
                    .streams
                    .iter()
                    .filter_map(|s| s.partial.as_ref())
                    .map(|p| p.len())
                    .sum();
                assert_eq!(held, r.buffered());
            }
        }
    }
}
