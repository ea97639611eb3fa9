//! Test harness: starts the real `eddy` binary on free ports with a temporary config and talks to
//! it with a real HTTP client (reqwest) or raw sockets.
#![allow(dead_code)]

pub mod handler;
pub mod media;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A free port on 127.0.0.1, for both TCP and UDP. Taken below the kernel's ephemeral range
/// (32768 and up), where the clients the tests run (ffmpeg, curl) get their local ports: a port
/// from that range may be taken by one of them before the server binds it. Each call in a
/// process gets a different port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7919) % SPAN;
    loop {
        let port = (FIRST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        let free = TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port)).is_ok();
        if free {
            return port;
        }
    }
}

/// A running server.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub child: Option<Child>,
    pub client: reqwest::blocking::Client,
}

pub struct Options<'a> {
    pub config: Option<&'a str>,
    pub args: &'a [&'a str],
    pub autosave_secs: u64,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            config: None,
            args: &[],
            autosave_secs: 3600,
        }
    }
}

impl Server {
    /// Starts with the given config file content (or none: a first start).
    pub fn start(config: Option<&str>) -> Server {
        Self::start_with(Options {
            config,
            ..Default::default()
        })
    }

    pub fn start_with(opts: Options) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(c) = opts.config {
            std::fs::write(dir.path().join("config.json"), c).expect("write config");
        }
        let port = free_port();
        let child = spawn(dir.path(), port, opts.args, opts.autosave_secs);
        let server = Server {
            dir,
            port,
            child: Some(child),
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
        };
        server.wait_ready();
        server
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not come up; log:\n{}", self.stderr());
    }

    /// Sends `command` as a form-encoded POST to `/api2` (minimal answers).
    pub fn api2(&self, command: Value) -> Value {
        self.post_form("/api2", &command, &[])
    }

    /// Sends `command` as a form-encoded POST to `/api` (full answers).
    pub fn api(&self, command: Value) -> Value {
        self.post_form("/api", &command, &[])
    }

    pub fn post_form(&self, path: &str, command: &Value, headers: &[(&str, &str)]) -> Value {
        let mut req = self
            .client
            .post(self.url(path))
            .form(&[("command", command.to_string())]);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().expect("request");
        assert_eq!(resp.status(), 200);
        parse_answer(&resp.text().expect("body"))
    }

    /// The server's stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        wait_exit(&mut child, Duration::from_secs(15))
    }

    /// Starts the binary again on the same folder and port.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.terminate();
        }
        self.child = Some(spawn(self.dir.path(), self.port, &[], 3600));
        self.wait_ready();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn spawn(dir: &Path, port: u16, args: &[&str], autosave_secs: u64) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("stderr.log"))
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .current_dir(dir)
        .args([
            "-c",
            "config.json",
            "-p",
            &port.to_string(),
            "-i",
            "127.0.0.1",
        ])
        .args(["--autosave-secs", &autosave_secs.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn eddy")
}

pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Parses `JSON\n\n`.
pub fn parse_answer(body: &str) -> Value {
    assert!(
        body.ends_with("\n\n"),
        "answer must end with two newlines: {body:?}"
    );
    serde_json::from_str(body.trim_end()).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Polls `f` until it returns true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A raw HTTP/1.1 keep-alive connection, to see per-connection behaviour.
pub struct RawConn {
    stream: TcpStream,
}

impl RawConn {
    pub fn open(port: u16) -> RawConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        RawConn { stream }
    }

    /// POSTs `command` to `path` with extra header lines; returns (status, headers, body).
    pub fn post(
        &mut self,
        path: &str,
        command: &Value,
        extra_headers: &str,
    ) -> (u16, String, String) {
        let body: String = form_encode("command", &command.to_string());
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n{extra_headers}\r\n{body}",
            body.len()
        );
        self.stream.write_all(req.as_bytes()).expect("write");
        self.read_response()
    }

    fn read_response(&mut self) -> (u16, String, String) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "connection closed");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .expect("content-length");
        while buf.len() < head_end + len {
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "connection closed");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
        (status, head, body)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn form_encode(key: &str, value: &str) -> String {
    let mut out = format!("{key}=");
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// md5 hex, as clients compute the login hash.
pub fn md5_hex(s: &str) -> String {
    eddy::config::md5_hex(s.as_bytes())
}

/// A config with one account `test:test` and the HTTP connector on `http_port`.
pub fn config_with_account(http_port: u16) -> String {
    json!({
        "account": {"test": {"password": md5_hex("test")}},
        "config": {"protocols": [{"connector": "HTTP", "port": http_port, "interface": "127.0.0.1"}]},
        "streams": {}
    })
    .to_string()
}

/// A server with an HTTP and an RTMP listener and the given streams configured.
pub struct LiveServer {
    pub server: Server,
    pub http: u16,
    pub rtmp: u16,
}

impl LiveServer {
    pub fn start(streams: Value) -> LiveServer {
        Self::start_with_outputs(streams, &["FLV"])
    }

    /// With these HTTP-based outputs enabled besides HTTP and RTMP.
    pub fn start_with_outputs(streams: Value, outputs: &[&str]) -> LiveServer {
        Self::start_full(streams, outputs, &[])
    }

    /// With outputs and extra command-line arguments.
    pub fn start_full(streams: Value, outputs: &[&str], args: &[&str]) -> LiveServer {
        let (http, rtmp) = (free_port(), free_port());
        let mut protocols = vec![
            json!({"connector": "HTTP", "port": http, "interface": "127.0.0.1"}),
            json!({"connector": "RTMP", "port": rtmp, "interface": "127.0.0.1"}),
        ];
        protocols.extend(outputs.iter().map(|o| json!({"connector": o})));
        let cfg = json!({
            "account": {"test": {"password": md5_hex("test")}},
            "config": {"protocols": protocols},
            "streams": streams
        });
        let cfg = cfg.to_string();
        let server = Server::start_with(Options {
            config: Some(&cfg),
            args,
            ..Default::default()
        });
        let ls = LiveServer { server, http, rtmp };
        assert!(eventually(Duration::from_secs(10), || TcpStream::connect(
            ("127.0.0.1", rtmp)
        )
        .is_ok()));
        ls
    }

    pub fn rtmp_url(&self, app: &str, stream: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{app}/{stream}", self.rtmp)
    }

    pub fn flv_url(&self, stream: &str) -> String {
        format!("http://127.0.0.1:{}/{stream}.flv", self.http)
    }

    /// Waits until the stream reports `Online` with data.
    pub fn wait_online(&self, stream: &str) -> bool {
        eventually(Duration::from_secs(15), || {
            let v = self.server.api2(
                json!({"active_streams": {"longform": true, "fields": ["status", "lastms"]}}),
            );
            v["active_streams"][stream]["status"] == "Online"
                && v["active_streams"][stream]["lastms"].as_i64().unwrap_or(0) > 1000
        })
    }

    /// The server process's resident memory in KiB.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.server.child.as_ref().expect("running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// The server's user + system CPU time so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let pid = self.server.child.as_ref().expect("running").id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name (in parentheses): utime and stime are 14 and 15.
        let rest = stat.rsplit(')').next().unwrap_or_default();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| {
            fields
                .get(i - 3)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let ticks = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(100.0);
        (field(14) + field(15)) as f64 / ticks
    }
}
