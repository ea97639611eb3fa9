//! The API port's WebSocket `/ws` (facts §1.6) with a real WebSocket client (tungstenite): the
//! login, and stream, log and access messages while ffmpeg publishes and plays; a client that
//! stops reading; shutdown with many open sockets.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::media::{h264_clip, publish, record};
use common::*;
use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<TcpStream>;

/// Upgrades `sock` to a WebSocket at `url` (a 20 s read time-out); `headers` are added to the
/// upgrade request.
fn upgrade(sock: TcpStream, url: &str, headers: &[(&'static str, &str)]) -> Ws {
    let mut req = url.into_client_request().expect("request");
    for (k, v) in headers {
        req.headers_mut()
            .insert(*k, v.parse().expect("header value"));
    }
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let (ws, resp) = tungstenite::client(req, sock).expect("upgrade");
    assert_eq!(resp.status(), 101);
    ws
}

/// Opens `/ws?query`; `headers` are added to the upgrade request.
fn open(port: u16, query: &str, headers: &[(&'static str, &str)]) -> Ws {
    let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    upgrade(sock, &format!("ws://127.0.0.1:{port}/ws?{query}"), headers)
}

/// The next text message, as JSON (pings and pongs skipped).
fn next_json(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("message") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("json"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The next message as `[kind, body]`.
fn next(ws: &mut Ws) -> (String, Value) {
    let v = next_json(ws);
    (v[0].as_str().expect("kind").to_string(), v[1].clone())
}

/// Reads messages until `want` accepts one, for at most `limit`.
fn wait_for(ws: &mut Ws, limit: Duration, mut want: impl FnMut(&str, &Value) -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        let (kind, body) = next(ws);
        if want(&kind, &body) {
            return true;
        }
    }
    false
}

fn login_hash(password: &str, challenge: &str) -> String {
    md5_hex(&format!("{}{}", md5_hex(password), challenge))
}

/// A remote caller (as the proxy header says) of the API on `port`.
const REMOTE: [(&str, &str); 1] = [("X-Forwarded-For", "198.51.100.7")];

/// The login challenge the HTTP API gives the remote caller, as MistServer's UI gets it.
fn challenge(port: u16) -> String {
    let (_, _, body) =
        RawConn::open(port).post("/api", &json!({}), "X-Forwarded-For: 198.51.100.7\r\n");
    parse_answer(&body)["authorize"]["challenge"]
        .as_str()
        .expect("challenge")
        .to_string()
}

/// Logs a remote client in as `test` with the password `test`.
fn log_in(ws: &mut Ws, port: u16) {
    assert_eq!(next(ws), ("auth".to_string(), json!(false)));
    let hash = login_hash("test", &challenge(port));
    let login = json!(["auth", {"username": "test", "password": hash}]);
    ws.send(Message::text(login.to_string())).expect("send");
    assert_eq!(next(ws), ("auth".to_string(), json!({"status": "OK"})));
}

#[test]
fn a_remote_client_logs_in_and_a_slow_one_is_sent_away() {
    let s = Server::start(Some(&config_with_account(free_port())));
    let mut ws = open(s.port, "logs=5", &REMOTE);
    assert_eq!(next(&mut ws), ("auth".to_string(), json!(false)));
    let mut slow = open(s.port, "logs=5", &REMOTE);
    assert_eq!(next(&mut slow), ("auth".to_string(), json!(false)));

    let challenge = challenge(s.port);
    let wrong = json!(["auth", {"username": "test", "password": login_hash("nope", &challenge)}]);
    ws.send(Message::text(wrong.to_string())).expect("send");
    let (kind, answer) = next(&mut ws);
    assert_eq!(
        (kind.as_str(), &answer["status"]),
        ("auth", &json!("CHALL"))
    );
    let right = json!(["auth", {"username": "test", "password": login_hash("test", &challenge)}]);
    ws.send(Message::text(right.to_string())).expect("send");
    assert_eq!(next(&mut ws), ("auth".to_string(), json!({"status": "OK"})));
    // The history: the last log lines, the failed login among them.
    assert!(wait_for(&mut ws, Duration::from_secs(5), |kind, body| kind
        == "log"
        && body[2].as_str().is_some_and(|m| m.contains("Failed login"))));

    // Not logged in within 10 s: told so, and closed.
    let t = Instant::now();
    assert_eq!(
        next(&mut slow),
        ("auth".to_string(), json!("Too slow, sorry"))
    );
    assert!(t.elapsed() < Duration::from_secs(12));
    assert!(matches!(slow.read(), Ok(Message::Close(_)) | Err(_)));
}

#[test]
fn stream_log_and_access_messages_while_ffmpeg_publishes_and_plays() {
    let ls = LiveServer::start(json!({"live": {"source": "push://"}}));
    let dir = ls.server.dir.path().to_path_buf();
    // A remote client, as MistServer's UI on an operator's machine: it logs in first.
    let mut ws = open(ls.server.port, "logs=100&accs=100&streams=1", &REMOTE);
    log_in(&mut ws, ls.server.port);

    let _p = publish(h264_clip(), &ls.rtmp_url("live", "live"), &dir);
    // MistServer's UI reads the state as a number: 4 is "Available".
    assert!(
        wait_for(&mut ws, Duration::from_secs(20), |kind, body| {
            kind == "stream"
                && body[0] == json!("live")
                && body[1] == json!(4)
                && body[3] == json!(1)
        }),
        "a stream message: available, the publisher as input"
    );

    // A viewer plays two seconds and leaves: its visit comes as an access message.
    let out = dir.join("v.flv");
    let mut viewer = record(
        std::path::Path::new("ffmpeg"),
        &ls.flv_url("live"),
        2,
        &out,
        &dir,
    );
    let mut saw_viewer = false;
    let mut log_lines = 0;
    assert!(
        wait_for(&mut ws, Duration::from_secs(30), |kind, body| {
            match kind {
                "stream" if body[0] == json!("live") && body[2].as_u64() >= Some(1) => {
                    saw_viewer = true
                }
                "log" => log_lines += 1,
                _ => {}
            }
            kind == "access" && body[2] == json!("live") && body[3] == json!("FLV")
        }),
        "an access message for the FLV visit"
    );
    assert!(saw_viewer, "the viewer count went up first");
    assert!(log_lines > 0, "log lines came too");
    assert!(viewer
        .wait_timeout(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
}

/// Opens `/ws?query` on a socket that buffers little: a small receive buffer, and a small
/// segment size so that the server's send buffer (sized from it) stays small too.
fn open_narrow(port: u16, query: &str) -> Ws {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    sock.set_tcp_mss(536).expect("TCP_MAXSEG");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    sock.connect(&addr.into()).expect("connect");
    upgrade(
        sock.into(),
        &format!("ws://127.0.0.1:{port}/ws?{query}"),
        &[],
    )
}

#[test]
fn a_client_that_stops_reading_is_dropped_and_the_others_go_on() {
    let s = Server::start(Some(&config_with_account(free_port())));
    let mut reader = open(s.port, "logs=0", &[]);
    assert_eq!(next(&mut reader), ("auth".to_string(), json!(true)));
    let mut stalled = open_narrow(s.port, "logs=0");
    assert_eq!(next(&mut stalled), ("auth".to_string(), json!(true)));
    let stalled_port = stalled.get_ref().local_addr().expect("addr").port();
    // From here on `stalled` reads nothing.

    // Log lines, a hundred a second (failed logins from a remote address), until the server
    // gives up on the stalled client: once its socket, the HTTP server's write buffer and the
    // feed's queue are full, a message waits 5 s.
    let failed = json!({"authorize": {"username": "x".repeat(64), "password": "0"}});
    let xff = "X-Forwarded-For: 198.51.100.7\r\n";
    let mut api = RawConn::open(s.port);
    let dropped = |s: &Server| s.stderr().contains("took no message for 5 s; dropped");
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) && !dropped(&s) {
        for _ in 0..10 {
            api.post("/api", &failed, xff);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        dropped(&s),
        "the server never gave up on the stalled client"
    );

    // Its connection is gone from the server at once, unsent messages and all (not kept
    // until the client reads them).
    let open_on_server = || {
        let out = std::process::Command::new("ss")
            .args([
                "-tnH",
                &format!("sport = :{} and dport = :{stalled_port}", s.port),
            ])
            .output()
            .expect("ss");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let t = Instant::now();
    while !open_on_server().is_empty() && t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        open_on_server(),
        "",
        "the stalled client's connection is still open"
    );
    stalled
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let ended = loop {
        match stalled.read() {
            Ok(Message::Close(_)) => break "close",
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break "still open";
            }
            Err(_) => break "closed",
        }
    };
    assert_ne!(ended, "still open", "the stalled client was not dropped");

    // The reader kept up all along, and gets what comes next.
    reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut got = 0;
    while let Ok(Message::Text(_)) = reader.read() {
        got += 1;
    }
    assert!(got > 500, "the reader got {got} lines");
    reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    api.post("/api", &failed, xff);
    assert!(wait_for(
        &mut reader,
        Duration::from_secs(5),
        |kind, _| kind == "log"
    ));
}

#[test]
fn shutdown_with_fifty_open_websockets_is_quick() {
    let mut s = Server::start(None);
    let mut sockets: Vec<Ws> = (0..50)
        .map(|_| open(s.port, "logs=1&streams=1", &[]))
        .collect();
    for ws in &mut sockets {
        assert_eq!(next(ws).0, "auth");
    }
    let t = Instant::now();
    let status = s.terminate();
    let took = t.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
}

#[test]
fn json_as_a_websocket_is_a_live_status_feed() {
    let ls = LiveServer::start(json!({"live": {"source": "push://"}}));
    let dir = ls.server.dir.path().to_path_buf();
    let sock = TcpStream::connect(("127.0.0.1", ls.http)).expect("connect");
    let url = format!("ws://127.0.0.1:{}/json_live.js", ls.http);
    let mut ws = upgrade(sock, &url, &[]);
    // Nobody publishes yet: the stream's state first.
    let first = next_json(&mut ws);
    assert!(first["error"].is_string(), "{first}");

    // A publisher starts: the feed sends the stream's tracks and sources on its own.
    let _p = publish(h264_clip(), &ls.rtmp_url("live", "live"), &dir);
    let t = Instant::now();
    let ready = loop {
        let v = next_json(&mut ws);
        if v.get("error").is_none() {
            break v;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "still {v}");
    };
    assert_eq!(ready["type"], "live");
    assert!(
        ready["meta"]["tracks"]
            .as_object()
            .is_some_and(|t| t.len() == 2),
        "{ready}"
    );
    assert!(
        ready["source"].as_array().is_some_and(|s| !s.is_empty()),
        "{ready}"
    );

    // A frame over the 64 KiB a client may send ends the feed; the server stays.
    let _ = ws.send(Message::binary(vec![0u8; 100_000]));
    let ended = loop {
        match ws.read() {
            Ok(Message::Close(_)) | Err(_) => break true,
            Ok(_) => {}
        }
    };
    assert!(ended);
    // A plain GET (no upgrade key) still gets the JSON answer.
    let plain: Value = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{}/json_live.js", ls.http))
        .header("Upgrade", "websocket")
        .send()
        .expect("get")
        .json()
        .expect("json");
    assert_eq!(plain["type"], "live");
}
