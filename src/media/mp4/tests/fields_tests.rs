//! Box layout and fields, durations, and malformed input.

use super::*;

// ---- boxes and fields ---------------------------------------------------------------

#[test]
fn init_segment_layout() {
    let (video, audio) = (video_track(), audio_track());
    let init = init_segment(&[&video, &audio]).unwrap();
    let kinds = |path: &[&[u8; 4]]| -> Vec<String> {
        find(&init, path)
            .iter()
            .flat_map(|b| boxes(&init, b.body + child_offset(&b.kind).unwrap(), b.end))
            .map(|b| String::from_utf8_lossy(&b.kind).into_owned())
            .collect()
    };
    assert_eq!(kinds(&[b"moov"]), ["mvhd", "trak", "trak", "mvex"]);
    assert_eq!(kinds(&[b"moov", b"trak"]), ["tkhd", "mdia", "tkhd", "mdia"]);
    assert_eq!(
        kinds(&[b"moov", b"trak", b"mdia", b"minf"]),
        ["vmhd", "dinf", "stbl", "smhd", "dinf", "stbl"]
    );
    assert_eq!(
        kinds(&[b"moov", b"trak", b"mdia", b"minf", b"stbl"]),
        ["stsd", "stts", "stsc", "stsz", "stco", "stsd", "stts", "stsc", "stsz", "stco"]
    );
    assert_eq!(
        kinds(&[b"moov", b"trak", b"mdia", b"minf", b"dinf", b"dref"]),
        ["url ", "url "]
    );
    let url = find(
        &init,
        &[
            b"moov", b"trak", b"mdia", b"minf", b"dinf", b"dref", b"url ",
        ],
    );
    assert!(url
        .iter()
        .all(|b| b.end - b.start == 12 && be32(&init, b.body) == 1));
    // mvhd: version 0, timescale 1000, duration 0, next_track_ID 3.
    let mvhd = find(&init, &[b"moov", b"mvhd"])[0];
    assert_eq!(mvhd.end - mvhd.start, 108);
    assert_eq!(be32(&init, mvhd.body + 12), 1000);
    assert_eq!(be32(&init, mvhd.body + 16), 0);
    assert_eq!(be32(&init, mvhd.end - 4), 3);
    // tkhd: flags 7, ids, volume, 16.16 sizes.
    let tkhd = find(&init, &[b"moov", b"trak", b"tkhd"]);
    assert_eq!(be32(&init, tkhd[0].body), 7);
    assert_eq!(be32(&init, tkhd[0].body + 12), VIDEO);
    assert_eq!(be32(&init, tkhd[1].body + 12), AUDIO);
    assert_eq!(be32(&init, tkhd[0].end - 8), 176 << 16);
    assert_eq!(be32(&init, tkhd[0].end - 4), 100 << 16);
    assert_eq!(&init[tkhd[0].body + 36..tkhd[0].body + 38], [0, 0]);
    assert_eq!(&init[tkhd[1].body + 36..tkhd[1].body + 38], [1, 0]);
    // mdhd: timescales and "und".
    let mdhd = find(&init, &[b"moov", b"trak", b"mdia", b"mdhd"]);
    assert_eq!(be32(&init, mdhd[0].body + 12), 90_000);
    assert_eq!(be32(&init, mdhd[1].body + 12), 22_050);
    assert_eq!(&init[mdhd[0].body + 20..mdhd[0].body + 22], [0x55, 0xC4]);
    // avcC is the track's init; the AAC esds carries the ASC.
    let avc1 = find(
        &init,
        &[
            b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1",
        ],
    );
    let avcc = boxes(&init, avc1[0].body + 78, avc1[0].end)[0];
    assert_eq!(&avcc.kind, b"avcC");
    assert_eq!(&init[avcc.body..avcc.end], &video.init[..]);
    let mp4a = find(
        &init,
        &[
            b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"mp4a",
        ],
    );
    let entry = &init[mp4a[0].body..mp4a[0].body + 28];
    assert_eq!(&entry[16..18], [0, 1], "channelcount");
    assert_eq!(&entry[18..20], [0, 16], "samplesize");
    assert_eq!(&entry[24..28], (22050u32 << 16).to_be_bytes());
    let esds = boxes(&init, mp4a[0].body + 28, mp4a[0].end)[0];
    assert_eq!(&esds.kind, b"esds");
    let mut want = vec![
        3, 28, 0, 0, 0, 4, 20, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    want.extend_from_slice(&[5, 5, 0x13, 0x88, 0x56, 0xE5, 0x00, 6, 1, 2]);
    assert_eq!(audio.init[..], [0x13, 0x88, 0x56, 0xE5, 0x00]);
    assert_eq!(&init[esds.body + 4..esds.end], &want[..]);
}

#[test]
fn box_sizes_match_everywhere() {
    let (video, audio, packets) = load_flv(H264_AAC_FLV);
    let (video, audio) = (video.unwrap(), audio.unwrap());
    let (hevc, _, _) = load_flv(HEVC_FLV);
    let (mut mp3_track, _) = load_mp3();
    mp3_track.id = 3;
    for tracks in [
        vec![&video, &audio],
        vec![&video],
        vec![&audio],
        vec![hevc.as_ref().unwrap()],
        vec![&mp3_track],
        vec![&audio, &video, &mp3_track],
    ] {
        let init = init_segment(&tracks).unwrap();
        assert!(check_tree(&init, 0, init.len()) >= 3);
    }
    let v = of_track(&packets, VIDEO);
    let a = of_track(&packets, AUDIO);
    for with_styp in [false, true] {
        let seg = media_segment(
            3,
            &[
                FragmentTrack {
                    track: &audio,
                    packets: &a,
                    end_ms: 1000,
                },
                FragmentTrack {
                    track: &video,
                    packets: &v,
                    end_ms: 1000,
                },
            ],
            with_styp,
        )
        .unwrap();
        let n = check_tree(&seg, 0, seg.len());
        assert_eq!(n, usize::from(with_styp) + 1 + 1 + 2 * 4 + 1);
        let read = read_fragments(&seg);
        assert_eq!(read[0].track_id, AUDIO);
        assert_eq!(read[1].track_id, VIDEO);
        if with_styp {
            // Two tracks: not a CMAF segment.
            let styp = find(&seg, &[b"styp"])[0];
            assert_eq!(&seg[styp.body..styp.end], b"msdh\0\0\0\0msdh");
        }
    }
}

#[test]
fn timescales() {
    let mut track = audio_track();
    assert_eq!(timescale(&track), 22050);
    track.rate = 0;
    assert_eq!(timescale(&track), 48000);
    assert_eq!(timescale(&video_track()), 90000);
    assert_eq!(timescale(&Track::default()), 1000);
    assert_eq!(to_timescale(154, 22050), Ok(3396)); // 3395.7
    assert_eq!(to_timescale(-1, 90000), Ok(-90));
    assert_eq!(to_timescale(1, 1000), Ok(1));
    assert_eq!(
        to_timescale(i64::MAX, 90000),
        Err(Mp4Error::BadTime(i64::MAX))
    );
}

#[test]
fn durations_do_not_drift() {
    // 44100 Hz AAC at millisecond times: frames of 1024 samples are 23.22 ms apart.
    let mut track = audio_track();
    track.rate = 44100;
    let packets: Vec<Packet> = (0..1000i64)
        .map(|i| packet(AUDIO, i * 1024 * 1000 / 44100 + 5000, false))
        .collect();
    let refs: Vec<&Packet> = packets.iter().collect();
    let end = 1000 * 1024 * 1000 / 44100 + 5000;
    let seg = media_segment(
        1,
        &[FragmentTrack {
            track: &track,
            packets: &refs,
            end_ms: end,
        }],
        false,
    )
    .unwrap();
    let read = read_fragments(&seg);
    let total: u64 = read[0].samples.iter().map(|s| u64::from(s.duration)).sum();
    assert_eq!(read[0].base, 5000 * 441 / 10);
    assert_eq!(
        read[0].base + total,
        u64::try_from(to_timescale(end, 44100).unwrap()).unwrap()
    );
    assert!(read[0]
        .samples
        .iter()
        .all(|s| (1014..=1059).contains(&s.duration)));
}

#[test]
fn last_sample_durations() {
    let video = video_track();
    let audio = audio_track();
    let one = |track: &Track, p: &Packet, end_ms: i64| -> u32 {
        let refs = [p];
        let seg = media_segment(
            1,
            &[FragmentTrack {
                track,
                packets: &refs,
                end_ms,
            }],
            false,
        )
        .unwrap();
        read_fragments(&seg)[0].samples[0].duration
    };
    let v = packet(VIDEO, 1000, true);
    assert_eq!(one(&video, &v, 1100), 9000);
    // 10 fps from the SPS: 100 ms.
    assert_eq!(one(&video, &v, 1000), 9000);
    let mut no_rate = video.clone();
    no_rate.fpks = 0;
    assert_eq!(one(&no_rate, &v, 0), 3600);
    let a = packet(AUDIO, 1000, false);
    assert_eq!(one(&audio, &a, 900), 1024);
    let mut mp3_track = audio.clone();
    mp3_track.codec = Some(Codec::Mp3);
    mp3_track.init = Bytes::new();
    // Not an MP3 header: MPEG-1 Layer III's 1152.
    assert_eq!(one(&mp3_track, &a, 1000), 1152);
    // Two samples, no usable end: the last repeats the first's duration.
    let pair = [&v, &packet(VIDEO, 1040, false)];
    let seg = media_segment(
        1,
        &[FragmentTrack {
            track: &video,
            packets: &pair,
            end_ms: 0,
        }],
        false,
    )
    .unwrap();
    let read = read_fragments(&seg);
    assert_eq!(read[0].samples[0].duration, 3600);
    assert_eq!(read[0].samples[1].duration, 3600);
    assert_eq!(read[0].samples[1].flags, SAMPLE_NON_SYNC);
}

#[test]
fn negative_composition_offsets() {
    let video = video_track();
    let mut p = packet(VIDEO, 1000, true);
    p.offset = -40;
    let refs = [&p];
    let seg = media_segment(
        1,
        &[FragmentTrack {
            track: &video,
            packets: &refs,
            end_ms: 1040,
        }],
        false,
    )
    .unwrap();
    assert_eq!(read_fragments(&seg)[0].samples[0].composition_offset, -3600);
}

// ---- malformed input ----------------------------------------------------------------

#[test]
fn unsupported_codecs() {
    for codec in [Some(Codec::Av1), Some(Codec::Vp9), Some(Codec::Amf), None] {
        let track = Track {
            id: 5,
            codec,
            init: Bytes::from_static(b"\x01\x02\x03"),
            ..Track::default()
        };
        assert!(matches!(
            init_segment(&[&track]),
            Err(Mp4Error::Unsupported(_))
        ));
        assert!(matches!(
            init_segment(&[&video_track(), &track]),
            Err(Mp4Error::Unsupported(_))
        ));
        let p = packet(5, 0, true);
        let refs = [&p];
        assert!(matches!(
            media_segment(
                1,
                &[FragmentTrack {
                    track: &track,
                    packets: &refs,
                    end_ms: 40
                }],
                true
            ),
            Err(Mp4Error::Unsupported(_))
        ));
    }
}

#[test]
fn bad_tracks() {
    let video = video_track();
    assert_eq!(init_segment(&[]), Err(Mp4Error::Invalid("no tracks")));
    let mut zero = video.clone();
    zero.id = 0;
    assert_eq!(init_segment(&[&zero]), Err(Mp4Error::Invalid("track id 0")));
    assert_eq!(
        init_segment(&[&video, &video]),
        Err(Mp4Error::Invalid("duplicate track id"))
    );
    let mut broken = video.clone();
    broken.init = Bytes::from_static(&[1, 2]);
    assert_eq!(init_segment(&[&broken]), Err(Mp4Error::Invalid("bad avcC")));
    broken.codec = Some(Codec::Hevc);
    assert_eq!(init_segment(&[&broken]), Err(Mp4Error::Invalid("bad hvcC")));
    broken.codec = Some(Codec::Aac);
    broken.init = Bytes::new();
    assert_eq!(
        init_segment(&[&broken]),
        Err(Mp4Error::Invalid("bad AudioSpecificConfig"))
    );
    let mut wide = video.clone();
    wide.width = 70_000;
    assert!(matches!(init_segment(&[&wide]), Err(Mp4Error::Invalid(_))));
    // An MP3 track needs no init; unknown channels and rates fall back.
    let mp3_track = Track {
        id: 4,
        codec: Some(Codec::Mp3),
        ..Track::default()
    };
    assert!(init_segment(&[&mp3_track]).is_ok());
    // A rate above 16 bits is written as 0 in the sample entry, kept in mdhd.
    let mut fast = audio_track();
    fast.rate = 96_000;
    let init = init_segment(&[&fast]).unwrap();
    let mdhd = find(&init, &[b"moov", b"trak", b"mdia", b"mdhd"])[0];
    assert_eq!(be32(&init, mdhd.body + 12), 96_000);
}

#[test]
fn bad_fragments() {
    let video = video_track();
    let audio = audio_track();
    let empty: [&Packet; 0] = [];
    assert_eq!(
        media_segment(1, &[], false),
        Err(Mp4Error::Invalid("no samples in the segment"))
    );
    assert_eq!(
        media_segment(
            1,
            &[FragmentTrack {
                track: &video,
                packets: &empty,
                end_ms: 0
            }],
            false
        ),
        Err(Mp4Error::Invalid("no samples in the segment"))
    );
    // An empty track beside a non-empty one is left out.
    let a = packet(AUDIO, 0, false);
    let seg = media_segment(
        1,
        &[
            FragmentTrack {
                track: &video,
                packets: &empty,
                end_ms: 0,
            },
            FragmentTrack {
                track: &audio,
                packets: &[&a],
                end_ms: 0,
            },
        ],
        false,
    )
    .unwrap();
    assert_eq!(read_fragments(&seg).len(), 1);
    // Negative decode times.
    let neg = packet(VIDEO, -5, true);
    assert_eq!(
        media_segment(
            1,
            &[FragmentTrack {
                track: &video,
                packets: &[&neg],
                end_ms: 0
            }],
            false
        ),
        Err(Mp4Error::BadTime(-5))
    );
    // Decode times going backwards.
    let (p1, p2) = (packet(VIDEO, 100, true), packet(VIDEO, 60, false));
    assert_eq!(
        media_segment(
            1,
            &[FragmentTrack {
                track: &video,
                packets: &[&p1, &p2],
                end_ms: 0
            }],
            false
        ),
        Err(Mp4Error::BadTime(60))
    );
    // Huge times and offsets.
    let far = packet(VIDEO, i64::MAX, true);
    assert!(matches!(
        media_segment(
            1,
            &[FragmentTrack {
                track: &video,
                packets: &[&far],
                end_ms: 0
            }],
            false
        ),
        Err(Mp4Error::BadTime(_))
    ));
    let mut skewed = packet(VIDEO, 0, true);
    skewed.offset = i32::MAX;
    assert!(matches!(
        media_segment(
            1,
            &[FragmentTrack {
                track: &video,
                packets: &[&skewed],
                end_ms: 0
            }],
            false
        ),
        Err(Mp4Error::BadTime(_))
    ));
    let (q1, q2) = (packet(VIDEO, 0, true), packet(VIDEO, 100_000_000, false));
    assert!(matches!(
        media_segment(
            1,
            &[FragmentTrack {
                track: &video,
                packets: &[&q1, &q2],
                end_ms: 0
            }],
            false
        ),
        Err(Mp4Error::BadTime(100_000_000))
    ));
    // Packets of another track, repeated tracks.
    let stray = packet(AUDIO, 0, true);
    assert_eq!(
        media_segment(
            1,
            &[FragmentTrack {
                track: &video,
                packets: &[&stray],
                end_ms: 0
            }],
            false
        ),
        Err(Mp4Error::Invalid("packet of another track in a fragment"))
    );
    let ok = packet(VIDEO, 0, true);
    assert_eq!(
        media_segment(
            1,
            &[
                FragmentTrack {
                    track: &video,
                    packets: &[&ok],
                    end_ms: 0
                },
                FragmentTrack {
                    track: &video,
                    packets: &[&ok],
                    end_ms: 0
                },
            ],
            false
        ),
        Err(Mp4Error::Invalid("duplicate track id"))
    );
}

#[test]
fn size_guards() {
    // Box sizes: 32 bits including the header.
    assert_eq!(box_size(8, u64::from(u32::MAX) - 8), Ok(u32::MAX));
    assert_eq!(
        box_size(8, u64::from(u32::MAX) - 7),
        Err(Mp4Error::TooLarge)
    );
    assert_eq!(box_size(12, u64::MAX), Err(Mp4Error::TooLarge));
    // mdat: 4 GiB of samples do not fit.
    let gib = 1u64 << 30;
    assert_eq!(plan_mdat(100, &[2 * gib, 2 * gib]), Err(Mp4Error::TooLarge));
    assert_eq!(plan_mdat(100, &[u64::MAX, 1]), Err(Mp4Error::TooLarge));
    // A data_offset past i32::MAX does not fit even when the mdat would.
    assert_eq!(plan_mdat(100, &[3 * gib, 1]), Err(Mp4Error::TooLarge));
    assert_eq!(
        plan_mdat(100, &[3 * gib]),
        Ok((vec![108], 3 * 1024 * 1024 * 1024 + 8))
    );
    assert_eq!(plan_mdat(100, &[10, 20, 0]), Ok((vec![108, 118, 138], 38)));
    // Descriptors: 28-bit lengths.
    assert_eq!(descriptor(5, &[]), Ok(vec![5, 0]));
    assert_eq!(descriptor(5, &[7; 200]).unwrap()[..3], [5, 0x81, 0x48]);
    // A box body that overflows 32 bits is refused by the writer's size check.
    let mut w = Writer::default();
    assert_eq!(
        w.boxed(b"free", |_| Err(Mp4Error::TooLarge)),
        Err(Mp4Error::TooLarge)
    );
    assert_eq!(w.patch_u32(usize::MAX - 1, 0), Err(Mp4Error::TooLarge));
    assert!(w.patch_u32(100, 0).is_err());
}

#[test]
fn random_input_never_panics() {
    let mut rng = XorShift(0x5EED_1234_ABCD_0001);
    let codecs = [
        Some(Codec::H264),
        Some(Codec::Hevc),
        Some(Codec::Aac),
        Some(Codec::Mp3),
        Some(Codec::Av1),
        None,
    ];
    for _ in 0..3000 {
        let track = Track {
            id: (rng.next_u64() % 4) as u32,
            codec: codecs[(rng.next_u64() % codecs.len() as u64) as usize],
            init: Bytes::from(rng.bytes(40)),
            width: (rng.next_u64() % 70_000) as u32,
            height: (rng.next_u64() % 70_000) as u32,
            rate: (rng.next_u64() % 200_000) as u32,
            channels: (rng.next_u64() % 70_000) as u32,
            fpks: ((rng.next_u64() % 3) as u32).wrapping_mul(rng.next_u64() as u32),
            bps: rng.next_u64() >> (rng.next_u64() % 64),
            ..Track::default()
        };
        let _ = init_segment(&[&track]);
        let packets: Vec<Packet> = (0..rng.next_u64() % 6)
            .map(|_| Packet {
                track: track.id,
                time: (rng.next_u64() as i64) >> (rng.next_u64() % 64),
                offset: (rng.next_u64() as i32) >> (rng.next_u64() % 32),
                keyframe: rng.next_u64() % 2 == 0,
                data: Bytes::from(rng.bytes(8)),
            })
            .collect();
        let refs: Vec<&Packet> = packets.iter().collect();
        let end_ms = (rng.next_u64() as i64) >> (rng.next_u64() % 64);
        if let Ok(seg) = media_segment(
            rng.next_u64() as u32,
            &[FragmentTrack {
                track: &track,
                packets: &refs,
                end_ms,
            }],
            rng.next_u64() % 2 == 0,
        ) {
            check_tree(&seg, 0, seg.len());
            assert_eq!(read_fragments(&seg)[0].samples.len(), refs.len());
        }
    }
}

#[test]
fn segment_parts_are_the_segment_without_copies() {
    let (video, audio, packets) = load_flv(H264_AAC_FLV);
    let (video, audio) = (video.unwrap(), audio.unwrap());
    let v = of_track(&packets, VIDEO);
    let a = of_track(&packets, AUDIO);
    for with_styp in [false, true] {
        let tracks = [
            FragmentTrack {
                track: &video,
                packets: &v,
                end_ms: 700,
            },
            FragmentTrack {
                track: &audio,
                packets: &a,
                end_ms: 700,
            },
        ];
        let whole = media_segment(4, &tracks, with_styp).unwrap();
        let parts = media_segment_parts(4, &tracks, with_styp).unwrap();
        assert_eq!(parts.len(), whole.len());
        assert_eq!(parts.to_bytes(), whole);
        // The samples are the packets' own buffers, in traf order.
        assert_eq!(parts.samples.len(), v.len() + a.len());
        for (sample, packet) in parts.samples.iter().zip(v.iter().chain(&a)) {
            assert_eq!(sample.as_ptr(), packet.data.as_ptr());
            assert_eq!(sample.len(), packet.data.len());
        }
        let head_len = parts.head.len();
        assert_eq!(&whole[head_len - 4..head_len], b"mdat");
        let pieces = parts.into_pieces();
        let joined: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
        assert_eq!(joined, whole);
    }
    assert_eq!(
        media_segment_parts(1, &[], false),
        Err(Mp4Error::Invalid("no samples in the segment"))
    );
}
