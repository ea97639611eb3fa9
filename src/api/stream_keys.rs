//! Stream keys (MistServer 3.x, facts §2.2): `streamkeys` (replace all, or read), `streamkey_add`
//! and `streamkey_del`. A key maps to a stream: an RTMP publisher that names the key as its
//! stream publishes into that stream, past the source's host and passphrase rules
//! ([`crate::actors::hub`]). Stored as `streamkeys` `{key: stream}` in config.json.

use serde_json::{json, Map, Value};

use crate::actors::config_edit::{ConfigChange, KeyDeletion};

/// The changes a request asks for, or the error answer for a wrong shape (MistServer's words).
pub fn changes(req: &Map<String, Value>, resp: &mut Map<String, Value>) -> Vec<ConfigChange> {
    let mut out = Vec::new();
    if let Some(Value::Object(all)) = req.get("streamkeys") {
        out.push(ConfigChange::ReplaceStreamKeys(string_pairs(all)));
    }
    match req.get("streamkey_add") {
        None => {}
        Some(Value::Object(add)) => out.push(ConfigChange::AddStreamKeys(string_pairs(add))),
        Some(_) => {
            resp.insert("error".into(), json!("streamkey_add must be an object"));
        }
    }
    match req.get("streamkey_del").map(deletions) {
        None => {}
        Some(Some(del)) => out.push(ConfigChange::DeleteStreamKeys(del)),
        Some(None) => {
            resp.insert(
                "error".into(),
                json!("streamkey_del must be a string, object or array"),
            );
        }
    }
    out
}

/// The members whose value is a stream name (others are skipped, as MistServer skips them).
fn string_pairs(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, v)| !k.is_empty() && v.as_str().is_some_and(|s| !s.is_empty()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn deletions(v: &Value) -> Option<Vec<KeyDeletion>> {
    let any = |k: &str| KeyDeletion {
        key: k.to_string(),
        stream: None,
    };
    match v {
        Value::String(k) => Some(vec![any(k)]),
        Value::Array(list) => Some(list.iter().filter_map(Value::as_str).map(any).collect()),
        Value::Object(pairs) => Some(
            pairs
                .iter()
                .map(|(k, s)| KeyDeletion {
                    key: k.clone(),
                    stream: Some(s.as_str().unwrap_or_default().to_string()),
                })
                .collect(),
        ),
        _ => None,
    }
}

/// The `streamkeys` answer: the stored keys, `null` when there are none (as MistServer).
pub fn answer(extra: &Map<String, Value>) -> Value {
    match extra.get("streamkeys") {
        Some(Value::Object(keys)) if !keys.is_empty() => Value::Object(keys.clone()),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn shapes() {
        let mut resp = Map::new();
        let c = changes(
            &req(json!({"streamkey_add": {"k1": "live", "bad": 3, "": "x"}})),
            &mut resp,
        );
        assert_eq!(
            c,
            vec![ConfigChange::AddStreamKeys(req(json!({"k1": "live"})))]
        );
        assert!(resp.is_empty());
        let c = changes(&req(json!({"streamkey_del": ["a", 1, "b"]})), &mut resp);
        let ConfigChange::DeleteStreamKeys(d) = &c[0] else {
            panic!("{c:?}")
        };
        assert_eq!(d.len(), 2);
        let c = changes(&req(json!({"streamkey_del": {"a": "live"}})), &mut resp);
        assert_eq!(
            c,
            vec![ConfigChange::DeleteStreamKeys(vec![KeyDeletion {
                key: "a".into(),
                stream: Some("live".into())
            }])]
        );
    }

    #[test]
    fn wrong_shapes_get_mistservers_errors_and_change_nothing() {
        let mut resp = Map::new();
        assert!(changes(&req(json!({"streamkey_add": "k"})), &mut resp).is_empty());
        assert_eq!(resp["error"], json!("streamkey_add must be an object"));
        let mut resp = Map::new();
        assert!(changes(&req(json!({"streamkey_del": 5})), &mut resp).is_empty());
        assert_eq!(
            resp["error"],
            json!("streamkey_del must be a string, object or array")
        );
        // A read: `streamkeys` that is not an object replaces nothing.
        assert!(changes(&req(json!({"streamkeys": true})), &mut Map::new()).is_empty());
    }

    #[test]
    fn answer_is_null_without_keys() {
        assert_eq!(answer(&Map::new()), Value::Null);
        assert_eq!(answer(&req(json!({"streamkeys": {}}))), Value::Null);
        assert_eq!(
            answer(&req(json!({"streamkeys": {"k": "live"}}))),
            json!({"k": "live"})
        );
    }
}
