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

/// Tracks an output cannot carry are left out of it, not a reason to refuse the stream: an
/// H.264 + AC-3 Matroska file plays both as MP4 and TS and its video alone as FLV, `json_`
/// lists both tracks;
/// a VP9 + Opus WebM plays its Opus as Ogg.
#[test]
fn each_output_plays_the_tracks_it_can_carry() {
    let dir = scratch();
    let src = file("av.mp4").to_string_lossy().into_owned();
    let ac3 = dir.path().join("ac3.mkv");
    crate::ffmpeg(&[
        "-i",
        &src,
        "-t",
        "6",
        "-c:v",
        "copy",
        "-c:a",
        "ac3",
        &ac3.to_string_lossy(),
    ]);
    let webm = dir.path().join("vp9.webm");
    crate::ffmpeg(&[
        "-i",
        &src,
        "-t",
        "3",
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-c:a",
        "libopus",
        &webm.to_string_lossy(),
    ]);
    let ls = server(streams(&[("withac3", &ac3), ("web", &webm)]));
    for ext in ["mp4", "ts", "flv"] {
        let out = dir.path().join(format!("ac3.{ext}"));
        assert_eq!(
            download(&ls, &format!("/withac3.{ext}"), &out),
            200,
            "{ext}"
        );
        let mut codecs: Vec<String> = probe(&out).into_iter().map(|s| s.codec).collect();
        codecs.sort();
        let want: &[&str] = if ext == "flv" {
            &["h264"]
        } else {
            &["ac3", "h264"]
        };
        assert_eq!(codecs, want, "{ext}");
    }
    let url = format!("http://127.0.0.1:{}/json_withac3.js", ls.http);
    let info = reqwest::blocking::get(url)
        .expect("json_")
        .text()
        .expect("body");
    assert!(
        info.contains("\"AC3\"") && info.contains("\"H264\""),
        "{info}"
    );
    let out = dir.path().join("web.ogg");
    assert_eq!(download(&ls, "/web.ogg", &out), 200);
    let codecs: Vec<String> = probe(&out).into_iter().map(|s| s.codec).collect();
    assert_eq!(codecs, ["opus"]);
}

/// Opus from a TS file plays over progressive TS (Opus in MPEG-TS) with the file's packets.
#[test]
fn opus_plays_over_ts() {
    let dir = scratch();
    let src = file("av.mp4").to_string_lossy().into_owned();
    let ts = dir.path().join("opus.ts");
    crate::ffmpeg(&[
        "-i",
        &src,
        "-t",
        "6",
        "-c:v",
        "copy",
        "-c:a",
        "libopus",
        &ts.to_string_lossy(),
    ]);
    let ls = server(streams(&[("opusts", &ts)]));
    let out = dir.path().join("out.ts");
    assert_eq!(download(&ls, "/opusts.ts", &out), 200);
    let mut codecs: Vec<String> = probe(&out).into_iter().map(|s| s.codec).collect();
    codecs.sort();
    assert_eq!(codecs, ["h264", "opus"]);
    let got = probe(&out);
    let want = probe(&ts);
    assert_same_media("Opus TS", &got, &want);
}
