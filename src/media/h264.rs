//! H.264 / AVC parameter parsing.
//!
//! - ISO/IEC 14496-10 7.3.1 / 7.4.1 (NAL unit header), 7.3.2.1.1 `seq_parameter_set_data`
//!   with 7.3.2.1.1.1 `scaling_list` (skipped), the frame-cropping semantics of 7.4.2.1.1 and
//!   Table 6-1 (CropUnitX / CropUnitY), and Annex E.1.1 `vui_parameters` up to the timing info.
//! - ISO/IEC 14496-15 5.3.3.1 `AVCDecoderConfigurationRecord` (avcC) and 5.3.2 (samples as
//!   length-prefixed NAL units).
//! - RFC 6381 3.3 codec strings (`avc1.PPCCLL`).

use bytes::Bytes;

use super::bits::{unescape_rbsp, BitError, BitReader, ByteReader};
use super::nal::{self, NalError, NalFlavor};
use super::{Codec, Track};

pub mod annexb;

/// Errors from the H.264 parsers.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum H264Error {
    #[error("H.264 data truncated")]
    Truncated,
    #[error("invalid H.264 data: {0}")]
    Invalid(&'static str),
    #[error("H.264 bitstream: {0}")]
    Bits(#[from] BitError),
}

impl From<NalError> for H264Error {
    fn from(e: NalError) -> Self {
        match e {
            NalError::Truncated => H264Error::Truncated,
            NalError::LengthSize(_) => H264Error::Invalid("NAL length size must be 1 to 4"),
            NalError::TooLong(_) => H264Error::Invalid("NAL unit too long"),
        }
    }
}

/// NAL unit types used here (14496-10 Table 7-1).
pub const NAL_IDR: u8 = 5;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;

/// The stream properties Eddy needs from a sequence parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sps {
    pub profile_idc: u8,
    /// constraint_set0_flag .. constraint_set5_flag and the two reserved bits, as one byte.
    pub constraint_flags: u8,
    pub level_idc: u8,
    /// Luma width after frame cropping.
    pub width: u32,
    /// Luma height (of a frame, both fields for interlaced video) after frame cropping.
    pub height: u32,
    /// Frames per 1000 s from the VUI timing info (`time_scale * 1000 / (2 * num_units_in_tick)`),
    /// 0 if absent.
    pub fpks: u32,
}

/// Profiles whose SPS carries chroma_format_idc, bit depths and scaling matrices (7.3.2.1.1),
/// plus 144, the withdrawn original High 4:4:4 profile, whose SPS had the same fields.
const HIGH_PROFILES: [u8; 14] = [
    100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135, 144,
];

/// Profiles whose avcC carries the chroma/bit-depth extension (14496-15 5.3.3.1.2).
const AVCC_EXT_PROFILES: [u8; 4] = [100, 110, 122, 144];

/// Chroma and bit-depth information of an SPS (defaults for non-high profiles: 4:2:0, 8 bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChromaInfo {
    chroma_format_idc: u8,
    separate_colour_plane: bool,
    bit_depth_luma_minus8: u8,
    bit_depth_chroma_minus8: u8,
}

impl Default for ChromaInfo {
    fn default() -> Self {
        ChromaInfo {
            chroma_format_idc: 1,
            separate_colour_plane: false,
            bit_depth_luma_minus8: 0,
            bit_depth_chroma_minus8: 0,
        }
    }
}

/// frame_crop_{left,right,top,bottom}_offset, in crop units.
#[derive(Debug, Clone, Copy, Default)]
struct Crop {
    left: u32,
    right: u32,
    top: u32,
    bottom: u32,
}

/// An SPS plus the fields avcC's high-profile extension needs.
#[derive(Debug, Clone, Copy)]
struct SpsDetails {
    sps: Sps,
    chroma: ChromaInfo,
}

/// Parses a sequence parameter set. `nal` starts with the 1-byte NAL header (type 7) and may
/// contain emulation-prevention bytes.
///
/// ```text
/// nal header | profile_idc u8 | constraint_set flags u8 | level_idc u8 | seq_parameter_set_id ue
/// [high profiles: chroma_format_idc ue, (separate_colour_plane_flag), bit depths ue ue,
///  qpprime flag, seq_scaling_matrix_present_flag, scaling lists]
/// log2_max_frame_num_minus4 ue | pic_order_cnt_type ue + its fields | max_num_ref_frames ue
/// gaps flag | pic_width_in_mbs_minus1 ue | pic_height_in_map_units_minus1 ue
/// frame_mbs_only_flag [mb_adaptive_frame_field_flag] | direct_8x8_inference_flag
/// frame_cropping_flag [4 x ue] | vui_parameters_present_flag [vui_parameters]
/// ```
pub fn parse_sps(nal: &[u8]) -> Result<Sps, H264Error> {
    parse_sps_details(nal).map(|details| details.sps)
}

fn parse_sps_details(nal: &[u8]) -> Result<SpsDetails, H264Error> {
    let (&header, payload) = nal.split_first().ok_or(H264Error::Truncated)?;
    if header & 0x80 != 0 {
        return Err(H264Error::Invalid("forbidden_zero_bit is set"));
    }
    if header & 0x1F != NAL_SPS {
        return Err(H264Error::Invalid("not an SPS NAL unit"));
    }
    let rbsp = unescape_rbsp(payload);
    let mut r = BitReader::new(&rbsp);
    let profile_idc = read_u8(&mut r)?;
    let constraint_flags = read_u8(&mut r)?;
    let level_idc = read_u8(&mut r)?;
    if r.read_ue()? > 31 {
        return Err(H264Error::Invalid("seq_parameter_set_id out of range"));
    }
    let chroma = if HIGH_PROFILES.contains(&profile_idc) {
        read_chroma_info(&mut r)?
    } else {
        ChromaInfo::default()
    };
    skip_frame_num_and_poc(&mut r)?;
    r.read_ue()?; // max_num_ref_frames
    r.skip_bits(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.read_ue()?) + 1;
    let height_map_units = u64::from(r.read_ue()?) + 1;
    let frame_mbs_only = r.read_bit()?;
    if !frame_mbs_only {
        r.skip_bits(1)?; // mb_adaptive_frame_field_flag
    }
    r.skip_bits(1)?; // direct_8x8_inference_flag
    let crop = if r.read_bit()? {
        read_crop(&mut r)?
    } else {
        Crop::default()
    };
    // A damaged or truncated VUI only loses the frame rate, not the whole SPS.
    let fpks = if r.read_bit()? {
        read_vui_fpks(&mut r).unwrap_or(0)
    } else {
        0
    };
    let (width, height) = picture_size(&chroma, width_mbs, height_map_units, frame_mbs_only, crop)?;
    let sps = Sps {
        profile_idc,
        constraint_flags,
        level_idc,
        width,
        height,
        fpks,
    };
    Ok(SpsDetails { sps, chroma })
}

fn read_u8(r: &mut BitReader) -> Result<u8, H264Error> {
    Ok(r.read_bits(8)? as u8)
}

/// The high-profile block of 7.3.2.1.1, from chroma_format_idc to the scaling matrices.
fn read_chroma_info(r: &mut BitReader) -> Result<ChromaInfo, H264Error> {
    let chroma_format_idc = r.read_ue()?;
    if chroma_format_idc > 3 {
        return Err(H264Error::Invalid("chroma_format_idc out of range"));
    }
    let separate_colour_plane = chroma_format_idc == 3 && r.read_bit()?;
    let bit_depth_luma_minus8 = r.read_ue()?;
    let bit_depth_chroma_minus8 = r.read_ue()?;
    if bit_depth_luma_minus8 > 6 || bit_depth_chroma_minus8 > 6 {
        return Err(H264Error::Invalid("bit depth out of range"));
    }
    r.skip_bits(1)?; // qpprime_y_zero_transform_bypass_flag
    if r.read_bit()? {
        // seq_scaling_matrix_present_flag: 6 4x4 lists, then 2 (or 6 for 4:4:4) 8x8 lists.
        let lists = if chroma_format_idc == 3 { 12 } else { 8 };
        for i in 0..lists {
            if r.read_bit()? {
                skip_scaling_list(r, if i < 6 { 16 } else { 64 })?;
            }
        }
    }
    Ok(ChromaInfo {
        chroma_format_idc: chroma_format_idc as u8,
        separate_colour_plane,
        bit_depth_luma_minus8: bit_depth_luma_minus8 as u8,
        bit_depth_chroma_minus8: bit_depth_chroma_minus8 as u8,
    })
}

/// Skips one `scaling_list()` (7.3.2.1.1.1): delta_scale codes until nextScale becomes 0.
fn skip_scaling_list(r: &mut BitReader, size: usize) -> Result<(), H264Error> {
    let mut last_scale: i32 = 8;
    let mut next_scale: i32 = 8;
    for _ in 0..size {
        if next_scale != 0 {
            let delta = r.read_se()?;
            if !(-128..=127).contains(&delta) {
                return Err(H264Error::Invalid("delta_scale out of range"));
            }
            next_scale = (last_scale + delta + 256) % 256;
        }
        if next_scale != 0 {
            last_scale = next_scale;
        }
    }
    Ok(())
}

/// log2_max_frame_num_minus4 and the picture order count fields (pic_order_cnt_type 0, 1, 2).
fn skip_frame_num_and_poc(r: &mut BitReader) -> Result<(), H264Error> {
    if r.read_ue()? > 12 {
        return Err(H264Error::Invalid("log2_max_frame_num_minus4 out of range"));
    }
    match r.read_ue()? {
        0 => {
            if r.read_ue()? > 12 {
                return Err(H264Error::Invalid(
                    "log2_max_pic_order_cnt_lsb_minus4 out of range",
                ));
            }
        }
        1 => {
            r.skip_bits(1)?; // delta_pic_order_always_zero_flag
            r.read_se()?; // offset_for_non_ref_pic
            r.read_se()?; // offset_for_top_to_bottom_field
            let cycle = r.read_ue()?;
            if cycle > 255 {
                return Err(H264Error::Invalid(
                    "num_ref_frames_in_pic_order_cnt_cycle too big",
                ));
            }
            for _ in 0..cycle {
                r.read_se()?; // offset_for_ref_frame[i]
            }
        }
        2 => {}
        _ => return Err(H264Error::Invalid("pic_order_cnt_type out of range")),
    }
    Ok(())
}

fn read_crop(r: &mut BitReader) -> Result<Crop, H264Error> {
    Ok(Crop {
        left: r.read_ue()?,
        right: r.read_ue()?,
        top: r.read_ue()?,
        bottom: r.read_ue()?,
    })
}

/// Reads `vui_parameters()` (E.1.1) up to the timing info and returns the frame rate in frames
/// per 1000 s, or 0 when there is no timing info.
fn read_vui_fpks(r: &mut BitReader) -> Result<u32, BitError> {
    if r.read_bit()? {
        // aspect_ratio_info_present_flag: aspect_ratio_idc, Extended_SAR (255) adds sar w/h.
        if r.read_bits(8)? == 255 {
            r.skip_bits(32)?;
        }
    }
    if r.read_bit()? {
        r.skip_bits(1)?; // overscan_appropriate_flag
    }
    if r.read_bit()? {
        // video_signal_type_present_flag: video_format u(3), video_full_range_flag u(1)
        r.skip_bits(4)?;
        if r.read_bit()? {
            r.skip_bits(24)?; // colour_primaries, transfer_characteristics, matrix_coefficients
        }
    }
    if r.read_bit()? {
        r.read_ue()?; // chroma_sample_loc_type_top_field
        r.read_ue()?; // chroma_sample_loc_type_bottom_field
    }
    if !r.read_bit()? {
        return Ok(0); // timing_info_present_flag
    }
    let num_units_in_tick = r.read_bits(32)?;
    let time_scale = r.read_bits(32)?;
    Ok(fpks_from_timing(num_units_in_tick, time_scale))
}

/// One frame lasts two ticks (E.2.1), so fps = time_scale / (2 * num_units_in_tick).
fn fpks_from_timing(num_units_in_tick: u32, time_scale: u32) -> u32 {
    if num_units_in_tick == 0 {
        return 0;
    }
    let fpks = u64::from(time_scale) * 1000 / (2 * u64::from(num_units_in_tick));
    u32::try_from(fpks).unwrap_or(0)
}

/// Picture size after cropping (7.4.2.1.1, Table 6-1):
///
/// ```text
/// ChromaArrayType = separate_colour_plane ? 0 : chroma_format_idc
/// CropUnitX = ChromaArrayType == 0 ? 1 : SubWidthC
/// CropUnitY = ChromaArrayType == 0 ? 2 - frame_mbs_only : SubHeightC * (2 - frame_mbs_only)
/// width  = 16 * PicWidthInMbs - CropUnitX * (left + right)
/// height = 16 * PicHeightInMapUnits * (2 - frame_mbs_only) - CropUnitY * (top + bottom)
/// ```
fn picture_size(
    chroma: &ChromaInfo,
    width_mbs: u64,
    height_map_units: u64,
    frame_mbs_only: bool,
    crop: Crop,
) -> Result<(u32, u32), H264Error> {
    let chroma_array_type = if chroma.separate_colour_plane {
        0
    } else {
        chroma.chroma_format_idc
    };
    let (sub_width, sub_height) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let field_factor: u64 = if frame_mbs_only { 1 } else { 2 };
    let (unit_x, unit_y) = if chroma_array_type == 0 {
        (1, field_factor)
    } else {
        (sub_width, sub_height * field_factor)
    };
    let full_width = width_mbs * 16;
    let full_height = height_map_units * 16 * field_factor;
    let cut_x = unit_x * (u64::from(crop.left) + u64::from(crop.right));
    let cut_y = unit_y * (u64::from(crop.top) + u64::from(crop.bottom));
    let width = full_width
        .checked_sub(cut_x)
        .filter(|&w| w > 0)
        .ok_or(H264Error::Invalid(
            "frame cropping exceeds the picture width",
        ))?;
    let height = full_height
        .checked_sub(cut_y)
        .filter(|&h| h > 0)
        .ok_or(H264Error::Invalid(
            "frame cropping exceeds the picture height",
        ))?;
    let width = u32::try_from(width).map_err(|_| H264Error::Invalid("picture too wide"))?;
    let height = u32::try_from(height).map_err(|_| H264Error::Invalid("picture too tall"))?;
    Ok((width, height))
}

/// An `AVCDecoderConfigurationRecord`; the parameter sets are zero-copy slices of the record.
#[derive(Debug, Clone, PartialEq)]
pub struct AvcConfig {
    pub profile: u8,
    pub compatibility: u8,
    pub level: u8,
    /// Bytes in each NAL unit length prefix of the samples, 1..=4.
    pub length_size: u8,
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
}

/// Parses an avcC record (14496-15 5.3.3.1.2):
///
/// ```text
/// 0   configurationVersion = 1
/// 1   AVCProfileIndication
/// 2   profile_compatibility
/// 3   AVCLevelIndication
/// 4   111111xx   reserved, lengthSizeMinusOne
/// 5   111xxxxx   reserved, numOfSequenceParameterSets
///     { u16 sequenceParameterSetLength, SPS NAL unit } x numOfSequenceParameterSets
///     u8 numOfPictureParameterSets
///     { u16 pictureParameterSetLength, PPS NAL unit } x numOfPictureParameterSets
///     [profiles 100/110/122/144: chroma_format, bit depths, SPS extensions -- ignored]
/// ```
///
/// Reserved bits are not checked (some muxers write zeros there).
pub fn parse_avcc(data: &Bytes) -> Result<AvcConfig, H264Error> {
    let mut r = ByteReader::new(data);
    if r_u8(&mut r)? != 1 {
        return Err(H264Error::Invalid("avcC configurationVersion is not 1"));
    }
    let profile = r_u8(&mut r)?;
    let compatibility = r_u8(&mut r)?;
    let level = r_u8(&mut r)?;
    let length_size = (r_u8(&mut r)? & 0x03) + 1;
    let sps_count = r_u8(&mut r)? & 0x1F;
    let sps = read_parameter_sets(&mut r, data, sps_count)?;
    let pps_count = r_u8(&mut r)?;
    let pps = read_parameter_sets(&mut r, data, pps_count)?;
    Ok(AvcConfig {
        profile,
        compatibility,
        level,
        length_size,
        sps,
        pps,
    })
}

fn r_u8(r: &mut ByteReader) -> Result<u8, H264Error> {
    r.u8().ok_or(H264Error::Truncated)
}

/// `count` x { u16 length, NAL unit }, sliced out of `data` without copying.
fn read_parameter_sets(
    r: &mut ByteReader,
    data: &Bytes,
    count: u8,
) -> Result<Vec<Bytes>, H264Error> {
    (0..count)
        .map(|_| {
            let len = r.u16().ok_or(H264Error::Truncated)?;
            let range = r.take_range(usize::from(len)).ok_or(H264Error::Truncated)?;
            Ok(data.slice(range))
        })
        .collect()
}

/// Builds an avcC record with one SPS and one PPS and 4-byte NAL lengths. For profiles
/// 100/110/122/144 the chroma format / bit depth extension (with no SPS extensions) is added,
/// as 14496-15 requires.
pub fn build_avcc(sps: &[u8], pps: &[u8]) -> Result<Bytes, H264Error> {
    let details = parse_sps_details(sps)?;
    if nal_type(pps) != Some(NAL_PPS) {
        return Err(H264Error::Invalid("not a PPS NAL unit"));
    }
    let sps_len = u16::try_from(sps.len()).map_err(|_| H264Error::Invalid("SPS too long"))?;
    let pps_len = u16::try_from(pps.len()).map_err(|_| H264Error::Invalid("PPS too long"))?;
    let Sps {
        profile_idc,
        constraint_flags,
        level_idc,
        ..
    } = details.sps;
    let mut out = Vec::with_capacity(15 + sps.len() + pps.len());
    out.extend_from_slice(&[1, profile_idc, constraint_flags, level_idc, 0xFF, 0xE1]);
    out.extend_from_slice(&sps_len.to_be_bytes());
    out.extend_from_slice(sps);
    out.push(1);
    out.extend_from_slice(&pps_len.to_be_bytes());
    out.extend_from_slice(pps);
    if AVCC_EXT_PROFILES.contains(&profile_idc) {
        let c = details.chroma;
        out.extend_from_slice(&[
            0xFC | c.chroma_format_idc,
            0xF8 | c.bit_depth_luma_minus8,
            0xF8 | c.bit_depth_chroma_minus8,
            0, // numOfSequenceParameterSetExt
        ]);
    }
    Ok(Bytes::from(out))
}

/// RFC 6381 codec string, e.g. `avc1.64001F`.
pub fn codec_string(profile: u8, compatibility: u8, level: u8) -> String {
    format!("avc1.{profile:02X}{compatibility:02X}{level:02X}")
}

/// A [`Track`] for an avcC record: codec string from the record, size and frame rate from its
/// first SPS.
pub fn track_from_avcc(init: Bytes) -> Result<Track, H264Error> {
    let cfg = parse_avcc(&init)?;
    let first = cfg
        .sps
        .first()
        .ok_or(H264Error::Invalid("avcC holds no SPS"))?;
    let sps = parse_sps(first)?;
    Ok(Track {
        codec: Some(Codec::H264),
        codec_string: codec_string(cfg.profile, cfg.compatibility, cfg.level),
        width: sps.width,
        height: sps.height,
        fpks: sps.fpks,
        init,
        ..Track::default()
    })
}

/// Iterates over the NAL units of a sample in avcC form (14496-15 5.3.2), with H.264 errors:
/// [`nal::length_prefixed`] does the splitting.
///
/// Yields an error once (then stops) on a truncated length or unit, or a length size outside
/// 1..=4.
pub fn nal_units(
    data: &[u8],
    length_size: u8,
) -> impl std::iter::FusedIterator<Item = Result<&[u8], H264Error>> + '_ {
    nal::length_prefixed(data, length_size).map(|unit| unit.map_err(H264Error::from))
}

/// `nal_unit_type` (low 5 bits of the first byte), `None` for an empty unit.
pub fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|header| header & 0x1F)
}

/// Whether a length-prefixed sample holds an IDR slice (type 5). Stops at the first damaged
/// length.
pub fn contains_idr(data: &[u8], length_size: u8) -> bool {
    nal::length_prefixed(data, length_size)
        .map_while(Result::ok)
        .any(|nal| NalFlavor::H264.is_random_access(nal))
}

#[cfg(test)]
mod tests;
