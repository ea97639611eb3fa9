//! The HTTP output listener (default port 8080): the router every HTTP-based output hangs off.
//!
//! The foundation only runs the listener itself. Paths that no output claims get
//! `415 Unsupported Media Type` (facts §9.2); the stream outputs (`/$.flv`, HLS, DASH, TS, MP4 and
//! the info handlers) are added by the live-path and HTTP-output work.

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;

use super::{
    bind_tcp, ConnectorSpec, ListenerContext, ListenerError, ListenerHandle, ListenerSettings,
};

pub const SPEC: ConnectorSpec = ConnectorSpec {
    name: "HTTP",
    desc: "HTTP connection handler, provides all enabled HTTP-based outputs",
    default_port: Some(8080),
    deps: None,
    capabilities,
    start: Some(start),
};

fn capabilities() -> serde_json::Value {
    json!({
        "friendly": "HTTP",
        "codecs": [],
        "methods": [],
        "required": {},
        "optional": {
            "port": {"name": "TCP port", "help": "TCP port to listen on", "type": "uint", "default": 8080},
            "interface": {"name": "Interface", "help": "Address to listen on, or 0.0.0.0 for all", "type": "str", "default": "0.0.0.0"},
            "pubaddr": {"name": "Public address", "help": "Full public URL this output is reachable at, used in generated links", "type": "inputlist"}
        }
    })
}

fn start(
    settings: &ListenerSettings,
    _ctx: &ListenerContext,
) -> Result<ListenerHandle, ListenerError> {
    let listener = bind_tcp(settings)?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ListenerError::Bind {
            addr: settings.port.to_string(),
            source,
        })?;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let server = HttpServer::new(|| App::new().default_service(web::to(unsupported)))
        .workers(workers)
        .disable_signals()
        .listen(listener)
        .map_err(|source| ListenerError::Bind {
            addr: local_addr.to_string(),
            source,
        })?
        .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    tracing::info!(kind = "CONF", "HTTP output listening on {local_addr}");
    Ok(ListenerHandle::new(local_addr, move || {
        Box::pin(async move {
            handle.stop(false).await;
        })
    }))
}

async fn unsupported() -> HttpResponse {
    HttpResponse::UnsupportedMediaType()
        .insert_header(("Server", crate::server_header()))
        .content_type("text/html")
        .body("<!DOCTYPE html><html><head><title>Unsupported Media Type</title></head><body><h1>Unsupported Media Type</h1><p>No output handles this URL.</p></body></html>")
}
