//! HTTP-FLV output: `GET /STREAM.flv` streams the live buffer as an FLV file that never ends.
//!
//! The answer starts with the FLV header, an `onMetaData` script tag and the codec sequence
//! headers, then every packet from the newest keyframe on. Each packet's tag header and codec
//! prefix (and its PreviousTagSize) are built once and cached on the buffer entry; every viewer
//! writes the same three shared buffers (head, payload, tail) with a vectored write. Timestamps
//! are the stream's own (not rebased per viewer), which is what makes the framing shareable.
//! One video and one audio track are sent (the first of each); HEVC, AV1 and VP9 use the
//! Enhanced RTMP tag form. An on-demand viewer's answer ends with its part of the file, and its
//! `onMetaData` has the `duration` (the media time its playback ends at).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;
use tokio::net::TcpStream;

use super::{Request, Response};
use crate::hub::buffer::{Entry, LiveBuffer};
use crate::media::amf0::Amf0Value;
use crate::media::flv::{self as flvfmt, on_metadata};
use crate::media::Track;
use crate::protocols::av_select::AvSelection;
use crate::protocols::fanout;
use crate::protocols::track_select::TrackSelector;
use crate::protocols::{ConnectorSpec, ListenerContext, OFFLINE_WAIT};

pub const SPEC: ConnectorSpec = ConnectorSpec {
    name: "FLV",
    desc: "Enables HTTP protocol progressive streaming (FLV) at /STREAM.flv.",
    default_port: None,
    deps: Some("HTTP"),
    capabilities,
    start: None,
    on_demand: true,
};

fn capabilities() -> serde_json::Value {
    json!({
        "friendly": "Flash progressive over HTTP (FLV)",
        "codecs": [[["H264", "HEVC", "AV1", "VP9"], ["AAC", "MP3"]]],
        "methods": [{"handler": "http", "type": "flash/7", "priority": 5}, {"handler": "http", "type": "html5/video/x-flv", "priority": 5}],
        "url_rel": "/$.flv",
        "url_match": "/$.flv",
        "push_urls": ["/*.flv"],
        "required": {},
        "optional": {}
    })
}

/// Serves one FLV viewer. Returns whether the connection may be reused (never, after a stream).
pub async fn serve(
    req: &Request,
    raw_name: &str,
    sock: &mut TcpStream,
    peer: SocketAddr,
    ctx: &ListenerContext,
) -> std::io::Result<bool> {
    let mut session = match super::admit_viewer(
        ctx,
        req,
        raw_name,
        ("FLV", super::Viewing::Connection),
        peer,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return Response::forbidden(&e).send(sock, req).await,
    };
    let (name, mut sub) = match ctx
        .hub
        .play(
            raw_name,
            "FLV",
            (peer.ip(), &req.url()),
            super::play_range(req),
            OFFLINE_WAIT,
        )
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(kind = "ACCS", "FLV viewer {peer} refused: {e}");
            return Response::stream_error(&e).send(sock, req).await;
        }
    };
    Response::stream("video/x-flv").send(sock, req).await?;
    if req.is_head() {
        return Ok(false);
    }
    tracing::debug!(stream = name.as_str(), "FLV viewer {peer} started");
    let buffer = sub.reader.buffer().clone();
    let framer = FlvFramer {
        sel: AvSelection::new(TrackSelector::from_query(&req.query)),
        buffer,
    };
    super::feed_viewer(sock, &mut sub, &mut session, ("FLV", &name, peer), framer).await
}

/// One FLV viewer's framing: its header, metadata and sequence headers when its tracks start
/// or change, then each packet's shared tags.
struct FlvFramer {
    sel: AvSelection,
    buffer: Arc<LiveBuffer>,
}

impl super::Framer for FlvFramer {
    fn frame(&mut self, batch: &[Arc<Entry>], out: &mut Vec<Bytes>) {
        let sel = &mut self.sel;
        for entry in batch {
            if !sel.is_current(entry.meta_version) {
                let change = sel.update(&self.buffer.meta());
                if change.first {
                    let (video, audio) = (sel.video.as_ref(), sel.audio.as_ref());
                    out.push(Bytes::copy_from_slice(&flvfmt::file_header(
                        audio.is_some(),
                        video.is_some(),
                    )));
                    // Time 0: ffmpeg only reads script data at time 0 as header metadata.
                    out.push(flvfmt::script_tag(
                        &metadata_for(video, audio, &self.buffer),
                        0,
                    ));
                }
                let time = flvfmt::timestamp(entry.packet.time);
                out.extend(
                    change
                        .headers
                        .iter()
                        .filter_map(|t| flvfmt::sequence_tag(t, time)),
                );
            }
            if let Some(track) = sel.track(entry.packet.track) {
                frame_shared(track, entry, out);
            }
        }
    }

    fn shared(&self) -> Option<(&'static fanout::Format, &AvSelection)> {
        Some((&FANOUT, &self.sel))
    }
}

/// The format of the stream's fan-out to FLV viewers.
static FANOUT: fanout::Format = fanout::Format {
    name: "FLV",
    frame: frame_shared,
};

/// A packet's FLV tag (head, payload, tail), the head and tail built once and cached on its
/// buffer entry.
fn frame_shared(track: &Track, entry: &Entry, out: &mut Vec<Bytes>) {
    let build = || FlvFraming(flvfmt::packet_tag_parts(track, &entry.packet));
    entry.cache.with(build, |framing| {
        if let Some([head, tail]) = &framing.0 {
            out.extend([head.clone(), entry.packet.data.clone(), tail.clone()]);
        }
    });
}

/// `onMetaData` for a viewer of `buffer` (HTTP-FLV and RTMP): a live stream's has no
/// duration, an on-demand viewer's the media time its playback ends at, in seconds.
pub fn metadata_for(
    video: Option<&Track>,
    audio: Option<&Track>,
    buffer: &LiveBuffer,
) -> Vec<Amf0Value> {
    let mut values = on_metadata(video, audio);
    if let Some(ms) = buffer.vod_duration() {
        for v in &mut values {
            if let Amf0Value::EcmaArray(props) = v {
                for (_, value) in props.iter_mut().filter(|(k, _)| k == "duration") {
                    *value = Amf0Value::Number(ms as f64 / 1000.0);
                }
            }
        }
    }
    values
}

/// A packet's FLV framing, cached on its buffer entry: the tag head (tag header plus codec
/// prefix) and tail (PreviousTagSize); `None` when the packet is not sent as FLV.
struct FlvFraming(Option<[Bytes; 2]>);
