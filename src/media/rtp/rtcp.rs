//! RTCP (RFC 3550 6): sender reports, receiver reports and BYE, built and read.
//!
//! ```text
//! every packet: V=2 u2 | P u1 | count u5 | PT u8 | length u16 (32-bit words - 1)
//! SR (200, 6.4.1): SSRC | NTP time u64 | RTP time u32 | packets u32 | octets u32 | blocks
//! RR (201, 6.4.2): SSRC | report blocks (24 bytes each) x count
//! BYE (203, 6.6):  SSRC x count | [reason length u8 | reason]
//! ```
//!
//! A compound datagram is read loosely: SR, RR and BYE are recognised, other types (SDES, APP,
//! feedback) are reported by type and skipped; a bad version or a length past the datagram
//! refuses the whole datagram.

use bytes::{BufMut, Bytes, BytesMut};

/// Packets read from one compound datagram at most.
const MAX_PACKETS: usize = 32;

pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Errors from reading RTCP.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RtcpError {
    #[error("RTCP packet truncated")]
    Truncated,
    #[error("RTCP version {0}, not 2")]
    Version(u8),
    #[error("RTCP {0} packet too short for its type")]
    Short(u8),
}

/// What a sender report says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    pub ssrc: u32,
    /// Wall clock as a 64-bit NTP timestamp (32.32 fixed point seconds since 1900).
    pub ntp: u64,
    /// The RTP timestamp of that same instant.
    pub rtp_time: u32,
    pub packets: u32,
    pub octets: u32,
}

/// One packet of a compound datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    SenderReport(SenderReport),
    ReceiverReport {
        ssrc: u32,
        reports: u8,
    },
    Bye {
        ssrcs: Vec<u32>,
    },
    /// Another type (SDES, APP, feedback), skipped.
    Other {
        packet_type: u8,
    },
}

/// An NTP timestamp from a time since the Unix epoch.
pub fn ntp_time(since_unix: std::time::Duration) -> u64 {
    let seconds = since_unix.as_secs().wrapping_add(NTP_UNIX_OFFSET);
    let fraction = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (seconds << 32) | fraction
}

/// A sender report with no report blocks, followed by an SDES with the CNAME `cname` (RFC 3550
/// 6.1: every compound packet carries a CNAME).
pub fn sender_report(report: &SenderReport, cname: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(28 + 12 + cname.len());
    put_head(&mut out, 0, PT_SR, 6);
    out.put_u32(report.ssrc);
    out.put_u64(report.ntp);
    out.put_u32(report.rtp_time);
    out.put_u32(report.packets);
    out.put_u32(report.octets);
    put_sdes(&mut out, report.ssrc, cname);
    out.freeze()
}

/// A receiver report with no report blocks and an SDES CNAME (what a receiver sends to keep
/// the session alive).
pub fn receiver_report(ssrc: u32, cname: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(8 + 12 + cname.len());
    put_head(&mut out, 0, PT_RR, 1);
    out.put_u32(ssrc);
    put_sdes(&mut out, ssrc, cname);
    out.freeze()
}

/// A BYE for `ssrc` (the sender leaves).
pub fn bye(ssrc: u32) -> Bytes {
    let mut out = BytesMut::with_capacity(8);
    put_head(&mut out, 1, PT_BYE, 1);
    out.put_u32(ssrc);
    out.freeze()
}

fn put_head(out: &mut BytesMut, count: u8, packet_type: u8, length_words: u16) {
    out.put_u8(0x80 | (count & 0x1F));
    out.put_u8(packet_type);
    out.put_u16(length_words);
}

/// SDES with one chunk: SSRC, CNAME item, end, padding to a word.
fn put_sdes(out: &mut BytesMut, ssrc: u32, cname: &str) {
    let name = cname
        .as_bytes()
        .get(..cname.len().min(255))
        .unwrap_or_default();
    // SSRC + type + length + name + at least one zero byte, to a multiple of 4.
    let chunk = (4 + 2 + name.len() + 1).div_ceil(4) * 4;
    // At most 264 bytes: fits.
    put_head(out, 1, PT_SDES, (chunk / 4) as u16);
    out.put_u32(ssrc);
    out.put_u8(1); // CNAME
    out.put_u8(name.len() as u8);
    out.extend_from_slice(name);
    out.put_bytes(0, chunk - 4 - 2 - name.len());
}

/// Reads a compound datagram.
pub fn parse_compound(data: &[u8]) -> Result<Vec<RtcpPacket>, RtcpError> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() && out.len() < MAX_PACKETS {
        let head = rest.get(..4).ok_or(RtcpError::Truncated)?;
        let version = head[0] >> 6;
        if version != 2 {
            return Err(RtcpError::Version(version));
        }
        let count = head[0] & 0x1F;
        let packet_type = head[1];
        let len = (usize::from(u16::from_be_bytes([head[2], head[3]])) + 1) * 4;
        let packet = rest.get(..len).ok_or(RtcpError::Truncated)?;
        rest = rest.get(len..).unwrap_or_default();
        let body = packet.get(4..).unwrap_or_default();
        let word = |i: usize| {
            body.get(i * 4..i * 4 + 4)
                .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
                .ok_or(RtcpError::Short(packet_type))
        };
        out.push(match packet_type {
            PT_SR => SenderReport {
                ssrc: word(0)?,
                ntp: (u64::from(word(1)?) << 32) | u64::from(word(2)?),
                rtp_time: word(3)?,
                packets: word(4)?,
                octets: word(5)?,
            }
            .into(),
            PT_RR => RtcpPacket::ReceiverReport {
                ssrc: word(0)?,
                reports: count,
            },
            PT_BYE => RtcpPacket::Bye {
                ssrcs: (0..usize::from(count))
                    .map(word)
                    .collect::<Result<_, _>>()?,
            },
            packet_type => RtcpPacket::Other { packet_type },
        });
    }
    Ok(out)
}

impl From<SenderReport> for RtcpPacket {
    fn from(report: SenderReport) -> RtcpPacket {
        RtcpPacket::SenderReport(report)
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::bits::tests::XorShift;
    use super::*;

    #[test]
    fn sender_report_round_trips_with_its_sdes() {
        let report = SenderReport {
            ssrc: 0xAABB_CCDD,
            ntp: ntp_time(std::time::Duration::new(1_700_000_000, 500_000_000)),
            rtp_time: 90_000,
            packets: 10,
            octets: 12_345,
        };
        assert_eq!(report.ntp & 0xFFFF_FFFF, 1 << 31);
        let bytes = sender_report(&report, "eddy");
        assert_eq!(bytes.len() % 4, 0);
        let parsed = parse_compound(&bytes).unwrap();
        assert_eq!(
            parsed,
            vec![
                RtcpPacket::SenderReport(report),
                RtcpPacket::Other {
                    packet_type: PT_SDES
                }
            ]
        );
        let mut both = receiver_report(7, "x").to_vec();
        both.extend_from_slice(&bye(7));
        let parsed = parse_compound(&both).unwrap();
        assert_eq!(
            parsed[0],
            RtcpPacket::ReceiverReport {
                ssrc: 7,
                reports: 0
            }
        );
        assert_eq!(parsed[2], RtcpPacket::Bye { ssrcs: vec![7] });
    }

    #[test]
    fn malformed_compounds_are_refused() {
        assert_eq!(parse_compound(&[0x80, 200]), Err(RtcpError::Truncated));
        assert_eq!(
            parse_compound(&[0x40, 200, 0, 0]),
            Err(RtcpError::Version(1))
        );
        // Length says 2 words, the datagram has 1.
        assert_eq!(
            parse_compound(&[0x80, 201, 0, 1]),
            Err(RtcpError::Truncated)
        );
        // An SR of one word.
        assert_eq!(
            parse_compound(&[0x80, 200, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::Short(200))
        );
        // A BYE listing more SSRCs than it holds.
        assert!(parse_compound(&[0x83, 203, 0, 1, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(0xfeed_beef_0bad_cafe);
        for _ in 0..20_000 {
            let mut raw = rng.bytes(64);
            if let Some(first) = raw.first_mut() {
                *first = (*first & 0x3F) | 0x80;
            }
            let _ = parse_compound(&raw);
        }
    }
}
