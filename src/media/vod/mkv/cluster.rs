//! Clusters (RFC 9559 5.1.3) walked for their blocks: Timestamp, SimpleBlock, and BlockGroup
//! with its Block, BlockDuration and ReferenceBlock. Only block headers are read; the frames
//! stay in the file and each becomes a [`Frame`] with its byte range.
//!
//! Block header (RFC 9559 10.1 and 10.2):
//!
//! ```text
//! track number (VINT, marker removed) | timestamp i16, relative to the Cluster's | flags u8
//! flags: 0x80 keyframe (SimpleBlock only) | 0x06 lacing: 00 none, 01 Xiph, 11 EBML, 10 fixed
//! laced: frame count - 1 (u8), then the sizes of all frames but the last (10.3):
//!   Xiph   each size as a run of 255s plus a final byte below 255, summed
//!   EBML   the first size as a VINT, each next one as a signed VINT difference to the previous
//!   fixed  nothing: every frame is the same size
//! then the frames, one after the other
//! ```
//!
//! A Cluster of unknown size (live-written WebM) ends where an element that cannot be its
//! child starts: another Cluster or any other top-level element (RFC 9559 6.2).

use std::io::{Read, Seek};

use super::ebml::{bad, parse_signed_vint, parse_vint, uint, Header, Source};
use super::ids;
use crate::media::vod::VodError;

/// One frame of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Frame {
    /// The block's TrackNumber.
    pub number: u64,
    /// The block's time, TimestampScale units (the Cluster's Timestamp plus the block's).
    pub time: i64,
    /// The frame's place in its lace and the lace's frame count (0 and 1 when not laced).
    pub lace: u16,
    pub laces: u16,
    /// BlockDuration, TimestampScale units, when the BlockGroup has one.
    pub duration: Option<u64>,
    pub key: bool,
    pub pos: u64,
    pub size: u32,
}

/// How a Cluster's walk ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Walked {
    /// At its end (or, for an unknown size, at the next top-level element).
    Whole,
    /// The file ends inside it: the frames read so far stand, the file ends here.
    Cut,
}

/// Walks the Cluster with header `h`, pushing its frames; an unknown size runs to `seg_end` at
/// most.
pub(super) fn cluster<R: Read + Seek>(
    src: &mut Source<R>,
    h: &Header,
    seg_end: u64,
    frames: &mut Vec<Frame>,
) -> Result<Walked, VodError> {
    let end = h.end().unwrap_or(seg_end);
    let mut time: Option<u64> = None;
    while src.pos() < end {
        let at = src.pos();
        let Some(c) = src.header()? else {
            return Ok(Walked::Cut);
        };
        if h.size.is_none() && ids::is_top_level(c.id) {
            src.goto(at)?;
            return Ok(Walked::Whole);
        }
        let c_end = c.end().ok_or_else(|| {
            bad(format!(
                "an element of unknown size in the Cluster at byte {}",
                h.at
            ))
        })?;
        if c_end > src.len {
            return Ok(Walked::Cut);
        }
        if c_end > end {
            return Err(bad(format!(
                "element 0x{:X} at byte {at} runs past its Cluster",
                c.id
            )));
        }
        let needs_time = || {
            time.ok_or_else(|| {
                bad(format!(
                    "a block before its Cluster's Timestamp at byte {at}"
                ))
            })
        };
        match c.id {
            ids::TIMESTAMP => time = Some(uint(&src.body(&c, 8, "Timestamp")?)?),
            ids::SIMPLE_BLOCK => {
                let block = block(src, &c, needs_time()?)?;
                block.push(frames, block.flags & 0x80 != 0, None);
            }
            ids::BLOCK_GROUP => group(src, &c, needs_time()?, frames)?,
            _ => {}
        }
        src.goto(c_end)?;
    }
    Ok(Walked::Whole)
}

/// A BlockGroup: its Block, keyframe when no ReferenceBlock, and BlockDuration.
fn group<R: Read + Seek>(
    src: &mut Source<R>,
    h: &Header,
    time: u64,
    frames: &mut Vec<Frame>,
) -> Result<(), VodError> {
    let end = h.end().unwrap_or(h.data);
    let (mut found, mut referenced, mut duration) = (None, false, None);
    while src.pos() < end {
        let Some(c) = src.header()? else {
            return Err(bad("a BlockGroup cut short"));
        };
        let c_end = c.end().filter(|&e| e <= end).ok_or_else(|| {
            bad(format!(
                "a damaged element in the BlockGroup at byte {}",
                h.at
            ))
        })?;
        match c.id {
            ids::BLOCK => found = Some(block(src, &c, time)?),
            ids::REFERENCE_BLOCK => referenced = true,
            ids::BLOCK_DURATION => duration = Some(uint(&src.body(&c, 8, "BlockDuration")?)?),
            _ => {}
        }
        src.goto(c_end)?;
    }
    if let Some(block) = found {
        block.push(frames, !referenced, duration);
    }
    Ok(())
}

/// A block's header read: what its frames share and where each is.
struct Block {
    number: u64,
    time: i64,
    flags: u8,
    /// `(pos, size)` of each frame.
    frames: Vec<(u64, u64)>,
}

impl Block {
    fn push(&self, out: &mut Vec<Frame>, key: bool, duration: Option<u64>) {
        let laces = self.frames.len() as u16;
        for (lace, &(pos, size)) in self.frames.iter().enumerate() {
            // Empty frames carry nothing to play (and would cost an entry for no bytes).
            let Ok(size) = u32::try_from(size) else {
                continue;
            };
            if size == 0 {
                continue;
            }
            out.push(Frame {
                number: self.number,
                time: self.time,
                lace: lace as u16,
                laces,
                duration,
                key,
                pos,
                size,
            });
        }
    }
}

/// The header bytes of a block, read as far as needed (never past the block).
struct Head<'s, 'a, R: Read + Seek> {
    src: &'s mut Source<'a, R>,
    size: u64,
    buf: Vec<u8>,
}

impl<R: Read + Seek> Head<'_, '_, R> {
    /// The bytes from `at` on, at least `n` of them unless the block ends first.
    fn at(&mut self, at: usize, n: usize) -> Result<&[u8], VodError> {
        let want = (at as u64 + n as u64).min(self.size) as usize;
        if want > self.buf.len() {
            // Read ahead a little: lace sizes come a byte at a time.
            let more = (want as u64 + 64).min(self.size) as usize;
            let have = self.buf.len();
            self.buf.resize(more, 0);
            if !self.src.read(&mut self.buf[have..])? {
                return Err(bad("a block cut short"));
            }
        }
        Ok(self.buf.get(at..).unwrap_or_default())
    }

    fn byte(&mut self, at: usize) -> Result<u8, VodError> {
        self.at(at, 1)?
            .first()
            .copied()
            .ok_or_else(|| bad("a block header longer than its block"))
    }
}

/// Reads the header of the (Simple)Block `h` of a Cluster at `time`.
fn block<R: Read + Seek>(src: &mut Source<R>, h: &Header, time: u64) -> Result<Block, VodError> {
    let size = h.size.unwrap_or(0);
    src.goto(h.data)?;
    let mut head = Head {
        src,
        size,
        buf: Vec::new(),
    };
    let damaged = || bad(format!("a damaged block header at byte {}", h.at));
    let (number, n) = parse_vint(head.at(0, 8)?).ok_or_else(damaged)?;
    let rel = i16::from_be_bytes([head.byte(n)?, head.byte(n + 1)?]);
    let flags = head.byte(n + 2)?;
    let mut at = n + 3;
    let time = i64::try_from(time)
        .ok()
        .and_then(|t| t.checked_add(i64::from(rel)))
        .ok_or_else(|| bad("a block time beyond 63 bits"))?;
    let mut sizes = Vec::new();
    let lacing = (flags >> 1) & 3;
    let count = if lacing == 0 {
        1
    } else {
        let c = usize::from(head.byte(at)?) + 1;
        at += 1;
        c
    };
    match lacing {
        1 => {
            for _ in 1..count {
                let mut s = 0u64;
                loop {
                    let b = head.byte(at)?;
                    at += 1;
                    s += u64::from(b);
                    if b != 255 {
                        break;
                    }
                }
                sizes.push(s);
            }
        }
        3 if count > 1 => {
            let (first, n) = parse_vint(head.at(at, 8)?).ok_or_else(damaged)?;
            at += n;
            sizes.push(first);
            let mut last = i64::try_from(first).map_err(|_| damaged())?;
            for _ in 2..count {
                let (diff, n) = parse_signed_vint(head.at(at, 8)?).ok_or_else(damaged)?;
                at += n;
                last = last
                    .checked_add(diff)
                    .filter(|&s| s >= 0)
                    .ok_or_else(damaged)?;
                sizes.push(last as u64);
            }
        }
        _ => {}
    }
    let rest = size.checked_sub(at as u64).ok_or_else(damaged)?;
    let listed: u64 = sizes.iter().sum();
    match lacing {
        0 => sizes.push(rest),
        2 => {
            if rest % count as u64 != 0 {
                return Err(bad(format!(
                    "a fixed-size lace of {count} frames in {rest} bytes at byte {}",
                    h.at
                )));
            }
            sizes = vec![rest / count as u64; count];
        }
        _ => {
            let last = rest
                .checked_sub(listed)
                .ok_or_else(|| bad(format!("lace sizes beyond their block at byte {}", h.at)))?;
            sizes.push(last);
        }
    }
    let mut pos = h.data + at as u64;
    let frames = sizes
        .into_iter()
        .map(|s| {
            let f = (pos, s);
            pos += s;
            f
        })
        .collect();
    Ok(Block {
        number,
        time,
        flags,
        frames,
    })
}
