//! HTTP-FLV output: `GET /STREAM.flv` streams the live buffer as an FLV file that never ends.
//!
//! The answer starts with the FLV header, an `onMetaData` script tag and the codec sequence
//! headers, then every packet from the newest keyframe on. Each packet's tag header and codec
//! prefix (and its PreviousTagSize) are built once and cached on the buffer entry; every viewer
//! writes the same three shared buffers (head, payload, tail) with a vectored write. Timestamps
//! are the stream's own (not rebased per viewer), which is what makes the framing shareable.
//! One video and one audio track are sent (the first of each); HEVC, AV1 and VP9 use the
//! Enhanced RTMP tag form.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;
use tokio::net::TcpStream;

use super::{Request, Response};
use crate::hub::buffer::Entry;
use crate::media::flv::{self as flvfmt, TAG_SCRIPT};
use crate::media::flv_body;
use crate::media::{Codec, Track};
use crate::protocols::av_select::AvSelection;
use crate::protocols::rtmp::amf0::{self, Amf0Value};
use crate::protocols::{ConnectorSpec, ListenerContext, OFFLINE_WAIT};

pub const SPEC: ConnectorSpec = ConnectorSpec {
    name: "FLV",
    desc: "Enables HTTP protocol progressive streaming (FLV) at /STREAM.flv.",
    default_port: None,
    deps: Some("HTTP"),
    capabilities,
    start: None,
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
    let mut session = match super::admit_viewer(ctx, req, raw_name, "FLV", peer).await {
        Ok(s) => s,
        Err(e) => return Response::forbidden(&e).send(sock, req).await,
    };
    let (name, mut sub) = match ctx
        .hub
        .play(raw_name, "FLV", peer.ip(), &req.url(), OFFLINE_WAIT)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(kind = "ACCS", "FLV viewer {peer} refused: {e}");
            return Response::not_found(e).send(sock, req).await;
        }
    };
    Response::stream("video/x-flv").send(sock, req).await?;
    if req.is_head() {
        return Ok(false);
    }
    tracing::debug!(stream = name.as_str(), "FLV viewer {peer} started");
    let buffer = sub.reader.buffer().clone();
    let mut sel = AvSelection::default();
    let frame = |batch: &[Arc<Entry>], out: &mut Vec<Bytes>| {
        for entry in batch {
            if !sel.is_current(entry.meta_version) {
                let change = sel.update(&buffer.meta());
                if change.first {
                    let (video, audio) = (sel.video.as_ref(), sel.audio.as_ref());
                    out.push(Bytes::copy_from_slice(&flvfmt::file_header(
                        audio.is_some(),
                        video.is_some(),
                    )));
                    // Time 0: ffmpeg only reads script data at time 0 as header metadata.
                    out.push(script_tag(&on_metadata(video, audio), 0));
                }
                out.extend(
                    change
                        .headers
                        .iter()
                        .filter_map(|t| sequence_header(t, entry.packet.time)),
                );
            }
            if let Some(track) = sel.track(entry.packet.track) {
                let build = || FlvFraming(packet_framing(track, entry));
                entry.cache.with(build, |framing| {
                    if let Some([head, tail]) = &framing.0 {
                        out.extend([head.clone(), entry.packet.data.clone(), tail.clone()]);
                    }
                });
            }
        }
    };
    super::feed_viewer(sock, &mut sub, &mut session, ("FLV", &name, peer), frame).await
}

/// A packet's FLV framing, cached on its buffer entry: the tag head (tag header plus codec
/// prefix) and tail (PreviousTagSize); `None` when the packet is not sent as FLV.
struct FlvFraming(Option<[Bytes; 2]>);

/// Builds a packet's tag head (tag header + codec prefix) and tail (PreviousTagSize).
fn packet_framing(track: &Track, entry: &Entry) -> Option<[Bytes; 2]> {
    let (tag_type, prefix) = flv_body::packet_prefix(track, &entry.packet)?;
    Some(tag_parts(
        tag_type,
        entry.packet.time,
        &prefix,
        entry.packet.data.len(),
    ))
}

/// Head and tail of a tag whose body is `prefix` followed by `data_len` bytes.
fn tag_parts(tag_type: u8, time: i64, prefix: &[u8], data_len: usize) -> [Bytes; 2] {
    let body_len = (prefix.len() + data_len) as u32;
    let mut head = Vec::with_capacity(11 + prefix.len());
    head.extend_from_slice(&flvfmt::tag_header(tag_type, body_len, time as u32));
    head.extend_from_slice(prefix);
    [
        Bytes::from(head),
        Bytes::copy_from_slice(&(11 + body_len).to_be_bytes()),
    ]
}

/// A complete tag with `body`.
fn whole_tag(tag_type: u8, time: i64, body: &[u8]) -> Bytes {
    let [head, tail] = tag_parts(tag_type, time, body, 0);
    let mut v = Vec::with_capacity(head.len() + tail.len());
    v.extend_from_slice(&head);
    v.extend_from_slice(&tail);
    Bytes::from(v)
}

/// The sequence header tag of a track (none for codecs without init data, like MP3).
fn sequence_header(track: &Track, time: i64) -> Option<Bytes> {
    let (tag_type, body) = flv_body::sequence_body(track)?;
    Some(whole_tag(tag_type, time, &body))
}

fn script_tag(values: &[Amf0Value], time: i64) -> Bytes {
    whole_tag(TAG_SCRIPT, time, &amf0::encode_all(values))
}

/// `onMetaData` for a live stream (no duration).
pub fn on_metadata(video: Option<&Track>, audio: Option<&Track>) -> Vec<Amf0Value> {
    let mut props: Vec<(String, Amf0Value)> = vec![("duration".into(), Amf0Value::Number(0.0))];
    if let Some(v) = video {
        props.push(("width".into(), Amf0Value::Number(f64::from(v.width))));
        props.push(("height".into(), Amf0Value::Number(f64::from(v.height))));
        if v.fpks > 0 {
            props.push((
                "framerate".into(),
                Amf0Value::Number(f64::from(v.fpks) / 1000.0),
            ));
        }
        props.push(("videocodecid".into(), video_codec_id(v.codec)));
    }
    if let Some(a) = audio {
        props.push((
            "audiocodecid".into(),
            Amf0Value::Number(if a.codec == Some(Codec::Mp3) {
                2.0
            } else {
                10.0
            }),
        ));
        props.push((
            "audiosamplerate".into(),
            Amf0Value::Number(f64::from(a.rate)),
        ));
        props.push((
            "audiosamplesize".into(),
            Amf0Value::Number(f64::from(a.size.max(16))),
        ));
        props.push(("stereo".into(), Amf0Value::Boolean(a.channels > 1)));
    }
    props.push(("encoder".into(), Amf0Value::String(crate::server_header())));
    vec![
        Amf0Value::String("onMetaData".into()),
        Amf0Value::EcmaArray(props),
    ]
}

/// `videocodecid`: 7 for H.264, the FourCC as a number for Enhanced RTMP codecs.
fn video_codec_id(codec: Option<Codec>) -> Amf0Value {
    let fourcc = |s: &[u8; 4]| Amf0Value::Number(f64::from(u32::from_be_bytes(*s)));
    match codec {
        Some(Codec::Hevc) => fourcc(b"hvc1"),
        Some(Codec::Av1) => fourcc(b"av01"),
        Some(Codec::Vp9) => fourcc(b"vp09"),
        _ => Amf0Value::Number(7.0),
    }
}
