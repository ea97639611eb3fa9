//! Damaged, truncated and random Matroska files: an error or an index whose byte ranges lie in
//! the file, never a panic, and no allocation from a declared size.

use std::io::Cursor;

use super::*;

fn scan_bytes(bytes: &[u8]) -> Result<Index, VodError> {
    scan(
        Container::Matroska,
        &mut Cursor::new(bytes),
        bytes.len() as u64,
    )
}

/// The entries of a scan that succeeded all lie within the bytes.
fn in_bounds(bytes: &[u8], index: &Index) {
    for e in &index.entries {
        assert!(e.pos + u64::from(e.raw_len) <= bytes.len() as u64, "{e:?}");
        assert_eq!(e.raw_len, e.size);
    }
}

/// A small H.264 + AAC .mkv made by ffmpeg.
fn sample() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=r=48000",
        "-t",
        "1",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
    ];
    std::fs::read(ffmpeg(dir.path(), "small.mkv", &args)).unwrap()
}

/// A tiny linear congruential generator: the same "random" bytes every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 56) as u8
    }
}

#[test]
fn cut_short_anywhere() {
    let file = sample();
    let whole = scan_bytes(&file).unwrap();
    // The first cluster's start: cuts before it lose the Tracks or the Segment's start.
    let cluster = file
        .windows(4)
        .position(|w| w == [0x1F, 0x43, 0xB6, 0x75])
        .unwrap();
    let mut cuts: Vec<usize> = (0..cluster + 40).collect();
    cuts.extend((cluster..file.len()).step_by(61));
    for cut in cuts {
        let part = &file[..cut];
        match scan_bytes(part) {
            Ok(index) => {
                in_bounds(part, &index);
                assert!(index.entries.len() <= whole.entries.len(), "{cut}");
            }
            Err(e) => assert!(
                matches!(e, VodError::Malformed { .. } | VodError::NoTracks(_)),
                "{cut}: {e}"
            ),
        }
    }
    // Cut in the middle: what is there plays.
    let half = scan_bytes(&file[..file.len() / 2]).unwrap();
    assert!(
        half.entries.len() > whole.entries.len() / 4,
        "{}",
        half.entries.len()
    );
}

#[test]
fn damaged_bytes_never_panic() {
    let file = sample();
    let mut rng = Lcg(7);
    let mut positions: Vec<usize> = (0..file.len().min(1500)).collect();
    positions.extend((0..400).map(|_| {
        let hi = usize::from(rng.next()) << 8 | usize::from(rng.next());
        hi * file.len() / 65_536
    }));
    for at in positions {
        for value in [0x00, 0xFF, 0x01, rng.next()] {
            let mut bad = file.clone();
            bad[at] = value;
            if let Ok(index) = scan_bytes(&bad) {
                in_bounds(&bad, &index);
            }
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Lcg(42);
    let head = [
        0x1A, 0x45, 0xDF, 0xA3, 0x84, 0x42, 0x82, 0x84, b'w', b'e', b'b', b'm',
    ];
    for round in 0..3000 {
        let len = usize::from(rng.next()) * 4;
        let mut bytes: Vec<u8> = if round % 2 == 0 {
            head.to_vec()
        } else {
            Vec::new()
        };
        bytes.extend((0..len).map(|_| rng.next()));
        if round % 3 == 0 {
            // A Segment of unknown size, then noise.
            bytes.splice(12.min(bytes.len()).., [0x18, 0x53, 0x80, 0x67, 0xFF]);
            bytes.extend((0..len).map(|_| rng.next()));
        }
        if let Ok(index) = scan_bytes(&bytes) {
            in_bounds(&bytes, &index);
        }
    }
}

/// EBML header (webm), then a Segment of unknown size holding `rest`.
fn webm(rest: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1A, 0x45, 0xDF, 0xA3, 0x87, 0x42, 0x82, 0x84];
    out.extend(b"webm");
    out.extend([0x18, 0x53, 0x80, 0x67, 0xFF]);
    out.extend(rest);
    out
}

/// A Tracks element with one Opus track (TrackNumber 1).
fn opus_tracks() -> Vec<u8> {
    let mut head = b"OpusHead\x01\x02\x38\x01\x80\xBB\0\0\0\0\0".to_vec();
    let mut entry = vec![0xD7, 0x81, 0x01, 0x86, 0x86];
    entry.extend(b"A_OPUS");
    entry.extend([0x63, 0xA2, 0x80 | head.len() as u8]);
    entry.append(&mut head);
    let mut tracks = vec![0x16, 0x54, 0xAE, 0x6B, 0x80 | (entry.len() + 2) as u8, 0xAE];
    tracks.push(0x80 | entry.len() as u8);
    tracks.extend(entry);
    tracks
}

#[test]
fn huge_declared_sizes_do_not_allocate() {
    // Tracks declaring 2^56 - 2 bytes.
    let huge = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE];
    let mut tracks = vec![0x16, 0x54, 0xAE, 0x6B];
    tracks.extend(huge);
    let err = scan_bytes(&webm(&tracks)).unwrap_err();
    assert!(err.to_string().contains("Tracks of"), "{err}");
    // An EBML header declaring as much.
    let mut file = vec![0x1A, 0x45, 0xDF, 0xA3];
    file.extend(huge);
    let err = scan_bytes(&file).unwrap_err();
    assert!(err.to_string().contains("EBML header"), "{err}");
    // A SimpleBlock declaring as much: the file ends inside it, nothing of it is kept.
    let mut file = webm(&opus_tracks());
    file.extend([0x1F, 0x43, 0xB6, 0x75, 0xFF, 0xE7, 0x81, 0x00]);
    let mut ok = file.clone();
    ok.extend([0xA3, 0x86, 0x81, 0, 0, 0x80, 0xFC, 0xFF]);
    let index = scan_bytes(&ok).unwrap();
    assert_eq!(index.entries.len(), 1);
    file.push(0xA3);
    file.extend(huge);
    file.extend([0x81, 0, 0, 0x80]);
    let err = scan_bytes(&file).unwrap_err();
    assert!(matches!(err, VodError::NoTracks(_)), "{err}");
}

#[test]
fn damaged_structures_are_errors() {
    let tracks = opus_tracks();
    let cluster = |blocks: &[u8]| {
        let mut c = vec![0x1F, 0x43, 0xB6, 0x75, 0xFF, 0xE7, 0x81, 0x00];
        c.extend(blocks);
        webm(&[tracks.clone(), c].concat())
    };
    let cases: &[(&[u8], &str)] = &[
        // Xiph lace sizes beyond the block.
        (
            &[0xA3, 0x87, 0x81, 0, 0, 0x02, 0x01, 0xFF, 0x10],
            "lace sizes",
        ),
        // Fixed lacing that does not divide.
        (
            &[0xA3, 0x88, 0x81, 0, 0, 0x04, 0x01, 0xAA, 0xBB, 0xCC],
            "fixed-size lace",
        ),
        // A block without a track number.
        (&[0xA3, 0x81, 0x00], "block header"),
        // A block before the cluster's timestamp is fine here (it has one); an element of
        // unknown size inside the cluster is not.
        (&[0xEC, 0xFF], "unknown size"),
    ];
    for (blocks, want) in cases {
        let err = scan_bytes(&cluster(blocks)).unwrap_err();
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
    let err = scan_bytes(&webm(&[])).unwrap_err();
    assert!(err.to_string().contains("no Tracks"), "{err}");
    let mut avi = webm(&tracks);
    avi[8..12].copy_from_slice(b"avi!");
    let err = scan_bytes(&avi).unwrap_err();
    assert!(err.to_string().contains("DocType"), "{err}");
    let err = scan_bytes(&webm(&[0x15, 0x49, 0xA9, 0x66, 0xFF])).unwrap_err();
    assert!(err.to_string().contains("unknown size"), "{err}");
    let no_time = webm(
        &[
            tracks.clone(),
            vec![0x1F, 0x43, 0xB6, 0x75, 0x84, 0xA3, 0x82, 0x81, 0],
        ]
        .concat(),
    );
    let err = scan_bytes(&no_time).unwrap_err();
    assert!(err.to_string().contains("Timestamp"), "{err}");
}
