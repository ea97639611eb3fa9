//! The local-only UDP API (manual §4.2): each datagram sent to `127.0.0.1:<API port>` is one JSON
//! request object, run as a local caller with the minimal flag. No reply is sent, as the manual
//! says. Datagrams that are not a JSON object are dropped with a log line.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde_json::Value;
use tokio::net::UdpSocket;

use super::{execute, ApiContext, Caller};

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_536;

/// Binds the UDP API socket on loopback.
pub async fn bind(port: u16) -> std::io::Result<UdpSocket> {
    UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)).await
}

/// Serves datagrams until the task is dropped.
pub async fn serve(ctx: ApiContext, socket: UdpSocket) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, from) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("UDP API receive failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let request = match serde_json::from_slice::<Value>(&buf[..len]) {
            Ok(Value::Object(m)) => m,
            _ => {
                tracing::warn!("UDP API: ignored a datagram from {from} that is not a JSON object");
                continue;
            }
        };
        let caller = Caller {
            peer: from.ip(),
            local: true,
            minimal: true,
            conn_auth: None,
            header_authorized: false,
        };
        execute(&ctx, &request, &caller).await;
    }
}
