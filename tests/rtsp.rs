//! RTSP against real peers: ffmpeg publishes with ANNOUNCE/RECORD over TCP and UDP, ffprobe
//! and ffmpeg play `rtsp://` back over TCP and UDP, and the published stream plays through
//! the other outputs; malformed requests and frames close a connection and nothing else.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use common::media::{self, ffprobe, spawn_ffmpeg, Ffmpeg};
use common::{eventually, free_port, md5_hex, Server};

/// A server with HTTP (FLV, HLS), RTMP and RTSP on free ports, and these streams.
struct Rtsp {
    server: Server,
    http: u16,
    rtsp: u16,
}

impl Rtsp {
    fn start(streams: Value) -> Rtsp {
        let (http, rtmp, rtsp) = (free_port(), free_port(), free_port());
        let cfg = json!({
            "account": {"test": {"password": md5_hex("test")}},
            "config": {"protocols": [
                {"connector": "HTTP", "port": http, "interface": "127.0.0.1"},
                {"connector": "RTMP", "port": rtmp, "interface": "127.0.0.1"},
                {"connector": "RTSP", "port": rtsp, "interface": "127.0.0.1"},
                {"connector": "FLV"}, {"connector": "HLS"}
            ]},
            "streams": streams
        })
        .to_string();
        let server = Server::start(Some(&cfg));
        assert!(eventually(Duration::from_secs(10), || TcpStream::connect(
            ("127.0.0.1", rtsp)
        )
        .is_ok()));
        Rtsp { server, http, rtsp }
    }

    fn url(&self, path: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{path}", self.rtsp)
    }
}

/// ffmpeg publishing the test clip in a loop over RTSP with `transport` (`tcp` or `udp`).
fn publish(url: &str, transport: &str, logs: &Path) -> Ffmpeg {
    let clip = media::h264_clip().to_string_lossy().to_string();
    spawn_ffmpeg(
        Path::new("ffmpeg"),
        &[
            "-v",
            "error",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
            &clip,
            "-c",
            "copy",
            "-f",
            "rtsp",
            "-rtsp_transport",
            transport,
            url,
        ],
        logs,
        &format!("rtsp-{transport}"),
    )
}

/// The codecs ffprobe finds at an `rtsp://` URL over `transport`, sorted, and how many video
/// packets it read in 3 s.
fn probe_rtsp(url: &str, transport: &str) -> (Vec<String>, usize) {
    let out = ffprobe(&[
        "-rtsp_transport",
        transport,
        "-show_streams",
        "-show_packets",
        "-read_intervals",
        "%+3",
        url,
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let mut codecs: Vec<String> = v["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["codec_name"].as_str().map(String::from))
        .collect();
    codecs.sort();
    let video = v["streams"]
        .as_array()
        .and_then(|s| s.iter().position(|s| s["codec_type"] == "video"));
    let frames = v["packets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| video.is_some_and(|i| p["stream_index"] == i as u64))
        .count();
    // Audio times step forward by about a frame each (no jitter from the RTP clock).
    let audio = v["streams"]
        .as_array()
        .and_then(|s| s.iter().position(|s| s["codec_type"] == "audio"));
    let times: Vec<f64> = v["packets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| audio.is_some_and(|i| p["stream_index"] == i as u64))
        .filter_map(|p| p["pts_time"].as_str().and_then(|t| t.parse().ok()))
        .collect();
    for w in times.windows(2) {
        let step = w[1] - w[0];
        assert!(
            (0.015..0.035).contains(&step),
            "{url} {transport}: audio step {step}"
        );
    }
    (codecs, frames)
}

/// The codecs ffprobe finds at a URL, sorted (none when it cannot open it).
fn codecs(url: &str) -> Vec<String> {
    let out = ffprobe(&["-show_streams", url]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let mut c: Vec<String> = v["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["codec_name"].as_str().map(String::from))
        .collect();
    c.sort();
    c
}

#[test]
fn publish_over_tcp_and_play_back_over_tcp_and_udp() {
    let rs = Rtsp::start(json!({"live": {"source": "push://"}}));
    let logs = rs.server.dir.path();
    let _pub = publish(&rs.url("live"), "tcp", logs);
    let flv = format!("http://127.0.0.1:{}/live.flv", rs.http);
    assert!(
        eventually(Duration::from_secs(15), || codecs(&flv) == ["aac", "h264"]),
        "{}",
        rs.server.stderr()
    );
    for transport in ["tcp", "udp"] {
        let (codecs, frames) = probe_rtsp(&rs.url("live"), transport);
        assert_eq!(
            codecs,
            ["aac", "h264"],
            "{transport}: {}",
            rs.server.stderr()
        );
        assert!(frames >= 40, "{transport}: {frames} video frames in 3 s");
    }
    // The HLS output of the RTSP-published stream plays too.
    assert_eq!(
        codecs(&format!("http://127.0.0.1:{}/hls/live/index.m3u8", rs.http)),
        ["aac", "h264"]
    );
}

#[test]
fn publish_over_udp_with_a_passphrase() {
    let rs = Rtsp::start(json!({"cam": {"source": "push://@s3cret"}}));
    let logs = rs.server.dir.path();
    // Without the passphrase: refused.
    let mut refused = publish(&rs.url("cam"), "udp", logs);
    assert!(
        refused.wait_timeout(Duration::from_secs(10)).is_some(),
        "a publisher without the passphrase was let in"
    );
    let _pub = publish(&rs.url("cam?pass=s3cret"), "udp", logs);
    let flv = format!("http://127.0.0.1:{}/cam.flv", rs.http);
    assert!(
        eventually(Duration::from_secs(15), || codecs(&flv) == ["aac", "h264"]),
        "{}",
        rs.server.stderr()
    );
    let (codecs, frames) = probe_rtsp(&rs.url("cam"), "tcp");
    assert_eq!(codecs, ["aac", "h264"]);
    assert!(frames >= 40, "{frames}");
}

/// A stream key (`streamkey_add`) as the RTSP path publishes into its stream without the
/// passphrase.
#[test]
fn publish_by_stream_key() {
    let rs = Rtsp::start(json!({"cam": {"source": "push://@s3cret"}}));
    let added = rs
        .server
        .api2(json!({"streamkey_add": {"k3yForCam": "cam"}}));
    assert_eq!(added["streamkeys"], json!({"k3yForCam": "cam"}));
    let _pub = publish(&rs.url("k3yForCam"), "tcp", rs.server.dir.path());
    let flv = format!("http://127.0.0.1:{}/cam.flv", rs.http);
    assert!(
        eventually(Duration::from_secs(15), || codecs(&flv) == ["aac", "h264"]),
        "{}",
        rs.server.stderr()
    );
}

#[test]
fn malformed_requests_and_frames_close_only_their_connection() {
    let rs = Rtsp::start(json!({"live": {"source": "push://"}}));
    let logs = rs.server.dir.path();
    let _pub = publish(&rs.url("live"), "tcp", logs);
    let garbage: Vec<Vec<u8>> = vec![
        b"GARBAGE\r\n\r\n".to_vec(),
        b"ANNOUNCE rtsp://x/live RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 999999999\r\n\r\n".to_vec(),
        b"SETUP rtsp://x/live RTSP/1.0\r\nCSeq: 1\r\nTransport: nonsense\r\n\r\n".to_vec(),
        vec![b'A'; 20_000],
        (0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect(),
        b"ANNOUNCE rtsp://x/other RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 12\r\n\r\nv=0\r\nm=bad\r\n".to_vec(),
    ];
    for g in &garbage {
        let mut s = TcpStream::connect(("127.0.0.1", rs.rtsp)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(g);
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
    }
    // Still serving: a viewer plays the published stream.
    let (codecs, _) = probe_rtsp(&rs.url("live"), "tcp");
    assert_eq!(codecs, ["aac", "h264"], "{}", rs.server.stderr());
    let log = rs.server.stderr();
    assert!(log.contains("RTSP 127.0.0.1"), "{log}");
}

/// A second Eddy pulls the first one's stream over RTSP (`rtsp://` source); ffprobe plays the
/// edge's HTTP-FLV and RTSP. The origin restarts (its publisher too) and the edge's pull comes
/// back by itself.
#[test]
fn a_second_server_pulls_over_rtsp_and_survives_an_origin_restart() {
    let mut origin = Rtsp::start(json!({"live": {"source": "push://"}}));
    let logs = origin.server.dir.path().to_path_buf();
    let publisher = publish(&origin.url("live"), "tcp", &logs);
    let edge = Rtsp::start(json!({"relay": {"source": origin.url("live")}}));
    let flv = format!("http://127.0.0.1:{}/relay.flv", edge.http);
    assert!(
        eventually(Duration::from_secs(20), || codecs(&flv) == ["aac", "h264"]),
        "edge: {}\norigin: {}",
        edge.server.stderr(),
        origin.server.stderr()
    );
    let (codecs_rtsp, frames) = probe_rtsp(&edge.url("relay"), "tcp");
    assert_eq!(codecs_rtsp, ["aac", "h264"]);
    assert!(frames >= 40, "{frames}");
    assert!(edge
        .server
        .stderr()
        .contains("RTSP: pulling rtsp://127.0.0.1"));
    // The origin goes away and comes back; the edge's input starts again with back-off.
    drop(publisher);
    origin.server.restart();
    let _publisher = publish(&origin.url("live"), "tcp", &logs);
    assert!(
        eventually(Duration::from_secs(40), || {
            let before = edge.server.stderr().matches("RTSP: pulling").count();
            before >= 2 && codecs(&flv) == ["aac", "h264"]
        }),
        "edge: {}",
        edge.server.stderr()
    );
}

/// Sends raw bytes and reads whatever comes back until the server closes or 3 s pass.
fn exchange(port: u16, steps: &[Vec<u8>]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut got = Vec::new();
    for step in steps {
        if s.write_all(step).is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A publisher whose RTP is garbage (random bytes, wrong versions, truncated headers, FU-A
/// without a start): logged and counted, the connection's publish goes on, nothing else
/// changes, and a viewer of another stream keeps playing.
#[test]
fn malformed_rtp_from_a_publisher_is_logged_not_fatal() {
    let rs = Rtsp::start(json!({"live": {"source": "push://"}, "junk": {"source": "push://"}}));
    let logs = rs.server.dir.path();
    let _pub = publish(&rs.url("live"), "tcp", logs);
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:streamid=0\r\n";
    let url = rs.url("junk");
    let mut steps = vec![
        format!("ANNOUNCE {url} RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len()).into_bytes(),
        format!("SETUP {url}/streamid=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record\r\n\r\n").into_bytes(),
        format!("RECORD {url} RTSP/1.0\r\nCSeq: 3\r\n\r\n").into_bytes(),
    ];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut frames = Vec::new();
    for i in 0..400u32 {
        let len = 1 + (i as usize * 53) % 1300;
        let mut payload: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        match i % 4 {
            // RTP version 2 with an FU-A fragment that never started.
            0 if len > 14 => {
                payload[0] = 0x80;
                payload[12] = 28;
                payload[13] = 0x05;
            }
            // Truncated header.
            1 => payload.truncate(5),
            _ => {}
        }
        let channel = (i % 2) as u8;
        frames.extend_from_slice(&[
            b'$',
            channel,
            (payload.len() >> 8) as u8,
            payload.len() as u8,
        ]);
        frames.extend_from_slice(&payload);
    }
    steps.push(frames);
    steps.push(format!("TEARDOWN {url} RTSP/1.0\r\nCSeq: 4\r\n\r\n").into_bytes());
    let answers = exchange(rs.rtsp, &steps);
    assert_eq!(answers.matches("RTSP/1.0 200 OK").count(), 4, "{answers}");
    assert!(
        eventually(Duration::from_secs(5), || rs
            .server
            .stderr()
            .contains("RTSP publish of junk")),
        "{}",
        rs.server.stderr()
    );
    let (codecs, frames) = probe_rtsp(&rs.url("live"), "tcp");
    assert_eq!(codecs, ["aac", "h264"], "{}", rs.server.stderr());
    assert!(frames >= 40);
}

/// USER_NEW decides for RTSP viewers as for any other: a handler that says no gets the viewer
/// a 403 to DESCRIBE; one that says yes lets it play.
#[test]
fn user_new_decides_for_rtsp_viewers() {
    let handler = common::handler::HandlerServer::start(&[("USER_NEW", "false")]);
    let rs = Rtsp::start(json!({"live": {"source": "push://"}}));
    let logs = rs.server.dir.path();
    let _pub = publish(&rs.url("live"), "tcp", logs);
    let flv = format!("http://127.0.0.1:{}/live.flv", rs.http);
    assert!(eventually(Duration::from_secs(15), || codecs(&flv) == ["aac", "h264"]));
    rs.server.api2(json!({"config": {"triggers": {"USER_NEW": [
        {"handler": handler.url(), "sync": true, "default": "true", "streams": ["live"]}
    ]}}}));
    let describe = format!(
        "DESCRIBE {} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n",
        rs.url("live")
    );
    let answer = exchange(rs.rtsp, &[describe.into_bytes()]);
    assert!(answer.starts_with("RTSP/1.0 403"), "{answer}");
    let calls = handler.calls_for("USER_NEW");
    assert!(
        calls.iter().any(|c| c.body.contains("RTSP")),
        "USER_NEW names the protocol: {calls:?}"
    );
    // Allowed: the viewer plays.
    let allow = common::handler::HandlerServer::start(&[("USER_NEW", "true")]);
    rs.server.api2(json!({"config": {"triggers": {"USER_NEW": [
        {"handler": allow.url(), "sync": true, "default": "false", "streams": ["live"]}
    ]}}}));
    let (codecs, _) = probe_rtsp(&rs.url("live"), "tcp");
    assert_eq!(codecs, ["aac", "h264"], "{}", rs.server.stderr());
}
