//! Following one media playlist: which segments are new after a reload, when to reload next
//! (RFC 8216 6.3.4), and whether the origin started over.
//!
//! - The first load of a live playlist starts [`LIVE_START`] segments from its end (the live
//!   edge); a playlist that has already ended (a finished file) starts at its first segment.
//! - After that, every segment whose media sequence number is past the last one taken is new.
//!   A playlist whose numbers went backwards (the newest, or the first listed, is lower than
//!   before: the origin restarted) starts at the live edge
//!   again, its first segment marked as a discontinuity.
//! - The next reload is one target duration later, half of it after a reload that brought
//!   nothing new; after an error, 0.5 s doubled per error in a row up to [`RETRY_MAX`].

use std::collections::VecDeque;
use std::time::Duration;

use crate::media::m3u8::parse::{MediaPlaylist, Segment};

/// Segments from the end a live playlist is joined at.
pub const LIVE_START: usize = 3;
/// Longest wait between two reloads after errors.
pub const RETRY_MAX: Duration = Duration::from_secs(4);
/// Shortest target duration used (a playlist saying 0 is not reloaded in a busy loop).
const MIN_TARGET: Duration = Duration::from_millis(500);

/// What a reload brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update {
    /// Segments queued.
    pub new: usize,
    /// The origin started over (numbers went backwards).
    pub restarted: bool,
}

/// One media playlist being followed.
#[derive(Debug)]
pub struct Follower {
    pub uri: String,
    /// The last media sequence number queued.
    last: Option<u64>,
    /// The first media sequence number of the previous load.
    first: Option<u64>,
    /// Segments to fetch, oldest first.
    pub queue: VecDeque<Segment>,
    pub target: Duration,
    /// The playlist has ended and every segment was queued.
    pub ended: bool,
    /// Whether the first load found an ended playlist (it is then played at its own pace).
    pub paced: bool,
    /// Reload errors in a row.
    pub errors: u32,
}

impl Follower {
    pub fn new(uri: String) -> Follower {
        Follower {
            uri,
            last: None,
            first: None,
            queue: VecDeque::new(),
            target: Duration::from_secs(2),
            ended: false,
            paced: false,
            errors: 0,
        }
    }

    /// Takes in a reloaded playlist.
    pub fn update(&mut self, p: &MediaPlaylist) -> Update {
        self.errors = 0;
        self.target = Duration::from_secs(p.target_duration).max(MIN_TARGET);
        let newest = p.segments.last().map(|s| s.sequence);
        let mut restarted = false;
        let from = match (self.last, newest) {
            (_, None) => p.segments.len(),
            (None, Some(_)) => {
                self.paced = p.ended;
                if p.ended {
                    0
                } else {
                    p.segments.len().saturating_sub(LIVE_START)
                }
            }
            (Some(last), Some(newest))
                if newest < last || self.first.is_some_and(|f| p.media_sequence < f) =>
            {
                restarted = true;
                p.segments.len().saturating_sub(LIVE_START)
            }
            (Some(last), Some(_)) => p.segments.partition_point(|s| s.sequence <= last),
        };
        let before = self.queue.len();
        for (i, s) in p.segments.iter().enumerate().skip(from) {
            let mut s = s.clone();
            s.discontinuity |= restarted && i == from;
            self.last = Some(s.sequence);
            self.queue.push_back(s);
        }
        self.ended = p.ended;
        if !p.segments.is_empty() {
            self.first = Some(p.media_sequence);
        }
        Update {
            new: self.queue.len() - before,
            restarted,
        }
    }

    /// A reload failed: the wait before the next one.
    pub fn failed(&mut self) -> Duration {
        self.errors = self.errors.saturating_add(1);
        Duration::from_millis(500)
            .saturating_mul(1 << self.errors.saturating_sub(1).min(4))
            .min(RETRY_MAX)
    }

    /// The wait before the next reload after one that brought `update`.
    pub fn reload_after(&self, update: Update) -> Duration {
        if update.new > 0 {
            self.target
        } else {
            self.target / 2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::m3u8::parse::{parse, Playlist};

    fn playlist(first: u64, count: u64, ended: bool) -> MediaPlaylist {
        let mut t = format!("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{first}\n");
        for i in first..first + count {
            t.push_str(&format!("#EXTINF:2,\n{i}.ts\n"));
        }
        if ended {
            t.push_str("#EXT-X-ENDLIST\n");
        }
        match parse(&t, "http://h/x.m3u8").unwrap() {
            Playlist::Media(m) => m,
            Playlist::Master(_) => unreachable!(),
        }
    }

    fn taken(f: &mut Follower) -> Vec<u64> {
        f.queue.drain(..).map(|s| s.sequence).collect()
    }

    #[test]
    fn joins_at_the_live_edge_and_takes_each_segment_once() {
        let mut f = Follower::new("http://h/x.m3u8".into());
        let u = f.update(&playlist(10, 6, false));
        assert_eq!(
            u,
            Update {
                new: 3,
                restarted: false
            }
        );
        assert_eq!(taken(&mut f), [13, 14, 15]);
        assert_eq!(f.reload_after(u), Duration::from_secs(2));
        let u = f.update(&playlist(10, 6, false));
        assert_eq!(u.new, 0);
        assert_eq!(f.reload_after(u), Duration::from_secs(1));
        f.update(&playlist(12, 6, false));
        assert_eq!(taken(&mut f), [16, 17]);
        // Fell behind: what is still listed is taken.
        f.update(&playlist(30, 6, true));
        assert_eq!(taken(&mut f), [30, 31, 32, 33, 34, 35]);
        assert!(f.ended && !f.paced);
    }

    #[test]
    fn an_origin_that_starts_over() {
        let mut f = Follower::new("http://h/x.m3u8".into());
        f.update(&playlist(50, 6, false));
        taken(&mut f);
        let u = f.update(&playlist(0, 2, false));
        assert!(u.restarted);
        let q: Vec<_> = f
            .queue
            .iter()
            .map(|s| (s.sequence, s.discontinuity))
            .collect();
        assert_eq!(q, [(0, true), (1, false)]);
        taken(&mut f);
        // Started over again and already past the old numbers: the first listed went down.
        f.update(&playlist(10, 6, false));
        taken(&mut f);
        let u = f.update(&playlist(0, 20, false));
        assert!(u.restarted);
        assert_eq!(taken(&mut f), [17, 18, 19]);
    }

    #[test]
    fn an_ended_playlist_plays_from_its_start() {
        let mut f = Follower::new("/films/x.m3u8".into());
        f.update(&playlist(0, 10, true));
        assert!(f.paced && f.ended);
        assert_eq!(f.queue.len(), 10);
        let empty = playlist(0, 0, false);
        assert_eq!(f.update(&empty).new, 0);
    }

    #[test]
    fn errors_back_off() {
        let mut f = Follower::new("http://h/x.m3u8".into());
        let waits: Vec<_> = (0..6).map(|_| f.failed().as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 4000, 4000]);
    }
}
