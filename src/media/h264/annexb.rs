//! A raw H.264 elementary stream (the Annex B byte stream of ISO/IEC 14496-10, as encoders
//! write it to a pipe: `ffmpeg -f h264 -`) turned into a track and packets.
//!
//! - NAL units are split at the `00 00 01` start codes (Annex B.1); bytes before the first start
//!   code are skipped, trailing zero bytes cut.
//! - Access units are told apart by the rules of 7.4.1.2.3: an access unit delimiter (type 9),
//!   SPS (7), PPS (8), SEI (6) or types 14..=18 after a picture's slices start a new one, and so
//!   does a slice (types 1..=5) with `first_mb_in_slice == 0` (the first slice of a new
//!   picture; arbitrary slice order, Baseline-only, is not supported) after slices.
//! - The last SPS and PPS make the track (avcC, [`super::build_avcc`]); a new one replaces it.
//!   Packets carry the other units length-prefixed (4 bytes), without delimiters, filler data
//!   and the parameter sets the avcC holds.
//! - Keyframes are access units with an IDR slice (type 5).
//! - The byte stream has no timestamps: access unit `n` is decoded at `n / fps`, the frame
//!   rate being the SPS's VUI timing (`time_scale / (2 * num_units_in_tick)`, Annex E.2.1) or
//!   [`DEFAULT_FPKS`] without it. Presentation times equal decode times (a stream with B-frames
//!   keeps its decoding order; its composition offsets are not rebuilt). Each access unit is
//!   one frame: field pictures coded as separate access units run at twice the rate.
//! - Memory is bounded: a NAL unit or access unit over [`MAX_ACCESS_UNIT`] bytes is dropped
//!   (with an error event) and reading resumes at the next start code / access unit.

use std::collections::VecDeque;

use bytes::Bytes;

use super::super::nal;
use super::super::{Packet, Track};
use super::{build_avcc, nal_type, track_from_avcc, NAL_IDR, NAL_PPS, NAL_SPS};

/// Frame rate used when the SPS has no VUI timing: 25 fps (in frames per 1000 s).
pub const DEFAULT_FPKS: u32 = 25_000;
/// Largest access unit (and NAL unit) kept: 8 MiB, far above any real frame.
pub const MAX_ACCESS_UNIT: usize = 8 << 20;
/// The track id of the video.
pub const TRACK_ID: u32 = 1;

const NAL_SEI: u8 = 6;
const NAL_AUD: u8 = 9;
const NAL_FILLER: u8 = 12;

/// What the reader found.
#[derive(Debug, Clone, PartialEq)]
pub enum AnnexBEvent {
    /// The track, first and whenever the parameter sets change.
    Track(Track),
    /// One access unit (a frame).
    Packet(Packet),
}

/// Problems in the byte stream; reading goes on after each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnexBError {
    #[error("H.264 NAL unit over {MAX_ACCESS_UNIT} bytes dropped")]
    NalTooLarge,
    #[error("H.264 access unit over {MAX_ACCESS_UNIT} bytes dropped")]
    AccessUnitTooLarge,
    #[error("H.264 NAL unit with the forbidden_zero_bit set dropped")]
    ForbiddenBit,
    #[error("H.264 parameter sets: {0}")]
    ParameterSets(String),
}

/// Reads an Annex B H.264 byte stream fed in chunks of any size.
#[derive(Debug, Default)]
pub struct AnnexBReader {
    /// Bytes not yet split into NAL units.
    pending: Vec<u8>,
    /// Where the unit being read starts in `pending` (just after its start code); `None`
    /// while looking for a start code.
    unit_start: Option<usize>,
    /// Where scanning resumes in `pending`.
    scan_at: usize,
    /// Zero bytes just before `scan_at`.
    zeros: usize,
    /// The access unit being gathered.
    unit_nals: Vec<Vec<u8>>,
    unit_size: usize,
    unit_has_slice: bool,
    /// The access unit being gathered grew too large: its units are skipped.
    unit_dropped: bool,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    /// The parameter sets changed since the track was made (or none was made yet).
    stale: bool,
    track: Option<Track>,
    /// Frame rate of the timing, and the time of frame 0 at that rate.
    fpks: u32,
    base_ms: i64,
    frames: u64,
    events: VecDeque<Result<AnnexBEvent, AnnexBError>>,
}

impl AnnexBReader {
    pub fn new() -> Self {
        AnnexBReader::default()
    }

    /// Reads the next chunk of the byte stream; the events it completes are ready in
    /// [`AnnexBReader::pull`].
    pub fn push(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
        let mut i = self.scan_at;
        while let Some(&byte) = self.pending.get(i) {
            match byte {
                0 => self.zeros = self.zeros.saturating_add(1),
                1 if self.zeros >= 2 => {
                    if let Some(start) = self.unit_start {
                        // The unit ends before this start code's `00 00 01`.
                        let end = i.saturating_sub(2).max(start);
                        let unit = trim_zeros(self.pending.get(start..end).unwrap_or_default());
                        let unit = unit.to_vec();
                        self.on_nal(unit);
                    }
                    self.unit_start = Some(i + 1);
                    self.zeros = 0;
                }
                _ => self.zeros = 0,
            }
            i += 1;
        }
        // Keep only the unit being read (and nothing while unsynchronised).
        let keep_from = self.unit_start.unwrap_or(self.pending.len());
        self.pending.drain(..keep_from);
        self.scan_at = self.pending.len();
        if self.unit_start.is_some() {
            self.unit_start = Some(0);
        }
        if self.pending.len() > MAX_ACCESS_UNIT {
            self.pending.clear();
            self.scan_at = 0;
            self.unit_start = None;
            // Taken as a picture: the next one starts a new access unit, and time moves on.
            self.unit_nals.clear();
            self.unit_has_slice = true;
            self.unit_dropped = true;
            self.events.push_back(Err(AnnexBError::NalTooLarge));
        }
    }

    /// The stream ended: its last unit and access unit are complete now.
    pub fn finish(&mut self) {
        if let Some(start) = self.unit_start.take() {
            let unit = trim_zeros(self.pending.get(start..).unwrap_or_default()).to_vec();
            self.on_nal(unit);
        }
        self.pending.clear();
        self.scan_at = 0;
        self.zeros = 0;
        self.end_access_unit();
    }

    /// The next track, packet or problem, in stream order.
    pub fn pull(&mut self) -> Option<Result<AnnexBEvent, AnnexBError>> {
        self.events.pop_front()
    }

    fn on_nal(&mut self, unit: Vec<u8>) {
        let Some(&header) = unit.first() else {
            return;
        };
        if header & 0x80 != 0 {
            self.events.push_back(Err(AnnexBError::ForbiddenBit));
            return;
        }
        let kind = header & 0x1F;
        let slice = (1..=5).contains(&kind);
        // 7.4.1.2.3: these come before the first slice of an access unit, so after slices
        // they start the next one. first_mb_in_slice is ue(v): 0 is a single 1 bit.
        let starts_unit = matches!(kind, NAL_SEI | NAL_SPS | NAL_PPS | NAL_AUD | 14..=18)
            || (slice && unit.get(1).is_some_and(|b| b & 0x80 != 0));
        if starts_unit && self.unit_has_slice {
            self.end_access_unit();
        }
        match kind {
            NAL_SPS => self.set_parameter_set(true, &unit),
            NAL_PPS => self.set_parameter_set(false, &unit),
            _ => {}
        }
        self.unit_has_slice |= slice;
        if self.unit_dropped {
            return;
        }
        self.unit_size = self.unit_size.saturating_add(unit.len() + 4);
        if self.unit_size > MAX_ACCESS_UNIT {
            self.unit_nals.clear();
            self.unit_dropped = true;
            self.events.push_back(Err(AnnexBError::AccessUnitTooLarge));
            return;
        }
        self.unit_nals.push(unit);
    }

    fn set_parameter_set(&mut self, sps: bool, unit: &[u8]) {
        let slot = if sps { &mut self.sps } else { &mut self.pps };
        if slot.as_deref() != Some(unit) {
            *slot = Some(unit.to_vec());
            self.stale = true;
        }
    }

    /// Makes the gathered access unit a packet (when it has a slice and a track exists).
    fn end_access_unit(&mut self) {
        let nals = std::mem::take(&mut self.unit_nals);
        let (had_slice, dropped) = (self.unit_has_slice, self.unit_dropped);
        self.unit_size = 0;
        self.unit_has_slice = false;
        self.unit_dropped = false;
        if self.stale {
            self.rebuild_track();
        }
        if !had_slice || self.track.is_none() {
            return;
        }
        if dropped {
            // The frame's time passes without it.
            self.frames = self.frames.saturating_add(1);
            return;
        }
        let mut data = Vec::with_capacity(nals.iter().map(|n| n.len() + 4).sum());
        let mut keyframe = false;
        for unit in &nals {
            let kind = nal_type(unit);
            let in_config = |set: &Option<Vec<u8>>| set.as_deref() == Some(unit.as_slice());
            if matches!(kind, Some(NAL_AUD | NAL_FILLER))
                || in_config(&self.sps)
                || in_config(&self.pps)
            {
                continue;
            }
            keyframe |= kind == Some(NAL_IDR);
            if nal::put_length_prefixed(&mut data, unit).is_err() {
                return; // cannot happen below MAX_ACCESS_UNIT
            }
        }
        let time = self
            .base_ms
            .saturating_add(frame_ms(self.frames, self.fpks));
        self.frames = self.frames.saturating_add(1);
        self.events.push_back(Ok(AnnexBEvent::Packet(Packet {
            track: TRACK_ID,
            time,
            offset: 0,
            keyframe,
            data: Bytes::from(data),
        })));
    }

    fn rebuild_track(&mut self) {
        let (Some(sps), Some(pps)) = (&self.sps, &self.pps) else {
            return;
        };
        self.stale = false;
        let built = build_avcc(sps, pps).and_then(track_from_avcc);
        let mut track = match built {
            Ok(t) => t,
            Err(e) => {
                self.events
                    .push_back(Err(AnnexBError::ParameterSets(e.to_string())));
                return;
            }
        };
        track.id = TRACK_ID;
        if track.fpks == 0 {
            track.fpks = DEFAULT_FPKS;
        }
        if track.fpks != self.fpks {
            // Later frames follow on from the next frame's time at the old rate.
            if self.fpks != 0 {
                self.base_ms = self
                    .base_ms
                    .saturating_add(frame_ms(self.frames, self.fpks));
            }
            self.fpks = track.fpks;
            self.frames = 0;
        }
        if self.track.as_ref() != Some(&track) {
            self.track = Some(track.clone());
            self.events.push_back(Ok(AnnexBEvent::Track(track)));
        }
    }
}

/// The time of frame `n` at `fpks` frames per 1000 s, in milliseconds.
fn frame_ms(n: u64, fpks: u32) -> i64 {
    let ms = u128::from(n) * 1_000_000 / u128::from(fpks.max(1));
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// `unit` without its trailing zero bytes (trailing_zero_8bits, B.1.2).
fn trim_zeros(unit: &[u8]) -> &[u8] {
    let used = unit.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    unit.get(..used).unwrap_or_default()
}

#[cfg(test)]
mod tests;
