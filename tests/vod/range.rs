//! `/STREAM.mp4` of a file: a progressive MP4 with HTTP Range requests, checked with ffprobe
//! (whole, and seeking over HTTP), raw byte comparisons of ranges against the whole answer,
//! and headless Chromium seeking in a `<video>`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::LiveServer;
use crate::{assert_same_media, download, file, probe, scratch, server, stream, streams, FRAME};

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// GETs `path` with a `Range` header: status, headers, body.
fn ranged(ls: &LiveServer, path: &str, range: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let url = format!("http://127.0.0.1:{}{path}", ls.http);
    let resp = client()
        .get(url)
        .header("Range", range)
        .send()
        .expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().expect("body").to_vec())
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The duration ffprobe gives a file or URL, s.
fn duration(input: &str) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(input)
        .stdin(Stdio::null())
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no duration for {input}"))
}

#[test]
fn the_whole_mp4_and_its_ranges() {
    let source = probe(&file("av.mp4"));
    let ls = server(streams(&[("film", &file("av.mp4"))]));
    let dir = scratch();
    let whole_path = dir.path().join("whole.mp4");
    assert_eq!(download(&ls, "/film.mp4", &whole_path), 200);
    assert_same_media("progressive MP4", &probe(&whole_path), &source);
    let (ours, theirs) = (
        duration(&whole_path.to_string_lossy()),
        duration(&file("av.mp4").to_string_lossy()),
    );
    assert!((ours - theirs).abs() <= FRAME, "{ours} s vs {theirs} s");
    let whole = std::fs::read(&whole_path).expect("read");
    let len = whole.len();
    assert_eq!(&whole[4..8], b"ftyp");
    assert_eq!(
        &whole[whole[3] as usize + 4..whole[3] as usize + 8],
        b"moov",
        "moov first"
    );

    // HEAD: the headers only.
    let url = format!("http://127.0.0.1:{}/film.mp4", ls.http);
    let head = client().head(&url).send().expect("HEAD");
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(header(head.headers(), "content-length"), len.to_string());
    assert_eq!(header(head.headers(), "accept-ranges"), "bytes");

    // A range in the middle is that slice of the whole.
    let (a, b) = (len / 3, len / 3 + 300_000);
    let (status, h, body) = ranged(&ls, "/film.mp4", &format!("bytes={a}-{b}"));
    assert_eq!(status, 206);
    assert_eq!(header(&h, "content-range"), format!("bytes {a}-{b}/{len}"));
    assert_eq!(header(&h, "content-length"), (b - a + 1).to_string());
    assert!(
        body == whole[a..=b],
        "the middle range differs from the whole"
    );
    // The last 1000 bytes, and from a byte to the end.
    let (status, h, body) = ranged(&ls, "/film.mp4", "bytes=-1000");
    assert_eq!(status, 206);
    assert_eq!(
        header(&h, "content-range"),
        format!("bytes {}-{}/{len}", len - 1000, len - 1)
    );
    assert!(body == whole[len - 1000..]);
    let from = len - 123_457;
    let (status, _, body) = ranged(&ls, "/film.mp4", &format!("bytes={from}-"));
    assert_eq!(status, 206);
    assert!(body == whole[from..]);
    // Inside the header.
    let (status, _, body) = ranged(&ls, "/film.mp4", "bytes=10-99");
    assert_eq!((status, body.as_slice()), (206, &whole[10..100]));
    // Past the end, and a malformed header.
    let (status, h, _) = ranged(&ls, "/film.mp4", &format!("bytes={len}-"));
    assert_eq!(status, 416);
    assert_eq!(header(&h, "content-range"), format!("bytes */{len}"));
    let (status, _, body) = ranged(&ls, "/film.mp4", "bytes=oops");
    assert_eq!((status, body.len()), (200, len));

    // Several ranges on one keep-alive connection.
    let mut conn = TcpStream::connect(("127.0.0.1", ls.http)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    for (a, b) in [(0usize, 99usize), (len - 50, len - 1)] {
        write!(
            conn,
            "GET /film.mp4 HTTP/1.1\r\nHost: t\r\nRange: bytes={a}-{b}\r\n\r\n"
        )
        .unwrap();
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\r\n\r\n") {
            conn.read_exact(&mut byte).expect("head");
            got.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&got).to_string();
        assert!(head.starts_with("HTTP/1.1 206"), "{head}");
        assert!(head.contains("Connection: keep-alive"), "{head}");
        let mut body = vec![0u8; b - a + 1];
        conn.read_exact(&mut body).expect("body");
        assert!(body == whole[a..=b]);
    }
    let ranges = ls.server.stderr().matches("range request, bytes").count();
    assert!(ranges >= 6, "the log names each range request ({ranges})");
}

#[test]
fn ffprobe_seeks_over_http_and_start_picks_the_keyframe() {
    let ls = server(streams(&[("film", &file("av.mp4"))]));
    let url = format!("http://127.0.0.1:{}/film.mp4", ls.http);
    let before = ls.server.stderr().matches("range request").count();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-read_intervals",
            "10%+0.5",
            "-select_streams",
            "v",
        ])
        .args(["-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(&url)
        .stdin(Stdio::null())
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first: f64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .expect("a packet");
    // Keyframes every 2 s: the seek lands on the one at or before 10 s.
    assert!(
        (8.0 - FRAME..=10.0 + FRAME).contains(&first),
        "first packet at {first}"
    );
    let after = ls.server.stderr().matches("range request").count();
    assert!(after > before, "ffprobe seeked with a Range request");

    let dir = scratch();
    let part = dir.path().join("part.mp4");
    assert_eq!(download(&ls, "/film.mp4?start=10000", &part), 200);
    let got = probe(&part);
    let video = stream(&got, "h264");
    assert!((video.first - 10.0).abs() <= FRAME, "{video:?}");
    assert!(
        (video.last - (crate::SECS as f64 - 0.04)).abs() <= 2.0 * FRAME,
        "{video:?}"
    );
}

#[test]
fn chromium_seeks_in_the_mp4() {
    let ls = server(streams(&[("film", &file("av.mp4"))]));
    let url = format!("http://127.0.0.1:{}/film.mp4", ls.http);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/seek.js");
    let out = Command::new("node")
        .arg(script)
        .arg(&url)
        .arg("12")
        .output()
        .expect("node; ./test.sh installs Chromium and playwright-core");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
    assert!(v["error"].is_null(), "{v}");
    assert_eq!(v["seeked"], true, "{v}");
    assert_eq!(v["advanced"], true, "{v}");
    assert!(v["currentTime"].as_f64().unwrap_or(0.0) > 12.5, "{v}");
    let theirs = duration(&file("av.mp4").to_string_lossy());
    let ours = v["duration"].as_f64().unwrap_or(0.0);
    assert!(
        (ours - theirs).abs() <= 0.1,
        "<video> duration {ours} s, the file's {theirs} s"
    );
    let log = ls.server.stderr();
    assert!(
        log.contains("range request, bytes"),
        "Chromium asked for a byte range"
    );
}
