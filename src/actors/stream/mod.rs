//! The StreamActor: one per active stream. It owns the stream's [`LiveBuffer`], knows its
//! publisher and viewers, reports status to the supervisor, and stops itself when nothing needs
//! it any more.
//!
//! Its mailbox carries control only: attach/detach a publisher, subscribe/unsubscribe a viewer,
//! configuration updates. Media goes from the publisher straight into the buffer and from there to
//! the viewers' readers; it never passes through a mailbox.
//!
//! Publisher loss (manual §3.3.1 "resume support"): without `resume` the buffer ends at once and
//! viewers finish; with it the tracks and packets stay for `inputtimeout` seconds (default 30)
//! and a publisher that comes back continues the same buffer, its timestamps shifted to follow on.

pub mod buffer;
pub mod events;
pub mod fragments;
pub mod latency;
pub mod push_rules;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{Map, Value};

use super::trigger::Triggers;
use buffer::{BufferSettings, LiveBuffer, Reader};

/// How often a stream reports its status and checks whether it is still needed.
const TICK: Duration = Duration::from_secs(1);
/// A publisher that sent nothing for this long may be replaced by a new one.
const PUBLISHER_STALL: Duration = Duration::from_secs(5);
/// A stream with neither publisher nor viewers stops after this long.
const IDLE_STOP: Duration = Duration::from_secs(3);

/// Why a stream cannot be opened, published or played.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StreamError {
    #[error("invalid stream name: {0}")]
    InvalidName(String),
    #[error("stream {0} is not configured")]
    NotConfigured(String),
    #[error("stream {0} does not accept pushes (its source is not push://)")]
    NotPushable(String),
    #[error("push to {stream} refused: {reason}")]
    PushDenied { stream: String, reason: String },
    #[error("stream {0} already has a healthy publisher")]
    AlreadyPublishing(String),
    #[error("stream {0} is offline")]
    Offline(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("the server is shutting down")]
    ShuttingDown,
}

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
            },
            resume: int_option(cfg, "resume").unwrap_or(0) != 0,
            input_timeout: Duration::from_secs(
                int_option(cfg, "inputtimeout")
                    .unwrap_or(30)
                    .clamp(1, 3_600) as u64,
            ),
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
}

/// What a stream tells the supervisor.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum StreamReport {
    Status(StreamStats),
    /// The stream has data from its publisher (it became active; auto-pushes start).
    Ready(String),
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
        }
    }

    fn stats(&self) -> StreamStats {
        let b = self.buffer.stats();
        let mut protocols: HashMap<&'static str, u64> = HashMap::new();
        for v in self.viewers.values().filter(|v| !v.output) {
            *protocols.entry(v.protocol).or_default() += 1;
        }
        let outputs = self.viewers.values().filter(|v| v.output).count() as u64;
        StreamStats {
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
            upbytes: self.buffer.counters.up_bytes.load(Ordering::Relaxed),
            downbytes: self.buffer.counters.down_bytes.load(Ordering::Relaxed),
            firstms: b.firstms,
            lastms: b.lastms,
            tracks: b.tracks as u64,
            protocols,
        }
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
        if self.ready || self.publisher.is_none() || self.buffer.stats().packets == 0 {
            return;
        }
        self.ready = true;
        self.reports.do_send(StreamReport::Ready(self.name.clone()));
        if !self.triggers.configured("STREAM_READY", &self.name) {
            return;
        }
        let (triggers, name) = (self.triggers.clone(), self.name.clone());
        let fire = async move {
            triggers
                .fire("STREAM_READY", &name, &[&name, "Buffer"])
                .await
        };
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
            events::fire_later(
                &self.triggers,
                "STREAM_TRACK_ADD",
                &self.name,
                vec![self.name.clone(), id.to_string()],
            );
        }
        for id in removed {
            events::fire_later(
                &self.triggers,
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
            events::fire_later(
                &self.triggers,
                "STREAM_BUFFER",
                &self.name,
                vec![self.name.clone(), word.into(), health],
            );
        }
    }

    /// LIVE_BANDWIDTH (manual §4.4.23) every 5 s while a publisher sends; a blocking negative
    /// answer ends the stream.
    fn check_bandwidth(&mut self, ctx: &mut Context<Self>) {
        let up = self.buffer.counters.up_bytes.load(Ordering::Relaxed);
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

    fn tick(&mut self, ctx: &mut Context<Self>) {
        self.check_ready(ctx);
        self.check_bandwidth(ctx);
        self.fire_state_events();
        self.viewseconds += self.viewers.values().filter(|v| !v.output).count() as u64;
        let up = self.buffer.counters.up_bytes.load(Ordering::Relaxed);
        if up != self.last_input.0 {
            self.last_input = (up, Instant::now());
        }
        if let Some(left) = self.publisher_left {
            if left.elapsed() >= self.options.input_timeout {
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
        let idle =
            self.publisher.is_none() && self.viewers.is_empty() && self.publisher_left.is_none();
        match (idle, self.idle_since) {
            (false, _) => self.idle_since = None,
            (true, None) => self.idle_since = Some(Instant::now()),
            (true, Some(since)) if since.elapsed() >= IDLE_STOP => ctx.stop(),
            _ => {}
        }
        self.report();
    }
}

impl Actor for StreamActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(TICK, |act, ctx| act.tick(ctx));
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        self.buffer.close();
        let s = self.stats();
        let name = self.name.clone();
        if self.buffer_state != events::BufferState::Filling {
            let last = s.lastms.to_string();
            events::fire_later(
                &self.triggers,
                "STREAM_BUFFER",
                &name,
                vec![name.clone(), "EMPTY".into(), last],
            );
        }
        events::fire_later(
            &self.triggers,
            "STREAM_UNLOAD",
            &name,
            vec![name.clone(), "Buffer".into()],
        );
        let end = vec![
            name.clone(),
            s.downbytes.to_string(),
            s.upbytes.to_string(),
            s.views.to_string(),
            self.inputs_total.to_string(),
            "0".into(),
            s.viewseconds.to_string(),
        ];
        events::fire_later(&self.triggers, "STREAM_END", &name, end);
        self.reports.do_send(StreamReport::Gone {
            name: self.name.clone(),
            addr: ctx.address(),
        });
        tracing::debug!(stream = self.name.as_str(), "stream actor stopped");
    }
}

/// A publisher's hold on a stream: push into [`Publisher::buffer`] with [`Publisher::token`].
/// Dropping it detaches the publisher.
pub struct Publisher {
    pub buffer: Arc<LiveBuffer>,
    pub token: u64,
    stream: Addr<StreamActor>,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stream.do_send(DetachPublisher { token: self.token });
    }
}

/// Attaches a publisher (refused while another healthy one is attached).
#[derive(Message)]
#[rtype(result = "Result<Publisher, StreamError>")]
pub struct AttachPublisher {
    pub peer: IpAddr,
    pub protocol: &'static str,
}

impl Handler<AttachPublisher> for StreamActor {
    type Result = Result<Publisher, StreamError>;
    fn handle(&mut self, msg: AttachPublisher, ctx: &mut Self::Context) -> Self::Result {
        if self.buffer.is_closed() {
            return Err(StreamError::Offline(self.name.clone()));
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
        let resume =
            self.options.resume && (self.publisher.is_some() || self.publisher_left.is_some());
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
            self.buffer.counters.up_bytes.load(Ordering::Relaxed),
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
        Ok(Publisher {
            buffer: self.buffer.clone(),
            token,
            stream: ctx.address(),
        })
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct DetachPublisher {
    token: u64,
}

impl Handler<DetachPublisher> for StreamActor {
    type Result = ();
    fn handle(&mut self, msg: DetachPublisher, ctx: &mut Self::Context) {
        if self.publisher.as_ref().map(|p| p.token) != Some(msg.token) {
            return;
        }
        let p = self.publisher.take();
        let protocol = p.as_ref().map(|p| p.protocol).unwrap_or("?");
        if self.options.resume {
            tracing::info!(
                kind = "STRM",
                stream = self.name.as_str(),
                "{protocol} publisher of {} left; keeping the buffer {:?} for it to resume",
                self.name,
                self.options.input_timeout
            );
            self.publisher_left = Some(Instant::now());
        } else {
            tracing::info!(
                kind = "STRM",
                stream = self.name.as_str(),
                "{protocol} publisher of {} left; stream ends",
                self.name
            );
            ctx.stop();
        }
        self.report();
    }
}

/// A viewer's hold on a stream: read packets with [`Subscription::reader`]. Dropping it
/// unsubscribes.
pub struct Subscription {
    pub reader: Reader,
    id: u64,
    stream: Addr<StreamActor>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.stream.do_send(Unsubscribe { id: self.id });
    }
}

/// Subscribes a viewer or a push. The reader starts at the newest keyframe (or waits for
/// one); with `from_start`, at the oldest one in the buffer.
#[derive(Message)]
#[rtype(result = "Result<Subscription, StreamError>")]
pub struct Subscribe {
    pub protocol: &'static str,
    /// A push, counted among the stream's outputs rather than its viewers.
    pub output: bool,
    pub from_start: bool,
}

impl Subscribe {
    pub fn viewer(protocol: &'static str) -> Self {
        Subscribe {
            protocol,
            output: false,
            from_start: false,
        }
    }
}

impl Handler<Subscribe> for StreamActor {
    type Result = Result<Subscription, StreamError>;
    fn handle(&mut self, msg: Subscribe, ctx: &mut Self::Context) -> Self::Result {
        if self.buffer.is_closed() {
            return Err(StreamError::Offline(self.name.clone()));
        }
        let id = self.next_viewer;
        self.next_viewer += 1;
        if !msg.output {
            self.views += 1;
        }
        self.viewers.insert(
            id,
            ViewerState {
                protocol: msg.protocol,
                output: msg.output,
            },
        );
        self.idle_since = None;
        Ok(Subscription {
            reader: if msg.from_start {
                self.buffer.reader_from_start()
            } else {
                self.buffer.reader()
            },
            id,
            stream: ctx.address(),
        })
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Unsubscribe {
    id: u64,
}

impl Handler<Unsubscribe> for StreamActor {
    type Result = ();
    fn handle(&mut self, msg: Unsubscribe, _: &mut Self::Context) {
        self.viewers.remove(&msg.id);
    }
}

/// Hands out the stream's buffer, for outputs that read it without following it as a viewer.
#[derive(Message)]
#[rtype(result = "Arc<LiveBuffer>")]
pub struct GetBuffer;

impl Handler<GetBuffer> for StreamActor {
    type Result = MessageResult<GetBuffer>;
    fn handle(&mut self, _: GetBuffer, _: &mut Self::Context) -> Self::Result {
        // Someone is interested: do not stop for idleness right now.
        self.idle_since = Some(Instant::now());
        MessageResult(self.buffer.clone())
    }
}

/// The stream's configuration changed (buffer options apply at once).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateConfig(pub Map<String, Value>);

impl Handler<UpdateConfig> for StreamActor {
    type Result = ();
    fn handle(&mut self, msg: UpdateConfig, _: &mut Self::Context) {
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
