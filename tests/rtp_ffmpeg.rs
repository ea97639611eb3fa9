//! RTP and SDP against a real peer: ffmpeg (on PATH, as the other tests use it).
//!
//! - ffmpeg sends (`-f rtp`, one stream per output, `-sdp_file`) to UDP ports the test binds;
//!   its SDP is read with `eddy::media::sdp::parse`, its packets depacketized, its RTCP read.
//! - Eddy sends: frames read from a TS file ffmpeg made (with Eddy's TS demuxer) are
//!   packetized and sent to an ffmpeg reading Eddy's own SDP, which must decode the right
//!   codecs and about the right number of frames.
//!
//! Each test sends about two seconds of media.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;

use eddy::media::rtp::rtcp::{self, RtcpPacket, SenderReport};
use eddy::media::rtp::{Packetizer, RtpEvent, RtpPacket};
use eddy::media::sdp::{self, SessionInfo};
use eddy::media::ts::demux::{TsDemuxer, TsEvent};
use eddy::media::{h264, hevc, Codec, Packet, Track};

/// An RTP socket on an even port and its RTCP socket on the next one.
fn bind_pair() -> (UdpSocket, UdpSocket) {
    for _ in 0..100 {
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = rtp.local_addr().expect("addr").port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
            return (rtp, rtcp);
        }
    }
    panic!("no free even/odd UDP port pair");
}

fn has_encoder(name: &str) -> bool {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()
        .expect("ffmpeg on PATH; ./test.sh installs it");
    String::from_utf8_lossy(&out.stdout).contains(name)
}

/// What ffmpeg sent: its SDP, RTP datagrams and RTCP datagrams.
struct Received {
    sdp: String,
    rtp: Vec<Bytes>,
    rtcp: Vec<Bytes>,
}

/// Runs ffmpeg on `input` (lavfi) encoding with `codec`, in real time, sending RTP to us.
fn ffmpeg_sends(input: &[&str], codec: &[&str]) -> Received {
    let dir = tempfile::tempdir().expect("dir");
    let sdp_path = dir.path().join("out.sdp");
    let (rtp, rtcp) = bind_pair();
    let port = rtp.local_addr().expect("addr").port();
    let mut child = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re"])
        .args(input)
        .args(["-t", "2"])
        .args(codec)
        .args(["-f", "rtp", "-sdp_file"])
        .arg(&sdp_path)
        .arg(format!("rtp://127.0.0.1:{port}?rtcpport={}", port + 1))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg");
    rtp.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    rtcp.set_nonblocking(true).expect("nonblocking");
    let (mut packets, mut reports) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 65_536];
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut exited_at = None;
    while Instant::now() < deadline {
        if let Ok(n) = rtp.recv(&mut buf) {
            packets.push(Bytes::copy_from_slice(&buf[..n]));
        }
        while let Ok(n) = rtcp.recv(&mut buf) {
            reports.push(Bytes::copy_from_slice(&buf[..n]));
        }
        if exited_at.is_none() && child.try_wait().expect("wait").is_some() {
            exited_at = Some(Instant::now());
        }
        if exited_at.is_some_and(|t| t.elapsed() > Duration::from_millis(300)) {
            break;
        }
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("ffmpeg output");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sdp = std::fs::read_to_string(&sdp_path).expect("ffmpeg's SDP");
    Received {
        sdp,
        rtp: packets,
        rtcp: reports,
    }
}

/// Everything depacketized from what ffmpeg sent: the last track and the packets.
fn depacketize(received: &Received) -> (Track, Vec<Packet>, eddy::media::sdp::SdpMedia) {
    let parsed = sdp::parse(&received.sdp).expect("ffmpeg's SDP parses");
    assert_eq!(parsed.media.len(), 1, "{}", received.sdp);
    let media = parsed.media[0].clone();
    let mut depacketizer = media.depacketizer().expect("depacketizer");
    let mut packets = Vec::new();
    let mut errors = Vec::new();
    assert!(
        received.rtp.len() > 10,
        "only {} RTP packets",
        received.rtp.len()
    );
    for datagram in &received.rtp {
        let packet = RtpPacket::parse(datagram.clone()).expect("ffmpeg's RTP parses");
        assert_eq!(packet.payload_type, media.payload_type);
        depacketizer.push(&packet);
        while let Some(event) = depacketizer.pull() {
            match event {
                Ok(RtpEvent::Packet(p)) => packets.push(p),
                Ok(RtpEvent::Track(_)) => {}
                Err(e) => errors.push(e),
            }
        }
    }
    assert_eq!(errors, vec![], "depacketizing ffmpeg's RTP");
    assert_eq!(depacketizer.lost(), 0);
    (depacketizer.track().clone(), packets, media)
}

/// ffmpeg's RTCP: at least one sender report from the SSRC of its RTP packets.
fn assert_sender_report(received: &Received) {
    let ssrc = RtpPacket::parse(received.rtp[0].clone()).expect("rtp").ssrc;
    let reports: Vec<SenderReport> = received
        .rtcp
        .iter()
        .flat_map(|d| rtcp::parse_compound(d).expect("ffmpeg's RTCP parses"))
        .filter_map(|p| match p {
            RtcpPacket::SenderReport(sr) => Some(sr),
            _ => None,
        })
        .collect();
    assert!(
        reports.iter().any(|sr| sr.ssrc == ssrc),
        "no sender report from {ssrc:#x} in {} RTCP datagrams",
        received.rtcp.len()
    );
}

fn assert_increasing(packets: &[Packet]) {
    for pair in packets.windows(2) {
        assert!(
            pair[1].time > pair[0].time,
            "times {} then {}",
            pair[0].time,
            pair[1].time
        );
    }
}

const TESTSRC: [&str; 4] = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"];

#[test]
fn h264_from_ffmpeg() {
    let received = ffmpeg_sends(
        &TESTSRC,
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-bf",
            "0",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let (track, packets, media) = depacketize(&received);
    assert_eq!(media.track.codec, Some(Codec::H264));
    assert_eq!(track.codec, Some(Codec::H264));
    let from_avcc = h264::track_from_avcc(track.init.clone()).expect("a valid avcC");
    assert_eq!((from_avcc.width, from_avcc.height), (320, 240));
    assert_eq!((track.width, track.height), (320, 240));
    assert!(
        (45..=51).contains(&packets.len()),
        "{} frames",
        packets.len()
    );
    assert!(packets[0].keyframe);
    assert!(packets.iter().filter(|p| p.keyframe).count() >= 2);
    assert_increasing(&packets);
    let last = packets.last().expect("frames").time;
    assert!((1800..=2000).contains(&last), "last frame at {last} ms");
    assert_sender_report(&received);
}

#[test]
fn hevc_from_ffmpeg() {
    if !has_encoder("libx265") {
        eprintln!("SKIPPED: this ffmpeg has no libx265");
        return;
    }
    let received = ffmpeg_sends(
        &TESTSRC,
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "keyint=25:bframes=0:log-level=error",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let (track, packets, media) = depacketize(&received);
    assert_eq!(media.track.codec, Some(Codec::Hevc));
    let from_hvcc = hevc::track_from_hvcc(track.init.clone()).expect("a valid hvcC");
    assert_eq!((from_hvcc.width, from_hvcc.height), (320, 240));
    assert!(
        (45..=51).contains(&packets.len()),
        "{} frames",
        packets.len()
    );
    assert!(packets[0].keyframe);
    assert_increasing(&packets);
}

/// Audio from ffmpeg: codec, rate and channels, and about `seconds * rate / samples` frames
/// with increasing times.
fn audio_from_ffmpeg(codec: &[&str], expect: Codec, rate: u32, channels: u32, frames: usize) {
    let received = ffmpeg_sends(
        &["-f", "lavfi", "-i", &format!("sine=sample_rate={rate}")],
        codec,
    );
    let (track, packets, media) = depacketize(&received);
    assert_eq!(media.track.codec, Some(expect), "{}", received.sdp);
    assert_eq!(track.codec, Some(expect));
    assert_eq!((track.rate, track.channels), (rate, channels), "{track:?}");
    let (low, high) = (frames * 9 / 10, frames * 11 / 10 + 1);
    assert!(
        (low..=high).contains(&packets.len()),
        "{} frames, expected about {frames}",
        packets.len()
    );
    assert_increasing(&packets);
    assert!(packets.iter().all(|p| !p.keyframe));
    assert_sender_report(&received);
}

#[test]
fn aac_from_ffmpeg() {
    audio_from_ffmpeg(&["-c:a", "aac", "-ac", "2"], Codec::Aac, 44_100, 2, 87);
}

#[test]
fn aac_latm_from_ffmpeg() {
    audio_from_ffmpeg(
        &["-c:a", "aac", "-ac", "2", "-rtpflags", "latm"],
        Codec::Aac,
        44_100,
        2,
        87,
    );
}

#[test]
fn opus_from_ffmpeg() {
    audio_from_ffmpeg(
        &["-c:a", "libopus", "-ac", "2"],
        Codec::Opus,
        48_000,
        2,
        100,
    );
}

#[test]
fn pcmu_from_ffmpeg() {
    // ffmpeg's RTP muxer sends G.711 in packets of about 1400 bytes of samples (175 ms).
    let received = ffmpeg_sends(
        &["-f", "lavfi", "-i", "sine=sample_rate=8000"],
        &["-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"],
    );
    let (track, packets, media) = depacketize(&received);
    assert_eq!(media.payload_type, 0);
    assert_eq!(track.codec, Some(Codec::Ulaw));
    let bytes: usize = packets.iter().map(|p| p.data.len()).sum();
    assert_eq!(bytes, 16_000, "two seconds of samples");
    assert_increasing(&packets);
}

#[test]
fn mp3_from_ffmpeg() {
    audio_from_ffmpeg(
        &["-c:a", "libmp3lame", "-ac", "1"],
        Codec::Mp3,
        44_100,
        1,
        77,
    );
}

/// Tracks and packets of a TS file ffmpeg makes from `args` (2 s), read with Eddy's demuxer.
fn ts_clip(args: &[&str], dir: &Path) -> (Vec<Track>, Vec<Packet>) {
    let path = dir.join("clip.ts");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .args(["-t", "2", "-f", "mpegts"])
        .arg(&path)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let data = std::fs::read(&path).expect("clip");
    let mut demuxer = TsDemuxer::new();
    demuxer.push(&data);
    demuxer.finish();
    let (mut tracks, mut packets): (Vec<Track>, Vec<Packet>) = (Vec::new(), Vec::new());
    while let Some(event) = demuxer.pull() {
        match event.expect("the TS demuxes") {
            TsEvent::Track(t) => {
                tracks.retain(|old| old.id != t.id);
                tracks.push(t);
            }
            TsEvent::Packet(p) => packets.push(p),
        }
    }
    tracks.sort_by_key(|t| t.id);
    (tracks, packets)
}

/// Whether some process has UDP `port` bound (Linux /proc/net/udp).
fn udp_bound(port: u16) -> bool {
    let needle = format!(":{port:04X} ");
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .any(|table| {
            table.lines().any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|a| format!("{a} ").ends_with(&needle))
            })
        })
}

/// A free even port whose successor is free too (bound and released).
fn free_pair() -> u16 {
    let (rtp, _rtcp) = bind_pair();
    rtp.local_addr().expect("addr").port()
}

/// Sends `tracks`' packets over RTP to an ffmpeg reading Eddy's SDP; returns the number of
/// frames ffmpeg decoded per stream and its log.
fn ffmpeg_receives(tracks: &[Track], packets: &[Packet]) -> (Vec<usize>, String) {
    let dir = tempfile::tempdir().expect("dir");
    let session = SessionInfo {
        name: "eddy test".into(),
        origin: "127.0.0.1".into(),
        connection: "127.0.0.1".into(),
    };
    let (_, mut media) = sdp::describe(&session, tracks);
    assert_eq!(media.len(), tracks.len(), "every track is described");
    let ports: Vec<u16> = media.iter().map(|_| free_pair()).collect();
    for (m, port) in media.iter_mut().zip(&ports) {
        m.port = *port;
    }
    let text = sdp::write(&session, &media);
    let sdp_path = dir.path().join("eddy.sdp");
    std::fs::write(&sdp_path, &text).expect("sdp");
    // listen_timeout: ffmpeg 5.1 stops a second after the last packet (it ignores our BYE).
    let child = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "info",
            "-listen_timeout",
            "1",
            "-protocol_whitelist",
            "file,udp,rtp",
        ])
        .arg("-i")
        .arg(&sdp_path)
        .args(["-map", "0", "-f", "framecrc", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ports.iter().all(|&p| udp_bound(p)) {
        assert!(
            Instant::now() < deadline,
            "ffmpeg never bound its RTP ports"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));

    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut packetizers: Vec<Packetizer> = tracks
        .iter()
        .zip(&media)
        .enumerate()
        .map(|(i, (t, m))| {
            Packetizer::new(t, m.payload_type, 0x1000 + i as u32)
                .expect("packetizer")
                .with_start(1000 * i as u16, 12_345)
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    let first = packets.iter().map(|p| p.time).min().unwrap_or(0);
    for (p, port) in packetizers.iter().zip(&ports) {
        let report = SenderReport {
            ssrc: p.ssrc(),
            ntp: rtcp::ntp_time(now),
            rtp_time: p.rtp_timestamp(first),
            packets: 0,
            octets: 0,
        };
        socket
            .send_to(
                &rtcp::sender_report(&report, "eddy"),
                ("127.0.0.1", port + 1),
            )
            .expect("send SR");
    }
    // Twice real time.
    let start = Instant::now();
    let mut sorted: Vec<&Packet> = packets.iter().collect();
    sorted.sort_by_key(|p| p.time);
    for packet in sorted {
        let Some(index) = tracks.iter().position(|t| t.id == packet.track) else {
            continue;
        };
        let due = Duration::from_millis(u64::try_from((packet.time - first) / 2).unwrap_or(0));
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        for datagram in packetizers[index].packetize(packet).expect("packetize") {
            socket
                .send_to(&datagram, ("127.0.0.1", ports[index]))
                .expect("send");
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    for (p, port) in packetizers.iter().zip(&ports) {
        socket
            .send_to(&rtcp::bye(p.ssrc()), ("127.0.0.1", port + 1))
            .expect("send BYE");
    }
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("ffmpeg output");
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    let frames = String::from_utf8_lossy(&out.stdout);
    let counts = (0..tracks.len())
        .map(|i| {
            frames
                .lines()
                .filter(|l| l.split(',').next().map(str::trim) == Some(&i.to_string()))
                .count()
        })
        .collect();
    (counts, format!("{text}\n{log}"))
}

/// Checks that ffmpeg decoded `codec_names[i]` for stream i with about as many frames as sent.
fn check_received(tracks: &[Track], packets: &[Packet], codec_names: &[&str]) {
    let (counts, log) = ffmpeg_receives(tracks, packets);
    for (i, (track, name)) in tracks.iter().zip(codec_names).enumerate() {
        assert!(
            log.contains(&format!("Stream #0:{i}: ")) && log.contains(name),
            "stream {i} is not {name}: {log}"
        );
        let sent = packets.iter().filter(|p| p.track == track.id).count();
        let got = counts[i];
        eprintln!("stream {i} ({name}): {got} decoded of {sent} sent");
        assert!(
            got * 10 >= sent * 9 && got <= sent + sent / 10 + 2,
            "stream {i} ({name}): {got} frames decoded of {sent} sent\n{log}"
        );
    }
}

#[test]
fn ffmpeg_reads_h264_and_aac_from_eddy() {
    let dir = tempfile::tempdir().expect("dir");
    let (tracks, packets) = ts_clip(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=44100",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-ac",
            "2",
        ],
        dir.path(),
    );
    assert_eq!(tracks.len(), 2);
    check_received(&tracks, &packets, &["Video: h264", "Audio: aac"]);
}

#[test]
fn ffmpeg_reads_hevc_and_mp3_from_eddy() {
    if !has_encoder("libx265") {
        eprintln!("SKIPPED: this ffmpeg has no libx265");
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let (tracks, packets) = ts_clip(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=44100",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "keyint=25:log-level=error",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "libmp3lame",
            "-ac",
            "1",
        ],
        dir.path(),
    );
    assert_eq!(tracks.len(), 2);
    check_received(&tracks, &packets, &["Video: hevc", "Audio: mp3"]);
}

#[test]
fn ffmpeg_reads_opus_and_pcmu_from_eddy() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut tracks, mut packets) = ts_clip(
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=48000",
            "-c:a",
            "libopus",
            "-ac",
            "2",
        ],
        dir.path(),
    );
    assert_eq!(tracks.len(), 1);
    // G.711 made here: 2 s of 20 ms frames of silence (mu-law 0xFF).
    let ulaw = eddy::media::rtp::g711::track(Codec::Ulaw, 8_000, 1);
    tracks.push(Track { id: 9, ..ulaw });
    packets.extend((0..100).map(|i| Packet {
        track: 9,
        time: i * 20,
        offset: 0,
        keyframe: false,
        data: Bytes::from(vec![0xFF; 160]),
    }));
    // ffmpeg's G.711 decoder makes one frame per RTP packet: the same count.
    check_received(&tracks, &packets, &["Audio: opus", "Audio: pcm_mulaw"]);
}
