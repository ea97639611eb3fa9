//! RTP (RFC 3550) for RTSP: datagrams in, tracks and packets out ([`Depacketizer`]), and back
//! ([`Packetizer`]). Pure code: the RTSP layer owns the sockets and the interleaved framing.
//!
//! - [`header`]: the fixed header, [`RtpPacket::parse`] / [`RtpPacket::to_bytes`].
//! - [`Depacketizer`]: one per received track. Sequence numbers are followed (a gap counts the
//!   lost packets, drops the frame in progress, and H.264/HEVC wait for the next keyframe);
//!   32-bit RTP timestamps are extended (the value nearest the previous one) and turned into
//!   milliseconds from the track's first packet, or from an origin the RTSP layer sets from
//!   RTP-Info / RTCP ([`Depacketizer::set_origin`]).
//! - [`Packetizer`]: one per sent track: [`Packet`]s into RTP packets of at most an MTU of
//!   payload ([`DEFAULT_MTU`]), marker bits per payload format, timestamps from the packet's
//!   presentation time in the track's clock.
//! - One file per payload format: [`h264`] (RFC 6184), [`hevc`] (RFC 7798), [`aac`] (RFC 3640
//!   `mpeg4-generic`), [`latm`] (RFC 6416 `MP4A-LATM`), [`opus`] (RFC 7587), [`g711`] (RFC
//!   3551 PCMU / PCMA), [`mpa`] (RFC 2250 MPEG audio); [`rtcp`] for sender reports and BYE.
//!
//! What comes out matches the TS demuxer and RTMP ingest: video is length-prefixed NAL units
//! (4-byte lengths) with avcC / hvcC as the track's init (parameter sets and access unit
//! delimiters left out of the frames); AAC is raw frames with the AudioSpecificConfig as init;
//! audio packets are never keyframes.
//!
//! Decode time: RTP carries presentation times only. Packets come out with `time` = the
//! presentation time and `offset` 0, so a stream with B-frames has times that are not
//! monotonic in decode order (recovering the decode order would need the slice headers' picture
//! order counts; not done).

pub mod aac;
mod depacketize;
pub mod g711;
pub mod h264;
pub mod header;
pub mod hevc;
pub mod latm;
pub mod mpa;
pub mod opus;
mod packetize;
pub mod rtcp;
mod video;

#[cfg(test)]
mod tests;

pub use depacketize::Depacketizer;
pub use header::RtpPacket;
pub use packetize::Packetizer;

use super::ts::latm::LatmConfig;
use super::{Codec, Packet, Track};

/// Largest payload [`Packetizer`] puts in one packet unless told otherwise: fits a 1500-byte
/// Ethernet MTU with IP, UDP, RTP and interleaving headers to spare.
pub const DEFAULT_MTU: usize = 1400;

/// Largest frame reassembled from RTP (a 4K intra frame fits many times over).
pub const MAX_FRAME: usize = 8 << 20;

/// Errors from RTP parsing, depacketizing and packetizing.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RtpError {
    #[error("RTP packet truncated")]
    Truncated,
    #[error("RTP version {0}, not 2")]
    Version(u8),
    #[error("invalid RTP packet: {0}")]
    Invalid(&'static str),
    /// A payload that does not follow its format; what was being assembled is dropped.
    #[error("{codec} RTP payload: {reason}")]
    Payload { codec: &'static str, reason: String },
    /// Packets missing before this one (by sequence number); the frame in progress is dropped.
    #[error("{0} RTP packets lost")]
    Lost(u64),
    #[error("cannot carry this track over RTP: {0}")]
    Unsupported(String),
}

/// How a track's frames sit in RTP payloads: what the SDP's rtpmap and fmtp said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadFormat {
    /// RFC 6184, packetization-mode 0 or 1 (single NAL units, STAP-A, FU-A).
    H264,
    /// RFC 7798 without DONL (single NAL units, AP, FU).
    Hevc,
    /// RFC 3640 `mpeg4-generic` AAC with these AU header fields.
    Mpeg4Generic(AuHeaderLayout),
    /// RFC 6416 `MP4A-LATM`: the StreamMuxConfig from the SDP (`cpresent=0`), or `None` when
    /// each AudioMuxElement carries its own (`cpresent=1`).
    Latm(Option<LatmConfig>),
    /// RFC 7587: one Opus packet per RTP packet, 48 kHz clock.
    Opus,
    /// RFC 3551 PCMU / PCMA (which one is the track's codec).
    G711,
    /// RFC 2250 MPEG audio (`MPA`), 90 kHz clock.
    Mpa,
}

impl PayloadFormat {
    /// The format Eddy sends a track in (what [`crate::media::sdp`] describes), `None` for
    /// codecs not carried over RTP.
    pub fn for_track(track: &Track) -> Option<PayloadFormat> {
        Some(match track.codec? {
            Codec::H264 => PayloadFormat::H264,
            Codec::Hevc => PayloadFormat::Hevc,
            Codec::Aac => PayloadFormat::Mpeg4Generic(AuHeaderLayout::AAC_HBR),
            Codec::Opus => PayloadFormat::Opus,
            Codec::Ulaw | Codec::Alaw => PayloadFormat::G711,
            Codec::Mp3 => PayloadFormat::Mpa,
            _ => return None,
        })
    }
}

/// The AU header fields of an RFC 3640 payload (3.2.1), in bits, from the fmtp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuHeaderLayout {
    pub size_length: u8,
    pub index_length: u8,
    pub index_delta_length: u8,
}

impl AuHeaderLayout {
    /// `mode=AAC-hbr` (RFC 3640 3.3.6): 13-bit sizes, 3-bit indexes.
    pub const AAC_HBR: AuHeaderLayout = AuHeaderLayout {
        size_length: 13,
        index_length: 3,
        index_delta_length: 3,
    };
}

/// What a [`Depacketizer`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum RtpEvent {
    /// The track changed (parameter sets in band, the first MPEG audio frame), before the
    /// packets that need it.
    Track(Track),
    Packet(Packet),
}

/// The RTP clock rate Eddy uses for a track: 90 kHz for video and MPEG audio (RFC 3551), 48 kHz
/// for Opus, the sample rate for AAC and G.711; `None` when not carried or unknown.
pub fn clock_rate(track: &Track) -> Option<u32> {
    match track.codec? {
        Codec::H264 | Codec::Hevc | Codec::Mp3 => Some(90_000),
        Codec::Opus => Some(48_000),
        Codec::Aac => (track.rate > 0).then_some(track.rate),
        Codec::Ulaw | Codec::Alaw => Some(if track.rate > 0 { track.rate } else { 8_000 }),
        _ => None,
    }
}

/// The static payload type (RFC 3551 table 4) for a track, when it has one: PCMU 0 and PCMA 8
/// at 8 kHz mono, MPA 14. Other tracks take a dynamic type (96 and up).
pub fn static_payload_type(track: &Track) -> Option<u8> {
    let g711 = track.rate <= 8_000 && track.channels <= 1;
    match track.codec? {
        Codec::Ulaw if g711 => Some(0),
        Codec::Alaw if g711 => Some(8),
        Codec::Mp3 => Some(14),
        _ => None,
    }
}

/// Whether Eddy can send and receive `codec` over RTP.
pub fn carries(codec: Codec) -> bool {
    PayloadFormat::for_track(&Track {
        codec: Some(codec),
        ..Track::default()
    })
    .is_some()
}
