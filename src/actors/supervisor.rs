//! The Supervisor: owns the configuration and the registries, and is the only writer of the
//! configuration. The API and everything else talk to it by messages.
//!
//! - [`GetSnapshot`] hands out a copy of the configuration with the runtime view (protocol
//!   `online` values, instance id).
//! - [`ApplyChange`] applies a [`ConfigChange`] on a clone, swaps it in, restarts only the
//!   listeners whose entries changed, and marks the config for saving.
//! - [`SaveConfig`] writes it now; otherwise it is written once it has been unchanged for
//!   `autosave_after`, and at shutdown.
//! - [`Shutdown`] stops the listeners, writes the config and tells the server to exit.
//!
//! It finds or starts the StreamActor of a name ([`ResolveStream`]) and the SessionActor of a
//! connection ([`OpenSession`]) for the hub, and keeps the registries of streams, sessions and
//! pushes. The listeners and the push outputs are the protocols' ([`Listeners`],
//! [`PushRunner`]); the supervisor only drives them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::config_edit::{self, ChangeOutcome, ConfigChange};
use super::push::registry::{PushRegistry, Starter, SHUTDOWN_WAIT};
use super::push::{auto, PushEnded};
use super::session::{Control, SessionActor, SessionGone, SessionInfo};
use super::stream::{StopStream, StreamActor, StreamReport, StreamStats, UpdateConfig};
use crate::config::Config;
use crate::hub::outlets::{InputRunner, Listeners, PushRunner};
use crate::hub::push::ExitReason;
use crate::hub::session::{session_id, ConnInfo, SessionError, SessionKind};
use crate::hub::StreamError;
use crate::stats::Stats;
use crate::stream_name;
use crate::triggers::{Identity, Triggers};

/// How often the supervisor checks for pending saves and listeners to retry.
const TICK: Duration = Duration::from_secs(1);

/// Why the server is asked to stop.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    Signal(&'static str),
    ApiRequest,
    /// SYSTEM_START's handler said no.
    TriggerRefused,
}

/// The supervisor.
pub struct Supervisor {
    config: Config,
    config_path: PathBuf,
    /// What is on disk (the file bytes last read or written), to know when a save is due.
    on_disk: Vec<u8>,
    /// When the in-memory config last changed, while it differs from the disk.
    changed_at: Option<Instant>,
    autosave_after: Duration,
    /// The protocols' listeners for `config.protocols`.
    listeners: Box<dyn Listeners>,
    iid: String,
    /// Tells the server's main loop that a shutdown was requested through the API.
    stop_requests: mpsc::Sender<StopReason>,
    /// Active streams by full name.
    streams: HashMap<String, Addr<StreamActor>>,
    /// The trigger configuration, shared with streams and listeners.
    triggers: Triggers,
    session_cache: Duration,
    /// When "too many sessions" was last logged.
    sessions_full_logged: Option<Instant>,
    /// Sessions by id, with what the session commands match on.
    sessions: HashMap<String, (Addr<SessionActor>, SessionInfo)>,
    /// Their last reported numbers.
    stream_stats: BTreeMap<String, StreamStats>,
    /// Why a stream's input last failed (an unplayable file), until it plays or its
    /// configuration changes: the `streams` answer's `error`.
    stream_errors: BTreeMap<String, String>,
    /// Running pushes, active streams and the auto-push schedule.
    pushes: PushRegistry,
    /// What runs the pushes' outputs.
    push_runner: std::sync::Arc<dyn PushRunner>,
    inputs: std::sync::Arc<dyn InputRunner>,
    /// The statistics store, sampled every tick.
    stats: Stats,
}

/// How to start a [`Supervisor`].
pub struct SupervisorSettings {
    pub config: Config,
    pub config_path: PathBuf,
    /// The bytes of the config file as loaded; `None` on a first start.
    pub loaded_bytes: Option<Vec<u8>>,
    pub autosave_after: Duration,
    pub stop_requests: mpsc::Sender<StopReason>,
    /// The listeners for `config.protocols` (none run until the supervisor starts).
    pub listeners: Box<dyn Listeners>,
    /// What runs the pushes' outputs.
    pub push_runner: std::sync::Arc<dyn PushRunner>,
    /// What runs the inputs that bring their own media (TS over UDP, exec, HLS pulls).
    pub inputs: std::sync::Arc<dyn InputRunner>,
    /// The trigger handle; the supervisor keeps its configuration current.
    pub triggers: Triggers,
    /// How long sessions are remembered after their last connection.
    pub session_cache: Duration,
    /// The statistics store the sessions feed.
    pub stats: Stats,
}

impl Supervisor {
    pub fn new(s: SupervisorSettings) -> Self {
        // What is on disk, as Eddy would write it: a file in another layout (hand-written,
        // MistServer's) with the same content is not an unsaved change.
        let on_disk = s
            .loaded_bytes
            .map(|b| Config::parse(&b).map_or(b, |c| c.to_file_bytes()))
            .unwrap_or_default();
        let dirty = s.config.to_file_bytes() != on_disk;
        Supervisor {
            config: s.config,
            config_path: s.config_path,
            on_disk,
            changed_at: dirty.then(Instant::now),
            autosave_after: s.autosave_after,
            listeners: s.listeners,
            iid: instance_id(),
            stop_requests: s.stop_requests,
            streams: HashMap::new(),
            triggers: s.triggers,
            sessions: HashMap::new(),
            session_cache: s.session_cache,
            sessions_full_logged: None,
            stream_stats: BTreeMap::new(),
            stream_errors: BTreeMap::new(),
            pushes: PushRegistry::default(),
            push_runner: s.push_runner,
            inputs: s.inputs,
            stats: s.stats,
        }
    }

    fn save(&mut self) -> Result<(), String> {
        let bytes = self.config.to_file_bytes();
        self.config.save_atomic(&self.config_path).map_err(|e| {
            tracing::error!(kind = "FAIL", "{e}");
            e.to_string()
        })?;
        tracing::info!(
            kind = "CONF",
            "Config written to {}",
            self.config_path.display()
        );
        self.on_disk = bytes;
        self.changed_at = None;
        crate::stats::metrics::count(&crate::stats::metrics::CONFIG_SAVES);
        Ok(())
    }

    /// Hands the current trigger configuration to everything that fires triggers.
    fn apply_triggers(&self) {
        let who = Identity {
            instance: self.iid.clone(),
            server_name: self.config.config.serverid.clone().unwrap_or_default(),
        };
        self.triggers.set(self.config.config.triggers.clone(), who);
    }

    /// The shared trigger handle.
    pub fn triggers(&self) -> Triggers {
        self.triggers.clone()
    }

    fn note_change(&mut self) {
        if self.config.to_file_bytes() != self.on_disk {
            self.changed_at = Some(Instant::now());
        } else {
            self.changed_at = None;
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if let Some(at) = self.changed_at {
            if at.elapsed() >= self.autosave_after {
                let _ = self.save();
            }
        }
        if self.listeners.has_failures() {
            let wanted = self.config.config.protocols.clone();
            self.listeners.start_missing(&wanted);
        }
        self.push_tick(ctx);
        self.start_always_on(ctx);
        let ended = self.stats.sample(crate::stats::unix_now());
        self.write_access_log(&ended);
    }

    /// Starts the `always_on` streams whose input brings its own media (TS over UDP, exec,
    /// HLS pulls) that are not running; a failed one is tried again at the next tick, and its
    /// input's own back-off applies while it runs. Push streams wait for their publisher.
    fn start_always_on(&mut self, ctx: &mut Context<Self>) {
        let wanted: Vec<String> = self
            .config
            .streams
            .iter()
            .filter(|(name, cfg)| {
                let on = matches!(cfg.get("always_on"), Some(Value::Bool(true)))
                    || cfg.get("always_on").and_then(Value::as_i64) == Some(1);
                let source = cfg.get("source").and_then(Value::as_str).unwrap_or("");
                on && self.inputs.input_for(source).is_some()
                    && !self.streams.get(*name).is_some_and(|a| a.connected())
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in wanted {
            let resolve = ResolveStream { name, create: true };
            let _ = <Self as Handler<ResolveStream>>::handle(self, resolve, ctx);
        }
    }

    /// Writes ended visits where `config.accesslog` says (LOG by default).
    fn write_access_log(&self, visits: &[crate::stats::VisitEnd]) {
        let setting = self.config.config.accesslog.as_deref().unwrap_or("LOG");
        crate::stats::access::write(setting, visits);
        self.stats.remember_visits(visits);
    }

    /// What the push registry starts pushes with.
    fn push_starter(&self, ctx: &Context<Self>) -> Starter {
        Starter {
            runner: self.push_runner.clone(),
            ended: ctx.address().recipient(),
        }
    }

    /// The auto-push schedule: restarts, scheduled starts, expired rules.
    fn push_tick(&mut self, ctx: &mut Context<Self>) {
        let rules = auto::rules(&self.config);
        if rules.is_empty() {
            return;
        }
        let starter = self.push_starter(ctx);
        let now = chrono::Utc::now().timestamp();
        let settings = self.config.push_settings.clone();
        let plan = self.pushes.tick(&starter, &rules, &settings, now);
        if !plan.expired.is_empty() {
            let expired: Vec<_> = rules
                .iter()
                .filter(|r| plan.expired.contains(&r.id))
                .cloned()
                .collect();
            self.pushes.stop_rules(&expired);
        }
        let gone: Vec<String> = plan.expired.into_iter().chain(plan.done).collect();
        if !gone.is_empty() {
            auto::remove_ids(&mut self.config, &gone);
            self.note_change();
        }
    }

    /// Hands `config.maxconnsperip` to the listeners.
    fn apply_limits(&self) {
        let per_ip = self
            .config
            .config
            .extra
            .get("maxconnsperip")
            .and_then(Value::as_u64);
        self.listeners.set_conn_limit(per_ip);
    }

    /// Restarts listeners after a change: stop the retired ones, wait, start the new ones.
    fn reconcile(&mut self) -> ResponseActFuture<Self, ()> {
        let wanted = self.config.config.protocols.clone();
        self.apply_limits();
        let stops = self.listeners.retire(&wanted);
        Box::pin(
            async move {
                for s in stops {
                    s.await;
                }
            }
            .into_actor(self)
            .map(move |_, act, _| act.listeners.start_missing(&wanted)),
        )
    }

    fn snapshot(&self) -> Snapshot {
        let protocols = self
            .config
            .config
            .protocols
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.insert("online".into(), self.listeners.online(&p));
                Value::Object(p)
            })
            .collect();
        Snapshot {
            config: self.config.clone(),
            protocols,
            iid: self.iid.clone(),
            streams: self.stream_stats.values().cloned().collect(),
            errors: self.stream_errors.clone(),
            pushes: self.pushes.rows(),
            unsaved: self.changed_at.is_some(),
        }
    }

    /// Tells running streams about configuration changes; ends those no longer configured.
    fn update_streams(&mut self) {
        for (name, addr) in &self.streams {
            match self
                .config
                .streams
                .get(stream_name::base_name(name))
                .and_then(Value::as_object)
            {
                Some(cfg) => addr.do_send(UpdateConfig(cfg.clone())),
                None => {
                    tracing::info!(
                        kind = "STRM",
                        stream = name.as_str(),
                        "Stream {name} is no longer configured; ending it"
                    );
                    addr.do_send(StopStream);
                }
            }
        }
    }
}

/// 16 characters, fresh per boot (facts §1.5 `iid`).
fn instance_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.apply_triggers();
        ctx.wait(self.reconcile());
        ctx.run_interval(TICK, |act, ctx| act.tick(ctx));
    }
}

/// The configuration and its runtime view, as of one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub config: Config,
    /// `config.protocols` with each entry's `online` value.
    pub protocols: Vec<Value>,
    /// Instance id, fresh per boot.
    pub iid: String,
    /// Active streams and their numbers.
    pub streams: Vec<StreamStats>,
    /// Streams whose input failed, and why (`Stream offline: ...`).
    pub errors: BTreeMap<String, String>,
    /// `push_list` rows of the running pushes.
    pub pushes: Vec<Value>,
    /// The configuration differs from what is on disk (the autosave or `save` writes it).
    pub unsaved: bool,
}

/// Asks for a [`Snapshot`].
#[derive(Message)]
#[rtype(result = "Snapshot")]
pub struct GetSnapshot;

impl Handler<GetSnapshot> for Supervisor {
    type Result = MessageResult<GetSnapshot>;
    fn handle(&mut self, _: GetSnapshot, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.snapshot())
    }
}

/// Applies a change to the configuration. Streams named in `refused` keep their current
/// configuration (a STREAM_ADD/CONFIG/REMOVE handler said no; see [`PreviewStreamEvents`]).
#[derive(Message)]
#[rtype(result = "ChangeOutcome")]
pub struct ApplyChange(pub ConfigChange, pub Vec<String>);

impl Handler<ApplyChange> for Supervisor {
    type Result = AtomicResponse<Self, ChangeOutcome>;
    fn handle(&mut self, msg: ApplyChange, _: &mut Self::Context) -> Self::Result {
        let ApplyChange(change, refused) = msg;
        let mut next = self.config.clone();
        let mut outcome = config_edit::apply(&mut next, change);
        for name in &refused {
            match self.config.streams.get(name) {
                Some(old) => next.streams.insert(name.clone(), old.clone()),
                None => next.streams.remove(name),
            };
        }
        outcome.streams_touched.retain(|n| !refused.contains(n));
        let protocols_changed = next.config.protocols != self.config.config.protocols;
        let streams_changed = next.streams != self.config.streams;
        // A stream configured anew gets a fresh chance: its last failure is forgotten.
        self.stream_errors
            .retain(|name, _| next.streams.get(name) == self.config.streams.get(name));
        self.config = next;
        self.apply_triggers();
        self.apply_limits();
        self.note_change();
        if streams_changed {
            self.update_streams();
        }
        if !protocols_changed {
            return AtomicResponse::new(Box::pin(fut::ready(outcome)));
        }
        AtomicResponse::new(Box::pin(self.reconcile().map(move |_, _, _| outcome)))
    }
}

/// The STREAM_ADD / STREAM_CONFIG / STREAM_REMOVE events a change would make, as
/// `(stream, trigger, new config JSON)`, without applying it. The API fires those triggers on
/// its own task (a slow handler must not stall the supervisor) and then sends [`ApplyChange`]
/// with the refused streams.
#[derive(Message)]
#[rtype(result = "Vec<(String, &'static str, String)>")]
pub struct PreviewStreamEvents(pub ConfigChange);

impl Handler<PreviewStreamEvents> for Supervisor {
    type Result = MessageResult<PreviewStreamEvents>;
    fn handle(&mut self, msg: PreviewStreamEvents, _: &mut Self::Context) -> Self::Result {
        let mut next = self.config.clone();
        // A dry run: its log lines ("Added stream ...") come when the change is applied.
        let quiet = tracing::subscriber::NoSubscriber::default();
        tracing::subscriber::with_default(quiet, || config_edit::apply(&mut next, msg.0));
        MessageResult(stream_events(&self.config, &next))
    }
}

/// The stream events a change makes: (name, trigger, new config JSON).
fn stream_events(old: &Config, new: &Config) -> Vec<(String, &'static str, String)> {
    let mut events = Vec::new();
    for (name, cfg) in &new.streams {
        match old.streams.get(name) {
            None => events.push((name.clone(), "STREAM_ADD", cfg.to_string())),
            Some(o) if o != cfg => events.push((name.clone(), "STREAM_CONFIG", cfg.to_string())),
            _ => {}
        }
    }
    for name in old.streams.keys().filter(|n| !new.streams.contains_key(*n)) {
        events.push((name.clone(), "STREAM_REMOVE", String::new()));
    }
    events
}

/// Writes the configuration to disk now.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct SaveConfig;

impl Handler<SaveConfig> for Supervisor {
    type Result = Result<(), String>;
    fn handle(&mut self, _: SaveConfig, _: &mut Self::Context) -> Self::Result {
        self.save()
    }
}

/// Asks the server to shut down (the API's `shutdown`); the server then sends [`Shutdown`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct RequestStop(pub StopReason);

impl Handler<RequestStop> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: RequestStop, _: &mut Self::Context) {
        // A full channel means a stop is already on its way.
        let _ = self.stop_requests.try_send(msg.0);
    }
}

/// Stops every listener and writes the configuration.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for Supervisor {
    type Result = AtomicResponse<Self, ()>;
    fn handle(&mut self, _: Shutdown, _: &mut Self::Context) -> Self::Result {
        let _ = self.save();
        let pushes = self.pushes.stop_all();
        for addr in self.streams.values() {
            addr.do_send(StopStream);
        }
        let stops = self.listeners.retire_all();
        AtomicResponse::new(Box::pin(
            async move {
                // Recordings finish their files before the server exits.
                let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT;
                for mut done in pushes {
                    let _ = tokio::time::timeout_at(deadline, done.wait_for(|d| *d)).await;
                }
                for s in stops {
                    s.await;
                }
            }
            .into_actor(self),
        ))
    }
}

/// A stream opened for publishing or playing.
pub struct StreamRef {
    /// The sanitised full name (`base+wildcard`).
    pub name: String,
    pub addr: Addr<StreamActor>,
}

/// The stream a stream key publishes into (`streamkeys` in the configuration), if `0` is one.
#[derive(Message)]
#[rtype(result = "Option<String>")]
pub struct StreamKeyTarget(pub String);

impl Handler<StreamKeyTarget> for Supervisor {
    type Result = Option<String>;
    fn handle(&mut self, msg: StreamKeyTarget, _: &mut Self::Context) -> Self::Result {
        self.config
            .extra
            .get("streamkeys")?
            .get(&msg.0)?
            .as_str()
            .map(String::from)
    }
}

/// Finds or starts the StreamActor for a requested name. The base name must be configured.
#[derive(Message)]
#[rtype(result = "Result<StreamRef, StreamError>")]
pub struct ResolveStream {
    pub name: String,
    /// Start the stream when it is configured but not running (false: only find running ones).
    pub create: bool,
}

impl Handler<ResolveStream> for Supervisor {
    type Result = Result<StreamRef, StreamError>;
    fn handle(&mut self, msg: ResolveStream, ctx: &mut Self::Context) -> Self::Result {
        let name = stream_name::validate(&msg.name)
            .map_err(|e| StreamError::InvalidName(format!("{:?}: {e}", msg.name)))?;
        let base = stream_name::base_name(&name);
        let config = self
            .config
            .streams
            .get(base)
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| StreamError::NotConfigured(name.clone()))?;
        // An on-demand stream has nothing to wait for: it starts for a look at it too.
        let on_demand = config
            .get("source")
            .and_then(Value::as_str)
            .is_some_and(crate::hub::vod::on_demand);
        let addr = match self.streams.get(&name) {
            Some(a) if a.connected() => a.clone(),
            _ if !msg.create && !on_demand => return Err(StreamError::Offline(name)),
            _ => {
                let a = StreamActor::new(
                    name.clone(),
                    &config,
                    ctx.address().recipient(),
                    self.triggers.clone(),
                    self.inputs.clone(),
                )
                .start();
                self.streams.insert(name.clone(), a.clone());
                a
            }
        };
        Ok(StreamRef { name, addr })
    }
}

impl Handler<StreamReport> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: StreamReport, ctx: &mut Self::Context) {
        match msg {
            StreamReport::Status(stats) => {
                if self.streams.contains_key(&stats.name) {
                    if stats.status == "Online" {
                        self.stream_errors.remove(&stats.name);
                    }
                    self.stream_stats.insert(stats.name.clone(), stats);
                }
            }
            // Kept for the `streams` answer, so only for configured names: a wildcard
            // instance's failure (a folder's missing file) is in the log, and any number of
            // made-up names cannot grow this map.
            StreamReport::Failed { name, reason } if self.config.streams.contains_key(&name) => {
                self.stream_errors
                    .insert(name, format!("Stream offline: {reason}"));
            }
            StreamReport::Failed { .. } => {}
            StreamReport::Ready(name) => {
                let starter = self.push_starter(ctx);
                let rules = auto::rules(&self.config);
                let now = chrono::Utc::now().timestamp();
                self.pushes.on_ready(&starter, &rules, &name, now);
            }
            StreamReport::Gone { name, addr } => {
                if self.streams.get(&name) == Some(&addr) {
                    self.pushes.on_gone(&name);
                    self.streams.remove(&name);
                    self.stream_stats.remove(&name);
                }
            }
        }
    }
}

/// Most sessions held in memory unless `config.maxsessions` says otherwise (0: no limit).
pub const MAX_SESSIONS: usize = 100_000;

/// Finds or starts the session of a connection; a new one is refused when
/// `config.maxsessions` sessions are held already.
#[derive(Message)]
#[rtype(result = "Result<Addr<SessionActor>, SessionError>")]
pub struct OpenSession(pub ConnInfo);

impl Handler<OpenSession> for Supervisor {
    type Result = Result<Addr<SessionActor>, SessionError>;
    fn handle(&mut self, msg: OpenSession, ctx: &mut Self::Context) -> Self::Result {
        let id = session_id(&msg.0);
        if let Some((addr, _)) = self.sessions.get(&id) {
            if addr.connected() {
                return Ok(addr.clone());
            }
        }
        let limit = match self
            .config
            .config
            .extra
            .get("maxsessions")
            .and_then(Value::as_u64)
        {
            Some(0) => usize::MAX,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => MAX_SESSIONS,
        };
        if self.sessions.len() >= limit {
            let now = Instant::now();
            if self
                .sessions_full_logged
                .is_none_or(|t| now - t >= Duration::from_secs(10))
            {
                self.sessions_full_logged = Some(now);
                tracing::warn!(
                    kind = "ACCS",
                    "{} sessions held (config maxsessions); refusing new ones from {}",
                    self.sessions.len(),
                    msg.0.ip
                );
            }
            return Err(SessionError::Refused(format!(
                "too many sessions ({}; config maxsessions)",
                self.sessions.len()
            )));
        }
        let actor = SessionActor::new(
            msg.0,
            self.triggers.clone(),
            ctx.address().recipient(),
            self.session_cache,
            self.stats.clone(),
        );
        let info = actor.info().clone();
        let addr = actor.start();
        self.sessions.insert(id, (addr.clone(), info));
        Ok(addr)
    }
}

impl Handler<SessionGone> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: SessionGone, _: &mut Self::Context) {
        match msg {
            SessionGone::Expired { id, addr } => {
                if self.sessions.get(&id).is_some_and(|(a, _)| *a == addr) {
                    self.sessions.remove(&id);
                }
            }
            SessionGone::Visit(v) => self.write_access_log(&[v]),
        }
    }
}

/// The session commands (manual §4.1.22-§4.1.26).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum SessionCommand {
    StopIds(Vec<String>),
    StopTags(Vec<String>),
    /// `(stream, protocol)`: an empty stream matches every stream; `None` every protocol;
    /// `INPUT`/`OUTPUT` match input/output sessions.
    StopStreams(Vec<(String, Option<String>)>),
    Tag(Vec<(String, String)>),
    Invalidate(Vec<String>),
}

impl Handler<SessionCommand> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: SessionCommand, _: &mut Self::Context) {
        match msg {
            SessionCommand::StopIds(ids) => {
                for id in ids {
                    if let Some((a, _)) = self.sessions.get(&id) {
                        a.do_send(Control::Stop);
                    }
                }
            }
            SessionCommand::StopTags(tags) => {
                for (a, _) in self.sessions.values() {
                    for t in &tags {
                        a.do_send(Control::StopIfTagged(t.clone()));
                    }
                }
            }
            SessionCommand::StopStreams(list) => {
                for (a, info) in self.sessions.values() {
                    for (stream, proto) in &list {
                        if !(stream.is_empty() || *stream == info.stream) {
                            continue;
                        }
                        match proto.as_deref() {
                            None => a.do_send(Control::Stop),
                            Some("INPUT") if info.kind == SessionKind::Input => {
                                a.do_send(Control::Stop)
                            }
                            Some("OUTPUT") if info.kind == SessionKind::Output => {
                                a.do_send(Control::Stop)
                            }
                            Some("INPUT" | "OUTPUT") => {}
                            // A viewer session spans protocols: only that protocol's
                            // connections close (case-sensitive, manual §4.1.23).
                            Some(p) if info.kind == SessionKind::Viewer => {
                                a.do_send(Control::StopProtocol(p.to_string()))
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
            SessionCommand::Tag(pairs) => {
                for (id, tag) in pairs {
                    match self.sessions.get(&id) {
                        Some((a, _)) => a.do_send(Control::Tag(tag)),
                        None if tag.starts_with("UA:") => {}
                        None => tracing::warn!(kind = "ACCS", "tag_sessid: no session {id}"),
                    }
                }
            }
            SessionCommand::Invalidate(streams) => {
                for (a, info) in self.sessions.values() {
                    if streams.contains(&info.stream) {
                        a.do_send(Control::Invalidate);
                    }
                }
            }
        }
    }
}

/// The push commands (manual §4.1.27-§4.1.33, facts §7.2-§7.3).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum PushCommand {
    Start {
        stream: String,
        target: String,
    },
    Stop(Vec<u64>),
    /// Every push of these streams.
    StopStreams(Vec<String>),
    /// A `push_auto_add` value.
    AutoAdd(Value),
    /// A `push_auto_remove` value.
    AutoRemove(Value),
    /// `push_settings` members to set (`wait`, `maxspeed`).
    Settings(Map<String, Value>),
}

impl Handler<PushCommand> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: PushCommand, ctx: &mut Self::Context) {
        let starter = self.push_starter(ctx);
        let now = chrono::Utc::now().timestamp();
        match msg {
            PushCommand::Start { stream, target } => {
                self.pushes.start_manual(&starter, &stream, &target)
            }
            PushCommand::Stop(ids) => self.pushes.stop_ids(&ids),
            PushCommand::StopStreams(names) => self.pushes.stop_streams(&names),
            PushCommand::AutoAdd(v) => {
                let entries = auto::parse_add(&v);
                if entries.is_empty() {
                    tracing::warn!(kind = "WARN", "push_auto_add: no valid entry in {v}");
                    return;
                }
                let added = auto::add(&mut self.config, entries);
                tracing::info!(
                    kind = "CONF",
                    "push_auto_add: {added} new auto-push rule(s)"
                );
                self.note_change();
                let rules = auto::rules(&self.config);
                self.pushes.apply_rules(&starter, &rules, now);
            }
            PushCommand::AutoRemove(v) => {
                let gone = auto::remove(&mut self.config, &auto::parse_remove(&v));
                tracing::info!(
                    kind = "CONF",
                    "push_auto_remove: {} rule(s) removed",
                    gone.len()
                );
                self.note_change();
            }
            PushCommand::Settings(members) => {
                let int = |k: &str| {
                    members.get(k).and_then(|v| match v {
                        Value::Number(n) => n.as_i64(),
                        Value::String(s) => s.trim().parse().ok(),
                        _ => None,
                    })
                };
                let ps = &mut self.config.push_settings;
                if let Some(w) = int("wait") {
                    ps.wait = w.max(0);
                }
                if let Some(m) = int("maxspeed") {
                    ps.maxspeed = m.max(0);
                }
                self.note_change();
            }
        }
    }
}

impl Handler<PushEnded> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: PushEnded, _: &mut Self::Context) {
        tracing::debug!("push {} ended: {}", msg.id, msg.reason.code());
        let failed = matches!(
            msg.reason,
            ExitReason::ReadStartFailure | ExitReason::WriteFailure | ExitReason::Unsupported
        );
        if failed {
            crate::stats::metrics::count(&crate::stats::metrics::PUSHES_FAILED);
        }
        self.pushes.on_ended(msg.id);
    }
}
