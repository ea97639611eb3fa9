//! DTSC frames (facts §10.2): an 8-byte head, four magic bytes and a big-endian u32 length of
//! what follows, then the body.
//!
//! ```text
//!   "DTSC" len  packed object            the header: tracks and stream metadata
//!   "DTCM" len  packed object            a command: {cmd:"hi"|"play"|"ping"|"ok"|"error"|...}
//!   "DTP2" len  u32 track, u64 time ms,  a packet; len counts the 12 bytes too
//!               packed object {offset?, bpos?, keyframe?, data}
//!   "DTPD" len  packed object            a packet, version 1: {trackid, time, data, ...}
//! ```
//!
//! [`read_frame`] takes frames off the front of a receive buffer, waiting (`Ok(None)`) for a
//! whole one. A head whose magic does not start with `DT` is refused as soon as two bytes are
//! there, and a declared length over [`MAX_FRAME`] as soon as the head is, so a peer cannot make
//! us buffer without bound. A `DT..` magic we do not know is skipped (MistServer may add kinds).
//! Packet data stays a slice of the receive buffer (no copy).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::value::{Value, ValueError, END_MARKER, TYPE_INT, TYPE_OBJECT, TYPE_STRING};

pub const MAGIC_HEADER: [u8; 4] = *b"DTSC";
pub const MAGIC_COMMAND: [u8; 4] = *b"DTCM";
pub const MAGIC_PACKET_V2: [u8; 4] = *b"DTP2";
pub const MAGIC_PACKET_V1: [u8; 4] = *b"DTPD";
/// Largest frame body taken from a peer (a keyframe of 4K video is a few MiB).
pub const MAX_FRAME: usize = 32 * 1024 * 1024;
/// Bytes of a frame's head.
pub const HEAD_LEN: usize = 8;

/// One frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `DTSC`: the stream header.
    Header(Value),
    /// `DTCM`: a command.
    Command(Value),
    /// `DTP2` or `DTPD`: one packet.
    Packet(DataPacket),
    /// A `DT..` frame of a kind we do not know; its body was skipped.
    Unknown([u8; 4]),
}

/// One packet of one track, as DTSC carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPacket {
    pub track: u32,
    /// Decode time, ms.
    pub time: i64,
    /// Composition offset, ms.
    pub offset: i64,
    pub keyframe: bool,
    pub data: Bytes,
}

/// Why bytes are not a DTSC frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("not a DTSC frame (magic {0:02x?})")]
    BadMagic(Vec<u8>),
    #[error("{kind} frame of {size} bytes is over the {MAX_FRAME}-byte limit")]
    TooLarge { kind: String, size: usize },
    #[error("{kind} frame of {size} bytes is too short")]
    TooShort { kind: String, size: usize },
    #[error("{kind} frame: {source}")]
    Value { kind: String, source: ValueError },
    #[error("{kind} frame does not hold an object")]
    NotAnObject { kind: String },
    #[error("{kind} frame has no {member}")]
    Missing { kind: String, member: &'static str },
}

fn kind_name(magic: &[u8]) -> String {
    String::from_utf8_lossy(magic).into_owned()
}

/// Takes the next whole frame off the front of `buf`; `Ok(None)` while more bytes are needed.
/// After an error the buffer is in an unknown place: the connection should end.
pub fn read_frame(buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
    if buf.len() >= 2 && &buf[..2] != b"DT" {
        return Err(FrameError::BadMagic(buf[..buf.len().min(4)].to_vec()));
    }
    if buf.len() < HEAD_LEN {
        return Ok(None);
    }
    let mut magic = [0u8; 4];
    magic.copy_from_slice(&buf[..4]);
    let size = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if size > MAX_FRAME {
        return Err(FrameError::TooLarge {
            kind: kind_name(&magic),
            size,
        });
    }
    if buf.len() < HEAD_LEN + size {
        return Ok(None);
    }
    buf.advance(HEAD_LEN);
    let body = buf.split_to(size).freeze();
    parse_body(magic, body).map(Some)
}

/// How many bytes the frame at the front of `buf` still needs (0 when it is whole or unknown).
pub fn bytes_missing(buf: &[u8]) -> usize {
    if buf.len() < HEAD_LEN {
        return HEAD_LEN - buf.len();
    }
    let size = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    (HEAD_LEN + size.min(MAX_FRAME)).saturating_sub(buf.len())
}

/// Parses one frame's body.
pub fn parse_body(magic: [u8; 4], body: Bytes) -> Result<Frame, FrameError> {
    let kind = || kind_name(&magic);
    let object = |bytes: &Bytes| -> Result<Value, FrameError> {
        let (v, _) = Value::decode(bytes).map_err(|source| FrameError::Value {
            kind: kind(),
            source,
        })?;
        match v {
            Value::Object(_) => Ok(v),
            _ => Err(FrameError::NotAnObject { kind: kind() }),
        }
    };
    match magic {
        MAGIC_HEADER => Ok(Frame::Header(object(&body)?)),
        MAGIC_COMMAND => Ok(Frame::Command(object(&body)?)),
        MAGIC_PACKET_V2 => {
            if body.len() < 12 + 4 {
                return Err(FrameError::TooShort {
                    kind: kind(),
                    size: body.len(),
                });
            }
            let track = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            let mut t = [0u8; 8];
            t.copy_from_slice(&body[4..12]);
            let time = i64::try_from(u64::from_be_bytes(t)).unwrap_or(i64::MAX);
            let v = object(&body.slice(12..))?;
            packet_from(kind(), Some((track, time)), &v).map(Frame::Packet)
        }
        MAGIC_PACKET_V1 => {
            let v = object(&body)?;
            packet_from(kind(), None, &v).map(Frame::Packet)
        }
        other => Ok(Frame::Unknown(other)),
    }
}

/// A packet from its object (and, for `DTP2`, the track and time of its head).
fn packet_from(
    kind: String,
    head: Option<(u32, i64)>,
    v: &Value,
) -> Result<DataPacket, FrameError> {
    let missing = |member| FrameError::Missing {
        kind: kind.clone(),
        member,
    };
    let (track, time) = match head {
        Some(h) => h,
        None => (
            v.get("trackid")
                .and_then(Value::as_int)
                .and_then(|t| u32::try_from(t).ok())
                .ok_or_else(|| missing("trackid"))?,
            v.get("time")
                .and_then(Value::as_int)
                .ok_or_else(|| missing("time"))?,
        ),
    };
    let data = v
        .get("data")
        .and_then(Value::as_bytes)
        .cloned()
        .ok_or_else(|| missing("data"))?;
    Ok(DataPacket {
        track,
        time,
        offset: v.get("offset").and_then(Value::as_int).unwrap_or(0),
        keyframe: v
            .get("keyframe")
            .and_then(Value::as_int)
            .is_some_and(|k| k != 0),
        data,
    })
}

/// A frame of `magic` holding `value`.
fn value_frame(magic: [u8; 4], value: &Value) -> Bytes {
    let size = value.packed_size();
    let mut out = BytesMut::with_capacity(HEAD_LEN + size);
    out.put_slice(&magic);
    out.put_u32(u32::try_from(size).unwrap_or(u32::MAX));
    value.write(&mut out);
    out.freeze()
}

/// A `DTCM` command frame.
pub fn command_frame(value: &Value) -> Bytes {
    value_frame(MAGIC_COMMAND, value)
}

/// A `DTSC` header frame.
pub fn header_frame(value: &Value) -> Bytes {
    value_frame(MAGIC_HEADER, value)
}

/// The bytes of a `DTP2` frame before its data: head, track, time and the members before
/// `data`, in the order MistServer writes them (`offset`, `keyframe`, then `data`). The frame is
/// this, the data, then [`PACKET_TRAILER`], so the data itself is never copied.
pub fn packet_prefix(track: u32, time: i64, offset: i64, keyframe: bool, data_len: usize) -> Bytes {
    let len = 12
        + 1
        + if offset != 0 { 17 } else { 0 }
        + if keyframe { 19 } else { 0 }
        + 11
        + data_len
        + 3;
    let mut out = BytesMut::with_capacity(HEAD_LEN + len - data_len - 3);
    out.put_slice(&MAGIC_PACKET_V2);
    out.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    out.put_u32(track);
    out.put_u64(u64::try_from(time).unwrap_or(0));
    out.put_u8(TYPE_OBJECT);
    if offset != 0 {
        out.put_u16(6);
        out.put_slice(b"offset");
        out.put_u8(TYPE_INT);
        out.put_i64(offset);
    }
    if keyframe {
        out.put_u16(8);
        out.put_slice(b"keyframe");
        out.put_u8(TYPE_INT);
        out.put_i64(1);
    }
    out.put_u16(4);
    out.put_slice(b"data");
    out.put_u8(TYPE_STRING);
    out.put_u32(u32::try_from(data_len).unwrap_or(u32::MAX));
    out.freeze()
}

/// What follows a `DTP2` frame's data: the end of its object.
pub const PACKET_TRAILER: [u8; 3] = END_MARKER;

/// A whole `DTP2` frame in one buffer (tests and small writers; viewers use the pieces).
pub fn packet_frame(p: &DataPacket) -> Bytes {
    let prefix = packet_prefix(p.track, p.time, p.offset, p.keyframe, p.data.len());
    let mut out = BytesMut::with_capacity(prefix.len() + p.data.len() + 3);
    out.put_slice(&prefix);
    out.put_slice(&p.data);
    out.put_slice(&PACKET_TRAILER);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(offset: i64, keyframe: bool) -> DataPacket {
        DataPacket {
            track: 2,
            time: 40_000,
            offset,
            keyframe,
            data: Bytes::from_static(b"\x00\x00\x00\x02\x09\xf0"),
        }
    }

    #[test]
    fn packet_sizes_follow_mistservers_formula() {
        for (offset, key) in [(0, false), (80, false), (0, true), (-40, true)] {
            let p = packet(offset, key);
            let frame = packet_frame(&p);
            // facts §10.2: 24 + 17·offset + 19·keyframe + len + 11 (no bpos).
            let want = 24
                + if offset != 0 { 17 } else { 0 }
                + if key { 19 } else { 0 }
                + p.data.len()
                + 11;
            assert_eq!(frame.len(), want);
            assert_eq!(&frame[..4], b"DTP2");
            let mut buf = BytesMut::from(&frame[..]);
            assert_eq!(read_frame(&mut buf), Ok(Some(Frame::Packet(p))));
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn commands_and_headers_round_trip_in_pieces() {
        let hi = Value::object([("cmd", Value::str("hi")), ("pack_method", Value::Int(2))]);
        let mut stream = command_frame(&hi).to_vec();
        stream.extend_from_slice(&header_frame(&Value::object([("live", Value::Int(1))])));
        stream.extend_from_slice(&packet_frame(&packet(0, true)));
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for byte in stream {
            buf.put_u8(byte);
            if let Some(f) = read_frame(&mut buf).expect("valid") {
                got.push(f);
            }
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], Frame::Command(hi));
        assert!(matches!(&got[1], Frame::Header(h) if h.get("live") == Some(&Value::Int(1))));
        assert!(matches!(&got[2], Frame::Packet(p) if p.keyframe));
    }

    #[test]
    fn version_one_packets_are_read() {
        let v = Value::object([
            ("trackid", Value::Int(1)),
            ("time", Value::Int(1234)),
            ("keyframe", Value::Int(1)),
            ("data", Value::str(&b"abc"[..])),
        ]);
        let mut buf = BytesMut::from(&value_frame(MAGIC_PACKET_V1, &v)[..]);
        let Ok(Some(Frame::Packet(p))) = read_frame(&mut buf) else {
            panic!("a packet");
        };
        assert_eq!((p.track, p.time, p.keyframe), (1, 1234, true));
        assert_eq!(&p.data[..], b"abc");
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        assert!(matches!(read_frame(&mut buf), Err(FrameError::BadMagic(_))));
        // Refused on two bytes, before a whole head is there.
        let mut buf = BytesMut::from(&b"XX"[..]);
        assert!(read_frame(&mut buf).is_err());
        let mut buf = BytesMut::from(&b"DTP2\xff\xff\xff\xff"[..]);
        assert!(matches!(
            read_frame(&mut buf),
            Err(FrameError::TooLarge { .. })
        ));
        let mut buf = BytesMut::from(&b"DTP2\x00\x00\x00\x04abcd"[..]);
        assert!(matches!(
            read_frame(&mut buf),
            Err(FrameError::TooShort { .. })
        ));
        // A length that cuts the object short.
        let mut frame = command_frame(&Value::object([("cmd", Value::str("play"))])).to_vec();
        frame[7] -= 2;
        frame.truncate(frame.len() - 2);
        assert!(matches!(
            read_frame(&mut BytesMut::from(&frame[..])),
            Err(FrameError::Value { .. })
        ));
        // Not an object.
        let mut buf = BytesMut::from(&b"DTCM\x00\x00\x00\x01\x03"[..]);
        assert!(matches!(
            read_frame(&mut buf),
            Err(FrameError::NotAnObject { .. })
        ));
        // A packet without data.
        let mut no_data = BytesMut::new();
        no_data.put_slice(b"DTP2");
        no_data.put_u32(12 + 4);
        no_data.put_u32(1);
        no_data.put_u64(0);
        no_data.put_slice(&[0xE0, 0, 0, 0xEE]);
        assert!(matches!(
            read_frame(&mut no_data),
            Err(FrameError::Missing { member: "data", .. })
        ));
        // Unknown DT kinds are skipped whole.
        let mut buf = BytesMut::from(&b"DTXX\x00\x00\x00\x02ab"[..]);
        assert_eq!(read_frame(&mut buf), Ok(Some(Frame::Unknown(*b"DTXX"))));
        assert!(buf.is_empty());
        // Incomplete is not an error.
        let mut buf = BytesMut::from(&b"DTCM\x00\x00\x01\x00"[..]);
        assert_eq!(read_frame(&mut buf), Ok(None));
        assert_eq!(bytes_missing(&buf), 256);
    }

    #[test]
    fn random_streams_never_panic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..3000 {
            let mut buf = BytesMut::new();
            // Valid heads with random lengths and bodies, and plain noise.
            if round % 2 == 0 {
                let magics = [
                    MAGIC_HEADER,
                    MAGIC_COMMAND,
                    MAGIC_PACKET_V2,
                    MAGIC_PACKET_V1,
                ];
                buf.put_slice(&magics[(next() % 4) as usize]);
                let len = (next() % 80) as u32;
                buf.put_u32(len);
                for i in 0..len {
                    let b = next() as u8;
                    buf.put_u8(if i % 4 == 0 {
                        [0xE0, 0x0A, 1, 2, 0][b as usize % 5]
                    } else {
                        b
                    });
                }
            } else {
                for _ in 0..(next() % 64) {
                    buf.put_u8(next() as u8);
                }
            }
            while let Ok(Some(_)) = read_frame(&mut buf) {}
        }
    }
}
