//! Protocols: the catalogue of connectors Eddy implements, and the listeners they run.
//!
//! `config.protocols` lists connector entries such as `{"connector":"HTTP","port":8080}`. The
//! supervisor's [`crate::actors::listeners::ListenerSet`] starts one listener per entry whose
//! connector has a [`ConnectorSpec::start`] function, and reports each entry's `online` value.
//! Outputs that ride on the HTTP listener (`deps: "HTTP"`) are never started on their own; they
//! report `"Enabled"`. A connector name not in [`catalogue`] reports `"Not installed"`.
//!
//! Only what Eddy really implements is in the catalogue, so `capabilities` never promises an
//! output that is not there; later work adds RTMP, FLV, HLS and the rest here.

pub mod av_select;
pub mod http;
pub mod rtmp;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use crate::actors::stream::buffer::LiveBuffer;
use crate::actors::stream::{
    push_rules, AttachPublisher, GetBuffer, Publisher, StreamError, Subscribe, Subscription,
};
use crate::actors::supervisor::{ResolveStream, Supervisor};
use crate::config::ProtocolEntry;

/// What a listener is given to reach the rest of the server; connections take it by clone.
#[derive(Clone)]
pub struct ListenerContext {
    pub supervisor: Addr<Supervisor>,
    /// The multi-threaded runtime connections run on.
    pub runtime: tokio::runtime::Handle,
    /// The configured protocol entries, kept current by the supervisor (which outputs are
    /// enabled, and on which ports, for generated links).
    pub protocols: Arc<std::sync::RwLock<Vec<ProtocolEntry>>>,
    /// Trigger handlers (STREAM_PUSH, CONN_PLAY, OUTPUT_START, ...).
    pub triggers: crate::actors::trigger::Triggers,
}

/// How long a viewer of a configured but offline stream waits for it to start.
pub const OFFLINE_WAIT: Duration = Duration::from_secs(10);
/// A viewer whose socket takes no data for this long is dropped.
pub const VIEWER_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes one batch to a viewer: vectored, within [`VIEWER_WRITE_TIMEOUT`], adding the bytes to
/// the stream's counters and the batch's age to the fan-out latency. `Ok(false)` when the viewer
/// took nothing for that long and should be dropped.
pub async fn deliver<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    out: &[Bytes],
    batch: &[std::sync::Arc<crate::actors::stream::buffer::Entry>],
    counters: &crate::actors::stream::buffer::Counters,
    session_bytes: &std::sync::atomic::AtomicU64,
) -> std::io::Result<bool> {
    let Ok(written) = tokio::time::timeout(VIEWER_WRITE_TIMEOUT, write_all_bytes(w, out)).await
    else {
        return Ok(false);
    };
    let written = written?;
    counters
        .down_bytes
        .fetch_add(written, std::sync::atomic::Ordering::Relaxed);
    session_bytes.fetch_add(written, std::sync::atomic::Ordering::Relaxed);
    if let Some(oldest) = batch.first() {
        crate::actors::stream::latency::FANOUT_LATENCY.record(oldest.arrived.elapsed());
    }
    Ok(true)
}

/// Writes every buffer in order with vectored writes (no copying); returns the bytes written.
pub async fn write_all_bytes<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    bufs: &[Bytes],
) -> std::io::Result<u64> {
    use tokio::io::AsyncWriteExt;
    const MAX_SLICES: usize = 64;
    let (mut idx, mut off, mut total) = (0usize, 0usize, 0u64);
    loop {
        while idx < bufs.len() && bufs[idx].len() == off {
            idx += 1;
            off = 0;
        }
        if idx >= bufs.len() {
            return Ok(total);
        }
        let mut slices = [std::io::IoSlice::new(&[]); MAX_SLICES];
        let mut count = 0;
        for (i, b) in bufs[idx..].iter().enumerate() {
            if count == MAX_SLICES {
                break;
            }
            let part = if i == 0 { &b[off..] } else { &b[..] };
            if !part.is_empty() {
                slices[count] = std::io::IoSlice::new(part);
                count += 1;
            }
        }
        let mut n = w.write_vectored(&slices[..count]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        total += n as u64;
        while n > 0 && idx < bufs.len() {
            let left = bufs[idx].len() - off;
            if n >= left {
                n -= left;
                idx += 1;
                off = 0;
            } else {
                off += n;
                n = 0;
            }
        }
    }
}

impl ListenerContext {
    /// Admits a connection into its session (running USER_NEW for new viewer sessions).
    pub async fn admit(
        &self,
        info: crate::actors::session::ConnInfo,
    ) -> Result<crate::actors::session::SessionConn, crate::actors::session::SessionError> {
        use crate::actors::session::{Admit, SessionError};
        let host = info.ip.to_string();
        let lines = vec![
            info.stream.clone(),
            host,
            info.protocol.to_string(),
            info.url.clone(),
        ];
        // CONN_OPEN (manual §4.4.18): a blocking handler may refuse the connection.
        if self.triggers.configured("CONN_OPEN", &info.stream) {
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            if !self
                .triggers
                .fire("CONN_OPEN", &info.stream, &refs)
                .await
                .allowed
            {
                return Err(SessionError::Refused(
                    "the CONN_OPEN handler refused the connection".into(),
                ));
            }
        }
        let stream = info.stream.clone();
        let session = self
            .supervisor
            .send(crate::actors::supervisor::OpenSession(info))
            .await
            .map_err(|_| SessionError::Gone)?;
        let mut conn = session
            .send(Admit)
            .await
            .map_err(|_| SessionError::Gone)??;
        // CONN_CLOSE (manual §4.4.19) fires when the connection ends.
        if self.triggers.configured("CONN_CLOSE", &stream) {
            conn.on_close(self.triggers.clone(), lines);
        }
        Ok(conn)
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

    /// The live buffer of a stream, for outputs that do not follow it as a viewer (segmented
    /// outputs, info handlers). With `create`, a configured stream that is not running is
    /// started (and waits for its publisher); without, only running streams are found.
    pub async fn stream_buffer(
        &self,
        raw_name: &str,
        create: bool,
    ) -> Result<(String, Arc<LiveBuffer>), StreamError> {
        let stream = self
            .supervisor
            .send(ResolveStream {
                name: raw_name.to_string(),
                create,
            })
            .await
            .map_err(|_| StreamError::ShuttingDown)??;
        let buffer = stream
            .addr
            .send(GetBuffer)
            .await
            .map_err(|_| StreamError::Offline(stream.name.clone()))?;
        Ok((stream.name, buffer))
    }

    /// Opens a stream for playing: resolves the name, subscribes, and waits up to `wait` for a
    /// keyframe to start at.
    pub async fn play(
        &self,
        raw_name: &str,
        protocol: &'static str,
        peer: IpAddr,
        url: &str,
        wait: Duration,
    ) -> Result<(String, Subscription), StreamError> {
        let mut last = StreamError::ShuttingDown;
        // A stream that is just ending may refuse; the second try gets a fresh one.
        for _ in 0..2 {
            let stream = self.resolve(raw_name).await?;
            // CONN_PLAY (manual §4.4.20): a blocking handler may refuse this viewer.
            if self.triggers.configured("CONN_PLAY", &stream.name) {
                let host = peer.to_string();
                let out = self
                    .triggers
                    .fire(
                        "CONN_PLAY",
                        &stream.name,
                        &[&stream.name, &host, protocol, url],
                    )
                    .await;
                if !out.allowed {
                    return Err(StreamError::Refused(format!(
                        "CONN_PLAY handler refused {host}"
                    )));
                }
            }
            match subscribe_to(stream, Subscribe::viewer(protocol), wait).await? {
                Attempt::Ready(name, sub) => return Ok((name, sub)),
                Attempt::Retry(e) => last = e,
            }
        }
        Err(last)
    }

    /// Opens a stream for a push (an output): resolves the name, starting a configured stream
    /// that is not running, subscribes as an output, and waits up to `wait` for data. With
    /// `from_start` the push starts at the oldest buffered keyframe.
    pub async fn subscribe_output(
        &self,
        raw_name: &str,
        protocol: &'static str,
        from_start: bool,
        wait: Duration,
    ) -> Result<(String, Subscription), StreamError> {
        let mut last = StreamError::ShuttingDown;
        for _ in 0..2 {
            let stream = self.resolve(raw_name).await?;
            let msg = Subscribe {
                protocol,
                output: true,
                from_start,
            };
            match subscribe_to(stream, msg, wait).await? {
                Attempt::Ready(name, sub) => return Ok((name, sub)),
                Attempt::Retry(e) => last = e,
            }
        }
        Err(last)
    }

    /// Opens a stream for publishing, applying the `push://` rules of its configuration.
    pub async fn publish(
        &self,
        raw_name: &str,
        passphrase: &str,
        peer: IpAddr,
        protocol: &'static str,
        url: &str,
    ) -> Result<(String, Publisher), StreamError> {
        let mut last = StreamError::ShuttingDown;
        for _ in 0..2 {
            let stream = self.resolve(raw_name).await?;
            let source = stream
                .config
                .get("source")
                .and_then(Value::as_str)
                .unwrap_or("");
            let rules = push_rules::parse(source)
                .ok_or_else(|| StreamError::NotPushable(stream.name.clone()))?;
            rules
                .check(peer, passphrase)
                .await
                .map_err(|reason| StreamError::PushDenied {
                    stream: stream.name.clone(),
                    reason,
                })?;
            // STREAM_PUSH (manual §4.4.12): a blocking handler may refuse the push.
            if self.triggers.configured("STREAM_PUSH", &stream.name) {
                let host = peer.to_string();
                let out = self
                    .triggers
                    .fire(
                        "STREAM_PUSH",
                        &stream.name,
                        &[&stream.name, &host, protocol, url],
                    )
                    .await;
                if !out.allowed {
                    return Err(StreamError::PushDenied {
                        stream: stream.name.clone(),
                        reason: "the STREAM_PUSH handler refused it".into(),
                    });
                }
            }
            match stream.addr.send(AttachPublisher { peer, protocol }).await {
                Ok(Ok(p)) => return Ok((stream.name, p)),
                Ok(Err(StreamError::Offline(_))) | Err(_) => {
                    last = StreamError::Offline(stream.name)
                }
                Ok(Err(e)) => return Err(e),
            }
        }
        Err(last)
    }

    async fn resolve(
        &self,
        raw_name: &str,
    ) -> Result<crate::actors::supervisor::StreamRef, StreamError> {
        let mut stream = self
            .supervisor
            .send(ResolveStream {
                name: raw_name.to_string(),
                create: true,
            })
            .await
            .map_err(|_| StreamError::ShuttingDown)??;
        // STREAM_SOURCE (manual §4.4.8): a blocking handler's non-empty answer is the source to
        // use this time (for a push stream: who may push).
        if stream.created && self.triggers.configured("STREAM_SOURCE", &stream.name) {
            let out = self
                .triggers
                .fire("STREAM_SOURCE", &stream.name, &[&stream.name])
                .await;
            if let Some(source) = out.answer.filter(|a| !a.is_empty()) {
                // Kept for the stream's life, so every later publish sees it too.
                self.supervisor
                    .do_send(crate::actors::supervisor::SourceOverride {
                        name: stream.name.clone(),
                        source: source.clone(),
                    });
                stream.config.insert("source".into(), Value::String(source));
            }
        }
        // STREAM_LOAD (manual §4.4.9): a blocking handler may keep the stream from starting.
        if stream.created && self.triggers.configured("STREAM_LOAD", &stream.name) {
            let out = self
                .triggers
                .fire("STREAM_LOAD", &stream.name, &[&stream.name])
                .await;
            if !out.allowed {
                stream.addr.do_send(crate::actors::stream::StopStream);
                return Err(StreamError::Refused(
                    "the STREAM_LOAD handler refused to start it".into(),
                ));
            }
        }
        Ok(stream)
    }
}

/// What one try at subscribing gave.
enum Attempt {
    Ready(String, Subscription),
    /// The stream was just ending (or refused); resolving again gets a fresh one.
    Retry(StreamError),
}

/// Subscribes to a resolved stream and waits up to `wait` for a start point.
async fn subscribe_to(
    stream: crate::actors::supervisor::StreamRef,
    msg: Subscribe,
    wait: Duration,
) -> Result<Attempt, StreamError> {
    match stream.addr.send(msg).await {
        Ok(Ok(mut sub)) => {
            if sub.reader.wait_ready(wait).await {
                Ok(Attempt::Ready(stream.name, sub))
            } else {
                Err(StreamError::Offline(stream.name))
            }
        }
        Ok(Err(e)) => Ok(Attempt::Retry(e)),
        Err(_) => Ok(Attempt::Retry(StreamError::Offline(stream.name))),
    }
}

/// Runs an accept loop for `settings` on the context's runtime, handing each connection to
/// `serve`. Stopping the returned handle closes the socket and signals the connections (through
/// the `watch` they are given) to end.
pub fn spawn_tcp_listener<F, Fut>(
    settings: &ListenerSettings,
    ctx: &ListenerContext,
    name: &'static str,
    serve: F,
) -> Result<ListenerHandle, ListenerError>
where
    F: Fn(tokio::net::TcpStream, SocketAddr, ListenerContext, watch::Receiver<bool>) -> Fut
        + Send
        + Sync
        + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = {
        let _guard = ctx.runtime.enter();
        bind_tcp(settings)?
    };
    let local_addr = listener
        .local_addr()
        .map_err(|source| ListenerError::Bind {
            addr: settings.port.to_string(),
            source,
        })?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let conn_ctx = ctx.clone();
    let task = ctx.runtime.spawn(async move {
        let mut stop = stop_rx.clone();
        let mut backoff = Duration::from_millis(10);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((sock, peer)) => {
                        backoff = Duration::from_millis(10);
                        let _ = sock.set_nodelay(true);
                        tokio::spawn(serve(sock, peer, conn_ctx.clone(), stop_rx.clone()));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: wait, then try again.
                        tracing::warn!("{name} accept failed: {e}");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                }
            }
        }
    });
    tracing::info!(kind = "CONF", "{name} listening on {local_addr}");
    Ok(ListenerHandle::new(local_addr, move || {
        Box::pin(async move {
            let _ = stop_tx.send(true);
            let _ = task.await;
        })
    }))
}

/// Where and how one configured entry listens.
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    pub interface: String,
    pub port: u16,
    /// The whole configured entry, for connector-specific options.
    pub entry: ProtocolEntry,
}

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// A future that completes once a listener has let go of its socket.
pub type StopFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A running listener. [`ListenerHandle::stop`] closes it; dropping the handle also stops it.
pub struct ListenerHandle {
    pub local_addr: SocketAddr,
    stop: Option<Box<dyn FnOnce() -> StopFuture + Send>>,
}

impl ListenerHandle {
    pub fn new(local_addr: SocketAddr, stop: impl FnOnce() -> StopFuture + Send + 'static) -> Self {
        ListenerHandle {
            local_addr,
            stop: Some(Box::new(stop)),
        }
    }

    /// Stops the listener; the future completes when its socket is closed.
    pub fn stop(mut self) -> StopFuture {
        match self.stop.take() {
            Some(stop) => stop(),
            None => Box::pin(async {}),
        }
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            actix_rt::spawn(stop());
        }
    }
}

/// Starts a listener for one configured entry.
pub type StartFn = fn(&ListenerSettings, &ListenerContext) -> Result<ListenerHandle, ListenerError>;

/// One connector Eddy implements.
pub struct ConnectorSpec {
    pub name: &'static str,
    pub desc: &'static str,
    pub default_port: Option<u16>,
    /// `Some("HTTP")` for outputs served by the HTTP listener.
    pub deps: Option<&'static str>,
    /// The connector's `capabilities` entry (without `name`, which is added).
    pub capabilities: fn() -> Value,
    /// `None` for outputs that ride on another listener.
    pub start: Option<StartFn>,
}

/// Every connector Eddy implements.
pub fn catalogue() -> &'static [ConnectorSpec] {
    use http::outputs as out;
    static CATALOGUE: [ConnectorSpec; 9] = [
        http::SPEC,
        rtmp::SPEC,
        http::flv::SPEC,
        out::HLS,
        out::CMAF,
        out::MP4,
        out::HTTPTS,
        out::MP3,
        out::AAC,
    ];
    &CATALOGUE
}

/// Looks a connector up by its configured name (case-insensitive, as operators type it).
pub fn find(name: &str) -> Option<&'static ConnectorSpec> {
    catalogue()
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
}

/// The `connectors` object of a `capabilities` answer.
pub fn capabilities() -> Map<String, Value> {
    catalogue()
        .iter()
        .map(|c| {
            let mut v = (c.capabilities)();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("name".into(), json!(c.name));
                obj.insert("desc".into(), json!(c.desc));
                if let Some(d) = c.deps {
                    obj.insert("deps".into(), json!(d));
                }
            }
            (c.name.to_string(), v)
        })
        .collect()
}

/// The entries a first start enables: every connector with nothing required (facts §9.1).
pub fn default_protocols() -> Vec<ProtocolEntry> {
    catalogue()
        .iter()
        .filter(|c| {
            (c.capabilities)()
                .get("required")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
        })
        .map(|c| {
            let mut p = ProtocolEntry::new();
            p.insert("connector".into(), json!(c.name));
            p
        })
        .collect()
}

/// One input Eddy implements: which stream sources it reads (`source_match`, one `*` wildcard).
pub struct InputSpec {
    pub name: &'static str,
    pub source_match: &'static [&'static str],
    /// The input's `capabilities` entry (without `name`, which is added).
    pub capabilities: fn() -> Value,
}

/// Every input Eddy implements. File inputs join here later.
pub fn inputs() -> &'static [InputSpec] {
    static INPUTS: [InputSpec; 1] = [InputSpec {
        name: "Buffer",
        source_match: &["push://*"],
        capabilities: buffer_input_capabilities,
    }];
    &INPUTS
}

fn buffer_input_capabilities() -> Value {
    json!({
        "desc": "Live buffer for pushed streams (RTMP). push://[host][@passphrase] sets who may push.",
        "priority": 9,
        "codecs": [["H264", "HEVC", "AV1", "VP9"], ["AAC", "MP3"]],
        "required": {},
        "optional": {
            "DVR": {"name": "Buffer time (ms)", "help": "How much of the live stream is kept for viewers to start in", "type": "uint", "default": 50000},
            "cut": {"name": "Cut time (ms)", "help": "Data before this time stamp is not kept", "type": "uint", "default": 0},
            "resume": {"name": "Resume support", "help": "Keep the buffer when the publisher disconnects, so it can continue", "type": "select", "select": [[0, "Disabled"], [1, "Enabled"]], "default": 0},
            "inputtimeout": {"name": "Resume window (s)", "help": "With resume support, how long to wait for the publisher to come back", "type": "uint", "default": 30},
            "maxkeepaway": {"name": "Maximum lag (ms)", "help": "A viewer further behind live than this skips ahead to a keyframe", "type": "uint", "default": 45000},
            "segmentsize": {"name": "Segment size (ms)", "help": "Minimum segment duration for segmented outputs", "type": "uint", "default": 1900}
        }
    })
}

/// The input that reads `source`, if any.
pub fn input_for(source: &str) -> Option<&'static InputSpec> {
    inputs()
        .iter()
        .find(|i| i.source_match.iter().any(|m| wildcard_match(m, source)))
}

/// The `inputs` object of a `capabilities` answer.
pub fn input_capabilities() -> Map<String, Value> {
    inputs()
        .iter()
        .map(|i| {
            let mut v = (i.capabilities)();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("name".into(), json!(i.name));
                obj.insert("source_match".into(), json!(i.source_match));
            }
            (i.name.to_string(), v)
        })
        .collect()
}

/// Matches `text` against `pattern` with at most one `*` standing for any run of characters.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.len() >= head.len() + tail.len() && text.starts_with(head) && text.ends_with(tail)
        }
    }
}

/// The `online` value of an entry whose connector is not startable on its own.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryState {
    Running(SocketAddr),
    Failed(String),
    Enabled,
    NotInstalled,
    MissingConnector,
    Invalid(String),
}

impl EntryState {
    /// The API's `online` value (facts §2.5).
    pub fn online_value(&self) -> Value {
        match self {
            EntryState::Running(_) => json!(1),
            EntryState::Failed(_) => json!(0),
            EntryState::Enabled => json!("Enabled"),
            EntryState::NotInstalled => json!("Not installed"),
            EntryState::MissingConnector => json!("Missing connector name"),
            EntryState::Invalid(_) => json!("Invalid configuration"),
        }
    }
}

/// Reads `interface` and `port` from an entry, with the connector's defaults.
pub fn settings_for(
    spec: &ConnectorSpec,
    entry: &ProtocolEntry,
) -> Result<ListenerSettings, String> {
    let port = match entry.get("port") {
        None | Some(Value::Null) => spec.default_port.ok_or("no port given")?,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| format!("port {n} is not a TCP port"))?,
        Some(Value::String(s)) if s.is_empty() => spec.default_port.ok_or("no port given")?,
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| format!("port {s:?} is not a TCP port"))?,
        Some(other) => return Err(format!("port {other} is not a TCP port")),
    };
    let interface = match entry.get("interface") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => "0.0.0.0".to_string(),
    };
    Ok(ListenerSettings {
        interface,
        port,
        entry: entry.clone(),
    })
}

/// How many not yet accepted connections a listener queues (1000 viewers may arrive at once).
const LISTEN_BACKLOG: u32 = 1024;

/// Binds a tokio TCP listener for `settings` (call inside the runtime), with address reuse so
/// a restarted listener gets its port back at once.
pub fn bind_tcp(settings: &ListenerSettings) -> Result<tokio::net::TcpListener, ListenerError> {
    let addr = format!("{}:{}", bracket_v6(&settings.interface), settings.port);
    let err = |source| ListenerError::Bind {
        addr: addr.clone(),
        source,
    };
    let sockaddr: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .map_err(err)?
        .next()
        .ok_or_else(|| err(std::io::ErrorKind::AddrNotAvailable.into()))?;
    let socket = if sockaddr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(err)?;
    socket.set_reuseaddr(true).map_err(err)?;
    socket.bind(sockaddr).map_err(err)?;
    socket.listen(LISTEN_BACKLOG).map_err(err)
}

/// `::` becomes `[::]` so it can take a `:port`.
pub fn bracket_v6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str) -> ProtocolEntry {
        serde_json::from_str(s).expect("test entry")
    }

    #[test]
    fn ports_and_interfaces() {
        let spec = &http::SPEC;
        let s = settings_for(spec, &entry(r#"{"connector":"HTTP"}"#)).expect("defaults");
        assert_eq!((s.interface.as_str(), s.port), ("0.0.0.0", 8080));
        let s = settings_for(
            spec,
            &entry(r#"{"connector":"HTTP","port":"81","interface":"::"}"#),
        )
        .expect("string port");
        assert_eq!((s.interface.as_str(), s.port), ("::", 81));
        for bad in [
            r#"{"port":70000}"#,
            r#"{"port":-1}"#,
            r#"{"port":"x"}"#,
            r#"{"port":[1]}"#,
        ] {
            assert!(settings_for(spec, &entry(bad)).is_err(), "{bad}");
        }
        assert_eq!(bracket_v6("::1"), "[::1]");
        assert_eq!(bracket_v6("127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn catalogue_lists_only_real_connectors() {
        let caps = capabilities();
        assert!(caps.contains_key("HTTP"));
        assert!(find("http").is_some());
        assert!(find("RTSP").is_none());
        assert!(default_protocols().iter().any(|p| p["connector"] == "HTTP"));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("push://*", "push://"));
        assert!(wildcard_match("push://*", "push://1.2.3.4@pw"));
        assert!(!wildcard_match("push://*", "/file.mp4"));
        assert!(wildcard_match("/*.mp4", "/a.mp4"));
        assert!(!wildcard_match("ab*ba", "aba"));
        assert!(wildcard_match("exact", "exact"));
    }
}

#[cfg(test)]
mod write_tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A writer that takes at most 5 bytes per call.
    struct Trickle(Vec<u8>);

    impl tokio::io::AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = buf.len().min(5);
            self.0.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            let mut left = 5;
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(left);
                self.0.extend_from_slice(&b[..take]);
                n += take;
                left -= take;
                if left == 0 {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn vectored_writes_survive_partial_writes() {
        let bufs: Vec<Bytes> = ["abc", "", "defghijkl", "m", "", "nopqrstuvwxyz"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        let mut w = Trickle(Vec::new());
        let n = write_all_bytes(&mut w, &bufs).await.expect("write");
        assert_eq!(n, 26);
        assert_eq!(w.0, b"abcdefghijklmnopqrstuvwxyz");
        let many: Vec<Bytes> = (0..200u8).map(|i| Bytes::from(vec![i; 3])).collect();
        let mut w = Trickle(Vec::new());
        write_all_bytes(&mut w, &many).await.expect("write");
        assert_eq!(w.0.len(), 600);
        assert_eq!(w.0[597..], [199, 199, 199]);
        assert_eq!(
            write_all_bytes(&mut Trickle(Vec::new()), &[])
                .await
                .expect("empty"),
            0
        );
    }
}
