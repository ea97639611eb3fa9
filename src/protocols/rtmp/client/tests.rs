//! Tests of the publishing client: URL parsing and a scripted server built from this crate's
//! server-side pieces; [`hostile_tests`] servers that misbehave, and a real ffmpeg as the server
//! ([`ffmpeg_tests`]).

use super::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

fn s(v: &str) -> Amf0Value {
    Amf0Value::String(v.to_string())
}

// ---------------------------------------------------------------------------------------
// URL parsing

#[test]
fn parses_urls() {
    let u = parse_url("rtmp://example.com/live/key").unwrap();
    assert_eq!(
        u,
        RtmpUrl {
            host: "example.com".into(),
            port: 1935,
            app: "live".into(),
            stream: "key".into(),
            tc_url: "rtmp://example.com:1935/live".into(),
        }
    );
    let u = parse_url("RTMP://10.0.0.1:1936/live/sub/key?token=a&b=c").unwrap();
    assert_eq!((u.host.as_str(), u.port), ("10.0.0.1", 1936));
    assert_eq!(u.app, "live/sub");
    assert_eq!(u.stream, "key?token=a&b=c");
    assert_eq!(u.tc_url, "rtmp://10.0.0.1:1936/live/sub");
    let u = parse_url("rtmp://[::1]:2000/app/k").unwrap();
    assert_eq!((u.host.as_str(), u.port), ("::1", 2000));
    assert_eq!(u.tc_url, "rtmp://[::1]:2000/app");
    let u = parse_url("rtmp://[2001:db8::5]/app/k?").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.stream.as_str()),
        ("2001:db8::5", 1935, "k")
    );
    // A slash inside the query stays with the key.
    let u = parse_url("rtmp://h:65535/a/k?next=/x/y").unwrap();
    assert_eq!((u.app.as_str(), u.stream.as_str()), ("a", "k?next=/x/y"));
    assert_eq!(u.port, 65535);
    // Duplicate slashes around the application are tolerated.
    let u = parse_url("rtmp://live-ingest_1.example.com//live//k").unwrap();
    assert_eq!((u.app.as_str(), u.stream.as_str()), ("live", "k"));
}

#[test]
fn rejects_malformed_urls() {
    let cases = [
        ("", "not an rtmp"),
        ("garbage", "not an rtmp"),
        ("://x/a/k", "only rtmp"),
        ("http://h/a/k", "only rtmp"),
        ("rtmps://h/a/k", "rtmps is not supported"),
        ("RTMPS://h:443/a/k", "rtmps is not supported"),
        ("rtmp://", "missing host"),
        ("rtmp:///live/key", "missing host"),
        ("rtmp://:1935/live/key", "missing host"),
        ("rtmp://h", "missing application name or stream key"),
        ("rtmp://h/", "missing application name or stream key"),
        ("rtmp://h/live", "missing application name or stream key"),
        ("rtmp://h/live/", "missing stream key"),
        ("rtmp://h/live/?k=1", "missing stream key"),
        ("rtmp://h//key", "missing application name"),
        ("rtmp://h:0/live/key", "bad port"),
        ("rtmp://h:99999/live/key", "bad port"),
        ("rtmp://h:/live/key", "bad port"),
        ("rtmp://h:+80/live/key", "bad port"),
        ("rtmp://h:12ab/live/key", "bad port"),
        ("rtmp://a:1:2/live/key", "bad port"),
        ("rtmp://::1/live/key", "missing host"),
        ("rtmp://[::1/live/key", "unclosed"),
        ("rtmp://[zz::1]/live/key", "bad IPv6"),
        ("rtmp://[::1]x/live/key", "junk after"),
        ("rtmp://[::1]:0/live/key", "bad port"),
        ("rtmp://user:pw@h/live/key", "user names"),
        ("rtmp://ho st/live/key", "white space"),
        ("rtmp://h/live/ke\ny", "white space"),
        ("rtmp://h%41/live/key", "bad host"),
        ("rtmp://hést/live/key", "bad host"),
    ];
    for (url, why) in cases {
        match parse_url(url) {
            Err(ClientError::BadUrl(m)) => assert!(m.contains(why), "{url:?}: {m:?}"),
            other => panic!("{url:?}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Scripted servers

/// A scripted RTMP server connection built from the crate's handshake/chunk/message code.
struct Peer {
    sock: TcpStream,
    chunks: ChunkReader,
    buf: BytesMut,
    out_chunk: u32,
}

impl Peer {
    async fn accept(l: &TcpListener) -> Peer {
        let (mut sock, _) = l.accept().await.unwrap();
        let mut c0c1 = vec![0u8; handshake::C0C1_LEN];
        sock.read_exact(&mut c0c1).await.unwrap();
        assert_eq!(c0c1[0], 3);
        assert_eq!(&c0c1[5..9], &[0, 0, 0, 0], "C1 zero field");
        let reply = handshake::server_response(&c0c1).unwrap();
        sock.write_all(&reply).await.unwrap();
        let mut c2 = vec![0u8; handshake::C2_LEN];
        sock.read_exact(&mut c2).await.unwrap();
        assert_eq!(&c2[..], &reply[1..1 + handshake::C2_LEN], "C2 echoes S1");
        Peer {
            sock,
            chunks: ChunkReader::new(),
            buf: BytesMut::new(),
            out_chunk: 128,
        }
    }

    /// Next message (Set Chunk Size applied); `None` at end of stream.
    async fn recv(&mut self) -> Option<RtmpMessage> {
        loop {
            if let Some(m) = self.chunks.read_message(&mut self.buf).unwrap() {
                if m.msg_type == msg::SET_CHUNK_SIZE {
                    let Control::SetChunkSize(n) = msg::parse_control(1, &m.payload).unwrap()
                    else {
                        unreachable!()
                    };
                    self.chunks.set_chunk_size(n).unwrap();
                }
                return Some(m);
            }
            if self.sock.read_buf(&mut self.buf).await.ok()? == 0 {
                return None;
            }
        }
    }

    /// Next command; other messages go to `others`.
    async fn command(&mut self, others: &mut Vec<RtmpMessage>) -> (Command, RtmpMessage) {
        loop {
            let m = self.recv().await.expect("client closed");
            if m.msg_type == msg::COMMAND_AMF0 {
                return (msg::parse_command(m.msg_type, &m.payload).unwrap(), m);
            }
            others.push(m);
        }
    }

    async fn send(&mut self, csid: u32, msg_type: u8, sid: u32, payload: &[u8]) {
        let mut out = BytesMut::new();
        chunk::write_message(&mut out, self.out_chunk, csid, 0, msg_type, sid, payload);
        self.sock.write_all(&out).await.unwrap();
    }

    async fn set_chunk_size(&mut self, n: u32) {
        self.send(2, msg::SET_CHUNK_SIZE, 0, &msg::set_chunk_size(n))
            .await;
        self.out_chunk = n;
    }

    async fn cmd(&mut self, csid: u32, sid: u32, name: &str, tid: f64, args: &[Amf0Value]) {
        let payload = msg::build_command(name, tid, &Amf0Value::Null, args);
        self.send(csid, msg::COMMAND_AMF0, sid, &payload).await;
    }

    async fn status(&mut self, sid: u32, level: &str, code: &str) {
        let info = Amf0Value::Object(vec![
            ("level".into(), s(level)),
            ("code".into(), s(code)),
            ("description".into(), s("scripted")),
        ]);
        self.cmd(5, sid, "onStatus", 0.0, &[info]).await;
    }

    async fn ping(&mut self, stamp: u32) {
        let p = msg::user_control(msg::PING_REQUEST, stamp);
        self.send(2, msg::USER_CONTROL, 0, &p).await;
    }

    /// Plays a cooperative server up to `publish`, answering it with `reply` (level, code).
    async fn serve_until_publish(&mut self, sid: u32, reply: (&str, &str)) -> Vec<Command> {
        let mut others = Vec::new();
        let mut seen = Vec::new();
        loop {
            let (c, m) = self.command(&mut others).await;
            seen.push(c.clone());
            let tid = c.transaction_id;
            match c.name.as_str() {
                "connect" => {
                    self.send(2, msg::WINDOW_ACK_SIZE, 0, &msg::window_ack_size(2_500_000))
                        .await;
                    self.send(
                        2,
                        msg::SET_PEER_BANDWIDTH,
                        0,
                        &msg::set_peer_bandwidth(2_500_000, 2),
                    )
                    .await;
                    self.set_chunk_size(4096).await;
                    let info = Amf0Value::Object(vec![(
                        "code".into(),
                        s("NetConnection.Connect.Success"),
                    )]);
                    self.cmd(3, 0, "_result", tid, &[info]).await;
                }
                "createStream" => {
                    self.cmd(3, 0, "_result", tid, &[Amf0Value::Number(f64::from(sid))])
                        .await
                }
                "publish" => {
                    assert_eq!(m.stream_id, sid);
                    self.status(sid, reply.0, reply.1).await;
                    return seen;
                }
                _ => {}
            }
        }
    }
}

async fn listener() -> (TcpListener, RtmpUrl) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let url = parse_url(&format!("rtmp://127.0.0.1:{port}/live/key?pass=1")).unwrap();
    (l, url)
}

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn scripted_server_full_exchange() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&l).await;
        let mut others = Vec::new();
        let (connect, _) = p.command(&mut others).await;
        assert_eq!(connect.name, "connect");
        assert_eq!(connect.transaction_id, 1.0);
        let obj = &connect.object;
        assert_eq!(obj.get("app").and_then(Amf0Value::as_str), Some("live"));
        assert_eq!(
            obj.get("type").and_then(Amf0Value::as_str),
            Some("nonprivate")
        );
        assert_eq!(
            obj.get("flashVer").and_then(Amf0Value::as_str),
            Some(FLASH_VER)
        );
        let tc_url = obj
            .get("tcUrl")
            .and_then(Amf0Value::as_str)
            .unwrap()
            .to_string();
        assert!(tc_url.starts_with("rtmp://127.0.0.1:") && tc_url.ends_with("/live"));
        // A tiny chunk size (the _result spans many chunks), a window, a ping, a peer
        // bandwidth, an unrelated command, then the result, on an unusual chunk stream id.
        p.set_chunk_size(7).await;
        p.send(2, msg::WINDOW_ACK_SIZE, 0, &msg::window_ack_size(600))
            .await;
        p.ping(0xDEAD_BEEF).await;
        p.send(
            2,
            msg::SET_PEER_BANDWIDTH,
            0,
            &msg::set_peer_bandwidth(5_000_000, 2),
        )
        .await;
        p.cmd(9, 0, "onBWDone", 0.0, &[]).await;
        let info = Amf0Value::Object(vec![
            ("level".into(), s("status")),
            ("code".into(), s("NetConnection.Connect.Success")),
            ("description".into(), s("x".repeat(300).as_str())),
        ]);
        p.cmd(300, 0, "_result", 1.0, &[info]).await;

        let mut names = Vec::new();
        let mut tids = Vec::new();
        loop {
            let (c, m) = p.command(&mut others).await;
            names.push(c.name.clone());
            tids.push(c.transaction_id);
            match c.name.as_str() {
                "releaseStream" => {
                    assert_eq!(c.args, vec![s("key?pass=1")]);
                    p.cmd(3, 0, "_error", c.transaction_id, &[]).await;
                    // The server's chunk size changes again after the connect result.
                    p.set_chunk_size(33).await;
                }
                "FCPublish" => p.cmd(3, 0, "onFCPublish", 0.0, &[]).await,
                "createStream" => {
                    // On a chunk stream id with a 3-byte basic header.
                    let id = [Amf0Value::Number(7.0)];
                    p.cmd(1000, 0, "_result", c.transaction_id, &id).await
                }
                "publish" => {
                    assert_eq!(m.stream_id, 7);
                    assert_eq!(m.csid, CSID_STREAM);
                    assert_eq!(c.args, vec![s("key?pass=1"), s("live")]);
                    p.send(
                        2,
                        msg::USER_CONTROL,
                        0,
                        &msg::user_control(msg::STREAM_BEGIN, 7),
                    )
                    .await;
                    p.status(7, "status", "NetStream.Publish.Start").await;
                    break;
                }
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(
            names,
            ["releaseStream", "FCPublish", "createStream", "publish"]
        );
        assert_eq!(tids, [2.0, 3.0, 4.0, 5.0], "transaction ids count up");
        // The client announced its chunk size before those commands.
        let cs = others
            .iter()
            .find(|m| m.msg_type == msg::SET_CHUNK_SIZE)
            .unwrap();
        assert_eq!(&cs.payload[..], &msg::set_chunk_size(OUT_CHUNK_SIZE));
        let pong = others
            .iter()
            .find(|m| m.msg_type == msg::USER_CONTROL)
            .unwrap();
        assert_eq!(
            &pong.payload[..],
            &msg::user_control(msg::PING_RESPONSE, 0xDEAD_BEEF)
        );
        let win = others
            .iter()
            .find(|m| m.msg_type == msg::WINDOW_ACK_SIZE)
            .unwrap();
        assert_eq!(&win.payload[..], &msg::window_ack_size(5_000_000));
        // More than the 600-byte window was sent: at least one acknowledgement.
        let acks: Vec<_> = others.iter().filter(|m| m.msg_type == msg::ACK).collect();
        assert!(!acks.is_empty());
        let seq = u32::from_be_bytes(acks[0].payload[..4].try_into().unwrap());
        assert!(seq >= 600, "ack {seq}");
        others.clear();

        // Publishing: metadata, media, a ping and a large data message (another ack).
        let meta = p.recv().await.unwrap();
        assert_eq!((meta.msg_type, meta.stream_id), (msg::DATA_AMF0, 7));
        let values = msg::parse_data(meta.msg_type, &meta.payload).unwrap();
        assert_eq!(values.len(), 3);
        assert_eq!(values[..2], [s("@setDataFrame"), s("onMetaData")]);
        assert_eq!(
            values[2].get("width").and_then(Amf0Value::as_f64),
            Some(640.0)
        );
        let mut media = Vec::new();
        while media.len() < 3 {
            let m = p.recv().await.unwrap();
            media.push(m);
        }
        p.ping(42).await;
        p.send(4, msg::DATA_AMF0, 7, &vec![0u8; 2000]).await; // ignored by the client
        p.send(4, msg::VIDEO, 7, &[1, 2, 3]).await; // ignored too
        let mut more = Vec::new();
        while more.len() < 2 {
            let m = p.recv().await.unwrap();
            if m.msg_type == msg::USER_CONTROL || m.msg_type == msg::ACK {
                more.push(m);
            }
        }
        p.status(7, "error", "NetStream.Publish.Denied").await;
        (media, more)
    });

    let mut publisher = RtmpPublisher::connect(&url, T).await.unwrap();
    assert_eq!(publisher.stream_id(), 7);
    let width = Amf0Value::EcmaArray(vec![("width".into(), Amf0Value::Number(640.0))]);
    // As an `onMetaData` builder returns it: the name is not repeated.
    publisher.queue_metadata(&[s("onMetaData"), width]);
    let body = Bytes::from((0..10_000u32).map(|i| i as u8).collect::<Vec<_>>());
    let parts = [Bytes::from_static(&[0x17, 1, 0, 0, 0]), body.clone()];
    publisher.queue_media(msg::VIDEO, 0x0100_0000, &parts);
    publisher.queue_media(
        msg::AUDIO,
        0x0100_0010,
        &[Bytes::from_static(&[0xAF, 1, 9])],
    );
    publisher.queue_media(
        msg::VIDEO,
        0x0100_0028,
        &[Bytes::from_static(&[0x27, 1, 0, 0, 0])],
    );
    let queued = publisher.queued_bytes();
    assert!(queued > 10_005);
    assert_eq!(publisher.flush().await.unwrap(), queued as u64);
    assert_eq!(publisher.queued_bytes(), 0);
    let err = loop {
        match publisher.next_event().await {
            Ok(()) => {
                publisher.flush().await.unwrap();
            }
            Err(e) => break e,
        }
    };
    match err {
        ClientError::Refused(m) => assert!(m.contains("NetStream.Publish.Denied"), "{m}"),
        other => panic!("{other:?}"),
    }
    let (media, more) = server.await.unwrap();
    assert_eq!(media[0].msg_type, msg::VIDEO);
    assert_eq!((media[0].timestamp, media[0].stream_id), (0x0100_0000, 7));
    assert_eq!(media[0].payload.len(), 10_005);
    assert_eq!(&media[0].payload[5..], &body[..]);
    assert_eq!(
        (media[1].msg_type, media[1].timestamp),
        (msg::AUDIO, 0x0100_0010)
    );
    assert_eq!(&media[1].payload[..], &[0xAF, 1, 9]);
    assert_ne!(
        media[0].csid, media[1].csid,
        "audio and video on their own csids"
    );
    assert_eq!(
        (media[2].msg_type, media[2].timestamp),
        (msg::VIDEO, 0x0100_0028)
    );
    let pong = more
        .iter()
        .find(|m| m.msg_type == msg::USER_CONTROL)
        .unwrap();
    assert_eq!(
        &pong.payload[..],
        &msg::user_control(msg::PING_RESPONSE, 42)
    );
    assert!(more.iter().any(|m| m.msg_type == msg::ACK));
}

#[test]
fn futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let url = parse_url("rtmp://h/a/k").unwrap();
    send(&RtmpPublisher::connect(&url, T));
    // Type-checked only: the futures the push task holds across awaits are Send.
    #[allow(dead_code)]
    fn methods(mut p: RtmpPublisher) {
        send(&p.flush());
        send(&p.next_event());
        let (r, w) = p.split_mut();
        send(&r.next_event());
        send(&w.flush());
        send(&p.close());
    }
}

mod ffmpeg_tests;
mod hostile_tests;
