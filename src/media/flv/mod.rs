//! FLV files and tags, and the audio/video tag bodies that RTMP carries as message payloads.
//!
//! - Adobe Flash Video File Format Specification v10.1, Annex E: E.2 (FLV header), E.3 (FLV file
//!   body, PreviousTagSize), E.4.1 (FLVTAG); the tag bodies are in [`video`] (E.4.3, Enhanced
//!   RTMP) and [`audio`] (E.4.2), script data (E.4.4 SCRIPTDATA, `onMetaData`) in [`metadata`].
//! - [`depacketize`] turns tag bodies into Eddy's tracks and packets (RTMP ingest, FLV files).
//!
//! ```text
//! file:  header (9) | PreviousTagSize0 = 0 | { FLVTAG | PreviousTagSize = 11 + DataSize } ...
//! ```

pub mod audio;
pub mod depacketize;
pub mod metadata;
pub mod video;

#[cfg(test)]
mod tests;

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use super::amf0::{self, Amf0Value};
use super::bits::ByteReader;
use super::{Codec, Packet, Track, TrackKind};

pub use audio::{audio_body_prefix, parse_audio_body, AudioTag};
pub use depacketize::{Depacketized, FlvDepacketizer};
pub use metadata::on_metadata;
pub use video::{parse_video_body, video_body_prefix, VideoPacketKind, VideoTag};

pub const TAG_AUDIO: u8 = 8;
pub const TAG_VIDEO: u8 = 9;
pub const TAG_SCRIPT: u8 = 18;
/// Largest tag body: DataSize is 24 bits.
pub const MAX_TAG_SIZE: usize = 16 * 1024 * 1024;
/// The largest DataSize that can be written.
pub const MAX_DATA_SIZE: usize = 0xFF_FFFF;

/// FLV header (9 bytes); PreviousTagSize0 follows.
pub const FILE_HEADER_LEN: usize = 9;
/// FLVTAG header before the body.
pub const TAG_HEADER_LEN: usize = 11;
/// PreviousTagSize after every tag.
pub const PREV_SIZE_LEN: usize = 4;

/// Errors from the FLV parsers and writers.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FlvError {
    #[error("need {needed} more bytes")]
    Incomplete { needed: usize },
    #[error("invalid FLV at byte {offset}: {reason}")]
    Invalid { offset: usize, reason: &'static str },
    #[error("unsupported: {0}")]
    Unsupported(String),
}

fn invalid(offset: usize, reason: &'static str) -> FlvError {
    FlvError::Invalid { offset, reason }
}

/// The FLV file header followed by PreviousTagSize0 (E.2, E.3):
///
/// ```text
/// 'F' 'L' 'V' | Version 1 | 00000 A 0 V (TypeFlags) | DataOffset u32 = 9 | PreviousTagSize0 = 0
/// ```
/// Whether FLV (and RTMP) carries `codec`: H.264, and HEVC, AV1 and VP9 as Enhanced RTMP
/// FourCCs; AAC and MP3.
pub fn carries(codec: Codec) -> bool {
    matches!(
        codec,
        Codec::H264 | Codec::Hevc | Codec::Av1 | Codec::Vp9 | Codec::Aac | Codec::Mp3
    )
}

pub fn file_header(has_audio: bool, has_video: bool) -> [u8; 13] {
    let flags = (u8::from(has_audio) << 2) | u8::from(has_video);
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// Parses the file header. Returns (has_audio, has_video, bytes consumed up to the first tag,
/// PreviousTagSize0 included). DataOffset is honoured, so a longer header is skipped.
pub fn parse_file_header(buf: &[u8]) -> Result<(bool, bool, usize), FlvError> {
    let mut r = ByteReader::new(buf);
    let Some(header) = r.take(FILE_HEADER_LEN) else {
        // DataOffset is at least 9, so at least 13 bytes are needed in all.
        return Err(FlvError::Incomplete {
            needed: FILE_HEADER_LEN + PREV_SIZE_LEN - buf.len(),
        });
    };
    if !header.starts_with(b"FLV") {
        return Err(invalid(0, "not an FLV file"));
    }
    if header.get(3) != Some(&1) {
        return Err(invalid(3, "unsupported FLV version"));
    }
    let flags = header.get(4).copied().unwrap_or(0);
    let data_offset = ByteReader::new(header.get(5..).unwrap_or_default())
        .u32()
        .and_then(|v| usize::try_from(v).ok())
        .unwrap_or(usize::MAX);
    if data_offset < FILE_HEADER_LEN {
        return Err(invalid(5, "DataOffset is smaller than the header"));
    }
    if data_offset > MAX_TAG_SIZE {
        return Err(invalid(5, "DataOffset is implausibly large"));
    }
    let consumed = data_offset + PREV_SIZE_LEN;
    if buf.len() < consumed {
        return Err(FlvError::Incomplete {
            needed: consumed - buf.len(),
        });
    }
    Ok((flags & 0x04 != 0, flags & 0x01 != 0, consumed))
}

/// An FLVTAG header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagHeader {
    pub tag_type: u8,
    pub data_size: u32,
    /// Milliseconds; TimestampExtended is the high byte.
    pub timestamp: u32,
    pub stream_id: u32,
}

/// An FLVTAG header (E.4.1) with no filter and StreamID 0:
///
/// ```text
/// 0      Reserved u2 | Filter u1 | TagType u5
/// 1..4   DataSize u24
/// 4..7   Timestamp u24 (low 24 bits)
/// 7      TimestampExtended u8 (high 8 bits)
/// 8..11  StreamID u24 = 0
/// ```
///
/// `data_size` must be below 2^24 (it is masked to 24 bits).
pub fn tag_header(tag_type: u8, data_size: u32, timestamp: u32) -> [u8; 11] {
    let [_, s1, s2, s3] = data_size.to_be_bytes();
    let [t0, t1, t2, t3] = timestamp.to_be_bytes();
    [tag_type & 0x1F, s1, s2, s3, t1, t2, t3, t0, 0, 0, 0]
}

/// Parses one tag and its trailing PreviousTagSize from the start of `buf`. Returns the header,
/// the body's range within `buf` and the total bytes the tag takes (11 + DataSize + 4).
///
/// Invalid when the Filter bit or a reserved bit is set, for tag types other than 8, 9 and 18,
/// and when PreviousTagSize is neither 11 + DataSize nor 0. (Some muxers and live dumps write 0
/// there; readers of the spec's era ignored the field, so 0 is tolerated.)
pub fn parse_tag(buf: &[u8]) -> Result<(TagHeader, Range<usize>, usize), FlvError> {
    let Some(&first) = buf.first() else {
        return Err(FlvError::Incomplete {
            needed: TAG_HEADER_LEN + PREV_SIZE_LEN,
        });
    };
    check_tag_type(first)?;
    let Some(head) = buf.get(..TAG_HEADER_LEN).and_then(|h| h.try_into().ok()) else {
        return Err(FlvError::Incomplete {
            needed: TAG_HEADER_LEN + PREV_SIZE_LEN - buf.len(),
        });
    };
    let header = TagHeader::read(head);
    let body_len = header.data_size as usize;
    let tag_len = TAG_HEADER_LEN + body_len;
    let total = tag_len + PREV_SIZE_LEN;
    let Some(prev) = buf.get(tag_len..total) else {
        return Err(FlvError::Incomplete {
            needed: total - buf.len(),
        });
    };
    let prev = prev.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
    if prev != 0 && prev != tag_len {
        return Err(invalid(tag_len, "PreviousTagSize does not match the tag"));
    }
    Ok((header, TAG_HEADER_LEN..tag_len, total))
}

impl TagHeader {
    /// The fields of an 11-byte FLVTAG header as they are (TagType is the low 5 bits).
    fn read(h: &[u8; TAG_HEADER_LEN]) -> TagHeader {
        let u24 = |b: &[u8]| b.iter().fold(0u32, |n, &x| (n << 8) | u32::from(x));
        TagHeader {
            tag_type: h[0] & 0x1F,
            data_size: u24(&h[1..4]),
            timestamp: (u32::from(h[7]) << 24) | u24(&h[4..7]),
            stream_id: u24(&h[8..11]),
        }
    }
}

/// The header of the last tag of an FLV file, found from the file's last bytes through the
/// final PreviousTagSize (E.3); `None` when `tail` does not end in a tag of a known type.
pub fn last_tag_header(tail: &[u8]) -> Option<TagHeader> {
    let n = tail.len();
    let prev = u32::from_be_bytes(tail.get(n.checked_sub(PREV_SIZE_LEN)?..)?.try_into().ok()?);
    let start = n
        .checked_sub(PREV_SIZE_LEN)?
        .checked_sub(usize::try_from(prev).ok()?)?;
    let header = TagHeader::read(tail.get(start..start + TAG_HEADER_LEN)?.try_into().ok()?);
    let known = matches!(header.tag_type, TAG_AUDIO | TAG_VIDEO | TAG_SCRIPT);
    (prev as usize >= TAG_HEADER_LEN && known).then_some(header)
}

fn check_tag_type(first: u8) -> Result<(), FlvError> {
    if first & 0x20 != 0 {
        return Err(invalid(0, "filtered (encrypted) tags are not supported"));
    }
    if first & 0xC0 != 0 {
        return Err(invalid(0, "reserved tag bits are set"));
    }
    match first & 0x1F {
        TAG_AUDIO | TAG_VIDEO | TAG_SCRIPT => Ok(()),
        _ => Err(invalid(0, "unknown tag type")),
    }
}

/// PreviousTagSize after a tag with a body of `body_len` bytes (E.3): 11 + DataSize.
pub fn previous_tag_size(body_len: u32) -> [u8; 4] {
    body_len.saturating_add(11).to_be_bytes()
}

/// Appends a whole tag: header, the body (given in parts, written back to back) and its
/// PreviousTagSize. The body must stay below 2^24 bytes ([`tag_header`] masks DataSize).
pub fn put_tag(out: &mut BytesMut, tag_type: u8, timestamp: u32, body: &[&[u8]]) {
    let len = body.iter().map(|part| part.len()).sum::<usize>();
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.reserve(11 + 4 + usize::try_from(len).unwrap_or(0));
    out.put_slice(&tag_header(tag_type, len, timestamp));
    for part in body {
        out.put_slice(part);
    }
    out.put_slice(&previous_tag_size(len));
}

/// A whole tag with `body`, as one buffer.
pub fn tag(tag_type: u8, timestamp: u32, body: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    put_tag(&mut out, tag_type, timestamp, &[body]);
    out.freeze()
}

/// The framing around a tag body that ends in `data_len` bytes kept elsewhere: the head (tag
/// header and `prefix`) and the tail (PreviousTagSize). `head + data + tail` is the tag, so a
/// shared payload is never copied.
pub fn tag_parts(tag_type: u8, timestamp: u32, prefix: &[u8], data_len: usize) -> [Bytes; 2] {
    let body_len = u32::try_from(prefix.len().saturating_add(data_len)).unwrap_or(u32::MAX);
    let mut head = BytesMut::with_capacity(TAG_HEADER_LEN + prefix.len());
    head.put_slice(&tag_header(tag_type, body_len, timestamp));
    head.put_slice(prefix);
    [
        head.freeze(),
        Bytes::copy_from_slice(&previous_tag_size(body_len)),
    ]
}

/// An FLV timestamp for a time in ms: the low 32 bits (Timestamp and TimestampExtended), so
/// times wrap after 49.7 days as RTMP's do.
pub fn timestamp(ms: i64) -> u32 {
    ms as u32
}

/// A script data tag (E.4.4) holding `values`, e.g. [`on_metadata`].
pub fn script_tag(values: &[Amf0Value], timestamp: u32) -> Bytes {
    tag(TAG_SCRIPT, timestamp, &amf0::encode_all(values))
}

/// The tag type and the bytes that precede `packet.data` in its tag body (an RTMP audio or
/// video message body is an FLV tag body); `None` for what FLV cannot carry.
pub fn packet_prefix(track: &Track, packet: &Packet) -> Option<(u8, Vec<u8>)> {
    match track.kind()? {
        TrackKind::Video => video::packet_prefix(track, packet).map(|p| (TAG_VIDEO, p)),
        TrackKind::Audio => audio::packet_prefix(track).map(|p| (TAG_AUDIO, p)),
        TrackKind::Meta => None,
    }
}

/// The tag type and whole body of a track's sequence header; `None` for codecs without one
/// (MP3).
pub fn sequence_body(track: &Track) -> Option<(u8, Vec<u8>)> {
    match track.kind()? {
        TrackKind::Video => video::sequence_body(track).map(|b| (TAG_VIDEO, b)),
        TrackKind::Audio => audio::sequence_body(track).map(|b| (TAG_AUDIO, b)),
        TrackKind::Meta => None,
    }
}

/// The head and tail of `packet`'s tag (see [`tag_parts`]), at the packet's own time.
pub fn packet_tag_parts(track: &Track, packet: &Packet) -> Option<[Bytes; 2]> {
    let (tag_type, prefix) = packet_prefix(track, packet)?;
    Some(tag_parts(
        tag_type,
        timestamp(packet.time),
        &prefix,
        packet.data.len(),
    ))
}

/// A track's sequence header tag at `timestamp`; `None` for codecs without one (MP3).
pub fn sequence_tag(track: &Track, timestamp: u32) -> Option<Bytes> {
    let (tag_type, body) = sequence_body(track)?;
    Some(tag(tag_type, timestamp, &body))
}

/// The tags of a whole FLV file, from [`read_file`].
#[derive(Debug, Clone)]
pub struct FileTags {
    pub has_audio: bool,
    pub has_video: bool,
    file: Bytes,
    at: usize,
    failed: bool,
}

/// Reads an FLV file's header; the result iterates over its tags as (header, body), the body a
/// zero-copy slice of `file`. A damaged or cut tag ends the iteration with its error.
pub fn read_file(file: Bytes) -> Result<FileTags, FlvError> {
    let (has_audio, has_video, at) = parse_file_header(&file)?;
    Ok(FileTags {
        has_audio,
        has_video,
        file,
        at,
        failed: false,
    })
}

impl Iterator for FileTags {
    type Item = Result<(TagHeader, Bytes), FlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.file.get(self.at..).unwrap_or_default();
        if self.failed || rest.is_empty() {
            return None;
        }
        match parse_tag(rest) {
            Ok((header, body, total)) => {
                let body = self.file.slice(self.at + body.start..self.at + body.end);
                self.at += total;
                Some(Ok((header, body)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
