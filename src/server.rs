//! Start-up and shutdown: [`run`] is the whole server, used by `main` and by tests alike.
//!
//! It starts the [`Supervisor`] (which starts the protocol listeners), the API on TCP and the UDP
//! API on loopback, then waits for SIGINT/SIGTERM or an API `shutdown`. On the way out the
//! supervisor stops the listeners and writes the configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use actix::{Actor, AsyncContext};
use tokio::sync::mpsc;

use crate::actors::hub::ActorHub;
use crate::actors::supervisor::{Shutdown, StopReason, Supervisor, SupervisorSettings};
use crate::api::{self, auth::Challenger, ApiContext};
use crate::config::Config;
use crate::logbook::LogBook;
use crate::protocols::{
    self, inputs::Inputs, listeners::ListenerSet, push::Pusher, ListenerContext,
};
use crate::triggers::Triggers;

/// Everything [`run`] needs.
pub struct RunOptions {
    pub config_path: PathBuf,
    pub config: Config,
    /// The config file's bytes as read; `None` when there was no file (a first start).
    pub loaded_bytes: Option<Vec<u8>>,
    pub api_interface: String,
    pub api_port: u16,
    /// Save a changed config once it has been quiet this long.
    pub autosave_after: Duration,
    /// How long sessions are remembered after their last connection.
    pub session_cache: Duration,
    pub logbook: LogBook,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen for the API on {addr}: {source}")]
    ApiBind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the media runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs the server until a signal or an API `shutdown`.
pub async fn run(opts: RunOptions) -> Result<(), StartError> {
    let addr = format!(
        "{}:{}",
        protocols::bracket_v6(&opts.api_interface),
        opts.api_port
    );
    let listener = std::net::TcpListener::bind(&addr)
        .and_then(|l| l.set_nonblocking(true).map(|_| l))
        .map_err(|source| StartError::ApiBind {
            addr: addr.clone(),
            source,
        })?;
    let api_addr: SocketAddr = listener
        .local_addr()
        .map_err(|source| StartError::ApiBind { addr, source })?;

    // Protocol connections run on their own multi-threaded runtime, so viewers use every core;
    // the actors (control) stay on the actix system thread.
    // `EDDY_MEDIA_THREADS` overrides the count (one per core by default), for measuring.
    let threads = std::env::var("EDDY_MEDIA_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .or_else(|| std::thread::available_parallelism().map(|n| n.get()).ok())
        .unwrap_or(2);
    let media = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("eddy-media")
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;

    let (stop_tx, mut stop_rx) = mpsc::channel(4);
    let triggers = Triggers::default();
    let runtime = media.handle().clone();
    let stats = crate::stats::Stats::new();
    let settings = |listeners, push_runner, inputs| SupervisorSettings {
        config: opts.config,
        config_path: opts.config_path,
        loaded_bytes: opts.loaded_bytes,
        autosave_after: opts.autosave_after,
        stop_requests: stop_tx,
        listeners,
        push_runner,
        inputs,
        triggers: triggers.clone(),
        session_cache: opts.session_cache,
        stats: stats.clone(),
    };
    // The wiring: protocols reach the actors through the hub, the supervisor reaches the
    // protocols through the listeners and the push runner; neither names the other.
    let supervisor = Supervisor::create(|ctx| {
        let hub = ActorHub::handle(ctx.address(), triggers.clone());
        let lctx = ListenerContext::new(hub, runtime);
        let listeners = Box::new(ListenerSet::new(lctx.clone()));
        let inputs = std::sync::Arc::new(Inputs::new(lctx.runtime.clone()));
        Supervisor::new(settings(
            listeners,
            std::sync::Arc::new(Pusher::new(lctx)),
            inputs,
        ))
    });

    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let ctx = ApiContext {
        closing,
        stats: stats.clone(),
        started: std::time::Instant::now(),
        triggers: triggers.clone(),
        supervisor: supervisor.clone(),
        logbook: opts.logbook,
        challenger: Challenger::new(),
        api_addr,
    };
    // The UDP socket is bound before the HTTP API answers: a caller that has seen the HTTP API
    // up may send datagrams at once, and a datagram sent before the bind is lost.
    let udp = match api::udp::bind(api_addr.port()).await {
        Ok(sock) => Some(actix_rt::spawn(api::udp::serve(ctx.clone(), sock))),
        Err(e) => {
            tracing::warn!(
                "UDP API not available on 127.0.0.1:{}: {e}",
                api_addr.port()
            );
            None
        }
    };

    let server = api::http::serve(ctx, listener).map_err(|source| StartError::ApiBind {
        addr: api_addr.to_string(),
        source,
    })?;
    let api_handle = server.handle();
    actix_rt::spawn(server);
    tracing::info!(kind = "CONF", "API listening on {api_addr}");
    // SYSTEM_START (manual §4.4.1): a blocking negative answer shuts the server down again.
    let _ = supervisor
        .send(crate::actors::supervisor::GetSnapshot)
        .await;
    let start = triggers.fire("SYSTEM_START", "", &[]).await;
    let reason = if start.allowed {
        loop {
            let reason = wait_for_stop(&mut stop_rx).await;
            // SYSTEM_STOP (manual §4.4.2): a blocking negative answer cancels the shutdown.
            let text = format!("{reason:?}");
            if triggers.fire("SYSTEM_STOP", "", &[&text]).await.allowed {
                break reason;
            }
            tracing::warn!(
                kind = "CONF",
                "SYSTEM_STOP handler cancelled the shutdown ({text})"
            );
        }
    } else {
        tracing::warn!(kind = "CONF", "SYSTEM_START handler refused; shutting down");
        StopReason::TriggerRefused
    };
    tracing::info!(kind = "CONF", "Shutting down ({reason:?})");
    let _ = supervisor.send(Shutdown).await;
    // WebSocket feeds close first: a graceful stop waits for open responses.
    let _ = closing_tx.send(true);
    api_handle.stop(true).await;
    if let Some(task) = udp {
        task.abort();
    }
    media.shutdown_background();
    Ok(())
}

async fn wait_for_stop(api_requests: &mut mpsc::Receiver<StopReason>) -> StopReason {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            tracing::warn!("cannot watch for signals; only an API shutdown stops the server");
            return api_requests.recv().await.unwrap_or(StopReason::ApiRequest);
        }
    };
    tokio::select! {
        _ = term.recv() => StopReason::Signal("SIGTERM"),
        _ = int.recv() => StopReason::Signal("SIGINT"),
        r = api_requests.recv() => r.unwrap_or(StopReason::ApiRequest),
    }
}
