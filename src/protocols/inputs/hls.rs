//! HLS pull (manual §3.3.3): a stream whose source is an HLS playlist.
//!
//! - `http://.../x.m3u8` (or `.m3u8?query`) is always live: the input joins at the live edge
//!   and follows it. `https://` too, verified against the system's root certificates (and the
//!   file `SSL_CERT_FILE` names, for a private CA) with rustls.
//! - A `.m3u8` / `.m3u` file path: a complete playlist whose segments are all on disk plays on
//!   demand like a file ([`crate::hub::vod::playlist`]: seekable, with a duration); one that
//!   has no `#EXT-X-ENDLIST` yet comes here and is followed like a live one.
//! - An ended playlist that comes here anyway (over HTTP, or naming segments on a server) is
//!   played from its first segment at its own pace, and the input ends after its last segment
//!   (the stream may start it again).
//! - A master playlist: every variant (and every audio rendition with its own playlist) is
//!   followed, at most [`MAX_FOLLOWED`]; variant `n`'s tracks get the ids `n × 100 + id`
//!   ([`sink`]), so the stream keeps every rendition and its HLS output lists them again.
//!
//! Playlists are reloaded per RFC 8216 6.3.4 ([`follow`]); each new segment is fetched once,
//! one at a time (at most one segment is held), TS through the MPEG-TS demuxer and fMP4
//! (`#EXT-X-MAP`) through the MP4 reader ([`sink`]). An origin that fails or stops changing is
//! retried with back-off and logged once; the input fails (and the stream restarts it) only
//! after [`OUTAGE`] without a new segment.

mod fetch;
mod follow;
mod sink;

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use crate::hub::outlets::InputEnd;
use crate::hub::Publisher;
use crate::media::m3u8::parse::{parse, InitSection, Playlist};
use fetch::{Fetcher, MAX_PLAYLIST, MAX_SEGMENT};
use follow::Follower;
use sink::Sink;

/// The input's name (`capabilities`, STREAM_READY).
pub const NAME: &str = "HLS";
/// How long the origin may bring no new segment before the input fails.
pub const OUTAGE: Duration = Duration::from_secs(60);
/// Most playlists of a master followed at once.
pub const MAX_FOLLOWED: usize = 16;
/// How far ahead of real time an ended playlist is fed.
const PACE_LEAD: Duration = Duration::from_secs(4);
/// A playlist unchanged for this many target durations is reported as stalled.
const STALLED_TARGETS: u32 = 3;

/// Whether this input reads `source`.
pub fn reads(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        lower.ends_with(".m3u8") || lower.contains(".m3u8?")
    } else {
        lower.starts_with('/') && (lower.ends_with(".m3u8") || lower.ends_with(".m3u"))
    }
}

/// One followed playlist and what belongs to it.
struct Variant {
    follow: Follower,
    sink: Sink,
    next_reload: Instant,
    /// When a segment last came in (or the input started).
    progress: Instant,
    /// When the playlist last changed.
    changed: Instant,
    /// The problem being reported, so that it is logged once.
    trouble: bool,
    init: Option<(InitSection, Bytes)>,
    /// For an ended playlist: when the first segment was fed, and the seconds fed since.
    clock: Option<(Instant, f64)>,
}

impl Variant {
    fn new(stream: &str, index: u32, uri: String) -> Variant {
        let now = Instant::now();
        Variant {
            follow: Follower::new(uri),
            sink: Sink::new(stream, index),
            next_reload: now,
            progress: now,
            changed: now,
            trouble: false,
            init: None,
            clock: None,
        }
    }

    fn done(&self) -> bool {
        self.follow.ended && self.follow.queue.is_empty()
    }

    /// When it next has something to do, and whether that is fetching a segment.
    fn due(&self) -> (Instant, bool) {
        if self.follow.queue.is_empty() {
            return (self.next_reload, false);
        }
        let at = match self.clock {
            Some((start, fed)) if self.follow.paced => {
                (start + Duration::from_secs_f64(fed)).checked_sub(PACE_LEAD)
            }
            _ => None,
        };
        (at.unwrap_or_else(Instant::now), true)
    }
}

/// Runs the input of `stream` until `stop`, the playlist's end, or a long outage.
pub async fn run(
    stream: &str,
    source: &str,
    publisher: Publisher,
    mut stop: watch::Receiver<bool>,
) -> InputEnd {
    let fetcher = Fetcher::new();
    let text = tokio::select! {
        _ = super::stopped(&mut stop) => return InputEnd::Stopped,
        got = fetcher.get(source, None, MAX_PLAYLIST) => match got {
            Ok(t) => t,
            Err(e) => return InputEnd::Failed(e),
        },
    };
    let text = String::from_utf8_lossy(&text);
    let mut variants: Vec<Variant> = match parse(&text, source) {
        Err(e) => return InputEnd::Failed(format!("{source}: {e}")),
        Ok(Playlist::Media(p)) => {
            let mut v = Variant::new(stream, 0, source.to_string());
            let update = v.follow.update(&p);
            v.next_reload = Instant::now() + v.follow.reload_after(update);
            vec![v]
        }
        Ok(Playlist::Master(m)) => {
            let mut uris: Vec<String> = m.variants.into_iter().map(|v| v.uri).collect();
            for uri in m.audio.into_iter().filter_map(|a| a.uri) {
                if !uris.contains(&uri) {
                    uris.push(uri);
                }
            }
            if uris.len() > MAX_FOLLOWED {
                tracing::warn!(
                    kind = "WARN",
                    stream,
                    "HLS: {source} lists {} playlists; following the first {MAX_FOLLOWED}",
                    uris.len()
                );
                uris.truncate(MAX_FOLLOWED);
            }
            (0..)
                .zip(uris)
                .map(|(i, uri)| Variant::new(stream, i, uri))
                .collect()
        }
    };
    tracing::info!(
        kind = "STRM",
        stream,
        "HLS: following {source} ({} playlist(s))",
        variants.len()
    );
    loop {
        if variants.iter().all(Variant::done) {
            return InputEnd::Finished(format!("{source} ended"));
        }
        if variants
            .iter()
            .filter(|v| !v.done())
            .all(|v| v.progress.elapsed() > OUTAGE)
        {
            return InputEnd::Failed(format!("no new segment from {source} for {OUTAGE:?}"));
        }
        let Some((i, (at, fetch))) = variants
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.done())
            .map(|(i, v)| (i, v.due()))
            .min_by_key(|(_, (at, _))| *at)
        else {
            continue;
        };
        tokio::select! {
            _ = super::stopped(&mut stop) => return InputEnd::Stopped,
            _ = tokio::time::sleep_until(at.into()) => {}
        }
        let v = &mut variants[i];
        let step = if fetch {
            segment(&fetcher, v, &publisher, &mut stop).await
        } else {
            reload(&fetcher, v, stream, &mut stop).await
        };
        if let Some(end) = step {
            return end;
        }
    }
}

/// Reloads a variant's playlist; `Some` ends the input.
async fn reload(
    fetcher: &Fetcher,
    v: &mut Variant,
    stream: &str,
    stop: &mut watch::Receiver<bool>,
) -> Option<InputEnd> {
    let got = tokio::select! {
        _ = super::stopped(stop) => return Some(InputEnd::Stopped),
        got = fetcher.get(&v.follow.uri, None, MAX_PLAYLIST) => got,
    };
    let parsed = got.and_then(
        |text| match parse(&String::from_utf8_lossy(&text), &v.follow.uri) {
            Ok(Playlist::Media(p)) => Ok(p),
            Ok(Playlist::Master(_)) => Err(format!(
                "{}: a master playlist where a media playlist was expected",
                v.follow.uri
            )),
            Err(e) => Err(format!("{}: {e}", v.follow.uri)),
        },
    );
    let now = Instant::now();
    match parsed {
        Ok(p) => {
            let update = v.follow.update(&p);
            v.next_reload = now + v.follow.reload_after(update);
            if update.new > 0 {
                v.changed = now;
                if v.trouble {
                    tracing::info!(kind = "STRM", stream, "HLS: {} is back", v.follow.uri);
                    v.trouble = false;
                }
                if update.restarted {
                    tracing::info!(kind = "STRM", stream, "HLS: {} started over", v.follow.uri);
                }
            } else if !v.trouble && now - v.changed > v.follow.target * STALLED_TARGETS {
                tracing::warn!(
                    kind = "WARN",
                    stream,
                    "HLS: {} has not changed for {:?}; still reloading",
                    v.follow.uri,
                    now - v.changed
                );
                v.trouble = true;
            }
        }
        Err(e) => {
            let wait = v.follow.failed();
            v.next_reload = now + wait;
            if !v.trouble {
                tracing::warn!(kind = "WARN", stream, "HLS: {e}; retrying");
                v.trouble = true;
            }
        }
    }
    None
}

/// Fetches and feeds the variant's next segment; `Some` ends the input.
async fn segment(
    fetcher: &Fetcher,
    v: &mut Variant,
    publisher: &Publisher,
    stop: &mut watch::Receiver<bool>,
) -> Option<InputEnd> {
    let seg = v.follow.queue.pop_front()?;
    let clock = v.clock.get_or_insert((Instant::now(), 0.0));
    clock.1 += seg.duration;
    let init = match &seg.map {
        None => None,
        Some(map) => match &v.init {
            Some((have, bytes)) if have == map => Some(bytes.clone()),
            _ => {
                let got = tokio::select! {
                    _ = super::stopped(stop) => return Some(InputEnd::Stopped),
                    got = fetcher.get(&map.uri, map.range, MAX_SEGMENT) => got,
                };
                match got {
                    Ok(bytes) => {
                        v.init = Some((map.clone(), bytes.clone()));
                        Some(bytes)
                    }
                    Err(e) => {
                        v.sink.complain(&format!("init section {e}"));
                        return None;
                    }
                }
            }
        },
    };
    let got = tokio::select! {
        _ = super::stopped(stop) => return Some(InputEnd::Stopped),
        got = fetcher.get(&seg.uri, seg.range, MAX_SEGMENT) => got,
    };
    let data = match got {
        Ok(d) => d,
        Err(e) => {
            v.sink.complain(&format!("segment {e}"));
            return None;
        }
    };
    v.progress = Instant::now();
    match v
        .sink
        .segment(publisher, data, init.as_ref(), seg.discontinuity)
    {
        Ok(()) => None,
        Err(e) => Some(InputEnd::Finished(format!("{e}"))),
    }
}
