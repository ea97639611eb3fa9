//! The `onMetaData` script data, one builder for every FLV and RTMP output.
//!
//! - Adobe Flash Video File Format Specification v10.1, Annex E: E.4.4.1 SCRIPTDATA (a name
//!   string, then an ECMA array) and E.5 onMetaData (duration, width, height, framerate,
//!   videocodecid, audiocodecid, audiosamplerate, audiosamplesize, stereo, filesize, encoder).
//! - Enhanced RTMP: `videocodecid` is the FourCC as a number for `hvc1`, `av01`, `vp09`.
//!
//! Live outputs (HTTP-FLV, RTMP play, RTMP push) and recorded files differ only in
//! [`Purpose`]: a file also has a `filesize`, and both numbers are patched when it is finished
//! ([`file_metadata`] tells where they are).

use bytes::Bytes;

use super::super::amf0::{self, Amf0Value};
use super::super::{Codec, Track};

/// What an `onMetaData` is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A live stream: `duration` 0, no `filesize`, `encoder` is the `Server` header
    /// (`Eddy/<version>`).
    Live,
    /// A recording: `duration` and `filesize` are 0 until patched, `encoder` is `Eddy`.
    File,
}

/// `onMetaData` for the first video and audio track, as AMF0 values (the name, then an ECMA
/// array): `duration`, `filesize` (files only), `width`, `height`, `framerate` (when known),
/// `videocodecid`, `audiocodecid`, `audiosamplerate`, `audiosamplesize` (at least 16),
/// `stereo`, `encoder`.
pub fn build(video: Option<&Track>, audio: Option<&Track>, purpose: Purpose) -> Vec<Amf0Value> {
    let number = |key: &str, value: f64| (key.to_string(), Amf0Value::Number(value));
    let mut props: Vec<(String, Amf0Value)> = vec![number("duration", 0.0)];
    if purpose == Purpose::File {
        props.push(number("filesize", 0.0));
    }
    if let Some(v) = video {
        props.push(number("width", f64::from(v.width)));
        props.push(number("height", f64::from(v.height)));
        if v.fpks > 0 {
            props.push(number("framerate", f64::from(v.fpks) / 1000.0));
        }
        props.push(number("videocodecid", video_codec_id(v.codec)));
    }
    if let Some(a) = audio {
        let id = if a.codec == Some(Codec::Mp3) {
            2.0
        } else {
            10.0
        };
        props.push(number("audiocodecid", id));
        props.push(number("audiosamplerate", f64::from(a.rate)));
        props.push(number("audiosamplesize", f64::from(a.size.max(16))));
        props.push(("stereo".into(), Amf0Value::Boolean(a.channels > 1)));
    }
    let encoder = match purpose {
        Purpose::Live => crate::server_header(),
        Purpose::File => "Eddy".to_string(),
    };
    props.push(("encoder".into(), Amf0Value::String(encoder)));
    vec![
        Amf0Value::String("onMetaData".into()),
        Amf0Value::EcmaArray(props),
    ]
}

/// `onMetaData` for a live stream (no duration): HTTP-FLV, RTMP play and RTMP push.
pub fn on_metadata(video: Option<&Track>, audio: Option<&Track>) -> Vec<Amf0Value> {
    build(video, audio, Purpose::Live)
}

/// The encoded `onMetaData` of a recording and where, in `body`, its `duration` and
/// `filesize` numbers are (8-byte big-endian doubles, written as 0).
#[derive(Debug, Clone, PartialEq)]
pub struct FileMetadata {
    /// The script tag body.
    pub body: Bytes,
    pub duration_at: usize,
    pub filesize_at: usize,
}

/// [`build`] for [`Purpose::File`], encoded.
pub fn file_metadata(video: Option<&Track>, audio: Option<&Track>) -> FileMetadata {
    let values = build(video, audio, Purpose::File);
    // Both keys are in the array just built; 0 cannot be reached.
    let number_at = |key: &str| amf0::property_offset(&values, key).map_or(0, |at| at + 1);
    FileMetadata {
        duration_at: number_at("duration"),
        filesize_at: number_at("filesize"),
        body: amf0::encode_all(&values),
    }
}

/// `videocodecid`: 7 for H.264, the FourCC as a number for Enhanced RTMP codecs.
fn video_codec_id(codec: Option<Codec>) -> f64 {
    let fourcc = |s: &[u8; 4]| f64::from(u32::from_be_bytes(*s));
    match codec {
        Some(Codec::Hevc) => fourcc(b"hvc1"),
        Some(Codec::Av1) => fourcc(b"av01"),
        Some(Codec::Vp9) => fourcc(b"vp09"),
        _ => 7.0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::testutil::load_flv;
    use super::*;

    const H264_AAC_FLV: &[u8] = include_bytes!("../testdata/h264_aac.flv");

    fn num(v: &Amf0Value, key: &str) -> Option<f64> {
        v.get(key).and_then(Amf0Value::as_f64)
    }

    #[test]
    fn live_fields() {
        let (video, audio, _) = load_flv(H264_AAC_FLV);
        let values = on_metadata(video.as_ref(), audio.as_ref());
        assert_eq!(values[0].as_str(), Some("onMetaData"));
        let props = &values[1];
        let Amf0Value::EcmaArray(list) = props else {
            panic!("{props:?}")
        };
        let keys: Vec<&str> = list.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "duration",
                "width",
                "height",
                "framerate",
                "videocodecid",
                "audiocodecid",
                "audiosamplerate",
                "audiosamplesize",
                "stereo",
                "encoder"
            ]
        );
        assert_eq!(num(props, "width"), Some(176.0));
        assert_eq!(num(props, "framerate"), Some(10.0));
        assert_eq!(num(props, "videocodecid"), Some(7.0));
        assert_eq!(num(props, "audiosamplerate"), Some(22050.0));
        assert_eq!(props.get("stereo"), Some(&Amf0Value::Boolean(false)));
        let encoder = props.get("encoder").and_then(Amf0Value::as_str);
        assert_eq!(encoder, Some(crate::server_header().as_str()));
        // Video only, HEVC: its FourCC; no audio fields.
        let hevc = Track {
            codec: Some(Codec::Hevc),
            ..Track::default()
        };
        let values = on_metadata(Some(&hevc), None);
        assert_eq!(
            num(&values[1], "videocodecid"),
            Some(f64::from(u32::from_be_bytes(*b"hvc1")))
        );
        assert_eq!(values[1].get("audiocodecid"), None);
        assert_eq!(values[1].get("framerate"), None);
    }

    #[test]
    fn file_fields_and_offsets() {
        let (video, audio, _) = load_flv(H264_AAC_FLV);
        let meta = file_metadata(video.as_ref(), audio.as_ref());
        let values = amf0::decode_all(&meta.body).unwrap();
        assert_eq!(values, build(video.as_ref(), audio.as_ref(), Purpose::File));
        assert_eq!(
            values[1].get("encoder").and_then(Amf0Value::as_str),
            Some("Eddy")
        );
        // The offsets point at the two doubles: patching them changes just those numbers.
        assert_eq!(
            &meta.body[meta.duration_at - 11..meta.duration_at - 1],
            b"\x00\x08duration"
        );
        assert_eq!(
            &meta.body[meta.filesize_at - 11..meta.filesize_at - 1],
            b"\x00\x08filesize"
        );
        let mut patched = meta.body.to_vec();
        patched[meta.duration_at..meta.duration_at + 8].copy_from_slice(&2.5f64.to_be_bytes());
        patched[meta.filesize_at..meta.filesize_at + 8].copy_from_slice(&1e6f64.to_be_bytes());
        let values = amf0::decode_all(&patched).unwrap();
        assert_eq!(num(&values[1], "duration"), Some(2.5));
        assert_eq!(num(&values[1], "filesize"), Some(1e6));
        // Live and file differ only in filesize and encoder.
        let live = on_metadata(video.as_ref(), audio.as_ref());
        let strip = |v: &Amf0Value| match v {
            Amf0Value::EcmaArray(p) => p
                .iter()
                .filter(|(k, _)| k != "filesize" && k != "encoder")
                .cloned()
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        assert_eq!(
            strip(&live[1]),
            strip(&values[1])
                .into_iter()
                .map(|(k, v)| {
                    if k == "duration" {
                        (k, Amf0Value::Number(0.0))
                    } else {
                        (k, v)
                    }
                })
                .collect::<Vec<_>>()
        );
    }
}
