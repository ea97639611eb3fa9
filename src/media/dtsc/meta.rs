//! The DTSC header (facts §10.3) as our tracks, and `DTP2` packets as our packets.
//!
//! Header as Eddy writes it (members sorted, as every packed object):
//!
//! ```text
//!   { live:1 | vod:1, tracks:{ "<id>":{ bps, channels, codec, firstms, height, init, lang,
//!     lastms, maxbps, rate, size, trackid, type, width, fpks }, ... }, unixzero?, version:4 }
//! ```
//!
//! Audio tracks carry `rate`/`size`/`channels`, video tracks `width`/`height`/`fpks`; `lang`
//! only when known. The binary index members MistServer keeps in `.dtsh` files (`fragments`,
//! `keys`, `parts`, `keysizes`) are left out, as MistServer leaves them out over the protocol.
//! Reading takes what it knows and ignores the rest; a track whose codec Eddy does not know is
//! skipped (and named, so the caller can say so).

use super::frame::DataPacket;
use super::value::Value;
use crate::media::{aac, h264, hevc, Codec, Packet, Track, TrackKind};

/// Most tracks a header may announce.
pub const MAX_TRACKS: usize = 1024;
/// The `version` member Eddy writes (MistServer's current metadata version).
pub const HEADER_VERSION: i64 = 4;

/// A header, read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    /// `live:1` (else the stream is on demand, `vod:1`).
    pub live: bool,
    /// Unix time in ms of media time 0, when the sender knows it.
    pub unixzero: Option<i64>,
    /// The tracks Eddy can carry, with their DTSC track ids.
    pub tracks: Vec<Track>,
    /// `"<id>:<codec>"` of the tracks left out.
    pub skipped: Vec<String>,
}

/// Why a header is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaError {
    #[error("DTSC header has no tracks object")]
    NoTracks,
    #[error("DTSC header announces {0} tracks (at most {MAX_TRACKS})")]
    TooManyTracks(usize),
}

/// The header object for `tracks` (their ids are the DTSC track ids).
pub fn header(tracks: &[Track], live: bool, unixzero: Option<i64>) -> Value {
    let mut members = vec![
        (if live { "live" } else { "vod" }, Value::Int(1)),
        ("version", Value::Int(HEADER_VERSION)),
        (
            "tracks",
            Value::Object(
                tracks
                    .iter()
                    .map(|t| (t.id.to_string(), track_value(t)))
                    .collect(),
            ),
        ),
    ];
    if let Some(z) = unixzero {
        members.push(("unixzero", Value::Int(z)));
    }
    Value::object(members)
}

/// One track's member of the header.
pub fn track_value(t: &Track) -> Value {
    let kind = match t.kind() {
        Some(TrackKind::Video) => "video",
        Some(TrackKind::Audio) => "audio",
        _ => "meta",
    };
    let mut m = vec![
        ("trackid", Value::Int(i64::from(t.id))),
        ("codec", Value::str(t.codec.map_or("", Codec::mist_name))),
        ("type", Value::str(kind)),
        ("init", Value::Str(t.init.clone())),
        ("firstms", Value::Int(t.firstms)),
        ("lastms", Value::Int(t.lastms)),
        ("bps", Value::Int(clamp_i64(t.bps))),
        ("maxbps", Value::Int(clamp_i64(t.bps))),
    ];
    match t.kind() {
        Some(TrackKind::Video) => {
            m.push(("width", Value::Int(i64::from(t.width))));
            m.push(("height", Value::Int(i64::from(t.height))));
            m.push(("fpks", Value::Int(i64::from(t.fpks))));
        }
        Some(TrackKind::Audio) => {
            m.push(("rate", Value::Int(i64::from(t.rate))));
            m.push(("size", Value::Int(i64::from(t.size))));
            m.push(("channels", Value::Int(i64::from(t.channels))));
        }
        _ => {}
    }
    if !t.lang.is_empty() {
        m.push(("lang", Value::str(t.lang.clone())));
    }
    Value::object(m)
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Reads a header object.
pub fn parse_header(v: &Value) -> Result<Header, MetaError> {
    let tracks = match v.get("tracks") {
        Some(Value::Object(t)) => t,
        // A header without tracks (a stream that has none yet) is an empty list.
        None | Some(Value::Null) => &Vec::new(),
        Some(_) => return Err(MetaError::NoTracks),
    };
    if tracks.len() > MAX_TRACKS {
        return Err(MetaError::TooManyTracks(tracks.len()));
    }
    let mut out = Header {
        live: v
            .get("live")
            .and_then(Value::as_int)
            .is_some_and(|l| l != 0)
            || v.get("vod").and_then(Value::as_int).is_none_or(|l| l == 0),
        unixzero: v.get("unixzero").and_then(Value::as_int).filter(|z| *z > 0),
        ..Header::default()
    };
    for (key, t) in tracks {
        let id = t
            .get("trackid")
            .and_then(Value::as_int)
            .or_else(|| key.parse().ok())
            .and_then(|id| u32::try_from(id).ok())
            .filter(|id| *id > 0);
        let codec_name = t.get("codec").and_then(Value::as_text).unwrap_or_default();
        let codec = Codec::from_mist_name(&codec_name);
        let (Some(id), Some(codec)) = (id, codec) else {
            out.skipped.push(format!("{key}:{codec_name}"));
            continue;
        };
        if codec.kind() == TrackKind::Meta || out.tracks.iter().any(|t| t.id == id) {
            out.skipped.push(format!("{key}:{codec_name}"));
            continue;
        }
        out.tracks.push(track_from(id, codec, t));
    }
    Ok(out)
}

/// A track from its header member: parameters from the init data where Eddy parses it, the
/// header's own numbers where it gives them.
fn track_from(id: u32, codec: Codec, v: &Value) -> Track {
    let init = v
        .get("init")
        .and_then(Value::as_bytes)
        .cloned()
        .unwrap_or_default();
    let parsed = match codec {
        Codec::H264 => h264::track_from_avcc(init.clone()).ok(),
        Codec::Hevc => hevc::track_from_hvcc(init.clone()).ok(),
        Codec::Aac => aac::track_from_asc(init.clone()).ok(),
        _ => None,
    };
    let mut t = parsed.unwrap_or_else(|| Track {
        codec_string: default_codec_string(codec),
        init: init.clone(),
        ..Track::default()
    });
    t.id = id;
    t.codec = Some(codec);
    let num = |k: &str| {
        v.get(k)
            .and_then(Value::as_int)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
    };
    for (field, key) in [
        (&mut t.width, "width"),
        (&mut t.height, "height"),
        (&mut t.fpks, "fpks"),
        (&mut t.rate, "rate"),
        (&mut t.channels, "channels"),
        (&mut t.size, "size"),
    ] {
        if let Some(n) = num(key) {
            *field = n;
        }
    }
    t.bps = v
        .get("bps")
        .and_then(Value::as_int)
        .and_then(|b| u64::try_from(b).ok())
        .unwrap_or(0);
    t.firstms = v.get("firstms").and_then(Value::as_int).unwrap_or(0);
    t.lastms = v.get("lastms").and_then(Value::as_int).unwrap_or(0);
    t.lang = v
        .get("lang")
        .and_then(Value::as_text)
        .filter(|l| l.len() <= 8 && l != "und")
        .unwrap_or_default();
    t
}

/// The RFC 6381 name of a codec whose init Eddy does not parse.
fn default_codec_string(codec: Codec) -> String {
    match codec {
        Codec::Mp3 => "mp4a.40.34".into(),
        Codec::Ac3 => "ac-3".into(),
        Codec::H264 => "avc1".into(),
        Codec::Hevc => "hvc1".into(),
        Codec::Aac => "mp4a.40.2".into(),
        Codec::Av1 => "av01".into(),
        Codec::Vp9 => "vp09".into(),
        other => other.mist_name().to_ascii_lowercase(),
    }
}

/// Our packet from a DTSC one (the track id is the caller's to map).
pub fn to_packet(p: DataPacket, track: u32) -> Packet {
    Packet {
        track,
        time: p.time,
        offset: i32::try_from(p.offset).unwrap_or(0),
        keyframe: p.keyframe,
        data: p.data,
    }
}

/// A DTSC packet from ours, as track `track` on the wire.
pub fn from_packet(p: &Packet, track: u32) -> DataPacket {
    DataPacket {
        track,
        time: p.time.max(0),
        offset: i64::from(p.offset),
        keyframe: p.keyframe,
        data: p.data.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testutil;

    #[test]
    fn header_round_trips_tracks() {
        let (video, audio, _) = testutil::load_flv(include_bytes!("../testdata/h264_aac.flv"));
        let (video, mut audio) = (video.expect("video"), audio.expect("audio"));
        audio.lang = "eng".into();
        let v = header(
            &[video.clone(), audio.clone()],
            true,
            Some(1_700_000_000_000),
        );
        let bytes = v.encode();
        let (back, _) = Value::decode(&bytes).expect("decodes");
        assert_eq!(back.get("live"), Some(&Value::Int(1)));
        assert_eq!(back.get("version"), Some(&Value::Int(4)));
        let t1 = back
            .get("tracks")
            .and_then(|t| t.get("1"))
            .expect("track 1");
        assert_eq!(
            t1.get("codec").and_then(Value::as_text).as_deref(),
            Some("H264")
        );
        assert_eq!(
            t1.get("type").and_then(Value::as_text).as_deref(),
            Some("video")
        );
        assert!(t1.get("rate").is_none());
        let h = parse_header(&back).expect("parses");
        assert!(h.live);
        assert_eq!(h.unixzero, Some(1_700_000_000_000));
        assert_eq!(h.tracks.len(), 2);
        assert_eq!(h.tracks[0].codec, Some(Codec::H264));
        assert_eq!(h.tracks[0].init, video.init);
        assert_eq!(h.tracks[0].codec_string, video.codec_string);
        assert_eq!(
            (h.tracks[0].width, h.tracks[0].height),
            (video.width, video.height)
        );
        assert_eq!(h.tracks[1].codec, Some(Codec::Aac));
        assert_eq!(
            (h.tracks[1].rate, h.tracks[1].channels),
            (audio.rate, audio.channels)
        );
        assert_eq!(h.tracks[1].lang, "eng");
        assert!(h.skipped.is_empty());
    }

    #[test]
    fn unknown_codecs_and_bad_ids_are_skipped() {
        let v = Value::object([
            ("vod", Value::Int(1)),
            (
                "tracks",
                Value::object([
                    (
                        "video_VP6",
                        Value::object([("codec", Value::str("VP6")), ("trackid", Value::Int(3))]),
                    ),
                    ("x", Value::object([("codec", Value::str("MP3"))])),
                    (
                        "4",
                        Value::object([("codec", Value::str("MP3")), ("rate", Value::Int(44100))]),
                    ),
                ]),
            ),
        ]);
        let h = parse_header(&v).expect("parses");
        assert!(!h.live);
        assert_eq!(h.tracks.len(), 1);
        assert_eq!((h.tracks[0].id, h.tracks[0].rate), (4, 44100));
        assert_eq!(h.skipped, ["video_VP6:VP6", "x:MP3"]);
        assert_eq!(
            parse_header(&Value::object([("tracks", Value::Int(1))])),
            Err(MetaError::NoTracks)
        );
    }

    #[test]
    fn a_real_files_packets_survive_dtp2() {
        use super::super::frame::{packet_frame, read_frame, Frame};
        let (_, _, packets) = testutil::load_flv(include_bytes!("../testdata/h264_aac.flv"));
        assert!(packets.len() > 10, "{}", packets.len());
        let mut wire = bytes::BytesMut::new();
        for p in &packets {
            wire.extend_from_slice(&packet_frame(&from_packet(p, p.track)));
        }
        for p in &packets {
            let Ok(Some(Frame::Packet(d))) = read_frame(&mut wire) else {
                panic!("a packet");
            };
            let track = d.track;
            assert_eq!(&to_packet(d, track), p);
        }
        assert!(wire.is_empty());
    }

    #[test]
    fn packets_convert_both_ways() {
        let p = Packet {
            track: 7,
            time: 1000,
            offset: 80,
            keyframe: true,
            data: bytes::Bytes::from_static(b"frame"),
        };
        let d = from_packet(&p, 1);
        assert_eq!((d.track, d.time, d.offset, d.keyframe), (1, 1000, 80, true));
        assert_eq!(to_packet(d, 7), p);
    }
}
