//! The stream triggers a StreamActor fires as its state changes (manual §4.4, facts §5.4,
//! §11.4): STREAM_TRACK_ADD / STREAM_TRACK_REMOVE (stream, track id), STREAM_BUFFER (stream,
//! `FULL`/`DRY`/`RECOVER`/`EMPTY`, health JSON), and at the end STREAM_UNLOAD (stream, input
//! name) and STREAM_END (stream, bytes down, bytes up, viewers, inputs, outputs, viewer seconds).
//! All are fired without waiting (their answers do not change anything here).

use serde_json::{json, Value};

use crate::hub::buffer::LiveBuffer;

/// The buffer state STREAM_BUFFER reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferState {
    /// Not yet full (fewer than three fragments).
    Filling,
    Full,
    Dry,
}

/// The health JSON of STREAM_BUFFER: tracks, their codecs and the buffer length.
pub fn health(buffer: &LiveBuffer, healthy: bool) -> Value {
    let meta = buffer.meta();
    let stats = buffer.stats();
    let mut h = json!({
        "tracks": meta.tracks.iter().map(|t| t.id).collect::<Vec<_>>(),
        "buffer": stats.lastms - stats.firstms,
        "jitter": 0,
    });
    for t in &meta.tracks {
        h[t.id.to_string()] = json!({
            "idx": t.id,
            "id": t.id,
            "codec": t.codec.map(|c| c.mist_name()).unwrap_or("unknown"),
            "width": t.width,
            "height": t.height,
            "fpks": t.fpks,
            "rate": t.rate,
            "channels": t.channels,
        });
    }
    if !healthy {
        h["issues"] = json!("no data from the source");
    }
    h
}

/// Track ids that appeared and disappeared between two lists.
pub fn track_changes(old: &[u32], new: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let added = new.iter().filter(|t| !old.contains(t)).copied().collect();
    let removed = old.iter().filter(|t| !new.contains(t)).copied().collect();
    (added, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes() {
        assert_eq!(track_changes(&[1, 2], &[2, 3]), (vec![3], vec![1]));
        assert_eq!(track_changes(&[], &[]), (vec![], vec![]));
    }
}
