//! Fragmented MP4 (CMAF) writer: an init segment (`ftyp` + `moov`) per set of tracks and media
//! segments (`[styp] moof mdat`) per fragment, for progressive fragmented MP4, DASH and HLS
//! (fMP4) outputs.
//!
//! Specifications:
//! - ISO/IEC 14496-12 (ISO base media file format): 4.2 box header (`size` u32 counting the whole
//!   box, `type`) and FullBox (`version` u8, `flags` u24); 4.3 `ftyp`; 8.16.2 `styp`; 8.2.2
//!   `mvhd`; 8.3.2 `tkhd`; 8.4.2 `mdhd`; 8.4.3 `hdlr`; 12.1.2 `vmhd`; 12.2.2 `smhd`; 8.7.2
//!   `dref` with a self-contained `url ` entry; 8.5.2 `stsd` with 12.1.3 VisualSampleEntry and
//!   12.2.3 AudioSampleEntry; the empty sample tables 8.6.1.2 `stts`, 8.7.4 `stsc`, 8.7.3 `stsz`,
//!   8.7.5 `stco`; 8.8.1 `mvex` and 8.8.3 `trex`; 8.8.4 `moof`, 8.8.5 `mfhd`, 8.8.6 `traf`,
//!   8.8.7 `tfhd`, 8.8.12 `tfdt`, 8.8.8 `trun` (version 1: signed composition offsets); 8.1.1
//!   `mdat`; 8.8.3.1 sample flags.
//! - ISO/IEC 14496-15 (carriage of NAL unit structured video): the `avc1` sample entry with
//!   `avcC` (AVCDecoderConfigurationRecord, clause 5) and the `hvc1` sample entry with `hvcC`
//!   (HEVCDecoderConfigurationRecord, clause 8). Samples are length-prefixed NAL units, as
//!   [`Packet::data`] already holds them.
//! - ISO/IEC 14496-14 (MP4 file format): the `mp4a` sample entry with `esds`, an ES_Descriptor
//!   (ISO/IEC 14496-1 7.2.6.5) with a DecoderConfigDescriptor (7.2.6.6: objectTypeIndication
//!   0x40 for MPEG-4 Audio / AAC with the AudioSpecificConfig as DecoderSpecificInfo, 7.2.6.7;
//!   0x6B for MPEG-1 Audio / MP3, without one; streamType 5, audio) and an SLConfigDescriptor
//!   (7.2.6.8, predefined 2 as MP4 files use).
//! - ISO/IEC 23000-19 (CMAF): the `cmfc` brand of a CMAF header and `cmfs` of a CMAF segment;
//!   the fragment structure (one `moof` + one `mdat`, `tfdt` in every `traf`,
//!   default-base-is-moof, a `trex` per track). ISO/IEC 23009-1 (DASH): the `msdh` media
//!   segment brand for `styp`.
//!
//! Choices:
//! - `ftyp`: major brand `isom`, minor version 0x200, compatible `isom`, `iso6` (tfdt version 1,
//!   trun version 1), `mp41`, plus `cmfc` when the init segment holds exactly one track (a CMAF
//!   header has one track; a combined audio+video file is not one), plus `avc1` / `hvc1` when
//!   such a track is present.
//! - `styp`: major brand `msdh`, minor 0, compatible `msdh`, plus `cmfs` when the segment holds
//!   exactly one track. `msix` is not claimed: it requires a `sidx`, which is not written.
//! - Timescales: 1000 for the movie, 90000 for video, the sample rate for audio (48000 when
//!   unknown). Millisecond times are converted as absolute values (round half up) and then
//!   subtracted, so durations and composition offsets never drift.
//! - Audio samples are always sync samples (every AAC and MP3 frame is a random access point),
//!   whatever [`Packet::keyframe`] says; video samples are sync samples when `keyframe` is set.
//! - Sizes are 32-bit (no `largesize`, no `co64`); anything larger is [`Mp4Error::TooLarge`].
//!
//! Nothing here panics on input: every size, offset and time is converted with checks.

use bytes::Bytes;

use super::{aac, h264, hevc, mp3, Codec, Packet, Track, TrackKind};

/// Errors from the MP4 writer.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Mp4Error {
    #[error("unsupported in MP4: {0}")]
    Unsupported(String),
    #[error("too large for a 32-bit MP4 box or field")]
    TooLarge,
    #[error("time {0} ms cannot be written")]
    BadTime(i64),
    #[error("invalid input for MP4: {0}")]
    Invalid(&'static str),
}

/// Movie timescale (`mvhd`): milliseconds.
const MOVIE_TIMESCALE: u32 = 1000;
/// Video media timescale (`mdhd`), as MPEG systems use.
pub const VIDEO_TIMESCALE: u32 = 90_000;
/// Audio media timescale when the track has no sample rate.
pub const DEFAULT_AUDIO_TIMESCALE: u32 = 48_000;

/// `tkhd` flags: track_enabled | track_in_movie | track_in_preview.
const TKHD_FLAGS: u32 = 0x0000_0007;
/// `tfhd` flags: default-base-is-moof.
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x0002_0000;
/// `trun` flags: data-offset, sample-duration, sample-size, sample-flags and
/// sample-composition-time-offsets present.
const TRUN_FLAGS: u32 = 0x0000_0001 | 0x0000_0100 | 0x0000_0200 | 0x0000_0400 | 0x0000_0800;
/// Sample flags (8.8.3.1) of a sync sample: sample_depends_on 2 (does not depend on others),
/// sample_is_non_sync_sample 0.
const SAMPLE_SYNC: u32 = 2 << 24;
/// Sample flags of a non-sync sample: sample_depends_on 1, sample_is_non_sync_sample 1.
const SAMPLE_NON_SYNC: u32 = (1 << 24) | (1 << 16);
/// Unity transformation matrix (`mvhd`, `tkhd`).
const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];
/// ISO-639-2/T `und` packed as three 5-bit letters (each minus 0x60).
const LANGUAGE_UND: u16 = (21 << 10) | (14 << 5) | 4;
/// Box header: size u32 + type.
const BOX_HEADER_LEN: u64 = 8;
/// MPEG-4 descriptor lengths are at most 4 bytes of 7 bits.
const MAX_DESCRIPTOR_LEN: usize = (1 << 28) - 1;
/// Default video frame duration when nothing else is known: 40 ms.
const DEFAULT_FRAME_MS: i64 = 40;
/// Samples per AAC frame (AAC LC; the MP4 timescale is the core sample rate).
const AAC_FRAME_SAMPLES: u32 = 1024;
/// Samples per MPEG-1 Layer III frame (MPEG-2/2.5 frames, 576, are read from the header).
const MP3_FRAME_SAMPLES: u32 = 1152;

/// The media timescale of a track: 90000 for video, the sample rate for audio (48000 when the
/// rate is unknown), 1000 for anything else.
pub fn timescale(track: &Track) -> u32 {
    match track.kind() {
        Some(TrackKind::Video) => VIDEO_TIMESCALE,
        Some(TrackKind::Audio) if track.rate > 0 => track.rate,
        Some(TrackKind::Audio) => DEFAULT_AUDIO_TIMESCALE,
        _ => MOVIE_TIMESCALE,
    }
}

/// The codec of a track that MP4 can carry here (H.264, HEVC, AAC, MP3).
fn supported_codec(track: &Track) -> Result<Codec, Mp4Error> {
    match track.codec {
        Some(c @ (Codec::H264 | Codec::Hevc | Codec::Aac | Codec::Mp3)) => Ok(c),
        Some(c @ (Codec::Av1 | Codec::Vp9 | Codec::Amf)) => Err(Mp4Error::Unsupported(format!(
            "codec {} (track {})",
            c.mist_name(),
            track.id
        ))),
        None => Err(Mp4Error::Unsupported(format!(
            "track {} has no codec",
            track.id
        ))),
    }
}

/// Converts milliseconds to `timescale` units, rounding half up.
fn to_timescale(ms: i64, timescale: u32) -> Result<i64, Mp4Error> {
    let scaled = (i128::from(ms) * i128::from(timescale) + 500).div_euclid(1000);
    i64::try_from(scaled).map_err(|_| Mp4Error::BadTime(ms))
}

/// The size field of a box with `header_len` header bytes (8, plus 4 for a FullBox) and
/// `content_len` bytes after them.
fn box_size(header_len: u64, content_len: u64) -> Result<u32, Mp4Error> {
    header_len
        .checked_add(content_len)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(Mp4Error::TooLarge)
}

/// Builds boxes into one buffer; a box's size is written once its content is complete.
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len().saturating_add(n), 0);
    }

    fn len(&self) -> usize {
        self.buf.len()
    }

    /// Writes a box: a size placeholder and `kind`, the body, then the real size.
    fn boxed<F>(&mut self, kind: &[u8; 4], body: F) -> Result<(), Mp4Error>
    where
        F: FnOnce(&mut Writer) -> Result<(), Mp4Error>,
    {
        let start = self.buf.len();
        self.u32(0);
        self.bytes(kind);
        body(self)?;
        let content = self.buf.len().saturating_sub(start).saturating_sub(8);
        let content = u64::try_from(content).map_err(|_| Mp4Error::TooLarge)?;
        let size = box_size(BOX_HEADER_LEN, content)?;
        self.patch_u32(start, size)
    }

    /// Writes a FullBox: like [`Writer::boxed`] with `version` and 24-bit `flags` first.
    fn full_box<F>(
        &mut self,
        kind: &[u8; 4],
        version: u8,
        flags: u32,
        body: F,
    ) -> Result<(), Mp4Error>
    where
        F: FnOnce(&mut Writer) -> Result<(), Mp4Error>,
    {
        self.boxed(kind, |w| {
            w.u32((u32::from(version) << 24) | (flags & 0x00FF_FFFF));
            body(w)
        })
    }

    /// Overwrites 4 bytes at `at`.
    fn patch_u32(&mut self, at: usize, v: u32) -> Result<(), Mp4Error> {
        let end = at.checked_add(4).ok_or(Mp4Error::TooLarge)?;
        let slot = self
            .buf
            .get_mut(at..end)
            .ok_or(Mp4Error::Invalid("patch outside the buffer"))?;
        slot.copy_from_slice(&v.to_be_bytes());
        Ok(())
    }
}

/// Checks track ids: each non-zero and unique.
fn check_ids<'a>(ids: impl Iterator<Item = &'a Track>) -> Result<(), Mp4Error> {
    let mut seen: Vec<u32> = Vec::new();
    for track in ids {
        if track.id == 0 {
            return Err(Mp4Error::Invalid("track id 0"));
        }
        if seen.contains(&track.id) {
            return Err(Mp4Error::Invalid("duplicate track id"));
        }
        seen.push(track.id);
    }
    Ok(())
}

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
///         stbl > stsd (avc1+avcC | hvc1+hvcC | mp4a+esds), stts, stsc, stsz, stco (empty)
///   mvex
///     trex (per track)   default_sample_description_index 1, other defaults 0
/// ```
///
/// # Errors
///
/// No tracks, track id 0 or repeated, codecs other than H.264, HEVC, AAC and MP3
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
    w.boxed(b"ftyp", |w| {
        w.bytes(b"isom");
        w.u32(0x200);
        w.bytes(b"isom");
        w.bytes(b"iso6");
        w.bytes(b"mp41");
        if tracks.len() == 1 {
            w.bytes(b"cmfc");
        }
        if codecs.contains(&Codec::H264) {
            w.bytes(b"avc1");
        }
        if codecs.contains(&Codec::Hevc) {
            w.bytes(b"hvc1");
        }
        Ok(())
    })?;
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

fn write_matrix(w: &mut Writer) {
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
fn dimensions(track: &Track) -> Result<(u16, u16), Mp4Error> {
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
        w.full_box(b"tkhd", 0, TKHD_FLAGS, |w| {
            w.u32(0); // creation_time
            w.u32(0); // modification_time
            w.u32(track.id);
            w.u32(0); // reserved
            w.u32(0); // duration
            w.zeros(8); // reserved
            w.u16(0); // layer
            w.u16(0); // alternate_group
            w.u16(if video { 0 } else { 0x0100 }); // volume
            w.u16(0); // reserved
            write_matrix(w);
            w.u32(u32::from(width) << 16);
            w.u32(u32::from(height) << 16);
            Ok(())
        })?;
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
            })?;
            w.boxed(b"minf", |w| {
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
                })?;
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

fn write_sample_entry(
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
        Codec::Av1 | Codec::Vp9 | Codec::Amf => Err(Mp4Error::Unsupported(format!(
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
    let channels = match u16::try_from(channels) {
        Ok(0) | Err(_) => 2,
        Ok(n) => n,
    };
    // 16.16 fixed point; rates above 65535 Hz do not fit and are written as 0 (the decoder
    // configuration and the media timescale still carry them).
    let rate = timescale(track);
    let rate_field = if rate <= 0xFFFF { rate << 16 } else { 0 };
    let es = es_descriptor(track, object_type, specific_info)?;
    w.boxed(b"mp4a", |w| {
        write_sample_entry_header(w);
        w.zeros(2 * 4); // reserved
        w.u16(channels);
        w.u16(16); // samplesize
        w.u16(0); // pre_defined
        w.u16(0); // reserved
        w.u32(rate_field);
        w.full_box(b"esds", 0, 0, |w| {
            w.bytes(&es);
            Ok(())
        })
    })
}

/// An MPEG-4 descriptor: tag, expandable size (7 bits per byte, high bit = more), body.
fn descriptor(tag: u8, body: &[u8]) -> Result<Vec<u8>, Mp4Error> {
    let len = body.len();
    if len > MAX_DESCRIPTOR_LEN {
        return Err(Mp4Error::TooLarge);
    }
    let mut out = Vec::with_capacity(len.saturating_add(5));
    out.push(tag);
    let groups = match len {
        0..=0x7F => 1,
        0x80..=0x3FFF => 2,
        0x4000..=0x1F_FFFF => 3,
        _ => 4,
    };
    for i in (0..groups).rev() {
        let bits = (len >> (7 * i)) & 0x7F;
        let more = if i > 0 { 0x80 } else { 0 };
        out.push(u8::try_from(bits).map_err(|_| Mp4Error::TooLarge)? | more);
    }
    out.extend_from_slice(body);
    Ok(out)
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

/// One track's share of a media segment.
#[derive(Debug, Clone, Copy)]
pub struct FragmentTrack<'a> {
    pub track: &'a Track,
    /// The track's packets in decode order.
    pub packets: &'a [&'a Packet],
    /// Decode time (ms) where the fragment ends (the next fragment's first decode time): the
    /// last sample lasts until then.
    pub end_ms: i64,
}

/// One sample's `trun` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    duration: u32,
    size: u32,
    flags: u32,
    composition_offset: i32,
}

/// A `traf` ready to be written.
#[derive(Debug)]
struct TrafPlan<'a> {
    track_id: u32,
    base_decode_time: u64,
    samples: Vec<Sample>,
    packets: &'a [&'a Packet],
    /// Bytes of all samples.
    payload_len: u64,
}

/// The default duration of one frame in track units, for a last sample with nothing to measure.
fn frame_duration(track: &Track, codec: Codec, last: &Packet) -> Result<u32, Mp4Error> {
    match codec {
        Codec::Aac => Ok(AAC_FRAME_SAMPLES),
        Codec::Mp3 => Ok(mp3::parse_header(&last.data)
            .map(|h| h.samples_per_frame)
            .unwrap_or(MP3_FRAME_SAMPLES)),
        _ => {
            let ticks = if track.fpks > 0 {
                // Round(90000 s^-1 * 1000 / fpks).
                let fpks = u64::from(track.fpks);
                (u64::from(VIDEO_TIMESCALE) * 1000 + fpks / 2) / fpks
            } else {
                u64::try_from(to_timescale(DEFAULT_FRAME_MS, VIDEO_TIMESCALE)?)
                    .map_err(|_| Mp4Error::BadTime(DEFAULT_FRAME_MS))?
            };
            u32::try_from(ticks.max(1)).map_err(|_| Mp4Error::TooLarge)
        }
    }
}

/// Computes one track's `trun` entries and `tfdt`.
fn plan_traf<'a>(fragment: &FragmentTrack<'a>) -> Result<Option<TrafPlan<'a>>, Mp4Error> {
    let track = fragment.track;
    let codec = supported_codec(track)?;
    let packets = fragment.packets;
    let (Some(first), Some(last)) = (packets.first(), packets.last()) else {
        return Ok(None);
    };
    if track.id == 0 {
        return Err(Mp4Error::Invalid("track id 0"));
    }
    if packets.iter().any(|p| p.track != track.id) {
        return Err(Mp4Error::Invalid("packet of another track in a fragment"));
    }
    let ts = timescale(track);
    let base = to_timescale(first.time, ts)?;
    let base_decode_time = u64::try_from(base).map_err(|_| Mp4Error::BadTime(first.time))?;
    let audio = codec.kind() == TrackKind::Audio;

    let mut samples: Vec<Sample> = Vec::with_capacity(packets.len());
    let mut payload_len: u64 = 0;
    for (i, packet) in packets.iter().enumerate() {
        let dts = to_timescale(packet.time, ts)?;
        let duration = match packets.get(i + 1) {
            Some(next) => {
                let next_dts = to_timescale(next.time, ts)?;
                let d = next_dts
                    .checked_sub(dts)
                    .ok_or(Mp4Error::BadTime(next.time))?;
                if d < 0 {
                    // Decode times must not go backwards.
                    return Err(Mp4Error::BadTime(next.time));
                }
                u32::try_from(d).map_err(|_| Mp4Error::BadTime(next.time))?
            }
            None if fragment.end_ms > packet.time => {
                let end = to_timescale(fragment.end_ms, ts)?;
                let d = end
                    .checked_sub(dts)
                    .ok_or(Mp4Error::BadTime(fragment.end_ms))?;
                u32::try_from(d).map_err(|_| Mp4Error::BadTime(fragment.end_ms))?
            }
            None => match samples.last() {
                Some(prev) if prev.duration > 0 => prev.duration,
                _ => frame_duration(track, codec, last)?,
            },
        };
        let pts_ms = packet
            .time
            .checked_add(i64::from(packet.offset))
            .ok_or(Mp4Error::BadTime(packet.time))?;
        let composition_offset = to_timescale(pts_ms, ts)?
            .checked_sub(dts)
            .and_then(|o| i32::try_from(o).ok())
            .ok_or(Mp4Error::BadTime(pts_ms))?;
        let size = u32::try_from(packet.data.len()).map_err(|_| Mp4Error::TooLarge)?;
        payload_len = payload_len
            .checked_add(u64::from(size))
            .ok_or(Mp4Error::TooLarge)?;
        let flags = if audio || packet.keyframe {
            SAMPLE_SYNC
        } else {
            SAMPLE_NON_SYNC
        };
        samples.push(Sample {
            duration,
            size,
            flags,
            composition_offset,
        });
    }
    Ok(Some(TrafPlan {
        track_id: track.id,
        base_decode_time,
        samples,
        packets,
        payload_len,
    }))
}

/// Where each track's samples start in the `mdat` that follows a `moof` of `moof_len` bytes,
/// as `trun` data_offsets (from the start of the `moof`), and the `mdat` size. Tracks' sample
/// bytes follow one another in `traf` order.
fn plan_mdat(moof_len: u64, payload_lens: &[u64]) -> Result<(Vec<i32>, u32), Mp4Error> {
    let mut offsets = Vec::with_capacity(payload_lens.len());
    let mut at = moof_len
        .checked_add(BOX_HEADER_LEN)
        .ok_or(Mp4Error::TooLarge)?;
    let mut total: u64 = 0;
    for &len in payload_lens {
        offsets.push(i32::try_from(at).map_err(|_| Mp4Error::TooLarge)?);
        at = at.checked_add(len).ok_or(Mp4Error::TooLarge)?;
        total = total.checked_add(len).ok_or(Mp4Error::TooLarge)?;
    }
    Ok((offsets, box_size(BOX_HEADER_LEN, total)?))
}

/// One media segment: an optional `styp`, one `moof` with a `traf` per track that has packets,
/// and one `mdat` with all samples, track after track in `traf` order.
///
/// ```text
/// styp                   (with_styp) msdh [+ cmfs]
/// moof
///   mfhd                 sequence_number = sequence
///   traf (per non-empty track)
///     tfhd               flags 0x020000 (default-base-is-moof), track_ID
///     tfdt  version 1    baseMediaDecodeTime = first decode time in the track timescale
///     trun  version 1    flags 0xF01: data_offset (from the moof start into the mdat), then
///                        per sample duration, size, flags, signed composition offset
/// mdat
/// ```
///
/// Durations are differences of successive decode times converted to the track timescale; the
/// last sample lasts until `end_ms`, or, when `end_ms` is not after it, as long as the sample
/// before it (or one frame: 1024 samples for AAC, the frame header's count or 1152 for MP3,
/// 1000/fps or 40 ms for video).
///
/// # Errors
///
/// No packets at all, unsupported codecs, packets whose `track` differs from the track's
/// id, repeated track ids, negative or backward decode times ([`Mp4Error::BadTime`]), and sizes
/// or offsets beyond 32 bits ([`Mp4Error::TooLarge`]).
pub fn media_segment(
    sequence: u32,
    tracks: &[FragmentTrack<'_>],
    with_styp: bool,
) -> Result<Bytes, Mp4Error> {
    let mut plans = Vec::with_capacity(tracks.len());
    for fragment in tracks {
        if let Some(plan) = plan_traf(fragment)? {
            plans.push(plan);
        }
    }
    if plans.is_empty() {
        return Err(Mp4Error::Invalid("no samples in the segment"));
    }
    check_ids(
        tracks
            .iter()
            .filter(|f| !f.packets.is_empty())
            .map(|f| f.track),
    )?;

    let mut w = Writer::default();
    if with_styp {
        w.boxed(b"styp", |w| {
            w.bytes(b"msdh");
            w.u32(0);
            w.bytes(b"msdh");
            if plans.len() == 1 {
                w.bytes(b"cmfs");
            }
            Ok(())
        })?;
    }
    let moof_start = w.len();
    let mut offset_slots = Vec::with_capacity(plans.len());
    w.boxed(b"moof", |w| {
        w.full_box(b"mfhd", 0, 0, |w| {
            w.u32(sequence);
            Ok(())
        })?;
        for plan in &plans {
            w.boxed(b"traf", |w| {
                w.full_box(b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, |w| {
                    w.u32(plan.track_id);
                    Ok(())
                })?;
                w.full_box(b"tfdt", 1, 0, |w| {
                    w.u64(plan.base_decode_time);
                    Ok(())
                })?;
                w.full_box(b"trun", 1, TRUN_FLAGS, |w| {
                    let count =
                        u32::try_from(plan.samples.len()).map_err(|_| Mp4Error::TooLarge)?;
                    w.u32(count);
                    offset_slots.push(w.len());
                    w.i32(0); // data_offset, set below
                    for s in &plan.samples {
                        w.u32(s.duration);
                        w.u32(s.size);
                        w.u32(s.flags);
                        w.i32(s.composition_offset);
                    }
                    Ok(())
                })
            })?;
        }
        Ok(())
    })?;
    let moof_len =
        u64::try_from(w.len().saturating_sub(moof_start)).map_err(|_| Mp4Error::TooLarge)?;
    let payload_lens: Vec<u64> = plans.iter().map(|p| p.payload_len).collect();
    let (offsets, mdat_size) = plan_mdat(moof_len, &payload_lens)?;
    for (&slot, &offset) in offset_slots.iter().zip(&offsets) {
        w.patch_u32(slot, u32::from_be_bytes(offset.to_be_bytes()))?;
    }
    let mdat_len = usize::try_from(mdat_size).map_err(|_| Mp4Error::TooLarge)?;
    w.buf.reserve(mdat_len);
    w.u32(mdat_size);
    w.bytes(b"mdat");
    for plan in &plans {
        for packet in plan.packets {
            w.bytes(&packet.data);
        }
    }
    Ok(Bytes::from(w.buf))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::super::bits::tests::XorShift;

    use super::*;

    /// ffmpeg 5.1: libx264 (Main, 176x100, 10 fps, B-frames) + AAC LC 22050 Hz mono, 0.6 s.
    const H264_AAC_FLV: &[u8] = include_bytes!("testdata/h264_aac.flv");
    /// ffmpeg 9: libx265 (Main, 176x100, 10 fps) in Enhanced FLV: a keyframe and two inter
    /// frames, each with a 200 ms composition offset.
    const HEVC_FLV: &[u8] = include_bytes!("testdata/hevc_enhanced.flv");
    /// LAME, 22050 Hz mono, after a 45-byte ID3v2 tag.
    const SINE_MP3: &[u8] = include_bytes!("testdata/sine_22050_mono.mp3");

    const VIDEO: u32 = 1;
    const AUDIO: u32 = 2;

    // ---- inputs -------------------------------------------------------------------------

    use crate::media::testutil::load_flv;

    /// The MP3 test file as track 1 and one packet per frame.
    fn load_mp3() -> (Track, Vec<Packet>) {
        assert_eq!(&SINE_MP3[..3], b"ID3");
        let tag_len = SINE_MP3[6..10]
            .iter()
            .fold(0usize, |n, &b| (n << 7) | usize::from(b & 0x7F));
        let data = Bytes::from_static(SINE_MP3);
        let mut at = 10 + tag_len;
        let mut track = mp3::track_from_frame(&data[at..]).unwrap();
        track.id = 1;
        let mut packets = Vec::new();
        let mut samples = 0u64;
        while at < data.len() {
            let header = mp3::parse_header(&data[at..]).unwrap();
            let end = (at + header.frame_len).min(data.len());
            packets.push(Packet {
                track: 1,
                time: i64::try_from(samples * 1000 / u64::from(header.sample_rate)).unwrap(),
                offset: 0,
                keyframe: false,
                data: data.slice(at..end),
            });
            samples += u64::from(header.samples_per_frame);
            at = end;
        }
        (track, packets)
    }

    fn of_track(packets: &[Packet], id: u32) -> Vec<&Packet> {
        packets.iter().filter(|p| p.track == id).collect()
    }

    fn packet(track: u32, time: i64, keyframe: bool) -> Packet {
        Packet {
            track,
            time,
            offset: 0,
            keyframe,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        }
    }

    fn video_track() -> Track {
        let (video, _, _) = load_flv(H264_AAC_FLV);
        video.unwrap()
    }

    fn audio_track() -> Track {
        let (_, audio, _) = load_flv(H264_AAC_FLV);
        audio.unwrap()
    }

    // ---- a small box reader for the checks ----------------------------------------------

    /// Bytes before the child boxes of a box type, for the types that have children.
    fn child_offset(kind: &[u8]) -> Option<usize> {
        match kind {
            b"moov" | b"trak" | b"mdia" | b"minf" | b"dinf" | b"stbl" | b"mvex" | b"moof"
            | b"traf" => Some(0),
            b"dref" | b"stsd" => Some(8),
            b"avc1" | b"hvc1" => Some(78),
            b"mp4a" => Some(28),
            _ => None,
        }
    }

    /// A box: type, start of the box, start of its body, end.
    #[derive(Debug, Clone, Copy)]
    struct BoxAt {
        kind: [u8; 4],
        start: usize,
        body: usize,
        end: usize,
    }

    /// The boxes tiling `buf[start..end]`; fails unless their size fields tile it exactly.
    fn boxes(buf: &[u8], start: usize, end: usize) -> Vec<BoxAt> {
        let mut out = Vec::new();
        let mut at = start;
        while at < end {
            assert!(at + 8 <= end, "box header past the end at {at}");
            let size = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = buf[at + 4..at + 8].try_into().unwrap();
            assert!(
                size >= 8,
                "box {:?} size {size}",
                String::from_utf8_lossy(&kind)
            );
            assert!(
                at + size <= end,
                "box {:?} at {at} of size {size} overruns its parent (ends at {end})",
                String::from_utf8_lossy(&kind)
            );
            out.push(BoxAt {
                kind,
                start: at,
                body: at + 8,
                end: at + size,
            });
            at += size;
        }
        assert_eq!(at, end);
        out
    }

    /// Walks every box recursively, checking each size field against its parent; returns the
    /// number of boxes seen.
    fn check_tree(buf: &[u8], start: usize, end: usize) -> usize {
        let mut count = 0;
        for b in boxes(buf, start, end) {
            count += 1;
            if let Some(skip) = child_offset(&b.kind) {
                count += check_tree(buf, b.body + skip, b.end);
            }
        }
        count
    }

    /// All boxes at `path` (types from the top level down).
    fn find(buf: &[u8], path: &[&[u8; 4]]) -> Vec<BoxAt> {
        let mut level = boxes(buf, 0, buf.len());
        for (i, kind) in path.iter().enumerate() {
            let matching: Vec<BoxAt> = level.into_iter().filter(|b| &b.kind == *kind).collect();
            if i + 1 == path.len() {
                return matching;
            }
            level = matching
                .iter()
                .flat_map(|b| boxes(buf, b.body + child_offset(&b.kind).unwrap(), b.end))
                .collect();
        }
        level
    }

    fn be32(buf: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(buf[at..at + 4].try_into().unwrap())
    }

    fn be64(buf: &[u8], at: usize) -> u64 {
        u64::from_be_bytes(buf[at..at + 8].try_into().unwrap())
    }

    /// One `traf` read back: track, tfdt, trun entries and the sample bytes its data_offset
    /// points at.
    #[derive(Debug)]
    struct ReadTraf {
        sequence: u32,
        track_id: u32,
        base: u64,
        samples: Vec<Sample>,
        data: Vec<Vec<u8>>,
    }

    /// Reads every moof of a file, following each trun's data_offset into the mdat after it.
    fn read_fragments(file: &[u8]) -> Vec<ReadTraf> {
        let top = boxes(file, 0, file.len());
        let mut out = Vec::new();
        for (i, moof) in top.iter().enumerate().filter(|(_, b)| &b.kind == b"moof") {
            let mdat = top[i + 1];
            assert_eq!(&mdat.kind, b"mdat", "a moof is followed by its mdat");
            let children = boxes(file, moof.body, moof.end);
            let mfhd = children[0];
            assert_eq!(&mfhd.kind, b"mfhd");
            let sequence = be32(file, mfhd.body + 4);
            let mut used = 0;
            for traf in children.iter().filter(|b| &b.kind == b"traf") {
                let parts = boxes(file, traf.body, traf.end);
                let kinds: Vec<&[u8; 4]> = parts.iter().map(|b| &b.kind).collect();
                assert_eq!(kinds, [b"tfhd", b"tfdt", b"trun"]);
                let (tfhd, tfdt, trun) = (parts[0], parts[1], parts[2]);
                assert_eq!(be32(file, tfhd.body), TFHD_DEFAULT_BASE_IS_MOOF);
                assert_eq!(tfhd.end - tfhd.body, 8);
                assert_eq!(be32(file, tfdt.body), 1 << 24, "tfdt version 1");
                assert_eq!(be32(file, trun.body), (1 << 24) | TRUN_FLAGS, "trun v1");
                let count = be32(file, trun.body + 4) as usize;
                assert_eq!(trun.end - trun.body, 12 + 16 * count);
                let mut at = moof.start + be32(file, trun.body + 8) as usize;
                assert!(
                    at >= mdat.body && at <= mdat.end,
                    "data_offset inside the mdat"
                );
                let (mut samples, mut data) = (Vec::new(), Vec::new());
                for n in 0..count {
                    let e = trun.body + 12 + 16 * n;
                    let s = Sample {
                        duration: be32(file, e),
                        size: be32(file, e + 4),
                        flags: be32(file, e + 8),
                        composition_offset: be32(file, e + 12) as i32,
                    };
                    data.push(file[at..at + s.size as usize].to_vec());
                    at += s.size as usize;
                    used += s.size as usize;
                    samples.push(s);
                }
                assert!(at <= mdat.end);
                out.push(ReadTraf {
                    sequence,
                    track_id: be32(file, tfhd.body + 4),
                    base: be64(file, tfdt.body + 4),
                    samples,
                    data,
                });
            }
            assert_eq!(
                used,
                mdat.end - mdat.body,
                "the mdat holds exactly the samples"
            );
        }
        out
    }

    // ---- ffprobe ------------------------------------------------------------------------

    fn ffprobe(path: &Path) -> serde_json::Value {
        ffmpeg_decodes(path);
        let exe = if Path::new("/usr/bin/ffprobe").exists() {
            "/usr/bin/ffprobe"
        } else {
            "ffprobe"
        };
        let out = Command::new(exe)
            .args([
                "-v",
                "error",
                "-show_streams",
                "-show_packets",
                "-of",
                "json",
            ])
            .arg(path)
            .output()
            .expect("ffprobe runs (Debian's ffmpeg package)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ffprobe failed: {stderr}");
        assert!(stderr.trim().is_empty(), "ffprobe complained: {stderr}");
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Decodes a whole file with ffmpeg (same package as ffprobe); it must not complain.
    fn ffmpeg_decodes(path: &Path) {
        let exe = if Path::new("/usr/bin/ffmpeg").exists() {
            "/usr/bin/ffmpeg"
        } else {
            "ffmpeg"
        };
        let out = Command::new(exe)
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path)
            .args(["-f", "null", "-"])
            .output()
            .expect("ffmpeg runs (Debian's ffmpeg package)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ffmpeg failed: {stderr}");
        assert!(stderr.trim().is_empty(), "ffmpeg complained: {stderr}");
    }

    /// What one ffprobe stream must show.
    struct Expect<'a> {
        codec: &'a str,
        /// (width, height) for video, (sample rate, channels) for audio.
        size: (u64, u64),
        packets: Vec<&'a Packet>,
        /// Every packet is a keyframe (audio).
        all_key: bool,
    }

    fn ticks_to_ms(ticks: i64, time_base: &str) -> f64 {
        let (num, den) = time_base.split_once('/').unwrap();
        ticks as f64 * num.parse::<f64>().unwrap() * 1000.0 / den.parse::<f64>().unwrap()
    }

    fn check_probe(json: &serde_json::Value, expected: &[Expect<'_>]) {
        let streams = json["streams"].as_array().unwrap();
        assert_eq!(streams.len(), expected.len());
        let packets = json["packets"].as_array().unwrap();
        for (index, (stream, want)) in streams.iter().zip(expected).enumerate() {
            assert_eq!(stream["codec_name"], want.codec);
            if stream["codec_type"] == "video" {
                assert_eq!(stream["width"].as_u64(), Some(want.size.0));
                assert_eq!(stream["height"].as_u64(), Some(want.size.1));
            } else {
                assert_eq!(stream["codec_type"], "audio");
                assert_eq!(stream["sample_rate"], want.size.0.to_string());
                assert_eq!(stream["channels"].as_u64(), Some(want.size.1));
            }
            let time_base = stream["time_base"].as_str().unwrap();
            let got: Vec<&serde_json::Value> = packets
                .iter()
                .filter(|p| p["stream_index"].as_u64() == Some(index as u64))
                .collect();
            assert_eq!(
                got.len(),
                want.packets.len(),
                "packet count of stream {index}"
            );
            let mut last_dts = f64::MIN;
            for (p, input) in got.iter().zip(&want.packets) {
                let dts = ticks_to_ms(p["dts"].as_i64().unwrap(), time_base);
                let pts = ticks_to_ms(p["pts"].as_i64().unwrap(), time_base);
                assert!(dts > last_dts, "dts increases: {dts} after {last_dts}");
                last_dts = dts;
                assert!(
                    (dts - input.time as f64).abs() <= 1.0,
                    "dts {dts} vs {}",
                    input.time
                );
                let want_pts = (input.time + i64::from(input.offset)) as f64;
                assert!((pts - want_pts).abs() <= 1.0, "pts {pts} vs {want_pts}");
                assert_eq!(p["size"], input.data.len().to_string());
                let key = p["flags"].as_str().unwrap().starts_with('K');
                assert_eq!(
                    key,
                    want.all_key || input.keyframe,
                    "key flag at {}",
                    input.time
                );
            }
        }
    }

    fn write_temp(dir: &tempfile::TempDir, name: &str, parts: &[&Bytes]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        let mut all = Vec::new();
        for part in parts {
            all.extend_from_slice(part);
        }
        std::fs::write(&path, &all).unwrap();
        path
    }

    /// Checks that mp4 (the crate) reads the file: ftyp, moov with the traks, mvex/trex and
    /// every fragment.
    fn check_with_mp4_crate<'a>(
        file: &'a [u8],
        tracks: &[&Track],
        fragments: usize,
    ) -> ::mp4::Mp4Reader<std::io::Cursor<&'a [u8]>> {
        let reader =
            ::mp4::Mp4Reader::read_header(std::io::Cursor::new(file), file.len() as u64).unwrap();
        assert_eq!(&reader.ftyp.major_brand.value, b"isom");
        assert_eq!(reader.ftyp.minor_version, 0x200);
        assert_eq!(reader.moov.mvhd.timescale, 1000);
        assert_eq!(reader.moov.traks.len(), tracks.len());
        for (trak, track) in reader.moov.traks.iter().zip(tracks) {
            assert_eq!(trak.tkhd.track_id, track.id);
            assert_eq!(trak.mdia.mdhd.timescale, timescale(track));
            assert_eq!(trak.mdia.mdhd.language, "und");
            let handler = if track.kind() == Some(TrackKind::Video) {
                b"vide"
            } else {
                b"soun"
            };
            assert_eq!(&trak.mdia.hdlr.handler_type.value, handler);
        }
        let mvex = reader.moov.mvex.as_ref().expect("mvex");
        // The crate keeps the last trex only.
        let last = tracks.last().unwrap();
        assert_eq!(mvex.trex.track_id, last.id);
        assert_eq!(mvex.trex.default_sample_description_index, 1);
        assert_eq!(reader.moofs.len(), fragments);
        for (i, moof) in reader.moofs.iter().enumerate() {
            assert_eq!(moof.mfhd.sequence_number, i as u32 + 1);
            for traf in &moof.trafs {
                assert!(tracks.iter().any(|t| t.id == traf.tfhd.track_id));
                assert!(traf.tfdt.is_some());
                let trun = traf.trun.as_ref().expect("trun");
                assert_eq!(trun.sample_sizes.len(), trun.sample_count as usize);
            }
        }
        reader
    }

    /// Every trex in an init segment, as (track_ID, default_sample_description_index).
    fn trexes(init: &[u8]) -> Vec<(u32, u32)> {
        find(init, &[b"moov", b"mvex", b"trex"])
            .iter()
            .map(|b| (be32(init, b.body + 4), be32(init, b.body + 8)))
            .collect()
    }

    /// Compares what read_fragments found with the packets written.
    fn check_fragments(read: &[ReadTraf], track: &Track, segments: &[Vec<&Packet>]) {
        let ts = timescale(track);
        let mine: Vec<&ReadTraf> = read.iter().filter(|t| t.track_id == track.id).collect();
        assert_eq!(mine.len(), segments.len());
        for (traf, packets) in mine.iter().zip(segments) {
            assert_eq!(traf.base, to_timescale(packets[0].time, ts).unwrap() as u64);
            assert_eq!(traf.samples.len(), packets.len());
            let mut dts = traf.base as i64;
            for ((s, data), p) in traf.samples.iter().zip(&traf.data).zip(packets) {
                assert_eq!(dts, to_timescale(p.time, ts).unwrap(), "no drift");
                assert_eq!(data[..], p.data[..]);
                let pts = to_timescale(p.time + i64::from(p.offset), ts).unwrap();
                assert_eq!(dts + i64::from(s.composition_offset), pts);
                let audio = track.kind() == Some(TrackKind::Audio);
                let flags = if audio || p.keyframe {
                    SAMPLE_SYNC
                } else {
                    SAMPLE_NON_SYNC
                };
                assert_eq!(s.flags, flags, "sample flags at {} ms", p.time);
                dts += i64::from(s.duration);
            }
        }
    }

    // ---- real files ---------------------------------------------------------------------

    /// Splits the packets of the H.264 + AAC file at the second keyframe (300 ms).
    const SPLIT_MS: i64 = 300;

    #[test]
    fn h264_aac_in_one_file() {
        let (video, audio, packets) = load_flv(H264_AAC_FLV);
        let (video, audio) = (video.unwrap(), audio.unwrap());
        assert_eq!((video.width, video.height), (176, 100));
        assert_eq!((audio.rate, audio.channels), (22050, 1));
        let v = of_track(&packets, VIDEO);
        let a = of_track(&packets, AUDIO);
        assert_eq!(v.iter().filter(|p| p.keyframe).count(), 2);
        assert!(v.iter().any(|p| p.keyframe && p.time == SPLIT_MS));
        let (v1, v2): (Vec<&Packet>, Vec<&Packet>) = v.iter().partition(|p| p.time < SPLIT_MS);
        let (a1, a2): (Vec<&Packet>, Vec<&Packet>) = a.iter().partition(|p| p.time < SPLIT_MS);
        let v_end = v2.last().unwrap().time + 100;

        let init = init_segment(&[&video, &audio]).unwrap();
        let seg1 = media_segment(
            1,
            &[
                FragmentTrack {
                    track: &video,
                    packets: &v1,
                    end_ms: SPLIT_MS,
                },
                FragmentTrack {
                    track: &audio,
                    packets: &a1,
                    end_ms: SPLIT_MS,
                },
            ],
            false,
        )
        .unwrap();
        let seg2 = media_segment(
            2,
            &[
                FragmentTrack {
                    track: &video,
                    packets: &v2,
                    end_ms: v_end,
                },
                // end_ms 0: the last duration repeats the one before.
                FragmentTrack {
                    track: &audio,
                    packets: &a2,
                    end_ms: 0,
                },
            ],
            false,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = write_temp(&dir, "both.mp4", &[&init, &seg1, &seg2]);
        let file = std::fs::read(&path).unwrap();

        assert!(check_tree(&file, 0, file.len()) > 30);
        let ftyp = find(&file, &[b"ftyp"])[0];
        assert_eq!(
            &file[ftyp.body..ftyp.end],
            b"isom\0\0\x02\0isomiso6mp41avc1"
        );
        assert_eq!(trexes(&init), [(VIDEO, 1), (AUDIO, 1)]);

        let json = ffprobe(&path);
        check_probe(
            &json,
            &[
                Expect {
                    codec: "h264",
                    size: (176, 100),
                    packets: v.clone(),
                    all_key: false,
                },
                Expect {
                    codec: "aac",
                    size: (22050, 1),
                    packets: a.clone(),
                    all_key: true,
                },
            ],
        );

        let reader = check_with_mp4_crate(&file, &[&video, &audio], 2);
        let avc1 = reader.moov.traks[0]
            .mdia
            .minf
            .stbl
            .stsd
            .avc1
            .as_ref()
            .unwrap();
        assert_eq!((avc1.width, avc1.height), (176, 100));
        let mp4a = reader.moov.traks[1]
            .mdia
            .minf
            .stbl
            .stsd
            .mp4a
            .as_ref()
            .unwrap();
        assert_eq!(mp4a.channelcount, 1);
        assert_eq!(mp4a.samplerate.value(), 22050);
        let es = &mp4a.esds.as_ref().unwrap().es_desc;
        assert_eq!(es.dec_config.object_type_indication, 0x40);
        assert_eq!(es.dec_config.stream_type, 5);

        let read = read_fragments(&file);
        assert_eq!(read.len(), 4);
        assert_eq!(
            read.iter()
                .map(|t| (t.sequence, t.track_id))
                .collect::<Vec<_>>(),
            [(1, VIDEO), (1, AUDIO), (2, VIDEO), (2, AUDIO)]
        );
        check_fragments(&read, &video, &[v1.clone(), v2.clone()]);
        check_fragments(&read, &audio, &[a1.clone(), a2.clone()]);
        // Fragment ends: video lasts to end_ms, audio repeats its previous duration.
        let last_v = read[2].samples.last().unwrap();
        assert_eq!(last_v.duration, 90 * 100);
        let last_a = &read[3].samples;
        assert_eq!(
            last_a[last_a.len() - 1].duration,
            last_a[last_a.len() - 2].duration
        );
        // The first fragment's last samples end where the second fragment starts.
        let v_first: u64 = read[0].samples.iter().map(|s| u64::from(s.duration)).sum();
        assert_eq!(read[0].base + v_first, read[2].base);
        let a_first: u64 = read[1].samples.iter().map(|s| u64::from(s.duration)).sum();
        assert_eq!(
            read[1].base + a_first,
            to_timescale(SPLIT_MS, 22050).unwrap() as u64
        );
        // Sample flags.
        for (s, p) in read[0].samples.iter().zip(&v1) {
            let want = if p.keyframe { 0x0200_0000 } else { 0x0101_0000 };
            assert_eq!(s.flags, want);
        }
        assert!(read[1].samples.iter().all(|s| s.flags == 0x0200_0000));
    }

    #[test]
    fn h264_aac_one_file_per_track() {
        let (video, audio, packets) = load_flv(H264_AAC_FLV);
        let (video, audio) = (video.unwrap(), audio.unwrap());
        let dir = tempfile::tempdir().unwrap();
        for (track, codec, size) in [(&video, "h264", (176, 100)), (&audio, "aac", (22050, 1))] {
            let all = of_track(&packets, track.id);
            let (p1, p2): (Vec<&Packet>, Vec<&Packet>) =
                all.iter().partition(|p| p.time < SPLIT_MS);
            let init = init_segment(&[track]).unwrap();
            let seg1 = media_segment(
                1,
                &[FragmentTrack {
                    track,
                    packets: &p1,
                    end_ms: SPLIT_MS,
                }],
                true,
            )
            .unwrap();
            let end = p2.last().unwrap().time + 50;
            let seg2 = media_segment(
                2,
                &[FragmentTrack {
                    track,
                    packets: &p2,
                    end_ms: end,
                }],
                true,
            )
            .unwrap();
            for seg in [&seg1, &seg2] {
                let styp = find(seg, &[b"styp"]);
                assert_eq!(&seg[styp[0].body..styp[0].end], b"msdh\0\0\0\0msdhcmfs");
            }
            let ftyp = find(&init, &[b"ftyp"])[0];
            let brands = &init[ftyp.body + 8..ftyp.end];
            assert!(
                brands.chunks(4).any(|b| b == b"cmfc"),
                "a one-track init is a CMAF header"
            );
            assert_eq!(trexes(&init), [(track.id, 1)]);

            let path = write_temp(&dir, &format!("{codec}.mp4"), &[&init, &seg1, &seg2]);
            let file = std::fs::read(&path).unwrap();
            check_tree(&file, 0, file.len());
            let json = ffprobe(&path);
            check_probe(
                &json,
                &[Expect {
                    codec,
                    size,
                    packets: all.clone(),
                    all_key: codec == "aac",
                }],
            );
            check_with_mp4_crate(&file, &[track], 2);
            check_fragments(&read_fragments(&file), track, &[p1, p2]);
        }
    }

    #[test]
    fn hevc_file() {
        let (video, audio, packets) = load_flv(HEVC_FLV);
        assert!(audio.is_none());
        let video = video.unwrap();
        assert_eq!(video.codec, Some(Codec::Hevc));
        let v = of_track(&packets, VIDEO);
        let summary: Vec<(i64, i32, bool)> =
            v.iter().map(|p| (p.time, p.offset, p.keyframe)).collect();
        assert_eq!(
            summary,
            [(0, 200, true), (100, 200, false), (200, 200, false)]
        );
        let init = init_segment(&[&video]).unwrap();
        let end = v.last().unwrap().time + 100;
        let seg = media_segment(
            7,
            &[FragmentTrack {
                track: &video,
                packets: &v,
                end_ms: end,
            }],
            true,
        )
        .unwrap();
        let ftyp = find(&init, &[b"ftyp"])[0];
        assert_eq!(
            &init[ftyp.body..ftyp.end],
            b"isom\0\0\x02\0isomiso6mp41cmfchvc1"
        );
        let stsd = find(
            &init,
            &[
                b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"hvc1",
            ],
        );
        assert_eq!(stsd.len(), 1);
        let hvcc = find(
            &init,
            &[
                b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"hvc1",
            ],
        )
        .iter()
        .flat_map(|b| boxes(&init, b.body + 78, b.end))
        .find(|b| &b.kind == b"hvcC")
        .unwrap();
        assert_eq!(&init[hvcc.body..hvcc.end], &video.init[..]);

        let dir = tempfile::tempdir().unwrap();
        let path = write_temp(&dir, "hevc.mp4", &[&init, &seg]);
        let file = std::fs::read(&path).unwrap();
        check_tree(&file, 0, file.len());
        let json = ffprobe(&path);
        check_probe(
            &json,
            &[Expect {
                codec: "hevc",
                size: (u64::from(video.width), u64::from(video.height)),
                packets: v.clone(),
                all_key: false,
            }],
        );
        assert_eq!(json["streams"][0]["codec_tag_string"], "hvc1");
        let read = read_fragments(&file);
        assert_eq!(read[0].sequence, 7);
        check_fragments(&read, &video, &[v]);
        // The mp4 crate does not know hvc1 but reads the structure.
        let reader =
            ::mp4::Mp4Reader::read_header(std::io::Cursor::new(&file[..]), file.len() as u64)
                .unwrap();
        assert_eq!(reader.moofs.len(), 1);
        assert_eq!(reader.moov.mvex.as_ref().unwrap().trex.track_id, VIDEO);
    }

    #[test]
    fn mp3_file() {
        let (track, packets) = load_mp3();
        assert_eq!((track.rate, track.channels), (22050, 1));
        let all: Vec<&Packet> = packets.iter().collect();
        assert!(all.len() > 4);
        let (p1, p2) = all.split_at(all.len() / 2);
        let init = init_segment(&[&track]).unwrap();
        let seg1 = media_segment(
            1,
            &[FragmentTrack {
                track: &track,
                packets: p1,
                end_ms: p2[0].time,
            }],
            false,
        )
        .unwrap();
        // end_ms before the last frame: it lasts as long as the one before.
        let seg2 = media_segment(
            2,
            &[FragmentTrack {
                track: &track,
                packets: p2,
                end_ms: -1,
            }],
            false,
        )
        .unwrap();
        let esds = find(
            &init,
            &[
                b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"mp4a",
            ],
        )
        .iter()
        .flat_map(|b| boxes(&init, b.body + 28, b.end))
        .find(|b| &b.kind == b"esds")
        .unwrap();
        // ES_Descriptor (3), DecoderConfigDescriptor (4) with OTI 0x6B, no DecoderSpecificInfo.
        assert_eq!(
            &init[esds.body + 4..esds.end],
            [3, 21, 0, 0, 0, 4, 13, 0x6B, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 1, 2]
        );
        let dir = tempfile::tempdir().unwrap();
        let path = write_temp(&dir, "mp3.mp4", &[&init, &seg1, &seg2]);
        let file = std::fs::read(&path).unwrap();
        check_tree(&file, 0, file.len());
        check_probe(
            &ffprobe(&path),
            &[Expect {
                codec: "mp3",
                size: (22050, 1),
                packets: all.clone(),
                all_key: true,
            }],
        );
        let read = read_fragments(&file);
        check_fragments(&read, &track, &[p1.to_vec(), p2.to_vec()]);
        // Millisecond times: 576 samples = 26.1 ms, so durations are 576 give or take 1 ms.
        assert!(read[1]
            .samples
            .iter()
            .all(|s| (576 - 23..=576 + 23).contains(&s.duration)));
        let last_two = &read[1].samples[read[1].samples.len() - 2..];
        assert_eq!(last_two[0].duration, last_two[1].duration);
        // A lone frame lasts one frame: MPEG-2 Layer III has 576 samples per frame.
        let lone = media_segment(
            3,
            &[FragmentTrack {
                track: &track,
                packets: &all[1..2],
                end_ms: 0,
            }],
            false,
        )
        .unwrap();
        assert_eq!(read_fragments(&lone)[0].samples[0].duration, 576);
    }

    // ---- boxes and fields ---------------------------------------------------------------

    #[test]
    fn init_segment_layout() {
        let (video, audio) = (video_track(), audio_track());
        let init = init_segment(&[&video, &audio]).unwrap();
        let kinds = |path: &[&[u8; 4]]| -> Vec<String> {
            find(&init, path)
                .iter()
                .flat_map(|b| boxes(&init, b.body + child_offset(&b.kind).unwrap(), b.end))
                .map(|b| String::from_utf8_lossy(&b.kind).into_owned())
                .collect()
        };
        assert_eq!(kinds(&[b"moov"]), ["mvhd", "trak", "trak", "mvex"]);
        assert_eq!(kinds(&[b"moov", b"trak"]), ["tkhd", "mdia", "tkhd", "mdia"]);
        assert_eq!(
            kinds(&[b"moov", b"trak", b"mdia", b"minf"]),
            ["vmhd", "dinf", "stbl", "smhd", "dinf", "stbl"]
        );
        assert_eq!(
            kinds(&[b"moov", b"trak", b"mdia", b"minf", b"stbl"]),
            ["stsd", "stts", "stsc", "stsz", "stco", "stsd", "stts", "stsc", "stsz", "stco"]
        );
        assert_eq!(
            kinds(&[b"moov", b"trak", b"mdia", b"minf", b"dinf", b"dref"]),
            ["url ", "url "]
        );
        let url = find(
            &init,
            &[
                b"moov", b"trak", b"mdia", b"minf", b"dinf", b"dref", b"url ",
            ],
        );
        assert!(url
            .iter()
            .all(|b| b.end - b.start == 12 && be32(&init, b.body) == 1));
        // mvhd: version 0, timescale 1000, duration 0, next_track_ID 3.
        let mvhd = find(&init, &[b"moov", b"mvhd"])[0];
        assert_eq!(mvhd.end - mvhd.start, 108);
        assert_eq!(be32(&init, mvhd.body + 12), 1000);
        assert_eq!(be32(&init, mvhd.body + 16), 0);
        assert_eq!(be32(&init, mvhd.end - 4), 3);
        // tkhd: flags 7, ids, volume, 16.16 sizes.
        let tkhd = find(&init, &[b"moov", b"trak", b"tkhd"]);
        assert_eq!(be32(&init, tkhd[0].body), 7);
        assert_eq!(be32(&init, tkhd[0].body + 12), VIDEO);
        assert_eq!(be32(&init, tkhd[1].body + 12), AUDIO);
        assert_eq!(be32(&init, tkhd[0].end - 8), 176 << 16);
        assert_eq!(be32(&init, tkhd[0].end - 4), 100 << 16);
        assert_eq!(&init[tkhd[0].body + 36..tkhd[0].body + 38], [0, 0]);
        assert_eq!(&init[tkhd[1].body + 36..tkhd[1].body + 38], [1, 0]);
        // mdhd: timescales and "und".
        let mdhd = find(&init, &[b"moov", b"trak", b"mdia", b"mdhd"]);
        assert_eq!(be32(&init, mdhd[0].body + 12), 90_000);
        assert_eq!(be32(&init, mdhd[1].body + 12), 22_050);
        assert_eq!(&init[mdhd[0].body + 20..mdhd[0].body + 22], [0x55, 0xC4]);
        // avcC is the track's init; the AAC esds carries the ASC.
        let avc1 = find(
            &init,
            &[
                b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1",
            ],
        );
        let avcc = boxes(&init, avc1[0].body + 78, avc1[0].end)[0];
        assert_eq!(&avcc.kind, b"avcC");
        assert_eq!(&init[avcc.body..avcc.end], &video.init[..]);
        let mp4a = find(
            &init,
            &[
                b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"mp4a",
            ],
        );
        let entry = &init[mp4a[0].body..mp4a[0].body + 28];
        assert_eq!(&entry[16..18], [0, 1], "channelcount");
        assert_eq!(&entry[18..20], [0, 16], "samplesize");
        assert_eq!(&entry[24..28], (22050u32 << 16).to_be_bytes());
        let esds = boxes(&init, mp4a[0].body + 28, mp4a[0].end)[0];
        assert_eq!(&esds.kind, b"esds");
        let mut want = vec![
            3, 28, 0, 0, 0, 4, 20, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        want.extend_from_slice(&[5, 5, 0x13, 0x88, 0x56, 0xE5, 0x00, 6, 1, 2]);
        assert_eq!(audio.init[..], [0x13, 0x88, 0x56, 0xE5, 0x00]);
        assert_eq!(&init[esds.body + 4..esds.end], &want[..]);
    }

    #[test]
    fn box_sizes_match_everywhere() {
        let (video, audio, packets) = load_flv(H264_AAC_FLV);
        let (video, audio) = (video.unwrap(), audio.unwrap());
        let (hevc, _, _) = load_flv(HEVC_FLV);
        let (mut mp3_track, _) = load_mp3();
        mp3_track.id = 3;
        for tracks in [
            vec![&video, &audio],
            vec![&video],
            vec![&audio],
            vec![hevc.as_ref().unwrap()],
            vec![&mp3_track],
            vec![&audio, &video, &mp3_track],
        ] {
            let init = init_segment(&tracks).unwrap();
            assert!(check_tree(&init, 0, init.len()) >= 3);
        }
        let v = of_track(&packets, VIDEO);
        let a = of_track(&packets, AUDIO);
        for with_styp in [false, true] {
            let seg = media_segment(
                3,
                &[
                    FragmentTrack {
                        track: &audio,
                        packets: &a,
                        end_ms: 1000,
                    },
                    FragmentTrack {
                        track: &video,
                        packets: &v,
                        end_ms: 1000,
                    },
                ],
                with_styp,
            )
            .unwrap();
            let n = check_tree(&seg, 0, seg.len());
            assert_eq!(n, usize::from(with_styp) + 1 + 1 + 2 * 4 + 1);
            let read = read_fragments(&seg);
            assert_eq!(read[0].track_id, AUDIO);
            assert_eq!(read[1].track_id, VIDEO);
            if with_styp {
                // Two tracks: not a CMAF segment.
                let styp = find(&seg, &[b"styp"])[0];
                assert_eq!(&seg[styp.body..styp.end], b"msdh\0\0\0\0msdh");
            }
        }
    }

    #[test]
    fn timescales() {
        let mut track = audio_track();
        assert_eq!(timescale(&track), 22050);
        track.rate = 0;
        assert_eq!(timescale(&track), 48000);
        assert_eq!(timescale(&video_track()), 90000);
        assert_eq!(timescale(&Track::default()), 1000);
        assert_eq!(to_timescale(154, 22050), Ok(3396)); // 3395.7
        assert_eq!(to_timescale(-1, 90000), Ok(-90));
        assert_eq!(to_timescale(1, 1000), Ok(1));
        assert_eq!(
            to_timescale(i64::MAX, 90000),
            Err(Mp4Error::BadTime(i64::MAX))
        );
    }

    #[test]
    fn durations_do_not_drift() {
        // 44100 Hz AAC at millisecond times: frames of 1024 samples are 23.22 ms apart.
        let mut track = audio_track();
        track.rate = 44100;
        let packets: Vec<Packet> = (0..1000i64)
            .map(|i| packet(AUDIO, i * 1024 * 1000 / 44100 + 5000, false))
            .collect();
        let refs: Vec<&Packet> = packets.iter().collect();
        let end = 1000 * 1024 * 1000 / 44100 + 5000;
        let seg = media_segment(
            1,
            &[FragmentTrack {
                track: &track,
                packets: &refs,
                end_ms: end,
            }],
            false,
        )
        .unwrap();
        let read = read_fragments(&seg);
        let total: u64 = read[0].samples.iter().map(|s| u64::from(s.duration)).sum();
        assert_eq!(read[0].base, 5000 * 441 / 10);
        assert_eq!(
            read[0].base + total,
            u64::try_from(to_timescale(end, 44100).unwrap()).unwrap()
        );
        assert!(read[0]
            .samples
            .iter()
            .all(|s| (1014..=1059).contains(&s.duration)));
    }

    #[test]
    fn last_sample_durations() {
        let video = video_track();
        let audio = audio_track();
        let one = |track: &Track, p: &Packet, end_ms: i64| -> u32 {
            let refs = [p];
            let seg = media_segment(
                1,
                &[FragmentTrack {
                    track,
                    packets: &refs,
                    end_ms,
                }],
                false,
            )
            .unwrap();
            read_fragments(&seg)[0].samples[0].duration
        };
        let v = packet(VIDEO, 1000, true);
        assert_eq!(one(&video, &v, 1100), 9000);
        // 10 fps from the SPS: 100 ms.
        assert_eq!(one(&video, &v, 1000), 9000);
        let mut no_rate = video.clone();
        no_rate.fpks = 0;
        assert_eq!(one(&no_rate, &v, 0), 3600);
        let a = packet(AUDIO, 1000, false);
        assert_eq!(one(&audio, &a, 900), 1024);
        let mut mp3_track = audio.clone();
        mp3_track.codec = Some(Codec::Mp3);
        mp3_track.init = Bytes::new();
        // Not an MP3 header: MPEG-1 Layer III's 1152.
        assert_eq!(one(&mp3_track, &a, 1000), 1152);
        // Two samples, no usable end: the last repeats the first's duration.
        let pair = [&v, &packet(VIDEO, 1040, false)];
        let seg = media_segment(
            1,
            &[FragmentTrack {
                track: &video,
                packets: &pair,
                end_ms: 0,
            }],
            false,
        )
        .unwrap();
        let read = read_fragments(&seg);
        assert_eq!(read[0].samples[0].duration, 3600);
        assert_eq!(read[0].samples[1].duration, 3600);
        assert_eq!(read[0].samples[1].flags, SAMPLE_NON_SYNC);
    }

    #[test]
    fn negative_composition_offsets() {
        let video = video_track();
        let mut p = packet(VIDEO, 1000, true);
        p.offset = -40;
        let refs = [&p];
        let seg = media_segment(
            1,
            &[FragmentTrack {
                track: &video,
                packets: &refs,
                end_ms: 1040,
            }],
            false,
        )
        .unwrap();
        assert_eq!(read_fragments(&seg)[0].samples[0].composition_offset, -3600);
    }

    // ---- malformed input ----------------------------------------------------------------

    #[test]
    fn unsupported_codecs() {
        for codec in [Some(Codec::Av1), Some(Codec::Vp9), Some(Codec::Amf), None] {
            let track = Track {
                id: 5,
                codec,
                init: Bytes::from_static(b"\x01\x02\x03"),
                ..Track::default()
            };
            assert!(matches!(
                init_segment(&[&track]),
                Err(Mp4Error::Unsupported(_))
            ));
            assert!(matches!(
                init_segment(&[&video_track(), &track]),
                Err(Mp4Error::Unsupported(_))
            ));
            let p = packet(5, 0, true);
            let refs = [&p];
            assert!(matches!(
                media_segment(
                    1,
                    &[FragmentTrack {
                        track: &track,
                        packets: &refs,
                        end_ms: 40
                    }],
                    true
                ),
                Err(Mp4Error::Unsupported(_))
            ));
        }
    }

    #[test]
    fn bad_tracks() {
        let video = video_track();
        assert_eq!(init_segment(&[]), Err(Mp4Error::Invalid("no tracks")));
        let mut zero = video.clone();
        zero.id = 0;
        assert_eq!(init_segment(&[&zero]), Err(Mp4Error::Invalid("track id 0")));
        assert_eq!(
            init_segment(&[&video, &video]),
            Err(Mp4Error::Invalid("duplicate track id"))
        );
        let mut broken = video.clone();
        broken.init = Bytes::from_static(&[1, 2]);
        assert_eq!(init_segment(&[&broken]), Err(Mp4Error::Invalid("bad avcC")));
        broken.codec = Some(Codec::Hevc);
        assert_eq!(init_segment(&[&broken]), Err(Mp4Error::Invalid("bad hvcC")));
        broken.codec = Some(Codec::Aac);
        broken.init = Bytes::new();
        assert_eq!(
            init_segment(&[&broken]),
            Err(Mp4Error::Invalid("bad AudioSpecificConfig"))
        );
        let mut wide = video.clone();
        wide.width = 70_000;
        assert!(matches!(init_segment(&[&wide]), Err(Mp4Error::Invalid(_))));
        // An MP3 track needs no init; unknown channels and rates fall back.
        let mp3_track = Track {
            id: 4,
            codec: Some(Codec::Mp3),
            ..Track::default()
        };
        assert!(init_segment(&[&mp3_track]).is_ok());
        // A rate above 16 bits is written as 0 in the sample entry, kept in mdhd.
        let mut fast = audio_track();
        fast.rate = 96_000;
        let init = init_segment(&[&fast]).unwrap();
        let mdhd = find(&init, &[b"moov", b"trak", b"mdia", b"mdhd"])[0];
        assert_eq!(be32(&init, mdhd.body + 12), 96_000);
    }

    #[test]
    fn bad_fragments() {
        let video = video_track();
        let audio = audio_track();
        let empty: [&Packet; 0] = [];
        assert_eq!(
            media_segment(1, &[], false),
            Err(Mp4Error::Invalid("no samples in the segment"))
        );
        assert_eq!(
            media_segment(
                1,
                &[FragmentTrack {
                    track: &video,
                    packets: &empty,
                    end_ms: 0
                }],
                false
            ),
            Err(Mp4Error::Invalid("no samples in the segment"))
        );
        // An empty track beside a non-empty one is left out.
        let a = packet(AUDIO, 0, false);
        let seg = media_segment(
            1,
            &[
                FragmentTrack {
                    track: &video,
                    packets: &empty,
                    end_ms: 0,
                },
                FragmentTrack {
                    track: &audio,
                    packets: &[&a],
                    end_ms: 0,
                },
            ],
            false,
        )
        .unwrap();
        assert_eq!(read_fragments(&seg).len(), 1);
        // Negative decode times.
        let neg = packet(VIDEO, -5, true);
        assert_eq!(
            media_segment(
                1,
                &[FragmentTrack {
                    track: &video,
                    packets: &[&neg],
                    end_ms: 0
                }],
                false
            ),
            Err(Mp4Error::BadTime(-5))
        );
        // Decode times going backwards.
        let (p1, p2) = (packet(VIDEO, 100, true), packet(VIDEO, 60, false));
        assert_eq!(
            media_segment(
                1,
                &[FragmentTrack {
                    track: &video,
                    packets: &[&p1, &p2],
                    end_ms: 0
                }],
                false
            ),
            Err(Mp4Error::BadTime(60))
        );
        // Huge times and offsets.
        let far = packet(VIDEO, i64::MAX, true);
        assert!(matches!(
            media_segment(
                1,
                &[FragmentTrack {
                    track: &video,
                    packets: &[&far],
                    end_ms: 0
                }],
                false
            ),
            Err(Mp4Error::BadTime(_))
        ));
        let mut skewed = packet(VIDEO, 0, true);
        skewed.offset = i32::MAX;
        assert!(matches!(
            media_segment(
                1,
                &[FragmentTrack {
                    track: &video,
                    packets: &[&skewed],
                    end_ms: 0
                }],
                false
            ),
            Err(Mp4Error::BadTime(_))
        ));
        let (q1, q2) = (packet(VIDEO, 0, true), packet(VIDEO, 100_000_000, false));
        assert!(matches!(
            media_segment(
                1,
                &[FragmentTrack {
                    track: &video,
                    packets: &[&q1, &q2],
                    end_ms: 0
                }],
                false
            ),
            Err(Mp4Error::BadTime(100_000_000))
        ));
        // Packets of another track, repeated tracks.
        let stray = packet(AUDIO, 0, true);
        assert_eq!(
            media_segment(
                1,
                &[FragmentTrack {
                    track: &video,
                    packets: &[&stray],
                    end_ms: 0
                }],
                false
            ),
            Err(Mp4Error::Invalid("packet of another track in a fragment"))
        );
        let ok = packet(VIDEO, 0, true);
        assert_eq!(
            media_segment(
                1,
                &[
                    FragmentTrack {
                        track: &video,
                        packets: &[&ok],
                        end_ms: 0
                    },
                    FragmentTrack {
                        track: &video,
                        packets: &[&ok],
                        end_ms: 0
                    },
                ],
                false
            ),
            Err(Mp4Error::Invalid("duplicate track id"))
        );
    }

    #[test]
    fn size_guards() {
        // Box sizes: 32 bits including the header.
        assert_eq!(box_size(8, u64::from(u32::MAX) - 8), Ok(u32::MAX));
        assert_eq!(
            box_size(8, u64::from(u32::MAX) - 7),
            Err(Mp4Error::TooLarge)
        );
        assert_eq!(box_size(12, u64::MAX), Err(Mp4Error::TooLarge));
        // mdat: 4 GiB of samples do not fit.
        let gib = 1u64 << 30;
        assert_eq!(plan_mdat(100, &[2 * gib, 2 * gib]), Err(Mp4Error::TooLarge));
        assert_eq!(plan_mdat(100, &[u64::MAX, 1]), Err(Mp4Error::TooLarge));
        // A data_offset past i32::MAX does not fit even when the mdat would.
        assert_eq!(plan_mdat(100, &[3 * gib, 1]), Err(Mp4Error::TooLarge));
        assert_eq!(
            plan_mdat(100, &[3 * gib]),
            Ok((vec![108], 3 * 1024 * 1024 * 1024 + 8))
        );
        assert_eq!(plan_mdat(100, &[10, 20, 0]), Ok((vec![108, 118, 138], 38)));
        // Descriptors: 28-bit lengths.
        assert_eq!(descriptor(5, &[]), Ok(vec![5, 0]));
        assert_eq!(descriptor(5, &[7; 200]).unwrap()[..3], [5, 0x81, 0x48]);
        // A box body that overflows 32 bits is refused by the writer's size check.
        let mut w = Writer::default();
        assert_eq!(
            w.boxed(b"free", |_| Err(Mp4Error::TooLarge)),
            Err(Mp4Error::TooLarge)
        );
        assert_eq!(w.patch_u32(usize::MAX - 1, 0), Err(Mp4Error::TooLarge));
        assert!(w.patch_u32(100, 0).is_err());
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = XorShift(0x5EED_1234_ABCD_0001);
        let codecs = [
            Some(Codec::H264),
            Some(Codec::Hevc),
            Some(Codec::Aac),
            Some(Codec::Mp3),
            Some(Codec::Av1),
            None,
        ];
        for _ in 0..3000 {
            let track = Track {
                id: (rng.next_u64() % 4) as u32,
                codec: codecs[(rng.next_u64() % codecs.len() as u64) as usize],
                init: Bytes::from(rng.bytes(40)),
                width: (rng.next_u64() % 70_000) as u32,
                height: (rng.next_u64() % 70_000) as u32,
                rate: (rng.next_u64() % 200_000) as u32,
                channels: (rng.next_u64() % 70_000) as u32,
                fpks: ((rng.next_u64() % 3) as u32).wrapping_mul(rng.next_u64() as u32),
                bps: rng.next_u64() >> (rng.next_u64() % 64),
                ..Track::default()
            };
            let _ = init_segment(&[&track]);
            let packets: Vec<Packet> = (0..rng.next_u64() % 6)
                .map(|_| Packet {
                    track: track.id,
                    time: (rng.next_u64() as i64) >> (rng.next_u64() % 64),
                    offset: (rng.next_u64() as i32) >> (rng.next_u64() % 32),
                    keyframe: rng.next_u64() % 2 == 0,
                    data: Bytes::from(rng.bytes(8)),
                })
                .collect();
            let refs: Vec<&Packet> = packets.iter().collect();
            let end_ms = (rng.next_u64() as i64) >> (rng.next_u64() % 64);
            if let Ok(seg) = media_segment(
                rng.next_u64() as u32,
                &[FragmentTrack {
                    track: &track,
                    packets: &refs,
                    end_ms,
                }],
                rng.next_u64() % 2 == 0,
            ) {
                check_tree(&seg, 0, seg.len());
                assert_eq!(read_fragments(&seg)[0].samples.len(), refs.len());
            }
        }
    }
}
