//! The direct fan-out over real loopback sockets: members get every round whole and in order,
//! a member whose peer stops reading is handed back with the rest, track changes and the end
//! hand everyone back, and leaving closes nothing but the membership.

use super::*;
use crate::hub::buffer::BufferSettings;
use crate::media::{Codec, Packet};
use crate::protocols::track_select::TrackSelector;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// A framing that is easy to check: `[seq as 4 bytes][payload]`.
fn frame_test(_: &Track, entry: &Entry, out: &mut Vec<Bytes>) {
    out.push(Bytes::copy_from_slice(&(entry.seq as u32).to_be_bytes()));
    out.push(entry.packet.data.clone());
}

static TEST: Format = Format {
    name: "test",
    frame: frame_test,
};

fn track(id: u32, codec: Codec) -> Track {
    Track {
        id,
        codec: Some(codec),
        init: Bytes::from_static(b"init"),
        ..Default::default()
    }
}

fn pkt(track: u32, time: i64, key: bool, len: usize) -> Packet {
    Packet {
        track,
        time,
        offset: 0,
        keyframe: key,
        data: Bytes::from(vec![track as u8; len]),
    }
}

fn stream() -> (Arc<LiveBuffer>, u64) {
    let b = LiveBuffer::new(BufferSettings::default());
    let p = b.new_publisher(false);
    b.set_track(p, track(1, Codec::H264)).expect("track");
    b.set_track(p, track(2, Codec::Aac)).expect("track");
    b.push(p, pkt(1, 0, true, 100)).expect("push");
    (b, p)
}

/// A connected pair: (server side, client side).
async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let client = TcpStream::connect(addr).await.expect("connect");
    let (server, _) = l.accept().await.expect("accept");
    (server, client)
}

fn selection(b: &LiveBuffer) -> AvSelection {
    let mut sel = AvSelection::new(TrackSelector::default());
    sel.update(&b.meta());
    sel
}

/// Reads exactly `n` bytes (or fails after a second).
async fn read_n(c: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(1), c.read_exact(&mut buf))
        .await
        .expect("in time")
        .expect("read");
    buf
}

fn expected(seq: u64, track: u32, len: usize) -> Vec<u8> {
    let mut v = (seq as u32).to_be_bytes().to_vec();
    v.extend(std::iter::repeat_n(track as u8, len));
    v
}

/// Members of the viewer's group, over every shard.
fn members(s: &Steady) -> usize {
    s.group
        .shards
        .iter()
        .map(|sh| lock(&sh.state).members.len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_get_every_round_in_order() {
    let (b, p) = stream();
    let sel = selection(&b);
    let counters = Arc::new(ConnCounters::default());
    let mut viewers = Vec::new();
    for _ in 0..3 {
        let (server, client) = pair().await;
        let steady = join(&b, &TEST, &server, 1, &sel, &counters).expect("joins");
        viewers.push((server, client, steady));
    }
    for i in 1..=20u64 {
        let (t, len) = if i % 2 == 0 { (1, 300) } else { (2, 20) };
        b.push(p, pkt(t, i as i64 * 20, false, len)).expect("push");
    }
    for (_, client, steady) in &mut viewers {
        for i in 1..=20u64 {
            let (t, len) = if i % 2 == 0 { (1, 300) } else { (2, 20) };
            assert_eq!(
                read_n(client, 4 + len).await,
                expected(i, t, len),
                "packet {i}"
            );
        }
        assert_eq!(members(steady), 3);
    }
    // Sessions are told when members leave (and every few rounds).
    drop(viewers);
    let sent = counters.packets.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(sent, 60, "20 packets to each of 3 viewers");
    assert_eq!(
        counters.up.load(std::sync::atomic::Ordering::Relaxed),
        3 * (10 * 304 + 10 * 24)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_reading_is_handed_back_with_the_rest() {
    let (b, p) = stream();
    let sel = selection(&b);
    let counters = Arc::new(ConnCounters::default());
    let (stuck_server, stuck_client) = pair().await;
    let stuck = join(&b, &TEST, &stuck_server, 1, &sel, &counters).expect("joins");
    let (server, mut client) = pair().await;
    let fine = join(&b, &TEST, &server, 1, &sel, &counters).expect("joins");
    // Far more than the stuck peer's socket buffers hold (16 MiB; loopback's grow to ~10).
    let big = 64 * 1024;
    let mut pushed = 0u64;
    let reader = tokio::spawn(async move {
        let mut total = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        while total < 256 * (big + 4) {
            let n = client.read(&mut buf).await.expect("read");
            assert!(n > 0);
            total += n;
        }
        total
    });
    for i in 1..=256 {
        b.push(p, pkt(1, i * 40, false, big)).expect("push");
        pushed += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::timeout(Duration::from_secs(5), stuck.released())
        .await
        .expect("handed back");
    let back = stuck.leave();
    assert!(back.error.is_none());
    assert!(back.cursor > 1 && back.cursor <= 1 + pushed);
    assert!(!back.rest.is_empty(), "what the socket did not take");
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("in time")
            .expect("reader"),
        256 * (big + 4),
        "the other viewer got everything"
    );
    assert_eq!(members(&fine), 1);
    drop(stuck_client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_track_change_or_the_end_hands_everyone_back() {
    let (b, p) = stream();
    let sel = selection(&b);
    let counters = Arc::new(ConnCounters::default());
    let (server, mut client) = pair().await;
    let steady = join(&b, &TEST, &server, 1, &sel, &counters).expect("joins");
    b.push(p, pkt(2, 20, false, 10)).expect("push");
    assert_eq!(read_n(&mut client, 14).await, expected(1, 2, 10));
    // A new audio track: packets from here on need new headers, sent by the viewer's task.
    b.set_track(p, track(3, Codec::Aac)).expect("track");
    b.push(p, pkt(1, 40, false, 10)).expect("push");
    tokio::time::timeout(Duration::from_secs(1), steady.released())
        .await
        .expect("handed back");
    let back = steady.leave();
    assert_eq!((back.cursor, back.rest.len()), (2, 0));
    // Joined again at the new version, then the stream ends.
    let sel = selection(&b);
    let again = join(&b, &TEST, &server, 3, &sel, &counters).expect("joins again");
    assert_eq!(members(&again), 1);
    b.close();
    tokio::time::timeout(Duration::from_secs(1), again.released())
        .await
        .expect("handed back at the end");
    assert_eq!(again.leave().cursor, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_join() {
    let (b, p) = stream();
    let sel = selection(&b);
    let counters = Arc::new(ConnCounters::default());
    let (server, _client) = pair().await;
    let mut chosen = AvSelection::new(TrackSelector::from_query("audio=2"));
    chosen.update(&b.meta());
    assert!(join(&b, &TEST, &server, 1, &chosen, &counters).is_none());
    assert!(join(&b, &TEST, &server, 1, &AvSelection::default(), &counters).is_none());
    let first = join(&b, &TEST, &server, 1, &sel, &counters).expect("joins");
    b.push(p, pkt(2, 20, false, 10)).expect("push");
    b.push(p, pkt(2, 40, false, 10)).expect("push");
    // Wait until the shards wrote both packets.
    for _ in 0..100 {
        if group_end(&first) == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(group_end(&first), 3);
    // Behind the group is not steady, at its end or ahead is (in the other shard, too).
    let (s2, _c2) = pair().await;
    let mut joined = vec![first];
    for cursor in [3, 3, 4] {
        joined.push(join(&b, &TEST, &s2, cursor, &sel, &counters).expect("joins"));
    }
    let behind: Vec<_> = (0..4)
        .map(|_| join(&b, &TEST, &s2, 2, &sel, &counters))
        .collect();
    assert!(behind.iter().all(Option::is_none));
    let on_demand = LiveBuffer::on_demand(1000, Arc::default());
    assert!(join(&on_demand, &TEST, &s2, 0, &sel, &counters).is_none());
}

fn group_end(s: &Steady) -> u64 {
    let st = lock(&s.group.shards[s.shard].state);
    st.end
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_keeps_the_socket_and_dropping_it_closes() {
    let (b, p) = stream();
    let sel = selection(&b);
    let counters = Arc::new(ConnCounters::default());
    let (server, mut client) = pair().await;
    let steady = join(&b, &TEST, &server, 1, &sel, &counters).expect("joins");
    let back = steady.leave();
    assert_eq!((back.cursor, back.rest.len()), (1, 0));
    assert!(back.error.is_none());
    b.push(p, pkt(2, 20, false, 10)).expect("push");
    // Neither the group nor anyone else writes to it now, and the peer sees the close only when
    // the viewer's own socket goes (the group's duplicate went with the membership).
    let steady = join(&b, &TEST, &server, 2, &sel, &counters).expect("joins");
    drop(steady);
    drop(server);
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(1), client.read(&mut buf))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(n, 0, "closed, with nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_joins_once_it_has_taken_everything() {
    let (b, p) = stream();
    b.push(p, pkt(2, 20, false, 10)).expect("push");
    let sel = selection(&b);
    let counters = Arc::new(ConnCounters::default());
    let (server, _client) = pair().await;
    let mut reader = b.reader();
    assert!(
        join_when_steady(&TEST, &server, &reader, &sel, &counters).is_none(),
        "two packets still to take"
    );
    let mut got = Vec::new();
    reader.next_batch(&mut got, 64).await;
    assert_eq!(got.len(), 2);
    let steady = join_when_steady(&TEST, &server, &reader, &sel, &counters).expect("joins");
    assert_eq!(members(&steady), 1);
}
