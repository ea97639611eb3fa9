//! RTSP 1.0 messages (RFC 2326) on one TCP connection: requests in, responses out, and the
//! interleaved binary frames (`$`, channel, u16 length, data; §10.12) that share the socket.
//!
//! - [`next`] takes what the socket has buffered and says what comes first: a complete request
//!   (head and `Content-Length` body), an interleaved frame, or that more bytes are needed.
//!   Heads are capped at [`MAX_HEAD`], bodies at [`MAX_BODY`]; anything else is an error that
//!   closes the connection.
//! - [`Response`] writes `RTSP/1.0 code reason`, `CSeq` (echoed), `Server`, `Date`, then the
//!   headers and body given.
//! - [`Transport`] reads the one `Transport` choice Eddy takes: `RTP/AVP/TCP` with
//!   `interleaved=a-b`, or `RTP/AVP[/UDP]` with `client_port=a-b`; `mode=record` for publishing.

use bytes::{Buf, Bytes, BytesMut};

/// Longest request head taken.
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest request body (an SDP) taken.
pub const MAX_BODY: usize = 64 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 64;

/// One RTSP request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub url: String,
    /// In order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Request {
    /// A header's value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn cseq(&self) -> Option<&str> {
        self.header("CSeq")
    }
}

/// What the connection's buffer starts with.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    Request(Request),
    /// An interleaved frame: channel and data.
    Frame(u8, Bytes),
    /// More bytes are needed.
    Partial,
}

/// Why the connection's input cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    #[error("request head larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("request body of {0} bytes (at most {MAX_BODY})")]
    BodyTooLarge(usize),
    #[error("malformed request: {0}")]
    Malformed(String),
}

/// Takes the first message off `buf` when it is complete.
pub fn next(buf: &mut BytesMut) -> Result<Incoming, MessageError> {
    match buf.first() {
        None => return Ok(Incoming::Partial),
        Some(b'$') => {
            if buf.len() < 4 {
                return Ok(Incoming::Partial);
            }
            let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            if buf.len() < 4 + len {
                return Ok(Incoming::Partial);
            }
            let channel = buf[1];
            buf.advance(4);
            return Ok(Incoming::Frame(channel, buf.split_to(len).freeze()));
        }
        // Some clients send stray line ends between messages.
        Some(b'\r' | b'\n') => {
            let skip = buf
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            buf.advance(skip);
            return next(buf);
        }
        Some(_) => {}
    }
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(MessageError::HeadTooLarge);
        }
        return Ok(Incoming::Partial);
    };
    if head_end > MAX_HEAD {
        return Err(MessageError::HeadTooLarge);
    }
    // httparse reads `RTSP/1.0` no more than any other version, so the request line is read
    // here and the headers by httparse.
    let head = &buf[..head_end + 4];
    let line_end = find(head, b"\r\n").unwrap_or(head_end);
    let line = std::str::from_utf8(&head[..line_end])
        .map_err(|_| MessageError::Malformed("request line is not UTF-8".into()))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(url), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(MessageError::Malformed(format!("request line {line:?}")));
    };
    if !version.starts_with("RTSP/1.") || method.is_empty() || url.is_empty() {
        return Err(MessageError::Malformed(format!("request line {line:?}")));
    }
    let (headers_list, body_len) = headers_and_body_len(&head[line_end + 2..])?;
    let total = head_end + 4 + body_len;
    if buf.len() < total {
        return Ok(Incoming::Partial);
    }
    let request = Request {
        method: method.to_string(),
        url: url.to_string(),
        headers: headers_list,
        body: Bytes::new(),
    };
    buf.advance(head_end + 4);
    let body = buf.split_to(body_len).freeze();
    Ok(Incoming::Request(Request { body, ..request }))
}

/// A response a server sent (for the pull client).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub code: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a client's buffer starts with: a response, an interleaved frame, or not enough.
#[derive(Debug, PartialEq)]
pub enum FromServer {
    Answer(Answer),
    Frame(u8, Bytes),
    /// A request from the server (some cameras send GET_PARAMETER or ANNOUNCE): skipped.
    Request(Request),
    Partial,
}

/// Takes the first message off a client's buffer when it is complete, with the same bounds as
/// [`next`].
pub fn next_from_server(buf: &mut BytesMut) -> Result<FromServer, MessageError> {
    if !buf.starts_with(b"RTSP/") {
        if buf.len() < 5 && b"RTSP/".starts_with(&buf[..]) && !buf.is_empty() {
            return Ok(FromServer::Partial);
        }
        return Ok(match next(buf)? {
            Incoming::Request(r) => FromServer::Request(r),
            Incoming::Frame(c, d) => FromServer::Frame(c, d),
            Incoming::Partial => FromServer::Partial,
        });
    }
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(MessageError::HeadTooLarge);
        }
        return Ok(FromServer::Partial);
    };
    if head_end > MAX_HEAD {
        return Err(MessageError::HeadTooLarge);
    }
    let head = &buf[..head_end + 4];
    let line_end = find(head, b"\r\n").unwrap_or(head_end);
    let line = String::from_utf8_lossy(&head[..line_end]).into_owned();
    let code: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| MessageError::Malformed(format!("status line {line:?}")))?;
    let (list, body_len) = headers_and_body_len(&head[line_end + 2..])?;
    if buf.len() < head_end + 4 + body_len {
        return Ok(FromServer::Partial);
    }
    buf.advance(head_end + 4);
    let body = buf.split_to(body_len).freeze();
    Ok(FromServer::Answer(Answer {
        code,
        headers: list,
        body,
    }))
}

/// The headers after a message's first line (up to and with the blank line), and the body
/// length their `Content-Length` announces (at most [`MAX_BODY`]).
fn headers_and_body_len(rest: &[u8]) -> Result<(Vec<(String, String)>, usize), MessageError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let list: Vec<(String, String)> = match httparse::parse_headers(rest, &mut headers)
        .map_err(|e| MessageError::Malformed(format!("headers: {e}")))?
    {
        httparse::Status::Complete((_, hs)) => hs
            .iter()
            .map(|h| {
                let v = String::from_utf8_lossy(h.value).trim().to_string();
                (h.name.to_string(), v)
            })
            .collect(),
        httparse::Status::Partial => {
            return Err(MessageError::Malformed("headers do not end".into()))
        }
    };
    let body_len = match list
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
    {
        None => 0,
        Some((_, v)) => v
            .parse::<usize>()
            .map_err(|_| MessageError::Malformed(format!("Content-Length {v:?}")))?,
    };
    if body_len > MAX_BODY {
        return Err(MessageError::BodyTooLarge(body_len));
    }
    Ok((list, body_len))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// An interleaved frame's bytes.
pub fn frame(channel: u8, data: &[u8]) -> Option<[u8; 4]> {
    let len = u16::try_from(data.len()).ok()?;
    let l = len.to_be_bytes();
    Some([b'$', channel, l[0], l[1]])
}

/// A response being built.
#[derive(Debug, Clone)]
pub struct Response {
    code: u16,
    reason: &'static str,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Response {
    pub fn new(code: u16) -> Response {
        Response {
            code,
            reason: reason(code),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Response {
        let value: String = value.into();
        // A header value never carries a line end into the response.
        let value = value.replace(['\r', '\n'], " ");
        self.headers.push((name.to_string(), value));
        self
    }

    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Response {
        self.body = body.into();
        self.header("Content-Type", content_type)
    }

    pub fn code(&self) -> u16 {
        self.code
    }

    /// The whole response, answering a request with `cseq`.
    pub fn to_bytes(&self, cseq: Option<&str>) -> Bytes {
        let mut out = format!("RTSP/1.0 {} {}\r\n", self.code, self.reason);
        if let Some(c) = cseq {
            out.push_str(&format!("CSeq: {}\r\n", c.replace(['\r', '\n'], "")));
        }
        out.push_str(concat!("Server: Eddy/", env!("CARGO_PKG_VERSION"), "\r\n"));
        out.push_str(&format!(
            "Date: {}\r\n",
            chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT")
        ));
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        if !self.body.is_empty() {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = BytesMut::from(out.as_bytes());
        bytes.extend_from_slice(&self.body);
        bytes.freeze()
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        415 => "Unsupported Media Type",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        459 => "Aggregate Operation Not Allowed",
        461 => "Unsupported Transport",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// The transport a client asks for in SETUP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// RTP and RTCP interleaved on the RTSP connection, on these channels.
    Interleaved { rtp: u8, rtcp: u8 },
    /// RTP and RTCP over UDP to these client ports.
    Udp { rtp: u16, rtcp: u16 },
}

/// The first transport in a `Transport` header that Eddy can use, and whether it says
/// `mode=record`.
pub fn parse_transport(header: &str) -> Option<(Transport, bool)> {
    for choice in header.split(',') {
        let mut params = choice.split(';').map(str::trim);
        let spec = params.next()?.to_ascii_uppercase();
        let tcp = match spec.as_str() {
            "RTP/AVP/TCP" => true,
            "RTP/AVP" | "RTP/AVP/UDP" => false,
            _ => continue,
        };
        let mut record = false;
        let mut pair: Option<(u16, u16)> = None;
        for p in params {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let k = k.to_ascii_lowercase();
            match k.as_str() {
                "mode" => record = v.trim_matches('"').eq_ignore_ascii_case("record"),
                "interleaved" if tcp => pair = ports(v),
                "client_port" if !tcp => pair = ports(v),
                _ => {}
            }
        }
        let transport = match (tcp, pair) {
            (true, Some((a, b))) => Transport::Interleaved {
                rtp: u8::try_from(a).ok()?,
                rtcp: u8::try_from(b).ok()?,
            },
            // No channels given: the server chooses (0-1 for the first, ...); the caller does.
            (true, None) => Transport::Interleaved {
                rtp: 255,
                rtcp: 255,
            },
            (false, Some((a, b))) if a != 0 => Transport::Udp { rtp: a, rtcp: b },
            (false, _) => continue,
        };
        return Some((transport, record));
    }
    None
}

/// `a-b` or `a` (then `b` = `a` + 1).
fn ports(v: &str) -> Option<(u16, u16)> {
    match v.split_once('-') {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => {
            let a: u16 = v.trim().parse().ok()?;
            Some((a, a.checked_add(1)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(s: &[u8]) -> BytesMut {
        BytesMut::from(s)
    }

    #[test]
    fn requests_frames_and_partial_input() {
        let mut b = buf(b"OPTIONS rtsp://h/live RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: x\r\n\r\n$\x01\x00\x03abcANNOUNCE rtsp://h/s RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 5\r\n\r\nv=0\r\n");
        let Ok(Incoming::Request(r)) = next(&mut b) else {
            panic!("a request")
        };
        assert_eq!(
            (r.method.as_str(), r.url.as_str()),
            ("OPTIONS", "rtsp://h/live")
        );
        assert_eq!(r.cseq(), Some("1"));
        assert_eq!(r.header("user-agent"), Some("x"));
        assert_eq!(
            next(&mut b),
            Ok(Incoming::Frame(1, Bytes::from_static(b"abc")))
        );
        let Ok(Incoming::Request(r)) = next(&mut b) else {
            panic!("announce")
        };
        assert_eq!(&r.body[..], b"v=0\r\n");
        assert_eq!(next(&mut b), Ok(Incoming::Partial));
        let mut half = buf(b"PLAY rtsp://h/s RTSP/1.0\r\nCSeq: 3\r\n");
        assert_eq!(next(&mut half), Ok(Incoming::Partial));
        let mut body_missing = buf(b"ANNOUNCE x RTSP/1.0\r\nContent-Length: 10\r\n\r\nabc");
        assert_eq!(next(&mut body_missing), Ok(Incoming::Partial));
        let mut short_frame = buf(b"$\x00\x10\x00ab");
        assert_eq!(next(&mut short_frame), Ok(Incoming::Partial));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\n\r\n",
            b"PLAY x RTSP/1.0 extra\r\n\r\n",
            b"PLAY x RTSP/1.0\r\nContent-Length: nope\r\n\r\n",
            b"PLAY x RTSP/1.0\r\nContent-Length: 99999999\r\n\r\n",
            b"PLAY x RTSP/1.0\r\nbad header line\r\n\r\n",
            b"\xff\xfe x RTSP/1.0\r\n\r\n",
        ] {
            assert!(
                next(&mut buf(bad)).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut huge = BytesMut::from(&[b'A'; MAX_HEAD + 10][..]);
        assert_eq!(next(&mut huge), Err(MessageError::HeadTooLarge));
        // Random bytes: never a panic.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let len = (x % 300) as usize;
            let mut b = BytesMut::new();
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.extend_from_slice(&[(x % 256) as u8]);
            }
            for _ in 0..4 {
                if !matches!(next(&mut b), Ok(Incoming::Frame(..))) {
                    break;
                }
            }
        }
    }

    #[test]
    fn responses_echo_cseq_and_keep_line_ends_out_of_headers() {
        let r = Response::new(200)
            .header("Session", "abc\r\nX: y")
            .body("application/sdp", "v=0\r\n");
        let text = String::from_utf8(r.to_bytes(Some("7")).to_vec()).unwrap();
        assert!(text.starts_with("RTSP/1.0 200 OK\r\nCSeq: 7\r\n"), "{text}");
        assert!(text.contains("Session: abc  X: y\r\n"), "{text}");
        assert!(text.contains("Content-Length: 5\r\n\r\nv=0\r\n"), "{text}");
    }

    #[test]
    fn answers_from_a_server() {
        let mut b =
            buf(b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: 3\r\n\r\nv=0$\x00\x00\x01x");
        let Ok(FromServer::Answer(a)) = next_from_server(&mut b) else {
            panic!("an answer")
        };
        assert_eq!(
            (a.code, a.header("cseq"), &a.body[..]),
            (200, Some("2"), &b"v=0"[..])
        );
        assert_eq!(
            next_from_server(&mut b),
            Ok(FromServer::Frame(0, Bytes::from_static(b"x")))
        );
        assert_eq!(next_from_server(&mut buf(b"RTS")), Ok(FromServer::Partial));
        assert!(next_from_server(&mut buf(b"RTSP/1.0 abc\r\n\r\n")).is_err());
        assert!(next_from_server(&mut buf(
            b"RTSP/1.0 200 OK\r\nContent-Length: 999999999\r\n\r\n"
        ))
        .is_err());
    }

    #[test]
    fn transports() {
        assert_eq!(
            parse_transport("RTP/AVP/TCP;unicast;interleaved=2-3;mode=record"),
            Some((Transport::Interleaved { rtp: 2, rtcp: 3 }, true))
        );
        assert_eq!(
            parse_transport("RTP/AVP;unicast;client_port=5000-5001"),
            Some((
                Transport::Udp {
                    rtp: 5000,
                    rtcp: 5001
                },
                false
            ))
        );
        assert_eq!(
            parse_transport("RTP/AVP;multicast, RTP/AVP/TCP;interleaved=0-1"),
            Some((Transport::Interleaved { rtp: 0, rtcp: 1 }, false))
        );
        assert_eq!(
            parse_transport("RTP/AVP/TCP;unicast"),
            Some((
                Transport::Interleaved {
                    rtp: 255,
                    rtcp: 255
                },
                false
            ))
        );
        assert_eq!(parse_transport("RAW/RAW/UDP;unicast"), None);
        assert_eq!(parse_transport("RTP/AVP;client_port=x-y"), None);
        assert_eq!(parse_transport("RTP/AVP/TCP;interleaved=300-301"), None);
        assert_eq!(frame(2, &[0; 3]), Some([b'$', 2, 0, 3]));
        assert_eq!(frame(0, &vec![0; 70_000]), None);
    }
}
