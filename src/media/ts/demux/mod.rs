//! The transport stream demuxer: bytes in, tracks and packets out (TS over UDP, HLS pull).
//!
//! - ISO/IEC 13818-1 2.4.3.2 / 2.4.3.3 transport packets (sync byte, PID, continuity counter:
//!   a repeated counter is a duplicate packet, a jump is a loss unless discontinuity_indicator
//!   is set), 2.4.3.5 random_access_indicator, 2.4.3.6 / 2.4.3.7 PES packets
//!   (PES_packet_length 0 = unbounded, the PTS and DTS), 2.4.4.1 pointer_field, 2.4.4.3 PAT and
//!   2.4.4.8 PMT (CRC_32 of Annex A checked, section_length at most 1021), Table 2-34 stream
//!   types 0x1B H.264, 0x24 HEVC, 0x0F AAC ADTS, 0x03 / 0x04 MPEG audio, 0x81 AC-3 (and 0x06
//!   with an AC-3 descriptor, [`psi::parse_pmt`]).
//! - H.264 / H.265 Annex B byte streams ([`super::super::nal`]); SPS / PPS / VPS in-band give
//!   the track ([`build_avcc`], [`build_hvcc`]); ADTS headers (ISO/IEC 14496-3 1.A.2.2,
//!   [`parse_adts`]) and MPEG audio frame headers (ISO/IEC 11172-3 2.4.1.3, [`parse_header`]).
//!
//! [`build_avcc`]: crate::media::h264::build_avcc
//! [`build_hvcc`]: crate::media::hevc::build_hvcc
//! [`parse_adts`]: crate::media::aac::parse_adts
//! [`parse_header`]: crate::media::mp3::parse_header
//!
//! What comes out is what the rest of Eddy stores (as RTMP ingest makes it):
//! - Tracks get ids 1, 2, ... in the order their PIDs first appear in a PMT. A track is
//!   announced ([`TsEvent::Track`]) once its parameters are known, and again when they change.
//!   Frames before that are dropped.
//! - Times are milliseconds: 90 kHz ticks divided by 90 (integer, rounding down), the 33-bit
//!   wrap extended onto an `i64` timeline shared by all streams (each time is the one nearest
//!   to the previous decode time), `offset` = PTS − DTS.
//! - Video: length-prefixed NAL units with 4-byte lengths (avcC / hvcC form); access unit
//!   delimiters and the parameter sets the track's configuration holds are left out. Keyframes
//!   are access units with an IDR / IRAP picture, or with random_access_indicator set.
//! - AAC: one packet per ADTS frame, without the ADTS header; MPEG audio and AC-3 (ATSC A/52
//!   5.3, [`ac3::parse_header`](crate::media::ac3::parse_header)): one packet per frame.
//!   Audio packets are never keyframes (as from RTMP).
//!
//! Every length from the wire has a ceiling: PES packets are at most [`MAX_PES`] bytes, PSI
//! sections at most 1024, and a bounded PES that overflows its PES_packet_length is dropped.
//! Problems come out as [`DemuxError`]s between the events; the demuxer carries on.

mod audio;
mod es;

use es::EsKind;

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::super::nal::NalFlavor;
use super::super::{Codec, Packet, Track};
use super::latm::LatmConfig;
use super::packet::{PacketError, TsPacket};
use super::pes::{ticks_to_ms, PesError, PesHeader};
use super::psi::{self, Section, SectionError, MAX_SECTION_LENGTH, SECTION_HEAD};
use super::{SYNC_BYTE, TIMESTAMP_WRAP, TS_PACKET};

/// Largest PES packet reassembled (a 4K intra frame fits many times over).
pub const MAX_PES: usize = 8 << 20;
/// The null packet PID.
const NULL_PID: u16 = 0x1FFF;
const PAT_PID: u16 = 0;
/// Elementary streams followed at once (more in a PMT are reported and ignored).
pub const MAX_STREAMS: usize = 32;
/// Unsupported (PID, stream_type) pairs remembered, so each is reported once.
const MAX_IGNORED: usize = 64;

/// What the demuxer found.
#[derive(Debug, Clone, PartialEq)]
pub enum TsEvent {
    /// A track announced or updated (before the packets that need it).
    Track(Track),
    Packet(Packet),
}

/// A problem in the input; the demuxer skips what it concerns and carries on.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum DemuxError {
    #[error("lost sync: {skipped} bytes skipped to the next sync byte")]
    Resync { skipped: usize },
    #[error("transport packet: {0}")]
    Packet(PacketError),
    #[error("PID {pid:#06x}: transport_error_indicator set, packet dropped")]
    TransportError { pid: u16 },
    #[error("PID {pid:#06x}: scrambled packets are not supported")]
    Scrambled { pid: u16 },
    #[error(
        "PID {pid:#06x}: continuity counter {found} after {last}; the data in progress is dropped"
    )]
    Continuity { pid: u16, last: u8, found: u8 },
    #[error("PID {pid:#06x}: PSI section: {error}")]
    Section { pid: u16, error: SectionError },
    #[error("PID {pid:#06x}: stream_type {stream_type:#04x} is not supported; ignored")]
    UnsupportedStream { pid: u16, stream_type: u8 },
    #[error("PID {pid:#06x}: more than {MAX_STREAMS} elementary streams; ignored")]
    TooManyStreams { pid: u16 },
    #[error("PID {pid:#06x}: PES: {error}")]
    Pes { pid: u16, error: PesError },
    #[error("PID {pid:#06x}: PES larger than its PES_packet_length or {MAX_PES} bytes, dropped")]
    PesTooLong { pid: u16 },
    #[error("PID {pid:#06x}: PES ended before its PES_packet_length, dropped")]
    PesTooShort { pid: u16 },
    #[error("PID {pid:#06x}: {reason}")]
    Stream { pid: u16, reason: String },
}

/// Where a PES was in the input: from the transport packet that started it to the end of the
/// last one that carried it, as byte offsets from the start of the input (other PIDs' packets in
/// between included). On-demand TS files index their packets by it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PesSpan {
    pub pid: u16,
    pub start: u64,
    pub end: u64,
}

/// A PES being reassembled.
#[derive(Debug)]
struct PesInProgress {
    data: BytesMut,
    random_access: bool,
    span: PesSpan,
}

/// One elementary stream of the program.
#[derive(Debug)]
struct Es {
    pid: u16,
    stream_type: u8,
    kind: EsKind,
    track_id: u32,
    cc: Option<u8>,
    pes: Option<PesInProgress>,
    /// The track as last announced.
    track: Option<Track>,
    /// Parameter sets of a video stream as last seen (VPS, SPS, PPS), and whether the track
    /// was built from exactly these.
    vps: Option<Bytes>,
    sps: Option<Bytes>,
    pps: Option<Bytes>,
    built: bool,
    /// The StreamMuxConfig of a LATM stream as last seen.
    latm: Option<LatmConfig>,
}

/// A PSI section being reassembled on one PID.
#[derive(Debug, Default)]
struct SectionInProgress {
    cc: Option<u8>,
    data: Vec<u8>,
    /// A section started and is not complete yet.
    open: bool,
}

/// A transport stream demuxer for one input. Feed it with [`TsDemuxer::push`] in any chunks,
/// take the results with [`TsDemuxer::pull`], and call [`TsDemuxer::finish`] at the end of the
/// input (the last video PES only ends there).
#[derive(Debug, Default)]
pub struct TsDemuxer {
    /// Input not yet parsed (at most one partial packet after a `pull` returned `None`).
    pending: BytesMut,
    events: VecDeque<Result<TsEvent, DemuxError>>,
    pat: SectionInProgress,
    pmt: SectionInProgress,
    pmt_pid: Option<u16>,
    program: Option<u16>,
    streams: Vec<Es>,
    /// (PID, stream_type) pairs already reported as unsupported.
    ignored: Vec<(u16, u8)>,
    next_track_id: u32,
    /// The last decode time on the extended 90 kHz timeline.
    clock: Option<i64>,
    /// Bytes taken off the input so far, and where the packet being handled starts.
    consumed: u64,
    packet_at: u64,
    /// The span of each [`TsEvent::Packet`] queued, in the same order; and of the PES being
    /// turned into packets.
    spans: VecDeque<PesSpan>,
    span: PesSpan,
}

impl TsDemuxer {
    pub fn new() -> TsDemuxer {
        TsDemuxer::default()
    }

    /// Adds input. Nothing is parsed until [`TsDemuxer::pull`].
    pub fn push(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
    }

    /// The next track, packet or problem; `None` when the input pushed so far is used up. A
    /// transport packet is taken once the sync byte of the one after it is there too (or at
    /// [`TsDemuxer::finish`]), so the last packet pushed waits for more input.
    pub fn pull(&mut self) -> Option<Result<TsEvent, DemuxError>> {
        self.pull_with_span().map(|(event, _)| event)
    }

    /// [`TsDemuxer::pull`], with the input span of the PES each packet came from.
    pub fn pull_with_span(&mut self) -> Option<(Result<TsEvent, DemuxError>, Option<PesSpan>)> {
        loop {
            if let Some(event) = self.events.pop_front() {
                let span = match event {
                    Ok(TsEvent::Packet(_)) => self.spans.pop_front(),
                    _ => None,
                };
                return Some((event, span));
            }
            if !self.next_packet(false) {
                return None;
            }
        }
    }

    /// Follows `pid` as the elementary stream of `track` (which keeps its id) without waiting
    /// for a PAT and PMT: for demuxing a piece cut out of a file whose tables were read before.
    /// False for a codec MPEG-TS does not carry.
    pub fn follow(&mut self, pid: u16, track: Track) -> bool {
        let (kind, stream_type) = match track.codec {
            Some(Codec::H264) => (EsKind::Video(NalFlavor::H264), psi::STREAM_TYPE_H264),
            Some(Codec::Hevc) => (EsKind::Video(NalFlavor::Hevc), psi::STREAM_TYPE_HEVC),
            Some(Codec::Aac) => (EsKind::Aac, psi::STREAM_TYPE_AAC_ADTS),
            Some(Codec::Mp3) => (EsKind::MpegAudio, psi::mpeg_audio_stream_type(track.rate)),
            Some(Codec::Ac3) => (EsKind::Ac3, psi::STREAM_TYPE_AC3),
            Some(Codec::Opus) => match super::opus::channel_config(&track.init) {
                Some(code) => (EsKind::Opus(code), psi::STREAM_TYPE_PRIVATE_PES),
                None => return false,
            },
            _ => return false,
        };
        // An AAC track may be LATM (its PES are told apart by their first bytes): the frames
        // that refer to an earlier StreamMuxConfig use the track's.
        let latm = (track.codec == Some(Codec::Aac)).then(|| LatmConfig {
            asc: track.init.clone(),
            sample_rate: track.rate,
            frames: 1,
        });
        self.streams.retain(|es| es.pid != pid);
        self.streams.push(Es {
            pid,
            stream_type,
            kind,
            track_id: track.id,
            cc: None,
            pes: None,
            track: Some(track),
            vps: None,
            sps: None,
            pps: None,
            built: false,
            latm,
        });
        true
    }

    /// The end of the input, or of one contiguous piece of it (an HLS segment): the packets
    /// left are taken, PES packets still open (video is unbounded) are completed, and a partial
    /// packet left over is reported and dropped. Then [`TsDemuxer::pull`] gives the rest. More
    /// input may follow: the program, the tracks and the timeline carry on, and continuity
    /// counters start afresh (each HLS segment's muxer starts them at 0).
    pub fn finish(&mut self) {
        while self.next_packet(true) {}
        if !self.pending.is_empty() {
            self.pending.clear();
            self.events
                .push_back(Err(DemuxError::Packet(PacketError::Truncated)));
        }
        for index in 0..self.streams.len() {
            self.complete_pes(index);
        }
        for es in &mut self.streams {
            es.cc = None;
        }
        for section in [&mut self.pat, &mut self.pmt] {
            *section = SectionInProgress::default();
        }
    }

    /// The tracks announced so far, in id order.
    pub fn tracks(&self) -> Vec<&Track> {
        let mut tracks: Vec<&Track> = self
            .streams
            .iter()
            .filter_map(|s| s.track.as_ref())
            .collect();
        tracks.sort_by_key(|t| t.id);
        tracks
    }

    fn error(&mut self, error: DemuxError) {
        self.events.push_back(Err(error));
    }

    /// Takes one transport packet off `pending` (resyncing first if needed); false when there
    /// is not a whole one (with the next sync byte, unless `at_end`).
    fn next_packet(&mut self, at_end: bool) -> bool {
        let (skipped, ready) = self.resync(at_end);
        if skipped > 0 {
            self.error(DemuxError::Resync { skipped });
        }
        if !ready {
            return false;
        }
        let raw = self.pending.split_to(TS_PACKET).freeze();
        self.packet_at = self.consumed;
        self.consumed += TS_PACKET as u64;
        match TsPacket::parse(&raw) {
            Ok(packet) => self.on_packet(&raw, packet),
            Err(e) => self.error(DemuxError::Packet(e)),
        }
        true
    }

    /// Drops bytes until `pending` starts with a sync byte that is followed, one packet later,
    /// by another. Returns how many bytes were dropped and whether a packet can be taken: one
    /// whose successor is not there yet is taken only `at_end`.
    fn resync(&mut self, at_end: bool) -> (usize, bool) {
        let data = &self.pending;
        let mut at = 0usize;
        let ready = loop {
            let Some(found) = data
                .get(at..)
                .and_then(|rest| rest.iter().position(|&b| b == SYNC_BYTE))
            else {
                at = data.len();
                break false;
            };
            at += found;
            match data.get(at + TS_PACKET) {
                Some(&SYNC_BYTE) => break true,
                Some(_) => at += 1,
                None => break at_end && data.len() - at >= TS_PACKET,
            }
        };
        let _ = self.pending.split_to(at);
        self.consumed += at as u64;
        (at, ready)
    }

    fn on_packet(&mut self, raw: &Bytes, packet: TsPacket<'_>) {
        let pid = packet.pid;
        if pid == NULL_PID {
            return;
        }
        if packet.transport_error {
            self.error(DemuxError::TransportError { pid });
            return;
        }
        let Some(payload) = packet.payload else {
            return; // adaptation field only: nothing to reassemble, the counter stays.
        };
        let discontinuity = packet.adaptation.is_some_and(|a| a.discontinuity);
        let random_access = packet.adaptation.is_some_and(|a| a.random_access);
        if pid == PAT_PID || Some(pid) == self.pmt_pid {
            let is_pat = pid == PAT_PID;
            let mut section = std::mem::take(if is_pat { &mut self.pat } else { &mut self.pmt });
            let cc = continuity(section.cc, packet.continuity_counter, discontinuity);
            section.cc = Some(packet.continuity_counter);
            match cc {
                Continuity::Duplicate => {}
                Continuity::Gap(last) => {
                    section.data.clear();
                    section.open = false;
                    self.error(DemuxError::Continuity {
                        pid,
                        last,
                        found: packet.continuity_counter,
                    });
                    self.on_section_payload(pid, &mut section, packet.unit_start, payload);
                }
                Continuity::Next => {
                    self.on_section_payload(pid, &mut section, packet.unit_start, payload)
                }
            }
            // A PAT may have moved the PMT; only put the state back where it still belongs.
            if is_pat {
                self.pat = section;
            } else if Some(pid) == self.pmt_pid {
                self.pmt = section;
            }
            return;
        }
        let Some(index) = self.streams.iter().position(|s| s.pid == pid) else {
            return;
        };
        if packet.scrambled {
            self.error(DemuxError::Scrambled { pid });
            return;
        }
        let Some(es) = self.streams.get_mut(index) else {
            return;
        };
        let cc = continuity(es.cc, packet.continuity_counter, discontinuity);
        es.cc = Some(packet.continuity_counter);
        match cc {
            Continuity::Duplicate => return,
            Continuity::Gap(last) => {
                es.pes = None;
                self.error(DemuxError::Continuity {
                    pid,
                    last,
                    found: packet.continuity_counter,
                });
            }
            Continuity::Next => {}
        }
        // The payload as a slice of the packet (no copy until reassembly).
        let start = raw.len() - payload.len();
        self.on_pes_payload(index, packet.unit_start, random_access, raw.slice(start..));
    }

    fn on_section_payload(
        &mut self,
        pid: u16,
        section: &mut SectionInProgress,
        unit_start: bool,
        payload: &[u8],
    ) {
        let mut rest = payload;
        if unit_start {
            let Some((&pointer, after)) = rest.split_first() else {
                return;
            };
            let pointer = usize::from(pointer);
            let (tail, next) = (after.get(..pointer), after.get(pointer..));
            let (Some(tail), Some(next)) = (tail, next) else {
                self.error(DemuxError::Section {
                    pid,
                    error: SectionError::Truncated,
                });
                section.open = false;
                return;
            };
            if section.open {
                self.append_section(pid, section, tail);
            }
            section.data.clear();
            section.open = true;
            rest = next;
        } else if !section.open {
            return;
        }
        self.append_section(pid, section, rest);
    }

    /// Adds bytes to the open section; completes it (and any further sections in the same
    /// bytes) when long enough.
    fn append_section(&mut self, pid: u16, section: &mut SectionInProgress, mut bytes: &[u8]) {
        while section.open && !bytes.is_empty() {
            if section.data.is_empty() && bytes.first() == Some(&0xFF) {
                section.open = false; // stuffing after the last section
                return;
            }
            // Up to the header, then up to the end the header announces (checked below to be
            // at most 1024 bytes, so the buffer never holds more).
            let wanted = psi::section_len(&section.data).unwrap_or(SECTION_HEAD);
            let take = wanted
                .saturating_sub(section.data.len())
                .max(1)
                .min(bytes.len());
            let (now, later) = bytes.split_at(take);
            section.data.extend_from_slice(now);
            bytes = later;
            let Some(total) = psi::section_len(&section.data) else {
                continue;
            };
            if total > SECTION_HEAD + MAX_SECTION_LENGTH {
                self.error(DemuxError::Section {
                    pid,
                    error: SectionError::Length(total - SECTION_HEAD),
                });
                section.open = false;
                section.data.clear();
                return;
            }
            if section.data.len() == total {
                let data = std::mem::take(&mut section.data);
                self.on_section(pid, &data);
                // Another section may follow in the same payload.
            }
        }
    }

    fn on_section(&mut self, pid: u16, data: &[u8]) {
        let section = match Section::parse(data) {
            Ok(s) => s,
            Err(error) => return self.error(DemuxError::Section { pid, error }),
        };
        if !section.current {
            return;
        }
        match (pid, section.table_id) {
            (PAT_PID, psi::TABLE_PAT) => match psi::parse_pat(section.body) {
                Ok(programs) => self.on_pat(&programs),
                Err(error) => self.error(DemuxError::Section { pid, error }),
            },
            (_, psi::TABLE_PMT) if Some(pid) == self.pmt_pid => {
                if self.program.is_some_and(|p| p != section.id) {
                    return;
                }
                match psi::parse_pmt(section.body) {
                    Ok(map) => self.on_pmt(&map.streams),
                    Err(error) => self.error(DemuxError::Section { pid, error }),
                }
            }
            _ => {}
        }
    }

    /// Follows the first program of the PAT.
    fn on_pat(&mut self, programs: &[(u16, u16)]) {
        let Some(&(program, pmt_pid)) = programs.first() else {
            return;
        };
        if self.pmt_pid != Some(pmt_pid) || self.program != Some(program) {
            self.pmt_pid = Some(pmt_pid);
            self.program = Some(program);
            self.pmt = SectionInProgress::default();
        }
    }

    fn on_pmt(&mut self, streams: &[psi::PmtStream]) {
        // Streams no longer listed go; their PES in progress with them.
        self.streams.retain(|es| {
            streams
                .iter()
                .any(|s| s.pid == es.pid && s.stream_type == es.stream_type)
        });
        for stream in streams {
            let (stream_type, pid) = (stream.stream_type, stream.pid);
            if self.streams.iter().any(|es| es.pid == pid) {
                continue;
            }
            let kind = EsKind::of(stream).filter(|_| self.streams.len() < MAX_STREAMS);
            let Some(kind) = kind else {
                // Reported once per PID and type (and never more than MAX_IGNORED pairs kept).
                let new = !self.ignored.contains(&(pid, stream_type));
                if new && self.ignored.len() < MAX_IGNORED {
                    self.ignored.push((pid, stream_type));
                    self.error(match EsKind::of(stream) {
                        Some(_) => DemuxError::TooManyStreams { pid },
                        None => DemuxError::UnsupportedStream { pid, stream_type },
                    });
                }
                continue;
            };
            self.next_track_id = self.next_track_id.saturating_add(1);
            self.streams.push(Es {
                pid,
                stream_type,
                kind,
                track_id: self.next_track_id,
                cc: None,
                pes: None,
                track: None,
                vps: None,
                sps: None,
                pps: None,
                built: false,
                latm: None,
            });
        }
    }

    fn on_pes_payload(
        &mut self,
        index: usize,
        unit_start: bool,
        random_access: bool,
        payload: Bytes,
    ) {
        if unit_start {
            self.complete_pes(index);
            if let Some(es) = self.streams.get_mut(index) {
                es.pes = Some(PesInProgress {
                    data: BytesMut::new(),
                    random_access,
                    span: PesSpan {
                        pid: es.pid,
                        start: self.packet_at,
                        end: self.packet_at,
                    },
                });
            }
        }
        let Some(es) = self.streams.get_mut(index) else {
            return;
        };
        let pid = es.pid;
        let Some(pes) = es.pes.as_mut() else {
            return; // joined in the middle of a PES: wait for the next start
        };
        if pes.data.len().saturating_add(payload.len()) > MAX_PES {
            es.pes = None;
            return self.error(DemuxError::PesTooLong { pid });
        }
        pes.data.extend_from_slice(&payload);
        pes.span.end = self.packet_at + TS_PACKET as u64;
        let bounded = PesHeader::packet_length(&pes.data)
            .filter(|&len| len > 0)
            .map(|len| 6 + usize::from(len));
        match bounded {
            Some(total) if pes.data.len() > total => {
                es.pes = None;
                self.error(DemuxError::PesTooLong { pid });
            }
            Some(total) if pes.data.len() == total => self.complete_pes(index),
            _ => {}
        }
    }

    /// Ends the PES in progress on `streams[index]`, if any, and turns it into events.
    fn complete_pes(&mut self, index: usize) {
        let Some(es) = self.streams.get_mut(index) else {
            return;
        };
        let Some(pes) = es.pes.take() else {
            return;
        };
        let (pid, kind) = (es.pid, es.kind);
        self.span = pes.span;
        let data = pes.data.freeze();
        if data.is_empty() {
            return;
        }
        let header = match PesHeader::parse(&data) {
            Ok(h) => h,
            Err(error) => return self.error(DemuxError::Pes { pid, error }),
        };
        if header.length > 0 && data.len() < 6 + usize::from(header.length) {
            return self.error(DemuxError::PesTooShort { pid });
        }
        let dts = self.extend(header.dts, None);
        let pts = self.extend(header.pts, Some(dts));
        self.clock = Some(dts);
        let payload = data.slice(header.payload_offset.min(data.len())..);
        match kind {
            EsKind::Video(flavor) => {
                self.on_video(index, flavor, dts, pts, pes.random_access, &payload)
            }
            // A LOAS syncword (0x2B7) rather than ADTS's 0xFFF: an AAC track followed by PID.
            EsKind::Aac if payload.first() == Some(&0x56) => self.on_latm(index, pts, &payload),
            EsKind::Aac => self.on_aac(index, pts, &payload),
            EsKind::MpegAudio => self.on_mpeg_audio(index, pts, &payload),
            EsKind::Ac3 => self.on_ac3(index, pts, &payload),
            EsKind::Opus(code) => self.on_opus(index, code, pts, &payload),
            EsKind::Latm => self.on_latm(index, pts, &payload),
        }
    }

    /// A 33-bit time on the extended timeline: the value congruent to `ticks` nearest to
    /// `near` (or to the clock).
    fn extend(&self, ticks: u64, near: Option<i64>) -> i64 {
        let ticks = i64::try_from(ticks).unwrap_or(0).rem_euclid(TIMESTAMP_WRAP);
        let Some(reference) = near.or(self.clock) else {
            return ticks;
        };
        let mut diff = ticks - reference.rem_euclid(TIMESTAMP_WRAP);
        if diff > TIMESTAMP_WRAP / 2 {
            diff -= TIMESTAMP_WRAP;
        } else if diff < -TIMESTAMP_WRAP / 2 {
            diff += TIMESTAMP_WRAP;
        }
        reference.saturating_add(diff)
    }

    fn packet(&mut self, index: usize, dts: i64, pts: i64, keyframe: bool, data: Bytes) {
        let Some(es) = self.streams.get(index) else {
            return;
        };
        if es.track.is_none() || data.is_empty() {
            return;
        }
        let time = ticks_to_ms(dts);
        let offset = ticks_to_ms(pts).saturating_sub(time);
        self.spans.push_back(self.span);
        self.events.push_back(Ok(TsEvent::Packet(Packet {
            track: es.track_id,
            time,
            offset: i32::try_from(offset).unwrap_or(0),
            keyframe,
            data,
        })));
    }

    /// Announces `track` on `streams[index]` unless it is the one already announced.
    fn announce(&mut self, index: usize, mut track: Track) {
        let Some(es) = self.streams.get_mut(index) else {
            return;
        };
        track.id = es.track_id;
        if es.track.as_ref() != Some(&track) {
            es.track = Some(track.clone());
            self.events.push_back(Ok(TsEvent::Track(track)));
        }
    }

    fn stream_error(&mut self, index: usize, reason: String) {
        let pid = self.streams.get(index).map_or(0, |es| es.pid);
        self.error(DemuxError::Stream { pid, reason });
    }
}

/// How a packet's continuity counter follows the last one on its PID.
enum Continuity {
    Next,
    /// The same counter again: a duplicate packet (2.4.3.3), to be ignored.
    Duplicate,
    /// A jump after `last`: packets were lost.
    Gap(u8),
}

fn continuity(last: Option<u8>, cc: u8, discontinuity: bool) -> Continuity {
    match last {
        None => Continuity::Next,
        Some(_) if discontinuity => Continuity::Next,
        Some(last) if cc == last => Continuity::Duplicate,
        Some(last) if cc == (last + 1) & 0x0F => Continuity::Next,
        Some(last) => Continuity::Gap(last),
    }
}
