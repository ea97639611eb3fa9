//! Chunking a message for sending (RTMP 1.0 §5.3.1): a type 0 header, then type 3 continuation
//! headers every chunk size bytes, with the extended timestamp repeated where §5.3.1.3 wants it.

use bytes::{BufMut, Bytes, BytesMut};

use super::{EXTENDED_MARKER, MAX_CHUNK_SIZE, MAX_CSID, MAX_MESSAGE_LEN, MIN_CSID};

fn clamp_csid(csid: u32) -> u32 {
    csid.clamp(MIN_CSID, MAX_CSID)
}

fn put_basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    let fmt = (fmt & 3) << 6;
    let csid = clamp_csid(csid);
    if csid < 64 {
        out.put_u8(fmt | csid as u8);
    } else if csid < 320 {
        out.put_u8(fmt);
        out.put_u8((csid - 64) as u8);
    } else {
        let v = csid - 64;
        out.put_u8(fmt | 1);
        out.put_u8((v & 0xFF) as u8);
        out.put_u8((v >> 8) as u8);
    }
}

fn put_u24(out: &mut BytesMut, v: u32) {
    out.put_slice(&v.to_be_bytes()[1..]);
}

/// Writes a fmt 0 header (with extended timestamp if needed).
pub(super) fn put_first_header(
    out: &mut BytesMut,
    csid: u32,
    timestamp: u32,
    msg_type: u8,
    stream_id: u32,
    len: usize,
) {
    let ext = timestamp >= EXTENDED_MARKER;
    put_basic_header(out, 0, csid);
    put_u24(out, if ext { EXTENDED_MARKER } else { timestamp });
    put_u24(
        out,
        u32::try_from(len)
            .unwrap_or(MAX_MESSAGE_LEN)
            .min(MAX_MESSAGE_LEN),
    );
    out.put_u8(msg_type);
    out.put_u32_le(stream_id);
    if ext {
        out.put_u32(timestamp);
    }
}

/// Writes a fmt 3 continuation header (repeating the extended timestamp,
/// as Flash, ffmpeg and librtmp readers expect).
fn put_continuation_header(out: &mut BytesMut, csid: u32, timestamp: u32) {
    put_basic_header(out, 3, csid);
    if timestamp >= EXTENDED_MARKER {
        out.put_u32(timestamp);
    }
}

fn writer_chunk_size(chunk_size: u32) -> usize {
    usize::try_from(chunk_size.clamp(1, MAX_CHUNK_SIZE)).unwrap_or(usize::MAX)
}

/// Appends `payload` as one message in chunks: a fmt 0 chunk, then fmt 3
/// continuations. `chunk_size` is clamped to 1..=0x7FFFFFFF, `csid` to
/// 2..=65599, and a payload longer than [`MAX_MESSAGE_LEN`] is cut there.
pub fn write_message(
    out: &mut BytesMut,
    chunk_size: u32,
    csid: u32,
    timestamp: u32,
    msg_type: u8,
    stream_id: u32,
    payload: &[u8],
) {
    let max = usize::try_from(MAX_MESSAGE_LEN).unwrap_or(usize::MAX);
    let payload = payload.get(..payload.len().min(max)).unwrap_or(payload);
    let cs = writer_chunk_size(chunk_size);
    out.reserve(payload.len() + 16 + (payload.len() / cs) * 8);
    put_first_header(out, csid, timestamp, msg_type, stream_id, payload.len());
    for (i, data) in payload.chunks(cs).enumerate() {
        if i > 0 {
            put_continuation_header(out, csid, timestamp);
        }
        out.put_slice(data);
    }
}

/// Zero-copy chunking of a message whose payload is the concatenation of
/// `parts`: returns header `Bytes` interleaved with `Bytes::slice`s of the
/// parts. Concatenated, the result equals [`write_message`]'s output.
pub fn chunk_message(
    chunk_size: u32,
    csid: u32,
    timestamp: u32,
    msg_type: u8,
    stream_id: u32,
    parts: &[Bytes],
) -> Vec<Bytes> {
    let max = usize::try_from(MAX_MESSAGE_LEN).unwrap_or(usize::MAX);
    let total = parts
        .iter()
        .fold(0usize, |a, p| a.saturating_add(p.len()))
        .min(max);
    let cs = writer_chunk_size(chunk_size);

    // Both headers in one allocation; every continuation header is equal.
    let mut hdr = BytesMut::with_capacity(24);
    put_first_header(&mut hdr, csid, timestamp, msg_type, stream_id, total);
    let first = hdr.split().freeze();
    put_continuation_header(&mut hdr, csid, timestamp);
    let cont = hdr.freeze();

    let mut out = Vec::with_capacity(parts.len() + 2 * (total / cs) + 2);
    out.push(first);
    let mut left_total = total;
    let mut left_in_chunk = cs;
    for part in parts {
        let mut off = 0usize;
        while off < part.len() && left_total > 0 {
            if left_in_chunk == 0 {
                out.push(cont.clone());
                left_in_chunk = cs;
            }
            let n = (part.len() - off).min(left_in_chunk).min(left_total);
            out.push(part.slice(off..off + n));
            off += n;
            left_in_chunk -= n;
            left_total -= n;
        }
    }
    out
}

/// Extends a 32-bit RTMP timestamp onto a 64-bit millisecond timeline:
/// returns the value congruent to `ts32` modulo 2^32 that is nearest to
/// `last` (the previous extended value) among the non-negative candidates,
/// so forward wrap-around keeps counting up and small backward steps
/// (audio/video interleaving) stay small. Start a timeline with `last = 0`.
pub fn extend_timestamp(last: i64, ts32: u32) -> i64 {
    const SPAN: i64 = 1 << 32;
    let low = last.rem_euclid(SPAN) as u32;
    let diff = i64::from(ts32.wrapping_sub(low) as i32);
    let r = last.saturating_add(diff);
    if r < 0 {
        i64::from(ts32)
    } else {
        r
    }
}
