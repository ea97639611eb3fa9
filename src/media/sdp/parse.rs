//! Reading an SDP: `s=`, `c=`, `a=control:` at session level; per `m=` line its payload types
//! with `a=rtpmap:`, `a=fmtp:` and `a=control:`. Other lines are ignored. Of a media section's
//! payload types the first one Eddy can receive is taken.

use bytes::Bytes;

use super::super::rtp::{g711, opus, AuHeaderLayout, PayloadFormat};
use super::super::ts::latm::parse_stream_mux_config;
use super::super::{aac, h264, hevc, Codec, Track};
use super::{base64, unhex, Sdp, SdpError, SdpMedia, MAX_LINE, MAX_MEDIA, MAX_SDP};

/// One `m=` section as read, before its codec is known.
#[derive(Default)]
struct Section {
    media: String,
    port: u16,
    formats: Vec<u8>,
    /// (payload type, encoding, clock, channels)
    rtpmaps: Vec<(u8, String, u32, Option<u32>)>,
    fmtps: Vec<(u8, String)>,
    control: Option<String>,
}

/// Parses an SDP. Errors only for an SDP over the limits or with a malformed `m=` line;
/// unknown codecs go to [`Sdp::skipped`].
pub fn parse(text: &str) -> Result<Sdp, SdpError> {
    if text.len() > MAX_SDP {
        return Err(SdpError::TooLong);
    }
    let mut sdp = Sdp::default();
    let mut sections: Vec<Section> = Vec::new();
    for line in text.lines() {
        if line.len() > MAX_LINE {
            return Err(SdpError::LineTooLong);
        }
        let line = line.trim();
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        if kind == "m" {
            if sections.len() >= MAX_MEDIA {
                return Err(SdpError::TooManyMedia);
            }
            sections.push(media_line(value)?);
            continue;
        }
        let attribute = kind == "a";
        match sections.last_mut() {
            None => match kind {
                "s" => sdp.session_name = value.to_string(),
                "c" => sdp.connection = value.rsplit(' ').next().map(str::to_string),
                _ if attribute => {
                    if let Some(control) = value.strip_prefix("control:") {
                        sdp.control = Some(control.trim().to_string());
                    }
                }
                _ => {}
            },
            Some(section) if attribute => attribute_line(section, value),
            Some(_) => {}
        }
    }
    for section in sections {
        match media(&section) {
            Ok(mut media) => {
                media.track.id = u32::try_from(sdp.media.len() + 1).unwrap_or(u32::MAX);
                sdp.media.push(media);
            }
            Err(name) => sdp.skipped.push(name),
        }
    }
    Ok(sdp)
}

/// `m=<media> <port>[/<count>] <proto> <fmt> ...`
fn media_line(value: &str) -> Result<Section, SdpError> {
    let invalid = || SdpError::Invalid(format!("m={value}"));
    let mut fields = value.split_ascii_whitespace();
    let media = fields.next().ok_or_else(invalid)?.to_string();
    let port = fields.next().ok_or_else(invalid)?;
    let port = port
        .split('/')
        .next()
        .unwrap_or_default()
        .parse()
        .map_err(|_| invalid())?;
    let _proto = fields.next().ok_or_else(invalid)?;
    // Non-RTP formats (not numbers) are left out; the section is skipped if none is left.
    let formats = fields
        .filter_map(|f| f.parse::<u8>().ok())
        .take(32)
        .collect();
    Ok(Section {
        media,
        port,
        formats,
        ..Section::default()
    })
}

fn attribute_line(section: &mut Section, value: &str) {
    if let Some(control) = value.strip_prefix("control:") {
        section.control = Some(control.trim().to_string());
    } else if let Some(map) = value.strip_prefix("rtpmap:") {
        // <pt> <encoding>/<clock>[/<channels>]
        let Some((pt, rest)) = map.split_once(' ') else {
            return;
        };
        let Ok(pt) = pt.trim().parse::<u8>() else {
            return;
        };
        let mut parts = rest.trim().split('/');
        let encoding = parts.next().unwrap_or_default().to_string();
        let clock = parts
            .next()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(0);
        let channels = parts.next().and_then(|c| c.trim().parse().ok());
        if section.rtpmaps.len() < 32 {
            section.rtpmaps.push((pt, encoding, clock, channels));
        }
    } else if let Some(fmtp) = value.strip_prefix("fmtp:") {
        let Some((pt, params)) = fmtp.split_once(' ') else {
            return;
        };
        if let (Ok(pt), true) = (pt.trim().parse::<u8>(), section.fmtps.len() < 32) {
            section.fmtps.push((pt, params.trim().to_string()));
        }
    }
}

/// The first payload type of a section that Eddy can receive, or the name of the first one.
fn media(section: &Section) -> Result<SdpMedia, String> {
    let mut first_name = None;
    for &pt in &section.formats {
        let (encoding, clock, channels) = match section.rtpmaps.iter().find(|m| m.0 == pt) {
            Some((_, encoding, clock, channels)) => (encoding.clone(), *clock, *channels),
            None => match pt {
                0 => ("PCMU".to_string(), 8_000, None),
                8 => ("PCMA".to_string(), 8_000, None),
                14 => ("MPA".to_string(), 90_000, None),
                _ => (format!("payload type {pt}"), 0, None),
            },
        };
        let fmtp: Vec<(String, String)> = section
            .fmtps
            .iter()
            .find(|f| f.0 == pt)
            .map(|(_, params)| fmtp_params(params))
            .unwrap_or_default();
        match codec(&encoding, clock, channels, &fmtp) {
            Ok((format, track)) if clock > 0 => {
                return Ok(SdpMedia {
                    media: section.media.clone(),
                    port: section.port,
                    payload_type: pt,
                    encoding,
                    clock_rate: clock,
                    channels,
                    fmtp,
                    control: section.control.clone(),
                    format,
                    track,
                })
            }
            Ok(_) => first_name.get_or_insert(format!("{encoding} without a clock rate")),
            Err(why) => first_name.get_or_insert(why),
        };
    }
    Err(first_name.unwrap_or_else(|| format!("{} with no RTP payload type", section.media)))
}

/// `key=value;key=value` with keys lower-cased (at most 32).
fn fmtp_params(params: &str) -> Vec<(String, String)> {
    params
        .split(';')
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .take(32)
        .collect()
}

fn param<'a>(fmtp: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fmtp.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The payload format and track of an encoding; `Err` names what is not supported.
fn codec(
    encoding: &str,
    clock: u32,
    channels: Option<u32>,
    fmtp: &[(String, String)],
) -> Result<(PayloadFormat, Track), String> {
    let upper = encoding.to_ascii_uppercase();
    let bare = |codec: Codec| Track {
        codec: Some(codec),
        ..Track::default()
    };
    Ok(match upper.as_str() {
        "H264" => {
            let sets = param(fmtp, "sprop-parameter-sets")
                .map(parameter_sets)
                .unwrap_or_default();
            let find = |t| sets.iter().find(|s| h264::nal_type(s) == Some(t));
            let track = match (find(h264::NAL_SPS), find(h264::NAL_PPS)) {
                (Some(sps), Some(pps)) => h264::build_avcc(sps, pps)
                    .and_then(h264::track_from_avcc)
                    .unwrap_or_else(|_| bare(Codec::H264)),
                _ => bare(Codec::H264),
            };
            (PayloadFormat::H264, track)
        }
        "H265" | "HEVC" => {
            let first = |key| {
                param(fmtp, key)
                    .map(parameter_sets)
                    .and_then(|s| s.into_iter().next())
            };
            let track = match (first("sprop-vps"), first("sprop-sps"), first("sprop-pps")) {
                (Some(vps), Some(sps), Some(pps)) => hevc::build_hvcc(&vps, &sps, &pps)
                    .and_then(hevc::track_from_hvcc)
                    .unwrap_or_else(|_| bare(Codec::Hevc)),
                _ => bare(Codec::Hevc),
            };
            if param(fmtp, "sprop-max-don-diff").is_some_and(|d| d.trim() != "0") {
                return Err("H265 with DONL (sprop-max-don-diff)".into());
            }
            (PayloadFormat::Hevc, track)
        }
        "MPEG4-GENERIC" => {
            let config = param(fmtp, "config")
                .and_then(unhex)
                .ok_or("MPEG4-GENERIC without a config")?;
            let track = aac::track_from_asc(Bytes::from(config))
                .map_err(|e| format!("MPEG4-GENERIC config: {e}"))?;
            let number = |key| {
                param(fmtp, key)
                    .map(|v| {
                        v.trim()
                            .parse::<u8>()
                            .map_err(|_| format!("MPEG4-GENERIC {key}={v}"))
                    })
                    .transpose()
                    .map(Option::unwrap_or_default)
            };
            let layout = AuHeaderLayout {
                size_length: number("sizelength")?,
                index_length: number("indexlength")?,
                index_delta_length: number("indexdeltalength")?,
            };
            if layout.size_length == 0 {
                return Err("MPEG4-GENERIC without AU sizes (only AAC modes are supported)".into());
            }
            (PayloadFormat::Mpeg4Generic(layout), track)
        }
        "MP4A-LATM" => {
            if param(fmtp, "cpresent").map(str::trim) == Some("0") {
                let config = param(fmtp, "config")
                    .and_then(unhex)
                    .ok_or("MP4A-LATM with cpresent=0 needs a config")?;
                let config = parse_stream_mux_config(&config)
                    .map_err(|e| format!("MP4A-LATM config: {e}"))?;
                let track = aac::track_from_asc(config.asc.clone())
                    .map_err(|e| format!("MP4A-LATM config: {e}"))?;
                (PayloadFormat::Latm(Some(config)), track)
            } else {
                let track = Track {
                    rate: clock,
                    channels: channels.unwrap_or(1),
                    ..bare(Codec::Aac)
                };
                (PayloadFormat::Latm(None), track)
            }
        }
        "OPUS" => {
            let stereo = param(fmtp, "sprop-stereo").map(str::trim) != Some("0");
            (PayloadFormat::Opus, opus::track(if stereo { 2 } else { 1 }))
        }
        "PCMU" | "PCMA" => {
            let codec = if upper == "PCMU" {
                Codec::Ulaw
            } else {
                Codec::Alaw
            };
            (
                PayloadFormat::G711,
                g711::track(codec, clock, channels.unwrap_or(1)),
            )
        }
        "MPA" => {
            let track = Track {
                codec_string: "mp4a.40.34".into(),
                ..bare(Codec::Mp3)
            };
            (PayloadFormat::Mpa, track)
        }
        _ => return Err(encoding.to_string()),
    })
}

/// A comma-separated list of base64 NAL units (undecodable ones left out, at most 8).
fn parameter_sets(list: &str) -> Vec<Vec<u8>> {
    list.split(',')
        .filter_map(base64::decode)
        .filter(|s| !s.is_empty())
        .take(8)
        .collect()
}
