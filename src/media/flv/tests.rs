//! FLV headers and tags, and whole files from ffmpeg read back tag by tag.

use super::super::bits::tests::XorShift;
use super::super::{aac, h264, hevc, Codec};
use super::*;

/// ffmpeg 5.1: libx264 (Main, 176x100, 10 fps, B-frames) + AAC LC 22050 Hz mono, 0.6 s.
const H264_AAC_FLV: &[u8] = include_bytes!("../testdata/h264_aac.flv");
/// ffmpeg 9: libx265 (Main, 176x100, 10 fps) in Enhanced FLV, with a colorInfo metadata tag.
const HEVC_FLV: &[u8] = include_bytes!("../testdata/hevc_enhanced.flv");

/// Walks a whole file; returns (header, body) per tag. Every tag must parse.
fn walk(file: &[u8]) -> Vec<(TagHeader, Bytes)> {
    read_file(Bytes::copy_from_slice(file))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn read_file_stops_at_a_cut_tag() {
    let whole = walk(H264_AAC_FLV);
    let cut = Bytes::copy_from_slice(&H264_AAC_FLV[..H264_AAC_FLV.len() - 5]);
    let tags: Vec<_> = read_file(cut).unwrap().collect();
    assert_eq!(tags.len(), whole.len());
    assert!(matches!(
        tags.last(),
        Some(Err(FlvError::Incomplete { .. }))
    ));
    assert!(tags[..tags.len() - 1].iter().all(Result::is_ok));
    // Bodies are slices of the file.
    let file = Bytes::from_static(H264_AAC_FLV);
    let range = H264_AAC_FLV.as_ptr_range();
    let first = read_file(file).unwrap().next().unwrap().unwrap();
    assert!(range.contains(&first.1.as_ptr()));
    assert!(matches!(
        read_file(Bytes::from_static(b"FLV")),
        Err(FlvError::Incomplete { .. })
    ));
}

#[test]
fn tag_writers_agree() {
    let mut out = BytesMut::new();
    put_tag(&mut out, TAG_VIDEO, 0x0102_0304, &[b"ab", b"", b"cde"]);
    assert_eq!(&out[..], &tag(TAG_VIDEO, 0x0102_0304, b"abcde")[..]);
    let [head, tail] = tag_parts(TAG_VIDEO, 0x0102_0304, b"ab", 3);
    let joined = [&head[..], b"cde", &tail[..]].concat();
    assert_eq!(&out[..], &joined[..]);
    let (header, body, total) = parse_tag(&out).unwrap();
    assert_eq!(
        (header.data_size, header.timestamp, body, total),
        (5, 0x0102_0304, 11..16, 20)
    );
    assert_eq!(previous_tag_size(5), 16u32.to_be_bytes());
    assert_eq!(timestamp(-1), u32::MAX);
    assert_eq!(timestamp(1 << 32), 0);
}

#[test]
fn file_header_round_trip() {
    for (audio, video) in [(false, false), (true, false), (false, true), (true, true)] {
        let header = file_header(audio, video);
        assert_eq!(parse_file_header(&header), Ok((audio, video, 13)));
    }
    assert_eq!(
        file_header(true, true)[..9],
        *b"FLV\x01\x05\x00\x00\x00\x09"
    );
}

#[test]
fn file_header_errors() {
    let good = file_header(true, true);
    for len in 0..good.len() {
        let needed = 13 - len;
        assert_eq!(
            parse_file_header(&good[..len]),
            Err(FlvError::Incomplete { needed })
        );
    }
    assert_eq!(
        parse_file_header(b"FLX\x01\x05\0\0\0\x09\0\0\0\0"),
        Err(invalid(0, "not an FLV file"))
    );
    assert_eq!(
        parse_file_header(b"FLV\x02\x05\0\0\0\x09\0\0\0\0"),
        Err(invalid(3, "unsupported FLV version"))
    );
    assert!(matches!(
        parse_file_header(b"FLV\x01\x05\0\0\0\x08\0\0\0\0"),
        Err(FlvError::Invalid { offset: 5, .. })
    ));
    assert!(matches!(
        parse_file_header(b"FLV\x01\x05\xFF\xFF\xFF\xFF\0\0\0\0"),
        Err(FlvError::Invalid { offset: 5, .. })
    ));
    // A longer header (DataOffset 12) is honoured.
    let long = b"FLV\x01\x01\0\0\0\x0Cxyz\0\0\0\0";
    assert_eq!(parse_file_header(long), Ok((false, true, 16)));
    assert_eq!(
        parse_file_header(&long[..14]),
        Err(FlvError::Incomplete { needed: 2 })
    );
}

#[test]
fn tag_round_trip() {
    let mut buf = tag_header(TAG_VIDEO, 3, 0x1234_5678).to_vec();
    assert_eq!(buf, [9, 0, 0, 3, 0x34, 0x56, 0x78, 0x12, 0, 0, 0]);
    buf.extend_from_slice(&[0xAA, 0xBB, 0xCC]);
    buf.extend_from_slice(&14u32.to_be_bytes());
    buf.extend_from_slice(b"next");
    let (header, body, total) = parse_tag(&buf).unwrap();
    let expected = TagHeader {
        tag_type: 9,
        data_size: 3,
        timestamp: 0x1234_5678,
        stream_id: 0,
    };
    assert_eq!(header, expected);
    assert_eq!(body, 11..14);
    assert_eq!(total, 18);
    // PreviousTagSize 0 is tolerated.
    buf[14..18].copy_from_slice(&[0, 0, 0, 0]);
    assert!(parse_tag(&buf).is_ok());
}

#[test]
fn tag_incomplete_counts() {
    let mut buf = tag_header(TAG_AUDIO, 5, 7).to_vec();
    buf.extend_from_slice(&[1, 2, 3, 4, 5, 0, 0, 0, 16]);
    assert_eq!(parse_tag(&buf).map(|t| t.2), Ok(20));
    for len in 0..buf.len() {
        match parse_tag(&buf[..len]) {
            Err(FlvError::Incomplete { needed }) => {
                // Before the header is complete only the minimum (15 bytes) is known.
                let expected = if len < 11 { 15 - len } else { 20 - len };
                assert_eq!(needed, expected, "len {len}");
            }
            other => panic!("len {len}: {other:?}"),
        }
    }
}

#[test]
fn tag_errors() {
    let mut buf = tag_header(TAG_SCRIPT, 0, 0).to_vec();
    buf.extend_from_slice(&11u32.to_be_bytes());
    assert!(parse_tag(&buf).is_ok());
    let mut filtered = buf.clone();
    filtered[0] |= 0x20;
    assert!(matches!(
        parse_tag(&filtered),
        Err(FlvError::Invalid { offset: 0, .. })
    ));
    let mut reserved = buf.clone();
    reserved[0] |= 0x40;
    assert!(matches!(
        parse_tag(&reserved),
        Err(FlvError::Invalid { offset: 0, .. })
    ));
    let mut unknown = buf.clone();
    unknown[0] = 10;
    assert_eq!(parse_tag(&unknown), Err(invalid(0, "unknown tag type")));
    // Rejected on the first byte already, without waiting for more data.
    assert_eq!(parse_tag(&[0x0A]), Err(invalid(0, "unknown tag type")));
    let mut mismatch = buf.clone();
    mismatch[14] = 12;
    assert_eq!(
        parse_tag(&mismatch),
        Err(invalid(11, "PreviousTagSize does not match the tag"))
    );
    // Largest possible size only asks for more data.
    let huge = tag_header(TAG_VIDEO, 0xFF_FFFF, 0);
    assert_eq!(
        parse_tag(&huge),
        Err(FlvError::Incomplete {
            needed: 0xFF_FFFF + 4
        })
    );
}

#[test]
fn ffmpeg_h264_aac_file() {
    assert_eq!(parse_file_header(H264_AAC_FLV), Ok((true, true, 13)));
    let tags = walk(H264_AAC_FLV);
    assert_eq!(tags.len(), 24);
    assert_eq!(tags[0].0.tag_type, TAG_SCRIPT);
    assert!(tags[0].1.starts_with(b"\x02\x00\x0AonMetaData"));
    let mut length_size = 0;
    let (mut frames, mut keyframes, mut audio_frames) = (0, 0, 0);
    let mut saw_asc = false;
    let mut saw_end = false;
    for (header, body) in &tags {
        assert_eq!(header.stream_id, 0);
        match header.tag_type {
            TAG_VIDEO => {
                let tag = parse_video_body(body).unwrap();
                assert_eq!(tag.codec, Codec::H264);
                // Rebuilding the prefix reproduces ffmpeg's bytes.
                let (prefix, len) =
                    video_body_prefix(tag.codec, tag.keyframe, tag.kind, tag.cts).unwrap();
                assert_eq!(prefix[..len], body[..len]);
                match tag.kind {
                    VideoPacketKind::SequenceHeader => {
                        let track = h264::track_from_avcc(tag.data.clone()).unwrap();
                        assert_eq!((track.width, track.height, track.fpks), (176, 100, 10000));
                        assert_eq!(track.codec_string, "avc1.4D400A");
                        length_size = h264::parse_avcc(&tag.data).unwrap().length_size;
                    }
                    VideoPacketKind::Frame => {
                        frames += 1;
                        assert!(h264::nal_units(&tag.data, length_size).all(|n| n.is_ok()));
                        assert_eq!(h264::contains_idr(&tag.data, length_size), tag.keyframe);
                        keyframes += usize::from(tag.keyframe);
                        assert!(tag.cts >= 0);
                    }
                    VideoPacketKind::EndOfSequence => saw_end = true,
                    other => panic!("{other:?}"),
                }
            }
            TAG_AUDIO => {
                let tag = parse_audio_body(body).unwrap();
                assert_eq!(tag.codec, Codec::Aac);
                let (prefix, len) =
                    audio_body_prefix(tag.codec, tag.sequence_header, tag.rate, tag.channels)
                        .unwrap();
                assert_eq!(prefix[..len], body[..len]);
                if tag.sequence_header {
                    let track = aac::track_from_asc(tag.data.clone()).unwrap();
                    assert_eq!(
                        (track.rate, track.channels, track.codec_string.as_str()),
                        (22050, 1, "mp4a.40.2")
                    );
                    saw_asc = true;
                } else {
                    audio_frames += 1;
                }
            }
            _ => {}
        }
    }
    assert_eq!(length_size, 4);
    assert_eq!((frames, keyframes), (6, 2));
    assert!(audio_frames > 0 && saw_asc && saw_end);
}

#[test]
fn ffmpeg_enhanced_hevc_file() {
    let tags = walk(HEVC_FLV);
    let videos: Vec<VideoTag> = tags
        .iter()
        .filter(|(h, _)| h.tag_type == TAG_VIDEO)
        .map(|(_, body)| parse_video_body(body).unwrap())
        .collect();
    assert!(videos.iter().all(|t| t.codec == Codec::Hevc));
    assert_eq!(videos[0].kind, VideoPacketKind::SequenceHeader);
    let cfg = hevc::parse_hvcc(&videos[0].data).unwrap();
    let track = hevc::track_from_hvcc(videos[0].data.clone()).unwrap();
    assert_eq!((track.width, track.height), (176, 100));
    assert_eq!(track.codec_string, "hvc1.1.6.L30.90");
    assert!(videos.iter().any(|t| t.kind == VideoPacketKind::Metadata));
    let frames: Vec<&VideoTag> = videos
        .iter()
        .filter(|t| t.kind == VideoPacketKind::Frame)
        .collect();
    assert_eq!(frames.len(), 3);
    for tag in &frames {
        assert_eq!(
            hevc::contains_irap(&tag.data, cfg.length_size),
            tag.keyframe
        );
        // Our prefix for the same frame parses back to the same fields.
        let (prefix, len) = video_body_prefix(tag.codec, tag.keyframe, tag.kind, tag.cts).unwrap();
        let mut body = prefix[..len].to_vec();
        body.extend_from_slice(&tag.data);
        assert_eq!(parse_video_body(&Bytes::from(body)).as_ref(), Ok(*tag));
    }
    assert!(frames[0].keyframe);
    assert!(frames.iter().any(|t| t.cts != 0));
}

#[test]
fn real_file_fed_in_pieces() {
    // A reader that only has part of a tag gets Incomplete, never a wrong answer.
    let (_, _, start) = parse_file_header(H264_AAC_FLV).unwrap();
    let mut at = start;
    while at < H264_AAC_FLV.len() {
        let rest = &H264_AAC_FLV[at..];
        let (_, _, total) = parse_tag(rest).unwrap();
        for cut in [0, 1, 10, 11, total / 2, total - 1] {
            match parse_tag(&rest[..cut]) {
                Err(FlvError::Incomplete { needed }) => {
                    assert!(needed > 0 && needed <= total - cut)
                }
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        at += total;
    }
}

#[test]
fn random_input_never_panics() {
    let mut rng = XorShift(0xF1F0_F1F0_1234_5678);
    for _ in 0..30_000 {
        let data = rng.bytes(40);
        let _ = parse_file_header(&data);
        let _ = parse_tag(&data);
        let bytes = Bytes::from(data);
        let _ = parse_video_body(&bytes);
        let _ = parse_audio_body(&bytes);
        // Steer the first byte into the interesting ranges too.
        let mut steered = bytes.to_vec();
        if let Some(first) = steered.first_mut() {
            *first = [0x17, 0x27, 0x1C, 0x90, 0x91, 0x97, 0xA3, 0xAF, 0x2F][(*first % 9) as usize];
        }
        let steered = Bytes::from(steered);
        let _ = parse_video_body(&steered);
        let _ = parse_audio_body(&steered);
    }
}

#[test]
fn mutated_files_never_panic() {
    let mut rng = XorShift(99);
    for _ in 0..300 {
        let source = if rng.next_u64() % 2 == 0 {
            H264_AAC_FLV
        } else {
            HEVC_FLV
        };
        let mut file = source.to_vec();
        for _ in 0..8 {
            let at = (rng.next_u64() as usize) % file.len();
            file[at] ^= 1 << (rng.next_u64() % 8);
        }
        let file = Bytes::from(file);
        let Ok((_, _, mut at)) = parse_file_header(&file) else {
            continue;
        };
        while let Ok((header, body, total)) = parse_tag(file.get(at..).unwrap_or_default()) {
            let body = file.slice(at + body.start..at + body.end);
            match header.tag_type {
                TAG_VIDEO => {
                    if let Ok(tag) = parse_video_body(&body) {
                        let _ = h264::track_from_avcc(tag.data.clone());
                        let _ = hevc::track_from_hvcc(tag.data.clone());
                        let _ = h264::contains_idr(&tag.data, 4);
                    }
                }
                TAG_AUDIO => {
                    if let Ok(tag) = parse_audio_body(&body) {
                        let _ = aac::track_from_asc(tag.data);
                    }
                }
                _ => {}
            }
            at += total;
        }
    }
}
