//! The StreamActor: one per active stream. It owns the stream's [`LiveBuffer`], knows its
//! publisher and viewers, reports status to the supervisor, and stops itself when nothing needs
//! it any more.
//!
//! Its mailbox carries control only: attach/detach a publisher, subscribe/unsubscribe a viewer,
//! configuration updates. Media goes from the publisher straight into the buffer and from there to
//! the viewers' readers; it never passes through a mailbox.
//!
//! Starting (manual §4.4.8-9): before it answers anything, a new stream runs STREAM_SOURCE (a
//! blocking handler's non-empty answer is its source for its whole life; for a push stream, who
//! may push) and STREAM_LOAD (a no refuses every request and ends the stream). Publishing checks
//! the source's `push://` rules and then STREAM_PUSH (§4.4.12). The other STREAM_* triggers
//! follow its state ([`events`]).
//!
//! Publisher loss (manual §3.3.1 "resume support"): with `resume` the tracks and packets stay for
//! `inputtimeout` seconds (default 30) and a publisher that comes back continues the same buffer,
//! its timestamps shifted to follow on (HLS marks the new timeline with a discontinuity). Without
//! it the same holds for [`FLAP_GRACE`] only, so a publisher that hiccups (an encoder's
//! reconnect) does not cost every viewer its connection; after that the stream ends.
//!
//! A stream whose source is a file is on demand ([`vod`]): it opens the file's index instead of
//! waiting for a publisher, and each viewer plays the file from where it asked ([`viewers`]).

pub mod events;
pub mod pull;
pub mod push_rules;
pub mod viewers;
pub mod vod;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{Map, Value};

use crate::hub::buffer::{BufferSettings, LiveBuffer};
use crate::hub::outlets::InputRunner;
use crate::hub::vod::VodFile;
use crate::hub::{OnDrop, Publisher, StreamError};
use crate::triggers::Triggers;

pub use viewers::{GetBuffer, Subscribe, Subscribed};

/// How often a stream reports its status and checks whether it is still needed.
const TICK: Duration = Duration::from_secs(1);
/// A publisher that sent nothing for this long may be replaced by a new one.
const PUBLISHER_STALL: Duration = Duration::from_secs(5);
/// A stream with neither publisher nor viewers stops after this long.
const IDLE_STOP: Duration = Duration::from_secs(3);
/// How long a stream without `resume` keeps its buffer and viewers for a publisher that left
/// (a reconnecting encoder), before it ends.
pub const FLAP_GRACE: Duration = Duration::from_secs(5);

/// A stream's numbers, as the API shows them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamStats {
    pub name: String,
    /// `Online`, `Waiting for data` (MistServer's texts).
    pub status: &'static str,
    pub viewers: u64,
    pub inputs: u64,
    pub outputs: u64,
    /// Viewer sessions since the stream started.
    pub views: u64,
    pub viewseconds: u64,
    pub upbytes: u64,
    pub downbytes: u64,
    /// Problems the input met (see [`crate::hub::buffer::Counters::lost`]).
    pub packloss: u64,
    pub firstms: i64,
    pub lastms: i64,
    pub tracks: u64,
    /// Viewers by protocol name.
    pub protocols: HashMap<&'static str, u64>,
}

/// Settings a stream takes from its configuration.
#[derive(Debug, Clone, PartialEq)]
struct StreamOptions {
    buffer: BufferSettings,
    resume: bool,
    input_timeout: Duration,
    /// `always_on`: the stream's own input (TS over UDP, exec, HLS pull) runs without viewers.
    always_on: bool,
}

fn source_of(cfg: &Map<String, Value>) -> String {
    cfg.get("source")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn int_option(cfg: &Map<String, Value>, key: &str) -> Option<i64> {
    match cfg.get(key)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

impl StreamOptions {
    fn from_config(cfg: &Map<String, Value>) -> Self {
        let d = BufferSettings::default();
        StreamOptions {
            buffer: BufferSettings {
                dvr_ms: int_option(cfg, "DVR").unwrap_or(d.dvr_ms).max(1_000),
                cut_ms: int_option(cfg, "cut").unwrap_or(0).max(0),
                segment_ms: int_option(cfg, "segmentsize")
                    .unwrap_or(d.segment_ms)
                    .clamp(100, 60_000),
                max_keepaway_ms: int_option(cfg, "maxkeepaway")
                    .unwrap_or(d.max_keepaway_ms)
                    .max(1_000),
                batch_ms: int_option(cfg, "fanout_batch_ms")
                    .unwrap_or(0)
                    .clamp(0, 1_000),
            },
            resume: int_option(cfg, "resume").unwrap_or(0) != 0,
            input_timeout: Duration::from_secs(
                int_option(cfg, "inputtimeout")
                    .unwrap_or(30)
                    .clamp(1, 3_600) as u64,
            ),
            always_on: int_option(cfg, "always_on").unwrap_or(0) != 0,
        }
    }
}

struct PublisherState {
    token: u64,
    peer: IpAddr,
    protocol: &'static str,
}

struct ViewerState {
    protocol: &'static str,
    /// A push (counted as an output, not a viewer).
    output: bool,
}

/// The actor.
pub struct StreamActor {
    name: String,
    options: StreamOptions,
    buffer: Arc<LiveBuffer>,
    publisher: Option<PublisherState>,
    /// When the last publisher left (for the resume window).
    publisher_left: Option<Instant>,
    /// Last time the publisher's byte counter moved, for the health check.
    last_input: (u64, Instant),
    viewers: HashMap<u64, ViewerState>,
    next_viewer: u64,
    views: u64,
    viewseconds: u64,
    idle_since: Option<Instant>,
    /// Where status reports and the final goodbye go.
    reports: Recipient<StreamReport>,
    triggers: Triggers,
    /// STREAM_READY was fired for the current publisher.
    ready: bool,
    /// Input bytes and when, at the last LIVE_BANDWIDTH check.
    bandwidth_mark: (u64, Instant),
    /// Publishers over the stream's life (STREAM_END).
    inputs_total: u64,
    /// Track ids last seen, for STREAM_TRACK_ADD/REMOVE.
    known_tracks: Vec<u32>,
    buffer_state: events::BufferState,
    /// The configured source, or the one a STREAM_SOURCE handler chose for this stream's life.
    source: String,
    source_overridden: bool,
    /// Set when STREAM_LOAD refused the stream, or its file cannot be played: every request
    /// gets this until it stops.
    refused: Option<StreamError>,
    /// The file an on-demand stream plays, once its index is open.
    vod: Option<Arc<VodFile>>,
    /// What runs inputs that bring their own media (TS over UDP, exec, HLS pulls).
    inputs: Arc<dyn InputRunner>,
    /// The running input of such a source.
    pull: Option<pull::Pull>,
}

/// What a stream tells the supervisor.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum StreamReport {
    Status(StreamStats),
    /// The stream has data from its publisher (it became active; auto-pushes start).
    Ready(String),
    /// The stream's input failed (its file cannot be played); it stops.
    Failed {
        name: String,
        reason: String,
    },
    /// The stream stopped; `addr` tells which actor (a new one may already run under that name).
    Gone {
        name: String,
        addr: Addr<StreamActor>,
    },
}

impl StreamActor {
    pub fn new(
        name: String,
        config: &Map<String, Value>,
        reports: Recipient<StreamReport>,
        triggers: Triggers,
        inputs: Arc<dyn InputRunner>,
    ) -> Self {
        let options = StreamOptions::from_config(config);
        StreamActor {
            name,
            buffer: LiveBuffer::new(options.buffer.clone()),
            options,
            publisher: None,
            publisher_left: None,
            last_input: (0, Instant::now()),
            viewers: HashMap::new(),
            next_viewer: 1,
            views: 0,
            viewseconds: 0,
            idle_since: Some(Instant::now()),
            reports,
            triggers,
            ready: false,
            known_tracks: Vec::new(),
            inputs_total: 0,
            bandwidth_mark: (0, Instant::now()),
            buffer_state: events::BufferState::Filling,
            source: source_of(config),
            source_overridden: false,
            refused: None,
            vod: None,
            inputs,
            pull: None,
        }
    }

    /// STREAM_SOURCE and STREAM_LOAD (manual §4.4.8-9), before the stream answers any request:
    /// the actor's mailbox waits for the handlers.
    fn load(&mut self, ctx: &mut Context<Self>) {
        let (triggers, name) = (self.triggers.clone(), self.name.clone());
        let want_source = triggers.configured("STREAM_SOURCE", &name);
        let want_load = triggers.configured("STREAM_LOAD", &name);
        if !want_source && !want_load {
            self.open_input(ctx);
            return;
        }
        let handlers = async move {
            let mut source = None;
            if want_source {
                let out = triggers.fire("STREAM_SOURCE", &name, &[&name]).await;
                source = out.answer.filter(|a| !a.is_empty());
            }
            let allowed = !want_load || triggers.fire("STREAM_LOAD", &name, &[&name]).await.allowed;
            (source, allowed)
        };
        ctx.wait(
            handlers
                .into_actor(self)
                .map(|(source, allowed), act, ctx| {
                    if let Some(source) = source {
                        tracing::info!(
                            kind = "STRM",
                            stream = act.name.as_str(),
                            "STREAM_SOURCE handler chose the source {source:?} for {}",
                            act.name
                        );
                        act.source = source;
                        act.source_overridden = true;
                    }
                    if !allowed {
                        tracing::info!(
                            kind = "STRM",
                            stream = act.name.as_str(),
                            "STREAM_LOAD handler refused to start {}",
                            act.name
                        );
                        act.refused = Some(StreamError::Refused(
                            "the STREAM_LOAD handler refused to start it".into(),
                        ));
                        // Requests already waiting are answered first.
                        ctx.run_later(Duration::from_millis(100), |_, ctx| ctx.stop());
                    }
                    act.open_input(ctx);
                }),
        );
    }

    /// Why the stream takes no new publishers or viewers, if it does not.
    fn closed_error(&self) -> Option<StreamError> {
        if let Some(e) = &self.refused {
            return Some(e.clone());
        }
        self.buffer
            .is_closed()
            .then(|| StreamError::Offline(self.name.clone()))
    }

    fn stats(&self) -> StreamStats {
        let b = self.buffer.stats();
        let mut protocols: HashMap<&'static str, u64> = HashMap::new();
        for v in self.viewers.values().filter(|v| !v.output) {
            *protocols.entry(v.protocol).or_default() += 1;
        }
        let outputs = self.viewers.values().filter(|v| v.output).count() as u64;
        let mut s = StreamStats {
            name: self.name.clone(),
            status: if self.publisher.is_some() && b.packets > 0 {
                "Online"
            } else {
                "Waiting for data"
            },
            viewers: self.viewers.len() as u64 - outputs,
            inputs: u64::from(self.publisher.is_some()),
            outputs,
            views: self.views,
            viewseconds: self.viewseconds,
            // MistServer's sense: up is what the server sent, down what it received.
            upbytes: self.buffer.counters.bytes_out.load(Ordering::Relaxed),
            downbytes: self.buffer.counters.bytes_in.load(Ordering::Relaxed),
            packloss: self.buffer.counters.lost.load(Ordering::Relaxed),
            firstms: b.firstms,
            lastms: b.lastms,
            tracks: b.tracks as u64,
            protocols,
        };
        if let Some(file) = &self.vod {
            Self::vod_stats(file, &mut s);
        }
        s
    }

    fn report(&self) {
        self.reports.do_send(StreamReport::Status(self.stats()));
    }

    fn publisher_healthy(&self) -> bool {
        self.publisher.is_some() && self.last_input.1.elapsed() < PUBLISHER_STALL
    }

    /// STREAM_READY (manual §4.4.10) once a publisher's data arrived; a blocking negative
    /// answer ends the stream.
    fn check_ready(&mut self, ctx: &mut Context<Self>) {
        let has_data =
            self.vod.is_some() || (self.publisher.is_some() && self.buffer.stats().packets > 0);
        if self.ready || !has_data {
            return;
        }
        self.ready = true;
        self.reports.do_send(StreamReport::Ready(self.name.clone()));
        if !self.triggers.configured("STREAM_READY", &self.name) {
            return;
        }
        let (triggers, name, input) = (self.triggers.clone(), self.name.clone(), self.input_name());
        let fire = async move { triggers.fire("STREAM_READY", &name, &[&name, input]).await };
        ctx.spawn(fire.into_actor(self).map(|out, act, ctx| {
            if !out.allowed {
                tracing::info!(
                    kind = "STRM",
                    stream = act.name.as_str(),
                    "STREAM_READY handler refused {}; ending it",
                    act.name
                );
                ctx.stop();
            }
        }));
    }

    /// STREAM_TRACK_ADD/REMOVE and STREAM_BUFFER, from what changed since the last tick.
    fn fire_state_events(&mut self) {
        use events::BufferState::*;
        let ids: Vec<u32> = self.buffer.meta().tracks.iter().map(|t| t.id).collect();
        let (added, removed) = events::track_changes(&self.known_tracks, &ids);
        for id in added {
            self.triggers.fire_later(
                "STREAM_TRACK_ADD",
                &self.name,
                vec![self.name.clone(), id.to_string()],
            );
        }
        for id in removed {
            self.triggers.fire_later(
                "STREAM_TRACK_REMOVE",
                &self.name,
                vec![self.name.clone(), id.to_string()],
            );
        }
        self.known_tracks = ids;
        let healthy = self.publisher_healthy();
        let next = match self.buffer_state {
            Filling if self.buffer.fragments().len() >= 3 => Some((Full, "FULL")),
            Full if !healthy => Some((Dry, "DRY")),
            Dry if healthy => Some((Full, "RECOVER")),
            _ => None,
        };
        if let Some((state, word)) = next {
            self.buffer_state = state;
            let health = events::health(&self.buffer, healthy).to_string();
            self.triggers.fire_later(
                "STREAM_BUFFER",
                &self.name,
                vec![self.name.clone(), word.into(), health],
            );
        }
    }

    /// LIVE_BANDWIDTH (manual §4.4.23) every 5 s while a publisher sends; a blocking negative
    /// answer ends the stream.
    fn check_bandwidth(&mut self, ctx: &mut Context<Self>) {
        let up = self.buffer.counters.bytes_in.load(Ordering::Relaxed);
        let (last_up, at) = self.bandwidth_mark;
        let secs = at.elapsed().as_secs();
        if secs < 5 || self.publisher.is_none() {
            return;
        }
        self.bandwidth_mark = (up, Instant::now());
        let bps = up.saturating_sub(last_up) / secs.max(1);
        if !self.triggers.configured("LIVE_BANDWIDTH", &self.name) {
            return;
        }
        let (triggers, name) = (self.triggers.clone(), self.name.clone());
        ctx.spawn(
            async move { triggers.fire_bandwidth(&name, bps).await }
                .into_actor(self)
                .map(|out, act, ctx| {
                    if !out.allowed {
                        tracing::info!(
                            kind = "STRM",
                            stream = act.name.as_str(),
                            "LIVE_BANDWIDTH handler refused {}; ending it",
                            act.name
                        );
                        ctx.stop();
                    }
                }),
        );
    }

    /// How long viewers wait for a publisher that left: `inputtimeout` with `resume` (or for an
    /// input of the stream's own), else [`FLAP_GRACE`].
    fn resume_window(&self) -> Duration {
        if self.options.resume || self.pull.is_some() {
            self.options.input_timeout
        } else {
            FLAP_GRACE
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        self.check_ready(ctx);
        self.check_bandwidth(ctx);
        self.fire_state_events();
        self.viewseconds += self.viewers.values().filter(|v| !v.output).count() as u64;
        let up = self.buffer.counters.bytes_in.load(Ordering::Relaxed);
        if up != self.last_input.0 {
            self.last_input = (up, Instant::now());
        }
        if let Some(left) = self.publisher_left {
            if left.elapsed() >= self.resume_window() {
                tracing::info!(
                    kind = "STRM",
                    stream = self.name.as_str(),
                    "No publisher came back; ending {}",
                    self.name
                );
                self.publisher_left = None;
                self.buffer.close();
            }
        }
        // A stream with an input of its own is idle without viewers; one fed by a publisher
        // also needs the publisher gone (and not expected back).
        let idle = self.viewers.is_empty()
            && !(self.pull.is_some() && self.options.always_on)
            && (self.pull.is_some() || (self.publisher.is_none() && self.publisher_left.is_none()));
        match (idle, self.idle_since) {
            (false, _) => self.idle_since = None,
            (true, None) => self.idle_since = Some(Instant::now()),
            (true, Some(since)) if since.elapsed() >= self.idle_limit() => ctx.stop(),
            _ => {}
        }
        self.report();
    }
}

impl Actor for StreamActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(TICK, |act, ctx| act.tick(ctx));
        self.load(ctx);
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        self.stop_pull();
        self.buffer.close();
        let s = self.stats();
        let name = self.name.clone();
        if self.buffer_state != events::BufferState::Filling {
            let last = s.lastms.to_string();
            self.triggers.fire_later(
                "STREAM_BUFFER",
                &name,
                vec![name.clone(), "EMPTY".into(), last],
            );
        }
        let input = self.input_name().to_string();
        self.triggers
            .fire_later("STREAM_UNLOAD", &name, vec![name.clone(), input]);
        let end = vec![
            name.clone(),
            s.downbytes.to_string(),
            s.upbytes.to_string(),
            s.views.to_string(),
            self.inputs_total.to_string(),
            "0".into(),
            s.viewseconds.to_string(),
        ];
        self.triggers.fire_later("STREAM_END", &name, end);
        self.reports.do_send(StreamReport::Gone {
            name: self.name.clone(),
            addr: ctx.address(),
        });
        tracing::debug!(stream = self.name.as_str(), "stream actor stopped");
    }
}

/// Attaches a publisher: the source's `push://` rules and STREAM_PUSH decide, and a second
/// publisher is refused while another healthy one is attached.
#[derive(Message)]
#[rtype(result = "Result<Publisher, StreamError>")]
pub struct AttachPublisher {
    pub peer: IpAddr,
    pub passphrase: String,
    /// The publisher named a stream key of this stream: the host and passphrase rules are
    /// passed (the source must still be `push://`).
    pub by_key: bool,
    pub protocol: &'static str,
    pub url: String,
}

impl Handler<AttachPublisher> for StreamActor {
    type Result = ResponseActFuture<Self, Result<Publisher, StreamError>>;
    fn handle(&mut self, msg: AttachPublisher, _: &mut Self::Context) -> Self::Result {
        if let Some(e) = self.closed_error() {
            return Box::pin(fut::ready(Err(e)));
        }
        let Some(rules) = push_rules::parse(&self.source) else {
            return Box::pin(fut::ready(Err(StreamError::NotPushable(self.name.clone()))));
        };
        let (triggers, name) = (self.triggers.clone(), self.name.clone());
        let checks = async move {
            if !msg.by_key {
                rules
                    .check(msg.peer, &msg.passphrase)
                    .await
                    .map_err(|reason| StreamError::PushDenied {
                        stream: name.clone(),
                        reason,
                    })?;
            }
            if triggers.configured("STREAM_PUSH", &name) {
                let host = msg.peer.to_string();
                let out = triggers
                    .fire(
                        "STREAM_PUSH",
                        &name,
                        &[&name, &host, msg.protocol, &msg.url],
                    )
                    .await;
                if !out.allowed {
                    return Err(StreamError::PushDenied {
                        stream: name,
                        reason: "the STREAM_PUSH handler refused it".into(),
                    });
                }
            }
            Ok(msg)
        };
        Box::pin(
            checks
                .into_actor(self)
                .map(|checked, act, ctx| act.attach(checked?, ctx)),
        )
    }
}

impl StreamActor {
    fn attach(
        &mut self,
        msg: AttachPublisher,
        ctx: &mut Context<Self>,
    ) -> Result<Publisher, StreamError> {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        if self.publisher_healthy() {
            return Err(StreamError::AlreadyPublishing(self.name.clone()));
        }
        if let Some(old) = &self.publisher {
            tracing::warn!(
                kind = "STRM",
                stream = self.name.as_str(),
                "Publisher {} stalled; {} takes over",
                old.peer,
                msg.peer
            );
        }
        // With `resume`, or within the short grace every stream has, a returning publisher
        // continues the buffer (and its viewers) on a timeline that follows on.
        let resume = self.publisher.is_some() || self.publisher_left.is_some();
        let token = self.buffer.new_publisher(resume);
        self.ready = false;
        self.inputs_total += 1;
        self.publisher = Some(PublisherState {
            token,
            peer: msg.peer,
            protocol: msg.protocol,
        });
        self.publisher_left = None;
        self.last_input = (
            self.buffer.counters.bytes_in.load(Ordering::Relaxed),
            Instant::now(),
        );
        tracing::info!(
            kind = "STRM",
            stream = self.name.as_str(),
            "{} publishing {} from {}{}",
            msg.protocol,
            self.name,
            msg.peer,
            if resume { " (resumed)" } else { "" }
        );
        self.report();
        let stream = ctx.address();
        let detach = OnDrop::new(move || stream.do_send(DetachPublisher { token }));
        Ok(Publisher::new(self.buffer.clone(), token, detach))
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct DetachPublisher {
    token: u64,
}

impl Handler<DetachPublisher> for StreamActor {
    type Result = ();
    fn handle(&mut self, msg: DetachPublisher, _: &mut Self::Context) {
        if self.publisher.as_ref().map(|p| p.token) != Some(msg.token) {
            return;
        }
        let p = self.publisher.take();
        let protocol = p.as_ref().map(|p| p.protocol).unwrap_or("?");
        if self.pull.is_some() {
            // The input is started again (see `pull`); viewers wait for it as for a
            // publisher that may resume.
            self.publisher_left = Some(Instant::now());
        } else {
            tracing::info!(
                kind = "STRM",
                stream = self.name.as_str(),
                "{protocol} publisher of {} left; keeping the buffer {:?} for it to come back",
                self.name,
                self.resume_window()
            );
            self.publisher_left = Some(Instant::now());
        }
        self.report();
    }
}

/// The stream's configuration changed (buffer options apply at once).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateConfig(pub Map<String, Value>);

impl Handler<UpdateConfig> for StreamActor {
    type Result = ();
    fn handle(&mut self, msg: UpdateConfig, ctx: &mut Self::Context) {
        if !self.source_overridden {
            let source = source_of(&msg.0);
            if self.vod.is_some() && source != self.source {
                // Another file: this one's viewers finish, the next request opens the new one.
                ctx.stop();
            }
            let restart = self.pull.is_some() && source != self.source;
            self.source = source;
            if restart {
                // The old input stops (its writes fail once the new one attaches).
                self.stop_pull();
                self.publisher = None;
                if !self.start_pull(ctx) {
                    ctx.stop();
                }
            }
        }
        let options = StreamOptions::from_config(&msg.0);
        if options != self.options {
            self.buffer.set_settings(options.buffer.clone());
            self.options = options;
        }
    }
}

/// Ends the stream now (its configuration was deleted, or the server stops).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopStream;

impl Handler<StopStream> for StreamActor {
    type Result = ();
    fn handle(&mut self, _: StopStream, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_from_config() {
        let cfg =
            json!({"DVR": "20000", "cut": 5, "resume": 1, "maxkeepaway": 10, "inputtimeout": 0});
        let o = StreamOptions::from_config(cfg.as_object().expect("object"));
        assert_eq!(o.buffer.dvr_ms, 20_000);
        assert_eq!(o.buffer.cut_ms, 5);
        assert_eq!(o.buffer.max_keepaway_ms, 1_000);
        assert!(o.resume);
        assert_eq!(o.input_timeout, Duration::from_secs(1));
        let d = StreamOptions::from_config(&Map::new());
        assert_eq!((d.buffer.dvr_ms, d.resume), (50_000, false));
        let weird = json!({"DVR": [1], "resume": "yes"});
        let o = StreamOptions::from_config(weird.as_object().expect("object"));
        assert_eq!((o.buffer.dvr_ms, o.resume), (50_000, false));
    }
}
