//! HLS over MPEG-TS (facts §9.2, §9.4): `/hls/STREAM/index.m3u8` (master),
//! `/hls/STREAM/<video>_<audio>/index.m3u8` (live media playlist) and
//! `/hls/STREAM/<video>_<audio>/<from>_<until>.ts` (segments, times in ms).
//!
//! Segments are the buffer's fragments (cut at keyframes, at least `segmentsize` long), muxed to
//! MPEG-TS by the first viewer that asks and cached on the fragment, so every viewer gets the
//! same bytes. A segment that fell out of the buffer answers `404 Fragment out of range`.
//! Playlists are answered once the stream has a fragment (waiting up to 20 s for one). The
//! request flow is [`super::segmented`]'s; this file has the URLs, the playlists and the muxing.

use bytes::Bytes;

use super::segmented::{Answer, Ask, Format, Opened};
use super::Response;
use crate::hub::buffer::LiveBuffer;
use crate::hub::fragments::Fragment;
use crate::media::{m3u8, ts, Packet, Track, TrackKind};

/// The `Content-Type` of HLS playlists.
pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";

/// HLS over MPEG-TS, as a [`Format`] of the segmented skeleton.
pub struct Hls;

impl Format for Hls {
    const PROTOCOL: &'static str = "HLS";
    const SEGMENT_TYPE: &'static str = "video/mp2t";
    type Built = TsSegment;

    fn ask(tail: &[&str]) -> Ask {
        match tail {
            ["index.m3u8"] | [_, "index.m3u8"] => Ask::Playlist,
            [_, file] if file.ends_with(".ts") => Ask::File,
            _ => Ask::Nothing("No such HLS resource"),
        }
    }

    fn answer(tail: &[&str], stream: &Opened) -> Answer {
        match tail {
            ["index.m3u8"] => Answer::Done(master(stream)),
            [_, "index.m3u8"] => Answer::Done(media(stream)),
            // `<from>_<until>.ts`: the fragment starting at `from`.
            [_, file] => match file
                .trim_end_matches(".ts")
                .split('_')
                .next()
                .and_then(|v| v.parse().ok())
            {
                Some(start_ms) => Answer::Segment { start_ms, key: 0 },
                None => Answer::Done(Response::out_of_range()),
            },
            _ => Answer::Done(Response::missing("No such HLS resource")),
        }
    }

    fn build(stream: &Opened, fragment: &Fragment) -> TsSegment {
        let entries = stream.buffer.packets(fragment.first_seq, fragment.end_seq);
        let packets: Vec<&Packet> = entries.iter().map(|e| &e.packet).collect();
        TsSegment(match ts::segment(&stream.tracks, &packets) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::warn!(
                    "HLS segment at {} of {}: {e}",
                    fragment.start_ms,
                    stream.name
                );
                None
            }
        })
    }

    fn pick(built: &TsSegment, _key: u32) -> Result<Bytes, Response> {
        built
            .0
            .clone()
            .ok_or_else(|| Response::internal("Segment could not be built"))
    }
}

/// A fragment's MPEG-TS segment, cached on the fragment (`None`: it could not be built).
pub struct TsSegment(Option<Bytes>);

/// The track-folder name of a selection: `<video>_<audio>` track ids.
pub fn tracks_folder(tracks: &[Track]) -> String {
    tracks
        .iter()
        .map(|t| t.id.to_string())
        .collect::<Vec<_>>()
        .join("_")
}

/// Average bits per second over what the buffer holds (at least 1).
pub fn bandwidth(buffer: &LiveBuffer) -> u64 {
    let s = buffer.stats();
    let span = (s.lastms - s.firstms).max(1) as u64;
    (s.bytes as u64 * 8 * 1000 / span).max(1)
}

/// The master playlist: one variant with the output's tracks.
fn master(stream: &Opened) -> Response {
    let uri = format!(
        "{}/index.m3u8{}",
        tracks_folder(&stream.tracks),
        stream.suffix
    );
    let variant = variant(&stream.buffer, &stream.tracks, uri, None);
    Response::ok(PLAYLIST_TYPE, m3u8::master(&[variant], &[], 3))
}

/// The live media playlist of the `<from>_<until>.ts` segments.
fn media(stream: &Opened) -> Response {
    let suffix = &stream.suffix;
    let body = m3u8::media(&playlist(
        &stream.buffer.fragments(),
        |f| format!("{}_{}.ts{suffix}", f.start_ms, f.end_ms),
        None,
        3,
        stream.buffer.is_closed(),
    ));
    Response::ok(PLAYLIST_TYPE, body)
}

/// A live media playlist over `fragments`, naming each segment with `uri`.
pub fn playlist(
    fragments: &[std::sync::Arc<Fragment>],
    uri: impl Fn(&Fragment) -> String,
    map_uri: Option<String>,
    version: u8,
    ended: bool,
) -> m3u8::MediaPlaylist {
    m3u8::MediaPlaylist {
        version,
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

/// The variant of a master playlist carrying `tracks`.
pub fn variant(
    buffer: &LiveBuffer,
    tracks: &[Track],
    uri: String,
    audio_group: Option<String>,
) -> m3u8::Variant {
    let video = tracks.iter().find(|t| t.kind() == Some(TrackKind::Video));
    m3u8::Variant {
        uri,
        bandwidth: bandwidth(buffer) * 11 / 10,
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
