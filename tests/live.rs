//! The live path against real peers: ffmpeg publishes over RTMP, ffprobe/ffmpeg play over RTMP
//! and HTTP-FLV.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::media::*;
use common::*;
use serde_json::json;

fn push_stream() -> serde_json::Value {
    json!({"source": "push://"})
}

/// Checks one played URL: H.264 640x360 and AAC, continuous timestamps over ~4 s.
fn check_h264_playback(url: &str) {
    let streams = probe_streams(url);
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .unwrap_or_else(|| panic!("no video in {url}: {streams:?}"));
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .unwrap_or_else(|| panic!("no audio in {url}: {streams:?}"));
    assert_eq!(video["codec_name"], "h264", "{url}");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(640), Some(360)),
        "{url}"
    );
    assert_eq!(audio["codec_name"], "aac", "{url}");
    assert_eq!(audio["sample_rate"], "44100", "{url}");
    let packets = probe_packets(url, 4);
    let vidx = video["index"].as_u64().unwrap_or(0);
    let aidx = audio["index"].as_u64().unwrap_or(1);
    assert_continuous(&packets, vidx, 0.2);
    assert_continuous(&packets, aidx, 0.2);
    let first_video = packets.iter().find(|p| p.0 == vidx).expect("video packets");
    assert!(first_video.2, "playback starts at a keyframe: {url}");
}

#[test]
fn publish_with_ffmpeg_then_play_rtmp_and_flv() {
    let ls = LiveServer::start(json!({"live": push_stream()}));
    let _publisher = publish(
        h264_clip(),
        &ls.rtmp_url("live", "live"),
        ls.server.dir.path(),
    );
    assert!(
        ls.wait_online("live"),
        "stream never came online:\n{}",
        ls.server.stderr()
    );

    check_h264_playback(&ls.flv_url("live"));
    check_h264_playback(&ls.rtmp_url("play", "live"));
    check_h264_playback(&ls.rtmp_url("live", "live"));

    // The API sees the stream, its tracks and its viewers.
    let dir = tempfile::tempdir().expect("dir");
    let viewer = record(
        std::path::Path::new("ffmpeg"),
        &ls.flv_url("live"),
        30,
        &dir.path().join("v.flv"),
        dir.path(),
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            let v = ls
                .server
                .api2(json!({"active_streams": ["viewers", "inputs", "tracks", "clients"]}));
            v["active_streams"]["live"] == json!([1, 1, 2, 2])
        }),
        "{}",
        ls.server.api2(json!({"active_streams": {"longform": 1}}))
    );
    let v = ls.server.api2(
        json!({"active_streams": true, "stats_streams": ["clients", "lastms"], "streams": 1}),
    );
    assert_eq!(v["active_streams"], json!(["live"]));
    assert!(v["stats_streams"]["live"][1].as_i64().unwrap_or(0) > 1000);
    assert_eq!(v["streams"]["live"]["online"], 1);
    let v = ls.server.api2(json!({"active_streams": {"fields": ["status", "upbytes", "downbytes", "firstms", "lastms"]}}));
    let row = &v["active_streams"]["data"]["live"];
    assert_eq!(row[0], "Online");
    assert!(
        row[1].as_u64().unwrap_or(0) > 100_000 && row[2].as_u64().unwrap_or(0) > 10_000,
        "{row}"
    );
    drop(viewer);
}

#[test]
fn offline_and_unknown_streams() {
    let ls = LiveServer::start(json!({"waiting": push_stream()}));
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let started = Instant::now();
    let resp = client
        .get(ls.flv_url("nosuchstream"))
        .send()
        .expect("request");
    assert_eq!(resp.status(), 404);
    assert!(resp.text().expect("body").contains("not configured"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "unknown streams fail at once"
    );
    let started = Instant::now();
    let resp = client.get(ls.flv_url("waiting")).send().expect("request");
    assert_eq!(resp.status(), 404);
    assert!(resp.text().expect("body").contains("offline"));
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "an offline stream is waited for a while"
    );
    let resp = client
        .get(format!("http://127.0.0.1:{}/something.else", ls.http))
        .send()
        .expect("request");
    assert_eq!(resp.status(), 415);
}

#[test]
fn resume_keeps_viewers_playing_across_a_publisher_reconnect() {
    let ls = LiveServer::start(
        json!({"resumable": {"source": "push://", "resume": 1, "inputtimeout": 20}}),
    );
    let url = ls.rtmp_url("live", "resumable");
    let mut first = publish(h264_clip(), &url, ls.server.dir.path());
    assert!(ls.wait_online("resumable"));
    let out = ls.server.dir.path().join("resumed.flv");
    let mut viewer = record(
        std::path::Path::new("ffmpeg"),
        &ls.flv_url("resumable"),
        9,
        &out,
        ls.server.dir.path(),
    );
    std::thread::sleep(Duration::from_secs(3));
    let _ = first.child.kill();
    let _ = first.child.wait();
    std::thread::sleep(Duration::from_secs(2));
    let _second = publish(h264_clip(), &url, ls.server.dir.path());
    let status = viewer
        .wait_timeout(Duration::from_secs(30))
        .expect("viewer finished");
    assert!(status.success(), "viewer failed: {}", viewer.log());
    let packets = probe_packets(&out.to_string_lossy(), 20);
    let video: Vec<f64> = packets.iter().filter(|p| p.0 == 0).map(|p| p.1).collect();
    let span = video.last().copied().unwrap_or(0.0) - video.first().copied().unwrap_or(0.0);
    assert!(
        span >= 8.0,
        "the viewer got {span:.1} s of media across the reconnect"
    );
    for w in video.windows(2) {
        assert!(
            w[1] >= w[0],
            "time went back across the resume: {} then {}",
            w[0],
            w[1]
        );
    }
}

#[test]
fn without_resume_viewers_end_with_the_publisher() {
    let ls = LiveServer::start(json!({"plain": push_stream()}));
    let mut pubr = publish(
        h264_clip(),
        &ls.rtmp_url("live", "plain"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("plain"));
    let out = ls.server.dir.path().join("plain.flv");
    let mut viewer = record(
        std::path::Path::new("ffmpeg"),
        &ls.flv_url("plain"),
        60,
        &out,
        ls.server.dir.path(),
    );
    std::thread::sleep(Duration::from_secs(2));
    let _ = pubr.child.kill();
    assert!(
        viewer.wait_timeout(Duration::from_secs(15)).is_some(),
        "the viewer ends when the stream ends"
    );
    assert!(eventually(Duration::from_secs(10), || ls
        .server
        .api2(json!({"active_streams": 1}))["active_streams"]
        == json!([])));
}

#[test]
fn a_second_publisher_is_refused_while_the_first_is_healthy() {
    let ls = LiveServer::start(json!({"single": push_stream()}));
    let url = ls.rtmp_url("live", "single");
    let _first = publish(h264_clip(), &url, ls.server.dir.path());
    assert!(ls.wait_online("single"));
    let mut second = publish(h264_clip(), &url, ls.server.dir.path());
    let status = second
        .wait_timeout(Duration::from_secs(15))
        .expect("second publisher is turned away");
    assert!(!status.success());
    let log = ls.server.api2(json!({"log": 1}))["log"].to_string();
    assert!(log.contains("already has a healthy publisher"), "{log}");
    // The first publisher is still the one feeding the stream.
    check_h264_playback(&ls.flv_url("single"));
}

#[test]
fn wildcard_pushes_create_instances_of_the_base_stream() {
    let ls = LiveServer::start(json!({"cams": push_stream()}));
    let _a = publish(
        h264_clip(),
        &ls.rtmp_url("live", "cams+front"),
        ls.server.dir.path(),
    );
    let _b = publish(
        h264_clip(),
        &ls.rtmp_url("live", "cams+back"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("cams+front") && ls.wait_online("cams+back"));
    let v = ls.server.api2(json!({"active_streams": true}));
    assert_eq!(v["active_streams"], json!(["cams+back", "cams+front"]));
    let streams = probe_streams(&ls.flv_url("cams+front"));
    assert_eq!(streams.len(), 2);
    // Unconfigured bases are refused.
    let mut other = publish(
        h264_clip(),
        &ls.rtmp_url("live", "nope+x"),
        ls.server.dir.path(),
    );
    assert!(other
        .wait_timeout(Duration::from_secs(15))
        .is_some_and(|s| !s.success()));
}

#[test]
fn push_rules_for_hosts_ranges_and_passphrases() {
    let ls = LiveServer::start(json!({
        "pass": {"source": "push://@s3cret"},
        "range": {"source": "push://127.0.0.0/8"},
        "elsewhere": {"source": "push://192.0.2.0/24"},
        "named": {"source": "push://localhost"},
        "either": {"source": "push://192.0.2.1@opensesame"}
    }));
    let dir = ls.server.dir.path();
    let refused = |app: &str, stream: &str| {
        let mut p = publish(h264_clip(), &ls.rtmp_url(app, stream), dir);
        let s = p.wait_timeout(Duration::from_secs(15));
        assert!(
            s.is_some_and(|s| !s.success()),
            "push to {app}/{stream} must be refused"
        );
    };
    refused("wrong", "pass");
    refused("live", "elsewhere");
    refused("live", "either");
    let _a = publish(h264_clip(), &ls.rtmp_url("s3cret", "pass"), dir);
    let _b = publish(h264_clip(), &ls.rtmp_url("live", "range"), dir);
    let _c = publish(h264_clip(), &ls.rtmp_url("live", "named"), dir);
    let _d = publish(h264_clip(), &ls.rtmp_url("opensesame", "either"), dir);
    for s in ["pass", "range", "named", "either"] {
        assert!(
            ls.wait_online(s),
            "{s} should be accepted:\n{}",
            ls.server.stderr()
        );
    }
    let log = ls.server.api2(json!({"log": 1}))["log"].to_string();
    assert!(
        log.contains("wrong passphrase") && log.contains("not an allowed host"),
        "refusals are logged with the reason: {log}"
    );
}

#[test]
fn hevc_over_enhanced_rtmp() {
    let ls = LiveServer::start(json!({"hevc": push_stream()}));
    let ff9 = enhanced_ffmpeg();
    let _p = publish_with(
        &ff9,
        hevc_clip(),
        &ls.rtmp_url("live", "hevc"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("hevc"), "{}", ls.server.stderr());
    let v = ls.server.api2(json!({"active_streams": ["tracks"]}));
    assert_eq!(v["active_streams"]["hevc"], json!([2]));
    for (i, url) in [ls.flv_url("hevc"), ls.rtmp_url("play", "hevc")]
        .into_iter()
        .enumerate()
    {
        let out = ls.server.dir.path().join(format!("hevc{i}.mkv"));
        let mut rec = record(&ff9, &url, 3, &out, ls.server.dir.path());
        let status = rec
            .wait_timeout(Duration::from_secs(30))
            .expect("recording finished");
        assert!(status.success(), "{url}: {}", rec.log());
        let streams = probe_streams(&out.to_string_lossy());
        let video = streams
            .iter()
            .find(|s| s["codec_type"] == "video")
            .expect("video");
        assert_eq!(video["codec_name"], "hevc", "{url}");
        assert_eq!(
            (video["width"].as_u64(), video["height"].as_u64()),
            (Some(320), Some(240))
        );
        assert!(streams.iter().any(|s| s["codec_name"] == "aac"), "{url}");
    }
}

/// A plain RTMP handshake by hand (version 3, zero C1), then `bytes`.
fn raw_rtmp(port: u16, handshake: bool, bytes: &[u8]) -> bool {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    if handshake {
        let mut c0c1 = vec![3u8];
        c0c1.extend(vec![0u8; 1536]);
        s.write_all(&c0c1).expect("c0c1");
        let mut s0s1s2 = vec![0u8; 3073];
        s.read_exact(&mut s0s1s2).expect("s0s1s2");
        s.write_all(&s0s1s2[1..1537]).expect("c2");
    }
    let _ = s.write_all(bytes);
    // The server must close the connection (read returns 0 or an error), not hang.
    let mut sink = vec![0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        match s.read(&mut sink) {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
    }
    false
}

#[test]
fn malformed_rtmp_closes_only_that_connection() {
    let ls = LiveServer::start(json!({"steady": push_stream()}));
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "steady"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("steady"));
    let out = ls.server.dir.path().join("steady.flv");
    let mut viewer = record(
        std::path::Path::new("ffmpeg"),
        &ls.flv_url("steady"),
        12,
        &out,
        ls.server.dir.path(),
    );

    let mut xs = 0x2545F4914F6CDD1Du64;
    let random: Vec<u8> = (0..5000)
        .map(|_| {
            xs ^= xs << 13;
            xs ^= xs >> 7;
            xs ^= xs << 17;
            xs as u8
        })
        .collect();
    assert!(raw_rtmp(ls.rtmp, false, &random), "random bytes");
    assert!(raw_rtmp(ls.rtmp, false, &[3u8; 700]), "truncated handshake");
    // SetChunkSize 0x7FFFFFFF, then a chunk header announcing a 16 MB message and a trickle.
    let mut huge = vec![
        0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff,
    ];
    huge.extend([0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x14, 0, 0, 0, 0]);
    huge.extend(vec![0x41; 1000]);
    assert!(raw_rtmp(ls.rtmp, true, &huge), "huge chunk size");
    // A command message whose AMF is garbage.
    let mut bad_amf = vec![0x03, 0, 0, 0, 0, 0, 12, 0x14, 0, 0, 0, 0];
    bad_amf.extend([
        0x02, 0xff, 0xff, b'c', b'o', 0x0b, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    ]);
    assert!(raw_rtmp(ls.rtmp, true, &bad_amf), "bad AMF");
    // Chunk stream ids exhausted.
    let mut many = Vec::new();
    for csid in 3..200u8 {
        many.extend([csid & 0x3f, 0, 0, 0, 0, 0x10, 0, 0x09, 1, 0, 0, 0]);
        many.extend([0x17; 100]);
    }
    assert!(raw_rtmp(ls.rtmp, true, &many), "too many chunk streams");

    let status = viewer
        .wait_timeout(Duration::from_secs(40))
        .expect("viewer finished");
    assert!(
        status.success(),
        "the other viewer kept playing: {}",
        viewer.log()
    );
    assert_eq!(
        ls.server.api2(json!({"active_streams": ["inputs"]}))["active_streams"]["steady"],
        json!([1])
    );
    assert!(!ls.server.stderr().contains("panicked"));
}

#[test]
fn a_viewer_that_never_reads_does_not_stall_others_or_grow_memory() {
    let ls = LiveServer::start(json!({"busy": {"source": "push://", "DVR": 10000}}));
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "busy"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("busy"));
    // Five viewers that ask and then never read.
    let stuck: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", ls.http)).expect("connect");
            s.write_all(b"GET /busy.flv HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("request");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_secs(12));
    let before = ls.rss_kib();
    // A real viewer gets 10 s of media in about 10 s.
    let out = ls.server.dir.path().join("busy.flv");
    let started = Instant::now();
    let mut viewer = record(
        std::path::Path::new("ffmpeg"),
        &ls.flv_url("busy"),
        10,
        &out,
        ls.server.dir.path(),
    );
    let status = viewer
        .wait_timeout(Duration::from_secs(25))
        .expect("viewer finished");
    let took = started.elapsed();
    assert!(status.success(), "{}", viewer.log());
    assert!(
        took < Duration::from_secs(16),
        "the real viewer was slowed down: {took:?}"
    );
    let after = ls.rss_kib();
    assert!(
        after < before + 16 * 1024,
        "memory grew from {before} KiB to {after} KiB"
    );
    drop(stuck);
}
