//! Publishing over RTSP after RECORD: RTP from the publisher, interleaved on the connection or
//! by UDP to the ports SETUP gave, through each media's depacketizer into the stream's buffer.
//!
//! - What each media brings goes through [`super::ingest`]: depacketized, lined up by the
//!   publisher's RTCP sender reports, decode times for H.264/HEVC, losses counted.
//! - A publisher that sends nothing for [`SILENCE`] is dropped; TEARDOWN ends the publish.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::conn::{Conn, ConnError, RecordSetup};
use super::ingest::{count, Feed, In};
use super::message::{Incoming, Response, Transport};
use crate::hub::OnDrop;

/// A publisher silent for this long is dropped.
pub const SILENCE: Duration = Duration::from_secs(20);
/// Datagrams queued from the UDP sockets (more are dropped, as the network would).
const UDP_QUEUE: usize = 1024;

/// Receives until the publisher leaves, falls silent or is replaced.
pub async fn run(
    conn: &mut Conn,
    sock: TcpStream,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ConnError> {
    let Some(setup) = conn.record.take() else {
        return Err(ConnError::Refused("RECORD before ANNOUNCE".into()));
    };
    let RecordSetup {
        name,
        publisher,
        session,
        media,
    } = setup;
    let (tx, mut rx) = mpsc::channel::<(usize, bool, Bytes)>(UDP_QUEUE);
    let mut tasks = Vec::new();
    let mut ins = Vec::with_capacity(media.len());
    for (i, m) in media.into_iter().enumerate() {
        let channels = match m.transport {
            Some(Transport::Interleaved { rtp, rtcp }) => Some((rtp, rtcp)),
            _ => None,
        };
        let media_in =
            In::new(&m.media, channels).map_err(|e| ConnError::Refused(format!("{name}: {e}")))?;
        if let Some(pair) = m.udp {
            for (sock, control) in [(pair.rtp, false), (pair.rtcp, true)] {
                let tx = tx.clone();
                tasks.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; 65_536];
                    while let Ok(n) = sock.recv(&mut buf).await {
                        let data = Bytes::copy_from_slice(&buf[..n]);
                        let _ = tx.try_send((i, control, data));
                    }
                }));
            }
        }
        ins.push(media_in);
    }
    drop(tx);
    let _abort = OnDrop::new(move || tasks.iter().for_each(|t| t.abort()));
    let mut feed = Feed::new(&name, publisher, format!("RTSP publish of {name}"));
    let (mut rd, mut wr) = sock.into_split();
    let mut last_data = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let result = 'media: loop {
        while let Some(incoming) = conn.take()? {
            match incoming {
                Incoming::Frame(channel, data) => {
                    let found = ins.iter().position(|m| {
                        m.channels
                            .is_some_and(|(a, b)| a == channel || b == channel)
                    });
                    if let Some(i) = found {
                        last_data = Instant::now();
                        let control = ins[i].channels.is_some_and(|(_, b)| b == channel);
                        count(&feed, &session, data.len());
                        feed.take(&mut ins[i], control, data)
                            .map_err(ConnError::Refused)?;
                    }
                }
                Incoming::Request(req) => {
                    let resp = match req.method.as_str() {
                        "TEARDOWN" => {
                            conn.respond(&mut wr, &req, Response::new(200)).await?;
                            break 'media Ok(());
                        }
                        "OPTIONS" | "GET_PARAMETER" | "SET_PARAMETER" | "RECORD" => {
                            Response::new(200)
                        }
                        _ => Response::new(455),
                    };
                    conn.respond(&mut wr, &req, resp).await?;
                }
                Incoming::Partial => {}
            }
        }
        tokio::select! {
            _ = stop.changed() => break Ok(()),
            read = rd.read_buf(&mut conn.rbuf) => {
                if read? == 0 {
                    break Ok(());
                }
            }
            Some((i, control, data)) = rx.recv() => {
                last_data = Instant::now();
                count(&feed, &session, data.len());
                if let Some(m) = ins.get_mut(i) {
                    feed.take(m, control, data).map_err(ConnError::Refused)?;
                }
            }
            _ = tick.tick() => {
                if last_data.elapsed() > SILENCE {
                    break Err(ConnError::Refused(format!("publisher silent for {SILENCE:?}")));
                }
            }
        }
    };
    for m in &mut ins {
        feed.finish(m);
    }
    tracing::info!(
        kind = "STRM",
        stream = name.as_str(),
        "RTSP publish of {name} ended"
    );
    result
}
