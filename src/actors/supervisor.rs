//! The Supervisor: owns the configuration and the registries, and is the only writer of the
//! configuration. The API and everything else talk to it by messages.
//!
//! - [`GetSnapshot`] hands out a copy of the configuration with the runtime view (protocol
//!   `online` values, instance id).
//! - [`ApplyChange`] applies a [`ConfigChange`] on a clone, swaps it in, restarts only the
//!   listeners whose entries changed, and marks the config for saving.
//! - [`SaveConfig`] writes it now; otherwise it is written once it has been unchanged for
//!   `autosave_after`, and at shutdown.
//! - [`Shutdown`] stops the listeners, writes the config and tells the server to exit.
//!
//! Stream, session, push and trigger actors are started and registered here by later work.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::Value;
use tokio::sync::mpsc;

use super::config_edit::{self, ChangeOutcome, ConfigChange};
use super::listeners::ListenerSet;
use crate::config::Config;
use crate::protocols::ListenerContext;

/// How often the supervisor checks for pending saves and listeners to retry.
const TICK: Duration = Duration::from_secs(1);

/// Why the server is asked to stop.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    Signal(&'static str),
    ApiRequest,
}

/// The supervisor.
pub struct Supervisor {
    config: Config,
    config_path: PathBuf,
    /// What is on disk (the file bytes last read or written), to know when a save is due.
    on_disk: Vec<u8>,
    /// When the in-memory config last changed, while it differs from the disk.
    changed_at: Option<Instant>,
    autosave_after: Duration,
    listeners: ListenerSet,
    iid: String,
    /// Tells the server's main loop that a shutdown was requested through the API.
    stop_requests: mpsc::Sender<StopReason>,
}

/// How to start a [`Supervisor`].
pub struct SupervisorSettings {
    pub config: Config,
    pub config_path: PathBuf,
    /// The bytes of the config file as loaded; `None` on a first start.
    pub loaded_bytes: Option<Vec<u8>>,
    pub autosave_after: Duration,
    pub stop_requests: mpsc::Sender<StopReason>,
}

impl Supervisor {
    pub fn new(s: SupervisorSettings) -> Self {
        let on_disk = s.loaded_bytes.unwrap_or_default();
        let dirty = s.config.to_file_bytes() != on_disk;
        Supervisor {
            config: s.config,
            config_path: s.config_path,
            on_disk,
            changed_at: dirty.then(Instant::now),
            autosave_after: s.autosave_after,
            listeners: ListenerSet::new(ListenerContext::default()),
            iid: instance_id(),
            stop_requests: s.stop_requests,
        }
    }

    fn save(&mut self) -> Result<(), String> {
        let bytes = self.config.to_file_bytes();
        self.config.save_atomic(&self.config_path).map_err(|e| {
            tracing::error!(kind = "FAIL", "{e}");
            e.to_string()
        })?;
        tracing::info!(
            kind = "CONF",
            "Config written to {}",
            self.config_path.display()
        );
        self.on_disk = bytes;
        self.changed_at = None;
        Ok(())
    }

    fn note_change(&mut self) {
        if self.config.to_file_bytes() != self.on_disk {
            self.changed_at = Some(Instant::now());
        } else {
            self.changed_at = None;
        }
    }

    fn tick(&mut self) {
        if let Some(at) = self.changed_at {
            if at.elapsed() >= self.autosave_after {
                let _ = self.save();
            }
        }
        if self.listeners.has_failures() {
            let wanted = self.config.config.protocols.clone();
            self.listeners.start_missing(&wanted);
        }
    }

    /// Restarts listeners after a change: stop the retired ones, wait, start the new ones.
    fn reconcile(&mut self) -> ResponseActFuture<Self, ()> {
        let wanted = self.config.config.protocols.clone();
        let stops = self.listeners.retire(&wanted);
        Box::pin(
            async move {
                for s in stops {
                    s.await;
                }
            }
            .into_actor(self)
            .map(move |_, act, _| act.listeners.start_missing(&wanted)),
        )
    }

    fn snapshot(&self) -> Snapshot {
        let protocols = self
            .config
            .config
            .protocols
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.insert("online".into(), self.listeners.online(&p));
                Value::Object(p)
            })
            .collect();
        Snapshot {
            config: self.config.clone(),
            protocols,
            iid: self.iid.clone(),
        }
    }
}

/// 16 characters, fresh per boot (facts §1.5 `iid`).
fn instance_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.wait(self.reconcile());
        ctx.run_interval(TICK, |act, _| act.tick());
    }
}

/// The configuration and its runtime view, as of one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub config: Config,
    /// `config.protocols` with each entry's `online` value.
    pub protocols: Vec<Value>,
    /// Instance id, fresh per boot.
    pub iid: String,
}

/// Asks for a [`Snapshot`].
#[derive(Message)]
#[rtype(result = "Snapshot")]
pub struct GetSnapshot;

impl Handler<GetSnapshot> for Supervisor {
    type Result = MessageResult<GetSnapshot>;
    fn handle(&mut self, _: GetSnapshot, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.snapshot())
    }
}

/// Applies a change to the configuration.
#[derive(Message)]
#[rtype(result = "ChangeOutcome")]
pub struct ApplyChange(pub ConfigChange);

impl Handler<ApplyChange> for Supervisor {
    type Result = AtomicResponse<Self, ChangeOutcome>;
    fn handle(&mut self, msg: ApplyChange, _: &mut Self::Context) -> Self::Result {
        let mut next = self.config.clone();
        let outcome = config_edit::apply(&mut next, msg.0);
        let protocols_changed = next.config.protocols != self.config.config.protocols;
        self.config = next;
        self.note_change();
        if !protocols_changed {
            return AtomicResponse::new(Box::pin(fut::ready(outcome)));
        }
        AtomicResponse::new(Box::pin(self.reconcile().map(move |_, _, _| outcome)))
    }
}

/// Writes the configuration to disk now.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct SaveConfig;

impl Handler<SaveConfig> for Supervisor {
    type Result = Result<(), String>;
    fn handle(&mut self, _: SaveConfig, _: &mut Self::Context) -> Self::Result {
        self.save()
    }
}

/// Asks the server to shut down (the API's `shutdown`); the server then sends [`Shutdown`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct RequestStop(pub StopReason);

impl Handler<RequestStop> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: RequestStop, _: &mut Self::Context) {
        // A full channel means a stop is already on its way.
        let _ = self.stop_requests.try_send(msg.0);
    }
}

/// Stops every listener and writes the configuration.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for Supervisor {
    type Result = AtomicResponse<Self, ()>;
    fn handle(&mut self, _: Shutdown, _: &mut Self::Context) -> Self::Result {
        let _ = self.save();
        let stops = self.listeners.retire_all();
        AtomicResponse::new(Box::pin(
            async move {
                for s in stops {
                    s.await;
                }
            }
            .into_actor(self),
        ))
    }
}
