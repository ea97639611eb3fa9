//! The hub's on-demand plumbing on a hand-built index over a file of known bytes: every packet
//! arrives in order with its bytes, seeks start at a keyframe, ranges end where asked, a viewer
//! that takes nothing costs a bounded read-ahead, a dropped viewer stops its feeder, and a file
//! shorter than its index ends the viewer's stream without a panic.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::feed::{self, READ_AHEAD_BYTES, READ_AHEAD_MS, RUN_BYTES};
use super::file::{open_blocking, OpenError};
use super::VodFile;
use crate::hub::buffer::{Counters, Entry, ReadEvent, Reader};
use crate::hub::PlayRange;
use crate::media::vod::store::FileStamp;
use crate::media::vod::{Container, Index, IndexEntry, VodError};
use crate::media::{Codec, Track};

/// Seconds of media in the test file: 25 fps video (a keyframe every 2 s), audio every 40 ms.
const SECONDS: i64 = 60;

/// A hand-built index and the file it describes (each packet's bytes are its entry number).
fn fixture(dir: &std::path::Path, packet_size: u32) -> (Arc<VodFile>, Vec<u8>) {
    let tracks = vec![
        Track {
            id: 1,
            codec: Some(Codec::H264),
            width: 320,
            height: 240,
            fpks: 25_000,
            firstms: 0,
            lastms: SECONDS * 1000,
            ..Default::default()
        },
        Track {
            id: 2,
            codec: Some(Codec::Aac),
            rate: 48_000,
            channels: 2,
            firstms: 0,
            lastms: SECONDS * 1000,
            ..Default::default()
        },
    ];
    let mut entries = Vec::new();
    let mut bytes = Vec::new();
    for frame in 0..SECONDS * 25 {
        for track in [1u32, 2] {
            let size = if track == 1 {
                packet_size
            } else {
                packet_size / 8
            };
            let n = entries.len();
            entries.push(IndexEntry {
                track,
                time: frame * 40,
                offset: 0,
                keyframe: track == 1 && frame % 50 == 0,
                pos: bytes.len() as u64,
                raw_len: size,
                size,
            });
            bytes.extend(std::iter::repeat_n((n % 251) as u8, size as usize));
        }
    }
    let path = dir.join("clip.mp4");
    std::fs::write(&path, &bytes).expect("write the file");
    let index = Index {
        container: Container::Mp4,
        tracks,
        source_ids: vec![1, 2],
        entries,
        skipped: Vec::new(),
    };
    let stamp = FileStamp {
        len: bytes.len() as u64,
        modified_ns: 0,
    };
    (Arc::new(VodFile::new(path, stamp, index)), bytes)
}

/// Reads a viewer's reader to its end: every entry taken.
async fn read_all(reader: &mut Reader) -> Vec<Arc<Entry>> {
    let mut all = Vec::new();
    loop {
        let mut batch = Vec::new();
        let event =
            tokio::time::timeout(Duration::from_secs(10), reader.next_batch(&mut batch, 64))
                .await
                .expect("the feeder keeps up");
        match event {
            ReadEvent::Packets => all.extend(batch),
            ReadEvent::Skipped(n) => panic!("an on-demand reader never skips ({n})"),
            ReadEvent::Closed => return all,
        }
    }
}

#[tokio::test]
async fn a_viewer_gets_every_packet_with_its_bytes_then_the_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, bytes) = fixture(dir.path(), 4_000);
    let counters = Arc::new(Counters::default());
    let (mut reader, _stop) = feed::play(file.clone(), PlayRange::ALL, counters.clone());
    assert_eq!(reader.buffer().vod_duration(), Some(SECONDS * 1000));
    assert_eq!(reader.buffer().meta().tracks, file.index.tracks);
    let got = read_all(&mut reader).await;
    assert_eq!(got.len(), file.index.entries.len());
    for (entry, e) in got.iter().zip(&file.index.entries) {
        let p = &entry.packet;
        assert_eq!((p.track, p.time, p.keyframe), (e.track, e.time, e.keyframe));
        let at = e.pos as usize;
        assert_eq!(
            p.data,
            Bytes::copy_from_slice(&bytes[at..at + e.raw_len as usize])
        );
    }
    let up = counters.bytes_in.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        up,
        bytes.len() as u64,
        "the stream's counters saw every byte"
    );
}

#[tokio::test]
async fn a_start_begins_at_the_keyframe_before_it_and_an_end_stops_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, _) = fixture(dir.path(), 1_000);
    let range = PlayRange {
        start_ms: Some(10_500),
        end_ms: Some(20_000),
    };
    let (mut reader, _stop) = feed::play(file, range, Arc::default());
    assert_eq!(reader.buffer().vod_duration(), Some(20_000));
    let got = read_all(&mut reader).await;
    let first = &got[0].packet;
    assert_eq!((first.track, first.time, first.keyframe), (1, 10_000, true));
    let last = got.last().expect("packets").packet.time;
    assert_eq!(last, 19_960);
    // 10 s of both tracks at 25 packets per second.
    assert_eq!(got.len(), 2 * 25 * 10);
}

#[tokio::test]
async fn a_viewer_that_takes_nothing_costs_a_bounded_read_ahead() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, _) = fixture(dir.path(), 20_000);
    let (mut reader, _stop) = feed::play(file, PlayRange::ALL, Arc::default());
    let buffer = reader.buffer().clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = buffer.stats();
    let run = RUN_BYTES as usize + 20_000;
    assert!(held.bytes > 0, "the feeder read ahead");
    assert!(held.bytes <= READ_AHEAD_BYTES + run, "{held:?}");
    assert!(
        held.lastms - held.firstms <= READ_AHEAD_MS + 1_000,
        "{held:?}"
    );
    // Taking packets makes room: the feeder follows, and what was taken is let go.
    let mut batch = Vec::new();
    for _ in 0..20 {
        reader.next_batch(&mut batch, 64).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = buffer.stats();
    assert!(later.lastms > held.lastms, "{held:?} then {later:?}");
    assert!(later.bytes <= READ_AHEAD_BYTES + run, "{later:?}");
    assert!(later.firstms >= batch.last().expect("taken").packet.time);
}

#[tokio::test]
async fn dropping_the_viewer_stops_its_feeder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, _) = fixture(dir.path(), 20_000);
    let (reader, stop) = feed::play(file, PlayRange::ALL, Arc::default());
    let weak = Arc::downgrade(reader.buffer());
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(reader);
    drop(stop);
    let gone = async {
        while weak.upgrade().is_some() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .expect("the feeder let its buffer go");
}

#[tokio::test]
async fn a_file_shorter_than_its_index_ends_the_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, bytes) = fixture(dir.path(), 1_000);
    std::fs::write(&file.path, &bytes[..bytes.len() / 2]).expect("truncate");
    let (mut reader, _stop) = feed::play(file.clone(), PlayRange::ALL, Arc::default());
    let got = read_all(&mut reader).await;
    assert!(!got.is_empty() && got.len() < file.index.entries.len());
}

#[test]
fn runs_read_nearby_packets_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, _) = fixture(dir.path(), 100_000);
    let entries = &file.index.entries;
    let (run, span) = feed::next_run(entries, 0, None);
    assert!(
        run.len() > 1 && span.end - span.start <= RUN_BYTES,
        "{run:?} {span:?}"
    );
    assert_eq!(span.start, entries[0].pos);
    let last = &entries[run.end - 1];
    assert_eq!(span.end, last.pos + u64::from(last.raw_len));
    // One packet larger than a run is read alone; an end time stops a run.
    let mut big = entries[..3].to_vec();
    big[0].raw_len = 2 * RUN_BYTES as u32;
    big[1].pos = big[0].pos + 2 * RUN_BYTES;
    assert_eq!(feed::next_run(&big, 0, None).0, 0..1);
    assert_eq!(feed::next_run(entries, 0, Some(0)).0, 0..0);
    assert_eq!(feed::next_run(entries, entries.len(), None).0.len(), 0);
}

#[test]
fn files_that_cannot_be_played_say_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let missing = dir.path().join("nope.mp4");
    let e = open_blocking(&missing, &cache).expect_err("missing");
    assert!(matches!(e, OpenError::NotFound(_)));
    assert_eq!(e.to_string(), format!("Not found: {}", missing.display()));
    let e = open_blocking(dir.path(), &cache).expect_err("a folder");
    assert!(matches!(e, OpenError::File { .. }), "{e}");
    let garbage = dir.path().join("noise.bin");
    std::fs::write(&garbage, [0x5Au8; 4096]).expect("write");
    let e = open_blocking(&garbage, &cache).expect_err("garbage");
    assert!(
        matches!(
            &e,
            OpenError::File {
                error: VodError::Unrecognised(_),
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("noise.bin"), "{e}");
}

#[tokio::test]
async fn a_file_that_failed_fails_again_quietly_until_it_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("noise.flv");
    std::fs::write(&garbage, [0x11u8; 1000]).expect("write");
    let first = super::open("s", &garbage).await.expect_err("garbage");
    assert!(matches!(first, OpenError::File { .. }), "{first}");
    let again = super::open("s", &garbage).await.expect_err("garbage");
    assert!(matches!(again, OpenError::Again(_)), "{again}");
    assert_eq!(again.to_string(), first.to_string());
    std::fs::write(&garbage, [0x11u8; 2000]).expect("another version");
    let changed = super::open("s", &garbage).await.expect_err("still garbage");
    assert!(matches!(changed, OpenError::File { .. }), "{changed}");
}

#[tokio::test]
async fn a_subscription_seeks_within_its_file_and_releases_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, _) = fixture(dir.path(), 1_000);
    let released = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = released.clone();
    let release = crate::hub::OnDrop::new(move || {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    let mut sub = super::subscribe(file, PlayRange::ALL, Arc::default(), release);
    assert!(sub.is_on_demand());
    let mut batch = Vec::new();
    sub.reader.next_batch(&mut batch, 4).await;
    assert_eq!(batch[0].packet.time, 0);
    assert!(sub.seek(30_100));
    let got = read_all(&mut sub.reader).await;
    assert_eq!((got[0].packet.time, got[0].packet.keyframe), (30_000, true));
    assert_eq!(released.load(std::sync::atomic::Ordering::Relaxed), 0);
    drop(sub);
    assert_eq!(released.load(std::sync::atomic::Ordering::Relaxed), 1);
    // A live subscription cannot seek.
    let live = crate::hub::buffer::LiveBuffer::new(Default::default());
    let mut sub = crate::hub::Subscription::new(live.reader(), crate::hub::OnDrop::new(|| {}));
    assert!(!sub.is_on_demand() && !sub.seek(1_000));
}

#[test]
fn folder_sources_name_only_files_directly_inside() {
    use super::{on_demand, source_file};
    use std::path::PathBuf;
    let file = |s: &str, n: &str| source_file(s, n);
    assert_eq!(
        file("/films/", "vod+a b.mp4"),
        Ok(Some(PathBuf::from("/films/a b.mp4")))
    );
    assert_eq!(
        file("/films/a.mp4", "vod+x"),
        Ok(Some(PathBuf::from("/films/a.mp4")))
    );
    assert_eq!(file("push://", "live+x"), Ok(None));
    for bad in [
        "vod",
        "vod+",
        "vod+../etc/passwd",
        "vod+..",
        "vod+sub/a.mp4",
        "vod+a\0.mp4",
        "vod+a..b",
    ] {
        assert!(file("/films/", bad).is_err(), "{bad:?}");
    }
    assert!(on_demand("/films/") && on_demand("/films/a.mp4"));
    assert!(!on_demand("push://") && !on_demand("films/"));
}

/// The progressive MP4 of the fixture's audio track: any byte range read from the file is that
/// slice of the whole; layouts are kept, at most six, the whole file's last to go.
#[tokio::test]
async fn progressive_mp4_ranges_and_kept_layouts() {
    use super::progressive::{layout, RangeBody};
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, bytes) = fixture(dir.path(), 800);
    let mut index = file.index.clone();
    // AudioSpecificConfig: AAC LC, 48 kHz, 2 channels.
    index.tracks[1].init = Bytes::from_static(&[0x11, 0x90]);
    let file = Arc::new(VodFile::new(file.path.clone(), file.stamp, index));
    let whole = layout(&file, &[2], PlayRange::ALL).await.expect("layout");
    let read = |range: std::ops::Range<u64>| {
        let mut body = RangeBody::new(file.clone(), whole.clone(), range);
        async move {
            let mut out = Vec::new();
            while let Some(piece) = body.next().await.expect("read") {
                for b in piece.bufs {
                    out.extend_from_slice(&b);
                }
            }
            out
        }
    };
    let all = read(0..whole.len).await;
    let mut want = whole.header.to_vec();
    for e in file.index.entries.iter().filter(|e| e.track == 2) {
        want.extend_from_slice(&bytes[e.pos as usize..(e.pos + u64::from(e.raw_len)) as usize]);
    }
    assert!(all == want, "the whole file is the header and the samples");
    for (a, b) in [
        (0, 10),
        (5, whole.len),
        (whole.len / 2, whole.len / 2 + 333),
        (whole.len - 1, whole.len),
    ] {
        assert!(read(a..b).await == all[a as usize..b as usize], "{a}..{b}");
    }
    assert!(read(whole.len..whole.len + 5).await.is_empty());
    for end in 1..=10 {
        let range = PlayRange {
            start_ms: None,
            end_ms: Some(end * 1000),
        };
        layout(&file, &[2], range).await.expect("part");
    }
    assert_eq!(file.mp4.len(), 6);
    let again = layout(&file, &[2], PlayRange::ALL).await.expect("kept");
    assert!(
        Arc::ptr_eq(&whole, &again),
        "the whole file's layout is kept"
    );
}
