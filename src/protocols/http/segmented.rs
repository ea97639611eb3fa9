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
//!   If-None-Match names its ETag          304 Not Modified (nothing is built)
//!   Format::build(tracks, packets)        live: cached on the fragment (`fragment.cache`);
//!                                         on demand: packets read from the file for that
//!                                         range, kept in a small cache (hub::vod::segments)
//!   send it cacheable, counted for the session
//! ```
//!
//! Every playlist and segment request of a viewer belongs to its one session (USER_NEW runs
//! once), and segments are built by the first viewer that asks, so every viewer gets the same
//! bytes.
//!
//! ## Caches in front (a CDN, nginx `proxy_cache`)
//!
//! A segment URL must name the same bytes for as long as a cache may keep it. Times alone do
//! not: a live stream whose publisher comes back without `resume` starts its timeline again
//! (`0_2000.ts` a second time, other pictures), and a file can be replaced. So generated URLs
//! carry the stream's *generation* ([`Opened::generation`]: the wall-clock time of a live
//! buffer's media time 0, which every fresh start sets anew, or a hash of the file's path, size
//! and modification time): `<from>_<until>_<gen>.ts`, `chunk_<time>_<gen>.m4s`, and
//! `init_<gen>-<tracks>.m4s` (the init also names a hash of its tracks' parameters, which a
//! resumed publisher may change). A URL of another generation is `404 Fragment out of range`,
//! never other bytes. The answers:
//!
//! | answer | `Cache-Control` | `ETag` |
//! |---|---|---|
//! | segment or init, generation in the URL | `public, max-age=3600, immutable` (file: 86400) | generation, format, tracks, time |
//! | the same by MistServer's names (no generation) | `public, max-age=<segment length>` | the same (a restart changes it) |
//! | live playlist, DASH manifest | `public, max-age=<half the target duration>` | hash of the text |
//! | a file's playlist or manifest (complete) | `public, max-age=300` | hash of the text |
//!
//! `public` becomes `private` when the request carries a token the viewer brought (see
//! [`super::shared_by_viewers`]). Errors keep the no-cache headers. HEAD gets the same head
//! (with the segment's length) and no body.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

use super::response::{fnv1a, FNV_START};
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
    /// The segment of `tracks` of the fragment that starts at `start_ms`, of the stream
    /// generation the URL names (`None`: a name without one).
    Segment {
        start_ms: i64,
        tracks: Vec<Track>,
        generation: Option<String>,
    },
}

/// How long a segment whose URL names its generation may be kept, live: it never changes, and
/// an hour is longer than any buffer window.
pub const PINNED_LIVE_MAX_AGE_S: i64 = 3600;
/// The same for a file's segments.
pub const PINNED_VOD_MAX_AGE_S: i64 = 86_400;
/// How long a file's (complete) playlist or manifest may be kept: a replaced file gets new
/// segment names, which caches learn within this time.
pub const VOD_PLAYLIST_MAX_AGE_S: i64 = 300;

/// A live buffer's generation: its media time 0 in wall-clock ms, in hex (set anew by every
/// fresh start, kept by a resume).
pub fn live_generation(buffer: &LiveBuffer) -> Option<String> {
    buffer.zero_unix_ms().map(|z| format!("{z:x}"))
}

/// A file's generation: a hash of its path, size and modification time.
pub fn file_generation(file: &VodFile) -> String {
    let path = file.path.to_string_lossy();
    let mut h = fnv1a(FNV_START, path.as_bytes());
    h = fnv1a(h, &file.stamp.len.to_le_bytes());
    h = fnv1a(h, &file.stamp.modified_ns.to_le_bytes());
    format!("{h:x}")
}

/// The init segments' tag: `generation` and a hash of what the init segments are made of
/// (each track's id, codec string, codec data and picture or sound parameters).
pub fn init_tag(generation: &str, tracks: &[Track]) -> String {
    let mut h = FNV_START;
    for t in tracks {
        h = fnv1a(h, &t.id.to_le_bytes());
        h = fnv1a(h, t.codec_string.as_bytes());
        h = fnv1a(h, &t.init);
        for n in [t.width, t.height, t.rate, t.channels, t.size] {
            h = fnv1a(h, &n.to_le_bytes());
        }
    }
    format!("{generation}-{:x}", h & 0xffff_ffff)
}

/// Splits a segment name's stem (`<from>_<until>_<gen>`, `<time>_<gen>`) into the part before
/// the generation and the generation: `parts` numbers before it (1 or 2).
pub fn split_generation(stem: &str, parts: usize) -> (&str, Option<String>) {
    let mut cut = stem.match_indices('_').map(|(i, _)| i);
    match cut.nth(parts - 1) {
        Some(i) => (&stem[..i], Some(stem[i + 1..].to_string())),
        None => (stem, None),
    }
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
    /// `?tkn=...` for the URLs in playlists and manifests, or nothing (see
    /// [`super::token_suffix`]).
    pub suffix: String,
    /// Set for an on-demand stream.
    pub vod: Option<OnDemand>,
    /// Which life of the stream its segments belong to (see the module doc), named in segment
    /// URLs; `None` for a live buffer with no packet yet.
    pub generation: Option<String>,
    /// The init segments' tag: the generation and a hash of the tracks' parameters.
    pub init_tag: Option<String>,
    /// Whether shared caches may keep the answers (no token of the viewer's own in them).
    pub shared: bool,
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

    /// What segment names carry before their extension: `_<generation>`, or nothing.
    pub fn segment_tag(&self) -> String {
        self.generation
            .as_ref()
            .map(|g| format!("_{g}"))
            .unwrap_or_default()
    }

    /// What init segment names carry before `.m4s`: `_<generation>-<tracks>`, or nothing.
    pub fn init_name_tag(&self) -> String {
        self.init_tag
            .as_ref()
            .map(|g| format!("_{g}"))
            .unwrap_or_default()
    }

    /// The `Cache-Control` and `ETag` of a playlist or manifest answer (see the module doc).
    pub fn playlist_caching(&self, resp: Response) -> Response {
        let max_age = match self.vod {
            Some(_) => VOD_PLAYLIST_MAX_AGE_S,
            None => {
                let longest = self
                    .fragments()
                    .iter()
                    .map(|f| f.duration_ms())
                    .max()
                    .unwrap_or(2_000);
                // Half the target duration (the longest segment in whole seconds, rounded up).
                ((longest + 999) / 1000 / 2).max(1)
            }
        };
        resp.cache_for(max_age, self.shared, false).body_etag()
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
    let generation = match &vod {
        Some(v) => Some(file_generation(&v.file)),
        None => live_generation(&buffer),
    };
    let init_tag = generation.as_deref().map(|g| init_tag(g, &all));
    Ok(Opened {
        name: name.to_string(),
        buffer,
        all,
        tracks,
        suffix: super::token_suffix(req),
        vod,
        generation,
        init_tag,
        shared: super::shared_by_viewers(req),
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
    kept: &mut Option<super::KeptSession>,
) -> std::io::Result<bool> {
    let parts: Vec<&str> = rest.split('/').collect();
    let (name, tail) = parts.split_first().unwrap_or((&"", &[]));
    let counters = match super::admit_request(ctx, req, name, F::PROTOCOL, peer, kept).await {
        Ok(c) => c,
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
    let (start_ms, tracks, named) = match F::answer(tail, &stream) {
        Answer::Done(resp) if resp.status() != super::Status::Ok => {
            return resp.send(sock, req).await
        }
        Answer::Done(resp) if playlist => {
            return stream.playlist_caching(resp).send(sock, req).await
        }
        // An init segment: what its name pins is checked by the format.
        Answer::Done(resp) => {
            let pinned = tail.last().is_some_and(|f| f.contains('_'));
            let resp = match pinned {
                true => resp.cache_for(pinned_max_age(&stream), stream.shared, true),
                false => resp.cache_for(UNPINNED_INIT_MAX_AGE_S, stream.shared, false),
            };
            return resp.body_etag().send(sock, req).await;
        }
        Answer::Segment {
            start_ms,
            tracks,
            generation,
        } => (start_ms, tracks, generation),
    };
    // A name of another life of the stream names bytes that are gone.
    let pinned = match (&named, &stream.generation) {
        (None, _) => false,
        (Some(n), Some(g)) if n == g => true,
        (Some(_), _) => return Response::out_of_range().send(sock, req).await,
    };
    let fragment = match &stream.vod {
        Some(vod) => segments::find(&vod.cuts, start_ms),
        None => stream.buffer.fragment_at(start_ms),
    };
    let Some(fragment) = fragment else {
        return Response::out_of_range().send(sock, req).await;
    };
    let caching = |resp: Response| {
        let tag = format!(
            "{}-{}-{}-{}",
            stream.generation.as_deref().unwrap_or("0"),
            F::PROTOCOL,
            tracks_key(&tracks),
            fragment.start_ms
        );
        let resp = match pinned {
            true => resp.cache_for(pinned_max_age(&stream), stream.shared, true),
            false => resp.cache_for(max_age_s(&fragment), stream.shared, false),
        };
        resp.etag(&tag)
    };
    // A client (a cache revalidating) that has these bytes gets a 304 before any is built.
    let probe = caching(Response::ok(F::SEGMENT_TYPE, Bytes::new()));
    if probe.not_modified_for(req) {
        return probe.send(sock, req).await;
    }
    let found = match &stream.vod {
        Some(vod) => vod_segment::<F>(vod, &fragment, &tracks).await,
        None => live_segment::<F>(&stream.buffer, &fragment, &tracks),
    };
    let body = match found {
        Ok(found) => found,
        Err(resp) => return resp.send(sock, req).await,
    };
    if !req.is_head() {
        let len = body.len() as u64;
        let packets = fragment.end_seq - fragment.first_seq;
        counters.sent(len, packets, Some(fragment.end_ms));
        stream
            .buffer
            .counters
            .bytes_out
            .fetch_add(len, Ordering::Relaxed);
    }
    caching(Response::ok(F::SEGMENT_TYPE, body))
        .send(sock, req)
        .await
}

/// How long a segment or init whose name pins its generation may be kept.
fn pinned_max_age(stream: &Opened) -> i64 {
    match stream.vod {
        Some(_) => PINNED_VOD_MAX_AGE_S,
        None => PINNED_LIVE_MAX_AGE_S,
    }
}

/// How long an init segment by MistServer's name (`init.m4s`, no generation) may be kept: a
/// restart may change it, so a cache asks again soon (and gets a `304` when it did not).
pub const UNPINNED_INIT_MAX_AGE_S: i64 = 2;

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

impl LiveSegments {
    fn list(&self) -> std::sync::MutexGuard<'_, Vec<(&'static str, String, Bytes)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The segment of format `protocol` and track set `key` in `list`.
fn find_segment(
    list: &[(&'static str, String, Bytes)],
    protocol: &str,
    key: &str,
) -> Option<Bytes> {
    list.iter()
        .find(|(f, k, _)| *f == protocol && k == key)
        .map(|(_, _, b)| b.clone())
}

/// A live fragment's segment of `tracks`, built by the first viewer asking.
fn live_segment<F: Format>(
    buffer: &LiveBuffer,
    fragment: &Fragment,
    tracks: &[Track],
) -> Result<Bytes, Response> {
    let key = tracks_key(tracks);
    let cached = |set: &LiveSegments| find_segment(&set.list(), F::PROTOCOL, &key);
    if let Some(body) = fragment.cache.with(LiveSegments::default, cached) {
        return Ok(body);
    }
    let entries = buffer.packets(fragment.first_seq, fragment.end_seq);
    let packets: Vec<&Packet> = entries
        .iter()
        .map(|e| &e.packet)
        .filter(|p| tracks.iter().any(|t| t.id == p.track))
        .collect();
    let body = build::<F>(tracks, fragment, &packets)?;
    let kept = fragment.cache.with(LiveSegments::default, |set| {
        let mut list = set.list();
        // A racing viewer may have built it too: every viewer gets the one that is kept.
        if let Some(kept) = find_segment(&list, F::PROTOCOL, &key) {
            return Some(kept);
        }
        if list.len() >= LIVE_SEGMENTS_PER_FRAGMENT {
            return None;
        }
        list.push((F::PROTOCOL, key.clone(), body.clone()));
        Some(body.clone())
    });
    Ok(kept.unwrap_or(body))
}

/// An on-demand segment of `tracks`: from the recent-segment cache, else read from the file
/// and built.
async fn vod_segment<F: Format>(
    vod: &OnDemand,
    fragment: &Arc<Fragment>,
    tracks: &[Track],
) -> Result<Bytes, Response> {
    let start_ms = fragment.start_ms;
    let key = segments::BuiltKey {
        path: vod.file.path.clone(),
        stamp: vod.file.stamp,
        format: F::PROTOCOL,
        tracks: tracks_key(tracks),
        start_ms,
    };
    if let Some(bytes) = segments::built(&key) {
        return Ok(bytes);
    }
    let ids = tracks.iter().map(|t| t.id).collect();
    let packets = segments::read(vod.file.clone(), fragment.clone(), ids)
        .await
        .map_err(|e| {
            tracing::warn!("{}: segment at {start_ms}: {e}", vod.file.path.display());
            Response::internal("Segment could not be read")
        })?;
    let refs: Vec<&Packet> = packets.iter().collect();
    let bytes = build::<F>(tracks, fragment, &refs)?;
    segments::keep(key, bytes.clone());
    Ok(bytes)
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

/// How long a segment by MistServer's name (no generation) may be kept: its length in whole
/// seconds (at least 1), since a restart of the stream may give the name other bytes.
pub fn max_age_s(fragment: &Fragment) -> i64 {
    (fragment.duration_ms() / 1000).max(1)
}
