//! Statistics store benchmark: memory and query time at scale, in-process.
//!
//! ```sh
//! cargo run --release --example stats_store                    # 10 000 sessions, 10 minutes
//! cargo run --release --example stats_store -- --sessions 1000 --seconds 600 --churn 0
//! ```
//!
//! It opens N sessions (viewers of 50 streams over RTMP, FLV and HLS, plus one input per
//! stream), then simulates `--seconds` of once-a-second samples with every session moving
//! bytes; with `--churn P`, P % of the sessions leave each minute and as many new ones join
//! (the ended ones stay cached, as the server keeps them for ten minutes). It prints the
//! records kept, the heap they hold (counted by a counting allocator, so the figure is exact),
//! and the time of one sample, one `clients` and one `totals` query over everything.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use eddy::hub::session::{ConnCounters, SessionKind};
use eddy::stats::{query, RecordKey, Stats};
use serde_json::json;

struct Counting;

static HEAP: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        HEAP.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        HEAP.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        HEAP.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let sessions = arg("--sessions", 10_000) as usize;
    let seconds = arg("--seconds", 600) as i64;
    let churn = arg("--churn", 10) as usize;
    let stats = Stats::new();
    let base = HEAP.load(Ordering::Relaxed);
    let protocols = ["RTMP", "FLV", "HLS"];
    let mut live: Vec<(RecordKey, Arc<ConnCounters>)> = Vec::new();
    let mut n = 0usize;
    let mut open = |stats: &Stats, live: &mut Vec<(RecordKey, Arc<ConnCounters>)>| {
        n += 1;
        let c = Arc::new(ConnCounters::default());
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n as u32));
        let kind = if n % 200 == 0 {
            SessionKind::Input
        } else {
            SessionKind::Viewer
        };
        let key = stats.open(
            format!("{n:064x}"),
            format!("stream{}", n % 50),
            ip,
            kind,
            c.clone(),
        );
        stats.joined(key, protocols[n % 3]);
        live.push((key, c));
    };
    for _ in 0..sessions {
        open(&stats, &mut live);
    }
    let start = eddy::stats::unix_now();
    let mut sample_us = 0u128;
    for t in start..start + seconds {
        for (_, c) in &live {
            c.sent(3000, 10, Some((t - start) * 1000));
        }
        let before = Instant::now();
        stats.sample(t);
        sample_us = before.elapsed().as_micros();
        if churn > 0 && (t - start) % 60 == 59 {
            let leaving = live.len() * churn / 100;
            for (key, _) in live.drain(..leaving) {
                stats.left(key);
            }
            for _ in 0..leaving {
                open(&stats, &mut live);
            }
        }
    }
    let now = start + seconds - 1;
    let heap = HEAP.load(Ordering::Relaxed) - base;
    let (records, estimate) = stats.footprint();
    let store = stats.lock();
    let before = Instant::now();
    let c = query::clients(&store, &json!({"time": -3}), now);
    let clients_ms = before.elapsed().as_secs_f64() * 1000.0;
    let before = Instant::now();
    let t = query::totals(&store, &json!({}), now);
    let totals_ms = before.elapsed().as_secs_f64() * 1000.0;
    let before = Instant::now();
    let tf = query::totals(&store, &json!({"streams": ["stream7"], "start": -60}), now);
    let filtered_ms = before.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{sessions} sessions, {seconds} s, churn {churn} %/min: {records} records kept, heap {:.1} MiB ({:.0} B per record; estimate {:.1} MiB)",
        heap as f64 / 1048576.0,
        heap as f64 / records.max(1) as f64,
        estimate as f64 / 1048576.0
    );
    println!("one sample: {:.2} ms", sample_us as f64 / 1000.0);
    println!(
        "clients (time -3): {} rows in {clients_ms:.1} ms",
        c["data"].as_array().map_or(0, Vec::len)
    );
    println!(
        "totals (10 minutes): {} points in {totals_ms:.1} ms; one stream, last minute: {} points in {filtered_ms:.1} ms",
        t["data"].as_array().map_or(0, Vec::len),
        tf["data"].as_array().map_or(0, Vec::len)
    );
}
