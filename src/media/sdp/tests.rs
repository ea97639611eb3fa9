use super::super::rtp::{AuHeaderLayout, PayloadFormat};
use super::super::testutil::load_flv;
use super::super::{Codec, Track};
use super::*;

const H264_FLV: &[u8] = include_bytes!("../testdata/h264_aac_320x240.flv");

/// What ffmpeg 5.1.9 writes with `-sdp_file` for `-c:v libx264 -f rtp` (no global header, so
/// no sprop-parameter-sets: the parameter sets come in band).
const FFMPEG_H264: &str = "v=0\r\n\
o=- 0 0 IN IP4 127.0.0.1\r\n\
s=No Name\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
a=tool:libavformat LIBAVFORMAT_VERSION\r\n\
m=video 5004 RTP/AVP 96\r\n\
a=rtpmap:96 H264/90000\r\n\
a=fmtp:96 packetization-mode=1\r\n";

#[test]
fn parses_ffmpeg_h264() {
    let sdp = parse(FFMPEG_H264).unwrap();
    assert_eq!(sdp.session_name, "No Name");
    assert_eq!(sdp.connection.as_deref(), Some("127.0.0.1"));
    let media = &sdp.media[0];
    assert_eq!(
        (media.port, media.payload_type, media.clock_rate),
        (5004, 96, 90_000)
    );
    assert_eq!(media.format, PayloadFormat::H264);
    assert_eq!(media.track.codec, Some(Codec::H264));
    assert!(media.track.init.is_empty());
    assert_eq!(media.track.id, 1);
    assert_eq!(media.fmtp("Packetization-Mode"), Some("1"));
    assert!(media.depacketizer().is_ok());
}

#[test]
fn describes_and_reads_back_every_codec() {
    let (video, audio, _) = load_flv(H264_FLV);
    let (video, audio) = (video.unwrap(), audio.unwrap());
    let tracks = vec![
        video.clone(),
        audio.clone(),
        Track {
            id: 3,
            ..super::super::rtp::opus::track(2)
        },
        Track {
            id: 4,
            ..super::super::rtp::g711::track(Codec::Ulaw, 8_000, 1)
        },
        Track {
            id: 5,
            ..super::super::rtp::g711::track(Codec::Alaw, 8_000, 1)
        },
        Track {
            id: 6,
            codec: Some(Codec::Mp3),
            rate: 44_100,
            channels: 2,
            ..Track::default()
        },
        Track {
            id: 7,
            codec: Some(Codec::Vp9),
            ..Track::default()
        },
    ];
    let session = SessionInfo {
        name: "live".into(),
        origin: "::1".into(),
        connection: "0.0.0.0".into(),
    };
    let (text, media) = describe(&session, &tracks);
    assert_eq!(media.len(), 6, "VP9 is not carried");
    assert!(text.contains("o=- 0 0 IN IP6 ::1\r\n"), "{text}");
    assert!(text.contains("a=rtpmap:96 H264/90000\r\n"), "{text}");
    assert!(
        text.contains("packetization-mode=1;profile-level-id=640"),
        "{text}"
    );
    assert!(
        text.contains("a=rtpmap:97 MPEG4-GENERIC/44100/1\r\n"),
        "{text}"
    );
    assert!(
        text.contains("mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1208"),
        "{text}"
    );
    assert!(
        text.contains("a=rtpmap:98 opus/48000/2\r\na=fmtp:98 sprop-stereo=1\r\n"),
        "{text}"
    );
    assert!(
        text.contains("m=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"),
        "{text}"
    );
    assert!(text.contains("m=audio 0 RTP/AVP 8\r\n"), "{text}");
    assert!(
        text.contains("m=audio 0 RTP/AVP 14\r\na=rtpmap:14 MPA/90000\r\n"),
        "{text}"
    );
    assert!(text.contains("a=control:track4\r\n"), "{text}");

    let back = parse(&text).unwrap();
    assert_eq!(back.skipped, Vec::<String>::new());
    let codecs: Vec<_> = back.media.iter().map(|m| m.track.codec).collect();
    assert_eq!(
        codecs,
        [
            Codec::H264,
            Codec::Aac,
            Codec::Opus,
            Codec::Ulaw,
            Codec::Alaw,
            Codec::Mp3
        ]
        .map(Some)
    );
    assert_eq!(back.media[0].track.init, video.init);
    assert_eq!(back.media[1].track.init, audio.init);
    assert_eq!(
        back.media[1].format,
        PayloadFormat::Mpeg4Generic(AuHeaderLayout::AAC_HBR)
    );
    assert_eq!(back.media[2].track.channels, 2);
    assert_eq!(back.media[3].control.as_deref(), Some("track4"));
    for m in &back.media {
        assert!(m.depacketizer().is_ok(), "{}", m.encoding);
    }
}

#[test]
fn hevc_sprops_make_an_hvcc() {
    let flv = include_bytes!("../testdata/hevc_enhanced.flv");
    let (video, _, _) = load_flv(flv);
    let video = video.unwrap();
    let (text, _) = describe(
        &SessionInfo {
            name: "h".into(),
            origin: "127.0.0.1".into(),
            connection: "0.0.0.0".into(),
        },
        std::slice::from_ref(&video),
    );
    assert!(
        text.contains("a=rtpmap:96 H265/90000\r\na=fmtp:96 sprop-vps="),
        "{text}"
    );
    let back = parse(&text).unwrap();
    let track = &back.media[0].track;
    assert_eq!(track.codec, Some(Codec::Hevc));
    assert_eq!((track.width, track.height), (video.width, video.height));
    assert_eq!(track.codec_string, video.codec_string);
}

#[test]
fn unknown_codecs_are_skipped_and_static_types_known() {
    let text = "v=0\ns=cam\na=control:rtsp://cam/live\n\
                m=video 0 RTP/AVP 26\na=control:trackID=0\n\
                m=audio 0 RTP/AVP 0\na=control:trackID=1\n\
                m=application 0 RTP/AVP 107\na=rtpmap:107 vnd.onvif.metadata/90000\n\
                m=audio 0 RTP/AVP 97 8\na=rtpmap:97 G726-32/8000\n";
    let sdp = parse(text).unwrap();
    assert_eq!(sdp.control.as_deref(), Some("rtsp://cam/live"));
    assert_eq!(
        sdp.skipped,
        vec!["payload type 26".to_string(), "vnd.onvif.metadata".into()]
    );
    assert_eq!(sdp.media.len(), 2);
    assert_eq!(sdp.media[0].track.codec, Some(Codec::Ulaw));
    assert_eq!(
        sdp.media[1].track.codec,
        Some(Codec::Alaw),
        "the second payload type is used"
    );
    assert_eq!(sdp.media[1].track.id, 2);
    assert_eq!(
        resolve_control("rtsp://cam/live", sdp.media[0].control.as_deref().unwrap()),
        "rtsp://cam/live/trackID=1"
    );
    assert_eq!(resolve_control("rtsp://a/b/", "t1"), "rtsp://a/b/t1");
    assert_eq!(resolve_control("rtsp://a/b", "rtsp://c/d"), "rtsp://c/d");
}

#[test]
fn limits_and_bad_lines() {
    let many = "m=audio 0 RTP/AVP 0\n".repeat(MAX_MEDIA + 1);
    assert_eq!(parse(&many), Err(SdpError::TooManyMedia));
    let long = format!("v=0\na={}\n", "x".repeat(MAX_LINE + 1));
    assert_eq!(parse(&long), Err(SdpError::LineTooLong));
    assert_eq!(parse(&"v=0\n".repeat(MAX_SDP)), Err(SdpError::TooLong));
    assert!(matches!(parse("m=video\n"), Err(SdpError::Invalid(_))));
    assert!(matches!(
        parse("m=video x RTP/AVP 96\n"),
        Err(SdpError::Invalid(_))
    ));
    // Bad fmtp values make the codec unknown, not a failure.
    let text = "m=audio 0 RTP/AVP 96\na=rtpmap:96 MPEG4-GENERIC/44100/2\n\
                a=fmtp:96 mode=AAC-hbr;sizelength=13;config=zz\n\
                m=audio 0 RTP/AVP 97\na=rtpmap:97 MP4A-LATM/44100\na=fmtp:97 cpresent=0\n\
                m=video 0 RTP/AVP 98\na=rtpmap:98 H264/90000\na=fmtp:98 sprop-parameter-sets=!!,??\n";
    let sdp = parse(text).unwrap();
    assert_eq!(sdp.skipped.len(), 2, "{:?}", sdp.skipped);
    assert_eq!(sdp.media.len(), 1);
    assert!(
        sdp.media[0].track.init.is_empty(),
        "H.264 parameter sets come in band then"
    );
}

#[test]
fn random_text_never_panics() {
    let mut rng = super::super::bits::tests::XorShift(0x5d9_5d9_5d9);
    let pieces = [
        "m=",
        "a=rtpmap:",
        "a=fmtp:",
        "96",
        " ",
        "/",
        "H264",
        "MPEG4-GENERIC",
        "config=",
        ";",
        "\n",
        "=",
        "sprop-parameter-sets=",
        "Z2QADKzZ",
        ",",
        "a=control:",
        "MP4A-LATM",
        "0",
        "cpresent=0",
        "audio",
        "RTP/AVP",
        "opus",
        "sizelength=",
        "99999",
    ];
    for _ in 0..5_000 {
        let n = rng.next_u64() % 40;
        let text: String = (0..n)
            .map(|_| pieces[(rng.next_u64() % pieces.len() as u64) as usize])
            .collect();
        let _ = parse(&text);
    }
}
