//! MPEG audio frame headers (MP3 over RTMP/FLV, TS, RTP and files): the header parser, the
//! track built from a frame, a walk from frame to frame, and the on-demand MP3 file index.
//!
//! Byte 0: odd indexes the rest as an MP3 file (`vod::scan` over a `Cursor`), even walks it.
#![no_main]

use std::io::Cursor;

use bytes::Bytes;
use eddy::media::{mp3, vod};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 1 {
        let len = rest.len() as u64;
        if let Ok(index) = vod::scan(vod::Container::Mp3, &mut Cursor::new(rest), len) {
            let file = Bytes::copy_from_slice(rest);
            for (i, e) in index.entries.iter().enumerate() {
                let start = e.pos as usize;
                let raw = file
                    .get(start..start + e.raw_len as usize)
                    .expect("entry within the file");
                let _ = vod::packet(&index, i, file.slice_ref(raw));
            }
        }
        return;
    }
    let _ = mp3::track_from_frame(rest);
    let mut at = rest;
    while let Ok(h) = mp3::parse_header(at) {
        assert!(h.frame_len >= 4, "a frame holds at least its header");
        assert!(h.sample_rate > 0 && h.channels > 0);
        at = at.get(h.frame_len..).unwrap_or_default();
    }
});
