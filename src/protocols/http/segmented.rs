//! The flow every segmented output shares (HLS over TS in [`super::hls`], DASH and HLS over
//! CMAF in [`super::cmaf`]), written once; each format supplies its parts through [`Format`].
//!
//! ```text
//! /<prefix>/STREAM/<tail...>
//!   admit the viewer's session            403 Access denied: ...
//!   Format::ask(tail)                     playlist? file? 404 Not Found (Ask::Nothing)
//!   open the stream's buffer              404 Error opening stream
//!     playlists start the stream and wait for its first fragment; files need it running
//!   Format::answer(tail, stream)          a playlist, manifest, init segment or 404: sent as is
//!     or Answer::Segment { start_ms, key }
//!   the fragment starting at start_ms     404 Fragment out of range (it left the buffer)
//!   Format::build, once per fragment      cached on the fragment (`fragment.cache`)
//!   Format::pick(key)                     the segment, or the format's error answer
//!   send it cacheable, counted for the session
//! ```
//!
//! Every playlist and segment request of a viewer belongs to its one session (USER_NEW runs
//! once), and segments are built by the first viewer that asks, so every viewer gets the same
//! bytes.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

use super::{Request, Response};
use crate::hub::buffer::LiveBuffer;
use crate::hub::fragments::Fragment;
use crate::media::Track;
use crate::protocols::av_select::picked;
use crate::protocols::ListenerContext;

/// How long a playlist request waits for the stream's first fragments.
pub const PLAYLIST_WAIT: Duration = Duration::from_secs(20);

/// What a path below the stream name asks for, before the stream is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// A playlist or manifest: a configured stream is started, and its first fragment awaited.
    Playlist,
    /// A segment or another file: only a running stream has it.
    File,
    /// Nothing this format serves: `404 Not Found` with this text.
    Nothing(&'static str),
}

/// How a format answers a request, once the stream is open.
#[derive(Debug)]
pub enum Answer {
    /// A complete answer (a playlist, a manifest, an init segment, an error).
    Done(Response),
    /// The segment `key` (a format's own choice: a track id, or 0) of the fragment that starts
    /// at `start_ms`.
    Segment { start_ms: i64, key: u32 },
}

/// The open stream a format answers from.
pub struct Opened {
    /// The name as asked for.
    pub name: String,
    pub buffer: Arc<LiveBuffer>,
    /// The tracks the output carries (one video, one audio).
    pub tracks: Vec<Track>,
    /// `?tkn=...` for the URLs in playlists and manifests (see [`super::token_suffix`]).
    pub suffix: String,
}

/// What a segmented output supplies: its URLs, its playlist or manifest text and its muxing.
pub trait Format {
    /// The connector name, for the viewer's session and the logs (`HLS`, `CMAF`).
    const PROTOCOL: &'static str;
    /// The `Content-Type` of its segments.
    const SEGMENT_TYPE: &'static str;
    /// What [`Format::build`] makes of one fragment, cached on it.
    type Built: Any + Send + Sync;

    /// What `tail` (the path after the stream name, split at `/`) asks for.
    fn ask(tail: &[&str]) -> Ask;
    /// The answer to `tail` from the open stream, or which segment it wants.
    fn answer(tail: &[&str], stream: &Opened) -> Answer;
    /// Builds the segments of a fragment (called once per fragment and format).
    fn build(stream: &Opened, fragment: &Fragment) -> Self::Built;
    /// The segment `key` out of what [`Format::build`] made, or the answer when there is none.
    fn pick(built: &Self::Built, key: u32) -> Result<Bytes, Response>;
}

/// The live buffer behind a playlist or segment request. A playlist (`playlist`) starts a
/// configured stream and waits up to [`PLAYLIST_WAIT`] for its first fragment; a segment only
/// finds running streams. An on-demand (file) stream is not served here yet:
/// `404 Error opening stream`. `Err` is the answer to give.
pub async fn segment_buffer(
    ctx: &ListenerContext,
    name: &str,
    playlist: bool,
) -> Result<Arc<LiveBuffer>, Response> {
    let (_, buffer) = ctx
        .hub
        .open_buffer(name, playlist)
        .await
        .map_err(|e| Response::stream_error(&e))?;
    if buffer.vod_duration().is_some() {
        return Err(Response::not_found(
            "on-demand streams are not served as HLS or DASH yet; use the progressive outputs",
        ));
    }
    if playlist && !buffer.wait_fragments(1, PLAYLIST_WAIT).await {
        return Err(Response::not_found("the stream has no segments yet"));
    }
    Ok(buffer)
}

/// Answers a request below a format's prefix (`rest` is the path after `/hls/` or `/cmaf/`);
/// returns whether the connection may be kept.
pub async fn route<F: Format>(
    req: &Request,
    rest: &str,
    sock: &mut TcpStream,
    peer: SocketAddr,
    ctx: &ListenerContext,
) -> std::io::Result<bool> {
    let parts: Vec<&str> = rest.split('/').collect();
    let (name, tail) = parts.split_first().unwrap_or((&"", &[]));
    let session = match super::admit_viewer(
        ctx,
        req,
        name,
        (F::PROTOCOL, super::Viewing::Requests),
        peer,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return Response::forbidden(&e).send(sock, req).await,
    };
    let playlist = match F::ask(tail) {
        Ask::Playlist => true,
        Ask::File => false,
        Ask::Nothing(what) => return Response::missing(what).send(sock, req).await,
    };
    let buffer = match segment_buffer(ctx, name, playlist).await {
        Ok(b) => b,
        Err(answer) => return answer.send(sock, req).await,
    };
    let stream = Opened {
        name: name.to_string(),
        tracks: picked(&buffer.meta()),
        buffer,
        suffix: super::token_suffix(req),
    };
    let (start_ms, key) = match F::answer(tail, &stream) {
        Answer::Done(resp) => return resp.send(sock, req).await,
        Answer::Segment { start_ms, key } => (start_ms, key),
    };
    let Some(fragment) = stream.buffer.fragment_at(start_ms) else {
        return Response::out_of_range().send(sock, req).await;
    };
    let build = || F::build(&stream, &fragment);
    let bytes = match fragment.cache.with(build, |built| F::pick(built, key)) {
        Ok(bytes) => bytes,
        Err(resp) => return resp.send(sock, req).await,
    };
    if !req.is_head() {
        let len = bytes.len() as u64;
        let packets = fragment.end_seq - fragment.first_seq;
        session.counters.sent(len, packets, Some(fragment.end_ms));
        stream
            .buffer
            .counters
            .down_bytes
            .fetch_add(len, Ordering::Relaxed);
    }
    Response::ok(F::SEGMENT_TYPE, bytes)
        .cacheable(max_age_s(&fragment))
        .send(sock, req)
        .await
}

/// How long a segment may be cached: ten times its length, in whole seconds (at least 10).
pub fn max_age_s(fragment: &Fragment) -> i64 {
    (fragment.duration_ms() / 1000).max(1) * 10
}
