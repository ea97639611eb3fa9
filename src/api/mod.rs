//! The JSON control API (manual §4.1, facts §1-§2).
//!
//! [`execute`] runs one request object: authorisation first, then the changes in a fixed order
//! (config, protocols, streams, UI settings, save), then the answers, read from a snapshot taken
//! after the changes. Unknown keys are ignored; members of the wrong type are ignored (the
//! documented silent ignore) and never change the configuration.
//!
//! Transports: [`http`] (`/api`, `/api2`, JSONP, the web UI on other paths) and [`udp`].

pub mod auth;
pub mod http;
pub mod mist_lists;
pub mod push;
pub mod sessions;
pub mod settings;
pub mod stats;
pub mod stream_keys;
pub mod streams;
pub mod system;
pub mod udp;
pub mod ws;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix::Addr;
use serde_json::{json, Map, Value};

use crate::actors::config_edit::ConfigChange;
use crate::actors::supervisor::{
    ApplyChange, GetSnapshot, PreviewStreamEvents, RequestStop, SaveConfig, Snapshot, StopReason,
    Supervisor,
};
use crate::logbook::LogBook;
use auth::Challenger;

/// What every API transport shares.
#[derive(Clone)]
pub struct ApiContext {
    pub supervisor: Addr<Supervisor>,
    pub logbook: LogBook,
    pub challenger: Challenger,
    /// Where the API listens, for `api_endpoint`.
    pub api_addr: SocketAddr,
    /// Trigger handlers (STREAM_ADD, STREAM_CONFIG, STREAM_REMOVE).
    pub triggers: crate::triggers::Triggers,
    /// The statistics store (`clients`, `totals`, viewer counts, Prometheus).
    pub stats: crate::stats::Stats,
    /// When the server started (uptime).
    pub started: std::time::Instant,
    /// Turns true when the server shuts down: long-lived API connections (`/ws`) close.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

/// Who is asking, as the transport saw it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub peer: IpAddr,
    /// A local address and no proxy headers (facts §1.2).
    pub local: bool,
    /// `/api2` and UDP force the minimal answer.
    pub minimal: bool,
    /// The TCP connection's remembered authorisation; `None` for UDP.
    pub conn_auth: Option<Arc<AtomicBool>>,
    /// Authorised by a valid `Authorization: json {...}` header on this request.
    pub header_authorized: bool,
}

/// Runs one API request and returns the answer object.
pub async fn execute(
    ctx: &ApiContext,
    req: &Map<String, Value>,
    caller: &Caller,
) -> Map<String, Value> {
    let mut resp = Map::new();
    let Ok(mut snap) = ctx.supervisor.send(GetSnapshot).await else {
        resp.insert("error".into(), json!("Eddy is shutting down"));
        return resp;
    };
    let (authorize, authorized) = authorize(ctx, req, caller, &snap).await;
    resp.insert("authorize".into(), authorize);
    if !authorized {
        return resp;
    }
    resp.insert("LTS".into(), json!(1));
    let minimal = caller.minimal || req.get("minimal").is_some_and(truthy);

    // Changes, in a fixed order.
    let mut changes = settings::changes(req);
    changes.extend(streams::changes(req));
    if let Some(Value::Object(ui)) = req.get("ui_settings") {
        changes.push(ConfigChange::UiSettings(ui.clone()));
    }
    changes.extend(stream_keys::changes(req, &mut resp));
    changes.extend(mist_lists::changes(req));
    let mut touched = Vec::new();
    let (mut keys_added, mut keys_deleted) = (Vec::new(), Vec::new());
    let changed = !changes.is_empty();
    for change in changes {
        let refused = stream_triggers(ctx, &change).await;
        match ctx.supervisor.send(ApplyChange(change, refused)).await {
            Ok(outcome) => {
                touched.extend(outcome.streams_touched);
                keys_added.extend(outcome.keys_added);
                keys_deleted.extend(outcome.keys_deleted);
            }
            Err(_) => {
                resp.insert("error".into(), json!("Eddy is shutting down"));
                return resp;
            }
        }
    }
    for command in sessions::commands(req) {
        let _ = ctx.supervisor.send(command).await;
    }
    let push_commands = push::commands(req);
    let pushes_changed = !push_commands.is_empty();
    for command in push_commands {
        let _ = ctx.supervisor.send(command).await;
    }
    let saved = req.contains_key("save");
    if saved {
        let _ = ctx.supervisor.send(SaveConfig).await;
    }
    if changed || pushes_changed || saved {
        if let Ok(s) = ctx.supervisor.send(GetSnapshot).await {
            snap = s;
        }
    }

    // Answers.
    if let Some(v) = req.get("capabilities") {
        resp.insert(
            "capabilities".into(),
            if v.is_string() {
                Value::Null
            } else {
                system::capabilities(ctx.started.elapsed())
            },
        );
    }
    if let Some(v) = req.get("browse") {
        resp.insert("browse".into(), system::browse(v));
    }
    if req.contains_key("ui_settings") {
        resp.insert("ui_settings".into(), snap.config.ui_settings.clone());
    }
    mist_lists::answer(req, &snap.config.extra, &mut resp);
    if req.contains_key("streamkey_add") && !resp.contains_key("error") {
        resp.insert("streamkey_add".into(), json!({"added": keys_added}));
    }
    if req.contains_key("streamkey_del") && !resp.contains_key("error") {
        resp.insert("streamkey_del".into(), json!({"deleted": keys_deleted}));
    }
    if ["streamkeys", "streamkey_add", "streamkey_del"]
        .iter()
        .any(|k| req.contains_key(*k))
    {
        resp.insert("streamkeys".into(), stream_keys::answer(&snap.config.extra));
    }
    for key in ["update", "checkupdate", "autoupdate"] {
        if req.contains_key(key) {
            resp.insert("update".into(), system::update_status());
        }
    }
    if req.contains_key("active_streams") || req.contains_key("stats_streams") {
        stats::count_sessions(&mut snap.streams, &ctx.stats);
    }
    if let Some(v) = req.get("active_streams") {
        resp.insert(
            "active_streams".into(),
            stats::active_streams(v, &snap.streams),
        );
    }
    if let Some(v) = req.get("stats_streams") {
        let names = ctx.stats.streams();
        resp.insert(
            "stats_streams".into(),
            stats::stats_streams(v, &snap.streams, &names),
        );
    }
    if let Some(v) = req.get("clients") {
        let store = ctx.stats.lock();
        let now = crate::stats::unix_now();
        resp.insert(
            "clients".into(),
            crate::stats::query::clients(&store, v, now),
        );
    }
    if let Some(v) = req.get("totals") {
        let store = ctx.stats.lock();
        let now = crate::stats::unix_now();
        resp.insert("totals".into(), crate::stats::query::totals(&store, v, now));
    }
    if let Some(v) = req.get("fanout_latency") {
        // Eddy extension: the fan-out latency histogram; `{"reset": true}` clears it after reading.
        let hist = &crate::hub::latency::FANOUT_LATENCY;
        resp.insert("fanout_latency".into(), hist.to_json());
        if v.get("reset").is_some_and(truthy) {
            hist.reset();
        }
    }
    push::answers(req, &snap, &mut resp);
    if req.contains_key("unsaved_changes") {
        // Eddy extension: whether the configuration differs from the file on disk.
        resp.insert("unsaved_changes".into(), json!(snap.unsaved));
    }
    if req.contains_key("version") {
        resp.insert("version".into(), system::version());
    }
    if req.contains_key("api_endpoint") {
        resp.insert(
            "api_endpoint".into(),
            json!(system::api_endpoint(ctx.api_addr)),
        );
    }
    if !minimal || req.contains_key("config") {
        resp.insert("config".into(), settings::config_answer(&snap));
    }
    let stream_keys = ["streams", "addstream", "deletestream"];
    if !minimal || stream_keys.iter().any(|k| req.contains_key(*k)) {
        resp.insert("streams".into(), streams::answer(req, &snap, &touched));
    }
    if !minimal || req.contains_key("log") {
        resp.insert("log".into(), ctx.logbook.to_json());
    }
    if req.contains_key("clearstatlogs") || req.contains_key("clearstatlog") {
        ctx.logbook.clear();
        ctx.stats.clear();
    }
    if req.contains_key("shutdown") {
        if caller.local {
            tracing::info!(kind = "CONF", "Shutdown requested through the API");
            ctx.supervisor.do_send(RequestStop(StopReason::ApiRequest));
            resp.insert("shutdown".into(), json!("Shutting down"));
        } else {
            resp.insert(
                "shutdown".into(),
                json!("Ignored - only local users may request shutdown"),
            );
        }
    }
    if req.contains_key("logout") {
        if let Some(flag) = &caller.conn_auth {
            flag.store(false, Ordering::Relaxed);
        }
    }
    resp
}

/// Fires STREAM_ADD / STREAM_CONFIG / STREAM_REMOVE for a change (manual §4.4.5-7) and
/// returns the streams whose blocking handler said no.
async fn stream_triggers(ctx: &ApiContext, change: &ConfigChange) -> Vec<String> {
    let is_stream_change = matches!(
        change,
        ConfigChange::ReplaceStreams(_)
            | ConfigChange::AddStreams(_)
            | ConfigChange::DeleteStreams(_)
    );
    if !is_stream_change {
        return Vec::new();
    }
    let Ok(events) = ctx
        .supervisor
        .send(PreviewStreamEvents(change.clone()))
        .await
    else {
        return Vec::new();
    };
    let mut refused = Vec::new();
    for (name, event, cfg) in events {
        if !ctx.triggers.configured(event, &name) {
            continue;
        }
        let lines: Vec<&str> = if event == "STREAM_REMOVE" {
            vec![&name]
        } else {
            vec![&name, &cfg]
        };
        if !ctx.triggers.fire(event, &name, &lines).await.allowed {
            tracing::info!(
                kind = "CONF",
                stream = name.as_str(),
                "{event} handler refused the change to {name}"
            );
            refused.push(name);
        }
    }
    refused
}

/// Decides the `authorize` answer and whether the request may run (facts §1.3).
async fn authorize(
    ctx: &ApiContext,
    req: &Map<String, Value>,
    caller: &Caller,
    snap: &Snapshot,
) -> (Value, bool) {
    let conn_ok = caller
        .conn_auth
        .as_ref()
        .is_some_and(|f| f.load(Ordering::Relaxed));
    let auth = req.get("authorize").and_then(Value::as_object);
    let field = |k: &str| {
        auth.and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let host = caller.peer.to_string();
    let now = chrono::Utc::now().timestamp();
    let remember = || {
        if let Some(flag) = &caller.conn_auth {
            flag.store(true, Ordering::Relaxed);
        }
    };

    if !snap.config.has_accounts() {
        let (new_user, new_pass) = (field("new_username"), field("new_password"));
        if !new_user.is_empty() && !new_pass.is_empty() {
            let change = ConfigChange::CreateAccount {
                user: new_user.to_string(),
                password_md5: crate::config::md5_hex(new_pass.as_bytes()),
            };
            let _ = ctx.supervisor.send(ApplyChange(change, Vec::new())).await;
            let challenge = ctx.challenger.challenge(&host, now);
            return (
                json!({"status": "ACC_MADE", "challenge": challenge}),
                caller.local,
            );
        }
        // Local callers may configure a server without accounts; the UI offers to create one.
        return (json!({"status": "NOACC"}), caller.local);
    }
    if caller.local {
        return (json!({"status": "OK", "local": true}), true);
    }
    if conn_ok || caller.header_authorized {
        remember();
        return (json!({"status": "OK"}), true);
    }
    let (user, password) = (field("username"), field("password"));
    if !user.is_empty() {
        if let Some(account) = snap.config.account.get(user) {
            if ctx
                .challenger
                .accepts(&host, now, &account.password, password)
            {
                remember();
                // Failed logins are logged as warnings; successful ones only at debug level
                // (MistServer logs failures only), so they do not fill the UI's last log line.
                tracing::debug!(kind = "AUTH", "Login as {user} from {host}");
                return (json!({"status": "OK"}), true);
            }
        }
        if !password.is_empty() {
            // The name as given, up to 64 characters: anyone can send one of megabytes.
            let mut shown: String = user.chars().take(64).collect();
            if shown.len() < user.len() {
                shown.push_str("...");
            }
            tracing::warn!(kind = "AUTH", "Failed login as {shown:?} from {host}");
        }
    }
    (
        json!({"status": "CHALL", "challenge": ctx.challenger.challenge(&host, now)}),
        false,
    )
}

/// Checks an `Authorization: json {"username":..,"password":..}` header's object.
pub async fn header_login_ok(ctx: &ApiContext, creds: &Map<String, Value>, peer: IpAddr) -> bool {
    let Ok(snap) = ctx.supervisor.send(GetSnapshot).await else {
        return false;
    };
    let user = creds.get("username").and_then(Value::as_str).unwrap_or("");
    let password = creds.get("password").and_then(Value::as_str).unwrap_or("");
    let now = chrono::Utc::now().timestamp();
    snap.config.account.get(user).is_some_and(|a| {
        ctx.challenger
            .accepts(&peer.to_string(), now, &a.password, password)
    })
}

/// Whether accounts exist (the `Authorization` header is only checked then).
pub async fn accounts_exist(ctx: &ApiContext) -> bool {
    ctx.supervisor
        .send(GetSnapshot)
        .await
        .is_ok_and(|s| s.config.has_accounts())
}

/// MistServer's idea of a true flag: `true`, a non-zero number, or a non-empty string but "0".
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty() && s != "0",
        Value::Null => false,
        _ => true,
    }
}
