//! WAV files for the on-demand index ([`crate::media::wav`] for the layout): PCM, A-law and
//! mu-law cut into packets of 20 ms of samples, MP3 in WAV indexed frame by frame as an MP3
//! file is.
//!
//! - The chunks are walked from the `"WAVE"` tag on; the `fmt ` chunk must come before `data`.
//!   A `data` chunk whose size runs past the end of the file (a stream written without its
//!   sizes, 0xFFFFFFFF) ends where the file ends.
//! - Packet byte ranges are the samples in the file; PCM is turned into Eddy's big-endian form
//!   by [`payload`] (so its payload is the same length but not the file's bytes).

use std::io::{Read, Seek, SeekFrom};

use bytes::Bytes;

use super::super::wav::{self, Format};
use super::super::Codec;
use super::mp3::Window;
use super::{Container, Index, IndexEntry, VodError};

/// Packet length in ms for sample formats.
const PACKET_MS: u64 = 20;

/// Indexes a whole file.
pub fn scan<R: Read + Seek>(reader: &mut R, len: u64) -> Result<Index, VodError> {
    let bad = |why: &str| VodError::malformed(Container::Wav, why.to_string());
    let (format, data_start, data_len) = {
        let mut window = Window::new(reader, len);
        let head = window.peek(12)?;
        if head.len() < 12 || &head[..4] != b"RIFF" || &head[8..12] != b"WAVE" {
            return Err(bad("no RIFF/WAVE header"));
        }
        window.advance(12);
        let mut format = None;
        loop {
            let pos = window.pos();
            let chunk = window.peek(8)?;
            if chunk.len() < 8 {
                return Err(bad("no data chunk"));
            }
            let id = [chunk[0], chunk[1], chunk[2], chunk[3]];
            let size = u64::from(u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]));
            window.advance(8);
            match &id {
                b"fmt " => {
                    let body = window.peek(size.min(256) as usize)?;
                    format = Some(Format::parse(body).map_err(|e| bad(&e.to_string()))?);
                }
                b"data" => {
                    let format = format.ok_or_else(|| bad("data before the fmt chunk"))?;
                    let start = pos + 8;
                    break (format, start, size.min(len.saturating_sub(start)));
                }
                _ => {}
            }
            // Chunks are padded to an even length.
            window.skip(size + (size & 1));
            window.peek(0)?;
        }
    };
    let mut track = match format.track() {
        Ok(t) => t,
        Err(e) => {
            return Ok(Index {
                container: Container::Wav,
                tracks: Vec::new(),
                source_ids: Vec::new(),
                entries: Vec::new(),
                skipped: vec![format!("track 1: {e}")],
            })
        }
    };
    track.id = 1;
    if track.codec == Some(Codec::Mp3) {
        return mp3_in_wav(reader, track, data_start, data_len);
    }
    let align = u64::from(format.block_align.max(1));
    let rate = u64::from(format.rate);
    let per_packet = (rate * PACKET_MS / 1000).max(1);
    let mut entries = Vec::new();
    let samples = data_len / align;
    let mut at = 0u64;
    while at < samples {
        let n = per_packet.min(samples - at);
        let bytes = u32::try_from(n * align).map_err(|_| bad("block align too large"))?;
        entries.push(IndexEntry {
            track: 1,
            time: i64::try_from(at * 1000 / rate).unwrap_or(i64::MAX),
            offset: 0,
            keyframe: true,
            pos: data_start + at * align,
            raw_len: bytes,
            size: bytes,
        });
        at += n;
    }
    if entries.is_empty() {
        return Err(bad("no samples in the data chunk"));
    }
    Ok(Index {
        container: Container::Wav,
        tracks: vec![track],
        source_ids: vec![u32::from(format.tag)],
        entries,
        skipped: Vec::new(),
    })
}

/// MP3 frames in the data chunk, indexed as an MP3 file, with the WAV's track.
fn mp3_in_wav<R: Read + Seek>(
    reader: &mut R,
    track: super::super::Track,
    start: u64,
    len: u64,
) -> Result<Index, VodError> {
    let mut part = Part {
        inner: reader,
        start,
        len,
        at: 0,
    };
    let mut index = super::mp3::scan(Container::Mp3, &mut part, len)?;
    for e in &mut index.entries {
        e.pos += start;
    }
    index.container = Container::Wav;
    index.source_ids = vec![u32::from(wav::FORMAT_MPEGLAYER3)];
    if let Some(t) = index.tracks.first_mut() {
        // The frames say more than the fmt chunk.
        t.id = track.id;
    }
    Ok(index)
}

/// The payload of a packet: PCM swapped to big-endian, the others as they are.
pub fn payload(index: &Index, entry: &IndexEntry, raw: Bytes) -> Result<Bytes, VodError> {
    let Some(t) = index.track(entry.track) else {
        return Err(VodError::BadIndex("a packet of no track".into()));
    };
    if raw.len() != entry.size as usize {
        return Err(VodError::malformed(
            Container::Wav,
            format!("packet should be {} bytes, read {}", entry.size, raw.len()),
        ));
    }
    Ok(match t.codec {
        Some(Codec::Pcm) => wav::swap_pcm(&raw, t.size),
        _ => raw,
    })
}

/// A part of a file as a file of its own.
struct Part<'a, R> {
    inner: &'a mut R,
    start: u64,
    len: u64,
    at: u64,
}

impl<R: Read + Seek> Read for Part<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.at);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        self.inner.seek(SeekFrom::Start(self.start + self.at))?;
        let n = self.inner.read(&mut buf[..want])?;
        self.at += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Part<'_, R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.at.checked_add_signed(d),
        };
        self.at = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.at)
    }
}

#[cfg(test)]
#[path = "tests/wav_tests.rs"]
mod tests;
