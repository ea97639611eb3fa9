//! AC-3 in fragmented MP4: the `ac-3` sample entry with `dac3`, read back by ffprobe and
//! ffmpeg.

use super::super::super::ac3;
use super::super::super::testutil::{encode_ac3, load_ac3};
use super::*;

/// The `dac3` payload of an init segment.
fn dac3_of(init: &[u8]) -> Vec<u8> {
    let entry = find(
        init,
        &[
            b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"ac-3",
        ],
    );
    let entry = entry.first().expect("an ac-3 sample entry");
    let dac3 = boxes(init, entry.body + 28, entry.end)
        .into_iter()
        .find(|b| &b.kind == b"dac3")
        .expect("a dac3 box");
    init[dac3.body..dac3.end].to_vec()
}

#[test]
fn ac3_fragments_play() {
    let dir = tempfile::tempdir().unwrap();
    for (rate, layout, channels) in [
        (48_000, "5.1", 6),
        (44_100, "stereo", 2),
        (32_000, "mono", 1),
    ] {
        let (track, packets) = load_ac3(&encode_ac3(rate, layout, 1.0), 1);
        // As from Matroska: no dac3 of its own, one made from rate and channels.
        let bare = Track {
            init: Bytes::new(),
            ..track.clone()
        };
        for track in [track, bare] {
            let all: Vec<&Packet> = packets.iter().collect();
            let (p1, p2) = all.split_at(all.len() / 2);
            let init = init_segment(&[&track]).unwrap();
            let dac3 = dac3_of(&init);
            let parsed = ac3::parse_dac3(&dac3).unwrap();
            assert_eq!((parsed.sample_rate, parsed.channels), (rate, channels));
            if !track.init.is_empty() {
                assert_eq!(dac3, track.init);
            }
            let seg = |n: u32, p: &[&Packet], end_ms: i64| {
                let fragment = FragmentTrack {
                    track: &track,
                    packets: p,
                    end_ms,
                };
                media_segment(n, &[fragment], false).unwrap()
            };
            let seg1 = seg(1, p1, p2[0].time);
            let seg2 = seg(2, p2, -1);
            let path = write_temp(&dir, "ac3.mp4", &[&init, &seg1, &seg2]);
            let json = ffprobe(&path);
            check_probe(
                &json,
                &[Expect {
                    codec: "ac3",
                    size: (u64::from(rate), u64::from(channels)),
                    packets: all.clone(),
                    all_key: true,
                }],
            );
        }
    }
}

#[test]
fn ac3_track_without_a_valid_rate_is_refused() {
    let track = Track {
        id: 1,
        codec: Some(Codec::Ac3),
        rate: 22_050,
        channels: 2,
        ..Track::default()
    };
    assert!(matches!(init_segment(&[&track]), Err(Mp4Error::Invalid(_))));
}
