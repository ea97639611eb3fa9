//! AC-3 files (H.264 + AC-3 in MP4, in TS, and AC-3 alone in TS) played as progressive MP4
//! and TS, HLS (TS and fMP4) and DASH: ffprobe sees the AC-3 stream with the source's sample
//! rate and channel count, its packets, and its span within one frame; the playlists name it
//! `ac-3` (RFC 6381, DASH-IF).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::segmented::get;
use crate::{assert_same_media, download, ffmpeg, file, probe, scratch, server, stream, streams};

/// (sample_rate, channels) of the first audio stream ffprobe finds at `at` (file or URL).
fn audio_format(at: &str) -> (u32, u32) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0", "-of", "json"])
        .args(["-show_entries", "stream=codec_name,sample_rate,channels"])
        .arg(at)
        .stdin(Stdio::null())
        .output()
        .expect("ffprobe");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    let s = &v["streams"][0];
    assert_eq!(s["codec_name"], "ac3", "{at}: {v}");
    let rate = s["sample_rate"].as_str().and_then(|r| r.parse().ok());
    (
        rate.expect("a sample rate"),
        s["channels"].as_u64().expect("channels") as u32,
    )
}

#[test]
fn ac3_files_play_through_every_output_that_carries_it() {
    let dir = scratch();
    let src = file("av.mp4").to_string_lossy().into_owned();
    let at = |name: &str| dir.path().join(name);
    // H.264 + AC-3 5.1 in MP4, H.264 + AC-3 stereo in TS, AC-3 alone in TS.
    let mp4 = at("ac3.mp4");
    let common = ["-i", &src, "-t", "8", "-c:v", "copy", "-c:a", "ac3"];
    ffmpeg(&[&common[..], &["-ac", "6", &mp4.to_string_lossy()]].concat());
    let ts = at("ac3.ts");
    ffmpeg(&[&common[..], &["-ac", "2", &ts.to_string_lossy()]].concat());
    let only = at("only.ts");
    let args = ["-i", &src, "-t", "5", "-vn", "-c:a", "ac3", "-ar", "48000"];
    ffmpeg(&[&args[..], &[&only.to_string_lossy()[..]]].concat());
    let ls = server(streams(&[
        ("mp4ac3", &mp4),
        ("tsac3", &ts),
        ("only", &only),
    ]));
    for (name, source, video) in [
        ("mp4ac3", &mp4, true),
        ("tsac3", &ts, true),
        ("only", &only, false),
    ] {
        let want = probe(source);
        let format = audio_format(&source.to_string_lossy());
        let base = format!("http://127.0.0.1:{}", ls.http);
        for ext in ["mp4", "ts"] {
            let what = format!("{name} as .{ext}");
            let out = dir.path().join(format!("{name}-out.{ext}"));
            assert_eq!(
                download(&ls, &format!("/{name}.{ext}"), &out),
                200,
                "{what}"
            );
            assert_same_media(&what, &probe(&out), &want);
            assert_eq!(audio_format(&out.to_string_lossy()), format, "{what}");
        }
        for (path, what) in [
            (format!("/hls/{name}/index.m3u8"), "HLS"),
            (format!("/cmaf/{name}/index.m3u8"), "HLS-fMP4"),
        ] {
            let (status, master) = get(&ls, &path);
            assert_eq!(status, 200, "{name} {what}");
            let master = String::from_utf8_lossy(&master).to_string();
            assert!(master.contains("ac-3"), "{name} {what}: {master}");
            let url = format!("{base}{path}");
            assert_same_media(&format!("{name} {what}"), &probe(Path::new(&url)), &want);
            assert_eq!(audio_format(&url), format, "{name} {what}");
        }
        let (status, mpd) = get(&ls, &format!("/cmaf/{name}/index.mpd"));
        assert_eq!(status, 200);
        let mpd = String::from_utf8_lossy(&mpd).to_string();
        assert!(mpd.contains("codecs=\"ac-3\""), "{mpd}");
        let url = format!("{base}/cmaf/{name}/index.mpd");
        let got = probe(Path::new(&url));
        // ffmpeg 5.1's DASH reader may leave out a stream's very last packet.
        let (a, sa) = (stream(&got, "ac3"), stream(&want, "ac3"));
        assert!(
            a.packets == sa.packets || a.packets + 1 == sa.packets,
            "{name} DASH: {got:?}"
        );
        assert!(
            (a.span() - sa.span()).abs() <= 2.0 * crate::FRAME,
            "{name} DASH: {got:?}"
        );
        assert_eq!(got.len(), want.len(), "{name} DASH");
        if video {
            stream(&got, "h264");
        }
        assert_eq!(audio_format(&url), format, "{name} DASH");
    }
    // FLV carries no AC-3: the video alone.
    let out = dir.path().join("ac3.flv");
    assert_eq!(download(&ls, "/mp4ac3.flv", &out), 200);
    let codecs: Vec<String> = probe(&out).into_iter().map(|s| s.codec).collect();
    assert_eq!(codecs, ["h264"]);
}
