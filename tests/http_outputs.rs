//! The HTTP outputs against real peers: ffmpeg publishes over RTMP; ffprobe plays HLS, DASH,
//! HLS-fMP4, TS, MP4, AAC and MP3; m3u8-rs parses the playlists over minutes; headless Chromium
//! plays `/STREAM.mp4` and `/STREAM.html`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::media::*;
use common::*;
use serde_json::{json, Value};

fn all_outputs(streams: Value) -> LiveServer {
    LiveServer::start_with_outputs(
        streams,
        &["FLV", "HLS", "CMAF", "MP4", "HTTPTS", "AAC", "MP3"],
    )
}

fn get(url: &str) -> (u16, Vec<u8>, reqwest::header::HeaderMap) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(40))
        .build()
        .expect("client");
    let resp = client
        .get(url)
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.bytes().expect("body").to_vec(), headers)
}

fn video_audio(url: &str) -> (Value, Value) {
    let streams = probe_streams(url);
    let v = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .cloned()
        .unwrap_or_else(|| panic!("no video in {url}: {streams:?}"));
    let a = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .cloned()
        .unwrap_or_else(|| panic!("no audio in {url}: {streams:?}"));
    (v, a)
}

#[test]
fn every_output_plays_in_ffprobe() {
    let ls = all_outputs(json!({"live": {"source": "push://"}}));
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "live"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("live"));
    let base = format!("http://127.0.0.1:{}", ls.http);
    for path in [
        "/hls/live/index.m3u8",
        "/cmaf/live/index.mpd",
        "/cmaf/live/index.m3u8",
        "/live.ts",
        "/live.mp4",
        "/live.flv",
    ] {
        let url = format!("{base}{path}");
        let (v, a) = video_audio(&url);
        assert_eq!(v["codec_name"], "h264", "{path}");
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64()),
            (Some(640), Some(360)),
            "{path}"
        );
        assert_eq!(a["codec_name"], "aac", "{path}");
        assert_eq!(a["sample_rate"], "44100", "{path}");
        let packets = probe_packets(&url, 5);
        let vi = v["index"].as_u64().unwrap_or(0);
        let first_video = packets
            .iter()
            .find(|p| p.0 == vi)
            .unwrap_or_else(|| panic!("no video packets from {path}"));
        assert!(first_video.2, "{path} starts at a keyframe");
        assert!(
            packets.iter().filter(|p| p.0 == vi).count() >= 50,
            "{path}: {} video packets in 5 s",
            packets.len()
        );
    }
    let streams = probe_streams(&format!("{base}/live.aac"));
    assert_eq!(
        (streams.len(), streams[0]["codec_name"].as_str()),
        (1, Some("aac"))
    );
    // HEAD answers with headers only; OPTIONS for CORS preflight.
    let client = reqwest::blocking::Client::new();
    let head = client
        .head(format!("{base}/hls/live/index.m3u8"))
        .send()
        .expect("head");
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["access-control-allow-origin"], "*");
}

#[test]
fn mp3_audio_stream() {
    let ls = all_outputs(json!({"radio": {"source": "push://"}}));
    let clip = ls.server.dir.path().join("mp3.flv");
    let out = Command::new("ffmpeg")
        .args([
            "-y",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=44100",
            "-t",
            "8",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            "-ar",
            "44100",
        ])
        .arg(&clip)
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _p = publish(&clip, &ls.rtmp_url("live", "radio"), ls.server.dir.path());
    assert!(ls.wait_online("radio"));
    let streams = probe_streams(&format!("http://127.0.0.1:{}/radio.mp3", ls.http));
    assert_eq!(streams[0]["codec_name"], "mp3");
    assert_eq!(streams[0]["sample_rate"], "44100");
    let (a_status, _, _) = get(&format!("http://127.0.0.1:{}/radio.aac", ls.http));
    assert_eq!(a_status, 404, "no AAC track to serve");
}

#[test]
fn hls_playlist_stays_valid_for_minutes() {
    let ls = all_outputs(json!({"long": {"source": "push://", "DVR": 12000}}));
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "long"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("long"));
    let base = format!("http://127.0.0.1:{}/hls/long", ls.http);
    let (status, master, _) = get(&format!("{base}/index.m3u8"));
    assert_eq!(status, 200);
    let master = match m3u8_rs::parse_playlist_res(&master) {
        Ok(m3u8_rs::Playlist::MasterPlaylist(m)) => m,
        other => panic!("not a master playlist: {other:?}"),
    };
    let variant = &master.variants[0];
    assert!(
        variant
            .codecs
            .as_deref()
            .is_some_and(|c| c.starts_with("avc1.64") && c.contains("mp4a.40.2")),
        "{variant:?}"
    );
    assert_eq!(
        variant.resolution.map(|r| (r.width, r.height)),
        Some((640, 360))
    );
    let media_url = format!("{base}/{}", variant.uri);

    let started = Instant::now();
    let mut last_seq = 0u64;
    let mut checked_segments = 0;
    let mut first_uri: Option<String> = None;
    while started.elapsed() < Duration::from_secs(150) {
        let (status, body, headers) = get(&media_url);
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/vnd.apple.mpegurl");
        let pl = match m3u8_rs::parse_playlist_res(&body) {
            Ok(m3u8_rs::Playlist::MediaPlaylist(p)) => p,
            other => panic!(
                "not a media playlist: {other:?}\n{}",
                String::from_utf8_lossy(&body)
            ),
        };
        assert!(
            pl.media_sequence >= last_seq,
            "media sequence went back: {} < {last_seq}",
            pl.media_sequence
        );
        last_seq = pl.media_sequence;
        assert!(!pl.segments.is_empty());
        for s in &pl.segments {
            assert!(
                s.duration as u64 <= pl.target_duration,
                "segment {} s longer than TARGETDURATION {}",
                s.duration,
                pl.target_duration
            );
            assert!(
                s.duration >= 1.9,
                "segments honour the segment size: {}",
                s.duration
            );
        }
        first_uri.get_or_insert_with(|| pl.segments[0].uri.clone());
        // Check the newest segment with a real demuxer: it starts with a keyframe and lasts
        // what the playlist says.
        let newest = pl.segments.last().expect("segment");
        let seg_url = format!(
            "{}/{}",
            media_url
                .rsplit_once("/index.m3u8")
                .map(|(dir, _)| dir)
                .unwrap_or(&media_url),
            newest.uri
        );
        let packets = probe_packets(&seg_url, 30);
        let video: Vec<&(u64, f64, bool)> = packets.iter().filter(|p| p.0 == 0).collect();
        assert!(
            video.first().is_some_and(|p| p.2),
            "segment {} starts with a keyframe",
            newest.uri
        );
        let span = video.last().map(|p| p.1).unwrap_or(0.0)
            - video.first().map(|p| p.1).unwrap_or(0.0)
            + 0.04;
        assert!(
            (span - newest.duration as f64).abs() < 0.1,
            "segment {} holds {span:.3} s, playlist says {}",
            newest.uri,
            newest.duration
        );
        checked_segments += 1;
        std::thread::sleep(Duration::from_secs(10));
    }
    assert!(
        last_seq >= 40,
        "the media sequence grew over the run: {last_seq}"
    );
    assert!(checked_segments >= 10);
    // The first segment seen has long left the 12 s buffer.
    let (status, body, _) = get(&format!(
        "{}/{}",
        media_url
            .rsplit_once("/index.m3u8")
            .map(|(dir, _)| dir)
            .unwrap_or(&media_url),
        first_uri.unwrap_or_default()
    ));
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
}

#[test]
fn segments_are_built_once_and_shared() {
    let ls = all_outputs(json!({"shared": {"source": "push://"}}));
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "shared"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("shared"));
    let base = format!("http://127.0.0.1:{}", ls.http);
    let (_, body, _) = get(&format!("{base}/hls/shared/1_2/index.m3u8"));
    let text = String::from_utf8_lossy(&body).to_string();
    let seg = text
        .lines()
        .rfind(|l| l.contains(".ts"))
        .expect("a segment")
        .to_string();
    let (s1, a, h) = get(&format!("{base}/hls/shared/1_2/{seg}"));
    let (s2, b, _) = get(&format!("{base}/hls/shared/1_2/{seg}"));
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(a, b);
    assert_eq!(h["content-type"], "video/mp2t");
    assert!(h["cache-control"]
        .to_str()
        .unwrap_or("")
        .contains("max-age"));
    assert_eq!(a.len() % 188, 0);
    let (_, mpd, _) = get(&format!("{base}/cmaf/shared/index.mpd"));
    let mpd = String::from_utf8_lossy(&mpd).to_string();
    assert!(mpd.contains("type=\"dynamic\"") && mpd.contains("SegmentTimeline"));
    let t: String = mpd
        .split("<S t=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("timeline start")
        .to_string();
    let (s, init, _) = get(&format!("{base}/cmaf/shared/1/init.m4s"));
    assert_eq!(s, 200);
    assert_eq!(&init[4..8], b"ftyp");
    let (s, chunk, _) = get(&format!("{base}/cmaf/shared/1/chunk_{t}.m4s"));
    assert_eq!(s, 200, "chunk_{t}");
    assert!(chunk.windows(4).any(|w| w == b"moof"));
    let (s, _, _) = get(&format!("{base}/cmaf/shared/1/chunk_1.m4s"));
    assert_eq!(s, 404);
    let (s, _, _) = get(&format!("{base}/hls/shared/1_2/1_2.ts"));
    assert_eq!(s, 404);
}

#[test]
fn json_info_matches_the_documented_shape() {
    let ls = all_outputs(json!({"info": {"source": "push://"}, "quiet": {"source": "push://"}}));
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "info"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("info"));
    let base = format!("http://127.0.0.1:{}", ls.http);
    let client = reqwest::blocking::Client::new();
    let resp = client
        .get(format!("{base}/json_info.js"))
        .header("Host", "media.example:8080")
        .send()
        .expect("json_");
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let v: Value = resp.json().expect("json");
    assert_eq!(v["selver"], 2);
    assert_eq!(v["capa"]["selver"], 2);
    assert_eq!(v["type"], "live");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(640), Some(360))
    );
    assert!(v["unixoffset"]
        .as_i64()
        .is_some_and(|t| t > 1_600_000_000_000));
    assert_eq!(v["meta"]["live"], 1);
    assert_eq!(v["meta"]["version"], 4);
    let tracks = v["meta"]["tracks"].as_object().expect("tracks");
    let video = &tracks["video_H264_640x360_25fps_0"];
    for k in [
        "codec",
        "codecstring",
        "type",
        "idx",
        "trackid",
        "init",
        "firstms",
        "lastms",
        "bps",
        "maxbps",
        "width",
        "height",
        "fpks",
        "fps",
    ] {
        assert!(video.get(k).is_some(), "video track lacks {k}: {video}");
    }
    assert_eq!(
        (
            video["codec"].as_str(),
            video["type"].as_str(),
            video["fpks"].as_u64()
        ),
        (Some("H264"), Some("video"), Some(25_000))
    );
    let audio = &tracks["audio_AAC_2ch_44100hz_1"];
    for k in [
        "codec",
        "codecstring",
        "type",
        "rate",
        "size",
        "channels",
        "firstms",
        "lastms",
    ] {
        assert!(audio.get(k).is_some(), "audio track lacks {k}: {audio}");
    }
    assert_eq!(audio["codecstring"], "mp4a.40.2");
    let sources = v["source"].as_array().expect("source");
    let types: Vec<&str> = sources.iter().filter_map(|s| s["type"].as_str()).collect();
    for t in [
        "html5/application/vnd.apple.mpegurl",
        "html5/video/mp4",
        "dash/video/mp4",
        "flash/10",
        "flash/7",
        "html5/video/mpeg",
    ] {
        assert!(types.contains(&t), "source lacks {t}: {types:?}");
    }
    for s in sources {
        for k in [
            "type",
            "relurl",
            "priority",
            "url",
            "simul_tracks",
            "total_matches",
        ] {
            assert!(s.get(k).is_some(), "source lacks {k}: {s}");
        }
    }
    // Ordered by simultaneous tracks, then priority (facts §9.3).
    let keys: Vec<(i64, i64)> = sources
        .iter()
        .map(|s| {
            (
                s["simul_tracks"].as_i64().unwrap_or(0),
                s["priority"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] >= w[1]),
        "ordered by tracks then priority: {keys:?}"
    );
    assert_eq!(
        keys.last(),
        Some(&(1, 8)),
        "the audio-only AAC output comes last"
    );
    let rtmp = sources
        .iter()
        .find(|s| s["type"] == "flash/10")
        .expect("rtmp");
    assert_eq!(
        rtmp["url"],
        format!("rtmp://media.example:{}/play/info", ls.rtmp)
    );
    let hls = sources
        .iter()
        .find(|s| s["type"] == "html5/application/vnd.apple.mpegurl")
        .expect("hls");
    assert_eq!(hls["url"], "http://media.example:8080/hls/info/index.m3u8");

    // Offline and unknown streams.
    let v: Value = client
        .get(format!("{base}/json_quiet.js"))
        .send()
        .expect("json_")
        .json()
        .expect("json");
    assert_eq!(v, json!({"error": "Stream is offline"}));
    let resp = client
        .get(format!("{base}/json_unknown.js"))
        .send()
        .expect("json_");
    let v: Value = resp.json().expect("json");
    assert_eq!(v["error"], "Could not retrieve stream. Sorry.");
    assert!(v["error_guru"]
        .as_str()
        .is_some_and(|g| g.contains("not configured")));

    let body = client
        .get(format!("{base}/info_info.js"))
        .send()
        .expect("info_")
        .text()
        .expect("text");
    assert!(
        body.starts_with("if (!mistvideo){var mistvideo ={};}\nmistvideo[\"info\"] = {"),
        "{body}"
    );
    let body = client
        .get(format!("{base}/embed_info.js"))
        .send()
        .expect("embed_")
        .text()
        .expect("text");
    assert!(body.contains("json_") && body.contains("\"info\""));
}

fn chromium_play(url: &str, media: bool) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/play.js");
    let mut cmd = Command::new("node");
    cmd.arg(script).arg(url).arg("10");
    if media {
        cmd.arg("--media");
    }
    let out = cmd
        .output()
        .expect("node; ./test.sh installs Chromium and playwright-core");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn mp4_and_html_play_in_chromium() {
    let ls = all_outputs(json!({"web": {"source": "push://"}}));
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "web"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("web"));
    for (path, media) in [("/web.mp4", true), ("/web.html", false)] {
        let url = format!("http://127.0.0.1:{}{path}", ls.http);
        let first = chromium_play(&url, media);
        assert!(first["error"].is_null(), "{path}: {first}");
        assert!(
            first["readyState"].as_u64().unwrap_or(0) >= 2,
            "{path}: {first}"
        );
        let advanced = first["currentTime"].as_f64().unwrap_or(0.0)
            - first["firstTime"].as_f64().unwrap_or(0.0);
        let wall = first["wallSeconds"].as_f64().unwrap_or(0.0);
        assert!(
            advanced > wall * 0.7 && wall > 3.0,
            "{path}: the video advanced {advanced:.1} s in {wall:.1} s: {first}"
        );
    }
}

/// MistServer's embed code (what its web UI's embed page hands out): it loads `/player.js` from
/// the HTTP output and calls `mistPlay`. In a page of its own (another origin), in Chromium.
#[test]
fn mistservers_embed_code_plays_with_eddys_player_js() {
    let ls = all_outputs(json!({"embedded": {"source": "push://"}}));
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "embedded"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("embedded"));
    let player = reqwest::blocking::get(format!("http://127.0.0.1:{}/player.js", ls.http))
        .expect("player.js");
    assert_eq!(player.status(), 200);
    assert!(player
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/javascript"));
    let page = format!(
        r#"<!DOCTYPE html><html><body>
<div class="mistvideo" id="embedded_x1">
  <noscript><a href="http://127.0.0.1:{port}/embedded.html" target="_blank">Click here to play this video</a></noscript>
  <script>
    var a = function(){{
      mistPlay("embedded",{{
        target: document.getElementById("embedded_x1")
      }});
    }};
    if (!window.mistplayers) {{
      var p = document.createElement("script");
      p.src = "http://127.0.0.1:{port}/player.js"
      document.head.appendChild(p);
      p.onload = a;
    }}
    else {{ a(); }}
  </script>
</div></body></html>"#,
        port = ls.http
    );
    let file = ls.server.dir.path().join("embed.html");
    std::fs::write(&file, page).expect("page");
    let result = chromium_play(&format!("file://{}", file.display()), false);
    assert!(result["error"].is_null(), "{result}");
    let advanced =
        result["currentTime"].as_f64().unwrap_or(0.0) - result["firstTime"].as_f64().unwrap_or(0.0);
    let wall = result["wallSeconds"].as_f64().unwrap_or(0.0);
    assert!(
        advanced > wall * 0.7 && wall > 3.0,
        "the video advanced {advanced:.1} s in {wall:.1} s: {result}"
    );
}

#[test]
fn hls_marks_a_discontinuity_when_the_publisher_resumes() {
    let ls = all_outputs(json!({"again": {"source": "push://", "resume": 1, "inputtimeout": 30}}));
    let url = ls.rtmp_url("live", "again");
    let mut first = publish(h264_clip(), &url, ls.server.dir.path());
    assert!(ls.wait_online("again"));
    std::thread::sleep(Duration::from_secs(5));
    let _ = first.child.kill();
    let _ = first.child.wait();
    std::thread::sleep(Duration::from_secs(2));
    let _second = publish(h264_clip(), &url, ls.server.dir.path());
    let media = format!("http://127.0.0.1:{}/hls/again/1_2/index.m3u8", ls.http);
    let mut text = String::new();
    let found = eventually(Duration::from_secs(30), || {
        text = String::from_utf8_lossy(&get(&media).1).to_string();
        text.contains("#EXT-X-DISCONTINUITY\n")
            && text.lines().filter(|l| l.contains(".ts")).count() >= 4
    });
    assert!(found, "{text}");
    let pl = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(p)) => p,
        other => panic!("{other:?}"),
    };
    let marked: Vec<bool> = pl.segments.iter().map(|s| s.discontinuity).collect();
    assert_eq!(marked.iter().filter(|d| **d).count(), 1, "{text}");
    assert!(
        !marked[0],
        "the discontinuity is after the first publisher's segments: {text}"
    );
    // Segment times keep increasing across the resume.
    let starts: Vec<i64> = pl
        .segments
        .iter()
        .filter_map(|s| s.uri.split('_').next().and_then(|v| v.parse().ok()))
        .collect();
    assert!(starts.windows(2).all(|w| w[1] > w[0]), "{starts:?}");
}

/// Playlist and segment requests reuse the buffer they found for up to a second instead of
/// asking the actors on every request; a stream removed from the config is still refused
/// within about that second, while the others go on being served.
/// A live stream whose publisher left for good (no `resume`, past the 5 s grace) is offline:
/// HLS players polling its playlist get an error, not the ended buffer's last segments for as
/// long as they keep asking (which also kept the stream from ever unloading).
#[test]
fn an_ended_live_stream_stops_answering_hls() {
    let ls = all_outputs(json!({"gone": {"source": "push://"}}));
    let mut publisher = publish(
        h264_clip(),
        &ls.rtmp_url("live", "gone"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("gone"));
    let playlist = format!("http://127.0.0.1:{}/hls/gone/index.m3u8", ls.http);
    assert!(eventually(Duration::from_secs(15), || get(&playlist).0 == 200));
    let _ = publisher.child.kill();
    let left = Instant::now();
    // Polled as a player does, every half second.
    let mut first_refusal = None;
    while left.elapsed() < Duration::from_secs(20) {
        let status = get(&playlist).0;
        if status != 200 && first_refusal.is_none() {
            first_refusal = Some(left.elapsed());
        }
        if let Some(at) = first_refusal {
            assert_ne!(
                status,
                200,
                "served again {:?} after going offline",
                left.elapsed() - at
            );
            if left.elapsed() > at + Duration::from_secs(5) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let at = first_refusal.expect("the ended stream's playlist kept answering 200 for 20 s");
    assert!(at < Duration::from_secs(10), "offline after {at:?}");
}

#[test]
fn hls_requests_follow_a_removed_stream() {
    let ls = all_outputs(json!({"brief": {"source": "push://"}, "other": {"source": "push://"}}));
    let dir = ls.server.dir.path();
    let _brief = publish(h264_clip(), &ls.rtmp_url("live", "brief"), dir);
    let _other = publish(h264_clip(), &ls.rtmp_url("live", "other"), dir);
    assert!(ls.wait_online("brief") && ls.wait_online("other"));
    let playlist = |name: &str| format!("http://127.0.0.1:{}/hls/{name}/index.m3u8", ls.http);
    for _ in 0..5 {
        assert_eq!(get(&playlist("brief")).0, 200);
        assert_eq!(get(&playlist("other")).0, 200);
    }
    ls.server.api2(json!({"deletestream": "brief"}));
    let removed = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || get(&playlist("brief")).0 != 200),
        "a removed stream is still served"
    );
    assert!(
        removed.elapsed() < Duration::from_secs(3),
        "{:?}",
        removed.elapsed()
    );
    for _ in 0..3 {
        assert_eq!(get(&playlist("other")).0, 200);
    }
}
