//! The Logs, Statistics and Server stats panels (manual §2.6-§2.8), with ffmpeg publishing and
//! playing: log lines arriving without a reload and their filters; the sessions table with its
//! "Tag session", "Stop tag" and "Stop session" actions disconnecting real viewers; the charts;
//! the machine's and Eddy's own figures.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{self, free_port, media, LiveServer, Server};
use crate::ui;

/// The ids of the FLV viewer sessions connected now.
fn flv_sessions(s: &Server) -> Vec<String> {
    let v = s.api2(json!({"clients": {"protocols": ["FLV"], "fields": ["sessid"]}}));
    v["clients"]["data"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r[0].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Starts a viewer and returns it with its session id (the FLV session that was not there
/// before).
fn viewer_session(live: &LiveServer, name: &str) -> (media::Ffmpeg, String) {
    let s = &live.server;
    let before = flv_sessions(s);
    let v = media::play_to_null(&live.flv_url("live"), s.dir.path());
    let mut id = None;
    assert!(
        crate::wait_for(Duration::from_secs(15), || {
            id = flv_sessions(s).into_iter().find(|x| !before.contains(x));
            id.is_some()
        }),
        "viewer {name} did not show in clients: {}",
        v.log()
    );
    (v, id.unwrap_or_default())
}

#[test]
fn logs_arrive_live_and_filter_by_kind_and_stream() {
    let live = LiveServer::start_full(
        json!({"live": {"source": "push://"}, "other": {"source": "push://"}}),
        &["FLV"],
        &[],
    );
    let s = &live.server;
    let clip = media::h264_clip();
    let report = ui(
        "logs",
        s.port,
        json!({"remote": true, "rtmp": live.rtmp_url("live", "live"), "clip": clip}),
    );
    // New lines came in without a reload, newest first.
    assert_eq!(report["notReloaded"], true, "{report}");
    assert_eq!(report["newestFirst"], true, "{report}");
    assert_eq!(report["publishedLine"]["stream"], "live", "{report}");
    // The kind filter lists the kinds seen (and the groups) and keeps only the chosen kind.
    let kinds = report["kinds"].as_array().expect("kinds");
    for k in ["", "@errors", "@problems", "CONF", "STRM"] {
        assert!(kinds.contains(&json!(k)), "{k} in {kinds:?}");
    }
    assert!(report["strmRows"].as_u64().unwrap_or(0) >= 1, "{report}");
    assert_eq!(report["confHasPublish"], false, "{report}");
    // Nothing went wrong on this server, so "errors and warnings" is empty.
    assert_eq!(report["problemRows"], json!([]), "{report}");
    // The stream filter lists configured streams and those the lines name.
    let streams = report["streamOptions"].as_array().expect("streams");
    for want in ["live", "other", "logcam"] {
        assert!(streams.contains(&json!(want)), "{want} in {streams:?}");
    }
    let live_rows = report["liveRows"].as_array().expect("live rows");
    assert!(
        live_rows.iter().any(|r| r["message"]
            .as_str()
            .is_some_and(|m| m.contains("publishing live"))),
        "{report}"
    );
    assert!(
        !live_rows.iter().any(|r| r["message"]
            .as_str()
            .is_some_and(|m| m.contains("listening"))),
        "the start-up lines are about no stream: {report}"
    );
    assert_eq!(report["mentions"], json!([true, true, false, true]));
    // Pause held the new line back; resume showed it.
    assert_eq!(report["hiddenWhilePaused"], true, "{report}");
    assert_eq!(report["shownAfterResume"], true, "{report}");

    // The lines the page showed are the server's.
    let log = s.api2(json!({"log": true}));
    let lines: Vec<&str> = log["log"]
        .as_array()
        .expect("log")
        .iter()
        .filter_map(|e| e[2].as_str())
        .collect();
    for shown in [&report["publishedLine"], &report["addedLine"]] {
        let m = shown["message"].as_str().expect("message");
        assert!(lines.contains(&m), "{m} in {lines:?}");
    }
}

#[test]
fn sessions_are_listed_tagged_and_stopped_from_the_statistics_panel() {
    let live = LiveServer::start_full(json!({"live": {"source": "push://"}}), &["FLV"], &[]);
    let s = &live.server;
    let mut publisher = media::publish(
        media::h264_clip(),
        &live.rtmp_url("live", "live"),
        s.dir.path(),
    );
    assert!(live.wait_online("live"), "{}", s.stderr());
    let (mut a, a_id) = viewer_session(&live, "viewer-a");
    let (mut b, b_id) = viewer_session(&live, "viewer-b");
    assert_ne!(a_id, b_id);

    let report = ui(
        "stats",
        s.port,
        json!({
            "remote": true,
            "viewerA": {"sessid": a_id, "pid": a.child.id()},
            "viewerB": {"sessid": b_id, "pid": b.child.id()},
            "publisher": {"pid": publisher.child.id()},
        }),
    );

    // The table listed both viewers with their protocol and host, and the publisher.
    for row in [&report["rowA"], &report["rowB"]] {
        assert_eq!(row[1], "live", "{report}");
        assert_eq!(row[2], "FLV", "{report}");
        assert_eq!(row[3], "127.0.0.1", "{report}");
    }
    let rows = report["rows"].as_array().expect("rows");
    assert!(
        rows.iter().any(|r| r[2] == "INPUT:RTMP"),
        "the publisher's session: {report}"
    );
    // The viewers chart drew two viewers, above its zero line.
    let line = &report["viewersLine"];
    assert!(line["above"].as_u64().unwrap_or(0) >= 1, "{report}");
    assert_eq!(report["viewersFigure"], "2", "{report}");
    // Tagging: the form refused an empty tag and one with brackets, then tagged A only.
    assert!(report["emptyTagMessage"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert!(report["rowATagged"][7]
        .as_str()
        .is_some_and(|t| t.contains("vip-a")));
    assert!(!report["rowBAfterTag"][7]
        .as_str()
        .is_some_and(|t| t.contains("vip-a")));
    // ... and the API saw the tag on A's session (Eddy's `tags` field of `clients`).
    let api = &report["apiTags"];
    assert_eq!(api["fields"], json!(["sessid", "tags"]), "{report}");
    let tagged: Vec<&Value> = api["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|r| r[1].as_array().is_some_and(|t| t.contains(&json!("vip-a"))))
        .collect();
    assert_eq!(tagged.len(), 1, "{report}");
    assert_eq!(tagged[0][0], json!(a_id));
    // Stop tag took A (only), Stop session took B; the publisher stayed.
    assert_eq!(
        report["aliveBeforeStopTag"],
        json!({"a": true, "b": true}),
        "{report}"
    );
    assert_eq!(
        report["afterStopTag"],
        json!({"a": false, "b": true, "rowB": true}),
        "{report}"
    );
    assert_eq!(
        report["afterStopSession"],
        json!({"b": false, "publisher": true}),
        "{report}"
    );
    assert!(a.wait_timeout(Duration::from_secs(5)).is_some(), "A exited");
    assert!(b.wait_timeout(Duration::from_secs(5)).is_some(), "B exited");
    assert!(publisher.child.try_wait().expect("wait").is_none());
    assert_eq!(report["hash"], "#statistics/live");
    // The server agrees: neither viewer is connected.
    let left = flv_sessions(s);
    assert!(!left.contains(&a_id) && !left.contains(&b_id), "{left:?}");
}

#[test]
fn server_stats_chart_the_machine_and_eddy() {
    let s = Server::start(Some(&common::config_with_account(free_port())));
    // A local browser: let straight in.
    let report = ui("stats_server", s.port, json!({}));
    for chart in ["cpu", "mem", "rss", "load"] {
        assert!(
            report["chartPoints"][chart].as_u64().unwrap_or(0) >= 3,
            "{chart}: {report}"
        );
    }
    let lines = report["lines"].as_array().expect("lines");
    for series in ["Machine", "Eddy", "Used", "1 min"] {
        assert!(lines.contains(&json!(series)), "{series} in {lines:?}");
    }
    // Eddy's uptime advanced while the page looked.
    let (u0, u1) = (
        report["uptime0"].as_u64().unwrap_or(0),
        report["uptime1"].as_u64().unwrap_or(0),
    );
    assert!(u1 > u0, "{u0} -> {u1}");
    // The measurements are plausible, and the resident memory is the process's.
    let history = report["history"].as_array().expect("history");
    let pid = s.child.as_ref().expect("running").id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let rss_now: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .expect("VmRSS")
        * 1024.0;
    for p in history {
        let num = |k: &str| p[k].as_f64().unwrap_or(-1.0);
        assert!(num("used") > 0.0 && num("used") <= num("total"), "{p}");
        assert!((0.0..=100.0).contains(&num("cpu")), "{p}");
        assert!(num("load1") >= 0.0, "{p}");
        let rss = num("rss");
        assert!(
            rss > rss_now / 3.0 && rss < rss_now * 3.0,
            "{rss} vs {rss_now}"
        );
    }
    // Eddy's own CPU share comes from the change in its CPU seconds between looks.
    let eddy: Vec<f64> = history
        .iter()
        .filter_map(|p| p["eddyCpu"].as_f64())
        .collect();
    assert!(!eddy.is_empty(), "{report}");
    assert!(eddy.iter().all(|c| (0.0..=100.0).contains(c)), "{eddy:?}");
    assert!(report["figures"]["server-fig-rss"]
        .as_str()
        .is_some_and(|f| f.contains("MiB")));
    // The chart draws three runs: two points, a lone point between a gap and a null (a dot),
    // and two points after the null.
    assert_eq!(
        report["chartGaps"],
        json!({"moves": 3, "dots": 1}),
        "{report}"
    );
    assert_eq!(
        report["totalsPoints"],
        json!([[1000, 10], [1010, 20], [1011, 30]])
    );
    assert_eq!(report["totalsNull"], json!([]));
    let kept = &report["keptPoints"];
    assert!(kept["after"].as_u64() > kept["before"].as_u64(), "{report}");
}
