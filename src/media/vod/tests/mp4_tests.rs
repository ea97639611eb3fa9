//! MP4 and MOV files made by ffmpeg, indexed and checked against ffprobe; malformed files.

use super::*;
use crate::media::vod::store::{self, FileStamp};

const AV: &[&str] = &[
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=320x240:rate=25",
    "-f",
    "lavfi",
    "-i",
    "sine=r=44100",
    "-t",
    "6",
];

/// Makes `name` from the test sources with `args` after them, indexes it, and checks it
/// against ffprobe (`streams[k]` is track k + 1).
fn made(dir: &Path, name: &str, args: &[&str], streams: &[usize]) -> Index {
    let mut all = AV.to_vec();
    all.extend(args);
    let path = ffmpeg(dir, name, &all);
    let index = index_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    check_against_probe(&path, &index, streams);
    index
}

#[test]
fn h264_aac_moov_last_and_first() {
    let dir = tempfile::tempdir().unwrap();
    let h264_aac = ["-c:v", "libx264", "-g", "50", "-c:a", "aac"];
    let last = made(dir.path(), "last.mp4", &h264_aac, &[0, 1]);
    // The same streams with the moov moved to the front (a second encode is not always the
    // same bytes: x264 under load gave a bitrate 14 bit/s apart once).
    let source = dir.path().join("last.mp4");
    let source = source.to_string_lossy();
    let copy = ["-i", &*source, "-c", "copy", "-movflags", "+faststart"];
    let path = ffmpeg(dir.path(), "first.mp4", &copy);
    let first = index_file(&path).unwrap_or_else(|e| panic!("first.mp4: {e}"));
    check_against_probe(&path, &first, &[0, 1]);
    assert_eq!(last.tracks, first.tracks);
    assert_eq!(last.entries.len(), first.entries.len());
    let v = &last.tracks[0];
    assert_eq!(
        (v.codec, v.width, v.height, v.fpks),
        (Some(Codec::H264), 320, 240, 25_000)
    );
    assert!(v.codec_string.starts_with("avc1.64"), "{}", v.codec_string);
    let a = &last.tracks[1];
    assert_eq!((a.codec, a.rate, a.channels), (Some(Codec::Aac), 44_100, 1));
    assert_eq!(a.codec_string, "mp4a.40.2");
    assert!(a.init.starts_with(&[0x12, 0x08]), "{:?}", a.init);
    assert_eq!(last.source_ids, vec![1, 2]);
    assert!(last.skipped.is_empty());
    // B-frames: the first frame decodes before 0 and shows at 0; AAC priming before 0.
    let first_video = last.entries.iter().find(|e| e.track == 1).unwrap();
    assert_eq!(
        (
            first_video.time + i64::from(first_video.offset),
            first_video.keyframe
        ),
        (0, true)
    );
    assert!(first_video.time < 0);
    assert_eq!(last.entries[last.seek(3000)].time, 2000 + first_video.time);
}

#[test]
fn mov_with_aac_and_mp3() {
    let dir = tempfile::tempdir().unwrap();
    let aac = made(
        dir.path(),
        "aac.mov",
        &["-c:v", "libx264", "-c:a", "aac"],
        &[0, 1],
    );
    assert_eq!(aac.tracks[1].codec, Some(Codec::Aac));
    let mp3 = made(
        dir.path(),
        "mp3.mov",
        &["-c:v", "libx264", "-c:a", "libmp3lame"],
        &[0, 1],
    );
    let a = &mp3.tracks[1];
    assert_eq!((a.codec, a.rate, a.channels), (Some(Codec::Mp3), 44_100, 1));
    let mp3 = made(
        dir.path(),
        "mp3.mp4",
        &["-c:v", "libx264", "-c:a", "libmp3lame"],
        &[0, 1],
    );
    assert_eq!(mp3.tracks[1].codec, Some(Codec::Mp3));
}

#[test]
fn fragmented_variants() {
    let dir = tempfile::tempdir().unwrap();
    for (i, flags) in [
        "+frag_keyframe+empty_moov",
        "+frag_keyframe+empty_moov+default_base_moof",
        "+frag_keyframe+empty_moov+omit_tfhd_offset",
        "+frag_keyframe+empty_moov+separate_moof+omit_tfhd_offset",
        "+frag_every_frame+empty_moov+default_base_moof",
    ]
    .into_iter()
    .enumerate()
    {
        let args = [
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-movflags",
            flags,
        ];
        let index = made(dir.path(), &format!("frag{i}.mp4"), &args, &[0, 1]);
        assert_eq!(index.tracks[0].fpks, 25_000, "{flags}");
    }
}

#[test]
fn hevc_both_sample_entries() {
    let dir = tempfile::tempdir().unwrap();
    for (name, tag) in [("hvc1.mp4", "hvc1"), ("hev1.mp4", "hev1")] {
        let args = [
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error",
            "-tag:v",
            tag,
            "-an",
        ];
        let index = made(dir.path(), name, &args, &[0]);
        let v = &index.tracks[0];
        assert_eq!((v.codec, v.width, v.height), (Some(Codec::Hevc), 320, 240));
        assert!(v.codec_string.starts_with("hvc1.1."), "{}", v.codec_string);
    }
}

#[test]
fn several_audio_tracks_and_a_skipped_one() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "-map", "0:v", "-map", "1:a", "-map", "1:a", "-map", "1:a", "-c:v", "libx264", "-c:a:0",
        "aac", "-c:a:1", "eac3", "-c:a:2", "aac", "-b:a:2", "64k",
    ];
    let index = made(dir.path(), "multi.mp4", &args, &[0, 1, 3]);
    assert_eq!(index.skipped, vec!["track 3: ec-3".to_string()]);
    assert_eq!(index.source_ids, vec![1, 2, 4]);
    let ids: Vec<u32> = index.tracks.iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![1, 2, 3]);
}

/// H.264 + AC-3 (5.1 at 44.1 kHz, and stereo in a MOV): the `ac-3` entry with its `dac3`
/// gives the track, one sample per syncframe, as ffprobe has them.
#[test]
fn h264_and_ac3() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["-c:v", "libx264", "-c:a", "ac3", "-ac", "6"];
    let index = made(dir.path(), "ac3.mp4", &args, &[0, 1]);
    let a = index.track(2).unwrap();
    assert_eq!((a.codec, a.rate, a.channels), (Some(Codec::Ac3), 44_100, 6));
    assert_eq!(a.codec_string, "ac-3");
    let dac3 = crate::media::ac3::parse_dac3(&a.init).unwrap();
    assert_eq!((dac3.acmod, dac3.lfeon), (7, true));
    // Every sample is one whole syncframe.
    let path = dir.path().join("ac3.mp4");
    let mut file = File::open(&path).unwrap();
    for i in (0..index.entries.len()).filter(|&i| index.entries[i].track == 2) {
        let p = read_packet(&mut file, &index, i);
        let h = crate::media::ac3::parse_header(&p.data).unwrap();
        assert_eq!(h.frame_len, p.data.len());
    }
    assert!(index.skipped.is_empty(), "{:?}", index.skipped);
    let args = ["-c:v", "libx264", "-c:a", "ac3", "-ac", "2"];
    let mov = made(dir.path(), "ac3.mov", &args, &[0, 1]);
    assert_eq!(mov.track(2).unwrap().channels, 2);
}

/// A damaged or E-AC-3 `dac3` skips the track, not the file.
#[test]
fn damaged_dac3_skips_the_track() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["-c:v", "libx264", "-c:a", "ac3", "-t", "1"];
    let path = ffmpeg(dir.path(), "a.mp4", &[AV, &args[..]].concat());
    let file = std::fs::read(&path).unwrap();
    let at = file.windows(4).position(|w| w == b"dac3").unwrap() + 4;
    for (patch, why) in [(0xC0u8, "damaged dac3"), (0x20, "E-AC-3")] {
        let mut bad = file.clone();
        bad[at] = patch;
        let out = dir.path().join("bad.mp4");
        std::fs::write(&out, &bad).unwrap();
        let index = index_file(&out).unwrap();
        assert_eq!(index.tracks.len(), 1);
        assert_eq!(index.skipped.len(), 1);
        assert!(index.skipped[0].contains(why), "{:?}", index.skipped);
    }
}

#[test]
fn all_intra_audio_only_and_delayed_audio() {
    let dir = tempfile::tempdir().unwrap();
    let intra = made(
        dir.path(),
        "intra.mp4",
        &["-c:v", "libx264", "-g", "1", "-an"],
        &[0],
    );
    assert!(intra.entries.iter().all(|e| e.keyframe));
    let m4a = made(dir.path(), "audio.m4a", &["-vn", "-c:a", "aac"], &[0]);
    assert_eq!(m4a.main_track(), Some(1));
    // Audio starting 1 s late: a leading empty edit.
    let args = [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-itsoffset",
        "1",
        "-f",
        "lavfi",
        "-i",
        "sine=r=48000",
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
    ];
    let path = ffmpeg(dir.path(), "late.mp4", &args);
    let late = index_file(&path).unwrap();
    check_against_probe(&path, &late, &[0, 1]);
    let audio = late.track(2).unwrap();
    // 1 s less the AAC priming frame, as ffprobe has it.
    assert!((970..=1000).contains(&audio.firstms), "{audio:?}");
}

/// Negative composition offsets (ctts and trun version 1): presentation times as the file
/// has them, decode times moved earlier. ffmpeg moves the presentation times of fragments
/// later instead (by the largest negative offset), so times are checked here, not against it.
#[test]
fn negative_composition_offsets() {
    let dir = tempfile::tempdir().unwrap();
    for (i, flags) in [
        "+negative_cts_offsets",
        "+frag_keyframe+negative_cts_offsets",
        "+frag_keyframe+empty_moov+negative_cts_offsets",
    ]
    .into_iter()
    .enumerate()
    {
        let mut args = AV.to_vec();
        args.extend(["-c:v", "libx264", "-g", "25", "-an", "-movflags", flags]);
        let path = ffmpeg(dir.path(), &format!("neg{i}.mp4"), &args);
        let index = index_file(&path).unwrap();
        check_probed(&path, &index, &[0], false);
        let mut shown: Vec<i64> = index
            .entries
            .iter()
            .map(|e| e.time + i64::from(e.offset))
            .collect();
        assert!(index.entries.iter().all(|e| e.offset >= 0), "{flags}");
        assert!(
            index
                .entries
                .windows(2)
                .all(|w| w[1].time - w[0].time == 40),
            "{flags}"
        );
        shown.sort();
        assert_eq!(
            shown,
            (0..150).map(|f| f * 40).collect::<Vec<_>>(),
            "{flags}"
        );
    }
}

#[test]
fn quicktime_sound_description_version_2() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "-f",
        "lavfi",
        "-i",
        "sine=r=96000",
        "-t",
        "2",
        "-c:a",
        "aac",
        "-f",
        "mov",
    ];
    let path = ffmpeg(dir.path(), "v2.mov", &args);
    let index = index_file(&path).unwrap();
    check_against_probe(&path, &index, &[0]);
    assert_eq!(
        (index.tracks[0].rate, index.tracks[0].channels),
        (96_000, 1)
    );
}

// ---- rewritten files: the box forms ffmpeg does not write for short files ----------------

/// A box of a file, for rewriting: a container's children or a leaf's body.
pub(super) enum Node {
    Leaf([u8; 4], Vec<u8>),
    Parent([u8; 4], Vec<Node>),
}

pub(super) fn parse(buf: &[u8]) -> Vec<Node> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= buf.len() {
        let size = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = buf[at + 4..at + 8].try_into().unwrap();
        let body = &buf[at + 8..at + size];
        out.push(match &kind {
            b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" | b"edts" => {
                Node::Parent(kind, parse(body))
            }
            _ => Node::Leaf(kind, body.to_vec()),
        });
        at += size;
    }
    out
}

pub(super) fn write(nodes: &[Node], out: &mut Vec<u8>) {
    for node in nodes {
        let start = out.len();
        out.extend([0; 4]);
        match node {
            Node::Leaf(kind, body) => {
                out.extend(kind);
                out.extend(body);
            }
            Node::Parent(kind, kids) => {
                out.extend(kind);
                write(kids, out);
            }
        }
        let size = (out.len() - start) as u32;
        out[start..start + 4].copy_from_slice(&size.to_be_bytes());
    }
}

/// Rewrites every leaf with `f` (which may rename it).
pub(super) fn rewrite(nodes: &mut [Node], f: &mut dyn FnMut(&mut [u8; 4], &mut Vec<u8>)) {
    for node in nodes {
        match node {
            Node::Leaf(kind, body) => f(kind, body),
            Node::Parent(_, kids) => rewrite(kids, f),
        }
    }
}

pub(super) fn be(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// The file made wider: `co64` for `stco`, `stz2` (16-bit) for `stsz`, version 1 `elst`,
/// `ctts` and `mdhd`, a `largesize` moov.
fn widen(file: &[u8]) -> Vec<u8> {
    let mut nodes = parse(file);
    rewrite(&mut nodes, &mut |kind, body| match &*kind {
        b"stco" => {
            let n = be(body, 4) as usize;
            let mut wide = body[..8].to_vec();
            for i in 0..n {
                wide.extend(u64::from(be(body, 8 + 4 * i)).to_be_bytes());
            }
            *kind = *b"co64";
            *body = wide;
        }
        b"stsz" if be(body, 4) == 0 => {
            let n = be(body, 8) as usize;
            let mut small = vec![0, 0, 0, 0, 0, 0, 0, 16];
            small.extend((n as u32).to_be_bytes());
            for i in 0..n {
                small.extend(u16::try_from(be(body, 12 + 4 * i)).unwrap().to_be_bytes());
            }
            *kind = *b"stz2";
            *body = small;
        }
        b"elst" => {
            let n = be(body, 4) as usize;
            let mut wide = vec![1, 0, 0, 0];
            wide.extend((n as u32).to_be_bytes());
            for i in 0..n {
                let e = 8 + 12 * i;
                wide.extend(u64::from(be(body, e)).to_be_bytes());
                wide.extend(i64::from(be(body, e + 4) as i32).to_be_bytes());
                wide.extend(&body[e + 8..e + 12]);
            }
            *body = wide;
        }
        b"ctts" => body[0] = 1,
        b"mdhd" => {
            let mut wide = vec![1, 0, 0, 0];
            wide.extend(u64::from(be(body, 4)).to_be_bytes());
            wide.extend(u64::from(be(body, 8)).to_be_bytes());
            wide.extend(&body[12..16]);
            wide.extend(u64::from(be(body, 16)).to_be_bytes());
            wide.extend(&body[20..]);
            *body = wide;
        }
        _ => {}
    });
    let mut out = Vec::new();
    write(&nodes, &mut out);
    // The moov (last) with a largesize header.
    let moov = out.windows(4).rposition(|w| w == b"moov").unwrap() - 4;
    let size = be(&out, moov) as u64 + 8;
    let mut head = 1u32.to_be_bytes().to_vec();
    head.extend(b"moov");
    head.extend(size.to_be_bytes());
    out.splice(moov..moov + 8, head);
    out
}

#[test]
fn wide_boxes_index_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["-c:v", "libx264", "-g", "50", "-c:a", "aac"];
    let index = made(dir.path(), "plain.mp4", &args, &[0, 1]);
    let plain = std::fs::read(dir.path().join("plain.mp4")).unwrap();
    // ffmpeg leaves an 8-byte `free` before `mdat`, for a largesize mdat header.
    let free = plain.windows(4).position(|w| w == b"free").unwrap() - 4;
    assert_eq!(&plain[free + 12..free + 16], b"mdat");
    let mdat = be(&plain, free + 8) as u64 + 8;
    let mut wide = widen(&plain);
    let mut head = 1u32.to_be_bytes().to_vec();
    head.extend(b"mdat");
    head.extend(mdat.to_be_bytes());
    wide.splice(free..free + 16, head);
    let path = dir.path().join("wide.mp4");
    std::fs::write(&path, &wide).unwrap();
    let again = index_file(&path).unwrap();
    check_against_probe(&path, &again, &[0, 1]);
    assert_eq!(again.entries, index.entries);
    assert_eq!(again.tracks, index.tracks);
    for kind in [b"co64", b"stz2", b"elst"] {
        assert!(wide.windows(4).any(|w| w == kind));
    }
}

#[test]
fn mdat_running_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["-c:v", "libx264", "-c:a", "aac", "-movflags", "+faststart"];
    let index = made(dir.path(), "first.mp4", &args, &[0, 1]);
    let mut file = std::fs::read(dir.path().join("first.mp4")).unwrap();
    let mdat = file.windows(4).rposition(|w| w == b"mdat").unwrap() - 4;
    file[mdat..mdat + 4].copy_from_slice(&[0; 4]);
    let path = dir.path().join("zero.mp4");
    std::fs::write(&path, &file).unwrap();
    assert_eq!(index_file(&path).unwrap().entries, index.entries);
}

/// The figures for a 2-hour 2.5 Mbit/s MP4 (made here from a 60 s clip by looping it with
/// stream copy, deleted afterwards): scan time, entries, stored size, read-back time. Run with
/// `cargo test --release --lib two_hour_file_figures -- --ignored --nocapture`.
#[test]
#[ignore = "makes a 2.2 GB file; run by hand for the figures"]
fn two_hour_file_figures() {
    use std::time::Instant;
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let clip_args = [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1280x720:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=r=48000",
        "-t",
        "60",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-b:v",
        "2372k",
        "-maxrate",
        "2372k",
        "-bufsize",
        "5000k",
        "-g",
        "50",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
    ];
    let clip = ffmpeg(dir.path(), "clip.mp4", &clip_args);
    let clip = clip.to_str().unwrap();
    let args = ["-stream_loop", "-1", "-i", clip, "-t", "7200", "-c", "copy"];
    let path = ffmpeg(dir.path(), "two-hours.mp4", &args);
    let len = std::fs::metadata(&path).unwrap().len();
    let started = Instant::now();
    let index = index_file(&path).unwrap();
    let scanned = started.elapsed();
    let stamp = FileStamp {
        len,
        modified_ns: 1,
    };
    let started = Instant::now();
    let stored = store::to_bytes(&index, stamp);
    let written = started.elapsed();
    let started = Instant::now();
    let back = store::from_bytes(&stored, stamp).unwrap();
    let read = started.elapsed();
    assert_eq!(back, index);
    let in_memory = index.entries.len() * std::mem::size_of::<IndexEntry>();
    eprintln!(
        "file {len} bytes, {} ms long, {} bit/s; scan {scanned:?}; {} entries ({in_memory} \
         bytes in memory); stored index {} bytes, written in {written:?}, read back in {read:?}",
        index.duration_ms(),
        len * 8000 / index.duration_ms() as u64,
        index.entries.len(),
        stored.len(),
    );
}
