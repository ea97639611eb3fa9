//! HEVC over RTP (RFC 7798) without DONL (sprop-max-don-diff 0, the common case): the payload
//! starts with a 2-byte NAL unit header (4.4) whose type says how to read the rest.
//!
//! ```text
//! single NAL unit (types 0..=47): the NAL unit itself
//! AP (48, 4.4.2):  PayloadHdr (2) | { size u16 | NAL unit } ...
//! FU (49, 4.4.3):  PayloadHdr (2, type 49) | FU header (S | E | FuType u6) | bytes
//!                  the unit's header is PayloadHdr with its type replaced by FuType
//! ```
//!
//! PACI (50) is refused. Sending uses single NAL units and FUs.

use super::depacketize::Sink;
use super::video::NalAssembler;

const AP: u8 = 48;
const FU: u8 = 49;

/// Reads one payload into `asm`.
pub(super) fn depacketize(
    asm: &mut NalAssembler,
    payload: &[u8],
    sink: &mut Sink,
) -> Result<(), String> {
    let header = payload.get(..2).ok_or("payload header truncated")?;
    if header[0] & 0x80 != 0 {
        return Err("forbidden_zero_bit set".into());
    }
    let body = payload.get(2..).unwrap_or_default();
    match (header[0] >> 1) & 0x3F {
        0..=47 => asm.nal(payload, sink),
        AP => {
            let mut rest = body;
            while !rest.is_empty() {
                let size = rest
                    .get(..2)
                    .map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
                    .ok_or("AP size truncated")?;
                let unit = rest
                    .get(2..2 + size)
                    .ok_or_else(|| format!("AP unit of {size} bytes runs past the packet"))?;
                asm.nal(unit, sink)?;
                rest = rest.get(2 + size..).unwrap_or_default();
            }
            Ok(())
        }
        FU => {
            let (&fu, data) = body.split_first().ok_or("FU header truncated")?;
            let (start, end) = (fu & 0x80 != 0, fu & 0x40 != 0);
            if start && end {
                return Err("FU with both start and end bits".into());
            }
            if start {
                let rebuilt = [(header[0] & 0x81) | ((fu & 0x3F) << 1), header[1]];
                asm.fragment_start(&rebuilt, data)
            } else {
                asm.fragment_more(data, end, sink)
            }
        }
        kind => Err(format!(
            "payload type {kind} (PACI or reserved) not supported"
        )),
    }
}

/// Cuts `unit` (longer than `mtu`) into FU payloads of at most `mtu` bytes.
pub(super) fn fragment(unit: &[u8], mtu: usize, out: &mut Vec<Vec<u8>>) {
    let (Some(header), Some(body)) = (unit.get(..2), unit.get(2..)) else {
        return;
    };
    let payload_header = [(header[0] & 0x81) | (FU << 1), header[1]];
    let kind = (header[0] >> 1) & 0x3F;
    let chunk = mtu.saturating_sub(3).max(1);
    let count = body.len().div_ceil(chunk);
    for (i, piece) in body.chunks(chunk).enumerate() {
        let mut fu = kind;
        if i == 0 {
            fu |= 0x80;
        }
        if i + 1 == count {
            fu |= 0x40;
        }
        let mut payload = Vec::with_capacity(piece.len() + 3);
        payload.extend_from_slice(&payload_header);
        payload.push(fu);
        payload.extend_from_slice(piece);
        out.push(payload);
    }
}
