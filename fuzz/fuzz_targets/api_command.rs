//! The API's command JSON (the `command=` of `/api`, the websocket, `Authorization: json`):
//! parsed with `serde_json::from_slice`, then every pure step a request takes without actors:
//! the config changes it asks for (streams, `config`, protocols, `ui_settings`) applied to a
//! config as the supervisor does, session and push commands, auto-push rules, trigger handlers
//! and stream names; the config then saved and read back. A config file is fuzzed too
//! (`Config::parse`), as Eddy reads one at start.
#![no_main]

use eddy::actors::config_edit::{self, ConfigChange};
use eddy::actors::push::auto;
use eddy::actors::supervisor::PushCommand;
use eddy::api::{push, sessions, settings, streams};
use eddy::config::Config;
use eddy::{stream_name, triggers};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fn names(cfg: &Config) {
    for name in cfg.streams.keys() {
        let _ = stream_name::validate(name);
        let clean = stream_name::sanitize(name);
        let _ = stream_name::base_name(&clean);
        let _ = stream_name::wildcard_part(&clean);
    }
    for t in triggers::catalogue::TRIGGERS {
        for h in triggers::handlers(&cfg.config.triggers, t.name) {
            let _ = triggers::applies(&h, "live+cam", &["#tag".to_string()]);
        }
        let _ = triggers::configured(&cfg.config.triggers, t.name, "live");
    }
    let rules = auto::rules(cfg);
    for r in &rules {
        let _ = r.applies_to("live+cam");
        let _ = r.in_window(1_700_000_000);
    }
    let _ = auto::list_answer(&rules);
    let _ = auto::stored_answer(&rules);
}

fn request(req: &Map<String, Value>) {
    let mut cfg = Config::default();
    let mut changes = settings::changes(req);
    changes.extend(streams::changes(req));
    if let Some(Value::Object(ui)) = req.get("ui_settings") {
        changes.push(ConfigChange::UiSettings(ui.clone()));
    }
    for change in changes {
        let _ = config_edit::apply(&mut cfg, change);
    }
    let _ = sessions::commands(req);
    for command in push::commands(req) {
        match command {
            PushCommand::AutoAdd(v) => {
                let _ = auto::add(&mut cfg, auto::parse_add(&v));
            }
            PushCommand::AutoRemove(v) => {
                let _ = auto::remove(&mut cfg, &auto::parse_remove(&v));
            }
            _ => {}
        }
    }
    names(&cfg);
    // What is saved reads back (floats aside, serde_json's parse is not exact).
    let saved = cfg.to_file_bytes();
    Config::parse(&saved).expect("a saved config parses");
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((b'c', rest)) => {
            if let Ok(cfg) = Config::parse(rest) {
                names(&cfg);
                let saved = cfg.to_file_bytes();
                Config::parse(&saved).expect("a saved config parses");
            }
        }
        _ => {
            if let Ok(req) = serde_json::from_slice::<Map<String, Value>>(data) {
                request(&req);
            }
        }
    }
});
