//! Sessions and USER_NEW against real peers: a real HTTP handler server decides, ffmpeg and
//! ffprobe play, and the session commands act on live viewers.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::media::*;
use common::*;
use serde_json::json;

/// A USER_NEW handler: allows tokens in its list (changeable), records every payload.
struct Paywall {
    port: u16,
    allowed: Arc<Mutex<Vec<String>>>,
    calls: Arc<Mutex<Vec<Vec<String>>>>,
}

impl Paywall {
    fn start(allowed: &[&str], delay: Duration) -> Paywall {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let allowed = Arc::new(Mutex::new(
            allowed.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        ));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (a, c) = (allowed.clone(), calls.clone());
        std::thread::spawn(move || {
            for sock in listener.incoming().flatten() {
                let (a, c) = (a.clone(), c.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(sock.try_clone().expect("clone"));
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; len];
                    let _ = reader.read_exact(&mut body);
                    let lines: Vec<String> = String::from_utf8_lossy(&body)
                        .split('\n')
                        .map(String::from)
                        .collect();
                    std::thread::sleep(delay);
                    let ok = lines
                        .get(2)
                        .is_some_and(|t| a.lock().expect("lock").contains(t));
                    c.lock().expect("lock").push(lines);
                    let answer = if ok { "true" } else { "false" };
                    let mut sock = sock;
                    let _ = write!(
                        sock,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                });
            }
        });
        Paywall {
            port,
            allowed,
            calls,
        }
    }

    fn triggers(&self) -> serde_json::Value {
        json!({"USER_NEW": [{"handler": format!("http://127.0.0.1:{}/", self.port), "sync": true, "default": "false"}]})
    }

    fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().expect("lock").clone()
    }
}

fn live_with_paywall(pw: &Paywall) -> LiveServer {
    let ls = LiveServer::start_with_outputs(
        json!({"live": {"source": "push://"}}),
        &["FLV", "HLS", "HTTPTS"],
    );
    ls.server
        .api2(json!({"config": {"triggers": pw.triggers()}}));
    ls
}

fn status_of(url: &str) -> u16 {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client");
    match client.get(url).send() {
        Ok(r) => r.status().as_u16(),
        // A streaming answer that started (200) times out while reading: that is a yes.
        Err(e) if e.is_timeout() => 200,
        Err(e) => panic!("{url}: {e}"),
    }
}

#[test]
fn user_new_allows_and_denies_per_session() {
    let pw = Paywall::start(&["good"], Duration::ZERO);
    let ls = live_with_paywall(&pw);
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "live"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("live"));

    // HTTP-FLV: allowed token plays, another gets 403.
    let streams = probe_streams(&format!("{}?tkn=good", ls.flv_url("live")));
    assert_eq!(streams.len(), 2);
    assert_eq!(status_of(&format!("{}?tkn=bad", ls.flv_url("live"))), 403);
    let calls = pw.calls();
    let good = calls
        .iter()
        .find(|c| c.get(2).map(String::as_str) == Some("good"))
        .expect("USER_NEW for good");
    assert_eq!(
        good.len(),
        6,
        "stream, IP, token, protocol, URL, session id: {good:?}"
    );
    assert_eq!(
        (good[0].as_str(), good[1].as_str(), good[3].as_str()),
        ("live", "127.0.0.1", "FLV")
    );
    assert!(good[4].contains("/live.flv?tkn=good"));
    assert_eq!(good[5].len(), 64);

    // A denied session stays denied without asking again.
    let before = pw.calls().len();
    assert_eq!(status_of(&format!("{}?tkn=bad", ls.flv_url("live"))), 403);
    assert_eq!(
        pw.calls().len(),
        before,
        "the verdict is cached per session"
    );

    // RTMP: a connection is its own session; the handler sees its (random) token and denies.
    let mut rtmp = record(
        std::path::Path::new("ffmpeg"),
        &ls.rtmp_url("play", "live"),
        3,
        &ls.server.dir.path().join("r.flv"),
        ls.server.dir.path(),
    );
    let status = rtmp
        .wait_timeout(Duration::from_secs(20))
        .expect("ffmpeg ends");
    assert!(!status.success(), "RTMP viewer refused");

    // HLS: one session (and one USER_NEW) across playlist and segment requests.
    pw.allowed.lock().expect("lock").push("hlstoken".into());
    let base = format!("http://127.0.0.1:{}/hls/live", ls.http);
    let client = reqwest::blocking::Client::new();
    for _ in 0..3 {
        let pl = client
            .get(format!("{base}/1_2/index.m3u8?tkn=hlstoken"))
            .send()
            .expect("playlist")
            .text()
            .expect("text");
        let seg = pl
            .lines()
            .rfind(|l| l.contains(".ts"))
            .expect("segment")
            .to_string();
        assert!(
            seg.ends_with("?tkn=hlstoken"),
            "the playlist carries the session's token: {seg}"
        );
        let r = client
            .get(format!("{base}/1_2/{seg}"))
            .send()
            .expect("segment");
        assert_eq!(r.status(), 200);
    }
    let hls_calls = pw
        .calls()
        .into_iter()
        .filter(|c| c.get(2).map(String::as_str) == Some("hlstoken"))
        .count();
    assert_eq!(hls_calls, 1);
    assert_eq!(
        client
            .get(format!("{base}/index.m3u8?tkn=nope"))
            .send()
            .expect("playlist")
            .status(),
        403
    );
}

#[test]
fn concurrent_connections_of_one_session_share_one_verdict() {
    let pw = Paywall::start(&["shared"], Duration::from_millis(500));
    let ls = live_with_paywall(&pw);
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "live"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("live"));
    let url = format!("{}?tkn=shared", ls.flv_url("live"));
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || status_of(&url))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread"), 200);
    }
    assert_eq!(
        pw.calls().len(),
        1,
        "USER_NEW ran once for five parallel connections"
    );
}

/// Starts an ffmpeg FLV viewer with a token and returns it with its session id.
fn viewer(ls: &LiveServer, pw: &Paywall, token: &str) -> (Ffmpeg, String) {
    let out = ls.server.dir.path().join(format!("{token}.flv"));
    let ff = record(
        std::path::Path::new("ffmpeg"),
        &format!("{}?tkn={token}", ls.flv_url("live")),
        120,
        &out,
        ls.server.dir.path(),
    );
    let mut id = String::new();
    assert!(eventually(Duration::from_secs(15), || {
        if let Some(c) = pw
            .calls()
            .into_iter()
            .find(|c| c.get(2).map(String::as_str) == Some(token))
        {
            id = c[5].clone();
        }
        !id.is_empty()
    }));
    std::thread::sleep(Duration::from_secs(2));
    (ff, id)
}

fn ends_within(ff: &mut Ffmpeg, limit: Duration) -> bool {
    ff.wait_timeout(limit).is_some()
}

#[test]
fn stop_tag_invalidate_and_stop_sessions_disconnect_viewers() {
    let pw = Paywall::start(&["a", "b", "c", "d"], Duration::ZERO);
    let ls = live_with_paywall(&pw);
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "live"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("live"));

    // stop_sessid: the viewer's connection closes within about a second.
    let (mut a, id_a) = viewer(&ls, &pw, "a");
    assert!(
        a.wait_timeout(Duration::from_millis(10)).is_none(),
        "playing"
    );
    let t = Instant::now();
    ls.server.api2(json!({"stop_sessid": id_a}));
    assert!(
        ends_within(&mut a, Duration::from_secs(3)),
        "stop_sessid closed the viewer"
    );
    assert!(t.elapsed() < Duration::from_secs(3));
    // A stopped session's client that comes back is a new decision (facts §6.5): USER_NEW is
    // asked again, and the handler's answer counts, yes...
    let asked = |token: &str| {
        pw.calls()
            .iter()
            .filter(|c| c.get(2).map(String::as_str) == Some(token))
            .count()
    };
    let before = asked("a");
    assert_eq!(status_of(&format!("{}?tkn=a", ls.flv_url("live"))), 200);
    assert_eq!(asked("a"), before + 1, "USER_NEW again after stop_sessid");
    // ... or no.
    ls.server.api2(json!({"stop_sessid": id_a.clone()}));
    std::thread::sleep(Duration::from_millis(500));
    pw.allowed.lock().expect("lock").retain(|t| t != "a");
    assert_eq!(status_of(&format!("{}?tkn=a", ls.flv_url("live"))), 403);
    assert_eq!(asked("a"), before + 2);

    // tag_sessid + stop_tag.
    let (mut b, id_b) = viewer(&ls, &pw, "b");
    let (mut c, _) = viewer(&ls, &pw, "c");
    ls.server
        .api2(json!({"tag_sessid": {id_b.clone(): "naughty"}}));
    std::thread::sleep(Duration::from_millis(300));
    ls.server.api2(json!({"stop_tag": ["naughty"]}));
    assert!(
        ends_within(&mut b, Duration::from_secs(3)),
        "the tagged session was stopped"
    );
    assert!(
        c.wait_timeout(Duration::from_secs(1)).is_none(),
        "the untagged one plays on"
    );

    // invalidate_sessions: the handler changed its mind about c.
    pw.allowed.lock().expect("lock").retain(|t| t != "c");
    ls.server.api2(json!({"invalidate_sessions": "live"}));
    assert!(
        ends_within(&mut c, Duration::from_secs(5)),
        "invalidated and denied"
    );

    // stop_sessions by stream and protocol: one session (same token, so the same id: it
    // leaves the protocol out) plays FLV and TS; only its FLV connection closes.
    let (mut d, _) = viewer(&ls, &pw, "d");
    let ts_out = ls.server.dir.path().join("d.ts");
    let mut d_ts = record(
        std::path::Path::new("ffmpeg"),
        &format!("http://127.0.0.1:{}/live.ts?tkn=d", ls.http),
        120,
        &ts_out,
        ls.server.dir.path(),
    );
    std::thread::sleep(Duration::from_secs(2));
    ls.server.api2(json!({"stop_sessions": {"live": "FLV"}}));
    assert!(ends_within(&mut d, Duration::from_secs(3)));
    assert!(
        d_ts.wait_timeout(Duration::from_secs(2)).is_none(),
        "the session's TS connection plays on: {} {}",
        d_ts.log(),
        ls.server.stderr()
    );
    ls.server.api2(json!({"stop_sessions": {"live": "HTTPTS"}}));
    assert!(ends_within(&mut d_ts, Duration::from_secs(3)));
    assert_eq!(
        ls.server.api2(json!({"active_streams": ["inputs"]}))["active_streams"]["live"],
        json!([1]),
        "the publisher is not FLV"
    );
    ls.server.api2(json!({"stop_sessions": {"live": "INPUT"}}));
    // The stream waits out the publisher's flap grace (5 s) and its idle stop (3 s, checked
    // each second) before it goes: about 9.5 s on a quiet machine, more on a busy one.
    assert!(eventually(Duration::from_secs(20), || ls
        .server
        .api2(json!({"active_streams": true}))["active_streams"]
        == json!([])));
}

/// A USER_NEW handler that cannot be reached, or fails, gets its configured default: `true`
/// admits the viewer, `false` refuses it (facts §5.3).
#[test]
fn an_unreachable_handler_gets_its_default() {
    let ls =
        LiveServer::start_with_outputs(json!({"live": {"source": "push://"}}), &["FLV", "HLS"]);
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "live"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("live"));
    // Nothing listens on this port: connections are refused.
    let nowhere = format!("http://127.0.0.1:{}/", free_port());
    // A handler that answers 500.
    let failing = TcpListener::bind("127.0.0.1:0").expect("bind");
    let failing_url = format!(
        "http://127.0.0.1:{}/",
        failing.local_addr().expect("addr").port()
    );
    std::thread::spawn(move || {
        for mut sock in failing.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf);
            let _ = sock.write_all(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
        }
    });
    for (handler, default, want) in [
        (&nowhere, "true", 200),
        (&nowhere, "false", 403),
        (&failing_url, "1", 200),
        (&failing_url, "false", 403),
    ] {
        ls.server.api2(json!({"config": {"triggers": {"USER_NEW": [
            {"handler": handler, "sync": true, "default": default}
        ]}}}));
        // A fresh token: a session of its own, so USER_NEW is asked.
        let token = format!("t{}{default}", want);
        let url = format!("{}?tkn={token}{}", ls.flv_url("live"), handler.len());
        assert_eq!(
            status_of(&url),
            want,
            "{handler} default {default}: {}",
            ls.server.stderr()
        );
    }
    // A handler that takes the call and never answers: the default after the 5 s time-out,
    // not after three of them.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_url = format!(
        "http://127.0.0.1:{}/",
        silent.local_addr().expect("addr").port()
    );
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for sock in silent.incoming().flatten() {
            held.push(sock);
        }
    });
    ls.server.api2(json!({"config": {"triggers": {"USER_NEW": [
        {"handler": silent_url, "sync": true, "default": "true"}
    ]}}}));
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let t = Instant::now();
    let resp = client
        .get(format!("{}?tkn=patient", ls.flv_url("live")))
        .send()
        .expect("an answer");
    assert_eq!(resp.status().as_u16(), 200);
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(9),
        "waited {waited:?}"
    );
}

#[test]
fn two_hundred_new_viewers_against_a_slow_handler_do_not_block_admitted_ones() {
    let tokens: Vec<String> = (0..200).map(|i| format!("t{i}")).collect();
    let mut allowed: Vec<&str> = tokens.iter().map(String::as_str).collect();
    allowed.push("first");
    let pw = Paywall::start(&allowed, Duration::from_millis(300));
    let ls = live_with_paywall(&pw);
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "live"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("live"));
    // An admitted viewer records 12 s of media while 200 new ones wait for their verdicts.
    let out = ls.server.dir.path().join("first.flv");
    let started = Instant::now();
    let mut first = record(
        std::path::Path::new("ffmpeg"),
        &format!("{}?tkn=first", ls.flv_url("live")),
        12,
        &out,
        ls.server.dir.path(),
    );
    std::thread::sleep(Duration::from_secs(2));
    let crowd: Vec<_> = tokens
        .iter()
        .map(|t| {
            let url = format!("{}?tkn={t}", ls.flv_url("live"));
            std::thread::spawn(move || status_of(&url))
        })
        .collect();
    let t0 = Instant::now();
    let statuses: Vec<u16> = crowd
        .into_iter()
        .map(|h| h.join().expect("viewer"))
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "{:?}",
        statuses.iter().filter(|s| **s != 200).count()
    );
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "200 admissions took {:?}",
        t0.elapsed()
    );
    let status = first
        .wait_timeout(Duration::from_secs(30))
        .expect("first viewer finished");
    assert!(status.success(), "{}", first.log());
    assert!(
        started.elapsed() < Duration::from_secs(18),
        "the admitted viewer kept real time: {:?}",
        started.elapsed()
    );
    assert_eq!(pw.calls().len(), 201);
}

#[test]
fn rtmp_and_hls_viewers_allowed_by_user_new_play_in_ffmpeg() {
    let dir = tempfile::tempdir().expect("dir");
    // Allow RTMP viewers and HLS viewers carrying the token "hls"; refuse the rest.
    let path = dir.path().join("user_new.sh");
    std::fs::write(&path, "#!/bin/sh\nread s; read ip; read tkn; read proto; if [ \"$proto\" = RTMP ] || [ \"$tkn\" = hls ]; then echo true; else echo false; fi\n").expect("script");
    let mut perm = std::fs::metadata(&path).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&path, perm).expect("chmod");
    let ls =
        LiveServer::start_with_outputs(json!({"live": {"source": "push://"}}), &["FLV", "HLS"]);
    ls.server.api2(json!({"config": {"triggers": {"USER_NEW": [{"handler": path.to_string_lossy(), "sync": true}]}}}));
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "live"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("live"));
    assert_eq!(
        probe_streams(&ls.rtmp_url("play", "live")).len(),
        2,
        "RTMP allowed"
    );
    let hls = format!("http://127.0.0.1:{}/hls/live/index.m3u8?tkn=hls", ls.http);
    let streams = probe_streams(&hls);
    assert!(
        streams.iter().any(|s| s["codec_name"] == "h264"),
        "HLS allowed: {streams:?}"
    );
    assert_eq!(
        status_of(&format!(
            "http://127.0.0.1:{}/hls/live/index.m3u8?tkn=other",
            ls.http
        )),
        403
    );
    // The protocol is not part of a viewer's session id: FLV with the same token is the same
    // (allowed) session.
    assert_eq!(status_of(&format!("{}?tkn=hls", ls.flv_url("live"))), 200);
}

/// A connection to the HTTP output, reads timing out after 20 s.
fn http_conn(port: u16) -> std::net::TcpStream {
    let sock = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    sock
}

/// One GET on a kept-alive connection; the answer's status (the body is read and dropped).
fn get_on(sock: &mut std::net::TcpStream, path: &str) -> u16 {
    write!(sock, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").expect("request");
    let mut reader = BufReader::new(sock.try_clone().expect("clone"));
    let mut status = String::new();
    reader.read_line(&mut status).expect("status line");
    let mut len = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).expect("head") == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().expect("length");
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).expect("body");
    assert!(reader.buffer().is_empty(), "nothing past the answer");
    status
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status")
}

/// An HLS player's kept-alive connection is one session connection from its first request
/// (as one MistServer output process is): USER_NEW once, and `stop_sessid` closes the
/// connection while it waits between requests; the player that comes back is a new decision.
#[test]
fn an_hls_connection_holds_its_session_until_it_is_stopped() {
    let pw = Paywall::start(&["k"], Duration::ZERO);
    let ls = live_with_paywall(&pw);
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "live"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("live"));
    let playlist = "/hls/live/index.m3u8?tkn=k";
    let mut sock = http_conn(ls.http);
    for _ in 0..3 {
        assert_eq!(get_on(&mut sock, playlist), 200);
    }
    let asked = || {
        pw.calls()
            .iter()
            .filter(|c| c.get(2).map(String::as_str) == Some("k"))
            .count()
    };
    assert_eq!(asked(), 1, "one USER_NEW for the connection's requests");
    let id = pw.calls()[0]
        .get(5)
        .cloned()
        .expect("session id in USER_NEW");
    let t = Instant::now();
    ls.server.api2(json!({"stop_sessid": id}));
    sock.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut end = [0u8; 1];
    let closed = match std::io::Read::read(&mut sock, &mut end) {
        Ok(n) => n == 0,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "the server closed the stopped session's connection");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    let mut again = http_conn(ls.http);
    assert_eq!(get_on(&mut again, playlist), 200);
    assert_eq!(asked(), 2, "USER_NEW again after stop_sessid");
    // The handler changes its mind: a stopped session's next connection is refused.
    ls.server.api2(json!({"stop_sessid": id}));
    pw.allowed.lock().expect("lock").clear();
    let mut refused = http_conn(ls.http);
    assert_eq!(get_on(&mut refused, playlist), 403);
}
