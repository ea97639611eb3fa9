//! `tsudp://[host]:port[/interface[,interface...]]` (manual §3.3.4): MPEG-TS over UDP.
//!
//! - No host, or a unicast address: listen on that address (all addresses when empty).
//! - A multicast group (IPv4 224.0.0.0/4, IPv6 ff00::/8): listen on the port and join the group
//!   on each interface given, by name (`eth0`) or address (`192.168.1.2`); without interfaces,
//!   on the system's default one.
//! - Each datagram is plain TS (starting with the 0x47 sync byte) or RTP carrying TS (RFC 2250:
//!   version 2, the 12-byte header, CSRCs and a header extension skipped); the form is told per
//!   datagram, so a sender may switch.
//!
//! The input runs until the stream stops it; a socket error ends it (the stream starts it
//! again). A port in use fails it with the reason.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::feed::TsFeed;
use crate::hub::outlets::InputEnd;
use crate::hub::Publisher;

/// The input's name (`capabilities`, STREAM_READY).
pub const NAME: &str = "TSUDP";
const SCHEME: &str = "tsudp://";
/// Largest datagram taken (a UDP payload cannot be larger).
const DATAGRAM: usize = 65_536;

/// Whether this input reads `source`.
pub fn reads(source: &str) -> bool {
    source.starts_with(SCHEME)
}

/// A parsed `tsudp://` source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpSource {
    /// The address to listen on or the group to join; unspecified for "any".
    pub host: IpAddr,
    pub port: u16,
    /// Interfaces to join a group on (names or addresses), as given.
    pub interfaces: Vec<String>,
}

impl UdpSource {
    pub fn is_multicast(&self) -> bool {
        self.host.is_multicast()
    }
}

/// Parses `tsudp://[host]:port[/interface,...]`; the error says what is wrong.
pub fn parse(source: &str) -> Result<UdpSource, String> {
    let rest = source
        .strip_prefix(SCHEME)
        .ok_or_else(|| format!("{source:?} does not start with {SCHEME}"))?;
    let (addr, interfaces) = match rest.split_once('/') {
        Some((a, i)) => (a, i),
        None => (rest, ""),
    };
    let (host, port) = if let Some(v6) = addr.strip_prefix('[') {
        let (h, p) = v6
            .split_once("]:")
            .ok_or_else(|| format!("{source:?}: an IPv6 host is written [addr]:port"))?;
        let h: Ipv6Addr = h
            .parse()
            .map_err(|_| format!("{source:?}: {h:?} is not an IPv6 address"))?;
        (IpAddr::V6(h), p)
    } else {
        let (h, p) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("{source:?}: no port (tsudp://[host]:port)"))?;
        let h = if h.is_empty() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            h.parse()
                .map_err(|_| format!("{source:?}: {h:?} is not an IP address"))?
        };
        (h, p)
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("{source:?}: {port:?} is not a port"))?;
    let interfaces = interfaces
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(String::from)
        .collect();
    Ok(UdpSource {
        host,
        port,
        interfaces,
    })
}

/// The TS bytes of a datagram: itself when it starts with a sync byte, the payload of an RTP
/// packet that carries TS, `None` for anything else.
pub fn ts_payload(datagram: &[u8]) -> Option<&[u8]> {
    match datagram.first()? {
        0x47 => Some(datagram),
        b if b >> 6 == 2 => {
            let csrcs = usize::from(b & 0x0F);
            let mut at = 12 + 4 * csrcs;
            if b & 0x10 != 0 {
                let words = datagram.get(at + 2..at + 4)?;
                at += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
            }
            let mut payload = datagram.get(at..)?;
            if b & 0x20 != 0 {
                // Padding: the last byte says how much.
                let pad = usize::from(*payload.last()?);
                payload = payload.get(..payload.len().checked_sub(pad)?)?;
            }
            (payload.first() == Some(&0x47)).then_some(payload)
        }
        _ => None,
    }
}

/// Opens the socket: bound to the address (or the group's port), joined to the group.
pub async fn open(src: &UdpSource) -> Result<UdpSocket, String> {
    let bind_ip = match (src.is_multicast(), src.host) {
        (true, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (true, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        (false, ip) => ip,
    };
    let sock = UdpSocket::bind(SocketAddr::new(bind_ip, src.port))
        .await
        .map_err(|e| format!("cannot listen on {bind_ip}:{}: {e}", src.port))?;
    if !src.is_multicast() {
        return Ok(sock);
    }
    let known = if_addrs::get_if_addrs().unwrap_or_default();
    let wanted: Vec<&str> = if src.interfaces.is_empty() {
        vec![""]
    } else {
        src.interfaces.iter().map(String::as_str).collect()
    };
    for iface in wanted {
        match src.host {
            IpAddr::V4(group) => {
                let local = if iface.is_empty() {
                    Ipv4Addr::UNSPECIFIED
                } else if let Ok(ip) = iface.parse::<Ipv4Addr>() {
                    ip
                } else {
                    known
                        .iter()
                        .find_map(|i| match i.ip() {
                            IpAddr::V4(ip) if i.name == iface => Some(ip),
                            _ => None,
                        })
                        .ok_or_else(|| format!("no interface {iface:?} with an IPv4 address"))?
                };
                sock.join_multicast_v4(group, local)
                    .map_err(|e| format!("cannot join {group} on {iface:?}: {e}"))?;
            }
            IpAddr::V6(group) => {
                let index = if iface.is_empty() {
                    0
                } else {
                    interface_index(iface)
                        .or_else(|| {
                            known
                                .iter()
                                .find(|i| i.name == iface || i.ip().to_string() == iface)
                                .and_then(|i| i.index)
                        })
                        .ok_or_else(|| format!("no interface {iface:?}"))?
                };
                sock.join_multicast_v6(&group, index)
                    .map_err(|e| format!("cannot join {group} on {iface:?}: {e}"))?;
            }
        }
    }
    Ok(sock)
}

/// The index of the interface named `name`, from `/sys/class/net` (Linux): an interface needs
/// no address of its own to join an IPv6 group on it, so the address list cannot tell them all.
fn interface_index(name: &str) -> Option<u32> {
    if name.is_empty() || name.contains(['/', '\0']) || name.starts_with('.') {
        return None;
    }
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex")).ok()?;
    text.trim().parse().ok()
}

/// Runs the input of `stream` until `stop`.
pub async fn run(
    stream: &str,
    source: &str,
    publisher: Publisher,
    mut stop: watch::Receiver<bool>,
) -> InputEnd {
    let src = match parse(source) {
        Ok(s) => s,
        Err(e) => return InputEnd::Failed(e),
    };
    let sock = match open(&src).await {
        Ok(s) => s,
        Err(e) => return InputEnd::Failed(e),
    };
    tracing::info!(
        kind = "STRM",
        stream,
        "TS over UDP: listening on {}:{}{}",
        src.host,
        src.port,
        if src.interfaces.is_empty() {
            String::new()
        } else {
            format!(" ({})", src.interfaces.join(", "))
        }
    );
    let mut feed = TsFeed::new(stream, "TS over UDP", publisher);
    let mut buf = vec![0u8; DATAGRAM];
    let mut strays = 0u64;
    loop {
        let n = tokio::select! {
            _ = super::stopped(&mut stop) => return InputEnd::Stopped,
            got = sock.recv(&mut buf) => match got {
                Ok(n) => n,
                Err(e) => return InputEnd::Failed(format!("receiving: {e}")),
            },
        };
        let Some(ts) = buf.get(..n).and_then(ts_payload) else {
            strays += 1;
            if strays.is_power_of_two() {
                tracing::warn!(kind = "WARN", stream, "TS over UDP: {strays} datagram(s) that are neither TS nor RTP with TS, ignored");
            }
            continue;
        };
        if feed.write(ts).is_err() {
            return InputEnd::Finished("the stream took another input".into());
        }
    }
}

#[cfg(test)]
mod tests;
