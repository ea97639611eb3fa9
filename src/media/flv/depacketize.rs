//! FLV tag bodies to Eddy's model: one depacketizer for RTMP publishing and FLV files.
//!
//! - The tag bodies of Annex E.4.2 / E.4.3 and Enhanced RTMP ([`super::audio`],
//!   [`super::video`]); decoder configurations per ISO/IEC 14496-15 (avcC, hvcC) and
//!   ISO/IEC 14496-3 1.6.2.1 (AudioSpecificConfig); MP3 frame headers per ISO/IEC 11172-3
//!   2.4.1.3.
//!
//! Video is track [`VIDEO_TRACK`] and audio [`AUDIO_TRACK`]. A sequence header (avcC, hvcC,
//! av1C, vpcC, or the AAC AudioSpecificConfig) announces or updates a track; MP3 tracks are
//! announced by their first frame header. Frames that arrive before their track is known are
//! dropped. Codecs Eddy cannot carry, and broken tag bodies, are reported once per stream (the
//! [`Depacketized::warning`]) and dropped; they never end the stream. `onMetaData` only
//! contributes a frame rate when the SPS has none.
//!
//! The depacketizer only returns what it found; writing tracks and packets somewhere is the
//! caller's business (the RTMP ingest writes them to the stream's buffer).

use std::collections::HashSet;

use bytes::Bytes;

use super::super::amf0::{self, Amf0Value};
use super::super::{aac, h264, hevc, mp3, Codec, Packet, Track};
use super::{parse_audio_body, parse_video_body, TagHeader, VideoPacketKind, TAG_AUDIO};
use super::{TAG_SCRIPT, TAG_VIDEO};

/// Track ids of an FLV stream.
pub const VIDEO_TRACK: u32 = 1;
pub const AUDIO_TRACK: u32 = 2;

/// What one tag body gave. `track` comes first: `packet` may need it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Depacketized {
    /// A track announced or updated.
    pub track: Option<Track>,
    pub packet: Option<Packet>,
    /// A problem seen for the first time on this stream, to log; its repeats give `None`.
    pub warning: Option<String>,
}

/// The per-stream state of an FLV depacketizer.
#[derive(Debug, Default)]
pub struct FlvDepacketizer {
    video: Option<Track>,
    audio: Option<Track>,
    /// Frame rate from onMetaData, used when the SPS does not say.
    fps_hint: Option<f64>,
    /// Problems already reported for this stream.
    warned: HashSet<&'static str>,
}

impl FlvDepacketizer {
    pub fn new() -> Self {
        FlvDepacketizer::default()
    }

    /// The current video track, once announced.
    pub fn video_track(&self) -> Option<&Track> {
        self.video.as_ref()
    }

    /// The current audio track, once announced.
    pub fn audio_track(&self) -> Option<&Track> {
        self.audio.as_ref()
    }

    /// `text()` the first time `key` is reported on this stream, `None` afterwards.
    pub fn warn_once(
        &mut self,
        key: &'static str,
        text: impl FnOnce() -> String,
    ) -> Option<String> {
        self.warned.insert(key).then(text)
    }

    fn warning(&mut self, key: &'static str, text: impl FnOnce() -> String) -> Depacketized {
        Depacketized {
            warning: self.warn_once(key, text),
            ..Depacketized::default()
        }
    }

    /// One video tag body at `time` (ms, already extended to 64 bits).
    pub fn video(&mut self, time: i64, body: &Bytes) -> Depacketized {
        let tag = match parse_video_body(body) {
            Ok(t) => t,
            Err(e) => return self.warning("video", || format!("video dropped: {e}")),
        };
        match tag.kind {
            VideoPacketKind::SequenceHeader => {
                let parsed = match tag.codec {
                    Codec::H264 => h264::track_from_avcc(tag.data).map_err(|e| e.to_string()),
                    Codec::Hevc => hevc::track_from_hvcc(tag.data).map_err(|e| e.to_string()),
                    other => Ok(Track {
                        codec: Some(other),
                        init: tag.data,
                        ..Default::default()
                    }),
                };
                let mut track = match parsed {
                    Ok(t) => t,
                    Err(e) => {
                        return self
                            .warning("video-config", || format!("bad video sequence header: {e}"))
                    }
                };
                track.id = VIDEO_TRACK;
                if track.fpks == 0 {
                    track.fpks = self
                        .fps_hint
                        .map(|f| (f * 1000.0).round() as u32)
                        .unwrap_or(0);
                }
                self.video = Some(track.clone());
                Depacketized {
                    track: Some(track),
                    ..Depacketized::default()
                }
            }
            VideoPacketKind::Frame => {
                if self.video.as_ref().map(|t| t.codec) != Some(Some(tag.codec)) {
                    return self.warning("video-early", || {
                        "video frames before their sequence header are dropped".into()
                    });
                }
                Depacketized {
                    packet: Some(Packet {
                        track: VIDEO_TRACK,
                        time,
                        offset: tag.cts,
                        keyframe: tag.keyframe,
                        data: tag.data,
                    }),
                    ..Depacketized::default()
                }
            }
            _ => Depacketized::default(),
        }
    }

    /// One audio tag body at `time` (ms, already extended to 64 bits).
    pub fn audio(&mut self, time: i64, body: &Bytes) -> Depacketized {
        let tag = match parse_audio_body(body) {
            Ok(t) => t,
            Err(e) => return self.warning("audio", || format!("audio dropped: {e}")),
        };
        if tag.sequence_header {
            let mut track = match aac::track_from_asc(tag.data) {
                Ok(t) => t,
                Err(e) => {
                    return self.warning("audio-config", || format!("bad AAC sequence header: {e}"))
                }
            };
            track.id = AUDIO_TRACK;
            self.audio = Some(track.clone());
            return Depacketized {
                track: Some(track),
                ..Depacketized::default()
            };
        }
        if tag.data.is_empty() {
            return Depacketized::default();
        }
        let mut announced = None;
        if tag.codec == Codec::Mp3 && self.audio_codec() != Some(Codec::Mp3) {
            match mp3::track_from_frame(&tag.data) {
                Ok(mut track) => {
                    track.id = AUDIO_TRACK;
                    self.audio = Some(track.clone());
                    announced = Some(track);
                }
                Err(e) => return self.warning("mp3", || format!("bad MP3 frame dropped: {e}")),
            }
        }
        if self.audio_codec() != Some(tag.codec) {
            return self.warning("audio-early", || {
                "audio frames before their sequence header are dropped".into()
            });
        }
        Depacketized {
            track: announced,
            packet: Some(Packet {
                track: AUDIO_TRACK,
                time,
                offset: 0,
                keyframe: false,
                data: tag.data,
            }),
            warning: None,
        }
    }

    fn audio_codec(&self) -> Option<Codec> {
        self.audio.as_ref().and_then(|t| t.codec)
    }

    /// Script data: `["@setDataFrame", "onMetaData", {..}]` or `["onMetaData", {..}]` gives a
    /// frame rate hint (`framerate` or `videoframerate`); anything else is ignored.
    pub fn metadata(&mut self, values: &[Amf0Value]) {
        let is_meta = values
            .iter()
            .take(2)
            .any(|v| v.as_str() == Some("onMetaData"));
        if !is_meta {
            return;
        }
        if let Some(props) = values
            .iter()
            .find(|v| matches!(v, Amf0Value::Object(_) | Amf0Value::EcmaArray(_)))
        {
            self.fps_hint = props
                .get("framerate")
                .or_else(|| props.get("videoframerate"))
                .and_then(Amf0Value::as_f64)
                .filter(|f| *f > 0.0 && *f < 1000.0);
        }
    }

    /// One tag of an FLV file, at its own timestamp. Script data that is not AMF0 is ignored.
    pub fn tag(&mut self, header: &TagHeader, body: &Bytes) -> Depacketized {
        let time = i64::from(header.timestamp);
        match header.tag_type {
            TAG_VIDEO => self.video(time, body),
            TAG_AUDIO => self.audio(time, body),
            TAG_SCRIPT => {
                if let Ok(values) = amf0::decode_all(body) {
                    self.metadata(&values);
                }
                Depacketized::default()
            }
            _ => Depacketized::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::read_file;
    use super::*;

    const H264_AAC_FLV: &[u8] = include_bytes!("../testdata/h264_aac.flv");

    fn body(bytes: &[u8]) -> Bytes {
        Bytes::copy_from_slice(bytes)
    }

    #[test]
    fn whole_file() {
        let mut d = FlvDepacketizer::new();
        let (mut tracks, mut packets) = (Vec::new(), Vec::new());
        for tag in read_file(Bytes::from_static(H264_AAC_FLV)).unwrap() {
            let (header, body) = tag.unwrap();
            let out = d.tag(&header, &body);
            assert_eq!(out.warning, None);
            tracks.extend(out.track);
            packets.extend(out.packet);
        }
        assert_eq!(tracks.len(), 2);
        assert_eq!(
            (tracks[0].id, tracks[0].codec, tracks[1].id, tracks[1].codec),
            (
                VIDEO_TRACK,
                Some(Codec::H264),
                AUDIO_TRACK,
                Some(Codec::Aac)
            )
        );
        assert_eq!(d.video_track(), Some(&tracks[0]));
        assert_eq!(d.audio_track(), Some(&tracks[1]));
        let video = packets.iter().filter(|p| p.track == VIDEO_TRACK).count();
        assert_eq!(video, 6);
        assert!(packets.iter().any(|p| p.track == AUDIO_TRACK));
        // Zero-copy: frames point into the file.
        let range = H264_AAC_FLV.as_ptr_range();
        assert!(packets.iter().all(|p| range.contains(&p.data.as_ptr())));
    }

    #[test]
    fn frames_before_their_header_warn_once() {
        let mut d = FlvDepacketizer::new();
        let frame = body(&[0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41]);
        let first = d.video(0, &frame);
        assert_eq!(first.packet, None);
        assert!(first
            .warning
            .unwrap()
            .contains("before their sequence header"));
        assert_eq!(d.video(40, &frame), Depacketized::default());
        let aac = body(&[0xAF, 1, 0x21]);
        assert!(d.audio(0, &aac).warning.is_some());
        assert_eq!(d.audio(23, &aac).warning, None);
        // Broken bodies and unknown codecs: dropped with one warning per kind.
        assert!(d
            .video(0, &body(&[0x12, 0]))
            .warning
            .unwrap()
            .contains("Sorenson"));
        assert_eq!(d.video(0, &body(&[0x14, 0])).warning, None);
        assert!(d.audio(0, &body(&[])).warning.is_some());
        assert!(d.video(0, &body(&[0x17, 0, 0, 0, 0, 9])).warning.is_some());
        assert!(d.audio(0, &body(&[0xAF, 0])).warning.is_some());
        assert_eq!(d.warn_once("video", || "again".into()), None);
        assert_eq!(d.warn_once("other", || "new".into()), Some("new".into()));
    }

    #[test]
    fn mp3_track_from_the_first_frame_and_av1_passthrough() {
        let mut d = FlvDepacketizer::new();
        // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, joint stereo (0xFFFB9064).
        let mut frame = vec![0x2F, 0xFF, 0xFB, 0x90, 0x64];
        frame.resize(1 + 417, 0);
        let out = d.audio(1000, &body(&frame));
        let track = out.track.unwrap();
        assert_eq!(
            (track.id, track.codec, track.rate),
            (AUDIO_TRACK, Some(Codec::Mp3), 44100)
        );
        let packet = out.packet.unwrap();
        assert_eq!((packet.time, packet.data.len()), (1000, 417));
        // The next frame needs no new track.
        assert_eq!(d.audio(1026, &body(&frame)).track, None);
        // AV1 has no parser here: its av1C is kept as the init.
        let out = d.video(0, &body(b"\x90av01\x81\x00\x0c\x00"));
        let track = out.track.unwrap();
        assert_eq!(
            (track.codec, &track.init[..]),
            (Some(Codec::Av1), &[0x81, 0, 0x0c, 0][..])
        );
        let out = d.video(0, &body(b"\x91av01obu"));
        assert_eq!(out.packet.unwrap().data, Bytes::from_static(b"obu"));
    }

    #[test]
    fn frame_rate_hint_from_metadata() {
        let mut d = FlvDepacketizer::new();
        let meta = |key: &str, fps: f64| {
            vec![
                Amf0Value::String("@setDataFrame".into()),
                Amf0Value::String("onMetaData".into()),
                Amf0Value::EcmaArray(vec![(key.into(), Amf0Value::Number(fps))]),
            ]
        };
        d.metadata(&meta("videoframerate", 29.97));
        // An AV1 config carries no frame rate: the hint fills it in.
        let out = d.video(0, &body(b"\x90av01\x81"));
        assert_eq!(out.track.unwrap().fpks, 29970);
        d.metadata(&meta("framerate", 5000.0));
        assert_eq!(d.video(0, &body(b"\x90av01\x81")).track.unwrap().fpks, 0);
        // Not onMetaData: ignored.
        d.metadata(&[Amf0Value::String("onCuePoint".into())]);
    }
}
