//! Opus over RTP (RFC 7587): one Opus packet per RTP packet, a 48 kHz clock whatever the
//! coded rate, `opus/48000/2` in the SDP with `sprop-stereo` saying whether the sender sends
//! stereo (7.1). The track's init is an OpusHead (RFC 7845 5.1) for one or two channels, as
//! the TS demuxer builds it ([`crate::media::ts::opus::opus_head`]).

use super::super::ogg::codecs::OpusHead;
use super::super::ts::opus::opus_head;
use super::super::Track;
use super::RtpError;

/// The track of an Opus stream of 1 or 2 channels (anything else is taken as 2).
pub fn track(channels: u8) -> Track {
    let code = if channels == 1 { 1 } else { 2 };
    // Codes 1 and 2 always make a valid OpusHead.
    opus_head(code, 0)
        .and_then(|head| OpusHead::parse(&head))
        .map(|head| head.track())
        .unwrap_or_default()
}

/// The payload of one Opus packet: the packet itself (RTP cannot fragment Opus; packets are
/// at most 1275 bytes a frame, so a long one is refused rather than sent over the MTU by far).
pub(super) fn payloads(packet: &[u8], mtu: usize) -> Result<Vec<Vec<u8>>, RtpError> {
    if packet.len() > mtu.max(1275 * 3) {
        return Err(RtpError::Payload {
            codec: "opus",
            reason: format!("packet of {} bytes", packet.len()),
        });
    }
    Ok(vec![packet.to_vec()])
}
