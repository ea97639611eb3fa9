//! SDP (RFC 4566) for RTSP: the description Eddy answers DESCRIBE with ([`media_for`],
//! [`write()`], [`describe`]), and the one a publisher ANNOUNCEs or a camera DESCRIBEs
//! ([`parse`]) turned into tracks and depacketizers.
//!
//! Per payload format, the rtpmap / fmtp written and read:
//! - H.264 (RFC 6184 8.1): `H264/90000`, `packetization-mode=1;profile-level-id=PPCCLL;
//!   sprop-parameter-sets=<SPS>,<PPS>` (base64); the avcC is built from the parameter sets.
//! - HEVC (RFC 7798 7.1): `H265/90000`, `sprop-vps=;sprop-sps=;sprop-pps=`; the hvcC likewise.
//! - AAC (RFC 3640 4.1): `MPEG4-GENERIC/<rate>/<channels>`, `streamtype=5;profile-level-id=1;
//!   mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=<ASC hex>`.
//! - AAC in LATM (RFC 6416 7.3, read only): `MP4A-LATM/<rate>`, `cpresent=0;config=<
//!   StreamMuxConfig hex>` (or `cpresent=1`, configuration in band).
//! - Opus (RFC 7587 7): `opus/48000/2`, `sprop-stereo=0|1`.
//! - G.711 (RFC 3551): `PCMU/8000`, `PCMA/8000` (static types 0 and 8 need no rtpmap).
//! - MPEG audio (RFC 3551, static type 14): `MPA/90000`.
//!
//! Parsing is bounded ([`MAX_SDP`], [`MAX_LINE`], [`MAX_MEDIA`]); a media section of a codec
//! Eddy does not know is listed in [`Sdp::skipped`] and left out, not an error.

pub mod base64;
mod parse;

pub use parse::parse;

use super::rtp::{clock_rate, static_payload_type, Depacketizer, PayloadFormat, RtpError};
use super::{aac, h264, hevc, Codec, Track, TrackKind};

/// Largest SDP read.
pub const MAX_SDP: usize = 64 << 10;
/// Longest line read.
pub const MAX_LINE: usize = 8 << 10;
/// Most media sections read.
pub const MAX_MEDIA: usize = 16;

/// Errors from SDP parsing and building.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SdpError {
    #[error("SDP over {MAX_SDP} bytes")]
    TooLong,
    #[error("SDP line over {MAX_LINE} bytes")]
    LineTooLong,
    #[error("SDP with more than {MAX_MEDIA} media sections")]
    TooManyMedia,
    #[error("invalid SDP: {0}")]
    Invalid(String),
    #[error("cannot describe this track in SDP: {0}")]
    Unsupported(String),
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sdp {
    /// `s=`.
    pub session_name: String,
    /// The session-level `a=control:`, if any.
    pub control: Option<String>,
    /// The session-level `c=` address, if any.
    pub connection: Option<String>,
    /// The media sections Eddy can receive, with track ids 1, 2, ... in this order.
    pub media: Vec<SdpMedia>,
    /// The encoding names of media sections left out (unknown codecs).
    pub skipped: Vec<String>,
}

/// One `m=` section: what to write, or what was read.
#[derive(Debug, Clone, PartialEq)]
pub struct SdpMedia {
    /// `video` or `audio`.
    pub media: String,
    pub port: u16,
    pub payload_type: u8,
    /// The rtpmap encoding name as written (`H264`, `MPEG4-GENERIC`, `opus`).
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u32>,
    /// fmtp parameters in order (keys lower-cased when read).
    pub fmtp: Vec<(String, String)>,
    /// `a=control:` (`track<ID>` when written).
    pub control: Option<String>,
    pub format: PayloadFormat,
    /// The track: codec and init from the fmtp (empty init when it comes in band).
    pub track: Track,
}

impl SdpMedia {
    /// An fmtp parameter by name (case-insensitive).
    pub fn fmtp(&self, key: &str) -> Option<&str> {
        self.fmtp
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The depacketizer for this media's RTP packets.
    pub fn depacketizer(&self) -> Result<Depacketizer, RtpError> {
        Depacketizer::new(self.track.clone(), self.format.clone(), self.clock_rate)
    }
}

/// The `m=` section for a track Eddy sends, with payload type `payload_type` (used unless the
/// codec has a static one) and `a=control:track<ID>`, port 0.
pub fn media_for(track: &Track, payload_type: u8) -> Result<SdpMedia, SdpError> {
    let unsupported = |what: String| SdpError::Unsupported(what);
    let format = PayloadFormat::for_track(track)
        .ok_or_else(|| unsupported(format!("codec {:?}", track.codec)))?;
    let clock = clock_rate(track).ok_or_else(|| unsupported("no clock rate".into()))?;
    let payload_type = static_payload_type(track).unwrap_or(payload_type);
    let kv = |k: &str, v: String| (k.to_string(), v);
    let mut channels = None;
    let (encoding, fmtp) = match track.codec {
        Some(Codec::H264) => {
            let cfg = h264::parse_avcc(&track.init).map_err(|e| unsupported(e.to_string()))?;
            let sets: Vec<String> = cfg
                .sps
                .iter()
                .chain(&cfg.pps)
                .map(|s| base64::encode(s))
                .collect();
            let level = format!(
                "{:02X}{:02X}{:02X}",
                cfg.profile, cfg.compatibility, cfg.level
            );
            (
                "H264",
                vec![
                    kv("packetization-mode", "1".into()),
                    kv("profile-level-id", level),
                    kv("sprop-parameter-sets", sets.join(",")),
                ],
            )
        }
        Some(Codec::Hevc) => {
            let cfg = hevc::parse_hvcc(&track.init).map_err(|e| unsupported(e.to_string()))?;
            let list = |sets: &[bytes::Bytes]| {
                sets.iter()
                    .map(|s| base64::encode(s))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            (
                "H265",
                vec![
                    kv("sprop-vps", list(&cfg.vps)),
                    kv("sprop-sps", list(&cfg.sps)),
                    kv("sprop-pps", list(&cfg.pps)),
                ],
            )
        }
        Some(Codec::Aac) => {
            aac::parse_asc(&track.init).map_err(|e| unsupported(e.to_string()))?;
            channels = Some(track.channels.max(1));
            (
                "MPEG4-GENERIC",
                vec![
                    kv("streamtype", "5".into()),
                    kv("profile-level-id", "1".into()),
                    kv("mode", "AAC-hbr".into()),
                    kv("sizelength", "13".into()),
                    kv("indexlength", "3".into()),
                    kv("indexdeltalength", "3".into()),
                    kv("config", hex(&track.init)),
                ],
            )
        }
        Some(Codec::Opus) => {
            if track.channels > 2 {
                return Err(unsupported(format!(
                    "Opus with {} channels",
                    track.channels
                )));
            }
            channels = Some(2);
            let stereo = if track.channels == 2 { "1" } else { "0" };
            ("opus", vec![kv("sprop-stereo", stereo.into())])
        }
        Some(Codec::Ulaw | Codec::Alaw) => {
            channels = (track.channels > 1).then_some(track.channels);
            let name = if track.codec == Some(Codec::Ulaw) {
                "PCMU"
            } else {
                "PCMA"
            };
            (name, Vec::new())
        }
        _ => ("MPA", Vec::new()),
    };
    Ok(SdpMedia {
        media: match track.kind() {
            Some(TrackKind::Video) => "video",
            _ => "audio",
        }
        .to_string(),
        port: 0,
        payload_type,
        encoding: encoding.to_string(),
        clock_rate: clock,
        channels,
        fmtp,
        control: Some(format!("track{}", track.id)),
        format,
        track: track.clone(),
    })
}

/// Session-level fields of a written SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// `s=`: the stream name.
    pub name: String,
    /// The server's address for `o=`.
    pub origin: String,
    /// `c=`: where media goes (`0.0.0.0` for RTSP, where SETUP says it).
    pub connection: String,
}

/// Writes an SDP: session lines (with `a=control:*`), then each media section.
pub fn write(session: &SessionInfo, media: &[SdpMedia]) -> String {
    let family = |addr: &str| if addr.contains(':') { "IP6" } else { "IP4" };
    let clean = |s: &str| s.replace(['\r', '\n'], " ");
    let mut out =
        format!(
        "v=0\r\no=- 0 0 IN {} {}\r\ns={}\r\nc=IN {} {}\r\nt=0 0\r\na=tool:Eddy\r\na=control:*\r\n",
        family(&session.origin),
        clean(&session.origin),
        clean(if session.name.is_empty() { "-" } else { &session.name }),
        family(&session.connection),
        clean(&session.connection),
    );
    for m in media {
        let pt = m.payload_type;
        out.push_str(&format!("m={} {} RTP/AVP {pt}\r\n", m.media, m.port));
        let channels = m.channels.map(|c| format!("/{c}")).unwrap_or_default();
        out.push_str(&format!(
            "a=rtpmap:{pt} {}/{}{channels}\r\n",
            m.encoding, m.clock_rate
        ));
        if !m.fmtp.is_empty() {
            let params: Vec<String> = m.fmtp.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("a=fmtp:{pt} {}\r\n", params.join(";")));
        }
        if let Some(control) = &m.control {
            out.push_str(&format!("a=control:{}\r\n", clean(control)));
        }
    }
    out
}

/// The SDP for a stream's tracks: every track Eddy can send over RTP, dynamic payload types
/// from 96; the media sections come back too (for SETUP and the packetizers).
pub fn describe(session: &SessionInfo, tracks: &[Track]) -> (String, Vec<SdpMedia>) {
    let media: Vec<SdpMedia> = (96u8..)
        .zip(tracks)
        .filter_map(|(pt, track)| media_for(track, pt).ok())
        .collect();
    (write(session, &media), media)
}

/// The URL of a media's `a=control:` against the presentation's base URL (RFC 2326 C.1.1):
/// absolute URLs stay, `*` is the base, anything else is appended to it.
pub fn resolve_control(base: &str, control: &str) -> String {
    if control.contains("://") {
        control.to_string()
    } else if control == "*" || control.is_empty() {
        base.to_string()
    } else if base.ends_with('/') {
        format!("{base}{control}")
    } else {
        format!("{base}/{control}")
    }
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests;
