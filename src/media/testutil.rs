//! Test helpers shared by the media tests.

use bytes::Bytes;

use super::flv::{self, FlvDepacketizer};
use super::{mp3, Packet, Track};

/// Tracks and packets of an FLV file, made by the depacketizer RTMP ingest uses (video track 1,
/// audio track 2, times from the tag timestamps): the last video and audio track announced, and
/// every packet. Any warning fails the test.
pub fn load_flv(file: &[u8]) -> (Option<Track>, Option<Track>, Vec<Packet>) {
    let tags = flv::read_file(Bytes::copy_from_slice(file)).unwrap();
    let mut depacketizer = FlvDepacketizer::new();
    let (mut video, mut audio, mut packets) = (None, None, Vec::new());
    for tag in tags {
        let (header, body) = tag.unwrap();
        let out = depacketizer.tag(&header, &body);
        assert_eq!(out.warning, None, "tag at {} ms", header.timestamp);
        if let Some(track) = out.track {
            if track.id == flv::depacketize::VIDEO_TRACK {
                video = Some(track);
            } else {
                audio = Some(track);
            }
        }
        packets.extend(out.packet);
    }
    (video, audio, packets)
}

/// An MP3 file (after its ID3v2 tag) as track `id` and one packet per frame, timed by the
/// frames' sample counts.
pub fn load_mp3(file: &'static [u8], id: u32) -> (Track, Vec<Packet>) {
    assert_eq!(&file[..3], b"ID3");
    // The ID3v2 size is four 7-bit bytes.
    let tag_len = file[6..10]
        .iter()
        .fold(0usize, |n, &b| (n << 7) | usize::from(b & 0x7F));
    let data = Bytes::from_static(file);
    let mut at = 10 + tag_len;
    let mut track = mp3::track_from_frame(&data[at..]).unwrap();
    track.id = id;
    let (mut packets, mut samples) = (Vec::new(), 0u64);
    while at < data.len() {
        let header = mp3::parse_header(&data[at..]).unwrap();
        let end = (at + header.frame_len).min(data.len());
        packets.push(Packet {
            track: id,
            time: i64::try_from(samples * 1000 / u64::from(header.sample_rate)).unwrap(),
            offset: 0,
            keyframe: false,
            data: data.slice(at..end),
        });
        samples += u64::from(header.samples_per_frame);
        at = end;
    }
    (track, packets)
}

/// Raw AC-3 from ffmpeg's `ac3` encoder: `seconds` of a sine, `layout` channels at `rate`.
pub fn encode_ac3(rate: u32, layout: &str, seconds: f64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.ac3");
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=sample_rate={rate}:duration={seconds}"))
        .args(["-af", &format!("aformat=channel_layouts={layout}")])
        .args(["-c:a", "ac3", "-f", "ac3"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(&path).unwrap()
}

/// Raw AC-3 as track `id` (from its first syncframe) and one packet per syncframe, timed by
/// 1536-sample frames.
pub fn load_ac3(data: &[u8], id: u32) -> (Track, Vec<Packet>) {
    let data = Bytes::copy_from_slice(data);
    let (frames, used) = super::ac3::split_frames(&data);
    assert_eq!(used, data.len());
    let mut track = super::ac3::track_from_frame(&data).unwrap();
    track.id = id;
    let rate = u64::from(track.rate);
    let packets = frames
        .iter()
        .enumerate()
        .map(|(n, f)| Packet {
            track: id,
            time: (n as u64 * 1536 * 1000 / rate) as i64,
            offset: 0,
            keyframe: true,
            data: data.slice_ref(f),
        })
        .collect();
    (track, packets)
}
