//! Eddy behind a cache: Debian's nginx with `proxy_cache` (the configuration in
//! `tests/nginx/eddy_cache.conf`) in front of Eddy's HTTP port, ffmpeg publishing a live stream
//! over RTMP, and 100 simulated HLS viewers polling the media playlist and fetching each new
//! segment through nginx for 20 s. nginx's access log (`$upstream_cache_status`,
//! `$upstream_addr`) tells which requests reached Eddy: about one per segment, while the viewers
//! made a hundred times as many. ffprobe then plays the HLS through nginx, and a viewer with a
//! token of its own is shown to pass through the cache.
//!
//! `./test.sh` installs nginx (Debian's package) when it is missing; without it the test says
//! so and passes.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::media::*;
use common::*;
use serde_json::json;

/// How many viewers, and for how long they watch.
const VIEWERS: usize = 100;
const WATCH: Duration = Duration::from_secs(20);

/// The nginx binary, if installed.
fn nginx_binary() -> Option<PathBuf> {
    let on_path = Command::new("nginx")
        .arg("-v")
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if on_path {
        return Some(PathBuf::from("nginx"));
    }
    let sbin = PathBuf::from("/usr/sbin/nginx");
    sbin.exists().then_some(sbin)
}

/// nginx running in the foreground as the test's own process, killed on drop.
struct Nginx {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// Starts `bin` with the tested snippet, proxying to Eddy's HTTP port; everything it
    /// writes goes below `dir`.
    fn start(bin: &Path, dir: &Path, eddy_http: u16) -> Nginx {
        let port = free_port();
        let snippet = include_str!("nginx/eddy_cache.conf")
            .replace("CACHE_DIR", &dir.join("cache").display().to_string())
            .replace("LISTEN", &format!("127.0.0.1:{port}"))
            .replace("EDDY_HTTP", &format!("127.0.0.1:{eddy_http}"));
        std::fs::write(dir.join("eddy_cache.conf"), snippet).expect("snippet");
        let d = dir.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 4096; }}\n\
             http {{\n\
               log_format cache '$upstream_cache_status|$upstream_addr|$status|$request_uri';\n\
               access_log {d}/access.log cache;\n\
               client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
               include {d}/eddy_cache.conf;\n\
             }}\n"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).expect("nginx.conf");
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx");
        let nginx = Nginx {
            child,
            dir: dir.to_path_buf(),
            port,
        };
        let up = eventually(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(
            up,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        nginx
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The access log: (cache status, upstream address, status, URI) per request.
    fn log(&self) -> Vec<(String, String, u16, String)> {
        let text = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut f = l.splitn(4, '|');
                let cache = f.next()?.to_string();
                let upstream = f.next()?.to_string();
                let status = f.next()?.parse().ok()?;
                Some((cache, upstream, status, f.next()?.to_string()))
            })
            .collect()
    }
}

/// The URIs of a playlist.
fn uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// What the viewers did.
#[derive(Default)]
struct Watched {
    segments: AtomicU64,
    playlists: AtomicU64,
    bytes: AtomicU64,
    failures: Mutex<Vec<String>>,
    distinct: Mutex<HashSet<String>>,
}

/// One HLS viewer: the master playlist once, then the media playlist about once a second and
/// every segment it has not fetched yet (starting with the newest three, as players do).
fn watch(nginx_base: &str, viewer: usize, until: Instant, seen: &Watched) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(15))
        .user_agent(format!("viewer-{viewer}"))
        .build()
        .expect("client");
    let fail = |what: String| seen.failures.lock().unwrap().push(what);
    let base = format!("{nginx_base}/hls/live/");
    let master = match client.get(format!("{base}index.m3u8")).send() {
        Ok(r) if r.status() == 200 => r.text().unwrap_or_default(),
        other => return fail(format!("viewer {viewer}: master: {other:?}")),
    };
    let Some(media) = uris(&master).into_iter().next() else {
        return fail(format!("viewer {viewer}: empty master {master}"));
    };
    let folder = media.rsplit_once('/').map_or("", |(f, _)| f).to_string();
    let mut fetched: HashSet<String> = HashSet::new();
    let mut first = true;
    // Spread the viewers over the first second, as real ones are.
    std::thread::sleep(Duration::from_millis((viewer as u64 * 10) % 1000));
    while Instant::now() < until {
        let playlist = match client.get(format!("{base}{media}")).send() {
            Ok(r) if r.status() == 200 => r.text().unwrap_or_default(),
            other => {
                fail(format!("viewer {viewer}: playlist: {other:?}"));
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        seen.playlists.fetch_add(1, Ordering::Relaxed);
        let mut list = uris(&playlist);
        if first {
            list = list.split_off(list.len().saturating_sub(3));
            first = false;
        }
        for segment in list {
            if !fetched.insert(segment.clone()) {
                continue;
            }
            let url = format!("{base}{folder}/{segment}");
            match client.get(&url).send() {
                Ok(r) if r.status() == 200 => {
                    let want = r.content_length();
                    let body = r.bytes().map(|b| b.len() as u64).unwrap_or(0);
                    if want != Some(body) || body == 0 || body % 188 != 0 {
                        fail(format!("{url}: {body} bytes, length said {want:?}"));
                    }
                    seen.bytes.fetch_add(body, Ordering::Relaxed);
                    seen.segments.fetch_add(1, Ordering::Relaxed);
                    seen.distinct.lock().unwrap().insert(segment);
                }
                other => fail(format!("{url}: {other:?}")),
            }
        }
        std::thread::sleep(Duration::from_millis(900 + (viewer as u64 * 37) % 200));
    }
}

#[test]
fn a_hundred_hls_viewers_through_nginx_cost_eddy_one_request_per_segment() {
    let Some(bin) = nginx_binary() else {
        eprintln!("SKIPPED: nginx is not installed (./test.sh installs Debian's nginx package)");
        return;
    };
    let ls = LiveServer::start_with_outputs(json!({"live": {"source": "push://"}}), &["HLS"]);
    let _p = publish(
        h264_clip(),
        &ls.rtmp_url("live", "live"),
        ls.server.dir.path(),
    );
    assert!(ls.wait_online("live"));
    let dir = tempfile::tempdir().expect("tempdir");
    let nginx = Nginx::start(&bin, dir.path(), ls.http);
    let base = nginx.url("");

    // The viewers.
    let seen = Arc::new(Watched::default());
    let until = Instant::now() + WATCH;
    let viewers: Vec<_> = (0..VIEWERS)
        .map(|i| {
            let (seen, base) = (seen.clone(), base.clone());
            std::thread::spawn(move || watch(&base, i, until, &seen))
        })
        .collect();
    for v in viewers {
        v.join().expect("viewer");
    }
    let failures = seen.failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failures: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    // What reached Eddy, from nginx's log.
    let log = nginx.log();
    let segment_uri = |uri: &str| uri.split('?').next().unwrap_or("").ends_with(".ts");
    let mut to_eddy: HashMap<&str, u64> = HashMap::new();
    let mut statuses: HashMap<&str, u64> = HashMap::new();
    let (mut viewer_segments, mut origin_segments, mut origin_playlists) = (0u64, 0u64, 0u64);
    for (cache, upstream, status, uri) in &log {
        *statuses.entry(cache.as_str()).or_default() += 1;
        let upstream = upstream != "-";
        if segment_uri(uri) {
            viewer_segments += 1;
            assert_eq!(*status, 200, "{uri}");
            if upstream {
                origin_segments += 1;
                *to_eddy.entry(uri.as_str()).or_default() += 1;
            }
        } else if upstream && uri.contains(".m3u8") {
            origin_playlists += 1;
        }
    }
    let distinct = seen.distinct.lock().unwrap().len() as u64;
    let playlists = seen.playlists.load(Ordering::Relaxed);
    println!(
        "{VIEWERS} viewers, {}s: {viewer_segments} segment requests to nginx ({} MB) for \
         {distinct} distinct segments, {origin_segments} reached Eddy; {playlists} playlist \
         requests, {origin_playlists} reached Eddy; cache statuses {statuses:?}",
        WATCH.as_secs(),
        seen.bytes.load(Ordering::Relaxed) / 1_000_000,
    );
    assert_eq!(viewer_segments, seen.segments.load(Ordering::Relaxed));
    assert!(
        distinct >= 5,
        "20 s of a live stream has segments: {distinct}"
    );
    assert!(
        origin_segments * 2 <= distinct * 3,
        "about one request per segment reaches Eddy: {origin_segments} for {distinct}: {to_eddy:?}"
    );
    assert!(
        viewer_segments >= 90 * origin_segments,
        "the viewers made about 100 times as many: {viewer_segments} for {origin_segments}"
    );
    assert!(
        origin_playlists * 10 <= playlists,
        "playlists are mostly cached too: {origin_playlists} of {playlists}"
    );

    // Segments say so to the cache; the HLS played through nginx is valid H.264 and AAC.
    let client = reqwest::blocking::Client::new();
    let master = client
        .get(nginx.url("/hls/live/index.m3u8"))
        .send()
        .expect("master")
        .text()
        .expect("text");
    let media = uris(&master).remove(0);
    let folder = media.rsplit_once('/').expect("folder").0.to_string();
    let playlist = client
        .get(nginx.url(&format!("/hls/live/{media}")))
        .send()
        .expect("media")
        .text()
        .expect("text");
    let segment = uris(&playlist).pop().expect("a segment");
    let url = nginx.url(&format!("/hls/live/{folder}/{segment}"));
    let first = client.get(&url).send().expect("segment");
    assert_eq!(
        first.headers()["cache-control"],
        "public, max-age=3600, immutable"
    );
    assert!(first.headers().contains_key("etag"));
    let again = client.get(&url).send().expect("segment");
    assert_eq!(again.headers()["x-cache-status"], "HIT");
    let head = client.head(&url).send().expect("head");
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        first.headers()["content-length"]
    );
    let streams = probe_streams(&nginx.url("/hls/live/index.m3u8"));
    let codecs: Vec<&str> = streams
        .iter()
        .filter_map(|s| s["codec_name"].as_str())
        .collect();
    assert!(
        codecs.contains(&"h264") && codecs.contains(&"aac"),
        "{codecs:?}"
    );

    // A viewer with its own token passes through the cache: its playlists are private.
    let mine = nginx.url(&format!("/hls/live/{folder}/index.m3u8?tkn=paid"));
    for _ in 0..2 {
        let r = client.get(&mine).send().expect("private playlist");
        assert_eq!(r.status(), 200);
        assert!(r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("private, "));
        assert_eq!(r.headers()["x-cache-status"], "MISS");
        let text = r.text().expect("text");
        assert!(
            uris(&text).iter().all(|u| u.ends_with("?tkn=paid")),
            "{text}"
        );
    }
}
