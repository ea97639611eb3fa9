//! `ts-exec:COMMAND` and `h264-exec:COMMAND` (manual §3.3.5): a command whose standard output is
//! the stream, MPEG-TS or raw Annex B H.264.
//!
//! - The command is split on spaces only: no shell, no quoting or escaping (as the manual says;
//!   a command that needs them goes in a script). The program is looked up in `PATH`.
//! - It runs with standard input from /dev/null, in a process group of its own, so that
//!   stopping it reaches everything it started: the group gets SIGTERM, and SIGKILL when any
//!   of it is still there [`KILL_AFTER`] later. Signals are sent with `/bin/kill` (the crate
//!   forbids `unsafe`, which `kill(2)` on a group would take, and no crate is added for it).
//! - Each line of its standard error goes to the log with the stream's name, at most
//!   [`LINES_PER_SECOND`] a second (the rest are counted, and the count logged), each cut at
//!   [`LINE_MAX`] bytes.
//! - It ends with `Finished("exit status ...")` when the command exits (the stream starts it
//!   again), `Failed` when it cannot be started, `Stopped` when the stream stops it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::feed::TsFeed;
use crate::hub::buffer::WriteError;
use crate::hub::outlets::InputEnd;
use crate::hub::Publisher;
use crate::media::h264::annexb::{AnnexBEvent, AnnexBReader};

/// The inputs' names (`capabilities`, STREAM_READY).
pub const TS_NAME: &str = "TSExec";
pub const H264_NAME: &str = "H264Exec";
const TS_PREFIX: &str = "ts-exec:";
const H264_PREFIX: &str = "h264-exec:";

/// Wait between SIGTERM and SIGKILL.
pub const KILL_AFTER: Duration = Duration::from_secs(2);
/// Standard error lines logged a second, at most.
pub const LINES_PER_SECOND: u32 = 20;
/// Longest standard error line logged; the rest of a longer one is cut.
pub const LINE_MAX: usize = 1024;
/// Read size of standard output.
const CHUNK: usize = 64 * 1024;

/// What the command writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ts,
    H264,
}

/// The input's name when this input reads `source`.
pub fn input_for(source: &str) -> Option<&'static str> {
    parse(source).map(|(format, _)| match format {
        Format::Ts => TS_NAME,
        Format::H264 => H264_NAME,
    })
}

/// The format and the command's words (split on spaces, empty words dropped); `None` when
/// `source` is no exec source.
pub fn parse(source: &str) -> Option<(Format, Vec<String>)> {
    let (format, command) = if let Some(c) = source.strip_prefix(TS_PREFIX) {
        (Format::Ts, c)
    } else {
        (Format::H264, source.strip_prefix(H264_PREFIX)?)
    };
    let words = command
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    Some((format, words))
}

/// Runs the input of `stream` until the command exits or `stop`.
pub async fn run(
    stream: &str,
    source: &str,
    publisher: Publisher,
    mut stop: watch::Receiver<bool>,
) -> InputEnd {
    let Some((format, words)) = parse(source) else {
        return InputEnd::Failed(format!("{source:?} is not an exec source"));
    };
    let Some((program, args)) = words.split_first() else {
        return InputEnd::Failed(format!("{source:?} names no command"));
    };
    let spawned = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return InputEnd::Failed(format!("cannot start {program:?}: {e}")),
    };
    // process_group(0): the group's id is the child's pid.
    let group = child.id();
    let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return InputEnd::Failed("the command's pipes are missing".into());
    };
    tracing::info!(
        kind = "STRM",
        stream,
        "{}: started {:?} (process group {})",
        what(format),
        words.join(" "),
        group.unwrap_or_default()
    );
    let log_task = tokio::spawn(log_lines(stream.to_string(), stderr));
    let mut sink = Sink::new(format, stream, publisher);
    let mut buf = vec![0u8; CHUNK];
    let end = loop {
        tokio::select! {
            _ = super::stopped(&mut stop) => break None,
            got = stdout.read(&mut buf) => match got {
                Ok(0) | Err(_) => {
                    let _ = sink.finish();
                    break Some(wait_exit(&mut child, &mut stop).await);
                }
                Ok(n) => {
                    if sink.write(buf.get(..n).unwrap_or_default()).is_err() {
                        break Some(InputEnd::Finished("the stream took another input".into()));
                    }
                }
            },
        }
    };
    // Whatever ended it, nothing of the group is left behind.
    if let Some(group) = group {
        end_group(&mut child, group).await;
    }
    drop(stdout);
    let _ = tokio::time::timeout(Duration::from_secs(1), log_task).await;
    end.unwrap_or(InputEnd::Stopped)
}

/// The command closed its output: waits for it to exit (or for `stop`).
async fn wait_exit(child: &mut Child, stop: &mut watch::Receiver<bool>) -> InputEnd {
    tokio::select! {
        _ = super::stopped(stop) => InputEnd::Stopped,
        status = child.wait() => match status {
            Ok(s) => InputEnd::Finished(format!("exit {s}")),
            Err(e) => InputEnd::Finished(format!("exit status unknown: {e}")),
        },
    }
}

/// SIGTERM to the process group, SIGKILL [`KILL_AFTER`] later to what is left of it.
async fn end_group(child: &mut Child, group: u32) {
    if !group_alive(group) {
        let _ = child.wait().await;
        return;
    }
    signal_group("TERM", group).await;
    let deadline = Instant::now() + KILL_AFTER;
    let _ = tokio::time::timeout(KILL_AFTER, child.wait()).await;
    while group_alive(group) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if group_alive(group) {
        signal_group("KILL", group).await;
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// `/bin/kill -SIGNAL -- -GROUP`.
async fn signal_group(signal: &str, group: u32) {
    let _ = Command::new("/bin/kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{group}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

/// Whether a live (not zombie) process of `group` exists, from /proc/PID/stat (proc(5):
/// `pid (comm) state ppid pgrp ...`).
pub fn group_alive(group: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .any(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let pgrp = fields.nth(1).and_then(|p| p.parse::<u32>().ok());
            pgrp == Some(group) && !matches!(state, Some("Z" | "X"))
        })
}

fn what(format: Format) -> &'static str {
    match format {
        Format::Ts => "ts-exec",
        Format::H264 => "h264-exec",
    }
}

/// Logs the lines of `stderr`, at most [`LINES_PER_SECOND`] a second.
async fn log_lines(stream: String, mut stderr: impl AsyncRead + Unpin) {
    let mut limiter = LineLimiter::default();
    let mut line = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 4096];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        for &b in buf.get(..n).unwrap_or_default() {
            if b == b'\n' {
                limiter.line(&stream, &line, cut);
                line.clear();
                cut = false;
            } else if line.len() < LINE_MAX {
                line.push(b);
            } else {
                cut = true;
            }
        }
    }
    if !line.is_empty() {
        limiter.line(&stream, &line, cut);
    }
    limiter.flush(&stream);
}

/// Counts lines per one-second window.
#[derive(Default)]
struct LineLimiter {
    window: Option<Instant>,
    logged: u32,
    skipped: u64,
}

impl LineLimiter {
    fn line(&mut self, stream: &str, line: &[u8], cut: bool) {
        let now = Instant::now();
        if self
            .window
            .is_none_or(|w| now.duration_since(w) >= Duration::from_secs(1))
        {
            self.flush(stream);
            self.window = Some(now);
            self.logged = 0;
        }
        if self.logged >= LINES_PER_SECOND {
            self.skipped += 1;
            return;
        }
        self.logged += 1;
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        let more = if cut { " [...]" } else { "" };
        tracing::info!(kind = "STRM", stream, "{stream} input: {text}{more}");
    }

    fn flush(&mut self, stream: &str) {
        if self.skipped > 0 {
            tracing::info!(
                kind = "STRM",
                stream,
                "{stream} input: {} more line(s) of output not logged",
                self.skipped
            );
            self.skipped = 0;
        }
    }
}

/// Where the command's output goes.
enum Sink {
    Ts(Box<TsFeed>),
    H264(Box<H264Feed>),
}

impl Sink {
    fn new(format: Format, stream: &str, publisher: Publisher) -> Sink {
        match format {
            Format::Ts => Sink::Ts(Box::new(TsFeed::new(stream, "ts-exec", publisher))),
            Format::H264 => Sink::H264(Box::new(H264Feed {
                reader: AnnexBReader::new(),
                publisher,
                stream: stream.to_string(),
                complaints: 0,
                last_complaint: None,
            })),
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<(), WriteError> {
        match self {
            Sink::Ts(f) => f.write(data),
            Sink::H264(f) => {
                f.publisher
                    .buffer
                    .counters
                    .bytes_in
                    .fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
                f.reader.push(data);
                f.drain()
            }
        }
    }

    fn finish(&mut self) -> Result<(), WriteError> {
        match self {
            Sink::Ts(f) => f.finish(),
            Sink::H264(f) => {
                f.reader.finish();
                f.drain()
            }
        }
    }
}

/// The Annex B reader writing into a publisher, its problems logged once per
/// [`super::feed::COMPLAINT_EVERY`].
struct H264Feed {
    reader: AnnexBReader,
    publisher: Publisher,
    stream: String,
    complaints: u64,
    last_complaint: Option<Instant>,
}

impl H264Feed {
    fn drain(&mut self) -> Result<(), WriteError> {
        let (buffer, token) = (&self.publisher.buffer, self.publisher.token);
        while let Some(event) = self.reader.pull() {
            match event {
                Ok(AnnexBEvent::Track(track)) => {
                    tracing::info!(
                        kind = "STRM",
                        stream = self.stream.as_str(),
                        "h264-exec: track {} H264 {}x{} at {} fps",
                        track.id,
                        track.width,
                        track.height,
                        f64::from(track.fpks) / 1000.0
                    );
                    buffer.set_track(token, track)?;
                }
                Ok(AnnexBEvent::Packet(packet)) => buffer.push(token, packet)?,
                Err(e) => {
                    self.complaints += 1;
                    let due = self
                        .last_complaint
                        .is_none_or(|at| at.elapsed() >= super::feed::COMPLAINT_EVERY);
                    if due {
                        tracing::warn!(
                            kind = "WARN",
                            stream = self.stream.as_str(),
                            "h264-exec: {e} ({} problem(s) since the last report)",
                            self.complaints
                        );
                        self.complaints = 0;
                        self.last_complaint = Some(Instant::now());
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(input_for("ts-exec:gen a  b"), Some(TS_NAME));
        assert_eq!(input_for("h264-exec:gen"), Some(H264_NAME));
        assert_eq!(input_for("tsudp://:1"), None);
        assert_eq!(input_for("/x/h264-exec:gen"), None);
        assert_eq!(
            parse("ts-exec:/bin/gen  -x \"a b\""),
            Some((
                Format::Ts,
                vec!["/bin/gen".into(), "-x".into(), "\"a".into(), "b\"".into()]
            ))
        );
        assert_eq!(parse("h264-exec:"), Some((Format::H264, vec![])));
    }

    #[test]
    fn chatty_output_is_limited() {
        let mut limiter = LineLimiter::default();
        for _ in 0..50 {
            limiter.line("s", b"line", false);
        }
        assert_eq!((limiter.logged, limiter.skipped), (LINES_PER_SECOND, 30));
        limiter.flush("s");
        assert_eq!(limiter.skipped, 0);
    }

    #[test]
    fn no_group_is_alive_for_a_free_id() {
        assert!(!group_alive(u32::MAX));
    }
}
