//! Eddy: a live and on-demand media server that speaks MistServer's control API.
//!
//! # Layout
//! - [`config`]: the `config.json` model. Unknown keys are kept so a MistServer config round-trips;
//!   writes are atomic (temporary file, then rename).
//! - [`stream_name`]: the stream name rules (manual §3.1): sanitising, base name and wildcard part.
//! - [`logbook`]: the last 100 log lines, fed by `tracing`, served by the API's `log` answer.
//! - [`media`]: the internal model ([`media::Track`], [`media::Packet`]) and the formats: FLV
//!   (with the depacketizer RTMP ingest uses), MPEG-TS (muxer and demuxer), fragmented MP4, AMF0,
//!   H.264/HEVC/AAC/MP3 parameters, HLS and DASH manifests, recordings. Pure code: no I/O.
//! - [`actors`]: the actors. [`actors::supervisor::Supervisor`] owns the configuration and the
//!   registries and is its only writer; stream, session, push and trigger actors plug in beside it.
//! - [`protocols`]: the connector catalogue and the listeners that `config.protocols` turns on.
//! - [`api`]: the JSON control API on port 4242 (`/api`, `/api2`, JSONP, UDP) and its commands.
//! - [`web`]: the operator's web UI, compiled into the binary.
//! - [`server`]: start-up and shutdown; [`server::run`] is what `main` and the tests call.
#![forbid(unsafe_code)]
#![deny(clippy::print_stdout)]

pub mod actors;
pub mod api;
pub mod config;
pub mod logbook;
pub mod media;
pub mod protocols;
pub mod server;
pub mod stream_name;
pub mod system_info;
pub mod web;

/// The version string reported by `config.version`, `capabilities` and the `Server` header.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the `Server` header and trigger user agents say.
pub fn server_header() -> String {
    format!("Eddy/{VERSION}")
}
