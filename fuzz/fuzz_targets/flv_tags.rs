//! FLV: tag bodies through the depacketizer RTMP ingest uses (legacy and Enhanced RTMP video,
//! audio, onMetaData), and whole files through the tag reader and the on-demand index.
//!
//! Byte 0 picks the mode. Odd: the rest is an FLV file, read by `flv::read_file` into the
//! depacketizer and indexed by `vod::scan` over a `Cursor`, whose entries are then read back.
//! Even: the rest is a list of bodies, each `[kind][len u16 BE][body]` (kind 0 video, 1 audio,
//! 2 script data).
#![no_main]

use std::io::Cursor;

use bytes::Bytes;
use eddy::media::flv::{self, FlvDepacketizer};
use eddy::media::{amf0, vod};
use libfuzzer_sys::fuzz_target;

fn remux(dep: &FlvDepacketizer, out: eddy::media::flv::Depacketized) {
    let Some(packet) = out.packet else { return };
    let track = if packet.track == 1 {
        dep.video_track()
    } else {
        dep.audio_track()
    };
    if let Some(track) = track {
        let _ = flv::packet_tag_parts(track, &packet);
        let _ = flv::sequence_tag(track, 0);
    }
}

fn file(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(tags) = flv::read_file(bytes.clone()) {
        let mut dep = FlvDepacketizer::new();
        for tag in tags {
            let Ok((header, body)) = tag else { break };
            let out = dep.tag(&header, &body);
            remux(&dep, out);
        }
    }
    let len = data.len() as u64;
    if let Ok(index) = vod::scan(vod::Container::Flv, &mut Cursor::new(data), len) {
        for (i, e) in index.entries.iter().enumerate() {
            let start = usize::try_from(e.pos).expect("entry position");
            let end = start + e.raw_len as usize;
            let raw = bytes
                .get(start..end)
                .expect("index entries lie within the file");
            vod::packet(&index, i, bytes.slice_ref(raw)).expect("an indexed packet reads back");
        }
        let _ = index.duration_ms();
    }
}

fn bodies(mut data: &[u8]) {
    let mut dep = FlvDepacketizer::new();
    let mut time = 0i64;
    while let [kind, hi, lo, rest @ ..] = data {
        let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
        let (body, tail) = rest.split_at(n);
        data = tail;
        let body = Bytes::copy_from_slice(body);
        time += 20;
        match kind % 3 {
            0 => {
                let out = dep.video(time, &body);
                remux(&dep, out);
            }
            1 => {
                let out = dep.audio(time, &body);
                remux(&dep, out);
            }
            _ => {
                if let Ok(values) = amf0::decode_all(&body) {
                    dep.metadata(&values);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode & 1 == 1 => file(rest),
        Some((_, rest)) => bodies(rest),
        None => {}
    }
});
