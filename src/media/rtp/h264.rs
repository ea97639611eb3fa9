//! H.264 over RTP (RFC 6184), packetization-mode 0 and 1: the payload's first byte is a NAL
//! unit header whose type says how to read the rest (5.2, 5.4).
//!
//! ```text
//! single NAL unit (types 1..=23): the NAL unit itself
//! STAP-A (24, 5.7.1):  header | { size u16 | NAL unit } ...
//! FU-A (28, 5.8):      FU indicator (F | NRI | 28) | FU header (S | E | R | type) | bytes
//!                      the unit's header is rebuilt as F | NRI from the indicator, type from the
//!                      FU header
//! ```
//!
//! STAP-B, MTAP16/24 and FU-B (25, 26, 27, 29) belong to packetization-mode 2 (interleaved)
//! and are refused. Sending uses single NAL units and FU-A.

use super::depacketize::Sink;
use super::video::NalAssembler;

const STAP_A: u8 = 24;
const FU_A: u8 = 28;

/// Reads one payload into `asm`.
pub(super) fn depacketize(
    asm: &mut NalAssembler,
    payload: &[u8],
    sink: &mut Sink,
) -> Result<(), String> {
    let (&header, body) = payload.split_first().ok_or("empty payload")?;
    if header & 0x80 != 0 {
        return Err("forbidden_zero_bit set".into());
    }
    match header & 0x1F {
        1..=23 => asm.nal(payload, sink),
        STAP_A => {
            let mut rest = body;
            while !rest.is_empty() {
                let size = rest
                    .get(..2)
                    .map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
                    .ok_or("STAP-A size truncated")?;
                let unit = rest
                    .get(2..2 + size)
                    .ok_or_else(|| format!("STAP-A unit of {size} bytes runs past the packet"))?;
                asm.nal(unit, sink)?;
                rest = rest.get(2 + size..).unwrap_or_default();
            }
            Ok(())
        }
        FU_A => {
            let (&fu, data) = body.split_first().ok_or("FU-A header truncated")?;
            let (start, end) = (fu & 0x80 != 0, fu & 0x40 != 0);
            if start && end {
                return Err("FU-A with both start and end bits".into());
            }
            if start {
                asm.fragment_start(&[(header & 0xE0) | (fu & 0x1F)], data)
            } else {
                asm.fragment_more(data, end, sink)
            }
        }
        kind @ (25 | 26 | 27 | 29) => Err(format!(
            "NAL unit type {kind} needs packetization-mode 2, not supported"
        )),
        kind => Err(format!("reserved NAL unit type {kind}")),
    }
}

/// Cuts `unit` (longer than `mtu`) into FU-A payloads of at most `mtu` bytes.
pub(super) fn fragment(unit: &[u8], mtu: usize, out: &mut Vec<Vec<u8>>) {
    let Some((&header, body)) = unit.split_first() else {
        return;
    };
    let indicator = (header & 0xE0) | FU_A;
    let chunk = mtu.saturating_sub(2).max(1);
    let count = body.len().div_ceil(chunk);
    for (i, piece) in body.chunks(chunk).enumerate() {
        let mut fu = header & 0x1F;
        if i == 0 {
            fu |= 0x80;
        }
        if i + 1 == count {
            fu |= 0x40;
        }
        let mut payload = Vec::with_capacity(piece.len() + 2);
        payload.extend_from_slice(&[indicator, fu]);
        payload.extend_from_slice(piece);
        out.push(payload);
    }
}
