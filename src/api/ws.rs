//! The API port's WebSocket, `/ws` (facts §1.6): the event feed MistServer's web UI reads for
//! live stream states, log lines and ended sessions.
//!
//! - The first message is `["auth", true]` (a local caller, or no accounts yet) or
//!   `["auth", false]`; the client then logs in with `["auth", {username, password}]` (the
//!   password hashed with the challenge, as for the HTTP API) and gets `["auth", <the authorize
//!   answer>]`. Not logged in within 10 s: `["auth", "Too slow, sorry"]` and the socket closes.
//! - Query: `logs=N` (the last N lines first) or `logs=since:UNIX`, `accs=` the same for ended
//!   sessions, `streams=` (any value) for stream states. Without one, that feed is not sent.
//! - Then, checked once a second: `["log", [time, kind, message, stream, pid, exe, line]]` for
//!   each new log line, `["access", [time, sessid, stream, connector, host, duration, up,
//!   down, tags]]` for each ended visit, `["stream", [stream, state, viewers, inputs,
//!   outputs, tags]]` for each stream whose state or counts changed. The state is the number
//!   MistServer's UI reads (3 waiting for data, 4 available); a stream that went away gets
//!   `[stream, 0, 0, 0, 0, null]`, all falsy, which is how the UI drops a wildcard stream.
//! - Incoming messages after the login are ignored. A client that does not take a message
//!   within [`SEND_STALL`] is dropped: its connection is reset (its queue in actix-ws and the
//!   HTTP server's write buffer are bounded, so what it costs until then is bounded too). The
//!   server's shutdown closes every socket at once.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{Message, MessageStream, Session};
use serde_json::{json, Map, Value};

use super::{execute, ApiContext, Caller};
use crate::actors::supervisor::GetSnapshot;
use crate::logbook::LogEntry;
use crate::stats::VisitEnd;

/// How long a client may take to log in.
const AUTH_WAIT: Duration = Duration::from_secs(10);
/// How long one message may wait for a client that does not read.
const SEND_STALL: Duration = Duration::from_secs(5);
/// How often the feeds are checked.
const TICK: Duration = Duration::from_secs(1);

/// What history a feed starts with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Start {
    Off,
    Last(usize),
    Since(i64),
}

fn start_of(query: &[(String, String)], key: &str) -> Start {
    match query.iter().rev().find(|(k, _)| k == key) {
        None => Start::Off,
        Some((_, v)) => match v.strip_prefix("since:") {
            Some(t) => Start::Since(t.trim().parse().unwrap_or(0)),
            None => Start::Last(v.trim().parse().unwrap_or(0)),
        },
    }
}

/// Upgrades `/ws` and serves the feed on the API's thread.
pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    ctx: web::Data<ApiContext>,
    caller: Caller,
) -> actix_web::Result<HttpResponse> {
    let (response, session, messages) = actix_ws::handle(&req, body)?;
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let ctx = ctx.get_ref().clone();
    let socket = req.conn_data::<ConnSocket>().cloned();
    actix_rt::spawn(async move {
        let mut session = session;
        match serve(&ctx, &caller, &query, &mut session, messages).await {
            Ok(()) => {
                let _ = session.close(None).await;
            }
            Err(Ended::Stalled) => {
                tracing::info!(
                    kind = "AUTH",
                    "WebSocket client {} took no message for {} s; dropped",
                    caller.peer,
                    SEND_STALL.as_secs()
                );
                if let Some(socket) = socket {
                    socket.cut_off();
                }
            }
            Err(Ended::Gone) => {}
        }
    });
    Ok(response)
}

/// A duplicate of an API connection's socket (taken when it connects), to cut off a WebSocket
/// client that stopped reading: ending the feed alone leaves the connection open with its
/// unsent messages for as long as the client holds it, since the HTTP server waits to write
/// them before it closes.
#[derive(Clone)]
pub struct ConnSocket(Arc<OwnedFd>);

impl ConnSocket {
    pub fn of(sock: &impl AsFd) -> Option<Self> {
        sock.as_fd()
            .try_clone_to_owned()
            .ok()
            .map(|fd| Self(Arc::new(fd)))
    }

    /// Resets the connection: no lingering over unsent data, both directions shut, so the
    /// HTTP server's next read or write fails and it closes the socket (with a reset).
    fn cut_off(&self) {
        let sock = socket2::SockRef::from(&*self.0);
        let _ = sock.set_linger(Some(Duration::ZERO));
        let _ = sock.shutdown(std::net::Shutdown::Both);
    }
}

/// Why a feed ended before its socket was to be closed.
enum Ended {
    /// The client closed it.
    Gone,
    /// The client took no message for [`SEND_STALL`].
    Stalled,
}

/// Sends one message.
async fn send(session: &mut Session, kind: &str, body: Value) -> Result<(), Ended> {
    let text = json!([kind, body]).to_string();
    match tokio::time::timeout(SEND_STALL, session.text(text)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Ended::Gone),
        Err(_) => Err(Ended::Stalled),
    }
}

/// The feed; `Ok` when it ends with the socket still open (to be closed).
async fn serve(
    ctx: &ApiContext,
    caller: &Caller,
    query: &[(String, String)],
    session: &mut Session,
    mut messages: MessageStream,
) -> Result<(), Ended> {
    let mut closing = ctx.closing.clone();
    if *closing.borrow() {
        return Ok(());
    }
    // Logged in already when the API would run a request without a login.
    let open = execute(ctx, &Map::new(), caller).await;
    let mut authorized = open["authorize"]["status"] == json!("OK");
    send(session, "auth", json!(authorized)).await?;
    let deadline = tokio::time::sleep(AUTH_WAIT);
    tokio::pin!(deadline);
    while !authorized {
        tokio::select! {
            _ = &mut deadline => {
                send(session, "auth", json!("Too slow, sorry")).await?;
                return Ok(());
            }
            _ = closing.changed() => return Ok(()),
            m = messages.recv() => match m {
                Some(Ok(Message::Text(text))) => {
                    let Some(creds) = login_of(&text) else { continue };
                    let mut req = Map::new();
                    req.insert("authorize".into(), Value::Object(creds));
                    let answer = execute(ctx, &req, caller).await;
                    authorized = answer["authorize"]["status"] == json!("OK");
                    send(session, "auth", answer["authorize"].clone()).await?;
                }
                Some(Ok(Message::Ping(p))) => session.pong(&p).await.map_err(|_| Ended::Gone)?,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Err(Ended::Gone),
                Some(Ok(_)) => {}
            },
        }
    }

    let (logs, accs) = (start_of(query, "logs"), start_of(query, "accs"));
    let streams = query.iter().any(|(k, _)| k == "streams");
    let entries = ctx.logbook.entries();
    let (visits, visits_seen) = ctx.stats.visits_after(0);
    let mut feed = Feed {
        log_total: ctx.logbook.total(),
        visits_seen,
        streams: BTreeMap::new(),
    };
    // History first (none for a feed that is off).
    for e in history(&entries, logs, |e| e.time) {
        send(session, "log", e.to_json()).await?;
    }
    for v in history(&visits, accs, |v| v.at) {
        send(session, "access", access_json(v)).await?;
    }
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = closing.changed() => return Ok(()),
            m = messages.recv() => match m {
                Some(Ok(Message::Ping(p))) => session.pong(&p).await.map_err(|_| Ended::Gone)?,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Err(Ended::Gone),
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {
                if logs != Start::Off {
                    for e in feed.new_logs(ctx) {
                        send(session, "log", e.to_json()).await?;
                    }
                }
                if accs != Start::Off {
                    for v in feed.new_visits(ctx) {
                        send(session, "access", access_json(&v)).await?;
                    }
                }
                if streams {
                    for s in feed.changed_streams(ctx).await {
                        send(session, "stream", s).await?;
                    }
                }
            }
        }
    }
}

/// The `{username, password}` of an `["auth", {...}]` message.
fn login_of(text: &str) -> Option<Map<String, Value>> {
    let v: Value = serde_json::from_str(text).ok()?;
    match v.as_array()?.as_slice() {
        [Value::String(kind), Value::Object(creds)] if kind == "auth" => Some(creds.clone()),
        _ => None,
    }
}

/// The part of `items` (oldest first) a feed starts with.
fn history<T>(items: &[T], start: Start, time: impl Fn(&T) -> i64) -> &[T] {
    match start {
        Start::Off => &[],
        Start::Last(n) => &items[items.len().saturating_sub(n)..],
        Start::Since(t) => {
            let from = items
                .iter()
                .position(|i| time(i) >= t)
                .unwrap_or(items.len());
            &items[from..]
        }
    }
}

fn access_json(v: &VisitEnd) -> Value {
    json!([
        v.at,
        v.sessid,
        v.stream,
        v.protocols,
        crate::stats::query::host_text(v.host),
        v.seconds,
        v.up,
        v.down,
        v.tags
    ])
}

/// A stream's state as MistServer's UI reads it: an index into `Inactive`, `Initializing`,
/// `Booting`, `Waiting for data`, `Available`, `Shutting down`, `Invalid state`.
fn state_number(status: &str) -> u8 {
    match status {
        "Online" => 4,
        "Waiting for data" => 3,
        _ => 1,
    }
}

/// What one client was last sent.
struct Feed {
    log_total: u64,
    visits_seen: u64,
    streams: BTreeMap<String, Value>,
}

impl Feed {
    fn new_logs(&mut self, ctx: &ApiContext) -> Vec<LogEntry> {
        let total = ctx.logbook.total();
        let new = usize::try_from(total.saturating_sub(self.log_total)).unwrap_or(usize::MAX);
        self.log_total = total;
        let entries = ctx.logbook.entries();
        entries[entries.len().saturating_sub(new)..].to_vec()
    }

    fn new_visits(&mut self, ctx: &ApiContext) -> Vec<VisitEnd> {
        let (visits, seen) = ctx.stats.visits_after(self.visits_seen);
        self.visits_seen = seen;
        visits
    }

    /// The `stream` messages for what changed since the last call.
    async fn changed_streams(&mut self, ctx: &ApiContext) -> Vec<Value> {
        let Ok(mut snap) = ctx.supervisor.send(GetSnapshot).await else {
            return Vec::new();
        };
        super::stats::count_sessions(&mut snap.streams, &ctx.stats);
        let now: BTreeMap<String, Value> = snap
            .streams
            .iter()
            .map(|s| {
                let state = json!([
                    s.name,
                    state_number(s.status),
                    s.viewers,
                    s.inputs,
                    s.outputs,
                    []
                ]);
                (s.name.clone(), state)
            })
            .collect();
        let mut out: Vec<Value> = now
            .iter()
            .filter(|(name, state)| self.streams.get(*name) != Some(state))
            .map(|(_, state)| state.clone())
            .collect();
        out.extend(
            self.streams
                .keys()
                .filter(|name| !now.contains_key(*name))
                .map(|name| json!([name, 0, 0, 0, 0, null])),
        );
        self.streams = now;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(s.as_bytes()).into_owned().collect()
    }

    #[test]
    fn query_starts() {
        let query = q("logs=100&accs=since:1800000000&streams=1");
        assert_eq!(start_of(&query, "logs"), Start::Last(100));
        assert_eq!(start_of(&query, "accs"), Start::Since(1_800_000_000));
        assert_eq!(start_of(&q(""), "logs"), Start::Off);
        assert_eq!(start_of(&q("logs=lots"), "logs"), Start::Last(0));
    }

    #[test]
    fn history_slices() {
        let items: [i64; 3] = [10, 20, 30];
        assert_eq!(history(&items, Start::Last(2), |t| *t), &[20, 30]);
        assert_eq!(history(&items, Start::Last(9), |t| *t), &[10, 20, 30]);
        assert_eq!(history(&items, Start::Since(15), |t| *t), &[20, 30]);
        assert_eq!(history(&items, Start::Since(99), |t| *t), &[] as &[i64]);
        assert_eq!(history(&items, Start::Off, |t| *t), &[] as &[i64]);
    }

    #[test]
    fn states_are_mistservers_numbers() {
        assert_eq!(state_number("Online"), 4);
        assert_eq!(state_number("Waiting for data"), 3);
    }

    #[test]
    fn logins_are_read_from_auth_messages_only() {
        assert!(login_of(r#"["auth",{"username":"u","password":"p"}]"#).is_some());
        assert!(login_of(r#"["auth",false]"#).is_none());
        assert!(login_of(r#"["other",{}]"#).is_none());
        assert!(login_of("not json [").is_none());
        assert!(login_of(r#"{"auth":{}}"#).is_none());
    }
}
