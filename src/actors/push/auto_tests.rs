use super::*;
use crate::config::PushSettings;

fn cfg_with(rules: &Value) -> Config {
    let mut cfg = Config::default();
    add(&mut cfg, parse_add(rules));
    cfg
}

#[test]
fn matching() {
    assert!(stream_matches("foo", "foo"));
    assert!(!stream_matches("foo", "foo+bar"));
    assert!(stream_matches("foo+", "foo+bar"));
    assert!(stream_matches("foo+", "foo+baz"));
    assert!(!stream_matches("foo+", "foo"));
    assert!(!stream_matches("foo+", "foobar+x"));
    assert!(stream_matches("foo+bar", "foo+bar"));
    assert!(!stream_matches("foo+bar", "foo+baz"));
    assert!(!stream_matches("foo+bar", "bar+foo"));
    assert!(
        stream_matches("Foo", "foo"),
        "patterns are sanitised like names"
    );
    assert!(!stream_matches("#tag", "foo"));
    assert!(!stream_matches("", "foo"));
    assert!(!stream_matches("+", "foo"));
}

#[test]
fn add_forms() {
    let object = parse_add(&json!({"stream": "live", "target": "/r/$stream.mp4"}));
    let array = parse_add(&json!(["live", "/r/$stream.mp4"]));
    assert_eq!(object.len(), 1);
    assert_eq!(object, array, "both forms give the same entry and id");
    let list = parse_add(&json!([["a", "/a.ts"], {"stream": "b", "target": "/b.ts"}]));
    assert_eq!(list.len(), 2);
    let keyed = parse_add(&json!({"x1": {"stream": "a", "target": "/a.ts"}}));
    assert_eq!(keyed[0].0, "x1");
    let timed = parse_add(&json!(["a", "/a.ts", 0, 1_900_000_000, "$x", 2, "1"]));
    assert_eq!(
        timed[0].1.get("scheduletime"),
        None,
        "zero times are dropped"
    );
    assert_eq!(timed[0].1["completetime"], 1_900_000_000);
    assert_eq!(timed[0].1["start_rule"], json!(["$x", 2, "1"]));
    for bad in [
        json!(null),
        json!(5),
        json!("live"),
        json!(["live"]),
        json!({"stream": "live"}),
        json!({"stream": "", "target": "/x.ts"}),
        json!([1, 2]),
    ] {
        assert!(parse_add(&bad).is_empty(), "{bad} must add nothing");
    }
}

#[test]
fn add_is_idempotent_and_persisted() {
    let mut cfg = cfg_with(&json!(["live", "/r/a.mp4"]));
    assert_eq!(
        add(
            &mut cfg,
            parse_add(&json!({"stream": "live", "target": "/r/a.mp4"}))
        ),
        0
    );
    assert_eq!(rules(&cfg).len(), 1);
    let bytes = cfg.to_file_bytes();
    let back = Config::parse(&bytes).expect("parses");
    assert_eq!(rules(&back), rules(&cfg));
}

#[test]
fn remove_forms() {
    let all = json!([
        ["live", "/r/a.mp4"],
        ["live", "/r/b.mp4"],
        ["other", "/r/c.mp4"],
        ["third", "/r/d.mp4"]
    ]);
    let mut cfg = cfg_with(&all);
    remove(&mut cfg, &parse_remove(&json!(["live", "/r/a.mp4"])));
    assert_eq!(
        rules(&cfg).len(),
        3,
        "a [stream, target] pair removes that entry"
    );
    remove(
        &mut cfg,
        &parse_remove(&json!({"stream": "live", "target": "/r/b.mp4"})),
    );
    assert_eq!(rules(&cfg).len(), 2);
    let id = rules(&cfg)[0].id.clone();
    remove(&mut cfg, &parse_remove(&json!(id)));
    assert_eq!(rules(&cfg).len(), 1, "an id removes that entry");

    let mut cfg = cfg_with(&all);
    remove(&mut cfg, &parse_remove(&json!("live")));
    assert_eq!(
        rules(&cfg).len(),
        2,
        "a stream name removes all its entries"
    );
    remove(&mut cfg, &parse_remove(&json!(["other", "third"])));
    assert!(rules(&cfg).is_empty(), "a list of names");

    let mut cfg = cfg_with(&all);
    for junk in [json!(null), json!(3), json!({}), json!([])] {
        remove(&mut cfg, &parse_remove(&junk));
    }
    assert_eq!(rules(&cfg).len(), 4, "junk removes nothing");
}

#[test]
fn legacy_entries_are_read_and_migrated() {
    let mut cfg = Config::parse(br#"{"autopushes":[["live","/tmp/rec.flv"]]}"#).expect("parses");
    assert_eq!(rules(&cfg).len(), 1);
    add(&mut cfg, parse_add(&json!(["b", "/b.ts"])));
    assert!(!cfg.extra.contains_key(LEGACY_KEY));
    assert_eq!(rules(&cfg).len(), 2);
}

#[test]
fn list_answer_shape() {
    let cfg = cfg_with(&json!([
        ["live", "/a.ts"],
        ["live", "/b.ts", 0, 1_900_000_000],
        {"stream": "x", "target": "/c.ts", "start_rule": ["$a", 0, ""]}
    ]));
    let list = list_answer(&rules(&cfg));
    let rows = list.as_array().expect("array");
    assert!(rows.contains(&json!(["live", "/a.ts"])));
    assert!(rows.contains(&json!(["live", "/b.ts", null, 1_900_000_000])));
    assert!(rows.contains(&json!(["x", "/c.ts", null, null, "$a", 0, ""])));
}

#[test]
fn schedule_restarts_after_wait_with_maxspeed() {
    let cfg = cfg_with(&json!([["rec+", "/r/$stream.ts"]]));
    let rules = rules(&cfg);
    let active: BTreeSet<String> = ["rec+a", "rec+b", "rec+c", "other"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let settings = PushSettings {
        wait: 2,
        maxspeed: 2,
        extra: Map::new(),
    };
    let mut s = Schedule::default();
    let none_running = |_: &str, _: &str| false;
    assert!(s
        .tick(&rules, &active, none_running, &settings, 0)
        .start
        .is_empty());
    let second = s.tick(&rules, &active, none_running, &settings, 1);
    assert_eq!(second.start.len(), 2, "maxspeed caps starts per tick");
    let third = s.tick(&rules, &active, none_running, &settings, 2);
    assert_eq!(
        third.start,
        vec![("rec+c".to_string(), "/r/$stream.ts".to_string())]
    );
    // Running pushes do not count up.
    let all_running = |_: &str, _: &str| true;
    assert!(s
        .tick(&rules, &active, all_running, &settings, 3)
        .start
        .is_empty());
    // wait 0: never restart.
    let off = PushSettings {
        wait: 0,
        maxspeed: 0,
        extra: Map::new(),
    };
    for t in 0..5 {
        assert!(s
            .tick(&rules, &active, none_running, &off, t)
            .start
            .is_empty());
    }
}

#[test]
fn schedule_windows() {
    let cfg = cfg_with(&json!([["live", "/a.ts", 100], ["live", "/b.ts", 0, 50]]));
    let rules = rules(&cfg);
    let active: BTreeSet<String> = ["live".to_string()].into();
    let settings = PushSettings {
        wait: 0,
        maxspeed: 0,
        extra: Map::new(),
    };
    let mut s = Schedule::default();
    let plan = s.tick(&rules, &active, |_, _| false, &settings, 10);
    assert!(plan.start.is_empty() && plan.expired.is_empty());
    let plan = s.tick(&rules, &active, |_, _| false, &settings, 60);
    assert_eq!(plan.expired.len(), 1, "past completetime");
    let plan = s.tick(&rules, &active, |_, _| false, &settings, 100);
    assert_eq!(plan.start, vec![("live".to_string(), "/a.ts".to_string())]);
    assert_eq!(
        plan.done.len(),
        1,
        "a scheduled-only rule goes once started"
    );
    // Inhibit.
    let cfg = cfg_with(&json!({"stream": "rec+", "target": "/x.ts", "inhibit": "rec+secret"}));
    let r = &super::rules(&cfg)[0];
    assert!(r.applies_to("rec+a"));
    assert!(!r.applies_to("rec+secret"));
}
