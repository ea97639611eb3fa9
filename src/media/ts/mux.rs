//! The transport stream muxer: PIDs, continuity counters, the PCR, PAT/PMT repetition and
//! packetization. This is the per-viewer part of a TS output; the PES packets it cuts up are
//! shared ([`super::pes`]).
//!
//! - ISO/IEC 13818-1 2.4.3.2 / 2.4.3.3 transport packets (one PES starts a packet with
//!   payload_unit_start_indicator; the last packet of a PES is filled with adaptation field
//!   stuffing, 2.4.3.5), 2.4.2.2 / 2.4.3.5 PCR on the PCR_PID at most 100 ms apart
//!   (2.7.2), 2.4.4 PAT and PMT in one packet each (pointer_field 0,
//!   0xFF stuffing).
//!
//! Two entry points, one code path: [`TsMuxer::packetize`] appends a viewer's own bytes (TS
//! headers, adaptation fields, tables) and slices of a shared PES to a list of buffers;
//! [`TsMuxer::write_packet`] builds the PES and copies the same pieces into one buffer.

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use super::super::{Packet, Track};
use super::packet::{next_cc, packet_header, Adaptation};
use super::pes::{ticks_90khz, PesFormat};
use super::psi::{pat_section, pmt_section_with};
use super::{TsError, PACKET_PAYLOAD, TS_PACKET};

const PAT_PID: u16 = 0x0000;
pub(super) const PMT_PID: u16 = 0x1000;
/// PID of the first elementary stream; track `i` of the list given to [`TsMuxer::new`] gets
/// `FIRST_ES_PID + i`.
const FIRST_ES_PID: u16 = 0x0100;
const PROGRAM_NUMBER: u16 = 1;
const TRANSPORT_STREAM_ID: u16 = 1;
/// Tracks looked at by [`TsMuxer::new`]; the PMT must fit one packet (5 bytes per stream).
pub(super) const MAX_TRACKS: usize = 32;
/// Bytes of the PMT's stream loop that fit its one packet: the payload less pointer_field, the
/// 8-byte section header, PCR_PID and program_info_length, and the CRC (5 bytes per stream, and
/// the descriptors: 32 streams without descriptors fit).
const PMT_STREAMS_ROOM: usize = PACKET_PAYLOAD - 1 - 8 - 4 - 4;
/// Largest gap (ms of PCR-PID time) between two PCRs.
const PCR_INTERVAL_MS: i64 = 100;

/// When the muxer repeats the PAT and PMT by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TableRepeat {
    /// Only when [`TsMuxer::write_tables`] is called (an HLS segment starts with them).
    #[default]
    Manual,
    /// Before every video keyframe that does not directly follow the tables; without a video
    /// track, once `audio_interval_ms` of packet time have passed since the last tables (counted
    /// from the first packet). A file cut or joined anywhere then starts decoding soon.
    Keyframes { audio_interval_ms: i64 },
}

/// One elementary stream of the program.
#[derive(Debug, Clone)]
struct Stream {
    track: u32,
    pid: u16,
    format: PesFormat,
    cc: u8,
}

/// Why a track is not carried.
#[derive(Debug, Clone)]
enum Skipped {
    Unsupported,
    BadConfig(String),
}

/// A transport stream muxer for one output: one program (number 1), PAT, PMT on PID 0x1000,
/// one PID per carried track. Continuity counters and the PCR schedule live here, so one
/// muxer is used per segment or per progressive viewer.
#[derive(Debug, Clone)]
pub struct TsMuxer {
    streams: Vec<Stream>,
    skipped: Vec<(u32, Skipped)>,
    pcr_pid: Option<u16>,
    pat_cc: u8,
    pmt_cc: u8,
    /// PCR-PID time (ms) of the last PCR written.
    last_pcr: Option<i64>,
    /// Time (ms) of the last packet written on the PCR PID.
    last_pcr_pid_time: Option<i64>,
    repeat: TableRepeat,
    /// Tables written and no PES since.
    fresh: bool,
    /// Packet time of the last repeated tables (audio-only repetition).
    tables_at: Option<i64>,
}

/// Where packetization puts its bytes: the viewer's own bytes, and slices of the shared PES.
trait Sink {
    fn reserve(&mut self, packets: usize);
    fn own(&mut self, bytes: &[u8]);
    fn shared(&mut self, pes: &Bytes, range: Range<usize>);
}

/// Everything copied into one buffer ([`TsMuxer::write_packet`]).
impl Sink for BytesMut {
    fn reserve(&mut self, packets: usize) {
        BytesMut::reserve(self, packets.saturating_mul(TS_PACKET));
    }

    fn own(&mut self, bytes: &[u8]) {
        self.put_slice(bytes);
    }

    fn shared(&mut self, pes: &Bytes, range: Range<usize>) {
        self.put_slice(pes.get(range).unwrap_or_default());
    }
}

/// Own bytes gathered in `scratch` and frozen between the PES slices ([`TsMuxer::packetize`]).
struct Pieces<'a> {
    scratch: &'a mut BytesMut,
    out: &'a mut Vec<Bytes>,
}

impl Pieces<'_> {
    fn flush(&mut self) {
        if !self.scratch.is_empty() {
            self.out.push(self.scratch.split().freeze());
        }
    }
}

impl Sink for Pieces<'_> {
    fn reserve(&mut self, packets: usize) {
        // Headers and adaptation fields: 12 bytes a packet is typical, the last one more.
        self.scratch
            .reserve(packets.saturating_mul(12).saturating_add(TS_PACKET));
        self.out.reserve(packets.saturating_mul(2));
    }

    fn own(&mut self, bytes: &[u8]) {
        self.scratch.put_slice(bytes);
    }

    fn shared(&mut self, pes: &Bytes, range: Range<usize>) {
        self.flush();
        if !range.is_empty() {
            self.out.push(pes.slice(range));
        }
    }
}

impl TsMuxer {
    /// A muxer for `tracks` (H.264, HEVC, AAC, MP3 and AC-3 are carried; other tracks, tracks whose
    /// decoder configuration does not parse and tracks past the 32nd or past what the PMT's one packet holds are left out). Track `i`
    /// of the list gets PID 0x100 + i; the PCR is on the first video track, else the first
    /// audio track. Tables are repeated only on request ([`TableRepeat::Manual`]).
    pub fn new(tracks: &[Track]) -> TsMuxer {
        let mut streams = Vec::new();
        let mut skipped = Vec::new();
        let mut pmt_room = PMT_STREAMS_ROOM;
        for (index, track) in tracks.iter().enumerate() {
            let pid = u16::try_from(index)
                .ok()
                .filter(|_| index < MAX_TRACKS)
                .map(|i| FIRST_ES_PID + i);
            match (pid, PesFormat::new(track)) {
                (Some(pid), Ok(format)) if pmt_room >= 5 + format.descriptors().len() => {
                    pmt_room -= 5 + format.descriptors().len();
                    streams.push(Stream {
                        track: track.id,
                        pid,
                        format,
                        cc: 0,
                    })
                }
                (_, Err(TsError::BadConfig { reason, .. })) => {
                    skipped.push((track.id, Skipped::BadConfig(reason)));
                }
                _ => skipped.push((track.id, Skipped::Unsupported)),
            }
        }
        let pcr_pid = streams
            .iter()
            .find(|s| s.format.is_video())
            .or_else(|| streams.first())
            .map(|s| s.pid);
        TsMuxer {
            streams,
            skipped,
            pcr_pid,
            pat_cc: 0,
            pmt_cc: 0,
            last_pcr: None,
            last_pcr_pid_time: None,
            repeat: TableRepeat::Manual,
            fresh: false,
            tables_at: None,
        }
    }

    /// The same muxer, repeating the tables as `repeat` says.
    pub fn with_table_repeat(mut self, repeat: TableRepeat) -> TsMuxer {
        self.repeat = repeat;
        self
    }

    /// The ids of the tracks this muxer carries, in PID order.
    pub fn track_ids(&self) -> Vec<u32> {
        self.streams.iter().map(|s| s.track).collect()
    }

    /// Writes the PAT and the PMT, one transport packet each.
    pub fn write_tables(&mut self, out: &mut BytesMut) {
        self.tables(out);
    }

    fn tables(&mut self, sink: &mut impl Sink) {
        let pat = pat_section(TRANSPORT_STREAM_ID, PROGRAM_NUMBER, PMT_PID);
        write_psi_packet(PAT_PID, &mut self.pat_cc, &pat, sink);
        let streams: Vec<(u8, u16, &[u8])> = self
            .streams
            .iter()
            .map(|s| (s.format.stream_type(), s.pid, s.format.descriptors()))
            .collect();
        let pmt = pmt_section_with(PROGRAM_NUMBER, self.pcr_pid, &streams);
        write_psi_packet(PMT_PID, &mut self.pmt_cc, &pmt, sink);
        self.fresh = true;
    }

    /// Writes `packet` of track `track_id` as one PES packet (and the tables first when they
    /// are due). Nothing is written on error, and a packet with no data writes nothing. The
    /// same steps as [`PesFormat::pes`] followed by [`TsMuxer::packetize`], copied into `out`.
    pub fn write_packet(
        &mut self,
        track_id: u32,
        packet: &Packet,
        out: &mut BytesMut,
    ) -> Result<(), TsError> {
        let pes = self.pes(track_id, packet)?;
        self.packetize_into(track_id, packet, &pes, out)
    }

    /// The PES packet of `packet` on track `track_id` (see [`super::pes_packet`]): shared by
    /// every muxer made for the same track.
    pub fn pes(&self, track_id: u32, packet: &Packet) -> Result<Bytes, TsError> {
        let index = self.stream_index(track_id)?;
        match self.streams.get(index) {
            Some(stream) => stream.format.pes(packet),
            None => Err(TsError::UnknownTrack(track_id)),
        }
    }

    /// Cuts an already built PES of `packet` (from [`super::pes_packet`] or
    /// [`TsMuxer::pes`]) into this viewer's transport packets without copying it. The viewer's
    /// own bytes (4-byte headers with its continuity counters, adaptation fields with PCR,
    /// random access flag and stuffing, and the PAT and PMT when due) are written to `scratch`
    /// and frozen from it; `out` gets those pieces alternating with `Bytes::slice`s of `pes`.
    /// Concatenated, the pieces added are exactly what [`TsMuxer::write_packet`] writes.
    /// Nothing is added on error; an empty `pes` adds nothing.
    pub fn packetize(
        &mut self,
        track_id: u32,
        packet: &Packet,
        pes: &Bytes,
        scratch: &mut BytesMut,
        out: &mut Vec<Bytes>,
    ) -> Result<(), TsError> {
        scratch.clear();
        let mut pieces = Pieces { scratch, out };
        self.packetize_into(track_id, packet, pes, &mut pieces)?;
        pieces.flush();
        Ok(())
    }

    fn packetize_into(
        &mut self,
        track_id: u32,
        packet: &Packet,
        pes: &Bytes,
        sink: &mut impl Sink,
    ) -> Result<(), TsError> {
        let index = self.stream_index(track_id)?;
        let Some(stream) = self.streams.get(index) else {
            return Err(TsError::UnknownTrack(track_id));
        };
        if pes.is_empty() {
            return Ok(());
        }
        let (pid, is_video) = (stream.pid, stream.format.is_video());
        let adaptation = self.first_adaptation(pid, packet)?;
        if self.tables_due(is_video, packet) {
            self.tables(sink);
            self.tables_at = Some(packet.time);
        }
        self.tables_at.get_or_insert(packet.time);
        self.fresh = false;
        if let Some(stream) = self.streams.get_mut(index) {
            write_pes(stream.pid, &mut stream.cc, pes, adaptation, sink);
        }
        Ok(())
    }

    /// Whether [`TableRepeat`] asks for the tables before this packet.
    fn tables_due(&self, is_video: bool, packet: &Packet) -> bool {
        match self.repeat {
            TableRepeat::Manual => false,
            TableRepeat::Keyframes { audio_interval_ms } => {
                let audio_only = !self.streams.iter().any(|s| s.format.is_video());
                if audio_only {
                    self.tables_at
                        .is_some_and(|at| packet.time.saturating_sub(at) >= audio_interval_ms)
                } else {
                    is_video && packet.keyframe && !self.fresh
                }
            }
        }
    }

    /// The index in `streams` of a track, or why there is none.
    fn stream_index(&self, track_id: u32) -> Result<usize, TsError> {
        if let Some(index) = self.streams.iter().position(|s| s.track == track_id) {
            return Ok(index);
        }
        match self.skipped.iter().find(|(id, _)| *id == track_id) {
            Some((_, Skipped::Unsupported)) => Err(TsError::Unsupported(track_id)),
            Some((_, Skipped::BadConfig(reason))) => Err(TsError::BadConfig {
                track: track_id,
                reason: reason.clone(),
            }),
            None => Err(TsError::UnknownTrack(track_id)),
        }
    }

    /// The adaptation field content for the first TS packet of a PES on `pid`: the random
    /// access flag for keyframes, and a PCR on the PCR PID for keyframes and whenever waiting
    /// for the next packet (assumed as far away as the last one) would leave more than
    /// [`PCR_INTERVAL_MS`] between two PCRs. Updates the PCR schedule.
    fn first_adaptation(&mut self, pid: u16, packet: &Packet) -> Result<Adaptation, TsError> {
        let mut adaptation = Adaptation {
            random_access: packet.keyframe,
            pcr: None,
        };
        if self.pcr_pid != Some(pid) {
            return Ok(adaptation);
        }
        let time = packet.time;
        let step = self
            .last_pcr_pid_time
            .and_then(|prev| time.checked_sub(prev))
            .unwrap_or(0)
            .max(0);
        let due = match self.last_pcr {
            None => true,
            Some(last) => time
                .checked_sub(last)
                .and_then(|since| since.checked_add(step))
                .is_none_or(|gap| !(0..=PCR_INTERVAL_MS).contains(&gap)),
        };
        if due || packet.keyframe {
            adaptation.pcr = Some(ticks_90khz(time)?);
            self.last_pcr = Some(time);
        }
        self.last_pcr_pid_time = Some(time);
        Ok(adaptation)
    }
}

/// One TS packet holding a whole PSI section: pointer_field 0, the section, 0xFF stuffing.
fn write_psi_packet(pid: u16, cc: &mut u8, section: &[u8], sink: &mut impl Sink) {
    let room = PACKET_PAYLOAD - 1;
    let section = section.get(..room.min(section.len())).unwrap_or_default();
    let mut packet = [0xFF; TS_PACKET];
    packet[..4].copy_from_slice(&packet_header(pid, true, false, *cc));
    *cc = next_cc(*cc);
    packet[4] = 0; // pointer_field
    packet[5..5 + section.len()].copy_from_slice(section);
    sink.own(&packet);
}

/// Splits a PES packet into TS packets on `pid`. The first packet carries `first` in its
/// adaptation field; the last is filled up with adaptation field stuffing.
fn write_pes(pid: u16, cc: &mut u8, pes: &Bytes, first: Adaptation, sink: &mut impl Sink) {
    sink.reserve(pes.len() / PACKET_PAYLOAD + 2);
    let mut at = 0usize;
    let mut adaptation = first;
    let mut unit_start = true;
    // The header, adaptation_field_length and the adaptation field of one packet.
    let mut head = [0xFFu8; TS_PACKET];
    while unit_start || at < pes.len() {
        // The adaptation field after its length byte: flags and PCR, then stuffing.
        let mut field = [0xFFu8; PACKET_PAYLOAD];
        let mut flags = [0u8; 7];
        let content = if adaptation.is_empty() {
            0
        } else {
            adaptation.write_fields(&mut flags)
        };
        field[..content].copy_from_slice(&flags[..content]);
        let overhead = if content == 0 { 0 } else { 1 + content };
        let room = PACKET_PAYLOAD - overhead;
        let take = (pes.len() - at).min(room);
        let stuffing = room - take;
        let field_len = if stuffing > 0 && content == 0 {
            // adaptation_field_length alone is 1 byte of stuffing; more needs the flags byte.
            if stuffing > 1 {
                field[0] = 0x00;
                stuffing - 1
            } else {
                0
            }
        } else {
            content + stuffing
        };
        let has_adaptation = overhead > 0 || stuffing > 0;
        head[..4].copy_from_slice(&packet_header(pid, unit_start, has_adaptation, *cc));
        let mut len = 4;
        if has_adaptation {
            // At most 183 bytes: the field never exceeds the packet's payload room.
            head[4] = u8::try_from(field_len).unwrap_or(183);
            head[5..5 + field_len].copy_from_slice(&field[..field_len]);
            len = 5 + field_len;
        }
        sink.own(&head[..len]);
        sink.shared(pes, at..at + take);
        *cc = next_cc(*cc);
        at += take;
        adaptation = Adaptation::NONE;
        unit_start = false;
    }
}
