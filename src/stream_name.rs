//! Stream names (manual §3.1, facts §4).
//!
//! A base name holds only lowercase `a-z`, `0-9` and `_`: upper case is lowered and every other
//! character is dropped silently, so `Test-Stream-1` becomes `teststream1`. The manual wins over
//! today's MistServer here (which also keeps `.` and `-`). A `+` or a single space ends the base
//! name and starts the wildcard part, which keeps any characters (up to a `?`, which starts URL
//! parameters) and is joined back with `+`. The whole name is at most 100 bytes.

/// Longest allowed full name (base, separator and wildcard part), in bytes.
pub const MAX_NAME_BYTES: usize = 100;

/// Sanitises a requested stream name. The result may be empty (nothing usable was given) and may
/// be longer than [`MAX_NAME_BYTES`]; [`validate`] checks both.
pub fn sanitize(raw: &str) -> String {
    let raw = raw.split('?').next().unwrap_or("");
    match raw.find(['+', ' ']) {
        Some(at) => {
            let base = sanitize_base(&raw[..at]);
            let wildcard = &raw[at + 1..];
            format!("{base}+{wildcard}")
        }
        None => sanitize_base(raw),
    }
}

fn sanitize_base(raw: &str) -> String {
    raw.chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '_' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Why a stream name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("stream name is empty after removing characters that are not allowed")]
    Empty,
    #[error("stream name is longer than {MAX_NAME_BYTES} bytes")]
    TooLong,
}

/// Sanitises and checks a name for use (opening or looking up a stream).
pub fn validate(raw: &str) -> Result<String, NameError> {
    let name = sanitize(raw);
    if base_name(&name).is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong);
    }
    Ok(name)
}

/// The part before the wildcard separator; stream config is looked up by it.
pub fn base_name(name: &str) -> &str {
    match name.find(['+', ' ']) {
        Some(at) => &name[..at],
        None => name,
    }
}

/// The wildcard part after the first `+` (or space), if any.
pub fn wildcard_part(name: &str) -> Option<&str> {
    name.find(['+', ' ']).map(|at| &name[at + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_examples() {
        assert_eq!(sanitize("Test-Stream-1"), "teststream1");
        assert_eq!(sanitize("live"), "live");
        assert_eq!(sanitize("a.b-c"), "abc");
        assert_eq!(sanitize("LIVE_2"), "live_2");
    }

    #[test]
    fn wildcards() {
        assert_eq!(sanitize("Live+Cam-1"), "live+Cam-1");
        assert_eq!(sanitize("live cam"), "live+cam");
        assert_eq!(sanitize("live+a+b"), "live+a+b");
        assert_eq!(sanitize("live+x?token=1"), "live+x");
        assert_eq!(base_name("live+x"), "live");
        assert_eq!(wildcard_part("live+x"), Some("x"));
        assert_eq!(wildcard_part("live"), None);
    }

    #[test]
    fn limits() {
        assert_eq!(validate("---"), Err(NameError::Empty));
        assert_eq!(validate("+abc"), Err(NameError::Empty));
        assert_eq!(validate(&"a".repeat(100)), Ok("a".repeat(100)));
        assert_eq!(validate(&"a".repeat(101)), Err(NameError::TooLong));
        assert_eq!(
            validate(&format!("live+{}", "é".repeat(50))),
            Err(NameError::TooLong)
        );
        assert_eq!(validate("ünïcode"), Ok("ncode".into()));
    }
}
