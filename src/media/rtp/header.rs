//! The RTP fixed header (RFC 3550 5.1), read and written.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! |                           timestamp                           |
//! |           synchronization source (SSRC) identifier            |
//! |            contributing source (CSRC) identifiers x CC        |
//! [ extension (5.3.1): profile u16 | length u16 (32-bit words) | words ]
//! payload ... [ padding, its last byte = padding count (P) ]
//! ```
//!
//! Everything is checked once in [`RtpPacket::parse`]; the extension is skipped.

use bytes::{BufMut, Bytes, BytesMut};

use super::RtpError;

/// Bytes in the fixed header.
pub const HEADER_LEN: usize = 12;

/// One RTP packet: the header fields and the payload (a slice of the datagram, not a copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Contributing sources (mixers only; empty from cameras and encoders).
    pub csrcs: Vec<u32>,
    pub payload: Bytes,
}

impl RtpPacket {
    /// Parses a datagram (or an interleaved frame's body). Refuses a version other than 2, a
    /// header, CSRC list or extension longer than the packet, and padding longer than the
    /// payload.
    pub fn parse(data: Bytes) -> Result<RtpPacket, RtpError> {
        let head = data.get(..HEADER_LEN).ok_or(RtpError::Truncated)?;
        let version = head[0] >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        let padding = head[0] & 0x20 != 0;
        let extension = head[0] & 0x10 != 0;
        let csrc_count = usize::from(head[0] & 0x0F);
        let marker = head[1] & 0x80 != 0;
        let payload_type = head[1] & 0x7F;
        let sequence = u16::from_be_bytes([head[2], head[3]]);
        let timestamp = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let ssrc = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        let mut at = HEADER_LEN;
        let list = data
            .get(at..at + 4 * csrc_count)
            .ok_or(RtpError::Invalid("CSRC list runs past the packet"))?;
        let csrcs = list
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        at += 4 * csrc_count;
        if extension {
            let ext = data
                .get(at..at + 4)
                .ok_or(RtpError::Invalid("header extension runs past the packet"))?;
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            at += 4 + 4 * words;
            if at > data.len() {
                return Err(RtpError::Invalid("header extension runs past the packet"));
            }
        }
        let mut end = data.len();
        if padding {
            let count = usize::from(data.last().copied().unwrap_or(0));
            if count == 0 || count > end - at {
                return Err(RtpError::Invalid("padding longer than the payload"));
            }
            end -= count;
        }
        Ok(RtpPacket {
            marker,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            csrcs,
            payload: data.slice(at..end),
        })
    }

    /// The packet as bytes (no padding, no extension; at most 15 CSRCs are written).
    pub fn to_bytes(&self) -> Bytes {
        let csrcs = self
            .csrcs
            .get(..self.csrcs.len().min(15))
            .unwrap_or_default();
        let mut out = BytesMut::with_capacity(HEADER_LEN + 4 * csrcs.len() + self.payload.len());
        put_header(
            &mut out,
            self.marker,
            self.payload_type,
            self.sequence,
            self.timestamp,
            self.ssrc,
        );
        if let Some(first) = out.first_mut() {
            // csrcs has at most 15 entries.
            *first |= csrcs.len() as u8;
        }
        for csrc in csrcs {
            out.put_u32(*csrc);
        }
        out.extend_from_slice(&self.payload);
        out.freeze()
    }
}

/// Appends a 12-byte header with no CSRCs, padding or extension.
pub fn put_header(
    out: &mut BytesMut,
    marker: bool,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
) {
    out.put_u8(0x80);
    out.put_u8((u8::from(marker) << 7) | (payload_type & 0x7F));
    out.put_u16(sequence);
    out.put_u32(timestamp);
    out.put_u32(ssrc);
}

#[cfg(test)]
mod tests {
    use super::super::super::bits::tests::XorShift;
    use super::*;

    #[test]
    fn header_round_trips() {
        let packet = RtpPacket {
            marker: true,
            payload_type: 96,
            sequence: 0xFFFF,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x1234_5678,
            csrcs: vec![1, 2],
            payload: Bytes::from_static(b"hello"),
        };
        let bytes = packet.to_bytes();
        assert_eq!(bytes.len(), 12 + 8 + 5);
        assert_eq!(RtpPacket::parse(bytes).unwrap(), packet);
    }

    #[test]
    fn extension_and_padding_are_skipped() {
        let mut raw = vec![0xB0, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        raw.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // one-word extension
        raw.extend_from_slice(b"abc");
        raw.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let packet = RtpPacket::parse(Bytes::from(raw)).unwrap();
        assert_eq!(&packet.payload[..], b"abc");
        assert_eq!((packet.sequence, packet.timestamp, packet.ssrc), (1, 2, 3));
        assert!(!packet.marker);
    }

    #[test]
    fn malformed_headers_are_refused() {
        let cases: [(&[u8], &str); 5] = [
            (&[0x80, 0x60, 0, 1], "truncated"),
            (&[0x40, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3], "version 1"),
            (
                &[0x82, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0],
                "CSRCs",
            ),
            (
                &[0x90, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 9],
                "extension",
            ),
            (&[0xA0, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 9], "padding"),
        ];
        for (raw, what) in cases {
            assert!(
                RtpPacket::parse(Bytes::copy_from_slice(raw)).is_err(),
                "{what}"
            );
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(0x1234_5678_9abc_def0);
        for _ in 0..20_000 {
            let mut raw = rng.bytes(40);
            if let Some(first) = raw.first_mut() {
                *first = (*first & 0x3F) | 0x80;
            }
            let _ = RtpPacket::parse(Bytes::from(raw));
        }
    }
}
