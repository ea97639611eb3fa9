//! `streams`, `addstream`, `deletestream` (manual §4.1.3-§4.1.5) and the `streams` answer.

use serde_json::{json, Map, Value};

use crate::actors::config_edit::ConfigChange;
use crate::actors::supervisor::Snapshot;
use crate::protocols;

/// The stream changes a request asks for, in order. Wrong shapes are ignored: a non-object
/// `streams` only reads the list.
pub fn changes(req: &Map<String, Value>) -> Vec<ConfigChange> {
    let mut out = Vec::new();
    if let Some(Value::Object(all)) = req.get("streams") {
        out.push(ConfigChange::ReplaceStreams(all.clone()));
    }
    if let Some(Value::Object(add)) = req.get("addstream") {
        out.push(ConfigChange::AddStreams(add.clone()));
    }
    let delete: Vec<String> = match req.get("deletestream") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Some(Value::Object(o)) => o.keys().cloned().collect(),
        _ => Vec::new(),
    };
    if !delete.is_empty() {
        out.push(ConfigChange::DeleteStreams(delete));
    }
    out
}

/// The `streams` answer. With `addstream`/`deletestream` but no `streams`, only the touched
/// streams plus `"incomplete list": 1`; otherwise every configured stream.
pub fn answer(req: &Map<String, Value>, snap: &Snapshot, touched: &[String]) -> Value {
    let partial = !req.contains_key("streams")
        && (req.contains_key("addstream") || req.contains_key("deletestream"));
    let mut out = Map::new();
    for (name, cfg) in &snap.config.streams {
        if partial && !touched.contains(name) {
            continue;
        }
        let running = snap
            .streams
            .iter()
            .any(|s| s.name == *name && s.status == "Online");
        let failed = snap.errors.get(name).map(String::as_str);
        out.insert(name.clone(), with_status(name, cfg, running, failed));
    }
    if partial {
        out.insert("incomplete list".into(), json!(1));
    }
    Value::Object(out)
}

/// A stream's config plus the computed `name`, `online` and `error` (facts §2.3); `failed` is
/// why its input last failed (an unplayable file), if it did.
fn with_status(name: &str, cfg: &Value, running: bool, failed: Option<&str>) -> Value {
    let mut v = cfg.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("name".into(), json!(name));
        if running {
            obj.insert("online".into(), json!(1));
        } else if let Some(error) = failed {
            obj.insert("online".into(), json!(0));
            obj.insert("error".into(), json!(error));
        } else {
            let (online, error) = status(cfg);
            obj.insert("online".into(), json!(online));
            obj.insert("error".into(), json!(error));
        }
    }
    v
}

/// `online` (0 offline, 2 available: waiting for a push) and the `error` text for a configured
/// stream that is not running.
fn status(cfg: &Value) -> (u8, &'static str) {
    match cfg.get("source").and_then(Value::as_str) {
        None | Some("") => (0, "Stream offline: Missing source parameter!"),
        Some(src) if protocols::input_for(src).is_none() => {
            (0, "Stream offline: No input available for this source")
        }
        Some(_) => (2, "Available"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Map<String, Value> {
        serde_json::from_str(s).expect("test request")
    }

    #[test]
    fn delete_forms() {
        for form in [
            r#"{"deletestream":"a"}"#,
            r#"{"deletestream":["a"]}"#,
            r#"{"deletestream":{"a":{}}}"#,
        ] {
            assert_eq!(
                changes(&req(form)),
                vec![ConfigChange::DeleteStreams(vec!["a".into()])],
                "{form}"
            );
        }
        for ignored in [
            r#"{"deletestream":5}"#,
            r#"{"deletestream":[]}"#,
            r#"{"streams":true}"#,
            r#"{"addstream":"x"}"#,
        ] {
            assert!(changes(&req(ignored)).is_empty(), "{ignored}");
        }
    }

    #[test]
    fn status_of_sources() {
        assert_eq!(status(&json!({})).0, 0);
        assert_eq!(
            status(&json!({"source": ""})).1,
            "Stream offline: Missing source parameter!"
        );
        assert_eq!(status(&json!({"source": "weird://x"})).0, 0);
    }
}
