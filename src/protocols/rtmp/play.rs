//! Playing over RTMP: StreamBegin, `onStatus` Play.Reset/Play.Start, `|RtmpSampleAccess`,
//! `onMetaData` and the sequence headers, then every packet from the newest keyframe on.
//!
//! Each packet is chunked once (with the stream's own timestamp, on message stream 1) and the
//! chunk headers and payload slices are cached on the buffer entry, so every viewer writes the
//! same shared buffers. A client that created a different message stream id gets its own
//! chunking. Incoming control messages are handled while playing; `deleteStream`/`closeStream`
//! end playback.
//!
//! An on-demand stream plays from the `play` command's start (when it gives one) to the end of
//! the file, then `NetStream.Play.Stop`; `seek` restarts it at the keyframe at or before the
//! asked time (`NetStream.Seek.Notify`, then `Play.Start` and the headers again). A live
//! stream answers a seek with `NetStream.Seek.Failed`.

use std::sync::Arc;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::chunk::chunk_message;
use super::conn::{Conn, ConnError, CSID_AUDIO, CSID_STATUS, CSID_VIDEO, OUT_CHUNK_SIZE};
use super::message as msg;
use crate::hub::buffer::{Entry, ReadEvent};
use crate::hub::session::{ConnInfo, SessionKind};
use crate::hub::PlayRange;
use crate::media::amf0::Amf0Value;
use crate::media::flv::{self, TAG_AUDIO, TAG_VIDEO};
use crate::media::Track;
use crate::protocols::av_select::AvSelection;
use crate::protocols::http::flv::metadata_for;
use crate::protocols::track_select::TrackSelector;
use crate::protocols::{deliver, fanout};

/// Most packets one write takes. A new viewer's first batch is the keyframe group so far: in
/// batches of 16 its write list stays a few KiB (it is kept between batches).
const BATCH: usize = 16;
/// The message stream id cached chunkings are made for.
const SHARED_STREAM_ID: u32 = 1;

/// What a `play` command asked for.
pub struct Play<'a> {
    pub name: &'a str,
    pub stream_id: u32,
    /// Where an on-demand stream starts.
    pub range: PlayRange,
}

/// Plays a stream to the client until it leaves or the stream ends.
pub async fn run(
    conn: &mut Conn,
    mut sock: TcpStream,
    play: Play<'_>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ConnError> {
    let Play {
        name,
        stream_id,
        range,
    } = play;
    // `play("name?audio=fra")`: the viewer's track choices ride on the name, as on HTTP.
    let selector = TrackSelector::from_query(name.split_once('?').map_or("", |(_, q)| q));
    // RTMP viewers are a session per connection (facts §6.1); USER_NEW decides.
    let info = ConnInfo {
        stream: crate::stream_name::sanitize(name),
        ip: conn.peer.ip(),
        token: uuid::Uuid::new_v4().simple().to_string(),
        protocol: "RTMP",
        url: conn.url_for(name),
        kind: SessionKind::Viewer,
    };
    let mut session = match conn.ctx.hub.admit(info).await {
        Ok(s) => s,
        Err(e) => {
            conn.send_status(stream_id, "error", "NetStream.Play.Failed", &e.to_string());
            conn.flush(&mut sock).await?;
            return Err(ConnError::Refused(format!("play of {name:?}: {e}")));
        }
    };
    let (name, mut sub) = match conn.open_play(name, stream_id, range).await {
        Ok(s) => s,
        Err(e) => {
            conn.flush(&mut sock).await?;
            return Err(e);
        }
    };
    let peer = conn.peer;
    stream_begin(conn, stream_id);
    conn.send_status(
        stream_id,
        "status",
        "NetStream.Play.Reset",
        &format!("Playing and resetting {name}."),
    );
    conn.send_status(
        stream_id,
        "status",
        "NetStream.Play.Start",
        &format!("Started playing {name}."),
    );
    conn.send_amf(
        super::conn::CSID_STATUS,
        msg::DATA_AMF0,
        stream_id,
        &[
            Amf0Value::String("|RtmpSampleAccess".into()),
            Amf0Value::Boolean(true),
            Amf0Value::Boolean(true),
        ],
    );
    conn.flush(&mut sock).await?;
    tracing::debug!(stream = name.as_str(), "RTMP viewer {peer} started");

    conn.now_playing();
    let mut buffer = sub.reader.buffer().clone();
    let (mut rd, mut wr) = sock.split();
    let mut sel = AvSelection::new(selector);
    let mut batch: Vec<Arc<Entry>> = Vec::new();
    let mut out: Vec<Bytes> = Vec::new();
    let stopped = stop.changed();
    tokio::pin!(stopped);
    let ended = crate::hub::session::stopped(&mut session.stop);
    tokio::pin!(ended);
    // Set while the stream's fan-out writes to this viewer ([`fanout`]): the task then only
    // waits for the client's messages, the session's stop and being handed back.
    let mut steady: Option<fanout::Steady> = None;
    let shared = stream_id == SHARED_STREAM_ID;
    loop {
        batch.clear();
        // Packets first: a woken viewer usually has some, and then the socket is not polled.
        tokio::select! {
            biased;
            _ = fanout::released(&steady) => {
                if let Some(s) = steady.take() {
                    if !fanout::take_back(s, &mut sub.reader, &mut wr, &buffer.counters, &session.counters).await? {
                        tracing::info!(stream = name.as_str(), "RTMP viewer {peer} stopped reading; dropped");
                        return Ok(());
                    }
                }
                continue;
            }
            event = sub.reader.next_batch(&mut batch, BATCH), if steady.is_none() => match event {
                ReadEvent::Closed => {
                    conn.send_status(stream_id, "status", "NetStream.Play.Stop", &format!("{name} ended."));
                    conn.flush(&mut wr).await?;
                    return Ok(());
                }
                ReadEvent::Skipped(n) => {
                    tracing::debug!(stream = name.as_str(), "RTMP viewer {peer} fell behind; skipped {n} packets");
                    continue;
                }
                ReadEvent::Packets => {}
            },
            _ = &mut stopped => return Ok(()),
            _ = &mut ended => return Err(ConnError::Refused(format!("session {} stopped", session.id))),
            incoming = conn.read_message(&mut rd, None) => {
                let Some(m) = incoming? else { return Ok(()) };
                // Replies must not cut into the fan-out's writes: this task writes again.
                if let Some(s) = steady.take() {
                    if !fanout::take_back(s, &mut sub.reader, &mut wr, &buffer.counters, &session.counters).await? {
                        return Ok(());
                    }
                }
                if m.msg_type == msg::COMMAND_AMF0 || m.msg_type == msg::COMMAND_AMF3 {
                    let c = msg::parse_command(m.msg_type, &m.payload)?;
                    if matches!(c.name.as_str(), "deleteStream" | "closeStream" | "FCUnpublish") {
                        return Ok(());
                    }
                    if c.name == "seek" {
                        let ms = c.args.first().and_then(Amf0Value::as_f64).unwrap_or(0.0);
                        if sub.seek(ms as i64) {
                            buffer = sub.reader.buffer().clone();
                            sel.restart();
                            seeked(conn, stream_id, &name, ms);
                        } else {
                            conn.send_status(stream_id, "error", "NetStream.Seek.Failed", "A live stream cannot seek.");
                        }
                    }
                } else if m.msg_type != msg::AUDIO && m.msg_type != msg::VIDEO {
                    conn.on_control(m.msg_type, &m.payload)?;
                }
                conn.flush(&mut wr).await?;
                continue;
            }
        }
        crate::protocols::write::recycle(&mut out);
        for entry in &batch {
            if !sel.is_current(entry.meta_version) {
                let change = sel.update(&buffer.meta());
                if change.first {
                    let metadata = metadata_for(sel.video.as_ref(), sel.audio.as_ref(), &buffer);
                    conn.send_amf(CSID_STATUS, msg::DATA_AMF0, stream_id, &metadata);
                }
                for (tag_type, body) in change.headers.iter().filter_map(flv::sequence_body) {
                    let csid = if tag_type == TAG_VIDEO {
                        CSID_VIDEO
                    } else {
                        CSID_AUDIO
                    };
                    conn.send(csid, entry.packet.time as u32, tag_type, stream_id, &body);
                }
                // Metadata and sequence headers go out before the packets that need them.
                out.extend(conn.take_pending());
            }
            let Some(track) = sel.track(entry.packet.track) else {
                continue;
            };
            if stream_id == SHARED_STREAM_ID {
                frame_shared(track, entry, &mut out);
            } else if let Some(parts) = chunk_packet(track, entry, stream_id) {
                out.extend(parts);
            }
        }
        if out.is_empty() {
            continue;
        }
        if !deliver(&mut wr, &out, &batch, &buffer.counters, &session.counters).await? {
            tracing::info!(
                stream = name.as_str(),
                "RTMP viewer {peer} stopped reading; dropped"
            );
            return Ok(());
        }
        if shared {
            steady = fanout::join_when_steady(
                &FANOUT,
                wr.as_ref(),
                &sub.reader,
                &sel,
                &session.counters,
            );
            if steady.is_some() {
                // Nothing to keep while the fan-out writes.
                batch = Vec::new();
                out = Vec::new();
            }
        }
    }
}

/// The format of the stream's fan-out to RTMP viewers on message stream 1.
static FANOUT: fanout::Format = fanout::Format {
    name: "RTMP",
    frame: frame_shared,
};

/// A packet's chunks for message stream [`SHARED_STREAM_ID`], built once and cached on its
/// buffer entry.
fn frame_shared(track: &Track, entry: &Entry, out: &mut Vec<Bytes>) {
    let build = || RtmpChunks(chunk_packet(track, entry, SHARED_STREAM_ID));
    entry.cache.with(build, |chunks| {
        if let Some(parts) = &chunks.0 {
            out.extend(parts.iter().cloned());
        }
    });
}

/// The user control message StreamBegin for `stream_id`.
fn stream_begin(conn: &mut Conn, stream_id: u32) {
    conn.send(
        super::conn::CSID_CONTROL,
        0,
        msg::USER_CONTROL,
        0,
        &msg::user_control(msg::STREAM_BEGIN, stream_id),
    );
}

/// What a client is told after a seek: the stream begins again at the new place.
fn seeked(conn: &mut Conn, stream_id: u32, name: &str, ms: f64) {
    tracing::debug!(stream = name, "RTMP viewer {} seeks to {ms} ms", conn.peer);
    stream_begin(conn, stream_id);
    conn.send_status(
        stream_id,
        "status",
        "NetStream.Seek.Notify",
        &format!("Seeking to {ms} ms in {name}."),
    );
    conn.send_status(
        stream_id,
        "status",
        "NetStream.Play.Start",
        &format!("Started playing {name}."),
    );
}

/// A packet chunked for message stream [`SHARED_STREAM_ID`], cached on its buffer entry.
struct RtmpChunks(Option<Vec<Bytes>>);

fn chunk_packet(track: &Track, entry: &Entry, stream_id: u32) -> Option<Vec<Bytes>> {
    let (tag_type, prefix) = flv::packet_prefix(track, &entry.packet)?;
    let csid = if tag_type == TAG_AUDIO {
        CSID_AUDIO
    } else {
        CSID_VIDEO
    };
    let parts = [Bytes::from(prefix), entry.packet.data.clone()];
    Some(chunk_message(
        OUT_CHUNK_SIZE,
        csid,
        entry.packet.time as u32,
        tag_type,
        stream_id,
        &parts,
    ))
}
