//! Triggers (manual §4.4, facts §5): events handed to an HTTP URL or an executable, blocking or
//! not.
//!
//! Configuration is `config.triggers = {"NAME": [handler, ...]}`. A handler is an object
//! `{handler, sync, streams, params, default}`, or the legacy array `[handler, nonblocking,
//! [streams], default]`; the manual says the array's second element means *non-blocking*, and
//! the manual wins over today's MistServer here. A handler containing `://` is an HTTP URL: the
//! payload is POSTed with `X-Trigger: NAME` (plus `X-Trigger-UUID`, `X-Trigger-UnixMillis`,
//! `X-Instance`, `X-Name`); anything else is an executable run without a shell, with the trigger
//! name as its only argument and the payload on stdin.
//!
//! An answer is positive when, trimmed and lowercased, it starts with `1`, `yes`, `true` or
//! `cont`. Blocking handlers are waited for: an executable gets 10 s, an HTTP handler three
//! attempts of 5 s each; a handler that times out, cannot be reached or cannot be started gets its
//! `default` answer (itself `true` when empty). Non-blocking handlers return their default at
//! once. The result of an event is the AND over every matching handler; rewrite triggers use the
//! body of the last blocking handler.
//!
//! The design names a TriggerActor; [`Triggers`] is instead a shared handle each caller awaits
//! on its own task: an actor's mailbox would queue every event behind the slowest handler, and a
//! slow or dead handler must only hold up the one connection or change that waits for it. It is
//! not an actor, so it lives beside them: actors fire through it, and protocols reach it through
//! the stream hub ([`crate::hub::Hub::triggers`]).

pub mod catalogue;

use std::process::Stdio;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::stats::metrics;
use crate::stream_name;

/// How long a blocking executable may take.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one HTTP attempt may take, and how many are made.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
pub const HTTP_ATTEMPTS: u32 = 3;
/// At most this much of a handler's answer is read.
const MAX_ANSWER: usize = 64 * 1024;

/// One configured handler.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerHandler {
    pub handler: String,
    pub sync: bool,
    pub streams: Vec<String>,
    pub params: String,
    pub default: String,
}

/// The handlers configured for `name`, in order. Malformed entries are skipped.
pub fn handlers(triggers: &Map<String, Value>, name: &str) -> Vec<TriggerHandler> {
    let Some(Value::Array(list)) = triggers.get(name) else {
        return Vec::new();
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let streams = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    list.iter()
        .filter_map(|h| match h {
            Value::Object(o) => Some(TriggerHandler {
                handler: text(o.get("handler")),
                sync: o.get("sync").is_some_and(|s| {
                    s.as_bool().unwrap_or(false) || s.as_i64().is_some_and(|n| n != 0)
                }),
                streams: streams(o.get("streams")),
                params: text(o.get("params")),
                default: text(o.get("default")),
            }),
            Value::Array(a) => Some(TriggerHandler {
                handler: text(a.first()),
                sync: !a.get(1).and_then(Value::as_bool).unwrap_or(false),
                streams: streams(a.get(2)),
                params: String::new(),
                default: text(a.get(3)),
            }),
            _ => None,
        })
        .filter(|h| !h.handler.is_empty())
        .collect()
}

/// Whether a handler applies to `stream` (facts §5.2): an empty list or an empty stream name
/// always match; an entry matches the full name or its base name (so `live` covers `live+x`);
/// `#tag` matches a stream tag; `!entry` negates; a list of only negations matches unless one
/// of them hits.
pub fn applies(h: &TriggerHandler, stream: &str, tags: &[String]) -> bool {
    if h.streams.is_empty() || stream.is_empty() {
        return true;
    }
    let base = stream_name::base_name(stream);
    let hit = |entry: &str| match entry.strip_prefix('#') {
        Some(tag) => tags.iter().any(|t| t == tag),
        None => entry == stream || entry == base,
    };
    let mut positive = false;
    for entry in &h.streams {
        match entry.strip_prefix('!') {
            Some(neg) => {
                if hit(neg) {
                    return false;
                }
            }
            None => {
                positive = true;
                if hit(entry) {
                    return true;
                }
            }
        }
    }
    !positive
}

/// A positive answer starts with `1`, `yes`, `true` or `cont` (trimmed, any case).
pub fn truthy(answer: &str) -> bool {
    let a = answer.trim().to_ascii_lowercase();
    ["1", "yes", "true", "cont"]
        .iter()
        .any(|p| a.starts_with(p))
}

/// What firing a trigger decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// AND over the matching handlers (true when none matched).
    pub allowed: bool,
    /// The answer of the last blocking handler, for rewrite triggers (a failed handler's
    /// configured `default`; `None` when it has none).
    pub answer: Option<String>,
    /// How many handlers matched.
    pub matched: usize,
}

/// Identity sent along with every call.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub instance: String,
    pub server_name: String,
}

/// The trigger configuration, shared by everything that fires triggers; the supervisor keeps it
/// current.
#[derive(Debug, Clone, Default)]
pub struct Triggers {
    inner: Arc<RwLock<(Map<String, Value>, Identity)>>,
}

impl Triggers {
    /// Replaces the configuration (`config.triggers`) and the identity sent along.
    pub fn set(&self, triggers: Map<String, Value>, who: Identity) {
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = (triggers, who);
    }

    fn snapshot(&self) -> (Map<String, Value>, Identity) {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether any handler would run for this event (so callers can skip building payloads).
    pub fn configured(&self, name: &str, stream: &str) -> bool {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        configured(&inner.0, name, stream)
    }

    /// LIVE_BANDWIDTH (facts §5.2): only handlers whose `params` threshold (bytes per second)
    /// is at most `bytes_per_sec` run.
    pub async fn fire_bandwidth(&self, stream: &str, bytes_per_sec: u64) -> Outcome {
        let (config, who) = self.snapshot();
        let payload = format!("{stream}\n{bytes_per_sec}");
        let over = |params: &str| {
            params
                .trim()
                .parse::<u64>()
                .is_ok_and(|limit| limit <= bytes_per_sec)
        };
        fire_where(&config, "LIVE_BANDWIDTH", stream, &payload, &who, over).await
    }

    /// Fires an event and waits for its blocking handlers. Payload lines are joined by `\n`.
    pub async fn fire(&self, name: &str, stream: &str, lines: &[&str]) -> Outcome {
        let (config, who) = self.snapshot();
        fire(&config, name, stream, &lines.join("\n"), &who).await
    }

    /// Fires an event in the background when some handler wants it; for events whose answer
    /// changes nothing (STREAM_END, CONN_CLOSE, PUSH_END, ...).
    pub fn fire_later(&self, name: &'static str, stream: &str, lines: Vec<String>) {
        if !self.configured(name, stream) {
            return;
        }
        let (triggers, stream) = (self.clone(), stream.to_string());
        let task = async move {
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            triggers.fire(name, &stream, &refs).await;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(task);
            }
            Err(_) => tracing::debug!("{name}: no runtime to run handlers on"),
        }
    }
}

/// Runs the matching handlers of one trigger event. `triggers` is `config.triggers`.
pub async fn fire(
    triggers: &Map<String, Value>,
    name: &str,
    stream: &str,
    payload: &str,
    who: &Identity,
) -> Outcome {
    fire_where(triggers, name, stream, payload, who, |_| true).await
}

/// [`fire`], limited to handlers whose `params` pass `wanted` (LIVE_BANDWIDTH's threshold).
pub async fn fire_where(
    triggers: &Map<String, Value>,
    name: &str,
    stream: &str,
    payload: &str,
    who: &Identity,
    wanted: impl Fn(&str) -> bool,
) -> Outcome {
    let mut outcome = Outcome {
        allowed: true,
        answer: None,
        matched: 0,
    };
    for h in handlers(triggers, name)
        .into_iter()
        .filter(|h| applies(h, stream, &[]) && wanted(&h.params))
    {
        outcome.matched += 1;
        let default = if h.default.is_empty() {
            "true".to_string()
        } else {
            h.default.clone()
        };
        if !h.sync {
            let (name, payload, who) = (name.to_string(), payload.to_string(), who.clone());
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                // A handler nobody waits for has no answer to count as a failure.
                let _ = run(&h, &name, &payload, &who, false).await;
                metrics::trigger_call(&name, started.elapsed(), false);
            });
            outcome.allowed &= truthy(&default);
            continue;
        }
        let started = std::time::Instant::now();
        let answer = run(&h, name, payload, who, true).await;
        metrics::trigger_call(name, started.elapsed(), answer.is_none());
        match answer {
            Some(answer) => {
                outcome.allowed &= truthy(&answer);
                outcome.answer = Some(answer);
            }
            None => {
                outcome.allowed &= truthy(&default);
                // Rewrite triggers only take a default that was configured, never the
                // implicit "true".
                if !h.default.is_empty() {
                    outcome.answer = Some(h.default.clone());
                }
            }
        }
    }
    outcome
}

/// Whether any handler is configured for `name` and `stream`.
pub fn configured(triggers: &Map<String, Value>, name: &str, stream: &str) -> bool {
    handlers(triggers, name)
        .iter()
        .any(|h| applies(h, stream, &[]))
}

/// Calls one handler. `None` means it failed (time-out, unreachable, not startable) and the
/// default applies.
async fn run(
    h: &TriggerHandler,
    name: &str,
    payload: &str,
    who: &Identity,
    wait: bool,
) -> Option<String> {
    let uuid = uuid::Uuid::new_v4().to_string();
    let millis = chrono::Utc::now().timestamp_millis();
    if h.handler.contains("://") {
        run_http(h, name, payload, who, &uuid, millis, wait).await
    } else {
        run_exec(h, name, payload, who, &uuid, millis, wait).await
    }
}

/// One HTTP client for every handler call, built once rather than per event. It keeps no idle
/// connections: triggers fire from more than one runtime (and tests start many), and a pooled
/// connection belongs to the runtime that opened it.
fn http_client() -> Option<&'static reqwest::Client> {
    static CLIENT: std::sync::OnceLock<Option<reqwest::Client>> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(HTTP_TIMEOUT)
                .user_agent(crate::server_header())
                .pool_max_idle_per_host(0)
                .build()
                .map_err(|e| tracing::error!(kind = "FAIL", "no HTTP client for triggers: {e}"))
                .ok()
        })
        .as_ref()
}

async fn run_http(
    h: &TriggerHandler,
    name: &str,
    payload: &str,
    who: &Identity,
    uuid: &str,
    millis: i64,
    wait: bool,
) -> Option<String> {
    let client = http_client()?;
    for attempt in 1..=HTTP_ATTEMPTS {
        let mut req = client
            .post(&h.handler)
            .header("X-Trigger", name)
            .header("X-Trigger-UUID", uuid)
            .header("X-Trigger-UnixMillis", millis.to_string())
            .header("X-Attempt", attempt.to_string())
            .header("X-PID", std::process::id().to_string())
            .header("Content-Type", "text/plain")
            .body(payload.to_string());
        if !who.instance.is_empty() {
            req = req.header("X-Instance", &who.instance);
        }
        if !who.server_name.is_empty() {
            req = req.header("X-Name", &who.server_name);
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => {
                if !wait {
                    return None;
                }
                let body = resp.bytes().await.ok()?;
                return Some(
                    String::from_utf8_lossy(&body[..body.len().min(MAX_ANSWER)]).into_owned(),
                );
            }
            Ok(resp) => {
                tracing::warn!(
                    kind = "FAIL",
                    "Trigger {name}: {} answered {}",
                    h.handler,
                    resp.status()
                );
                return None;
            }
            Err(e) => {
                tracing::warn!(
                    kind = "FAIL",
                    "Trigger {name}: {} attempt {attempt} failed: {e}",
                    h.handler
                );
                // A handler that took the whole time-out is not asked again: the viewer (or
                // the stream) would wait three times as long for the default.
                if e.is_timeout() {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    None
}

async fn run_exec(
    h: &TriggerHandler,
    name: &str,
    payload: &str,
    who: &Identity,
    uuid: &str,
    millis: i64,
    wait: bool,
) -> Option<String> {
    let mut child = match tokio::process::Command::new(&h.handler)
        .arg(name)
        .env("MIST_TRIGGER", name)
        .env("MIST_TRIG_DEF", &h.default)
        .env("MIST_PID", std::process::id().to_string())
        .env("MIST_INSTANCE", &who.instance)
        .env("MIST_NAME", &who.server_name)
        .env("MIST_TUUID", uuid)
        .env("MIST_TIME", millis.to_string())
        .stdin(Stdio::piped())
        .stdout(if wait { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::null())
        .kill_on_drop(wait)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(
                kind = "FAIL",
                "Trigger {name}: cannot run {}: {e}",
                h.handler
            );
            return None;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A handler that does not read its input must not hold us up.
        let _ = tokio::time::timeout(EXEC_TIMEOUT, stdin.write_all(payload.as_bytes())).await;
    }
    if !wait {
        let _ = tokio::time::timeout(EXEC_TIMEOUT, child.wait()).await;
        return None;
    }
    let mut out = Vec::new();
    let mut stdout = child.stdout.take()?;
    let read = tokio::time::timeout(EXEC_TIMEOUT, async {
        let mut buf = [0u8; 4096];
        loop {
            match stdout.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) if out.len() < MAX_ANSWER => out.extend_from_slice(&buf[..n]),
                Ok(_) => {}
            }
        }
    })
    .await;
    if read.is_err() {
        let _ = child.kill().await;
        tracing::warn!(
            kind = "FAIL",
            "Trigger {name}: {} took longer than {EXEC_TIMEOUT:?}; killed",
            h.handler
        );
        if out.is_empty() {
            return None;
        }
    } else {
        // A handler that crashed (died by a signal or failed) without answering gets its
        // default; one that exits cleanly printing nothing answers "" (a denial, facts §5.3).
        let status = child.wait().await;
        if out.is_empty() && !status.is_ok_and(|s| s.success()) {
            tracing::warn!(
                kind = "FAIL",
                "Trigger {name}: {} failed without answering",
                h.handler
            );
            return None;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn both_syntaxes() {
        let t = cfg(json!({
            "STREAM_ADD": [
                {"handler": "http://a/", "sync": true, "streams": ["live"], "params": "", "default": "false"},
                ["/bin/handler", true, ["x"], "yes"],
                ["/bin/blocking", false],
                5, {"sync": true}
            ]
        }));
        let h = handlers(&t, "STREAM_ADD");
        assert_eq!(h.len(), 3);
        assert!(h[0].sync && h[0].default == "false");
        assert!(
            !h[1].sync,
            "legacy array: true means non-blocking (manual §4.4)"
        );
        assert!(h[2].sync);
        assert!(handlers(&t, "OTHER").is_empty());
    }

    #[test]
    fn stream_matching() {
        let h = |s: &[&str]| TriggerHandler {
            handler: "x".into(),
            sync: true,
            streams: s.iter().map(|x| x.to_string()).collect(),
            params: String::new(),
            default: String::new(),
        };
        assert!(applies(&h(&[]), "anything", &[]));
        assert!(applies(&h(&["live"]), "live", &[]));
        assert!(
            applies(&h(&["live"]), "live+cam", &[]),
            "base name covers wildcards"
        );
        assert!(!applies(&h(&["live+"]), "live+cam", &[]));
        assert!(!applies(&h(&["other"]), "live", &[]));
        assert!(applies(&h(&["!other"]), "live", &[]));
        assert!(!applies(&h(&["!live"]), "live+x", &[]));
        assert!(applies(&h(&["#vip"]), "live", &["vip".into()]));
        assert!(applies(&h(&["live"]), "", &[]), "global calls always match");
    }

    #[test]
    fn answers() {
        for yes in ["1", "yes", "TRUE\n", " continue", "true please"] {
            assert!(truthy(yes), "{yes:?}");
        }
        for no in ["", "0", "no", "false", "nope", "deny"] {
            assert!(!truthy(no), "{no:?}");
        }
    }

    #[tokio::test]
    async fn executables_blocking_and_defaults() {
        let dir = tempfile::tempdir().expect("dir");
        let script = |name: &str, body: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("script");
            let mut perm = std::fs::metadata(&p).expect("meta").permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
            std::fs::set_permissions(&p, perm).expect("chmod");
            p.to_string_lossy().into_owned()
        };
        let echo = script("echo.sh", "read a; read b; echo \"$1:$a:$b\"");
        let silent = script("silent.sh", "cat >/dev/null");
        let t = cfg(json!({
            "A": [{"handler": echo, "sync": true}],
            "B": [{"handler": silent, "sync": true, "default": "true"}],
            "C": [{"handler": "/no/such/handler", "sync": true, "default": "no"}],
            "D": [{"handler": "/no/such/handler", "sync": true}],
            "E": [{"handler": silent, "sync": false, "default": "false"}]
        }));
        let who = Identity::default();
        let o = fire(&t, "A", "live", "l1\nl2", &who).await;
        assert_eq!(o.answer.as_deref().map(str::trim), Some("A:l1:l2"));
        assert!(!o.allowed, "an answer that is not positive denies");
        let o = fire(&t, "B", "live", "x", &who).await;
        assert!(
            !o.allowed,
            "a blocking executable that prints nothing denies"
        );
        assert!(
            !fire(&t, "C", "", "x", &who).await.allowed,
            "unstartable: default no"
        );
        assert!(
            fire(&t, "D", "", "x", &who).await.allowed,
            "unstartable, no default: true"
        );
        assert!(
            !fire(&t, "E", "", "x", &who).await.allowed,
            "non-blocking: its default"
        );
        let o = fire(&t, "NONE", "", "x", &who).await;
        assert_eq!((o.allowed, o.matched), (true, 0));
    }
}
