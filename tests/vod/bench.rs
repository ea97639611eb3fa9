//! Figures for a long file (ignored by default; run with
//! `cargo test --release --test vod -- --ignored --nocapture`): a 2-hour 2.5 Mbit/s MP4 made
//! in the temp folder with `-stream_loop -1 -t 7200 -c copy` (deleted afterwards). Prints the
//! first open (index) time, the open time with the stored index, the progressive MP4's `moov`
//! build time and size and its first byte (moov built, kept, a Range in the middle), the first
//! byte of HLS and DASH playlists and segments, and the server's memory and CPU with
//! [`VIEWERS`] FLV viewers, each at another `?start=`,
//! reading at about the file's rate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::LiveServer;
use crate::{ffmpeg, server, streams};

/// FLV viewers at once, spread over the file.
const VIEWERS: u64 = 200;

/// The `N` of "in N ms" in the first log line that has `what`.
fn logged_ms(ls: &LiveServer, what: &str) -> f64 {
    ls.server
        .stderr()
        .lines()
        .find(|l| l.contains(what))
        .and_then(|l| {
            l.split(" in ")
                .nth(1)?
                .split(" ms")
                .next()?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(f64::NAN)
}

/// GETs `path`; returns the time to the first body byte, and keeps the socket to read on.
fn first_byte(port: u16, path: &str) -> (Duration, TcpStream) {
    first_byte_with(port, path, "")
}

/// [`first_byte`] with more header lines (each ending in CRLF).
fn first_byte_with(port: u16, path: &str, headers: &str) -> (Duration, TcpStream) {
    let started = Instant::now();
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(sock, "GET {path} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n").expect("request");
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = sock.read(&mut buf).expect("read");
        assert!(n > 0, "closed before the body");
        got.extend_from_slice(&buf[..n]);
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            if got.len() > at + 4 {
                return (started.elapsed(), sock);
            }
        }
    }
}

#[test]
#[ignore = "a benchmark: makes a 2 GB file; run it by name with --ignored"]
fn bench_a_two_hour_file() {
    let dir = tempfile::Builder::new()
        .prefix("eddy-vod-bench")
        .tempdir_in(std::env::temp_dir())
        .expect("tempdir");
    let clip = dir.path().join("clip.mp4");
    let big = dir.path().join("big.mp4");
    let at = |p: &std::path::Path| p.to_string_lossy().into_owned();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1280x720:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100",
        "-t",
        "20",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-b:v",
        "2350k",
        "-maxrate",
        "2350k",
        "-bufsize",
        "4700k",
        "-g",
        "50",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        &at(&clip),
    ]);
    ffmpeg(&[
        "-stream_loop",
        "-1",
        "-i",
        &at(&clip),
        "-t",
        "7200",
        "-c",
        "copy",
        &at(&big),
    ]);
    let size = std::fs::metadata(&big).expect("big file").len();
    let ls = server(streams(&[("big", &big), ("again", &big)]));
    let rss_idle = ls.rss_kib();

    let get = |path: &str| {
        let started = Instant::now();
        let url = format!("http://127.0.0.1:{}{path}", ls.http);
        let text = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .expect("client")
            .get(url)
            .send()
            .expect("get")
            .text()
            .expect("body");
        assert!(text.contains("\"vod\""), "{text}");
        started.elapsed()
    };
    let first_open = get("/json_big.js");
    let rss_index = ls.rss_kib();
    let stored_open = get("/json_again.js");
    let (mp4_first, _a) = first_byte(ls.http, "/big.mp4");
    let (mp4_warm, _c) = first_byte(ls.http, "/big.mp4");
    let (mp4_range, _d) = first_byte_with(ls.http, "/big.mp4", "Range: bytes=1000000000-\r\n");
    let (mp4_middle, _b) = first_byte(ls.http, "/big.mp4?start=3600000");
    drop((_a, _b, _c, _d));
    let laid_out = ls
        .server
        .stderr()
        .lines()
        .find(|l| l.contains("big.mp4: progressive MP4 laid out in"))
        .map(String::from)
        .unwrap_or_default();

    // HLS and DASH: playlists (the first media playlist cuts the file), a segment from the
    // middle (read from disk, then from the recent-segment cache), the MPD.
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let first = |path: &str| ms(first_byte(ls.http, path).0);
    let hls_master = first("/hls/big/index.m3u8");
    let hls_media_cold = first("/hls/big/1_2/index.m3u8");
    let hls_media_warm = first("/hls/big/1_2/index.m3u8");
    let playlist = reqwest::blocking::get(format!(
        "http://127.0.0.1:{}/hls/big/1_2/index.m3u8",
        ls.http
    ))
    .and_then(|r| r.text())
    .expect("media playlist");
    let uris: Vec<&str> = playlist.lines().filter(|l| l.contains(".ts")).collect();
    let middle = uris[uris.len() / 2];
    let segment_path = format!("/hls/big/1_2/{middle}");
    let hls_segment_cold = first(&segment_path);
    let hls_segment_warm = first(&segment_path);
    let mpd = first("/cmaf/big/index.mpd");
    let start = middle.split('_').next().unwrap_or("0");
    let chunk = first(&format!("/cmaf/big/1/chunk_{start}.m4s"));

    // FLV viewers, each at another place, reading at about 2.5 Mbit/s.
    let rss_before = ls.rss_kib();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut viewers = Vec::new();
    for i in 0..VIEWERS {
        let (port, stop) = (ls.http, stop.clone());
        viewers.push(std::thread::spawn(move || {
            let path = format!("/big.flv?start={}", i * (7_000_000 / VIEWERS));
            let (_, mut sock) = first_byte(port, &path);
            let mut buf = vec![0u8; 40 * 1024];
            let mut total = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match sock.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n as u64,
                }
                // 40 KB at 320 KB/s: an eighth of a second.
                std::thread::sleep(Duration::from_millis(125));
            }
            total
        }));
    }
    // CPU over the middle 15 s (the viewers have started).
    std::thread::sleep(Duration::from_secs(5));
    let cpu_from = ls.cpu_seconds();
    std::thread::sleep(Duration::from_secs(15));
    let cpu = (ls.cpu_seconds() - cpu_from) / 15.0 * 100.0;
    let rss_viewers = ls.rss_kib();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let bytes: u64 = viewers.into_iter().map(|v| v.join().unwrap_or(0)).sum();

    println!("| figure | value |\n|---|---|");
    println!(
        "| file | {:.2} GB, 2 h, 2.5 Mbit/s H.264 + AAC, moov at the end |",
        size as f64 / 1e9
    );
    println!(
        "| first open (scan + store), json_ answer | {:.0} ms (log: indexed in {:.0} ms) |",
        first_open.as_secs_f64() * 1e3,
        logged_ms(&ls, "big.mp4 indexed in")
    );
    println!(
        "| open with the stored index, json_ answer | {:.0} ms (log: {:.1} ms) |",
        stored_open.as_secs_f64() * 1e3,
        logged_ms(&ls, "opened with its stored index")
    );
    println!(
        "| progressive MP4 of the whole file: moov build (log) | {:.1} ms: {} |",
        logged_ms(&ls, "big.mp4: progressive MP4 laid out in"),
        laid_out
            .split(" (")
            .nth(1)
            .unwrap_or("?")
            .trim_end_matches(')')
    );
    println!(
        "| first byte of /big.mp4, warm index, moov built by this request | {:.1} ms |",
        mp4_first.as_secs_f64() * 1e3
    );
    println!(
        "| first byte of /big.mp4, moov kept | {:.1} ms |",
        mp4_warm.as_secs_f64() * 1e3
    );
    println!(
        "| first byte of /big.mp4 with Range: bytes=1000000000- | {:.1} ms |",
        mp4_range.as_secs_f64() * 1e3
    );
    println!(
        "| first byte of /big.mp4?start=3600000 | {:.1} ms |",
        mp4_middle.as_secs_f64() * 1e3
    );
    println!(
        "| first byte of the HLS master / media playlist ({} segments; cold, warm) | {hls_master:.1} / {hls_media_cold:.1}, {hls_media_warm:.1} ms |",
        uris.len()
    );
    println!(
        "| first byte of an HLS segment at 1 h (from disk, then cached) | {hls_segment_cold:.1}, {hls_segment_warm:.1} ms |"
    );
    println!(
        "| first byte of the DASH MPD / a CMAF video chunk at 1 h | {mpd:.1} / {chunk:.1} ms |"
    );
    println!(
        "| server RSS: idle / with the index loaded | {} / {} MiB |",
        rss_idle / 1024,
        rss_index / 1024
    );
    println!("| server RSS: before / with {VIEWERS} FLV viewers at different starts | {} / {} MiB ({:.0} KiB per viewer) |", rss_before / 1024, rss_viewers / 1024, (rss_viewers.saturating_sub(rss_before)) as f64 / VIEWERS as f64);
    println!(
        "| server CPU with the {VIEWERS} viewers | {cpu:.1} % of a core ({:.3} % per viewer) |",
        cpu / VIEWERS as f64
    );
    println!(
        "| bytes the {VIEWERS} viewers read in 20 s | {:.1} MB |",
        bytes as f64 / 1e6
    );
}
