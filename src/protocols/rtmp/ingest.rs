//! Publishing over RTMP: audio and video messages become tracks and packets in the stream's
//! live buffer.
//!
//! RTMP audio and video message bodies are FLV tag bodies; [`FlvDepacketizer`] turns them into
//! tracks and packets (video track 1, audio track 2, frames before their sequence header
//! dropped, problems logged once per stream; they never end the connection). This adapter adds
//! what is RTMP's: the message types, aggregate messages, extending 32-bit timestamps, the byte
//! counters, and writing to the publisher's buffer. `@setDataFrame`/`onMetaData` only
//! contributes a frame rate when the SPS has none.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::chunk::{extend_timestamp, RtmpMessage};
use super::message as msg;
use crate::hub::buffer::WriteError;
use crate::hub::Publisher;
use crate::media::flv::depacketize;
use crate::media::flv::{Depacketized, FlvDepacketizer};

/// Track ids of an RTMP publish.
pub const VIDEO_TRACK: u32 = depacketize::VIDEO_TRACK;
pub const AUDIO_TRACK: u32 = depacketize::AUDIO_TRACK;

/// One publish in progress.
pub struct Ingest {
    pub name: String,
    publisher: Publisher,
    /// Tag bodies to tracks and packets; also remembers which problems were logged.
    depacketizer: FlvDepacketizer,
    /// Last extended timestamp per track (video, audio), for 32-bit wrap-around.
    last_time: [Option<i64>; 2],
}

impl Ingest {
    pub fn new(name: String, publisher: Publisher) -> Self {
        // Packets that came in one read of the socket go to viewers together
        // ([`Ingest::wake_viewers`] before each wait for more).
        publisher.buffer.defer_wakes(publisher.token);
        Ingest {
            name,
            publisher,
            depacketizer: FlvDepacketizer::new(),
            last_time: [None, None],
        }
    }

    /// Lets viewers see what was written since the last call: the connection calls it before
    /// it waits for more from the socket.
    pub fn wake_viewers(&self) {
        self.publisher.buffer.wake_deferred();
    }

    /// Takes one audio, video, data or aggregate message. An error ends the publish.
    pub fn on_message(&mut self, m: &RtmpMessage) -> Result<(), WriteError> {
        self.publisher
            .buffer
            .counters
            .bytes_in
            .fetch_add(m.payload.len() as u64, Ordering::Relaxed);
        match m.msg_type {
            msg::VIDEO => self.on_video(m.timestamp, &m.payload),
            msg::AUDIO => self.on_audio(m.timestamp, &m.payload),
            msg::DATA_AMF0 | msg::DATA_AMF3 => {
                if let Ok(values) = msg::parse_data(m.msg_type, &m.payload) {
                    self.depacketizer.metadata(&values);
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
                    let text = || format!("broken aggregate message dropped: {e}");
                    if let Some(text) = self.depacketizer.warn_once("aggregate", text) {
                        self.warn(&text);
                    }
                    Ok(())
                }
            },
            _ => Ok(()),
        }
    }

    fn warn(&self, text: &str) {
        tracing::warn!(
            kind = "STRM",
            stream = self.name.as_str(),
            "{}: {text}",
            self.name
        );
    }

    /// The 64-bit time of a message on `slot`'s timeline; the timeline moves on only when a
    /// packet is kept (see [`Ingest::write`]).
    fn time(&self, slot: usize, ts: u32) -> i64 {
        match self.last_time[slot] {
            Some(last) => extend_timestamp(last, ts),
            None => i64::from(ts),
        }
    }

    fn on_video(&mut self, ts: u32, body: &Bytes) -> Result<(), WriteError> {
        let time = self.time(0, ts);
        let out = self.depacketizer.video(time, body);
        self.write(0, time, out)
    }

    fn on_audio(&mut self, ts: u32, body: &Bytes) -> Result<(), WriteError> {
        let time = self.time(1, ts);
        let out = self.depacketizer.audio(time, body);
        self.write(1, time, out)
    }

    /// Logs, announces and buffers what the depacketizer found, in that order.
    fn write(&mut self, slot: usize, time: i64, out: Depacketized) -> Result<(), WriteError> {
        if let Some(text) = &out.warning {
            self.warn(text);
        }
        if let Some(track) = out.track {
            self.publisher
                .buffer
                .set_track(self.publisher.token, track)?;
        }
        if let Some(packet) = out.packet {
            self.last_time[slot] = Some(time);
            self.publisher.buffer.push(self.publisher.token, packet)?;
        }
        Ok(())
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        // What the last read brought, for a publish that ends between reads.
        self.wake_viewers();
    }
}
