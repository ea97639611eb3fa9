//! DTSC over TCP (facts §10), MistServer's protocol between servers: the output listener
//! (default port 4200, [`output`]) and the socket helpers the `dtsc://` pull input
//! (`protocols::inputs::dtsc`) shares with it ([`socket`]).
//!
//! The formats themselves (packed values, frames, header and packets) are
//! [`crate::media::dtsc`]; this module only moves them over sockets.

pub mod output;
pub mod socket;

use serde_json::json;

use super::{
    spawn_tcp_listener, ConnectorSpec, ListenerContext, ListenerError, ListenerHandle,
    ListenerSettings,
};
use crate::media::dtsc::Value;

/// Our name in `hi` and `play` commands (MistServer sends `MistServer <version>`).
pub fn version() -> String {
    format!("Eddy/{}", env!("CARGO_PKG_VERSION"))
}

pub const SPEC: ConnectorSpec = ConnectorSpec {
    name: "DTSC",
    desc: "Real time streaming over DTSC (MistServer's protocol, for efficient inter-server streaming): other Eddy or MistServer instances pull streams from here with dtsc://host:port/stream.",
    default_port: Some(4200),
    deps: None,
    capabilities,
    start: Some(start),
    on_demand: true,
};

fn capabilities() -> serde_json::Value {
    json!({
        "friendly": "DTSC",
        "codecs": [[["+*"]]],
        "required": {},
        "optional": {
            "port": {"name": "TCP port", "help": "TCP port to listen on", "type": "uint", "default": 4200},
            "interface": {"name": "Interface", "help": "Address to listen on, or 0.0.0.0 for all", "type": "str", "default": "0.0.0.0"}
        }
    })
}

fn start(
    settings: &ListenerSettings,
    ctx: &ListenerContext,
) -> Result<ListenerHandle, ListenerError> {
    spawn_tcp_listener(settings, ctx, "DTSC", output::serve)
}

/// A `DTCM` command object `{cmd, ...members}`.
pub fn command(cmd: &str, members: Vec<(&str, Value)>) -> Value {
    let mut all = vec![("cmd", Value::str(cmd.to_string()))];
    all.extend(members);
    Value::object(all)
}

/// The `cmd` of a command object.
pub fn command_name(v: &Value) -> String {
    v.get("cmd").and_then(Value::as_text).unwrap_or_default()
}
