//! Login, the first-time set-up, the Overview and the Protocols panels.

use std::net::TcpStream;

use serde_json::{json, Value};

use crate::common::{self, free_port, Server};
use crate::ui;

#[test]
fn first_time_set_up_from_a_remote_browser() {
    let http = free_port();
    // No account; the HTTP connector on a free port so the set-up's default protocols can start.
    let cfg = json!({"config": {"protocols": [{"connector": "HTTP", "port": http, "interface": "127.0.0.1"}]}, "streams": {}});
    let s = Server::start(Some(&cfg.to_string()));
    let report = ui(
        "login",
        s.port,
        json!({"mode": "setup", "remote": true, "user": "operator", "password": "s3cret!"}),
    );
    assert_eq!(report["who"], "Logged in as operator", "{report}");
    let c = s.api2(json!({"config": true}));
    // The account exists with MD5 of the password, as MistServer stores it.
    let saved = s.api2(json!({"save": true}));
    assert!(saved.get("authorize").is_some());
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(s.config_path()).expect("config written"))
            .expect("config JSON");
    assert_eq!(
        file["account"]["operator"]["password"],
        common::md5_hex("s3cret!")
    );
    // The default protocols were enabled: every connector with nothing required.
    let connectors: Vec<&str> = c["config"]["protocols"]
        .as_array()
        .expect("protocols")
        .iter()
        .filter_map(|p| p["connector"].as_str())
        .collect();
    for want in ["HTTP", "RTMP", "FLV", "HLS", "CMAF", "MP4", "HTTPTS"] {
        assert!(connectors.contains(&want), "{want} in {connectors:?}");
    }
    assert_eq!(
        connectors.iter().filter(|c| **c == "HTTP").count(),
        1,
        "no second HTTP entry: {connectors:?}"
    );
    let rows = report["protocolRows"].as_array().expect("rows");
    assert!(rows.len() >= connectors.len(), "{report}");
}

#[test]
fn login_overview_and_protocols() {
    let http = free_port();
    let s = Server::start(Some(&common::config_with_account(http)));
    let (rtmp, rtmp2) = (free_port(), free_port());
    let report = ui(
        "login",
        s.port,
        json!({"mode": "login", "remote": true, "rtmpPort": rtmp, "rtmpPort2": rtmp2}),
    );
    assert_eq!(report["menuHiddenAfterWrong"], true, "{report}");
    assert!(report["version"]
        .as_str()
        .is_some_and(|v| v.contains(eddy::VERSION)));
    // Overview: the name and debug level reached the server, and the forced save wrote them.
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(s.config_path()).expect("config written"))
            .expect("config JSON");
    assert_eq!(file["config"]["serverid"], "studio-east");
    assert_eq!(file["config"]["debug"], 4);
    // Protocols: added, moved to another port (the old one is free again), deleted.
    let rtmp_entries = |v: &Value| -> Vec<Value> {
        v.as_array()
            .expect("protocols")
            .iter()
            .filter(|p| p["connector"] == "RTMP")
            .cloned()
            .collect()
    };
    let added = rtmp_entries(&report["afterAdd"]);
    assert_eq!(added.len(), 1, "{report}");
    assert_eq!(added[0]["port"], rtmp);
    let edited = rtmp_entries(&report["afterEdit"]);
    assert_eq!(edited.len(), 1, "{report}");
    assert_eq!(edited[0]["port"], rtmp2);
    assert!(rtmp_entries(&report["afterDelete"]).is_empty(), "{report}");
    assert!(
        crate::wait_for(std::time::Duration::from_secs(5), || TcpStream::connect((
            "127.0.0.1",
            rtmp2
        ))
        .is_err()),
        "the deleted listener stopped"
    );
}

#[test]
fn a_local_browser_is_let_straight_in() {
    let s = Server::start(Some(&common::config_with_account(free_port())));
    let report = ui("login", s.port, json!({"mode": "local"}));
    assert_eq!(report["who"], "Local access", "{report}");
    assert_eq!(report["logoutHidden"], true);
}
