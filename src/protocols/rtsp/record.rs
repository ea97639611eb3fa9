//! Publishing over RTSP after RECORD: RTP from the publisher, interleaved on the connection or
//! by UDP to the ports SETUP gave, through each media's depacketizer into the stream's buffer.
//!
//! - Media line up by the publisher's RTCP sender reports: the first report of any media sets
//!   the stream's wall-clock origin, and a media's first report (before its first packet, as
//!   ffmpeg and most encoders send it) places its RTP times on that clock.
//! - H.264 and HEVC frames come with presentation times only; [`DecodeOrder`] gives them decode
//!   times and composition offsets (B-frames).
//! - Lost packets are counted in the stream's `packloss` and logged at most every 5 s; the
//!   depacketizer picks up at the next frame (video at the next keyframe).
//! - A publisher that sends nothing for [`SILENCE`] is dropped; TEARDOWN ends the publish.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::conn::{Conn, ConnError, RecordSetup};
use super::message::{Incoming, Response, Transport};
use crate::hub::buffer::WriteError;
use crate::hub::{OnDrop, Publisher};
use crate::media::decode_order::DecodeOrder;
use crate::media::rtp::{rtcp, Depacketizer, RtpEvent, RtpPacket};
use crate::media::{Codec, Packet};

/// A publisher silent for this long is dropped.
pub const SILENCE: Duration = Duration::from_secs(20);
/// Datagrams queued from the UDP sockets (more are dropped, as the network would).
const UDP_QUEUE: usize = 1024;
/// Shortest time between two log lines about lost packets.
const COMPLAINT_EVERY: Duration = Duration::from_secs(5);

/// One media being received.
struct In {
    depacketizer: Depacketizer,
    order: Option<DecodeOrder>,
    channels: Option<(u8, u8)>,
    /// A packet came out already (a later sender report no longer moves the timeline).
    started: bool,
}

/// Receives until the publisher leaves, falls silent or is replaced.
pub async fn run(
    conn: &mut Conn,
    sock: TcpStream,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ConnError> {
    let Some(setup) = conn.record.take() else {
        return Err(ConnError::Refused("RECORD before ANNOUNCE".into()));
    };
    let RecordSetup {
        name,
        publisher,
        session,
        media,
    } = setup;
    let (tx, mut rx) = mpsc::channel::<(usize, bool, Bytes)>(UDP_QUEUE);
    let mut tasks = Vec::new();
    let mut ins = Vec::with_capacity(media.len());
    for (i, m) in media.into_iter().enumerate() {
        let depacketizer = m
            .media
            .depacketizer()
            .map_err(|e| ConnError::Refused(format!("{name}: {e}")))?;
        let video = matches!(m.media.track.codec, Some(Codec::H264 | Codec::Hevc));
        let channels = match m.transport {
            Some(Transport::Interleaved { rtp, rtcp }) => Some((rtp, rtcp)),
            _ => None,
        };
        if let Some(pair) = m.udp {
            for (sock, control) in [(pair.rtp, false), (pair.rtcp, true)] {
                let tx = tx.clone();
                tasks.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; 65_536];
                    while let Ok(n) = sock.recv(&mut buf).await {
                        let data = Bytes::copy_from_slice(&buf[..n]);
                        let _ = tx.try_send((i, control, data));
                    }
                }));
            }
        }
        ins.push(In {
            order: video.then(|| DecodeOrder::new(m.media.track.fpks)),
            depacketizer,
            channels,
            started: false,
        });
    }
    drop(tx);
    let _abort = OnDrop::new(move || tasks.iter().for_each(|t| t.abort()));
    let mut feed = Feed {
        name: name.clone(),
        publisher,
        ntp_origin: None,
        complaints: 0,
        last_complaint: None,
    };
    let (mut rd, mut wr) = sock.into_split();
    let mut last_data = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let result = 'media: loop {
        while let Some(incoming) = conn.take()? {
            match incoming {
                Incoming::Frame(channel, data) => {
                    let found = ins.iter().position(|m| {
                        m.channels
                            .is_some_and(|(a, b)| a == channel || b == channel)
                    });
                    if let Some(i) = found {
                        last_data = Instant::now();
                        let control = ins[i].channels.is_some_and(|(_, b)| b == channel);
                        count(&feed, &session, data.len());
                        feed.take(&mut ins[i], control, data)?;
                    }
                }
                Incoming::Request(req) => {
                    let resp = match req.method.as_str() {
                        "TEARDOWN" => {
                            conn.respond(&mut wr, &req, Response::new(200)).await?;
                            break 'media Ok(());
                        }
                        "OPTIONS" | "GET_PARAMETER" | "SET_PARAMETER" | "RECORD" => {
                            Response::new(200)
                        }
                        _ => Response::new(455),
                    };
                    conn.respond(&mut wr, &req, resp).await?;
                }
                Incoming::Partial => {}
            }
        }
        tokio::select! {
            _ = stop.changed() => break Ok(()),
            read = rd.read_buf(&mut conn.rbuf) => {
                if read? == 0 {
                    break Ok(());
                }
            }
            Some((i, control, data)) = rx.recv() => {
                last_data = Instant::now();
                count(&feed, &session, data.len());
                if let Some(m) = ins.get_mut(i) {
                    feed.take(m, control, data)?;
                }
            }
            _ = tick.tick() => {
                if last_data.elapsed() > SILENCE {
                    break Err(ConnError::Refused(format!("publisher silent for {SILENCE:?}")));
                }
            }
        }
    };
    for m in &mut ins {
        if let Some(order) = &mut m.order {
            for p in order.flush() {
                let _ = feed.publisher.buffer.push(feed.publisher.token, p);
            }
        }
    }
    tracing::info!(
        kind = "STRM",
        stream = name.as_str(),
        "RTSP publish of {name} ended"
    );
    result
}

fn count(feed: &Feed, session: &Option<crate::hub::session::SessionConn>, bytes: usize) {
    feed.publisher
        .buffer
        .counters
        .up_bytes
        .fetch_add(bytes as u64, Ordering::Relaxed);
    if let Some(s) = session {
        s.counters.received(bytes as u64, 1, None);
    }
}

/// Writes what the media give into the stream.
struct Feed {
    name: String,
    publisher: Publisher,
    /// The NTP time of the first sender report: media time 0.
    ntp_origin: Option<u64>,
    complaints: u64,
    last_complaint: Option<Instant>,
}

impl Feed {
    fn take(&mut self, m: &mut In, control: bool, data: Bytes) -> Result<(), ConnError> {
        if control {
            self.report(m, &data);
            return Ok(());
        }
        match RtpPacket::parse(data) {
            Ok(p) => m.depacketizer.push(&p),
            Err(e) => self.complain(&e.to_string(), 1),
        }
        while let Some(event) = m.depacketizer.pull() {
            let written = match event {
                Ok(RtpEvent::Track(track)) => {
                    self.publisher.buffer.set_track(self.publisher.token, track)
                }
                Ok(RtpEvent::Packet(packet)) => {
                    m.started = true;
                    self.packet(m, packet)
                }
                Err(crate::media::rtp::RtpError::Lost(n)) => {
                    self.complain(&format!("{n} RTP packets lost"), n);
                    Ok(())
                }
                Err(e) => {
                    self.complain(&e.to_string(), 1);
                    Ok(())
                }
            };
            written.map_err(|e: WriteError| {
                ConnError::Refused(format!("{}: the stream takes no more: {e}", self.name))
            })?;
        }
        Ok(())
    }

    fn packet(&mut self, m: &mut In, packet: Packet) -> Result<(), WriteError> {
        let (buffer, token) = (&self.publisher.buffer, self.publisher.token);
        match &mut m.order {
            Some(order) => {
                for p in order.push(packet) {
                    buffer.push(token, p)?;
                }
                Ok(())
            }
            None => buffer.push(token, packet),
        }
    }

    /// A sender report places the media's RTP times on the stream's clock, before its first
    /// packet.
    fn report(&mut self, m: &mut In, data: &[u8]) {
        let Ok(packets) = rtcp::parse_compound(data) else {
            return;
        };
        for p in packets {
            if let rtcp::RtcpPacket::SenderReport(sr) = p {
                let origin = *self.ntp_origin.get_or_insert(sr.ntp);
                if !m.started {
                    let since = sr.ntp.wrapping_sub(origin) as i64;
                    let ms = ((i128::from(since) * 1000) >> 32) as i64;
                    m.depacketizer.set_origin(sr.rtp_time, ms.max(0));
                }
            }
        }
    }

    fn complain(&mut self, what: &str, n: u64) {
        self.publisher
            .buffer
            .counters
            .lost
            .fetch_add(n, Ordering::Relaxed);
        self.complaints += n;
        if self
            .last_complaint
            .is_none_or(|t| t.elapsed() >= COMPLAINT_EVERY)
        {
            tracing::warn!(
                kind = "WARN",
                stream = self.name.as_str(),
                "RTSP publish of {}: {what} ({} problem(s) since the last report)",
                self.name,
                self.complaints
            );
            self.complaints = 0;
            self.last_complaint = Some(Instant::now());
        }
    }
}
