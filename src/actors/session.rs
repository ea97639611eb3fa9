//! Sessions (facts §6): one SessionActor per session, owning its connections, its tags and its
//! USER_NEW verdict.
//!
//! Session ids follow facts §6.2 ([`crate::hub::session::session_id`]), so an HLS player is one
//! session across its playlist and segment requests.
//!
//! USER_NEW runs once per session, before the first byte of media: the first connection starts
//! it, later ones wait for the same verdict. A denied session refuses every connection until the
//! session expires from the cache, ten minutes after its last connection (facts §6.5), or until
//! `invalidate_sessions` asks again. Stopping a session (`stop_sessid`, `stop_tag`,
//! `stop_sessions`) closes its connections within a second and denies nothing: a client that
//! comes back is a new decision, USER_NEW is asked again (facts §6.5, as MistServer does; the
//! 2.12 manual's "ten seconds" block is not what MistServer does). `stop_sessions` with a
//! protocol closes only that protocol's connections: a viewer session spans protocols (its id
//! leaves the protocol out, facts §6.2). `invalidate_sessions` runs USER_NEW again; a denial
//! then disconnects the session.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::{oneshot, watch};

use crate::hub::session::{
    session_id, ConnCounters, ConnInfo, SessionConn, SessionError, SessionKind,
};
use crate::hub::OnDrop;
use crate::stats::{RecordKey, Stats};
use crate::triggers::Triggers;

/// How long a session is remembered after its last connection (by default).
pub const SESSION_CACHE: Duration = Duration::from_secs(600);

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
    /// Open connections: their stop signal and protocol.
    conns: HashMap<u64, (watch::Sender<bool>, &'static str)>,
    next_conn: u64,
    tags: Vec<String>,
    idle_since: Option<Instant>,
    gone: Recipient<SessionGone>,
    cache: Duration,
    /// What the session's connections moved.
    counters: Arc<ConnCounters>,
    /// The session's statistics record.
    stats: Stats,
    record: RecordKey,
    /// Time with at least one connection (USER_END's duration).
    active_since: Option<Instant>,
    active: Duration,
}

/// Told to the registry when a session expires, or when its record closes with a visit still
/// open (for the access log).
#[derive(Message)]
#[rtype(result = "()")]
pub enum SessionGone {
    Expired {
        id: String,
        addr: Addr<SessionActor>,
    },
    Visit(crate::stats::VisitEnd),
}

impl SessionActor {
    /// `cache`: how long the session is remembered after its last connection.
    pub fn new(
        conn: ConnInfo,
        triggers: Triggers,
        gone: Recipient<SessionGone>,
        cache: Duration,
        stats: Stats,
    ) -> Self {
        let info = SessionInfo {
            id: session_id(&conn),
            stream: conn.stream.clone(),
            kind: conn.kind,
            protocol: conn.protocol,
        };
        let counters = Arc::new(ConnCounters::default());
        let record = stats.open(
            info.id.clone(),
            info.stream.clone(),
            conn.ip,
            info.kind,
            counters.clone(),
        );
        SessionActor {
            info,
            conn,
            triggers,
            verdict: Verdict::Unknown,
            conns: HashMap::new(),
            next_conn: 1,
            tags: Vec::new(),
            idle_since: Some(Instant::now()),
            gone,
            cache,
            counters,
            stats,
            record,
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
            self.counters.up.load(Ordering::Relaxed).to_string(),
            self.counters.down.load(Ordering::Relaxed).to_string(),
            tags,
            secs.clone(),
            secs.clone(),
            secs,
            self.info.id.clone(),
        ];
        self.triggers
            .fire_later("USER_END", &self.info.stream, lines);
    }

    fn stop_connections(&mut self) {
        for (stop, _) in self.conns.values() {
            let _ = stop.send(true);
        }
    }

    /// Closes the connections (of `protocol` only, when given). The next connection is a new
    /// decision.
    fn stop(&mut self, protocol: Option<&str>) {
        for (stop, p) in self.conns.values() {
            if protocol.is_none_or(|want| want == *p) {
                let _ = stop.send(true);
            }
        }
        if matches!(self.verdict, Verdict::Allowed) {
            self.verdict = Verdict::Unknown;
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
        if let Some(visit) = self.stats.close(self.record) {
            self.gone.do_send(SessionGone::Visit(visit));
        }
        if self.info.kind == SessionKind::Viewer {
            self.user_end();
        }
        self.gone.do_send(SessionGone::Expired {
            id: self.info.id.clone(),
            addr: ctx.address(),
        });
    }
}

/// Admits a connection of this protocol into the session, once USER_NEW allowed it.
#[derive(Message)]
#[rtype(result = "Result<SessionConn, SessionError>")]
pub struct Admit(pub &'static str);

impl Handler<Admit> for SessionActor {
    type Result = ResponseActFuture<Self, Result<SessionConn, SessionError>>;
    fn handle(&mut self, msg: Admit, ctx: &mut Self::Context) -> Self::Result {
        let id = self.info.id.clone();
        let protocol = msg.0;
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
                act.conns.insert(conn, (tx, protocol));
                act.idle_since = None;
                act.active_since.get_or_insert_with(Instant::now);
                if !act.stats.joined(act.record, protocol) {
                    act.record = act.stats.open(
                        act.info.id.clone(),
                        act.info.stream.clone(),
                        act.conn.ip,
                        act.info.kind,
                        act.counters.clone(),
                    );
                    act.stats.joined(act.record, protocol);
                }
                let session = ctx.address();
                let leave = OnDrop::new(move || session.do_send(Leave { conn }));
                Ok(SessionConn::new(id, rx, act.counters.clone(), leave))
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
        if self.conns.remove(&msg.conn).is_some() {
            self.stats.left(self.record);
        }
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
    /// Close its connections; a client that comes back is asked about again.
    Stop,
    /// Close its connections of this protocol (`stop_sessions` with a protocol).
    StopProtocol(String),
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
            Control::Stop => self.stop(None),
            Control::StopProtocol(p) => self.stop(Some(&p)),
            Control::StopIfTagged(tag) => {
                if self.tags.contains(&tag) {
                    ctx.notify(Control::Stop);
                }
            }
            Control::Tag(tag) => {
                if !self.tags.contains(&tag) {
                    self.stats.tag(self.record, &tag);
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
