//! Inputs that bring their own media, against real peers: ffmpeg sends MPEG-TS over UDP
//! (plain, in RTP, to a multicast group) to a `tsudp://` stream, and ffprobe plays the stream's
//! HTTP-FLV, HLS and RTMP outputs; noise on the port changes nothing.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use serde_json::{json, Value};

use common::media::{self, probe_streams};
use common::{eventually, free_port, LiveServer};

/// The codec names ffprobe finds at `url`, sorted.
fn codecs(url: &str) -> Vec<String> {
    let mut c: Vec<String> = probe_streams(url)
        .iter()
        .filter_map(|s| s["codec_name"].as_str().map(String::from))
        .collect();
    c.sort();
    c
}

fn server(streams: Value) -> LiveServer {
    LiveServer::start_with_outputs(streams, &["FLV", "HLS", "HTTPTS"])
}

/// A free UDP port on the loopback.
fn free_udp_port() -> u16 {
    loop {
        let port = free_port();
        if UdpSocket::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
}

#[test]
fn ts_over_udp_plays_through_every_output() {
    let port = free_udp_port();
    let ls = server(json!({"udp": {"source": format!("tsudp://127.0.0.1:{port}")}}));
    let logs = ls.server.dir.path();
    let _sender = media::send(
        media::h264_clip(),
        "mpegts",
        &format!("udp://127.0.0.1:{port}?pkt_size=1316"),
        logs,
    );
    // The first viewer starts the stream (and its socket), then waits for a keyframe.
    let want = ["aac", "h264"];
    assert_eq!(codecs(&ls.flv_url("udp")), want, "{}", ls.server.stderr());
    assert_eq!(
        codecs(&format!("http://127.0.0.1:{}/hls/udp/index.m3u8", ls.http)),
        want
    );
    assert_eq!(codecs(&ls.rtmp_url("play", "udp")), want);
    let v = ls
        .server
        .api2(json!({"active_streams": {"longform": true, "fields": ["status", "inputs"]}}));
    assert_eq!(v["active_streams"]["udp"]["status"], "Online", "{v}");
    assert!(ls
        .server
        .stderr()
        .contains("TS over UDP: listening on 127.0.0.1"));
}

#[test]
fn rtp_and_multicast_and_noise() {
    let (rtp_port, mc_port, noisy_port) = (free_udp_port(), free_udp_port(), free_udp_port());
    let ls = server(json!({
        "rtp": {"source": format!("tsudp://:{rtp_port}")},
        "group": {"source": format!("tsudp://239.255.77.1:{mc_port}/127.0.0.1")},
        "noisy": {"source": format!("tsudp://127.0.0.1:{noisy_port}")},
        "bad": {"source": "tsudp://nowhere"}
    }));
    let logs = ls.server.dir.path();
    let _rtp = media::send(
        media::h264_clip(),
        "rtp_mpegts",
        &format!("rtp://127.0.0.1:{rtp_port}"),
        logs,
    );
    let _mc = media::send(
        media::h264_clip(),
        "mpegts",
        &format!("udp://239.255.77.1:{mc_port}?localaddr=127.0.0.1&ttl=1&pkt_size=1316"),
        logs,
    );
    assert_eq!(
        codecs(&ls.flv_url("rtp")),
        ["aac", "h264"],
        "{}",
        ls.server.stderr()
    );
    assert_eq!(
        codecs(&ls.flv_url("group")),
        ["aac", "h264"],
        "{}",
        ls.server.stderr()
    );

    // Noise (random datagrams, TS packets with wrong lengths and broken headers) on a third
    // stream's port: it stays without tracks, the log says why, the others play on.
    let noise = std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("socket");
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..3000u32 {
            let len = 1 + (i as usize * 37) % 1400;
            let mut d: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            if i % 3 == 0 {
                d[0] = 0x47; // a sync byte, then garbage
            }
            let _ = sock.send_to(&d, ("127.0.0.1", noisy_port));
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let url = format!("http://127.0.0.1:{}/noisy.flv", ls.http);
    let viewer = std::thread::spawn(move || {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
            .get(&url)
            .send()
            .is_ok()
    });
    // What the demuxer could not use is counted as the stream's packloss.
    let ask = json!({"active_streams": {"longform": true, "fields": ["packloss"]}});
    let counted = eventually(Duration::from_secs(20), || {
        let v = ls.server.api2(ask.clone());
        v["active_streams"]["noisy"]["packloss"]
            .as_u64()
            .unwrap_or(0)
            > 0
    });
    assert!(counted, "{}", ls.server.api2(ask.clone()));
    let _ = noise.join();
    assert!(viewer.join().unwrap_or(false), "the server answers");
    let logged = eventually(Duration::from_secs(10), || {
        let log = ls.server.stderr();
        log.contains("neither TS nor RTP") || log.contains("problem(s) since the last report")
    });
    assert!(logged, "{}", ls.server.stderr());
    // A source that cannot be parsed: a clear reason in the log, nothing else happens.
    let _ = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
        .get(format!("http://127.0.0.1:{}/bad.flv", ls.http))
        .send();
    let logged = eventually(Duration::from_secs(10), || {
        ls.server.stderr().contains("no port (tsudp://[host]:port)")
    });
    assert!(logged, "{}", ls.server.stderr());
    assert_eq!(codecs(&ls.flv_url("rtp")), ["aac", "h264"]);
}

#[test]
fn editing_the_source_moves_the_input() {
    let (first, second) = (free_udp_port(), free_udp_port());
    let ls = server(json!({"live": {"source": format!("tsudp://127.0.0.1:{first}")}}));
    let logs = ls.server.dir.path();
    let _a = media::send(
        media::h264_clip(),
        "mpegts",
        &format!("udp://127.0.0.1:{first}?pkt_size=1316"),
        logs,
    );
    let _b = media::send(
        media::h264_clip(),
        "mpegts",
        &format!("udp://127.0.0.1:{second}?pkt_size=1316"),
        logs,
    );
    let mut viewer = media::play_to_null(&ls.flv_url("live"), logs);
    assert!(ls.wait_online("live"), "{}", ls.server.stderr());
    ls.server
        .api2(json!({"addstream": {"live": {"source": format!("tsudp://127.0.0.1:{second}")}}}));
    let moved = eventually(Duration::from_secs(15), || {
        ls.server
            .stderr()
            .contains(&format!("TS over UDP: listening on 127.0.0.1:{second}"))
    });
    assert!(moved, "{}", ls.server.stderr());
    // The first port is free again.
    let freed = eventually(Duration::from_secs(5), || {
        UdpSocket::bind(("127.0.0.1", first)).is_ok()
    });
    assert!(freed);
    assert_eq!(codecs(&ls.flv_url("live")), ["aac", "h264"]);
    let _ = viewer.child.kill();
}

#[test]
fn an_always_on_input_runs_without_viewers_and_an_idle_one_stops() {
    let (on_port, idle_port) = (free_udp_port(), free_udp_port());
    let ls = server(json!({
        "on": {"source": format!("tsudp://127.0.0.1:{on_port}"), "always_on": true},
        "idle": {"source": format!("tsudp://127.0.0.1:{idle_port}")}
    }));
    let logs = ls.server.dir.path();
    let _a = media::send(
        media::h264_clip(),
        "mpegts",
        &format!("udp://127.0.0.1:{on_port}?pkt_size=1316"),
        logs,
    );
    let _b = media::send(
        media::h264_clip(),
        "mpegts",
        &format!("udp://127.0.0.1:{idle_port}?pkt_size=1316"),
        logs,
    );
    // Nobody asked for `on`: it starts by itself and gets its tracks.
    assert!(ls.wait_online("on"), "{}", ls.server.stderr());
    // `idle` runs while a viewer wants it, and stops (its port freed) a while after.
    assert_eq!(codecs(&ls.flv_url("idle")), ["aac", "h264"]);
    let stopped = eventually(Duration::from_secs(20), || {
        let v = ls.server.api2(json!({"active_streams": true}));
        v["active_streams"]
            .as_array()
            .is_some_and(|a| !a.iter().any(|n| n == "idle"))
    });
    assert!(stopped, "{}", ls.server.stderr());
    assert!(eventually(Duration::from_secs(5), || UdpSocket::bind((
        "127.0.0.1",
        idle_port
    ))
    .is_ok()));
    let v = ls.server.api2(json!({"active_streams": true}));
    assert!(v["active_streams"].to_string().contains("\"on\""), "{v}");
}

/// Figures (ignored; `cargo test --release --test inputs -- --ignored --nocapture`): the
/// server's CPU while an always-on TS-over-UDP stream receives 10 Mbit/s with no viewers.
#[test]
#[ignore = "a benchmark: prints the server's CPU for a 10 Mbit/s TS-over-UDP input"]
fn bench_ten_megabits_of_ts_over_udp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("10m.ts");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1920x1080:rate=25",
        ])
        .args(["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "20"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "9800k",
            "-minrate",
            "9800k",
        ])
        .args([
            "-maxrate", "9800k", "-bufsize", "4000k", "-g", "50", "-c:a", "aac",
        ])
        .arg(&clip)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let port = free_udp_port();
    let ls =
        server(json!({"big": {"source": format!("tsudp://127.0.0.1:{port}"), "always_on": true}}));
    let logs = ls.server.dir.path();
    let _sender = media::send(
        &clip,
        "mpegts",
        &format!("udp://127.0.0.1:{port}?pkt_size=1316"),
        logs,
    );
    assert!(ls.wait_online("big"), "{}", ls.server.stderr());
    std::thread::sleep(Duration::from_secs(3));
    let (cpu0, t0) = (ls.cpu_seconds(), std::time::Instant::now());
    let v0 = ls
        .server
        .api2(json!({"active_streams": {"longform": true, "fields": ["downbytes"]}}));
    std::thread::sleep(Duration::from_secs(15));
    let cpu = (ls.cpu_seconds() - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    let v1 = ls
        .server
        .api2(json!({"active_streams": {"longform": true, "fields": ["downbytes"]}}));
    let up = |v: &Value| {
        v["active_streams"]["big"]["downbytes"]
            .as_f64()
            .unwrap_or(0.0)
    };
    let mbit = (up(&v1) - up(&v0)) * 8.0 / 15.0 / 1e6;
    println!("| TS over UDP, no viewers | {mbit:.1} Mbit/s received | server CPU {cpu:.2} % of a core | RSS {} MiB |", ls.rss_kib() / 1024);
}

#[test]
fn opus_and_latm_audio_over_udp() {
    let (opus_port, latm_port) = (free_udp_port(), free_udp_port());
    let ls = server(json!({
        "opus": {"source": format!("tsudp://127.0.0.1:{opus_port}")},
        "latm": {"source": format!("tsudp://127.0.0.1:{latm_port}")}
    }));
    let logs = ls.server.dir.path();
    let dir = tempfile::tempdir().expect("tempdir");
    // Clips with Opus and with LATM AAC audio, sent as they are.
    let clip = |name: &str, audio: &[&str]| {
        let out = dir.path().join(name);
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(media::h264_clip())
            .args(["-c:v", "copy"])
            .args(audio)
            .args(["-f", "mpegts"])
            .arg(&out)
            .status()
            .expect("ffmpeg");
        assert!(status.success());
        out
    };
    let opus = clip("opus.ts", &["-c:a", "libopus", "-ar", "48000"]);
    let latm = clip("latm.ts", &["-c:a", "aac", "-mpegts_flags", "+latm"]);
    let _a = media::send(
        &opus,
        "mpegts",
        &format!("udp://127.0.0.1:{opus_port}?pkt_size=1316"),
        logs,
    );
    let _b = media::send(
        &latm,
        "mpegts",
        &format!("udp://127.0.0.1:{latm_port}?pkt_size=1316"),
        logs,
    );
    let ts = format!("http://127.0.0.1:{}/opus.ts", ls.http);
    // The stream starts with the first request; ask again once both tracks are known.
    let _ = codecs(&ts);
    let both = eventually(Duration::from_secs(15), || {
        let v = ls
            .server
            .api2(json!({"active_streams": {"longform": true, "fields": ["tracks"]}}));
        v["active_streams"]["opus"]["tracks"].as_u64() == Some(2)
    });
    assert!(both, "{}", ls.server.stderr());
    assert_eq!(codecs(&ts), ["h264", "opus"]);
    assert_eq!(
        codecs(&ls.flv_url("latm")),
        ["aac", "h264"],
        "{}",
        ls.server.stderr()
    );
}
