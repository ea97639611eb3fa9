//! Playing over RTSP after PLAY: every packet of the media set up goes out as RTP, interleaved on
//! the connection (`$` frames) or by UDP to the client's ports, each media with its own random
//! SSRC, first sequence number and timestamp (RFC 3550 5.1), and an RTCP sender report before
//! its first packet and every [`SR_EVERY`] after (players line the media up by them).
//!
//! The PLAY answer waits for the first packets, so its `RTP-Info` says which RTP time each
//! media starts at and `Range` where in the stream that is. While playing, requests are still
//! answered: GET_PARAMETER / SET_PARAMETER / OPTIONS keep-alives, PAUSE (nothing is sent until
//! the next PLAY; a live stream goes on without the viewer), PLAY with `Range: npt=` on an
//! on-demand stream (a seek), TEARDOWN. A viewer that stops reading is dropped after the write
//! time-out, as on every output.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::conn::{rand_u64, Conn, ConnError, PlaySetup};
use super::message::{Incoming, Request, Response, Transport};
use super::udp::UdpPair;
use crate::hub::buffer::{Entry, ReadEvent};
use crate::media::rtp::header::HEADER_LEN;
use crate::media::rtp::{rtcp, Packetizer};
use crate::media::Track;
use crate::protocols::{deliver, OFFLINE_WAIT};

/// Most packets taken from the buffer at once.
const BATCH: usize = 64;
/// Time between two sender reports of a media.
pub const SR_EVERY: Duration = Duration::from_secs(5);

/// One media being sent.
struct Out {
    /// The track as the SDP described it.
    track: Track,
    url: String,
    packetizer: Packetizer,
    transport: Transport,
    udp: Option<(UdpPair, SocketAddr, SocketAddr)>,
    last_report: Option<Instant>,
    /// The next sequence number, and the timestamp base (RFC 3550 5.1: random per sender).
    seq: u16,
    ts_base: u32,
    /// Packets and payload octets sent (for sender reports).
    packets: u32,
    octets: u32,
}

/// Plays until the client leaves, the stream ends or the server stops.
pub async fn run(
    conn: &mut Conn,
    sock: TcpStream,
    mut stop: watch::Receiver<bool>,
    play: Request,
) -> Result<(), ConnError> {
    let Some(setup) = conn.play.take() else {
        return Err(ConnError::Refused("PLAY before SETUP".into()));
    };
    let PlaySetup {
        name,
        base,
        mut sub,
        mut session,
        outs,
        ..
    } = setup;
    let mut media = Vec::with_capacity(outs.len());
    for o in outs {
        let ssrc = rand_u64() as u32;
        let r = rand_u64();
        let (seq, ts_base) = ((r >> 48) as u16, r as u32);
        let packetizer = Packetizer::new(&o.media.track, o.media.payload_type, ssrc)
            .map_err(|e| ConnError::Refused(format!("{name}: {e}")))?
            .with_start(seq, ts_base);
        let control = o.media.control.clone().unwrap_or_default();
        media.push(Out {
            track: o.media.track.clone(),
            url: crate::media::sdp::resolve_control(&base, &control),
            packetizer,
            transport: o.transport,
            udp: o.udp,
            last_report: None,
            seq,
            ts_base,
            packets: 0,
            octets: 0,
        });
    }
    if let Some(ms) = play.header("Range").and_then(npt_start) {
        sub.seek(ms);
    }
    let peer = conn.peer;
    let (mut rd, mut wr) = sock.into_split();
    let mut batch: Vec<Arc<Entry>> = Vec::new();
    // The first packets say where playback starts.
    let first = tokio::time::timeout(OFFLINE_WAIT, sub.reader.next_batch(&mut batch, BATCH)).await;
    if matches!(first, Ok(ReadEvent::Closed)) {
        conn.respond(&mut wr, &play, Response::new(404)).await?;
        return Ok(());
    }
    let start = batch.first().map_or(0, |e| e.packet.time);
    conn.respond(&mut wr, &play, play_answer(&media, start))
        .await?;
    tracing::debug!(stream = name.as_str(), "RTSP viewer {peer} started");
    let mut buffer = sub.reader.buffer().clone();
    let mut out: Vec<Bytes> = Vec::new();
    // The interleaved frames' heads of one batch, in one allocation.
    let mut heads = BytesMut::with_capacity(64 * (4 + HEADER_LEN));
    let mut paused = false;
    let ended = crate::hub::session::stopped(&mut session.stop);
    tokio::pin!(ended);
    loop {
        if !paused && !batch.is_empty() {
            crate::protocols::write::recycle(&mut out);
            for entry in &batch {
                let Some(o) = media.iter_mut().find(|o| o.track.id == entry.packet.track) else {
                    continue;
                };
                send_packet(o, entry, &mut out, &mut heads);
            }
            if !out.is_empty()
                && !deliver(&mut wr, &out, &batch, &buffer.counters, &session.counters).await?
            {
                tracing::info!(
                    stream = name.as_str(),
                    "RTSP viewer {peer} stopped reading; dropped"
                );
                return Ok(());
            }
        }
        batch.clear();
        tokio::select! {
            biased;
            event = sub.reader.next_batch(&mut batch, BATCH) => match event {
                ReadEvent::Closed => return Ok(()),
                ReadEvent::Skipped(n) => {
                    tracing::debug!(stream = name.as_str(), "RTSP viewer {peer} fell behind; skipped {n} packets");
                }
                ReadEvent::Packets => {}
            },
            _ = stop.changed() => return Ok(()),
            _ = &mut ended => return Err(ConnError::Refused(format!("session {} stopped", session.id))),
            read = rd.read_buf(&mut conn.rbuf) => {
                if read? == 0 {
                    return Ok(());
                }
                while let Some(incoming) = conn.take()? {
                    // Interleaved frames from a player are its RTCP receiver reports.
                    let Incoming::Request(req) = incoming else { continue };
                    let resp = match req.method.as_str() {
                        "TEARDOWN" => {
                            conn.respond(&mut wr, &req, Response::new(200)).await?;
                            return Ok(());
                        }
                        "PAUSE" => {
                            paused = true;
                            Response::new(200)
                        }
                        "PLAY" => {
                            paused = false;
                            if let Some(ms) = req.header("Range").and_then(npt_start) {
                                if sub.seek(ms) {
                                    buffer = sub.reader.buffer().clone();
                                }
                            }
                            Response::new(200)
                        }
                        "OPTIONS" | "GET_PARAMETER" | "SET_PARAMETER" => Response::new(200),
                        _ => Response::new(455),
                    };
                    conn.respond(&mut wr, &req, resp).await?;
                }
            }
        }
    }
}

/// The PLAY answer: where each media starts, in RTP time, and the stream time it is.
fn play_answer(media: &[Out], start_ms: i64) -> Response {
    let info: Vec<String> = media
        .iter()
        .map(|o| {
            format!(
                "url={};seq={};rtptime={}",
                o.url,
                o.packetizer.next_sequence(),
                o.packetizer.rtp_timestamp(start_ms)
            )
        })
        .collect();
    Response::new(200)
        .header(
            "Range",
            format!("npt={:.3}-", start_ms.max(0) as f64 / 1000.0),
        )
        .header("RTP-Info", info.join(","))
}

/// A packet's RTP packets as the first viewer of its track built them (sequence numbers from 0,
/// SSRC 0, timestamps from base 0), kept on the buffer entry: every other viewer writes only its
/// own 12-byte header (its SSRC, sequence number, timestamp base and payload type) in front of
/// the shared payloads, as RTMP viewers share their chunks.
struct SharedRtp(Vec<Bytes>);

impl SharedRtp {
    fn build(track: &Track, packet: &crate::media::Packet) -> SharedRtp {
        let packets = Packetizer::new(track, 96, 0)
            .and_then(|mut p| p.packetize(packet))
            .unwrap_or_else(|e| {
                tracing::debug!("RTSP: packet of track {} not sent: {e}", track.id);
                Vec::new()
            });
        SharedRtp(packets)
    }
}

/// Sends one packet of its media (and a sender report when one is due): interleaved frames go
/// into `out` (their heads into `heads`), UDP goes out now.
fn send_packet(o: &mut Out, entry: &Entry, out: &mut Vec<Bytes>, heads: &mut BytesMut) {
    let pts = entry.packet.time + i64::from(entry.packet.offset);
    if o.last_report.is_none_or(|t| t.elapsed() >= SR_EVERY) {
        o.last_report = Some(Instant::now());
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let report = rtcp::SenderReport {
            ssrc: o.packetizer.ssrc(),
            ntp: rtcp::ntp_time(since),
            rtp_time: o.packetizer.rtp_timestamp(pts),
            packets: o.packets,
            octets: o.octets,
        };
        let sr = rtcp::sender_report(&report, "eddy");
        emit(o, &sr, None, out, heads);
    }
    let track = o.track.clone();
    entry.cache.with(
        || SharedRtp::build(&track, &entry.packet),
        |shared| {
            for p in &shared.0 {
                if p.len() < HEADER_LEN {
                    continue;
                }
                let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]).wrapping_add(o.ts_base);
                let mut head = [0u8; HEADER_LEN];
                head[0] = p[0];
                head[1] = (p[1] & 0x80) | (o.packetizer.payload_type() & 0x7F);
                head[2..4].copy_from_slice(&o.seq.to_be_bytes());
                head[4..8].copy_from_slice(&ts.to_be_bytes());
                head[8..12].copy_from_slice(&o.packetizer.ssrc().to_be_bytes());
                o.seq = o.seq.wrapping_add(1);
                o.packets = o.packets.wrapping_add(1);
                o.octets = o.octets.wrapping_add((p.len() - HEADER_LEN) as u32);
                emit(o, &head, Some(p.slice(HEADER_LEN..)), out, heads);
            }
        },
    );
}

/// Sends one RTP packet (`head` then `payload`) or, without a payload, an RTCP packet of a
/// media.
fn emit(o: &Out, head: &[u8], payload: Option<Bytes>, out: &mut Vec<Bytes>, heads: &mut BytesMut) {
    let control = payload.is_none();
    let len = head.len() + payload.as_ref().map_or(0, Bytes::len);
    match (&o.transport, &o.udp) {
        (Transport::Interleaved { rtp, rtcp }, _) => {
            let channel = if control { *rtcp } else { *rtp };
            let Ok(len) = u16::try_from(len) else {
                return;
            };
            heads.extend_from_slice(&[b'$', channel]);
            heads.extend_from_slice(&len.to_be_bytes());
            heads.extend_from_slice(head);
            out.push(heads.split().freeze());
            if let Some(p) = payload {
                out.push(p);
            }
        }
        (Transport::Udp { .. }, Some((pair, to_rtp, to_rtcp))) => {
            let (sock, to) = if control {
                (&pair.rtcp, to_rtcp)
            } else {
                (&pair.rtp, to_rtp)
            };
            let mut datagram = Vec::with_capacity(len);
            datagram.extend_from_slice(head);
            if let Some(p) = &payload {
                datagram.extend_from_slice(p);
            }
            // A datagram that cannot go is lost, as UDP is.
            let _ = sock.try_send_to(&datagram, *to);
        }
        (Transport::Udp { .. }, None) => {}
    }
}

/// The start of a `Range: npt=START-[END]` header, ms (`now` and absent starts are `None`).
pub fn npt_start(range: &str) -> Option<i64> {
    let v = range.trim().strip_prefix("npt=")?;
    let start = v.split('-').next()?.trim();
    let secs: f64 = start.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then_some((secs * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::npt_start;

    #[test]
    fn npt_ranges() {
        assert_eq!(npt_start("npt=12.5-"), Some(12_500));
        assert_eq!(npt_start("npt=0.000-20"), Some(0));
        assert_eq!(npt_start("npt=now-"), None);
        assert_eq!(npt_start("clock=x"), None);
        assert_eq!(npt_start("npt=-3-"), None);
    }
}
