//! FLV indexing checked against ffprobe and the depacketizer's view of the same file, with
//! synthetic files for what ffmpeg 5.1 does not write (Enhanced RTMP AV1, odd NAL length
//! sizes), and with damaged input.

use bytes::{Bytes, BytesMut};

use super::super::super::amf0::Amf0Value;
use super::super::super::flv::{self, TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO};
use super::super::super::testutil::load_flv;
use super::super::super::{Codec, TrackKind};
use super::super::tests::check_against_probe;
use super::super::ts::tests::{
    make, read_file_packets, read_packets, refuses_noise, scan_bytes, scan_file, survives_damage,
};
use super::super::{packet, Container, VodError};

const HEVC_FLV: &[u8] = include_bytes!("../../testdata/hevc_enhanced.flv");

/// Entries' payloads equal the depacketizer's packets of the same file, in order.
fn same_as_depacketizer(file: &[u8]) {
    let index = scan_bytes(Container::Flv, file).unwrap();
    let (_, _, expected) = load_flv(file);
    let read: Vec<_> = read_packets(&index, file)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for (kind, flv_track) in [(TrackKind::Video, 1), (TrackKind::Audio, 2)] {
        let Some(id) = index
            .tracks
            .iter()
            .find(|t| t.kind() == Some(kind))
            .map(|t| t.id)
        else {
            continue;
        };
        let ours: Vec<_> = read.iter().filter(|p| p.track == id).collect();
        let theirs: Vec<_> = expected.iter().filter(|p| p.track == flv_track).collect();
        assert_eq!(ours.len(), theirs.len());
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!((&a.data, a.time, a.offset), (&b.data, b.time, b.offset));
            // The depacketizer marks no audio frame as a keyframe; the index marks them all.
            assert_eq!(a.keyframe, b.keyframe || kind == TrackKind::Audio);
        }
    }
}

#[test]
fn h264_aac_flv_against_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "a.flv",
        "-f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=sample_rate=44100 -t 6 \
         -c:v libx264 -g 50 -bf 2 -c:a aac -f flv",
    );
    let index = scan_file(&path);
    // The payload is the body after the FLV headers: the same bytes ffmpeg gives.
    check_against_probe(&path, &index, &[0, 1]);
    assert_eq!(index.source_ids, vec![9, 8]);
    let (v, a) = (&index.tracks[0], &index.tracks[1]);
    assert_eq!(
        (v.id, v.codec, v.width, v.height, v.fpks),
        (1, Some(Codec::H264), 320, 240, 25000)
    );
    assert_eq!((a.id, a.codec, a.rate), (2, Some(Codec::Aac), 44100));
    assert!(index.entries.iter().any(|e| e.offset > 0), "B-frames");
    assert_eq!(index.start_times(), vec![0, 2000, 4000]);
    let file = std::fs::read(&path).unwrap();
    same_as_depacketizer(&file);
    // Zero-copy: the bytes at `pos` are the payload itself.
    let read = read_file_packets(&index, &path);
    for (e, p) in index.entries.iter().zip(&read) {
        assert_eq!(e.raw_len, e.size);
        assert_eq!(&file[e.pos as usize..][..e.size as usize], &p.data[..]);
    }
}

#[test]
fn mp3_audio_only_flv() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "mp3.flv",
        "-f lavfi -i sine=sample_rate=22050 -t 3 -c:a libmp3lame -b:a 32k -f flv",
    );
    let index = scan_file(&path);
    check_against_probe(&path, &index, &[0]);
    assert_eq!(index.tracks.len(), 1);
    let t = &index.tracks[0];
    assert_eq!(
        (t.id, t.codec, t.rate, t.channels),
        (1, Some(Codec::Mp3), 22050, 1)
    );
    assert_eq!(index.source_ids, vec![8]);
    // Audio only: every frame is a start point.
    assert_eq!(index.start_times().len(), index.entries.len());
    same_as_depacketizer(&std::fs::read(&path).unwrap());
}

#[test]
fn enhanced_rtmp_hevc() {
    let index = scan_bytes(Container::Flv, HEVC_FLV).unwrap();
    let v = &index.tracks[0];
    assert_eq!((v.codec, v.width, v.height), (Some(Codec::Hevc), 176, 100));
    assert_eq!(index.entries.iter().filter(|e| e.track == v.id).count(), 3);
    assert!(index.entries[0].keyframe);
    same_as_depacketizer(HEVC_FLV);
}

/// An FLV file of the given tags (type, time, body).
fn flv_file(tags: &[(u8, u32, &[u8])]) -> Vec<u8> {
    let mut out = BytesMut::new();
    out.extend_from_slice(&flv::file_header(true, true));
    for (tag_type, time, body) in tags {
        flv::put_tag(&mut out, *tag_type, *time, &[body]);
    }
    out.to_vec()
}

#[test]
fn metadata_fills_in_the_picture_size_of_av1() {
    let meta = super::super::super::amf0::encode_all(&[
        Amf0Value::String("onMetaData".into()),
        Amf0Value::EcmaArray(vec![
            ("width".into(), Amf0Value::Number(640.0)),
            ("height".into(), Amf0Value::Number(360.0)),
            ("framerate".into(), Amf0Value::Number(30.0)),
        ]),
    ]);
    let file = flv_file(&[
        (TAG_SCRIPT, 0, &meta),
        (TAG_VIDEO, 0, b"\x90av01\x81\x00\x0c\x00"),
        (TAG_VIDEO, 0, b"\x91av01key"),
        (TAG_VIDEO, 33, b"\xa1av01inter"),
        (TAG_AUDIO, 10, &[0x2A, 0x01]), // MP3 that is not a frame: dropped
    ]);
    let index = scan_bytes(Container::Flv, &file).unwrap();
    let v = &index.tracks[0];
    assert_eq!(
        (v.codec, v.width, v.height, v.fpks),
        (Some(Codec::Av1), 640, 360, 30000)
    );
    assert_eq!(index.entries.len(), 2);
    let p = packet(&index, 1, Bytes::from_static(b"inter")).unwrap();
    assert_eq!((p.time, p.keyframe), (33, false));
    assert!(packet(&index, 1, Bytes::from_static(b"toolong")).is_err());
}

#[test]
fn codecs_eddy_cannot_carry_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "h263.flv",
        "-f lavfi -i testsrc2=size=160x120:rate=25 -f lavfi -i sine -t 1 -c:v flv -c:a aac -f flv",
    );
    let index = scan_file(&path);
    assert_eq!(index.tracks.len(), 1);
    assert_eq!(
        (index.tracks[0].id, index.tracks[0].codec),
        (1, Some(Codec::Aac))
    );
    assert_eq!(index.skipped, vec!["video: FLV video codec Sorenson H.263"]);
    // Nothing to carry at all: an error naming what was found.
    let file = flv_file(&[(TAG_AUDIO, 0, &[0xB2, 1, 2, 3])]);
    match scan_bytes(Container::Flv, &file) {
        Err(VodError::NoTracks(why)) => assert!(why.contains("Speex"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn nal_lengths_other_than_4_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "v.flv",
        "-f lavfi -i testsrc2=size=160x120:rate=25 -t 1 -c:v libx264 -f flv",
    );
    let mut file = std::fs::read(path).unwrap();
    let index = scan_bytes(Container::Flv, &file).unwrap();
    assert_eq!(index.tracks[0].codec, Some(Codec::H264));
    // The sequence header's avcC: lengthSizeMinusOne 3 -> 1.
    let at = file.windows(3).position(|w| w == [0x17, 0, 0]).unwrap() + 5 + 4;
    assert_eq!(file[at] & 3, 3);
    file[at] = (file[at] & !3) | 1;
    match scan_bytes(Container::Flv, &file) {
        Err(VodError::NoTracks(why)) => assert!(why.contains("2-byte"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn damaged_flv() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(
        dir.path(),
        "small.flv",
        "-f lavfi -i testsrc2=size=160x120:rate=25 -f lavfi -i sine -t 1 -c:v libx264 -c:a aac \
         -f flv",
    );
    let file = std::fs::read(&path).unwrap();
    survives_damage(Container::Flv, &file);
    refuses_noise(Container::Flv);
    // Cut in the middle of a tag: indexed up to the last whole one.
    let whole = scan_bytes(Container::Flv, &file).unwrap();
    let cut = scan_bytes(Container::Flv, &file[..file.len() * 2 / 3]).unwrap();
    assert!(cut.entries.len() < whole.entries.len() && !cut.entries.is_empty());
    assert_eq!(cut.entries[..], whole.entries[..cut.entries.len()]);
    // A tag declaring 16 MiB in a small file ends the index (no 16 MiB read).
    let mut huge = flv_file(&[(TAG_VIDEO, 0, &[0x17, 0, 0, 0, 0])]);
    huge[13 + 1..13 + 4].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
    assert!(matches!(
        scan_bytes(Container::Flv, &huge),
        Err(VodError::NoTracks(_))
    ));
    // A DataOffset past the end of the file.
    let mut header = flv::file_header(true, true).to_vec();
    header[5..9].copy_from_slice(&0x0100_0000u32.to_be_bytes());
    assert!(matches!(
        scan_bytes(Container::Flv, &header),
        Err(VodError::Malformed { .. })
    ));
    // A damaged tag header in the middle: a clear error with its offset.
    let mut bad = file.clone();
    let second = 13
        + 11
        + usize::from(bad[14]) * 65536
        + usize::from(bad[15]) * 256
        + usize::from(bad[16])
        + 4;
    bad[second] = 0x1F;
    match scan_bytes(Container::Flv, &bad) {
        Err(VodError::Malformed { reason, .. }) => {
            assert!(reason.contains(&format!("byte {second}")), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // A damaged PreviousTagSize changes nothing: the walk follows DataSize.
    let mut bad = file.clone();
    bad[second - 2] ^= 0x55;
    assert_eq!(scan_bytes(Container::Flv, &bad).unwrap(), whole);
}
