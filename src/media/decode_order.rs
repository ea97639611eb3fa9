//! Decode times for video that arrives with presentation times only (RTP: RFC 3550 timestamps
//! are sampling, i.e. presentation, instants). Frames come in decode order; with B-frames their
//! presentation times are not monotonic, while every output (FLV, RTMP, MP4, TS) wants a decode
//! time that never goes back plus a composition offset ≥ 0.
//!
//! The set of presentation times is the set of decode times, sorted. So frame `n` in decode order
//! gets as decode time the `n`-th smallest presentation time, less a fixed delay `D`: it is taken
//! from a window of the next [`WINDOW`] frames' presentation times (the smallest not yet used),
//! which holds those frames back by the window. `D` is the reordering depth, [`WINDOW`] − 1
//! frames, at the frame duration seen in the first window (or the track's frame rate); that keeps
//! `offset = pts − dts ≥ 0` for any stream whose frames are shown at most that many places
//! before their decode position (x264's B-pyramid needs 2). A stream without B-frames comes out
//! with every offset equal to `D`, and decode times `D` earlier, so nothing changes for a
//! player but a constant delay of the window.

use std::collections::{BinaryHeap, VecDeque};

use std::cmp::Reverse;

use super::Packet;

/// Frames held to find decode times.
pub const WINDOW: usize = 4;

/// One video track's frames put in decode time.
#[derive(Debug, Default)]
pub struct DecodeOrder {
    held: VecDeque<Packet>,
    /// Presentation times of held and released frames not yet used as a decode time.
    times: BinaryHeap<Reverse<i64>>,
    /// `D`, ms, once known.
    delay: Option<i64>,
    /// From the track's frame rate, when known (ms per frame).
    frame_ms: Option<i64>,
    last_dts: Option<i64>,
}

impl DecodeOrder {
    /// `fpks`: the track's frames per 1000 s when known (0 otherwise).
    pub fn new(fpks: u32) -> DecodeOrder {
        DecodeOrder {
            frame_ms: (fpks > 0).then(|| (1_000_000 / i64::from(fpks)).max(1)),
            ..DecodeOrder::default()
        }
    }

    /// Takes a frame whose `time` is its presentation time (offset 0); returns the frames now
    /// ready, with decode times and offsets.
    pub fn push(&mut self, packet: Packet) -> Vec<Packet> {
        let pts = packet.time + i64::from(packet.offset);
        self.times.push(Reverse(pts));
        self.held.push_back(packet);
        let mut out = Vec::new();
        while self.held.len() >= WINDOW {
            if let Some(p) = self.release() {
                out.push(p);
            }
        }
        out
    }

    /// The frames still held (the stream ended).
    pub fn flush(&mut self) -> Vec<Packet> {
        let mut out = Vec::new();
        while !self.held.is_empty() {
            if let Some(p) = self.release() {
                out.push(p);
            }
        }
        out
    }

    fn release(&mut self) -> Option<Packet> {
        let delay = *self.delay.get_or_insert_with(|| {
            let frame = self.frame_ms.unwrap_or_else(|| {
                let mut sorted: Vec<i64> = self.times.iter().map(|r| r.0).collect();
                sorted.sort_unstable();
                sorted
                    .windows(2)
                    .map(|w| w[1] - w[0])
                    .filter(|d| *d > 0)
                    .min()
                    .unwrap_or(40)
            });
            frame * (WINDOW as i64 - 1)
        });
        let mut packet = self.held.pop_front()?;
        let pts = packet.time + i64::from(packet.offset);
        let smallest = self.times.pop().map_or(pts, |r| r.0);
        let mut dts = (smallest - delay).min(pts);
        // Never back: a source that jumps back (restarted) loses its offsets for a moment.
        if let Some(last) = self.last_dts {
            dts = dts.max(last + 1);
        }
        self.last_dts = Some(dts);
        packet.time = dts;
        packet.offset = i32::try_from((pts - dts).max(0)).unwrap_or(0);
        Some(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(pts: i64) -> Packet {
        Packet {
            track: 1,
            time: pts,
            offset: 0,
            keyframe: false,
            data: Bytes::new(),
        }
    }

    fn run(pts: &[i64], fpks: u32) -> Vec<(i64, i32)> {
        let mut d = DecodeOrder::new(fpks);
        let mut out = Vec::new();
        for &p in pts {
            out.extend(d.push(frame(p)));
        }
        out.extend(d.flush());
        out.iter().map(|p| (p.time, p.offset)).collect()
    }

    fn check(pts: &[i64], got: &[(i64, i32)]) {
        assert_eq!(got.len(), pts.len());
        for (i, (&p, &(dts, off))) in pts.iter().zip(got).enumerate() {
            assert!(off >= 0, "frame {i}: offset {off}");
            assert_eq!(dts + i64::from(off), p, "frame {i}: presentation kept");
        }
        assert!(got.windows(2).all(|w| w[1].0 > w[0].0), "{got:?}");
    }

    #[test]
    fn b_pyramid_gets_monotonic_decode_times_and_positive_offsets() {
        // Decode order of I P B B (pyramid: B2 before B1 and B3) at 40 ms per frame.
        let pts = [0, 160, 80, 40, 120, 320, 240, 200, 280, 480, 400, 360, 440];
        let got = run(&pts, 0);
        check(&pts, &got);
        let with_rate = run(&pts, 25_000);
        check(&pts, &with_rate);
    }

    #[test]
    fn frames_without_b_frames_keep_a_constant_offset() {
        let pts: Vec<i64> = (0..20).map(|i| i * 40).collect();
        let got = run(&pts, 0);
        check(&pts, &got);
        assert!(got.iter().all(|&(_, off)| off == 120), "{got:?}");
    }

    #[test]
    fn odd_input_never_breaks_the_order() {
        // Jumps back (a restarted source), duplicates, one frame only.
        let pts = [1000, 1040, 0, 0, 40, 5000, 4000];
        let got = run(&pts, 0);
        assert!(got.windows(2).all(|w| w[1].0 > w[0].0), "{got:?}");
        assert!(got.iter().all(|&(_, off)| off >= 0), "{got:?}");
        assert_eq!(run(&[7], 0).len(), 1);
    }
}
