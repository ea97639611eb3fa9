//! The servers under test: a release build of `eddy`, or nginx with the RTMP module from
//! Debian (`libnginx-mod-rtmp`), each in a process of its own so /proc gives its CPU and memory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

pub fn check(status: std::io::Result<std::process::ExitStatus>, what: &str) {
    match status {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("fanout: {what} failed: {other:?}");
            std::process::exit(1);
        }
    }
}

/// A release build of `eddy`, or the binary `FANOUT_EDDY` names (to compare two builds).
pub fn build_eddy() -> PathBuf {
    if let Some(bin) = std::env::var_os("FANOUT_EDDY") {
        return PathBuf::from(bin);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    check(
        Command::new(cargo)
            .args(["build", "--release", "--bin", "eddy"])
            .status(),
        "cargo build --release",
    );
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/eddy")
}

/// Which server runs.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Eddy,
    Nginx,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Eddy => "eddy",
            Kind::Nginx => "nginx-rtmp",
        }
    }

    /// Whether this server has the output at all (nginx-rtmp has RTMP and HLS only).
    pub fn serves(self, proto: &str) -> bool {
        self == Kind::Eddy || matches!(proto, "rtmp" | "hls")
    }

    /// Where the HLS viewers find the media playlist and segments of stream `bench`.
    pub fn hls_dir(self) -> &'static str {
        match self {
            Kind::Eddy => "/hls/bench/1_2/",
            Kind::Nginx => "/hls/bench/",
        }
    }
}

pub struct Server {
    pub child: Child,
    /// Eddy's API port (nginx has none).
    pub api: Option<u16>,
    pub http: u16,
    pub rtmp: u16,
    pub rtsp: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(kind: Kind, eddy: &Path, hls: bool, batch_ms: u64) -> Server {
    match kind {
        Kind::Eddy => start_eddy(eddy, batch_ms),
        Kind::Nginx => start_nginx(hls),
    }
}

fn start_eddy(bin: &Path, batch_ms: u64) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let (api, http, rtmp, rtsp) = (free_port(), free_port(), free_port(), free_port());
    let cfg = serde_json::json!({
        "config": {"protocols": [
            {"connector": "HTTP", "port": http, "interface": "127.0.0.1"},
            {"connector": "RTMP", "port": rtmp, "interface": "127.0.0.1"},
            {"connector": "RTSP", "port": rtsp, "interface": "127.0.0.1"},
            {"connector": "FLV"},
            {"connector": "HLS"},
            {"connector": "HTTPTS"},
            {"connector": "MP4"}
        ]},
        "streams": {"bench": {"source": "push://", "DVR": 10000, "fanout_batch_ms": batch_ms}}
    });
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).expect("config");
    // `FANOUT_WRAP="heaptrack -o /tmp/eddy"` runs Eddy under a profiler (its figures are then
    // the wrapper's, not Eddy's).
    let wrap = std::env::var("FANOUT_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut cmd = match words.next() {
        Some(w) => {
            let mut c = Command::new(w);
            c.args(words).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let child = cmd
        .current_dir(dir.path())
        .args([
            "-c",
            "config.json",
            "-p",
            &api.to_string(),
            "-i",
            "127.0.0.1",
        ])
        .args(["-g", "2"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("eddy");
    std::thread::sleep(Duration::from_millis(500));
    Server {
        child,
        api: Some(api),
        http,
        rtmp,
        rtsp,
        dir,
    }
}

/// The RTMP module as Debian packages it.
const NGINX_RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// nginx in one process (`master_process off`), so its CPU and memory are one /proc entry:
/// the live application `live` (chunk size 4096, as Eddy sends), HLS written to a temporary
/// folder in 2 s fragments and served by nginx's HTTP server when `hls` is set.
fn start_nginx(hls: bool) -> Server {
    if !Path::new(NGINX_RTMP_MODULE).exists() {
        eprintln!("fanout: nginx-rtmp is missing (apt-get install nginx libnginx-mod-rtmp)");
        std::process::exit(1);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    let (http, rtmp) = (free_port(), free_port());
    let hls_conf = if hls {
        format!(
            "hls on; hls_path {d}/hls; hls_nested on; hls_fragment 2s; hls_playlist_length 10s;"
        )
    } else {
        String::new()
    };
    let conf = format!(
        "daemon off;\nmaster_process off;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
         load_module {NGINX_RTMP_MODULE};\nworker_rlimit_nofile 20000;\n\
         events {{ worker_connections 8192; }}\n\
         rtmp {{ server {{ listen 127.0.0.1:{rtmp}; chunk_size 4096;\n\
           application live {{ live on; {hls_conf} }} }} }}\n\
         http {{ access_log off; client_body_temp_path {d}/t1; proxy_temp_path {d}/t2;\n\
           fastcgi_temp_path {d}/t3; uwsgi_temp_path {d}/t4; scgi_temp_path {d}/t5;\n\
           server {{ listen 127.0.0.1:{http}; location /hls/ {{ root {d};\n\
             types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}\n\
             add_header Cache-Control no-cache; }} }} }}\n"
    );
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, conf).expect("nginx.conf");
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx");
    std::thread::sleep(Duration::from_millis(500));
    Server {
        child,
        api: None,
        http,
        rtmp,
        rtsp: 0,
        dir,
    }
}
