//! `clients` and `totals` (manual §4.1.15-§4.1.16, facts §8.1-§8.3).
//!
//! Both take an object (or an array of objects, answered by an array in the same order) with
//! optional `streams` (a name also matches its wildcard children: `live` matches `live+cam`),
//! `protocols` (a name also matches the part before `:`, so `INPUT` matches `INPUT:RTMP`) and
//! `fields`. Times are unix seconds; a negative time means that many seconds ago, and a
//! positive number too small to be a unix time is taken as "seconds ago" too.
//!
//! - `clients` `{time}`: one row per session connected at `time` (default: now; MistServer's
//!   default of ten minutes ago misses every session started since, and the manual says now).
//!   Besides MistServer's fields it has `tags` (an Eddy extension: the session's tags, as
//!   `tag_sessid` set them), given only when a request names it in `fields`, after the others.
//! - `totals` `{start, end}`: one data point per second for the last [`RECENT_S`] seconds and one
//!   per [`COARSE_S`] seconds before that, as far back as ten minutes; `interval` gives the gaps
//!   between points as `[[count, seconds], ...]`. With no data at all, `start`, `end`, `data`
//!   and `interval` are `null`.

use std::net::IpAddr;

use serde_json::{json, Value};

use super::record::{Record, COARSE_S, KEEP_S, RECENT_S};
use super::Store;
use crate::hub::session::SessionKind;

/// The `clients` fields, in the order answers list them.
pub const CLIENT_FIELDS: [&str; 13] = [
    "host",
    "stream",
    "protocol",
    "conntime",
    "position",
    "down",
    "up",
    "downbps",
    "upbps",
    "sessid",
    "pktcount",
    "pktlost",
    "pktretransmit",
];

/// Eddy's extension fields of `clients`, in the order answers list them: given only when a
/// request names them, after MistServer's, so the default field list and its order stay
/// MistServer's.
pub const CLIENT_EXTENSION_FIELDS: [&str; 1] = ["tags"];

/// The `totals` fields, in the order answers list them.
pub const TOTAL_FIELDS: [&str; 7] = [
    "clients",
    "inputs",
    "outputs",
    "downbps",
    "upbps",
    "perc_lost",
    "perc_retrans",
];

/// The window of the `clients` byte rates, in seconds (MistServer's 5 s average).
const RATE_WINDOW_S: i64 = 5;

/// What a request selects.
struct Filter {
    streams: Vec<String>,
    protocols: Vec<String>,
}

impl Filter {
    fn from(req: &Value) -> Self {
        Filter {
            streams: strings(req.get("streams")),
            protocols: strings(req.get("protocols")),
        }
    }

    fn admits(&self, r: &Record) -> bool {
        let stream_ok = self.streams.is_empty()
            || self
                .streams
                .iter()
                .any(|s| *s == r.stream || crate::stream_name::base_name(&r.stream) == s);
        let proto_ok = self.protocols.is_empty()
            || r.protocols.iter().any(|p| {
                self.protocols
                    .iter()
                    .any(|f| f == p || p.split(':').next() == Some(f.as_str()))
            });
        stream_ok && proto_ok
    }
}

/// A list of strings: an array's string members, or one string.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The requested fields that exist, in canonical order; all of them when none is named.
fn fields(req: &Value, all: &[&'static str]) -> Vec<&'static str> {
    let asked = strings(req.get("fields"));
    if asked.is_empty() {
        return all.to_vec();
    }
    all.iter()
        .copied()
        .filter(|f| asked.iter().any(|a| a == f))
        .collect()
}

/// A time argument (facts §8.1): negative is that many seconds before `now`, a unix time is
/// taken as is (never past `now`), and a small positive number (not a plausible unix time) is
/// seconds before `now` too. `None` when absent, zero or not a number.
fn time_arg(v: Option<&Value>, now: i64) -> Option<i64> {
    let t = match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    Some(match t {
        0 => return None,
        t if t < 0 => now.saturating_add(t),
        t if t >= UNIX_FLOOR => t.min(now),
        t => now - t,
    })
}

/// The smallest number read as a unix time (2001-09-09) rather than seconds ago.
const UNIX_FLOOR: i64 = 1_000_000_000;

/// The history's resolution at `t`.
fn step_at(t: i64, now: i64) -> i64 {
    if t >= now - RECENT_S {
        1
    } else {
        COARSE_S
    }
}

/// Answers an object request with `one`, an array with an array of answers.
fn each(req: &Value, one: impl Fn(&Value) -> Value) -> Value {
    match req {
        Value::Array(list) => Value::Array(list.iter().map(one).collect()),
        Value::Object(_) => one(req),
        _ => one(&json!({})),
    }
}

/// `clients`.
pub fn clients(store: &Store, req: &Value, now: i64) -> Value {
    each(req, |r| clients_one(store, r, now))
}

fn clients_one(store: &Store, req: &Value, now: i64) -> Value {
    let filter = Filter::from(req);
    let mut fields = fields(req, &CLIENT_FIELDS);
    let asked = strings(req.get("fields"));
    fields.extend(
        CLIENT_EXTENSION_FIELDS
            .iter()
            .copied()
            .filter(|f| asked.iter().any(|a| a == f)),
    );
    let t = time_arg(req.get("time"), now).unwrap_or(now);
    let step = step_at(t, now).max(2);
    let mut rows: Vec<(i64, Value)> = Vec::new();
    for r in store.records().filter(|r| filter.admits(r)) {
        let Some(s) = r.sample_for(t, step) else {
            continue;
        };
        let (downbps, upbps) = r.rates(s, RATE_WINDOW_S.max(step_at(t, now)));
        let row: Vec<Value> = fields
            .iter()
            .map(|f| match *f {
                "host" => json!(host_text(r.host)),
                "stream" => json!(r.stream),
                "protocol" => json!(r.protocols.join(",")),
                "conntime" => json!((t - r.first_join.unwrap_or(t)).max(0)),
                "position" => json!(s.position_s),
                "down" => json!(s.down),
                "up" => json!(s.up),
                "downbps" => json!(downbps),
                "upbps" => json!(upbps),
                "sessid" => json!(r.id),
                "pktcount" => json!(s.packets),
                "tags" => json!(r.tags),
                _ => json!(0),
            })
            .collect();
        rows.push((r.first_join.unwrap_or(0), Value::Array(row)));
    }
    // Oldest sessions first, so an answer reads in a stable order.
    rows.sort_by_key(|r| r.0);
    json!({
        "time": t,
        "fields": fields,
        "data": rows.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    })
}

/// An address as MistServer shows it: dotted IPv4 (mapped addresses too), full IPv6.
pub fn host_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6
                .segments()
                .iter()
                .map(|s| format!("{s:04x}"))
                .collect::<Vec<_>>()
                .join(":"),
        },
    }
}

/// `totals`.
pub fn totals(store: &Store, req: &Value, now: i64) -> Value {
    each(req, |r| totals_one(store, r, now))
}

fn totals_one(store: &Store, req: &Value, now: i64) -> Value {
    let filter = Filter::from(req);
    let fields = fields(req, &TOTAL_FIELDS);
    let end = time_arg(req.get("end"), now).unwrap_or(now).min(now);
    let start = time_arg(req.get("start"), now)
        .unwrap_or(now - (KEEP_S - COARSE_S))
        .max(now - (KEEP_S - COARSE_S))
        .min(end);
    let chosen: Vec<&Record> = store.records().filter(|r| filter.admits(r)).collect();
    // Points start where the chosen sessions' history starts.
    let earliest = chosen
        .iter()
        .filter_map(|r| r.samples.front().map(|s| s.t))
        .min();
    let Some(earliest) = earliest.filter(|&e| e <= end) else {
        return json!({
            "start": null, "end": null, "data": null, "interval": null, "fields": fields,
        });
    };
    // The grid: every second in the recent part, every coarse slot before it.
    let times: Vec<i64> = (start.max(earliest)..=end)
        .filter(|&t| step_at(t, now) == 1 || t.rem_euclid(COARSE_S) == 0)
        .collect();
    let mut sums = vec![[0u64; 5]; times.len()];
    for r in &chosen {
        add_series(r, &times, now, &mut sums);
    }
    let data: Vec<Value> = sums
        .iter()
        .map(|sum| {
            let row = fields
                .iter()
                .map(|f| match *f {
                    "clients" => json!(sum[0]),
                    "inputs" => json!(sum[1]),
                    "outputs" => json!(sum[2]),
                    "downbps" => json!(sum[3]),
                    "upbps" => json!(sum[4]),
                    _ => json!(0),
                })
                .collect();
            Value::Array(row)
        })
        .collect();
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return json!({
            "start": null, "end": null, "data": null, "interval": null, "fields": fields,
        });
    };
    json!({
        "start": first,
        "end": last,
        "fields": fields,
        "data": data,
        "interval": intervals(&times),
    })
}

/// Adds one session to the totals at each grid time (ascending): a count by kind and its byte
/// rates, where it was connected. One pass over the grid and the history together.
fn add_series(r: &Record, times: &[i64], now: i64, sums: &mut [[u64; 5]]) {
    let samples = &r.samples;
    // `at`: the latest sample at or before t; `base`: the latest at or before t - window.
    let (mut at, mut base) = (0usize, 0usize);
    for (i, &t) in times.iter().enumerate() {
        let step = step_at(t, now);
        let window = RATE_WINDOW_S.max(step);
        while samples.get(at + 1).is_some_and(|s| s.t <= t) {
            at += 1;
        }
        let Some(s) = samples
            .get(at)
            .filter(|s| s.t <= t && t - s.t < step.max(2))
        else {
            continue;
        };
        while samples.get(base + 1).is_some_and(|b| b.t <= t - window) {
            base += 1;
        }
        let (down, up) = match samples.get(base).filter(|b| b.t <= t - window) {
            Some(b) => {
                let span = (s.t - b.t).max(1) as u64;
                (
                    s.down.saturating_sub(b.down) / span,
                    s.up.saturating_sub(b.up) / span,
                )
            }
            None => r.rates(s, window),
        };
        let sum = &mut sums[i];
        match r.kind {
            SessionKind::Viewer => sum[0] += 1,
            SessionKind::Input => sum[1] += 1,
            SessionKind::Output => sum[2] += 1,
        }
        sum[3] += down;
        sum[4] += up;
    }
}

/// Run-length encoding of the gaps between consecutive times: `[[count, seconds], ...]`.
fn intervals(times: &[i64]) -> Value {
    let mut runs: Vec<(u64, i64)> = Vec::new();
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        match runs.last_mut() {
            Some((n, g)) if *g == gap => *n += 1,
            _ => runs.push((1, gap)),
        }
    }
    Value::Array(runs.into_iter().map(|(n, g)| json!([n, g])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::session::ConnCounters;
    use crate::stats::Stats;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    const NOW: i64 = 1_800_000_000;

    /// A store with an RTMP viewer of `live` sending 1000 B/s for 100 s, an HLS viewer of
    /// `live+cam` and an RTMP input of `live`.
    fn store() -> Stats {
        let stats = Stats::new();
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        let add = |id: &str, stream: &str, kind, proto: &str| {
            let c = Arc::new(ConnCounters::default());
            let k = stats.open(id.into(), stream.into(), ip, kind, c.clone());
            let mut s = stats.lock();
            if let Some(r) = s.records.get_mut(&k) {
                r.joined(proto, NOW - 100);
            }
            c
        };
        let viewer = add("v1", "live", SessionKind::Viewer, "RTMP");
        let hls = add("v2", "live+cam", SessionKind::Viewer, "HLS");
        let input = add("i1", "live", SessionKind::Input, "RTMP");
        for t in NOW - 100..=NOW {
            viewer.up.fetch_add(1000, Ordering::Relaxed);
            viewer.packets.fetch_add(10, Ordering::Relaxed);
            hls.up.fetch_add(500, Ordering::Relaxed);
            input.down.fetch_add(2000, Ordering::Relaxed);
            stats.sample(t);
        }
        stats
    }

    #[test]
    fn clients_rows_and_filters() {
        let stats = store();
        let s = stats.lock();
        let v = clients(&s, &json!({"time": -3}), NOW);
        assert_eq!(v["time"], NOW - 3);
        assert_eq!(v["fields"].as_array().map(Vec::len), Some(13));
        assert_eq!(v["data"].as_array().map(Vec::len), Some(3));
        let v = clients(
            &s,
            &json!({"streams": ["live"], "protocols": ["RTMP"], "fields": ["down", "sessid", "upbps", "host"]}),
            NOW,
        );
        assert_eq!(v["fields"], json!(["host", "down", "upbps", "sessid"]));
        assert_eq!(v["data"], json!([["192.0.2.7", 0, 1000, "v1"]]));
        let v = clients(
            &s,
            &json!({"protocols": ["INPUT"], "fields": ["protocol", "downbps"]}),
            NOW,
        );
        assert_eq!(v["data"], json!([["INPUT:RTMP", 2000]]));
        let v = clients(
            &s,
            &json!({"streams": ["live+cam"], "fields": ["protocol"]}),
            NOW,
        );
        assert_eq!(v["data"], json!([["HLS"]]));
        // Ten minutes ago nobody was connected; an array asks twice.
        let v = clients(
            &s,
            &json!([{"time": NOW - 500}, {"fields": ["conntime"], "streams": "live+cam"}]),
            NOW,
        );
        assert_eq!(v[0]["data"], json!([]));
        assert_eq!(v[1]["data"], json!([[100]]));
    }

    #[test]
    fn clients_tags_only_when_asked() {
        let stats = store();
        let key = {
            let s = stats.lock();
            s.records
                .iter()
                .find(|(_, r)| r.id == "v1")
                .map(|(k, _)| *k)
                .expect("v1")
        };
        stats.tag(key, "paid");
        stats.tag(key, "vip");
        stats.tag(key, "paid");
        let s = stats.lock();
        // The default answer is MistServer's: no tags field.
        let v = clients(&s, &json!({}), NOW);
        assert_eq!(v["fields"], json!(CLIENT_FIELDS));
        // Named, it comes after MistServer's fields whatever the request's order.
        let v = clients(
            &s,
            &json!({"fields": ["tags", "sessid"], "streams": ["live"], "protocols": ["RTMP"]}),
            NOW,
        );
        assert_eq!(v["fields"], json!(["sessid", "tags"]));
        assert_eq!(v["data"], json!([["v1", ["paid", "vip"]]]));
        let v = clients(&s, &json!({"fields": "tags", "streams": "live+cam"}), NOW);
        assert_eq!(v["fields"], json!(["tags"]));
        assert_eq!(
            v["data"],
            json!([[[]]]),
            "an untagged session has an empty list"
        );
    }

    #[test]
    fn totals_series() {
        let stats = store();
        let s = stats.lock();
        let v = totals(
            &s,
            &json!({"start": -10, "fields": ["downbps", "clients"]}),
            NOW,
        );
        assert_eq!(v["fields"], json!(["clients", "downbps"]));
        assert_eq!(v["start"], NOW - 10);
        assert_eq!(v["end"], NOW);
        assert_eq!(v["interval"], json!([[10, 1]]));
        assert_eq!(v["data"][10], json!([2, 2000]));
        // The whole history: coarse points, then one a second.
        let v = totals(
            &s,
            &json!({"streams": ["live"], "protocols": ["RTMP", "INPUT"]}),
            NOW,
        );
        let data = v["data"].as_array().expect("data");
        assert_eq!(v["start"], NOW - 100);
        let gaps = v["interval"].as_array().expect("interval");
        assert_eq!(gaps.last(), Some(&json!([RECENT_S, 1])));
        assert_eq!(gaps[0][1], COARSE_S);
        let last = data.last().expect("point");
        assert_eq!(last[0], 1, "one viewer");
        assert_eq!(last[1], 1, "one input");
        assert_eq!(last[3], 2000, "down: what the input brought");
        assert_eq!(last[4], 1000, "up: what the viewer got");
        // Nothing matches: nulls.
        let v = totals(&s, &json!({"streams": ["other"]}), NOW);
        assert_eq!(v["data"], Value::Null);
        assert_eq!(v["start"], Value::Null);
        let v = totals(&s, &json!([{"end": NOW - 5000}, {"start": "-2"}]), NOW);
        assert_eq!(v[1]["data"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn malformed_requests_get_defaults() {
        let stats = store();
        let s = stats.lock();
        for bad in [
            json!(null),
            json!("x"),
            json!(5),
            json!({"time": "soon", "fields": 7, "streams": {"a": 1}, "protocols": [1, null]}),
            json!({"start": 1e300, "end": -1e300}),
            json!({"time": i64::MIN}),
            json!({"start": i64::MAX, "end": i64::MIN}),
        ] {
            let c = clients(&s, &bad, NOW);
            assert!(c["data"].is_array(), "{bad}: {c}");
            let t = totals(&s, &bad, NOW);
            assert!(t.get("fields").is_some(), "{bad}: {t}");
        }
        assert_eq!(
            host_text("::1".parse().expect("ip")),
            "0000:0000:0000:0000:0000:0000:0000:0001"
        );
        assert_eq!(
            host_text("::ffff:10.1.2.3".parse().expect("ip")),
            "10.1.2.3"
        );
    }
}
