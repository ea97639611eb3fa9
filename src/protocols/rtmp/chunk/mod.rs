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

use bytes::{Buf, Bytes, BytesMut};

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

mod write;
pub use write::{chunk_message, extend_timestamp, write_message};

#[cfg(test)]
mod tests;
