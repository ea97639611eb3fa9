//! Segments kept in anonymous in-memory files (`memfd`) and sent with `sendfile(2)`: the kernel
//! hands the file's pages to the socket without first copying them from a buffer of ours, as
//! nginx does with the segment files it writes. Each live segment is copied into its file once,
//! by the viewer that built it; every other viewer's request costs no copy in Eddy.
//!
//! Linux only. Where a file cannot be made (another system, no memfd), a segment is written from
//! memory as before. The file lives as long as its segment is cached (the fragment in the
//! buffer); its pages are the kernel's, outside Eddy's heap.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

/// One segment's bytes in a sealed-off anonymous file.
#[derive(Debug)]
pub struct MemFile {
    #[cfg(target_os = "linux")]
    file: std::fs::File,
    len: u64,
}

impl MemFile {
    /// A file holding `data`, or `None` where memfd is unavailable.
    #[cfg(target_os = "linux")]
    pub fn new(name: &str, data: &[u8]) -> Option<Arc<MemFile>> {
        use std::io::Write;
        let fd = rustix::fs::memfd_create(name, rustix::fs::MemfdFlags::CLOEXEC).ok()?;
        let mut file = std::fs::File::from(fd);
        file.write_all(data).ok()?;
        Some(Arc::new(MemFile {
            file,
            len: data.len() as u64,
        }))
    }

    #[cfg(not(target_os = "linux"))]
    pub fn new(_name: &str, _data: &[u8]) -> Option<Arc<MemFile>> {
        None
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sends the whole file to `sock`; fails with `TimedOut` when the peer takes nothing for
    /// `stall` (the same rule as every other write to a viewer).
    #[cfg(target_os = "linux")]
    pub async fn send(&self, sock: &TcpStream, stall: Duration) -> std::io::Result<u64> {
        use tokio::io::Interest;
        let mut offset = 0u64;
        while offset < self.len {
            let count = usize::try_from(self.len - offset).unwrap_or(usize::MAX);
            let send = sock.async_io(Interest::WRITABLE, || {
                rustix::fs::sendfile(sock, &self.file, Some(&mut offset), count)
                    .map_err(std::io::Error::from)
            });
            let n = tokio::time::timeout(stall, send)
                .await
                .map_err(|_| crate::protocols::write::stalled(stall))??;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
        }
        Ok(self.len)
    }

    #[cfg(not(target_os = "linux"))]
    pub async fn send(&self, _sock: &TcpStream, _stall: Duration) -> std::io::Result<u64> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_file_arrives_whole_through_a_slow_reader() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let file = MemFile::new("test-segment", &data).expect("memfd");
        assert_eq!(file.len(), data.len() as u64);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let reader = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let mut got = Vec::new();
            let mut buf = vec![0u8; 7_000];
            loop {
                // A reader slower than the sender, so sendfile meets a full socket.
                tokio::time::sleep(Duration::from_micros(200)).await;
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return got,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        });
        let (sock, _) = listener.accept().await.expect("accept");
        let sent = file
            .send(&sock, Duration::from_secs(10))
            .await
            .expect("send");
        assert_eq!(sent, data.len() as u64);
        drop(sock);
        assert!(
            reader.await.expect("reader") == data,
            "the bytes arrive in order"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_takes_nothing_times_out() {
        let file = MemFile::new("big", &vec![7u8; 64 << 20]).expect("memfd");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _peer = TcpStream::connect(addr).await.expect("connect");
        let (sock, _) = listener.accept().await.expect("accept");
        let err = file
            .send(&sock, Duration::from_secs(30))
            .await
            .expect_err("times out");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }
}
