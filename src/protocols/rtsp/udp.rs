//! RTP over UDP: a pair of sockets per media (RTP on an even port, RTCP on the next one, as RFC
//! 3550 11 asks), bound on the address the RTSP connection came in on.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::UdpSocket;

/// Attempts at finding an even port with a free odd neighbour before taking any two.
const TRIES: usize = 16;

/// One media's sockets.
#[derive(Debug, Clone)]
pub struct UdpPair {
    pub rtp: Arc<UdpSocket>,
    pub rtcp: Arc<UdpSocket>,
}

impl UdpPair {
    /// Binds a pair on `ip`.
    pub async fn bind(ip: IpAddr) -> io::Result<UdpPair> {
        for _ in 0..TRIES {
            let rtp = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
            let port = rtp.local_addr()?.port();
            if port % 2 != 0 || port == u16::MAX {
                continue;
            }
            if let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(ip, port + 1)).await {
                return Ok(UdpPair {
                    rtp: Arc::new(rtp),
                    rtcp: Arc::new(rtcp),
                });
            }
        }
        let rtp = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let rtcp = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        Ok(UdpPair {
            rtp: Arc::new(rtp),
            rtcp: Arc::new(rtcp),
        })
    }

    /// The local ports, `(rtp, rtcp)`.
    pub fn ports(&self) -> (u16, u16) {
        let port = |s: &UdpSocket| s.local_addr().map(|a| a.port()).unwrap_or(0);
        (port(&self.rtp), port(&self.rtcp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pairs_are_even_and_odd_neighbours_when_they_can_be() {
        let pair = UdpPair::bind("127.0.0.1".parse().unwrap()).await.unwrap();
        let (a, b) = pair.ports();
        assert!(a != 0 && b != 0 && a != b);
        if b == a + 1 {
            assert_eq!(a % 2, 0);
        }
    }
}
