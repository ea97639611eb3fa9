//! RTSP ingest and pull: the SDP of an ANNOUNCE or DESCRIBE, then the interleaved TCP stream
//! (`$` frames between requests or answers) read with `message::next` (a publisher) or
//! `next_from_server` (a camera we pull from), each RTP frame on channel 2n parsed and given to
//! media n's depacketizer, each frame on 2n+1 parsed as RTCP.
//!
//! Input: byte 0 bit 0 picks the reader; bytes 1..3 the SDP's length (u16 BE); the SDP; then
//! the stream, pushed in pieces (`pieces` over the rest, with byte 0 as its seed).
#![no_main]

use bytes::{Bytes, BytesMut};
use eddy::media::rtp::rtcp;
use eddy::media::rtp::RtpPacket;
use eddy::media::sdp;
use eddy::protocols::rtsp::message::{self, FromServer, Incoming};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [mode, hi, lo, rest @ ..] = data else {
        return;
    };
    let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
    let (text, stream) = rest.split_at(n);
    let Ok(parsed) = sdp::parse(&String::from_utf8_lossy(text)) else {
        return;
    };
    for m in &parsed.media {
        let _ = m.fmtp("sprop-parameter-sets");
        if let Some(c) = &m.control {
            let _ = sdp::resolve_control("rtsp://h/app/stream/", c);
        }
    }
    let mut deps: Vec<_> = parsed.media.iter().map(|m| m.depacketizer().ok()).collect();
    if let Some(Some(d)) = deps.first_mut() {
        d.set_origin(0, 0);
    }
    let mut buf = BytesMut::new();
    let mut seeded = vec![*mode];
    seeded.extend_from_slice(stream);
    for piece in eddy_fuzz::pieces(&seeded) {
        buf.extend_from_slice(piece);
        loop {
            let frame = if mode & 1 == 0 {
                match message::next(&mut buf) {
                    Ok(Incoming::Frame(ch, data)) => Some((ch, data)),
                    Ok(Incoming::Request(r)) => {
                        let _ = r.cseq();
                        if let Some(t) = r.header("transport") {
                            let _ = message::parse_transport(t);
                        }
                        None
                    }
                    Ok(Incoming::Partial) => break,
                    Err(_) => return,
                }
            } else {
                match message::next_from_server(&mut buf) {
                    Ok(FromServer::Frame(ch, data)) => Some((ch, data)),
                    Ok(FromServer::Answer(a)) => {
                        let _ = a.header("rtp-info");
                        None
                    }
                    Ok(FromServer::Request(_)) => None,
                    Ok(FromServer::Partial) => break,
                    Err(_) => return,
                }
            };
            let Some((channel, data)) = frame else {
                continue;
            };
            on_frame(&mut deps, channel, data);
        }
    }
});

fn on_frame(deps: &mut [Option<eddy::media::rtp::Depacketizer>], channel: u8, data: Bytes) {
    if channel % 2 == 1 {
        let _ = rtcp::parse_compound(&data);
        return;
    }
    let Some(Some(dep)) = deps.get_mut(usize::from(channel / 2)) else {
        return;
    };
    let Ok(packet) = RtpPacket::parse(data) else {
        return;
    };
    dep.push(&packet);
    while let Some(event) = dep.pull() {
        let _ = event;
    }
    let _ = (dep.lost(), dep.late(), dep.track());
}
