//! A finished HLS playlist on disk played on demand (manual §3.3.3: a `.m3u8` file is VoD
//! when complete): its segments become one [`Body`], scanned piece by piece and joined into one
//! index ([`crate::media::vod::join`]), so it seeks, has a duration and plays through every output
//! like a file.
//!
//! - A media playlist is on demand when it has `#EXT-X-ENDLIST` and every segment is a local
//!   file; a master playlist when each of its playlists is (every variant and audio rendition,
//!   at most [`MAX_RENDITIONS`], keeps its tracks). Anything else ([`Reading::Live`]: still
//!   growing, or segments on a server) is followed by the HLS input instead.
//! - Pieces: a run of segments between `#EXT-X-DISCONTINUITY` tags (or `#EXT-X-MAP` changes),
//!   each run of fMP4 segments with its init section in front.
//! - The version ([`FileStamp`]) of the whole is the bytes of all its segments and the newest
//!   modification time of the playlists and segments, so a changed segment means a new scan.

use std::path::{Path, PathBuf};

use super::body::Body;
use super::file::stamp_of;
use super::seekbuf::SeekBuf;
use crate::media::m3u8::parse::{parse, ByteRange, InitSection, MediaPlaylist, Playlist};
use crate::media::vod::join::{join, Piece};
use crate::media::vod::store::FileStamp;
use crate::media::vod::{self, Container, Index, VodError};

/// Most playlists of a master played on demand (as many as the live input follows).
pub const MAX_RENDITIONS: usize = 16;
/// Largest playlist file read.
const MAX_PLAYLIST_BYTES: u64 = 16 << 20;
/// How many first bytes of a piece tell its container.
const HEAD: usize = 512;

/// Whether a source path names an HLS playlist.
pub fn is_playlist(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("m3u8") || e.eq_ignore_ascii_case("m3u"))
}

/// What a playlist file is.
pub enum Reading {
    OnDemand(PlaylistBody),
    /// Not finished, or not all on disk: for the HLS input; the reason says which.
    Live(String),
}

/// A finished playlist's body and its pieces.
pub struct PlaylistBody {
    pub body: Body,
    pub stamp: FileStamp,
    /// `(at, len, rendition, extension of its first segment)` per piece, in body order.
    pieces: Vec<(u64, u64, u32, String)>,
}

/// Reads the playlist at `path` (blocking).
pub fn read(path: &Path) -> Result<Reading, VodError> {
    let (text, mut newest) = read_text(path)?;
    let base = path.to_string_lossy();
    let medias = match parse(&text, &base).map_err(|e| bad(path, e))? {
        Playlist::Media(m) => vec![m],
        Playlist::Master(master) => {
            let mut uris: Vec<String> = master.variants.into_iter().map(|v| v.uri).collect();
            for uri in master.audio.into_iter().filter_map(|a| a.uri) {
                if !uris.contains(&uri) {
                    uris.push(uri);
                }
            }
            if uris.len() > MAX_RENDITIONS {
                return Err(bad(
                    path,
                    format!("more than {MAX_RENDITIONS} variants and renditions"),
                ));
            }
            let mut medias = Vec::new();
            for uri in uris {
                if uri.contains("://") {
                    return Ok(Reading::Live(format!("{uri} is not a local file")));
                }
                let (text, modified) = read_text(Path::new(&uri))?;
                newest = newest.max(modified);
                match parse(&text, &uri).map_err(|e| bad(Path::new(&uri), e))? {
                    Playlist::Media(m) => medias.push(m),
                    Playlist::Master(_) => {
                        return Err(bad(Path::new(&uri), "a master playlist inside a master"))
                    }
                }
            }
            medias
        }
    };
    let mut pieces = Vec::new();
    let mut parts = Vec::new();
    let mut at = 0u64;
    for (rendition, media) in (0..).zip(&medias) {
        if !media.ended {
            return Ok(Reading::Live(
                "the playlist has no #EXT-X-ENDLIST yet".into(),
            ));
        }
        for run in runs(media) {
            let start = at;
            let mut ext = String::new();
            for (uri, range) in run {
                if uri.contains("://") {
                    return Ok(Reading::Live(format!("{uri} is not a local file")));
                }
                let file = PathBuf::from(&uri);
                let meta = std::fs::metadata(&file).map_err(|e| {
                    VodError::Unrecognised(format!("{}: segment {uri}: {e}", path.display()))
                })?;
                newest = newest.max(stamp_of(&meta).modified_ns);
                let (from, len) = match range {
                    Some(r) if r.offset.saturating_add(r.length) <= meta.len() => {
                        (r.offset, r.length)
                    }
                    Some(_) => return Err(bad(path, format!("{uri} is shorter than its range"))),
                    None => (0, meta.len()),
                };
                if ext.is_empty() {
                    ext = file
                        .extension()
                        .and_then(|e| e.to_str())
                        .unwrap_or_default()
                        .to_string();
                }
                parts.push((file, from, len));
                at += len;
            }
            if at > start {
                pieces.push((start, at - start, rendition, ext));
            }
        }
    }
    if pieces.is_empty() {
        return Err(VodError::NoTracks("a playlist without segments".into()));
    }
    Ok(Reading::OnDemand(PlaylistBody {
        body: Body::parts(parts),
        stamp: FileStamp {
            len: at,
            modified_ns: newest,
        },
        pieces,
    }))
}

/// Scans each piece of the body and joins them into one index (blocking).
pub fn scan(playlist: &PlaylistBody) -> Result<Index, VodError> {
    let mut scanned = Vec::with_capacity(playlist.pieces.len());
    for (at, len, rendition, ext) in &playlist.pieces {
        let mut reader = SeekBuf::new(Window::new(playlist.body.open()?, *at, *len), *len);
        let mut head = vec![0u8; (*len).min(HEAD as u64) as usize];
        std::io::Read::read_exact(&mut reader, &mut head)?;
        let container = Container::detect(&head, ext).ok_or_else(|| {
            VodError::Unrecognised(format!("segments of a kind Eddy does not read (.{ext})"))
        })?;
        let index = vod::scan(container, &mut reader, *len)?;
        scanned.push(Piece {
            index,
            at: *at,
            rendition: *rendition,
        });
    }
    join(scanned)
}

/// The runs of a media playlist: segments between discontinuities (or init section changes),
/// with the run's init section first. `(uri, range)` each.
fn runs(media: &MediaPlaylist) -> Vec<Vec<(String, Option<ByteRange>)>> {
    let mut out: Vec<Vec<(String, Option<ByteRange>)>> = Vec::new();
    let mut map: Option<&InitSection> = None;
    for (i, seg) in media.segments.iter().enumerate() {
        if i == 0 || seg.discontinuity || seg.map.as_ref() != map {
            map = seg.map.as_ref();
            let mut run = Vec::new();
            if let Some(m) = map {
                run.push((m.uri.clone(), m.range));
            }
            out.push(run);
        }
        if let Some(run) = out.last_mut() {
            run.push((seg.uri.clone(), seg.range));
        }
    }
    out
}

fn read_text(path: &Path) -> Result<(String, i128), VodError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| VodError::Unrecognised(format!("{}: {e}", path.display())))?;
    if meta.len() > MAX_PLAYLIST_BYTES {
        return Err(bad(path, "larger than 16 MiB"));
    }
    let bytes = std::fs::read(path)?;
    Ok((
        String::from_utf8_lossy(&bytes).into_owned(),
        stamp_of(&meta).modified_ns,
    ))
}

fn bad(path: &Path, reason: impl std::fmt::Display) -> VodError {
    VodError::Malformed {
        container: "HLS",
        reason: format!("{}: {reason}", path.display()),
    }
}

/// `len` bytes of a reader from `start`, seen as a whole of their own.
struct Window<R> {
    inner: R,
    start: u64,
    len: u64,
    pos: u64,
}

impl<R: std::io::Read + std::io::Seek> Window<R> {
    fn new(inner: R, start: u64, len: u64) -> Self {
        Window {
            inner,
            start,
            len,
            pos: u64::MAX,
        }
    }
}

impl<R: std::io::Read + std::io::Seek> std::io::Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == u64::MAX {
            self.inner.seek(std::io::SeekFrom::Start(self.start))?;
            self.pos = 0;
        }
        let left = self.len.saturating_sub(self.pos);
        let want = left.min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: std::io::Read + std::io::Seek> std::io::Seek for Window<R> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => {
                let now = if self.pos == u64::MAX { 0 } else { self.pos };
                now.checked_add_signed(d)
            }
        }
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before 0"))?;
        self.inner
            .seek(std::io::SeekFrom::Start(self.start + target))?;
        self.pos = target;
        Ok(target)
    }
}
