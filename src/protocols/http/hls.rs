//! HLS over MPEG-TS (facts §9.2, §9.4): `/hls/STREAM/index.m3u8` (master),
//! `/hls/STREAM/<video>_<audio>/index.m3u8` (media playlist) and
//! `/hls/STREAM/<video>_<audio>/<from>_<until>_<generation>.ts` (segments, times in ms; the
//! generation pins the bytes for caches, see [`super::segmented`], and MistServer's
//! `<from>_<until>.ts` is served too).
//!
//! Live, segments are the buffer's fragments (cut at keyframes, at least `segmentsize` long),
//! muxed to MPEG-TS by the first viewer that asks and cached on the fragment, so every viewer
//! gets the same bytes; a segment that fell out of the buffer answers `404 Fragment out of
//! range`, and playlists are answered once the stream has a fragment (waiting up to 20 s). A
//! file's playlist is complete (`EXT-X-PLAYLIST-TYPE:VOD`, `EXT-X-ENDLIST`), its segments cut
//! from the file's index the same way and built from the file on request.
//!
//! The master lists one variant per video track (ABR), each with the first audio track muxed
//! in. When there are several audio tracks they are an `EXT-X-MEDIA` audio group: the first one
//! is the muxed audio (no URI), each other has its own audio-only playlist (`<audio>/...`).
//! `?video=` and `?audio=` on the master choose which tracks it lists. The request flow is
//! [`super::segmented`]'s; this file has the URLs, the playlists and the muxing.

use bytes::Bytes;

use super::segmented::{split_generation, tracks_key, Answer, Ask, Format, Opened};
use super::Response;
use crate::hub::fragments::Fragment;
use crate::media::{m3u8, ts, Packet, Track, TrackKind};

/// The `Content-Type` of HLS playlists.
pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";

/// HLS over MPEG-TS, as a [`Format`] of the segmented skeleton.
pub struct Hls;

impl Format for Hls {
    const PROTOCOL: &'static str = "HLS";
    const SEGMENT_TYPE: &'static str = "video/mp2t";

    fn ask(tail: &[&str]) -> Ask {
        match tail {
            ["index.m3u8"] | [_, "index.m3u8"] => Ask::Playlist,
            [_, file] if file.ends_with(".ts") => Ask::File,
            _ => Ask::Nothing("No such HLS resource"),
        }
    }

    fn answer(tail: &[&str], stream: &Opened) -> Answer {
        let missing = || Answer::Done(Response::missing("No such HLS resource"));
        match tail {
            ["index.m3u8"] => Answer::Done(master(stream)),
            [folder, "index.m3u8"] => match stream.folder_tracks(folder) {
                Some(_) => Answer::Done(media(stream)),
                None => missing(),
            },
            // `<from>_<until>[_<generation>].ts`: the fragment starting at `from` (tracks that
            // left the stream took their segments with them).
            [folder, file] => {
                let Some(tracks) = stream.folder_tracks(folder) else {
                    return Answer::Done(Response::out_of_range());
                };
                let (times, generation) = split_generation(file.trim_end_matches(".ts"), 2);
                match times.split('_').next().and_then(|v| v.parse().ok()) {
                    Some(start_ms) => Answer::Segment {
                        start_ms,
                        tracks,
                        generation,
                    },
                    None => Answer::Done(Response::out_of_range()),
                }
            }
            _ => missing(),
        }
    }

    fn build(tracks: &[Track], _: &Fragment, packets: &[&Packet]) -> Result<Bytes, String> {
        ts::segment(tracks, packets).map_err(|e| e.to_string())
    }
}

/// Bytes per second of each of the stream's tracks: a file's averages, or for a live stream
/// what its buffer holds over the buffer's span.
pub fn track_bps(stream: &Opened) -> Vec<(u32, u64)> {
    if stream.vod.is_some() {
        return stream.all.iter().map(|t| (t.id, t.bps)).collect();
    }
    let s = stream.buffer.stats();
    let span = (s.lastms - s.firstms).max(1) as u64;
    let mut bytes: Vec<(u32, u64)> = stream.all.iter().map(|t| (t.id, 0)).collect();
    for e in stream.buffer.packets(0, u64::MAX) {
        if let Some(b) = bytes.iter_mut().find(|(id, _)| *id == e.packet.track) {
            b.1 += e.packet.data.len() as u64;
        }
    }
    bytes.iter().map(|&(id, b)| (id, b * 1000 / span)).collect()
}

/// Peak bits per second of a variant carrying `tracks`: their average rates, with a tenth on
/// top (at least 1).
pub fn bandwidth(bps: &[(u32, u64)], tracks: &[&Track]) -> u64 {
    let bytes: u64 = tracks
        .iter()
        .filter_map(|t| bps.iter().find(|(id, _)| *id == t.id))
        .map(|(_, b)| b)
        .sum();
    (bytes * 8 * 11 / 10).max(1)
}

/// The variant of a master playlist carrying `tracks`.
pub fn variant(
    bps: &[(u32, u64)],
    tracks: &[&Track],
    uri: String,
    audio_group: Option<String>,
) -> m3u8::Variant {
    let video = tracks.iter().find(|t| t.kind() == Some(TrackKind::Video));
    m3u8::Variant {
        uri,
        bandwidth: bandwidth(bps, tracks),
        codecs: tracks
            .iter()
            .map(|t| t.codec_string.as_str())
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join(","),
        resolution: video.filter(|v| v.width > 0).map(|v| (v.width, v.height)),
        frame_rate: video
            .filter(|v| v.fpks > 0)
            .map(|v| f64::from(v.fpks) / 1000.0),
        audio_group,
    }
}

/// The chosen video and audio tracks.
pub fn split(tracks: &[Track]) -> (Vec<&Track>, Vec<&Track>) {
    let of = |kind| tracks.iter().filter(|t| t.kind() == Some(kind)).collect();
    (of(TrackKind::Video), of(TrackKind::Audio))
}

/// An audio rendition's name: its language, else its track id.
pub fn audio_name(t: &Track) -> String {
    if t.lang.is_empty() {
        format!("audio {}", t.id)
    } else {
        t.lang.clone()
    }
}

/// The master playlist: a variant per video track (or one for the first audio track).
fn master(stream: &Opened) -> Response {
    let suffix = &stream.suffix;
    let bps = track_bps(stream);
    let (videos, audios) = split(&stream.tracks);
    let group = (!videos.is_empty() && audios.len() > 1).then(|| "aud".to_string());
    let renditions: Vec<m3u8::AudioRendition> = match &group {
        Some(g) => audios
            .iter()
            .enumerate()
            .map(|(i, a)| m3u8::AudioRendition {
                group: g.clone(),
                name: audio_name(a),
                uri: (i > 0).then(|| format!("{}/index.m3u8{suffix}", a.id)),
                language: (!a.lang.is_empty()).then(|| a.lang.clone()),
                default: i == 0,
            })
            .collect(),
        None => Vec::new(),
    };
    let first_audio = audios.first().copied();
    let variants: Vec<m3u8::Variant> = if videos.is_empty() {
        first_audio
            .map(|a| variant(&bps, &[a], format!("{}/index.m3u8{suffix}", a.id), None))
            .into_iter()
            .collect()
    } else {
        videos
            .iter()
            .map(|&v| {
                let tracks: Vec<&Track> = std::iter::once(v).chain(first_audio).collect();
                let owned: Vec<Track> = tracks.iter().map(|t| (*t).clone()).collect();
                let uri = format!("{}/index.m3u8{suffix}", tracks_key(&owned));
                variant(&bps, &tracks, uri, group.clone())
            })
            .collect()
    };
    if variants.is_empty() {
        return Response::missing("the stream has no track HLS can carry");
    }
    Response::ok(PLAYLIST_TYPE, m3u8::master(&variants, &renditions, 3))
}

/// The media playlist of the `<from>_<until>_<generation>.ts` segments: live, the buffer's
/// window; for a file, all of them.
fn media(stream: &Opened) -> Response {
    let suffix = &stream.suffix;
    let tag = stream.segment_tag();
    let mut pl = playlist(
        &stream.fragments(),
        |f| format!("{}_{}{tag}.ts{suffix}", f.start_ms, f.end_ms),
        None,
        3,
        stream.ended(),
    );
    pl.vod = stream.vod.is_some();
    Response::ok(PLAYLIST_TYPE, m3u8::media(&pl))
}

/// A media playlist over `fragments`, naming each segment with `uri`.
pub fn playlist(
    fragments: &[std::sync::Arc<Fragment>],
    uri: impl Fn(&Fragment) -> String,
    map_uri: Option<String>,
    version: u8,
    ended: bool,
) -> m3u8::MediaPlaylist {
    m3u8::MediaPlaylist {
        version,
        vod: false,
        media_sequence: fragments.first().map(|f| f.number).unwrap_or(0),
        discontinuity_sequence: fragments.first().map(|f| f.discontinuity_seq).unwrap_or(0),
        map_uri,
        segments: fragments
            .iter()
            .map(|f| m3u8::Segment {
                uri: uri(f),
                duration_ms: f.duration_ms(),
                discontinuity: f.discontinuity,
            })
            .collect(),
        ended,
    }
}
