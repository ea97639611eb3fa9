//! Who a connection is, as the hub sees it: the session identity rules (facts §6.2) and a
//! connection's membership of its session.
//!
//! A viewer's session id is the lowercase hex SHA-256 of the stream name, the client address in
//! its 16-byte form (IPv4 mapped into IPv6) and a token: the URL's `tkn`/`sid`/`sessId`, else the
//! `tkn` cookie, else one derived from the user agent for HTTP (with the connection's port added
//! for the progressive outputs, where one connection is one viewing), and one per connection for
//! RTMP.
//! Publishers and pushes get input and output sessions (`I`/`O` + the same hash with the
//! protocol added). The sessions themselves are actors (`actors::session`); protocols only hold a
//! [`SessionConn`].

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::OnDrop;

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
    explicit_http_token(query, cookie).unwrap_or_else(|| user_agent_token(user_agent))
}

/// The token an HTTP request names itself (`tkn`, `sid` or `sessId` in the query, else the
/// `tkn` cookie), if any.
pub fn explicit_http_token(query: &str, cookie: Option<&str>) -> Option<String> {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    for key in ["tkn", "sid", "sessId"] {
        if let Some((_, v)) = params.iter().find(|(k, v)| k == key && !v.is_empty()) {
            return Some(v.clone());
        }
    }
    cookie
        .and_then(|c| c.split(';').find_map(|kv| kv.trim().strip_prefix("tkn=")))
        .filter(|t| !t.is_empty())
        .map(String::from)
}

/// A token derived from the user agent, for requests that name none.
pub fn user_agent_token(user_agent: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(user_agent.unwrap_or("").as_bytes());
    let d = h.finalize();
    format!(
        "ua{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        d[0], d[1], d[2], d[3], d[4], d[5]
    )
}

/// Whether `token` has the form [`user_agent_token`] gives (`ua` and 12 lowercase hex
/// digits): a token Eddy made up for a viewer that named none, shared by everyone with that
/// user agent, rather than one a viewer brought.
pub fn is_user_agent_token(token: &str) -> bool {
    token.len() == 14
        && token.starts_with("ua")
        && token[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a session's connections moved, counted by the protocols without locking; the
/// statistics read it once a second.
#[derive(Debug, Default)]
pub struct ConnCounters {
    /// Bytes received from the peer (a publisher's media). MistServer's sense, from the
    /// server's side: its `down` is what it took in, its `up` what it sent
    /// (`Socket::Connection::dataDown`/`dataUp`).
    pub down: AtomicU64,
    /// Bytes sent to the peer (a viewer's media).
    pub up: AtomicU64,
    /// Media packets sent or received.
    pub packets: AtomicU64,
    /// Media time of the last packet sent or received, in ms (the `clients` position).
    pub position_ms: AtomicI64,
}

impl ConnCounters {
    /// Counts a write to the peer: `bytes` carrying `packets` media packets, the last at
    /// `position_ms`.
    pub fn sent(&self, bytes: u64, packets: u64, position_ms: Option<i64>) {
        self.up.fetch_add(bytes, Ordering::Relaxed);
        self.counted(packets, position_ms);
    }

    /// Counts bytes read from the peer (a publisher's media).
    pub fn received(&self, bytes: u64, packets: u64, position_ms: Option<i64>) {
        self.down.fetch_add(bytes, Ordering::Relaxed);
        self.counted(packets, position_ms);
    }

    fn counted(&self, packets: u64, position_ms: Option<i64>) {
        if packets > 0 {
            self.packets.fetch_add(packets, Ordering::Relaxed);
        }
        if let Some(ms) = position_ms {
            self.position_ms.store(ms, Ordering::Relaxed);
        }
    }
}

/// A connection's membership of its session; dropping it leaves the session. `stop` turns
/// true when the session is stopped or denied: the connection must then close.
pub struct SessionConn {
    pub id: String,
    pub stop: watch::Receiver<bool>,
    /// The session's counters: protocols add what they send and receive.
    pub counters: Arc<ConnCounters>,
    /// Tells the session the connection left.
    _leave: OnDrop,
    /// What else runs when the connection ends (CONN_CLOSE).
    on_close: Option<OnDrop>,
}

impl SessionConn {
    /// A membership; `leave` runs when it is dropped.
    pub fn new(
        id: String,
        stop: watch::Receiver<bool>,
        counters: Arc<ConnCounters>,
        leave: OnDrop,
    ) -> Self {
        SessionConn {
            id,
            stop,
            counters,
            _leave: leave,
            on_close: None,
        }
    }

    /// Runs `f` when this connection ends, after it left its session.
    pub fn on_close(&mut self, f: OnDrop) {
        self.on_close = Some(f);
    }

    /// Resolves when the session is stopped (at once if it already was).
    pub async fn stopped(&mut self) {
        stopped(&mut self.stop).await
    }
}

/// Resolves when a stop signal turns true (at once if it already is); never if its sender goes
/// away without stopping.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    if *stop.borrow() {
        return;
    }
    while stop.changed().await.is_ok() {
        if *stop.borrow() {
            return;
        }
    }
    std::future::pending::<()>().await
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionError {
    #[error("session {0} is not allowed (USER_NEW)")]
    Denied(String),
    #[error("{0}")]
    Refused(String),
    #[error("the server is shutting down")]
    Gone,
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
        assert!(is_user_agent_token(&ua) && is_user_agent_token(&user_agent_token(None)));
        for brought in [
            "abc",
            "ua",
            "uaXXXXXXXXXXXX",
            "ua0123456789abc",
            "UA0123456789ab",
        ] {
            assert!(!is_user_agent_token(brought), "{brought}");
        }
    }
}
