//! Publishing over RTMP: audio and video messages become tracks and packets in the stream's
//! live buffer.
//!
//! Video is track 1 and audio track 2. A sequence header (avcC, hvcC, av1C, vpcC, or the AAC
//! AudioSpecificConfig) announces or updates a track; MP3 tracks are announced by their first
//! frame header. Frames that arrive before their track is known are dropped. Codecs Eddy cannot
//! carry, and broken tag bodies, are logged once per stream and dropped; they never end the
//! connection. `@setDataFrame`/`onMetaData` only contributes a frame rate when the SPS has none.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::chunk::{extend_timestamp, RtmpMessage};
use super::message as msg;
use crate::actors::stream::buffer::WriteError;
use crate::actors::stream::Publisher;
use crate::media::amf0::Amf0Value;
use crate::media::flv::{self, VideoPacketKind};
use crate::media::{aac, h264, hevc, mp3, Codec, Packet, Track};

/// Track ids of an RTMP publish.
pub const VIDEO_TRACK: u32 = 1;
pub const AUDIO_TRACK: u32 = 2;

/// One publish in progress.
pub struct Ingest {
    pub name: String,
    publisher: Publisher,
    video: Option<Track>,
    audio: Option<Track>,
    /// Last extended timestamp per track (video, audio), for 32-bit wrap-around.
    last_time: [Option<i64>; 2],
    /// Frame rate from onMetaData, used when the SPS does not say.
    fps_hint: Option<f64>,
    /// Problems already logged for this stream.
    warned: HashSet<String>,
}

impl Ingest {
    pub fn new(name: String, publisher: Publisher) -> Self {
        Ingest {
            name,
            publisher,
            video: None,
            audio: None,
            last_time: [None, None],
            fps_hint: None,
            warned: HashSet::new(),
        }
    }

    /// Takes one audio, video, data or aggregate message. An error ends the publish.
    pub fn on_message(&mut self, m: &RtmpMessage) -> Result<(), WriteError> {
        self.publisher
            .buffer
            .counters
            .up_bytes
            .fetch_add(m.payload.len() as u64, Ordering::Relaxed);
        match m.msg_type {
            msg::VIDEO => self.on_video(m.timestamp, &m.payload),
            msg::AUDIO => self.on_audio(m.timestamp, &m.payload),
            msg::DATA_AMF0 | msg::DATA_AMF3 => {
                if let Ok(values) = msg::parse_data(m.msg_type, &m.payload) {
                    self.on_data(&values);
                }
                Ok(())
            }
            msg::AGGREGATE => match msg::aggregate_parts(&m.payload) {
                Ok(parts) => {
                    for (t, ts, body) in parts {
                        match t {
                            msg::VIDEO => self.on_video(ts, &body)?,
                            msg::AUDIO => self.on_audio(ts, &body)?,
                            _ => {}
                        }
                    }
                    Ok(())
                }
                Err(e) => {
                    self.warn_once(
                        "aggregate",
                        &format!("broken aggregate message dropped: {e}"),
                    );
                    Ok(())
                }
            },
            _ => Ok(()),
        }
    }

    fn warn_once(&mut self, key: &str, text: &str) {
        if self.warned.insert(key.to_string()) {
            tracing::warn!(
                kind = "STRM",
                stream = self.name.as_str(),
                "{}: {text}",
                self.name
            );
        }
    }

    fn time(&mut self, slot: usize, ts: u32) -> i64 {
        let t = match self.last_time[slot] {
            Some(last) => extend_timestamp(last, ts),
            None => i64::from(ts),
        };
        self.last_time[slot] = Some(t);
        t
    }

    fn on_video(&mut self, ts: u32, body: &Bytes) -> Result<(), WriteError> {
        let tag = match flv::parse_video_body(body) {
            Ok(t) => t,
            Err(e) => {
                self.warn_once("video", &format!("video dropped: {e}"));
                return Ok(());
            }
        };
        match tag.kind {
            VideoPacketKind::SequenceHeader => {
                let parsed = match tag.codec {
                    Codec::H264 => {
                        h264::track_from_avcc(tag.data.clone()).map_err(|e| e.to_string())
                    }
                    Codec::Hevc => {
                        hevc::track_from_hvcc(tag.data.clone()).map_err(|e| e.to_string())
                    }
                    other => Ok(Track {
                        codec: Some(other),
                        init: tag.data.clone(),
                        ..Default::default()
                    }),
                };
                let mut track = match parsed {
                    Ok(t) => t,
                    Err(e) => {
                        self.warn_once("video-config", &format!("bad video sequence header: {e}"));
                        return Ok(());
                    }
                };
                track.id = VIDEO_TRACK;
                if track.fpks == 0 {
                    track.fpks = self
                        .fps_hint
                        .map(|f| (f * 1000.0).round() as u32)
                        .unwrap_or(0);
                }
                self.publisher
                    .buffer
                    .set_track(self.publisher.token, track.clone())?;
                self.video = Some(track);
                Ok(())
            }
            VideoPacketKind::Frame => {
                if self.video.as_ref().map(|t| t.codec) != Some(Some(tag.codec)) {
                    self.warn_once(
                        "video-early",
                        "video frames before their sequence header are dropped",
                    );
                    return Ok(());
                }
                let time = self.time(0, ts);
                let packet = Packet {
                    track: VIDEO_TRACK,
                    time,
                    offset: tag.cts,
                    keyframe: tag.keyframe,
                    data: tag.data,
                };
                self.publisher.buffer.push(self.publisher.token, packet)
            }
            _ => Ok(()),
        }
    }

    fn on_audio(&mut self, ts: u32, body: &Bytes) -> Result<(), WriteError> {
        let tag = match flv::parse_audio_body(body) {
            Ok(t) => t,
            Err(e) => {
                self.warn_once("audio", &format!("audio dropped: {e}"));
                return Ok(());
            }
        };
        if tag.sequence_header {
            let mut track = match aac::track_from_asc(tag.data.clone()) {
                Ok(t) => t,
                Err(e) => {
                    self.warn_once("audio-config", &format!("bad AAC sequence header: {e}"));
                    return Ok(());
                }
            };
            track.id = AUDIO_TRACK;
            self.publisher
                .buffer
                .set_track(self.publisher.token, track.clone())?;
            self.audio = Some(track);
            return Ok(());
        }
        if tag.data.is_empty() {
            return Ok(());
        }
        if tag.codec == Codec::Mp3 && self.audio.as_ref().and_then(|t| t.codec) != Some(Codec::Mp3)
        {
            match mp3::track_from_frame(&tag.data) {
                Ok(mut track) => {
                    track.id = AUDIO_TRACK;
                    self.publisher
                        .buffer
                        .set_track(self.publisher.token, track.clone())?;
                    self.audio = Some(track);
                }
                Err(e) => {
                    self.warn_once("mp3", &format!("bad MP3 frame dropped: {e}"));
                    return Ok(());
                }
            }
        }
        if self.audio.as_ref().and_then(|t| t.codec) != Some(tag.codec) {
            self.warn_once(
                "audio-early",
                "audio frames before their sequence header are dropped",
            );
            return Ok(());
        }
        let time = self.time(1, ts);
        let packet = Packet {
            track: AUDIO_TRACK,
            time,
            offset: 0,
            keyframe: false,
            data: tag.data,
        };
        self.publisher.buffer.push(self.publisher.token, packet)
    }

    fn on_data(&mut self, values: &[Amf0Value]) {
        // ["@setDataFrame", "onMetaData", {..}] or ["onMetaData", {..}]
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
}
