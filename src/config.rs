//! The `config.json` model, in MistServer's shape (facts §3).
//!
//! ```text
//! {
//!   "account":      {"<user>": {"password": "<md5hex of the plaintext>"}},
//!   "config":       {"controller": {...}, "protocols": [...], "triggers": {...}, "serverid": "",
//!                    "prometheus": "", "accesslog": "LOG", ...},
//!   "streams":      {"<name>": {"name": "<name>", "source": "push://", ...}},
//!   "push_settings":{"wait": 0, "maxspeed": 0},
//!   "autopushes"/"auto_push", "ui_settings", ...
//! }
//! ```
//!
//! Every level keeps the keys it does not know in an `extra` map, so a config written by a
//! MistServer survives a load/save round trip. The runtime-only keys `online`, `error` and `log`
//! are never written (they are computed at run time and stripped from streams and protocols).
//! Writes are atomic: a temporary file in the same folder, flushed, then renamed over the old one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Keys that only exist at run time and are never written to disk (facts §3).
pub const RUNTIME_KEYS: [&str; 3] = ["online", "error", "log"];

/// A protocol (connector) entry: `{"connector": "HTTP", "port": 8080, ...}`, kept as given.
pub type ProtocolEntry = Map<String, Value>;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// API accounts; the password is stored as the md5 hex of the plaintext.
    #[serde(default)]
    pub account: BTreeMap<String, Account>,
    /// Server-wide settings.
    #[serde(default)]
    pub config: ServerSettings,
    /// Configured streams by name; each value is the stream's option object.
    #[serde(default)]
    pub streams: Map<String, Value>,
    /// Auto-push retry settings (manual §2.4), defaulted to `{wait: 0, maxspeed: 0}`.
    #[serde(default)]
    pub push_settings: PushSettings,
    /// Free-form storage for user interfaces (manual §4.1.14).
    #[serde(default = "empty_object")]
    pub ui_settings: Value,
    /// Everything else (`auto_push`, `autopushes`, `variables`, `streamkeys`, ...), kept as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

impl Default for Config {
    fn default() -> Self {
        Config {
            account: BTreeMap::new(),
            config: ServerSettings::default(),
            streams: Map::new(),
            push_settings: PushSettings::default(),
            ui_settings: empty_object(),
            extra: Map::new(),
        }
    }
}

/// One API account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// md5 hex of the plaintext password.
    pub password: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `config` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerSettings {
    #[serde(default)]
    pub controller: Controller,
    /// Enabled connectors, in order. Runtime `online` values are not stored here.
    #[serde(default)]
    pub protocols: Vec<ProtocolEntry>,
    /// Trigger handlers by trigger name (facts §5.1).
    #[serde(default)]
    pub triggers: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serverid: Option<String>,
    /// Path segment Prometheus metrics are served under; empty means disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<String>,
    /// `"LOG"` (default) writes the access log into the server log, `""` disables it, else a path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accesslog: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `config.controller`: where the API listens. Command-line flags win over these.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Controller {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `push_settings` (facts §7.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushSettings {
    #[serde(default = "default_wait")]
    pub wait: i64,
    #[serde(default)]
    pub maxspeed: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The manual (§2.4): "If this is set to zero (the default) there will be no retry attempts".
fn default_wait() -> i64 {
    0
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            wait: default_wait(),
            maxspeed: 0,
            extra: Map::new(),
        }
    }
}

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "config file {path} is not a valid Eddy/MistServer config ({source}); refusing to start. \
         The file was left untouched: fix or move it, then start again"
    )]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write config file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Config {
    /// Reads `path`. `Ok(None)` when the file does not exist (a first start).
    pub fn load(path: &Path) -> Result<Option<Config>, ConfigError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.into(),
                    source,
                })
            }
        };
        Self::parse(&bytes)
            .map(Some)
            .map_err(|source| ConfigError::Parse {
                path: path.into(),
                source,
            })
    }

    /// Parses config file content. An empty file counts as an empty config.
    pub fn parse(bytes: &[u8]) -> Result<Config, serde_json::Error> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Config::default());
        }
        let mut cfg: Config = serde_json::from_slice(bytes)?;
        cfg.strip_runtime_keys();
        if !cfg.ui_settings.is_object() {
            cfg.ui_settings = empty_object();
        }
        Ok(cfg)
    }

    /// The config as it is written to disk: pretty JSON plus a trailing newline.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut clean = self.clone();
        clean.strip_runtime_keys();
        // Serialising a tree of maps, strings and numbers cannot fail.
        let mut out = serde_json::to_vec_pretty(&clean).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Writes the config atomically: a temporary file beside `path`, synced, then renamed.
    pub fn save_atomic(&self, path: &Path) -> Result<(), ConfigError> {
        let err = |source| ConfigError::Write {
            path: path.into(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            file_name.unwrap_or_else(|| "config.json".into()),
            std::process::id()
        ));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&self.to_file_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(err)
    }

    /// Removes `online`, `error` and `log` where the runtime puts them: top level, the config
    /// section, protocol entries and stream entries.
    pub fn strip_runtime_keys(&mut self) {
        for k in RUNTIME_KEYS {
            self.extra.remove(k);
            self.config.extra.remove(k);
        }
        for p in &mut self.config.protocols {
            for k in RUNTIME_KEYS {
                p.remove(k);
            }
        }
        for s in self.streams.values_mut() {
            if let Some(obj) = s.as_object_mut() {
                for k in RUNTIME_KEYS {
                    obj.remove(k);
                }
            }
        }
    }

    /// True when at least one API account exists.
    pub fn has_accounts(&self) -> bool {
        !self.account.is_empty()
    }

    /// Creates or replaces an account from a plaintext password.
    pub fn set_account(&mut self, user: &str, plaintext: &str) {
        self.account.insert(
            user.to_string(),
            Account {
                password: md5_hex(plaintext.as_bytes()),
                extra: Map::new(),
            },
        );
    }
}

/// Lowercase hex MD5, as the API's password hashing uses it.
pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(data);
    let mut s = String::with_capacity(32);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Two protocol entries are the same when they are equal ignoring `online` (facts §2.5).
pub fn same_protocol(a: &ProtocolEntry, b: &ProtocolEntry) -> bool {
    let strip = |p: &ProtocolEntry| {
        let mut p = p.clone();
        for k in RUNTIME_KEYS {
            p.remove(k);
        }
        p
    };
    strip(a) == strip(b)
}

/// Removes later duplicates, keeping the first of each identical entry.
pub fn dedup_protocols(list: &mut Vec<ProtocolEntry>) {
    let mut kept: Vec<ProtocolEntry> = Vec::with_capacity(list.len());
    for p in list.drain(..) {
        if !kept.iter().any(|k| same_protocol(k, &p)) {
            kept.push(p);
        }
    }
    *list = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIST_CONFIG: &str = r#"{"account":{"test":{"password":"098f6bcd4621d373cade4e832627b4f6"}},
      "autopushes":[["live","/tmp/rec.flv"]],
      "config":{"accesslog":"LOG","controller":{"interface":"0.0.0.0","port":4242,"frobnicate":7},
        "protocols":[{"connector":"HTTP","port":8080,"online":1},{"connector":"RTMP","online":0}],
        "serverid":"","triggers":{},"sessionViewerMode":14,"prometheus":"metrics"},
      "push_settings":{"maxspeed":0,"wait":5},
      "streams":{"live":{"name":"live","source":"push://","DVR":50000,"online":1,"error":"x"}},
      "ui_settings":{"sort":"name"},"variables":{},"bandwidth":{"limit":0}}"#;

    #[test]
    fn unknown_keys_survive_a_round_trip() {
        let cfg = Config::parse(MIST_CONFIG.as_bytes()).expect("valid");
        let again = Config::parse(&cfg.to_file_bytes()).expect("valid");
        assert_eq!(cfg, again);
        let written: Value = serde_json::from_slice(&cfg.to_file_bytes()).expect("json");
        assert_eq!(written["autopushes"][0][1], "/tmp/rec.flv");
        assert_eq!(written["config"]["controller"]["frobnicate"], 7);
        assert_eq!(written["config"]["sessionViewerMode"], 14);
        assert_eq!(written["bandwidth"]["limit"], 0);
        assert_eq!(written["push_settings"]["wait"], 5);
        assert_eq!(written["ui_settings"]["sort"], "name");
    }

    #[test]
    fn runtime_keys_are_not_written() {
        let cfg = Config::parse(MIST_CONFIG.as_bytes()).expect("valid");
        let text = String::from_utf8(cfg.to_file_bytes()).expect("utf8");
        assert!(!text.contains("\"online\""), "{text}");
        assert!(!text.contains("\"error\""), "{text}");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn malformed_files_are_errors() {
        for bad in [
            "{",
            "[1,2]",
            "{\"streams\":5}",
            "{\"account\":{\"a\":{}}}",
            "nul",
            "\u{0}",
        ] {
            assert!(
                Config::parse(bad.as_bytes()).is_err(),
                "{bad:?} should not parse"
            );
        }
        assert_eq!(
            Config::parse(b"  \n").expect("empty is fine"),
            Config::default()
        );
    }

    #[test]
    fn push_settings_default() {
        let cfg = Config::parse(b"{}").expect("valid");
        assert_eq!(cfg.push_settings.wait, 0);
        assert_eq!(cfg.push_settings.maxspeed, 0);
    }

    #[test]
    fn atomic_save_replaces_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        std::fs::write(&path, "old").expect("write");
        let mut cfg = Config::default();
        cfg.set_account("test", "test");
        cfg.save_atomic(&path).expect("save");
        let back = Config::load(&path).expect("load").expect("exists");
        assert_eq!(
            back.account["test"].password,
            "098f6bcd4621d373cade4e832627b4f6"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn protocol_dedup_ignores_online() {
        let a: ProtocolEntry = serde_json::from_str(r#"{"connector":"HTTP","online":1}"#).unwrap();
        let b: ProtocolEntry = serde_json::from_str(r#"{"connector":"HTTP"}"#).unwrap();
        let c: ProtocolEntry = serde_json::from_str(r#"{"connector":"HTTP","port":81}"#).unwrap();
        let mut list = vec![a, b, c];
        dedup_protocols(&mut list);
        assert_eq!(list.len(), 2);
    }
}
