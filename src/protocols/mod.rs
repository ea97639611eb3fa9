//! Protocols: the wire side of Eddy. Each protocol reaches streams and sessions only through the
//! stream hub ([`crate::hub::Hub`]), never through the actors.
//!
//! - [`mod@catalogue`]: the connectors and inputs Eddy implements (`capabilities`).
//! - [`listeners`]: the listeners `config.protocols` turns on, driven by the supervisor through
//!   [`crate::hub::outlets::Listeners`].
//! - [`listen`]: binding a port and the accept loop.
//! - [`limits`]: connections per address (`config.maxconnsperip`).
//! - [`mod@write`]: vectored writes to viewers, with a write time-out and byte counting.
//! - [`fanout`]: the direct fan-out that writes to a stream's steady viewers from a few shared tasks.
//! - [`rtmp`]: RTMP publishing and playing (port 1935) and the RTMP client for pushes.
//! - [`dtsc`]: the DTSC output (port 4200), MistServer's protocol between servers.
//! - [`rtsp`]: RTSP publishing and playing (port 5554) over RTP, and the client the RTSP pull
//!   input uses.
//! - [`http`]: the HTTP outputs (port 8080): FLV, HLS, DASH/CMAF, TS, MP4, MP3, AAC, info.
//! - [`push`]: the output side of pushes and recordings (files, RTMP servers).
//! - [`inputs`]: inputs that bring their own media (TS over UDP), run by the streams through
//!   [`crate::hub::outlets::InputRunner`].
//! - [`av_select`]: which audio and video track a single-track-per-kind output sends.
//! - [`track_select`]: the `?video=`/`?audio=` choices every output honours.

pub mod av_select;
pub mod catalogue;
pub mod dtsc;
pub mod fanout;
pub mod http;
pub mod inputs;
pub mod limits;
pub mod listen;
pub mod listeners;
pub mod push;
pub mod rtmp;
pub mod rtsp;
pub mod track_select;
pub mod write;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;

use crate::config::ProtocolEntry;
use crate::hub::Hub;

pub use catalogue::{
    capabilities, catalogue, default_protocols, find, input_capabilities, input_for, inputs,
    wildcard_match, ConnectorSpec, InputSpec, StartFn,
};
pub use listen::{
    bind_tcp, bracket_v6, settings_for, spawn_tcp_listener, ListenerError, ListenerHandle,
    ListenerSettings,
};
pub use write::{deliver, write_all_within, VIEWER_WRITE_TIMEOUT};

/// How long a viewer of a configured but offline stream waits for it to start.
pub const OFFLINE_WAIT: Duration = Duration::from_secs(10);

/// What a listener is given to reach the rest of the server; connections take it by clone.
#[derive(Clone)]
pub struct ListenerContext {
    /// Streams, sessions and triggers.
    pub hub: Hub,
    /// The multi-threaded runtime connections run on.
    pub runtime: tokio::runtime::Handle,
    /// The configured protocol entries, kept current by [`listeners::ListenerSet`] (which
    /// outputs are enabled, and on which ports, for generated links).
    pub protocols: Arc<RwLock<Vec<ProtocolEntry>>>,
    /// Connections open per address, across every listener ([`limits`]).
    pub limits: Arc<limits::ConnLimits>,
}

impl ListenerContext {
    pub fn new(hub: Hub, runtime: tokio::runtime::Handle) -> Self {
        ListenerContext {
            hub,
            runtime,
            protocols: Arc::default(),
            limits: Arc::default(),
        }
    }

    /// The configured entry of a connector (case-insensitive), if it is enabled.
    pub fn entry(&self, connector: &str) -> Option<ProtocolEntry> {
        let list = self.protocols.read().unwrap_or_else(|p| p.into_inner());
        list.iter()
            .find(|p| {
                p.get("connector")
                    .and_then(Value::as_str)
                    .is_some_and(|c| c.eq_ignore_ascii_case(connector))
            })
            .cloned()
    }

    /// Whether a connector is enabled in `config.protocols`.
    pub fn enabled(&self, connector: &str) -> bool {
        self.entry(connector).is_some()
    }
}
