//! A progressive (non-fragmented) MP4 of an on-demand file, laid out from its index alone:
//! `ftyp`, `moov` with complete sample tables ("faststart": the header first, so a player can
//! seek as soon as it has it), then one `mdat` holding the samples in the index's order (the
//! source's interleaving). Nothing of the samples is read here: the layout says which index
//! entry fills which byte range of the virtual file, and the caller reads them when a byte range
//! is asked for ([`ProgressiveMp4::samples_from`]).
//!
//! ```text
//!   ftyp | moov (mvhd, trak: tkhd edts mdia (mdhd hdlr minf (vmhd|smhd dinf stbl))) | mdat
//!   0 ─────────────── header (kept in memory) ─────────────────────────────────────┤ samples
//!                                                                    starts[k]: entry entries[k]
//! ```
//!
//! - ISO/IEC 14496-12: 4.3 `ftyp`; 8.2.2 `mvhd`; 8.3.2 `tkhd`; 8.6.5 `edts` and 8.6.6 `elst`
//!   (an empty edit, `media_time` -1, for a track starting later than 0; `media_time` > 0 for
//!   one starting before 0); 8.4.2 `mdhd`; 8.6.1.2 `stts`; 8.6.1.3 `ctts` (version 1 when an
//!   offset is negative); 8.6.2 `stss` (video only, left out when every sample is a sync
//!   sample); 8.7.3 `stsz`; 8.7.4 `stsc`; 8.7.5 `stco`, or `co64` when an offset passes 4 GiB;
//!   8.1.1 `mdat` (64-bit `largesize` when the samples pass 4 GiB). Versions 1 of `mvhd`,
//!   `tkhd`, `mdhd` and `elst` when a duration does not fit 32 bits.
//! - The sample entries are the fragmented writer's ([`super::init`]).
//!
//! Times: a sample's decode time is its index time converted to the track's timescale (as an
//! absolute value, so nothing drifts); AAC and MP3 tracks whose times are whole frames of 1024
//! or 1152 samples (within 1 ms) get exact frame durations instead of millisecond ones. The edit
//! list puts each sample's presentation time where the index has it: an MP4 with B-frames keeps
//! its negative first decode time and presentation time 0, and a part starting at 10 s presents
//! its first keyframe at 10 s.

mod tables;

#[cfg(test)]
mod tests;

use bytes::Bytes;

use super::super::vod::Index;
use super::super::{Codec, Track};
use super::boxes::Writer;
use super::init::write_ftyp;
use super::{check_ids, supported_codec, Mp4Error};
use tables::TrackTable;

/// One chunk of a track: consecutive samples of it in `mdat`.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    /// Offset from the start of the samples in `mdat`.
    offset: u64,
    samples: u32,
}

/// A progressive MP4 of (part of) an indexed file: its first bytes, its length, and where each
/// sample lies in it.
#[derive(Debug)]
pub struct ProgressiveMp4 {
    /// `ftyp`, `moov` and the `mdat` header: the first `header.len()` bytes of the file.
    pub header: Bytes,
    /// The whole file's length in bytes.
    pub len: u64,
    /// The index entry of each sample, in file order.
    entries: Vec<u32>,
    /// Where each sample starts in the file (ascending).
    starts: Vec<u64>,
    /// The entries' payload sizes (the same as the index's), so a range is served without it.
    sizes: Vec<u32>,
    /// The media time the file covers, ms (the longest track, edits included).
    pub duration_ms: i64,
}

/// One sample placed in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedSample {
    /// Its entry in the index.
    pub entry: usize,
    /// Where its first byte is in the file.
    pub start: u64,
    /// Its payload length.
    pub size: u32,
}

impl ProgressiveMp4 {
    /// Lays out the file for `tracks` (ids of `index`'s tracks; order kept in `moov`) from the
    /// last start point at or before `start_ms` (the first packet for `None` or 0) to before the
    /// first packet at or after `end_ms`, as the on-demand feeder plays a range.
    ///
    /// # Errors
    ///
    /// No tracks or no samples, an unknown or repeated track id, a codec MP4 cannot carry,
    /// broken decoder configuration, times that do not fit.
    pub fn build(
        index: &Index,
        tracks: &[u32],
        start_ms: Option<i64>,
        end_ms: Option<i64>,
    ) -> Result<ProgressiveMp4, Mp4Error> {
        let mut chosen: Vec<&Track> = Vec::with_capacity(tracks.len());
        for &id in tracks {
            chosen.push(index.track(id).ok_or(Mp4Error::Invalid("no such track"))?);
        }
        if chosen.is_empty() {
            return Err(Mp4Error::Invalid("no tracks"));
        }
        check_ids(chosen.iter().copied())?;
        let mut codecs = Vec::with_capacity(chosen.len());
        for t in &chosen {
            codecs.push(supported_codec(t)?);
        }
        let first = match start_ms {
            Some(ms) if ms > 0 => index.seek(ms),
            _ => 0,
        };
        let mut tables: Vec<TrackTable> = chosen
            .iter()
            .zip(&codecs)
            .map(|(t, &c)| TrackTable::new(t, c))
            .collect();
        let most = index.entries.len().saturating_sub(first);
        let (mut entries, mut starts, mut sizes) = (
            Vec::with_capacity(most),
            Vec::with_capacity(most),
            Vec::with_capacity(most),
        );
        let mut at = 0u64;
        let mut last_slot = usize::MAX;
        for t in &mut tables {
            let id = t.track.id;
            let n = index.entries[first..]
                .iter()
                .filter(|e| e.track == id)
                .count();
            t.samples.reserve_exact(n);
        }
        for (i, e) in index.entries.iter().enumerate().skip(first) {
            if end_ms.is_some_and(|end| e.time >= end) {
                break;
            }
            let Some(slot) = chosen.iter().position(|t| t.id == e.track) else {
                continue;
            };
            let table = &mut tables[slot];
            if slot != last_slot {
                table.chunks.push(Chunk {
                    offset: at,
                    samples: 0,
                });
                last_slot = slot;
            }
            if let Some(c) = table.chunks.last_mut() {
                c.samples += 1;
            }
            table.samples.push(*e);
            entries.push(u32::try_from(i).map_err(|_| Mp4Error::TooLarge)?);
            starts.push(at);
            sizes.push(e.size);
            at = at
                .checked_add(u64::from(e.size))
                .ok_or(Mp4Error::TooLarge)?;
        }
        if entries.is_empty() {
            return Err(Mp4Error::Invalid("no samples in the range"));
        }
        // Tracks without a sample in the range are left out of `moov`.
        tables.retain(|t| !t.samples.is_empty());
        for t in &mut tables {
            t.time()?;
        }
        let payload = at;
        // Chunk offsets are written relative to the first sample, then moved by the header's
        // length once it is known (they are fixed-width, so the length does not change).
        let codecs = codecs_of(&tables);
        let mut tables_at = Vec::new();
        let mut header = write_header(&tables, &codecs, false, payload, &mut tables_at)?;
        let co64 = header.len() as u64 + payload > u64::from(u32::MAX);
        if co64 {
            tables_at.clear();
            header = write_header(&tables, &codecs, true, payload, &mut tables_at)?;
        }
        let base = header.len() as u64;
        move_offsets(&mut header, &tables_at, base, co64)?;
        let len = base + payload;
        for s in &mut starts {
            *s += base;
        }
        header.shrink_to_fit();
        entries.shrink_to_fit();
        starts.shrink_to_fit();
        sizes.shrink_to_fit();
        let duration_ms = tables
            .iter()
            .map(|t| t.movie_duration_ms())
            .max()
            .unwrap_or(0);
        Ok(ProgressiveMp4 {
            header: Bytes::from(header),
            len,
            entries,
            starts,
            sizes,
            duration_ms,
        })
    }

    /// How many samples the file holds.
    pub fn sample_count(&self) -> usize {
        self.entries.len()
    }

    /// About how many bytes this layout holds in memory.
    pub fn memory(&self) -> usize {
        self.header.len()
            + self.entries.capacity() * 4
            + self.starts.capacity() * 8
            + self.sizes.capacity() * 4
    }

    /// The samples from the one holding byte `at` on, in file order.
    pub fn samples_from(&self, at: u64) -> impl Iterator<Item = PlacedSample> + '_ {
        let k = self.starts.partition_point(|&s| s <= at).saturating_sub(1);
        (k..self.entries.len()).map(move |k| PlacedSample {
            entry: self.entries[k] as usize,
            start: self.starts[k],
            size: self.sizes[k],
        })
    }
}

fn codecs_of(tables: &[TrackTable]) -> Vec<Codec> {
    tables.iter().map(|t| t.codec).collect()
}

/// Adds `base` to every chunk offset of the tables at `tables_at` (where each table's entries
/// start, and how many there are).
fn move_offsets(
    header: &mut [u8],
    tables_at: &[(usize, usize)],
    base: u64,
    co64: bool,
) -> Result<(), Mp4Error> {
    let width = if co64 { 8 } else { 4 };
    for &(at, count) in tables_at {
        let table = header
            .get_mut(at..at + count * width)
            .ok_or(Mp4Error::Invalid("chunk offsets outside the header"))?;
        for field in table.chunks_exact_mut(width) {
            if co64 {
                let mut v = [0u8; 8];
                v.copy_from_slice(field);
                let moved = u64::from_be_bytes(v).checked_add(base);
                field.copy_from_slice(&moved.ok_or(Mp4Error::TooLarge)?.to_be_bytes());
            } else {
                let mut v = [0u8; 4];
                v.copy_from_slice(field);
                let moved = u64::from(u32::from_be_bytes(v)) + base;
                let moved = u32::try_from(moved).map_err(|_| Mp4Error::TooLarge)?;
                field.copy_from_slice(&moved.to_be_bytes());
            }
        }
    }
    Ok(())
}

/// `ftyp` + `moov` + the `mdat` header, with chunk offsets counted from the first sample (their
/// tables' places are pushed to `tables_at`) and `payload` bytes of samples.
fn write_header(
    tables: &[TrackTable],
    codecs: &[Codec],
    co64: bool,
    payload: u64,
    tables_at: &mut Vec<(usize, usize)>,
) -> Result<Vec<u8>, Mp4Error> {
    let mut w = Writer::default();
    write_ftyp(&mut w, &[b"iso2", b"mp41"], codecs)?;
    let next_track_id = tables
        .iter()
        .map(|t| t.track.id)
        .max()
        .and_then(|id| id.checked_add(1))
        .unwrap_or(u32::MAX);
    let duration = tables
        .iter()
        .map(|t| t.movie_duration_ms())
        .max()
        .unwrap_or(0);
    let duration = u64::try_from(duration).map_err(|_| Mp4Error::BadTime(duration))?;
    w.boxed(b"moov", |w| {
        tables::write_mvhd(w, duration, next_track_id)?;
        for t in tables {
            t.write_trak(w, co64, tables_at)?;
        }
        Ok(())
    })?;
    let total = payload
        + if payload + 8 > u64::from(u32::MAX) {
            16
        } else {
            8
        };
    match u32::try_from(total) {
        Ok(size) if total <= u64::from(u32::MAX) && total - payload == 8 => {
            w.u32(size);
            w.bytes(b"mdat");
        }
        _ => {
            w.u32(1); // size 1: a 64-bit largesize follows the type
            w.bytes(b"mdat");
            w.u64(total);
        }
    }
    Ok(w.buf)
}
