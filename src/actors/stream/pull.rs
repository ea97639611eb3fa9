//! Streams whose input brings the media itself: TS over UDP, exec pipes, HLS pulls (the
//! protocols' [`InputRunner`](crate::hub::outlets::InputRunner)). When the source is one of
//! these, the stream attaches a publisher for the input as it starts (after STREAM_SOURCE and
//! STREAM_LOAD) and hands it to the runner.
//! An input that ends (a command exited, a socket failed) is started again after
//! [`RESTART_DELAY`], doubled for each attempt that brought no data, up to
//! [`RESTART_DELAY_MAX`], for as long as the stream lives; meanwhile viewers stay, as for a
//! publisher that left (within `input_timeout`). The stream stops like any other when it has
//! had no viewers for a while, and its input with it; a new source restarts the input.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use super::{AttachPublisher, StreamActor};
use crate::hub::outlets::InputEnd;

/// Wait before starting an input that ended.
pub const RESTART_DELAY: Duration = Duration::from_secs(1);
/// Longest wait between attempts of an input that keeps failing.
pub const RESTART_DELAY_MAX: Duration = Duration::from_secs(16);

/// The running input of a stream.
pub(super) struct Pull {
    /// The input's name (`TSUDP`, ...).
    pub(super) input: &'static str,
    /// Turns true to stop the input (dropping it stops it too).
    stop: watch::Sender<bool>,
    /// Which start this is; a late end of an older one is ignored.
    generation: u64,
    /// Attempts in a row that brought no data.
    failures: u32,
    /// The stream's input byte counter when this attempt started.
    bytes_at_start: u64,
}

impl StreamActor {
    /// Starts the source's input when an input runner reads it; false when none does.
    pub(super) fn start_pull(&mut self, ctx: &mut Context<Self>) -> bool {
        let Some(input) = self.inputs.input_for(&self.source) else {
            return false;
        };
        let generation = self.pull.as_ref().map_or(1, |p| p.generation + 1);
        let failures = self.pull.as_ref().map_or(0, |p| p.failures);
        let attach = AttachPublisher {
            peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
            passphrase: String::new(),
            by_key: false,
            protocol: input,
            url: self.source.clone(),
        };
        let publisher = match self.attach(attach, ctx) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(
                    kind = "STRM",
                    stream = self.name.as_str(),
                    "{input} input not started: {e}"
                );
                return true;
            }
        };
        let (stop, stop_rx) = watch::channel(false);
        let run = self
            .inputs
            .run(self.name.clone(), self.source.clone(), publisher, stop_rx);
        ctx.spawn(
            run.into_actor(self)
                .map(move |end, act, ctx| act.pull_ended(generation, end, ctx)),
        );
        self.pull = Some(Pull {
            input,
            stop,
            generation,
            failures,
            bytes_at_start: self.buffer.counters.bytes_in.load(Ordering::Relaxed),
        });
        true
    }

    /// Stops the running input, if any (the stream stops, or its source changed).
    pub(super) fn stop_pull(&mut self) {
        if let Some(p) = &self.pull {
            let _ = p.stop.send(true);
        }
    }

    fn pull_ended(&mut self, generation: u64, end: InputEnd, ctx: &mut Context<Self>) {
        let Some(pull) = &mut self.pull else {
            return;
        };
        if pull.generation != generation {
            return;
        }
        let input = pull.input;
        let brought = self.buffer.counters.bytes_in.load(Ordering::Relaxed) > pull.bytes_at_start;
        pull.failures = if brought {
            0
        } else {
            pull.failures.saturating_add(1)
        };
        let delay = RESTART_DELAY
            .saturating_mul(1 << pull.failures.saturating_sub(1).min(4))
            .min(RESTART_DELAY_MAX);
        let name = self.name.as_str();
        match &end {
            InputEnd::Stopped => return,
            InputEnd::Finished(why) => {
                tracing::info!(
                    kind = "STRM",
                    stream = name,
                    "{input} input of {name} ended ({why}); again in {delay:?}"
                )
            }
            InputEnd::Failed(why) => {
                tracing::warn!(
                    kind = "STRM",
                    stream = name,
                    "{input} input of {name} failed: {why}; again in {delay:?}"
                )
            }
        }
        ctx.run_later(delay, move |act, ctx| {
            let current = act.pull.as_ref().map(|p| p.generation);
            if current == Some(generation) && act.refused.is_none() {
                act.start_pull(ctx);
            }
        });
    }
}
