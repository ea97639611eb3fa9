//! The supervisor's view of pushes: the running ones by id, which streams are active, and the
//! auto-push schedule. The supervisor owns one [`PushRegistry`] and calls it from its handlers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::Value;
use tokio::sync::watch;

use super::auto::{AutoPush, Schedule, TickPlan};
use super::{PushActor, PushEnded, StopPush};
use crate::config::PushSettings;
use crate::hub::outlets::PushRunner;
use crate::hub::push::{ExitReason, PushState};

/// How long shutdown waits for pushes to finish their files.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

struct Running {
    addr: Addr<PushActor>,
    shared: Arc<PushState>,
}

/// Whether one of `running` pushes `stream` to `target` (as given or as resolved).
fn runs(running: &BTreeMap<u64, Running>, stream: &str, target: &str) -> bool {
    running.values().any(|r| {
        r.shared.stream == stream && (r.shared.target == target || r.shared.resolved() == target)
    })
}

/// Running pushes and the auto-push state.
#[derive(Default)]
pub struct PushRegistry {
    running: BTreeMap<u64, Running>,
    next_id: u64,
    /// Streams with data from their publisher.
    active: BTreeSet<String>,
    schedule: Schedule,
}

/// What starting pushes needs from the supervisor.
pub struct Starter {
    pub runner: Arc<dyn PushRunner>,
    pub ended: Recipient<PushEnded>,
}

impl PushRegistry {
    /// Whether a push of `stream` to `target` (as given or as resolved) is running.
    pub fn is_running(&self, stream: &str, target: &str) -> bool {
        runs(&self.running, stream, target)
    }

    /// Starts one push unless the same one runs already; returns its id.
    pub fn start(
        &mut self,
        s: &Starter,
        stream: &str,
        target: &str,
        auto: bool,
        from_start: bool,
    ) -> Option<u64> {
        if self.is_running(stream, target) {
            return None;
        }
        self.next_id += 1;
        let id = self.next_id;
        let shared = Arc::new(PushState::new(id, stream.into(), target.into(), auto));
        shared.log(
            "INFO",
            format!("Starting push {id} of {stream} to {target}"),
        );
        let actor = PushActor::new(
            shared.clone(),
            s.runner.clone(),
            from_start,
            s.ended.clone(),
        );
        let addr = actor.start();
        self.running.insert(id, Running { addr, shared });
        crate::stats::metrics::count(&crate::stats::metrics::PUSHES_STARTED);
        Some(id)
    }

    /// `push_start`: a stream name starts one push (the stream is started and waited for when
    /// needed); `name+` starts one for every active wildcard instance; `#tag` matches no stream
    /// yet (Eddy has no stream tags).
    pub fn start_manual(&mut self, s: &Starter, pattern: &str, target: &str) {
        if pattern.starts_with('#') {
            tracing::warn!(
                kind = "WARN",
                "push_start: stream tags are not supported; {pattern} matches no stream"
            );
            return;
        }
        if pattern.ends_with('+') {
            let matching: Vec<String> = self
                .active
                .iter()
                .filter(|n| super::auto::stream_matches(pattern, n))
                .cloned()
                .collect();
            for name in matching {
                self.start(s, &name, target, false, false);
            }
            return;
        }
        match crate::stream_name::validate(pattern) {
            Ok(name) => {
                self.start(s, &name, target, false, false);
            }
            Err(e) => tracing::warn!(kind = "WARN", "push_start: stream {pattern:?}: {e}"),
        }
    }

    /// New auto-push rules: start them for the active streams they match.
    pub fn apply_rules(&mut self, s: &Starter, rules: &[AutoPush], now: i64) {
        let active: Vec<String> = self.active.iter().cloned().collect();
        for name in active {
            self.start_rules_for(s, rules, &name, now, false);
        }
    }

    fn start_rules_for(
        &mut self,
        s: &Starter,
        rules: &[AutoPush],
        name: &str,
        now: i64,
        from_start: bool,
    ) {
        for rule in rules
            .iter()
            .filter(|r| r.applies_to(name) && r.in_window(now) && r.scheduletime.is_none())
        {
            self.start(s, name, &rule.target, true, from_start);
        }
    }

    /// A stream became active: its auto-pushes start, from its first keyframe.
    pub fn on_ready(&mut self, s: &Starter, rules: &[AutoPush], name: &str, now: i64) {
        self.active.insert(name.to_string());
        self.start_rules_for(s, rules, name, now, true);
    }

    /// A stream ended (its pushes end by themselves as its buffer closes).
    pub fn on_gone(&mut self, name: &str) {
        self.active.remove(name);
        self.schedule.forget(name);
    }

    pub fn on_ended(&mut self, id: u64) {
        self.running.remove(&id);
    }

    /// Stops pushes by id.
    pub fn stop_ids(&self, ids: &[u64]) {
        for id in ids {
            if let Some(r) = self.running.get(id) {
                r.addr.do_send(StopPush(ExitReason::IntendedStop));
            }
        }
    }

    /// Stops every push of these streams.
    pub fn stop_streams(&self, names: &[String]) {
        for r in self.running.values() {
            if names.contains(&r.shared.stream) {
                r.addr.do_send(StopPush(ExitReason::IntendedStop));
            }
        }
    }

    /// Stops the auto-pushes of rules that expired, by (stream pattern, target).
    pub fn stop_rules(&self, rules: &[AutoPush]) {
        for r in self.running.values().filter(|r| r.shared.auto) {
            if rules
                .iter()
                .any(|rule| rule.target == r.shared.target && rule.applies_to(&r.shared.stream))
            {
                r.addr.do_send(StopPush(ExitReason::IntendedStop));
            }
        }
    }

    /// The once-a-second schedule: restarts and scheduled starts.
    pub fn tick(
        &mut self,
        s: &Starter,
        rules: &[AutoPush],
        settings: &PushSettings,
        now: i64,
    ) -> TickPlan {
        let running = &self.running;
        let plan = self.schedule.tick(
            rules,
            &self.active,
            |stream, target| runs(running, stream, target),
            settings,
            now,
        );
        for (stream, target) in &plan.start {
            self.start(s, stream, target, true, false);
        }
        plan
    }

    /// `push_list` rows.
    pub fn rows(&self) -> Vec<Value> {
        self.running.values().map(|r| r.shared.row()).collect()
    }

    /// Asks every push to stop and returns what to wait on until their files are finished.
    pub fn stop_all(&self) -> Vec<watch::Receiver<bool>> {
        self.running
            .values()
            .map(|r| {
                r.addr.do_send(StopPush(ExitReason::ControllerRequest));
                r.shared.done.subscribe()
            })
            .collect()
    }
}
