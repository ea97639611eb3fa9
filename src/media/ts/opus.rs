//! Opus in MPEG-2 transport streams, the mapping ffmpeg writes and reads (ETSI TS 102 366's
//! companion for Opus): stream_type 0x06 in private_stream_1 PES packets, named by an `Opus`
//! registration descriptor; the DVB extension descriptor 0x7F with extension tag 0x80 holds a
//! channel_config_code; every Opus packet in the PES is preceded by an `opus_control_header`.
//!
//! ```text
//! opus_control_header:
//!   control_header_prefix 11 bits = 0x3FF | start_trim_flag 1 | end_trim_flag 1
//!   | control_extension_flag 1 | reserved 2
//!   au_size: bytes of 0xFF (255 each) then one byte < 255, summed
//!   [start_trim: reserved 3 | u13]  [end_trim: reserved 3 | u13]
//!   [control_extension_length u8 | that many bytes]
//! Opus packet (au_size bytes)
//! ```
//!
//! channel_config_code 1 and 2 are mono and stereo (OpusHead mapping family 0), 0 is dual mono
//! (family 255: two uncoupled streams), 3 to 8 are that many channels in the Vorbis order
//! (family 1, RFC 7845 5.1.1.2); 0x80 (an explicit mapping) is not supported.
//! The OpusHead (RFC 7845 5.1) built from it says 48 kHz input and pre-skip = the first
//! packet's start_trim.

use bytes::Bytes;

use super::psi::{DVB_EXTENSION_DESCRIPTOR, OPUS_EXTENSION_TAG, OPUS_REGISTRATION};

/// Streams and coupled streams of family 1 for 1 to 8 channels (RFC 7845 5.1.1.2).
const STREAMS: [u8; 8] = [1, 1, 2, 2, 3, 4, 4, 5];
const COUPLED: [u8; 8] = [0, 1, 1, 2, 2, 2, 3, 3];
/// The Vorbis channel order of RFC 7845 5.1.1.2 as a channel mapping, for 1 to 8 channels.
const MAPPING: [&[u8]; 8] = [
    &[0],
    &[0, 1],
    &[0, 2, 1],
    &[0, 1, 2, 3],
    &[0, 4, 1, 2, 3],
    &[0, 4, 1, 2, 3, 5],
    &[0, 4, 1, 2, 3, 5, 6],
    &[0, 6, 1, 2, 3, 4, 5, 7],
];

/// The OpusHead for a channel_config_code, with `pre_skip`.
pub fn opus_head(code: u8, pre_skip: u16) -> Result<Bytes, String> {
    let (channels, family, streams, coupled, mapping): (u8, u8, u8, u8, &[u8]) = match code {
        0 => (2, 255, 2, 0, &[0, 1]),
        1 | 2 => (code, 0, 0, 0, &[]),
        3..=8 => {
            let i = usize::from(code - 1);
            (code, 1, STREAMS[i], COUPLED[i], MAPPING[i])
        }
        _ => {
            return Err(format!(
                "Opus channel_config_code {code:#04x} is not supported"
            ))
        }
    };
    let mut head = b"OpusHead".to_vec();
    head.extend_from_slice(&[1, channels]);
    head.extend_from_slice(&pre_skip.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&[0, 0, family]);
    if family != 0 {
        head.extend_from_slice(&[streams, coupled]);
        head.extend_from_slice(mapping);
    }
    Ok(Bytes::from(head))
}

/// The channel_config_code an OpusHead needs, `None` when only an explicit mapping (code
/// 0x80, not written) could say it.
pub fn channel_config(head: &[u8]) -> Option<u8> {
    if head.len() < 19 || !head.starts_with(b"OpusHead") {
        return None;
    }
    let (channels, family) = (head[9], head[18]);
    let table = head.get(19..).unwrap_or_default();
    match family {
        0 if (1..=2).contains(&channels) => Some(channels),
        1 if (1..=8).contains(&channels) => {
            let i = usize::from(channels - 1);
            let expected = [&[STREAMS[i], COUPLED[i]][..], MAPPING[i]].concat();
            (table.get(..expected.len()) == Some(&expected[..])).then_some(channels)
        }
        255 if channels == 2 && table.get(..4) == Some(&[2, 0, 0, 1][..]) => Some(0),
        _ => None,
    }
}

/// The PMT ES_info descriptors of an Opus stream with `code`.
pub fn descriptors(code: u8) -> Vec<u8> {
    let mut d = OPUS_REGISTRATION.to_vec();
    d.extend_from_slice(&[DVB_EXTENSION_DESCRIPTOR, 2, OPUS_EXTENSION_TAG, code]);
    d
}

/// An opus_control_header without trims or extension, for an Opus packet of `len` bytes.
pub fn control_header(len: usize) -> Vec<u8> {
    let mut header = Vec::with_capacity(3 + len / 255);
    header.extend_from_slice(&[0x7F, 0xE0]);
    header.resize(2 + len / 255, 0xFF);
    header.push((len % 255) as u8);
    header
}

/// One access unit of an Opus PES payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessUnit<'a> {
    pub start_trim: Option<u16>,
    pub end_trim: Option<u16>,
    pub packet: &'a [u8],
}

/// Splits the access unit at the start of `data`: it and the bytes after it.
pub fn parse_access_unit(data: &[u8]) -> Result<(AccessUnit<'_>, &[u8]), String> {
    let (Some(&b0), Some(&b1)) = (data.first(), data.get(1)) else {
        return Err("opus_control_header truncated".into());
    };
    if u16::from_be_bytes([b0, b1]) >> 5 != 0x3FF {
        return Err(format!(
            "no opus_control_header prefix (found {b0:#04x} {b1:#04x})"
        ));
    }
    let mut at = 2usize;
    let mut size = 0usize;
    loop {
        let &b = data
            .get(at)
            .ok_or_else(|| "opus_control_header au_size truncated".to_string())?;
        at += 1;
        size += usize::from(b);
        if b != 0xFF {
            break;
        }
    }
    let mut trim = |flag: u8| -> Result<Option<u16>, String> {
        if b1 & flag == 0 {
            return Ok(None);
        }
        let v = data
            .get(at..at + 2)
            .ok_or_else(|| "opus_control_header trim truncated".to_string())?;
        at += 2;
        Ok(Some(u16::from_be_bytes([v[0] & 0x1F, v[1]])))
    };
    let start_trim = trim(0x10)?;
    let end_trim = trim(0x08)?;
    if b1 & 0x04 != 0 {
        let &len = data
            .get(at)
            .ok_or_else(|| "opus_control_header extension truncated".to_string())?;
        at += 1 + usize::from(len);
    }
    let packet = at
        .checked_add(size)
        .and_then(|end| data.get(at..end))
        .ok_or_else(|| format!("Opus access unit of {size} bytes runs past its PES"))?;
    let rest = data.get(at + size..).unwrap_or_default();
    Ok((
        AccessUnit {
            start_trim,
            end_trim,
            packet,
        },
        rest,
    ))
}
