//! Matroska and WebM files made by ffmpeg, indexed and checked against ffprobe; files rewritten
//! here into the forms ffmpeg does not write (unknown-size Clusters, laced blocks, BlockGroups);
//! damaged, truncated and random files.

use std::process::Stdio;

use super::*;

const AV: &[&str] = &[
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=320x240:rate=25",
    "-f",
    "lavfi",
    "-i",
    "sine=r=48000",
    "-t",
    "4",
];

/// Makes `name` from the test sources with `args` after them, indexes it, and checks it
/// against ffprobe (`streams[k]` is track k + 1).
fn made(dir: &Path, name: &str, args: &[&str], streams: &[usize]) -> Index {
    let mut all = AV.to_vec();
    all.extend(args);
    let path = ffmpeg(dir, name, &all);
    let index = index_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(index.container, Container::Matroska);
    check_against_probe(&path, &index, streams);
    index
}

/// Every decode time at or before its presentation time, decode times in order per track.
fn check_decode_order(index: &Index) {
    for t in &index.tracks {
        let mine: Vec<&IndexEntry> = index.entries.iter().filter(|e| e.track == t.id).collect();
        assert!(mine.iter().all(|e| e.offset >= 0), "{t:?}");
        assert!(mine.windows(2).all(|w| w[0].time <= w[1].time), "{t:?}");
    }
}

#[test]
fn h264_with_b_frames_and_aac() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["-c:v", "libx264", "-bf", "3", "-g", "50", "-c:a", "aac"];
    let index = made(dir.path(), "av.mkv", &args, &[0, 1]);
    let v = &index.tracks[0];
    assert_eq!(
        (v.codec, v.width, v.height, v.fpks),
        (Some(Codec::H264), 320, 240, 25_000)
    );
    assert!(v.codec_string.starts_with("avc1.64"), "{}", v.codec_string);
    assert_eq!(v.lang, "");
    let a = &index.tracks[1];
    assert_eq!((a.codec, a.rate, a.channels), (Some(Codec::Aac), 48_000, 1));
    assert_eq!(a.codec_string, "mp4a.40.2");
    assert_eq!(index.source_ids, vec![1, 2]);
    check_decode_order(&index);
    // B-frames: composition offsets, and the first frame decodes before it shows.
    assert!(index.entries.iter().any(|e| e.track == 1 && e.offset > 0));
    let first = index.entries.iter().find(|e| e.track == 1).unwrap();
    assert!(first.keyframe && first.offset > 0, "{first:?}");
    let key = index.entries[index.seek(2500)];
    assert!(
        key.keyframe && key.track == 1 && key.time <= 2500,
        "{key:?}"
    );
}

#[test]
fn vp9_and_opus_in_webm() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-g",
        "50",
        "-c:a",
        "libopus",
    ];
    let index = made(dir.path(), "av.webm", &args, &[0, 1]);
    let v = &index.tracks[0];
    assert_eq!((v.codec, v.width, v.height), (Some(Codec::Vp9), 320, 240));
    assert!(v.codec_string.starts_with("vp09.00."), "{}", v.codec_string);
    let a = &index.tracks[1];
    assert_eq!(
        (a.codec, a.rate, a.channels),
        (Some(Codec::Opus), 48_000, 1)
    );
    assert!(a.init.starts_with(b"OpusHead"));
    // CodecDelay (6.5 ms) is taken off the Opus frames' times, as ffprobe does.
    assert_eq!(a.firstms, -6);
}

#[test]
fn av1_when_ffmpeg_can_encode_it() {
    let encoders = Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&encoders.stdout);
    let encoder = if list.contains("libsvtav1") {
        "libsvtav1"
    } else if list.contains("libaom-av1") {
        "libaom-av1"
    } else {
        return; // this ffmpeg has no AV1 encoder
    };
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["-c:v", encoder, "-g", "50", "-an"];
    if encoder == "libaom-av1" {
        args.extend(["-cpu-used", "8"]);
    }
    let index = made(dir.path(), "av1.mkv", &args, &[0]);
    let v = &index.tracks[0];
    assert_eq!((v.codec, v.width, v.height), (Some(Codec::Av1), 320, 240));
    assert!(v.codec_string.starts_with("av01.0."), "{}", v.codec_string);
    assert_eq!(v.init[0], 0x81);
}

#[test]
fn hevc_and_ac3() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "-c:v",
        "libx265",
        "-x265-params",
        "log-level=error",
        "-c:a",
        "ac3",
        "-metadata:s:a",
        "language=fra",
    ];
    let index = made(dir.path(), "hevc.mkv", &args, &[0, 1]);
    let v = &index.tracks[0];
    assert_eq!((v.codec, v.width, v.height), (Some(Codec::Hevc), 320, 240));
    assert!(v.codec_string.starts_with("hvc1.1."), "{}", v.codec_string);
    let a = &index.tracks[1];
    assert_eq!((a.codec, a.rate, a.channels), (Some(Codec::Ac3), 48_000, 1));
    assert_eq!((a.codec_string.as_str(), a.lang.as_str()), ("ac-3", "fra"));
    check_decode_order(&index);
}

#[test]
fn mp3_and_vorbis_in_mka_and_a_skipped_track() {
    let dir = tempfile::tempdir().unwrap();
    let mp3 = made(dir.path(), "mp3.mka", &["-vn", "-c:a", "libmp3lame"], &[0]);
    let a = &mp3.tracks[0];
    assert_eq!((a.codec, a.rate, a.channels), (Some(Codec::Mp3), 48_000, 1));
    assert_eq!(mp3.main_track(), Some(1));
    let vorbis = made(
        dir.path(),
        "vorbis.mka",
        &["-vn", "-c:a", "libvorbis"],
        &[0],
    );
    let a = &vorbis.tracks[0];
    assert_eq!(
        (a.codec, a.rate, a.channels),
        (Some(Codec::Vorbis), 48_000, 1)
    );
    assert_eq!(a.init[0], 2, "three Xiph-laced headers");
    // A subtitle track is named, not carried.
    let srt = dir.path().join("subs.srt");
    std::fs::write(&srt, "1\n00:00:00,000 --> 00:00:01,000\nhello\n").unwrap();
    let mut args = AV.to_vec();
    args.extend([
        "-i",
        srt.to_str().unwrap(),
        "-t",
        "4",
        "-map",
        "1:a",
        "-map",
        "2",
    ]);
    args.extend(["-c:a", "aac", "-c:s", "srt"]);
    let path = ffmpeg(dir.path(), "subs.mkv", &args);
    let index = index_file(&path).unwrap();
    check_against_probe(&path, &index, &[0]);
    assert_eq!(index.skipped, vec!["track 2: S_TEXT/UTF8".to_string()]);
}

// ---- files rewritten: EBML elements by hand ------------------------------------------------

/// An element: id bytes, then the size as an 8-byte VINT (or unknown), then the data.
fn element(id: &[u8], data: &[u8], unknown: bool) -> Vec<u8> {
    let mut out = id.to_vec();
    let size = if unknown {
        (1u64 << 56) - 1
    } else {
        data.len() as u64
    };
    out.push(0x01);
    out.extend(&size.to_be_bytes()[1..]);
    out.extend(data);
    out
}

/// An element header at `at`: id length, data start, data length (`None` = unknown).
fn header_at(file: &[u8], at: usize) -> (usize, usize, Option<usize>) {
    let id_len = file[at].leading_zeros() as usize + 1;
    let first = file[at + id_len];
    let n = first.leading_zeros() as usize + 1;
    let mut v = u64::from(first) & (0xFF >> n);
    for &b in &file[at + id_len + 1..at + id_len + n] {
        v = (v << 8) | u64::from(b);
    }
    let unknown = v == (1u64 << (7 * n)) - 1;
    (id_len, at + id_len + n, (!unknown).then_some(v as usize))
}

/// An element as `(id bytes, data)`.
type Element = (Vec<u8>, Vec<u8>);

/// The top-level elements of a file's Segment: `(id bytes, data)`.
fn segment_children(file: &[u8]) -> (Vec<u8>, Vec<Element>) {
    let (_, data, size) = header_at(file, 0);
    let ebml = file[..data + size.unwrap()].to_vec();
    let (_, mut at, _) = header_at(file, ebml.len());
    let mut out = Vec::new();
    while at < file.len() {
        let (id_len, data, size) = header_at(file, at);
        let size = size.unwrap();
        out.push((
            file[at..at + id_len].to_vec(),
            file[data..data + size].to_vec(),
        ));
        at = data + size;
    }
    (ebml, out)
}

const CLUSTER: &[u8] = &[0x1F, 0x43, 0xB6, 0x75];
const SEGMENT: &[u8] = &[0x18, 0x53, 0x80, 0x67];

/// A live-written WebM (ffmpeg to a pipe: a Segment of unknown size), its Clusters then
/// rewritten to unknown sizes too.
#[test]
fn live_webm_with_unknown_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.webm");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error"])
        .args(AV)
        .args(["-c:v", "libvpx-vp9", "-deadline", "realtime", "-g", "25"])
        .args(["-c:a", "libopus", "-live", "1", "-f", "webm", "pipe:1"])
        .stdout(Stdio::from(File::create(&live).unwrap()))
        .status()
        .unwrap();
    assert!(status.success());
    let file = std::fs::read(&live).unwrap();
    let (_, data, size) = header_at(&file, 0);
    assert_eq!(
        header_at(&file, data + size.unwrap()).2,
        None,
        "Segment size unknown"
    );
    let index = index_file(&live).unwrap();
    check_against_probe(&live, &index, &[0, 1]);
    let (ebml, kids) = segment_children(&file);
    let mut out = ebml;
    out.extend(element(SEGMENT, &[], true));
    let mut clusters = 0;
    for (id, data) in &kids {
        out.extend(element(id, data, id == CLUSTER));
        clusters += usize::from(id == CLUSTER);
    }
    assert!(clusters > 2, "{clusters}");
    let path = dir.path().join("unknown.webm");
    std::fs::write(&path, &out).unwrap();
    let again = index_file(&path).unwrap();
    check_against_probe(&path, &again, &[0, 1]);
    assert_eq!(again.entries.len(), index.entries.len());
}

/// The block header of `track` (1-byte number) at `rel` ms with `flags`.
fn block_head(track: u8, rel: i16, flags: u8) -> Vec<u8> {
    let mut out = vec![0x80 | track];
    out.extend(rel.to_be_bytes());
    out.push(flags);
    out
}

/// An MP3 .mka rewritten with its frames laced three at a time (Xiph, EBML and fixed lacing
/// in turn) in BlockGroups with a BlockDuration (`groups`) or SimpleBlocks without one.
fn laced(original: &[u8], index: &Index, groups: bool) -> Vec<u8> {
    let (ebml, kids) = segment_children(original);
    let mut segment = Vec::new();
    for (id, data) in &kids {
        if id != CLUSTER && id[0] != 0x1C && id[0] != 0x11 {
            segment.extend(element(id, data, false)); // Info, Tracks, Tags
        }
    }
    let frame = |e: &IndexEntry| &original[e.pos as usize..e.pos as usize + e.size as usize];
    let mut cluster = element(&[0xE7], &[0], false);
    for (n, lace) in index.entries.chunks(3).enumerate() {
        let same = lace.iter().all(|e| e.size == lace[0].size);
        // (ffmpeg reads a first size even in an EBML lace of one frame: no lone frame is
        // laced here.)
        let kind = match n % 3 {
            _ if lace.len() == 1 => 0u8,
            2 if same => 2,
            2 | 1 => 3,
            _ => 1,
        };
        let rel = i16::try_from(lace[0].time).unwrap();
        let mut body = block_head(1, rel, (kind << 1) | if groups { 0 } else { 0x80 });
        if kind != 0 {
            body.push(lace.len() as u8 - 1);
        }
        let sizes: Vec<u32> = lace.iter().map(|e| e.size).collect();
        match kind {
            1 => {
                for &s in &sizes[..sizes.len() - 1] {
                    body.extend(std::iter::repeat_n(255, s as usize / 255));
                    body.push((s % 255) as u8);
                }
            }
            3 => {
                body.extend([0x40 | (sizes[0] >> 8) as u8, sizes[0] as u8]);
                for w in sizes[..sizes.len() - 1].windows(2) {
                    let diff = i64::from(w[1]) - i64::from(w[0]) + 8191;
                    body.extend([0x40 | (diff >> 8) as u8, diff as u8]);
                }
            }
            _ => {}
        }
        for e in lace {
            body.extend(frame(e));
        }
        if groups {
            let mut group = element(&[0xA1], &body, false);
            group.extend(element(&[0x9B], &[24 * lace.len() as u8], false));
            cluster.extend(element(&[0xA0], &group, false));
        } else {
            cluster.extend(element(&[0xA3], &body, false));
        }
    }
    segment.extend(element(CLUSTER, &cluster, false));
    let mut out = ebml;
    out.extend(element(SEGMENT, &segment, false));
    out
}

#[test]
fn laced_blocks_in_simple_blocks_and_block_groups() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["-vn", "-c:a", "libmp3lame", "-t", "2"];
    let plain = made(dir.path(), "mp3.mka", &args, &[0]);
    let original = std::fs::read(dir.path().join("mp3.mka")).unwrap();
    for groups in [false, true] {
        let path = dir.path().join(format!("laced-{groups}.mka"));
        std::fs::write(&path, laced(&original, &plain, groups)).unwrap();
        let index = index_file(&path).unwrap();
        if groups {
            check_against_probe(&path, &index, &[0]);
        }
        // Without a duration, laced MP3 frames follow each other 1152 samples apart.
        let times = |i: &Index| {
            i.entries
                .iter()
                .map(|e| (e.time, e.size))
                .collect::<Vec<_>>()
        };
        assert_eq!(times(&index), times(&plain), "groups {groups}");
    }
}
