//! RTMP (default port 1935), written in-house: publishing into the live buffer and playing from
//! it.
//!
//! - [`handshake`]: C0/C1/C2 ⇄ S0/S1/S2, plain and with the Flash-style digest;
//! - [`chunk`]: the chunk stream in both directions;
//! - AMF0 values are [`crate::media::amf0`] (AMF3 command messages are tolerated);
//! - [`message`]: message types, control messages, commands;
//! - [`conn`]: one connection: handshake, commands, and then [`ingest`] or [`play`];
//! - [`client`] and [`push`]: the client side, for pushing a stream to another RTMP server.
//!
//! Publish URL: `rtmp://host[:port]/APP/STREAM`; the application name is the stream's
//! passphrase (manual §3.3.1). Play URLs: `rtmp://host/play/STREAM` or `rtmp://host/APP/STREAM`.

pub mod chunk;
pub mod client;
pub mod conn;
pub mod handshake;
pub mod ingest;
pub mod message;
pub mod play;
pub mod push;

use serde_json::json;

use super::{
    spawn_tcp_listener, ConnectorSpec, ListenerContext, ListenerError, ListenerHandle,
    ListenerSettings,
};

pub const SPEC: ConnectorSpec = ConnectorSpec {
    name: "RTMP",
    desc: "Real time streaming over Adobe RTMP: publishing (also Enhanced RTMP for HEVC/AV1) and playback.",
    default_port: Some(1935),
    deps: None,
    capabilities,
    start: Some(start),
    on_demand: true,
};

fn capabilities() -> serde_json::Value {
    json!({
        "friendly": "RTMP",
        "codecs": [[["H264", "HEVC", "AV1", "VP9"], ["AAC", "MP3"]]],
        "methods": [{"handler": "rtmp", "type": "flash/10", "priority": 7}],
        "url_rel": "/play/$",
        "push_urls": ["rtmp://*"],
        "required": {},
        "optional": {
            "port": {"name": "TCP port", "help": "TCP port to listen on", "type": "uint", "default": 1935},
            "interface": {"name": "Interface", "help": "Address to listen on, or 0.0.0.0 for all", "type": "str", "default": "0.0.0.0"}
        }
    })
}

fn start(
    settings: &ListenerSettings,
    ctx: &ListenerContext,
) -> Result<ListenerHandle, ListenerError> {
    spawn_tcp_listener(settings, ctx, "RTMP", conn::serve)
}
