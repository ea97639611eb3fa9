//! Tests of the Annex B reader: x264 frames from an FLV fixture written back as a byte stream
//! (with and without delimiters, in chunks of every size), the default frame rate, rate
//! changes, and damaged, oversized and random input.

use super::super::super::bits::tests::{BitWriter, XorShift};
use super::super::super::testutil::load_flv;
use super::super::parse_avcc;
use super::*;

const FLV: &[u8] = include_bytes!("../../testdata/h264_aac_320x240.flv");

/// The fixture's video as an Annex B byte stream: every frame's units after a 4-byte start
/// code, the avcC's SPS and PPS before each keyframe, an access unit delimiter first when
/// `aud`. Returns the stream, the original packets and the track.
fn fixture_stream(aud: bool) -> (Vec<u8>, Vec<Packet>, Track) {
    let (video, _, packets) = load_flv(FLV);
    let video = video.unwrap();
    let cfg = parse_avcc(&video.init).unwrap();
    let packets: Vec<Packet> = packets
        .into_iter()
        .filter(|p| p.track == video.id)
        .collect();
    let mut out = Vec::new();
    for p in &packets {
        if aud {
            out.extend_from_slice(&[0, 0, 0, 1, 0x09, 0xF0]);
        }
        if p.keyframe {
            for set in cfg.sps.iter().chain(&cfg.pps) {
                out.extend_from_slice(&nal::START_CODE);
                out.extend_from_slice(set);
            }
        }
        for unit in nal::length_prefixed(&p.data, cfg.length_size) {
            out.extend_from_slice(&[0, 0, 1]);
            out.extend_from_slice(unit.unwrap());
        }
    }
    (out, packets, video)
}

/// Feeds `data` in chunks of `chunk` bytes, then finishes; returns every event.
fn read_all(data: &[u8], chunk: usize) -> Vec<Result<AnnexBEvent, AnnexBError>> {
    let mut reader = AnnexBReader::new();
    let mut events = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        reader.push(piece);
        events.extend(std::iter::from_fn(|| reader.pull()));
    }
    reader.finish();
    events.extend(std::iter::from_fn(|| reader.pull()));
    events
}

fn split(events: Vec<Result<AnnexBEvent, AnnexBError>>) -> (Vec<Track>, Vec<Packet>, usize) {
    let (mut tracks, mut packets, mut errors) = (Vec::new(), Vec::new(), 0);
    for e in events {
        match e {
            Ok(AnnexBEvent::Track(t)) => tracks.push(t),
            Ok(AnnexBEvent::Packet(p)) => packets.push(p),
            Err(_) => errors += 1,
        }
    }
    (tracks, packets, errors)
}

#[test]
fn x264_frames_come_back_whole() {
    for aud in [true, false] {
        let (stream, original, video) = fixture_stream(aud);
        for chunk in [1, 3, 188, 4096, stream.len()] {
            let (tracks, packets, errors) = split(read_all(&stream, chunk));
            assert_eq!(errors, 0, "aud {aud} chunk {chunk}");
            assert_eq!(tracks.len(), 1);
            let t = &tracks[0];
            assert_eq!(t.id, TRACK_ID);
            assert_eq!(
                (t.width, t.height, &t.codec_string),
                (video.width, video.height, &video.codec_string)
            );
            assert_eq!(t.fpks, 25_000, "x264 writes the VUI timing");
            assert_eq!(packets.len(), original.len(), "aud {aud} chunk {chunk}");
            for (n, (got, want)) in packets.iter().zip(&original).enumerate() {
                assert_eq!(got.data, want.data, "frame {n}");
                assert_eq!(got.keyframe, want.keyframe, "frame {n}");
                assert_eq!(got.time, n as i64 * 40);
                assert_eq!(got.offset, 0);
            }
        }
    }
}

/// An SPS of 320x240 (baseline, frame coded), with VUI timing when `timing` is
/// `Some((num_units_in_tick, time_scale))`.
fn sps(timing: Option<(u32, u32)>) -> Vec<u8> {
    let mut w = BitWriter::default();
    w.bits(8, 0x67).bits(8, 66).bits(8, 0).bits(8, 30).ue(0);
    w.ue(0).ue(0).ue(2); // log2_max_frame_num_minus4, poc type 0, lsb minus4
    w.ue(1)
        .bit(false)
        .ue(19)
        .ue(14)
        .bit(true)
        .bit(true)
        .bit(false);
    match timing {
        None => {
            w.bit(false);
        }
        Some((tick, scale)) => {
            w.bit(true); // vui_parameters_present_flag
            w.bit(false).bit(false).bit(false).bit(false); // aspect, overscan, signal, chroma
            w.bit(true)
                .bits(32, u64::from(tick))
                .bits(32, u64::from(scale))
                .bit(true);
            w.bit(false).bit(false).bit(false).bit(false); // HRDs, pic_struct, restriction
        }
    }
    w.trailing()
}

const PPS: [u8; 5] = [0x68, 0xcb, 0x83, 0xcb, 0x20];
/// Slices with first_mb_in_slice 0: an IDR and a non-IDR one.
const IDR: [u8; 4] = [0x65, 0x88, 0x84, 0x80];
const P: [u8; 4] = [0x41, 0x9a, 0x22, 0x01];
/// A second slice of the same picture (first_mb_in_slice 1: bits 010).
const P_SECOND_SLICE: [u8; 3] = [0x41, 0x40, 0x11];

fn annex_b(units: &[&[u8]]) -> Vec<u8> {
    units
        .iter()
        .flat_map(|u| nal::START_CODE.iter().chain(u.iter()).copied())
        .collect()
}

#[test]
fn default_rate_without_vui_timing() {
    let s = sps(None);
    let stream = annex_b(&[&s, &PPS, &IDR, &P, &P_SECOND_SLICE, &P, &P]);
    let (tracks, packets, errors) = split(read_all(&stream, 5));
    assert_eq!(errors, 0);
    assert_eq!(tracks[0].fpks, DEFAULT_FPKS);
    assert_eq!((tracks[0].width, tracks[0].height), (320, 240));
    let times: Vec<i64> = packets.iter().map(|p| p.time).collect();
    assert_eq!(times, [0, 40, 80, 120], "two slices make one frame");
    let keys: Vec<bool> = packets.iter().map(|p| p.keyframe).collect();
    assert_eq!(keys, [true, false, false, false]);
    // The second slice stays with its picture, length-prefixed.
    assert_eq!(
        packets[1].data.len(),
        4 + P.len() + 4 + P_SECOND_SLICE.len()
    );
}

#[test]
fn rate_from_vui_and_a_rate_change() {
    let (s30, s50) = (sps(Some((1, 60))), sps(Some((1, 100))));
    let stream = annex_b(&[&s30, &PPS, &IDR, &P, &P, &s50, &PPS, &IDR, &P]);
    let (tracks, packets, errors) = split(read_all(&stream, 64));
    assert_eq!(errors, 0);
    let rates: Vec<u32> = tracks.iter().map(|t| t.fpks).collect();
    assert_eq!(rates, [30_000, 50_000]);
    let times: Vec<i64> = packets.iter().map(|p| p.time).collect();
    // 0, 33.3, 66.7 at 30 fps; then from 100 on at 50 fps.
    assert_eq!(times, [0, 33, 66, 100, 120]);
    // The repeated parameter sets are in the avcC, not in the packets.
    assert_eq!(packets[3].data.len(), 4 + IDR.len());
}

#[test]
fn frames_before_the_parameter_sets_are_skipped() {
    let s = sps(None);
    let stream = annex_b(&[&P, &P, &s, &PPS, &IDR, &P]);
    let (tracks, packets, _) = split(read_all(&stream, 1000));
    assert_eq!(tracks.len(), 1);
    assert_eq!(packets.len(), 2);
    assert!(packets[0].keyframe);
    assert_eq!(packets[0].time, 0);
}

#[test]
fn damaged_units_are_reported_and_skipped() {
    let s = sps(None);
    let forbidden = [0xE5u8, 0x88, 0x00];
    let bad_sps = [0x67u8, 0x42];
    let garbage = [0x12u8, 0x34, 0x56];
    let mut stream = garbage.to_vec();
    stream.extend(annex_b(&[&bad_sps, &PPS, &IDR, &forbidden, &s, &IDR, &P]));
    stream.extend_from_slice(&[0, 0, 0, 0]); // trailing zeros
    let events = read_all(&stream, 7);
    assert!(events.contains(&Err(AnnexBError::ForbiddenBit)));
    assert!(events
        .iter()
        .any(|e| matches!(e, Err(AnnexBError::ParameterSets(_)))));
    let (tracks, packets, _) = split(events);
    assert_eq!(tracks.len(), 1);
    assert_eq!(packets.len(), 2, "frames once the SPS is good");
    assert_eq!(packets[1].data.len(), 4 + P.len(), "trailing zeros cut");
}

#[test]
fn oversized_units_are_dropped_with_bounded_memory() {
    let s = sps(None);
    let mut reader = AnnexBReader::new();
    reader.push(&annex_b(&[&s, &PPS, &IDR]));
    // A unit that never ends: 1 MiB chunks of 0xFF (no start code).
    let junk = vec![0xFFu8; 1 << 20];
    let mut errors = Vec::new();
    for _ in 0..12 {
        reader.push(&junk);
        assert!(reader.pending.len() <= MAX_ACCESS_UNIT + junk.len());
        errors.extend(std::iter::from_fn(|| reader.pull()).filter(Result::is_err));
    }
    assert_eq!(errors, [Err(AnnexBError::NalTooLarge)]);
    // Reading resumes at the next start code.
    reader.push(&annex_b(&[&IDR, &P]));
    reader.finish();
    let (_, packets, _) = split(std::iter::from_fn(|| reader.pull()).collect());
    assert_eq!(packets.len(), 2);
    assert!(packets[0].keyframe);

    // An access unit of many units that add up to too much.
    let mut reader = AnnexBReader::new();
    reader.push(&annex_b(&[&s, &PPS, &IDR]));
    let mut slice = vec![0x41u8, 0x40];
    slice.extend(std::iter::repeat_n(0x55, 1 << 20));
    for _ in 0..9 {
        reader.push(&annex_b(&[&slice]));
    }
    reader.push(&annex_b(&[&P]));
    reader.finish();
    let events: Vec<_> = std::iter::from_fn(|| reader.pull()).collect();
    assert!(events.contains(&Err(AnnexBError::AccessUnitTooLarge)));
    let (_, packets, _) = split(events);
    assert_eq!(packets.len(), 1, "only the last frame: {packets:?}");
}

#[test]
fn random_and_truncated_input_never_panics() {
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    for _ in 0..300 {
        let data = rng.bytes(3000);
        let chunk = 1 + (rng.next_u64() % 500) as usize;
        let _ = read_all(&data, chunk);
        // Random bytes with start codes sprinkled in.
        let mut data = rng.bytes(2000);
        for i in (0..data.len()).step_by(37) {
            if i + 3 < data.len() {
                data[i..i + 3].copy_from_slice(&[0, 0, 1]);
            }
        }
        let _ = read_all(&data, chunk);
    }
    let (stream, _, _) = fixture_stream(true);
    for cut in (0..stream.len()).step_by(997) {
        let (_, packets, _) = split(read_all(&stream[..cut], 4096));
        assert!(packets.len() <= cut / 4 + 1);
    }
}
