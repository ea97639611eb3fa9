//! HLS pull against a real origin: ffmpeg's HLS muxer writes live into a temp folder that a
//! small static file server in the test serves over HTTP; Eddy follows it and ffprobe plays
//! the stream's HTTP-FLV and HLS outputs. Master playlists (two variants), fMP4 segments, an
//! origin that goes away and comes back, a growing playlist file, and bad playlists.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
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

#[test]
fn a_master_playlist_keeps_both_variants() {
    let dir = temp();
    let _ff = hls_origin(
        dir.path(),
        "out_%v.m3u8",
        &[
            "-filter_complex",
            "[0:v]split=2[a][b];[a]scale=320:180[v1];[b]scale=160:90[v2]",
            "-map",
            "[v1]",
            "-map",
            "[v2]",
            "-map",
            "0:a",
            "-map",
            "0:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-sc_threshold",
            "0",
            "-b:v:0",
            "400k",
            "-b:v:1",
            "150k",
            "-c:a",
            "copy",
            "-var_stream_map",
            "v:0,a:0 v:1,a:1",
            "-master_pl_name",
            "master.m3u8",
        ],
    );
    wait_for(&dir.path().join("master.m3u8"));
    let origin = Origin::serve(dir.path());
    let ls = server(json!({"abr": {"source": origin.url("master.m3u8")}}));
    assert_eq!(
        codecs(&ls.flv_url("abr")),
        ["aac", "h264"],
        "{}",
        ls.server.stderr()
    );
    let mut widths = Vec::new();
    assert!(
        eventually(Duration::from_secs(15), || {
            let t = tracks(&ls, "abr");
            widths = t
                .as_object()
                .map(|o| {
                    o.values()
                        .filter_map(|t| t["width"].as_u64())
                        .filter(|w| *w > 0)
                        .collect()
                })
                .unwrap_or_default();
            widths.sort();
            widths == [160, 320]
        }),
        "{widths:?} {}",
        tracks(&ls, "abr")
    );
    let master = reqwest::blocking::get(hls_url(&ls, "abr"))
        .unwrap()
        .text()
        .unwrap();
    assert!(master.matches("#EXT-X-STREAM-INF").count() >= 2, "{master}");
    assert!(ls.server.stderr().contains("(2 playlist(s))"));
}

#[test]
fn fmp4_segments_play() {
    let dir = temp();
    let _ff = hls_origin(
        dir.path(),
        "index.m3u8",
        &["-c", "copy", "-hls_segment_type", "fmp4"],
    );
    wait_for(&dir.path().join("index.m3u8"));
    let origin = Origin::serve(dir.path());
    let ls = server(json!({"frag": {"source": origin.url("index.m3u8")}}));
    let want = ["aac", "h264"];
    assert_eq!(codecs(&ls.flv_url("frag")), want, "{}", ls.server.stderr());
    assert_eq!(codecs(&hls_url(&ls, "frag")), want);
    assert!(dir.path().join("init.mp4").exists(), "ffmpeg wrote no fMP4");
}

#[test]
fn a_growing_playlist_file() {
    let dir = temp();
    let _ff = hls_origin(dir.path(), "index.m3u8", &["-c", "copy"]);
    let playlist = dir.path().join("index.m3u8");
    wait_for(&playlist);
    let ls = server(json!({"file": {"source": playlist.to_string_lossy()}}));
    assert_eq!(
        codecs(&ls.flv_url("file")),
        ["aac", "h264"],
        "{}",
        ls.server.stderr()
    );
}

/// Bytes an HTTP-FLV viewer has received so far, read by a thread.
fn viewer(url: String) -> (Arc<std::sync::atomic::AtomicU64>, Arc<AtomicBool>) {
    let (got, open) = (
        Arc::new(std::sync::atomic::AtomicU64::new(0)),
        Arc::new(AtomicBool::new(true)),
    );
    let (g, o) = (got.clone(), open.clone());
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()
            .unwrap();
        if let Ok(mut resp) = client.get(&url).send() {
            let mut buf = [0u8; 16384];
            while let Ok(n) = resp.read(&mut buf) {
                if n == 0 {
                    break;
                }
                g.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        o.store(false, Ordering::Relaxed);
    });
    (got, open)
}

#[test]
fn an_origin_that_stops_and_comes_back() {
    let dir = temp();
    let ff = hls_origin(dir.path(), "index.m3u8", &["-c", "copy"]);
    wait_for(&dir.path().join("index.m3u8"));
    let origin = Origin::serve(dir.path());
    let ls = server(json!({"flaky": {"source": origin.url("index.m3u8")}}));
    let (got, open) = viewer(ls.flv_url("flaky"));
    assert!(eventually(Duration::from_secs(20), || got
        .load(Ordering::Relaxed)
        > 50_000));
    // The origin goes away for 10 s; ffmpeg starts over (numbers and times from 0).
    drop(ff);
    origin.down.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(10));
    origin.down.store(false, Ordering::Relaxed);
    let _ff = hls_origin(dir.path(), "index.m3u8", &["-c", "copy"]);
    let before = got.load(Ordering::Relaxed);
    let carried_on = eventually(Duration::from_secs(20), || {
        got.load(Ordering::Relaxed) > before + 100_000
    });
    let log = ls.server.stderr();
    assert!(
        carried_on || !open.load(Ordering::Relaxed),
        "the viewer stalled: {log}"
    );
    // Either way, a viewer now plays it.
    assert_eq!(codecs(&ls.flv_url("flaky")), ["aac", "h264"], "{log}");
    assert!(log.contains("retrying"), "{log}");
    eprintln!("viewer carried on over the outage: {carried_on}");
    for line in log.lines().filter(|l| l.contains("HLS")) {
        eprintln!("{line}");
    }
}

/// A test CA and a certificate for 127.0.0.1 signed by it, made with openssl in `dir`:
/// `(ca.pem, leaf.pem, leaf.key)`.
fn test_certificates(dir: &Path) -> (String, String, String) {
    let at = |f: &str| dir.join(f).to_string_lossy().to_string();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Eddy test CA",
        "-keyout",
        &at("ca.key"),
        "-out",
        &at("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &at("leaf.key"),
        "-out",
        &at("leaf.csr"),
    ]);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        &at("leaf.csr"),
        "-CA",
        &at("ca.pem"),
        "-CAkey",
        &at("ca.key"),
        "-CAcreateserial",
        "-extfile",
        &at("leaf.ext"),
        "-out",
        &at("leaf.pem"),
    ]);
    (at("ca.pem"), at("leaf.pem"), at("leaf.key"))
}

/// Python's HTTP server over TLS, serving `dir` on `port`.
fn https_origin(dir: &Path, port: u16, cert: &str, key: &str) -> Ffmpeg {
    let script = format!(
        "import http.server, ssl, functools\n\
         h = functools.partial(http.server.SimpleHTTPRequestHandler, directory={dir:?})\n\
         s = http.server.ThreadingHTTPServer(('127.0.0.1', {port}), h)\n\
         c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
         c.load_cert_chain({cert:?}, {key:?})\n\
         s.socket = c.wrap_socket(s.socket, server_side=True)\n\
         s.serve_forever()\n",
        dir = dir.to_string_lossy()
    );
    let child = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Ffmpeg(child)
}

#[test]
fn an_https_origin_is_verified_and_followed() {
    let dir = temp();
    let (ca, cert, key) = test_certificates(dir.path());
    let media_dir = dir.path().join("media");
    std::fs::create_dir(&media_dir).unwrap();
    let _ff = hls_origin(&media_dir, "index.m3u8", &["-c", "copy"]);
    wait_for(&media_dir.join("index.m3u8"));
    let port = common::free_port();
    let _origin = https_origin(&media_dir, port, &cert, &key);
    // Eddy trusts the system's roots, and the file SSL_CERT_FILE names (here, the test CA).
    std::env::set_var("SSL_CERT_FILE", &ca);
    let url = format!("https://127.0.0.1:{port}/index.m3u8");
    let ls = server(json!({"secure": {"source": url}}));
    assert_eq!(
        codecs(&ls.flv_url("secure")),
        ["aac", "h264"],
        "{}",
        ls.server.stderr()
    );
}

#[test]
fn bad_playlists_are_logged_not_fatal() {
    let dir = temp();
    std::fs::write(
        dir.path().join("noise.m3u8"),
        "hello\n\x01\x02 random text #EXTINF\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("missing.m3u8"),
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nnot-there-1.ts\n#EXTINF:1,\nnot-there-2.ts\n",
    )
    .unwrap();
    let origin = Origin::serve(dir.path());
    let ls = server(json!({
        "noise": {"source": origin.url("noise.m3u8")},
        "missing": {"source": origin.url("missing.m3u8")},
        "nofile": {"source": dir.path().join("nothing.m3u8").to_string_lossy()}
    }));
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    for s in ["noise", "missing", "nofile"] {
        let _ = client.get(ls.flv_url(s)).send().and_then(|r| r.bytes());
    }
    let logged = |what: &str| {
        eventually(Duration::from_secs(10), || {
            ls.server.stderr().contains(what)
        })
    };
    assert!(logged("not an HLS playlist"), "{}", ls.server.stderr());
    assert!(logged("not-there-1.ts: HTTP 404"), "{}", ls.server.stderr());
    // A playlist file that is not there is read as an on-demand file would be.
    assert!(
        logged("Not found: ") && logged("nothing.m3u8"),
        "{}",
        ls.server.stderr()
    );
    // Still serving.
    assert!(ls.server.api2(json!({"active_streams": true})).is_object());
}
