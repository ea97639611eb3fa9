//! DTSC between two real Eddy processes, with ffmpeg publishing and ffprobe/ffmpeg playing:
//! an origin A publishes its streams on its DTSC port, an edge B pulls them with `dtsc://`
//! sources and serves them over its own outputs. Also: the origin restarting under a viewer of
//! the edge, an on-demand file pulled over DTSC, the wire format as a raw client sees it, and
//! garbage on the DTSC port.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use serde_json::{json, Value};

use common::media::{self, probe_streams};
use common::{eventually, free_port, md5_hex, LiveServer, Options, Server};
use eddy::media::dtsc::frame::command_frame;
use eddy::media::dtsc::{read_frame, Frame, Value as Packed};

/// A server with HTTP (FLV, HLS), RTMP and DTSC listeners on free ports.
struct Node {
    live: LiveServer,
    dtsc: u16,
}

impl Node {
    fn start(streams: Value) -> Node {
        let (http, rtmp, dtsc) = (free_port(), free_port(), free_port());
        let cfg = json!({
            "account": {"test": {"password": md5_hex("test")}},
            "config": {"protocols": [
                {"connector": "HTTP", "port": http, "interface": "127.0.0.1"},
                {"connector": "RTMP", "port": rtmp, "interface": "127.0.0.1"},
                {"connector": "DTSC", "port": dtsc, "interface": "127.0.0.1"},
                {"connector": "FLV"},
                {"connector": "HLS"}
            ]},
            "streams": streams
        })
        .to_string();
        let server = Server::start_with(Options {
            config: Some(&cfg),
            ..Default::default()
        });
        let node = Node {
            live: LiveServer { server, http, rtmp },
            dtsc,
        };
        node.wait_dtsc();
        node
    }

    fn wait_dtsc(&self) {
        assert!(
            eventually(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                self.dtsc
            ))
            .is_ok()),
            "DTSC listener not up: {}",
            self.live.server.stderr()
        );
    }

    fn source(&self, stream: &str) -> String {
        format!("dtsc://127.0.0.1:{}/{stream}", self.dtsc)
    }

    fn dir(&self) -> &std::path::Path {
        self.live.server.dir.path()
    }
}

/// The codec names ffprobe finds at `url`, sorted.
fn codecs(url: &str) -> Vec<String> {
    let mut c: Vec<String> = probe_streams(url)
        .iter()
        .filter_map(|s| s["codec_name"].as_str().map(String::from))
        .collect();
    c.sort();
    c
}

#[test]
fn an_edge_pulls_a_live_stream_and_serves_it() {
    let a = Node::start(json!({"live": {"source": "push://"}}));
    let _publisher = media::publish(
        media::h264_clip(),
        &a.live.rtmp_url("live", "live"),
        a.dir(),
    );
    assert!(a.live.wait_online("live"), "{}", a.live.server.stderr());
    // `edge` names the origin's stream; `live` has no stream in its URL, so it asks for its own
    // name (manual §3.3.2).
    let b = Node::start(json!({
        "edge": {"source": a.source("live")},
        "live": {"source": format!("dtsc://127.0.0.1:{}", a.dtsc)}
    }));
    let want = ["aac", "h264"];
    assert_eq!(
        codecs(&b.live.flv_url("edge")),
        want,
        "edge: {}\norigin: {}",
        b.live.server.stderr(),
        a.live.server.stderr()
    );
    assert_eq!(
        codecs(&format!(
            "http://127.0.0.1:{}/hls/edge/index.m3u8",
            b.live.http
        )),
        want
    );
    assert_eq!(codecs(&b.live.rtmp_url("play", "live")), want);
    // The packets keep their times: continuous, one keyframe a second as published.
    let packets = media::probe_packets(&b.live.flv_url("edge"), 4);
    media::assert_continuous(&packets, 0, 0.5);
    let v = a
        .live
        .server
        .api2(json!({"clients": {"fields": ["protocol", "stream"]}}));
    assert!(
        v.to_string().contains("DTSC"),
        "the origin counts the edge as a DTSC viewer: {v}"
    );
    assert!(b.live.server.stderr().contains("DTSC: pulling live from"));
}

#[test]
fn an_edge_viewer_survives_an_origin_restart() {
    let mut a = Node::start(json!({"live": {"source": "push://"}}));
    let published = Instant::now();
    let publisher = media::publish(
        media::h264_clip(),
        &a.live.rtmp_url("live", "live"),
        a.dir(),
    );
    assert!(a.live.wait_online("live"), "{}", a.live.server.stderr());
    let b = Node::start(json!({"edge": {"source": a.source("live")}}));
    // The first viewer starts the pull.
    assert_eq!(
        codecs(&b.live.flv_url("edge")),
        ["aac", "h264"],
        "{}",
        b.live.server.stderr()
    );
    // A viewer of the edge that records 20 s of media.
    let out = b.dir().join("through_restart.flv");
    let started = Instant::now();
    let mut viewer = media::record(
        std::path::Path::new("ffmpeg"),
        &b.live.flv_url("edge"),
        20,
        &out,
        b.dir(),
    );
    // The origin's stream is at least 15 s old when it goes away (so an edge that waited for
    // the restarted origin's time to catch up with its own would stall that long).
    std::thread::sleep(Duration::from_secs(5));
    if let Some(rest) = Duration::from_secs(15).checked_sub(published.elapsed()) {
        std::thread::sleep(rest);
    }
    // The origin goes away with its publisher, and comes back on the same ports.
    drop(publisher);
    a.live.server.terminate();
    std::thread::sleep(Duration::from_secs(1));
    a.live.server.restart();
    a.wait_dtsc();
    let _publisher = media::publish(
        media::h264_clip(),
        &a.live.rtmp_url("live", "live"),
        a.dir(),
    );
    // 20 s of media, plus a few seconds of outage.
    let status = viewer.wait_timeout(Duration::from_secs(32).saturating_sub(started.elapsed()));
    assert!(
        status.is_some_and(|s| s.success()),
        "the viewer of the edge ended badly after {:?}: {}\nedge: {}",
        started.elapsed(),
        viewer.log(),
        b.live.server.stderr()
    );
    // It got its 20 s, with time going forward through the restart.
    let probe = media::probe_file(&out);
    assert!(probe.duration >= 18.0, "only {} s", probe.duration);
    let packets = media::probe_packets(&out.to_string_lossy(), 30);
    media::assert_continuous(&packets, 0, 1.5);
    assert!(
        b.live.server.stderr().contains("reconnecting"),
        "{}",
        b.live.server.stderr()
    );
    // And the edge serves new viewers from the restarted origin.
    assert_eq!(codecs(&b.live.flv_url("edge")), ["aac", "h264"]);
}

#[test]
fn an_edge_pulls_an_on_demand_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("film.mp4");
    media::run_ok(
        std::process::Command::new("ffmpeg")
            .args(["-y", "-v", "error", "-i"])
            .arg(media::h264_clip())
            .args(["-c", "copy"])
            .arg(&file),
        "ffmpeg (mp4)",
    );
    let a = Node::start(json!({"film": {"source": file.to_string_lossy()}}));
    let b = Node::start(json!({"film_edge": {"source": a.source("film")}}));
    assert_eq!(
        codecs(&b.live.flv_url("film_edge")),
        ["aac", "h264"],
        "edge: {}\norigin: {}",
        b.live.server.stderr(),
        a.live.server.stderr()
    );
    assert_eq!(
        codecs(&format!(
            "http://127.0.0.1:{}/hls/film_edge/index.m3u8",
            b.live.http
        )),
        ["aac", "h264"]
    );
    assert!(b.live.server.stderr().contains("on demand"));
}

/// Reads frames from a raw connection until `want` says stop, or `limit` passes.
fn read_frames(
    sock: &mut TcpStream,
    limit: Duration,
    mut want: impl FnMut(&Frame) -> bool,
) -> Vec<Frame> {
    let deadline = Instant::now() + limit;
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut chunk = [0u8; 65536];
    while Instant::now() < deadline {
        while let Some(f) = read_frame(&mut buf).expect("valid DTSC from Eddy") {
            let done = !want(&f);
            frames.push(f);
            if done {
                return frames;
            }
        }
        match sock.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
    }
    frames
}

/// Whether the server closes `sock` within 5 s (reading whatever it still sends).
fn closed_by_server(sock: &mut TcpStream) -> bool {
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut chunk = [0u8; 4096];
    while Instant::now() < deadline {
        match sock.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn the_wire_format_and_malformed_clients() {
    let a = Node::start(json!({"live": {"source": "push://"}}));
    let _publisher = media::publish(
        media::h264_clip(),
        &a.live.rtmp_url("live", "live"),
        a.dir(),
    );
    assert!(a.live.wait_online("live"), "{}", a.live.server.stderr());

    // A raw client: hi, then play; a header with H264 and AAC, then DTP2 packets.
    let mut sock = TcpStream::connect(("127.0.0.1", a.dtsc)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let hi = read_frames(&mut sock, Duration::from_secs(5), |_| false);
    let Some(Frame::Command(hi)) = hi.first() else {
        panic!("no hi: {hi:?}");
    };
    assert_eq!(
        hi.get("cmd").and_then(Packed::as_text).as_deref(),
        Some("hi")
    );
    assert_eq!(hi.get("pack_method"), Some(&Packed::Int(2)));
    assert!(hi.get("salt").is_some() && hi.get("version").is_some());
    let play = Packed::object([
        ("cmd", Packed::str("play")),
        ("stream", Packed::str("live")),
    ]);
    sock.write_all(&command_frame(&play)).expect("play");
    let mut packets = 0;
    let frames = read_frames(&mut sock, Duration::from_secs(10), |f| {
        if matches!(f, Frame::Packet(_)) {
            packets += 1;
        }
        packets < 50
    });
    let Some(Frame::Header(header)) = frames.first() else {
        panic!("no header first: {:?}", frames.first());
    };
    assert_eq!(header.get("live"), Some(&Packed::Int(1)));
    let tracks = header.get("tracks").expect("tracks");
    let mut names: Vec<String> = tracks
        .members()
        .iter()
        .filter_map(|(_, t)| t.get("codec").and_then(Packed::as_text))
        .collect();
    names.sort();
    assert_eq!(names, ["AAC", "H264"], "{header:?}");
    let video = tracks.get("1").expect("track 1");
    assert_eq!(video.get("width"), Some(&Packed::Int(640)));
    assert!(video
        .get("init")
        .and_then(Packed::as_bytes)
        .is_some_and(|i| i[0] == 1));
    let first = frames.iter().find_map(|f| match f {
        Frame::Packet(p) => Some(p),
        _ => None,
    });
    assert!(
        first.is_some_and(|p| p.keyframe && p.track == 1),
        "{first:?}"
    );
    assert_eq!(packets, 50);
    // A ping is answered.
    let ping = Packed::object([("cmd", Packed::str("ping"))]);
    sock.write_all(&command_frame(&ping)).expect("ping");
    let answer = read_frames(
        &mut sock,
        Duration::from_secs(5),
        |f| !matches!(f, Frame::Command(c) if c.get("cmd").and_then(Packed::as_text).as_deref() == Some("ok")),
    );
    assert!(matches!(answer.last(), Some(Frame::Command(_))), "no pong");
    drop(sock);

    // Random bytes: the connection is closed.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut sock = TcpStream::connect(("127.0.0.1", a.dtsc)).expect("connect");
    let _ = sock.write_all(&noise);
    assert!(
        closed_by_server(&mut sock),
        "random bytes kept the connection"
    );
    // A huge declared length: closed at once, without waiting for the body.
    let mut sock = TcpStream::connect(("127.0.0.1", a.dtsc)).expect("connect");
    sock.write_all(b"DTCM\x7f\xff\xff\xff\xe0").expect("write");
    assert!(
        closed_by_server(&mut sock),
        "a 2 GiB frame kept the connection"
    );
    // A push is refused with an error command.
    let mut sock = TcpStream::connect(("127.0.0.1", a.dtsc)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let push = Packed::object([("cmd", Packed::str("push")), ("stream", Packed::str("x"))]);
    sock.write_all(&command_frame(&push)).expect("push");
    let frames = read_frames(&mut sock, Duration::from_secs(5), |_| true);
    assert!(
        frames.iter().any(|f| matches!(f, Frame::Command(c)
            if c.get("cmd").and_then(Packed::as_text).as_deref() == Some("error"))),
        "{frames:?}"
    );
    // Deep nesting inside a valid head.
    let mut sock = TcpStream::connect(("127.0.0.1", a.dtsc)).expect("connect");
    let mut deep = b"DTCM\x00\x00\x10\x00".to_vec();
    deep.extend(std::iter::repeat_n(0x0A, 0x1000));
    let _ = sock.write_all(&deep);
    assert!(
        closed_by_server(&mut sock),
        "deep nesting kept the connection"
    );

    // The origin still serves everyone else.
    assert_eq!(codecs(&a.live.flv_url("live")), ["aac", "h264"]);
    let log = a.live.server.stderr();
    assert!(log.contains("malformed DTSC"), "{log}");
}
