//! The client side of RTSP, for pulling from cameras and other servers: one request at a time
//! on one TCP connection, answers matched by CSeq, Basic and Digest authentication (RFC 2617,
//! `qop=auth` or none) with the URL's `user:password@`.
//!
//! Interleaved frames that arrive while an answer is awaited (a server starts sending right
//! after PLAY, sometimes before its answer) are kept for the caller ([`Client::pending`]);
//! requests from the server are skipped.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::message::{next_from_server, Answer, FromServer};
use crate::media::sdp::base64;

/// The RTSP port when a URL gives none.
pub const DEFAULT_PORT: u16 = 554;
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an answer may take.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most frames kept while waiting for an answer.
const MAX_PENDING: usize = 4096;

/// An `rtsp://` URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: Option<(String, String)>,
    /// The URL without its user and password, for requests.
    pub url: String,
}

impl Target {
    pub fn parse(source: &str) -> Result<Target, String> {
        let rest = source
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case("rtsp://"))
            .map(|_| &source[7..])
            .ok_or_else(|| format!("{source:?} is not an rtsp:// URL"))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => {
                let (name, pass) = u.split_once(':').unwrap_or((u, ""));
                let dec = |s: &str| {
                    form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                (Some((dec(name), dec(pass))), h)
            }
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, p) = v6
                .split_once(']')
                .ok_or_else(|| format!("{source:?}: unclosed [ in the host"))?;
            (h.to_string(), p.strip_prefix(':').unwrap_or(""))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p),
                None => (hostport.to_string(), ""),
            }
        };
        if host.is_empty() {
            return Err(format!("{source:?}: no host"));
        }
        let port = if port.is_empty() {
            DEFAULT_PORT
        } else {
            port.parse()
                .map_err(|_| format!("{source:?}: {port:?} is not a port"))?
        };
        let shown = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        Ok(Target {
            url: format!("rtsp://{shown}:{port}{path}"),
            host,
            port,
            user,
        })
    }
}

/// A connection to an RTSP server.
pub struct Client {
    pub sock: TcpStream,
    pub buf: BytesMut,
    target: Target,
    cseq: u32,
    pub session: Option<String>,
    /// The challenge to answer on every request once the server asked.
    challenge: Option<Challenge>,
    /// Frames that came while an answer was awaited.
    pub pending: Vec<(u8, Bytes)>,
}

#[derive(Debug, Clone)]
enum Challenge {
    Basic,
    Digest {
        realm: String,
        nonce: String,
        opaque: Option<String>,
        qop: bool,
    },
}

impl Client {
    pub async fn connect(target: Target) -> Result<Client, String> {
        let addr = (target.host.as_str(), target.port);
        let sock = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                format!(
                    "{}:{}: no connection within {CONNECT_TIMEOUT:?}",
                    target.host, target.port
                )
            })?
            .map_err(|e| format!("{}:{}: {e}", target.host, target.port))?;
        let _ = sock.set_nodelay(true);
        Ok(Client {
            sock,
            buf: BytesMut::with_capacity(64 * 1024),
            target,
            cseq: 0,
            session: None,
            challenge: None,
            pending: Vec::new(),
        })
    }

    pub fn url(&self) -> &str {
        &self.target.url
    }

    /// Sends a request without waiting for its answer (keep-alives, TEARDOWN).
    pub async fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<u32, String> {
        self.cseq += 1;
        let mut text = format!("{method} {url} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        text.push_str(concat!(
            "User-Agent: Eddy/",
            env!("CARGO_PKG_VERSION"),
            "\r\n"
        ));
        if let Some(s) = &self.session {
            text.push_str(&format!("Session: {s}\r\n"));
        }
        if let Some(auth) = self.authorization(method, url) {
            text.push_str(&format!("Authorization: {auth}\r\n"));
        }
        for (n, v) in headers {
            text.push_str(&format!("{n}: {}\r\n", v.replace(['\r', '\n'], " ")));
        }
        text.push_str("\r\n");
        tokio::time::timeout(ANSWER_TIMEOUT, self.sock.write_all(text.as_bytes()))
            .await
            .map_err(|_| "the server takes no request".to_string())?
            .map_err(|e| e.to_string())?;
        Ok(self.cseq)
    }

    /// Sends a request and waits for its answer; a 401 with credentials in the URL is
    /// answered once with them.
    pub async fn request(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Answer, String> {
        for attempt in 0..2 {
            let cseq = self.send(method, url, headers).await?;
            let answer = self.answer(cseq).await?;
            if answer.code == 401 && attempt == 0 && self.target.user.is_some() {
                let offered: Vec<&str> = answer
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case("WWW-Authenticate"))
                    .map(|(_, v)| v.as_str())
                    .collect();
                self.challenge = pick_challenge(&offered);
                if self.challenge.is_some() {
                    continue;
                }
            }
            if let Some(s) = answer.header("Session") {
                self.session = Some(s.split(';').next().unwrap_or(s).trim().to_string());
            }
            return Ok(answer);
        }
        Err(format!("{method} {url}: the credentials were refused"))
    }

    /// Reads until the answer with `cseq` (frames kept, other messages skipped).
    async fn answer(&mut self, cseq: u32) -> Result<Answer, String> {
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        loop {
            loop {
                match next_from_server(&mut self.buf).map_err(|e| e.to_string())? {
                    FromServer::Partial => break,
                    FromServer::Frame(c, d) => {
                        if self.pending.len() < MAX_PENDING {
                            self.pending.push((c, d));
                        }
                    }
                    FromServer::Request(_) => {}
                    FromServer::Answer(a) => {
                        let theirs = a.header("CSeq").and_then(|c| c.trim().parse::<u32>().ok());
                        if theirs.is_none_or(|c| c == cseq) {
                            return Ok(a);
                        }
                    }
                }
            }
            let n = tokio::time::timeout_at(deadline, self.sock.read_buf(&mut self.buf))
                .await
                .map_err(|_| format!("no answer within {ANSWER_TIMEOUT:?}"))?
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
        }
    }

    fn authorization(&self, method: &str, url: &str) -> Option<String> {
        let (user, pass) = self.target.user.as_ref()?;
        Some(match self.challenge.as_ref()? {
            Challenge::Basic => format!(
                "Basic {}",
                base64::encode(format!("{user}:{pass}").as_bytes())
            ),
            Challenge::Digest {
                realm,
                nonce,
                opaque,
                qop,
            } => {
                let ha1 = md5_hex(&format!("{user}:{realm}:{pass}"));
                let ha2 = md5_hex(&format!("{method}:{url}"));
                let mut out = format!(
                    "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{url}\""
                );
                if *qop {
                    let cnonce = format!("{:08x}", self.cseq.wrapping_mul(2_654_435_761));
                    let nc = format!("{:08x}", self.cseq);
                    let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
                    out.push_str(&format!(
                        ", qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\""
                    ));
                } else {
                    let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
                    out.push_str(&format!(", response=\"{response}\""));
                }
                if let Some(o) = opaque {
                    out.push_str(&format!(", opaque=\"{o}\""));
                }
                out
            }
        })
    }
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Digest when offered (it does not send the password), else Basic.
fn pick_challenge(offered: &[&str]) -> Option<Challenge> {
    for h in offered {
        let Some(params) = h
            .trim()
            .strip_prefix("Digest")
            .or_else(|| h.trim().strip_prefix("digest"))
        else {
            continue;
        };
        let get = |key: &str| param(params, key);
        let (Some(realm), Some(nonce)) = (get("realm"), get("nonce")) else {
            continue;
        };
        let qop = get("qop").is_some_and(|q| q.split(',').any(|v| v.trim() == "auth"));
        return Some(Challenge::Digest {
            realm,
            nonce,
            opaque: get("opaque"),
            qop,
        });
    }
    offered
        .iter()
        .any(|h| h.trim().to_ascii_lowercase().starts_with("basic"))
        .then_some(Challenge::Basic)
}

/// `key="value"` or `key=value` in a challenge's parameters.
fn param(params: &str, key: &str) -> Option<String> {
    let mut rest = params;
    while !rest.is_empty() {
        rest = rest.trim_start_matches([' ', ',']);
        let (k, after) = rest.split_once('=')?;
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if k.trim().eq_ignore_ascii_case(key) {
            return Some(value.to_string());
        }
        rest = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("rtsp://admin:p%40ss@10.0.0.5/Streaming/101?x=1").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("10.0.0.5", 554));
        assert_eq!(t.user, Some(("admin".into(), "p@ss".into())));
        assert_eq!(t.url, "rtsp://10.0.0.5:554/Streaming/101?x=1");
        let t = Target::parse("RTSP://[::1]:5554/live").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.url.as_str()),
            ("::1", 5554, "rtsp://[::1]:5554/live")
        );
        assert!(Target::parse("rtsp://").is_err());
        assert!(Target::parse("rtsp://h:x/").is_err());
        assert!(Target::parse("http://h/").is_err());
    }

    #[test]
    fn challenges() {
        let c = pick_challenge(&[
            "Basic realm=\"cam\"",
            "Digest realm=\"cam, inc\", nonce=\"abc\", qop=\"auth,auth-int\", opaque=\"o\"",
        ]);
        let Some(Challenge::Digest {
            realm,
            nonce,
            opaque,
            qop,
        }) = c
        else {
            panic!("{c:?}")
        };
        assert_eq!(
            (realm.as_str(), nonce.as_str(), opaque.as_deref(), qop),
            ("cam, inc", "abc", Some("o"), true)
        );
        assert!(matches!(
            pick_challenge(&["Basic realm=x"]),
            Some(Challenge::Basic)
        ));
        assert!(pick_challenge(&["Bearer x", "Digest realm=\"x\""]).is_none());
        // RFC 2617 3.5's example (without qop).
        let ha1 = md5_hex("Mufasa:testrealm@host.com:Circle Of Life");
        assert_eq!(ha1, "939e7578ed9e3c518a452acee763bce9");
    }
}
