//! H.264 and HEVC decoder configuration: SPS parsing (with emulation prevention), avcC and hvcC
//! records, and what is built from them (tracks, codec strings, a rebuilt avcC/hvcC).
//!
//! Byte 0 picks the parser (mod 4): H.264 SPS, avcC, HEVC SPS, hvcC. The rest is its input.
#![no_main]

use bytes::Bytes;
use eddy::media::{h264, hevc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            if let Ok(sps) = h264::parse_sps(rest) {
                let _ = h264::codec_string(sps.profile_idc, sps.constraint_flags, sps.level_idc);
                // The same SPS with a PPS makes an avcC that parses back to it.
                if let Ok(avcc) = h264::build_avcc(rest, &[0x68, 0xce, 0x38, 0x80]) {
                    let cfg = h264::parse_avcc(&avcc).expect("built avcC parses");
                    assert_eq!(cfg.sps.first().map(|s| &s[..]), Some(rest));
                    let track = h264::track_from_avcc(avcc).expect("built avcC gives a track");
                    assert_eq!((track.width, track.height), (sps.width, sps.height));
                }
            }
        }
        1 => {
            let init = Bytes::copy_from_slice(rest);
            if let Ok(cfg) = h264::parse_avcc(&init) {
                for sps in &cfg.sps {
                    let _ = h264::parse_sps(sps);
                }
            }
            let _ = h264::track_from_avcc(init);
            let _ = h264::contains_idr(rest, 1 + (mode >> 2) % 4);
        }
        2 => {
            if hevc::parse_sps_size(rest).is_ok() {
                if let Ok(hvcc) = hevc::build_hvcc(&[0x40, 0x01, 0x0c], rest, &[0x44, 0x01, 0xc1]) {
                    let cfg = hevc::parse_hvcc(&hvcc).expect("built hvcC parses");
                    let _ = hevc::codec_string(&cfg);
                    let _ = hevc::track_from_hvcc(hvcc);
                }
            }
        }
        _ => {
            let init = Bytes::copy_from_slice(rest);
            if let Ok(cfg) = hevc::parse_hvcc(&init) {
                let _ = hevc::codec_string(&cfg);
                for sps in &cfg.sps {
                    let _ = hevc::parse_sps_size(sps);
                }
            }
            let _ = hevc::track_from_hvcc(init);
            let _ = hevc::contains_irap(rest, 1 + (mode >> 2) % 4);
        }
    }
});
