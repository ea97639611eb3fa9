//! `dtsc://host[:port][/stream]` (manual §3.3.2, facts §10.4): pulling a stream from another
//! Eddy or MistServer over DTSC.
//!
//! The port defaults to 4200. Which stream is asked for (manual §3.3.2): with no stream in the
//! URL, the local stream's own name; with one, that name, and when the local stream is a
//! wildcard stream (`base+foo`) and the URL names no wildcard, `+foo` is appended, so one
//! configured stream `base` with source `dtsc://origin/base` serves every `base+…` of the
//! origin under the same names. The input connects, sends `play`, takes the header's tracks
//! and the `DTP2` packets into the stream's publisher, and answers the origin's pings.
//!
//! A lost connection (the origin restarted, a network cut) is retried within the same input,
//! with back-off, so the stream's viewers stay; after [`OUTAGE`] without data the input ends
//! and the stream's pull machinery starts it again. Across reconnections the viewers' time
//! keeps going forward ([`Timeline`]): when the origin's header has the same `unixzero` (the
//! same broadcast, rejoined) packets keep their times and what was already taken is not taken
//! twice; otherwise (the origin restarted, or an on-demand origin played to its end and starts
//! again) the new packets follow on right after the last ones.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::hub::outlets::InputEnd;
use crate::hub::Publisher;
use crate::media::dtsc::frame::command_frame;
use crate::media::dtsc::{meta, Frame, Value};
use crate::media::Track;
use crate::protocols::dtsc::socket::{send, DtscError, FrameReader};
use crate::protocols::dtsc::{command, command_name, version};

/// The input's name (`capabilities`, STREAM_READY).
pub const NAME: &str = "DTSC";
const SCHEME: &str = "dtsc://";
/// The DTSC port when the URL gives none (facts §9.1).
pub const DEFAULT_PORT: u16 = 4200;
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// An origin that sends nothing (not even a ping: MistServer and Eddy ping every 2 s) for this
/// long is gone.
const SILENCE: Duration = Duration::from_secs(15);
/// How long the origin may bring nothing before the input ends.
pub const OUTAGE: Duration = Duration::from_secs(30);
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(4);
/// Two `unixzero`s this close are the same broadcast.
const SAME_ZERO_MS: i64 = 1_000;
/// A track whose time goes back more than this within one connection starts a new timeline.
const BACKWARDS_MS: i64 = 5_000;

/// Whether this input reads `source`.
pub fn reads(source: &str) -> bool {
    source
        .get(..SCHEME.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(SCHEME))
}

/// Where to pull from and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub host: String,
    pub port: u16,
    /// The stream to `play` on the origin.
    pub stream: String,
}

/// Parses a `dtsc://` source for the local stream `local` (manual §3.3.2).
pub fn parse(source: &str, local: &str) -> Result<Origin, String> {
    if !reads(source) {
        return Err(format!("{source:?} does not start with {SCHEME}"));
    }
    let rest = &source[SCHEME.len()..];
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    // MistServer's host:port@password form: the password is not used by Eddy's output.
    let authority = authority.split('@').next().unwrap_or("");
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, p) = v6
            .split_once(']')
            .ok_or_else(|| format!("{source:?}: unclosed [ in the host"))?;
        (h, p.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{source:?}: no host (dtsc://host[:port][/stream])"));
    }
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some(p) => p
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{source:?}: {p:?} is not a port"))?,
    };
    let named = path.split('?').next().unwrap_or("").trim_matches('/');
    let named = crate::protocols::http::percent_decode(named);
    let stream = if named.is_empty() {
        local.to_string()
    } else {
        match local.split_once('+') {
            Some((_, wildcard)) if !named.contains('+') => format!("{named}+{wildcard}"),
            _ => named,
        }
    };
    Ok(Origin {
        host: host.to_string(),
        port,
        stream,
    })
}

/// Keeps the times handed to the stream going forward across reconnections (module doc).
#[derive(Debug, Default)]
pub struct Timeline {
    /// Added to the origin's times.
    shift: i64,
    /// The newest time handed on (after the shift).
    last: Option<i64>,
    /// The newest time handed on per track.
    per_track: Vec<(u32, i64)>,
    /// The `unixzero` of the timeline in use.
    zero: Option<i64>,
    /// A new connection's header was seen: its first packet decides about the shift.
    pending: Option<Option<i64>>,
}

impl Timeline {
    /// A new connection's first header, with its `unixzero`.
    pub fn connected(&mut self, unixzero: Option<i64>) {
        self.pending = Some(unixzero);
    }

    /// The time to hand on for a packet of `track` at the origin's `time`; `None` when it was
    /// handed on already (the overlap after rejoining the same broadcast).
    pub fn map(&mut self, track: u32, time: i64) -> Option<i64> {
        if let Some(zero) = self.pending.take() {
            let same =
                matches!((zero, self.zero), (Some(a), Some(b)) if (a - b).abs() <= SAME_ZERO_MS);
            if let (Some(last), false) = (self.last, same) {
                self.shift = last + 1 - time;
            }
            self.zero = zero;
        }
        let mut out = time.saturating_add(self.shift);
        let prev = self.per_track.iter().find(|t| t.0 == track).map(|t| t.1);
        if let (Some(prev), Some(last)) = (prev, self.last) {
            if out < prev - BACKWARDS_MS {
                // The origin's clock jumped back inside one connection: follow on.
                self.shift = last + 1 - time;
                out = last + 1;
            } else if out <= prev {
                return None;
            }
        }
        match self.per_track.iter_mut().find(|t| t.0 == track) {
            Some(t) => t.1 = out,
            None => self.per_track.push((track, out)),
        }
        self.last = Some(self.last.map_or(out, |l| l.max(out)));
        Some(out)
    }
}

/// How one connection ended.
enum Ended {
    Stopped,
    /// The stream no longer takes this input's writes.
    Superseded,
    Lost(String),
}

/// What lives across the connections of one input.
struct State {
    timeline: Timeline,
    /// The tracks given to the stream, as last set.
    tracks: Vec<Track>,
    /// When a packet last came in (or the input started).
    last_data: Instant,
}

/// Runs the input of `stream` until `stop`.
pub async fn run(
    stream: &str,
    source: &str,
    publisher: Publisher,
    mut stop: watch::Receiver<bool>,
) -> InputEnd {
    let origin = match parse(source, stream) {
        Ok(o) => o,
        Err(e) => return InputEnd::Failed(e),
    };
    let mut state = State {
        timeline: Timeline::default(),
        tracks: Vec::new(),
        last_data: Instant::now(),
    };
    let mut delay = RETRY_FIRST;
    let mut reported = false;
    loop {
        let before = state.last_data;
        let ended = tokio::select! {
            _ = super::stopped(&mut stop) => Ended::Stopped,
            e = connection(stream, &origin, &publisher, &mut state) => e,
        };
        let why = match ended {
            Ended::Stopped => return InputEnd::Stopped,
            Ended::Superseded => return InputEnd::Finished("the stream took another input".into()),
            Ended::Lost(why) => why,
        };
        if state.last_data != before {
            delay = RETRY_FIRST;
            reported = false;
        }
        if state.last_data.elapsed() >= OUTAGE {
            return InputEnd::Finished(format!(
                "nothing from {}:{} for {OUTAGE:?} ({why})",
                origin.host, origin.port
            ));
        }
        if !reported {
            tracing::warn!(
                kind = "WARN",
                stream,
                "DTSC pull of {} from {}:{}: {why}; reconnecting",
                origin.stream,
                origin.host,
                origin.port
            );
            reported = true;
        }
        tokio::select! {
            _ = super::stopped(&mut stop) => return InputEnd::Stopped,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(RETRY_MAX);
    }
}

/// One connection to the origin, to its end.
async fn connection(
    stream: &str,
    origin: &Origin,
    publisher: &Publisher,
    state: &mut State,
) -> Ended {
    let addr = format!(
        "{}:{}",
        crate::protocols::bracket_v6(&origin.host),
        origin.port
    );
    let mut sock = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Ended::Lost(format!("cannot connect: {e}")),
        Err(_) => return Ended::Lost(format!("cannot connect within {CONNECT_TIMEOUT:?}")),
    };
    let _ = sock.set_nodelay(true);
    let peer: Option<SocketAddr> = sock.peer_addr().ok();
    let (mut rd, mut wr) = sock.split();
    let play = command(
        "play",
        vec![
            ("version", Value::str(version())),
            ("stream", Value::str(origin.stream.clone())),
        ],
    );
    if let Err(e) = send(&mut wr, &[command_frame(&play)]).await {
        return Ended::Lost(e.to_string());
    }
    let mut reader = FrameReader::new();
    let mut first_header = true;
    let mut strays = 0u64;
    let (buffer, token) = (&publisher.buffer, publisher.token);
    loop {
        let frame = match reader.next(&mut rd, SILENCE).await {
            Ok(Some(f)) => f,
            Ok(None) => return Ended::Lost("the origin closed the connection".into()),
            Err(DtscError::Io(e)) => return Ended::Lost(e.to_string()),
            Err(e) => return Ended::Lost(e.to_string()),
        };
        match frame {
            Frame::Command(c) => match command_name(&c).as_str() {
                "ping" => {
                    let ok = command("ok", vec![("msg", Value::str("Pong!"))]);
                    if let Err(e) = send(&mut wr, &[command_frame(&ok)]).await {
                        return Ended::Lost(e.to_string());
                    }
                }
                "error" => {
                    let msg = c.get("msg").and_then(Value::as_text).unwrap_or_default();
                    return Ended::Lost(format!("the origin says: {msg}"));
                }
                "hi" => {
                    let v = c
                        .get("version")
                        .and_then(Value::as_text)
                        .unwrap_or_default();
                    tracing::debug!(stream, "DTSC origin {peer:?} is {v:?}");
                }
                _ => {}
            },
            Frame::Header(h) => {
                let header = match meta::parse_header(&h) {
                    Ok(h) => h,
                    Err(e) => return Ended::Lost(e.to_string()),
                };
                if first_header {
                    first_header = false;
                    state.timeline.connected(header.unixzero);
                    tracing::info!(
                        kind = "STRM",
                        stream,
                        "DTSC: pulling {} from {}:{} ({}, {} track(s){})",
                        origin.stream,
                        origin.host,
                        origin.port,
                        if header.live { "live" } else { "on demand" },
                        header.tracks.len(),
                        if header.skipped.is_empty() {
                            String::new()
                        } else {
                            format!("; left out: {}", header.skipped.join(", "))
                        }
                    );
                }
                for track in header.tracks {
                    let known = state.tracks.iter().position(|t| t.id == track.id);
                    let changed = known.is_none_or(|i| {
                        let t = &state.tracks[i];
                        t.codec != track.codec || t.init != track.init
                    });
                    if !changed {
                        continue;
                    }
                    if buffer.set_track(token, track.clone()).is_err() {
                        return Ended::Superseded;
                    }
                    match known {
                        Some(i) => state.tracks[i] = track,
                        None => state.tracks.push(track),
                    }
                }
            }
            Frame::Packet(p) => {
                if state.tracks.iter().all(|t| t.id != p.track) {
                    strays += 1;
                    if strays.is_power_of_two() {
                        tracing::debug!(
                            stream,
                            "DTSC: {strays} packet(s) of unannounced tracks ignored"
                        );
                    }
                    continue;
                }
                let track = p.track;
                let Some(time) = state.timeline.map(track, p.time) else {
                    continue;
                };
                let mut packet = meta::to_packet(p, track);
                packet.time = time;
                state.last_data = Instant::now();
                if buffer.push(token, packet).is_err() {
                    return Ended::Superseded;
                }
            }
            Frame::Unknown(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(host: &str, port: u16, stream: &str) -> Origin {
        Origin {
            host: host.into(),
            port,
            stream: stream.into(),
        }
    }

    #[test]
    fn sources_and_the_manuals_wildcard_rules() {
        assert!(reads("dtsc://a") && reads("DTSC://a") && !reads("dtsc:/a"));
        assert_eq!(
            parse("dtsc://1.2.3.4", "local"),
            Ok(origin("1.2.3.4", 4200, "local"))
        );
        assert_eq!(
            parse("dtsc://1.2.3.4:4300/video", "mine"),
            Ok(origin("1.2.3.4", 4300, "video"))
        );
        // The local wildcard is appended to a URL stream without one.
        assert_eq!(
            parse("dtsc://1.2.3.4/video", "mine+vid_01"),
            Ok(origin("1.2.3.4", 4200, "video+vid_01"))
        );
        assert_eq!(
            parse("dtsc://1.2.3.4/video+vid_01", "mine+other"),
            Ok(origin("1.2.3.4", 4200, "video+vid_01"))
        );
        assert_eq!(
            parse("dtsc://origin", "base+foo"),
            Ok(origin("origin", 4200, "base+foo"))
        );
        assert_eq!(
            parse("dtsc://[::1]:5000/x", "l"),
            Ok(origin("::1", 5000, "x"))
        );
        assert_eq!(parse("dtsc://h:4200@pw/x", "l"), Ok(origin("h", 4200, "x")));
        for bad in [
            "dtsc://",
            "dtsc://:4200/x",
            "dtsc://h:port/x",
            "dtsc://h:0",
            "http://h/x",
        ] {
            assert!(parse(bad, "l").is_err(), "{bad}");
        }
    }

    #[test]
    fn rejoining_the_same_broadcast_takes_nothing_twice() {
        let mut t = Timeline::default();
        t.connected(Some(1_000_000));
        assert_eq!(t.map(1, 5_000), Some(5_000));
        assert_eq!(t.map(2, 5_010), Some(5_010));
        assert_eq!(t.map(1, 6_000), Some(6_000));
        // Reconnected: the origin starts again at its newest keyframe, before what we had.
        t.connected(Some(1_000_200));
        assert_eq!(t.map(1, 5_000), None);
        assert_eq!(t.map(2, 5_010), None);
        assert_eq!(t.map(1, 6_000), None);
        assert_eq!(t.map(1, 6_040), Some(6_040));
        assert_eq!(t.map(2, 6_030), Some(6_030));
    }

    #[test]
    fn a_restarted_origin_follows_on() {
        let mut t = Timeline::default();
        t.connected(Some(1_000_000));
        assert_eq!(t.map(1, 0), Some(0));
        assert_eq!(t.map(1, 20_000), Some(20_000));
        // A new broadcast (other unixzero, or none: an on-demand origin) starts at 0 again.
        t.connected(Some(9_000_000));
        assert_eq!(t.map(1, 0), Some(20_001));
        assert_eq!(t.map(2, 10), Some(20_011));
        assert_eq!(t.map(1, 40), Some(20_041));
        t.connected(None);
        assert_eq!(t.map(1, 0), Some(20_042));
        // A jump back inside one connection follows on too.
        assert_eq!(t.map(1, 30_000), Some(50_042));
        assert_eq!(t.map(1, 100), Some(50_043));
    }
}
