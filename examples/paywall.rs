//! A paywall for Eddy: it answers the `USER_NEW` trigger (may this new viewer session play?) by
//! looking the viewer's token up in an allow list, and it can revoke a token later, stopping every
//! session it let in with that token through Eddy's `stop_sessid` API call.
//!
//! End to end, from the repository root, one terminal per long-running command:
//!
//! 1. Start Eddy (on a first start, answer `t` at the prompt to get the test stream `live`, or
//!    add it with `curl -s http://localhost:4242/api2 --data-urlencode
//!    'command={"addstream":{"live":{"source":"push://"}}}'`):
//!
//!    ```sh
//!    cargo run --release
//!    ```
//!
//! 2. Start the paywall, allowing the token `secret1`:
//!
//!    ```sh
//!    cargo run --example paywall -- --allow secret1
//!    ```
//!
//!    Or keep the tokens in a file, one per line (`#` starts a comment, words after the token are
//!    ignored): `cargo run --example paywall -- --tokens tokens.txt`. The file is re-read on every
//!    request, so tokens can be added or removed while it runs. Without `--allow`, the file is
//!    `tokens.txt` in the working directory. The paywall listens on `127.0.0.1:9090` (`--listen`)
//!    and calls Eddy's API at `http://127.0.0.1:4242/api2` (`--api`); calls from Eddy's own
//!    machine need no login.
//!
//! 3. Send Eddy's `USER_NEW` trigger to it, blocking (`sync`), refusing viewers when the paywall
//!    cannot answer (`default`):
//!
//!    ```sh
//!    curl -s http://localhost:4242/api2 --data-urlencode 'command={"config":{"triggers":{"USER_NEW":[{"handler":"http://127.0.0.1:9090/","sync":true,"default":"false"}]}}}'
//!    ```
//!
//! 4. Publish, then play with a token (HTTP outputs take it from `?tkn=`):
//!
//!    ```sh
//!    ffmpeg -re -i input.mp4 -c:v libx264 -c:a aac -f flv rtmp://localhost/live/live
//!    ffplay 'http://localhost:8080/live.flv?tkn=secret1'    # allowed
//!    ffplay 'http://localhost:8080/live.flv?tkn=other'      # refused (403)
//!    ```
//!
//!    The paywall prints one line per decision: stream, viewer IP, token, protocol, session id and
//!    the verdict.
//!
//! 5. Revoke the token:
//!
//!    ```sh
//!    curl -X POST 'http://127.0.0.1:9090/revoke?token=secret1'
//!    ```
//!
//!    The paywall drops `secret1` from its allow list (and from the tokens file, if it uses one),
//!    asks Eddy to stop every session it allowed with that token, and answers with Eddy's JSON.
//!    The `ffplay` from step 4 is disconnected, and the paywall refuses `secret1` from then on.
//!
//!    The same player coming back is a new decision: Eddy asks the paywall again (`USER_NEW`),
//!    which now says no. To have Eddy ask again about viewers still connected, invalidate the
//!    stream's sessions:
//!    `curl -s http://localhost:4242/api2 --data-urlencode 'command={"invalidate_sessions":"live"}'`.
//!
//! The wire formats:
//!
//! - A trigger call is any HTTP request with an `X-Trigger` header. For `USER_NEW` the body is
//!   six lines joined by `\n`: stream, viewer IP, token, protocol, request URL, session id
//!   (MistServer adds a seventh, whether a JWT was valid; it is ignored). The answer is `true` or
//!   `false`. Every other trigger is answered `true`, so point only `USER_NEW` here: triggers
//!   whose answer is a value (`RTMP_PUSH_REWRITE`, `PUSH_OUT_START`) would get `true` as that value.
//! - `POST /revoke?token=TOKEN` is accepted from loopback addresses only. It sends Eddy
//!   `command={"stop_sessid":["<id>",...]}` (form-encoded) and answers with Eddy's JSON; with no
//!   session to stop it does not call Eddy. An unknown token answers 404, so a typo does not look
//!   like a revocation.
//!
//! Requests are HTTP/1.1 with a `Content-Length` body of at most 64 KiB (more is refused with
//! 413) and a head of at most 16 KiB; anything malformed gets 400. Each connection answers one
//! request and closes.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore};

/// Longest request head (request line and headers) we read.
const MAX_HEAD: usize = 16 * 1024;
/// Longest request body we accept; a `USER_NEW` payload is a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;
/// Time a client gets to send its whole request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; the accept loop waits when all are taken.
const MAX_CONNECTIONS: usize = 256;
/// Time Eddy's API gets to answer `stop_sessid`.
const API_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Parser, Debug)]
#[command(about = "A USER_NEW paywall for Eddy: allows viewers by token, revokes them on request")]
struct Args {
    /// Address for trigger calls and `POST /revoke?token=TOKEN`.
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// File of allowed tokens, one per line (`#` starts a comment); re-read on every request.
    #[arg(long, default_value = "tokens.txt")]
    tokens: PathBuf,
    /// Allowed tokens, comma-separated, instead of a tokens file.
    #[arg(long, value_delimiter = ',', conflicts_with = "tokens")]
    allow: Option<Vec<String>>,
    /// Eddy's API URL, for `stop_sessid`.
    #[arg(long, default_value = "http://127.0.0.1:4242/api2")]
    api: reqwest::Url,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let source = match args.allow {
        Some(list) => Source::Fixed(
            list.iter()
                .map(|t| t.trim())
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect(),
        ),
        None => Source::File(args.tokens),
    };
    let listener = match TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("paywall: cannot listen on {}: {e}", args.listen);
            std::process::exit(1);
        }
    };
    let http = match reqwest::Client::builder().timeout(API_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("paywall: cannot make an HTTP client: {e}");
            std::process::exit(1);
        }
    };
    match &source {
        Source::Fixed(tokens) => {
            println!("paywall: {} allowed token(s) from --allow", tokens.len())
        }
        Source::File(path) => match tokio::fs::read_to_string(path).await {
            Ok(text) => println!(
                "paywall: {} allowed token(s) in {} (re-read on every request)",
                parse_tokens(&text).len(),
                path.display()
            ),
            Err(e) => println!(
                "paywall: cannot read {} ({e}); every viewer is refused until it exists",
                path.display()
            ),
        },
    }
    println!(
        "paywall: listening on http://{}/ for trigger calls and POST /revoke?token=TOKEN; Eddy's API is {}",
        args.listen, args.api
    );
    run(listener, Arc::new(Paywall::new(source, args.api, http))).await;
}

/// Accepts connections and serves each in its own task, at most [`MAX_CONNECTIONS`] at once.
async fn run(listener: TcpListener, paywall: Arc<Paywall>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (sock, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("paywall: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let paywall = paywall.clone();
        tokio::spawn(async move {
            serve(sock, peer, &paywall).await;
            drop(permit);
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The paywall: who is allowed, which sessions it let in, and revocation.

/// Where the allow list comes from.
enum Source {
    /// `--allow`: kept in memory; revocation removes from it.
    Fixed(HashSet<String>),
    /// `--tokens`: read again for every decision; revocation rewrites the file.
    File(PathBuf),
}

struct State {
    source: Source,
    /// Session ids this paywall allowed, by token: what `stop_sessid` gets when it is revoked.
    sessions: HashMap<String, Vec<String>>,
}

struct Paywall {
    /// One lock for the list, the file and the sessions, so a decision never reads a tokens
    /// file that a revocation is half-way through rewriting.
    state: Mutex<State>,
    api: reqwest::Url,
    http: reqwest::Client,
}

impl Paywall {
    fn new(source: Source, api: reqwest::Url, http: reqwest::Client) -> Self {
        Paywall {
            state: Mutex::new(State {
                source,
                sessions: HashMap::new(),
            }),
            api,
            http,
        }
    }

    /// Answers one `USER_NEW`, logs it, and remembers the session if it is allowed.
    async fn decide(&self, user: &UserNew<'_>) -> bool {
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        let allowed = !user.token.is_empty()
            && match &state.source {
                Source::Fixed(tokens) => tokens.contains(user.token),
                Source::File(path) => match tokio::fs::read_to_string(path).await {
                    Ok(text) => parse_tokens(&text).contains(&user.token),
                    Err(e) => {
                        println!("paywall: cannot read {}: {e}", path.display());
                        false
                    }
                },
            };
        if allowed {
            let ids = state.sessions.entry(user.token.to_string()).or_default();
            if !ids.iter().any(|id| id == user.session) {
                ids.push(user.session.to_string());
            }
        }
        // Debug formatting quotes and escapes the values, which come from the network.
        println!(
            "USER_NEW stream={:?} ip={:?} token={:?} protocol={:?} session={:?} -> {}",
            user.stream,
            user.ip,
            user.token,
            user.protocol,
            user.session,
            if allowed { "allowed" } else { "refused" }
        );
        allowed
    }

    /// Takes `token` off the allow list and returns the sessions it let in, or `None` when the
    /// token is neither on the list nor has sessions.
    async fn forget(&self, token: &str) -> Result<Option<Vec<String>>, String> {
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        let was_listed = match &mut state.source {
            Source::Fixed(tokens) => tokens.remove(token),
            Source::File(path) => remove_from_file(path, token)
                .await
                .map_err(|e| format!("cannot rewrite {}: {e}", path.display()))?,
        };
        let ids = state.sessions.remove(token);
        if !was_listed && ids.is_none() {
            return Ok(None);
        }
        Ok(Some(ids.unwrap_or_default()))
    }

    /// Puts back sessions whose `stop_sessid` failed, so that revoking again retries them.
    async fn remember(&self, token: &str, ids: &[String]) {
        let mut state = self.state.lock().await;
        let known = state.sessions.entry(token.to_string()).or_default();
        for id in ids {
            if !known.contains(id) {
                known.push(id.clone());
            }
        }
    }

    /// Calls Eddy's `stop_sessid` for `ids` and returns Eddy's JSON answer.
    async fn stop_sessid(&self, ids: &[String]) -> Result<Value, String> {
        let command = json!({ "stop_sessid": ids }).to_string();
        let resp = self
            .http
            .post(self.api.clone())
            .form(&[("command", command)])
            .send()
            .await
            .map_err(|e| format!("cannot reach Eddy's API at {}: {e}", self.api))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|e| format!("reading Eddy's answer: {e}"))?;
        if !status.is_success() {
            return Err(format!("Eddy's API answered {status}: {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("Eddy's answer is not JSON ({e}): {body}"))
    }

    /// `POST /revoke?token=TOKEN`.
    async fn revoke(&self, token: &str) -> Reply {
        let ids = match self.forget(token).await {
            Ok(Some(ids)) => ids,
            Ok(None) => {
                println!("revoke {token:?}: unknown token");
                return Reply::json(404, &json!({ "error": "unknown token", "token": token }));
            }
            Err(e) => {
                println!("revoke {token:?}: {e}");
                return Reply::json(500, &json!({ "error": e, "token": token }));
            }
        };
        if ids.is_empty() {
            println!("revoke {token:?}: removed; it had no sessions to stop");
            return Reply::json(200, &json!({ "revoked": token, "stop_sessid": [] }));
        }
        match self.stop_sessid(&ids).await {
            Ok(answer) => {
                println!("revoke {token:?}: removed; stop_sessid {ids:?} -> {answer}");
                // `CHALL` is a login challenge: Eddy saw a caller from another machine and did
                // not run the command.
                if answer["authorize"]["status"] == "CHALL" {
                    println!(
                        "revoke {token:?}: Eddy asked for a login, so nothing was stopped; run the paywall on Eddy's machine"
                    );
                }
                Reply::json(200, &answer)
            }
            Err(e) => {
                println!("revoke {token:?}: removed, but stopping {ids:?} failed: {e}");
                self.remember(token, &ids).await;
                Reply::json(
                    502,
                    &json!({ "error": e, "revoked": token, "not_stopped": ids }),
                )
            }
        }
    }
}

/// Rewrites the tokens file without `token`'s lines; true when it had any. A missing file has
/// no tokens. The new file is written beside the old one and renamed over it.
async fn remove_from_file(path: &Path, token: &str) -> std::io::Result<bool> {
    let text = match tokio::fs::read_to_string(path).await {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let Some(kept) = without_token(&text, token) else {
        return Ok(false);
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    tokio::fs::write(&tmp, kept).await?;
    tokio::fs::rename(&tmp, path).await?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Pure parsers: the USER_NEW payload, the tokens file, the query string, the HTTP request.

/// The `USER_NEW` payload (manual §4.4.21).
#[derive(Debug, PartialEq)]
struct UserNew<'a> {
    stream: &'a str,
    ip: &'a str,
    token: &'a str,
    protocol: &'a str,
    url: &'a str,
    session: &'a str,
}

impl<'a> UserNew<'a> {
    /// Reads the first six lines; `None` when there are fewer, or the stream or session id is
    /// empty. Lines after the sixth are ignored (MistServer sends a seventh, the JWT validity).
    fn parse(payload: &'a str) -> Option<Self> {
        let mut lines = payload
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l));
        let user = UserNew {
            stream: lines.next()?,
            ip: lines.next()?,
            token: lines.next()?,
            protocol: lines.next()?,
            url: lines.next()?,
            session: lines.next()?,
        };
        if user.stream.is_empty() || user.session.is_empty() {
            return None;
        }
        Some(user)
    }
}

/// The token on one line of a tokens file: its first word, unless that starts a `#` comment.
fn line_token(line: &str) -> Option<&str> {
    let word = line
        .trim_start_matches('\u{feff}')
        .split_whitespace()
        .next()?;
    (!word.starts_with('#')).then_some(word)
}

/// The tokens in a tokens file.
fn parse_tokens(text: &str) -> Vec<&str> {
    text.lines().filter_map(line_token).collect()
}

/// The tokens file without the lines of `token`, keeping everything else as it was; `None`
/// when `token` is not in it.
fn without_token(text: &str, token: &str) -> Option<String> {
    let mut found = false;
    let mut kept = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line_token(line) == Some(token) {
            found = true;
        } else {
            kept.push_str(line);
        }
    }
    found.then_some(kept)
}

/// The value of `key` in a query string, percent-decoded (`+` is a space).
fn query_param(query: &str, key: &str) -> Result<Option<String>, &'static str> {
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(k)? == key {
            return percent_decode(v).map(Some);
        }
    }
    Ok(None)
}

fn percent_decode(s: &str) -> Result<String, &'static str> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.next().and_then(|h| char::from(h).to_digit(16));
                let lo = bytes.next().and_then(|l| char::from(l).to_digit(16));
                match (hi, lo) {
                    // Two hex digits make at most 255.
                    (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                    _ => return Err("bad %-escape in the query string"),
                }
            }
            b => out.push(b),
        }
    }
    String::from_utf8(out).map_err(|_| "the query string is not UTF-8")
}

/// Why a request could not be parsed (yet).
#[derive(Debug, PartialEq)]
enum HttpError {
    /// Not all of it has arrived: read more.
    Incomplete,
    /// Malformed: answer 400 with this reason.
    Bad(&'static str),
    /// A body over [`MAX_BODY`]: answer 413.
    TooLarge,
}

#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    query: String,
    /// Names in lower case.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a request head from the start of `buf`: the request (without its body), the head's
/// length and the body's length.
fn parse_head(buf: &[u8]) -> Result<(Request, usize, usize), HttpError> {
    let window = &buf[..buf.len().min(MAX_HEAD)];
    let Some(end) = window.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(if buf.len() >= MAX_HEAD {
            HttpError::Bad("request head over 16 KiB")
        } else {
            HttpError::Incomplete
        });
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| HttpError::Bad("head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Bad("malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HttpError::Bad("malformed method"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HttpError::Bad("not HTTP/1.0 or HTTP/1.1"));
    }
    if !target.starts_with('/') {
        return Err(HttpError::Bad("request target is not a path"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    let mut headers = Vec::new();
    let mut content_length = None;
    for line in lines {
        if line.starts_with([' ', '\t']) {
            return Err(HttpError::Bad("folded header line"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(HttpError::Bad("header line without a colon"))?;
        if name.is_empty()
            || name
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || !b.is_ascii())
        {
            return Err(HttpError::Bad("malformed header name"));
        }
        let name = name.to_ascii_lowercase();
        let value = value.trim();
        if name == "content-length" {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HttpError::Bad("malformed Content-Length"));
            }
            // All digits, so a parse error can only be an overflow.
            let len: usize = value.parse().map_err(|_| HttpError::TooLarge)?;
            if content_length.is_some_and(|l| l != len) {
                return Err(HttpError::Bad("conflicting Content-Length headers"));
            }
            content_length = Some(len);
        } else if name == "transfer-encoding" {
            return Err(HttpError::Bad("Transfer-Encoding is not supported"));
        }
        headers.push((name, value.to_string()));
    }
    let len = content_length.unwrap_or(0);
    if len > MAX_BODY {
        return Err(HttpError::TooLarge);
    }
    let request = Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: Vec::new(),
    };
    Ok((request, end + 4, len))
}

/// Parses a whole request (head and `Content-Length` body) from the start of `buf`.
fn parse_request(buf: &[u8]) -> Result<Request, HttpError> {
    let (mut request, head_len, body_len) = parse_head(buf)?;
    let body = buf
        .get(head_len..head_len + body_len)
        .ok_or(HttpError::Incomplete)?;
    request.body = body.to_vec();
    Ok(request)
}

// ---------------------------------------------------------------------------------------------
// The connection: read one request, route it, answer, close.

struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
}

impl Reply {
    fn text(status: u16, body: &str) -> Self {
        Reply {
            status,
            content_type: "text/plain",
            body: body.to_string(),
        }
    }

    fn json(status: u16, body: &Value) -> Self {
        Reply {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            413 => "Content Too Large",
            500 => "Internal Server Error",
            502 => "Bad Gateway",
            _ => "",
        };
        format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            self.status,
            self.content_type,
            self.body.len(),
            self.body
        )
        .into_bytes()
    }
}

async fn serve(mut sock: TcpStream, peer: SocketAddr, paywall: &Paywall) {
    let reply = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut sock)).await {
        Err(_) => Reply::text(408, "request not complete in time\n"),
        // The peer went away (or never sent anything): nobody to answer.
        Ok(Err(_)) => return,
        Ok(Ok(Err(HttpError::TooLarge))) => Reply::text(413, "body over 64 KiB\n"),
        Ok(Ok(Err(HttpError::Bad(why)))) => {
            println!("paywall: bad request from {peer}: {why}");
            Reply::text(400, &format!("{why}\n"))
        }
        Ok(Ok(Err(HttpError::Incomplete))) => Reply::text(400, "incomplete request\n"),
        Ok(Ok(Ok(request))) => route(&request, peer, paywall).await,
    };
    // The peer may be gone already; there is nothing to do about a failed write.
    let _ = sock.write_all(&reply.to_bytes()).await;
    let _ = sock.shutdown().await;
}

/// Reads until `buf` holds one whole request. The buffer stays under head limit + body limit +
/// one read, because [`parse_head`] refuses anything longer.
async fn read_request(sock: &mut TcpStream) -> std::io::Result<Result<Request, HttpError>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut continued = false;
    loop {
        match parse_request(&buf) {
            Err(HttpError::Incomplete) => {}
            done => return Ok(done),
        }
        // curl sends `Expect: 100-continue` before larger bodies and waits a second for it.
        if !continued {
            if let Ok((head, _, _)) = parse_head(&buf) {
                if head
                    .header("expect")
                    .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
                {
                    sock.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
                    continued = true;
                }
            }
        }
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            if buf.is_empty() {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            return Ok(Err(HttpError::Bad("connection closed mid-request")));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn route(request: &Request, peer: SocketAddr, paywall: &Paywall) -> Reply {
    if let Some(trigger) = request.header("x-trigger") {
        if !trigger.eq_ignore_ascii_case("USER_NEW") {
            println!("{trigger:?} trigger -> true (only USER_NEW is checked)");
            return Reply::text(200, "true");
        }
        let Ok(payload) = std::str::from_utf8(&request.body) else {
            return Reply::text(400, "USER_NEW payload is not UTF-8\n");
        };
        let Some(user) = UserNew::parse(payload) else {
            println!("paywall: malformed USER_NEW payload from {peer}: {payload:?}");
            return Reply::text(
                400,
                "USER_NEW payload: stream, IP, token, protocol, URL, session id, one per line\n",
            );
        };
        let allowed = paywall.decide(&user).await;
        return Reply::text(200, if allowed { "true" } else { "false" });
    }
    if request.path == "/revoke" {
        if request.method != "POST" {
            return Reply::text(405, "use POST /revoke?token=TOKEN\n");
        }
        if !peer.ip().to_canonical().is_loopback() {
            return Reply::text(
                403,
                "revoke is only accepted over loopback (127.0.0.1, ::1)\n",
            );
        }
        return match query_param(&request.query, "token") {
            Ok(Some(token)) if !token.is_empty() => paywall.revoke(&token).await,
            Ok(_) => Reply::text(400, "missing ?token=TOKEN\n"),
            Err(why) => Reply::text(400, &format!("{why}\n")),
        };
    }
    Reply::text(
        404,
        "trigger calls carry an X-Trigger header; revocation is POST /revoke?token=TOKEN\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str =
        "live\n192.0.2.7\nsecret1\nHTTP\nhttp://localhost:8080/live.flv?tkn=secret1\n8f2c1a";

    #[test]
    fn user_new_six_lines() {
        assert_eq!(
            UserNew::parse(PAYLOAD),
            Some(UserNew {
                stream: "live",
                ip: "192.0.2.7",
                token: "secret1",
                protocol: "HTTP",
                url: "http://localhost:8080/live.flv?tkn=secret1",
                session: "8f2c1a",
            })
        );
    }

    #[test]
    fn user_new_extra_lines_and_crlf() {
        // MistServer's first run adds the JWT validity as a seventh line.
        let seven = format!("{PAYLOAD}\nfalse");
        assert_eq!(UserNew::parse(&seven).map(|u| u.session), Some("8f2c1a"));
        let crlf = PAYLOAD.replace('\n', "\r\n");
        assert_eq!(UserNew::parse(&crlf), UserNew::parse(PAYLOAD));
        // No token is a valid payload (and is refused by the allow list).
        let no_token = "live\n192.0.2.7\n\nRTMP\n\nabc";
        assert_eq!(UserNew::parse(no_token).map(|u| u.token), Some(""));
    }

    #[test]
    fn user_new_too_short_or_empty() {
        assert_eq!(UserNew::parse(""), None);
        assert_eq!(UserNew::parse("\n\n\n\n\n"), None);
        assert_eq!(UserNew::parse("live\n192.0.2.7\nsecret1\nHTTP\nurl"), None);
        assert_eq!(UserNew::parse("live"), None);
        // Six lines but no session id.
        assert_eq!(
            UserNew::parse("live\n192.0.2.7\nsecret1\nHTTP\nurl\n"),
            None
        );
    }

    #[test]
    fn tokens_file() {
        let text =
            "\u{feff}secret1\r\n# a comment\n\n  secret2   paid until May\n\t#secret3\nsecret4";
        assert_eq!(parse_tokens(text), ["secret1", "secret2", "secret4"]);
        assert!(parse_tokens("").is_empty());
        assert!(parse_tokens("# only\n   \n").is_empty());
    }

    #[test]
    fn tokens_file_without_a_token() {
        let text = "# paying viewers\nsecret1\nsecret2 # note\nsecret1\n";
        assert_eq!(
            without_token(text, "secret1").as_deref(),
            Some("# paying viewers\nsecret2 # note\n")
        );
        assert_eq!(
            without_token(text, "secret2").as_deref(),
            Some("# paying viewers\nsecret1\nsecret1\n")
        );
        assert_eq!(without_token(text, "paying"), None);
        assert_eq!(without_token(text, "secret"), None);
        assert_eq!(without_token("a\nb", "b").as_deref(), Some("a\n"));
    }

    #[test]
    fn query_parameters() {
        assert_eq!(
            query_param("token=secret1", "token"),
            Ok(Some("secret1".into()))
        );
        assert_eq!(
            query_param("a=1&token=x%2By+z", "token"),
            Ok(Some("x+y z".into()))
        );
        assert_eq!(query_param("a=1", "token"), Ok(None));
        assert_eq!(query_param("", "token"), Ok(None));
        assert_eq!(query_param("token", "token"), Ok(Some(String::new())));
        assert!(query_param("token=%zz", "token").is_err());
        assert!(query_param("token=%4", "token").is_err());
        assert!(query_param("token=%ff", "token").is_err());
    }

    fn user_new_request(body: &str) -> String {
        format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:9090\r\nX-Trigger: USER_NEW\r\n\
             Content-Type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn http_request() {
        let raw = user_new_request(PAYLOAD);
        let req = parse_request(raw.as_bytes()).expect("a valid request");
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/");
        assert_eq!(req.header("x-trigger"), Some("USER_NEW"));
        assert_eq!(req.body, PAYLOAD.as_bytes());

        let req = parse_request(b"POST /revoke?token=a%20b HTTP/1.0\r\n\r\n").expect("valid");
        assert_eq!(
            (req.path.as_str(), req.query.as_str()),
            ("/revoke", "token=a%20b")
        );
        assert!(req.body.is_empty());
    }

    #[test]
    fn http_request_incomplete() {
        let raw = user_new_request(PAYLOAD);
        for cut in 0..raw.len() {
            assert_eq!(
                parse_request(&raw.as_bytes()[..cut]).err(),
                Some(HttpError::Incomplete),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn http_request_malformed() {
        let bad = |raw: &[u8]| match parse_request(raw) {
            Err(HttpError::Bad(_)) => {}
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
        };
        bad(b"\r\n\r\n");
        bad(b"GARBAGE\r\n\r\n");
        bad(b"POST /\r\n\r\n");
        bad(b"POST  / HTTP/1.1\r\n\r\n");
        bad(b"POST / HTTP/1.1 extra\r\n\r\n");
        bad(b"post / HTTP/1.1\r\n\r\n");
        bad(b"POST / HTTP/2\r\n\r\n");
        bad(b"POST http://x/ HTTP/1.1\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\nNoColon\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\n: empty name\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\nX Trigger: USER_NEW\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
        bad(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        bad(b"POST /\xff HTTP/1.1\r\n\r\n");
        let mut huge = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        huge.resize(MAX_HEAD + 10, b'a');
        bad(&huge);
    }

    #[test]
    fn http_request_body_limit() {
        let at_limit = format!("POST / HTTP/1.1\r\nContent-Length: {MAX_BODY}\r\n\r\n");
        assert_eq!(
            parse_request(at_limit.as_bytes()).err(),
            Some(HttpError::Incomplete)
        );
        let over = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(
            parse_request(over.as_bytes()).err(),
            Some(HttpError::TooLarge)
        );
        let overflow = b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n";
        assert_eq!(parse_request(overflow).err(), Some(HttpError::TooLarge));
    }

    #[test]
    fn http_request_never_panics_on_noise() {
        // Every prefix and every one-byte corruption of a valid request parses or fails cleanly.
        let raw = user_new_request(PAYLOAD).into_bytes();
        for i in 0..raw.len() {
            for b in [0u8, b'\r', b'\n', b' ', b':', 0xff] {
                let mut noisy = raw.clone();
                noisy[i] = b;
                let _ = parse_request(&noisy);
                let _ = parse_request(&noisy[i..]);
            }
        }
    }

    /// The whole loop on loopback: decisions, then a revocation that reaches a stand-in for
    /// Eddy's API with the `stop_sessid` form body.
    #[tokio::test]
    async fn decide_and_revoke() {
        // A stand-in for Eddy's API: answers one request with JSON and hands its body back.
        let api = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let api_url: reqwest::Url = format!("http://{}/api2", api.local_addr().expect("addr"))
            .parse()
            .expect("url");
        let fake_eddy = tokio::spawn(async move {
            let (mut sock, _) = api.accept().await.expect("accept");
            let req = read_request(&mut sock).await.expect("read").expect("parse");
            let reply = Reply::json(200, &json!({"authorize": {"status": "OK"}}));
            sock.write_all(&reply.to_bytes()).await.expect("write");
            (req.header("content-type").map(String::from), req.body)
        });

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let source = Source::Fixed(["secret1".to_string()].into_iter().collect());
        let paywall = Arc::new(Paywall::new(source, api_url, reqwest::Client::new()));
        tokio::spawn(run(listener, paywall));

        let client = reqwest::Client::new();
        let url = format!("http://{addr}/");
        let ask = |token: &str, session: &str| {
            client
                .post(&url)
                .header("X-Trigger", "USER_NEW")
                .body(format!(
                    "live\n127.0.0.1\n{token}\nHTTP\n/live.flv\n{session}"
                ))
                .send()
        };
        let answer = ask("secret1", "s1").await.expect("send");
        assert_eq!(answer.text().await.expect("body"), "true");
        let answer = ask("other", "s2").await.expect("send");
        assert_eq!(answer.text().await.expect("body"), "false");
        let answer = client
            .post(&url)
            .header("X-Trigger", "STREAM_BUFFER")
            .body("live")
            .send()
            .await
            .expect("send");
        assert_eq!(answer.text().await.expect("body"), "true");
        let answer = client
            .post(&url)
            .header("X-Trigger", "USER_NEW")
            .body("live\n127.0.0.1")
            .send()
            .await
            .expect("send");
        assert_eq!(answer.status(), 400);

        let revoke = format!("http://{addr}/revoke?token=secret1");
        let answer = client.post(&revoke).send().await.expect("send");
        assert_eq!(answer.status(), 200);
        let (content_type, body) = fake_eddy.await.expect("fake Eddy");
        assert_eq!(
            content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            String::from_utf8_lossy(&body),
            "command=%7B%22stop_sessid%22%3A%5B%22s1%22%5D%7D"
        );
        let answer = ask("secret1", "s3").await.expect("send");
        assert_eq!(answer.text().await.expect("body"), "false");
        let answer = client.post(&revoke).send().await.expect("send");
        assert_eq!(answer.status(), 404);
    }
}
