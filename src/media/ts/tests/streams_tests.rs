//! Real streams (H.264 + AAC, HEVC, MP3 from ffmpeg and LAME) muxed and read back.

use super::*;

/// LAME, 22050 Hz mono, after a 45-byte ID3v2 tag.
const SINE_MP3: &[u8] = include_bytes!("../../testdata/sine_22050_mono.mp3");

// ---- Real streams ---------------------------------------------------------------------------

#[test]
fn h264_aac_segment_demuxes_with_mpeg2ts_reader() {
    let (tracks, packets) = load_flv(H264_AAC_FLV);
    assert_eq!(tracks.len(), 2);
    assert_eq!((tracks[0].width, tracks[0].height), (320, 240));
    let video: Vec<&Packet> = packets.iter().filter(|p| p.track == VIDEO).collect();
    let audio: Vec<&Packet> = packets.iter().filter(|p| p.track == AUDIO).collect();
    assert_eq!((video.len(), audio.len()), (50, 88));
    assert!(video.iter().any(|p| p.offset != 0), "clip has B-frames");

    let ts = mux(&tracks, &packets);
    let found = demux(&ts);
    assert_eq!(found.program, Some((0x1000, 1)));
    assert_eq!(found.streams, vec![(0x100, 0x1B), (0x101, 0x0F)]);
    assert_eq!(found.pcr_pid, Some(0x100));
    assert_eq!(found.continuity_errors, 0);

    let vpes = &found.pes[&0x100];
    let apes = &found.pes[&0x101];
    assert_eq!((vpes.len(), apes.len()), (video.len(), audio.len()));

    let cfg = h264::parse_avcc(&tracks[0].init).unwrap();
    for (pes, p) in vpes.iter().zip(&video) {
        let (pts, dts) = expected_pts_dts(p);
        assert_eq!(pes.pts, pts);
        assert_eq!(pes.dts, (dts != pts).then_some(dts));
        assert_eq!(pes.bounded_length, None, "video PES is unbounded");
        assert!(pes.aligned);
        // AUD, then SPS + PPS on keyframes, then the frame's own NAL units.
        let nals = split_annex_b(&pes.data);
        assert_eq!(nals[0], &H264_AUD[4..]);
        let own: Vec<&[u8]> = h264::nal_units(&p.data, cfg.length_size)
            .map(Result::unwrap)
            .collect();
        let mut want: Vec<&[u8]> = vec![&H264_AUD[4..]];
        if p.keyframe {
            want.push(&cfg.sps[0]);
            want.push(&cfg.pps[0]);
        }
        want.extend(own);
        assert_eq!(nals, want);
    }
    let asc = aac::parse_asc(&tracks[1].init).unwrap();
    for (pes, p) in apes.iter().zip(&audio) {
        let (pts, _) = expected_pts_dts(p);
        assert_eq!((pes.pts, pes.dts), (pts, None));
        let header = aac::adts_header(&asc, p.data.len()).unwrap();
        assert_eq!(&pes.data[..7], &header);
        assert_eq!(&pes.data[7..], &p.data[..]);
        assert_eq!(
            pes.bounded_length.map(usize::from),
            Some(3 + 5 + pes.data.len())
        );
    }
}

#[test]
fn h264_aac_segment_packet_layer() {
    let (tracks, packets) = load_flv(H264_AAC_FLV);
    let ts = mux(&tracks, &packets);
    let scanned = scan(&ts);
    // Our demuxer gives the same tracks and packets back.
    round_trip(&tracks, &packets, &ts);
    assert_eq!((scanned[0].pid, scanned[1].pid), (0, 0x1000));
    assert!(scanned
        .iter()
        .skip(2)
        .all(|s| s.pid == 0x100 || s.pid == 0x101));
    // PCRs only on the video PID, only at PES starts; one on every keyframe (which is the
    // only place random_access_indicator is set), never more than 100 ms apart here (25 fps).
    let mut starts = scanned.iter().filter(|s| s.unit_start && s.pid == 0x100);
    let video: Vec<&Packet> = packets.iter().filter(|p| p.track == VIDEO).collect();
    let mut last_pcr: Option<u64> = None;
    for p in &video {
        let s = starts.next().unwrap();
        assert_eq!(s.random_access, p.keyframe);
        if p.keyframe {
            assert_eq!(s.pcr, Some(p.time as u64 * 90));
        }
        if let Some(pcr) = s.pcr {
            assert_eq!(pcr, p.time as u64 * 90);
            if let Some(last) = last_pcr {
                assert!(pcr - last <= 100 * 90, "PCR gap {}", pcr - last);
            }
            last_pcr = Some(pcr);
        }
    }
    assert!(scanned
        .iter()
        .all(|s| s.pcr.is_none() || (s.pid == 0x100 && s.unit_start)));
    assert!(scanned.iter().filter(|s| s.pcr.is_some()).count() > video.len() / 3);
    assert!(!scanned.iter().any(|s| s.random_access && s.pid != 0x100));
    // The clock stays below every decode time that follows it.
    let found = demux(&ts);
    let mut pcr_now = 0;
    let mut pes_index: BTreeMap<u16, usize> = BTreeMap::new();
    for s in &scanned {
        if let Some(pcr) = s.pcr {
            pcr_now = pcr;
        }
        if s.unit_start && s.pid != PAT_PID && s.pid != PMT_PID {
            let i = pes_index.entry(s.pid).or_default();
            let pes = &found.pes[&s.pid][*i];
            *i += 1;
            assert!(pes.dts.unwrap_or(pes.pts) > pcr_now);
        }
    }
}

#[test]
fn h264_aac_segment_probes_with_ffprobe() {
    let (tracks, packets) = load_flv(H264_AAC_FLV);
    let ts = mux(&tracks, &packets);
    let path = temp_ts("h264-aac", &ts);
    let probe = ffprobe(&path, false);
    ffmpeg_decodes_cleanly(&path);
    std::fs::remove_file(&path).ok();

    assert_eq!(probe["format"]["format_name"], "mpegts");
    let streams = probe["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[0]["codec_name"], "h264");
    assert_eq!(streams[0]["width"], 320);
    assert_eq!(streams[0]["height"], 240);
    assert_eq!(streams[0]["id"], "0x100");
    assert_eq!(streams[1]["codec_name"], "aac");
    assert_eq!(streams[1]["sample_rate"], "44100");
    assert_eq!(streams[1]["id"], "0x101");

    let video: Vec<&Packet> = packets.iter().filter(|p| p.track == VIDEO).collect();
    let audio: Vec<&Packet> = packets.iter().filter(|p| p.track == AUDIO).collect();
    let vtimes = probe_times(&probe, 0);
    let atimes = probe_times(&probe, 1);
    assert_eq!((vtimes.len(), atimes.len()), (video.len(), audio.len()));
    for (probed, p) in vtimes.iter().zip(&video) {
        let (pts, dts) = expected_pts_dts(p);
        assert_eq!(*probed, (pts as i64, dts as i64));
    }
    assert!(vtimes.windows(2).all(|w| w[0].1 < w[1].1), "dts increasing");
    let mut vpts: Vec<i64> = vtimes.iter().map(|t| t.0).collect();
    vpts.sort_unstable();
    assert!(vpts.windows(2).all(|w| w[0] < w[1]), "distinct pts");
    assert!(
        atimes.windows(2).all(|w| w[0].0 < w[1].0),
        "audio pts increasing"
    );
    let keyframes = probe["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["stream_index"] == 0 && p["flags"].as_str().unwrap().starts_with('K'))
        .count();
    assert_eq!(keyframes, video.iter().filter(|p| p.keyframe).count());
}

#[test]
fn hevc_segment_demuxes_and_probes() {
    let (tracks, packets) = load_flv(HEVC_FLV);
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0].codec, Some(Codec::Hevc));
    assert_eq!(packets.len(), 3);
    let ts = mux(&tracks, &packets);
    scan(&ts);
    round_trip(&tracks, &packets, &ts);

    let found = demux(&ts);
    assert_eq!(found.streams, vec![(0x100, 0x24)]);
    assert_eq!(found.pcr_pid, Some(0x100));
    let cfg = hevc::parse_hvcc(&tracks[0].init).unwrap();
    let pes = &found.pes[&0x100];
    assert_eq!(pes.len(), 3);
    for (pes, p) in pes.iter().zip(&packets) {
        let nals = split_annex_b(&pes.data);
        assert_eq!(nals[0], &HEVC_AUD[4..]);
        if p.keyframe {
            assert_eq!(&nals[1..4], &[&cfg.vps[0][..], &cfg.sps[0], &cfg.pps[0]]);
        }
        let (pts, dts) = expected_pts_dts(p);
        assert_eq!((pes.pts, pes.dts), (pts, (dts != pts).then_some(dts)));
    }

    let path = temp_ts("hevc", &ts);
    let probe = ffprobe(&path, true);
    ffmpeg_decodes_cleanly(&path);
    std::fs::remove_file(&path).ok();
    let streams = probe["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0]["codec_name"], "hevc");
    assert_eq!(streams[0]["width"], 176);
    assert_eq!(streams[0]["height"], 100);
    let times = probe_times(&probe, 0);
    assert_eq!(times.len(), 3);
    for (probed, p) in times.iter().zip(&packets) {
        let (pts, dts) = expected_pts_dts(p);
        assert_eq!(*probed, (pts as i64, dts as i64));
    }
}

#[test]
fn mp3_segment_probes_with_ffprobe() {
    let (track, packets) = crate::media::testutil::load_mp3(SINE_MP3, 7);
    assert!(packets.len() > 2);
    let ts = mux(std::slice::from_ref(&track), &packets);
    round_trip(std::slice::from_ref(&track), &packets, &ts);
    let found = demux(&ts);
    assert_eq!(found.streams, vec![(0x100, 0x04)]);
    assert_eq!(found.pcr_pid, Some(0x100));
    assert_eq!(found.pes[&0x100].len(), packets.len());
    for (pes, p) in found.pes[&0x100].iter().zip(&packets) {
        assert_eq!(pes.data, p.data);
    }
    let path = temp_ts("mp3", &ts);
    let probe = ffprobe(&path, true);
    std::fs::remove_file(&path).ok();
    assert_eq!(probe["streams"][0]["codec_name"], "mp3");
    assert_eq!(probe_times(&probe, 0).len(), packets.len());
}
