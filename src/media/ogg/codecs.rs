//! The codecs Ogg carries for Eddy, as their header packets describe them: what a stream is
//! (from its first packet), its [`Track`], how long each packet lasts, and what its granule
//! positions mean.
//!
//! - Opus, RFC 7845: `OpusHead` (section 5.1: magic, version, channel count, pre-skip u16 LE,
//!   input rate u32 LE, gain, mapping family) then `OpusTags`; granules count 48 kHz samples
//!   including the pre-skip. A packet's length comes from its TOC byte (RFC 6716 section 3.1).
//! - Vorbis I specification section 4.2: three headers of type 1, 3, 5 after `"vorbis"`; the
//!   identification header holds channels, rate and the two block sizes (section 4.2.2), the
//!   setup header ends with the mode table (section 4.2.4: per mode a block flag, 16-bit window
//!   type, 16-bit transform type and 8-bit mapping, then a framing bit). A packet's mode number
//!   follows its type bit and picks its block size; granules count samples.
//! - Theora specification section 6.2: three headers of type 0x80, 0x81, 0x82 after
//!   `"theora"`; the identification header holds the picture size, frame rate and the keyframe
//!   granule shift. Granule = keyframe number << shift | frames since it (numbers from 1 from
//!   version 3.2.1 on). A data packet is a keyframe when its second bit is clear.

use bytes::Bytes;

use super::super::{Codec, Track};
use super::xiph_lace;

/// What a logical stream carries, from its first packet.
#[derive(Debug, Clone, PartialEq)]
pub enum Identified {
    Opus(OpusHead),
    Vorbis(VorbisId),
    Theora(TheoraId),
    /// A codec Eddy does not carry, by name (for [`crate::media::vod::Index::skipped`]).
    Other(String),
}

/// Identifies a stream by its first packet; `Err` when the packet is a known codec's header
/// that does not parse.
pub fn identify(first: &[u8]) -> Result<Identified, String> {
    if first.starts_with(b"OpusHead") {
        return OpusHead::parse(first).map(Identified::Opus);
    }
    if first.starts_with(b"\x01vorbis") {
        return VorbisId::parse(first).map(Identified::Vorbis);
    }
    if first.starts_with(b"\x80theora") {
        return TheoraId::parse(first).map(Identified::Theora);
    }
    let named: &[(&[u8], &str)] = &[
        (b"\x7fFLAC", "FLAC"),
        (b"fLaC", "FLAC"),
        (b"Speex   ", "Speex"),
        (b"fishead\0", "Skeleton"),
        (b"\x80kate", "Kate"),
        (b"OVP80", "VP8"),
        (b"\x80daala", "Daala"),
        (b"PCM     ", "PCM"),
        (b"CELT    ", "CELT"),
        (b"\x01video\0\0\0", "OGM video"),
        (b"\x01audio\0\0\0", "OGM audio"),
        (b"\x01text\0\0\0", "OGM text"),
    ];
    Ok(Identified::Other(
        named
            .iter()
            .find(|(magic, _)| first.starts_with(magic))
            .map_or("unknown codec", |(_, name)| name)
            .to_string(),
    ))
}

/// The `OpusHead` identification header (RFC 7845 section 5.1).
#[derive(Debug, Clone, PartialEq)]
pub struct OpusHead {
    pub channels: u8,
    /// Samples (48 kHz) to drop at the start.
    pub pre_skip: u16,
    pub input_rate: u32,
    pub raw: Bytes,
}

impl OpusHead {
    pub fn parse(p: &[u8]) -> Result<OpusHead, String> {
        if p.len() < 19 || !p.starts_with(b"OpusHead") {
            return Err("OpusHead too short".into());
        }
        if p[8] >> 4 != 0 {
            return Err(format!("Opus header version {} unknown", p[8]));
        }
        if p[9] == 0 {
            return Err("OpusHead says 0 channels".into());
        }
        Ok(OpusHead {
            channels: p[9],
            pre_skip: u16::from_le_bytes([p[10], p[11]]),
            input_rate: u32::from_le_bytes([p[12], p[13], p[14], p[15]]),
            raw: Bytes::copy_from_slice(p),
        })
    }

    pub fn track(&self) -> Track {
        Track {
            codec: Some(Codec::Opus),
            init: self.raw.clone(),
            codec_string: "opus".into(),
            rate: 48_000,
            channels: u32::from(self.channels),
            size: 16,
            ..Track::default()
        }
    }
}

/// Samples (at 48 kHz) an Opus packet decodes to, from its TOC byte and, for code 3, its
/// frame count byte (RFC 6716 section 3.1); `None` for a packet too short to say.
pub fn opus_samples(packet: &[u8]) -> Option<u32> {
    let &toc = packet.first()?;
    let config = toc >> 3;
    // Frame sizes in 48 kHz samples: SILK 10/20/40/60 ms, hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(packet.get(1)? & 0x3F),
    };
    Some(frame * frames)
}

/// The Vorbis identification header (Vorbis I section 4.2.2).
#[derive(Debug, Clone, PartialEq)]
pub struct VorbisId {
    pub channels: u8,
    pub rate: u32,
    /// blocksize_0 and blocksize_1, in samples.
    pub blocksizes: [u32; 2],
}

impl VorbisId {
    pub fn parse(p: &[u8]) -> Result<VorbisId, String> {
        if p.len() < 30 || !p.starts_with(b"\x01vorbis") {
            return Err("Vorbis identification header too short".into());
        }
        let version = u32::from_le_bytes([p[7], p[8], p[9], p[10]]);
        let rate = u32::from_le_bytes([p[12], p[13], p[14], p[15]]);
        let (small, large) = (p[28] & 0x0F, p[28] >> 4);
        if version != 0 || p[11] == 0 || rate == 0 {
            return Err("Vorbis identification header has a bad version, rate or channels".into());
        }
        if !(6..=13).contains(&small) || !(6..=13).contains(&large) || small > large {
            return Err(format!(
                "Vorbis block sizes 2^{small}, 2^{large} are not allowed"
            ));
        }
        Ok(VorbisId {
            channels: p[11],
            rate,
            blocksizes: [1 << small, 1 << large],
        })
    }
}

/// The block flag of each mode, from the end of a Vorbis setup header (section 4.2.4), read
/// backwards from the framing bit: the longest run of well-formed mode entries (window and
/// transform type 0, mapping under 64) whose count the 6-bit field before it states.
pub fn vorbis_modes(setup: &[u8]) -> Result<Vec<bool>, String> {
    if !setup.starts_with(b"\x05vorbis") {
        return Err("not a Vorbis setup header".into());
    }
    let bit = |i: usize| (setup[i / 8] >> (i % 8)) & 1;
    let bits = |from: usize, n: usize| (0..n).fold(0u32, |v, k| v | u32::from(bit(from + k)) << k);
    // The framing bit: the last set bit of the packet.
    let total = setup.len() * 8;
    let framing = (0..total)
        .rev()
        .find(|&i| bit(i) == 1)
        .ok_or("Vorbis setup header has no framing bit")?;
    let mut best = None;
    for count in 1..=64usize {
        let Some(start) = framing.checked_sub(41 * count) else {
            break;
        };
        // Mode `count - 1` from the end sits at `start`.
        let well_formed =
            bits(start + 1, 16) == 0 && bits(start + 17, 16) == 0 && bits(start + 33, 8) < 64;
        if !well_formed || start < 7 * 8 + 6 {
            break;
        }
        if bits(start - 6, 6) as usize + 1 == count {
            best = Some(count);
        }
    }
    let count = best.ok_or("Vorbis setup header has no readable mode table")?;
    let first = framing - 41 * count;
    Ok((0..count).map(|m| bit(first + 41 * m) == 1).collect())
}

/// Per-packet timing of a Vorbis stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VorbisTiming {
    pub rate: u32,
    pub blocksizes: [u32; 2],
    pub modes: Vec<bool>,
    previous: Option<u32>,
}

impl VorbisTiming {
    pub fn new(id: &VorbisId, modes: Vec<bool>) -> VorbisTiming {
        VorbisTiming {
            rate: id.rate,
            blocksizes: id.blocksizes,
            modes,
            previous: None,
        }
    }

    /// Samples audio packet `p` adds: a quarter of the previous block plus a quarter of its own
    /// (section 1.3.2). The first packet counts as following a block of its own size (so it
    /// lasts half its block, as ffmpeg counts it); `None` for a packet that is not audio.
    pub fn samples(&mut self, p: &[u8]) -> Option<u32> {
        let &first = p.first()?;
        if first & 1 != 0 {
            return None;
        }
        // ilog(mode count - 1) bits of mode number after the type bit.
        let width = usize::BITS - (self.modes.len().saturating_sub(1)).leading_zeros();
        let word = u32::from(first) | u32::from(p.get(1).copied().unwrap_or(0)) << 8;
        let mode = ((word >> 1) & ((1 << width) - 1)) as usize;
        let long = *self.modes.get(mode)?;
        let size = self.blocksizes[usize::from(long)];
        let before = self.previous.unwrap_or(size);
        self.previous = Some(size);
        Some(before / 4 + size / 4)
    }
}

/// Vorbis's track, from its three header packets.
pub fn vorbis_track(id: &VorbisId, headers: &[&[u8]]) -> Track {
    Track {
        codec: Some(Codec::Vorbis),
        init: xiph_lace(headers),
        codec_string: "vorbis".into(),
        rate: id.rate,
        channels: u32::from(id.channels),
        size: 16,
        ..Track::default()
    }
}

/// The Theora identification header (Theora specification section 6.2).
#[derive(Debug, Clone, PartialEq)]
pub struct TheoraId {
    /// Version, as 0xMMmmrr.
    pub version: u32,
    pub width: u32,
    pub height: u32,
    pub fps_num: u32,
    pub fps_den: u32,
    pub shift: u8,
}

impl TheoraId {
    pub fn parse(p: &[u8]) -> Result<TheoraId, String> {
        if p.len() < 42 || !p.starts_with(b"\x80theora") {
            return Err("Theora identification header too short".into());
        }
        let be24 = |at: usize| u32::from_be_bytes([0, p[at], p[at + 1], p[at + 2]]);
        let be32 = |at: usize| u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]);
        let id = TheoraId {
            version: be24(7),
            width: be24(14),
            height: be24(17),
            fps_num: be32(22),
            fps_den: be32(26),
            shift: ((p[40] & 0x03) << 3) | (p[41] >> 5),
        };
        if p[7] != 3 || id.fps_num == 0 || id.fps_den == 0 {
            return Err("Theora identification header has a bad version or frame rate".into());
        }
        Ok(id)
    }

    /// The frame number (from 0) of the last frame a page's granule position covers.
    pub fn frame_of(&self, granule: i64) -> i64 {
        let key = granule >> self.shift;
        let delta = granule & ((1i64 << self.shift) - 1);
        let first = i64::from(self.version >= 0x030201);
        key + delta - first
    }

    /// The granule position of frame `frame` (from 0) whose last keyframe is `key`.
    pub fn granule_of(&self, key: i64, frame: i64) -> i64 {
        let first = i64::from(self.version >= 0x030201);
        ((key + first) << self.shift) | (frame - key)
    }

    pub fn track(&self, headers: &[&[u8]]) -> Track {
        Track {
            codec: Some(Codec::Theora),
            init: xiph_lace(headers),
            codec_string: "theora".into(),
            width: self.width,
            height: self.height,
            fpks: u32::try_from(u64::from(self.fps_num) * 1000 / u64::from(self.fps_den))
                .unwrap_or(u32::MAX),
            ..Track::default()
        }
    }
}

/// Whether a Theora data packet is a keyframe (the bit after the data-packet bit is clear).
pub fn theora_keyframe(p: &[u8]) -> bool {
    p.first().is_some_and(|b| b & 0xC0 == 0)
}
