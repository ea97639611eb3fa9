//! Push targets: variable substitution (manual §4.1.27, facts §7.5) and what a target string
//! means (facts §7.4, §7.6).
//!
//! A target is either `rtmp://host[:port]/app/key` (pushed to another server) or a file path
//! whose extension picks the container: `.flv`, `.ts`, `.mp4`/`.fmp4`, `.mp3`, `.aac`. A query
//! string after the path carries options and is not part of the file name:
//! - `append=1` adds to an existing file instead of replacing it (FLV, TS, MP3, AAC; an MP4 file
//!   has one movie header, so appending to one is refused);
//! - `duration=N` ends the recording after N seconds of media (MistServer's `duration`, also
//!   accepted as `recstop=N` in milliseconds from the start).
//!
//! Variables are `$name` or `${name}`: `$stream`, `$basename`, `$wildcard`, `$pluswildcard`,
//! `$day`, `$month`, `$year`, `$hour`, `$minute`, `$second`, `$datetime`
//! (`$year.$month.$day.$hour.$minute.$second`), `$wday` (1-7, Monday is 1), `$yday` (001-366)
//! and `$week` (ISO 01-53), in local time, substituted once when the push starts. Unknown
//! variables are left as written.

use chrono::{Datelike, Timelike};

/// What a target asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Rtmp(String),
    File(FileTarget),
}

/// A recording to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileTarget {
    pub path: String,
    pub container: crate::media::record::Container,
    pub append: bool,
    /// Stop after this much media, in milliseconds.
    pub duration_ms: Option<i64>,
}

/// Why a target cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetError {
    #[error("empty push target")]
    Empty,
    #[error("unsupported push target {0:?}: Eddy pushes to rtmp:// URLs and to .flv, .ts, .mp4, .mp3 or .aac files")]
    Unsupported(String),
    #[error("cannot append to an MP4 file ({0}); record to a new file name (for example with $datetime) or use .ts/.flv")]
    AppendMp4(String),
}

/// Parses a target after variable substitution.
pub fn parse(target: &str) -> Result<Target, TargetError> {
    let target = target.trim();
    if target.is_empty() {
        return Err(TargetError::Empty);
    }
    if let Some((scheme, _)) = target.split_once("://") {
        if scheme.eq_ignore_ascii_case("rtmp") {
            return Ok(Target::Rtmp(target.to_string()));
        }
        // `file://` is a path like any other.
        if !scheme.eq_ignore_ascii_case("file") {
            return Err(TargetError::Unsupported(target.to_string()));
        }
    }
    let without_scheme = target
        .strip_prefix("file://")
        .or_else(|| target.strip_prefix("FILE://"))
        .unwrap_or(target);
    let (path, query) = match without_scheme.split_once('?') {
        Some((p, q)) => (p, q),
        None => (without_scheme, ""),
    };
    let container = crate::media::record::Container::from_path(path)
        .ok_or_else(|| TargetError::Unsupported(target.to_string()))?;
    let mut file = FileTarget {
        path: path.to_string(),
        container,
        append: false,
        duration_ms: None,
    };
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "append" => file.append = value != "0" && !value.eq_ignore_ascii_case("false"),
            "duration" => {
                file.duration_ms = value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0)
                    .map(|s| (s * 1000.0) as i64)
            }
            "recstop" => file.duration_ms = value.parse::<i64>().ok().filter(|ms| *ms > 0),
            _ => {}
        }
    }
    if file.append && !container.supports_append() {
        return Err(TargetError::AppendMp4(file.path));
    }
    Ok(Target::File(file))
}

/// Substitutes the push variables in `target` for stream `stream` at local time `now`.
pub fn substitute<Tz: chrono::TimeZone>(
    target: &str,
    stream: &str,
    now: &chrono::DateTime<Tz>,
) -> String {
    let base = crate::stream_name::base_name(stream);
    let wildcard = stream.get(base.len() + 1..).unwrap_or("");
    let two = |n: u32| format!("{n:02}");
    let lookup = |name: &str| -> Option<String> {
        Some(match name {
            "stream" => stream.to_string(),
            "basename" => base.to_string(),
            "wildcard" => wildcard.to_string(),
            "pluswildcard" if wildcard.is_empty() => String::new(),
            "pluswildcard" => format!("+{wildcard}"),
            "day" => two(now.day()),
            "month" => two(now.month()),
            "year" => format!("{:04}", now.year()),
            "hour" => two(now.hour()),
            "minute" => two(now.minute()),
            "second" => two(now.second()),
            "datetime" => format!(
                "{:04}.{:02}.{:02}.{:02}.{:02}.{:02}",
                now.year(),
                now.month(),
                now.day(),
                now.hour(),
                now.minute(),
                now.second()
            ),
            "wday" => now.weekday().number_from_monday().to_string(),
            "yday" => format!("{:03}", now.ordinal()),
            "week" => two(now.iso_week().week()),
            _ => return None,
        })
    };
    let mut out = String::with_capacity(target.len() + 16);
    let mut rest = target;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, used) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            // The longest known name wins, so `$streamname` is not `$stream` + "name"... unless
            // only the shorter one is known.
            let mut pick = ("", 0);
            for end in (1..=len).rev() {
                if lookup(&after[..end]).is_some() {
                    pick = (&after[..end], end);
                    break;
                }
            }
            pick
        };
        match (used > 0).then(|| lookup(name)).flatten() {
            Some(value) => {
                out.push_str(&value);
                rest = &after[used..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::record::Container;
    use chrono::TimeZone;

    fn at() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc
            .with_ymd_and_hms(2026, 3, 7, 9, 5, 2)
            .single()
            .expect("valid date")
    }

    #[test]
    fn variables() {
        let now = at();
        assert_eq!(
            substitute("/rec/$stream-$datetime.mp4", "live+cam1", &now),
            "/rec/live+cam1-2026.03.07.09.05.02.mp4"
        );
        assert_eq!(
            substitute(
                "$basename/$wildcard/${year}${month}${day}_$hour$minute$second",
                "live+a",
                &now
            ),
            "live/a/20260307_090502"
        );
        assert_eq!(
            substitute("x$pluswildcard|$wday|$yday|$week", "live", &now),
            "x|6|066|10"
        );
        assert_eq!(substitute("$pluswildcard", "live+b", &now), "+b");
        // Unknown variables and lone dollars stay.
        assert_eq!(
            substitute("$nope ${nope} $ ${", "s", &now),
            "$nope ${nope} $ ${"
        );
        // A known name followed by more letters: the known prefix is used.
        assert_eq!(substitute("$streamx", "s", &now), "sx");
    }

    #[test]
    fn targets() {
        assert_eq!(
            parse("rtmp://h/app/key"),
            Ok(Target::Rtmp("rtmp://h/app/key".into()))
        );
        let Ok(Target::File(f)) = parse("/tmp/a.MP4") else {
            panic!("file target")
        };
        assert_eq!((f.container, f.append), (Container::Mp4, false));
        let Ok(Target::File(f)) = parse("/tmp/a.ts?append=1&duration=5") else {
            panic!("file target")
        };
        assert_eq!(f.path, "/tmp/a.ts");
        assert!(f.append);
        assert_eq!(f.duration_ms, Some(5_000));
        let Ok(Target::File(f)) = parse("file:///tmp/b.flv?recstop=2500") else {
            panic!("file target")
        };
        assert_eq!(
            (f.path.as_str(), f.duration_ms),
            ("/tmp/b.flv", Some(2_500))
        );
        assert!(matches!(
            parse("/tmp/a.mp4?append=1"),
            Err(TargetError::AppendMp4(_))
        ));
        for bad in [
            "",
            "  ",
            "srt://h:1",
            "http://h/x.mp4",
            "/tmp/x.mkv",
            "/tmp/noext",
            "rtmps://h/a/k",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
