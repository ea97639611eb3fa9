//! The client publishing to a real ffmpeg RTMP server (`ffmpeg -listen 1`): every frame of a
//! clip arrives, and the recorded duration matches what was sent.

use super::*;

async fn run_ok(cmd: &mut tokio::process::Command) -> Vec<u8> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run ffmpeg/ffprobe");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// 4 s of 640x360 H.264 (a keyframe a second) + AAC in FLV.
async fn make_clip(dir: &Path) -> PathBuf {
    let clip = dir.join("clip.flv");
    let lavfi = [
        "testsrc2=size=640x360:rate=25",
        "sine=frequency=440:sample_rate=44100",
    ];
    run_ok(
        tokio::process::Command::new("ffmpeg")
            .args([
                "-y", "-v", "error", "-f", "lavfi", "-i", lavfi[0], "-f", "lavfi", "-i", lavfi[1],
                "-t", "4", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g",
                "25", "-c:a", "aac", "-b:a", "96k",
            ])
            .arg(&clip),
    )
    .await;
    clip
}

/// FLV tags as (type, timestamp, body), read with the FLV module.
fn flv_tags(data: &[u8]) -> Vec<(u8, u32, Bytes)> {
    crate::media::flv::read_file(Bytes::copy_from_slice(data))
        .expect("an FLV file")
        .map(|tag| tag.expect("a whole tag"))
        .map(|(h, body)| (h.tag_type, h.timestamp, body))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_to_ffmpeg() {
    let dir = std::env::temp_dir().join(format!("eddy-rtmp-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clip = make_clip(&dir).await;
    let tags = flv_tags(&std::fs::read(&clip).unwrap());
    let sent_ms = tags.iter().map(|t| t.1).max().unwrap();
    assert!(tags.iter().filter(|t| t.0 == 9).count() >= 90);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = dir.join("out.flv");
    let target = format!("rtmp://127.0.0.1:{port}/live/key");
    let ffmpeg = tokio::process::Command::new("ffmpeg")
        .args([
            "-v", "error", "-listen", "1", "-timeout", "10", "-i", &target,
        ])
        .args(["-c", "copy", "-y"])
        .arg(&out)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let url = parse_url(&target).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut publisher = loop {
        match RtmpPublisher::connect(&url, T).await {
            Ok(p) => break p,
            Err(ClientError::Io(e)) if std::time::Instant::now() < deadline => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert!(publisher.stream_id() > 0);

    // The clip's onMetaData, then every tag through the select loop of the docs.
    let (tx, mut packets) = mpsc::channel::<(u8, u32, Vec<Bytes>)>(16);
    for (kind, _, body) in tags.iter().filter(|t| t.0 == 18) {
        let values = amf0::decode_all(body).unwrap();
        assert_eq!(values[0].as_str(), Some("onMetaData"), "{kind}");
        publisher.queue_metadata(&values[1..]);
    }
    let media: Vec<_> = tags.into_iter().filter(|t| t.0 == 8 || t.0 == 9).collect();
    let producer = tokio::spawn(async move {
        for (kind, ts, body) in media {
            // Prefix and data as separate parts, as Eddy builds FLV bodies.
            let cut = if kind == 9 { 5 } else { 2 }.min(body.len());
            let parts = vec![body.slice(..cut), body.slice(cut..)];
            tx.send((kind, ts, parts)).await.unwrap();
        }
    });
    let mut sent = 0usize;
    let mut counts = [0usize; 2];
    let (events, out_half) = publisher.split_mut();
    loop {
        tokio::select! {
            event = events.next_event() => event.unwrap(),
            written = out_half.flush(), if out_half.has_pending() => { written.unwrap(); }
            packet = packets.recv(), if out_half.queued_bytes() < 1 << 20 => match packet {
                Some((kind, ts, parts)) => {
                    // Frames, not sequence headers / end of sequence (packet type byte 1).
                    let frame = parts[0].get(1) == Some(&1);
                    counts[usize::from(kind == 9)] += usize::from(frame);
                    out_half.queue_media(kind, ts, &parts);
                    sent += 1;
                }
                None => break,
            },
        }
    }
    publisher.flush().await.unwrap();
    producer.await.unwrap();
    assert!(sent > 150);
    publisher.close().await;

    // ffmpeg reports the end of the connection as an input error, then exits 0.
    let done = tokio::time::timeout(Duration::from_secs(20), ffmpeg.wait_with_output())
        .await
        .expect("ffmpeg exits after the publisher closes")
        .unwrap();
    let log = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{}: {log}", done.status);
    let probe = |entries: &str| {
        let mut c = tokio::process::Command::new("ffprobe");
        c.args(["-v", "error", "-show_entries", entries, "-of", "csv=p=0"])
            .arg(&out);
        c
    };
    // Every frame arrived.
    let mut counting = probe("stream=codec_name,nb_read_packets");
    counting.arg("-count_packets");
    let codecs = String::from_utf8(run_ok(&mut counting).await).unwrap();
    let mut codecs: Vec<&str> = codecs.lines().map(str::trim).collect();
    codecs.sort();
    let expect = [format!("aac,{}", counts[0]), format!("h264,{}", counts[1])];
    assert_eq!(codecs, expect);
    let duration = String::from_utf8(run_ok(&mut probe("format=duration")).await).unwrap();
    let duration: f64 = duration.trim().parse().unwrap();
    let sent_s = f64::from(sent_ms) / 1000.0;
    eprintln!("ffmpeg wrote {duration} s, sent {sent_s} s");
    assert!(
        (duration - sent_s).abs() < 0.3,
        "got {duration} s, sent {sent_s} s"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
