//! The output side of a push (manual §4.1.27, facts §7): open the stream, then copy its
//! packets to a file ([`record`]) or to an RTMP server ([`crate::protocols::rtmp::push`]) until
//! something ends it. Runs on the media runtime; the PushActor that owns the push reaches it
//! through [`crate::hub::outlets::PushRunner`].
//!
//! In order: PUSH_OUT_START (a blocking handler's answer replaces the target, an empty answer
//! aborts), variable substitution ([`target::substitute`]), an output session (so
//! `stop_sessions` with `OUTPUT` and `stop_sessid` reach the push), the subscription (a
//! configured stream that is not running is started and waited for up to [`STREAM_WAIT`]),
//! the copy, and PUSH_END.

pub mod record;
pub mod target;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use self::target::Target;
use crate::hub::buffer::{Entry, ReadEvent};
use crate::hub::outlets::PushRunner;
use crate::hub::push::{ExitReason, PushState};
use crate::hub::session::{ConnInfo, SessionConn, SessionKind};
use crate::hub::{HubFuture, Subscription};
use crate::protocols::ListenerContext;

/// How long a push waits for a stream that has no data yet.
pub const STREAM_WAIT: Duration = Duration::from_secs(30);
/// Packets taken from the buffer per write.
const BATCH: usize = 128;

type StopRx = watch::Receiver<Option<ExitReason>>;

/// Runs the pushes the supervisor starts, on the media runtime.
pub struct Pusher {
    ctx: ListenerContext,
}

impl Pusher {
    pub fn new(ctx: ListenerContext) -> Self {
        Pusher { ctx }
    }
}

impl PushRunner for Pusher {
    fn run(
        &self,
        push: Arc<PushState>,
        stop: StopRx,
        from_start: bool,
    ) -> HubFuture<'static, ExitReason> {
        let task = self
            .ctx
            .runtime
            .spawn(run(push, self.ctx.clone(), stop, from_start));
        Box::pin(async move {
            task.await.unwrap_or_else(|e| {
                tracing::error!(kind = "FAIL", "push task failed: {e}");
                ExitReason::WriteFailure
            })
        })
    }
}

/// Runs a push to its end; fires PUSH_END (and RECORDING_END for files).
pub async fn run(
    shared: Arc<PushState>,
    ctx: ListenerContext,
    stop: StopRx,
    from_start: bool,
) -> ExitReason {
    let reason = push(&shared, &ctx, stop, from_start).await;
    shared.log(
        if matches!(
            reason,
            ExitReason::CleanEof | ExitReason::IntendedStop | ExitReason::ControllerRequest
        ) {
            "INFO"
        } else {
            "WARN"
        },
        format!(
            "Push {} of {} to {} ended: {}",
            shared.id,
            shared.stream,
            shared.resolved(),
            reason.text()
        ),
    );
    // PUSH_END (facts §5.4): id, stream, original target, final target, logs, status.
    let lines = [
        shared.id.to_string(),
        shared.stream.clone(),
        shared.target.clone(),
        shared.resolved(),
        shared.logs().to_string(),
        shared.status().to_string(),
    ];
    ctx.hub
        .triggers()
        .fire_later("PUSH_END", &shared.stream, lines.to_vec());
    reason
}

async fn push(
    shared: &Arc<PushState>,
    ctx: &ListenerContext,
    stop: StopRx,
    from_start: bool,
) -> ExitReason {
    let stream = shared.stream.clone();
    let mut chosen = shared.target.clone();
    let triggers = ctx.hub.triggers();
    // PUSH_OUT_START (facts §7.4): a blocking handler's answer replaces the target.
    if triggers.configured("PUSH_OUT_START", &stream) {
        let out = triggers
            .fire("PUSH_OUT_START", &stream, &[&stream, &chosen])
            .await;
        if let Some(answer) = out.answer {
            let answer = answer.trim();
            if answer.is_empty() {
                shared.log(
                    "INFO",
                    format!("PUSH_OUT_START handler aborted the push of {stream} to {chosen}"),
                );
                return ExitReason::Trigger;
            }
            chosen = answer.to_string();
        }
    }
    let resolved = target::substitute(&chosen, &stream, &chrono::Local::now());
    shared.set_resolved(resolved.clone());
    let parsed = match target::parse(&resolved) {
        Ok(t) => t,
        Err(e) => {
            shared.log("FAIL", format!("Push of {stream}: {e}"));
            return ExitReason::Unsupported;
        }
    };
    let protocol = match &parsed {
        Target::Rtmp(_) => "RTMP",
        Target::File(f) => f.container.name(),
    };
    // An output session, so stop_sessions OUTPUT and stop_sessid reach the push.
    let info = ConnInfo {
        stream: stream.clone(),
        ip: std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        token: format!("push{}", shared.id),
        protocol,
        url: resolved.clone(),
        kind: SessionKind::Output,
    };
    let session = match ctx.hub.admit(info).await {
        Ok(s) => s,
        Err(e) => {
            shared.log("FAIL", format!("Push of {stream} refused: {e}"));
            return ExitReason::ReadStartFailure;
        }
    };
    let sub = match ctx
        .hub
        .subscribe_output(&stream, protocol, from_start, STREAM_WAIT)
        .await
    {
        Ok((_, sub)) => sub,
        Err(e) => {
            shared.log("FAIL", format!("Push of {stream} could not start: {e}"));
            return ExitReason::ReadStartFailure;
        }
    };
    let mut io = PushIo {
        shared,
        sub,
        stop,
        session,
        batch: Vec::new(),
    };
    match parsed {
        Target::File(file) => record::record(&mut io, ctx, file).await,
        Target::Rtmp(url) => crate::protocols::rtmp::push::push(&mut io, &url).await,
    }
}

/// What both kinds of push read from.
pub struct PushIo<'a> {
    pub shared: &'a Arc<PushState>,
    pub sub: Subscription,
    stop: StopRx,
    session: SessionConn,
    /// The packets [`PushIo::next`] gave.
    pub batch: Vec<Arc<Entry>>,
}

/// What waiting for packets gave.
pub enum Next {
    Packets,
    End(ExitReason),
}

impl PushIo<'_> {
    /// Waits for the next batch of packets, a stop request, or the stream's end.
    pub async fn next(&mut self) -> Next {
        loop {
            self.batch.clear();
            if let Some(r) = *self.stop.borrow() {
                return Next::End(r);
            }
            let event = tokio::select! {
                biased;
                _ = self.stop.changed() => continue,
                _ = self.session.stopped() => {
                    self.shared.log("INFO", format!("Session {} of push {} stopped", self.session.id, self.shared.id));
                    return Next::End(ExitReason::IntendedStop);
                }
                e = self.sub.reader.next_batch(&mut self.batch, BATCH) => e,
            };
            match event {
                ReadEvent::Packets => return Next::Packets,
                ReadEvent::Closed => return Next::End(ExitReason::CleanEof),
                ReadEvent::Skipped(n) => self.shared.log(
                    "WARN",
                    format!(
                        "Push {} fell behind the live buffer; {n} packets were skipped",
                        self.shared.id
                    ),
                ),
            }
        }
    }

    /// Records a packet's time as written (`push_list` status, RECORDING_END).
    pub fn note_packet(&self, time: i64) {
        let _ = self.shared.first_ms.compare_exchange(
            i64::MIN,
            time,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.shared.last_ms.store(time, Ordering::Relaxed);
        self.session.counters.sent(0, 1, Some(time));
    }

    /// Counts bytes written to the push, its session and the stream.
    pub fn count(&self, bytes: u64) {
        self.shared.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.session.counters.sent(bytes, 0, None);
        self.sub
            .reader
            .buffer()
            .counters
            .bytes_out
            .fetch_add(bytes, Ordering::Relaxed);
    }
}
