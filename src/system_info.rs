//! Machine facts for `capabilities` (manual §4.1.2): CPUs, memory, load and CPU use, read from
//! `/proc`. Each reader has a pure parser beside it so the parsing is tested on fixed text.

use std::sync::Mutex;

use serde_json::{json, Map, Value};

/// One physical CPU package.
#[derive(Debug, Clone, PartialEq)]
pub struct Cpu {
    pub model: String,
    pub cores: u64,
    pub threads: u64,
    pub mhz: u64,
}

/// Parses `/proc/cpuinfo` into packages (grouped by `physical id`).
pub fn parse_cpuinfo(text: &str) -> Vec<Cpu> {
    let mut cpus: Vec<(String, Cpu)> = Vec::new();
    for block in text.split("\n\n") {
        let mut model = String::new();
        let mut phys = String::from("0");
        let mut cores = 1;
        let mut mhz = 0.0f64;
        let mut seen = false;
        for line in block.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            match k {
                "processor" => seen = true,
                "model name" => model = v.to_string(),
                "physical id" => phys = v.to_string(),
                "cpu cores" => cores = v.parse().unwrap_or(1),
                "cpu MHz" => mhz = v.parse().unwrap_or(0.0),
                _ => {}
            }
        }
        if !seen {
            continue;
        }
        match cpus.iter_mut().find(|(p, _)| *p == phys) {
            Some((_, cpu)) => cpu.threads += 1,
            None => cpus.push((
                phys,
                Cpu {
                    model,
                    cores,
                    threads: 1,
                    mhz: mhz as u64,
                },
            )),
        }
    }
    cpus.into_iter().map(|(_, c)| c).collect()
}

/// Memory figures in MiB: `{used, cached, free, total, swapfree, swaptotal}`.
pub fn parse_meminfo(text: &str) -> Map<String, Value> {
    let kib = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let total = kib("MemTotal");
    let free = kib("MemFree");
    let cached = kib("Cached") + kib("Buffers");
    let used = total.saturating_sub(free).saturating_sub(cached);
    let mut m = Map::new();
    for (k, v) in [
        ("total", total),
        ("free", free),
        ("cached", cached),
        ("used", used),
        ("swaptotal", kib("SwapTotal")),
        ("swapfree", kib("SwapFree")),
    ] {
        m.insert(k.into(), json!(v / 1024));
    }
    m
}

/// Load averages ×100 as integers: `{one, five, fifteen}`.
pub fn parse_loadavg(text: &str) -> Map<String, Value> {
    let mut parts = text
        .split_whitespace()
        .map(|p| p.parse::<f64>().unwrap_or(0.0));
    let mut m = Map::new();
    for k in ["one", "five", "fifteen"] {
        m.insert(
            k.into(),
            json!((parts.next().unwrap_or(0.0) * 100.0).round() as i64),
        );
    }
    m
}

/// `(busy, total)` jiffies from the first line of `/proc/stat`.
pub fn parse_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    let total: u64 = v.iter().sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

static LAST_STAT: Mutex<Option<(u64, u64)>> = Mutex::new(None);

/// CPU use in tenths of a percent since the previous call (since boot on the first call).
pub fn cpu_use_tenths() -> i64 {
    let Some((busy, total)) = read("/proc/stat").as_deref().and_then(parse_stat) else {
        return 0;
    };
    let mut last = LAST_STAT.lock().unwrap_or_else(|p| p.into_inner());
    let (b0, t0) = last.unwrap_or((0, 0));
    *last = Some((busy, total));
    let (db, dt) = (busy.saturating_sub(b0), total.saturating_sub(t0));
    (db * 1000).checked_div(dt).unwrap_or(0) as i64
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The machine part of a `capabilities` answer: `cpu`, `speed`, `threads`, `mem`, `load`,
/// `cpu_use`.
pub fn machine_capabilities() -> Map<String, Value> {
    let cpus = read("/proc/cpuinfo")
        .map(|t| parse_cpuinfo(&t))
        .unwrap_or_default();
    let mem = read("/proc/meminfo")
        .map(|t| parse_meminfo(&t))
        .unwrap_or_default();
    let mut load = read("/proc/loadavg")
        .map(|t| parse_loadavg(&t))
        .unwrap_or_default();
    let total = mem.get("total").and_then(Value::as_u64).unwrap_or(0);
    let used = mem.get("used").and_then(Value::as_u64).unwrap_or(0);
    load.insert(
        "memory".into(),
        json!((used * 100).checked_div(total).unwrap_or(0)),
    );
    let mut m = Map::new();
    m.insert(
        "cpu".into(),
        Value::Array(
            cpus.iter()
                .map(|c| json!({"model": c.model, "cores": c.cores, "threads": c.threads, "mhz": c.mhz}))
                .collect(),
        ),
    );
    m.insert(
        "speed".into(),
        json!(cpus.iter().map(|c| c.mhz * c.threads).sum::<u64>()),
    );
    m.insert(
        "threads".into(),
        json!(cpus.iter().map(|c| c.threads).sum::<u64>()),
    );
    m.insert("mem".into(), Value::Object(mem));
    m.insert("load".into(), Value::Object(load));
    m.insert("cpu_use".into(), json!(cpu_use_tenths()));
    m
}

/// User and system CPU seconds of this process, from `/proc/self/stat` (Linux's clock ticks
/// are 100 per second for user-visible figures).
pub fn process_cpu_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// Resident memory of this process, from `/proc/self/statm` (4 KiB pages).
pub fn process_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|t| {
            t.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str =
        "processor\t: 0\nmodel name\t: Test CPU @ 2.00GHz\ncpu MHz\t\t: 2000.123\n\
physical id\t: 0\ncpu cores\t: 2\n\nprocessor\t: 1\nmodel name\t: Test CPU @ 2.00GHz\n\
cpu MHz\t\t: 2000.0\nphysical id\t: 0\ncpu cores\t: 2\n\n";

    #[test]
    fn cpuinfo() {
        let cpus = parse_cpuinfo(CPUINFO);
        assert_eq!(
            cpus,
            vec![Cpu {
                model: "Test CPU @ 2.00GHz".into(),
                cores: 2,
                threads: 2,
                mhz: 2000
            }]
        );
        assert!(parse_cpuinfo("garbage\n\n::::").is_empty());
    }

    #[test]
    fn meminfo_in_mib() {
        let m = parse_meminfo(
            "MemTotal: 2048000 kB\nMemFree: 1024000 kB\nBuffers: 1024 kB\nCached: 101376 kB\n\
             SwapTotal: 0 kB\nSwapFree: 0 kB\n",
        );
        assert_eq!(m["total"], 2000);
        assert_eq!(m["free"], 1000);
        assert_eq!(m["cached"], 100);
        assert_eq!(m["used"], 900);
        assert_eq!(parse_meminfo("nonsense")["total"], 0);
    }

    #[test]
    fn loadavg_and_stat() {
        let l = parse_loadavg("0.52 1.00 0.05 1/123 4567\n");
        assert_eq!(
            (l["one"].clone(), l["five"].clone(), l["fifteen"].clone()),
            (json!(52), json!(100), json!(5))
        );
        assert_eq!(
            parse_stat("cpu  10 0 10 70 10 0 0 0 0 0\n"),
            Some((20, 100))
        );
        assert_eq!(parse_stat("cpu 1 2\n"), None);
        assert_eq!(parse_stat(""), None);
    }
}
