//! The catalogue of every trigger Eddy fires, for `capabilities.triggers` (facts §5.4) in
//! MistServer's shape: per trigger `when`, `stream_specific`, `payload` (one description per
//! payload line, joined by `\n`, in the order Eddy sends them), `response` (`always`,
//! `when-blocking` or `ignored`: when the answer is used), `response_action` (what the answer
//! does) and, for a trigger that takes `params`, `argument`.
//!
//! It lists only what Eddy really fires, with the payloads Eddy really sends (which differ from
//! MistServer's here and there: SYSTEM_START has no payload, STREAM_UNLOAD's answer is not
//! waited for, RECORDING_END has two more lines, USER_END is as MistServer codes it). A unit
//! test reads the source and checks that every trigger name the code fires is here, and that
//! nothing here is never fired.

use serde_json::{json, Map, Value};

/// When a trigger's answer is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// The answer counts whether the handler is blocking or not (a non-blocking handler counts
    /// with its default response).
    Always,
    /// Only a blocking handler's answer is used.
    WhenBlocking,
    /// Eddy does not wait for the answer.
    Ignored,
}

impl Response {
    pub fn as_str(self) -> &'static str {
        match self {
            Response::Always => "always",
            Response::WhenBlocking => "when-blocking",
            Response::Ignored => "ignored",
        }
    }
}

/// One trigger.
#[derive(Debug, Clone, Copy)]
pub struct Trigger {
    pub name: &'static str,
    pub when: &'static str,
    pub stream_specific: bool,
    /// One description per payload line, in order.
    pub payload: &'static [&'static str],
    pub response: Response,
    pub response_action: &'static str,
    /// What `params` means, for the triggers that take it.
    pub argument: Option<&'static str>,
}

const NONE: &str = "None: Eddy does not wait for the answer.";
const CONN_LINES: &[&str] = &[
    "stream name (string)",
    "connection address (string)",
    "protocol (string, e.g. RTMP, HLS, FLV)",
    "request URL (string, may be empty)",
];

/// Every trigger Eddy fires.
pub const TRIGGERS: &[Trigger] = &[
    Trigger {
        name: "SYSTEM_START",
        when: "After Eddy has started and its API listens",
        stream_specific: false,
        payload: &[],
        response: Response::Always,
        response_action: "If false, shuts the server down again.",
        argument: None,
    },
    Trigger {
        name: "SYSTEM_STOP",
        when: "Before Eddy shuts down (on SIGTERM, SIGINT or the API's shutdown)",
        stream_specific: false,
        payload: &["shutdown reason (string, e.g. Signal(\"SIGTERM\") or ApiRequest)"],
        response: Response::Always,
        response_action: "If false, cancels the shutdown.",
        argument: None,
    },
    Trigger {
        name: "OUTPUT_START",
        when: "After a protocol's listener starts (e.g. HTTP, RTMP)",
        stream_specific: false,
        payload: &["protocol configuration (JSON)"],
        response: Response::Ignored,
        response_action: NONE,
        argument: None,
    },
    Trigger {
        name: "OUTPUT_STOP",
        when: "After a protocol's listener is stopped while the server runs",
        stream_specific: false,
        payload: &["protocol configuration (JSON)"],
        response: Response::Ignored,
        response_action: NONE,
        argument: None,
    },
    Trigger {
        name: "STREAM_ADD",
        when: "Before a new stream is configured through the API",
        stream_specific: true,
        payload: &["stream name (string)", "stream configuration (JSON)"],
        response: Response::Always,
        response_action: "If false, the stream is not added.",
        argument: None,
    },
    Trigger {
        name: "STREAM_CONFIG",
        when: "Before a configured stream's settings change through the API",
        stream_specific: true,
        payload: &["stream name (string)", "new stream configuration (JSON)"],
        response: Response::Always,
        response_action: "If false, the change is refused and the old configuration stays.",
        argument: None,
    },
    Trigger {
        name: "STREAM_REMOVE",
        when: "Before a configured stream is removed through the API",
        stream_specific: true,
        payload: &["stream name (string)"],
        response: Response::Always,
        response_action: "If false, the stream is not removed.",
        argument: None,
    },
    Trigger {
        name: "STREAM_SOURCE",
        when: "When a stream starts, before it answers anyone",
        stream_specific: true,
        payload: &["stream name (string)"],
        response: Response::WhenBlocking,
        response_action: "A non-empty answer is the stream's source for as long as it runs \
            (for a push:// stream: who may push to it). An empty answer keeps the configured \
            source.",
        argument: None,
    },
    Trigger {
        name: "STREAM_LOAD",
        when: "When a stream starts, right after STREAM_SOURCE",
        stream_specific: true,
        payload: &["stream name (string)"],
        response: Response::Always,
        response_action: "If false, the stream is not started.",
        argument: None,
    },
    Trigger {
        name: "STREAM_READY",
        when: "When a live stream has its first media and is ready for playback",
        stream_specific: true,
        payload: &["stream name (string)", "input type (string: Buffer)"],
        response: Response::Always,
        response_action: "If false, ends the stream.",
        argument: None,
    },
    Trigger {
        name: "STREAM_UNLOAD",
        when: "When a stream ends",
        stream_specific: true,
        payload: &["stream name (string)", "input type (string: Buffer)"],
        response: Response::Ignored,
        response_action: NONE,
        argument: None,
    },
    Trigger {
        name: "STREAM_PUSH",
        when: "Before an incoming push (a publisher) is accepted",
        stream_specific: true,
        payload: &[
            "stream name (string)",
            "publisher's address (string)",
            "protocol (string, e.g. RTMP)",
            "request URL (string)",
        ],
        response: Response::Always,
        response_action: "If false, refuses the incoming push.",
        argument: None,
    },
    Trigger {
        name: "STREAM_TRACK_ADD",
        when: "After a live stream gained a track",
        stream_specific: true,
        payload: &["stream name (string)", "track id (integer)"],
        response: Response::Ignored,
        response_action: NONE,
        argument: None,
    },
    Trigger {
        name: "STREAM_TRACK_REMOVE",
        when: "After a track left a live stream",
        stream_specific: true,
        payload: &["stream name (string)", "track id (integer)"],
        response: Response::Ignored,
        response_action: NONE,
        argument: None,
    },
    Trigger {
        name: "STREAM_BUFFER",
        when: "Every time a live stream's buffer changes state",
        stream_specific: true,
        payload: &[
            "stream name (string)",
            "buffer state: FULL, DRY, RECOVER or EMPTY (string)",
            "buffer health (JSON: tracks, buffer ms, per-track codec and size, issues when DRY); \
             for EMPTY the last media time (milliseconds)",
        ],
        response: Response::Ignored,
        response_action: NONE,
        argument: None,
    },
    Trigger {
        name: "STREAM_END",
        when: "When a stream ends (after its publisher and viewers are gone)",
        stream_specific: true,
        payload: &[
            "stream name (string)",
            "bytes received from publishers (integer; MistServer's downloaded bytes)",
            "bytes sent to viewers (integer; MistServer's uploaded bytes)",
            "total viewers (integer)",
            "total inputs (integer)",
            "total outputs (integer; Eddy sends 0)",
            "viewer seconds (integer)",
        ],
        response: Response::Ignored,
        response_action: NONE,
        argument: None,
    },
    Trigger {
        name: "LIVE_BANDWIDTH",
        when: "Every 5 seconds while a publisher sends more than the handler's threshold",
        stream_specific: true,
        payload: &["stream name (string)", "current bytes per second (integer)"],
        response: Response::Always,
        response_action: "If false, ends the stream.",
        argument: Some(
            "Runs only while the incoming bytes per second exceed this amount (integer)",
        ),
    },
    Trigger {
        name: "RTMP_PUSH_REWRITE",
        when: "On an incoming RTMP push, before STREAM_PUSH: may rewrite the RTMP URL",
        stream_specific: false,
        payload: &["full RTMP URL (string)", "publisher's address (string)"],
        response: Response::WhenBlocking,
        response_action:
            "A non-empty answer is the RTMP URL to use instead (the stream name is \
            what follows its last /). An empty answer, or a non-blocking handler, refuses the push.",
        argument: None,
    },
    Trigger {
        name: "PUSH_OUT_START",
        when: "Before a push out (a recording or a push to another server) starts",
        stream_specific: true,
        payload: &[
            "stream name (string)",
            "push target, before variables are substituted (string)",
        ],
        response: Response::WhenBlocking,
        response_action: "A non-empty answer is the push target to use instead (variables are \
            still substituted). An empty answer aborts the push.",
        argument: None,
    },
    Trigger {
        name: "PUSH_END",
        when: "Every time a push ends, for any reason",
        stream_specific: true,
        payload: &[
            "push id (integer)",
            "stream name (string)",
            "target as given (string)",
            "target as used, after triggers and variables (string)",
            "last log lines (JSON array)",
            "last status (JSON object)",
        ],
        response: Response::Ignored,
        response_action: NONE,
        argument: None,
    },
    Trigger {
        name: "RECORDING_END",
        when: "When a recording (a push to a file) is finished",
        stream_specific: true,
        payload: &[
            "stream name (string)",
            "path of the finished file (string)",
            "container (string: FLV, HTTPTS, MP4, MP3 or AAC)",
            "bytes written (integer)",
            "seconds spent writing (integer)",
            "unix time writing started (integer)",
            "unix time writing stopped (integer)",
            "milliseconds of media written (integer)",
            "first media timestamp (milliseconds)",
            "last media timestamp (milliseconds)",
            "exit reason code (string, e.g. CLEAN_EOF)",
            "exit reason (human-readable string)",
        ],
        response: Response::Ignored,
        response_action: NONE,
        argument: None,
    },
    Trigger {
        name: "CONN_OPEN",
        when: "After a new viewer or publisher connection is accepted",
        stream_specific: true,
        payload: CONN_LINES,
        response: Response::Always,
        response_action: "If false, closes the connection.",
        argument: None,
    },
    Trigger {
        name: "CONN_CLOSE",
        when: "After a connection closed",
        stream_specific: true,
        payload: CONN_LINES,
        response: Response::Ignored,
        response_action: NONE,
        argument: None,
    },
    Trigger {
        name: "CONN_PLAY",
        when: "Before media is first sent to a viewer",
        stream_specific: true,
        payload: CONN_LINES,
        response: Response::Always,
        response_action: "If false, refuses the viewer.",
        argument: None,
    },
    Trigger {
        name: "USER_NEW",
        when: "Once for every new viewer session, before any media is sent (again after \
            invalidate_sessions)",
        stream_specific: true,
        payload: &[
            "stream name (string)",
            "viewer's address (string)",
            "session token (string: ?tkn= or the tkn cookie, else derived from the player)",
            "protocol (string, e.g. HLS, FLV, RTMP)",
            "request URL (string)",
            "session id (hexadecimal string)",
        ],
        response: Response::Always,
        response_action: "If false, refuses the session (403 for HTTP, closed for RTMP) until \
            it expires, ten minutes after its last connection. If true, lets it in while it \
            lasts.",
        argument: None,
    },
    Trigger {
        name: "USER_END",
        when: "When a viewer session expires, ten minutes after its last connection",
        stream_specific: true,
        payload: &[
            "session token (string)",
            "stream name (string)",
            "protocol (string)",
            "viewer's address (string)",
            "seconds connected (integer)",
            "bytes sent to the viewer (integer; up)",
            "bytes received from the viewer (integer; down)",
            "tags (string, [tag1][tag2])",
            "seconds per address (integer)",
            "seconds per protocol (integer)",
            "seconds per stream (integer)",
            "session id (hexadecimal string)",
        ],
        response: Response::Ignored,
        response_action: NONE,
        argument: None,
    },
];

/// The trigger called `name`.
pub fn find(name: &str) -> Option<&'static Trigger> {
    TRIGGERS.iter().find(|t| t.name == name)
}

/// The `capabilities.triggers` answer.
pub fn capabilities() -> Value {
    let mut all = Map::new();
    for t in TRIGGERS {
        let mut entry = json!({
            "when": t.when,
            "stream_specific": t.stream_specific,
            "payload": t.payload.join("\n"),
            "response": t.response.as_str(),
            "response_action": t.response_action,
        });
        if let Some(arg) = t.argument {
            entry["argument"] = json!(arg);
        }
        all.insert(t.name.into(), entry);
    }
    Value::Object(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    /// The words trigger names start with (MistServer's and Eddy's).
    const PREFIXES: &[&str] = &[
        "SYSTEM_",
        "OUTPUT_",
        "STREAM_",
        "CONN_",
        "USER_",
        "PUSH_",
        "RECORDING_",
        "LIVE_",
        "RTMP_",
        "INPUT_",
        "DEFAULT_",
        "PLAY_",
    ];

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The string literals of a source text, outside comments (a small lexer: escapes, raw
    /// strings, `'"'` and line comments).
    fn literals(text: &str) -> Vec<String> {
        let (mut out, mut chars) = (Vec::new(), text.chars().peekable());
        let mut current: Option<String> = None;
        while let Some(c) = chars.next() {
            match (&mut current, c) {
                (Some(s), '\\') => {
                    s.push(c);
                    s.extend(chars.next());
                }
                (Some(_), '"') => out.extend(current.take()),
                (Some(s), _) => s.push(c),
                (None, '"') => current = Some(String::new()),
                (None, 'r') if matches!(chars.peek(), Some('#' | '"')) => {
                    let mut hashes = 0;
                    while chars.next_if_eq(&'#').is_some() {
                        hashes += 1;
                    }
                    if chars.next_if_eq(&'"').is_none() {
                        continue;
                    }
                    let end = format!("\"{}", "#".repeat(hashes));
                    let mut raw = String::new();
                    for c in chars.by_ref() {
                        raw.push(c);
                        if raw.ends_with(&end) {
                            break;
                        }
                    }
                    out.push(raw.trim_end_matches(&end).to_string());
                }
                (None, '/') if chars.peek() == Some(&'/') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                (None, '\'') => {
                    let ahead: String = chars.clone().take(3).collect();
                    if ahead.starts_with("\"'") {
                        chars.nth(1);
                    } else if ahead.starts_with("\\\"'") {
                        chars.nth(2);
                    }
                }
                (None, _) => {}
            }
        }
        out
    }

    fn is_trigger_name(s: &str) -> bool {
        PREFIXES.iter().any(|p| s.starts_with(p))
            && s.len() > 5
            && s.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    }

    /// The trigger names the code fires: every trigger-shaped literal in `src/` but this file.
    fn fired_names() -> BTreeSet<String> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let me = src.join("triggers").join("catalogue.rs");
        let mut names = BTreeSet::new();
        for file in files.iter().filter(|f| **f != me) {
            let text = std::fs::read_to_string(file).expect("source file");
            names.extend(literals(&text).into_iter().filter(|l| is_trigger_name(l)));
        }
        names
    }

    #[test]
    fn every_fired_trigger_is_catalogued_and_nothing_more() {
        let fired = fired_names();
        assert!(
            fired.contains("USER_NEW") && fired.contains("RECORDING_END"),
            "the source scan finds the firing code: {fired:?}"
        );
        let listed: BTreeSet<String> = TRIGGERS.iter().map(|t| t.name.to_string()).collect();
        let missing: Vec<_> = fired.difference(&listed).collect();
        assert!(
            missing.is_empty(),
            "fired but not in the catalogue: {missing:?}"
        );
        let unfired: Vec<_> = listed.difference(&fired).collect();
        assert!(
            unfired.is_empty(),
            "catalogued but never fired: {unfired:?}"
        );
        assert_eq!(listed.len(), TRIGGERS.len(), "no trigger listed twice");
    }

    #[test]
    fn capabilities_have_mistservers_shape() {
        let caps = capabilities();
        let all = caps.as_object().expect("object");
        assert_eq!(all.len(), TRIGGERS.len());
        for (name, t) in all {
            for key in ["when", "payload", "response", "response_action"] {
                assert!(t[key].is_string(), "{name}.{key}");
            }
            assert!(t["stream_specific"].is_boolean(), "{name}");
            assert!(
                ["always", "when-blocking", "ignored"]
                    .contains(&t["response"].as_str().unwrap_or("")),
                "{name}"
            );
        }
        assert_eq!(caps["SYSTEM_START"]["payload"], "");
        assert_eq!(caps["SYSTEM_START"]["stream_specific"], false);
        assert_eq!(
            caps["USER_NEW"]["payload"]
                .as_str()
                .map(|p| p.lines().count()),
            Some(6)
        );
        assert_eq!(
            caps["RECORDING_END"]["payload"]
                .as_str()
                .map(|p| p.lines().count()),
            Some(12)
        );
        assert!(caps["LIVE_BANDWIDTH"]["argument"].is_string());
        assert!(caps["USER_NEW"].get("argument").is_none());
        assert_eq!(caps["PUSH_OUT_START"]["response"], "when-blocking");
        assert_eq!(caps["CONN_CLOSE"]["response"], "ignored");
    }

    #[test]
    fn the_scan_sees_literals_not_comments() {
        let text = r###"// fire("STREAM_FAKE")
x.fire("USER_NEW", a, "b \" c"); let q = '"'; let y = "CONN_PLAY"; // "STREAM_NOT"
let e = '\"'; let r = r##"a "# b"##; f("PUSH_END")"###;
        assert_eq!(
            literals(text),
            vec!["USER_NEW", "b \\\" c", "CONN_PLAY", "a \"# b", "PUSH_END"]
        );
        assert!(
            is_trigger_name("USER_NEW") && !is_trigger_name("Buffer") && !is_trigger_name("FULL")
        );
    }
}
