//! DASH and HLS over fragmented MP4 (CMAF), facts §9.2: `/cmaf/STREAM/index.mpd`,
//! `/cmaf/STREAM/index.m3u8` (HLS version 7 master), `/cmaf/STREAM/<track>/index.m3u8`,
//! `/cmaf/STREAM/<track>/init.m4s` and `/cmaf/STREAM/<track>/chunk_<time>.m4s` (time in ms).
//!
//! Every track has its own segments, cut at the same fragment boundaries as HLS; the segments
//! of all tracks of a fragment are built together by the first request for any of them and
//! cached on the fragment. The request flow is [`super::segmented`]'s; this file has the URLs,
//! the manifests and the muxing.

use bytes::Bytes;

use super::hls::{bandwidth, playlist, variant, PLAYLIST_TYPE};
use super::segmented::{Answer, Ask, Format, Opened};
use super::Response;
use crate::hub::buffer::LiveBuffer;
use crate::hub::fragments::Fragment;
use crate::media::{m3u8, mp4, mpd, Packet, Track, TrackKind};

/// DASH and HLS over CMAF, as a [`Format`] of the segmented skeleton; a segment's key is its
/// track id.
pub struct Cmaf;

impl Format for Cmaf {
    const PROTOCOL: &'static str = "CMAF";
    const SEGMENT_TYPE: &'static str = "video/mp4";
    type Built = CmafSegments;

    fn ask(tail: &[&str]) -> Ask {
        match tail {
            ["index.mpd"] | ["index.m3u8"] | [_, "index.m3u8"] => Ask::Playlist,
            _ => Ask::File,
        }
    }

    fn answer(tail: &[&str], stream: &Opened) -> Answer {
        let track_of = |folder: &str| {
            let id = folder.parse::<u32>().ok()?;
            stream.tracks.iter().find(|t| t.id == id)
        };
        let suffix = &stream.suffix;
        let done = match tail {
            ["index.mpd"] => Response::ok(
                "application/dash+xml",
                manifest(&stream.buffer, &stream.tracks, suffix),
            ),
            ["index.m3u8"] => Response::ok(
                PLAYLIST_TYPE,
                hls_master(&stream.buffer, &stream.tracks, suffix),
            ),
            [folder, "index.m3u8"] if track_of(folder).is_some() => {
                let pl = playlist(
                    &stream.buffer.fragments(),
                    |f| format!("chunk_{}.m4s{suffix}", f.start_ms),
                    Some(format!("init.m4s{suffix}")),
                    7,
                    stream.buffer.is_closed(),
                );
                Response::ok(PLAYLIST_TYPE, m3u8::media(&pl))
            }
            [folder, "init.m4s"] => match track_of(folder).map(|t| mp4::init_segment(&[t])) {
                Some(Ok(bytes)) => Response::ok("video/mp4", bytes),
                Some(Err(e)) => Response::internal(e),
                None => Response::missing("No such track"),
            },
            [folder, file] if file.starts_with("chunk_") && file.ends_with(".m4s") => {
                let time = file
                    .strip_prefix("chunk_")
                    .and_then(|f| f.strip_suffix(".m4s"))
                    .and_then(|t| t.parse::<i64>().ok());
                match (track_of(folder), time) {
                    (Some(track), Some(start_ms)) => {
                        return Answer::Segment {
                            start_ms,
                            key: track.id,
                        }
                    }
                    _ => Response::missing("No such chunk"),
                }
            }
            _ => Response::missing("No such CMAF resource"),
        };
        Answer::Done(done)
    }

    fn build(stream: &Opened, fragment: &Fragment) -> CmafSegments {
        CmafSegments(build_segments(&stream.buffer, fragment, &stream.tracks))
    }

    fn pick(built: &CmafSegments, track: u32) -> Result<Bytes, Response> {
        let found = built.0.iter().find(|(id, _)| *id == track);
        found
            .map(|(_, bytes)| bytes.clone())
            .ok_or_else(|| Response::missing("No data for this track in this fragment"))
    }
}

/// A fragment's CMAF segments, one per track id, cached on the fragment.
pub struct CmafSegments(Vec<(u32, Bytes)>);

/// One CMAF segment per track for a fragment.
fn build_segments(
    buffer: &LiveBuffer,
    fragment: &Fragment,
    tracks: &[Track],
) -> Vec<(u32, bytes::Bytes)> {
    let entries = buffer.packets(fragment.first_seq, fragment.end_seq);
    let mut out = Vec::new();
    for track in tracks {
        let packets: Vec<&Packet> = entries
            .iter()
            .map(|e| &e.packet)
            .filter(|p| p.track == track.id)
            .collect();
        if packets.is_empty() {
            continue;
        }
        let part = mp4::FragmentTrack {
            track,
            packets: &packets,
            end_ms: fragment.end_ms,
        };
        match mp4::media_segment(fragment.number as u32 + 1, &[part], true) {
            Ok(bytes) => out.push((track.id, bytes)),
            Err(e) => tracing::warn!(
                "CMAF segment of track {} at {}: {e}",
                track.id,
                fragment.start_ms
            ),
        }
    }
    out
}

fn iso_time(unix_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(unix_ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into())
}

fn manifest(buffer: &LiveBuffer, tracks: &[Track], suffix: &str) -> String {
    let frags = buffer.fragments();
    let zero = buffer.zero_unix_ms().unwrap_or(0);
    let total_bw = bandwidth(buffer);
    let reps = tracks
        .iter()
        .map(|t| {
            let video = t.kind() == Some(TrackKind::Video);
            mpd::Representation {
                id: t.id,
                video,
                codecs: t.codec_string.clone(),
                bandwidth: if video {
                    total_bw * 9 / 10
                } else {
                    (total_bw / 10).max(64_000)
                },
                width: t.width,
                height: t.height,
                fpks: t.fpks,
                sample_rate: t.rate,
                channels: t.channels,
            }
        })
        .collect();
    let longest = frags.iter().map(|f| f.duration_ms()).max().unwrap_or(2_000);
    mpd::live(&mpd::LiveManifest {
        availability_start: iso_time(zero),
        publish_time: iso_time(chrono::Utc::now().timestamp_millis()),
        time_shift_ms: frags.last().map(|l| l.end_ms).unwrap_or(0)
            - frags.first().map(|f| f.start_ms).unwrap_or(0),
        update_ms: longest,
        min_buffer_ms: longest,
        segments: frags
            .iter()
            .map(|f| (f.start_ms, f.duration_ms()))
            .collect(),
        representations: reps,
        url_suffix: suffix.to_string(),
    })
}

fn hls_master(buffer: &LiveBuffer, tracks: &[Track], suffix: &str) -> String {
    let video = tracks.iter().find(|t| t.kind() == Some(TrackKind::Video));
    let audio = tracks.iter().find(|t| t.kind() == Some(TrackKind::Audio));
    let renditions: Vec<m3u8::AudioRendition> = match (video, audio) {
        (Some(_), Some(a)) => vec![m3u8::AudioRendition {
            group: "aud".into(),
            name: "audio".into(),
            uri: format!("{}/index.m3u8{suffix}", a.id),
        }],
        _ => Vec::new(),
    };
    let group = (!renditions.is_empty()).then(|| "aud".to_string());
    let variants: Vec<m3u8::Variant> = video
        .or(audio)
        .map(|m| {
            variant(
                buffer,
                tracks,
                format!("{}/index.m3u8{suffix}", m.id),
                group,
            )
        })
        .into_iter()
        .collect();
    m3u8::master(&variants, &renditions, 7)
}
