//! The README's `curl` examples, run as written (only the port changes) against a real server.

mod common;

use std::process::Command;

use common::*;

#[test]
fn readme_curl_examples_work() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let block = readme
        .split("<!-- api-examples -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- /api-examples -->").next())
        .expect("README has an api-examples block");
    let commands: Vec<&str> = block.lines().filter(|l| l.starts_with("curl ")).collect();
    assert!(commands.len() >= 4, "{commands:?}");

    let s = Server::start(Some(&config_with_account(free_port())));
    for cmd in commands {
        let cmd = cmd.replace("localhost:4242", &format!("127.0.0.1:{}", s.port));
        let out = Command::new("sh")
            .args(["-c", &cmd])
            .output()
            .expect("curl (install it: test.sh does)");
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        // Plain JSON, or JSONP `name(JSON);`.
        let json = match text.find('(') {
            Some(open) if !text.starts_with('{') => {
                text[open + 1..text.rfind(')').expect("jsonp")].to_string()
            }
            _ => text.clone(),
        };
        let v: serde_json::Value =
            serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("{cmd}: {e}: {text}"));
        assert_eq!(v["authorize"]["status"], "OK", "{cmd}: {v}");
    }
    let v = s.api2(serde_json::json!({"streams": 1}));
    assert!(
        v["streams"].get("live").is_some(),
        "the README's addstream example took effect: {v}"
    );
}
