//! Test helpers shared by the media tests.

use bytes::Bytes;

use super::flv::{self, VideoPacketKind};
use super::{aac, h264, hevc, Codec, Packet, Track};

const VIDEO: u32 = 1;
const AUDIO: u32 = 2;

/// Tracks and packets of an FLV file, built the way RTMP ingest builds them (video track
/// 1, audio track 2, times from the tag timestamps).
pub fn load_flv(file: &[u8]) -> (Option<Track>, Option<Track>, Vec<Packet>) {
    let (_, _, mut at) = flv::parse_file_header(file).unwrap();
    let file = Bytes::copy_from_slice(file);
    let (mut video, mut audio, mut packets) = (None, None, Vec::new());
    while at < file.len() {
        let (header, range, total) = flv::parse_tag(&file[at..]).unwrap();
        let body = file.slice(at + range.start..at + range.end);
        let time = i64::from(header.timestamp);
        match header.tag_type {
            flv::TAG_VIDEO => {
                let tag = flv::parse_video_body(&body).unwrap();
                match tag.kind {
                    VideoPacketKind::SequenceHeader => {
                        let mut track = match tag.codec {
                            Codec::H264 => h264::track_from_avcc(tag.data).unwrap(),
                            Codec::Hevc => hevc::track_from_hvcc(tag.data).unwrap(),
                            other => panic!("{other:?}"),
                        };
                        track.id = VIDEO;
                        video = Some(track);
                    }
                    VideoPacketKind::Frame => packets.push(Packet {
                        track: VIDEO,
                        time,
                        offset: tag.cts,
                        keyframe: tag.keyframe,
                        data: tag.data,
                    }),
                    _ => {}
                }
            }
            flv::TAG_AUDIO => {
                let tag = flv::parse_audio_body(&body).unwrap();
                if tag.sequence_header {
                    let mut track = aac::track_from_asc(tag.data).unwrap();
                    track.id = AUDIO;
                    audio = Some(track);
                } else if !tag.data.is_empty() {
                    packets.push(Packet {
                        track: AUDIO,
                        time,
                        offset: 0,
                        keyframe: false,
                        data: tag.data,
                    });
                }
            }
            _ => {}
        }
        at += total;
    }
    (video, audio, packets)
}
