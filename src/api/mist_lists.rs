//! Keys MistServer's web UI reads on every page that Eddy has little or nothing behind (facts
//! §2.2, §2.7): `variable_list`, `external_writer_list`, `jwks` and `bandwidth`. Each is answered
//! as MistServer answers it: what config.json holds, `null` where it holds nothing. Without an
//! answer the UI asks again and again (hundreds of requests a second), or throws.
//!
//! Eddy substitutes no custom variables, runs no external writers and checks no JWTs: the
//! commands that add or remove them are refused with a log line, and nothing is stored, so no
//! setting pretends to work. `bandwidth` is stored and answered (MistServer reports it, as
//! `mist_bw_limit`; neither server enforces it).

use serde_json::{json, Map, Value};

use crate::actors::config_edit::ConfigChange;

/// Bandwidth exceptions MistServer fills in when none are stored.
const DEFAULT_EXCEPTIONS: [&str; 5] = [
    "::1",
    "127.0.0.0/8",
    "10.0.0.0/8",
    "192.168.0.0/16",
    "172.16.0.0/12",
];

const UNSUPPORTED: [(&str, &str); 6] = [
    ("variable_add", "custom variables"),
    ("variable_remove", "custom variables"),
    ("external_writer_add", "external writers"),
    ("external_writer_remove", "external writers"),
    ("addjwks", "JWT keys"),
    ("deletejwks", "JWT keys"),
];

/// The `bandwidth` change a request asks for (members of the right type only).
pub fn changes(req: &Map<String, Value>) -> Vec<ConfigChange> {
    for (key, what) in UNSUPPORTED {
        if req.contains_key(key) {
            tracing::warn!(kind = "CONF", "{key} ignored: Eddy has no {what}");
        }
    }
    let Some(Value::Object(b)) = req.get("bandwidth") else {
        return Vec::new();
    };
    let mut members = Map::new();
    if let Some(limit) = b.get("limit").filter(|v| v.is_u64()) {
        members.insert("limit".into(), limit.clone());
    }
    if let Some(Value::Array(list)) = b.get("exceptions") {
        let list: Vec<Value> = list.iter().filter(|v| v.is_string()).cloned().collect();
        members.insert("exceptions".into(), Value::Array(list));
    }
    if members.is_empty() {
        return Vec::new();
    }
    vec![ConfigChange::Bandwidth(members)]
}

/// Adds the answers `req` asks for, from the stored configuration's other members.
pub fn answer(req: &Map<String, Value>, extra: &Map<String, Value>, resp: &mut Map<String, Value>) {
    let asked = |keys: &[&str]| keys.iter().any(|k| req.contains_key(*k));
    let stored = |key: &str| match extra.get(key) {
        Some(Value::Object(m)) if !m.is_empty() => Value::Object(m.clone()),
        Some(Value::Array(a)) if !a.is_empty() => Value::Array(a.clone()),
        _ => Value::Null,
    };
    if asked(&["variable_list", "variable_add", "variable_remove"]) {
        resp.insert("variable_list".into(), stored("variables"));
    }
    if asked(&[
        "external_writer_list",
        "external_writer_add",
        "external_writer_remove",
    ]) {
        resp.insert("external_writer_list".into(), stored("extwriters"));
    }
    if asked(&["jwks"]) {
        resp.insert("jwks".into(), stored("jwks"));
    }
    if asked(&["bandwidth"]) {
        resp.insert("bandwidth".into(), bandwidth(extra));
    }
}

/// The stored `bandwidth`, with MistServer's defaults for what is missing.
fn bandwidth(extra: &Map<String, Value>) -> Value {
    let stored = extra.get("bandwidth").and_then(Value::as_object);
    let limit = stored
        .and_then(|b| b.get("limit"))
        .filter(|v| v.is_u64())
        .cloned()
        .unwrap_or(json!(0));
    let exceptions = match stored.and_then(|b| b.get("exceptions")) {
        Some(Value::Array(list)) if !list.is_empty() => Value::Array(list.clone()),
        _ => json!(DEFAULT_EXCEPTIONS),
    };
    json!({"limit": limit, "exceptions": exceptions})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn empty_lists_are_null_and_bandwidth_has_defaults() {
        let req = obj(
            json!({"variable_list": true, "external_writer_list": true, "jwks": true, "bandwidth": true}),
        );
        let mut resp = Map::new();
        answer(&req, &Map::new(), &mut resp);
        assert_eq!(resp["variable_list"], Value::Null);
        assert_eq!(resp["external_writer_list"], Value::Null);
        assert_eq!(resp["jwks"], Value::Null);
        assert_eq!(resp["bandwidth"]["limit"], json!(0));
        assert_eq!(resp["bandwidth"]["exceptions"][1], json!("127.0.0.0/8"));
        assert!(changes(&req).is_empty(), "`bandwidth: true` is a read");
    }

    #[test]
    fn stored_values_are_answered() {
        let extra = obj(
            json!({"variables": {"v": {"value": "1"}}, "extwriters": [["w", "cmd", ["s3"]]], "bandwidth": {"limit": 5, "exceptions": ["1.2.3.4"]}}),
        );
        let mut resp = Map::new();
        answer(
            &obj(json!({"variable_add": ["x", "1"], "external_writer_list": 1, "bandwidth": {}})),
            &extra,
            &mut resp,
        );
        assert_eq!(resp["variable_list"], json!({"v": {"value": "1"}}));
        assert_eq!(resp["external_writer_list"], json!([["w", "cmd", ["s3"]]]));
        assert_eq!(
            resp["bandwidth"],
            json!({"limit": 5, "exceptions": ["1.2.3.4"]})
        );
    }

    #[test]
    fn bandwidth_members_of_the_wrong_type_are_ignored() {
        let c = changes(&obj(
            json!({"bandwidth": {"limit": "lots", "exceptions": ["::1", 3]}}),
        ));
        assert_eq!(
            c,
            vec![ConfigChange::Bandwidth(obj(json!({"exceptions": ["::1"]})))]
        );
        assert!(changes(&obj(json!({"bandwidth": {"limit": -1}}))).is_empty());
    }
}
