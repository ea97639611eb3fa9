//! Track selection for the outputs that carry one video and one audio track (FLV, RTMP): the
//! first track of each kind the viewer's `?video=`/`?audio=` choose ([`TrackSelector`]; by
//! default the first of each), and which sequence headers must go out when the track list
//! changes.

use super::track_select::TrackSelector;
use crate::hub::buffer::Meta;
use crate::media::Track;

/// What an output currently sends.
#[derive(Debug, Default, Clone)]
pub struct AvSelection {
    meta_version: u64,
    started: bool,
    pub video: Option<Track>,
    pub audio: Option<Track>,
    selector: TrackSelector,
}

/// The result of taking a new track list.
#[derive(Debug, Default, PartialEq)]
pub struct SelectionChange {
    /// True the first time: the output writes its header and metadata now.
    pub first: bool,
    /// Tracks whose sequence header must be sent (new, or new init data).
    pub headers: Vec<Track>,
}

impl AvSelection {
    /// A selection following the viewer's choices.
    pub fn new(selector: TrackSelector) -> AvSelection {
        AvSelection {
            selector,
            ..AvSelection::default()
        }
    }

    /// Forgets what was sent (after a seek), keeping the viewer's choices.
    pub fn restart(&mut self) {
        *self = AvSelection::new(std::mem::take(&mut self.selector));
    }

    /// Whether packets of this track-list version need no update first.
    pub fn is_current(&self, meta_version: u64) -> bool {
        self.started && self.meta_version == meta_version
    }

    /// The track-list version this selection follows, once it has taken one.
    pub fn version(&self) -> Option<u64> {
        self.started.then_some(self.meta_version)
    }

    /// Whether the viewer chose nothing (the first track of each kind).
    pub fn is_default_choice(&self) -> bool {
        self.selector.is_default()
    }

    /// Takes a new track list.
    pub fn update(&mut self, meta: &Meta) -> SelectionChange {
        self.meta_version = meta.version;
        let first = !self.started;
        self.started = true;
        let carried: Vec<Track> = meta
            .tracks
            .iter()
            .filter(|t| t.codec.is_some_and(crate::media::flv::carries))
            .cloned()
            .collect();
        let (video, audio) = self.selector.select_one_each(&carried);
        let mut headers = Vec::new();
        for (new, old) in [(video, &mut self.video), (audio, &mut self.audio)] {
            let changed = match (&new, &*old) {
                (Some(n), Some(o)) => n.init != o.init || n.codec != o.codec,
                (Some(_), None) => true,
                _ => false,
            };
            if let (true, Some(t)) = (changed, &new) {
                headers.push(t.clone());
            }
            *old = new;
        }
        SelectionChange { first, headers }
    }

    /// The sent track with this id.
    pub fn track(&self, id: u32) -> Option<&Track> {
        [&self.video, &self.audio]
            .into_iter()
            .flatten()
            .find(|t| t.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Codec;
    use bytes::Bytes;

    fn t(id: u32, codec: Codec, init: &'static [u8]) -> Track {
        Track {
            id,
            codec: Some(codec),
            init: Bytes::from_static(init),
            ..Default::default()
        }
    }

    #[test]
    fn headers_when_tracks_appear_or_change() {
        let mut sel = AvSelection::default();
        let meta = Meta {
            version: 1,
            tracks: vec![t(1, Codec::H264, b"a")],
        };
        let c = sel.update(&meta);
        assert!(c.first && c.headers.len() == 1);
        assert!(sel.is_current(1) && !sel.is_current(2));
        let meta = Meta {
            version: 2,
            tracks: vec![
                t(1, Codec::H264, b"a"),
                t(2, Codec::Aac, b"b"),
                t(3, Codec::Aac, b"c"),
            ],
        };
        let c = sel.update(&meta);
        assert_eq!((c.first, c.headers.len(), c.headers[0].id), (false, 1, 2));
        let meta = Meta {
            version: 3,
            tracks: vec![t(1, Codec::H264, b"new"), t(2, Codec::Aac, b"b")],
        };
        assert_eq!(sel.update(&meta).headers[0].id, 1);
        assert!(sel.track(3).is_none() && sel.track(2).is_some());
        let mut chosen = AvSelection::new(TrackSelector::from_query("audio=3&video=none"));
        chosen.update(&meta);
        assert!(chosen.video.is_none());
        assert_eq!(
            chosen.audio.as_ref().map(|t| t.id),
            None,
            "track 3 left in version 3"
        );
        let meta = Meta {
            version: 4,
            tracks: vec![t(1, Codec::H264, b"a"), t(3, Codec::Aac, b"c")],
        };
        chosen.update(&meta);
        assert_eq!(chosen.audio.as_ref().map(|t| t.id), Some(3));
        chosen.restart();
        assert!(chosen.update(&meta).first);
        assert_eq!(chosen.audio.as_ref().map(|t| t.id), Some(3));
    }
}
