//! How many connections one address may hold open across every listener (HTTP, RTMP, RTSP,
//! DTSC): `config.maxconnsperip` (an Eddy setting; 0 means no limit), by default
//! [`DEFAULT_PER_IP`]. A connection over the limit is closed as soon as it is accepted, before
//! anything is read from it, with a log line at most every [`LOG_EVERY`]; the others carry on.
//! (The API port is actix-web's and has its own limits.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Connections one address may hold unless configured otherwise: far above what one player or
/// a NAT of households needs, far below what exhausts file descriptors.
pub const DEFAULT_PER_IP: usize = 4096;
/// Shortest time between two log lines about refused connections.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The open connections per address.
#[derive(Debug)]
pub struct ConnLimits {
    per_ip: AtomicUsize,
    open: Mutex<HashMap<IpAddr, usize>>,
    last_log: Mutex<Option<Instant>>,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            per_ip: AtomicUsize::new(DEFAULT_PER_IP),
            open: Mutex::new(HashMap::new()),
            last_log: Mutex::new(None),
        }
    }
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
pub struct ConnSlot {
    limits: Arc<ConnLimits>,
    ip: IpAddr,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl ConnLimits {
    /// Sets the limit from `config.maxconnsperip` (`None`: the default; 0: none).
    pub fn set_per_ip(&self, configured: Option<u64>) {
        let n = match configured {
            None => DEFAULT_PER_IP,
            Some(0) => usize::MAX,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        self.per_ip.store(n, Ordering::Relaxed);
    }

    /// A place for a new connection from `ip`, or `None` (logged) when it holds the limit.
    pub fn enter(self: &Arc<Self>, ip: IpAddr, listener: &str) -> Option<ConnSlot> {
        let limit = self.per_ip.load(Ordering::Relaxed);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= limit {
            let held = *n;
            drop(open);
            let mut last = self.last_log.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                *last = Some(Instant::now());
                tracing::warn!(
                    kind = "ACCS",
                    "{listener}: refused a connection from {ip}: it holds {held} (config maxconnsperip {limit})"
                );
            }
            return None;
        }
        *n += 1;
        Some(ConnSlot {
            limits: self.clone(),
            ip,
        })
    }

    /// Connections open from `ip`.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&ip).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_address_and_given_back() {
        let l = Arc::new(ConnLimits::default());
        l.set_per_ip(Some(2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = l.enter(a, "t").expect("1");
        let _second = l.enter(a, "t").expect("2");
        assert!(l.enter(a, "t").is_none(), "a third from a");
        assert!(l.enter(b, "t").is_some(), "b has its own count");
        drop(first);
        assert_eq!(l.open_from(a), 1);
        assert!(l.enter(a, "t").is_some());
        l.set_per_ip(Some(0));
        assert!((0..10).all(|_| l.enter(a, "t").map(std::mem::forget).is_some()));
    }
}
