//! Opus in MPEG-TS: ffmpeg's Opus TS read by our demuxer (against ffprobe), our muxer's Opus
//! TS read by ffprobe / ffmpeg and by our demuxer, damaged control headers.

use super::super::opus;
use super::*;

/// `ffmpeg ... -c:a libopus -ac CHANNELS -f mpegts`, 1 s of a sine (with H.264 when `video`).
fn ffmpeg_opus_ts(name: &str, channels: u32, video: bool) -> (std::path::PathBuf, Vec<u8>) {
    let path = std::env::temp_dir().join(format!("eddy-ts-{}-{name}.ts", std::process::id()));
    let mut command = Command::new("ffmpeg");
    command.args(["-nostdin", "-v", "error", "-y"]);
    if video {
        command.args(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25"]);
    }
    command.args(["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "1"]);
    if video {
        command.args(["-c:v", "libx264"]);
    }
    let status = command
        .args(["-c:a", "libopus", "-ac", &channels.to_string()])
        .args(["-f", "mpegts"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let ts = std::fs::read(&path).unwrap();
    (path, ts)
}

#[test]
fn ffmpeg_opus_ts_demuxes_like_ffprobe() {
    for (channels, video) in [(2, true), (1, false), (6, false)] {
        let (path, ts) = ffmpeg_opus_ts(&format!("ffopus{channels}"), channels, video);
        let probe = ffprobe(&path, false);
        std::fs::remove_file(&path).ok();
        let (tracks, packets, errors) = demux_ours(&ts, 1316);
        assert_eq!(errors, []);
        let audio = tracks
            .iter()
            .find(|t| t.codec == Some(Codec::Opus))
            .unwrap();
        assert_eq!((audio.rate, audio.channels), (48_000, channels));
        assert!(audio.init.starts_with(b"OpusHead"));
        // ffmpeg's first packet carries start_trim = libopus's pre-skip (312).
        assert_eq!(u16::from_le_bytes([audio.init[10], audio.init[11]]), 312);
        let index = probe["streams"]
            .as_array()
            .unwrap()
            .iter()
            .position(|s| s["codec_name"] == "opus")
            .unwrap();
        let theirs: Vec<&serde_json::Value> = probe["packets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["stream_index"].as_u64() == Some(index as u64))
            .collect();
        let ours: Vec<&Packet> = packets.iter().filter(|p| p.track == audio.id).collect();
        assert_eq!(ours.len(), theirs.len());
        for (p, t) in ours.iter().zip(&theirs) {
            let pts = t["pts"].as_i64().unwrap();
            assert!((p.time - pts / 90).abs() <= 1, "{} vs {pts}", p.time);
            assert_eq!(p.data.len().to_string(), t["size"].as_str().unwrap());
        }
    }
}

/// Our Opus TS (the packets ffmpeg's TS gave us, muxed again): ffprobe sees Opus with the
/// right channels and every packet at its time; ffmpeg decodes it without a complaint; our
/// demuxer gets the same packets back.
#[test]
fn our_opus_ts_plays_in_ffmpeg() {
    for channels in [2, 6] {
        let (path, ts) = ffmpeg_opus_ts(&format!("opussrc{channels}"), channels, false);
        std::fs::remove_file(&path).ok();
        let (tracks, mut packets, _) = demux_ours(&ts, 188);
        let track = Track {
            id: 1,
            ..tracks[0].clone()
        };
        let base = packets[0].time;
        for p in &mut packets {
            p.time -= base;
        }
        let out = mux(std::slice::from_ref(&track), &packets);
        let found = round_trip(std::slice::from_ref(&track), &packets, &out);
        assert_eq!(found[0].channels, channels);
        let path = temp_ts(&format!("opusout{channels}"), &out);
        let probe = ffprobe(&path, true);
        ffmpeg_decodes_cleanly(&path);
        std::fs::remove_file(&path).ok();
        let stream = &probe["streams"][0];
        assert_eq!(stream["codec_name"], "opus");
        assert_eq!(stream["channels"], channels);
        let times = probe_times(&probe, 0);
        assert_eq!(times.len(), packets.len());
        for ((pts, _), p) in times.iter().zip(&packets) {
            assert_eq!(*pts, (p.time + DELAY_MS) * 90);
        }
    }
}

#[test]
fn channel_configs_round_trip() {
    for code in 0..=8u8 {
        let head = opus::opus_head(code, 312).unwrap();
        assert_eq!(opus::channel_config(&head), Some(code));
        let parsed = crate::media::ogg::codecs::OpusHead::parse(&head).unwrap();
        assert_eq!(parsed.channels, if code == 0 { 2 } else { code });
        assert_eq!(parsed.pre_skip, 312);
    }
    assert!(opus::opus_head(0x80, 0).is_err());
    assert!(opus::opus_head(9, 0).is_err());
    // A family-1 head with a mapping of its own cannot be named by a code.
    let mut head = opus::opus_head(6, 0).unwrap().to_vec();
    head[21] = 5;
    assert_eq!(opus::channel_config(&head), None);
    assert_eq!(opus::channel_config(b"OpusHead"), None);
}

#[test]
fn control_headers() {
    for len in [0usize, 1, 254, 255, 256, 600, 1275] {
        let mut au = opus::control_header(len);
        au.extend(std::iter::repeat_n(0xF8, len));
        au.extend_from_slice(&[1, 2, 3]);
        let (unit, rest) = opus::parse_access_unit(&au).unwrap();
        assert_eq!(unit.packet.len(), len);
        assert_eq!(rest, [1, 2, 3]);
        assert_eq!((unit.start_trim, unit.end_trim), (None, None));
    }
    // Trims (13 bits) and an extension.
    let au = [0x7F, 0xFC, 2, 0xE1, 0x38, 0x00, 0x10, 1, 0xAA, 0xF8, 0xFF];
    let (unit, rest) = opus::parse_access_unit(&au).unwrap();
    assert_eq!((unit.start_trim, unit.end_trim), (Some(312), Some(16)));
    assert_eq!((unit.packet, rest), (&[0xF8, 0xFF][..], &[][..]));
    // Malformed: errors, never panics.
    for bad in [
        &[][..],
        &[0x7F],
        &[0x7F, 0xC0, 0],
        &[0x7F, 0xE0],
        &[0x7F, 0xE0, 0xFF],
        &[0x7F, 0xE0, 3, 1],
        &[0x7F, 0xF0, 1],
        &[0x7F, 0xE4, 0, 9],
    ] {
        assert!(opus::parse_access_unit(bad).is_err(), "{bad:?}");
    }
    let mut rng = XorShift(0x0905);
    for _ in 0..2000 {
        let len = (rng.next_u64() % 40) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if len >= 2 && rng.next_u64() % 2 == 0 {
            data[0] = 0x7F;
            data[1] |= 0xE0;
        }
        let _ = opus::parse_access_unit(&data);
    }
}

/// Damaged Opus PES (a control header broken, an access unit cut) are reported, never a
/// panic; the other PES still come out.
#[test]
fn damaged_opus_pes() {
    let (path, ts) = ffmpeg_opus_ts("opusdamaged", 2, false);
    std::fs::remove_file(&path).ok();
    let (tracks, packets, _) = demux_ours(&ts, 188);
    let track = Track {
        id: 1,
        ..tracks[0].clone()
    };
    let format = PesFormat::new(&track).unwrap();
    let mut rng = XorShift(0x0915);
    let mut out = BytesMut::new();
    let mut muxer = TsMuxer::new(std::slice::from_ref(&track));
    muxer.write_tables(&mut out);
    for p in &packets {
        let pes = format.pes(p).unwrap();
        let mut pes = pes.to_vec();
        if rng.next_u64() % 4 == 0 {
            let at = 14 + (rng.next_u64() % 4) as usize;
            pes[at] ^= 0xA5;
        }
        let (mut scratch, mut pieces) = (BytesMut::new(), Vec::new());
        muxer
            .packetize(1, p, &Bytes::from(pes), &mut scratch, &mut pieces)
            .unwrap();
        for piece in pieces {
            out.extend_from_slice(&piece);
        }
    }
    let (_, got, errors) = demux_ours(&out, 1000);
    assert!(!errors.is_empty());
    assert!(got.len() >= packets.len() / 2);
}
