//! Pushing a stream to another RTMP server (manual §4.1.27, `rtmp://host[:port]/app/key`):
//! metadata, sequence headers, then every packet, timestamps counted from the push's first
//! packet, through the RTMP client ([`super::client`]).

use std::time::Duration;

use bytes::Bytes;

use super::client::{self, RtmpPublisher};
use crate::hub::push::ExitReason;
use crate::media::flv;
use crate::protocols::av_select::AvSelection;
use crate::protocols::push::{Next, PushIo};

/// How long connecting to an RTMP server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An RTMP URL for logs: the stream key (the last path part) is a secret and left out.
fn redact(url: &str) -> String {
    match url.rfind('/') {
        Some(at) if at > "rtmp://".len() => format!("{}/<key>", &url[..at]),
        _ => "<rtmp target>".into(),
    }
}

/// Pushes to an RTMP server: metadata, sequence headers, then every packet, timestamps counted
/// from the push's first packet.
pub async fn push(io: &mut PushIo<'_>, url: &str) -> ExitReason {
    let shared = io.shared;
    let shown = redact(url);
    let target = match client::parse_url(url) {
        Ok(t) => t,
        Err(e) => {
            shared.log("FAIL", format!("Push of {} to {shown}: {e}", shared.stream));
            return ExitReason::Unsupported;
        }
    };
    let mut publisher = match RtmpPublisher::connect(&target, CONNECT_TIMEOUT).await {
        Ok(p) => p,
        Err(e) => {
            shared.log(
                "FAIL",
                format!("Push of {} to {shown} failed: {e}", shared.stream),
            );
            return ExitReason::WriteFailure;
        }
    };
    shared.log("INFO", format!("Pushing {} to {shown}", shared.stream));
    let buffer = io.sub.reader.buffer().clone();
    let mut sel = AvSelection::default();
    let mut base: Option<i64> = None;
    let reason = loop {
        let (reader, writer) = publisher.split_mut();
        let next = tokio::select! {
            biased;
            n = io.next() => Some(n),
            e = reader.next_event() => match e {
                // Acknowledgements and ping replies go out with the flush below.
                Ok(()) => None,
                Err(client::ClientError::Closed) => break ExitReason::RemoteClose,
                Err(e) => {
                    shared.log("FAIL", format!("Push to {shown}: {e}"));
                    break ExitReason::WriteFailure;
                }
            },
        };
        if let Some(Next::End(r)) = next {
            break r;
        }
        if next.is_some() {
            for e in &io.batch {
                let base = *base.get_or_insert(e.packet.time);
                let time = (e.packet.time - base).max(0) as u32;
                if !sel.is_current(e.meta_version) {
                    let change = sel.update(&buffer.meta());
                    if change.first {
                        let meta =
                            crate::media::flv::on_metadata(sel.video.as_ref(), sel.audio.as_ref());
                        writer.queue_metadata(&meta);
                    }
                    for (tag_type, body) in change.headers.iter().filter_map(flv::sequence_body) {
                        writer.queue_media(tag_type, time, &[Bytes::from(body)]);
                    }
                }
                let Some(track) = sel.track(e.packet.track) else {
                    continue;
                };
                if let Some((tag_type, prefix)) = flv::packet_prefix(track, &e.packet) {
                    writer.queue_media(
                        tag_type,
                        time,
                        &[Bytes::from(prefix), e.packet.data.clone()],
                    );
                    io.note_packet(e.packet.time);
                }
            }
        }
        match writer.flush().await {
            Ok(n) => io.count(n),
            Err(e) => {
                shared.log("FAIL", format!("Push to {shown}: {e}"));
                break ExitReason::WriteFailure;
            }
        }
    };
    publisher.close().await;
    reason
}
