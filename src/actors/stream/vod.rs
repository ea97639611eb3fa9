//! On-demand streams: a StreamActor whose source is a file (`/films/a.mp4`, or a complete HLS
//! playlist on disk; a playlist still growing goes to the HLS input instead), configured or chosen
//! by STREAM_SOURCE) opens the file's index when it starts, after STREAM_SOURCE and
//! STREAM_LOAD, with its mailbox waiting, so the first viewer's request is answered from the
//! index. It is then Online for as long as it lives; STREAM_READY and STREAM_UNLOAD name the
//! input (`MP4`, `FLV`, `TS`, `MP3`, `AAC`), and it unloads after [`VOD_IDLE_STOP`] without
//! viewers. A file that cannot be played ends the stream with its reason, which the supervisor
//! keeps for the `streams` answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::{StreamActor, StreamReport, StreamStats};
use crate::hub::buffer::LiveBuffer;
use crate::hub::vod::{self, VodFile};
use crate::hub::StreamError;

/// An on-demand stream with no viewers unloads (its index leaves memory) after this long.
pub const VOD_IDLE_STOP: Duration = Duration::from_secs(15);

impl StreamActor {
    /// Opens the source's file, when it names one; requests wait for the index.
    pub(super) fn open_input(&mut self, ctx: &mut Context<Self>) {
        if self.refused.is_some() {
            return;
        }
        let path = match vod::source_file(&self.source, &self.name) {
            Ok(Some(path)) => path,
            Ok(None) => {
                self.start_pull(ctx);
                return;
            }
            Err(reason) => {
                tracing::warn!(kind = "STRM", stream = self.name.as_str(), "{reason}");
                return self.failed(reason, ctx);
            }
        };
        let name = self.name.clone();
        let open = async move { vod::open(&name, &path).await };
        ctx.wait(open.into_actor(self).map(|opened, act, ctx| match opened {
            Ok(file) => act.loaded(file),
            // A playlist still growing (or on a server): the HLS input follows it.
            Err(vod::OpenError::Live { .. }) => {
                act.start_pull(ctx);
            }
            Err(e) => act.failed(e.to_string(), ctx),
        }));
    }

    fn loaded(&mut self, file: Arc<VodFile>) {
        // The stream's buffer now describes the file: its tracks and length, no packets.
        let buffer = LiveBuffer::on_demand(file.duration_ms(), self.buffer.counters.clone());
        let token = buffer.new_publisher(false);
        for t in &file.index.tracks {
            let _ = buffer.set_track(token, t.clone());
        }
        buffer.describe(file.clone(), self.buffer.segment_ms());
        self.buffer = buffer;
        self.vod = Some(file);
        self.idle_since = Some(Instant::now());
        self.report();
    }

    fn failed(&mut self, reason: String, ctx: &mut Context<Self>) {
        self.refused = Some(StreamError::Failed {
            stream: self.name.clone(),
            reason: reason.clone(),
        });
        self.reports.do_send(StreamReport::Failed {
            name: self.name.clone(),
            reason,
        });
        // Requests already waiting are answered first.
        ctx.run_later(Duration::from_millis(100), |_, ctx| ctx.stop());
    }

    /// The input's name for STREAM_READY and STREAM_UNLOAD: the file's container, or `Buffer`
    /// for a live stream.
    pub(super) fn input_name(&self) -> &'static str {
        match (&self.vod, &self.pull) {
            (Some(f), _) => f.input_name(),
            (None, Some(p)) => p.input,
            (None, None) => "Buffer",
        }
    }

    /// An on-demand stream's numbers: Online, its file as its one input, `lastms` its length.
    pub(super) fn vod_stats(file: &VodFile, s: &mut StreamStats) {
        let tracks = &file.index.tracks;
        s.status = "Online";
        s.inputs = 1;
        s.downbytes = 0;
        s.firstms = tracks.iter().map(|t| t.firstms).min().unwrap_or(0);
        s.lastms = file.duration_ms();
        s.tracks = tracks.len() as u64;
    }

    /// How long the stream stays without viewers before it stops.
    pub(super) fn idle_limit(&self) -> Duration {
        if self.vod.is_some() {
            VOD_IDLE_STOP
        } else {
            super::IDLE_STOP
        }
    }
}
