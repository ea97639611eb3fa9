//! The stream hub: the one narrow interface between the protocols and the actors.
//!
//! ```text
//!   protocols (RTMP, HTTP outputs, pushes)            actors (supervisor, streams, sessions)
//!        │  Hub::admit / play / publish / open_buffer      ▲
//!        └──────────────▶  dyn StreamHub  ─────────────────┘  (implemented by actors::hub)
//!        ┌──────────────  dyn Listeners, dyn PushRunner ◀───  (implemented by protocols)
//!        ▼
//! ```
//!
//! What a protocol may ask, through a [`Hub`]:
//! - [`Hub::admit`]: a connection joins its session (CONN_OPEN, then USER_NEW once per session);
//!   the [`SessionConn`] it gets is its membership and its stop signal.
//! - [`Hub::play`] and [`Hub::subscribe_output`]: resolve a stream by name (sanitised, wildcard
//!   streams taking their base stream's settings, a configured stream started on demand with
//!   STREAM_SOURCE and STREAM_LOAD applied) and subscribe to it: the [`Subscription`]'s reader
//!   gives the track metadata and the packets from the newest keyframe on, from a bounded ring.
//!   A stream whose source is a file ([`vod`]) gives each viewer a reader of its own, from the
//!   [`PlayRange`] it asked for, fed from the file as the viewer takes the packets.
//! - [`Hub::publish`]: attach as the stream's publisher or input (the `push://` rules and
//!   STREAM_PUSH are checked by the stream); the [`Publisher`] writes into the live buffer.
//! - [`Hub::open_buffer`]: the live buffer itself, for outputs that read fragments (HLS, DASH)
//!   or describe a stream (`json_`), without following it as a viewer.
//! - [`Hub::triggers`]: the trigger handlers, for protocol events (RTMP_PUSH_REWRITE, ...).
//!
//! What the actors ask of the protocols ([`outlets`]): run the listeners `config.protocols`
//! names, and run a push. So neither layer imports the other; `server` wires them together.
//!
//! Everything here is plain Rust and tokio: no actix. The live buffer ([`buffer`]), its
//! fragment index ([`fragments`]) and per-format cache ([`cache`]) are the data path the
//! publisher and the viewers share; the actors own them but never sit between the two. The
//! on-demand side ([`vod`]) opens a file's index and feeds each viewer's buffer from disk.

pub mod buffer;
pub mod cache;
#[cfg(test)]
pub mod fake;
pub mod fragments;
pub mod latency;
pub mod outlets;
pub mod push;
pub mod session;
pub mod vod;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::triggers::Triggers;
use buffer::{LiveBuffer, Reader};
use session::{ConnInfo, SessionConn, SessionError};

/// A boxed future, as the hub's object-safe methods return them.
pub type HubFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs a closure once, when dropped: how a subscription, a publisher or a session connection
/// tells its owner that it ended, without the protocol naming the owner.
pub struct OnDrop(Option<Box<dyn FnOnce() + Send + Sync>>);

impl OnDrop {
    pub fn new(f: impl FnOnce() + Send + Sync + 'static) -> Self {
        OnDrop(Some(Box::new(f)))
    }
}

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// Why a stream cannot be opened, published or played.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StreamError {
    #[error("invalid stream name: {0}")]
    InvalidName(String),
    #[error("stream {0} is not configured")]
    NotConfigured(String),
    #[error("stream {0} does not accept pushes (its source is not push://)")]
    NotPushable(String),
    #[error("push to {stream} refused: {reason}")]
    PushDenied { stream: String, reason: String },
    #[error("stream {0} already has a healthy publisher")]
    AlreadyPublishing(String),
    #[error("stream {0} is offline")]
    Offline(String),
    /// The stream's input failed (an unreadable or malformed file); `reason` says why.
    #[error("stream {stream} is offline: {reason}")]
    Failed { stream: String, reason: String },
    #[error("refused: {0}")]
    Refused(String),
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// A viewer's or a push's hold on a stream: read packets with [`Subscription::reader`].
/// Dropping it unsubscribes.
pub struct Subscription {
    pub reader: Reader,
    /// An on-demand viewer's file and feeder (what [`Subscription::seek`] restarts).
    playing: Option<vod::Playing>,
    _release: OnDrop,
}

impl Subscription {
    pub fn new(reader: Reader, release: OnDrop) -> Self {
        Subscription {
            reader,
            playing: None,
            _release: release,
        }
    }

    /// Whether this plays a file (and can seek).
    pub fn is_on_demand(&self) -> bool {
        self.playing.is_some()
    }

    /// An on-demand viewer's file, for an output that reads it itself rather than through the
    /// reader (the progressive MP4 answers byte ranges of it): the feeder stops, so the reader
    /// gets nothing more; the subscription still holds the viewer's place. `None` for a live
    /// stream.
    pub fn take_file(&mut self) -> Option<Arc<vod::VodFile>> {
        self.playing.as_mut().map(vod::Playing::stop_feeding)
    }

    /// An on-demand viewer goes to `ms`: a new reader from the last keyframe at or before it
    /// (the old one and its feeder stop). False, and nothing changes, for a live stream.
    pub fn seek(&mut self, ms: i64) -> bool {
        let Some(playing) = &mut self.playing else {
            return false;
        };
        self.reader = playing.restart(PlayRange::from(ms.max(0)));
        true
    }
}

/// A publisher's hold on a stream: push into [`Publisher::buffer`] with [`Publisher::token`].
/// Dropping it detaches the publisher.
pub struct Publisher {
    pub buffer: Arc<LiveBuffer>,
    pub token: u64,
    _release: OnDrop,
}

impl Publisher {
    pub fn new(buffer: Arc<LiveBuffer>, token: u64, release: OnDrop) -> Self {
        Publisher {
            buffer,
            token,
            _release: release,
        }
    }
}

/// Who follows a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Audience {
    /// A viewer at `peer` asking for `url` (CONN_PLAY may refuse it); starts at the newest
    /// keyframe.
    Viewer { peer: IpAddr, url: String },
    /// A push, counted among the stream's outputs; with `from_start` it starts at the oldest
    /// buffered keyframe.
    Output { from_start: bool },
}

/// Where an on-demand viewer starts and stops, in ms of the file's media time (MistServer's
/// `?start=` and `?stop=`/`?end=`). A live stream ignores it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayRange {
    /// Start at the last keyframe at or before this time; `None`: at the file's first packet.
    pub start_ms: Option<i64>,
    /// End before the first packet at or after this time; `None`: at the end of the file.
    pub end_ms: Option<i64>,
}

impl PlayRange {
    /// The whole file (or live: the newest keyframe on).
    pub const ALL: PlayRange = PlayRange {
        start_ms: None,
        end_ms: None,
    };

    /// From `start_ms` on.
    pub fn from(start_ms: i64) -> PlayRange {
        PlayRange {
            start_ms: Some(start_ms),
            end_ms: None,
        }
    }
}

/// A request to follow a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribeRequest {
    /// The name as asked for (sanitised by the hub).
    pub name: String,
    pub protocol: &'static str,
    pub audience: Audience,
    /// How long to wait for a stream that has no keyframe yet (or is configured but offline).
    pub wait: Duration,
    /// Which part of an on-demand stream to play.
    pub range: PlayRange,
}

/// A request to publish into a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishRequest {
    pub name: String,
    /// Checked against the `@passphrase` of a `push://` source.
    pub passphrase: String,
    pub peer: IpAddr,
    pub protocol: &'static str,
    pub url: String,
}

/// What the actors provide to the protocols. Object-safe; [`Hub`] wraps it for callers.
pub trait StreamHub: Send + Sync + 'static {
    /// Admits a connection into its session (CONN_OPEN, USER_NEW for new viewer sessions).
    fn admit(&self, conn: ConnInfo) -> HubFuture<'_, Result<SessionConn, SessionError>>;
    /// Resolves a stream and subscribes to it; the full stream name comes back with the
    /// subscription once a start point is there.
    fn subscribe(
        &self,
        req: SubscribeRequest,
    ) -> HubFuture<'_, Result<(String, Subscription), StreamError>>;
    /// Resolves a stream and attaches a publisher.
    fn publish(
        &self,
        req: PublishRequest,
    ) -> HubFuture<'_, Result<(String, Publisher), StreamError>>;
    /// A stream's live buffer. With `start`, a configured stream that is not running is started
    /// (and waits for its publisher); without, only running streams are found.
    fn open_buffer(
        &self,
        name: &str,
        start: bool,
    ) -> HubFuture<'_, Result<(String, Arc<LiveBuffer>), StreamError>>;
}

/// The handle protocols hold: the actors' [`StreamHub`] and the trigger handlers. Cheap to
/// clone.
#[derive(Clone)]
pub struct Hub {
    streams: Arc<dyn StreamHub>,
    triggers: Triggers,
}

impl Hub {
    pub fn new(streams: Arc<dyn StreamHub>, triggers: Triggers) -> Self {
        Hub { streams, triggers }
    }

    /// The trigger handlers.
    pub fn triggers(&self) -> &Triggers {
        &self.triggers
    }

    /// Admits a connection into its session.
    pub async fn admit(&self, conn: ConnInfo) -> Result<SessionConn, SessionError> {
        self.streams.admit(conn).await
    }

    /// Opens a stream for a viewer: resolve, CONN_PLAY, subscribe, and wait up to `wait` for a
    /// keyframe to start at. An on-demand stream plays `range` of its file.
    pub async fn play(
        &self,
        name: &str,
        protocol: &'static str,
        (peer, url): (IpAddr, &str),
        range: PlayRange,
        wait: Duration,
    ) -> Result<(String, Subscription), StreamError> {
        self.streams
            .subscribe(SubscribeRequest {
                name: name.to_string(),
                protocol,
                audience: Audience::Viewer {
                    peer,
                    url: url.to_string(),
                },
                wait,
                range,
            })
            .await
    }

    /// Opens a stream for a push (an output), starting a configured stream that is not running.
    pub async fn subscribe_output(
        &self,
        name: &str,
        protocol: &'static str,
        from_start: bool,
        wait: Duration,
    ) -> Result<(String, Subscription), StreamError> {
        self.streams
            .subscribe(SubscribeRequest {
                name: name.to_string(),
                protocol,
                audience: Audience::Output { from_start },
                wait,
                range: PlayRange::ALL,
            })
            .await
    }

    /// Opens a stream for publishing.
    pub async fn publish(&self, req: PublishRequest) -> Result<(String, Publisher), StreamError> {
        self.streams.publish(req).await
    }

    /// A stream's live buffer (see [`StreamHub::open_buffer`]).
    pub async fn open_buffer(
        &self,
        name: &str,
        start: bool,
    ) -> Result<(String, Arc<LiveBuffer>), StreamError> {
        self.streams.open_buffer(name, start).await
    }
}
