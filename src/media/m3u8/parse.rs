//! Reading HLS playlists (RFC 8216) that other servers write: the master playlist's variants
//! and audio renditions, and a media playlist's segments.
//!
//! - 4.1 / 4.3.1.1: the text starts with `#EXTM3U`; lines end in LF or CRLF; blank lines and
//!   comments (`#` not followed by `EXT`) are skipped, unknown tags ignored.
//! - 4.2 attribute lists: `NAME=value` pairs separated by commas, quoted strings may hold
//!   commas.
//! - Media playlists: 4.3.2.1 `#EXTINF:<duration>,[title]` then the segment's URI; 4.3.2.2
//!   `#EXT-X-BYTERANGE:<n>[@<o>]` (without `@o` the range follows the previous one of the same
//!   resource); 4.3.2.3 `#EXT-X-DISCONTINUITY`; 4.3.2.5 `#EXT-X-MAP:URI=..[,BYTERANGE="n@o"]`
//!   (applies to the segments after it); 4.3.3.1 `#EXT-X-TARGETDURATION`; 4.3.3.2
//!   `#EXT-X-MEDIA-SEQUENCE`; 4.3.3.3 `#EXT-X-DISCONTINUITY-SEQUENCE`; 4.3.3.4 `#EXT-X-ENDLIST`;
//!   4.3.3.5 `#EXT-X-PLAYLIST-TYPE`.
//! - Master playlists: 4.3.4.2 `#EXT-X-STREAM-INF` (BANDWIDTH, CODECS, RESOLUTION, FRAME-RATE,
//!   AUDIO) followed by the variant's URI; 4.3.4.1 `#EXT-X-MEDIA` of TYPE=AUDIO.
//!
//! URIs come out resolved against the playlist's own location ([`resolve`]), a URL or a path.
//! Ceilings: [`MAX_LINES`] lines, [`MAX_SEGMENTS`] segments, [`MAX_VARIANTS`] variants and
//! renditions, [`MAX_LINE`] bytes per line; past them the playlist is refused, never stored.

use super::{AudioRendition, Variant};

/// Most lines read from one playlist.
pub const MAX_LINES: usize = 200_000;
/// Most segments in one media playlist (a day of 10 s segments is 8640).
pub const MAX_SEGMENTS: usize = 20_000;
/// Most variants, and most audio renditions, in one master playlist.
pub const MAX_VARIANTS: usize = 64;
/// Longest line taken.
pub const MAX_LINE: usize = 8192;

/// Why a playlist was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlaylistError {
    #[error("not an HLS playlist (no #EXTM3U at the start)")]
    NotM3u,
    #[error("more than {0} lines")]
    TooManyLines(usize),
    #[error("more than {0} segments")]
    TooManySegments(usize),
    #[error("more than {0} variants or renditions")]
    TooManyVariants(usize),
    #[error("line {line}: {reason}")]
    Bad { line: usize, reason: String },
    #[error("a media playlist without #EXT-X-TARGETDURATION")]
    NoTargetDuration,
}

/// A byte range of a resource (`#EXT-X-BYTERANGE`, 4.3.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub offset: u64,
    pub length: u64,
}

/// A media initialization section (`#EXT-X-MAP`, 4.3.2.5): an fMP4 `ftyp` + `moov`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSection {
    pub uri: String,
    pub range: Option<ByteRange>,
}

/// One media segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Its media sequence number (4.3.3.2: the first segment's is EXT-X-MEDIA-SEQUENCE).
    pub sequence: u64,
    pub uri: String,
    pub range: Option<ByteRange>,
    /// Seconds, from `#EXTINF`.
    pub duration: f64,
    /// Preceded by `#EXT-X-DISCONTINUITY`.
    pub discontinuity: bool,
    /// The `#EXT-X-MAP` in force: the segment is fMP4 when there is one.
    pub map: Option<InitSection>,
}

/// `#EXT-X-PLAYLIST-TYPE` (4.3.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistType {
    Event,
    Vod,
}

/// A media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist {
    /// Seconds.
    pub target_duration: u64,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub kind: Option<PlaylistType>,
    /// `#EXT-X-ENDLIST`: no segment will be added.
    pub ended: bool,
    pub segments: Vec<Segment>,
}

/// A master playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MasterPlaylist {
    pub variants: Vec<Variant>,
    /// `EXT-X-MEDIA` audio renditions (with their URI resolved).
    pub audio: Vec<AudioRendition>,
}

/// Either kind of playlist.
#[derive(Debug, Clone, PartialEq)]
pub enum Playlist {
    Master(MasterPlaylist),
    Media(MediaPlaylist),
}

/// Resolves `reference` against `base` (the location of the playlist naming it: an
/// `http(s)://` URL or a file path), as RFC 3986 5.2 does for the common cases: absolute URLs
/// as they are, `//host/..` with the base's scheme, `/path` from the base's authority (or the
/// file system root), anything else relative to the base's folder. Dot segments are left to
/// the server or the file system.
pub fn resolve(base: &str, reference: &str) -> String {
    if reference.contains("://") {
        return reference.to_string();
    }
    let base = base.split(['?', '#']).next().unwrap_or(base);
    let (scheme, rest) = match base.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, base),
    };
    if let Some(net) = reference.strip_prefix("//") {
        return match scheme {
            Some(s) => format!("{s}://{net}"),
            None => format!("/{net}"),
        };
    }
    if reference.starts_with('/') {
        return match scheme {
            Some(s) => {
                let authority = rest.split('/').next().unwrap_or(rest);
                format!("{s}://{authority}{reference}")
            }
            None => reference.to_string(),
        };
    }
    let folder_end = match scheme {
        // The authority's own slash does not count: `http://host` has the folder `/`.
        Some(_) => rest.rfind('/').map(|i| base.len() - rest.len() + i + 1),
        None => base.rfind('/').map(|i| i + 1),
    };
    match folder_end {
        Some(end) => format!("{}{reference}", &base[..end]),
        None if scheme.is_some() => format!("{base}/{reference}"),
        None => reference.to_string(),
    }
}

/// Splits an attribute list (4.2) into (name, value) pairs, quotes removed from quoted values.
pub fn attributes(list: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut out = Vec::new();
    let mut rest = list.trim();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("attribute without a value in {list:?}"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("attribute without a name in {list:?}"));
        }
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| format!("unterminated quoted string in {list:?}"))?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            match after.find(',') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            }
        };
        out.push((name, value.trim()));
        rest = after.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return Err(format!("junk after {name} in {list:?}"));
        }
    }
    Ok(out)
}

fn attr<'a>(attrs: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    attrs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// `n[@o]`; without `@o` the range starts at `next` (the end of the previous one).
fn byte_range(text: &str, next: u64) -> Result<ByteRange, String> {
    let (n, o) = match text.split_once('@') {
        Some((n, o)) => (n, Some(o)),
        None => (text, None),
    };
    let length = n
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a byte range"))?;
    let offset = match o {
        Some(o) => o
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a byte range"))?,
        None => next,
    };
    Ok(ByteRange { offset, length })
}

/// Parses a playlist fetched from `base` (its URL or path, for relative URIs).
pub fn parse(text: &str, base: &str) -> Result<Playlist, PlaylistError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, first)) if first.trim_end().starts_with("#EXTM3U") => {}
        _ => return Err(PlaylistError::NotM3u),
    }
    let mut media = MediaPlaylist {
        target_duration: 0,
        media_sequence: 0,
        discontinuity_sequence: 0,
        kind: None,
        ended: false,
        segments: Vec::new(),
    };
    let mut master = MasterPlaylist::default();
    let mut is_media = false;
    // State for the next URI line.
    let mut extinf: Option<f64> = None;
    let mut stream_inf: Option<Variant> = None;
    let mut discontinuity = false;
    let mut range: Option<ByteRange> = None;
    let mut map: Option<InitSection> = None;
    // Where a range without an offset starts: the end of the previous one (same resource).
    let mut range_end = 0u64;
    for (i, raw) in lines {
        let line_no = i + 1;
        if i >= MAX_LINES {
            return Err(PlaylistError::TooManyLines(MAX_LINES));
        }
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line.len() > MAX_LINE {
            return Err(PlaylistError::Bad {
                line: line_no,
                reason: format!("longer than {MAX_LINE} bytes"),
            });
        }
        let bad = |reason: String| PlaylistError::Bad {
            line: line_no,
            reason,
        };
        let number = |v: &str, what: &str| -> Result<u64, PlaylistError> {
            v.trim()
                .parse()
                .map_err(|_| bad(format!("{what}: {v:?} is not a number")))
        };
        if let Some(tag) = line.strip_prefix('#') {
            let (name, value) = tag.split_once(':').unwrap_or((tag, ""));
            match name {
                "EXTINF" => {
                    is_media = true;
                    let d = value.split(',').next().unwrap_or("").trim();
                    let d: f64 = d
                        .parse()
                        .ok()
                        .filter(|d: &f64| d.is_finite() && *d >= 0.0)
                        .ok_or_else(|| bad(format!("EXTINF: {d:?} is not a duration")))?;
                    extinf = Some(d);
                }
                "EXT-X-TARGETDURATION" => {
                    is_media = true;
                    media.target_duration = number(value, name)?;
                }
                "EXT-X-MEDIA-SEQUENCE" => {
                    is_media = true;
                    media.media_sequence = number(value, name)?;
                }
                "EXT-X-DISCONTINUITY-SEQUENCE" => {
                    media.discontinuity_sequence = number(value, name)?;
                }
                "EXT-X-DISCONTINUITY" => discontinuity = true,
                "EXT-X-ENDLIST" => {
                    is_media = true;
                    media.ended = true;
                }
                "EXT-X-PLAYLIST-TYPE" => {
                    media.kind = match value.trim() {
                        "VOD" => Some(PlaylistType::Vod),
                        "EVENT" => Some(PlaylistType::Event),
                        other => return Err(bad(format!("playlist type {other:?}"))),
                    }
                }
                "EXT-X-BYTERANGE" => range = Some(byte_range(value, range_end).map_err(bad)?),
                "EXT-X-MAP" => {
                    let attrs = attributes(value).map_err(bad)?;
                    let uri =
                        attr(&attrs, "URI").ok_or_else(|| bad("EXT-X-MAP without URI".into()))?;
                    let range = match attr(&attrs, "BYTERANGE") {
                        Some(r) => Some(byte_range(r, 0).map_err(bad)?),
                        None => None,
                    };
                    map = Some(InitSection {
                        uri: resolve(base, uri),
                        range,
                    });
                }
                "EXT-X-STREAM-INF" => {
                    let attrs = attributes(value).map_err(bad)?;
                    let bandwidth = attr(&attrs, "BANDWIDTH")
                        .ok_or_else(|| bad("EXT-X-STREAM-INF without BANDWIDTH".into()))?;
                    let resolution = match attr(&attrs, "RESOLUTION") {
                        Some(r) => {
                            let (w, h) = r.split_once(['x', 'X']).unwrap_or((r, ""));
                            match (w.parse(), h.parse()) {
                                (Ok(w), Ok(h)) => Some((w, h)),
                                _ => return Err(bad(format!("resolution {r:?}"))),
                            }
                        }
                        None => None,
                    };
                    stream_inf = Some(Variant {
                        uri: String::new(),
                        bandwidth: number(bandwidth, "BANDWIDTH")?,
                        codecs: attr(&attrs, "CODECS").unwrap_or("").to_string(),
                        resolution,
                        frame_rate: attr(&attrs, "FRAME-RATE").and_then(|f| f.parse().ok()),
                        audio_group: attr(&attrs, "AUDIO").map(String::from),
                    });
                }
                "EXT-X-MEDIA" => {
                    let attrs = attributes(value).map_err(bad)?;
                    if attr(&attrs, "TYPE") == Some("AUDIO") {
                        if master.audio.len() >= MAX_VARIANTS {
                            return Err(PlaylistError::TooManyVariants(MAX_VARIANTS));
                        }
                        master.audio.push(AudioRendition {
                            group: attr(&attrs, "GROUP-ID").unwrap_or("").to_string(),
                            name: attr(&attrs, "NAME").unwrap_or("").to_string(),
                            uri: attr(&attrs, "URI").map(|u| resolve(base, u)),
                            language: attr(&attrs, "LANGUAGE").map(String::from),
                            default: attr(&attrs, "DEFAULT") == Some("YES"),
                        });
                    }
                }
                _ => {}
            }
            continue;
        }
        // A URI line.
        if let Some(mut v) = stream_inf.take() {
            if master.variants.len() >= MAX_VARIANTS {
                return Err(PlaylistError::TooManyVariants(MAX_VARIANTS));
            }
            v.uri = resolve(base, line);
            master.variants.push(v);
        } else if let Some(duration) = extinf.take() {
            if media.segments.len() >= MAX_SEGMENTS {
                return Err(PlaylistError::TooManySegments(MAX_SEGMENTS));
            }
            let range = range.take();
            if let Some(r) = range {
                range_end = r.offset.saturating_add(r.length);
            }
            media.segments.push(Segment {
                sequence: media
                    .media_sequence
                    .saturating_add(media.segments.len() as u64),
                uri: resolve(base, line),
                range,
                duration,
                discontinuity: std::mem::take(&mut discontinuity),
                map: map.clone(),
            });
        } else {
            return Err(bad(format!(
                "{line:?}: a URI with no #EXTINF or #EXT-X-STREAM-INF before it"
            )));
        }
    }
    if !master.variants.is_empty() && !is_media {
        return Ok(Playlist::Master(master));
    }
    if is_media && media.target_duration == 0 {
        return Err(PlaylistError::NoTargetDuration);
    }
    if !is_media {
        return Err(PlaylistError::Bad {
            line: 1,
            reason: "neither variants nor segments".into(),
        });
    }
    Ok(Playlist::Media(media))
}

#[cfg(test)]
mod tests;
