//! A stand-in for the actors, for protocol tests: a [`StreamHub`] over plain live buffers,
//! with no supervisor, sessions or triggers behind it (mediamtx tests its servers against a
//! fake path manager the same way). A stream exists once a test adds it, with a buffer or as
//! one that never opens; every connection is admitted except those with a denied token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::buffer::{BufferSettings, LiveBuffer};
use super::session::{ConnCounters, ConnInfo, SessionConn, SessionError};
use super::{
    Audience, Hub, HubFuture, OnDrop, PublishRequest, Publisher, StreamError, StreamHub,
    SubscribeRequest, Subscription,
};
use crate::triggers::Triggers;

/// Streams by name (`None`: it never opens), and the tokens whose sessions are denied.
#[derive(Default)]
pub struct FakeHub {
    streams: Mutex<HashMap<String, Option<Arc<LiveBuffer>>>>,
    denied: Mutex<Vec<String>>,
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
        self.lock().insert(name.to_string(), Some(buffer.clone()));
        buffer
    }

    /// Adds a stream with a buffer of the test's own.
    pub fn add_buffer(&self, name: &str, buffer: Arc<LiveBuffer>) {
        self.lock().insert(name.to_string(), Some(buffer));
    }

    /// Adds a stream that is configured but never opens: requests for it wait for ever.
    pub fn add_pending(&self, name: &str) {
        self.lock().insert(name.to_string(), None);
    }

    /// Sessions with this token are denied (as a USER_NEW handler would).
    pub fn deny_token(&self, token: &str) {
        let mut denied = self.denied.lock().unwrap_or_else(|p| p.into_inner());
        denied.push(token.to_string());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<Arc<LiveBuffer>>>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn find(&self, name: &str) -> Result<(String, Arc<LiveBuffer>), StreamError> {
        let name = crate::stream_name::sanitize(name);
        let found = self.lock().get(&name).cloned();
        match found {
            Some(Some(b)) => Ok((name, b)),
            Some(None) => std::future::pending().await,
            None => Err(StreamError::NotConfigured(name)),
        }
    }
}

impl StreamHub for FakeHub {
    fn admit(&self, conn: ConnInfo) -> HubFuture<'_, Result<SessionConn, SessionError>> {
        let id = super::session::session_id(&conn);
        let denied = self.denied.lock().unwrap_or_else(|p| p.into_inner());
        let answer = if denied.contains(&conn.token) {
            Err(SessionError::Denied(id))
        } else {
            let (_, stop) = watch::channel(false);
            let counters = Arc::new(ConnCounters::default());
            Ok(SessionConn::new(id, stop, counters, OnDrop::new(|| {})))
        };
        Box::pin(async move { answer })
    }

    fn subscribe(
        &self,
        req: SubscribeRequest,
    ) -> HubFuture<'_, Result<(String, Subscription), StreamError>> {
        Box::pin(async move {
            let (name, buffer) = self.find(&req.name).await?;
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
            let (name, buffer) = self.find(&req.name).await?;
            let token = buffer.new_publisher(false);
            Ok((name, Publisher::new(buffer, token, OnDrop::new(|| {}))))
        })
    }

    fn open_buffer(
        &self,
        name: &str,
        _start: bool,
    ) -> HubFuture<'_, Result<(String, Arc<LiveBuffer>), StreamError>> {
        let name = name.to_string();
        Box::pin(async move { self.find(&name).await })
    }
}
