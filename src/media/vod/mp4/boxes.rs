//! Reading boxes (ISO/IEC 14496-12 4.2): the top-level walk over a file, the boxes within a
//! box read whole, and checked big-endian fields.

use std::io::{Read, Seek, SeekFrom};

use super::{bad, VodError, MAX_MOOF, MAX_MOOV};
use crate::media::bits::ByteReader;

/// `moov`'s body, and where each `moof` is (position, size).
pub(super) type TopLevel = (Option<Vec<u8>>, Vec<(u64, u64)>);

/// The top-level boxes: `moov`'s body, and where each `moof` is (position, size). A box
/// running past the end ends the walk (a file cut short keeps what came before), unless it
/// is `moov`.
pub(super) fn walk<R: Read + Seek>(reader: &mut R, len: u64) -> Result<TopLevel, VodError> {
    let (mut moov, mut moofs) = (None, Vec::new());
    let mut at = 0u64;
    while len - at >= 8 {
        let mut head = [0u8; 16];
        let n = usize::try_from((len - at).min(16)).unwrap_or(16);
        let head = head.get_mut(..n).unwrap_or_default();
        reader.seek(SeekFrom::Start(at))?;
        reader.read_exact(head)?;
        let h = box_header(head).ok_or_else(|| bad(format!("box at byte {at} is cut short")))?;
        let size = h.size.unwrap_or(len - at);
        if size < h.header_len {
            return Err(bad(format!("box at byte {at} declares {size} bytes")));
        }
        let end = at.saturating_add(size);
        match &h.kind {
            b"moov" if end > len => {
                return Err(bad(format!(
                    "moov box at byte {at} declares {size} bytes, past the end of the file"
                )))
            }
            b"moov" if moov.is_none() => moov = Some(read_body(reader, at, size, "moov")?),
            _ if end > len => break,
            b"moof" => moofs.push((at, size)),
            _ => {}
        }
        at = end;
    }
    Ok((moov, moofs))
}

/// Reads the body of the box of `size` bytes at `at` (`MAX_MOOV` bytes at most for `moov`,
/// `MAX_MOOF` for anything else).
pub(super) fn read_body<R: Read + Seek>(
    reader: &mut R,
    at: u64,
    size: u64,
    kind: &str,
) -> Result<Vec<u8>, VodError> {
    reader.seek(SeekFrom::Start(at))?;
    let cap = if kind == "moov" { MAX_MOOV } else { MAX_MOOF };
    if size > cap {
        return Err(bad(format!(
            "{kind} box of {size} bytes is larger than Eddy reads"
        )));
    }
    let mut buf = Vec::new();
    reader.take(size).read_to_end(&mut buf)?;
    let h = box_header(&buf).ok_or_else(|| bad(format!("{kind} box is cut short")))?;
    let body = usize::try_from(h.header_len).unwrap_or(8);
    if buf.len() as u64 != size {
        return Err(bad(format!("{kind} box is cut short")));
    }
    buf.drain(..body);
    Ok(buf)
}

/// A box header (4.2): `size` u32, `type`, `largesize` u64 when `size` is 1; `size` 0 runs to
/// the end of the enclosing space.
struct BoxHeader {
    kind: [u8; 4],
    /// 8, or 16 with a largesize.
    header_len: u64,
    /// The whole box's size, `None` for "to the end".
    size: Option<u64>,
}

/// The box header at the start of `b`; `None` when `b` is too short for it.
fn box_header(b: &[u8]) -> Option<BoxHeader> {
    let size = u32::from_be_bytes(b.get(0..4)?.try_into().ok()?);
    let kind = b.get(4..8)?.try_into().ok()?;
    let (header_len, size) = match size {
        0 => (8, None),
        1 => (16, Some(u64::from_be_bytes(b.get(8..16)?.try_into().ok()?))),
        n => (8, Some(u64::from(n))),
    };
    Some(BoxHeader {
        kind,
        header_len,
        size,
    })
}

/// A box within a box: its type and body.
pub(super) type Child<'a> = ([u8; 4], &'a [u8]);

/// The boxes tiling `buf`, as (type, body). Fewer than 8 trailing bytes (QuickTime's
/// terminators) are ignored; a box running past `buf` is an error.
pub(super) fn boxes(buf: &[u8]) -> Result<Vec<Child<'_>>, VodError> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= 8 {
        let h = box_header(rest).ok_or_else(|| bad("a box header is cut short"))?;
        let size = h.size.unwrap_or(rest.len() as u64);
        let body = usize::try_from(size)
            .ok()
            .filter(|&s| s as u64 >= h.header_len)
            .and_then(|s| {
                rest.get(usize::try_from(h.header_len).ok()?..s)
                    .map(|b| (b, s))
            });
        let (body, size) =
            body.ok_or_else(|| bad(format!("{} box runs past its parent", fourcc(&h.kind))))?;
        out.push((h.kind, body));
        rest = rest.get(size..).unwrap_or_default();
    }
    Ok(out)
}

/// The body of the first child of type `kind`.
pub(super) fn child<'a>(buf: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, VodError> {
    Ok(boxes(buf)?
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, b)| b))
}

/// The body of a child that must be there.
pub(super) fn need<'a>(buf: &'a [u8], kind: &[u8; 4]) -> Result<&'a [u8], VodError> {
    child(buf, kind)?.ok_or_else(|| bad(format!("{} box missing", fourcc(kind))))
}

pub(super) fn trak_bodies(moov: &[u8]) -> Result<Vec<&[u8]>, VodError> {
    let all = boxes(moov)?.into_iter();
    Ok(all.filter(|(k, _)| k == b"trak").map(|(_, b)| b).collect())
}

/// A four-character code as text.
pub(super) fn fourcc(kind: &[u8; 4]) -> String {
    let printable = |&b: &u8| {
        if (0x20..0x7F).contains(&b) {
            b as char
        } else {
            '?'
        }
    };
    kind.iter().map(printable).collect()
}

/// Big-endian fields of one box body, every read checked.
pub(super) struct Cur<'a> {
    r: ByteReader<'a>,
    len: usize,
    what: &'static str,
}

impl<'a> Cur<'a> {
    pub(super) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Cur {
            r: ByteReader::new(buf),
            len: buf.len(),
            what,
        }
    }

    pub(super) fn cut(&self) -> VodError {
        bad(format!("{} box is cut short", self.what))
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], VodError> {
        self.r.take(n).ok_or_else(|| self.cut())
    }

    pub(super) fn skip(&mut self, n: usize) -> Result<(), VodError> {
        self.take(n).map(|_| ())
    }

    pub(super) fn uint(&mut self, n: usize) -> Result<u64, VodError> {
        self.r.uint(n).ok_or_else(|| self.cut())
    }

    pub(super) fn u32(&mut self) -> Result<u32, VodError> {
        self.r.u32().ok_or_else(|| self.cut())
    }

    /// FullBox: version u8, flags u24.
    pub(super) fn full(&mut self) -> Result<(u8, u32), VodError> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00FF_FFFF))
    }

    /// A table of `count` entries of `entry` bytes that must fit in the rest of the box.
    pub(super) fn table(&mut self, count: u32, entry: usize) -> Result<&'a [u8], VodError> {
        let left = self.len - self.r.pos();
        match (count as usize).checked_mul(entry) {
            Some(n) if n <= left => self.take(n),
            _ => Err(bad(format!(
                "{} box declares {count} entries in {left} bytes",
                self.what
            ))),
        }
    }
}

/// The big-endian u32 at entry `i` (of `stride` bytes) of a table, plus `at` bytes.
pub(super) fn be32(table: &[u8], i: usize, stride: usize, at: usize) -> Option<u32> {
    let start = i.checked_mul(stride)?.checked_add(at)?;
    Some(u32::from_be_bytes(
        table.get(start..start + 4)?.try_into().ok()?,
    ))
}
