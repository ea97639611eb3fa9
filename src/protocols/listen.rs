//! Listening: binding a configured entry's TCP port and the accept loop that hands each
//! connection to its protocol, with the entry's `interface`/`port` read from the config.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use super::catalogue::ConnectorSpec;
use super::ListenerContext;
use crate::config::ProtocolEntry;
use crate::hub::outlets::StopFuture;

/// Runs an accept loop for `settings` on the context's runtime, handing each connection to
/// `serve`. Stopping the returned handle closes the socket and signals the connections (through
/// the `watch` they are given) to end.
pub fn spawn_tcp_listener<F, Fut>(
    settings: &ListenerSettings,
    ctx: &ListenerContext,
    name: &'static str,
    serve: F,
) -> Result<ListenerHandle, ListenerError>
where
    F: Fn(tokio::net::TcpStream, SocketAddr, ListenerContext, watch::Receiver<bool>) -> Fut
        + Send
        + Sync
        + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = {
        let _guard = ctx.runtime.enter();
        bind_tcp(settings)?
    };
    let local_addr = listener
        .local_addr()
        .map_err(|source| ListenerError::Bind {
            addr: settings.port.to_string(),
            source,
        })?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let conn_ctx = ctx.clone();
    let task = ctx.runtime.spawn(async move {
        let mut stop = stop_rx.clone();
        let mut backoff = Duration::from_millis(10);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((sock, peer)) => {
                        backoff = Duration::from_millis(10);
                        // Over its address's limit: closed before anything is read.
                        let Some(slot) = conn_ctx.limits.enter(peer.ip(), name) else {
                            drop(sock);
                            continue;
                        };
                        let _ = sock.set_nodelay(true);
                        // Boxed: an async block that awaits a future it captured stores it
                        // twice (the capture and the awaited copy), which for a connection's
                        // state machine is kilobytes per viewer.
                        let conn = Box::pin(serve(sock, peer, conn_ctx.clone(), stop_rx.clone()));
                        tokio::spawn(async move {
                            conn.await;
                            drop(slot);
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: wait, then try again.
                        tracing::warn!("{name} accept failed: {e}");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                }
            }
        }
    });
    tracing::info!(kind = "CONF", "{name} listening on {local_addr}");
    Ok(ListenerHandle::new(local_addr, move || {
        Box::pin(async move {
            let _ = stop_tx.send(true);
            let _ = task.await;
        })
    }))
}

/// Where and how one configured entry listens.
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    pub interface: String,
    pub port: u16,
    /// The whole configured entry, for connector-specific options.
    pub entry: ProtocolEntry,
}

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// A running listener. [`ListenerHandle::stop`] closes it; dropping the handle also stops it.
pub struct ListenerHandle {
    pub local_addr: SocketAddr,
    stop: Option<Box<dyn FnOnce() -> StopFuture + Send>>,
}

impl ListenerHandle {
    pub fn new(local_addr: SocketAddr, stop: impl FnOnce() -> StopFuture + Send + 'static) -> Self {
        ListenerHandle {
            local_addr,
            stop: Some(Box::new(stop)),
        }
    }

    /// Stops the listener; the future completes when its socket is closed.
    pub fn stop(mut self) -> StopFuture {
        match self.stop.take() {
            Some(stop) => stop(),
            None => Box::pin(async {}),
        }
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(stop());
                }
                Err(_) => tracing::debug!("listener dropped outside a runtime"),
            }
        }
    }
}

/// Reads `interface` and `port` from an entry, with the connector's defaults.
pub fn settings_for(
    spec: &ConnectorSpec,
    entry: &ProtocolEntry,
) -> Result<ListenerSettings, String> {
    let port = match entry.get("port") {
        None | Some(Value::Null) => spec.default_port.ok_or("no port given")?,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| format!("port {n} is not a TCP port"))?,
        Some(Value::String(s)) if s.is_empty() => spec.default_port.ok_or("no port given")?,
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| format!("port {s:?} is not a TCP port"))?,
        Some(other) => return Err(format!("port {other} is not a TCP port")),
    };
    let interface = match entry.get("interface") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => "0.0.0.0".to_string(),
    };
    Ok(ListenerSettings {
        interface,
        port,
        entry: entry.clone(),
    })
}

/// How many not yet accepted connections a listener queues (1000 viewers may arrive at once).
const LISTEN_BACKLOG: u32 = 1024;

/// Binds a tokio TCP listener for `settings` (call inside the runtime), with address reuse so
/// a restarted listener gets its port back at once.
pub fn bind_tcp(settings: &ListenerSettings) -> Result<tokio::net::TcpListener, ListenerError> {
    let addr = format!("{}:{}", bracket_v6(&settings.interface), settings.port);
    let err = |source| ListenerError::Bind {
        addr: addr.clone(),
        source,
    };
    let sockaddr: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .map_err(err)?
        .next()
        .ok_or_else(|| err(std::io::ErrorKind::AddrNotAvailable.into()))?;
    let socket = if sockaddr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(err)?;
    socket.set_reuseaddr(true).map_err(err)?;
    socket.bind(sockaddr).map_err(err)?;
    socket.listen(LISTEN_BACKLOG).map_err(err)
}

/// `::` becomes `[::]` so it can take a `:port`.
pub fn bracket_v6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str) -> ProtocolEntry {
        serde_json::from_str(s).expect("test entry")
    }

    #[test]
    fn ports_and_interfaces() {
        let spec = &crate::protocols::http::SPEC;
        let s = settings_for(spec, &entry(r#"{"connector":"HTTP"}"#)).expect("defaults");
        assert_eq!((s.interface.as_str(), s.port), ("0.0.0.0", 8080));
        let s = settings_for(
            spec,
            &entry(r#"{"connector":"HTTP","port":"81","interface":"::"}"#),
        )
        .expect("string port");
        assert_eq!((s.interface.as_str(), s.port), ("::", 81));
        for bad in [
            r#"{"port":70000}"#,
            r#"{"port":-1}"#,
            r#"{"port":"x"}"#,
            r#"{"port":[1]}"#,
        ] {
            assert!(settings_for(spec, &entry(bad)).is_err(), "{bad}");
        }
        assert_eq!(bracket_v6("::1"), "[::1]");
        assert_eq!(bracket_v6("127.0.0.1"), "127.0.0.1");
    }
}
