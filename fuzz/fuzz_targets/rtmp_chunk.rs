//! RTMP chunk stream after the handshake, as a publisher or player sends it: the chunk reader
//! fed in pieces of varying size, Set Chunk Size and Abort applied as the connection does, and
//! each message given to the parser of its type (control, AMF0 command and data, aggregate,
//! audio and video through the FLV depacketizer).
#![no_main]

use bytes::BytesMut;
use eddy::media::amf0;
use eddy::media::flv::FlvDepacketizer;
use eddy::protocols::rtmp::chunk::{ChunkReader, RtmpMessage};
use eddy::protocols::rtmp::message::{self as msg, Control};
use libfuzzer_sys::fuzz_target;

fn on_media(dep: &mut FlvDepacketizer, msg_type: u8, ts: u32, body: &bytes::Bytes) {
    let out = match msg_type {
        msg::VIDEO => dep.video(i64::from(ts), body),
        msg::AUDIO => dep.audio(i64::from(ts), body),
        _ => return,
    };
    if let Some(packet) = out.packet {
        let track = if msg_type == msg::VIDEO {
            dep.video_track()
        } else {
            dep.audio_track()
        };
        if let Some(track) = track {
            // What a viewer of the stream gets: the packet as an FLV tag again.
            let _ = eddy::media::flv::packet_tag_parts(track, &packet);
        }
    }
}

fn on_message(reader: &mut ChunkReader, dep: &mut FlvDepacketizer, m: &RtmpMessage) -> bool {
    match m.msg_type {
        msg::SET_CHUNK_SIZE..=msg::SET_PEER_BANDWIDTH => {
            match msg::parse_control(m.msg_type, &m.payload) {
                Ok(Control::SetChunkSize(n)) => return reader.set_chunk_size(n).is_ok(),
                Ok(Control::Abort(csid)) => reader.abort(csid),
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        msg::COMMAND_AMF0 | msg::COMMAND_AMF3 => {
            if let Ok(c) = msg::parse_command(m.msg_type, &m.payload) {
                // What we send back goes through the encoder: it must decode again.
                let encoded = c.encode();
                let again =
                    msg::parse_command(msg::COMMAND_AMF0, &encoded).expect("re-encoded command");
                assert_eq!(again.name, c.name);
            }
        }
        msg::DATA_AMF0 | msg::DATA_AMF3 => {
            if let Ok(values) = msg::parse_data(m.msg_type, &m.payload) {
                dep.metadata(&values);
                let encoded = amf0::encode_all(&values);
                assert_eq!(
                    encoded.len(),
                    values.iter().map(amf0::encoded_len).sum::<usize>()
                );
                let again = amf0::decode_all(&encoded).expect("re-encoded data");
                assert_eq!(again.len(), values.len());
            }
        }
        msg::AGGREGATE => {
            if let Ok(parts) = msg::aggregate_parts(&m.payload) {
                for (t, ts, body) in parts {
                    on_media(dep, t, ts, &body);
                }
            }
        }
        _ => on_media(dep, m.msg_type, m.timestamp, &m.payload),
    }
    true
}

fuzz_target!(|data: &[u8]| {
    let mut reader = ChunkReader::new();
    let mut dep = FlvDepacketizer::new();
    let mut buf = BytesMut::new();
    for piece in eddy_fuzz::pieces(data) {
        buf.extend_from_slice(piece);
        loop {
            match reader.read_message(&mut buf) {
                Ok(Some(m)) => {
                    if !on_message(&mut reader, &mut dep, &m) {
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => return, // the connection closes
            }
        }
    }
});
