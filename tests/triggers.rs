//! Triggers against real handlers: an HTTP server started by the test, and executables as small
//! shell scripts; ffmpeg publishes and plays where a trigger guards media.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::handler::HandlerServer;
use common::media::*;
use common::*;
use serde_json::{json, Value};

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("script");
    let mut perm = std::fs::metadata(&p).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&p, perm).expect("chmod");
    p
}

#[test]
fn stream_add_config_remove_over_http() {
    let h = HandlerServer::start(&[
        ("STREAM_ADD", "false"),
        ("STREAM_REMOVE", "no"),
        ("STREAM_CONFIG", "0"),
    ]);
    let triggers = json!({
        "STREAM_ADD": [{"handler": h.url(), "sync": true, "streams": ["blocked"]}],
        "STREAM_REMOVE": [{"handler": h.url(), "sync": true}],
        "STREAM_CONFIG": [[h.url(), false, ["keep"]]]
    });
    let cfg = json!({"config": {"protocols": [], "triggers": triggers, "serverid": "edge-7"}, "streams": {"keep": {"source": "push://"}}});
    let s = Server::start(Some(&cfg.to_string()));
    let iid = s.api2(json!({"config": 1}))["config"]["iid"]
        .as_str()
        .expect("iid")
        .to_string();

    let v = s.api2(
        json!({"addstream": {"blocked": {"source": "push://"}, "free": {"source": "push://"}}}),
    );
    assert!(
        v["streams"].get("blocked").is_none(),
        "STREAM_ADD said false: {v}"
    );
    assert!(
        v["streams"].get("free").is_some(),
        "handlers only apply to their streams"
    );
    let add = h.calls_for("STREAM_ADD");
    assert_eq!(add.len(), 1, "only the listed stream asks");
    let lines: Vec<&str> = add[0].body.split('\n').collect();
    assert_eq!(lines[0], "blocked");
    let cfg_line: Value = serde_json::from_str(lines[1]).expect("config JSON");
    assert_eq!(cfg_line["source"], "push://");
    assert_eq!(add[0].headers["content-type"], "text/plain");
    assert_eq!(add[0].headers["x-instance"], iid);
    assert_eq!(add[0].headers["x-name"], "edge-7");
    assert!(add[0].headers.contains_key("x-trigger-uuid"));
    assert!(add[0].headers["x-trigger-unixmillis"]
        .parse::<i64>()
        .is_ok_and(|t| t > 1_600_000_000_000));

    let v = s.api2(json!({"deletestream": "keep", "streams": 1}));
    assert!(v["streams"].get("keep").is_some(), "STREAM_REMOVE said no");
    assert_eq!(h.calls_for("STREAM_REMOVE")[0].body, "keep");

    let v = s.api2(json!({"addstream": {"keep": {"source": "push://", "DVR": 1234}}}));
    assert!(
        v["streams"]["keep"].get("DVR").is_none(),
        "STREAM_CONFIG said 0: reverted: {v}"
    );
    assert!(h.calls_for("STREAM_CONFIG")[0].body.starts_with("keep\n{"));
}

#[test]
fn push_and_play_guards_with_executables() {
    let ls_dir = tempfile::tempdir().expect("dir");
    let dir = ls_dir.path();
    let record = dir.join("push_payload.txt");
    let push = script(
        dir,
        "push.sh",
        &format!(
            "cat > {}\nif grep -q '^allowed$' {}; then echo true; else echo false; fi",
            record.display(),
            record.display()
        ),
    );
    let play = script(dir, "play.sh", "read name; read host; read proto; read url; if [ \"$proto\" = FLV ]; then echo no; else echo yes; fi");
    let ready_log = dir.join("ready.txt");
    let ready = script(dir, "ready.sh", &format!("cat > {}", ready_log.display()));
    let triggers = json!({
        "STREAM_PUSH": [{"handler": push.to_string_lossy(), "sync": true}],
        "CONN_PLAY": [{"handler": play.to_string_lossy(), "sync": true}],
        "STREAM_READY": [{"handler": ready.to_string_lossy(), "sync": false}]
    });
    let ls = LiveServer::start_with_outputs(
        json!({"allowed": {"source": "push://"}, "denied": {"source": "push://"}}),
        &["FLV"],
    );
    ls.server.api2(json!({"config": {"triggers": triggers}}));

    let mut refused = publish(
        h264_clip(),
        &ls.rtmp_url("live", "denied"),
        ls.server.dir.path(),
    );
    assert!(
        refused
            .wait_timeout(Duration::from_secs(15))
            .is_some_and(|s| !s.success()),
        "STREAM_PUSH refused the push"
    );
    let _ok = publish(
        h264_clip(),
        &ls.rtmp_url("live", "allowed"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("allowed"));
    let payload = std::fs::read_to_string(&record).expect("payload");
    let lines: Vec<&str> = payload.split('\n').collect();
    assert_eq!(lines[0], "allowed");
    assert_eq!(lines[1], "127.0.0.1");
    assert_eq!(lines[2], "RTMP");
    assert!(
        lines[3].starts_with("rtmp://127.0.0.1:") && lines[3].ends_with("/live/allowed"),
        "{payload}"
    );

    // CONN_PLAY: FLV refused, RTMP allowed.
    let (status, body, _) = {
        let r = reqwest::blocking::get(ls.flv_url("allowed")).expect("flv");
        (r.status().as_u16(), r.text().unwrap_or_default(), ())
    };
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("CONN_PLAY"));
    assert_eq!(probe_streams(&ls.rtmp_url("play", "allowed")).len(), 2);
    assert!(eventually(Duration::from_secs(5), || {
        std::fs::read_to_string(&ready_log).is_ok_and(|t| t == "allowed\nBuffer")
    }));
}

#[test]
fn rtmp_push_rewrite_renames_the_stream() {
    let h = HandlerServer::start(&[]);
    let ls = LiveServer::start_with_outputs(json!({"real": {"source": "push://"}}), &["FLV"]);
    let rewritten = format!("rtmp://127.0.0.1:{}/live/real", ls.rtmp);
    let h2 = HandlerServer::start(&[("RTMP_PUSH_REWRITE", rewritten.as_str())]);
    ls.server.api2(json!({"config": {"triggers": {"RTMP_PUSH_REWRITE": [{"handler": h2.url(), "sync": true}], "OUTPUT_START": [{"handler": h.url(), "sync": false}]}}}));
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "secretkey123"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("real"), "{}", ls.server.stderr());
    let call = &h2.calls_for("RTMP_PUSH_REWRITE")[0];
    let lines: Vec<&str> = call.body.split('\n').collect();
    assert!(lines[0].ends_with("/live/secretkey123"), "{lines:?}");
    assert_eq!(lines[1], "127.0.0.1");
    // OUTPUT_START fires for a listener started at run time.
    let port = free_port();
    let entry = json!({"connector": "HTTP", "port": port, "interface": "127.0.0.1"});
    ls.server.api2(json!({"addprotocol": entry}));
    assert!(eventually(Duration::from_secs(5), || !h
        .calls_for("OUTPUT_START")
        .is_empty()));
    let payload: Value = serde_json::from_str(&h.calls_for("OUTPUT_START")[0].body).expect("json");
    assert_eq!(payload, entry);
}

#[test]
fn slow_dead_and_unreachable_handlers_get_their_default() {
    let dir = tempfile::tempdir().expect("dir");
    let slow = script(dir.path(), "slow.sh", "sleep 30; echo true");
    let crash = script(dir.path(), "crash.sh", "kill -9 $$");
    let dead_port = free_port();
    let triggers = json!({
        "STREAM_ADD": [
            {"handler": slow.to_string_lossy(), "sync": true, "streams": ["slow"], "default": "false"},
            {"handler": crash.to_string_lossy(), "sync": true, "streams": ["crash"], "default": "true"},
            {"handler": format!("http://127.0.0.1:{dead_port}/x"), "sync": true, "streams": ["gone"], "default": "false"},
            {"handler": format!("http://127.0.0.1:{dead_port}/x"), "sync": true, "streams": ["gone2"]}
        ]
    });
    let s = Server::start(Some(
        &json!({"config": {"protocols": [], "triggers": triggers}}).to_string(),
    ));
    let port = s.port;
    let started = Instant::now();
    let slow_call = std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(40))
            .build()
            .expect("client");
        let body = client
            .post(format!("http://127.0.0.1:{port}/api2"))
            .form(&[("command", r#"{"addstream":{"slow":{"source":"push://"}}}"#)])
            .send()
            .expect("api")
            .text()
            .expect("text");
        parse_answer(&body)
    });
    // Meanwhile the API keeps answering quickly.
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..5 {
        let t = Instant::now();
        let v = s.api2(json!({"ui_settings": 1}));
        assert_eq!(v["authorize"]["status"], "NOACC");
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "API answer took {:?} while a handler was slow",
            t.elapsed()
        );
    }
    let v = slow_call.join().expect("slow call");
    let took = started.elapsed();
    assert!(
        v["streams"].get("slow").is_none(),
        "the slow handler's default (false) applied: {v}"
    );
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(20),
        "executables get 10 s: {took:?}"
    );
    let v = s.api2(json!({"addstream": {"crash": {"source": "push://"}, "gone": {"source": "push://"}, "gone2": {"source": "push://"}}}));
    assert!(
        v["streams"].get("gone").is_none(),
        "unreachable with default false"
    );
    assert!(
        v["streams"].get("gone2").is_some(),
        "unreachable without default: true"
    );
    assert!(
        v["streams"].get("crash").is_some(),
        "a crashed handler gets its default (true)"
    );
}

#[test]
fn system_start_can_refuse_to_run() {
    let dir = tempfile::tempdir().expect("dir");
    let no = script(dir.path(), "no.sh", "echo no");
    let cfg = json!({"config": {"protocols": [], "triggers": {"SYSTEM_START": [{"handler": no.to_string_lossy(), "sync": true}]}}});
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).expect("config");
    let mut child = spawn(dir.path(), free_port(), &[], 3600);
    let status = wait_exit(&mut child, Duration::from_secs(15));
    assert!(status.success(), "a clean, requested shutdown: {status:?}");
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    assert!(log.contains("SYSTEM_START handler refused"), "{log}");
}

#[test]
fn stream_lifecycle_and_connection_triggers() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("calls");
    std::fs::create_dir(&log).expect("log dir");
    let rec = script(
        dir.path(),
        "rec.sh",
        &format!("cat > {}/$1.$(date +%s%N)", log.display()),
    );
    let h =
        |sync: bool| json!([{"handler": rec.to_string_lossy(), "sync": sync, "default": "true"}]);
    let triggers = json!({
        "STREAM_LOAD": [{"handler": script(dir.path(), "yes.sh", "cat >/dev/null; echo yes").to_string_lossy(), "sync": true}],
        "STREAM_TRACK_ADD": h(false), "STREAM_BUFFER": h(false), "STREAM_END": h(false),
        "STREAM_UNLOAD": h(false), "CONN_OPEN": h(false), "CONN_CLOSE": h(false)
    });
    let ls = LiveServer::start_with_outputs(json!({"life": {"source": "push://"}}), &["FLV"]);
    ls.server.api2(json!({"config": {"triggers": triggers}}));
    let calls = |name: &str| -> Vec<String> {
        let mut v: Vec<(String, String)> = std::fs::read_dir(&log)
            .expect("dir")
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{name}."))
            })
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(e.path()).unwrap_or_default(),
                )
            })
            .collect();
        v.sort();
        v.into_iter().map(|x| x.1).collect()
    };
    let mut p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "life"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("life"));
    assert!(eventually(Duration::from_secs(20), || calls(
        "STREAM_BUFFER"
    )
    .iter()
    .any(|c| c.starts_with("life\nFULL\n{"))));
    let mut tracks = calls("STREAM_TRACK_ADD");
    tracks.sort();
    assert_eq!(tracks, vec!["life\n1", "life\n2"]);
    let full = calls("STREAM_BUFFER")
        .into_iter()
        .find(|c| c.contains("FULL"))
        .expect("FULL");
    let health: Value =
        serde_json::from_str(full.splitn(3, '\n').nth(2).expect("health")).expect("json");
    assert_eq!(health["tracks"], json!([1, 2]));

    assert_eq!(probe_streams(&ls.flv_url("life")).len(), 2);
    let flv_close = || calls("CONN_CLOSE").iter().any(|c| c.contains("\nFLV\n"));
    assert!(eventually(Duration::from_secs(5), flv_close));
    let open = calls("CONN_OPEN");
    assert!(
        open.iter().any(|c| c.contains("\nRTMP\n")),
        "the publisher's connection too: {open:?}"
    );
    let flv = open
        .iter()
        .find(|c| c.contains("\nFLV\n"))
        .expect("FLV CONN_OPEN");
    let lines: Vec<&str> = flv.split('\n').collect();
    assert_eq!((lines[0], lines[1], lines[2]), ("life", "127.0.0.1", "FLV"));
    assert!(lines[3].ends_with("/life.flv"));

    let _ = p.child.kill();
    assert!(eventually(Duration::from_secs(15), || !calls("STREAM_END").is_empty()));
    let end: Vec<String> = calls("STREAM_END")[0]
        .split('\n')
        .map(String::from)
        .collect();
    assert_eq!(end.len(), 7, "{end:?}");
    assert_eq!(end[0], "life");
    assert!(
        end[2].parse::<u64>().unwrap_or(0) > 100_000,
        "uploaded bytes: {end:?}"
    );
    assert_eq!(end[4], "1", "one input");
    assert_eq!(calls("STREAM_UNLOAD"), vec!["life\nBuffer"]);
    assert!(calls("STREAM_BUFFER")
        .iter()
        .any(|c| c.starts_with("life\nEMPTY")));
}

#[test]
fn user_end_live_bandwidth_and_system_stop() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("calls");
    std::fs::create_dir(&log).expect("log dir");
    let rec = script(
        dir.path(),
        "rec.sh",
        &format!("cat > {}/$1.$(date +%s%N)", log.display()),
    );
    let no = script(dir.path(), "no.sh", "cat > /dev/null; echo no");
    let calls = |name: &str| -> Vec<String> {
        std::fs::read_dir(&log)
            .expect("dir")
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{name}."))
            })
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect()
    };
    let ls = LiveServer::start_full(
        json!({"bw": {"source": "push://"}}),
        &["FLV"],
        &["--session-cache-secs", "2"],
    );
    let triggers = json!({
        "USER_END": [{"handler": rec.to_string_lossy(), "sync": false}],
        "LIVE_BANDWIDTH": [
            {"handler": rec.to_string_lossy(), "sync": false, "params": "1000"},
            {"handler": rec.to_string_lossy(), "sync": false, "params": "1000000000"}
        ],
        "OUTPUT_STOP": [{"handler": rec.to_string_lossy(), "sync": false}],
        "SYSTEM_STOP": [{"handler": no.to_string_lossy(), "sync": true}]
    });
    ls.server.api2(json!({"config": {"triggers": triggers}}));
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "bw"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("bw"));
    assert_eq!(
        probe_streams(&format!("{}?tkn=ender", ls.flv_url("bw"))).len(),
        2
    );
    // USER_END once the session expires (two seconds after its last connection here).
    assert!(eventually(Duration::from_secs(15), || !calls("USER_END").is_empty()));
    let end: Vec<String> = calls("USER_END")[0].split('\n').map(String::from).collect();
    assert_eq!(end.len(), 12, "{end:?}");
    assert_eq!(
        (
            end[0].as_str(),
            end[1].as_str(),
            end[2].as_str(),
            end[3].as_str()
        ),
        ("ender", "bw", "FLV", "127.0.0.1")
    );
    // Bytes up (what the viewer was sent, MistServer's sense), then bytes down.
    assert!(
        end[5].parse::<u64>().unwrap_or(0) > 10_000,
        "bytes up: {end:?}"
    );
    assert_eq!(end[11].len(), 64);
    // LIVE_BANDWIDTH: only the handler whose threshold the stream exceeds runs.
    assert!(eventually(Duration::from_secs(15), || !calls(
        "LIVE_BANDWIDTH"
    )
    .is_empty()));
    std::thread::sleep(Duration::from_secs(6));
    for c in calls("LIVE_BANDWIDTH") {
        let lines: Vec<&str> = c.split('\n').collect();
        assert_eq!(lines[0], "bw");
        let bps: u64 = lines[1].parse().expect("bytes per second");
        assert!(bps > 1000 && bps < 1_000_000_000, "{bps}");
    }
    // OUTPUT_STOP for a listener removed at run time.
    let port = free_port();
    let entry = json!({"connector": "HTTP", "port": port, "interface": "127.0.0.1"});
    ls.server.api2(json!({"addprotocol": entry.clone()}));
    ls.server.api2(json!({"deleteprotocol": entry.clone()}));
    assert!(eventually(Duration::from_secs(5), || calls("OUTPUT_STOP")
        .iter()
        .any(
            |c| serde_json::from_str::<Value>(c).ok() == Some(entry.clone())
        )));
    // SYSTEM_STOP said no: an API shutdown is cancelled.
    let v = ls.server.api2(json!({"shutdown": true}));
    assert_eq!(v["shutdown"], "Shutting down");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        ls.server.api2(json!({"ui_settings": 1}))["LTS"],
        1,
        "still running"
    );
    assert!(ls.server.api2(json!({"log": 1}))["log"]
        .to_string()
        .contains("SYSTEM_STOP handler cancelled"));
}

#[test]
fn stream_source_overrides_who_may_push() {
    let dir = tempfile::tempdir().expect("dir");
    let src = script(
        dir.path(),
        "source.sh",
        "cat > /dev/null; printf 'push://@override'",
    );
    let ls = LiveServer::start_with_outputs(json!({"src": {"source": "push://"}}), &["FLV"]);
    ls.server.api2(json!({"config": {"triggers": {"STREAM_SOURCE": [{"handler": src.to_string_lossy(), "sync": true}]}}}));
    let mut refused = publish(
        h264_clip(),
        &ls.rtmp_url("live", "src"),
        ls.server.dir.path(),
    );
    assert!(
        refused
            .wait_timeout(Duration::from_secs(15))
            .is_some_and(|s| !s.success()),
        "the overriding source wants a passphrase"
    );
    let _ok = publish(
        h264_clip(),
        &ls.rtmp_url("override", "src"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("src"), "{}", ls.server.stderr());
}
