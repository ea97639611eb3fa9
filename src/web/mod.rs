//! The operator's web UI, compiled into the binary and served on the API port for every path that
//! carries no API command (manual §4.1).

/// The UI page.
pub const INDEX_HTML: &str = include_str!("index.html");
