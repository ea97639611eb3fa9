//! AAC in LOAS / LATM (ISO/IEC 14496-3 1.7), as MPEG-TS stream_type 0x11 carries it.
//!
//! ```text
//! AudioSyncStream (1.7.2): syncword 0x2B7 u11 | audioMuxLengthBytes u13 | AudioMuxElement(1)
//! AudioMuxElement(muxConfigPresent = 1) (1.7.3):
//!   useSameStreamMux u1 | [StreamMuxConfig]
//!   { PayloadLengthInfo | PayloadMux } x (numSubFrames + 1) | [otherData] | byte_align
//! StreamMuxConfig, audioMuxVersion 0 (the only one read):
//!   audioMuxVersion u1 = 0 | allStreamsSameTimeFraming u1 | numSubFrames u6
//!   | numProgram u4 = 0 | numLayer u3 = 0 | AudioSpecificConfig (inline, bit-aligned)
//!   | frameLengthType u3 = 0 | latmBufferFullness u8
//!   | otherDataPresent u1 | [otherDataLenBits in escaped bytes] | crcCheckPresent u1 | [u8]
//! PayloadLengthInfo (frameLengthType 0): bytes of 255 then one < 255, summed
//! PayloadMux: that many bytes, not byte-aligned (copied out bit by bit)
//! ```
//!
//! The AudioSpecificConfig (1.6.2.1) is read as far as its length needs: object types 1 to 4
//! (and 5 / 29, explicit SBR / PS, over one of those) with a GASpecificConfig
//! (frameLengthFlag, dependsOnCoreCoder, extensionFlag) and a channelConfiguration other than
//! 0. Everything else (audioMuxVersion 1, several programs or layers, other frame length
//! types, program config elements) is refused with an error.

use bytes::Bytes;

use super::super::aac;
use super::super::bits::BitReader;

/// The LOAS syncword (11 bits).
const SYNCWORD: u16 = 0x2B7;

/// What a StreamMuxConfig says about the one program and layer read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatmConfig {
    /// The AudioSpecificConfig, padded with zero bits to whole bytes.
    pub asc: Bytes,
    /// The AAC core's sampling rate (1024 samples a frame).
    pub sample_rate: u32,
    /// numSubFrames + 1: AAC frames per AudioMuxElement.
    pub frames: u8,
}

/// One LOAS frame: its configuration and its AAC frames (raw_data_blocks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoasFrame {
    pub config: LatmConfig,
    pub frames: Vec<Bytes>,
}

type Result<T> = std::result::Result<T, String>;

fn bits<T>(r: std::result::Result<T, super::super::bits::BitError>) -> Result<T> {
    r.map_err(|_| "AudioMuxElement truncated".to_string())
}

/// Reads the LOAS frame at the start of `data`, with `known` the configuration of the frames
/// before it: the frame (`None` when it uses the same StreamMuxConfig and none is known yet)
/// and the bytes after it.
pub fn parse_loas_frame<'a>(
    data: &'a [u8],
    known: Option<&LatmConfig>,
) -> Result<(Option<LoasFrame>, &'a [u8])> {
    let head = data.get(..3).ok_or("LOAS header truncated")?;
    if u16::from_be_bytes([head[0], head[1]]) >> 5 != SYNCWORD {
        return Err(format!(
            "no LOAS syncword (found {:#04x} {:#04x})",
            head[0], head[1]
        ));
    }
    let length = usize::from(u16::from_be_bytes([head[1] & 0x1F, head[2]]));
    let element = data
        .get(3..3 + length)
        .ok_or_else(|| format!("LOAS frame of {length} bytes runs past its PES"))?;
    let rest = data.get(3 + length..).unwrap_or_default();
    Ok((parse_audio_mux_element(element, known)?, rest))
}

/// Reads one AudioMuxElement with muxConfigPresent = 1 (LOAS, and RTP MP4A-LATM with
/// `cpresent=1`): its frames, or `None` when it uses the same StreamMuxConfig and none is known
/// yet (`known`).
pub fn parse_audio_mux_element(
    element: &[u8],
    known: Option<&LatmConfig>,
) -> Result<Option<LoasFrame>> {
    let mut r = BitReader::new(element);
    let same = bits(r.read_bit())?;
    let config = if same {
        match known {
            Some(config) => config.clone(),
            None => return Ok(None),
        }
    } else {
        stream_mux_config(&mut r)?
    };
    let frames = payloads(&mut r, &config)?;
    Ok(Some(LoasFrame { config, frames }))
}

/// Reads a StreamMuxConfig on its own, as RTP's MP4A-LATM `config=` carries it (RFC 6416
/// 6.1, hex-decoded).
pub fn parse_stream_mux_config(data: &[u8]) -> Result<LatmConfig> {
    stream_mux_config(&mut BitReader::new(data))
}

/// Reads the frames of one AudioMuxElement with muxConfigPresent = 0 (RTP MP4A-LATM with
/// `cpresent=0`: the configuration came out of band) at the start of `element`: the frames and
/// how many bytes they took (the element ends byte-aligned: lengths and payloads are whole
/// bytes with frameLengthType 0).
pub fn parse_payload_mux(element: &[u8], config: &LatmConfig) -> Result<(Vec<Bytes>, usize)> {
    let mut r = BitReader::new(element);
    let frames = payloads(&mut r, config)?;
    let used = (element.len() * 8 - r.bits_left()).div_ceil(8);
    Ok((frames, used))
}

/// { PayloadLengthInfo, PayloadMux } for each sub-frame (frameLengthType 0).
fn payloads(r: &mut BitReader, config: &LatmConfig) -> Result<Vec<Bytes>> {
    let mut frames = Vec::with_capacity(usize::from(config.frames));
    for _ in 0..config.frames {
        let mut len = 0usize;
        loop {
            let b = bits(r.read_bits(8))?;
            len += b as usize;
            if b != 255 {
                break;
            }
        }
        // The length is checked against the bits left before anything is allocated.
        if len.saturating_mul(8) > r.bits_left() {
            return Err(format!(
                "AAC frame of {len} bytes runs past its AudioMuxElement"
            ));
        }
        let mut frame = Vec::with_capacity(len);
        for _ in 0..len {
            frame.push(bits(r.read_bits(8))? as u8);
        }
        frames.push(Bytes::from(frame));
    }
    Ok(frames)
}

/// `LatmGetValue()` is only used by audioMuxVersion 1, which is refused.
fn stream_mux_config(r: &mut BitReader) -> Result<LatmConfig> {
    if bits(r.read_bit())? {
        return Err("audioMuxVersion 1 is not supported".into());
    }
    let _all_same_time_framing = bits(r.read_bit())?;
    let sub_frames = bits(r.read_bits(6))? as u8;
    let programs = bits(r.read_bits(4))?;
    let layers = bits(r.read_bits(3))?;
    if programs != 0 || layers != 0 {
        return Err(format!(
            "{} programs / {} layers in one LATM stream are not supported",
            programs + 1,
            layers + 1
        ));
    }
    let (asc, sample_rate) = audio_specific_config(r)?;
    let frame_length_type = bits(r.read_bits(3))?;
    if frame_length_type != 0 {
        return Err(format!(
            "frameLengthType {frame_length_type} is not supported"
        ));
    }
    bits(r.skip_bits(8))?; // latmBufferFullness
    if bits(r.read_bit())? {
        // otherDataLenBits: escaped bytes (only skipped; the other data itself is ignored).
        loop {
            let escape = bits(r.read_bit())?;
            bits(r.skip_bits(8))?;
            if !escape {
                break;
            }
        }
    }
    if bits(r.read_bit())? {
        bits(r.skip_bits(8))?; // crcCheckSum
    }
    Ok(LatmConfig {
        asc,
        sample_rate,
        frames: sub_frames + 1,
    })
}

/// Reads an inline AudioSpecificConfig (1.6.2.1): its bits as bytes, and the core rate.
fn audio_specific_config(r: &mut BitReader) -> Result<(Bytes, u32)> {
    let start = r.clone();
    let before = r.bits_left();
    let mut object_type = object_type(r)?;
    let index = bits(r.read_bits(4))?;
    if index == 15 {
        bits(r.skip_bits(24))?;
    }
    let channel_config = bits(r.read_bits(4))?;
    if object_type == 5 || object_type == 29 {
        if bits(r.read_bits(4))? == 15 {
            bits(r.skip_bits(24))?;
        }
        object_type = self::object_type(r)?;
    }
    if !(1..=4).contains(&object_type) {
        return Err(format!(
            "AudioSpecificConfig with object type {object_type} is not supported in LATM"
        ));
    }
    if channel_config == 0 {
        return Err("program_config_element in LATM is not supported".into());
    }
    // GASpecificConfig (4.4.1): frameLengthFlag, dependsOnCoreCoder [coreCoderDelay u14],
    // extensionFlag (0 for these object types; 1 would add extensionFlag3).
    bits(r.skip_bits(1))?;
    if bits(r.read_bit())? {
        bits(r.skip_bits(14))?;
    }
    if bits(r.read_bit())? {
        bits(r.skip_bits(1))?;
    }
    let length = before - r.bits_left();
    let mut copy = start;
    let mut asc = Vec::with_capacity(length.div_ceil(8));
    let mut left = length;
    while left > 0 {
        let n = left.min(8);
        let value = bits(copy.read_bits(n as u32))? as u8;
        asc.push(value << (8 - n));
        left -= n;
    }
    let parsed = aac::parse_asc(&asc).map_err(|e| e.to_string())?;
    Ok((Bytes::from(asc), parsed.sample_rate))
}

fn object_type(r: &mut BitReader) -> Result<u8> {
    let t = bits(r.read_bits(5))? as u8;
    if t == 31 {
        Ok(32 + bits(r.read_bits(6))? as u8)
    } else {
        Ok(t)
    }
}
