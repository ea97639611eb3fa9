//! H.265 / HEVC parameter parsing, as far as passthrough needs.
//!
//! - ISO/IEC 14496-15 8.3.3.1 `HEVCDecoderConfigurationRecord` (hvcC) and Annex E.3 (the
//!   `hvc1.` codec string parameters).
//! - ITU-T H.265 | ISO/IEC 23008-2 7.3.1.2 (NAL unit header), 7.3.2.2.1
//!   `seq_parameter_set_rbsp` up to the conformance window, 7.3.3 `profile_tier_level`
//!   (skipped, sub-layers included), Table 6-1 (SubWidthC / SubHeightC) and Table 7-1 (IRAP
//!   NAL unit types 16..=23).

use bytes::Bytes;

use super::bits::{unescape_rbsp, BitError, BitReader, ByteReader};
use super::{Codec, Track};

/// Errors from the HEVC parsers.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HevcError {
    #[error("HEVC data truncated")]
    Truncated,
    #[error("invalid HEVC data: {0}")]
    Invalid(&'static str),
    #[error("unsupported HEVC data: {0}")]
    Unsupported(&'static str),
    #[error("HEVC bitstream: {0}")]
    Bits(#[from] BitError),
}

/// NAL unit types (H.265 Table 7-1).
pub const NAL_VPS: u8 = 32;
pub const NAL_SPS: u8 = 33;
pub const NAL_PPS: u8 = 34;

/// An `HEVCDecoderConfigurationRecord`; the parameter sets are zero-copy slices of it.
#[derive(Debug, Clone, PartialEq)]
pub struct HvcConfig {
    pub general_profile_space: u8,
    pub general_tier_flag: bool,
    pub general_profile_idc: u8,
    pub general_profile_compatibility_flags: u32,
    /// The 48 bits from general_progressive_source_flag on.
    pub general_constraint_indicator_flags: u64,
    pub general_level_idc: u8,
    /// Bytes in each NAL unit length prefix of the samples, 1..=4 (3 is not allowed by the
    /// spec but accepted, as for avcC).
    pub length_size: u8,
    pub vps: Vec<Bytes>,
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
}

/// Size of the fixed part of hvcC, before the NAL unit arrays.
const HVCC_HEADER_LEN: usize = 23;

/// Parses an hvcC record (14496-15 8.3.3.1.2):
///
/// ```text
///  0      configurationVersion = 1
///  1      general_profile_space u2 | general_tier_flag u1 | general_profile_idc u5
///  2..6   general_profile_compatibility_flags u32
///  6..12  general_constraint_indicator_flags u48
/// 12      general_level_idc
/// 13..15  1111 | min_spatial_segmentation_idc u12
/// 15      111111 | parallelismType u2
/// 16      111111 | chromaFormat u2
/// 17      11111 | bitDepthLumaMinus8 u3
/// 18      11111 | bitDepthChromaMinus8 u3
/// 19..21  avgFrameRate u16
/// 21      constantFrameRate u2 | numTemporalLayers u3 | temporalIdNested u1 |
///         lengthSizeMinusOne u2
/// 22      numOfArrays
///         { array_completeness u1 | reserved u1 | NAL_unit_type u6, numNalus u16,
///           { nalUnitLength u16, NAL unit } x numNalus } x numOfArrays
/// ```
///
/// configurationVersion 0 (written by some pre-standard muxers with the same layout) is
/// accepted too. Arrays of other NAL types (SEI) are skipped.
pub fn parse_hvcc(data: &Bytes) -> Result<HvcConfig, HevcError> {
    let mut r = ByteReader::new(data);
    let header = r.take(HVCC_HEADER_LEN).ok_or(HevcError::Truncated)?;
    let at = |i: usize| header.get(i).copied().unwrap_or(0);
    if at(0) > 1 {
        return Err(HevcError::Invalid("unknown hvcC configurationVersion"));
    }
    let length_size = (at(21) & 0x03) + 1;
    let mut cfg = HvcConfig {
        general_profile_space: at(1) >> 6,
        general_tier_flag: at(1) & 0x20 != 0,
        general_profile_idc: at(1) & 0x1F,
        general_profile_compatibility_flags: be(header, 2..6) as u32,
        general_constraint_indicator_flags: be(header, 6..12),
        general_level_idc: at(12),
        length_size,
        vps: Vec::new(),
        sps: Vec::new(),
        pps: Vec::new(),
    };
    let arrays = at(22);
    for _ in 0..arrays {
        read_array(&mut r, data, &mut cfg)?;
    }
    Ok(cfg)
}

/// Big-endian value of `bytes[range]` (0 for an out-of-range range; callers pass fixed ranges
/// inside an already length-checked header).
fn be(bytes: &[u8], range: std::ops::Range<usize>) -> u64 {
    bytes
        .get(range)
        .unwrap_or_default()
        .iter()
        .fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

/// One NAL unit array of hvcC; VPS/SPS/PPS are kept, other types skipped.
fn read_array(r: &mut ByteReader, data: &Bytes, cfg: &mut HvcConfig) -> Result<(), HevcError> {
    let nal_type = r.u8().ok_or(HevcError::Truncated)? & 0x3F;
    let count = r.u16().ok_or(HevcError::Truncated)?;
    for _ in 0..count {
        let len = r.u16().ok_or(HevcError::Truncated)?;
        let range = r.take_range(usize::from(len)).ok_or(HevcError::Truncated)?;
        let target = match nal_type {
            NAL_VPS => &mut cfg.vps,
            NAL_SPS => &mut cfg.sps,
            NAL_PPS => &mut cfg.pps,
            _ => continue,
        };
        target.push(data.slice(range));
    }
    Ok(())
}

/// Luma width and height after the conformance window, from an SPS NAL unit (2-byte header):
///
/// ```text
/// forbidden_zero_bit u1 | nal_unit_type u6 | nuh_layer_id u6 | nuh_temporal_id_plus1 u3
/// sps_video_parameter_set_id u4 | sps_max_sub_layers_minus1 u3 | temporal_id_nesting u1
/// profile_tier_level(1, sps_max_sub_layers_minus1)
/// sps_seq_parameter_set_id ue | chroma_format_idc ue | [separate_colour_plane_flag u1]
/// pic_width_in_luma_samples ue | pic_height_in_luma_samples ue
/// conformance_window_flag u1 [left, right, top, bottom offsets ue]
/// ```
pub fn parse_sps_size(nal: &[u8]) -> Result<(u32, u32), HevcError> {
    parse_sps_fields(nal).map(|sps| (sps.width, sps.height))
}

/// What an hvcC needs from an SPS, besides its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SpsFields {
    width: u32,
    height: u32,
    max_sub_layers_minus1: u8,
    temporal_id_nesting: bool,
    /// The 12 bytes of general profile, tier and level (profile_tier_level's first 96 bits),
    /// laid out as hvcC bytes 1..13 are.
    general_ptl: [u8; 12],
    chroma_format_idc: u8,
    /// bit_depth_luma_minus8 and bit_depth_chroma_minus8, when the SPS gets that far.
    bit_depths: Option<(u8, u8)>,
}

fn parse_sps_fields(nal: &[u8]) -> Result<SpsFields, HevcError> {
    let header = nal.get(..2).ok_or(HevcError::Truncated)?;
    let (h0, h1) = (
        header.first().copied().unwrap_or(0),
        header.get(1).copied().unwrap_or(0),
    );
    if h0 & 0x80 != 0 {
        return Err(HevcError::Invalid("forbidden_zero_bit is set"));
    }
    if (h0 >> 1) & 0x3F != NAL_SPS {
        return Err(HevcError::Invalid("not an SPS NAL unit"));
    }
    if ((h0 & 1) << 5) | (h1 >> 3) != 0 {
        return Err(HevcError::Unsupported(
            "SPS of a layer other than the base layer",
        ));
    }
    let rbsp = unescape_rbsp(nal.get(2..).unwrap_or_default());
    let mut r = BitReader::new(&rbsp);
    r.skip_bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.read_bits(3)?;
    if max_sub_layers_minus1 > 6 {
        return Err(HevcError::Invalid("sps_max_sub_layers_minus1 out of range"));
    }
    let temporal_id_nesting = r.read_bit()?;
    let mut general_ptl = [0u8; 12];
    if let Some(ptl) = rbsp.get(1..13) {
        general_ptl.copy_from_slice(ptl);
    }
    skip_profile_tier_level(&mut r, max_sub_layers_minus1)?;
    if r.read_ue()? > 15 {
        return Err(HevcError::Invalid("sps_seq_parameter_set_id out of range"));
    }
    let chroma_format_idc = r.read_ue()?;
    if chroma_format_idc > 3 {
        return Err(HevcError::Invalid("chroma_format_idc out of range"));
    }
    let separate_colour_plane = chroma_format_idc == 3 && r.read_bit()?;
    let width = r.read_ue()?;
    let height = r.read_ue()?;
    let window = if r.read_bit()? {
        [r.read_ue()?, r.read_ue()?, r.read_ue()?, r.read_ue()?]
    } else {
        [0; 4]
    };
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (width, height) = apply_conformance_window(chroma_array_type, width, height, window)?;
    // bit depths are at most 8 (16-bit samples); a cut SPS only loses them.
    let depth = |r: &mut BitReader| r.read_ue().ok().filter(|&d| d <= 8).map(|d| d as u8);
    let bit_depths = depth(&mut r).zip(depth(&mut r));
    Ok(SpsFields {
        width,
        height,
        max_sub_layers_minus1: max_sub_layers_minus1 as u8,
        temporal_id_nesting,
        general_ptl,
        chroma_format_idc: chroma_format_idc as u8,
        bit_depths,
    })
}

/// Builds an hvcC record (14496-15 8.3.3.1) from one VPS, SPS and PPS, with 4-byte NAL unit
/// lengths: general profile, tier, level and constraint flags, chroma format and bit depths
/// from the SPS; min_spatial_segmentation_idc, parallelismType, avgFrameRate and
/// constantFrameRate 0 (unknown); numTemporalLayers and temporalIdNested from the SPS; one
/// complete array per parameter set type.
pub fn build_hvcc(vps: &[u8], sps: &[u8], pps: &[u8]) -> Result<Bytes, HevcError> {
    let fields = parse_sps_fields(sps)?;
    if nal_type(vps) != Some(NAL_VPS) {
        return Err(HevcError::Invalid("not a VPS NAL unit"));
    }
    if nal_type(pps) != Some(NAL_PPS) {
        return Err(HevcError::Invalid("not a PPS NAL unit"));
    }
    let (luma, chroma) = fields
        .bit_depths
        .ok_or(HevcError::Invalid("SPS ends before its bit depths"))?;
    let mut out = Vec::with_capacity(HVCC_HEADER_LEN + 15 + vps.len() + sps.len() + pps.len());
    out.push(1);
    out.extend_from_slice(&fields.general_ptl);
    out.extend_from_slice(&[0xF0, 0x00, 0xFC]);
    out.push(0xFC | fields.chroma_format_idc);
    out.push(0xF8 | luma);
    out.push(0xF8 | chroma);
    out.extend_from_slice(&[0, 0]); // avgFrameRate
    out.push(
        ((fields.max_sub_layers_minus1 + 1) << 3)
            | (u8::from(fields.temporal_id_nesting) << 2)
            | 0x03,
    );
    out.push(3); // numOfArrays
    for (nal_type, nal) in [(NAL_VPS, vps), (NAL_SPS, sps), (NAL_PPS, pps)] {
        let len =
            u16::try_from(nal.len()).map_err(|_| HevcError::Invalid("parameter set too long"))?;
        out.push(0x80 | nal_type); // array_completeness 1
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal);
    }
    Ok(Bytes::from(out))
}

/// `profile_tier_level(1, maxNumSubLayersMinus1)` (7.3.3), skipped:
///
/// ```text
/// general profile/tier/level: 2+1+5 + 32 + 48 + 8 = 96 bits
/// { sub_layer_profile_present_flag u1, sub_layer_level_present_flag u1 } x maxNumSubLayersMinus1
/// if maxNumSubLayersMinus1 > 0: reserved_zero_2bits x (8 - maxNumSubLayersMinus1)
/// per sub-layer: [88 bits of profile if present] [8 bits of level if present]
/// ```
fn skip_profile_tier_level(r: &mut BitReader, max_sub_layers_minus1: u32) -> Result<(), HevcError> {
    r.skip_bits(96)?;
    let mut present = [(false, false); 7];
    for flags in present.iter_mut().take(max_sub_layers_minus1 as usize) {
        *flags = (r.read_bit()?, r.read_bit()?);
    }
    if max_sub_layers_minus1 > 0 {
        r.skip_bits(2 * (8 - max_sub_layers_minus1))?;
    }
    for &(profile, level) in present.iter().take(max_sub_layers_minus1 as usize) {
        if profile {
            r.skip_bits(88)?;
        }
        if level {
            r.skip_bits(8)?;
        }
    }
    Ok(())
}

/// Cuts the conformance window (7.4.3.2.1): offsets are in chroma samples, so they scale by
/// SubWidthC / SubHeightC (Table 6-1: 4:2:0 = 2/2, 4:2:2 = 2/1, 4:4:4 and 4:0:0 = 1/1).
fn apply_conformance_window(
    chroma_array_type: u32,
    width: u32,
    height: u32,
    [left, right, top, bottom]: [u32; 4],
) -> Result<(u32, u32), HevcError> {
    let (sub_width, sub_height): (u64, u64) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let cut_x = sub_width * (u64::from(left) + u64::from(right));
    let cut_y = sub_height * (u64::from(top) + u64::from(bottom));
    let w = u64::from(width)
        .checked_sub(cut_x)
        .filter(|&w| w > 0)
        .ok_or(HevcError::Invalid(
            "conformance window exceeds the picture width",
        ))?;
    let h = u64::from(height)
        .checked_sub(cut_y)
        .filter(|&h| h > 0)
        .ok_or(HevcError::Invalid(
            "conformance window exceeds the picture height",
        ))?;
    // Both are at most the u32 picture size.
    Ok((w as u32, h as u32))
}

/// The `hvc1.` codec string of 14496-15 E.3, e.g. `hvc1.1.6.L93.B0`:
///
/// ```text
/// hvc1.[A|B|C]<profile_idc>.<compatibility flags bit-reversed, hex>.<L|H><level_idc>
///      {.<constraint byte, hex>}  (trailing zero bytes omitted)
/// ```
pub fn codec_string(cfg: &HvcConfig) -> String {
    let space = match cfg.general_profile_space {
        1 => "A",
        2 => "B",
        3 => "C",
        _ => "",
    };
    let tier = if cfg.general_tier_flag { 'H' } else { 'L' };
    let mut out = format!(
        "hvc1.{space}{}.{:X}.{tier}{}",
        cfg.general_profile_idc,
        cfg.general_profile_compatibility_flags.reverse_bits(),
        cfg.general_level_idc
    );
    let constraints = cfg.general_constraint_indicator_flags.to_be_bytes();
    // The 48-bit value sits in the low 6 bytes of the u64.
    let bytes = constraints.get(2..).unwrap_or_default();
    let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    for byte in bytes.iter().take(used) {
        out.push_str(&format!(".{byte:X}"));
    }
    out
}

/// A [`Track`] for an hvcC record. Width and height come from the first SPS when it parses
/// and are 0 otherwise (passthrough does not need them).
pub fn track_from_hvcc(init: Bytes) -> Result<Track, HevcError> {
    let cfg = parse_hvcc(&init)?;
    let (width, height) = cfg
        .sps
        .first()
        .and_then(|sps| parse_sps_size(sps).ok())
        .unwrap_or((0, 0));
    Ok(Track {
        codec: Some(Codec::Hevc),
        codec_string: codec_string(&cfg),
        width,
        height,
        init,
        ..Track::default()
    })
}

/// `nal_unit_type` of an HEVC NAL unit (bits 1..7 of the first byte).
pub fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|header| (header >> 1) & 0x3F)
}

/// Whether a length-prefixed sample holds an IRAP picture (BLA, IDR, CRA: types 16..=23).
/// Stops at the first damaged length.
pub fn contains_irap(data: &[u8], length_size: u8) -> bool {
    super::nal::length_prefixed(data, length_size)
        .map_while(Result::ok)
        .any(|nal| super::nal::NalFlavor::Hevc.is_random_access(nal))
}

#[cfg(test)]
mod tests {
    use super::super::bits::tests::{BitWriter, XorShift};
    use super::*;

    /// x265 Main, 176x100 (coded 176x104, conformance window bottom 2 chroma rows).
    const SPS_MAIN: [u8; 41] = [
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x1e, 0xa0, 0x16, 0x20, 0x69, 0xf7, 0x96, 0x56, 0x69, 0x24, 0xca, 0xf0, 0x16,
        0x80, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x0c, 0x84,
    ];
    /// x265 Main 4:4:4 (RExt, profile 4), 176x100.
    const SPS_444: [u8; 45] = [
        0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9e, 0x08, 0x00, 0x00, 0x03, 0x00,
        0x00, 0x1e, 0x90, 0x02, 0xc4, 0x0d, 0x3e, 0x5c, 0xb2, 0xb3, 0x49, 0x26, 0x57, 0x80, 0xb7,
        0x02, 0x02, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0x64, 0x20,
    ];
    /// x265 Main 10 with temporal layers (sps_max_sub_layers_minus1 = 2), 200x120.
    const SPS_MAIN10_SUBLAYERS: [u8; 46] = [
        0x42, 0x01, 0x04, 0x02, 0x20, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3c, 0x00, 0x00, 0xa0, 0x19, 0x20, 0x79, 0x36, 0x59, 0x59, 0x4a, 0xca, 0x56,
        0x59, 0x24, 0xca, 0xf0, 0x16, 0x80, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x0f,
        0x04,
    ];
    const VPS_MAIN: [u8; 24] = [
        0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x03, 0x00, 0x1e, 0x95, 0x98, 0x09,
    ];
    const PPS_MAIN: [u8; 7] = [0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40];

    /// An hvcC like ffmpeg writes for SPS_MAIN, plus an SEI array that must be skipped.
    fn hvcc_main() -> Vec<u8> {
        let mut out = vec![
            0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1e, 0xf0,
            0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x04,
        ];
        for (ty, nal) in [
            (32u8, &VPS_MAIN[..]),
            (33, &SPS_MAIN),
            (34, &PPS_MAIN),
            (39, &[0x4e, 1]),
        ] {
            out.extend_from_slice(&[0x80 | ty, 0, 1]);
            out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            out.extend_from_slice(nal);
        }
        out
    }

    #[test]
    fn sps_sizes_from_x265() {
        assert_eq!(parse_sps_size(&SPS_MAIN), Ok((176, 100)));
        assert_eq!(parse_sps_size(&SPS_444), Ok((176, 100)));
        assert_eq!(parse_sps_size(&SPS_MAIN10_SUBLAYERS), Ok((200, 120)));
    }

    /// A synthetic SPS with sub-layer profile and level info present.
    fn synthetic_sps(
        sub_layers_minus1: u32,
        chroma: u32,
        size: (u32, u32),
        window: [u32; 4],
    ) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.bits(16, 0x4201)
            .bits(4, 0)
            .bits(3, u64::from(sub_layers_minus1))
            .bit(true);
        w.bits(96, 0); // general profile_tier_level (written as zeros, which is fine to skip)
        for i in 0..sub_layers_minus1 {
            w.bit(i % 2 == 0).bit(true);
        }
        if sub_layers_minus1 > 0 {
            w.bits(2 * (8 - sub_layers_minus1), 0);
        }
        for i in 0..sub_layers_minus1 {
            if i % 2 == 0 {
                w.bits(88, 0x5A5A);
            }
            w.bits(8, 0xFF);
        }
        w.ue(0).ue(chroma);
        if chroma == 3 {
            w.bit(false);
        }
        w.ue(size.0).ue(size.1);
        if window == [0; 4] {
            w.bit(false);
        } else {
            w.bit(true)
                .ue(window[0])
                .ue(window[1])
                .ue(window[2])
                .ue(window[3]);
        }
        w.trailing()
    }

    #[test]
    fn sub_layers_and_chroma_formats() {
        for sub in 0..=6 {
            let nal = synthetic_sps(sub, 1, (1920, 1088), [0, 0, 0, 4]);
            assert_eq!(parse_sps_size(&nal), Ok((1920, 1080)), "sub-layers {sub}");
        }
        assert_eq!(
            parse_sps_size(&synthetic_sps(1, 2, (64, 64), [1, 1, 1, 1])),
            Ok((60, 62))
        );
        assert_eq!(
            parse_sps_size(&synthetic_sps(0, 3, (64, 64), [1, 1, 1, 1])),
            Ok((62, 62))
        );
        assert_eq!(
            parse_sps_size(&synthetic_sps(0, 0, (64, 64), [1, 0, 0, 1])),
            Ok((63, 63))
        );
    }

    #[test]
    fn invalid_sps() {
        assert_eq!(parse_sps_size(&[0x42]), Err(HevcError::Truncated));
        assert_eq!(
            parse_sps_size(&PPS_MAIN),
            Err(HevcError::Invalid("not an SPS NAL unit"))
        );
        assert!(matches!(
            parse_sps_size(&[0x42, 0x09, 0x01]),
            Err(HevcError::Unsupported(_))
        ));
        assert!(matches!(
            parse_sps_size(&[0xC2, 0x01]),
            Err(HevcError::Invalid(_))
        ));
        let mut seven = SPS_MAIN;
        seven[2] = 0x0F; // sps_max_sub_layers_minus1 = 7
        assert_eq!(
            parse_sps_size(&seven),
            Err(HevcError::Invalid("sps_max_sub_layers_minus1 out of range"))
        );
        let over = synthetic_sps(0, 1, (16, 16), [4, 4, 0, 0]);
        assert_eq!(
            parse_sps_size(&over),
            Err(HevcError::Invalid(
                "conformance window exceeds the picture width"
            ))
        );
        // Cut inside the header or profile_tier_level: an error. Longer cuts may still reach
        // the conformance window; they must just not panic.
        for len in 0..SPS_MAIN.len() {
            let result = parse_sps_size(&SPS_MAIN[..len]);
            if len < 18 {
                assert!(result.is_err(), "len {len}");
            }
        }
    }

    #[test]
    fn hvcc_parses_with_zero_copy_parameter_sets() {
        let data = Bytes::from(hvcc_main());
        let cfg = parse_hvcc(&data).unwrap();
        assert_eq!(cfg.general_profile_space, 0);
        assert!(!cfg.general_tier_flag);
        assert_eq!(cfg.general_profile_idc, 1);
        assert_eq!(cfg.general_profile_compatibility_flags, 0x6000_0000);
        assert_eq!(cfg.general_constraint_indicator_flags, 0x9000_0000_0000);
        assert_eq!(cfg.general_level_idc, 30);
        assert_eq!(cfg.length_size, 4);
        assert_eq!(cfg.vps, vec![Bytes::from_static(&VPS_MAIN)]);
        assert_eq!(cfg.sps, vec![Bytes::from_static(&SPS_MAIN)]);
        assert_eq!(cfg.pps, vec![Bytes::from_static(&PPS_MAIN)]);
        assert_eq!(
            cfg.sps[0].as_ptr(),
            data[23 + 5 + VPS_MAIN.len() + 5..].as_ptr()
        );
        assert_eq!(codec_string(&cfg), "hvc1.1.6.L30.90");
        let track = track_from_hvcc(data.clone()).unwrap();
        assert_eq!(track.codec, Some(Codec::Hevc));
        assert_eq!((track.width, track.height), (176, 100));
        assert_eq!(track.codec_string, "hvc1.1.6.L30.90");
        assert_eq!(track.init, data);
    }

    #[test]
    fn hvcc_errors() {
        let full = hvcc_main();
        for len in 0..full.len() {
            let cut = Bytes::copy_from_slice(&full[..len]);
            assert_eq!(parse_hvcc(&cut), Err(HevcError::Truncated), "len {len}");
        }
        let mut v2 = full.clone();
        v2[0] = 2;
        assert!(matches!(
            parse_hvcc(&Bytes::from(v2)),
            Err(HevcError::Invalid(_))
        ));
        let mut ls2 = full.clone();
        ls2[21] = 0x0D;
        assert_eq!(parse_hvcc(&Bytes::from(ls2)).map(|c| c.length_size), Ok(2));
        let mut v0 = full;
        v0[0] = 0;
        assert!(parse_hvcc(&Bytes::from(v0)).is_ok());
    }

    #[test]
    fn track_without_usable_sps_is_still_ok() {
        let mut data = hvcc_main();
        data.truncate(23);
        data[22] = 0;
        let track = track_from_hvcc(Bytes::from(data)).unwrap();
        assert_eq!((track.width, track.height), (0, 0));
        assert_eq!(track.codec_string, "hvc1.1.6.L30.90");
        // An SPS that does not parse gives 0x0 too.
        let mut data = hvcc_main();
        let sps_at = 23 + 5 + VPS_MAIN.len() + 5;
        // Zero everything after profile_tier_level: seq_parameter_set_id becomes unreadable.
        for byte in &mut data[sps_at + 18..sps_at + SPS_MAIN.len()] {
            *byte = 0;
        }
        let track = track_from_hvcc(Bytes::from(data)).unwrap();
        assert_eq!((track.width, track.height), (0, 0));
    }

    #[test]
    fn codec_string_examples() {
        let mut cfg = parse_hvcc(&Bytes::from(hvcc_main())).unwrap();
        cfg.general_level_idc = 93;
        cfg.general_constraint_indicator_flags = 0xB000_0000_0000;
        assert_eq!(codec_string(&cfg), "hvc1.1.6.L93.B0");
        // Main 10, high tier, profile space 1, two constraint bytes, no trailing zeros.
        cfg.general_profile_space = 1;
        cfg.general_tier_flag = true;
        cfg.general_profile_idc = 2;
        cfg.general_profile_compatibility_flags = 0x2000_0000;
        cfg.general_level_idc = 120;
        cfg.general_constraint_indicator_flags = 0x9008_0000_0000;
        assert_eq!(codec_string(&cfg), "hvc1.A2.4.H120.90.8");
        cfg.general_constraint_indicator_flags = 0;
        assert_eq!(codec_string(&cfg), "hvc1.A2.4.H120");
    }

    #[test]
    fn build_hvcc_like_ffmpeg() {
        let built = build_hvcc(&VPS_MAIN, &SPS_MAIN, &PPS_MAIN).unwrap();
        let ffmpeg = hvcc_main();
        // The fixed part is what ffmpeg wrote, except numOfArrays (no SEI array here).
        assert_eq!(built[..22], ffmpeg[..22]);
        assert_eq!(built[22], 3);
        let cfg = parse_hvcc(&built).unwrap();
        assert_eq!(
            cfg,
            HvcConfig {
                vps: cfg.vps.clone(),
                ..parse_hvcc(&Bytes::from(ffmpeg)).unwrap()
            }
        );
        assert_eq!(cfg.vps, vec![Bytes::from_static(&VPS_MAIN)]);
        let track = track_from_hvcc(built).unwrap();
        assert_eq!((track.width, track.height), (176, 100));
        assert_eq!(track.codec_string, "hvc1.1.6.L30.90");
        // 4:4:4 and sub-layers reach the header too.
        let built = build_hvcc(&VPS_MAIN, &SPS_MAIN10_SUBLAYERS, &PPS_MAIN).unwrap();
        assert_eq!(built[21] >> 3 & 0x07, 3, "numTemporalLayers");
        assert_eq!(built[17..19], [0xFA, 0xFA], "10-bit");
        assert_eq!(
            build_hvcc(&VPS_MAIN, &SPS_444, &PPS_MAIN).unwrap()[16],
            0xFF
        );
        assert_eq!(
            build_hvcc(&SPS_MAIN, &SPS_MAIN, &PPS_MAIN),
            Err(HevcError::Invalid("not a VPS NAL unit"))
        );
        assert_eq!(
            build_hvcc(&VPS_MAIN, &SPS_MAIN, &VPS_MAIN),
            Err(HevcError::Invalid("not a PPS NAL unit"))
        );
        // A synthetic SPS that stops after the conformance window has no bit depths.
        let cut = synthetic_sps(0, 1, (64, 64), [0; 4]);
        assert!(matches!(
            build_hvcc(&VPS_MAIN, &cut, &PPS_MAIN),
            Err(HevcError::Invalid(_))
        ));
    }

    #[test]
    fn irap_detection() {
        let idr = [0, 0, 0, 3, 0x26, 0x01, 0xAF]; // IDR_W_RADL (19)
        let trail = [0, 0, 0, 3, 0x02, 0x01, 0xD0]; // TRAIL_R (1)
        let cra = [0, 0, 0, 2, 0x2A, 0x01]; // CRA (21)
        let rsv = [0, 0, 0, 2, 0x30, 0x01]; // reserved 24: not IRAP
        assert!(contains_irap(&idr, 4));
        assert!(!contains_irap(&trail, 4));
        assert!(contains_irap(&[&trail[..], &cra[..]].concat(), 4));
        assert!(!contains_irap(&rsv, 4));
        assert!(!contains_irap(&idr[..5], 4));
        assert!(!contains_irap(&idr, 0));
        assert_eq!(nal_type(&[0x40, 0x01]), Some(32));
        assert_eq!(nal_type(&[]), None);
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
        for _ in 0..20_000 {
            let mut data = rng.bytes(64);
            let _ = parse_sps_size(&data);
            if data.len() >= 2 {
                data[0] = 0x42;
                data[1] = 0x01;
            }
            let _ = parse_sps_size(&data);
            let bytes = Bytes::from(data.clone());
            let _ = parse_hvcc(&bytes);
            let _ = track_from_hvcc(bytes);
            let _ = contains_irap(&data, (rng.next_u64() % 6) as u8);
        }
    }

    #[test]
    fn mutated_fixtures_never_panic() {
        let mut rng = XorShift(7);
        let hvcc = hvcc_main();
        let fixtures: [&[u8]; 4] = [&SPS_MAIN, &SPS_444, &SPS_MAIN10_SUBLAYERS, &hvcc];
        for _ in 0..20_000 {
            let mut data = fixtures[(rng.next_u64() % 4) as usize].to_vec();
            for _ in 0..=(rng.next_u64() % 3) {
                let at = (rng.next_u64() as usize) % data.len();
                data[at] ^= 1 << (rng.next_u64() % 8);
            }
            let _ = parse_sps_size(&data);
            let _ = track_from_hvcc(Bytes::from(data));
        }
    }
}
