//! The TS muxer and demuxer checked with mpeg2ts-reader (an independent demuxer), ffprobe /
//! ffmpeg (Debian's ffmpeg package) and each other: helpers here, real streams in
//! `streams.rs`, tables, PES and malformed input to the muxer in `muxer.rs`, the demuxer in
//! `demuxer.rs`.

use std::collections::BTreeMap;
use std::process::Command;

use bytes::{Bytes, BytesMut};
use mpeg2ts_reader::{demultiplex, packet as tsp, pes, psi};

use super::super::aac::{self, AacError};
use super::super::bits::tests::XorShift;
use super::super::nal::{self, START_CODE};
use super::super::{h264, hevc, Codec};
use super::mux::{MAX_TRACKS, PMT_PID};
use super::packet::pcr_bytes;
use super::pes::{dts_pts, timestamp_bytes};
use super::*;

mod ac3_tests;
mod demuxer_tests;
mod latm_tests;
mod muxer_tests;
mod opus_tests;
mod streams_tests;

const PAT_PID: u16 = 0;

/// Our PAT: program 1 on PID 0x1000 of transport stream 1.
fn pat_section() -> Vec<u8> {
    super::psi::pat_section(1, 1, PMT_PID)
}

/// `ffmpeg -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=sample_rate=44100
/// -t 2 -c:v libx264 -g 25 -c:a aac` (ffmpeg 5.1): 50 frames with B-frames, 88 AAC frames.
const H264_AAC_FLV: &[u8] = include_bytes!("../testdata/h264_aac_320x240.flv");
/// Enhanced RTMP HEVC, 176x100, 3 frames (see flv.rs).
const HEVC_FLV: &[u8] = include_bytes!("../testdata/hevc_enhanced.flv");

const VIDEO: u32 = 1;
const AUDIO: u32 = 2;
/// The access unit delimiters our muxer writes, with their start codes.
const H264_AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xF0];
const HEVC_AUD: [u8; 7] = [0, 0, 0, 1, 0x46, 0x01, 0x50];

// ---- Inputs -------------------------------------------------------------------------

/// Tracks and packets of an FLV file, made the way RTMP ingest makes them.
fn load_flv(file: &[u8]) -> (Vec<Track>, Vec<Packet>) {
    let (video, audio, packets) = crate::media::testutil::load_flv(file);
    (video.into_iter().chain(audio).collect(), packets)
}

fn mux(tracks: &[Track], packets: &[Packet]) -> Bytes {
    let refs: Vec<&Packet> = packets.iter().collect();
    segment(tracks, &refs).unwrap()
}

fn h264_track() -> Track {
    load_flv(H264_AAC_FLV).0.remove(0)
}

fn aac_track() -> Track {
    Track {
        id: AUDIO,
        ..aac::track_from_asc(aac::build_asc(2, 4, 2)).unwrap()
    }
}

fn mp3_track(id: u32, rate: u32) -> Track {
    Track {
        id,
        codec: Some(Codec::Mp3),
        rate,
        ..Track::default()
    }
}

fn packet(track: u32, time: i64, data: &[u8]) -> Packet {
    Packet {
        track,
        time,
        offset: 0,
        keyframe: false,
        data: Bytes::copy_from_slice(data),
    }
}

/// Expected (PTS, DTS) in 90 kHz for a packet.
fn expected_pts_dts(p: &Packet) -> (u64, u64) {
    let dts = ((p.time + DELAY_MS) * 90).rem_euclid(1 << 33) as u64;
    let pts = ((p.time + i64::from(p.offset) + DELAY_MS) * 90).rem_euclid(1 << 33) as u64;
    (pts, dts)
}

// ---- mpeg2ts-reader as the reference demuxer ---------------------------------------

/// What mpeg2ts-reader found.
#[derive(Debug, Default)]
struct Found {
    program: Option<(u16, u16)>,
    pcr_pid: Option<u16>,
    /// (PID, stream_type) in PMT order.
    streams: Vec<(u16, u8)>,
    /// PES headers per PID: (PTS, DTS or None, PES_packet_length, payload bytes).
    pes: BTreeMap<u16, Vec<FoundPes>>,
    continuity_errors: usize,
}

#[derive(Debug)]
struct FoundPes {
    pts: u64,
    dts: Option<u64>,
    bounded_length: Option<u16>,
    aligned: bool,
    data: Vec<u8>,
}

mpeg2ts_reader::packet_filter_switch! {
    Filter<Ctx> {
        Pes: pes::PesPacketFilter<Ctx, Collect>,
        Pat: demultiplex::PatPacketFilter<Ctx>,
        Pmt: demultiplex::PmtPacketFilter<Ctx>,
        Null: demultiplex::NullPacketFilter<Ctx>,
    }
}

pub struct Ctx {
    changeset: demultiplex::FilterChangeset<Filter>,
    found: Found,
}

impl demultiplex::DemuxContext for Ctx {
    type F = Filter;

    fn filter_changeset(&mut self) -> &mut demultiplex::FilterChangeset<Filter> {
        &mut self.changeset
    }

    fn construct(&mut self, req: demultiplex::FilterRequest<'_, '_>) -> Filter {
        match req {
            demultiplex::FilterRequest::ByPid(psi::pat::PAT_PID) => {
                Filter::Pat(demultiplex::PatPacketFilter::default())
            }
            demultiplex::FilterRequest::Pmt {
                pid,
                program_number,
            } => {
                self.found.program = Some((u16::from(pid), program_number));
                Filter::Pmt(demultiplex::PmtPacketFilter::new(pid, program_number))
            }
            demultiplex::FilterRequest::ByStream {
                stream_type,
                pmt,
                stream_info,
                ..
            } => {
                let pid = u16::from(stream_info.elementary_pid());
                self.found.pcr_pid = Some(u16::from(pmt.pcr_pid()));
                self.found.streams.push((pid, stream_type.0));
                Filter::Pes(pes::PesPacketFilter::new(Collect { pid }))
            }
            _ => Filter::Null(demultiplex::NullPacketFilter::default()),
        }
    }
}

pub struct Collect {
    pid: u16,
}

impl pes::ElementaryStreamConsumer<Ctx> for Collect {
    fn start_stream(&mut self, _ctx: &mut Ctx) {}

    fn begin_packet(&mut self, ctx: &mut Ctx, header: pes::PesHeader<'_>) {
        let bounded_length = match header.pes_packet_length() {
            pes::PesLength::Unbounded => None,
            pes::PesLength::Bounded(len) => Some(len.get()),
        };
        let pes::PesContents::Parsed(Some(parsed)) = header.contents() else {
            panic!("PES without a parsed header on {:#x}", self.pid);
        };
        let (pts, dts) = match parsed.pts_dts().unwrap() {
            pes::PtsDts::PtsOnly(pts) => (pts.unwrap().value(), None),
            pes::PtsDts::Both { pts, dts } => (pts.unwrap().value(), Some(dts.unwrap().value())),
            other => panic!("timestamps {other:?}"),
        };
        let aligned = parsed.data_alignment_indicator() == pes::DataAlignment::Aligned;
        ctx.found.pes.entry(self.pid).or_default().push(FoundPes {
            pts,
            dts,
            bounded_length,
            aligned,
            data: parsed.payload().to_vec(),
        });
    }

    fn continue_packet(&mut self, ctx: &mut Ctx, data: &[u8]) {
        let list = ctx.found.pes.get_mut(&self.pid).unwrap();
        list.last_mut().unwrap().data.extend_from_slice(data);
    }

    fn end_packet(&mut self, _ctx: &mut Ctx) {}

    fn continuity_error(&mut self, ctx: &mut Ctx) {
        ctx.found.continuity_errors += 1;
    }
}

fn demux(ts: &[u8]) -> Found {
    let mut ctx = Ctx {
        changeset: demultiplex::FilterChangeset::default(),
        found: Found::default(),
    };
    let mut demux = demultiplex::Demultiplex::new(&mut ctx);
    demux.push(&mut ctx, ts);
    ctx.found
}

// ---- A packet-level scan of our own ----------------------------------------------------

/// One TS packet as seen by the scan.
#[derive(Debug)]
struct Scanned {
    pid: u16,
    unit_start: bool,
    random_access: bool,
    pcr: Option<u64>,
}

/// Checks the packet layer: sizes, sync bytes, adaptation field lengths, continuity
/// counters per PID (only payload packets count). Returns the packets in order. Read with
/// our demuxer's packet parser, which must agree with mpeg2ts-reader's on every field.
fn scan(ts: &[u8]) -> Vec<Scanned> {
    assert_eq!(ts.len() % TS_PACKET, 0, "not whole packets");
    let mut counters: BTreeMap<u16, u8> = BTreeMap::new();
    let mut out = Vec::new();
    for raw in ts.chunks(TS_PACKET) {
        assert_eq!(raw[0], SYNC_BYTE);
        let pk = TsPacket::parse(raw).unwrap();
        let reference = tsp::Packet::new(raw);
        let pid = pk.pid;
        assert_eq!(pid, u16::from(reference.pid()));
        assert!(pk.payload.is_some(), "payload-less packet");
        assert_eq!(pk.payload, reference.payload());
        assert!(!pk.transport_error);
        assert!(!pk.scrambled);
        let cc = pk.continuity_counter;
        assert_eq!(cc, reference.continuity_counter().count());
        if let Some(prev) = counters.insert(pid, cc) {
            assert_eq!(cc, (prev + 1) % 16, "continuity on PID {pid:#x}");
        } else {
            assert_eq!(cc, 0, "first counter on PID {pid:#x}");
        }
        let af = pk.adaptation;
        assert_eq!(
            af.is_some(),
            reference.adaptation_control().has_adaptation_field()
        );
        if af.is_some() {
            assert!(
                usize::from(raw[4]) < PACKET_PAYLOAD,
                "adaptation field too long"
            );
        }
        let reference_pcr = reference
            .adaptation_field()
            .and_then(|af| af.pcr().ok())
            .map(|pcr| (pcr.base(), pcr.extension()));
        assert_eq!(af.and_then(|af| af.pcr), reference_pcr);
        assert_eq!(pk.unit_start, reference.payload_unit_start_indicator());
        out.push(Scanned {
            pid,
            unit_start: pk.unit_start,
            random_access: af.is_some_and(|af| af.random_access),
            pcr: af.and_then(|af| af.pcr).map(|(base, extension)| {
                assert_eq!(extension, 0);
                base
            }),
        });
    }
    out
}

/// The NAL units of an Annex B stream (split at 3- and 4-byte start codes).
fn split_annex_b(data: &[u8]) -> Vec<&[u8]> {
    nal::annex_b(data).collect()
}

// ---- ffprobe ------------------------------------------------------------------------------

fn temp_ts(name: &str, ts: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("eddy-ts-{}-{name}.ts", std::process::id()));
    std::fs::write(&path, ts).unwrap();
    path
}

/// ffprobe's streams, packets and format. Very short files are too small for its format
/// probe, so they are named as MPEG-TS with `force`.
fn ffprobe(path: &std::path::Path, force: bool) -> serde_json::Value {
    let mut command = Command::new("ffprobe");
    command.args(["-v", "error"]);
    if force {
        command.args(["-f", "mpegts"]);
    }
    let output = command
        .args([
            "-show_streams",
            "-show_packets",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe (Debian's ffmpeg package) must be installed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "ffprobe failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffprobe complained: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Decodes the whole file with ffmpeg; errors would show on stderr.
fn ffmpeg_decodes_cleanly(path: &std::path::Path) {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-f", "mpegts", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg must be installed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "ffmpeg failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffmpeg complained: {stderr}");
}

/// (pts, dts) of ffprobe's packets for one stream index, in file order.
fn probe_times(probe: &serde_json::Value, index: u64) -> Vec<(i64, i64)> {
    probe["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["stream_index"].as_u64() == Some(index))
        .map(|p| (p["pts"].as_i64().unwrap(), p["dts"].as_i64().unwrap()))
        .collect()
}

// ---- Our demuxer ----------------------------------------------------------------------------

/// Everything our demuxer makes of `ts`, fed in pieces of `chunk` bytes: the tracks announced,
/// the packets and the problems.
fn demux_ours(ts: &[u8], chunk: usize) -> (Vec<Track>, Vec<Packet>, Vec<DemuxError>) {
    let mut demuxer = TsDemuxer::new();
    let (mut tracks, mut packets, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    let mut take = |demuxer: &mut TsDemuxer| {
        while let Some(event) = demuxer.pull() {
            match event {
                Ok(TsEvent::Track(t)) => tracks.push(t),
                Ok(TsEvent::Packet(p)) => packets.push(p),
                Err(e) => errors.push(e),
            }
        }
    };
    for piece in ts.chunks(chunk.max(1)) {
        demuxer.push(piece);
        take(&mut demuxer);
    }
    demuxer.finish();
    take(&mut demuxer);
    (tracks, packets, errors)
}

/// Our muxer, then our demuxer: the same packets come back (times [`DELAY_MS`] later, tracks
/// numbered by PID order), with tracks of the same codec, size and rate. Returns the tracks.
fn round_trip(tracks: &[Track], packets: &[Packet], ts: &[u8]) -> Vec<Track> {
    let (found, back, errors) = demux_ours(ts, 1000);
    assert_eq!(errors, [], "our own stream demuxes cleanly");
    let carried: Vec<&Track> = tracks
        .iter()
        .filter(|t| PesFormat::new(t).is_ok())
        .collect();
    assert_eq!(found.len(), carried.len());
    for (got, want) in found.iter().zip(&carried) {
        assert_eq!(
            (got.codec, got.width, got.height, got.rate, got.channels),
            (
                want.codec,
                want.width,
                want.height,
                want.rate,
                want.channels
            )
        );
        assert_eq!(got.codec_string, want.codec_string);
    }
    let id_of = |track: u32| {
        carried
            .iter()
            .position(|t| t.id == track)
            .map(|i| i as u32 + 1)
    };
    let is_video = |track: u32| {
        carried
            .iter()
            .any(|t| t.id == track && t.kind() == Some(crate::media::TrackKind::Video))
    };
    let sent: Vec<Packet> = packets
        .iter()
        .filter(|p| !p.data.is_empty())
        .filter_map(|p| {
            Some(Packet {
                track: id_of(p.track)?,
                time: p.time + DELAY_MS,
                // Audio packets are never keyframes, as from RTMP.
                keyframe: p.keyframe && is_video(p.track),
                ..p.clone()
            })
        })
        .collect();
    // Per track, in order (the demuxer gives each track's packets in the order they end).
    for track in &found {
        let mine: Vec<&Packet> = back.iter().filter(|p| p.track == track.id).collect();
        let want: Vec<&Packet> = sent.iter().filter(|p| p.track == track.id).collect();
        assert_eq!(mine, want, "track {}", track.id);
    }
    found
}
