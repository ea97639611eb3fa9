//! HLS over MPEG-TS (facts §9.2, §9.4): `/hls/STREAM/index.m3u8` (master),
//! `/hls/STREAM/<video>_<audio>/index.m3u8` (live media playlist) and
//! `/hls/STREAM/<video>_<audio>/<from>_<until>.ts` (segments, times in ms).
//!
//! Segments are the buffer's fragments (cut at keyframes, at least `segmentsize` long), muxed to
//! MPEG-TS by the first viewer that asks and cached on the fragment, so every viewer gets the
//! same bytes. A segment that fell out of the buffer answers `404 Fragment out of range`.
//! Playlists are answered once the stream has a fragment (waiting up to 20 s for one).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;

use super::{not_found, send, Request};
use crate::hub::buffer::LiveBuffer;
use crate::hub::fragments::Fragment;
use crate::media::{m3u8, ts, Track, TrackKind};
use crate::protocols::av_select::picked;
use crate::protocols::ListenerContext;

/// How long a playlist request waits for the stream's first fragments.
pub const PLAYLIST_WAIT: Duration = Duration::from_secs(20);

/// Routes a path below `/hls/`.
pub async fn route(
    req: &Request,
    rest: &str,
    sock: &mut TcpStream,
    peer: std::net::SocketAddr,
    ctx: &ListenerContext,
) -> std::io::Result<bool> {
    let parts: Vec<&str> = rest.split('/').collect();
    // Every playlist and segment request belongs to the viewer's one session.
    let stream = parts.first().copied().unwrap_or("");
    let session = match super::admit_viewer(ctx, req, stream, "HLS", peer).await {
        Ok(s) => s,
        Err(e) => return super::forbidden(sock, req, &e).await,
    };
    match parts.as_slice() {
        [name, "index.m3u8"] => master(req, name, sock, ctx).await,
        [name, _tracks, "index.m3u8"] => media(req, name, sock, ctx).await,
        [name, _tracks, file] if file.ends_with(".ts") => {
            segment(req, name, file, sock, ctx, &session.bytes).await
        }
        _ => {
            send(
                sock,
                req,
                "404 Not Found",
                "text/plain",
                &[],
                b"No such HLS resource\n",
            )
            .await
        }
    }
}

/// The track-folder name of a selection: `<video>_<audio>` track ids.
pub fn tracks_folder(tracks: &[Track]) -> String {
    tracks
        .iter()
        .map(|t| t.id.to_string())
        .collect::<Vec<_>>()
        .join("_")
}

/// Average bits per second over what the buffer holds (at least 1).
pub fn bandwidth(buffer: &crate::hub::buffer::LiveBuffer) -> u64 {
    let s = buffer.stats();
    let span = (s.lastms - s.firstms).max(1) as u64;
    (s.bytes as u64 * 8 * 1000 / span).max(1)
}

/// The live buffer behind a playlist or segment request. A playlist (`playlist`) starts a
/// configured stream and waits up to [`PLAYLIST_WAIT`] for its first fragment; a segment only
/// finds running streams. `Err` is the reason for the 404.
pub async fn segment_buffer(
    ctx: &ListenerContext,
    name: &str,
    playlist: bool,
) -> Result<std::sync::Arc<LiveBuffer>, String> {
    let (_, buffer) = ctx
        .hub
        .open_buffer(name, playlist)
        .await
        .map_err(|e| e.to_string())?;
    if playlist && !buffer.wait_fragments(1, PLAYLIST_WAIT).await {
        return Err("the stream has no segments yet".into());
    }
    Ok(buffer)
}

async fn master(
    req: &Request,
    name: &str,
    sock: &mut TcpStream,
    ctx: &ListenerContext,
) -> std::io::Result<bool> {
    let buffer = match segment_buffer(ctx, name, true).await {
        Ok(b) => b,
        Err(why) => return not_found(sock, req, &why).await,
    };
    let tracks = picked(&buffer.meta());
    let uri = format!(
        "{}/index.m3u8{}",
        tracks_folder(&tracks),
        super::token_suffix(req)
    );
    let variant = variant(&buffer, &tracks, uri, None);
    let body = m3u8::master(&[variant], &[], 3);
    send(
        sock,
        req,
        "200 OK",
        "application/vnd.apple.mpegurl",
        &[],
        body.as_bytes(),
    )
    .await
}

async fn media(
    req: &Request,
    name: &str,
    sock: &mut TcpStream,
    ctx: &ListenerContext,
) -> std::io::Result<bool> {
    let buffer = match segment_buffer(ctx, name, true).await {
        Ok(b) => b,
        Err(why) => return not_found(sock, req, &why).await,
    };
    let fragments = buffer.fragments();
    let suffix = super::token_suffix(req);
    let body = m3u8::media(&playlist(
        &fragments,
        |f| format!("{}_{}.ts{suffix}", f.start_ms, f.end_ms),
        None,
        3,
        buffer.is_closed(),
    ));
    send(
        sock,
        req,
        "200 OK",
        "application/vnd.apple.mpegurl",
        &[],
        body.as_bytes(),
    )
    .await
}

/// A live media playlist over `fragments`, naming each segment with `uri`.
pub fn playlist(
    fragments: &[std::sync::Arc<Fragment>],
    uri: impl Fn(&Fragment) -> String,
    map_uri: Option<String>,
    version: u8,
    ended: bool,
) -> m3u8::MediaPlaylist {
    m3u8::MediaPlaylist {
        version,
        media_sequence: fragments.first().map(|f| f.number).unwrap_or(0),
        discontinuity_sequence: fragments.first().map(|f| f.discontinuity_seq).unwrap_or(0),
        map_uri,
        segments: fragments
            .iter()
            .map(|f| m3u8::Segment {
                uri: uri(f),
                duration_ms: f.duration_ms(),
                discontinuity: f.discontinuity,
            })
            .collect(),
        ended,
    }
}

async fn segment(
    req: &Request,
    name: &str,
    file: &str,
    sock: &mut TcpStream,
    ctx: &ListenerContext,
    session_bytes: &AtomicU64,
) -> std::io::Result<bool> {
    let buffer = match segment_buffer(ctx, name, false).await {
        Ok(b) => b,
        Err(why) => return not_found(sock, req, &why).await,
    };
    let from: Option<i64> = file
        .trim_end_matches(".ts")
        .split('_')
        .next()
        .and_then(|v| v.parse().ok());
    let Some(fragment) = from.and_then(|t| buffer.fragment_at(t)) else {
        return out_of_range(sock, req).await;
    };
    let build = || {
        let tracks = picked(&buffer.meta());
        let entries = buffer.packets(fragment.first_seq, fragment.end_seq);
        let packets: Vec<&crate::media::Packet> = entries.iter().map(|e| &e.packet).collect();
        TsSegment(match ts::segment(&tracks, &packets) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::warn!("HLS segment {file} of {name}: {e}");
                None
            }
        })
    };
    let built = fragment.cache.with(build, |segment| segment.0.clone());
    let Some(bytes) = built else {
        return send(
            sock,
            req,
            "500 Internal Server Error",
            "text/plain",
            &[],
            b"Segment could not be built\n",
        )
        .await;
    };
    send_segment(sock, req, &fragment, "video/mp2t", &bytes, session_bytes).await
}

/// A fragment's MPEG-TS segment, cached on the fragment (`None`: it could not be built).
struct TsSegment(Option<bytes::Bytes>);

/// The variant of a master playlist carrying `tracks`.
pub fn variant(
    buffer: &LiveBuffer,
    tracks: &[Track],
    uri: String,
    audio_group: Option<String>,
) -> m3u8::Variant {
    let video = tracks.iter().find(|t| t.kind() == Some(TrackKind::Video));
    m3u8::Variant {
        uri,
        bandwidth: bandwidth(buffer) * 11 / 10,
        codecs: tracks
            .iter()
            .map(|t| t.codec_string.as_str())
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join(","),
        resolution: video.filter(|v| v.width > 0).map(|v| (v.width, v.height)),
        frame_rate: video
            .filter(|v| v.fpks > 0)
            .map(|v| f64::from(v.fpks) / 1000.0),
        audio_group,
    }
}

/// `404 Fragment out of range`: the segment left the buffer (facts §9.4).
pub async fn out_of_range(sock: &mut TcpStream, req: &Request) -> std::io::Result<bool> {
    send(
        sock,
        req,
        "404 Fragment out of range",
        "text/plain",
        &[],
        b"Fragment out of range\n",
    )
    .await
}

/// Sends a segment, cacheable for ten times its length, and counts it for the session.
pub async fn send_segment(
    sock: &mut TcpStream,
    req: &Request,
    fragment: &Fragment,
    content_type: &str,
    bytes: &[u8],
    session_bytes: &AtomicU64,
) -> std::io::Result<bool> {
    session_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    let max_age = format!(
        "public, max-age={}, immutable",
        (fragment.duration_ms() / 1000).max(1) * 10
    );
    send(
        sock,
        req,
        "200 OK",
        content_type,
        &[("Cache-Control", max_age)],
        bytes,
    )
    .await
}
