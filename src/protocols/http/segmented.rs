//! The flow every segmented output shares (HLS over TS in [`super::hls`], DASH and HLS over
//! CMAF in [`super::cmaf`]), written once; each format supplies its parts through [`Format`].
//!
//! ```text
//! /<prefix>/STREAM/<tail...>
//!   admit the viewer's session            403 Access denied: ...
//!   Format::ask(tail)                     playlist? file? 404 Not Found (Ask::Nothing)
//!   open the stream's buffer              404 Error opening stream
//!     playlists start the stream and wait for its first fragment; files need it running;
//!     an on-demand stream's buffer describes its file, cut into segments once
//!   ?video= / ?audio= (track_select)      the tracks playlists and manifests list (default all)
//!   Format::answer(tail, stream)          a playlist, manifest, init segment or 404: sent as is
//!     or Answer::Segment { start_ms, tracks }
//!   the fragment starting at start_ms     404 Fragment out of range (it left the buffer)
//!   Format::build(tracks, packets)        live: cached on the fragment (`fragment.cache`);
//!                                         on demand: packets read from the file for that
//!                                         range, kept in a small cache (hub::vod::segments)
//!   send it cacheable, counted for the session
//! ```
//!
//! Every playlist and segment request of a viewer belongs to its one session (USER_NEW runs
//! once), and segments are built by the first viewer that asks, so every viewer gets the same
//! bytes.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

use super::{Request, Response};
use crate::hub::buffer::LiveBuffer;
use crate::hub::fragments::Fragment;
use crate::hub::vod::{segments, VodFile};
use crate::media::{Packet, Track};
use crate::protocols::track_select::{Fill, TrackSelector};
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
    /// The segment of `tracks` of the fragment that starts at `start_ms`.
    Segment { start_ms: i64, tracks: Vec<Track> },
}

/// The file behind an on-demand stream, and its segments.
pub struct OnDemand {
    pub file: Arc<VodFile>,
    pub cuts: Arc<[Arc<Fragment>]>,
}

/// The open stream a format answers from.
pub struct Opened {
    /// The name as asked for.
    pub name: String,
    /// The live buffer, or an on-demand stream's description (tracks and length).
    pub buffer: Arc<LiveBuffer>,
    /// Every track of the stream.
    pub all: Vec<Track>,
    /// The tracks playlists and manifests list: `?video=`/`?audio=`, by default all of them.
    pub tracks: Vec<Track>,
    /// `?tkn=...` for the URLs in playlists and manifests (see [`super::token_suffix`]).
    pub suffix: String,
    /// Set for an on-demand stream.
    pub vod: Option<OnDemand>,
}

impl Opened {
    /// The segments to list: the live buffer's finished fragments, or all of a file's.
    pub fn fragments(&self) -> Vec<Arc<Fragment>> {
        match &self.vod {
            Some(v) => v.cuts.to_vec(),
            None => self.buffer.fragments(),
        }
    }

    /// Whether no segment will be added (a file, or a live stream that ended).
    pub fn ended(&self) -> bool {
        self.vod.is_some() || self.buffer.is_closed()
    }

    /// The stream's track with this id.
    pub fn track(&self, id: u32) -> Option<&Track> {
        self.all.iter().find(|t| t.id == id)
    }

    /// The tracks named by a folder of `_`-separated ids (`1_2`), all of the stream's.
    pub fn folder_tracks(&self, folder: &str) -> Option<Vec<Track>> {
        let mut out = Vec::new();
        for id in folder.split('_') {
            out.push(self.track(id.parse().ok()?)?.clone());
        }
        (!out.is_empty()).then_some(out)
    }
}

/// What a segmented output supplies: its URLs, its playlist or manifest text and its muxing.
pub trait Format {
    /// The connector name, for the viewer's session and the logs (`HLS`, `CMAF`).
    const PROTOCOL: &'static str;
    /// The `Content-Type` of its segments.
    const SEGMENT_TYPE: &'static str;

    /// What `tail` (the path after the stream name, split at `/`) asks for.
    fn ask(tail: &[&str]) -> Ask;
    /// The answer to `tail` from the open stream, or which segment it wants.
    fn answer(tail: &[&str], stream: &Opened) -> Answer;
    /// Muxes the segment of `tracks` of `fragment` from its `packets` (those tracks' only, in
    /// decode order).
    fn build(tracks: &[Track], fragment: &Fragment, packets: &[&Packet]) -> Result<Bytes, String>;
}

/// The buffer behind a playlist or segment request. A playlist (`playlist`) starts a
/// configured stream and waits up to [`PLAYLIST_WAIT`] for its first fragment; a segment only
/// finds running streams. An on-demand stream's buffer is its description. `Err` is the answer
/// to give.
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
        return Ok(buffer);
    }
    if playlist && !buffer.wait_fragments(1, PLAYLIST_WAIT).await {
        return Err(Response::not_found("the stream has no segments yet"));
    }
    Ok(buffer)
}

/// The open stream for a request: its tracks, the viewer's choice of them, and an on-demand
/// stream's segments.
pub fn opened(name: &str, buffer: Arc<LiveBuffer>, req: &Request) -> Result<Opened, Response> {
    let vod = match buffer.vod_duration() {
        None => None,
        Some(_) => {
            let (file, segment_ms) = buffer
                .described_file()
                .ok_or_else(|| Response::not_found("the stream's file is not open"))?;
            let cuts = segments::fragments(&file, segment_ms);
            Some(OnDemand { file, cuts })
        }
    };
    // TS and fMP4 carry the same codecs; other tracks are not offered.
    let all: Vec<Track> = buffer
        .meta()
        .tracks
        .iter()
        .filter(|t| t.codec.is_some_and(crate::media::mp4::carries))
        .cloned()
        .collect();
    let tracks = TrackSelector::from_query(&req.query).select(&all, Fill::Every);
    Ok(Opened {
        name: name.to_string(),
        buffer,
        all,
        tracks,
        suffix: super::token_suffix(req),
        vod,
    })
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
    let stream = match segment_buffer(ctx, name, playlist)
        .await
        .and_then(|buffer| opened(name, buffer, req))
    {
        Ok(s) => s,
        Err(answer) => return answer.send(sock, req).await,
    };
    let (start_ms, tracks) = match F::answer(tail, &stream) {
        Answer::Done(resp) => return resp.send(sock, req).await,
        Answer::Segment { start_ms, tracks } => (start_ms, tracks),
    };
    let found = match &stream.vod {
        Some(vod) => vod_segment::<F>(vod, start_ms, &tracks).await,
        None => live_segment::<F>(&stream.buffer, start_ms, &tracks),
    };
    let (bytes, fragment) = match found {
        Ok(found) => found,
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

/// The name of a set of tracks in URLs and caches: their ids joined by `_`.
pub fn tracks_key(tracks: &[Track]) -> String {
    tracks
        .iter()
        .map(|t| t.id.to_string())
        .collect::<Vec<_>>()
        .join("_")
}

/// Most segments (formats and track sets together) one live fragment caches.
const LIVE_SEGMENTS_PER_FRAGMENT: usize = 8;

/// The segments built from a live fragment, by format and track set.
#[derive(Default)]
struct LiveSegments(Mutex<Vec<(&'static str, String, Bytes)>>);

/// A live fragment's segment of `tracks`, built by the first viewer asking.
fn live_segment<F: Format>(
    buffer: &LiveBuffer,
    start_ms: i64,
    tracks: &[Track],
) -> Result<(Bytes, Arc<Fragment>), Response> {
    let Some(fragment) = buffer.fragment_at(start_ms) else {
        return Err(Response::out_of_range());
    };
    let key = tracks_key(tracks);
    let cached = |set: &LiveSegments| {
        let list = set.0.lock().unwrap_or_else(|p| p.into_inner());
        list.iter()
            .find(|(f, k, _)| *f == F::PROTOCOL && *k == key)
            .map(|(_, _, b)| b.clone())
    };
    if let Some(bytes) = fragment.cache.with(LiveSegments::default, cached) {
        return Ok((bytes, fragment));
    }
    let entries = buffer.packets(fragment.first_seq, fragment.end_seq);
    let packets: Vec<&Packet> = entries
        .iter()
        .map(|e| &e.packet)
        .filter(|p| tracks.iter().any(|t| t.id == p.track))
        .collect();
    let bytes = build::<F>(tracks, &fragment, &packets)?;
    fragment.cache.with(LiveSegments::default, |set| {
        let mut list = set.0.lock().unwrap_or_else(|p| p.into_inner());
        if list.len() < LIVE_SEGMENTS_PER_FRAGMENT {
            list.push((F::PROTOCOL, key.clone(), bytes.clone()));
        }
    });
    Ok((bytes, fragment))
}

/// An on-demand segment of `tracks`: from the recent-segment cache, else read from the file
/// and built.
async fn vod_segment<F: Format>(
    vod: &OnDemand,
    start_ms: i64,
    tracks: &[Track],
) -> Result<(Bytes, Arc<Fragment>), Response> {
    let Some(fragment) = segments::find(&vod.cuts, start_ms) else {
        return Err(Response::out_of_range());
    };
    let key = segments::BuiltKey {
        path: vod.file.path.clone(),
        stamp: vod.file.stamp,
        format: F::PROTOCOL,
        tracks: tracks_key(tracks),
        start_ms,
    };
    if let Some(bytes) = segments::built(&key) {
        return Ok((bytes, fragment));
    }
    let ids = tracks.iter().map(|t| t.id).collect();
    let packets = segments::read(vod.file.clone(), fragment.clone(), ids)
        .await
        .map_err(|e| {
            tracing::warn!("{}: segment at {start_ms}: {e}", vod.file.path.display());
            Response::internal("Segment could not be read")
        })?;
    let refs: Vec<&Packet> = packets.iter().collect();
    let bytes = build::<F>(tracks, &fragment, &refs)?;
    segments::keep(key, bytes.clone());
    Ok((bytes, fragment))
}

fn build<F: Format>(
    tracks: &[Track],
    fragment: &Fragment,
    packets: &[&Packet],
) -> Result<Bytes, Response> {
    if packets.is_empty() {
        return Err(Response::missing(
            "No data for these tracks in this fragment",
        ));
    }
    F::build(tracks, fragment, packets).map_err(|e| {
        tracing::warn!("{} segment at {}: {e}", F::PROTOCOL, fragment.start_ms);
        Response::internal("Segment could not be built")
    })
}

/// How long a segment may be cached: ten times its length, in whole seconds (at least 10).
pub fn max_age_s(fragment: &Fragment) -> i64 {
    (fragment.duration_ms() / 1000).max(1) * 10
}
