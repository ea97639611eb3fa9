//! MPEG-TS files for the on-demand index: [`scan`] runs the streaming demuxer
//! ([`crate::media::ts::demux`]) over the whole file once, [`payload`] runs it again over the
//! transport packets of one PES.
//!
//! - Each packet the demuxer gives becomes an entry: one per video PES (an access unit), one per
//!   audio frame (a PES often carries several ADTS, MPEG audio or AC-3 frames; each frame is its own
//!   entry, all of them with the span of their PES).
//! - `pos` is the offset of the transport packet that started the PES and `raw_len` runs to the
//!   end of the last one that carried it (other PIDs' packets in between are part of the span and
//!   skipped by [`payload`]); `size` is the payload in [`Packet::data`](super::Packet) form:
//!   length-prefixed NAL units without access unit delimiters or the parameter sets the track's
//!   configuration holds, AAC frames without their ADTS header.
//! - Times are the demuxer's (PTS/DTS in ms on a timeline that runs past the 33-bit wrap), moved
//!   so that the earliest decode time of the file is 0. Video keyframes are access units with an
//!   IDR / IRAP picture or random_access_indicator set; every audio frame is a keyframe (a sync
//!   point, as MP4 marks them).
//! - Tracks follow the first program's PMT order; elementary streams of codecs Eddy cannot carry
//!   are named in [`Index::skipped`] by PID and stream type.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Seek, SeekFrom};

use bytes::Bytes;

use super::super::ts::demux::{DemuxError, PesSpan, TsDemuxer, TsEvent};
use super::super::ts::TS_PACKET;
use super::super::{Packet, Track, TrackKind};
use super::{Container, Index, IndexEntry, VodError};

/// Bytes read from the file at a time while scanning.
const CHUNK: usize = 1 << 20;
/// Largest span a PES may take in the file, other PIDs' packets included: a longer one is left
/// out of the index rather than read into memory whole for one packet.
pub const MAX_SPAN: u64 = 64 << 20;
/// How many frames of earlier PES in a row end the search for an audio frame's place in its PES.
const LOOK_BACK: usize = 64;

/// Indexes a whole file.
pub fn scan<R: Read + Seek>(reader: &mut R, len: u64) -> Result<Index, VodError> {
    reader.seek(SeekFrom::Start(0))?;
    let mut input = reader.take(len);
    let mut demuxer = TsDemuxer::new();
    let mut scan = Scan::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        demuxer.push(buf.get(..n).unwrap_or_default());
        scan.drain(&mut demuxer);
    }
    demuxer.finish();
    scan.drain(&mut demuxer);
    scan.into_index(len)
}

/// What the scan has found so far. Tracks and entries use the demuxer's track ids until
/// [`Scan::into_index`] numbers them.
#[derive(Default)]
struct Scan {
    /// By demuxer track id: the track as first announced and its PID.
    tracks: BTreeMap<u32, (Track, u16)>,
    entries: Vec<IndexEntry>,
    skipped: Vec<String>,
    /// Bytes skipped looking for transport packets.
    unsynced: u64,
}

impl Scan {
    fn drain(&mut self, demuxer: &mut TsDemuxer) {
        while let Some((event, span)) = demuxer.pull_with_span() {
            match (event, span) {
                (Ok(TsEvent::Track(track)), _) => self.on_track(track),
                (Ok(TsEvent::Packet(packet)), Some(span)) => self.on_packet(&packet, span),
                (Ok(TsEvent::Packet(_)), None) => {}
                (Err(DemuxError::Resync { skipped }), _) => self.unsynced += skipped as u64,
                (Err(DemuxError::UnsupportedStream { pid, stream_type }), _) => {
                    self.skipped
                        .push(format!("PID {pid:#06x}: {}", stream_type_name(stream_type)));
                }
                // Damage the demuxer skips over: the packets it concerns are not indexed.
                (Err(_), _) => {}
            }
        }
    }

    /// A track as first announced: its first parameters stand for the whole file. Its PID is
    /// learnt from its first packet's span.
    fn on_track(&mut self, track: Track) {
        self.tracks.entry(track.id).or_insert((track, 0));
    }

    fn on_packet(&mut self, packet: &Packet, span: PesSpan) {
        let Some((track, pid)) = self.tracks.get_mut(&packet.track) else {
            return;
        };
        *pid = span.pid;
        let audio = track.kind() == Some(TrackKind::Audio);
        let raw_len = span.end.saturating_sub(span.start);
        let (Ok(raw_len), Ok(size)) = (u32::try_from(raw_len), u32::try_from(packet.data.len()))
        else {
            return;
        };
        if u64::from(raw_len) > MAX_SPAN || raw_len == 0 {
            return;
        }
        self.entries.push(IndexEntry {
            track: packet.track,
            time: packet.time,
            offset: packet.offset,
            keyframe: packet.keyframe || audio,
            pos: span.start,
            raw_len,
            size,
        });
    }

    fn into_index(mut self, len: u64) -> Result<Index, VodError> {
        if len > 0 && self.unsynced >= len {
            return Err(VodError::malformed(
                Container::Ts,
                "no transport packets (no sync bytes 188 bytes apart)",
            ));
        }
        // Tracks that never gave a packet are left out; the rest are numbered from 1.
        let used: Vec<u32> = self
            .tracks
            .keys()
            .copied()
            .filter(|id| self.entries.iter().any(|e| e.track == *id))
            .collect();
        let mut tracks = Vec::with_capacity(used.len());
        let mut source_ids = Vec::with_capacity(used.len());
        let mut renumber = BTreeMap::new();
        for (n, old) in used.iter().enumerate() {
            let Some((mut track, pid)) = self.tracks.remove(old) else {
                continue;
            };
            let id = u32::try_from(n + 1).unwrap_or(u32::MAX);
            track.id = id;
            renumber.insert(*old, id);
            tracks.push(track);
            source_ids.push(u32::from(pid));
        }
        let base = self.entries.iter().map(|e| e.time).min().unwrap_or(0);
        for e in &mut self.entries {
            e.track = renumber.get(&e.track).copied().unwrap_or(0);
            e.time -= base;
        }
        Ok(Index {
            container: Container::Ts,
            tracks,
            source_ids,
            entries: self.entries,
            skipped: self.skipped,
        })
    }
}

/// The payload of `entry` from the transport packets read at its position: its PID's packets
/// demuxed again, and the frame that is the entry's (audio PES carry several).
pub fn payload(index: &Index, entry: &IndexEntry, raw: &Bytes) -> Result<Bytes, VodError> {
    let bad = |reason: String| VodError::malformed(Container::Ts, reason);
    let slot = index
        .tracks
        .iter()
        .position(|t| t.id == entry.track)
        .ok_or_else(|| VodError::BadIndex(format!("no track {}", entry.track)))?;
    let (Some(track), Some(&pid)) = (index.tracks.get(slot), index.source_ids.get(slot)) else {
        return Err(VodError::BadIndex(format!(
            "no PID for track {}",
            entry.track
        )));
    };
    let pid = u16::try_from(pid).map_err(|_| VodError::BadIndex(format!("PID {pid}")))?;
    if raw.len() != entry.raw_len as usize {
        return Err(bad(format!(
            "PES at byte {} should span {} bytes, read {}",
            entry.pos,
            entry.raw_len,
            raw.len()
        )));
    }
    let mut demuxer = TsDemuxer::new();
    if !demuxer.follow(pid, track.clone()) {
        return Err(VodError::BadIndex(format!(
            "track {} is not a codec MPEG-TS carries",
            track.id
        )));
    }
    for packet in packets_of(raw, pid) {
        demuxer.push(packet);
    }
    demuxer.finish();
    // The PES's frames in the order the index has them: by time, ties in the order they came.
    let mut frames: Vec<Packet> = std::iter::from_fn(|| demuxer.pull())
        .filter_map(|event| match event {
            Ok(TsEvent::Packet(p)) if p.track == entry.track => Some(p),
            _ => None,
        })
        .collect();
    frames.sort_by_key(|p| p.time);
    let nth = frame_number(index, entry);
    let frame = frames.into_iter().nth(nth).ok_or_else(|| {
        bad(format!(
            "no packet {nth} in the PES at byte {} (PID {pid:#06x})",
            entry.pos
        ))
    })?;
    if frame.data.len() != entry.size as usize {
        return Err(bad(format!(
            "packet at byte {} should be {} bytes, demuxed {}",
            entry.pos,
            entry.size,
            frame.data.len()
        )));
    }
    Ok(frame.data)
}

/// The transport packets of `pid` in `raw`, found the way the demuxer finds packets: a sync byte
/// followed by another one packet later (or by the end of `raw`).
fn packets_of(raw: &[u8], pid: u16) -> impl Iterator<Item = &[u8]> {
    let mut at = 0usize;
    std::iter::from_fn(move || loop {
        let packet = raw.get(at..at.checked_add(TS_PACKET)?)?;
        let next = raw.get(at + TS_PACKET);
        if packet.first() != Some(&0x47) || next.is_some_and(|&b| b != 0x47) {
            at += 1;
            continue;
        }
        at += TS_PACKET;
        let packet_pid = packet
            .get(1..3)
            .map(|b| (u16::from(b[0] & 0x1F) << 8) | u16::from(b[1]));
        if packet_pid == Some(pid) {
            return Some(packet);
        }
    })
}

/// Which of its PES's frames `entry` is, in the index's order (a video PES has one; an audio PES
/// may carry several, all with the PES's track and position). Looking back from the entry, the
/// track's frames of the same PES are counted and other PES's frames passed over, until
/// [`LOOK_BACK`] frames in a row belong to earlier PES (a damaged frame header can move a
/// frame's time among another PES's frames; beyond that the payload's size check fails).
fn frame_number(index: &Index, entry: &IndexEntry) -> usize {
    let video = index
        .track(entry.track)
        .is_some_and(|t| t.kind() == Some(TrackKind::Video));
    if video {
        return 0;
    }
    let key = |e: &IndexEntry| (e.time, e.track, e.pos);
    let at = index
        .entries
        .binary_search_by_key(&key(entry), key)
        .ok()
        .or_else(|| index.entries.iter().position(|e| e == entry));
    let Some(at) = at else {
        return 0;
    };
    let (mut count, mut earlier) = (0, 0);
    for e in index.entries[..at].iter().rev() {
        if e.track != entry.track {
            continue;
        }
        if e.pos == entry.pos {
            count += 1;
            earlier = 0;
        } else if e.pos < entry.pos {
            earlier += 1;
            if earlier >= LOOK_BACK {
                break;
            }
        }
    }
    count
}

/// A name for an elementary stream type Eddy does not carry (ISO/IEC 13818-1 Table 2-34 and
/// the common private assignments).
fn stream_type_name(stream_type: u8) -> String {
    let name = match stream_type {
        0x01 => "MPEG-1 video",
        0x02 => "MPEG-2 video",
        0x06 => "private data (E-AC-3, Opus, subtitles, ...)",
        0x10 => "MPEG-4 Visual",
        0x11 => "AAC in LATM",
        0x15 => "metadata",
        0x1C => "MPEG-4 audio",
        0x82 | 0x85 | 0x8A => "DTS",
        0x83 => "TrueHD",
        0x84 | 0x87 => "E-AC-3",
        0x86 => "SCTE-35",
        0x90 => "PGS subtitles",
        0xEA => "VC-1",
        _ => "unknown",
    };
    format!("{name} (stream_type {stream_type:#04x})")
}

#[cfg(test)]
#[path = "tests/ts_tests.rs"]
pub(super) mod tests;
