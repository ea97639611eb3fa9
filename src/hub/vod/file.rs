//! Opening an on-demand file: its index, from the stored one when it was made from this
//! version of the file (same length and modification time), else scanned from the file on a
//! blocking thread and stored for the next open ([`super::place`]).

use std::collections::BTreeMap;
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::body::Body;
use super::place;
use super::playlist::{self, Reading};
use super::seekbuf::SeekBuf;
use crate::media::vod::store::{self, FileStamp};
use crate::media::vod::{self, Container, Index, VodError};

/// How many first bytes tell the container.
const HEAD: usize = 512;

/// Files that could not be played, with the version that failed (`None`: it did not exist)
/// and why: opening that same version again gives the same answer without a second scan or a
/// second log line (a player polling `json_` of a broken file would repeat both).
static FAILED: Mutex<BTreeMap<PathBuf, (Option<FileStamp>, String)>> = Mutex::new(BTreeMap::new());

/// An opened file: where it is, which version of it, and what it holds.
#[derive(Debug)]
pub struct VodFile {
    /// The file, or the playlist whose segments `body` lays end to end.
    pub path: PathBuf,
    /// The bytes the index points into.
    pub body: Body,
    pub stamp: FileStamp,
    pub index: Index,
    /// Its progressive MP4 layouts, built on demand and kept (bounded).
    pub mp4: super::progressive::Layouts,
    /// Its segments for HLS and DASH, cut once per segment size (see
    /// [`super::segments::fragments`]).
    pub(super) cuts: super::segments::CutCache,
}

impl VodFile {
    pub fn new(path: PathBuf, stamp: FileStamp, index: Index) -> VodFile {
        let body = Body::File(path.clone());
        VodFile::with_body(path, body, stamp, index)
    }

    pub fn with_body(path: PathBuf, body: Body, stamp: FileStamp, index: Index) -> VodFile {
        VodFile {
            path,
            body,
            stamp,
            index,
            mp4: Default::default(),
            cuts: Default::default(),
        }
    }

    /// The file's length in media time, ms.
    pub fn duration_ms(&self) -> i64 {
        self.index.duration_ms()
    }

    /// What a viewer's times are moved by so none is negative (an MP4 with B-frames starts at
    /// a negative decode time, and FLV, RTMP, TS and MP4 timestamps cannot go below 0), ms.
    pub fn shift_ms(&self) -> i64 {
        self.index.entries.first().map_or(0, |e| (-e.time).max(0))
    }

    /// The input name triggers and `json_` use (`MP4`, `FLV`, `TS`, `MP3`, `AAC`; `HLS` for a
    /// playlist).
    pub fn input_name(&self) -> &'static str {
        match self.body {
            Body::File(_) => self.index.container.input_name(),
            Body::Parts(_) => "HLS",
        }
    }
}

/// Where an index came from.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexOrigin {
    /// Read from this stored index.
    Stored(PathBuf),
    /// Scanned from the file; then stored there, or not (and why). `stale` names a stored
    /// index that was made from another version of the file.
    Scanned {
        stored: Result<PathBuf, String>,
        stale: Option<PathBuf>,
    },
}

/// Why a file cannot be played.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// MistServer's words for a missing file.
    #[error("Not found: {0}")]
    NotFound(PathBuf),
    #[error("{path}: {error}")]
    File { path: PathBuf, error: VodError },
    #[error("{0}: the indexing task failed")]
    Task(PathBuf),
    /// The same version of the file failed before, for this reason.
    #[error("{0}")]
    Again(String),
    /// An HLS playlist that is not (yet) complete on disk: the HLS input follows it.
    #[error("{path}: {reason}")]
    Live { path: PathBuf, reason: String },
}

impl OpenError {
    fn file(path: &Path, error: impl Into<VodError>) -> OpenError {
        OpenError::File {
            path: path.to_path_buf(),
            error: error.into(),
        }
    }
}

/// The version of a file an index belongs to.
pub fn stamp_of(meta: &Metadata) -> FileStamp {
    let modified_ns = meta
        .modified()
        .ok()
        .map(|t| match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        })
        .unwrap_or(0);
    FileStamp {
        len: meta.len(),
        modified_ns,
    }
}

/// Opens `path` for stream `stream` on a blocking thread, logging where its index came from
/// and how long that took, or the one line that says why it cannot be played.
pub async fn open(stream: &str, path: &Path) -> Result<Arc<VodFile>, OpenError> {
    let owned = path.to_path_buf();
    let cache = place::cache_dir();
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || open_remembering(&owned, &cache))
        .await
        .unwrap_or_else(|_| Err(OpenError::Task(path.to_path_buf())));
    let took = started.elapsed();
    match result {
        Ok((file, origin)) => {
            log_opened(stream, &file, &origin, took);
            Ok(Arc::new(file))
        }
        Err(e @ OpenError::Live { .. }) => {
            tracing::debug!(stream, "Stream {stream} follows its playlist live: {e}");
            Err(e)
        }
        Err(e @ OpenError::Again(_)) => {
            tracing::debug!(stream, "Stream {stream} still cannot play: {e}");
            Err(e)
        }
        Err(e) => {
            tracing::error!(kind = "FAIL", stream, "Stream {stream} cannot play: {e}");
            Err(e)
        }
    }
}

/// [`open_blocking`], answering [`OpenError::Again`] for a version of the file that failed.
fn open_remembering(path: &Path, cache: &Path) -> Result<(VodFile, IndexOrigin), OpenError> {
    let stamp = std::fs::metadata(path).ok().map(|m| stamp_of(&m));
    let mut failed = FAILED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, why)) = failed.get(path) {
        if *at == stamp {
            return Err(OpenError::Again(why.clone()));
        }
    }
    drop(failed);
    let opened = open_blocking(path, cache);
    failed = FAILED.lock().unwrap_or_else(|p| p.into_inner());
    match &opened {
        Ok(_) | Err(OpenError::Live { .. }) => failed.remove(path),
        Err(e) => failed.insert(path.to_path_buf(), (stamp, e.to_string())),
    };
    opened
}

fn log_opened(stream: &str, file: &VodFile, origin: &IndexOrigin, took: Duration) {
    let ix = &file.index;
    let what = format!(
        "{}, {} track(s), {} packets, {:.3} s",
        ix.container.input_name(),
        ix.tracks.len(),
        ix.entries.len(),
        ix.duration_ms() as f64 / 1000.0
    );
    let path = file.path.display();
    let ms = took.as_secs_f64() * 1000.0;
    match origin {
        IndexOrigin::Stored(at) => tracing::info!(
            kind = "STRM",
            stream,
            "{path} opened with its stored index {} in {ms:.1} ms ({what})",
            at.display()
        ),
        IndexOrigin::Scanned { stored, stale } => {
            let why = match stale {
                Some(old) => format!(" again ({} does not match it)", old.display()),
                None => String::new(),
            };
            let kept = match stored {
                Ok(at) => format!("index stored as {}", at.display()),
                Err(e) => format!("index not stored: {e}"),
            };
            tracing::info!(
                kind = "STRM",
                stream,
                "{path} indexed{why} in {ms:.1} ms ({what}); {kept}"
            );
        }
    }
    if !ix.skipped.is_empty() {
        tracing::warn!(
            kind = "WARN",
            stream,
            "{path}: left out what Eddy cannot carry: {}",
            ix.skipped.join(", ")
        );
    }
}

/// [`open`]'s work: the stored index beside the file or in `cache` when it matches the file,
/// else a scan (stored afterwards).
pub fn open_blocking(path: &Path, cache: &Path) -> Result<(VodFile, IndexOrigin), OpenError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(OpenError::NotFound(path.to_path_buf()))
        }
        Err(e) => return Err(OpenError::file(path, e)),
    };
    if !meta.is_file() {
        let e = VodError::Unrecognised("not a regular file".into());
        return Err(OpenError::file(path, e));
    }
    let (body, stamp, playlist) = if playlist::is_playlist(path) {
        match playlist::read(path).map_err(|e| OpenError::file(path, e))? {
            Reading::Live(reason) => {
                let path = path.to_path_buf();
                return Err(OpenError::Live { path, reason });
            }
            Reading::OnDemand(p) => (p.body.clone(), p.stamp, Some(p)),
        }
    } else {
        (Body::File(path.to_path_buf()), stamp_of(&meta), None)
    };
    let mut stale = None;
    for stored in [place::beside(path), place::in_cache(cache, path)] {
        let Ok(bytes) = std::fs::read(&stored) else {
            continue;
        };
        match store::from_bytes(&bytes, stamp) {
            Ok(index) => {
                let file = VodFile::with_body(path.to_path_buf(), body, stamp, index);
                return Ok((file, IndexOrigin::Stored(stored)));
            }
            Err(e) => {
                tracing::debug!("{}: not used: {e}", stored.display());
                stale = Some(stored);
            }
        }
    }
    let index = match &playlist {
        Some(p) => playlist::scan(p).map_err(|e| OpenError::file(path, e))?,
        None => scan_file(path, stamp.len)?,
    };
    let bytes = store::to_bytes(&index, stamp);
    let stored = if bytes.is_empty() {
        Err("the index has no stored form".to_string())
    } else {
        place::store(path, cache, &bytes)
    };
    let file = VodFile::with_body(path.to_path_buf(), body, stamp, index);
    Ok((file, IndexOrigin::Scanned { stored, stale }))
}

/// Scans a whole file: its container from its first bytes (and extension), then its index.
fn scan_file(path: &Path, len: u64) -> Result<Index, OpenError> {
    let mut file = File::open(path).map_err(|e| OpenError::file(path, e))?;
    let mut head = Vec::with_capacity(HEAD);
    (&mut file)
        .take(HEAD as u64)
        .read_to_end(&mut head)
        .map_err(|e| OpenError::file(path, e))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let container = Container::detect(&head, ext).ok_or_else(|| {
        let e = VodError::Unrecognised(format!(
            "no container Eddy reads starts like this (extension {ext:?})"
        ));
        OpenError::file(path, e)
    })?;
    let mut reader = SeekBuf::new(file, len);
    vod::scan(container, &mut reader, len).map_err(|e| OpenError::file(path, e))
}
