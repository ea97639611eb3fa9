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
//! `--servers eddy,nginx` runs each RTMP and HLS row against nginx with Debian's RTMP module too
//! (`apt-get install nginx libnginx-mod-rtmp`), one after the other with the same clip, publisher
//! and viewers, for a side-by-side figure (nginx has no fan-out latency figure and no FLV).
//!
//! `--batch-ms 40` sets the stream's `fanout_batch_ms`: audio waits for the next video frame (at
//! most 40 ms), so each viewer gets one write per frame instead of one per packet.
//!
//! The `rec-ts`, `rec-mp4` and `rec-flv` "protocols" start N recordings of the stream
//! (`push_start` to files in a temporary folder) instead of viewers; their rate is the bytes each
//! push wrote, and a "stalled" recording is one that is no longer running.

mod servers;
mod viewers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use servers::{check, Kind};
use viewers::ViewerStats;

struct Args {
    viewers: Vec<usize>,
    protocols: Vec<String>,
    seconds: u64,
    servers: Vec<Kind>,
    batch_ms: u64,
}

fn args() -> Args {
    let mut a = Args {
        viewers: vec![100, 1000],
        protocols: vec!["flv".into(), "rtmp".into()],
        seconds: 20,
        servers: vec![Kind::Eddy],
        batch_ms: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--viewers" => a.viewers = v.split(',').filter_map(|n| n.parse().ok()).collect(),
            "--protocols" => a.protocols = v.split(',').map(String::from).collect(),
            "--seconds" => a.seconds = v.parse().unwrap_or(20),
            "--batch-ms" => a.batch_ms = v.parse().unwrap_or(0),
            "--servers" => {
                a.servers = v
                    .split(',')
                    .filter_map(|k| match k {
                        "eddy" => Some(Kind::Eddy),
                        "nginx" => Some(Kind::Nginx),
                        _ => None,
                    })
                    .collect()
            }
            _ => {
                eprintln!(
                    "usage: fanout [--viewers 100,1000] [--protocols flv,rtmp] [--seconds 20] [--servers eddy,nginx] [--batch-ms 0]"
                );
                std::process::exit(2);
            }
        }
    }
    a
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

fn main() {
    let args = args();
    let bin = servers::build_eddy();
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&work).expect("bench dir");
    let clip = make_clip(&work);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");

    println!("| server | protocol | viewers | server CPU % of a core | per viewer % | RSS before → after (peak) MiB | per extra viewer KiB | per-viewer kbit/s min/avg | stalled viewers | worst gap ms | latency p50 / p99 / max ms |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for proto in &args.protocols {
        for &n in &args.viewers {
            for &kind in args.servers.iter().filter(|k| k.serves(proto)) {
                run(&rt, kind, &bin, &clip, proto, n, &args);
            }
        }
    }
}

/// One row: start the server, publish, let the buffer fill, connect `n` viewers (or start `n`
/// recordings), measure for `seconds`, print.
fn run(
    rt: &tokio::runtime::Runtime,
    kind: Kind,
    bin: &Path,
    clip: &Path,
    proto: &str,
    n: usize,
    args: &Args,
) {
    let server = servers::start(kind, bin, proto == "hls", args.batch_ms);
    let pid = server.child.id();
    let mut publisher = Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
        .arg(clip)
        .args(["-c", "copy", "-f", "flv"])
        .arg(format!("rtmp://127.0.0.1:{}/live/bench", server.rtmp))
        .stdin(Stdio::null())
        .spawn()
        .expect("ffmpeg publisher");
    // Let the buffer fill its 10 s window, so memory before/after compares viewers only.
    std::thread::sleep(Duration::from_secs(14));
    if proto == "hls" {
        rt.block_on(viewers::hls_once(server.http, kind.hls_dir()));
    }
    let (rss0, _) = memory_kib(pid);
    let measuring = Arc::new(AtomicBool::new(false));
    let stats: Vec<Arc<ViewerStats>> = (0..n).map(|_| Arc::new(ViewerStats::default())).collect();
    let recording = proto.strip_prefix("rec-");
    let api_port = server.api.unwrap_or(0);
    if let Some(ext) = recording {
        for i in 0..n {
            let target = server.dir.path().join(format!("rec-{i}.{ext}"));
            let cmd = serde_json::json!({"push_start": ["bench", target.to_string_lossy()]});
            api(api_port, &cmd.to_string());
        }
    }
    for s in stats.iter().filter(|_| recording.is_none()) {
        let (s, m) = (s.clone(), measuring.clone());
        match proto {
            "rtmp" => drop(rt.spawn(viewers::rtmp_viewer(server.rtmp, s, m))),
            "rtsp" => drop(rt.spawn(viewers::rtsp_viewer(server.rtsp, s, m))),
            "hls" => drop(rt.spawn(viewers::hls_viewer(server.http, kind.hls_dir(), s, m))),
            "ts" => drop(rt.spawn(viewers::http_viewer(server.http, "ts", s, m))),
            "mp4" => drop(rt.spawn(viewers::http_viewer(server.http, "mp4", s, m))),
            _ => drop(rt.spawn(viewers::http_viewer(server.http, "flv", s, m))),
        }
    }
    // Let everyone join and settle, then measure.
    std::thread::sleep(Duration::from_secs(5));
    if server.api.is_some() {
        api(api_port, r#"{"fanout_latency":{"reset":true}}"#);
    }
    let pushed = || -> Vec<u64> {
        let list = api(api_port, r#"{"push_list":true}"#)["push_list"].clone();
        let rows = list.as_array().cloned().unwrap_or_default();
        rows.iter()
            .map(|r| r[5]["bytes"].as_u64().unwrap_or(0))
            .collect()
    };
    let pushed0 = if recording.is_some() {
        pushed()
    } else {
        Vec::new()
    };
    let cpu0 = cpu_seconds(pid);
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(args.seconds));
    measuring.store(false, Ordering::Relaxed);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu0;
    let (rss1, hwm) = memory_kib(pid);
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
    // A stall: no data for over 1 s (continuous outputs), or no new segment for over three
    // segment lengths (HLS).
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
    // Eddy measures its fan-out latency (packet in → viewer's write returned); nginx does not.
    let latency = if server.api.is_some() {
        let lat = api(api_port, r#"{"fanout_latency":true}"#)["fanout_latency"].clone();
        format!("{} / {} / {}", lat["p50_ms"], lat["p99_ms"], lat["max_ms"])
    } else {
        "–".to_string()
    };
    println!(
        "| {} | {proto} | {n} | {:.1} | {:.4} | {:.1} → {:.1} ({:.1}) | {:.1} | {:.0} / {:.0} | {stalled} | {worst} | {latency} |",
        kind.name(),
        cpu / wall * 100.0,
        cpu / wall * 100.0 / n as f64,
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0,
        hwm as f64 / 1024.0,
        (rss1.saturating_sub(rss0)) as f64 / n as f64,
        min,
        avg,
    );
    if server.api.is_some() {
        let (clients_time, clients_rows) = clients_ms(api_port);
        println!("  `clients` with {n} viewers: {clients_rows} rows in {clients_time:.1} ms (median of 5)");
    }
    let _ = publisher.kill();
    let _ = publisher.wait();
    drop(server);
    // Drop the viewers' tasks by letting their sockets close with the server.
    std::thread::sleep(Duration::from_secs(1));
}
