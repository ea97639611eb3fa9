//! HLS pull against a real origin: ffmpeg's HLS muxer writes live into a temp folder that a
//! small static file server in the test serves over HTTP; Eddy follows it and ffprobe plays
//! the stream's HTTP-FLV and HLS outputs. Master playlists (two variants), fMP4 segments, an
//! origin that goes away and comes back, a growing playlist file, and bad playlists.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use common::media::{self, probe_streams};
use common::{eventually, LiveServer};

/// A static file server for one folder; while `down` it drops every connection unanswered.
struct Origin {
    port: u16,
    down: Arc<AtomicBool>,
}

impl Origin {
    fn serve(dir: &Path) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let (dir, flag) = (dir.to_path_buf(), down.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (dir, flag) = (dir.clone(), flag.clone());
                std::thread::spawn(move || answer(conn, &dir, &flag));
            }
        });
        Origin { port, down }
    }

    fn url(&self, file: &str) -> String {
        format!("http://127.0.0.1:{}/{file}", self.port)
    }
}

fn answer(mut conn: TcpStream, dir: &Path, down: &AtomicBool) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    if down.load(Ordering::Relaxed) {
        return;
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let name = path.trim_start_matches('/').split('?').next().unwrap_or("");
    let file = (!name.contains("..")).then(|| std::fs::read(dir.join(name)).ok());
    let _ = match file.flatten() {
        Some(body) => conn
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )
            .and_then(|_| conn.write_all(&body)),
        None => conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
}

/// An ffmpeg process, killed when dropped.
struct Ffmpeg(Child);

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// ffmpeg looping the test clip live into `dir/out` as HLS with 1 s segments; `extra` goes
/// before the output (codecs, segment type, variant maps).
fn hls_origin(dir: &Path, out: &str, extra: &[&str]) -> Ffmpeg {
    let clip = media::h264_clip().to_string_lossy().to_string();
    let log =
        std::fs::File::create(dir.join(format!("ffmpeg-{}.log", out.replace('/', "_")))).unwrap();
    let mut args: Vec<&str> = vec!["-v", "error", "-re", "-stream_loop", "-1", "-i", &clip];
    args.extend(extra);
    args.extend([
        "-f",
        "hls",
        "-hls_time",
        "1",
        "-hls_list_size",
        "6",
        "-hls_flags",
        "delete_segments",
    ]);
    let target = dir.join(out).to_string_lossy().to_string();
    args.push(&target);
    let child = Command::new("ffmpeg")
        .args(&args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Ffmpeg(child)
}

fn wait_for(path: &Path) {
    assert!(
        eventually(Duration::from_secs(20), || path.exists()),
        "{} never appeared",
        path.display()
    );
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

fn server(streams: Value) -> LiveServer {
    LiveServer::start_with_outputs(streams, &["FLV", "HLS", "HTTPTS"])
}

fn hls_url(ls: &LiveServer, stream: &str) -> String {
    format!("http://127.0.0.1:{}/hls/{stream}/index.m3u8", ls.http)
}

fn tracks(ls: &LiveServer, stream: &str) -> Value {
    let body = reqwest::blocking::get(format!("http://127.0.0.1:{}/json_{stream}.js", ls.http))
        .unwrap()
        .text()
        .unwrap();
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["meta"]["tracks"].clone()
}

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn ts_segments_from_a_live_origin() {
    let dir = temp();
    let _ff = hls_origin(dir.path(), "index.m3u8", &["-c", "copy"]);
    wait_for(&dir.path().join("index.m3u8"));
    let origin = Origin::serve(dir.path());
    let ls = server(json!({"pull": {"source": origin.url("index.m3u8")}}));
    let want = ["aac", "h264"];
    assert_eq!(codecs(&ls.flv_url("pull")), want, "{}", ls.server.stderr());
    assert_eq!(codecs(&hls_url(&ls, "pull")), want);
    assert!(ls
        .server
        .stderr()
        .contains("HLS: following http://127.0.0.1"));
}
