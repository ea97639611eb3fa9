//! The DTSC output: one connection from another server (or any DTSC client) that plays a
//! stream (facts §10.4).
//!
//! ```text
//!   Eddy → DTCM {cmd:"hi", version:"Eddy/…", pack_method:2, salt}
//!   peer → DTCM {cmd:"play", stream, sync?, video?, audio?, …}
//!   Eddy → DTCM {cmd:"sync", sync:1}            (when sync was asked)
//!          DTSC header, then DTP2 packets; a new header when the tracks change
//!          DTCM {cmd:"ping"} after 2 s without data; a peer's ping gets {cmd:"ok", msg:"Pong!"}
//! ```
//!
//! Every player is a viewer session (protocol `DTSC`), admitted through the hub like any other
//! (CONN_OPEN, USER_NEW, CONN_PLAY apply). `video`/`audio` members choose tracks as the
//! `?video=`/`?audio=` parameters do elsewhere; by default every audio and video track goes out,
//! renumbered from 1 in the order of the stream's track list (as MistServer does). A live stream
//! starts at its newest keyframe; a file plays from its start at real-time speed (after a
//! [`VOD_LEAD`] burst), as MistServer paces on-demand DTSC. Pushing into Eddy over DTSC
//! (`cmd:"push"`) is not implemented: it is answered with an `error` command and the connection
//! ends. Media frames from the peer, or anything malformed, end the connection with one log line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::socket::{send, DtscError, FrameReader};
use super::{command, command_name, version};
use crate::hub::buffer::{Entry, ReadEvent};
use crate::hub::session::{ConnInfo, SessionKind};
use crate::hub::PlayRange;
use crate::media::dtsc::frame::{command_frame, header_frame, packet_prefix, PACKET_TRAILER};
use crate::media::dtsc::{meta, Frame, Value};
use crate::media::Track;
use crate::protocols::deliver;
use crate::protocols::track_select::{Fill, KindChoice, TrackSelector};
use crate::protocols::{ListenerContext, OFFLINE_WAIT};

/// How long a new connection may take to say what it wants.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// A player that sends nothing at all for this long is gone (it should answer our pings).
const PLAYER_SILENCE: Duration = Duration::from_secs(120);
/// After this long without sending anything, a ping goes out.
pub const PING_IDLE: Duration = Duration::from_secs(2);
/// How far ahead of real time a file's packets may go out.
pub const VOD_LEAD: Duration = Duration::from_secs(5);
const BATCH: usize = 64;
static TRAILER: [u8; 3] = PACKET_TRAILER;

/// Serves one accepted connection.
pub async fn serve(
    sock: TcpStream,
    peer: SocketAddr,
    ctx: ListenerContext,
    stop: watch::Receiver<bool>,
) {
    match run(sock, peer, &ctx, stop).await {
        Ok(()) => tracing::debug!("DTSC {peer}: closed"),
        Err(DtscError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            tracing::debug!("DTSC {peer}: peer went away")
        }
        Err(e) => tracing::warn!(kind = "ACCS", "DTSC {peer}: {e}; connection closed"),
    }
}

async fn run(
    mut sock: TcpStream,
    peer: SocketAddr,
    ctx: &ListenerContext,
    mut stop: watch::Receiver<bool>,
) -> Result<(), DtscError> {
    let local = sock.local_addr()?;
    let (mut rd, mut wr) = sock.split();
    let salt = crate::config::md5_hex(uuid::Uuid::new_v4().as_bytes());
    let hi = command(
        "hi",
        vec![
            ("version", Value::str(version())),
            ("pack_method", Value::Int(2)),
            ("salt", Value::str(salt)),
        ],
    );
    send(&mut wr, &[command_frame(&hi)]).await?;
    let mut reader = FrameReader::new();
    let play = loop {
        let frame = tokio::select! {
            _ = stop.changed() => return Ok(()),
            f = reader.next(&mut rd, COMMAND_TIMEOUT) => f?,
        };
        let Some(frame) = frame else { return Ok(()) };
        let Frame::Command(c) = frame else {
            refuse(
                &mut wr,
                "Media received, but you are not cleared for pushing data!",
            )
            .await;
            return Err(DtscError::Refused("media frames before play".into()));
        };
        match command_name(&c).as_str() {
            "play" => break c,
            "push" => {
                refuse(
                    &mut wr,
                    "This server does not take pushes over DTSC; push over RTMP",
                )
                .await;
                return Err(DtscError::Refused("a DTSC push (not supported)".into()));
            }
            "ping" => send(&mut wr, &[pong()]).await.map(|_| ())?,
            "error" => return Err(DtscError::Refused(format!("peer error: {}", message(&c)))),
            other => tracing::debug!("DTSC {peer}: ignored command {other:?}"),
        }
    };
    let raw = play
        .get("stream")
        .and_then(Value::as_text)
        .unwrap_or_default();
    let stream = crate::stream_name::sanitize(&raw);
    let selector = selector_from(&play);
    let url = format!(
        "dtsc://{}/{stream}",
        crate::protocols::bracket_v6(&local.to_string())
    );
    let info = ConnInfo {
        stream: stream.clone(),
        ip: peer.ip(),
        token: uuid::Uuid::new_v4().simple().to_string(),
        protocol: "DTSC",
        url: url.clone(),
        kind: SessionKind::Viewer,
    };
    let mut session = match ctx.hub.admit(info).await {
        Ok(s) => s,
        Err(e) => {
            refuse(&mut wr, &e.to_string()).await;
            return Err(DtscError::Refused(format!("play of {stream:?}: {e}")));
        }
    };
    let (name, mut sub) = match ctx
        .hub
        .play(
            &stream,
            "DTSC",
            (peer.ip(), &url),
            PlayRange::ALL,
            OFFLINE_WAIT,
        )
        .await
    {
        Ok(s) => s,
        Err(e) => {
            refuse(&mut wr, &e.to_string()).await;
            return Err(DtscError::Refused(format!("play of {stream:?}: {e}")));
        }
    };
    if play
        .get("sync")
        .and_then(Value::as_int)
        .is_some_and(|s| s != 0)
    {
        let sync = command("sync", vec![("sync", Value::Int(1))]);
        send(&mut wr, &[command_frame(&sync)]).await?;
    }
    let live = !sub.is_on_demand();
    tracing::debug!(stream = name.as_str(), "DTSC player {peer} started");

    let buffer = sub.reader.buffer().clone();
    let mut tracks = SentTracks::new(selector);
    let mut batch: Vec<Arc<Entry>> = Vec::new();
    let mut out: Vec<Bytes> = Vec::new();
    let mut last_sent = Instant::now();
    let mut clock: Option<(Instant, i64)> = None;
    let stopped = stop.changed();
    tokio::pin!(stopped);
    let ended = crate::hub::session::stopped(&mut session.stop);
    tokio::pin!(ended);
    loop {
        batch.clear();
        tokio::select! {
            biased;
            event = sub.reader.next_batch(&mut batch, BATCH) => match event {
                ReadEvent::Closed => return Ok(()),
                ReadEvent::Skipped(n) => {
                    tracing::debug!(stream = name.as_str(), "DTSC player {peer} fell behind; skipped {n} packets");
                    continue;
                }
                ReadEvent::Packets => {}
            },
            _ = &mut stopped => return Ok(()),
            _ = &mut ended => return Err(DtscError::Refused(format!("session {} stopped", session.id))),
            incoming = reader.next(&mut rd, PLAYER_SILENCE) => {
                let Some(frame) = incoming? else { return Ok(()) };
                match frame {
                    Frame::Command(c) => match command_name(&c).as_str() {
                        "ping" => send(&mut wr, &[pong()]).await.map(|_| ())?,
                        "error" => return Err(DtscError::Refused(format!("peer error: {}", message(&c)))),
                        _ => {}
                    },
                    _ => {
                        refuse(&mut wr, "Media received, but you are not cleared for pushing data!").await;
                        return Err(DtscError::Refused("media frames from a player".into()));
                    }
                }
                continue;
            }
            _ = tokio::time::sleep_until(last_sent + PING_IDLE) => {
                send(&mut wr, &[command_frame(&command("ping", vec![]))]).await?;
                last_sent = Instant::now();
                continue;
            }
        }
        crate::protocols::write::recycle(&mut out);
        for entry in &batch {
            if tracks.version != Some(entry.meta_version) {
                if let Some(header) = tracks.update(&buffer, entry.meta_version, live) {
                    out.push(header);
                }
            }
            let Some(wire) = tracks.wire_id(entry.packet.track) else {
                continue;
            };
            let build = || DtscHead {
                wire,
                head: head_for(entry, wire),
            };
            let head = entry
                .cache
                .with(build, |h| (h.wire == wire).then(|| h.head.clone()));
            out.push(head.unwrap_or_else(|| head_for(entry, wire)));
            out.push(entry.packet.data.clone());
            out.push(Bytes::from_static(&TRAILER));
        }
        if out.is_empty() {
            continue;
        }
        if !live {
            // Real-time pacing of a file, after a lead.
            if let (Some(first), Some(last)) = (batch.first(), batch.last()) {
                let (start, first) = *clock.get_or_insert((Instant::now(), first.packet.time));
                let due =
                    Duration::from_millis(u64::try_from(last.packet.time - first).unwrap_or(0));
                if let Some(wait) = due.checked_sub(VOD_LEAD + start.elapsed()) {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = &mut stopped => return Ok(()),
                    }
                }
            }
        }
        if !deliver(&mut wr, &out, &batch, &buffer.counters, &session.counters).await? {
            tracing::info!(
                stream = name.as_str(),
                "DTSC player {peer} stopped reading; dropped"
            );
            return Ok(());
        }
        last_sent = Instant::now();
    }
}

/// A packet's `DTP2` head for track `wire`, cached on the buffer entry for the players that
/// number the track the same way (usually all of them).
struct DtscHead {
    wire: u32,
    head: Bytes,
}

fn head_for(entry: &Entry, wire: u32) -> Bytes {
    let p = &entry.packet;
    packet_prefix(
        wire,
        p.time.max(0),
        i64::from(p.offset),
        p.keyframe,
        p.data.len(),
    )
}

/// The tracks a player gets and their DTSC ids.
struct SentTracks {
    selector: TrackSelector,
    /// The track-list version last looked at.
    version: Option<u64>,
    /// `(our id, DTSC id)` of the tracks sent.
    ids: Vec<(u32, u32)>,
    /// What the last header said, to send a new one only when it changes.
    sent: Vec<Track>,
}

impl SentTracks {
    fn new(selector: TrackSelector) -> Self {
        SentTracks {
            selector,
            version: None,
            ids: Vec::new(),
            sent: Vec::new(),
        }
    }

    /// Takes a new track list; the header frame to send when the player's tracks changed.
    fn update(
        &mut self,
        buffer: &crate::hub::buffer::LiveBuffer,
        version: u64,
        live: bool,
    ) -> Option<Bytes> {
        self.version = Some(version);
        let meta = buffer.meta_with_times();
        let chosen = self.selector.select(&meta.tracks, Fill::Every);
        let same = chosen.len() == self.sent.len()
            && chosen
                .iter()
                .zip(&self.sent)
                .all(|(a, b)| a.id == b.id && a.codec == b.codec && a.init == b.init);
        if same && !self.sent.is_empty() {
            return None;
        }
        self.ids = chosen
            .iter()
            .zip(1u32..)
            .map(|(t, wire)| (t.id, wire))
            .collect();
        let numbered: Vec<Track> = chosen
            .iter()
            .zip(1u32..)
            .map(|(t, wire)| Track {
                id: wire,
                ..t.clone()
            })
            .collect();
        self.sent = chosen;
        let zero = if live { buffer.zero_unix_ms() } else { None };
        Some(header_frame(&meta::header(&numbered, live, zero)))
    }

    fn wire_id(&self, ours: u32) -> Option<u32> {
        self.ids.iter().find(|(o, _)| *o == ours).map(|(_, w)| *w)
    }
}

/// The `video`/`audio` members of a `play` command (text or numbers), as a track selector.
fn selector_from(play: &Value) -> TrackSelector {
    let choice = |key| match play.get(key) {
        Some(Value::Int(i)) => KindChoice::parse(&i.to_string()),
        Some(v) => v
            .as_text()
            .map_or(KindChoice::Default, |s| KindChoice::parse(&s)),
        None => KindChoice::Default,
    };
    TrackSelector {
        video: choice("video"),
        audio: choice("audio"),
    }
}

fn pong() -> Bytes {
    command_frame(&command("ok", vec![("msg", Value::str("Pong!"))]))
}

fn message(c: &Value) -> String {
    c.get("msg").and_then(Value::as_text).unwrap_or_default()
}

/// Tells the peer why it is being dropped (best effort: it may be gone already).
async fn refuse<W: tokio::io::AsyncWrite + Unpin>(w: &mut W, why: &str) {
    let err = command("error", vec![("msg", Value::str(why.to_string()))]);
    let _ = send(w, &[command_frame(&err)]).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_members_choose_tracks() {
        let play = Value::object([
            ("cmd", Value::str("play")),
            ("audio", Value::str("none")),
            ("video", Value::Int(1)),
        ]);
        let s = selector_from(&play);
        assert_eq!(s.audio, KindChoice::None);
        assert_ne!(s.video, KindChoice::Default);
        assert!(selector_from(&Value::object([("cmd", Value::str("play"))])).is_default());
    }
}
