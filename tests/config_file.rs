//! The config file: MistServer round trip, atomic saves on `save`, on SIGTERM and after a quiet
//! period, and a corrupt file that stops start-up and is left untouched.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read config")).expect("config is JSON")
}

/// A config as MistServer writes it, with keys Eddy does not know about.
fn mist_config(http: u16) -> String {
    json!({
        "account": {"test": {"password": md5_hex("test")}},
        "autopushes": [["live", "/tmp/live.flv"]],
        "auto_push": {"abc": {"stream": "live", "target": "/tmp/x.mp4"}},
        "bandwidth": {"exceptions": ["::1"], "limit": 0},
        "config": {
            "accesslog": "LOG",
            "controller": {"interface": null, "port": null, "username": null},
            "debug": null,
            "prometheus": "koekjes",
            "protocols": [{"connector": "HTTP", "port": http, "interface": "127.0.0.1", "pubaddr": ["http://cdn/"], "online": 1}],
            "serverid": "mist-1",
            "sessionViewerMode": 14,
            "tknMode": 15,
            "triggers": {"STREAM_BUFFER": [{"handler": "/bin/true", "sync": false, "streams": [], "params": "", "default": ""}]},
            "trustedproxy": []
        },
        "extwriters": [["s3", "s3up", ["s3"]]],
        "push_settings": {"maxspeed": 0, "wait": 3},
        "streamkeys": {"key1": "live"},
        "streams": {"live": {"name": "live", "source": "push://", "DVR": 50000, "stop_sessions": false, "online": 1, "error": "Available"}},
        "ui_settings": {"sortstreams": "name"},
        "variables": {"v": {"value": "1"}}
    })
    .to_string()
}

#[test]
fn mistserver_config_round_trips() {
    let http = free_port();
    let original: Value = serde_json::from_str(&mist_config(http)).expect("json");
    let s = Server::start(Some(&mist_config(http)));
    let v = s.api2(json!({"save": true, "config": true}));
    assert_eq!(v["config"]["serverid"], "mist-1");
    let written = read_json(&s.config_path());

    // Unknown keys survive, at every level.
    for key in [
        "autopushes",
        "auto_push",
        "bandwidth",
        "extwriters",
        "streamkeys",
        "variables",
        "ui_settings",
        "push_settings",
    ] {
        assert_eq!(written[key], original[key], "top-level {key}");
    }
    for key in [
        "sessionViewerMode",
        "tknMode",
        "triggers",
        "trustedproxy",
        "prometheus",
        "accesslog",
        "serverid",
    ] {
        assert_eq!(
            written["config"][key], original["config"][key],
            "config.{key}"
        );
    }
    assert_eq!(
        written["config"]["protocols"][0]["pubaddr"],
        json!(["http://cdn/"])
    );
    assert_eq!(written["streams"]["live"]["DVR"], 50000);
    assert_eq!(written["streams"]["live"]["stop_sessions"], false);
    assert_eq!(written["account"], original["account"]);
    // Runtime-only keys are not written.
    assert!(written["config"]["protocols"][0].get("online").is_none());
    assert!(written["streams"]["live"].get("online").is_none());
    assert!(written["streams"]["live"].get("error").is_none());
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(s.dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

#[test]
fn saved_on_sigterm_and_loaded_again() {
    let mut s = Server::start(Some(&config_with_account(free_port())));
    let before = std::fs::read(s.config_path()).expect("config");
    s.api2(json!({"addstream": {"kept": {"source": "push://", "DVR": 12345}}}));
    // Not yet written: changes wait for the quiet period (an hour in this test).
    assert_eq!(std::fs::read(s.config_path()).expect("config"), before);
    let status = s.terminate();
    assert!(status.success(), "{status:?}");
    assert_eq!(read_json(&s.config_path())["streams"]["kept"]["DVR"], 12345);

    s.restart();
    let v = s.api2(json!({"streams": 1}));
    assert_eq!(v["streams"]["kept"]["DVR"], 12345);
}

#[test]
fn saved_after_changes_go_quiet() {
    let cfg = config_with_account(free_port());
    let s = Server::start_with(Options {
        config: Some(&cfg),
        autosave_secs: 1,
        ..Default::default()
    });
    s.api2(json!({"addstream": {"quiet": {"source": "push://"}}}));
    assert!(eventually(Duration::from_secs(10), || {
        read_json(&s.config_path())["streams"]
            .get("quiet")
            .is_some()
    }));
}

#[test]
fn corrupt_config_stops_startup_and_is_not_touched() {
    for bad in [
        &b"{\"streams\": {\"live\": "[..],
        b"[1,2,3]",
        b"{\"streams\": 7}",
        b"\x00\xff garbage",
    ] {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("config.json");
        std::fs::write(&path, bad).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_eddy"))
            .current_dir(dir.path())
            .args([
                "-c",
                "config.json",
                "-p",
                &free_port().to_string(),
                "-i",
                "127.0.0.1",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run eddy");
        assert!(!out.status.success(), "must refuse {bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("config.json") && err.contains("refusing to start"),
            "{err}"
        );
        assert_eq!(
            std::fs::read(&path).expect("read"),
            bad,
            "file left untouched"
        );
    }
}

#[test]
fn first_start_enables_default_protocols_and_writes_on_exit() {
    let mut s = Server::start(None);
    let v = s.api2(json!({"config": true}));
    let protos = v["config"]["protocols"]
        .as_array()
        .expect("protocols")
        .clone();
    assert!(
        protos.iter().any(|p| p["connector"] == "HTTP"),
        "{protos:?}"
    );
    assert!(
        !s.config_path().exists(),
        "nothing written before the quiet period or exit"
    );
    s.terminate();
    assert!(read_json(&s.config_path())["config"]["protocols"]
        .to_string()
        .contains("HTTP"));
}
