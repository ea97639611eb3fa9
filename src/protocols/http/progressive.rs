//! Progressive HTTP outputs that never end while the stream lives: `/STREAM.ts` (MPEG-TS),
//! `/STREAM.mp4` and `/STREAM.fmp4` (fragmented MP4, playable live in a browser `<video>`),
//! `/STREAM.mp3` (MP3 frames) and `/STREAM.aac` (AAC in ADTS). Each starts at a keyframe.
//!
//! Unlike FLV and RTMP these are muxed per viewer (TS continuity counters and MP4 fragment
//! sequence numbers are the viewer's own); the payload bytes are copied once per viewer.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;

use super::response::write_timed;
use super::{Request, Response};
use crate::hub::buffer::Entry;
use crate::media::{aac, mp4, ts, Codec, Packet, Track};
use crate::protocols::av_select::picked;
use crate::protocols::{ListenerContext, OFFLINE_WAIT};

/// Which progressive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ts,
    Mp4,
    Mp3,
    Aac,
}

impl Kind {
    /// The connector that enables it.
    pub fn connector(self) -> &'static str {
        match self {
            Kind::Ts => "HTTPTS",
            Kind::Mp4 => "MP4",
            Kind::Mp3 => "MP3",
            Kind::Aac => "AAC",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Kind::Ts => "video/mpeg",
            Kind::Mp4 => "video/mp4",
            Kind::Mp3 => "audio/mpeg",
            Kind::Aac => "audio/aac",
        }
    }
}

/// The stream name and format of a progressive URL.
pub fn match_path(path: &str) -> Option<(&str, Kind)> {
    for (ext, kind) in [
        (".ts", Kind::Ts),
        (".mp4", Kind::Mp4),
        (".fmp4", Kind::Mp4),
        (".mp3", Kind::Mp3),
        (".aac", Kind::Aac),
    ] {
        if let Some(name) = super::stream_in(path, "/", ext) {
            return Some((name, kind));
        }
    }
    None
}

/// Per-viewer muxing state.
enum Muxer {
    Ts(Box<ts::TsMuxer>),
    Mp4 { sequence: u32 },
    Mp3,
    Aac(Box<aac::AudioSpecificConfig>),
}

/// Serves one progressive viewer.
pub async fn serve(
    req: &Request,
    raw_name: &str,
    kind: Kind,
    sock: &mut TcpStream,
    peer: SocketAddr,
    ctx: &ListenerContext,
) -> std::io::Result<bool> {
    let mut session = match super::admit_viewer(ctx, req, raw_name, kind.connector(), peer).await {
        Ok(s) => s,
        Err(e) => return Response::forbidden(&e).send(sock, req).await,
    };
    let (name, mut sub) = match ctx
        .hub
        .play(
            raw_name,
            kind.connector(),
            peer.ip(),
            &req.url(),
            OFFLINE_WAIT,
        )
        .await
    {
        Ok(s) => s,
        Err(e) => return Response::not_found(e).send(sock, req).await,
    };
    let buffer = sub.reader.buffer().clone();
    let all = picked(&buffer.meta());
    let tracks: Vec<Track> = match kind {
        Kind::Ts | Kind::Mp4 => all,
        Kind::Mp3 => all
            .into_iter()
            .filter(|t| t.codec == Some(Codec::Mp3))
            .collect(),
        Kind::Aac => all
            .into_iter()
            .filter(|t| t.codec == Some(Codec::Aac))
            .collect(),
    };
    let mut muxer = match kind {
        Kind::Ts => Muxer::Ts(Box::new(ts::TsMuxer::new(&tracks))),
        Kind::Mp4 => Muxer::Mp4 { sequence: 1 },
        Kind::Mp3 => Muxer::Mp3,
        Kind::Aac => match tracks.first().map(|t| aac::parse_asc(&t.init)) {
            Some(Ok(asc)) => Muxer::Aac(Box::new(asc)),
            _ => {
                return Response::not_found("the stream has no AAC track")
                    .send(sock, req)
                    .await
            }
        },
    };
    if tracks.is_empty() {
        return Response::not_found("the stream has no track this format can carry")
            .send(sock, req)
            .await;
    }
    // The stream's first bytes are made before the head, so a failure can still be a 404.
    let mut first = BytesMut::new();
    match &mut muxer {
        Muxer::Ts(m) => m.write_tables(&mut first),
        Muxer::Mp4 { .. } => {
            let refs: Vec<&Track> = tracks.iter().collect();
            match mp4::init_segment(&refs) {
                Ok(b) => first.extend_from_slice(&b),
                Err(e) => return Response::not_found(e).send(sock, req).await,
            }
        }
        _ => {}
    }
    Response::stream(kind.content_type())
        .send(sock, req)
        .await?;
    if req.is_head() {
        return Ok(false);
    }
    if !first.is_empty() {
        write_timed(sock, &[first.freeze()]).await?;
    }
    tracing::debug!(
        stream = name.as_str(),
        "{} viewer {peer} started",
        kind.connector()
    );
    let frame = |batch: &[Arc<Entry>], out: &mut Vec<Bytes>| {
        let muxed = mux_batch(&mut muxer, &tracks, batch);
        if !muxed.is_empty() {
            out.push(muxed);
        }
    };
    super::feed_viewer(
        sock,
        &mut sub,
        &mut session,
        (kind.connector(), &name, peer),
        frame,
    )
    .await
}

fn mux_batch(muxer: &mut Muxer, tracks: &[Track], batch: &[Arc<Entry>]) -> Bytes {
    let mut out = BytesMut::new();
    let mine = |e: &&Arc<Entry>| tracks.iter().any(|t| t.id == e.packet.track);
    match muxer {
        Muxer::Ts(m) => {
            for e in batch.iter().filter(mine) {
                if let Err(err) = m.write_packet(e.packet.track, &e.packet, &mut out) {
                    tracing::debug!("TS viewer: packet dropped: {err}");
                }
            }
        }
        Muxer::Mp4 { sequence } => {
            let groups: Vec<(&Track, Vec<&Packet>)> = tracks
                .iter()
                .map(|t| {
                    (
                        t,
                        batch
                            .iter()
                            .map(|e| &e.packet)
                            .filter(|p| p.track == t.id)
                            .collect(),
                    )
                })
                .filter(|(_, ps): &(&Track, Vec<&Packet>)| !ps.is_empty())
                .collect();
            if groups.is_empty() {
                return Bytes::new();
            }
            // Each fragment's last sample lasts as long as the one before it (the next packet is
            // not here yet).
            let parts: Vec<mp4::FragmentTrack<'_>> = groups
                .iter()
                .map(|(t, ps)| mp4::FragmentTrack {
                    track: t,
                    packets: ps,
                    end_ms: i64::MIN,
                })
                .collect();
            match mp4::media_segment(*sequence, &parts, false) {
                Ok(b) => {
                    *sequence = sequence.wrapping_add(1);
                    out.extend_from_slice(&b);
                }
                Err(err) => tracing::debug!("MP4 viewer: fragment dropped: {err}"),
            }
        }
        Muxer::Mp3 => {
            for e in batch.iter().filter(mine) {
                out.extend_from_slice(&e.packet.data);
            }
        }
        Muxer::Aac(asc) => {
            for e in batch.iter().filter(mine) {
                if let Ok(h) = aac::adts_header(asc, e.packet.data.len()) {
                    out.extend_from_slice(&h);
                    out.extend_from_slice(&e.packet.data);
                }
            }
        }
    }
    out.freeze()
}
