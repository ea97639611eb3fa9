//! `json_STREAM.js` as a WebSocket (facts §9.3): MistServer's live status feed, which its web
//! UI's stream pages and its player open. Unlike a plain GET of `json_`, it starts the stream's
//! input; it then sends the `json_` object as a text message whenever the stream's state or
//! track list changes (checked once a second), and a ping every 10 s.
//!
//! The feed ends when the client closes it or sends something malformed (frames over 64 KiB
//! included), when a message waits 10 s for a client that does not read, or after 10 s without
//! a pong.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::info;
use super::Request;
use crate::protocols::ListenerContext;

/// How often the stream's state is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How often a ping goes out; a client that has not answered the last one by the next is gone.
const PING_EVERY: Duration = Duration::from_secs(10);
/// How long one message may wait for a client that does not read.
const SEND_STALL: Duration = Duration::from_secs(10);
/// The largest message or frame a client may send (it has nothing to send but control frames).
const MAX_INCOMING: usize = 64 * 1024;

/// The client's `Sec-WebSocket-Key`, when the request asks for a WebSocket.
pub fn websocket_key(req: &Request) -> Option<&str> {
    let upgrade = req.header("upgrade")?;
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return None;
    }
    req.header("sec-websocket-key").filter(|k| !k.is_empty())
}

/// Answers the upgrade and runs the feed until it ends. The connection is not kept.
pub async fn serve(
    req: &Request,
    key: &str,
    name: &str,
    sock: &mut TcpStream,
    ctx: &ListenerContext,
) -> std::io::Result<bool> {
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    crate::protocols::write_all_within(sock, &[bytes::Bytes::from(head)], SEND_STALL).await?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_INCOMING))
        .max_frame_size(Some(MAX_INCOMING));
    let mut ws = WebSocketStream::from_raw_socket(sock, Role::Server, Some(config)).await;
    let mut check = tokio::time::interval(CHECK_EVERY);
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut answered = true;
    let mut last: Option<(String, u64)> = None;
    loop {
        tokio::select! {
            _ = check.tick() => {
                let (state, v) = state_of(req, name, ctx).await;
                if last.as_ref() != Some(&state) {
                    last = Some(state);
                    if !send(&mut ws, Message::text(v.to_string())).await {
                        break;
                    }
                }
            }
            _ = ping.tick() => {
                if !answered || !send(&mut ws, Message::Ping(Vec::new().into())).await {
                    break;
                }
                answered = false;
            }
            m = ws.next() => match m {
                Some(Ok(Message::Pong(_))) => answered = true,
                // Pings are answered by the next write or flush.
                Some(Ok(Message::Ping(_) | Message::Text(_) | Message::Binary(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    Ok(false)
}

async fn send(ws: &mut WebSocketStream<&mut TcpStream>, m: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_STALL, ws.send(m)).await,
        Ok(Ok(()))
    )
}

/// The `json_` object, and what decides whether it is news: its error object (or none) and
/// the stream's track-list version. Asking starts the stream's input, as MistServer's feed does.
async fn state_of(req: &Request, name: &str, ctx: &ListenerContext) -> ((String, u64), Value) {
    let (v, version) = match ctx.hub.open_buffer(name, true).await {
        Ok((resolved, buffer)) => (
            info::describe_or_wait(req, &resolved, &buffer, ctx),
            buffer.meta().version,
        ),
        Err(e) => (info::error_info(&e).1, 0),
    };
    let error = if v.get("error").is_some() {
        v.to_string()
    } else {
        String::new()
    };
    ((error, version), v)
}
