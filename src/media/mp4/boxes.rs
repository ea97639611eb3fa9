//! ISO base media file format boxes, as the MP4 writers build them.
//!
//! - ISO/IEC 14496-12 4.2: the box header (`size` u32 counting the whole box, then `type`) and
//!   the FullBox header (`version` u8, `flags` u24). Sizes are 32-bit: no `largesize`.
//! - ISO/IEC 14496-1 8.3.3: the expandable size of MPEG-4 descriptors (7 bits per byte, the
//!   high bit set on all but the last, at most 4 bytes).

use super::Mp4Error;

/// Box header: size u32 + type.
pub(super) const BOX_HEADER_LEN: u64 = 8;
/// MPEG-4 descriptor lengths are at most 4 bytes of 7 bits.
const MAX_DESCRIPTOR_LEN: usize = (1 << 28) - 1;

/// The size field of a box with `header_len` header bytes (8, plus 4 for a FullBox) and
/// `content_len` bytes after them.
pub(super) fn box_size(header_len: u64, content_len: u64) -> Result<u32, Mp4Error> {
    header_len
        .checked_add(content_len)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(Mp4Error::TooLarge)
}

/// Builds boxes into one buffer; a box's size is written once its content is complete.
#[derive(Default)]
pub(super) struct Writer {
    pub(super) buf: Vec<u8>,
}

impl Writer {
    pub(super) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(super) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(super) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(super) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(super) fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub(super) fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len().saturating_add(n), 0);
    }

    pub(super) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Writes a box: a size placeholder and `kind`, the body, then the real size.
    pub(super) fn boxed<F>(&mut self, kind: &[u8; 4], body: F) -> Result<(), Mp4Error>
    where
        F: FnOnce(&mut Writer) -> Result<(), Mp4Error>,
    {
        let start = self.buf.len();
        self.u32(0);
        self.bytes(kind);
        body(self)?;
        let content = self.buf.len().saturating_sub(start).saturating_sub(8);
        let content = u64::try_from(content).map_err(|_| Mp4Error::TooLarge)?;
        let size = box_size(BOX_HEADER_LEN, content)?;
        self.patch_u32(start, size)
    }

    /// Writes a FullBox: like [`Writer::boxed`] with `version` and 24-bit `flags` first.
    pub(super) fn full_box<F>(
        &mut self,
        kind: &[u8; 4],
        version: u8,
        flags: u32,
        body: F,
    ) -> Result<(), Mp4Error>
    where
        F: FnOnce(&mut Writer) -> Result<(), Mp4Error>,
    {
        self.boxed(kind, |w| {
            w.u32((u32::from(version) << 24) | (flags & 0x00FF_FFFF));
            body(w)
        })
    }

    /// Overwrites 4 bytes at `at`.
    pub(super) fn patch_u32(&mut self, at: usize, v: u32) -> Result<(), Mp4Error> {
        let end = at.checked_add(4).ok_or(Mp4Error::TooLarge)?;
        let slot = self
            .buf
            .get_mut(at..end)
            .ok_or(Mp4Error::Invalid("patch outside the buffer"))?;
        slot.copy_from_slice(&v.to_be_bytes());
        Ok(())
    }
}

/// An MPEG-4 descriptor: tag, expandable size (7 bits per byte, high bit = more), body.
pub(super) fn descriptor(tag: u8, body: &[u8]) -> Result<Vec<u8>, Mp4Error> {
    let len = body.len();
    if len > MAX_DESCRIPTOR_LEN {
        return Err(Mp4Error::TooLarge);
    }
    let mut out = Vec::with_capacity(len.saturating_add(5));
    out.push(tag);
    let groups = match len {
        0..=0x7F => 1,
        0x80..=0x3FFF => 2,
        0x4000..=0x1F_FFFF => 3,
        _ => 4,
    };
    for i in (0..groups).rev() {
        let bits = (len >> (7 * i)) & 0x7F;
        let more = if i > 0 { 0x80 } else { 0 };
        out.push(u8::try_from(bits).map_err(|_| Mp4Error::TooLarge)? | more);
    }
    out.extend_from_slice(body);
    Ok(out)
}

/// The first box of type `kind` among the boxes tiling `buf[start..end]`: (offset, size).
/// `None` when there is none or a size field does not fit.
pub(super) fn find_box(
    buf: &[u8],
    start: usize,
    end: usize,
    kind: &[u8; 4],
) -> Option<(usize, usize)> {
    let mut at = start;
    while at.checked_add(8)? <= end {
        let size = u32::from_be_bytes(buf.get(at..at + 4)?.try_into().ok()?);
        let size = usize::try_from(size).ok()?;
        if size < 8 || at.checked_add(size)? > end {
            return None;
        }
        if buf.get(at + 4..at + 8)? == kind {
            return Some((at, size));
        }
        at += size;
    }
    None
}
