//! MPEG-2 transport streams: the muxer (HLS segments, progressive `.ts` output, recordings)
//! and the demuxer (TS over UDP, HLS pull inputs).
//!
//! - ISO/IEC 13818-1 (ITU-T H.222.0): 2.4.3 transport packets ([`packet`]), 2.4.3.6 / 2.4.3.7
//!   PES packets ([`pes`]), 2.4.4 program specific information with the CRC_32 of Annex A
//!   ([`psi`]); the muxer is [`mux`], the demuxer [`demux`].
//! - Table 2-34 stream_type values: 0x1B H.264, 0x24 HEVC, 0x0F AAC in ADTS, 0x03 MPEG-1
//!   audio, 0x04 MPEG-2 audio; 0x81 AC-3 (ATSC A/52 Annex A, with an `AC-3` registration
//!   descriptor); 0x06 Opus (with an `Opus` registration, [`opus`]); read only: 0x11 AAC in
//!   LATM / LOAS ([`latm`]).
//!
//! A transport packet is 188 bytes: a 4-byte header, an optional adaptation field, then up to
//! 184 bytes of payload (see [`packet`] for the layout).
//!
//! Each [`Packet`] becomes one PES packet. Times are converted from milliseconds: DTS =
//! (time + [`DELAY_MS`]) * 90, PTS = (time + offset + [`DELAY_MS`]) * 90, PCR = time * 90, all
//! modulo 2^33, so the decoder clock runs [`DELAY_MS`] behind the decode times.
//!
//! A PES is the same for every viewer ([`pes_packet`]); the transport packets around it are
//! per viewer ([`TsMuxer::packetize`], which slices the shared PES instead of copying it).

pub mod demux;
pub mod latm;
pub mod mux;
pub mod opus;
pub mod packet;
pub mod pes;
pub mod psi;

#[cfg(test)]
mod tests;

use bytes::{Bytes, BytesMut};

use super::aac::AacError;
use super::nal::NalError;
use super::{Codec, Packet, Track};

pub use demux::{DemuxError, TsDemuxer, TsEvent};

/// Whether the muxer carries `codec` (Table 2-34 stream types it writes).
pub fn carries(codec: Codec) -> bool {
    matches!(
        codec,
        Codec::H264 | Codec::Hevc | Codec::Aac | Codec::Mp3 | Codec::Ac3 | Codec::Opus
    )
}
pub use mux::{TableRepeat, TsMuxer};
pub use packet::TsPacket;
pub use pes::{pes_packet, PesFormat, PesHeader};
pub use psi::crc32_mpeg2;

/// Size of one transport packet.
pub const TS_PACKET: usize = 188;
/// How far (ms) decode and presentation times are put after the PCR.
pub const DELAY_MS: i64 = 200;

const SYNC_BYTE: u8 = 0x47;
const HEADER_LEN: usize = 4;
/// Payload room of a packet without an adaptation field.
const PACKET_PAYLOAD: usize = TS_PACKET - HEADER_LEN;
/// 2^33: PTS, DTS and the PCR base wrap there.
const TIMESTAMP_WRAP: i64 = 1 << 33;

/// Errors from [`TsMuxer::write_packet`], [`pes_packet`] and [`segment`].
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TsError {
    #[error("track {0} is not one of this muxer's tracks")]
    UnknownTrack(u32),
    #[error("track {0} has a codec that MPEG-TS output does not carry")]
    Unsupported(u32),
    #[error("track {track} has an unusable decoder configuration: {reason}")]
    BadConfig { track: u32, reason: String },
    #[error("malformed NAL units: {0}")]
    Nal(#[from] NalError),
    #[error("cannot write ADTS: {0}")]
    Adts(#[from] AacError),
    #[error("timestamp {0} ms is out of range")]
    Timestamp(i64),
}

impl TsError {
    /// Whether the error is about the track rather than the packet's data.
    fn is_track_not_carried(&self) -> bool {
        matches!(
            self,
            TsError::UnknownTrack(_) | TsError::Unsupported(_) | TsError::BadConfig { .. }
        )
    }
}

/// A standalone segment: PAT and PMT, then every packet as PES. Packets of tracks the muxer
/// does not carry are skipped; malformed packets fail the segment.
pub fn segment(tracks: &[Track], packets: &[&Packet]) -> Result<Bytes, TsError> {
    let mut muxer = TsMuxer::new(tracks);
    // Sized up front (payload in 184-byte packets, plus a PES head and a PCR packet's worth per
    // packet, plus the tables): grown by doubling, a cached segment would keep up to twice its
    // size for as long as it is cached.
    let payload: usize = packets.iter().map(|p| p.data.len()).sum();
    let estimate = (payload / 184 + 2 * packets.len() + 4) * 188;
    let mut out = BytesMut::with_capacity(estimate);
    muxer.write_tables(&mut out);
    for packet in packets {
        match muxer.write_packet(packet.track, packet, &mut out) {
            Err(e) if !e.is_track_not_carried() => return Err(e),
            _ => {}
        }
    }
    Ok(out.freeze())
}
