//! FLV tag bodies built from the internal model, for the FLV and RTMP outputs (an RTMP audio or
//! video message body is an FLV tag body). H.264 uses the classic form; HEVC, AV1 and VP9 the
//! Enhanced RTMP form; AAC and MP3 the classic audio form.

use super::flv::{self, VideoPacketKind, TAG_AUDIO, TAG_VIDEO};
use super::{Codec, Packet, Track, TrackKind};

/// The tag type and the bytes that precede `packet.data` in its tag body.
pub fn packet_prefix(track: &Track, packet: &Packet) -> Option<(u8, Vec<u8>)> {
    let codec = track.codec?;
    match codec.kind() {
        TrackKind::Video => {
            let (b, n) = flv::video_body_prefix(
                codec,
                packet.keyframe,
                VideoPacketKind::Frame,
                packet.offset,
            )
            .ok()?;
            Some((TAG_VIDEO, b.get(..n)?.to_vec()))
        }
        TrackKind::Audio => {
            let (b, n) = flv::audio_body_prefix(codec, false, track.rate, track.channels).ok()?;
            Some((TAG_AUDIO, b.get(..n)?.to_vec()))
        }
        TrackKind::Meta => None,
    }
}

/// The tag type and whole body of a track's sequence header; `None` for codecs without one (MP3).
pub fn sequence_body(track: &Track) -> Option<(u8, Vec<u8>)> {
    let codec = track.codec?;
    if track.init.is_empty() {
        return None;
    }
    let (tag_type, mut body) = match codec.kind() {
        TrackKind::Video => {
            let (b, n) =
                flv::video_body_prefix(codec, true, VideoPacketKind::SequenceHeader, 0).ok()?;
            (TAG_VIDEO, b.get(..n)?.to_vec())
        }
        TrackKind::Audio if codec == Codec::Aac => {
            let (b, n) = flv::audio_body_prefix(codec, true, track.rate, track.channels).ok()?;
            (TAG_AUDIO, b.get(..n)?.to_vec())
        }
        _ => return None,
    };
    body.extend_from_slice(&track.init);
    Some((tag_type, body))
}
