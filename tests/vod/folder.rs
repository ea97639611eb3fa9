//! Folder streams (manual §3.3.6.1): a source ending in `/` serves each file in that folder as
//! `stream+filename`; names that could leave the folder never reach the file system.

use std::time::Duration;

use serde_json::json;

use crate::common::eventually;
use crate::{assert_same_media, download, file, probe, scratch, server};

#[test]
fn a_folder_serves_its_files_as_wildcard_streams_and_nothing_else() {
    let library = scratch();
    let root = library.path();
    std::fs::copy(file("av.mp4"), root.join("Film One.mp4")).expect("copy");
    std::fs::copy(file("tone.mp3"), root.join("tone.mp3")).expect("copy");
    std::fs::create_dir(root.join("sub")).expect("subfolder");
    std::fs::copy(file("av.flv"), root.join("sub/hidden.flv")).expect("copy");
    // A file beside the folder, which a traversal would reach.
    let outside = root.parent().expect("parent").join(format!(
        "{}-outside.mp4",
        root.file_name().and_then(|n| n.to_str()).unwrap_or("x")
    ));
    std::fs::copy(file("av.mp4"), &outside).expect("copy");

    let folder = format!("{}/", root.display());
    let ls = server(json!({"lib": {"source": folder}}));
    let dir = scratch();

    // Each file is a stream, whatever characters its name has (the wildcard part keeps them).
    let out = dir.path().join("film.flv");
    assert_eq!(download(&ls, "/lib+Film%20One.mp4.flv", &out), 200);
    assert_same_media("folder file", &probe(&out), &probe(&file("av.mp4")));
    let out = dir.path().join("tone.mp3");
    assert_eq!(download(&ls, "/lib+tone.mp3.mp3", &out), 200);
    assert_eq!(probe(&out)[0].codec, "mp3");
    let info = reqwest::blocking::get(format!("http://127.0.0.1:{}/json_lib+tone.mp3.js", ls.http))
        .expect("json_")
        .text()
        .expect("body");
    assert!(info.contains("\"type\":\"vod\""), "{info}");

    // The folder's stream itself, subfolders, traversal, NUL and missing files: refused,
    // nothing served, and the server goes on.
    let outside_name = outside.file_name().and_then(|n| n.to_str()).unwrap_or("");
    for (path, why) in [
        ("/lib.flv".to_string(), "the folder itself"),
        (
            "/lib+sub%2Fhidden.flv.flv".to_string(),
            "a subfolder's file",
        ),
        ("/lib+sub.flv".to_string(), "a subfolder"),
        (format!("/lib+..%2F{outside_name}.flv"), "the parent folder"),
        (
            format!("/lib+..%5C..%2F{outside_name}.flv"),
            "the parent folder",
        ),
        ("/lib+...flv".to_string(), "dot-dot"),
        ("/lib+tone.mp3%00.flv".to_string(), "a NUL"),
        ("/lib+missing.mp4.flv".to_string(), "a missing file"),
    ] {
        let out = dir.path().join("refused");
        let status = download(&ls, &path, &out);
        // 404 from the stream, or 415 where the HTTP output does not route the path at all.
        assert!(matches!(status, 404 | 415), "{why}: {path}: {status}");
        let body = std::fs::read_to_string(&out).unwrap_or_default();
        assert!(!body.contains("FLV"), "{why}: {body}");
    }
    // The refusals are in the log, and made-up names leave no trace in `streams`.
    let logged = eventually(Duration::from_secs(5), || {
        ls.server.stderr().contains("subfolders are not served")
    });
    assert!(logged, "{}", ls.server.stderr());
    let v = ls.server.api2(json!({"streams": true}));
    let names: Vec<&String> = v["streams"]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(names, ["lib"], "{v}");
    // `browse` lists what the folder offers (its files, and the subfolder that is not served).
    let v = ls.server.api2(json!({"browse": folder}));
    let files = v["browse"]["files"].to_string();
    assert!(
        files.contains("Film One.mp4") && files.contains("tone.mp3"),
        "{v}"
    );
    // Still serving.
    let out = dir.path().join("again.flv");
    assert_eq!(download(&ls, "/lib+Film%20One.mp4.flv", &out), 200);
    let _ = std::fs::remove_file(&outside);
}
