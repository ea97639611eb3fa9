//! Program specific information: the PAT and the PMT, written and read, and their CRC.
//!
//! - ISO/IEC 13818-1 2.4.4 program specific information: 2.4.4.1 pointer_field, 2.4.4.3
//!   `program_association_section` (PAT, PID 0), 2.4.4.8 `TS_program_map_section` (PMT), 2.4.4.9
//!   PCR_PID (0x1FFF: no PCR), section_length at most 1021 (2.4.4.4, 2.4.4.9).
//! - Annex A CRC_32: polynomial 0x04C11DB7, initial value 0xFFFFFFFF, no reflection, no final
//!   XOR; over a whole section including its CRC the remainder is 0.
//! - Table 2-34 stream_type values: 0x1B H.264 (ITU-T H.264 | ISO/IEC 14496-10), 0x24 HEVC
//!   (ITU-T H.265 | ISO/IEC 23008-2), 0x0F AAC in ADTS (ISO/IEC 13818-7 / 14496-3 ADTS),
//!   0x03 MPEG-1 audio (ISO/IEC 11172-3), 0x04 MPEG-2 audio (ISO/IEC 13818-3, the lower rates).
//! - AC-3: stream_type 0x81 with a registration descriptor (2.6.8, tag 0x05) holding the
//!   format_identifier `AC-3` (ATSC A/52 Annex A, as ATSC and ffmpeg write it); read back also
//!   as 0x06 (private data) with that registration or with the DVB AC-3_descriptor (ETSI EN 300
//!   468 6.2.1 / TS 102 366 Annex D, tag 0x6A).
//! - Opus (ETSI TS 102 366's sibling for Opus, as ffmpeg writes and reads it): stream_type 0x06
//!   with a registration descriptor holding `Opus` and the DVB extension descriptor (tag 0x7F)
//!   whose extension tag 0x80 carries one channel_config_code byte ([`opus`](super::opus)).
//! - 0x11 AAC in LATM / LOAS (ISO/IEC 14496-3 1.7).
//!
//! ```text
//! table_id u8 | section_syntax_indicator 1 | '0' | reserved 11 | section_length u12
//! transport_stream_id or program_number u16 | reserved 11 | version_number u5
//! | current_next_indicator u1 | section_number u8 | last_section_number u8
//! PAT: { program_number u16 | reserved 111 | program_map_PID u13 } ...
//! PMT: reserved 111 | PCR_PID u13 | reserved 1111 | program_info_length u12 | descriptors
//!      { stream_type u8 | reserved 111 | elementary_PID u13 | reserved 1111
//!        | ES_info_length u12 | descriptors } ...
//! CRC_32
//! ```

pub(super) const STREAM_TYPE_MPEG1_AUDIO: u8 = 0x03;
pub(super) const STREAM_TYPE_MPEG2_AUDIO: u8 = 0x04;
pub(super) const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;
pub(super) const STREAM_TYPE_H264: u8 = 0x1B;
pub(super) const STREAM_TYPE_HEVC: u8 = 0x24;
/// ATSC A/52 Annex A: AC-3 audio.
pub(super) const STREAM_TYPE_AC3: u8 = 0x81;
/// PES packets with private data (13818-1 Table 2-34), named by a descriptor.
pub(super) const STREAM_TYPE_PRIVATE_PES: u8 = 0x06;
/// registration_descriptor (13818-1 2.6.8) with the `AC-3` format_identifier.
pub(super) const AC3_REGISTRATION: [u8; 6] = [0x05, 4, b'A', b'C', b'-', b'3'];
/// DVB AC-3_descriptor tag (ETSI EN 300 468 6.2.1).
const DVB_AC3_DESCRIPTOR: u8 = 0x6A;
/// ISO/IEC 14496-3 AAC in the LATM / LOAS transport.
pub(super) const STREAM_TYPE_AAC_LATM: u8 = 0x11;
/// registration_descriptor with the `Opus` format_identifier.
pub(super) const OPUS_REGISTRATION: [u8; 6] = [0x05, 4, b'O', b'p', b'u', b's'];
/// DVB extension_descriptor tag (EN 300 468 6.2.16) and the Opus extension tag in it.
pub(super) const DVB_EXTENSION_DESCRIPTOR: u8 = 0x7F;
pub(super) const OPUS_EXTENSION_TAG: u8 = 0x80;

pub(super) const TABLE_PAT: u8 = 0x00;
pub(super) const TABLE_PMT: u8 = 0x02;
/// PCR_PID for a program without a PCR (2.4.4.9).
pub(super) const NO_PCR_PID: u16 = 0x1FFF;
/// Largest section_length of a PAT or PMT.
pub(super) const MAX_SECTION_LENGTH: usize = 1021;
/// Bytes before section_length counts: table_id and the 2 bytes holding section_length.
pub(super) const SECTION_HEAD: usize = 3;

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

/// MPEG-1 audio for 32, 44.1 and 48 kHz (and unknown rates), MPEG-2 audio for the halved
/// (and MPEG 2.5 quartered) rates.
pub(super) fn mpeg_audio_stream_type(rate: u32) -> u8 {
    match rate {
        0 | 32000 | 44100 | 48000 => STREAM_TYPE_MPEG1_AUDIO,
        _ => STREAM_TYPE_MPEG2_AUDIO,
    }
}

/// program_association_section with one program on `pmt_pid`.
pub(super) fn pat_section(transport_stream_id: u16, program: u16, pmt_pid: u16) -> Vec<u8> {
    let mut body = Vec::with_capacity(4);
    body.extend_from_slice(&program.to_be_bytes());
    body.extend_from_slice(&(0xE000 | pmt_pid).to_be_bytes());
    psi_section(TABLE_PAT, transport_stream_id, &body)
}

/// TS_program_map_section for `program`: no descriptors, `streams` as (stream_type, PID).
#[cfg(test)]
pub(super) fn pmt_section(program: u16, pcr_pid: Option<u16>, streams: &[(u8, u16)]) -> Vec<u8> {
    let streams: Vec<(u8, u16, &[u8])> =
        streams.iter().map(|&(t, pid)| (t, pid, &[][..])).collect();
    pmt_section_with(program, pcr_pid, &streams)
}

/// TS_program_map_section for `program`: `streams` as (stream_type, PID, ES_info descriptors).
/// The descriptors are short constants (at most a few bytes per stream).
pub(super) fn pmt_section_with(
    program: u16,
    pcr_pid: Option<u16>,
    streams: &[(u8, u16, &[u8])],
) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + 11 * streams.len());
    body.extend_from_slice(&(0xE000 | pcr_pid.unwrap_or(NO_PCR_PID)).to_be_bytes());
    body.extend_from_slice(&[0xF0, 0x00]);
    for &(stream_type, pid, descriptors) in streams {
        body.push(stream_type);
        body.extend_from_slice(&(0xE000 | pid).to_be_bytes());
        let len = u16::try_from(descriptors.len()).unwrap_or(0) & 0x3FF;
        body.extend_from_slice(&(0xF000 | len).to_be_bytes());
        body.extend_from_slice(descriptors.get(..usize::from(len)).unwrap_or_default());
    }
    psi_section(TABLE_PMT, program, &body)
}

/// A long-form PSI section: the common 8-byte header (`id` is transport_stream_id or
/// program_number), `body`, then the CRC_32. Version 0, current, section 0 of 0.
pub(super) fn psi_section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    // From after section_length: 5 header bytes, the body, 4 CRC bytes. The callers' bodies
    // are small (at most 32 streams), far below the 12-bit limit.
    let section_length = 5 + body.len() + 4;
    let length_bits = u16::try_from(section_length).unwrap_or(0x3FF) & 0x3FF;
    let mut section = Vec::with_capacity(SECTION_HEAD + section_length);
    section.push(table_id);
    section.extend_from_slice(&(0xB000 | length_bits).to_be_bytes());
    section.extend_from_slice(&id.to_be_bytes());
    section.extend_from_slice(&[0xC1, 0x00, 0x00]);
    section.extend_from_slice(body);
    let crc = crc32_mpeg2(&section);
    section.extend_from_slice(&crc.to_be_bytes());
    section
}

/// Why a section was refused.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum SectionError {
    #[error("section truncated")]
    Truncated,
    #[error("section_syntax_indicator is 0 (not a long-form section)")]
    ShortForm,
    #[error("section_length {0} is out of range")]
    Length(usize),
    #[error("CRC_32 does not match")]
    Crc,
    #[error("a length inside the section runs past its end")]
    Overrun,
}

/// A checked long-form section (header parsed, CRC verified); `body` lies between the 8-byte
/// header and the CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section<'a> {
    pub table_id: u8,
    /// transport_stream_id (PAT) or program_number (PMT).
    pub id: u16,
    pub version: u8,
    pub current: bool,
    pub body: &'a [u8],
}

/// The length of the section starting `data` (SECTION_HEAD + section_length), once its first 3
/// bytes are there.
pub(super) fn section_len(data: &[u8]) -> Option<usize> {
    let b = data.get(1..3)?;
    let length = usize::from(u16::from_be_bytes([b[0] & 0x0F, b[1]]));
    Some(SECTION_HEAD + length)
}

impl<'a> Section<'a> {
    /// Checks and splits one whole section (3 + section_length bytes).
    pub fn parse(data: &'a [u8]) -> Result<Section<'a>, SectionError> {
        let total = section_len(data).ok_or(SectionError::Truncated)?;
        let length = total - SECTION_HEAD;
        // 5 header bytes and the CRC at least; PAT and PMT never exceed 1021.
        if !(9..=MAX_SECTION_LENGTH).contains(&length) {
            return Err(SectionError::Length(length));
        }
        let section = data.get(..total).ok_or(SectionError::Truncated)?;
        let header = section.get(..8).ok_or(SectionError::Truncated)?;
        if header[1] & 0x80 == 0 {
            return Err(SectionError::ShortForm);
        }
        if crc32_mpeg2(section) != 0 {
            return Err(SectionError::Crc);
        }
        Ok(Section {
            table_id: header[0],
            id: u16::from_be_bytes([header[3], header[4]]),
            version: (header[5] >> 1) & 0x1F,
            current: header[5] & 0x01 != 0,
            body: section.get(8..total - 4).unwrap_or_default(),
        })
    }
}

/// The (program_number, program_map_PID) entries of a PAT body; program 0 (the network PID) is
/// left out.
pub(super) fn parse_pat(body: &[u8]) -> Result<Vec<(u16, u16)>, SectionError> {
    if body.len() % 4 != 0 {
        return Err(SectionError::Overrun);
    }
    Ok(body
        .chunks_exact(4)
        .map(|e| (u16::from_be_bytes([e[0], e[1]]), pid_of(e[2], e[3])))
        .filter(|&(program, _)| program != 0)
        .collect())
}

/// A PMT body: PCR_PID and the elementary streams. Descriptors are skipped, except that a
/// private-data stream (0x06) that says it is AC-3 is listed as 0x81, and one with the `Opus`
/// registration gets its channel_config_code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ProgramMap {
    pub(super) pcr_pid: u16,
    pub(super) streams: Vec<PmtStream>,
}

/// One elementary stream of a PMT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PmtStream {
    pub(super) stream_type: u8,
    pub(super) pid: u16,
    /// For 0x06 with the `Opus` registration: `Some(None)` without the extension descriptor,
    /// `Some(Some(code))` with its channel_config_code.
    pub(super) opus: Option<Option<u8>>,
}

pub(super) fn parse_pmt(body: &[u8]) -> Result<ProgramMap, SectionError> {
    let head = body.get(..4).ok_or(SectionError::Truncated)?;
    let pcr_pid = pid_of(head[0], head[1]);
    let info_len = usize::from(u16::from_be_bytes([head[2] & 0x0F, head[3]]));
    let mut at = 4usize.checked_add(info_len).ok_or(SectionError::Overrun)?;
    if at > body.len() {
        return Err(SectionError::Overrun);
    }
    let mut streams = Vec::new();
    while at < body.len() {
        let entry = body.get(at..at + 5).ok_or(SectionError::Overrun)?;
        let es_info_len = usize::from(u16::from_be_bytes([entry[3] & 0x0F, entry[4]]));
        let descriptors = body
            .get(at + 5..at + 5 + es_info_len)
            .ok_or(SectionError::Overrun)?;
        let stream_type = match entry[0] {
            STREAM_TYPE_PRIVATE_PES if says_ac3(descriptors) => STREAM_TYPE_AC3,
            other => other,
        };
        let opus = (stream_type == STREAM_TYPE_PRIVATE_PES)
            .then(|| opus_channel_config(descriptors))
            .flatten();
        streams.push(PmtStream {
            stream_type,
            pid: pid_of(entry[1], entry[2]),
            opus,
        });
        at = at + 5 + es_info_len;
    }
    Ok(ProgramMap { pcr_pid, streams })
}

/// The (tag, content) pairs of a descriptor loop, up to the first that runs past its end.
fn descriptor_list(mut descriptors: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let [tag, len, rest @ ..] = descriptors else {
            return None;
        };
        let content = rest.get(..usize::from(*len))?;
        descriptors = rest.get(usize::from(*len)..).unwrap_or_default();
        Some((*tag, content))
    })
}

/// Whether an ES_info descriptor loop holds the `AC-3` registration or a DVB AC-3_descriptor.
fn says_ac3(descriptors: &[u8]) -> bool {
    descriptor_list(descriptors)
        .any(|(tag, content)| tag == DVB_AC3_DESCRIPTOR || (tag == 0x05 && content == b"AC-3"))
}

/// For a loop with the `Opus` registration: the channel_config_code of its Opus extension
/// descriptor, if there is one.
fn opus_channel_config(descriptors: &[u8]) -> Option<Option<u8>> {
    descriptor_list(descriptors).find(|&(tag, content)| tag == 0x05 && content == b"Opus")?;
    Some(
        descriptor_list(descriptors).find_map(|(tag, content)| match content {
            [OPUS_EXTENSION_TAG, code, ..] if tag == DVB_EXTENSION_DESCRIPTOR => Some(*code),
            _ => None,
        }),
    )
}

/// A 13-bit PID from its two bytes (3 reserved bits first).
fn pid_of(high: u8, low: u8) -> u16 {
    u16::from_be_bytes([high & 0x1F, low])
}
