//! Recording a live stream to a file: the bytes of an FLV, MPEG-TS, fragmented MP4, MP3 or ADTS
//! AAC file built from [`Track`]s and [`Packet`]s. Pure code: the caller writes what
//! [`Recorder::start`], [`Recorder::write`] and [`Recorder::finish`] append, in order, then
//! applies the [`Patch`]es `finish` returns (overwrites at absolute file offsets).
//!
//! - Times are rebased: the first recorded packet's decode time becomes 0 (TS keeps the
//!   muxer's own [`ts::DELAY_MS`] on top, so PTS stays positive).
//! - Video tracks start at their first keyframe; empty packets and packets of tracks not
//!   recorded are ignored.
//! - A packet whose decode time is before the recording's start or before its track's
//!   previous packet is refused ([`RecordError::Backwards`]); so are times the container
//!   cannot express. An error from [`Recorder::write`] means that packet was left out (for
//!   MP4, possibly the fragment it completed, [`RecordError::FragmentDropped`]); the recorder
//!   stays usable.
//! - FLV: header, `onMetaData` (duration and filesize patched at the end), sequence headers,
//!   one tag per packet. TS: PAT + PMT first and again before every video keyframe (audio
//!   only: every second). MP4 (like ffmpeg's `frag_keyframe+empty_moov`): `ftyp` + `moov`
//!   (with an `mehd`), one `moof` + `mdat` per video GOP (audio only: about 2 s; never more
//!   than 10 s or 16 MiB), then `mfra`; the durations in `mvhd` and `mehd` are patched. MP3:
//!   the frames. AAC: ADTS frames.

use bytes::{BufMut, BytesMut};

use super::aac::{self, AacError, AudioSpecificConfig};
use super::flv::{self, metadata, TAG_SCRIPT};
use super::mp4::record::Mp4Recording;
use super::mp4::Mp4Error;
use super::ts::{self, PesHeader, TableRepeat, TsError, TsMuxer, TsPacket};
use super::{Codec, Packet, Track, TrackKind};

/// TS audio-only recordings repeat PAT and PMT this often (ms).
const TS_TABLES_MS: i64 = 1_000;
/// Longer steps between a track's decode times are jumps, not frame lengths.
const MAX_STEP_MS: i64 = 10_000;
/// Appended recordings start this long after the existing file's last timestamp.
const APPEND_GAP_MS: i64 = 100;

/// The container of a recording, picked from the target's file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Container {
    Flv,
    Ts,
    Mp4,
    Mp3,
    Aac,
}

impl Container {
    /// From a path's extension (case-insensitive): `.flv`, `.ts`, `.mp4`, `.fmp4` (Mp4), `.mp3`,
    /// `.aac`. `None` otherwise.
    pub fn from_path(path: &str) -> Option<Container> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let (_, ext) = name.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "flv" => Some(Container::Flv),
            "ts" => Some(Container::Ts),
            "mp4" | "fmp4" => Some(Container::Mp4),
            "mp3" => Some(Container::Mp3),
            "aac" => Some(Container::Aac),
            _ => None,
        }
    }

    /// MistServer's output name for the container.
    pub fn name(self) -> &'static str {
        match self {
            Container::Flv => "FLV",
            Container::Ts => "HTTPTS",
            Container::Mp4 => "MP4",
            Container::Mp3 => "MP3",
            Container::Aac => "AAC",
        }
    }

    /// Whether a recording may be added to the end of an existing file (not for MP4: one
    /// `moov` per file).
    pub fn supports_append(self) -> bool {
        !matches!(self, Container::Mp4)
    }
}

/// Why a recording cannot start, or why a packet was left out.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("no track that the {0} container can carry")]
    NoTracks(&'static str),
    #[error("the {0} container cannot be appended to")]
    AppendUnsupported(&'static str),
    #[error("track {track}: decode time {time} ms goes backwards")]
    Backwards { track: u32, time: i64 },
    #[error("track {track}: time {time} ms is out of range for the container")]
    TimeOutOfRange { track: u32, time: i64 },
    #[error("track {track}: packet of {len} bytes is too large for the container")]
    TooLarge { track: u32, len: usize },
    #[error("track {0}: the packet cannot be expressed in FLV")]
    FlvUnsupported(u32),
    #[error("the recording is finished")]
    Finished,
    #[error(transparent)]
    Ts(#[from] TsError),
    #[error(transparent)]
    Mp4(#[from] Mp4Error),
    #[error(transparent)]
    Adts(#[from] AacError),
    #[error("an MP4 fragment was dropped: {0}")]
    FragmentDropped(Mp4Error),
}

/// Overwrite `bytes` at absolute file offset `offset` after the tail is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// One recorded track and where it is.
#[derive(Debug)]
struct TrackState {
    track: Track,
    /// Video: waiting for a keyframe until set.
    keyed: bool,
    /// Rebased decode time of the last packet written.
    last: Option<i64>,
    /// The last step between decode times (ms) that looks like a frame length (positive, at
    /// most [`MAX_STEP_MS`]); 0 before there is one.
    step: i64,
}

impl TrackState {
    fn is_video(&self) -> bool {
        self.track.kind() == Some(TrackKind::Video)
    }

    /// Rebased time where the track ends: its last packet plus one frame.
    fn end(&self) -> Option<i64> {
        let frame = if self.step > 0 {
            self.step
        } else {
            frame_ms(&self.track)
        };
        self.last.map(|last| last.saturating_add(frame))
    }
}

/// The length (ms) of one frame when nothing was measured.
fn frame_ms(track: &Track) -> i64 {
    let per_second = |units: i64, rate: u32| match rate {
        0 => 0,
        rate => units / i64::from(rate),
    };
    match track.codec {
        Some(Codec::Aac) => per_second(1_024_000, track.rate),
        Some(Codec::Mp3) => per_second(1_152_000, track.rate),
        _ => per_second(1_000_000, track.fpks),
    }
}

/// Container-specific state.
#[derive(Debug)]
enum Body {
    /// `meta`: absolute offsets of the `onMetaData` duration and filesize numbers.
    Flv {
        meta: Option<(u64, u64)>,
    },
    /// Repeats PAT and PMT before keyframes (audio only: every [`TS_TABLES_MS`]).
    Ts(TsMuxer),
    Mp4(Box<Mp4Recording>),
    Mp3,
    Aac(AudioSpecificConfig),
}

/// Records one stream into one file in one container.
#[derive(Debug)]
pub struct Recorder {
    container: Container,
    append: bool,
    tracks: Vec<TrackState>,
    body: Body,
    first: Option<i64>,
    last: Option<i64>,
    /// Added to every rebased time: where an appended-to file's own timeline ended.
    offset: i64,
    /// Bytes appended to `out` since `start` (the file size for non-append recordings).
    written: u64,
    started: bool,
    finished: bool,
}

impl Recorder {
    /// `tracks`: the stream's tracks; the recorder keeps those the container carries (FLV:
    /// first video + first audio of H264/HEVC/AV1/VP9 + AAC/MP3 that FLV can signal; TS: every
    /// H264/HEVC/AAC/MP3 track the TS muxer accepts; MP4: what `mp4::init_segment` accepts;
    /// MP3: first MP3 track; AAC: first AAC track ADTS can carry). Of tracks with the same id
    /// only the first counts.
    ///
    /// `append`: the file already has content (FLV: no file header and `onMetaData`, only the
    /// sequence headers, and no patches; other containers: nothing special).
    ///
    /// # Errors
    ///
    /// [`RecordError::NoTracks`] when no track is left, [`RecordError::AppendUnsupported`] for
    /// MP4 with `append`.
    pub fn new(
        container: Container,
        tracks: &[Track],
        append: bool,
    ) -> Result<Recorder, RecordError> {
        if append && !container.supports_append() {
            return Err(RecordError::AppendUnsupported(container.name()));
        }
        let mut unique: Vec<&Track> = Vec::new();
        for track in tracks {
            if unique.iter().all(|t| t.id != track.id) {
                unique.push(track);
            }
        }
        let first = |ok: &dyn Fn(&Track) -> bool| unique.iter().copied().find(|t| ok(t)).cloned();
        let picked: Option<(Vec<Track>, Body)> = match container {
            Container::Flv => {
                let video = first(&|t| flv_video(t));
                let audio = first(&|t| flv_audio(t));
                let kept = video.into_iter().chain(audio).collect();
                Some((kept, Body::Flv { meta: None }))
            }
            Container::Ts => {
                let carried: Vec<Track> = unique
                    .iter()
                    .filter(|t| {
                        matches!(
                            t.codec,
                            Some(Codec::H264 | Codec::Hevc | Codec::Aac | Codec::Mp3)
                        )
                    })
                    .map(|t| (*t).clone())
                    .collect();
                let repeat = TableRepeat::Keyframes {
                    audio_interval_ms: TS_TABLES_MS,
                };
                let muxer = TsMuxer::new(&carried).with_table_repeat(repeat);
                let ids = muxer.track_ids();
                let kept = carried
                    .into_iter()
                    .filter(|t| ids.contains(&t.id))
                    .collect();
                let body = Body::Ts(muxer);
                Some((kept, body))
            }
            Container::Mp4 => {
                let owned: Vec<Track> = unique.iter().map(|t| (*t).clone()).collect();
                Mp4Recording::new(&owned)
                    .map(|rec| (rec.tracks().to_vec(), Body::Mp4(Box::new(rec))))
            }
            Container::Mp3 => first(&|t| t.codec == Some(Codec::Mp3)).map(|t| (vec![t], Body::Mp3)),
            Container::Aac => first(&|t| adts_config(t).is_some())
                .and_then(|t| adts_config(&t).map(|asc| (vec![t], Body::Aac(asc)))),
        };
        let Some((kept, body)) = picked.filter(|(kept, _)| !kept.is_empty()) else {
            return Err(RecordError::NoTracks(container.name()));
        };
        let tracks = kept
            .into_iter()
            .map(|track| TrackState {
                track,
                keyed: false,
                last: None,
                step: 0,
            })
            .collect();
        Ok(Recorder {
            container,
            append,
            tracks,
            body,
            first: None,
            last: None,
            offset: 0,
            written: 0,
            started: false,
            finished: false,
        })
    }

    /// Continues the timeline of the file being appended to: times count on from `end_ms`
    /// (see [`file_end_ms`]) plus a short gap, instead of starting at 0 again.
    pub fn continue_after(&mut self, end_ms: i64) {
        if self.append && end_ms > 0 {
            self.offset = end_ms.saturating_add(APPEND_GAP_MS);
        }
    }

    /// The container being written.
    pub fn container(&self) -> Container {
        self.container
    }

    /// The ids of the tracks being recorded.
    pub fn track_ids(&self) -> Vec<u32> {
        self.tracks.iter().map(|s| s.track.id).collect()
    }

    /// Bytes appended to the outputs so far (tail included after `finish`).
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Media time recorded: the first packet's decode time (ms, as given, before rebasing);
    /// `None` before the first packet.
    pub fn first_ms(&self) -> Option<i64> {
        self.first
    }

    /// The latest decode time recorded (ms, as given); `None` before the first packet.
    pub fn last_ms(&self) -> Option<i64> {
        self.last
    }

    /// Bytes that start the file (FLV header + `onMetaData` + sequence headers; TS PAT/PMT; MP4
    /// `ftyp` + `moov`). Call once, before any packet; later calls append nothing (and
    /// [`Recorder::write`] calls it if it was not called).
    pub fn start(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        let before = out.len();
        match &mut self.body {
            Body::Flv { meta } => {
                let video = self.tracks.iter().find(|s| s.is_video()).map(|s| &s.track);
                let audio = self.tracks.iter().find(|s| !s.is_video()).map(|s| &s.track);
                if !self.append {
                    out.put_slice(&flv::file_header(audio.is_some(), video.is_some()));
                    let script = metadata::file_metadata(video, audio);
                    // The script tag follows the file header and PreviousTagSize0.
                    let base = flv::FILE_HEADER_LEN + flv::PREV_SIZE_LEN + flv::TAG_HEADER_LEN;
                    let at = |offset: usize| u64::try_from(base + offset).unwrap_or(0);
                    *meta = Some((at(script.duration_at), at(script.filesize_at)));
                    flv::put_tag(out, TAG_SCRIPT, 0, &[&script.body]);
                }
                for (tag_type, body) in self
                    .tracks
                    .iter()
                    .filter_map(|s| flv::sequence_body(&s.track))
                {
                    flv::put_tag(out, tag_type, 0, &[&body]);
                }
            }
            Body::Ts(muxer) => muxer.write_tables(out),
            Body::Mp4(rec) => rec.start(out),
            Body::Mp3 | Body::Aac(_) => {}
        }
        self.count(before, out);
    }

    /// One packet (in decode order across tracks). Appends what is ready to `out` (MP4 keeps a
    /// fragment until it is cut). Packets of tracks not recorded, empty packets and video
    /// before its track's first keyframe are ignored.
    ///
    /// # Errors
    ///
    /// The packet was left out and nothing of it appended: times going backwards or out of the
    /// container's range, payloads too large, data the muxer refuses, a finished recording.
    /// [`RecordError::FragmentDropped`]: the packet was taken but the MP4 fragment it ended
    /// could not be written.
    pub fn write(&mut self, packet: &Packet, out: &mut BytesMut) -> Result<(), RecordError> {
        self.start(out);
        if self.finished {
            return Err(RecordError::Finished);
        }
        let found = self.tracks.iter().enumerate();
        let Some((index, state)) = found.into_iter().find(|(_, s)| s.track.id == packet.track)
        else {
            return Ok(());
        };
        if packet.data.is_empty() || (state.is_video() && !state.keyed && !packet.keyframe) {
            return Ok(());
        }
        let (track, given) = (packet.track, packet.time);
        let base = self.first.unwrap_or(given);
        let time = match given.checked_sub(base) {
            None => return Err(RecordError::TimeOutOfRange { track, time: given }),
            Some(t) if t < 0 || state.last.is_some_and(|last| t < last) => {
                return Err(RecordError::Backwards { track, time: given })
            }
            Some(t) => t,
        };
        let rebased = Packet {
            time: time.saturating_add(self.offset),
            ..packet.clone()
        };
        let before = out.len();
        let result = self.write_body(index, &rebased, out);
        self.count(before, out);
        let lost = result?;
        if let Some(state) = self.tracks.get_mut(index) {
            state.keyed = true;
            let frame = |s: &i64| (1..=MAX_STEP_MS).contains(s);
            if let Some(step) = state.last.map(|last| time - last).filter(frame) {
                state.step = step;
            }
            state.last = Some(time);
        }
        self.first = Some(base);
        self.last = Some(self.last.map_or(given, |last| last.max(given)));
        lost.map_or(Ok(()), |e| Err(RecordError::FragmentDropped(e)))
    }

    /// Ends the file: appends the tail to `out` (MP4: the last fragment and `mfra`) and returns
    /// the patches to apply afterwards (FLV: `onMetaData` duration and filesize; MP4: the
    /// movie duration in `mvhd` and `mehd`). Later calls append nothing and return none.
    pub fn finish(&mut self, out: &mut BytesMut) -> Vec<Patch> {
        self.start(out);
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        let duration = self.duration_ms();
        let before = out.len();
        let mut patches: Vec<Patch> = match &mut self.body {
            Body::Mp4(rec) => rec
                .finish(duration, out)
                .into_iter()
                .map(|(offset, bytes)| Patch { offset, bytes })
                .collect(),
            _ => Vec::new(),
        };
        self.count(before, out);
        if let Body::Flv {
            meta: Some((duration_at, size_at)),
        } = self.body
        {
            // f64 holds every duration and size that can occur here closely enough.
            let seconds = duration as f64 / 1000.0;
            patches.push(Patch {
                offset: duration_at,
                bytes: seconds.to_be_bytes().to_vec(),
            });
            patches.push(Patch {
                offset: size_at,
                bytes: (self.written as f64).to_be_bytes().to_vec(),
            });
        }
        patches
    }

    /// Length of the recording (ms): where the longest track ends.
    fn duration_ms(&self) -> i64 {
        self.tracks
            .iter()
            .filter_map(TrackState::end)
            .max()
            .unwrap_or(0)
    }

    fn count(&mut self, before: usize, out: &BytesMut) {
        let len = u64::try_from(out.len().saturating_sub(before)).unwrap_or(u64::MAX);
        self.written = self.written.saturating_add(len);
    }

    /// Writes a rebased packet of `tracks[index]`. `Ok(Some(_))`: taken, but an MP4 fragment
    /// was lost.
    fn write_body(
        &mut self,
        index: usize,
        packet: &Packet,
        out: &mut BytesMut,
    ) -> Result<Option<Mp4Error>, RecordError> {
        let Some(state) = self.tracks.get(index) else {
            return Ok(None);
        };
        let track = &state.track;
        let out_of_range = || RecordError::TimeOutOfRange {
            track: packet.track,
            time: packet.time,
        };
        let too_large = || RecordError::TooLarge {
            track: packet.track,
            len: packet.data.len(),
        };
        match &mut self.body {
            Body::Flv { .. } => {
                let (tag_type, prefix) = flv::packet_prefix(track, packet)
                    .ok_or(RecordError::FlvUnsupported(packet.track))?;
                let time = u32::try_from(packet.time).map_err(|_| out_of_range())?;
                if prefix.len().saturating_add(packet.data.len()) > flv::MAX_DATA_SIZE {
                    return Err(too_large());
                }
                flv::put_tag(out, tag_type, time, &[&prefix, &packet.data]);
            }
            Body::Ts(muxer) => {
                let pts = packet
                    .time
                    .checked_add(i64::from(packet.offset))
                    .and_then(|t| t.checked_add(ts::DELAY_MS));
                if pts.is_none_or(|pts| pts < 0) {
                    return Err(out_of_range());
                }
                // Nothing is written on error; the tables come first when due.
                muxer.write_packet(packet.track, packet, out)?;
            }
            Body::Mp4(rec) => {
                rec.check(track, packet)?;
                return Ok(rec.push(packet, out));
            }
            Body::Mp3 => out.put_slice(&packet.data),
            Body::Aac(asc) => {
                let header = aac::adts_header(asc, packet.data.len())?;
                out.put_slice(&header);
                out.put_slice(&packet.data);
            }
        }
        Ok(None)
    }
}

/// Where an existing file's timeline ends (ms), read from its last bytes `tail`: FLV from the
/// last tag's timestamp, TS from the highest PTS among the PES packets in the tail (its last
/// 188-byte packets). `None` when it cannot be told (other containers, a cut-off tail).
pub fn file_end_ms(container: Container, tail: &[u8]) -> Option<i64> {
    match container {
        Container::Flv => flv::last_tag_header(tail).map(|h| i64::from(h.timestamp)),
        Container::Ts => {
            let skip = tail.len() % ts::TS_PACKET;
            let max_pts = tail
                .get(skip..)?
                .chunks_exact(ts::TS_PACKET)
                .filter_map(pes_pts)
                .max()?;
            Some(ts::pes::ticks_to_ms(max_pts) - ts::DELAY_MS)
        }
        _ => None,
    }
}

/// The PTS (90 kHz) of a transport packet that starts a PES packet.
fn pes_pts(packet: &[u8]) -> Option<i64> {
    let packet = TsPacket::parse(packet).ok()?;
    if !packet.unit_start {
        return None;
    }
    let header = PesHeader::parse(packet.payload?).ok()?;
    i64::try_from(header.pts).ok()
}

/// A video track FLV carries: H.264 or HEVC with a decoder configuration, AV1, VP9.
fn flv_video(track: &Track) -> bool {
    match track.codec {
        Some(Codec::H264 | Codec::Hevc) => !track.init.is_empty(),
        Some(Codec::Av1 | Codec::Vp9) => true,
        _ => false,
    }
}

/// An audio track FLV carries: AAC with an AudioSpecificConfig, MP3 at a rate FLV signals.
fn flv_audio(track: &Track) -> bool {
    match track.codec {
        Some(Codec::Aac) => aac::parse_asc(&track.init).is_ok(),
        Some(codec @ Codec::Mp3) => {
            flv::audio_body_prefix(codec, false, track.rate, track.channels).is_ok()
        }
        _ => false,
    }
}

/// The AudioSpecificConfig of an AAC track that ADTS can carry.
fn adts_config(track: &Track) -> Option<AudioSpecificConfig> {
    if track.codec != Some(Codec::Aac) {
        return None;
    }
    let asc = aac::parse_asc(&track.init).ok()?;
    aac::adts_header(&asc, 0).ok().map(|_| asc)
}

#[cfg(test)]
mod tests;
