//! The demuxer: round trips through our muxer, any chunking, the shared-PES packetization, and
//! malformed input.

use super::super::pes::PesError;
use super::super::psi::{pmt_section, psi_section};
use super::*;

/// ffmpeg 5.1: libx264 (Main, 176x100, 10 fps, B-frames) + AAC LC 22050 Hz mono, 0.6 s.
const SMALL_FLV: &[u8] = include_bytes!("../../testdata/h264_aac.flv");
/// LAME, 22050 Hz mono, after a 45-byte ID3v2 tag.
const SINE_MP3: &[u8] = include_bytes!("../../testdata/sine_22050_mono.mp3");

/// One transport packet: header, then `payload` padded with adaptation field stuffing.
pub(super) fn ts_packet(pid: u16, unit_start: bool, cc: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() <= PACKET_PAYLOAD);
    let stuffing = PACKET_PAYLOAD - payload.len();
    let [high, low] = pid.to_be_bytes();
    let control = if stuffing > 0 { 0x30 } else { 0x10 };
    let mut out = vec![0x47, (u8::from(unit_start) << 6) | high, low, control | cc];
    if stuffing > 0 {
        out.push((stuffing - 1) as u8);
        if stuffing > 1 {
            out.push(0);
            out.resize(4 + stuffing, 0xFF);
        }
    }
    out.extend_from_slice(payload);
    assert_eq!(out.len(), TS_PACKET);
    out
}

/// A PSI packet: pointer_field 0 and the section.
pub(super) fn psi_packet(pid: u16, cc: u8, section: &[u8]) -> Vec<u8> {
    let mut payload = vec![0];
    payload.extend_from_slice(section);
    ts_packet(pid, true, cc, &payload)
}

/// `ts` cut into its packets.
pub(super) fn packets_of(ts: &[u8]) -> Vec<Vec<u8>> {
    ts.chunks(TS_PACKET).map(<[u8]>::to_vec).collect()
}

fn h264_aac() -> (Vec<Track>, Vec<Packet>, Bytes) {
    let (tracks, packets) = load_flv(H264_AAC_FLV);
    let ts = mux(&tracks, &packets);
    (tracks, packets, ts)
}

#[test]
fn round_trips_of_real_streams() {
    for file in [H264_AAC_FLV, SMALL_FLV, HEVC_FLV] {
        let (tracks, packets) = load_flv(file);
        let ts = mux(&tracks, &packets);
        let found = round_trip(&tracks, &packets, &ts);
        // The decoder configurations rebuilt from the in-band parameter sets say the same.
        // (HEVC's frame rate came from the FLV's onMetaData, not from the stream.)
        for (got, want) in found.iter().zip(&tracks) {
            if want.codec == Some(Codec::H264) {
                assert_eq!(got.fpks, want.fpks);
            }
        }
    }
    let (track, packets) = crate::media::testutil::load_mp3(SINE_MP3, 7);
    let ts = mux(std::slice::from_ref(&track), &packets);
    let found = round_trip(std::slice::from_ref(&track), &packets, &ts);
    assert_eq!(found[0].id, 1);
    assert_eq!(found[0].codec_string, track.codec_string);
}

#[test]
fn any_chunking_gives_the_same_result() {
    let (_, _, ts) = h264_aac();
    let whole = demux_ours(&ts, ts.len());
    assert!(whole.2.is_empty());
    assert_eq!(whole.0.len(), 2);
    for chunk in [1, 7, 187, 188, 189, 4096] {
        assert_eq!(demux_ours(&ts, chunk), whole, "chunks of {chunk}");
    }
    let (tracks, packets, errors) = whole;
    assert_eq!((tracks[0].id, tracks[1].id), (1, 2));
    assert_eq!(tracks[0].codec, Some(Codec::H264));
    assert_eq!(tracks[1].codec, Some(Codec::Aac));
    assert_eq!(packets.len(), 50 + 88);
    assert!(errors.is_empty());
}

#[test]
fn packetize_shares_the_pes_and_matches_write_packet() {
    let (tracks, packets) = load_flv(H264_AAC_FLV);
    let mut copying = TsMuxer::new(&tracks);
    let mut sharing = TsMuxer::new(&tracks);
    let mut written = BytesMut::new();
    let mut pieces: Vec<Bytes> = Vec::new();
    let mut scratch = BytesMut::new();
    copying.write_tables(&mut written);
    let mut tables = BytesMut::new();
    sharing.write_tables(&mut tables);
    pieces.push(tables.freeze());
    for p in &packets {
        let track = tracks.iter().find(|t| t.id == p.track).unwrap();
        copying.write_packet(p.track, p, &mut written).unwrap();
        // Once per packet for all viewers, then per viewer.
        let pes = pes_packet(track, p).unwrap();
        assert_eq!(pes, sharing.pes(p.track, p).unwrap());
        let before = pieces.len();
        sharing
            .packetize(p.track, p, &pes, &mut scratch, &mut pieces)
            .unwrap();
        // Every byte of the PES is a slice of the shared buffer, in order.
        let range = pes.as_ptr_range();
        let shared: Vec<&Bytes> = pieces[before..]
            .iter()
            .filter(|b| range.contains(&b.as_ptr()))
            .collect();
        assert_eq!(shared.iter().map(|b| b.len()).sum::<usize>(), pes.len());
    }
    let joined: Vec<u8> = pieces.iter().flat_map(|b| b.iter().copied()).collect();
    assert_eq!(joined, &written[..]);
    // Tables repeated by the muxer go through the same path.
    let repeat = TableRepeat::Keyframes {
        audio_interval_ms: 1000,
    };
    let mut copying = TsMuxer::new(&tracks).with_table_repeat(repeat);
    let mut sharing = TsMuxer::new(&tracks).with_table_repeat(repeat);
    let (mut written, mut pieces) = (BytesMut::new(), Vec::new());
    for p in &packets {
        copying.write_packet(p.track, p, &mut written).unwrap();
        let pes = sharing.pes(p.track, p).unwrap();
        sharing
            .packetize(p.track, p, &pes, &mut scratch, &mut pieces)
            .unwrap();
    }
    let joined: Vec<u8> = pieces.iter().flat_map(|b| b.iter().copied()).collect();
    assert_eq!(joined, &written[..]);
    let pats = scan(&written).iter().filter(|s| s.pid == PAT_PID).count();
    assert_eq!(pats, packets.iter().filter(|p| p.keyframe).count());
    // Errors add nothing; empty packets add nothing.
    let before = pieces.len();
    let empty = packet(VIDEO, 0, &[]);
    let pes = pes_packet(&tracks[0], &empty).unwrap();
    assert!(pes.is_empty());
    sharing
        .packetize(VIDEO, &empty, &pes, &mut scratch, &mut pieces)
        .unwrap();
    assert_eq!(
        sharing.packetize(42, &empty, &pes, &mut scratch, &mut pieces),
        Err(TsError::UnknownTrack(42))
    );
    let far = packet(VIDEO, i64::MAX / 2, &[0, 0, 0, 1, 0x41]);
    let pes = Bytes::from_static(&[0, 0, 1, 0xE0, 0, 0]);
    assert!(sharing
        .packetize(VIDEO, &far, &pes, &mut scratch, &mut pieces)
        .is_err());
    assert_eq!(pieces.len(), before);
    assert!(matches!(
        pes_packet(&mp3_track(3, 44100), &far),
        Err(TsError::Timestamp(_))
    ));
}

#[test]
fn hls_segments_one_after_the_other() {
    let (tracks, packets) = load_flv(H264_AAC_FLV);
    // Cut at the second keyframe into two segments, each from a fresh muxer (counters at 0).
    let cut = packets.iter().rposition(|p| p.keyframe).unwrap();
    let (one, two) = packets.split_at(cut);
    let mut demuxer = TsDemuxer::new();
    let (mut back, mut announced) = (Vec::new(), 0);
    for part in [one, two] {
        demuxer.push(&mux(&tracks, part));
        demuxer.finish();
        while let Some(event) = demuxer.pull() {
            match event.unwrap() {
                TsEvent::Packet(p) => back.push(p),
                TsEvent::Track(_) => announced += 1,
            }
        }
    }
    // Every packet, no errors, and the tracks announced once.
    assert_eq!(back.len(), packets.len());
    assert_eq!(announced, 2);
    assert_eq!(demuxer.tracks().len(), 2);
}

#[test]
fn timestamps_continue_over_the_33_bit_wrap() {
    let wrap_ms = (1i64 << 33) / 90;
    let track = h264_track();
    let mut sent = Vec::new();
    for (i, time) in (wrap_ms - 1000..wrap_ms + 1000).step_by(40).enumerate() {
        let mut p = packet(VIDEO, time, &[0, 0, 0, 2, 0x41, 0x9A]);
        p.offset = 80;
        if i == 0 {
            p.keyframe = true;
            p.data = Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88]);
        }
        sent.push(p);
    }
    let ts = mux(std::slice::from_ref(&track), &sent);
    let (_, back, errors) = demux_ours(&ts, 500);
    assert!(errors.is_empty(), "{errors:?}");
    let times: Vec<(i64, i32)> = back.iter().map(|p| (p.time, p.offset)).collect();
    let want: Vec<(i64, i32)> = sent.iter().map(|p| (p.time + DELAY_MS, 80)).collect();
    assert_eq!(times, want);
}

#[test]
fn duplicates_and_discontinuities() {
    let (_, _, ts) = h264_aac();
    let (_, want, _) = demux_ours(&ts, 188);
    // Every packet twice: the repeats are ignored (13818-1 allows one duplicate).
    let doubled: Vec<u8> = packets_of(&ts)
        .iter()
        .flat_map(|p| [p.clone(), p.clone()])
        .flatten()
        .collect();
    let (_, got, errors) = demux_ours(&doubled, 188);
    assert_eq!(errors, []);
    assert_eq!(got, want);
    // A lost packet inside a PES: one continuity error, that frame lost, the rest intact.
    let mut list = packets_of(&ts);
    // The second packet of the first inter frame's PES.
    let mut in_inter_frame = false;
    let victim = list
        .iter()
        .position(|p| {
            let p = TsPacket::parse(p).unwrap();
            if p.pid != 0x100 {
                return false;
            }
            if p.unit_start {
                in_inter_frame = !p.adaptation.is_some_and(|a| a.random_access);
                return false;
            }
            in_inter_frame
        })
        .unwrap();
    list.remove(victim);
    let (_, got, errors) = demux_ours(&list.concat(), 188);
    assert!(
        matches!(errors[..], [DemuxError::Continuity { pid: 0x100, .. }]),
        "{errors:?}"
    );
    assert_eq!(got.len(), want.len() - 1);
    // With discontinuity_indicator set a jump is expected: the audio counters move on by 4
    // from a packet that says so, and nothing is reported or lost.
    let mut flagged = packets_of(&ts);
    let at = flagged
        .iter()
        .position(|p| {
            let parsed = TsPacket::parse(p).unwrap();
            parsed.pid == 0x101 && parsed.unit_start && p[4] > 0
        })
        .unwrap();
    flagged[at][5] |= 0x80;
    for p in flagged.iter_mut().skip(at) {
        if TsPacket::parse(p).unwrap().pid == 0x101 {
            p[3] = (p[3] & 0xF0) | ((p[3] + 4) & 0x0F);
        }
    }
    let (_, got, errors) = demux_ours(&flagged.concat(), 188);
    assert_eq!(errors, []);
    assert_eq!(got, want);
}

#[test]
fn lost_sync_and_truncated_input() {
    let (_, _, ts) = h264_aac();
    let (tracks, want, _) = demux_ours(&ts, 188);
    // Garbage between packets: skipped with a Resync error, everything else survives.
    let mut list = packets_of(&ts);
    list.insert(30, b"\x47garbage\x47\x00\x47".to_vec());
    let (t, got, errors) = demux_ours(&list.concat(), 100);
    assert_eq!(t, tracks);
    assert_eq!(got, want);
    assert_eq!(errors, [DemuxError::Resync { skipped: 11 }]);
    // Cut short in the middle of a packet: what came before is kept, the rest reported.
    let cut = &ts[..ts.len() / 2 + 50];
    let (_, got, errors) = demux_ours(cut, 1000);
    assert!(got.len() > 10 && got.len() < want.len());
    assert_eq!(
        errors,
        [DemuxError::Packet(
            super::super::packet::PacketError::Truncated
        )]
    );
    assert!(want.starts_with(&got[..got.len() - 1]));
    // Not a transport stream at all.
    let (t, got, errors) = demux_ours(b"just some text, no sync byte anywhere", 5);
    assert!(t.is_empty() && got.is_empty());
    assert!(matches!(errors[..], [DemuxError::Resync { .. }, ..]));
}

#[test]
fn sections_are_checked() {
    let (tracks, _, ts) = h264_aac();
    let mut list = packets_of(&ts);
    // A wrong CRC in the PMT: refused, so nothing is demuxed until a good PMT comes.
    list[1][10] ^= 0x01;
    let (t, got, errors) = demux_ours(&list.concat(), 188);
    assert!(t.is_empty() && got.is_empty());
    let crc = DemuxError::Section {
        pid: PMT_PID,
        error: super::super::psi::SectionError::Crc,
    };
    assert_eq!(errors, std::slice::from_ref(&crc));
    // Once a good PMT follows, the streams are found.
    let mut with_good = list.clone();
    let mut tables = BytesMut::new();
    TsMuxer::new(&tracks).write_tables(&mut tables);
    let mut good_pmt = tables[TS_PACKET..].to_vec();
    good_pmt[3] = (good_pmt[3] & 0xF0) | 1;
    with_good.insert(2, good_pmt);
    let (t, got, errors) = demux_ours(&with_good.concat(), 188);
    assert_eq!(t.len(), 2);
    assert!(!got.is_empty());
    assert_eq!(errors[0], crc);
    // section_length beyond 1021, and a PMT whose ES_info_length runs past its end.
    let mut long = list.clone();
    long[1] = psi_packet(PMT_PID, 0, &[0x02, 0xB3, 0xFF, 0, 1]);
    let (_, _, errors) = demux_ours(&long.concat(), 188);
    assert!(matches!(
        errors[0],
        DemuxError::Section {
            error: super::super::psi::SectionError::Length(1023),
            ..
        }
    ));
    let overrun = psi_section(
        0x02,
        1,
        &[0xE1, 0x00, 0xF0, 0x00, 0x1B, 0xE1, 0x00, 0xF0, 0x20],
    );
    let mut bad = list.clone();
    bad[1] = psi_packet(PMT_PID, 0, &overrun);
    let (t, _, errors) = demux_ours(&bad.concat(), 188);
    assert!(t.is_empty());
    assert!(matches!(
        errors[0],
        DemuxError::Section {
            error: super::super::psi::SectionError::Overrun,
            ..
        }
    ));
}

#[test]
fn unknown_stream_types_are_skipped() {
    let (tracks, packets, ts) = h264_aac();
    let mut list = packets_of(&ts);
    // The PMT also lists AC-3 in private data (0x06) and a second unknown PID.
    let pmt = pmt_section(
        1,
        Some(0x100),
        &[(0x1B, 0x100), (0x06, 0x105), (0x0F, 0x101), (0x86, 0x106)],
    );
    list[1] = psi_packet(PMT_PID, 0, &pmt);
    // Some packets on the unknown PIDs, which are ignored.
    list.insert(
        5,
        ts_packet(0x105, true, 0, &[0, 0, 1, 0xBD, 0, 3, 1, 2, 3]),
    );
    let (t, got, errors) = demux_ours(&list.concat(), 188);
    assert_eq!(t.len(), 2);
    assert_eq!(got.len(), packets.len());
    assert_eq!(
        errors,
        [
            DemuxError::UnsupportedStream {
                pid: 0x105,
                stream_type: 0x06
            },
            DemuxError::UnsupportedStream {
                pid: 0x106,
                stream_type: 0x86
            }
        ]
    );
    assert_eq!((t[0].codec, t[1].codec), (tracks[0].codec, tracks[1].codec));
}

#[test]
fn sections_after_a_pointer_field() {
    // One PMT packet holding the end of nothing (pointer_field 3, three bytes a demuxer that
    // joined late never saw the start of), a section of another program, then ours.
    let (_, packets, ts) = h264_aac();
    let mut list = packets_of(&ts);
    let other = pmt_section(2, None, &[(0x1B, 0x200)]);
    let ours = pmt_section(1, Some(0x100), &[(0x1B, 0x100), (0x0F, 0x101)]);
    let mut payload = vec![3, 0xAA, 0xBB, 0xCC];
    payload.extend(other);
    payload.extend(ours);
    list[1] = ts_packet(PMT_PID, true, 0, &payload);
    let (t, got, errors) = demux_ours(&list.concat(), 188);
    assert_eq!(errors, []);
    assert_eq!(t.len(), 2);
    assert_eq!(got.len(), packets.len());
    // A pointer_field past the payload is an error, not a panic.
    list[1] = ts_packet(PMT_PID, true, 0, &[200, 1, 2]);
    let (t, _, errors) = demux_ours(&list.concat(), 188);
    assert!(t.is_empty());
    assert!(matches!(
        errors[..],
        [DemuxError::Section {
            error: super::super::psi::SectionError::Truncated,
            ..
        }]
    ));
}

#[test]
fn streams_are_capped() {
    // A PMT listing 40 AAC streams, sent twice: 32 are followed, the rest reported once. It
    // takes two transport packets, so the section is reassembled across them.
    let streams: Vec<(u8, u16)> = (0..40).map(|i| (0x0F, 0x100 + i)).collect();
    let pat = super::super::psi::pat_section(1, 1, PMT_PID);
    let pmt = pmt_section(1, None, &streams);
    assert!(pmt.len() > PACKET_PAYLOAD);
    let (head, tail) = pmt.split_at(PACKET_PAYLOAD - 1);
    let mut ts = psi_packet(0, 0, &pat);
    for cc in [0, 2] {
        ts.extend(psi_packet(PMT_PID, cc, head));
        ts.extend(ts_packet(PMT_PID, false, cc + 1, tail));
    }
    let (_, _, errors) = demux_ours(&ts, 188);
    let capped: Vec<u16> = (0x100 + 32..0x100 + 40).collect();
    let reported: Vec<u16> = errors
        .iter()
        .map(|e| match e {
            DemuxError::TooManyStreams { pid } => *pid,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(reported, capped);
}

#[test]
fn pes_lengths_are_checked() {
    let tables = {
        let mut out = BytesMut::new();
        TsMuxer::new(&[aac_track()]).write_tables(&mut out);
        out.to_vec()
    };
    let adts = |len: usize| {
        let asc = aac::parse_asc(&aac_track().init).unwrap();
        let mut frame = aac::adts_header(&asc, len).unwrap().to_vec();
        frame.resize(7 + len, 0x21);
        frame
    };
    let pes = |length: u16, payload: &[u8]| {
        let mut p = vec![0, 0, 1, 0xC0];
        p.extend_from_slice(&length.to_be_bytes());
        p.extend_from_slice(&[0x84, 0x80, 5]);
        p.extend_from_slice(&timestamp_bytes(2, 90_000));
        p.extend_from_slice(payload);
        p
    };
    // Two ADTS frames in one PES: two packets, the second one frame (1024 samples) later.
    let two = [adts(10), adts(20)].concat();
    let good = pes((8 + two.len()) as u16, &two);
    let ts = [tables.clone(), ts_packet(0x100, true, 0, &good)].concat();
    let (t, got, errors) = demux_ours(&ts, 188);
    assert_eq!(errors, []);
    assert_eq!(t[0].rate, 44100);
    let times: Vec<(i64, usize)> = got.iter().map(|p| (p.time, p.data.len())).collect();
    assert_eq!(times, [(1000, 10), (1000 + 1024 * 1000 / 44100, 20)]);
    // PES_packet_length smaller than what arrives: dropped.
    let over = pes(8 + 5, &two);
    let ts = [tables.clone(), ts_packet(0x100, true, 0, &over)].concat();
    let (_, got, errors) = demux_ours(&ts, 188);
    assert!(got.is_empty());
    assert_eq!(errors, [DemuxError::PesTooLong { pid: 0x100 }]);
    // Larger than what arrives before the next PES starts: dropped too.
    let short = pes(500, &two);
    let ts = [
        tables.clone(),
        ts_packet(0x100, true, 0, &short),
        ts_packet(0x100, true, 1, &good),
    ]
    .concat();
    let (_, got, errors) = demux_ours(&ts, 188);
    assert_eq!(got.len(), 2);
    assert_eq!(errors, [DemuxError::PesTooShort { pid: 0x100 }]);
    // No PTS, or a broken header.
    let mut no_pts = good.clone();
    no_pts[7] = 0;
    let ts = [tables.clone(), ts_packet(0x100, true, 0, &no_pts)].concat();
    let (_, _, errors) = demux_ours(&ts, 188);
    assert!(matches!(
        errors[..],
        [DemuxError::Pes {
            error: PesError::NoTimestamp,
            ..
        }]
    ));
    // An unbounded PES beyond MAX_PES: dropped without holding more memory.
    let mut ts = tables.clone();
    let mut unbounded = pes(0, &adts(100));
    unbounded.resize(PACKET_PAYLOAD, 0);
    ts.extend(ts_packet(0x100, true, 0, &unbounded));
    let mut cc = 1;
    let filler = [0x55u8; PACKET_PAYLOAD];
    let mut demuxer = TsDemuxer::new();
    demuxer.push(&ts);
    let mut errors = Vec::new();
    for _ in 0..(super::super::demux::MAX_PES / PACKET_PAYLOAD + 2) {
        demuxer.push(&ts_packet(0x100, false, cc, &filler));
        cc = (cc + 1) & 0x0F;
        while let Some(event) = demuxer.pull() {
            if let Err(e) = event {
                errors.push(e);
            }
        }
    }
    assert_eq!(errors, [DemuxError::PesTooLong { pid: 0x100 }]);
}

#[test]
fn parameter_sets_in_band_update_the_track() {
    let (tracks, packets) = load_flv(H264_AAC_FLV);
    let cfg = h264::parse_avcc(&tracks[0].init).unwrap();
    let video: Vec<Packet> = packets
        .iter()
        .filter(|p| p.track == VIDEO)
        .cloned()
        .collect();
    // 3-byte start codes, our own AUD, and a changed SPS (another level) half way.
    let mut changed_sps = cfg.sps[0].to_vec();
    changed_sps[3] = 0x1F;
    let mut ts = BytesMut::new();
    let mut muxer = TsMuxer::new(&tracks[..1]);
    muxer.write_tables(&mut ts);
    for (i, p) in video.iter().enumerate() {
        let mut p = p.clone();
        if i >= 25 && p.keyframe {
            let mut data = Vec::new();
            for unit in [&changed_sps[..], &cfg.pps[0]] {
                nal::put_length_prefixed(&mut data, unit).unwrap();
            }
            data.extend_from_slice(&p.data);
            p.data = Bytes::from(data);
        }
        muxer.write_packet(VIDEO, &p, &mut ts).unwrap();
    }
    let (t, got, errors) = demux_ours(&ts, 188);
    assert_eq!(errors, []);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].codec_string, tracks[0].codec_string);
    assert!(t[1].codec_string.ends_with("1F"), "{}", t[1].codec_string);
    assert_eq!(t[0].id, t[1].id);
    assert_eq!(got.len(), video.len());
    // The parameter sets of the new configuration are not left in the frames.
    let is_set =
        |unit: Result<&[u8], nal::NalError>| nal::NalFlavor::H264.is_parameter_set(unit.unwrap());
    assert!(got
        .iter()
        .all(|p| !nal::length_prefixed(&p.data, 4).any(is_set)));
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = XorShift(0x7E57_DE30_0000_0001);
    for _ in 0..300 {
        let data = rng.bytes(4000);
        let _ = demux_ours(&data, 1 + (rng.next_u64() % 400) as usize);
    }
    // Bytes that look like packets: sync bytes every 188.
    for _ in 0..300 {
        let mut data = rng.bytes(188 * 8);
        for at in (0..data.len()).step_by(TS_PACKET) {
            data[at] = 0x47;
        }
        let _ = demux_ours(&data, 188);
    }
    let (_, _, ts) = h264_aac();
    let hevc = {
        let (tracks, packets) = load_flv(HEVC_FLV);
        mux(&tracks, &packets)
    };
    for _ in 0..300 {
        let source = if rng.next_u64() % 2 == 0 { &ts } else { &hevc };
        let mut file = source.to_vec();
        for _ in 0..(1 + rng.next_u64() % 20) {
            let at = (rng.next_u64() as usize) % file.len();
            file[at] ^= 1 << (rng.next_u64() % 8);
        }
        let (tracks, packets, _) = demux_ours(&file, 1 + (rng.next_u64() % 600) as usize);
        assert!(packets
            .iter()
            .all(|p| tracks.iter().any(|t| t.id == p.track)));
    }
}
