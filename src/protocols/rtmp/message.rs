//! RTMP message types, protocol control / user control payloads, command
//! and data message parsing, aggregate message splitting.
//!
//! Reference: Adobe RTMP specification 1.0, section 5.4 (protocol control
//! messages 1, 2, 3, 5, 6), 6.2 and 7.1.7 (user control messages, type 4),
//! 7.1 (message types: 7.1.1 command 20/17, 7.1.2 data 18/15, 7.1.3 shared
//! object 19/16, 7.1.4 audio 8, 7.1.5 video 9, 7.1.6 aggregate 22) and 7.2
//! (NetConnection / NetStream commands).
//!
//! ```text
//!  Set Chunk Size (1) / Abort (2) / Ack (3) / Window Ack Size (5):
//!   +-------------------------------+
//!   | u32 BE value                  |   (Set Chunk Size: high bit must be 0)
//!   +-------------------------------+
//!  Set Peer Bandwidth (6):
//!   +-------------------------------+-------------+
//!   | u32 BE window size            | limit type  |  0 hard, 1 soft, 2 dynamic
//!   +-------------------------------+-------------+
//!  User Control (4):
//!   +---------------+-------------------------------+
//!   | u16 BE event  | event data (usually u32 BE;   |
//!   |               | SetBufferLength: u32 + u32)   |
//!   +---------------+-------------------------------+
//!  Command (20): AMF0 name | AMF0 transaction id | AMF0 object | args...
//!  Command (17): 0x00 | same as type 20
//!  Data (18):    AMF0 values (e.g. "@setDataFrame", "onMetaData", {..})
//!  Data (15):    0x00 | same as type 18
//!  Aggregate (22): sub-message*, each:
//!   +------+----------+-----------+--------+-----------+------+----------+
//!   | type | size (3) | ts (3)    | ts ext | stream id | body | back ptr |
//!   | (1)  | BE       | low 24 BE | (1)    | (3) BE    |(size)| (4) BE   |
//!   +------+----------+-----------+--------+-----------+------+----------+
//! ```

use bytes::{Bytes, BytesMut};

use crate::media::amf0::{self, Amf0Value, AmfError};

pub const SET_CHUNK_SIZE: u8 = 1;
pub const ABORT: u8 = 2;
pub const ACK: u8 = 3;
pub const USER_CONTROL: u8 = 4;
pub const WINDOW_ACK_SIZE: u8 = 5;
pub const SET_PEER_BANDWIDTH: u8 = 6;
pub const AUDIO: u8 = 8;
pub const VIDEO: u8 = 9;
pub const DATA_AMF3: u8 = 15;
pub const SHARED_OBJECT_AMF3: u8 = 16;
pub const COMMAND_AMF3: u8 = 17;
pub const DATA_AMF0: u8 = 18;
pub const SHARED_OBJECT_AMF0: u8 = 19;
pub const COMMAND_AMF0: u8 = 20;
pub const AGGREGATE: u8 = 22;

/// User control event types (spec 7.1.7).
pub const STREAM_BEGIN: u16 = 0;
pub const STREAM_EOF: u16 = 1;
pub const STREAM_DRY: u16 = 2;
pub const SET_BUFFER_LENGTH: u16 = 3;
pub const STREAM_IS_RECORDED: u16 = 4;
pub const PING_REQUEST: u16 = 6;
pub const PING_RESPONSE: u16 = 7;

/// Set Peer Bandwidth limit types (spec 5.4.5).
pub const LIMIT_HARD: u8 = 0;
pub const LIMIT_SOFT: u8 = 1;
pub const LIMIT_DYNAMIC: u8 = 2;

/// Length of the header of one aggregate sub-message.
const AGGREGATE_HEADER_LEN: usize = 11;
const BACK_POINTER_LEN: usize = 4;

/// Message payload errors.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MessageError {
    #[error("message type {msg_type}: payload has {got} bytes, needs at least {needed}")]
    Truncated {
        msg_type: u8,
        needed: usize,
        got: usize,
    },
    #[error("message type {0} is not a protocol/user control message")]
    NotControl(u8),
    #[error("message type {0} is not a command message (expected 17 or 20)")]
    NotCommand(u8),
    #[error("message type {0} is not a data message (expected 15 or 18)")]
    NotData(u8),
    #[error("command message does not start with a command name string")]
    MissingCommandName,
    #[error("AMF0 payload: {0}")]
    Amf(#[from] AmfError),
    #[error(
        "aggregate message: sub-message at offset {offset} needs {needed} bytes, \
         only {available} left"
    )]
    AggregateTruncated {
        offset: usize,
        needed: usize,
        available: usize,
    },
}

/// A parsed protocol control (types 1, 2, 3, 5, 6) or user control (4)
/// message.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    SetChunkSize(u32),
    Abort(u32),
    Ack(u32),
    WindowAckSize(u32),
    SetPeerBandwidth(u32, u8),
    UserControl { event: u16, data: Bytes },
}

fn u32_at(msg_type: u8, p: &[u8], at: usize) -> Result<u32, MessageError> {
    let needed = at.saturating_add(4);
    p.get(at..needed)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_be_bytes)
        .ok_or(MessageError::Truncated {
            msg_type,
            needed,
            got: p.len(),
        })
}

/// Parses a protocol control or user control message. Extra trailing bytes
/// are ignored. The Set Chunk Size value is returned as sent; validate it
/// with `ChunkReader::set_chunk_size`.
pub fn parse_control(msg_type: u8, payload: &[u8]) -> Result<Control, MessageError> {
    Ok(match msg_type {
        SET_CHUNK_SIZE => Control::SetChunkSize(u32_at(msg_type, payload, 0)?),
        ABORT => Control::Abort(u32_at(msg_type, payload, 0)?),
        ACK => Control::Ack(u32_at(msg_type, payload, 0)?),
        WINDOW_ACK_SIZE => Control::WindowAckSize(u32_at(msg_type, payload, 0)?),
        SET_PEER_BANDWIDTH => {
            let size = u32_at(msg_type, payload, 0)?;
            let limit = *payload.get(4).ok_or(MessageError::Truncated {
                msg_type,
                needed: 5,
                got: payload.len(),
            })?;
            Control::SetPeerBandwidth(size, limit)
        }
        USER_CONTROL => {
            let (event, data) =
                payload
                    .split_first_chunk::<2>()
                    .ok_or(MessageError::Truncated {
                        msg_type,
                        needed: 2,
                        got: payload.len(),
                    })?;
            Control::UserControl {
                event: u16::from_be_bytes(*event),
                data: Bytes::copy_from_slice(data),
            }
        }
        other => return Err(MessageError::NotControl(other)),
    })
}

/// Set Chunk Size payload (the high bit is cleared, spec 5.4.1).
pub fn set_chunk_size(n: u32) -> [u8; 4] {
    (n & 0x7FFF_FFFF).to_be_bytes()
}

/// Window Acknowledgement Size payload.
pub fn window_ack_size(n: u32) -> [u8; 4] {
    n.to_be_bytes()
}

/// Set Peer Bandwidth payload; `limit` is one of `LIMIT_*`.
pub fn set_peer_bandwidth(n: u32, limit: u8) -> [u8; 5] {
    let b = n.to_be_bytes();
    [b[0], b[1], b[2], b[3], limit]
}

/// Acknowledgement payload (`seq` = bytes received so far).
pub fn ack(seq: u32) -> [u8; 4] {
    seq.to_be_bytes()
}

/// User control payload with a single u32 argument (stream id for
/// StreamBegin/EOF/Dry/IsRecorded, timestamp for ping request/response).
pub fn user_control(event: u16, value: u32) -> [u8; 6] {
    let e = event.to_be_bytes();
    let v = value.to_be_bytes();
    [e[0], e[1], v[0], v[1], v[2], v[3]]
}

/// A NetConnection / NetStream command (spec 7.2).
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: String,
    pub transaction_id: f64,
    /// Command object; `Null` when absent.
    pub object: Amf0Value,
    pub args: Vec<Amf0Value>,
}

impl Command {
    /// AMF0 encoding of the command (payload of a type 20 message).
    pub fn encode(&self) -> Bytes {
        build_command(&self.name, self.transaction_id, &self.object, &self.args)
    }
}

/// Builds a type 20 command payload: name, transaction id, object, args.
pub fn build_command(
    name: &str,
    transaction_id: f64,
    object: &Amf0Value,
    args: &[Amf0Value],
) -> Bytes {
    let mut out = BytesMut::new();
    amf0::encode(&Amf0Value::String(name.to_string()), &mut out);
    amf0::encode(&Amf0Value::Number(transaction_id), &mut out);
    amf0::encode(object, &mut out);
    for a in args {
        amf0::encode(a, &mut out);
    }
    out.freeze()
}

/// Strips the leading format byte of AMF3 command/data messages (types 17
/// and 15). Flash Player and FMS send these as a 0x00 byte followed by
/// AMF0-encoded values; a value may still switch to AMF3 through the 0x11
/// marker, which the AMF0 decoder refuses (`AmfError::Amf3`). The byte is
/// only stripped when it is 0x00, so a sender that omits it still parses
/// (a command name or data handler name is never an AMF0 number).
fn strip_amf3_format_byte(payload: &[u8]) -> &[u8] {
    match payload.split_first() {
        Some((0, rest)) => rest,
        _ => payload,
    }
}

/// Parses a command message (type 20, or 17 with its leading format byte).
/// A missing or non-number transaction id becomes 0, a missing command
/// object becomes `Null`.
pub fn parse_command(msg_type: u8, payload: &[u8]) -> Result<Command, MessageError> {
    let body = match msg_type {
        COMMAND_AMF0 => payload,
        COMMAND_AMF3 => strip_amf3_format_byte(payload),
        other => return Err(MessageError::NotCommand(other)),
    };
    let mut values = amf0::decode_all(body)?.into_iter();
    let name = match values.next() {
        Some(Amf0Value::String(s)) | Some(Amf0Value::LongString(s)) => s,
        _ => return Err(MessageError::MissingCommandName),
    };
    let transaction_id = values.next().and_then(|v| v.as_f64()).unwrap_or(0.0);
    let object = values.next().unwrap_or(Amf0Value::Null);
    Ok(Command {
        name,
        transaction_id,
        object,
        args: values.collect(),
    })
}

/// Parses a data message (type 18, or 15 with its leading format byte)
/// into its AMF0 values.
pub fn parse_data(msg_type: u8, payload: &[u8]) -> Result<Vec<Amf0Value>, MessageError> {
    let body = match msg_type {
        DATA_AMF0 => payload,
        DATA_AMF3 => strip_amf3_format_byte(payload),
        other => return Err(MessageError::NotData(other)),
    };
    Ok(amf0::decode_all(body)?)
}

/// Splits an aggregate message (type 22) into `(type, timestamp, body)`
/// sub-messages without copying. Timestamps are returned as written (24
/// bits + 8 extension bits); spec 7.1.6 says the caller renormalizes them
/// by the difference between the aggregate's timestamp and the first
/// sub-message's. The sub-message stream id is ignored (the aggregate's
/// wins), and so is the back pointer's value; it may be missing after the
/// last sub-message.
pub fn aggregate_parts(payload: &Bytes) -> Result<Vec<(u8, u32, Bytes)>, MessageError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let len = payload.len();
    while pos < len {
        let available = len - pos;
        let truncated = |needed: usize| MessageError::AggregateTruncated {
            offset: pos,
            needed,
            available,
        };
        let hdr = payload
            .get(pos..pos.saturating_add(AGGREGATE_HEADER_LEN))
            .and_then(|s| <[u8; AGGREGATE_HEADER_LEN]>::try_from(s).ok())
            .ok_or(truncated(AGGREGATE_HEADER_LEN))?;
        let [msg_type, s0, s1, s2, t0, t1, t2, t3, ..] = hdr;
        let size = u32::from_be_bytes([0, s0, s1, s2]);
        let timestamp = u32::from_be_bytes([t3, t0, t1, t2]);
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let needed = AGGREGATE_HEADER_LEN.saturating_add(size);
        if needed > available {
            return Err(truncated(needed));
        }
        let body_start = pos + AGGREGATE_HEADER_LEN;
        let body_end = pos + needed;
        out.push((msg_type, timestamp, payload.slice(body_start..body_end)));
        let rest = len - body_end;
        pos = if rest == 0 {
            body_end
        } else if rest >= BACK_POINTER_LEN {
            body_end + BACK_POINTER_LEN
        } else {
            return Err(truncated(needed + BACK_POINTER_LEN));
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Amf0Value {
        Amf0Value::String(x.into())
    }

    #[test]
    fn control_roundtrip() {
        assert_eq!(
            parse_control(SET_CHUNK_SIZE, &set_chunk_size(4096)),
            Ok(Control::SetChunkSize(4096))
        );
        assert_eq!(set_chunk_size(0xFFFF_FFFF), [0x7F, 0xFF, 0xFF, 0xFF]);
        assert_eq!(parse_control(ABORT, &[0, 0, 0, 3]), Ok(Control::Abort(3)));
        assert_eq!(parse_control(ACK, &ack(123_456)), Ok(Control::Ack(123_456)));
        assert_eq!(
            parse_control(WINDOW_ACK_SIZE, &window_ack_size(2_500_000)),
            Ok(Control::WindowAckSize(2_500_000))
        );
        assert_eq!(
            set_peer_bandwidth(2_500_000, LIMIT_DYNAMIC),
            [0x00, 0x26, 0x25, 0xA0, 2]
        );
        assert_eq!(
            parse_control(SET_PEER_BANDWIDTH, &set_peer_bandwidth(7, LIMIT_SOFT)),
            Ok(Control::SetPeerBandwidth(7, 1))
        );
        assert_eq!(user_control(STREAM_BEGIN, 1), [0, 0, 0, 0, 0, 1]);
        assert_eq!(
            parse_control(USER_CONTROL, &user_control(PING_REQUEST, 99)),
            Ok(Control::UserControl {
                event: PING_REQUEST,
                data: Bytes::from_static(&[0, 0, 0, 99])
            })
        );
        // SetBufferLength carries 8 bytes of data.
        let sbl = [0, 3, 0, 0, 0, 1, 0, 0, 0x0B, 0xB8];
        assert_eq!(
            parse_control(USER_CONTROL, &sbl),
            Ok(Control::UserControl {
                event: SET_BUFFER_LENGTH,
                data: Bytes::copy_from_slice(&sbl[2..])
            })
        );
    }

    #[test]
    fn control_errors() {
        assert_eq!(
            parse_control(SET_CHUNK_SIZE, &[0, 0, 1]),
            Err(MessageError::Truncated {
                msg_type: 1,
                needed: 4,
                got: 3
            })
        );
        assert!(matches!(
            parse_control(SET_PEER_BANDWIDTH, &[0, 0, 1, 0]),
            Err(MessageError::Truncated { .. })
        ));
        assert!(matches!(
            parse_control(SET_PEER_BANDWIDTH, &[0, 0, 1, 0, 0][..4]),
            Err(MessageError::Truncated { .. })
        ));
        assert!(matches!(
            parse_control(USER_CONTROL, &[0]),
            Err(MessageError::Truncated { .. })
        ));
        assert_eq!(
            parse_control(AUDIO, &[1, 2, 3, 4]),
            Err(MessageError::NotControl(8))
        );
        // Trailing bytes ignored.
        assert_eq!(parse_control(ACK, &[0, 0, 0, 1, 9, 9]), Ok(Control::Ack(1)));
    }

    #[test]
    fn command_roundtrip_and_amf3_variant() {
        let obj = Amf0Value::Object(vec![("app".into(), s("live"))]);
        let payload = build_command("connect", 1.0, &obj, &[s("extra")]);
        let cmd = parse_command(COMMAND_AMF0, &payload).unwrap();
        assert_eq!(
            cmd,
            Command {
                name: "connect".into(),
                transaction_id: 1.0,
                object: obj.clone(),
                args: vec![s("extra")]
            }
        );
        assert_eq!(cmd.encode(), payload);
        let mut amf3 = vec![0u8];
        amf3.extend_from_slice(&payload);
        assert_eq!(parse_command(COMMAND_AMF3, &amf3), Ok(cmd.clone()));
        // Without the format byte it still parses.
        assert_eq!(parse_command(COMMAND_AMF3, &payload), Ok(cmd));
    }

    #[test]
    fn command_missing_parts() {
        let only_name = amf0::encode_all(&[s("deleteStream")]);
        let c = parse_command(COMMAND_AMF0, &only_name).unwrap();
        assert_eq!(c.transaction_id, 0.0);
        assert_eq!(c.object, Amf0Value::Null);
        assert!(c.args.is_empty());
        let no_obj = amf0::encode_all(&[s("play"), Amf0Value::Number(4.0)]);
        let c = parse_command(COMMAND_AMF0, &no_obj).unwrap();
        assert_eq!((c.transaction_id, c.object), (4.0, Amf0Value::Null));
        assert_eq!(
            parse_command(COMMAND_AMF0, &amf0::encode_all(&[Amf0Value::Number(1.0)])),
            Err(MessageError::MissingCommandName)
        );
        assert_eq!(
            parse_command(COMMAND_AMF0, &[]),
            Err(MessageError::MissingCommandName)
        );
        assert_eq!(
            parse_command(COMMAND_AMF3, &[0]),
            Err(MessageError::MissingCommandName)
        );
        assert_eq!(
            parse_command(DATA_AMF0, &[]),
            Err(MessageError::NotCommand(18))
        );
        assert_eq!(
            parse_command(COMMAND_AMF0, &[0x02, 0, 9, b'a']),
            Err(MessageError::Amf(AmfError::Truncated))
        );
        assert_eq!(
            parse_command(COMMAND_AMF3, &[0, 0x02, 0, 1, b'a', 0x11, 0x01]),
            Err(MessageError::Amf(AmfError::Amf3))
        );
    }

    #[test]
    fn data_messages() {
        let meta = Amf0Value::EcmaArray(vec![("width".into(), Amf0Value::Number(320.0))]);
        let values = vec![s("@setDataFrame"), s("onMetaData"), meta];
        let p = amf0::encode_all(&values);
        assert_eq!(parse_data(DATA_AMF0, &p), Ok(values.clone()));
        let mut p3 = vec![0];
        p3.extend_from_slice(&p);
        assert_eq!(parse_data(DATA_AMF3, &p3), Ok(values));
        assert_eq!(parse_data(VIDEO, &p), Err(MessageError::NotData(9)));
        assert_eq!(parse_data(DATA_AMF0, &[]), Ok(vec![]));
    }

    fn sub(t: u8, ts: u32, body: &[u8], back: bool) -> Vec<u8> {
        let size = (body.len() as u32).to_be_bytes();
        let tsb = ts.to_be_bytes();
        let mut v = vec![
            t, size[1], size[2], size[3], tsb[1], tsb[2], tsb[3], tsb[0], 0, 0, 1,
        ];
        v.extend_from_slice(body);
        if back {
            v.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
        }
        v
    }

    #[test]
    fn aggregate_split() {
        let mut p = sub(VIDEO, 0x0100_0020, b"vid", true);
        p.extend(sub(AUDIO, 40, b"audio!", true));
        p.extend(sub(AUDIO, 60, b"", false));
        let p = Bytes::from(p);
        let parts = aggregate_parts(&p).unwrap();
        assert_eq!(
            parts,
            vec![
                (VIDEO, 0x0100_0020, Bytes::from_static(b"vid")),
                (AUDIO, 40, Bytes::from_static(b"audio!")),
                (AUDIO, 60, Bytes::new()),
            ]
        );
        // Zero-copy: bodies point into the payload.
        let base = p.as_ptr() as usize;
        let body = parts[1].2.as_ptr() as usize;
        assert!(body > base && body < base + p.len());
        assert_eq!(aggregate_parts(&Bytes::new()), Ok(vec![]));
    }

    #[test]
    fn aggregate_errors() {
        let good = sub(VIDEO, 1, b"abcdef", true);
        for n in 1..good.len() {
            let r = aggregate_parts(&Bytes::copy_from_slice(&good[..n]));
            // Cutting exactly the back pointer off is tolerated.
            if n == good.len() - 4 {
                assert!(r.is_ok());
            } else {
                assert!(
                    matches!(r, Err(MessageError::AggregateTruncated { .. })),
                    "len {n}: {r:?}"
                );
            }
        }
        let mut huge = sub(VIDEO, 1, b"", false);
        huge[1..4].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
        assert_eq!(
            aggregate_parts(&Bytes::from(huge)),
            Err(MessageError::AggregateTruncated {
                offset: 0,
                needed: 11 + 0xFF_FFFF,
                available: 11
            })
        );
    }

    /// Deterministic xorshift fuzz over all parsers: no panic, bounded output.
    #[test]
    fn fuzz_no_panic() {
        let mut x: u64 = 0x1234_5678_9ABC_DEF1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let cmd = build_command("publish", 5.0, &Amf0Value::Null, &[s("test"), s("live")]);
        for i in 0..20_000 {
            let mut buf: Vec<u8> = if i % 2 == 0 {
                (0..(next() % 80)).map(|_| (next() % 24) as u8).collect()
            } else {
                let mut b = cmd.to_vec();
                let p = (next() as usize) % b.len();
                b[p] = next() as u8;
                b
            };
            if i % 5 == 0 {
                buf.truncate((next() as usize) % (buf.len() + 1));
            }
            let t = (next() % 24) as u8;
            let _ = parse_control(t, &buf);
            let _ = parse_command(t, &buf);
            let _ = parse_command(COMMAND_AMF0, &buf);
            let _ = parse_command(COMMAND_AMF3, &buf);
            let _ = parse_data(DATA_AMF0, &buf);
            let _ = parse_data(DATA_AMF3, &buf);
            let bytes = Bytes::from(buf);
            if let Ok(parts) = aggregate_parts(&bytes) {
                assert!(parts.len() * 11 <= bytes.len());
                let total: usize = parts.iter().map(|p| p.2.len()).sum();
                assert!(total <= bytes.len());
            }
        }
    }
}
