//! HLS (TS and fMP4) and DASH of on-demand files: complete playlists over keyframe-aligned
//! segments built from the file, and a static MPD, played by ffprobe.

use std::path::Path;
use std::time::Duration;

use crate::common::LiveServer;
use crate::{assert_same_media, file, probe, scratch, server, stream, streams, FRAME};

/// GETs `path` from the HTTP output: status and body.
pub fn get(ls: &LiveServer, path: &str) -> (u16, Vec<u8>) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let resp = client
        .get(format!("http://127.0.0.1:{}{path}", ls.http))
        .send()
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.bytes().expect("body").to_vec())
}

pub fn master(ls: &LiveServer, path: &str) -> m3u8_rs::MasterPlaylist {
    let (status, body) = get(ls, path);
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    match m3u8_rs::parse_playlist_res(&body) {
        Ok(m3u8_rs::Playlist::MasterPlaylist(m)) => m,
        other => panic!("{path}: not a master playlist: {other:?}"),
    }
}

pub fn media_playlist(ls: &LiveServer, path: &str) -> m3u8_rs::MediaPlaylist {
    let (status, body) = get(ls, path);
    assert_eq!(status, 200, "{path}");
    match m3u8_rs::parse_playlist_res(&body) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(p)) => p,
        other => panic!("{path}: not a media playlist: {other:?}"),
    }
}

/// `base` (a folder URL path ending in `/`) joined with a playlist's relative `uri`.
pub fn join(base: &str, uri: &str) -> String {
    format!("{base}{uri}")
}

/// The file's length as ffprobe tells it, s.
fn duration(path: &Path) -> f64 {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a duration")
}

/// Like [`assert_same_media`], for ffmpeg 5.1's DASH reader, which leaves out a stream's very
/// last packet when it ends after the video (the same segments played as HLS-fMP4 have it):
/// one packet fewer is accepted, and the span then within two frames.
fn assert_dash_media(what: &str, got: &[crate::Probed], source: &[crate::Probed]) {
    assert_eq!(got.len(), source.len(), "{what}: {got:?}");
    for src in source {
        let s = stream(got, &src.codec);
        assert!(
            s.packets == src.packets || s.packets + 1 == src.packets,
            "{what}: {} has {} packets, the source {}",
            src.codec,
            s.packets,
            src.packets
        );
        assert!(
            (s.span() - src.span()).abs() <= 2.0 * FRAME,
            "{what}: {s:?} {src:?}"
        );
    }
}

/// The media playlist of a file: complete, its segments cover the file, each starts with a
/// keyframe.
fn check_vod_playlist(ls: &LiveServer, name: &str, source: &Path, dir: &Path) {
    let m = master(ls, &format!("/hls/{name}/index.m3u8"));
    assert_eq!(m.variants.len(), 1, "{m:?}");
    let uri = &m.variants[0].uri;
    let folder = uri.split('/').next().expect("a folder");
    let base = format!("/hls/{name}/{folder}/");
    let pl = media_playlist(ls, &join(&format!("/hls/{name}/"), uri));
    assert_eq!(pl.playlist_type, Some(m3u8_rs::MediaPlaylistType::Vod));
    assert!(pl.end_list, "ENDLIST");
    assert!(pl.segments.len() >= 5, "{} segments", pl.segments.len());
    for s in &pl.segments {
        assert!(
            f64::from(s.duration) <= pl.target_duration as f64,
            "{} longer than the target {}",
            s.duration,
            pl.target_duration
        );
    }
    let total: f64 = pl.segments.iter().map(|s| f64::from(s.duration)).sum();
    let want = duration(source);
    assert!(
        (total - want).abs() <= FRAME,
        "segments last {total:.3} s, the file {want:.3} s"
    );
    for (i, s) in pl.segments.iter().enumerate() {
        let (status, body) = get(ls, &join(&base, &s.uri));
        assert_eq!(status, 200, "segment {i}");
        let at = dir.join(format!("{name}-{i}.ts"));
        std::fs::write(&at, &body).expect("write");
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
            .args(["packet=flags", "-of", "csv=p=0", "-read_intervals", "%+#1"])
            .arg(&at)
            .output()
            .expect("ffprobe");
        let flags = String::from_utf8_lossy(&out.stdout);
        assert!(
            flags.trim_start().starts_with('K'),
            "segment {i} starts with {flags:?}"
        );
    }
}

#[test]
fn hls_of_a_file_is_a_complete_playlist_of_keyframe_segments() {
    let source = file("av.mp4");
    let ls = server(streams(&[("film", &source)]));
    let dir = scratch();
    check_vod_playlist(&ls, "film", &source, dir.path());
    // ffprobe plays the whole playlist: the file's packets, codecs and spans.
    let url = format!("http://127.0.0.1:{}/hls/film/index.m3u8", ls.http);
    assert_same_media("HLS", &probe(Path::new(&url)), &probe(&source));
    // A segment that is not one of the file's.
    let (status, _) = get(&ls, "/hls/film/1_2/1_2000.ts");
    assert_eq!(status, 404);
}

#[test]
fn dash_and_hls_fmp4_of_a_file_play_whole() {
    let source = file("av.mp4");
    let ls = server(streams(&[("film", &source)]));
    let (status, mpd) = get(&ls, "/cmaf/film/index.mpd");
    assert_eq!(status, 200);
    let mpd = String::from_utf8_lossy(&mpd).to_string();
    assert!(mpd.contains("type=\"static\""), "{mpd}");
    assert!(mpd.contains("mediaPresentationDuration=\"PT"), "{mpd}");
    assert!(!mpd.contains("minimumUpdatePeriod"), "{mpd}");
    assert!(mpd.contains("<SegmentTimeline>"), "{mpd}");
    let want = probe(&source);
    let url = format!("http://127.0.0.1:{}/cmaf/film/index.m3u8", ls.http);
    assert_same_media("HLS-fMP4", &probe(Path::new(&url)), &want);
    let url = format!("http://127.0.0.1:{}/cmaf/film/index.mpd", ls.http);
    assert_dash_media("DASH", &probe(Path::new(&url)), &want);
    let pl = media_playlist(&ls, "/cmaf/film/1/index.m3u8");
    assert_eq!(pl.playlist_type, Some(m3u8_rs::MediaPlaylistType::Vod));
    assert!(pl.end_list);
}

#[test]
fn hls_of_an_hevc_file() {
    let source = crate::tracks::multi("hevc.mp4");
    let ls = server(streams(&[("hevc", &source)]));
    let dir = scratch();
    check_vod_playlist(&ls, "hevc", &source, dir.path());
    let url = format!("http://127.0.0.1:{}/hls/hevc/index.m3u8", ls.http);
    let got = probe(Path::new(&url));
    stream(&got, "hevc");
    stream(&got, "aac");
    let url = format!("http://127.0.0.1:{}/cmaf/hevc/index.mpd", ls.http);
    assert_dash_media("DASH HEVC", &probe(Path::new(&url)), &probe(&source));
}
