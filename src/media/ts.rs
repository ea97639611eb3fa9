//! MPEG-2 transport stream muxing (HLS segments and progressive `.ts` output).
//!
//! - ISO/IEC 13818-1 (ITU-T H.222.0) 2.4.3.2 transport packet header and 2.4.3.3 its
//!   semantics (PID, payload_unit_start_indicator, continuity_counter).
//! - 2.4.3.4 / 2.4.3.5 `adaptation_field()`: random_access_indicator, the program clock
//!   reference (PCR: 33-bit base in 90 kHz plus 9-bit extension in 27 MHz) and stuffing bytes.
//! - 2.4.3.6 / 2.4.3.7 PES packet header: stream_id, PES_packet_length (0 = unbounded, video
//!   only), PTS_DTS_flags and the 33-bit PTS / DTS in 90 kHz.
//! - 2.4.4 program specific information: 2.4.4.3 `program_association_section` (PAT, PID 0),
//!   2.4.4.8 `TS_program_map_section` (PMT), with the CRC_32 of Annex A (polynomial
//!   0x04C11DB7, initial value 0xFFFFFFFF, no reflection, no final XOR).
//! - Table 2-34 stream_type values: 0x1B H.264 (ITU-T H.264 | ISO/IEC 14496-10), 0x24 HEVC
//!   (ITU-T H.265 | ISO/IEC 23008-2), 0x0F AAC in ADTS (ISO/IEC 13818-7 / 14496-3 ADTS),
//!   0x03 MPEG-1 audio (ISO/IEC 11172-3), 0x04 MPEG-2 audio (ISO/IEC 13818-3, the lower rates).
//! - Video elementary streams are in the byte stream format of H.264 Annex B / H.265 Annex B:
//!   start codes, an access unit delimiter first (13818-1 2.14 requires one in every AVC access
//!   unit; HEVC carriage does the same), and the parameter sets repeated before every random
//!   access point.
//!
//! A transport packet is 188 bytes:
//!
//! ```text
//!  byte 0    sync_byte 0x47
//!  byte 1    transport_error_indicator u1 | payload_unit_start_indicator u1
//!            | transport_priority u1 | PID bits 12..8 (u5)
//!  byte 2    PID bits 7..0
//!  byte 3    transport_scrambling_control u2 | adaptation_field_control u2 (01 payload only,
//!            10 adaptation field only, 11 both) | continuity_counter u4
//!  [adaptation_field: adaptation_field_length u8 | discontinuity u1 | random_access u1
//!            | es_priority u1 | PCR_flag u1 | OPCR_flag u1 | splicing_point u1
//!            | private_data u1 | extension u1 | [PCR: base u33, reserved u6, extension u9]
//!            | stuffing 0xFF ...]
//!  payload   up to 184 bytes (PSI: pointer_field then sections; PES: the PES packet bytes)
//! ```
//!
//! Each [`Packet`] becomes one PES packet. Times are converted from milliseconds: DTS =
//! (time + [`DELAY_MS`]) * 90, PTS = (time + offset + [`DELAY_MS`]) * 90, PCR = time * 90, all
//! modulo 2^33, so the decoder clock runs [`DELAY_MS`] behind the decode times.

use bytes::{BufMut, BytesMut};

use super::aac::{self, AacError, AudioSpecificConfig};
use super::h264;
use super::nal::{self, NalError, NalFlavor, START_CODE};
use super::{hevc, Codec, Packet, Track};

/// Size of one transport packet.
pub const TS_PACKET: usize = 188;
/// How far (ms) decode and presentation times are put after the PCR.
pub const DELAY_MS: i64 = 200;

const SYNC_BYTE: u8 = 0x47;
const HEADER_LEN: usize = 4;
/// Payload room of a packet without an adaptation field.
const PACKET_PAYLOAD: usize = TS_PACKET - HEADER_LEN;
const PAT_PID: u16 = 0x0000;
const PMT_PID: u16 = 0x1000;
/// PID of the first elementary stream; track `i` of the list given to [`TsMuxer::new`] gets
/// `FIRST_ES_PID + i`.
const FIRST_ES_PID: u16 = 0x0100;
/// PCR_PID for a program without a PCR (2.4.4.9).
const NO_PCR_PID: u16 = 0x1FFF;
const PROGRAM_NUMBER: u16 = 1;
const TRANSPORT_STREAM_ID: u16 = 1;
/// Tracks looked at by [`TsMuxer::new`]; the PMT must fit one packet (5 bytes per stream).
const MAX_TRACKS: usize = 32;
/// Largest gap (ms of PCR-PID time) between two PCRs.
const PCR_INTERVAL_MS: i64 = 100;
/// 2^33: PTS, DTS and the PCR base wrap there.
const TIMESTAMP_WRAP: i64 = 1 << 33;

const STREAM_TYPE_MPEG1_AUDIO: u8 = 0x03;
const STREAM_TYPE_MPEG2_AUDIO: u8 = 0x04;
const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;
const STREAM_TYPE_H264: u8 = 0x1B;
const STREAM_TYPE_HEVC: u8 = 0x24;

/// PES stream_id values (Table 2-22): the first video and the first MPEG audio stream.
const STREAM_ID_VIDEO: u8 = 0xE0;
const STREAM_ID_AUDIO: u8 = 0xC0;

/// Errors from [`TsMuxer::write_packet`] and [`segment`].
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TsError {
    #[error("track {0} is not one of this muxer's tracks")]
    UnknownTrack(u32),
    #[error("track {0} has a codec that MPEG-TS output does not carry")]
    Unsupported(u32),
    #[error("track {track} has an unusable decoder configuration: {reason}")]
    BadConfig { track: u32, reason: String },
    #[error("malformed NAL units: {0}")]
    Nal(#[from] NalError),
    #[error("cannot write ADTS: {0}")]
    Adts(#[from] AacError),
    #[error("timestamp {0} ms is out of range")]
    Timestamp(i64),
}

impl TsError {
    /// Whether the error is about the track rather than the packet's data.
    fn is_track_not_carried(&self) -> bool {
        matches!(
            self,
            TsError::UnknownTrack(_) | TsError::Unsupported(_) | TsError::BadConfig { .. }
        )
    }
}

/// Crc32 as MPEG-2 sections use it (13818-1 Annex A): polynomial 0x04C11DB7, MSB first,
/// initial value 0xFFFFFFFF, no final XOR. Over a whole section including its CRC it gives 0.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    const POLY: u32 = 0x04C1_1DB7;
    data.iter().fold(0xFFFF_FFFF, |crc, &byte| {
        (0..8).fold(crc ^ (u32::from(byte) << 24), |crc, _| {
            if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ POLY
            } else {
                crc << 1
            }
        })
    })
}

/// How one stream's frames become elementary stream bytes.
#[derive(Debug, Clone)]
enum Payload {
    /// Length-prefixed NAL units to Annex B; parameter sets from avcC / hvcC.
    Video {
        flavor: NalFlavor,
        length_size: u8,
        parameter_sets: Vec<bytes::Bytes>,
    },
    /// Raw AAC frames get an ADTS header.
    Aac(AudioSpecificConfig),
    /// MPEG audio frames are already self-framing.
    Mp3,
}

/// One elementary stream of the program.
#[derive(Debug, Clone)]
struct Stream {
    track: u32,
    pid: u16,
    stream_type: u8,
    stream_id: u8,
    payload: Payload,
    cc: u8,
}

impl Stream {
    fn is_video(&self) -> bool {
        matches!(self.payload, Payload::Video { .. })
    }
}

/// Why a track is not carried.
#[derive(Debug, Clone)]
enum Skipped {
    Unsupported,
    BadConfig(String),
}

/// A transport stream muxer for one output: one program (number 1), PAT, PMT on PID 0x1000,
/// one PID per carried track. Continuity counters and the PCR schedule live here, so one
/// muxer is used per segment or per progressive viewer.
#[derive(Debug, Clone)]
pub struct TsMuxer {
    streams: Vec<Stream>,
    skipped: Vec<(u32, Skipped)>,
    pcr_pid: Option<u16>,
    pat_cc: u8,
    pmt_cc: u8,
    /// PCR-PID time (ms) of the last PCR written.
    last_pcr: Option<i64>,
    /// Time (ms) of the last packet written on the PCR PID.
    last_pcr_pid_time: Option<i64>,
}

impl TsMuxer {
    /// A muxer for `tracks` (H.264, HEVC, AAC and MP3 are carried; other tracks, tracks whose
    /// decoder configuration does not parse and tracks past the 32nd are left out). Track `i`
    /// of the list gets PID 0x100 + i; the PCR is on the first video track, else the first
    /// audio track.
    pub fn new(tracks: &[Track]) -> TsMuxer {
        let mut streams = Vec::new();
        let mut skipped = Vec::new();
        for (index, track) in tracks.iter().enumerate() {
            let pid = u16::try_from(index)
                .ok()
                .filter(|_| index < MAX_TRACKS)
                .map(|i| FIRST_ES_PID + i);
            match (pid, stream_for(track)) {
                (Some(pid), Ok((stream_type, payload))) => streams.push(Stream {
                    track: track.id,
                    pid,
                    stream_type,
                    stream_id: if matches!(payload, Payload::Video { .. }) {
                        STREAM_ID_VIDEO
                    } else {
                        STREAM_ID_AUDIO
                    },
                    payload,
                    cc: 0,
                }),
                (None, _) => skipped.push((track.id, Skipped::Unsupported)),
                (_, Err(why)) => skipped.push((track.id, why)),
            }
        }
        let pcr_pid = streams
            .iter()
            .find(|s| s.is_video())
            .or_else(|| streams.first())
            .map(|s| s.pid);
        TsMuxer {
            streams,
            skipped,
            pcr_pid,
            pat_cc: 0,
            pmt_cc: 0,
            last_pcr: None,
            last_pcr_pid_time: None,
        }
    }

    /// The ids of the tracks this muxer carries, in PID order.
    pub fn track_ids(&self) -> Vec<u32> {
        self.streams.iter().map(|s| s.track).collect()
    }

    /// Writes the PAT and the PMT, one transport packet each.
    pub fn write_tables(&mut self, out: &mut BytesMut) {
        let pat = pat_section();
        write_psi_packet(PAT_PID, &mut self.pat_cc, &pat, out);
        let pmt = self.pmt_section();
        write_psi_packet(PMT_PID, &mut self.pmt_cc, &pmt, out);
    }

    /// Writes `packet` of track `track_id` as one PES packet. Nothing is written on error, and
    /// a packet with no data writes nothing.
    pub fn write_packet(
        &mut self,
        track_id: u32,
        packet: &Packet,
        out: &mut BytesMut,
    ) -> Result<(), TsError> {
        let index = self.stream_index(track_id)?;
        let stream = self
            .streams
            .get(index)
            .ok_or(TsError::UnknownTrack(track_id))?;
        if packet.data.is_empty() {
            return Ok(());
        }
        let es = elementary_data(&stream.payload, packet)?;
        let pes = pes_packet(stream, packet, &es)?;
        let adaptation = self.first_adaptation(stream.pid, packet)?;
        if let Some(stream) = self.streams.get_mut(index) {
            write_pes(stream.pid, &mut stream.cc, &pes, adaptation, out);
        }
        Ok(())
    }

    /// The index in `streams` of a track, or why there is none.
    fn stream_index(&self, track_id: u32) -> Result<usize, TsError> {
        if let Some(index) = self.streams.iter().position(|s| s.track == track_id) {
            return Ok(index);
        }
        match self.skipped.iter().find(|(id, _)| *id == track_id) {
            Some((_, Skipped::Unsupported)) => Err(TsError::Unsupported(track_id)),
            Some((_, Skipped::BadConfig(reason))) => Err(TsError::BadConfig {
                track: track_id,
                reason: reason.clone(),
            }),
            None => Err(TsError::UnknownTrack(track_id)),
        }
    }

    /// The adaptation field content for the first TS packet of a PES on `pid`: the random
    /// access flag for keyframes, and a PCR on the PCR PID for keyframes and whenever waiting
    /// for the next packet (assumed as far away as the last one) would leave more than
    /// [`PCR_INTERVAL_MS`] between two PCRs. Updates the PCR schedule.
    fn first_adaptation(&mut self, pid: u16, packet: &Packet) -> Result<Adaptation, TsError> {
        let mut adaptation = Adaptation {
            random_access: packet.keyframe,
            pcr: None,
        };
        if self.pcr_pid != Some(pid) {
            return Ok(adaptation);
        }
        let time = packet.time;
        let step = self
            .last_pcr_pid_time
            .and_then(|prev| time.checked_sub(prev))
            .unwrap_or(0)
            .max(0);
        let due = match self.last_pcr {
            None => true,
            Some(last) => time
                .checked_sub(last)
                .and_then(|since| since.checked_add(step))
                .is_none_or(|gap| !(0..=PCR_INTERVAL_MS).contains(&gap)),
        };
        if due || packet.keyframe {
            adaptation.pcr = Some(ticks_90khz(time)?);
            self.last_pcr = Some(time);
        }
        self.last_pcr_pid_time = Some(time);
        Ok(adaptation)
    }

    /// TS_program_map_section (2.4.4.8) for program 1:
    ///
    /// ```text
    /// table_id 0x02 | section_syntax_indicator 1 | '0' | reserved 11 | section_length u12
    /// program_number u16 | reserved 11 | version_number u5 = 0 | current_next_indicator 1
    /// section_number 0 | last_section_number 0
    /// reserved 111 | PCR_PID u13 | reserved 1111 | program_info_length u12 = 0
    /// { stream_type u8 | reserved 111 | elementary_PID u13 | reserved 1111 | ES_info_length 0 }
    /// CRC_32
    /// ```
    fn pmt_section(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(4 + 5 * self.streams.len());
        body.extend_from_slice(&(0xE000 | self.pcr_pid.unwrap_or(NO_PCR_PID)).to_be_bytes());
        body.extend_from_slice(&[0xF0, 0x00]);
        for stream in &self.streams {
            body.push(stream.stream_type);
            body.extend_from_slice(&(0xE000 | stream.pid).to_be_bytes());
            body.extend_from_slice(&[0xF0, 0x00]);
        }
        psi_section(0x02, PROGRAM_NUMBER, &body)
    }
}

/// The stream type and payload handling for a track, or why it cannot be carried.
fn stream_for(track: &Track) -> Result<(u8, Payload), Skipped> {
    let bad = |reason: String| Skipped::BadConfig(reason);
    match track.codec {
        Some(Codec::H264) => {
            let cfg = h264::parse_avcc(&track.init).map_err(|e| bad(e.to_string()))?;
            let parameter_sets = cfg.sps.into_iter().chain(cfg.pps).collect();
            let payload = Payload::Video {
                flavor: NalFlavor::H264,
                length_size: cfg.length_size,
                parameter_sets,
            };
            Ok((STREAM_TYPE_H264, payload))
        }
        Some(Codec::Hevc) => {
            let cfg = hevc::parse_hvcc(&track.init).map_err(|e| bad(e.to_string()))?;
            let parameter_sets = cfg.vps.into_iter().chain(cfg.sps).chain(cfg.pps).collect();
            let payload = Payload::Video {
                flavor: NalFlavor::Hevc,
                length_size: cfg.length_size,
                parameter_sets,
            };
            Ok((STREAM_TYPE_HEVC, payload))
        }
        Some(Codec::Aac) => {
            let asc = aac::parse_asc(&track.init).map_err(|e| bad(e.to_string()))?;
            // Configurations ADTS cannot express are refused here rather than per frame.
            aac::adts_header(&asc, 0).map_err(|e| bad(e.to_string()))?;
            Ok((STREAM_TYPE_AAC_ADTS, Payload::Aac(asc)))
        }
        Some(Codec::Mp3) => Ok((mpeg_audio_stream_type(track.rate), Payload::Mp3)),
        _ => Err(Skipped::Unsupported),
    }
}

/// MPEG-1 audio for 32, 44.1 and 48 kHz (and unknown rates), MPEG-2 audio for the halved
/// (and MPEG 2.5 quartered) rates.
fn mpeg_audio_stream_type(rate: u32) -> u8 {
    match rate {
        0 | 32000 | 44100 | 48000 => STREAM_TYPE_MPEG1_AUDIO,
        _ => STREAM_TYPE_MPEG2_AUDIO,
    }
}

/// program_association_section (2.4.4.3) with program 1 on [`PMT_PID`]:
///
/// ```text
/// table_id 0x00 | 1 | '0' | 11 | section_length u12
/// transport_stream_id u16 | 11 | version_number u5 = 0 | current_next_indicator 1
/// section_number 0 | last_section_number 0
/// { program_number u16 | reserved 111 | program_map_PID u13 }
/// CRC_32
/// ```
fn pat_section() -> Vec<u8> {
    let mut body = Vec::with_capacity(4);
    body.extend_from_slice(&PROGRAM_NUMBER.to_be_bytes());
    body.extend_from_slice(&(0xE000 | PMT_PID).to_be_bytes());
    psi_section(0x00, TRANSPORT_STREAM_ID, &body)
}

/// A long-form PSI section: the common 8-byte header (`id` is transport_stream_id or
/// program_number), `body`, then the CRC_32. Version 0, current, section 0 of 0.
fn psi_section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    // From after section_length: 5 header bytes, the body, 4 CRC bytes. The callers' bodies
    // are small (at most MAX_TRACKS streams), far below the 12-bit limit.
    let section_length = 5 + body.len() + 4;
    let length_bits = u16::try_from(section_length).unwrap_or(0x3FF) & 0x3FF;
    let mut section = Vec::with_capacity(3 + section_length);
    section.push(table_id);
    section.extend_from_slice(&(0xB000 | length_bits).to_be_bytes());
    section.extend_from_slice(&id.to_be_bytes());
    section.extend_from_slice(&[0xC1, 0x00, 0x00]);
    section.extend_from_slice(body);
    let crc = crc32_mpeg2(&section);
    section.extend_from_slice(&crc.to_be_bytes());
    section
}

/// One TS packet holding a whole PSI section: pointer_field 0, the section, 0xFF stuffing.
fn write_psi_packet(pid: u16, cc: &mut u8, section: &[u8], out: &mut BytesMut) {
    let room = PACKET_PAYLOAD - 1;
    let section = section.get(..room.min(section.len())).unwrap_or_default();
    out.reserve(TS_PACKET);
    out.put_slice(&packet_header(pid, true, false, *cc));
    *cc = next_cc(*cc);
    out.put_u8(0); // pointer_field
    out.put_slice(section);
    out.put_bytes(0xFF, room - section.len());
}

/// The 4-byte transport packet header; payload is always present.
fn packet_header(pid: u16, unit_start: bool, adaptation: bool, cc: u8) -> [u8; 4] {
    let [pid_high, pid_low] = (pid & 0x1FFF).to_be_bytes();
    let control = if adaptation { 0x30 } else { 0x10 };
    [
        SYNC_BYTE,
        (u8::from(unit_start) << 6) | pid_high,
        pid_low,
        control | (cc & 0x0F),
    ]
}

fn next_cc(cc: u8) -> u8 {
    cc.wrapping_add(1) & 0x0F
}

/// What the first TS packet of a PES carries in its adaptation field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Adaptation {
    random_access: bool,
    /// PCR base in 90 kHz (the extension is written as 0).
    pcr: Option<u64>,
}

impl Adaptation {
    const NONE: Adaptation = Adaptation {
        random_access: false,
        pcr: None,
    };

    fn is_empty(&self) -> bool {
        !self.random_access && self.pcr.is_none()
    }

    /// Flags byte and optional fields, without adaptation_field_length or stuffing.
    fn fields(&self) -> Vec<u8> {
        let mut fields = Vec::with_capacity(7);
        let mut flags = 0u8;
        if self.random_access {
            flags |= 0x40;
        }
        if self.pcr.is_some() {
            flags |= 0x10;
        }
        fields.push(flags);
        if let Some(base) = self.pcr {
            fields.extend_from_slice(&pcr_bytes(base, 0));
        }
        fields
    }
}

/// program_clock_reference (2.4.3.4): base u33 | reserved 111111 | extension u9.
fn pcr_bytes(base: u64, extension: u16) -> [u8; 6] {
    let base = base & 0x1_FFFF_FFFF;
    let ext = u64::from(extension & 0x1FF);
    let packed = (base << 15) | (0x3F << 9) | ext;
    let [_, _, b0, b1, b2, b3, b4, b5] = packed.to_be_bytes();
    [b0, b1, b2, b3, b4, b5]
}

/// Splits a PES packet into TS packets on `pid`. The first packet carries `first` in its
/// adaptation field; the last is filled up with adaptation field stuffing.
fn write_pes(pid: u16, cc: &mut u8, pes: &[u8], first: Adaptation, out: &mut BytesMut) {
    out.reserve((pes.len() / PACKET_PAYLOAD + 2).saturating_mul(TS_PACKET));
    let mut rest = pes;
    let mut adaptation = first;
    let mut unit_start = true;
    while unit_start || !rest.is_empty() {
        let mut fields = if adaptation.is_empty() {
            Vec::new()
        } else {
            adaptation.fields()
        };
        let overhead = if fields.is_empty() {
            0
        } else {
            1 + fields.len()
        };
        let room = PACKET_PAYLOAD - overhead;
        let take = rest.len().min(room);
        let stuffing = room - take;
        if stuffing > 0 && fields.is_empty() {
            // adaptation_field_length alone is 1 byte of stuffing; more needs the flags byte.
            if stuffing > 1 {
                fields.push(0x00);
                fields.resize(stuffing - 1, 0xFF);
            }
        } else {
            fields.resize(fields.len() + stuffing, 0xFF);
        }
        let has_adaptation = overhead > 0 || stuffing > 0;
        let (chunk, tail) = rest.split_at(take);
        out.put_slice(&packet_header(pid, unit_start, has_adaptation, *cc));
        if has_adaptation {
            // At most 183 bytes: the field never exceeds the packet's payload room.
            out.put_u8(u8::try_from(fields.len()).unwrap_or(183));
            out.put_slice(&fields);
        }
        out.put_slice(chunk);
        *cc = next_cc(*cc);
        rest = tail;
        adaptation = Adaptation::NONE;
        unit_start = false;
    }
}

/// `ms` in 90 kHz ticks, modulo 2^33.
fn ticks_90khz(ms: i64) -> Result<u64, TsError> {
    let ticks = ms.checked_mul(90).ok_or(TsError::Timestamp(ms))?;
    u64::try_from(ticks.rem_euclid(TIMESTAMP_WRAP)).map_err(|_| TsError::Timestamp(ms))
}

/// Decode and presentation time of a packet in 90 kHz, [`DELAY_MS`] after its decode time.
fn dts_pts(packet: &Packet) -> Result<(u64, u64), TsError> {
    let overflow = || TsError::Timestamp(packet.time);
    let dts_ms = packet.time.checked_add(DELAY_MS).ok_or_else(overflow)?;
    let pts_ms = dts_ms
        .checked_add(i64::from(packet.offset))
        .ok_or_else(overflow)?;
    let dts = ticks_90khz(dts_ms).map_err(|_| overflow())?;
    let pts = ticks_90khz(pts_ms).map_err(|_| overflow())?;
    Ok((dts, pts))
}

/// PES packet (2.4.3.6) with PTS, and DTS when it differs:
///
/// ```text
/// packet_start_code_prefix 00 00 01 | stream_id u8 | PES_packet_length u16
/// '10' | scrambling 00 | priority 0 | data_alignment_indicator 1 | copyright 0 | original 0
/// PTS_DTS_flags u2 | ESCR, ES_rate, DSM_trick_mode, additional_copy_info, CRC, extension: 0
/// PES_header_data_length u8 | PTS (5 bytes) | [DTS (5 bytes)]
/// PES_packet_data_byte ...
/// ```
///
/// PES_packet_length is 0 (unbounded) for video and for audio longer than 16 bits allow.
fn pes_packet(stream: &Stream, packet: &Packet, es: &[u8]) -> Result<Vec<u8>, TsError> {
    let (dts, pts) = dts_pts(packet)?;
    let with_dts = dts != pts;
    let header_data_len: u8 = if with_dts { 10 } else { 5 };
    let length = if stream.is_video() {
        0
    } else {
        (3 + usize::from(header_data_len))
            .checked_add(es.len())
            .and_then(|len| u16::try_from(len).ok())
            .unwrap_or(0)
    };
    let mut pes = Vec::with_capacity(es.len().saturating_add(19));
    pes.extend_from_slice(&[0, 0, 1, stream.stream_id]);
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
    pes.extend_from_slice(es);
    Ok(pes)
}

/// A PTS or DTS field (40 bits):
/// prefix u4 | ts[32..30] | marker 1 | ts[29..15] | marker 1 | ts[14..0] | marker 1.
fn timestamp_bytes(prefix: u8, ts: u64) -> [u8; 5] {
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

/// The elementary stream bytes of one frame.
fn elementary_data(payload: &Payload, packet: &Packet) -> Result<Vec<u8>, TsError> {
    match payload {
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
        Payload::Mp3 => Ok(packet.data.to_vec()),
    }
}

/// An access unit in Annex B form: our AUD, on keyframes the configuration's parameter sets
/// (unless the unit has its own), then the unit's NAL units (empty units and AUDs dropped).
fn annex_b(
    flavor: NalFlavor,
    length_size: u8,
    parameter_sets: &[bytes::Bytes],
    packet: &Packet,
) -> Result<Vec<u8>, TsError> {
    let nals = nal::length_prefixed(&packet.data, length_size)
        .collect::<Result<Vec<&[u8]>, NalError>>()?;
    let nals: Vec<&[u8]> = nals
        .into_iter()
        .filter(|nal| !nal.is_empty() && !flavor.is_delimiter(nal))
        .collect();
    let insert_sets = packet.keyframe && !carries_parameter_sets(flavor, &nals);
    let inserted: &[bytes::Bytes] = if insert_sets { parameter_sets } else { &[] };
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

/// A standalone segment: PAT and PMT, then every packet as PES. Packets of tracks the muxer
/// does not carry are skipped; malformed packets fail the segment.
pub fn segment(tracks: &[Track], packets: &[&Packet]) -> Result<bytes::Bytes, TsError> {
    let mut muxer = TsMuxer::new(tracks);
    let mut out = BytesMut::new();
    muxer.write_tables(&mut out);
    for packet in packets {
        match muxer.write_packet(packet.track, packet, &mut out) {
            Err(e) if !e.is_track_not_carried() => return Err(e),
            _ => {}
        }
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::process::Command;

    use bytes::Bytes;
    use mpeg2ts_reader::{demultiplex, packet as tsp, pes, psi};

    use super::super::bits::tests::XorShift;

    use super::*;

    /// `ffmpeg -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=sample_rate=44100
    /// -t 2 -c:v libx264 -g 25 -c:a aac` (ffmpeg 5.1): 50 frames with B-frames, 88 AAC frames.
    const H264_AAC_FLV: &[u8] = include_bytes!("testdata/h264_aac_320x240.flv");
    /// Enhanced RTMP HEVC, 176x100, 3 frames (see flv.rs).
    const HEVC_FLV: &[u8] = include_bytes!("testdata/hevc_enhanced.flv");

    const VIDEO: u32 = 1;
    const AUDIO: u32 = 2;
    /// The access unit delimiters our muxer writes, with their start codes.
    const H264_AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xF0];
    const HEVC_AUD: [u8; 7] = [0, 0, 0, 1, 0x46, 0x01, 0x50];

    // ---- Inputs -------------------------------------------------------------------------

    /// Tracks and packets of an FLV file, made the way RTMP ingest makes them.
    fn load_flv(file: &[u8]) -> (Vec<Track>, Vec<Packet>) {
        let (video, audio, packets) = crate::media::testutil::load_flv(file);
        (video.into_iter().chain(audio).collect(), packets)
    }

    fn mux(tracks: &[Track], packets: &[Packet]) -> Bytes {
        let refs: Vec<&Packet> = packets.iter().collect();
        segment(tracks, &refs).unwrap()
    }

    fn h264_track() -> Track {
        load_flv(H264_AAC_FLV).0.remove(0)
    }

    fn aac_track() -> Track {
        Track {
            id: AUDIO,
            ..aac::track_from_asc(aac::build_asc(2, 4, 2)).unwrap()
        }
    }

    fn mp3_track(id: u32, rate: u32) -> Track {
        Track {
            id,
            codec: Some(Codec::Mp3),
            rate,
            ..Track::default()
        }
    }

    fn packet(track: u32, time: i64, data: &[u8]) -> Packet {
        Packet {
            track,
            time,
            offset: 0,
            keyframe: false,
            data: Bytes::copy_from_slice(data),
        }
    }

    /// Expected (PTS, DTS) in 90 kHz for a packet.
    fn expected_pts_dts(p: &Packet) -> (u64, u64) {
        let dts = ((p.time + DELAY_MS) * 90).rem_euclid(1 << 33) as u64;
        let pts = ((p.time + i64::from(p.offset) + DELAY_MS) * 90).rem_euclid(1 << 33) as u64;
        (pts, dts)
    }

    // ---- mpeg2ts-reader as the reference demuxer ---------------------------------------

    /// What mpeg2ts-reader found.
    #[derive(Debug, Default)]
    struct Found {
        program: Option<(u16, u16)>,
        pcr_pid: Option<u16>,
        /// (PID, stream_type) in PMT order.
        streams: Vec<(u16, u8)>,
        /// PES headers per PID: (PTS, DTS or None, PES_packet_length, payload bytes).
        pes: BTreeMap<u16, Vec<FoundPes>>,
        continuity_errors: usize,
    }

    #[derive(Debug)]
    struct FoundPes {
        pts: u64,
        dts: Option<u64>,
        bounded_length: Option<u16>,
        aligned: bool,
        data: Vec<u8>,
    }

    mpeg2ts_reader::packet_filter_switch! {
        Filter<Ctx> {
            Pes: pes::PesPacketFilter<Ctx, Collect>,
            Pat: demultiplex::PatPacketFilter<Ctx>,
            Pmt: demultiplex::PmtPacketFilter<Ctx>,
            Null: demultiplex::NullPacketFilter<Ctx>,
        }
    }

    pub struct Ctx {
        changeset: demultiplex::FilterChangeset<Filter>,
        found: Found,
    }

    impl demultiplex::DemuxContext for Ctx {
        type F = Filter;

        fn filter_changeset(&mut self) -> &mut demultiplex::FilterChangeset<Filter> {
            &mut self.changeset
        }

        fn construct(&mut self, req: demultiplex::FilterRequest<'_, '_>) -> Filter {
            match req {
                demultiplex::FilterRequest::ByPid(psi::pat::PAT_PID) => {
                    Filter::Pat(demultiplex::PatPacketFilter::default())
                }
                demultiplex::FilterRequest::Pmt {
                    pid,
                    program_number,
                } => {
                    self.found.program = Some((u16::from(pid), program_number));
                    Filter::Pmt(demultiplex::PmtPacketFilter::new(pid, program_number))
                }
                demultiplex::FilterRequest::ByStream {
                    stream_type,
                    pmt,
                    stream_info,
                    ..
                } => {
                    let pid = u16::from(stream_info.elementary_pid());
                    self.found.pcr_pid = Some(u16::from(pmt.pcr_pid()));
                    self.found.streams.push((pid, stream_type.0));
                    Filter::Pes(pes::PesPacketFilter::new(Collect { pid }))
                }
                _ => Filter::Null(demultiplex::NullPacketFilter::default()),
            }
        }
    }

    pub struct Collect {
        pid: u16,
    }

    impl pes::ElementaryStreamConsumer<Ctx> for Collect {
        fn start_stream(&mut self, _ctx: &mut Ctx) {}

        fn begin_packet(&mut self, ctx: &mut Ctx, header: pes::PesHeader<'_>) {
            let bounded_length = match header.pes_packet_length() {
                pes::PesLength::Unbounded => None,
                pes::PesLength::Bounded(len) => Some(len.get()),
            };
            let pes::PesContents::Parsed(Some(parsed)) = header.contents() else {
                panic!("PES without a parsed header on {:#x}", self.pid);
            };
            let (pts, dts) = match parsed.pts_dts().unwrap() {
                pes::PtsDts::PtsOnly(pts) => (pts.unwrap().value(), None),
                pes::PtsDts::Both { pts, dts } => {
                    (pts.unwrap().value(), Some(dts.unwrap().value()))
                }
                other => panic!("timestamps {other:?}"),
            };
            let aligned = parsed.data_alignment_indicator() == pes::DataAlignment::Aligned;
            ctx.found.pes.entry(self.pid).or_default().push(FoundPes {
                pts,
                dts,
                bounded_length,
                aligned,
                data: parsed.payload().to_vec(),
            });
        }

        fn continue_packet(&mut self, ctx: &mut Ctx, data: &[u8]) {
            let list = ctx.found.pes.get_mut(&self.pid).unwrap();
            list.last_mut().unwrap().data.extend_from_slice(data);
        }

        fn end_packet(&mut self, _ctx: &mut Ctx) {}

        fn continuity_error(&mut self, ctx: &mut Ctx) {
            ctx.found.continuity_errors += 1;
        }
    }

    fn demux(ts: &[u8]) -> Found {
        let mut ctx = Ctx {
            changeset: demultiplex::FilterChangeset::default(),
            found: Found::default(),
        };
        let mut demux = demultiplex::Demultiplex::new(&mut ctx);
        demux.push(&mut ctx, ts);
        ctx.found
    }

    // ---- A packet-level scan of our own ----------------------------------------------------

    /// One TS packet as seen by the scan.
    #[derive(Debug)]
    struct Scanned {
        pid: u16,
        unit_start: bool,
        random_access: bool,
        pcr: Option<u64>,
    }

    /// Checks the packet layer: sizes, sync bytes, adaptation field lengths, continuity
    /// counters per PID (only payload packets count). Returns the packets in order.
    fn scan(ts: &[u8]) -> Vec<Scanned> {
        assert_eq!(ts.len() % TS_PACKET, 0, "not whole packets");
        let mut counters: BTreeMap<u16, u8> = BTreeMap::new();
        let mut out = Vec::new();
        for raw in ts.chunks(TS_PACKET) {
            assert_eq!(raw[0], SYNC_BYTE);
            let pk = tsp::Packet::new(raw);
            let pid = u16::from(pk.pid());
            assert!(pk.adaptation_control().has_payload(), "payload-less packet");
            assert!(!pk.transport_error_indicator());
            assert!(!pk.transport_scrambling_control().is_scrambled());
            let cc = pk.continuity_counter().count();
            if let Some(prev) = counters.insert(pid, cc) {
                assert_eq!(cc, (prev + 1) % 16, "continuity on PID {pid:#x}");
            } else {
                assert_eq!(cc, 0, "first counter on PID {pid:#x}");
            }
            let af = pk.adaptation_field();
            if pk.adaptation_control().has_adaptation_field() {
                assert!(
                    usize::from(raw[4]) < PACKET_PAYLOAD,
                    "adaptation field too long"
                );
            }
            out.push(Scanned {
                pid,
                unit_start: pk.payload_unit_start_indicator(),
                random_access: af.as_ref().is_some_and(|af| af.random_access_indicator()),
                pcr: af.and_then(|af| af.pcr().ok()).map(|pcr| {
                    assert_eq!(pcr.extension(), 0);
                    pcr.base()
                }),
            });
        }
        out
    }

    /// The NAL units of an Annex B stream (split at 3- and 4-byte start codes).
    fn split_annex_b(data: &[u8]) -> Vec<&[u8]> {
        nal::annex_b(data).collect()
    }

    // ---- ffprobe ------------------------------------------------------------------------------

    fn temp_ts(name: &str, ts: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("eddy-ts-{}-{name}.ts", std::process::id()));
        std::fs::write(&path, ts).unwrap();
        path
    }

    /// ffprobe's streams, packets and format. Very short files are too small for its format
    /// probe, so they are named as MPEG-TS with `force`.
    fn ffprobe(path: &std::path::Path, force: bool) -> serde_json::Value {
        let mut command = Command::new("ffprobe");
        command.args(["-v", "error"]);
        if force {
            command.args(["-f", "mpegts"]);
        }
        let output = command
            .args([
                "-show_streams",
                "-show_packets",
                "-show_format",
                "-of",
                "json",
            ])
            .arg(path)
            .output()
            .expect("ffprobe (Debian's ffmpeg package) must be installed");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "ffprobe failed: {stderr}");
        assert!(stderr.trim().is_empty(), "ffprobe complained: {stderr}");
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Decodes the whole file with ffmpeg; errors would show on stderr.
    fn ffmpeg_decodes_cleanly(path: &std::path::Path) {
        let output = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-f", "mpegts", "-i"])
            .arg(path)
            .args(["-f", "null", "-"])
            .output()
            .expect("ffmpeg must be installed");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "ffmpeg failed: {stderr}");
        assert!(stderr.trim().is_empty(), "ffmpeg complained: {stderr}");
    }

    /// (pts, dts) of ffprobe's packets for one stream index, in file order.
    fn probe_times(probe: &serde_json::Value, index: u64) -> Vec<(i64, i64)> {
        probe["packets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["stream_index"].as_u64() == Some(index))
            .map(|p| (p["pts"].as_i64().unwrap(), p["dts"].as_i64().unwrap()))
            .collect()
    }

    // ---- Real streams ---------------------------------------------------------------------------

    #[test]
    fn h264_aac_segment_demuxes_with_mpeg2ts_reader() {
        let (tracks, packets) = load_flv(H264_AAC_FLV);
        assert_eq!(tracks.len(), 2);
        assert_eq!((tracks[0].width, tracks[0].height), (320, 240));
        let video: Vec<&Packet> = packets.iter().filter(|p| p.track == VIDEO).collect();
        let audio: Vec<&Packet> = packets.iter().filter(|p| p.track == AUDIO).collect();
        assert_eq!((video.len(), audio.len()), (50, 88));
        assert!(video.iter().any(|p| p.offset != 0), "clip has B-frames");

        let ts = mux(&tracks, &packets);
        let found = demux(&ts);
        assert_eq!(found.program, Some((0x1000, 1)));
        assert_eq!(found.streams, vec![(0x100, 0x1B), (0x101, 0x0F)]);
        assert_eq!(found.pcr_pid, Some(0x100));
        assert_eq!(found.continuity_errors, 0);

        let vpes = &found.pes[&0x100];
        let apes = &found.pes[&0x101];
        assert_eq!((vpes.len(), apes.len()), (video.len(), audio.len()));

        let cfg = h264::parse_avcc(&tracks[0].init).unwrap();
        for (pes, p) in vpes.iter().zip(&video) {
            let (pts, dts) = expected_pts_dts(p);
            assert_eq!(pes.pts, pts);
            assert_eq!(pes.dts, (dts != pts).then_some(dts));
            assert_eq!(pes.bounded_length, None, "video PES is unbounded");
            assert!(pes.aligned);
            // AUD, then SPS + PPS on keyframes, then the frame's own NAL units.
            let nals = split_annex_b(&pes.data);
            assert_eq!(nals[0], &H264_AUD[4..]);
            let own: Vec<&[u8]> = h264::nal_units(&p.data, cfg.length_size)
                .map(Result::unwrap)
                .collect();
            let mut want: Vec<&[u8]> = vec![&H264_AUD[4..]];
            if p.keyframe {
                want.push(&cfg.sps[0]);
                want.push(&cfg.pps[0]);
            }
            want.extend(own);
            assert_eq!(nals, want);
        }
        let asc = aac::parse_asc(&tracks[1].init).unwrap();
        for (pes, p) in apes.iter().zip(&audio) {
            let (pts, _) = expected_pts_dts(p);
            assert_eq!((pes.pts, pes.dts), (pts, None));
            let header = aac::adts_header(&asc, p.data.len()).unwrap();
            assert_eq!(&pes.data[..7], &header);
            assert_eq!(&pes.data[7..], &p.data[..]);
            assert_eq!(
                pes.bounded_length.map(usize::from),
                Some(3 + 5 + pes.data.len())
            );
        }
    }

    #[test]
    fn h264_aac_segment_packet_layer() {
        let (tracks, packets) = load_flv(H264_AAC_FLV);
        let ts = mux(&tracks, &packets);
        let scanned = scan(&ts);
        assert_eq!((scanned[0].pid, scanned[1].pid), (0, 0x1000));
        assert!(scanned
            .iter()
            .skip(2)
            .all(|s| s.pid == 0x100 || s.pid == 0x101));
        // PCRs only on the video PID, only at PES starts; one on every keyframe (which is the
        // only place random_access_indicator is set), never more than 100 ms apart here (25 fps).
        let mut starts = scanned.iter().filter(|s| s.unit_start && s.pid == 0x100);
        let video: Vec<&Packet> = packets.iter().filter(|p| p.track == VIDEO).collect();
        let mut last_pcr: Option<u64> = None;
        for p in &video {
            let s = starts.next().unwrap();
            assert_eq!(s.random_access, p.keyframe);
            if p.keyframe {
                assert_eq!(s.pcr, Some(p.time as u64 * 90));
            }
            if let Some(pcr) = s.pcr {
                assert_eq!(pcr, p.time as u64 * 90);
                if let Some(last) = last_pcr {
                    assert!(pcr - last <= 100 * 90, "PCR gap {}", pcr - last);
                }
                last_pcr = Some(pcr);
            }
        }
        assert!(scanned
            .iter()
            .all(|s| s.pcr.is_none() || (s.pid == 0x100 && s.unit_start)));
        assert!(scanned.iter().filter(|s| s.pcr.is_some()).count() > video.len() / 3);
        assert!(!scanned.iter().any(|s| s.random_access && s.pid != 0x100));
        // The clock stays below every decode time that follows it.
        let found = demux(&ts);
        let mut pcr_now = 0;
        let mut pes_index: BTreeMap<u16, usize> = BTreeMap::new();
        for s in &scanned {
            if let Some(pcr) = s.pcr {
                pcr_now = pcr;
            }
            if s.unit_start && s.pid != PAT_PID && s.pid != PMT_PID {
                let i = pes_index.entry(s.pid).or_default();
                let pes = &found.pes[&s.pid][*i];
                *i += 1;
                assert!(pes.dts.unwrap_or(pes.pts) > pcr_now);
            }
        }
    }

    #[test]
    fn h264_aac_segment_probes_with_ffprobe() {
        let (tracks, packets) = load_flv(H264_AAC_FLV);
        let ts = mux(&tracks, &packets);
        let path = temp_ts("h264-aac", &ts);
        let probe = ffprobe(&path, false);
        ffmpeg_decodes_cleanly(&path);
        std::fs::remove_file(&path).ok();

        assert_eq!(probe["format"]["format_name"], "mpegts");
        let streams = probe["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 2);
        assert_eq!(streams[0]["codec_name"], "h264");
        assert_eq!(streams[0]["width"], 320);
        assert_eq!(streams[0]["height"], 240);
        assert_eq!(streams[0]["id"], "0x100");
        assert_eq!(streams[1]["codec_name"], "aac");
        assert_eq!(streams[1]["sample_rate"], "44100");
        assert_eq!(streams[1]["id"], "0x101");

        let video: Vec<&Packet> = packets.iter().filter(|p| p.track == VIDEO).collect();
        let audio: Vec<&Packet> = packets.iter().filter(|p| p.track == AUDIO).collect();
        let vtimes = probe_times(&probe, 0);
        let atimes = probe_times(&probe, 1);
        assert_eq!((vtimes.len(), atimes.len()), (video.len(), audio.len()));
        for (probed, p) in vtimes.iter().zip(&video) {
            let (pts, dts) = expected_pts_dts(p);
            assert_eq!(*probed, (pts as i64, dts as i64));
        }
        assert!(vtimes.windows(2).all(|w| w[0].1 < w[1].1), "dts increasing");
        let mut vpts: Vec<i64> = vtimes.iter().map(|t| t.0).collect();
        vpts.sort_unstable();
        assert!(vpts.windows(2).all(|w| w[0] < w[1]), "distinct pts");
        assert!(
            atimes.windows(2).all(|w| w[0].0 < w[1].0),
            "audio pts increasing"
        );
        let keyframes = probe["packets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["stream_index"] == 0 && p["flags"].as_str().unwrap().starts_with('K'))
            .count();
        assert_eq!(keyframes, video.iter().filter(|p| p.keyframe).count());
    }

    #[test]
    fn hevc_segment_demuxes_and_probes() {
        let (tracks, packets) = load_flv(HEVC_FLV);
        assert_eq!(tracks.len(), 1);
        assert_eq!(tracks[0].codec, Some(Codec::Hevc));
        assert_eq!(packets.len(), 3);
        let ts = mux(&tracks, &packets);
        scan(&ts);

        let found = demux(&ts);
        assert_eq!(found.streams, vec![(0x100, 0x24)]);
        assert_eq!(found.pcr_pid, Some(0x100));
        let cfg = hevc::parse_hvcc(&tracks[0].init).unwrap();
        let pes = &found.pes[&0x100];
        assert_eq!(pes.len(), 3);
        for (pes, p) in pes.iter().zip(&packets) {
            let nals = split_annex_b(&pes.data);
            assert_eq!(nals[0], &HEVC_AUD[4..]);
            if p.keyframe {
                assert_eq!(&nals[1..4], &[&cfg.vps[0][..], &cfg.sps[0], &cfg.pps[0]]);
            }
            let (pts, dts) = expected_pts_dts(p);
            assert_eq!((pes.pts, pes.dts), (pts, (dts != pts).then_some(dts)));
        }

        let path = temp_ts("hevc", &ts);
        let probe = ffprobe(&path, true);
        ffmpeg_decodes_cleanly(&path);
        std::fs::remove_file(&path).ok();
        let streams = probe["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0]["codec_name"], "hevc");
        assert_eq!(streams[0]["width"], 176);
        assert_eq!(streams[0]["height"], 100);
        let times = probe_times(&probe, 0);
        assert_eq!(times.len(), 3);
        for (probed, p) in times.iter().zip(&packets) {
            let (pts, dts) = expected_pts_dts(p);
            assert_eq!(*probed, (pts as i64, dts as i64));
        }
    }

    #[test]
    fn mp3_segment_probes_with_ffprobe() {
        let file: &[u8] = include_bytes!("testdata/sine_22050_mono.mp3");
        // Skip the ID3v2 tag (its size is four 7-bit bytes).
        let mut at = 10
            + file[6..10]
                .iter()
                .fold(0, |acc, &b| (acc << 7) | usize::from(b));
        let mut frames = Vec::new();
        while let Ok(header) = super::super::mp3::parse_header(&file[at..]) {
            frames.push(&file[at..at + header.frame_len]);
            at += header.frame_len;
        }
        assert!(frames.len() > 2);
        let track = Track {
            id: 7,
            ..super::super::mp3::track_from_frame(frames[0]).unwrap()
        };
        let packets: Vec<Packet> = frames
            .iter()
            .enumerate()
            .map(|(i, f)| packet(7, i as i64 * 576 * 1000 / 22050, f))
            .collect();
        let ts = mux(&[track], &packets);
        let found = demux(&ts);
        assert_eq!(found.streams, vec![(0x100, 0x04)]);
        assert_eq!(found.pcr_pid, Some(0x100));
        assert_eq!(found.pes[&0x100].len(), packets.len());
        for (pes, p) in found.pes[&0x100].iter().zip(&packets) {
            assert_eq!(pes.data, p.data);
        }
        let path = temp_ts("mp3", &ts);
        let probe = ffprobe(&path, true);
        std::fs::remove_file(&path).ok();
        assert_eq!(probe["streams"][0]["codec_name"], "mp3");
        assert_eq!(probe_times(&probe, 0).len(), packets.len());
    }

    // ---- Tables ---------------------------------------------------------------------------------

    #[test]
    fn crc32_mpeg2_check_value() {
        // The CRC-32/MPEG-2 catalogue check value.
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
        assert_eq!(crc32_mpeg2(b""), 0xFFFF_FFFF);
        // Over a section and its CRC the remainder is 0.
        let pat = pat_section();
        assert_eq!(crc32_mpeg2(&pat), 0);
    }

    #[test]
    fn pat_and_pmt_bytes_exact() {
        // Same bytes ffmpeg 5.1 writes for H.264 on 0x100 and AAC on 0x101.
        let mut muxer = TsMuxer::new(&[h264_track(), aac_track()]);
        let mut out = BytesMut::new();
        muxer.write_tables(&mut out);
        assert_eq!(out.len(), 2 * TS_PACKET);
        let pat: &[u8] = &[
            0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00,
            0x01, 0xF0, 0x00, 0x2A, 0xB1, 0x04, 0xB2,
        ];
        assert_eq!(&out[..pat.len()], pat);
        assert!(out[pat.len()..TS_PACKET].iter().all(|&b| b == 0xFF));
        let pmt: &[u8] = &[
            0x47, 0x50, 0x00, 0x10, 0x00, 0x02, 0xB0, 0x17, 0x00, 0x01, 0xC1, 0x00, 0x00, 0xE1,
            0x00, 0xF0, 0x00, 0x1B, 0xE1, 0x00, 0xF0, 0x00, 0x0F, 0xE1, 0x01, 0xF0, 0x00, 0x2F,
            0x44, 0xB9, 0x9B,
        ];
        assert_eq!(&out[TS_PACKET..TS_PACKET + pmt.len()], pmt);
        assert!(out[TS_PACKET + pmt.len()..].iter().all(|&b| b == 0xFF));
        // Continuity counters advance per call.
        muxer.write_tables(&mut out);
        assert_eq!(out[2 * TS_PACKET + 3], 0x11);
        assert_eq!(out[3 * TS_PACKET + 3], 0x11);
    }

    #[test]
    fn pids_stream_types_and_pcr_pid() {
        let meta = Track {
            id: 9,
            codec: Some(Codec::Amf),
            ..Track::default()
        };
        // Audio first, video second: PCR on the video PID; the ignored track keeps its index.
        let tracks = [
            aac_track(),
            meta.clone(),
            h264_track(),
            mp3_track(4, 44100),
            mp3_track(5, 24000),
        ];
        let mut muxer = TsMuxer::new(&tracks);
        let mut out = BytesMut::new();
        muxer.write_tables(&mut out);
        let found = demux(&out);
        assert_eq!(
            found.streams,
            vec![(0x100, 0x0F), (0x102, 0x1B), (0x103, 0x03), (0x104, 0x04)]
        );
        assert_eq!(found.pcr_pid, Some(0x102));
        // Audio only: PCR on the first audio track.
        let mut out = BytesMut::new();
        TsMuxer::new(&[meta.clone(), mp3_track(4, 44100), aac_track()]).write_tables(&mut out);
        assert_eq!(demux(&out).pcr_pid, Some(0x101));
        // Nothing carried: an empty program with PCR_PID 0x1FFF.
        let mut out = BytesMut::new();
        TsMuxer::new(&[meta]).write_tables(&mut out);
        assert_eq!(&out[TS_PACKET + 13..TS_PACKET + 15], &[0xFF, 0xFF]);
        assert_eq!(crc32_mpeg2(&out[TS_PACKET + 5..TS_PACKET + 5 + 3 + 13]), 0);
    }

    #[test]
    fn many_tracks_fit_the_pmt() {
        let tracks: Vec<Track> = (0..40).map(|i| mp3_track(i, 44100)).collect();
        let mut muxer = TsMuxer::new(&tracks);
        let mut out = BytesMut::new();
        muxer.write_tables(&mut out);
        assert_eq!(out.len(), 2 * TS_PACKET);
        let found = demux(&out);
        assert_eq!(found.streams.len(), MAX_TRACKS);
        let p = packet(39, 0, &[1, 2, 3]);
        assert_eq!(
            muxer.write_packet(39, &p, &mut out),
            Err(TsError::Unsupported(39))
        );
    }

    // ---- PES and packetisation ----------------------------------------------------------------

    /// The PES bytes of each PES on `pid`, reassembled from the packets' payloads.
    fn reassemble(ts: &[u8], pid: u16) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        for raw in ts.chunks(TS_PACKET) {
            let pk = tsp::Packet::new(raw);
            if u16::from(pk.pid()) != pid {
                continue;
            }
            if pk.payload_unit_start_indicator() {
                out.push(Vec::new());
            }
            let payload = pk.payload().unwrap_or_default();
            out.last_mut().unwrap().extend_from_slice(payload);
        }
        out
    }

    #[test]
    fn stuffing_for_every_payload_size() {
        let track = mp3_track(1, 44100);
        let mut muxer = TsMuxer::new(&[track]);
        let mut out = BytesMut::new();
        let mut rng = XorShift(0x7575_1234);
        let mut sent = Vec::new();
        for (i, len) in (1..=600)
            .chain([65_000, 65_527, 65_528, 70_000])
            .enumerate()
        {
            let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let p = packet(1, i as i64 * 26, &data);
            muxer.write_packet(1, &p, &mut out).unwrap();
            sent.push(data);
        }
        scan(&out);
        let pes = reassemble(&out, 0x100);
        assert_eq!(pes.len(), sent.len());
        for (pes, data) in pes.iter().zip(&sent) {
            assert_eq!(&pes[..4], &[0, 0, 1, 0xC0]);
            let length = usize::from(u16::from_be_bytes([pes[4], pes[5]]));
            let header_len = 9 + usize::from(pes[8]);
            assert_eq!(&pes[header_len..], &data[..]);
            if pes.len() - 6 <= 0xFFFF {
                assert_eq!(length, pes.len() - 6);
            } else {
                assert_eq!(length, 0);
            }
        }
        // The PES reader agrees, including on the unbounded ones.
        let mut tables = BytesMut::new();
        TsMuxer::new(&[mp3_track(1, 44100)]).write_tables(&mut tables);
        tables.extend_from_slice(&out);
        let found = demux(&tables);
        assert_eq!(found.continuity_errors, 0);
        assert_eq!(found.pes[&0x100].len(), sent.len());
    }

    #[test]
    fn pcr_and_timestamp_field_layout() {
        // base 0x1_2345_6789, extension 0x155: 33 + 6 reserved + 9 bits.
        let packed = pcr_bytes(0x1_2345_6789, 0x155);
        let pcr = tsp::ClockRef::from_slice(&packed);
        assert_eq!((pcr.base(), pcr.extension()), (0x1_2345_6789, 0x155));
        assert_eq!(packed[4] & 0x7E, 0x7E, "reserved bits set");
        let ts = timestamp_bytes(0b0010, 0x1_2345_6789);
        assert_eq!(
            pes::Timestamp::from_pts_bytes(&ts).unwrap().value(),
            0x1_2345_6789
        );
        let ts = timestamp_bytes(0b0001, 0x1_FFFF_FFFF);
        assert_eq!(
            pes::Timestamp::from_dts_bytes(&ts).unwrap().value(),
            0x1_FFFF_FFFF
        );
    }

    #[test]
    fn pcr_interval_follows_pcr_pid_time() {
        // 10 fps video (100 ms apart): every frame gets a PCR; audio packets never do.
        let mut muxer = TsMuxer::new(&[h264_track(), mp3_track(2, 44100)]);
        let mut out = BytesMut::new();
        let idr = [0, 0, 0, 2, 0x65, 0x88];
        let slice = [0, 0, 0, 2, 0x41, 0x9A];
        for i in 0..10 {
            let mut v = packet(VIDEO, i * 100, &slice);
            v.keyframe = i == 0;
            if i == 0 {
                v.data = Bytes::copy_from_slice(&idr);
            }
            muxer.write_packet(VIDEO, &v, &mut out).unwrap();
            muxer
                .write_packet(
                    2,
                    &packet(2, i * 100 + 3, &[0xFF, 0xFB, 0x90, 0x00]),
                    &mut out,
                )
                .unwrap();
        }
        let scanned = scan(&out);
        let pcrs: Vec<u64> = scanned.iter().filter_map(|s| s.pcr).collect();
        assert_eq!(pcrs, (0..10).map(|i| i * 9000).collect::<Vec<u64>>());
        // 60 fps: a PCR within every 100 ms, but not on every frame.
        let mut muxer = TsMuxer::new(&[h264_track()]);
        let mut out = BytesMut::new();
        for i in 0..60 {
            let v = packet(VIDEO, 5000 + i * 50 / 3, &slice);
            muxer.write_packet(VIDEO, &v, &mut out).unwrap();
        }
        let pcrs: Vec<u64> = scan(&out).iter().filter_map(|s| s.pcr).collect();
        assert!(pcrs.len() < 30 && pcrs.len() >= 10, "{} PCRs", pcrs.len());
        assert_eq!(pcrs[0], 5000 * 90);
        assert!(pcrs.windows(2).all(|w| w[1] - w[0] <= 9000));
    }

    #[test]
    fn parameter_sets_not_repeated_when_present() {
        let track = h264_track();
        let cfg = h264::parse_avcc(&track.init).unwrap();
        let mut data = Vec::new();
        // An AUD of the source's own (dropped), SPS, PPS, an empty unit (dropped), IDR slice.
        let aud: &[u8] = &[0x09, 0x10];
        let idr: &[u8] = &[0x65, 0x88, 0x80];
        for nal in [aud, &cfg.sps[0], &cfg.pps[0], &[], idr] {
            data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            data.extend_from_slice(nal);
        }
        let mut p = packet(VIDEO, 0, &data);
        p.keyframe = true;
        let mut muxer = TsMuxer::new(&[track]);
        let mut out = BytesMut::new();
        muxer.write_packet(VIDEO, &p, &mut out).unwrap();
        let pes = &reassemble(&out, 0x100)[0];
        let es = &pes[9 + usize::from(pes[8])..];
        let mut want = H264_AUD.to_vec();
        for nal in [&cfg.sps[0][..], &cfg.pps[0], idr] {
            want.extend_from_slice(&START_CODE);
            want.extend_from_slice(nal);
        }
        assert_eq!(es, &want[..]);
        // PTS only: offset 0 means DTS = PTS.
        assert_eq!(pes[7], 0x80);
    }

    // ---- Malformed input -------------------------------------------------------------------

    #[test]
    fn truncated_nal_length_is_an_error_and_writes_nothing() {
        let mut muxer = TsMuxer::new(&[h264_track()]);
        let mut out = BytesMut::new();
        for data in [
            &[0, 0, 0, 10, 0x65, 1, 2][..],
            &[0, 0, 0][..],
            &[0, 0, 0, 2, 0x65, 1, 0, 0][..],
            &[0xFF, 0xFF, 0xFF, 0xFF][..],
        ] {
            let p = packet(VIDEO, 0, data);
            assert!(matches!(
                muxer.write_packet(VIDEO, &p, &mut out),
                Err(TsError::Nal(_))
            ));
            assert!(out.is_empty());
        }
        // The continuity counter did not move.
        let good = packet(VIDEO, 0, &[0, 0, 0, 2, 0x41, 0x9A]);
        muxer.write_packet(VIDEO, &good, &mut out).unwrap();
        assert_eq!(out[3] & 0x0F, 0);
        // segment() fails on the damaged packet instead of writing half a stream.
        let bad = packet(VIDEO, 40, &[0, 0, 0, 10, 0x65]);
        assert!(matches!(
            segment(&[h264_track()], &[&good, &bad]),
            Err(TsError::Nal(_))
        ));
    }

    #[test]
    fn unknown_and_unsupported_tracks() {
        let vp9 = Track {
            id: 3,
            codec: Some(Codec::Vp9),
            ..Track::default()
        };
        let bad_avcc = Track {
            id: 4,
            codec: Some(Codec::H264),
            init: Bytes::from_static(&[1, 2]),
            ..Track::default()
        };
        let no_codec = Track {
            id: 5,
            ..Track::default()
        };
        let mut muxer = TsMuxer::new(&[h264_track(), vp9.clone(), bad_avcc.clone(), no_codec]);
        let mut out = BytesMut::new();
        let p = packet(3, 0, &[1, 2, 3]);
        assert_eq!(
            muxer.write_packet(42, &p, &mut out),
            Err(TsError::UnknownTrack(42))
        );
        assert_eq!(
            muxer.write_packet(3, &p, &mut out),
            Err(TsError::Unsupported(3))
        );
        assert_eq!(
            muxer.write_packet(5, &p, &mut out),
            Err(TsError::Unsupported(5))
        );
        assert!(matches!(
            muxer.write_packet(4, &p, &mut out),
            Err(TsError::BadConfig { track: 4, .. })
        ));
        assert!(out.is_empty());
        // segment() skips them.
        let (_, packets) = load_flv(H264_AAC_FLV);
        let mut refs: Vec<&Packet> = packets.iter().filter(|p| p.track == VIDEO).collect();
        let stray = [packet(3, 0, &[1]), packet(4, 0, &[1]), packet(42, 0, &[1])];
        refs.extend(stray.iter());
        let ts = segment(&[h264_track(), vp9, bad_avcc], &refs).unwrap();
        assert_eq!(demux(&ts).pes[&0x100].len(), 50);
    }

    #[test]
    fn zero_length_packets_write_nothing() {
        let mut muxer = TsMuxer::new(&[h264_track(), aac_track(), mp3_track(3, 44100)]);
        let mut out = BytesMut::new();
        for track in [VIDEO, AUDIO, 3] {
            let mut p = packet(track, 0, &[]);
            p.keyframe = true;
            assert_eq!(muxer.write_packet(track, &p, &mut out), Ok(()));
        }
        assert!(out.is_empty());
        // A video packet of nothing but empty NAL units is an access unit of just the AUD (and
        // the parameter sets on a keyframe): still a valid PES.
        let p = packet(VIDEO, 0, &[0, 0, 0, 0, 0, 0, 0, 0]);
        muxer.write_packet(VIDEO, &p, &mut out).unwrap();
        let pes = &reassemble(&out, 0x100)[0];
        assert_eq!(&pes[9 + usize::from(pes[8])..], &H264_AUD);
    }

    #[test]
    fn aac_frame_too_long_for_adts() {
        let mut muxer = TsMuxer::new(&[aac_track()]);
        let mut out = BytesMut::new();
        let p = packet(AUDIO, 0, &vec![0x21; 0x2000]);
        assert!(matches!(
            muxer.write_packet(AUDIO, &p, &mut out),
            Err(TsError::Adts(AacError::FrameTooLong(_)))
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn random_packet_data_never_panics() {
        let hevc = Track {
            id: 6,
            ..load_flv(HEVC_FLV).0.remove(0)
        };
        let tracks = [h264_track(), aac_track(), mp3_track(3, 22050), hevc];
        let mut muxer = TsMuxer::new(&tracks);
        let mut rng = XorShift(0xDEAD_BEEF_0BAD_F00D);
        let mut out = BytesMut::new();
        for i in 0..20_000u32 {
            let track = [VIDEO, AUDIO, 3, 6, 99][(i % 5) as usize];
            let mut data = rng.bytes(600);
            // Steer some samples to valid lengths with random content.
            if i % 3 == 0 && data.len() > 4 {
                let len = (data.len() - 4) as u32;
                data[..4].copy_from_slice(&len.to_be_bytes());
            }
            let p = Packet {
                track,
                time: rng.next_u64() as i64 >> (rng.next_u64() % 64),
                offset: rng.next_u64() as i32,
                keyframe: rng.next_u64() & 1 == 1,
                data: Bytes::from(data),
            };
            let before = out.len();
            match muxer.write_packet(track, &p, &mut out) {
                Ok(()) => assert_eq!((out.len() - before) % TS_PACKET, 0),
                Err(_) => assert_eq!(out.len(), before),
            }
        }
        scan(&out);
    }

    #[test]
    fn timestamps_wrap_at_33_bits() {
        let wrap_ms = (1i64 << 33) / 90; // 95443717 ms, about 26.5 hours
        let mut muxer = TsMuxer::new(&[h264_track(), aac_track()]);
        let mut out = BytesMut::new();
        let mut times = Vec::new();
        for time in (wrap_ms - 300..wrap_ms + 300).step_by(40) {
            let mut v = packet(VIDEO, time, &[0, 0, 0, 2, 0x41, 0x9A]);
            v.offset = 80;
            muxer.write_packet(VIDEO, &v, &mut out).unwrap();
            muxer
                .write_packet(AUDIO, &packet(AUDIO, time, &[0x21, 0x10]), &mut out)
                .unwrap();
            times.push(v);
        }
        let mut ts = BytesMut::new();
        muxer.write_tables(&mut ts);
        ts.extend_from_slice(&out);
        let found = demux(&ts);
        for (pes, p) in found.pes[&0x100].iter().zip(&times) {
            let (pts, dts) = expected_pts_dts(p);
            assert_eq!((pes.pts, pes.dts), (pts, Some(dts)));
            assert!(pts < 1 << 33 && dts < 1 << 33);
        }
        assert!(found.pes[&0x100].iter().any(|p| p.pts < 90_000), "wrapped");
        let pcrs: Vec<u64> = scan(&ts).iter().filter_map(|s| s.pcr).collect();
        assert!(pcrs.iter().all(|&pcr| pcr < 1 << 33));
        assert!(pcrs.iter().any(|&pcr| pcr < 90_000), "PCR wrapped");

        // Negative times wrap the other way; extreme ones are refused.
        let p = packet(VIDEO, -DELAY_MS - 1, &[0, 0, 0, 2, 0x41, 0x9A]);
        assert_eq!(dts_pts(&p), Ok(((1 << 33) - 90, (1 << 33) - 90)));
        for time in [i64::MAX, i64::MAX - DELAY_MS, i64::MIN, i64::MIN / 90 - 1] {
            let p = packet(VIDEO, time, &[0, 0, 0, 2, 0x41, 0x9A]);
            let before = out.len();
            assert_eq!(
                muxer.write_packet(VIDEO, &p, &mut out),
                Err(TsError::Timestamp(time))
            );
            assert_eq!(out.len(), before);
        }
        let mut p = packet(VIDEO, 1000, &[0, 0, 0, 2, 0x41, 0x9A]);
        p.offset = i32::MIN;
        muxer.write_packet(VIDEO, &p, &mut out).unwrap();
    }
}
