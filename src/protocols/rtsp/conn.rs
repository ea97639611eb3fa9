//! One RTSP connection: the requests before media flows (OPTIONS, DESCRIBE, ANNOUNCE, SETUP),
//! then [`super::play`] after PLAY or [`super::record`] after RECORD, which keep answering
//! requests (GET_PARAMETER keep-alives, PAUSE, TEARDOWN) on the same socket.
//!
//! - DESCRIBE admits the viewer's session (USER_NEW decides, as for any viewer) and subscribes
//!   to the stream (a configured stream starts on demand), then answers the SDP of the tracks
//!   RTP carries, after `?audio=`/`?video=` choices.
//! - ANNOUNCE publishes into the stream named by the URL with the passphrase in its query
//!   (`?pass=`), under the same `push://` rules as RTMP; the SDP's tracks go into the buffer.
//! - SETUP takes RTP/AVP/TCP (interleaved channels, chosen by the server when the client names
//!   none) or RTP/AVP over UDP (a socket pair per media, [`super::udp`]).
//! - Before PLAY/RECORD a connection that says nothing for [`IDLE`] is closed; requests and
//!   frames are bounded by [`super::message`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::message::{self, Incoming, MessageError, Request, Response, Transport};
use super::udp::UdpPair;
use super::url::RtspUrl;
use crate::hub::session::{ConnInfo, SessionConn, SessionKind};
use crate::hub::{PlayRange, PublishRequest, Publisher, StreamError, Subscription};
use crate::media::sdp::{self, SdpMedia, SessionInfo};
use crate::protocols::track_select::{Fill, TrackSelector};
use crate::protocols::{write_all_within, ListenerContext, OFFLINE_WAIT, VIEWER_WRITE_TIMEOUT};

/// A connection that sends nothing for this long before media flows is closed.
pub const IDLE: Duration = Duration::from_secs(60);
/// The session time-out announced (`Session: id;timeout=`), s.
pub const SESSION_TIMEOUT: u64 = 60;
/// The methods Eddy answers.
const PUBLIC: &str =
    "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, PAUSE, RECORD, TEARDOWN, GET_PARAMETER, SET_PARAMETER";

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Message(#[from] MessageError),
    #[error("{0}")]
    Refused(String),
}

/// Runs one connection to its end.
pub async fn serve(
    sock: TcpStream,
    peer: SocketAddr,
    ctx: ListenerContext,
    stop: watch::Receiver<bool>,
) {
    let local = sock
        .local_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let mut conn = Conn::new(peer, local, ctx);
    match conn.run(sock, stop).await {
        Ok(()) => tracing::debug!("RTSP {peer}: closed"),
        Err(ConnError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            tracing::debug!("RTSP {peer}: peer went away")
        }
        Err(e) => tracing::warn!(kind = "ACCS", "RTSP {peer}: {e}; connection closed"),
    }
}

/// One media being sent to a viewer.
pub struct MediaOut {
    pub media: SdpMedia,
    pub transport: Transport,
    /// For UDP: the sockets and where the client listens (RTP, RTCP).
    pub udp: Option<(UdpPair, SocketAddr, SocketAddr)>,
}

/// What DESCRIBE and SETUP prepared for PLAY.
pub struct PlaySetup {
    pub name: String,
    /// The request URL without its query, ending in `/` (Content-Base).
    pub base: String,
    pub sub: Subscription,
    pub session: SessionConn,
    /// Every media of the SDP.
    pub media: Vec<SdpMedia>,
    /// The media SETUP chose, in SETUP order.
    pub outs: Vec<MediaOut>,
}

/// One media being received from a publisher.
pub struct MediaIn {
    pub media: SdpMedia,
    pub transport: Option<Transport>,
    pub udp: Option<UdpPair>,
}

/// What ANNOUNCE and SETUP prepared for RECORD.
pub struct RecordSetup {
    pub name: String,
    pub publisher: Publisher,
    pub session: Option<SessionConn>,
    pub media: Vec<MediaIn>,
}

/// What a request leads to.
pub enum Next {
    Continue,
    Close,
    /// Start playing; the PLAY request is answered by the player (it knows the RTP-Info).
    Play(Request),
    Record,
}

/// The connection's state.
pub struct Conn {
    pub peer: SocketAddr,
    pub local: IpAddr,
    pub ctx: ListenerContext,
    pub rbuf: BytesMut,
    pub session_id: Option<String>,
    pub play: Option<PlaySetup>,
    pub record: Option<RecordSetup>,
}

impl Conn {
    fn new(peer: SocketAddr, local: IpAddr, ctx: ListenerContext) -> Conn {
        Conn {
            peer,
            local,
            ctx,
            rbuf: BytesMut::with_capacity(4096),
            session_id: None,
            play: None,
            record: None,
        }
    }

    async fn run(
        &mut self,
        mut sock: TcpStream,
        stop: watch::Receiver<bool>,
    ) -> Result<(), ConnError> {
        let mut stop_rx = stop.clone();
        loop {
            while let Some(incoming) = self.take()? {
                let Incoming::Request(req) = incoming else {
                    continue;
                };
                let (resp, next) = self.handle(&req).await;
                match next {
                    Next::Play(req) => return super::play::run(self, sock, stop, req).await,
                    next => {
                        self.respond(&mut sock, &req, resp).await?;
                        match next {
                            Next::Close => return Ok(()),
                            Next::Record => return super::record::run(self, sock, stop).await,
                            _ => {}
                        }
                    }
                }
            }
            let read = tokio::select! {
                _ = stop_rx.changed() => return Ok(()),
                r = tokio::time::timeout(IDLE, sock.read_buf(&mut self.rbuf)) => r,
            };
            match read {
                Err(_) => return Err(ConnError::Refused(format!("nothing for {IDLE:?}"))),
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
            }
        }
    }

    /// The next complete message in the read buffer.
    pub fn take(&mut self) -> Result<Option<Incoming>, MessageError> {
        match message::next(&mut self.rbuf)? {
            Incoming::Partial => Ok(None),
            other => Ok(Some(other)),
        }
    }

    /// Writes the answer to `req` (with its CSeq and the session).
    pub async fn respond<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        w: &mut W,
        req: &Request,
        resp: Response,
    ) -> Result<(), ConnError> {
        let resp = match &self.session_id {
            Some(id) if resp.code() < 300 => {
                resp.header("Session", format!("{id};timeout={SESSION_TIMEOUT}"))
            }
            _ => resp,
        };
        let bytes = resp.to_bytes(req.cseq());
        write_all_within(w, &[bytes], VIEWER_WRITE_TIMEOUT).await?;
        Ok(())
    }

    /// Answers a request made before media flows.
    pub async fn handle(&mut self, req: &Request) -> (Response, Next) {
        let ok = || Response::new(200);
        match req.method.as_str() {
            "OPTIONS" => (ok().header("Public", PUBLIC), Next::Continue),
            "DESCRIBE" => (self.describe(req).await, Next::Continue),
            "ANNOUNCE" => (self.announce(req).await, Next::Continue),
            "SETUP" => (self.setup(req).await, Next::Continue),
            "PLAY" if self.play.as_ref().is_some_and(|p| !p.outs.is_empty()) => {
                (ok(), Next::Play(req.clone()))
            }
            "RECORD"
                if self
                    .record
                    .as_ref()
                    .is_some_and(|r| r.media.iter().any(|m| m.transport.is_some())) =>
            {
                (ok(), Next::Record)
            }
            "PLAY" | "RECORD" | "PAUSE" => (Response::new(455), Next::Continue),
            "TEARDOWN" => (ok(), Next::Close),
            "GET_PARAMETER" | "SET_PARAMETER" => (ok(), Next::Continue),
            _ => (Response::new(501).header("Public", PUBLIC), Next::Continue),
        }
    }

    fn url_of(&self, req: &Request) -> Result<RtspUrl, Response> {
        RtspUrl::parse(&req.url).ok_or_else(|| Response::new(404))
    }

    async fn describe(&mut self, req: &Request) -> Response {
        let url = match self.url_of(req) {
            Ok(u) => u,
            Err(r) => return r,
        };
        let name = crate::stream_name::sanitize(&url.stream);
        let info = ConnInfo {
            stream: name.clone(),
            ip: self.peer.ip(),
            token: uuid::Uuid::new_v4().simple().to_string(),
            protocol: "RTSP",
            url: req.url.clone(),
            kind: SessionKind::Viewer,
        };
        let session = match self.ctx.hub.admit(info).await {
            Ok(s) => s,
            Err(e) => {
                tracing::info!(kind = "ACCS", "RTSP {}: {name}: {e}", self.peer);
                return Response::new(403);
            }
        };
        let opened = self
            .ctx
            .hub
            .play(
                &url.stream,
                "RTSP",
                (self.peer.ip(), &req.url),
                PlayRange::ALL,
                OFFLINE_WAIT,
            )
            .await;
        let (name, sub) = match opened {
            Ok(s) => s,
            Err(e) => {
                tracing::info!(kind = "ACCS", "RTSP {}: DESCRIBE {name}: {e}", self.peer);
                return Response::new(stream_error_code(&e));
            }
        };
        let selector = TrackSelector::from_query(&url.query);
        // One track of each kind by default, as RTMP and FLV; RTP carries each in its own
        // media, so `?audio=all` gives every audio track.
        let carried: Vec<crate::media::Track> = sub
            .reader
            .buffer()
            .meta()
            .tracks
            .iter()
            .filter(|t| t.codec.is_some_and(crate::media::rtp::carries))
            .cloned()
            .collect();
        let tracks = selector.select(&carried, Fill::First);
        let session_info = SessionInfo {
            name: name.clone(),
            origin: self.local.to_string(),
            connection: if self.local.is_ipv6() {
                "::"
            } else {
                "0.0.0.0"
            }
            .to_string(),
        };
        let (text, media) = sdp::describe(&session_info, &tracks);
        if media.is_empty() {
            tracing::info!(
                kind = "ACCS",
                "RTSP {}: {name} has no track RTP carries",
                self.peer
            );
            return Response::new(415);
        }
        let base = content_base(&req.url);
        self.play = Some(PlaySetup {
            name,
            base: base.clone(),
            sub,
            session,
            media,
            outs: Vec::new(),
        });
        Response::new(200)
            .header("Content-Base", base)
            .body("application/sdp", text)
    }

    async fn announce(&mut self, req: &Request) -> Response {
        let url = match self.url_of(req) {
            Ok(u) => u,
            Err(r) => return r,
        };
        let text = String::from_utf8_lossy(&req.body);
        let parsed = match sdp::parse(&text) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(
                    kind = "ACCS",
                    "RTSP {}: ANNOUNCE with a bad SDP: {e}",
                    self.peer
                );
                return Response::new(400);
            }
        };
        if parsed.media.is_empty() {
            tracing::warn!(
                kind = "ACCS",
                "RTSP {}: ANNOUNCE with no media Eddy reads ({})",
                self.peer,
                parsed.skipped.join(", ")
            );
            return Response::new(415);
        }
        let request = PublishRequest {
            name: url.stream.clone(),
            passphrase: url.passphrase(),
            peer: self.peer.ip(),
            protocol: "RTSP",
            url: req.url.clone(),
        };
        let (name, publisher) = match self.ctx.hub.publish(request).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(
                    kind = "ACCS",
                    "RTSP {}: publish of {:?} refused: {e}",
                    self.peer,
                    url.stream
                );
                return Response::new(stream_error_code(&e));
            }
        };
        for m in &parsed.media {
            let ready = !m.track.init.is_empty() || !needs_init(&m.track);
            if ready
                && publisher
                    .buffer
                    .set_track(publisher.token, m.track.clone())
                    .is_err()
            {
                return Response::new(503);
            }
        }
        if !parsed.skipped.is_empty() {
            tracing::warn!(
                kind = "STRM",
                stream = name.as_str(),
                "RTSP publish of {name}: left out {}",
                parsed.skipped.join(", ")
            );
        }
        let info = ConnInfo {
            stream: name.clone(),
            ip: self.peer.ip(),
            token: uuid::Uuid::new_v4().simple().to_string(),
            protocol: "RTSP",
            url: req.url.clone(),
            kind: SessionKind::Input,
        };
        let session = self.ctx.hub.admit(info).await.ok();
        tracing::info!(
            kind = "STRM",
            stream = name.as_str(),
            "RTSP publishing {name} from {}",
            self.peer
        );
        self.record = Some(RecordSetup {
            name,
            publisher,
            session,
            media: parsed
                .media
                .into_iter()
                .map(|media| MediaIn {
                    media,
                    transport: None,
                    udp: None,
                })
                .collect(),
        });
        Response::new(200)
    }

    async fn setup(&mut self, req: &Request) -> Response {
        let Some((asked, _record)) = req.header("Transport").and_then(message::parse_transport)
        else {
            return Response::new(461);
        };
        let control = RtspUrl::parse(&req.url).and_then(|u| u.control);
        if self.session_id.is_none() {
            self.session_id = Some(format!("{:016x}", rand_u64()));
        }
        // Which media, and how many were set up before it (for the default channels).
        let (i, n) = if let Some(rec) = &self.record {
            match find_media(rec.media.iter().map(|m| &m.media), control.as_deref()) {
                Some(i) => (i, i),
                None => return Response::new(404),
            }
        } else if let Some(play) = &self.play {
            let Some(i) = find_media(play.media.iter(), control.as_deref()) else {
                return Response::new(404);
            };
            if play
                .outs
                .iter()
                .any(|o| o.media.track.id == play.media[i].track.id)
            {
                return Response::new(459);
            }
            (i, play.outs.len())
        } else {
            return Response::new(455);
        };
        let recording = self.record.is_some();
        let (transport, udp, echo) = match self.transport(asked, n, recording).await {
            Ok(t) => t,
            Err(resp) => return resp,
        };
        if let Some(rec) = &mut self.record {
            let m = &mut rec.media[i];
            m.transport = Some(transport);
            m.udp = udp;
        } else if let Some(play) = &mut self.play {
            let ip = self.peer.ip();
            let udp = match (udp, transport) {
                (Some(pair), Transport::Udp { rtp, rtcp }) => {
                    Some((pair, SocketAddr::new(ip, rtp), SocketAddr::new(ip, rtcp)))
                }
                _ => None,
            };
            play.outs.push(MediaOut {
                media: play.media[i].clone(),
                transport,
                udp,
            });
        }
        Response::new(200).header("Transport", echo)
    }

    /// The transport given for what the client asked (the `n`-th media set up): its channels
    /// (or `2n`, `2n + 1`), or a UDP socket pair; and the `Transport` header that says so.
    async fn transport(
        &self,
        asked: Transport,
        n: usize,
        recording: bool,
    ) -> Result<(Transport, Option<UdpPair>, String), Response> {
        let mode = if recording { ";mode=record" } else { "" };
        match asked {
            Transport::Interleaved { rtp, rtcp } => {
                let (rtp, rtcp) = channels(rtp, rtcp, n);
                let echo = format!("RTP/AVP/TCP;unicast;interleaved={rtp}-{rtcp}{mode}");
                Ok((Transport::Interleaved { rtp, rtcp }, None, echo))
            }
            Transport::Udp { rtp, rtcp } => match UdpPair::bind(self.local).await {
                Ok(pair) => {
                    let (a, b) = pair.ports();
                    let echo = format!(
                        "RTP/AVP;unicast;client_port={rtp}-{rtcp};server_port={a}-{b}{mode}"
                    );
                    Ok((asked, Some(pair), echo))
                }
                Err(e) => {
                    tracing::warn!(kind = "ACCS", "RTSP {}: no UDP ports: {e}", self.peer);
                    Err(Response::new(500))
                }
            },
        }
    }
}

/// The interleaved channels for the `n`-th media set up: the client's, or `2n`, `2n + 1`.
fn channels(rtp: u8, rtcp: u8, n: usize) -> (u8, u8) {
    if rtp != 255 {
        return (rtp, rtcp);
    }
    let base = u8::try_from(n.saturating_mul(2)).unwrap_or(254).min(254);
    (base, base + 1)
}

/// Which media a SETUP's control names: the one whose `a=control` ends the same way; without
/// a control, the first.
fn find_media<'a>(
    media: impl Iterator<Item = &'a SdpMedia>,
    control: Option<&str>,
) -> Option<usize> {
    let all: Vec<&SdpMedia> = media.collect();
    let Some(control) = control else {
        return (!all.is_empty()).then_some(0);
    };
    all.iter().position(|m| {
        m.control.as_deref().is_some_and(|c| {
            let last = c.rsplit('/').next().unwrap_or(c);
            last == control
        })
    })
}

/// Codecs whose track cannot be used before its configuration is known.
fn needs_init(track: &crate::media::Track) -> bool {
    use crate::media::Codec;
    matches!(track.codec, Some(Codec::H264 | Codec::Hevc | Codec::Aac))
}

/// The request URL without its query, ending in `/`.
fn content_base(url: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    if base.ends_with('/') {
        base.to_string()
    } else {
        format!("{base}/")
    }
}

/// The RTSP status for a stream that cannot be opened.
pub fn stream_error_code(e: &StreamError) -> u16 {
    match e {
        StreamError::Refused(_) | StreamError::AlreadyPublishing(_) => 403,
        StreamError::ShuttingDown => 503,
        _ => 404,
    }
}

/// A random number for session ids, SSRCs and first sequence numbers.
pub fn rand_u64() -> u64 {
    let id = uuid::Uuid::new_v4();
    let b = id.as_bytes();
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_bases() {
        assert_eq!(channels(255, 255, 0), (0, 1));
        assert_eq!(channels(255, 255, 2), (4, 5));
        assert_eq!(channels(6, 7, 0), (6, 7));
        assert_eq!(channels(255, 255, 1000), (254, 255));
        assert_eq!(content_base("rtsp://h/s?pass=x"), "rtsp://h/s/");
        assert_eq!(content_base("rtsp://h/s/"), "rtsp://h/s/");
    }
}
