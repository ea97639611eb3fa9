//! Authentication (manual §4.1.1, facts §1.2-§1.4) from a non-local caller: the requests carry
//! `X-Forwarded-For` (or `X-Real-IP`), which makes even a loopback peer remote.

mod common;

use common::*;
use serde_json::{json, Value};

const XFF: &str = "X-Forwarded-For: 198.51.100.7\r\n";

fn answer(conn: &mut RawConn, cmd: Value, headers: &str) -> Value {
    let (status, _, body) = conn.post("/api", &cmd, headers);
    assert_eq!(status, 200, "{body}");
    parse_answer(&body)
}

fn login_hash(password: &str, challenge: &str) -> String {
    md5_hex(&format!("{}{}", md5_hex(password), challenge))
}

#[test]
fn challenge_login_and_per_connection_memory() {
    let s = Server::start(Some(&config_with_account(free_port())));
    let mut conn = RawConn::open(s.port);

    // Not logged in: only `authorize` comes back, and commands do not run.
    let v = answer(
        &mut conn,
        json!({"addstream": {"sneaky": {"source": "push://"}}}),
        XFF,
    );
    assert_eq!(v["authorize"]["status"], "CHALL");
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(keys, vec!["authorize"]);
    let challenge = v["authorize"]["challenge"]
        .as_str()
        .expect("challenge")
        .to_string();
    assert_eq!(challenge.len(), 32);

    // The challenge is stable for this host.
    let again = answer(&mut RawConn::open(s.port), json!({}), XFF);
    assert_eq!(again["authorize"]["challenge"], challenge.as_str());

    // A wrong password gets CHALL again.
    let v = answer(
        &mut conn,
        json!({"authorize": {"username": "test", "password": login_hash("wrong", &challenge)}}),
        XFF,
    );
    assert_eq!(v["authorize"]["status"], "CHALL");
    let v = answer(
        &mut conn,
        json!({"authorize": {"username": "nobody", "password": login_hash("test", &challenge)}}),
        XFF,
    );
    assert_eq!(v["authorize"]["status"], "CHALL");
    // A user name of a megabyte is logged by its first 64 characters.
    let huge = "x".repeat(1 << 20);
    let v = answer(
        &mut conn,
        json!({"authorize": {"username": huge, "password": "0"}}),
        XFF,
    );
    assert_eq!(v["authorize"]["status"], "CHALL");

    // The right one: OK, and the request's commands run.
    let v = answer(
        &mut conn,
        json!({"authorize": {"username": "test", "password": login_hash("test", &challenge)}, "ui_settings": true}),
        XFF,
    );
    assert_eq!(v["authorize"]["status"], "OK", "{v}");
    assert_eq!(v["LTS"], 1);
    // The failed logins are in the log as warnings with the address; the successful one is not
    // (MistServer logs failures only).
    let log = v["log"].to_string();
    assert!(
        log.contains("Failed login as \\\"nobody\\\" from 127.0.0.1"),
        "{log}"
    );
    assert!(!log.contains("Login as"), "{log}");
    let cut = format!("Failed login as \\\"{}...\\\"", "x".repeat(64));
    assert!(log.contains(&cut), "{log}");
    assert!(log.len() < 10_000, "the log holds {} bytes", log.len());
    let stderr = s.stderr();
    let failed: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("Failed login"))
        .collect();
    assert!(
        failed.len() == 3 && failed.iter().all(|l| l.contains("WARN")),
        "{stderr}"
    );
    assert_eq!(v["ui_settings"], json!({}));
    assert!(v.get("config").is_some(), "full answer on /api");

    // Remembered on this connection...
    let v = answer(
        &mut conn,
        json!({"addstream": {"allowed": {"source": "push://"}}}),
        XFF,
    );
    assert_eq!(v["authorize"]["status"], "OK");
    assert_eq!(v["streams"]["allowed"]["name"], "allowed");
    // ...but not on another one.
    let v = answer(&mut RawConn::open(s.port), json!({}), XFF);
    assert_eq!(v["authorize"]["status"], "CHALL");
    // The hash is also accepted inside any request on a fresh connection.
    let v = answer(
        &mut RawConn::open(s.port),
        json!({"authorize": {"username": "test", "password": login_hash("test", &challenge)}, "streams": 1}),
        XFF,
    );
    assert_eq!(v["authorize"]["status"], "OK");
    assert!(
        v["streams"].get("sneaky").is_none(),
        "the refused request changed nothing"
    );

    // logout forgets the connection's login after that request.
    let v = answer(&mut conn, json!({"logout": true}), XFF);
    assert_eq!(v["authorize"]["status"], "OK");
    let v = answer(&mut conn, json!({}), XFF);
    assert_eq!(v["authorize"]["status"], "CHALL");

    // X-Real-IP makes a caller remote too; no header means local.
    let v = answer(
        &mut RawConn::open(s.port),
        json!({}),
        "X-Real-IP: 198.51.100.7\r\n",
    );
    assert_eq!(v["authorize"]["status"], "CHALL");
    let v = answer(&mut RawConn::open(s.port), json!({}), "");
    assert_eq!(v["authorize"], json!({"status": "OK", "local": true}));
}

#[test]
fn no_account_then_acc_made() {
    let http = free_port();
    let cfg = json!({"config": {"protocols": [{"connector": "HTTP", "port": http, "interface": "127.0.0.1"}]}});
    let s = Server::start(Some(&cfg.to_string()));

    let v = answer(
        &mut RawConn::open(s.port),
        json!({"ui_settings": true}),
        XFF,
    );
    assert_eq!(v, json!({"authorize": {"status": "NOACC"}}));
    // A local caller may work without accounts (so the first-time set-up can run).
    let v = s.api2(json!({"ui_settings": true}));
    assert_eq!(v["authorize"]["status"], "NOACC");
    assert_eq!(v["ui_settings"], json!({}));

    // Create the first account remotely: ACC_MADE with a challenge, not yet logged in.
    let mut conn = RawConn::open(s.port);
    let v = answer(
        &mut conn,
        json!({"authorize": {"new_username": "admin", "new_password": "s3cret"}, "ui_settings": true}),
        XFF,
    );
    assert_eq!(v["authorize"]["status"], "ACC_MADE");
    let challenge = v["authorize"]["challenge"]
        .as_str()
        .expect("challenge")
        .to_string();
    assert!(v.get("ui_settings").is_none());
    // A second creation attempt is now just a login attempt.
    let v = answer(
        &mut conn,
        json!({"authorize": {"new_username": "evil", "new_password": "x"}}),
        XFF,
    );
    assert_eq!(v["authorize"]["status"], "CHALL");
    let v = answer(
        &mut conn,
        json!({"authorize": {"username": "admin", "password": login_hash("s3cret", &challenge)}}),
        XFF,
    );
    assert_eq!(v["authorize"]["status"], "OK");

    // The account is stored as md5 of the password.
    s.api2(json!({"save": true}));
    let file: Value =
        serde_json::from_slice(&std::fs::read(s.config_path()).expect("config")).expect("json");
    assert_eq!(file["account"]["admin"]["password"], md5_hex("s3cret"));
    assert!(file["account"].get("evil").is_none());
}

#[test]
fn authorization_json_header() {
    let s = Server::start(Some(&config_with_account(free_port())));
    let v = answer(&mut RawConn::open(s.port), json!({}), XFF);
    let challenge = v["authorize"]["challenge"]
        .as_str()
        .expect("challenge")
        .to_string();

    let good = json!({"username": "test", "password": login_hash("test", &challenge)});
    let v = answer(
        &mut RawConn::open(s.port),
        json!({"ui_settings": 1}),
        &format!("{XFF}Authorization: json {good}\r\n"),
    );
    assert_eq!(v["authorize"]["status"], "OK");
    assert_eq!(v["ui_settings"], json!({}));

    let bad = json!({"username": "test", "password": "0123"});
    let (status, head, body) = RawConn::open(s.port).post(
        "/api",
        &json!({}),
        &format!("{XFF}Authorization: json {bad}\r\n"),
    );
    assert_eq!(status, 403);
    assert!(body.contains("Please login first"));
    let www = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))
        .expect("header");
    assert!(www.contains("json {") && www.contains(&challenge), "{www}");

    // Through the real HTTP client too.
    let resp = s
        .client
        .post(s.url("/api2"))
        .header("X-Forwarded-For", "198.51.100.7")
        .header("Authorization", format!("json {good}"))
        .form(&[("command", "{\"ui_settings\":1}")])
        .send()
        .expect("request");
    assert_eq!(
        parse_answer(&resp.text().expect("body"))["authorize"]["status"],
        "OK"
    );
}

/// An API client logs in once per connection and keeps using it (MistServer's web UI does):
/// a connection idle for a minute is still open and still logged in.
#[test]
fn an_idle_api_connection_stays_logged_in() {
    let s = Server::start(Some(&config_with_account(free_port())));
    let mut conn = RawConn::open(s.port);
    let v = answer(&mut conn, json!({}), XFF);
    let challenge = v["authorize"]["challenge"].as_str().expect("challenge");
    let v = answer(
        &mut conn,
        json!({"authorize": {"username": "test", "password": login_hash("test", challenge)}}),
        XFF,
    );
    assert_eq!(v["authorize"]["status"], "OK");
    std::thread::sleep(std::time::Duration::from_secs(61));
    let v = answer(&mut conn, json!({"streams": true}), XFF);
    assert_eq!(
        v["authorize"]["status"], "OK",
        "no new login after a minute: {v}"
    );
}

/// Two clients (or two tabs of the UI) logging in at once on fresh connections each get a
/// challenge their answer is accepted for.
#[test]
fn concurrent_challenge_logins_both_succeed() {
    let s = Server::start(Some(&config_with_account(free_port())));
    let port = s.port;
    let logins: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let mut conn = RawConn::open(port);
                let v = answer(&mut conn, json!({}), XFF);
                let challenge = v["authorize"]["challenge"]
                    .as_str()
                    .expect("challenge")
                    .to_string();
                let v = answer(
                    &mut conn,
                    json!({"authorize": {"username": "test", "password": login_hash("test", &challenge)}}),
                    XFF,
                );
                v["authorize"]["status"].clone()
            })
        })
        .collect();
    for l in logins {
        assert_eq!(l.join().expect("login"), json!("OK"));
    }
}
