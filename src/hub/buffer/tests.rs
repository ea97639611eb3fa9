//! The live buffer: readers start at keyframes, follow live, skip when they fall behind;
//! trimming, publishers taking over, the end; and on-demand buffers.

use super::*;
use crate::media::Codec;
use bytes::Bytes;

fn track(id: u32, codec: Codec) -> Track {
    Track {
        id,
        codec: Some(codec),
        ..Default::default()
    }
}

fn pkt(track: u32, time: i64, key: bool, len: usize) -> Packet {
    Packet {
        track,
        time,
        offset: 0,
        keyframe: key,
        data: Bytes::from(vec![0u8; len]),
    }
}

fn av_buffer(settings: BufferSettings) -> (Arc<LiveBuffer>, u64) {
    let b = LiveBuffer::new(settings);
    let p = b.new_publisher(false);
    b.set_track(p, track(1, Codec::H264)).unwrap();
    b.set_track(p, track(2, Codec::Aac)).unwrap();
    (b, p)
}

#[tokio::test]
async fn reader_starts_at_the_newest_keyframe() {
    let (b, p) = av_buffer(BufferSettings::default());
    for i in 0..10 {
        b.push(p, pkt(1, i * 40, i % 5 == 0, 100)).unwrap();
        b.push(p, pkt(2, i * 40, false, 10)).unwrap();
    }
    let mut r = b.reader();
    let mut out = Vec::new();
    assert!(matches!(
        r.next_batch(&mut out, 100).await,
        ReadEvent::Packets
    ));
    assert_eq!(out[0].packet.time, 200);
    assert!(out[0].packet.keyframe);
    assert_eq!(out.len(), 10);
}

#[tokio::test]
async fn waits_for_a_keyframe_then_follows_live() {
    let (b, p) = av_buffer(BufferSettings::default());
    b.push(p, pkt(1, 0, false, 10)).unwrap();
    let mut r = b.reader();
    assert!(!r.wait_ready(Duration::from_millis(20)).await);
    let b2 = b.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        b2.push(p, pkt(1, 40, true, 10)).unwrap();
        b2.push(p, pkt(1, 80, false, 10)).unwrap();
    });
    let mut out = Vec::new();
    r.next_batch(&mut out, 10).await;
    assert_eq!(out[0].packet.time, 40);
}

#[test]
fn trims_to_the_dvr_window() {
    let (b, p) = av_buffer(BufferSettings {
        dvr_ms: 2_000,
        ..Default::default()
    });
    for i in 0..1_000 {
        b.push(p, pkt(1, i * 40, i % 25 == 0, 1000)).unwrap();
    }
    let s = b.stats();
    assert!(
        s.lastms - s.firstms <= 3_000 && s.lastms - s.firstms >= 2_000,
        "{s:?}"
    );
    assert_eq!(s.bytes, s.packets * 1000);
}

#[tokio::test]
async fn a_reader_that_fell_out_of_the_ring_skips_to_a_keyframe() {
    let (b, p) = av_buffer(BufferSettings {
        dvr_ms: 1_000,
        ..Default::default()
    });
    b.push(p, pkt(1, 0, true, 10)).unwrap();
    let mut r = b.reader();
    for i in 1..500 {
        b.push(p, pkt(1, i * 40, i % 25 == 0, 10)).unwrap();
    }
    let mut out = Vec::new();
    assert!(matches!(r.next_batch(&mut out, 10).await, ReadEvent::Skipped(n) if n > 0));
    r.next_batch(&mut out, 10).await;
    assert!(out[0].packet.keyframe);
    assert!(b.counters.skipped.load(Ordering::Relaxed) > 0);
}

#[test]
fn a_new_publisher_supersedes_and_resume_keeps_time_increasing() {
    let (b, p1) = av_buffer(BufferSettings::default());
    b.push(p1, pkt(1, 5_000, true, 10)).unwrap();
    let p2 = b.new_publisher(true);
    assert_eq!(
        b.push(p1, pkt(1, 5_040, false, 10)),
        Err(WriteError::Superseded)
    );
    b.push(p2, pkt(1, 0, true, 10)).unwrap();
    assert_eq!(b.stats().lastms, 5_001);
    assert_eq!(b.meta().tracks.len(), 2, "tracks survive a resume");
    let p3 = b.new_publisher(false);
    assert!(b.meta().tracks.is_empty());
    b.set_track(p3, track(1, Codec::H264)).unwrap();
    b.push(p3, pkt(1, 0, true, 10)).unwrap();
    assert_eq!(b.stats().lastms, 0);
    b.close();
    assert_eq!(b.push(p3, pkt(1, 40, true, 10)), Err(WriteError::Closed));
}

#[tokio::test]
async fn closed_streams_end_readers() {
    let (b, p) = av_buffer(BufferSettings::default());
    b.push(p, pkt(1, 0, true, 10)).unwrap();
    let mut r = b.reader();
    let mut out = Vec::new();
    r.next_batch(&mut out, 10).await;
    b.close();
    assert!(matches!(
        r.next_batch(&mut out, 10).await,
        ReadEvent::Closed
    ));
}

#[test]
fn cut_drops_early_packets() {
    let (b, p) = av_buffer(BufferSettings {
        cut_ms: 1_000,
        ..Default::default()
    });
    b.push(p, pkt(1, 500, true, 10)).unwrap();
    assert_eq!(b.stats().packets, 0);
    b.push(p, pkt(1, 1_000, true, 10)).unwrap();
    assert_eq!(b.stats().packets, 1);
}

#[tokio::test]
async fn an_on_demand_buffer_drops_what_its_reader_took_and_wakes_its_feeder() {
    let counters = Arc::new(Counters::default());
    let b = LiveBuffer::on_demand(60_000, counters.clone());
    assert_eq!(b.vod_duration(), Some(60_000));
    let p = b.new_publisher(false);
    b.set_track(p, track(1, Codec::H264)).unwrap();
    let mut r = b.reader_at_start();
    // A gap far beyond maxkeepaway: an on-demand reader never skips.
    for (i, t) in [0, 40, 80, 100_000, 100_040].into_iter().enumerate() {
        b.push(p, pkt(1, t, i == 0, 100)).unwrap();
    }
    assert_eq!(
        b.read_ahead(),
        ReadAhead {
            ms: 100_040,
            bytes: 500
        }
    );
    assert_eq!(
        counters.bytes_in.load(Ordering::Relaxed),
        500,
        "the stream's counters"
    );
    let mut out = Vec::new();
    assert!(matches!(
        r.next_batch(&mut out, 3).await,
        ReadEvent::Packets
    ));
    assert_eq!(
        out.iter().map(|e| e.packet.time).collect::<Vec<_>>(),
        [0, 40, 80]
    );
    // The reader took three: the feeder hears of it and the buffer lets them go.
    tokio::time::timeout(Duration::from_secs(1), b.wait_taken())
        .await
        .expect("woken");
    assert_eq!(b.read_ahead(), ReadAhead { ms: 40, bytes: 200 });
    out.clear();
    assert!(matches!(
        r.next_batch(&mut out, 10).await,
        ReadEvent::Packets
    ));
    assert_eq!(out.len(), 2);
    b.close();
    assert!(matches!(
        r.next_batch(&mut out, 10).await,
        ReadEvent::Closed
    ));
}

#[tokio::test]
async fn a_live_buffer_has_no_read_ahead_to_wait_for() {
    let (b, p) = av_buffer(BufferSettings::default());
    b.push(p, pkt(1, 0, true, 10)).unwrap();
    assert_eq!(b.vod_duration(), None);
    assert_eq!(b.read_ahead(), ReadAhead::default());
    tokio::time::timeout(Duration::from_millis(100), b.wait_taken())
        .await
        .expect("returns at once");
}

#[tokio::test(start_paused = true)]
async fn batching_holds_audio_until_the_next_video_packet() {
    let (b, p) = av_buffer(BufferSettings {
        batch_ms: 40,
        ..BufferSettings::default()
    });
    b.push(p, pkt(1, 0, true, 100)).unwrap();
    let mut r = b.reader();
    let mut got = Vec::new();
    assert!(matches!(
        r.next_batch(&mut got, 64).await,
        ReadEvent::Packets
    ));
    assert_eq!(got.len(), 1);
    let ms = Duration::from_millis;

    // A waiting reader is not woken for the audio; the video packet wakes it, once, for both.
    let publisher = b.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ms(1)).await;
        publisher.push(p, pkt(2, 10, false, 10)).unwrap();
        tokio::time::sleep(ms(20)).await;
        publisher.push(p, pkt(1, 40, false, 100)).unwrap();
        // Audio again at once: a new batch, whose wait the first batch's timer does not cut.
        tokio::time::sleep(ms(1)).await;
        publisher.push(p, pkt(2, 50, false, 10)).unwrap();
    });
    got.clear();
    let t0 = tokio::time::Instant::now();
    assert!(matches!(
        r.next_batch(&mut got, 64).await,
        ReadEvent::Packets
    ));
    assert_eq!(t0.elapsed(), ms(21), "woken by the video packet");
    let tracks: Vec<u32> = got.iter().map(|e| e.packet.track).collect();
    assert_eq!(tracks, [2, 1], "in arrival order");

    // Without video, the audio goes out batch_ms after it came.
    got.clear();
    assert!(matches!(
        r.next_batch(&mut got, 64).await,
        ReadEvent::Packets
    ));
    assert_eq!((got.len(), t0.elapsed()), (1, ms(62)));

    // A reader that was not waiting takes what is there at once.
    b.push(p, pkt(2, 60, false, 10)).unwrap();
    got.clear();
    let t1 = tokio::time::Instant::now();
    r.next_batch(&mut got, 64).await;
    assert_eq!((got.len(), t1.elapsed()), (1, Duration::ZERO));
}

#[tokio::test(start_paused = true)]
async fn no_batching_by_default_or_without_video() {
    let (b, p) = av_buffer(BufferSettings::default());
    b.push(p, pkt(1, 0, true, 100)).unwrap();
    let mut r = b.reader();
    let mut got = Vec::new();
    r.next_batch(&mut got, 64).await;
    let publisher = b.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        publisher.push(p, pkt(2, 10, false, 10)).unwrap();
    });
    got.clear();
    let t0 = tokio::time::Instant::now();
    r.next_batch(&mut got, 64).await;
    assert_eq!((got.len(), t0.elapsed()), (1, Duration::from_millis(1)));

    // An audio-only stream is never held.
    let b = LiveBuffer::new(BufferSettings {
        batch_ms: 40,
        ..BufferSettings::default()
    });
    let p = b.new_publisher(false);
    b.set_track(p, track(2, Codec::Aac)).unwrap();
    b.push(p, pkt(2, 0, false, 10)).unwrap();
    let mut r = b.reader();
    got.clear();
    r.next_batch(&mut got, 64).await;
    let publisher = b.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        publisher.push(p, pkt(2, 21, false, 10)).unwrap();
    });
    got.clear();
    let t0 = tokio::time::Instant::now();
    r.next_batch(&mut got, 64).await;
    assert_eq!((got.len(), t0.elapsed()), (1, Duration::from_millis(1)));
}

#[tokio::test(start_paused = true)]
async fn a_deferring_publisher_wakes_readers_once_for_what_one_read_brought() {
    let (b, p) = av_buffer(BufferSettings::default());
    b.push(p, pkt(1, 0, true, 100)).unwrap();
    let mut r = b.reader();
    let mut got = Vec::new();
    r.next_batch(&mut got, 64).await;
    let ms = Duration::from_millis;

    b.defer_wakes(p);
    let publisher = b.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ms(1)).await;
        // One read's packets: audio, video, audio; the readers wake when it is done.
        publisher.push(p, pkt(2, 10, false, 10)).unwrap();
        publisher.push(p, pkt(1, 40, false, 100)).unwrap();
        tokio::time::sleep(ms(5)).await;
        publisher.push(p, pkt(2, 33, false, 10)).unwrap();
        publisher.wake_deferred();
        // Nothing pushed: nothing to wake for.
        publisher.wake_deferred();
    });
    got.clear();
    let t0 = tokio::time::Instant::now();
    r.next_batch(&mut got, 64).await;
    assert_eq!(
        (got.len(), t0.elapsed()),
        (3, ms(6)),
        "one wake for all three"
    );

    // A later publisher's pushes wake at once, as usual.
    let q = b.new_publisher(true);
    let publisher = b.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ms(1)).await;
        publisher.push(q, pkt(1, 0, true, 100)).unwrap();
    });
    let t1 = tokio::time::Instant::now();
    loop {
        got.clear();
        if matches!(r.next_batch(&mut got, 64).await, ReadEvent::Packets) && !got.is_empty() {
            break;
        }
    }
    assert_eq!(t1.elapsed(), ms(1));
}
