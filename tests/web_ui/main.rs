//! The operator web UI on port 4242, driven in headless Chromium (Debian's) by playwright-core,
//! against the real binary with real peers (ffmpeg publishing and playing). Each test runs a
//! script from `tests/browser/ui/` that does what an operator does and reports what it saw; the
//! test then checks the server's side through the API. Screenshots of every panel go to
//! `target/ui-screenshots/` (not committed).

#[path = "../common/mod.rs"]
mod common;

mod login;
mod logs_stats;
mod push_triggers;
mod streams;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Where the screenshots of a test go.
pub fn shots(test: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/ui-screenshots")
        .join(test)
}

/// Runs `tests/browser/ui/<script>.js` with `args` (merged over the defaults: the API's URL,
/// `test`/`test` as the login, screenshots for `script`) and returns what it printed. Panics with
/// the script's report when it failed or when the page logged a JavaScript error.
pub fn ui(script: &str, port: u16, args: Value) -> Value {
    let mut all = json!({
        "api": format!("http://127.0.0.1:{port}"),
        "user": "test",
        "password": "test",
        "shots": shots(script),
    });
    if let (Some(a), Value::Object(extra)) = (all.as_object_mut(), args) {
        a.extend(extra);
    }
    let path = format!(
        "{}/tests/browser/ui/{script}.js",
        env!("CARGO_MANIFEST_DIR")
    );
    let started = Instant::now();
    let output = Command::new("node")
        .arg(&path)
        .arg(all.to_string())
        .output()
        .expect("node; ./test.sh installs Node.js, Chromium and playwright-core");
    let text = String::from_utf8_lossy(&output.stdout);
    let report: Value = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "{script}.js printed no report after {:?}:\n{text}\n{}",
                started.elapsed(),
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert_eq!(
        report["ok"],
        true,
        "{script}.js failed: {}\nsteps: {}\npage: {}\nconsole: {}",
        report["failure"].as_str().unwrap_or(""),
        report["steps"],
        report["page"].as_str().unwrap_or(""),
        report["console"]
    );
    assert_eq!(
        report["errors"],
        json!([]),
        "{script}.js: the page logged JavaScript errors; console: {}",
        report["console"]
    );
    report
}

/// Waits up to `limit` for `f` to be true.
pub fn wait_for(limit: Duration, f: impl FnMut() -> bool) -> bool {
    common::eventually(limit, f)
}
