//! Sessions (facts §6): one SessionActor per session, owning its connections, its tags and its
//! USER_NEW verdict.
//!
//! A viewer's session id is the lowercase hex SHA-256 of the stream name, the client address in
//! its 16-byte form (IPv4 mapped into IPv6) and a token (facts §6.2, mode 14): the URL's
//! `tkn`/`sid`/`sessId`, else the `tkn` cookie, else one derived from the user agent for HTTP, and
//! one per connection for RTMP. So an HLS player is one session across its playlist and segment
//! requests. Publishers get input sessions (`I` + the same hash with the protocol added).
//!
//! USER_NEW runs once per session, before the first byte of media: the first connection starts
//! it, later ones wait for the same verdict. A denied session refuses every connection until the
//! session expires from the cache, ten minutes after its last connection. Stopping a session
//! (`stop_sessid`, `stop_tag`, `stop_sessions`) closes its connections within a second and, when
//! USER_NEW is in use, refuses new ones for ten seconds (manual §4.1.23). `invalidate_sessions`
//! runs USER_NEW again; a denial then disconnects the session.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, watch};

use super::trigger::Triggers;

/// How long a session is remembered after its last connection (by default).
pub const SESSION_CACHE: Duration = Duration::from_secs(600);
/// How long a stopped session refuses new connections when USER_NEW is in use.
pub const STOP_BLOCK: Duration = Duration::from_secs(10);

/// What kind of session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Viewer,
    Input,
    Output,
}

/// Who is connecting, as the protocol saw it.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub stream: String,
    pub ip: IpAddr,
    pub token: String,
    pub protocol: &'static str,
    pub url: String,
    pub kind: SessionKind,
}

/// The 16-byte form of an address (IPv4 mapped into IPv6).
fn ip16(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The session id of a connection (facts §6.2).
pub fn session_id(c: &ConnInfo) -> String {
    let mut h = Sha256::new();
    h.update(c.stream.as_bytes());
    h.update(ip16(c.ip));
    h.update(c.token.as_bytes());
    let prefix = match c.kind {
        SessionKind::Viewer => "",
        SessionKind::Input => {
            h.update(c.protocol.as_bytes());
            "I"
        }
        SessionKind::Output => {
            h.update(c.protocol.as_bytes());
            "O"
        }
    };
    let digest = h.finalize();
    let mut id = String::with_capacity(65);
    id.push_str(prefix);
    for b in digest {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// The token an HTTP viewer is known by: `tkn`, `sid` or `sessId` in the query, else the `tkn`
/// cookie, else a hash of the user agent.
pub fn http_token(query: &str, cookie: Option<&str>, user_agent: Option<&str>) -> String {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    for key in ["tkn", "sid", "sessId"] {
        if let Some((_, v)) = params.iter().find(|(k, v)| k == key && !v.is_empty()) {
            return v.clone();
        }
    }
    if let Some(t) = cookie.and_then(|c| c.split(';').find_map(|kv| kv.trim().strip_prefix("tkn=")))
    {
        if !t.is_empty() {
            return t.to_string();
        }
    }
    let mut h = Sha256::new();
    h.update(user_agent.unwrap_or("").as_bytes());
    let d = h.finalize();
    format!(
        "ua{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        d[0], d[1], d[2], d[3], d[4], d[5]
    )
}

enum Verdict {
    Unknown,
    Pending(Vec<oneshot::Sender<bool>>),
    Allowed,
    Denied,
}

/// What the supervisor knows of a session, for the session commands.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: String,
    pub stream: String,
    pub kind: SessionKind,
    pub protocol: &'static str,
}

/// The actor.
pub struct SessionActor {
    info: SessionInfo,
    conn: ConnInfo,
    triggers: Triggers,
    verdict: Verdict,
    conns: HashMap<u64, watch::Sender<bool>>,
    next_conn: u64,
    tags: Vec<String>,
    blocked_until: Option<Instant>,
    idle_since: Option<Instant>,
    gone: Recipient<SessionGone>,
    cache: Duration,
    /// Bytes sent to the session's connections.
    down: Arc<AtomicU64>,
    /// Time with at least one connection (USER_END's duration).
    active_since: Option<Instant>,
    active: Duration,
}

/// Told to the registry when a session expires.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionGone {
    pub id: String,
    pub addr: Addr<SessionActor>,
}

impl SessionActor {
    /// `cache`: how long the session is remembered after its last connection.
    pub fn new(
        conn: ConnInfo,
        triggers: Triggers,
        gone: Recipient<SessionGone>,
        cache: Duration,
    ) -> Self {
        let info = SessionInfo {
            id: session_id(&conn),
            stream: conn.stream.clone(),
            kind: conn.kind,
            protocol: conn.protocol,
        };
        SessionActor {
            info,
            conn,
            triggers,
            verdict: Verdict::Unknown,
            conns: HashMap::new(),
            next_conn: 1,
            tags: Vec::new(),
            blocked_until: None,
            idle_since: Some(Instant::now()),
            gone,
            cache,
            down: Arc::new(AtomicU64::new(0)),
            active_since: None,
            active: Duration::ZERO,
        }
    }

    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    fn needs_user_new(&self) -> bool {
        self.info.kind == SessionKind::Viewer
            && self.triggers.configured("USER_NEW", &self.info.stream)
    }

    /// Runs USER_NEW and records the verdict; `then` sees it.
    fn ask(&mut self, ctx: &mut Context<Self>) {
        let (triggers, c, id) = (
            self.triggers.clone(),
            self.conn.clone(),
            self.info.id.clone(),
        );
        let fire = async move {
            let ip = c.ip.to_string();
            triggers
                .fire(
                    "USER_NEW",
                    &c.stream,
                    &[&c.stream, &ip, &c.token, c.protocol, &c.url, &id],
                )
                .await
                .allowed
        };
        ctx.spawn(fire.into_actor(self).map(|allowed, act, _| {
            let waiting = match std::mem::replace(
                &mut act.verdict,
                if allowed {
                    Verdict::Allowed
                } else {
                    Verdict::Denied
                },
            ) {
                Verdict::Pending(w) => w,
                _ => Vec::new(),
            };
            if !allowed {
                tracing::info!(
                    kind = "ACCS",
                    stream = act.info.stream.as_str(),
                    "USER_NEW denied session {}",
                    act.info.id
                );
                act.stop_connections();
            }
            for w in waiting {
                let _ = w.send(allowed);
            }
        }));
    }

    /// USER_END (facts §6.4): token, streams, protocols, hosts, seconds connected, bytes up,
    /// bytes down, tags, then seconds per host, per protocol and per stream, and the session id.
    fn user_end(&mut self) {
        if let Some(since) = self.active_since.take() {
            self.active += since.elapsed();
        }
        let secs = self.active.as_secs().to_string();
        let tags: String = self.tags.iter().map(|t| format!("[{t}]")).collect();
        let lines = vec![
            self.conn.token.clone(),
            self.info.stream.clone(),
            self.info.protocol.to_string(),
            self.conn.ip.to_string(),
            secs.clone(),
            "0".into(),
            self.down.load(Ordering::Relaxed).to_string(),
            tags,
            secs.clone(),
            secs.clone(),
            secs,
            self.info.id.clone(),
        ];
        super::stream::events::fire_later(&self.triggers, "USER_END", &self.info.stream, lines);
    }

    fn stop_connections(&mut self) {
        for stop in self.conns.values() {
            let _ = stop.send(true);
        }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let every = Duration::from_secs(5).min(self.cache.max(Duration::from_millis(200)));
        ctx.run_interval(every, |act, ctx| {
            if act.conns.is_empty() {
                let since = *act.idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= act.cache {
                    ctx.stop();
                }
            } else {
                act.idle_since = None;
            }
        });
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        if self.info.kind == SessionKind::Viewer {
            self.user_end();
        }
        self.gone.do_send(SessionGone {
            id: self.info.id.clone(),
            addr: ctx.address(),
        });
    }
}

/// A connection's membership of its session; dropping it leaves the session. `stop` turns
/// true when the session is stopped or denied: the connection must then close.
pub struct SessionConn {
    pub id: String,
    pub stop: watch::Receiver<bool>,
    conn: u64,
    session: Addr<SessionActor>,
    /// CONN_CLOSE to fire when the connection ends: the handle and the payload lines.
    close: Option<(Triggers, Vec<String>)>,
    /// The session's byte counter: outputs add what they send.
    pub bytes: Arc<AtomicU64>,
}

impl SessionConn {
    /// Fires CONN_CLOSE with `lines` when this connection ends.
    pub fn on_close(&mut self, triggers: Triggers, lines: Vec<String>) {
        self.close = Some((triggers, lines));
    }
}

impl Drop for SessionConn {
    fn drop(&mut self) {
        self.session.do_send(Leave { conn: self.conn });
        if let Some((triggers, lines)) = self.close.take() {
            let stream = lines.first().cloned().unwrap_or_default();
            super::stream::events::fire_later(&triggers, "CONN_CLOSE", &stream, lines);
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionError {
    #[error("session {0} is not allowed (USER_NEW)")]
    Denied(String),
    #[error("session {0} was stopped; try again later")]
    Blocked(String),
    #[error("{0}")]
    Refused(String),
    #[error("the server is shutting down")]
    Gone,
}

/// Admits a connection into the session, once USER_NEW allowed it.
#[derive(Message)]
#[rtype(result = "Result<SessionConn, SessionError>")]
pub struct Admit;

impl Handler<Admit> for SessionActor {
    type Result = ResponseActFuture<Self, Result<SessionConn, SessionError>>;
    fn handle(&mut self, _: Admit, ctx: &mut Self::Context) -> Self::Result {
        let id = self.info.id.clone();
        if self.blocked_until.is_some_and(|t| Instant::now() < t) {
            return Box::pin(fut::ready(Err(SessionError::Blocked(id))));
        }
        let needs_user_new = self.needs_user_new();
        let waiter = match &mut self.verdict {
            Verdict::Allowed => None,
            Verdict::Denied => return Box::pin(fut::ready(Err(SessionError::Denied(id)))),
            Verdict::Pending(w) => {
                let (tx, rx) = oneshot::channel();
                w.push(tx);
                Some(rx)
            }
            Verdict::Unknown if !needs_user_new => {
                self.verdict = Verdict::Allowed;
                None
            }
            Verdict::Unknown => {
                let (tx, rx) = oneshot::channel();
                self.verdict = Verdict::Pending(vec![tx]);
                self.ask(ctx);
                Some(rx)
            }
        };
        Box::pin(
            async move {
                match waiter {
                    None => true,
                    Some(rx) => rx.await.unwrap_or(false),
                }
            }
            .into_actor(self)
            .map(move |allowed, act, ctx| {
                if !allowed {
                    return Err(SessionError::Denied(id));
                }
                let conn = act.next_conn;
                act.next_conn += 1;
                let (tx, rx) = watch::channel(false);
                act.conns.insert(conn, tx);
                act.idle_since = None;
                act.active_since.get_or_insert_with(Instant::now);
                Ok(SessionConn {
                    id,
                    stop: rx,
                    conn,
                    session: ctx.address(),
                    close: None,
                    bytes: act.down.clone(),
                })
            }),
        )
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Leave {
    conn: u64,
}

impl Handler<Leave> for SessionActor {
    type Result = ();
    fn handle(&mut self, msg: Leave, _: &mut Self::Context) {
        self.conns.remove(&msg.conn);
        if self.conns.is_empty() {
            self.idle_since = Some(Instant::now());
            if let Some(since) = self.active_since.take() {
                self.active += since.elapsed();
            }
        }
    }
}

/// What the session commands ask of a session.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub enum Control {
    /// Close its connections (and refuse new ones for a while when USER_NEW is in use).
    Stop,
    /// Close its connections when it carries this tag.
    StopIfTagged(String),
    Tag(String),
    /// Run USER_NEW again.
    Invalidate,
}

impl Handler<Control> for SessionActor {
    type Result = ();
    fn handle(&mut self, msg: Control, ctx: &mut Self::Context) {
        match msg {
            Control::Stop => {
                self.stop_connections();
                if self.needs_user_new() {
                    self.blocked_until = Some(Instant::now() + STOP_BLOCK);
                }
            }
            Control::StopIfTagged(tag) => {
                if self.tags.contains(&tag) {
                    ctx.notify(Control::Stop);
                }
            }
            Control::Tag(tag) => {
                if !self.tags.contains(&tag) {
                    self.tags.push(tag);
                }
            }
            Control::Invalidate => {
                if self.needs_user_new() && !matches!(self.verdict, Verdict::Pending(_)) {
                    // A denied session starts over; an allowed one is asked again.
                    self.verdict = Verdict::Pending(Vec::new());
                    self.ask(ctx);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(ip: &str, token: &str, kind: SessionKind) -> ConnInfo {
        ConnInfo {
            stream: "live".into(),
            ip: ip.parse().expect("ip"),
            token: token.into(),
            protocol: "HLS",
            url: String::new(),
            kind,
        }
    }

    #[test]
    fn ids() {
        let a = session_id(&info("10.0.0.1", "t", SessionKind::Viewer));
        assert_eq!(a.len(), 64);
        assert_eq!(
            a,
            session_id(&info("::ffff:10.0.0.1", "t", SessionKind::Viewer)),
            "IPv4 maps into IPv6"
        );
        assert_ne!(a, session_id(&info("10.0.0.2", "t", SessionKind::Viewer)));
        assert_ne!(a, session_id(&info("10.0.0.1", "u", SessionKind::Viewer)));
        let i = session_id(&info("10.0.0.1", "t", SessionKind::Input));
        assert!(i.starts_with('I') && i.len() == 65);
    }

    #[test]
    fn tokens() {
        assert_eq!(http_token("tkn=abc&x=1", None, None), "abc");
        assert_eq!(http_token("sessId=s1", None, None), "s1");
        assert_eq!(http_token("", Some("a=b; tkn=cookie"), None), "cookie");
        let ua = http_token("", None, Some("VLC/3"));
        assert!(ua.starts_with("ua") && ua == http_token("tkn=", None, Some("VLC/3")));
        assert_ne!(ua, http_token("", None, Some("ffmpeg")));
    }
}
