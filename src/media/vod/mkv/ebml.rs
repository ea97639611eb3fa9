//! EBML (RFC 8794), the binary form Matroska is written in: variable-size integers, element
//! headers, and the two ways the Matroska scan reads elements: from the file through
//! [`Source`] (the Segment and its Clusters, whose bodies are mostly frames never read) and
//! from a body read whole ([`children`], for the small master elements: the EBML header,
//! Info, Tracks).
//!
//! ```text
//! element = id (VINT, 1..4 bytes, marker kept) | size (VINT, 1..8 bytes, marker removed) | data
//! VINT    = 0*z 1 value           z leading zero bits, then the marker: z + 1 bytes in all
//! size with every value bit 1     = unknown size (RFC 8794 6.2), allowed here for Segment and
//!                                   Cluster only (live-written WebM)
//! ```

use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom};

use super::super::{Container, VodError};

pub(super) fn bad(reason: impl Into<String>) -> VodError {
    VodError::malformed(Container::Matroska, reason)
}

/// An element's id and where its data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub id: u32,
    /// The data's length; `None` for an unknown size.
    pub size: Option<u64>,
    /// Where the header starts.
    pub at: u64,
    /// Where the data starts.
    pub data: u64,
}

impl Header {
    /// Where the data ends, for a known size.
    pub fn end(&self) -> Option<u64> {
        self.size.and_then(|s| self.data.checked_add(s))
    }
}

/// The length of a VINT from its first byte (RFC 8794 4.1), or `None` for 0x00, which
/// would need more than 8 bytes.
fn vint_len(first: u8) -> Option<usize> {
    (first != 0).then(|| first.leading_zeros() as usize + 1)
}

/// Reads a VINT from `bytes`: its value (marker removed unless `keep_marker`), its length,
/// and whether every value bit was 1 (an unknown size). `None` when `bytes` is too short or
/// the VINT is longer than `max` bytes.
fn vint(bytes: &[u8], max: usize, keep_marker: bool) -> Option<(u64, usize, bool)> {
    let first = *bytes.first()?;
    let n = vint_len(first).filter(|&n| n <= max)?;
    let all = bytes.get(..n)?;
    let mut v = if keep_marker {
        u64::from(first)
    } else {
        u64::from(first) & (0xFF >> n)
    };
    for &b in &all[1..] {
        v = (v << 8) | u64::from(b);
    }
    let ones = (1u64 << (7 * n)) - 1;
    Some((v, n, !keep_marker && v == ones))
}

/// An element header at the start of `bytes`: id, size (`None` = unknown) and header length.
pub(super) fn parse_header(bytes: &[u8]) -> Result<(u32, Option<u64>, usize), VodError> {
    let (id, n, _) = vint(bytes, 4, true).ok_or_else(|| bad("an element id is damaged or cut"))?;
    let (size, m, unknown) =
        vint(&bytes[n..], 8, false).ok_or_else(|| bad("an element size is damaged or cut"))?;
    Ok((id as u32, (!unknown).then_some(size), n + m))
}

/// A track number or lace size as a block header has it (a VINT, marker removed).
pub(super) fn parse_vint(bytes: &[u8]) -> Option<(u64, usize)> {
    vint(bytes, 8, false).map(|(v, n, _)| (v, n))
}

/// A signed VINT (EBML lacing's size differences, RFC 9559 10.3.3): the value less half its
/// range.
pub(super) fn parse_signed_vint(bytes: &[u8]) -> Option<(i64, usize)> {
    let (v, n, _) = vint(bytes, 8, false)?;
    let half = (1i64 << (7 * n - 1)) - 1;
    Some((v as i64 - half, n))
}

/// The child elements of a master element's data read whole: `(id, data)` in order. Unknown
/// sizes and children running past the end are errors naming `what`.
pub(super) fn children<'a>(
    mut data: &'a [u8],
    what: &str,
) -> Result<Vec<(u32, &'a [u8])>, VodError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (id, size, n) = parse_header(data).map_err(|e| bad(format!("{what}: {e}")))?;
        let size = size.ok_or_else(|| bad(format!("{what}: an element of unknown size")))?;
        let body = usize::try_from(size)
            .ok()
            .and_then(|s| data.get(n..n.checked_add(s)?))
            .ok_or_else(|| bad(format!("{what}: element 0x{id:X} runs past its parent")))?;
        out.push((id, body));
        data = &data[n + body.len()..];
    }
    Ok(out)
}

/// An unsigned integer element (0 to 8 bytes, big-endian).
pub(super) fn uint(data: &[u8]) -> Result<u64, VodError> {
    if data.len() > 8 {
        return Err(bad(format!("an integer of {} bytes", data.len())));
    }
    Ok(data.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
}

/// A float element (0, 4 or 8 bytes, IEEE 754 big-endian).
pub(super) fn float(data: &[u8]) -> Result<f64, VodError> {
    match data.len() {
        0 => Ok(0.0),
        4 => Ok(f64::from(f32::from_bits(uint(data)? as u32))),
        8 => Ok(f64::from_bits(uint(data)?)),
        n => Err(bad(format!("a float of {n} bytes"))),
    }
}

/// A string element: up to the first zero byte (the padding RFC 8794 7.4 allows), lossily as
/// UTF-8.
pub(super) fn text(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

/// The file, read forward through a buffer: element headers, small bodies, skips.
pub(super) struct Source<'a, R: Read + Seek> {
    input: BufReader<&'a mut R>,
    pos: u64,
    pub len: u64,
}

impl<'a, R: Read + Seek> Source<'a, R> {
    pub fn new(reader: &'a mut R, len: u64) -> Result<Self, VodError> {
        reader.seek(SeekFrom::Start(0))?;
        Ok(Source {
            input: BufReader::with_capacity(1 << 16, reader),
            pos: 0,
            len,
        })
    }

    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Moves to `to` (forward within the buffer without a seek).
    pub fn goto(&mut self, to: u64) -> Result<(), VodError> {
        if to != self.pos {
            let delta = i64::try_from(i128::from(to) - i128::from(self.pos))
                .map_err(|_| bad("a position beyond 64 bits"))?;
            self.input.seek_relative(delta)?;
            self.pos = to;
        }
        Ok(())
    }

    /// Fills `buf` from the current position; `Ok(false)` when the file ends first.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<bool, VodError> {
        if self.len.saturating_sub(self.pos) < buf.len() as u64 {
            return Ok(false);
        }
        match self.input.read_exact(buf) {
            Ok(()) => {
                self.pos += buf.len() as u64;
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The element header at the current position (the position moves to its data); `None`
    /// at the end of the file or when the file ends inside the header.
    pub fn header(&mut self) -> Result<Option<Header>, VodError> {
        let at = self.pos;
        let mut buf = [0u8; 12];
        let mut have = 0;
        // An id is at most 4 bytes and a size at most 8: read what the first bytes say.
        let mut first = [0u8; 1];
        if !self.read(&mut first)? {
            return Ok(None);
        }
        buf[0] = first[0];
        have += 1;
        let id_len = vint_len(first[0])
            .filter(|&n| n <= 4)
            .ok_or_else(|| bad(format!("a damaged element id at byte {at}")))?;
        if !self.read(&mut buf[have..id_len + 1])? {
            return Ok(None);
        }
        have = id_len + 1;
        let size_len = vint_len(buf[id_len])
            .ok_or_else(|| bad(format!("a damaged element size at byte {at}")))?;
        if !self.read(&mut buf[have..id_len + size_len])? {
            return Ok(None);
        }
        let (id, size, n) = parse_header(&buf[..id_len + size_len])?;
        Ok(Some(Header {
            id,
            size,
            at,
            data: at + n as u64,
        }))
    }

    /// The data of `h` read whole, if it is at most `ceiling` bytes and within the file
    /// (nothing is allocated for a larger declared size).
    pub fn body(&mut self, h: &Header, ceiling: u64, what: &str) -> Result<Vec<u8>, VodError> {
        let size = h
            .size
            .ok_or_else(|| bad(format!("{what} of unknown size")))?;
        if size > ceiling {
            return Err(bad(format!(
                "{what} of {size} bytes (at most {ceiling} read)"
            )));
        }
        if h.end().is_none_or(|end| end > self.len) {
            return Err(bad(format!("{what} runs past the end of the file")));
        }
        self.goto(h.data)?;
        let mut out = vec![0u8; size as usize];
        if !self.read(&mut out)? {
            return Err(bad(format!("{what} runs past the end of the file")));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vints_and_headers() {
        assert_eq!(parse_vint(&[0x81]), Some((1, 1)));
        assert_eq!(parse_vint(&[0x40, 0x02]), Some((2, 2)));
        assert_eq!(parse_vint(&[0x01, 0, 0, 0, 0, 0, 0, 5]), Some((5, 8)));
        assert_eq!(parse_vint(&[0x00, 1]), None);
        assert_eq!(parse_vint(&[0x40]), None);
        assert_eq!(parse_signed_vint(&[0xBF]), Some((0, 1)));
        assert_eq!(parse_signed_vint(&[0x80]), Some((-63, 1)));
        assert_eq!(parse_signed_vint(&[0x60, 0x00]), Some((1, 2)));
        // Segment, unknown size; EBML header of 35 bytes; ids longer than 4 bytes are errors.
        let (id, size, n) = parse_header(&[0x18, 0x53, 0x80, 0x67, 0xFF]).unwrap();
        assert_eq!((id, size, n), (0x1853_8067, None, 5));
        let (id, size, n) = parse_header(&[0x1A, 0x45, 0xDF, 0xA3, 0xA3]).unwrap();
        assert_eq!((id, size, n), (0x1A45_DFA3, Some(35), 5));
        let (_, size, _) =
            parse_header(&[0xA3, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).unwrap();
        assert_eq!(size, None);
        assert!(parse_header(&[0x08, 0, 0, 0, 0, 0x81]).is_err());
        assert!(parse_header(&[0xA3]).is_err());
        assert!(parse_header(&[]).is_err());
    }

    #[test]
    fn children_and_values() {
        let data = [0x42, 0x82, 0x84, b'w', b'e', b'b', b'm', 0xD7, 0x81, 0x02];
        let kids = children(&data, "test").unwrap();
        assert_eq!(kids, vec![(0x4282, &b"webm"[..]), (0xD7, &[2u8][..])]);
        assert!(children(&data[..9], "test").is_err());
        assert!(children(&[0xD7, 0xFF], "test").is_err());
        assert_eq!(uint(&[1, 0]).unwrap(), 256);
        assert!(uint(&[0; 9]).is_err());
        assert_eq!(float(&48_000f32.to_bits().to_be_bytes()).unwrap(), 48_000.0);
        assert_eq!(float(&1.5f64.to_bits().to_be_bytes()).unwrap(), 1.5);
        assert!(float(&[0; 3]).is_err());
        assert_eq!(text(b"eng\0\0"), "eng");
    }

    #[test]
    fn source_refuses_huge_bodies_without_allocating() {
        // Tracks declaring 2^56 - 2 bytes in a 12-byte file.
        let mut file = std::io::Cursor::new(vec![
            0x16, 0x54, 0xAE, 0x6B, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
        ]);
        let mut src = Source::new(&mut file, 12).unwrap();
        let h = src.header().unwrap().unwrap();
        assert_eq!(h.size, Some((1 << 56) - 2));
        let err = src.body(&h, u64::MAX, "Tracks").unwrap_err();
        assert!(err.to_string().contains("past the end"), "{err}");
        let err = src.body(&h, 1 << 20, "Tracks").unwrap_err();
        assert!(err.to_string().contains("at most"), "{err}");
        assert_eq!(src.header().unwrap(), None);
    }
}
