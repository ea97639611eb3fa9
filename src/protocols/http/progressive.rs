//! Progressive HTTP outputs that never end while the stream lives: `/STREAM.ts` (MPEG-TS),
//! `/STREAM.mp4` and `/STREAM.fmp4` (fragmented MP4, playable live in a browser `<video>`),
//! `/STREAM.mp3` (MP3 frames), `/STREAM.aac` (AAC in ADTS), `/STREAM.ogg` (Ogg with the Opus,
//! Vorbis and Theora tracks; an on-demand answer ends with EOS pages) and `/STREAM.wav` (WAV
//! with the first MP3, PCM, A-law or mu-law track; its sizes say 0xFFFFFFFF, as a streaming
//! WAV writer's do). Each starts at a keyframe. `/STREAM.mp4` of an on-demand stream is a
//! progressive MP4 with Range requests instead ([`super::mp4_range`]); `.fmp4` stays fragmented.
//!
//! Like FLV and RTMP, the payload is never copied per viewer: what is the same for every viewer
//! is built once (a TS packet's PES, cached on its buffer entry) or is the packet itself (MP4
//! samples, MP3, AAC and Ogg packets), and each viewer writes only its own bytes around it (TS
//! headers with its continuity counters, its MP4 `moof` with its sequence numbers, ADTS
//! headers, Ogg page headers), with vectored writes. WAV's PCM is swapped to little-endian.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;

use super::{Request, Response};
use crate::hub::buffer::Entry;
use crate::media::ogg::mux::OggMuxer;
use crate::media::{aac, mp4, ts, wav, Codec, Packet, Track};
use crate::protocols::track_select::{Fill, TrackSelector};
use crate::protocols::{write_all_within, ListenerContext, OFFLINE_WAIT, VIEWER_WRITE_TIMEOUT};

/// Which progressive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ts,
    Mp4,
    Mp3,
    Aac,
    Ogg,
    Wav,
}

impl Kind {
    /// Whether this format carries the track's codec.
    fn carries(self, track: &Track) -> bool {
        let Some(codec) = track.codec else {
            return false;
        };
        match self {
            Kind::Ts => ts::carries(codec),
            Kind::Mp4 => mp4::carries(codec),
            Kind::Mp3 => codec == Codec::Mp3,
            Kind::Aac => codec == Codec::Aac,
            Kind::Ogg => matches!(codec, Codec::Opus | Codec::Vorbis | Codec::Theora),
            Kind::Wav => wav::carries(track),
        }
    }

    /// The connector that enables it.
    pub fn connector(self) -> &'static str {
        match self {
            Kind::Ts => "HTTPTS",
            Kind::Mp4 => "MP4",
            Kind::Mp3 => "MP3",
            Kind::Aac => "AAC",
            Kind::Ogg => "OGG",
            Kind::Wav => "WAV",
        }
    }

    /// The answer's Content-Type (Ogg: video when it carries a Theora track).
    fn content_type(self, tracks: &[Track]) -> &'static str {
        match self {
            Kind::Ts => "video/mpeg",
            Kind::Mp4 => "video/mp4",
            Kind::Mp3 => "audio/mpeg",
            Kind::Aac => "audio/aac",
            Kind::Ogg if tracks.iter().any(|t| t.codec == Some(Codec::Theora)) => "video/ogg",
            Kind::Ogg => "audio/ogg",
            Kind::Wav => "audio/wav",
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
        (".ogg", Kind::Ogg),
        (".wav", Kind::Wav),
    ] {
        if let Some(name) = super::stream_in(path, "/", ext) {
            return Some((name, kind));
        }
    }
    None
}

/// Per-viewer muxing state: only what differs between viewers (TS continuity counters and
/// table timing, MP4 fragment sequence numbers); the payloads are the packets' shared bytes.
enum Muxer {
    Ts(Box<ts::TsMuxer>),
    Mp4 {
        sequence: u32,
    },
    Mp3,
    Aac(Box<aac::AudioSpecificConfig>),
    Ogg(Box<OggMuxer>),
    /// WAV: the PCM sample size to swap, or 0 for bytes written as they are.
    Wav {
        pcm_bits: u32,
    },
}

/// A packet's PES (header and payload, Annex B for video), the same for every TS viewer,
/// cached on its buffer entry (`None`: the packet cannot be carried in TS).
struct TsPes(Option<Bytes>);

/// Serves one progressive viewer.
pub async fn serve(
    req: &Request,
    raw_name: &str,
    kind: Kind,
    sock: &mut TcpStream,
    peer: SocketAddr,
    ctx: &ListenerContext,
) -> std::io::Result<bool> {
    let mut session = match super::admit_viewer(
        ctx,
        req,
        raw_name,
        (kind.connector(), super::Viewing::Connection),
        peer,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return Response::forbidden(&e).send(sock, req).await,
    };
    let (name, mut sub) = match ctx
        .hub
        .play(
            raw_name,
            kind.connector(),
            (peer.ip(), &req.url()),
            super::play_range(req),
            OFFLINE_WAIT,
        )
        .await
    {
        Ok(s) => s,
        Err(e) => return Response::stream_error(&e).send(sock, req).await,
    };
    let buffer = sub.reader.buffer().clone();
    // The viewer's choice among the tracks this format carries (so the default is the first
    // of each kind it can carry).
    let carried: Vec<Track> = buffer
        .meta()
        .tracks
        .iter()
        .filter(|t| kind.carries(t))
        .cloned()
        .collect();
    let all = TrackSelector::from_query(&req.query).select(&carried, Fill::First);
    let tracks: Vec<Track> = match kind {
        Kind::Ts | Kind::Mp4 | Kind::Ogg => all,
        Kind::Mp3 | Kind::Aac | Kind::Wav => all.into_iter().take(1).collect(),
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
        Kind::Ogg => match OggMuxer::new(&tracks) {
            Ok(m) => Muxer::Ogg(Box::new(m)),
            Err(e) => return Response::not_found(e).send(sock, req).await,
        },
        Kind::Wav => Muxer::Wav {
            pcm_bits: tracks
                .iter()
                .find(|t| t.codec == Some(Codec::Pcm))
                .map_or(0, |t| t.size),
        },
    };
    if tracks.is_empty() {
        return Response::not_found("the stream has no track this format can carry")
            .send(sock, req)
            .await;
    }
    if kind == Kind::Mp4 && req.path.ends_with(".mp4") {
        if let Some(file) = sub.take_file() {
            let (file, who) = ((file, tracks.as_slice()), (name.as_str(), peer));
            return super::mp4_range::serve(req, sock, file, &sub, &mut session, who).await;
        }
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
        Muxer::Ogg(m) => first.extend_from_slice(&m.headers()),
        Muxer::Wav { .. } => match tracks.first().map(|t| wav::header(t, None)) {
            Some(Ok(h)) => first.extend_from_slice(&h),
            _ => {
                return Response::not_found("the stream has no track WAV can carry")
                    .send(sock, req)
                    .await
            }
        },
        _ => {}
    }
    Response::stream(kind.content_type(&tracks))
        .send(sock, req)
        .await?;
    if req.is_head() {
        return Ok(false);
    }
    if !first.is_empty() {
        write_all_within(sock, &[first.freeze()], VIEWER_WRITE_TIMEOUT).await?;
    }
    tracing::debug!(
        stream = name.as_str(),
        "{} viewer {peer} started",
        kind.connector()
    );
    let mut scratch = BytesMut::new();
    // Shared by the batch framing and the tail (never at the same time: no contention).
    let muxer = std::sync::Mutex::new(muxer);
    let frame = |batch: &[Arc<Entry>], out: &mut Vec<Bytes>| {
        mux_batch(
            &mut muxer.lock().unwrap_or_else(|e| e.into_inner()),
            &tracks,
            batch,
            &mut scratch,
            out,
        )
    };
    // The end of an on-demand answer: Ogg's EOS pages.
    let tail = |out: &mut Vec<Bytes>| {
        if let Muxer::Ogg(m) = &mut *muxer.lock().unwrap_or_else(|e| e.into_inner()) {
            let mut eos = BytesMut::new();
            m.finish(&mut eos);
            out.push(eos.freeze());
        }
    };
    super::feed_viewer_to_end(
        sock,
        &mut sub,
        &mut session,
        (kind.connector(), &name, peer),
        frame,
        tail,
    )
    .await
}

/// How much of a viewer's own-bytes buffer is kept between batches.
const KEPT_SCRATCH: usize = 4096;

/// Frames a batch for one viewer into `out`: the viewer's own bytes (TS headers, MP4 `moof`s,
/// ADTS headers) written to `scratch` and frozen, around the packets' shared payloads.
fn mux_batch(
    muxer: &mut Muxer,
    tracks: &[Track],
    batch: &[Arc<Entry>],
    scratch: &mut BytesMut,
    out: &mut Vec<Bytes>,
) {
    let mine = |e: &&Arc<Entry>| tracks.iter().any(|t| t.id == e.packet.track);
    // The last batch's pieces are written and dropped: give back room a catch-up batch took.
    if scratch.capacity() > KEPT_SCRATCH {
        *scratch = BytesMut::new();
    }
    match muxer {
        Muxer::Ts(m) => {
            for e in batch.iter().filter(mine) {
                let (id, packet) = (e.packet.track, &e.packet);
                let build = || TsPes(m.pes(id, packet).ok());
                let Some(pes) = e.cache.with(build, |pes| pes.0.clone()) else {
                    continue;
                };
                if let Err(err) = m.packetize(id, packet, &pes, scratch, out) {
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
                return;
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
            match mp4::media_segment_parts(*sequence, &parts, false) {
                Ok(segment) => {
                    *sequence = sequence.wrapping_add(1);
                    out.push(segment.head);
                    out.extend(segment.samples);
                }
                Err(err) => tracing::debug!("MP4 viewer: fragment dropped: {err}"),
            }
        }
        Muxer::Mp3 => out.extend(batch.iter().filter(mine).map(|e| e.packet.data.clone())),
        Muxer::Ogg(m) => {
            for e in batch.iter().filter(mine) {
                m.packet(&e.packet, scratch, out);
            }
        }
        Muxer::Wav { pcm_bits: 0 } => {
            out.extend(batch.iter().filter(mine).map(|e| e.packet.data.clone()))
        }
        Muxer::Wav { pcm_bits } => out.extend(
            batch
                .iter()
                .filter(mine)
                .map(|e| wav::swap_pcm(&e.packet.data, *pcm_bits)),
        ),
        Muxer::Aac(asc) => {
            for e in batch.iter().filter(mine) {
                if let Ok(h) = aac::adts_header(asc, e.packet.data.len()) {
                    scratch.extend_from_slice(&h);
                    out.push(scratch.split().freeze());
                    out.push(e.packet.data.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::watch;

    use super::*;
    use crate::hub::fake::FakeHub;
    use crate::media::testutil::load_flv;
    use crate::media::ts::{TsDemuxer, TsEvent};

    /// Two TS viewers of a published fixture: each gets a stream our demuxer reads with no
    /// continuity error, carrying every packet from the first keyframe on; the PES of every
    /// packet was built once, on its buffer entry.
    #[tokio::test]
    async fn ts_viewers_share_each_pes_and_keep_their_own_counters() {
        let (video, audio, packets) = load_flv(include_bytes!("../../media/testdata/h264_aac.flv"));
        let (fake, hub) = FakeHub::new();
        let buffer = fake.add_stream("live");
        let token = buffer.new_publisher(false);
        for t in [video, audio].into_iter().flatten() {
            buffer.set_track(token, t).expect("track");
        }
        let first_key = packets.iter().position(|p| p.keyframe).expect("a keyframe");
        let (head, rest) = packets.split_at(first_key + 1);
        for p in head {
            buffer.push(token, p.clone()).expect("push");
        }
        let mut ctx = ListenerContext::new(hub, tokio::runtime::Handle::current());
        let entries = vec![serde_json::json!({"connector": "HTTPTS"})
            .as_object()
            .cloned()
            .expect("entry")];
        ctx.protocols = Arc::new(std::sync::RwLock::new(entries));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (_stop, stop_rx) = watch::channel(false);
        let mut viewers = Vec::new();
        for _ in 0..2 {
            let mut client = TcpStream::connect(addr).await.expect("connect");
            let (sock, peer) = listener.accept().await.expect("accept");
            tokio::spawn(super::super::serve_connection(
                sock,
                peer,
                ctx.clone(),
                stop_rx.clone(),
            ));
            client
                .write_all(b"GET /live.ts HTTP/1.1\r\nHost: t\r\n\r\n")
                .await
                .expect("request");
            // The head comes once the viewer is subscribed.
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let mut b = [0u8; 512];
                let n = client.read(&mut b).await.expect("head");
                assert!(n > 0, "closed before the head");
                got.extend_from_slice(&b[..n]);
            }
            viewers.push((client, got));
        }
        for p in rest {
            buffer.push(token, p.clone()).expect("push");
        }
        buffer.close();
        for (mut client, mut got) in viewers {
            let read = client.read_to_end(&mut got);
            tokio::time::timeout(Duration::from_secs(10), read)
                .await
                .expect("the stream ends with the buffer")
                .expect("read");
            let at = got.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
            let head = String::from_utf8_lossy(&got[..at]);
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
            let mut demux = TsDemuxer::new();
            demux.push(&got[at..]);
            demux.finish();
            let mut times = Vec::new();
            while let Some(event) = demux.pull() {
                match event {
                    Ok(TsEvent::Packet(p)) => times.push((p.track, p.time)),
                    Ok(TsEvent::Track(_)) => {}
                    Err(e) => panic!("a TS viewer's stream has an error: {e}"),
                }
            }
            assert_eq!(
                times.len(),
                packets.len() - first_key,
                "every packet from the keyframe"
            );
        }
        let entries = buffer.packets(0, u64::MAX);
        assert!(!entries.is_empty());
        assert!(
            entries.iter().all(|e| e.cache.get::<TsPes>().is_some()),
            "each packet's PES is cached on its entry"
        );
    }
}
