//! AC-3 in MPEG-TS: our muxer's PMT (0x81 with the `AC-3` registration) and PES, read back by
//! our demuxer and ffprobe; ffmpeg's AC-3 TS and a DVB-style 0x06 + AC-3_descriptor PMT read
//! by our demuxer.

use super::super::super::ac3;
use super::super::super::testutil::{encode_ac3, load_ac3 as ac3_packets};
use super::super::psi::{psi_section, AC3_REGISTRATION};
use super::demuxer_tests::{packets_of, psi_packet};
use super::*;

fn ac3_frames(rate: u32, layout: &str) -> Vec<u8> {
    encode_ac3(rate, layout, 1.0)
}

#[test]
fn ac3_round_trip_and_ffprobe() {
    for (rate, layout, channels) in [(48_000, "5.1", 6), (44_100, "stereo", 2)] {
        let (track, packets) = ac3_packets(&ac3_frames(rate, layout), 3);
        assert_eq!((track.rate, track.channels), (rate, channels));
        let ts = mux(std::slice::from_ref(&track), &packets);
        round_trip(std::slice::from_ref(&track), &packets, &ts);
        let found = demux(&ts);
        assert_eq!(found.streams, vec![(0x100, 0x81)]);
        assert_eq!(found.pes[&0x100].len(), packets.len());
        for (pes, p) in found.pes[&0x100].iter().zip(&packets) {
            assert_eq!(pes.data, p.data);
        }
        // The registration descriptor is in the PMT's ES_info.
        assert!(ts[188..376]
            .windows(AC3_REGISTRATION.len())
            .any(|w| w == AC3_REGISTRATION));

        let path = temp_ts(&format!("ac3-{rate}"), &ts);
        let probe = ffprobe(&path, true);
        ffmpeg_decodes_cleanly(&path);
        std::fs::remove_file(&path).ok();
        let stream = &probe["streams"][0];
        assert_eq!(stream["codec_name"], "ac3");
        assert_eq!(stream["sample_rate"], rate.to_string());
        assert_eq!(stream["channels"], channels);
        let times = probe_times(&probe, 0);
        assert_eq!(times.len(), packets.len());
        for ((pts, _), p) in times.iter().zip(&packets) {
            assert_eq!(*pts, (p.time + DELAY_MS) * 90);
        }
    }
}

/// ffmpeg's own AC-3 TS (H.264 + AC-3): the AC-3 stream comes out one packet per syncframe,
/// with ffprobe's times.
#[test]
fn ffmpeg_ac3_ts_demuxes() {
    let path = std::env::temp_dir().join(format!("eddy-ts-{}-ffac3.ts", std::process::id()));
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=sample_rate=48000"])
        .args(["-t", "1", "-c:v", "libx264", "-c:a", "ac3", "-ac", "2"])
        .args(["-f", "mpegts"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let ts = std::fs::read(&path).unwrap();
    let probe = ffprobe(&path, false);
    std::fs::remove_file(&path).ok();
    let (tracks, packets, errors) = demux_ours(&ts, 4096);
    assert_eq!(errors, []);
    let audio = tracks.iter().find(|t| t.codec == Some(Codec::Ac3)).unwrap();
    assert_eq!((audio.rate, audio.channels), (48_000, 2));
    assert_eq!(audio.codec_string, "ac-3");
    let ours: Vec<&Packet> = packets.iter().filter(|p| p.track == audio.id).collect();
    let index = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .position(|s| s["codec_name"] == "ac3")
        .unwrap() as u64;
    let theirs = probe_times(&probe, index);
    assert_eq!(ours.len(), theirs.len());
    for (p, (pts, _)) in ours.iter().zip(&theirs) {
        assert_eq!(p.time, pts / 90, "{p:?}");
        assert!(ac3::parse_header(&p.data).is_ok());
    }
}

/// A DVB-style PMT: private data (0x06) with an AC-3_descriptor (0x6A), or with the `AC-3`
/// registration, is AC-3; 0x06 with an E-AC-3 descriptor (0x7A) and a descriptor loop cut
/// short are not.
#[test]
fn private_data_with_ac3_descriptors() {
    let (track, packets) = ac3_packets(&ac3_frames(48_000, "mono"), 1);
    let ts = mux(std::slice::from_ref(&track), &packets);
    for (descriptors, carried) in [
        (&[0x6A, 1, 0x00][..], true),
        (&AC3_REGISTRATION[..], true),
        (&[0x0A, 4, b'e', b'n', b'g', 0, 0x6A, 0][..], true),
        (&[0x7A, 1, 0x00][..], false),
        (&[0x6A, 5, 0x00][..], false),
        (&[][..], false),
    ] {
        let mut body = vec![0xE1, 0x00, 0xF0, 0x00, 0x06, 0xE1, 0x00, 0xF0];
        body.push(descriptors.len() as u8);
        body.extend_from_slice(descriptors);
        let pmt = psi_section(0x02, 1, &body);
        let mut list = packets_of(&ts);
        list[1] = psi_packet(PMT_PID, 0, &pmt);
        let (tracks, got, errors) = demux_ours(&list.concat(), 188);
        if carried {
            assert_eq!(errors, [], "{descriptors:?}");
            assert_eq!(tracks.len(), 1);
            assert_eq!(tracks[0].codec, Some(Codec::Ac3));
            assert_eq!(got.len(), packets.len());
        } else {
            assert!(tracks.is_empty(), "{descriptors:?}");
            assert_eq!(errors.len(), 1, "{errors:?}");
        }
    }
}

/// Damaged syncframes in an AC-3 PES are reported, never a panic; the rest of the stream goes
/// on.
#[test]
fn damaged_ac3_frames() {
    let (track, mut packets) = ac3_packets(&ac3_frames(48_000, "stereo"), 1);
    let mut rng = XorShift(0xAC3);
    for p in packets.iter_mut().skip(3).step_by(4) {
        let mut data = p.data.to_vec();
        let at = (rng.next_u64() % 8) as usize;
        data[at] ^= 0x5A;
        if rng.next_u64() % 2 == 0 {
            data.truncate(at + 1);
        }
        p.data = data.into();
    }
    let ts = mux(std::slice::from_ref(&track), &packets);
    let (tracks, got, errors) = demux_ours(&ts, 1000);
    assert_eq!(tracks[0].codec, Some(Codec::Ac3));
    assert!(!errors.is_empty());
    assert!(got.len() >= packets.len() * 3 / 4 - 1);
    for p in &got {
        assert!(ac3::parse_header(&p.data).is_ok());
    }
}
