//! Tracks (RFC 9559 5.1.4) and the codec mappings of the Matroska codec specifications
//! (RFC 9559 section 6 and the "Matroska Media Container Codec Specifications"): what a
//! TrackEntry's CodecID and CodecPrivate make of a [`Track`].
//!
//! | CodecID | codec | init |
//! |---|---|---|
//! | `V_MPEG4/ISO/AVC` | H.264 | CodecPrivate: avcC (14496-15 5.3.3) |
//! | `V_MPEGH/ISO/HEVC` | HEVC | CodecPrivate: hvcC (14496-15 8.3.3) |
//! | `V_AV1` | AV1 | CodecPrivate: av1C (AV1-ISOBMFF 2.3.3) |
//! | `V_VP9` | VP9 | a VPCodecConfigurationRecord built from CodecPrivate's features |
//! | `A_AAC`, `A_AAC/MPEG2/*`, `A_AAC/MPEG4/*` | AAC | CodecPrivate (AudioSpecificConfig), else one built |
//! | `A_MPEG/L3` | MP3 | none |
//! | `A_OPUS` | Opus | CodecPrivate: OpusHead (RFC 7845 5.1) |
//! | `A_VORBIS` | Vorbis | CodecPrivate: the three headers, Xiph-laced |
//! | `A_AC3` | AC-3 | none |
//!
//! Any other CodecID, and a track with ContentEncodings (compressed or encrypted frames, which
//! would not be the file's bytes), is skipped by its CodecID.

use bytes::Bytes;

use super::ebml::{bad, children, float, text, uint};
use super::ids;
use crate::media::vod::VodError;
use crate::media::{aac, h264, hevc, Codec, Track};

/// One TrackEntry as read.
#[derive(Debug)]
pub(super) struct Entry {
    pub number: u64,
    pub codec_id: String,
    /// The track, or why it is skipped.
    pub track: Result<Track, String>,
    /// DefaultDuration, ns.
    pub default_duration: Option<u64>,
    /// CodecDelay, ns.
    pub codec_delay: u64,
}

/// Every TrackEntry of a Tracks element's data.
pub(super) fn parse_tracks(data: &[u8]) -> Result<Vec<Entry>, VodError> {
    let mut out = Vec::new();
    for (id, body) in children(data, "Tracks")? {
        if id == ids::TRACK_ENTRY {
            out.push(parse_entry(body)?);
        }
    }
    Ok(out)
}

#[derive(Default)]
struct Fields<'a> {
    number: u64,
    codec_id: String,
    private: &'a [u8],
    default_duration: Option<u64>,
    codec_delay: u64,
    lang: Option<String>,
    width: u32,
    height: u32,
    rate: f64,
    channels: u32,
    bit_depth: u32,
    encoded: bool,
}

fn parse_entry(data: &[u8]) -> Result<Entry, VodError> {
    let mut f = Fields {
        channels: 1,
        rate: 8000.0,
        ..Fields::default()
    };
    let small = |v: u64| u32::try_from(v).unwrap_or(0);
    for (id, body) in children(data, "TrackEntry")? {
        match id {
            ids::TRACK_NUMBER => f.number = uint(body)?,
            ids::CODEC_ID => f.codec_id = text(body),
            ids::CODEC_PRIVATE => f.private = body,
            ids::DEFAULT_DURATION => f.default_duration = Some(uint(body)?).filter(|&d| d > 0),
            ids::CODEC_DELAY => f.codec_delay = uint(body)?,
            ids::LANGUAGE => f.lang = Some(text(body)),
            ids::CONTENT_ENCODINGS => f.encoded = true,
            ids::VIDEO => {
                for (id, body) in children(body, "Video")? {
                    match id {
                        ids::PIXEL_WIDTH => f.width = small(uint(body)?),
                        ids::PIXEL_HEIGHT => f.height = small(uint(body)?),
                        _ => {}
                    }
                }
            }
            ids::AUDIO => {
                for (id, body) in children(body, "Audio")? {
                    match id {
                        ids::SAMPLING_FREQUENCY => f.rate = float(body)?,
                        ids::CHANNELS => f.channels = small(uint(body)?),
                        ids::BIT_DEPTH => f.bit_depth = small(uint(body)?),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if f.number == 0 {
        return Err(bad("a TrackEntry without a TrackNumber"));
    }
    let track = if f.encoded {
        Err(format!("{} (compressed or encrypted)", f.codec_id))
    } else {
        track_of(&f)
    };
    let track = track.map(|mut t| {
        // RFC 9559 5.1.4.1.19: Language defaults to "eng"; "und" says nothing.
        let lang = f.lang.clone().unwrap_or_else(|| "eng".into());
        t.lang = if lang == "und" { String::new() } else { lang };
        t
    });
    Ok(Entry {
        number: f.number,
        codec_id: f.codec_id,
        track,
        default_duration: f.default_duration,
        codec_delay: f.codec_delay,
    })
}

/// The track a TrackEntry's codec fields make, or why it is skipped.
fn track_of(f: &Fields) -> Result<Track, String> {
    let id = f.codec_id.as_str();
    let damaged = |what: &str| Err(format!("{id} with a damaged {what}"));
    let private = Bytes::copy_from_slice(f.private);
    let rate = if f.rate.is_finite() && (1.0..1e7).contains(&f.rate) {
        f.rate.round() as u32
    } else {
        0
    };
    let mut track = match id {
        "V_MPEG4/ISO/AVC" => {
            // Eddy's packets hold 4-byte NAL lengths (avcC lengthSizeMinusOne = 3).
            match f.private.get(4).map(|b| b & 3) {
                Some(3) => {}
                Some(n) => return Err(format!("{id} (NAL length size {})", n + 1)),
                None => return damaged("avcC"),
            }
            let Ok(t) = h264::track_from_avcc(private.clone()).or_else(|_| {
                h264::parse_avcc(&private).map(|cfg| Track {
                    codec: Some(Codec::H264),
                    codec_string: h264::codec_string(cfg.profile, cfg.compatibility, cfg.level),
                    init: private.clone(),
                    ..Track::default()
                })
            }) else {
                return damaged("avcC");
            };
            t
        }
        "V_MPEGH/ISO/HEVC" => {
            match f.private.get(21).map(|b| b & 3) {
                Some(3) => {}
                Some(n) => return Err(format!("{id} (NAL length size {})", n + 1)),
                None => return damaged("hvcC"),
            }
            let Ok(t) = hevc::track_from_hvcc(private) else {
                return damaged("hvcC");
            };
            t
        }
        "V_AV1" => {
            let Some(codec_string) = av1_codec_string(f.private) else {
                return damaged("av1C");
            };
            Track {
                codec: Some(Codec::Av1),
                codec_string,
                init: private,
                ..Track::default()
            }
        }
        "V_VP9" => {
            let (init, codec_string) = vp9_config(f.private);
            Track {
                codec: Some(Codec::Vp9),
                codec_string,
                init,
                ..Track::default()
            }
        }
        _ if id == "A_AAC" || id.starts_with("A_AAC/") => {
            if f.private.is_empty() {
                // A_AAC/MPEG4/LC and friends (the old CodecIDs) carry no AudioSpecificConfig.
                let object_type = match id.rsplit('/').next() {
                    Some("MAIN") => 1,
                    Some("LC") | Some("SBR") => 2,
                    Some("SSR") => 3,
                    Some("LTP") => 4,
                    _ => return Err(format!("{id} without AudioSpecificConfig")),
                };
                let Some(index) = aac::frequency_index(rate) else {
                    return Err(format!("{id} at {rate} Hz without AudioSpecificConfig"));
                };
                let channels = u8::try_from(f.channels).unwrap_or(0);
                let asc = aac::build_asc(object_type, index, channels);
                match aac::track_from_asc(asc) {
                    Ok(mut t) => {
                        t.channels = f.channels;
                        t
                    }
                    Err(_) => return damaged("AudioSpecificConfig"),
                }
            } else {
                match aac::track_from_asc(private) {
                    Ok(mut t) => {
                        if t.channels == 0 {
                            t.channels = f.channels;
                        }
                        t
                    }
                    Err(_) => return damaged("AudioSpecificConfig"),
                }
            }
        }
        "A_MPEG/L3" => Track {
            codec: Some(Codec::Mp3),
            codec_string: "mp4a.40.34".into(),
            rate,
            channels: f.channels,
            size: 16,
            ..Track::default()
        },
        "A_AC3" => Track {
            codec: Some(Codec::Ac3),
            codec_string: "ac-3".into(),
            rate,
            channels: f.channels,
            size: 16,
            ..Track::default()
        },
        "A_OPUS" => {
            // RFC 7845 5.1: "OpusHead", version, channel count, pre-skip, input rate, ...
            if f.private.len() < 19 || !f.private.starts_with(b"OpusHead") {
                return damaged("OpusHead");
            }
            Track {
                codec: Some(Codec::Opus),
                codec_string: "opus".into(),
                rate: 48_000,
                channels: u32::from(f.private[9]),
                size: 16,
                init: private,
                ..Track::default()
            }
        }
        "A_VORBIS" => {
            let Some((rate, channels)) = vorbis_headers(f.private) else {
                return damaged("CodecPrivate (the three Vorbis headers)");
            };
            Track {
                codec: Some(Codec::Vorbis),
                codec_string: "vorbis".into(),
                rate,
                channels,
                size: 16,
                init: private,
                ..Track::default()
            }
        }
        _ => return Err(id.to_string()),
    };
    if track.width == 0 || track.height == 0 {
        (track.width, track.height) = (f.width, f.height);
    }
    if f.bit_depth > 0 && track.codec != Some(Codec::Mp3) {
        track.size = f.bit_depth;
    }
    if track.rate == 0 {
        track.rate = rate;
    }
    if let (Some(d), Some(Codec::H264 | Codec::Hevc | Codec::Av1 | Codec::Vp9)) =
        (f.default_duration, track.codec)
    {
        // DefaultDuration is ns per frame: frames per 1000 s.
        track.fpks = u32::try_from(1_000_000_000_000u64 / d).unwrap_or(0);
    }
    Ok(track)
}

/// `av01.P.LLT.DD` (AV1-ISOBMFF "Codecs Parameter String") from an av1C record: marker and
/// version, then seq_profile u3 | seq_level_idx_0 u5, then seq_tier_0 u1 | high_bitdepth u1 |
/// twelve_bit u1 | ...
fn av1_codec_string(av1c: &[u8]) -> Option<String> {
    let (&[marker, a, b], _) = av1c.split_first_chunk::<3>()?;
    if marker != 0x81 {
        return None;
    }
    let tier = if b & 0x80 != 0 { 'H' } else { 'M' };
    let depth = match (b & 0x40 != 0, b & 0x20 != 0) {
        (true, true) => 12,
        (true, false) => 10,
        _ => 8,
    };
    Some(format!("av01.{}.{:02}{tier}.{depth:02}", a >> 5, a & 0x1F))
}

/// A VPCodecConfigurationRecord (VP Codec ISO Media File Format Binding 2.2: profile,
/// level, bitDepth u4 | chromaSubsampling u3 | videoFullRangeFlag u1, colour primaries,
/// transfer, matrix, codecInitializationDataSize u16) and the `vp09.PP.LL.DD` string, from
/// the VP9 CodecPrivate's features (ID 1 profile, 2 level, 3 bit depth, 4 chroma
/// subsampling; each a 1-byte value). Missing features are profile 0, level 1 (10), 8 bits,
/// 4:2:0.
fn vp9_config(private: &[u8]) -> (Bytes, String) {
    let (mut profile, mut level, mut depth, mut chroma) = (0u8, 10u8, 8u8, 1u8);
    let mut rest = private;
    while let [id, len, tail @ ..] = rest {
        let len = usize::from(*len);
        let Some(value) = tail.get(..len) else { break };
        if let [v] = value {
            match id {
                1 => profile = *v,
                2 => level = *v,
                3 => depth = *v,
                4 => chroma = *v,
                _ => {}
            }
        }
        rest = &tail[len..];
    }
    let record = vec![
        profile,
        level,
        (depth << 4) | ((chroma & 7) << 1),
        2,
        2,
        2,
        0,
        0,
    ];
    let string = format!("vp09.{profile:02}.{level:02}.{depth:02}");
    (Bytes::from(record), string)
}

/// Rate and channels of the Vorbis identification header (Vorbis I 4.2.2) in a Xiph-laced
/// CodecPrivate holding the three headers (packet types 1, 3 and 5).
fn vorbis_headers(private: &[u8]) -> Option<(u32, u32)> {
    let (&count, mut rest) = private.split_first()?;
    if count != 2 {
        return None;
    }
    let mut sizes = [0usize; 2];
    for size in &mut sizes {
        loop {
            let (&b, tail) = rest.split_first()?;
            rest = tail;
            *size += usize::from(b);
            if b != 255 {
                break;
            }
        }
    }
    let ident = rest.get(..sizes[0])?;
    let comment = rest.get(sizes[0]..sizes[0].checked_add(sizes[1])?)?;
    let setup = rest.get(sizes[0] + sizes[1]..)?;
    let ok = |p: &[u8], kind: u8| p.len() >= 7 && p[0] == kind && &p[1..7] == b"vorbis";
    if !(ok(ident, 1) && ok(comment, 3) && ok(setup, 5)) || ident.len() < 16 {
        return None;
    }
    let channels = u32::from(ident[11]);
    let rate = u32::from_le_bytes([ident[12], ident[13], ident[14], ident[15]]);
    Some((rate, channels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_strings_and_configs() {
        assert_eq!(
            av1_codec_string(&[0x81, 0x08, 0x0C, 0]).as_deref(),
            Some("av01.0.08M.08")
        );
        assert_eq!(
            av1_codec_string(&[0x81, 0x2D, 0xC0]).as_deref(),
            Some("av01.1.13H.10")
        );
        assert_eq!(av1_codec_string(&[0x80, 0, 0]), None);
        assert_eq!(av1_codec_string(&[0x81]), None);
        let (init, s) = vp9_config(&[1, 1, 0, 2, 1, 31, 3, 1, 8, 4, 1, 1]);
        assert_eq!(s, "vp09.00.31.08");
        assert_eq!(&init[..3], &[0, 31, 0x82]);
        assert_eq!(vp9_config(&[]).1, "vp09.00.10.08");
        assert_eq!(vp9_config(&[1, 9]).1, "vp09.00.10.08");
    }

    #[test]
    fn vorbis_private() {
        let mut ident = vec![1];
        ident.extend(b"vorbis");
        ident.extend([0, 0, 0, 0, 2]);
        ident.extend(44_100u32.to_le_bytes());
        ident.extend([0; 14]);
        let mut comment = vec![3];
        comment.extend(b"vorbis");
        comment.extend([0; 300]);
        let mut setup = vec![5];
        setup.extend(b"vorbis");
        let mut private = vec![2, ident.len() as u8, 255, (comment.len() - 255) as u8];
        private.extend(&ident);
        private.extend(&comment);
        private.extend(&setup);
        assert_eq!(vorbis_headers(&private), Some((44_100, 2)));
        for cut in 0..private.len() - setup.len() {
            assert_eq!(vorbis_headers(&private[..cut]), None, "{cut}");
        }
        private[1] = 200;
        assert_eq!(vorbis_headers(&private), None);
    }

    #[test]
    fn aac_without_private_gets_one_built() {
        let f = Fields {
            number: 1,
            codec_id: "A_AAC/MPEG4/LC".into(),
            rate: 48_000.0,
            channels: 2,
            ..Fields::default()
        };
        let t = track_of(&f).unwrap();
        assert_eq!(&t.init[..], &[0x11, 0x90]);
        assert_eq!(
            (t.rate, t.channels, t.codec_string.as_str()),
            (48_000, 2, "mp4a.40.2")
        );
        let odd = Fields {
            rate: 12_345.0,
            ..f
        };
        assert!(track_of(&odd).is_err());
        let other = Fields {
            codec_id: "S_TEXT/UTF8".into(),
            ..Fields::default()
        };
        assert_eq!(track_of(&other).unwrap_err(), "S_TEXT/UTF8");
    }
}
