//! `capabilities`, `browse`, `version`, `api_endpoint` and the updater commands.

use std::net::SocketAddr;

use serde_json::{json, Map, Value};

use crate::protocols;

/// The `capabilities` answer (manual §4.1.2): the connectors and inputs Eddy implements, and
/// the machine's CPUs, memory and load.
/// Besides MistServer's keys it has `process` (an Eddy extension): this server's `uptime` (s),
/// `cpu_seconds` (user and system CPU time so far) and `rss` (resident memory, bytes), which the
/// web UI's server panel charts.
pub fn capabilities(uptime: std::time::Duration) -> Value {
    let mut caps = crate::system_info::machine_capabilities();
    caps.insert(
        "process".into(),
        json!({
            "uptime": uptime.as_secs(),
            "cpu_seconds": crate::system_info::process_cpu_seconds(),
            "rss": crate::system_info::process_rss_bytes(),
        }),
    );
    caps.insert(
        "connectors".into(),
        Value::Object(protocols::capabilities()),
    );
    caps.insert(
        "inputs".into(),
        Value::Object(protocols::input_capabilities()),
    );
    caps.insert(
        "triggers".into(),
        crate::triggers::catalogue::capabilities(),
    );
    Value::Object(caps)
}

/// The `browse` answer (manual §4.1.12): `{path: [absolute path], subdirectories, files}`,
/// sorted. `path` is a one-element array as today's MistServer (and its web UI) has it; a path
/// that cannot be read answers with only `path: [as given]`.
pub fn browse(req: &Value) -> Value {
    let given = match req {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Object(o) => o
            .get("path")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(".")
            .to_string(),
        _ => ".".to_string(),
    };
    let Ok(real) = std::fs::canonicalize(&given) else {
        return json!({"path": [given]});
    };
    let Ok(dir) = std::fs::read_dir(&real) else {
        return json!({"path": [real.to_string_lossy()]});
    };
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Follow symlinks, as a file dialog would.
        match std::fs::metadata(entry.path()) {
            Ok(m) if m.is_dir() => dirs.push(name),
            Ok(_) => files.push(name),
            Err(_) => {}
        }
    }
    files.sort();
    dirs.sort();
    json!({"path": [real.to_string_lossy()], "subdirectories": dirs, "files": files})
}

/// The `update` answer: Eddy has no built-in updater, and says so.
pub fn update_status() -> Value {
    json!({
        "error": "Eddy has no built-in updater; update it with the tool you installed it with",
        "progress": 0,
        "uptodate": Value::Null,
        "installed": crate::VERSION,
    })
}

/// The `version` answer.
pub fn version() -> Value {
    let mut v = Map::new();
    v.insert("version".into(), json!(crate::VERSION));
    v.insert("release".into(), json!("Eddy"));
    Value::Object(v)
}

/// `http://<bound host>:<port>`, with wildcard addresses turned into loopback.
pub fn api_endpoint(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => format!("http://127.0.0.1:{}", a.port()),
        SocketAddr::V6(a) if a.ip().is_unspecified() => format!("http://[::1]:{}", a.port()),
        other => format!("http://{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browse_lists_sorted() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("b.mp4"), "").expect("file");
        std::fs::write(dir.path().join("a.flv"), "").expect("file");
        std::fs::create_dir(dir.path().join("sub")).expect("dir");
        let v = browse(&json!(dir.path().to_string_lossy()));
        assert_eq!(v["files"], json!(["a.flv", "b.mp4"]));
        assert_eq!(v["subdirectories"], json!(["sub"]));
        let real = std::fs::canonicalize(dir.path()).expect("real");
        assert_eq!(v["path"], json!([real.to_string_lossy()]));
        let missing = browse(&json!("/no/such/dir"));
        assert_eq!(missing, json!({"path": ["/no/such/dir"]}));
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            api_endpoint("0.0.0.0:4242".parse().unwrap()),
            "http://127.0.0.1:4242"
        );
        assert_eq!(
            api_endpoint("[::]:4242".parse().unwrap()),
            "http://[::1]:4242"
        );
        assert_eq!(
            api_endpoint("10.1.2.3:1".parse().unwrap()),
            "http://10.1.2.3:1"
        );
    }
}
