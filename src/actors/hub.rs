//! The actors' side of the stream hub: [`ActorHub`] implements [`StreamHub`] with messages to
//! the supervisor (which finds or starts streams and sessions) and to the stream and session
//! actors it hands back.
//!
//! A stream that is just ending may refuse a request; the hub then resolves the name once more
//! and gets a fresh stream. Connection triggers fire here: CONN_OPEN and CONN_CLOSE around a
//! session connection (manual §4.4.18-19), CONN_PLAY before a viewer subscribes (§4.4.20). The
//! STREAM_* triggers fire in the StreamActor. An on-demand stream answers a subscription with
//! its file; the viewer's own reader and its feeder are made here, on the viewer's runtime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use actix::Addr;

use super::session::Admit;
use super::stream::{AttachPublisher, GetBuffer, Subscribe, Subscribed};
use super::supervisor::{OpenSession, ResolveStream, StreamKeyTarget, StreamRef, Supervisor};
use crate::hub::buffer::LiveBuffer;
use crate::hub::session::{ConnInfo, SessionConn, SessionError};
use crate::hub::vod;
use crate::hub::{
    Audience, Hub, HubFuture, OnDrop, PublishRequest, Publisher, StreamError, StreamHub,
    SubscribeRequest, Subscription,
};
use crate::triggers::Triggers;

/// How many times a request resolves a stream (the second try gets a fresh one).
const ATTEMPTS: usize = 2;

/// How long a buffer opened by name is handed to the next requests for that name without
/// asking the supervisor and the stream again. HLS and DASH players ask for a playlist or a
/// segment every second or two each: a thousand of them made two actor round trips (four
/// thread wake-ups) per request only to be told the same buffer. Once a second per name the
/// actors are asked again, which keeps the stream's idle clock fresh and sees a stream that was
/// removed or refused; a stream that ends closes its buffer, which is never handed out again.
const RECENT_BUFFER: Duration = Duration::from_secs(1);

/// Names remembered before the expired ones are first swept out (then twice what was left).
const RECENT_SWEEP: usize = 64;

/// The hub as the actors implement it.
pub struct ActorHub {
    supervisor: Addr<Supervisor>,
    triggers: Triggers,
    /// Buffers recently opened, by the name asked for ([`RECENT_BUFFER`]).
    recent: Mutex<RecentBuffers>,
}

#[derive(Default)]
struct RecentBuffers {
    by_name: HashMap<String, Recent>,
    /// The size at which the expired names are swept out.
    sweep_at: usize,
}

struct Recent {
    name: String,
    buffer: Weak<LiveBuffer>,
    at: Instant,
}

impl Recent {
    fn fresh(&self) -> Option<Arc<LiveBuffer>> {
        if self.at.elapsed() > RECENT_BUFFER {
            return None;
        }
        self.buffer.upgrade().filter(|b| !b.is_closed())
    }
}

impl ActorHub {
    /// The [`Hub`] protocols are given.
    pub fn handle(supervisor: Addr<Supervisor>, triggers: Triggers) -> Hub {
        let hub = ActorHub {
            supervisor,
            triggers: triggers.clone(),
            recent: Mutex::default(),
        };
        Hub::new(Arc::new(hub), triggers)
    }

    async fn resolve(&self, name: &str, create: bool) -> Result<StreamRef, StreamError> {
        self.supervisor
            .send(ResolveStream {
                name: name.to_string(),
                create,
            })
            .await
            .map_err(|_| StreamError::ShuttingDown)?
    }

    async fn admit_conn(&self, info: ConnInfo) -> Result<SessionConn, SessionError> {
        let lines = vec![
            info.stream.clone(),
            info.ip.to_string(),
            info.protocol.to_string(),
            info.url.clone(),
        ];
        // CONN_OPEN (manual §4.4.18): a blocking handler may refuse the connection.
        if self.triggers.configured("CONN_OPEN", &info.stream) {
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            if !self
                .triggers
                .fire("CONN_OPEN", &info.stream, &refs)
                .await
                .allowed
            {
                return Err(SessionError::Refused(
                    "the CONN_OPEN handler refused the connection".into(),
                ));
            }
        }
        let (stream, protocol) = (info.stream.clone(), info.protocol);
        let session = self
            .supervisor
            .send(OpenSession(info))
            .await
            .map_err(|_| SessionError::Gone)??;
        let mut conn = session
            .send(Admit(protocol))
            .await
            .map_err(|_| SessionError::Gone)??;
        // CONN_CLOSE (manual §4.4.19) fires when the connection ends.
        if self.triggers.configured("CONN_CLOSE", &stream) {
            let triggers = self.triggers.clone();
            conn.on_close(OnDrop::new(move || {
                triggers.fire_later("CONN_CLOSE", &stream, lines)
            }));
        }
        Ok(conn)
    }

    async fn subscribe_to(
        &self,
        req: SubscribeRequest,
    ) -> Result<(String, Subscription), StreamError> {
        let mut last = StreamError::ShuttingDown;
        for _ in 0..ATTEMPTS {
            let stream = self.resolve(&req.name, true).await?;
            let output = match &req.audience {
                Audience::Viewer { peer, url } => {
                    self.conn_play(&stream.name, *peer, req.protocol, url)
                        .await?;
                    None
                }
                Audience::Output { from_start } => Some(*from_start),
            };
            let msg = Subscribe {
                protocol: req.protocol,
                output: output.is_some(),
                from_start: output.unwrap_or(false),
            };
            match stream.addr.send(msg).await {
                Ok(Ok(Subscribed::Live(mut sub))) => {
                    return if sub.reader.wait_ready(req.wait).await {
                        Ok((stream.name, sub))
                    } else {
                        Err(StreamError::Offline(stream.name))
                    };
                }
                Ok(Ok(Subscribed::OnDemand {
                    file,
                    counters,
                    release,
                })) => {
                    let sub = vod::subscribe(file, req.range, counters, release);
                    return Ok((stream.name, sub));
                }
                Ok(Err(e @ (StreamError::Refused(_) | StreamError::Failed { .. }))) => {
                    return Err(e)
                }
                Ok(Err(e)) => last = e,
                Err(_) => last = StreamError::Offline(stream.name),
            }
        }
        Err(last)
    }

    /// CONN_PLAY (manual §4.4.20): a blocking handler may refuse this viewer.
    async fn conn_play(
        &self,
        stream: &str,
        peer: std::net::IpAddr,
        protocol: &str,
        url: &str,
    ) -> Result<(), StreamError> {
        if !self.triggers.configured("CONN_PLAY", stream) {
            return Ok(());
        }
        let host = peer.to_string();
        let out = self
            .triggers
            .fire("CONN_PLAY", stream, &[stream, &host, protocol, url])
            .await;
        if out.allowed {
            Ok(())
        } else {
            Err(StreamError::Refused(format!(
                "CONN_PLAY handler refused {host}"
            )))
        }
    }

    /// Attaches a publisher. A name that is a stream key (`streamkeys`) publishes into its
    /// stream, and the key stands in for the source's host and passphrase rules (facts §4).
    async fn attach(&self, req: PublishRequest) -> Result<(String, Publisher), StreamError> {
        let keyed = self
            .supervisor
            .send(StreamKeyTarget(req.name.clone()))
            .await
            .map_err(|_| StreamError::ShuttingDown)?;
        let by_key = keyed.is_some();
        let name = keyed.unwrap_or_else(|| req.name.clone());
        let mut last = StreamError::ShuttingDown;
        for _ in 0..ATTEMPTS {
            let stream = self.resolve(&name, true).await?;
            let msg = AttachPublisher {
                peer: req.peer,
                passphrase: req.passphrase.clone(),
                by_key,
                protocol: req.protocol,
                url: req.url.clone(),
            };
            match stream.addr.send(msg).await {
                Ok(Ok(p)) => return Ok((stream.name, p)),
                Ok(Err(StreamError::Offline(_))) | Err(_) => {
                    last = StreamError::Offline(stream.name)
                }
                Ok(Err(e)) => return Err(e),
            }
        }
        Err(last)
    }

    async fn buffer(
        &self,
        name: &str,
        start: bool,
    ) -> Result<(String, Arc<LiveBuffer>), StreamError> {
        if let Some(found) = self.recent_buffer(name) {
            return Ok(found);
        }
        let stream = self.resolve(name, start).await?;
        let buffer = stream
            .addr
            .send(GetBuffer)
            .await
            .map_err(|_| StreamError::Offline(stream.name.clone()))??;
        self.remember(name, &stream.name, &buffer);
        Ok((stream.name, buffer))
    }

    fn recent_buffer(&self, asked: &str) -> Option<(String, Arc<LiveBuffer>)> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let r = recent.by_name.get(asked)?;
        Some((r.name.clone(), r.fresh()?))
    }

    fn remember(&self, asked: &str, name: &str, buffer: &Arc<LiveBuffer>) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.by_name.len() >= recent.sweep_at.max(RECENT_SWEEP) {
            recent.by_name.retain(|_, r| r.fresh().is_some());
            recent.sweep_at = recent.by_name.len() * 2;
        }
        recent.by_name.insert(
            asked.to_string(),
            Recent {
                name: name.to_string(),
                buffer: Arc::downgrade(buffer),
                at: Instant::now(),
            },
        );
    }
}

impl StreamHub for ActorHub {
    fn admit(&self, conn: ConnInfo) -> HubFuture<'_, Result<SessionConn, SessionError>> {
        Box::pin(self.admit_conn(conn))
    }

    fn subscribe(
        &self,
        req: SubscribeRequest,
    ) -> HubFuture<'_, Result<(String, Subscription), StreamError>> {
        Box::pin(self.subscribe_to(req))
    }

    fn publish(
        &self,
        req: PublishRequest,
    ) -> HubFuture<'_, Result<(String, Publisher), StreamError>> {
        Box::pin(self.attach(req))
    }

    fn open_buffer(
        &self,
        name: &str,
        start: bool,
    ) -> HubFuture<'_, Result<(String, Arc<LiveBuffer>), StreamError>> {
        let name = name.to_string();
        Box::pin(async move { self.buffer(&name, start).await })
    }
}
