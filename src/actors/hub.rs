//! The actors' side of the stream hub: [`ActorHub`] implements [`StreamHub`] with messages to
//! the supervisor (which finds or starts streams and sessions) and to the stream and session
//! actors it hands back.
//!
//! A stream that is just ending may refuse a request; the hub then resolves the name once more
//! and gets a fresh stream. Connection triggers fire here: CONN_OPEN and CONN_CLOSE around a
//! session connection (manual §4.4.18-19), CONN_PLAY before a viewer subscribes (§4.4.20). The
//! STREAM_* triggers fire in the StreamActor. An on-demand stream answers a subscription with
//! its file; the viewer's own reader and its feeder are made here, on the viewer's runtime.

use std::sync::Arc;

use actix::Addr;

use super::session::Admit;
use super::stream::{AttachPublisher, GetBuffer, Subscribe, Subscribed};
use super::supervisor::{OpenSession, ResolveStream, StreamRef, Supervisor};
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

/// The hub as the actors implement it.
pub struct ActorHub {
    supervisor: Addr<Supervisor>,
    triggers: Triggers,
}

impl ActorHub {
    /// The [`Hub`] protocols are given.
    pub fn handle(supervisor: Addr<Supervisor>, triggers: Triggers) -> Hub {
        let hub = ActorHub {
            supervisor,
            triggers: triggers.clone(),
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

    async fn attach(&self, req: PublishRequest) -> Result<(String, Publisher), StreamError> {
        let mut last = StreamError::ShuttingDown;
        for _ in 0..ATTEMPTS {
            let stream = self.resolve(&req.name, true).await?;
            let msg = AttachPublisher {
                peer: req.peer,
                passphrase: req.passphrase.clone(),
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
        let stream = self.resolve(name, start).await?;
        let buffer = stream
            .addr
            .send(GetBuffer)
            .await
            .map_err(|_| StreamError::Offline(stream.name.clone()))??;
        Ok((stream.name, buffer))
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
