//! A buffered reader for scanning a file: reads come from a window of the file held in
//! memory, and a seek that lands inside that window (a scanner skipping a tag or a box it does
//! not need) costs no system call. `std::io::BufReader` drops its buffer on every seek.

use std::io::{self, Read, Seek, SeekFrom};

/// How much of the file one refill reads.
const WINDOW: usize = 256 * 1024;

/// `inner` read through a window of [`WINDOW`] bytes.
pub struct SeekBuf<R> {
    inner: R,
    len: u64,
    window: Vec<u8>,
    /// The file offset of `window[0]`.
    window_at: u64,
    /// The reader's position in the file.
    pos: u64,
    /// Where `inner` is (to skip seeks that would not move it).
    inner_pos: Option<u64>,
}

impl<R: Read + Seek> SeekBuf<R> {
    /// Reads `inner`, a file `len` bytes long, from its start.
    pub fn new(inner: R, len: u64) -> Self {
        SeekBuf {
            inner,
            len,
            window: Vec::new(),
            window_at: 0,
            pos: 0,
            inner_pos: None,
        }
    }

    fn inner_read(&mut self, at: u64, buf: &mut [u8]) -> io::Result<usize> {
        if self.inner_pos != Some(at) {
            self.inner.seek(SeekFrom::Start(at))?;
        }
        self.inner_pos = None;
        let n = self.inner.read(buf)?;
        self.inner_pos = Some(at + n as u64);
        Ok(n)
    }
}

impl<R: Read + Seek> Read for SeekBuf<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        let end = self.window_at + self.window.len() as u64;
        if !(self.window_at..end).contains(&self.pos) {
            if buf.len() >= WINDOW {
                let n = self.inner_read(self.pos, buf)?;
                self.pos += n as u64;
                return Ok(n);
            }
            let want = (WINDOW as u64).min(self.len - self.pos) as usize;
            let mut window = std::mem::take(&mut self.window);
            window.resize(want, 0);
            let mut filled = 0;
            while filled < want {
                match self.inner_read(self.pos + filled as u64, &mut window[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            window.truncate(filled);
            self.window = window;
            self.window_at = self.pos;
            if filled == 0 {
                return Ok(0);
            }
        }
        let from = (self.pos - self.window_at) as usize;
        let n = buf.len().min(self.window.len() - from);
        buf[..n].copy_from_slice(&self.window[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for SeekBuf<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn reads_and_seeks_like_the_file() {
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = SeekBuf::new(Cursor::new(data.clone()), data.len() as u64);
        let mut b = [0u8; 10];
        r.read_exact(&mut b).expect("read");
        assert_eq!(&b, &data[..10]);
        r.seek(SeekFrom::Current(100)).expect("seek");
        r.read_exact(&mut b).expect("read");
        assert_eq!(&b, &data[110..120]);
        r.seek(SeekFrom::Start(600_000)).expect("seek");
        r.read_exact(&mut b).expect("read");
        assert_eq!(&b, &data[600_000..600_010]);
        r.seek(SeekFrom::End(-5)).expect("seek");
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).expect("read");
        assert_eq!(rest, &data[data.len() - 5..]);
        // A read across windows, and one larger than a window.
        r.seek(SeekFrom::Start(WINDOW as u64 - 3)).expect("seek");
        r.read_exact(&mut b).expect("read");
        assert_eq!(&b, &data[WINDOW - 3..WINDOW + 7]);
        let mut big = vec![0u8; WINDOW + 1000];
        r.seek(SeekFrom::Start(5)).expect("seek");
        r.read_exact(&mut big).expect("read");
        assert_eq!(big, &data[5..WINDOW + 1005]);
        // Past the end: nothing; before the start: an error.
        r.seek(SeekFrom::Start(10_000_000)).expect("seek");
        assert_eq!(r.read(&mut b).expect("read"), 0);
        assert!(r.seek(SeekFrom::Current(-20_000_000)).is_err());
    }
}
