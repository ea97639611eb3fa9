//! FLV audio tag bodies (AUDIODATA), parsed and built.
//!
//! - Adobe Flash Video File Format Specification v10.1, Annex E: E.4.2.1 (AUDIODATA) with
//!   E.4.2.2 (AACAUDIODATA).

use bytes::Bytes;

use super::super::{Codec, Track};
use super::{invalid, FlvError};

/// A parsed audio tag body; `data` is a zero-copy slice after the headers.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioTag {
    pub codec: Codec,
    /// AAC AudioSpecificConfig (AACPacketType 0).
    pub sequence_header: bool,
    /// From the SoundRate bits (for AAC these are nominal, always 44100: use the ASC).
    pub rate: u32,
    /// Bits per sample from SoundSize: 8 or 16.
    pub size: u32,
    /// From SoundType: 1 or 2.
    pub channels: u32,
    pub data: Bytes,
}

const SOUND_MP3: u8 = 2;
const SOUND_EX_HEADER: u8 = 9;
const SOUND_AAC: u8 = 10;
const SOUND_MP3_8K: u8 = 14;

/// Parses an audio tag body (E.4.2.1, E.4.2.2):
///
/// ```text
/// 0   SoundFormat u4 (2 MP3, 10 AAC, 14 MP3 8 kHz) | SoundRate u2 (5.5/11/22/44 kHz)
///     | SoundSize u1 (8/16 bit) | SoundType u1 (mono/stereo)
/// 1   [AAC: AACPacketType u8 (0 AudioSpecificConfig, 1 raw frame)]
///     data
/// ```
pub fn parse_audio_body(body: &Bytes) -> Result<AudioTag, FlvError> {
    let first = *body.first().ok_or(invalid(0, "empty audio tag"))?;
    let format = first >> 4;
    let codec = audio_codec(format)?;
    let rate = if format == SOUND_MP3_8K {
        8000
    } else {
        match (first >> 2) & 0x03 {
            0 => 5512,
            1 => 11025,
            2 => 22050,
            _ => 44100,
        }
    };
    let size = if first & 0x02 != 0 { 16 } else { 8 };
    let channels = if first & 0x01 != 0 { 2 } else { 1 };
    let (sequence_header, start) = if codec == Codec::Aac {
        match body.get(1) {
            Some(0) => (true, 2),
            Some(1) => (false, 2),
            Some(_) => return Err(invalid(1, "unknown AACPacketType")),
            None => return Err(invalid(1, "AAC audio tag has no AACPacketType")),
        }
    } else {
        (false, 1)
    };
    let data = body.slice(start..);
    Ok(AudioTag {
        codec,
        sequence_header,
        rate,
        size,
        channels,
        data,
    })
}

fn audio_codec(format: u8) -> Result<Codec, FlvError> {
    let name = match format {
        SOUND_AAC => return Ok(Codec::Aac),
        SOUND_MP3 | SOUND_MP3_8K => return Ok(Codec::Mp3),
        SOUND_EX_HEADER => "Enhanced RTMP audio (FourCC)",
        0 => "linear PCM, platform endian",
        1 => "ADPCM",
        3 => "linear PCM, little endian",
        4 => "Nellymoser 16 kHz mono",
        5 => "Nellymoser 8 kHz mono",
        6 => "Nellymoser",
        7 => "G.711 A-law",
        8 => "G.711 mu-law",
        11 => "Speex",
        15 => "device-specific sound",
        _ => "reserved sound format",
    };
    Err(FlvError::Unsupported(format!(
        "FLV audio {name} (SoundFormat {format})"
    )))
}

/// The bytes that precede the codec data in an audio tag body, and how many of the 2 are used.
///
/// - AAC: `0xAF` (AAC, 44 kHz, 16 bit, stereo, as E.4.2.1 requires) and the AACPacketType.
/// - MP3: one byte with the SoundRate (44100, 22050, 11025, 5512 Hz; 8000 Hz uses SoundFormat
///   14), 16-bit size and SoundType bits. Other rates cannot be signalled and are
///   [`FlvError::Unsupported`], as are channel counts other than 1 and 2.
pub fn audio_body_prefix(
    codec: Codec,
    sequence_header: bool,
    rate: u32,
    channels: u32,
) -> Result<([u8; 2], usize), FlvError> {
    match codec {
        Codec::Aac => Ok(([0xAF, u8::from(!sequence_header)], 2)),
        Codec::Mp3 => {
            let (format, rate_bits) = match rate {
                5512 => (SOUND_MP3, 0),
                11025 => (SOUND_MP3, 1),
                22050 => (SOUND_MP3, 2),
                44100 => (SOUND_MP3, 3),
                8000 => (SOUND_MP3_8K, 0),
                other => return Err(FlvError::Unsupported(format!("MP3 at {other} Hz in FLV"))),
            };
            let stereo = match channels {
                1 => 0,
                2 => 1,
                other => {
                    return Err(FlvError::Unsupported(format!(
                        "{other} audio channels in FLV"
                    )))
                }
            };
            Ok(([(format << 4) | (rate_bits << 2) | 0x02 | stereo, 0], 1))
        }
        other => Err(FlvError::Unsupported(format!(
            "{} is not an FLV audio codec",
            other.mist_name()
        ))),
    }
}

/// The prefix of a raw frame of `track` (AAC raw data, MP3 at a rate FLV can signal).
pub(super) fn packet_prefix(track: &Track) -> Option<Vec<u8>> {
    let (bytes, len) = audio_body_prefix(track.codec?, false, track.rate, track.channels).ok()?;
    Some(bytes.get(..len)?.to_vec())
}

/// An AAC sequence header body (prefix and AudioSpecificConfig); `None` for codecs without
/// one (MP3).
pub(super) fn sequence_body(track: &Track) -> Option<Vec<u8>> {
    let codec = track.codec?;
    if track.init.is_empty() || codec != Codec::Aac {
        return None;
    }
    let (bytes, len) = audio_body_prefix(codec, true, track.rate, track.channels).ok()?;
    let mut body = bytes.get(..len)?.to_vec();
    body.extend_from_slice(&track.init);
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(bytes: &[u8]) -> Result<AudioTag, FlvError> {
        parse_audio_body(&Bytes::copy_from_slice(bytes))
    }

    #[test]
    fn audio_bodies() {
        let tag = audio(&[0xAF, 0x00, 0x12, 0x10]).unwrap();
        assert_eq!(
            (
                tag.codec,
                tag.sequence_header,
                tag.rate,
                tag.size,
                tag.channels
            ),
            (Codec::Aac, true, 44100, 16, 2)
        );
        assert_eq!(tag.data[..], [0x12, 0x10]);
        let tag = audio(&[0xAF, 0x01, 0x21]).unwrap();
        assert!(!tag.sequence_header);
        assert_eq!(tag.data[..], [0x21]);
        let tag = audio(&[0x2A, 0xFF, 0xFB]).unwrap();
        assert_eq!(
            (
                tag.codec,
                tag.sequence_header,
                tag.rate,
                tag.size,
                tag.channels
            ),
            (Codec::Mp3, false, 22050, 16, 1)
        );
        assert_eq!(tag.data[..], [0xFF, 0xFB]);
        let tag = audio(&[0x25]).unwrap();
        assert_eq!(
            (tag.rate, tag.size, tag.channels, tag.data.len()),
            (11025, 8, 2, 0)
        );
        let tag = audio(&[0xE2, 0xFF]).unwrap();
        assert_eq!((tag.codec, tag.rate), (Codec::Mp3, 8000));
        assert_eq!(audio(&[0x20]).unwrap().rate, 5512);
    }

    #[test]
    fn audio_errors() {
        assert_eq!(audio(&[]), Err(invalid(0, "empty audio tag")));
        assert_eq!(
            audio(&[0xAF]),
            Err(invalid(1, "AAC audio tag has no AACPacketType"))
        );
        assert_eq!(audio(&[0xAF, 2]), Err(invalid(1, "unknown AACPacketType")));
        for (format, word) in [
            (0x9F, "Enhanced"),
            (0xBE, "Speex"),
            (0x6E, "Nellymoser"),
            (0x7E, "A-law"),
            (0xD0, "reserved"),
        ] {
            match audio(&[format, 0]) {
                Err(FlvError::Unsupported(msg)) => assert!(msg.contains(word), "{msg}"),
                other => panic!("{format:02X}: {other:?}"),
            }
        }
    }

    #[test]
    fn audio_prefixes_round_trip() {
        assert_eq!(
            audio_body_prefix(Codec::Aac, true, 48000, 6),
            Ok(([0xAF, 0], 2))
        );
        assert_eq!(
            audio_body_prefix(Codec::Aac, false, 44100, 2),
            Ok(([0xAF, 1], 2))
        );
        assert_eq!(
            audio_body_prefix(Codec::Mp3, false, 44100, 2),
            Ok(([0x2F, 0], 1))
        );
        for (codec, seq) in [(Codec::Aac, true), (Codec::Aac, false)] {
            let (prefix, len) = audio_body_prefix(codec, seq, 44100, 2).unwrap();
            let mut body = prefix[..len].to_vec();
            body.push(0x42);
            let tag = audio(&body).unwrap();
            assert_eq!(
                (tag.codec, tag.sequence_header, &tag.data[..]),
                (codec, seq, &[0x42][..])
            );
        }
        for rate in [5512, 11025, 22050, 44100, 8000] {
            for channels in [1, 2] {
                let (prefix, len) = audio_body_prefix(Codec::Mp3, false, rate, channels).unwrap();
                assert_eq!(len, 1);
                let mut body = prefix[..len].to_vec();
                body.extend_from_slice(&[0xFF, 0xFB]);
                let tag = audio(&body).unwrap();
                assert_eq!(
                    (tag.codec, tag.rate, tag.channels, tag.size),
                    (Codec::Mp3, rate, channels, 16)
                );
                assert_eq!(tag.data[..], [0xFF, 0xFB]);
            }
        }
        assert!(matches!(
            audio_body_prefix(Codec::Mp3, false, 48000, 2),
            Err(FlvError::Unsupported(_))
        ));
        assert!(matches!(
            audio_body_prefix(Codec::Mp3, false, 44100, 6),
            Err(FlvError::Unsupported(_))
        ));
        assert!(matches!(
            audio_body_prefix(Codec::H264, false, 44100, 2),
            Err(FlvError::Unsupported(_))
        ));
    }
}
