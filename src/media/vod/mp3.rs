//! MP3 and ADTS AAC files for the on-demand index: one entry per audio frame.
//!
//! - MPEG audio frame headers per ISO/IEC 11172-3 2.4.1.3 ([`crate::media::mp3`]); ADTS frame
//!   headers per ISO/IEC 14496-3 1.A.2.2 ([`crate::media::aac`]).
//! - ID3v2 tags (id3.org ID3v2.4 3.1: `"ID3"`, version, flags, a 28-bit syncsafe size, a
//!   10-byte footer when flag 0x10 is set) are skipped at the start, an ID3v1 tag (the last 128
//!   bytes starting with `"TAG"`) and an APEv2 tag (32-byte `"APETAGEX"` footer) at the end.
//! - The Xing / Info / VBRI frame LAME and other encoders put first is a header, not audio: it
//!   is left out.
//! - MP3 entries are whole frames, header included (as [`Packet::data`](super::Packet) holds
//!   MP3); ADTS entries start after the ADTS header (and its CRC), so the payload is the raw AAC
//!   frame, and the track's init is the AudioSpecificConfig the first header signals. ADTS frames
//!   of several raw data blocks cannot be one AAC frame each and are left out.
//! - Times come from the sample count (1152 or 576 samples per MP3 frame, 1024 per AAC frame),
//!   so they do not drift. Every frame is a keyframe and a start point (audio-only files seek
//!   anywhere).
//! - Damaged stretches are skipped: after a frame that does not parse, the next frame is the
//!   first header of the same stream that is followed by another one (or by the end).

use std::io::{ErrorKind, Read, Seek, SeekFrom};

use super::super::aac;
use super::super::mp3::{self, Mp3Error};
use super::super::Track;
use super::{Container, Index, IndexEntry, VodError};

/// Bytes read from the file at a time.
const CHUNK: usize = 256 << 10;
/// Longest frame header looked at (ADTS with CRC is 9 bytes; the Xing tag sits up to 36 bytes
/// into the frame).
const HEAD: usize = 48;

/// One audio frame as its header describes it.
#[derive(Debug, Clone, Copy)]
struct Frame {
    len: usize,
    /// Bytes of header before the payload (ADTS: 7 or 9; MP3: 0, the header is part of it).
    skip: usize,
    samples: u32,
    rate: u32,
    /// What must stay the same from frame to frame of one stream.
    stream: (u8, u8, u32),
}

/// Indexes a whole file.
pub fn scan<R: Read + Seek>(
    container: Container,
    reader: &mut R,
    len: u64,
) -> Result<Index, VodError> {
    let end = audio_end(reader, len)?;
    let mut window = Window::new(reader, end);
    skip_id3v2(&mut window)?;
    let adts = container == Container::Adts;
    let parse = if adts { adts_frame } else { mp3_frame };
    let mut entries = Vec::new();
    let mut track: Option<Track> = None;
    let mut skipped = Vec::new();
    let mut stream = None;
    // Samples before the frame at hand (the rate is the stream's: it is part of `stream`).
    let mut samples = 0u64;
    // Whether the frame before ended where this one starts (no double check needed then).
    let mut locked = false;
    let mut first = true;
    // A frame of a kind Eddy cannot carry, seen before any usable one.
    let mut unusable = None;
    loop {
        let pos = window.pos();
        let head = window.peek(HEAD)?;
        if head.len() < 4 {
            break;
        }
        let frame = match parse(head) {
            Ok(f) if stream.is_none_or(|s| s == f.stream) => f,
            Err(FrameError::Unusable(why)) if stream.is_none() => {
                unusable = Some(why);
                locked = false;
                window.advance(1);
                continue;
            }
            _ => {
                locked = false;
                window.advance(1);
                continue;
            }
        };
        let Some(frame_end) = pos.checked_add(frame.len as u64).filter(|&e| e <= end) else {
            // A frame cut by the end of the file (or a false sync near it).
            locked = false;
            window.advance(1);
            continue;
        };
        if !locked && frame_end < end {
            let whole = window.peek(frame.len + 4)?;
            let next = whole.get(frame.len..).and_then(|h| parse(h).ok());
            if next.is_none_or(|n| n.stream != frame.stream) {
                window.advance(1);
                continue;
            }
        }
        let head = window.peek(HEAD)?;
        if first && !adts && is_vbr_header(head) {
            first = false;
            locked = true;
            window.advance(frame.len);
            continue;
        }
        if track.is_none() {
            let made = if adts {
                aac::parse_adts(head)
                    .map_err(|e| e.to_string())
                    .and_then(|h| {
                        aac::track_from_asc(h.audio_specific_config()).map_err(|e| e.to_string())
                    })
            } else {
                mp3::track_from_frame(head).map_err(|e| e.to_string())
            };
            match made {
                Ok(mut t) => {
                    t.id = 1;
                    track = Some(t);
                }
                Err(why) => {
                    skipped.push(format!("track 1: {why}"));
                    break;
                }
            }
        }
        first = false;
        locked = true;
        stream = Some(frame.stream);
        if frame.skip < frame.len {
            entries.push(IndexEntry {
                track: 1,
                time: i64::try_from(samples * 1000 / u64::from(frame.rate.max(1)))
                    .unwrap_or(i64::MAX),
                offset: 0,
                keyframe: true,
                pos: pos + frame.skip as u64,
                raw_len: (frame.len - frame.skip) as u32,
                size: (frame.len - frame.skip) as u32,
            });
        }
        samples += u64::from(frame.samples);
        window.advance(frame.len);
    }
    let tracks: Vec<Track> = track.into_iter().collect();
    let source_ids = tracks.iter().map(|_| 0).collect();
    if let (true, Some(why)) = (tracks.is_empty() && skipped.is_empty(), unusable) {
        skipped.push(format!("track 1: {why}"));
    }
    if tracks.is_empty() && skipped.is_empty() {
        let what = if adts { "ADTS" } else { "MPEG audio" };
        return Err(VodError::malformed(
            container,
            format!("no {what} frames found"),
        ));
    }
    Ok(Index {
        container,
        tracks,
        source_ids,
        entries,
        skipped,
    })
}

/// Why there is no usable frame at a position.
enum FrameError {
    /// Not a frame here (resync).
    NoFrame,
    /// A frame of a kind Eddy cannot carry (the whole file is then of that kind).
    Unusable(String),
}

fn mp3_frame(head: &[u8]) -> Result<Frame, FrameError> {
    let h = match mp3::parse_header(head) {
        Ok(h) => h,
        Err(Mp3Error::FreeFormat) => {
            return Err(FrameError::Unusable(
                "free-format MPEG audio is not supported".into(),
            ))
        }
        Err(_) => return Err(FrameError::NoFrame),
    };
    if h.frame_len < 4 {
        return Err(FrameError::NoFrame);
    }
    Ok(Frame {
        len: h.frame_len,
        skip: 0,
        samples: h.samples_per_frame,
        rate: h.sample_rate,
        stream: (h.version, h.layer, h.sample_rate),
    })
}

fn adts_frame(head: &[u8]) -> Result<Frame, FrameError> {
    let h = aac::parse_adts(head).map_err(|_| FrameError::NoFrame)?;
    // Several raw data blocks in one frame: a frame of its own for the walk, no entry.
    let skip = if h.raw_blocks == 1 {
        h.header_len
    } else {
        h.frame_len
    };
    Ok(Frame {
        len: h.frame_len,
        skip,
        samples: 1024 * u32::from(h.raw_blocks),
        rate: h.asc.sample_rate,
        stream: (
            h.asc.object_type,
            h.asc.frequency_index,
            u32::from(h.channel_configuration),
        ),
    })
}

/// Whether an MPEG audio frame is a Xing / Info / VBRI header frame: the tag right after the
/// side information (Xing, Info) or 32 bytes after the header (VBRI).
fn is_vbr_header(frame: &[u8]) -> bool {
    let Ok(h) = mp3::parse_header(frame) else {
        return false;
    };
    let crc = frame.get(1).is_some_and(|b| b & 0x01 == 0);
    let side_info = match (h.version, h.channels) {
        (1, 1) => 17,
        (1, _) => 32,
        (_, 1) => 9,
        _ => 17,
    };
    let xing = 4 + usize::from(crc) * 2 + side_info;
    let tag = |at: usize| frame.get(at..at + 4);
    matches!(tag(xing), Some(b"Xing" | b"Info")) || tag(36) == Some(b"VBRI")
}

/// Skips the ID3v2 tags at the start (some files carry more than one).
fn skip_id3v2<R: Read + Seek>(window: &mut Window<'_, R>) -> Result<(), VodError> {
    loop {
        let head = window.peek(10)?;
        if head.len() < 10 || !head.starts_with(b"ID3") {
            return Ok(());
        }
        let size = head
            .get(6..10)
            .unwrap_or_default()
            .iter()
            .fold(0u64, |n, &b| (n << 7) | u64::from(b & 0x7F));
        let footer = if head.get(5).is_some_and(|f| f & 0x10 != 0) {
            10
        } else {
            0
        };
        window.skip(10 + size + footer);
    }
}

/// Where the audio ends: before an ID3v1 tag and an APEv2 tag at the end of the file.
fn audio_end<R: Read + Seek>(reader: &mut R, len: u64) -> Result<u64, VodError> {
    let mut end = len;
    if end >= 128 {
        let mut tag = [0u8; 3];
        reader.seek(SeekFrom::Start(end - 128))?;
        read_exact_or_short(reader, &mut tag)?;
        if &tag == b"TAG" {
            end -= 128;
        }
    }
    if end >= 32 {
        let mut footer = [0u8; 32];
        reader.seek(SeekFrom::Start(end - 32))?;
        read_exact_or_short(reader, &mut footer)?;
        if footer.starts_with(b"APETAGEX") {
            let le32 = |at: usize| {
                footer
                    .get(at..at + 4)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u32::from_le_bytes)
            };
            // The size counts the items and the footer; a header (flag bit 31) adds 32 more.
            let header = if le32(20) & 0x8000_0000 != 0 { 32 } else { 0 };
            end = end.saturating_sub(u64::from(le32(12)) + header);
        }
    }
    Ok(end)
}

fn read_exact_or_short<R: Read>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<()> {
    match reader.read_exact(buf) {
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(()),
        other => other,
    }
}

/// A sliding window over the file up to `end`: peek a few bytes at the current position,
/// advance, skip far ahead by seeking.
pub(super) struct Window<'a, R> {
    reader: &'a mut R,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    start: u64,
    /// Current position within `buf` (may run past its end after a skip).
    at: usize,
    /// Where the reader is.
    reader_pos: Option<u64>,
    end: u64,
}

impl<'a, R: Read + Seek> Window<'a, R> {
    pub(super) fn new(reader: &'a mut R, end: u64) -> Window<'a, R> {
        Window {
            reader,
            buf: Vec::with_capacity(CHUNK),
            start: 0,
            at: 0,
            reader_pos: None,
            end,
        }
    }

    pub(super) fn pos(&self) -> u64 {
        self.start + self.at as u64
    }

    pub(super) fn advance(&mut self, n: usize) {
        self.at = self.at.saturating_add(n);
    }

    pub(super) fn skip(&mut self, n: u64) {
        let to = self.pos().saturating_add(n);
        self.buf.clear();
        self.start = to;
        self.at = 0;
    }

    /// At least `want` bytes from the current position (fewer only at the end).
    pub(super) fn peek(&mut self, want: usize) -> Result<&[u8], VodError> {
        let left = usize::try_from(self.end.saturating_sub(self.pos())).unwrap_or(usize::MAX);
        let want = want.min(left);
        if self.buf.len().saturating_sub(self.at) < want {
            // Keep what is still ahead, then read more after it.
            if self.at >= self.buf.len() {
                self.start = self.pos();
                self.buf.clear();
            } else {
                self.buf.drain(..self.at);
                self.start += self.at as u64;
            }
            self.at = 0;
            let mut filled = self.buf.len();
            let read_from = self.start + filled as u64;
            if self.reader_pos != Some(read_from) {
                self.reader.seek(SeekFrom::Start(read_from))?;
            }
            let target = want.max(CHUNK).min(left);
            self.buf.resize(target, 0);
            while filled < want {
                let room = self.buf.get_mut(filled..).unwrap_or_default();
                match self.reader.read(room) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
            self.buf.truncate(filled);
            self.reader_pos = Some(self.start + filled as u64);
        }
        let stop = self.buf.len().min(self.at.saturating_add(left));
        Ok(self.buf.get(self.at..stop).unwrap_or_default())
    }
}

#[cfg(test)]
#[path = "tests/mp3_tests.rs"]
mod tests;
