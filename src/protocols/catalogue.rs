//! The catalogue: every connector and input Eddy implements, as `capabilities` lists them.
//!
//! Only what Eddy really implements is here, so `capabilities` never promises an output that is
//! not there. A connector with a [`ConnectorSpec::start`] function runs its own listener;
//! outputs that ride on the HTTP listener (`deps: "HTTP"`) report `"Enabled"`.

use serde_json::{json, Map, Value};

use super::listen::{ListenerError, ListenerHandle, ListenerSettings};
use super::{dtsc, http, rtmp, rtsp, ListenerContext};
use crate::config::ProtocolEntry;

/// Starts a listener for one configured entry.
pub type StartFn = fn(&ListenerSettings, &ListenerContext) -> Result<ListenerHandle, ListenerError>;

/// One connector Eddy implements.
pub struct ConnectorSpec {
    pub name: &'static str,
    pub desc: &'static str,
    pub default_port: Option<u16>,
    /// `Some("HTTP")` for outputs served by the HTTP listener.
    pub deps: Option<&'static str>,
    /// The connector's `capabilities` entry (without `name`, which is added).
    pub capabilities: fn() -> Value,
    /// `None` for outputs that ride on another listener.
    pub start: Option<StartFn>,
    /// Whether the output plays on-demand (file) streams; `json_` offers only those for one.
    pub on_demand: bool,
}

/// Every connector Eddy implements.
pub fn catalogue() -> &'static [ConnectorSpec] {
    use http::outputs as out;
    static CATALOGUE: [ConnectorSpec; 13] = [
        http::SPEC,
        rtmp::SPEC,
        rtsp::SPEC,
        dtsc::SPEC,
        http::flv::SPEC,
        out::HLS,
        out::CMAF,
        out::MP4,
        out::HTTPTS,
        out::MP3,
        out::AAC,
        out::OGG,
        out::WAV,
    ];
    &CATALOGUE
}

/// Looks a connector up by its configured name (case-insensitive, as operators type it).
pub fn find(name: &str) -> Option<&'static ConnectorSpec> {
    catalogue()
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
}

/// The `connectors` object of a `capabilities` answer.
pub fn capabilities() -> Map<String, Value> {
    catalogue()
        .iter()
        .map(|c| {
            let mut v = (c.capabilities)();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("name".into(), json!(c.name));
                obj.insert("desc".into(), json!(c.desc));
                if let Some(d) = c.deps {
                    obj.insert("deps".into(), json!(d));
                }
            }
            (c.name.to_string(), v)
        })
        .collect()
}

/// The entries a first start enables: every connector with nothing required (facts §9.1).
pub fn default_protocols() -> Vec<ProtocolEntry> {
    catalogue()
        .iter()
        .filter(|c| {
            (c.capabilities)()
                .get("required")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
        })
        .map(|c| {
            let mut p = ProtocolEntry::new();
            p.insert("connector".into(), json!(c.name));
            p
        })
        .collect()
}

/// One input Eddy implements: which stream sources it reads (`source_match`, one `*` wildcard).
pub struct InputSpec {
    pub name: &'static str,
    pub source_match: &'static [&'static str],
    /// The input's `capabilities` entry (without `name`, which is added).
    pub capabilities: fn() -> Value,
}

/// Every input Eddy implements: the live buffer that RTMP publishers push into, and the
/// on-demand files (an absolute path; the container is told by the file's first bytes, the
/// extension only picks the entry `capabilities` shows).
pub fn inputs() -> &'static [InputSpec] {
    static INPUTS: [InputSpec; 16] = [
        InputSpec {
            name: "Buffer",
            source_match: &["push://*"],
            capabilities: buffer_input_capabilities,
        },
        InputSpec {
            name: "TSUDP",
            source_match: &["tsudp://*"],
            capabilities: || {
                json!({
                    "desc": "MPEG-TS over UDP, unicast or multicast, plain or in RTP: tsudp://[host]:port[/interface,...] (a multicast group is joined on each interface, by name or address). Runs while the stream is in use.",
                    "priority": 9,
                    "codecs": [[["H264", "HEVC"], ["AAC", "MP3"]]],
                    "required": {},
                    "optional": {}
                })
            },
        },
        InputSpec {
            name: "TSExec",
            source_match: &["ts-exec:*"],
            capabilities: || {
                exec_capabilities("MPEG-TS", json!([[["H264", "HEVC"], ["AAC", "MP3"]]]))
            },
        },
        InputSpec {
            name: "H264Exec",
            source_match: &["h264-exec:*"],
            capabilities: || exec_capabilities("raw Annex B H.264", json!([[["H264"]]])),
        },
        InputSpec {
            name: "HLS",
            source_match: &["http://*.m3u8", "https://*.m3u8", "/*.m3u8", "/*.m3u"],
            capabilities: || {
                json!({
                    "desc": "HLS pull: an http(s):// playlist (always live, followed at its live edge) or a .m3u8 / .m3u file (on demand when complete, live while it grows); every variant of a master playlist kept, TS and fMP4 segments.",
                    "priority": 9,
                    "codecs": [[["H264", "HEVC"], ["AAC", "MP3"]]],
                    "required": {},
                    "optional": {}
                })
            },
        },
        InputSpec {
            name: "RTSP",
            source_match: &["rtsp://*"],
            capabilities: || {
                json!({
                    "desc": "RTSP pull from a camera or server: rtsp://[user:password@]host[:port]/path (port 554 by default; Basic or Digest login from the URL), RTP interleaved over TCP. Started again with back-off when the server goes away.",
                    "priority": 9,
                    "codecs": [[["H264", "HEVC"], ["AAC", "MP3", "opus", "PCMU", "PCMA"]]],
                    "required": {},
                    "optional": {}
                })
            },
        },
        InputSpec {
            name: "DTSC",
            source_match: &["dtsc://*"],
            capabilities: || {
                json!({
                    "desc": "DTSC pull from another Eddy or MistServer: dtsc://host[:port][/stream] (port 4200 by default; without a stream, the local name; a local wildcard stream base+foo asks for stream+foo). Reconnects when the origin goes away; viewers stay while it comes back.",
                    "priority": 9,
                    "codecs": [[["H264", "HEVC", "AV1", "VP9"], ["AAC", "MP3", "opus", "AC3"]]],
                    "required": {},
                    "optional": {}
                })
            },
        },
        InputSpec {
            name: "MP4",
            source_match: &["/*.mp4", "/*.m4v", "/*.m4a", "/*.mov", "/*.f4v", "/*.3gp"],
            capabilities: || {
                file_input(
                    "MP4 and QuickTime files (moov first or last, or fragmented)",
                    &[&["H264", "HEVC"], &["AAC", "MP3"]],
                )
            },
        },
        InputSpec {
            name: "FLV",
            source_match: &["/*.flv"],
            capabilities: || file_input("Flash Video files", &[&["H264", "HEVC"], &["AAC", "MP3"]]),
        },
        InputSpec {
            name: "TS",
            source_match: &["/*.ts", "/*.m2ts", "/*.mts"],
            capabilities: || file_input("MPEG-TS files", &[&["H264", "HEVC"], &["AAC", "MP3"]]),
        },
        InputSpec {
            name: "MP3",
            source_match: &["/*.mp3"],
            capabilities: || file_input("MP3 audio files", &[&["MP3"]]),
        },
        InputSpec {
            name: "AAC",
            source_match: &["/*.aac"],
            capabilities: || file_input("AAC audio files (ADTS)", &[&["AAC"]]),
        },
        InputSpec {
            name: "OGG",
            source_match: &["/*.ogg", "/*.oga", "/*.ogv", "/*.opus"],
            capabilities: || {
                file_input(
                    "Ogg files (Theora, Opus, Vorbis)",
                    &[&["theora"], &["opus", "vorbis"]],
                )
            },
        },
        InputSpec {
            name: "WAV",
            source_match: &["/*.wav"],
            capabilities: || file_input("WAV audio files", &[&["PCM", "ALAW", "ULAW", "MP3"]]),
        },
        InputSpec {
            name: "EBML",
            source_match: &["/*.mkv", "/*.mka", "/*.webm"],
            capabilities: || {
                file_input(
                    "Matroska and WebM files",
                    &[
                        &["H264", "HEVC", "AV1", "VP9"],
                        &["AAC", "MP3", "opus", "vorbis", "AC3"],
                    ],
                )
            },
        },
        InputSpec {
            name: "Folder",
            source_match: &["/*/"],
            capabilities: || {
                file_input(
                    "A folder: each file in it plays as STREAM+FILENAME (subfolders are not served)",
                    &[&["H264", "HEVC"], &["AAC", "MP3"]],
                )
            },
        },
    ];
    &INPUTS
}

/// The `capabilities` entry of an on-demand file input.
fn file_input(what: &str, codecs: &[&[&str]]) -> Value {
    json!({
        "desc": format!("{what}, played on demand from an index kept beside the file (FILE.eddyidx) or in the cache folder. Viewers may start at ?start= and stop at ?end= (ms)."),
        "priority": 9,
        "codecs": [codecs],
        "required": {},
        "optional": {}
    })
}

/// ts-exec / h264-exec (manual §3.3.5).
fn exec_capabilities(format: &str, codecs: Value) -> Value {
    json!({
        "desc": format!("Runs COMMAND and reads {format} from its standard output; its standard error goes to the log. The command is split on spaces only, with no shell: no quoting, escaping or spaces in arguments (use a script for those). Restarted when it exits while the stream is in use; its process group is stopped with the stream."),
        "priority": 9,
        "codecs": codecs,
        "required": {},
        "optional": {}
    })
}

fn buffer_input_capabilities() -> Value {
    json!({
        "desc": "Live buffer for pushed streams (RTMP). push://[host][@passphrase] sets who may push.",
        "priority": 9,
        "codecs": [["H264", "HEVC", "AV1", "VP9"], ["AAC", "MP3"]],
        "required": {},
        "optional": {
            "DVR": {"name": "Buffer time (ms)", "help": "How much of the live stream is kept for viewers to start in", "type": "uint", "default": 50000},
            "cut": {"name": "Cut time (ms)", "help": "Data before this time stamp is not kept", "type": "uint", "default": 0},
            "resume": {"name": "Resume support", "help": "Keep the buffer when the publisher disconnects, so it can continue", "type": "select", "select": [[0, "Disabled"], [1, "Enabled"]], "default": 0},
            "inputtimeout": {"name": "Resume window (s)", "help": "With resume support, how long to wait for the publisher to come back", "type": "uint", "default": 30},
            "maxkeepaway": {"name": "Maximum lag (ms)", "help": "A viewer further behind live than this skips ahead to a keyframe", "type": "uint", "default": 45000},
            "segmentsize": {"name": "Segment size (ms)", "help": "Minimum segment duration for segmented outputs", "type": "uint", "default": 1900}
        }
    })
}

/// The input that reads `source`, if any.
pub fn input_for(source: &str) -> Option<&'static InputSpec> {
    inputs()
        .iter()
        .find(|i| i.source_match.iter().any(|m| wildcard_match(m, source)))
}

/// The `inputs` object of a `capabilities` answer.
pub fn input_capabilities() -> Map<String, Value> {
    inputs()
        .iter()
        .map(|i| {
            let mut v = (i.capabilities)();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("name".into(), json!(i.name));
                obj.insert("source_match".into(), json!(i.source_match));
            }
            (i.name.to_string(), v)
        })
        .collect()
}

/// Matches `text` against `pattern` with at most one `*` standing for any run of characters.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.len() >= head.len() + tail.len() && text.starts_with(head) && text.ends_with(tail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_lists_only_real_connectors() {
        let caps = capabilities();
        assert!(caps.contains_key("HTTP"));
        assert!(find("http").is_some());
        assert!(find("rtsp").is_some() && find("dtsc").is_some());
        assert!(find("SRT").is_none());
        assert!(default_protocols().iter().any(|p| p["connector"] == "HTTP"));
    }

    #[test]
    fn file_inputs_match_the_containers_eddy_reads() {
        use crate::media::vod::Container;
        for input in inputs().iter().filter(|i| {
            !matches!(
                i.name,
                "Buffer" | "Folder" | "TSUDP" | "TSExec" | "H264Exec" | "HLS" | "DTSC" | "RTSP"
            )
        }) {
            for pattern in input.source_match {
                let ext = pattern.rsplit('.').next().unwrap_or_default();
                let container = Container::detect(&[], ext).expect("a container");
                assert_eq!(container.input_name(), input.name, "{pattern}");
                let path = pattern.replace('*', "films/a");
                assert_eq!(input_for(&path).map(|i| i.name), Some(input.name));
                assert!(crate::hub::vod::file_source(&path).is_some());
            }
        }
        assert!(input_capabilities()["MP4"]["source_match"].is_array());
        assert!(input_for("/films/a.txt").is_none());
        assert_eq!(input_for("/films/").map(|i| i.name), Some("Folder"));
        assert!(crate::hub::vod::on_demand("/films/"));
        for hls in ["/films/a.m3u8", "/films/a.m3u", "http://h/live/a.m3u8"] {
            assert_eq!(input_for(hls).map(|i| i.name), Some("HLS"), "{hls}");
        }
        // A playlist file starts like a file (complete: on demand; growing: the HLS input).
        assert!(crate::hub::vod::on_demand("/films/a.m3u8"));
        assert!(!crate::hub::vod::on_demand("http://h/live/a.m3u8"));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("push://*", "push://"));
        assert!(wildcard_match("push://*", "push://1.2.3.4@pw"));
        assert!(!wildcard_match("push://*", "/file.mp4"));
        assert!(wildcard_match("/*.mp4", "/a.mp4"));
        assert!(!wildcard_match("ab*ba", "aba"));
        assert!(wildcard_match("exact", "exact"));
    }
}
