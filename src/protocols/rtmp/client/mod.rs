//! RTMP client for publishing: pushes a live stream to another RTMP server at
//! `rtmp://host[:port]/app[/more]/streamkey[?query]`.
//!
//! Reference: Adobe RTMP specification 1.0, 5.2 (handshake), 5.4 (protocol control), 7.1.7
//! (ping), 7.2.1.1 `connect`, 7.2.1.3 `createStream`, 7.2.2.6 `publish`. `releaseStream`,
//! `FCPublish` and `FCUnpublish` are FMLE conventions most servers expect; an `_error` answer to
//! the first two is ignored, as ffmpeg and OBS do.
//!
//! ```text
//!  C0 C1 ->                 <- S0 S1 S2;  C2 (echo of S1) ->
//!  connect(1, {app, type, flashVer, tcUrl}) ->
//!                           <- Window Ack Size, Set Peer Bandwidth, Set Chunk Size, _result(1)
//!  Set Chunk Size, releaseStream(2), FCPublish(3), createStream(4) ->
//!                           <- _result(4, null, stream id)
//!  publish(5, null, key, "live") on that stream ->
//!                           <- onStatus(NetStream.Publish.Start)
//!  @setDataFrame onMetaData, audio (8), video (9) ...;  FCUnpublish, deleteStream, FIN ->
//! ```
//!
//! While connected the client acknowledges received bytes once the server set a window (spec
//! 5.4.4), answers pings and Set Peer Bandwidth (with a Window Acknowledgement Size), and reads
//! with the server's chunk size. Everything read is bounded by [`ChunkReader`]'s limits.

use std::collections::VecDeque;
use std::future::Future;
use std::io::IoSlice;
use std::net::Ipv6Addr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::chunk::{self, ChunkReader, RtmpMessage};
use super::handshake;
use super::message::{self as msg, Command, Control, MessageError};
use crate::media::amf0::{self, Amf0Value};

/// Port used when the URL names none.
pub const DEFAULT_PORT: u16 = 1935;
/// Chunk size the client sends with (announced after `connect`; what OBS and ffmpeg use).
pub const OUT_CHUNK_SIZE: u32 = 4096;
/// Default bound on one [`PublisherWriter::flush`].
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on [`RtmpPublisher::close`].
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// `flashVer` sent in `connect`.
pub const FLASH_VER: &str = "FMLE/3.0 (compatible; Eddy)";

const RTMP_VERSION: u8 = 3;
const CSID_CONTROL: u32 = 2;
const CSID_COMMAND: u32 = 3;
const CSID_AUDIO: u32 = 4;
const CSID_STREAM: u32 = 5;
const CSID_VIDEO: u32 = 6;
/// Buffers handed to one vectored write.
const MAX_IOV: usize = 64;
/// Read granularity.
const READ_SIZE: usize = 16 * 1024;
/// Unflushed control replies (acks, pongs) beyond this mean the caller never flushes while
/// the server keeps asking: the connection is given up.
const MAX_PENDING_REPLIES: usize = 64 * 1024;

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("bad RTMP URL: {0}")]
    BadUrl(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out during {0}")]
    Timeout(&'static str),
    /// `_error` or an `onStatus` with level "error" from the server: code and description.
    #[error("refused by the server: {0}")]
    Refused(String),
    /// Malformed data from the server.
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("connection closed by the server")]
    Closed,
}

/// Chunk stream, message or AMF errors in what the server sent.
fn protocol(e: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol(e.to_string())
}

/// An end of file in the middle of a read is the server closing.
fn io_error(e: std::io::Error) -> ClientError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => ClientError::Closed,
        _ => ClientError::Io(e),
    }
}

/// A parsed publishing target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port, [`DEFAULT_PORT`] when absent.
    pub port: u16,
    /// Path between the host and the last segment, e.g. `live` or `live/sub`.
    pub app: String,
    /// Last path segment (the stream key) with its `?query`, if any: servers such as
    /// nginx-rtmp and MistServer take the key with its query.
    pub stream: String,
    /// `rtmp://host:port/app`.
    pub tc_url: String,
}

/// Parses `rtmp://host[:port]/app[/more]/streamkey[?query]`. The query (from the first `?`)
/// always belongs to the stream key. Only `rtmp://`; IPv6 hosts go in brackets. Error texts
/// never repeat the URL, which holds the secret stream key.
pub fn parse_url(url: &str) -> Result<RtmpUrl, ClientError> {
    let bad = |why: &str| Err(ClientError::BadUrl(why.to_string()));
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains white space or control characters");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("not an rtmp:// URL");
    };
    match scheme.to_ascii_lowercase().as_str() {
        "rtmp" => {}
        "rtmps" => return bad("rtmps is not supported"),
        _ => return bad("only rtmp:// URLs are supported"),
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.contains('@') {
        return bad("user names in the URL are not supported");
    }
    let bracketed = authority.starts_with('[');
    let (host, port) = if bracketed {
        let Some((host, after)) = authority[1..].split_once(']') else {
            return bad("unclosed [ in the host");
        };
        if host.parse::<Ipv6Addr>().is_err() {
            return bad("bad IPv6 address");
        }
        match after.strip_prefix(':') {
            _ if after.is_empty() => (host, None),
            Some(p) => (host, Some(p)),
            None => return bad("junk after ]"),
        }
    } else {
        authority
            .split_once(':')
            .map_or((authority, None), |(h, p)| (h, Some(p)))
    };
    if host.is_empty() {
        return bad("missing host");
    }
    let host_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if !bracketed && !host.chars().all(host_chars) {
        return bad("bad host name");
    }
    let port = match port.map(|p| (p, p.parse::<u16>())) {
        None => DEFAULT_PORT,
        Some((p, Ok(n))) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
        Some(_) => return bad("bad port"),
    };
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let Some((app, key)) = path.rsplit_once('/') else {
        return bad("missing application name or stream key");
    };
    let app = app.trim_matches('/');
    if app.is_empty() {
        return bad("missing application name");
    }
    if key.is_empty() {
        return bad("missing stream key");
    }
    let stream = match query {
        "" => key.to_string(),
        q => format!("{key}?{q}"),
    };
    let host_in_url = match bracketed {
        true => format!("[{host}]"),
        false => host.to_string(),
    };
    Ok(RtmpUrl {
        host: host.to_string(),
        port,
        tc_url: format!("rtmp://{host_in_url}:{port}/{app}"),
        app: app.to_string(),
        stream,
    })
}

/// Runs `fut` until `deadline`; past it, [`ClientError::Timeout`] naming `what`.
async fn within<T>(
    deadline: Instant,
    what: &'static str,
    fut: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout_at(deadline, fut)
        .await
        .map_err(|_| ClientError::Timeout(what))?
}

/// Plain handshake (spec 5.2): C0 = 3, C1 = time | zero | random (xorshift64: a plain
/// handshake needs no real randomness); S0 must be 3; C2 echoes S1; S2 is not checked
/// (digest-handshake servers do not echo C1).
async fn client_handshake(sock: &mut TcpStream) -> Result<(), ClientError> {
    let len = handshake::C2_LEN;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut c0c1 = vec![RTMP_VERSION];
    c0c1.extend_from_slice(&(now.as_millis() as u32).to_be_bytes());
    c0c1.extend_from_slice(&[0; 4]);
    let mut x = now.as_nanos() as u64 | 1;
    while c0c1.len() < 1 + len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c0c1.extend_from_slice(&x.to_le_bytes());
    }
    c0c1.truncate(1 + len);
    sock.write_all(&c0c1).await?;
    let mut s0s1 = vec![0u8; 1 + len];
    sock.read_exact(&mut s0s1).await.map_err(io_error)?;
    match s0s1.split_first() {
        Some((&RTMP_VERSION, s1)) => sock.write_all(s1).await?,
        s0 => {
            let v = s0.map_or(0, |(v, _)| *v);
            return Err(ClientError::Protocol(format!(
                "server handshake version {v}"
            )));
        }
    }
    let mut s2 = vec![0u8; len];
    sock.read_exact(&mut s2).await.map_err(io_error)?;
    Ok(())
}

/// The info object of an `onStatus` / `_error` (first argument, or the command object slot
/// for servers that put it there).
fn status(c: &Command, key: &str) -> Option<String> {
    let mut info = c.args.first().into_iter().chain([&c.object]);
    let info = info.find(|v| v.get("code").or(v.get("level")).is_some());
    info.and_then(|i| i.get(key))
        .and_then(Amf0Value::as_str)
        .map(str::to_string)
}

/// The reading half of a publisher: the server's chunk stream and what it asks for.
pub struct PublisherReader {
    sock: OwnedReadHalf,
    chunks: ChunkReader,
    buf: BytesMut,
    /// Bytes received since the handshake, and when the last acknowledgement was queued.
    bytes_in: u64,
    last_ack: u64,
    /// The server's window: acknowledge each time this many bytes arrived (0: never).
    window: u32,
    /// Last Window Acknowledgement Size sent (answer to Set Peer Bandwidth).
    sent_window: Option<u32>,
    /// Transaction ids whose `_error` is ignored (`releaseStream`, `FCPublish`).
    ignore_errors: Vec<f64>,
    /// Control replies for the writer, already chunked.
    replies: Arc<Mutex<BytesMut>>,
}

impl PublisherReader {
    /// Waits for and handles the next message from the server: acknowledgements, window
    /// sizes, Set Chunk Size, Abort, pings (the reply is queued for the next
    /// [`PublisherWriter::flush`]), commands and `onStatus`. Media or data from the server is
    /// ignored. `Err(Closed)` when the server closed, `Err(Refused)` on `_error` or an
    /// `onStatus` with level "error", `Err(Protocol)` on malformed data.
    ///
    /// Cancel-safe: the only await is one socket read into an internal buffer; each complete
    /// message is handled without awaiting, so dropping the future loses nothing.
    pub async fn next_event(&mut self) -> Result<(), ClientError> {
        let m = self.read_message().await?;
        if let Some(c) = self.handle(&m)? {
            let code = status(&c, "code").unwrap_or_default();
            tracing::debug!("RTMP push: server sent {} {code}", c.name);
        }
        Ok(())
    }

    /// Reads the next complete message (cancel-safe, see [`Self::next_event`]).
    async fn read_message(&mut self) -> Result<RtmpMessage, ClientError> {
        loop {
            if let Some(m) = self.chunks.read_message(&mut self.buf).map_err(protocol)? {
                return Ok(m);
            }
            self.buf.reserve(READ_SIZE);
            match self.sock.read_buf(&mut self.buf).await? {
                0 => return Err(ClientError::Closed),
                n => self.bytes_in += n as u64,
            }
            if self.window > 0 && self.bytes_in - self.last_ack >= u64::from(self.window) {
                self.last_ack = self.bytes_in;
                // The sequence number wraps like every RTMP counter.
                self.reply(msg::ACK, &msg::ack(self.bytes_in as u32))?;
            }
        }
    }

    /// Handles one message; returns it parsed when it is a command.
    fn handle(&mut self, m: &RtmpMessage) -> Result<Option<Command>, ClientError> {
        if m.msg_type != msg::COMMAND_AMF0 && m.msg_type != msg::COMMAND_AMF3 {
            self.on_control(m.msg_type, &m.payload)?;
            return Ok(None);
        }
        let c = msg::parse_command(m.msg_type, &m.payload).map_err(protocol)?;
        let error = match c.name.as_str() {
            "_error" => !self.ignore_errors.contains(&c.transaction_id),
            "onStatus" => status(&c, "level").is_some_and(|l| l == "error"),
            _ => false,
        };
        if error {
            let text = match (status(&c, "code"), status(&c, "description")) {
                (Some(code), Some(d)) => format!("{code}: {d}"),
                (code, _) => code.unwrap_or(c.name),
            };
            return Err(ClientError::Refused(text));
        }
        Ok(Some(c))
    }

    fn on_control(&mut self, msg_type: u8, payload: &[u8]) -> Result<(), ClientError> {
        match msg::parse_control(msg_type, payload) {
            Ok(Control::SetChunkSize(n)) => self.chunks.set_chunk_size(n).map_err(protocol)?,
            Ok(Control::Abort(csid)) => self.chunks.abort(csid),
            Ok(Control::WindowAckSize(n)) => self.window = n,
            Ok(Control::SetPeerBandwidth(n, _)) if self.sent_window != Some(n) => {
                // Spec 5.4.5: answer with a Window Acknowledgement Size when it differs.
                self.sent_window = Some(n);
                self.reply(msg::WINDOW_ACK_SIZE, &msg::window_ack_size(n))?;
            }
            Ok(Control::UserControl { event, data }) if event == msg::PING_REQUEST => {
                let Some(stamp) = data.first_chunk::<4>() else {
                    return Err(ClientError::Protocol("ping request without time".into()));
                };
                let pong = msg::user_control(msg::PING_RESPONSE, u32::from_be_bytes(*stamp));
                self.reply(msg::USER_CONTROL, &pong)?;
            }
            // Media, data, shared objects, aggregates: nothing a publisher needs.
            Ok(_) | Err(MessageError::NotControl(_)) => {}
            Err(e) => return Err(protocol(e)),
        }
        Ok(())
    }

    /// Queues a control message (at most 6 bytes: one chunk at any chunk size) for the writer.
    fn reply(&self, msg_type: u8, payload: &[u8]) -> Result<(), ClientError> {
        let mut q = self.replies.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() > MAX_PENDING_REPLIES {
            let e = "server keeps asking for replies that are never flushed";
            return Err(ClientError::Protocol(e.into()));
        }
        let size = chunk::DEFAULT_CHUNK_SIZE;
        chunk::write_message(&mut q, size, CSID_CONTROL, 0, msg_type, 0, payload);
        Ok(())
    }
}

/// The writing half of a publisher: a queue of chunked messages and the socket's write half.
pub struct PublisherWriter {
    sock: OwnedWriteHalf,
    /// Chunk headers and payload slices not yet written; the front may be partly written.
    queue: VecDeque<Bytes>,
    queued: usize,
    chunk_size: u32,
    stream_id: u32,
    stream: String,
    next_tid: u32,
    write_timeout: Duration,
    replies: Arc<Mutex<BytesMut>>,
}

impl PublisherWriter {
    /// Queues `@setDataFrame` + `onMetaData` + `metadata` (usually one ECMA array) as a data
    /// message at time 0. Leading `@setDataFrame` / `onMetaData` strings in `metadata` are
    /// not repeated, so the output of an `onMetaData` builder can be passed whole.
    pub fn queue_metadata(&mut self, mut metadata: &[Amf0Value]) {
        for name in ["@setDataFrame", "onMetaData"] {
            if let Some((Amf0Value::String(s), rest)) = metadata.split_first() {
                if s == name {
                    metadata = rest;
                }
            }
        }
        let names = ["@setDataFrame", "onMetaData"].map(|n| Amf0Value::String(n.into()));
        let payload = amf0::encode_all(&[&names[..], metadata].concat());
        self.queue_message(CSID_STREAM, self.stream_id, 0, msg::DATA_AMF0, &[payload]);
    }

    /// Queues one audio (8) or video (9) message whose body is the concatenation of `parts`
    /// (an FLV tag body), at `time` ms (extended timestamps are chunk.rs's business). The
    /// payload is not copied: chunks are slices of `parts`. Audio and video use their own
    /// chunk stream ids; any other type goes on the stream's data chunk stream.
    pub fn queue_media(&mut self, msg_type: u8, time: u32, parts: &[Bytes]) {
        let csid = match msg_type {
            msg::AUDIO => CSID_AUDIO,
            msg::VIDEO => CSID_VIDEO,
            _ => CSID_STREAM,
        };
        self.queue_message(csid, self.stream_id, time, msg_type, parts);
    }

    /// Writes everything queued, control replies from the reader included, with vectored
    /// writes; returns the bytes written. Bounded by the write timeout
    /// ([`DEFAULT_WRITE_TIMEOUT`] unless changed); after a timeout the connection should be
    /// dropped.
    ///
    /// Cancel-safe: the queue is advanced only by what each write reported, so a cancelled
    /// flush resumes where it stopped at the next call.
    pub async fn flush(&mut self) -> Result<u64, ClientError> {
        let replies = self
            .replies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .split();
        if !replies.is_empty() {
            self.queued += replies.len();
            self.queue.push_back(replies.freeze());
        }
        let writing = tokio::time::timeout(self.write_timeout, self.write_queue());
        writing.await.map_err(|_| ClientError::Timeout("write"))?
    }

    /// Bytes queued and not yet written (control replies count once a flush took them).
    pub fn queued_bytes(&self) -> usize {
        self.queued
    }

    /// Whether anything waits to be written (control replies included).
    pub fn has_pending(&self) -> bool {
        let replies = self.replies.lock().unwrap_or_else(PoisonError::into_inner);
        self.queued > 0 || !replies.is_empty()
    }

    /// Changes the bound on one [`Self::flush`].
    pub fn set_write_timeout(&mut self, timeout: Duration) {
        self.write_timeout = timeout;
    }

    /// Queues a message on message stream `sid`.
    fn queue_message(&mut self, csid: u32, sid: u32, time: u32, msg_type: u8, parts: &[Bytes]) {
        let pieces = chunk::chunk_message(self.chunk_size, csid, time, msg_type, sid, parts);
        self.queued += pieces.iter().map(Bytes::len).sum::<usize>();
        self.queue.extend(pieces);
    }

    /// Queues a command (on the published stream for `publish`, else on stream 0); returns
    /// its transaction id.
    fn command(&mut self, name: &str, obj: Amf0Value, args: &[Amf0Value]) -> f64 {
        let tid = f64::from(self.next_tid);
        self.next_tid += 1;
        let payload = msg::build_command(name, tid, &obj, args);
        let (csid, sid) = match name {
            "publish" => (CSID_STREAM, self.stream_id),
            _ => (CSID_COMMAND, 0),
        };
        self.queue_message(csid, sid, 0, msg::COMMAND_AMF0, &[payload]);
        tid
    }

    async fn write_queue(&mut self) -> Result<u64, ClientError> {
        let mut written = 0u64;
        while !self.queue.is_empty() {
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            for (slot, b) in iov.iter_mut().zip(&self.queue) {
                *slot = IoSlice::new(b);
            }
            let count = self.queue.len().min(MAX_IOV);
            let mut left = match self.sock.write_vectored(&iov[..count]).await? {
                0 => return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into()),
                n => n,
            };
            written += left as u64;
            self.queued = self.queued.saturating_sub(left);
            while let Some(front) = self.queue.front_mut().filter(|_| left > 0) {
                let n = front.len().min(left);
                front.advance(n);
                left -= n;
                if front.is_empty() {
                    self.queue.pop_front();
                }
            }
        }
        Ok(written)
    }
}

/// A publishing connection after `NetStream.Publish.Start`.
///
/// Reading and writing state are separate halves ([`PublisherReader`],
/// [`PublisherWriter`]), so a push loop can wait for server messages, write, and take new
/// packets in one `select!` (both [`PublisherReader::next_event`] and
/// [`PublisherWriter::flush`] are cancel-safe). Control replies (acks, pongs) queued by the
/// reader go out with the writer's next flush.
///
/// ```ignore
/// let mut publisher = RtmpPublisher::connect(&parse_url(url)?, Duration::from_secs(10)).await?;
/// publisher.queue_metadata(&[Amf0Value::EcmaArray(props)]);
/// let (events, out) = publisher.split_mut();
/// loop {
///     tokio::select! {
///         event = events.next_event() => event?,            // acks, pings, onStatus
///         written = out.flush(), if out.has_pending() => { written?; }
///         packet = packets.recv(), if out.queued_bytes() < 4 << 20 => match packet {
///             Some((msg_type, time, parts)) => out.queue_media(msg_type, time, &parts),
///             None => break,
///         },
///     }
/// }
/// publisher.close().await;
/// ```
pub struct RtmpPublisher {
    reader: PublisherReader,
    writer: PublisherWriter,
}

impl RtmpPublisher {
    /// Connects over TCP, handshakes, sends `connect` (app, tcUrl, type "nonprivate",
    /// flashVer [`FLASH_VER`]), then Set Chunk Size ([`OUT_CHUNK_SIZE`]), `releaseStream`,
    /// `FCPublish`, `createStream` and `publish(stream, "live")` on the stream id
    /// `createStream` returned, and waits for `onStatus NetStream.Publish.Start`. `_error` (but
    /// for `releaseStream` / `FCPublish`) or an `onStatus` with level "error" is
    /// [`ClientError::Refused`]. The whole exchange is bounded by `timeout`; the
    /// [`ClientError::Timeout`] names the step that did not finish.
    pub async fn connect(url: &RtmpUrl, timeout: Duration) -> Result<RtmpPublisher, ClientError> {
        let now = Instant::now();
        let deadline = now
            .checked_add(timeout)
            .unwrap_or(now + Duration::from_secs(1 << 30));
        let connecting = TcpStream::connect((url.host.as_str(), url.port));
        let mut sock = within(deadline, "TCP connect", async { Ok(connecting.await?) }).await?;
        let _ = sock.set_nodelay(true);
        within(deadline, "handshake", client_handshake(&mut sock)).await?;
        let (rd, wr) = sock.into_split();
        let replies = Arc::new(Mutex::new(BytesMut::new()));
        let reader = PublisherReader {
            sock: rd,
            chunks: ChunkReader::new(),
            buf: BytesMut::with_capacity(READ_SIZE),
            bytes_in: 0,
            last_ack: 0,
            window: 0,
            sent_window: None,
            ignore_errors: Vec::new(),
            replies: replies.clone(),
        };
        let writer = PublisherWriter {
            sock: wr,
            queue: VecDeque::new(),
            queued: 0,
            chunk_size: chunk::DEFAULT_CHUNK_SIZE,
            stream_id: 0,
            stream: url.stream.clone(),
            next_tid: 1,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            replies,
        };
        let mut p = RtmpPublisher { reader, writer };
        let s = |v: &str| Amf0Value::String(v.to_string());
        let result = |tid| move |c: &Command| c.name == "_result" && c.transaction_id == tid;
        let props = [
            ("app", &*url.app),
            ("type", "nonprivate"),
            ("flashVer", FLASH_VER),
        ];
        let props = props.into_iter().chain([("tcUrl", &*url.tc_url)]);
        let props = Amf0Value::Object(props.map(|(k, v)| (k.to_string(), s(v))).collect());
        let tid = p.writer.command("connect", props, &[]);
        within(deadline, "connect", p.exchange(result(tid))).await?;

        let w = &mut p.writer;
        let size = Bytes::copy_from_slice(&msg::set_chunk_size(OUT_CHUNK_SIZE));
        w.queue_message(CSID_CONTROL, 0, 0, msg::SET_CHUNK_SIZE, &[size]);
        w.chunk_size = OUT_CHUNK_SIZE;
        let key = [s(&url.stream)];
        let release = w.command("releaseStream", Amf0Value::Null, &key);
        let fc_publish = w.command("FCPublish", Amf0Value::Null, &key);
        let create = w.command("createStream", Amf0Value::Null, &[]);
        p.reader.ignore_errors = vec![release, fc_publish];
        let created = within(deadline, "createStream", p.exchange(result(create))).await?;
        let id = created.args.first().and_then(Amf0Value::as_f64);
        let id = id.or(created.object.as_f64());
        let valid = |id: &f64| id.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(id);
        let Some(id) = id.filter(valid) else {
            let e = "createStream result without a valid stream id";
            return Err(ClientError::Protocol(e.into()));
        };
        p.writer.stream_id = id as u32;
        let publish = [s(&url.stream), s("live")];
        p.writer.command("publish", Amf0Value::Null, &publish);
        let started = |c: &Command| {
            c.name == "onStatus" && status(c, "code").as_deref() == Some("NetStream.Publish.Start")
        };
        within(deadline, "publish", p.exchange(started)).await?;
        Ok(p)
    }

    /// Sends what is queued, then handles server messages (flushing replies) until the
    /// wanted one.
    async fn exchange(&mut self, want: impl Fn(&Command) -> bool) -> Result<Command, ClientError> {
        self.writer.flush().await?;
        loop {
            let m = self.reader.read_message().await?;
            let command = self.reader.handle(&m)?;
            self.writer.flush().await?;
            if let Some(c) = command.filter(&want) {
                return Ok(c);
            }
        }
    }

    /// Both halves, to be used in one `select!` (see the type's documentation).
    pub fn split_mut(&mut self) -> (&mut PublisherReader, &mut PublisherWriter) {
        (&mut self.reader, &mut self.writer)
    }

    /// See [`PublisherWriter::queue_metadata`].
    pub fn queue_metadata(&mut self, metadata: &[Amf0Value]) {
        self.writer.queue_metadata(metadata);
    }

    /// See [`PublisherWriter::queue_media`].
    pub fn queue_media(&mut self, msg_type: u8, time: u32, parts: &[Bytes]) {
        self.writer.queue_media(msg_type, time, parts);
    }

    /// See [`PublisherWriter::flush`].
    pub async fn flush(&mut self) -> Result<u64, ClientError> {
        self.writer.flush().await
    }

    /// See [`PublisherReader::next_event`]; the replies it queues go out with the next
    /// [`Self::flush`].
    pub async fn next_event(&mut self) -> Result<(), ClientError> {
        self.reader.next_event().await
    }

    /// The message stream id from `createStream`, used for `publish` and media.
    pub fn stream_id(&self) -> u32 {
        self.writer.stream_id
    }

    /// See [`PublisherWriter::queued_bytes`].
    pub fn queued_bytes(&self) -> usize {
        self.writer.queued
    }

    /// Polite end: `FCUnpublish` and `deleteStream`, flush, shut down the sending side, then
    /// read until the server closes (so unread data does not turn the close into a reset
    /// that could cost the server the tail of the stream). Bounded by [`CLOSE_TIMEOUT`];
    /// errors are ignored.
    pub async fn close(self) {
        let (mut reader, mut writer) = (self.reader, self.writer);
        let polite = async move {
            let key = [Amf0Value::String(writer.stream.clone())];
            writer.command("FCUnpublish", Amf0Value::Null, &key);
            let sid = [Amf0Value::Number(f64::from(writer.stream_id))];
            writer.command("deleteStream", Amf0Value::Null, &sid);
            if writer.flush().await.is_ok() {
                let _ = writer.sock.shutdown().await;
                let mut scratch = [0u8; 4096];
                while let Ok(1..) = reader.sock.read(&mut scratch).await {}
            }
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, polite).await;
    }
}

#[cfg(test)]
mod tests;
