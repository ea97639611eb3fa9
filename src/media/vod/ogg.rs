//! Ogg files for the on-demand index (RFC 3533 pages, [`crate::media::ogg`]): one entry per
//! Opus, Vorbis or Theora packet of every logical stream, interleaved as the file has them.
//!
//! - Pages are found by their capture pattern and kept only when their CRC matches; after
//!   damage the scan resumes at the next `"OggS"` that starts a good page. A packet whose
//!   pages are not all there (a sequence number skipped) is left out.
//! - Logical streams become tracks in the order of their first (BOS) pages; a stream of another
//!   codec is named in [`Index::skipped`] (`"track 2: FLAC"`).
//! - Byte ranges: a packet inside one page is its own bytes (read back zero-copy); a packet
//!   continued across pages has the range from its first page's start to its last byte, and
//!   [`payload`] re-assembles it from the pages of its stream in that range.
//! - Times: each packet's length (Opus TOC, Vorbis block sizes, one Theora frame) counted
//!   forward from the previous page's granule position, or back from the first one; Opus
//!   times drop the pre-skip. A file whose first packet is later than 0 is shifted to start at
//!   0; packets before 0 (Opus pre-skip, Vorbis's first half block) are put at 0.

use std::collections::HashMap;
use std::io::{Read, Seek};

use bytes::{Bytes, BytesMut};

use super::super::ogg::codecs::{self, Identified, TheoraId, VorbisTiming};
use super::super::ogg::{Page, PageError, HEADER_LEN, MAX_PAGE};
use super::super::Track;
use super::mp3::Window;
use super::{Container, Index, IndexEntry, VodError};

/// Header packets kept per stream at most (a Vorbis setup header is a few kB).
const MAX_HEADERS: usize = 1 << 20;

/// One logical stream while scanning.
struct Stream {
    /// Track id, or 0 for a stream that is left out.
    track: u32,
    kind: Kind,
    /// Header packets still to come, and those seen.
    headers_left: usize,
    headers: Vec<Vec<u8>>,
    /// The packet being continued across pages.
    partial: Option<Partial>,
    next_sequence: u32,
    /// Packets completed since the last granule position, waiting for their times.
    pending: Vec<Done>,
    /// The end (in granule units: samples or frames) of the last packet timed.
    end: Option<i64>,
}

enum Kind {
    Opus { pre_skip: i64 },
    Vorbis(Option<VorbisTiming>, codecs::VorbisId),
    Theora(TheoraId),
    Skipped,
}

struct Partial {
    page_pos: u64,
    data_pos: u64,
    size: usize,
    /// The whole packet for headers, else its first bytes.
    bytes: Vec<u8>,
    pages: u32,
}

/// A complete packet, not yet timed.
struct Done {
    entry: IndexEntry,
    /// Its length in granule units.
    duration: i64,
}

/// Indexes a whole file.
pub fn scan<R: Read + Seek>(reader: &mut R, len: u64) -> Result<Index, VodError> {
    let mut window = Window::new(reader, len);
    let mut streams: HashMap<u32, Stream> = HashMap::new();
    let mut tracks: Vec<Track> = Vec::new();
    let mut source_ids = Vec::new();
    let mut skipped = Vec::new();
    let mut entries = Vec::new();
    let mut order = 0u32;
    let mut pages = 0usize;
    loop {
        let pos = window.pos();
        let head = window.peek(HEADER_LEN)?;
        if head.len() < HEADER_LEN {
            break;
        }
        let need = match Page::parse(head, true) {
            Err(PageError::Incomplete(n)) => n,
            _ => HEADER_LEN,
        };
        let buf = window.peek(need.min(MAX_PAGE))?;
        let page = match Page::parse(buf, true) {
            Ok(p) => p,
            Err(_) => {
                // Resynchronise at the next capture pattern.
                let skip = buf
                    .windows(4)
                    .skip(1)
                    .position(|w| w == b"OggS")
                    .map_or(buf.len().saturating_sub(3).max(1), |i| i + 1);
                window.advance(skip);
                continue;
            }
        };
        pages += 1;
        let page_len = page.len;
        if page.bos() && !streams.contains_key(&page.serial) {
            order += 1;
            let stream = new_stream(&page, order, &mut tracks, &mut skipped);
            streams.insert(page.serial, stream);
        }
        if let Some(stream) = streams.get_mut(&page.serial) {
            let data_start = pos + (page_len - page.body.len()) as u64;
            on_page(stream, &page, pos, data_start, &mut tracks, &mut skipped);
            entries.append(&mut time_pending(stream, &page));
        }
        window.advance(page_len);
    }
    if pages == 0 {
        return Err(VodError::malformed(Container::Ogg, "no Ogg page"));
    }
    // Streams that never finished their headers carry nothing.
    let mut serial_of: Vec<(u32, u32)> = streams
        .iter()
        .filter(|(_, s)| s.track != 0)
        .map(|(&serial, s)| (s.track, serial))
        .collect();
    serial_of.sort_unstable();
    // Renumber the tracks that made it from 1, in stream order.
    let mut renumber = HashMap::new();
    let mut kept = Vec::new();
    for (old, serial) in serial_of {
        let Some(t) = tracks.iter().find(|t| t.id == old) else {
            continue;
        };
        let mut t = t.clone();
        t.id = kept.len() as u32 + 1;
        renumber.insert(old, t.id);
        kept.push(t);
        source_ids.push(serial);
    }
    entries.retain_mut(|e: &mut IndexEntry| match renumber.get(&e.track) {
        Some(&id) => {
            e.track = id;
            true
        }
        None => false,
    });
    // A file that starts late starts at 0; packets before 0 (the pre-skip, Vorbis's first
    // half block: their samples are dropped) are put at 0. Times stay in order per track.
    let first = entries.iter().map(|e| e.time).min().unwrap_or(0).max(0);
    let mut last: HashMap<u32, i64> = HashMap::new();
    for e in &mut entries {
        let t = (e.time - first).max(last.get(&e.track).copied().unwrap_or(0));
        last.insert(e.track, t);
        e.time = t;
    }
    Ok(Index {
        container: Container::Ogg,
        tracks: kept,
        source_ids,
        entries,
        skipped,
    })
}

/// A stream from its BOS page: its first packet says the codec.
fn new_stream(
    page: &Page<'_>,
    order: u32,
    tracks: &mut Vec<Track>,
    skipped: &mut Vec<String>,
) -> Stream {
    let first = page.pieces().first().map(|p| p.0).unwrap_or_default();
    let (kind, headers_left) = match codecs::identify(first) {
        Ok(Identified::Opus(head)) => {
            let mut t = head.track();
            t.id = order;
            tracks.push(t);
            (
                Kind::Opus {
                    pre_skip: i64::from(head.pre_skip),
                },
                2,
            )
        }
        Ok(Identified::Vorbis(id)) => (Kind::Vorbis(None, id), 3),
        Ok(Identified::Theora(id)) => (Kind::Theora(id), 3),
        Ok(Identified::Other(name)) => {
            skipped.push(format!("track {order}: {name}"));
            (Kind::Skipped, 0)
        }
        Err(why) => {
            skipped.push(format!("track {order}: {why}"));
            (Kind::Skipped, 0)
        }
    };
    Stream {
        track: if matches!(kind, Kind::Skipped) {
            0
        } else {
            order
        },
        kind,
        headers_left,
        headers: Vec::new(),
        partial: None,
        next_sequence: page.sequence,
        pending: Vec::new(),
        end: None,
    }
}

/// Takes in one page of a stream: completes packets, collects headers.
fn on_page(
    stream: &mut Stream,
    page: &Page<'_>,
    page_pos: u64,
    data_start: u64,
    tracks: &mut Vec<Track>,
    skipped: &mut Vec<String>,
) {
    if matches!(stream.kind, Kind::Skipped) {
        return;
    }
    let in_order = page.sequence == stream.next_sequence;
    stream.next_sequence = page.sequence.wrapping_add(1);
    let mut offset = 0u64;
    for (n, (bytes, complete)) in page.pieces().into_iter().enumerate() {
        let here = data_start + offset;
        offset += bytes.len() as u64;
        let keep_all = stream.headers_left > 0;
        let mut partial = if n == 0 && page.continued() {
            match stream.partial.take() {
                Some(mut p) if in_order => {
                    p.size += bytes.len();
                    p.pages += 1;
                    let room = if keep_all { MAX_HEADERS } else { 2 };
                    let take = bytes.len().min(room.saturating_sub(p.bytes.len()));
                    p.bytes.extend_from_slice(&bytes[..take]);
                    p
                }
                // The start of this packet was lost.
                _ => continue,
            }
        } else {
            let take = if keep_all { bytes.len() } else { 2 };
            Partial {
                page_pos,
                data_pos: here,
                size: bytes.len(),
                bytes: bytes[..take.min(bytes.len())].to_vec(),
                pages: 1,
            }
        };
        if !complete {
            stream.partial = Some(partial);
            continue;
        }
        if stream.headers_left > 0 {
            stream.headers.push(std::mem::take(&mut partial.bytes));
            stream.headers_left -= 1;
            if stream.headers_left == 0 {
                finish_headers(stream, tracks, skipped);
            }
            continue;
        }
        on_packet(stream, partial, here + bytes.len() as u64);
    }
}

/// The headers are all there: the track is made (Vorbis and Theora) and Vorbis's modes read.
fn finish_headers(stream: &mut Stream, tracks: &mut Vec<Track>, skipped: &mut Vec<String>) {
    let heads: Vec<&[u8]> = stream.headers.iter().map(Vec::as_slice).collect();
    let made = match &mut stream.kind {
        Kind::Vorbis(timing, id) => {
            let setup = heads.get(2).copied().unwrap_or_default();
            codecs::vorbis_modes(setup).map(|modes| {
                *timing = Some(VorbisTiming::new(id, modes));
                codecs::vorbis_track(id, &heads)
            })
        }
        Kind::Theora(id) if heads.iter().skip(1).all(|h| h.first() >= Some(&0x81)) => {
            Ok(id.track(&heads))
        }
        Kind::Theora(_) => Err("Theora headers out of order".to_string()),
        _ => return,
    };
    match made {
        Ok(mut t) => {
            t.id = stream.track;
            tracks.push(t);
        }
        Err(why) => {
            skipped.push(format!("track {}: {why}", stream.track));
            stream.kind = Kind::Skipped;
            stream.track = 0;
        }
    }
    stream.headers = Vec::new();
}

/// A complete data packet, ending at `end` in the file.
fn on_packet(stream: &mut Stream, p: Partial, end: u64) {
    let (duration, keyframe) = match &mut stream.kind {
        Kind::Opus { .. } => (codecs::opus_samples(&p.bytes), true),
        Kind::Vorbis(Some(timing), _) => (timing.samples(&p.bytes), true),
        Kind::Theora(_) => (Some(1), codecs::theora_keyframe(&p.bytes)),
        _ => (None, false),
    };
    let Some(duration) = duration else {
        return;
    };
    let (Ok(size), Ok(raw_len)) = (u32::try_from(p.size), u32::try_from(end - p.page_pos)) else {
        return;
    };
    if size == 0 {
        // An empty packet (a repeated Theora frame) takes time but has nothing to carry.
        stream.pending.push(Done {
            entry: IndexEntry {
                size: 0,
                ..entry(stream.track, p.data_pos, 0, keyframe)
            },
            duration: i64::from(duration),
        });
        return;
    }
    let mut e = entry(stream.track, p.data_pos, size, keyframe);
    if p.pages > 1 {
        e.pos = p.page_pos;
        e.raw_len = raw_len;
    }
    stream.pending.push(Done {
        entry: e,
        duration: i64::from(duration),
    });
}

fn entry(track: u32, pos: u64, size: u32, keyframe: bool) -> IndexEntry {
    IndexEntry {
        track,
        time: 0,
        offset: 0,
        keyframe,
        pos,
        raw_len: size,
        size,
    }
}

/// Times the packets waiting in `stream` when `page` gives a granule position: forward from
/// the last one, or back from this one for the first.
fn time_pending(stream: &mut Stream, page: &Page<'_>) -> Vec<IndexEntry> {
    if page.granule == -1 || stream.pending.is_empty() {
        return Vec::new();
    }
    let granule_end = match &stream.kind {
        Kind::Theora(id) => id.frame_of(page.granule).saturating_add(1),
        _ => page.granule,
    };
    let total = stream
        .pending
        .iter()
        .fold(0i64, |n, d| n.saturating_add(d.duration));
    let mut at = stream.end.unwrap_or(granule_end.saturating_sub(total));
    let mut out = Vec::with_capacity(stream.pending.len());
    for d in stream.pending.drain(..) {
        let ms = match &stream.kind {
            Kind::Opus { pre_skip } => at
                .saturating_sub(*pre_skip)
                .saturating_mul(1000)
                .div_euclid(48_000),
            Kind::Vorbis(_, id) => at.saturating_mul(1000).div_euclid(i64::from(id.rate)),
            Kind::Theora(id) => at
                .saturating_mul(1000 * i64::from(id.fps_den))
                .div_euclid(i64::from(id.fps_num)),
            Kind::Skipped => 0,
        };
        at = at.saturating_add(d.duration);
        if d.entry.size > 0 {
            out.push(IndexEntry {
                time: ms,
                ..d.entry
            });
        }
    }
    stream.end = Some(granule_end);
    out
}

/// The payload of a packet continued across pages: the bytes of its stream's pages in `raw`
/// (which ends with the packet's last byte), the last `entry.size` of them.
pub fn payload(index: &Index, entry: &IndexEntry, raw: &Bytes) -> Result<Bytes, VodError> {
    let bad = |why: &str| VodError::malformed(Container::Ogg, why.to_string());
    let serial = index
        .tracks
        .iter()
        .position(|t| t.id == entry.track)
        .and_then(|k| index.source_ids.get(k))
        .copied()
        .ok_or_else(|| bad("a packet of no track"))?;
    let mut out = BytesMut::with_capacity(entry.size as usize);
    let mut at = 0usize;
    while at < raw.len() {
        let head = raw
            .get(at..at + HEADER_LEN)
            .ok_or_else(|| bad("a page cut short"))?;
        if &head[..4] != b"OggS" {
            return Err(bad("no page where the index says"));
        }
        let segments = usize::from(head[26]);
        let lacing = raw
            .get(at + HEADER_LEN..at + HEADER_LEN + segments)
            .ok_or_else(|| bad("a page cut short"))?;
        let body = at + HEADER_LEN + segments;
        let body_end = body + lacing.iter().map(|&l| usize::from(l)).sum::<usize>();
        let page_serial = u32::from_le_bytes([head[14], head[15], head[16], head[17]]);
        if page_serial == serial {
            out.extend_from_slice(&raw[body.min(raw.len())..body_end.min(raw.len())]);
        }
        at = body_end;
    }
    let size = entry.size as usize;
    if out.len() < size {
        return Err(bad("the packet's pages hold fewer bytes than it has"));
    }
    let out = out.freeze();
    Ok(out.slice(out.len() - size..))
}

#[cfg(test)]
#[path = "tests/ogg_tests.rs"]
mod tests;
