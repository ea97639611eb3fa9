//! The Ogg muxer: Opus, Vorbis and Theora tracks as logical streams of one physical stream
//! (RFC 3533), for the progressive `.ogg` output.
//!
//! - Headers first (RFC 3533 section 4, and each codec's mapping): the BOS page of every stream
//!   (holding only its identification header), then the other header packets (Opus: an
//!   `OpusTags` of Eddy's own, RFC 7845 section 5.2; Vorbis and Theora: the comment and setup
//!   headers from the track's Xiph-laced init).
//! - Then one page per packet (a packet over 65024 bytes is continued on more pages), so the
//!   payload is never copied: [`OggMuxer::packet`] returns the page header and slices of the
//!   packet's own bytes.
//! - Granule positions: Opus and Vorbis count samples from the stream's start (Opus from the
//!   TOC byte, Vorbis from its block sizes, the first packet adding none, Vorbis I section
//!   1.3.2); Theora's is the last keyframe's number shifted
//!   left by the granule shift, or'ed with the frames since it.
//! - [`OggMuxer::finish`] writes an empty EOS page for every stream.

use bytes::{BufMut, Bytes, BytesMut};

use super::codecs::{self, TheoraId, VorbisTiming};
use super::{crc_update, xiph_unlace, BOS, CONTINUED, EOS, HEADER_LEN};
use crate::media::{Codec, Packet, Track};

/// The most bytes of a packet that fit one page and end there (254 full segments and one of
/// 254 bytes).
const LAST_PIECE: usize = 254 * 255 + 254;
/// A piece continued on the next page: 255 full segments.
const FULL_PIECE: usize = 255 * 255;

/// Why tracks cannot be muxed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OggMuxError {
    #[error("no Opus, Vorbis or Theora track to carry in Ogg")]
    NoTracks,
}

enum Timing {
    Opus,
    /// The timing, and whether a packet came yet (the first one adds no samples).
    Vorbis(VorbisTiming, bool),
    Theora {
        id: TheoraId,
        key: i64,
        frame: i64,
    },
}

struct Stream {
    track: u32,
    serial: u32,
    sequence: u32,
    headers: Vec<Bytes>,
    timing: Timing,
    granule: i64,
    started: bool,
}

/// Muxes the carriable tracks of a stream into Ogg pages.
pub struct OggMuxer {
    streams: Vec<Stream>,
    /// The time (ms) of the first packet muxed: granule positions count from it, so the
    /// streams start near 0 and keep their offsets to each other.
    origin: Option<i64>,
}

impl OggMuxer {
    /// A muxer for the Opus, Vorbis and Theora tracks among `tracks` (others are left out);
    /// video first, as players expect.
    pub fn new(tracks: &[Track]) -> Result<OggMuxer, OggMuxError> {
        let mut streams = Vec::new();
        for t in tracks {
            if let Some(s) = stream_for(t) {
                streams.push(s);
            }
        }
        if streams.is_empty() {
            return Err(OggMuxError::NoTracks);
        }
        streams.sort_by_key(|s| !matches!(s.timing, Timing::Theora { .. }));
        Ok(OggMuxer {
            streams,
            origin: None,
        })
    }

    /// Whether this muxer carries `track`.
    pub fn carries(&self, track: u32) -> bool {
        self.streams.iter().any(|s| s.track == track)
    }

    /// Track ids carried, in stream order.
    pub fn tracks(&self) -> Vec<u32> {
        self.streams.iter().map(|s| s.track).collect()
    }

    /// Every stream's header pages: the BOS pages first, then the other headers.
    pub fn headers(&mut self) -> Bytes {
        let (mut scratch, mut pieces) = (BytesMut::new(), Vec::new());
        for s in &mut self.streams {
            let first = s.headers.first().cloned().unwrap_or_default();
            write_packet(s, &first, BOS, 0, &mut scratch, &mut pieces);
        }
        for s in &mut self.streams {
            let rest: Vec<Bytes> = s.headers.iter().skip(1).cloned().collect();
            for h in rest {
                write_packet(s, &h, 0, 0, &mut scratch, &mut pieces);
            }
        }
        pieces.concat().into()
    }

    /// The pages of one packet: their headers are written to `scratch` and each page's parts
    /// (header, then slices of the packet's bytes) pushed to `out`. A packet of a track not
    /// carried, or an empty one, gives nothing.
    pub fn packet(&mut self, packet: &Packet, scratch: &mut BytesMut, out: &mut Vec<Bytes>) {
        let Some(s) = self.streams.iter_mut().find(|s| s.track == packet.track) else {
            return;
        };
        if packet.data.is_empty() {
            return;
        }
        let origin = *self.origin.get_or_insert(packet.time);
        if !s.started {
            // The stream's first packet: its granule counts from the origin.
            s.started = true;
            let since = packet.time.saturating_sub(origin).max(0);
            match &mut s.timing {
                Timing::Opus => s.granule = since.saturating_mul(48),
                Timing::Vorbis(v, _) => s.granule = since.saturating_mul(i64::from(v.rate)) / 1000,
                Timing::Theora { id, key, frame } => {
                    *frame = since.saturating_mul(i64::from(id.fps_num))
                        / (1000 * i64::from(id.fps_den));
                    *key = *frame;
                }
            }
        }
        let granule = match &mut s.timing {
            Timing::Opus => s.granule + i64::from(codecs::opus_samples(&packet.data).unwrap_or(0)),
            Timing::Vorbis(v, started) => {
                let n = i64::from(v.samples(&packet.data).unwrap_or(0));
                let add = if *started { n } else { 0 };
                *started = true;
                s.granule + add
            }
            Timing::Theora { id, key, frame } => {
                if codecs::theora_keyframe(&packet.data) {
                    *key = *frame;
                }
                let g = id.granule_of(*key, *frame);
                *frame += 1;
                g
            }
        };
        s.granule = granule;
        write_packet(s, &packet.data, 0, granule, scratch, out);
    }

    /// An empty EOS page for every stream.
    pub fn finish(&mut self, out: &mut BytesMut) {
        for s in &mut self.streams {
            let head = page_header(s, EOS, s.granule, &[], &[]);
            out.extend_from_slice(&head);
        }
    }
}

fn stream_for(t: &Track) -> Option<Stream> {
    let (headers, timing) = match t.codec? {
        Codec::Opus => {
            codecs::OpusHead::parse(&t.init).ok()?;
            let mut tags = b"OpusTags".to_vec();
            let vendor = b"Eddy";
            tags.put_u32_le(vendor.len() as u32);
            tags.extend_from_slice(vendor);
            tags.put_u32_le(0);
            (vec![t.init.clone(), tags.into()], Timing::Opus)
        }
        Codec::Vorbis => {
            let headers = xiph_unlace(&t.init).ok()?;
            let id = codecs::VorbisId::parse(headers.first()?).ok()?;
            let modes = codecs::vorbis_modes(headers.get(2)?).ok()?;
            (
                headers,
                Timing::Vorbis(VorbisTiming::new(&id, modes), false),
            )
        }
        Codec::Theora => {
            let headers = xiph_unlace(&t.init).ok()?;
            let id = TheoraId::parse(headers.first()?).ok()?;
            let timing = Timing::Theora {
                id,
                key: 0,
                frame: 0,
            };
            (headers, timing)
        }
        _ => return None,
    };
    if headers.len() < 2 || headers.iter().any(Bytes::is_empty) {
        return None;
    }
    Some(Stream {
        track: t.id,
        serial: 0x4564_0000 | (t.id & 0xFFFF),
        sequence: 0,
        headers,
        timing,
        granule: 0,
        started: false,
    })
}

/// Pages for one packet: headers to `scratch` (split off and pushed to `out` before each
/// page's body), bodies as slices of `data`.
fn write_packet(
    s: &mut Stream,
    data: &Bytes,
    flags: u8,
    granule: i64,
    scratch: &mut BytesMut,
    out: &mut Vec<Bytes>,
) {
    let mut at = 0usize;
    let mut first = true;
    loop {
        let left = data.len() - at;
        let last = left <= LAST_PIECE;
        let take = if last { left } else { FULL_PIECE };
        let mut lacing = vec![255u8; take / 255];
        if last {
            lacing.push((take % 255) as u8);
        }
        let body = data.slice(at..at + take);
        let kind = if first { flags } else { CONTINUED };
        let g = if last { granule } else { -1 };
        let head = page_header(s, kind, g, &lacing, &body);
        scratch.extend_from_slice(&head);
        out.push(scratch.split().freeze());
        out.push(body);
        at += take;
        first = false;
        if last {
            break;
        }
    }
}

/// A page header (with its CRC over `body` too), and the stream's sequence advanced.
fn page_header(s: &mut Stream, kind: u8, granule: i64, lacing: &[u8], body: &[u8]) -> Vec<u8> {
    let mut head = Vec::with_capacity(HEADER_LEN + lacing.len());
    head.extend_from_slice(b"OggS");
    head.push(0);
    head.push(kind);
    head.extend_from_slice(&granule.to_le_bytes());
    head.extend_from_slice(&s.serial.to_le_bytes());
    head.extend_from_slice(&s.sequence.to_le_bytes());
    head.extend_from_slice(&[0; 4]);
    head.push(lacing.len() as u8);
    head.extend_from_slice(lacing);
    let c = crc_update(crc_update(0, &head), body);
    head[22..26].copy_from_slice(&c.to_le_bytes());
    s.sequence = s.sequence.wrapping_add(1);
    head
}
