//! FLV video tag bodies (VIDEODATA), parsed and built.
//!
//! - Adobe Flash Video File Format Specification v10.1, Annex E: E.4.3.1 (VIDEODATA) with
//!   E.4.3.2 (AVCVIDEOPACKET).
//! - Enhanced RTMP v1 and v2 (veovera enhanced-rtmp): ExVideoTagHeader (IsExHeader,
//!   VideoFrameType, VideoPacketType, ModEx, FourCC) and ExVideoTagBody (the SI24 composition
//!   time of CodedFrames for `avc1` / `hvc1`).
//! - The widespread non-standard legacy CodecID 12 for HEVC, laid out like AVC (E.4.3.2).

use bytes::Bytes;

use super::super::bits::{si24, ByteReader};
use super::super::{Codec, Packet, Track};
use super::{invalid, FlvError};

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

/// The prefix of a coded frame of `track` (H.264 classic, HEVC/AV1/VP9 Enhanced RTMP).
pub(super) fn packet_prefix(track: &Track, packet: &Packet) -> Option<Vec<u8>> {
    let (bytes, len) = video_body_prefix(
        track.codec?,
        packet.keyframe,
        VideoPacketKind::Frame,
        packet.offset,
    )
    .ok()?;
    Some(bytes.get(..len)?.to_vec())
}

/// A sequence header body: the prefix, then the decoder configuration (avcC, hvcC, ...).
pub(super) fn sequence_body(track: &Track) -> Option<Vec<u8>> {
    if track.init.is_empty() {
        return None;
    }
    let (bytes, len) =
        video_body_prefix(track.codec?, true, VideoPacketKind::SequenceHeader, 0).ok()?;
    let mut body = bytes.get(..len)?.to_vec();
    body.extend_from_slice(&track.init);
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
