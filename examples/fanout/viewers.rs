//! The load generator's viewers: one task per viewer, each counting what it received and the
//! longest gap between two reads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one viewer saw.
#[derive(Default)]
pub struct ViewerStats {
    pub bytes: AtomicU64,
    /// Longest gap between two reads, in ms, while measuring.
    pub max_gap_ms: AtomicU64,
}

/// A progressive HTTP viewer (`/bench.flv`, `/bench.ts`, `/bench.mp4`): one GET, then read.
pub async fn http_viewer(
    port: u16,
    ext: &'static str,
    stats: Arc<ViewerStats>,
    measuring: Arc<AtomicBool>,
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
pub async fn rtmp_viewer(port: u16, stats: Arc<ViewerStats>, measuring: Arc<AtomicBool>) {
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
            ("app".into(), A::String("live".into())),
            (
                "tcUrl".into(),
                A::String(format!("rtmp://127.0.0.1:{port}/live")),
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

/// An HLS player: polls the media playlist `DIR/index.m3u8` every second on one kept-alive
/// connection and fetches each new segment. A gap between new segments counts as the viewer's
/// "gap".
pub async fn hls_viewer(
    port: u16,
    dir: &'static str,
    stats: Arc<ViewerStats>,
    measuring: Arc<AtomicBool>,
) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let mut buf = Vec::new();
    let mut last_segment = String::new();
    let mut last_new = Instant::now();
    loop {
        let Some(playlist) = http_get(&mut s, &format!("{dir}index.m3u8"), &mut buf).await else {
            return;
        };
        let text = String::from_utf8_lossy(&playlist).to_string();
        if let Some(newest) = text.lines().rfind(|l| l.contains(".ts")) {
            if newest != last_segment {
                let Some(seg) = http_get(&mut s, &format!("{dir}{newest}"), &mut buf).await else {
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

/// Fetches the media playlist and its newest segment once (so the server's segment cache
/// exists before memory is measured: it is the stream's, not a viewer's).
pub async fn hls_once(port: u16, dir: &str) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let mut buf = Vec::new();
    let Some(playlist) = http_get(&mut s, &format!("{dir}index.m3u8"), &mut buf).await else {
        return;
    };
    let text = String::from_utf8_lossy(&playlist).to_string();
    for seg in text.lines().filter(|l| l.contains(".ts")) {
        let _ = http_get(&mut s, &format!("{dir}{seg}"), &mut buf).await;
    }
}

/// A minimal RTSP player: DESCRIBE, SETUP of every media (TCP interleaved), PLAY; then read.
pub async fn rtsp_viewer(port: u16, stats: Arc<ViewerStats>, measuring: Arc<AtomicBool>) {
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

async fn read_loop(mut s: TcpStream, stats: Arc<ViewerStats>, measuring: Arc<AtomicBool>) {
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
