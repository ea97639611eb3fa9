//! The log book: the last [`LOG_LINES`] log lines, as the API's `log` answer shows them
//! (manual §4.1.10, facts §1.5).
//!
//! A [`LogBookLayer`] sits in the `tracing` subscriber and copies every event at INFO or above
//! into the book. An entry is `[unix_time, kind, message, stream, pid, exe, line]`. The kind is the
//! event's `kind` field when it has one (`CONF`, `AUTH`, `STRM`, ...), else its level (`ERROR`,
//! `WARN`, `INFO`); the stream is its `stream` field, if any.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// How many lines the book keeps.
pub const LOG_LINES: usize = 100;
/// The longest message the book keeps of a line, in bytes; the rest is cut off with `...`.
/// Log lines can carry what a client sent (a user name, a URL), and the book and every `/ws`
/// feed hold them.
pub const LOG_LINE_MAX: usize = 1024;

/// One log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub time: i64,
    pub kind: String,
    pub message: String,
    pub stream: String,
}

impl LogEntry {
    /// The API's array form.
    pub fn to_json(&self) -> Value {
        json!([
            self.time,
            self.kind,
            self.message,
            self.stream,
            std::process::id(),
            "eddy",
            ""
        ])
    }
}

/// A cheap, shareable handle on the ring of recent log lines.
#[derive(Debug, Clone, Default)]
pub struct LogBook {
    lines: Arc<Mutex<VecDeque<LogEntry>>>,
    /// Lines logged since start (Prometheus `mist_logs`).
    total: Arc<std::sync::atomic::AtomicU64>,
}

impl LogBook {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, mut entry: LogEntry) {
        cut(&mut entry.message, LOG_LINE_MAX);
        cut(&mut entry.stream, LOG_LINE_MAX);
        self.total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut lines = self.lock();
        if lines.len() == LOG_LINES {
            lines.pop_front();
        }
        lines.push_back(entry);
    }

    /// The lines, oldest first, in the API's form.
    pub fn to_json(&self) -> Value {
        Value::Array(self.lock().iter().map(LogEntry::to_json).collect())
    }

    pub fn entries(&self) -> Vec<LogEntry> {
        self.lock().iter().cloned().collect()
    }

    /// Lines logged since start.
    pub fn total(&self) -> u64 {
        self.total.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<LogEntry>> {
        // A panic while holding this lock leaves a consistent ring; keep using it.
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Cuts `text` to at most `max` bytes (at a character boundary), marking the cut with `...`.
fn cut(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str("...");
}

/// The `tracing` layer that feeds a [`LogBook`].
pub struct LogBookLayer {
    book: LogBook,
}

impl LogBookLayer {
    pub fn new(book: LogBook) -> Self {
        LogBookLayer { book }
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    kind: Option<String>,
    stream: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "kind" => self.kind = Some(value.to_string()),
            "stream" => self.stream = value.to_string(),
            other => {
                let _ = write!(self.rest, " {other}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "kind" => self.kind = Some(format!("{value:?}")),
            "stream" => self.stream = format!("{value:?}"),
            other => {
                let _ = write!(self.rest, " {other}={value:?}");
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for LogBookLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::INFO || !event.metadata().target().starts_with("eddy") {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let kind = fields.kind.unwrap_or_else(|| level.as_str().to_string());
        self.book.push(LogEntry {
            time: chrono::Utc::now().timestamp(),
            kind,
            message: fields.message + &fields.rest,
            stream: fields.stream,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::prelude::*;

    #[test]
    fn keeps_the_last_hundred() {
        let book = LogBook::new();
        for i in 0..150 {
            book.push(LogEntry {
                time: i,
                kind: "INFO".into(),
                message: i.to_string(),
                stream: String::new(),
            });
        }
        let lines = book.entries();
        assert_eq!(lines.len(), LOG_LINES);
        assert_eq!(lines[0].message, "50");
        assert_eq!(lines[99].message, "149");
        book.clear();
        assert!(book.entries().is_empty());
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let book = LogBook::new();
        let long = "é".repeat(LOG_LINE_MAX);
        book.push(LogEntry {
            time: 0,
            kind: "AUTH".into(),
            message: format!("Failed login as {long}"),
            stream: String::new(),
        });
        let line = &book.entries()[0].message;
        assert!(line.len() <= LOG_LINE_MAX, "{}", line.len());
        assert!(line.starts_with("Failed login as é") && line.ends_with("é..."));
        let mut short = String::from("short");
        cut(&mut short, LOG_LINE_MAX);
        assert_eq!(short, "short");
    }

    #[test]
    fn layer_records_kind_stream_and_message() {
        let book = LogBook::new();
        let subscriber = tracing_subscriber::registry().with(LogBookLayer::new(book.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(kind = "CONF", stream = "live", "stream added");
            tracing::warn!("plain warning");
            tracing::debug!("not recorded");
        });
        let lines = book.entries();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[0].kind.as_str(), lines[0].stream.as_str()),
            ("CONF", "live")
        );
        assert_eq!(lines[0].message, "stream added");
        assert_eq!(lines[1].kind, "WARN");
        let json = book.to_json();
        assert_eq!(json[0][2], "stream added");
        assert_eq!(json[0].as_array().map(Vec::len), Some(7));
    }
}
