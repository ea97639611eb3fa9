//! The session commands (manual §4.1.22-§4.1.26): `stop_sessid`, `tag_sessid`, `stop_tag`,
//! `stop_sessions`, `invalidate_sessions`. None has an answer; wrong shapes are ignored.

use serde_json::{Map, Value};

use crate::actors::supervisor::SessionCommand;

/// Strings from a string, an array of strings, or an object's values.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        Value::Object(o) => o
            .values()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// The session commands in a request.
pub fn commands(req: &Map<String, Value>) -> Vec<SessionCommand> {
    let mut out = Vec::new();
    if let Some(v) = req.get("invalidate_sessions") {
        let streams = strings(v);
        if !streams.is_empty() {
            out.push(SessionCommand::Invalidate(streams));
        }
    }
    if let Some(Value::Object(o)) = req.get("tag_sessid") {
        let pairs: Vec<(String, String)> = o
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|t| (k.clone(), t.to_string())))
            .collect();
        out.push(SessionCommand::Tag(pairs));
    }
    if let Some(v) = req.get("stop_sessid") {
        out.push(SessionCommand::StopIds(strings(v)));
    }
    if let Some(v) = req.get("stop_tag") {
        out.push(SessionCommand::StopTags(strings(v)));
    }
    if let Some(v) = req.get("stop_sessions") {
        let list: Vec<(String, Option<String>)> = match v {
            // The manual (§4.1.23): a string or an array of strings names streams.
            Value::String(s) => vec![(s.clone(), None)],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(|s| (s.to_string(), None)))
                .collect(),
            Value::Object(o) => o
                .iter()
                .filter_map(|(k, p)| p.as_str().map(|p| (k.clone(), Some(p.to_string()))))
                .collect(),
            _ => Vec::new(),
        };
        if !list.is_empty() {
            out.push(SessionCommand::StopStreams(list));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn shapes() {
        let c = commands(&req(
            json!({"stop_sessid": ["a", 5, "b"], "stop_tag": "vip", "stop_sessions": {"live": "INPUT", "": "HLS"}, "tag_sessid": {"s1": "paid"}, "invalidate_sessions": "live"}),
        ));
        assert_eq!(c.len(), 5);
        assert!(c
            .iter()
            .any(|x| matches!(x, SessionCommand::StopIds(ids) if ids == &["a", "b"])));
        assert!(c
            .iter()
            .any(|x| matches!(x, SessionCommand::StopStreams(l) if l.len() == 2)));
        assert!(commands(&req(json!({"stop_sessions": 5, "invalidate_sessions": []}))).is_empty());
        let c = commands(&req(json!({"stop_sessions": ["a", "b"]})));
        assert!(
            matches!(&c[0], SessionCommand::StopStreams(l) if l == &[("a".to_string(), None), ("b".to_string(), None)])
        );
    }
}
