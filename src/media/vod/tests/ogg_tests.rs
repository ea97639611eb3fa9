//! Ogg indexing checked against ffprobe (Opus, Vorbis, Theora with Vorbis, made by ffmpeg in a
//! temp dir), a codec Eddy does not carry, and damaged input.

use md5::{Digest, Md5};

use super::super::super::Codec;
use super::super::tests::{probe, ProbePacket};
use super::super::ts::tests::{
    compare_with_probe, make, read_file_packets, refuses_noise, scan_file, survives_damage,
};
use super::super::{Container, Index};

/// ffprobe's packets with the times the index gives: shifted to start at 0 when the file starts
/// later, and those before 0 put at 0.
fn as_indexed(mut packets: Vec<ProbePacket>) -> Vec<ProbePacket> {
    let start = packets
        .iter()
        .map(|p| p.dts)
        .fold(f64::INFINITY, f64::min)
        .max(0.0);
    for p in &mut packets {
        p.dts = (p.dts - start).max(0.0);
        p.pts = (p.pts - start).max(0.0);
    }
    packets
}

/// Track `id` against ffprobe's `stream`: count, times, keyframes, sizes, and the bytes read
/// back (their MD5).
fn check(path: &std::path::Path, index: &Index, (id, stream): (u32, usize)) {
    let packets = as_indexed(probe(path).1);
    compare_with_probe(index, &packets, (id, stream), 0.0, Some(0));
    let theirs: Vec<&ProbePacket> = packets.iter().filter(|p| p.stream == stream).collect();
    let ours = read_file_packets(index, path);
    let ours: Vec<_> = ours.iter().filter(|p| p.track == id).collect();
    for (n, (p, q)) in ours.iter().zip(theirs).enumerate() {
        assert_eq!(format!("{:x}", Md5::digest(&p.data)), q.md5, "packet {n}");
    }
}

#[test]
fn opus_against_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "a.opus",
        "-f lavfi -i sine=sample_rate=48000 -t 3 -ac 2 -c:a libopus -b:a 96k -f ogg",
    );
    let index = scan_file(&path);
    assert_eq!(index.container, Container::Ogg);
    let t = &index.tracks[0];
    assert_eq!(
        (t.codec, t.rate, t.channels, index.tracks.len()),
        (Some(Codec::Opus), 48_000, 2, 1)
    );
    assert!(t.init.starts_with(b"OpusHead"));
    check(&path, &index, (1, 0));
    assert_eq!(index.entries[0].time, 0);
    assert!(
        (2990..=3030).contains(&index.duration_ms()),
        "{}",
        index.duration_ms()
    );
}

#[test]
fn vorbis_against_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "a.ogg",
        "-f lavfi -i sine=sample_rate=44100 -t 3 -ac 2 -c:a libvorbis -f ogg",
    );
    let index = scan_file(&path);
    let t = &index.tracks[0];
    assert_eq!(
        (t.codec, t.rate, t.channels),
        (Some(Codec::Vorbis), 44_100, 2)
    );
    let headers = super::super::super::ogg::xiph_unlace(&t.init).unwrap();
    assert_eq!(headers.len(), 3);
    assert!(headers[2].starts_with(b"\x05vorbis"));
    check(&path, &index, (1, 0));
}

#[test]
fn theora_and_vorbis_against_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "tv.ogv",
        "-f lavfi -i testsrc=size=320x240:rate=25,noise=alls=100:allf=t \
         -f lavfi -i sine=sample_rate=48000 -t 2 \
         -c:v libtheora -q:v 7 -g 25 -c:a libvorbis -f ogg",
    );
    let index = scan_file(&path);
    assert_eq!(index.tracks.len(), 2);
    let (v, a) = (&index.tracks[0], &index.tracks[1]);
    assert_eq!(
        (v.codec, v.width, v.height, v.fpks),
        (Some(Codec::Theora), 320, 240, 25_000)
    );
    assert_eq!(a.codec, Some(Codec::Vorbis));
    check(&path, &index, (1, 0));
    check(&path, &index, (2, 1));
    // Keyframes (at least every second: noise makes libtheora add more) are the start points;
    // frames (noisy, 90 kB) span pages.
    let starts = index.start_times();
    assert!(starts.contains(&0) && starts.contains(&1000), "{starts:?}");
    assert!(index.entries.iter().any(|e| e.raw_len > e.size));
}

#[test]
fn other_codecs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "two.ogg",
        "-f lavfi -i sine=sample_rate=48000 -t 1 -map 0 -map 0 -c:a:0 flac -c:a:1 libopus -f ogg",
    );
    let index = scan_file(&path);
    assert_eq!(index.tracks.len(), 1);
    assert_eq!(index.tracks[0].codec, Some(Codec::Opus));
    assert_eq!(index.skipped, vec!["track 1: FLAC".to_string()]);
    let flac = make(
        dir.path(),
        "flac.ogg",
        "-f lavfi -i sine=sample_rate=48000 -t 1 -c:a flac -f ogg",
    );
    let err = super::super::tests::index_file(&flac).unwrap_err();
    assert!(err.to_string().contains("FLAC"), "{err}");
}

#[test]
fn damaged_ogg_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "tv.ogg",
        "-f lavfi -i testsrc=size=160x120:rate=10 -f lavfi -i sine=sample_rate=48000 -t 2 \
         -c:v libtheora -c:a libopus -f ogg",
    );
    let file = std::fs::read(&path).unwrap();
    survives_damage(Container::Ogg, &file);
    refuses_noise(Container::Ogg);
}
