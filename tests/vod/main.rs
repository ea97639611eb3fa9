//! On-demand streams against real peers: files made by ffmpeg (H.264 + AAC MP4 with `moov` at
//! the end, FLV, TS, MP3), configured with `addstream`, played through every output that plays
//! files (HTTP-FLV, progressive TS and MP4, MP3/AAC, RTMP) and checked with ffprobe against the
//! source: codecs, packet count per stream, and each stream's span within one frame.
//!
//! - [`outputs`]: every output, whole files and `?start=`/`?end=`, the info handlers.
//! - [`rtmp_seek`]: RTMP `seek`, with a scripted player.
//! - [`range`]: the progressive MP4 with Range requests (ffprobe, raw ranges, Chromium seeking).
//! - [`segmented`]: HLS (TS and fMP4) and DASH of files, played by ffprobe.
//! - [`tracks`]: files with several audio or video tracks: `?audio=`/`?video=`, ABR manifests.
//! - [`ogg_wav`]: Ogg files as `.ogg`, MP3 and WAV files as `.wav`, a live stream with neither.
//! - [`lifecycle`]: the stored index, broken files, triggers, STREAM_SOURCE, recordings.
//! - [`playlist`]: finished HLS playlists on disk (TS, fMP4 with a master, a discontinuity).
//! - [`folder`]: folder sources (`stream+filename`), traversal attempts refused.
//! - [`mkv`]: a Matroska file through HTTP-FLV, TS and MP4, and `?start=` on it.
//! - [`ac3`]: H.264 + AC-3 MP4 and TS files, and AC-3 alone, as MP4, TS, HLS and DASH.
//! - [`bench`] (ignored; `cargo test --release --test vod -- --ignored --nocapture`): a 2-hour
//!   file's index and open times, first byte, and memory and CPU with 200 viewers.

#[path = "../common/mod.rs"]
mod common;

mod ac3;
mod bench;
mod folder;
mod lifecycle;
mod mkv;
mod ogg_wav;
mod outputs;
mod playlist;
mod range;
mod rtmp_seek;
mod segmented;
mod tracks;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

use common::LiveServer;

/// Seconds of media in the test files.
pub const SECS: u32 = 20;
/// One video frame at 25 fps, s (and a little for rounding).
pub const FRAME: f64 = 0.041;

/// Runs ffmpeg with these arguments (quiet, overwriting).
pub fn ffmpeg(args: &[&str]) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-y", "-v", "error"]).args(args);
    common::media::run_ok(&mut cmd, &format!("ffmpeg {args:?}"));
}

/// The test files, made once per test binary in `target/tmp/vod-media/` (kept between runs):
/// `av.mp4` (H.264 with B-frames, a keyframe every 2 s, AAC; `moov` at the end, as ffmpeg
/// writes it without `+faststart`), `av.flv` and `av.ts` (the same packets), `tone.mp3` and
/// `tone.aac` (AAC in ADTS).
pub fn media() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vod-media");
        if dir.join("done-2").exists() {
            return dir;
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("media folder");
        let at = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let secs = SECS.to_string();
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            &secs,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            &at("av.mp4"),
        ]);
        ffmpeg(&["-i", &at("av.mp4"), "-c", "copy", &at("av.flv")]);
        ffmpeg(&["-i", &at("av.mp4"), "-c", "copy", &at("av.ts")]);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:sample_rate=44100",
            "-t",
            "10",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            &at("tone.mp3"),
        ]);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=550:sample_rate=48000",
            "-t",
            "10",
            "-c:a",
            "aac",
            "-f",
            "adts",
            &at("tone.aac"),
        ]);
        std::fs::write(dir.join("done-2"), b"").expect("mark");
        dir
    })
}

/// A test file's path.
pub fn file(name: &str) -> PathBuf {
    media().join(name)
}

/// One stream of a probed file or answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    pub codec: String,
    pub packets: usize,
    pub keyframes: usize,
    /// First and last presentation time, s.
    pub first: f64,
    pub last: f64,
}

impl Probed {
    pub fn span(&self) -> f64 {
        self.last - self.first
    }
}

/// What ffprobe finds in a file, per stream (in its order).
pub fn probe(path: &Path) -> Vec<Probed> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-of",
            "json",
            "-show_streams",
            "-show_packets",
        ])
        .args([
            "-show_entries",
            "stream=codec_name:packet=stream_index,pts_time,flags",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    let streams = v["streams"].as_array().cloned().unwrap_or_default();
    let mut out: Vec<Probed> = streams
        .iter()
        .map(|s| Probed {
            codec: s["codec_name"].as_str().unwrap_or("?").to_string(),
            packets: 0,
            keyframes: 0,
            first: f64::MAX,
            last: f64::MIN,
        })
        .collect();
    for p in v["packets"].as_array().into_iter().flatten() {
        let (Some(i), Some(t)) = (
            p["stream_index"].as_u64(),
            p["pts_time"].as_str().and_then(|t| t.parse::<f64>().ok()),
        ) else {
            continue;
        };
        let Some(s) = out.get_mut(i as usize) else {
            continue;
        };
        s.packets += 1;
        s.keyframes += usize::from(p["flags"].as_str().is_some_and(|f| f.starts_with('K')));
        s.first = s.first.min(t);
        s.last = s.last.max(t);
    }
    out
}

/// The stream of `codec` in a probe.
pub fn stream<'a>(probed: &'a [Probed], codec: &str) -> &'a Probed {
    probed
        .iter()
        .find(|s| s.codec == codec)
        .unwrap_or_else(|| panic!("no {codec} stream in {probed:?}"))
}

/// Checks that `got` carries the streams of `source` whole: same codecs, the same number of
/// packets and keyframes, and each stream's span within one frame.
pub fn assert_same_media(what: &str, got: &[Probed], source: &[Probed]) {
    let mut codecs: Vec<&str> = got.iter().map(|s| s.codec.as_str()).collect();
    let mut want: Vec<&str> = source.iter().map(|s| s.codec.as_str()).collect();
    codecs.sort_unstable();
    want.sort_unstable();
    assert_eq!(codecs, want, "{what}: codecs");
    for src in source {
        let s = stream(got, &src.codec);
        assert_eq!(s.packets, src.packets, "{what}: {} packets", src.codec);
        assert_eq!(
            s.keyframes, src.keyframes,
            "{what}: {} keyframes",
            src.codec
        );
        assert!(
            (s.span() - src.span()).abs() <= FRAME,
            "{what}: {} lasts {:.3} s, the source {:.3} s",
            src.codec,
            s.span(),
            src.span()
        );
    }
}

/// A server with HTTP (and every output that plays files) and RTMP, and these streams.
pub fn server(streams: Value) -> LiveServer {
    LiveServer::start_with_outputs(
        streams,
        &[
            "FLV", "MP4", "HTTPTS", "MP3", "AAC", "HLS", "CMAF", "OGG", "WAV",
        ],
    )
}

/// `{name: {source: path}}` for each pair.
pub fn streams(pairs: &[(&str, &Path)]) -> Value {
    let mut v = json!({});
    for (name, path) in pairs {
        v[*name] = json!({"source": path.to_string_lossy()});
    }
    v
}

/// GETs `path` from the HTTP output and writes the whole answer to `out`; returns the status.
pub fn download(ls: &LiveServer, path: &str, out: &Path) -> u16 {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let url = format!("http://127.0.0.1:{}{path}", ls.http);
    let resp = client.get(&url).send().expect("request");
    let status = resp.status().as_u16();
    let body = resp.bytes().expect("body");
    std::fs::write(out, &body).expect("write");
    status
}

/// A temporary folder for a test's downloads.
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}
