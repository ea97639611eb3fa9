//! RTSP pull: a stream whose source is `rtsp://[user:password@]host[:port]/path` (a camera,
//! another server, another Eddy) is pulled over RTP interleaved on the RTSP connection (TCP:
//! it crosses NAT and firewalls, and loses nothing to the network).
//!
//! OPTIONS, DESCRIBE (the SDP's media Eddy reads; others are named in the log), SETUP per media
//! (channels 2n, 2n + 1), PLAY; then the frames go through [`crate::protocols::rtsp::ingest`]
//! into the stream, lined up by PLAY's `RTP-Info` (or the sender reports), with a GET_PARAMETER
//! keep-alive at half the session's time-out. Basic and Digest authentication come from the URL.
//!
//! The input ends when the server closes the connection or sends nothing for [`SILENCE`]; the
//! stream starts it again with back-off (its viewers stay for the stream's input time-out), so
//! a camera that reboots comes back by itself.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::hub::outlets::InputEnd;
use crate::hub::Publisher;
use crate::media::sdp::{self, SdpMedia};
use crate::protocols::rtsp::client::{Client, Target};
use crate::protocols::rtsp::ingest::{count, Feed, In};
use crate::protocols::rtsp::message::{next_from_server, FromServer};

/// The input's name (`capabilities`, STREAM_READY).
pub const NAME: &str = "RTSP";
/// A server that sends nothing for this long is gone.
pub const SILENCE: Duration = Duration::from_secs(20);
/// Keep-alive interval when the server announces no session time-out.
const KEEPALIVE: Duration = Duration::from_secs(25);

/// Whether this input reads `source`.
pub fn reads(source: &str) -> bool {
    source
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("rtsp://"))
}

/// Runs the input of `stream` until `stop` or the server goes away.
pub async fn run(
    stream: &str,
    source: &str,
    publisher: Publisher,
    mut stop: watch::Receiver<bool>,
) -> InputEnd {
    let target = match Target::parse(source) {
        Ok(t) => t,
        Err(e) => return InputEnd::Failed(e),
    };
    let setup = tokio::select! {
        _ = super::stopped(&mut stop) => return InputEnd::Stopped,
        s = start(stream, target, &publisher) => s,
    };
    let (mut client, mut ins, keepalive) = match setup {
        Ok(s) => s,
        Err(e) => return InputEnd::Failed(e),
    };
    tracing::info!(
        kind = "STRM",
        stream,
        "RTSP: pulling {} ({} media)",
        client.url(),
        ins.len()
    );
    let mut feed = Feed::new(stream, publisher, format!("RTSP pull of {stream}"));
    let mut tick = tokio::time::interval(keepalive);
    tick.tick().await;
    let url = client.url().to_string();
    let pending = std::mem::take(&mut client.pending);
    for (channel, data) in pending {
        if let Err(e) = frame(&mut feed, &mut ins, channel, data) {
            return InputEnd::Failed(e);
        }
    }
    let end = loop {
        loop {
            match next_from_server(&mut client.buf) {
                Ok(FromServer::Partial) => break,
                Ok(FromServer::Frame(channel, data)) => {
                    if let Err(e) = frame(&mut feed, &mut ins, channel, data) {
                        return InputEnd::Failed(e);
                    }
                }
                // Keep-alive answers, and requests from the server.
                Ok(_) => {}
                Err(e) => return InputEnd::Failed(format!("{url}: {e}")),
            }
        }
        tokio::select! {
            _ = super::stopped(&mut stop) => {
                let _ = client.send("TEARDOWN", &url, &[]).await;
                break InputEnd::Stopped;
            }
            read = tokio::time::timeout(SILENCE, client.sock.read_buf(&mut client.buf)) => match read {
                Err(_) => break InputEnd::Failed(format!("{url} sent nothing for {SILENCE:?}")),
                Ok(Ok(0)) => break InputEnd::Finished(format!("{url} closed the connection")),
                Ok(Ok(n)) => count(&feed, &None, n),
                Ok(Err(e)) => break InputEnd::Failed(format!("{url}: {e}")),
            },
            _ = tick.tick() => {
                if let Err(e) = client.send("GET_PARAMETER", &url, &[]).await {
                    break InputEnd::Failed(format!("{url}: {e}"));
                }
            }
        }
    };
    for m in &mut ins {
        feed.finish(m);
    }
    end
}

/// One interleaved frame into its media.
fn frame(feed: &mut Feed, ins: &mut [In], channel: u8, data: bytes::Bytes) -> Result<(), String> {
    let Some(m) = ins.iter_mut().find(|m| {
        m.channels
            .is_some_and(|(a, b)| a == channel || b == channel)
    }) else {
        return Ok(());
    };
    let control = m.channels.is_some_and(|(_, b)| b == channel);
    feed.take(m, control, data)
}

/// Connects and asks for the media: the client, the media's receivers and the keep-alive
/// interval.
async fn start(
    stream: &str,
    target: Target,
    publisher: &Publisher,
) -> Result<(Client, Vec<In>, Duration), String> {
    let mut client = Client::connect(target).await?;
    let url = client.url().to_string();
    // Some servers want OPTIONS first; its answer does not matter.
    let _ = client.request("OPTIONS", &url, &[]).await;
    let described = client
        .request("DESCRIBE", &url, &[("Accept", "application/sdp".into())])
        .await?;
    if described.code != 200 {
        return Err(format!("DESCRIBE {url}: RTSP {}", described.code));
    }
    let base = described
        .header("Content-Base")
        .or(described.header("Content-Location"))
        .unwrap_or(&url)
        .to_string();
    let parsed = sdp::parse(&String::from_utf8_lossy(&described.body))
        .map_err(|e| format!("DESCRIBE {url}: {e}"))?;
    if !parsed.skipped.is_empty() {
        tracing::warn!(
            kind = "WARN",
            stream,
            "RTSP: {url}: left out {}",
            parsed.skipped.join(", ")
        );
    }
    if parsed.media.is_empty() {
        return Err(format!("{url} offers no media Eddy reads"));
    }
    let mut ins = Vec::with_capacity(parsed.media.len());
    let mut controls = Vec::with_capacity(parsed.media.len());
    let mut timeout = None;
    for (n, m) in parsed.media.iter().enumerate() {
        let (rtp, rtcp) = ((2 * n) as u8, (2 * n + 1) as u8);
        let control = sdp::resolve_control(&base, m.control.as_deref().unwrap_or(""));
        let transport = format!("RTP/AVP/TCP;unicast;interleaved={rtp}-{rtcp}");
        let answer = client
            .request("SETUP", &control, &[("Transport", transport)])
            .await?;
        if answer.code != 200 {
            return Err(format!("SETUP {control}: RTSP {}", answer.code));
        }
        let channels = answer
            .header("Transport")
            .and_then(crate::protocols::rtsp::message::parse_transport)
            .and_then(|(t, _)| match t {
                crate::protocols::rtsp::message::Transport::Interleaved { rtp, rtcp }
                    if rtp != 255 =>
                {
                    Some((rtp, rtcp))
                }
                _ => None,
            })
            .unwrap_or((rtp, rtcp));
        timeout = timeout.or_else(|| session_timeout(answer.header("Session")?));
        ins.push(In::new(m, Some(channels))?);
        controls.push(control);
        announce(publisher, m)?;
    }
    let aggregate = parsed
        .control
        .as_deref()
        .map_or(base.clone(), |c| sdp::resolve_control(&base, c));
    let played = client
        .request("PLAY", &aggregate, &[("Range", "npt=0.000-".into())])
        .await?;
    if played.code != 200 {
        return Err(format!("PLAY {aggregate}: RTSP {}", played.code));
    }
    if let Some(info) = played.header("RTP-Info") {
        for (url, rtptime) in rtp_info(info) {
            let found = controls.iter().position(|c| {
                c == &url || c.ends_with(&url) || url.ends_with(c.rsplit('/').next().unwrap_or(c))
            });
            if let Some(i) = found {
                ins[i].set_origin(rtptime, 0);
            }
        }
    }
    let keepalive = timeout.map_or(KEEPALIVE, |t| (t / 2).max(Duration::from_secs(5)));
    Ok((client, ins, keepalive))
}

/// A media's track goes into the stream when the SDP gave all it needs.
fn announce(publisher: &Publisher, m: &SdpMedia) -> Result<(), String> {
    use crate::media::Codec;
    let needs_init = matches!(m.track.codec, Some(Codec::H264 | Codec::Hevc | Codec::Aac));
    if m.track.init.is_empty() && needs_init {
        return Ok(());
    }
    publisher
        .buffer
        .set_track(publisher.token, m.track.clone())
        .map_err(|e| format!("the stream takes no tracks: {e}"))
}

/// `Session: id;timeout=60` → 60 s.
fn session_timeout(header: &str) -> Option<Duration> {
    header
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("timeout="))
        .find_map(|t| t.trim().parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map(Duration::from_secs)
}

/// `RTP-Info: url=...;seq=..;rtptime=..,url=...` → `(url, rtptime)` per media that has both.
fn rtp_info(header: &str) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    // URLs may hold commas only in their query, rarely; entries start at `url=`.
    for entry in header.split(",url=").map(|e| e.trim_start_matches("url=")) {
        let mut parts = entry.split(';');
        let url = parts.next().unwrap_or("").trim().to_string();
        let rtptime = parts
            .filter_map(|p| p.trim().strip_prefix("rtptime="))
            .find_map(|t| t.trim().parse::<u32>().ok());
        if let (false, Some(t)) = (url.is_empty(), rtptime) {
            out.push((url, t));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(
            session_timeout("abc;timeout=60"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(session_timeout("abc"), None);
        assert_eq!(
            rtp_info("url=rtsp://h/s/track1;seq=5;rtptime=100,url=rtsp://h/s/track2;seq=1;rtptime=4000000000"),
            [("rtsp://h/s/track1".to_string(), 100), ("rtsp://h/s/track2".to_string(), 4_000_000_000)]
        );
        assert_eq!(rtp_info("url=x;seq=1"), []);
        assert!(reads("RTSP://cam/live") && !reads("rtmp://x"));
    }
}
