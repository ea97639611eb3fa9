//! Inputs that bring a stream's media themselves, run by the stream through
//! [`InputRunner`]: each writes tracks and packets into the publisher the stream attached for it,
//! on the media runtime, until asked to stop or its source ends.
//!
//! - [`tsudp`]: `tsudp://[host]:port[/interface,...]` (manual §3.3.4), MPEG-TS over UDP, unicast
//!   or multicast, plain or in RTP.
//! - [`exec`]: `ts-exec:COMMAND` and `h264-exec:COMMAND` (manual §3.3.5), a command's output.
//! - [`hls`]: HLS pull (manual §3.3.3), `http://.../*.m3u8` or a `.m3u8` / `.m3u` file.
//! - [`dtsc`]: `dtsc://host[:port][/stream]` (manual §3.3.2), a stream pulled from another
//!   Eddy or MistServer over DTSC, rejoined across origin restarts.
//! - [`rtsp`]: `rtsp://[user:pass@]host[:port]/path`, a camera or server pulled over RTSP.
//! - [`feed`]: the MPEG-TS demuxer's tracks and packets written into a publisher, with
//!   problems logged once per burst.

pub mod dtsc;
pub mod exec;
pub mod feed;
pub mod hls;
pub mod rtsp;
pub mod tsudp;

use tokio::sync::watch;

use crate::hub::outlets::{InputEnd, InputRunner};
use crate::hub::{HubFuture, Publisher};

/// The inputs Eddy runs, on the media runtime.
pub struct Inputs {
    runtime: tokio::runtime::Handle,
}

impl Inputs {
    pub fn new(runtime: tokio::runtime::Handle) -> Self {
        Inputs { runtime }
    }
}

impl InputRunner for Inputs {
    fn input_for(&self, source: &str) -> Option<&'static str> {
        if hls::reads(source) {
            return Some(hls::NAME);
        }
        if dtsc::reads(source) {
            return Some(dtsc::NAME);
        }
        if rtsp::reads(source) {
            return Some(rtsp::NAME);
        }
        tsudp::reads(source)
            .then_some(tsudp::NAME)
            .or_else(|| exec::input_for(source))
    }

    fn run(
        &self,
        stream: String,
        source: String,
        publisher: Publisher,
        stop: watch::Receiver<bool>,
    ) -> HubFuture<'static, InputEnd> {
        let task = self.runtime.spawn(async move {
            if tsudp::reads(&source) {
                tsudp::run(&stream, &source, publisher, stop).await
            } else if exec::input_for(&source).is_some() {
                exec::run(&stream, &source, publisher, stop).await
            } else if hls::reads(&source) {
                hls::run(&stream, &source, publisher, stop).await
            } else if dtsc::reads(&source) {
                dtsc::run(&stream, &source, publisher, stop).await
            } else if rtsp::reads(&source) {
                rtsp::run(&stream, &source, publisher, stop).await
            } else {
                InputEnd::Failed(format!("no input reads {source:?}"))
            }
        });
        Box::pin(async move {
            task.await
                .unwrap_or_else(|e| InputEnd::Failed(format!("the input task failed: {e}")))
        })
    }
}

/// Resolves when `stop` turns true or its sender is gone.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}
