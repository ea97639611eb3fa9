//! RTMP `seek` on a file stream, with a scripted RTMP player: ffmpeg 5.1 sends no `seek` (its
//! `-ss` on an RTMP input fails with "Unable to send seek command"), so this client speaks the
//! few messages a Flash player sends (handshake, connect, createStream, play, seek) and reads
//! what the server sends back with the crate's chunk reader.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use eddy::media::amf0::Amf0Value;
use eddy::protocols::rtmp::chunk::{write_message, ChunkReader, RtmpMessage};
use eddy::protocols::rtmp::message::{self as msg, build_command, parse_command};

use crate::{file, server, streams};

struct Player {
    sock: TcpStream,
    reader: ChunkReader,
    buf: BytesMut,
}

impl Player {
    fn connect(port: u16) -> Player {
        let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut c0c1 = vec![0u8; 1537];
        c0c1[0] = 3;
        sock.write_all(&c0c1).expect("C0C1");
        let mut s0s1s2 = vec![0u8; 1 + 2 * 1536];
        sock.read_exact(&mut s0s1s2).expect("S0S1S2");
        sock.write_all(&s0s1s2[1..1537]).expect("C2");
        Player {
            sock,
            reader: ChunkReader::new(),
            buf: BytesMut::new(),
        }
    }

    fn command(
        &mut self,
        stream_id: u32,
        name: &str,
        txn: f64,
        object: Amf0Value,
        args: &[Amf0Value],
    ) {
        let mut out = BytesMut::new();
        let payload = build_command(name, txn, &object, args);
        write_message(&mut out, 128, 3, 0, msg::COMMAND_AMF0, stream_id, &payload);
        self.sock.write_all(&out).expect("command");
    }

    /// The next message (chunk size changes are applied here).
    fn next(&mut self) -> RtmpMessage {
        loop {
            if let Some(m) = self.reader.read_message(&mut self.buf).expect("chunks") {
                if m.msg_type == msg::SET_CHUNK_SIZE {
                    let size = u32::from_be_bytes(m.payload[..4].try_into().expect("4 bytes"));
                    self.reader.set_chunk_size(size).expect("chunk size");
                }
                return m;
            }
            let mut b = [0u8; 64 * 1024];
            let n = self.sock.read(&mut b).expect("read");
            assert!(n > 0, "the server closed the connection");
            self.buf.extend_from_slice(&b[..n]);
        }
    }

    /// The `code` of an onStatus, if `m` is one.
    fn status(m: &RtmpMessage) -> Option<String> {
        if m.msg_type != msg::COMMAND_AMF0 {
            return None;
        }
        let c = parse_command(m.msg_type, &m.payload).ok()?;
        if c.name != "onStatus" {
            return None;
        }
        match c.args.first()? {
            Amf0Value::Object(props) => props
                .iter()
                .find(|(k, _)| k == "code")
                .and_then(|(_, v)| v.as_str().map(String::from)),
            _ => None,
        }
    }
}

#[test]
fn rtmp_seek_restarts_a_file_at_the_keyframe_before_the_time() {
    let ls = server(streams(&[("film", &file("av.mp4"))]));
    let mut p = Player::connect(ls.rtmp);
    let app = Amf0Value::Object(vec![
        ("app".into(), Amf0Value::String("play".into())),
        (
            "tcUrl".into(),
            Amf0Value::String(format!("rtmp://127.0.0.1:{}/play", ls.rtmp)),
        ),
    ]);
    p.command(0, "connect", 1.0, app, &[]);
    p.command(0, "createStream", 2.0, Amf0Value::Null, &[]);
    let play = [Amf0Value::String("film".into())];
    p.command(1, "play", 3.0, Amf0Value::Null, &play);
    // Some media from the start, then a seek to 10 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut first_video = None;
    while first_video.is_none() {
        assert!(Instant::now() < deadline, "no video");
        let m = p.next();
        if m.msg_type == msg::VIDEO && m.payload.get(1) == Some(&1) {
            first_video = Some(m.timestamp);
        }
    }
    assert!(first_video < Some(1_000), "{first_video:?}");
    p.command(
        1,
        "seek",
        0.0,
        Amf0Value::Null,
        &[Amf0Value::Number(10_000.0)],
    );
    let mut notified = false;
    let (mut after_seek, mut last) = (None, 0u32);
    loop {
        assert!(Instant::now() < deadline, "the file did not end");
        let m = p.next();
        match Player::status(&m).as_deref() {
            Some("NetStream.Seek.Notify") => notified = true,
            Some("NetStream.Play.Stop") => break,
            _ => {}
        }
        // Video frames (AVC NALU packets) after the notification are from the new place.
        if notified && m.msg_type == msg::VIDEO && m.payload.get(1) == Some(&1) {
            after_seek.get_or_insert((m.timestamp, m.payload[0] >> 4 == 1));
            last = m.timestamp;
        }
    }
    let (first, keyframe) = after_seek.expect("video after the seek");
    // The keyframe at 10 s (times moved by the file's 80 ms B-frame delay).
    assert!((8_000..=10_100).contains(&first), "{first}");
    assert!(keyframe, "the first frame after a seek is a keyframe");
    assert!(last > 19_000, "plays on to the end: {last}");
}
