//! [`Depacketizer`]: the RTP packets of one track in, [`RtpEvent`]s out.
//!
//! Sequence numbers (RFC 3550 A.1, simplified): the next packet is expected to carry the last
//! number + 1. A packet ahead of that is a gap (the missing ones are counted as lost, the frame
//! in progress is dropped and an [`RtpError::Lost`] is reported); one behind it (a duplicate or a
//! late, reordered packet) is dropped and counted. A new SSRC is a discontinuity like a gap.
//!
//! Timestamps: each 32-bit RTP timestamp is extended to the value nearest the previous one,
//! then `ms = origin_ms + (ticks - origin_ticks) * 1000 / clock` (rounded down); the origin is
//! the first packet at 0 ms unless [`Depacketizer::set_origin`] says otherwise.

use std::collections::VecDeque;

use bytes::Bytes;

use super::super::nal::NalFlavor;
use super::super::{Packet, Track};
use super::aac::AacDepacketizer;
use super::latm::LatmDepacketizer;
use super::mpa::MpaDepacketizer;
use super::video::NalAssembler;
use super::{PayloadFormat, RtpError, RtpEvent, RtpPacket};

const WRAP: i64 = 1 << 32;
/// Events held before the caller pulls them (a caller that never pulls loses the oldest).
const MAX_EVENTS: usize = 1024;

/// Turns one track's RTP packets into [`RtpEvent`]s: [`push`](Self::push) each packet as it
/// arrives, then [`pull`](Self::pull) until `None`. Problems come out as errors between the
/// events; the depacketizer carries on with the next packet.
#[derive(Debug)]
pub struct Depacketizer {
    track: Track,
    timeline: Timeline,
    format: Format,
    next_sequence: Option<u16>,
    ssrc: Option<u32>,
    lost: u64,
    late: u64,
    events: VecDeque<Result<RtpEvent, RtpError>>,
}

#[derive(Debug)]
enum Format {
    Nal(NalAssembler),
    Aac(AacDepacketizer),
    Latm(LatmDepacketizer),
    Opus,
    G711,
    Mpa(MpaDepacketizer),
}

impl Depacketizer {
    /// A depacketizer for `track` (its id, codec and init as the SDP gave them) carried in
    /// `format` with an RTP clock of `clock_rate` Hz.
    pub fn new(
        track: Track,
        format: PayloadFormat,
        clock_rate: u32,
    ) -> Result<Depacketizer, RtpError> {
        if clock_rate == 0 {
            return Err(RtpError::Unsupported("RTP clock rate 0".into()));
        }
        let rate = if track.rate > 0 {
            track.rate
        } else {
            clock_rate
        };
        let format = match format {
            PayloadFormat::H264 => Format::Nal(NalAssembler::new(NalFlavor::H264, &track.init)),
            PayloadFormat::Hevc => Format::Nal(NalAssembler::new(NalFlavor::Hevc, &track.init)),
            PayloadFormat::Mpeg4Generic(layout) => {
                Format::Aac(AacDepacketizer::new(layout, rate, clock_rate)?)
            }
            PayloadFormat::Latm(config) => Format::Latm(LatmDepacketizer::new(config, clock_rate)),
            PayloadFormat::Opus => Format::Opus,
            PayloadFormat::G711 => Format::G711,
            PayloadFormat::Mpa => Format::Mpa(MpaDepacketizer::new(clock_rate)),
        };
        Ok(Depacketizer {
            track,
            timeline: Timeline::new(clock_rate),
            format,
            next_sequence: None,
            ssrc: None,
            lost: 0,
            late: 0,
            events: VecDeque::new(),
        })
    }

    /// The track as known now (updated by in-band parameters before the [`RtpEvent::Track`]
    /// that announces it).
    pub fn track(&self) -> &Track {
        &self.track
    }

    /// Packets lost so far (sequence number gaps).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Packets dropped so far for coming late (duplicates, reordered).
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Says that RTP timestamp `timestamp` is `ms` on the stream's timeline (from RTSP's
    /// RTP-Info or an RTCP sender report), so tracks line up; by default the first packet is
    /// at 0 ms.
    pub fn set_origin(&mut self, timestamp: u32, ms: i64) {
        self.timeline.set_origin(timestamp, ms);
    }

    /// Takes one packet of this track.
    pub fn push(&mut self, packet: &RtpPacket) {
        if self.ssrc.is_some_and(|ssrc| ssrc != packet.ssrc) {
            self.next_sequence = None;
            self.format.loss();
        }
        self.ssrc = Some(packet.ssrc);
        if let Some(expected) = self.next_sequence {
            let ahead = packet.sequence.wrapping_sub(expected);
            if ahead >= 0x8000 {
                self.late += 1;
                return;
            }
            if ahead > 0 {
                self.lost += u64::from(ahead);
                self.format.loss();
                self.emit(Err(RtpError::Lost(u64::from(ahead))));
            }
        }
        self.next_sequence = Some(packet.sequence.wrapping_add(1));
        let ticks = self.timeline.extend(packet.timestamp);
        let mut sink = Sink {
            track: &mut self.track,
            events: &mut self.events,
            timeline: &self.timeline,
        };
        let result = match &mut self.format {
            Format::Nal(nal) => nal.push(&packet.payload, packet.marker, ticks, &mut sink),
            Format::Aac(aac) => aac.push(&packet.payload, packet.marker, ticks, &mut sink),
            Format::Latm(latm) => latm.push(&packet.payload, packet.marker, ticks, &mut sink),
            Format::Opus | Format::G711 => {
                sink.packet(ticks, false, packet.payload.clone());
                Ok(())
            }
            Format::Mpa(mpa) => mpa.push(&packet.payload, ticks, &mut sink),
        };
        if let Err(reason) = result {
            self.format.loss();
            let codec = self.track.codec.map_or("RTP", |c| c.mist_name());
            self.emit(Err(RtpError::Payload { codec, reason }));
        }
    }

    /// The next event, `None` when all are out.
    pub fn pull(&mut self) -> Option<Result<RtpEvent, RtpError>> {
        self.events.pop_front()
    }

    fn emit(&mut self, event: Result<RtpEvent, RtpError>) {
        push_bounded(&mut self.events, event);
    }
}

impl Format {
    /// Drops whatever was being assembled (a loss or a bad payload).
    fn loss(&mut self) {
        match self {
            Format::Nal(nal) => nal.loss(),
            Format::Aac(aac) => aac.loss(),
            Format::Latm(latm) => latm.loss(),
            Format::Mpa(mpa) => mpa.loss(),
            Format::Opus | Format::G711 => {}
        }
    }
}

fn push_bounded(events: &mut VecDeque<Result<RtpEvent, RtpError>>, e: Result<RtpEvent, RtpError>) {
    if events.len() >= MAX_EVENTS {
        events.pop_front();
    }
    events.push_back(e);
}

/// Where the payload formats put what they find.
pub(super) struct Sink<'a> {
    track: &'a mut Track,
    events: &'a mut VecDeque<Result<RtpEvent, RtpError>>,
    timeline: &'a Timeline,
}

impl Sink<'_> {
    /// The track as known now.
    pub(super) fn track(&self) -> &Track {
        self.track
    }

    /// A frame presented at `ticks` (extended RTP time); empty frames are dropped.
    pub(super) fn packet(&mut self, ticks: i64, keyframe: bool, data: Bytes) {
        if data.is_empty() {
            return;
        }
        let packet = Packet {
            track: self.track.id,
            time: self.timeline.ms(ticks),
            offset: 0,
            keyframe,
            data,
        };
        push_bounded(self.events, Ok(RtpEvent::Packet(packet)));
    }

    /// Reports a problem that drops nothing more (what it concerns is already dropped).
    pub(super) fn error(&mut self, reason: String) {
        let codec = self.track.codec.map_or("RTP", |c| c.mist_name());
        push_bounded(self.events, Err(RtpError::Payload { codec, reason }));
    }

    /// Announces `track` (its id is kept) unless it is the one already known.
    pub(super) fn announce(&mut self, mut track: Track) {
        track.id = self.track.id;
        if *self.track != track {
            *self.track = track.clone();
            push_bounded(self.events, Ok(RtpEvent::Track(track)));
        }
    }
}

/// Extended RTP time and its milliseconds.
#[derive(Debug)]
struct Timeline {
    clock: i64,
    last: Option<i64>,
    /// (ticks, ms) of a known point.
    origin: Option<(i64, i64)>,
}

impl Timeline {
    fn new(clock: u32) -> Timeline {
        Timeline {
            clock: i64::from(clock.max(1)),
            last: None,
            origin: None,
        }
    }

    /// The extended value of `timestamp` nearest the last one.
    fn nearest(&self, timestamp: u32) -> i64 {
        let ts = i64::from(timestamp);
        let Some(last) = self.last else {
            return ts;
        };
        let mut diff = ts - last.rem_euclid(WRAP);
        if diff > WRAP / 2 {
            diff -= WRAP;
        } else if diff < -WRAP / 2 {
            diff += WRAP;
        }
        last.saturating_add(diff)
    }

    fn extend(&mut self, timestamp: u32) -> i64 {
        let ticks = self.nearest(timestamp);
        self.last = Some(ticks);
        self.origin.get_or_insert((ticks, 0));
        ticks
    }

    fn set_origin(&mut self, timestamp: u32, ms: i64) {
        let ticks = self.nearest(timestamp);
        self.last.get_or_insert(ticks);
        self.origin = Some((ticks, ms));
    }

    fn ms(&self, ticks: i64) -> i64 {
        let (origin_ticks, origin_ms) = self.origin.unwrap_or((ticks, 0));
        let delta = (i128::from(ticks) - i128::from(origin_ticks)) * 1000;
        let ms = i128::from(origin_ms) + delta.div_euclid(i128::from(self.clock));
        i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_wrap_both_ways() {
        let mut t = Timeline::new(90_000);
        assert_eq!(t.extend(u32::MAX - 899), i64::from(u32::MAX - 899));
        assert_eq!(t.ms(t.last.unwrap()), 0);
        let after = t.extend(100);
        assert_eq!(after, WRAP + 100);
        assert_eq!(t.ms(after), 11); // 1000 ticks
        let before = t.extend(u32::MAX - 89_999);
        assert_eq!(t.ms(before), -990);
    }

    #[test]
    fn origin_lines_tracks_up() {
        let mut t = Timeline::new(48_000);
        t.set_origin(1_000, 5_000);
        let ticks = t.extend(49_000);
        assert_eq!(t.ms(ticks), 6_000);
    }
}
