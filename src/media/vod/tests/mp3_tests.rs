//! MP3 and ADTS indexing checked against ffprobe (files made by ffmpeg in a temp dir), with
//! tags around the audio, and with damaged input.

use bytes::Bytes;

use super::super::super::{aac, Codec};
use super::super::tests::{check_against_probe, probe};
use super::super::ts::tests::{
    compare_with_probe, make, read_file_packets, read_packets, refuses_noise, scan_bytes,
    scan_file, survives_damage,
};
use super::super::{packet, Container, VodError};

#[test]
fn mp3_against_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    // ffmpeg writes an ID3v2 tag and a Xing/Info frame first; an ID3v1 tag at the end too.
    let path = make(
        dir.path(),
        "a.mp3",
        "-f lavfi -i sine=sample_rate=44100 -t 5 -ac 2 -c:a libmp3lame -b:a 128k \
         -write_id3v1 1 -metadata title=Sine -f mp3",
    );
    let file = std::fs::read(&path).unwrap();
    assert!(file.starts_with(b"ID3") && file[file.len() - 128..].starts_with(b"TAG"));
    let index = scan_file(&path);
    // Same frames (the Info frame is not one), same times, whole frames as payloads.
    check_against_probe(&path, &index, &[0]);
    let t = &index.tracks[0];
    assert_eq!(
        (t.id, t.codec, t.rate, t.channels),
        (1, Some(Codec::Mp3), 44100, 2)
    );
    assert_eq!(index.start_times().len(), index.entries.len());
    for (e, p) in index.entries.iter().zip(read_file_packets(&index, &path)) {
        assert_eq!(&file[e.pos as usize..][..e.size as usize], &p.data[..]);
        assert_eq!(&p.data[..2], &[0xFF, 0xFB]);
    }
    assert!(
        (4990..=5100).contains(&index.duration_ms()),
        "{}",
        index.duration_ms()
    );
}

#[test]
fn adts_against_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "a.aac",
        "-f lavfi -i sine=sample_rate=48000 -t 4 -ac 2 -c:a aac -f adts",
    );
    let index = scan_file(&path);
    // ffprobe's packets keep the 7-byte ADTS header; ours are the raw frames.
    assert_eq!(index.container, Container::Adts);
    compare_with_probe(&index, &probe(&path).1, (1, 0), 0.0, Some(7));
    let t = &index.tracks[0];
    assert_eq!(
        (t.codec, t.rate, t.channels, t.codec_string.as_str()),
        (Some(Codec::Aac), 48000, 2, "mp4a.40.2")
    );
    assert_eq!(t.init, aac::build_asc(2, 3, 2));
    let file = std::fs::read(&path).unwrap();
    for (e, p) in index.entries.iter().zip(read_file_packets(&index, &path)) {
        let header = aac::parse_adts(&file[e.pos as usize - 7..]).unwrap();
        assert_eq!(header.frame_len, p.data.len() + 7);
    }
    // Times from the sample count: frame n at n * 1024 / 48 ms.
    let e = index.entries[150];
    assert_eq!(e.time, 150 * 1024 / 48);
}

#[test]
fn tags_around_the_audio_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "plain.aac",
        "-f lavfi -i sine=sample_rate=22050 -t 2 -c:a aac -f adts",
    );
    let plain = std::fs::read(&path).unwrap();
    let clean = scan_bytes(Container::Adts, &plain).unwrap();
    // ID3v2 (with a footer) in front, APEv2 and ID3v1 behind.
    let mut tagged = b"ID3\x04\x00\x10\x00\x00\x01\x00".to_vec();
    tagged.extend(std::iter::repeat_n(0xFF, 128));
    tagged.extend_from_slice(b"3DI\x04\x00\x10\x00\x00\x01\x00");
    let front = tagged.len() as u64;
    tagged.extend_from_slice(&plain);
    let mut ape = vec![0xFFu8; 40];
    ape.extend_from_slice(b"APETAGEX");
    ape.extend_from_slice(&2000u32.to_le_bytes());
    ape.extend_from_slice(&72u32.to_le_bytes()); // 40 bytes of items + this footer
    ape.extend_from_slice(&0u32.to_le_bytes());
    ape.extend_from_slice(&0u32.to_le_bytes());
    ape.extend_from_slice(&[0; 8]);
    tagged.extend_from_slice(&ape);
    let mut v1 = b"TAG".to_vec();
    v1.resize(128, 0xFF);
    tagged.extend_from_slice(&v1);
    let index = scan_bytes(Container::Adts, &tagged).unwrap();
    assert_eq!(index.entries.len(), clean.entries.len());
    for (a, b) in index.entries.iter().zip(&clean.entries) {
        assert_eq!((a.pos, a.time, a.size), (b.pos + front, b.time, b.size));
    }
    assert!(read_packets(&index, &tagged).iter().all(Result::is_ok));
}

#[test]
fn other_mpeg_audio_layers_and_free_format_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "a.mp2",
        "-f lavfi -i sine=sample_rate=48000 -t 1 -c:a mp2 -f mp2",
    );
    let file = std::fs::read(&path).unwrap();
    match scan_bytes(Container::Mp3, &file) {
        Err(VodError::NoTracks(why)) => assert!(why.contains("layer 2"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Free format (bitrate index 0): frames of unknown length.
    let mut free = Vec::new();
    for _ in 0..50 {
        free.extend_from_slice(&[0xFF, 0xFB, 0x00, 0x64]);
        free.extend(std::iter::repeat_n(0x55, 400));
    }
    match scan_bytes(Container::Mp3, &free) {
        Err(VodError::NoTracks(why)) => assert!(why.contains("free-format"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn damaged_mp3_and_adts() {
    let dir = tempfile::tempdir().unwrap();
    let mp3 = make(
        dir.path(),
        "small.mp3",
        "-f lavfi -i sine -t 1 -c:a libmp3lame -f mp3",
    );
    let adts = make(
        dir.path(),
        "small.aac",
        "-f lavfi -i sine -t 1 -c:a aac -f adts",
    );
    for (container, path) in [(Container::Mp3, &mp3), (Container::Adts, &adts)] {
        let file = std::fs::read(path).unwrap();
        survives_damage(container, &file);
        refuses_noise(container);
        // Garbage in the middle: the frames around it are kept, the stream picks up again.
        let whole = scan_bytes(container, &file).unwrap();
        let mut noisy = file.clone();
        let mid = noisy.len() / 2;
        noisy.splice(
            mid..mid,
            [0xFF, 0xF1, 0x00, 0x13, 0x37, 0x00, 0xFF, 0xE0, 0x42],
        );
        let index = scan_bytes(container, &noisy).unwrap();
        assert!(
            index.entries.len() + 1 >= whole.entries.len(),
            "{container:?}"
        );
        assert!(read_packets(&index, &noisy).iter().all(Result::is_ok));
        // A cut last frame is left out.
        let cut = scan_bytes(container, &file[..file.len() - 10]).unwrap();
        assert!(cut.entries.len() < whole.entries.len());
        assert!(read_packets(&cut, &file[..file.len() - 10])
            .iter()
            .all(Result::is_ok));
        // An ID3v2 tag declaring more than the file holds: no frames.
        let mut huge = b"ID3\x04\x00\x00\x7F\x7F\x7F\x7F".to_vec();
        huge.extend_from_slice(&file);
        assert!(scan_bytes(container, &huge).is_err());
        // A payload of the wrong length is an error.
        assert!(packet(&whole, 0, Bytes::from_static(b"x")).is_err());
    }
}
