//! What a DTSC edge adds to latency: an origin Eddy takes an RTMP publish, an edge Eddy pulls it
//! over DTSC (`dtsc://origin/bench`), and two HTTP-FLV readers, one on each, note when every
//! video frame arrives. Frames keep the stream's timestamps on both (FLV output is not rebased
//! per viewer, and the edge keeps the origin's times), so each frame seen on both gives one
//! figure: its arrival at the edge reader less its arrival at the origin reader.
//!
//! ```sh
//! cargo run --release --example relay_latency               # 20 s
//! cargo run --release --example relay_latency -- 60         # 60 s
//! ```
//!
//! Prints p50, p95 and max in ms, and how many frames were matched.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn fail(what: &str) -> ! {
    eprintln!("relay_latency: {what}");
    std::process::exit(1);
}

struct Server {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(bin: &Path, config: serde_json::Value) -> Server {
    let dir = tempfile::tempdir().unwrap_or_else(|_| fail("no temp dir"));
    std::fs::write(dir.path().join("config.json"), config.to_string())
        .unwrap_or_else(|_| fail("cannot write the config"));
    let child = Command::new(bin)
        .current_dir(dir.path())
        .args(["-c", "config.json", "-p", &free_port().to_string()])
        .args(["-i", "127.0.0.1", "-g", "2"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|_| fail("cannot start eddy"));
    Server { child, _dir: dir }
}

fn build() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args(["build", "--release", "--bin", "eddy"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        fail("cargo build --release failed");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/eddy")
}

/// Reads HTTP-FLV from `url_path` on `port` until `until`, noting each video tag's arrival by
/// its timestamp.
fn reader(port: u16, path: String, until: Instant, seen: Arc<Mutex<HashMap<u32, Instant>>>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut s = loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let get = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
            if s.write_all(get.as_bytes()).is_ok() {
                break s;
            }
        }
        if Instant::now() > deadline {
            fail(&format!("cannot read {path}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 65536];
    // Skip the HTTP head, the FLV header and the first PreviousTagSize.
    let mut at: Option<usize> = None;
    while Instant::now() < until {
        let n = match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = Instant::now();
        buf.extend_from_slice(&chunk[..n]);
        if at.is_none() {
            match buf.windows(4).position(|w| w == b"\r\n\r\n") {
                Some(i) if buf.len() >= i + 4 + 13 => at = Some(i + 4 + 13),
                _ => continue,
            }
        }
        let mut pos = at.unwrap_or(0);
        while buf.len() >= pos + 11 {
            let size = u32::from_be_bytes([0, buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
            if buf.len() < pos + 11 + size + 4 {
                break;
            }
            let ts = u32::from_be_bytes([buf[pos + 7], buf[pos + 4], buf[pos + 5], buf[pos + 6]]);
            if buf[pos] == 9 {
                seen.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(ts)
                    .or_insert(now);
            }
            pos += 11 + size + 4;
        }
        buf.drain(..pos);
        at = Some(0);
    }
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let bin = build();
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let clip = work.join("bench_720p_2500k.flv");
    if !clip.exists() {
        fail("run `cargo run --release --example fanout -- --viewers 1` once to make the clip");
    }
    let (o_http, o_rtmp, o_dtsc, e_http) = (free_port(), free_port(), free_port(), free_port());
    let _origin = start(
        &bin,
        serde_json::json!({
            "config": {"protocols": [
                {"connector": "HTTP", "port": o_http, "interface": "127.0.0.1"},
                {"connector": "RTMP", "port": o_rtmp, "interface": "127.0.0.1"},
                {"connector": "DTSC", "port": o_dtsc, "interface": "127.0.0.1"},
                {"connector": "FLV"}
            ]},
            "streams": {"bench": {"source": "push://"}}
        }),
    );
    let _edge = start(
        &bin,
        serde_json::json!({
            "config": {"protocols": [
                {"connector": "HTTP", "port": e_http, "interface": "127.0.0.1"},
                {"connector": "FLV"}
            ]},
            "streams": {"relay": {"source": format!("dtsc://127.0.0.1:{o_dtsc}/bench")}}
        }),
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut publisher = Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
        .arg(&clip)
        .args(["-c", "copy", "-f", "flv"])
        .arg(format!("rtmp://127.0.0.1:{o_rtmp}/live/bench"))
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|_| fail("cannot start ffmpeg"));
    std::thread::sleep(Duration::from_secs(3));
    let until = Instant::now() + Duration::from_secs(secs + 3);
    let origin_seen = Arc::new(Mutex::new(HashMap::new()));
    let edge_seen = Arc::new(Mutex::new(HashMap::new()));
    let threads = [
        (o_http, "/bench.flv", origin_seen.clone()),
        (e_http, "/relay.flv", edge_seen.clone()),
    ]
    .map(|(port, path, seen)| {
        std::thread::spawn(move || reader(port, path.to_string(), until, seen))
    });
    for t in threads {
        let _ = t.join();
    }
    let _ = publisher.kill();
    let _ = publisher.wait();
    let o = origin_seen.lock().unwrap_or_else(|p| p.into_inner());
    let e = edge_seen.lock().unwrap_or_else(|p| p.into_inner());
    // The first 3 s are the readers' join bursts (a GOP from each buffer at once): left out.
    let from = until - Duration::from_secs(secs);
    let mut added: Vec<f64> = o
        .iter()
        .filter(|(_, at)| **at >= from)
        .filter_map(|(ts, at)| {
            let edge = e.get(ts)?;
            Some(
                edge.saturating_duration_since(*at).as_secs_f64() * 1000.0
                    - at.saturating_duration_since(*edge).as_secs_f64() * 1000.0,
            )
        })
        .collect();
    if added.is_empty() {
        fail(&format!(
            "no frame seen on both ({} at the origin, {} at the edge)",
            o.len(),
            e.len()
        ));
    }
    added.sort_by(f64::total_cmp);
    let pick = |q: f64| added[((added.len() - 1) as f64 * q).round() as usize];
    println!(
        "DTSC edge relay, {} frames matched over {secs} s: added latency p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        added.len(),
        pick(0.5),
        pick(0.95),
        pick(1.0)
    );
}
