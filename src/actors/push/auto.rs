//! Auto-push rules (manual §4.1.30-§4.1.33, facts §7.3): what `push_auto_add` stores, how
//! `push_auto_remove` finds entries, the `push_auto_list` answer, and the once-a-second
//! retry schedule. Pure code; the supervisor applies it.
//!
//! Rules live in the config under `auto_push`, an object keyed by rule id (the id is the md5
//! of the entry, so adding the same rule twice stores it once). Entries from an older
//! MistServer's `autopushes` array are read as rules too, and moved into `auto_push` at the
//! first edit.
//!
//! Matching a rule's `stream` against a stream name: `foo` matches only `foo`; `foo+` matches
//! every wildcard instance `foo+...` but not `foo`; `foo+bar` only that instance. `#tag`
//! patterns match streams carrying the tag; Eddy has no stream tags yet, so they match none.
//! `inhibit` (a pattern or a list of them) keeps matching streams from getting the push.
//!
//! `scheduletime` (unix seconds) holds a rule back until then; a rule with only a
//! `scheduletime` is removed once it started. After `completetime` a rule's pushes are stopped
//! and the rule is removed. `start_rule`/`end_rule` (variable conditions) are kept in the
//! config as given but not evaluated: Eddy has no custom stream variables yet.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Map, Value};

use crate::config::Config;

/// The config key rules are stored under, and the legacy one still read.
pub const KEY: &str = "auto_push";
pub const LEGACY_KEY: &str = "autopushes";

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoPush {
    pub id: String,
    pub stream: String,
    pub target: String,
    pub scheduletime: Option<i64>,
    pub completetime: Option<i64>,
    pub inhibit: Vec<String>,
    /// The entry as stored.
    pub entry: Map<String, Value>,
}

impl AutoPush {
    fn from_entry(id: String, entry: Map<String, Value>) -> Option<AutoPush> {
        let text = |k: &str| entry.get(k).and_then(Value::as_str).map(String::from);
        let time = |k: &str| entry.get(k).and_then(Value::as_i64).filter(|t| *t > 0);
        let inhibit = match entry.get("inhibit") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        Some(AutoPush {
            stream: text("stream")?,
            target: text("target")?,
            scheduletime: time("scheduletime"),
            completetime: time("completetime"),
            inhibit,
            id,
            entry,
        })
    }

    /// Whether the rule applies to stream `name` (and is not inhibited for it).
    pub fn applies_to(&self, name: &str) -> bool {
        stream_matches(&self.stream, name) && !self.inhibit.iter().any(|p| stream_matches(p, name))
    }

    /// Whether the rule may start pushes at `now` (unix seconds).
    pub fn in_window(&self, now: i64) -> bool {
        self.scheduletime.is_none_or(|t| t <= now) && self.completetime.is_none_or(|t| now < t)
    }
}

/// Whether a push pattern matches a stream name (see the module docs).
pub fn stream_matches(pattern: &str, name: &str) -> bool {
    if pattern.starts_with('#') {
        return false;
    }
    let wanted = crate::stream_name::sanitize(pattern);
    if wanted.is_empty() {
        return false;
    }
    if pattern.ends_with('+') {
        name.len() > wanted.len() && name.starts_with(&wanted)
    } else {
        wanted == name
    }
}

/// The rules in a configuration, `auto_push` first, then legacy `autopushes` entries.
pub fn rules(cfg: &Config) -> Vec<AutoPush> {
    let mut out = Vec::new();
    if let Some(Value::Object(map)) = cfg.extra.get(KEY) {
        for (id, v) in map {
            if let Some(rule) = v
                .as_object()
                .and_then(|e| AutoPush::from_entry(id.clone(), e.clone()))
            {
                out.push(rule);
            }
        }
    }
    if let Some(Value::Array(list)) = cfg.extra.get(LEGACY_KEY) {
        for v in list {
            if let Some(entry) = normalise(v) {
                if let Some(rule) = AutoPush::from_entry(entry_id(&entry), entry) {
                    out.push(rule);
                }
            }
        }
    }
    out
}

/// A rule id: the md5 of the entry's JSON.
fn entry_id(entry: &Map<String, Value>) -> String {
    crate::config::md5_hex(Value::Object(entry.clone()).to_string().as_bytes())
}

/// One entry in object form, from the object or the positional array form
/// `[stream, target, scheduletime, completetime, startVar, startOp, startVal, endVar, endOp,
/// endVal]`. Zero or absent times are dropped. `None` when stream or target is missing.
pub fn normalise(v: &Value) -> Option<Map<String, Value>> {
    let mut entry = match v {
        Value::Object(o) => {
            let mut e = o.clone();
            // The long-form rule names become the compact arrays.
            for (prefix, key) in [("start", "start_rule"), ("end", "end_rule")] {
                let parts: Vec<Value> = ["VariableName", "VariableOperator", "VariableValue"]
                    .iter()
                    .filter_map(|s| e.remove(&format!("{prefix}{s}")))
                    .collect();
                if parts.len() == 3 && !e.contains_key(key) {
                    e.insert(key.into(), Value::Array(parts));
                }
            }
            e
        }
        Value::Array(a) => {
            let mut e = Map::new();
            e.insert("stream".into(), a.first()?.clone());
            e.insert("target".into(), a.get(1)?.clone());
            for (i, key) in [(2, "scheduletime"), (3, "completetime")] {
                if let Some(t) = a.get(i) {
                    e.insert(key.into(), t.clone());
                }
            }
            if a.len() >= 7 {
                e.insert("start_rule".into(), Value::Array(a[4..7].to_vec()));
            }
            if a.len() >= 10 {
                e.insert("end_rule".into(), Value::Array(a[7..10].to_vec()));
            }
            e
        }
        _ => return None,
    };
    for key in ["scheduletime", "completetime"] {
        let t = entry.get(key).and_then(|t| match t {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        match t.filter(|t| *t > 0) {
            Some(t) => entry.insert(key.into(), json!(t)),
            None => entry.remove(key),
        };
    }
    let ok = |k: &str| {
        entry
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    (ok("stream") && ok("target")).then_some(entry)
}

/// The entries a `push_auto_add` value adds, with their ids: one entry (object or positional
/// array), a list of entries, or an object of entries keyed by id.
pub fn parse_add(v: &Value) -> Vec<(String, Map<String, Value>)> {
    let single = |v: &Value| normalise(v).map(|e| (entry_id(&e), e));
    match v {
        Value::Object(o) if o.contains_key("stream") || o.contains_key("target") => {
            single(v).into_iter().collect()
        }
        Value::Object(o) => o
            .iter()
            .filter_map(|(id, e)| normalise(e).map(|e| (id.clone(), e)))
            .collect(),
        Value::Array(a) if a.first().is_some_and(Value::is_string) => {
            single(v).into_iter().collect()
        }
        Value::Array(a) => a.iter().filter_map(single).collect(),
        _ => Vec::new(),
    }
}

/// What a `push_auto_remove` value removes.
#[derive(Debug, Clone, PartialEq)]
pub enum Removal {
    /// Entries equal to this stream and target.
    Spec { stream: String, target: String },
    /// An id, or else every entry of that stream (and entries without a stream).
    Name(String),
}

/// Parses `push_auto_remove`: a spec (object or `[stream, target]`), an id or stream name, or
/// an array of those. A top-level array of two strings whose second looks like a target (it has
/// a `/` or a `:`) is a spec; otherwise an array of strings is a list of names (manual §4.1.31).
pub fn parse_remove(v: &Value) -> Vec<Removal> {
    let spec = |v: &Value| {
        normalise(v).map(|e| Removal::Spec {
            stream: e["stream"].as_str().unwrap_or_default().to_string(),
            target: e["target"].as_str().unwrap_or_default().to_string(),
        })
    };
    match v {
        Value::String(s) => vec![Removal::Name(s.clone())],
        Value::Object(_) => spec(v).into_iter().collect(),
        Value::Array(a) => {
            let pair_spec = a.len() == 2
                && a[0].is_string()
                && a[1].as_str().is_some_and(|t| t.contains(['/', ':']));
            if pair_spec {
                return spec(v).into_iter().collect();
            }
            a.iter()
                .filter_map(|x| match x {
                    Value::String(s) => Some(Removal::Name(s.clone())),
                    Value::Object(_) | Value::Array(_) => spec(x),
                    _ => None,
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Runs `f` on the `auto_push` object, after moving legacy `autopushes` entries into it.
fn with_store<R>(cfg: &mut Config, f: impl FnOnce(&mut Map<String, Value>) -> R) -> R {
    let mut map = match cfg.extra.remove(KEY) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Some(Value::Array(list)) = cfg.extra.remove(LEGACY_KEY) {
        for e in list.iter().filter_map(normalise) {
            map.insert(entry_id(&e), Value::Object(e));
        }
    }
    let out = f(&mut map);
    cfg.extra.insert(KEY.into(), Value::Object(map));
    out
}

/// Adds entries; returns how many were new.
pub fn add(cfg: &mut Config, entries: Vec<(String, Map<String, Value>)>) -> usize {
    with_store(cfg, |map| {
        let mut added = 0;
        for (id, e) in entries {
            if !map.values().any(|v| v.as_object() == Some(&e)) {
                added += 1;
                map.insert(id, Value::Object(e));
            }
        }
        added
    })
}

/// Removes matching entries; returns the ids removed.
pub fn remove(cfg: &mut Config, removals: &[Removal]) -> Vec<String> {
    with_store(cfg, |map| {
        let mut gone = Vec::new();
        map.retain(|id, v| {
            let stream = v.get("stream").and_then(Value::as_str);
            let target = v.get("target").and_then(Value::as_str);
            let hit = removals.iter().any(|r| match r {
                Removal::Spec {
                    stream: s,
                    target: t,
                } => stream == Some(s.as_str()) && target == Some(t.as_str()),
                Removal::Name(n) => id == n || stream.is_none_or(|s| s == n),
            });
            if hit {
                gone.push(id.clone());
            }
            !hit
        });
        gone
    })
}

/// Removes rules by id.
pub fn remove_ids(cfg: &mut Config, ids: &[String]) {
    with_store(cfg, |map| map.retain(|id, _| !ids.contains(id)));
}

/// `push_auto_list`: `[stream, target, scheduletime|null, completetime|null, startVar,
/// startOp, startVal, endVar, endOp, endVal]` per rule, cut after the last group in use.
pub fn list_answer(rules: &[AutoPush]) -> Value {
    let rows = rules.iter().map(|r| {
        let mut row = vec![json!(r.stream), json!(r.target)];
        let time = |t: Option<i64>| t.map_or(Value::Null, |t| json!(t));
        let rule = |k: &str| -> Option<Vec<Value>> {
            r.entry.get(k).and_then(Value::as_array).map(|a| a.to_vec())
        };
        let (start, end) = (rule("start_rule"), rule("end_rule"));
        if r.scheduletime.is_some() || r.completetime.is_some() || start.is_some() || end.is_some()
        {
            row.push(time(r.scheduletime));
            row.push(time(r.completetime));
        }
        if start.is_some() || end.is_some() {
            let three = |v: Option<Vec<Value>>| v.unwrap_or_else(|| vec![Value::Null; 3]);
            row.extend(three(start));
            if end.is_some() {
                row.extend(three(end));
            }
        }
        Value::Array(row)
    });
    Value::Array(rows.collect())
}

/// The `auto_push` answer: the stored rules by id.
pub fn stored_answer(rules: &[AutoPush]) -> Value {
    Value::Object(
        rules
            .iter()
            .map(|r| (r.id.clone(), Value::Object(r.entry.clone())))
            .collect(),
    )
}

/// What one tick of the schedule decided.
#[derive(Debug, Default, PartialEq)]
pub struct TickPlan {
    /// `(stream, target)` pushes to start.
    pub start: Vec<(String, String)>,
    /// Rules past their `completetime`: stop their pushes and remove them.
    pub expired: Vec<String>,
    /// Rules with only a `scheduletime` that started: remove them.
    pub done: Vec<String>,
}

/// The once-a-second restart schedule (facts §7.3): for every active stream a rule applies to
/// and that has no push of it running, a counter grows by one per tick; the push starts once it
/// reaches `wait` (so a push that stopped or failed restarts after `wait` seconds), at most
/// `maxspeed` starts per tick (0: no limit). With `wait` 0 nothing restarts (scheduled rules
/// still start at their time).
#[derive(Debug, Default)]
pub struct Schedule {
    counters: HashMap<(String, String), i64>,
}

impl Schedule {
    pub fn tick(
        &mut self,
        rules: &[AutoPush],
        active: &BTreeSet<String>,
        running: impl Fn(&str, &str) -> bool,
        settings: &crate::config::PushSettings,
        now: i64,
    ) -> TickPlan {
        let mut plan = TickPlan::default();
        let mut seen = BTreeSet::new();
        for rule in rules {
            if rule.completetime.is_some_and(|t| t <= now) {
                plan.expired.push(rule.id.clone());
                continue;
            }
            let scheduled = rule.scheduletime.is_some();
            if !rule.in_window(now) || !(settings.wait > 0 || scheduled) {
                continue;
            }
            for stream in active.iter().filter(|s| rule.applies_to(s)) {
                let key = (stream.clone(), rule.target.clone());
                seen.insert(key.clone());
                if running(stream, &rule.target) {
                    self.counters.remove(&key);
                    continue;
                }
                let count = self.counters.entry(key.clone()).or_insert(0);
                *count += 1;
                let limit_hit =
                    settings.maxspeed > 0 && plan.start.len() as i64 >= settings.maxspeed;
                if *count >= settings.wait.max(1) && !limit_hit {
                    self.counters.remove(&key);
                    if scheduled && rule.completetime.is_none() {
                        plan.done.push(rule.id.clone());
                    }
                    plan.start.push(key);
                }
            }
        }
        self.counters.retain(|k, _| seen.contains(k));
        plan
    }

    /// Forgets a stream's counters (it ended).
    pub fn forget(&mut self, stream: &str) {
        self.counters.retain(|(s, _), _| s != stream);
    }
}

#[cfg(test)]
#[path = "auto_tests.rs"]
mod tests;
