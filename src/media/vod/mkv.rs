//! Matroska and WebM files for the on-demand index (RFC 9559; EBML, RFC 8794).
//!
//! - The EBML header must name DocType `matroska` or `webm`. Then the first Segment is walked
//!   from the file: Info (TimestampScale, Duration) and Tracks are read whole (with ceilings),
//!   every Cluster is walked for its block headers ([`cluster`]), anything else is skipped by
//!   its size. Segments and Clusters of unknown size (live-written WebM) are allowed; a
//!   Segment of unknown size runs to the end of the file, a Cluster to the next top-level
//!   element.
//! - Tracks and codecs: [`tracks`]. Tracks Eddy carries are numbered from 1 in the order
//!   Tracks lists them; [`Index::source_ids`] holds their TrackNumbers; the others are named in
//!   [`Index::skipped`] by TrackNumber and CodecID (`"track 3: S_TEXT/UTF8"`).
//! - Each frame is an entry whose byte range is the frame itself in the file (`raw_len ==
//!   size`; laced frames follow their lace header one after the other, so they too). H.264 and
//!   HEVC frames are already length-prefixed (4-byte lengths; other sizes are skipped).
//! - Times: a block's time is its Cluster's Timestamp plus its own, in TimestampScale units; a
//!   laced frame after the first adds its place in the lace times the frame duration (the
//!   BlockDuration shared out, else the track's DefaultDuration, else the codec's frame length
//!   where fixed: AAC 1024, MP3 1152, AC-3 1536 samples). Matroska stores presentation times
//!   only, so video decode times are derived: the track's presentation times sorted give the
//!   decode times in order, shifted earlier by the least amount that keeps every decode time at
//!   or before its presentation time (an H.264 stream with B-frames starts decoding a frame or
//!   two before 0, as from MP4). Audio decodes when it is presented.
//! - Keyframes: SimpleBlock's keyframe flag, or a BlockGroup without ReferenceBlock; every
//!   audio frame.
//! - A file cut short ends the index at the last whole block (a recording stopped abruptly
//!   plays up to there); a damaged header, Info or Tracks, or a damaged block header, is
//!   [`VodError::Malformed`].

mod cluster;
mod ebml;
mod tracks;

use std::collections::HashMap;
use std::io::{Read, Seek};

use super::{Container, Index, IndexEntry, VodError};
use crate::media::{Codec, TrackKind};
use cluster::{Frame, Walked};
use ebml::{bad, children, float, text, uint, Source};

/// Element ids (RFC 9559 section 5.1; RFC 8794 11.2 for the EBML header).
mod ids {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const MAX_ID_LENGTH: u32 = 0x42F2;
    pub const MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    pub const DURATION: u32 = 0x4489;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const DEFAULT_DURATION: u32 = 0x23_E383;
    pub const CODEC_DELAY: u32 = 0x56AA;
    pub const LANGUAGE: u32 = 0x22_B59C;
    pub const CONTENT_ENCODINGS: u32 = 0x6D80;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;
    pub const BIT_DEPTH: u32 = 0x6264;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    pub const BLOCK_GROUP: u32 = 0xA0;
    pub const BLOCK: u32 = 0xA1;
    pub const BLOCK_DURATION: u32 = 0x9B;
    pub const REFERENCE_BLOCK: u32 = 0xFB;
    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CHAPTERS: u32 = 0x1043_A770;
    pub const TAGS: u32 = 0x1254_C367;
    pub const ATTACHMENTS: u32 = 0x1941_A469;

    /// Elements that end a Cluster of unknown size: the Segment's children, or a new EBML
    /// document or Segment.
    pub fn is_top_level(id: u32) -> bool {
        matches!(
            id,
            CLUSTER
                | CUES
                | TAGS
                | INFO
                | TRACKS
                | SEEK_HEAD
                | CHAPTERS
                | ATTACHMENTS
                | EBML
                | SEGMENT
        )
    }
}

/// Ceilings of the elements read whole.
const MAX_EBML_HEADER: u64 = 4096;
const MAX_INFO: u64 = 1 << 20;
const MAX_TRACKS: u64 = 1 << 26;

/// Whether `head` starts an EBML document of DocType `matroska` or `webm`.
pub fn detect(head: &[u8]) -> bool {
    let Ok((ids::EBML, Some(size), n)) = ebml::parse_header(head) else {
        return false;
    };
    let body = head.get(n..).unwrap_or_default();
    let body = &body[..body.len().min(size as usize)];
    // The header may be longer than `head`: find DocType among the children there are.
    let mut rest = body;
    while let Ok((id, Some(size), n)) = ebml::parse_header(rest) {
        let Some(value) = rest.get(n..).and_then(|r| r.get(..size as usize)) else {
            return false;
        };
        if id == ids::DOC_TYPE {
            return matches!(text(value).as_str(), "matroska" | "webm");
        }
        rest = &rest[n + value.len()..];
    }
    false
}

/// Indexes a whole file.
pub fn scan<R: Read + Seek>(reader: &mut R, len: u64) -> Result<Index, VodError> {
    let mut src = Source::new(reader, len)?;
    let h = src
        .header()?
        .filter(|h| h.id == ids::EBML)
        .ok_or_else(|| bad("no EBML header"))?;
    let header = src.body(&h, MAX_EBML_HEADER, "the EBML header")?;
    let mut doc_type = String::new();
    for (id, v) in children(&header, "the EBML header")? {
        match id {
            ids::DOC_TYPE => doc_type = text(v),
            ids::MAX_ID_LENGTH if uint(v)? > 4 => return Err(bad("ids longer than 4 bytes")),
            ids::MAX_SIZE_LENGTH if uint(v)? > 8 => return Err(bad("sizes longer than 8 bytes")),
            _ => {}
        }
    }
    if !matches!(doc_type.as_str(), "matroska" | "webm") {
        return Err(bad(format!("DocType {doc_type:?}, not matroska or webm")));
    }
    let segment = loop {
        let Some(h) = src.header()? else {
            return Err(bad("no Segment"));
        };
        if h.id == ids::SEGMENT {
            break h;
        }
        src.goto(
            h.end()
                .ok_or_else(|| bad("an element of unknown size before the Segment"))?,
        )?;
    };
    let seg_end = segment.end().unwrap_or(len).min(len);
    let mut scale: u64 = 1_000_000;
    let mut duration = None;
    let mut entries = None;
    let mut frames = Vec::new();
    while src.pos() < seg_end {
        let Some(h) = src.header()? else { break };
        match h.id {
            ids::CLUSTER => {
                if cluster::cluster(&mut src, &h, seg_end, &mut frames)? == Walked::Cut {
                    break;
                }
                continue;
            }
            ids::INFO => {
                for (id, v) in children(&src.body(&h, MAX_INFO, "Info")?, "Info")? {
                    match id {
                        ids::TIMESTAMP_SCALE => scale = uint(v)?,
                        ids::DURATION => duration = Some(float(v)?),
                        _ => {}
                    }
                }
                if scale == 0 {
                    return Err(bad("TimestampScale 0"));
                }
            }
            ids::TRACKS if entries.is_none() => {
                entries = Some(tracks::parse_tracks(&src.body(&h, MAX_TRACKS, "Tracks")?)?);
            }
            ids::EBML | ids::SEGMENT => break, // a second document: only the first plays
            _ => {}
        }
        let end = h.end().ok_or_else(|| {
            bad(format!(
                "element 0x{:X} of unknown size at byte {}",
                h.id, h.at
            ))
        })?;
        src.goto(end)?;
    }
    let entries = entries.ok_or_else(|| bad("no Tracks element"))?;
    // Info's Duration (TimestampScale units), in ms: the frame rate of video tracks that
    // state none, when there is no other way.
    let duration_ms = duration
        .filter(|d| d.is_finite() && *d > 0.0)
        .map(|d| d * scale as f64 / 1e6);
    build(entries, frames, scale, duration_ms)
}

/// The index from the tracks and frames read.
fn build(
    entries: Vec<tracks::Entry>,
    frames: Vec<Frame>,
    scale: u64,
    duration_ms: Option<f64>,
) -> Result<Index, VodError> {
    let mut index = Index {
        container: Container::Matroska,
        tracks: Vec::new(),
        source_ids: Vec::new(),
        entries: Vec::new(),
        skipped: Vec::new(),
    };
    let mut by_number: HashMap<u64, Vec<Frame>> = HashMap::new();
    for f in frames {
        by_number.entry(f.number).or_default().push(f);
    }
    for e in entries {
        let number = e.number;
        let mut track = match e.track {
            Err(why) => {
                index.skipped.push(format!("track {number}: {why}"));
                continue;
            }
            Ok(t) => t,
        };
        let Ok(source_id) = u32::try_from(number) else {
            index
                .skipped
                .push(format!("track {number}: {}", e.codec_id));
            continue;
        };
        if index.source_ids.contains(&source_id) {
            index
                .skipped
                .push(format!("track {number}: a second track with this number"));
            continue;
        }
        let Some(frames) = by_number.remove(&number) else {
            let name = track.codec.map_or("?", Codec::mist_name);
            index
                .skipped
                .push(format!("track {number}: {name} without frames"));
            continue;
        };
        track.id = index.tracks.len() as u32 + 1;
        let step_ns = e.default_duration.map(i128::from).or_else(|| {
            let samples = match track.codec {
                Some(Codec::Aac) => 1024,
                Some(Codec::Mp3) => 1152,
                Some(Codec::Ac3) => 1536,
                _ => return None,
            };
            (track.rate > 0).then(|| samples * 1_000_000_000 / i128::from(track.rate))
        });
        let scale = i128::from(scale);
        let video = track.kind() == Some(TrackKind::Video);
        let mut mine: Vec<IndexEntry> = frames
            .iter()
            .map(|f| {
                let lace_step = match f.duration {
                    Some(d) => i128::from(d) * scale / i128::from(f.laces.max(1)),
                    None => step_ns.unwrap_or(0),
                };
                // RFC 9559 5.1.4.1.26: CodecDelay is subtracted from every frame's time.
                let ns = i128::from(f.time) * scale + i128::from(f.lace) * lace_step
                    - i128::from(e.codec_delay);
                IndexEntry {
                    track: track.id,
                    time: ms(ns),
                    offset: 0,
                    keyframe: f.key || !video,
                    pos: f.pos,
                    raw_len: f.size,
                    size: f.size,
                }
            })
            .collect();
        if video {
            decode_times(&mut mine);
            if track.fpks == 0 {
                track.fpks = fpks(&mine, duration_ms);
            }
        }
        index.tracks.push(track);
        index.source_ids.push(source_id);
        index.entries.extend(mine);
    }
    Ok(index)
}

/// ns to ms, rounded half up.
fn ms(ns: i128) -> i64 {
    let v = (ns + 500_000).div_euclid(1_000_000);
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// Sets decode times on a video track's entries (in file order, `time` holding presentation
/// times): the presentation times sorted, in file order, shifted earlier by the least amount
/// that keeps each decode time at or before its presentation time.
fn decode_times(entries: &mut [IndexEntry]) {
    let mut sorted: Vec<i64> = entries.iter().map(|e| e.time).collect();
    sorted.sort_unstable();
    let shift = entries
        .iter()
        .zip(&sorted)
        .map(|(e, &d)| d.saturating_sub(e.time))
        .max()
        .unwrap_or(0)
        .max(0);
    for (e, d) in entries.iter_mut().zip(sorted) {
        let dts = d.saturating_sub(shift);
        let offset = e.time.saturating_sub(dts);
        e.offset = offset.clamp(0, i64::from(i32::MAX)) as i32;
        e.time = dts;
    }
}

/// Frames per 1000 s from the presentation times (or the Info Duration for a single frame).
fn fpks(entries: &[IndexEntry], duration_ms: Option<f64>) -> u32 {
    let pts = || entries.iter().map(|e| e.time + i64::from(e.offset));
    let (Some(first), Some(last)) = (pts().min(), pts().max()) else {
        return 0;
    };
    let n = entries.len() as i128;
    if last > first {
        u32::try_from((n - 1) * 1_000_000 / i128::from(last - first)).unwrap_or(0)
    } else {
        duration_ms
            .filter(|&d| d >= 1.0)
            .map_or(0, |d| (n as f64 * 1e6 / d).min(f64::from(u32::MAX)) as u32)
    }
}
