//! The push commands (manual §4.1.27-§4.1.33, facts §7): `push_start`, `push_stop`,
//! `push_stop_graceful`, `push_list`, `push_auto_add`, `push_auto_remove`, `push_auto_list` and
//! `push_settings`. Wrong shapes are ignored, as MistServer does.

use serde_json::{json, Map, Value};

use crate::actors::push::auto;
use crate::actors::supervisor::{PushCommand, Snapshot};

/// The push commands in a request, in the order they run.
pub fn commands(req: &Map<String, Value>) -> Vec<PushCommand> {
    let mut out = Vec::new();
    if let Some(Value::Object(members)) = req.get("push_settings") {
        if !members.is_empty() {
            out.push(PushCommand::Settings(members.clone()));
        }
    }
    if let Some(v) = req.get("push_auto_remove") {
        out.push(PushCommand::AutoRemove(v.clone()));
    }
    if let Some(v) = req.get("push_auto_add") {
        out.push(PushCommand::AutoAdd(v.clone()));
    }
    if let Some(v) = req.get("push_start") {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(String::from);
        let pair = match v {
            Value::Object(o) => text(o.get("stream")).zip(text(o.get("target"))),
            Value::Array(a) => text(a.first()).zip(text(a.get(1))),
            _ => None,
        };
        match pair {
            Some((stream, target)) => out.push(PushCommand::Start { stream, target }),
            None => tracing::warn!(kind = "WARN", "push_start needs a stream and a target: {v}"),
        }
    }
    for key in ["push_stop", "push_stop_graceful"] {
        if let Some(v) = req.get(key) {
            let (ids, streams) = stop_targets(v);
            if !ids.is_empty() {
                out.push(PushCommand::Stop(ids));
            }
            if !streams.is_empty() {
                out.push(PushCommand::StopStreams(streams));
            }
        }
    }
    out
}

/// Push ids and stream names from a `push_stop` value: an id, a list of ids, or a stream name.
fn stop_targets(v: &Value) -> (Vec<u64>, Vec<String>) {
    let (mut ids, mut streams) = (Vec::new(), Vec::new());
    let mut one = |v: &Value| match v {
        Value::Number(n) => ids.extend(n.as_u64().or_else(|| n.as_f64().map(|f| f as u64))),
        Value::String(s) => match s.trim().parse::<u64>() {
            Ok(id) => ids.push(id),
            Err(_) => streams.push(crate::stream_name::sanitize(s)),
        },
        _ => {}
    };
    match v {
        Value::Array(a) => a.iter().for_each(&mut one),
        other => one(other),
    }
    ids.retain(|id| *id >= 1);
    (ids, streams)
}

/// Adds the push answers the request asked for.
pub fn answers(req: &Map<String, Value>, snap: &Snapshot, resp: &mut Map<String, Value>) {
    if req.contains_key("push_list") {
        resp.insert("push_list".into(), Value::Array(snap.pushes.clone()));
    }
    let auto_keys = ["push_auto_add", "push_auto_remove", "push_auto_list"];
    if auto_keys.iter().any(|k| req.contains_key(*k)) {
        let rules = auto::rules(&snap.config);
        resp.insert("auto_push".into(), auto::stored_answer(&rules));
        resp.insert("push_auto_list".into(), auto::list_answer(&rules));
    }
    if req.contains_key("push_settings") {
        let ps = &snap.config.push_settings;
        resp.insert(
            "push_settings".into(),
            json!({"wait": ps.wait, "maxspeed": ps.maxspeed}),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(v: Value) -> Vec<PushCommand> {
        commands(v.as_object().expect("object"))
    }

    #[test]
    fn forms() {
        let c = cmds(json!({"push_start": {"stream": "a", "target": "/x.ts"}}));
        assert!(
            matches!(&c[..], [PushCommand::Start { stream, target }] if stream == "a" && target == "/x.ts")
        );
        let c = cmds(json!({"push_start": ["a", "/x.ts"]}));
        assert!(matches!(&c[..], [PushCommand::Start { .. }]));
        let c = cmds(json!({"push_stop": 3}));
        assert!(matches!(&c[..], [PushCommand::Stop(ids)] if ids == &[3]));
        let c = cmds(json!({"push_stop": [1, "2", 0, -1, null]}));
        assert!(matches!(&c[..], [PushCommand::Stop(ids)] if ids == &[1, 2]));
        let c = cmds(json!({"push_stop_graceful": "Live"}));
        assert!(matches!(&c[..], [PushCommand::StopStreams(s)] if s == &["live"]));
        let c = cmds(json!({"push_settings": {"wait": 5}}));
        assert!(matches!(&c[..], [PushCommand::Settings(_)]));
        for junk in [
            json!({"push_start": "a"}),
            json!({"push_start": ["a"]}),
            json!({"push_start": {"stream": 1, "target": "/x"}}),
            json!({"push_stop": {}}),
            json!({"push_settings": {}}),
            json!({"push_settings": 5}),
        ] {
            assert!(cmds(junk.clone()).is_empty(), "{junk} must do nothing");
        }
    }
}
