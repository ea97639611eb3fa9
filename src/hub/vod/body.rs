//! The bytes an on-demand index points into: one file, or the segments of a finished HLS
//! playlist laid end to end ([`Part`]s), so that every index position is one number and every
//! reader of a file (the scan, the viewers' feeders, progressive MP4, HLS/DASH segments) reads
//! a playlist the same way through [`BodyReader`].
//!
//! ```text
//!   a.m3u8: seg0.ts (1.2 MB), seg1.ts (0.9 MB), ...
//!   body:   [0 ─ seg0 ─ 1.2M)[1.2M ─ seg1 ─ 2.1M) ...   a position maps to (part, offset in its file)
//! ```

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

/// One piece of a playlist's body: `len` bytes of `path` from `start`, at `at` in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub path: PathBuf,
    pub start: u64,
    pub len: u64,
    pub at: u64,
}

/// What an index's positions refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    File(PathBuf),
    /// In order of `at`, without gaps from 0.
    Parts(Arc<[Part]>),
}

impl Body {
    /// A body of pieces laid end to end in the order given: `(path, start, len)`.
    pub fn parts(pieces: impl IntoIterator<Item = (PathBuf, u64, u64)>) -> Body {
        let mut at = 0;
        let parts: Vec<Part> = pieces
            .into_iter()
            .map(|(path, start, len)| {
                let part = Part {
                    path,
                    start,
                    len,
                    at,
                };
                at += len;
                part
            })
            .collect();
        Body::Parts(parts.into())
    }

    /// A reader of the whole body (blocking: a file is opened now, parts when first read).
    pub fn open(&self) -> io::Result<BodyReader> {
        Ok(match self {
            Body::File(path) => BodyReader::File(File::open(path)?),
            Body::Parts(parts) => BodyReader::Parts(PartsReader {
                parts: parts.clone(),
                pos: 0,
                current: None,
            }),
        })
    }
}

/// A reader of a [`Body`].
#[derive(Debug)]
pub enum BodyReader {
    File(File),
    Parts(PartsReader),
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BodyReader::File(f) => f.read(buf),
            BodyReader::Parts(p) => p.read(buf),
        }
    }
}

impl Seek for BodyReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match self {
            BodyReader::File(f) => f.seek(to),
            BodyReader::Parts(p) => p.seek(to),
        }
    }
}

/// Reads parts in turn, keeping the current part's file open.
#[derive(Debug)]
pub struct PartsReader {
    parts: Arc<[Part]>,
    pos: u64,
    /// The open part: its number and file.
    current: Option<(usize, File)>,
}

impl PartsReader {
    fn len(&self) -> u64 {
        self.parts.last().map_or(0, |p| p.at + p.len)
    }
}

impl Read for PartsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.len() {
            return Ok(0);
        }
        let i = self.parts.partition_point(|p| p.at + p.len <= self.pos);
        let Some(part) = self.parts.get(i) else {
            return Ok(0);
        };
        let within = self.pos - part.at;
        if self.current.as_ref().is_none_or(|(n, _)| *n != i) {
            self.current = Some((i, File::open(&part.path)?));
        }
        let Some((_, file)) = self.current.as_mut() else {
            return Ok(0);
        };
        file.seek(SeekFrom::Start(part.start + within))?;
        let want = (part.len - within).min(buf.len() as u64) as usize;
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} is shorter than the playlist says", part.path.display()),
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for PartsReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_read_as_one_body_across_their_boundaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"0123456789").expect("write");
        std::fs::write(&b, b"abcdefghij").expect("write");
        // 4 bytes of a from 2, then all of b, then a's first 3 bytes again.
        let body = Body::parts([(a.clone(), 2, 4), (b, 0, 10), (a, 0, 3)]);
        let mut r = body.open().expect("open");
        let mut all = Vec::new();
        r.read_to_end(&mut all).expect("read");
        assert_eq!(all, b"2345abcdefghij012");
        r.seek(SeekFrom::Start(3)).expect("seek");
        let mut five = [0u8; 5];
        r.read_exact(&mut five).expect("read across");
        assert_eq!(&five, b"5abcd");
        assert_eq!(r.seek(SeekFrom::End(-2)).expect("seek end"), 15);
        assert!(r.seek(SeekFrom::Current(-100)).is_err());
    }

    #[test]
    fn a_part_shorter_than_declared_is_an_error_not_a_short_body() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a");
        std::fs::write(&a, b"0123").expect("write");
        let body = Body::parts([(a, 0, 10)]);
        let mut r = body.open().expect("open");
        let mut all = Vec::new();
        let e = r.read_to_end(&mut all).expect_err("short part");
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
