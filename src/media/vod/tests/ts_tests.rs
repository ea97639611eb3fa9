//! TS indexing checked against ffprobe and a sequential demux of the same file (files made by
//! ffmpeg in a temp dir), and with damaged input. The helpers here (ffprobe comparisons for
//! payloads that are not the file's bytes, reading packets back from memory, damaged copies of
//! a file) serve the FLV and MP3 tests too; the ones in `vod/tests.rs` are used where they fit.

use std::fs::File;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::super::super::bits::tests::XorShift;
use super::super::super::ts::{TsDemuxer, TsEvent};
use super::super::super::{Codec, Packet, TrackKind};
use super::super::tests::{ffmpeg, index_file, probe, read_packet, ProbePacket};
use super::super::{packet, scan, Container, Index, VodError};

// ---- Shared helpers -------------------------------------------------------------------------

/// ffmpeg writing `dir/name`, with its arguments as one string.
pub(in crate::media::vod) fn make(dir: &Path, name: &str, args: &str) -> PathBuf {
    ffmpeg(dir, name, &args.split_whitespace().collect::<Vec<_>>())
}

/// Indexes a file on disk as the file input does (detecting the container).
pub(in crate::media::vod) fn scan_file(path: &Path) -> Index {
    index_file(path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Indexes bytes in memory.
pub(in crate::media::vod) fn scan_bytes(
    container: Container,
    data: &[u8],
) -> Result<Index, VodError> {
    scan(container, &mut Cursor::new(data), data.len() as u64)
}

/// Every packet of an index, read back from `data` as a viewer would (`raw_len` bytes at
/// `pos`); errors are returned, not unwrapped.
pub(in crate::media::vod) fn read_packets(
    index: &Index,
    data: &[u8],
) -> Vec<Result<Packet, VodError>> {
    (0..index.entries.len())
        .map(|i| {
            let e = index.entries[i];
            let raw = data
                .get(e.pos as usize..(e.pos + u64::from(e.raw_len)) as usize)
                .ok_or_else(|| VodError::BadIndex(format!("entry {i} past the end")))?;
            packet(index, i, Bytes::copy_from_slice(raw))
        })
        .collect()
}

/// Every packet of an index, read from the file with seeks.
pub(in crate::media::vod) fn read_file_packets(index: &Index, path: &Path) -> Vec<Packet> {
    let mut file = File::open(path).unwrap();
    (0..index.entries.len())
        .map(|i| read_packet(&mut file, index, i))
        .collect()
}

/// Checks track `id` of the index against ffprobe's packets of `stream` where the payloads
/// differ (ADTS headers, Annex B) and ffprobe's times do not start at 0: the same count,
/// decode and presentation times within 1 ms (ffprobe's taken from `base`, ms), the same
/// keyframes and, when `size_delta` is given, sizes differing by exactly it (ffprobe's minus
/// ours).
pub(in crate::media::vod) fn compare_with_probe(
    index: &Index,
    packets: &[ProbePacket],
    (id, stream): (u32, usize),
    base: f64,
    size_delta: Option<u32>,
) {
    let ours: Vec<_> = index.entries.iter().filter(|e| e.track == id).collect();
    let theirs: Vec<_> = packets.iter().filter(|p| p.stream == stream).collect();
    assert_eq!(ours.len(), theirs.len(), "track {id}: packet count");
    for (n, (e, p)) in ours.iter().zip(&theirs).enumerate() {
        let what = format!("track {id} packet {n}: {e:?} vs {p:?}");
        let (dts, pts) = (p.dts - base, p.pts - base);
        assert!((e.time as f64 - dts).abs() <= 1.0, "{what}: decode time");
        let our_pts = (e.time + i64::from(e.offset)) as f64;
        assert!((our_pts - pts).abs() <= 1.0, "{what}: presentation time");
        assert_eq!(e.keyframe, p.keyframe, "{what}: keyframe");
        if let Some(delta) = size_delta {
            assert_eq!(e.size + delta, p.size, "{what}: size");
        }
    }
}

/// Damaged copies of `file`: cut at many lengths, bytes flipped at random places, and a run of
/// random bytes written over its middle.
pub(in crate::media::vod) fn damaged(file: &[u8]) -> Vec<Vec<u8>> {
    let mut rng = XorShift(0x5EED);
    let mut out = Vec::new();
    let step = (file.len() / 23).max(1);
    for cut in (0..file.len())
        .step_by(step)
        .chain([1, 7, 12, 13, 200, 376])
    {
        out.push(file[..cut.min(file.len())].to_vec());
    }
    for _ in 0..12 {
        let mut copy = file.to_vec();
        for _ in 0..20 {
            let at = (rng.next_u64() % copy.len().max(1) as u64) as usize;
            if let Some(b) = copy.get_mut(at) {
                *b ^= 1 << (rng.next_u64() % 8);
            }
        }
        out.push(copy);
    }
    let mut copy = file.to_vec();
    let mid = copy.len() / 2;
    for b in copy.iter_mut().skip(mid).take(5000) {
        *b = rng.next_u64() as u8;
    }
    out.push(copy);
    out
}

/// Scans every damaged copy of `file` (an error is fine, a panic is not) and reads back every
/// packet of what it indexes: each is there, the size the index says.
pub(in crate::media::vod) fn survives_damage(container: Container, file: &[u8]) {
    for (n, copy) in damaged(file).into_iter().enumerate() {
        let Ok(index) = scan_bytes(container, &copy) else {
            continue;
        };
        for (i, p) in read_packets(&index, &copy).into_iter().enumerate() {
            let p = p.unwrap_or_else(|e| panic!("copy {n}, entry {i}: {e}"));
            assert_eq!(p.data.len(), index.entries[i].size as usize);
        }
    }
}

/// Random bytes of a few sizes are refused with an error.
pub(in crate::media::vod) fn refuses_noise(container: Container) {
    let mut rng = XorShift(7);
    for len in [0usize, 1, 100, 5000, 200_000] {
        let noise: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        assert!(scan_bytes(container, &noise).is_err(), "{len} random bytes");
    }
}

// ---- TS -------------------------------------------------------------------------------------

/// The file demuxed from start to end: each track's packets, by the demuxer's track ids.
fn sequential(file: &[u8]) -> Vec<Packet> {
    let mut demuxer = TsDemuxer::new();
    demuxer.push(file);
    demuxer.finish();
    let mut out = Vec::new();
    while let Some(event) = demuxer.pull() {
        if let Ok(TsEvent::Packet(p)) = event {
            out.push(p);
        }
    }
    out
}

/// Index, ffprobe and a sequential demux agree on an ffmpeg TS file of video (stream 0) and
/// audio (stream 1); returns the index.
fn check_ts(path: &Path, audio_size_delta: Option<u32>) -> Index {
    let index = scan_file(path);
    assert_eq!(index.container, Container::Ts);
    let (_, probed) = probe(path);
    let base = probed.iter().map(|p| p.dts).fold(f64::INFINITY, f64::min);
    compare_with_probe(&index, &probed, (1, 0), base, None);
    compare_with_probe(&index, &probed, (2, 1), base, audio_size_delta);
    // Every payload equals the sequential demux's, in order, per track.
    let file = std::fs::read(path).unwrap();
    let read = read_file_packets(&index, path);
    let whole = sequential(&file);
    for track in &index.tracks {
        let ours: Vec<&Packet> = read.iter().filter(|p| p.track == track.id).collect();
        let theirs: Vec<&Packet> = whole.iter().filter(|p| p.track == track.id).collect();
        assert_eq!(ours.len(), theirs.len());
        let video = track.kind() == Some(TrackKind::Video);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a.data, b.data);
            assert_eq!(a.offset, b.offset);
            // The demuxer marks no audio frame as a keyframe; the index marks them all.
            assert_eq!(a.keyframe, b.keyframe || !video);
        }
    }
    // Spans: from the track's packet that starts the PES to one of its packets, whole
    // transport packets.
    assert_eq!(index.source_ids.len(), index.tracks.len());
    let pid_at = |at: usize| (u32::from(file[at + 1] & 0x1F) << 8) | u32::from(file[at + 2]);
    for e in &index.entries {
        let (start, end) = (e.pos as usize, (e.pos + u64::from(e.raw_len)) as usize);
        let pid = index.source_ids[e.track as usize - 1];
        assert_eq!(file[start], 0x47);
        assert_eq!(file[start + 1] & 0x40, 0x40, "payload_unit_start_indicator");
        assert_eq!((pid_at(start), pid_at(end - 188)), (pid, pid), "{e:?}");
        assert_eq!(e.raw_len % 188, 0, "{e:?}");
    }
    index
}

#[test]
fn h264_aac_ts_against_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "a.ts",
        "-f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=sample_rate=44100 -t 6 \
         -c:v libx264 -g 50 -bf 2 -c:a aac -b:a 128k -f mpegts",
    );
    let index = check_ts(&path, Some(7));
    let (v, a) = (&index.tracks[0], &index.tracks[1]);
    assert_eq!((v.codec, v.width, v.height), (Some(Codec::H264), 320, 240));
    assert_eq!((a.codec, a.rate, a.channels), (Some(Codec::Aac), 44100, 1));
    assert_eq!(index.source_ids, vec![0x100, 0x101]);
    // Times start at 0 although ffmpeg starts TS at 1.4 s; the video has B-frames.
    assert_eq!(index.entries.iter().map(|e| e.time).min(), Some(0));
    assert!(index.entries.iter().any(|e| e.offset > 0));
    // A keyframe every 2 s.
    let starts = index.start_times();
    assert_eq!(starts.len(), 3);
    assert_eq!((starts[1] - starts[0], starts[2] - starts[0]), (2000, 4000));
    // Several AAC frames share a PES: one entry each, with the PES's span.
    let audio: Vec<_> = index.entries.iter().filter(|e| e.track == a.id).collect();
    assert!(audio.windows(2).any(|w| w[0].pos == w[1].pos));
    assert!(
        index.duration_ms() >= 5900 && index.duration_ms() <= 6100,
        "{}",
        index.duration_ms()
    );
}

#[test]
fn hevc_mp3_ts_against_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "hevc.ts",
        "-f lavfi -i testsrc2=size=176x100:rate=25 -f lavfi -i sine=sample_rate=48000 -t 3 \
         -c:v libx265 -x265-params log-level=error:keyint=25 -c:a libmp3lame -b:a 64k -f mpegts",
    );
    let index = check_ts(&path, Some(0));
    assert_eq!(index.tracks[0].codec, Some(Codec::Hevc));
    assert_eq!(index.tracks[1].codec, Some(Codec::Mp3));
    assert_eq!(index.start_times().len(), 3);
}

#[test]
fn h264_ac3_ts_against_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "ac3.ts",
        "-f lavfi -i testsrc2=size=160x120:rate=25 -f lavfi -i sine=sample_rate=48000 -t 3 \
         -c:v libx264 -g 25 -c:a ac3 -ac 6 -f mpegts",
    );
    let index = check_ts(&path, Some(0));
    let a = &index.tracks[1];
    assert_eq!((a.codec, a.rate, a.channels), (Some(Codec::Ac3), 48_000, 6));
    assert_eq!(a.codec_string, "ac-3");
    assert!(index.skipped.is_empty(), "{:?}", index.skipped);
    // 1536 samples at 48 kHz: 32 ms a syncframe.
    let audio: Vec<_> = index.entries.iter().filter(|e| e.track == a.id).collect();
    assert!(audio.windows(2).all(|w| w[1].time - w[0].time == 32));
    // Only AC-3 indexes too.
    let path = make(
        dir.path(),
        "only.ts",
        "-f lavfi -i sine -t 1 -c:a ac3 -f mpegts",
    );
    let index = scan_file(&path);
    assert_eq!(index.tracks.len(), 1);
    assert_eq!(index.tracks[0].codec, Some(Codec::Ac3));
}

#[test]
fn eac3_is_named_as_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "eac3.ts",
        "-f lavfi -i testsrc2=size=160x120:rate=25 -f lavfi -i sine -t 1 -map 0 -map 1 -map 1 \
         -c:v libx264 -c:a:0 eac3 -c:a:1 aac -f mpegts",
    );
    let index = scan_file(&path);
    assert_eq!(index.tracks.len(), 2);
    assert_eq!(index.tracks[1].codec, Some(Codec::Aac));
    assert_eq!(index.skipped.len(), 1);
    assert!(index.skipped[0].contains("E-AC-3"), "{:?}", index.skipped);
    // Only E-AC-3: no track to carry.
    let path = make(
        dir.path(),
        "only.ts",
        "-f lavfi -i sine -t 1 -c:a eac3 -f mpegts",
    );
    let mut file = File::open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    match scan(Container::Ts, &mut file, len) {
        Err(VodError::NoTracks(why)) => assert!(why.contains("E-AC-3"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn timestamps_across_the_33_bit_wrap() {
    let dir = tempfile::tempdir().unwrap();
    // Starts 2 s before 2^33 ticks (95443.7 s).
    let path = make(
        dir.path(),
        "wrap.ts",
        "-f lavfi -i testsrc2=size=160x120:rate=25 -f lavfi -i sine -t 4 -c:v libx264 -g 25 \
         -c:a aac -output_ts_offset 95441.7 -f mpegts",
    );
    let index = scan_file(&path);
    let video: Vec<i64> = index
        .entries
        .iter()
        .filter(|e| e.track == 1)
        .map(|e| e.time)
        .collect();
    assert_eq!(video.len(), 100);
    assert!(video.windows(2).all(|w| w[1] - w[0] == 40), "{video:?}");
    assert!(index.duration_ms() < 4200, "{}", index.duration_ms());
    assert!(read_file_packets(&index, &path).len() == index.entries.len());
}

#[test]
fn damaged_ts() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "small.ts",
        "-f lavfi -i testsrc2=size=160x120:rate=25 -f lavfi -i sine -t 1 -c:v libx264 -c:a aac \
         -f mpegts",
    );
    let file = std::fs::read(&path).unwrap();
    survives_damage(Container::Ts, &file);
    refuses_noise(Container::Ts);
    match scan_bytes(Container::Ts, &[0x55; 10_000]) {
        Err(VodError::Malformed { reason, .. }) => assert!(reason.contains("no transport")),
        other => panic!("{other:?}"),
    }
    // A span read back with other bytes than the index says is an error, not a panic.
    let index = scan_bytes(Container::Ts, &file).unwrap();
    let e = index.entries[0];
    assert!(packet(&index, 0, Bytes::from(vec![0x47; e.raw_len as usize])).is_err());
    assert!(packet(&index, 0, Bytes::new()).is_err());
    // Garbage between packets: still indexed, payloads still right.
    let mut noisy = file[..188 * 40].to_vec();
    noisy.extend_from_slice(&[0x47, 1, 2, 3, 0x47]);
    noisy.extend_from_slice(&file[188 * 40..]);
    let index = scan_bytes(Container::Ts, &noisy).unwrap();
    let clean = scan_bytes(Container::Ts, &file).unwrap();
    assert_eq!(index.entries.len(), clean.entries.len());
    let a: Vec<_> = read_packets(&index, &noisy)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let b: Vec<_> = read_packets(&clean, &file)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(a, b);
}
