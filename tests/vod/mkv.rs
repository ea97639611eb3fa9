//! A Matroska file (H.264 with B-frames and AAC, the test MP4's packets copied into `.mkv` by
//! ffmpeg) played through HTTP-FLV, progressive TS and MP4, checked with ffprobe against the
//! file itself; and `?start=` landing on the keyframe at or before it.

use std::path::PathBuf;

use crate::{assert_same_media, download, ffmpeg, file, probe, scratch, server, stream, streams};

/// `av.mp4`'s packets in a Matroska file in `dir`.
fn mkv_file(dir: &tempfile::TempDir) -> PathBuf {
    let out = dir.path().join("av.mkv");
    let src = file("av.mp4");
    ffmpeg(&[
        "-i",
        &src.to_string_lossy(),
        "-c",
        "copy",
        &out.to_string_lossy(),
    ]);
    out
}

#[test]
fn an_h264_aac_mkv_plays_as_flv_ts_and_mp4() {
    let dir = scratch();
    let mkv = mkv_file(&dir);
    let source = probe(&mkv);
    assert_eq!(stream(&source, "h264").packets, 500, "{source:?}");
    let ls = server(streams(&[("film", &mkv)]));
    for (path, what) in [
        ("/film.flv", "MKV as HTTP-FLV"),
        ("/film.ts", "MKV as progressive TS"),
        ("/film.mp4", "MKV as progressive MP4"),
    ] {
        let out = dir.path().join(path.trim_start_matches('/'));
        assert_eq!(download(&ls, path, &out), 200, "{what}");
        let got = probe(&out);
        assert_same_media(what, &got, &source);
        let (v, a) = (stream(&got, "h264"), stream(&got, "aac"));
        // TS times run 200 ms behind the decode times (the muxer's decoder delay).
        let zero = if path.ends_with(".ts") { 0.2 } else { 0.0 };
        assert!(
            v.first - zero < 0.2 && a.first - zero < 0.2,
            "{what}: {got:?}"
        );
        let (sv, sa) = (stream(&source, "h264"), stream(&source, "aac"));
        assert!(
            ((v.first - a.first) - (sv.first - sa.first)).abs() <= crate::FRAME,
            "{what}: the A/V gap changed: {got:?} {source:?}"
        );
    }
}

#[test]
fn start_lands_on_the_keyframe_at_or_before() {
    let dir = scratch();
    let mkv = mkv_file(&dir);
    let ls = server(streams(&[("film", &mkv)]));
    for ext in ["flv", "mp4", "ts"] {
        let out = dir.path().join(format!("whole.{ext}"));
        assert_eq!(download(&ls, &format!("/film.{ext}"), &out), 200);
        let base = stream(&probe(&out), "h264").first;
        // Keyframes every 2 s: 9 s starts at the one at 8 s, 10 s at 10 s.
        for (start, want) in [(9000, 8.0), (10_000, 10.0)] {
            let out = dir.path().join(format!("from{start}.{ext}"));
            let path = format!("/film.{ext}?start={start}");
            assert_eq!(download(&ls, &path, &out), 200);
            let got = probe(&out);
            let video = stream(&got, "h264");
            let first = video.first - base;
            assert!(
                (first - want).abs() < 0.05,
                "{ext} ?start={start}: starts at {first}"
            );
            assert!(
                video.last - base > 19.0,
                "{ext}: plays to the end: {video:?}"
            );
            assert_eq!(
                video.keyframes,
                (20 - want as usize) / 2,
                "{ext}: {video:?}"
            );
        }
    }
}
