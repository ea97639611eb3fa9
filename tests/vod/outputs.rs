//! Every output that plays files, checked with ffprobe against the source file.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{eventually, LiveServer};
use crate::{assert_same_media, download, file, probe, scratch, server, stream, streams};

/// How much later than its decode time a frame may be presented (B-frames), s.
const REORDER: f64 = 0.2;

/// Plays `name` over RTMP with ffmpeg into `out` (FLV).
fn rtmp_play(ls: &LiveServer, name: &str, out: &Path) {
    let url = format!("rtmp://127.0.0.1:{}/play/{name}", ls.rtmp);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-y", "-v", "error", "-rw_timeout", "30000000"]);
    let mut child = cmd
        .args(["-i", &url, "-c", "copy", "-f", "flv"])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "ffmpeg RTMP play of {name} failed");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ffmpeg RTMP play of {name} did not end with the file"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_mp4_with_moov_at_the_end_plays_whole_through_every_output() {
    let source = probe(&file("av.mp4"));
    let ls = server(streams(&[("film", &file("av.mp4"))]));
    let dir = scratch();
    for (path, what) in [
        ("/film.flv", "HTTP-FLV"),
        ("/film.ts", "progressive TS"),
        ("/film.mp4", "progressive MP4"),
    ] {
        let out = dir.path().join(path.trim_start_matches('/'));
        assert_eq!(download(&ls, path, &out), 200, "{what}");
        assert_same_media(what, &probe(&out), &source);
    }
    // AAC over HTTP carries the audio track alone.
    let out = dir.path().join("film.aac");
    assert_eq!(download(&ls, "/film.aac", &out), 200);
    let got = probe(&out);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_same_media("AAC", &got, &[stream(&source, "aac").clone()]);
    // RTMP: ffmpeg ends its recording when the file ends (NetStream.Play.Stop).
    let out = dir.path().join("rtmp.flv");
    rtmp_play(&ls, "film", &out);
    assert_same_media("RTMP", &probe(&out), &source);
    // The viewers were counted as the stream's (reported once a second), and the file's
    // length is its lastms.
    let ask = json!({"active_streams": {"longform": true, "fields": ["status", "lastms", "views", "upbytes"]}});
    let mut v = Value::Null;
    let counted = eventually(Duration::from_secs(5), || {
        v = ls.server.api2(ask.clone());
        v["active_streams"]["film"]["views"].as_u64() == Some(5)
    });
    assert!(counted, "{v}");
    let film = &v["active_streams"]["film"];
    assert_eq!(film["status"], "Online", "{v}");
    assert!(film["upbytes"].as_u64().unwrap_or(0) > 4_000_000, "{v}");
    let lastms = film["lastms"].as_i64().unwrap_or(0);
    assert!((19_900..=20_100).contains(&lastms), "{v}");
}

#[test]
fn flv_ts_and_mp3_files_play() {
    let source = probe(&file("av.mp4"));
    let tone = probe(&file("tone.mp3"));
    let adts = probe(&file("tone.aac"));
    let ls = server(streams(&[
        ("fromflv", &file("av.flv")),
        ("fromts", &file("av.ts")),
        ("tone", &file("tone.mp3")),
        ("adts", &file("tone.aac")),
    ]));
    let dir = scratch();
    for (path, what) in [
        ("/fromflv.mp4", "FLV file as MP4"),
        ("/fromflv.ts", "FLV file as TS"),
        ("/fromts.flv", "TS file as FLV"),
        ("/fromts.mp4", "TS file as MP4"),
    ] {
        let out = dir.path().join(path.trim_start_matches('/'));
        assert_eq!(download(&ls, path, &out), 200, "{what}");
        assert_same_media(what, &probe(&out), &source);
    }
    let out = dir.path().join("tone.mp3");
    assert_eq!(download(&ls, "/tone.mp3", &out), 200);
    assert_same_media("MP3", &probe(&out), &tone);
    // An audio-only file has nothing for the AAC output.
    let out = dir.path().join("tone.aac");
    assert_eq!(download(&ls, "/tone.aac", &out), 404);
    // An AAC file plays as AAC, and in FLV.
    for path in ["/adts.aac", "/adts.flv"] {
        let out = dir.path().join(path.trim_start_matches('/'));
        assert_eq!(download(&ls, path, &out), 200, "{path}");
        assert_same_media(path, &probe(&out), &adts);
    }
}

#[test]
fn start_and_end_choose_the_part_played() {
    let ls = server(streams(&[("film", &file("av.mp4"))]));
    let dir = scratch();
    for ext in ["flv", "mp4", "ts"] {
        // Where the whole file's first frame lands in this format (TS adds a muxing delay, and
        // the viewer's times are the file's moved by the B-frame delay so none is negative).
        let out = dir.path().join(format!("whole.{ext}"));
        assert_eq!(download(&ls, &format!("/film.{ext}"), &out), 200);
        let base = stream(&probe(&out), "h264").first;
        let out = dir.path().join(format!("from10.{ext}"));
        let path = format!("/film.{ext}?start=10000");
        assert_eq!(download(&ls, &path, &out), 200);
        let video = stream(&probe(&out), "h264").clone();
        // Keyframes every 2 s: the viewer starts at the one at 10 s (within a GOP of it).
        let first = video.first - base;
        assert!((8.0..=10.001).contains(&first), "{ext}: starts at {first}");
        assert!(
            video.last - base > 19.0,
            "{ext}: plays to the end: {video:?}"
        );
        let out = dir.path().join(format!("part.{ext}"));
        let path = format!("/film.{ext}?start=5000&end=9000");
        assert_eq!(download(&ls, &path, &out), 200);
        let video = stream(&probe(&out), "h264").clone();
        let (first, last) = (video.first - base, video.last - base);
        assert!((3.0..=5.001).contains(&first), "{ext}: {video:?}");
        // Decode times stop before 9 s; presentation order may put a frame a little later.
        assert!((8.5..9.0 + REORDER).contains(&last), "{ext}: {video:?}");
    }
}

#[test]
fn info_handlers_describe_the_file() {
    let ls = server(streams(&[("film", &file("av.mp4"))]));
    let get = |path: &str| {
        let url = format!("http://127.0.0.1:{}{path}", ls.http);
        let resp = reqwest::blocking::get(url).expect("request");
        (resp.status().as_u16(), resp.text().expect("body"))
    };
    // A look at an on-demand stream loads it: there is nothing else to wait for.
    let (status, body) = get("/json_film.js");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["type"], "vod", "{v}");
    assert_eq!(v["meta"]["vod"], 1, "{v}");
    assert!(v["meta"].get("live").is_none(), "{v}");
    let tracks = v["meta"]["tracks"].as_object().expect("tracks");
    assert_eq!(tracks.len(), 2, "{v}");
    let duration = tracks
        .values()
        .filter_map(|t| t["lastms"].as_i64())
        .max()
        .unwrap_or(0);
    assert!((19_900..=20_100).contains(&duration), "{v}");
    let video = tracks
        .values()
        .find(|t| t["type"] == "video")
        .expect("video");
    assert_eq!(
        (video["width"].as_u64(), video["codec"].as_str()),
        (Some(320), Some("H264"))
    );
    let urls: Vec<&str> = v["source"]
        .as_array()
        .expect("sources")
        .iter()
        .filter_map(|s| s["url"].as_str())
        .collect();
    assert!(urls.iter().any(|u| u.ends_with("/film.mp4")), "{urls:?}");
    assert!(urls.iter().any(|u| u.starts_with("rtmp://")), "{urls:?}");
    assert!(urls.iter().any(|u| u.contains("/hls/")), "{urls:?}");
    assert!(urls.iter().any(|u| u.contains("/cmaf/")), "{urls:?}");
    let (status, body) = get("/info_film.js");
    assert_eq!(status, 200);
    assert!(
        body.contains("mistvideo[\"film\"]") && body.contains("\"vod\""),
        "{body}"
    );
    let (status, body) = get("/film.html");
    assert_eq!(status, 200);
    assert!(body.contains("/embed_film.js"), "{body}");
    // HLS and DASH serve the file (see `segmented`).
    for (path, what) in [
        ("/hls/film/index.m3u8", "#EXT-X-STREAM-INF"),
        ("/cmaf/film/index.mpd", "type=\"static\""),
    ] {
        let (status, body) = get(path);
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains(what), "{path}: {body}");
    }
    let v = ls.server.api2(
        json!({"active_streams": {"longform": true, "fields": ["status", "lastms", "tracks"]}}),
    );
    assert_eq!(v["active_streams"]["film"]["status"], "Online", "{v}");
    assert_eq!(v["active_streams"]["film"]["tracks"], 2, "{v}");
}

#[test]
fn a_track_eddy_cannot_carry_is_named_in_json_and_the_rest_plays() {
    let dir = scratch();
    let path = dir.path().join("mixed.mov");
    crate::ffmpeg(&[
        "-i",
        &file("av.mp4").to_string_lossy(),
        "-map",
        "0:v",
        "-map",
        "0:a",
        "-map",
        "0:v",
        "-c:v:0",
        "copy",
        "-c:a",
        "copy",
        "-c:v:1",
        "mjpeg",
        "-t",
        "4",
        &path.to_string_lossy(),
    ]);
    let ls = server(streams(&[("mixed", &path)]));
    let url = format!("http://127.0.0.1:{}/json_mixed.js", ls.http);
    let v: Value = reqwest::blocking::get(url)
        .expect("json_")
        .json()
        .expect("JSON");
    assert_eq!(
        v["meta"]["tracks"].as_object().map(|t| t.len()),
        Some(2),
        "{v}"
    );
    let left_out = v["meta"]["unsupported_tracks"].to_string();
    assert!(
        left_out.contains("track 3") && left_out.contains("jpeg"),
        "{v}"
    );
    let logged = eventually(Duration::from_secs(5), || {
        ls.server.stderr().contains("cannot carry")
    });
    assert!(logged, "{}", ls.server.stderr());
    let out = dir.path().join("mixed.flv");
    assert_eq!(download(&ls, "/mixed.flv", &out), 200);
    let codecs: Vec<String> = probe(&out).into_iter().map(|s| s.codec).collect();
    assert_eq!(codecs.len(), 2, "{codecs:?}");
}
