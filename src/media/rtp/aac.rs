//! AAC in RFC 3640 `mpeg4-generic` payloads (mode AAC-hbr and any layout the fmtp gives).
//!
//! ```text
//! AU-headers-length u16 (in bits)
//! AU-header x n: AU-size (sizelength) | AU-Index (indexlength, first) or
//!                AU-Index-delta (indexdeltalength, later)   -- then zero bits to a byte
//! AU x n (raw AAC frames, back to back)
//! ```
//!
//! One AU larger than the rest of its packet is a fragment (3.2.3): the following packets of
//! the same timestamp carry the rest, each with an AU header giving the whole AU's size, the
//! last one with the marker bit. The frames of a packet are 1024 samples apart (AU-Index
//! counts them, 3.2.1.1). Sending puts one AU in each packet (13-bit size, 3-bit index 0),
//! fragmented when it does not fit.

use bytes::Bytes;

use super::super::bits::BitReader;
use super::depacketize::Sink;
use super::{AuHeaderLayout, RtpError, MAX_FRAME};

/// Samples in one AAC frame (frameLengthFlag 0).
const SAMPLES_PER_FRAME: i64 = 1024;

#[derive(Debug)]
pub(super) struct AacDepacketizer {
    layout: AuHeaderLayout,
    /// RTP ticks per frame.
    frame_ticks: i64,
    fragment: Option<Fragment>,
}

#[derive(Debug)]
struct Fragment {
    ticks: i64,
    size: usize,
    data: Vec<u8>,
}

impl AacDepacketizer {
    pub(super) fn new(
        layout: AuHeaderLayout,
        sample_rate: u32,
        clock_rate: u32,
    ) -> Result<AacDepacketizer, RtpError> {
        let valid = (1..=16).contains(&layout.size_length)
            && layout.index_length <= 16
            && layout.index_delta_length <= 16;
        if !valid {
            return Err(RtpError::Unsupported(format!(
                "AU headers of sizelength {} / indexlength {} / indexdeltalength {}",
                layout.size_length, layout.index_length, layout.index_delta_length
            )));
        }
        Ok(AacDepacketizer {
            layout,
            frame_ticks: SAMPLES_PER_FRAME * i64::from(clock_rate) / i64::from(sample_rate.max(1)),
            fragment: None,
        })
    }

    pub(super) fn loss(&mut self) {
        self.fragment = None;
    }

    pub(super) fn push(
        &mut self,
        payload: &Bytes,
        marker: bool,
        ticks: i64,
        sink: &mut Sink,
    ) -> Result<(), String> {
        if self.fragment.as_ref().is_some_and(|f| f.ticks != ticks) {
            self.fragment = None;
            sink.error("fragmented AU never completed".into());
        }
        let head = payload.get(..2).ok_or("AU-headers-length truncated")?;
        let header_bits = usize::from(u16::from_be_bytes([head[0], head[1]]));
        let header_end = 2 + header_bits.div_ceil(8);
        let headers = payload
            .get(2..header_end)
            .ok_or("AU headers run past the packet")?;
        let mut aus = self.headers(headers, header_bits)?;
        let mut at = header_end;
        let left = payload.len() - at;
        if let Some(mut fragment) = self.fragment.take() {
            if aus.len() != 1 || aus.first().map(|au| au.0) != Some(fragment.size) {
                return Err("AU fragment with another AU header".into());
            }
            fragment
                .data
                .extend_from_slice(payload.get(at..).unwrap_or_default());
            if fragment.data.len() > fragment.size {
                return Err(format!(
                    "AU fragments exceed the AU's {} bytes",
                    fragment.size
                ));
            }
            if fragment.data.len() == fragment.size {
                sink.packet(ticks, false, Bytes::from(fragment.data));
            } else if marker {
                return Err("AU incomplete at its last fragment".into());
            } else {
                self.fragment = Some(fragment);
            }
            return Ok(());
        }
        if let [(size, _)] = aus[..] {
            if size > left {
                if marker {
                    return Err(format!("AU of {size} bytes runs past its packet"));
                }
                if size > MAX_FRAME {
                    return Err(format!("AU of {size} bytes is too large"));
                }
                let mut data = Vec::with_capacity(size);
                data.extend_from_slice(payload.get(at..).unwrap_or_default());
                self.fragment = Some(Fragment { ticks, size, data });
                return Ok(());
            }
        }
        for (size, index) in aus.drain(..) {
            let au = payload
                .get(at..at + size)
                .ok_or_else(|| format!("AU of {size} bytes runs past the packet"))?;
            let time = ticks.saturating_add(index.saturating_mul(self.frame_ticks));
            sink.packet(time, false, payload.slice_ref(au));
            at += size;
        }
        Ok(())
    }

    /// (size, frame index) of each AU header.
    fn headers(&self, headers: &[u8], bits: usize) -> Result<Vec<(usize, i64)>, String> {
        let layout = self.layout;
        let mut r = BitReader::new(headers);
        let mut out = Vec::new();
        let mut used = 0usize;
        let mut index = 0i64;
        while used < bits {
            let index_bits = if out.is_empty() {
                layout.index_length
            } else {
                layout.index_delta_length
            };
            let need = usize::from(layout.size_length) + usize::from(index_bits);
            if used + need > bits {
                return Err("AU header cut short".into());
            }
            let truncated = |_| "AU headers truncated".to_string();
            let size = r
                .read_bits(u32::from(layout.size_length))
                .map_err(truncated)?;
            let step = if index_bits == 0 {
                0
            } else {
                r.read_bits(u32::from(index_bits)).map_err(truncated)?
            };
            index = if out.is_empty() {
                i64::from(step)
            } else {
                index + i64::from(step) + 1
            };
            out.push((size as usize, index));
            used += need;
        }
        if out.is_empty() {
            return Err("no AU headers".into());
        }
        Ok(out)
    }
}

/// The payloads for one AAC frame: AU-headers-length 16, one AAC-hbr header (size, index 0),
/// the frame; cut into fragments when it does not fit `mtu`.
pub(super) fn payloads(frame: &[u8], mtu: usize) -> Result<Vec<Vec<u8>>, RtpError> {
    let size = u16::try_from(frame.len())
        .ok()
        .filter(|&s| s < 1 << 13)
        .ok_or_else(|| RtpError::Payload {
            codec: "AAC",
            reason: format!("frame of {} bytes is too large for AAC-hbr", frame.len()),
        })?;
    let header = [0x00, 0x10, (size >> 5) as u8, ((size & 0x1F) << 3) as u8];
    let chunk = mtu.saturating_sub(header.len()).max(1);
    Ok(frame
        .chunks(chunk)
        .map(|piece| {
            let mut payload = Vec::with_capacity(header.len() + piece.len());
            payload.extend_from_slice(&header);
            payload.extend_from_slice(piece);
            payload
        })
        .collect())
}
