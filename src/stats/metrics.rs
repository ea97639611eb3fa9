//! Process-wide event counters for Prometheus: trigger calls (count, failures, handler time as a
//! histogram), configuration saves, pushes started and failed. Lock-free except the trigger
//! table, which is touched once per handler call.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the trigger handler time histogram, in seconds.
pub const TRIGGER_BUCKETS_S: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One trigger's calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriggerMetric {
    pub count: u64,
    /// Handlers that could not be run or answered with an error (their default was used).
    pub fails: u64,
    pub total_ms: f64,
    /// Calls per bucket of [`TRIGGER_BUCKETS_S`] (not cumulative); one more for longer calls.
    pub buckets: [u64; TRIGGER_BUCKETS_S.len() + 1],
}

static TRIGGERS: Mutex<BTreeMap<String, TriggerMetric>> = Mutex::new(BTreeMap::new());

/// Configuration writes to disk.
pub static CONFIG_SAVES: AtomicU64 = AtomicU64::new(0);
/// Pushes started, and pushes that ended with an error.
pub static PUSHES_STARTED: AtomicU64 = AtomicU64::new(0);
pub static PUSHES_FAILED: AtomicU64 = AtomicU64::new(0);

/// Records one handler call of `trigger`.
pub fn trigger_call(trigger: &str, took: Duration, failed: bool) {
    let mut t = TRIGGERS.lock().unwrap_or_else(|p| p.into_inner());
    let m = match t.get_mut(trigger) {
        Some(m) => m,
        None => t.entry(trigger.to_string()).or_default(),
    };
    m.count += 1;
    if failed {
        m.fails += 1;
    }
    let secs = took.as_secs_f64();
    m.total_ms += secs * 1000.0;
    let idx = TRIGGER_BUCKETS_S
        .iter()
        .position(|&b| secs <= b)
        .unwrap_or(TRIGGER_BUCKETS_S.len());
    m.buckets[idx] += 1;
}

/// Every trigger called so far.
pub fn triggers() -> BTreeMap<String, TriggerMetric> {
    TRIGGERS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

pub fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_histogram() {
        trigger_call("TEST_METRIC", Duration::from_millis(3), false);
        trigger_call("TEST_METRIC", Duration::from_secs(30), true);
        let m = triggers().remove("TEST_METRIC").expect("recorded");
        assert_eq!((m.count, m.fails), (2, 1));
        assert_eq!(m.buckets[1], 1, "3 ms is in the 5 ms bucket");
        assert_eq!(m.buckets[TRIGGER_BUCKETS_S.len()], 1, "30 s overflows");
        assert!(m.total_ms >= 30_000.0);
    }
}
