//! One index from several: the pieces of a finished HLS playlist (the runs of segments between
//! discontinuities, and the renditions of a master playlist), each scanned on its own, made into
//! the index of the whole.
//!
//! - A rendition's runs play one after another: run k+1's times are moved to start where run k
//!   ended (a discontinuity resets timestamps; without one they already follow on, and the move
//!   is 0 when they do).
//! - Every run of a rendition carries the same tracks as its first (same count, codecs and
//!   source ids in order); a run that does not is refused, not guessed at.
//! - With more than one rendition, rendition `n`'s track `id` becomes `n × 100 + id`, the ids
//!   the live HLS input gives too, so a player sees the same tracks either way.
//! - Each piece's positions are moved by where its bytes start in the joined body.

use super::{finish, Container, Index, VodError};

/// An index of `len` bytes starting at `at` of the body, belonging to `rendition`.
#[derive(Debug, Clone)]
pub struct Piece {
    pub index: Index,
    pub at: u64,
    pub rendition: u32,
}

/// The index of the whole body. Pieces come in body order, a rendition's runs in play order.
pub fn join(pieces: Vec<Piece>) -> Result<Index, VodError> {
    let Some(first) = pieces.first() else {
        return Err(VodError::NoTracks("an empty playlist".into()));
    };
    let container = first.index.container;
    let many = pieces.iter().any(|p| p.rendition != first.rendition);
    let mut out = Index {
        container,
        tracks: Vec::new(),
        source_ids: Vec::new(),
        entries: Vec::new(),
        skipped: Vec::new(),
    };
    // Per rendition: its first run's index (tracks, source ids) and where it has got to, ms.
    let mut seen: Vec<(u32, Index, i64)> = Vec::new();
    for piece in pieces {
        let ix = piece.index;
        if ix.container != container {
            return Err(mixed(container, ix.container));
        }
        let id_of = |id: u32| {
            if many {
                piece.rendition * 100 + id
            } else {
                id
            }
        };
        let start = ix.entries.iter().map(|e| e.time).min().unwrap_or(0);
        let shift = match seen.iter_mut().find(|(r, _, _)| *r == piece.rendition) {
            Some((_, head, end)) => {
                if !same_tracks(head, &ix) {
                    return Err(VodError::malformed(
                        container,
                        format!(
                            "segments after a discontinuity carry other tracks ({} instead of {})",
                            describe(&ix),
                            describe(head)
                        ),
                    ));
                }
                let shift = *end - start;
                *end += ix.duration_ms() - start;
                shift
            }
            None => {
                for (t, &source) in ix.tracks.iter().zip(&ix.source_ids) {
                    let mut t = t.clone();
                    t.id = id_of(t.id);
                    out.tracks.push(t);
                    out.source_ids.push(source);
                }
                let end = ix.duration_ms();
                seen.push((piece.rendition, ix.clone(), end));
                0
            }
        };
        // Runs of a rendition use its first run's ids (tracks are matched in order).
        let head = seen
            .iter()
            .find(|(r, _, _)| *r == piece.rendition)
            .map(|(_, h, _)| h);
        for e in &ix.entries {
            let slot = ix.tracks.iter().position(|t| t.id == e.track);
            let Some(id) = slot.and_then(|s| head?.tracks.get(s)).map(|t| t.id) else {
                continue;
            };
            let mut e = *e;
            e.track = id_of(id);
            e.time += shift;
            e.pos += piece.at;
            out.entries.push(e);
        }
        for s in ix.skipped {
            if !out.skipped.contains(&s) {
                out.skipped.push(s);
            }
        }
    }
    finish(&mut out);
    Ok(out)
}

fn mixed(a: Container, b: Container) -> VodError {
    VodError::Unrecognised(format!(
        "a playlist mixing {} and {} segments",
        a.input_name(),
        b.input_name()
    ))
}

fn same_tracks(a: &Index, b: &Index) -> bool {
    a.tracks.len() == b.tracks.len()
        && a.source_ids == b.source_ids
        && a.tracks
            .iter()
            .zip(&b.tracks)
            .all(|(x, y)| x.codec == y.codec)
}

fn describe(ix: &Index) -> String {
    let names: Vec<&str> = ix
        .tracks
        .iter()
        .map(|t| t.codec.map_or("?", |c| c.mist_name()))
        .collect();
    names.join("+")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::vod::IndexEntry;
    use crate::media::{Codec, Track};

    fn run(times: &[i64], pid: u32, codec: Codec) -> Index {
        let track = Track {
            id: 1,
            codec: Some(codec),
            ..Track::default()
        };
        let entries = times
            .iter()
            .enumerate()
            .map(|(i, &time)| IndexEntry {
                track: 1,
                time,
                offset: 0,
                keyframe: i == 0,
                pos: i as u64 * 10,
                raw_len: 10,
                size: 8,
            })
            .collect();
        let mut ix = Index {
            container: Container::Ts,
            tracks: vec![track],
            source_ids: vec![pid],
            entries,
            skipped: vec![],
        };
        finish(&mut ix);
        ix
    }

    #[test]
    fn a_run_after_a_discontinuity_follows_the_one_before() {
        let a = run(&[0, 40, 80], 256, Codec::H264);
        // Timestamps reset after the discontinuity.
        let b = run(&[5_000, 5_040], 256, Codec::H264);
        let joined = join(vec![
            Piece {
                index: a,
                at: 0,
                rendition: 0,
            },
            Piece {
                index: b,
                at: 1_000,
                rendition: 0,
            },
        ])
        .expect("join");
        let times: Vec<i64> = joined.entries.iter().map(|e| e.time).collect();
        assert_eq!(times, [0, 40, 80, 120, 160]);
        let pos: Vec<u64> = joined.entries.iter().map(|e| e.pos).collect();
        assert_eq!(pos, [0, 10, 20, 1_000, 1_010]);
        assert_eq!(joined.tracks.len(), 1);
        assert_eq!(joined.tracks[0].id, 1);
        assert_eq!(joined.duration_ms(), 200);
    }

    #[test]
    fn renditions_keep_their_own_tracks_under_their_own_ids() {
        let a = run(&[0, 40], 256, Codec::H264);
        let b = run(&[0, 40], 256, Codec::H264);
        let joined = join(vec![
            Piece {
                index: a,
                at: 0,
                rendition: 0,
            },
            Piece {
                index: b,
                at: 500,
                rendition: 1,
            },
        ])
        .expect("join");
        let ids: Vec<u32> = joined.tracks.iter().map(|t| t.id).collect();
        assert_eq!(ids, [1, 101]);
        assert_eq!(joined.source_ids, [256, 256]);
        assert_eq!(joined.entries.len(), 4);
        assert!(joined
            .entries
            .iter()
            .any(|e| e.track == 101 && e.pos == 510));
    }

    #[test]
    fn a_run_with_other_tracks_or_another_container_is_refused() {
        let a = run(&[0, 40], 256, Codec::H264);
        let b = run(&[0, 40], 256, Codec::Hevc);
        let piece = |index, at| Piece {
            index,
            at,
            rendition: 0,
        };
        let e = join(vec![piece(a.clone(), 0), piece(b, 100)]).expect_err("other codec");
        assert!(e.to_string().contains("other tracks"), "{e}");
        let mut c = run(&[0, 40], 256, Codec::H264);
        c.container = Container::Mp4;
        let e = join(vec![piece(a, 0), piece(c, 100)]).expect_err("mixed");
        assert!(e.to_string().contains("mixing"), "{e}");
        assert!(join(vec![]).is_err());
    }
}
