//! Finished HLS playlists on disk played on demand (manual §3.3.3): ffmpeg's HLS muxer writes
//! VOD playlists (TS segments; fMP4 segments with a master of two variants), and a playlist
//! joining two of them over an `#EXT-X-DISCONTINUITY`; Eddy plays each as one file: its whole
//! media through HTTP-FLV, `?start=` seeking, `json_` as `vod`, the renditions as tracks.

use std::path::Path;

use serde_json::Value;

use crate::common::eventually;
use crate::{assert_same_media, download, ffmpeg, file, probe, scratch, server, stream, streams};

/// ffmpeg's HLS muxer writing `source` as a VOD playlist `out` (2 s segments); `extra` goes
/// before the output.
fn hls_vod(source: &Path, out: &Path, extra: &[&str]) {
    let src = source.to_string_lossy();
    let target = out.to_string_lossy();
    let mut args = vec!["-i", &*src];
    args.extend(extra);
    args.extend(["-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod"]);
    args.push(&target);
    ffmpeg(&args);
}

fn json_info(ls: &crate::common::LiveServer, name: &str) -> Value {
    let url = format!("http://127.0.0.1:{}/json_{name}.js", ls.http);
    reqwest::blocking::get(url)
        .expect("json_")
        .json()
        .expect("JSON")
}

#[test]
fn a_finished_ts_playlist_plays_whole_and_seeks_like_a_file() {
    let dir = scratch();
    let playlist = dir.path().join("index.m3u8");
    hls_vod(&file("av.ts"), &playlist, &["-c", "copy"]);
    let ls = server(streams(&[("film", &playlist)]));
    let info = json_info(&ls, "film");
    assert_eq!(info["type"], "vod", "{info}");
    let out = dir.path().join("whole.flv");
    assert_eq!(
        download(&ls, "/film.flv", &out),
        200,
        "{}",
        ls.server.stderr()
    );
    // Every packet of the source, across all its segments.
    assert_same_media("playlist as FLV", &probe(&out), &probe(&file("av.ts")));
    let base = stream(&probe(&out), "h264").first;
    let from10 = dir.path().join("from10.flv");
    assert_eq!(download(&ls, "/film.flv?start=10000", &from10), 200);
    let video = stream(&probe(&from10), "h264").clone();
    let first = video.first - base;
    assert!((8.0..=10.001).contains(&first), "starts at {first}");
    assert!(
        ls.server.stderr().contains("index.m3u8 indexed"),
        "{}",
        ls.server.stderr()
    );
}

#[test]
fn a_discontinuity_continues_the_timeline_without_going_back() {
    let dir = scratch();
    for part in ["a", "b"] {
        std::fs::create_dir(dir.path().join(part)).expect("mkdir");
        let pl = dir.path().join(part).join("index.m3u8");
        hls_vod(&file("av.ts"), &pl, &["-c", "copy"]);
    }
    // a's segments, then b's (whose timestamps start again) after a discontinuity.
    let mut joined = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n");
    for (i, part) in ["a", "b"].iter().enumerate() {
        let text = std::fs::read_to_string(dir.path().join(part).join("index.m3u8")).expect("pl");
        if i == 1 {
            joined.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            if line.starts_with("#EXTINF") {
                let uri = lines.next().expect("a segment after #EXTINF");
                joined.push_str(&format!("{line}\n{part}/{uri}\n"));
            }
        }
    }
    joined.push_str("#EXT-X-ENDLIST\n");
    let playlist = dir.path().join("joined.m3u8");
    std::fs::write(&playlist, joined).expect("write");
    let ls = server(streams(&[("twice", &playlist)]));
    let out = dir.path().join("twice.flv");
    assert_eq!(
        download(&ls, "/twice.flv", &out),
        200,
        "{}",
        ls.server.stderr()
    );
    let got = probe(&out);
    let source = probe(&file("av.ts"));
    for codec in ["h264", "aac"] {
        let (g, s) = (stream(&got, codec), stream(&source, codec));
        assert_eq!(g.packets, 2 * s.packets, "{codec}: both parts' packets");
        assert!(
            g.span() > 2.0 * s.span() - 0.5 && g.span() < 2.0 * s.span() + 0.5,
            "{codec}: {g:?} should last twice {s:?}"
        );
    }
    // Timestamps never go back at the discontinuity.
    let dts = flv_video_times(&out);
    assert!(dts.windows(2).all(|w| w[1] >= w[0]), "video times go back");
}

/// The video packets' decode times in a file, s.
fn flv_video_times(path: &Path) -> Vec<f64> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["packet=dts_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}

#[test]
fn a_finished_master_of_fmp4_variants_keeps_every_rendition() {
    let dir = scratch();
    let out = dir.path().join("v%v.m3u8");
    hls_vod(
        &file("av.mp4"),
        &out,
        &[
            "-filter_complex",
            "[0:v]split=2[a][b];[a]scale=320:240[v1];[b]scale=160:120[v2]",
            "-map",
            "[v1]",
            "-map",
            "[v2]",
            "-map",
            "0:a",
            "-map",
            "0:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "50",
            "-sc_threshold",
            "0",
            "-c:a",
            "copy",
            "-hls_segment_type",
            "fmp4",
            "-hls_fmp4_init_filename",
            "init.mp4",
            "-var_stream_map",
            "v:0,a:0 v:1,a:1",
            "-master_pl_name",
            "master.m3u8",
        ],
    );
    let master = dir.path().join("master.m3u8");
    let ls = server(streams(&[("abr", &master)]));
    let info = json_info(&ls, "abr");
    assert_eq!(info["type"], "vod", "{info} {}", ls.server.stderr());
    let tracks = info["meta"]["tracks"].as_object().expect("tracks");
    let mut widths: Vec<u64> = tracks
        .values()
        .filter_map(|t| t["width"].as_u64())
        .collect();
    widths.sort_unstable();
    assert_eq!(widths, [160, 320], "{info}");
    let audio = tracks.values().filter(|t| t["type"] == "audio").count();
    assert_eq!(audio, 2, "{info}");
    let longest = tracks
        .values()
        .filter_map(|t| t["lastms"].as_i64())
        .max()
        .unwrap_or(0);
    assert!((19_000..=21_000).contains(&longest), "{longest} ms: {info}");
    // The HLS output offers both variants again.
    let url = format!("http://127.0.0.1:{}/hls/abr/index.m3u8", ls.http);
    let text = reqwest::blocking::get(url)
        .expect("get")
        .text()
        .expect("text");
    assert!(text.matches("#EXT-X-STREAM-INF").count() >= 2, "{text}");
    let whole = dir.path().join("abr.flv");
    assert_eq!(download(&ls, "/abr.flv", &whole), 200);
    let got = probe(&whole);
    let video = stream(&got, "h264");
    assert!(video.span() > 19.0, "{got:?}");
}

#[test]
fn a_finished_playlist_missing_a_segment_is_offline_with_the_reason() {
    let dir = scratch();
    let playlist = dir.path().join("index.m3u8");
    hls_vod(&file("av.ts"), &playlist, &["-c", "copy"]);
    std::fs::remove_file(dir.path().join("index1.ts")).expect("remove a segment");
    let ls = server(streams(&[("broken", &playlist), ("good", &file("av.flv"))]));
    let out = dir.path().join("out.flv");
    assert_eq!(download(&ls, "/broken.flv", &out), 404);
    assert!(
        eventually(std::time::Duration::from_secs(5), || {
            let v = ls.server.api(serde_json::json!({"streams": true}));
            v["streams"]["broken"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("index1.ts"))
        }),
        "{}",
        ls.server.stderr()
    );
    assert_eq!(download(&ls, "/good.flv", &out), 200);
}
