//! What the actors ask of the protocols: the listeners that `config.protocols` turns on, the
//! outputs that run pushes, and the inputs that pull or receive a stream's media. The protocols
//! implement these (`protocols::listeners`, `protocols::push`, `protocols::inputs`); the
//! supervisor and the streams hold them as trait objects, so they never name a protocol.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;

use super::push::{ExitReason, PushState};
use super::HubFuture;
use crate::config::ProtocolEntry;

/// A future that completes once a listener has let go of its socket.
pub type StopFuture = HubFuture<'static, ()>;

/// The running listeners, one per startable entry of `config.protocols`.
///
/// After every configuration change the supervisor calls [`Listeners::retire`] (stop what is
/// no longer wanted, and wait for the sockets to close) and then [`Listeners::start_missing`].
pub trait Listeners: Send {
    /// Stops the listeners whose entry is not in `wanted` (OUTPUT_STOP fires for each); the
    /// futures finish when their sockets are closed. `wanted` becomes the list outputs read
    /// their settings and links from.
    fn retire(&mut self, wanted: &[ProtocolEntry]) -> Vec<StopFuture>;
    /// Stops everything (at shutdown; OUTPUT_STOP is not fired then, manual §4.4.4).
    fn retire_all(&mut self) -> Vec<StopFuture>;
    /// Starts a listener for each wanted entry that is not running, and retries failed ones.
    fn start_missing(&mut self, wanted: &[ProtocolEntry]);
    /// True when some entry failed and may be retried.
    fn has_failures(&self) -> bool;
    /// The `online` value of a configured entry (facts §2.5).
    fn online(&self, entry: &ProtocolEntry) -> Value;
    /// How many connections one address may hold open (`config.maxconnsperip`; `None`: the
    /// default, 0: no limit).
    fn set_conn_limit(&self, _per_ip: Option<u64>) {}
}

/// Runs pushes: the output side of a push (open the stream, write it to a file or another
/// server, report RECORDING_END and PUSH_END).
pub trait PushRunner: Send + Sync {
    /// Runs one push to its end on the media runtime. `stop` turning `Some` asks it to end
    /// (a file is finished first); with `from_start` it starts at the oldest buffered keyframe.
    fn run(
        &self,
        push: Arc<PushState>,
        stop: watch::Receiver<Option<ExitReason>>,
        from_start: bool,
    ) -> HubFuture<'static, ExitReason>;
}

/// Why a stream's input ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputEnd {
    /// It was asked to stop.
    Stopped,
    /// The source ended (a command exited, a playlist ended); the stream may restart it.
    Finished(String),
    /// It could not run (a bad source, a port in use); `reason` says why.
    Failed(String),
}

/// Runs the inputs that bring media to a stream themselves (TS over UDP, exec pipes, HLS
/// pulls), as opposed to publishers that connect (RTMP) and files (the hub's `vod`).
///
/// The stream attaches a [`Publisher`](super::Publisher) for the input and hands it over with
/// the source; the input writes tracks and packets into it until `stop` turns true or the
/// source ends, and then drops it (which detaches it).
pub trait InputRunner: Send + Sync {
    /// The name of the input that reads `source` (`TSUDP`, `TSExec`, ...), if any does.
    fn input_for(&self, source: &str) -> Option<&'static str>;
    /// Runs the input of `stream` from `source` on the media runtime, to its end.
    fn run(
        &self,
        stream: String,
        source: String,
        publisher: super::Publisher,
        stop: watch::Receiver<bool>,
    ) -> HubFuture<'static, InputEnd>;
}
