//! Fragmented MP4 (CMAF) writer: an init segment (`ftyp` + `moov`) per set of tracks and media
//! segments (`[styp] moof mdat`) per fragment, for progressive fragmented MP4, DASH and HLS
//! (fMP4) outputs, and whole fragmented files for recordings.
//!
//! - [`boxes`]: the box writer, box sizes and MPEG-4 descriptors;
//! - [`init`]: the init segment, `trak` and the sample entries;
//! - [`fragment`]: [`FragmentTrack`] and the media segments (also as a head plus the samples'
//!   own buffers, [`media_segment_parts`]);
//! - `record`: a recorded file (`mehd`, one fragment per GOP, `mfra`), for [`super::record`].
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
//!   [`Packet::data`](super::Packet::data) already holds them.
//! - ISO/IEC 14496-14 (MP4 file format): the `mp4a` sample entry with `esds`, an ES_Descriptor
//!   (ISO/IEC 14496-1 7.2.6.5) with a DecoderConfigDescriptor (7.2.6.6: objectTypeIndication
//!   0x40 for MPEG-4 Audio / AAC with the AudioSpecificConfig as DecoderSpecificInfo, 7.2.6.7;
//!   0x6B for MPEG-1 Audio / MP3, without one; streamType 5, audio) and an SLConfigDescriptor
//!   (7.2.6.8, predefined 2 as MP4 files use).
//! - ETSI TS 102 366 Annex F: the `ac-3` AudioSampleEntry (F.3) with its `dac3` box (F.4),
//!   the track's init when it holds one, else made from its rate, channels and bit rate.
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
//!   whatever [`Packet::keyframe`](super::Packet::keyframe) says; video samples are sync samples when `keyframe` is set.
//! - Sizes are 32-bit (no `largesize`, no `co64`); anything larger is [`Mp4Error::TooLarge`].
//!
//! Nothing here panics on input: every size, offset and time is converted with checks.

pub mod boxes;
pub mod fragment;
pub mod init;
pub mod progressive;
pub(in crate::media) mod record;

#[cfg(test)]
mod tests;

use super::{Codec, Track, TrackKind};

pub use fragment::{media_segment, media_segment_parts, FragmentTrack, SegmentParts};
pub use init::init_segment;
pub use progressive::{PlacedSample, ProgressiveMp4};

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

/// Whether MP4 (fragmented or not) carries `codec` here.
pub fn carries(codec: Codec) -> bool {
    matches!(
        codec,
        Codec::H264 | Codec::Hevc | Codec::Aac | Codec::Mp3 | Codec::Ac3
    )
}

/// The codec of a track that MP4 can carry here (H.264, HEVC, AAC, MP3, AC-3).
fn supported_codec(track: &Track) -> Result<Codec, Mp4Error> {
    match track.codec {
        Some(c) if carries(c) => Ok(c),
        Some(c) => Err(Mp4Error::Unsupported(format!(
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
