//! `config`, `addprotocol`, `deleteprotocol`, `updateprotocol` (manual §4.1.6-§4.1.9) and the
//! `config` answer.

use serde_json::{json, Map, Value};

use crate::actors::config_edit::ConfigChange;
use crate::actors::supervisor::Snapshot;
use crate::config::ProtocolEntry;

/// The configuration changes a request asks for, in order. Wrong shapes are ignored.
pub fn changes(req: &Map<String, Value>) -> Vec<ConfigChange> {
    let mut out = Vec::new();
    if let Some(Value::Object(members)) = req.get("config") {
        out.push(ConfigChange::Settings(members.clone()));
    }
    if let Some(list) = req.get("addprotocol").and_then(entries) {
        out.push(ConfigChange::AddProtocols(list));
    }
    if let Some(list) = req.get("deleteprotocol").and_then(entries) {
        out.push(ConfigChange::DeleteProtocols(list));
    }
    if let Some(Value::Array(pair)) = req.get("updateprotocol") {
        if let [Value::Object(old), Value::Object(new)] = pair.as_slice() {
            out.push(ConfigChange::UpdateProtocol {
                old: old.clone(),
                new: new.clone(),
            });
        }
    }
    out
}

/// One entry object, or a non-empty array of them (non-objects in the array are skipped).
fn entries(v: &Value) -> Option<Vec<ProtocolEntry>> {
    match v {
        Value::Object(o) => Some(vec![o.clone()]),
        Value::Array(list) => {
            let list: Vec<ProtocolEntry> =
                list.iter().filter_map(|e| e.as_object().cloned()).collect();
            (!list.is_empty()).then_some(list)
        }
        _ => None,
    }
}

/// The `config` answer: the stored section plus `online` per protocol, `iid`, `version`, `time`,
/// and `serverid` defaulted to `""` (facts §1.5).
pub fn config_answer(snap: &Snapshot) -> Value {
    let mut v = serde_json::to_value(&snap.config.config).unwrap_or_else(|_| json!({}));
    if let Some(obj) = v.as_object_mut() {
        obj.insert("protocols".into(), Value::Array(snap.protocols.clone()));
        obj.insert("iid".into(), json!(snap.iid));
        obj.insert("version".into(), json!(format!("{} Eddy", crate::VERSION)));
        obj.insert("time".into(), json!(chrono::Utc::now().timestamp()));
        obj.entry("serverid").or_insert(json!(""));
        obj.entry("accesslog").or_insert(json!("LOG"));
        obj.entry("prometheus").or_insert(json!(""));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Map<String, Value> {
        serde_json::from_str(s).expect("test request")
    }

    #[test]
    fn protocol_command_shapes() {
        let c = changes(&req(
            r#"{"addprotocol":{"connector":"HTTP"},"deleteprotocol":[{"connector":"X"},3],"updateprotocol":[{"connector":"A"},{"connector":"B"}]}"#,
        ));
        assert_eq!(c.len(), 3);
        for bad in [
            r#"{"addprotocol":5}"#,
            r#"{"addprotocol":[]}"#,
            r#"{"deleteprotocol":[]}"#,
            r#"{"deleteprotocol":"HTTP"}"#,
            r#"{"updateprotocol":[{"connector":"A"}]}"#,
            r#"{"updateprotocol":[{},{},{}]}"#,
            r#"{"updateprotocol":{"a":1}}"#,
            r#"{"config":[1]}"#,
        ] {
            assert!(changes(&req(bad)).is_empty(), "{bad}");
        }
    }
}
