//! RTP from a publisher or a camera into a stream, shared by RTSP publishing ([`super::record`])
//! and the RTSP pull input: per media a depacketizer, decode times for H.264/HEVC
//! ([`DecodeOrder`]: RTP has presentation times only), and the media lined up on one clock.
//!
//! - The first RTCP sender report of any media sets the stream's wall-clock origin, and a
//!   media's first report (before its first packet, as ffmpeg and most encoders send it) places
//!   its RTP times on that clock; RTSP's `RTP-Info` does the same for a pull ([`In::set_origin`]).
//! - Lost packets are counted in the stream's `packloss` and logged at most every
//!   [`COMPLAINT_EVERY`]; the depacketizer picks up at the next frame (video at the next
//!   keyframe).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::hub::buffer::WriteError;
use crate::hub::Publisher;
use crate::media::decode_order::DecodeOrder;
use crate::media::rtp::{rtcp, Depacketizer, RtpEvent, RtpPacket};
use crate::media::sdp::SdpMedia;
use crate::media::{Codec, Packet};

/// Shortest time between two log lines about lost packets.
pub const COMPLAINT_EVERY: Duration = Duration::from_secs(5);

/// One media being received.
pub struct In {
    depacketizer: Depacketizer,
    order: Option<DecodeOrder>,
    /// Interleaved channels (RTP, RTCP) when it comes over TCP.
    pub channels: Option<(u8, u8)>,
    /// A packet came out already (a later sender report no longer moves the timeline).
    started: bool,
    /// Its place on the stream's clock came from RTP-Info: sender reports leave it.
    placed: bool,
}

impl In {
    pub fn new(media: &SdpMedia, channels: Option<(u8, u8)>) -> Result<In, String> {
        let depacketizer = media.depacketizer().map_err(|e| e.to_string())?;
        let video = matches!(media.track.codec, Some(Codec::H264 | Codec::Hevc));
        Ok(In {
            order: video.then(|| DecodeOrder::new(media.track.fpks)),
            depacketizer,
            channels,
            started: false,
            placed: false,
        })
    }

    /// RTP time `rtptime` is `ms` on the stream's clock (RTSP RTP-Info).
    pub fn set_origin(&mut self, rtptime: u32, ms: i64) {
        self.depacketizer.set_origin(rtptime, ms);
        self.placed = true;
    }
}

/// Counts `bytes` received to the stream and the publisher's session.
pub fn count(feed: &Feed, session: &Option<crate::hub::session::SessionConn>, bytes: usize) {
    feed.publisher
        .buffer
        .counters
        .bytes_in
        .fetch_add(bytes as u64, Ordering::Relaxed);
    if let Some(s) = session {
        s.counters.received(bytes as u64, 1, None);
    }
}

/// Writes what the media give into the stream.
pub struct Feed {
    pub name: String,
    pub publisher: Publisher,
    /// Names the input in log lines (`RTSP publish of cam`, `RTSP pull of cam`).
    pub what: String,
    /// The NTP time of the first sender report: media time 0.
    ntp_origin: Option<u64>,
    complaints: u64,
    last_complaint: Option<Instant>,
}

impl Feed {
    pub fn new(name: &str, publisher: Publisher, what: String) -> Feed {
        Feed {
            name: name.to_string(),
            publisher,
            what,
            ntp_origin: None,
            complaints: 0,
            last_complaint: None,
        }
    }

    /// Takes one RTP (or, `control`, RTCP) packet of media `m`. An error: the stream no longer
    /// takes this input's writes.
    pub fn take(&mut self, m: &mut In, control: bool, data: Bytes) -> Result<(), String> {
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
            written
                .map_err(|e: WriteError| format!("{}: the stream takes no more: {e}", self.name))?;
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
                if !m.started && !m.placed {
                    let since = sr.ntp.wrapping_sub(origin) as i64;
                    let ms = ((i128::from(since) * 1000) >> 32) as i64;
                    m.depacketizer.set_origin(sr.rtp_time, ms.max(0));
                }
            }
        }
    }

    /// The frames media `m` still holds for decode times (the input ended).
    pub fn finish(&mut self, m: &mut In) {
        if let Some(order) = &mut m.order {
            for p in order.flush() {
                let _ = self.publisher.buffer.push(self.publisher.token, p);
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
                "{}: {what} ({} problem(s) since the last report)",
                self.what,
                self.complaints
            );
            self.complaints = 0;
            self.last_complaint = Some(Instant::now());
        }
    }
}
