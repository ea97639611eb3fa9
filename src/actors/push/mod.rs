//! Pushes and recordings (manual §2.4, §4.1.27-§4.1.33, facts §7): one [`PushActor`] per
//! running push, sending a stream to another RTMP server or writing it to a file.
//!
//! The actor owns the push's control state; the output runs as a task on the media runtime
//! (where viewers run), given by the protocols' [`PushRunner`] (`protocols::push`): it reads the
//! stream's live buffer like a viewer does and writes a file or to an RTMP server. Steps, in
//! order:
//! 1. PUSH_OUT_START (blocking): a handler's answer replaces the target; an empty answer
//!    aborts the push.
//! 2. Variables are substituted; the result is the push's resolved target, shown by
//!    `push_list`.
//! 3. The stream is opened (a configured stream that is not running is started and waited for
//!    up to 30 s); the push is an output session (`stop_sessions` with `OUTPUT` and
//!    `stop_sessid` reach it) and counts among the stream's outputs.
//! 4. Packets are written until the stream ends, `push_stop` asks, the session is stopped, a
//!    `duration` option is reached, or the target fails. A file is always finished properly
//!    (MP4 trailer, FLV duration), then RECORDING_END fires; PUSH_END fires for every push.
//!
//! Bad targets (unknown scheme, unwritable folder, unreachable server) end the push with a log
//! line; the stream and its viewers never notice. Auto-pushes restart according to
//! `push_settings` (see [`auto`]).

pub mod auto;
pub mod registry;

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::watch;

use crate::hub::outlets::PushRunner;
use crate::hub::push::{ExitReason, PushState};

/// The actor of one push.
pub struct PushActor {
    shared: Arc<PushState>,
    runner: Arc<dyn PushRunner>,
    stop: watch::Sender<Option<ExitReason>>,
    /// Start at the oldest buffered keyframe (the stream just became active).
    from_start: bool,
    ended: Recipient<PushEnded>,
}

impl PushActor {
    pub fn new(
        shared: Arc<PushState>,
        runner: Arc<dyn PushRunner>,
        from_start: bool,
        ended: Recipient<PushEnded>,
    ) -> Self {
        PushActor {
            shared,
            runner,
            stop: watch::channel(None).0,
            from_start,
            ended,
        }
    }
}

impl Actor for PushActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let output = self
            .runner
            .run(self.shared.clone(), self.stop.subscribe(), self.from_start);
        ctx.spawn(output.into_actor(self).map(|reason, act, ctx| {
            act.shared.done.send_replace(true);
            act.ended.do_send(PushEnded {
                id: act.shared.id,
                reason,
            });
            ctx.stop();
        }));
    }
}

/// Asks a push to stop; its file is finished first.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopPush(pub ExitReason);

impl Handler<StopPush> for PushActor {
    type Result = ();
    fn handle(&mut self, msg: StopPush, _: &mut Self::Context) {
        self.stop.send_replace(Some(msg.0));
    }
}

/// A push ended (sent to the supervisor).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct PushEnded {
    pub id: u64,
    pub reason: ExitReason,
}
