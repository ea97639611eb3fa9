//! Playing over RTMP: StreamBegin, `onStatus` Play.Reset/Play.Start, `|RtmpSampleAccess`,
//! `onMetaData` and the sequence headers, then every packet from the newest keyframe on.
//!
//! Each packet is chunked once (with the stream's own timestamp, on message stream 1) and the
//! chunk headers and payload slices are cached on the buffer entry, so every viewer writes the
//! same shared buffers. A client that created a different message stream id gets its own
//! chunking. Incoming control messages are handled while playing; `deleteStream`/`closeStream`
//! end playback.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::amf0::Amf0Value;
use super::chunk::chunk_message;
use super::conn::{Conn, ConnError, CSID_AUDIO, CSID_VIDEO, OUT_CHUNK_SIZE};
use super::message as msg;
use crate::actors::stream::buffer::{Entry, Meta, ReadEvent};
use crate::media::flv::{TAG_AUDIO, TAG_VIDEO};
use crate::media::{flv_body, Track, TrackKind};
use crate::protocols::http::flv::on_metadata;
use crate::protocols::{write_all_bytes, VIEWER_WRITE_TIMEOUT};

const BATCH: usize = 64;
/// The message stream id cached chunkings are made for.
const SHARED_STREAM_ID: u32 = 1;

/// Plays `name` to the client until it leaves or the stream ends.
pub async fn run(
    conn: &mut Conn,
    mut sock: TcpStream,
    name: &str,
    stream_id: u32,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ConnError> {
    let (name, mut sub) = match conn.open_play(name, stream_id).await {
        Ok(s) => s,
        Err(e) => {
            conn.flush(&mut sock).await?;
            return Err(e);
        }
    };
    let peer = conn.peer;
    conn.send(
        super::conn::CSID_CONTROL,
        0,
        msg::USER_CONTROL,
        0,
        &msg::user_control(msg::STREAM_BEGIN, stream_id),
    );
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

    let buffer = sub.reader.buffer().clone();
    let (mut rd, mut wr) = sock.split();
    let mut state = PlayState {
        stream_id,
        meta_version: 0,
        started: false,
        video: None,
        audio: None,
    };
    let mut batch: Vec<Arc<Entry>> = Vec::with_capacity(BATCH);
    let mut out: Vec<Bytes> = Vec::with_capacity(BATCH * 2 + 8);
    loop {
        batch.clear();
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            incoming = conn.read_message(&mut rd, std::time::Duration::from_secs(86_400)) => {
                let Some(m) = incoming? else { return Ok(()) };
                if m.msg_type == msg::COMMAND_AMF0 || m.msg_type == msg::COMMAND_AMF3 {
                    let c = msg::parse_command(m.msg_type, &m.payload)?;
                    if matches!(c.name.as_str(), "deleteStream" | "closeStream" | "FCUnpublish") {
                        return Ok(());
                    }
                } else if m.msg_type != msg::AUDIO && m.msg_type != msg::VIDEO {
                    conn.on_control(m.msg_type, &m.payload)?;
                }
                conn.flush(&mut wr).await?;
                continue;
            }
            event = sub.reader.next_batch(&mut batch, BATCH) => match event {
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
            }
        }
        out.clear();
        for entry in &batch {
            if entry.meta_version != state.meta_version {
                state.update(conn, &buffer.meta(), entry.packet.time);
                // Metadata and sequence headers go out before the packets that need them.
                if let Some(pending) = conn.take_pending() {
                    out.push(pending);
                }
            }
            state.chunks(entry, &mut out);
        }
        if out.is_empty() {
            continue;
        }
        let written = match tokio::time::timeout(
            VIEWER_WRITE_TIMEOUT,
            write_all_bytes(&mut wr, &out),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => {
                tracing::info!(
                    stream = name.as_str(),
                    "RTMP viewer {peer} stopped reading; dropped"
                );
                return Ok(());
            }
        };
        buffer
            .counters
            .down_bytes
            .fetch_add(written, Ordering::Relaxed);
    }
}

struct PlayState {
    stream_id: u32,
    meta_version: u64,
    started: bool,
    video: Option<Track>,
    audio: Option<Track>,
}

impl PlayState {
    /// Takes a new track list: metadata on the first call, sequence headers whenever they change.
    fn update(&mut self, conn: &mut Conn, meta: &Meta, time: i64) {
        self.meta_version = meta.version;
        let video = meta
            .tracks
            .iter()
            .find(|t| t.kind() == Some(TrackKind::Video))
            .cloned();
        let audio = meta
            .tracks
            .iter()
            .find(|t| t.kind() == Some(TrackKind::Audio))
            .cloned();
        if !self.started {
            self.started = true;
            conn.send_amf(
                super::conn::CSID_STATUS,
                msg::DATA_AMF0,
                self.stream_id,
                &on_metadata(video.as_ref(), audio.as_ref()),
            );
        }
        for (new, old) in [(&video, &mut self.video), (&audio, &mut self.audio)] {
            let changed = match (new, &*old) {
                (Some(n), Some(o)) => n.init != o.init || n.codec != o.codec,
                (Some(_), None) => true,
                _ => false,
            };
            if changed {
                if let Some((tag_type, body)) = new.as_ref().and_then(flv_body::sequence_body) {
                    let csid = if tag_type == TAG_VIDEO {
                        CSID_VIDEO
                    } else {
                        CSID_AUDIO
                    };
                    conn.send(csid, time as u32, tag_type, self.stream_id, &body);
                }
            }
            *old = new.clone();
        }
    }

    /// Appends the chunked message for one packet, if it belongs to a sent track.
    fn chunks(&self, entry: &Entry, out: &mut Vec<Bytes>) {
        let Some(track) = [&self.video, &self.audio]
            .into_iter()
            .flatten()
            .find(|t| t.id == entry.packet.track)
        else {
            return;
        };
        if self.stream_id == SHARED_STREAM_ID {
            if let Some(parts) = entry
                .rtmp
                .get_or_init(|| chunk_packet(track, entry, SHARED_STREAM_ID))
            {
                out.extend(parts.iter().cloned());
            }
        } else if let Some(parts) = chunk_packet(track, entry, self.stream_id) {
            out.extend(parts);
        }
    }
}

fn chunk_packet(track: &Track, entry: &Entry, stream_id: u32) -> Option<Vec<Bytes>> {
    let (tag_type, prefix) = flv_body::packet_prefix(track, &entry.packet)?;
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
