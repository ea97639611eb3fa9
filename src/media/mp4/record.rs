//! The fragmented MP4 side of [`crate::media::record`]: a file like ffmpeg's
//! `-movflags frag_keyframe+empty_moov` output, ended by a movie fragment random access box.
//!
//! ```text
//! ftyp moov(mvhd trak... mvex(mehd trex...))     the init segment, with an `mehd` added
//! moof mdat  moof mdat  ...                       one fragment per GOP (see `Mp4Recording::push`)
//! mfra(tfra... mfro)                              ISO/IEC 14496-12 8.8.9 .. 8.8.11
//! ```
//!
//! `mvhd` duration (u32, movie timescale 1000) and `mehd` fragment_duration (version 1, u64)
//! are written as 0 and patched by the caller once the length is known; both sit at fixed
//! offsets in the `moov`, so no box moves.

use bytes::{BufMut, Bytes, BytesMut};

use super::super::{Packet, Track, TrackKind};
use super::boxes::find_box;
use super::{self as mp4, FragmentTrack, Mp4Error};

/// Audio-only recordings cut a fragment every this many ms.
const AUDIO_FRAGMENT_MS: i64 = 2_000;
/// Any fragment is cut at this length...
const MAX_FRAGMENT_MS: i64 = 10_000;
/// ... or at this many payload bytes, so memory stays bounded without keyframes.
const MAX_FRAGMENT_BYTES: usize = 16 << 20;
/// ... or at this many packets (times that stand still must not grow it without end).
const MAX_FRAGMENT_PACKETS: usize = 65_536;
/// `mehd` version 1: header 12 + fragment_duration u64.
const MEHD_LEN: u32 = 20;

/// One fragment written, as the `mfra` needs it.
#[derive(Debug)]
struct FragmentEntry {
    /// Absolute file offset of the fragment's `moof`.
    moof_offset: u64,
    /// (track id, traf number from 1, presentation time of the first sample in the track
    /// timescale) of every track whose first sample in the fragment is a sync sample.
    points: Vec<(u32, u8, u64)>,
}

/// A fragmented MP4 being recorded. Times given to it are already rebased (never negative).
#[derive(Debug)]
pub(in crate::media) struct Mp4Recording {
    tracks: Vec<Track>,
    /// Fragments are cut at keyframes of this (the first video) track.
    primary_video: Option<u32>,
    init: Bytes,
    /// Absolute offsets of `mvhd` duration and `mehd` fragment_duration.
    mvhd_duration_at: Option<u64>,
    mehd_at: Option<u64>,
    pending: Vec<Packet>,
    pending_bytes: usize,
    sequence: u32,
    /// Bytes emitted so far (the recording is the whole file: MP4 never appends).
    written: u64,
    fragments: Vec<FragmentEntry>,
}

impl Mp4Recording {
    /// Keeps the tracks `mp4::init_segment` accepts (first of each id); `None` if none is left.
    pub(in crate::media) fn new(tracks: &[Track]) -> Option<Mp4Recording> {
        let mut kept: Vec<Track> = Vec::new();
        for track in tracks {
            let new_id = kept.iter().all(|t| t.id != track.id);
            if new_id && mp4::init_segment(&[track]).is_ok() {
                kept.push(track.clone());
            }
        }
        let refs: Vec<&Track> = kept.iter().collect();
        let init = mp4::init_segment(&refs).ok()?;
        let (init, mvhd_duration_at, mehd_at) = with_mehd(init);
        let primary_video = kept
            .iter()
            .find(|t| t.kind() == Some(TrackKind::Video))
            .map(|t| t.id);
        Some(Mp4Recording {
            tracks: kept,
            primary_video,
            init,
            mvhd_duration_at,
            mehd_at,
            pending: Vec::new(),
            pending_bytes: 0,
            sequence: 1,
            written: 0,
            fragments: Vec::new(),
        })
    }

    pub(in crate::media) fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// `ftyp` + `moov`.
    pub(in crate::media) fn start(&mut self, out: &mut BytesMut) {
        self.emit(&self.init.clone(), out);
    }

    /// Whether `packet` (rebased) can go into a fragment: the checks `mp4::media_segment` would
    /// fail the whole fragment on, made up front for this one packet.
    pub(in crate::media) fn check(&self, track: &Track, packet: &Packet) -> Result<(), Mp4Error> {
        u32::try_from(packet.data.len()).map_err(|_| Mp4Error::TooLarge)?;
        let ts = mp4::timescale(track);
        let bad = || Mp4Error::BadTime(packet.time);
        let dts = to_timescale(packet.time, ts)
            .filter(|&t| t >= 0)
            .ok_or_else(bad)?;
        let pts = packet
            .time
            .checked_add(i64::from(packet.offset))
            .and_then(|ms| to_timescale(ms, ts))
            .ok_or_else(bad)?;
        let offset = pts.checked_sub(dts).ok_or_else(bad)?;
        i32::try_from(offset).map(|_| ()).map_err(|_| bad())
    }

    /// Adds a packet (after [`Mp4Recording::check`]). First cuts the pending fragment when
    /// `packet` is a keyframe of the primary video track, or (audio only) 2 s after the
    /// fragment's start, or when the fragment would pass 10 s, 16 MiB or 65536 packets.
    /// Returns the error of a fragment that could not be written (and was dropped).
    pub(in crate::media) fn push(
        &mut self,
        packet: &Packet,
        out: &mut BytesMut,
    ) -> Option<Mp4Error> {
        let cut = self.pending.first().is_some_and(|first| {
            let span = packet.time.saturating_sub(first.time);
            let keyframe = packet.keyframe && Some(packet.track) == self.primary_video;
            keyframe
                || (self.primary_video.is_none() && span >= AUDIO_FRAGMENT_MS)
                || span >= MAX_FRAGMENT_MS
                || self.pending_bytes.saturating_add(packet.data.len()) > MAX_FRAGMENT_BYTES
                || self.pending.len() >= MAX_FRAGMENT_PACKETS
        });
        let lost = if cut {
            self.flush(Some(packet), out).err()
        } else {
            None
        };
        self.pending_bytes = self.pending_bytes.saturating_add(packet.data.len());
        self.pending.push(packet.clone());
        lost
    }

    /// Writes the last fragment and the `mfra`; returns (offset, bytes) patches for the movie
    /// duration (`duration_ms`) in `mvhd` and `mehd`.
    pub(in crate::media) fn finish(
        &mut self,
        duration_ms: i64,
        out: &mut BytesMut,
    ) -> Vec<(u64, Vec<u8>)> {
        // The packets were checked one by one; a failure here only loses the last fragment.
        let _ = self.flush(None, out);
        let mfra = mfra(&self.tracks, &self.fragments);
        self.emit(&mfra, out);
        let duration = u64::try_from(duration_ms).unwrap_or(0);
        let mut patches = Vec::new();
        if let Some(at) = self.mvhd_duration_at {
            let short = u32::try_from(duration).unwrap_or(u32::MAX);
            patches.push((at, short.to_be_bytes().to_vec()));
        }
        if let Some(at) = self.mehd_at {
            patches.push((at, duration.to_be_bytes().to_vec()));
        }
        patches
    }

    fn emit(&mut self, bytes: &[u8], out: &mut BytesMut) {
        out.put_slice(bytes);
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.written = self.written.saturating_add(len);
    }

    /// Writes the pending packets as one `moof` + `mdat`. A track's last sample lasts until
    /// `next` when `next` is of that track and at most 10 s later (a longer gap is a jump, not
    /// a sample's length), else as long as the sample before it.
    fn flush(&mut self, next: Option<&Packet>, out: &mut BytesMut) -> Result<(), Mp4Error> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        if pending.is_empty() {
            return Ok(());
        }
        let per_track: Vec<Vec<&Packet>> = self
            .tracks
            .iter()
            .map(|t| pending.iter().filter(|p| p.track == t.id).collect())
            .collect();
        let parts: Vec<FragmentTrack<'_>> = self
            .tracks
            .iter()
            .zip(&per_track)
            .map(|(track, packets)| FragmentTrack {
                track,
                packets,
                end_ms: next
                    .filter(|n| n.track == track.id)
                    .filter(|n| {
                        let last = packets.last().map_or(n.time, |p| p.time);
                        n.time.saturating_sub(last) <= MAX_FRAGMENT_MS
                    })
                    .map_or(i64::MIN, |n| n.time),
            })
            .collect();
        let sequence = self.sequence;
        self.sequence = sequence.wrapping_add(1).max(1);
        let segment = mp4::media_segment(sequence, &parts, false)?;
        let mut points = Vec::new();
        let mut traf: u8 = 0;
        for (track, packets) in self.tracks.iter().zip(&per_track) {
            let Some(first) = packets.first() else {
                continue;
            };
            traf = traf.saturating_add(1);
            let sync = first.keyframe || track.kind() != Some(TrackKind::Video);
            let time = first
                .time
                .checked_add(i64::from(first.offset))
                .and_then(|pts| to_timescale(pts, mp4::timescale(track)))
                .and_then(|t| u64::try_from(t).ok());
            if let (true, Some(time)) = (sync, time) {
                points.push((track.id, traf, time));
            }
        }
        self.fragments.push(FragmentEntry {
            moof_offset: self.written,
            points,
        });
        self.emit(&segment, out);
        Ok(())
    }
}

/// Milliseconds in `timescale` units, rounded half up: the conversion of the fragments, so a
/// `tfra` time equals `tfdt` plus the first sample's composition offset.
fn to_timescale(ms: i64, timescale: u32) -> Option<i64> {
    mp4::to_timescale(ms, timescale).ok()
}

/// Adds an `mehd` (version 1, duration 0) at the start of `mvex`. Returns the init segment and
/// the offsets of `mvhd` duration (version 0 `mvhd`) and `mehd` fragment_duration; on any
/// surprise the init segment is returned as it was, without those offsets.
fn with_mehd(init: Bytes) -> (Bytes, Option<u64>, Option<u64>) {
    let Some((moov, moov_size)) = find_box(&init, 0, init.len(), b"moov") else {
        return (init, None, None);
    };
    let moov_end = moov + moov_size;
    let mvhd_at = find_box(&init, moov + 8, moov_end, b"mvhd")
        .filter(|&(at, size)| size >= 32 && init.get(at + 8) == Some(&0))
        .and_then(|(at, _)| u64::try_from(at + 24).ok());
    let Some((mvex, mvex_size)) = find_box(&init, moov + 8, moov_end, b"mvex") else {
        return (init, mvhd_at, None);
    };
    let grown = |size: usize| {
        u32::try_from(size)
            .ok()
            .and_then(|s| s.checked_add(MEHD_LEN))
    };
    let (Some(moov_len), Some(mvex_len)) = (grown(moov_size), grown(mvex_size)) else {
        return (init, mvhd_at, None);
    };
    let body = mvex + 8;
    let mut buf = BytesMut::with_capacity(init.len() + 20);
    buf.put_slice(init.get(..body).unwrap_or_default());
    buf.put_u32(MEHD_LEN);
    buf.put_slice(b"mehd");
    buf.put_u32(1 << 24); // version 1, flags 0
    buf.put_u64(0); // fragment_duration, patched at the end
    buf.put_slice(init.get(body..).unwrap_or_default());
    if let Some(slot) = buf.get_mut(moov..moov + 4) {
        slot.copy_from_slice(&moov_len.to_be_bytes());
    }
    if let Some(slot) = buf.get_mut(mvex..mvex + 4) {
        slot.copy_from_slice(&mvex_len.to_be_bytes());
    }
    let mehd_at = u64::try_from(body + 12).ok();
    (buf.freeze(), mvhd_at, mehd_at)
}

/// `mfra` with one `tfra` per track, then `mfro` holding the size of the whole `mfra`. A
/// `tfra` lists the fragments where the track's first sample is a sync sample: its
/// presentation time (8.8.10.3: `time` is the sync sample's presentation time in the `mdhd`
/// timescale; ffmpeg writes and reads it so), the `moof` offset, the `traf`'s position in the
/// `moof`, trun 1 and sample 1 (one byte each).
///
/// ```text
/// tfra  version 1 | track_ID u32 | reserved u26, length_size_of_traf/trun/sample_num u2 = 0
///       number_of_entry u32 | { time u64, moof_offset u64, traf u8, trun u8, sample u8 }
/// mfro  version 0 | size u32
/// ```
fn mfra(tracks: &[Track], fragments: &[FragmentEntry]) -> Vec<u8> {
    let mut body = Vec::new();
    for track in tracks {
        let entries: Vec<(u64, u64, u8)> = fragments
            .iter()
            .filter_map(|f| {
                let &(_, traf, time) = f.points.iter().find(|p| p.0 == track.id)?;
                Some((time, f.moof_offset, traf))
            })
            .collect();
        let size = entries
            .len()
            .checked_mul(19)
            .and_then(|n| n.checked_add(24));
        let (Some(size), Ok(count)) = (
            size.and_then(|s| u32::try_from(s).ok()),
            u32::try_from(entries.len()),
        ) else {
            continue;
        };
        body.put_u32(size);
        body.put_slice(b"tfra");
        body.put_u32(1 << 24); // version 1, flags 0
        body.put_u32(track.id);
        body.put_u32(0); // length sizes: 1 byte each
        body.put_u32(count);
        for (time, offset, traf) in entries {
            body.put_u64(time);
            body.put_u64(offset);
            body.put_slice(&[traf, 1, 1]);
        }
    }
    let total = u32::try_from(body.len().saturating_add(8 + 16)).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(body.len() + 24);
    out.put_u32(total);
    out.put_slice(b"mfra");
    out.put_slice(&body);
    out.put_u32(16);
    out.put_slice(b"mfro");
    out.put_u32(0);
    out.put_u32(total);
    out
}
