//! Files with several tracks: `?video=`/`?audio=` on the progressive outputs, and the HLS and
//! DASH manifests listing every video track as a variant (ABR) and the audio by language.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::segmented::{get, master};
use crate::{download, ffmpeg, scratch, server, streams};

/// The multitrack test files, made once in `target/tmp/vod-multi/`: `two_audio.mp4` (H.264,
/// AAC 44.1 kHz `eng`, AAC 48 kHz `fra`), `two_video.mp4` (H.264 640x360 at 1 Mbit/s and
/// 320x180 at 200 kbit/s, AAC) and `hevc.mp4` (HEVC, AAC), 10 s each.
pub fn multi(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vod-multi");
        if dir.join("done-1").exists() {
            return dir;
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("media folder");
        let at = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let video = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"];
        let tone = |hz: u32, rate: u32| format!("sine=frequency={hz}:sample_rate={rate}");
        let (a1, a2) = (tone(440, 44_100), tone(660, 48_000));
        let x264 = ["-c:v", "libx264", "-preset", "veryfast", "-g", "50"];
        let mut args: Vec<&str> = video.to_vec();
        args.extend([
            "-f", "lavfi", "-i", &a1, "-f", "lavfi", "-i", &a2, "-t", "10",
        ]);
        args.extend(["-map", "0:v", "-map", "1:a", "-map", "2:a"]);
        args.extend(x264);
        args.extend(["-pix_fmt", "yuv420p", "-c:a", "aac"]);
        args.extend(["-metadata:s:a:0", "language=eng"]);
        args.extend(["-metadata:s:a:1", "language=fra"]);
        let out = at("two_audio.mp4");
        args.push(&out);
        ffmpeg(&args);
        let mut args: Vec<&str> = vec!["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25"];
        args.extend(["-f", "lavfi", "-i", &a1, "-t", "10"]);
        args.extend(["-filter_complex", "[0:v]split[a][b];[b]scale=320:180[c]"]);
        args.extend(["-map", "[a]", "-map", "[c]", "-map", "1:a"]);
        args.extend(x264);
        args.extend(["-pix_fmt", "yuv420p", "-b:v:0", "1000k", "-b:v:1", "200k"]);
        args.extend(["-c:a", "aac"]);
        let out = at("two_video.mp4");
        args.push(&out);
        ffmpeg(&args);
        let mut args: Vec<&str> = video.to_vec();
        args.extend(["-f", "lavfi", "-i", &a1, "-t", "10"]);
        args.extend(["-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1"]);
        args.extend(["-x265-params", "keyint=50:min-keyint=50:log-level=error"]);
        args.extend(["-pix_fmt", "yuv420p", "-c:a", "aac"]);
        let out = at("hevc.mp4");
        args.push(&out);
        ffmpeg(&args);
        std::fs::write(dir.join("done-1"), b"").expect("mark");
        dir
    });
    dir.join(name)
}

/// The streams ffprobe finds in a file: (codec, sample rate or height).
fn streams_of(path: &Path) -> Vec<(String, u64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json", "-show_streams"])
        .arg(path)
        .output()
        .expect("ffprobe");
    let v: Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    v["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let codec = s["codec_name"].as_str().unwrap_or("?").to_string();
            let n = s["sample_rate"]
                .as_str()
                .and_then(|r| r.parse().ok())
                .or_else(|| s["height"].as_u64())
                .unwrap_or(0);
            (codec, n)
        })
        .collect()
}

#[test]
fn audio_and_video_choices_on_progressive_outputs() {
    let ls = server(streams(&[("langs", &multi("two_audio.mp4"))]));
    let dir = scratch();
    let v = || ("h264".to_string(), 240u64);
    let eng = || ("aac".to_string(), 44_100u64);
    let fra = || ("aac".to_string(), 48_000u64);
    for ext in ["ts", "mp4", "flv"] {
        let cases = [
            ("", vec![v(), eng()]),
            ("?audio=3", vec![v(), fra()]),
            ("?audio=fra", vec![v(), fra()]),
            ("?audio=fr", vec![v(), fra()]),
            ("?audio=eng", vec![v(), eng()]),
            ("?audio=none", vec![v()]),
            ("?video=none", vec![eng()]),
            ("?audio=bogus!", vec![v(), eng()]),
            (
                "?audio=all",
                if ext == "flv" {
                    vec![v(), eng()]
                } else {
                    vec![v(), eng(), fra()]
                },
            ),
        ];
        for (query, want) in cases {
            let out = dir.path().join(format!("langs.{ext}"));
            let status = download(&ls, &format!("/langs.{ext}{query}"), &out);
            assert_eq!(status, 200, "{ext}{query}");
            let mut got = streams_of(&out);
            got.sort();
            let mut want = want.clone();
            want.sort();
            assert_eq!(got, want, "/langs.{ext}{query}");
        }
    }
}

#[test]
fn hls_and_dash_list_every_video_track_and_the_audio_by_language() {
    let ls = server(streams(&[
        ("abr", &multi("two_video.mp4")),
        ("langs", &multi("two_audio.mp4")),
    ]));
    let m = master(&ls, "/hls/abr/index.m3u8");
    assert_eq!(m.variants.len(), 2, "{m:?}");
    let mut sizes: Vec<(u64, u64)> = m
        .variants
        .iter()
        .map(|v| {
            let r = v.resolution.expect("RESOLUTION");
            assert!(v.codecs.as_deref().is_some_and(|c| c.contains("avc1")));
            (r.height, v.bandwidth)
        })
        .collect();
    sizes.sort();
    assert_eq!((sizes[0].0, sizes[1].0), (180, 360));
    assert!(
        sizes[0].1 < sizes[1].1,
        "BANDWIDTH follows the bit rate: {sizes:?}"
    );
    // Each variant plays: its video and the audio.
    for v in &m.variants {
        let url = format!("http://127.0.0.1:{}/hls/abr/{}", ls.http, v.uri);
        let got = streams_of(Path::new(&url));
        assert_eq!(got.len(), 2, "{}: {got:?}", v.uri);
    }
    // ?video= chooses the variants.
    let one = master(&ls, "/hls/abr/index.m3u8?video=2");
    assert_eq!(one.variants.len(), 1);
    assert_eq!(one.variants[0].resolution.map(|r| r.height), Some(180));
    let (status, mpd) = get(&ls, "/cmaf/abr/index.mpd");
    assert_eq!(status, 200);
    let mpd = String::from_utf8_lossy(&mpd).to_string();
    let video_set = mpd
        .split("contentType=\"video\"")
        .nth(1)
        .and_then(|s| s.split("</AdaptationSet>").next())
        .expect("a video set");
    assert_eq!(video_set.matches("<Representation").count(), 2, "{mpd}");
    let m = master(&ls, "/cmaf/abr/index.m3u8");
    assert_eq!(m.variants.len(), 2);

    // Two audio languages: an audio group in HLS, a set per language in DASH.
    let m = master(&ls, "/hls/langs/index.m3u8");
    assert_eq!(m.variants.len(), 1);
    let langs: Vec<Option<String>> = m.alternatives.iter().map(|a| a.language.clone()).collect();
    assert_eq!(langs, [Some("eng".into()), Some("fra".into())]);
    let fra = m.alternatives[1].uri.clone().expect("its own playlist");
    let url = format!("http://127.0.0.1:{}/hls/langs/{fra}", ls.http);
    assert_eq!(streams_of(Path::new(&url)), [("aac".to_string(), 48_000)]);
    let (_, mpd) = get(&ls, "/cmaf/langs/index.mpd");
    let mpd = String::from_utf8_lossy(&mpd).to_string();
    assert!(
        mpd.contains("lang=\"eng\"") && mpd.contains("lang=\"fra\""),
        "{mpd}"
    );
    let (_, mpd) = get(&ls, "/cmaf/langs/index.mpd?audio=fra");
    let mpd = String::from_utf8_lossy(&mpd).to_string();
    assert!(
        !mpd.contains("lang=\"eng\"") && mpd.contains("lang=\"fra\""),
        "{mpd}"
    );
    let url = format!("http://127.0.0.1:{}/cmaf/langs/index.mpd", ls.http);
    let got = streams_of(Path::new(&url));
    assert_eq!(got.len(), 3, "{got:?}");
}
