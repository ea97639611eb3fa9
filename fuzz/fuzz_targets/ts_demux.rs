//! The streaming MPEG-TS demuxer (TS over UDP, SRT-less pushes, HLS pulls): input pushed in
//! pieces of varying size, events pulled after each piece, `finish` at the end; the packets
//! that come out are muxed into TS again, as an HLS or `.ts` viewer would get them.
//!
//! Byte 0 (via `pieces`) sets the piece sizes; byte 1 bit 0 makes the demuxer follow PIDs
//! 0x100 (H.264), 0x101 (AAC), 0x102 (MP3) and 0x103 (HEVC) without a PAT/PMT, as for a piece
//! cut out of a file, so PES parsing is reached without valid CRCs.
#![no_main]

use bytes::Bytes;
use eddy::media::ts::{self, TsDemuxer, TsEvent};
use eddy::media::{nal, Codec, Packet, Track};
use libfuzzer_sys::fuzz_target;

fn track(id: u32, codec: Codec) -> Track {
    Track {
        id,
        codec: Some(codec),
        rate: 48000,
        channels: 2,
        init: match codec {
            Codec::Aac => Bytes::from_static(&[0x11, 0x90]),
            _ => Bytes::new(),
        },
        ..Track::default()
    }
}

fn drain(demuxer: &mut TsDemuxer, tracks: &mut Vec<Track>, packets: &mut Vec<Packet>) {
    while let Some(event) = demuxer.pull() {
        match event {
            Ok(TsEvent::Track(t)) => {
                tracks.retain(|old| old.id != t.id);
                tracks.push(t);
            }
            Ok(TsEvent::Packet(p)) => {
                // What the demuxer promises the rest of Eddy (module docs): video as 4-byte
                // length-prefixed NAL units, audio never a keyframe.
                match tracks
                    .iter()
                    .find(|t| t.id == p.track)
                    .and_then(|t| t.codec)
                {
                    Some(Codec::H264 | Codec::Hevc) => {
                        for nal in nal::length_prefixed(&p.data, 4) {
                            nal.expect("demuxed video is length-prefixed");
                        }
                    }
                    Some(_) => assert!(!p.keyframe, "audio packets are not keyframes"),
                    None => {}
                }
                if packets.len() < 64 {
                    packets.push(p);
                }
            }
            Err(_) => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let follow = data.get(1).is_some_and(|b| b & 1 == 1);
    let mut demuxer = TsDemuxer::new();
    let mut tracks = Vec::new();
    if follow {
        let followed = [
            (0x100, 1, Codec::H264),
            (0x101, 2, Codec::Aac),
            (0x102, 3, Codec::Mp3),
            (0x103, 4, Codec::Hevc),
        ];
        for (pid, id, codec) in followed {
            assert!(demuxer.follow(pid, track(id, codec)));
            tracks.push(track(id, codec));
        }
    }
    let mut packets = Vec::new();
    for piece in eddy_fuzz::pieces(data) {
        demuxer.push(piece);
        drain(&mut demuxer, &mut tracks, &mut packets);
    }
    demuxer.finish();
    drain(&mut demuxer, &mut tracks, &mut packets);
    let _ = demuxer.tracks();
    let refs: Vec<&Packet> = packets.iter().collect();
    let _ = ts::segment(&tracks, &refs);
});
