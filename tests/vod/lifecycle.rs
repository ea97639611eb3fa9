//! An on-demand stream's life: its index stored and reused, broken files, triggers, a source
//! chosen by STREAM_SOURCE, and recordings played back.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::handler::HandlerServer;
use crate::common::media::{h264_clip, probe_file, publish};
use crate::common::{eventually, LiveServer};
use crate::{assert_same_media, download, file, probe, scratch, server, stream, streams, FRAME};

/// The log lines of the server that mention `what`.
fn log_lines(ls: &LiveServer, what: &str) -> Vec<String> {
    ls.server
        .stderr()
        .lines()
        .filter(|l| l.contains(what))
        .map(String::from)
        .collect()
}

/// The `N` of "in N ms" in a log line.
fn millis_in(line: &str) -> f64 {
    line.split(" in ")
        .nth(1)
        .and_then(|rest| rest.split(" ms").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no time in {line:?}"))
}

#[test]
fn the_index_is_stored_beside_the_file_and_reused_until_the_file_changes() {
    let dir = scratch();
    let clip = dir.path().join("clip.mp4");
    std::fs::copy(file("av.mp4"), &clip).expect("copy");
    let ls = server(streams(&[("a", &clip), ("b", &clip), ("c", &clip)]));
    let out = dir.path().join("out.flv");
    assert_eq!(download(&ls, "/a.flv?start=18000", &out), 200);
    let stored = dir.path().join("clip.mp4.eddyidx");
    assert!(stored.exists(), "{}", ls.server.stderr());
    let first = log_lines(&ls, "clip.mp4 indexed in");
    assert_eq!(first.len(), 1, "{}", ls.server.stderr());
    assert!(first[0].contains("index stored as") && first[0].contains(".eddyidx"));
    // Another stream of the same file opens with the stored index, fast.
    assert_eq!(download(&ls, "/b.flv?start=18000", &out), 200);
    let again = log_lines(&ls, "opened with its stored index");
    assert_eq!(again.len(), 1, "{}", ls.server.stderr());
    let ms = millis_in(&again[0]);
    assert!(ms < 100.0, "opening with the stored index took {ms} ms");
    assert!(ms < millis_in(&first[0]), "{again:?} vs {first:?}");
    // A file that changed (another modification time) is indexed again.
    let touched = std::process::Command::new("touch")
        .args(["-d", "2020-01-01 00:00:00"])
        .arg(&clip)
        .status()
        .expect("touch");
    assert!(touched.success());
    assert_eq!(download(&ls, "/c.flv?start=18000", &out), 200);
    let changed = log_lines(&ls, "clip.mp4 indexed again (");
    assert_eq!(changed.len(), 1, "{}", ls.server.stderr());
}

#[test]
fn broken_files_leave_their_stream_offline_and_the_server_serving() {
    let dir = scratch();
    let garbage = dir.path().join("garbage.mp4");
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, &noise).expect("write");
    let cut = dir.path().join("cut.mp4");
    let whole = std::fs::read(file("av.mp4")).expect("read");
    std::fs::write(&cut, &whole[..whole.len() * 6 / 10]).expect("write");
    let empty = dir.path().join("empty.flv");
    std::fs::write(&empty, b"").expect("write");
    let missing = dir.path().join("missing.mp4");
    let ls = server(streams(&[
        ("garbage", &garbage),
        ("cut", &cut),
        ("empty", &empty),
        ("missing", &missing),
        ("good", &file("av.flv")),
    ]));
    let out = dir.path().join("out.flv");
    for name in ["garbage", "cut", "empty", "missing"] {
        for _ in 0..2 {
            assert_eq!(download(&ls, &format!("/{name}.flv"), &out), 404, "{name}");
        }
        let body = std::fs::read_to_string(&out).expect("body");
        assert!(body.contains("is offline:"), "{name}: {body}");
        let lines = log_lines(&ls, &format!("Stream {name} cannot play"));
        assert_eq!(
            lines.len(),
            1,
            "{name}: one clear line: {}",
            ls.server.stderr()
        );
    }
    let v = ls.server.api(json!({"streams": true}));
    for name in ["garbage", "cut", "empty", "missing"] {
        let s = &v["streams"][name];
        assert_eq!(s["online"], 0, "{name}: {s}");
        let error = s["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("Stream offline: "), "{name}: {s}");
    }
    assert!(v["streams"]["missing"]["error"]
        .as_str()
        .is_some_and(|e| e.contains("Not found")));
    // json_ tells the viewer's page, and the good stream plays on.
    let url = format!("http://127.0.0.1:{}/json_garbage.js", ls.http);
    let info: Value = reqwest::blocking::get(url)
        .expect("get")
        .json()
        .expect("JSON");
    assert!(info["error"].is_string(), "{info}");
    assert_eq!(download(&ls, "/good.flv", &out), 200);
    assert_eq!(probe(&out).len(), 2);
}

#[test]
fn load_ready_unload_and_source_triggers_fire_for_files() {
    let flv = file("av.flv");
    let h = HandlerServer::start(&[("STREAM_SOURCE", &flv.to_string_lossy())]);
    let triggers = json!({
        "STREAM_LOAD": [{"handler": h.url(), "sync": true}],
        "STREAM_READY": [{"handler": h.url(), "sync": false}],
        "STREAM_UNLOAD": [{"handler": h.url(), "sync": false}],
        "STREAM_SOURCE": [{"handler": h.url(), "sync": true, "streams": ["dyn"]}],
    });
    let mut all = streams(&[("film", &file("av.mp4"))]);
    all["dyn"] = json!({"source": "push://"});
    let ls = server(all);
    ls.server.api2(json!({"config": {"triggers": triggers}}));
    let dir = scratch();
    let out = dir.path().join("out.flv");
    assert_eq!(download(&ls, "/film.flv?start=18000", &out), 200);
    let bodies = |t: &str| -> Vec<String> { h.calls_for(t).into_iter().map(|c| c.body).collect() };
    assert!(
        eventually(Duration::from_secs(5), || bodies("STREAM_READY")
            .contains(&"film\nMP4".to_string())),
        "{:?}",
        bodies("STREAM_READY")
    );
    assert!(bodies("STREAM_LOAD").contains(&"film".to_string()));
    // A stream whose STREAM_SOURCE handler names a file plays that file.
    assert_eq!(download(&ls, "/dyn.flv", &out), 200);
    assert_same_media("STREAM_SOURCE file", &probe(&out), &probe(&flv));
    assert!(eventually(Duration::from_secs(5), || bodies(
        "STREAM_READY"
    )
    .contains(&"dyn\nFLV".to_string())));
    // Without viewers the stream unloads after a while (15 s).
    assert!(
        eventually(Duration::from_secs(30), || bodies("STREAM_UNLOAD")
            .contains(&"film\nMP4".to_string())),
        "{:?}",
        bodies("STREAM_UNLOAD")
    );
    let v = ls.server.api2(json!({"active_streams": true}));
    assert!(
        !v["active_streams"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("film"))),
        "{v}"
    );
}

/// Each track's span as `json_` tells it (`lastms - firstms`, s), by ffprobe's codec name.
fn json_spans(ls: &LiveServer, name: &str) -> Vec<(String, f64)> {
    let url = format!("http://127.0.0.1:{}/json_{name}.js", ls.http);
    let v: Value = reqwest::blocking::get(url)
        .expect("get")
        .json()
        .expect("JSON");
    assert_eq!(v["type"], "vod", "{v}");
    let tracks = v["meta"]["tracks"].as_object().expect("tracks");
    tracks
        .values()
        .map(|t| {
            let codec = t["codec"].as_str().unwrap_or("?").to_ascii_lowercase();
            let span = t["lastms"].as_i64().unwrap_or(0) - t["firstms"].as_i64().unwrap_or(0);
            (codec, span as f64 / 1000.0)
        })
        .collect()
}

#[test]
fn recordings_play_back_with_their_duration() {
    let dir = scratch();
    let names = ["rec.flv", "rec.ts", "rec.mp4"];
    let mut all = json!({"live": {"source": "push://"}});
    for n in names {
        all[n.replace('.', "_")] = json!({"source": dir.path().join(n).to_string_lossy()});
    }
    let ls = server(all);
    let _ff = publish(
        h264_clip(),
        &ls.rtmp_url("live", "live"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("live"), "{}", ls.server.stderr());
    for n in names {
        ls.server
            .api2(json!({"push_start": ["live", dir.path().join(n).to_string_lossy()]}));
    }
    std::thread::sleep(Duration::from_secs(7));
    ls.server.api2(json!({"push_stop": "live"}));
    let done = || {
        ls.server.api2(json!({"push_list": true}))["push_list"]
            .as_array()
            .is_none_or(Vec::is_empty)
    };
    assert!(eventually(Duration::from_secs(10), done));
    for n in names {
        let path = dir.path().join(n);
        let recorded = probe(&path);
        let name = n.replace('.', "_");
        // Each track lasts what ffprobe sees: its first to its last frame, and that frame.
        let spans = json_spans(&ls, &name);
        assert_eq!(spans.len(), 2, "{n}: {spans:?}");
        for (codec, span) in spans {
            let seen = stream(&recorded, &codec).span();
            assert!((5.0..9.0).contains(&span), "{n}: {codec} {span}");
            assert!(
                (0.0..=2.0 * FRAME).contains(&(span - seen)),
                "{n}: json_ says {codec} lasts {span} s, ffprobe sees {seen} s of frames"
            );
        }
        let duration = probe_file(&path).duration;
        assert!((5.0..9.0).contains(&duration), "{n}: {duration}");
        let out = dir.path().join(format!("{name}-played.flv"));
        assert_eq!(download(&ls, &format!("/{name}.flv"), &out), 200, "{n}");
        assert_same_media(n, &probe(&out), &recorded);
    }
}
