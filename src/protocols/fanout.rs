//! Direct fan-out: a stream's steady viewers are written to by a few shared tasks, not each by
//! its own task.
//!
//! ```text
//!   LiveBuffer ──wake──▶ shard task ──writev──▶ viewer socket   (viewer tasks stay asleep)
//!                        (one per runtime         ──writev──▶ viewer socket
//!                         worker)                 ──writev──▶ ...
//! ```
//!
//! A viewer is steady when it has taken every packet in the ring, sends the default track
//! choice, and its last write went out whole. It then joins its stream's group for its format
//! ([`join`]) with a duplicate of its socket's descriptor, and its own task waits only for its
//! control messages, its session's stop, and being handed back ([`Steady::released`]). For each
//! round of new packets a shard task builds the format's framing once (the cached framing every
//! viewer shares anyway), the slice list once, and writes it to each member with one
//! non-blocking `writev`. A member whose socket does not take the whole round, a change of the
//! track list, the end of the stream or a trimmed position hands the viewer back with its
//! position and the bytes still to write ([`Handover`]); its task writes them with the usual
//! time-out and goes on by itself until it is steady again.
//!
//! What this saves per packet and viewer: a task wake-up, a poll of the viewer's select, a read
//! of the ring and the clones of the shared buffers. What is left per viewer is its `writev`.
//! Members are spread over one shard per runtime worker, so one packet's writes run on every
//! core. A shard holds its lock while it writes a round (a few ms for hundreds of members), so
//! a viewer that joins or leaves meanwhile waits for the round to end.

use std::io::{IoSlice, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::av_select::AvSelection;
use crate::hub::buffer::{Counters, Entry, LiveBuffer, ReadFrom, Reader};
use crate::hub::latency::FANOUT_LATENCY;
use crate::hub::session::ConnCounters;
use crate::media::Track;

/// Appends a packet's shared framing for one format to `out` (nothing when it is not sent).
pub type FrameFn = fn(&Track, &Entry, &mut Vec<Bytes>);

/// An output format whose framing every viewer shares.
pub struct Format {
    pub name: &'static str,
    pub frame: FrameFn,
}

/// Viewers the fan-out writes to now, over every stream (`eddy_fanout_viewers`).
pub static FANOUT_VIEWERS: AtomicU64 = AtomicU64::new(0);

/// Most packets one round takes (a live round is usually one or two).
const ROUND_PACKETS: usize = 64;
/// Most buffers one `writev` takes (Linux's `IOV_MAX`); a longer round is a partial write.
const MAX_SLICES: usize = 1024;

/// The groups of every stream, by buffer and format. Entries of groups no viewer holds any
/// more are dropped on the next lookup.
static GROUPS: Mutex<Vec<Slot>> = Mutex::new(Vec::new());

struct Slot {
    buffer: Weak<LiveBuffer>,
    format: &'static str,
    group: Weak<Group>,
}

/// One stream's steady viewers of one format.
struct Group {
    shards: Vec<Arc<Shard>>,
}

struct Shard {
    buffer: Arc<LiveBuffer>,
    frame: FrameFn,
    state: Mutex<ShardState>,
    /// Wakes the task when the last member left, so it ends without waiting for a packet.
    kick: Notify,
}

#[derive(Default)]
struct ShardState {
    members: Vec<Member>,
    /// The next packet the shard writes (a member that joined ahead skips to its own cursor).
    end: u64,
    /// The track selection every member has (the default choice at one track-list version).
    sel: AvSelection,
    /// Bumped when an empty shard takes a new position and selection: a round built before
    /// is thrown away.
    epoch: u64,
    running: bool,
    next_id: u64,
}

struct Member {
    id: u64,
    sock: std::net::TcpStream,
    /// The next packet this member needs.
    cursor: u64,
    counters: Arc<ConnCounters>,
    /// What was written since the session's counters were last told: kept here, in the
    /// shard's member list, and added to them every [`COUNT_EVERY`] rounds and when the
    /// member leaves (touching each session's counters every round costs a cache miss per
    /// viewer and packet).
    uncounted: (u64, u64, Option<i64>),
    rounds: u32,
    back: Arc<Handback>,
}

/// How many rounds a member's byte and packet counts wait before its session's counters are
/// told (about half a second of a live stream; statistics are read once a second).
const COUNT_EVERY: u32 = 32;

impl Member {
    fn sent(&mut self, bytes: u64, packets: u64, position: Option<i64>) {
        self.uncounted.0 += bytes;
        self.uncounted.1 += packets;
        self.uncounted.2 = position.or(self.uncounted.2);
        self.rounds += 1;
        if self.rounds >= COUNT_EVERY {
            self.count();
        }
    }

    fn count(&mut self) {
        let (bytes, packets, position) = std::mem::take(&mut self.uncounted);
        self.rounds = 0;
        if bytes > 0 || packets > 0 {
            self.counters.sent(bytes, packets, position);
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.count();
        FANOUT_VIEWERS.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Handback {
    slot: Mutex<Option<Handover>>,
    notify: Notify,
}

/// Where a viewer handed back by its group goes on.
#[derive(Debug, Default)]
pub struct Handover {
    /// The next packet the viewer needs.
    pub cursor: u64,
    /// What its socket did not take of the last round: written first.
    pub rest: Vec<Bytes>,
    /// The write error that ended the membership (the peer is gone).
    pub error: Option<std::io::Error>,
}

/// A viewer's membership of a group; dropping it leaves the group.
pub struct Steady {
    group: Arc<Group>,
    shard: usize,
    id: u64,
    back: Arc<Handback>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Joins a viewer whose reader has taken every packet in the ring ([`join`] at its cursor);
/// `None` without asking, for a viewer that cannot join or is still catching up.
pub fn join_when_steady(
    format: &'static Format,
    sock: &TcpStream,
    reader: &Reader,
    sel: &AvSelection,
    counters: &Arc<ConnCounters>,
) -> Option<Steady> {
    let buffer = reader.buffer();
    // The cheap checks first: `at_end` takes the ring's lock.
    if buffer.is_on_demand() || !sel.is_default_choice() || !reader.at_end() {
        return None;
    }
    join(buffer, format, sock, reader.cursor(), sel, counters)
}

/// Joins the viewer to its stream's group for `format`, when it can: it is at `cursor` (every
/// packet before it written), on a live stream, with the default track choice at the group's
/// track-list version. `None` leaves the viewer to its own task (try again after the next
/// batch).
pub fn join(
    buffer: &Arc<LiveBuffer>,
    format: &'static Format,
    sock: &TcpStream,
    cursor: u64,
    sel: &AvSelection,
    counters: &Arc<ConnCounters>,
) -> Option<Steady> {
    let version = sel.version()?;
    if buffer.is_on_demand() || !sel.is_default_choice() {
        return None;
    }
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let group = group_for(buffer, format, &runtime);
    let (index, shard) = group
        .shards
        .iter()
        .enumerate()
        .min_by_key(|(_, s)| lock(&s.state).members.len())?;
    let mut st = lock(&shard.state);
    if st.members.is_empty() {
        st.end = cursor;
        st.sel = sel.clone();
        st.epoch += 1;
    } else if cursor < st.end || st.sel.version() != Some(version) {
        return None;
    }
    let dup = sock.as_fd().try_clone_to_owned().ok()?;
    let id = st.next_id;
    st.next_id += 1;
    let back = Arc::new(Handback::default());
    FANOUT_VIEWERS.fetch_add(1, Ordering::Relaxed);
    st.members.push(Member {
        id,
        sock: std::net::TcpStream::from(dup),
        cursor,
        counters: counters.clone(),
        uncounted: (0, 0, None),
        rounds: 0,
        back: back.clone(),
    });
    if !st.running {
        st.running = true;
        runtime.spawn(run(shard.clone()));
    }
    drop(st);
    Some(Steady {
        group: group.clone(),
        shard: index,
        id,
        back,
    })
}

/// Waits until the viewer's group hands it back; never, when it is not in one.
pub async fn released(steady: &Option<Steady>) {
    match steady {
        Some(s) => s.released().await,
        None => std::future::pending().await,
    }
}

/// Takes a viewer back from its group: moves its reader to where the group stopped and writes
/// what its socket did not take. `Ok(false)`: the peer took nothing for the write time-out.
pub async fn take_back<W: tokio::io::AsyncWrite + Unpin>(
    steady: Steady,
    reader: &mut Reader,
    w: &mut W,
    counters: &Counters,
    session: &ConnCounters,
) -> std::io::Result<bool> {
    let back = steady.leave();
    reader.resume_at(back.cursor);
    if let Some(e) = back.error {
        return Err(e);
    }
    if back.rest.is_empty() {
        return Ok(true);
    }
    super::deliver(w, &back.rest, &[], counters, session).await
}

impl Steady {
    /// Waits until the group hands the viewer back.
    pub async fn released(&self) {
        loop {
            if lock(&self.back.slot).is_some() {
                return;
            }
            self.back.notify.notified().await;
        }
    }

    /// Leaves the group: where the viewer goes on, and what it writes first.
    pub fn leave(self) -> Handover {
        if let Some(m) = self.remove() {
            return Handover {
                cursor: m.cursor,
                ..Handover::default()
            };
        }
        // Not a member: the shard handed it back, filling the slot under the same lock.
        lock(&self.back.slot).take().unwrap_or_else(|| Handover {
            error: Some(std::io::Error::other("left the fan-out without a position")),
            ..Handover::default()
        })
    }

    fn remove(&self) -> Option<Member> {
        let shard = &self.group.shards[self.shard];
        let mut st = lock(&shard.state);
        let i = st.members.iter().position(|m| m.id == self.id)?;
        let m = st.members.swap_remove(i);
        if st.members.is_empty() {
            shard.kick.notify_one();
        }
        Some(m)
    }
}

impl Drop for Steady {
    fn drop(&mut self) {
        self.remove();
    }
}

fn group_for(
    buffer: &Arc<LiveBuffer>,
    format: &'static Format,
    runtime: &tokio::runtime::Handle,
) -> Arc<Group> {
    let mut groups = lock(&GROUPS);
    groups.retain(|s| s.group.strong_count() > 0);
    let found = groups
        .iter()
        .filter(|s| s.format == format.name && Weak::as_ptr(&s.buffer) == Arc::as_ptr(buffer))
        .find_map(|s| s.group.upgrade());
    if let Some(g) = found {
        return g;
    }
    let shards = runtime.metrics().num_workers().clamp(1, 16);
    let group = Arc::new(Group {
        shards: (0..shards)
            .map(|_| {
                Arc::new(Shard {
                    buffer: buffer.clone(),
                    frame: format.frame,
                    state: Mutex::default(),
                    kick: Notify::new(),
                })
            })
            .collect(),
    });
    groups.push(Slot {
        buffer: Arc::downgrade(buffer),
        format: format.name,
        group: Arc::downgrade(&group),
    });
    group
}

/// Hands a member back at `cursor`, with what it still has to write.
fn hand_back(m: &Member, cursor: u64, rest: Vec<Bytes>, error: Option<std::io::Error>) {
    *lock(&m.back.slot) = Some(Handover {
        cursor,
        rest,
        error,
    });
    m.back.notify.notify_one();
}

/// Hands every member back (the stream ended or changed its tracks, or the shard fell out of
/// the ring): each goes on from its own position.
fn hand_back_all(st: &mut ShardState) {
    let end = st.end;
    for m in st.members.drain(..) {
        hand_back(&m, m.cursor.max(end), Vec::new(), None);
    }
}

/// One round's framing: the buffers to write, and where each packet's part starts.
#[derive(Default)]
struct Round {
    out: Vec<Bytes>,
    /// Per packet: its first buffer in `out`, and the bytes before it.
    starts: Vec<(usize, u64)>,
    bytes: u64,
}

impl Round {
    fn build(&mut self, entries: &[Arc<Entry>], sel: &AvSelection, frame: FrameFn) {
        self.out.clear();
        self.starts.clear();
        self.bytes = 0;
        for entry in entries {
            self.starts.push((self.out.len(), self.bytes));
            let from = self.out.len();
            if let Some(track) = sel.track(entry.packet.track) {
                frame(track, entry, &mut self.out);
            }
            self.bytes += self.out[from..].iter().map(|b| b.len() as u64).sum::<u64>();
        }
        // Give back a catch-up round's room.
        if self.out.capacity() > MAX_SLICES && self.out.len() < 64 {
            self.out.shrink_to(64);
        }
    }

    /// The buffers after the first `written` bytes from buffer `first` on.
    fn rest(&self, first: usize, mut written: usize) -> Vec<Bytes> {
        let mut rest = Vec::new();
        for b in &self.out[first..] {
            if written >= b.len() {
                written -= b.len();
            } else {
                rest.push(b.slice(written..));
                written = 0;
            }
        }
        rest
    }
}

/// A shard's task: writes each round of new packets to its members until none is left.
async fn run(shard: Arc<Shard>) {
    let mut rx = shard.buffer.subscribe();
    let mut entries: Vec<Arc<Entry>> = Vec::new();
    let mut round = Round::default();
    let mut sel = AvSelection::default();
    let mut sel_epoch = None;
    loop {
        rx.borrow_and_update();
        let (epoch, end) = {
            let mut st = lock(&shard.state);
            if st.members.is_empty() {
                st.running = false;
                return;
            }
            if sel_epoch != Some(st.epoch) {
                sel = st.sel.clone();
                sel_epoch = Some(st.epoch);
            }
            (st.epoch, st.end)
        };
        entries.clear();
        match shard.buffer.read_from(end, ROUND_PACKETS, &mut entries) {
            ReadFrom::Packets => {}
            ReadFrom::Nothing => {
                tokio::select! {
                    changed = rx.changed() => if changed.is_err() {
                        hand_back_all(&mut lock(&shard.state));
                    },
                    _ = shard.kick.notified() => {}
                }
                continue;
            }
            ReadFrom::Closed | ReadFrom::Trimmed => {
                let mut st = lock(&shard.state);
                if st.epoch == epoch {
                    hand_back_all(&mut st);
                }
                continue;
            }
        }
        // Packets of another track list are for the viewers' own tasks (new headers first).
        let changed = entries
            .iter()
            .position(|e| Some(e.meta_version) != sel.version());
        if let Some(i) = changed {
            entries.truncate(i);
        }
        round.build(&entries, &sel, shard.frame);
        let mut st = lock(&shard.state);
        if st.epoch != epoch || st.end != end {
            continue;
        }
        st.end = end + entries.len() as u64;
        if !entries.is_empty() {
            write_round(&shard, &mut st, &entries, &round, end);
        }
        if changed.is_some() {
            hand_back_all(&mut st);
        }
    }
}

/// Writes a round to every member that needs it; members whose socket did not take it all are
/// handed back.
fn write_round(
    shard: &Shard,
    st: &mut ShardState,
    entries: &[Arc<Entry>],
    round: &Round,
    first_seq: u64,
) {
    let round_end = st.end;
    let slices: Vec<IoSlice<'_>> = round.out.iter().map(|b| IoSlice::new(b)).collect();
    let (Some(oldest), Some(newest)) = (entries.first(), entries.last()) else {
        return;
    };
    let position = Some(newest.packet.time);
    let mut delivered = 0u64;
    st.members.retain_mut(|m| {
        if m.cursor >= round_end {
            return true;
        }
        let i = usize::try_from(m.cursor.saturating_sub(first_seq)).unwrap_or(usize::MAX);
        let Some(&(first, before)) = round.starts.get(i) else {
            return true;
        };
        let packets = round_end - m.cursor;
        let want = round.bytes - before;
        if want == 0 {
            m.cursor = round_end;
            return true;
        }
        let upto = slices.len().min(first + MAX_SLICES);
        match (&m.sock).write_vectored(&slices[first..upto]) {
            Ok(n) if n as u64 == want => {
                delivered += want;
                m.cursor = round_end;
                m.sent(want, packets, position);
                FANOUT_LATENCY.record(oldest.arrived.elapsed());
                true
            }
            Ok(n) => {
                delivered += n as u64;
                m.sent(n as u64, packets, position);
                hand_back(m, round_end, round.rest(first, n), None);
                false
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                hand_back(m, round_end, round.out[first..].to_vec(), None);
                false
            }
            Err(e) => {
                hand_back(m, round_end, Vec::new(), Some(e));
                false
            }
        }
    });
    shard
        .buffer
        .counters
        .bytes_out
        .fetch_add(delivered, Ordering::Relaxed);
}

#[cfg(test)]
mod tests;
