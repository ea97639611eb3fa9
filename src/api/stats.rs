//! `active_streams` and `stats_streams` (manual §4.1.17-§4.1.18, facts §8.4).
//!
//! No stream runs in the foundation, so both answer with empty lists in every request form; the
//! live-path work fills them from the running StreamActors.

use serde_json::{json, Map, Value};

/// `active_streams`: a non-array, non-object asks for the list of names; an array of field names
/// for `{stream: [values]}`; an object for `{fields, data}` (or the long form).
pub fn active_streams(req: &Value) -> Value {
    match req {
        Value::Array(_) => json!({}),
        Value::Object(o) => {
            let longform = o.get("longform").is_some_and(super::truthy);
            if longform {
                json!({})
            } else {
                let fields = o
                    .get("fields")
                    .filter(|f| f.is_array())
                    .cloned()
                    .unwrap_or_else(default_fields);
                json!({"fields": fields, "data": Map::new()})
            }
        }
        _ => json!([]),
    }
}

fn default_fields() -> Value {
    json!([
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
        "tags"
    ])
}

/// `stats_streams`: the names of streams with statistics, or `{stream: [values]}` for an array.
pub fn stats_streams(req: &Value) -> Value {
    match req {
        Value::Array(_) => json!({}),
        _ => json!([]),
    }
}
