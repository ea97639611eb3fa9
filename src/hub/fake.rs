//! A stand-in for the actors, for protocol tests: a [`StreamHub`] over plain live buffers,
//! with no supervisor, sessions or triggers behind it (mediamtx tests its servers against a
//! fake path manager the same way). Every connection is admitted; a stream exists once a test
//! adds it.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::buffer::{BufferSettings, LiveBuffer};
use super::session::{ConnInfo, SessionConn, SessionError};
use super::{
    Audience, Hub, HubFuture, OnDrop, PublishRequest, Publisher, StreamError, StreamHub,
    SubscribeRequest, Subscription,
};
use crate::triggers::Triggers;

/// Streams by name.
#[derive(Default)]
pub struct FakeHub {
    streams: Mutex<HashMap<String, Arc<LiveBuffer>>>,
}

impl FakeHub {
    /// A hub with no streams, and its handle.
    pub fn new() -> (Arc<FakeHub>, Hub) {
        let fake = Arc::new(FakeHub::default());
        let hub = Hub::new(fake.clone(), Triggers::default());
        (fake, hub)
    }

    /// Adds (or replaces) a stream and returns its buffer.
    pub fn add_stream(&self, name: &str) -> Arc<LiveBuffer> {
        let buffer = LiveBuffer::new(BufferSettings::default());
        self.lock().insert(name.to_string(), buffer.clone());
        buffer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LiveBuffer>>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn find(&self, name: &str) -> Result<(String, Arc<LiveBuffer>), StreamError> {
        let name = crate::stream_name::sanitize(name);
        match self.lock().get(&name) {
            Some(b) => Ok((name, b.clone())),
            None => Err(StreamError::NotConfigured(name)),
        }
    }
}

impl StreamHub for FakeHub {
    fn admit(&self, conn: ConnInfo) -> HubFuture<'_, Result<SessionConn, SessionError>> {
        let id = super::session::session_id(&conn);
        let (_, stop) = watch::channel(false);
        let conn = SessionConn::new(id, stop, Arc::new(AtomicU64::new(0)), OnDrop::new(|| {}));
        Box::pin(async move { Ok(conn) })
    }

    fn subscribe(
        &self,
        req: SubscribeRequest,
    ) -> HubFuture<'_, Result<(String, Subscription), StreamError>> {
        Box::pin(async move {
            let (name, buffer) = self.find(&req.name)?;
            let mut reader = match req.audience {
                Audience::Output { from_start: true } => buffer.reader_from_start(),
                _ => buffer.reader(),
            };
            if !reader.wait_ready(req.wait).await {
                return Err(StreamError::Offline(name));
            }
            Ok((name, Subscription::new(reader, OnDrop::new(|| {}))))
        })
    }

    fn publish(
        &self,
        req: PublishRequest,
    ) -> HubFuture<'_, Result<(String, Publisher), StreamError>> {
        Box::pin(async move {
            let (name, buffer) = self.find(&req.name)?;
            let token = buffer.new_publisher(false);
            Ok((name, Publisher::new(buffer, token, OnDrop::new(|| {}))))
        })
    }

    fn open_buffer(
        &self,
        name: &str,
        _start: bool,
    ) -> HubFuture<'_, Result<(String, Arc<LiveBuffer>), StreamError>> {
        let found = self.find(name);
        Box::pin(async move { found })
    }
}
