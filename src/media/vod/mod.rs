//! On-demand files: an index per file (tracks and a packet table) and the packets read back from
//! it. Pure code: the caller does the file I/O (any `Read + Seek`), this module says what to read.
//!
//! ```text
//!   file ──scan()──▶ Index { tracks, entries: [track, time, offset, key, pos, raw_len, size] }
//!                       │ stored beside the file (store.rs), so a second open costs a read
//!   viewer at 10 s ──Index::seek(10_000)──▶ entry i ──read raw_len bytes at pos──▶ packet(i, raw)
//! ```
//!
//! Every container gives each packet a byte range: `raw_len` bytes at `pos` hold it. For MP4,
//! FLV, MP3, ADTS and Matroska that range is the payload itself (`packet` slices it, zero-copy); for
//! MPEG-TS it is the TS packets from the first to the last one carrying the PES, which `packet`
//! demuxes; for an Ogg packet continued across pages it is its pages, which `packet`
//! re-assembles (see [`ogg`]); WAV's PCM is swapped to big-endian (see [`wav`]). `size` is the payload's length as [`Packet::data`] holds it (after any Annex B to
//! length-prefixed conversion), so an MP4 header can be built from the index alone.
//!
//! Tracks are numbered from 1 in the order the file lists them; a track whose codec Eddy cannot
//! carry is left out and named in [`Index::skipped`].

pub mod flv;
pub mod join;
pub mod mkv;
pub mod mp3;
pub mod mp4;
pub mod ogg;
pub mod store;
pub mod ts;
pub mod wav;

use std::io::{Read, Seek};

use bytes::Bytes;

use super::{Packet, Track, TrackKind};

/// The containers Eddy reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Container {
    /// MP4 and QuickTime MOV, `moov` first or last, and fragmented MP4.
    Mp4,
    Flv,
    /// MPEG-TS (188-byte packets).
    Ts,
    /// MPEG audio (MP3) with or without ID3 tags.
    Mp3,
    /// AAC in ADTS frames (`.aac`).
    Adts,
    /// Ogg (RFC 3533) with Opus, Vorbis and Theora streams.
    Ogg,
    /// WAV (RIFF/WAVE): PCM, A-law, mu-law or MP3.
    Wav,
    /// Matroska and WebM (`.mkv`, `.mka`, `.webm`).
    Matroska,
}

impl Container {
    /// The container of a file, from its first bytes (at least 16 are needed; more is better)
    /// and, where those say nothing, its extension.
    pub fn detect(head: &[u8], extension: &str) -> Option<Container> {
        let ext = extension.to_ascii_lowercase();
        if head.starts_with(b"OggS") {
            return Some(Container::Ogg);
        }
        if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WAVE" {
            return Some(Container::Wav);
        }
        if head.starts_with(b"FLV\x01") {
            return Some(Container::Flv);
        }
        if mkv::detect(head) {
            return Some(Container::Matroska);
        }
        if head.len() >= 8
            && matches!(
                &head[4..8],
                b"ftyp" | b"moov" | b"mdat" | b"free" | b"wide" | b"skip" | b"styp" | b"moof"
            )
        {
            return Some(Container::Mp4);
        }
        if head.first() == Some(&0x47)
            && (head.len() < 189 || head[188] == 0x47)
            && ext != "aac"
            && ext != "mp3"
        {
            return Some(Container::Ts);
        }
        if head.starts_with(b"ID3") {
            return Some(if ext == "aac" {
                Container::Adts
            } else {
                Container::Mp3
            });
        }
        if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xF6 == 0xF0 {
            return Some(Container::Adts);
        }
        if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0 {
            return Some(Container::Mp3);
        }
        match ext.as_str() {
            "mp4" | "m4v" | "m4a" | "mov" | "f4v" | "3gp" => Some(Container::Mp4),
            "flv" => Some(Container::Flv),
            "ts" | "m2ts" | "mts" => Some(Container::Ts),
            "mp3" => Some(Container::Mp3),
            "aac" => Some(Container::Adts),
            "ogg" | "oga" | "ogv" | "opus" => Some(Container::Ogg),
            "wav" => Some(Container::Wav),
            "mkv" | "mka" | "webm" => Some(Container::Matroska),
            _ => None,
        }
    }

    /// The name `json_` and the logs use for the input (MistServer's input names).
    pub fn input_name(self) -> &'static str {
        match self {
            Container::Mp4 => "MP4",
            Container::Flv => "FLV",
            Container::Ts => "TS",
            Container::Mp3 => "MP3",
            Container::Adts => "AAC",
            Container::Ogg => "OGG",
            Container::Wav => "WAV",
            Container::Matroska => "EBML",
        }
    }

    /// A stable number for the stored index.
    pub fn code(self) -> u8 {
        match self {
            Container::Mp4 => 1,
            Container::Flv => 2,
            Container::Ts => 3,
            Container::Mp3 => 4,
            Container::Adts => 5,
            Container::Ogg => 6,
            Container::Wav => 7,
            Container::Matroska => 8,
        }
    }

    pub fn from_code(code: u8) -> Option<Container> {
        [
            Container::Mp4,
            Container::Flv,
            Container::Ts,
            Container::Mp3,
            Container::Adts,
            Container::Ogg,
            Container::Wav,
            Container::Matroska,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }
}

/// Why a file cannot be indexed or a packet not read.
#[derive(Debug, thiserror::Error)]
pub enum VodError {
    #[error("not a file Eddy can read: {0}")]
    Unrecognised(String),
    #[error("{container} file is malformed: {reason}")]
    Malformed {
        container: &'static str,
        reason: String,
    },
    #[error("the file has no track Eddy can carry ({0})")]
    NoTracks(String),
    #[error("reading the file failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the stored index is unusable: {0}")]
    BadIndex(String),
}

impl VodError {
    pub fn malformed(container: Container, reason: impl Into<String>) -> VodError {
        VodError::Malformed {
            container: container.input_name(),
            reason: reason.into(),
        }
    }
}

/// One packet of the file: where its bytes are and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Track id (1-based, as in [`Index::tracks`]).
    pub track: u32,
    /// Decode time, ms.
    pub time: i64,
    /// Composition offset, ms.
    pub offset: i32,
    pub keyframe: bool,
    /// Where the bytes to read start.
    pub pos: u64,
    /// How many bytes to read at `pos`.
    pub raw_len: u32,
    /// The payload's length in [`Packet::data`].
    pub size: u32,
}

/// What a file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub container: Container,
    /// The tracks, ids from 1, with `firstms`/`lastms` and `bps` set.
    pub tracks: Vec<Track>,
    /// Per track (same order as `tracks`): the file's own id for it (MP4 track_ID, TS PID, FLV
    /// tag type), for [`packet`].
    pub source_ids: Vec<u32>,
    /// Every packet, in decode order (time, then track id).
    pub entries: Vec<IndexEntry>,
    /// Tracks left out, as `"track 2: AC-3"`, for the log and `json_`.
    pub skipped: Vec<String>,
}

impl Index {
    /// The file's length in media time, ms (the latest packet end over all tracks).
    pub fn duration_ms(&self) -> i64 {
        self.tracks.iter().map(|t| t.lastms).max().unwrap_or(0)
    }

    pub fn track(&self, id: u32) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// The track that decides where playback may start: the first video track, else the first
    /// track.
    pub fn main_track(&self) -> Option<u32> {
        self.tracks
            .iter()
            .find(|t| t.kind() == Some(TrackKind::Video))
            .or_else(|| self.tracks.first())
            .map(|t| t.id)
    }

    /// Whether entry `i` is a point playback may start at.
    pub fn is_start_point(&self, i: usize) -> bool {
        let main = self.main_track();
        self.entries
            .get(i)
            .is_some_and(|e| Some(e.track) == main && (e.keyframe || !self.main_is_video()))
    }

    fn main_is_video(&self) -> bool {
        self.main_track()
            .and_then(|id| self.track(id))
            .is_some_and(|t| t.kind() == Some(TrackKind::Video))
    }

    /// The entry to start at for a viewer asking for `ms`: the last start point at or before
    /// it (the first one when `ms` is before every start point).
    pub fn seek(&self, ms: i64) -> usize {
        let mut best = None;
        for (i, e) in self.entries.iter().enumerate() {
            if e.time > ms && best.is_some() {
                break;
            }
            if self.is_start_point(i) {
                best = Some(i);
                if e.time >= ms {
                    break;
                }
            }
        }
        best.unwrap_or(0)
    }

    /// The times of the start points, ms, in order: where segments may be cut.
    pub fn start_times(&self) -> Vec<i64> {
        (0..self.entries.len())
            .filter(|&i| self.is_start_point(i))
            .map(|i| self.entries[i].time)
            .collect()
    }

    /// Segments of at least `min_ms` cut at start points: `(start, end)` in ms, covering the
    /// whole file.
    pub fn segments(&self, min_ms: i64) -> Vec<(i64, i64)> {
        let times = self.start_times();
        let end = self.duration_ms();
        let mut out = Vec::new();
        let Some(&first) = times.first() else {
            return out;
        };
        let mut start = first;
        for &t in &times[1..] {
            if t - start >= min_ms {
                out.push((start, t));
                start = t;
            }
        }
        if end > start {
            out.push((start, end));
        }
        out
    }
}

/// Reads a whole file's index. `len` is the file's length in bytes.
pub fn scan<R: Read + Seek>(
    container: Container,
    reader: &mut R,
    len: u64,
) -> Result<Index, VodError> {
    let mut index = match container {
        Container::Mp4 => mp4::scan(reader, len)?,
        Container::Flv => flv::scan(reader, len)?,
        Container::Ts => ts::scan(reader, len)?,
        Container::Mp3 | Container::Adts => mp3::scan(container, reader, len)?,
        Container::Ogg => ogg::scan(reader, len)?,
        Container::Wav => wav::scan(reader, len)?,
        Container::Matroska => mkv::scan(reader, len)?,
    };
    finish(&mut index);
    if index.tracks.is_empty() {
        let why = if index.skipped.is_empty() {
            "no audio or video".to_string()
        } else {
            index.skipped.join(", ")
        };
        return Err(VodError::NoTracks(why));
    }
    Ok(index)
}

/// The packet of entry `i`, from `raw`: the `raw_len` bytes read at its `pos`.
pub fn packet(index: &Index, i: usize, raw: Bytes) -> Result<Packet, VodError> {
    let e = index
        .entries
        .get(i)
        .ok_or_else(|| VodError::BadIndex(format!("no entry {i}")))?;
    let data = match index.container {
        Container::Ts => ts::payload(index, e, &raw)?,
        Container::Ogg if raw.len() != e.size as usize => ogg::payload(index, e, &raw)?,
        Container::Wav => wav::payload(index, e, raw)?,
        _ if raw.len() == e.size as usize => raw,
        _ => {
            return Err(VodError::malformed(
                index.container,
                format!("packet {i} should be {} bytes, read {}", e.size, raw.len()),
            ))
        }
    };
    Ok(Packet {
        track: e.track,
        time: e.time,
        offset: e.offset,
        keyframe: e.keyframe,
        data,
    })
}

/// Sorts the entries into decode order and sets each track's first and last time and its
/// average bit rate.
fn finish(index: &mut Index) {
    index.entries.sort_by_key(|e| (e.time, e.track, e.pos));
    for t in &mut index.tracks {
        let mine = index.entries.iter().filter(|e| e.track == t.id);
        let (mut first, mut last, mut bytes, mut n) = (i64::MAX, i64::MIN, 0u64, 0u64);
        for e in mine {
            first = first.min(e.time);
            last = last.max(e.time);
            bytes += u64::from(e.size);
            n += 1;
        }
        if n == 0 {
            continue;
        }
        // The last packet lasts as long as the average one before it.
        let step = if n > 1 {
            (last - first) / (n as i64 - 1)
        } else {
            0
        };
        t.firstms = first;
        t.lastms = last + step;
        let span = (t.lastms - t.firstms).max(1);
        t.bps = bytes * 1000 / span as u64;
    }
}

#[cfg(test)]
pub(crate) mod tests;
