//! Tests of the port-8080 layer: request heads, and whole connections against a fake stream
//! hub (the router's own answers, keep-alive, the segmented flow's errors, the listener's
//! stop ending a request that is stuck).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::*;
use crate::hub::buffer::{BufferSettings, LiveBuffer};
use crate::hub::fake::FakeHub;

#[test]
fn heads() {
    let (r, n) = parse_head(b"GET /live.flv?tkn=1 HTTP/1.1\r\nHost: x\r\n\r\nrest")
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.path.as_str(), r.query.as_str(), n, r.keep_alive),
        ("/live.flv", "tkn=1", 41, true)
    );
    assert_eq!(r.header("host"), Some("x"));
    let (r, _) = parse_head(b"GET /a%20b HTTP/1.0\r\n\r\n").unwrap().unwrap();
    assert_eq!((r.path.as_str(), r.keep_alive), ("/a b", false));
    // A body we do not read ends the connection after its answer.
    for raw in [
        &b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n"[..],
        b"GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert!(!parse_head(raw).unwrap().unwrap().0.keep_alive);
    }
    let (r, _) = parse_head(b"POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(r.keep_alive);
    assert_eq!(parse_head(b"GET /x HTTP/1.1\r\nHost"), Ok(None));
    assert!(parse_head(b"\x00\x01garbage\r\n\r\n").is_err());
    let mut long = b"GET /x HTTP/1.1\r\nX: ".to_vec();
    long.extend(vec![b'a'; MAX_HEAD]);
    assert_eq!(parse_head(&long), Err(HeadError::TooLarge));
}

#[test]
fn decoding_and_names() {
    assert_eq!(percent_decode("%41b%2"), "Ab%2");
    assert_eq!(percent_decode("%zz%"), "%zz%");
    assert_eq!(stream_in("/live.flv", "/", ".flv"), Some("live"));
    assert_eq!(stream_in("/a/b.flv", "/", ".flv"), None);
    assert_eq!(stream_in("/.flv", "/", ".flv"), None);
}

/// A connection to `serve_connection` with a fake hub (a stream `live`: `buffer`, or one that
/// never opens; the token `bad` is denied), HLS, CMAF and FLV enabled; the sender
/// stops the listener, the handle ends with the connection.
async fn connect(
    buffer: Option<Arc<LiveBuffer>>,
) -> (TcpStream, watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (fake, hub) = FakeHub::new();
    match buffer {
        Some(b) => fake.add_buffer("live", b),
        None => fake.add_pending("live"),
    }
    fake.deny_token("bad");
    let mut ctx = ListenerContext::new(hub, tokio::runtime::Handle::current());
    let entries = ["HLS", "CMAF", "FLV"]
        .iter()
        .filter_map(|c| json!({ "connector": c }).as_object().cloned())
        .collect();
    ctx.protocols = Arc::new(RwLock::new(entries));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let client = TcpStream::connect(addr).await.expect("connect");
    let (sock, peer) = listener.accept().await.expect("accept");
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(serve_connection(sock, peer, ctx, stop_rx));
    (client, stop_tx, task)
}

/// Reads one complete answer: its head and its `Content-Length` body.
async fn answer(sock: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 1024];
        let n = sock.read(&mut chunk).await.expect("read");
        assert!(
            n > 0,
            "closed mid-answer: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let mut chunk = [0u8; 1024];
        let n = sock.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
    (head, body)
}

async fn ask(sock: &mut TcpStream, request: &str) -> (String, String) {
    sock.write_all(request.as_bytes()).await.expect("write");
    tokio::time::timeout(Duration::from_secs(10), answer(sock))
        .await
        .unwrap_or_else(|_| panic!("no answer to {request:?}"))
}

/// The connection ended: the server closed its side.
async fn closed(sock: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut rest)).await;
    matches!(read, Ok(Ok(0)))
}

#[tokio::test]
async fn the_routers_own_answers_keep_the_connection() {
    let (mut c, _stop, task) = connect(None).await;
    let (head, body) = ask(&mut c, "OPTIONS /live.flv HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 204 No Content\r\n"), "{head}");
    assert!(head.contains("Access-Control-Allow-Methods: GET, POST, OPTIONS, HEAD\r\n"));
    assert!(body.is_empty());
    let (head, body) = ask(&mut c, "GET /x.else HTTP/1.1\r\n\r\n").await;
    assert!(
        head.starts_with("HTTP/1.1 415 Unsupported Media Type\r\n"),
        "{head}"
    );
    assert!(head.contains("Connection: keep-alive\r\n"));
    assert!(body.contains("No output handles this URL."));
    let (head, body) = ask(&mut c, "DELETE /x HTTP/1.1\r\n\r\n").await;
    assert!(
        head.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{head}"
    );
    assert_eq!(body, "Only GET and HEAD are served here.\n");
    let (head, body) = ask(&mut c, "GET /nope.flv HTTP/1.1\r\n\r\n").await;
    assert!(
        head.starts_with("HTTP/1.1 404 Error opening stream\r\n"),
        "{head}"
    );
    assert_eq!(
        body,
        "Could not retrieve stream: stream nope is not configured\n"
    );
    // The request that says close ends the connection after its answer.
    let (head, _) = ask(&mut c, "GET /x.else HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert!(head.contains("Connection: close\r\n"), "{head}");
    assert!(closed(&mut c).await);
    task.await.expect("task");
}

#[tokio::test]
async fn a_malformed_head_gets_400_and_a_close() {
    let (mut c, _stop, task) = connect(None).await;
    let (head, _) = ask(&mut c, "\x01\x02 nonsense\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
    assert!(head.contains("Connection: close\r\n"));
    assert!(closed(&mut c).await);
    task.await.expect("task");
}

#[tokio::test]
async fn the_segmented_flow_answers_its_errors() {
    let buffer = LiveBuffer::new(BufferSettings::default());
    let (mut c, _stop, _task) = connect(Some(buffer)).await;
    let (head, body) = ask(&mut c, "GET /hls/live/index.m3u8?tkn=bad HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{head}");
    assert!(body.starts_with("Access denied: "), "{body}");
    let (head, body) = ask(&mut c, "GET /hls/live/what HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    assert_eq!(body, "No such HLS resource\n");
    let (head, body) = ask(&mut c, "GET /hls/other/1_2/0_2000.ts HTTP/1.1\r\n\r\n").await;
    assert!(
        head.starts_with("HTTP/1.1 404 Error opening stream\r\n"),
        "{head}"
    );
    assert!(body.starts_with("Could not retrieve stream: "), "{body}");
    for path in ["/hls/live/1_2/0_2000.ts", "/hls/live/1_2/x.ts"] {
        let (head, body) = ask(&mut c, &format!("GET {path} HTTP/1.1\r\n\r\n")).await;
        assert!(
            head.starts_with("HTTP/1.1 404 Fragment out of range\r\n"),
            "{head}"
        );
        assert_eq!(body, "Fragment out of range\n");
    }
    let (head, body) = ask(&mut c, "GET /cmaf/live/9/init.m4s HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    assert_eq!(body, "No such track\n");
    let (head, body) = ask(&mut c, "GET /cmaf/live/9/chunk_0.m4s HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    assert_eq!(body, "No such chunk\n");
    let (head, body) = ask(&mut c, "GET /cmaf/live/x/y/z HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    assert_eq!(body, "No such CMAF resource\n");
}

#[tokio::test]
async fn the_listeners_stop_ends_a_stuck_request() {
    // The stream never opens: the playlist request waits on it, and nothing else would end it.
    let (mut c, stop, task) = connect(None).await;
    c.write_all(b"GET /hls/live/index.m3u8 HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!task.is_finished(), "the request is still waiting");
    stop.send(true).expect("stop");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the connection ended at the stop")
        .expect("task");
    assert!(closed(&mut c).await);
}
