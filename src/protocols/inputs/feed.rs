//! MPEG-TS bytes into a stream: the demuxer's tracks and packets go into the input's publisher;
//! its complaints (lost packets, continuity errors, broken PES) are counted (the stream's
//! `packloss` in `active_streams`) and logged at most once per [`COMPLAINT_EVERY`] with how many
//! there were, so a noisy source does not flood the log. The
//! demuxer recovers by itself at the next PES, and the live buffer's viewers at the next
//! keyframe.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::hub::buffer::WriteError;
use crate::hub::Publisher;
use crate::media::ts::{TsDemuxer, TsEvent};

/// Shortest time between two log lines about the input's problems.
pub const COMPLAINT_EVERY: Duration = Duration::from_secs(5);

/// A demuxer writing into a publisher.
pub struct TsFeed {
    demuxer: TsDemuxer,
    publisher: Publisher,
    stream: String,
    what: &'static str,
    complaints: u64,
    last_complaint: Option<Instant>,
}

impl TsFeed {
    /// `what` names the input in log lines (`TS over UDP`).
    pub fn new(stream: &str, what: &'static str, publisher: Publisher) -> Self {
        TsFeed {
            demuxer: TsDemuxer::new(),
            publisher,
            stream: stream.to_string(),
            what,
            complaints: 0,
            last_complaint: None,
        }
    }

    /// Demuxes `data` (any chunk of the transport stream) into the stream. An error means the
    /// stream no longer takes this input's writes (another publisher replaced it, or it ended).
    pub fn write(&mut self, data: &[u8]) -> Result<(), WriteError> {
        self.publisher
            .buffer
            .counters
            .bytes_in
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.demuxer.push(data);
        self.drain()
    }

    /// The input ended: the last PES is complete now.
    pub fn finish(&mut self) -> Result<(), WriteError> {
        self.demuxer.finish();
        self.drain()
    }

    fn drain(&mut self) -> Result<(), WriteError> {
        let (buffer, token) = (&self.publisher.buffer, self.publisher.token);
        while let Some(event) = self.demuxer.pull() {
            match event {
                Ok(TsEvent::Track(track)) => {
                    tracing::info!(
                        kind = "STRM",
                        stream = self.stream.as_str(),
                        "{}: track {} {}",
                        self.what,
                        track.id,
                        track.codec.map_or("?", |c| c.mist_name())
                    );
                    buffer.set_track(token, track)?;
                }
                Ok(TsEvent::Packet(packet)) => buffer.push(token, packet)?,
                Err(e) => {
                    buffer.counters.lost.fetch_add(1, Ordering::Relaxed);
                    self.complaints += 1;
                    let due = self
                        .last_complaint
                        .is_none_or(|at| at.elapsed() >= COMPLAINT_EVERY);
                    if due {
                        tracing::warn!(
                            kind = "WARN",
                            stream = self.stream.as_str(),
                            "{}: {e} ({} problem(s) since the last report)",
                            self.what,
                            self.complaints
                        );
                        self.complaints = 0;
                        self.last_complaint = Some(Instant::now());
                    }
                }
            }
        }
        Ok(())
    }
}
