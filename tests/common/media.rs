//! Media test helpers: real ffmpeg/ffprobe as publisher and players.
//!
//! Clips are generated once per test binary into `target/test-media/` (ffmpeg's lavfi sources,
//! encoded with libx264/AAC by Debian's ffmpeg, or libx265 by a newer ffmpeg for Enhanced RTMP),
//! then published with `-re -stream_loop -1 -c copy` so tests spend no CPU on encoding.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

fn media_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-media");
    std::fs::create_dir_all(&dir).expect("media dir");
    dir
}

/// Runs `cmd` to its end with no input; panics with its stderr when it fails.
pub fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run ({e}); ./test.sh installs it"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// 640x360 at 25 fps, one keyframe a second, H.264 high profile + AAC-LC 44.1 kHz stereo, 10 s.
pub fn h264_clip() -> &'static Path {
    static CLIP: OnceLock<PathBuf> = OnceLock::new();
    CLIP.get_or_init(|| {
        let path = media_dir().join("h264_aac_640x360.flv");
        if !path.exists() {
            let tmp = path.with_extension("tmp.flv");
            run_ok(
                Command::new("ffmpeg")
                    .args([
                        "-y",
                        "-v",
                        "error",
                        "-f",
                        "lavfi",
                        "-i",
                        "testsrc2=size=640x360:rate=25",
                        "-f",
                        "lavfi",
                        "-i",
                        "sine=frequency=440:sample_rate=44100",
                        "-t",
                        "10",
                        "-c:v",
                        "libx264",
                        "-preset",
                        "veryfast",
                        "-profile:v",
                        "high",
                        "-pix_fmt",
                        "yuv420p",
                        "-g",
                        "25",
                        "-keyint_min",
                        "25",
                        "-sc_threshold",
                        "0",
                        "-b:v",
                        "1500k",
                        "-c:a",
                        "aac",
                        "-ac",
                        "2",
                        "-b:a",
                        "96k",
                    ])
                    .arg(&tmp),
                "ffmpeg (clip)",
            );
            std::fs::rename(&tmp, &path).expect("rename clip");
        }
        path
    })
}

/// A newer ffmpeg (from the imageio-ffmpeg wheel) that writes Enhanced RTMP (HEVC in FLV).
pub fn enhanced_ffmpeg() -> PathBuf {
    if let Ok(p) = std::env::var("EDDY_FFMPEG_ENHANCED") {
        return PathBuf::from(p);
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())",
        ])
        .output()
        .expect("python3");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "imageio-ffmpeg is needed for the Enhanced RTMP test; ./test.sh installs it"
    );
    PathBuf::from(path)
}

/// 320x240 at 25 fps HEVC + AAC in Enhanced FLV, 6 s.
pub fn hevc_clip() -> &'static Path {
    static CLIP: OnceLock<PathBuf> = OnceLock::new();
    CLIP.get_or_init(|| {
        let path = media_dir().join("hevc_aac_320x240.flv");
        if !path.exists() {
            let tmp = path.with_extension("tmp.flv");
            run_ok(
                Command::new(enhanced_ffmpeg())
                    .args([
                        "-y",
                        "-v",
                        "error",
                        "-f",
                        "lavfi",
                        "-i",
                        "testsrc2=size=320x240:rate=25",
                        "-f",
                        "lavfi",
                        "-i",
                        "sine=sample_rate=48000",
                        "-t",
                        "6",
                        "-c:v",
                        "libx265",
                        "-preset",
                        "ultrafast",
                        "-x265-params",
                        "keyint=25:min-keyint=25:log-level=error",
                        "-pix_fmt",
                        "yuv420p",
                        "-c:a",
                        "aac",
                        "-f",
                        "flv",
                    ])
                    .arg(&tmp),
                "ffmpeg (HEVC clip)",
            );
            std::fs::rename(&tmp, &path).expect("rename clip");
        }
        path
    })
}

/// A running ffmpeg; killed when dropped.
pub struct Ffmpeg {
    pub child: Child,
    pub log: PathBuf,
}

impl Ffmpeg {
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn_ffmpeg(bin: &Path, args: &[&str], log_dir: &Path, tag: &str) -> Ffmpeg {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log = log_dir.join(format!("ffmpeg-{tag}-{n}.log"));
    let file = std::fs::File::create(&log).expect("log");
    let child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("ffmpeg");
    Ffmpeg { child, log }
}

/// Publishes `clip` in a loop, in real time, to `url`.
pub fn publish(clip: &Path, url: &str, log_dir: &Path) -> Ffmpeg {
    publish_with(Path::new("ffmpeg"), clip, url, log_dir)
}

pub fn publish_with(bin: &Path, clip: &Path, url: &str, log_dir: &Path) -> Ffmpeg {
    send_with(bin, clip, "flv", url, log_dir, "pub")
}

/// Sends `clip` in a loop, in real time, to `url` as `format` (`mpegts` for TS over UDP,
/// `rtp_mpegts` for TS in RTP).
pub fn send(clip: &Path, format: &str, url: &str, log_dir: &Path) -> Ffmpeg {
    send_with(Path::new("ffmpeg"), clip, format, url, log_dir, "send")
}

/// `bin` sending `clip` in a loop, in real time, to `url` as `format`; its log is tagged `tag`.
fn send_with(
    bin: &Path,
    clip: &Path,
    format: &str,
    url: &str,
    log_dir: &Path,
    tag: &str,
) -> Ffmpeg {
    let clip = clip.to_string_lossy();
    spawn_ffmpeg(
        bin,
        &[
            "-v",
            "error",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
            &clip,
            "-c",
            "copy",
            "-f",
            format,
            url,
        ],
        log_dir,
        tag,
    )
}

/// Starts ffmpeg reading `url` and copying `seconds` of it into `out` (any container by name).
pub fn record(bin: &Path, url: &str, seconds: u32, out: &Path, log_dir: &Path) -> Ffmpeg {
    let secs = seconds.to_string();
    let out = out.to_string_lossy();
    spawn_ffmpeg(
        bin,
        &[
            "-v",
            "error",
            "-y",
            "-rw_timeout",
            "20000000",
            "-i",
            url,
            "-t",
            &secs,
            "-c",
            "copy",
            &out,
        ],
        log_dir,
        "rec",
    )
}

/// Starts ffmpeg playing `url` and throwing the media away (a viewer that keeps reading until
/// the server ends the stream or the connection); its log goes to `log_dir`.
pub fn play_to_null(url: &str, log_dir: &Path) -> Ffmpeg {
    spawn_ffmpeg(
        Path::new("ffmpeg"),
        &[
            "-v",
            "error",
            "-rw_timeout",
            "30000000",
            "-i",
            url,
            "-c",
            "copy",
            "-f",
            "null",
            "-",
        ],
        log_dir,
        "play",
    )
}

/// `ffprobe -show_streams` of a URL or file.
pub fn probe_streams(url: &str) -> Vec<Value> {
    let out = ffprobe(&["-show_streams", url]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(
        out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    v["streams"].as_array().cloned().unwrap_or_default()
}

/// Packets `(stream index, pts seconds, keyframe)` of the first `seconds` of a URL or file.
pub fn probe_packets(url: &str, seconds: u32) -> Vec<(u64, f64, bool)> {
    let interval = format!("%+{seconds}");
    let out = ffprobe(&[
        "-show_packets",
        "-show_entries",
        "packet=stream_index,pts_time,dts_time,flags",
        "-read_intervals",
        &interval,
        url,
    ]);
    assert!(
        out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v["packets"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| {
                    let idx = p["stream_index"].as_u64()?;
                    let t: f64 = p["dts_time"]
                        .as_str()
                        .or(p["pts_time"].as_str())?
                        .parse()
                        .ok()?;
                    let key = p["flags"].as_str().is_some_and(|f| f.starts_with('K'));
                    Some((idx, t, key))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn ffprobe(args: &[&str]) -> Output {
    Command::new("ffprobe")
        .args(["-v", "error", "-rw_timeout", "20000000", "-of", "json"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ffprobe; ./test.sh installs ffmpeg")
}

/// Checks a stream's timestamps are continuous: increasing, with no gap over `max_gap` s.
pub fn assert_continuous(packets: &[(u64, f64, bool)], index: u64, max_gap: f64) {
    let times: Vec<f64> = packets
        .iter()
        .filter(|p| p.0 == index)
        .map(|p| p.1)
        .collect();
    assert!(
        times.len() > 10,
        "too few packets on stream {index}: {}",
        times.len()
    );
    for w in times.windows(2) {
        assert!(
            w[1] >= w[0],
            "timestamps go back on stream {index}: {} then {}",
            w[0],
            w[1]
        );
        assert!(
            w[1] - w[0] <= max_gap,
            "gap of {:.3} s on stream {index} at {}",
            w[1] - w[0],
            w[0]
        );
    }
}

/// Publishes `clip` once, in real time, to `url` (ffmpeg exits at the clip's end).
pub fn publish_once(clip: &Path, url: &str, log_dir: &Path) -> Ffmpeg {
    let clip = clip.to_string_lossy();
    spawn_ffmpeg(
        Path::new("ffmpeg"),
        &[
            "-v", "error", "-re", "-i", &clip, "-c", "copy", "-f", "flv", url,
        ],
        log_dir,
        "pub1",
    )
}

/// What ffprobe says about a media file: codec names by stream and the container's duration.
pub struct FileProbe {
    pub codecs: Vec<String>,
    pub duration: f64,
}

/// Probes a finished file; panics with ffprobe's message when it cannot read it.
pub fn probe_file(path: &Path) -> FileProbe {
    let p = path.to_string_lossy();
    let out = ffprobe(&["-show_streams", "-show_format", &p]);
    assert!(
        out.status.success(),
        "ffprobe {p}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let codecs = v["streams"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["codec_name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let duration = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    FileProbe { codecs, duration }
}

/// Decodes one video frame from the middle of a file (`-ss` seeks), as a player seeking does.
pub fn seeks_to(path: &Path, seconds: f64) -> bool {
    Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &seconds.to_string(), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "null", "-"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}
