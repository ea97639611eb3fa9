//! The fragmented MP4 writer checked with ffprobe / ffmpeg (Debian's ffmpeg package), the
//! `mp4` crate and a small box reader: helpers here, real files in `files.rs`, boxes, fields
//! and malformed input in `fields.rs`.

use std::path::Path;
use std::process::Command;

use bytes::Bytes;

use super::super::bits::tests::XorShift;
use super::super::{Packet, TrackKind};
use super::boxes::{box_size, descriptor, Writer};
use super::fragment::{plan_mdat, Sample, SAMPLE_NON_SYNC, SAMPLE_SYNC};
use super::fragment::{TFHD_DEFAULT_BASE_IS_MOOF, TRUN_FLAGS};
use super::*;

mod ac3_tests;
mod fields_tests;
mod files_tests;

/// ffmpeg 5.1: libx264 (Main, 176x100, 10 fps, B-frames) + AAC LC 22050 Hz mono, 0.6 s.
const H264_AAC_FLV: &[u8] = include_bytes!("../testdata/h264_aac.flv");
/// ffmpeg 9: libx265 (Main, 176x100, 10 fps) in Enhanced FLV: a keyframe and two inter
/// frames, each with a 200 ms composition offset.
const HEVC_FLV: &[u8] = include_bytes!("../testdata/hevc_enhanced.flv");
/// LAME, 22050 Hz mono, after a 45-byte ID3v2 tag.
const SINE_MP3: &[u8] = include_bytes!("../testdata/sine_22050_mono.mp3");

const VIDEO: u32 = 1;
const AUDIO: u32 = 2;

// ---- inputs -------------------------------------------------------------------------

use crate::media::testutil::load_flv;

/// The MP3 test file as track 1 and one packet per frame.
fn load_mp3() -> (Track, Vec<Packet>) {
    crate::media::testutil::load_mp3(SINE_MP3, 1)
}

fn of_track(packets: &[Packet], id: u32) -> Vec<&Packet> {
    packets.iter().filter(|p| p.track == id).collect()
}

fn packet(track: u32, time: i64, keyframe: bool) -> Packet {
    Packet {
        track,
        time,
        offset: 0,
        keyframe,
        data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
    }
}

fn video_track() -> Track {
    let (video, _, _) = load_flv(H264_AAC_FLV);
    video.unwrap()
}

fn audio_track() -> Track {
    let (_, audio, _) = load_flv(H264_AAC_FLV);
    audio.unwrap()
}

// ---- a small box reader for the checks ----------------------------------------------

/// Bytes before the child boxes of a box type, for the types that have children.
fn child_offset(kind: &[u8]) -> Option<usize> {
    match kind {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"dinf" | b"stbl" | b"mvex" | b"moof" | b"traf" => {
            Some(0)
        }
        b"dref" | b"stsd" => Some(8),
        b"avc1" | b"hvc1" => Some(78),
        b"mp4a" => Some(28),
        _ => None,
    }
}

/// A box: type, start of the box, start of its body, end.
#[derive(Debug, Clone, Copy)]
struct BoxAt {
    kind: [u8; 4],
    start: usize,
    body: usize,
    end: usize,
}

/// The boxes tiling `buf[start..end]`; fails unless their size fields tile it exactly.
fn boxes(buf: &[u8], start: usize, end: usize) -> Vec<BoxAt> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        assert!(at + 8 <= end, "box header past the end at {at}");
        let size = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = buf[at + 4..at + 8].try_into().unwrap();
        assert!(
            size >= 8,
            "box {:?} size {size}",
            String::from_utf8_lossy(&kind)
        );
        assert!(
            at + size <= end,
            "box {:?} at {at} of size {size} overruns its parent (ends at {end})",
            String::from_utf8_lossy(&kind)
        );
        out.push(BoxAt {
            kind,
            start: at,
            body: at + 8,
            end: at + size,
        });
        at += size;
    }
    assert_eq!(at, end);
    out
}

/// Walks every box recursively, checking each size field against its parent; returns the
/// number of boxes seen.
fn check_tree(buf: &[u8], start: usize, end: usize) -> usize {
    let mut count = 0;
    for b in boxes(buf, start, end) {
        count += 1;
        if let Some(skip) = child_offset(&b.kind) {
            count += check_tree(buf, b.body + skip, b.end);
        }
    }
    count
}

/// All boxes at `path` (types from the top level down).
fn find(buf: &[u8], path: &[&[u8; 4]]) -> Vec<BoxAt> {
    let mut level = boxes(buf, 0, buf.len());
    for (i, kind) in path.iter().enumerate() {
        let matching: Vec<BoxAt> = level.into_iter().filter(|b| &b.kind == *kind).collect();
        if i + 1 == path.len() {
            return matching;
        }
        level = matching
            .iter()
            .flat_map(|b| boxes(buf, b.body + child_offset(&b.kind).unwrap(), b.end))
            .collect();
    }
    level
}

fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(buf[at..at + 4].try_into().unwrap())
}

fn be64(buf: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(buf[at..at + 8].try_into().unwrap())
}

/// One `traf` read back: track, tfdt, trun entries and the sample bytes its data_offset
/// points at.
#[derive(Debug)]
struct ReadTraf {
    sequence: u32,
    track_id: u32,
    base: u64,
    samples: Vec<Sample>,
    data: Vec<Vec<u8>>,
}

/// Reads every moof of a file, following each trun's data_offset into the mdat after it.
fn read_fragments(file: &[u8]) -> Vec<ReadTraf> {
    let top = boxes(file, 0, file.len());
    let mut out = Vec::new();
    for (i, moof) in top.iter().enumerate().filter(|(_, b)| &b.kind == b"moof") {
        let mdat = top[i + 1];
        assert_eq!(&mdat.kind, b"mdat", "a moof is followed by its mdat");
        let children = boxes(file, moof.body, moof.end);
        let mfhd = children[0];
        assert_eq!(&mfhd.kind, b"mfhd");
        let sequence = be32(file, mfhd.body + 4);
        let mut used = 0;
        for traf in children.iter().filter(|b| &b.kind == b"traf") {
            let parts = boxes(file, traf.body, traf.end);
            let kinds: Vec<&[u8; 4]> = parts.iter().map(|b| &b.kind).collect();
            assert_eq!(kinds, [b"tfhd", b"tfdt", b"trun"]);
            let (tfhd, tfdt, trun) = (parts[0], parts[1], parts[2]);
            assert_eq!(be32(file, tfhd.body), TFHD_DEFAULT_BASE_IS_MOOF);
            assert_eq!(tfhd.end - tfhd.body, 8);
            assert_eq!(be32(file, tfdt.body), 1 << 24, "tfdt version 1");
            assert_eq!(be32(file, trun.body), (1 << 24) | TRUN_FLAGS, "trun v1");
            let count = be32(file, trun.body + 4) as usize;
            assert_eq!(trun.end - trun.body, 12 + 16 * count);
            let mut at = moof.start + be32(file, trun.body + 8) as usize;
            assert!(
                at >= mdat.body && at <= mdat.end,
                "data_offset inside the mdat"
            );
            let (mut samples, mut data) = (Vec::new(), Vec::new());
            for n in 0..count {
                let e = trun.body + 12 + 16 * n;
                let s = Sample {
                    duration: be32(file, e),
                    size: be32(file, e + 4),
                    flags: be32(file, e + 8),
                    composition_offset: be32(file, e + 12) as i32,
                };
                data.push(file[at..at + s.size as usize].to_vec());
                at += s.size as usize;
                used += s.size as usize;
                samples.push(s);
            }
            assert!(at <= mdat.end);
            out.push(ReadTraf {
                sequence,
                track_id: be32(file, tfhd.body + 4),
                base: be64(file, tfdt.body + 4),
                samples,
                data,
            });
        }
        assert_eq!(
            used,
            mdat.end - mdat.body,
            "the mdat holds exactly the samples"
        );
    }
    out
}

// ---- ffprobe ------------------------------------------------------------------------

fn ffprobe(path: &Path) -> serde_json::Value {
    ffmpeg_decodes(path);
    let exe = if Path::new("/usr/bin/ffprobe").exists() {
        "/usr/bin/ffprobe"
    } else {
        "ffprobe"
    };
    let out = Command::new(exe)
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_packets",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs (Debian's ffmpeg package)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffprobe failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffprobe complained: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Decodes a whole file with ffmpeg (same package as ffprobe); it must not complain.
fn ffmpeg_decodes(path: &Path) {
    let exe = if Path::new("/usr/bin/ffmpeg").exists() {
        "/usr/bin/ffmpeg"
    } else {
        "ffmpeg"
    };
    let out = Command::new(exe)
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs (Debian's ffmpeg package)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffmpeg complained: {stderr}");
}

/// What one ffprobe stream must show.
struct Expect<'a> {
    codec: &'a str,
    /// (width, height) for video, (sample rate, channels) for audio.
    size: (u64, u64),
    packets: Vec<&'a Packet>,
    /// Every packet is a keyframe (audio).
    all_key: bool,
}

fn ticks_to_ms(ticks: i64, time_base: &str) -> f64 {
    let (num, den) = time_base.split_once('/').unwrap();
    ticks as f64 * num.parse::<f64>().unwrap() * 1000.0 / den.parse::<f64>().unwrap()
}

fn check_probe(json: &serde_json::Value, expected: &[Expect<'_>]) {
    let streams = json["streams"].as_array().unwrap();
    assert_eq!(streams.len(), expected.len());
    let packets = json["packets"].as_array().unwrap();
    for (index, (stream, want)) in streams.iter().zip(expected).enumerate() {
        assert_eq!(stream["codec_name"], want.codec);
        if stream["codec_type"] == "video" {
            assert_eq!(stream["width"].as_u64(), Some(want.size.0));
            assert_eq!(stream["height"].as_u64(), Some(want.size.1));
        } else {
            assert_eq!(stream["codec_type"], "audio");
            assert_eq!(stream["sample_rate"], want.size.0.to_string());
            assert_eq!(stream["channels"].as_u64(), Some(want.size.1));
        }
        let time_base = stream["time_base"].as_str().unwrap();
        let got: Vec<&serde_json::Value> = packets
            .iter()
            .filter(|p| p["stream_index"].as_u64() == Some(index as u64))
            .collect();
        assert_eq!(
            got.len(),
            want.packets.len(),
            "packet count of stream {index}"
        );
        let mut last_dts = f64::MIN;
        for (p, input) in got.iter().zip(&want.packets) {
            let dts = ticks_to_ms(p["dts"].as_i64().unwrap(), time_base);
            let pts = ticks_to_ms(p["pts"].as_i64().unwrap(), time_base);
            assert!(dts > last_dts, "dts increases: {dts} after {last_dts}");
            last_dts = dts;
            assert!(
                (dts - input.time as f64).abs() <= 1.0,
                "dts {dts} vs {}",
                input.time
            );
            let want_pts = (input.time + i64::from(input.offset)) as f64;
            assert!((pts - want_pts).abs() <= 1.0, "pts {pts} vs {want_pts}");
            assert_eq!(p["size"], input.data.len().to_string());
            let key = p["flags"].as_str().unwrap().starts_with('K');
            assert_eq!(
                key,
                want.all_key || input.keyframe,
                "key flag at {}",
                input.time
            );
        }
    }
}

fn write_temp(dir: &tempfile::TempDir, name: &str, parts: &[&Bytes]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    let mut all = Vec::new();
    for part in parts {
        all.extend_from_slice(part);
    }
    std::fs::write(&path, &all).unwrap();
    path
}

/// Checks that mp4 (the crate) reads the file: ftyp, moov with the traks, mvex/trex and
/// every fragment.
fn check_with_mp4_crate<'a>(
    file: &'a [u8],
    tracks: &[&Track],
    fragments: usize,
) -> ::mp4::Mp4Reader<std::io::Cursor<&'a [u8]>> {
    let reader =
        ::mp4::Mp4Reader::read_header(std::io::Cursor::new(file), file.len() as u64).unwrap();
    assert_eq!(&reader.ftyp.major_brand.value, b"isom");
    assert_eq!(reader.ftyp.minor_version, 0x200);
    assert_eq!(reader.moov.mvhd.timescale, 1000);
    assert_eq!(reader.moov.traks.len(), tracks.len());
    for (trak, track) in reader.moov.traks.iter().zip(tracks) {
        assert_eq!(trak.tkhd.track_id, track.id);
        assert_eq!(trak.mdia.mdhd.timescale, timescale(track));
        assert_eq!(trak.mdia.mdhd.language, "und");
        let handler = if track.kind() == Some(TrackKind::Video) {
            b"vide"
        } else {
            b"soun"
        };
        assert_eq!(&trak.mdia.hdlr.handler_type.value, handler);
    }
    let mvex = reader.moov.mvex.as_ref().expect("mvex");
    // The crate keeps the last trex only.
    let last = tracks.last().unwrap();
    assert_eq!(mvex.trex.track_id, last.id);
    assert_eq!(mvex.trex.default_sample_description_index, 1);
    assert_eq!(reader.moofs.len(), fragments);
    for (i, moof) in reader.moofs.iter().enumerate() {
        assert_eq!(moof.mfhd.sequence_number, i as u32 + 1);
        for traf in &moof.trafs {
            assert!(tracks.iter().any(|t| t.id == traf.tfhd.track_id));
            assert!(traf.tfdt.is_some());
            let trun = traf.trun.as_ref().expect("trun");
            assert_eq!(trun.sample_sizes.len(), trun.sample_count as usize);
        }
    }
    reader
}

/// Every trex in an init segment, as (track_ID, default_sample_description_index).
fn trexes(init: &[u8]) -> Vec<(u32, u32)> {
    find(init, &[b"moov", b"mvex", b"trex"])
        .iter()
        .map(|b| (be32(init, b.body + 4), be32(init, b.body + 8)))
        .collect()
}

/// Compares what read_fragments found with the packets written.
fn check_fragments(read: &[ReadTraf], track: &Track, segments: &[Vec<&Packet>]) {
    let ts = timescale(track);
    let mine: Vec<&ReadTraf> = read.iter().filter(|t| t.track_id == track.id).collect();
    assert_eq!(mine.len(), segments.len());
    for (traf, packets) in mine.iter().zip(segments) {
        assert_eq!(traf.base, to_timescale(packets[0].time, ts).unwrap() as u64);
        assert_eq!(traf.samples.len(), packets.len());
        let mut dts = traf.base as i64;
        for ((s, data), p) in traf.samples.iter().zip(&traf.data).zip(packets) {
            assert_eq!(dts, to_timescale(p.time, ts).unwrap(), "no drift");
            assert_eq!(data[..], p.data[..]);
            let pts = to_timescale(p.time + i64::from(p.offset), ts).unwrap();
            assert_eq!(dts + i64::from(s.composition_offset), pts);
            let audio = track.kind() == Some(TrackKind::Audio);
            let flags = if audio || p.keyframe {
                SAMPLE_SYNC
            } else {
                SAMPLE_NON_SYNC
            };
            assert_eq!(s.flags, flags, "sample flags at {} ms", p.time);
            dts += i64::from(s.duration);
        }
    }
}
