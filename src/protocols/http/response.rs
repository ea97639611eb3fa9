//! Every answer port 8080 gives, built one way: a [`Status`] (MistServer's reason texts where
//! it has its own, facts §9.2 and §9.4), the `Server` header, one CORS policy (the set of facts
//! §0 the HTTP outputs send), the no-cache headers unless the answer sets its own
//! `Cache-Control`, `Connection`, and either a complete body or the head of a stream.
//!
//! ```text
//! HTTP/1.1 404 Error opening stream        status line (Status)
//! Server: Eddy/0.1.0
//! Content-Type: text/plain                 when the answer has a type
//! Content-Length: 42                       complete bodies only (not 204, not streams)
//! Access-Control-Allow-Origin: *           the CORS set, on every answer
//! ...
//! Connection: keep-alive                   see below
//! Cache-Control: no-cache, no-store, ...   unless the answer set a Cache-Control
//! ```
//!
//! Keep-alive has one rule: a complete answer keeps the connection unless the request asked to
//! close it (or carried a body we do not read, see [`super::Request::keep_alive`]), or the answer
//! is marked [`Response::close`] (a malformed request). A stream ends with the connection, so
//! its head says `Connection: close` and has no length. A HEAD request gets the head only.
//!
//! Every byte goes out through [`write_all_within`] (stream bodies through
//! [`crate::protocols::write::deliver`]): a client that takes nothing for
//! [`VIEWER_WRITE_TIMEOUT`] fails the write with `TimedOut` and is dropped.

use std::fmt::Display;

use bytes::Bytes;
use tokio::io::AsyncWrite;

use super::Request;
use crate::hub::session::SessionError;
use crate::hub::StreamError;
use crate::protocols::write::{write_all_within, VIEWER_WRITE_TIMEOUT};

/// The CORS headers of every answer (facts §0, the set MistServer's HTTP outputs send).
pub const CORS: [(&str, &str); 5] = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Credentials", "true"),
    ("Access-Control-Expose-Headers", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, OPTIONS, HEAD"),
    ("Access-Control-Allow-Headers", "*"),
];

/// What an answer says when it sets no `Cache-Control` of its own.
const NO_CACHE: &str =
    "Cache-Control: no-cache, no-store, must-revalidate\r\nPragma: no-cache\r\nExpires: 0\r\n";

/// Where an FNV-1a hash starts.
pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// Goes on with the FNV-1a (64-bit) hash `h` over `bytes`: a cheap fingerprint for `ETag`s and
/// URL generations (not a defence against anyone choosing bytes to collide).
pub fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The status lines port 8080 answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `200 OK`.
    Ok,
    /// `200 Stream not found`: a `json_`/`info_` request for a stream that cannot be opened
    /// (facts §9.3; the body carries the error).
    StreamNotFound,
    /// `204 No Content`: the answer to a CORS preflight (`OPTIONS`).
    NoContent,
    /// `206 Partial Content`: the byte range a `Range` header asked for (RFC 9110 15.3.7).
    PartialContent,
    /// `304 Not Modified`: the client's copy (its `If-None-Match`) is current (RFC 9110 15.4.5).
    NotModified,
    /// `400 Bad Request`: a request head that cannot be parsed.
    BadRequest,
    /// `403 Forbidden`: the viewer's session is not allowed.
    Forbidden,
    /// `404 Not Found`: no such resource of an output.
    NotFound,
    /// `404 Error opening stream`: the stream of a media URL cannot be opened (facts §9.2).
    ErrorOpeningStream,
    /// `404 Fragment out of range`: the segment left the buffer (facts §9.4).
    FragmentOutOfRange,
    /// `405 Method Not Allowed`.
    MethodNotAllowed,
    /// `415 Unsupported Media Type`: no output handles the URL (facts §9.2).
    UnsupportedMediaType,
    /// `416 Range Not Satisfiable`: the asked range starts past the end (RFC 9110 15.5.17).
    RangeNotSatisfiable,
    /// `500 Internal Server Error`.
    InternalServerError,
    /// `503 Service Unavailable`.
    ServiceUnavailable,
}

impl Status {
    pub const fn code(self) -> u16 {
        match self {
            Status::Ok | Status::StreamNotFound => 200,
            Status::NoContent => 204,
            Status::PartialContent => 206,
            Status::NotModified => 304,
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::NotFound | Status::ErrorOpeningStream | Status::FragmentOutOfRange => 404,
            Status::MethodNotAllowed => 405,
            Status::UnsupportedMediaType => 415,
            Status::RangeNotSatisfiable => 416,
            Status::InternalServerError => 500,
            Status::ServiceUnavailable => 503,
        }
    }

    pub const fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::StreamNotFound => "Stream not found",
            Status::NoContent => "No Content",
            Status::PartialContent => "Partial Content",
            Status::NotModified => "Not Modified",
            Status::BadRequest => "Bad Request",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::ErrorOpeningStream => "Error opening stream",
            Status::FragmentOutOfRange => "Fragment out of range",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::UnsupportedMediaType => "Unsupported Media Type",
            Status::RangeNotSatisfiable => "Range Not Satisfiable",
            Status::InternalServerError => "Internal Server Error",
            Status::ServiceUnavailable => "Service Unavailable",
        }
    }
}

/// What follows the head.
#[derive(Debug, Clone, PartialEq)]
enum Body {
    /// A complete body, sent with its `Content-Length`.
    Full(Bytes),
    /// The caller streams the body after the head, until the connection closes.
    Stream,
    /// The caller writes a body of this many bytes after the head; the connection may serve
    /// another request after it.
    Sized(u64),
}

/// One answer, built with the constructors below and sent with [`Response::send`].
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    status: Status,
    content_type: Option<&'static str>,
    /// Headers beyond the ones every answer gets; values are ours, never a client's.
    headers: Vec<(&'static str, String)>,
    body: Body,
    /// Close the connection after this answer, whatever the request asked.
    close: bool,
}

impl Response {
    /// An answer with no body (and no type).
    pub fn new(status: Status) -> Self {
        Response {
            status,
            content_type: None,
            headers: Vec::new(),
            body: Body::Full(Bytes::new()),
            close: false,
        }
    }

    /// `200 OK` with a complete body.
    pub fn ok(content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Response::new(Status::Ok).body(content_type, body)
    }

    /// A `text/plain` answer.
    pub fn text(status: Status, body: impl Into<String>) -> Self {
        Response::new(status).body("text/plain", body.into())
    }

    /// The head of a `200 OK` stream: no length, `Connection: close`; the caller writes the
    /// body after it (unless the request was HEAD).
    pub fn stream(content_type: &'static str) -> Self {
        Response {
            content_type: Some(content_type),
            body: Body::Stream,
            ..Response::new(Status::Ok)
        }
    }

    /// The head of an answer whose body of `len` bytes the caller writes after it (unless the
    /// request was HEAD), with its `Content-Length`: keep-alive as for a complete body.
    pub fn sized(status: Status, content_type: &'static str, len: u64) -> Self {
        Response {
            content_type: Some(content_type),
            body: Body::Sized(len),
            ..Response::new(status)
        }
    }

    /// Sets the body and its type.
    pub fn body(mut self, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        self.content_type = Some(content_type);
        self.body = Body::Full(body.into());
        self
    }

    /// Adds a header. A `Cache-Control` replaces the no-cache headers. CR and LF in `value`
    /// become spaces, so a value can never start a header of its own.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        let value = value.into().replace(['\r', '\n'], " ");
        self.headers.push((name, value));
        self
    }

    /// Cacheable for `max_age_s` seconds: by any cache (`shared`) or only the viewer's own
    /// (`private`, for an answer that names the viewer), and `immutable` when the URL can never
    /// name other bytes (a segment of one generation, see [`super::segmented`]).
    pub fn cache_for(self, max_age_s: i64, shared: bool, immutable: bool) -> Self {
        let scope = if shared { "public" } else { "private" };
        let tail = if immutable { ", immutable" } else { "" };
        self.header(
            "Cache-Control",
            format!("{scope}, max-age={}{tail}", max_age_s.max(0)),
        )
    }

    /// Cacheable by anyone for `max_age_s` seconds, and never changing.
    pub fn cacheable(self, max_age_s: i64) -> Self {
        self.cache_for(max_age_s, true, true)
    }

    /// Sets the `ETag` (`tag` is quoted here; it must hold no `"`): a request whose
    /// `If-None-Match` names it gets `304 Not Modified` from [`Self::send`].
    pub fn etag(self, tag: &str) -> Self {
        self.header("ETag", format!("\"{}\"", tag.replace('"', "")))
    }

    /// Sets an `ETag` made from the body's bytes (FNV-1a, 64 bits): for answers built anew
    /// for each request (playlists, manifests, init segments), so a revalidating cache gets a
    /// `304` when nothing changed.
    pub fn body_etag(self) -> Self {
        let Body::Full(body) = &self.body else {
            return self;
        };
        let h = fnv1a(FNV_START, body);
        let tag = format!("b{h:016x}-{}", body.len());
        self.etag(&tag)
    }

    /// The `ETag` value set on this answer (quoted), if any.
    fn etag_value(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("etag"))
            .map(|(_, v)| v.as_str())
    }

    /// Whether `req`'s `If-None-Match` names this answer's `ETag` (or is `*`), compared weakly
    /// as RFC 9110 13.1.2 says: then the answer is `304 Not Modified`. Only a `200` with an
    /// `ETag` qualifies.
    pub fn not_modified_for(&self, req: &Request) -> bool {
        let (Some(tag), Some(asked)) = (self.etag_value(), req.header("if-none-match")) else {
            return false;
        };
        if self.status != Status::Ok || !matches!(self.body, Body::Full(_)) {
            return false;
        }
        let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
        let tag = bare(tag);
        asked.split(',').any(|t| t.trim() == "*" || bare(t) == tag)
    }

    /// This answer as `304 Not Modified`: its headers (`ETag`, `Cache-Control`) without a
    /// body, type or length.
    fn into_not_modified(self) -> Self {
        Response {
            status: Status::NotModified,
            content_type: None,
            body: Body::Full(Bytes::new()),
            ..self
        }
    }

    /// Closes the connection after this answer.
    pub fn close(mut self) -> Self {
        self.close = true;
        self
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// `403 Forbidden` for a viewer its session does not allow.
    pub fn forbidden(why: &SessionError) -> Self {
        Response::text(Status::Forbidden, format!("Access denied: {why}\n"))
    }

    /// `404 Error opening stream` with MistServer's wording, for a stream that cannot be
    /// opened (or has nothing the output can send).
    pub fn not_found(why: impl Display) -> Self {
        Response::text(
            Status::ErrorOpeningStream,
            format!("Could not retrieve stream: {why}\n"),
        )
    }

    /// `404 Not Found`: no such resource (`what` says which).
    pub fn missing(what: impl Display) -> Self {
        Response::text(Status::NotFound, format!("{what}\n"))
    }

    /// `404 Fragment out of range`: the segment left the buffer (facts §9.4).
    pub fn out_of_range() -> Self {
        Response::text(Status::FragmentOutOfRange, "Fragment out of range\n")
    }

    /// `500 Internal Server Error`.
    pub fn internal(why: impl Display) -> Self {
        Response::text(Status::InternalServerError, format!("{why}\n"))
    }

    /// The answer for a stream that could not be opened: `503` while the server shuts down,
    /// else [`Response::not_found`].
    pub fn stream_error(e: &StreamError) -> Self {
        match e {
            StreamError::ShuttingDown => Response::unavailable(e),
            _ => Response::not_found(e),
        }
    }

    /// `503 Service Unavailable`.
    pub fn unavailable(why: impl Display) -> Self {
        Response::text(Status::ServiceUnavailable, format!("{why}\n"))
    }

    /// `400 Bad Request` for a head that cannot be parsed; the connection closes after it.
    pub fn bad_request(why: impl Display) -> Self {
        Response::text(Status::BadRequest, format!("{why}\n")).close()
    }

    /// `405 Method Not Allowed`: only GET and HEAD are served (OPTIONS gets [`Self::no_content`]).
    pub fn method_not_allowed() -> Self {
        Response::text(
            Status::MethodNotAllowed,
            "Only GET and HEAD are served here.\n",
        )
    }

    /// `415 Unsupported Media Type`: no output handles the URL (facts §9.2).
    pub fn unsupported() -> Self {
        Response::new(Status::UnsupportedMediaType).body(
            "text/html",
            "<!DOCTYPE html><html><head><title>Unsupported Media Type</title></head><body>\
             <h1>Unsupported Media Type</h1><p>No output handles this URL.</p></body></html>",
        )
    }

    /// `204 No Content`: the CORS preflight answer.
    pub fn no_content() -> Self {
        Response::new(Status::NoContent)
    }

    /// Whether the connection stays open after this answer, when the request allows it.
    fn keeps(&self, keep_alive: bool) -> bool {
        keep_alive && !self.close && matches!(self.body, Body::Full(_) | Body::Sized(_))
    }

    /// The head, for a request that allows keep-alive (`keep_alive`) or not.
    pub fn head(&self, keep_alive: bool) -> String {
        use std::fmt::Write;
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nServer: {}\r\n",
            self.status.code(),
            self.status.reason(),
            crate::server_header()
        );
        if let Some(t) = self.content_type {
            let _ = write!(head, "Content-Type: {t}\r\n");
        }
        if let Body::Full(body) = &self.body {
            if !matches!(self.status, Status::NoContent | Status::NotModified) {
                let _ = write!(head, "Content-Length: {}\r\n", body.len());
            }
        }
        if let Body::Sized(len) = self.body {
            let _ = write!(head, "Content-Length: {len}\r\n");
        }
        for (k, v) in CORS {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        let connection = if self.keeps(keep_alive) {
            "keep-alive"
        } else {
            "close"
        };
        let _ = write!(head, "Connection: {connection}\r\n");
        let mut cache = false;
        for (k, v) in &self.headers {
            cache |= k.eq_ignore_ascii_case("cache-control");
            let _ = write!(head, "{k}: {v}\r\n");
        }
        if !cache {
            head.push_str(NO_CACHE);
        }
        head.push_str("\r\n");
        head
    }

    /// Sends the answer to `req` (the head only for HEAD, `304 Not Modified` when its
    /// `If-None-Match` names the answer's `ETag`); returns whether the connection may serve
    /// another request. After a stream head the caller writes the body, unless
    /// [`Request::is_head`].
    pub async fn send<W: AsyncWrite + Unpin>(
        self,
        w: &mut W,
        req: &Request,
    ) -> std::io::Result<bool> {
        let resp = if self.not_modified_for(req) {
            self.into_not_modified()
        } else {
            self
        };
        resp.send_to(w, req.keep_alive, req.is_head()).await
    }

    /// [`Self::send`] without a parsed request: `keep_alive` as the request allows it,
    /// `head_only` for HEAD.
    pub async fn send_to<W: AsyncWrite + Unpin>(
        self,
        w: &mut W,
        keep_alive: bool,
        head_only: bool,
    ) -> std::io::Result<bool> {
        let stall = VIEWER_WRITE_TIMEOUT;
        let head = Bytes::from(self.head(keep_alive));
        match &self.body {
            Body::Full(body) if !head_only && !body.is_empty() => {
                write_all_within(w, &[head, body.clone()], stall).await?
            }
            _ => write_all_within(w, &[head], stall).await?,
        };
        Ok(self.keeps(keep_alive))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn request(raw: &[u8]) -> Request {
        match super::super::parse_head(raw) {
            Ok(Some((r, _))) => r,
            other => panic!("{other:?}"),
        }
    }

    const CORS_HEAD: &str = "Access-Control-Allow-Origin: *\r\n\
        Access-Control-Allow-Credentials: true\r\nAccess-Control-Expose-Headers: *\r\n\
        Access-Control-Allow-Methods: GET, POST, OPTIONS, HEAD\r\nAccess-Control-Allow-Headers: *\r\n";

    async fn sent(resp: Response, req: &Request) -> (String, bool) {
        let mut out = Vec::new();
        let keep = resp.send(&mut out, req).await.expect("send");
        (String::from_utf8(out).expect("utf-8"), keep)
    }

    #[tokio::test]
    async fn a_200_with_a_body() {
        let get = request(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
        let (bytes, keep) = sent(Response::ok("application/json", "{}"), &get).await;
        let want = format!(
            "HTTP/1.1 200 OK\r\nServer: {}\r\nContent-Type: application/json\r\n\
             Content-Length: 2\r\n{CORS_HEAD}Connection: keep-alive\r\n{NO_CACHE}\r\n{{}}",
            crate::server_header()
        );
        assert_eq!(bytes, want);
        assert!(keep);
    }

    #[tokio::test]
    async fn a_head_request_gets_the_head_only() {
        let head = request(b"HEAD /x HTTP/1.1\r\n\r\n");
        let resp = Response::ok("video/mp2t", vec![0u8; 188]).cacheable(20);
        let (bytes, keep) = sent(resp, &head).await;
        let want = format!(
            "HTTP/1.1 200 OK\r\nServer: {}\r\nContent-Type: video/mp2t\r\n\
             Content-Length: 188\r\n{CORS_HEAD}Connection: keep-alive\r\n\
             Cache-Control: public, max-age=20, immutable\r\n\r\n",
            crate::server_header()
        );
        assert_eq!(bytes, want);
        assert!(keep);
    }

    #[tokio::test]
    async fn if_none_match_gets_a_304_without_a_body() {
        let seg = || {
            Response::ok("video/mp2t", vec![1u8; 376])
                .cacheable(60)
                .etag("g-7")
        };
        let plain = request(b"GET /s.ts HTTP/1.1\r\n\r\n");
        let (bytes, _) = sent(seg(), &plain).await;
        assert!(bytes.contains("\r\nETag: \"g-7\"\r\n") && bytes.contains("Content-Length: 376"));
        for asked in ["\"g-7\"", "W/\"g-7\"", "\"a\", \"g-7\"", "*"] {
            for method in ["GET", "HEAD"] {
                let raw = format!("{method} /s.ts HTTP/1.1\r\nIf-None-Match: {asked}\r\n\r\n");
                let (bytes, keep) = sent(seg(), &request(raw.as_bytes())).await;
                let want = format!(
                    "HTTP/1.1 304 Not Modified\r\nServer: {}\r\n{CORS_HEAD}\
                     Connection: keep-alive\r\nCache-Control: public, max-age=60, immutable\r\n\
                     ETag: \"g-7\"\r\n\r\n",
                    crate::server_header()
                );
                assert_eq!(bytes, want, "{asked}");
                assert!(keep);
            }
        }
        // Another tag, an answer without one, an error: the whole answer.
        let other = request(b"GET /s.ts HTTP/1.1\r\nIf-None-Match: \"g-8\"\r\n\r\n");
        assert!(sent(seg(), &other)
            .await
            .0
            .starts_with("HTTP/1.1 200 OK\r\n"));
        let any = request(b"GET /s.ts HTTP/1.1\r\nIf-None-Match: *\r\n\r\n");
        let untagged = Response::ok("text/plain", "x");
        assert!(sent(untagged, &any)
            .await
            .0
            .starts_with("HTTP/1.1 200 OK\r\n"));
        let gone = Response::out_of_range().etag("g-7");
        assert!(sent(gone, &any).await.0.starts_with("HTTP/1.1 404 "));
        // A body's own tag follows its bytes.
        let a = Response::ok("text/plain", "abc").body_etag().head(true);
        let b = Response::ok("text/plain", "abd").body_etag().head(true);
        assert_ne!(a, b);
        assert!(a.contains("ETag: \"b") && a.contains("-3\"\r\n"), "{a}");
        let private = Response::ok("x/y", "")
            .cache_for(2, false, false)
            .head(true);
        assert!(private.contains("\r\nCache-Control: private, max-age=2\r\n"));
        assert!(!private.contains("Pragma"));
    }

    #[tokio::test]
    async fn a_stream_head() {
        let get = request(b"GET /live.flv HTTP/1.1\r\n\r\n");
        let (bytes, keep) = sent(Response::stream("video/x-flv"), &get).await;
        let want = format!(
            "HTTP/1.1 200 OK\r\nServer: {}\r\nContent-Type: video/x-flv\r\n\
             {CORS_HEAD}Connection: close\r\n{NO_CACHE}\r\n",
            crate::server_header()
        );
        assert_eq!(bytes, want);
        assert!(!keep, "a stream ends with its connection");
    }

    #[test]
    fn stream_errors_map_to_404_or_503() {
        let offline = Response::stream_error(&StreamError::Offline("x".into()));
        assert_eq!(offline.status(), Status::ErrorOpeningStream);
        let stopping = Response::stream_error(&StreamError::ShuttingDown);
        assert_eq!(stopping.status(), Status::ServiceUnavailable);
        assert!(stopping
            .head(true)
            .starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
    }

    #[tokio::test]
    async fn a_404_and_keep_alive_or_close() {
        let get = request(b"GET /x.flv HTTP/1.1\r\n\r\n");
        let (bytes, keep) = sent(Response::not_found("stream x is offline"), &get).await;
        let body = "Could not retrieve stream: stream x is offline\n";
        let want = format!(
            "HTTP/1.1 404 Error opening stream\r\nServer: {}\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\n{CORS_HEAD}Connection: keep-alive\r\n{NO_CACHE}\r\n{body}",
            crate::server_header(),
            body.len()
        );
        assert_eq!(bytes, want);
        assert!(keep);

        // The request decides: HTTP/1.1 with `close`, HTTP/1.0 without `keep-alive`.
        for raw in [
            &b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
            b"GET /x HTTP/1.0\r\n\r\n",
            b"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
        ] {
            let (bytes, keep) = sent(Response::out_of_range(), &request(raw)).await;
            assert!(bytes.starts_with("HTTP/1.1 404 Fragment out of range\r\n"));
            assert!(bytes.contains("\r\nConnection: close\r\n"), "{bytes}");
            assert!(bytes.ends_with("\r\n\r\nFragment out of range\n"));
            assert!(!keep);
        }
        let keep10 = request(b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(sent(Response::missing("No such track"), &keep10).await.1);
        // A malformed request closes whatever it asked.
        let (bytes, keep) = sent(Response::bad_request("malformed request"), &get).await;
        assert!(bytes.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(bytes.contains("\r\nConnection: close\r\n"));
        assert!(!keep);
    }

    #[tokio::test]
    async fn every_answer_has_the_one_cors_set() {
        let get = request(b"GET /x HTTP/1.1\r\n\r\n");
        let answers = [
            Response::ok("text/plain", "x"),
            Response::stream("video/mp4"),
            Response::forbidden(&SessionError::Denied("abc".into())),
            Response::not_found("why"),
            Response::missing("No such HLS resource"),
            Response::out_of_range(),
            Response::internal("Segment could not be built"),
            Response::unavailable("shutting down"),
            Response::bad_request("bad"),
            Response::method_not_allowed(),
            Response::unsupported(),
            Response::no_content(),
            Response::text(Status::StreamNotFound, "{}"),
        ];
        for resp in answers {
            let status = resp.status();
            let (bytes, _) = sent(resp, &get).await;
            let line = format!("HTTP/1.1 {} {}\r\n", status.code(), status.reason());
            assert!(bytes.starts_with(&line), "{bytes}");
            assert!(bytes.contains(CORS_HEAD), "{bytes}");
            assert_eq!(bytes.matches("Access-Control-").count(), 5, "{bytes}");
            assert!(bytes.contains(&format!("\r\nServer: {}\r\n", crate::server_header())));
        }
    }

    #[tokio::test]
    async fn typed_answers_keep_todays_texts() {
        let get = request(b"GET /x HTTP/1.1\r\n\r\n");
        let denied = SessionError::Denied("s1".into());
        let (bytes, _) = sent(Response::forbidden(&denied), &get).await;
        assert!(bytes.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        assert!(bytes.ends_with(&format!("\r\n\r\nAccess denied: {denied}\n")));
        let (bytes, keep) = sent(Response::no_content(), &get).await;
        assert!(bytes.starts_with("HTTP/1.1 204 No Content\r\n"));
        assert!(!bytes.contains("Content-Length") && !bytes.contains("Content-Type"));
        assert!(keep);
        let (bytes, _) = sent(Response::unsupported(), &get).await;
        assert!(bytes.contains("Content-Type: text/html\r\n"));
        assert!(bytes.ends_with("<p>No output handles this URL.</p></body></html>"));
        let (bytes, _) = sent(Response::method_not_allowed(), &get).await;
        assert!(bytes.ends_with("\r\n\r\nOnly GET and HEAD are served here.\n"));
        let resp = Response::ok("x/y", "").header("X-Evil", "a\r\nSet-Cookie: b");
        assert!(resp.head(true).contains("X-Evil: a  Set-Cookie: b\r\n"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_reads_times_out() {
        // A 64 KiB answer into a pipe that holds 64 bytes and is never read.
        let (mut client, mut server) = tokio::io::duplex(64);
        let resp = Response::ok("video/mp2t", vec![7u8; 64 * 1024]);
        let write = resp.send_to(&mut server, true, false);
        let outcome = tokio::time::timeout(VIEWER_WRITE_TIMEOUT * 2, write).await;
        let err = outcome
            .expect("the write gave up by itself")
            .expect_err("timed out");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        // What fit is there; the rest never was.
        let mut got = vec![0u8; 64];
        client.read_exact(&mut got).await.expect("read");
        assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    }

    #[tokio::test]
    async fn a_slow_reader_is_not_cut_off() {
        use std::time::Duration;
        let (mut client, mut server) = tokio::io::duplex(64);
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            let mut chunk = [0u8; 100];
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                match client.read(&mut chunk).await {
                    Ok(0) | Err(_) => return all,
                    Ok(n) => all.extend_from_slice(&chunk[..n]),
                }
            }
        });
        let body: Vec<Bytes> = (0..20u8).map(|i| Bytes::from(vec![i; 100])).collect();
        // The whole write takes longer than the limit; no single step does.
        let n = write_all_within(&mut server, &body, Duration::from_millis(200))
            .await
            .expect("write");
        drop(server);
        assert_eq!(n, 2000);
        assert_eq!(reader.await.expect("reader").len(), 2000);
    }
}
