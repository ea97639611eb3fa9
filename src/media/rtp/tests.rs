//! Round trips (packetize, then depacketize through the SDP Eddy writes) on real frames, and
//! malformed payloads that must come out as errors, never panics.

use bytes::Bytes;

use super::super::bits::tests::XorShift;
use super::super::sdp::{self, SessionInfo};
use super::super::testutil::{load_flv, load_mp3};
use super::super::{Codec, Packet, Track};
use super::*;

const H264_FLV: &[u8] = include_bytes!("../testdata/h264_aac_320x240.flv");
const HEVC_FLV: &[u8] = include_bytes!("../testdata/hevc_enhanced.flv");
const MP3: &[u8] = include_bytes!("../testdata/sine_22050_mono.mp3");

fn session() -> SessionInfo {
    SessionInfo {
        name: "test".into(),
        origin: "127.0.0.1".into(),
        connection: "0.0.0.0".into(),
    }
}

/// Everything a depacketizer yields: packets, tracks, errors.
#[derive(Default)]
struct Out {
    packets: Vec<Packet>,
    tracks: Vec<Track>,
    errors: Vec<RtpError>,
}

fn drain(d: &mut Depacketizer, out: &mut Out) {
    while let Some(event) = d.pull() {
        match event {
            Ok(RtpEvent::Packet(p)) => out.packets.push(p),
            Ok(RtpEvent::Track(t)) => out.tracks.push(t),
            Err(e) => out.errors.push(e),
        }
    }
}

/// Packetizes `packets` of `track` (MTU `mtu`), describes the track in SDP, parses that back and
/// depacketizes with what it says.
fn round_trip(track: &Track, packets: &[Packet], mtu: usize) -> (Track, Out) {
    let (text, _) = sdp::describe(&session(), std::slice::from_ref(track));
    let parsed = sdp::parse(&text).unwrap();
    assert_eq!(parsed.media.len(), 1, "{text}");
    let media = &parsed.media[0];
    let mut packetizer = Packetizer::new(track, media.payload_type, 0x1234)
        .unwrap()
        .with_start(65_000, u32::MAX - 20_000)
        .with_mtu(mtu);
    let mut depacketizer = media.depacketizer().unwrap();
    let mut out = Out::default();
    for packet in packets {
        for rtp in packetizer.packetize(packet).unwrap() {
            assert!(
                rtp.len() <= header::HEADER_LEN + mtu.max(64) || track.codec == Some(Codec::Opus)
            );
            depacketizer.push(&RtpPacket::parse(rtp).unwrap());
            drain(&mut depacketizer, &mut out);
        }
    }
    (media.track.clone(), out)
}

/// The frames came back byte for byte, times within 2 ms of the originals' presentation times
/// (relative to the first), keyframes kept for video.
fn assert_same(original: &[Packet], back: &[Packet], video: bool) {
    assert_eq!(original.len(), back.len(), "frame count");
    let base = original[0].time + i64::from(original[0].offset);
    for (a, b) in original.iter().zip(back) {
        assert_eq!(a.data, b.data, "frame at {} ms", a.time);
        let expected = a.time + i64::from(a.offset) - base;
        assert!(
            (b.time - expected).abs() <= 2,
            "time {} for {expected}",
            b.time
        );
        assert_eq!(b.offset, 0);
        if video {
            assert_eq!(a.keyframe, b.keyframe, "keyframe at {} ms", a.time);
        } else {
            assert!(!b.keyframe);
        }
    }
}

fn video_and_audio(file: &[u8]) -> (Track, Vec<Packet>, Track, Vec<Packet>) {
    let (video, audio, packets) = load_flv(file);
    let (video, audio) = (video.unwrap(), audio.unwrap_or_default());
    let v = packets
        .iter()
        .filter(|p| p.track == video.id)
        .cloned()
        .collect();
    let a = packets
        .iter()
        .filter(|p| p.track == audio.id)
        .cloned()
        .collect();
    (video, v, audio, a)
}

#[test]
fn h264_round_trips_with_single_nal_units_and_fu_a() {
    let (video, packets, _, _) = video_and_audio(H264_FLV);
    for mtu in [DEFAULT_MTU, 100] {
        let (sdp_track, out) = round_trip(&video, &packets, mtu);
        assert_eq!(sdp_track.init, video.init, "avcC from sprop-parameter-sets");
        assert_eq!((sdp_track.width, sdp_track.height), (320, 240));
        assert_eq!(out.errors, vec![]);
        assert_same(&packets, &out.packets, true);
    }
}

#[test]
fn hevc_round_trips_with_single_nal_units_and_fus() {
    let (video, packets, _, _) = video_and_audio(HEVC_FLV);
    assert_eq!(video.codec, Some(Codec::Hevc));
    for mtu in [DEFAULT_MTU, 100] {
        let (sdp_track, out) = round_trip(&video, &packets, mtu);
        assert_eq!(sdp_track.codec, Some(Codec::Hevc));
        assert_eq!(
            (sdp_track.width, sdp_track.height),
            (video.width, video.height)
        );
        assert_eq!(out.errors, vec![]);
        assert_same(&packets, &out.packets, true);
    }
}

#[test]
fn aac_round_trips_whole_and_fragmented() {
    let (_, _, audio, packets) = video_and_audio(H264_FLV);
    for mtu in [DEFAULT_MTU, 64] {
        let (sdp_track, out) = round_trip(&audio, &packets, mtu);
        assert_eq!(sdp_track.init, audio.init);
        assert_eq!(out.errors, vec![]);
        assert_same(&packets, &out.packets, false);
    }
}

#[test]
fn mp3_round_trips_whole_and_fragmented() {
    let (track, packets) = load_mp3(MP3, 1);
    for mtu in [DEFAULT_MTU, 64] {
        let (_, out) = round_trip(&track, &packets, mtu);
        assert_eq!(out.errors, vec![]);
        assert_eq!(out.tracks.len(), 1, "the rate comes from the first frame");
        assert_eq!(out.tracks[0].rate, track.rate);
        assert_same(&packets, &out.packets, false);
    }
}

#[test]
fn opus_and_g711_round_trip() {
    let opus_track = opus::track(2);
    // 20 ms CELT frames (config 31, code 0).
    let opus: Vec<Packet> = (0..50)
        .map(|i| Packet {
            track: 1,
            time: i * 20,
            offset: 0,
            keyframe: false,
            data: Bytes::from(vec![0xF8, i as u8, 1, 2, 3]),
        })
        .collect();
    let (sdp_track, out) = round_trip(
        &Track {
            id: 1,
            ..opus_track
        },
        &opus,
        DEFAULT_MTU,
    );
    assert_eq!(sdp_track.channels, 2);
    assert_eq!(out.errors, vec![]);
    assert_same(&opus, &out.packets, false);

    for codec in [Codec::Ulaw, Codec::Alaw] {
        let track = Track {
            id: 1,
            ..g711::track(codec, 8_000, 1)
        };
        let frames: Vec<Packet> = (0..20)
            .map(|i| Packet {
                track: 1,
                time: i * 20,
                offset: 0,
                keyframe: false,
                data: Bytes::from(vec![i as u8; 160]),
            })
            .collect();
        let (sdp_track, out) = round_trip(&track, &frames, DEFAULT_MTU);
        assert_eq!(sdp_track.codec, Some(codec));
        assert_same(&frames, &out.packets, false);
    }
}

fn rtp(sequence: u16, timestamp: u32, marker: bool, payload: &[u8]) -> RtpPacket {
    RtpPacket {
        marker,
        payload_type: 96,
        sequence,
        timestamp,
        ssrc: 1,
        csrcs: Vec::new(),
        payload: Bytes::copy_from_slice(payload),
    }
}

fn h264_depacketizer() -> (Track, Depacketizer) {
    let (video, _, _, _) = video_and_audio(H264_FLV);
    let d = Depacketizer::new(video.clone(), PayloadFormat::H264, 90_000).unwrap();
    (video, d)
}

fn feed(d: &mut Depacketizer, packets: &[RtpPacket]) -> Out {
    let mut out = Out::default();
    for p in packets {
        d.push(p);
        drain(d, &mut out);
    }
    out
}

const IDR: [u8; 4] = [0x65, 0x88, 0x80, 0x40];
const NON_IDR: [u8; 4] = [0x41, 0x9A, 0x20, 0x10];

#[test]
fn h264_stap_a_and_in_band_parameter_sets() {
    let (video, mut d) = h264_depacketizer();
    let cfg = crate::media::h264::parse_avcc(&video.init).unwrap();
    let mut stap = vec![24u8];
    for unit in [&cfg.sps[0][..], &cfg.pps[0][..], &IDR[..]] {
        stap.extend_from_slice(&(unit.len() as u16).to_be_bytes());
        stap.extend_from_slice(unit);
    }
    let out = feed(
        &mut d,
        &[rtp(1, 1000, true, &stap), rtp(2, 4000, true, &NON_IDR)],
    );
    assert_eq!(out.errors, vec![]);
    assert!(out.tracks.is_empty(), "same parameter sets: no new track");
    assert_eq!(out.packets.len(), 2);
    assert_eq!(
        &out.packets[0].data[..],
        &[0, 0, 0, 4, 0x65, 0x88, 0x80, 0x40]
    );
    assert!(out.packets[0].keyframe && !out.packets[1].keyframe);
    assert_eq!((out.packets[0].time, out.packets[1].time), (0, 33));

    // A track without init (no sprop in the SDP) learns it in band.
    let mut bare = Depacketizer::new(
        Track {
            id: 3,
            codec: Some(Codec::H264),
            ..Track::default()
        },
        PayloadFormat::H264,
        90_000,
    )
    .unwrap();
    let out = feed(
        &mut bare,
        &[rtp(9, 0, false, &NON_IDR), rtp(10, 3000, true, &stap)],
    );
    assert_eq!(out.tracks.len(), 1);
    assert_eq!((out.tracks[0].id, &out.tracks[0].init), (3, &video.init));
    assert_eq!(
        out.packets.len(),
        1,
        "the frame before the parameter sets is dropped"
    );
}

#[test]
fn loss_drops_the_frame_and_waits_for_a_keyframe() {
    let (_, mut d) = h264_depacketizer();
    let fu = |start: bool, end: bool, byte: u8| {
        let header = 0x05 | if start { 0x80 } else { 0 } | if end { 0x40 } else { 0 };
        vec![0x7C, header, byte, byte]
    };
    let out = feed(
        &mut d,
        &[
            rtp(1, 0, true, &IDR),
            rtp(2, 3000, false, &fu(true, false, 1)),
            // 3 lost
            rtp(4, 3000, true, &fu(false, true, 3)),
            rtp(5, 6000, true, &NON_IDR),
            rtp(6, 9000, true, &IDR),
            rtp(6, 9000, true, &IDR), // duplicate
        ],
    );
    assert_eq!(out.packets.len(), 2, "{:?}", out.packets);
    assert_eq!(out.packets[1].time, 100);
    assert!(out.errors.contains(&RtpError::Lost(1)));
    assert_eq!((d.lost(), d.late()), (1, 1));
}

#[test]
fn malformed_h264_payloads_are_errors() {
    let cases: [(&[u8], &str); 7] = [
        (&[], "empty"),
        (&[0x7C, 0x05, 1], "FU-A continuation without start"),
        (&[0x7C], "FU-A without its header"),
        (&[0x7C, 0xC5, 1], "FU-A start and end"),
        (
            &[0x18, 0x00, 0x09, 0x65],
            "STAP-A unit longer than the packet",
        ),
        (&[0x18, 0x00], "STAP-A size truncated"),
        (&[0x19, 0, 0], "STAP-B"),
    ];
    for (payload, what) in cases {
        let (_, mut d) = h264_depacketizer();
        let out = feed(&mut d, &[rtp(1, 0, true, payload)]);
        assert_eq!(out.errors.len(), 1, "{what}: {:?}", out.errors);
        assert!(out.packets.is_empty(), "{what}");
    }
    // A fragment never finished: the next timestamp reports it.
    let (_, mut d) = h264_depacketizer();
    let out = feed(
        &mut d,
        &[rtp(1, 0, false, &[0x7C, 0x85, 1]), rtp(2, 3000, true, &IDR)],
    );
    assert_eq!(out.errors.len(), 1);
}

#[test]
fn malformed_hevc_payloads_are_errors() {
    let (video, _, _, _) = video_and_audio(HEVC_FLV);
    let cases: [(&[u8], &str); 5] = [
        (&[0x40], "header truncated"),
        (&[0x62, 0x01, 0x13, 1], "FU continuation without start"),
        (&[0x62, 0x01], "FU header truncated"),
        (
            &[0x60, 0x01, 0x00, 0x09, 0x26],
            "AP unit longer than the packet",
        ),
        (&[0x64, 0x01, 0, 0], "PACI"),
    ];
    for (payload, what) in cases {
        let mut d = Depacketizer::new(video.clone(), PayloadFormat::Hevc, 90_000).unwrap();
        let out = feed(&mut d, &[rtp(1, 0, true, payload)]);
        assert_eq!(out.errors.len(), 1, "{what}: {:?}", out.errors);
    }
}

fn aac_depacketizer() -> Depacketizer {
    let (_, _, audio, _) = video_and_audio(H264_FLV);
    let rate = audio.rate;
    Depacketizer::new(
        audio,
        PayloadFormat::Mpeg4Generic(AuHeaderLayout::AAC_HBR),
        rate,
    )
    .unwrap()
}

#[test]
fn aac_several_aus_in_one_packet() {
    let mut d = aac_depacketizer();
    // Two AU headers (32 bits): sizes 3 and 2, index 0 and delta 0.
    let payload = [0x00, 0x20, 0x00, 0x18, 0x00, 0x10, 1, 2, 3, 4, 5];
    let out = feed(&mut d, &[rtp(1, 0, true, &payload)]);
    assert_eq!(out.errors, vec![]);
    assert_eq!(out.packets.len(), 2);
    assert_eq!(&out.packets[1].data[..], &[4, 5]);
    assert_eq!(out.packets[1].time, 1024 * 1000 / 44_100);
}

#[test]
fn malformed_aac_payloads_are_errors() {
    let cases: [(&[u8], &str); 4] = [
        (&[0x00], "AU-headers-length truncated"),
        (&[0x00, 0x40, 0x00], "AU headers longer than the packet"),
        (
            &[0x00, 0x10, 0x00, 0x50, 1, 2],
            "AU longer than the packet, with the marker",
        ),
        (&[0x00, 0x0C, 0x00, 0x50], "AU header cut short"),
    ];
    for (payload, what) in cases {
        let mut d = aac_depacketizer();
        let out = feed(&mut d, &[rtp(1, 0, true, payload)]);
        assert_eq!(out.errors.len(), 1, "{what}: {:?}", out.errors);
        assert!(out.packets.is_empty(), "{what}");
    }
    // A fragmented AU (10 bytes) never completed: the next timestamp reports it and goes on.
    let mut d = aac_depacketizer();
    let out = feed(
        &mut d,
        &[
            rtp(1, 0, false, &[0x00, 0x10, 0x00, 0x50, 1, 2, 3]),
            rtp(2, 1024, true, &[0x00, 0x10, 0x00, 0x10, 9, 9]),
        ],
    );
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    assert_eq!(out.packets.len(), 1);
    // Fragments adding up to more than the AU.
    let mut d = aac_depacketizer();
    let out = feed(
        &mut d,
        &[
            rtp(1, 0, false, &[0x00, 0x10, 0x00, 0x18, 1, 2]),
            rtp(2, 0, true, &[0x00, 0x10, 0x00, 0x18, 3, 4]),
        ],
    );
    assert_eq!((out.errors.len(), out.packets.len()), (1, 0));
}

#[test]
fn latm_with_config_from_the_sdp() {
    // What ffmpeg 5.1 writes for AAC-LC 44.1 kHz stereo with `-rtpflags latm`.
    let sdp = "v=0\r\ns=x\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 MP4A-LATM/44100/2\r\n\
               a=fmtp:97 profile-level-id=41;cpresent=0;config=400024203fc0\r\n";
    let parsed = sdp::parse(sdp).unwrap();
    let media = &parsed.media[0];
    assert_eq!(media.track.codec, Some(Codec::Aac));
    assert_eq!((media.track.rate, media.track.channels), (44_100, 2));
    let mut d = media.depacketizer().unwrap();
    let frame: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let element = latm::element(&[&frame]);
    let (first, second) = element.split_at(100);
    let out = feed(
        &mut d,
        &[
            rtp(1, 0, true, &latm::element(&[&[1, 2, 3]])),
            rtp(2, 1024, false, first),
            rtp(3, 1024, true, second),
            rtp(4, 2048, true, &[0x05, 1]),
        ],
    );
    assert_eq!(out.packets.len(), 2);
    assert_eq!(&out.packets[1].data[..], &frame[..]);
    assert_eq!(out.packets[1].time, 23);
    assert_eq!(
        out.errors.len(),
        1,
        "a length past the element: {:?}",
        out.errors
    );
}

#[test]
fn malformed_mpa_payloads_are_errors() {
    let (track, packets) = load_mp3(MP3, 1);
    let frame = &packets[1].data;
    let cases: [(Vec<u8>, &str); 3] = [
        (vec![0, 0], "header truncated"),
        (
            [&[0, 0, 0, 10][..], &frame[..20]].concat(),
            "fragment without start",
        ),
        (
            [&[0, 0, 0, 0][..], &[1, 2, 3][..]].concat(),
            "no frame sync",
        ),
    ];
    for (payload, what) in cases {
        let mut d = Depacketizer::new(track.clone(), PayloadFormat::Mpa, 90_000).unwrap();
        let out = feed(&mut d, &[rtp(1, 0, true, &payload)]);
        assert_eq!(out.errors.len(), 1, "{what}: {:?}", out.errors);
    }
}

/// Random payloads after a valid header, for every format: errors or packets, no panic, and
/// nothing over the frame limit.
#[test]
fn random_payloads_never_panic() {
    let (video, _, audio, _) = video_and_audio(H264_FLV);
    let (hevc_track, _, _, _) = video_and_audio(HEVC_FLV);
    let (mp3_track, _) = load_mp3(MP3, 1);
    let latm_config =
        crate::media::ts::latm::parse_stream_mux_config(&[0x40, 0x00, 0x24, 0x20, 0x3f, 0xc0])
            .unwrap();
    let formats = [
        (video, PayloadFormat::H264, 90_000),
        (hevc_track, PayloadFormat::Hevc, 90_000),
        (
            audio.clone(),
            PayloadFormat::Mpeg4Generic(AuHeaderLayout::AAC_HBR),
            44_100,
        ),
        (
            audio.clone(),
            PayloadFormat::Latm(Some(latm_config)),
            44_100,
        ),
        (audio, PayloadFormat::Latm(None), 44_100),
        (opus::track(2), PayloadFormat::Opus, 48_000),
        (
            g711::track(Codec::Ulaw, 8000, 1),
            PayloadFormat::G711,
            8_000,
        ),
        (mp3_track, PayloadFormat::Mpa, 90_000),
    ];
    let mut rng = XorShift(0x0dd_ba11_5eed);
    for (track, format, clock) in formats {
        let mut d = Depacketizer::new(track, format, clock).unwrap();
        let mut out = Out::default();
        for i in 0..5_000u32 {
            let payload = rng.bytes(64);
            let n = rng.next_u64();
            let packet = rtp(
                n as u16 % 8 + i as u16,
                (n >> 16) as u32 % 4 * 3000,
                n & 1 == 0,
                &payload,
            );
            d.push(&packet);
            drain(&mut d, &mut out);
            out.packets.clear();
        }
    }
}

#[test]
fn packetizer_limits_payloads_and_marks_the_last() {
    let (video, packets, _, _) = video_and_audio(H264_FLV);
    let mut p = Packetizer::new(&video, 96, 7).unwrap().with_mtu(200);
    let key = packets.iter().find(|p| p.keyframe).unwrap();
    let out = p.packetize(key).unwrap();
    assert!(out.len() > 2);
    for (i, rtp) in out.iter().enumerate() {
        let parsed = RtpPacket::parse(rtp.clone()).unwrap();
        assert!(parsed.payload.len() <= 200);
        assert_eq!(parsed.marker, i + 1 == out.len());
        assert_eq!(parsed.sequence, i as u16);
        assert_eq!(parsed.ssrc, 7);
    }
    // The parameter sets lead a keyframe.
    let first = RtpPacket::parse(out[0].clone()).unwrap();
    assert_eq!(first.payload[0] & 0x1F, 7);
    assert_eq!(p.counts().0, out.len() as u32);
    assert_eq!(p.rtp_timestamp(1000), 90_000);
    assert!(Packetizer::new(
        &Track {
            codec: Some(Codec::Vp9),
            ..Track::default()
        },
        96,
        1
    )
    .is_err());
}
