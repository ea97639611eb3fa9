//! MP4 and QuickTime MOV files for the on-demand index: `moov` before or after `mdat`, and
//! fragmented MP4 (`moov` with `mvex`, then `moof` + `mdat` pairs).
//!
//! Only boxes are read, never `mdat`: the top-level boxes are walked by their sizes (64-bit
//! `largesize` too, size 0 = to the end of the file), `moov` and every `moof` are read whole
//! and the sample tables turned into one [`IndexEntry`] per sample, whose byte range is the
//! sample itself (`raw_len == size`).
//!
//! - ISO/IEC 14496-12: 4.2 box header; 8.2.2 `mvhd`; 8.3.2 `tkhd`; 8.4.2 `mdhd`; 8.5.2 `stsd`
//!   with 12.1.3 VisualSampleEntry and 12.2.3 AudioSampleEntry; 8.6.1.2 `stts`; 8.6.1.3 `ctts`
//!   (versions 0 and 1; version 0 offsets are read as signed, as every player does); 8.6.2
//!   `stss` (absent: every sample is a sync sample); 8.7.4 `stsc`; 8.7.3 `stsz` / `stz2`; 8.7.5
//!   `stco` / `co64`; 8.6.6 `elst`; 8.8.3 `trex`; 8.8.7 `tfhd`; 8.8.12 `tfdt`; 8.8.8 `trun`;
//!   8.8.3.1 sample flags.
//! - ISO/IEC 14496-15: `avc1`/`avc3` + `avcC`, `hvc1`/`hev1` + `hvcC`; 14496-14 / 14496-1
//!   7.2.6: `mp4a` + `esds` (objectTypeIndication 0x40, 0x66..=0x68: AAC with its
//!   AudioSpecificConfig; 0x69, 0x6B: MP3). QuickTime: sound sample description versions 1
//!   and 2, `esds` inside `wave`, the `.mp3` sample entry.
//!
//! Times: a sample's decode time in media ticks minus the edit list's shift (the `media_time`
//! of the first non-empty edit, less any leading empty edits converted from the movie
//! timescale), in ms rounded half up; later edits are not applied. This is what ffprobe
//! reports: an H.264 track with B-frames starts at a negative decode time and presentation
//! time 0, an AAC track's priming frame at a negative time, a track delayed by an empty edit
//! that much later. Fragment decode times come from `tfdt`, else continue from the track's
//! previous fragment. Negative composition offsets (`ctts`/`trun` version 1) move a track's
//! decode times earlier by the most negative one, presentation times staying as the file has
//! them, as ffmpeg does for sample tables (for fragments ffmpeg moves the presentation times
//! later instead, which shifts them against the other tracks; Eddy does not copy that).
//!
//! Tracks Eddy cannot carry are named in [`Index::skipped`] by the MP4 track_ID and the sample
//! entry's four-character code (`"track 3: ac-3"`); so are tracks whose decoder configuration
//! is damaged and tracks without samples. Tracks kept are numbered from 1 in file order;
//! [`Index::source_ids`] holds their track_IDs. MP3 tracks take rate and channels from their
//! first frame header (4 bytes read from `mdat`: MP4 sample entries hold a template channel
//! count for MP3). Sample tables with declared counts beyond their box, samples adding up to more
//! bytes than the file, or `moov` running past the end are [`VodError::Malformed`]; samples
//! past the end of a file cut short are left out (the rest plays).

mod boxes;
mod entry;
mod samples;

use std::io::{Read, Seek, SeekFrom};

use super::{Container, Index, IndexEntry, VodError};
use crate::media::{mp3, Codec, Track, TrackKind};
use boxes::{boxes, child, need, read_body, trak_bodies, walk, Cur};

/// The largest `moov` read (a 24-hour file with a million samples has about 20 MB).
const MAX_MOOV: u64 = 1 << 30;
/// The largest `moof` read.
const MAX_MOOF: u64 = 1 << 26;
/// Sample flags (8.8.3.1) of a sample that is not a random access point: sample_depends_on =
/// 1 or sample_is_non_sync_sample, as ffmpeg reads them.
const NOT_SYNC: u32 = 0x0101_0000;

fn bad(reason: impl Into<String>) -> VodError {
    VodError::malformed(Container::Mp4, reason)
}

/// Indexes a whole file.
pub fn scan<R: Read + Seek>(reader: &mut R, len: u64) -> Result<Index, VodError> {
    let (moov, moofs) = walk(reader, len)?;
    let moov = moov.ok_or_else(|| {
        bad("no moov box (the sample tables): not MP4, or cut short before its end")
    })?;
    let movie_timescale = match child(&moov, b"mvhd")? {
        Some(mvhd) => {
            let mut c = Cur::new(mvhd, "mvhd");
            let (version, _) = c.full()?;
            c.skip(if version == 1 { 16 } else { 8 })?;
            c.u32()?
        }
        None => 0,
    };
    let mut traks = Vec::new();
    let mut next_id = 1;
    for (kind, body) in boxes(&moov)? {
        if &kind == b"trak" {
            let mut trak = parse_trak(body, movie_timescale)?;
            if trak.track.is_ok() {
                trak.id = next_id;
                next_id += 1;
            }
            traks.push(trak);
        }
    }
    if let Some(mvex) = child(&moov, b"mvex")? {
        for (kind, trex) in boxes(mvex)? {
            if &kind == b"trex" {
                let mut c = Cur::new(trex, "trex");
                c.full()?;
                let id = c.u32()?;
                c.skip(4)?;
                let defaults = Defaults {
                    duration: c.u32()?,
                    size: c.u32()?,
                    flags: c.u32()?,
                };
                if let Some(t) = traks.iter_mut().find(|t| t.file_id == id) {
                    t.trex = defaults;
                }
            }
        }
    }
    let mut budget = Budget { len, bytes: 0 };
    // The sample tables of skipped tracks are not read (a damaged one costs only that track).
    for (trak, body) in traks.iter_mut().zip(trak_bodies(&moov)?) {
        if trak.id != 0 {
            samples::sample_table(trak, body, &mut budget)?;
        }
    }
    for (pos, size) in moofs {
        let moof = read_body(reader, pos, size, "moof")?;
        samples::fragment(&moof, pos, &mut traks, &mut budget)?;
    }
    for t in &mut traks {
        mp3_header(reader, t)?;
    }
    finish(traks)
}

/// Sets an MP3 track's rate and channels from its first frame header: MP4 sample entries
/// carry a template channel count (2) for MP3, which has no decoder configuration.
fn mp3_header<R: Read + Seek>(reader: &mut R, t: &mut Trak) -> Result<(), VodError> {
    let (Ok(track), Some(first)) = (&mut t.track, t.entries.first()) else {
        return Ok(());
    };
    if track.codec != Some(Codec::Mp3) {
        return Ok(());
    }
    let mut head = [0u8; 4];
    reader.seek(SeekFrom::Start(first.pos))?;
    reader.read_exact(&mut head)?;
    if let Ok(h) = mp3::parse_header(&head) {
        (track.rate, track.channels) = (h.sample_rate, u32::from(h.channels));
    }
    Ok(())
}

/// Default sample values from `trex`, overridden per fragment by `tfhd`.
#[derive(Debug, Clone, Copy, Default)]
struct Defaults {
    duration: u32,
    size: u32,
    flags: u32,
}

/// One `trak` as the index is built from it.
struct Trak {
    /// Non-zero for a track Eddy carries (whose samples are kept): provisional ids from 1,
    /// made final by `finish`.
    id: u32,
    /// The file's track_ID.
    file_id: u32,
    /// Ticks per second of the media times (`mdhd`).
    timescale: u32,
    /// Ticks subtracted from every media time (the edit list).
    shift: i64,
    /// The track, or why it is skipped (the sample entry's code).
    track: Result<Track, String>,
    trex: Defaults,
    /// Decode time after the last sample so far, and of the first one.
    end_dts: i64,
    first_dts: Option<i64>,
    /// Samples with bytes, in the file or (cut short) not.
    samples: u64,
    entries: Vec<IndexEntry>,
}

/// The bytes the samples of all tracks add up to, which a real file never exceeds.
struct Budget {
    len: u64,
    bytes: u64,
}

impl Trak {
    /// Counts `n` samples of `duration` ticks each that lie past the end of the file.
    fn lost(&mut self, n: u32, duration: u32) {
        let time = i64::from(n) * i64::from(duration);
        self.end_dts = self.end_dts.saturating_add(time);
        if self.id != 0 {
            self.samples += u64::from(n);
        }
    }

    /// Adds the sample of `size` bytes at `pos`, composition offset `cts` ticks, at the
    /// track's current decode time, which then moves on by `duration`. Samples of 0 bytes or
    /// past the end of the file get no entry.
    fn push(
        &mut self,
        pos: u64,
        size: u32,
        cts: i64,
        key: bool,
        duration: u32,
        b: &mut Budget,
    ) -> Result<(), VodError> {
        let dts = self.end_dts;
        self.end_dts = dts
            .checked_add(i64::from(duration))
            .ok_or_else(|| bad(format!("track {}: decode times overflow", self.file_id)))?;
        if self.id == 0 || size == 0 {
            return Ok(());
        }
        self.samples += 1;
        if pos
            .checked_add(u64::from(size))
            .is_none_or(|end| end > b.len)
        {
            return Ok(());
        }
        b.bytes += u64::from(size);
        if b.bytes > b.len {
            return Err(bad("the samples add up to more bytes than the file has"));
        }
        self.first_dts.get_or_insert(dts);
        let time = ms(dts - self.shift, self.timescale);
        let offset = ms(dts - self.shift + cts, self.timescale) - time;
        self.entries.push(IndexEntry {
            track: self.id,
            time,
            offset: offset.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            keyframe: key,
            pos,
            raw_len: size,
            size,
        });
        Ok(())
    }
}

/// Media ticks to ms, rounded half up.
fn ms(ticks: i64, timescale: u32) -> i64 {
    let scaled = (i128::from(ticks) * 1000 + i128::from(timescale / 2))
        .div_euclid(i128::from(timescale.max(1)));
    i64::try_from(scaled).unwrap_or(if scaled < 0 { i64::MIN } else { i64::MAX })
}

/// The `mdhd` language (8.4.2.3): a pad bit and three 5-bit letters, each `char - 0x60`, an
/// ISO 639-2/T code; `und` and anything not three lower-case letters is no language.
fn language(packed: u16) -> String {
    let code: String = [10u16, 5, 0]
        .iter()
        .map(|shift| (((packed >> shift) & 0x1F) as u8 + 0x60) as char)
        .collect();
    if code == "und" || !code.bytes().all(|b| b.is_ascii_lowercase()) {
        String::new()
    } else {
        code
    }
}

/// `tkhd` (track_ID), `mdhd` (timescale, language), the sample entry and the edit list of a `trak`.
fn parse_trak(trak: &[u8], movie_timescale: u32) -> Result<Trak, VodError> {
    let mut c = Cur::new(need(trak, b"tkhd")?, "tkhd");
    let (version, _) = c.full()?;
    c.skip(if version == 1 { 16 } else { 8 })?;
    let file_id = c.u32()?;
    let mdia = need(trak, b"mdia")?;
    let mut c = Cur::new(need(mdia, b"mdhd")?, "mdhd");
    let (version, _) = c.full()?;
    c.skip(if version == 1 { 16 } else { 8 })?;
    let timescale = c.u32()?;
    if timescale == 0 {
        return Err(bad(format!("track {file_id}: timescale 0")));
    }
    // A box that ends before its language (a truncated one) just has none.
    let lang = c
        .skip(if version == 1 { 8 } else { 4 })
        .and_then(|()| c.uint(2))
        .map(|v| language(v as u16))
        .unwrap_or_default();
    let stbl = need(need(mdia, b"minf")?, b"stbl")?;
    let mut track = entry::sample_entry(need(stbl, b"stsd")?)?;
    if let Ok(t) = &mut track {
        t.lang = lang;
        if t.codec
            .is_some_and(|c| matches!(c, Codec::Aac | Codec::Mp3))
            && t.rate == 0
        {
            t.rate = timescale;
        }
    }
    Ok(Trak {
        id: 0,
        file_id,
        timescale,
        shift: edit_shift(trak, movie_timescale, timescale)?,
        track,
        trex: Defaults::default(),
        end_dts: 0,
        first_dts: None,
        samples: 0,
        entries: Vec::new(),
    })
}

/// The ticks to subtract from media times (8.6.6 `elst`): the first non-empty edit's
/// media_time, less the leading empty edits (movie timescale) in media ticks. Later edits are
/// not applied (the file plays its media from there on, as most players do).
fn edit_shift(trak: &[u8], movie_timescale: u32, timescale: u32) -> Result<i64, VodError> {
    let Some(elst) = child(trak, b"edts")?
        .map(|e| child(e, b"elst"))
        .transpose()?
        .flatten()
    else {
        return Ok(0);
    };
    let mut c = Cur::new(elst, "elst");
    let (version, _) = c.full()?;
    let count = c.u32()?;
    let wide = if version == 1 { 8 } else { 4 };
    let mut edits = Cur::new(c.table(count, 2 * wide + 4)?, "elst");
    let mut empty: i128 = 0;
    let mut media_time = 0i64;
    for _ in 0..count {
        let duration = edits.uint(wide)?;
        let time = edits.uint(wide)?;
        edits.skip(4)?;
        let time = match wide {
            8 => time as i64,
            _ => i64::from(time as u32 as i32),
        };
        if time == -1 {
            empty += i128::from(duration);
            continue;
        }
        media_time = time;
        break;
    }
    let empty = if movie_timescale == 0 {
        0
    } else {
        empty * i128::from(timescale) / i128::from(movie_timescale)
    };
    i64::try_from(i128::from(media_time) - empty).map_err(|_| bad("elst times overflow"))
}

/// The index from the tracks read: the tracks with samples numbered from 1 in file order.
fn finish(traks: Vec<Trak>) -> Result<Index, VodError> {
    let mut index = Index {
        container: Container::Mp4,
        tracks: Vec::new(),
        source_ids: Vec::new(),
        entries: Vec::new(),
        skipped: Vec::new(),
    };
    for mut t in traks {
        let mut track = match t.track {
            Err(code) => {
                index.skipped.push(format!("track {}: {code}", t.file_id));
                continue;
            }
            Ok(_) if t.entries.is_empty() && t.samples > 0 => {
                let id = t.file_id;
                return Err(bad(format!(
                    "track {id}: every sample lies past the end of the file"
                )));
            }
            Ok(track) if t.entries.is_empty() => {
                let name = track.codec.map_or("?", Codec::mist_name);
                index
                    .skipped
                    .push(format!("track {}: {name} without samples", t.file_id));
                continue;
            }
            Ok(track) => track,
        };
        track.id = index.tracks.len() as u32 + 1;
        // A negative composition offset (ctts or trun version 1) moves the track's decode
        // times earlier instead, so no frame shows before it decodes; presentation times
        // stay as the file has them (ffmpeg does the same for sample tables).
        let least = t.entries.iter().map(|e| e.offset).min().unwrap_or(0).min(0);
        for e in &mut t.entries {
            e.track = track.id;
            e.time += i64::from(least);
            e.offset -= least;
        }
        let span = t.end_dts - t.first_dts.unwrap_or(t.end_dts);
        if track.kind() == Some(TrackKind::Video) && span > 0 {
            let n = t.entries.len() as i128;
            let fpks = n * 1000 * i128::from(t.timescale) / i128::from(span);
            track.fpks = u32::try_from(fpks).unwrap_or(track.fpks);
        }
        index.tracks.push(track);
        index.source_ids.push(t.file_id);
        index.entries.extend(t.entries);
    }
    Ok(index)
}

#[cfg(test)]
mod language_tests {
    #[test]
    fn mdhd_language() {
        let pack = |s: &[u8; 3]| {
            s.iter()
                .fold(0u16, |acc, &c| (acc << 5) | u16::from(c - 0x60))
        };
        assert_eq!(super::language(pack(b"fra")), "fra");
        assert_eq!(super::language(pack(b"und")), "");
        assert_eq!(super::language(0), "");
        assert_eq!(super::language(0xFFFF), "");
    }
}
