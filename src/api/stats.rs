//! `active_streams` and `stats_streams` (manual §4.1.17-§4.1.18, facts §8.4), answered from the
//! numbers the running StreamActors report to the supervisor (once a second) and the sessions of
//! the statistics store.
//!
//! A stream's `viewers`, `inputs` and `outputs` are its connected sessions, as MistServer counts
//! them, so HLS and CMAF players (which hold no connection between requests) count too; where
//! the stream itself follows more viewers than there are sessions (two players sharing a
//! session token), the larger figure is shown.

use serde_json::{json, Map, Value};

use crate::actors::stream::StreamStats;
use crate::stats::Stats;

/// What Prometheus needs from the snapshot and the API context.
pub fn figures(
    ctx: &super::ApiContext,
    snap: &crate::actors::supervisor::Snapshot,
) -> crate::stats::prometheus::Figures {
    use crate::stats::prometheus::{Figures, StreamFigures};
    Figures {
        streams: snap
            .streams
            .iter()
            .map(|s| StreamFigures {
                name: s.name.clone(),
                views: s.views,
                viewseconds: s.viewseconds,
                upbytes: s.upbytes,
                downbytes: s.downbytes,
            })
            .collect(),
        conf_streams: snap.config.streams.keys().cloned().collect(),
        pushes_running: snap.pushes.len() as u64,
        logs: ctx.logbook.total(),
        uptime_s: ctx.started.elapsed().as_secs(),
    }
}

/// Sets the viewer, input and output counts of `streams` from the store's connected sessions.
pub fn count_sessions(streams: &mut [StreamStats], stats: &Stats) {
    let current = stats.current_by_stream();
    for s in streams {
        let c = current.get(&s.name).copied().unwrap_or_default();
        s.viewers = s.viewers.max(c.viewers);
        s.inputs = s.inputs.max(c.inputs);
        s.outputs = s.outputs.max(c.outputs);
    }
}

/// The fields an object-form request gets when it names none.
const DEFAULT_FIELDS: [&str; 17] = [
    "status",
    "viewers",
    "inputs",
    "outputs",
    "tracks",
    "views",
    "viewseconds",
    "upbytes",
    "downbytes",
    "packsent",
    "packloss",
    "packretrans",
    "firstms",
    "lastms",
    "health",
    "pid",
    "tags",
];

/// One field of one stream. Unknown fields are `null`.
fn field(s: &StreamStats, name: &str) -> Value {
    match name {
        "clients" => json!(s.viewers + s.inputs + s.outputs),
        "viewers" => json!(s.viewers),
        "inputs" => json!(s.inputs),
        "outputs" => json!(s.outputs),
        "unspecified" | "packsent" | "packretrans" => json!(0),
        "packloss" => json!(s.packloss),
        "status" => json!(s.status),
        "tracks" => json!(s.tracks),
        "views" => json!(s.views),
        "viewseconds" => json!(s.viewseconds),
        "upbytes" => json!(s.upbytes),
        "downbytes" => json!(s.downbytes),
        "firstms" => json!(s.firstms),
        "lastms" => json!(s.lastms),
        "pid" => json!([std::process::id()]),
        "tags" => json!([]),
        _ => Value::Null,
    }
}

/// A stream filter entry matches the exact name, or with a trailing `+` every wildcard of it.
fn matches(filter: &str, name: &str) -> bool {
    filter == name || (filter.ends_with('+') && name.starts_with(filter))
}

fn field_names(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .filter_map(|f| f.as_str().map(String::from))
            .collect(),
        _ => DEFAULT_FIELDS.iter().map(|s| s.to_string()).collect(),
    }
}

/// `active_streams`: a non-array, non-object asks for the list of names; an array of field names
/// for `{stream: [values]}`; an object `{fields?, streams?|stream?, longform?}` for
/// `{fields, data: {stream: [values]}}` or, with `longform`, `{stream: {field: value}}`.
pub fn active_streams(req: &Value, streams: &[StreamStats]) -> Value {
    match req {
        Value::Array(fields) => {
            let fields: Vec<&str> = fields.iter().filter_map(Value::as_str).collect();
            let map: Map<String, Value> = streams
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        Value::Array(fields.iter().map(|f| field(s, f)).collect()),
                    )
                })
                .collect();
            Value::Object(map)
        }
        Value::Object(o) => {
            let fields = field_names(o.get("fields"));
            let filter: Vec<String> = match o.get("streams").or_else(|| o.get("stream")) {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            };
            let chosen = streams
                .iter()
                .filter(|s| filter.is_empty() || filter.iter().any(|f| matches(f, &s.name)));
            if o.get("longform").is_some_and(super::truthy) {
                let map: Map<String, Value> = chosen
                    .map(|s| {
                        (
                            s.name.clone(),
                            Value::Object(
                                fields.iter().map(|f| (f.clone(), field(s, f))).collect(),
                            ),
                        )
                    })
                    .collect();
                Value::Object(map)
            } else {
                let data: Map<String, Value> = chosen
                    .map(|s| {
                        (
                            s.name.clone(),
                            Value::Array(fields.iter().map(|f| field(s, f)).collect()),
                        )
                    })
                    .collect();
                json!({"fields": fields, "data": data})
            }
        }
        _ => Value::Array(streams.iter().map(|s| json!(s.name)).collect()),
    }
}

/// `stats_streams`: the names of streams with statistics (active, or referenced by a cached
/// session: `with_sessions`), or `{stream: [values]}` for an array of `"clients"`/`"lastms"`.
pub fn stats_streams(req: &Value, active: &[StreamStats], with_sessions: &[String]) -> Value {
    let mut streams: Vec<StreamStats> = active.to_vec();
    for name in with_sessions {
        if !streams.iter().any(|s| s.name == *name) {
            streams.push(StreamStats {
                name: name.clone(),
                status: "Offline",
                ..Default::default()
            });
        }
    }
    streams.sort_by(|a, b| a.name.cmp(&b.name));
    match req {
        Value::Array(fields) => {
            let map: Map<String, Value> = streams
                .iter()
                .map(|s| {
                    let values = fields
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|f| match f {
                            "lastms" if s.tracks == 0 => json!(-1),
                            f => field(s, f),
                        })
                        .collect();
                    (s.name.clone(), Value::Array(values))
                })
                .collect();
            Value::Object(map)
        }
        _ => Value::Array(streams.iter().map(|s| json!(s.name)).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Vec<StreamStats> {
        vec![
            StreamStats {
                name: "live".into(),
                status: "Online",
                viewers: 2,
                inputs: 1,
                lastms: 5000,
                tracks: 2,
                ..Default::default()
            },
            StreamStats {
                name: "live+cam".into(),
                status: "Waiting for data",
                ..Default::default()
            },
        ]
    }

    #[test]
    fn forms() {
        let s = live();
        assert_eq!(
            active_streams(&json!(true), &s),
            json!(["live", "live+cam"])
        );
        assert_eq!(
            active_streams(&json!(["clients", "lastms"]), &s)["live"],
            json!([3, 5000])
        );
        let v = active_streams(&json!({"fields": ["viewers"], "streams": ["live+"]}), &s);
        assert_eq!(v, json!({"fields": ["viewers"], "data": {"live+cam": [0]}}));
        let v = active_streams(&json!({"longform": true, "fields": ["status"]}), &s);
        assert_eq!(v["live"]["status"], "Online");
        let v = active_streams(&json!({}), &s);
        assert_eq!(v["fields"].as_array().map(Vec::len), Some(17));
        let cached = ["gone".to_string()];
        assert_eq!(
            stats_streams(&json!(1), &s, &cached),
            json!(["gone", "live", "live+cam"])
        );
        let v = stats_streams(&json!(["clients", "lastms"]), &s, &cached);
        assert_eq!(v["live+cam"], json!([0, -1]));
        assert_eq!(v["gone"], json!([0, -1]));
        assert_eq!(active_streams(&json!(true), &[]), json!([]));
    }
}
