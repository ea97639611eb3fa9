//! AAC configuration.
//!
//! - ISO/IEC 14496-3 1.6.2.1 `AudioSpecificConfig` (the leading `audioObjectType`,
//!   `samplingFrequencyIndex` and `channelConfiguration` fields, with 1.6.2.1.1
//!   `GetAudioObjectType()` escape, 1.6.3.4 Table 1.18 sampling frequencies and 1.6.3.5
//!   Table 1.19 channel configurations).
//! - ISO/IEC 14496-3 1.A.2.2 `adts_fixed_header` / `adts_variable_header` (MPEG-4 ADTS without
//!   CRC) for writing raw frames as ADTS.
//! - RFC 6381 3.3 codec strings (`mp4a.40.<audioObjectType>`).

use bytes::Bytes;

use super::bits::{BitError, BitReader};
use super::{Codec, Track};

/// Errors from the AAC parsers and writers.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AacError {
    #[error("AudioSpecificConfig truncated")]
    Truncated,
    #[error("invalid AAC data: {0}")]
    Invalid(&'static str),
    #[error("AAC frame of {0} bytes is too long for ADTS")]
    FrameTooLong(usize),
    #[error("cannot write ADTS for this configuration: {0}")]
    NotAdts(&'static str),
}

impl From<BitError> for AacError {
    fn from(_: BitError) -> Self {
        // Fixed-width reads only: the one way they fail is running out of data.
        AacError::Truncated
    }
}

/// The leading fields of an `AudioSpecificConfig`.
///
/// `frequency_index` and `sample_rate` describe the core stream as signalled first in the
/// config (for explicitly signalled HE-AAC, object type 5 or 29, that is the AAC core's rate,
/// half the output rate); `frequency_index` is 15 when the rate was given explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    pub object_type: u8,
    pub frequency_index: u8,
    pub sample_rate: u32,
    /// Channel count from channelConfiguration; 0 when the channels are defined by a program
    /// config element (channelConfiguration 0).
    pub channels: u8,
}

/// Sampling frequencies by samplingFrequencyIndex (Table 1.18); 13 and 14 are reserved.
const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Parses the start of an `AudioSpecificConfig`:
///
/// ```text
/// audioObjectType u5            (31: escape, then 32 + u6)
/// samplingFrequencyIndex u4     (15: explicit samplingFrequency u24 follows)
/// channelConfiguration u4
/// ... (object-type specific config, not read)
/// ```
pub fn parse_asc(data: &[u8]) -> Result<AudioSpecificConfig, AacError> {
    let mut r = BitReader::new(data);
    let object_type = read_object_type(&mut r)?;
    if object_type == 0 {
        return Err(AacError::Invalid("audio object type 0 (null)"));
    }
    let frequency_index = r.read_bits(4)? as u8;
    let sample_rate = match frequency_index {
        15 => r.read_bits(24)?,
        index => rate_of_index(index).ok_or(AacError::Invalid("reserved sampling frequency"))?,
    };
    if sample_rate == 0 {
        return Err(AacError::Invalid("sampling frequency 0"));
    }
    let channels = channels_of_config(r.read_bits(4)? as u8)
        .ok_or(AacError::Invalid("reserved channel configuration"))?;
    Ok(AudioSpecificConfig {
        object_type,
        frequency_index,
        sample_rate,
        channels,
    })
}

/// `GetAudioObjectType()`: 5 bits, 31 escapes to 32 + 6 more bits.
fn read_object_type(r: &mut BitReader) -> Result<u8, AacError> {
    let object_type = r.read_bits(5)? as u8;
    if object_type == 31 {
        Ok(32 + r.read_bits(6)? as u8)
    } else {
        Ok(object_type)
    }
}

fn rate_of_index(index: u8) -> Option<u32> {
    SAMPLE_RATES.get(usize::from(index)).copied()
}

/// Channels of a channelConfiguration (Table 1.19; 11..=14 from later amendments). `None` for
/// reserved values.
fn channels_of_config(config: u8) -> Option<u8> {
    match config {
        0..=6 => Some(config),
        7 | 12 | 14 => Some(8),
        11 => Some(7),
        13 => Some(24),
        _ => None,
    }
}

/// The channelConfiguration for a channel count, as far as one exists (1..=6, 8 -> 7).
fn config_of_channels(channels: u8) -> Option<u8> {
    match channels {
        0..=6 => Some(channels),
        8 => Some(7),
        _ => None,
    }
}

/// The samplingFrequencyIndex of a rate, if the table has it.
pub fn frequency_index(rate: u32) -> Option<u8> {
    SAMPLE_RATES
        .iter()
        .position(|&r| r == rate)
        .and_then(|i| u8::try_from(i).ok())
}

/// Builds a minimal `AudioSpecificConfig` (object type, frequency index, channel
/// configuration, then zero padding; GASpecificConfig flags all 0):
///
/// ```text
/// aot < 31:  aot u5 | index u4 | channelConfiguration u4 | 000            (2 bytes)
/// aot >= 32: 11111 | aot-32 u6 | index u4 | channelConfiguration u4 | 00000  (3 bytes)
/// ```
///
/// Object types up to 30 take 5 bits, 32..=95 the escape form; 31 is the escape code itself, not
/// an object type, and comes out as 32. `channels` is a channel count (8 is written as
/// configuration 7; counts without a configuration are written as 0, "defined elsewhere").
/// Out-of-range values are masked to their field widths; `frequency_index` should come from
/// [`frequency_index`] (index 15 would need an explicit rate and is written with a zero 24-bit
/// rate).
pub fn build_asc(object_type: u8, frequency_index: u8, channels: u8) -> Bytes {
    let mut w = BitSink::default();
    if object_type >= 31 {
        w.put(5, 31);
        w.put(6, u32::from(object_type.saturating_sub(32)));
    } else {
        w.put(5, u32::from(object_type));
    }
    w.put(4, u32::from(frequency_index));
    if frequency_index & 0x0F == 15 {
        w.put(24, 0);
    }
    w.put(4, u32::from(config_of_channels(channels).unwrap_or(0)));
    Bytes::from(w.finish())
}

/// A small MSB-first bit writer for [`build_asc`].
#[derive(Default)]
struct BitSink {
    bytes: Vec<u8>,
    used: u32,
}

impl BitSink {
    /// Appends the low `n` bits of `value`.
    fn put(&mut self, n: u32, value: u32) {
        for i in (0..n).rev() {
            if self.used % 8 == 0 {
                self.bytes.push(0);
            }
            let bit = u8::from(i < 32 && (value >> i) & 1 == 1);
            if let Some(last) = self.bytes.last_mut() {
                *last |= bit << (7 - self.used % 8);
            }
            self.used += 1;
        }
    }

    fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// A [`Track`] for an `AudioSpecificConfig`: codec string `mp4a.40.<aot>`, rate, channels,
/// 16-bit samples.
pub fn track_from_asc(init: Bytes) -> Result<Track, AacError> {
    let asc = parse_asc(&init)?;
    Ok(Track {
        codec: Some(Codec::Aac),
        codec_string: format!("mp4a.40.{}", asc.object_type),
        rate: asc.sample_rate,
        channels: u32::from(asc.channels),
        size: 16,
        init,
        ..Track::default()
    })
}

/// Largest ADTS frame: aac_frame_length is 13 bits and includes the 7-byte header.
const ADTS_MAX_FRAME: usize = 0x1FFF;

/// The 7-byte ADTS header (MPEG-4, no CRC) for one raw AAC frame of `payload_len` bytes:
///
/// ```text
/// syncword 0xFFF u12 | ID 0 u1 | layer 00 | protection_absent 1
/// profile (aot - 1) u2 | sampling_frequency_index u4 | private_bit 0 | channel_configuration u3
/// original_copy 0 | home 0 | copyright_id_bit 0 | copyright_id_start 0
/// aac_frame_length u13 (header + payload) | adts_buffer_fullness 0x7FF u11
/// number_of_raw_data_blocks_in_frame 0 u2
/// ```
///
/// HE-AAC (object types 5 and 29) is written as its AAC LC core; ADTS cannot carry other object
/// types beyond 4, explicit rates missing from the table, or channel counts without a
/// configuration number.
pub fn adts_header(asc: &AudioSpecificConfig, payload_len: usize) -> Result<[u8; 7], AacError> {
    let profile: u8 = match asc.object_type {
        1..=4 => asc.object_type - 1,
        5 | 29 => 1,
        _ => return Err(AacError::NotAdts("object type has no ADTS profile")),
    };
    let index = match asc.frequency_index {
        0..=12 => asc.frequency_index,
        _ => frequency_index(asc.sample_rate)
            .ok_or(AacError::NotAdts("sample rate has no frequency index"))?,
    };
    let config = config_of_channels(asc.channels).ok_or(AacError::NotAdts(
        "channel count has no channel configuration",
    ))?;
    let frame_len = payload_len
        .checked_add(7)
        .filter(|&len| len <= ADTS_MAX_FRAME)
        .ok_or(AacError::FrameTooLong(payload_len))?;
    let len = frame_len as u16; // at most 13 bits, checked above
    Ok([
        0xFF,
        0xF1, // sync, MPEG-4, layer 0, no CRC
        (profile << 6) | (index << 2) | (config >> 2),
        ((config & 0x03) << 6) | ((len >> 11) as u8 & 0x03),
        (len >> 3) as u8,
        (((len & 0x07) as u8) << 5) | 0x1F,
        0xFC, // buffer fullness low bits, 0 extra raw data blocks
    ])
}

/// A parsed ADTS frame header (1.A.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// The configuration it signals (object type = profile + 1).
    pub asc: AudioSpecificConfig,
    /// The channel_configuration field (0: defined by a program config element).
    pub channel_configuration: u8,
    /// 7, or 9 with a CRC (protection_absent 0).
    pub header_len: usize,
    /// aac_frame_length: header and raw data.
    pub frame_len: usize,
    /// number_of_raw_data_blocks_in_frame + 1.
    pub raw_blocks: u8,
}

/// Parses the ADTS header at the start of `data`:
///
/// ```text
/// syncword 0xFFF u12 | ID u1 | layer 00 | protection_absent u1
/// profile u2 | sampling_frequency_index u4 | private_bit u1 | channel_configuration u3
/// original_copy u1 | home u1 | copyright_id_bit u1 | copyright_id_start u1
/// aac_frame_length u13 | adts_buffer_fullness u11 | number_of_raw_data_blocks_in_frame u2
/// [crc_check u16 when protection_absent is 0]
/// ```
pub fn parse_adts(data: &[u8]) -> Result<AdtsHeader, AacError> {
    let h: &[u8; 7] = data
        .get(..7)
        .and_then(|h| h.try_into().ok())
        .ok_or(AacError::Truncated)?;
    if h[0] != 0xFF || h[1] & 0xF0 != 0xF0 {
        return Err(AacError::Invalid("no ADTS syncword"));
    }
    if h[1] & 0x06 != 0 {
        return Err(AacError::Invalid("ADTS layer is not 0"));
    }
    let header_len = if h[1] & 0x01 != 0 { 7 } else { 9 };
    let object_type = (h[2] >> 6) + 1;
    let frequency_index = (h[2] >> 2) & 0x0F;
    let sample_rate =
        rate_of_index(frequency_index).ok_or(AacError::Invalid("reserved sampling frequency"))?;
    let channel_configuration = ((h[2] & 0x01) << 2) | (h[3] >> 6);
    let channels = channels_of_config(channel_configuration).unwrap_or(0);
    let frame_len =
        (usize::from(h[3] & 0x03) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
    if frame_len < header_len {
        return Err(AacError::Invalid(
            "aac_frame_length shorter than the header",
        ));
    }
    Ok(AdtsHeader {
        asc: AudioSpecificConfig {
            object_type,
            frequency_index,
            sample_rate,
            channels,
        },
        channel_configuration,
        header_len,
        frame_len,
        raw_blocks: (h[6] & 0x03) + 1,
    })
}

impl AdtsHeader {
    /// The AudioSpecificConfig of the stream, as [`build_asc`] writes it.
    pub fn audio_specific_config(&self) -> Bytes {
        build_asc(
            self.asc.object_type,
            self.asc.frequency_index,
            self.channel_configuration_count(),
        )
    }

    /// The channel count [`build_asc`] turns back into this header's channel_configuration.
    fn channel_configuration_count(&self) -> u8 {
        match self.channel_configuration {
            7 => 8,
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bits::tests::XorShift;
    use super::*;

    fn asc(
        object_type: u8,
        frequency_index: u8,
        sample_rate: u32,
        channels: u8,
    ) -> AudioSpecificConfig {
        AudioSpecificConfig {
            object_type,
            frequency_index,
            sample_rate,
            channels,
        }
    }

    #[test]
    fn common_configs() {
        assert_eq!(parse_asc(&[0x12, 0x10]), Ok(asc(2, 4, 44100, 2)));
        assert_eq!(parse_asc(&[0x11, 0x90]), Ok(asc(2, 3, 48000, 2)));
        // From ffmpeg's FLV muxer: LC, 22050 Hz, mono, with a trailing sync extension.
        assert_eq!(
            parse_asc(&[0x13, 0x88, 0x56, 0xE5, 0x00]),
            Ok(asc(2, 7, 22050, 1))
        );
        // HE-AAC v1 explicit: aot 5, core 24000, 2 ch (extension rate follows, not read).
        assert_eq!(
            parse_asc(&[0x2B, 0x11, 0x88, 0x00]),
            Ok(asc(5, 6, 24000, 2))
        );
    }

    #[test]
    fn escaped_object_type_and_explicit_rate() {
        // aot 31 + 10 = 42 (USAC), index 15, rate 0x00ABCD, channel config 7 -> 8 channels.
        // 11111 001010 1111 000000001010101111001101 0111
        let data = [0xF9, 0x5E, 0x01, 0x57, 0x9A, 0xE0];
        assert_eq!(parse_asc(&data), Ok(asc(42, 15, 0xABCD, 8)));
        assert_eq!(build_asc(42, 3, 8)[..], [0xF9, 0x46, 0xE0]);
        assert_eq!(parse_asc(&build_asc(42, 3, 8)), Ok(asc(42, 3, 48000, 8)));
    }

    #[test]
    fn invalid_configs() {
        assert_eq!(parse_asc(&[]), Err(AacError::Truncated));
        assert_eq!(parse_asc(&[0x12]), Err(AacError::Truncated));
        assert_eq!(parse_asc(&[0xF8]), Err(AacError::Truncated));
        assert_eq!(
            parse_asc(&[0x00, 0x10]),
            Err(AacError::Invalid("audio object type 0 (null)"))
        );
        // index 13 (reserved)
        assert_eq!(
            parse_asc(&[0x16, 0x90]),
            Err(AacError::Invalid("reserved sampling frequency"))
        );
        // channel configuration 9 (reserved)
        assert_eq!(
            parse_asc(&[0x12, 0x48]),
            Err(AacError::Invalid("reserved channel configuration"))
        );
        // explicit rate 0
        assert_eq!(
            parse_asc(&[0x17, 0x80, 0, 0, 0x10]),
            Err(AacError::Invalid("sampling frequency 0"))
        );
        // explicit rate cut short
        assert_eq!(parse_asc(&[0x17, 0x80, 0]), Err(AacError::Truncated));
    }

    #[test]
    fn channel_configurations() {
        for (config, channels) in [
            (0, 0),
            (1, 1),
            (2, 2),
            (6, 6),
            (7, 8),
            (11, 7),
            (12, 8),
            (13, 24),
        ] {
            let data = [0x12, config << 3];
            assert_eq!(
                parse_asc(&data).map(|a| a.channels),
                Ok(channels),
                "config {config}"
            );
        }
    }

    #[test]
    fn build_then_parse() {
        for aot in [1u8, 2, 5, 29, 30, 32, 95] {
            for index in 0..=12u8 {
                for channels in [1u8, 2, 6, 8] {
                    let built = build_asc(aot, index, channels);
                    let parsed = parse_asc(&built).unwrap();
                    assert_eq!(parsed.object_type, aot);
                    assert_eq!(parsed.frequency_index, index);
                    assert_eq!(parsed.sample_rate, SAMPLE_RATES[usize::from(index)]);
                    assert_eq!(parsed.channels, channels);
                }
            }
        }
        assert_eq!(build_asc(2, 4, 2)[..], [0x12, 0x10]);
        assert_eq!(
            parse_asc(&build_asc(31, 4, 2)).map(|a| a.object_type),
            Ok(32)
        );
        // Index 15 without a rate gives a config that does not parse (rate 0), but no panic.
        assert_eq!(
            parse_asc(&build_asc(2, 15, 2)),
            Err(AacError::Invalid("sampling frequency 0"))
        );
    }

    #[test]
    fn frequency_indices() {
        assert_eq!(frequency_index(96000), Some(0));
        assert_eq!(frequency_index(44100), Some(4));
        assert_eq!(frequency_index(7350), Some(12));
        assert_eq!(frequency_index(44000), None);
        assert_eq!(frequency_index(0), None);
    }

    #[test]
    fn track() {
        let init = Bytes::from_static(&[0x12, 0x10]);
        let track = track_from_asc(init.clone()).unwrap();
        assert_eq!(track.codec, Some(Codec::Aac));
        assert_eq!(track.codec_string, "mp4a.40.2");
        assert_eq!((track.rate, track.channels, track.size), (44100, 2, 16));
        assert_eq!(track.init, init);
        assert!(track_from_asc(Bytes::new()).is_err());
    }

    #[test]
    fn adts_headers() {
        // LC 44.1 kHz stereo, 100-byte payload: frame length 107.
        let header = adts_header(&asc(2, 4, 44100, 2), 100).unwrap();
        assert_eq!(header, [0xFF, 0xF1, 0x50, 0x80, 0x0D, 0x7F, 0xFC]);
        // Decode the fields back.
        let len = (u16::from(header[3] & 3) << 11)
            | (u16::from(header[4]) << 3)
            | u16::from(header[5] >> 5);
        assert_eq!(len, 107);
        // HE-AAC is written as LC; an explicit rate that the table knows maps to its index.
        let he = adts_header(&asc(5, 15, 24000, 1), 0).unwrap();
        assert_eq!(he[2], (1 << 6) | (6 << 2));
        assert_eq!(he[3] >> 6, 1);
        // 8 channels -> configuration 7.
        let eight = adts_header(&asc(2, 3, 48000, 8), 10).unwrap();
        assert_eq!(((eight[2] & 1) << 2) | (eight[3] >> 6), 7);
        // Largest frame fits, one more byte does not.
        assert!(adts_header(&asc(2, 4, 44100, 2), 8191 - 7).is_ok());
        assert_eq!(
            adts_header(&asc(2, 4, 44100, 2), 8191 - 6),
            Err(AacError::FrameTooLong(8185))
        );
        assert_eq!(
            adts_header(&asc(2, 4, 44100, 2), usize::MAX),
            Err(AacError::FrameTooLong(usize::MAX))
        );
    }

    #[test]
    fn adts_refuses_what_it_cannot_signal() {
        assert!(matches!(
            adts_header(&asc(42, 3, 48000, 2), 1),
            Err(AacError::NotAdts(_))
        ));
        assert!(matches!(
            adts_header(&asc(2, 15, 44000, 2), 1),
            Err(AacError::NotAdts(_))
        ));
        assert!(matches!(
            adts_header(&asc(2, 3, 48000, 24), 1),
            Err(AacError::NotAdts(_))
        ));
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = XorShift(0x0BAD_5EED_0BAD_5EED);
        for _ in 0..20_000 {
            let data = rng.bytes(8);
            if let Ok(parsed) = parse_asc(&data) {
                let _ = adts_header(&parsed, (rng.next_u64() % 10_000) as usize);
            }
            let _ = track_from_asc(Bytes::from(data));
            let b = rng.next_u64().to_be_bytes();
            let _ = build_asc(b[0], b[1], b[2]);
            let _ = frequency_index(rng.next_u64() as u32);
        }
    }

    #[test]
    fn adts_round_trip() {
        for (aot, index, channels) in [(2, 4, 2), (2, 7, 1), (1, 3, 6), (5, 6, 2), (2, 11, 8)] {
            let asc = parse_asc(&build_asc(aot, index, channels)).unwrap();
            for len in [0, 1, 300, 0x1FFF - 7] {
                let header = adts_header(&asc, len).unwrap();
                let parsed = parse_adts(&header).unwrap();
                let core = if aot == 5 { 2 } else { aot };
                assert_eq!(parsed.asc.object_type, core);
                assert_eq!(parsed.asc.frequency_index, index);
                assert_eq!(parsed.asc.sample_rate, asc.sample_rate);
                assert_eq!(parsed.asc.channels, asc.channels);
                assert_eq!(
                    (parsed.header_len, parsed.frame_len, parsed.raw_blocks),
                    (7, len + 7, 1)
                );
                let back = parse_asc(&parsed.audio_specific_config()).unwrap();
                assert_eq!(
                    (back.sample_rate, back.channels),
                    (asc.sample_rate, asc.channels)
                );
            }
        }
    }

    #[test]
    fn adts_errors() {
        let good = adts_header(&asc(2, 4, 44100, 2), 10).unwrap();
        for len in 0..7 {
            assert_eq!(parse_adts(&good[..len]), Err(AacError::Truncated));
        }
        let mut bad = good;
        bad[1] = 0xE1;
        assert!(matches!(parse_adts(&bad), Err(AacError::Invalid(_))));
        let mut layer = good;
        layer[1] |= 0x02;
        assert!(matches!(parse_adts(&layer), Err(AacError::Invalid(_))));
        let mut index = good;
        index[2] = (index[2] & !0x3C) | (13 << 2);
        assert!(matches!(parse_adts(&index), Err(AacError::Invalid(_))));
        let mut short = good;
        short[3] &= 0xFC;
        short[4] = 0;
        short[5] &= 0x1F;
        assert!(matches!(parse_adts(&short), Err(AacError::Invalid(_))));
        // With a CRC the header is 9 bytes.
        let mut crc = good;
        crc[1] &= 0xFE;
        assert_eq!(parse_adts(&crc).map(|h| h.header_len), Ok(9));
        let mut rng = XorShift(0xADD5);
        for _ in 0..20_000 {
            let mut data = rng.bytes(12);
            if data.len() > 2 {
                data[0] = 0xFF;
                data[1] |= 0xF0;
            }
            if let Ok(h) = parse_adts(&data) {
                assert!(h.frame_len >= h.header_len);
            }
        }
    }
}
