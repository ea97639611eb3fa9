//! Damaged MP4 files: cut short anywhere, random bytes, flipped bytes, declared counts and
//! sizes far beyond the file. Each gives a clear error or an index of what is really there;
//! none panics or allocates by a declared size.

use std::io::Cursor;

use super::mp4_tests::{be, parse, rewrite, write};
use super::*;
use crate::media::bits::tests::XorShift;

/// A small file: 1 s of 64x64 H.264 and AAC, `flags` for the MP4 muxer.
fn small(dir: &Path, name: &str, flags: &str) -> Vec<u8> {
    let args = [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x64:rate=10",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-t",
        "1",
        "-c:v",
        "libx264",
        "-g",
        "5",
        "-c:a",
        "aac",
        "-b:a",
        "32k",
        "-movflags",
        flags,
    ];
    std::fs::read(ffmpeg(dir, name, &args)).unwrap()
}

fn scan_bytes(file: &[u8]) -> Result<Index, VodError> {
    scan(Container::Mp4, &mut Cursor::new(file), file.len() as u64)
}

/// What every index of damaged input must hold to: entries inside the file, no more sample
/// bytes than the file has.
fn sane(index: &Index, len: usize) {
    let mut bytes = 0u64;
    for e in &index.entries {
        assert!(
            e.pos + u64::from(e.raw_len) <= len as u64,
            "{e:?} past {len}"
        );
        assert_eq!(e.raw_len, e.size);
        assert!(index.track(e.track).is_some());
        bytes += u64::from(e.size);
    }
    assert!(bytes <= len as u64);
}

fn malformed(result: Result<Index, VodError>, says: &str) {
    match result {
        Err(e @ VodError::Malformed { .. }) => {
            assert!(e.to_string().contains(says), "{e} should say {says:?}")
        }
        other => panic!("expected a malformed-file error saying {says:?}, got {other:?}"),
    }
}

/// `file` with the leaf boxes rewritten by `f`.
fn patched(file: &[u8], f: &mut dyn FnMut(&[u8; 4], &mut Vec<u8>)) -> Vec<u8> {
    let mut nodes = parse(file);
    rewrite(&mut nodes, &mut |kind, body| f(kind, body));
    let mut out = Vec::new();
    write(&nodes, &mut out);
    out
}

#[test]
fn cut_short_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    for flags in [
        "+faststart",
        "+empty_hdlr_name",
        "+frag_keyframe+empty_moov",
    ] {
        let flags = if flags == "+empty_hdlr_name" {
            "+use_metadata_tags"
        } else {
            flags
        };
        let file = small(dir.path(), "f.mp4", flags);
        let whole = scan_bytes(&file).unwrap();
        let moov = file.windows(4).position(|w| w == b"moov").unwrap() - 4;
        let moov_end = moov + be(&file, moov) as usize;
        let mut cuts: Vec<usize> = (0..file.len()).step_by(97).collect();
        cuts.extend(moov.saturating_sub(20)..moov + 40);
        cuts.extend(moov_end - 20..(moov_end + 20).min(file.len()));
        for cut in cuts {
            match scan_bytes(&file[..cut]) {
                Ok(index) => {
                    sane(&index, cut);
                    assert!(
                        cut >= moov_end,
                        "{flags}: indexed without the whole moov at {cut}"
                    );
                    assert!(index.entries.len() <= whole.entries.len());
                    // What is there is what the whole file has.
                    for e in &index.entries {
                        assert!(whole.entries.contains(e), "{flags} cut {cut}: {e:?}");
                    }
                }
                Err(e) => assert!(
                    matches!(e, VodError::Malformed { .. } | VodError::NoTracks(_)),
                    "{flags} cut {cut}: {e}"
                ),
            }
        }
    }
}

#[test]
fn random_and_flipped_bytes_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    for _ in 0..2000 {
        let mut junk = rng.bytes(600);
        if rng.next_u64() % 2 == 0 && junk.len() >= 8 {
            junk[4..8].copy_from_slice(b"moov");
        }
        let _ = scan_bytes(&junk).map(|i| sane(&i, junk.len()));
    }
    for flags in ["+faststart", "+frag_keyframe+empty_moov+default_base_moof"] {
        let file = small(dir.path(), "f.mp4", flags);
        let moov = file.windows(4).position(|w| w == b"moov").unwrap() - 4;
        let moov_end = moov + be(&file, moov) as usize;
        for round in 0..3000 {
            let mut bad = file.clone();
            // Mostly in the boxes, sometimes anywhere.
            let span = if round % 4 == 0 { file.len() } else { moov_end };
            for _ in 0..1 + rng.next_u64() % 4 {
                let at = (rng.next_u64() % span as u64) as usize;
                bad[at] = rng.next_u64() as u8;
            }
            if let Ok(index) = scan_bytes(&bad) {
                sane(&index, bad.len());
            }
        }
    }
}

#[test]
fn no_moov() {
    malformed(scan_bytes(b""), "no moov");
    malformed(scan_bytes(b"\0\0\0\x10ftypisom\0\0\0\0"), "no moov");
    malformed(
        scan_bytes(b"\0\0\0\x10ftypisom\0\0\0\0\0\0\x10\0mdat"),
        "no moov",
    );
}

#[test]
fn boxes_declaring_more_than_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = small(dir.path(), "f.mp4", "+faststart");
    let moov = file.windows(4).position(|w| w == b"moov").unwrap() - 4;
    // moov larger than the file, by size and by largesize.
    let mut big = file.clone();
    big[moov..moov + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    malformed(scan_bytes(&big), "past the end of the file");
    let mut huge = file[..moov].to_vec();
    huge.extend(1u32.to_be_bytes());
    huge.extend(b"moov");
    huge.extend((u64::MAX - 1).to_be_bytes());
    huge.extend(&file[moov + 8..]);
    malformed(scan_bytes(&huge), "past the end of the file");
    // A box smaller than its header.
    let mut tiny = file.clone();
    tiny[moov..moov + 4].copy_from_slice(&4u32.to_be_bytes());
    malformed(scan_bytes(&tiny), "declares 4 bytes");
    // A child running past its parent.
    let trak = file.windows(4).position(|w| w == b"trak").unwrap() - 4;
    let mut past = file.clone();
    past[trak..trak + 4].copy_from_slice(&0x00FF_FFFFu32.to_be_bytes());
    malformed(scan_bytes(&past), "trak box");
}

#[test]
fn tables_declaring_more_than_their_box() {
    let dir = tempfile::tempdir().unwrap();
    let file = small(dir.path(), "f.mp4", "+faststart");
    for (kind, at, says) in [
        (b"stco", 4, "stco box declares"),
        (b"stsc", 4, "stsc box declares"),
        (b"stts", 4, "stts box declares"),
        (b"ctts", 4, "ctts box declares"),
        (b"stss", 4, "stss box declares"),
        (b"stsz", 8, "stsz box declares"),
        (b"elst", 4, "elst box declares"),
    ] {
        let bad = patched(&file, &mut |k, body| {
            if k == kind {
                body[at..at + 4].copy_from_slice(&0x7FFF_FFFFu32.to_be_bytes());
            }
        });
        malformed(scan_bytes(&bad), says);
    }
    // Every sample of a fixed size, four billion of them.
    let bad = patched(&file, &mut |k, body| {
        if k == b"stsz" {
            body.truncate(4);
            body.extend(1u32.to_be_bytes());
            body.extend(u32::MAX.to_be_bytes());
        }
    });
    malformed(scan_bytes(&bad), "4294967295 samples");
    // Samples adding up to more than the file: every chunk at the same place, large samples.
    let bad = patched(&file, &mut |k, body| match k {
        b"stco" => {
            let n = be(body, 4) as usize;
            for i in 0..n {
                body[8 + 4 * i..12 + 4 * i].copy_from_slice(&0u32.to_be_bytes());
            }
        }
        b"stsz" => {
            body.truncate(4);
            body.extend(2000u32.to_be_bytes());
            body.extend(1000u32.to_be_bytes());
        }
        _ => {}
    });
    malformed(scan_bytes(&bad), "more bytes than the file");
    // Chunks past the end.
    let bad = patched(&file, &mut |k, body| {
        if k == b"stco" {
            let n = be(body, 4) as usize;
            for i in 0..n {
                body[8 + 4 * i..12 + 4 * i].copy_from_slice(&0x7000_0000u32.to_be_bytes());
            }
        }
    });
    malformed(scan_bytes(&bad), "past the end of the file");
}

#[test]
fn fragments_declaring_too_much() {
    let dir = tempfile::tempdir().unwrap();
    let file = small(
        dir.path(),
        "f.mp4",
        "+frag_keyframe+empty_moov+default_base_moof",
    );
    let moof = file.windows(4).position(|w| w == b"moof").unwrap() - 4;
    let trun = moof + file[moof..].windows(4).position(|w| w == b"trun").unwrap() - 4;
    let tfhd = moof + file[moof..].windows(4).position(|w| w == b"tfhd").unwrap() - 4;
    // A huge sample count with per-sample fields: more than the box holds.
    let mut bad = file.clone();
    bad[trun + 12..trun + 16].copy_from_slice(&u32::MAX.to_be_bytes());
    malformed(scan_bytes(&bad), "trun box declares");
    // Samples of another track.
    let mut bad = file.clone();
    bad[tfhd + 12..tfhd + 16].copy_from_slice(&77u32.to_be_bytes());
    malformed(scan_bytes(&bad), "track 77");
    // A moof larger than the file ends the walk: the fragments before it still play.
    let second = moof
        + 8
        + file[moof + 8..]
            .windows(4)
            .position(|w| w == b"moof")
            .unwrap()
        - 4;
    let mut cut = file.clone();
    cut[second..second + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    let index = scan_bytes(&cut).unwrap();
    sane(&index, cut.len());
    assert!(index.entries.iter().all(|e| e.pos < second as u64));
    // A trun of four billion samples with no sizes only moves time on.
    let mut nothing = file.clone();
    let flags = be(&file, trun + 8);
    let head = [(flags & 0xFF00_00FF).to_be_bytes(), u32::MAX.to_be_bytes()].concat();
    nothing[trun + 8..trun + 16].copy_from_slice(&head);
    let started = std::time::Instant::now();
    let _ = scan_bytes(&nothing).map(|i| sane(&i, nothing.len()));
    assert!(started.elapsed().as_secs() < 2);
}

#[test]
fn unknown_codecs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = small(dir.path(), "f.mp4", "+faststart");
    let renamed = patched(&file, &mut |k, body| {
        if k == b"stsd" {
            for name in [&b"avc1"[..], b"mp4a"] {
                if let Some(at) = body.windows(4).position(|w| w == name) {
                    body[at..at + 4].copy_from_slice(if name == b"avc1" {
                        b"xyz1"
                    } else {
                        b"ec-3"
                    });
                }
            }
        }
    });
    let path = dir.path().join("odd.mp4");
    std::fs::write(&path, renamed).unwrap();
    match index_file(&path) {
        Err(VodError::NoTracks(why)) => assert_eq!(why, "track 1: xyz1, track 2: ec-3"),
        other => panic!("{other:?}"),
    }
    // A damaged avcC leaves the video out, the audio plays.
    let damaged = patched(&file, &mut |k, body| {
        if k == b"stsd" {
            if let Some(at) = body.windows(4).position(|w| w == b"avcC") {
                body[at + 4] = 7;
            }
        }
    });
    let index = scan_bytes(&damaged).unwrap();
    assert_eq!(
        index.skipped,
        vec!["track 1: avc1 with a damaged avcC".to_string()]
    );
    assert_eq!(index.tracks.len(), 1);
    assert_eq!(index.tracks[0].codec, Some(Codec::Aac));
}
