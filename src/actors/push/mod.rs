//! Pushes and recordings (manual §2.4, §4.1.27-§4.1.33, facts §7): one [`PushActor`] per
//! running push, sending a stream to another RTMP server or writing it to a file.
//!
//! The actor owns the push's control state; the data path runs as a task on the media runtime
//! (where viewers run), reading the stream's live buffer like a viewer does and writing through
//! a [`crate::media::record::Recorder`] or an RTMP client. Steps, in order:
//! 1. PUSH_OUT_START (blocking): a handler's answer replaces the target; an empty answer
//!    aborts the push.
//! 2. Variables are substituted ([`target::substitute`]); the result is the push's resolved
//!    target, shown by `push_list`.
//! 3. The stream is opened (a configured stream that is not running is started and waited for
//!    up to [`STREAM_WAIT`]); the push is an output session (`stop_sessions` with `OUTPUT`
//!    and `stop_sessid` reach it) and counts among the stream's outputs.
//! 4. Packets are written until the stream ends, `push_stop` asks, the session is stopped, a
//!    `duration` option is reached, or the target fails. A file is always finished properly
//!    (MP4 trailer, FLV duration), then RECORDING_END fires; PUSH_END fires for every push.
//!
//! Bad targets (unknown scheme, unwritable folder, unreachable server) end the push with a log
//! line; the stream and its viewers never notice. Auto-pushes restart according to
//! `push_settings` (see [`auto`]).

pub mod auto;
pub mod registry;
mod run;
pub mod target;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::protocols::ListenerContext;

/// How long a push waits for a stream that has no data yet.
pub const STREAM_WAIT: Duration = Duration::from_secs(30);
/// How many log lines a push keeps for `push_list`.
const KEPT_LOGS: usize = 10;

/// Why a push ended (MistServer's machine-readable exit reasons, facts §7.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// The stream ended.
    CleanEof,
    /// `push_stop`, a stopped session, or a `duration` reached.
    IntendedStop,
    /// The server is shutting down.
    ControllerRequest,
    /// The RTMP server closed the connection.
    RemoteClose,
    /// The stream could not be opened.
    ReadStartFailure,
    WriteFailure,
    /// The target is not one Eddy can push to, or the stream has no track it can carry.
    Unsupported,
    /// PUSH_OUT_START aborted it.
    Trigger,
}

impl ExitReason {
    pub fn code(self) -> &'static str {
        match self {
            ExitReason::CleanEof => "CLEAN_EOF",
            ExitReason::IntendedStop => "CLEAN_INTENDED_STOP",
            ExitReason::ControllerRequest => "CLEAN_CONTROLLER_REQ",
            ExitReason::RemoteClose => "CLEAN_REMOTE_CLOSE",
            ExitReason::ReadStartFailure => "READ_START_FAILURE",
            ExitReason::WriteFailure => "WRITE_FAILURE",
            ExitReason::Unsupported => "UNSUPPORTED",
            ExitReason::Trigger => "TRIGGER",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            ExitReason::CleanEof => "The stream ended",
            ExitReason::IntendedStop => "Stopped as requested",
            ExitReason::ControllerRequest => "The server is shutting down",
            ExitReason::RemoteClose => "The remote server closed the connection",
            ExitReason::ReadStartFailure => "The stream could not be opened",
            ExitReason::WriteFailure => "Writing to the target failed",
            ExitReason::Unsupported => "The target or the stream's tracks are not supported",
            ExitReason::Trigger => "A PUSH_OUT_START handler aborted the push",
        }
    }
}

/// What a running push shares with the supervisor (for `push_list`) and its task.
#[derive(Debug)]
pub struct PushShared {
    pub id: u64,
    pub stream: String,
    /// The target as given.
    pub target: String,
    resolved: Mutex<String>,
    logs: Mutex<VecDeque<Value>>,
    pub bytes: AtomicU64,
    /// First and last media time written (stream milliseconds); `i64::MIN` before any.
    pub first_ms: AtomicI64,
    pub last_ms: AtomicI64,
    started: Instant,
    /// Whether the push came from an auto-push rule.
    pub auto: bool,
    /// Set once the push has ended and its file is finished.
    pub done: watch::Sender<bool>,
}

impl PushShared {
    pub fn new(id: u64, stream: String, target: String, auto: bool) -> Self {
        PushShared {
            id,
            stream,
            resolved: Mutex::new(target.clone()),
            target,
            logs: Mutex::new(VecDeque::new()),
            bytes: AtomicU64::new(0),
            first_ms: AtomicI64::new(i64::MIN),
            last_ms: AtomicI64::new(i64::MIN),
            started: Instant::now(),
            auto,
            done: watch::channel(false).0,
        }
    }

    /// The target after triggers and variables.
    pub fn resolved(&self) -> String {
        self.resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_resolved(&self, target: String) {
        *self.resolved.lock().unwrap_or_else(|p| p.into_inner()) = target;
    }

    /// Logs a line to the server log and to the push's own last lines.
    pub fn log(&self, kind: &'static str, msg: String) {
        match kind {
            "FAIL" | "ERROR" => tracing::error!(kind, stream = self.stream.as_str(), "{msg}"),
            "WARN" => tracing::warn!(kind, stream = self.stream.as_str(), "{msg}"),
            _ => tracing::info!(kind, stream = self.stream.as_str(), "{msg}"),
        }
        let line = json!([
            chrono::Utc::now().timestamp(),
            kind,
            msg,
            self.stream,
            self.id,
            "eddy",
            0
        ]);
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        if logs.len() == KEPT_LOGS {
            logs.pop_front();
        }
        logs.push_back(line);
    }

    pub fn logs(&self) -> Value {
        Value::Array(
            self.logs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned()
                .collect(),
        )
    }

    /// The `status` object of `push_list` (facts §7.1).
    pub fn status(&self) -> Value {
        let first = self.first_ms.load(Ordering::Relaxed);
        let last = self.last_ms.load(Ordering::Relaxed);
        let media = if first == i64::MIN { 0 } else { last - first };
        let active = self.started.elapsed();
        json!({
            "mediatime": if last == i64::MIN { 0 } else { last },
            "media_tx": media,
            "active_seconds": active.as_secs(),
            "active_ms": active.as_millis() as u64,
            "current_target": self.resolved(),
            "bytes": self.bytes.load(Ordering::Relaxed),
        })
    }

    /// One `push_list` row: `[id, stream, target, resolved target, logs, status]`.
    pub fn row(&self) -> Value {
        json!([
            self.id,
            self.stream,
            self.target,
            self.resolved(),
            self.logs(),
            self.status()
        ])
    }
}

/// The actor of one push.
pub struct PushActor {
    shared: Arc<PushShared>,
    ctx: ListenerContext,
    stop: watch::Sender<Option<ExitReason>>,
    /// Start at the oldest buffered keyframe (the stream just became active).
    from_start: bool,
    ended: Recipient<PushEnded>,
}

impl PushActor {
    pub fn new(
        shared: Arc<PushShared>,
        ctx: ListenerContext,
        from_start: bool,
        ended: Recipient<PushEnded>,
    ) -> Self {
        PushActor {
            shared,
            ctx,
            stop: watch::channel(None).0,
            from_start,
            ended,
        }
    }
}

impl Actor for PushActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let task = run::run(
            self.shared.clone(),
            self.ctx.clone(),
            self.stop.subscribe(),
            self.from_start,
        );
        let handle = self.ctx.runtime.spawn(task);
        ctx.spawn(
            async move {
                handle.await.unwrap_or_else(|e| {
                    tracing::error!(kind = "FAIL", "push task failed: {e}");
                    ExitReason::WriteFailure
                })
            }
            .into_actor(self)
            .map(|reason, act, ctx| {
                act.shared.done.send_replace(true);
                act.ended.do_send(PushEnded {
                    id: act.shared.id,
                    reason,
                });
                ctx.stop();
            }),
        );
    }
}

/// Asks a push to stop; its file is finished first.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopPush(pub ExitReason);

impl Handler<StopPush> for PushActor {
    type Result = ();
    fn handle(&mut self, msg: StopPush, _: &mut Self::Context) {
        self.stop.send_replace(Some(msg.0));
    }
}

/// A push ended (sent to the supervisor).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct PushEnded {
    pub id: u64,
    pub reason: ExitReason,
}
