//! The client against servers that close, send garbage, refuse, or stay silent: each ends in a
//! typed error within its time-out, never a hang or a panic.

use super::*;

/// Connects and expects an error within `T` plus a margin.
async fn connect_err(url: &RtmpUrl, timeout: Duration) -> ClientError {
    let started = std::time::Instant::now();
    let r = tokio::time::timeout(
        timeout + Duration::from_secs(2),
        RtmpPublisher::connect(url, timeout),
    )
    .await
    .expect("connect must not hang");
    assert!(started.elapsed() < timeout + Duration::from_secs(1));
    match r {
        Ok(_) => panic!("connect succeeded"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn server_closing_after_handshake() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move { drop(Peer::accept(&l).await) });
    let err = connect_err(&url, T).await;
    assert!(
        matches!(err, ClientError::Closed | ClientError::Io(_)),
        "{err:?}"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn server_closing_at_once() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move { drop(l.accept().await.unwrap()) });
    let err = connect_err(&url, T).await;
    assert!(
        matches!(err, ClientError::Closed | ClientError::Io(_)),
        "{err:?}"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn garbage_handshake_is_protocol_error() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let (mut sock, _) = l.accept().await.unwrap();
        let junk: Vec<u8> = (0..3073u32).map(|i| (i * 131 + 7) as u8).collect();
        sock.write_all(&junk).await.unwrap();
        let _ = sock.read(&mut [0u8; 4096]).await;
        sock
    });
    let err = connect_err(&url, T).await;
    assert!(
        matches!(&err, ClientError::Protocol(m) if m.contains("version")),
        "{err:?}"
    );
    drop(server.await.unwrap());
}

#[tokio::test]
async fn garbage_chunks_are_protocol_error() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&l).await;
        // fmt 3 chunk on a chunk stream never seen: no previous header.
        p.sock.write_all(&[0xC7; 64]).await.unwrap();
        p
    });
    let err = connect_err(&url, T).await;
    assert!(
        matches!(&err, ClientError::Protocol(m) if m.contains("previous")),
        "{err:?}"
    );
    drop(server.await.unwrap());
}

#[tokio::test]
async fn undecodable_command_is_protocol_error() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&l).await;
        p.send(
            3,
            msg::COMMAND_AMF0,
            0,
            &[0x02, 0x00, 0x07, b'_', b'r', 0x04],
        )
        .await;
        p
    });
    let err = connect_err(&url, T).await;
    assert!(matches!(err, ClientError::Protocol(_)), "{err:?}");
    drop(server.await.unwrap());
}

#[tokio::test]
async fn invalid_server_chunk_size_is_protocol_error() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&l).await;
        p.send(2, msg::SET_CHUNK_SIZE, 0, &0u32.to_be_bytes()).await;
        p
    });
    let err = connect_err(&url, T).await;
    assert!(
        matches!(&err, ClientError::Protocol(m) if m.contains("chunk size")),
        "{err:?}"
    );
    drop(server.await.unwrap());
}

#[tokio::test]
async fn bad_name_is_refused() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&l).await;
        p.serve_until_publish(1, ("error", "NetStream.Publish.BadName"))
            .await;
        p
    });
    let err = connect_err(&url, T).await;
    match &err {
        ClientError::Refused(m) => {
            assert_eq!(m, "NetStream.Publish.BadName: scripted");
        }
        other => panic!("{other:?}"),
    }
    drop(server.await.unwrap());
}

#[tokio::test]
async fn connect_error_is_refused() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&l).await;
        let (c, _) = p.command(&mut Vec::new()).await;
        let info = Amf0Value::Object(vec![
            ("level".into(), s("error")),
            ("code".into(), s("NetConnection.Connect.Rejected")),
            ("description".into(), s("bad app")),
        ]);
        p.cmd(3, 0, "_error", c.transaction_id, &[info]).await;
        p
    });
    let err = connect_err(&url, T).await;
    assert!(
        matches!(&err, ClientError::Refused(m) if m == "NetConnection.Connect.Rejected: bad app"),
        "{err:?}"
    );
    drop(server.await.unwrap());
}

#[tokio::test]
async fn bad_stream_id_is_protocol_error() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&l).await;
        let mut others = Vec::new();
        loop {
            let (c, _) = p.command(&mut others).await;
            let tid = c.transaction_id;
            match c.name.as_str() {
                "connect" => p.cmd(3, 0, "_result", tid, &[]).await,
                "createStream" => {
                    p.cmd(3, 0, "_result", tid, &[Amf0Value::Number(-1.5)])
                        .await
                }
                _ => {}
            }
            if c.name == "createStream" {
                return p;
            }
        }
    });
    let err = connect_err(&url, T).await;
    assert!(
        matches!(&err, ClientError::Protocol(m) if m.contains("stream id")),
        "{err:?}"
    );
    drop(server.await.unwrap());
}

#[tokio::test]
async fn silent_server_times_out() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let (mut sock, _) = l.accept().await.unwrap();
        let mut sink = Vec::new();
        let _ = sock.read_to_end(&mut sink).await;
    });
    let timeout = Duration::from_millis(700);
    let started = std::time::Instant::now();
    let err = connect_err(&url, timeout).await;
    assert!(matches!(err, ClientError::Timeout("handshake")), "{err:?}");
    assert!(started.elapsed() >= timeout);
    server.await.unwrap();
}

#[tokio::test]
async fn unanswered_connect_times_out() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&l).await;
        while p.recv().await.is_some() {}
    });
    let err = connect_err(&url, Duration::from_millis(700)).await;
    assert!(matches!(err, ClientError::Timeout("connect")), "{err:?}");
    server.await.unwrap();
}

#[tokio::test]
async fn unanswered_publish_times_out() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&l).await;
        // Answers everything but publish.
        let mut others = Vec::new();
        loop {
            let (c, _) = p.command(&mut others).await;
            match c.name.as_str() {
                "connect" => p.cmd(3, 0, "_result", c.transaction_id, &[]).await,
                "createStream" => {
                    p.cmd(3, 0, "_result", c.transaction_id, &[Amf0Value::Number(1.0)])
                        .await
                }
                "publish" => break,
                _ => {}
            }
        }
        while p.recv().await.is_some() {}
    });
    let err = connect_err(&url, Duration::from_millis(700)).await;
    assert!(matches!(err, ClientError::Timeout("publish")), "{err:?}");
    server.await.unwrap();
}

#[tokio::test]
async fn nothing_listening_is_io_error() {
    let (l, url) = listener().await;
    drop(l);
    let err = connect_err(&url, T).await;
    assert!(matches!(err, ClientError::Io(_)), "{err:?}");
}

/// A publisher that got `NetStream.Publish.Start` from a scripted server.
async fn published(l: TcpListener, url: &RtmpUrl) -> (RtmpPublisher, Peer) {
    let server = tokio::spawn(async move {
        let mut p = Peer::accept(&l).await;
        p.serve_until_publish(1, ("status", "NetStream.Publish.Start"))
            .await;
        p
    });
    let publisher = RtmpPublisher::connect(url, T).await.unwrap();
    (publisher, server.await.unwrap())
}

#[tokio::test]
async fn server_close_ends_next_event() {
    let (l, url) = listener().await;
    let (mut publisher, peer) = published(l, &url).await;
    drop(peer);
    let r = tokio::time::timeout(T, publisher.next_event())
        .await
        .unwrap();
    assert!(matches!(r, Err(ClientError::Closed)), "{r:?}");
}

/// `next_event` cancelled again and again while a ping trickles in byte by byte.
#[tokio::test]
async fn next_event_is_cancel_safe() {
    let (l, url) = listener().await;
    let (mut publisher, mut peer) = published(l, &url).await;
    let server = tokio::spawn(async move {
        let mut out = BytesMut::new();
        let ping = msg::user_control(msg::PING_REQUEST, 77);
        chunk::write_message(&mut out, 4096, 2, 0, msg::USER_CONTROL, 0, &ping);
        for b in out.iter() {
            peer.sock.write_all(&[*b]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        loop {
            let m = peer.recv().await.unwrap();
            if m.msg_type == msg::USER_CONTROL {
                return m;
            }
        }
    });
    let mut cancelled = 0;
    loop {
        tokio::select! {
            r = publisher.next_event() => { r.unwrap(); break; }
            _ = tokio::time::sleep(Duration::from_millis(4)) => cancelled += 1,
        }
    }
    assert!(cancelled > 5, "{cancelled}");
    publisher.flush().await.unwrap();
    let pong = tokio::time::timeout(T, server).await.unwrap().unwrap();
    assert_eq!(
        &pong.payload[..],
        &msg::user_control(msg::PING_RESPONSE, 77)
    );
}

/// A large flush cancelled again and again still delivers every message intact.
#[tokio::test]
async fn flush_is_cancel_safe() {
    let (l, url) = listener().await;
    let (mut publisher, mut peer) = published(l, &url).await;
    const N: usize = 120;
    let server = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < N {
            let m = peer.recv().await.unwrap();
            if m.msg_type == msg::VIDEO {
                got.push(m);
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        got
    });
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let body = Bytes::from(body);
    for i in 0..N {
        let tag = Bytes::from(vec![0x27, 1, 0, 0, i as u8]);
        publisher.queue_media(msg::VIDEO, i as u32 * 40, &[tag, body.clone()]);
    }
    let total = publisher.queued_bytes() as u64;
    let (mut written, mut cancelled) = (0u64, 0);
    loop {
        let (_, w) = publisher.split_mut();
        tokio::select! {
            r = w.flush() => { written += r.unwrap(); break; }
            _ = tokio::time::sleep(Duration::from_millis(1)) => cancelled += 1,
        }
    }
    assert!(cancelled > 0);
    // Bytes written by cancelled flushes were not reported; the queue is empty now.
    assert!(written <= total);
    assert_eq!(publisher.queued_bytes(), 0);
    let got = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .unwrap()
        .unwrap();
    for (i, m) in got.iter().enumerate() {
        assert_eq!((m.timestamp, m.stream_id), (i as u32 * 40, 1));
        assert_eq!(&m.payload[..5], &[0x27, 1, 0, 0, i as u8]);
        assert_eq!(&m.payload[5..], &body[..]);
    }
}

#[tokio::test]
async fn close_is_polite_and_bounded() {
    let (l, url) = listener().await;
    let (publisher, mut peer) = published(l, &url).await;
    let server = tokio::spawn(async move {
        let mut names = Vec::new();
        while let Some(m) = peer.recv().await {
            if m.msg_type == msg::COMMAND_AMF0 {
                let c = msg::parse_command(m.msg_type, &m.payload).unwrap();
                names.push((c.name, c.args));
            }
        }
        names
    });
    tokio::time::timeout(CLOSE_TIMEOUT + Duration::from_secs(1), publisher.close())
        .await
        .unwrap();
    let names = server.await.unwrap();
    assert_eq!(
        names,
        [
            ("FCUnpublish".to_string(), vec![s("key?pass=1")]),
            ("deleteStream".to_string(), vec![Amf0Value::Number(1.0)]),
        ]
    );

    // A server that never closes: close still returns within its bound.
    let (l, url) = listener().await;
    let (publisher, peer) = published(l, &url).await;
    let started = std::time::Instant::now();
    publisher.close().await;
    assert!(started.elapsed() < CLOSE_TIMEOUT + Duration::from_millis(500));
    drop(peer);
}
