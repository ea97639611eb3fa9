//! The header parser and `dac3` against syncframes ffmpeg's `ac3` encoder writes, and against
//! damaged and random input.

use std::path::Path;
use std::process::Command;

use super::super::bits::tests::XorShift;
use super::*;

/// Raw AC-3 (`-f ac3`) from ffmpeg: a sine, `layout` channels at `rate`, `bitrate`.
fn encode(dir: &Path, rate: u32, layout: &str, bitrate: &str) -> Vec<u8> {
    let out = dir.join(format!("{rate}-{layout}-{bitrate}.ac3"));
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate={rate}:duration=0.5"
        ))
        .args(["-af", &format!("aformat=channel_layouts={layout}")])
        .args(["-c:a", "ac3", "-b:a", bitrate, "-f", "ac3"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

#[test]
fn frames_ffmpeg_writes() {
    let dir = tempfile::tempdir().unwrap();
    // (rate, layout, bit rate, channels, acmod, lfeon, fscod)
    let cases = [
        (48_000, "mono", "96k", 1, 1, false, 0),
        (48_000, "stereo", "192k", 2, 2, false, 0),
        (44_100, "stereo", "128k", 2, 2, false, 1),
        (32_000, "5.1", "384k", 6, 7, true, 2),
        (48_000, "3.0", "256k", 3, 3, false, 0),
        (48_000, "quad", "320k", 4, 6, false, 0),
    ];
    for (rate, layout, bitrate, channels, acmod, lfeon, fscod) in cases {
        let data = encode(dir.path(), rate, layout, bitrate);
        let (frames, used) = split_frames(&data);
        assert_eq!(used, data.len(), "{layout} {rate}: whole file is frames");
        // 0.5 s of 1536-sample frames, plus the encoder's priming frame.
        let want = (rate / 2).div_ceil(SAMPLES_PER_FRAME) as usize;
        assert!(
            frames.len() >= want && frames.len() <= want + 1,
            "{layout} {rate}: {} frames",
            frames.len()
        );
        let kbps: u32 = bitrate.trim_end_matches('k').parse().unwrap();
        for frame in &frames {
            let h = parse_header(frame).unwrap();
            assert_eq!(h.sample_rate, rate);
            assert_eq!(h.channels, channels, "{layout}");
            assert_eq!(
                (h.acmod, h.lfeon, h.fscod),
                (acmod, lfeon, fscod),
                "{layout}"
            );
            assert_eq!(h.bitrate_kbps, kbps);
            assert_eq!(h.bsid, 8);
            // 44.1 kHz alternates frame sizes (padding word); others are exact.
            let exact = (kbps * 1000 * SAMPLES_PER_FRAME / rate / 16) as usize * 2;
            assert!(h.frame_len == exact || h.frame_len == exact + 2, "{h:?}");
        }
        let track = track_from_frame(frames[0]).unwrap();
        assert_eq!(track.codec, Some(Codec::Ac3));
        assert_eq!(track.codec_string, "ac-3");
        assert_eq!(parse_dac3(&track.init).unwrap().channels, channels);
        assert_eq!((track.rate, track.channels), (rate, u32::from(channels)));

        // dac3 built from a frame parses back to the same fields.
        let h = parse_header(frames[0]).unwrap();
        let box_ = dac3(&h);
        let d = parse_dac3(&box_).unwrap();
        assert_eq!(
            (d.fscod, d.bsid, d.bsmod, d.acmod, d.lfeon),
            (h.fscod, h.bsid, h.bsmod, h.acmod, h.lfeon)
        );
        assert_eq!(d.bit_rate_code, h.frmsizecod >> 1);
        assert_eq!((d.sample_rate, d.channels), (rate, channels));
        assert_eq!(d.bitrate_kbps, kbps);
        assert_eq!(box_[2] & 0x1F, 0, "reserved bits zero");
    }
}

/// The `dac3` box ffmpeg's MP4 muxer writes for 48 kHz stereo 192 kbit/s matches ours.
#[test]
fn dac3_matches_ffmpeg_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let raw = encode(dir.path(), 48_000, "stereo", "192k");
    let mp4 = dir.path().join("a.mp4");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(dir.path().join("48000-stereo-192k.ac3"))
        .args(["-c", "copy"])
        .arg(&mp4)
        .status()
        .unwrap();
    assert!(status.success());
    let file = std::fs::read(mp4).unwrap();
    let at = file.windows(4).position(|w| w == b"dac3").unwrap();
    let theirs = &file[at + 4..at + 7];
    assert_eq!(dac3(&parse_header(&raw).unwrap()), theirs);
}

#[test]
fn table_5_18_frame_sizes() {
    // Spot checks of Table 5.18 (words * 2 = bytes).
    assert_eq!(frame_len(0, 0), Some(128)); // 32 kbit/s, 48 kHz: 64 words
    assert_eq!(frame_len(1, 0), Some(138)); // 44.1 kHz: 69 words
    assert_eq!(frame_len(1, 1), Some(140)); // 70 words
    assert_eq!(frame_len(2, 0), Some(192)); // 32 kHz: 96 words
    assert_eq!(frame_len(0, 37), Some(2560)); // 640 kbit/s, 48 kHz: 1280 words
    assert_eq!(frame_len(1, 37), Some(2788)); // 1394 words
    assert_eq!(frame_len(2, 36), Some(3840)); // 1920 words
    assert_eq!(frame_len(0, 38), None);
    assert_eq!(frame_len(3, 0), None);
}

#[test]
fn malformed_headers() {
    let good = [0x0B, 0x77, 0, 0, 0x14, 0x40, 0x43, 0x00];
    let h = parse_header(&good).unwrap();
    assert_eq!(
        (h.sample_rate, h.bitrate_kbps, h.frame_len),
        (48_000, 192, 768)
    );
    assert_eq!((h.bsid, h.acmod, h.channels), (8, 2, 2));
    for n in 0..good.len() {
        assert_eq!(parse_header(&good[..n]), Err(Ac3Error::Truncated));
    }
    let mut bad = good;
    bad[1] = 0x78;
    assert_eq!(parse_header(&bad), Err(Ac3Error::NoSync));
    let mut bad = good;
    bad[4] = 0xC0 | 0x14; // fscod 3
    assert!(matches!(parse_header(&bad), Err(Ac3Error::Invalid(_))));
    let mut bad = good;
    bad[4] = 38; // frmsizecod 38
    assert!(matches!(parse_header(&bad), Err(Ac3Error::Invalid(_))));
    let mut eac3 = good;
    eac3[5] = 16 << 3;
    assert_eq!(parse_header(&eac3), Err(Ac3Error::EnhancedAc3(16)));
    assert!(track_from_frame(&eac3)
        .unwrap_err()
        .to_string()
        .contains("E-AC-3"));
    assert_eq!(parse_dac3(&[0x10]), Err(Ac3Error::Truncated));
    assert!(matches!(
        parse_dac3(&[0xC0, 0, 0]),
        Err(Ac3Error::Invalid(_))
    ));
    assert!(matches!(
        parse_dac3(&[0x10, 0x3F, 0xE0]),
        Err(Ac3Error::Invalid(_))
    ));
    assert_eq!(parse_dac3(&[0x20, 0, 0]), Err(Ac3Error::EnhancedAc3(16)));
    // A frame cut short is not split off.
    let (frames, used) = split_frames(&good);
    assert_eq!((frames.len(), used), (0, 0));
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x0B77_2545_F491_4F6C);
    for _ in 0..20_000 {
        let mut data = rng.bytes(24);
        if data.len() >= 2 && rng.next_u64() % 2 == 0 {
            data[0] = 0x0B;
            data[1] = 0x77;
        }
        if let Ok(h) = parse_header(&data) {
            assert!(h.channels >= 1 && h.channels <= 6);
            assert!(h.frame_len >= 128 && h.frame_len <= 3840);
        }
        let _ = parse_dac3(&data);
        let (frames, used) = split_frames(&data);
        assert!(used <= data.len() && frames.len() <= 1);
    }
}

#[test]
fn dac3_from_track_fields() {
    let d = parse_dac3(&dac3_from_track(48_000, 6, 448_000 / 8).unwrap()).unwrap();
    assert_eq!((d.fscod, d.bsid, d.acmod, d.lfeon), (0, 8, 7, true));
    assert_eq!(
        (d.sample_rate, d.channels, d.bitrate_kbps),
        (48_000, 6, 448)
    );
    let d = parse_dac3(&dac3_from_track(44_100, 2, 0).unwrap()).unwrap();
    assert_eq!(
        (d.fscod, d.acmod, d.channels, d.bitrate_kbps),
        (1, 2, 2, 192)
    );
    let d = parse_dac3(&dac3_from_track(32_000, 1, 100_000).unwrap()).unwrap();
    assert_eq!((d.acmod, d.channels, d.bitrate_kbps), (1, 1, 640));
    for channels in 0..8 {
        let d = parse_dac3(&dac3_from_track(48_000, channels, 20_000).unwrap()).unwrap();
        assert_eq!((d.bitrate_kbps, d.sample_rate), (160, 48_000));
        if (1..=6).contains(&channels) {
            assert_eq!(u32::from(d.channels), channels);
        }
    }
    assert!(dac3_from_track(22_050, 2, 0).is_err());
}
