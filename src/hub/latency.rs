//! Fan-out latency: the time from a packet entering a live buffer to a viewer's write of it
//! returning (the data is in the viewer's socket). Viewers record one sample per write, for the
//! oldest packet in it, so the figures are a worst case per write.
//!
//! Process-wide, lock-free: 100 µs buckets up to 50 ms, then one overflow bucket. The API's
//! `fanout_latency` command (an Eddy extension) reads and optionally resets it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

const BUCKET_US: u64 = 100;
const BUCKETS: usize = 500;

/// A histogram of durations.
pub struct LatencyHistogram {
    buckets: [AtomicU64; BUCKETS + 1],
    max_us: AtomicU64,
    sum_us: AtomicU64,
}

/// The process-wide fan-out latency.
pub static FANOUT_LATENCY: LatencyHistogram = LatencyHistogram::new();

impl LatencyHistogram {
    pub const fn new() -> Self {
        LatencyHistogram {
            buckets: [const { AtomicU64::new(0) }; BUCKETS + 1],
            max_us: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let idx = usize::try_from(us / BUCKET_US)
            .unwrap_or(BUCKETS)
            .min(BUCKETS);
        self.buckets[idx].fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// `(samples at or under each bound, all samples, sum of all in seconds)`, for a Prometheus
    /// histogram; `bounds_s` in seconds, ascending. A bound falls on a bucket edge (100 µs).
    pub fn cumulative(&self, bounds_s: &[f64]) -> (Vec<u64>, u64, f64) {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let at_or_under = bounds_s
            .iter()
            .map(|&b| {
                let edge = ((b * 1e6) as u64 / BUCKET_US) as usize;
                counts.iter().take(edge.min(BUCKETS)).sum()
            })
            .collect();
        let sum_s = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        (at_or_under, counts.iter().sum(), sum_s)
    }

    pub fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
        self.max_us.store(0, Ordering::Relaxed);
        self.sum_us.store(0, Ordering::Relaxed);
    }

    /// The upper edge of the bucket holding quantile `q` (0..=1), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let want = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                if i == BUCKETS {
                    return Some(self.max_us.load(Ordering::Relaxed) as f64 / 1000.0);
                }
                return Some(((i as u64 + 1) * BUCKET_US) as f64 / 1000.0);
            }
        }
        None
    }

    /// `{samples, p50_ms, p99_ms, p999_ms, max_ms}`.
    pub fn to_json(&self) -> Value {
        let samples: u64 = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum();
        json!({
            "samples": samples,
            "p50_ms": self.quantile_ms(0.5),
            "p99_ms": self.quantile_ms(0.99),
            "p999_ms": self.quantile_ms(0.999),
            "max_ms": self.max_us.load(Ordering::Relaxed) as f64 / 1000.0,
        })
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let h = LatencyHistogram::new();
        assert_eq!(h.quantile_ms(0.99), None);
        for _ in 0..99 {
            h.record(Duration::from_micros(250));
        }
        h.record(Duration::from_millis(80));
        assert_eq!(h.quantile_ms(0.5), Some(0.3));
        assert_eq!(h.quantile_ms(0.99), Some(0.3));
        assert_eq!(h.quantile_ms(1.0), Some(80.0));
        assert_eq!(h.to_json()["samples"], 100);
        let (under, all, sum) = h.cumulative(&[0.0001, 0.0003, 0.05]);
        assert_eq!((under, all), (vec![0, 99, 99], 100));
        assert!((sum - 0.10475).abs() < 1e-9, "{sum}");
        h.reset();
        assert_eq!(h.to_json()["samples"], 0);
    }
}
