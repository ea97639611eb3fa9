//! On-demand files cut into segments for HLS and DASH: the cuts, the packets of one segment read
//! from disk, and a small cache of segments built recently.
//!
//! ```text
//!   index ──Index::segments(segmentsize)──▶ [(start, end)] ──▶ Fragment { entries first..end }
//!       (cut once per file and segment size; times moved by VodFile::shift_ms, as viewers')
//!   GET segment ──▶ BUILT cache? ──no──▶ read(fragment, tracks): runs of nearby entries, one
//!       read each, on a blocking thread ──▶ packets ──▶ the format muxes ──▶ BUILT cache
//! ```
//!
//! A segment's packets are those of its time range, so only that range of the file is read;
//! [`BUILT`] keeps at most [`BUILT_SEGMENTS`] segments and [`BUILT_BYTES`] bytes, so a few
//! viewers watching the same part of a file share its segments and nothing else stays.

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::feed::RUN_BYTES;
use super::VodFile;
use crate::hub::fragments::Fragment;
use crate::media::vod::store::FileStamp;
use crate::media::vod::{self, VodError};
use crate::media::Packet;

/// The segments of a file for one segment size.
#[derive(Debug, Default)]
pub struct CutCache(Mutex<Option<(i64, Cuts)>>);

/// A file's segments, in order.
pub type Cuts = Arc<[Arc<Fragment>]>;

/// The segments of `file` of at least `segment_ms` each, cut at its start points (keyframes of
/// the first video track), in the viewers' times; `first_seq..end_seq` are the entries of
/// each. The first starts at the file's time 0 (and holds every packet before); together they
/// cover the whole file.
pub fn fragments(file: &VodFile, segment_ms: i64) -> Cuts {
    let mut cached = file.cuts.0.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((ms, cuts)) = &*cached {
        if *ms == segment_ms {
            return cuts.clone();
        }
    }
    let cuts: Cuts = cut(file, segment_ms).into();
    *cached = Some((segment_ms, cuts.clone()));
    cuts
}

fn cut(file: &VodFile, segment_ms: i64) -> Vec<Arc<Fragment>> {
    let (entries, shift) = (&file.index.entries, file.shift_ms());
    let segments = file.index.segments(segment_ms.max(1));
    let last = segments.len().saturating_sub(1);
    segments
        .iter()
        .enumerate()
        .map(|(n, &(start, end))| {
            // The first holds every packet before the first cut too (audio that starts
            // earlier, say); it starts at the file's time 0 (where its presentation starts,
            // after its edit lists), so the segments last as long as the file.
            let (first_seq, start) = if n == 0 {
                (0, start.max(0).min(end - 1))
            } else {
                (entries.partition_point(|e| e.time < start), start)
            };
            let end_seq = if n == last {
                entries.len()
            } else {
                entries.partition_point(|e| e.time < end)
            };
            Arc::new(Fragment {
                number: n as u64,
                first_seq: first_seq as u64,
                end_seq: end_seq as u64,
                start_ms: start + shift,
                end_ms: end + shift,
                discontinuity: false,
                discontinuity_seq: 0,
                cache: Default::default(),
            })
        })
        .collect()
}

/// The segment of `cuts` starting at `start_ms`.
pub fn find(cuts: &[Arc<Fragment>], start_ms: i64) -> Option<Arc<Fragment>> {
    let i = cuts.partition_point(|f| f.start_ms < start_ms);
    cuts.get(i).filter(|f| f.start_ms == start_ms).cloned()
}

/// The packets of `fragment` of the tracks `tracks`, read from the file, in decode order and
/// the viewers' times. Blocking: call it on a blocking thread (see [`read`]).
pub fn read_blocking(
    file: &VodFile,
    fragment: &Fragment,
    tracks: &[u32],
) -> Result<Vec<Packet>, VodError> {
    let entries = &file.index.entries;
    let end = (fragment.end_seq as usize).min(entries.len());
    let start = (fragment.first_seq as usize).min(end);
    let wanted: Vec<usize> = (start..end)
        .filter(|&i| tracks.contains(&entries[i].track))
        .collect();
    let mut out = Vec::with_capacity(wanted.len());
    if wanted.is_empty() {
        return Ok(out);
    }
    let mut handle = file.body.open()?;
    let shift = file.shift_ms();
    let mut at = 0;
    while at < wanted.len() {
        // One read covers the next entries whose bytes lie within RUN_BYTES of each other.
        let (mut lo, mut hi) = (u64::MAX, 0u64);
        let mut to = at;
        while let Some(&i) = wanted.get(to) {
            let e = &entries[i];
            let (a, b) = (e.pos, e.pos.saturating_add(u64::from(e.raw_len)));
            let (next_lo, next_hi) = (lo.min(a), hi.max(b));
            if to > at && next_hi - next_lo > RUN_BYTES {
                break;
            }
            (lo, hi) = (next_lo, next_hi);
            to += 1;
        }
        let len = usize::try_from(hi - lo)
            .map_err(|_| VodError::BadIndex("a packet larger than memory".into()))?;
        let mut buf = vec![0u8; len];
        handle.seek(SeekFrom::Start(lo))?;
        handle.read_exact(&mut buf)?;
        let bytes = Bytes::from(buf);
        for &i in &wanted[at..to] {
            let e = &entries[i];
            let from = (e.pos - lo) as usize;
            let raw = bytes.slice(from..from + e.raw_len as usize);
            let mut packet = vod::packet(&file.index, i, raw)?;
            packet.time += shift;
            out.push(packet);
        }
        at = to;
    }
    Ok(out)
}

/// [`read_blocking`] on a blocking thread.
pub async fn read(
    file: Arc<VodFile>,
    fragment: Arc<Fragment>,
    tracks: Vec<u32>,
) -> Result<Vec<Packet>, VodError> {
    tokio::task::spawn_blocking(move || read_blocking(&file, &fragment, &tracks))
        .await
        .unwrap_or_else(|e| Err(VodError::Io(std::io::Error::other(e))))
}

/// Most segments [`BUILT`] keeps.
pub const BUILT_SEGMENTS: usize = 48;
/// Most bytes [`BUILT`] keeps.
pub const BUILT_BYTES: usize = 64 * 1024 * 1024;

/// What names a built segment: the file (and its version), the format, the format's own name
/// for the segment's tracks, and the segment's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltKey {
    pub path: PathBuf,
    pub stamp: FileStamp,
    pub format: &'static str,
    pub tracks: String,
    pub start_ms: i64,
}

/// Segments built recently, newest last.
static BUILT: Mutex<VecDeque<(BuiltKey, Bytes)>> = Mutex::new(VecDeque::new());

/// A segment built recently.
pub fn built(key: &BuiltKey) -> Option<Bytes> {
    let mut cache = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let i = cache.iter().position(|(k, _)| k == key)?;
    let hit = cache.remove(i)?;
    let bytes = hit.1.clone();
    cache.push_back(hit);
    Some(bytes)
}

/// Keeps a built segment, dropping the oldest ones beyond the bounds.
pub fn keep(key: BuiltKey, bytes: Bytes) {
    if bytes.len() > BUILT_BYTES / 4 {
        return;
    }
    let mut cache = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    cache.retain(|(k, _)| *k != key);
    cache.push_back((key, bytes));
    let mut total: usize = cache.iter().map(|(_, b)| b.len()).sum();
    while cache.len() > BUILT_SEGMENTS || total > BUILT_BYTES {
        match cache.pop_front() {
            Some((_, b)) => total -= b.len(),
            None => break,
        }
    }
}
