//! NAL unit framing, the one place H.264 and HEVC units are split and joined.
//!
//! - ISO/IEC 14496-10 Annex B and ITU-T H.265 Annex B, the byte stream format (MPEG-TS
//!   carries it): every unit follows a start code prefix `00 00 01` (with a `zero_byte` before
//!   it, `00 00 00 01`, for the first unit of an access unit and for parameter sets), and
//!   `trailing_zero_8bits` may follow a unit.
//! - ISO/IEC 14496-15 5.3.2 (AVC) and 8.3.2 (HEVC) samples, the form Eddy stores in
//!   [`super::Packet::data`] and avcC / hvcC describe: `{ NALUnitLength, NAL unit } ...` with a
//!   1- to 4-byte big-endian length (`lengthSizeMinusOne + 1`).
//! - The unit headers of 14496-10 7.3.1 (`nal_unit_type` u5) and H.265 7.3.1.2
//!   (`nal_unit_type` u6 after the forbidden bit), Table 7-1 of each for the types named here.
//!
//! ```text
//! Annex B:           00 00 00 01 | unit | 00 00 01 | unit | [00 ...]
//! length-prefixed:   len (1..=4 bytes) | unit | len | unit
//! ```

use super::{h264, hevc, Codec};

/// The 4-byte start code written before every unit (zero_byte + start_code_prefix_one_3bytes).
pub const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Errors from splitting or joining NAL units.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum NalError {
    #[error("NAL unit data truncated")]
    Truncated,
    #[error("NAL length size must be 1 to 4, not {0}")]
    LengthSize(u8),
    #[error("NAL unit of {0} bytes is too long for a 4-byte length")]
    TooLong(usize),
}

/// Which NAL unit header syntax a stream uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NalFlavor {
    H264,
    Hevc,
}

/// H.264 access unit delimiter: nal_unit_type 9, primary_pic_type 7 (any slice type).
const H264_AUD: [u8; 2] = [0x09, 0xF0];
/// HEVC access unit delimiter: nal_unit_type 35, layer 0, temporal id 1, pic_type 2 (any).
const HEVC_AUD: [u8; 3] = [0x46, 0x01, 0x50];
const H264_NAL_AUD: u8 = 9;
const HEVC_NAL_AUD: u8 = 35;

impl NalFlavor {
    /// The flavour of a codec built from NAL units.
    pub fn of(codec: Codec) -> Option<NalFlavor> {
        match codec {
            Codec::H264 => Some(NalFlavor::H264),
            Codec::Hevc => Some(NalFlavor::Hevc),
            _ => None,
        }
    }

    /// `nal_unit_type` of a unit, `None` for an empty one.
    pub fn nal_type(self, nal: &[u8]) -> Option<u8> {
        match self {
            NalFlavor::H264 => h264::nal_type(nal),
            NalFlavor::Hevc => hevc::nal_type(nal),
        }
    }

    /// An access unit delimiter that allows any picture type (without start code).
    pub fn access_unit_delimiter(self) -> &'static [u8] {
        match self {
            NalFlavor::H264 => &H264_AUD,
            NalFlavor::Hevc => &HEVC_AUD,
        }
    }

    /// Whether `nal` is an access unit delimiter.
    pub fn is_delimiter(self, nal: &[u8]) -> bool {
        let aud = match self {
            NalFlavor::H264 => H264_NAL_AUD,
            NalFlavor::Hevc => HEVC_NAL_AUD,
        };
        self.nal_type(nal) == Some(aud)
    }

    /// The parameter set types a random access point needs, in decoding order (SPS, PPS; HEVC:
    /// VPS, SPS, PPS).
    pub fn parameter_set_types(self) -> &'static [u8] {
        match self {
            NalFlavor::H264 => &[h264::NAL_SPS, h264::NAL_PPS],
            NalFlavor::Hevc => &[hevc::NAL_VPS, hevc::NAL_SPS, hevc::NAL_PPS],
        }
    }

    /// Whether `nal` is one of [`NalFlavor::parameter_set_types`].
    pub fn is_parameter_set(self, nal: &[u8]) -> bool {
        self.nal_type(nal)
            .is_some_and(|t| self.parameter_set_types().contains(&t))
    }

    /// Whether `nal` starts a random access point: an IDR slice (H.264 type 5) or an IRAP
    /// picture (HEVC BLA, IDR, CRA: types 16..=23).
    pub fn is_random_access(self, nal: &[u8]) -> bool {
        match self {
            NalFlavor::H264 => h264::nal_type(nal) == Some(h264::NAL_IDR),
            NalFlavor::Hevc => matches!(hevc::nal_type(nal), Some(16..=23)),
        }
    }
}

/// Iterator over length-prefixed NAL units; see [`length_prefixed`].
#[derive(Debug, Clone)]
pub struct LengthPrefixed<'a> {
    rest: &'a [u8],
    length_size: u8,
    failed: bool,
}

/// Iterates over the units of a sample in avcC/hvcC form. Yields an error once (then stops)
/// on a truncated length or unit, or a length size outside 1..=4.
pub fn length_prefixed(data: &[u8], length_size: u8) -> LengthPrefixed<'_> {
    LengthPrefixed {
        rest: data,
        length_size,
        failed: false,
    }
}

impl<'a> LengthPrefixed<'a> {
    fn split_next(&mut self) -> Result<&'a [u8], NalError> {
        if !(1..=4).contains(&self.length_size) {
            return Err(NalError::LengthSize(self.length_size));
        }
        let width = usize::from(self.length_size);
        let prefix = self.rest.get(..width).ok_or(NalError::Truncated)?;
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let end = width.checked_add(len).ok_or(NalError::Truncated)?;
        let nal = self.rest.get(width..end).ok_or(NalError::Truncated)?;
        self.rest = self.rest.get(end..).unwrap_or_default();
        Ok(nal)
    }
}

impl<'a> Iterator for LengthPrefixed<'a> {
    type Item = Result<&'a [u8], NalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let item = self.split_next();
        self.failed = item.is_err();
        Some(item)
    }
}

impl std::iter::FusedIterator for LengthPrefixed<'_> {}

/// Iterator over the units of an Annex B byte stream; see [`annex_b`].
#[derive(Debug, Clone)]
pub struct AnnexB<'a> {
    data: &'a [u8],
    /// Where the next unit starts (just after a start code), `None` when done.
    next: Option<usize>,
}

/// Iterates over the NAL units of an Annex B byte stream (3- or 4-byte start codes). Bytes
/// before the first start code are skipped, trailing zero bytes of a unit (trailing_zero_8bits
/// and the zero_byte of the next start code) are cut, and empty units are skipped. Never fails:
/// data without a start code has no units.
pub fn annex_b(data: &[u8]) -> AnnexB<'_> {
    AnnexB {
        data,
        next: find_start_code(data, 0),
    }
}

/// The position just after the first `00 00 01` at or after `from`.
///
/// Finds each 0x01 with a SIMD search (video payloads hold few) and checks the two bytes
/// before it.
fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    let mut at = from.checked_add(2)?;
    loop {
        let one = at + memchr::memchr(1, data.get(at..)?)?;
        if data[one - 1] == 0 && data[one - 2] == 0 {
            return Some(one + 1);
        }
        at = one + 1;
    }
}

impl<'a> Iterator for AnnexB<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let start = self.next?;
            self.next = find_start_code(self.data, start);
            // The unit ends before the next start code's `00 00 01`.
            let end = self.next.map_or(self.data.len(), |n| n.saturating_sub(3));
            let unit = self.data.get(start..end.max(start)).unwrap_or_default();
            let used = unit.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            let unit = unit.get(..used).unwrap_or_default();
            if !unit.is_empty() {
                return Some(unit);
            }
        }
    }
}

impl std::iter::FusedIterator for AnnexB<'_> {}

/// Appends one unit in Annex B form, after a 4-byte start code.
pub fn put_annex_b(out: &mut Vec<u8>, nal: &[u8]) {
    out.extend_from_slice(&START_CODE);
    out.extend_from_slice(nal);
}

/// Appends one unit with a 4-byte length prefix.
pub fn put_length_prefixed(out: &mut Vec<u8>, nal: &[u8]) -> Result<(), NalError> {
    let len = u32::try_from(nal.len()).map_err(|_| NalError::TooLong(nal.len()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(nal);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::bits::tests::XorShift;
    use super::*;

    /// The skipping scan finds what a byte-by-byte one finds, on data rich in 0s and 1s.
    #[test]
    fn start_code_scan_matches_a_plain_one() {
        fn plain(data: &[u8], from: usize) -> Option<usize> {
            (from..data.len().saturating_sub(2))
                .find(|&i| data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1)
                .map(|i| i + 3)
        }
        let mut rng = XorShift(0x5eed_0123_4567_89ab);
        for len in 0..400usize {
            let data: Vec<u8> = (0..len).map(|_| (rng.next_u64() % 4) as u8).collect();
            for from in 0..len.min(8) {
                assert_eq!(
                    find_start_code(&data, from),
                    plain(&data, from),
                    "{data:?} from {from}"
                );
            }
        }
        assert_eq!(find_start_code(&[0, 0, 1], usize::MAX), None);
    }

    #[test]
    fn length_prefixed_units() {
        let data = [0, 0, 0, 2, 0x65, 0xAA, 0, 0, 0, 1, 0x06, 0, 0, 0, 0];
        let units: Vec<_> = length_prefixed(&data, 4).collect();
        assert_eq!(
            units,
            vec![Ok(&[0x65, 0xAA][..]), Ok(&[0x06][..]), Ok(&[][..])]
        );
        let one = [1, 0x41, 2, 0x01];
        let units: Vec<_> = length_prefixed(&one, 1).collect();
        assert_eq!(units, vec![Ok(&[0x41][..]), Err(NalError::Truncated)]);
        let mut bad = length_prefixed(&[0, 1, 0x65], 5);
        assert_eq!(bad.next(), Some(Err(NalError::LengthSize(5))));
        assert_eq!(bad.next(), None);
    }

    #[test]
    fn annex_b_units() {
        let stream = [
            0xAB, 0, 0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 0, 1, 0, 0, 1, 0x65, 0x88,
            0x00, 0x00,
        ];
        let units: Vec<&[u8]> = annex_b(&stream).collect();
        assert_eq!(
            units,
            vec![&[0x09, 0xF0][..], &[0x67, 0x42][..], &[0x65, 0x88][..]]
        );
        assert_eq!(annex_b(&[1, 2, 3]).count(), 0);
        assert_eq!(annex_b(&[]).count(), 0);
        assert_eq!(annex_b(&[0, 0, 1]).count(), 0);
        // Emulation prevention (00 00 03) is not a start code.
        let escaped = [0, 0, 1, 0x41, 0, 0, 3, 1];
        assert_eq!(
            annex_b(&escaped).collect::<Vec<_>>(),
            vec![&[0x41, 0, 0, 3, 1][..]]
        );
    }

    #[test]
    fn round_trip_between_forms() {
        let units: [&[u8]; 3] = [&[0x67, 1, 2], &[0x68, 3], &[0x65, 0, 0, 3, 0, 9]];
        let mut annex = Vec::new();
        let mut prefixed = Vec::new();
        for unit in units {
            put_annex_b(&mut annex, unit);
            put_length_prefixed(&mut prefixed, unit).unwrap();
        }
        assert_eq!(annex_b(&annex).collect::<Vec<_>>(), units);
        let back: Vec<&[u8]> = length_prefixed(&prefixed, 4).map(Result::unwrap).collect();
        assert_eq!(back, units);
    }

    #[test]
    fn flavours() {
        let h264 = NalFlavor::H264;
        assert!(h264.is_delimiter(h264.access_unit_delimiter()));
        assert!(h264.is_parameter_set(&[0x67]) && h264.is_parameter_set(&[0x68]));
        assert!(h264.is_random_access(&[0x65]) && !h264.is_random_access(&[0x41]));
        let hevc = NalFlavor::Hevc;
        assert!(hevc.is_delimiter(hevc.access_unit_delimiter()));
        assert!(hevc.is_parameter_set(&[0x40, 1]) && !hevc.is_parameter_set(&[0x26, 1]));
        assert!(hevc.is_random_access(&[0x26, 1]) && hevc.is_random_access(&[0x2A, 1]));
        assert!(!hevc.is_random_access(&[0x02, 1]));
        assert_eq!(NalFlavor::of(Codec::Hevc), Some(hevc));
        assert_eq!(NalFlavor::of(Codec::Aac), None);
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = XorShift(0xA11B_0000_1234_5678);
        for _ in 0..20_000 {
            let mut data = rng.bytes(64);
            for byte in data.iter_mut() {
                // Many zeros and ones, so start codes appear.
                if *byte < 160 {
                    *byte %= 2;
                }
            }
            for unit in annex_b(&data) {
                assert!(!unit.is_empty() && unit.last() != Some(&0));
            }
            for size in 0..6 {
                let _ = length_prefixed(&data, size).count();
            }
        }
    }
}
