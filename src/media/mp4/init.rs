//! The init segment: `ftyp` and `moov` with one `trak` per track.
//!
//! - ISO/IEC 14496-12: 4.3 `ftyp`; 8.2.2 `mvhd`; 8.3.2 `tkhd`; 8.4.2 `mdhd`; 8.4.3 `hdlr`;
//!   12.1.2 `vmhd`; 12.2.2 `smhd`; 8.7.2 `dref` with a self-contained `url ` entry; 8.5.2
//!   `stsd` with 12.1.3 VisualSampleEntry and 12.2.3 AudioSampleEntry; the empty sample tables
//!   8.6.1.2 `stts`, 8.7.4 `stsc`, 8.7.3 `stsz`, 8.7.5 `stco`; 8.8.1 `mvex` and 8.8.3 `trex`.
//! - ISO/IEC 14496-15: `avc1` + `avcC` (clause 5), `hvc1` + `hvcC` (clause 8).
//! - ISO/IEC 14496-14 and 14496-1 7.2.6.5 .. 7.2.6.8: `mp4a` + `esds` (ES_Descriptor,
//!   DecoderConfigDescriptor, DecoderSpecificInfo, SLConfigDescriptor).
//! - ETSI TS 102 366 F.3 / F.4: `ac-3` + `dac3`.

use bytes::Bytes;

use super::super::{aac, ac3, h264, hevc, Codec, Track, TrackKind};
use super::boxes::{descriptor, Writer};
use super::{check_ids, supported_codec, timescale, Mp4Error, MOVIE_TIMESCALE};

/// `tkhd` flags: track_enabled | track_in_movie | track_in_preview.
const TKHD_FLAGS: u32 = 0x0000_0007;
/// Unity transformation matrix (`mvhd`, `tkhd`).
const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];
/// ISO-639-2/T `und` packed as three 5-bit letters (each minus 0x60).
pub(super) const LANGUAGE_UND: u16 = (21 << 10) | (14 << 5) | 4;

/// The init segment for `tracks`: `ftyp` + `moov` with one `trak` per track (track_ID =
/// [`Track::id`]), empty sample tables and an `mvex` with one `trex` per track.
///
/// ```text
/// ftyp
/// moov
///   mvhd                 timescale 1000, duration 0, next_track_ID = highest id + 1
///   trak (per track)
///     tkhd               flags 7, width/height 16.16 (video), volume 1.0 (audio)
///     mdia
///       mdhd             timescale (see `timescale`), language und
///       hdlr             vide / soun
///       minf
///         vmhd / smhd
///         dinf > dref > url (self-contained)
///         stbl > stsd (avc1+avcC | hvc1+hvcC | mp4a+esds | ac-3+dac3), stts, stsc, stsz, stco (empty)
///   mvex
///     trex (per track)   default_sample_description_index 1, other defaults 0
/// ```
///
/// # Errors
///
/// No tracks, track id 0 or repeated, codecs other than H.264, HEVC, AAC, MP3 and AC-3
/// ([`Mp4Error::Unsupported`]), a missing or broken avcC / hvcC / AudioSpecificConfig, video
/// dimensions above 65535.
pub fn init_segment(tracks: &[&Track]) -> Result<Bytes, Mp4Error> {
    if tracks.is_empty() {
        return Err(Mp4Error::Invalid("no tracks"));
    }
    check_ids(tracks.iter().copied())?;
    let mut codecs = Vec::with_capacity(tracks.len());
    for track in tracks {
        codecs.push(supported_codec(track)?);
    }
    let mut w = Writer::default();
    let brands: &[&[u8; 4]] = if tracks.len() == 1 {
        &[b"iso6", b"mp41", b"cmfc"]
    } else {
        &[b"iso6", b"mp41"]
    };
    write_ftyp(&mut w, brands, &codecs)?;
    let next_track_id = tracks
        .iter()
        .map(|t| t.id)
        .max()
        .and_then(|id| id.checked_add(1))
        .unwrap_or(u32::MAX);
    w.boxed(b"moov", |w| {
        write_mvhd(w, next_track_id)?;
        for (track, &codec) in tracks.iter().zip(&codecs) {
            write_trak(w, track, codec)?;
        }
        w.boxed(b"mvex", |w| {
            for track in tracks {
                w.full_box(b"trex", 0, 0, |w| {
                    w.u32(track.id);
                    w.u32(1); // default_sample_description_index
                    w.u32(0); // default_sample_duration
                    w.u32(0); // default_sample_size
                    w.u32(0); // default_sample_flags
                    Ok(())
                })?;
            }
            Ok(())
        })
    })?;
    Ok(Bytes::from(w.buf))
}

/// `ftyp`: major brand `isom`, then `isom`, `brands` and the codecs' own brands (`avc1`,
/// `hvc1`) as compatible brands.
pub(super) fn write_ftyp(
    w: &mut Writer,
    brands: &[&[u8; 4]],
    codecs: &[Codec],
) -> Result<(), Mp4Error> {
    w.boxed(b"ftyp", |w| {
        w.bytes(b"isom");
        w.u32(0x200);
        w.bytes(b"isom");
        for brand in brands {
            w.bytes(*brand);
        }
        if codecs.contains(&Codec::H264) {
            w.bytes(b"avc1");
        }
        if codecs.contains(&Codec::Hevc) {
            w.bytes(b"hvc1");
        }
        Ok(())
    })
}

/// `tkhd`, version 1 only when `duration` (movie timescale) needs 64 bits; times are zero.
pub(super) fn write_tkhd(
    w: &mut Writer,
    track_id: u32,
    duration: u64,
    video: bool,
    (width, height): (u16, u16),
) -> Result<(), Mp4Error> {
    let v1 = duration > u64::from(u32::MAX);
    w.full_box(b"tkhd", u8::from(v1), TKHD_FLAGS, |w| {
        times(w, v1, 0);
        w.u32(track_id);
        w.u32(0); // reserved
        duration_field(w, v1, duration);
        w.zeros(8); // reserved
        w.u16(0); // layer
        w.u16(0); // alternate_group
        w.u16(if video { 0 } else { 0x0100 }); // volume
        w.u16(0); // reserved
        write_matrix(w);
        w.u32(u32::from(width) << 16);
        w.u32(u32::from(height) << 16);
        Ok(())
    })
}

/// creation_time and modification_time, 32 or 64 bits.
pub(super) fn times(w: &mut Writer, v1: bool, t: u64) {
    for _ in 0..2 {
        duration_field(w, v1, t);
    }
}

/// A duration field: 64 bits in version 1, else 32 (the caller checked it fits).
pub(super) fn duration_field(w: &mut Writer, v1: bool, d: u64) {
    if v1 {
        w.u64(d);
    } else {
        w.u32(u32::try_from(d).unwrap_or(u32::MAX));
    }
}

pub(super) fn write_matrix(w: &mut Writer) {
    for v in MATRIX {
        w.u32(v);
    }
}

/// `mvhd` version 0.
fn write_mvhd(w: &mut Writer, next_track_id: u32) -> Result<(), Mp4Error> {
    w.full_box(b"mvhd", 0, 0, |w| {
        w.u32(0); // creation_time
        w.u32(0); // modification_time
        w.u32(MOVIE_TIMESCALE);
        w.u32(0); // duration: unknown (fragmented)
        w.u32(0x0001_0000); // rate 1.0
        w.u16(0x0100); // volume 1.0
        w.zeros(2 + 8); // reserved
        write_matrix(w);
        w.zeros(6 * 4); // pre_defined
        w.u32(next_track_id);
        Ok(())
    })
}

/// Video dimensions as u16 (sample entry) and 16.16 fixed point (`tkhd`).
pub(super) fn dimensions(track: &Track) -> Result<(u16, u16), Mp4Error> {
    let width = u16::try_from(track.width);
    let height = u16::try_from(track.height);
    match (width, height) {
        (Ok(width), Ok(height)) => Ok((width, height)),
        _ => Err(Mp4Error::Invalid("video width or height above 65535")),
    }
}

fn write_trak(w: &mut Writer, track: &Track, codec: Codec) -> Result<(), Mp4Error> {
    let video = codec.kind() == TrackKind::Video;
    let (width, height) = if video { dimensions(track)? } else { (0, 0) };
    w.boxed(b"trak", |w| {
        write_tkhd(w, track.id, 0, video, (width, height))?;
        w.boxed(b"mdia", |w| {
            w.full_box(b"mdhd", 0, 0, |w| {
                w.u32(0); // creation_time
                w.u32(0); // modification_time
                w.u32(timescale(track));
                w.u32(0); // duration
                w.u16(LANGUAGE_UND);
                w.u16(0); // pre_defined
                Ok(())
            })?;
            write_hdlr(w, video)?;
            w.boxed(b"minf", |w| {
                write_media_header(w, video)?;
                w.boxed(b"stbl", |w| {
                    w.full_box(b"stsd", 0, 0, |w| {
                        w.u32(1); // entry_count
                        write_sample_entry(w, track, codec, width, height)
                    })?;
                    w.full_box(b"stts", 0, 0, |w| {
                        w.u32(0);
                        Ok(())
                    })?;
                    w.full_box(b"stsc", 0, 0, |w| {
                        w.u32(0);
                        Ok(())
                    })?;
                    w.full_box(b"stsz", 0, 0, |w| {
                        w.u32(0); // sample_size
                        w.u32(0); // sample_count
                        Ok(())
                    })?;
                    w.full_box(b"stco", 0, 0, |w| {
                        w.u32(0);
                        Ok(())
                    })
                })
            })
        })
    })
}

/// `hdlr` (8.4.3): `vide` or `soun`, with a name.
pub(super) fn write_hdlr(w: &mut Writer, video: bool) -> Result<(), Mp4Error> {
    w.full_box(b"hdlr", 0, 0, |w| {
        w.u32(0); // pre_defined
        w.bytes(if video { b"vide" } else { b"soun" });
        w.zeros(3 * 4); // reserved
        w.bytes(if video {
            b"VideoHandler\0"
        } else {
            b"SoundHandler\0"
        });
        Ok(())
    })
}

/// The first boxes of `minf`: `vmhd` (12.1.2) or `smhd` (12.2.2), then `dinf` > `dref` (8.7.2)
/// with one self-contained `url ` entry.
pub(super) fn write_media_header(w: &mut Writer, video: bool) -> Result<(), Mp4Error> {
    if video {
        w.full_box(b"vmhd", 0, 1, |w| {
            w.u16(0); // graphicsmode: copy
            w.zeros(3 * 2); // opcolor
            Ok(())
        })?;
    } else {
        w.full_box(b"smhd", 0, 0, |w| {
            w.u16(0); // balance
            w.u16(0); // reserved
            Ok(())
        })?;
    }
    w.boxed(b"dinf", |w| {
        w.full_box(b"dref", 0, 0, |w| {
            w.u32(1); // entry_count
                      // flags 1: the media data is in this file.
            w.full_box(b"url ", 0, 1, |_| Ok(()))
        })
    })
}

pub(super) fn write_sample_entry(
    w: &mut Writer,
    track: &Track,
    codec: Codec,
    width: u16,
    height: u16,
) -> Result<(), Mp4Error> {
    match codec {
        Codec::H264 => {
            h264::parse_avcc(&track.init).map_err(|_| Mp4Error::Invalid("bad avcC"))?;
            write_visual_entry(w, b"avc1", b"avcC", &track.init, width, height)
        }
        Codec::Hevc => {
            hevc::parse_hvcc(&track.init).map_err(|_| Mp4Error::Invalid("bad hvcC"))?;
            write_visual_entry(w, b"hvc1", b"hvcC", &track.init, width, height)
        }
        Codec::Aac => {
            let asc = aac::parse_asc(&track.init)
                .map_err(|_| Mp4Error::Invalid("bad AudioSpecificConfig"))?;
            let channels = match asc.channels {
                0 => track.channels,
                n => u32::from(n),
            };
            write_audio_entry(w, track, channels, 0x40, Some(&track.init))
        }
        Codec::Mp3 => write_audio_entry(w, track, track.channels, 0x6B, None),
        Codec::Ac3 => {
            let dac3 = match ac3::parse_dac3(&track.init) {
                Ok(_) if track.init.len() == 3 => track.init.to_vec(),
                _ => ac3::dac3_from_track(track.rate, track.channels, track.bps)
                    .map_err(|_| Mp4Error::Invalid("AC-3 sample rate"))?
                    .to_vec(),
            };
            write_audio_box(w, track, track.channels, b"ac-3", b"dac3", &dac3)
        }
        _ => Err(Mp4Error::Unsupported(format!(
            "codec {}",
            codec.mist_name()
        ))),
    }
}

/// SampleEntry header: reserved u8[6], data_reference_index u16 = 1.
fn write_sample_entry_header(w: &mut Writer) {
    w.zeros(6);
    w.u16(1);
}

/// VisualSampleEntry (`avc1` / `hvc1`) with its configuration box.
fn write_visual_entry(
    w: &mut Writer,
    kind: &[u8; 4],
    config_kind: &[u8; 4],
    config: &[u8],
    width: u16,
    height: u16,
) -> Result<(), Mp4Error> {
    w.boxed(kind, |w| {
        write_sample_entry_header(w);
        w.u16(0); // pre_defined
        w.u16(0); // reserved
        w.zeros(3 * 4); // pre_defined
        w.u16(width);
        w.u16(height);
        w.u32(0x0048_0000); // horizresolution 72 dpi
        w.u32(0x0048_0000); // vertresolution 72 dpi
        w.u32(0); // reserved
        w.u16(1); // frame_count
        w.zeros(32); // compressorname: empty
        w.u16(0x0018); // depth
        w.u16(0xFFFF); // pre_defined = -1
        w.boxed(config_kind, |w| {
            w.bytes(config);
            Ok(())
        })
    })
}

/// AudioSampleEntry `mp4a` with an `esds`.
fn write_audio_entry(
    w: &mut Writer,
    track: &Track,
    channels: u32,
    object_type: u8,
    specific_info: Option<&[u8]>,
) -> Result<(), Mp4Error> {
    let es = es_descriptor(track, object_type, specific_info)?;
    write_audio_sample_entry(w, track, channels, b"mp4a", |w| {
        w.full_box(b"esds", 0, 0, |w| {
            w.bytes(&es);
            Ok(())
        })
    })
}

/// An AudioSampleEntry `kind` with one plain configuration box (`ac-3` + `dac3`).
fn write_audio_box(
    w: &mut Writer,
    track: &Track,
    channels: u32,
    kind: &[u8; 4],
    config_kind: &[u8; 4],
    config: &[u8],
) -> Result<(), Mp4Error> {
    write_audio_sample_entry(w, track, channels, kind, |w| {
        w.boxed(config_kind, |w| {
            w.bytes(config);
            Ok(())
        })
    })
}

/// AudioSampleEntry (14496-12 12.2.3) `kind`, its fields, then what `config` writes.
fn write_audio_sample_entry(
    w: &mut Writer,
    track: &Track,
    channels: u32,
    kind: &[u8; 4],
    config: impl FnOnce(&mut Writer) -> Result<(), Mp4Error>,
) -> Result<(), Mp4Error> {
    let channels = match u16::try_from(channels) {
        Ok(0) | Err(_) => 2,
        Ok(n) => n,
    };
    // 16.16 fixed point; rates above 65535 Hz do not fit and are written as 0 (the decoder
    // configuration and the media timescale still carry them).
    let rate = timescale(track);
    let rate_field = if rate <= 0xFFFF { rate << 16 } else { 0 };
    w.boxed(kind, |w| {
        write_sample_entry_header(w);
        w.zeros(2 * 4); // reserved
        w.u16(channels);
        w.u16(16); // samplesize
        w.u16(0); // pre_defined
        w.u16(0); // reserved
        w.u32(rate_field);
        config(w)
    })
}

/// ES_Descriptor with DecoderConfigDescriptor (+ DecoderSpecificInfo) and SLConfigDescriptor:
///
/// ```text
/// ES_Descriptor (3)            ES_ID u16 = 0, flags u8 = 0
///   DecoderConfigDescriptor (4) objectTypeIndication u8, streamType 5 << 2 | upStream 0
///                              | reserved 1, bufferSizeDB u24, maxBitrate u32, avgBitrate u32
///     DecoderSpecificInfo (5)  AudioSpecificConfig (AAC only)
///   SLConfigDescriptor (6)     predefined 2
/// ```
fn es_descriptor(
    track: &Track,
    object_type: u8,
    specific_info: Option<&[u8]>,
) -> Result<Vec<u8>, Mp4Error> {
    let bitrate = track
        .bps
        .checked_mul(8)
        .and_then(|b| u32::try_from(b).ok())
        .unwrap_or(0);
    let mut config = vec![object_type, (0x05 << 2) | 0x01, 0, 0, 0];
    config.extend_from_slice(&bitrate.to_be_bytes()); // maxBitrate
    config.extend_from_slice(&bitrate.to_be_bytes()); // avgBitrate
    if let Some(info) = specific_info {
        config.extend_from_slice(&descriptor(0x05, info)?);
    }
    let mut es = vec![0, 0, 0];
    es.extend_from_slice(&descriptor(0x04, &config)?);
    es.extend_from_slice(&descriptor(0x06, &[0x02])?);
    descriptor(0x03, &es)
}
