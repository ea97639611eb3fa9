//! The command line: `--help`, `--version`, `-a`, `--prometheus`, and the first-time set-up
//! prompt, which appears on a terminal (driven here through `script`, which gives the server a
//! pseudo-terminal) and never when stdin is not a terminal.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[test]
fn help_and_version() {
    let out = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .arg("--help")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for flag in [
        "--config",
        "--port",
        "--interface",
        "--account",
        "--debug",
        "--prometheus",
        "--version",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help:\n{text}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .arg("--version")
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn account_and_prometheus_flags_are_stored() {
    let mut s = Server::start_with(Options {
        config: Some(r#"{"config":{"protocols":[]}}"#),
        args: &["-a", "admin:pa:ss", "--prometheus", "metrics", "-g", "4"],
        ..Default::default()
    });
    let v = s.api2(json!({"config": true}));
    assert_eq!(v["config"]["prometheus"], "metrics");
    assert_eq!(
        v["authorize"],
        json!({"status": "OK", "local": true}),
        "an account exists now"
    );
    s.terminate();
    let file: Value =
        serde_json::from_slice(&std::fs::read(s.config_path()).expect("config")).expect("json");
    assert_eq!(file["account"]["admin"]["password"], md5_hex("pa:ss"));
    assert_eq!(file["config"]["prometheus"], "metrics");
}

#[test]
fn no_prompt_without_a_terminal() {
    let s = Server::start(Some(r#"{"config":{"protocols":[]}}"#));
    assert_eq!(s.api2(json!({}))["authorize"]["status"], "NOACC");
    assert!(!s.stderr().contains("do you want to create an account"));
}

#[test]
fn first_time_setup_on_a_terminal() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let cmd = format!(
        "{} -c config.json -p {port} -i 127.0.0.1 --autosave-secs 3600",
        env!("CARGO_BIN_EXE_eddy")
    );
    // `script` runs the server on a pseudo-terminal and forwards our pipe to it.
    let mut child = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script (util-linux) is needed for this test");
    let mut stdin = child.stdin.take().expect("stdin");
    std::thread::sleep(Duration::from_millis(500));
    stdin
        .write_all(b"y\nboss\nhunter2\ny\n")
        .expect("answer prompts");
    stdin.flush().expect("flush");

    let client = reqwest::blocking::Client::new();
    let url = format!("http://127.0.0.1:{port}/api2");
    let up = eventually(Duration::from_secs(20), || {
        client
            .post(&url)
            .form(&[("command", "{\"config\":1}")])
            .send()
            .is_ok()
    });
    assert!(up, "server did not come up after the set-up prompts");
    let v = parse_answer(
        &client
            .post(&url)
            .form(&[("command", "{\"config\":1,\"shutdown\":1}")])
            .send()
            .expect("api")
            .text()
            .expect("body"),
    );
    assert_eq!(v["authorize"]["status"], "OK", "account was created: {v}");
    assert!(
        v["config"]["protocols"].to_string().contains("HTTP"),
        "default protocols enabled: {v}"
    );
    drop(stdin);
    let status = wait_exit(&mut child, Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
    let file: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).expect("config"))
            .expect("json");
    assert_eq!(file["account"]["boss"]["password"], md5_hex("hunter2"));
}
