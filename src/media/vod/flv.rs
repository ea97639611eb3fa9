//! FLV files for the on-demand index: the tags walked once with [`crate::media::flv`]'s tag
//! reader, their bodies given to the [`FlvDepacketizer`] RTMP ingest uses (legacy and Enhanced
//! RTMP video: H.264, HEVC, AV1, VP9; AAC and MP3 audio).
//!
//! - A tag's body holds the packet as [`Packet::data`](super::Packet) wants it after a few
//!   header bytes (E.4.2 / E.4.3 of the FLV specification: the audio byte and AACPacketType, the
//!   video byte, AVCPacketType and composition time, or the Enhanced RTMP header and FourCC), so
//!   an entry's `pos` is where the payload starts inside the body and `raw_len == size` is its
//!   length: [`packet`](super::packet) slices it as it is. H.264 and HEVC frames are
//!   length-prefixed NAL units in the avcC / hvcC's length size; a track whose length size is
//!   not 4 (what Eddy's packets use) is left out and named in [`Index::skipped`].
//! - Sequence headers give the tracks (the first one of each kind stands for the file); tags of
//!   codecs Eddy cannot carry are named in [`Index::skipped`]. `onMetaData` only fills in what
//!   the tracks do not say: the frame rate (through the depacketizer) and the picture size of
//!   codecs whose configuration has none (AV1, VP9).
//! - Times are the tags' timestamps (ms), composition offsets the video tags' CompositionTime.
//!   Keyframes are the video tags' frame type; every audio frame is a keyframe.
//! - Tracks: video first, then audio, numbered from 1; `source_ids` holds the tag type (9 video,
//!   8 audio).
//! - A tag cut short by the end of the file ends the index there (a recording that was stopped
//!   abruptly plays up to its last whole tag); a damaged tag header before the end (unknown tag
//!   type, reserved or filter bits) is an error. PreviousTagSize is not checked: it repeats
//!   DataSize, which the walk follows.

use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom};

use bytes::Bytes;

use super::super::amf0::{self, Amf0Value};
use super::super::flv::{
    self, parse_audio_body, parse_video_body, FlvDepacketizer, FlvError, TAG_AUDIO, TAG_SCRIPT,
    TAG_VIDEO,
};
use super::super::{h264, hevc, Codec, Track};
use super::{Container, Index, IndexEntry, VodError};

/// Read buffer while scanning.
const CHUNK: usize = 1 << 20;

/// Indexes a whole file.
pub fn scan<R: Read + Seek>(reader: &mut R, len: u64) -> Result<Index, VodError> {
    reader.seek(SeekFrom::Start(0))?;
    let mut input = BufReader::with_capacity(CHUNK, (&mut *reader).take(len));
    let mut pos = read_file_header(&mut input, len)?;
    let mut scan = Scan::default();
    let mut head = [0u8; flv::TAG_HEADER_LEN];
    while len.saturating_sub(pos) >= (flv::TAG_HEADER_LEN + flv::PREV_SIZE_LEN) as u64 {
        input.read_exact(&mut head).map_err(cut)?;
        let data_size = head[1..4]
            .iter()
            .fold(0u64, |n, &b| (n << 8) | u64::from(b));
        let total = (flv::TAG_HEADER_LEN + flv::PREV_SIZE_LEN) as u64 + data_size;
        if pos + total > len {
            break; // cut short by the end of the file
        }
        // At most 2^24 + 15 bytes (DataSize is 24 bits), and within the file.
        let mut tag = vec![0u8; total as usize];
        tag[..flv::TAG_HEADER_LEN].copy_from_slice(&head);
        input
            .read_exact(&mut tag[flv::TAG_HEADER_LEN..])
            .map_err(cut)?;
        // PreviousTagSize only repeats what DataSize said, and the walk follows DataSize: a
        // damaged one (0 is what parse_tag accepts without comparing) does not stop playback.
        let prev = tag.len() - flv::PREV_SIZE_LEN;
        tag[prev..].fill(0);
        let (header, body, _) = flv::parse_tag(&tag)
            .map_err(|e| VodError::malformed(Container::Flv, format!("tag at byte {pos}: {e}")))?;
        let body_pos = pos + body.start as u64;
        let body = Bytes::from(tag).slice(body);
        scan.tag(&header, &body, body_pos);
        pos += total;
    }
    Ok(scan.into_index())
}

/// Reads the file header (honouring a DataOffset past 9) and PreviousTagSize0; returns where the
/// first tag starts.
fn read_file_header<R: Read>(input: &mut R, len: u64) -> Result<u64, VodError> {
    let bad = |reason: String| VodError::malformed(Container::Flv, reason);
    let mut buf = vec![0u8; flv::FILE_HEADER_LEN + flv::PREV_SIZE_LEN];
    if len < buf.len() as u64 {
        return Err(bad("shorter than the FLV header".into()));
    }
    input.read_exact(&mut buf).map_err(cut)?;
    loop {
        match flv::parse_file_header(&buf) {
            Ok((_, _, first_tag)) => return Ok(first_tag as u64),
            // A longer header: DataOffset is checked to be at most 16 MiB.
            Err(FlvError::Incomplete { needed }) if (buf.len() + needed) as u64 <= len => {
                let have = buf.len();
                buf.resize(have + needed, 0);
                input.read_exact(&mut buf[have..]).map_err(cut)?;
            }
            Err(FlvError::Incomplete { .. }) => {
                return Err(bad("the header runs past the end of the file".into()))
            }
            Err(e) => return Err(bad(e.to_string())),
        }
    }
}

/// What the walk over the tags has found.
#[derive(Default)]
struct Scan {
    depacketizer: FlvDepacketizer,
    video: Option<Track>,
    audio: Option<Track>,
    /// Entries with the depacketizer's track ids (video 1, audio 2).
    entries: Vec<IndexEntry>,
    /// Codecs of tags that could not be carried, per kind.
    unsupported_video: Option<String>,
    unsupported_audio: Option<String>,
    /// `width` and `height` from onMetaData.
    meta_size: Option<(u32, u32)>,
}

impl Scan {
    fn tag(&mut self, header: &flv::TagHeader, body: &Bytes, body_pos: u64) {
        if header.tag_type == TAG_SCRIPT {
            if let Ok(values) = amf0::decode_all(body) {
                self.metadata(&values);
            }
            return;
        }
        let out = self.depacketizer.tag(header, body);
        if let Some(track) = out.track {
            let slot = if header.tag_type == TAG_VIDEO {
                &mut self.video
            } else {
                &mut self.audio
            };
            slot.get_or_insert(track);
        }
        if out.warning.is_some() {
            self.note_unsupported(header.tag_type, body);
        }
        let Some(packet) = out.packet else {
            return;
        };
        // The payload is the end of the body: its place in the file follows.
        let skip = body.len().saturating_sub(packet.data.len());
        let is_suffix = body.get(skip..).map(<[u8]>::as_ptr) == Some(packet.data.as_ptr());
        let Ok(size) = u32::try_from(packet.data.len()) else {
            return;
        };
        if !is_suffix {
            return;
        }
        self.entries.push(IndexEntry {
            track: packet.track,
            time: packet.time,
            offset: packet.offset,
            // Every audio frame is a sync point (as MP4 marks them).
            keyframe: packet.keyframe || header.tag_type == TAG_AUDIO,
            pos: body_pos + skip as u64,
            raw_len: size,
            size,
        });
    }

    /// `onMetaData`: the frame rate hint for the depacketizer, and the picture size.
    fn metadata(&mut self, values: &[Amf0Value]) {
        self.depacketizer.metadata(values);
        let is_meta = values
            .iter()
            .take(2)
            .any(|v| v.as_str() == Some("onMetaData"));
        let props = values
            .iter()
            .find(|v| matches!(v, Amf0Value::Object(_) | Amf0Value::EcmaArray(_)));
        let (true, Some(props)) = (is_meta, props) else {
            return;
        };
        let dimension = |key: &str| {
            props
                .get(key)
                .and_then(Amf0Value::as_f64)
                .filter(|v| *v >= 1.0 && *v <= 65535.0)
                .map(|v| v as u32)
        };
        if let (Some(w), Some(h)) = (dimension("width"), dimension("height")) {
            self.meta_size.get_or_insert((w, h));
        }
    }

    /// Remembers the codec of a tag the depacketizer would not take, when it is one Eddy
    /// cannot carry.
    fn note_unsupported(&mut self, tag_type: u8, body: &Bytes) {
        let (found, slot) = match tag_type {
            TAG_VIDEO => (parse_video_body(body).err(), &mut self.unsupported_video),
            TAG_AUDIO => (parse_audio_body(body).err(), &mut self.unsupported_audio),
            _ => return,
        };
        if let Some(FlvError::Unsupported(name)) = found {
            slot.get_or_insert(name);
        }
    }

    fn into_index(mut self) -> Index {
        let mut skipped = Vec::new();
        let mut video = self.video.take();
        if let Some(why) = video.as_ref().and_then(length_size_problem) {
            skipped.push(format!("video: {why}"));
            video = None;
        }
        if let (Some(v), Some((w, h))) = (video.as_mut(), self.meta_size) {
            if v.width == 0 || v.height == 0 {
                (v.width, v.height) = (w, h);
            }
        }
        if video.is_none() {
            skipped.extend(self.unsupported_video.map(|n| format!("video: {n}")));
        }
        if self.audio.is_none() {
            skipped.extend(self.unsupported_audio.map(|n| format!("audio: {n}")));
        }
        let mut tracks = Vec::new();
        let mut source_ids = Vec::new();
        let mut renumber = Vec::new();
        for (track, tag_type) in [(video, TAG_VIDEO), (self.audio, TAG_AUDIO)] {
            let Some(mut track) = track else {
                continue;
            };
            let id = tracks.len() as u32 + 1;
            renumber.push((track.id, id));
            track.id = id;
            tracks.push(track);
            source_ids.push(u32::from(tag_type));
        }
        let mut entries = self.entries;
        entries.retain_mut(|e| {
            let new = renumber.iter().find(|(old, _)| *old == e.track);
            new.map(|&(_, id)| e.track = id).is_some()
        });
        Index {
            container: Container::Flv,
            tracks,
            source_ids,
            entries,
            skipped,
        }
    }
}

/// Why the frames of a video track cannot be used as they are: NAL unit lengths of another size
/// than the 4 bytes Eddy's packets have.
fn length_size_problem(track: &Track) -> Option<String> {
    let length_size = match track.codec {
        Some(Codec::H264) => h264::parse_avcc(&track.init).ok()?.length_size,
        Some(Codec::Hevc) => hevc::parse_hvcc(&track.init).ok()?.length_size,
        _ => return None,
    };
    (length_size != 4).then(|| {
        format!(
            "{} with {length_size}-byte NAL unit lengths (Eddy carries 4)",
            track.codec.map_or("video", Codec::mist_name)
        )
    })
}

/// An I/O error reading a tag that the length checks said was there: the file shrank.
fn cut(e: std::io::Error) -> VodError {
    if e.kind() == ErrorKind::UnexpectedEof {
        VodError::malformed(
            Container::Flv,
            "the file ended early (is it being written?)",
        )
    } else {
        e.into()
    }
}

#[cfg(test)]
#[path = "tests/flv_tests.rs"]
mod tests;
