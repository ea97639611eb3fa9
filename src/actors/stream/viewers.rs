//! Who follows a stream: viewers and pushes subscribe and unsubscribe, and outputs that only
//! read the buffer (HLS, DASH, `json_`) get it with [`GetBuffer`].
//!
//! A live stream hands every subscriber a reader of its one buffer. An on-demand stream hands
//! out its file instead ([`Subscribed::OnDemand`]): the hub gives each viewer a buffer of its
//! own fed from the file (`hub::vod::subscribe`), on the viewer's runtime, so the actor never
//! sits in the data path.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use super::{StreamActor, ViewerState};
use crate::hub::buffer::{Counters, LiveBuffer};
use crate::hub::vod::VodFile;
use crate::hub::{OnDrop, StreamError, Subscription};

/// Subscribes a viewer or a push. The reader starts at the newest keyframe (or waits for
/// one); with `from_start`, at the oldest one in the buffer. An on-demand stream answers with
/// its file.
#[derive(Message)]
#[rtype(result = "Result<Subscribed, StreamError>")]
pub struct Subscribe {
    pub protocol: &'static str,
    /// A push, counted among the stream's outputs rather than its viewers.
    pub output: bool,
    pub from_start: bool,
}

/// What a subscriber gets.
pub enum Subscribed {
    /// A reader of the live buffer.
    Live(Subscription),
    /// The file to play, the stream's counters for the viewer's buffer, and what tells the
    /// stream the viewer left.
    OnDemand {
        file: Arc<VodFile>,
        counters: Arc<Counters>,
        release: OnDrop,
    },
}

impl Handler<Subscribe> for StreamActor {
    type Result = Result<Subscribed, StreamError>;
    fn handle(&mut self, msg: Subscribe, ctx: &mut Self::Context) -> Self::Result {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        let id = self.next_viewer;
        self.next_viewer += 1;
        if !msg.output {
            self.views += 1;
        }
        self.viewers.insert(
            id,
            ViewerState {
                protocol: msg.protocol,
                output: msg.output,
            },
        );
        self.idle_since = None;
        let stream = ctx.address();
        let release = OnDrop::new(move || stream.do_send(Unsubscribe { id }));
        if let Some(file) = &self.vod {
            return Ok(Subscribed::OnDemand {
                file: file.clone(),
                counters: self.buffer.counters.clone(),
                release,
            });
        }
        let reader = if msg.from_start {
            self.buffer.reader_from_start()
        } else {
            self.buffer.reader()
        };
        Ok(Subscribed::Live(Subscription::new(reader, release)))
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Unsubscribe {
    id: u64,
}

impl Handler<Unsubscribe> for StreamActor {
    type Result = ();
    fn handle(&mut self, msg: Unsubscribe, _: &mut Self::Context) {
        self.viewers.remove(&msg.id);
    }
}

/// Hands out the stream's buffer, for outputs that read it without following it as a viewer.
/// An on-demand stream's holds its tracks and length and no packets
/// ([`LiveBuffer::vod_duration`] tells it apart).
#[derive(Message)]
#[rtype(result = "Result<Arc<LiveBuffer>, StreamError>")]
pub struct GetBuffer;

impl Handler<GetBuffer> for StreamActor {
    type Result = Result<Arc<LiveBuffer>, StreamError>;
    fn handle(&mut self, _: GetBuffer, _: &mut Self::Context) -> Self::Result {
        if let Some(e) = &self.refused {
            return Err(e.clone());
        }
        // A closed buffer is a stream that ended (its publisher left and did not come back):
        // offline, as for a new viewer, and no reason to keep the actor up. The next request
        // after it unloads starts the stream afresh.
        if self.buffer.is_closed() {
            return Err(StreamError::Offline(self.name.clone()));
        }
        // Someone is interested: do not stop for idleness right now.
        self.idle_since = Some(Instant::now());
        Ok(self.buffer.clone())
    }
}
