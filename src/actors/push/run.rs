//! The data path of one push: open the stream, then copy its packets to a file or an RTMP
//! server until something ends it. Runs on the media runtime.

use std::io::SeekFrom;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::sync::watch;

use super::target::{self, FileTarget, Target};
use super::{ExitReason, PushShared, STREAM_WAIT};
use crate::actors::session::{ConnInfo, SessionConn, SessionKind};
use crate::actors::stream::buffer::{Entry, ReadEvent};
use crate::actors::stream::Subscription;
use crate::media::amf0::Amf0Value;
use crate::media::flv;
use crate::media::record::Recorder;
use crate::protocols::av_select::AvSelection;
use crate::protocols::rtmp::client::{self, RtmpPublisher};
use crate::protocols::ListenerContext;

/// Packets taken from the buffer per write.
const BATCH: usize = 128;
/// The most a recording's file keeps buffered for the blocking write threads.
const WRITE_BUFFER: usize = 64 * 1024;
/// A recording writes what it gathered at least this often.
const WRITE_EVERY: Duration = Duration::from_millis(500);
/// How long connecting to an RTMP server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type StopRx = watch::Receiver<Option<ExitReason>>;

/// Runs a push to its end; fires PUSH_END (and RECORDING_END for files).
pub async fn run(
    shared: Arc<PushShared>,
    ctx: ListenerContext,
    stop: StopRx,
    from_start: bool,
) -> ExitReason {
    let reason = push(&shared, &ctx, stop, from_start).await;
    shared.log(
        if matches!(
            reason,
            ExitReason::CleanEof | ExitReason::IntendedStop | ExitReason::ControllerRequest
        ) {
            "INFO"
        } else {
            "WARN"
        },
        format!(
            "Push {} of {} to {} ended: {}",
            shared.id,
            shared.stream,
            shared.resolved(),
            reason.text()
        ),
    );
    // PUSH_END (facts §5.4): id, stream, original target, final target, logs, status.
    let lines = [
        shared.id.to_string(),
        shared.stream.clone(),
        shared.target.clone(),
        shared.resolved(),
        shared.logs().to_string(),
        shared.status().to_string(),
    ];
    crate::actors::stream::events::fire_later(
        &ctx.triggers,
        "PUSH_END",
        &shared.stream,
        lines.to_vec(),
    );
    reason
}

async fn push(
    shared: &Arc<PushShared>,
    ctx: &ListenerContext,
    stop: StopRx,
    from_start: bool,
) -> ExitReason {
    let stream = shared.stream.clone();
    let mut chosen = shared.target.clone();
    // PUSH_OUT_START (facts §7.4): a blocking handler's answer replaces the target.
    if ctx.triggers.configured("PUSH_OUT_START", &stream) {
        let out = ctx
            .triggers
            .fire("PUSH_OUT_START", &stream, &[&stream, &chosen])
            .await;
        if let Some(answer) = out.answer {
            let answer = answer.trim();
            if answer.is_empty() {
                shared.log(
                    "INFO",
                    format!("PUSH_OUT_START handler aborted the push of {stream} to {chosen}"),
                );
                return ExitReason::Trigger;
            }
            chosen = answer.to_string();
        }
    }
    let resolved = target::substitute(&chosen, &stream, &chrono::Local::now());
    shared.set_resolved(resolved.clone());
    let parsed = match target::parse(&resolved) {
        Ok(t) => t,
        Err(e) => {
            shared.log("FAIL", format!("Push of {stream}: {e}"));
            return ExitReason::Unsupported;
        }
    };
    let protocol = match &parsed {
        Target::Rtmp(_) => "RTMP",
        Target::File(f) => f.container.name(),
    };
    // An output session, so stop_sessions OUTPUT and stop_sessid reach the push.
    let info = ConnInfo {
        stream: stream.clone(),
        ip: std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        token: format!("push{}", shared.id),
        protocol,
        url: resolved.clone(),
        kind: SessionKind::Output,
    };
    let session = match ctx.admit(info).await {
        Ok(s) => s,
        Err(e) => {
            shared.log("FAIL", format!("Push of {stream} refused: {e}"));
            return ExitReason::ReadStartFailure;
        }
    };
    let sub = match ctx
        .subscribe_output(&stream, protocol, from_start, STREAM_WAIT)
        .await
    {
        Ok((_, sub)) => sub,
        Err(e) => {
            shared.log("FAIL", format!("Push of {stream} could not start: {e}"));
            return ExitReason::ReadStartFailure;
        }
    };
    let mut io = PushIo {
        shared,
        sub,
        stop,
        session,
        batch: Vec::new(),
    };
    match parsed {
        Target::File(file) => record(&mut io, ctx, file).await,
        Target::Rtmp(url) => push_rtmp(&mut io, &url).await,
    }
}

/// What both kinds of push read from.
struct PushIo<'a> {
    shared: &'a Arc<PushShared>,
    sub: Subscription,
    stop: StopRx,
    session: SessionConn,
    batch: Vec<Arc<Entry>>,
}

/// What waiting for packets gave.
enum Next {
    Packets,
    End(ExitReason),
}

impl PushIo<'_> {
    /// Waits for the next batch of packets, a stop request, or the stream's end.
    async fn next(&mut self) -> Next {
        loop {
            self.batch.clear();
            if let Some(r) = *self.stop.borrow() {
                return Next::End(r);
            }
            let event = tokio::select! {
                biased;
                _ = self.stop.changed() => continue,
                _ = crate::protocols::http::session_stopped(&mut self.session.stop) => {
                    self.shared.log("INFO", format!("Session {} of push {} stopped", self.session.id, self.shared.id));
                    return Next::End(ExitReason::IntendedStop);
                }
                e = self.sub.reader.next_batch(&mut self.batch, BATCH) => e,
            };
            match event {
                ReadEvent::Packets => return Next::Packets,
                ReadEvent::Closed => return Next::End(ExitReason::CleanEof),
                ReadEvent::Skipped(n) => self.shared.log(
                    "WARN",
                    format!(
                        "Push {} fell behind the live buffer; {n} packets were skipped",
                        self.shared.id
                    ),
                ),
            }
        }
    }

    fn note_packet(&self, time: i64) {
        let _ = self.shared.first_ms.compare_exchange(
            i64::MIN,
            time,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.shared.last_ms.store(time, Ordering::Relaxed);
    }

    fn count(&self, bytes: u64) {
        self.shared.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.session.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.sub
            .reader
            .buffer()
            .counters
            .down_bytes
            .fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Records to a file; the file is finished (trailer and patches) however the push ends.
async fn record(io: &mut PushIo<'_>, ctx: &ListenerContext, file: FileTarget) -> ExitReason {
    let shared = io.shared;
    let started_unix = chrono::Utc::now().timestamp();
    let tracks = io.sub.reader.buffer().meta().tracks.clone();
    let mut rec = match Recorder::new(file.container, &tracks, file.append) {
        Ok(r) => r,
        Err(e) => {
            shared.log(
                "FAIL",
                format!("Cannot record {} to {}: {e}", shared.stream, file.path),
            );
            return ExitReason::Unsupported;
        }
    };
    if file.append {
        if let Some(end) = appended_file_end(&file).await {
            rec.continue_after(end);
        }
    }
    let mut out = match open_file(&file).await {
        Ok(mut f) => {
            // tokio keeps each file's write buffer at its largest size (2 MiB by default).
            f.set_max_buf_size(WRITE_BUFFER);
            f
        }
        Err(e) => {
            shared.log("FAIL", format!("Cannot write {}: {e}", file.path));
            return ExitReason::WriteFailure;
        }
    };
    shared.log(
        "INFO",
        format!(
            "Recording {} to {} ({})",
            shared.stream,
            file.path,
            file.container.name()
        ),
    );
    let mut buf = BytesMut::new();
    rec.start(&mut buf);
    let mut reason = ExitReason::CleanEof;
    let mut failed = write_out(&mut out, &mut buf, io).await.err();
    let mut last_write = std::time::Instant::now();
    while failed.is_none() {
        match io.next().await {
            Next::End(r) => {
                reason = r;
                break;
            }
            Next::Packets => {}
        }
        let mut done = false;
        for e in &io.batch {
            let t = e.packet.time;
            let start = rec.first_ms().unwrap_or(t);
            if file.duration_ms.is_some_and(|d| t - start >= d) {
                done = true;
                break;
            }
            match rec.write(&e.packet, &mut buf) {
                Ok(()) => io.note_packet(t),
                Err(err) => tracing::debug!("recording {}: packet skipped: {err}", file.path),
            }
        }
        // Small batches are gathered: one write per 64 KiB or half a second.
        if buf.len() >= WRITE_BUFFER || last_write.elapsed() >= WRITE_EVERY || done {
            failed = write_out(&mut out, &mut buf, io).await.err();
            last_write = std::time::Instant::now();
        }
        if done {
            shared.log(
                "INFO",
                format!("Recording {} reached its duration", file.path),
            );
            reason = ExitReason::IntendedStop;
            break;
        }
    }
    if failed.is_none() {
        failed = finish_file(&mut out, &mut rec, &mut buf, io).await.err();
    }
    if let Some(e) = failed {
        shared.log("FAIL", format!("Writing {} failed: {e}", file.path));
        reason = ExitReason::WriteFailure;
    }
    recording_end(ctx, shared, &file, &rec, started_unix, reason);
    reason
}

/// Where the timeline of a file being appended to ends, from its last MiB.
async fn appended_file_end(file: &FileTarget) -> Option<i64> {
    use tokio::io::AsyncReadExt;
    const TAIL: u64 = 1 << 20;
    let mut f = tokio::fs::File::open(&file.path).await.ok()?;
    let len = f.metadata().await.ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL)))
        .await
        .ok()?;
    let mut tail = Vec::with_capacity(TAIL.min(len) as usize);
    f.read_to_end(&mut tail).await.ok()?;
    crate::media::record::file_end_ms(file.container, &tail)
}

async fn open_file(file: &FileTarget) -> std::io::Result<tokio::fs::File> {
    let path = std::path::Path::new(&file.path);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await?;
    }
    let mut options = tokio::fs::OpenOptions::new();
    options.create(true);
    if file.append {
        options.append(true);
    } else {
        options.write(true).truncate(true);
    }
    options.open(path).await
}

async fn write_out(
    out: &mut tokio::fs::File,
    buf: &mut BytesMut,
    io: &PushIo<'_>,
) -> std::io::Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    let data = buf.split().freeze();
    out.write_all(&data).await?;
    io.count(data.len() as u64);
    Ok(())
}

/// Writes the trailer, applies the recorder's patches, and syncs the file to disk.
async fn finish_file(
    out: &mut tokio::fs::File,
    rec: &mut Recorder,
    buf: &mut BytesMut,
    io: &PushIo<'_>,
) -> std::io::Result<()> {
    let patches = rec.finish(buf);
    write_out(out, buf, io).await?;
    out.flush().await?;
    for p in patches {
        out.seek(SeekFrom::Start(p.offset)).await?;
        out.write_all(&p.bytes).await?;
    }
    out.flush().await?;
    out.sync_data().await
}

/// RECORDING_END (facts §7.6): stream, target, output name, bytes, seconds writing, unix start,
/// unix stop, media ms, first ms, last ms, exit reason code, exit reason text.
fn recording_end(
    ctx: &ListenerContext,
    shared: &PushShared,
    file: &FileTarget,
    rec: &Recorder,
    started_unix: i64,
    reason: ExitReason,
) {
    let now = chrono::Utc::now().timestamp();
    let (first, last) = (rec.first_ms(), rec.last_ms());
    let lines = vec![
        shared.stream.clone(),
        shared.resolved(),
        file.container.name().to_string(),
        shared.bytes.load(Ordering::Relaxed).to_string(),
        (now - started_unix).to_string(),
        started_unix.to_string(),
        now.to_string(),
        match (first, last) {
            (Some(f), Some(l)) => (l - f).to_string(),
            _ => "0".into(),
        },
        first.unwrap_or(0).to_string(),
        last.unwrap_or(0).to_string(),
        reason.code().to_string(),
        reason.text().to_string(),
    ];
    crate::actors::stream::events::fire_later(
        &ctx.triggers,
        "RECORDING_END",
        &shared.stream,
        lines,
    );
}

/// An RTMP URL for logs: the stream key (the last path part) is a secret and left out.
fn redact(url: &str) -> String {
    match url.rfind('/') {
        Some(at) if at > "rtmp://".len() => format!("{}/<key>", &url[..at]),
        _ => "<rtmp target>".into(),
    }
}

/// Pushes to an RTMP server: metadata, sequence headers, then every packet, timestamps counted
/// from the push's first packet.
async fn push_rtmp(io: &mut PushIo<'_>, url: &str) -> ExitReason {
    let shared = io.shared;
    let shown = redact(url);
    let target = match client::parse_url(url) {
        Ok(t) => t,
        Err(e) => {
            shared.log("FAIL", format!("Push of {} to {shown}: {e}", shared.stream));
            return ExitReason::Unsupported;
        }
    };
    let mut publisher = match RtmpPublisher::connect(&target, CONNECT_TIMEOUT).await {
        Ok(p) => p,
        Err(e) => {
            shared.log(
                "FAIL",
                format!("Push of {} to {shown} failed: {e}", shared.stream),
            );
            return ExitReason::WriteFailure;
        }
    };
    shared.log("INFO", format!("Pushing {} to {shown}", shared.stream));
    let buffer = io.sub.reader.buffer().clone();
    let mut sel = AvSelection::default();
    let mut base: Option<i64> = None;
    let reason = loop {
        let (reader, writer) = publisher.split_mut();
        let next = tokio::select! {
            biased;
            n = io.next() => Some(n),
            e = reader.next_event() => match e {
                // Acknowledgements and ping replies go out with the flush below.
                Ok(()) => None,
                Err(client::ClientError::Closed) => break ExitReason::RemoteClose,
                Err(e) => {
                    shared.log("FAIL", format!("Push to {shown}: {e}"));
                    break ExitReason::WriteFailure;
                }
            },
        };
        if let Some(Next::End(r)) = next {
            break r;
        }
        if next.is_some() {
            for e in &io.batch {
                let base = *base.get_or_insert(e.packet.time);
                let time = (e.packet.time - base).max(0) as u32;
                if !sel.is_current(e.meta_version) {
                    let change = sel.update(&buffer.meta());
                    if change.first {
                        let meta: Vec<Amf0Value> =
                            crate::media::flv::on_metadata(sel.video.as_ref(), sel.audio.as_ref());
                        writer.queue_metadata(&meta);
                    }
                    for (tag_type, body) in change.headers.iter().filter_map(flv::sequence_body) {
                        writer.queue_media(tag_type, time, &[Bytes::from(body)]);
                    }
                }
                let Some(track) = sel.track(e.packet.track) else {
                    continue;
                };
                if let Some((tag_type, prefix)) = flv::packet_prefix(track, &e.packet) {
                    writer.queue_media(
                        tag_type,
                        time,
                        &[Bytes::from(prefix), e.packet.data.clone()],
                    );
                    io.note_packet(e.packet.time);
                }
            }
        }
        match writer.flush().await {
            Ok(n) => io.count(n),
            Err(e) => {
                shared.log("FAIL", format!("Push to {shown}: {e}"));
                break ExitReason::WriteFailure;
            }
        }
    };
    publisher.close().await;
    reason
}
