//! Bit-level reading for the parameter-set parsers.
//!
//! Implements the descriptors of ISO/IEC 14496-10 (H.264) clause 7.2 and ITU-T H.265 clause 7.2
//! that the SPS parsers need: `u(n)` / `f(n)` fixed-width fields, `ue(v)` and `se(v)`
//! Exp-Golomb codes (14496-10 clause 9.1 and 9.1.1), and the removal of
//! `emulation_prevention_three_byte`s that turns a NAL unit payload into its RBSP
//! (14496-10 clause 7.3.1 / 7.4.1).
//!
//! Bits are read most significant first, as the specs define:
//!
//! ```text
//!   byte 0            byte 1
//!   b7 b6 ... b1 b0   b7 b6 ... b0
//!   ^ bit 0 read first
//! ```

/// Errors from [`BitReader`].
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BitError {
    #[error("ran out of bits")]
    EndOfData,
    #[error("exp-golomb code too long")]
    BadExpGolomb,
    /// `read_bits` was asked for more than 32 bits (a caller bug, never caused by input data).
    #[error("cannot read more than 32 bits at once")]
    TooManyBits,
}

/// Reads bits MSB-first from a byte slice. Never panics: running past the end is an error.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    /// Bits not yet read.
    pub fn bits_left(&self) -> usize {
        self.data.len().saturating_mul(8).saturating_sub(self.pos)
    }

    /// Reads one bit, `u(1)`.
    pub fn read_bit(&mut self) -> Result<bool, BitError> {
        let byte = self.data.get(self.pos / 8).ok_or(BitError::EndOfData)?;
        let shift = 7 - (self.pos % 8);
        self.pos += 1;
        Ok((byte >> shift) & 1 == 1)
    }

    /// Reads `n` bits (0..=32) as an unsigned number, `u(n)`. On error nothing is consumed.
    pub fn read_bits(&mut self, n: u32) -> Result<u32, BitError> {
        if n > 32 {
            return Err(BitError::TooManyBits);
        }
        self.ensure(n)?;
        let mut value: u32 = 0;
        for _ in 0..n {
            // Cannot fail: `ensure` checked there are enough bits.
            value = (value << 1) | u32::from(self.read_bit()?);
        }
        Ok(value)
    }

    /// Skips `n` bits. On error nothing is consumed.
    pub fn skip_bits(&mut self, n: u32) -> Result<(), BitError> {
        self.ensure(n)?;
        self.pos += n as usize;
        Ok(())
    }

    /// Reads an unsigned Exp-Golomb code, `ue(v)` (14496-10 clause 9.1):
    ///
    /// ```text
    ///   leadingZeroBits x 0, 1, leadingZeroBits x info   value = 2^lz - 1 + info
    /// ```
    ///
    /// More than 31 leading zeros cannot fit a `u32` and give [`BitError::BadExpGolomb`].
    pub fn read_ue(&mut self) -> Result<u32, BitError> {
        let mut leading_zeros = 0u32;
        while !self.read_bit()? {
            leading_zeros += 1;
            if leading_zeros > 31 {
                return Err(BitError::BadExpGolomb);
            }
        }
        let info = self.read_bits(leading_zeros)?;
        // 2^lz - 1 + info <= 2^32 - 2 for lz <= 31, so this cannot overflow; stay checked anyway.
        let base = (1u32 << leading_zeros) - 1;
        base.checked_add(info).ok_or(BitError::BadExpGolomb)
    }

    /// Reads a signed Exp-Golomb code, `se(v)` (14496-10 clause 9.1.1): codeNum k maps to
    /// (-1)^(k+1) * ceil(k / 2), i.e. 0, 1, -1, 2, -2, ...
    pub fn read_se(&mut self) -> Result<i32, BitError> {
        let k = i64::from(self.read_ue()?);
        let value = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(value).map_err(|_| BitError::BadExpGolomb)
    }

    fn ensure(&self, n: u32) -> Result<(), BitError> {
        if (n as usize) <= self.bits_left() {
            Ok(())
        } else {
            Err(BitError::EndOfData)
        }
    }
}

/// Removes emulation-prevention bytes: every `00 00 03` becomes `00 00` (14496-10 7.4.1,
/// H.265 7.4.2). The byte after the `03` is kept whatever it is.
pub fn unescape_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &byte in nal {
        if zeros >= 2 && byte == 3 {
            zeros = 0;
            continue;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        out.push(byte);
    }
    out
}

/// Byte-aligned big-endian reads for the container and configuration-record parsers
/// (avcC, hvcC, FLV). Every read is bounds-checked and returns `None` when data runs out,
/// leaving the position unchanged.
#[derive(Debug, Clone)]
pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        ByteReader { data, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The range of the next `n` bytes, consumed; `None` if fewer are left.
    pub(crate) fn take_range(&mut self, n: usize) -> Option<std::ops::Range<usize>> {
        let end = self.pos.checked_add(n)?;
        if end > self.data.len() {
            return None;
        }
        let range = self.pos..end;
        self.pos = end;
        Some(range)
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let range = self.take_range(n)?;
        self.data.get(range)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Option<()> {
        self.take_range(n).map(|_| ())
    }

    /// Reads `n` (<= 8) bytes as a big-endian unsigned number.
    pub(crate) fn uint(&mut self, n: usize) -> Option<u64> {
        if n > 8 {
            return None;
        }
        let bytes = self.take(n)?;
        Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.uint(2).and_then(|v| u16::try_from(v).ok())
    }

    pub(crate) fn u24(&mut self) -> Option<u32> {
        self.uint(3).and_then(|v| u32::try_from(v).ok())
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.uint(4).and_then(|v| u32::try_from(v).ok())
    }
}

/// Sign-extends a 24-bit two's complement value (FLV's SI24).
pub(crate) fn si24(value: u32) -> i32 {
    let v = (value & 0x00FF_FFFF) as i32;
    if v & 0x0080_0000 != 0 {
        v - 0x0100_0000
    } else {
        v
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Deterministic xorshift64 for the "random input never panics" tests of every module.
    pub(crate) struct XorShift(pub u64);

    impl XorShift {
        pub(crate) fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        /// A random buffer of 0..max_len bytes.
        pub(crate) fn bytes(&mut self, max_len: usize) -> Vec<u8> {
            let len = (self.next_u64() % (max_len as u64 + 1)) as usize;
            (0..len).map(|_| self.next_u64() as u8).collect()
        }
    }

    /// Writes bits MSB-first; used by tests to build synthetic bitstreams.
    #[derive(Default)]
    pub(crate) struct BitWriter {
        bytes: Vec<u8>,
        bits: usize,
    }

    impl BitWriter {
        pub(crate) fn bit(&mut self, bit: bool) -> &mut Self {
            if self.bits % 8 == 0 {
                self.bytes.push(0);
            }
            if bit {
                let last = self.bytes.len() - 1;
                self.bytes[last] |= 0x80 >> (self.bits % 8);
            }
            self.bits += 1;
            self
        }

        pub(crate) fn bits(&mut self, n: u32, value: u64) -> &mut Self {
            for i in (0..n).rev() {
                self.bit(i < 64 && (value >> i) & 1 == 1);
            }
            self
        }

        pub(crate) fn ue(&mut self, value: u32) -> &mut Self {
            let v = u64::from(value) + 1;
            let len = 64 - v.leading_zeros();
            self.bits(len - 1, 0).bits(len, v)
        }

        pub(crate) fn se(&mut self, value: i32) -> &mut Self {
            let k = if value > 0 {
                (value as u32) * 2 - 1
            } else {
                value.unsigned_abs() * 2
            };
            self.ue(k)
        }

        /// Stop bit and zero padding to the byte boundary (rbsp_trailing_bits).
        pub(crate) fn trailing(&mut self) -> Vec<u8> {
            self.bit(true);
            while self.bits % 8 != 0 {
                self.bit(false);
            }
            self.bytes.clone()
        }
    }

    #[test]
    fn reads_bits_msb_first() {
        let mut r = BitReader::new(&[0b1010_0000, 0xFF]);
        assert_eq!(r.bits_left(), 16);
        assert!(r.read_bit().unwrap());
        assert!(!r.read_bit().unwrap());
        assert_eq!(r.read_bits(2).unwrap(), 0b10);
        assert_eq!(r.read_bits(8).unwrap(), 0x0F);
        assert_eq!(r.bits_left(), 4);
        assert_eq!(r.read_bits(0).unwrap(), 0);
    }

    #[test]
    fn read_bits_32_and_limits() {
        let mut r = BitReader::new(&[0xDE, 0xAD, 0xBE, 0xEF, 0x01]);
        assert_eq!(r.read_bits(32).unwrap(), 0xDEAD_BEEF);
        assert_eq!(r.read_bits(33), Err(BitError::TooManyBits));
        // Asking for too much consumes nothing.
        assert_eq!(r.read_bits(9), Err(BitError::EndOfData));
        assert_eq!(r.read_bits(8).unwrap(), 1);
        assert_eq!(r.read_bit(), Err(BitError::EndOfData));
    }

    #[test]
    fn skip_bits_checks_length() {
        let mut r = BitReader::new(&[0x0F]);
        assert_eq!(r.skip_bits(9), Err(BitError::EndOfData));
        r.skip_bits(4).unwrap();
        assert_eq!(r.read_bits(4).unwrap(), 0xF);
        r.skip_bits(0).unwrap();
    }

    #[test]
    fn exp_golomb_table() {
        // 1 | 010 | 011 | 00100 | 00101 -> ue 0,1,2,3,4 ; se of the same codes 0,1,-1,2,-2
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&data);
        let ue: Vec<u32> = (0..5).map(|_| r.read_ue().unwrap()).collect();
        assert_eq!(ue, [0, 1, 2, 3, 4]);
        let mut r = BitReader::new(&data);
        let se: Vec<i32> = (0..5).map(|_| r.read_se().unwrap()).collect();
        assert_eq!(se, [0, 1, -1, 2, -2]);
    }

    #[test]
    fn exp_golomb_extremes() {
        let mut w = BitWriter::default();
        w.ue(u32::MAX - 1).se(i32::MAX).se(-i32::MAX);
        let data = w.trailing();
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_ue().unwrap(), u32::MAX - 1);
        assert_eq!(r.read_se().unwrap(), i32::MAX);
        assert_eq!(r.read_se().unwrap(), -i32::MAX);
    }

    #[test]
    fn exp_golomb_too_long() {
        // 32 zero bits, then a 1: more than 31 leading zeros.
        let mut r = BitReader::new(&[0, 0, 0, 0, 0x80, 0, 0, 0, 0]);
        assert_eq!(r.read_ue(), Err(BitError::BadExpGolomb));
        let mut r = BitReader::new(&[0, 0]);
        assert_eq!(r.read_ue(), Err(BitError::EndOfData));
        // 31 zeros, a one, then too few info bits.
        let mut r = BitReader::new(&[0, 0, 0, 1, 0xFF]);
        assert_eq!(r.read_ue(), Err(BitError::EndOfData));
    }

    #[test]
    fn byte_reader() {
        let mut r = ByteReader::new(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(r.u8(), Some(1));
        assert_eq!(r.u16(), Some(0x0203));
        assert_eq!(r.u24(), Some(0x04_0506));
        assert_eq!(r.u32(), Some(0x0708_090A));
        assert_eq!(r.pos(), 10);
        assert_eq!(r.u8(), None);
        assert_eq!(r.take_range(usize::MAX), None);
        assert_eq!(r.uint(9), None);
        let mut r = ByteReader::new(&[1, 2]);
        assert_eq!(r.u24(), None);
        assert_eq!(r.pos(), 0);
        assert_eq!(r.take(2), Some(&[1u8, 2][..]));
    }

    #[test]
    fn si24_sign_extension() {
        assert_eq!(si24(0), 0);
        assert_eq!(si24(0x7F_FFFF), 0x7F_FFFF);
        assert_eq!(si24(0x80_0000), -0x80_0000);
        assert_eq!(si24(0xFF_FFFF), -1);
        assert_eq!(si24(0xFF00_0001), 1);
    }

    #[test]
    fn unescape() {
        assert_eq!(unescape_rbsp(&[0, 0, 3, 1]), [0, 0, 1]);
        assert_eq!(unescape_rbsp(&[0, 0, 3, 0, 0, 3]), [0, 0, 0, 0]);
        assert_eq!(unescape_rbsp(&[0, 0, 0, 3, 3]), [0, 0, 0, 3]);
        assert_eq!(unescape_rbsp(&[0, 3, 0, 3]), [0, 3, 0, 3]);
        assert_eq!(unescape_rbsp(&[]), Vec::<u8>::new());
        assert_eq!(
            unescape_rbsp(&[0x67, 0, 0, 3, 0, 0, 0, 3]),
            [0x67, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..5000 {
            let data = rng.bytes(16);
            let _ = unescape_rbsp(&data);
            let mut r = BitReader::new(&data);
            for _ in 0..64 {
                let _ = match rng.next_u64() % 5 {
                    0 => r.read_ue().map(|_| ()),
                    1 => r.read_se().map(|_| ()),
                    2 => r.read_bits((rng.next_u64() % 40) as u32).map(|_| ()),
                    3 => r.skip_bits((rng.next_u64() % 20) as u32),
                    _ => r.read_bit().map(|_| ()),
                };
                assert!(r.bits_left() <= data.len() * 8);
            }
        }
    }
}
