//! Tests of the index model (`detect`, `seek`, `segments`, `finish`, `packet`) and the helpers
//! the container tests share: files made by ffmpeg in a temporary folder, ffprobe's view of
//! them, and the check that an index lists what ffprobe lists (packet count per stream, times
//! within 1 ms, keyframes, sizes, and the payload's MD5 where it is the file's own bytes).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;

use md5::{Digest, Md5};

use super::*;
use crate::media::{Codec, Track};

mod mkv_malformed_tests;
mod mkv_tests;
mod mp4_malformed_tests;
mod mp4_tests;
mod store_tests;

/// Runs ffmpeg with `args` (input options and codecs) writing `dir/name`.
pub(crate) fn ffmpeg(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg {args:?} failed");
    out
}

/// One stream as ffprobe sees it.
#[derive(Debug)]
pub(crate) struct ProbeStream {
    pub codec_type: String,
    pub codec_name: String,
    pub width: u32,
    pub height: u32,
    pub sample_rate: u32,
    pub channels: u32,
}

/// One packet as ffprobe sees it; times in ms (`dts` NaN when ffprobe has none).
#[derive(Debug)]
pub(crate) struct ProbePacket {
    pub stream: usize,
    pub dts: f64,
    pub pts: f64,
    pub size: u32,
    pub keyframe: bool,
    pub md5: String,
}

/// ffprobe's streams and packets (with the MD5 of each packet's data).
pub(crate) fn probe(path: &Path) -> (Vec<ProbeStream>, Vec<ProbePacket>) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-show_packets"])
        .args(["-show_data_hash", "md5", "-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe failed on {path:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let num = |v: &serde_json::Value| -> u32 {
        v.as_u64()
            .map(|n| n as u32)
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0)
    };
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let mut bases = Vec::new();
    let streams = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let base = text(&s["time_base"]);
            let (n, d) = base.split_once('/').unwrap();
            bases.push(n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap());
            ProbeStream {
                codec_type: text(&s["codec_type"]),
                codec_name: text(&s["codec_name"]),
                width: num(&s["width"]),
                height: num(&s["height"]),
                sample_rate: num(&s["sample_rate"]),
                channels: num(&s["channels"]),
            }
        })
        .collect();
    let packets = v["packets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let stream = p["stream_index"].as_u64().unwrap() as usize;
            // Matroska has no decode times: ffprobe leaves some out (N/A), which are NaN here.
            let ms = |t: &serde_json::Value| {
                t.as_i64()
                    .map_or(f64::NAN, |t| t as f64 * bases[stream] * 1000.0)
            };
            ProbePacket {
                stream,
                dts: ms(&p["dts"]),
                pts: ms(&p["pts"]),
                size: num(&p["size"]),
                keyframe: text(&p["flags"]).starts_with('K'),
                md5: text(&p["data_hash"]).trim_start_matches("MD5:").to_string(),
            }
        })
        .collect();
    (streams, packets)
}

/// Detects and indexes a file as the file input does.
pub(crate) fn index_file(path: &Path) -> Result<Index, VodError> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut head = [0u8; 512];
    let n = file.read(&mut head)?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let container = Container::detect(&head[..n], ext)
        .ok_or_else(|| VodError::Unrecognised(path.display().to_string()))?;
    file.seek(SeekFrom::Start(0))?;
    scan(container, &mut file, len)
}

/// Reads entry `i`'s bytes and makes its packet.
pub(crate) fn read_packet(file: &mut File, index: &Index, i: usize) -> Packet {
    let e = index.entries[i];
    let mut raw = vec![0; e.raw_len as usize];
    file.seek(SeekFrom::Start(e.pos)).unwrap();
    file.read_exact(&mut raw).unwrap();
    packet(index, i, raw.into()).unwrap()
}

/// Checks `index` against ffprobe's view of `path`: `streams[k]` is the ffprobe stream of
/// track `k + 1`. Same packet count per stream, decode and presentation times within 1 ms,
/// same keyframes and sizes, and the same bytes (their MD5).
pub(super) fn check_against_probe(path: &Path, index: &Index, streams: &[usize]) {
    check_probed(path, index, streams, true);
}

/// [`check_against_probe`], with the times left out when `times` is false.
pub(super) fn check_probed(path: &Path, index: &Index, streams: &[usize], times: bool) {
    let (probed, packets) = probe(path);
    assert_eq!(
        index.tracks.len(),
        streams.len(),
        "{path:?}: tracks {:?}",
        index.tracks
    );
    let mut file = File::open(path).unwrap();
    for (k, &stream) in streams.iter().enumerate() {
        let id = k as u32 + 1;
        let track = index.track(id).unwrap();
        let ps = &probed[stream];
        let want = match track.codec {
            Some(Codec::H264) => "h264",
            Some(Codec::Hevc) => "hevc",
            Some(Codec::Aac) => "aac",
            Some(Codec::Mp3) => "mp3",
            Some(Codec::Vp9) => "vp9",
            Some(Codec::Av1) => "av1",
            Some(Codec::Opus) => "opus",
            Some(Codec::Vorbis) => "vorbis",
            Some(Codec::Ac3) => "ac3",
            other => panic!("unexpected codec {other:?}"),
        };
        assert_eq!(ps.codec_name, want, "{path:?} track {id}");
        if ps.codec_type == "video" {
            assert_eq!(
                (track.width, track.height),
                (ps.width, ps.height),
                "{path:?}"
            );
        } else {
            assert_eq!(
                (track.rate, track.channels),
                (ps.sample_rate, ps.channels),
                "{path:?}"
            );
        }
        let theirs: Vec<&ProbePacket> = packets.iter().filter(|p| p.stream == stream).collect();
        let ours: Vec<usize> = (0..index.entries.len())
            .filter(|&i| index.entries[i].track == id)
            .collect();
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{path:?} track {id}: packet count"
        );
        for (n, (&i, p)) in ours.iter().zip(&theirs).enumerate() {
            let e = index.entries[i];
            let what = format!("{path:?} track {id} packet {n}: {e:?} vs {p:?}");
            let pts = (e.time + i64::from(e.offset)) as f64;
            assert!(
                !times || p.dts.is_nan() || (e.time as f64 - p.dts).abs() <= 1.0,
                "{what}: decode time"
            );
            assert!(
                !times || (pts - p.pts).abs() <= 1.0,
                "{what}: presentation time"
            );
            assert_eq!(e.keyframe, p.keyframe, "{what}: keyframe");
            assert_eq!(e.size, p.size, "{what}: size");
            let packet = read_packet(&mut file, index, i);
            assert_eq!(
                format!("{:x}", Md5::digest(&packet.data)),
                p.md5,
                "{what}: bytes"
            );
        }
    }
}

// ---- the model ------------------------------------------------------------------------

fn video(id: u32) -> Track {
    Track {
        id,
        codec: Some(Codec::H264),
        ..Track::default()
    }
}

fn audio(id: u32) -> Track {
    Track {
        id,
        codec: Some(Codec::Aac),
        rate: 48_000,
        ..Track::default()
    }
}

fn entry(track: u32, time: i64, keyframe: bool, pos: u64) -> IndexEntry {
    IndexEntry {
        track,
        time,
        offset: 0,
        keyframe,
        pos,
        raw_len: 10,
        size: 10,
    }
}

/// Video at 25 fps with a keyframe every 2 s for `seconds`, AAC frames every 20 ms, after
/// `finish`.
fn model(seconds: i64) -> Index {
    let mut entries = Vec::new();
    let mut pos = 0;
    for f in 0..seconds * 25 {
        entries.push(entry(1, f * 40, f % 50 == 0, pos));
        pos += 10;
    }
    for f in 0..seconds * 50 {
        entries.push(entry(2, f * 20, true, pos));
        pos += 10;
    }
    let mut index = Index {
        container: Container::Mp4,
        tracks: vec![video(1), audio(2)],
        source_ids: vec![1, 2],
        entries,
        skipped: Vec::new(),
    };
    finish(&mut index);
    index
}

#[test]
fn detect_by_head_and_extension() {
    let mut ts = vec![0u8; 200];
    ts[0] = 0x47;
    ts[188] = 0x47;
    let cases: &[(&[u8], &str, Option<Container>)] = &[
        (
            b"FLV\x01\x05\0\0\0\x09\0\0\0\0\0\0\0",
            "mp4",
            Some(Container::Flv),
        ),
        (b"\0\0\0\x20ftypisom\0\0\x02\0", "", Some(Container::Mp4)),
        (b"\0\0\0\x08free\0\0\0\x10mdat", "mov", Some(Container::Mp4)),
        (b"\0\0\0\x08wide\0\0\0\x10mdat", "", Some(Container::Mp4)),
        (b"\0\0\x01\0moov\0\0\0\x6cmvhd", "bin", Some(Container::Mp4)),
        (&ts, "ts", Some(Container::Ts)),
        (&ts, "", Some(Container::Ts)),
        (b"ID3\x04\0\0\0\0\0\0", "mp3", Some(Container::Mp3)),
        (b"ID3\x04\0\0\0\0\0\0", "aac", Some(Container::Adts)),
        (b"\xFF\xF1\x50\x80\x02\x1F\xFC", "", Some(Container::Adts)),
        (b"\xFF\xFB\x90\x64\0\0\0\0", "", Some(Container::Mp3)),
        (b"\x47\xFF\xFB\x90", "mp3", Some(Container::Mp3)),
        (b"nothing known here", "mov", Some(Container::Mp4)),
        (b"nothing known here", "M2TS", Some(Container::Ts)),
        (b"OggS\0\x02\0\0\0\0\0\0\0\0", "mp3", Some(Container::Ogg)),
        (b"nothing known here", "opus", Some(Container::Ogg)),
        (b"RIFF\x24\0\0\0WAVEfmt ", "mp3", Some(Container::Wav)),
        (b"RIFF\x24\0\0\0AVI LIST", "", None),
        (b"nothing known here", "txt", None),
        (b"nothing known here", "webm", Some(Container::Matroska)),
        (b"nothing known here", "MKA", Some(Container::Matroska)),
        (
            b"\x1A\x45\xDF\xA3\x87\x42\x82\x84webm",
            "",
            Some(Container::Matroska),
        ),
        (
            b"\x1A\x45\xDF\xA3\x8B\x42\x82\x88matroska",
            "mp4",
            Some(Container::Matroska),
        ),
        (b"\x1A\x45\xDF\xA3\x87\x42\x82\x84avi!", "", None),
        (b"", "", None),
    ];
    for (head, ext, want) in cases {
        assert_eq!(Container::detect(head, ext), *want, "{head:?} .{ext}");
    }
}

#[test]
fn container_codes_round_trip() {
    for c in [
        Container::Mp4,
        Container::Flv,
        Container::Ts,
        Container::Mp3,
        Container::Adts,
        Container::Ogg,
        Container::Wav,
        Container::Matroska,
    ] {
        assert_eq!(Container::from_code(c.code()), Some(c));
        assert!(!c.input_name().is_empty());
    }
    assert_eq!(Container::from_code(0), None);
    assert_eq!(Container::from_code(99), None);
}

#[test]
fn finish_sorts_and_sets_track_times() {
    let index = model(10);
    let times: Vec<(i64, u32)> = index.entries.iter().map(|e| (e.time, e.track)).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    let v = index.track(1).unwrap();
    assert_eq!((v.firstms, v.lastms), (0, 10_000));
    assert_eq!(v.bps, 250 * 10 * 1000 / 10_000);
    let a = index.track(2).unwrap();
    assert_eq!((a.firstms, a.lastms), (0, 10_000));
    assert_eq!(index.duration_ms(), 10_000);
    assert_eq!(index.main_track(), Some(1));
}

#[test]
fn seek_lands_on_the_keyframe_at_or_before() {
    let index = model(10);
    let at = |ms| {
        let e = index.entries[index.seek(ms)];
        assert!(e.keyframe && e.track == 1, "{e:?}");
        e.time
    };
    assert_eq!(at(0), 0);
    assert_eq!(at(-5), 0);
    assert_eq!(at(1999), 0);
    assert_eq!(at(2000), 2000);
    assert_eq!(at(5000), 4000);
    assert_eq!(at(99_999), 8000);
    assert_eq!(index.start_times(), vec![0, 2000, 4000, 6000, 8000]);
}

#[test]
fn audio_only_starts_anywhere() {
    let mut index = model(2);
    index.tracks.remove(0);
    index.entries.retain(|e| e.track == 2);
    assert_eq!(index.main_track(), Some(2));
    assert_eq!(index.entries[index.seek(1010)].time, 1000);
    assert_eq!(index.start_times().len(), 100);
}

#[test]
fn segments_cover_the_file_at_keyframes() {
    let index = model(10);
    assert_eq!(
        index.segments(3000),
        vec![(0, 4000), (4000, 8000), (8000, 10_000)]
    );
    assert_eq!(
        index.segments(1),
        vec![
            (0, 2000),
            (2000, 4000),
            (4000, 6000),
            (6000, 8000),
            (8000, 10_000)
        ]
    );
    let empty = Index {
        entries: Vec::new(),
        ..model(1)
    };
    assert!(empty.segments(1000).is_empty());
}

#[test]
fn packet_slices_contiguous_payloads() {
    let index = model(1);
    let i = index.entries.iter().position(|e| e.track == 1).unwrap();
    let raw = bytes::Bytes::from(vec![7u8; 10]);
    let p = packet(&index, i, raw.clone()).unwrap();
    assert_eq!(p.data, raw);
    assert_eq!(p.data.as_ptr(), raw.as_ptr(), "zero-copy");
    assert_eq!((p.track, p.time, p.keyframe), (1, 0, true));
    let short = packet(&index, i, bytes::Bytes::from_static(&[1, 2, 3]));
    assert!(
        matches!(short, Err(VodError::Malformed { .. })),
        "{short:?}"
    );
    let missing = packet(&index, index.entries.len(), raw);
    assert!(matches!(missing, Err(VodError::BadIndex(_))), "{missing:?}");
}

#[test]
fn scan_of_nothing_is_an_error() {
    let mut empty = std::io::Cursor::new(Vec::<u8>::new());
    let err = scan(Container::Mp4, &mut empty, 0).unwrap_err();
    assert!(matches!(err, VodError::Malformed { .. }), "{err}");
}
