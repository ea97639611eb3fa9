//! The stored index: a round trip of real indexes, every kind of damage, and random
//! truncations and flips (with and without a recomputed checksum) that must never panic.

use super::*;
use crate::media::bits::tests::XorShift;
use crate::media::vod::store::{checksum, from_bytes, to_bytes, FileStamp, ENTRY_LEN, VERSION};

const STAMP: FileStamp = FileStamp {
    len: 123_456,
    modified_ns: 1_700_000_000_123_456_789,
};

/// A real index: H.264, AAC, AC-3 and an E-AC-3 track that is skipped.
fn real() -> Index {
    let dir = tempfile::tempdir().unwrap();
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
        "2",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map",
        "1:a",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-c:a:0",
        "aac",
        "-c:a:1",
        "ac3",
        "-c:a:2",
        "eac3",
    ];
    let index = index_file(&ffmpeg(dir.path(), "f.mp4", &args)).unwrap();
    assert_eq!(index.skipped.len(), 1);
    index
}

/// Every field set, every codec, negative times.
fn odd() -> Index {
    let codecs = [None, Some(Codec::H264), Some(Codec::Hevc), Some(Codec::Av1)];
    let more = [
        Some(Codec::Vp9),
        Some(Codec::Aac),
        Some(Codec::Mp3),
        Some(Codec::Amf),
        Some(Codec::Opus),
        Some(Codec::Vorbis),
        Some(Codec::Theora),
        Some(Codec::Ac3),
        Some(Codec::Pcm),
        Some(Codec::Alaw),
        Some(Codec::Ulaw),
    ];
    let tracks: Vec<Track> = codecs
        .into_iter()
        .chain(more)
        .enumerate()
        .map(|(i, codec)| Track {
            id: i as u32 * 3 + 1,
            codec,
            init: bytes::Bytes::from(vec![i as u8; i * 7]),
            codec_string: format!("codec {i} é"),
            width: 1 + i as u32,
            height: 2,
            fpks: 3,
            rate: 4,
            channels: 5,
            size: 6,
            bps: u64::MAX - i as u64,
            firstms: -5,
            lastms: i64::MAX,
            lang: ["", "eng", "fra"][i % 3].to_string(),
        })
        .collect();
    let entries = (0..100)
        .map(|i| IndexEntry {
            track: tracks[i % tracks.len()].id,
            time: i as i64 * 7 - 50,
            offset: -(i as i32),
            keyframe: i % 3 == 0,
            pos: u64::MAX - i as u64,
            raw_len: i as u32,
            size: u32::MAX - i as u32,
        })
        .collect();
    Index {
        container: Container::Ts,
        source_ids: (0..tracks.len() as u32).map(|i| 0x100 + i).collect(),
        tracks,
        entries,
        skipped: vec!["track 9: ac-3".into(), String::new()],
    }
}

fn refused(bytes: &[u8], stamp: FileStamp, says: &str) {
    match from_bytes(bytes, stamp) {
        Err(VodError::BadIndex(why)) => assert!(why.contains(says), "{why:?} should say {says:?}"),
        other => panic!("expected a refusal saying {says:?}, got {other:?}"),
    }
}

/// `bytes` with the checksum made right again, for damage the checksum would hide.
fn resealed(mut bytes: Vec<u8>) -> Vec<u8> {
    let body = bytes.len() - 8;
    let sum = checksum(&bytes[..body]);
    bytes[body..].copy_from_slice(&sum.to_le_bytes());
    bytes
}

#[test]
fn round_trips() {
    for index in [real(), odd()] {
        let bytes = to_bytes(&index, STAMP);
        let back = from_bytes(&bytes, STAMP).unwrap();
        assert_eq!(back, index);
        assert_eq!(to_bytes(&back, STAMP), bytes, "stable");
        let fixed = bytes.len() - index.entries.len() * ENTRY_LEN;
        assert!(fixed < 4000, "header and tracks take {fixed} bytes");
    }
}

#[test]
fn refuses_other_files_versions_and_stamps() {
    let bytes = to_bytes(&odd(), STAMP);
    refused(b"", STAMP, "not an Eddy index");
    refused(b"EDDYVID", STAMP, "not an Eddy index");
    refused(b"\0\0\0\x20ftypisom", STAMP, "not an Eddy index");
    refused(b"EDDYVIDX", STAMP, "cut short");
    let mut other = bytes.clone();
    other[8..10].copy_from_slice(&(VERSION + 1).to_le_bytes());
    refused(&other, STAMP, &format!("format version {}", VERSION + 1));
    let newer = FileStamp {
        modified_ns: STAMP.modified_ns + 1,
        ..STAMP
    };
    refused(&bytes, newer, "another version of the file");
    let longer = FileStamp {
        len: STAMP.len + 1,
        ..STAMP
    };
    refused(&bytes, longer, "another version of the file");
}

#[test]
fn refuses_damage() {
    let bytes = to_bytes(&odd(), STAMP);
    for cut in 0..bytes.len() {
        assert!(matches!(
            from_bytes(&bytes[..cut], STAMP),
            Err(VodError::BadIndex(_))
        ));
    }
    let mut longer = bytes.clone();
    longer.push(0);
    refused(&longer, STAMP, "checksum");
    for at in [
        12,
        40,
        100,
        bytes.len() / 2,
        bytes.len() - 9,
        bytes.len() - 1,
    ] {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x10;
        refused(&flipped, STAMP, "checksum");
    }
}

/// Damage with a right checksum: the layout itself is checked.
#[test]
fn refuses_inconsistent_contents() {
    let index = odd();
    let bytes = to_bytes(&index, STAMP);
    let tracks_at = 8 + 2 + 8 + 16 + 1;
    let patch = |at: usize, with: &[u8]| {
        let mut b = bytes.clone();
        b[at..at + with.len()].copy_from_slice(with);
        resealed(b)
    };
    refused(&patch(tracks_at - 1, &[0]), STAMP, "unknown container");
    refused(
        &patch(tracks_at, &u32::MAX.to_le_bytes()),
        STAMP,
        "tracks cannot fit",
    );
    refused(
        &patch(tracks_at + 4, &0u32.to_le_bytes()),
        STAMP,
        "track id 0",
    );
    // The first track: id, codec, init (empty), codec string (10 bytes), six u32, three u64,
    // source id, language (empty).
    let second = tracks_at + 4 + 4 + 1 + 4 + 4 + 10 + 24 + 24 + 4 + 4;
    assert_eq!(bytes[second..second + 4], 4u32.to_le_bytes());
    refused(
        &patch(second, &1u32.to_le_bytes()),
        STAMP,
        "track id 1 is 0 or repeated",
    );
    refused(&patch(tracks_at + 8, &[99]), STAMP, "unknown codec");
    refused(
        &patch(tracks_at + 9, &u32::MAX.to_le_bytes()),
        STAMP,
        "cut short",
    );
    // The first track's codec string (init is empty): "codec 0 é" made invalid UTF-8.
    refused(&patch(tracks_at + 17, &[0xFF]), STAMP, "not UTF-8");
    let entries_at = bytes.len() - 8 - index.entries.len() * ENTRY_LEN;
    refused(
        &patch(entries_at - 8, &1u64.to_le_bytes()),
        STAMP,
        "do not match",
    );
    refused(
        &patch(entries_at - 8, &u64::MAX.to_le_bytes()),
        STAMP,
        "do not match",
    );
    refused(
        &patch(entries_at, &2u32.to_le_bytes()),
        STAMP,
        "names track 2",
    );
    refused(&patch(entries_at + 16, &[2]), STAMP, "keyframe flag");
    let skipped_at = entries_at - 8 - (4 + 13) - 4 - 4;
    refused(
        &patch(skipped_at, &u32::MAX.to_le_bytes()),
        STAMP,
        "skipped names cannot fit",
    );
    // A record cut from the end, with its count.
    let mut short = bytes[..bytes.len() - 8 - ENTRY_LEN].to_vec();
    short[entries_at - 8..entries_at].copy_from_slice(&99u64.to_le_bytes());
    short.extend([0; 8]);
    assert_eq!(
        from_bytes(&resealed(short), STAMP).unwrap().entries.len(),
        99
    );
}

#[test]
fn random_truncations_and_flips_never_panic() {
    let mut rng = XorShift(0x1d3a_77f0_0c4e_9b21);
    for index in [real(), odd()] {
        let bytes = to_bytes(&index, STAMP);
        for round in 0..20_000 {
            let mut bad = bytes.clone();
            if round % 3 == 0 {
                bad.truncate((rng.next_u64() % bytes.len() as u64) as usize);
            }
            for _ in 0..=rng.next_u64() % 3 {
                if !bad.is_empty() {
                    let at = (rng.next_u64() % bad.len() as u64) as usize;
                    bad[at] = rng.next_u64() as u8;
                }
            }
            // Half with the checksum made right, so the parser sees the damage.
            let bad = if round % 2 == 0 && bad.len() >= 18 {
                resealed(bad)
            } else {
                bad
            };
            match from_bytes(&bad, STAMP) {
                Ok(back) => assert!(back.entries.len() * ENTRY_LEN <= bad.len()),
                Err(VodError::BadIndex(_)) => {}
                Err(other) => panic!("{other}"),
            }
        }
    }
}
