//! AAC in RFC 6416 `MP4A-LATM` payloads (RFC 3016 3.2): AudioMuxElements of ISO/IEC 14496-3
//! 1.7.3, read with the LATM code of the TS demuxer ([`crate::media::ts::latm`]).
//!
//! ```text
//! cpresent=0 (the StreamMuxConfig is the SDP's config=):
//!   { PayloadLengthInfo | PayloadMux } x (numSubFrames + 1), one or more elements a packet
//! cpresent=1: AudioMuxElement(1): useSameStreamMux u1 | [StreamMuxConfig] | the same
//! ```
//!
//! An element larger than a packet is fragmented: the packets of one timestamp are joined
//! until the one with the marker bit (RFC 6416 6.3). Frames are 1024 samples apart. Receiving
//! only: Eddy sends AAC as `mpeg4-generic`.

use super::super::aac;
use super::super::ts::latm::{parse_audio_mux_element, parse_payload_mux, LatmConfig};
use super::depacketize::Sink;

/// Largest AudioMuxElement reassembled.
const MAX_ELEMENT: usize = 1 << 16;

#[derive(Debug)]
pub(super) struct LatmDepacketizer {
    config: Option<LatmConfig>,
    /// The configuration came from the SDP (`cpresent=0`).
    out_of_band: bool,
    clock: i64,
    buffer: Vec<u8>,
    buffer_ticks: Option<i64>,
}

impl LatmDepacketizer {
    pub(super) fn new(config: Option<LatmConfig>, clock_rate: u32) -> LatmDepacketizer {
        LatmDepacketizer {
            out_of_band: config.is_some(),
            config,
            clock: i64::from(clock_rate),
            buffer: Vec::new(),
            buffer_ticks: None,
        }
    }

    pub(super) fn loss(&mut self) {
        self.buffer.clear();
    }

    pub(super) fn push(
        &mut self,
        payload: &[u8],
        marker: bool,
        ticks: i64,
        sink: &mut Sink,
    ) -> Result<(), String> {
        if !self.buffer.is_empty() && self.buffer_ticks != Some(ticks) {
            self.buffer.clear();
            sink.error("fragmented AudioMuxElement never completed".into());
        }
        self.buffer_ticks = Some(ticks);
        if self.buffer.len() + payload.len() > MAX_ELEMENT {
            return Err(format!("AudioMuxElement over {MAX_ELEMENT} bytes"));
        }
        self.buffer.extend_from_slice(payload);
        if !marker {
            return Ok(());
        }
        let data = std::mem::take(&mut self.buffer);
        if self.out_of_band {
            let Some(config) = self.config.clone() else {
                return Ok(());
            };
            let mut at = 0usize;
            let mut index = 0i64;
            while let Some(rest) = data.get(at..).filter(|r| !r.is_empty()) {
                let (frames, used) = parse_payload_mux(rest, &config)?;
                for frame in frames {
                    sink.packet(self.frame_time(ticks, index, &config), false, frame);
                    index += 1;
                }
                if used == 0 {
                    break;
                }
                at += used;
            }
            return Ok(());
        }
        let Some(found) = parse_audio_mux_element(&data, self.config.as_ref())? else {
            return Ok(());
        };
        if self.config.as_ref() != Some(&found.config) {
            let track = aac::track_from_asc(found.config.asc.clone()).map_err(|e| e.to_string())?;
            sink.announce(track);
            self.config = Some(found.config.clone());
        }
        for (index, frame) in (0i64..).zip(found.frames) {
            sink.packet(self.frame_time(ticks, index, &found.config), false, frame);
        }
        Ok(())
    }

    fn frame_time(&self, ticks: i64, index: i64, config: &LatmConfig) -> i64 {
        let rate = i64::from(config.sample_rate.max(1));
        ticks.saturating_add(index * 1024 * self.clock / rate)
    }
}

/// Frames of an element (test helper for building payloads): length bytes then the frame.
#[cfg(test)]
pub(super) fn element(frames: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for frame in frames {
        let mut len = frame.len();
        while len >= 255 {
            out.push(255);
            len -= 255;
        }
        out.push(len as u8);
        out.extend_from_slice(frame);
    }
    out
}
