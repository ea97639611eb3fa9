//! Who may push to a stream (manual §3.3.1, facts §4): sources of the form
//! `push://[host][@passphrase]`.
//!
//! - no host and no passphrase: anyone may push;
//! - a passphrase: a pusher giving it (as the RTMP application name) may push from anywhere;
//! - a host: an IP address, a CIDR range (`192.168.0.0/16`, `fd00::/8`) or a host name, whose
//!   addresses are looked up at push time (the same mask applies to its IPv4 and IPv6 records);
//!   pushers from a matching address may push without the passphrase.
//!
//! With both, matching either one is enough. Several hosts may be given separated by spaces or
//! commas (an Eddy extension; MistServer takes one).

use std::net::IpAddr;

/// A parsed `push://` source.
#[derive(Debug, Clone, PartialEq)]
pub struct PushSource {
    pub hosts: Vec<HostRule>,
    pub passphrase: Option<String>,
}

/// One allowed host.
#[derive(Debug, Clone, PartialEq)]
pub enum HostRule {
    Cidr(IpAddr, u8),
    Name(String, Option<u8>),
}

/// Parses a stream source; `None` when it is not a `push://` source.
pub fn parse(source: &str) -> Option<PushSource> {
    let rest = source.strip_prefix("push://")?;
    let (hosts, passphrase) = match rest.split_once('@') {
        Some((h, p)) => (h, (!p.is_empty()).then(|| p.to_string())),
        None => (rest, None),
    };
    let hosts = hosts
        .split([' ', ','])
        .filter(|h| !h.is_empty())
        .map(|h| {
            let (addr, mask) = match h.split_once('/') {
                Some((a, m)) => (a, m.parse::<u8>().ok()),
                None => (h, None),
            };
            let addr = addr.trim_start_matches('[').trim_end_matches(']');
            match addr.parse::<IpAddr>() {
                Ok(ip) => {
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    HostRule::Cidr(normalize(ip), mask.unwrap_or(max).min(max))
                }
                Err(_) => HostRule::Name(addr.to_string(), mask),
            }
        })
        .collect();
    Some(PushSource { hosts, passphrase })
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
pub fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Whether `ip` is inside `net/bits`.
pub fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (normalize(ip), normalize(net)) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = u32::from(bits.min(32));
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = u32::from(bits.min(128));
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl PushSource {
    /// Decides whether a push from `peer`, giving `passphrase`, is allowed. Host names are looked
    /// up now. `Err` says why not, for the log.
    pub async fn check(&self, peer: IpAddr, passphrase: &str) -> Result<(), String> {
        if self.hosts.is_empty() && self.passphrase.is_none() {
            return Ok(());
        }
        if let Some(p) = &self.passphrase {
            if p == passphrase {
                return Ok(());
            }
        }
        for rule in &self.hosts {
            match rule {
                HostRule::Cidr(net, bits) => {
                    if in_range(peer, *net, *bits) {
                        return Ok(());
                    }
                }
                HostRule::Name(name, bits) => {
                    let Ok(addrs) = tokio::net::lookup_host((name.as_str(), 0)).await else {
                        continue;
                    };
                    for a in addrs {
                        let max = if a.is_ipv4() { 32 } else { 128 };
                        if in_range(peer, a.ip(), bits.unwrap_or(max).min(max)) {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Err(match (&self.passphrase, self.hosts.is_empty()) {
            (Some(_), true) => "wrong passphrase".to_string(),
            (Some(_), false) => {
                format!("{peer} is not an allowed host and the passphrase is wrong")
            }
            (None, _) => format!("{peer} is not an allowed host"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn parsing() {
        assert_eq!(
            parse("push://"),
            Some(PushSource {
                hosts: vec![],
                passphrase: None
            })
        );
        assert_eq!(parse("/file.mp4"), None);
        let p = parse("push://127.0.0.1@123abc").expect("push");
        assert_eq!(p.hosts, vec![HostRule::Cidr(ip("127.0.0.1"), 32)]);
        assert_eq!(p.passphrase.as_deref(), Some("123abc"));
        let p = parse("push://192.168.0.0/16,[::1] example.org/24").expect("push");
        assert_eq!(
            p.hosts,
            vec![
                HostRule::Cidr(ip("192.168.0.0"), 16),
                HostRule::Cidr(ip("::1"), 128),
                HostRule::Name("example.org".into(), Some(24))
            ]
        );
        assert_eq!(parse("push://@pw").expect("push").hosts, vec![]);
    }

    #[test]
    fn ranges() {
        assert!(in_range(ip("192.168.4.5"), ip("192.168.0.0"), 16));
        assert!(!in_range(ip("192.169.4.5"), ip("192.168.0.0"), 16));
        assert!(in_range(ip("::ffff:10.1.2.3"), ip("10.0.0.0"), 8));
        assert!(in_range(ip("fd00::1"), ip("fd00::"), 8));
        assert!(!in_range(ip("fe00::1"), ip("fd00::"), 8));
        assert!(in_range(ip("1.2.3.4"), ip("0.0.0.0"), 0));
        assert!(!in_range(ip("::1"), ip("127.0.0.1"), 32));
    }

    #[tokio::test]
    async fn rules() {
        let anyone = parse("push://").expect("push");
        assert!(anyone.check(ip("203.0.113.1"), "").await.is_ok());
        let both = parse("push://127.0.0.1@123abc").expect("push");
        assert!(
            both.check(ip("127.0.0.1"), "").await.is_ok(),
            "host without passphrase"
        );
        assert!(
            both.check(ip("203.0.113.1"), "123abc").await.is_ok(),
            "passphrase from anywhere"
        );
        assert!(both.check(ip("203.0.113.1"), "nope").await.is_err());
        let pass = parse("push://@s3cret").expect("push");
        assert!(pass.check(ip("127.0.0.1"), "").await.is_err());
        assert!(pass.check(ip("127.0.0.1"), "s3cret").await.is_ok());
        let named = parse("push://localhost").expect("push");
        assert!(named.check(ip("127.0.0.1"), "").await.is_ok());
        assert!(named.check(ip("203.0.113.1"), "").await.is_err());
    }
}
