//! Fan-out benchmark: one publisher at about 2.5 Mbit/s, N viewers over HTTP-FLV or RTMP,
//! against a release build of `eddy` running in its own process.
//!
//! ```sh
//! cargo run --release --example fanout                      # N = 100 and 1000; FLV, RTMP, HLS
//! cargo run --release --example fanout -- --viewers 200 --protocols flv --seconds 30
//! cargo run --release --example fanout -- --viewers 10,50 --protocols rec-ts,rec-mp4,rec-flv
//! cargo run --release --example fanout -- --viewers 100 --protocols ts,mp4   # progressive TS, MP4
//! cargo run --release --example fanout -- --viewers 200 --protocols rtsp,rtmp  # RTSP (TCP) vs RTMP
//! ```
//!
//! It builds `target/release/eddy`, makes a 720p H.264 + AAC clip at 2.5 Mbit/s with ffmpeg
//! (CBR, so the rate is real), publishes it with `ffmpeg -re -c copy`, connects the viewers from
//! this process (HTTP GETs, a minimal RTMP play client, or HLS players that poll the playlist
//! every second and fetch each new segment), lets them run, and prints per run:
//! the server's CPU time (from /proc), its resident memory before and after the viewers joined
//! (and its peak), what each viewer received, how many viewers stalled (a gap over 1 s without
//! data), and the fan-out latency percentiles Eddy measured (packet into the buffer → viewer's
//! write returned), then the time the API takes to answer `clients` with every viewer connected.
//!
//! The `rec-ts`, `rec-mp4` and `rec-flv` "protocols" start N recordings of the stream
//! (`push_start` to files in a temporary folder) instead of viewers; their rate is the bytes each
//! push wrote, and a "stalled" recording is one that is no longer running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    viewers: Vec<usize>,
    protocols: Vec<String>,
    seconds: u64,
}

fn args() -> Args {
    let mut a = Args {
        viewers: vec![100, 1000],
        protocols: vec!["flv".into(), "rtmp".into()],
        seconds: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--viewers" => a.viewers = v.split(',').filter_map(|n| n.parse().ok()).collect(),
            "--protocols" => a.protocols = v.split(',').map(String::from).collect(),
            "--seconds" => a.seconds = v.parse().unwrap_or(20),
            _ => {
                eprintln!(
                    "usage: fanout [--viewers 100,1000] [--protocols flv,rtmp] [--seconds 20]"
                );
                std::process::exit(2);
            }
        }
    }
    a
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn check(status: std::io::Result<std::process::ExitStatus>, what: &str) {
    match status {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("fanout: {what} failed: {other:?}");
            std::process::exit(1);
        }
    }
}

fn build_server() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    check(
        Command::new(cargo)
            .args(["build", "--release", "--bin", "eddy"])
            .status(),
        "cargo build --release",
    );
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/eddy")
}

fn make_clip(dir: &Path) -> PathBuf {
    let clip = dir.join("bench_720p_2500k.flv");
    if !clip.exists() {
        eprintln!("fanout: encoding the 2.5 Mbit/s clip (once)...");
        check(
            Command::new("ffmpeg")
                .args([
                    "-y",
                    "-v",
                    "error",
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc2=size=1280x720:rate=25",
                    "-f",
                    "lavfi",
                    "-i",
                    "sine=sample_rate=48000",
                    "-t",
                    "20",
                ])
                .args([
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-pix_fmt",
                    "yuv420p",
                    "-g",
                    "50",
                    "-b:v",
                    "2350k",
                    "-minrate",
                    "2350k",
                    "-maxrate",
                    "2350k",
                    "-bufsize",
                    "1200k",
                    "-x264-params",
                    "nal-hrd=cbr:force-cfr=1",
                ])
                .args(["-c:a", "aac", "-b:a", "128k"])
                .arg(&clip)
                .status(),
            "ffmpeg clip",
        );
    }
    clip
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// (VmRSS, VmHWM) in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let get = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

fn api(port: u16, command: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .args([
            "-s",
            &format!("http://127.0.0.1:{port}/api2"),
            "--data-urlencode",
            &format!("command={command}"),
        ])
        .output();
    out.ok()
        .and_then(|o| serde_json::from_slice(&o.stdout).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Median time of five `clients` requests (as curl measures the whole request), and the
/// rows the last one had.
fn clients_ms(port: u16) -> (f64, usize) {
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..5 {
        let out = Command::new("curl")
            .args([
                "-s",
                "-w",
                "\n%{time_total}",
                &format!("http://127.0.0.1:{port}/api2"),
                "--data-urlencode",
                r#"command={"clients":{"time":-2}}"#,
            ])
            .output();
        let text = out
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let (body, time) = text.trim_end().rsplit_once('\n').unwrap_or(("", "0"));
        times.push(time.trim().parse::<f64>().unwrap_or(0.0) * 1000.0);
        rows = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["clients"]["data"].as_array().map(Vec::len))
            .unwrap_or(0);
    }
    times.sort_by(f64::total_cmp);
    (times[2], rows)
}

/// What one viewer saw.
#[derive(Default)]
struct ViewerStats {
    bytes: AtomicU64,
    /// Longest gap between two reads, in ms, while measuring.
    max_gap_ms: AtomicU64,
}

/// A progressive HTTP viewer (`/bench.flv`, `/bench.ts`, `/bench.mp4`): one GET, then read.
async fn http_viewer(
    port: u16,
    ext: &'static str,
    stats: Arc<ViewerStats>,
    measuring: Arc<std::sync::atomic::AtomicBool>,
) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let get = format!("GET /bench.{ext} HTTP/1.1\r\nHost: bench\r\n\r\n");
    if s.write_all(get.as_bytes()).await.is_err() {
        return;
    }
    read_loop(s, stats, measuring).await;
}

/// A minimal RTMP player: plain handshake, connect, createStream, play; then just read.
async fn rtmp_viewer(
    port: u16,
    stats: Arc<ViewerStats>,
    measuring: Arc<std::sync::atomic::AtomicBool>,
) {
    use eddy::media::amf0::{encode_all, Amf0Value as A};
    use eddy::protocols::rtmp::chunk::write_message;
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let mut c0c1 = vec![3u8];
    c0c1.extend(vec![0u8; 1536]);
    let mut s0s1s2 = vec![0u8; 3073];
    if s.write_all(&c0c1).await.is_err() || s.read_exact(&mut s0s1s2).await.is_err() {
        return;
    }
    let mut out = bytes::BytesMut::new();
    out.extend_from_slice(&s0s1s2[1..1537]);
    let connect = encode_all(&[
        A::String("connect".into()),
        A::Number(1.0),
        A::Object(vec![
            ("app".into(), A::String("play".into())),
            (
                "tcUrl".into(),
                A::String(format!("rtmp://127.0.0.1:{port}/play")),
            ),
        ]),
    ]);
    write_message(&mut out, 128, 3, 0, 20, 0, &connect);
    write_message(
        &mut out,
        128,
        3,
        0,
        20,
        0,
        &encode_all(&[A::String("createStream".into()), A::Number(2.0), A::Null]),
    );
    write_message(
        &mut out,
        128,
        8,
        0,
        20,
        1,
        &encode_all(&[
            A::String("play".into()),
            A::Number(0.0),
            A::Null,
            A::String("bench".into()),
        ]),
    );
    if s.write_all(&out).await.is_err() {
        return;
    }
    read_loop(s, stats, measuring).await;
}

/// One GET on a kept-alive connection; returns the body.
async fn http_get(s: &mut TcpStream, path: &str, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())?;
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    head.starts_with("http/1.1 200")
        .then(|| buf[head_end..head_end + len].to_vec())
}

/// An HLS player: polls the media playlist every second on one kept-alive connection and
/// fetches each new segment. A gap between new segments counts as the viewer's "gap".
async fn hls_viewer(
    port: u16,
    stats: Arc<ViewerStats>,
    measuring: Arc<std::sync::atomic::AtomicBool>,
) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let mut buf = Vec::new();
    let mut last_segment = String::new();
    let mut last_new = Instant::now();
    loop {
        let Some(playlist) = http_get(&mut s, "/hls/bench/1_2/index.m3u8", &mut buf).await else {
            return;
        };
        let text = String::from_utf8_lossy(&playlist).to_string();
        if let Some(newest) = text.lines().rfind(|l| l.contains(".ts")) {
            if newest != last_segment {
                let Some(seg) =
                    http_get(&mut s, &format!("/hls/bench/1_2/{newest}"), &mut buf).await
                else {
                    return;
                };
                let now = Instant::now();
                if measuring.load(Ordering::Relaxed) {
                    stats
                        .bytes
                        .fetch_add((seg.len() + playlist.len()) as u64, Ordering::Relaxed);
                    stats.max_gap_ms.fetch_max(
                        now.duration_since(last_new).as_millis() as u64,
                        Ordering::Relaxed,
                    );
                }
                last_new = now;
                last_segment = newest.to_string();
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A minimal RTSP player: DESCRIBE, SETUP of every media (TCP interleaved), PLAY; then read.
async fn rtsp_viewer(
    port: u16,
    stats: Arc<ViewerStats>,
    measuring: Arc<std::sync::atomic::AtomicBool>,
) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let url = format!("rtsp://127.0.0.1:{port}/bench");
    let mut cseq = 0;
    let mut session = String::new();
    let mut ask = |method: &str, target: &str, extra: &str| {
        cseq += 1;
        format!("{method} {target} RTSP/1.0\r\nCSeq: {cseq}\r\n{extra}\r\n")
    };
    let Some(sdp) = rtsp_answer(&mut s, ask("DESCRIBE", &url, "")).await else {
        return;
    };
    let controls: Vec<String> = sdp
        .lines()
        .filter_map(|l| l.strip_prefix("a=control:track"))
        .map(|id| format!("{url}/track{}", id.trim()))
        .collect();
    for (n, control) in controls.iter().enumerate() {
        let extra = format!(
            "Transport: RTP/AVP/TCP;unicast;interleaved={}-{}\r\n{session}",
            2 * n,
            2 * n + 1
        );
        let Some(head) = rtsp_answer(&mut s, ask("SETUP", control, &extra)).await else {
            return;
        };
        if let Some(id) = head.lines().find_map(|l| l.strip_prefix("Session: ")) {
            session = format!("Session: {}\r\n", id.split(';').next().unwrap_or(id));
        }
    }
    if s.write_all(ask("PLAY", &url, &session).as_bytes())
        .await
        .is_err()
    {
        return;
    }
    read_loop(s, stats, measuring).await;
}

/// Sends a request and reads its answer (head and body) as text.
async fn rtsp_answer(s: &mut TcpStream, request: String) -> Option<String> {
    s.write_all(request.as_bytes()).await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return Some(text);
            }
        }
    }
}

async fn read_loop(
    mut s: TcpStream,
    stats: Arc<ViewerStats>,
    measuring: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut last = Instant::now();
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let now = Instant::now();
                if measuring.load(Ordering::Relaxed) {
                    stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    let gap = now.duration_since(last).as_millis() as u64;
                    stats.max_gap_ms.fetch_max(gap, Ordering::Relaxed);
                }
                last = now;
            }
        }
    }
}

struct Server {
    child: Child,
    api: u16,
    http: u16,
    rtmp: u16,
    rtsp: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(bin: &Path) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let (api, http, rtmp, rtsp) = (free_port(), free_port(), free_port(), free_port());
    let cfg = serde_json::json!({
        "config": {"protocols": [
            {"connector": "HTTP", "port": http, "interface": "127.0.0.1"},
            {"connector": "RTMP", "port": rtmp, "interface": "127.0.0.1"},
            {"connector": "RTSP", "port": rtsp, "interface": "127.0.0.1"},
            {"connector": "FLV"},
            {"connector": "HLS"},
            {"connector": "HTTPTS"},
            {"connector": "MP4"}
        ]},
        "streams": {"bench": {"source": "push://", "DVR": 10000}}
    });
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).expect("config");
    let child = Command::new(bin)
        .current_dir(dir.path())
        .args([
            "-c",
            "config.json",
            "-p",
            &api.to_string(),
            "-i",
            "127.0.0.1",
            "-g",
            "2",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("eddy");
    std::thread::sleep(Duration::from_millis(500));
    Server {
        child,
        api,
        http,
        rtmp,
        rtsp,
        _dir: dir,
    }
}

fn main() {
    let args = args();
    let bin = build_server();
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&work).expect("bench dir");
    let clip = make_clip(&work);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");

    println!("| protocol | viewers | server CPU % of a core | per viewer % | RSS before → after (peak) MiB | per extra viewer KiB | per-viewer kbit/s min/avg | stalled viewers | worst gap ms | latency p50 / p99 / max ms |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for proto in &args.protocols {
        for &n in &args.viewers {
            let server = start_server(&bin);
            let pid = server.child.id();
            let mut publisher = Command::new("ffmpeg")
                .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
                .arg(&clip)
                .args([
                    "-c",
                    "copy",
                    "-f",
                    "flv",
                    &format!("rtmp://127.0.0.1:{}/live/bench", server.rtmp),
                ])
                .stdin(Stdio::null())
                .spawn()
                .expect("ffmpeg publisher");
            // Let the buffer fill its 10 s window, so memory before/after compares viewers only.
            std::thread::sleep(Duration::from_secs(14));
            let (rss0, _) = memory_kib(pid);
            let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let stats: Vec<Arc<ViewerStats>> =
                (0..n).map(|_| Arc::new(ViewerStats::default())).collect();
            let recording = proto.strip_prefix("rec-");
            if let Some(ext) = recording {
                for i in 0..n {
                    let target = server._dir.path().join(format!("rec-{i}.{ext}"));
                    let cmd =
                        serde_json::json!({"push_start": ["bench", target.to_string_lossy()]});
                    api(server.api, &cmd.to_string());
                }
            }
            for s in stats.iter().filter(|_| recording.is_none()) {
                let (s, m) = (s.clone(), measuring.clone());
                match proto.as_str() {
                    "rtmp" => drop(rt.spawn(rtmp_viewer(server.rtmp, s, m))),
                    "rtsp" => drop(rt.spawn(rtsp_viewer(server.rtsp, s, m))),
                    "hls" => drop(rt.spawn(hls_viewer(server.http, s, m))),
                    "ts" => drop(rt.spawn(http_viewer(server.http, "ts", s, m))),
                    "mp4" => drop(rt.spawn(http_viewer(server.http, "mp4", s, m))),
                    _ => drop(rt.spawn(http_viewer(server.http, "flv", s, m))),
                }
            }
            // Let everyone join and settle, then measure.
            std::thread::sleep(Duration::from_secs(5));
            api(server.api, r#"{"fanout_latency":{"reset":true}}"#);
            let pushed = || -> Vec<u64> {
                let list = api(server.api, r#"{"push_list":true}"#)["push_list"].clone();
                let rows = list.as_array().cloned().unwrap_or_default();
                rows.iter()
                    .map(|r| r[5]["bytes"].as_u64().unwrap_or(0))
                    .collect()
            };
            let pushed0 = pushed();
            let cpu0 = cpu_seconds(pid);
            measuring.store(true, Ordering::Relaxed);
            let t0 = Instant::now();
            std::thread::sleep(Duration::from_secs(args.seconds));
            measuring.store(false, Ordering::Relaxed);
            let wall = t0.elapsed().as_secs_f64();
            let cpu = cpu_seconds(pid) - cpu0;
            let (rss1, hwm) = memory_kib(pid);
            let lat = api(server.api, r#"{"fanout_latency":true}"#)["fanout_latency"].clone();
            let (clients_time, clients_rows) = clients_ms(server.api);
            let rates: Vec<f64> = if recording.is_some() {
                let pushed1 = pushed();
                let running = pushed1.len();
                pushed1
                    .iter()
                    .zip(pushed0.iter().chain(std::iter::repeat(&0)))
                    .map(|(b1, b0)| b1.saturating_sub(*b0) as f64 * 8.0 / 1000.0 / wall)
                    .chain(std::iter::repeat_n(0.0, n.saturating_sub(running)))
                    .collect()
            } else {
                stats
                    .iter()
                    .map(|s| s.bytes.load(Ordering::Relaxed) as f64 * 8.0 / 1000.0 / wall)
                    .collect()
            };
            let min = rates.iter().cloned().fold(f64::INFINITY, f64::min);
            let avg = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
            // A stall: no data for over 1 s (continuous outputs), or no new segment for over
            // three segment lengths (HLS).
            let limit = if proto == "hls" { 6_000 } else { 1_000 };
            let gap = |s: &Arc<ViewerStats>| s.max_gap_ms.load(Ordering::Relaxed);
            let worst = stats.iter().map(gap).max().unwrap_or(0);
            let stalled = if recording.is_some() {
                rates.iter().filter(|r| **r == 0.0).count()
            } else {
                stats
                    .iter()
                    .filter(|s| gap(s) > limit || s.bytes.load(Ordering::Relaxed) == 0)
                    .count()
            };
            println!(
                "| {proto} | {n} | {:.1} | {:.4} | {:.1} → {:.1} ({:.1}) | {:.1} | {:.0} / {:.0} | {stalled} | {worst} | {} / {} / {} |",
                cpu / wall * 100.0,
                cpu / wall * 100.0 / n as f64,
                rss0 as f64 / 1024.0,
                rss1 as f64 / 1024.0,
                hwm as f64 / 1024.0,
                (rss1.saturating_sub(rss0)) as f64 / n as f64,
                min,
                avg,
                lat["p50_ms"],
                lat["p99_ms"],
                lat["max_ms"],
            );
            println!("  `clients` with {n} viewers: {clients_rows} rows in {clients_time:.1} ms (median of 5)");
            let _ = publisher.kill();
            let _ = publisher.wait();
            drop(server);
            // Drop the viewers' tasks by letting their sockets close with the server.
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}
