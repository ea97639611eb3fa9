//! Getting playlists and segments: over HTTP with a time-out on every request, or from the
//! file system; a byte range when the playlist names one; a ceiling on what is read.

use std::io::SeekFrom;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::media::m3u8::parse::ByteRange;

/// Longest wait for a connection to the origin.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a whole request may take (a segment of a few seconds downloads far faster).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest playlist read.
pub const MAX_PLAYLIST: usize = 4 << 20;
/// Largest segment (or init section) read.
pub const MAX_SEGMENT: usize = 64 << 20;

/// Fetches by URL or path.
pub struct Fetcher {
    client: Option<reqwest::Client>,
}

impl Fetcher {
    pub fn new() -> Fetcher {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("Eddy/", env!("CARGO_PKG_VERSION")))
            .build()
            .ok();
        Fetcher { client }
    }

    /// The bytes at `uri` (in `range`), at most `max`.
    pub async fn get(
        &self,
        uri: &str,
        range: Option<ByteRange>,
        max: usize,
    ) -> Result<Bytes, String> {
        if uri.starts_with("http://") || uri.starts_with("https://") {
            self.http(uri, range, max).await
        } else {
            file(uri, range, max).await
        }
    }

    async fn http(&self, uri: &str, range: Option<ByteRange>, max: usize) -> Result<Bytes, String> {
        let client = self.client.as_ref().ok_or("no HTTP client")?;
        let mut req = client.get(uri);
        if let Some(r) = range {
            let last = r.offset.saturating_add(r.length).saturating_sub(1);
            req = req.header("Range", format!("bytes={}-{last}", r.offset));
        }
        let mut resp = req.send().await.map_err(|e| describe(uri, &e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("{uri}: HTTP {status}"));
        }
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(format!("{uri}: larger than {max} bytes"));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| describe(uri, &e))? {
            if body.len() + chunk.len() > max {
                return Err(format!("{uri}: larger than {max} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        // A server that ignored the Range header sent the whole resource.
        if let (Some(r), reqwest::StatusCode::OK) = (range, status) {
            let start = usize::try_from(r.offset).unwrap_or(usize::MAX);
            let end = start.saturating_add(usize::try_from(r.length).unwrap_or(usize::MAX));
            return body
                .freeze()
                .get(start..end)
                .map(Bytes::copy_from_slice)
                .ok_or_else(|| format!("{uri}: the byte range is past the end"));
        }
        Ok(body.freeze())
    }
}

fn describe(uri: &str, e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("{uri}: timed out")
    } else if e.is_connect() {
        format!("{uri}: cannot connect")
    } else {
        format!("{uri}: {e}")
    }
}

async fn file(path: &str, range: Option<ByteRange>, max: usize) -> Result<Bytes, String> {
    let mut f = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let (offset, length) = match range {
        Some(r) => (r.offset, r.length),
        None => (0, u64::MAX),
    };
    if length != u64::MAX && length > max as u64 {
        return Err(format!("{path}: the range is larger than {max} bytes"));
    }
    f.seek(SeekFrom::Start(offset))
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let mut buf = Vec::new();
    let limit = length.min(max as u64 + 1);
    f.take(limit)
        .read_to_end(&mut buf)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    if buf.len() > max {
        return Err(format!("{path}: larger than {max} bytes"));
    }
    Ok(Bytes::from(buf))
}
