//! `ts-exec:` and `h264-exec:` inputs against real programs: shell scripts the tests write run
//! ffmpeg writing MPEG-TS or raw Annex B H.264 to standard output; ffprobe plays the streams
//! over HTTP-FLV and HLS. The command's standard error reaches the log, its process group is
//! gone once the stream stops, a command that exits is started again, and a missing command
//! only gives a log line.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use common::media::{self, probe_streams};
use common::{eventually, LiveServer};

fn server(streams: Value) -> LiveServer {
    LiveServer::start_with_outputs(streams, &["FLV", "HLS"])
}

/// Writes an executable `/bin/sh` script.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn codecs(url: &str) -> Vec<String> {
    let mut c: Vec<String> = probe_streams(url)
        .iter()
        .filter_map(|s| s["codec_name"].as_str().map(String::from))
        .collect();
    c.sort();
    c
}

/// Live (not zombie) processes whose process group is `group`, from /proc.
fn group_members(group: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (_, rest) = stat.rsplit_once(')')?;
            let f: Vec<&str> = rest.split_whitespace().collect();
            (f.get(2)?.parse::<u32>().ok()? == group && f[0] != "Z").then_some(pid)
        })
        .collect()
}

#[test]
fn ts_exec_plays_logs_and_is_stopped_with_its_children() {
    let ls = server(json!({}));
    let dir = ls.server.dir.path();
    let pids = dir.join("pids");
    let gen = script(
        dir,
        "ts gen.sh",
        &format!(
            "echo $$ >> '{}'\necho \"generator $$ says hello\" >&2\nsleep 600 &\n\
             ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i '{}' -c copy -f mpegts -",
            pids.display(),
            media::h264_clip().display()
        ),
    );
    // A path with a space cannot be named (no shell, no quoting): a link without one can.
    let link = dir.join("tsgen");
    std::os::unix::fs::symlink(&gen, &link).unwrap();
    ls.server
        .api2(json!({"addstream": {"exe": {"source": format!("ts-exec:{}", link.display())}}}));
    let want = ["aac", "h264"];
    assert_eq!(codecs(&ls.flv_url("exe")), want, "{}", ls.server.stderr());
    assert_eq!(
        codecs(&format!("http://127.0.0.1:{}/hls/exe/index.m3u8", ls.http)),
        want
    );
    let log = ls.server.stderr();
    let group: u32 = std::fs::read_to_string(&pids)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        log.contains(&format!("exe input: generator {group} says hello")),
        "{log}"
    );
    assert!(group_members(group).len() >= 2, "sh, sleep and ffmpeg run");
    let caps = ls.server.api2(json!({"capabilities": true}));
    assert_eq!(
        caps["capabilities"]["inputs"]["TSExec"]["source_match"],
        json!(["ts-exec:*"])
    );
    // No viewers: the stream stops, and the script, its ffmpeg and its sleep with it.
    let gone = eventually(Duration::from_secs(20), || group_members(group).is_empty());
    assert!(
        gone,
        "{:?} left\n{}",
        group_members(group),
        ls.server.stderr()
    );
}

/// Encodes `seconds` of 320x240 video at `fps` into raw Annex B H.264.
fn annex_b_file(path: &Path, fps: u32) {
    media::run_ok(
        std::process::Command::new("ffmpeg")
            .args([
                "-y",
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc2=size=320x240:rate={fps}"),
                "-t",
                "10",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-profile:v",
                "baseline",
                "-g",
                &fps.to_string(),
                "-bsf:v",
                "h264_mp4toannexb",
                "-f",
                "h264",
            ])
            .arg(path),
        "ffmpeg (annex b)",
    );
}

/// `data` (an Annex B stream) with every SPS's `vui_parameters_present_flag` cleared and the
/// VUI cut (x264 Baseline SPS: pic_order_cnt_type 2 or 0, frame coded).
fn without_vui(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut starts: Vec<usize> = (0..data.len().saturating_sub(3))
        .filter(|&i| data[i..i + 3] == [0, 0, 1])
        .map(|i| i + 3)
        .collect();
    starts.push(data.len() + 3);
    for w in starts.windows(2) {
        let mut unit = &data[w[0]..w[1] - 3];
        while unit.last() == Some(&0) {
            unit = &unit[..unit.len() - 1];
        }
        out.extend_from_slice(&[0, 0, 0, 1]);
        if unit.first().map(|h| h & 0x1f) == Some(7) {
            out.extend(strip_vui(unit));
        } else {
            out.extend_from_slice(unit);
        }
    }
    out
}

fn strip_vui(sps: &[u8]) -> Vec<u8> {
    // Unescape (drop the 03 of 00 00 03).
    let mut rbsp = Vec::new();
    for &b in sps {
        if b == 3 && rbsp.ends_with(&[0, 0]) {
            continue;
        }
        rbsp.push(b);
    }
    let bit = |i: usize| (rbsp[i / 8] >> (7 - i % 8)) & 1 == 1;
    let mut at = 32;
    let ue = |at: &mut usize| {
        let mut zeros = 0;
        while !bit(*at) {
            zeros += 1;
            *at += 1;
        }
        *at += 1 + zeros;
    };
    assert_eq!(rbsp[1], 66, "baseline");
    ue(&mut at); // seq_parameter_set_id
    ue(&mut at); // log2_max_frame_num_minus4
    let poc_type_zero = bit(at);
    ue(&mut at); // pic_order_cnt_type
    if poc_type_zero {
        ue(&mut at);
    }
    ue(&mut at); // max_num_ref_frames
    at += 1; // gaps
    ue(&mut at);
    ue(&mut at); // size
    assert!(bit(at), "frame_mbs_only");
    at += 2; // frame_mbs_only, direct_8x8_inference
    if bit(at) {
        at += 1;
        for _ in 0..4 {
            ue(&mut at);
        }
    } else {
        at += 1;
    }
    // Bits before the VUI flag, then flag 0, stop bit, padding.
    let mut bits: Vec<bool> = (0..at).map(bit).collect();
    bits.extend([false, true]);
    while bits.len() % 8 != 0 {
        bits.push(false);
    }
    let bytes: Vec<u8> = bits
        .chunks(8)
        .map(|c| c.iter().fold(0u8, |a, &b| (a << 1) | u8::from(b)))
        .collect();
    // Escape again.
    let mut out = Vec::new();
    for b in bytes {
        if b <= 3 && out.ends_with(&[0, 0]) {
            out.push(3);
        }
        out.push(b);
    }
    out
}

fn frame_rate(url: &str) -> f64 {
    let streams = probe_streams(url);
    let v = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream");
    let rate = v["avg_frame_rate"].as_str().unwrap_or("0/1");
    let (n, d) = rate.split_once('/').unwrap();
    n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap().max(1.0)
}

#[test]
fn h264_exec_takes_the_rate_from_the_sps_or_25() {
    let ls = server(json!({}));
    let dir = ls.server.dir.path();
    // 30 fps with VUI timing, encoded live by the script.
    let vui = script(
        dir,
        "vui.sh",
        "exec ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=320x240:rate=30 \
         -c:v libx264 -preset ultrafast -g 30 -bf 0 -bsf:v h264_mp4toannexb -f h264 -",
    );
    // 25 fps without VUI timing: a file whose SPS lost its VUI, sent at 25 fps.
    let raw = dir.join("raw.h264");
    annex_b_file(&raw, 25);
    let bare = dir.join("bare.h264");
    std::fs::write(&bare, without_vui(&std::fs::read(&raw).unwrap())).unwrap();
    let trace = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-i"])
        .arg(&bare)
        .args([
            "-c",
            "copy",
            "-bsf:v",
            "trace_headers",
            "-frames:v",
            "1",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let trace = String::from_utf8_lossy(&trace.stderr);
    assert!(
        trace
            .lines()
            .any(|l| l.contains("vui_parameters_present_flag") && l.ends_with("= 0")),
        "{trace}"
    );
    let novui = script(
        dir,
        "novui.sh",
        &format!(
            "exec ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -framerate 25 -f h264 \
             -i '{}' -c copy -f h264 -",
            bare.display()
        ),
    );
    ls.server.api2(json!({"addstream": {
        "vui": {"source": format!("h264-exec:{}", vui.display())},
        "novui": {"source": format!("h264-exec:{}", novui.display())}
    }}));
    assert_eq!(
        codecs(&ls.flv_url("vui")),
        ["h264"],
        "{}",
        ls.server.stderr()
    );
    let r = frame_rate(&ls.flv_url("vui"));
    assert!((r - 30.0).abs() <= 1.0, "{r}");
    let r = frame_rate(&format!(
        "http://127.0.0.1:{}/hls/novui/index.m3u8",
        ls.http
    ));
    assert!((r - 25.0).abs() <= 1.0, "{r}\n{}", ls.server.stderr());
    let log = ls.server.stderr();
    assert!(
        log.contains("h264-exec: track 1 H264 320x240 at 30 fps"),
        "{log}"
    );
    assert!(
        log.contains("h264-exec: track 1 H264 320x240 at 25 fps"),
        "{log}"
    );
}

#[test]
fn an_exiting_command_is_restarted_and_a_missing_one_logged() {
    let ls = server(json!({}));
    let dir = ls.server.dir.path();
    let starts = dir.join("starts");
    let brief = script(
        dir,
        "brief.sh",
        &format!(
            "echo start >> '{}'\nexec ffmpeg -hide_banner -loglevel error -re -i '{}' -t 2 \
             -c copy -f mpegts -",
            starts.display(),
            media::h264_clip().display()
        ),
    );
    ls.server.api2(json!({"addstream": {
        "brief": {"source": format!("ts-exec:{}", brief.display())},
        "missing": {"source": "ts-exec:/nonexistent/generator --flag"}
    }}));
    let mut viewer = media::play_to_null(&ls.flv_url("brief"), dir);
    let restarted = eventually(Duration::from_secs(30), || {
        std::fs::read_to_string(&starts)
            .unwrap_or_default()
            .lines()
            .count()
            >= 3
    });
    assert!(restarted, "{}", ls.server.stderr());
    assert!(ls
        .server
        .stderr()
        .contains("TSExec input of brief ended (exit"));
    let _ = viewer.child.kill();

    let _ = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(ls.flv_url("missing"))
        .send();
    let logged = eventually(Duration::from_secs(10), || {
        ls.server
            .stderr()
            .contains("cannot start \"/nonexistent/generator\"")
    });
    assert!(logged, "{}", ls.server.stderr());
    // The server is fine.
    let v = ls.server.api2(json!({"capabilities": true}));
    assert!(v["capabilities"]["inputs"]["H264Exec"].is_object(), "{v}");
}
