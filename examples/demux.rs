//! MPEG-TS demuxer throughput, in-process, on one core.
//!
//! ```sh
//! cargo run --release --example demux                  # a 30 s 720p 2.5 Mbit/s H.264 + AAC TS made by ffmpeg
//! cargo run --release --example demux -- FILE.ts       # any transport stream
//! ```
//!
//! The file is read into memory, then fed to a fresh demuxer in 1316-byte chunks (seven
//! transport packets, as TS over UDP carries them) again and again for about three seconds,
//! taking every track and packet out. It prints MB/s of input and frames a second.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use eddy::media::ts::{TsDemuxer, TsEvent};

fn test_file() -> PathBuf {
    let path = std::env::temp_dir().join("eddy-demux-bench.ts");
    if path.exists() {
        return path;
    }
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=25",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "30",
        ])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-g", "50",
        ])
        .args(["-c:a", "aac", "-b:a", "128k", "-f", "mpegts"])
        .arg(&path)
        .status();
    match status {
        Ok(s) if s.success() => path,
        _ => {
            eprintln!("ffmpeg could not make the test file; give a .ts file as the argument");
            std::process::exit(2);
        }
    }
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .map_or_else(test_file, PathBuf::from);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            std::process::exit(2);
        }
    };
    let (mut bytes, mut frames, mut passes, mut errors) = (0u64, 0u64, 0u32, 0u64);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let mut demuxer = TsDemuxer::new();
        for chunk in data.chunks(1316) {
            demuxer.push(chunk);
            while let Some(event) = demuxer.pull() {
                match event {
                    Ok(TsEvent::Packet(_)) => frames += 1,
                    Ok(TsEvent::Track(_)) => {}
                    Err(_) => errors += 1,
                }
            }
        }
        demuxer.finish();
        while let Some(event) = demuxer.pull() {
            frames += u64::from(matches!(event, Ok(TsEvent::Packet(_))));
        }
        bytes += data.len() as u64;
        passes += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "file: {} ({:.1} MB)",
        path.display(),
        data.len() as f64 / 1e6
    );
    println!(
        "demuxed {passes} times: {:.0} MB/s of TS, {:.0} frames/s, {} problems reported",
        bytes as f64 / 1e6 / secs,
        frames as f64 / secs,
        errors / u64::from(passes.max(1))
    );
}
