//! Pages, CRC and Xiph lacing, with damaged input; the muxer's output read back by ffprobe and
//! by the on-demand scanner.

use bytes::Bytes;

use super::*;
use crate::media::bits::tests::XorShift;

/// A page built by hand: one packet of `body`.
fn page_of(body: &[u8], serial: u32, sequence: u32, kind: u8) -> Vec<u8> {
    let mut p = b"OggS\0".to_vec();
    p.push(kind);
    p.extend_from_slice(&0i64.to_le_bytes());
    p.extend_from_slice(&serial.to_le_bytes());
    p.extend_from_slice(&sequence.to_le_bytes());
    p.extend_from_slice(&[0; 4]);
    let mut lacing = vec![255u8; body.len() / 255];
    lacing.push((body.len() % 255) as u8);
    p.push(lacing.len() as u8);
    p.extend_from_slice(&lacing);
    p.extend_from_slice(body);
    let c = crc(&p);
    p[22..26].copy_from_slice(&c.to_le_bytes());
    p
}

#[test]
fn crc_matches_the_reference_value() {
    // CRC-32/MPEG-2 without its initial all-ones and final XOR (Ogg's variant) of "123456789".
    assert_eq!(crc_update(0, b"123456789"), 0x89A1_897F);
}

#[test]
fn pages_parse_and_split_into_pieces() {
    let body = vec![7u8; 600];
    let page = page_of(&body, 9, 3, BOS);
    let p = Page::parse(&page, true).unwrap();
    assert_eq!(
        (p.serial, p.sequence, p.len, p.bos()),
        (9, 3, page.len(), true)
    );
    assert_eq!(p.pieces(), vec![(&body[..], true)]);
    // A flipped byte fails the CRC; cut pages ask for more.
    let mut bad = page.clone();
    bad[40] ^= 1;
    assert_eq!(
        Page::parse(&bad, true),
        Err(PageError::Invalid("CRC mismatch"))
    );
    assert!(Page::parse(&bad, false).is_ok());
    for cut in 0..page.len() {
        match Page::parse(&page[..cut], true) {
            Err(PageError::Incomplete(n)) => assert!(n > cut),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    assert!(Page::parse(b"OggT and more bytes than a header has", true).is_err());
}

#[test]
fn random_bytes_are_never_a_page() {
    let mut rng = XorShift(3);
    for len in [0usize, 5, 27, 300, 70_000] {
        let mut noise: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if len >= 4 {
            noise[..4].copy_from_slice(b"OggS");
        }
        if len > 4 {
            noise[4] = 0;
        }
        assert!(Page::parse(&noise, true).is_err(), "{len}");
    }
}

#[test]
fn xiph_lacing_round_trips_and_refuses_damage() {
    let a = vec![1u8; 30];
    let b = vec![2u8; 600];
    let c = vec![3u8; 4000];
    let laced = xiph_lace(&[&a, &b, &c]);
    assert_eq!(&laced[..5], &[2, 30, 255, 255, 90]);
    let back = xiph_unlace(&laced).unwrap();
    assert_eq!(back, vec![Bytes::from(a), Bytes::from(b), Bytes::from(c)]);
    assert!(xiph_unlace(&Bytes::new()).is_err());
    assert!(xiph_unlace(&Bytes::from_static(&[2, 255, 255])).is_err());
    assert!(xiph_unlace(&Bytes::from_static(&[2, 200, 3, 1, 2])).is_err());
}

/// A file ffmpeg made, scanned, and its packets muxed again: ffprobe reads our file with the
/// same codecs and packet count, and the scanner reads back the same packets and times.
fn remux(args: &str, name: &str) {
    use crate::media::vod::{self, Container};
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join(name);
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args.split_whitespace())
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success());
    let file = std::fs::read(&src).unwrap();
    let index = vod::scan(
        Container::Ogg,
        &mut std::io::Cursor::new(&file),
        file.len() as u64,
    )
    .unwrap();
    let packets: Vec<_> = (0..index.entries.len())
        .map(|i| {
            let e = index.entries[i];
            let raw = Bytes::copy_from_slice(&file[e.pos as usize..][..e.raw_len as usize]);
            vod::packet(&index, i, raw).unwrap()
        })
        .collect();
    // An AAC track beside them is left out.
    let mut tracks = index.tracks.clone();
    tracks.push(crate::media::Track {
        id: 9,
        codec: Some(crate::media::Codec::Aac),
        ..Default::default()
    });
    let mut muxer = mux::OggMuxer::new(&tracks).unwrap();
    assert_eq!(muxer.tracks().len(), index.tracks.len());
    let mut out = muxer.headers().to_vec();
    let (mut scratch, mut pieces) = (bytes::BytesMut::new(), Vec::new());
    for p in &packets {
        muxer.packet(p, &mut scratch, &mut pieces);
    }
    for piece in pieces.drain(..) {
        out.extend_from_slice(&piece);
    }
    let mut tail = bytes::BytesMut::new();
    muxer.finish(&mut tail);
    out.extend_from_slice(&tail);
    let ours = dir.path().join(format!("ours-{name}"));
    std::fs::write(&ours, &out).unwrap();
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_packets",
            "-show_streams",
            "-of",
            "json",
        ])
        .arg(&ours)
        .output()
        .unwrap();
    assert!(probe.status.success(), "ffprobe fails on our file");
    let v: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    let streams = v["streams"].as_array().unwrap();
    assert_eq!(streams.len(), index.tracks.len());
    for (s, t) in streams.iter().zip(&index.tracks) {
        let want = t.codec.unwrap().mist_name();
        assert_eq!(s["codec_name"].as_str().unwrap(), want);
        let n: usize = s["nb_read_packets"].as_str().unwrap().parse().unwrap();
        let ours = index.entries.iter().filter(|e| e.track == t.id).count();
        assert_eq!(n, ours, "{want}: packet count");
    }
    // Our own scanner: every page's CRC holds, same packets, times within a ms.
    let again = vod::scan(
        Container::Ogg,
        &mut std::io::Cursor::new(&out),
        out.len() as u64,
    )
    .unwrap();
    assert_eq!(again.entries.len(), index.entries.len());
    let mut sorted: Vec<_> = again.entries.clone();
    sorted.sort_by_key(|e| (e.track, e.pos));
    let mut before: Vec<_> = index.entries.clone();
    before.sort_by_key(|e| (e.track, e.pos));
    for t in &index.tracks {
        let ours: Vec<_> = sorted.iter().filter(|e| e.track == t.id).collect();
        let theirs: Vec<_> = before.iter().filter(|e| e.track == t.id).collect();
        // The same packets; times the same up to a constant offset after the first two (the
        // source's first packets sit before 0 and were put at 0, so their spacing is lost),
        // and that offset under a Vorbis long block.
        let mut offsets = Vec::new();
        for (n, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!((a.size, a.keyframe), (b.size, b.keyframe), "packet {n}");
            if n >= 2 {
                offsets.push(a.time - b.time);
            }
        }
        let (lo, hi) = (offsets.iter().min().unwrap(), offsets.iter().max().unwrap());
        assert!(
            hi - lo <= 2 && lo.abs() <= 15 && hi.abs() <= 15,
            "{lo}..{hi}"
        );
    }
    for (a, b) in again.tracks.iter().zip(&index.tracks) {
        assert_eq!(
            (a.codec, a.width, a.height, a.rate, a.channels, a.fpks),
            (b.codec, b.width, b.height, b.rate, b.channels, b.fpks)
        );
        assert!(a.init == b.init, "same headers");
        assert!((a.lastms - b.lastms).abs() <= 15);
    }
}

#[test]
fn muxed_opus_reads_back() {
    remux(
        "-f lavfi -i sine=sample_rate=48000 -t 2 -c:a libopus -f ogg",
        "a.opus",
    );
}

#[test]
fn muxed_theora_and_vorbis_read_back() {
    // Noisy frames (90 kB) are continued across pages.
    remux(
        "-f lavfi -i testsrc=size=320x240:rate=25,noise=alls=100:allf=t \
         -f lavfi -i sine=sample_rate=44100 -t 1 -c:v libtheora -q:v 7 -g 10 -c:a libvorbis \
         -f ogg",
        "tv.ogg",
    );
}

#[test]
fn nothing_to_carry_is_an_error() {
    let aac = crate::media::Track {
        id: 1,
        codec: Some(crate::media::Codec::Aac),
        ..Default::default()
    };
    assert_eq!(
        mux::OggMuxer::new(&[aac]).err(),
        Some(mux::OggMuxError::NoTracks)
    );
    // An Opus track whose init is not an OpusHead is not carried either.
    let broken = crate::media::Track {
        id: 1,
        codec: Some(crate::media::Codec::Opus),
        init: Bytes::from_static(b"nope"),
        ..Default::default()
    };
    assert!(mux::OggMuxer::new(&[broken]).is_err());
}

#[test]
fn codec_headers_of_random_bytes_never_panic() {
    let mut rng = XorShift(11);
    let magics: [&[u8]; 4] = [b"OpusHead", b"\x01vorbis", b"\x80theora", b"\x05vorbis"];
    for n in 0..2000usize {
        let len = n % 97;
        let mut p = magics[n % 4].to_vec();
        p.extend((0..len).map(|_| rng.next_u64() as u8));
        p.truncate(len.max(1));
        let _ = codecs::identify(&p);
        let _ = codecs::vorbis_modes(&p);
        let _ = codecs::opus_samples(&p);
        if let Ok(id) = codecs::TheoraId::parse(&p) {
            let _ = id.frame_of(rng.next_u64() as i64);
        }
        let id = codecs::VorbisId {
            channels: 1,
            rate: 8000,
            blocksizes: [256, 2048],
        };
        let mut t = codecs::VorbisTiming::new(&id, vec![false, true, true]);
        let _ = t.samples(&p);
    }
    // Opus TOC: code 0 one 20 ms CELT frame; code 3 with 3 frames of 2.5 ms.
    assert_eq!(codecs::opus_samples(&[0xF8]), Some(960));
    assert_eq!(codecs::opus_samples(&[0x83, 3]), Some(360));
    assert_eq!(codecs::opus_samples(&[0x83]), None);
}
