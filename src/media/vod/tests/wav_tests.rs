//! WAV indexing checked against the file's samples and ffprobe (files made by ffmpeg in a temp
//! dir), and with damaged input.

use super::super::super::Codec;
use super::super::tests::probe;
use super::super::ts::tests::{
    make, read_file_packets, refuses_noise, scan_bytes, scan_file, survives_damage,
};
use super::super::{Container, VodError};

#[test]
fn pcm_in_20_ms_packets() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "a.wav",
        "-f lavfi -i sine=sample_rate=44100 -t 2 -ac 2 -c:a pcm_s16le -f wav",
    );
    let index = scan_file(&path);
    assert_eq!(index.container, Container::Wav);
    let t = &index.tracks[0];
    assert_eq!(
        (t.codec, t.rate, t.channels, t.size),
        (Some(Codec::Pcm), 44_100, 2, 16)
    );
    let (streams, packets) = probe(&path);
    assert_eq!(streams[0].codec_name, "pcm_s16le");
    // The same samples as ffprobe's packets (whose sizes differ: ffmpeg cuts 1024 samples).
    let ours: u64 = index.entries.iter().map(|e| u64::from(e.size)).sum();
    let theirs: u64 = packets.iter().map(|p| u64::from(p.size)).sum();
    assert_eq!(ours, theirs);
    assert_eq!(index.entries.len(), 100);
    assert_eq!(index.entries[1].size, 882 * 4);
    assert_eq!(index.entries[50].time, 1000);
    assert!((1990..=2010).contains(&index.duration_ms()));
    // Payloads are the file's samples, big-endian.
    let file = std::fs::read(&path).unwrap();
    let p = &read_file_packets(&index, &path)[3];
    let e = index.entries[3];
    let raw = &file[e.pos as usize..][..e.size as usize];
    assert_eq!((p.data[0], p.data[1]), (raw[1], raw[0]));
    assert_eq!(p.data.len(), raw.len());
}

#[test]
fn alaw_mulaw_and_mp3_in_wav() {
    let dir = tempfile::tempdir().unwrap();
    for (codec, name, want) in [
        ("pcm_alaw", "a.wav", Codec::Alaw),
        ("pcm_mulaw", "u.wav", Codec::Ulaw),
        ("libmp3lame", "m.wav", Codec::Mp3),
    ] {
        let path = make(
            dir.path(),
            name,
            &format!("-f lavfi -i sine=sample_rate=8000 -t 1 -c:a {codec} -f wav"),
        );
        let index = scan_file(&path);
        assert_eq!(index.tracks[0].codec, Some(want), "{codec}");
        assert!(!index.entries.is_empty());
        if want == Codec::Mp3 {
            // Frame by frame, as ffprobe lists them.
            let (_, packets) = probe(&path);
            assert_eq!(index.entries.len(), packets.len(), "{codec}");
            for p in read_file_packets(&index, &path) {
                assert_eq!(p.data[0], 0xFF);
            }
        } else {
            assert_eq!(index.entries[0].size, 160);
        }
    }
}

#[test]
fn float_pcm_is_named_and_damage_is_survived() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "f.wav",
        "-f lavfi -i sine=sample_rate=8000 -t 1 -c:a pcm_f32le -f wav",
    );
    match super::super::tests::index_file(&path) {
        Err(VodError::NoTracks(why)) => assert!(why.contains("0x0003"), "{why}"),
        other => panic!("{other:?}"),
    }
    let path = make(
        dir.path(),
        "a.wav",
        "-f lavfi -i sine=sample_rate=8000 -t 1 -c:a pcm_s16le -f wav",
    );
    let file = std::fs::read(&path).unwrap();
    survives_damage(Container::Wav, &file);
    refuses_noise(Container::Wav);
    // A data chunk that says it is longer than the file ends with the file; a header alone
    // has no packets.
    let mut live = file.clone();
    let at = live.windows(4).position(|w| w == b"data").unwrap();
    live[at + 4..at + 8].copy_from_slice(&[0xFF; 4]);
    let index = scan_bytes(Container::Wav, &live).unwrap();
    assert_eq!(index.entries.len(), 50);
    assert!(scan_bytes(Container::Wav, &file[..at + 8]).is_err());
}
