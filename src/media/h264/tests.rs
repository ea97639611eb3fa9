//! Tests of the H.264 parsers: SPS fields on x264 fixtures and synthetic bitstreams, avcC
//! records, NAL unit iteration, and random input.

use super::super::bits::tests::{BitWriter, XorShift};
use super::*;

/// x264 baseline, 176x100 at 25 fps, pic_order_cnt_type 2, cropped from 176x112.
const SPS_BASELINE: [u8; 24] = [
    0x67, 0x42, 0xc0, 0x0b, 0xd9, 0x02, 0xcf, 0xf9, 0xf0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00,
    0x00, 0x03, 0x00, 0x32, 0x8f, 0x14, 0x2a, 0x48,
];
/// x264 High 4:4:4 Predictive (244), 176x100 at 25 fps, `cqm=jvt` scaling matrices.
const SPS_HIGH444_CQM: [u8; 26] = [
    0x67, 0xf4, 0x00, 0x0b, 0x91, 0x9b, 0x28, 0x59, 0xff, 0x1b, 0x80, 0x88, 0x00, 0x00, 0x03, 0x00,
    0x08, 0x00, 0x00, 0x03, 0x01, 0x90, 0x78, 0xa1, 0x4c, 0xb0,
];
/// x264 High 4:2:2 (122), interlaced (frame_mbs_only 0), 320x240 at 30000/1001.
const SPS_HIGH422_INTERLACED: [u8; 24] = [
    0x67, 0x7a, 0x00, 0x15, 0xbc, 0xd9, 0x41, 0x41, 0x0f, 0xc4, 0xe0, 0x22, 0x00, 0x00, 0x07, 0xd2,
    0x00, 0x01, 0xd4, 0xc0, 0x3e, 0x28, 0x53, 0x2c,
];
/// avcC from ffmpeg's FLV muxer (x264 Main, 176x100 at 10 fps).
const AVCC_MAIN: [u8; 39] = [
    0x01, 0x4d, 0x40, 0x0a, 0xff, 0xe1, 0x00, 0x17, 0x67, 0x4d, 0x40, 0x0a, 0xec, 0xa1, 0x67, 0xfc,
    0xf8, 0x08, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x0a, 0x07, 0x89, 0x12, 0xcb, 0x01,
    0x00, 0x05, 0x68, 0xce, 0x03, 0x9c, 0x80,
];
const PPS: [u8; 5] = [0x68, 0xcb, 0x83, 0xcb, 0x20];

fn sps(profile_idc: u8, constraint_flags: u8, level_idc: u8, w: u32, h: u32, fpks: u32) -> Sps {
    Sps {
        profile_idc,
        constraint_flags,
        level_idc,
        width: w,
        height: h,
        fpks,
    }
}

#[test]
fn baseline_sps() {
    assert_eq!(
        parse_sps(&SPS_BASELINE),
        Ok(sps(66, 0xC0, 11, 176, 100, 25000))
    );
}

#[test]
fn high444_sps_with_scaling_matrices() {
    assert_eq!(
        parse_sps(&SPS_HIGH444_CQM),
        Ok(sps(244, 0, 11, 176, 100, 25000))
    );
    let details = parse_sps_details(&SPS_HIGH444_CQM).unwrap();
    assert_eq!(details.chroma.chroma_format_idc, 3);
}

#[test]
fn high422_interlaced_sps() {
    assert_eq!(
        parse_sps(&SPS_HIGH422_INTERLACED),
        Ok(sps(122, 0, 21, 320, 240, 29970))
    );
    assert_eq!(
        parse_sps_details(&SPS_HIGH422_INTERLACED)
            .unwrap()
            .chroma
            .chroma_format_idc,
        2
    );
}

/// Writes a synthetic SPS; `body` writes everything after seq_parameter_set_id.
fn synthetic_sps(profile_idc: u8, body: impl FnOnce(&mut BitWriter)) -> Vec<u8> {
    let mut w = BitWriter::default();
    w.bits(8, 0x67)
        .bits(8, u64::from(profile_idc))
        .bits(8, 0)
        .bits(8, 30)
        .ue(0);
    body(&mut w);
    w.trailing()
}

/// Writes the part from log2_max_frame_num_minus4 to the VUI flag for a frame-coded
/// picture of `w_mbs` x `h_mbs` macroblocks with the given crop.
fn common_tail(w: &mut BitWriter, w_mbs: u32, h_mbs: u32, crop: Option<[u32; 4]>) {
    w.ue(0).ue(2); // log2_max_frame_num_minus4, pic_order_cnt_type 2
    w.ue(1)
        .bit(false)
        .ue(w_mbs - 1)
        .ue(h_mbs - 1)
        .bit(true)
        .bit(true);
    match crop {
        Some(c) => {
            w.bit(true).ue(c[0]).ue(c[1]).ue(c[2]).ue(c[3]);
        }
        None => {
            w.bit(false);
        }
    }
}

#[test]
fn poc_type_1_and_full_vui() {
    let nal = synthetic_sps(77, |w| {
        w.ue(4)
            .ue(1)
            .bit(false)
            .se(-3)
            .se(5)
            .ue(3)
            .se(1)
            .se(-1)
            .se(7);
        w.ue(4)
            .bit(false)
            .ue(119)
            .ue(67)
            .bit(true)
            .bit(true)
            .bit(true);
        w.ue(0).ue(0).ue(0).ue(4); // 1920x1088 cropped by 2*4 rows -> 1080
        w.bit(true); // vui_parameters_present_flag
        w.bit(true).bits(8, 255).bits(16, 4).bits(16, 3); // Extended_SAR
        w.bit(true).bit(false); // overscan
        w.bit(true)
            .bits(3, 5)
            .bit(false)
            .bit(true)
            .bits(24, 0x01_0101); // video signal
        w.bit(true).ue(1).ue(2); // chroma loc
        w.bit(true).bits(32, 1001).bits(32, 120_000).bit(true); // timing, 59.94 fps
    });
    assert_eq!(parse_sps(&nal), Ok(sps(77, 0, 30, 1920, 1080, 59940)));
}

#[test]
fn poc_type_0_without_vui() {
    let nal = synthetic_sps(66, |w| {
        w.ue(0).ue(0).ue(2); // log2_max_frame_num_minus4, poc type 0, lsb minus4
        w.ue(1)
            .bit(false)
            .ue(19)
            .ue(14)
            .bit(true)
            .bit(true)
            .bit(false)
            .bit(false);
    });
    assert_eq!(parse_sps(&nal), Ok(sps(66, 0, 30, 320, 240, 0)));
}

#[test]
fn monochrome_and_separate_planes_crop_in_luma_units() {
    // chroma_format_idc 0: CropUnitX = 1, CropUnitY = 1 (frame coded).
    let mono = synthetic_sps(100, |w| {
        w.ue(0).ue(0).ue(0).bit(false).bit(false);
        common_tail(w, 10, 10, Some([1, 2, 3, 4]));
        w.bit(false);
    });
    assert_eq!(parse_sps(&mono), Ok(sps(100, 0, 30, 157, 153, 0)));
    // 4:4:4 with separate_colour_plane_flag: ChromaArrayType 0 as well.
    let planes = synthetic_sps(244, |w| {
        w.ue(3).bit(true).ue(2).ue(2).bit(false).bit(false);
        common_tail(w, 10, 10, Some([1, 0, 0, 1]));
        w.bit(false);
    });
    assert_eq!(parse_sps(&planes), Ok(sps(244, 0, 30, 159, 159, 0)));
    // 4:4:4 without it: CropUnitX = CropUnitY = 1 too, but through SubWidthC/SubHeightC.
    let yuv444 = synthetic_sps(244, |w| {
        w.ue(3).bit(false).ue(0).ue(0).bit(false).bit(false);
        common_tail(w, 10, 10, Some([0, 3, 0, 5]));
        w.bit(false);
    });
    assert_eq!(parse_sps(&yuv444), Ok(sps(244, 0, 30, 157, 155, 0)));
}

#[test]
fn scaling_list_that_stops_early() {
    // One 8x8 list whose first delta makes nextScale 0: only one code is read.
    let nal = synthetic_sps(100, |w| {
        w.ue(1).ue(0).ue(0).bit(false).bit(true);
        for i in 0..8 {
            w.bit(i == 6);
            if i == 6 {
                w.se(-8);
            }
        }
        common_tail(w, 2, 2, None);
        w.bit(false);
    });
    assert_eq!(parse_sps(&nal), Ok(sps(100, 0, 30, 32, 32, 0)));
}

#[test]
fn invalid_sps() {
    assert_eq!(parse_sps(&[]), Err(H264Error::Truncated));
    assert_eq!(
        parse_sps(&[0x68, 0, 0]),
        Err(H264Error::Invalid("not an SPS NAL unit"))
    );
    assert_eq!(
        parse_sps(&[0xE7, 0, 0]),
        Err(H264Error::Invalid("forbidden_zero_bit is set"))
    );
    assert_eq!(
        parse_sps(&[0x67, 0x42]),
        Err(H264Error::Bits(BitError::EndOfData))
    );
    let poc3 = synthetic_sps(66, |w| {
        w.ue(0).ue(3);
    });
    assert_eq!(
        parse_sps(&poc3),
        Err(H264Error::Invalid("pic_order_cnt_type out of range"))
    );
    let over_crop = synthetic_sps(66, |w| common_tail(w, 1, 1, Some([4, 4, 0, 0])));
    assert_eq!(
        parse_sps(&over_crop),
        Err(H264Error::Invalid(
            "frame cropping exceeds the picture width"
        ))
    );
    let chroma7 = synthetic_sps(100, |w| {
        w.ue(7);
    });
    assert_eq!(
        parse_sps(&chroma7),
        Err(H264Error::Invalid("chroma_format_idc out of range"))
    );
    let bad_id = synthetic_sps(66, |_| {});
    let mut bad_id = bad_id;
    bad_id[4] = 0x00; // ue with many leading zeros -> id > 31 or too long
    assert!(parse_sps(&bad_id).is_err());
}

#[test]
fn truncated_vui_keeps_the_size() {
    // Cut the baseline SPS inside its timing info: size survives, fps is lost.
    let cut = &SPS_BASELINE[..SPS_BASELINE.len() - 6];
    assert_eq!(parse_sps(cut), Ok(sps(66, 0xC0, 11, 176, 100, 0)));
}

#[test]
fn every_truncation_of_fixtures_is_handled() {
    for fixture in [&SPS_BASELINE[..], &SPS_HIGH444_CQM, &SPS_HIGH422_INTERLACED] {
        for len in 0..fixture.len() {
            let _ = parse_sps(&fixture[..len]);
        }
    }
}

#[test]
fn avcc_from_ffmpeg() {
    let data = Bytes::from_static(&AVCC_MAIN);
    let cfg = parse_avcc(&data).unwrap();
    assert_eq!(
        (cfg.profile, cfg.compatibility, cfg.level, cfg.length_size),
        (77, 0x40, 10, 4)
    );
    assert_eq!(cfg.sps.len(), 1);
    assert_eq!(
        cfg.pps,
        vec![Bytes::from_static(&[0x68, 0xce, 0x03, 0x9c, 0x80])]
    );
    // Zero-copy: the SPS points into the record.
    assert_eq!(cfg.sps[0].as_ptr(), data[8..].as_ptr());
    let track = track_from_avcc(data.clone()).unwrap();
    assert_eq!(track.codec, Some(Codec::H264));
    assert_eq!(track.codec_string, "avc1.4D400A");
    assert_eq!((track.width, track.height, track.fpks), (176, 100, 10000));
    assert_eq!(track.init, data);
    assert_eq!(track.id, 0);
}

#[test]
fn avcc_errors() {
    for len in 0..AVCC_MAIN.len() {
        let cut = Bytes::copy_from_slice(&AVCC_MAIN[..len]);
        assert_eq!(parse_avcc(&cut), Err(H264Error::Truncated), "len {len}");
    }
    let mut bad = AVCC_MAIN;
    bad[0] = 0;
    assert!(matches!(
        parse_avcc(&Bytes::copy_from_slice(&bad)),
        Err(H264Error::Invalid(_))
    ));
    let no_sps = Bytes::from_static(&[1, 66, 0, 30, 0xFF, 0xE0, 0]);
    assert_eq!(parse_avcc(&no_sps).map(|c| c.sps.len()), Ok(0));
    assert_eq!(
        track_from_avcc(no_sps),
        Err(H264Error::Invalid("avcC holds no SPS"))
    );
}

#[test]
fn build_then_parse_avcc() {
    let built = build_avcc(&SPS_BASELINE, &PPS).unwrap();
    let cfg = parse_avcc(&built).unwrap();
    assert_eq!(
        (cfg.profile, cfg.compatibility, cfg.level, cfg.length_size),
        (66, 0xC0, 11, 4)
    );
    assert_eq!(cfg.sps, vec![Bytes::copy_from_slice(&SPS_BASELINE)]);
    assert_eq!(cfg.pps, vec![Bytes::copy_from_slice(&PPS)]);
    assert_eq!(built.len(), 6 + 2 + 24 + 1 + 2 + 5);
    let track = track_from_avcc(built).unwrap();
    assert_eq!(track.codec_string, "avc1.42C00B");
}

#[test]
fn build_avcc_high_profile_extension() {
    let built = build_avcc(&SPS_HIGH422_INTERLACED, &PPS).unwrap();
    // chroma_format 2, 8-bit luma and chroma, no SPS extensions.
    assert_eq!(built[built.len() - 4..], [0xFE, 0xF8, 0xF8, 0x00]);
    assert_eq!(
        parse_avcc(&built).unwrap().sps[0][..],
        SPS_HIGH422_INTERLACED
    );
    // 244 is not in the extension list of 14496-15.
    let built = build_avcc(&SPS_HIGH444_CQM, &PPS).unwrap();
    assert_eq!(
        built.len(),
        6 + 2 + SPS_HIGH444_CQM.len() + 1 + 2 + PPS.len()
    );
}

#[test]
fn build_avcc_errors() {
    assert_eq!(
        build_avcc(&PPS, &PPS),
        Err(H264Error::Invalid("not an SPS NAL unit"))
    );
    assert_eq!(
        build_avcc(&SPS_BASELINE, &[]),
        Err(H264Error::Invalid("not a PPS NAL unit"))
    );
    let long_pps = vec![0x68; 70_000];
    assert_eq!(
        build_avcc(&SPS_BASELINE, &long_pps),
        Err(H264Error::Invalid("PPS too long"))
    );
}

#[test]
fn codec_strings() {
    assert_eq!(codec_string(100, 0, 31), "avc1.64001F");
    assert_eq!(codec_string(66, 0xE0, 10), "avc1.42E00A");
}

#[test]
fn fpks_edge_cases() {
    assert_eq!(fpks_from_timing(0, 50), 0);
    assert_eq!(fpks_from_timing(1, 50), 25000);
    assert_eq!(fpks_from_timing(1001, 60000), 29970);
    assert_eq!(fpks_from_timing(1, u32::MAX), 0); // absurd rate: unknown
}

#[test]
fn nal_unit_iteration() {
    let data = [0, 0, 0, 2, 0x65, 0xAA, 0, 0, 0, 1, 0x06, 0, 0, 0, 0];
    let units: Vec<_> = nal_units(&data, 4).collect();
    assert_eq!(
        units,
        vec![Ok(&[0x65, 0xAA][..]), Ok(&[0x06][..]), Ok(&[][..])]
    );
    assert!(contains_idr(&data, 4));
    let three = [0, 0, 1, 0x41, 0, 0, 1, 0x25];
    assert_eq!(nal_units(&three, 3).count(), 2);
    assert!(contains_idr(&three, 3));
    assert!(!contains_idr(&three[..4], 3));
    let one = [1, 0x41, 2, 0x01];
    let units: Vec<_> = nal_units(&one, 1).collect();
    assert_eq!(units, vec![Ok(&[0x41][..]), Err(H264Error::Truncated)]);
    assert_eq!(nal_units(&[], 4).count(), 0);
}

#[test]
fn nal_unit_errors_stop_iteration() {
    let short_len = [0, 0, 0];
    let units: Vec<_> = nal_units(&short_len, 4).collect();
    assert_eq!(units, vec![Err(H264Error::Truncated)]);
    let huge = [0xFF, 0xFF, 0xFF, 0xFF, 0x65];
    assert_eq!(
        nal_units(&huge, 4).collect::<Vec<_>>(),
        vec![Err(H264Error::Truncated)]
    );
    assert!(!contains_idr(&huge, 4));
    for bad in [0, 5, 255] {
        let mut it = nal_units(&[0, 1, 0x65], bad);
        assert!(matches!(it.next(), Some(Err(H264Error::Invalid(_)))));
        assert_eq!(it.next(), None);
    }
    // An IDR after a damaged unit is not found.
    assert!(!contains_idr(&[0, 0, 0, 9, 0x41, 0, 0, 0, 1, 0x65], 4));
}

#[test]
fn nal_types() {
    assert_eq!(nal_type(&[0x65]), Some(5));
    assert_eq!(nal_type(&[0x67, 1]), Some(7));
    assert_eq!(nal_type(&[]), None);
}

#[test]
fn random_input_never_panics() {
    let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
    for _ in 0..20_000 {
        let mut data = rng.bytes(48);
        let _ = parse_sps(&data);
        if let Some(first) = data.first_mut() {
            *first = 0x67; // make it look like an SPS to reach deeper code
        }
        let _ = parse_sps(&data);
        let _ = build_avcc(&data, &PPS);
        let bytes = Bytes::from(data.clone());
        let _ = parse_avcc(&bytes);
        let _ = track_from_avcc(bytes);
        for ls in 0..6 {
            let _ = nal_units(&data, ls).count();
            let _ = contains_idr(&data, ls);
        }
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let mut rng = XorShift(42);
    let fixtures: [&[u8]; 4] = [
        &SPS_BASELINE,
        &SPS_HIGH444_CQM,
        &SPS_HIGH422_INTERLACED,
        &AVCC_MAIN,
    ];
    for _ in 0..20_000 {
        let pick = (rng.next_u64() % 4) as usize;
        let mut data = fixtures[pick].to_vec();
        for _ in 0..=(rng.next_u64() % 3) {
            let at = (rng.next_u64() as usize) % data.len();
            data[at] ^= 1 << (rng.next_u64() % 8);
        }
        let _ = parse_sps(&data);
        let _ = track_from_avcc(Bytes::from(data));
    }
}
