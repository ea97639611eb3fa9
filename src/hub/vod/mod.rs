//! On-demand files, the hub's side: opening a file's index and feeding each viewer from disk.
//! Plain tokio and `std::fs`; what a file holds is [`crate::media::vod`]'s business.
//!
//! ```text
//!   stream source /films/a.mp4 ──file::open──▶ VodFile { path, index }     (once per load)
//!        a.mp4.eddyidx beside it (or in the cache folder) when its stamp matches, else scan
//!   viewer (?start=10000) ──feed::play──▶ its own LiveBuffer ◀── feeder task: index.seek(10 s),
//!        then one read per run of nearby entries, a few seconds / MB ahead of the viewer
//! ```
//!
//! - [`mod@file`]: [`file::open`] finds or builds the index (on a blocking thread), stores a new one
//!   beside the file or in the cache folder ([`place`]), and logs which and how long it took.
//! - [`feed`]: [`feed::play`] gives a viewer a reader of a private on-demand
//!   [`LiveBuffer`](crate::hub::buffer::LiveBuffer) and spawns the task that fills it, with
//!   backpressure: it stays at most [`feed::READ_AHEAD_MS`] and [`feed::READ_AHEAD_BYTES`]
//!   ahead of what the viewer took, and closes the buffer at the end of the file (or range).
//!
//! - [`progressive`]: the progressive MP4 of a file (its layouts, kept with the [`VodFile`]) and
//!   the bytes of any range of it, for `/STREAM.mp4` with HTTP Range requests.
//!
//! A stream is on demand when its source is an absolute file path ([`file_source`]), or a folder
//! (ending in `/`) whose files play as `stream+filename` ([`source_file`]).

pub mod body;
pub mod feed;
pub mod file;
pub mod place;
pub mod playlist;
pub mod progressive;
mod seekbuf;
pub mod segments;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::buffer::{Counters, Reader};
use super::{OnDrop, PlayRange, Subscription};

pub use feed::play;
pub use file::{open, OpenError, VodFile};

/// A viewer's hold on `file`: its own reader of `range`, fed until the subscription is dropped
/// (which stops the feeder and runs `release`). Byte counts go to `counters`, the stream's.
pub fn subscribe(
    file: Arc<VodFile>,
    range: PlayRange,
    counters: Arc<Counters>,
    release: OnDrop,
) -> Subscription {
    let (reader, stop) = play(file.clone(), range, counters.clone());
    Subscription {
        reader,
        playing: Some(Playing {
            file,
            counters,
            feeder: stop,
        }),
        _release: release,
    }
}

/// What an on-demand subscription plays: the file, the stream's counters, and what stops the
/// current feeder when dropped.
pub struct Playing {
    file: Arc<VodFile>,
    counters: Arc<Counters>,
    feeder: OnDrop,
}

impl Playing {
    /// The file, for an output that reads it itself; the feeder stops (the reader gets
    /// nothing more).
    pub fn stop_feeding(&mut self) -> Arc<VodFile> {
        self.feeder = OnDrop::new(|| {});
        self.file.clone()
    }

    /// A fresh reader of `range`; the previous feeder stops.
    pub fn restart(&mut self, range: PlayRange) -> Reader {
        let (reader, stop) = play(self.file.clone(), range, self.counters.clone());
        self.feeder = stop;
        reader
    }
}

/// The file an on-demand source names: an absolute path that is not a folder (`/films/a.mp4`).
/// An HLS playlist (`.m3u8`, `.m3u`) is one too: played on demand when it is complete on disk,
/// else followed by the HLS input ([`playlist`]).
pub fn file_source(source: &str) -> Option<PathBuf> {
    let path = Path::new(source);
    (path.is_absolute() && !source.ends_with('/')).then(|| path.to_path_buf())
}

/// Whether a source is a folder of files (manual §3.3.6.1: an absolute path ending in `/`).
pub fn folder_source(source: &str) -> bool {
    source.starts_with('/') && source.ends_with('/')
}

/// Whether a stream with this source plays files (a file or a folder): it starts when asked
/// about, with nothing to wait for.
pub fn on_demand(source: &str) -> bool {
    file_source(source).is_some() || folder_source(source)
}

/// The file stream `name` plays from `source`: the file itself, or for a folder source
/// (`/films/`) the file its wildcard part names (`vod+a.mp4` plays `/films/a.mp4`). `Ok(None)`:
/// the source is not a file. A folder's stream without a file name, or with a name that could
/// leave the folder (`/`, `..`, a NUL; so no subfolders either), is refused before any file
/// system call.
pub fn source_file(source: &str, name: &str) -> Result<Option<PathBuf>, String> {
    if !folder_source(source) {
        return Ok(file_source(source));
    }
    let Some(file) = crate::stream_name::wildcard_part(name) else {
        return Err(format!(
            "{source} is a folder: its files play as {name}+FILENAME"
        ));
    };
    if file.is_empty() || file.contains(['/', '\0']) || file.contains("..") {
        return Err(format!(
            "{file:?} is not a file name of the folder {source} (no /, .. or NUL; subfolders are not served)"
        ));
    }
    Ok(Some(Path::new(source).join(file)))
}
