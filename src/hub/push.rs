//! What a push shares between the actor that owns it and the output that runs it: why it
//! ended ([`ExitReason`]) and its live status ([`PushState`]: resolved target, last log lines,
//! bytes and media times, for `push_list`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::watch;

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

/// What a running push shares with the supervisor (for `push_list`) and the output running it.
#[derive(Debug)]
pub struct PushState {
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

impl PushState {
    pub fn new(id: u64, stream: String, target: String, auto: bool) -> Self {
        PushState {
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

    pub fn set_resolved(&self, target: String) {
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
