//! One RTMP connection: handshake, the NetConnection commands, then publishing ([`super::ingest`])
//! or playing ([`super::play`]).
//!
//! Anything malformed (bad handshake, broken chunk stream, undecodable AMF command, limits
//! exceeded) closes this connection with one log line; nothing a peer sends reaches another
//! connection. The handshake must finish within 10 s, and a connection that sends nothing for
//! 30 s before or while publishing is closed.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::chunk::{self, ChunkError, ChunkReader, RtmpMessage};
use super::handshake::{self, HandshakeError};
use super::ingest::Ingest;
use super::message::{self as msg, Command, Control, MessageError};
use crate::hub::{PlayRange, PublishRequest, StreamError};
use crate::media::amf0::Amf0Value;
use crate::protocols::write::write_all_within;
use crate::protocols::{ListenerContext, OFFLINE_WAIT, VIEWER_WRITE_TIMEOUT};

/// Chunk size Eddy sends with (announced right after `connect`).
pub const OUT_CHUNK_SIZE: u32 = 60_000;
/// Window acknowledgement size and peer bandwidth Eddy announces.
const WINDOW: u32 = 2_500_000;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that sends nothing for this long before playing, or while publishing, is closed.
pub const INPUT_TIMEOUT: Duration = Duration::from_secs(30);

/// Chunk stream ids Eddy sends on.
pub const CSID_CONTROL: u32 = 2;
pub const CSID_COMMAND: u32 = 3;
pub const CSID_AUDIO: u32 = 4;
pub const CSID_STATUS: u32 = 5;
pub const CSID_VIDEO: u32 = 6;

/// Why a connection ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("broken chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    #[error("bad message: {0}")]
    Message(#[from] MessageError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no data for {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Refused(String),
}

/// Serves one accepted connection.
pub async fn serve(
    sock: TcpStream,
    peer: SocketAddr,
    ctx: ListenerContext,
    stop: watch::Receiver<bool>,
) {
    let mut conn = Conn::new(peer, ctx);
    match conn.run(sock, stop).await {
        Ok(()) => tracing::debug!("RTMP {peer}: closed"),
        Err(ConnError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            tracing::debug!("RTMP {peer}: peer went away")
        }
        Err(e) => tracing::warn!(kind = "ACCS", "RTMP {peer}: {e}; connection closed"),
    }
}

/// The connection's state.
pub struct Conn {
    pub peer: SocketAddr,
    pub ctx: ListenerContext,
    reader: ChunkReader,
    rbuf: BytesMut,
    /// Bytes waiting to be written.
    out: BytesMut,
    out_chunk_size: u32,
    /// The application name from `connect` (the passphrase for publishing).
    app: String,
    /// The `tcUrl` from `connect` (for trigger payloads).
    tc_url: String,
    /// The session of a publish in progress.
    input_session: Option<crate::hub::session::SessionConn>,
    /// `bytes_in` already counted to the input session.
    bytes_counted: u64,
    object_encoding: f64,
    bytes_in: u64,
    last_ack: u64,
    /// The peer's window: acknowledge each time this many bytes arrived.
    peer_window: u32,
    next_stream_id: u32,
    /// Room made in `rbuf` before each read: 4 KiB for publishers and commands, less for a
    /// viewer, which sends only acknowledgements and the odd command while it plays.
    read_reserve: usize,
}

/// What a command asks the connection to do next.
enum Next {
    Continue,
    Publish(Box<Ingest>),
    /// Play `name`; an on-demand stream from `range` (the `play` command's start, when ≥ 0).
    Play {
        name: String,
        stream_id: u32,
        range: PlayRange,
    },
    Close,
}

impl Conn {
    fn new(peer: SocketAddr, ctx: ListenerContext) -> Self {
        Conn {
            peer,
            ctx,
            reader: ChunkReader::new(),
            rbuf: BytesMut::with_capacity(4096),
            out: BytesMut::with_capacity(1024),
            out_chunk_size: 128,
            app: String::new(),
            tc_url: String::new(),
            input_session: None,
            bytes_counted: 0,
            object_encoding: 0.0,
            bytes_in: 0,
            last_ack: 0,
            peer_window: 0,
            next_stream_id: 1,
            read_reserve: 4096,
        }
    }

    async fn run(
        &mut self,
        mut sock: TcpStream,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), ConnError> {
        tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake_server(&mut sock))
            .await
            .map_err(|_| ConnError::Timeout(HANDSHAKE_TIMEOUT))??;
        let mut ingest: Option<Box<Ingest>> = None;
        loop {
            let mut input_rx = self.input_session.as_ref().map(|s| s.stop.clone());
            let input_stop = async {
                match input_rx.as_mut() {
                    Some(rx) => crate::hub::session::stopped(rx).await,
                    None => std::future::pending().await,
                }
            };
            // A message already in the read buffer first; before waiting for the socket, a
            // publish lets its viewers see what this read brought.
            let message = match self.reader.read_message(&mut self.rbuf)? {
                Some(m) => Some(m),
                None => {
                    if let Some(i) = &ingest {
                        i.wake_viewers();
                    }
                    tokio::select! {
                        _ = stop.changed() => return Ok(()),
                        _ = input_stop => return Err(ConnError::Refused("input session stopped".into())),
                        m = self.read_message(&mut sock, Some(INPUT_TIMEOUT)) => m?,
                    }
                }
            };
            let Some(message) = message else {
                return Ok(());
            };
            if let Some(session) = &self.input_session {
                // The publisher's bytes, as read off the socket, for its input session.
                let media = matches!(message.msg_type, msg::AUDIO | msg::VIDEO);
                let new = self.bytes_in - self.bytes_counted;
                self.bytes_counted = self.bytes_in;
                session.counters.received(
                    new,
                    u64::from(media),
                    media.then_some(i64::from(message.timestamp)),
                );
            }
            match message.msg_type {
                msg::AUDIO | msg::VIDEO | msg::DATA_AMF0 | msg::DATA_AMF3 | msg::AGGREGATE => {
                    match ingest.as_mut() {
                        Some(i) => i
                            .on_message(&message)
                            .map_err(|e| ConnError::Refused(e.to_string()))?,
                        None if message.msg_type == msg::DATA_AMF0
                            || message.msg_type == msg::DATA_AMF3 => {}
                        None => tracing::debug!("RTMP {}: media before publish ignored", self.peer),
                    }
                }
                msg::COMMAND_AMF0 | msg::COMMAND_AMF3 => {
                    let command = msg::parse_command(message.msg_type, &message.payload)?;
                    // Boxed: commands await the hub and triggers, whose futures are several
                    // KiB; inline they would size every viewer's task for its whole life.
                    match Box::pin(self.on_command(&command, message.stream_id, ingest.is_some()))
                        .await?
                    {
                        Next::Continue => {}
                        Next::Publish(i) => ingest = Some(i),
                        Next::Play {
                            name,
                            stream_id,
                            range,
                        } => {
                            self.flush(&mut sock).await?;
                            let play = super::play::Play {
                                name: &name,
                                stream_id,
                                range,
                            };
                            return super::play::run(self, sock, play, stop).await;
                        }
                        Next::Close => {
                            self.flush(&mut sock).await?;
                            return Ok(());
                        }
                    }
                }
                t => self.on_control(t, &message.payload)?,
            }
            self.flush(&mut sock).await?;
        }
    }

    /// Reads the next complete message; `Ok(None)` when the peer closed between messages.
    /// With `limit`, a peer that sends nothing for that long is an error.
    pub async fn read_message<R: tokio::io::AsyncRead + Unpin>(
        &mut self,
        sock: &mut R,
        limit: Option<Duration>,
    ) -> Result<Option<RtmpMessage>, ConnError> {
        loop {
            if let Some(m) = self.reader.read_message(&mut self.rbuf)? {
                return Ok(Some(m));
            }
            self.rbuf.reserve(self.read_reserve);
            let n = match limit {
                Some(limit) => tokio::time::timeout(limit, sock.read_buf(&mut self.rbuf))
                    .await
                    .map_err(|_| ConnError::Timeout(limit))??,
                None => sock.read_buf(&mut self.rbuf).await?,
            };
            if n == 0 {
                return if self.rbuf.is_empty() {
                    Ok(None)
                } else {
                    Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into())
                };
            }
            self.bytes_in += n as u64;
            if self.peer_window > 0 && self.bytes_in - self.last_ack >= u64::from(self.peer_window)
            {
                self.last_ack = self.bytes_in;
                let ack = msg::ack(self.bytes_in as u32);
                self.send(CSID_CONTROL, 0, msg::ACK, 0, &ack);
            }
        }
    }

    /// Handles a protocol control or user control message.
    pub fn on_control(&mut self, msg_type: u8, payload: &[u8]) -> Result<(), ConnError> {
        match msg::parse_control(msg_type, payload) {
            Ok(Control::SetChunkSize(n)) => self.reader.set_chunk_size(n)?,
            Ok(Control::Abort(csid)) => self.reader.abort(csid),
            Ok(Control::WindowAckSize(n)) => self.peer_window = n,
            Ok(Control::UserControl { event, data }) if event == msg::PING_REQUEST => {
                let mut reply = Vec::with_capacity(6);
                reply.extend_from_slice(&msg::PING_RESPONSE.to_be_bytes());
                reply.extend_from_slice(&data);
                self.send(CSID_CONTROL, 0, msg::USER_CONTROL, 0, &reply);
            }
            Ok(_) => {}
            // Unknown message types (shared objects and the like) are not ours to judge.
            Err(MessageError::NotControl(_)) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Queues a message for sending.
    pub fn send(
        &mut self,
        csid: u32,
        timestamp: u32,
        msg_type: u8,
        stream_id: u32,
        payload: &[u8],
    ) {
        chunk::write_message(
            &mut self.out,
            self.out_chunk_size,
            csid,
            timestamp,
            msg_type,
            stream_id,
            payload,
        );
    }

    /// Queues a command or data message of AMF0 values.
    pub fn send_amf(&mut self, csid: u32, msg_type: u8, stream_id: u32, values: &[Amf0Value]) {
        let payload = crate::media::amf0::encode_all(values);
        self.send(csid, 0, msg_type, stream_id, &payload);
    }

    /// Queues an `onStatus` event.
    pub fn send_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        let info = Amf0Value::Object(vec![
            ("level".into(), Amf0Value::String(level.into())),
            ("code".into(), Amf0Value::String(code.into())),
            ("description".into(), Amf0Value::String(description.into())),
        ]);
        self.send_amf(
            CSID_STATUS,
            msg::COMMAND_AMF0,
            stream_id,
            &[
                Amf0Value::String("onStatus".into()),
                Amf0Value::Number(0.0),
                Amf0Value::Null,
                info,
            ],
        );
    }

    /// Writes everything queued; a peer that takes nothing for [`VIEWER_WRITE_TIMEOUT`] gets a
    /// `TimedOut` error (and the connection ends).
    pub async fn flush<W: tokio::io::AsyncWrite + Unpin>(
        &mut self,
        sock: &mut W,
    ) -> std::io::Result<()> {
        if !self.out.is_empty() {
            let data = self.out.split().freeze();
            write_all_within(sock, &[data], VIEWER_WRITE_TIMEOUT).await?;
        }
        Ok(())
    }

    /// From now on the peer only plays: its read buffer shrinks to what acknowledgements need
    /// (it grows again for a larger message).
    pub fn now_playing(&mut self) {
        self.read_reserve = 256;
        if self.rbuf.is_empty() {
            self.rbuf = BytesMut::new();
        }
    }

    /// The URL a client asked for, from `tcUrl` and a stream name.
    pub fn url_for(&self, name: &str) -> String {
        format!("{}/{name}", self.tc_url.trim_end_matches('/'))
    }

    /// Takes what is queued, to be written along with other buffers.
    pub fn take_pending(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    fn result(&mut self, tid: f64, values: Vec<Amf0Value>) {
        if tid == 0.0 {
            return;
        }
        let mut all = vec![Amf0Value::String("_result".into()), Amf0Value::Number(tid)];
        all.extend(values);
        self.send_amf(CSID_COMMAND, msg::COMMAND_AMF0, 0, &all);
    }

    async fn on_command(
        &mut self,
        c: &Command,
        stream_id: u32,
        publishing: bool,
    ) -> Result<Next, ConnError> {
        match c.name.as_str() {
            "connect" => {
                self.tc_url = c
                    .object
                    .get("tcUrl")
                    .and_then(Amf0Value::as_str)
                    .unwrap_or("")
                    .to_string();
                self.app = c
                    .object
                    .get("app")
                    .and_then(Amf0Value::as_str)
                    .unwrap_or("")
                    .trim_matches('/')
                    .to_string();
                self.object_encoding = c
                    .object
                    .get("objectEncoding")
                    .and_then(Amf0Value::as_f64)
                    .unwrap_or(0.0);
                self.send(
                    CSID_CONTROL,
                    0,
                    msg::WINDOW_ACK_SIZE,
                    0,
                    &msg::window_ack_size(WINDOW),
                );
                self.send(
                    CSID_CONTROL,
                    0,
                    msg::SET_PEER_BANDWIDTH,
                    0,
                    &msg::set_peer_bandwidth(WINDOW, 2),
                );
                self.send(
                    CSID_CONTROL,
                    0,
                    msg::SET_CHUNK_SIZE,
                    0,
                    &msg::set_chunk_size(OUT_CHUNK_SIZE),
                );
                self.out_chunk_size = OUT_CHUNK_SIZE;
                let props = Amf0Value::Object(vec![
                    ("fmsVer".into(), Amf0Value::String("FMS/3,5,7,7009".into())),
                    ("capabilities".into(), Amf0Value::Number(31.0)),
                    ("mode".into(), Amf0Value::Number(1.0)),
                ]);
                let info = Amf0Value::Object(vec![
                    ("level".into(), Amf0Value::String("status".into())),
                    (
                        "code".into(),
                        Amf0Value::String("NetConnection.Connect.Success".into()),
                    ),
                    (
                        "description".into(),
                        Amf0Value::String("Connection succeeded.".into()),
                    ),
                    (
                        "objectEncoding".into(),
                        Amf0Value::Number(self.object_encoding),
                    ),
                ]);
                self.result(c.transaction_id, vec![props, info]);
            }
            "createStream" => {
                let id = self.next_stream_id;
                self.next_stream_id = self.next_stream_id.saturating_add(1);
                self.result(
                    c.transaction_id,
                    vec![Amf0Value::Null, Amf0Value::Number(f64::from(id))],
                );
            }
            "releaseStream" | "FCPublish" | "getStreamLength" | "_checkbw" => {
                self.result(
                    c.transaction_id,
                    vec![Amf0Value::Null, Amf0Value::Undefined],
                );
            }
            "publish" => {
                if publishing {
                    return Err(ConnError::Refused(
                        "a second publish on one connection".into(),
                    ));
                }
                let raw = c.args.first().and_then(Amf0Value::as_str).unwrap_or("");
                let mut url = format!("{}/{raw}", self.tc_url.trim_end_matches('/'));
                let mut passphrase = self.app.clone();
                let mut key = stream_key(raw);
                // RTMP_PUSH_REWRITE (manual §4.4.16): the answer is the URL to use instead.
                let host = self.peer.ip().to_string();
                if self.ctx.hub.triggers().configured("RTMP_PUSH_REWRITE", "") {
                    let out = self
                        .ctx
                        .hub
                        .triggers()
                        .fire("RTMP_PUSH_REWRITE", "", &[&url, &host])
                        .await;
                    let new_url = out.answer.unwrap_or_default().trim().to_string();
                    if new_url.is_empty() {
                        self.send_status(
                            stream_id,
                            "error",
                            "NetStream.Publish.Denied",
                            "Push refused",
                        );
                        return Err(ConnError::Refused(format!(
                            "RTMP_PUSH_REWRITE refused {url:?}"
                        )));
                    }
                    let mut parts = new_url.rsplitn(3, '/');
                    key = stream_key(parts.next().unwrap_or(""));
                    passphrase = parts.next().unwrap_or("").to_string();
                    url = new_url;
                }
                let request = PublishRequest {
                    name: key,
                    passphrase,
                    peer: self.peer.ip(),
                    protocol: "RTMP",
                    url: url.clone(),
                };
                match self.ctx.hub.publish(request).await {
                    Ok((name, publisher)) => {
                        // An input session, so stop_sessions INPUT and stop_sessid reach it.
                        let info = crate::hub::session::ConnInfo {
                            stream: name.clone(),
                            ip: self.peer.ip(),
                            token: uuid::Uuid::new_v4().simple().to_string(),
                            protocol: "RTMP",
                            url: url.clone(),
                            kind: crate::hub::session::SessionKind::Input,
                        };
                        self.input_session = self.ctx.hub.admit(info).await.ok();
                        self.send_status(
                            stream_id,
                            "status",
                            "NetStream.Publish.Start",
                            &format!("Publishing {name}."),
                        );
                        return Ok(Next::Publish(Box::new(Ingest::new(name, publisher))));
                    }
                    Err(e) => {
                        let code = match e {
                            StreamError::AlreadyPublishing(_) => "NetStream.Publish.BadName",
                            _ => "NetStream.Publish.Denied",
                        };
                        self.send_status(stream_id, "error", code, &e.to_string());
                        return Err(ConnError::Refused(format!(
                            "publish of {raw:?} refused: {e}"
                        )));
                    }
                }
            }
            "play" => {
                let raw = c.args.first().and_then(Amf0Value::as_str).unwrap_or("");
                // play(name, start, duration, reset): a start of 0 or more is a position in a
                // recorded stream (-2 and -1 mean live), in ms.
                let start = c.args.get(1).and_then(Amf0Value::as_f64);
                let range = match start {
                    Some(ms) if ms > 0.0 => PlayRange::from(ms as i64),
                    _ => PlayRange::ALL,
                };
                return Ok(Next::Play {
                    name: stream_key(raw),
                    stream_id,
                    range,
                });
            }
            "FCUnpublish" | "deleteStream" | "closeStream" => {
                if publishing {
                    tracing::debug!("RTMP {}: {} ends the publish", self.peer, c.name);
                    return Ok(Next::Close);
                }
            }
            other => tracing::debug!("RTMP {}: ignored command {other:?}", self.peer),
        }
        Ok(Next::Continue)
    }

    /// Opens `name` for playing (an on-demand stream: `range` of it), reporting failure to the
    /// client as `onStatus`.
    pub async fn open_play(
        &mut self,
        name: &str,
        stream_id: u32,
        range: PlayRange,
    ) -> Result<(String, crate::hub::Subscription), ConnError> {
        let url = format!("{}/{name}", self.tc_url.trim_end_matches('/'));
        match self
            .ctx
            .hub
            .play(name, "RTMP", (self.peer.ip(), &url), range, OFFLINE_WAIT)
            .await
        {
            Ok(s) => Ok(s),
            Err(e) => {
                self.send_status(
                    stream_id,
                    "error",
                    "NetStream.Play.StreamNotFound",
                    &e.to_string(),
                );
                Err(ConnError::Refused(format!("play of {name:?} refused: {e}")))
            }
        }
    }
}

/// The stream name from a publish or play name: URL-decoded, without `?parameters`, cut at the
/// first `/` (facts §4). `mp4:name` style prefixes are dropped.
pub fn stream_key(raw: &str) -> String {
    let decoded = crate::protocols::http::percent_decode(raw);
    let name = decoded.split('?').next().unwrap_or("");
    let name = name.split('/').next().unwrap_or("");
    match name.split_once(':') {
        Some((prefix, rest)) if ["mp4", "flv", "mp3", "f4v"].contains(&prefix) => rest.to_string(),
        _ => name.to_string(),
    }
}

async fn handshake_server(sock: &mut TcpStream) -> Result<(), ConnError> {
    let mut buf = vec![0u8; handshake::C0C1_LEN];
    sock.read_exact(&mut buf).await?;
    let response = handshake::server_response(&buf)?;
    sock.write_all(&response).await?;
    drop(response);
    // C2 goes into C0C1's buffer: a connection's first moments leave fewer holes in the heap.
    sock.read_exact(&mut buf[..handshake::C2_LEN]).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn flush_gives_up_on_a_peer_that_takes_nothing() {
        let (_, hub) = crate::hub::fake::FakeHub::new();
        let ctx = ListenerContext::new(hub, tokio::runtime::Handle::current());
        let mut conn = Conn::new("127.0.0.1:1".parse().expect("addr"), ctx);
        conn.send(CSID_COMMAND, 0, msg::COMMAND_AMF0, 0, &[0u8; 4096]);
        // A peer whose receive window is 16 bytes and that never reads.
        let (mut ours, _theirs) = tokio::io::duplex(16);
        let err = conn.flush(&mut ours).await.expect_err("times out");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }

    #[test]
    fn stream_keys() {
        assert_eq!(stream_key("live"), "live");
        assert_eq!(stream_key("live?key=1"), "live");
        assert_eq!(stream_key("live+cam%201"), "live+cam 1");
        assert_eq!(stream_key("a/b"), "a");
        assert_eq!(stream_key("mp4:clip"), "clip");
        assert_eq!(stream_key(""), "");
    }
}
