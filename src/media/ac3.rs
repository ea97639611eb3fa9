//! AC-3 (Dolby Digital) syncframe headers and the `dac3` box of MP4.
//!
//! - ATSC A/52 5.3.1 `syncinfo()` and 5.4.1 (semantics): syncword 0x0B77, crc1, fscod
//!   (sample rate), frmsizecod (bit rate and frame size, Table 5.18); 5.3.2 `bsi()` as far as
//!   lfeon: bsid, bsmod, acmod (Table 5.8: channel layout), cmixlev if three front channels,
//!   surmixlev if a surround channel, dsurmod if 2/0, then lfeon.
//! - ETSI TS 102 366 Annex F.4 `AC3SpecificBox` (`dac3`): fscod 2, bsid 5, bsmod 3, acmod 3,
//!   lfeon 1, bit_rate_code 5, reserved 5 bits (3 bytes).
//!
//! ```text
//! syncword 16 | crc1 16 | fscod 2 | frmsizecod 6 | bsid 5 | bsmod 3 | acmod 3 | [cmixlev 2]
//! [surmixlev 2] [dsurmod 2] | lfeon 1
//! ```
//!
//! Every syncframe carries 1536 samples (6 audio blocks of 256). E-AC-3 (bsid 16, ETSI TS
//! 102 366 Annex E) shares the syncword but not the header; it is refused.

use bytes::Bytes;

use super::bits::BitReader;
use super::{Codec, Track};

/// Samples in one AC-3 syncframe (A/52 5.1: 6 blocks of 256).
pub const SAMPLES_PER_FRAME: u32 = 1536;
/// The syncword that starts every syncframe.
pub const SYNCWORD: u16 = 0x0B77;

/// Errors from the AC-3 header and `dac3` parsers.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Ac3Error {
    #[error("AC-3 header truncated")]
    Truncated,
    #[error("no AC-3 syncword")]
    NoSync,
    #[error("invalid AC-3 header: {0}")]
    Invalid(&'static str),
    #[error("E-AC-3 (bsid {0}) is not supported")]
    EnhancedAc3(u8),
}

/// One decoded syncframe header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ac3Header {
    /// Sample rate code: 0 48 kHz, 1 44.1 kHz, 2 32 kHz.
    pub fscod: u8,
    /// Frame size code 0..=37 (Table 5.18).
    pub frmsizecod: u8,
    pub bsid: u8,
    pub bsmod: u8,
    /// Audio coding mode (Table 5.8): 0 1+1, 1 1/0, 2 2/0, 3 3/0, 4 2/1, 5 3/1, 6 2/2, 7 3/2.
    pub acmod: u8,
    pub lfeon: bool,
    pub sample_rate: u32,
    /// Full-bandwidth channels plus the LFE channel.
    pub channels: u8,
    /// Whole syncframe length in bytes.
    pub frame_len: usize,
    pub bitrate_kbps: u32,
}

/// Nominal bit rates in kbit/s by `frmsizecod >> 1` (Table 5.18).
const BITRATES: [u32; 19] = [
    32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640,
];
/// Sample rates by fscod.
const RATES: [u32; 3] = [48_000, 44_100, 32_000];
/// Full-bandwidth channels by acmod (Table 5.8).
const ACMOD_CHANNELS: [u8; 8] = [2, 1, 2, 3, 3, 4, 4, 5];

/// Frame length in bytes for a sample rate code and frame size code (Table 5.18, which counts
/// 16-bit words: 48 kHz 2 words per kbit/s, 32 kHz 3, 44.1 kHz the rounded-down quotient plus
/// one word for odd frmsizecod).
fn frame_len(fscod: u8, frmsizecod: u8) -> Option<usize> {
    let kbps = *BITRATES.get(usize::from(frmsizecod >> 1))?;
    let words = match fscod {
        0 => kbps * 2,
        1 => kbps * 1000 * SAMPLES_PER_FRAME / 44_100 / 16 + u32::from(frmsizecod & 1),
        2 => kbps * 3,
        _ => return None,
    };
    usize::try_from(words * 2).ok()
}

/// Parses the syncinfo and the start of the bsi at the start of `data`.
pub fn parse_header(data: &[u8]) -> Result<Ac3Header, Ac3Error> {
    let head = data.get(..8).ok_or(Ac3Error::Truncated)?;
    if u16::from_be_bytes([head[0], head[1]]) != SYNCWORD {
        return Err(Ac3Error::NoSync);
    }
    let fscod = head[4] >> 6;
    let frmsizecod = head[4] & 0x3F;
    let bsid = head[5] >> 3;
    if bsid > 10 {
        return Err(Ac3Error::EnhancedAc3(bsid));
    }
    if bsid > 8 {
        return Err(Ac3Error::Invalid("bsid 9 and 10 (half and quarter rates)"));
    }
    let sample_rate = *RATES
        .get(usize::from(fscod))
        .ok_or(Ac3Error::Invalid("reserved fscod"))?;
    if frmsizecod > 37 {
        return Err(Ac3Error::Invalid("reserved frmsizecod"));
    }
    let frame_len = frame_len(fscod, frmsizecod).ok_or(Ac3Error::Invalid("frmsizecod"))?;
    let bitrate_kbps = BITRATES[usize::from(frmsizecod >> 1)];
    let mut bits = BitReader::new(&head[5..]);
    let mut read = |n: u32| -> Result<u8, Ac3Error> {
        // At most 8 bits a field, from 3 bytes holding at most 5 + 3 + 3 + 6 + 1 bits.
        bits.read_bits(n)
            .map(|v| v as u8)
            .map_err(|_| Ac3Error::Truncated)
    };
    read(5)?; // bsid, read above
    let bsmod = read(3)?;
    let acmod = read(3)?;
    if acmod & 1 == 1 && acmod != 1 {
        read(2)?; // cmixlev
    }
    if acmod & 4 == 4 {
        read(2)?; // surmixlev
    }
    if acmod == 2 {
        read(2)?; // dsurmod
    }
    let lfeon = read(1)? == 1;
    let channels = ACMOD_CHANNELS[usize::from(acmod & 7)] + u8::from(lfeon);
    Ok(Ac3Header {
        fscod,
        frmsizecod,
        bsid,
        bsmod,
        acmod,
        lfeon,
        sample_rate,
        channels,
        frame_len,
        bitrate_kbps,
    })
}

/// The `dac3` payload (ETSI TS 102 366 F.4) for the stream `header` starts.
pub fn dac3(header: &Ac3Header) -> [u8; 3] {
    let bits: u32 = (u32::from(header.fscod & 3) << 22)
        | (u32::from(header.bsid & 0x1F) << 17)
        | (u32::from(header.bsmod & 7) << 14)
        | (u32::from(header.acmod & 7) << 11)
        | (u32::from(header.lfeon) << 10)
        | (u32::from((header.frmsizecod >> 1) & 0x1F) << 5);
    let b = bits.to_be_bytes();
    [b[1], b[2], b[3]]
}

/// A `dac3` payload for a track known only by its rate, channel count and bytes per second
/// (an AC-3 track without a `dac3` of its own, as from Matroska): bsid 8, bsmod 0 (main audio),
/// acmod and lfeon from the channel count (1 1/0, 2 2/0, 3 3/0, 4 2/2, 5 3/2, 6 3/2 + LFE),
/// the lowest bit rate at or above `bps` (192 kbit/s when unknown). Only 48, 44.1 and 32 kHz
/// exist in AC-3.
pub fn dac3_from_track(rate: u32, channels: u32, bps: u64) -> Result<[u8; 3], Ac3Error> {
    let fscod = RATES
        .iter()
        .position(|&r| r == rate)
        .ok_or(Ac3Error::Invalid("sample rate"))?;
    let (acmod, lfeon) = match channels {
        1 => (1, false),
        3 => (3, false),
        4 => (6, false),
        5 => (7, false),
        6 => (7, true),
        _ => (2, false),
    };
    let kbps = bps.saturating_mul(8) / 1000;
    let code = match kbps {
        0 => 10,
        k => BITRATES
            .iter()
            .position(|&b| u64::from(b) >= k)
            .unwrap_or(BITRATES.len() - 1),
    };
    Ok(dac3(&Ac3Header {
        fscod: fscod as u8,
        frmsizecod: (code as u8) << 1,
        bsid: 8,
        bsmod: 0,
        acmod,
        lfeon,
        sample_rate: rate,
        channels: ACMOD_CHANNELS[usize::from(acmod)] + u8::from(lfeon),
        frame_len: 0,
        bitrate_kbps: 0,
    }))
}

/// What a `dac3` box says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dac3 {
    pub fscod: u8,
    pub bsid: u8,
    pub bsmod: u8,
    pub acmod: u8,
    pub lfeon: bool,
    pub bit_rate_code: u8,
    pub sample_rate: u32,
    pub channels: u8,
    pub bitrate_kbps: u32,
}

/// Parses a `dac3` payload (the 3 bytes after the box header).
pub fn parse_dac3(data: &[u8]) -> Result<Dac3, Ac3Error> {
    let b = data.get(..3).ok_or(Ac3Error::Truncated)?;
    let bits = u32::from_be_bytes([0, b[0], b[1], b[2]]);
    let fscod = (bits >> 22) as u8 & 3;
    let bsid = (bits >> 17) as u8 & 0x1F;
    let bsmod = (bits >> 14) as u8 & 7;
    let acmod = (bits >> 11) as u8 & 7;
    let lfeon = (bits >> 10) & 1 == 1;
    let bit_rate_code = (bits >> 5) as u8 & 0x1F;
    if bsid > 10 {
        return Err(Ac3Error::EnhancedAc3(bsid));
    }
    let sample_rate = *RATES
        .get(usize::from(fscod))
        .ok_or(Ac3Error::Invalid("reserved fscod"))?;
    let bitrate_kbps = *BITRATES
        .get(usize::from(bit_rate_code))
        .ok_or(Ac3Error::Invalid("bit_rate_code"))?;
    Ok(Dac3 {
        fscod,
        bsid,
        bsmod,
        acmod,
        lfeon,
        bit_rate_code,
        sample_rate,
        channels: ACMOD_CHANNELS[usize::from(acmod)] + u8::from(lfeon),
        bitrate_kbps,
    })
}

/// A [`Track`] for an AC-3 stream from one of its syncframes: codec string `ac-3`, rate,
/// channels (LFE counted), 16-bit samples, and the frame's `dac3` payload as init.
pub fn track_from_frame(data: &[u8]) -> Result<Track, Ac3Error> {
    let header = parse_header(data)?;
    Ok(Track {
        codec: Some(Codec::Ac3),
        init: Bytes::copy_from_slice(&dac3(&header)),
        codec_string: "ac-3".to_string(),
        rate: header.sample_rate,
        channels: u32::from(header.channels),
        size: 16,
        ..Track::default()
    })
}

/// Splits `data` into whole syncframes: each frame's bytes. Stops at the first place that is
/// not a syncframe or a frame cut short; returns the frames and the bytes consumed.
pub fn split_frames(data: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut frames = Vec::new();
    let mut at = 0;
    while let Some(rest) = data.get(at..) {
        let Ok(header) = parse_header(rest) else {
            break;
        };
        let Some(frame) = rest.get(..header.frame_len) else {
            break;
        };
        frames.push(frame);
        at += header.frame_len;
    }
    (frames, at)
}

#[cfg(test)]
mod tests;
