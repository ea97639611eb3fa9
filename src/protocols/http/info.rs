//! The stream info handlers (manual §4.3, facts §9.3): `/json_STREAM.js` (stream status and
//! metadata as JSON), `/info_STREAM.js` (the same as a script setting `mistvideo['STREAM']`),
//! `/embed_STREAM.js` (a script that plays the stream in the page) and `/STREAM.html` (a page
//! that plays it with no plugin).
//!
//! `source` lists every enabled output that can carry the stream's tracks, ordered as MistServer
//! does: most simultaneous tracks, then priority, then URL. An on-demand stream is `type`
//! `vod`, with `meta.vod` set and each track's `firstms`/`lastms` its span in the file (the
//! duration is the largest `lastms`); a look at one loads it (its index), since it has nothing
//! else to wait for. A plain GET does not start a live stream:
//! offline streams answer `{"error":"Stream is offline"}`, unknown ones
//! `{"error":"Could not retrieve stream. Sorry.","error_guru":...}` with status
//! `200 Stream not found`.

use serde_json::{json, Map, Value};

use super::{Request, Response, Status};
use crate::hub::buffer::LiveBuffer;
use crate::hub::StreamError;
use crate::media::{Track, TrackKind};
use crate::protocols::{self, ListenerContext};

/// The JSON for a stream, or the documented error object; the status to answer with.
pub async fn stream_info(req: &Request, raw_name: &str, ctx: &ListenerContext) -> (Status, Value) {
    match ctx.hub.open_buffer(raw_name, false).await {
        Ok((name, buffer)) => (Status::Ok, describe_or_wait(req, &name, &buffer, ctx)),
        Err(e) => error_info(&e),
    }
}

/// The `json_` object of an open stream, or the error of one that has no data yet.
pub fn describe_or_wait(
    req: &Request,
    name: &str,
    buffer: &LiveBuffer,
    ctx: &ListenerContext,
) -> Value {
    let on_demand = buffer.vod_duration().is_some();
    if buffer.meta().tracks.is_empty() || (!on_demand && buffer.stats().packets == 0) {
        return json!({"error": "Stream is waiting for data"});
    }
    describe(req, name, buffer, ctx)
}

/// The `json_` answer for a stream that could not be opened.
pub fn error_info(e: &StreamError) -> (Status, Value) {
    match e {
        StreamError::Offline(_) => (Status::Ok, json!({"error": "Stream is offline"})),
        e => (
            Status::StreamNotFound,
            json!({"error": "Could not retrieve stream. Sorry.", "error_guru": e.to_string()}),
        ),
    }
}

/// How long a `json_`/`info_` answer may be kept by any cache: it follows the stream's state,
/// so briefly (a page of many players asks a cache in front once a second at most).
pub const INFO_MAX_AGE_S: i64 = 1;

/// `json_STREAM.js`.
pub async fn json(req: &Request, name: &str, ctx: &ListenerContext) -> Response {
    let (status, v) = stream_info(req, name, ctx).await;
    Response::new(status)
        .body("application/json", v.to_string())
        .cache_for(INFO_MAX_AGE_S, true, false)
}

/// `info_STREAM.js`.
pub async fn info_js(req: &Request, name: &str, ctx: &ListenerContext) -> Response {
    let (status, v) = stream_info(req, name, ctx).await;
    let key = js_string(&crate::stream_name::sanitize(name));
    let body = format!("if (!mistvideo){{var mistvideo ={{}};}}\nmistvideo[{key}] = {v};\n");
    Response::new(status)
        .body("application/javascript", body)
        .cache_for(INFO_MAX_AGE_S, true, false)
}

/// A JSON string literal (also a valid JavaScript string literal).
fn js_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// `embed_STREAM.js`: the player ([`PLAYER_JS`]) and its call for `STREAM` in the element
/// `#mistvideo_STREAM`, made when the page has none.
pub fn embed_js(name: &str) -> Response {
    let name = js_string(&crate::stream_name::sanitize(name));
    let body = format!("{PLAYER_JS}{}", EMBED_JS.replace("__STREAM__", &name));
    Response::ok("application/javascript", body)
}

/// `STREAM.html`: a page with the embed script.
pub fn html(raw_name: &str) -> Response {
    let name = crate::stream_name::sanitize(raw_name);
    let escaped: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '+' {
                c.to_string()
            } else {
                format!("&#{};", c as u32)
            }
        })
        .collect();
    let url_name = url_name(&name);
    let body = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{escaped}</title>\
         <style>body{{margin:0;background:#000;color:#ccc;font-family:sans-serif}}\
         #mistvideo_{id}{{width:100vw;height:100vh}}video{{width:100%;height:100%}}</style></head>\
         <body><div id=\"mistvideo_{id}\"></div><script src=\"/embed_{url_name}.js\"></script></body></html>\n",
        id = escaped
    );
    Response::ok("text/html; charset=utf-8", body)
}

/// `embed_STREAM.js`: the player, then a call of it for `STREAM` in `#mistvideo_STREAM` (made
/// before the script when the page has none).
const EMBED_JS: &str = r#"(function () {
  var stream = __STREAM__;
  var script = document.currentScript;
  var box = document.getElementById("mistvideo_" + stream);
  if (!box) {
    box = document.createElement("div");
    box.id = "mistvideo_" + stream;
    if (script && script.parentNode) { script.parentNode.insertBefore(box, script); } else { document.body.appendChild(box); }
  }
  window.mistPlay(stream, { target: box });
})();
"#;

/// `/player.js`: Eddy's player, answering MistServer's embed code, which loads this script and
/// calls `mistPlay("STREAM", {target: element})` (options also: `host`, the HTTP output's base
/// URL, by default where the script came from; `autoplay`, `controls`, `loop`, `muted`,
/// `poster`). It asks `json_STREAM.js` for the sources and plays the best one a `<video>` takes
/// natively (MP4, then HLS where the browser plays it, then TS), trying again every 3 s while
/// the stream is offline or playback fails. `window.mistplayers` names it.
const PLAYER_JS: &str = r#"(function () {
  var script = document.currentScript;
  var scriptBase = script && script.src ? script.src.replace(/\/[^\/]*$/, "") : "";
  window.mistplayers = window.mistplayers || {};
  window.mistplayers.eddy = { name: "Eddy's HTML5 player" };
  if (window.mistPlay) { return; }
  function order(sources) {
    var probe = document.createElement("video");
    var ok = [];
    sources.forEach(function (s) {
      if (s.type === "html5/video/mp4") { ok.push([3, s]); }
      else if (s.type === "html5/application/vnd.apple.mpegurl" && probe.canPlayType("application/vnd.apple.mpegurl")) { ok.push([2, s]); }
      else if (s.type === "html5/video/mpeg" && probe.canPlayType("video/mp2t")) { ok.push([1, s]); }
    });
    ok.sort(function (a, b) { return b[0] - a[0]; });
    return ok.map(function (x) { return x[1]; });
  }
  window.mistPlay = function (stream, options) {
    options = options || {};
    var box = options.target;
    if (typeof box === "string") { box = document.getElementById(box); }
    if (!box) { box = document.createElement("div"); document.body.appendChild(box); }
    var base = (options.host || scriptBase).replace(/\/$/, "");
    var yes = function (v, dflt) { return v === undefined ? dflt : !!v; };
    var autoplay = yes(options.autoplay, true);
    var status = document.createElement("div");
    status.className = "eddy-status";
    box.appendChild(status);
    function play(info) {
      var choices = order(info.source || []);
      if (!choices.length) { status.textContent = "No source this browser can play."; return; }
      status.textContent = "";
      var video = document.createElement("video");
      video.controls = yes(options.controls, true);
      video.autoplay = autoplay;
      video.muted = yes(options.muted, autoplay);
      video.loop = yes(options.loop, false);
      video.playsInline = true;
      if (options.poster) { video.poster = options.poster; }
      video.style.width = "100%";
      video.src = choices[0].url;
      video.addEventListener("error", function () { box.removeChild(video); setTimeout(load, 3000); });
      box.appendChild(video);
      if (autoplay) { var p = video.play(); if (p && p.catch) { p.catch(function () {}); } }
    }
    function load() {
      var xhr = new XMLHttpRequest();
      xhr.open("GET", base + "/json_" + encodeURIComponent(stream) + ".js");
      xhr.onload = function () {
        var info;
        try { info = JSON.parse(xhr.responseText); } catch (e) { info = { error: "Bad answer" }; }
        if (info.error) { status.textContent = info.error; setTimeout(load, 3000); return; }
        play(info);
      };
      xhr.onerror = function () { status.textContent = "Cannot reach the server"; setTimeout(load, 3000); };
      xhr.send();
    }
    load();
  };
})();
"#;

/// `/player.js`: the player MistServer's embed code loads ([`PLAYER_JS`]).
pub fn player_js() -> Response {
    Response::ok("application/javascript", PLAYER_JS)
}

/// MistServer's track key: `video_H264_640x360_25fps_1`, `audio_AAC_2ch_44100hz_2`.
fn track_key(t: &Track, idx: usize) -> String {
    let codec = t.codec.map(|c| c.mist_name()).unwrap_or("unknown");
    match t.kind() {
        Some(TrackKind::Video) => format!(
            "video_{codec}_{}x{}_{}fps_{idx}",
            t.width,
            t.height,
            (t.fpks + 500) / 1000
        ),
        Some(TrackKind::Audio) => format!("audio_{codec}_{}ch_{}hz_{idx}", t.channels, t.rate),
        _ => format!("metadata_{idx}"),
    }
}

/// Binary data as a JSON string of code points 0-255 (as MistServer sends `init`).
fn binary_string(b: &[u8]) -> String {
    b.iter().map(|&x| x as char).collect()
}

/// The `json_` object for a stream with data.
pub fn describe(req: &Request, name: &str, buffer: &LiveBuffer, ctx: &ListenerContext) -> Value {
    let meta = buffer.meta_with_times();
    let stats = buffer.stats();
    let on_demand = buffer.vod_duration().is_some();
    let span = (stats.lastms - stats.firstms).max(1) as u64;
    let live_bps = stats.bytes as u64 * 1000 / span / meta.tracks.len().max(1) as u64;
    let mut tracks = Map::new();
    let (mut width, mut height) = (0u32, 0u32);
    for (i, t) in meta.tracks.iter().enumerate() {
        let bps = if on_demand { t.bps } else { live_bps };
        let mut v = json!({
            "codec": t.codec.map(|c| c.mist_name()).unwrap_or("unknown"),
            "codecstring": t.codec_string,
            "idx": i,
            "trackid": t.id,
            "init": binary_string(&t.init),
            "firstms": t.firstms,
            "lastms": t.lastms,
            "nowms": t.lastms,
            "bps": bps,
            "maxbps": bps,
        });
        match t.kind() {
            Some(TrackKind::Video) => {
                width = width.max(t.width);
                height = height.max(t.height);
                let fps = t.fpks / 1000;
                v["type"] = json!("video");
                v["width"] = json!(t.width);
                v["height"] = json!(t.height);
                v["fpks"] = json!(t.fpks);
                v["efpks"] = json!(t.fpks);
                v["fps"] = json!(fps);
                v["efps"] = json!(fps);
            }
            Some(TrackKind::Audio) => {
                v["type"] = json!("audio");
                v["rate"] = json!(t.rate);
                v["size"] = json!(t.size);
                v["channels"] = json!(t.channels);
            }
            _ => v["type"] = json!("meta"),
        }
        tracks.insert(track_key(t, i), v);
    }
    if width == 0 {
        (width, height) = if meta.has_video() {
            (640, 480)
        } else {
            (640, 20)
        };
    }
    let mut info = json!({
        "selver": 2,
        "capa": {"selver": 2, "ssl": false},
        "type": "live",
        "width": width,
        "height": height,
        "meta": {"tracks": tracks, "live": 1, "version": 4, "buffer_window": stats.lastms - stats.firstms, "bframes": 0},
        "source": sources(req, (name, on_demand), &meta.tracks, ctx),
    });
    if on_demand {
        info["type"] = json!("vod");
        info["meta"] =
            json!({"tracks": info["meta"]["tracks"].take(), "vod": 1, "version": 4, "bframes": 0});
        // Eddy's addition: the file's tracks it cannot carry, by name (MistServer has no key
        // for them; players ignore it).
        let left_out = buffer
            .described_file()
            .map(|(file, _)| file.index.skipped.clone())
            .unwrap_or_default();
        if !left_out.is_empty() {
            info["meta"]["unsupported_tracks"] = json!(left_out);
        }
    } else if let Some(z) = buffer.zero_unix_ms() {
        info["unixoffset"] = json!(z);
    }
    info
}

/// The `source` list: one entry per method of every enabled output that carries a track (and
/// plays files, for an on-demand stream).
fn sources(
    req: &Request,
    (name, on_demand): (&str, bool),
    tracks: &[Track],
    ctx: &ListenerContext,
) -> Vec<Value> {
    let host_header = req.header("host").unwrap_or("localhost");
    let hostname = if host_header.starts_with('[') {
        host_header
            .split_inclusive(']')
            .next()
            .unwrap_or(host_header)
    } else {
        host_header.split(':').next().unwrap_or(host_header)
    };
    let url_name = url_name(name);
    let mut out: Vec<(u64, i64, String, Value)> = Vec::new();
    for spec in protocols::catalogue() {
        let Some(entry) = ctx.entry(spec.name) else {
            continue;
        };
        if on_demand && !spec.on_demand {
            continue;
        }
        let caps = (spec.capabilities)();
        let simul = carried(&caps, tracks);
        if simul == 0 {
            continue;
        }
        for m in caps
            .get("methods")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(kind) = m.get("type").and_then(Value::as_str) else {
                continue;
            };
            let rel = m
                .get("url_rel")
                .or(caps.get("url_rel"))
                .and_then(Value::as_str)
                .unwrap_or("/$")
                .replace('$', &url_name);
            let priority = m.get("priority").and_then(Value::as_i64).unwrap_or(0);
            let url = match m.get("handler").and_then(Value::as_str) {
                Some("rtmp") => {
                    let port = entry.get("port").and_then(Value::as_u64).unwrap_or(1935);
                    format!("rtmp://{hostname}:{port}{rel}")
                }
                Some("rtsp") => {
                    let port = entry
                        .get("port")
                        .and_then(Value::as_u64)
                        .unwrap_or(u64::from(crate::protocols::rtsp::DEFAULT_PORT));
                    format!("rtsp://{hostname}:{port}{rel}")
                }
                _ => format!("http://{host_header}{rel}"),
            };
            let src = json!({"type": kind, "relurl": rel, "priority": priority, "url": url, "simul_tracks": simul, "total_matches": simul, "hrn": caps.get("friendly").cloned().unwrap_or(Value::Null)});
            out.push((simul, priority, url, src));
        }
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    out.into_iter().map(|x| x.3).collect()
}

/// How many of the stream's tracks (one per codec slot) an output can carry.
fn carried(caps: &Value, tracks: &[Track]) -> u64 {
    let Some(sets) = caps.get("codecs").and_then(Value::as_array) else {
        return 0;
    };
    sets.iter()
        .filter_map(Value::as_array)
        .map(|slots| {
            slots
                .iter()
                .filter_map(Value::as_array)
                .filter(|slot| {
                    tracks.iter().any(|t| {
                        let name = t.codec.map(|c| c.mist_name()).unwrap_or("");
                        slot.iter()
                            .any(|c| c.as_str() == Some(name) || c.as_str() == Some("*"))
                    })
                })
                .count() as u64
        })
        .max()
        .unwrap_or(0)
}

/// A stream name for use in a URL path: letters, digits and `_` as they are, every other byte
/// percent-encoded.
fn url_name(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Codec;

    #[test]
    fn keys_and_matches() {
        let v = Track {
            id: 1,
            codec: Some(Codec::H264),
            width: 640,
            height: 360,
            fpks: 25_000,
            ..Default::default()
        };
        let a = Track {
            id: 2,
            codec: Some(Codec::Aac),
            rate: 44_100,
            channels: 2,
            ..Default::default()
        };
        assert_eq!(track_key(&v, 0), "video_H264_640x360_25fps_0");
        assert_eq!(track_key(&a, 1), "audio_AAC_2ch_44100hz_1");
        let caps = json!({"codecs": [[["H264", "HEVC"], ["AAC", "MP3"]]]});
        assert_eq!(carried(&caps, &[v.clone(), a.clone()]), 2);
        assert_eq!(carried(&json!({"codecs": [[["MP3"]]]}), &[v, a]), 0);
        assert_eq!(
            binary_string(&[0, 255])
                .chars()
                .map(|c| c as u32)
                .collect::<Vec<_>>(),
            vec![0, 255]
        );
    }
}
