//! The Streams panel, its create/edit form, Preview and Embed (manual §2.3), with ffmpeg
//! publishing and playing.

use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{self, media, LiveServer, Server};
use crate::ui;

/// Waits up to `limit` for `dir/name` to exist.
fn wait_file(dir: &Path, name: &str, limit: Duration) -> bool {
    crate::wait_for(limit, || dir.join(name).exists())
}

fn viewers(s: &Server, stream: &str) -> i64 {
    let v = s.api2(json!({"active_streams": {"longform": true, "fields": ["viewers"]}}));
    v["active_streams"][stream]["viewers"].as_i64().unwrap_or(0)
}

/// What the browser does (tests/browser/ui/streams.js) while this side publishes and plays with
/// ffmpeg; the two meet through marker files.
#[test]
fn create_publish_preview_embed_edit_stop_and_delete() {
    let live = LiveServer::start_full(json!({}), &["FLV", "MP4", "HLS", "HTTPTS"], &[]);
    let s = &live.server;
    let sync = tempfile::tempdir().expect("sync dir");
    let stream = "studio";
    let args = json!({"remote": true, "stream": stream, "sync": sync.path()});
    let port = s.port;
    let browser = std::thread::spawn(move || ui("streams", port, args));

    // The form created the stream and the preview said it is offline: publish to it and to a
    // wildcard stream of it.
    assert!(
        wait_file(sync.path(), "created", Duration::from_secs(90)),
        "the browser did not create the stream"
    );
    let clip = media::h264_clip();
    let logs = s.dir.path();
    let _publisher = media::publish(clip, &live.rtmp_url("live", stream), logs);
    let _child = media::publish(clip, &live.rtmp_url("live", "studio+cam2"), logs);
    assert!(live.wait_online(stream), "{}", s.stderr());

    let mut player = media::play_to_null(&live.flv_url(stream), logs);
    assert!(
        crate::wait_for(Duration::from_secs(20), || viewers(s, stream) >= 1),
        "the ffmpeg viewer counts"
    );
    std::fs::write(sync.path().join("viewer"), "1").expect("mark");

    // Stop sessions must disconnect the viewer; it must not leave before the button is pressed.
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut exited = None;
    while Instant::now() < deadline && !browser.is_finished() {
        if let Some(status) = player.child.try_wait().expect("wait") {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stop_clicked = sync.path().join("stop-clicked").exists();
    if exited.is_some() {
        std::fs::write(sync.path().join("viewer-gone"), "1").expect("mark");
    }
    let report = browser
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert!(exited.is_some(), "the viewer was not disconnected");
    assert!(
        stop_clicked,
        "the viewer left before Stop sessions was pressed: {}",
        player.log()
    );

    // The bad name was refused in the page, and nothing reached the server.
    assert!(report["badNameMessage"]
        .as_str()
        .is_some_and(|m| m.contains("a-z")));
    assert_eq!(report["streamsAfterBadName"], json!([]), "{report}");
    // The good one was stored with its segment size and the push source.
    assert_eq!(report["sourceShown"], "push://");
    assert_eq!(report["created"]["source"], "push://", "{report}");
    assert_eq!(report["created"]["segmentsize"], 2500, "{report}");
    assert_eq!(report["menuCurrent"], "Streams");

    // The preview played (currentTime advanced) over a source the browser plays, and named the
    // codecs.
    assert!(report["playedSeconds"].as_f64().unwrap_or(0.0) >= 4.0);
    let src = report["previewSource"].as_str().unwrap_or("");
    assert!(src.ends_with("/studio.mp4"), "{report}");
    let meta = report["meta"].as_str().unwrap_or("");
    assert!(
        meta.contains("H264") && meta.contains("AAC") && meta.contains("640×360"),
        "{meta}"
    );
    let log = report["playerLog"].as_str().unwrap_or("");
    assert!(
        log.contains("loadedmetadata") && log.contains("playing"),
        "{log}"
    );

    // The list: active, the ffmpeg viewer counted, the wildcard stream indented right under it.
    assert!(report["viewers"].as_i64().unwrap_or(0) >= 1, "{report}");
    assert_eq!(report["inputs"], 1, "{report}");
    assert_eq!(report["childStatus"], "Active");
    let order: Vec<&str> = report["rowOrder"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(order, ["studio", "studio+cam2"]);

    // Embed: the code loads embed_ into mistvideo_NAME; the URLs answered what they should.
    let http = format!("http://127.0.0.1:{}/", live.http);
    let code = report["embedCode"].as_str().unwrap_or("");
    assert!(
        code.contains(r#"<div class="mistvideo" id="mistvideo_studio">"#),
        "{code}"
    );
    assert!(code.contains(&format!(r#"<script src="{http}embed_studio.js">"#)));
    assert_eq!(report["embedScriptUrl"], format!("{http}embed_studio.js"));
    assert_eq!(report["jsonUrl"], format!("{http}json_studio.js"));
    assert_eq!(report["infoUrl"], format!("{http}info_studio.js"));
    assert_eq!(report["htmlUrl"], format!("{http}studio.html"));
    assert_eq!(report["embedScriptType"], "application/javascript");
    assert_eq!(report["embedScriptHasName"], true);
    assert_eq!(report["jsonType"], "application/json");
    let types = report["jsonSourceTypes"].to_string();
    assert!(types.contains("html5/video/mp4"), "{types}");
    let protocols: Vec<&str> = report["protocolUrls"]
        .as_array()
        .expect("urls")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for want in [
        format!("{http}studio.mp4"),
        format!("{http}studio.flv"),
        format!("{http}hls/studio/index.m3u8"),
        format!("rtmp://127.0.0.1:{}/play/studio", live.rtmp),
    ] {
        assert!(
            protocols.contains(&want.as_str()),
            "{want} in {protocols:?}"
        );
    }
    // The embed script is a script for this stream, fetched here too.
    let embed = s
        .client
        .get(format!("{http}embed_studio.js"))
        .send()
        .expect("embed_");
    assert!(embed.status().is_success());
    assert!(embed.text().expect("body").contains("mistvideo_"));
    assert!(report["copyNotice"].as_str().is_some());
    // A different host rewrote every URL and kept the ports; a base URL replaced the prefix.
    let other = &report["otherHost"];
    assert_eq!(
        other["json"],
        format!("http://media.example.com:{}/json_studio.js", live.http)
    );
    assert!(other["code"]
        .as_str()
        .is_some_and(|c| c.contains("media.example.com") && !c.contains("127.0.0.1")));
    let rewritten = other["protocols"].as_array().expect("urls");
    assert_eq!(rewritten.len(), protocols.len());
    assert!(rewritten.iter().all(|u| u
        .as_str()
        .is_some_and(|u| u.contains("//media.example.com:"))));
    assert!(rewritten.iter().any(|u| u
        == &json!(format!(
            "rtmp://media.example.com:{}/play/studio",
            live.rtmp
        ))));
    assert_eq!(
        report["otherBase"]["json"],
        "https://cdn.example.com/video/json_studio.js"
    );

    // Edit: the name is fixed, the changed fields reached the server, a key the form does not
    // show was kept.
    assert_eq!(report["nameReadOnly"], true);
    assert_eq!(report["segmentShown"], "2500");
    assert!(report["keptNote"]
        .as_str()
        .is_some_and(|n| n.contains("comment")));
    let edited = &report["edited"];
    assert_eq!(edited["segmentsize"], 3000, "{report}");
    assert_eq!(edited["debug"], 5, "{report}");
    assert_eq!(edited["comment"], "set by a script", "{report}");
    assert_eq!(edited["source"], "push://");

    // Deleted: gone from the server.
    assert_eq!(report["afterDelete"], json!([]), "{report}");
    let v = s.api2(json!({"streams": true}));
    assert!(v["streams"].get(stream).is_none(), "{v}");
}

/// A handler that refuses every STREAM_ADD for `blocked` (an executable that prints `false`).
fn refusing_handler(dir: &Path) -> PathBuf {
    let p = dir.join("refuse.sh");
    std::fs::write(&p, "#!/bin/sh\necho false\n").expect("script");
    let mut perm = std::fs::metadata(&p).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&p, perm).expect("chmod");
    p
}

/// The form's details with no media: Browse picks a file on the server, a source no input reads
/// is stored with a note, push:// is built from host and passphrase with the input's options,
/// always on and debug, a STREAM_ADD trigger's refusal is said, and an edit keeps what it does
/// not show.
#[test]
fn form_browse_push_options_and_a_refused_stream() {
    let media = tempfile::tempdir().expect("media dir");
    let media_path = std::fs::canonicalize(media.path()).expect("real path");
    std::fs::create_dir(media_path.join("clips")).expect("dir");
    std::fs::write(media_path.join("clips/b.mkv"), "").expect("file");
    std::fs::write(media_path.join("a.mp4"), "").expect("file");
    let handler = refusing_handler(&media_path);
    let rtmp = common::free_port();
    let cfg = json!({
        "account": {"test": {"password": common::md5_hex("test")}},
        "config": {
            "protocols": [
                {"connector": "HTTP", "port": common::free_port(), "interface": "127.0.0.1"},
                {"connector": "RTMP", "port": rtmp, "interface": "127.0.0.1"}
            ],
            "triggers": {"STREAM_ADD": [{"handler": handler, "sync": true, "streams": ["blocked"]}]}
        },
        "streams": {}
    });
    let s = Server::start(Some(&cfg.to_string()));
    let report = ui(
        "streams_form",
        s.port,
        json!({"media": media_path, "rtmpPort": rtmp}),
    );
    let v = s.api2(json!({"streams": true}));
    let streams = &v["streams"];

    // Browse: the folder's entries, into a subfolder and back, a file picked.
    let listed = report["listed"].to_string();
    assert!(
        listed.contains("clips") && listed.contains("a.mp4"),
        "{listed}"
    );
    assert!(
        report["subListed"].to_string().contains("b.mkv"),
        "{report}"
    );
    let picked = media_path.join("a.mp4").to_string_lossy().into_owned();
    assert_eq!(report["picked"], picked.as_str());
    assert_eq!(report["pickedNoteHidden"], true, "{report}");
    assert!(report["fileNote"]
        .as_str()
        .is_some_and(|n| n.contains("no input")));
    // A file stream waits for its first viewer: available, not loaded.
    assert_eq!(streams["vod_files"]["source"], picked.as_str(), "{v}");
    assert_eq!(streams["vod_files"]["online"], 2);
    assert!(report["vodStatus"]
        .as_str()
        .is_some_and(|t| t.contains("Available")));
    // The folder pick ends in a slash.
    assert_eq!(
        report["folderPicked"],
        format!("{}/clips/", media_path.to_string_lossy())
    );

    // The refused stream: the page said so, the server has none.
    assert!(
        report["refusedMessage"]
            .as_str()
            .is_some_and(|m| m.contains("STREAM_ADD")),
        "{report}"
    );
    assert!(streams.get("blocked").is_none(), "{v}");

    // push:// from host and passphrase, with the input's options.
    assert!(report["badPassMessage"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert_eq!(
        report["publishHint"],
        format!("Publish to rtmp://127.0.0.1:{rtmp}/s3cret/guarded")
    );
    let g = &streams["guarded"];
    assert_eq!(g["source"], "push://127.0.0.1@s3cret", "{v}");
    assert_eq!(g["resume"], 1);
    assert_eq!(g["debug"], 7);
    assert_eq!(g["comment"], "set by a script");
    // The edit turned "always on" off and cleared the buffer time.
    assert!(g.get("always_on").is_none(), "{v}");
    assert_eq!(report["createdGuarded"]["always_on"], true, "{report}");
    assert_eq!(report["createdGuarded"]["DVR"], 20000, "{report}");
    assert!(g.get("DVR").is_none(), "{v}");
    assert_eq!(
        report["guardedShown"],
        json!(["127.0.0.1", "s3cret", "20000", true])
    );
    // No source: refused in the page.
    assert!(report["noSourceMessage"]
        .as_str()
        .is_some_and(|m| m.contains("source")));
    assert!(streams.get("nosrc").is_none(), "{v}");
}

/// A folder stream lists its playable files in the Streams panel, and a file's preview plays.
#[test]
fn a_folder_stream_lists_its_files_and_previews_one() {
    let folder = tempfile::tempdir().expect("folder");
    let root = std::fs::canonicalize(folder.path()).expect("real path");
    std::fs::copy(media::h264_clip(), root.join("clip.flv")).expect("copy");
    std::fs::write(root.join("notes.txt"), "not media").expect("file");
    std::fs::create_dir(root.join("sub")).expect("dir");
    let source = format!("{}/", root.display());
    let live = LiveServer::start_full(
        json!({"lib": {"source": source}}),
        &["FLV", "MP4", "HLS", "HTTPTS"],
        &[],
    );
    let report = ui(
        "streams_folder",
        live.server.port,
        json!({"stream": "lib", "file": "clip.flv"}),
    );
    assert_eq!(report["rows"], json!(["lib", "lib+clip.flv"]), "{report}");
    assert_eq!(report["fileStatus"], "Available", "{report}");
    assert!(report["fileSource"]
        .as_str()
        .is_some_and(|s| s.contains("A file of lib")));
    assert!(report["played"].as_f64().unwrap_or(0.0) > 2.0, "{report}");
    assert!(
        report["previewSource"]
            .as_str()
            .map(|s| s.replace("%2B", "+").replace("%2E", "."))
            .is_some_and(|s| s.contains("/lib+clip.flv.")),
        "{report}"
    );
}
