//! The transport packet layer, written and read: the 4-byte header and the adaptation field.
//!
//! - ISO/IEC 13818-1 (ITU-T H.222.0) 2.4.3.2 transport packet, 2.4.3.3 its semantics (PID,
//!   payload_unit_start_indicator, adaptation_field_control, continuity_counter).
//! - 2.4.3.4 / 2.4.3.5 `adaptation_field()`: discontinuity_indicator, random_access_indicator,
//!   the program clock reference (PCR: 33-bit base in 90 kHz, 6 reserved bits, 9-bit extension
//!   in 27 MHz) and stuffing bytes.
//!
//! ```text
//!  byte 0    sync_byte 0x47
//!  byte 1    transport_error_indicator u1 | payload_unit_start_indicator u1
//!            | transport_priority u1 | PID bits 12..8 (u5)
//!  byte 2    PID bits 7..0
//!  byte 3    transport_scrambling_control u2 | adaptation_field_control u2 (01 payload only,
//!            10 adaptation field only, 11 both) | continuity_counter u4
//!  [adaptation_field: adaptation_field_length u8 | discontinuity u1 | random_access u1
//!            | es_priority u1 | PCR_flag u1 | OPCR_flag u1 | splicing_point u1
//!            | private_data u1 | extension u1 | [PCR: base u33, reserved u6, extension u9]
//!            | stuffing 0xFF ...]
//!  payload   up to 184 bytes (PSI: pointer_field then sections; PES: the PES packet bytes)
//! ```

use super::{HEADER_LEN, PACKET_PAYLOAD, SYNC_BYTE, TS_PACKET};

/// The 4-byte transport packet header; payload is always present.
pub(super) fn packet_header(pid: u16, unit_start: bool, adaptation: bool, cc: u8) -> [u8; 4] {
    let [pid_high, pid_low] = (pid & 0x1FFF).to_be_bytes();
    let control = if adaptation { 0x30 } else { 0x10 };
    [
        SYNC_BYTE,
        (u8::from(unit_start) << 6) | pid_high,
        pid_low,
        control | (cc & 0x0F),
    ]
}

/// The continuity counter after `cc` (4 bits).
pub(super) fn next_cc(cc: u8) -> u8 {
    cc.wrapping_add(1) & 0x0F
}

/// What the first TS packet of a PES carries in its adaptation field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Adaptation {
    pub(super) random_access: bool,
    /// PCR base in 90 kHz (the extension is written as 0).
    pub(super) pcr: Option<u64>,
}

impl Adaptation {
    pub(super) const NONE: Adaptation = Adaptation {
        random_access: false,
        pcr: None,
    };

    pub(super) fn is_empty(&self) -> bool {
        !self.random_access && self.pcr.is_none()
    }

    /// Writes the flags byte and optional fields (without adaptation_field_length or
    /// stuffing) to `out`; returns how many bytes that took (1 or 7).
    pub(super) fn write_fields(&self, out: &mut [u8; 7]) -> usize {
        let mut flags = 0u8;
        if self.random_access {
            flags |= 0x40;
        }
        if self.pcr.is_some() {
            flags |= 0x10;
        }
        out[0] = flags;
        match self.pcr {
            Some(base) => {
                out[1..7].copy_from_slice(&pcr_bytes(base, 0));
                7
            }
            None => 1,
        }
    }
}

/// program_clock_reference (2.4.3.4): base u33 | reserved 111111 | extension u9.
pub(super) fn pcr_bytes(base: u64, extension: u16) -> [u8; 6] {
    let base = base & 0x1_FFFF_FFFF;
    let ext = u64::from(extension & 0x1FF);
    let packed = (base << 15) | (0x3F << 9) | ext;
    let [_, _, b0, b1, b2, b3, b4, b5] = packed.to_be_bytes();
    [b0, b1, b2, b3, b4, b5]
}

/// The (base, extension) of a 6-byte program_clock_reference.
fn parse_pcr(b: &[u8; 6]) -> (u64, u16) {
    let packed = b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
    (packed >> 15, (packed & 0x1FF) as u16)
}

/// Why 188 bytes are not a transport packet.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum PacketError {
    #[error("transport packet truncated")]
    Truncated,
    #[error("no sync byte")]
    NoSync,
    #[error("adaptation field length {0} does not fit the packet")]
    AdaptationLength(u8),
    #[error("adaptation field flags need more bytes than its length")]
    AdaptationFields,
}

/// The adaptation field of a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdaptationField {
    pub discontinuity: bool,
    pub random_access: bool,
    /// PCR base (90 kHz) and extension (27 MHz).
    pub pcr: Option<(u64, u16)>,
}

/// One received transport packet; `payload` borrows from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsPacket<'a> {
    pub pid: u16,
    pub unit_start: bool,
    pub transport_error: bool,
    /// transport_scrambling_control is not 00.
    pub scrambled: bool,
    pub continuity_counter: u8,
    pub adaptation: Option<AdaptationField>,
    /// `None` when adaptation_field_control says there is none (10, or the reserved 00).
    pub payload: Option<&'a [u8]>,
}

impl<'a> TsPacket<'a> {
    /// Parses the first 188 bytes of `data`. Checked once here: the sync byte, the
    /// adaptation field length against the packet (at most 183 with a payload, exactly 183
    /// without), and that the flagged PCR fits in the field.
    pub fn parse(data: &'a [u8]) -> Result<TsPacket<'a>, PacketError> {
        let raw = data.get(..TS_PACKET).ok_or(PacketError::Truncated)?;
        let header = raw.get(..HEADER_LEN).ok_or(PacketError::Truncated)?;
        let (b0, b1, b2, b3) = match *header {
            [b0, b1, b2, b3] => (b0, b1, b2, b3),
            _ => return Err(PacketError::Truncated),
        };
        if b0 != SYNC_BYTE {
            return Err(PacketError::NoSync);
        }
        let control = (b3 >> 4) & 0x03;
        let rest = raw.get(HEADER_LEN..).unwrap_or_default();
        let (adaptation, payload_start) = if control & 0x02 != 0 {
            let len = *rest.first().ok_or(PacketError::Truncated)?;
            let max = if control & 0x01 != 0 {
                PACKET_PAYLOAD - 2
            } else {
                PACKET_PAYLOAD - 1
            };
            if usize::from(len) > max {
                return Err(PacketError::AdaptationLength(len));
            }
            let field = rest.get(1..1 + usize::from(len)).unwrap_or_default();
            (Some(parse_adaptation(field)?), 1 + usize::from(len))
        } else {
            (None, 0)
        };
        let payload = (control & 0x01 != 0).then(|| rest.get(payload_start..).unwrap_or_default());
        Ok(TsPacket {
            pid: u16::from_be_bytes([b1 & 0x1F, b2]),
            unit_start: b1 & 0x40 != 0,
            transport_error: b1 & 0x80 != 0,
            scrambled: b3 & 0xC0 != 0,
            continuity_counter: b3 & 0x0F,
            adaptation,
            payload,
        })
    }
}

/// The adaptation field after its length byte (an empty one is a single stuffing byte).
fn parse_adaptation(field: &[u8]) -> Result<AdaptationField, PacketError> {
    let Some((&flags, rest)) = field.split_first() else {
        return Ok(AdaptationField::default());
    };
    let pcr = if flags & 0x10 != 0 {
        let bytes: &[u8; 6] = rest
            .get(..6)
            .and_then(|b| b.try_into().ok())
            .ok_or(PacketError::AdaptationFields)?;
        Some(parse_pcr(bytes))
    } else {
        None
    };
    Ok(AdaptationField {
        discontinuity: flags & 0x80 != 0,
        random_access: flags & 0x40 != 0,
        pcr,
    })
}
