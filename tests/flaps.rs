//! A publisher that drops and comes back (issue: "publisher flaps"): ffmpeg publishes over RTMP,
//! ten ffmpeg viewers read HTTP-FLV, RTMP and HLS, and the publisher is killed and started again
//! ten times. Viewers stay connected through it, FLV timestamps only go forward (no duplicate
//! or reordered frame), and the HLS playlist marks each new timeline with a discontinuity. Run
//! with `resume` on, and with it off (a short grace period applies by default).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use common::media::{h264_clip, play_to_null, publish, Ffmpeg};
use common::LiveServer;

/// Video tag timestamps read from an HTTP-FLV answer until `stop`.
fn flv_times(port: u16, path: &str, stop: Arc<AtomicBool>) -> Arc<Mutex<Vec<u32>>> {
    let times = Arc::new(Mutex::new(Vec::new()));
    let out = times.clone();
    let path = path.to_string();
    std::thread::spawn(move || {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return;
        };
        let _ = s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 65536];
        let mut at: Option<usize> = None;
        while !stop.load(Ordering::Relaxed) {
            let n = match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            if at.is_none() {
                match buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    Some(i) if buf.len() >= i + 4 + 13 => at = Some(i + 4 + 13),
                    _ => continue,
                }
            }
            let mut pos = at.unwrap_or(0);
            while buf.len() >= pos + 11 {
                let size =
                    u32::from_be_bytes([0, buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
                if buf.len() < pos + 11 + size + 4 {
                    break;
                }
                let ts =
                    u32::from_be_bytes([buf[pos + 7], buf[pos + 4], buf[pos + 5], buf[pos + 6]]);
                // Video frames, not the sequence header (AVC packet type 0).
                if buf[pos] == 9 && size > 2 && buf[pos + 12] != 0 {
                    out.lock().unwrap().push(ts);
                }
                pos += 11 + size + 4;
            }
            buf.drain(..pos);
            at = Some(0);
        }
    });
    times
}

fn flaps(stream: Value) -> (usize, Vec<u32>, String, String) {
    let ls = LiveServer::start_with_outputs(json!({ "live": stream }), &["FLV", "HLS"]);
    let logs = ls.server.dir.path().to_path_buf();
    let url = ls.rtmp_url("live", "live");
    let mut publisher = publish(h264_clip(), &url, &logs);
    assert!(ls.wait_online("live"), "{}", ls.server.stderr());
    std::thread::sleep(Duration::from_secs(3));
    let hls = format!("http://127.0.0.1:{}/hls/live/index.m3u8", ls.http);
    let mut viewers: Vec<Ffmpeg> = Vec::new();
    for i in 0..10 {
        let u = match i % 3 {
            0 => ls.flv_url("live"),
            1 => ls.rtmp_url("play", "live"),
            _ => hls.clone(),
        };
        viewers.push(play_to_null(&u, &logs));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let times = flv_times(ls.http, "/live.flv", stop.clone());
    std::thread::sleep(Duration::from_secs(4));
    for _ in 0..10 {
        drop(publisher);
        std::thread::sleep(Duration::from_millis(800));
        publisher = publish(h264_clip(), &url, &logs);
        std::thread::sleep(Duration::from_secs(3));
    }
    std::thread::sleep(Duration::from_secs(3));
    let mut alive = 0;
    for v in &mut viewers {
        if v.wait_timeout(Duration::from_millis(1)).is_none() {
            alive += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let playlist = reqwest::blocking::get(&hls)
        .and_then(|r| r.text())
        .unwrap_or_default();
    let media = playlist
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .map(|uri| format!("http://127.0.0.1:{}/hls/live/{uri}", ls.http))
        .and_then(|u| reqwest::blocking::get(u).and_then(|r| r.text()).ok())
        .unwrap_or_default();
    let got = times.lock().unwrap().clone();
    drop(publisher);
    (alive, got, media, ls.server.stderr())
}

fn check(alive: usize, times: &[u32], media: &str, log: &str) {
    assert!(
        alive >= 8,
        "{alive} of 10 viewers survived ten flaps: {log}"
    );
    assert!(times.len() > 500, "{} frames read", times.len());
    let back = times.windows(2).filter(|w| w[1] <= w[0]).count();
    assert_eq!(
        back, 0,
        "FLV video timestamps went back or repeated {back} times"
    );
    assert!(
        media.contains("#EXT-X-DISCONTINUITY"),
        "the HLS playlist marks the new timelines: {media}"
    );
}

#[test]
fn viewers_survive_ten_flaps_with_resume() {
    let (alive, times, media, log) = flaps(json!({"source": "push://", "resume": 1}));
    eprintln!("resume on: {alive} of 10 viewers survived");
    check(alive, &times, &media, &log);
}

#[test]
fn viewers_survive_ten_quick_flaps_without_resume() {
    let (alive, times, media, log) = flaps(json!({"source": "push://"}));
    eprintln!("resume off: {alive} of 10 viewers survived");
    check(alive, &times, &media, &log);
}
