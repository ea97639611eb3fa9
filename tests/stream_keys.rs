//! Stream keys (MistServer 3.x `streamkeys`, `streamkey_add`, `streamkey_del`) against real
//! peers: an ffmpeg publisher that names a key as its RTMP stream publishes into the key's
//! stream past the source's host rule; the keys persist in config.json.

mod common;

use std::time::Duration;

use common::media::{h264_clip, publish, record};
use common::LiveServer;
use serde_json::json;

#[test]
fn an_ffmpeg_publisher_with_a_stream_key_publishes_into_its_stream() {
    // Only 192.0.2.0/24 may push to "cam" by address; this machine may not.
    let mut ls = LiveServer::start(json!({"cam": {"source": "push://192.0.2.0/24"}}));
    let dir = ls.server.dir.path().to_path_buf();

    // No keys: MistServer's UI reads `null`.
    let none = ls
        .server
        .api2(json!({"capabilities": true, "streamkeys": true}));
    assert_eq!(none["streamkeys"], json!(null), "{none}");
    assert!(none["capabilities"].is_object());

    // Wrong shapes get MistServer's errors and change nothing.
    let bad = ls.server.api2(json!({"streamkey_add": "k"}));
    assert_eq!(bad["error"], json!("streamkey_add must be an object"));
    let bad = ls.server.api2(json!({"streamkey_del": 7}));
    assert_eq!(
        bad["error"],
        json!("streamkey_del must be a string, object or array")
    );

    let added = ls
        .server
        .api2(json!({"streamkey_add": {"Sk3y-7f": "cam", "other": "elsewhere"}}));
    assert_eq!(
        added["streamkey_add"],
        json!({"added": ["Sk3y-7f", "other"]})
    );
    assert_eq!(
        added["streamkeys"],
        json!({"Sk3y-7f": "cam", "other": "elsewhere"})
    );

    // By name the host rule refuses this machine...
    let mut refused = publish(h264_clip(), &ls.rtmp_url("live", "cam"), &dir);
    assert!(
        refused
            .wait_timeout(Duration::from_secs(15))
            .is_some_and(|s| !s.success()),
        "a push by name from an address the rule does not list is refused"
    );
    // ... by key it is let in, into "cam"; a viewer of "cam" plays it.
    let _p = publish(h264_clip(), &ls.rtmp_url("live", "Sk3y-7f"), &dir);
    assert!(ls.wait_online("cam"), "{}", ls.server.stderr());
    let out = dir.join("cam.flv");
    let mut viewer = record(
        std::path::Path::new("ffmpeg"),
        &ls.flv_url("cam"),
        3,
        &out,
        &dir,
    );
    let status = viewer
        .wait_timeout(Duration::from_secs(30))
        .expect("viewer ends");
    assert!(status.success(), "{}", viewer.log());
    assert!(std::fs::metadata(&out).is_ok_and(|m| m.len() > 100_000));
    let active = ls.server.api2(json!({"active_streams": true}));
    assert_eq!(
        active["active_streams"],
        json!(["cam"]),
        "no stream named after the key"
    );

    // Kept in config.json, and read back after a restart.
    ls.server.api2(json!({"save": true}));
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ls.server.config_path()).expect("config"))
            .expect("json");
    assert_eq!(
        saved["streamkeys"],
        json!({"Sk3y-7f": "cam", "other": "elsewhere"})
    );
    ls.server.restart();
    assert_eq!(
        ls.server.api2(json!({"streamkeys": true}))["streamkeys"],
        json!({"Sk3y-7f": "cam", "other": "elsewhere"})
    );

    // Deleting: by key, or by key and stream (only when they match).
    let del = ls
        .server
        .api2(json!({"streamkey_del": {"other": "cam", "Sk3y-7f": "cam"}}));
    assert_eq!(del["streamkey_del"], json!({"deleted": ["Sk3y-7f"]}));
    let del = ls.server.api2(json!({"streamkey_del": "other"}));
    assert_eq!(del["streamkey_del"], json!({"deleted": ["other"]}));
    assert_eq!(del["streamkeys"], json!(null));
    // `streamkeys` with an object replaces the set.
    let set = ls.server.api2(json!({"streamkeys": {"a": "cam"}}));
    assert_eq!(set["streamkeys"], json!({"a": "cam"}));
}
