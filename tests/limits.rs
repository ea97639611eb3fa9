//! Every bound hit on a running server while an ffmpeg viewer plays: connections per address
//! (`config.maxconnsperip`), sessions held (`config.maxsessions`), the HTTP request head's size
//! and time (slowloris), the RTMP handshake's time, AMF0 nesting, and the API body's size. Each gets a clean
//! refusal (a status or a closed connection, and a log line) and the viewer plays on.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use common::media::{h264_clip, play_to_null, publish, Ffmpeg};
use common::{eventually, LiveServer};

/// Whether the server closes `s` within `limit` (reads until end of stream).
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
        if t.elapsed() > limit {
            return false;
        }
    }
}

fn playing(viewer: &mut Ffmpeg) -> bool {
    viewer.wait_timeout(Duration::from_millis(1)).is_none()
}

fn status(url: &str) -> u16 {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    match client.get(url).send() {
        Ok(r) => r.status().as_u16(),
        Err(e) if e.is_timeout() => 200,
        Err(e) => panic!("{url}: {e}"),
    }
}

#[test]
fn every_bound_refuses_cleanly_while_a_viewer_plays() {
    let ls = LiveServer::start(json!({"live": {"source": "push://"}}));
    let logs = ls.server.dir.path();
    let _publisher = publish(h264_clip(), &ls.rtmp_url("live", "live"), logs);
    assert!(ls.wait_online("live"));
    let mut viewer = play_to_null(&format!("{}?tkn=viewer", ls.flv_url("live")), logs);
    std::thread::sleep(Duration::from_secs(2));
    assert!(playing(&mut viewer));

    // Connections per address: the publisher and the viewer hold two; a third is allowed,
    // a fourth is closed at once.
    ls.server.api2(json!({"config": {"maxconnsperip": 3}}));
    std::thread::sleep(Duration::from_millis(500));
    let mut third = TcpStream::connect(("127.0.0.1", ls.http)).unwrap();
    let mut fourth = TcpStream::connect(("127.0.0.1", ls.http)).unwrap();
    assert!(
        closed_within(&mut fourth, Duration::from_secs(2)),
        "the fourth connection stays: {} {}",
        ls.server.stderr(),
        ls.server.api2(json!({"config": true}))
    );
    assert!(
        !closed_within(&mut third, Duration::from_millis(300)),
        "the third was closed"
    );
    assert!(eventually(Duration::from_secs(3), || ls
        .server
        .stderr()
        .contains("config maxconnsperip 3")));
    drop(third);
    ls.server.api2(json!({"config": {"maxconnsperip": 0}}));
    std::thread::sleep(Duration::from_millis(300));
    assert!(playing(&mut viewer), "the viewer stopped (connections)");

    // Sessions held: the publisher's and the viewer's exist; with a cap of 3 one more viewer
    // session is admitted and the next is refused.
    ls.server.api2(json!({"config": {"maxsessions": 3}}));
    assert_eq!(status(&format!("{}?tkn=second", ls.flv_url("live"))), 200);
    assert_eq!(status(&format!("{}?tkn=third", ls.flv_url("live"))), 403);
    assert!(ls.server.stderr().contains("config maxsessions"));
    // An existing session is not new: it is still let in.
    assert_eq!(status(&format!("{}?tkn=second", ls.flv_url("live"))), 200);
    ls.server.api2(json!({"config": {"maxsessions": 0}}));
    assert!(playing(&mut viewer), "the viewer stopped (sessions)");

    // A request head over 16 KiB: refused and closed.
    let mut big = TcpStream::connect(("127.0.0.1", ls.http)).unwrap();
    let head = format!(
        "GET /live.flv HTTP/1.1\r\nX-Junk: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let _ = big.write_all(head.as_bytes());
    let mut answer = String::new();
    big.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = big.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer:.200}");

    // Slowloris: a head that never ends is dropped after the head time-out (10 s), and so is
    // an RTMP client that never completes its handshake.
    let mut slow = TcpStream::connect(("127.0.0.1", ls.http)).unwrap();
    let _ = slow.write_all(b"GET /live.flv HTTP/1.1\r\nX-A: 1\r\n");
    let mut silent_rtmp = TcpStream::connect(("127.0.0.1", ls.rtmp)).unwrap();
    let _ = silent_rtmp.write_all(&[3]);
    let t = Instant::now();
    assert!(
        closed_within(&mut slow, Duration::from_secs(15)),
        "slow head kept"
    );
    assert!(
        t.elapsed() >= Duration::from_secs(8),
        "closed too early: {:?}",
        t.elapsed()
    );
    assert!(
        closed_within(&mut silent_rtmp, Duration::from_secs(5)),
        "RTMP handshake kept"
    );

    // The API refuses a body over 4 MiB with 413 and changes nothing.
    let body = format!("command={}", "x".repeat(5 << 20));
    let resp = reqwest::blocking::Client::new()
        .post(ls.server.url("/api2"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);

    // An RTMP `connect` whose AMF0 nests deeper than 32 containers: the connection is closed
    // with a log line.
    let mut deep = TcpStream::connect(("127.0.0.1", ls.rtmp)).unwrap();
    let mut c0c1 = vec![3u8];
    c0c1.extend(vec![0u8; 1536]);
    deep.write_all(&c0c1).unwrap();
    let mut s0s1s2 = vec![0u8; 3073];
    deep.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    deep.read_exact(&mut s0s1s2).unwrap();
    let mut command = vec![0x02, 0, 7];
    command.extend_from_slice(b"connect");
    command.push(0x00);
    command.extend_from_slice(&1f64.to_be_bytes());
    for _ in 0..40 {
        command.extend_from_slice(&[0x03, 0, 1, b'a']);
    }
    let mut out = bytes::BytesMut::new();
    out.extend_from_slice(&s0s1s2[1..1537]);
    eddy::protocols::rtmp::chunk::write_message(&mut out, 128, 3, 0, 20, 0, &command);
    deep.write_all(&out).unwrap();
    assert!(
        closed_within(&mut deep, Duration::from_secs(5)),
        "deep AMF kept"
    );
    assert!(eventually(Duration::from_secs(3), || ls
        .server
        .stderr()
        .contains("AMF0 nesting deeper")));

    assert!(playing(&mut viewer), "the viewer stopped: {}", viewer.log());
}
