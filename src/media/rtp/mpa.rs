//! MPEG audio over RTP (RFC 2250 3.5, `MPA`, static payload type 14, 90 kHz clock).
//!
//! ```text
//! MBZ u16 | Frag_offset u16 | whole frames, or one fragment of a frame
//! ```
//!
//! A frame larger than a packet continues in the next packets (same timestamp), each giving its
//! byte offset in the frame. Frames of one packet follow each other by their sample counts.
//! The track (rate, channels) comes from the first frame ([`mp3::track_from_frame`]): the SDP
//! says nothing about it.

use bytes::Bytes;

use super::super::mp3;
use super::depacketize::Sink;
use super::RtpError;

#[derive(Debug)]
pub(super) struct MpaDepacketizer {
    clock: i64,
    fragment: Option<Fragment>,
}

#[derive(Debug)]
struct Fragment {
    ticks: i64,
    size: usize,
    data: Vec<u8>,
}

impl MpaDepacketizer {
    pub(super) fn new(clock_rate: u32) -> MpaDepacketizer {
        MpaDepacketizer {
            clock: i64::from(clock_rate),
            fragment: None,
        }
    }

    pub(super) fn loss(&mut self) {
        self.fragment = None;
    }

    pub(super) fn push(
        &mut self,
        payload: &Bytes,
        ticks: i64,
        sink: &mut Sink,
    ) -> Result<(), String> {
        let head = payload.get(..4).ok_or("MPA header truncated")?;
        let offset = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let body = payload.slice(4..);
        if offset > 0 {
            let mut fragment = self
                .fragment
                .take()
                .filter(|f| f.ticks == ticks && f.data.len() == offset)
                .ok_or("frame fragment without its start")?;
            fragment.data.extend_from_slice(&body);
            if fragment.data.len() > fragment.size {
                return Err(format!(
                    "fragments exceed the frame's {} bytes",
                    fragment.size
                ));
            }
            if fragment.data.len() == fragment.size {
                self.frame(&fragment.data, sink)?;
                sink.packet(ticks, false, Bytes::from(fragment.data));
            } else {
                self.fragment = Some(fragment);
            }
            return Ok(());
        }
        if self.fragment.take().is_some() {
            sink.error("fragmented frame never completed".into());
        }
        let mut at = 0usize;
        let mut samples = 0i64;
        while let Some(rest) = body.get(at..).filter(|r| !r.is_empty()) {
            let header = mp3::parse_header(rest).map_err(|e| e.to_string())?;
            if header.frame_len == 0 {
                return Err("frame of 0 bytes".into());
            }
            if header.frame_len > rest.len() {
                if at > 0 {
                    return Err("frame runs past its packet".into());
                }
                let mut data = Vec::with_capacity(header.frame_len);
                data.extend_from_slice(rest);
                self.fragment = Some(Fragment {
                    ticks,
                    size: header.frame_len,
                    data,
                });
                return Ok(());
            }
            let frame = body.slice(at..at + header.frame_len);
            if at == 0 {
                self.frame(&frame, sink)?;
            }
            let rate = i64::from(header.sample_rate.max(1));
            sink.packet(
                ticks.saturating_add(samples * self.clock / rate),
                false,
                frame,
            );
            samples += i64::from(header.samples_per_frame);
            at += header.frame_len;
        }
        Ok(())
    }

    /// The track from a frame.
    fn frame(&self, frame: &[u8], sink: &mut Sink) -> Result<(), String> {
        let track = mp3::track_from_frame(frame).map_err(|e| e.to_string())?;
        sink.announce(track);
        Ok(())
    }
}

/// The payloads of one frame: the 4-byte header and the frame, or its fragments with their
/// offsets when it does not fit `mtu`.
pub(super) fn payloads(frame: &[u8], mtu: usize) -> Result<Vec<Vec<u8>>, RtpError> {
    if frame.len() > usize::from(u16::MAX) {
        return Err(RtpError::Payload {
            codec: "MP3",
            reason: format!("frame of {} bytes", frame.len()),
        });
    }
    let chunk = mtu.saturating_sub(4).max(1);
    Ok(frame
        .chunks(chunk)
        .enumerate()
        .map(|(i, piece)| {
            // The frame is under 64 KiB, so every offset fits.
            let offset = (i * chunk) as u16;
            let mut payload = Vec::with_capacity(4 + piece.len());
            payload.extend_from_slice(&[0, 0]);
            payload.extend_from_slice(&offset.to_be_bytes());
            payload.extend_from_slice(piece);
            payload
        })
        .collect())
}
