//! G.711 over RTP (RFC 3551 4.5.14): PCMU (mu-law, static payload type 0) and PCMA (A-law, 8),
//! one byte a sample and channel, the clock at the sample rate (8 kHz for the static types).
//! A packet is any whole number of samples; sending cuts frames at the MTU.

use super::super::{Codec, Track};

/// The track of a G.711 stream.
pub fn track(codec: Codec, rate: u32, channels: u32) -> Track {
    Track {
        codec: Some(codec),
        codec_string: codec.mist_name().to_ascii_lowercase(),
        rate,
        channels: channels.max(1),
        size: 8,
        ..Track::default()
    }
}

/// The payloads of one frame, each at most `mtu` bytes (a whole number of `channels`
/// samples), with each one's offset in samples from the frame's start.
pub(super) fn payloads(frame: &[u8], mtu: usize, channels: usize) -> Vec<(Vec<u8>, u32)> {
    let channels = channels.max(1);
    let chunk = (mtu / channels).max(1) * channels;
    frame
        .chunks(chunk)
        .enumerate()
        .map(|(i, piece)| {
            let offset = u32::try_from(i * chunk / channels).unwrap_or(u32::MAX);
            (piece.to_vec(), offset)
        })
        .collect()
}
