//! WAV (RIFF/WAVE): the header the `.wav` output writes and the one the on-demand input reads.
//!
//! Layout (Microsoft's RIFF specification, "WAVE form" and `WAVEFORMATEX`; all numbers
//! little-endian):
//!
//! ```text
//!  "RIFF" size "WAVE"  then chunks: id (4 bytes) size (u32) body (padded to an even length)
//!  "fmt " chunk: format u16, channels u16, rate u32, bytes/s u32, block align u16, bits u16,
//!                [extra size u16, extra]   (MPEGLAYER3WAVEFORMAT: id u16, flags u32,
//!                                           block size u16, frames per block u16, delay u16)
//!  "data" chunk: the samples (PCM: little-endian, 8-bit unsigned) or the MP3 frames
//! ```
//!
//! Eddy's PCM is big-endian signed (MistServer's `PCM`), so samples are swapped both ways
//! ([`swap_pcm`]). A live answer has no known length: its sizes say 0xFFFFFFFF, as streaming
//! WAV writers do.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Codec, Track};

pub const FORMAT_PCM: u16 = 1;
pub const FORMAT_FLOAT: u16 = 3;
pub const FORMAT_ALAW: u16 = 6;
pub const FORMAT_MULAW: u16 = 7;
pub const FORMAT_MPEGLAYER3: u16 = 0x55;
pub const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Why bytes are not a usable WAV header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    #[error("not a RIFF/WAVE file")]
    NotWave,
    #[error("WAV header is malformed: {0}")]
    Malformed(&'static str),
    #[error("WAV format 0x{0:04X} is not one Eddy carries")]
    Unsupported(u16),
    #[error("this codec cannot be written to WAV")]
    NotCarried,
}

/// The `fmt ` chunk's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// The format tag (for WAVE_FORMAT_EXTENSIBLE, the sub-format's).
    pub tag: u16,
    pub channels: u16,
    pub rate: u32,
    pub block_align: u16,
    pub bits: u16,
}

impl Format {
    /// Parses a `fmt ` chunk body.
    pub fn parse(body: &[u8]) -> Result<Format, WavError> {
        if body.len() < 16 {
            return Err(WavError::Malformed("fmt chunk too short"));
        }
        let u16at = |at: usize| u16::from_le_bytes([body[at], body[at + 1]]);
        let mut tag = u16at(0);
        if tag == FORMAT_EXTENSIBLE {
            // cbSize, valid bits, channel mask, then the sub-format GUID (its first two bytes).
            if body.len() < 26 {
                return Err(WavError::Malformed("extensible fmt chunk too short"));
            }
            tag = u16at(24);
        }
        let f = Format {
            tag,
            channels: u16at(2),
            rate: u32::from_le_bytes([body[4], body[5], body[6], body[7]]),
            block_align: u16at(12),
            bits: u16at(14),
        };
        if f.channels == 0 || f.rate == 0 {
            return Err(WavError::Malformed("no channels or no sample rate"));
        }
        Ok(f)
    }

    /// The codec and track of this format (PCM as 8, 16, 24 or 32 bits).
    pub fn track(&self) -> Result<Track, WavError> {
        let codec = match self.tag {
            FORMAT_PCM if matches!(self.bits, 8 | 16 | 24 | 32) => Codec::Pcm,
            FORMAT_ALAW => Codec::Alaw,
            FORMAT_MULAW => Codec::Ulaw,
            FORMAT_MPEGLAYER3 => Codec::Mp3,
            other => return Err(WavError::Unsupported(other)),
        };
        let sample_bits = if codec == Codec::Pcm { self.bits } else { 8 };
        if codec != Codec::Mp3
            && u32::from(self.block_align) != u32::from(self.channels) * u32::from(sample_bits) / 8
        {
            return Err(WavError::Malformed(
                "block align does not match the samples",
            ));
        }
        Ok(Track {
            codec: Some(codec),
            rate: self.rate,
            channels: u32::from(self.channels),
            size: if codec == Codec::Mp3 {
                16
            } else {
                u32::from(sample_bits)
            },
            codec_string: codec.mist_name().to_ascii_lowercase(),
            ..Track::default()
        })
    }
}

/// Whether the output can write `track` to WAV.
pub fn carries(track: &Track) -> bool {
    match track.codec {
        Some(Codec::Pcm) => matches!(track.size, 8 | 16 | 24 | 32),
        Some(Codec::Alaw | Codec::Ulaw | Codec::Mp3) => true,
        _ => false,
    }
}

/// The RIFF header, `fmt ` chunk and `data` chunk header for `track`; `data_len` is the data
/// chunk's length when known (else 0xFFFFFFFF, as for a live stream).
pub fn header(track: &Track, data_len: Option<u32>) -> Result<Bytes, WavError> {
    if !carries(track) {
        return Err(WavError::NotCarried);
    }
    let channels = u16::try_from(track.channels.max(1)).map_err(|_| WavError::NotCarried)?;
    let rate = track.rate.max(1);
    let mut fmt = BytesMut::new();
    let (tag, bits, align, per_second) = match track.codec {
        Some(Codec::Pcm) => {
            let bits = track.size as u16;
            let align = channels * bits / 8;
            (FORMAT_PCM, bits, align, rate * u32::from(align))
        }
        Some(Codec::Alaw) => (FORMAT_ALAW, 8, channels, rate * u32::from(channels)),
        Some(Codec::Ulaw) => (FORMAT_MULAW, 8, channels, rate * u32::from(channels)),
        _ => {
            let bps = u32::try_from(track.bps).unwrap_or(16_000).max(1000);
            (FORMAT_MPEGLAYER3, 0, 1, bps)
        }
    };
    fmt.put_u16_le(tag);
    fmt.put_u16_le(channels);
    fmt.put_u32_le(rate);
    fmt.put_u32_le(per_second);
    fmt.put_u16_le(align);
    fmt.put_u16_le(bits);
    if tag == FORMAT_MPEGLAYER3 {
        // MPEGLAYER3WAVEFORMAT: 12 more bytes; id 1 (MPEG), no padding flags, the block size
        // of a frame at this bit rate, one frame per block, the usual LAME decoder delay.
        fmt.put_u16_le(12);
        fmt.put_u16_le(1);
        fmt.put_u32_le(0);
        let samples = if rate >= 32_000 { 1152 } else { 576 };
        fmt.put_u16_le(u16::try_from(per_second * samples / rate).unwrap_or(u16::MAX));
        fmt.put_u16_le(1);
        fmt.put_u16_le(1393);
    }
    let data = data_len.unwrap_or(u32::MAX);
    let riff = data_len.map_or(u32::MAX, |d| d.saturating_add(4 + 8 + fmt.len() as u32 + 8));
    let mut out = BytesMut::with_capacity(fmt.len() + 28);
    out.put_slice(b"RIFF");
    out.put_u32_le(riff);
    out.put_slice(b"WAVE");
    out.put_slice(b"fmt ");
    out.put_u32_le(fmt.len() as u32);
    out.put_slice(&fmt);
    out.put_slice(b"data");
    out.put_u32_le(data);
    Ok(out.freeze())
}

/// PCM samples of `bits` bits swapped between WAV's little-endian (8-bit: unsigned) and Eddy's
/// big-endian signed form; the same operation both ways. A trailing partial sample is dropped.
pub fn swap_pcm(data: &[u8], bits: u32) -> Bytes {
    let width = (bits / 8).max(1) as usize;
    let whole = data.len() / width * width;
    let mut out = Vec::with_capacity(whole);
    if width == 1 {
        out.extend(data.iter().map(|b| b ^ 0x80));
    } else {
        for sample in data[..whole].chunks_exact(width) {
            out.extend(sample.iter().rev());
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_through_the_parser() {
        for (codec, size) in [
            (Codec::Pcm, 16),
            (Codec::Pcm, 24),
            (Codec::Alaw, 8),
            (Codec::Ulaw, 8),
            (Codec::Mp3, 16),
        ] {
            let t = Track {
                codec: Some(codec),
                rate: 44_100,
                channels: 2,
                size,
                ..Track::default()
            };
            let h = header(&t, Some(1000)).unwrap();
            assert_eq!(&h[..4], b"RIFF");
            assert_eq!(&h[h.len() - 8..h.len() - 4], b"data");
            let riff = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
            assert_eq!(riff, h.len() - 8 + 1000);
            let fmt_len = u32::from_le_bytes([h[16], h[17], h[18], h[19]]) as usize;
            let back = Format::parse(&h[20..20 + fmt_len])
                .unwrap()
                .track()
                .unwrap();
            assert_eq!(
                (back.codec, back.rate, back.channels),
                (Some(codec), 44_100, 2)
            );
            let live = header(&t, None).unwrap();
            assert_eq!(&live[live.len() - 4..], &[0xFF; 4]);
        }
        let aac = Track {
            codec: Some(Codec::Aac),
            ..Track::default()
        };
        assert_eq!(header(&aac, None), Err(WavError::NotCarried));
    }

    #[test]
    fn bad_fmt_chunks_are_errors() {
        assert!(Format::parse(&[1, 0, 2]).is_err());
        let mut fmt = vec![1, 0, 0, 0, 0x44, 0xAC, 0, 0, 0, 0, 0, 0, 4, 0, 16, 0];
        assert!(Format::parse(&fmt).is_err(), "no channels");
        fmt[2] = 2;
        assert!(Format::parse(&fmt).unwrap().track().is_ok());
        fmt[12] = 3;
        assert!(Format::parse(&fmt).unwrap().track().is_err(), "bad align");
        fmt[0] = 0x11;
        assert_eq!(
            Format::parse(&fmt).unwrap().track(),
            Err(WavError::Unsupported(0x11))
        );
    }

    #[test]
    fn pcm_swaps_both_ways() {
        assert_eq!(&swap_pcm(&[1, 2, 3, 4, 5], 16)[..], &[2, 1, 4, 3]);
        assert_eq!(&swap_pcm(&[0x80, 0x00], 8)[..], &[0x00, 0x80]);
        assert_eq!(&swap_pcm(&[1, 2, 3], 24)[..], &[3, 2, 1]);
    }
}
