//! DASH and HLS over fragmented MP4 (CMAF), facts §9.2: `/cmaf/STREAM/index.mpd`,
//! `/cmaf/STREAM/index.m3u8` (HLS version 7 master), `/cmaf/STREAM/<track>/index.m3u8`,
//! `/cmaf/STREAM/<track>/init.m4s` and `/cmaf/STREAM/<track>/chunk_<time>.m4s` (time in ms).
//!
//! Every track has its own segments, cut at the same fragment boundaries as HLS; the segments
//! of all tracks of a fragment are built together by the first request for any of them and
//! cached on the fragment.

use tokio::net::TcpStream;

use super::hls::{bandwidth, out_of_range, playlist, segment_buffer, send_segment, variant};
use super::{not_found, send, Request};
use crate::hub::buffer::LiveBuffer;
use crate::hub::fragments::Fragment;
use crate::media::{m3u8, mp4, mpd, Packet, Track, TrackKind};
use crate::protocols::av_select::picked;
use crate::protocols::ListenerContext;

/// Routes a path below `/cmaf/`.
pub async fn route(
    req: &Request,
    rest: &str,
    sock: &mut TcpStream,
    peer: std::net::SocketAddr,
    ctx: &ListenerContext,
) -> std::io::Result<bool> {
    let parts: Vec<&str> = rest.split('/').collect();
    // Every playlist and segment request belongs to the viewer's one session.
    let stream = parts.first().copied().unwrap_or("");
    let session = match super::admit_viewer(ctx, req, stream, "CMAF", peer).await {
        Ok(s) => s,
        Err(e) => return super::forbidden(sock, req, &e).await,
    };
    let (name, tail) = match parts.as_slice() {
        [name, tail @ ..] => (*name, tail),
        _ => {
            return send(
                sock,
                req,
                "404 Not Found",
                "text/plain",
                &[],
                b"No such CMAF resource\n",
            )
            .await
        }
    };
    let create = matches!(tail, ["index.mpd"] | ["index.m3u8"] | [_, "index.m3u8"]);
    let suffix = super::token_suffix(req);
    let buffer = match segment_buffer(ctx, name, create).await {
        Ok(b) => b,
        Err(why) => return not_found(sock, req, &why).await,
    };
    let tracks = picked(&buffer.meta());
    let track_of = |folder: &str| {
        folder
            .parse::<u32>()
            .ok()
            .and_then(|id| tracks.iter().find(|t| t.id == id).cloned())
    };
    match tail {
        ["index.mpd"] => {
            let body = manifest(&buffer, &tracks, &suffix);
            send(
                sock,
                req,
                "200 OK",
                "application/dash+xml",
                &[],
                body.as_bytes(),
            )
            .await
        }
        ["index.m3u8"] => {
            let body = hls_master(&buffer, &tracks, &suffix);
            send(
                sock,
                req,
                "200 OK",
                "application/vnd.apple.mpegurl",
                &[],
                body.as_bytes(),
            )
            .await
        }
        [folder, "index.m3u8"] if track_of(folder).is_some() => {
            let frags = buffer.fragments();
            let pl = playlist(
                &frags,
                |f| format!("chunk_{}.m4s{suffix}", f.start_ms),
                Some(format!("init.m4s{suffix}")),
                7,
                buffer.is_closed(),
            );
            send(
                sock,
                req,
                "200 OK",
                "application/vnd.apple.mpegurl",
                &[],
                m3u8::media(&pl).as_bytes(),
            )
            .await
        }
        [folder, "init.m4s"] => match track_of(folder).map(|t| mp4::init_segment(&[&t])) {
            Some(Ok(bytes)) => send(sock, req, "200 OK", "video/mp4", &[], &bytes).await,
            Some(Err(e)) => {
                send(
                    sock,
                    req,
                    "500 Internal Server Error",
                    "text/plain",
                    &[],
                    format!("{e}\n").as_bytes(),
                )
                .await
            }
            None => {
                send(
                    sock,
                    req,
                    "404 Not Found",
                    "text/plain",
                    &[],
                    b"No such track\n",
                )
                .await
            }
        },
        [folder, file] if file.starts_with("chunk_") && file.ends_with(".m4s") => {
            let (Some(track), Some(time)) = (
                track_of(folder),
                file[6..file.len() - 4].parse::<i64>().ok(),
            ) else {
                return send(
                    sock,
                    req,
                    "404 Not Found",
                    "text/plain",
                    &[],
                    b"No such chunk\n",
                )
                .await;
            };
            let Some(fragment) = buffer.fragment_at(time) else {
                return out_of_range(sock, req).await;
            };
            let build = || CmafSegments(build_segments(&buffer, &fragment, &tracks));
            let built = fragment.cache.with(build, |segments| {
                let found = segments.0.iter().find(|(id, _)| *id == track.id);
                found.map(|(_, bytes)| bytes.clone())
            });
            match built {
                Some(bytes) => {
                    send_segment(sock, req, &fragment, "video/mp4", &bytes, &session.bytes).await
                }
                None => {
                    send(
                        sock,
                        req,
                        "404 Not Found",
                        "text/plain",
                        &[],
                        b"No data for this track in this fragment\n",
                    )
                    .await
                }
            }
        }
        _ => {
            send(
                sock,
                req,
                "404 Not Found",
                "text/plain",
                &[],
                b"No such CMAF resource\n",
            )
            .await
        }
    }
}

/// A fragment's CMAF segments, one per track id, cached on the fragment.
struct CmafSegments(Vec<(u32, bytes::Bytes)>);

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
