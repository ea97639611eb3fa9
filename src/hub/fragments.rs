//! The fragment index of a live buffer: where segmented outputs (HLS, DASH/CMAF) cut.
//!
//! A fragment runs from one start point (a video keyframe, or an audio packet when there is no
//! video) to a later one at least `segmentsize` ms on (manual §3.3.1, facts §11.2). Fragments
//! are numbered in order for a stream's whole life, so a playlist's media sequence only grows.
//! The fragment being filled is not listed until the next one starts. Each fragment caches the
//! segments built from it ([`Fragment::cache`]), so every viewer gets the same bytes, built once.

use std::collections::VecDeque;
use std::sync::Arc;

use super::cache::FormatCache;

/// One finished fragment.
#[derive(Debug)]
pub struct Fragment {
    /// Counts from 0 over the stream's life.
    pub number: u64,
    /// First packet (a start point) and one past the last.
    pub first_seq: u64,
    pub end_seq: u64,
    /// Decode time of the first packet, and of the next fragment's first packet.
    pub start_ms: i64,
    pub end_ms: i64,
    /// The first fragment after a publisher came back (HLS `EXT-X-DISCONTINUITY`).
    pub discontinuity: bool,
    /// How many discontinuities came before this fragment (HLS discontinuity sequence).
    pub discontinuity_seq: u64,
    /// The segments built from it (one per segmented format), by the first viewer asking.
    pub cache: FormatCache,
}

impl Fragment {
    pub fn duration_ms(&self) -> i64 {
        self.end_ms - self.start_ms
    }
}

#[derive(Debug)]
struct Open {
    first_seq: u64,
    start_ms: i64,
    discontinuity: bool,
}

/// The fragments of one buffer.
#[derive(Debug, Default)]
pub struct FragmentIndex {
    done: VecDeque<Arc<Fragment>>,
    open: Option<Open>,
    next_number: u64,
    discontinuities: u64,
    /// Set by a resume: the next fragment starts a discontinuity.
    pending_discontinuity: bool,
}

impl FragmentIndex {
    /// A start point at `seq`/`time` arrived.
    pub fn on_start_point(&mut self, seq: u64, time: i64, segment_ms: i64) {
        match &self.open {
            Some(open) if time - open.start_ms < segment_ms => {}
            Some(_) => {
                self.close(seq, time);
                self.open_at(seq, time);
            }
            None => self.open_at(seq, time),
        }
    }

    fn open_at(&mut self, seq: u64, time: i64) {
        let discontinuity = std::mem::take(&mut self.pending_discontinuity);
        if discontinuity {
            self.discontinuities += 1;
        }
        self.open = Some(Open {
            first_seq: seq,
            start_ms: time,
            discontinuity,
        });
    }

    fn close(&mut self, end_seq: u64, end_ms: i64) {
        let Some(open) = self.open.take() else { return };
        if end_seq <= open.first_seq || end_ms <= open.start_ms {
            return;
        }
        self.done.push_back(Arc::new(Fragment {
            number: self.next_number,
            first_seq: open.first_seq,
            end_seq,
            start_ms: open.start_ms,
            end_ms,
            discontinuity: open.discontinuity,
            discontinuity_seq: self.discontinuities - u64::from(open.discontinuity),
            cache: FormatCache::default(),
        }));
        self.next_number += 1;
    }

    /// A new publisher starts. With `resume` the open fragment is closed at the current end and
    /// the next one is marked as a discontinuity; without it, everything is forgotten (numbers
    /// keep counting).
    pub fn on_new_publisher(&mut self, resume: bool, end_seq: u64, last_ms: i64) {
        if resume {
            self.close(end_seq, last_ms + 1);
            self.pending_discontinuity = true;
        } else {
            self.done.clear();
            self.open = None;
            self.pending_discontinuity = false;
        }
    }

    /// Packets before `base_seq` were dropped: so are fragments that started before it.
    pub fn trim(&mut self, base_seq: u64) {
        while self.done.front().is_some_and(|f| f.first_seq < base_seq) {
            self.done.pop_front();
        }
        if self.open.as_ref().is_some_and(|o| o.first_seq < base_seq) {
            self.open = None;
        }
    }

    /// The finished fragments, oldest first.
    pub fn list(&self) -> Vec<Arc<Fragment>> {
        self.done.iter().cloned().collect()
    }

    /// The finished fragment starting at `start_ms`.
    pub fn find(&self, start_ms: i64) -> Option<Arc<Fragment>> {
        self.done.iter().find(|f| f.start_ms == start_ms).cloned()
    }

    pub fn len(&self) -> usize {
        self.done.len()
    }

    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_start_points_after_the_segment_size() {
        let mut idx = FragmentIndex::default();
        // A keyframe every second, 25 packets apart, segment size 1900 ms.
        for k in 0..10u64 {
            idx.on_start_point(k * 25, (k * 1000) as i64, 1900);
        }
        let list = idx.list();
        assert_eq!(list.len(), 4);
        assert_eq!(
            (
                list[0].start_ms,
                list[0].end_ms,
                list[0].first_seq,
                list[0].end_seq
            ),
            (0, 2000, 0, 50)
        );
        assert_eq!(list[3].number, 3);
        assert_eq!(idx.find(2000).map(|f| f.number), Some(1));
        idx.trim(60);
        assert_eq!(idx.list().first().map(|f| f.start_ms), Some(4000));
    }

    #[test]
    fn resume_marks_a_discontinuity() {
        let mut idx = FragmentIndex::default();
        idx.on_start_point(0, 0, 1000);
        idx.on_start_point(30, 1200, 1000);
        idx.on_new_publisher(true, 50, 2000);
        idx.on_start_point(50, 2001, 1000);
        idx.on_start_point(80, 3200, 1000);
        let list = idx.list();
        assert_eq!(list.len(), 3);
        assert!(!list[1].discontinuity && list[2].discontinuity);
        assert_eq!(
            (list[1].discontinuity_seq, list[2].discontinuity_seq),
            (0, 0)
        );
        assert_eq!(list[1].end_ms, 2001);
        idx.on_new_publisher(false, 90, 3300);
        assert!(idx.is_empty());
        idx.on_start_point(90, 0, 1000);
        idx.on_start_point(100, 1000, 1000);
        assert_eq!(idx.list()[0].number, 3, "numbers keep growing");
    }
}
