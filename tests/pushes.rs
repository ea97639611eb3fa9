//! Pushes and recordings against real peers: ffmpeg publishes, ffprobe reads the recorded files,
//! ffmpeg seeks in them, a second Eddy receives an RTMP push, shell-script trigger handlers
//! report RECORDING_END and rewrite targets.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::media::*;
use common::*;
use serde_json::{json, Value};

/// The published clip's length in seconds and its keyframe interval (one GOP).
const CLIP_SECS: f64 = 10.0;
const GOP_SECS: f64 = 1.0;

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("script");
    let mut perm = std::fs::metadata(&p).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&p, perm).expect("chmod");
    p
}

/// A handler script that stores each payload it gets in `dir/<trigger>-<n>.txt`.
fn recording_handler(dir: &Path) -> PathBuf {
    let out = dir.to_string_lossy();
    script(
        dir,
        "store.sh",
        &format!("cat > \"{out}/$1-$(date +%s%N).txt\"\necho true"),
    )
}

fn payloads(dir: &Path, trigger: &str) -> Vec<Vec<String>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&format!("{trigger}-")))
    });
    files.sort();
    files
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .split('\n')
                .map(String::from)
                .collect()
        })
        .collect()
}

fn push_list(s: &Server) -> Vec<Value> {
    s.api2(json!({"push_list": 1}))["push_list"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn assert_av(path: &Path, want_secs: f64) {
    let p = probe_file(path);
    assert!(
        p.codecs.contains(&"h264".to_string()) && p.codecs.contains(&"aac".to_string()),
        "{}: both tracks: {:?}",
        path.display(),
        p.codecs
    );
    assert!(
        (p.duration - want_secs).abs() <= GOP_SECS + 0.2,
        "{}: duration {} should be within a GOP of {want_secs}",
        path.display(),
        p.duration
    );
}

#[test]
fn records_flv_ts_and_mp4_for_the_published_time() {
    let ls = LiveServer::start(json!({"live": {"source": "push://"}}));
    let s = &ls.server;
    let dir = s.dir.path().join("rec");
    std::fs::create_dir_all(&dir).expect("dir");
    let handler = recording_handler(&dir);
    s.api2(json!({"config": {"triggers": {
        "RECORDING_END": [{"handler": handler.to_string_lossy(), "sync": false}],
        "PUSH_END": [{"handler": handler.to_string_lossy(), "sync": false}]
    }}}));
    let target = |ext: &str| format!("{}/$stream-$year.{ext}", dir.display());
    for ext in ["flv", "ts", "mp4"] {
        s.api2(json!({"push_auto_add": ["live", target(ext)]}));
    }
    let mut ff = publish_once(h264_clip(), &ls.rtmp_url("live", "live"), s.dir.path());
    assert!(
        eventually(Duration::from_secs(10), || push_list(s).len() == 3),
        "three recordings run while the stream is live: {:?}",
        push_list(s)
    );
    let year = chrono_year();
    let row = push_list(s)
        .into_iter()
        .find(|r| r[2].as_str().is_some_and(|t| t.ends_with(".mp4")))
        .expect("mp4 row");
    assert_eq!(row[1], "live");
    assert_eq!(row[2], target("mp4"), "original target");
    assert_eq!(
        row[3].as_str().expect("resolved"),
        format!("{}/live-{year}.mp4", dir.display()),
        "variables substituted"
    );
    ff.wait_timeout(Duration::from_secs(30))
        .expect("ffmpeg ends");
    assert!(
        eventually(Duration::from_secs(15), || push_list(s).is_empty()),
        "recordings end with the stream"
    );
    assert!(
        eventually(Duration::from_secs(10), || payloads(&dir, "RECORDING_END")
            .len()
            == 3),
        "RECORDING_END for each file: {}",
        s.stderr()
    );
    for ext in ["flv", "ts", "mp4"] {
        let path = dir.join(format!("live-{year}.{ext}"));
        assert_av(&path, CLIP_SECS);
        assert!(seeks_to(&path, 5.0), "{ext}: a player can seek into it");
        let size = std::fs::metadata(&path).expect("file").len();
        let p = payloads(&dir, "RECORDING_END")
            .into_iter()
            .find(|p| p.get(1).is_some_and(|l| l.ends_with(ext)))
            .expect("payload");
        assert_eq!(p.len(), 12, "twelve lines: {p:?}");
        assert_eq!(p[0], "live");
        assert_eq!(p[1], path.to_string_lossy());
        let protocol = match ext {
            "flv" => "FLV",
            "ts" => "HTTPTS",
            _ => "MP4",
        };
        assert_eq!(p[2], protocol);
        assert_eq!(p[3], size.to_string(), "bytes written = file size");
        let n = |i: usize| {
            p[i].parse::<i64>()
                .unwrap_or_else(|_| panic!("line {i}: {p:?}"))
        };
        let (secs, start, stop) = (n(4), n(5), n(6));
        assert!((8..=20).contains(&secs), "seconds writing: {secs}");
        assert_eq!(stop - start, secs);
        assert!(start > 1_700_000_000);
        let (media_ms, first, last) = (n(7), n(8), n(9));
        assert_eq!(media_ms, last - first);
        let probed = probe_file(&path).duration * 1000.0;
        assert!(
            (media_ms as f64 - probed).abs() < 500.0,
            "media duration {media_ms} ms matches the file's {probed} ms"
        );
        assert_eq!(p[10], "CLEAN_EOF");
    }
    // PUSH_END: id, stream, target, resolved target, last log lines, last status.
    assert!(eventually(Duration::from_secs(5), || payloads(
        &dir, "PUSH_END"
    )
    .len()
        == 3));
    for p in payloads(&dir, "PUSH_END") {
        assert!(p[0].parse::<u64>().is_ok_and(|id| id >= 1), "{p:?}");
        assert_eq!(p[1], "live");
        assert!(p[2].starts_with(&dir.to_string_lossy().to_string()) && p[2].contains("$stream"));
        assert!(p[3].contains(&format!("live-{year}.")));
        let logs: Value = serde_json::from_str(&p[4]).expect("logs JSON");
        assert!(logs.as_array().is_some_and(|l| !l.is_empty()), "{logs}");
        let status: Value = serde_json::from_str(&p[5]).expect("status JSON");
        assert!(status["bytes"].as_u64().unwrap_or(0) > 100_000, "{status}");
    }
}

fn chrono_year() -> String {
    let out = std::process::Command::new("date")
        .arg("+%Y")
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn auto_push_records_every_wildcard_instance() {
    let ls = LiveServer::start(json!({"rec": {"source": "push://"}}));
    let s = &ls.server;
    let dir = s.dir.path().join("wild");
    let target = format!("{}/$stream.mp4", dir.display());
    let v = s.api2(json!({"push_auto_add": {"stream": "rec+", "target": target}}));
    assert_eq!(v["push_auto_list"], json!([["rec+", target]]));
    let id = v["auto_push"]
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .expect("rule id");
    // The same rule again is not stored twice.
    let v = s.api2(json!({"push_auto_add": ["rec+", target]}));
    assert_eq!(v["push_auto_list"].as_array().map(Vec::len), Some(1));

    let a = publish_once(h264_clip(), &ls.rtmp_url("live", "rec+a"), s.dir.path());
    let b = publish_once(h264_clip(), &ls.rtmp_url("live", "rec+b"), s.dir.path());
    let mut plain = publish_once(h264_clip(), &ls.rtmp_url("live", "rec"), s.dir.path());
    assert!(
        eventually(Duration::from_secs(10), || push_list(s).len() == 2),
        "one recording per wildcard instance, none for rec itself: {:?}",
        push_list(s)
    );
    let mut streams: Vec<String> = push_list(s)
        .iter()
        .filter_map(|r| r[1].as_str().map(String::from))
        .collect();
    streams.sort();
    assert_eq!(streams, ["rec+a", "rec+b"]);
    for mut ff in [a, b] {
        ff.wait_timeout(Duration::from_secs(30))
            .expect("ffmpeg ends");
    }
    plain
        .wait_timeout(Duration::from_secs(30))
        .expect("ffmpeg ends");
    assert!(eventually(Duration::from_secs(15), || push_list(s).is_empty()));
    for name in ["rec+a", "rec+b"] {
        assert_av(&dir.join(format!("{name}.mp4")), CLIP_SECS);
    }
    assert!(!dir.join("rec.mp4").exists(), "rec+ does not match rec");

    // Persisted in the config file, and removed by id.
    s.api2(json!({"save": 1}));
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(s.config_path()).expect("config")).expect("json");
    assert_eq!(cfg["auto_push"][&id]["target"], target);
    let v = s.api2(json!({"push_auto_remove": id}));
    assert_eq!(v["push_auto_list"], json!([]));
}

#[test]
fn push_start_stop_and_list_leave_viewers_alone() {
    let ls = LiveServer::start(json!({"live": {"source": "push://"}}));
    let s = &ls.server;
    let _ff = publish(h264_clip(), &ls.rtmp_url("live", "live"), s.dir.path());
    assert!(ls.wait_online("live"));
    let dir = s.dir.path().join("manual");
    let file = dir.join("cut.ts");
    s.api2(json!({"push_start": {"stream": "live", "target": file.to_string_lossy()}}));
    // A second identical push_start is skipped.
    s.api2(json!({"push_start": ["live", file.to_string_lossy()]}));
    let list = push_list(s);
    assert_eq!(list.len(), 1, "{list:?}");
    let row = &list[0];
    assert_eq!(row[1], "live");
    assert_eq!(row[2], file.to_string_lossy().as_ref());
    let id = row[0].as_u64().expect("numeric id");
    std::thread::sleep(Duration::from_secs(4));
    let row = push_list(s).remove(0);
    assert!(
        row[5]["bytes"].as_u64().unwrap_or(0) > 100_000,
        "status counts bytes: {row}"
    );
    assert!(
        row[4].as_array().is_some_and(|l| !l.is_empty()),
        "logs: {row}"
    );
    s.api2(json!({"push_stop": [id]}));
    assert!(eventually(Duration::from_secs(5), || push_list(s).is_empty()));
    let p = probe_file(&file);
    assert!(p.codecs.contains(&"h264".into()) && p.codecs.contains(&"aac".into()));
    assert!(
        (3.0..6.5).contains(&p.duration),
        "about 4 s: {}",
        p.duration
    );
    // append=1 adds to the file.
    let before = std::fs::metadata(&file).expect("file").len();
    let appended = format!("{}?append=1", file.display());
    s.api2(json!({"push_start": ["live", appended]}));
    std::thread::sleep(Duration::from_secs(3));
    s.api2(json!({"push_stop": "live"}));
    assert!(eventually(Duration::from_secs(5), || push_list(s).is_empty()));
    let after = std::fs::metadata(&file).expect("file").len();
    assert!(after > before + 100_000, "appended: {before} -> {after}");
    let whole = probe_file(&file);
    assert_eq!(whole.codecs.len(), 2);
    assert!(
        whole.duration > p.duration + 2.0,
        "the appended part continues the timeline: {} then {}",
        p.duration,
        whole.duration
    );
    // The stream plays on.
    let streams = probe_streams(&ls.flv_url("live"));
    assert_eq!(streams.len(), 2);
    // stop_sessions OUTPUT reaches pushes too.
    s.api2(json!({"push_start": ["live", dir.join("two.flv").to_string_lossy()]}));
    assert!(eventually(Duration::from_secs(5), || push_list(s).len() == 1));
    std::thread::sleep(Duration::from_secs(2));
    s.api2(json!({"stop_sessions": {"live": "OUTPUT"}}));
    assert!(eventually(Duration::from_secs(5), || push_list(s).is_empty()));
    assert!(probe_file(&dir.join("two.flv")).duration > 0.5);
    // duration=N ends a recording by itself after N seconds of media.
    let timed = dir.join("timed.ts");
    s.api2(json!({"push_start": ["live", format!("{}?duration=2", timed.display())]}));
    assert_eq!(push_list(s).len(), 1);
    assert!(eventually(Duration::from_secs(10), || push_list(s).is_empty()));
    let d = probe_file(&timed).duration;
    assert!((1.5..3.0).contains(&d), "about 2 s: {d}");
}

#[test]
fn bad_targets_end_with_a_log_line_and_never_touch_the_stream() {
    let ls = LiveServer::start(json!({"live": {"source": "push://"}}));
    let s = &ls.server;
    let _ff = publish(h264_clip(), &ls.rtmp_url("live", "live"), s.dir.path());
    assert!(ls.wait_online("live"));
    let closed = free_port();
    for target in [
        "/proc/eddy-cannot-write/x.mp4".to_string(),
        "srt://127.0.0.1:9999".to_string(),
        "/tmp/file.mkv".to_string(),
        format!("rtmp://127.0.0.1:{closed}/live/x"),
        "/tmp/append.mp4?append=1".to_string(),
    ] {
        s.api2(json!({"push_start": ["live", target]}));
    }
    assert!(
        eventually(Duration::from_secs(15), || push_list(s).is_empty()),
        "every bad push ends: {:?}",
        push_list(s)
    );
    let log = s.api(json!({"log": 1}))["log"].to_string();
    for needle in [
        "eddy-cannot-write",
        "srt://",
        "file.mkv",
        &closed.to_string(),
        "append",
    ] {
        assert!(log.contains(needle), "a log line names {needle}: {log}");
    }
    let streams = probe_streams(&ls.flv_url("live"));
    assert_eq!(streams.len(), 2, "the stream still plays");
    let v = s.api2(json!({"active_streams": 1}));
    assert!(v["active_streams"].to_string().contains("live"));
}

#[test]
fn push_out_start_rewrites_or_aborts() {
    let ls = LiveServer::start(json!({"live": {"source": "push://"}}));
    let s = &ls.server;
    let dir = s.dir.path().join("rw");
    std::fs::create_dir_all(&dir).expect("dir");
    let answer = dir.join("answer.txt");
    let handler = script(
        &dir,
        "rewrite.sh",
        &format!(
            "cat > \"{0}/payload.txt\"\ncat \"{1}\"",
            dir.display(),
            answer.display()
        ),
    );
    s.api2(json!({"config": {"triggers": {
        "PUSH_OUT_START": [{"handler": handler.to_string_lossy(), "sync": true}]
    }}}));
    let _ff = publish(h264_clip(), &ls.rtmp_url("live", "live"), s.dir.path());
    assert!(ls.wait_online("live"));
    let rewritten = dir.join("rewritten-$stream.ts");
    std::fs::write(&answer, rewritten.to_string_lossy().as_bytes()).expect("answer");
    s.api2(json!({"push_start": ["live", "/tmp/original.ts"]}));
    let file = dir.join("rewritten-live.ts");
    assert!(eventually(Duration::from_secs(10), || file.exists()));
    let payload = std::fs::read_to_string(dir.join("payload.txt")).expect("payload");
    assert_eq!(payload, "live\n/tmp/original.ts");
    let row = push_list(s).remove(0);
    assert_eq!(row[2], "/tmp/original.ts");
    assert_eq!(
        row[3],
        file.to_string_lossy().as_ref(),
        "the handler's target, substituted"
    );
    s.api2(json!({"push_stop": row[0].clone()}));
    assert!(eventually(Duration::from_secs(5), || push_list(s).is_empty()));

    // An empty answer aborts the push.
    std::fs::write(&answer, b"").expect("answer");
    s.api2(json!({"push_start": ["live", dir.join("never.ts").to_string_lossy()]}));
    std::thread::sleep(Duration::from_secs(2));
    assert!(push_list(s).is_empty());
    assert!(!dir.join("never.ts").exists());
}

#[test]
fn pushes_to_a_second_eddy_and_retries_while_it_is_down() {
    let b = LiveServer::start(json!({"relay": {"source": "push://"}}));
    let a = LiveServer::start(json!({"live": {"source": "push://"}}));
    let v = a
        .server
        .api2(json!({"push_settings": {"wait": 1, "maxspeed": 0}}));
    assert_eq!(v["push_settings"], json!({"wait": 1, "maxspeed": 0}));
    let target = b.rtmp_url("live", "relay");
    a.server.api2(json!({"push_auto_add": ["live", target]}));
    let _ff = publish(
        h264_clip(),
        &a.rtmp_url("live", "live"),
        a.server.dir.path(),
    );
    assert!(a.wait_online("live"));
    assert!(
        b.wait_online("relay"),
        "the push arrives at the second server"
    );
    let streams = probe_streams(&b.flv_url("relay"));
    let codecs: Vec<&str> = streams
        .iter()
        .filter_map(|s| s["codec_name"].as_str())
        .collect();
    assert!(
        codecs.contains(&"h264") && codecs.contains(&"aac"),
        "{codecs:?}"
    );

    // The target goes away for 5 s; the push comes back by itself.
    let mut b = b;
    b.server.terminate();
    std::thread::sleep(Duration::from_secs(5));
    b.server.restart();
    assert!(
        b.wait_online("relay"),
        "the push resumed after the target came back: {}",
        a.server.stderr()
    );
    let streams = probe_streams(&b.flv_url("relay"));
    assert_eq!(streams.len(), 2);
    assert!(a.server.stderr().contains("relay"), "failures were logged");
}

#[test]
fn shutdown_finishes_the_recording() {
    let mut ls = LiveServer::start(json!({"live": {"source": "push://"}}));
    let dir = ls.server.dir.path().join("stop");
    let file = dir.join("live.mp4");
    ls.server
        .api2(json!({"push_auto_add": ["live", file.to_string_lossy()]}));
    let _ff = publish(
        h264_clip(),
        &ls.rtmp_url("live", "live"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("live"));
    std::thread::sleep(Duration::from_secs(3));
    let status = ls.server.terminate();
    assert!(status.success(), "clean exit");
    let p = probe_file(&file);
    assert!(
        p.codecs.len() == 2 && p.duration > 2.0,
        "{:?} {}",
        p.codecs,
        p.duration
    );
    assert!(seeks_to(&file, 1.5));
}

#[test]
fn push_settings_are_read_set_and_saved() {
    let s = Server::start(Some(r#"{"streams": {}}"#));
    let v = s.api2(json!({"push_settings": 1}));
    assert_eq!(
        v["push_settings"],
        json!({"wait": 0, "maxspeed": 0}),
        "the manual's defaults"
    );
    let v = s.api2(json!({"push_settings": {"wait": "4", "maxspeed": 2}}));
    assert_eq!(v["push_settings"], json!({"wait": 4, "maxspeed": 2}));
    let v = s.api2(json!({"push_settings": {"wait": [1], "bogus": 1}}));
    assert_eq!(
        v["push_settings"],
        json!({"wait": 4, "maxspeed": 2}),
        "junk changes nothing"
    );
    s.api2(json!({"save": 1}));
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(s.config_path()).expect("config")).expect("json");
    assert_eq!(cfg["push_settings"]["wait"], 4);
    assert_eq!(cfg["push_settings"]["maxspeed"], 2);
}

#[test]
fn auto_push_starts_at_once_for_live_streams_and_only_once() {
    let ls = LiveServer::start(json!({"live": {"source": "push://"}}));
    let s = &ls.server;
    let _ff = publish(h264_clip(), &ls.rtmp_url("live", "live"), s.dir.path());
    assert!(ls.wait_online("live"));
    let file = s.dir.path().join("now").join("$stream.flv");
    let rule = json!(["live", file.to_string_lossy()]);
    s.api2(json!({"push_auto_add": rule}));
    assert!(
        eventually(Duration::from_secs(5), || push_list(s).len() == 1),
        "the rule starts at once for the live stream"
    );
    // Adding it again, or starting the same push by hand, makes no duplicate.
    s.api2(json!({"push_auto_add": {"stream": "live", "target": file.to_string_lossy()}}));
    s.api2(json!({"push_start": rule}));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(push_list(s).len(), 1, "{:?}", push_list(s));
    // Removing the rule leaves the running push alone; push_stop ends it and, with wait 0,
    // nothing restarts it.
    s.api2(json!({"push_auto_remove": "live"}));
    assert_eq!(push_list(s).len(), 1);
    s.api2(json!({"push_stop": "live"}));
    assert!(eventually(Duration::from_secs(5), || push_list(s).is_empty()));
    std::thread::sleep(Duration::from_secs(2));
    assert!(push_list(s).is_empty());
    assert_eq!(
        probe_file(&s.dir.path().join("now/live.flv")).codecs.len(),
        2
    );
}
