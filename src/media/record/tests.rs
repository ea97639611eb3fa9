//! Recordings checked with the real ffprobe / ffmpeg (Debian's ffmpeg package; the tests fail
//! without it) and a small box walker.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

use bytes::{Bytes, BytesMut};

use super::super::bits::tests::XorShift;
use super::super::testutil::{load_flv, load_mp3};
use super::*;

/// H.264 320x240 25 fps (keyframes at 0 and 1080 ms, last frame at 2040) + AAC 44.1 kHz (last
/// frame at 2077 ms): 2.1 s (see ts.rs).
const CLIP: &[u8] = include_bytes!("../testdata/h264_aac_320x240.flv");
const CLIP_MS: i64 = 2100;
/// The clip's longest GOP, the tolerance for durations.
const GOP_S: f64 = 1.08;
/// Enhanced RTMP HEVC, 176x100, a keyframe and two inter frames (see flv.rs).
const HEVC_FLV: &[u8] = include_bytes!("../testdata/hevc_enhanced.flv");
/// LAME, 22050 Hz mono, after a 45-byte ID3v2 tag.
const SINE_MP3: &[u8] = include_bytes!("../testdata/sine_22050_mono.mp3");
const VIDEO: u32 = 1;
const AUDIO: u32 = 2;

/// The clip's tracks and `loops` copies of its packets one after the other.
fn clip(loops: i64) -> (Vec<Track>, Vec<Packet>) {
    let (video, audio, packets) = load_flv(CLIP);
    let tracks = video.into_iter().chain(audio).collect();
    let looped = (0..loops)
        .flat_map(|i| {
            packets.iter().map(move |p| Packet {
                time: p.time + i * CLIP_MS,
                ..p.clone()
            })
        })
        .collect();
    (tracks, looped)
}

fn only(tracks: &[Track], packets: &[Packet], id: u32) -> (Vec<Track>, Vec<Packet>) {
    let keep = |t: u32| t == id;
    (
        tracks.iter().filter(|t| keep(t.id)).cloned().collect(),
        packets.iter().filter(|p| keep(p.track)).cloned().collect(),
    )
}

/// The MP3 test file as track 1, one packet per frame.
fn mp3_clip() -> (Track, Vec<Packet>) {
    load_mp3(SINE_MP3, 1)
}

fn packet(track: u32, time: i64, keyframe: bool, data: Bytes) -> Packet {
    Packet {
        track,
        time,
        offset: 0,
        keyframe,
        data,
    }
}

/// Records into `path` as the push actor does: the bytes (appended to the file when
/// `append`), the tail, then the patches. Returns the patches.
fn record(
    path: &Path,
    container: Container,
    tracks: &[Track],
    packets: &[Packet],
    append: bool,
) -> Vec<Patch> {
    let mut rec = Recorder::new(container, tracks, append).unwrap();
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .unwrap();
    let mut out = BytesMut::new();
    rec.start(&mut out);
    for p in packets {
        rec.write(p, &mut out).unwrap();
        file.write_all(&out.split()).unwrap();
    }
    let patches = rec.finish(&mut out);
    file.write_all(&out).unwrap();
    if !append {
        assert_eq!(rec.bytes_written(), file.metadata().unwrap().len());
    }
    drop(file);
    let mut file = OpenOptions::new().write(true).open(path).unwrap();
    for patch in &patches {
        file.seek(SeekFrom::Start(patch.offset)).unwrap();
        file.write_all(&patch.bytes).unwrap();
    }
    patches
}

fn tool(name: &str) -> String {
    let path = format!("/usr/bin/{name}");
    if Path::new(&path).exists() {
        path
    } else {
        name.to_string()
    }
}

/// ffprobe's codec names and format duration; ffprobe must exist and not complain.
fn probe(path: &Path) -> (Vec<String>, f64) {
    let out = Command::new(tool("ffprobe"))
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
        ])
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe runs (Debian's ffmpeg package)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffprobe failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffprobe complained: {stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codecs = json["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap().to_string())
        .collect();
    let duration = json["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (codecs, duration)
}

/// ffmpeg decodes (from `seek` seconds on, one video frame when seeking) without complaint.
fn decodes(path: &Path, seek: Option<f64>) {
    decodes_with(path, seek, true);
}

/// Like [`decodes`]; `quiet`: stderr must be empty too.
fn decodes_with(path: &Path, seek: Option<f64>, quiet: bool) {
    let mut cmd = Command::new(tool("ffmpeg"));
    cmd.args(["-nostdin", "-v", "error"]);
    if let Some(at) = seek {
        cmd.args(["-ss", &at.to_string()]);
    }
    cmd.arg("-i").arg(path);
    if seek.is_some() {
        cmd.args(["-frames:v", "1"]);
    }
    let out = cmd.args(["-f", "null", "-"]).output().expect("ffmpeg runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg failed: {stderr}");
    assert!(
        !quiet || stderr.trim().is_empty(),
        "ffmpeg complained: {stderr}"
    );
}

fn assert_av(path: &Path, expect_s: f64) {
    let (codecs, duration) = probe(path);
    assert_eq!(codecs.len(), 2, "{codecs:?}");
    assert!(codecs.contains(&"h264".into()) && codecs.contains(&"aac".into()));
    assert!(
        (duration - expect_s).abs() <= GOP_S,
        "{duration} s, want {expect_s}"
    );
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// The boxes tiling `b[start..end]`: (type, start, end); the sizes must tile it exactly.
fn boxes(b: &[u8], start: usize, end: usize) -> Vec<([u8; 4], usize, usize)> {
    let (mut out, mut at) = (Vec::new(), start);
    while at < end {
        let size = be_u32(b, at) as usize;
        assert!(size >= 8 && at + size <= end, "bad box size {size} at {at}");
        out.push((b[at + 4..at + 8].try_into().unwrap(), at, at + size));
        at += size;
    }
    assert_eq!(at, end);
    out
}

fn child(b: &[u8], parent: (usize, usize), kind: &[u8; 4]) -> Vec<(usize, usize)> {
    let list = boxes(b, parent.0 + 8, parent.1);
    list.into_iter()
        .filter(|x| &x.0 == kind)
        .map(|x| (x.1, x.2))
        .collect()
}

#[test]
fn containers_from_paths() {
    let cases = [
        ("/rec/a.flv", Some(Container::Flv)),
        ("a.TS", Some(Container::Ts)),
        ("x/y.Mp4", Some(Container::Mp4)),
        ("y.fmp4", Some(Container::Mp4)),
        ("s.mp3", Some(Container::Mp3)),
        ("s.AAC", Some(Container::Aac)),
        ("s.mkv", None),
        ("flv", None),
        ("dir.flv/file", None),
        ("", None),
    ];
    for (path, want) in cases {
        assert_eq!(Container::from_path(path), want, "{path}");
    }
    let all = [
        Container::Flv,
        Container::Ts,
        Container::Mp4,
        Container::Mp3,
        Container::Aac,
    ];
    let names: Vec<_> = all
        .iter()
        .map(|c| (c.name(), c.supports_append()))
        .collect();
    assert_eq!(
        names,
        [
            ("FLV", true),
            ("HTTPTS", true),
            ("MP4", false),
            ("MP3", true),
            ("AAC", true)
        ]
    );
}

#[test]
fn flv_recording_with_patched_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.flv");
    let (tracks, packets) = clip(1);
    let patches = record(&path, Container::Flv, &tracks, &packets, false);
    let file = std::fs::read(&path).unwrap();
    assert_eq!(&file[..3], b"FLV");
    assert_eq!(patches.len(), 2);
    let seconds = f64::from_be_bytes(patches[0].bytes.clone().try_into().unwrap());
    assert_eq!(seconds, 2.1);
    let size_at = patches[1].offset as usize;
    assert_eq!(
        f64::from_be_bytes(file[size_at..size_at + 8].try_into().unwrap()),
        file.len() as f64
    );
    assert_eq!(&file[size_at - 11..size_at - 1], b"\x00\x08filesize");
    assert_av(&path, 2.1);
    let (_, duration) = probe(&path);
    assert!(
        (duration - 2.1).abs() < 0.05,
        "metadata duration {duration}"
    );
    decodes(&path, None);

    // A second recording appended: no second file header, ffprobe still reads both tracks.
    let later: Vec<Packet> = packets
        .iter()
        .map(|p| Packet {
            time: p.time + 60_000,
            ..p.clone()
        })
        .collect();
    assert!(record(&path, Container::Flv, &tracks, &later, true).is_empty());
    let file2 = std::fs::read(&path).unwrap();
    assert!(file2.len() > 2 * file.len() - 1000);
    assert_eq!(file2.windows(4).filter(|w| w == b"FLV\x01").count(), 1);
    assert_av(&path, 2.1);
}

#[test]
fn ts_recording_repeats_tables_before_keyframes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.ts");
    let (tracks, packets) = clip(3);
    assert!(record(&path, Container::Ts, &tracks, &packets, false).is_empty());
    let file = std::fs::read(&path).unwrap();
    assert_eq!(file.len() % 188, 0);
    let pids: Vec<u16> = file
        .chunks(188)
        .map(|p| ts::TsPacket::parse(p).unwrap().pid)
        .collect();
    let keyframes = packets
        .iter()
        .filter(|p| p.track == VIDEO && p.keyframe)
        .count();
    assert_eq!(keyframes, 6);
    assert_eq!(pids.iter().filter(|&&pid| pid == 0).count(), keyframes);
    // Each PAT is followed by the PMT, then (after the first) the keyframe's first packet.
    for (i, _) in pids.iter().enumerate().filter(|(_, &pid)| pid == 0) {
        assert_eq!(pids[i + 1], 0x1000);
    }
    // Our demuxer reads back every packet, 200 ms (the muxer's delay) later.
    let mut demuxer = ts::TsDemuxer::new();
    demuxer.push(&file);
    demuxer.finish();
    let mut read = Vec::new();
    while let Some(event) = demuxer.pull() {
        match event.unwrap() {
            ts::TsEvent::Packet(p) => read.push((p.track, p.time, p.offset, p.data)),
            ts::TsEvent::Track(t) => assert!(t.id == VIDEO || t.id == AUDIO),
        }
    }
    let first = packets[0].time;
    let mut want: Vec<_> = packets
        .iter()
        .map(|p| {
            (
                p.track,
                p.time - first + ts::DELAY_MS,
                p.offset,
                p.data.clone(),
            )
        })
        .collect();
    // Per track in order (a video PES ends only when the next one starts).
    read.sort_by_key(|r| (r.0, r.1));
    want.sort_by_key(|w| (w.0, w.1));
    assert_eq!(read, want);
    assert_av(&path, 6.3);
    decodes(&path, None);
    // ffmpeg seeks in TS by byte position and decodes B-frames without their references
    // (it complains about its own TS files alike): only success is checked.
    decodes_with(&path, Some(3.2), false);

    // Appending a second recording gives a file ffprobe reads.
    record(&path, Container::Ts, &tracks, &packets[..40], true);
    assert!(std::fs::metadata(&path).unwrap().len() > file.len() as u64);
    let (codecs, _) = probe(&path);
    assert_eq!(codecs.len(), 2);

    // Audio only: the tables come back every second.
    let (tracks, packets) = only(&tracks, &packets, AUDIO);
    record(&path, Container::Ts, &tracks, &packets, false);
    let file = std::fs::read(&path).unwrap();
    let pats = file
        .chunks(188)
        .filter(|p| ts::TsPacket::parse(p).unwrap().pid == 0)
        .count();
    assert!((6..=8).contains(&pats), "{pats} PATs in 6.2 s");
    assert_eq!(probe(&path).0, ["aac"]);
}

#[test]
fn mp4_recording_with_mfra() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.mp4");
    let (tracks, packets) = clip(3);
    let patches = record(&path, Container::Mp4, &tracks, &packets, false);
    assert_eq!(patches.len(), 2);
    let b = std::fs::read(&path).unwrap();
    let top = boxes(&b, 0, b.len());
    let kinds: Vec<&[u8]> = top.iter().map(|x| &x.0[..]).collect();
    let moofs: Vec<usize> = top
        .iter()
        .filter(|x| &x.0 == b"moof")
        .map(|x| x.1)
        .collect();
    assert_eq!(moofs.len(), 6, "one fragment per GOP");
    assert_eq!(kinds[..2], [b"ftyp", b"moov"]);
    assert_eq!(kinds.last().unwrap(), b"mfra");

    // The movie duration was patched into mvhd and mehd.
    let moov = (top[1].1, top[1].2);
    let mvhd = child(&b, moov, b"mvhd")[0];
    assert_eq!(be_u32(&b, mvhd.0 + 24), 6300);
    let mvex = child(&b, moov, b"mvex")[0];
    let mehd = child(&b, mvex, b"mehd")[0];
    assert_eq!(be_u64(&b, mehd.0 + 12), 6300);

    // mfra: one tfra per track, one entry per fragment, pointing at the moofs.
    let (_, mfra_start, mfra_end) = *top.last().unwrap();
    assert_eq!(be_u32(&b, b.len() - 4) as usize, mfra_end - mfra_start);
    let tfras = child(&b, (mfra_start, mfra_end), b"tfra");
    assert_eq!(tfras.len(), 2);
    for (tfra, (track, timescale)) in tfras.iter().zip([(VIDEO, 90_000), (AUDIO, 44_100)]) {
        assert_eq!(be_u32(&b, tfra.0 + 8), 1 << 24, "version 1");
        assert_eq!(be_u32(&b, tfra.0 + 12), track);
        assert_eq!(be_u32(&b, tfra.0 + 16), 0);
        assert_eq!(be_u32(&b, tfra.0 + 20), 6);
        for (i, &moof) in moofs.iter().enumerate() {
            let e = tfra.0 + 24 + i * 19;
            let (time, offset) = (be_u64(&b, e), be_u64(&b, e + 8) as usize);
            assert_eq!(offset, moof);
            let trafs = child(&b, (moof, be_u32(&b, moof) as usize + moof), b"traf");
            let traf_number = b[e + 16] as usize;
            assert_eq!(b[e + 17..e + 19], [1, 1]);
            let traf = trafs[traf_number - 1];
            assert_eq!(be_u32(&b, traf.0 + 8 + 12), track, "tfhd track");
            // The sync sample's presentation time: tfdt + its composition offset.
            let tfdt = be_u64(&b, child(&b, traf, b"tfdt")[0].0 + 12);
            let cto = be_u32(&b, child(&b, traf, b"trun")[0].0 + 32) as i32;
            assert_eq!(tfdt.checked_add_signed(cto.into()), Some(time));
            if track == VIDEO {
                let first = packets.iter().filter(|p| p.keyframe).nth(i).unwrap();
                assert_eq!(tfdt, first.time as u64 * timescale / 1000);
                let pts = first.time + i64::from(first.offset);
                assert_eq!(time, pts as u64 * timescale / 1000);
            }
        }
    }
    assert_av(&path, 6.3);
    decodes(&path, None);
    decodes(&path, Some(3.15));
    // The mp4 crate reads it too.
    let file = std::fs::File::open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    let reader = mp4::Mp4Reader::read_header(std::io::BufReader::new(file), len).unwrap();
    assert_eq!(reader.tracks().len(), 2);
}

#[test]
fn mp4_audio_only_fragments_every_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.MP4");
    let (tracks, packets) = clip(3);
    let (tracks, packets) = only(&tracks, &packets, AUDIO);
    record(&path, Container::Mp4, &tracks, &packets, false);
    let b = std::fs::read(&path).unwrap();
    let moofs = boxes(&b, 0, b.len())
        .iter()
        .filter(|x| &x.0 == b"moof")
        .count();
    assert_eq!(moofs, 4, "fragments of 2 s in 6.2 s");
    let (codecs, duration) = probe(&path);
    assert_eq!(codecs, ["aac"]);
    assert!((duration - 6.2).abs() < 0.2, "{duration}");
    decodes(&path, Some(3.0));
}

#[test]
fn hevc_in_every_video_container() {
    let dir = tempfile::tempdir().unwrap();
    let (video, _, packets) = load_flv(HEVC_FLV);
    let tracks = [video.unwrap()];
    // ffmpeg 5.1 predates Enhanced RTMP in FLV: the FLV is read back with our parser.
    let mut rec = Recorder::new(Container::Flv, &tracks, false).unwrap();
    let mut out = BytesMut::new();
    for p in &packets {
        rec.write(p, &mut out).unwrap();
    }
    rec.finish(&mut out);
    assert!(flv::read_file(out.clone().freeze()).unwrap().has_video);
    // Read back by the depacketizer RTMP ingest uses: the sequence header gives the same track
    // back, and every frame comes back as it was written.
    let (read_video, read_audio, frames) = load_flv(&out);
    assert_eq!(read_video.as_ref(), Some(&tracks[0]), "sequence header");
    assert!(read_audio.is_none());
    assert_eq!(frames.len(), packets.len());
    for (frame, p) in frames.iter().zip(&packets) {
        assert_eq!(frame, p);
    }
    // Ten copies: ffprobe's format detection needs more than three frames of TS.
    let looped: Vec<Packet> = (0..10)
        .flat_map(|i| {
            packets.iter().map(move |p| Packet {
                time: p.time + i * 300,
                ..p.clone()
            })
        })
        .collect();
    for (name, container) in [("ts", Container::Ts), ("mp4", Container::Mp4)] {
        let path = dir.path().join(format!("hevc.{name}"));
        record(&path, container, &tracks, &looped, false);
        assert_eq!(probe(&path).0, ["hevc"], "{name}");
        decodes(&path, None);
    }
}

#[test]
fn mp3_and_aac_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.mp3");
    let (track, packets) = mp3_clip();
    let end = packets.last().unwrap().time as f64 / 1000.0;
    record(&path, Container::Mp3, &[track], &packets, false);
    let (codecs, duration) = probe(&path);
    assert_eq!(codecs, ["mp3"]);
    assert!((duration - end).abs() < 0.2, "{duration} vs {end}");

    let path = dir.path().join("a.aac");
    let (tracks, packets) = clip(1);
    record(&path, Container::Aac, &tracks, &packets, false);
    let file = std::fs::read(&path).unwrap();
    assert_eq!(file[..2], [0xFF, 0xF1]);
    let (codecs, duration) = probe(&path);
    assert_eq!(codecs, ["aac"]);
    assert!((duration - 2.04).abs() <= GOP_S, "{duration}");
    decodes(&path, None);
}

#[test]
fn refused_setups() {
    let (tracks, _) = clip(1);
    let err = Recorder::new(Container::Mp4, &tracks, true).unwrap_err();
    assert!(matches!(err, RecordError::AppendUnsupported("MP4")));
    assert!(matches!(
        Recorder::new(Container::Mp3, &tracks, false),
        Err(RecordError::NoTracks("MP3"))
    ));
    let meta = Track {
        id: 3,
        codec: Some(Codec::Amf),
        ..Track::default()
    };
    let no_init = Track {
        init: Bytes::new(),
        ..tracks[0].clone()
    };
    for container in [
        Container::Flv,
        Container::Ts,
        Container::Mp4,
        Container::Aac,
    ] {
        for list in [vec![], vec![meta.clone()], vec![no_init.clone()]] {
            assert!(
                matches!(
                    Recorder::new(container, &list, false),
                    Err(RecordError::NoTracks(_))
                ),
                "{container:?} {list:?}"
            );
        }
    }
    // Repeated ids keep the first; track selection per container.
    let mut doubled = tracks.clone();
    doubled.push(Track {
        id: AUDIO,
        ..tracks[0].clone()
    });
    doubled.push(meta);
    for container in [Container::Flv, Container::Ts, Container::Mp4] {
        let rec = Recorder::new(container, &doubled, false).unwrap();
        assert_eq!(rec.track_ids(), [VIDEO, AUDIO]);
        assert_eq!(rec.container(), container);
    }
    let rec = Recorder::new(Container::Aac, &doubled, false).unwrap();
    assert_eq!(rec.track_ids(), [AUDIO]);
}

#[test]
fn odd_packets_are_skipped_or_refused() {
    let (tracks, packets) = clip(1);
    let key = packets.iter().find(|p| p.keyframe).unwrap().clone();
    let inter = packets
        .iter()
        .find(|p| p.track == VIDEO && !p.keyframe)
        .unwrap()
        .clone();
    let aac = packets.iter().find(|p| p.track == AUDIO).unwrap().clone();
    for container in [
        Container::Flv,
        Container::Ts,
        Container::Mp4,
        Container::Mp3,
        Container::Aac,
    ] {
        let list = match container {
            Container::Mp3 => vec![Track {
                id: 9,
                ..mp3_clip().0
            }],
            _ => tracks.clone(),
        };
        let mut rec = Recorder::new(container, &list, false).unwrap();
        let mut out = BytesMut::new();
        rec.start(&mut out);
        let head = out.len();
        // Unknown tracks, empty payloads and video before a keyframe: ignored.
        rec.write(
            &Packet {
                track: 99,
                ..key.clone()
            },
            &mut out,
        )
        .unwrap();
        rec.write(
            &Packet {
                data: Bytes::new(),
                ..key.clone()
            },
            &mut out,
        )
        .unwrap();
        rec.write(
            &Packet {
                time: 5,
                ..inter.clone()
            },
            &mut out,
        )
        .unwrap();
        assert_eq!((out.len(), rec.first_ms()), (head, None), "{container:?}");
        let first = Packet {
            time: 10_000,
            ..key.clone()
        };
        let audio = Packet {
            time: 10_000,
            ..aac.clone()
        };
        rec.write(&first, &mut out).unwrap();
        rec.write(&audio, &mut out).unwrap();
        if container == Container::Mp3 {
            continue;
        }
        assert_eq!(rec.first_ms(), Some(10_000));
        // Backwards, before the start, absurd: refused, nothing written, still usable.
        let len = out.len();
        for (time, track) in [
            (9_000, VIDEO),
            (9_990, AUDIO),
            (i64::MIN, AUDIO),
            (i64::MAX, VIDEO),
        ] {
            let p = if track == VIDEO { &inter } else { &aac };
            let r = rec.write(&Packet { time, ..p.clone() }, &mut out);
            let ignored = track == VIDEO && container == Container::Aac;
            assert_eq!(r.is_err(), !ignored, "{container:?} {time}");
        }
        assert_eq!(out.len(), len);
        // Far but valid: only FLV's 32-bit timestamps cannot say it.
        let far = rec.write(
            &Packet {
                time: 10_000 + (1 << 40),
                ..aac.clone()
            },
            &mut out,
        );
        assert_eq!(far.is_err(), container == Container::Flv, "{container:?}");
        let mut junk = XorShift(7);
        for i in 0..200 {
            let data = Bytes::from(junk.bytes(64));
            let p = Packet {
                time: 20_000 + (1 << 41) + i,
                offset: (i as i32 - 100) * 1000,
                ..inter.clone()
            };
            let _ = rec.write(&Packet { data, ..p }, &mut out);
        }
        let _ = rec.finish(&mut out);
        assert!(rec.finish(&mut out).is_empty());
        assert!(matches!(
            rec.write(&audio, &mut out),
            Err(RecordError::Finished)
        ));
    }
}

#[test]
fn flv_times_are_rebased() {
    let (tracks, packets) = clip(1);
    let mut rec = Recorder::new(Container::Flv, &tracks, false).unwrap();
    let mut out = BytesMut::new();
    for p in &packets {
        rec.write(
            &Packet {
                time: p.time + 3_600_000,
                ..p.clone()
            },
            &mut out,
        )
        .unwrap();
    }
    rec.finish(&mut out);
    assert_eq!(rec.first_ms(), Some(3_600_000));
    assert_eq!(
        rec.last_ms(),
        packets.iter().map(|p| p.time + 3_600_000).max()
    );
    let times: Vec<u32> = flv::read_file(out.freeze())
        .unwrap()
        .map(|tag| tag.unwrap().0.timestamp)
        .collect();
    assert_eq!(
        times.len(),
        packets.len() + 3,
        "metadata, two sequence headers"
    );
    assert_eq!(times[..4], [0, 0, 0, 0]);
    assert_eq!(
        *times.iter().max().unwrap() as i64,
        packets.iter().map(|p| p.time).max().unwrap()
    );
}

#[test]
fn mp4_fragments_are_bounded_without_keyframes() {
    let (tracks, _) = clip(1);
    let cases = [
        // 25 s of 40 ms frames after one keyframe: cut at 10 s and 20 s.
        (625, 40, Bytes::from_static(&[0, 0, 0, 1, 0x41]), 3),
        // 1 MiB frames: 16 per fragment.
        (40, 1, Bytes::from(vec![0u8; 1 << 20]), 3),
    ];
    for (count, step, data, fragments) in cases {
        let mut rec = Recorder::new(Container::Mp4, &tracks, false).unwrap();
        let mut out = BytesMut::new();
        for i in 0..count {
            let p = packet(VIDEO, 1000 + i * step, i == 0, data.clone());
            rec.write(&p, &mut out).unwrap();
        }
        rec.finish(&mut out);
        let top = boxes(&out, 0, out.len());
        let moofs: Vec<_> = top.iter().filter(|x| &x.0 == b"moof").collect();
        assert_eq!(moofs.len(), fragments);
        // Only the first fragment starts with a sync sample.
        let mfra = top.last().unwrap();
        let tfra = child(&out, (mfra.1, mfra.2), b"tfra")[0];
        assert_eq!(be_u32(&out, tfra.0 + 20), 1);
        assert_eq!(be_u64(&out, tfra.0 + 32) as usize, moofs[0].1);
    }
}

/// The bytes a whole recording produces (start, packets, tail; patches ignored).
fn bytes_of(
    container: Container,
    tracks: &[Track],
    packets: &[Packet],
    end: Option<i64>,
) -> Vec<u8> {
    let mut rec = Recorder::new(container, tracks, end.is_some()).unwrap();
    if let Some(end) = end {
        rec.continue_after(end);
    }
    let mut out = BytesMut::new();
    rec.start(&mut out);
    for p in packets {
        let _ = rec.write(p, &mut out);
    }
    rec.finish(&mut out);
    out.to_vec()
}

#[test]
fn appending_continues_the_timeline() {
    let (tracks, packets) = clip(1);
    let last = packets.iter().map(|p| p.time).max().unwrap() - packets[0].time;
    for container in [Container::Flv, Container::Ts] {
        let first = bytes_of(container, &tracks, &packets, None);
        let end = file_end_ms(container, &first).expect("end of the first part");
        assert!(
            (end - last).abs() <= 100,
            "{container:?}: end {end} vs last packet {last}"
        );
        let second = bytes_of(container, &tracks, &packets, Some(end));
        let mut whole = first.clone();
        whole.extend_from_slice(&second);
        let end2 = file_end_ms(container, &whole).expect("end of both parts");
        assert!(
            end2 > end + last,
            "{container:?}: the second part follows on: {end2}"
        );
        // A tail cut in the middle of a tag, and junk, tell nothing (and do not panic).
        assert_eq!(file_end_ms(Container::Flv, &whole[..whole.len() - 3]), None);
        let mut rng = XorShift(7);
        let junk: Vec<u8> = (0..5000).map(|_| rng.next_u64() as u8).collect();
        let _ = file_end_ms(container, &junk);
        assert_eq!(file_end_ms(container, &[]), None);
    }
    assert_eq!(file_end_ms(Container::Mp4, &[0; 64]), None);
}
