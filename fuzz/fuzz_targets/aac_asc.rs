//! AAC configuration: AudioSpecificConfig (RTMP/FLV sequence headers, MP4, SDP `config=`),
//! ADTS headers, and LATM/LOAS (TS stream type 0x11, RTP MP4A-LATM): StreamMuxConfig,
//! AudioMuxElement and PayloadMux; plus the on-demand ADTS file index.
//!
//! Byte 0 picks the parser (mod 6); the rest is its input.
#![no_main]

use std::io::Cursor;

use bytes::Bytes;
use eddy::media::ts::latm;
use eddy::media::{aac, vod};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 6 {
        0 => {
            if let Ok(asc) = aac::parse_asc(rest) {
                let _ = aac::track_from_asc(Bytes::copy_from_slice(rest));
                if let Ok(header) = aac::adts_header(&asc, rest.len() % 8000) {
                    // What we write, we read back.
                    let mut frame = header.to_vec();
                    frame.resize(7 + rest.len() % 8000, 0);
                    let back = aac::parse_adts(&frame).expect("our ADTS header parses");
                    assert_eq!(back.frame_len, frame.len());
                }
            }
        }
        1 => {
            if let Ok(h) = aac::parse_adts(rest) {
                let asc = h.audio_specific_config();
                aac::parse_asc(&asc).expect("ADTS gives a valid AudioSpecificConfig");
            }
        }
        2 => {
            if let Ok(cfg) = latm::parse_stream_mux_config(rest) {
                let _ = aac::parse_asc(&cfg.asc);
                // The same configuration, out of band, for a payload made of the input.
                let _ = latm::parse_payload_mux(rest, &cfg);
            }
        }
        3 => {
            // A run of LOAS frames, as a TS PES carries them.
            let mut known = None;
            let mut at = rest;
            while !at.is_empty() {
                match latm::parse_loas_frame(at, known.as_ref()) {
                    Ok((frame, tail)) => {
                        if let Some(frame) = frame {
                            known = Some(frame.config);
                        }
                        if tail.len() >= at.len() {
                            panic!("parse_loas_frame made no progress");
                        }
                        at = tail;
                    }
                    Err(_) => break,
                }
            }
        }
        4 => {
            let _ = latm::parse_audio_mux_element(rest, None);
        }
        _ => {
            let len = rest.len() as u64;
            if let Ok(index) = vod::scan(vod::Container::Adts, &mut Cursor::new(rest), len) {
                let file = Bytes::copy_from_slice(rest);
                for (i, e) in index.entries.iter().enumerate() {
                    let start = e.pos as usize;
                    let raw = file
                        .get(start..start + e.raw_len as usize)
                        .expect("entry within the file");
                    let _ = vod::packet(&index, i, file.slice_ref(raw));
                }
            }
        }
    }
});
