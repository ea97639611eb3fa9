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
    let (head, body) = answer_bytes(sock).await;
    (head, String::from_utf8_lossy(&body).into_owned())
}

/// [`answer`] with the body's bytes.
async fn answer_bytes(sock: &mut TcpStream) -> (String, Vec<u8>) {
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
    (head, buf[head_end..head_end + len].to_vec())
}

/// [`ask`] for a binary answer.
async fn ask_bytes(sock: &mut TcpStream, request: &str) -> (String, Vec<u8>) {
    sock.write_all(request.as_bytes()).await.expect("write");
    tokio::time::timeout(Duration::from_secs(10), answer_bytes(sock))
        .await
        .unwrap_or_else(|_| panic!("no answer to {request:?}"))
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

/// A live buffer fed with the test FLV's H.264 and AAC (several fragments), as RTMP ingest
/// would feed it.
fn fed_buffer() -> Arc<LiveBuffer> {
    let file = include_bytes!("../../media/testdata/h264_aac.flv");
    let (video, audio, packets) = crate::media::testutil::load_flv(file);
    let buffer = LiveBuffer::new(BufferSettings::default());
    let p = buffer.new_publisher(false);
    for t in video.into_iter().chain(audio) {
        buffer.set_track(p, t).expect("track");
    }
    // The clip over and over, a second apart, so the buffer cuts several fragments.
    let span = packets.iter().map(|p| p.time).max().unwrap_or(0) + 1000;
    for round in 0..6 {
        for packet in &packets {
            let mut packet = packet.clone();
            packet.time += round * span;
            buffer.push(p, packet).expect("packet");
        }
    }
    buffer
}

/// A live playlist's `Cache-Control` for `buffer`: half its target duration.
fn live_playlist_caching(buffer: &LiveBuffer, scope: &str) -> String {
    let longest = buffer
        .fragments()
        .iter()
        .map(|f| f.duration_ms())
        .max()
        .unwrap_or(0);
    format!("{scope}, max-age={}", ((longest + 999) / 1000 / 2).max(1))
}

/// Sends a HEAD request and reads its answer: the head alone.
async fn ask_head(sock: &mut TcpStream, request: &str) -> String {
    sock.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let read = async {
        while !buf.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            let n = sock.read(&mut byte).await.expect("read");
            assert!(n > 0, "closed mid-head");
            buf.push(byte[0]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("a head");
    String::from_utf8_lossy(&buf).into_owned()
}

/// A header's value in an answer's head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(": ")?;
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

/// The first URI in a playlist.
fn first_uri(playlist: &str) -> String {
    playlist
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .expect("a URI")
        .to_string()
}

#[tokio::test]
async fn hls_answers_are_cacheable_with_etags_304_and_head() {
    let buffer = fed_buffer();
    assert!(buffer.fragments().len() >= 2, "the clip makes fragments");
    let generation = format!("{:x}", buffer.zero_unix_ms().expect("started"));
    let public = live_playlist_caching(&buffer, "public");
    let private = live_playlist_caching(&buffer, "private");
    let (mut c, _stop, _task) = connect(Some(buffer)).await;

    // Playlists: short, public, an ETag of the text.
    let (head, master) = ask(&mut c, "GET /hls/live/index.m3u8 HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(header(&head, "Cache-Control"), Some(public.as_str()));
    assert!(!head.contains("Pragma"), "{head}");
    let etag = header(&head, "ETag").expect("etag").to_string();
    let media_uri = first_uri(&master);
    let (_, again) = ask(
        &mut c,
        &format!("GET /hls/live/index.m3u8 HTTP/1.1\r\nIf-None-Match: W/{etag}\r\n\r\n"),
    )
    .await;
    assert!(again.is_empty());
    let (head, _) = ask(
        &mut c,
        &format!("GET /hls/live/index.m3u8 HTTP/1.1\r\nIf-None-Match: \"x\", {etag}\r\n\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{head}");
    assert!(!head.contains("Content-Length") && !head.contains("Content-Type"));
    assert_eq!(header(&head, "ETag"), Some(etag.as_str()));
    assert_eq!(header(&head, "Cache-Control"), Some(public.as_str()));

    // The media playlist names segments with the buffer's generation.
    let folder = media_uri.split('/').next().expect("folder").to_string();
    let (head, media) = ask(
        &mut c,
        &format!("GET /hls/live/{media_uri} HTTP/1.1\r\n\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    // No token of the viewer's own: none in the URLs, the same for every user agent.
    let segment = first_uri(&media);
    assert!(!segment.contains('?'), "{segment}");
    let name = segment.as_str();
    assert!(
        name.ends_with(&format!("_{generation}.ts")),
        "{segment} names generation {generation}"
    );

    // The segment: immutable, an ETag, the right length; HEAD the same head and no body.
    let get = format!("GET /hls/live/{folder}/{segment} HTTP/1.1\r\n\r\n");
    let (head, segment_bytes) = ask_bytes(&mut c, &get).await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(
        header(&head, "Cache-Control"),
        Some("public, max-age=3600, immutable")
    );
    let len: usize = header(&head, "Content-Length").unwrap().parse().unwrap();
    assert!(len > 0 && len % 188 == 0, "{len}");
    assert_eq!(segment_bytes.len(), len);
    let etag = header(&head, "ETag").expect("etag").to_string();
    assert!(etag.starts_with(&format!("\"{generation}-HLS-")), "{etag}");
    let head_only = ask_head(&mut c, &get.replacen("GET", "HEAD", 1)).await;
    assert_eq!(
        header(&head_only, "Content-Length"),
        Some(len.to_string().as_str())
    );
    assert_eq!(header(&head_only, "ETag"), Some(etag.as_str()));
    let cond =
        format!("GET /hls/live/{folder}/{segment} HTTP/1.1\r\nIf-None-Match: {etag}\r\n\r\n");
    let (head, body) = ask(&mut c, &cond).await;
    assert!(head.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{head}");
    assert!(body.is_empty());
    assert_eq!(
        header(&head, "Cache-Control"),
        Some("public, max-age=3600, immutable")
    );

    // MistServer's name (no generation): the same bytes, kept only for the segment's length.
    let plain = name.rsplit_once('_').expect("generation").0;
    let (head, body2) = ask_bytes(
        &mut c,
        &format!("GET /hls/live/{folder}/{plain}.ts HTTP/1.1\r\n\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(header(&head, "Cache-Control")
        .unwrap()
        .starts_with("public, max-age="));
    assert!(!head.contains("immutable"));
    assert_eq!(header(&head, "ETag"), Some(etag.as_str()));
    assert_eq!(body2, segment_bytes);
    // Another generation's name is gone, never other bytes.
    let (head, _) = ask(
        &mut c,
        &format!("GET /hls/live/{folder}/{plain}_1234.ts HTTP/1.1\r\n\r\n"),
    )
    .await;
    assert!(
        head.starts_with("HTTP/1.1 404 Fragment out of range\r\n"),
        "{head}"
    );
    assert!(head.contains("no-cache"), "errors are not kept: {head}");

    // A viewer's own token: private, so no shared cache hands it to others.
    let (head, media) = ask(
        &mut c,
        &format!("GET /hls/live/{folder}/index.m3u8?tkn=paid1 HTTP/1.1\r\n\r\n"),
    )
    .await;
    assert_eq!(header(&head, "Cache-Control"), Some(private.as_str()));
    let mine = first_uri(&media);
    assert!(mine.ends_with("?tkn=paid1"), "{mine}");
    let (head, _) = ask(
        &mut c,
        &format!("GET /hls/live/{folder}/{mine} HTTP/1.1\r\n\r\n"),
    )
    .await;
    assert_eq!(
        header(&head, "Cache-Control"),
        Some("private, max-age=3600, immutable")
    );
    let (head, _) = ask(
        &mut c,
        &format!("GET /hls/live/{folder}/index.m3u8 HTTP/1.1\r\nCookie: tkn=paid2\r\n\r\n"),
    )
    .await;
    assert_eq!(header(&head, "Cache-Control"), Some(private.as_str()));
}

#[tokio::test]
async fn cmaf_answers_pin_their_generation() {
    let buffer = fed_buffer();
    let generation = format!("{:x}", buffer.zero_unix_ms().expect("started"));
    let public = live_playlist_caching(&buffer, "public");
    let (mut c, _stop, _task) = connect(Some(buffer)).await;
    let (head, mpd) = ask(&mut c, "GET /cmaf/live/index.mpd HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(header(&head, "Cache-Control"), Some(public.as_str()));
    assert!(
        mpd.contains(&format!("chunk_$Time$_{generation}.m4s")),
        "{mpd}"
    );
    let (_, media) = ask(&mut c, "GET /cmaf/live/1/index.m3u8 HTTP/1.1\r\n\r\n").await;
    let map = media
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .and_then(|l| l.split('"').next())
        .expect("a map")
        .to_string();
    assert!(map.starts_with(&format!("init_{generation}-")), "{map}");
    let (head, init) = ask_bytes(&mut c, &format!("GET /cmaf/live/1/{map} HTTP/1.1\r\n\r\n")).await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(
        header(&head, "Cache-Control"),
        Some("public, max-age=3600, immutable")
    );
    assert!(init.len() > 100);
    let etag = header(&head, "ETag").expect("etag").to_string();
    let head = ask_head(
        &mut c,
        &format!("HEAD /cmaf/live/1/{map} HTTP/1.1\r\nIf-None-Match: {etag}\r\n\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{head}");
    let (head, _) = ask(&mut c, "GET /cmaf/live/1/init.m4s HTTP/1.1\r\n\r\n").await;
    assert_eq!(header(&head, "Cache-Control"), Some("public, max-age=2"));
    assert_eq!(header(&head, "ETag"), Some(etag.as_str()), "the same bytes");
    let (head, _) = ask(&mut c, "GET /cmaf/live/1/init_0-0.m4s HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    let chunk = first_uri(&media);
    assert!(chunk.ends_with(&format!("_{generation}.m4s")), "{chunk}");
    let (head, body) = ask_bytes(
        &mut c,
        &format!("GET /cmaf/live/1/{chunk} HTTP/1.1\r\n\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("immutable"));
    let len: usize = header(&head, "Content-Length").unwrap().parse().unwrap();
    assert_eq!(body.len(), len);
}

#[tokio::test]
async fn json_is_short_lived_and_streams_are_not_kept() {
    let (mut c, _stop, _task) = connect(Some(fed_buffer())).await;
    let (head, body) = ask(&mut c, "GET /json_live.js HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(header(&head, "Cache-Control"), Some("public, max-age=1"));
    let len: usize = header(&head, "Content-Length").unwrap().parse().unwrap();
    assert_eq!(body.len(), len);
    let head = ask_head(&mut c, "HEAD /json_live.js HTTP/1.1\r\n\r\n").await;
    assert_eq!(
        header(&head, "Content-Length"),
        Some(len.to_string().as_str())
    );
    c.write_all(b"HEAD /live.flv HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut all))
        .await
        .expect("closed")
        .expect("read");
    let head = String::from_utf8_lossy(&all);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Cache-Control: no-cache, no-store, must-revalidate\r\n"));
    assert!(head.ends_with("\r\n\r\n"), "a HEAD gets no body: {head}");
}
