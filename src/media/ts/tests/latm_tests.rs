//! AAC in LATM / LOAS (stream_type 0x11): ffmpeg's LATM TS read by our demuxer against
//! ffprobe (and against the same audio in ADTS), malformed LOAS frames and configs.

use super::super::latm;
use super::*;

fn ffmpeg_ts(name: &str, rate: u32, latm: bool) -> Vec<u8> {
    let path = std::env::temp_dir().join(format!("eddy-ts-{}-{name}.ts", std::process::id()));
    let mut command = Command::new("ffmpeg");
    command
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=sample_rate={rate}"))
        .args(["-t", "1", "-c:a", "aac", "-ac", "2"]);
    if latm {
        command.args(["-mpegts_flags", "+latm"]);
    }
    let status = command.args(["-f", "mpegts"]).arg(&path).status().unwrap();
    assert!(status.success());
    let ts = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    ts
}

#[test]
fn ffmpeg_latm_ts_demuxes_like_ffprobe() {
    for rate in [44_100, 48_000] {
        let ts = ffmpeg_ts(&format!("latm{rate}"), rate, true);
        let path = temp_ts(&format!("latmp{rate}"), &ts);
        let probe = ffprobe(&path, false);
        std::fs::remove_file(&path).ok();
        assert_eq!(probe["streams"][0]["codec_name"], "aac_latm");
        let (tracks, packets, errors) = demux_ours(&ts, 1000);
        assert_eq!(errors, []);
        assert_eq!(tracks.len(), 1);
        let track = &tracks[0];
        assert_eq!(track.codec, Some(Codec::Aac));
        assert_eq!((track.rate, track.channels), (rate, 2));
        assert_eq!(track.codec_string, "mp4a.40.2");
        let theirs = probe_times(&probe, 0);
        assert_eq!(packets.len(), theirs.len());
        for (p, (pts, _)) in packets.iter().zip(&theirs) {
            assert!((p.time - pts / 90).abs() <= 1, "{} vs {pts}", p.time);
        }
        // The same encoder in ADTS gives the same raw frames and the same configuration.
        let adts = ffmpeg_ts(&format!("adts{rate}"), rate, false);
        let (adts_tracks, adts_packets, _) = demux_ours(&adts, 1000);
        assert_eq!(adts_tracks[0].init, track.init);
        assert_eq!(adts_packets.len(), packets.len());
        for (a, b) in adts_packets.iter().zip(&packets) {
            assert_eq!(a.data, b.data);
            assert_eq!(a.time, b.time);
        }
    }
}

/// A LOAS frame with its StreamMuxConfig: AAC LC, 48 kHz (index 3), stereo, one 3-byte frame.
fn loas(payload: &[u8]) -> Vec<u8> {
    let mut w = crate::media::bits::tests::BitWriter::default();
    w.bits(1, 0); // useSameStreamMux
    w.bits(1, 0); // audioMuxVersion
    w.bits(1, 1); // allStreamsSameTimeFraming
    w.bits(6, 0); // numSubFrames
    w.bits(4, 0); // numProgram
    w.bits(3, 0); // numLayer
    w.bits(5, 2); // AOT LC
    w.bits(4, 3); // 48 kHz
    w.bits(4, 2); // stereo
    w.bits(3, 0); // GASpecificConfig
    w.bits(3, 0); // frameLengthType
    w.bits(8, 0xFF); // latmBufferFullness
    w.bits(1, 0); // otherDataPresent
    w.bits(1, 0); // crcCheckPresent
    w.bits(8, payload.len() as u64);
    for &b in payload {
        w.bits(8, u64::from(b));
    }
    let element = w.trailing();
    let mut out = vec![0x56, 0xE0 | (element.len() >> 8) as u8, element.len() as u8];
    out.extend_from_slice(&element);
    out
}

#[test]
fn loas_frames_and_malformed_ones() {
    let frame = loas(&[1, 2, 3]);
    let (found, rest) = latm::parse_loas_frame(&frame, None).unwrap();
    let found = found.unwrap();
    assert!(rest.is_empty());
    assert_eq!(found.frames, vec![Bytes::from_static(&[1, 2, 3])]);
    assert_eq!(found.config.sample_rate, 48_000);
    assert_eq!(&found.config.asc[..], &[0x11, 0x90]);
    // Same StreamMuxConfig, none known yet: skipped.
    let same = [0x56, 0xE0, 2, 0x80, 0x00];
    assert_eq!(latm::parse_loas_frame(&same, None).unwrap().0, None);
    let known = Some(&found.config);
    assert!(latm::parse_loas_frame(&same, known).is_ok());
    // Malformed: no syncword, length past the end, payload length past the element,
    // audioMuxVersion 1, several programs, truncated configs.
    let mut bad: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x56],
        vec![0x57, 0xE0, 0],
        vec![0x56, 0xE0, 9, 0],
        vec![0x56, 0xE0, 1, 0x40],
        vec![0x56, 0xE0, 2, 0x20, 0x40],
    ];
    for cut in 4..frame.len() {
        let mut f = frame[..cut].to_vec();
        f[2] = (cut - 3) as u8;
        bad.push(f);
    }
    for b in &bad {
        assert!(latm::parse_loas_frame(b, None).is_err(), "{b:?}");
        assert!(latm::parse_loas_frame(b, known).is_err(), "{b:?}");
    }
    // The same StreamMuxConfig with a payload length past the element.
    assert!(latm::parse_loas_frame(&[0x56, 0xE0, 2, 0xFF, 0xFF], known).is_err());
    assert!(latm::parse_loas_frame(&[0x56, 0xE0, 2, 0x82, 0x00], known).is_err());
    let mut rng = XorShift(0x2B7);
    for _ in 0..3000 {
        let len = (rng.next_u64() % 48) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if len >= 3 {
            data[0] = 0x56;
            data[1] = 0xE0;
            data[2] = (len - 3) as u8;
        }
        let _ = latm::parse_loas_frame(&data, None);
        let _ = latm::parse_loas_frame(&data, known);
    }
}

/// Damaged LOAS frames inside a real stream: errors, no panic, the rest still comes out.
#[test]
fn damaged_latm_stream() {
    let mut ts = ffmpeg_ts("latmdamaged", 48_000, true);
    let mut rng = XorShift(0x11);
    for packet in ts.chunks_mut(188).skip(3).step_by(5) {
        let at = 8 + (rng.next_u64() % 180) as usize;
        packet[at] ^= 0xFF;
    }
    let (tracks, packets, _) = demux_ours(&ts, 777);
    assert_eq!(tracks[0].codec, Some(Codec::Aac));
    assert!(!packets.is_empty());
}
