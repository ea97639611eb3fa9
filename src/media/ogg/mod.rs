//! Ogg (RFC 3533): pages with their CRC, the packets they carry, and Xiph lacing of the
//! codec header packets; the codec headers Ogg streams start with ([`codecs`]) and the muxer
//! ([`mux`]). Pure code: the on-demand scanner ([`crate::media::vod::ogg`]) and the HTTP output
//! use it.
//!
//! A page, RFC 3533 section 6 (all numbers little-endian):
//!
//! ```text
//!  0      4        5            6          14       18         22    26          27
//!  "OggS" version  header_type  granule    serial   sequence   CRC   n_segments  lacing[n] body
//!         (0)      1 continued  (i64)      (u32)    (u32)      (u32)             (u8 each)
//!                  2 BOS, 4 EOS
//! ```
//!
//! The body is the concatenation of the segments; a packet is a run of segments ending with
//! one shorter than 255 bytes, and a page whose last lacing value is 255 leaves its last packet
//! to be continued on the next page of the same stream (header_type bit 1 set there). The CRC
//! is CRC-32 with polynomial 0x04C11DB7, initial value 0, no reflection and no final XOR, over
//! the whole page with the CRC field set to zero.

pub mod codecs;
pub mod mux;

use bytes::Bytes;

/// `header_type` bits (RFC 3533 section 6).
pub const CONTINUED: u8 = 0x01;
pub const BOS: u8 = 0x02;
pub const EOS: u8 = 0x04;

/// The fixed part of a page header.
pub const HEADER_LEN: usize = 27;
/// The longest page: a full header and 255 segments of 255 bytes.
pub const MAX_PAGE: usize = HEADER_LEN + 255 + 255 * 255;

/// Why bytes are not a page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// More bytes are needed: the page is this long in all.
    #[error("the page needs {0} bytes")]
    Incomplete(usize),
    #[error("not an Ogg page: {0}")]
    Invalid(&'static str),
}

/// One page, borrowed from the bytes it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page<'a> {
    pub header_type: u8,
    /// Codec-defined position after the last packet that ends on this page; -1 when none does.
    pub granule: i64,
    pub serial: u32,
    pub sequence: u32,
    pub lacing: &'a [u8],
    pub body: &'a [u8],
    /// The page's whole length (header, lacing and body).
    pub len: usize,
}

impl<'a> Page<'a> {
    /// Parses the page at the start of `buf`, checking its CRC when `check_crc`.
    pub fn parse(buf: &'a [u8], check_crc: bool) -> Result<Page<'a>, PageError> {
        if buf.len() < HEADER_LEN {
            if !b"OggS".starts_with(&buf[..buf.len().min(4)]) {
                return Err(PageError::Invalid("no capture pattern"));
            }
            return Err(PageError::Incomplete(HEADER_LEN));
        }
        if &buf[..4] != b"OggS" {
            return Err(PageError::Invalid("no capture pattern"));
        }
        if buf[4] != 0 {
            return Err(PageError::Invalid("unknown version"));
        }
        let segments = usize::from(buf[26]);
        let head = HEADER_LEN + segments;
        let Some(lacing) = buf.get(HEADER_LEN..head) else {
            return Err(PageError::Incomplete(head));
        };
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let len = head + body_len;
        let Some(body) = buf.get(head..len) else {
            return Err(PageError::Incomplete(len));
        };
        let le32 = |at: usize| u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        if check_crc && crc(&buf[..len]) != le32(22) {
            return Err(PageError::Invalid("CRC mismatch"));
        }
        let mut granule = [0u8; 8];
        granule.copy_from_slice(&buf[6..14]);
        Ok(Page {
            header_type: buf[5],
            granule: i64::from_le_bytes(granule),
            serial: le32(14),
            sequence: le32(18),
            lacing,
            body,
            len,
        })
    }

    /// The page's packet pieces in order: `(bytes, complete)`, where `complete` is false for a
    /// last piece continued on the next page. The first piece continues the previous page's
    /// packet when [`Page::continued`].
    pub fn pieces(&self) -> Vec<(&'a [u8], bool)> {
        let mut out = Vec::new();
        let (mut start, mut at) = (0usize, 0usize);
        for &l in self.lacing {
            at += usize::from(l);
            if l < 255 {
                out.push((&self.body[start..at], true));
                start = at;
            }
        }
        if self.lacing.last() == Some(&255) {
            out.push((&self.body[start..at], false));
        }
        out
    }

    pub fn continued(&self) -> bool {
        self.header_type & CONTINUED != 0
    }

    pub fn bos(&self) -> bool {
        self.header_type & BOS != 0
    }
}

/// The page CRC (RFC 3533 section 6: polynomial 0x04C11DB7, MSB first, initial 0), over `page`
/// with its CRC field (bytes 22 to 25) taken as zero.
pub fn crc(page: &[u8]) -> u32 {
    let head = page.len().min(22);
    let c = crc_update(0, &page[..head]);
    let c = crc_update(c, &[0; 4][..page.len().saturating_sub(22).min(4)]);
    crc_update(c, page.get(26..).unwrap_or_default())
}

/// The CRC state `c` carried over `bytes`.
pub fn crc_update(mut c: u32, bytes: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut r = (i as u32) << 24;
            for _ in 0..8 {
                r = if r & 0x8000_0000 != 0 {
                    (r << 1) ^ 0x04C1_1DB7
                } else {
                    r << 1
                };
            }
            *slot = r;
        }
        t
    });
    for &b in bytes {
        c = (c << 8) ^ table[((c >> 24) as u8 ^ b) as usize];
    }
    c
}

/// Why Xiph-laced header packets cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad Xiph-laced headers: {0}")]
pub struct LacingError(&'static str);

/// Three header packets in Xiph lacing, as Matroska's CodecPrivate and Eddy's Vorbis and
/// Theora init data hold them: the packet count minus one, the lengths of all packets but the
/// last (each as a run of 255s and a final byte under 255), then the packets.
pub fn xiph_lace(packets: &[&[u8]]) -> Bytes {
    let mut out = vec![packets.len().saturating_sub(1) as u8];
    for p in packets.iter().take(packets.len().saturating_sub(1)) {
        out.extend(std::iter::repeat_n(255u8, p.len() / 255));
        out.push((p.len() % 255) as u8);
    }
    for p in packets {
        out.extend_from_slice(p);
    }
    out.into()
}

/// The packets of Xiph-laced init data (the inverse of [`xiph_lace`]).
pub fn xiph_unlace(data: &Bytes) -> Result<Vec<Bytes>, LacingError> {
    let (&count, _) = data.split_first().ok_or(LacingError("empty"))?;
    let count = usize::from(count) + 1;
    let mut at = 1usize;
    let mut lens = Vec::with_capacity(count);
    for _ in 1..count {
        let mut len = 0usize;
        loop {
            let &b = data.get(at).ok_or(LacingError("lengths cut short"))?;
            at += 1;
            len += usize::from(b);
            if b < 255 {
                break;
            }
        }
        lens.push(len);
    }
    let mut out = Vec::with_capacity(count);
    for len in lens {
        let end = at
            .checked_add(len)
            .filter(|&e| e <= data.len())
            .ok_or(LacingError("a packet runs past the end"))?;
        out.push(data.slice(at..end));
        at = end;
    }
    out.push(data.slice(at..));
    Ok(out)
}

#[cfg(test)]
mod tests;
