//! Eddy: a live and on-demand media server that speaks MistServer's control API.
//!
//! # Layout
//! - [`server`]: start-up and shutdown: [`server::run`] starts the supervisor, the API and the
//!   media runtime, and wires the protocols to the actors through the hub (`main` calls it; the
//!   integration tests start the `eddy` binary itself).
//! - [`config`]: the `config.json` model. Unknown keys are kept so a MistServer config round-trips;
//!   writes are atomic (temporary file, then rename).
//! - [`actors`]: the actors: the supervisor (configuration, registries), one StreamActor per
//!   active stream, one SessionActor per session, one PushActor per push. Each is the only writer
//!   of its own state.
//! - [`hub`]: the stream hub, the one interface between protocols and actors (resolve, subscribe,
//!   publish, admit), the live buffer the publisher and the viewers share, and the on-demand
//!   side (a file's index, each viewer fed from disk). No actix in it.
//! - [`protocols`]: the wire protocols (RTMP, RTSP, DTSC, the HTTP outputs on 8080, the output
//!   side of pushes), the inputs that bring their own media (TS over UDP, exec, HLS, RTSP and
//!   DTSC pulls), the connector
//!   catalogue and the listeners `config.protocols` turns on.
//! - [`media`]: the internal model ([`media::Track`], [`media::Packet`]) and the formats: FLV
//!   (with the depacketizer RTMP ingest uses), MPEG-TS (muxer and demuxer), MP4 (fragmented and
//!   progressive), Ogg, WAV, AMF0, RTP payloads and SDP, DTSC, H.264/HEVC/AAC/MP3/AC-3
//!   parameters, HLS and DASH manifests,
//!   recordings, and the on-demand file indexes (`media::vod`: MP4, FLV, TS, MP3, Ogg, WAV,
//!   Matroska). Pure code: no sockets, files or actors.
//! - [`stats`]: the statistics store (a record per session, sampled once a second, ten minutes
//!   of bounded history), the `clients`/`totals` queries, the access log and Prometheus.
//! - [`triggers`]: trigger handlers (HTTP or executable, blocking or not).
//! - [`api`]: the JSON control API on port 4242 (`/api`, `/api2`, JSONP, UDP) and its commands.
//! - [`web`]: the operator's web UI, compiled into the binary.
//! - [`stream_name`]: the stream name rules (manual §3.1): sanitising, base name and wildcard part.
//! - [`logbook`]: the last 100 log lines, fed by `tracing`, served by the API's `log` answer.
//! - [`system_info`]: CPU, memory and load figures for `capabilities`.
#![forbid(unsafe_code)]
#![deny(clippy::print_stdout)]

pub mod actors;
pub mod api;
pub mod config;
pub mod hub;
pub mod logbook;
pub mod media;
pub mod protocols;
pub mod server;
pub mod stats;
pub mod stream_name;
pub mod system_info;
pub mod triggers;
pub mod web;

/// The version string reported by `config.version`, `capabilities` and the `Server` header.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the `Server` header and trigger user agents say.
pub fn server_header() -> String {
    format!("Eddy/{VERSION}")
}
