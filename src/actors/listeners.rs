//! The running listeners, one per startable entry of `config.protocols`.
//!
//! Owned by the supervisor. After every configuration change it calls [`ListenerSet::retire`]
//! (stop what is no longer configured, and wait for the sockets to close) and then
//! [`ListenerSet::start_missing`]. Entries that failed to bind are retried on the supervisor's
//! tick, so a port that was busy comes up once it is free.

use std::net::SocketAddr;

use serde_json::Value;

use crate::config::{same_protocol, ProtocolEntry};
use crate::protocols::{self, EntryState, ListenerContext, ListenerHandle, StopFuture};

struct Slot {
    entry: ProtocolEntry,
    state: EntryState,
    handle: Option<ListenerHandle>,
}

/// The listeners and the state of every configured entry.
pub struct ListenerSet {
    slots: Vec<Slot>,
    /// Set by the supervisor once it runs (listeners need its address).
    ctx: Option<ListenerContext>,
}

impl Default for ListenerSet {
    fn default() -> Self {
        Self::new()
    }
}

impl ListenerSet {
    pub fn new() -> Self {
        ListenerSet {
            slots: Vec::new(),
            ctx: None,
        }
    }

    pub fn set_context(&mut self, ctx: ListenerContext) {
        self.ctx = Some(ctx);
    }

    /// Stops the listeners whose entry is not in `wanted`; the futures finish when their sockets
    /// are closed.
    pub fn retire(&mut self, wanted: &[ProtocolEntry]) -> Vec<StopFuture> {
        self.retire_inner(wanted, true)
    }

    fn retire_inner(&mut self, wanted: &[ProtocolEntry], report: bool) -> Vec<StopFuture> {
        let mut stops = Vec::new();
        let ctx = self.ctx.clone();
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
                if let (true, Some(ctx)) = (report, &ctx) {
                    output_event(ctx, "OUTPUT_STOP", &slot.entry);
                }
            }
            false
        });
        stops
    }

    /// Stops everything (at shutdown: OUTPUT_STOP is not fired then, manual §4.4.4).
    pub fn retire_all(&mut self) -> Vec<StopFuture> {
        self.retire_inner(&[], false)
    }

    /// Starts a listener for each wanted entry that is not running, and retries failed ones.
    pub fn start_missing(&mut self, wanted: &[ProtocolEntry]) {
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

    /// True when some entry failed and may be retried.
    pub fn has_failures(&self) -> bool {
        self.slots
            .iter()
            .any(|s| matches!(s.state, EntryState::Failed(_)))
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
        let Some(spec) = protocols::find(name) else {
            slot.state = EntryState::NotInstalled;
            return slot;
        };
        let Some(start) = spec.start else {
            slot.state = EntryState::Enabled;
            return slot;
        };
        let settings = match protocols::settings_for(spec, entry) {
            Ok(s) => s,
            Err(why) => {
                tracing::warn!(kind = "CONF", "{name} not started: {why}");
                slot.state = EntryState::Invalid(why);
                return slot;
            }
        };
        let Some(ctx) = &self.ctx else {
            slot.state = EntryState::Failed("the server is not running yet".into());
            return slot;
        };
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

    /// The `online` value for a configured entry.
    pub fn online(&self, entry: &ProtocolEntry) -> Value {
        self.slots
            .iter()
            .find(|s| same_protocol(&s.entry, entry))
            .map(|s| s.state.online_value())
            .unwrap_or(Value::from(0))
    }

    /// The address a running entry listens on.
    pub fn local_addr(&self, entry: &ProtocolEntry) -> Option<SocketAddr> {
        self.slots
            .iter()
            .find(|s| same_protocol(&s.entry, entry))
            .and_then(|s| match s.state {
                EntryState::Running(a) => Some(a),
                _ => None,
            })
    }
}

/// OUTPUT_START / OUTPUT_STOP (manual §4.4.3-4): non-blocking, payload the entry as JSON.
fn output_event(ctx: &ListenerContext, event: &'static str, entry: &ProtocolEntry) {
    if !ctx.triggers.configured(event, "") {
        return;
    }
    let (triggers, payload) = (
        ctx.triggers.clone(),
        serde_json::Value::Object(entry.clone()).to_string(),
    );
    ctx.runtime.spawn(async move {
        triggers.fire(event, "", &[&payload]).await;
    });
}

fn connector(entry: &ProtocolEntry) -> &str {
    entry
        .get("connector")
        .and_then(Value::as_str)
        .unwrap_or("?")
}
