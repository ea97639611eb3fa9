//! API authentication (manual §4.1.1, facts §1.2-§1.4).
//!
//! A caller is *local* when its address is one of this host's addresses and the request carries
//! neither `X-Forwarded-For` nor `X-Real-IP`; local callers need no login. Others get a challenge
//! and log in with `password = md5hex(md5hex(plaintext) + challenge)`.
//!
//! The challenge is `md5hex(secret, day, host)`: the same for one client host all day, so clients
//! that cache the hash keep working, and it rotates daily (UTC). For an hour after a rotation the
//! previous day's challenge is still accepted. The secret is random per process, so a challenge
//! is also not guessable from the date and address (MistServer's is; we deliberately do not copy
//! that). Accounts store `md5hex(plaintext)` only.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::md5_hex;

/// How long a challenge stays the same.
pub const CHALLENGE_PERIOD_SECS: i64 = 86_400;
/// How long the previous challenge is still accepted after a rotation.
pub const CHALLENGE_GRACE_SECS: i64 = 3_600;

/// Makes and checks challenges.
#[derive(Debug, Clone)]
pub struct Challenger {
    secret: String,
}

impl Challenger {
    pub fn new() -> Self {
        Challenger {
            secret: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// The challenge for `host` at unix time `now`.
    pub fn challenge(&self, host: &str, now: i64) -> String {
        self.for_period(host, now.div_euclid(CHALLENGE_PERIOD_SECS))
    }

    fn for_period(&self, host: &str, period: i64) -> String {
        md5_hex(format!("{}-{period}-{host}", self.secret).as_bytes())
    }

    /// Whether `answer` proves knowledge of the password whose md5 hex is `stored`.
    pub fn accepts(&self, host: &str, now: i64, stored: &str, answer: &str) -> bool {
        let period = now.div_euclid(CHALLENGE_PERIOD_SECS);
        let mut candidates = vec![self.for_period(host, period)];
        if now - period * CHALLENGE_PERIOD_SECS < CHALLENGE_GRACE_SECS {
            candidates.push(self.for_period(host, period - 1));
        }
        candidates
            .iter()
            .any(|c| password_answer(stored, c) == answer.to_ascii_lowercase())
    }
}

impl Default for Challenger {
    fn default() -> Self {
        Self::new()
    }
}

/// `md5hex(stored_md5hex + challenge)`: what a client sends as `password`.
pub fn password_answer(stored_md5: &str, challenge: &str) -> String {
    md5_hex(format!("{stored_md5}{challenge}").as_bytes())
}

/// The host's own addresses, refreshed at most every few seconds.
static LOCAL_ADDRS: Mutex<Option<(Instant, Vec<IpAddr>)>> = Mutex::new(None);
const LOCAL_ADDRS_TTL: Duration = Duration::from_secs(10);

/// True when `ip` is one of this host's addresses (any interface, not just loopback).
pub fn is_local_address(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    if ip.is_loopback() {
        return true;
    }
    let mut cache = LOCAL_ADDRS.lock().unwrap_or_else(|p| p.into_inner());
    let fresh = matches!(&*cache, Some((at, _)) if at.elapsed() < LOCAL_ADDRS_TTL);
    if !fresh {
        let addrs = if_addrs::get_if_addrs()
            .map(|list| list.into_iter().map(|i| i.ip()).collect())
            .unwrap_or_default();
        *cache = Some((Instant::now(), addrs));
    }
    cache.as_ref().is_some_and(|(_, addrs)| addrs.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_example_hash() {
        // md5("test") = 098f6bcd..., as in the manual's login example.
        assert_eq!(md5_hex(b"test"), "098f6bcd4621d373cade4e832627b4f6");
        let c = Challenger::new();
        let ch = c.challenge("10.0.0.1", 1_000_000);
        let answer = password_answer(&md5_hex(b"test"), &ch);
        assert!(c.accepts("10.0.0.1", 1_000_000, &md5_hex(b"test"), &answer));
        assert!(c.accepts(
            "10.0.0.1",
            1_000_000,
            &md5_hex(b"test"),
            &answer.to_uppercase()
        ));
        assert!(
            !c.accepts("10.0.0.2", 1_000_000, &md5_hex(b"test"), &answer),
            "other host"
        );
        assert!(
            !c.accepts("10.0.0.1", 1_000_000, &md5_hex(b"nope"), &answer),
            "other password"
        );
    }

    #[test]
    fn stable_within_a_day_and_rotates_with_grace() {
        let c = Challenger::new();
        let day = 20_000 * CHALLENGE_PERIOD_SECS;
        let ch = c.challenge("h", day + 10);
        assert_eq!(ch, c.challenge("h", day + CHALLENGE_PERIOD_SECS - 1));
        let next = day + CHALLENGE_PERIOD_SECS;
        assert_ne!(ch, c.challenge("h", next));
        let stored = md5_hex(b"pw");
        let old_answer = password_answer(&stored, &ch);
        assert!(
            c.accepts("h", next + 10, &stored, &old_answer),
            "grace period"
        );
        assert!(
            !c.accepts("h", next + CHALLENGE_GRACE_SECS, &stored, &old_answer),
            "grace over"
        );
        assert_ne!(
            Challenger::new().challenge("h", day),
            ch,
            "secret differs per process"
        );
    }

    #[test]
    fn loopback_and_own_addresses_are_local() {
        assert!(is_local_address("127.0.0.1".parse().unwrap()));
        assert!(is_local_address("::1".parse().unwrap()));
        assert!(is_local_address("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_local_address("192.0.2.77".parse().unwrap()));
    }
}
