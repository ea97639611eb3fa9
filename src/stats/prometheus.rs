//! Prometheus instrumentation (manual §4.5, facts §8.5): the text exposition format (0.0.4, with
//! `# HELP` and `# TYPE` for every family) at `/PASSPHRASE` on the API port, and the same figures
//! as JSON at `/PASSPHRASE.json`.
//!
//! The `mist_*` families keep MistServer's names and labels, so dashboards built for it work;
//! the `eddy_*` and `process_*` families are additions: process CPU and memory, trigger handler
//! time and fan-out latency as histograms, pushes, configuration saves. Unlike MistServer,
//! every sample line has a space before its value (the format asks for one).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{json, Map, Value};

use super::metrics::{self, TRIGGER_BUCKETS_S};
use super::{KindCounts, Stats};
use crate::hub::latency::FANOUT_LATENCY;
use crate::hub::session::SessionKind;

/// Bounds of the fan-out latency histogram, in seconds.
const FANOUT_BUCKETS_S: [f64; 9] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05];

/// What the actors know of one active stream.
#[derive(Debug, Clone, Default)]
pub struct StreamFigures {
    pub name: String,
    pub views: u64,
    pub viewseconds: u64,
    pub upbytes: u64,
    pub downbytes: u64,
}

/// What the caller gathers from the rest of the server.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub streams: Vec<StreamFigures>,
    /// Configured stream names.
    pub conf_streams: Vec<String>,
    pub pushes_running: u64,
    /// Log lines since start.
    pub logs: u64,
    pub uptime_s: u64,
}

/// Current sessions of a stream, by kind.
#[derive(Debug, Clone, Copy, Default)]
struct Current {
    viewers: u64,
    inputs: u64,
    outputs: u64,
}

/// Everything one scrape reports, read once and rendered as text or JSON.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    figures: Figures,
    cpu_tenths: i64,
    mem_total_kib: u64,
    mem_used_kib: u64,
    process_cpu_s: f64,
    process_rss_bytes: u64,
    opened: KindCounts,
    bytes_down: u64,
    bytes_up: u64,
    current: Current,
    cached: u64,
    per_stream: BTreeMap<String, Current>,
    /// Viewer sessions now, per connector.
    outputs: BTreeMap<String, u64>,
    /// Sessions now, per protocol label (`RTMP`, `INPUT:RTMP`, ...).
    by_protocol: BTreeMap<String, u64>,
    triggers: BTreeMap<String, metrics::TriggerMetric>,
}

/// Reads the store and the process figures.
pub fn scrape(stats: &Stats, figures: Figures) -> Scrape {
    let (mem_total_kib, mem_used_kib) = memory_kib();
    let mut s = Scrape {
        cpu_tenths: crate::system_info::cpu_use_tenths(),
        mem_total_kib,
        mem_used_kib,
        process_cpu_s: crate::system_info::process_cpu_seconds(),
        process_rss_bytes: crate::system_info::process_rss_bytes(),
        triggers: metrics::triggers(),
        ..Scrape::default()
    };
    {
        let store = stats.lock();
        let now = store.now.max(super::unix_now());
        s.opened = store.opened;
        s.bytes_down = store.gone_down;
        s.bytes_up = store.gone_up;
        for r in store.records() {
            s.cached += 1;
            let c = r.read(now);
            s.bytes_down += c.down;
            s.bytes_up += c.up;
            if !r.on(now) {
                continue;
            }
            let e = s.per_stream.entry(r.stream.clone()).or_default();
            for cur in [&mut s.current, e] {
                match r.kind {
                    SessionKind::Viewer => cur.viewers += 1,
                    SessionKind::Input => cur.inputs += 1,
                    SessionKind::Output => cur.outputs += 1,
                }
            }
            for p in &r.protocols {
                *s.by_protocol.entry(p.clone()).or_default() += 1;
                if r.kind == SessionKind::Viewer {
                    *s.outputs.entry(p.clone()).or_default() += 1;
                }
            }
        }
    }
    for f in &figures.streams {
        s.per_stream.entry(f.name.clone()).or_default();
    }
    s.figures = figures;
    s
}

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
    name: &'a str,
}

impl Family<'_> {
    fn sample(&mut self, suffix: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.out, "{}{suffix}", self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }
}

fn family<'a>(out: &'a mut String, name: &'a str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out, name }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The text exposition format.
pub fn text(s: &Scrape) -> String {
    let mut out = String::with_capacity(8192);
    let o = &mut out;
    let f = &s.figures;
    family(
        o,
        "mist_logs",
        "counter",
        "Log messages since the server started.",
    )
    .sample("", &[], f.logs as f64);
    family(
        o,
        "mist_cpu",
        "gauge",
        "Machine CPU use, in tenths of a percent.",
    )
    .sample("", &[], s.cpu_tenths as f64);
    family(o, "mist_mem_total", "gauge", "Machine memory, in KiB.").sample(
        "",
        &[],
        s.mem_total_kib as f64,
    );
    family(
        o,
        "mist_mem_used",
        "gauge",
        "Machine memory in use, in KiB.",
    )
    .sample("", &[], s.mem_used_kib as f64);
    let viewseconds: u64 = f.streams.iter().map(|x| x.viewseconds).sum();
    family(
        o,
        "mist_viewseconds_total",
        "counter",
        "Seconds watched over all active streams.",
    )
    .sample("", &[], viewseconds as f64);
    let mut fam = family(
        o,
        "mist_sessions_count",
        "counter",
        "Sessions started since the server started, by type.",
    );
    for (t, n) in [
        ("viewers", s.opened.viewers),
        ("incoming", s.opened.inputs),
        ("outgoing", s.opened.outputs),
        ("unspecified", 0),
    ] {
        fam.sample("", &[("sessType", t)], n as f64);
    }
    let mut fam = family(
        o,
        "mist_bw_total",
        "counter",
        "Bytes moved by sessions since the server started.",
    );
    fam.sample("", &[("direction", "up")], s.bytes_up as f64);
    fam.sample("", &[("direction", "down")], s.bytes_down as f64);
    let mut fam = family(
        o,
        "mist_outputs",
        "gauge",
        "Viewer sessions now, per connector.",
    );
    for (p, n) in &s.outputs {
        fam.sample("", &[("output", p)], *n as f64);
    }
    let mut fam = family(
        o,
        "mist_sessions_total",
        "gauge",
        "Sessions now, by type; cached counts every session remembered.",
    );
    for (t, n) in [
        ("viewers", s.current.viewers),
        ("incoming", s.current.inputs),
        ("outgoing", s.current.outputs),
        ("unspecified", 0),
        ("cached", s.cached),
    ] {
        fam.sample("", &[("sessType", t)], n as f64);
    }
    let mut fam = family(
        o,
        "mist_sessions",
        "gauge",
        "Sessions now, per stream and type.",
    );
    for (name, c) in &s.per_stream {
        for (t, n) in [
            ("viewers", c.viewers),
            ("incoming", c.inputs),
            ("outgoing", c.outputs),
        ] {
            fam.sample("", &[("stream", name), ("sessType", t)], n as f64);
        }
    }
    let mut fam = family(
        o,
        "mist_viewcount",
        "counter",
        "Viewer sessions of an active stream since it started.",
    );
    for x in &f.streams {
        fam.sample("", &[("stream", &x.name)], x.views as f64);
    }
    let mut fam = family(
        o,
        "mist_viewseconds",
        "counter",
        "Seconds watched of an active stream.",
    );
    for x in &f.streams {
        fam.sample("", &[("stream", &x.name)], x.viewseconds as f64);
    }
    let mut fam = family(
        o,
        "mist_bw",
        "counter",
        "Bytes into and out of an active stream.",
    );
    for x in &f.streams {
        fam.sample(
            "",
            &[("stream", &x.name), ("direction", "up")],
            x.upbytes as f64,
        );
        fam.sample(
            "",
            &[("stream", &x.name), ("direction", "down")],
            x.downbytes as f64,
        );
    }
    let mut fam = family(o, "mist_trigger_count", "counter", "Trigger handler calls.");
    for (t, m) in &s.triggers {
        fam.sample("", &[("trigger", t)], m.count as f64);
    }
    let mut fam = family(
        o,
        "mist_trigger_time",
        "counter",
        "Milliseconds spent in trigger handlers.",
    );
    for (t, m) in &s.triggers {
        fam.sample("", &[("trigger", t)], m.total_ms.round());
    }
    let mut fam = family(
        o,
        "mist_trigger_fails",
        "counter",
        "Trigger handler calls that failed (their default was used).",
    );
    for (t, m) in &s.triggers {
        fam.sample("", &[("trigger", t)], m.fails as f64);
    }
    let mut fam = family(
        o,
        "eddy_trigger_duration_seconds",
        "histogram",
        "Time a trigger handler took to answer.",
    );
    for (t, m) in &s.triggers {
        let mut seen = 0;
        for (i, b) in TRIGGER_BUCKETS_S.iter().enumerate() {
            seen += m.buckets[i];
            fam.sample(
                "_bucket",
                &[("trigger", t), ("le", &number(*b))],
                seen as f64,
            );
        }
        fam.sample("_bucket", &[("trigger", t), ("le", "+Inf")], m.count as f64);
        fam.sample("_sum", &[("trigger", t)], m.total_ms / 1000.0);
        fam.sample("_count", &[("trigger", t)], m.count as f64);
    }
    family(
        o,
        "eddy_fanout_viewers",
        "gauge",
        "Viewers the streams' fan-out writes to now (the others catch up or choose their own tracks).",
    )
    .sample("", &[], metrics::read(&crate::protocols::fanout::FANOUT_VIEWERS) as f64);
    let (under, all, sum) = FANOUT_LATENCY.cumulative(&FANOUT_BUCKETS_S);
    let mut fam = family(
        o,
        "eddy_fanout_latency_seconds",
        "histogram",
        "From a packet entering a live buffer to a viewer's write of it returning.",
    );
    for (b, n) in FANOUT_BUCKETS_S.iter().zip(&under) {
        fam.sample("_bucket", &[("le", &number(*b))], *n as f64);
    }
    fam.sample("_bucket", &[("le", "+Inf")], all as f64);
    fam.sample("_sum", &[], sum);
    fam.sample("_count", &[], all as f64);
    let mut fam = family(
        o,
        "eddy_sessions_by_protocol",
        "gauge",
        "Sessions now, per protocol (inputs as INPUT:x, pushes as OUTPUT:x).",
    );
    for (p, n) in &s.by_protocol {
        fam.sample("", &[("protocol", p)], *n as f64);
    }
    let mut fam = family(
        o,
        "eddy_stream_active",
        "gauge",
        "Active streams (1 per stream).",
    );
    for x in &f.streams {
        fam.sample("", &[("stream", &x.name)], 1.0);
    }
    family(o, "eddy_streams_configured", "gauge", "Configured streams.").sample(
        "",
        &[],
        f.conf_streams.len() as f64,
    );
    family(o, "eddy_pushes_running", "gauge", "Pushes running now.").sample(
        "",
        &[],
        f.pushes_running as f64,
    );
    family(
        o,
        "eddy_pushes_started_total",
        "counter",
        "Pushes started since the server started.",
    )
    .sample("", &[], metrics::read(&metrics::PUSHES_STARTED) as f64);
    family(
        o,
        "eddy_pushes_failed_total",
        "counter",
        "Pushes that ended with an error.",
    )
    .sample("", &[], metrics::read(&metrics::PUSHES_FAILED) as f64);
    family(
        o,
        "eddy_config_saves_total",
        "counter",
        "Configuration writes to disk.",
    )
    .sample("", &[], metrics::read(&metrics::CONFIG_SAVES) as f64);
    family(
        o,
        "eddy_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
    )
    .sample("", &[], f.uptime_s as f64);
    family(
        o,
        "process_cpu_seconds_total",
        "counter",
        "CPU time the server process used (user and system).",
    )
    .sample("", &[], s.process_cpu_s);
    family(
        o,
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory of the server process.",
    )
    .sample("", &[], s.process_rss_bytes as f64);
    out
}

/// The same figures as JSON, under MistServer's keys, with Eddy's additions under `eddy`.
pub fn json(s: &Scrape) -> Value {
    let f = &s.figures;
    let figures: BTreeMap<&str, &super::prometheus::StreamFigures> =
        f.streams.iter().map(|x| (x.name.as_str(), x)).collect();
    let streams: Map<String, Value> = s
        .per_stream
        .iter()
        .map(|(name, c)| {
            let x = figures.get(name.as_str());
            let views = x.map_or(0, |x| x.views);
            let (up, down) = x.map_or((0, 0), |x| (x.upbytes, x.downbytes));
            (
                name.clone(),
                json!({
                    "tot": [views, c.inputs, c.outputs],
                    "bw": [up, down],
                    "curr": [c.viewers, c.inputs, c.outputs, 0],
                    "pkts": [0, 0, 0],
                }),
            )
        })
        .collect();
    let triggers: Map<String, Value> = s
        .triggers
        .iter()
        .map(|(t, m)| {
            (
                t.clone(),
                json!({"count": m.count, "ms": m.total_ms.round() as u64, "fails": m.fails}),
            )
        })
        .collect();
    json!({
        "cpu": s.cpu_tenths,
        "mem_total": s.mem_total_kib,
        "mem_used": s.mem_used_kib,
        "logs": f.logs,
        "curr": [s.current.viewers, s.current.inputs, s.current.outputs, 0, s.cached],
        "tot": [s.opened.viewers, s.opened.inputs, s.opened.outputs, 0],
        "bw": [s.bytes_up, s.bytes_down],
        "pkts": [0, 0, 0],
        "triggers": triggers,
        "streams": streams,
        "output_counts": s.outputs,
        "conf_streams": f.conf_streams,
        "eddy": {
            "uptime": f.uptime_s,
            "process_cpu_seconds": s.process_cpu_s,
            "process_resident_memory_bytes": s.process_rss_bytes,
            "sessions_by_protocol": s.by_protocol,
            "pushes_running": f.pushes_running,
            "pushes_started": metrics::read(&metrics::PUSHES_STARTED),
            "pushes_failed": metrics::read(&metrics::PUSHES_FAILED),
            "config_saves": metrics::read(&metrics::CONFIG_SAVES),
            "fanout_latency": FANOUT_LATENCY.to_json(),
            "fanout_viewers": metrics::read(&crate::protocols::fanout::FANOUT_VIEWERS),
        },
    })
}

/// `(total, used)` machine memory in KiB, from `/proc/meminfo`.
fn memory_kib() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
    };
    let total = field("MemTotal:");
    let available = field("MemAvailable:");
    (total, total.saturating_sub(available))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;
    use std::sync::Arc;

    #[test]
    fn text_and_json_agree() {
        let stats = Stats::new();
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let k = stats.open(
            "v".into(),
            "live".into(),
            ip,
            SessionKind::Viewer,
            Arc::default(),
        );
        stats.joined(k, "HLS");
        let figures = Figures {
            streams: vec![StreamFigures {
                name: "live".into(),
                views: 3,
                ..Default::default()
            }],
            conf_streams: vec!["live".into()],
            ..Default::default()
        };
        let s = scrape(&stats, figures);
        let t = text(&s);
        assert!(t.contains("# TYPE mist_sessions gauge\n"), "{t}");
        assert!(
            t.contains("mist_sessions{stream=\"live\",sessType=\"viewers\"} 1\n"),
            "{t}"
        );
        assert!(t.contains("mist_outputs{output=\"HLS\"} 1\n"));
        assert!(t.contains("mist_viewcount{stream=\"live\"} 3\n"));
        assert!(t.contains("eddy_fanout_latency_seconds_bucket{le=\"+Inf\"}"));
        assert!(t.ends_with('\n'));
        // Every sample line belongs to a family declared before it.
        let mut declared = Vec::new();
        for line in t.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap_or("").to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap_or("");
                assert!(
                    declared.iter().any(|d| name.starts_with(d.as_str())),
                    "{line}"
                );
            }
        }
        let j = json(&s);
        assert_eq!(j["streams"]["live"]["curr"], json!([1, 0, 0, 0]));
        assert_eq!(j["streams"]["live"]["tot"][0], 3);
        assert_eq!(j["output_counts"]["HLS"], 1);
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
