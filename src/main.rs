//! `eddy`: the command line, as MistController has it. Parses flags, sets up logging, reads the
//! config, offers the first-time set-up on a terminal, then hands over to [`eddy::server::run`].

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use eddy::config::Config;
use eddy::logbook::{LogBook, LogBookLayer};
use eddy::server::{run, RunOptions};
use serde_json::json;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Eddy: a live and on-demand media server that speaks MistServer's control API.
#[derive(Parser, Debug)]
#[command(name = "eddy", version, about)]
struct Args {
    /// Config file to use.
    #[arg(short = 'c', long = "config", default_value = "config.json")]
    config: PathBuf,
    /// TCP port for the API and web UI (also the UDP API port on 127.0.0.1). Default: the
    /// config's controller port, else 4242.
    #[arg(short = 'p', long = "port")]
    port: Option<u16>,
    /// Interface address the API listens on. Default: the config's, else 0.0.0.0.
    #[arg(short = 'i', long = "interface")]
    interface: Option<String>,
    /// Create or replace an account without prompting, as `user:password`.
    #[arg(short = 'a', long = "account", value_name = "USER:PASSWORD")]
    account: Option<String>,
    /// Debug level, 0 (nothing) to 10 (everything); 3 is production, 4 adds debug lines.
    #[arg(short = 'g', long = "debug", value_name = "LEVEL")]
    debug: Option<u8>,
    /// Passphrase (URL path) for Prometheus metrics; stored into the config.
    #[arg(long = "prometheus", value_name = "PASSPHRASE")]
    prometheus: Option<String>,
    /// Seconds a changed config must stay unchanged before it is written (default 60).
    #[arg(long = "autosave-secs", default_value_t = 60, hide = true)]
    autosave_secs: u64,
    /// Seconds a session is remembered after its last connection (default 600).
    #[arg(long = "session-cache-secs", default_value_t = 600, hide = true)]
    session_cache_secs: u64,
}

/// Every 10 s, hands the heap's free pages back to the system (glibc's `malloc_trim`).
///
/// Viewers join in bursts: a thousand connections' handshakes, commands and session set-up
/// allocate at once and free most of it a moment later, leaving holes between the blocks that
/// stay. glibc returns only the top of the heap by itself, so without this the resident size
/// keeps that burst's high-water mark. Measured with the `fanout` example (1000 RTMP viewers):
/// 35.0 MiB resident before a trim, 30.5 MiB after (19.7 → 15.2 KiB per viewer). A trim of a
/// heap this size takes well under a millisecond.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap_periodically() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    let spawned = std::thread::Builder::new()
        .name("heap-trim".into())
        .spawn(|| loop {
            std::thread::sleep(Duration::from_secs(10));
            let started = std::time::Instant::now();
            // SAFETY: malloc_trim only returns free memory to the system; it takes the heap's
            // own locks and is safe to call from any thread at any time.
            unsafe {
                malloc_trim(0);
            }
            tracing::trace!("heap trimmed in {:?}", started.elapsed());
        });
    if let Err(e) = spawned {
        tracing::warn!("could not start the heap trimmer: {e}");
    }
}

fn level_filter(debug: u8) -> LevelFilter {
    match debug {
        0 => LevelFilter::OFF,
        1 | 2 => LevelFilter::ERROR,
        3 => LevelFilter::INFO,
        4 | 5 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// One malloc arena for the whole process (glibc), unless `MALLOC_ARENA_MAX` says otherwise.
///
/// glibc gives each thread that contends for the heap an arena of its own. A viewer's
/// connection is polled by whichever media thread is free, so its allocations and frees land
/// in several arenas, and each keeps the holes the others' frees leave. Measured with the
/// `fanout` example (200 RTMP viewers on 2 cores): 36 KiB of memory per viewer with glibc's
/// default, 19 KiB with one arena, at the same CPU (small blocks come from glibc's per-thread
/// cache without taking the arena's lock).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn one_malloc_arena() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    extern "C" {
        fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
    }
    const M_ARENA_MAX: std::ffi::c_int = -8;
    // SAFETY: mallopt only sets a malloc tunable; it is called first thing in `main`, before
    // any other thread exists.
    unsafe {
        mallopt(M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap_periodically() {}

fn main() -> ExitCode {
    one_malloc_arena();
    let args = Args::parse();
    let logbook = LogBook::new();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let level = level_filter(args.debug.unwrap_or(3));
    // actix's own start/stop chatter only shows at debug levels.
    let quiet = if level > LevelFilter::INFO {
        level
    } else {
        LevelFilter::WARN
    };
    let filter = Targets::new()
        .with_default(level)
        .with_target("actix_server", quiet)
        .with_target("actix_web", quiet);
    let fmt = fmt.with_filter(filter);
    tracing_subscriber::registry()
        .with(fmt)
        .with(LogBookLayer::new(logbook.clone()))
        .init();
    trim_heap_periodically();

    let loaded_bytes = match std::fs::read(&args.config) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            eprintln!(
                "eddy: cannot read config file {}: {e}",
                args.config.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let mut config = match &loaded_bytes {
        None => Config::default(),
        Some(bytes) => match Config::parse(bytes) {
            Ok(c) => c,
            Err(source) => {
                let e = eddy::config::ConfigError::Parse {
                    path: args.config.clone(),
                    source,
                };
                eprintln!("eddy: {e}");
                return ExitCode::FAILURE;
            }
        },
    };

    let mut enable_defaults = loaded_bytes.is_none() && config.config.protocols.is_empty();
    if let Some(spec) = &args.account {
        match spec.split_once(':') {
            Some((user, pass)) if !user.is_empty() && !pass.is_empty() => {
                config.set_account(user, pass)
            }
            _ => {
                eprintln!("eddy: --account needs USER:PASSWORD");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(p) = &args.prometheus {
        config.config.prometheus = Some(p.clone());
    }
    if !config.has_accounts() && std::io::stdin().is_terminal() {
        enable_defaults = first_time_setup(&mut config, enable_defaults);
    }
    if enable_defaults {
        config.config.protocols = eddy::protocols::default_protocols();
        tracing::info!(kind = "CONF", "Enabled the default protocols");
    }

    let opts = RunOptions {
        config_path: args.config.clone(),
        api_interface: args
            .interface
            .or_else(|| config.config.controller.interface.clone())
            .unwrap_or_else(|| "0.0.0.0".into()),
        api_port: args.port.or(config.config.controller.port).unwrap_or(4242),
        config,
        loaded_bytes,
        autosave_after: Duration::from_secs(args.autosave_secs),
        session_cache: Duration::from_secs(args.session_cache_secs),
        logbook,
    };
    let result = actix_rt::System::new().block_on(run(opts));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eddy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The interactive first-time set-up (manual §1.5). Returns whether to enable the default
/// protocols.
fn first_time_setup(config: &mut Config, protocols_unset: bool) -> bool {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut ask = |q: &str| -> String {
        eprint!("{q}");
        let _ = std::io::stderr().flush();
        lines
            .next()
            .and_then(Result::ok)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let mut enable = protocols_unset;
    match ask("Account not set, do you want to create an account? (y)es, (n)o, (t)est: ").as_str() {
        "y" | "Y" | "yes" => {
            let user = ask("Username: ");
            let pass = ask("Password: ");
            if user.is_empty() || pass.is_empty() {
                eprintln!("No account created: username and password must not be empty.");
            } else {
                config.set_account(&user, &pass);
                eprintln!("Account {user} created.");
            }
        }
        "t" | "T" => {
            config.set_account("test", "test");
            config
                .streams
                .insert("live".into(), json!({"name": "live", "source": "push://"}));
            eprintln!(
                "Test set-up: account test:test, stream \"live\" (push://), default protocols."
            );
            return true;
        }
        _ => {}
    }
    if protocols_unset {
        enable = !matches!(
            ask("Protocols not set, do you want to enable default protocols? (y)es, (n)o: ")
                .as_str(),
            "n" | "N" | "no"
        );
    }
    enable
}
