//! The muxer's tables, PES packets and packetization, and malformed input to it.

use super::*;

// ---- Tables ---------------------------------------------------------------------------------

#[test]
fn crc32_mpeg2_check_value() {
    // The CRC-32/MPEG-2 catalogue check value.
    assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
    assert_eq!(crc32_mpeg2(b""), 0xFFFF_FFFF);
    // Over a section and its CRC the remainder is 0.
    let pat = pat_section();
    assert_eq!(crc32_mpeg2(&pat), 0);
}

#[test]
fn pat_and_pmt_bytes_exact() {
    // Same bytes ffmpeg 5.1 writes for H.264 on 0x100 and AAC on 0x101.
    let mut muxer = TsMuxer::new(&[h264_track(), aac_track()]);
    let mut out = BytesMut::new();
    muxer.write_tables(&mut out);
    assert_eq!(out.len(), 2 * TS_PACKET);
    let pat: &[u8] = &[
        0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01,
        0xF0, 0x00, 0x2A, 0xB1, 0x04, 0xB2,
    ];
    assert_eq!(&out[..pat.len()], pat);
    assert!(out[pat.len()..TS_PACKET].iter().all(|&b| b == 0xFF));
    let pmt: &[u8] = &[
        0x47, 0x50, 0x00, 0x10, 0x00, 0x02, 0xB0, 0x17, 0x00, 0x01, 0xC1, 0x00, 0x00, 0xE1, 0x00,
        0xF0, 0x00, 0x1B, 0xE1, 0x00, 0xF0, 0x00, 0x0F, 0xE1, 0x01, 0xF0, 0x00, 0x2F, 0x44, 0xB9,
        0x9B,
    ];
    assert_eq!(&out[TS_PACKET..TS_PACKET + pmt.len()], pmt);
    assert!(out[TS_PACKET + pmt.len()..].iter().all(|&b| b == 0xFF));
    // Continuity counters advance per call.
    muxer.write_tables(&mut out);
    assert_eq!(out[2 * TS_PACKET + 3], 0x11);
    assert_eq!(out[3 * TS_PACKET + 3], 0x11);
}

#[test]
fn pids_stream_types_and_pcr_pid() {
    let meta = Track {
        id: 9,
        codec: Some(Codec::Amf),
        ..Track::default()
    };
    // Audio first, video second: PCR on the video PID; the ignored track keeps its index.
    let tracks = [
        aac_track(),
        meta.clone(),
        h264_track(),
        mp3_track(4, 44100),
        mp3_track(5, 24000),
    ];
    let mut muxer = TsMuxer::new(&tracks);
    let mut out = BytesMut::new();
    muxer.write_tables(&mut out);
    let found = demux(&out);
    assert_eq!(
        found.streams,
        vec![(0x100, 0x0F), (0x102, 0x1B), (0x103, 0x03), (0x104, 0x04)]
    );
    assert_eq!(found.pcr_pid, Some(0x102));
    // Audio only: PCR on the first audio track.
    let mut out = BytesMut::new();
    TsMuxer::new(&[meta.clone(), mp3_track(4, 44100), aac_track()]).write_tables(&mut out);
    assert_eq!(demux(&out).pcr_pid, Some(0x101));
    // Nothing carried: an empty program with PCR_PID 0x1FFF.
    let mut out = BytesMut::new();
    TsMuxer::new(&[meta]).write_tables(&mut out);
    assert_eq!(&out[TS_PACKET + 13..TS_PACKET + 15], &[0xFF, 0xFF]);
    assert_eq!(crc32_mpeg2(&out[TS_PACKET + 5..TS_PACKET + 5 + 3 + 13]), 0);
}

#[test]
fn many_tracks_fit_the_pmt() {
    let tracks: Vec<Track> = (0..40).map(|i| mp3_track(i, 44100)).collect();
    let mut muxer = TsMuxer::new(&tracks);
    let mut out = BytesMut::new();
    muxer.write_tables(&mut out);
    assert_eq!(out.len(), 2 * TS_PACKET);
    let found = demux(&out);
    assert_eq!(found.streams.len(), MAX_TRACKS);
    let p = packet(39, 0, &[1, 2, 3]);
    assert_eq!(
        muxer.write_packet(39, &p, &mut out),
        Err(TsError::Unsupported(39))
    );
}

// ---- PES and packetisation ----------------------------------------------------------------

/// The PES bytes of each PES on `pid`, reassembled from the packets' payloads.
fn reassemble(ts: &[u8], pid: u16) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for raw in ts.chunks(TS_PACKET) {
        let pk = tsp::Packet::new(raw);
        if u16::from(pk.pid()) != pid {
            continue;
        }
        if pk.payload_unit_start_indicator() {
            out.push(Vec::new());
        }
        let payload = pk.payload().unwrap_or_default();
        out.last_mut().unwrap().extend_from_slice(payload);
    }
    out
}

#[test]
fn stuffing_for_every_payload_size() {
    let track = mp3_track(1, 44100);
    let mut muxer = TsMuxer::new(&[track]);
    let mut out = BytesMut::new();
    let mut rng = XorShift(0x7575_1234);
    let mut sent = Vec::new();
    for (i, len) in (1..=600)
        .chain([65_000, 65_527, 65_528, 70_000])
        .enumerate()
    {
        let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let p = packet(1, i as i64 * 26, &data);
        muxer.write_packet(1, &p, &mut out).unwrap();
        sent.push(data);
    }
    scan(&out);
    let pes = reassemble(&out, 0x100);
    assert_eq!(pes.len(), sent.len());
    for (pes, data) in pes.iter().zip(&sent) {
        assert_eq!(&pes[..4], &[0, 0, 1, 0xC0]);
        let length = usize::from(u16::from_be_bytes([pes[4], pes[5]]));
        let header_len = 9 + usize::from(pes[8]);
        assert_eq!(&pes[header_len..], &data[..]);
        if pes.len() - 6 <= 0xFFFF {
            assert_eq!(length, pes.len() - 6);
        } else {
            assert_eq!(length, 0);
        }
    }
    // The PES reader agrees, including on the unbounded ones.
    let mut tables = BytesMut::new();
    TsMuxer::new(&[mp3_track(1, 44100)]).write_tables(&mut tables);
    tables.extend_from_slice(&out);
    let found = demux(&tables);
    assert_eq!(found.continuity_errors, 0);
    assert_eq!(found.pes[&0x100].len(), sent.len());
}

#[test]
fn pcr_and_timestamp_field_layout() {
    // base 0x1_2345_6789, extension 0x155: 33 + 6 reserved + 9 bits.
    let packed = pcr_bytes(0x1_2345_6789, 0x155);
    let pcr = tsp::ClockRef::from_slice(&packed);
    assert_eq!((pcr.base(), pcr.extension()), (0x1_2345_6789, 0x155));
    assert_eq!(packed[4] & 0x7E, 0x7E, "reserved bits set");
    let ts = timestamp_bytes(0b0010, 0x1_2345_6789);
    assert_eq!(
        pes::Timestamp::from_pts_bytes(&ts).unwrap().value(),
        0x1_2345_6789
    );
    let ts = timestamp_bytes(0b0001, 0x1_FFFF_FFFF);
    assert_eq!(
        pes::Timestamp::from_dts_bytes(&ts).unwrap().value(),
        0x1_FFFF_FFFF
    );
}

#[test]
fn pcr_interval_follows_pcr_pid_time() {
    // 10 fps video (100 ms apart): every frame gets a PCR; audio packets never do.
    let mut muxer = TsMuxer::new(&[h264_track(), mp3_track(2, 44100)]);
    let mut out = BytesMut::new();
    let idr = [0, 0, 0, 2, 0x65, 0x88];
    let slice = [0, 0, 0, 2, 0x41, 0x9A];
    for i in 0..10 {
        let mut v = packet(VIDEO, i * 100, &slice);
        v.keyframe = i == 0;
        if i == 0 {
            v.data = Bytes::copy_from_slice(&idr);
        }
        muxer.write_packet(VIDEO, &v, &mut out).unwrap();
        muxer
            .write_packet(
                2,
                &packet(2, i * 100 + 3, &[0xFF, 0xFB, 0x90, 0x00]),
                &mut out,
            )
            .unwrap();
    }
    let scanned = scan(&out);
    let pcrs: Vec<u64> = scanned.iter().filter_map(|s| s.pcr).collect();
    assert_eq!(pcrs, (0..10).map(|i| i * 9000).collect::<Vec<u64>>());
    // 60 fps: a PCR within every 100 ms, but not on every frame.
    let mut muxer = TsMuxer::new(&[h264_track()]);
    let mut out = BytesMut::new();
    for i in 0..60 {
        let v = packet(VIDEO, 5000 + i * 50 / 3, &slice);
        muxer.write_packet(VIDEO, &v, &mut out).unwrap();
    }
    let pcrs: Vec<u64> = scan(&out).iter().filter_map(|s| s.pcr).collect();
    assert!(pcrs.len() < 30 && pcrs.len() >= 10, "{} PCRs", pcrs.len());
    assert_eq!(pcrs[0], 5000 * 90);
    assert!(pcrs.windows(2).all(|w| w[1] - w[0] <= 9000));
}

#[test]
fn parameter_sets_not_repeated_when_present() {
    let track = h264_track();
    let cfg = h264::parse_avcc(&track.init).unwrap();
    let mut data = Vec::new();
    // An AUD of the source's own (dropped), SPS, PPS, an empty unit (dropped), IDR slice.
    let aud: &[u8] = &[0x09, 0x10];
    let idr: &[u8] = &[0x65, 0x88, 0x80];
    for nal in [aud, &cfg.sps[0], &cfg.pps[0], &[], idr] {
        data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        data.extend_from_slice(nal);
    }
    let mut p = packet(VIDEO, 0, &data);
    p.keyframe = true;
    let mut muxer = TsMuxer::new(&[track]);
    let mut out = BytesMut::new();
    muxer.write_packet(VIDEO, &p, &mut out).unwrap();
    let pes = &reassemble(&out, 0x100)[0];
    let es = &pes[9 + usize::from(pes[8])..];
    let mut want = H264_AUD.to_vec();
    for nal in [&cfg.sps[0][..], &cfg.pps[0], idr] {
        want.extend_from_slice(&START_CODE);
        want.extend_from_slice(nal);
    }
    assert_eq!(es, &want[..]);
    // PTS only: offset 0 means DTS = PTS.
    assert_eq!(pes[7], 0x80);
}

// ---- Malformed input -------------------------------------------------------------------

#[test]
fn truncated_nal_length_is_an_error_and_writes_nothing() {
    let mut muxer = TsMuxer::new(&[h264_track()]);
    let mut out = BytesMut::new();
    for data in [
        &[0, 0, 0, 10, 0x65, 1, 2][..],
        &[0, 0, 0][..],
        &[0, 0, 0, 2, 0x65, 1, 0, 0][..],
        &[0xFF, 0xFF, 0xFF, 0xFF][..],
    ] {
        let p = packet(VIDEO, 0, data);
        assert!(matches!(
            muxer.write_packet(VIDEO, &p, &mut out),
            Err(TsError::Nal(_))
        ));
        assert!(out.is_empty());
    }
    // The continuity counter did not move.
    let good = packet(VIDEO, 0, &[0, 0, 0, 2, 0x41, 0x9A]);
    muxer.write_packet(VIDEO, &good, &mut out).unwrap();
    assert_eq!(out[3] & 0x0F, 0);
    // segment() fails on the damaged packet instead of writing half a stream.
    let bad = packet(VIDEO, 40, &[0, 0, 0, 10, 0x65]);
    assert!(matches!(
        segment(&[h264_track()], &[&good, &bad]),
        Err(TsError::Nal(_))
    ));
}

#[test]
fn unknown_and_unsupported_tracks() {
    let vp9 = Track {
        id: 3,
        codec: Some(Codec::Vp9),
        ..Track::default()
    };
    let bad_avcc = Track {
        id: 4,
        codec: Some(Codec::H264),
        init: Bytes::from_static(&[1, 2]),
        ..Track::default()
    };
    let no_codec = Track {
        id: 5,
        ..Track::default()
    };
    let mut muxer = TsMuxer::new(&[h264_track(), vp9.clone(), bad_avcc.clone(), no_codec]);
    let mut out = BytesMut::new();
    let p = packet(3, 0, &[1, 2, 3]);
    assert_eq!(
        muxer.write_packet(42, &p, &mut out),
        Err(TsError::UnknownTrack(42))
    );
    assert_eq!(
        muxer.write_packet(3, &p, &mut out),
        Err(TsError::Unsupported(3))
    );
    assert_eq!(
        muxer.write_packet(5, &p, &mut out),
        Err(TsError::Unsupported(5))
    );
    assert!(matches!(
        muxer.write_packet(4, &p, &mut out),
        Err(TsError::BadConfig { track: 4, .. })
    ));
    assert!(out.is_empty());
    // segment() skips them.
    let (_, packets) = load_flv(H264_AAC_FLV);
    let mut refs: Vec<&Packet> = packets.iter().filter(|p| p.track == VIDEO).collect();
    let stray = [packet(3, 0, &[1]), packet(4, 0, &[1]), packet(42, 0, &[1])];
    refs.extend(stray.iter());
    let ts = segment(&[h264_track(), vp9, bad_avcc], &refs).unwrap();
    assert_eq!(demux(&ts).pes[&0x100].len(), 50);
}

#[test]
fn zero_length_packets_write_nothing() {
    let mut muxer = TsMuxer::new(&[h264_track(), aac_track(), mp3_track(3, 44100)]);
    let mut out = BytesMut::new();
    for track in [VIDEO, AUDIO, 3] {
        let mut p = packet(track, 0, &[]);
        p.keyframe = true;
        assert_eq!(muxer.write_packet(track, &p, &mut out), Ok(()));
    }
    assert!(out.is_empty());
    // A video packet of nothing but empty NAL units is an access unit of just the AUD (and
    // the parameter sets on a keyframe): still a valid PES.
    let p = packet(VIDEO, 0, &[0, 0, 0, 0, 0, 0, 0, 0]);
    muxer.write_packet(VIDEO, &p, &mut out).unwrap();
    let pes = &reassemble(&out, 0x100)[0];
    assert_eq!(&pes[9 + usize::from(pes[8])..], &H264_AUD);
}

#[test]
fn aac_frame_too_long_for_adts() {
    let mut muxer = TsMuxer::new(&[aac_track()]);
    let mut out = BytesMut::new();
    let p = packet(AUDIO, 0, &vec![0x21; 0x2000]);
    assert!(matches!(
        muxer.write_packet(AUDIO, &p, &mut out),
        Err(TsError::Adts(AacError::FrameTooLong(_)))
    ));
    assert!(out.is_empty());
}

#[test]
fn random_packet_data_never_panics() {
    let hevc = Track {
        id: 6,
        ..load_flv(HEVC_FLV).0.remove(0)
    };
    let tracks = [h264_track(), aac_track(), mp3_track(3, 22050), hevc];
    let mut muxer = TsMuxer::new(&tracks);
    let mut rng = XorShift(0xDEAD_BEEF_0BAD_F00D);
    let mut out = BytesMut::new();
    for i in 0..20_000u32 {
        let track = [VIDEO, AUDIO, 3, 6, 99][(i % 5) as usize];
        let mut data = rng.bytes(600);
        // Steer some samples to valid lengths with random content.
        if i % 3 == 0 && data.len() > 4 {
            let len = (data.len() - 4) as u32;
            data[..4].copy_from_slice(&len.to_be_bytes());
        }
        let p = Packet {
            track,
            time: rng.next_u64() as i64 >> (rng.next_u64() % 64),
            offset: rng.next_u64() as i32,
            keyframe: rng.next_u64() & 1 == 1,
            data: Bytes::from(data),
        };
        let before = out.len();
        match muxer.write_packet(track, &p, &mut out) {
            Ok(()) => assert_eq!((out.len() - before) % TS_PACKET, 0),
            Err(_) => assert_eq!(out.len(), before),
        }
    }
    scan(&out);
}

#[test]
fn timestamps_wrap_at_33_bits() {
    let wrap_ms = (1i64 << 33) / 90; // 95443717 ms, about 26.5 hours
    let mut muxer = TsMuxer::new(&[h264_track(), aac_track()]);
    let mut out = BytesMut::new();
    let mut times = Vec::new();
    for time in (wrap_ms - 300..wrap_ms + 300).step_by(40) {
        let mut v = packet(VIDEO, time, &[0, 0, 0, 2, 0x41, 0x9A]);
        v.offset = 80;
        muxer.write_packet(VIDEO, &v, &mut out).unwrap();
        muxer
            .write_packet(AUDIO, &packet(AUDIO, time, &[0x21, 0x10]), &mut out)
            .unwrap();
        times.push(v);
    }
    let mut ts = BytesMut::new();
    muxer.write_tables(&mut ts);
    ts.extend_from_slice(&out);
    let found = demux(&ts);
    for (pes, p) in found.pes[&0x100].iter().zip(&times) {
        let (pts, dts) = expected_pts_dts(p);
        assert_eq!((pes.pts, pes.dts), (pts, Some(dts)));
        assert!(pts < 1 << 33 && dts < 1 << 33);
    }
    assert!(found.pes[&0x100].iter().any(|p| p.pts < 90_000), "wrapped");
    let pcrs: Vec<u64> = scan(&ts).iter().filter_map(|s| s.pcr).collect();
    assert!(pcrs.iter().all(|&pcr| pcr < 1 << 33));
    assert!(pcrs.iter().any(|&pcr| pcr < 90_000), "PCR wrapped");

    // Negative times wrap the other way; extreme ones are refused.
    let p = packet(VIDEO, -DELAY_MS - 1, &[0, 0, 0, 2, 0x41, 0x9A]);
    assert_eq!(dts_pts(&p), Ok(((1 << 33) - 90, (1 << 33) - 90)));
    for time in [i64::MAX, i64::MAX - DELAY_MS, i64::MIN, i64::MIN / 90 - 1] {
        let p = packet(VIDEO, time, &[0, 0, 0, 2, 0x41, 0x9A]);
        let before = out.len();
        assert_eq!(
            muxer.write_packet(VIDEO, &p, &mut out),
            Err(TsError::Timestamp(time))
        );
        assert_eq!(out.len(), before);
    }
    let mut p = packet(VIDEO, 1000, &[0, 0, 0, 2, 0x41, 0x9A]);
    p.offset = i32::MIN;
    muxer.write_packet(VIDEO, &p, &mut out).unwrap();
}
