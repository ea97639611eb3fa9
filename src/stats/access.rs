//! The access log (facts §6.5): one line per ended visit of a session, written where the
//! `accesslog` setting says.
//!
//! - `LOG` (the default): an `ACCS` line in the server log (and the API's `log`).
//! - `""` or `NONE`: no access log.
//! - anything else: a file path, appended to (created if missing).
//!
//! A line reads `YYYY-MM-DD HH:MM:SS, sessid, stream, connector, host, duration, upKB/s,
//! downKB/s, tags`, as MistServer writes it: local time of the visit's end, the connectors the
//! session used (comma-separated, so the line is split on `", "`), seconds connected, the
//! average rates over the visit in KB/s (1000 bytes), and the tags as `[a][b]`.
//!
//! A visit ends when a session has had no connection for a second (15 s for request-based
//! protocols such as HLS, whose players come back between requests).

use std::io::Write;

use super::VisitEnd;

/// Formats one line (without the newline).
pub fn line(v: &VisitEnd) -> String {
    let when = chrono::DateTime::from_timestamp(v.at, 0)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    let secs = v.seconds.max(1) as f64;
    let kbps = |bytes: u64| format!("{:.1}", bytes as f64 / secs / 1000.0);
    let tags: String = v.tags.iter().map(|t| format!("[{t}]")).collect();
    format!(
        "{when}, {}, {}, {}, {}, {}, {}, {}, {tags}",
        v.sessid,
        v.stream,
        v.protocols,
        super::query::host_text(v.host),
        v.seconds,
        kbps(v.up),
        kbps(v.down)
    )
}

/// Writes the lines where `setting` says (see the module documentation).
pub fn write(setting: &str, visits: &[VisitEnd]) {
    if visits.is_empty() {
        return;
    }
    match setting {
        "" | "NONE" => {}
        "LOG" => {
            for v in visits {
                tracing::info!(kind = "ACCS", stream = v.stream.as_str(), "{}", line(v));
            }
        }
        path => {
            let text: String = visits.iter().map(|v| line(v) + "\n").collect();
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(text.as_bytes()));
            if let Err(e) = written {
                tracing::warn!(kind = "ACCS", "cannot write the access log {path}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        let v = VisitEnd {
            at: 1_800_000_000,
            sessid: "abc".into(),
            stream: "live".into(),
            protocols: "HLS".into(),
            host: "10.0.0.1".parse().expect("ip"),
            seconds: 10,
            down: 250_000,
            up: 1000,
            tags: vec!["paid".into(), "UA:x".into()],
        };
        let l = line(&v);
        let parts: Vec<&str> = l.split(", ").collect();
        assert_eq!(parts.len(), 9, "{l}");
        assert_eq!(parts[0].len(), 19);
        assert_eq!(
            &parts[1..],
            [
                "abc",
                "live",
                "HLS",
                "10.0.0.1",
                "10",
                "0.1",
                "25.0",
                "[paid][UA:x]"
            ]
        );
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("access.log");
        let p = path.to_string_lossy().to_string();
        write(&p, std::slice::from_ref(&v));
        write(&p, &[v]);
        let text = std::fs::read_to_string(&path).expect("log");
        assert_eq!(text.lines().count(), 2);
        write("/nonexistent/dir/x.log", &[]);
    }
}
