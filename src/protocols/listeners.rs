//! The running listeners, one per startable entry of `config.protocols`.
//!
//! The supervisor drives a [`ListenerSet`] through [`Listeners`]: after every configuration
//! change it calls `retire` (stop what is no longer configured, and wait for the sockets to
//! close) and then `start_missing`. Entries that failed to bind are retried on the supervisor's
//! tick, so a port that was busy comes up once it is free. A connector name not in the
//! catalogue reports `"Not installed"`.

use std::net::SocketAddr;

use serde_json::{json, Value};

use super::{catalogue, listen, ListenerContext, ListenerHandle};
use crate::config::{same_protocol, ProtocolEntry};
use crate::hub::outlets::{Listeners, StopFuture};

struct Slot {
    entry: ProtocolEntry,
    state: EntryState,
    handle: Option<ListenerHandle>,
}

/// The listeners and the state of every configured entry.
pub struct ListenerSet {
    slots: Vec<Slot>,
    ctx: ListenerContext,
}

impl ListenerSet {
    pub fn new(ctx: ListenerContext) -> Self {
        ListenerSet {
            slots: Vec::new(),
            ctx,
        }
    }

    fn retire_inner(&mut self, wanted: &[ProtocolEntry], report: bool) -> Vec<StopFuture> {
        let mut stops = Vec::new();
        let ctx = &self.ctx;
        self.slots.retain_mut(|slot| {
            if wanted.iter().any(|w| same_protocol(w, &slot.entry)) {
                return true;
            }
            if let Some(h) = slot.handle.take() {
                tracing::info!(
                    kind = "CONF",
                    "Stopping {} listener on {}",
                    connector(&slot.entry),
                    h.local_addr
                );
                stops.push(h.stop());
                if report {
                    output_event(ctx, "OUTPUT_STOP", &slot.entry);
                }
            }
            false
        });
        stops
    }

    /// Starts one entry. A retry that fails the same way as before is not logged again.
    fn start_one(&self, entry: &ProtocolEntry, previous_failure: Option<String>) -> Slot {
        let mut slot = Slot {
            entry: entry.clone(),
            state: EntryState::MissingConnector,
            handle: None,
        };
        let Some(name) = entry
            .get("connector")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            return slot;
        };
        let Some(spec) = catalogue::find(name) else {
            slot.state = EntryState::NotInstalled;
            return slot;
        };
        let Some(start) = spec.start else {
            slot.state = EntryState::Enabled;
            return slot;
        };
        let settings = match listen::settings_for(spec, entry) {
            Ok(s) => s,
            Err(why) => {
                tracing::warn!(kind = "CONF", "{name} not started: {why}");
                slot.state = EntryState::Invalid(why);
                return slot;
            }
        };
        let ctx = &self.ctx;
        match start(&settings, ctx) {
            Ok(handle) => {
                slot.state = EntryState::Running(handle.local_addr);
                slot.handle = Some(handle);
                output_event(ctx, "OUTPUT_START", entry);
            }
            Err(e) => {
                let why = e.to_string();
                if previous_failure.as_deref() != Some(why.as_str()) {
                    tracing::error!(kind = "FAIL", "{name} not started: {why}");
                }
                slot.state = EntryState::Failed(why);
            }
        }
        slot
    }
}

/// OUTPUT_START / OUTPUT_STOP (manual §4.4.3-4): non-blocking, payload the entry as JSON.
fn output_event(ctx: &ListenerContext, event: &'static str, entry: &ProtocolEntry) {
    let payload = Value::Object(entry.clone()).to_string();
    let _rt = ctx.runtime.enter();
    ctx.hub.triggers().fire_later(event, "", vec![payload]);
}

impl Listeners for ListenerSet {
    fn retire(&mut self, wanted: &[ProtocolEntry]) -> Vec<StopFuture> {
        *self
            .ctx
            .protocols
            .write()
            .unwrap_or_else(|p| p.into_inner()) = wanted.to_vec();
        self.retire_inner(wanted, true)
    }

    fn retire_all(&mut self) -> Vec<StopFuture> {
        self.retire_inner(&[], false)
    }

    fn start_missing(&mut self, wanted: &[ProtocolEntry]) {
        for entry in wanted {
            let mut previous_failure = None;
            if let Some(i) = self
                .slots
                .iter()
                .position(|s| same_protocol(&s.entry, entry))
            {
                match &self.slots[i].state {
                    EntryState::Failed(why) => previous_failure = Some(why.clone()),
                    _ => continue,
                }
                self.slots.remove(i);
            }
            let slot = self.start_one(entry, previous_failure);
            self.slots.push(slot);
        }
    }

    fn has_failures(&self) -> bool {
        self.slots
            .iter()
            .any(|s| matches!(s.state, EntryState::Failed(_)))
    }

    fn set_conn_limit(&self, per_ip: Option<u64>) {
        self.ctx.limits.set_per_ip(per_ip);
    }

    fn online(&self, entry: &ProtocolEntry) -> Value {
        self.slots
            .iter()
            .find(|s| same_protocol(&s.entry, entry))
            .map(|s| s.state.online_value())
            .unwrap_or(Value::from(0))
    }
}

/// The `online` value of an entry whose connector is not startable on its own.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryState {
    Running(SocketAddr),
    Failed(String),
    Enabled,
    NotInstalled,
    MissingConnector,
    Invalid(String),
}

impl EntryState {
    /// The API's `online` value (facts §2.5).
    pub fn online_value(&self) -> Value {
        match self {
            EntryState::Running(_) => json!(1),
            EntryState::Failed(_) => json!(0),
            EntryState::Enabled => json!("Enabled"),
            EntryState::NotInstalled => json!("Not installed"),
            EntryState::MissingConnector => json!("Missing connector name"),
            EntryState::Invalid(_) => json!("Invalid configuration"),
        }
    }
}

fn connector(entry: &ProtocolEntry) -> &str {
    entry
        .get("connector")
        .and_then(Value::as_str)
        .unwrap_or("?")
}
