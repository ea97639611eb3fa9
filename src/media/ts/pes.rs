//! PES packets: the part of a transport stream that is the same for every viewer.
//!
//! - ISO/IEC 13818-1 2.4.3.6 / 2.4.3.7 PES packet: stream_id (Table 2-22), PES_packet_length
//!   (0 = unbounded, video only), the '10' flags byte with data_alignment_indicator,
//!   PTS_DTS_flags, PES_header_data_length and the 33-bit PTS / DTS in 90 kHz.
//! - Video elementary streams are in the byte stream format of H.264 Annex B / H.265 Annex B:
//!   start codes, an access unit delimiter first (13818-1 2.14 requires one in every AVC access
//!   unit; HEVC carriage does the same), and the parameter sets repeated before every random
//!   access point.
//! - AAC frames get an ADTS header (ISO/IEC 14496-3 1.A.2.2); MPEG audio frames are
//!   self-framing (ISO/IEC 11172-3 2.4.1.3), and so are AC-3 syncframes (ATSC A/52 5.3.1), in
//!   private_stream_1 PES packets (stream_id 0xBD, A/52 Annex A); Opus packets get an
//!   opus_control_header ([`opus`]), also in private_stream_1.
//!
//! ```text
//! packet_start_code_prefix 00 00 01 | stream_id u8 | PES_packet_length u16
//! '10' | scrambling 00 | priority 0 | data_alignment_indicator 1 | copyright 0 | original 0
//! PTS_DTS_flags u2 | ESCR, ES_rate, DSM_trick_mode, additional_copy_info, CRC, extension: 0
//! PES_header_data_length u8 | PTS (5 bytes) | [DTS (5 bytes)]
//! PES_packet_data_byte ...
//! ```
//!
//! Times are converted from milliseconds: DTS = (time + [`DELAY_MS`]) * 90, PTS = (time +
//! offset + [`DELAY_MS`]) * 90, modulo 2^33.

use bytes::Bytes;

use super::super::aac::{self, AudioSpecificConfig};
use super::super::nal::{self, NalError, NalFlavor, START_CODE};
use super::super::{h264, hevc, Codec, Packet, Track};
use super::opus;
use super::psi::STREAM_TYPE_HEVC;
use super::psi::{mpeg_audio_stream_type, STREAM_TYPE_AAC_ADTS, STREAM_TYPE_H264};
use super::psi::{AC3_REGISTRATION, STREAM_TYPE_AC3, STREAM_TYPE_PRIVATE_PES};
use super::{TsError, DELAY_MS, TIMESTAMP_WRAP};

/// PES stream_id values (Table 2-22): the first video and the first MPEG audio stream.
const STREAM_ID_VIDEO: u8 = 0xE0;
const STREAM_ID_AUDIO: u8 = 0xC0;
/// private_stream_1, which carries AC-3 (ATSC A/52 Annex A).
const STREAM_ID_PRIVATE_1: u8 = 0xBD;
/// Bytes of the PES header up to and including PES_header_data_length.
const PES_FIXED_HEADER: usize = 9;

/// How one stream's frames become elementary stream bytes.
#[derive(Debug, Clone)]
enum Payload {
    /// Length-prefixed NAL units to Annex B; parameter sets from avcC / hvcC.
    Video {
        flavor: NalFlavor,
        length_size: u8,
        parameter_sets: Vec<Bytes>,
    },
    /// Raw AAC frames get an ADTS header.
    Aac(AudioSpecificConfig),
    /// MPEG audio frames are already self-framing.
    Mp3,
    /// AC-3 syncframes too.
    Ac3,
    /// Opus packets each get an opus_control_header; the PMT descriptors name the channels.
    Opus { descriptors: Vec<u8> },
}

/// How the frames of one track become PES packets: its stream_type and stream_id and what
/// its payload needs. Made once per track (it parses the decoder configuration).
#[derive(Debug, Clone)]
pub struct PesFormat {
    stream_type: u8,
    stream_id: u8,
    payload: Payload,
}

impl PesFormat {
    /// The format for `track`: H.264, HEVC, AAC, MP3 and AC-3 are carried.
    ///
    /// # Errors
    ///
    /// [`TsError::Unsupported`] for other codecs, [`TsError::BadConfig`] for an avcC, hvcC or
    /// AudioSpecificConfig that does not parse (or that ADTS cannot express).
    pub fn new(track: &Track) -> Result<PesFormat, TsError> {
        let bad = |reason: String| TsError::BadConfig {
            track: track.id,
            reason,
        };
        let (stream_type, payload) = match track.codec {
            Some(Codec::H264) => {
                let cfg = h264::parse_avcc(&track.init).map_err(|e| bad(e.to_string()))?;
                let parameter_sets = cfg.sps.into_iter().chain(cfg.pps).collect();
                let payload = Payload::Video {
                    flavor: NalFlavor::H264,
                    length_size: cfg.length_size,
                    parameter_sets,
                };
                (STREAM_TYPE_H264, payload)
            }
            Some(Codec::Hevc) => {
                let cfg = hevc::parse_hvcc(&track.init).map_err(|e| bad(e.to_string()))?;
                let parameter_sets = cfg.vps.into_iter().chain(cfg.sps).chain(cfg.pps).collect();
                let payload = Payload::Video {
                    flavor: NalFlavor::Hevc,
                    length_size: cfg.length_size,
                    parameter_sets,
                };
                (STREAM_TYPE_HEVC, payload)
            }
            Some(Codec::Aac) => {
                let asc = aac::parse_asc(&track.init).map_err(|e| bad(e.to_string()))?;
                // Configurations ADTS cannot express are refused here rather than per frame.
                aac::adts_header(&asc, 0).map_err(|e| bad(e.to_string()))?;
                (STREAM_TYPE_AAC_ADTS, Payload::Aac(asc))
            }
            Some(Codec::Mp3) => (mpeg_audio_stream_type(track.rate), Payload::Mp3),
            Some(Codec::Ac3) => (STREAM_TYPE_AC3, Payload::Ac3),
            Some(Codec::Opus) => {
                let code = opus::channel_config(&track.init).ok_or_else(|| {
                    bad("an OpusHead with a channel mapping TS cannot name".into())
                })?;
                let descriptors = opus::descriptors(code);
                (STREAM_TYPE_PRIVATE_PES, Payload::Opus { descriptors })
            }
            _ => return Err(TsError::Unsupported(track.id)),
        };
        let stream_id = match payload {
            Payload::Video { .. } => STREAM_ID_VIDEO,
            Payload::Ac3 | Payload::Opus { .. } => STREAM_ID_PRIVATE_1,
            _ => STREAM_ID_AUDIO,
        };
        Ok(PesFormat {
            stream_type,
            stream_id,
            payload,
        })
    }

    /// The PMT stream_type.
    pub fn stream_type(&self) -> u8 {
        self.stream_type
    }

    /// The PMT ES_info descriptors: the `AC-3` registration for AC-3, the `Opus` registration
    /// and channel configuration for Opus, none otherwise.
    pub fn descriptors(&self) -> &[u8] {
        match &self.payload {
            Payload::Ac3 => &AC3_REGISTRATION,
            Payload::Opus { descriptors } => descriptors,
            _ => &[],
        }
    }

    pub fn is_video(&self) -> bool {
        matches!(self.payload, Payload::Video { .. })
    }

    /// The whole PES packet of one frame (empty for a packet without data, which is not
    /// written at all). The same bytes for every viewer.
    pub fn pes(&self, packet: &Packet) -> Result<Bytes, TsError> {
        if packet.data.is_empty() {
            return Ok(Bytes::new());
        }
        let es = self.elementary_data(packet)?;
        let (dts, pts) = dts_pts(packet)?;
        let with_dts = dts != pts;
        let header_data_len: u8 = if with_dts { 10 } else { 5 };
        let length = if self.is_video() {
            0
        } else {
            (3 + usize::from(header_data_len))
                .checked_add(es.len())
                .and_then(|len| u16::try_from(len).ok())
                .unwrap_or(0)
        };
        let mut pes = Vec::with_capacity(es.len().saturating_add(19));
        pes.extend_from_slice(&[0, 0, 1, self.stream_id]);
        pes.extend_from_slice(&length.to_be_bytes());
        pes.push(0x84);
        pes.push(if with_dts { 0xC0 } else { 0x80 });
        pes.push(header_data_len);
        if with_dts {
            pes.extend_from_slice(&timestamp_bytes(0b0011, pts));
            pes.extend_from_slice(&timestamp_bytes(0b0001, dts));
        } else {
            pes.extend_from_slice(&timestamp_bytes(0b0010, pts));
        }
        pes.extend_from_slice(&es);
        Ok(Bytes::from(pes))
    }

    /// The elementary stream bytes of one frame.
    fn elementary_data(&self, packet: &Packet) -> Result<Vec<u8>, TsError> {
        match &self.payload {
            Payload::Video {
                flavor,
                length_size,
                parameter_sets,
            } => annex_b(*flavor, *length_size, parameter_sets, packet),
            Payload::Aac(asc) => {
                let header = aac::adts_header(asc, packet.data.len())?;
                let mut es = Vec::with_capacity(packet.data.len().saturating_add(header.len()));
                es.extend_from_slice(&header);
                es.extend_from_slice(&packet.data);
                Ok(es)
            }
            Payload::Mp3 | Payload::Ac3 => Ok(packet.data.to_vec()),
            Payload::Opus { .. } => {
                let mut es = opus::control_header(packet.data.len());
                es.extend_from_slice(&packet.data);
                Ok(es)
            }
        }
    }
}

/// The complete PES packet (header + payload) of `packet` of `track`: the per-packet work of
/// a TS output that is the same for every viewer. [`super::TsMuxer::packetize`] then cuts it
/// into one viewer's transport packets without copying it. A muxer serving several packets of
/// a track keeps a [`PesFormat`] instead of calling this, which parses the track each time.
pub fn pes_packet(track: &Track, packet: &Packet) -> Result<Bytes, TsError> {
    PesFormat::new(track)?.pes(packet)
}

/// `ms` in 90 kHz ticks, modulo 2^33.
pub(super) fn ticks_90khz(ms: i64) -> Result<u64, TsError> {
    let ticks = ms.checked_mul(90).ok_or(TsError::Timestamp(ms))?;
    u64::try_from(ticks.rem_euclid(TIMESTAMP_WRAP)).map_err(|_| TsError::Timestamp(ms))
}

/// 90 kHz ticks in milliseconds, rounding down (the inverse of the muxer's conversion for whole
/// milliseconds).
pub fn ticks_to_ms(ticks: i64) -> i64 {
    ticks.div_euclid(90)
}

/// Decode and presentation time of a packet in 90 kHz, [`DELAY_MS`] after its decode time.
pub(super) fn dts_pts(packet: &Packet) -> Result<(u64, u64), TsError> {
    let overflow = || TsError::Timestamp(packet.time);
    let dts_ms = packet.time.checked_add(DELAY_MS).ok_or_else(overflow)?;
    let pts_ms = dts_ms
        .checked_add(i64::from(packet.offset))
        .ok_or_else(overflow)?;
    let dts = ticks_90khz(dts_ms).map_err(|_| overflow())?;
    let pts = ticks_90khz(pts_ms).map_err(|_| overflow())?;
    Ok((dts, pts))
}

/// A PTS or DTS field (40 bits):
/// prefix u4 | ts[32..30] | marker 1 | ts[29..15] | marker 1 | ts[14..0] | marker 1.
pub(super) fn timestamp_bytes(prefix: u8, ts: u64) -> [u8; 5] {
    let part = |shift: u32, mask: u64| (ts >> shift) & mask;
    let packed = (u64::from(prefix & 0x0F) << 36)
        | (part(30, 0x07) << 33)
        | (1 << 32)
        | (part(15, 0x7FFF) << 17)
        | (1 << 16)
        | (part(0, 0x7FFF) << 1)
        | 1;
    let [_, _, _, b0, b1, b2, b3, b4] = packed.to_be_bytes();
    [b0, b1, b2, b3, b4]
}

/// The 33-bit value of a PTS or DTS field (marker bits ignored).
fn parse_timestamp(b: &[u8]) -> Option<u64> {
    let b: &[u8; 5] = b.get(..5)?.try_into().ok()?;
    Some(
        (u64::from(b[0] >> 1) & 0x07) << 30
            | u64::from(b[1]) << 22
            | u64::from(b[2] >> 1) << 15
            | u64::from(b[3]) << 7
            | u64::from(b[4] >> 1),
    )
}

/// An access unit in Annex B form: our AUD, on keyframes the configuration's parameter sets
/// (unless the unit has its own), then the unit's NAL units (empty units and AUDs dropped).
fn annex_b(
    flavor: NalFlavor,
    length_size: u8,
    parameter_sets: &[Bytes],
    packet: &Packet,
) -> Result<Vec<u8>, TsError> {
    let nals = nal::length_prefixed(&packet.data, length_size)
        .collect::<Result<Vec<&[u8]>, NalError>>()?;
    let nals: Vec<&[u8]> = nals
        .into_iter()
        .filter(|nal| !nal.is_empty() && !flavor.is_delimiter(nal))
        .collect();
    let insert_sets = packet.keyframe && !carries_parameter_sets(flavor, &nals);
    let inserted: &[Bytes] = if insert_sets { parameter_sets } else { &[] };
    let aud = flavor.access_unit_delimiter();
    let size = nals
        .iter()
        .map(|nal| nal.len())
        .chain(inserted.iter().map(|set| set.len()))
        .chain([aud.len()])
        .fold(0usize, |size, len| {
            size.saturating_add(len).saturating_add(START_CODE.len())
        });
    let mut es = Vec::with_capacity(size);
    nal::put_annex_b(&mut es, aud);
    for nal in inserted.iter().map(|set| set.as_ref()).chain(nals) {
        nal::put_annex_b(&mut es, nal);
    }
    Ok(es)
}

/// Whether an access unit holds every parameter set type its codec needs.
fn carries_parameter_sets(flavor: NalFlavor, nals: &[&[u8]]) -> bool {
    flavor
        .parameter_set_types()
        .iter()
        .all(|&wanted| nals.iter().any(|nal| flavor.nal_type(nal) == Some(wanted)))
}

/// Why bytes are not a PES packet.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum PesError {
    #[error("PES header truncated")]
    Truncated,
    #[error("no packet_start_code_prefix")]
    NoStartCode,
    #[error("PES header flags are not '10'")]
    Flags,
    #[error("PTS_DTS_flags 01 is forbidden")]
    ForbiddenTimestamps,
    #[error("PES_header_data_length runs past the packet")]
    HeaderLength,
    #[error("PES packet without a PTS")]
    NoTimestamp,
}

/// A received PES header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PesHeader {
    pub stream_id: u8,
    /// PES_packet_length: bytes after this field; 0 = unbounded.
    pub length: u16,
    /// 90 kHz, 33 bits.
    pub pts: u64,
    /// 90 kHz, 33 bits; the PTS when absent.
    pub dts: u64,
    /// Where the PES_packet_data_bytes start.
    pub payload_offset: usize,
}

impl PesHeader {
    /// The PES_packet_length of a PES that starts `data`, once 6 bytes are there.
    pub fn packet_length(data: &[u8]) -> Option<u16> {
        let b = data.get(4..6)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Parses the header of a PES packet with the optional header (the audio and video
    /// stream ids this demuxer reads). A PTS is required.
    pub fn parse(data: &[u8]) -> Result<PesHeader, PesError> {
        let fixed = data.get(..PES_FIXED_HEADER).ok_or(PesError::Truncated)?;
        if fixed[..3] != [0, 0, 1] {
            return Err(PesError::NoStartCode);
        }
        if fixed[6] & 0xC0 != 0x80 {
            return Err(PesError::Flags);
        }
        let header_len = usize::from(fixed[8]);
        let payload_offset = PES_FIXED_HEADER + header_len;
        let optional = data
            .get(PES_FIXED_HEADER..payload_offset)
            .ok_or(PesError::HeaderLength)?;
        let (pts, dts) = match fixed[7] >> 6 {
            0b10 => {
                let pts = parse_timestamp(optional).ok_or(PesError::HeaderLength)?;
                (pts, pts)
            }
            0b11 => {
                let pts = parse_timestamp(optional).ok_or(PesError::HeaderLength)?;
                let dts = optional
                    .get(5..)
                    .and_then(parse_timestamp)
                    .ok_or(PesError::HeaderLength)?;
                (pts, dts)
            }
            0b01 => return Err(PesError::ForbiddenTimestamps),
            _ => return Err(PesError::NoTimestamp),
        };
        Ok(PesHeader {
            stream_id: fixed[3],
            length: u16::from_be_bytes([fixed[4], fixed[5]]),
            pts,
            dts,
            payload_offset,
        })
    }
}
