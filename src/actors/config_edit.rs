//! Edits to the configuration, as the supervisor applies them: pure functions on a [`Config`],
//! tested without actors. The API layer turns requests into [`ConfigChange`] values; the
//! supervisor applies them to a clone, then swaps the clone in.
//!
//! Bad parts of a change are skipped with a log line and the rest is applied, as MistServer does
//! ("bad input is almost always silently ignored", facts §2).

use serde_json::{Map, Value};

use crate::config::{dedup_protocols, same_protocol, Config, ProtocolEntry, RUNTIME_KEYS};
use crate::stream_name;

/// One change to the configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigChange {
    /// `streams`: the full list; streams absent from it are deleted.
    ReplaceStreams(Map<String, Value>),
    /// `addstream`: add or update these streams.
    AddStreams(Map<String, Value>),
    /// `deletestream`: remove these names.
    DeleteStreams(Vec<String>),
    /// `config`: the members given (facts §2.2).
    Settings(Map<String, Value>),
    AddProtocols(Vec<ProtocolEntry>),
    DeleteProtocols(Vec<ProtocolEntry>),
    UpdateProtocol {
        old: ProtocolEntry,
        new: ProtocolEntry,
    },
    UiSettings(Map<String, Value>),
    /// First account, from `authorize.new_username`/`new_password` (stored as md5 hex).
    CreateAccount {
        user: String,
        password_md5: String,
    },
    /// `streamkeys`: every stream key (`{key: stream}`).
    ReplaceStreamKeys(Map<String, Value>),
    /// `streamkey_add`: add or change these keys.
    AddStreamKeys(Map<String, Value>),
    /// `streamkey_del`.
    DeleteStreamKeys(Vec<KeyDeletion>),
    /// `bandwidth`: the members given (`limit`, `exceptions`).
    Bandwidth(Map<String, Value>),
}

/// One key of a `streamkey_del`: removed when it maps to `stream` (any stream when `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyDeletion {
    pub key: String,
    pub stream: Option<String>,
}

/// What a change did, for the API's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeOutcome {
    /// Stream names added or updated (sanitised).
    pub streams_touched: Vec<String>,
    /// Stream keys added or changed (`streamkey_add`'s answer).
    pub keys_added: Vec<String>,
    /// Stream keys removed (`streamkey_del`'s answer).
    pub keys_deleted: Vec<String>,
}

/// Members of a `config` command that are copied as given when present (besides the typed ones).
const PLAIN_SETTINGS: [&str; 9] = [
    "trustedproxy",
    "sessionViewerMode",
    "sessionInputMode",
    "sessionOutputMode",
    "sessionUnspecifiedMode",
    "sessionStreamInfoMode",
    "tknMode",
    "defaultStream",
    "location",
];

/// Applies `change` to `cfg`.
pub fn apply(cfg: &mut Config, change: ConfigChange) -> ChangeOutcome {
    let mut out = ChangeOutcome::default();
    match change {
        ConfigChange::ReplaceStreams(list) => {
            let mut keep = Vec::new();
            for (key, value) in list {
                if let Some(name) = put_stream(cfg, &key, value) {
                    keep.push(name.clone());
                    out.streams_touched.push(name);
                }
            }
            let gone: Vec<String> = cfg
                .streams
                .keys()
                .filter(|k| !keep.contains(k))
                .cloned()
                .collect();
            for name in gone {
                cfg.streams.remove(&name);
                tracing::info!(
                    kind = "CONF",
                    stream = name.as_str(),
                    "Deleted stream {name}"
                );
            }
        }
        ConfigChange::AddStreams(list) => {
            for (key, value) in list {
                if let Some(name) = put_stream(cfg, &key, value) {
                    out.streams_touched.push(name);
                }
            }
        }
        ConfigChange::DeleteStreams(names) => {
            for raw in names {
                let name = stream_name::sanitize(&raw);
                if cfg.streams.remove(&name).is_some() {
                    tracing::info!(
                        kind = "CONF",
                        stream = name.as_str(),
                        "Deleted stream {name}"
                    );
                }
            }
        }
        ConfigChange::Settings(members) => apply_settings(cfg, members),
        ConfigChange::AddProtocols(list) => {
            cfg.config
                .protocols
                .extend(list.into_iter().map(strip_runtime));
            dedup_protocols(&mut cfg.config.protocols);
        }
        ConfigChange::DeleteProtocols(list) => {
            cfg.config
                .protocols
                .retain(|p| !list.iter().any(|d| same_protocol(p, d)));
        }
        ConfigChange::UpdateProtocol { old, new } => {
            let new = strip_runtime(new);
            for p in cfg.config.protocols.iter_mut() {
                if same_protocol(p, &old) {
                    *p = new.clone();
                }
            }
            dedup_protocols(&mut cfg.config.protocols);
        }
        ConfigChange::UiSettings(v) => cfg.ui_settings = Value::Object(v),
        ConfigChange::CreateAccount { user, password_md5 } => {
            if cfg.account.is_empty() {
                cfg.account.insert(
                    user.clone(),
                    crate::config::Account {
                        password: password_md5,
                        extra: Map::new(),
                    },
                );
                tracing::info!(kind = "AUTH", "Created account {user} through the API");
            }
        }
        ConfigChange::Bandwidth(members) => {
            edit_extra_object(cfg, "bandwidth", |stored| stored.extend(members))
        }
        ConfigChange::ReplaceStreamKeys(keys) => {
            cfg.extra.insert("streamkeys".into(), Value::Object(keys));
        }
        ConfigChange::AddStreamKeys(keys) => edit_extra_object(cfg, "streamkeys", |stored| {
            for (key, stream) in keys {
                out.keys_added.push(key.clone());
                stored.insert(key, stream);
            }
        }),
        ConfigChange::DeleteStreamKeys(list) => edit_extra_object(cfg, "streamkeys", |stored| {
            for d in list {
                let matches = match (&d.stream, stored.get(&d.key)) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(want), Some(have)) => have.as_str() == Some(want.as_str()),
                };
                if matches {
                    stored.remove(&d.key);
                    out.keys_deleted.push(d.key);
                }
            }
        }),
    }
    out
}

/// Edits the object stored under `key` among the configuration's other members (`streamkeys`,
/// `bandwidth`); an empty one when absent or of another shape.
fn edit_extra_object(cfg: &mut Config, key: &str, edit: impl FnOnce(&mut Map<String, Value>)) {
    let mut object = match cfg.extra.remove(key) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    edit(&mut object);
    cfg.extra.insert(key.into(), Value::Object(object));
}

fn strip_runtime(mut p: ProtocolEntry) -> ProtocolEntry {
    for k in RUNTIME_KEYS {
        p.remove(k);
    }
    p
}

/// Adds or updates one stream; returns its stored name, or `None` when it was refused.
fn put_stream(cfg: &mut Config, key: &str, value: Value) -> Option<String> {
    let Value::Object(mut options) = value else {
        tracing::warn!(
            kind = "CONF",
            "Stream {key:?} ignored: its configuration is not an object"
        );
        return None;
    };
    let name = match stream_name::validate(key) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(kind = "CONF", "Stream {key:?} refused: {e}");
            return None;
        }
    };
    if stream_name::wildcard_part(&name).is_some() {
        tracing::warn!(
            kind = "CONF",
            "Stream {key:?} refused: configure the base name {:?}; wildcard streams take its settings",
            stream_name::base_name(&name)
        );
        return None;
    }
    if name != key {
        tracing::info!(
            kind = "CONF",
            stream = name.as_str(),
            "Stream name {key:?} stored as {name:?} (manual §3.1)"
        );
    }
    for k in RUNTIME_KEYS {
        options.remove(k);
    }
    options.insert("name".into(), Value::String(name.clone()));
    let options = Value::Object(options);
    match cfg.streams.get(&name) {
        Some(old) if *old == options => {}
        Some(_) => tracing::info!(
            kind = "CONF",
            stream = name.as_str(),
            "Updated stream {name}"
        ),
        None => tracing::info!(kind = "CONF", stream = name.as_str(), "Added stream {name}"),
    }
    cfg.streams.insert(name.clone(), options);
    Some(name)
}

fn apply_settings(cfg: &mut Config, members: Map<String, Value>) {
    let s = &mut cfg.config;
    for (key, value) in members {
        let ok = match (key.as_str(), value) {
            ("protocols", Value::Array(list)) => {
                let mut entries: Vec<ProtocolEntry> = list
                    .into_iter()
                    .filter_map(|v| match v {
                        Value::Object(o) => Some(strip_runtime(o)),
                        _ => None,
                    })
                    .collect();
                dedup_protocols(&mut entries);
                s.protocols = entries;
                true
            }
            ("protocols", Value::Null) => {
                s.protocols.clear();
                true
            }
            ("controller", Value::Object(c)) => match serde_json::from_value(Value::Object(c)) {
                Ok(c) => {
                    s.controller = c;
                    true
                }
                Err(_) => false,
            },
            ("controller", Value::Null) => {
                s.controller = Default::default();
                true
            }
            ("triggers", Value::Object(mut t)) => {
                t.retain(|_, v| !v.is_null());
                s.triggers = t;
                true
            }
            ("triggers", Value::Null) => {
                s.triggers.clear();
                true
            }
            ("serverid", v) => set_string(&mut s.serverid, v),
            ("prometheus", v) => set_string(&mut s.prometheus, v),
            ("accesslog", v) => set_string(&mut s.accesslog, v),
            ("debug", Value::Null) => {
                s.debug = None;
                true
            }
            ("debug", v @ Value::Number(_)) => {
                s.debug = Some(v);
                true
            }
            // Eddy's own bounds: a count, 0 for none (`protocols::limits`, the sessions).
            ("maxconnsperip" | "maxsessions", Value::Null) => {
                s.extra.remove(key.as_str());
                true
            }
            ("maxconnsperip" | "maxsessions", v @ Value::Number(_)) if v.as_u64().is_some() => {
                s.extra.insert(key.to_string(), v);
                true
            }
            (k, Value::Null) if PLAIN_SETTINGS.contains(&k) => {
                s.extra.remove(k);
                true
            }
            (k, v) if PLAIN_SETTINGS.contains(&k) => {
                s.extra.insert(k.to_string(), v);
                true
            }
            (_, _) => false,
        };
        if !ok {
            tracing::warn!(
                kind = "CONF",
                "Ignored config member {key:?}: unknown or of the wrong type"
            );
        }
    }
}

fn set_string(slot: &mut Option<String>, v: Value) -> bool {
    match v {
        Value::String(s) => {
            *slot = Some(s);
            true
        }
        Value::Null => {
            *slot = None;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("test value must be an object"),
        }
    }

    #[test]
    fn add_replace_delete_streams() {
        let mut cfg = Config::default();
        let out = apply(
            &mut cfg,
            ConfigChange::AddStreams(obj(json!({
                "Test-Stream-1": {"source": "push://"},
                "live": {"source": "push://", "online": 1},
                "bad": 5,
                "x+y": {"source": "push://"},
                "---": {"source": "push://"}
            }))),
        );
        assert_eq!(out.streams_touched, vec!["teststream1", "live"]);
        assert_eq!(cfg.streams["teststream1"]["name"], "teststream1");
        assert!(cfg.streams["live"].get("online").is_none());
        apply(
            &mut cfg,
            ConfigChange::DeleteStreams(vec!["TestStream1".into(), "nope".into()]),
        );
        assert_eq!(cfg.streams.keys().collect::<Vec<_>>(), vec!["live"]);
        apply(
            &mut cfg,
            ConfigChange::ReplaceStreams(obj(json!({"other": {"source": "/a.mp4"}}))),
        );
        assert_eq!(cfg.streams.keys().collect::<Vec<_>>(), vec!["other"]);
        apply(&mut cfg, ConfigChange::ReplaceStreams(Map::new()));
        assert!(cfg.streams.is_empty());
    }

    #[test]
    fn protocols_add_delete_update() {
        let mut cfg = Config::default();
        let http = obj(json!({"connector": "HTTP", "port": 8080}));
        apply(
            &mut cfg,
            ConfigChange::AddProtocols(vec![
                http.clone(),
                obj(json!({"connector": "HTTP", "port": 8080, "online": 1})),
            ]),
        );
        assert_eq!(cfg.config.protocols.len(), 1);
        let moved = obj(json!({"connector": "HTTP", "port": 8081}));
        apply(
            &mut cfg,
            ConfigChange::UpdateProtocol {
                old: http.clone(),
                new: moved.clone(),
            },
        );
        assert_eq!(cfg.config.protocols, vec![moved.clone()]);
        apply(&mut cfg, ConfigChange::DeleteProtocols(vec![http]));
        assert_eq!(
            cfg.config.protocols.len(),
            1,
            "only exact matches are deleted"
        );
        apply(&mut cfg, ConfigChange::DeleteProtocols(vec![moved]));
        assert!(cfg.config.protocols.is_empty());
    }

    #[test]
    fn settings_copy_known_members_only() {
        let mut cfg = Config::default();
        apply(
            &mut cfg,
            ConfigChange::Settings(obj(json!({
                "serverid": "edge-1", "prometheus": "metrics", "accesslog": 5,
                "triggers": {"USER_NEW": [{"handler": "http://x"}], "X": null},
                "tknMode": 3, "nonsense": true, "protocols": [{"connector": "HTTP"}, 7, {"connector": "HTTP"}]
            }))),
        );
        assert_eq!(cfg.config.serverid.as_deref(), Some("edge-1"));
        assert_eq!(cfg.config.prometheus.as_deref(), Some("metrics"));
        assert_eq!(cfg.config.accesslog, None, "wrong type ignored");
        assert!(cfg.config.triggers.contains_key("USER_NEW"));
        assert!(!cfg.config.triggers.contains_key("X"));
        assert_eq!(cfg.config.extra["tknMode"], 3);
        assert!(!cfg.config.extra.contains_key("nonsense"));
        assert_eq!(cfg.config.protocols.len(), 1);
        apply(
            &mut cfg,
            ConfigChange::Settings(obj(json!({"serverid": null}))),
        );
        assert_eq!(cfg.config.serverid, None);
    }

    #[test]
    fn first_account_only() {
        let mut cfg = Config::default();
        apply(
            &mut cfg,
            ConfigChange::CreateAccount {
                user: "a".into(),
                password_md5: "x".into(),
            },
        );
        apply(
            &mut cfg,
            ConfigChange::CreateAccount {
                user: "b".into(),
                password_md5: "y".into(),
            },
        );
        assert_eq!(cfg.account.keys().collect::<Vec<_>>(), vec!["a"]);
    }
}
