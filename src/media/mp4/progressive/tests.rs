//! The progressive MP4 writer against ffprobe and ffmpeg: files made by ffmpeg (H.264 with
//! B-frames and AAC), indexed, written back as progressive MP4 from the index and the source's
//! bytes, and compared packet by packet with the source.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use super::*;
use crate::media::vod::tests::{ffmpeg, index_file, probe, read_packet, ProbePacket};

/// 8 s of 320x240 H.264 (B-frames, a keyframe every second) and 44.1 kHz AAC, `moov` last.
fn source(dir: &Path, name: &str) -> std::path::PathBuf {
    ffmpeg(
        dir,
        name,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=r=44100",
            "-t",
            "8",
            "-c:v",
            "libx264",
            "-bf",
            "2",
            "-g",
            "25",
            "-c:a",
            "aac",
        ],
    )
}

/// Writes the whole virtual file of `mp4` to `out`, reading each sample from `src`.
fn write_out(index: &Index, mp4: &ProgressiveMp4, src: &Path, out: &Path) {
    let mut file = File::open(src).unwrap();
    let mut w = File::create(out).unwrap();
    w.write_all(&mp4.header).unwrap();
    let mut at = mp4.header.len() as u64;
    for s in mp4.samples_from(at) {
        assert_eq!(s.start, at, "samples are contiguous");
        let p = read_packet(&mut file, index, s.entry);
        assert_eq!(p.data.len(), s.size as usize);
        w.write_all(&p.data).unwrap();
        at += u64::from(s.size);
    }
    assert_eq!(at, mp4.len, "the declared length");
}

fn stream_packets(packets: &[ProbePacket], stream: usize) -> Vec<&ProbePacket> {
    packets.iter().filter(|p| p.stream == stream).collect()
}

#[test]
fn a_whole_file_has_the_sources_packets_times_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), "src.mp4");
    let index = index_file(&src).unwrap();
    let mp4 = ProgressiveMp4::build(&index, &[1, 2], None, None).unwrap();
    assert_eq!(mp4.sample_count(), index.entries.len());
    assert!(mp4.header.starts_with(b"\0\0\0\x1cftypisom") || &mp4.header[4..8] == b"ftyp");
    let out = dir.path().join("out.mp4");
    write_out(&index, &mp4, &src, &out);
    let (their_streams, theirs) = probe(&src);
    let (our_streams, ours) = probe(&out);
    assert_eq!(our_streams.len(), 2);
    for (k, s) in their_streams.iter().enumerate() {
        assert_eq!(our_streams[k].codec_name, s.codec_name);
        let (a, b) = (stream_packets(&ours, k), stream_packets(&theirs, k));
        assert_eq!(a.len(), b.len(), "stream {k}: packet count");
        for (n, (p, q)) in a.iter().zip(&b).enumerate() {
            let what = format!("stream {k} packet {n}: {p:?} vs {q:?}");
            assert!((p.dts - q.dts).abs() <= 1.0, "{what}: dts");
            assert!((p.pts - q.pts).abs() <= 1.0, "{what}: pts");
            assert_eq!(p.md5, q.md5, "{what}: bytes");
            assert_eq!(p.keyframe, q.keyframe, "{what}: keyframe");
        }
    }
    assert!(
        (mp4.duration_ms - index.duration_ms()).abs() <= 40,
        "{} vs {}",
        mp4.duration_ms,
        index.duration_ms()
    );
    // ffmpeg copies it into another MP4 without complaint.
    let remux = dir.path().join("remux.mp4");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&out)
        .args(["-c", "copy"])
        .arg(&remux)
        .status()
        .unwrap();
    assert!(status.success(), "remux");
}

#[test]
fn a_part_starts_at_the_keyframe_before_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), "src.mp4");
    let index = index_file(&src).unwrap();
    let mp4 = ProgressiveMp4::build(&index, &[1, 2], Some(3_500), Some(6_000)).unwrap();
    let out = dir.path().join("part.mp4");
    write_out(&index, &mp4, &src, &out);
    let (_, ours) = probe(&out);
    let video = stream_packets(&ours, 0);
    let key = index.entries[index.seek(3_500)];
    let key_pts = (key.time + i64::from(key.offset)) as f64;
    let first = video.iter().map(|p| p.pts).fold(f64::MAX, f64::min);
    assert!((first - key_pts).abs() <= 1.0, "{first} vs {key_pts}");
    assert!(key_pts <= 3_500.0 && key_pts > 2_000.0, "{key_pts}");
    assert!(video[0].keyframe);
    let last = video.iter().map(|p| p.dts).fold(f64::MIN, f64::max);
    assert!(last < 6_000.0, "{last}");
    let want = index.entries[index.seek(3_500)..]
        .iter()
        .filter(|e| e.track == 1 && e.time < 6_000)
        .count();
    assert_eq!(video.len(), want);
}

#[test]
fn a_ts_source_and_one_track() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), "src.mp4");
    let ts = ffmpeg(
        dir.path(),
        "src.ts",
        &["-i", src.to_str().unwrap(), "-c", "copy"],
    );
    let index = index_file(&ts).unwrap();
    let audio = index.tracks.iter().find(|t| t.codec == Some(Codec::Aac));
    let audio = audio.unwrap().id;
    for tracks in [vec![1, 2], vec![audio]] {
        let mp4 = ProgressiveMp4::build(&index, &tracks, None, None).unwrap();
        let out = dir.path().join("out.mp4");
        write_out(&index, &mp4, &ts, &out);
        let (streams, packets) = probe(&out);
        assert_eq!(streams.len(), tracks.len());
        let want = index.entries.iter().filter(|e| tracks.contains(&e.track));
        assert_eq!(packets.len(), want.count());
    }
}

#[test]
fn lookups_by_byte() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), "src.mp4");
    let index = index_file(&src).unwrap();
    let mp4 = ProgressiveMp4::build(&index, &[1, 2], None, None).unwrap();
    let h = mp4.header.len() as u64;
    let first = mp4.samples_from(0).next().unwrap();
    assert_eq!(first.start, h, "inside the header: from the first sample");
    let second = mp4.samples_from(h).nth(1).unwrap();
    let mid = mp4.samples_from(second.start + 1).next().unwrap();
    assert_eq!(mid, second, "a byte inside a sample finds it");
    assert_eq!(mp4.samples_from(mp4.len - 1).count(), 1);
    assert_eq!(mp4.samples_from(mp4.len + 10).count(), 1, "the last one");
    assert!(mp4.memory() > mp4.header.len());
}

#[test]
fn what_cannot_be_written_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), "src.mp4");
    let index = index_file(&src).unwrap();
    assert!(ProgressiveMp4::build(&index, &[], None, None).is_err());
    assert!(ProgressiveMp4::build(&index, &[7], None, None).is_err());
    assert!(ProgressiveMp4::build(&index, &[1, 1], None, None).is_err());
    let past = ProgressiveMp4::build(&index, &[1], None, Some(-10_000));
    assert!(past.is_err(), "no samples in the range");
    let mut broken = index.clone();
    broken.tracks[0].init = Bytes::from_static(&[1, 2, 3]);
    assert!(ProgressiveMp4::build(&broken, &[1], None, None).is_err());
    let mut far = index.clone();
    far.entries[5].time = i64::MAX / 2;
    far.entries[5].offset = i32::MAX;
    // Absurd times give an error or a file, never a panic.
    let _ = ProgressiveMp4::build(&far, &[1, 2], None, None);
}
