//! Opus access units (each behind its opus_control_header, [`opus::parse_access_unit`]) and
//! AAC in LOAS / LATM ([`latm`]): one packet per Opus packet or AAC frame, timed from the PES's
//! PTS plus the samples before it (Opus: from each packet's TOC byte, RFC 6716 3.1; AAC: 1024
//! a frame).

use bytes::Bytes;

use super::super::super::aac;
use super::super::super::ogg::codecs::{opus_samples, OpusHead};
use super::super::{latm, opus};
use super::TsDemuxer;

impl TsDemuxer {
    pub(super) fn on_opus(&mut self, index: usize, code: u8, pts: i64, payload: &Bytes) {
        let mut rest: &[u8] = payload;
        let mut samples = 0i64;
        while !rest.is_empty() {
            let (unit, after) = match opus::parse_access_unit(rest) {
                Ok(found) => found,
                Err(e) => return self.stream_error(index, format!("Opus: {e}")),
            };
            rest = after;
            let announced = self.streams.get(index).is_some_and(|es| es.track.is_some());
            if !announced {
                // The first access unit's start_trim is the decoder's pre-skip.
                let head = opus::opus_head(code, unit.start_trim.unwrap_or(0))
                    .and_then(|head| OpusHead::parse(&head));
                match head {
                    Ok(head) => self.announce(index, head.track()),
                    Err(e) => return self.stream_error(index, format!("Opus: {e}")),
                }
            }
            let Some(duration) = opus_samples(unit.packet) else {
                return self.stream_error(index, "Opus: empty access unit".into());
            };
            let time = pts.saturating_add(samples * 90_000 / 48_000);
            self.packet(index, time, time, false, payload.slice_ref(unit.packet));
            samples += i64::from(duration);
        }
    }

    pub(super) fn on_latm(&mut self, index: usize, pts: i64, payload: &Bytes) {
        let mut rest: &[u8] = payload;
        let (mut frame_time, mut samples) = (pts, 0i64);
        while !rest.is_empty() {
            let known = self.streams.get(index).and_then(|es| es.latm.clone());
            let (found, after) = match latm::parse_loas_frame(rest, known.as_ref()) {
                Ok(found) => found,
                Err(e) => return self.stream_error(index, format!("LATM: {e}")),
            };
            rest = after;
            // Frames before the first StreamMuxConfig cannot be decoded: skipped quietly.
            let Some(found) = found else { continue };
            if known.as_ref() != Some(&found.config) {
                match aac::track_from_asc(found.config.asc.clone()) {
                    Ok(track) => self.announce(index, track),
                    Err(e) => return self.stream_error(index, format!("LATM: {e}")),
                }
                if let Some(es) = self.streams.get_mut(index) {
                    es.latm = Some(found.config.clone());
                }
            }
            let rate = i64::from(found.config.sample_rate.max(1));
            for frame in found.frames {
                self.packet(index, frame_time, frame_time, false, frame);
                samples += 1024;
                frame_time = pts.saturating_add(samples * 90_000 / rate);
            }
        }
    }
}
