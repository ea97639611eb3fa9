//! DASH and HLS over fragmented MP4 (CMAF), facts §9.2: `/cmaf/STREAM/index.mpd`,
//! `/cmaf/STREAM/index.m3u8` (HLS version 7 master), `/cmaf/STREAM/<track>/index.m3u8`,
//! `/cmaf/STREAM/<track>/init_<tag>.m4s` and `/cmaf/STREAM/<track>/chunk_<time>_<generation>.m4s`
//! (time in ms; the generation and tag pin the bytes for caches, see [`super::segmented`];
//! MistServer's `init.m4s` and `chunk_<time>.m4s` are served too).
//!
//! Every track has its own segments, cut at the same fragment boundaries as HLS, built by the
//! first request for it (live: cached on the fragment; a file: read from it for that range).
//! A file's manifest is static (`type="static"`, `mediaPresentationDuration`) and its HLS
//! playlists complete. Video tracks are the variants (HLS) or the representations of one
//! adaptation set (DASH); audio tracks are an audio group (HLS) or adaptation sets by language
//! (DASH). `?video=`/`?audio=` on the manifest choose which tracks it lists. The request flow is
//! [`super::segmented`]'s; this file has the URLs, the manifests and the muxing.

use bytes::Bytes;

use super::hls::{audio_name, playlist, split, track_bps, variant, PLAYLIST_TYPE};
use super::segmented::{split_generation, Answer, Ask, Format, Opened};
use super::Response;
use crate::hub::fragments::Fragment;
use crate::media::{m3u8, mp4, mpd, Packet, Track, TrackKind};

/// DASH and HLS over CMAF, as a [`Format`] of the segmented skeleton; each segment carries one
/// track.
pub struct Cmaf;

impl Format for Cmaf {
    const PROTOCOL: &'static str = "CMAF";
    const SEGMENT_TYPE: &'static str = "video/mp4";

    fn ask(tail: &[&str]) -> Ask {
        match tail {
            ["index.mpd"] | ["index.m3u8"] | [_, "index.m3u8"] => Ask::Playlist,
            _ => Ask::File,
        }
    }

    fn answer(tail: &[&str], stream: &Opened) -> Answer {
        let track_of = |folder: &str| stream.track(folder.parse::<u32>().ok()?);
        let suffix = &stream.suffix;
        let done = match tail {
            ["index.mpd"] => Response::ok("application/dash+xml", manifest(stream)),
            ["index.m3u8"] => Response::ok(PLAYLIST_TYPE, hls_master(stream)),
            [folder, "index.m3u8"] if track_of(folder).is_some() => {
                let tag = stream.segment_tag();
                let mut pl = playlist(
                    &stream.fragments(),
                    |f| format!("chunk_{}{tag}.m4s{suffix}", f.start_ms),
                    Some(format!("init{}.m4s{suffix}", stream.init_name_tag())),
                    7,
                    stream.ended(),
                );
                pl.vod = stream.vod.is_some();
                Response::ok(PLAYLIST_TYPE, m3u8::media(&pl))
            }
            // `init.m4s`, or `init_<tag>.m4s` of the tracks as they are now.
            [folder, file] if file.starts_with("init") && file.ends_with(".m4s") => {
                let tag = file
                    .strip_prefix("init")
                    .and_then(|f| f.strip_suffix(".m4s"))
                    .unwrap_or_default();
                let current = stream.init_name_tag();
                match track_of(folder).map(|t| mp4::init_segment(&[t])) {
                    _ if !tag.is_empty() && tag != current => {
                        Response::missing("No such init segment")
                    }
                    Some(Ok(bytes)) => Response::ok("video/mp4", bytes),
                    Some(Err(e)) => Response::internal(e),
                    None => Response::missing("No such track"),
                }
            }
            [folder, file] if file.starts_with("chunk_") && file.ends_with(".m4s") => {
                let stem = file
                    .strip_prefix("chunk_")
                    .and_then(|f| f.strip_suffix(".m4s"))
                    .unwrap_or_default();
                let (time, generation) = split_generation(stem, 1);
                match (track_of(folder), time.parse::<i64>().ok()) {
                    (Some(track), Some(start_ms)) => {
                        return Answer::Segment {
                            start_ms,
                            tracks: vec![track.clone()],
                            generation,
                        }
                    }
                    _ => Response::missing("No such chunk"),
                }
            }
            _ => Response::missing("No such CMAF resource"),
        };
        Answer::Done(done)
    }

    fn build(tracks: &[Track], fragment: &Fragment, packets: &[&Packet]) -> Result<Bytes, String> {
        let track = tracks.first().ok_or("no track")?;
        let part = mp4::FragmentTrack {
            track,
            packets,
            end_ms: fragment.end_ms,
        };
        mp4::media_segment(fragment.number as u32 + 1, &[part], true).map_err(|e| e.to_string())
    }
}

fn iso_time(unix_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(unix_ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into())
}

fn manifest(stream: &Opened) -> String {
    let frags = stream.fragments();
    let bps = track_bps(stream);
    let reps = stream
        .tracks
        .iter()
        .map(|t| {
            let video = t.kind() == Some(TrackKind::Video);
            let rate = bps.iter().find(|(id, _)| *id == t.id).map_or(0, |b| b.1);
            mpd::Representation {
                id: t.id,
                video,
                codecs: t.codec_string.clone(),
                bandwidth: (rate * 8 * 11 / 10).max(if video { 1 } else { 64_000 }),
                width: t.width,
                height: t.height,
                fpks: t.fpks,
                sample_rate: t.rate,
                channels: t.channels,
                lang: t.lang.clone(),
            }
        })
        .collect();
    let longest = frags.iter().map(|f| f.duration_ms()).max().unwrap_or(2_000);
    let timing = match &stream.vod {
        // The timeline's times count from the period's start.
        Some(_) => mpd::Timing::OnDemand {
            duration_ms: frags.last().map_or(0, |l| l.end_ms),
        },
        None => mpd::Timing::Live {
            availability_start: iso_time(stream.buffer.zero_unix_ms().unwrap_or(0)),
            publish_time: iso_time(chrono::Utc::now().timestamp_millis()),
            time_shift_ms: frags.last().map(|l| l.end_ms).unwrap_or(0)
                - frags.first().map(|f| f.start_ms).unwrap_or(0),
            update_ms: longest,
        },
    };
    mpd::manifest(&mpd::Manifest {
        timing,
        min_buffer_ms: longest,
        segments: frags
            .iter()
            .map(|f| (f.start_ms, f.duration_ms()))
            .collect(),
        representations: reps,
        url_suffix: stream.suffix.clone(),
        segment_tag: stream.segment_tag(),
        init_tag: stream.init_name_tag(),
    })
}

/// The HLS v7 master: a variant per video track (or the first audio track alone), audio
/// tracks as one audio group.
fn hls_master(stream: &Opened) -> String {
    let suffix = &stream.suffix;
    let bps = track_bps(stream);
    let (videos, audios) = split(&stream.tracks);
    let group = (!videos.is_empty() && !audios.is_empty()).then(|| "aud".to_string());
    let renditions: Vec<m3u8::AudioRendition> = match &group {
        Some(g) => audios
            .iter()
            .enumerate()
            .map(|(i, a)| m3u8::AudioRendition {
                group: g.clone(),
                name: audio_name(a),
                uri: Some(format!("{}/index.m3u8{suffix}", a.id)),
                language: (!a.lang.is_empty()).then(|| a.lang.clone()),
                default: i == 0,
            })
            .collect(),
        None => Vec::new(),
    };
    let variants: Vec<m3u8::Variant> = if videos.is_empty() {
        audios
            .first()
            .map(|a| variant(&bps, &[a], format!("{}/index.m3u8{suffix}", a.id), None))
            .into_iter()
            .collect()
    } else {
        videos
            .iter()
            .map(|&v| {
                let tracks: Vec<&Track> =
                    std::iter::once(v).chain(audios.first().copied()).collect();
                variant(
                    &bps,
                    &tracks,
                    format!("{}/index.m3u8{suffix}", v.id),
                    group.clone(),
                )
            })
            .collect()
    };
    m3u8::master(&variants, &renditions, 7)
}
