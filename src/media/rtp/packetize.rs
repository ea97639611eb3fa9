//! [`Packetizer`]: the [`Packet`]s of one track into RTP packets.
//!
//! Timestamps are the packet's presentation time (`time + offset`) in the track's clock
//! ([`super::clock_rate`]) plus a starting value. Audio frames follow each other sample-exactly:
//! when a frame's time is within 2 ms of where the previous frame ended, it gets that
//! timestamp, so the millisecond rounding of our times does not jitter the RTP clock.
//!
//! Marker bits: set on the last packet of each video frame (RFC 6184 5.1, RFC 7798 4.1) and of
//! each AAC frame (RFC 3640 3.2.3); on the first Opus / G.711 packet only (the start of the
//! talkspurt, RFC 3551 4.1); never for MPEG audio.

use bytes::{Bytes, BytesMut};

use super::super::nal::NalFlavor;
use super::super::ogg::codecs::opus_samples;
use super::super::{h264, hevc, mp3, Codec, Packet, Track};
use super::header::{put_header, HEADER_LEN};
use super::video::nal_payloads;
use super::{aac, clock_rate, g711, mpa, opus, RtpError, DEFAULT_MTU};

/// Turns one track's packets into RTP packets with its own SSRC and sequence numbers.
#[derive(Debug, Clone)]
pub struct Packetizer {
    kind: Kind,
    payload_type: u8,
    ssrc: u32,
    sequence: u16,
    timestamp_base: u32,
    clock_rate: u32,
    mtu: usize,
    packets: u32,
    octets: u32,
    /// Where the last audio frame ended: (its RTP timestamp + duration).
    next_audio: Option<u32>,
    sent_any: bool,
}

/// One packet to send: marker, RTP timestamp, payload.
type Piece = (bool, u32, Vec<u8>);

#[derive(Debug, Clone)]
enum Kind {
    Nal {
        flavor: NalFlavor,
        length_size: u8,
        parameter_sets: Vec<Bytes>,
    },
    Aac {
        rate: u32,
    },
    Opus,
    G711 {
        channels: usize,
    },
    Mpa,
}

impl Packetizer {
    /// A packetizer for `track`, sending payload type `payload_type` as `ssrc`, starting at
    /// sequence number and timestamp 0 ([`Packetizer::with_start`] to pick random ones, as RFC
    /// 3550 5.1 advises).
    pub fn new(track: &Track, payload_type: u8, ssrc: u32) -> Result<Packetizer, RtpError> {
        let unsupported = || RtpError::Unsupported(format!("{:?}", track.codec));
        let clock = clock_rate(track).ok_or_else(unsupported)?;
        let kind = match track.codec.ok_or_else(unsupported)? {
            Codec::H264 => {
                let cfg = h264::parse_avcc(&track.init)
                    .map_err(|e| RtpError::Unsupported(format!("H.264 track: {e}")))?;
                Kind::Nal {
                    flavor: NalFlavor::H264,
                    length_size: cfg.length_size,
                    parameter_sets: [cfg.sps, cfg.pps].concat(),
                }
            }
            Codec::Hevc => {
                let cfg = hevc::parse_hvcc(&track.init)
                    .map_err(|e| RtpError::Unsupported(format!("HEVC track: {e}")))?;
                Kind::Nal {
                    flavor: NalFlavor::Hevc,
                    length_size: cfg.length_size,
                    parameter_sets: [cfg.vps, cfg.sps, cfg.pps].concat(),
                }
            }
            Codec::Aac => Kind::Aac { rate: track.rate },
            Codec::Opus => Kind::Opus,
            Codec::Ulaw | Codec::Alaw => Kind::G711 {
                channels: usize::try_from(track.channels.max(1)).unwrap_or(1),
            },
            Codec::Mp3 => Kind::Mpa,
            _ => return Err(unsupported()),
        };
        Ok(Packetizer {
            kind,
            payload_type,
            ssrc,
            sequence: 0,
            timestamp_base: 0,
            clock_rate: clock,
            mtu: DEFAULT_MTU,
            packets: 0,
            octets: 0,
            next_audio: None,
            sent_any: false,
        })
    }

    /// The first sequence number and the RTP timestamp of time 0.
    pub fn with_start(mut self, sequence: u16, timestamp: u32) -> Packetizer {
        self.sequence = sequence;
        self.timestamp_base = timestamp;
        self
    }

    /// The largest payload a packet gets (at least 64 bytes).
    pub fn with_mtu(mut self, mtu: usize) -> Packetizer {
        self.mtu = mtu.max(64);
        self
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    pub fn clock_rate(&self) -> u32 {
        self.clock_rate
    }

    /// The sequence number of the next packet (RTSP's RTP-Info `seq`).
    pub fn next_sequence(&self) -> u16 {
        self.sequence
    }

    /// Packets and payload octets sent so far (for RTCP sender reports; both wrap).
    pub fn counts(&self) -> (u32, u32) {
        (self.packets, self.octets)
    }

    /// The RTP timestamp of a presentation time in milliseconds (RTP-Info `rtptime`, RTCP).
    pub fn rtp_timestamp(&self, ms: i64) -> u32 {
        let ticks = i128::from(ms) * i128::from(self.clock_rate) / 1000;
        // RTP time is modulo 2^32: the truncation is the wrap.
        self.timestamp_base
            .wrapping_add((ticks.rem_euclid(1 << 32)) as u32)
    }

    /// The RTP packets of one frame, headers included.
    pub fn packetize(&mut self, packet: &Packet) -> Result<Vec<Bytes>, RtpError> {
        let presentation = packet.time.saturating_add(i64::from(packet.offset));
        let mut timestamp = self.rtp_timestamp(presentation);
        if let Some(next) = self.next_audio {
            let slack = self.clock_rate / 500;
            if timestamp
                .wrapping_sub(next)
                .min(next.wrapping_sub(timestamp))
                <= slack
            {
                timestamp = next;
            }
        }
        let (pieces, next_audio) = self.pieces(packet, timestamp)?;
        self.next_audio = next_audio;
        Ok(pieces
            .into_iter()
            .map(|(marker, at, payload)| self.wrap(marker, at, &payload))
            .collect())
    }

    /// (marker, timestamp, payload) of each packet of a frame at `timestamp`, and where the
    /// frame ends for audio.
    fn pieces(
        &self,
        packet: &Packet,
        timestamp: u32,
    ) -> Result<(Vec<Piece>, Option<u32>), RtpError> {
        let data = &packet.data;
        let mtu = self.mtu;
        let first = !self.sent_any;
        let last_marked = |payloads: Vec<Vec<u8>>| {
            let last = payloads.len().saturating_sub(1);
            payloads
                .into_iter()
                .enumerate()
                .map(|(i, p)| (i == last, timestamp, p))
                .collect::<Vec<_>>()
        };
        Ok(match &self.kind {
            Kind::Nal {
                flavor,
                length_size,
                parameter_sets,
            } => {
                let payloads = nal_payloads(
                    *flavor,
                    data,
                    *length_size,
                    parameter_sets,
                    packet.keyframe,
                    mtu,
                )?;
                (last_marked(payloads), None)
            }
            Kind::Aac { rate } => {
                let pieces = last_marked(aac::payloads(data, mtu)?);
                let end = timestamp.wrapping_add(self.samples(1024, *rate));
                (pieces, Some(end))
            }
            Kind::Opus => {
                let pieces = opus::payloads(data, mtu)?
                    .into_iter()
                    .map(|p| (first, timestamp, p))
                    .collect();
                let end = opus_samples(data).map(|s| timestamp.wrapping_add(s));
                (pieces, end)
            }
            Kind::G711 { channels } => {
                let mut end = timestamp;
                let mut pieces = Vec::new();
                for (i, (payload, offset)) in
                    g711::payloads(data, mtu, *channels).into_iter().enumerate()
                {
                    let at = timestamp.wrapping_add(offset);
                    end = at.wrapping_add(u32::try_from(payload.len() / channels).unwrap_or(0));
                    pieces.push((first && i == 0, at, payload));
                }
                (pieces, Some(end))
            }
            Kind::Mpa => {
                let pieces = mpa::payloads(data, mtu)?
                    .into_iter()
                    .map(|p| (false, timestamp, p))
                    .collect();
                let end = mp3::parse_header(data).ok().map(|h| {
                    timestamp.wrapping_add(self.samples(h.samples_per_frame, h.sample_rate))
                });
                (pieces, end)
            }
        })
    }

    /// `samples` at `rate` in clock ticks.
    fn samples(&self, samples: u32, rate: u32) -> u32 {
        let ticks = u64::from(samples) * u64::from(self.clock_rate) / u64::from(rate.max(1));
        u32::try_from(ticks).unwrap_or(u32::MAX)
    }

    /// One RTP packet: header and payload; counts it.
    fn wrap(&mut self, marker: bool, timestamp: u32, payload: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(HEADER_LEN + payload.len());
        put_header(
            &mut out,
            marker,
            self.payload_type,
            self.sequence,
            timestamp,
            self.ssrc,
        );
        out.extend_from_slice(payload);
        self.sequence = self.sequence.wrapping_add(1);
        self.packets = self.packets.wrapping_add(1);
        // Payloads are at most a few kilobytes.
        self.octets = self.octets.wrapping_add(payload.len() as u32);
        self.sent_any = true;
        out.freeze()
    }
}
