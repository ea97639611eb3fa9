//! Recording a push to a file (manual §4.1.27): the target's extension picks the container
//! ([`crate::media::record::Recorder`]); writes are gathered (one per 64 KiB or half a second),
//! and the file is always finished (trailer, patches, sync) however the push ends, then
//! RECORDING_END fires (facts §7.6).

use std::io::SeekFrom;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::target::FileTarget;
use super::{Next, PushIo};
use crate::hub::push::{ExitReason, PushState};
use crate::media::record::Recorder;
use crate::protocols::ListenerContext;

/// The most a recording's file keeps buffered for the blocking write threads.
const WRITE_BUFFER: usize = 64 * 1024;
/// A recording writes what it gathered at least this often.
const WRITE_EVERY: Duration = Duration::from_millis(500);

/// Records to a file; the file is finished (trailer and patches) however the push ends.
pub async fn record(io: &mut PushIo<'_>, ctx: &ListenerContext, file: FileTarget) -> ExitReason {
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
    shared: &PushState,
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
    ctx.hub
        .triggers()
        .fire_later("RECORDING_END", &shared.stream, lines);
}
