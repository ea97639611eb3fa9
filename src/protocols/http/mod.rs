//! The HTTP output listener (default port 8080): the router every HTTP-based output hangs off.
//!
//! A small HTTP/1.1 server of our own on the media runtime, so a viewer costs one task and its
//! socket: request heads are read into a capped buffer and tokenised by `httparse`; media bodies
//! are written straight from the shared packet buffers with vectored writes (no per-viewer copy,
//! no chunked encoding: streaming answers end with the connection).
//!
//! Routes (facts §9.2): `/hls/` ([`hls`]) and `/cmaf/` ([`cmaf`]), both through the segmented
//! skeleton ([`segmented`]); `/json_`, `/info_`, `/embed_`, `/STREAM.html` and `/player.js`
//! ([`info`]; `/json_` asked for as a WebSocket is the live status feed, [`info_feed`]);
//! `/STREAM.flv` ([`flv`]); `.ts`, `.mp4`, `.fmp4`, `.mp3`, `.aac` ([`progressive`]; `.mp4` of a file
//! is a progressive MP4 with Range requests, [`mp4_range`]). Any other
//! path gets `415 Unsupported Media Type`; a stream that cannot be opened gets
//! `404 Error opening stream`, body `Could not retrieve stream: <reason>`.
//!
//! Every answer is built and written by [`response`]: one CORS set, one keep-alive rule (a
//! complete answer keeps the connection unless the request asked to close it), a write
//! time-out for clients that stop reading. Idle connections close after 60 s, a request head
//! must arrive within 10 s, and the listener's stop ends every connection, mid-request or not.

pub mod cmaf;
pub mod flv;
pub mod hls;
pub mod info;
pub mod info_feed;
pub mod mp4_range;
pub mod outputs;
pub mod progressive;
pub mod response;
pub mod segmented;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::hub::buffer::{Entry, ReadEvent};
use crate::hub::session::{self, stopped, ConnInfo, SessionConn, SessionError, SessionKind};
use crate::hub::{PlayRange, Subscription};
use crate::protocols::av_select::AvSelection;
use crate::protocols::fanout;
pub use response::{Response, Status};

use super::{
    deliver, spawn_tcp_listener, write_all_within, ConnectorSpec, ListenerContext, ListenerError,
    ListenerHandle, ListenerSettings, VIEWER_WRITE_TIMEOUT,
};

pub const SPEC: ConnectorSpec = ConnectorSpec {
    name: "HTTP",
    desc: "HTTP connection handler, provides all enabled HTTP-based outputs",
    default_port: Some(8080),
    deps: None,
    capabilities,
    start: Some(start),
    on_demand: false,
};

/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// A request head must be complete within this time.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle keep-alive connections close after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

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
    ctx: &ListenerContext,
) -> Result<ListenerHandle, ListenerError> {
    spawn_tcp_listener(settings, ctx, "HTTP", serve_connection)
}

/// One parsed request head.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    /// The path, percent-decoded, without the query string.
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// Whether the connection may serve another request after this one: HTTP/1.1 unless it
    /// says `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`, and never after a
    /// request with a body (we read no request bodies, so its bytes would pose as the next
    /// request).
    pub keep_alive: bool,
}

impl Request {
    /// The full request URL as the client asked for it (for triggers).
    pub fn url(&self) -> String {
        let host = self.header("host").unwrap_or("localhost");
        if self.query.is_empty() {
            format!("http://{host}{}", self.path)
        } else {
            format!("http://{host}{}?{}", self.path, self.query)
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A HEAD request: its answer is the head only.
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// Why a request head was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HeadError {
    #[error("request head larger than {MAX_HEAD} bytes")]
    TooLarge,
    #[error("malformed request: {0}")]
    Malformed(String),
}

/// Parses a request head from the start of `buf`: `Ok(None)` when more bytes are needed,
/// otherwise the request and the number of bytes it used.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    };
    let target = req.path.unwrap_or("/");
    let (raw_path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(raw_path);
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_ascii_lowercase())
    };
    let connection = find("connection");
    let has_body =
        find("transfer-encoding").is_some() || find("content-length").is_some_and(|n| n != "0");
    let keep_alive = !has_body
        && match req.version {
            Some(1) => connection.as_deref() != Some("close"),
            _ => connection.as_deref() == Some("keep-alive"),
        };
    let request = Request {
        method: req.method.unwrap_or("GET").to_string(),
        path,
        query: query.to_string(),
        headers,
        keep_alive,
    };
    Ok(Some((request, used)))
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How an HTTP viewer without a token of its own is told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewing {
    /// Playlists and segments in many requests (HLS, CMAF): one session per user agent and
    /// address, which the `?tkn=` in generated URLs then carries.
    Requests,
    /// One long response (FLV, TS, MP4...): each connection is its own session, as each is
    /// its own process in MistServer, so two players on one machine are two viewers.
    Connection,
}

/// The token an HTTP viewer is known by ([`session::http_token`]; with the connection's port
/// added when each connection is its own viewing).
fn viewer_token(req: &Request, viewing: Viewing, peer: SocketAddr) -> String {
    let ua = req.header("user-agent");
    match (
        session::explicit_http_token(&req.query, req.header("cookie")),
        viewing,
    ) {
        (Some(t), _) => t,
        (None, Viewing::Requests) => session::user_agent_token(ua),
        (None, Viewing::Connection) => {
            format!("{}-{}", session::user_agent_token(ua), peer.port())
        }
    }
}

/// Admits an HTTP viewer into its session (USER_NEW runs for new sessions).
pub async fn admit_viewer(
    ctx: &ListenerContext,
    req: &Request,
    raw_name: &str,
    (protocol, viewing): (&'static str, Viewing),
    peer: SocketAddr,
) -> Result<SessionConn, SessionError> {
    let token = viewer_token(req, viewing, peer);
    admit_as(
        ctx,
        req,
        crate::stream_name::sanitize(raw_name),
        token,
        protocol,
        peer,
    )
    .await
}

async fn admit_as(
    ctx: &ListenerContext,
    req: &Request,
    stream: String,
    token: String,
    protocol: &'static str,
    peer: SocketAddr,
) -> Result<SessionConn, SessionError> {
    let info = ConnInfo {
        stream,
        ip: peer.ip(),
        token,
        protocol,
        url: req.url(),
        kind: SessionKind::Viewer,
    };
    ctx.hub.admit(info).await
}

/// The session a kept-alive connection of playlist and segment requests (HLS, CMAF) belongs to,
/// held from its first request until the connection closes or names another session: as in
/// MistServer, where such a connection is one output process and one session connection, the
/// session (and CONN_OPEN/CONN_CLOSE) is joined once per connection, not once per request. A
/// stopped or denied session closes the connection between requests ([`serve_connection`]),
/// and a request after a stop is admitted afresh (USER_NEW decides again).
pub struct KeptSession {
    protocol: &'static str,
    stream: String,
    token: String,
    conn: SessionConn,
}

/// Admits a request-based viewer ([`Viewing::Requests`]), reusing the connection's kept
/// session when the request names the same one (stream, token and protocol; the address is the
/// connection's) and it was not stopped. Returns the session's counters.
pub async fn admit_request(
    ctx: &ListenerContext,
    req: &Request,
    raw_name: &str,
    protocol: &'static str,
    peer: SocketAddr,
    kept: &mut Option<KeptSession>,
) -> Result<std::sync::Arc<session::ConnCounters>, SessionError> {
    let stream = crate::stream_name::sanitize(raw_name);
    let token = viewer_token(req, Viewing::Requests, peer);
    if let Some(k) = kept.as_ref() {
        if k.protocol == protocol
            && k.stream == stream
            && k.token == token
            && !*k.conn.stop.borrow()
        {
            return Ok(k.conn.counters.clone());
        }
    }
    // Leave the old session before joining another (or the same one again, after a stop).
    *kept = None;
    let conn = admit_as(ctx, req, stream.clone(), token.clone(), protocol, peer).await?;
    let counters = conn.counters.clone();
    *kept = Some(KeptSession {
        protocol,
        stream,
        token,
        conn,
    });
    Ok(counters)
}

/// Resolves when the connection's kept session is stopped; never while it holds none.
async fn kept_stopped(kept: &mut Option<KeptSession>) {
    match kept {
        Some(k) => k.conn.stopped().await,
        None => std::future::pending().await,
    }
}

/// `?tkn=TOKEN` for URLs in generated playlists and manifests, so a player that follows them
/// stays in its session (MistServer's `tknMode` bit 4, on by default, facts §6.1): the token the
/// viewer brought (query or `tkn` cookie). A viewer that brought none gets URLs without one.
///
/// That last part differs from MistServer, which writes the token it made up into the URLs too.
/// Eddy's made-up token is a hash of the user agent ([`session::user_agent_token`]), which every
/// request carries anyway, so writing it into URLs keeps nobody in a session they would not be
/// in; but it would give every user agent its own segment URLs, and a cache in front (a CDN,
/// nginx `proxy_cache`) would keep and fetch each segment once per user agent instead of once.
pub fn token_suffix(req: &Request) -> String {
    match session::explicit_http_token(&req.query, req.header("cookie")) {
        Some(token) => {
            let encoded: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
            format!("?tkn={encoded}")
        }
        None => String::new(),
    }
}

/// Whether a shared cache (a CDN, nginx `proxy_cache`) may keep the answer to `req` of a
/// playlist or segment and hand it to other viewers: unless the request carries a token the
/// viewer brought (`?tkn=`/`sid`/`sessId`, or the `tkn` cookie).
///
/// A viewer that named no token gets playlists without one ([`token_suffix`]): the same text for
/// everyone, so the answers are `public`, and a cache in front of Eddy becomes one session per
/// cache (its address), which is what a cache in front means. A token the viewer brought (a
/// paywall's, in the query or a cookie) is a credential, written into every URL of the
/// playlists: a playlist that embeds it must never reach another viewer (a cache would merge
/// their sessions and hand one viewer's access to everybody), and its segment URLs are that
/// viewer's own, which MistServer answers without long cache headers (facts §9.4). Eddy answers
/// both `private` (the viewer's browser may keep them, no shared cache may), so such viewers'
/// requests all reach Eddy and its session checks hold for every one. A token of the form Eddy
/// makes up (`ua` and 12 hex digits, from an older playlist) is no credential and stays public.
pub fn shared_by_viewers(req: &Request) -> bool {
    match session::explicit_http_token(&req.query, req.header("cookie")) {
        None => true,
        Some(t) => session::is_user_agent_token(&t),
    }
}

/// The part of an on-demand stream a progressive request asks for: `?start=` and `?end=` (or
/// MistServer's `?stop=`), in ms. Values that are not whole numbers are ignored.
pub fn play_range(req: &Request) -> PlayRange {
    let mut range = PlayRange::ALL;
    for (k, v) in form_urlencoded::parse(req.query.as_bytes()) {
        let ms = v.trim().parse::<i64>().ok().map(|ms| ms.max(0));
        match k.as_ref() {
            "start" => range.start_ms = ms.or(range.start_ms),
            "end" | "stop" => range.end_ms = ms.or(range.end_ms),
            _ => {}
        }
    }
    range
}

/// How many packets one viewer write takes at most.
const VIEWER_BATCH: usize = 16;

/// How a progressive viewer's packets become bytes: a closure for formats with per-viewer
/// framing, or a type that also says when its bytes are the stream's shared framing (FLV).
pub trait Framer {
    /// Appends the buffers for `batch` to `out`.
    fn frame(&mut self, batch: &[std::sync::Arc<Entry>], out: &mut Vec<bytes::Bytes>);

    /// When what this viewer is sent is the framing every viewer of the format shares: the
    /// format's fan-out and the viewer's selection ([`fanout::join`]).
    fn shared(&self) -> Option<(&'static fanout::Format, &AvSelection)> {
        None
    }
}

impl<F: FnMut(&[std::sync::Arc<Entry>], &mut Vec<bytes::Bytes>)> Framer for F {
    fn frame(&mut self, batch: &[std::sync::Arc<Entry>], out: &mut Vec<bytes::Bytes>) {
        self(batch, out)
    }
}

/// Feeds a progressive viewer (FLV, TS, MP4, MP3, AAC) until the stream ends, the session is
/// stopped or the viewer stops reading (the listener's stop ends the whole request, see
/// `serve_connection`): waits for packets, lets `framer` turn each batch into buffers to write,
/// and writes them with [`deliver`]. A viewer whose framing is shared and that keeps up is
/// written to by its stream's fan-out meanwhile ([`fanout`]). Returns whether the connection
/// may be reused (never, after a stream).
pub async fn feed_viewer(
    sock: &mut TcpStream,
    sub: &mut Subscription,
    session: &mut SessionConn,
    who: (&str, &str, SocketAddr),
    framer: impl Framer,
) -> std::io::Result<bool> {
    feed_viewer_to_end(sock, sub, session, who, framer, |_| {}).await
}

/// [`feed_viewer`], writing what `tail` gives when the stream ends (an on-demand answer that
/// reached its end): Ogg's end-of-stream pages.
pub async fn feed_viewer_to_end(
    sock: &mut TcpStream,
    sub: &mut Subscription,
    session: &mut SessionConn,
    (label, name, peer): (&str, &str, SocketAddr),
    mut framer: impl Framer,
    tail: impl FnOnce(&mut Vec<bytes::Bytes>),
) -> std::io::Result<bool> {
    let buffer = sub.reader.buffer().clone();
    let mut batch = Vec::new();
    let mut out = Vec::new();
    let mut steady: Option<fanout::Steady> = None;
    // Registered once, not once per packet: viewers wake for every packet.
    let ended = stopped(&mut session.stop);
    tokio::pin!(ended);
    loop {
        batch.clear();
        let event = tokio::select! {
            biased;
            _ = fanout::released(&steady) => {
                if let Some(s) = steady.take() {
                    if !fanout::take_back(s, &mut sub.reader, sock, &buffer.counters, &session.counters).await? {
                        tracing::info!(stream = name, "{label} viewer {peer} stopped reading; dropped");
                        return Ok(false);
                    }
                }
                continue;
            }
            e = sub.reader.next_batch(&mut batch, VIEWER_BATCH), if steady.is_none() => e,
            _ = &mut ended => {
                tracing::info!(stream = name, "viewer {peer} disconnected: session {} stopped", session.id);
                return Ok(false);
            }
        };
        match event {
            ReadEvent::Closed => {
                super::write::recycle(&mut out);
                tail(&mut out);
                if !out.is_empty() {
                    write_all_within(sock, &out, VIEWER_WRITE_TIMEOUT).await?;
                }
                return Ok(false);
            }
            ReadEvent::Skipped(n) => {
                tracing::debug!(
                    stream = name,
                    "{label} viewer {peer} fell behind; skipped {n} packets"
                );
                continue;
            }
            ReadEvent::Packets => {}
        }
        super::write::recycle(&mut out);
        framer.frame(&batch, &mut out);
        if out.is_empty() {
            continue;
        }
        if !deliver(sock, &out, &batch, &buffer.counters, &session.counters).await? {
            tracing::info!(
                stream = name,
                "{label} viewer {peer} stopped reading; dropped"
            );
            return Ok(false);
        }
        if let Some((format, sel)) = framer.shared() {
            steady = fanout::join_when_steady(format, sock, &sub.reader, sel, &session.counters);
            if steady.is_some() {
                // Nothing to keep while the fan-out writes.
                batch = Vec::new();
                out = Vec::new();
            }
        }
    }
}

/// Serves one connection's requests until it closes, goes idle, or the listener stops: the
/// stop signal is raced against every head read and every request, so no client (a stalled
/// one included) holds its task past the listener.
async fn serve_connection(
    mut sock: TcpStream,
    peer: SocketAddr,
    ctx: ListenerContext,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = BytesMut::with_capacity(1024);
    let mut first = true;
    let mut kept = None;
    loop {
        let limit = if first { HEAD_TIMEOUT } else { IDLE_TIMEOUT };
        first = false;
        let request = tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = kept_stopped(&mut kept) => {
                tracing::info!("HTTP viewer {peer} disconnected: its session was stopped");
                let _ = sock.shutdown().await;
                return;
            }
            r = tokio::time::timeout(limit, read_head(&mut sock, &mut buf)) => match r {
                Ok(Ok(Some(req))) => req,
                Ok(Ok(None)) | Err(_) => return,
                Ok(Err(e)) => {
                    tracing::debug!("HTTP {peer}: {e}");
                    let _ = Response::bad_request(&e).send_to(&mut sock, false, false).await;
                    return;
                }
            }
        };
        let keep = tokio::select! {
            _ = stopped(&mut stop) => return,
            r = route(&request, &mut sock, peer, &ctx, &mut kept) => match r {
                Ok(keep) => keep && request.keep_alive,
                Err(e) => {
                    tracing::debug!("HTTP {peer}: {} {}: {e}", request.method, request.path);
                    false
                }
            },
        };
        if !keep {
            let _ = sock.shutdown().await;
            return;
        }
    }
}

/// Reads one request head; `Ok(None)` on a clean close.
async fn read_head(sock: &mut TcpStream, buf: &mut BytesMut) -> Result<Option<Request>, HeadError> {
    loop {
        if !buf.is_empty() {
            if let Some((req, used)) = parse_head(buf)? {
                buf.advance(used);
                return Ok(Some(req));
            }
        }
        buf.reserve(1024);
        match sock.read_buf(buf).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}

/// Answers one request; returns whether the connection may be kept for another.
async fn route(
    req: &Request,
    sock: &mut TcpStream,
    peer: SocketAddr,
    ctx: &ListenerContext,
    kept: &mut Option<KeptSession>,
) -> std::io::Result<bool> {
    match req.method.as_str() {
        "GET" | "HEAD" => {}
        "OPTIONS" => return Response::no_content().send(sock, req).await,
        _ => return Response::method_not_allowed().send(sock, req).await,
    }
    let path = req.path.as_str();
    if path == "/player.js" {
        return info::player_js().send(sock, req).await;
    }
    if let Some(rest) = path.strip_prefix("/hls/") {
        if ctx.enabled("HLS") {
            return segmented::route::<hls::Hls>(req, rest, sock, peer, ctx, kept).await;
        }
    } else if let Some(rest) = path.strip_prefix("/cmaf/") {
        if ctx.enabled("CMAF") {
            return segmented::route::<cmaf::Cmaf>(req, rest, sock, peer, ctx, kept).await;
        }
    } else if let Some(name) = stream_in(path, "/json_", ".js") {
        if let Some(key) = info_feed::websocket_key(req) {
            return info_feed::serve(req, key, name, sock, ctx).await;
        }
        return info::json(req, name, ctx).await.send(sock, req).await;
    } else if let Some(name) = stream_in(path, "/info_", ".js") {
        return info::info_js(req, name, ctx).await.send(sock, req).await;
    } else if let Some(name) = stream_in(path, "/embed_", ".js") {
        return info::embed_js(name).send(sock, req).await;
    } else if let Some(name) = stream_in(path, "/", ".html") {
        return info::html(name).send(sock, req).await;
    } else if let Some(name) = stream_in(path, "/", ".flv") {
        if ctx.enabled("FLV") {
            return flv::serve(req, name, sock, peer, ctx).await;
        }
    } else if let Some((name, kind)) = progressive::match_path(path) {
        if ctx.enabled(kind.connector()) {
            return progressive::serve(req, name, kind, sock, peer, ctx).await;
        }
    }
    Response::unsupported().send(sock, req).await
}

/// The stream name in a path of the form `prefix$suffix`, where `$` holds no `/`.
pub fn stream_in<'a>(path: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let name = path.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

#[cfg(test)]
mod tests;
