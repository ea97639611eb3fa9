//! A table of bad inputs. After each one the server still answers, and the configuration is
//! unchanged: a forced `save` afterwards writes exactly the bytes it wrote before.

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use common::*;
use serde_json::json;

fn saved_bytes(s: &Server) -> Vec<u8> {
    let v = s.api2(json!({"save": true}));
    assert_eq!(v["authorize"]["status"], "OK");
    std::fs::read(s.config_path()).expect("config")
}

fn raw_exchange(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = sock.write_all(bytes);
    let _ = sock.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = sock.read_to_end(&mut out);
    out
}

#[test]
fn bad_api_requests_change_nothing() {
    let http = free_port();
    let cfg = json!({
        "account": {"test": {"password": md5_hex("test")}},
        "config": {"protocols": [{"connector": "HTTP", "port": http, "interface": "127.0.0.1"}], "serverid": "keep"},
        "streams": {"live": {"name": "live", "source": "push://"}},
        "ui_settings": {"keep": true}
    });
    let s = Server::start(Some(&cfg.to_string()));
    let baseline = saved_bytes(&s);

    let bad_commands = [
        json!({"streams": 5}),
        json!({"streams": "live"}),
        json!({"streams": [1, 2]}),
        json!({"addstream": [{"x": 1}]}),
        json!({"addstream": "live"}),
        json!({"addstream": {"x": 5, "y": "push://", "z": null, "": {}, "+": {}, "a+b": {}}}),
        json!({"addstream": {"-.-": {"source": "push://"}}}),
        json!({"deletestream": 42}),
        json!({"deletestream": [1, null, {}]}),
        json!({"deletestream": "nosuchstream"}),
        json!({"config": "x"}),
        json!({"config": [1]}),
        json!({"config": {"protocols": "HTTP", "serverid": 5, "triggers": [1], "controller": {"port": "x"}, "debug": "loud", "bogus": 1}}),
        json!({"addprotocol": 5}),
        json!({"addprotocol": []}),
        json!({"addprotocol": ["HTTP"]}),
        json!({"deleteprotocol": {"connector": "HTTP"}}),
        json!({"deleteprotocol": []}),
        json!({"updateprotocol": [{"connector": "HTTP"}]}),
        json!({"updateprotocol": [{"connector": "NOPE"}, {"connector": "HTTP"}]}),
        json!({"updateprotocol": "x"}),
        json!({"ui_settings": [1, 2]}),
        json!({"ui_settings": "x"}),
        json!({"browse": {"path": 5}}),
        json!({"browse": "/proc/self/fd/0/../../../nonexistent"}),
        json!({"capabilities": {"nested": [1]}}),
        json!({"active_streams": {"fields": 5, "streams": "x", "longform": "yes"}}),
        json!({"stats_streams": {"a": 1}}),
        json!({"authorize": "garbage"}),
        json!({"authorize": {"username": 5, "password": [1]}}),
        json!({"minimal": {"x": 1}}),
        json!({"no_such_command": true, "another": [1, {"deep": null}]}),
        json!({"UNKNOWN": {"streams": {}}}),
    ];
    for cmd in &bad_commands {
        let v = s.api2(cmd.clone());
        assert_eq!(v["authorize"]["status"], "OK", "after {cmd}: {v}");
        assert_eq!(saved_bytes(&s), baseline, "config changed by {cmd}");
    }

    // Bodies that are not a command object at all.
    let c = &s.client;
    let not_commands: [&[u8]; 9] = [
        b"command={",
        b"command=[1,2,3]",
        b"command=42",
        b"command=%FF%FE%00",
        b"command=",
        b"\xff\xfe\xfd",
        b"command={\"streams\":{\"x\":{\"source\":\"push://\"}}",
        b"command=nul",
        b"command={\"a\":\"\\ud800\"}",
    ];
    for body in not_commands {
        let resp = c
            .post(s.url("/api2"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_vec())
            .send()
            .expect("request");
        assert_eq!(resp.status(), 200, "{body:?}");
        let v = parse_answer(&resp.text().expect("text"));
        assert_eq!(v["authorize"]["status"], "OK");
        assert_eq!(saved_bytes(&s), baseline, "config changed by {body:?}");
    }
    for body in [
        &b"{\"streams\":{}"[..],
        b"[]",
        b"\x00",
        b"{\"streams\":{}}}",
        b"",
    ] {
        let resp = c
            .post(s.url("/api2"))
            .header("Content-Type", "application/json")
            .body(body.to_vec())
            .send()
            .expect("request");
        assert_eq!(resp.status(), 200);
        assert_eq!(
            saved_bytes(&s),
            baseline,
            "config changed by JSON body {body:?}"
        );
    }

    // Deep nesting hits the parser's recursion limit, not the stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let resp = c
        .post(s.url("/api2"))
        .form(&[("command", format!("{{\"streams\":{deep}}}"))])
        .send()
        .expect("deep");
    assert_eq!(resp.status(), 200);
    assert_eq!(saved_bytes(&s), baseline);

    // A huge body is refused before it is read whole.
    let huge = "a".repeat(6 * 1024 * 1024);
    // The server may answer 413 and close while the client is still sending.
    if let Ok(resp) = c.post(s.url("/api2")).form(&[("command", huge)]).send() {
        assert_eq!(resp.status(), 413);
    }
    assert_eq!(saved_bytes(&s), baseline);

    // Garbage on the socket, and a truncated request.
    raw_exchange(
        s.port,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
    );
    raw_exchange(
        s.port,
        b"POST /api2 HTTP/1.1\r\nContent-Length: 1000\r\n\r\ncommand=%7B",
    );
    raw_exchange(s.port, b"GET /api2?command={\"save\":1} HTTP/1.1\r\n\r\n");
    raw_exchange(s.port, &[0u8; 70_000]);

    // Junk datagrams on the UDP API.
    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
    for junk in [
        &b"\x00\x01\x02"[..],
        b"{\"streams\":",
        b"[1]",
        b"{\"streams\":{}} trailing",
        &[b'{'; 60_000],
    ] {
        udp.send_to(junk, ("127.0.0.1", s.port)).expect("send");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(saved_bytes(&s), baseline);

    // Still the same server, still configured as before.
    let v = s.api2(json!({"streams": 1, "config": 1, "ui_settings": 1}));
    assert_eq!(v["config"]["serverid"], "keep");
    assert_eq!(v["ui_settings"], json!({"keep": true}));
    assert_eq!(
        v["streams"]
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["live".to_string()])
    );
    assert!(!s.stderr().contains("panicked"), "{}", s.stderr());
}
