//! RTSP (RFC 2326) on port 5554, as MistServer has it: publishing with ANNOUNCE / SETUP /
//! RECORD (`rtsp://host:5554/STREAM?pass=PASSPHRASE`, the `push://` rules RTMP publishers
//! meet) and playing with OPTIONS / DESCRIBE / SETUP / PLAY / PAUSE / TEARDOWN
//! (`rtsp://host:5554/STREAM`), RTP over TCP (interleaved) or UDP with RTCP sender reports.
//! Payloads and SDP are [`crate::media::rtp`] and [`crate::media::sdp`].
//!
//! - [`message`]: requests, responses and interleaved frames on the connection.
//! - [`url`]: the stream, media control and passphrase a request URL names.
//! - [`conn`]: a connection until PLAY or RECORD: DESCRIBE, ANNOUNCE, SETUP.
//! - [`play`]: RTP out to a viewer; [`record`]: RTP in from a publisher.
//! - [`udp`]: the RTP/RTCP socket pairs of UDP transport.

pub mod client;
pub mod conn;
pub mod ingest;
pub mod message;
pub mod play;
pub mod record;
pub mod udp;
pub mod url;

use serde_json::json;

use super::{
    spawn_tcp_listener, ConnectorSpec, ListenerContext, ListenerError, ListenerHandle,
    ListenerSettings,
};

/// MistServer's RTSP port (not 554, which needs root).
pub const DEFAULT_PORT: u16 = 5554;

pub const SPEC: ConnectorSpec = ConnectorSpec {
    name: "RTSP",
    desc: "Real Time Streaming Protocol: publishing (ANNOUNCE/RECORD) and playback over RTP, TCP interleaved or UDP.",
    default_port: Some(DEFAULT_PORT),
    deps: None,
    capabilities,
    start: Some(start),
    on_demand: true,
};

fn capabilities() -> serde_json::Value {
    json!({
        "friendly": "RTSP",
        "codecs": [[["H264", "HEVC"], ["AAC", "MP3", "opus", "PCMU", "PCMA"]]],
        "methods": [{"handler": "rtsp", "type": "rtsp", "priority": 2}],
        "url_rel": "/$",
        "required": {},
        "optional": {
            "port": {"name": "TCP port", "help": "TCP port to listen on", "type": "uint", "default": DEFAULT_PORT},
            "interface": {"name": "Interface", "help": "Address to listen on, or 0.0.0.0 for all", "type": "str", "default": "0.0.0.0"}
        }
    })
}

fn start(
    settings: &ListenerSettings,
    ctx: &ListenerContext,
) -> Result<ListenerHandle, ListenerError> {
    spawn_tcp_listener(settings, ctx, "RTSP", conn::serve)
}
