//! The progressive MP4 of an on-demand file, the hub's side: the layouts
//! ([`ProgressiveMp4`], its `moov` and byte map) kept with the [`VodFile`], and the bytes of any
//! range of it read from the file.
//!
//! ```text
//!   GET /film.mp4, Range: bytes=A-B ──layout(file, tracks, range)──▶ cached, else built on a
//!        blocking thread (a 2-hour file: a few MB, tens of ms)
//!   RangeBody: header[A..] then one read per run of samples (≤ 256 KiB of file, ≤ 256
//!        samples), each sample cut to [A, B], handed out a run at a time
//! ```
//!
//! A slow client holds one run: the next is read only when the last was taken.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::feed::{open_handle, read_span, Handle, RUN_BYTES};
use super::VodFile;
use crate::hub::PlayRange;
use crate::media::mp4::{Mp4Error, ProgressiveMp4};
use crate::media::vod;

/// Most layouts kept per file.
const MAX_LAYOUTS: usize = 6;
/// Most bytes the kept layouts of a file hold (a 2-hour file's whole-file layout is ~10 MB).
const MAX_LAYOUT_BYTES: usize = 96 * 1024 * 1024;
/// Most samples one read covers.
const RUN_SAMPLES: usize = 256;

/// What a layout was made for: the tracks, the first entry (where the start time led) and the
/// end time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LayoutKey {
    tracks: Vec<u32>,
    first: usize,
    end_ms: Option<i64>,
}

impl LayoutKey {
    fn whole_file(&self) -> bool {
        self.first == 0 && self.end_ms.is_none()
    }
}

/// The layouts of one file, most recently used last. Whole-file layouts are dropped last.
#[derive(Debug, Default)]
pub struct Layouts(Mutex<Vec<(LayoutKey, Arc<ProgressiveMp4>)>>);

impl Layouts {
    fn get(&self, key: &LayoutKey) -> Option<Arc<ProgressiveMp4>> {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let at = kept.iter().position(|(k, _)| k == key)?;
        let hit = kept.remove(at);
        let layout = hit.1.clone();
        kept.push(hit);
        Some(layout)
    }

    fn put(&self, key: LayoutKey, layout: Arc<ProgressiveMp4>) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|(k, _)| *k != key);
        kept.push((key, layout));
        let over = |kept: &Vec<(LayoutKey, Arc<ProgressiveMp4>)>| {
            let bytes: usize = kept.iter().map(|(_, l)| l.memory()).sum();
            kept.len() > MAX_LAYOUTS || bytes > MAX_LAYOUT_BYTES
        };
        while over(&kept) && kept.len() > 1 {
            // The least recently used part of the file, else the least recently used whole.
            let at = kept.iter().position(|(k, _)| !k.whole_file()).unwrap_or(0);
            if at == kept.len() - 1 {
                kept.remove(0);
            } else {
                kept.remove(at);
            }
        }
    }

    /// How many layouts are kept.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The progressive MP4 of `range` of `file` with `tracks`: the kept one, else built on a
/// blocking thread and kept.
pub async fn layout(
    file: &Arc<VodFile>,
    tracks: &[u32],
    range: PlayRange,
) -> Result<Arc<ProgressiveMp4>, Mp4Error> {
    let key = LayoutKey {
        tracks: tracks.to_vec(),
        first: super::feed::first_entry(file, range),
        end_ms: range.end_ms,
    };
    if let Some(hit) = file.mp4.get(&key) {
        return Ok(hit);
    }
    let owned = file.clone();
    let ids = tracks.to_vec();
    let build = move || {
        ProgressiveMp4::build(&owned.index, &ids, range.start_ms, range.end_ms).map(Arc::new)
    };
    let started = std::time::Instant::now();
    let layout = tokio::task::spawn_blocking(build)
        .await
        .map_err(|_| Mp4Error::Invalid("the layout task failed"))??;
    tracing::info!(
        "{}: progressive MP4 laid out in {:.1} ms ({} samples, header {} bytes, {} bytes in all)",
        file.path.display(),
        started.elapsed().as_secs_f64() * 1000.0,
        layout.sample_count(),
        layout.header.len(),
        layout.len
    );
    file.mp4.put(key, layout.clone());
    Ok(layout)
}

/// One piece of a range's body: the buffers to write, how many samples they touch and the
/// media time of the last (for the session's position).
pub struct Piece {
    pub bufs: Vec<Bytes>,
    pub samples: u64,
    pub position_ms: Option<i64>,
}

/// Reads bytes `[at, end)` of a progressive MP4 from its file, a run of samples at a time.
pub struct RangeBody {
    file: Arc<VodFile>,
    layout: Arc<ProgressiveMp4>,
    handle: Option<Handle>,
    at: u64,
    end: u64,
}

impl RangeBody {
    /// The body of bytes `range` (end exclusive, clipped to the file).
    pub fn new(
        file: Arc<VodFile>,
        layout: Arc<ProgressiveMp4>,
        range: std::ops::Range<u64>,
    ) -> Self {
        let end = range.end.min(layout.len);
        RangeBody {
            file,
            layout,
            handle: None,
            at: range.start,
            end,
        }
    }

    /// The next piece, `None` at the end of the range.
    pub async fn next(&mut self) -> std::io::Result<Option<Piece>> {
        if self.at >= self.end {
            return Ok(None);
        }
        let header = &self.layout.header;
        let header_len = header.len() as u64;
        if self.at < header_len {
            let to = self.end.min(header_len);
            let piece = header.slice(self.at as usize..to as usize);
            self.at = to;
            return Ok(Some(Piece {
                bufs: vec![piece],
                samples: 0,
                position_ms: None,
            }));
        }
        let index = &self.file.index;
        // The samples of one read: nearby in the source file and touching [at, end).
        let mut run = Vec::new();
        let (mut lo, mut hi) = (u64::MAX, 0u64);
        for s in self.layout.samples_from(self.at) {
            if s.start >= self.end || run.len() >= RUN_SAMPLES {
                break;
            }
            let e = index
                .entries
                .get(s.entry)
                .ok_or_else(|| std::io::Error::other("layout names no entry"))?;
            let (a, b) = (e.pos, e.pos.saturating_add(u64::from(e.raw_len)));
            let (next_lo, next_hi) = (lo.min(a), hi.max(b));
            if !run.is_empty() && next_hi - next_lo > RUN_BYTES {
                break;
            }
            (lo, hi) = (next_lo, next_hi);
            run.push(s);
        }
        if run.is_empty() {
            return Err(std::io::Error::other("no sample holds the asked bytes"));
        }
        let handle = match &self.handle {
            Some(h) => h.clone(),
            None => {
                let h = open_handle(&self.file).await?;
                self.handle = Some(h.clone());
                h
            }
        };
        let bytes = read_span(&handle, lo..hi).await?;
        let mut piece = Piece {
            bufs: Vec::with_capacity(run.len()),
            samples: 0,
            position_ms: None,
        };
        for s in run {
            let e = &index.entries[s.entry];
            let from = (e.pos - lo) as usize;
            let raw = bytes.slice(from..from + e.raw_len as usize);
            let data = vod::packet(index, s.entry, raw)
                .map_err(std::io::Error::other)?
                .data;
            if data.len() != s.size as usize {
                return Err(std::io::Error::other("a sample changed size"));
            }
            let cut_from = (self.at - s.start) as usize;
            let cut_to = (self.end.min(s.start + u64::from(s.size)) - s.start) as usize;
            piece.bufs.push(data.slice(cut_from..cut_to));
            piece.samples += 1;
            piece.position_ms = Some(e.time + i64::from(e.offset));
            self.at = s.start + cut_to as u64;
        }
        Ok(Some(piece))
    }
}
