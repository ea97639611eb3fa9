//! FLV files and tags, and the audio/video tag bodies that RTMP carries as message payloads.
//!
//! - Adobe Flash Video File Format Specification v10.1, Annex E: E.2 (FLV header), E.3 (FLV file
//!   body, PreviousTagSize), E.4.1 (FLVTAG), E.4.2.1 (AUDIODATA) with E.4.2.2 (AACAUDIODATA),
//!   E.4.3.1 (VIDEODATA) with E.4.3.2 (AVCVIDEOPACKET).
//! - Enhanced RTMP v1 and v2 (veovera enhanced-rtmp): ExVideoTagHeader (IsExHeader,
//!   VideoFrameType, VideoPacketType, ModEx, FourCC) and ExVideoTagBody (the SI24 composition
//!   time of CodedFrames for `avc1` / `hvc1`).
//! - The widespread non-standard legacy CodecID 12 for HEVC, laid out like AVC (E.4.3.2).

use std::ops::Range;

use bytes::Bytes;

use super::bits::{si24, ByteReader};
use super::Codec;

pub const TAG_AUDIO: u8 = 8;
pub const TAG_VIDEO: u8 = 9;
pub const TAG_SCRIPT: u8 = 18;
/// Largest tag body: DataSize is 24 bits.
pub const MAX_TAG_SIZE: usize = 16 * 1024 * 1024;

/// FLV header (9 bytes) plus PreviousTagSize0.
const FILE_HEADER_LEN: usize = 9;
/// FLVTAG header before the body.
const TAG_HEADER_LEN: usize = 11;
/// PreviousTagSize after every tag.
const PREV_SIZE_LEN: usize = 4;

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
    let mut r = ByteReader::new(buf);
    let Some(first) = r.u8() else {
        return Err(FlvError::Incomplete {
            needed: TAG_HEADER_LEN + PREV_SIZE_LEN,
        });
    };
    check_tag_type(first)?;
    let (Some(data_size), Some(low), Some(high), Some(stream_id)) =
        (r.u24(), r.u24(), r.u8(), r.u24())
    else {
        return Err(FlvError::Incomplete {
            needed: TAG_HEADER_LEN + PREV_SIZE_LEN - buf.len(),
        });
    };
    let body_len = data_size as usize;
    let tag_len = TAG_HEADER_LEN + body_len;
    let total = tag_len + PREV_SIZE_LEN;
    if buf.len() < total {
        return Err(FlvError::Incomplete {
            needed: total - buf.len(),
        });
    }
    let body = r
        .take_range(body_len)
        .ok_or(FlvError::Incomplete { needed: total })?;
    let prev = r.u32().ok_or(FlvError::Incomplete {
        needed: PREV_SIZE_LEN,
    })?;
    if prev != 0 && prev as usize != tag_len {
        return Err(invalid(tag_len, "PreviousTagSize does not match the tag"));
    }
    let timestamp = (u32::from(high) << 24) | low;
    let header = TagHeader {
        tag_type: first & 0x1F,
        data_size,
        timestamp,
        stream_id,
    };
    Ok((header, body, total))
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

/// What a video tag carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoPacketKind {
    /// Decoder configuration: avcC, hvcC, av1C or vpcC.
    SequenceHeader,
    /// Coded frame data.
    Frame,
    EndOfSequence,
    /// Enhanced RTMP AMF metadata (for instance colorInfo).
    Metadata,
    /// Video info/command frames, MPEG-2 TS sequence starts.
    Other,
}

/// A parsed video tag body; `data` is a zero-copy slice of the body after the headers.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoTag {
    pub codec: Codec,
    pub keyframe: bool,
    pub kind: VideoPacketKind,
    /// Composition time offset in milliseconds.
    pub cts: i32,
    pub data: Bytes,
}

/// VideoFrameType values (E.4.3.1 and Enhanced RTMP).
const FRAME_KEY: u8 = 1;
const FRAME_INTER: u8 = 2;
const FRAME_COMMAND: u8 = 5;

/// Enhanced RTMP VideoPacketType values.
const PKT_SEQUENCE_START: u8 = 0;
const PKT_CODED_FRAMES: u8 = 1;
const PKT_SEQUENCE_END: u8 = 2;
const PKT_CODED_FRAMES_X: u8 = 3;
const PKT_METADATA: u8 = 4;
const PKT_MPEG2TS_SEQUENCE_START: u8 = 5;
const PKT_MULTITRACK: u8 = 6;
const PKT_MOD_EX: u8 = 7;

/// Legacy CodecIDs with an AVC-style packet header.
const CODEC_ID_AVC: u8 = 7;
const CODEC_ID_HEVC: u8 = 12;

/// Parses a video tag body (an FLV video tag's data or an RTMP video message), legacy or
/// Enhanced RTMP form, told apart by the first bit.
pub fn parse_video_body(body: &Bytes) -> Result<VideoTag, FlvError> {
    let first = *body.first().ok_or(invalid(0, "empty video tag"))?;
    if first & 0x80 != 0 {
        parse_enhanced_video(body, first)
    } else {
        parse_legacy_video(body, first)
    }
}

fn truncated_video(body: &Bytes) -> FlvError {
    invalid(body.len(), "video tag header is truncated")
}

/// The legacy VIDEODATA form (E.4.3.1, E.4.3.2):
///
/// ```text
/// 0     FrameType u4 (1 key, 2 inter, 3 disposable, 4 generated key, 5 info/command)
///       | CodecID u4 (7 AVC, 12 HEVC)
/// 1     AVCPacketType u8 (0 sequence header, 1 NALUs, 2 end of sequence)
/// 2..5  CompositionTime SI24
/// 5..   avcC / hvcC, or length-prefixed NAL units
/// ```
///
/// A command frame (FrameType 5) carries one command byte instead of the AVC header; it is
/// returned as [`VideoPacketKind::Other`] with that byte as data.
fn parse_legacy_video(body: &Bytes, first: u8) -> Result<VideoTag, FlvError> {
    let frame_type = first >> 4;
    let codec = legacy_video_codec(first & 0x0F)?;
    if frame_type == 0 || frame_type > FRAME_COMMAND {
        return Err(invalid(0, "reserved video frame type"));
    }
    let mut r = ByteReader::new(body);
    r.skip(1).ok_or_else(|| truncated_video(body))?;
    if frame_type == FRAME_COMMAND {
        let data = body.slice(r.pos()..);
        return Ok(VideoTag {
            codec,
            keyframe: false,
            kind: VideoPacketKind::Other,
            cts: 0,
            data,
        });
    }
    let packet_type = r.u8().ok_or_else(|| truncated_video(body))?;
    let cts = si24(r.u24().ok_or_else(|| truncated_video(body))?);
    let kind = match packet_type {
        0 => VideoPacketKind::SequenceHeader,
        1 => VideoPacketKind::Frame,
        2 => VideoPacketKind::EndOfSequence,
        _ => return Err(invalid(1, "unknown AVCPacketType")),
    };
    let data = body.slice(r.pos()..);
    Ok(VideoTag {
        codec,
        keyframe: frame_type == FRAME_KEY,
        kind,
        cts,
        data,
    })
}

fn legacy_video_codec(codec_id: u8) -> Result<Codec, FlvError> {
    let name = match codec_id {
        CODEC_ID_AVC => return Ok(Codec::H264),
        CODEC_ID_HEVC => return Ok(Codec::Hevc),
        1 => "JPEG",
        2 => "Sorenson H.263",
        3 => "Screen video",
        4 => "On2 VP6",
        5 => "On2 VP6 with alpha channel",
        6 => "Screen video version 2",
        other => return Err(FlvError::Unsupported(format!("FLV video codec id {other}"))),
    };
    Err(FlvError::Unsupported(format!("FLV video codec {name}")))
}

/// The Enhanced RTMP form (ExVideoTagHeader, ExVideoTagBody):
///
/// ```text
/// 0     IsExHeader 1 | VideoFrameType u3 | VideoPacketType u4
///       [ModEx (7): { ModExDataSize u8 + 1 (256: u16 + 1 follows), ModExData,
///                     VideoPacketModExType u4 | VideoPacketType u4 } ...]
///       [FrameType 5 (command), PacketType not Metadata: VideoCommand u8, nothing else]
///       VideoFourCc u32 ('avc1', 'hvc1', 'av01', 'vp09')
///       [CodedFrames (1) of avc1 / hvc1: CompositionTime SI24]
///       data: config record, coded frames or AMF metadata
/// ```
///
/// Multitrack (6) and command frames (no FourCC, so no codec) are [`FlvError::Unsupported`];
/// ModEx data (nanosecond timestamp offsets) is skipped.
fn parse_enhanced_video(body: &Bytes, first: u8) -> Result<VideoTag, FlvError> {
    let frame_type = (first >> 4) & 0x07;
    let mut packet_type = first & 0x0F;
    let mut r = ByteReader::new(body);
    r.skip(1).ok_or_else(|| truncated_video(body))?;
    while packet_type == PKT_MOD_EX {
        packet_type = skip_mod_ex(&mut r).ok_or_else(|| truncated_video(body))?;
    }
    if packet_type == PKT_MULTITRACK {
        return Err(FlvError::Unsupported(
            "Enhanced RTMP multitrack video".into(),
        ));
    }
    // With Metadata the frame type is to be ignored (ffmpeg writes 5 there).
    let is_metadata = packet_type == PKT_METADATA;
    if !is_metadata && frame_type == FRAME_COMMAND {
        return Err(FlvError::Unsupported(
            "Enhanced RTMP video command frame".into(),
        ));
    }
    if !is_metadata && (frame_type == 0 || frame_type > FRAME_COMMAND) {
        return Err(invalid(0, "reserved video frame type"));
    }
    let fourcc = r.take(4).ok_or_else(|| truncated_video(body))?;
    let codec = video_fourcc_codec(fourcc)?;
    let kind = match packet_type {
        PKT_SEQUENCE_START => VideoPacketKind::SequenceHeader,
        PKT_CODED_FRAMES | PKT_CODED_FRAMES_X => VideoPacketKind::Frame,
        PKT_SEQUENCE_END => VideoPacketKind::EndOfSequence,
        PKT_METADATA => VideoPacketKind::Metadata,
        PKT_MPEG2TS_SEQUENCE_START => VideoPacketKind::Other,
        _ => return Err(invalid(0, "reserved video packet type")),
    };
    let has_cts = packet_type == PKT_CODED_FRAMES && matches!(codec, Codec::H264 | Codec::Hevc);
    let cts = if has_cts {
        si24(r.u24().ok_or_else(|| truncated_video(body))?)
    } else {
        0
    };
    let keyframe = !is_metadata && frame_type == FRAME_KEY;
    Ok(VideoTag {
        codec,
        keyframe,
        kind,
        cts,
        data: body.slice(r.pos()..),
    })
}

/// Skips one ModEx entry and returns the VideoPacketType that follows it.
fn skip_mod_ex(r: &mut ByteReader) -> Option<u8> {
    let mut size = usize::from(r.u8()?) + 1;
    if size == 256 {
        size = usize::from(r.u16()?) + 1;
    }
    r.skip(size)?;
    // High nibble: VideoPacketModExType (0 = TimestampOffsetNano), not needed here.
    Some(r.u8()? & 0x0F)
}

fn video_fourcc_codec(fourcc: &[u8]) -> Result<Codec, FlvError> {
    match fourcc {
        b"avc1" => Ok(Codec::H264),
        b"hvc1" => Ok(Codec::Hevc),
        b"av01" => Ok(Codec::Av1),
        b"vp09" => Ok(Codec::Vp9),
        other => Err(FlvError::Unsupported(format!(
            "video FourCC '{}'",
            printable(other)
        ))),
    }
}

fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

/// A parsed audio tag body; `data` is a zero-copy slice after the headers.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioTag {
    pub codec: Codec,
    /// AAC AudioSpecificConfig (AACPacketType 0).
    pub sequence_header: bool,
    /// From the SoundRate bits (for AAC these are nominal, always 44100: use the ASC).
    pub rate: u32,
    /// Bits per sample from SoundSize: 8 or 16.
    pub size: u32,
    /// From SoundType: 1 or 2.
    pub channels: u32,
    pub data: Bytes,
}

const SOUND_MP3: u8 = 2;
const SOUND_EX_HEADER: u8 = 9;
const SOUND_AAC: u8 = 10;
const SOUND_MP3_8K: u8 = 14;

/// Parses an audio tag body (E.4.2.1, E.4.2.2):
///
/// ```text
/// 0   SoundFormat u4 (2 MP3, 10 AAC, 14 MP3 8 kHz) | SoundRate u2 (5.5/11/22/44 kHz)
///     | SoundSize u1 (8/16 bit) | SoundType u1 (mono/stereo)
/// 1   [AAC: AACPacketType u8 (0 AudioSpecificConfig, 1 raw frame)]
///     data
/// ```
pub fn parse_audio_body(body: &Bytes) -> Result<AudioTag, FlvError> {
    let first = *body.first().ok_or(invalid(0, "empty audio tag"))?;
    let format = first >> 4;
    let codec = audio_codec(format)?;
    let rate = if format == SOUND_MP3_8K {
        8000
    } else {
        match (first >> 2) & 0x03 {
            0 => 5512,
            1 => 11025,
            2 => 22050,
            _ => 44100,
        }
    };
    let size = if first & 0x02 != 0 { 16 } else { 8 };
    let channels = if first & 0x01 != 0 { 2 } else { 1 };
    let (sequence_header, start) = if codec == Codec::Aac {
        match body.get(1) {
            Some(0) => (true, 2),
            Some(1) => (false, 2),
            Some(_) => return Err(invalid(1, "unknown AACPacketType")),
            None => return Err(invalid(1, "AAC audio tag has no AACPacketType")),
        }
    } else {
        (false, 1)
    };
    let data = body.slice(start..);
    Ok(AudioTag {
        codec,
        sequence_header,
        rate,
        size,
        channels,
        data,
    })
}

fn audio_codec(format: u8) -> Result<Codec, FlvError> {
    let name = match format {
        SOUND_AAC => return Ok(Codec::Aac),
        SOUND_MP3 | SOUND_MP3_8K => return Ok(Codec::Mp3),
        SOUND_EX_HEADER => "Enhanced RTMP audio (FourCC)",
        0 => "linear PCM, platform endian",
        1 => "ADPCM",
        3 => "linear PCM, little endian",
        4 => "Nellymoser 16 kHz mono",
        5 => "Nellymoser 8 kHz mono",
        6 => "Nellymoser",
        7 => "G.711 A-law",
        8 => "G.711 mu-law",
        11 => "Speex",
        15 => "device-specific sound",
        _ => "reserved sound format",
    };
    Err(FlvError::Unsupported(format!(
        "FLV audio {name} (SoundFormat {format})"
    )))
}

/// The bytes that precede the codec data in a video tag body, and how many of the 8 are used.
///
/// - H.264: legacy form, `0x17`/`0x27`, AVCPacketType, SI24 composition time (5 bytes).
/// - HEVC, AV1, VP9: Enhanced RTMP form, `0x80 | FrameType << 4 | PacketType` and the FourCC
///   (5 bytes); HEVC frames with a composition time use CodedFrames plus SI24 (8 bytes), with
///   cts 0 CodedFramesX (5 bytes). AV1 and VP9 have no composition time field.
///
/// `Other` has no defined prefix and gives [`FlvError::Unsupported`], as do composition times
/// that do not fit SI24 or that AV1/VP9 cannot carry, and non-video codecs.
pub fn video_body_prefix(
    codec: Codec,
    keyframe: bool,
    kind: VideoPacketKind,
    cts: i32,
) -> Result<([u8; 8], usize), FlvError> {
    let frame_type = if keyframe { FRAME_KEY } else { FRAME_INTER };
    match codec {
        Codec::H264 => legacy_avc_prefix(frame_type, kind, cts),
        Codec::Hevc | Codec::Av1 | Codec::Vp9 => enhanced_prefix(codec, frame_type, kind, cts),
        other => Err(FlvError::Unsupported(format!(
            "{} is not a video codec",
            other.mist_name()
        ))),
    }
}

fn legacy_avc_prefix(
    frame_type: u8,
    kind: VideoPacketKind,
    cts: i32,
) -> Result<([u8; 8], usize), FlvError> {
    let packet_type = match kind {
        VideoPacketKind::SequenceHeader => 0,
        VideoPacketKind::Frame => 1,
        VideoPacketKind::EndOfSequence => 2,
        other => {
            return Err(FlvError::Unsupported(format!(
                "legacy AVC tag of kind {other:?}"
            )))
        }
    };
    let [c0, c1, c2] = si24_bytes(cts)?;
    Ok((
        [
            (frame_type << 4) | CODEC_ID_AVC,
            packet_type,
            c0,
            c1,
            c2,
            0,
            0,
            0,
        ],
        5,
    ))
}

fn enhanced_prefix(
    codec: Codec,
    frame_type: u8,
    kind: VideoPacketKind,
    cts: i32,
) -> Result<([u8; 8], usize), FlvError> {
    let (fourcc, has_cts_field) = match codec {
        Codec::Hevc => (*b"hvc1", true),
        Codec::Av1 => (*b"av01", false),
        _ => (*b"vp09", false),
    };
    let packet_type = match kind {
        VideoPacketKind::SequenceHeader => PKT_SEQUENCE_START,
        VideoPacketKind::Frame if has_cts_field && cts != 0 => PKT_CODED_FRAMES,
        VideoPacketKind::Frame if has_cts_field => PKT_CODED_FRAMES_X,
        VideoPacketKind::Frame if cts != 0 => {
            return Err(FlvError::Unsupported(format!(
                "composition time offset for {}",
                codec.mist_name()
            )))
        }
        VideoPacketKind::Frame => PKT_CODED_FRAMES,
        VideoPacketKind::EndOfSequence => PKT_SEQUENCE_END,
        VideoPacketKind::Metadata => PKT_METADATA,
        VideoPacketKind::Other => {
            return Err(FlvError::Unsupported(
                "Enhanced RTMP video tag of kind Other".into(),
            ))
        }
    };
    let [f0, f1, f2, f3] = fourcc;
    let first = 0x80 | (frame_type << 4) | packet_type;
    if packet_type == PKT_CODED_FRAMES && has_cts_field {
        let [c0, c1, c2] = si24_bytes(cts)?;
        Ok(([first, f0, f1, f2, f3, c0, c1, c2], 8))
    } else {
        Ok(([first, f0, f1, f2, f3, 0, 0, 0], 5))
    }
}

/// Encodes an SI24 (big-endian two's complement).
fn si24_bytes(value: i32) -> Result<[u8; 3], FlvError> {
    if !(-0x80_0000..=0x7F_FFFF).contains(&value) {
        return Err(FlvError::Unsupported(format!(
            "composition time {value} ms does not fit SI24"
        )));
    }
    let [_, b1, b2, b3] = value.to_be_bytes();
    Ok([b1, b2, b3])
}

/// The bytes that precede the codec data in an audio tag body, and how many of the 2 are used.
///
/// - AAC: `0xAF` (AAC, 44 kHz, 16 bit, stereo, as E.4.2.1 requires) and the AACPacketType.
/// - MP3: one byte with the SoundRate (44100, 22050, 11025, 5512 Hz; 8000 Hz uses SoundFormat
///   14), 16-bit size and SoundType bits. Other rates cannot be signalled and are
///   [`FlvError::Unsupported`], as are channel counts other than 1 and 2.
pub fn audio_body_prefix(
    codec: Codec,
    sequence_header: bool,
    rate: u32,
    channels: u32,
) -> Result<([u8; 2], usize), FlvError> {
    match codec {
        Codec::Aac => Ok(([0xAF, u8::from(!sequence_header)], 2)),
        Codec::Mp3 => {
            let (format, rate_bits) = match rate {
                5512 => (SOUND_MP3, 0),
                11025 => (SOUND_MP3, 1),
                22050 => (SOUND_MP3, 2),
                44100 => (SOUND_MP3, 3),
                8000 => (SOUND_MP3_8K, 0),
                other => return Err(FlvError::Unsupported(format!("MP3 at {other} Hz in FLV"))),
            };
            let stereo = match channels {
                1 => 0,
                2 => 1,
                other => {
                    return Err(FlvError::Unsupported(format!(
                        "{other} audio channels in FLV"
                    )))
                }
            };
            Ok(([(format << 4) | (rate_bits << 2) | 0x02 | stereo, 0], 1))
        }
        other => Err(FlvError::Unsupported(format!(
            "{} is not an FLV audio codec",
            other.mist_name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::bits::tests::XorShift;
    use super::super::{aac, h264, hevc};
    use super::*;

    /// ffmpeg 5.1: libx264 (Main, 176x100, 10 fps, B-frames) + AAC LC 22050 Hz mono, 0.6 s.
    const H264_AAC_FLV: &[u8] = include_bytes!("testdata/h264_aac.flv");
    /// ffmpeg 9: libx265 (Main, 176x100, 10 fps) in Enhanced FLV, with a colorInfo metadata tag.
    const HEVC_FLV: &[u8] = include_bytes!("testdata/hevc_enhanced.flv");

    /// Walks a whole file; returns (header, body) per tag.
    fn walk(file: &[u8]) -> Vec<(TagHeader, Bytes)> {
        let (_, _, mut at) = parse_file_header(file).unwrap();
        let file = Bytes::copy_from_slice(file);
        let mut tags = Vec::new();
        while at < file.len() {
            let (header, body, total) = parse_tag(&file[at..]).unwrap();
            tags.push((header, file.slice(at + body.start..at + body.end)));
            at += total;
        }
        assert_eq!(at, file.len());
        tags
    }

    #[test]
    fn file_header_round_trip() {
        for (audio, video) in [(false, false), (true, false), (false, true), (true, true)] {
            let header = file_header(audio, video);
            assert_eq!(parse_file_header(&header), Ok((audio, video, 13)));
        }
        assert_eq!(
            file_header(true, true)[..9],
            *b"FLV\x01\x05\x00\x00\x00\x09"
        );
    }

    #[test]
    fn file_header_errors() {
        let good = file_header(true, true);
        for len in 0..good.len() {
            let needed = 13 - len;
            assert_eq!(
                parse_file_header(&good[..len]),
                Err(FlvError::Incomplete { needed })
            );
        }
        assert_eq!(
            parse_file_header(b"FLX\x01\x05\0\0\0\x09\0\0\0\0"),
            Err(invalid(0, "not an FLV file"))
        );
        assert_eq!(
            parse_file_header(b"FLV\x02\x05\0\0\0\x09\0\0\0\0"),
            Err(invalid(3, "unsupported FLV version"))
        );
        assert!(matches!(
            parse_file_header(b"FLV\x01\x05\0\0\0\x08\0\0\0\0"),
            Err(FlvError::Invalid { offset: 5, .. })
        ));
        assert!(matches!(
            parse_file_header(b"FLV\x01\x05\xFF\xFF\xFF\xFF\0\0\0\0"),
            Err(FlvError::Invalid { offset: 5, .. })
        ));
        // A longer header (DataOffset 12) is honoured.
        let long = b"FLV\x01\x01\0\0\0\x0Cxyz\0\0\0\0";
        assert_eq!(parse_file_header(long), Ok((false, true, 16)));
        assert_eq!(
            parse_file_header(&long[..14]),
            Err(FlvError::Incomplete { needed: 2 })
        );
    }

    #[test]
    fn tag_round_trip() {
        let mut buf = tag_header(TAG_VIDEO, 3, 0x1234_5678).to_vec();
        assert_eq!(buf, [9, 0, 0, 3, 0x34, 0x56, 0x78, 0x12, 0, 0, 0]);
        buf.extend_from_slice(&[0xAA, 0xBB, 0xCC]);
        buf.extend_from_slice(&14u32.to_be_bytes());
        buf.extend_from_slice(b"next");
        let (header, body, total) = parse_tag(&buf).unwrap();
        let expected = TagHeader {
            tag_type: 9,
            data_size: 3,
            timestamp: 0x1234_5678,
            stream_id: 0,
        };
        assert_eq!(header, expected);
        assert_eq!(body, 11..14);
        assert_eq!(total, 18);
        // PreviousTagSize 0 is tolerated.
        buf[14..18].copy_from_slice(&[0, 0, 0, 0]);
        assert!(parse_tag(&buf).is_ok());
    }

    #[test]
    fn tag_incomplete_counts() {
        let mut buf = tag_header(TAG_AUDIO, 5, 7).to_vec();
        buf.extend_from_slice(&[1, 2, 3, 4, 5, 0, 0, 0, 16]);
        assert_eq!(parse_tag(&buf).map(|t| t.2), Ok(20));
        for len in 0..buf.len() {
            match parse_tag(&buf[..len]) {
                Err(FlvError::Incomplete { needed }) => {
                    // Before the header is complete only the minimum (15 bytes) is known.
                    let expected = if len < 11 { 15 - len } else { 20 - len };
                    assert_eq!(needed, expected, "len {len}");
                }
                other => panic!("len {len}: {other:?}"),
            }
        }
    }

    #[test]
    fn tag_errors() {
        let mut buf = tag_header(TAG_SCRIPT, 0, 0).to_vec();
        buf.extend_from_slice(&11u32.to_be_bytes());
        assert!(parse_tag(&buf).is_ok());
        let mut filtered = buf.clone();
        filtered[0] |= 0x20;
        assert!(matches!(
            parse_tag(&filtered),
            Err(FlvError::Invalid { offset: 0, .. })
        ));
        let mut reserved = buf.clone();
        reserved[0] |= 0x40;
        assert!(matches!(
            parse_tag(&reserved),
            Err(FlvError::Invalid { offset: 0, .. })
        ));
        let mut unknown = buf.clone();
        unknown[0] = 10;
        assert_eq!(parse_tag(&unknown), Err(invalid(0, "unknown tag type")));
        // Rejected on the first byte already, without waiting for more data.
        assert_eq!(parse_tag(&[0x0A]), Err(invalid(0, "unknown tag type")));
        let mut mismatch = buf.clone();
        mismatch[14] = 12;
        assert_eq!(
            parse_tag(&mismatch),
            Err(invalid(11, "PreviousTagSize does not match the tag"))
        );
        // Largest possible size only asks for more data.
        let huge = tag_header(TAG_VIDEO, 0xFF_FFFF, 0);
        assert_eq!(
            parse_tag(&huge),
            Err(FlvError::Incomplete {
                needed: 0xFF_FFFF + 4
            })
        );
    }

    fn video(bytes: &[u8]) -> Result<VideoTag, FlvError> {
        parse_video_body(&Bytes::copy_from_slice(bytes))
    }

    #[test]
    fn legacy_avc_and_hevc() {
        let tag = video(&[0x17, 0, 0, 0, 0, 1, 2]).unwrap();
        assert_eq!(
            (tag.codec, tag.keyframe, tag.kind, tag.cts),
            (Codec::H264, true, VideoPacketKind::SequenceHeader, 0)
        );
        assert_eq!(tag.data[..], [1, 2]);
        let tag = video(&[0x27, 1, 0xFF, 0xFF, 0x9C, 9]).unwrap();
        assert_eq!(
            (tag.keyframe, tag.kind, tag.cts),
            (false, VideoPacketKind::Frame, -100)
        );
        let tag = video(&[0x37, 1, 0, 0, 40]).unwrap();
        assert_eq!((tag.keyframe, tag.cts, tag.data.len()), (false, 40, 0));
        let tag = video(&[0x17, 2, 0, 0, 0]).unwrap();
        assert_eq!(tag.kind, VideoPacketKind::EndOfSequence);
        let tag = video(&[0x1C, 1, 0, 0, 0x50, 7]).unwrap();
        assert_eq!((tag.codec, tag.keyframe, tag.cts), (Codec::Hevc, true, 80));
        let tag = video(&[0x57, 0x01]).unwrap();
        assert_eq!((tag.kind, tag.keyframe), (VideoPacketKind::Other, false));
        assert_eq!(tag.data[..], [1]);
    }

    #[test]
    fn legacy_errors() {
        assert_eq!(video(&[]), Err(invalid(0, "empty video tag")));
        assert!(matches!(
            video(&[0x17, 0, 0]),
            Err(FlvError::Invalid { .. })
        ));
        assert_eq!(
            video(&[0x17]),
            Err(invalid(1, "video tag header is truncated"))
        );
        assert_eq!(
            video(&[0x17, 3, 0, 0, 0]),
            Err(invalid(1, "unknown AVCPacketType"))
        );
        assert_eq!(
            video(&[0x07, 1, 0, 0, 0]),
            Err(invalid(0, "reserved video frame type"))
        );
        assert_eq!(
            video(&[0x67, 1, 0, 0, 0]),
            Err(invalid(0, "reserved video frame type"))
        );
        match video(&[0x12, 0, 0]) {
            Err(FlvError::Unsupported(msg)) => assert!(msg.contains("Sorenson"), "{msg}"),
            other => panic!("{other:?}"),
        }
        match video(&[0x14, 0]) {
            Err(FlvError::Unsupported(msg)) => assert!(msg.contains("VP6"), "{msg}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(video(&[0x1F]), Err(FlvError::Unsupported(_))));
    }

    #[test]
    fn enhanced_forms() {
        let tag = video(b"\x90hvc1\x01\x02").unwrap();
        assert_eq!(
            (tag.codec, tag.keyframe, tag.kind),
            (Codec::Hevc, true, VideoPacketKind::SequenceHeader)
        );
        assert_eq!(tag.data[..], [1, 2]);
        let tag = video(b"\xA1hvc1\xFF\xFF\xFEdata").unwrap();
        assert_eq!(
            (tag.keyframe, tag.kind, tag.cts),
            (false, VideoPacketKind::Frame, -2)
        );
        assert_eq!(&tag.data[..], b"data");
        let tag = video(b"\x93hvc1data").unwrap();
        assert_eq!(
            (tag.keyframe, tag.kind, tag.cts),
            (true, VideoPacketKind::Frame, 0)
        );
        assert_eq!(&tag.data[..], b"data");
        let tag = video(b"\x91avc1\x00\x00\x21x").unwrap();
        assert_eq!(
            (tag.codec, tag.cts, &tag.data[..]),
            (Codec::H264, 0x21, &b"x"[..])
        );
        // AV1 / VP9 CodedFrames carry no composition time.
        let tag = video(b"\x91av01obu").unwrap();
        assert_eq!(
            (tag.codec, tag.cts, &tag.data[..]),
            (Codec::Av1, 0, &b"obu"[..])
        );
        let tag = video(b"\xA1vp09frame").unwrap();
        assert_eq!(
            (tag.codec, tag.keyframe, &tag.data[..]),
            (Codec::Vp9, false, &b"frame"[..])
        );
        let tag = video(b"\x92av01").unwrap();
        assert_eq!(tag.kind, VideoPacketKind::EndOfSequence);
        let tag = video(b"\x95av01desc").unwrap();
        assert_eq!(tag.kind, VideoPacketKind::Other);
        // Metadata with frame type 5 (as ffmpeg writes it): not a command frame.
        let tag = video(b"\xD4hvc1\x02\x00\x09colorInfo").unwrap();
        assert_eq!((tag.kind, tag.keyframe), (VideoPacketKind::Metadata, false));
    }

    #[test]
    fn enhanced_mod_ex_is_skipped() {
        // ModEx with 3 bytes of TimestampOffsetNano, then CodedFrames of hvc1.
        let tag = video(b"\x97\x02\x00\x01\x02\x01hvc1\x00\x00\x05data").unwrap();
        assert_eq!(
            (tag.codec, tag.kind, tag.cts, &tag.data[..]),
            (Codec::Hevc, VideoPacketKind::Frame, 5, &b"data"[..])
        );
        // Two chained entries, the second with a 16-bit size (300 bytes).
        let mut body = vec![0x97, 0x00, 0xAA, 0x07, 0xFF, 0x01, 0x2B];
        body.resize(body.len() + 300, 0x55);
        body.push(0x03);
        body.extend_from_slice(b"av01x");
        let tag = video(&body).unwrap();
        assert_eq!(
            (tag.codec, tag.kind, &tag.data[..]),
            (Codec::Av1, VideoPacketKind::Frame, &b"x"[..])
        );
        assert!(matches!(
            video(b"\x97\x05\x00"),
            Err(FlvError::Invalid { .. })
        ));
        assert!(matches!(
            video(b"\x97\xFF\x00"),
            Err(FlvError::Invalid { .. })
        ));
    }

    /// The message of an Unsupported error, or a panic.
    fn unsupported(result: Result<VideoTag, FlvError>) -> String {
        match result {
            Err(FlvError::Unsupported(msg)) => msg,
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn enhanced_errors() {
        assert!(unsupported(video(b"\x96\x00hvc1")).contains("multitrack"));
        assert!(unsupported(video(b"\xD1\x00")).contains("command"));
        assert!(unsupported(video(b"\x91vp08x")).contains("vp08"));
        assert!(unsupported(video(b"\x91\x00\x01\x02\x03")).contains("????"));
        assert_eq!(
            video(b"\x98hvc1"),
            Err(invalid(0, "reserved video packet type"))
        );
        assert_eq!(
            video(b"\x81hvc1\0\0\0"),
            Err(invalid(0, "reserved video frame type"))
        );
        assert_eq!(
            video(b"\x91hvc1\0\0"),
            Err(invalid(7, "video tag header is truncated"))
        );
        assert_eq!(
            video(b"\x90hvc"),
            Err(invalid(4, "video tag header is truncated"))
        );
    }

    fn audio(bytes: &[u8]) -> Result<AudioTag, FlvError> {
        parse_audio_body(&Bytes::copy_from_slice(bytes))
    }

    #[test]
    fn audio_bodies() {
        let tag = audio(&[0xAF, 0x00, 0x12, 0x10]).unwrap();
        assert_eq!(
            (
                tag.codec,
                tag.sequence_header,
                tag.rate,
                tag.size,
                tag.channels
            ),
            (Codec::Aac, true, 44100, 16, 2)
        );
        assert_eq!(tag.data[..], [0x12, 0x10]);
        let tag = audio(&[0xAF, 0x01, 0x21]).unwrap();
        assert!(!tag.sequence_header);
        assert_eq!(tag.data[..], [0x21]);
        let tag = audio(&[0x2A, 0xFF, 0xFB]).unwrap();
        assert_eq!(
            (
                tag.codec,
                tag.sequence_header,
                tag.rate,
                tag.size,
                tag.channels
            ),
            (Codec::Mp3, false, 22050, 16, 1)
        );
        assert_eq!(tag.data[..], [0xFF, 0xFB]);
        let tag = audio(&[0x25]).unwrap();
        assert_eq!(
            (tag.rate, tag.size, tag.channels, tag.data.len()),
            (11025, 8, 2, 0)
        );
        let tag = audio(&[0xE2, 0xFF]).unwrap();
        assert_eq!((tag.codec, tag.rate), (Codec::Mp3, 8000));
        assert_eq!(audio(&[0x20]).unwrap().rate, 5512);
    }

    #[test]
    fn audio_errors() {
        assert_eq!(audio(&[]), Err(invalid(0, "empty audio tag")));
        assert_eq!(
            audio(&[0xAF]),
            Err(invalid(1, "AAC audio tag has no AACPacketType"))
        );
        assert_eq!(audio(&[0xAF, 2]), Err(invalid(1, "unknown AACPacketType")));
        for (format, word) in [
            (0x9F, "Enhanced"),
            (0xBE, "Speex"),
            (0x6E, "Nellymoser"),
            (0x7E, "A-law"),
            (0xD0, "reserved"),
        ] {
            match audio(&[format, 0]) {
                Err(FlvError::Unsupported(msg)) => assert!(msg.contains(word), "{msg}"),
                other => panic!("{format:02X}: {other:?}"),
            }
        }
    }

    #[test]
    fn video_prefixes_round_trip() {
        let kinds = [
            VideoPacketKind::SequenceHeader,
            VideoPacketKind::Frame,
            VideoPacketKind::EndOfSequence,
            VideoPacketKind::Metadata,
            VideoPacketKind::Other,
        ];
        let mut built = 0;
        for codec in [Codec::H264, Codec::Hevc, Codec::Av1, Codec::Vp9] {
            for keyframe in [true, false] {
                for kind in kinds {
                    for cts in [0, 33, -66, 0x7F_FFFF, -0x80_0000] {
                        let Ok((prefix, len)) = video_body_prefix(codec, keyframe, kind, cts)
                        else {
                            continue;
                        };
                        built += 1;
                        let mut body = prefix[..len].to_vec();
                        body.extend_from_slice(b"payload");
                        let tag = video(&body).unwrap();
                        assert_eq!(tag.codec, codec);
                        assert_eq!(tag.kind, kind);
                        assert_eq!(&tag.data[..], b"payload");
                        if kind != VideoPacketKind::Metadata {
                            assert_eq!(tag.keyframe, keyframe);
                        }
                        if kind == VideoPacketKind::Frame || codec == Codec::H264 {
                            assert_eq!(tag.cts, cts, "{codec:?} {kind:?}");
                        }
                    }
                }
            }
        }
        assert!(built > 40, "{built}");
    }

    #[test]
    fn video_prefix_shapes() {
        let frame = VideoPacketKind::Frame;
        assert_eq!(
            video_body_prefix(Codec::H264, true, VideoPacketKind::SequenceHeader, 0),
            Ok(([0x17, 0, 0, 0, 0, 0, 0, 0], 5))
        );
        assert_eq!(
            video_body_prefix(Codec::H264, false, frame, -1),
            Ok(([0x27, 1, 0xFF, 0xFF, 0xFF, 0, 0, 0], 5))
        );
        assert_eq!(
            video_body_prefix(Codec::Hevc, true, frame, 80),
            Ok(([0x91, b'h', b'v', b'c', b'1', 0, 0, 80], 8))
        );
        assert_eq!(
            video_body_prefix(Codec::Hevc, false, frame, 0),
            Ok(([0xA3, b'h', b'v', b'c', b'1', 0, 0, 0], 5))
        );
        assert_eq!(
            video_body_prefix(Codec::Hevc, true, VideoPacketKind::EndOfSequence, 0).map(|p| p.1),
            Ok(5)
        );
        assert_eq!(
            video_body_prefix(Codec::Av1, true, frame, 0),
            Ok(([0x91, b'a', b'v', b'0', b'1', 0, 0, 0], 5))
        );
        assert_eq!(
            video_body_prefix(Codec::Vp9, false, VideoPacketKind::SequenceHeader, 0),
            Ok(([0xA0, b'v', b'p', b'0', b'9', 0, 0, 0], 5))
        );
        assert!(matches!(
            video_body_prefix(Codec::Av1, true, frame, 5),
            Err(FlvError::Unsupported(_))
        ));
        assert!(matches!(
            video_body_prefix(Codec::H264, true, frame, 0x80_0000),
            Err(FlvError::Unsupported(_))
        ));
        assert!(matches!(
            video_body_prefix(Codec::Hevc, true, frame, -0x80_0001),
            Err(FlvError::Unsupported(_))
        ));
        assert!(matches!(
            video_body_prefix(Codec::H264, true, VideoPacketKind::Metadata, 0),
            Err(FlvError::Unsupported(_))
        ));
        assert!(matches!(
            video_body_prefix(Codec::Hevc, true, VideoPacketKind::Other, 0),
            Err(FlvError::Unsupported(_))
        ));
        assert!(matches!(
            video_body_prefix(Codec::Aac, true, frame, 0),
            Err(FlvError::Unsupported(_))
        ));
    }

    #[test]
    fn audio_prefixes_round_trip() {
        assert_eq!(
            audio_body_prefix(Codec::Aac, true, 48000, 6),
            Ok(([0xAF, 0], 2))
        );
        assert_eq!(
            audio_body_prefix(Codec::Aac, false, 44100, 2),
            Ok(([0xAF, 1], 2))
        );
        assert_eq!(
            audio_body_prefix(Codec::Mp3, false, 44100, 2),
            Ok(([0x2F, 0], 1))
        );
        for (codec, seq) in [(Codec::Aac, true), (Codec::Aac, false)] {
            let (prefix, len) = audio_body_prefix(codec, seq, 44100, 2).unwrap();
            let mut body = prefix[..len].to_vec();
            body.push(0x42);
            let tag = audio(&body).unwrap();
            assert_eq!(
                (tag.codec, tag.sequence_header, &tag.data[..]),
                (codec, seq, &[0x42][..])
            );
        }
        for rate in [5512, 11025, 22050, 44100, 8000] {
            for channels in [1, 2] {
                let (prefix, len) = audio_body_prefix(Codec::Mp3, false, rate, channels).unwrap();
                assert_eq!(len, 1);
                let mut body = prefix[..len].to_vec();
                body.extend_from_slice(&[0xFF, 0xFB]);
                let tag = audio(&body).unwrap();
                assert_eq!(
                    (tag.codec, tag.rate, tag.channels, tag.size),
                    (Codec::Mp3, rate, channels, 16)
                );
                assert_eq!(tag.data[..], [0xFF, 0xFB]);
            }
        }
        assert!(matches!(
            audio_body_prefix(Codec::Mp3, false, 48000, 2),
            Err(FlvError::Unsupported(_))
        ));
        assert!(matches!(
            audio_body_prefix(Codec::Mp3, false, 44100, 6),
            Err(FlvError::Unsupported(_))
        ));
        assert!(matches!(
            audio_body_prefix(Codec::H264, false, 44100, 2),
            Err(FlvError::Unsupported(_))
        ));
    }

    #[test]
    fn ffmpeg_h264_aac_file() {
        assert_eq!(parse_file_header(H264_AAC_FLV), Ok((true, true, 13)));
        let tags = walk(H264_AAC_FLV);
        assert_eq!(tags.len(), 24);
        assert_eq!(tags[0].0.tag_type, TAG_SCRIPT);
        assert!(tags[0].1.starts_with(b"\x02\x00\x0AonMetaData"));
        let mut length_size = 0;
        let (mut frames, mut keyframes, mut audio_frames) = (0, 0, 0);
        let mut saw_asc = false;
        let mut saw_end = false;
        for (header, body) in &tags {
            assert_eq!(header.stream_id, 0);
            match header.tag_type {
                TAG_VIDEO => {
                    let tag = parse_video_body(body).unwrap();
                    assert_eq!(tag.codec, Codec::H264);
                    // Rebuilding the prefix reproduces ffmpeg's bytes.
                    let (prefix, len) =
                        video_body_prefix(tag.codec, tag.keyframe, tag.kind, tag.cts).unwrap();
                    assert_eq!(prefix[..len], body[..len]);
                    match tag.kind {
                        VideoPacketKind::SequenceHeader => {
                            let track = h264::track_from_avcc(tag.data.clone()).unwrap();
                            assert_eq!((track.width, track.height, track.fpks), (176, 100, 10000));
                            assert_eq!(track.codec_string, "avc1.4D400A");
                            length_size = h264::parse_avcc(&tag.data).unwrap().length_size;
                        }
                        VideoPacketKind::Frame => {
                            frames += 1;
                            assert!(h264::nal_units(&tag.data, length_size).all(|n| n.is_ok()));
                            assert_eq!(h264::contains_idr(&tag.data, length_size), tag.keyframe);
                            keyframes += usize::from(tag.keyframe);
                            assert!(tag.cts >= 0);
                        }
                        VideoPacketKind::EndOfSequence => saw_end = true,
                        other => panic!("{other:?}"),
                    }
                }
                TAG_AUDIO => {
                    let tag = parse_audio_body(body).unwrap();
                    assert_eq!(tag.codec, Codec::Aac);
                    let (prefix, len) =
                        audio_body_prefix(tag.codec, tag.sequence_header, tag.rate, tag.channels)
                            .unwrap();
                    assert_eq!(prefix[..len], body[..len]);
                    if tag.sequence_header {
                        let track = aac::track_from_asc(tag.data.clone()).unwrap();
                        assert_eq!(
                            (track.rate, track.channels, track.codec_string.as_str()),
                            (22050, 1, "mp4a.40.2")
                        );
                        saw_asc = true;
                    } else {
                        audio_frames += 1;
                    }
                }
                _ => {}
            }
        }
        assert_eq!(length_size, 4);
        assert_eq!((frames, keyframes), (6, 2));
        assert!(audio_frames > 0 && saw_asc && saw_end);
    }

    #[test]
    fn ffmpeg_enhanced_hevc_file() {
        let tags = walk(HEVC_FLV);
        let videos: Vec<VideoTag> = tags
            .iter()
            .filter(|(h, _)| h.tag_type == TAG_VIDEO)
            .map(|(_, body)| parse_video_body(body).unwrap())
            .collect();
        assert!(videos.iter().all(|t| t.codec == Codec::Hevc));
        assert_eq!(videos[0].kind, VideoPacketKind::SequenceHeader);
        let cfg = hevc::parse_hvcc(&videos[0].data).unwrap();
        let track = hevc::track_from_hvcc(videos[0].data.clone()).unwrap();
        assert_eq!((track.width, track.height), (176, 100));
        assert_eq!(track.codec_string, "hvc1.1.6.L30.90");
        assert!(videos.iter().any(|t| t.kind == VideoPacketKind::Metadata));
        let frames: Vec<&VideoTag> = videos
            .iter()
            .filter(|t| t.kind == VideoPacketKind::Frame)
            .collect();
        assert_eq!(frames.len(), 3);
        for tag in &frames {
            assert_eq!(
                hevc::contains_irap(&tag.data, cfg.length_size),
                tag.keyframe
            );
            // Our prefix for the same frame parses back to the same fields.
            let (prefix, len) =
                video_body_prefix(tag.codec, tag.keyframe, tag.kind, tag.cts).unwrap();
            let mut body = prefix[..len].to_vec();
            body.extend_from_slice(&tag.data);
            assert_eq!(parse_video_body(&Bytes::from(body)).as_ref(), Ok(*tag));
        }
        assert!(frames[0].keyframe);
        assert!(frames.iter().any(|t| t.cts != 0));
    }

    #[test]
    fn real_file_fed_in_pieces() {
        // A reader that only has part of a tag gets Incomplete, never a wrong answer.
        let (_, _, start) = parse_file_header(H264_AAC_FLV).unwrap();
        let mut at = start;
        while at < H264_AAC_FLV.len() {
            let rest = &H264_AAC_FLV[at..];
            let (_, _, total) = parse_tag(rest).unwrap();
            for cut in [0, 1, 10, 11, total / 2, total - 1] {
                match parse_tag(&rest[..cut]) {
                    Err(FlvError::Incomplete { needed }) => {
                        assert!(needed > 0 && needed <= total - cut)
                    }
                    other => panic!("cut {cut}: {other:?}"),
                }
            }
            at += total;
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = XorShift(0xF1F0_F1F0_1234_5678);
        for _ in 0..30_000 {
            let data = rng.bytes(40);
            let _ = parse_file_header(&data);
            let _ = parse_tag(&data);
            let bytes = Bytes::from(data);
            let _ = parse_video_body(&bytes);
            let _ = parse_audio_body(&bytes);
            // Steer the first byte into the interesting ranges too.
            let mut steered = bytes.to_vec();
            if let Some(first) = steered.first_mut() {
                *first =
                    [0x17, 0x27, 0x1C, 0x90, 0x91, 0x97, 0xA3, 0xAF, 0x2F][(*first % 9) as usize];
            }
            let steered = Bytes::from(steered);
            let _ = parse_video_body(&steered);
            let _ = parse_audio_body(&steered);
        }
    }

    #[test]
    fn mutated_files_never_panic() {
        let mut rng = XorShift(99);
        for _ in 0..300 {
            let source = if rng.next_u64() % 2 == 0 {
                H264_AAC_FLV
            } else {
                HEVC_FLV
            };
            let mut file = source.to_vec();
            for _ in 0..8 {
                let at = (rng.next_u64() as usize) % file.len();
                file[at] ^= 1 << (rng.next_u64() % 8);
            }
            let file = Bytes::from(file);
            let Ok((_, _, mut at)) = parse_file_header(&file) else {
                continue;
            };
            while let Ok((header, body, total)) = parse_tag(file.get(at..).unwrap_or_default()) {
                let body = file.slice(at + body.start..at + body.end);
                match header.tag_type {
                    TAG_VIDEO => {
                        if let Ok(tag) = parse_video_body(&body) {
                            let _ = h264::track_from_avcc(tag.data.clone());
                            let _ = hevc::track_from_hvcc(tag.data.clone());
                            let _ = h264::contains_idr(&tag.data, 4);
                        }
                    }
                    TAG_AUDIO => {
                        if let Ok(tag) = parse_audio_body(&body) {
                            let _ = aac::track_from_asc(tag.data);
                        }
                    }
                    _ => {}
                }
                at += total;
            }
        }
    }
}
