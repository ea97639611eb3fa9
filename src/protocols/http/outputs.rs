//! The catalogue entries of the HTTP-based outputs (facts §9.2, §9.3): codecs, URLs, player
//! types and priorities, as `capabilities` lists them and the `json_` info handler uses them.
//! They ride on the HTTP listener (`deps: "HTTP"`) and report `"Enabled"`.

use serde_json::{json, Value};

use crate::protocols::ConnectorSpec;

/// An output on the HTTP listener; `on_demand`: it plays file streams too.
const fn http_output(
    name: &'static str,
    desc: &'static str,
    on_demand: bool,
    capabilities: fn() -> Value,
) -> ConnectorSpec {
    ConnectorSpec {
        name,
        desc,
        default_port: None,
        deps: Some("HTTP"),
        capabilities,
        start: None,
        on_demand,
    }
}

pub const HLS: ConnectorSpec = http_output(
    "HLS",
    "HTTP Live Streaming over MPEG-TS at /hls/STREAM/index.m3u8.",
    true,
    || {
        json!({
            "friendly": "HLS (TS)",
            "codecs": [[["H264", "HEVC"], ["AAC", "MP3"]]],
            "methods": [{"handler": "http", "type": "html5/application/vnd.apple.mpegurl", "priority": 9, "url_rel": "/hls/$/index.m3u8"}],
            "url_rel": "/hls/$/index.m3u8",
            "url_prefix": "/hls/$/",
            "required": {}, "optional": {}
        })
    },
);

pub const CMAF: ConnectorSpec = http_output("CMAF", "DASH and HLS (version 7) over fragmented MP4 at /cmaf/STREAM/index.mpd and /cmaf/STREAM/index.m3u8.", true, || {
    json!({
        "friendly": "DASH / HLS (CMAF)",
        "codecs": [[["H264", "HEVC"], ["AAC", "MP3"]]],
        "methods": [
            {"handler": "http", "type": "dash/video/mp4", "priority": 8, "url_rel": "/cmaf/$/index.mpd"},
            {"handler": "http", "type": "html5/application/vnd.apple.mpegurl;version=7", "priority": 8, "url_rel": "/cmaf/$/index.m3u8"}
        ],
        "url_rel": "/cmaf/$/index.mpd",
        "url_prefix": "/cmaf/$/",
        "required": {}, "optional": {}
    })
});

pub const MP4: ConnectorSpec = http_output(
    "MP4",
    "Progressive fragmented MP4 at /STREAM.mp4 (plays live in a browser video element).",
    true,
    || {
        json!({
            "friendly": "MP4 over HTTP",
            "codecs": [[["H264", "HEVC"], ["AAC", "MP3"]]],
            "methods": [{"handler": "http", "type": "html5/video/mp4", "priority": 9, "url_rel": "/$.mp4"}],
            "url_rel": "/$.mp4",
            "url_match": ["/$.mp4", "/$.fmp4"],
            "push_urls": ["/*.mp4", "/*.fmp4"],
            "required": {}, "optional": {}
        })
    },
);

pub const HTTPTS: ConnectorSpec = http_output(
    "HTTPTS",
    "Progressive MPEG-TS at /STREAM.ts.",
    true,
    || {
        json!({
            "friendly": "TS over HTTP",
            "codecs": [[["H264", "HEVC"], ["AAC", "MP3"]]],
            "methods": [{"handler": "http", "type": "html5/video/mpeg", "priority": 1, "url_rel": "/$.ts"}],
            "url_rel": "/$.ts",
            "url_match": "/$.ts",
            "push_urls": ["/*.ts"],
            "required": {}, "optional": {}
        })
    },
);

pub const MP3: ConnectorSpec = http_output(
    "MP3",
    "Progressive MP3 audio at /STREAM.mp3.",
    true,
    || {
        json!({
            "friendly": "MP3 over HTTP",
            "codecs": [[["MP3"]]],
            "methods": [{"handler": "http", "type": "html5/audio/mpeg", "priority": 8, "url_rel": "/$.mp3"}],
            "url_rel": "/$.mp3",
            "push_urls": ["/*.mp3"],
            "url_match": "/$.mp3",
            "required": {}, "optional": {}
        })
    },
);

pub const AAC: ConnectorSpec = http_output(
    "AAC",
    "Progressive AAC audio (ADTS) at /STREAM.aac.",
    true,
    || {
        json!({
            "friendly": "AAC over HTTP",
            "codecs": [[["AAC"]]],
            "methods": [{"handler": "http", "type": "html5/audio/aac", "priority": 8, "url_rel": "/$.aac"}],
            "url_rel": "/$.aac",
            "push_urls": ["/*.aac"],
            "url_match": "/$.aac",
            "required": {}, "optional": {}
        })
    },
);

pub const OGG: ConnectorSpec = http_output(
    "OGG",
    "Progressive Ogg (Theora video, Opus or Vorbis audio) at /STREAM.ogg.",
    true,
    || {
        json!({
            "friendly": "OGG over HTTP",
            "codecs": [[["theora"], ["opus", "vorbis"]]],
            "methods": [{"handler": "http", "type": "html5/video/ogg", "priority": 8, "url_rel": "/$.ogg"}],
            "url_rel": "/$.ogg",
            "url_match": "/$.ogg",
            "required": {}, "optional": {}
        })
    },
);

pub const WAV: ConnectorSpec = http_output(
    "WAV",
    "Progressive WAV audio (MP3, PCM, A-law or mu-law) at /STREAM.wav.",
    true,
    || {
        json!({
            "friendly": "WAV over HTTP",
            "codecs": [[["MP3", "PCM", "ALAW", "ULAW"]]],
            "methods": [{"handler": "http", "type": "html5/audio/wav", "priority": 1, "url_rel": "/$.wav"}],
            "url_rel": "/$.wav",
            "url_match": "/$.wav",
            "required": {}, "optional": {}
        })
    },
);
