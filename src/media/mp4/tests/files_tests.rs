//! Real files (H.264 + AAC, HEVC, MP3) written and read back by ffprobe, ffmpeg and the
//! `mp4` crate.

use super::*;

// ---- real files ---------------------------------------------------------------------

/// Splits the packets of the H.264 + AAC file at the second keyframe (300 ms).
const SPLIT_MS: i64 = 300;

#[test]
fn h264_aac_in_one_file() {
    let (video, audio, packets) = load_flv(H264_AAC_FLV);
    let (video, audio) = (video.unwrap(), audio.unwrap());
    assert_eq!((video.width, video.height), (176, 100));
    assert_eq!((audio.rate, audio.channels), (22050, 1));
    let v = of_track(&packets, VIDEO);
    let a = of_track(&packets, AUDIO);
    assert_eq!(v.iter().filter(|p| p.keyframe).count(), 2);
    assert!(v.iter().any(|p| p.keyframe && p.time == SPLIT_MS));
    let (v1, v2): (Vec<&Packet>, Vec<&Packet>) = v.iter().partition(|p| p.time < SPLIT_MS);
    let (a1, a2): (Vec<&Packet>, Vec<&Packet>) = a.iter().partition(|p| p.time < SPLIT_MS);
    let v_end = v2.last().unwrap().time + 100;

    let init = init_segment(&[&video, &audio]).unwrap();
    let seg1 = media_segment(
        1,
        &[
            FragmentTrack {
                track: &video,
                packets: &v1,
                end_ms: SPLIT_MS,
            },
            FragmentTrack {
                track: &audio,
                packets: &a1,
                end_ms: SPLIT_MS,
            },
        ],
        false,
    )
    .unwrap();
    let seg2 = media_segment(
        2,
        &[
            FragmentTrack {
                track: &video,
                packets: &v2,
                end_ms: v_end,
            },
            // end_ms 0: the last duration repeats the one before.
            FragmentTrack {
                track: &audio,
                packets: &a2,
                end_ms: 0,
            },
        ],
        false,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "both.mp4", &[&init, &seg1, &seg2]);
    let file = std::fs::read(&path).unwrap();

    assert!(check_tree(&file, 0, file.len()) > 30);
    let ftyp = find(&file, &[b"ftyp"])[0];
    assert_eq!(
        &file[ftyp.body..ftyp.end],
        b"isom\0\0\x02\0isomiso6mp41avc1"
    );
    assert_eq!(trexes(&init), [(VIDEO, 1), (AUDIO, 1)]);

    let json = ffprobe(&path);
    check_probe(
        &json,
        &[
            Expect {
                codec: "h264",
                size: (176, 100),
                packets: v.clone(),
                all_key: false,
            },
            Expect {
                codec: "aac",
                size: (22050, 1),
                packets: a.clone(),
                all_key: true,
            },
        ],
    );

    let reader = check_with_mp4_crate(&file, &[&video, &audio], 2);
    let avc1 = reader.moov.traks[0]
        .mdia
        .minf
        .stbl
        .stsd
        .avc1
        .as_ref()
        .unwrap();
    assert_eq!((avc1.width, avc1.height), (176, 100));
    let mp4a = reader.moov.traks[1]
        .mdia
        .minf
        .stbl
        .stsd
        .mp4a
        .as_ref()
        .unwrap();
    assert_eq!(mp4a.channelcount, 1);
    assert_eq!(mp4a.samplerate.value(), 22050);
    let es = &mp4a.esds.as_ref().unwrap().es_desc;
    assert_eq!(es.dec_config.object_type_indication, 0x40);
    assert_eq!(es.dec_config.stream_type, 5);

    let read = read_fragments(&file);
    assert_eq!(read.len(), 4);
    assert_eq!(
        read.iter()
            .map(|t| (t.sequence, t.track_id))
            .collect::<Vec<_>>(),
        [(1, VIDEO), (1, AUDIO), (2, VIDEO), (2, AUDIO)]
    );
    check_fragments(&read, &video, &[v1.clone(), v2.clone()]);
    check_fragments(&read, &audio, &[a1.clone(), a2.clone()]);
    // Fragment ends: video lasts to end_ms, audio repeats its previous duration.
    let last_v = read[2].samples.last().unwrap();
    assert_eq!(last_v.duration, 90 * 100);
    let last_a = &read[3].samples;
    assert_eq!(
        last_a[last_a.len() - 1].duration,
        last_a[last_a.len() - 2].duration
    );
    // The first fragment's last samples end where the second fragment starts.
    let v_first: u64 = read[0].samples.iter().map(|s| u64::from(s.duration)).sum();
    assert_eq!(read[0].base + v_first, read[2].base);
    let a_first: u64 = read[1].samples.iter().map(|s| u64::from(s.duration)).sum();
    assert_eq!(
        read[1].base + a_first,
        to_timescale(SPLIT_MS, 22050).unwrap() as u64
    );
    // Sample flags.
    for (s, p) in read[0].samples.iter().zip(&v1) {
        let want = if p.keyframe { 0x0200_0000 } else { 0x0101_0000 };
        assert_eq!(s.flags, want);
    }
    assert!(read[1].samples.iter().all(|s| s.flags == 0x0200_0000));
}

#[test]
fn h264_aac_one_file_per_track() {
    let (video, audio, packets) = load_flv(H264_AAC_FLV);
    let (video, audio) = (video.unwrap(), audio.unwrap());
    let dir = tempfile::tempdir().unwrap();
    for (track, codec, size) in [(&video, "h264", (176, 100)), (&audio, "aac", (22050, 1))] {
        let all = of_track(&packets, track.id);
        let (p1, p2): (Vec<&Packet>, Vec<&Packet>) = all.iter().partition(|p| p.time < SPLIT_MS);
        let init = init_segment(&[track]).unwrap();
        let seg1 = media_segment(
            1,
            &[FragmentTrack {
                track,
                packets: &p1,
                end_ms: SPLIT_MS,
            }],
            true,
        )
        .unwrap();
        let end = p2.last().unwrap().time + 50;
        let seg2 = media_segment(
            2,
            &[FragmentTrack {
                track,
                packets: &p2,
                end_ms: end,
            }],
            true,
        )
        .unwrap();
        for seg in [&seg1, &seg2] {
            let styp = find(seg, &[b"styp"]);
            assert_eq!(&seg[styp[0].body..styp[0].end], b"msdh\0\0\0\0msdhcmfs");
        }
        let ftyp = find(&init, &[b"ftyp"])[0];
        let brands = &init[ftyp.body + 8..ftyp.end];
        assert!(
            brands.chunks(4).any(|b| b == b"cmfc"),
            "a one-track init is a CMAF header"
        );
        assert_eq!(trexes(&init), [(track.id, 1)]);

        let path = write_temp(&dir, &format!("{codec}.mp4"), &[&init, &seg1, &seg2]);
        let file = std::fs::read(&path).unwrap();
        check_tree(&file, 0, file.len());
        let json = ffprobe(&path);
        check_probe(
            &json,
            &[Expect {
                codec,
                size,
                packets: all.clone(),
                all_key: codec == "aac",
            }],
        );
        check_with_mp4_crate(&file, &[track], 2);
        check_fragments(&read_fragments(&file), track, &[p1, p2]);
    }
}

#[test]
fn hevc_file() {
    let (video, audio, packets) = load_flv(HEVC_FLV);
    assert!(audio.is_none());
    let video = video.unwrap();
    assert_eq!(video.codec, Some(Codec::Hevc));
    let v = of_track(&packets, VIDEO);
    let summary: Vec<(i64, i32, bool)> = v.iter().map(|p| (p.time, p.offset, p.keyframe)).collect();
    assert_eq!(
        summary,
        [(0, 200, true), (100, 200, false), (200, 200, false)]
    );
    let init = init_segment(&[&video]).unwrap();
    let end = v.last().unwrap().time + 100;
    let seg = media_segment(
        7,
        &[FragmentTrack {
            track: &video,
            packets: &v,
            end_ms: end,
        }],
        true,
    )
    .unwrap();
    let ftyp = find(&init, &[b"ftyp"])[0];
    assert_eq!(
        &init[ftyp.body..ftyp.end],
        b"isom\0\0\x02\0isomiso6mp41cmfchvc1"
    );
    let stsd = find(
        &init,
        &[
            b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"hvc1",
        ],
    );
    assert_eq!(stsd.len(), 1);
    let hvcc = find(
        &init,
        &[
            b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"hvc1",
        ],
    )
    .iter()
    .flat_map(|b| boxes(&init, b.body + 78, b.end))
    .find(|b| &b.kind == b"hvcC")
    .unwrap();
    assert_eq!(&init[hvcc.body..hvcc.end], &video.init[..]);

    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "hevc.mp4", &[&init, &seg]);
    let file = std::fs::read(&path).unwrap();
    check_tree(&file, 0, file.len());
    let json = ffprobe(&path);
    check_probe(
        &json,
        &[Expect {
            codec: "hevc",
            size: (u64::from(video.width), u64::from(video.height)),
            packets: v.clone(),
            all_key: false,
        }],
    );
    assert_eq!(json["streams"][0]["codec_tag_string"], "hvc1");
    let read = read_fragments(&file);
    assert_eq!(read[0].sequence, 7);
    check_fragments(&read, &video, &[v]);
    // The mp4 crate does not know hvc1 but reads the structure.
    let reader =
        ::mp4::Mp4Reader::read_header(std::io::Cursor::new(&file[..]), file.len() as u64).unwrap();
    assert_eq!(reader.moofs.len(), 1);
    assert_eq!(reader.moov.mvex.as_ref().unwrap().trex.track_id, VIDEO);
}

#[test]
fn mp3_file() {
    let (track, packets) = load_mp3();
    assert_eq!((track.rate, track.channels), (22050, 1));
    let all: Vec<&Packet> = packets.iter().collect();
    assert!(all.len() > 4);
    let (p1, p2) = all.split_at(all.len() / 2);
    let init = init_segment(&[&track]).unwrap();
    let seg1 = media_segment(
        1,
        &[FragmentTrack {
            track: &track,
            packets: p1,
            end_ms: p2[0].time,
        }],
        false,
    )
    .unwrap();
    // end_ms before the last frame: it lasts as long as the one before.
    let seg2 = media_segment(
        2,
        &[FragmentTrack {
            track: &track,
            packets: p2,
            end_ms: -1,
        }],
        false,
    )
    .unwrap();
    let esds = find(
        &init,
        &[
            b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"mp4a",
        ],
    )
    .iter()
    .flat_map(|b| boxes(&init, b.body + 28, b.end))
    .find(|b| &b.kind == b"esds")
    .unwrap();
    // ES_Descriptor (3), DecoderConfigDescriptor (4) with OTI 0x6B, no DecoderSpecificInfo.
    assert_eq!(
        &init[esds.body + 4..esds.end],
        [3, 21, 0, 0, 0, 4, 13, 0x6B, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 1, 2]
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "mp3.mp4", &[&init, &seg1, &seg2]);
    let file = std::fs::read(&path).unwrap();
    check_tree(&file, 0, file.len());
    check_probe(
        &ffprobe(&path),
        &[Expect {
            codec: "mp3",
            size: (22050, 1),
            packets: all.clone(),
            all_key: true,
        }],
    );
    let read = read_fragments(&file);
    check_fragments(&read, &track, &[p1.to_vec(), p2.to_vec()]);
    // Millisecond times: 576 samples = 26.1 ms, so durations are 576 give or take 1 ms.
    assert!(read[1]
        .samples
        .iter()
        .all(|s| (576 - 23..=576 + 23).contains(&s.duration)));
    let last_two = &read[1].samples[read[1].samples.len() - 2..];
    assert_eq!(last_two[0].duration, last_two[1].duration);
    // A lone frame lasts one frame: MPEG-2 Layer III has 576 samples per frame.
    let lone = media_segment(
        3,
        &[FragmentTrack {
            track: &track,
            packets: &all[1..2],
            end_ms: 0,
        }],
        false,
    )
    .unwrap();
    assert_eq!(read_fragments(&lone)[0].samples[0].duration, 576);
}
