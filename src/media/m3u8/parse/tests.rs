use super::*;

const LIVE: &str = "#EXTM3U\r\n#EXT-X-VERSION:3\r\n#EXT-X-TARGETDURATION:2\r\n\
#EXT-X-MEDIA-SEQUENCE:41\r\n#EXTINF:2.000,\r\nseg41.ts\r\n#EXT-X-DISCONTINUITY\r\n\
#EXTINF:1.960,title, with comma\r\n/abs/seg42.ts?x=1\r\n";

fn media(text: &str, base: &str) -> MediaPlaylist {
    match parse(text, base).unwrap() {
        Playlist::Media(m) => m,
        other => panic!("not a media playlist: {other:?}"),
    }
}

#[test]
fn live_media_playlist() {
    let m = media(LIVE, "http://origin:8080/live/index.m3u8?token=a");
    assert_eq!(m.target_duration, 2);
    assert_eq!(m.media_sequence, 41);
    assert!(!m.ended);
    assert_eq!(m.kind, None);
    assert_eq!(m.segments.len(), 2);
    let (a, b) = (&m.segments[0], &m.segments[1]);
    assert_eq!(a.sequence, 41);
    assert_eq!(a.uri, "http://origin:8080/live/seg41.ts");
    assert!(!a.discontinuity && a.map.is_none() && a.range.is_none());
    assert_eq!(b.sequence, 42);
    assert_eq!(b.uri, "http://origin:8080/abs/seg42.ts?x=1");
    assert!(b.discontinuity);
    assert!((b.duration - 1.96).abs() < 1e-9);
}

#[test]
fn vod_fmp4_with_byte_ranges() {
    let text = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n\
#EXT-X-MAP:URI=\"init.mp4\",BYTERANGE=\"720@0\"\n#EXTINF:4,\n#EXT-X-BYTERANGE:1000@720\nall.mp4\n\
#EXTINF:4,\n#EXT-X-BYTERANGE:500\nall.mp4\n#EXT-X-ENDLIST\n";
    let m = media(text, "/media/films/x.m3u8");
    assert!(m.ended);
    assert_eq!(m.kind, Some(PlaylistType::Vod));
    let map = m.segments[0].map.clone().unwrap();
    assert_eq!(map.uri, "/media/films/init.mp4");
    assert_eq!(
        map.range,
        Some(ByteRange {
            offset: 0,
            length: 720
        })
    );
    assert_eq!(
        m.segments[0].range,
        Some(ByteRange {
            offset: 720,
            length: 1000
        })
    );
    assert_eq!(
        m.segments[1].range,
        Some(ByteRange {
            offset: 1720,
            length: 500
        })
    );
    assert_eq!(m.segments[1].map, Some(map));
}

#[test]
fn master_playlist() {
    let text = "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"English, main\",LANGUAGE=\"en\",DEFAULT=YES,URI=\"a/en.m3u8\"\n\
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"s\",NAME=\"x\",URI=\"s.m3u8\"\n\
#EXT-X-STREAM-INF:BANDWIDTH=1280000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=25.000,AUDIO=\"aud\"\n\
hi/index.m3u8\n# a comment\n#EXT-X-STREAM-INF:BANDWIDTH=400000\nhttp://other/lo.m3u8\n";
    let Playlist::Master(m) = parse(text, "https://cdn.example/live/master.m3u8").unwrap() else {
        panic!("not a master playlist");
    };
    assert_eq!(m.variants.len(), 2);
    let v = &m.variants[0];
    assert_eq!(v.uri, "https://cdn.example/live/hi/index.m3u8");
    assert_eq!(v.bandwidth, 1_280_000);
    assert_eq!(v.codecs, "avc1.64001f,mp4a.40.2");
    assert_eq!(v.resolution, Some((1280, 720)));
    assert_eq!(v.frame_rate, Some(25.0));
    assert_eq!(v.audio_group.as_deref(), Some("aud"));
    assert_eq!(m.variants[1].uri, "http://other/lo.m3u8");
    assert_eq!(m.variants[1].resolution, None);
    assert_eq!(m.audio.len(), 1);
    assert_eq!(m.audio[0].name, "English, main");
    assert_eq!(
        m.audio[0].uri.as_deref(),
        Some("https://cdn.example/live/a/en.m3u8")
    );
    assert!(m.audio[0].default);
}

#[test]
fn resolving() {
    assert_eq!(resolve("http://h/a/b.m3u8", "c.ts"), "http://h/a/c.ts");
    assert_eq!(
        resolve("http://h:1/a/b.m3u8?q=/x", "c.ts"),
        "http://h:1/a/c.ts"
    );
    assert_eq!(resolve("http://h", "c.ts"), "http://h/c.ts");
    assert_eq!(resolve("http://h/a/b.m3u8", "/c.ts"), "http://h/c.ts");
    assert_eq!(resolve("https://h/a/b.m3u8", "//k/c.ts"), "https://k/c.ts");
    assert_eq!(
        resolve("http://h/a/b.m3u8", "http://k/c.ts"),
        "http://k/c.ts"
    );
    assert_eq!(resolve("/m/x/list.m3u8", "seg/1.ts"), "/m/x/seg/1.ts");
    assert_eq!(resolve("/m/x/list.m3u8", "/other/1.ts"), "/other/1.ts");
    assert_eq!(resolve("list.m3u8", "1.ts"), "1.ts");
}

#[test]
fn attribute_lists() {
    assert_eq!(
        attributes("A=1, B=\"x,y\",C=z").unwrap(),
        vec![("A", "1"), ("B", "x,y"), ("C", "z")]
    );
    assert!(attributes("A=\"open").is_err());
    assert!(attributes("novalue").is_err());
    assert!(attributes("=1").is_err());
    assert!(attributes("A=\"x\"junk").is_err());
    assert_eq!(attributes("").unwrap(), vec![]);
}

#[test]
fn malformed_playlists_are_refused() {
    let refused = |text: &str| parse(text, "http://h/x.m3u8").unwrap_err();
    assert_eq!(refused(""), PlaylistError::NotM3u);
    assert_eq!(refused("hello\n#EXTM3U\n"), PlaylistError::NotM3u);
    assert_eq!(refused("<html>404</html>"), PlaylistError::NotM3u);
    assert!(matches!(
        refused("#EXTM3U\n"),
        PlaylistError::Bad { line: 1, .. }
    ));
    assert_eq!(
        refused("#EXTM3U\n#EXTINF:1,\na.ts\n"),
        PlaylistError::NoTargetDuration
    );
    for bad in [
        "#EXTM3U\n#EXT-X-TARGETDURATION:x\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:abc,\na.ts\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:-1,\na.ts\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:NaN,\na.ts\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\na.ts\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-BYTERANGE:x@y\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:BYTERANGE=\"1@0\"\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:LIVE\n",
        "#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\nv.m3u8\n",
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=wide\nv.m3u8\n",
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1\nv.m3u8\n",
    ] {
        assert!(matches!(refused(bad), PlaylistError::Bad { .. }), "{bad:?}");
    }
    let long = format!("#EXTM3U\n#{}\n", "A".repeat(MAX_LINE + 1));
    assert!(matches!(refused(&long), PlaylistError::Bad { line: 2, .. }));
}

#[test]
fn ceilings() {
    let mut text = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:1\n");
    for i in 0..=MAX_SEGMENTS {
        text.push_str(&format!("#EXTINF:1,\n{i}.ts\n"));
    }
    assert_eq!(
        parse(&text, "/x.m3u8").unwrap_err(),
        PlaylistError::TooManySegments(MAX_SEGMENTS)
    );
    let mut text = String::from("#EXTM3U\n");
    for i in 0..=MAX_VARIANTS {
        text.push_str(&format!("#EXT-X-STREAM-INF:BANDWIDTH={i}\n{i}.m3u8\n"));
    }
    assert_eq!(
        parse(&text, "/x.m3u8").unwrap_err(),
        PlaylistError::TooManyVariants(MAX_VARIANTS)
    );
    let text = format!("#EXTM3U\n{}", "\n".repeat(MAX_LINES + 1));
    assert_eq!(
        parse(&text, "/x.m3u8").unwrap_err(),
        PlaylistError::TooManyLines(MAX_LINES)
    );
}

#[test]
fn random_and_cut_input_never_panics() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"#EXTM3U-:,=\"@x\n\r0123456789.AZ/ INF";
    for _ in 0..3000 {
        let len = (next() % 200) as usize;
        let mut text = String::from("#EXTM3U\n");
        for _ in 0..len {
            text.push(alphabet[(next() % alphabet.len() as u64) as usize] as char);
        }
        let _ = parse(&text, "http://h/x.m3u8");
    }
    for cut in 0..LIVE.len() {
        if LIVE.is_char_boundary(cut) {
            let _ = parse(&LIVE[..cut], "http://h/x.m3u8");
        }
    }
}
