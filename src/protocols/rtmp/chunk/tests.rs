//! Tests of the chunk reader and writer, on hand-built chunks and captured ffmpeg sessions.

use bytes::BufMut;

use super::write::put_first_header;
use super::*;

fn msg(csid: u32, ts: u32, t: u8, sid: u32, payload: &[u8]) -> RtmpMessage {
    RtmpMessage {
        csid,
        timestamp: ts,
        msg_type: t,
        stream_id: sid,
        payload: Bytes::copy_from_slice(payload),
    }
}

fn read_all(r: &mut ChunkReader, bytes: &[u8]) -> Result<Vec<RtmpMessage>, ChunkError> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(m) = r.read_message(&mut buf)? {
        out.push(m);
    }
    Ok(out)
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn single_chunk_message() {
    let mut out = BytesMut::new();
    write_message(&mut out, 128, 3, 1000, 20, 0, b"hello");
    assert_eq!(
        &out[..],
        &[0x03, 0, 0x03, 0xE8, 0, 0, 5, 20, 0, 0, 0, 0, b'h', b'e', b'l', b'l', b'o']
    );
    let mut r = ChunkReader::new();
    assert_eq!(
        read_all(&mut r, &out),
        Ok(vec![msg(3, 1000, 20, 0, b"hello")])
    );
}

#[test]
fn multi_chunk_message_and_chunk_size() {
    let p = payload(1000);
    for cs in [1u32, 2, 127, 128, 999, 1000, 1001, 4096] {
        let mut out = BytesMut::new();
        write_message(&mut out, cs, 4, 5, 9, 1, &p);
        let mut r = ChunkReader::new();
        r.set_chunk_size(cs).unwrap();
        assert_eq!(
            read_all(&mut r, &out),
            Ok(vec![msg(4, 5, 9, 1, &p)]),
            "cs {cs}"
        );
        assert_eq!(r.buffered(), 0);
    }
}

#[test]
fn byte_by_byte_feeding() {
    let mut out = BytesMut::new();
    write_message(&mut out, 128, 6, 0x0100_0000, 8, 1, &payload(700));
    write_message(&mut out, 128, 6, 0x0100_0010, 8, 1, &payload(10));
    write_message(&mut out, 128, 400, 7, 18, 1, &payload(300));
    let mut r = ChunkReader::new();
    let expected = read_all(&mut r, &out).unwrap();
    assert_eq!(expected.len(), 3);
    let mut r = ChunkReader::new();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for b in out.iter() {
        buf.put_u8(*b);
        while let Some(m) = r.read_message(&mut buf).unwrap() {
            got.push(m);
        }
    }
    assert_eq!(got, expected);
    assert!(buf.is_empty());
}

#[test]
fn basic_header_forms() {
    for csid in [2u32, 63, 64, 65, 319, 320, 321, 1000, 65599] {
        let mut out = BytesMut::new();
        write_message(&mut out, 128, csid, 1, 20, 0, b"x");
        let expected_len = match csid {
            2..=63 => 1,
            64..=319 => 2,
            _ => 3,
        };
        assert_eq!(out.len(), expected_len + 11 + 1, "csid {csid}");
        let mut r = ChunkReader::new();
        assert_eq!(read_all(&mut r, &out).unwrap()[0].csid, csid);
    }
    assert_eq!(basic_header(&[0x00, 0xFF]), Some((0, 319, 2)));
    assert_eq!(basic_header(&[0x41, 0xFF, 0xFF]), Some((1, 65599, 3)));
    assert_eq!(basic_header(&[0x01, 0xFF]), None);
    assert_eq!(basic_header(&[]), None);
}

/// Hand-made fmt 0/1/2/3 sequence (spec 5.3.2.1 example 1 style).
#[test]
fn header_compression_and_deltas() {
    let mut b = vec![];
    // fmt 0, csid 3, ts 1000, len 2, type 8, sid 1
    b.extend_from_slice(&[0x03, 0, 0x03, 0xE8, 0, 0, 2, 8, 1, 0, 0, 0, 0xAA, 0xBB]);
    // fmt 1, delta 40, len 3, type 9
    b.extend_from_slice(&[0x43, 0, 0, 40, 0, 0, 3, 9, 1, 2, 3]);
    // fmt 2, delta 20
    b.extend_from_slice(&[0x83, 0, 0, 20, 4, 5, 6]);
    // fmt 3 new message: reuses delta 20
    b.extend_from_slice(&[0xC3, 7, 8, 9]);
    b.extend_from_slice(&[0xC3, 10, 11, 12]);
    let mut r = ChunkReader::new();
    let m = read_all(&mut r, &b).unwrap();
    let ts: Vec<u32> = m.iter().map(|m| m.timestamp).collect();
    assert_eq!(ts, vec![1000, 1040, 1060, 1080, 1100]);
    assert_eq!(m[1].msg_type, 9);
    assert_eq!(m[1].stream_id, 1);
    assert_eq!(&m[4].payload[..], &[10, 11, 12]);
}

#[test]
fn fmt3_after_fmt0_reuses_timestamp_as_delta() {
    let mut b = vec![0x03, 0, 0, 10, 0, 0, 1, 8, 1, 0, 0, 0, 0xAA];
    b.extend_from_slice(&[0xC3, 0xBB]);
    let mut r = ChunkReader::new();
    let m = read_all(&mut r, &b).unwrap();
    assert_eq!(m[1].timestamp, 20);
}

#[test]
fn timestamp_wraps() {
    let mut out = BytesMut::new();
    write_message(&mut out, 128, 3, 0xFFFF_FFF0, 8, 1, b"a");
    out.extend_from_slice(&[0x83, 0, 0, 0x20, b'b']);
    let mut r = ChunkReader::new();
    let m = read_all(&mut r, &out).unwrap();
    assert_eq!(m[0].timestamp, 0xFFFF_FFF0);
    assert_eq!(m[1].timestamp, 0x10);
}

#[test]
fn extended_timestamp_repeated_on_continuations() {
    let p = payload(300);
    let mut out = BytesMut::new();
    write_message(&mut out, 128, 5, 0x0123_4567, 9, 1, &p);
    // 12-byte header + 4 ext, then two continuations of 1 + 4.
    assert_eq!(out.len(), 16 + 300 + 2 * 5);
    assert_eq!(&out[1..4], &[0xFF, 0xFF, 0xFF]);
    assert_eq!(
        &out[16 + 128..16 + 128 + 5],
        &[0xC5, 0x01, 0x23, 0x45, 0x67]
    );
    let mut r = ChunkReader::new();
    assert_eq!(
        read_all(&mut r, &out),
        Ok(vec![msg(5, 0x0123_4567, 9, 1, &p)])
    );
}

#[test]
fn extended_timestamp_omitted_on_continuations_is_tolerated() {
    // Old librtmp style: ext field only in the fmt 0 header.
    let p = payload(300);
    let mut b = vec![0x05, 0xFF, 0xFF, 0xFF, 0, 0x01, 0x2C, 9, 1, 0, 0, 0];
    b.extend_from_slice(&0x0123_4567u32.to_be_bytes());
    b.extend_from_slice(&p[..128]);
    b.push(0xC5);
    b.extend_from_slice(&p[128..256]);
    b.push(0xC5);
    b.extend_from_slice(&p[256..]);
    let mut r = ChunkReader::new();
    assert_eq!(
        read_all(&mut r, &b),
        Ok(vec![msg(5, 0x0123_4567, 9, 1, &p)])
    );
    // Same, fed byte by byte (the peek must wait, then decide).
    let mut r = ChunkReader::new();
    let mut buf = BytesMut::new();
    let mut got = vec![];
    for x in &b {
        buf.put_u8(*x);
        if let Some(m) = r.read_message(&mut buf).unwrap() {
            got.push(m);
        }
    }
    assert_eq!(got, vec![msg(5, 0x0123_4567, 9, 1, &p)]);
}

#[test]
fn fmt3_new_message_with_extended_delta() {
    // fmt 1 with extended delta, then fmt 3 new message repeating it.
    let mut b = vec![0x04, 0, 0, 0, 0, 0, 1, 8, 1, 0, 0, 0, 0x11];
    b.extend_from_slice(&[0x44, 0xFF, 0xFF, 0xFF, 0, 0, 1, 8]);
    b.extend_from_slice(&0x0100_0000u32.to_be_bytes());
    b.push(0x22);
    b.push(0xC4);
    b.extend_from_slice(&0x0100_0000u32.to_be_bytes());
    b.push(0x33);
    let mut r = ChunkReader::new();
    let m = read_all(&mut r, &b).unwrap();
    let ts: Vec<u32> = m.iter().map(|m| m.timestamp).collect();
    assert_eq!(ts, vec![0, 0x0100_0000, 0x0200_0000]);
    assert_eq!(&m[2].payload[..], &[0x33]);
}

#[test]
fn partial_chunk_left_in_buffer() {
    let mut out = BytesMut::new();
    write_message(&mut out, 128, 3, 0, 20, 0, &payload(200));
    let mut r = ChunkReader::new();
    let mut buf = BytesMut::from(&out[..100]);
    assert_eq!(r.read_message(&mut buf), Ok(None));
    assert_eq!(buf.len(), 100, "incomplete first chunk stays");
    let mut buf = BytesMut::from(&out[..150]);
    assert_eq!(r.read_message(&mut buf), Ok(None));
    assert_eq!(buf.len(), 150 - 140, "first chunk consumed");
    assert_eq!(r.buffered(), 128);
    buf.extend_from_slice(&out[150..]);
    assert_eq!(
        r.read_message(&mut buf).unwrap().unwrap().payload.len(),
        200
    );
    assert_eq!(r.buffered(), 0);
}

#[test]
fn interleaved_chunk_streams() {
    let a = payload(300);
    let c = payload(200);
    let mut wa = BytesMut::new();
    write_message(&mut wa, 128, 4, 10, 8, 1, &a);
    let mut wc = BytesMut::new();
    write_message(&mut wc, 128, 6, 20, 9, 1, &c);
    // Interleave: a0 c0 a1 c1 a2
    let mut b = vec![];
    b.extend_from_slice(&wa[..140]);
    b.extend_from_slice(&wc[..140]);
    b.extend_from_slice(&wa[140..269]);
    b.extend_from_slice(&wc[140..]);
    b.extend_from_slice(&wa[269..]);
    let mut r = ChunkReader::new();
    let m = read_all(&mut r, &b).unwrap();
    assert_eq!(m, vec![msg(6, 20, 9, 1, &c), msg(4, 10, 8, 1, &a)]);
}

#[test]
fn abort_drops_partial() {
    let mut out = BytesMut::new();
    write_message(&mut out, 128, 3, 0, 9, 1, &payload(200));
    let mut r = ChunkReader::new();
    let mut buf = BytesMut::from(&out[..140]);
    assert_eq!(r.read_message(&mut buf), Ok(None));
    assert_eq!(r.buffered(), 128);
    r.abort(3);
    r.abort(99);
    assert_eq!(r.buffered(), 0);
    // The next fmt 3 chunk now starts a new 200-byte message, whose
    // first chunk (128 bytes) is not complete yet.
    let mut buf = BytesMut::from(&out[140..]);
    assert_eq!(r.read_message(&mut buf), Ok(None));
    assert_eq!(buf.len(), 73);
    assert_eq!(r.buffered(), 0);
    buf.extend_from_slice(&[0xC3; 56]);
    assert_eq!(r.read_message(&mut buf), Ok(None));
    assert_eq!(r.buffered(), 128);
}

#[test]
fn new_header_mid_message_drops_partial() {
    let mut out = BytesMut::new();
    write_message(&mut out, 128, 3, 0, 9, 1, &payload(200));
    let mut b = out[..140].to_vec();
    let mut second = BytesMut::new();
    write_message(&mut second, 128, 3, 5, 9, 1, b"xy");
    b.extend_from_slice(&second);
    let mut r = ChunkReader::new();
    assert_eq!(read_all(&mut r, &b), Ok(vec![msg(3, 5, 9, 1, b"xy")]));
    assert_eq!(r.buffered(), 0);
}

#[test]
fn empty_message() {
    let mut out = BytesMut::new();
    write_message(&mut out, 128, 3, 0, 20, 0, b"");
    assert_eq!(out.len(), 12);
    let mut r = ChunkReader::new();
    assert_eq!(read_all(&mut r, &out), Ok(vec![msg(3, 0, 20, 0, b"")]));
}

#[test]
fn errors() {
    let mut r = ChunkReader::new();
    assert_eq!(r.set_chunk_size(0), Err(ChunkError::InvalidChunkSize(0)));
    assert_eq!(
        r.set_chunk_size(0x8000_0000),
        Err(ChunkError::InvalidChunkSize(0x8000_0000))
    );
    assert_eq!(r.set_chunk_size(0x7FFF_FFFF), Ok(()));
    assert_eq!(r.chunk_size(), 0x7FFF_FFFF);
    let mut r = ChunkReader::new();
    assert_eq!(
        read_all(&mut r, &[0xC3, 1, 2]),
        Err(ChunkError::NoPreviousHeader { csid: 3, fmt: 3 })
    );
    assert_eq!(
        read_all(&mut r, &[0x84, 0, 0, 1]),
        Err(ChunkError::NoPreviousHeader { csid: 4, fmt: 2 })
    );
    // fmt 1 without history is tolerated (stream id 0).
    let mut r = ChunkReader::new();
    assert_eq!(
        read_all(&mut r, &[0x45, 0, 0, 7, 0, 0, 1, 8, 0xAA]),
        Ok(vec![msg(5, 7, 8, 0, &[0xAA])])
    );
    let e = ChunkError::BufferLimit {
        csid: 3,
        buffered: 10,
        incoming: 5,
        max: 20,
    };
    assert!(e.to_string().contains("chunk stream 3"));
}

#[test]
fn too_many_chunk_streams() {
    let mut out = BytesMut::new();
    for csid in 2..(2 + MAX_CHUNK_STREAMS as u32) {
        write_message(&mut out, 128, csid, 0, 8, 1, b"a");
    }
    let mut r = ChunkReader::new();
    assert_eq!(read_all(&mut r, &out).unwrap().len(), MAX_CHUNK_STREAMS);
    let mut more = BytesMut::new();
    write_message(&mut more, 128, 500, 0, 8, 1, b"a");
    assert_eq!(
        read_all(&mut r, &more),
        Err(ChunkError::TooManyChunkStreams {
            csid: 500,
            max: MAX_CHUNK_STREAMS
        })
    );
    // Known csids still work.
    let mut again = BytesMut::new();
    write_message(&mut again, 128, 2, 0, 8, 1, b"b");
    assert_eq!(read_all(&mut r, &again).unwrap().len(), 1);
}

#[test]
fn buffered_limit_across_streams() {
    let cs: u32 = 1 << 20;
    let mut r = ChunkReader::new();
    r.set_chunk_size(cs).unwrap();
    let chunk = vec![0u8; cs as usize];
    let mut err = None;
    'outer: for csid in 3..10u32 {
        let mut b = BytesMut::new();
        put_first_header(&mut b, csid, 0, 9, 1, MAX_MESSAGE_LEN as usize);
        b.extend_from_slice(&chunk);
        for _ in 0..14 {
            b.put_u8(0xC0 | csid as u8);
            b.extend_from_slice(&chunk);
        }
        // One call consumes every complete chunk in `b`.
        match r.read_message(&mut b) {
            Ok(None) => assert!(b.is_empty()),
            Ok(Some(_)) => panic!("no message can complete"),
            Err(e) => {
                err = Some(e);
                break 'outer;
            }
        }
        assert!(r.buffered() <= MAX_BUFFERED);
    }
    assert!(
        matches!(err, Some(ChunkError::BufferLimit { .. })),
        "{err:?}"
    );
    assert!(r.buffered() <= MAX_BUFFERED);
}

fn concat(v: &[Bytes]) -> Vec<u8> {
    v.iter().flat_map(|b| b.iter().copied()).collect()
}

#[test]
fn chunk_message_equals_write_message() {
    let data = Bytes::from(payload(1000));
    let splits: Vec<Vec<Bytes>> = vec![
        vec![],
        vec![data.clone()],
        vec![data.slice(..5), data.slice(5..)],
        vec![data.slice(..128), data.slice(128..256), data.slice(256..)],
        vec![
            data.slice(..100),
            Bytes::new(),
            data.slice(100..130),
            data.slice(130..129 + 128),
            data.slice(257..900),
            data.slice(900..),
        ],
        (0..1000).map(|i| data.slice(i..i + 1)).collect(),
    ];
    for parts in &splits {
        let joined = concat(parts);
        for cs in [1u32, 3, 128, 129, 999, 1000, 4096] {
            for ts in [0u32, 1000, 0xFF_FFFE, 0xFF_FFFF, 0xFFFF_FFFF] {
                for csid in [3u32, 100, 1000] {
                    let mut w = BytesMut::new();
                    write_message(&mut w, cs, csid, ts, 9, 1, &joined);
                    let z = chunk_message(cs, csid, ts, 9, 1, parts);
                    assert_eq!(concat(&z), w.to_vec(), "cs {cs} ts {ts} csid {csid}");
                    // Payload pieces are zero-copy views into `data`.
                    for piece in &z {
                        if piece.len() > 20 {
                            let base = data.as_ptr() as usize;
                            let p = piece.as_ptr() as usize;
                            assert!(p >= base && p < base + data.len());
                        }
                    }
                    // And the reader gets the message back.
                    let mut r = ChunkReader::new();
                    r.set_chunk_size(cs).unwrap();
                    let m = read_all(&mut r, &w).unwrap();
                    assert_eq!(m, vec![msg(csid, ts, 9, 1, &joined)]);
                }
            }
        }
    }
}

#[test]
fn writer_clamps() {
    let mut a = BytesMut::new();
    write_message(&mut a, 0, 0, 0, 8, 0, b"ab");
    let mut b = BytesMut::new();
    write_message(&mut b, 1, 2, 0, 8, 0, b"ab");
    assert_eq!(a, b);
    let z = chunk_message(0, 0, 0, 8, 0, &[Bytes::from_static(b"ab")]);
    assert_eq!(concat(&z), b.to_vec());
}

#[test]
fn extend_timestamp_cases() {
    assert_eq!(extend_timestamp(0, 0), 0);
    assert_eq!(extend_timestamp(0, 40), 40);
    assert_eq!(extend_timestamp(1000, 990), 990);
    // Forward wrap.
    assert_eq!(extend_timestamp(0xFFFF_FFF0, 0x10), 0x1_0000_0010);
    // Small step back across the wrap.
    assert_eq!(extend_timestamp(0x1_0000_0010, 0xFFFF_FFF0), 0xFFFF_FFF0);
    // Second wrap.
    assert_eq!(extend_timestamp(0x1_FFFF_FFFF, 5), 0x2_0000_0005);
    // A stream starting at a high timestamp never goes negative.
    assert_eq!(extend_timestamp(0, 0xF000_0000), 0xF000_0000);
    // Monotonic over a long run crossing several wraps.
    let mut last = 0i64;
    let mut t: u32 = 0;
    for _ in 0..100_000 {
        t = t.wrapping_add(100_000);
        let n = extend_timestamp(last, t);
        assert_eq!(n - last, 100_000);
        last = n;
    }
    assert_eq!(extend_timestamp(i64::MAX, 0), i64::MAX);
    assert!(extend_timestamp(i64::MIN, 0) >= 0);
}

/// Bytes ffmpeg 5.1 sent after the handshake when publishing
/// `testsrc` 640x480 + `sine` (libx264/aac, 2 s) to a minimal server built from
/// these modules (examples/capture_ffmpeg.rs in the scratch crate).
const FFMPEG_PUBLISH: &[u8] = include_bytes!("../testdata/ffmpeg_publish.bin");

fn parse_ffmpeg_capture(pieces: &mut dyn FnMut() -> usize) -> Vec<RtmpMessage> {
    use super::super::message::{self, Control};
    let mut r = ChunkReader::new();
    let mut buf = BytesMut::new();
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < FFMPEG_PUBLISH.len() {
        let n = pieces().clamp(1, FFMPEG_PUBLISH.len() - pos);
        buf.extend_from_slice(&FFMPEG_PUBLISH[pos..pos + n]);
        pos += n;
        while let Some(m) = r.read_message(&mut buf).unwrap() {
            if m.msg_type == message::SET_CHUNK_SIZE {
                match message::parse_control(m.msg_type, &m.payload).unwrap() {
                    Control::SetChunkSize(cs) => r.set_chunk_size(cs).unwrap(),
                    other => panic!("{other:?}"),
                }
            }
            out.push(m);
        }
    }
    assert!(buf.is_empty(), "capture ends on a message boundary");
    assert_eq!(r.buffered(), 0);
    assert_eq!(r.chunk_size(), 4096);
    out
}

#[test]
fn ffmpeg_publish_capture() {
    use super::super::message::{self, parse_command, parse_data};
    use crate::media::amf0::Amf0Value;
    let msgs = parse_ffmpeg_capture(&mut || usize::MAX);

    let commands: Vec<_> = msgs
        .iter()
        .filter(|m| m.msg_type == message::COMMAND_AMF0)
        .map(|m| parse_command(m.msg_type, &m.payload).unwrap())
        .collect();
    let names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "connect",
            "releaseStream",
            "FCPublish",
            "createStream",
            "publish",
            "FCUnpublish",
            "deleteStream"
        ]
    );
    let connect = &commands[0];
    assert_eq!(connect.transaction_id, 1.0);
    assert_eq!(
        connect.object.get("app").and_then(Amf0Value::as_str),
        Some("live")
    );
    let tc_url = connect
        .object
        .get("tcUrl")
        .and_then(Amf0Value::as_str)
        .unwrap();
    assert!(tc_url.starts_with("rtmp://127.0.0.1:"), "{tc_url}");
    assert!(tc_url.ends_with("/live"), "{tc_url}");
    let publish = &commands[4];
    assert_eq!(publish.object, Amf0Value::Null);
    assert_eq!(
        publish.args,
        vec![
            Amf0Value::String("test".into()),
            Amf0Value::String("live".into())
        ]
    );
    let publish_msg = msgs
        .iter()
        .find(|m| {
            m.msg_type == message::COMMAND_AMF0
                && parse_command(m.msg_type, &m.payload).unwrap().name == "publish"
        })
        .unwrap();
    assert_eq!(publish_msg.stream_id, 1);

    let data: Vec<_> = msgs
        .iter()
        .filter(|m| m.msg_type == message::DATA_AMF0)
        .collect();
    assert_eq!(data.len(), 1);
    let values = parse_data(data[0].msg_type, &data[0].payload).unwrap();
    assert_eq!(values[0].as_str(), Some("@setDataFrame"));
    assert_eq!(values[1].as_str(), Some("onMetaData"));
    let meta = &values[2];
    assert!(matches!(meta, Amf0Value::EcmaArray(_)));
    assert_eq!(meta.get("width").and_then(Amf0Value::as_f64), Some(640.0));
    assert_eq!(meta.get("height").and_then(Amf0Value::as_f64), Some(480.0));
    assert_eq!(
        meta.get("videocodecid").and_then(Amf0Value::as_f64),
        Some(7.0)
    );
    assert_eq!(
        meta.get("audiocodecid").and_then(Amf0Value::as_f64),
        Some(10.0)
    );

    let video: Vec<_> = msgs.iter().filter(|m| m.msg_type == 9).collect();
    let audio: Vec<_> = msgs.iter().filter(|m| m.msg_type == 8).collect();
    assert!(video.len() >= 50, "{} video", video.len());
    assert!(audio.len() >= 80, "{} audio", audio.len());
    // AVC sequence header (keyframe, AVCPacketType 0) and AAC sequence
    // header first, then frames.
    assert_eq!(&video[0].payload[..2], &[0x17, 0x00]);
    assert_eq!(&video[1].payload[..2], &[0x17, 0x01]);
    assert_eq!(&audio[0].payload[..2], &[0xAF, 0x00]);
    assert_eq!(&audio[1].payload[..2], &[0xAF, 0x01]);
    for track in [&video, &audio] {
        assert!(track.iter().all(|m| m.stream_id == 1));
        assert!(track.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        let last = track.last().unwrap().timestamp;
        assert!((1800..=2100).contains(&last), "last ts {last}");
    }
    // Multi-chunk video frames (> 4096 bytes) were reassembled.
    let max = video.iter().map(|m| m.payload.len()).max().unwrap();
    assert!(max > 4096, "largest video message {max}");
}

#[test]
fn ffmpeg_publish_capture_in_random_pieces() {
    let whole = parse_ffmpeg_capture(&mut || usize::MAX);
    let mut x: u64 = 77;
    let mut pieces = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 700) as usize + 1
    };
    assert_eq!(parse_ffmpeg_capture(&mut pieces), whole);
    assert_eq!(parse_ffmpeg_capture(&mut || 1), whole);
}

/// Mutated copies of the real ffmpeg capture, driven like the server
/// does (Set Chunk Size applied, commands and data decoded): no panic,
/// bounded buffering.
#[test]
fn fuzz_mutated_ffmpeg_capture() {
    use super::super::message::{self, Control};
    let mut x: u64 = 0xA076_1D64_78BD_642F;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut decoded = 0usize;
    for _ in 0..300 {
        let mut input = FFMPEG_PUBLISH.to_vec();
        for _ in 0..(next() % 8 + 1) {
            // Mutations concentrate on the command-heavy start.
            let span = if next() % 2 == 0 { 600 } else { input.len() };
            let p = (next() as usize) % span;
            input[p] = next() as u8;
        }
        let mut r = ChunkReader::new();
        let mut buf = BytesMut::new();
        'feed: for piece in input.chunks(1 + (next() % 3000) as usize) {
            buf.extend_from_slice(piece);
            loop {
                match r.read_message(&mut buf) {
                    Ok(Some(m)) => match m.msg_type {
                        message::SET_CHUNK_SIZE => {
                            if let Ok(Control::SetChunkSize(n)) =
                                message::parse_control(m.msg_type, &m.payload)
                            {
                                if r.set_chunk_size(n).is_err() {
                                    break 'feed;
                                }
                            }
                        }
                        message::COMMAND_AMF0 => {
                            decoded +=
                                usize::from(message::parse_command(m.msg_type, &m.payload).is_ok());
                        }
                        message::DATA_AMF0 => {
                            let _ = message::parse_data(m.msg_type, &m.payload);
                        }
                        _ => {}
                    },
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
            assert!(r.buffered() <= MAX_BUFFERED);
        }
    }
    assert!(decoded > 300, "mutations leave most commands decodable");
}

/// Deterministic xorshift fuzz: random and mutated chunk streams fed in
/// random pieces never panic, and memory stays bounded.
#[test]
fn fuzz_no_panic_bounded() {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut valid = BytesMut::new();
    for i in 0..12u32 {
        let ts = if i % 4 == 0 { 0xFF_FFFF + i } else { i * 40 };
        write_message(
            &mut valid,
            64,
            3 + i % 3,
            ts,
            8 + (i % 2) as u8,
            1,
            &payload(50 + i as usize * 20),
        );
    }
    for round in 0..4000 {
        let mut input: Vec<u8> = match round % 3 {
            0 => (0..(next() % 400)).map(|_| next() as u8).collect(),
            _ => {
                let mut v = valid.to_vec();
                for _ in 0..(next() % 6 + 1) {
                    let p = (next() as usize) % v.len();
                    v[p] = next() as u8;
                }
                v
            }
        };
        if round % 5 == 0 {
            input.truncate((next() as usize) % (input.len() + 1));
        }
        let mut r = ChunkReader::new();
        if round % 3 == 1 {
            r.set_chunk_size(64).unwrap();
        } else if round % 3 == 2 {
            let _ = r.set_chunk_size((next() % 300) as u32);
        }
        let mut buf = BytesMut::new();
        let mut pos = 0;
        'feed: while pos < input.len() {
            let n = ((next() % 64) as usize + 1).min(input.len() - pos);
            buf.extend_from_slice(&input[pos..pos + n]);
            pos += n;
            loop {
                match r.read_message(&mut buf) {
                    Ok(Some(m)) => {
                        assert!(m.payload.len() <= MAX_MESSAGE_LEN as usize);
                        if next() % 8 == 0 {
                            r.abort(m.csid);
                        }
                    }
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
            assert!(r.buffered() <= MAX_BUFFERED);
            assert!(r.streams.len() <= MAX_CHUNK_STREAMS);
            let cap: usize = r
                .streams
                .iter()
                .filter_map(|s| s.partial.as_ref())
                .map(|p| p.capacity())
                .sum();
            assert!(cap <= 2 * r.buffered() + 64 * r.streams.len(), "cap {cap}");
            let held: usize = r
                .streams
                .iter()
                .filter_map(|s| s.partial.as_ref())
                .map(|p| p.len())
                .sum();
            assert_eq!(held, r.buffered());
        }
    }
}
