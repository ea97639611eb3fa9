//! Every foundation API command, in each documented request form, against the real server.

mod common;

use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn local_server() -> (Server, u16) {
    let http = free_port();
    (Server::start(Some(&config_with_account(http))), http)
}

#[test]
fn transports_get_post_json_jsonp_and_ui() {
    let (s, _) = local_server();
    let c = &s.client;
    // GET with the command in the query string.
    let body = c
        .get(s.url("/api2"))
        .query(&[("command", r#"{"ui_settings":true}"#)])
        .send()
        .expect("get")
        .text()
        .expect("body");
    let v = parse_answer(&body);
    assert_eq!(v["ui_settings"], json!({}));
    assert_eq!(v["LTS"], 1);
    assert_eq!(v["authorize"]["status"], "OK");
    assert!(
        v.get("config").is_none() && v.get("streams").is_none() && v.get("log").is_none(),
        "{v}"
    );

    // Raw JSON body with exactly application/json.
    let resp = c
        .post(s.url("/api2"))
        .header("Content-Type", "application/json")
        .body(r#"{"ui_settings":{"a":1}}"#)
        .send()
        .expect("post json");
    assert_eq!(resp.headers()["content-type"], "text/javascript");
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        parse_answer(&resp.text().expect("body"))["ui_settings"],
        json!({"a": 1})
    );

    // /api gives full answers.
    let full = s.api(json!({}));
    for key in ["authorize", "LTS", "config", "streams", "log"] {
        assert!(full.get(key).is_some(), "{key} missing from {full}");
    }
    // minimal:1 on /api trims them.
    let min = s.api(json!({"minimal": 1}));
    assert!(min.get("config").is_none(), "{min}");

    // JSONP: callback, and jsonp winning over callback.
    let body = c
        .get(s.url("/api2"))
        .query(&[("command", r#"{"ui_settings":true}"#), ("callback", "cb")])
        .send()
        .expect("jsonp")
        .text()
        .expect("body");
    assert!(
        body.starts_with("cb({") && body.ends_with(");\n\n"),
        "{body:?}"
    );
    let body = c
        .get(s.url("/api2"))
        .query(&[("command", "{}"), ("callback", "cb"), ("jsonp", "jp")])
        .send()
        .expect("jsonp")
        .text()
        .expect("body");
    assert!(body.starts_with("jp({"), "{body:?}");

    // Any other path: the web UI without a command, the API with one.
    let resp = c.get(s.url("/")).send().expect("ui");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["x-info"],
        "To force an API response, request the file /api"
    );
    assert!(resp.text().expect("html").contains("<html"));
    let body = c
        .get(s.url("/whatever"))
        .query(&[("command", r#"{"minimal":1,"ui_settings":true}"#)])
        .send()
        .expect("api elsewhere")
        .text()
        .expect("body");
    assert_eq!(parse_answer(&body)["ui_settings"], json!({"a": 1}));
    // /api without a command still answers JSON.
    let body = c
        .get(s.url("/api"))
        .send()
        .expect("bare api")
        .text()
        .expect("body");
    assert_eq!(parse_answer(&body)["LTS"], 1);
}

#[test]
fn streams_addstream_deletestream() {
    let (s, _) = local_server();
    let v = s.api2(json!({"addstream": {"live": {"source": "push://"}, "Test-Stream-1": {"source": "push://"}}}));
    let streams = &v["streams"];
    assert_eq!(streams["incomplete list"], 1);
    assert_eq!(streams["live"]["name"], "live");
    assert_eq!(streams["live"]["source"], "push://");
    assert!(streams["live"]["online"].is_number());
    assert!(streams["live"]["error"].is_string());
    assert_eq!(
        streams["teststream1"]["name"], "teststream1",
        "manual §3.1 sanitising: {v}"
    );

    // Non-object `streams` only reads.
    let all = s.api2(json!({"streams": true}))["streams"].clone();
    let names: Vec<&String> = all.as_object().expect("object").keys().collect();
    assert_eq!(names, vec!["live", "teststream1"]);

    // Refused names change nothing.
    let v = s.api2(json!({"addstream": {"live+cam": {"source": "push://"}, "": {}, "x": 5}}));
    assert_eq!(v["streams"], json!({"incomplete list": 1}));
    let long = "a".repeat(101);
    s.api2(json!({"addstream": {long: {"source": "push://"}}}));
    assert_eq!(
        s.api2(json!({"streams": 0}))["streams"]
            .as_object()
            .map(|o| o.len()),
        Some(2)
    );

    // deletestream: string, array, object.
    s.api2(json!({"addstream": {"a": {"source": "push://"}, "b": {"source": "push://"}, "c": {"source": "push://"}}}));
    let v = s.api2(json!({"deletestream": "a"}));
    assert_eq!(v["streams"], json!({"incomplete list": 1}));
    s.api2(json!({"deletestream": ["b"]}));
    s.api2(json!({"deletestream": {"c": {}}}));
    let all = s.api2(json!({"streams": null}))["streams"].clone();
    assert_eq!(
        all.as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["live".to_string(), "teststream1".to_string()])
    );

    // `streams` with an object replaces the whole list.
    let v = s.api2(json!({"streams": {"only": {"source": "push://", "DVR": 30000}}}));
    assert_eq!(v["streams"].as_object().map(|o| o.len()), Some(1), "{v}");
    assert_eq!(v["streams"]["only"]["DVR"], 30000);
    assert!(v["streams"].get("incomplete list").is_none());
}

#[test]
fn config_and_protocols_start_and_stop_listeners() {
    let (s, http) = local_server();
    let v = s.api2(json!({"config": {"serverid": "edge-1", "triggers": {"USER_NEW": [{"handler": "http://127.0.0.1/x", "sync": true}]}}}));
    let cfg = &v["config"];
    assert_eq!(cfg["serverid"], "edge-1");
    assert_eq!(cfg["iid"].as_str().map(str::len), Some(16));
    assert!(cfg["version"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(cfg["time"].as_i64().is_some_and(|t| t > 1_600_000_000));
    assert_eq!(cfg["triggers"]["USER_NEW"][0]["sync"], true);
    assert_eq!(cfg["protocols"][0]["online"], 1, "{cfg}");
    assert!(TcpStream::connect(("127.0.0.1", http)).is_ok());

    // addprotocol: a second HTTP listener, and an unknown connector.
    let second = free_port();
    let entry = json!({"connector": "HTTP", "port": second, "interface": "127.0.0.1"});
    let v = s.api2(json!({"addprotocol": [entry.clone(), {"connector": "NOPE"}], "config": true}));
    let protos = v["config"]["protocols"]
        .as_array()
        .expect("protocols")
        .clone();
    assert_eq!(protos.len(), 3, "{protos:?}");
    assert_eq!(protos[1]["online"], 1);
    assert_eq!(protos[2]["online"], "Not installed");
    let resp = s
        .client
        .get(format!("http://127.0.0.1:{second}/nothing"))
        .send()
        .expect("http output");
    assert_eq!(resp.status(), 415);
    // Adding the same entry again is a silent no-op.
    let v = s.api2(json!({"addprotocol": entry.clone(), "config": true}));
    assert_eq!(v["config"]["protocols"].as_array().map(Vec::len), Some(3));

    // updateprotocol moves it to another port.
    let third = free_port();
    let moved = json!({"connector": "HTTP", "port": third, "interface": "127.0.0.1"});
    let v = s.api2(json!({"updateprotocol": [entry.clone(), moved.clone()], "config": true}));
    assert_eq!(v["config"]["protocols"][1]["port"], third);
    assert_eq!(v["config"]["protocols"][1]["online"], 1);
    assert!(eventually(Duration::from_secs(5), || TcpStream::connect((
        "127.0.0.1",
        second
    ))
    .is_err()));
    assert!(TcpStream::connect(("127.0.0.1", third)).is_ok());

    // deleteprotocol: single object form and array form.
    s.api2(json!({"deleteprotocol": moved}));
    assert!(eventually(Duration::from_secs(5), || TcpStream::connect((
        "127.0.0.1",
        third
    ))
    .is_err()));
    let v = s.api2(json!({"deleteprotocol": [{"connector": "NOPE"}], "config": true}));
    assert_eq!(v["config"]["protocols"].as_array().map(Vec::len), Some(1));

    // `config` with protocols replaces the list; an empty list stops everything.
    s.api2(json!({"config": {"protocols": []}}));
    assert!(eventually(Duration::from_secs(5), || TcpStream::connect((
        "127.0.0.1",
        http
    ))
    .is_err()));
}

#[test]
fn a_busy_port_reports_offline_and_recovers() {
    let (s, _) = local_server();
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").expect("blocker");
    let port = blocker.local_addr().expect("addr").port();
    let v = s.api2(json!({"addprotocol": {"connector": "HTTP", "port": port, "interface": "127.0.0.1"}, "config": 1}));
    assert_eq!(v["config"]["protocols"][1]["online"], 0, "{v}");
    assert!(s.api2(json!({"log": 1}))["log"]
        .to_string()
        .contains("not started"));
    drop(blocker);
    assert!(eventually(Duration::from_secs(10), || {
        s.api2(json!({"config": 1}))["config"]["protocols"][1]["online"] == 1
    }));
}

#[test]
fn capabilities_browse_ui_settings_update_stats() {
    let (s, _) = local_server();
    let v = s.api2(json!({"capabilities": true}));
    let caps = &v["capabilities"];
    assert_eq!(caps["connectors"]["HTTP"]["name"], "HTTP");
    let names: Vec<&String> = caps["connectors"]
        .as_object()
        .expect("connectors")
        .keys()
        .collect();
    assert_eq!(
        names,
        vec![
            "AAC", "CMAF", "DTSC", "FLV", "HLS", "HTTP", "HTTPTS", "MP3", "MP4", "OGG", "RTMP",
            "RTSP", "WAV"
        ],
        "only what Eddy implements"
    );
    assert!(caps["inputs"].is_object());
    assert!(
        caps["cpu"].as_array().is_some_and(|c| !c.is_empty()),
        "{caps}"
    );
    assert!(caps["mem"]["total"].as_u64().is_some_and(|t| t > 0));
    for k in ["one", "five", "fifteen", "memory"] {
        assert!(caps["load"][k].is_number(), "load.{k}");
    }
    assert!(
        caps["cpu_use"].is_number() && caps["threads"].is_number() && caps["speed"].is_number()
    );
    assert_eq!(
        s.api2(json!({"capabilities": "push://"}))["capabilities"],
        Value::Null
    );

    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("clip.mp4"), b"x").expect("file");
    std::fs::create_dir(dir.path().join("recordings")).expect("subdir");
    let v = s.api2(json!({"browse": dir.path().to_string_lossy()}));
    assert_eq!(v["browse"]["files"], json!(["clip.mp4"]));
    assert_eq!(v["browse"]["subdirectories"], json!(["recordings"]));
    assert_eq!(v["browse"]["path"].as_array().map(Vec::len), Some(1));
    let v = s.api2(json!({"browse": ""}));
    assert!(
        v["browse"]["files"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("config.json")) || f.contains(&json!("stderr.log"))),
        "{v}"
    );

    assert_eq!(
        s.api2(json!({"ui_settings": {"theme": "dark"}}))["ui_settings"],
        json!({"theme": "dark"})
    );
    assert_eq!(
        s.api2(json!({"ui_settings": 1}))["ui_settings"],
        json!({"theme": "dark"})
    );

    for cmd in ["update", "checkupdate", "autoupdate"] {
        let v = s.api2(json!({cmd: true}));
        assert!(
            v["update"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("no built-in updater")),
            "{v}"
        );
    }

    assert_eq!(
        s.api2(json!({"active_streams": true}))["active_streams"],
        json!([])
    );
    assert_eq!(
        s.api2(json!({"active_streams": ["clients", "lastms"]}))["active_streams"],
        json!({})
    );
    let v = s.api2(json!({"active_streams": {"fields": ["viewers"]}}));
    assert_eq!(
        v["active_streams"],
        json!({"fields": ["viewers"], "data": {}})
    );
    assert_eq!(
        s.api2(json!({"stats_streams": true}))["stats_streams"],
        json!([])
    );
    assert_eq!(
        s.api2(json!({"stats_streams": ["clients"]}))["stats_streams"],
        json!({})
    );
}

#[test]
fn unsaved_changes_and_the_process_figures() {
    let (s, _) = local_server();
    // The test wrote the config in its own layout; the same content is nothing unsaved.
    assert_eq!(
        s.api2(json!({"unsaved_changes": true}))["unsaved_changes"],
        false
    );
    let v = s.api2(json!({"addstream": {"fresh": {"source": "push://"}}, "unsaved_changes": 1}));
    assert_eq!(v["unsaved_changes"], true, "{v}");
    let v = s.api2(json!({"save": true, "unsaved_changes": 1}));
    assert_eq!(v["unsaved_changes"], false, "{v}");
    // Asked for nothing, it is not answered (MistServer's answers stay as they are).
    assert!(s
        .api2(json!({"config": true}))
        .get("unsaved_changes")
        .is_none());
    // The added stream is logged once (a STREAM_ADD dry run logs nothing).
    let log = s.api2(json!({"log": true}))["log"].to_string();
    assert_eq!(log.matches("Added stream fresh").count(), 1, "{log}");

    let first = s.api2(json!({"capabilities": true}))["capabilities"]["process"].clone();
    std::thread::sleep(Duration::from_millis(1100));
    let then = s.api2(json!({"capabilities": true}))["capabilities"]["process"].clone();
    assert!(
        then["uptime"].as_u64() > first["uptime"].as_u64(),
        "{first} {then}"
    );
    assert!(then["rss"].as_u64().is_some_and(|r| r > 1 << 20), "{then}");
    assert!(
        then["cpu_seconds"].as_f64() >= first["cpu_seconds"].as_f64(),
        "{then}"
    );
}

#[test]
fn log_and_clearstatlogs() {
    let (s, _) = local_server();
    s.api2(json!({"addstream": {"logged": {"source": "push://"}}}));
    let v = s.api2(json!({"log": true}));
    let log = v["log"].as_array().expect("log array").clone();
    let line = log
        .iter()
        .find(|l| l[2] == "Added stream logged")
        .unwrap_or_else(|| panic!("{log:?}"));
    assert_eq!(line[1], "CONF");
    assert_eq!(line[3], "logged");
    assert!(line[0].as_i64().is_some_and(|t| t > 1_600_000_000));
    // clearstatlogs answers with the log as it was, then empties it.
    let v = s.api2(json!({"log": 1, "clearstatlogs": true}));
    assert!(!v["log"].as_array().expect("log").is_empty());
    let v = s.api2(json!({"log": 1}));
    assert!(v["log"].as_array().expect("log").len() <= 1, "{v}");
    // The log keeps at most 100 lines.
    for i in 0..60 {
        s.api2(json!({"addstream": {format!("s{i}"): {"source": "push://"}, format!("t{i}"): {"source": "push://"}}}));
    }
    assert_eq!(
        s.api2(json!({"log": 1}))["log"].as_array().map(Vec::len),
        Some(100)
    );
}

#[test]
fn many_commands_in_one_request() {
    let (s, _) = local_server();
    let v = s.api2(json!({
        "addstream": {"multi": {"source": "push://"}},
        "ui_settings": {"x": 1},
        "config": {"serverid": "multi"},
        "capabilities": true,
        "active_streams": true,
        "nonsense_key": [1, 2, 3]
    }));
    assert_eq!(v["streams"]["multi"]["name"], "multi");
    assert_eq!(v["ui_settings"], json!({"x": 1}));
    assert_eq!(v["config"]["serverid"], "multi");
    assert!(v["capabilities"]["connectors"].is_object());
    assert_eq!(v["active_streams"], json!([]));
    assert!(v.get("nonsense_key").is_none());
}

#[test]
fn udp_api_runs_commands_without_replying() {
    let (s, _) = local_server();
    let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    sock.send_to(
        br#"{"addstream":{"viaudp":{"source":"push://"}}}"#,
        ("127.0.0.1", s.port),
    )
    .expect("send");
    sock.send_to(b"not json at all", ("127.0.0.1", s.port))
        .expect("send");
    assert!(eventually(Duration::from_secs(5), || s
        .api2(json!({"streams": 1}))["streams"]
        .get("viaudp")
        .is_some()));
    let mut buf = [0u8; 64];
    assert!(
        sock.recv_from(&mut buf).is_err(),
        "the UDP API sends no reply"
    );
}

#[test]
fn shutdown_from_a_local_caller_only() {
    let (mut s, _) = local_server();
    // A proxied caller is not local, even when logged in.
    let mut conn = RawConn::open(s.port);
    let ch = conn
        .post("/api2", &json!({}), "X-Forwarded-For: 203.0.113.9\r\n")
        .2;
    let challenge = parse_answer(&ch)["authorize"]["challenge"]
        .as_str()
        .expect("challenge")
        .to_string();
    let pw = md5_hex(&format!("{}{}", md5_hex("test"), challenge));
    let (_, _, body) = conn.post(
        "/api2",
        &json!({"authorize": {"username": "test", "password": pw}, "shutdown": true}),
        "X-Forwarded-For: 203.0.113.9\r\n",
    );
    assert_eq!(
        parse_answer(&body)["shutdown"],
        "Ignored - only local users may request shutdown"
    );
    assert!(TcpStream::connect(("127.0.0.1", s.port)).is_ok());

    let v = s.api2(json!({"shutdown": true}));
    assert_eq!(v["shutdown"], "Shutting down");
    let mut child = s.child.take().expect("child");
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

/// Every key MistServer's web UI reads is answered, `null` where Eddy has nothing (an absent
/// key makes the UI ask again and again, or throw).
#[test]
fn the_keys_mistservers_ui_reads_are_answered() {
    let (s, _) = local_server();
    let v = s.api2(json!({
        "capabilities": true, "streamkeys": true, "variable_list": true,
        "external_writer_list": true, "jwks": true, "bandwidth": true
    }));
    for key in [
        "streamkeys",
        "variable_list",
        "external_writer_list",
        "jwks",
    ] {
        assert_eq!(v.get(key), Some(&Value::Null), "{key}: {v}");
    }
    assert_eq!(v["bandwidth"]["limit"], json!(0));
    assert!(v["bandwidth"]["exceptions"]
        .as_array()
        .is_some_and(|e| e.contains(&json!("127.0.0.0/8"))));
    let user_new = &v["capabilities"]["triggers"]["USER_NEW"];
    assert!(
        user_new["payload"].is_string() && user_new["response"].is_string(),
        "{v}"
    );

    // Adding a variable is refused with a warning and stores nothing; bandwidth is stored.
    let v = s.api2(json!({"variable_add": ["x", "1"], "bandwidth": {"limit": 125000}}));
    assert_eq!(v["variable_list"], Value::Null);
    assert_eq!(v["bandwidth"]["limit"], json!(125000));
    let log = s.api2(json!({"log": true}))["log"].to_string();
    assert!(log.contains("variable_add ignored"), "{log}");
    s.api2(json!({"save": true}));
    let saved: Value =
        serde_json::from_slice(&std::fs::read(s.config_path()).expect("config")).expect("json");
    assert_eq!(saved["bandwidth"]["limit"], json!(125000));
}
