//! MPEG audio frame headers (MP3 and its Layer I/II siblings).
//!
//! - ISO/IEC 11172-3 2.4.1.3 / 2.4.2.3 `header()` and its bitrate / sampling frequency tables
//!   (MPEG-1), and 2.4.3.1 for the frame length (slots per frame, padding).
//! - ISO/IEC 13818-3 2.4.1.3 / 2.4.2.3 (MPEG-2 lower sampling frequencies: ID = 0, halved
//!   rates, 576 samples per Layer III frame).
//! - The common "MPEG 2.5" extension (version bits 00: quartered rates), as FLV's MP3 8 kHz and
//!   most decoders accept it.
//!
//! ```text
//! AAAAAAAA AAABBCCD EEEEFFGH IIJJKLMM
//! A sync (11 bits set)   B version (00 2.5, 01 reserved, 10 MPEG-2, 11 MPEG-1)
//! C layer (01 III, 10 II, 11 I, 00 reserved)   D protection_bit (0: CRC follows)
//! E bitrate_index   F sampling_frequency   G padding_bit   H private_bit
//! I mode (11 single channel)   J mode_extension   K copyright   L original   M emphasis
//! ```

use super::{Codec, Track};

/// Errors from the MPEG audio header parser.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Mp3Error {
    #[error("MPEG audio header truncated")]
    Truncated,
    #[error("no MPEG audio frame sync")]
    NoSync,
    #[error("invalid MPEG audio header: {0}")]
    Invalid(&'static str),
    #[error("free-format MPEG audio is not supported")]
    FreeFormat,
    #[error("MPEG audio layer {0} is not MP3 (Layer III)")]
    NotLayer3(u8),
}

/// One decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp3Header {
    /// 1, 2, or 25 for MPEG 2.5.
    pub version: u8,
    /// 1, 2 or 3.
    pub layer: u8,
    pub bitrate_kbps: u32,
    pub sample_rate: u32,
    pub channels: u8,
    /// Whole frame length in bytes, header and padding included.
    pub frame_len: usize,
    pub samples_per_frame: u32,
}

/// Bitrates in kbit/s by bitrate_index 1..=14 (index 0 = free format, 15 = forbidden).
const BITRATES_V1_L1: [u32; 14] = [
    32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
];
const BITRATES_V1_L2: [u32; 14] = [
    32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
];
const BITRATES_V1_L3: [u32; 14] = [
    32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
const BITRATES_V2_L1: [u32; 14] = [
    32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
];
const BITRATES_V2_L23: [u32; 14] = [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

/// MPEG-1 sampling frequencies; MPEG-2 halves and MPEG 2.5 quarters them.
const RATES_V1: [u32; 3] = [44100, 48000, 32000];

/// Parses the 4-byte frame header at the start of `data`.
pub fn parse_header(data: &[u8]) -> Result<Mp3Header, Mp3Error> {
    let bytes: [u8; 4] = data
        .get(..4)
        .and_then(|h| h.try_into().ok())
        .ok_or(Mp3Error::Truncated)?;
    let word = u32::from_be_bytes(bytes);
    if word >> 21 != 0x7FF {
        return Err(Mp3Error::NoSync);
    }
    let version = match (word >> 19) & 3 {
        0 => 25,
        2 => 2,
        3 => 1,
        _ => return Err(Mp3Error::Invalid("reserved version")),
    };
    let layer = match (word >> 17) & 3 {
        1 => 3,
        2 => 2,
        3 => 1,
        _ => return Err(Mp3Error::Invalid("reserved layer")),
    };
    let bitrate_kbps = bitrate(version, layer, (word >> 12) & 0xF)?;
    let sample_rate = sample_rate(version, (word >> 10) & 3)?;
    let padding = (word >> 9) & 1;
    let channels = if (word >> 6) & 3 == 3 { 1 } else { 2 };
    let samples_per_frame = match (layer, version) {
        (1, _) => 384,
        (3, 2 | 25) => 576,
        _ => 1152,
    };
    let frame_len = frame_length(layer, samples_per_frame, bitrate_kbps, sample_rate, padding);
    Ok(Mp3Header {
        version,
        layer,
        bitrate_kbps,
        sample_rate,
        channels,
        frame_len,
        samples_per_frame,
    })
}

fn bitrate(version: u8, layer: u8, index: u32) -> Result<u32, Mp3Error> {
    let table = match (version, layer) {
        (1, 1) => &BITRATES_V1_L1,
        (1, 2) => &BITRATES_V1_L2,
        (1, _) => &BITRATES_V1_L3,
        (_, 1) => &BITRATES_V2_L1,
        _ => &BITRATES_V2_L23,
    };
    match index {
        0 => Err(Mp3Error::FreeFormat),
        15 => Err(Mp3Error::Invalid("forbidden bitrate index")),
        // i >= 1 here, so the subtraction cannot underflow.
        i => table
            .get(i as usize - 1)
            .copied()
            .ok_or(Mp3Error::Invalid("forbidden bitrate index")),
    }
}

fn sample_rate(version: u8, index: u32) -> Result<u32, Mp3Error> {
    let base = RATES_V1
        .get(index as usize)
        .ok_or(Mp3Error::Invalid("reserved sampling frequency"))?;
    Ok(match version {
        1 => *base,
        2 => base / 2,
        _ => base / 4,
    })
}

/// Frame length in bytes: Layer I counts 4-byte slots, Layers II and III 1-byte slots.
///
/// ```text
/// Layer I:       (12 * bitrate / rate + padding) * 4
/// Layer II, III: (samples / 8) * bitrate / rate + padding
/// ```
fn frame_length(layer: u8, samples: u32, bitrate_kbps: u32, rate: u32, padding: u32) -> usize {
    let bitrate = u64::from(bitrate_kbps) * 1000;
    let rate = u64::from(rate.max(1));
    let padding = u64::from(padding);
    let len = if layer == 1 {
        (12 * bitrate / rate + padding) * 4
    } else {
        u64::from(samples / 8) * bitrate / rate + padding
    };
    // At most a few kilobytes (448 kbit/s at 8 kHz), so this always fits.
    usize::try_from(len).unwrap_or(usize::MAX)
}

/// A [`Track`] for an MP3 stream from one of its frames: codec string `mp4a.40.34`, rate,
/// channels, 16-bit samples. Layer I and II frames are refused (the codec would not be MP3).
pub fn track_from_frame(data: &[u8]) -> Result<Track, Mp3Error> {
    let header = parse_header(data)?;
    if header.layer != 3 {
        return Err(Mp3Error::NotLayer3(header.layer));
    }
    Ok(Track {
        codec: Some(Codec::Mp3),
        codec_string: "mp4a.40.34".to_string(),
        rate: header.sample_rate,
        channels: u32::from(header.channels),
        size: 16,
        ..Track::default()
    })
}

#[cfg(test)]
mod tests {
    use super::super::bits::tests::XorShift;
    use super::*;

    /// LAME, 22050 Hz mono, 32 kbit/s (an Info frame at 56 kbit/s first), after a 45-byte ID3v2.
    const SINE_22050_MONO: &[u8] = include_bytes!("testdata/sine_22050_mono.mp3");

    fn header(
        version: u8,
        layer: u8,
        kbps: u32,
        rate: u32,
        ch: u8,
        len: usize,
        spf: u32,
    ) -> Mp3Header {
        Mp3Header {
            version,
            layer,
            bitrate_kbps: kbps,
            sample_rate: rate,
            channels: ch,
            frame_len: len,
            samples_per_frame: spf,
        }
    }

    #[test]
    fn lame_headers() {
        // 44.1 kHz stereo 128 kbit/s (from LAME): 144 * 128000 / 44100 = 417.
        assert_eq!(
            parse_header(&[0xFF, 0xFB, 0x90, 0x00]),
            Ok(header(1, 3, 128, 44100, 2, 417, 1152))
        );
        // MPEG-2, 22050 Hz mono, 56 kbit/s: 72 * 56000 / 22050 = 182.
        assert_eq!(
            parse_header(&[0xFF, 0xF3, 0x70, 0xC0]),
            Ok(header(2, 3, 56, 22050, 1, 182, 576))
        );
    }

    #[test]
    fn other_versions_and_layers() {
        // MPEG 2.5 Layer III, 64 kbit/s, 8000 Hz, padded, mono: 72 * 64000 / 8000 + 1.
        assert_eq!(
            parse_header(&[0xFF, 0xE2, 0x8A, 0xC0]),
            Ok(header(25, 3, 64, 8000, 1, 577, 576))
        );
        // MPEG-1 Layer I, 384 kbit/s, 48 kHz, padded: (12 * 384000 / 48000 + 1) * 4.
        assert_eq!(
            parse_header(&[0xFF, 0xFF, 0xC6, 0x00]),
            Ok(header(1, 1, 384, 48000, 2, 388, 384))
        );
        // MPEG-1 Layer II, 192 kbit/s, 44.1 kHz: 144 * 192000 / 44100.
        assert_eq!(
            parse_header(&[0xFF, 0xFD, 0xA0, 0x40]),
            Ok(header(1, 2, 192, 44100, 2, 626, 1152))
        );
        // MPEG-2 Layer II uses 1152 samples and the low table: 144 * 160000 / 24000.
        assert_eq!(
            parse_header(&[0xFF, 0xF5, 0xE4, 0x00]),
            Ok(header(2, 2, 160, 24000, 2, 960, 1152))
        );
    }

    #[test]
    fn rejects_bad_headers() {
        assert_eq!(parse_header(&[0xFF, 0xFB, 0x90]), Err(Mp3Error::Truncated));
        assert_eq!(parse_header(&[]), Err(Mp3Error::Truncated));
        assert_eq!(
            parse_header(&[0xFF, 0x1B, 0x90, 0x00]),
            Err(Mp3Error::NoSync)
        );
        assert_eq!(parse_header(b"ID3\x04"), Err(Mp3Error::NoSync));
        assert_eq!(
            parse_header(&[0xFF, 0xEB, 0x90, 0x00]),
            Err(Mp3Error::Invalid("reserved version"))
        );
        assert_eq!(
            parse_header(&[0xFF, 0xF9, 0x90, 0x00]),
            Err(Mp3Error::Invalid("reserved layer"))
        );
        assert_eq!(
            parse_header(&[0xFF, 0xFB, 0xF0, 0x00]),
            Err(Mp3Error::Invalid("forbidden bitrate index"))
        );
        assert_eq!(
            parse_header(&[0xFF, 0xFB, 0x00, 0x00]),
            Err(Mp3Error::FreeFormat)
        );
        assert_eq!(
            parse_header(&[0xFF, 0xFB, 0x9C, 0x00]),
            Err(Mp3Error::Invalid("reserved sampling frequency"))
        );
    }

    #[test]
    fn walks_a_real_file_frame_by_frame() {
        let id3_len = 10
            + SINE_22050_MONO[6..10]
                .iter()
                .fold(0usize, |acc, &b| (acc << 7) | usize::from(b));
        let mut at = id3_len;
        let mut frames = Vec::new();
        while at < SINE_22050_MONO.len() {
            let h = parse_header(&SINE_22050_MONO[at..]).unwrap();
            assert_eq!(
                (h.version, h.layer, h.sample_rate, h.channels),
                (2, 3, 22050, 1)
            );
            frames.push(h);
            at += h.frame_len;
        }
        assert_eq!(at, SINE_22050_MONO.len());
        assert_eq!(frames.len(), 11);
        assert_eq!(frames[0].bitrate_kbps, 56); // LAME's Info frame
        assert!(frames[1..].iter().all(|h| h.samples_per_frame == 576));
        let track = track_from_frame(&SINE_22050_MONO[id3_len..]).unwrap();
        assert_eq!(track.codec, Some(Codec::Mp3));
        assert_eq!(track.codec_string, "mp4a.40.34");
        assert_eq!((track.rate, track.channels, track.size), (22050, 1, 16));
        assert!(track.init.is_empty());
    }

    #[test]
    fn track_refuses_layer_2() {
        assert_eq!(
            track_from_frame(&[0xFF, 0xFD, 0xA0, 0x40]),
            Err(Mp3Error::NotLayer3(2))
        );
        assert_eq!(track_from_frame(&[0xFF]), Err(Mp3Error::Truncated));
    }

    #[test]
    fn every_header_word_is_handled() {
        // All 2^21 headers after the sync: lengths stay within what a frame can be.
        for low in 0..(1u32 << 21) {
            let word = (0x7FF << 21) | low;
            if let Ok(h) = parse_header(&word.to_be_bytes()) {
                assert!((24..=2884).contains(&h.frame_len), "{word:08X}: {h:?}");
                assert!(matches!(h.channels, 1 | 2));
            }
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = XorShift(0x5151_5151_5151_5151);
        for _ in 0..20_000 {
            let data = rng.bytes(6);
            let _ = parse_header(&data);
            let _ = track_from_frame(&data);
        }
    }
}
