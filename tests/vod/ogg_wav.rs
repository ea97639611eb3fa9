//! Ogg and WAV: Ogg files (Opus; Theora with Vorbis) play as `.ogg`, an MP3 file and a WAV PCM
//! file play as `.wav`, each checked with ffprobe; a live AAC stream answers `.ogg` with a
//! clear error; `json_` lists the `.ogg` source.

use std::path::Path;

use serde_json::{json, Value};

use crate::common::{media, LiveServer};
use crate::{download, ffmpeg, file, probe, scratch, stream, streams, Probed};

/// A server with the Ogg and WAV outputs (and MP3 for comparison), RTMP, and these streams.
fn server(streams: Value) -> LiveServer {
    LiveServer::start_with_outputs(streams, &["OGG", "WAV", "MP3", "FLV"])
}

/// Makes `name` in `dir` with ffmpeg's `args` (inputs and codecs).
fn make(dir: &Path, name: &str, args: &str) -> std::path::PathBuf {
    let out = dir.join(name);
    let mut all: Vec<&str> = args.split_whitespace().collect();
    let path = out.to_string_lossy().into_owned();
    all.push(&path);
    ffmpeg(&all);
    out
}

/// Checks one stream of an answer against the source's: codec, packet count, span within a
/// frame (`tolerance`, s).
fn same(what: &str, got: &Probed, src: &Probed, tolerance: f64) {
    assert_eq!(got.codec, src.codec, "{what}");
    assert_eq!(got.packets, src.packets, "{what}: packets");
    assert!(
        (got.span() - src.span()).abs() <= tolerance,
        "{what}: lasts {:.3} s, the source {:.3} s",
        got.span(),
        src.span()
    );
}

#[test]
fn ogg_files_play_as_ogg_and_json_lists_it() {
    let dir = scratch();
    let opus = make(
        dir.path(),
        "tone.opus",
        "-f lavfi -i sine=sample_rate=48000 -t 4 -c:a libopus -f ogg",
    );
    let tv = make(
        dir.path(),
        "tv.ogg",
        "-f lavfi -i testsrc=size=160x120:rate=25 -f lavfi -i sine=sample_rate=44100 -t 4 \
         -c:v libtheora -g 25 -c:a libvorbis -f ogg",
    );
    let ls = server(streams(&[("tone", &opus), ("tv", &tv)]));
    let out = dir.path().join("tone-out.ogg");
    assert_eq!(download(&ls, "/tone.ogg", &out), 200);
    let got = probe(&out);
    assert_eq!(got.len(), 1, "{got:?}");
    // Opus: within one 20 ms frame.
    same("Opus", &got[0], &probe(&opus)[0], 0.021);

    let out = dir.path().join("tv-out.ogg");
    assert_eq!(download(&ls, "/tv.ogg", &out), 200);
    let got = probe(&out);
    let source = probe(&tv);
    assert_eq!(got.len(), 2, "{got:?}");
    same(
        "Theora",
        stream(&got, "theora"),
        stream(&source, "theora"),
        0.041,
    );
    assert_eq!(
        stream(&got, "theora").keyframes,
        stream(&source, "theora").keyframes
    );
    same(
        "Vorbis",
        stream(&got, "vorbis"),
        stream(&source, "vorbis"),
        0.05,
    );
    // The answer ends with an EOS page for each stream.
    let bytes = std::fs::read(&out).unwrap();
    let eos = bytes
        .windows(6)
        .filter(|w| &w[..4] == b"OggS" && w[5] & 4 != 0)
        .count();
    assert_eq!(eos, 2);

    let body = reqwest::blocking::get(format!("http://127.0.0.1:{}/json_tv.js", ls.http))
        .unwrap()
        .text()
        .unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    let ogg = v["source"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["url"].as_str().is_some_and(|u| u.ends_with("/tv.ogg")))
        .unwrap_or_else(|| panic!("no .ogg source: {v}"));
    assert_eq!(ogg["type"], "html5/video/ogg", "{v}");
    assert_eq!(ogg["simul_tracks"], 2, "{v}");
}

#[test]
fn mp3_and_wav_files_play_as_wav() {
    let dir = scratch();
    let pcm = make(
        dir.path(),
        "pcm.wav",
        "-f lavfi -i sine=sample_rate=44100 -t 3 -ac 2 -c:a pcm_s16le -f wav",
    );
    let mp3 = file("tone.mp3");
    let ls = server(streams(&[("pcm", &pcm), ("tone", &mp3)]));
    let out = dir.path().join("pcm-out.wav");
    assert_eq!(download(&ls, "/pcm.wav", &out), 200);
    let got = media::probe_file(&out);
    assert_eq!(got.codecs, vec!["pcm_s16le".to_string()]);
    // The same samples, in order (the file's data chunk, byte for byte: 3 s of them).
    let (a, b) = (std::fs::read(&out).unwrap(), std::fs::read(&pcm).unwrap());
    let data = |f: &[u8]| f.windows(4).position(|w| w == b"data").unwrap() + 8;
    assert_eq!(a.len() - data(&a), 3 * 44_100 * 4);
    assert!(a[data(&a)..] == b[data(&b)..], "the samples differ");

    let out = dir.path().join("tone-out.wav");
    assert_eq!(download(&ls, "/tone.wav", &out), 200);
    let got = probe(&out);
    let source = probe(&mp3);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].codec, "mp3");
    assert!(
        (got[0].packets as i64 - source[0].packets as i64).abs() <= 1,
        "{got:?} {source:?}"
    );
}

#[test]
fn a_live_aac_stream_has_no_ogg() {
    let ls = server(json!({"live": {"source": "push://"}}));
    let dir = scratch();
    let _publisher = media::publish(media::h264_clip(), &ls.rtmp_url("live", "live"), dir.path());
    assert!(ls.wait_online("live"), "{}", ls.server.stderr());
    let resp = reqwest::blocking::get(format!("http://127.0.0.1:{}/live.ogg", ls.http)).unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let body = resp.text().unwrap();
    assert!(body.contains("no Opus, Vorbis or Theora track"), "{body}");
    // And no WAV: AAC is not carried there either.
    let resp = reqwest::blocking::get(format!("http://127.0.0.1:{}/live.wav", ls.http)).unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}
