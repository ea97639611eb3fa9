//! Who a connection is, as the hub sees it: the session identity rules (facts §6.2) and a
//! connection's membership of its session.
//!
//! A viewer's session id is the lowercase hex SHA-256 of the stream name, the client address in
//! its 16-byte form (IPv4 mapped into IPv6) and a token: the URL's `tkn`/`sid`/`sessId`, else the
//! `tkn` cookie, else one derived from the user agent for HTTP, and one per connection for RTMP.
//! Publishers and pushes get input and output sessions (`I`/`O` + the same hash with the
//! protocol added). The sessions themselves are actors (`actors::session`); protocols only hold a
//! [`SessionConn`].

use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
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

/// A connection's membership of its session; dropping it leaves the session. `stop` turns
/// true when the session is stopped or denied: the connection must then close.
pub struct SessionConn {
    pub id: String,
    pub stop: watch::Receiver<bool>,
    /// The session's byte counter: outputs add what they send.
    pub bytes: Arc<AtomicU64>,
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
        bytes: Arc<AtomicU64>,
        leave: OnDrop,
    ) -> Self {
        SessionConn {
            id,
            stop,
            bytes,
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
    #[error("session {0} was stopped; try again later")]
    Blocked(String),
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
    }
}
