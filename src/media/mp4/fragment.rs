//! Media segments: `[styp] moof mdat`, one `traf` per track.
//!
//! - ISO/IEC 14496-12: 8.16.2 `styp`; 8.8.4 `moof`, 8.8.5 `mfhd`, 8.8.6 `traf`, 8.8.7 `tfhd`,
//!   8.8.12 `tfdt`, 8.8.8 `trun` (version 1: signed composition offsets); 8.1.1 `mdat`; 8.8.3.1
//!   sample flags.
//! - ISO/IEC 23000-19 (CMAF) `cmfs`, ISO/IEC 23009-1 (DASH) `msdh`.
//!
//! The samples are never copied by [`media_segment_parts`]: it returns the boxes up to the
//! `mdat` header as one buffer and the packets' own `Bytes` after it.

use bytes::{BufMut, Bytes, BytesMut};

use super::super::{mp3, Codec, Packet, Track, TrackKind};
use super::boxes::{box_size, Writer, BOX_HEADER_LEN};
use super::{check_ids, supported_codec, timescale, to_timescale, Mp4Error, VIDEO_TIMESCALE};

/// `tfhd` flags: default-base-is-moof.
pub(super) const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x0002_0000;
/// `trun` flags: data-offset, sample-duration, sample-size, sample-flags and
/// sample-composition-time-offsets present.
pub(super) const TRUN_FLAGS: u32 =
    0x0000_0001 | 0x0000_0100 | 0x0000_0200 | 0x0000_0400 | 0x0000_0800;
/// Sample flags (8.8.3.1) of a sync sample: sample_depends_on 2 (does not depend on others),
/// sample_is_non_sync_sample 0.
pub(super) const SAMPLE_SYNC: u32 = 2 << 24;
/// Sample flags of a non-sync sample: sample_depends_on 1, sample_is_non_sync_sample 1.
pub(super) const SAMPLE_NON_SYNC: u32 = (1 << 24) | (1 << 16);
/// Default video frame duration when nothing else is known: 40 ms.
const DEFAULT_FRAME_MS: i64 = 40;
/// Samples per AAC frame (AAC LC; the MP4 timescale is the core sample rate).
const AAC_FRAME_SAMPLES: u32 = 1024;
/// Samples per MPEG-1 Layer III frame (MPEG-2/2.5 frames, 576, are read from the header).
const MP3_FRAME_SAMPLES: u32 = 1152;

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
pub(super) struct Sample {
    pub(super) duration: u32,
    pub(super) size: u32,
    pub(super) flags: u32,
    pub(super) composition_offset: i32,
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
pub(super) fn plan_mdat(moof_len: u64, payload_lens: &[u64]) -> Result<(Vec<i32>, u32), Mp4Error> {
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
    media_segment_parts(sequence, tracks, with_styp).map(|parts| parts.to_bytes())
}

/// A media segment in pieces: the boxes up to and including the `mdat` header, then the
/// sample payloads, which are the packets' own buffers (shared, never copied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentParts {
    /// `[styp] moof` and the 8-byte `mdat` header.
    pub head: Bytes,
    /// The `mdat` content, sample by sample in `traf` order.
    pub samples: Vec<Bytes>,
}

impl SegmentParts {
    /// Bytes of the whole segment.
    pub fn len(&self) -> usize {
        self.samples
            .iter()
            .fold(self.head.len(), |n, s| n.saturating_add(s.len()))
    }

    /// Never true for a segment [`media_segment_parts`] made (it has at least its `moof`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The head, then the samples: the pieces to write one after the other.
    pub fn into_pieces(self) -> Vec<Bytes> {
        let mut pieces = Vec::with_capacity(self.samples.len() + 1);
        pieces.push(self.head);
        pieces.extend(self.samples);
        pieces
    }

    /// The segment as one contiguous buffer (copies the samples).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.len());
        out.put_slice(&self.head);
        for sample in &self.samples {
            out.put_slice(sample);
        }
        out.freeze()
    }
}

/// [`media_segment`] without copying the samples: the same bytes, as a [`SegmentParts`] whose
/// `head` is followed by the packets' own `data`.
///
/// # Errors
///
/// As [`media_segment`].
pub fn media_segment_parts(
    sequence: u32,
    tracks: &[FragmentTrack<'_>],
    with_styp: bool,
) -> Result<SegmentParts, Mp4Error> {
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
    w.u32(mdat_size);
    w.bytes(b"mdat");
    let samples = plans
        .iter()
        .flat_map(|plan| plan.packets.iter().map(|packet| packet.data.clone()))
        .collect();
    Ok(SegmentParts {
        head: Bytes::from(w.buf),
        samples,
    })
}
