//! HLS playlists (RFC 8216): the master playlist and media playlists (live, or complete for a
//! file: `EXT-X-PLAYLIST-TYPE:VOD` and `EXT-X-ENDLIST`, 4.3.3.5), as text.
//!
//! Live playlists slide over the buffer: `EXT-X-MEDIA-SEQUENCE` is the number of the first
//! listed fragment (numbers only grow), `EXT-X-TARGETDURATION` the longest listed segment rounded
//! up to whole seconds, and a segment after a publisher came back is preceded by
//! `EXT-X-DISCONTINUITY`, with `EXT-X-DISCONTINUITY-SEQUENCE` counting those that slid out.
//!
//! [`parse`] reads playlists other servers write (the HLS pull input).

pub mod parse;

use std::fmt::Write;

/// One variant stream of a master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub uri: String,
    /// Peak bits per second.
    pub bandwidth: u64,
    /// RFC 6381 codec strings, comma-separated.
    pub codecs: String,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
    /// The `GROUP-ID` of an audio rendition group this variant uses.
    pub audio_group: Option<String>,
}

/// An alternative audio rendition (`EXT-X-MEDIA`, RFC 8216 4.3.4.1).
#[derive(Debug, Clone, PartialEq)]
pub struct AudioRendition {
    pub group: String,
    pub name: String,
    /// Its media playlist; `None` when the audio is muxed into the variants.
    pub uri: Option<String>,
    /// RFC 5646 language tag (an ISO 639 code), when known.
    pub language: Option<String>,
    pub default: bool,
}

/// The master playlist.
pub fn master(variants: &[Variant], audio: &[AudioRendition], version: u8) -> String {
    let mut s = format!("#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for a in audio {
        let _ = write!(
            s,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{}\",NAME=\"{}\"",
            a.group, a.name
        );
        if let Some(lang) = &a.language {
            let _ = write!(s, ",LANGUAGE=\"{lang}\"");
        }
        let default = if a.default { "YES" } else { "NO" };
        let _ = write!(s, ",DEFAULT={default},AUTOSELECT=YES");
        match &a.uri {
            Some(uri) => {
                let _ = writeln!(s, ",URI=\"{uri}\"");
            }
            None => s.push('\n'),
        }
    }
    for v in variants {
        let _ = write!(s, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth.max(1));
        if !v.codecs.is_empty() {
            let _ = write!(s, ",CODECS=\"{}\"", v.codecs);
        }
        if let Some((w, h)) = v.resolution {
            let _ = write!(s, ",RESOLUTION={w}x{h}");
        }
        if let Some(fps) = v.frame_rate {
            let _ = write!(s, ",FRAME-RATE={fps:.3}");
        }
        if let Some(g) = &v.audio_group {
            let _ = write!(s, ",AUDIO=\"{g}\"");
        }
        let _ = writeln!(s, "\n{}", v.uri);
    }
    s
}

/// One segment of a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub uri: String,
    pub duration_ms: i64,
    pub discontinuity: bool,
}

/// A media playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    pub version: u8,
    /// A file's complete playlist (`EXT-X-PLAYLIST-TYPE:VOD`; set `ended` too).
    pub vod: bool,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    /// `EXT-X-MAP` (the init segment) for fMP4 playlists.
    pub map_uri: Option<String>,
    pub segments: Vec<Segment>,
    /// True when the stream ended (`EXT-X-ENDLIST`).
    pub ended: bool,
}

/// The longest segment, rounded up to whole seconds (at least 1).
pub fn target_duration(segments: &[Segment]) -> i64 {
    let max = segments.iter().map(|s| s.duration_ms).max().unwrap_or(0);
    ((max + 999) / 1000).max(1)
}

/// The media playlist text.
pub fn media(p: &MediaPlaylist) -> String {
    let mut s = format!(
        "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{}\n",
        p.version,
        target_duration(&p.segments),
        p.media_sequence
    );
    if p.vod {
        s.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    }
    if p.discontinuity_sequence > 0 {
        let _ = writeln!(
            s,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            p.discontinuity_sequence
        );
    }
    if let Some(map) = &p.map_uri {
        let _ = writeln!(s, "#EXT-X-MAP:URI=\"{map}\"");
    }
    for seg in &p.segments {
        if seg.discontinuity {
            s.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let secs = seg.duration_ms as f64 / 1000.0;
        let _ = writeln!(s, "#EXTINF:{secs:.3},\n{}", seg.uri);
    }
    if p.ended {
        s.push_str("#EXT-X-ENDLIST\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_playlist_text() {
        let p = MediaPlaylist {
            version: 3,
            vod: false,
            media_sequence: 7,
            discontinuity_sequence: 1,
            map_uri: None,
            segments: vec![
                Segment {
                    uri: "0_2000.ts".into(),
                    duration_ms: 2000,
                    discontinuity: false,
                },
                Segment {
                    uri: "2000_4100.ts".into(),
                    duration_ms: 2100,
                    discontinuity: true,
                },
            ],
            ended: false,
        };
        let text = media(&p);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:7\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXTINF:2.000,\n0_2000.ts\n#EXT-X-DISCONTINUITY\n\
             #EXTINF:2.100,\n2000_4100.ts\n"
        );
    }

    #[test]
    fn master_playlist_text() {
        let v = Variant {
            uri: "1_2/index.m3u8".into(),
            bandwidth: 2_500_000,
            codecs: "avc1.64001F,mp4a.40.2".into(),
            resolution: Some((1280, 720)),
            frame_rate: Some(25.0),
            audio_group: None,
        };
        let text = master(&[v], &[], 3);
        assert!(text.contains("#EXT-X-STREAM-INF:BANDWIDTH=2500000,CODECS=\"avc1.64001F,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=25.000\n1_2/index.m3u8\n"));
        assert_eq!(target_duration(&[]), 1);
        let audio = [
            AudioRendition {
                group: "aud".into(),
                name: "eng".into(),
                uri: None,
                language: Some("eng".into()),
                default: true,
            },
            AudioRendition {
                group: "aud".into(),
                name: "fra".into(),
                uri: Some("3/index.m3u8".into()),
                language: Some("fra".into()),
                default: false,
            },
        ];
        let text = master(&[], &audio, 3);
        assert!(text.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"eng\",LANGUAGE=\"eng\",DEFAULT=YES,AUTOSELECT=YES\n"), "{text}");
        assert!(
            text.contains(
                "NAME=\"fra\",LANGUAGE=\"fra\",DEFAULT=NO,AUTOSELECT=YES,URI=\"3/index.m3u8\"\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn vod_playlist_is_complete() {
        let p = MediaPlaylist {
            version: 3,
            vod: true,
            ended: true,
            segments: vec![Segment {
                uri: "0_4000.ts".into(),
                duration_ms: 4000,
                discontinuity: false,
            }],
            ..Default::default()
        };
        let text = media(&p);
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n") && text.ends_with("#EXT-X-ENDLIST\n"));
        assert!(text.contains("#EXT-X-TARGETDURATION:4\n"));
    }
}
