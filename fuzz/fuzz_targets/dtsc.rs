//! DTSC (MistServer's own stream format, pulled from another server or pushed to us): frames
//! read off a buffer pushed in pieces, header frames through `meta::parse_header`, packets
//! through `meta::to_packet`, and the value codec (decode, encode again, decode the same).
//!
//! Byte 0: odd makes the rest one bare value; even seeds the piece sizes of a frame stream.
#![no_main]

use bytes::{Bytes, BytesMut};
use eddy::media::dtsc::frame::{self, Frame};
use eddy::media::dtsc::meta;
use eddy::media::dtsc::value::Value;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.first().is_some_and(|b| b & 1 == 1) {
        let bytes = Bytes::copy_from_slice(&data[1..]);
        if let Ok((v, used)) = Value::decode(&bytes) {
            assert!(used <= bytes.len());
            let again = v.encode();
            assert_eq!(again.len(), v.packed_size());
            let (back, n) = Value::decode(&again).expect("an encoded value decodes");
            assert_eq!(n, again.len());
            // Encoding sorts and dedups object keys, so compare the encodings.
            assert_eq!(back.encode(), again);
        }
        return;
    }
    let mut buf = BytesMut::new();
    for piece in eddy_fuzz::pieces(data) {
        buf.extend_from_slice(piece);
        let _ = frame::bytes_missing(&buf);
        loop {
            match frame::read_frame(&mut buf) {
                Ok(Some(Frame::Header(v))) => {
                    let _ = meta::parse_header(&v);
                }
                Ok(Some(Frame::Packet(p))) => {
                    let _ = meta::to_packet(p, 1);
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
