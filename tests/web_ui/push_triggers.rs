//! The Push and Triggers panels: automatic pushes recorded from a live ffmpeg publish and
//! stopped from the table, a one-off push, the push settings; trigger handlers added, edited
//! and removed through the form, with a real HTTP handler called when ffmpeg plays.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::handler::HandlerServer;
use crate::common::{media, LiveServer};
use crate::{ui, wait_for};

/// ffmpeg arguments publishing the test clip in a loop, in real time, to `url`.
fn publish_args(url: &str) -> Value {
    let clip = media::h264_clip().to_string_lossy().into_owned();
    json!([
        "-v",
        "error",
        "-re",
        "-stream_loop",
        "-1",
        "-i",
        clip,
        "-c",
        "copy",
        "-f",
        "flv",
        url
    ])
}

#[test]
fn automatic_and_one_off_pushes_record_and_stop_from_the_table() {
    let ls = LiveServer::start_full(json!({"live": {"source": "push://"}}), &["FLV"], &[]);
    let s = &ls.server;
    let rec = s.dir.path().join("rec");
    let report = ui(
        "push",
        s.port,
        json!({
            "remote": true,
            "recDir": rec,
            "publish": publish_args(&ls.rtmp_url("live", "live+cam")),
            "publishSkip": publish_args(&ls.rtmp_url("live", "live+skip")),
            "wait": 5,
            "maxspeed": 2,
        }),
    );
    // The forms refused what Eddy cannot do before sending it.
    assert!(report["badScheme"]
        .as_str()
        .is_some_and(|m| m.contains("ftp://")));
    assert!(report["badWait"]
        .as_str()
        .is_some_and(|m| m.contains("whole number")));
    assert_eq!(report["hintLink"], "#triggers/new/RECORDING_END");
    // The recording went where the form said, and is a valid, finished file.
    let auto = rec.join("auto/live+cam.mp4");
    assert_eq!(report["autoFile"], auto.to_string_lossy().as_ref());
    let probe = media::probe_file(&auto);
    assert_eq!(probe.codecs, vec!["h264", "aac"], "{report}");
    assert!(probe.duration >= 2.0, "{}", probe.duration);
    let manual = rec.join("manual-live.ts");
    assert_eq!(report["manualFile"], manual.to_string_lossy().as_ref());
    let probe = media::probe_file(&manual);
    assert_eq!(probe.codecs.len(), 2, "{report}");
    assert!(probe.duration >= 1.0, "{}", probe.duration);
    // Nothing of live+skip was recorded: the inhibit reached the server.
    assert!(!rec.join("auto/live+skip.mp4").exists());
    // The rule is gone, nothing runs, and the settings are what the form sent.
    assert_eq!(report["rulesLeft"], json!([]));
    let v = s.api2(json!({"push_auto_list": 1, "push_list": 1, "push_settings": 1}));
    assert_eq!(v["push_auto_list"], json!([]));
    assert_eq!(v["auto_push"], json!({}));
    assert_eq!(v["push_list"], json!([]), "{v}");
    assert_eq!(v["push_settings"], json!({"wait": 5, "maxspeed": 2}));
}

#[test]
fn trigger_handlers_are_added_called_edited_and_removed() {
    let ls = LiveServer::start_full(json!({"live": {"source": "push://"}}), &["FLV"], &[]);
    let s = &ls.server;
    // A legacy array entry (non-blocking) is already configured.
    s.api2(json!({"config": {"triggers": {"STREAM_ADD": [["/bin/true", true, []]]}}}));
    let handler = HandlerServer::start(&[]);
    let report = ui(
        "triggers",
        s.port,
        json!({"remote": true, "mode": "add", "handler": handler.url()}),
    );
    assert!(report["badHandler"]
        .as_str()
        .is_some_and(|m| m.contains("http://")));
    // The form wrote the whole object, the legacy entry in the object form.
    let c = s.api2(json!({"config": true}));
    assert_eq!(
        c["config"]["triggers"],
        json!({
            "STREAM_ADD": [{"handler": "/bin/true", "sync": false, "streams": [], "params": "", "default": ""}],
            "USER_NEW": [{"handler": handler.url(), "sync": true, "streams": ["live"], "params": "", "default": "false"}]
        }),
        "{report}"
    );
    // The handler is really called, with the payload the form documented, when a viewer plays.
    let _publisher = media::publish(
        media::h264_clip(),
        &ls.rtmp_url("live", "live"),
        s.dir.path(),
    );
    assert!(ls.wait_online("live"));
    let streams = media::probe_streams(&format!("{}?tkn=viewer42", ls.flv_url("live")));
    assert_eq!(streams.len(), 2);
    assert!(wait_for(Duration::from_secs(10), || !handler
        .calls_for("USER_NEW")
        .is_empty()));
    let call = &handler.calls_for("USER_NEW")[0];
    let lines: Vec<&str> = call.body.split('\n').collect();
    let documented = report["payloadLines"].as_array().expect("payload lines");
    assert_eq!(lines.len(), documented.len(), "{call:?} vs {documented:?}");
    assert_eq!(lines[0], "live");
    assert_eq!(lines[1], "127.0.0.1");
    assert_eq!(lines[2], "viewer42");
    assert_eq!(lines[3], "FLV");
    assert!(lines[4].contains("live.flv"), "{lines:?}");
    assert_eq!(lines[5].len(), 64, "a SHA-256 session id: {lines:?}");

    // Edit the default response, then remove the handler.
    let report = ui(
        "triggers",
        s.port,
        json!({"remote": true, "mode": "edit", "handler": handler.url()}),
    );
    assert_eq!(
        report["afterEdit"],
        json!([{"handler": handler.url(), "sync": true, "streams": ["live"], "params": "", "default": "true"}])
    );
    let c = s.api2(json!({"config": true}));
    assert_eq!(
        c["config"]["triggers"],
        json!({"STREAM_ADD": [{"handler": "/bin/true", "sync": false, "streams": [], "params": "", "default": ""}]})
    );
}
