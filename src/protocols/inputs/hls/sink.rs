//! One variant's segments into the stream: TS segments through the MPEG-TS demuxer, fMP4
//! segments (`#EXT-X-MAP`) through the MP4 reader of on-demand files (the init section and
//! the segment read as one fragmented file: `moov` + `moof` / `mdat`), then
//!
//! - track ids become `variant × 100 + id` (`id`: the TS demuxer's 1, 2, ... in PMT order, or
//!   the fMP4 track_ID, or the track's place in the init section when that is 100 or more),
//!   so every rendition of a master playlist keeps its own tracks;
//! - times continue monotonic: at a discontinuity (tagged, or the origin starting over) the
//!   TS demuxer starts afresh, and a packet more than [`JUMP_MS`] after or [`BACK_MS`] before
//!   the latest time so far moves the variant's timeline so that it follows the last packet by [`GAP_MS`].

use std::io::Cursor;
use std::time::Instant;

use bytes::Bytes;

use super::super::feed::COMPLAINT_EVERY;
use crate::hub::buffer::WriteError;
use crate::hub::Publisher;
use crate::media::ts::{TsDemuxer, TsEvent};
use crate::media::vod::mp4;
use crate::media::{Packet, Track};

/// A time jump forward larger than this (ms) is a discontinuity.
pub const JUMP_MS: i64 = 10_000;
/// A step back larger than this (ms) is a discontinuity (tracks interleave within less).
pub const BACK_MS: i64 = 2_000;
/// Where the first packet after a discontinuity goes: this much after the last one (ms).
pub const GAP_MS: i64 = 40;
/// Track ids of variant `n` are `n * VARIANT_IDS + id`.
pub const VARIANT_IDS: u32 = 100;

/// One variant's way into the stream.
pub struct Sink {
    variant: u32,
    stream: String,
    ts: TsDemuxer,
    /// Added to every time of this variant.
    shift: i64,
    /// The latest time written (after the shift).
    end: Option<i64>,
    /// The next packet starts a new timeline (after a tagged discontinuity).
    resync: bool,
    /// fMP4 tracks announced, to tell a change.
    announced: Vec<Track>,
    complaints: u64,
    last_complaint: Option<Instant>,
}

impl Sink {
    pub fn new(stream: &str, variant: u32) -> Sink {
        Sink {
            variant,
            stream: stream.to_string(),
            ts: TsDemuxer::new(),
            shift: 0,
            end: None,
            resync: false,
            announced: Vec::new(),
            complaints: 0,
            last_complaint: None,
        }
    }

    /// Writes a segment; `init` is the fMP4 init section when the playlist names one. An
    /// `Err` means the stream no longer takes this input's writes.
    pub fn segment(
        &mut self,
        publisher: &Publisher,
        data: Bytes,
        init: Option<&Bytes>,
        discontinuity: bool,
    ) -> Result<(), WriteError> {
        if discontinuity {
            self.ts.finish();
            self.drain_ts(publisher)?;
            self.ts = TsDemuxer::new();
            self.resync = true;
        }
        match init {
            None => {
                self.ts.push(&data);
                self.drain_ts(publisher)
            }
            Some(init) => self.fmp4(publisher, init, &data),
        }
    }

    fn drain_ts(&mut self, publisher: &Publisher) -> Result<(), WriteError> {
        while let Some(event) = self.ts.pull() {
            match event {
                Ok(TsEvent::Track(track)) => self.track(publisher, track)?,
                Ok(TsEvent::Packet(packet)) => self.packet(publisher, packet)?,
                Err(e) => self.complain(&e.to_string()),
            }
        }
        Ok(())
    }

    fn fmp4(
        &mut self,
        publisher: &Publisher,
        init: &Bytes,
        data: &Bytes,
    ) -> Result<(), WriteError> {
        let mut whole = Vec::with_capacity(init.len() + data.len());
        whole.extend_from_slice(init);
        whole.extend_from_slice(data);
        let len = whole.len() as u64;
        let index = match mp4::scan(&mut Cursor::new(&whole), len) {
            Ok(i) => i,
            Err(e) => {
                self.complain(&format!("an fMP4 segment: {e}"));
                return Ok(());
            }
        };
        let whole = Bytes::from(whole);
        let own_id = |i: usize| match index.source_ids.get(i) {
            Some(id) if *id < VARIANT_IDS => *id,
            _ => i as u32 + 1,
        };
        for (i, track) in index.tracks.iter().enumerate() {
            let mut t = track.clone();
            t.id = own_id(i);
            t.firstms = 0;
            t.lastms = 0;
            t.bps = 0;
            if !self.announced.contains(&t) {
                self.announced.retain(|a| a.id != t.id);
                self.announced.push(t.clone());
                self.track(publisher, t)?;
            }
        }
        for e in &index.entries {
            let Some(i) = e.track.checked_sub(1) else {
                continue;
            };
            let (start, size) = (e.pos as usize, e.size as usize);
            let Some(data) = start
                .checked_add(size)
                .filter(|end| *end <= whole.len())
                .map(|end| whole.slice(start..end))
            else {
                continue;
            };
            let packet = Packet {
                track: own_id(i as usize),
                time: e.time,
                offset: e.offset,
                keyframe: e.keyframe,
                data,
            };
            self.packet(publisher, packet)?;
        }
        Ok(())
    }

    fn id(&self, id: u32) -> u32 {
        (self.variant * VARIANT_IDS).saturating_add(id)
    }

    fn track(&mut self, publisher: &Publisher, mut track: Track) -> Result<(), WriteError> {
        track.id = self.id(track.id);
        tracing::info!(
            kind = "STRM",
            stream = self.stream.as_str(),
            "HLS: track {} {}",
            track.id,
            track.codec.map_or("?", |c| c.mist_name())
        );
        publisher.buffer.set_track(publisher.token, track)
    }

    fn packet(&mut self, publisher: &Publisher, mut packet: Packet) -> Result<(), WriteError> {
        packet.track = self.id(packet.track);
        let mut time = packet.time.saturating_add(self.shift);
        if let Some(end) = self.end {
            if self.resync || time - end > JUMP_MS || end - time > BACK_MS {
                self.shift = end + GAP_MS - packet.time;
                time = end + GAP_MS;
            }
        }
        self.resync = false;
        packet.time = time;
        self.end = Some(self.end.map_or(time, |e| e.max(time)));
        publisher.buffer.push(publisher.token, packet)
    }

    /// Logs a problem, at most once per [`COMPLAINT_EVERY`] with how many there were.
    pub fn complain(&mut self, what: &str) {
        self.complaints += 1;
        if self
            .last_complaint
            .is_none_or(|at| at.elapsed() >= COMPLAINT_EVERY)
        {
            tracing::warn!(
                kind = "WARN",
                stream = self.stream.as_str(),
                "HLS variant {}: {what} ({} problem(s) since the last report)",
                self.variant,
                self.complaints
            );
            self.complaints = 0;
            self.last_complaint = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::buffer::{BufferSettings, LiveBuffer};
    use crate::hub::OnDrop;

    fn publisher() -> Publisher {
        let buffer = LiveBuffer::new(BufferSettings::default());
        let token = buffer.new_publisher(false);
        Publisher::new(buffer, token, OnDrop::new(|| {}))
    }

    fn packet(track: u32, time: i64) -> Packet {
        Packet {
            track,
            time,
            offset: 0,
            keyframe: true,
            data: Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn ids_per_variant_and_times_that_keep_going_forward() {
        let p = publisher();
        let mut sink = Sink::new("s", 2);
        for t in [5000, 5040, 5080] {
            sink.packet(&p, packet(1, t)).unwrap();
        }
        // The origin started over without saying so.
        sink.packet(&p, packet(1, 0)).unwrap();
        sink.packet(&p, packet(2, 10)).unwrap();
        // A tagged discontinuity, even a small step back.
        sink.segment(&p, Bytes::new(), None, true).unwrap();
        sink.packet(&p, packet(1, 100)).unwrap();
        let got: Vec<(u32, i64)> = p
            .buffer
            .packets(0, 100)
            .iter()
            .map(|e| (e.packet.track, e.packet.time))
            .collect();
        let first = got[0].1;
        let rel: Vec<(u32, i64)> = got.iter().map(|(t, ms)| (*t, ms - first)).collect();
        assert_eq!(
            rel,
            [
                (201, 0),
                (201, 40),
                (201, 80),
                (201, 120),
                (202, 130),
                (201, 170)
            ]
        );
    }

    #[test]
    fn random_segments_never_panic() {
        let p = publisher();
        let mut sink = Sink::new("s", 0);
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..300 {
            let len = (seed % 3000) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    if round % 2 == 0 && seed % 7 == 0 {
                        0x47
                    } else {
                        seed as u8
                    }
                })
                .collect();
            let data = Bytes::from(data);
            let init = (round % 3 == 0).then(|| data.slice(..len / 2));
            sink.segment(&p, data, init.as_ref(), round % 5 == 0)
                .unwrap();
        }
    }
}
