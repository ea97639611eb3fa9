//! Statistics against real peers: ffmpeg publishes over RTMP and plays over RTMP, HTTP-FLV,
//! progressive TS, HLS and CMAF (HLS over fMP4); `clients`, `totals`, `active_streams` and `stats_streams` must show them with plausible
//! rates; the access log gets a line per ended visit; Prometheus text is parsed by the real
//! `prometheus_client` parser (PyPI; `./test.sh` installs it).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::media::{self, Ffmpeg};
use common::{eventually, LiveServer};
use serde_json::{json, Value};

/// The rows of a `clients` answer as objects keyed by field name.
fn rows(answer: &Value) -> Vec<serde_json::Map<String, Value>> {
    let fields: Vec<String> = answer["fields"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    answer["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|row| {
                    fields
                        .iter()
                        .cloned()
                        .zip(row.as_array().cloned().unwrap_or_default())
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn viewer(url: &str, out: &Path, dir: &Path) -> Ffmpeg {
    media::record(Path::new("ffmpeg"), url, 120, out, dir)
}

/// Parses Prometheus text with `prometheus_client` and returns `[name, labels, value]` per
/// sample; panics with the parser's error when the text does not parse.
fn parse_prometheus(text: &str) -> Vec<Value> {
    let script = r#"
import json, sys
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit("prometheus_client is missing; ./test.sh installs it from PyPI")
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append([s.name, s.labels, s.value])
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write");
    }
    let out = child.wait_with_output().expect("parser");
    assert!(
        out.status.success(),
        "prometheus_client could not parse the text: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("parser output")
}

fn sample(samples: &[Value], name: &str, labels: Value) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s[0] == name
                && labels
                    .as_object()
                    .is_some_and(|want| want.iter().all(|(k, v)| s[1][k] == *v))
        })
        .and_then(|s| s[2].as_f64())
}

#[test]
fn viewers_of_every_output_show_in_clients_totals_prometheus_and_the_access_log() {
    let ls = LiveServer::start_full(
        json!({"live": {"source": "push://"}}),
        &["FLV", "HLS", "CMAF", "HTTPTS"],
        &["--prometheus", "scrape"],
    );
    let s = &ls.server;
    let dir = s.dir.path();
    let access_log = dir.join("access.log");
    s.api2(json!({"config": {"accesslog": access_log.to_string_lossy()}}));
    let _publisher = media::publish(media::h264_clip(), &ls.rtmp_url("live", "live"), dir);
    assert!(ls.wait_online("live"), "{}", s.stderr());

    let hls = format!("http://127.0.0.1:{}/hls/live/index.m3u8", ls.http);
    let mut flv = viewer(&ls.flv_url("live"), &dir.join("v.flv"), dir);
    let _rtmp = viewer(&ls.rtmp_url("play", "live"), &dir.join("r.flv"), dir);
    let _hls = viewer(&hls, &dir.join("h.ts"), dir);
    let base = format!("http://127.0.0.1:{}", ls.http);
    let _ts = viewer(&format!("{base}/live.ts"), &dir.join("t.ts"), dir);
    // Two ffmpeg HLS players on one host share a session unless a token tells them apart.
    let cmaf = format!("{base}/cmaf/live/index.m3u8?tkn=second");
    let _cmaf = viewer(&cmaf, &dir.join("c.ts"), dir);

    // Every viewer and the publisher appear, with byte counts that grow at the stream's rate.
    let mut seen = Vec::new();
    let all_there = eventually(Duration::from_secs(30), || {
        seen = rows(&s.api2(json!({"clients": {"time": -2}}))["clients"]);
        let protocols: Vec<&str> = seen
            .iter()
            .filter_map(|r| r.get("protocol").and_then(Value::as_str))
            .collect();
        ["RTMP", "FLV", "HLS", "CMAF", "HTTPTS", "INPUT:RTMP"]
            .iter()
            .all(|p| protocols.contains(p))
            && seen.iter().all(|r| r["conntime"].as_i64() >= Some(3))
    });
    assert!(all_there, "{seen:?}\n{}", s.stderr());
    let rate = |proto: &str, field: &str| {
        seen.iter()
            .find(|r| r["protocol"] == proto)
            .and_then(|r| r[field].as_u64())
            .unwrap_or(0)
    };
    // MistServer's sense, from the server's side: a publisher's bytes are its `down`, a
    // viewer's its `up`.
    let input = rate("INPUT:RTMP", "downbps");
    assert!(input > 5_000, "publisher rate {input} B/s: {seen:?}");
    assert!(rate("INPUT:RTMP", "upbps") < input / 10, "{seen:?}");
    for proto in ["RTMP", "FLV"] {
        let sent = rate(proto, "upbps");
        assert!(
            sent > input / 3 && sent < input * 3,
            "{proto} viewer at {sent} B/s, publisher at {input} B/s: {seen:?}"
        );
    }
    assert!(rate("HLS", "up") > 0, "{seen:?}");
    assert!(rate("CMAF", "up") > 0, "{seen:?}");
    assert!(rate("HTTPTS", "upbps") > input / 3, "{seen:?}");
    for r in &seen {
        assert_eq!(r["stream"], "live");
        assert_eq!(r["host"], "127.0.0.1");
        let id = r["sessid"].as_str().unwrap_or("");
        assert!(id.len() >= 64, "{r:?}");
    }
    let rtmp_row = seen.iter().find(|r| r["protocol"] == "RTMP").expect("row");
    assert!(rtmp_row["pktcount"].as_u64() > Some(10), "{rtmp_row:?}");
    assert!(rtmp_row["position"].as_u64() >= Some(1), "{rtmp_row:?}");

    // Totals: the last ten seconds, one point a second.
    let t = s.api2(
        json!({"totals": {"start": -10, "fields": ["clients", "inputs", "downbps", "upbps"]}}),
    );
    let t = &t["totals"];
    assert_eq!(
        t["fields"],
        json!(["clients", "inputs", "downbps", "upbps"])
    );
    let data = t["data"].as_array().expect("data");
    assert!(data.len() >= 5, "{t}");
    let gaps: u64 = t["interval"]
        .as_array()
        .expect("interval")
        .iter()
        .map(|g| g[0].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(gaps as usize, data.len() - 1, "{t}");
    let last = &data[data.len() - 2];
    assert!(last[0].as_u64() >= Some(5), "viewers: {t}");
    assert_eq!(last[1], 1, "one input: {t}");
    assert!(
        last[3].as_u64() > Some(input),
        "three viewers take more than one publisher sends: {t}"
    );
    assert!(last[2].as_u64() > Some(5_000), "{t}");
    assert!(t["end"].as_i64() > t["start"].as_i64());

    // The stream's own figures.
    let a = s.api2(json!({"active_streams": {"longform": true}, "stats_streams": true}));
    let live = &a["active_streams"]["live"];
    assert!(live["viewers"].as_u64() >= Some(5), "{a}");
    assert_eq!(live["inputs"], 1, "{a}");
    assert!(live["lastms"].as_i64() > Some(1000), "{a}");
    assert!(live["upbytes"].as_u64() > Some(10_000), "{a}");
    assert!(live["downbytes"].as_u64() > Some(10_000), "{a}");
    assert_eq!(a["stats_streams"], json!(["live"]));

    // A recording is an output session.
    let rec = dir.join("rec.ts");
    s.api2(json!({"push_start": {"stream": "live", "target": rec.to_string_lossy()}}));
    let mut out_rows = Vec::new();
    let recorded = eventually(Duration::from_secs(15), || {
        let c = s.api2(json!({"clients": {"time": -2, "protocols": ["OUTPUT"]}}));
        out_rows = rows(&c["clients"]);
        let t = s.api2(json!({"totals": {"start": -3, "fields": ["outputs"]}}));
        let outputs = t["totals"]["data"]
            .as_array()
            .and_then(|d| d.last().cloned())
            .unwrap_or_default();
        out_rows.iter().any(|r| {
            r["protocol"]
                .as_str()
                .is_some_and(|p| p.starts_with("OUTPUT:"))
                && r["up"].as_u64() > Some(0)
        }) && outputs[0].as_u64() >= Some(1)
    });
    assert!(recorded, "{out_rows:?}\n{}", s.stderr());

    // Prometheus text, parsed by a real parser; JSON with the same figures.
    let resp = s.client.get(s.url("/scrape")).send().expect("scrape");
    assert_eq!(resp.status(), 200);
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let text = resp.text().expect("text");
    assert!(text.contains("# HELP mist_sessions "), "{text}");
    // (The parser names counter samples `NAME_total`.)
    let samples = parse_prometheus(&text);
    let viewers = sample(
        &samples,
        "mist_sessions",
        json!({"stream": "live", "sessType": "viewers"}),
    );
    assert!(viewers >= Some(3.0), "{text}");
    assert_eq!(
        sample(
            &samples,
            "mist_sessions",
            json!({"stream": "live", "sessType": "incoming"})
        ),
        Some(1.0)
    );
    assert!(
        sample(&samples, "mist_outputs", json!({"output": "HLS"})) >= Some(1.0),
        "{text}"
    );
    assert!(
        sample(&samples, "process_resident_memory_bytes", json!({})) > Some(1e6),
        "{text}"
    );
    assert!(
        sample(&samples, "process_cpu_seconds_total", json!({})) > Some(0.0),
        "{text}"
    );
    assert!(
        sample(&samples, "eddy_fanout_latency_seconds_count", json!({})) > Some(0.0),
        "{text}"
    );
    assert!(
        sample(
            &samples,
            "mist_bw_total",
            json!({"stream": "live", "direction": "up"})
        ) > Some(0.0)
    );
    // The ffmpeg FLV and RTMP viewers keep up, so the stream's fan-out writes to them (a
    // viewer is handed back to its own task now and then, so look a few times).
    let mut fanout = None;
    assert!(
        eventually(Duration::from_secs(10), || {
            let text = s
                .client
                .get(s.url("/scrape"))
                .send()
                .and_then(|r| r.text())
                .unwrap_or_default();
            fanout = sample(&parse_prometheus(&text), "eddy_fanout_viewers", json!({}));
            fanout >= Some(2.0)
        }),
        "eddy_fanout_viewers: {fanout:?}"
    );
    let j: Value = s
        .client
        .get(s.url("/scrape.json"))
        .send()
        .and_then(|r| r.json())
        .expect("json");
    assert!(j["streams"]["live"]["curr"][0].as_u64() >= Some(3), "{j}");
    assert_eq!(j["streams"]["live"]["curr"][1], 1, "{j}");
    assert!(j["mem_total"].as_u64() > Some(0), "{j}");
    assert!(j["eddy"]["fanout_viewers"].as_u64().is_some(), "{j}");
    // A wrong passphrase is any unknown path: the web UI, no figures.
    let other = s
        .client
        .get(s.url("/scrap"))
        .send()
        .expect("get")
        .text()
        .expect("text");
    assert!(!other.contains("mist_sessions"));

    // The FLV viewer leaves: its visit ends and is logged, and it leaves `clients`.
    let _ = flv.child.kill();
    let _ = flv.child.wait();
    let mut log = String::new();
    assert!(
        eventually(Duration::from_secs(15), || {
            log = std::fs::read_to_string(&access_log).unwrap_or_default();
            log.lines().any(|l| l.contains(", FLV, "))
        }),
        "access log: {log:?}\n{}",
        s.stderr()
    );
    let line = log.lines().find(|l| l.contains(", FLV, ")).expect("line");
    let parts: Vec<&str> = line.split(", ").collect();
    assert_eq!(parts.len(), 9, "{line}");
    assert_eq!(parts[2], "live");
    assert_eq!(parts[4], "127.0.0.1");
    assert!(
        parts[5].parse::<u64>().is_ok_and(|secs| secs >= 3),
        "{line}"
    );
    // up KB/s (what the viewer was sent), then down KB/s.
    assert!(
        parts[6].parse::<f64>().is_ok_and(|kbps| kbps > 1.0),
        "{line}"
    );
    let mut now_rows = Vec::new();
    assert!(
        eventually(Duration::from_secs(5), || {
            now_rows = rows(&s.api2(json!({"clients": {"time": -1}}))["clients"]);
            !now_rows.iter().any(|r| r["protocol"] == "FLV")
        }),
        "{now_rows:?}"
    );
    // It is still in the history until clearstatlogs empties it.
    let before = rows(&s.api2(json!({"clients": {"time": -8}}))["clients"]);
    assert!(before.iter().any(|r| r["protocol"] == "FLV"), "{before:?}");
    s.api2(json!({"clearstatlogs": true}));
    let after = rows(&s.api2(json!({"clients": {"time": -8}}))["clients"]);
    assert!(after.is_empty(), "history cleared: {after:?}");
    assert!(
        eventually(Duration::from_secs(5), || {
            let r = rows(&s.api2(json!({"clients": {"time": -1}}))["clients"]);
            r.iter().any(|r| r["protocol"] == "RTMP")
        }),
        "connected sessions come back with the next sample"
    );
}

#[test]
fn prometheus_passphrase_is_stored_and_cleared_from_the_command_line() {
    let port = common::free_port();
    let dir = tempfile::tempdir().expect("dir");
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| {
        let mut last = None;
        for _ in 0..100 {
            match client.get(format!("http://127.0.0.1:{port}{path}")).send() {
                Ok(r) => {
                    last = Some(r);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        let r = last.expect("server answers");
        let ctype = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (ctype, r.text().unwrap_or_default())
    };
    let stop = |mut child: std::process::Child| {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        common::wait_exit(&mut child, Duration::from_secs(15));
    };

    let child = common::spawn(dir.path(), port, &["--prometheus", "s3cret"], 3600);
    let (ctype, text) = get("/s3cret");
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    parse_prometheus(&text);
    stop(child);
    // Stored: a start without the option still serves it.
    let child = common::spawn(dir.path(), port, &[], 3600);
    let (_, text) = get("/s3cret");
    assert!(text.contains("# TYPE mist_logs counter"), "{text}");
    stop(child);
    // An empty passphrase clears it: the path is the web UI again, with no figures.
    let child = common::spawn(dir.path(), port, &["--prometheus", ""], 3600);
    let (ctype, text) = get("/s3cret");
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert!(!text.contains("mist_logs"));
    let (_, text) = get("/.json");
    assert!(!text.contains("mist_"));
    stop(child);
}
