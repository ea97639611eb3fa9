//! One track's `trak` of a progressive MP4: its times in the media timescale and its sample
//! tables (ISO/IEC 14496-12 8.6.1.2 `stts`, 8.6.1.3 `ctts`, 8.6.2 `stss`, 8.7.3 `stsz`, 8.7.4
//! `stsc`, 8.7.5 `stco`/`co64`), its edit list (8.6.6) and headers (8.2.2 `mvhd`, 8.3.2
//! `tkhd`, 8.4.2 `mdhd`).

use super::super::super::vod::IndexEntry;
use super::super::super::{Codec, Track, TrackKind};
use super::super::boxes::Writer;
use super::super::init::{
    dimensions, duration_field, times, write_hdlr, write_matrix, write_media_header,
    write_sample_entry, write_tkhd, LANGUAGE_UND,
};
use super::super::{timescale, to_timescale, Mp4Error, MOVIE_TIMESCALE};
use super::Chunk;

/// One track's samples in the file and what its tables say.
pub(super) struct TrackTable<'a> {
    pub track: &'a Track,
    pub codec: Codec,
    timescale: u32,
    /// Its samples in file order.
    pub samples: Vec<IndexEntry>,
    pub chunks: Vec<Chunk>,
    /// Decode time of each sample, media ticks.
    dts: Vec<i64>,
    /// The last sample's duration, ticks.
    last_delta: i64,
    /// Presentation minus decode time of each sample, ticks.
    cts: Vec<i64>,
    /// Empty edit before the track, movie ms.
    empty_ms: u64,
    /// Media time the presentation starts at, ticks.
    media_start: i64,
}

impl<'a> TrackTable<'a> {
    pub fn new(track: &'a Track, codec: Codec) -> Self {
        TrackTable {
            track,
            codec,
            timescale: timescale(track),
            samples: Vec::new(),
            chunks: Vec::new(),
            dts: Vec::new(),
            last_delta: 0,
            cts: Vec::new(),
            empty_ms: 0,
            media_start: 0,
        }
    }

    /// Samples per frame of an audio codec whose frames all have the same length.
    fn frame_samples(&self) -> Option<i64> {
        match self.codec {
            Codec::Aac => Some(1024),
            Codec::Mp3 if self.track.rate >= 32_000 => Some(1152),
            Codec::Mp3 => Some(576),
            Codec::Ac3 => Some(1536),
            _ => None,
        }
    }

    /// Converts the samples' times to the timescale and sets the edit list.
    pub fn time(&mut self) -> Result<(), Mp4Error> {
        let ts = self.timescale;
        let mut dts = Vec::with_capacity(self.samples.len());
        for e in &self.samples {
            dts.push(to_timescale(e.time, ts)?);
        }
        // Whole audio frames, when every sample is within 1 ms of where they put it.
        if let (Some(frame), Some(&first)) = (self.frame_samples(), dts.first()) {
            let tolerance = i64::from(ts / 1000) + 1;
            let exact = dts
                .iter()
                .enumerate()
                .all(|(k, &d)| (first + k as i64 * frame - d).abs() <= tolerance);
            if exact {
                for (k, d) in dts.iter_mut().enumerate() {
                    *d = first + k as i64 * frame;
                }
                self.last_delta = frame;
            }
        }
        let n = dts.len();
        if self.last_delta == 0 {
            self.last_delta = match n {
                0 => 0,
                1 => {
                    let end = to_timescale(self.track.lastms, ts)?;
                    (end - dts[0]).max(0)
                }
                _ => (dts[n - 1] - dts[n - 2]).max(0),
            };
        }
        let mut cts = Vec::with_capacity(n);
        for e in &self.samples {
            // Both ends converted as absolute times: the offset is the same whether or not the
            // decode time was moved to a whole frame.
            let pts = e.time.checked_add(i64::from(e.offset));
            let pts = pts.ok_or(Mp4Error::BadTime(e.time))?;
            cts.push(to_timescale(pts, ts)? - to_timescale(e.time, ts)?);
        }
        // Media times in the edit list are presentation times (8.6.6): the edit starts at the
        // earliest-presented sample, placed where the index presents it; a track presenting
        // before 0 (AAC priming) starts its edit at the media time of 0 instead.
        let first = dts.first().copied().unwrap_or(0);
        let earliest = dts.iter().zip(&cts).map(|(d, c)| d + c).min().unwrap_or(0);
        if earliest >= 0 {
            let ms = i128::from(earliest) * 1000 / i128::from(ts);
            self.empty_ms = u64::try_from(ms).map_err(|_| Mp4Error::BadTime(earliest))?;
            self.media_start = earliest - first;
        } else {
            self.empty_ms = 0;
            self.media_start = -first;
        }
        self.dts = dts;
        self.cts = cts;
        Ok(())
    }

    /// Ticks from the first sample's decode to the last one's end.
    fn media_duration(&self) -> u64 {
        match (self.dts.first(), self.dts.last()) {
            (Some(&a), Some(&b)) => u64::try_from(b - a + self.last_delta).unwrap_or(0),
            _ => 0,
        }
    }

    /// The presented part of the media (after the edit's start), movie ms.
    fn edit_duration_ms(&self) -> u64 {
        let ticks = self
            .media_duration()
            .saturating_sub(u64::try_from(self.media_start).unwrap_or(0));
        let ms = u128::from(ticks) * u128::from(MOVIE_TIMESCALE) / u128::from(self.timescale);
        u64::try_from(ms).unwrap_or(u64::MAX)
    }

    /// Where the track ends in the movie, ms.
    pub fn movie_duration_ms(&self) -> i64 {
        let end = self.empty_ms.saturating_add(self.edit_duration_ms());
        i64::try_from(end).unwrap_or(i64::MAX)
    }

    pub fn write_trak(
        &self,
        w: &mut Writer,
        co64: bool,
        tables_at: &mut Vec<(usize, usize)>,
    ) -> Result<(), Mp4Error> {
        let video = self.codec.kind() == TrackKind::Video;
        let (width, height) = if video {
            dimensions(self.track)?
        } else {
            (0, 0)
        };
        let track_duration = u64::try_from(self.movie_duration_ms()).unwrap_or(0);
        w.boxed(b"trak", |w| {
            write_tkhd(w, self.track.id, track_duration, video, (width, height))?;
            self.write_edts(w)?;
            w.boxed(b"mdia", |w| {
                let media = self.media_duration();
                let v1 = media > u64::from(u32::MAX);
                w.full_box(b"mdhd", u8::from(v1), 0, |w| {
                    times(w, v1, 0);
                    w.u32(self.timescale);
                    duration_field(w, v1, media);
                    w.u16(LANGUAGE_UND);
                    w.u16(0); // pre_defined
                    Ok(())
                })?;
                write_hdlr(w, video)?;
                w.boxed(b"minf", |w| {
                    write_media_header(w, video)?;
                    w.boxed(b"stbl", |w| {
                        w.full_box(b"stsd", 0, 0, |w| {
                            w.u32(1); // entry_count
                            write_sample_entry(w, self.track, self.codec, width, height)
                        })?;
                        self.write_stts(w)?;
                        self.write_ctts(w)?;
                        if video {
                            self.write_stss(w)?;
                        }
                        self.write_stsz(w)?;
                        self.write_stsc(w)?;
                        self.write_chunk_offsets(w, co64, tables_at)
                    })
                })
            })
        })
    }

    /// `elst`: an empty edit for a track starting after 0, then the media from
    /// `media_start` on.
    fn write_edts(&self, w: &mut Writer) -> Result<(), Mp4Error> {
        let edit = self.edit_duration_ms();
        let v1 = edit > u64::from(u32::MAX)
            || self.empty_ms > u64::from(u32::MAX)
            || self.media_start > i64::from(i32::MAX);
        w.boxed(b"edts", |w| {
            w.full_box(b"elst", u8::from(v1), 0, |w| {
                let entry = |w: &mut Writer, dur: u64, media_time: i64| {
                    if v1 {
                        w.u64(dur);
                        w.u64(media_time as u64);
                    } else {
                        w.u32(dur as u32);
                        w.i32(media_time as i32);
                    }
                    w.u16(1); // media_rate_integer
                    w.u16(0); // media_rate_fraction
                };
                let empty = self.empty_ms > 0;
                w.u32(if empty { 2 } else { 1 });
                if empty {
                    entry(w, self.empty_ms, -1);
                }
                entry(w, edit, self.media_start);
                Ok(())
            })
        })
    }

    /// `stts`: runs of equal decode durations.
    fn write_stts(&self, w: &mut Writer) -> Result<(), Mp4Error> {
        let deltas = self
            .dts
            .windows(2)
            .map(|p| p[1] - p[0])
            .chain(std::iter::once(self.last_delta));
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for d in deltas {
            let d = u32::try_from(d.max(0)).map_err(|_| Mp4Error::TooLarge)?;
            push_run(&mut runs, d);
        }
        w.full_box(b"stts", 0, 0, |w| write_runs(w, &runs))
    }

    /// `ctts` (version 1 when an offset is negative); none when every offset is 0.
    fn write_ctts(&self, w: &mut Writer) -> Result<(), Mp4Error> {
        if self.cts.iter().all(|&c| c == 0) {
            return Ok(());
        }
        let negative = self.cts.iter().any(|&c| c < 0);
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for &c in &self.cts {
            let bits = if negative {
                i32::try_from(c).map_err(|_| Mp4Error::TooLarge)? as u32
            } else {
                u32::try_from(c).map_err(|_| Mp4Error::TooLarge)?
            };
            push_run(&mut runs, bits);
        }
        w.full_box(b"ctts", u8::from(negative), 0, |w| write_runs(w, &runs))
    }

    /// `stss`, left out when every sample is a sync sample.
    fn write_stss(&self, w: &mut Writer) -> Result<(), Mp4Error> {
        if self.samples.iter().all(|e| e.keyframe) {
            return Ok(());
        }
        let keys: Vec<u32> = (1u32..)
            .zip(&self.samples)
            .filter(|(_, e)| e.keyframe)
            .map(|(n, _)| n)
            .collect();
        w.full_box(b"stss", 0, 0, |w| {
            w.u32(len32(keys.len())?);
            for k in keys {
                w.u32(k);
            }
            Ok(())
        })
    }

    /// `stsz`: one size for all when they are the same, else a table.
    fn write_stsz(&self, w: &mut Writer) -> Result<(), Mp4Error> {
        let count = len32(self.samples.len())?;
        let first = self.samples.first().map_or(0, |e| e.size);
        let same = first > 0 && self.samples.iter().all(|e| e.size == first);
        w.full_box(b"stsz", 0, 0, |w| {
            w.u32(if same { first } else { 0 });
            w.u32(count);
            if !same {
                for e in &self.samples {
                    w.u32(e.size);
                }
            }
            Ok(())
        })
    }

    /// `stsc`: runs of chunks with the same sample count.
    fn write_stsc(&self, w: &mut Writer) -> Result<(), Mp4Error> {
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for (n, c) in (1u32..).zip(&self.chunks) {
            if runs.last().is_none_or(|&(_, count)| count != c.samples) {
                runs.push((n, c.samples));
            }
        }
        w.full_box(b"stsc", 0, 0, |w| {
            w.u32(len32(runs.len())?);
            for (first_chunk, per_chunk) in runs {
                w.u32(first_chunk);
                w.u32(per_chunk);
                w.u32(1); // sample_description_index
            }
            Ok(())
        })
    }

    /// `stco`, or `co64` for a file passing 4 GiB, with offsets from the first sample (the
    /// table's place is pushed to `tables_at`, to be moved by the header's length).
    fn write_chunk_offsets(
        &self,
        w: &mut Writer,
        co64: bool,
        tables_at: &mut Vec<(usize, usize)>,
    ) -> Result<(), Mp4Error> {
        let count = len32(self.chunks.len())?;
        let kind = if co64 { b"co64" } else { b"stco" };
        w.full_box(kind, 0, 0, |w| {
            w.u32(count);
            tables_at.push((w.len(), self.chunks.len()));
            for c in &self.chunks {
                let at = c.offset;
                if co64 {
                    w.u64(at);
                } else {
                    w.u32(u32::try_from(at).map_err(|_| Mp4Error::TooLarge)?);
                }
            }
            Ok(())
        })
    }
}

/// `mvhd`, version 1 when the duration needs it.
pub(super) fn write_mvhd(w: &mut Writer, duration_ms: u64, next_id: u32) -> Result<(), Mp4Error> {
    let v1 = duration_ms > u64::from(u32::MAX);
    w.full_box(b"mvhd", u8::from(v1), 0, |w| {
        times(w, v1, 0);
        w.u32(MOVIE_TIMESCALE);
        duration_field(w, v1, duration_ms);
        w.u32(0x0001_0000); // rate 1.0
        w.u16(0x0100); // volume 1.0
        w.zeros(2 + 8); // reserved
        write_matrix(w);
        w.zeros(6 * 4); // pre_defined
        w.u32(next_id);
        Ok(())
    })
}

fn push_run(runs: &mut Vec<(u32, u32)>, value: u32) {
    match runs.last_mut() {
        Some((count, v)) if *v == value && *count < u32::MAX => *count += 1,
        _ => runs.push((1, value)),
    }
}

/// `entry_count` then (sample_count, value) pairs (`stts`, `ctts`).
fn write_runs(w: &mut Writer, runs: &[(u32, u32)]) -> Result<(), Mp4Error> {
    w.u32(len32(runs.len())?);
    for &(count, value) in runs {
        w.u32(count);
        w.u32(value);
    }
    Ok(())
}

fn len32(n: usize) -> Result<u32, Mp4Error> {
    u32::try_from(n).map_err(|_| Mp4Error::TooLarge)
}
