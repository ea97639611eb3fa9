//! Sample entries (`stsd`): the track a file's sample description makes.

use bytes::Bytes;

use super::boxes::{boxes, child, fourcc, Cur};
use super::{bad, VodError};
use crate::media::bits::ByteReader;
use crate::media::{aac, ac3, h264, hevc, Codec, Track};

/// The track a sample description (`stsd`, first entry) describes, or the code it is skipped
/// by (a damaged sample entry or decoder configuration skips the track, not the file).
pub(super) fn sample_entry(stsd: &[u8]) -> Result<Result<Track, String>, VodError> {
    let mut c = Cur::new(stsd, "stsd");
    c.full()?;
    c.skip(4)?;
    let rest = c.take(stsd.len().saturating_sub(8))?;
    let Some((kind, body)) = boxes(rest)?.into_iter().next() else {
        return Err(bad("stsd box without a sample entry"));
    };
    let code = fourcc(&kind);
    let damaged = |what: &str| Err(format!("{code} with a damaged {what}"));
    Ok(match &kind {
        b"avc1" | b"avc3" | b"hvc1" | b"hev1" => {
            let Some(fixed) = body.get(..78) else {
                return Ok(damaged("sample entry"));
            };
            let width = u32::from(u16::from_be_bytes([fixed[24], fixed[25]]));
            let height = u32::from(u16::from_be_bytes([fixed[26], fixed[27]]));
            let Ok(kids) = boxes(body.get(78..).unwrap_or_default()) else {
                return Ok(damaged("sample entry"));
            };
            let h264 = kind.starts_with(b"avc");
            let config = if h264 { b"avcC" } else { b"hvcC" };
            let Some((_, init)) = kids.into_iter().find(|(k, _)| k == config) else {
                return Ok(Err(format!("{code} without {}", fourcc(config))));
            };
            let init = Bytes::copy_from_slice(init);
            let track = if h264 {
                h264::track_from_avcc(init.clone())
                    .or_else(|_| {
                        // avc3 may carry its parameter sets in the samples only.
                        h264::parse_avcc(&init).map(|cfg| Track {
                            codec: Some(Codec::H264),
                            codec_string: h264::codec_string(
                                cfg.profile,
                                cfg.compatibility,
                                cfg.level,
                            ),
                            init: init.clone(),
                            ..Track::default()
                        })
                    })
                    .ok()
            } else {
                hevc::track_from_hvcc(init).ok()
            };
            match track {
                Some(mut t) => {
                    if t.width == 0 || t.height == 0 {
                        (t.width, t.height) = (width, height);
                    }
                    Ok(t)
                }
                None => damaged(&fourcc(config)),
            }
        }
        b"mp4a" | b".mp3" => {
            let Some((rate, channels, kids)) = audio_entry(body) else {
                return Ok(damaged("sample entry"));
            };
            let Ok(kids) = boxes(kids) else {
                return Ok(damaged("sample entry"));
            };
            let esds = match kids.iter().find(|(k, _)| k == b"esds") {
                Some((_, esds)) => Some(*esds),
                None => match kids.iter().find(|(k, _)| k == b"wave") {
                    Some((_, wave)) => child(wave, b"esds").ok().flatten(),
                    None => None,
                },
            };
            let mp3 = Track {
                codec: Some(Codec::Mp3),
                codec_string: "mp4a.40.34".into(),
                rate,
                channels,
                size: 16,
                ..Track::default()
            };
            match (&kind, esds.map(esds_config)) {
                (b".mp3", _) => Ok(mp3),
                (_, None) => Err(format!("{code} without esds")),
                (_, Some(None)) => damaged("esds"),
                (_, Some(Some((0x69 | 0x6B, _)))) => Ok(mp3),
                (_, Some(Some((0x40 | 0x66..=0x68, Some(asc))))) => {
                    match aac::track_from_asc(Bytes::copy_from_slice(asc)) {
                        Ok(mut t) => {
                            if t.channels == 0 {
                                t.channels = channels;
                            }
                            Ok(t)
                        }
                        Err(_) => damaged("AudioSpecificConfig"),
                    }
                }
                (_, Some(Some((0x40 | 0x66..=0x68, None)))) => {
                    Err(format!("{code} without AudioSpecificConfig"))
                }
                (_, Some(Some((oti, _)))) => Err(format!("{code} (object type 0x{oti:02X})")),
            }
        }
        b"ac-3" => {
            // ETSI TS 102 366 F.3 / F.4: an AudioSampleEntry with a `dac3`, kept as the init.
            let Some((_, _, kids)) = audio_entry(body) else {
                return Ok(damaged("sample entry"));
            };
            let Ok(kids) = boxes(kids) else {
                return Ok(damaged("sample entry"));
            };
            // QuickTime puts it in a `wave` box.
            let dac3 = match kids.iter().find(|(k, _)| k == b"dac3") {
                Some((_, dac3)) => Some(*dac3),
                None => match kids.iter().find(|(k, _)| k == b"wave") {
                    Some((_, wave)) => child(wave, b"dac3").ok().flatten(),
                    None => None,
                },
            };
            let Some(dac3) = dac3 else {
                return Ok(Err(format!("{code} without dac3")));
            };
            match ac3::parse_dac3(dac3) {
                Ok(config) => Ok(Track {
                    codec: Some(Codec::Ac3),
                    codec_string: "ac-3".into(),
                    init: Bytes::copy_from_slice(dac3.get(..3).unwrap_or_default()),
                    rate: config.sample_rate,
                    channels: u32::from(config.channels),
                    size: 16,
                    ..Track::default()
                }),
                Err(ac3::Ac3Error::EnhancedAc3(_)) => Err(format!("{code} with E-AC-3 dac3")),
                Err(_) => damaged("dac3"),
            }
        }
        _ => Err(code),
    })
}

/// Rate, channels and the child boxes of an AudioSampleEntry body (QuickTime sound
/// descriptions version 1 and 2 too).
fn audio_entry(body: &[u8]) -> Option<(u32, u32, &[u8])> {
    let mut r = ByteReader::new(body);
    r.skip(8)?;
    let version = r.u16()?;
    r.skip(6)?;
    let channels = u32::from(r.u16()?);
    r.skip(6)?;
    let rate = r.u32()? >> 16;
    match version {
        1 => {
            r.skip(16)?;
            Some((rate, channels, body.get(44..)?))
        }
        2 => {
            r.skip(4)?;
            let rate = f64::from_bits(r.uint(8)?);
            let channels = r.u32()?;
            r.skip(20)?;
            let rate = if rate.is_finite() && (0.0..1e7).contains(&rate) {
                rate as u32
            } else {
                0
            };
            Some((rate, channels, body.get(64..)?))
        }
        _ => Some((rate, channels, body.get(28..)?)),
    }
}

/// objectTypeIndication and DecoderSpecificInfo of an `esds` (14496-1 7.2.6.5..7.2.6.7).
fn esds_config(esds: &[u8]) -> Option<(u8, Option<&[u8]>)> {
    let mut r = ByteReader::new(esds.get(4..)?);
    let (3, es) = descriptor(&mut r)? else {
        return None;
    };
    let mut r = ByteReader::new(es);
    r.skip(2)?;
    let flags = r.u8()?;
    if flags & 0x80 != 0 {
        r.skip(2)?;
    }
    if flags & 0x40 != 0 {
        let url = r.u8()?;
        r.skip(usize::from(url))?;
    }
    if flags & 0x20 != 0 {
        r.skip(2)?;
    }
    let config = loop {
        match descriptor(&mut r)? {
            (4, config) => break config,
            _ => continue,
        }
    };
    let mut r = ByteReader::new(config);
    let oti = r.u8()?;
    r.skip(12)?;
    let info = std::iter::from_fn(|| descriptor(&mut r)).find(|(tag, _)| *tag == 5);
    Some((oti, info.map(|(_, asc)| asc)))
}

/// One MPEG-4 descriptor: tag, expandable size (7 bits per byte), body.
fn descriptor<'a>(r: &mut ByteReader<'a>) -> Option<(u8, &'a [u8])> {
    let tag = r.u8()?;
    let mut len = 0usize;
    for _ in 0..4 {
        let b = r.u8()?;
        len = (len << 7) | usize::from(b & 0x7F);
        if b & 0x80 == 0 {
            break;
        }
    }
    Some((tag, r.take(len)?))
}
