//! HLS playlists (RFC 8216): the master playlist and live media playlists, as text.
//!
//! Live playlists slide over the buffer: `EXT-X-MEDIA-SEQUENCE` is the number of the first
//! listed fragment (numbers only grow), `EXT-X-TARGETDURATION` the longest listed segment rounded
//! up to whole seconds, and a segment after a publisher came back is preceded by
//! `EXT-X-DISCONTINUITY`, with `EXT-X-DISCONTINUITY-SEQUENCE` counting those that slid out.

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

/// An alternative audio rendition (for fMP4 HLS, where audio has its own playlist).
#[derive(Debug, Clone, PartialEq)]
pub struct AudioRendition {
    pub group: String,
    pub name: String,
    pub uri: String,
}

/// The master playlist.
pub fn master(variants: &[Variant], audio: &[AudioRendition], version: u8) -> String {
    let mut s = format!("#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for a in audio {
        let _ = writeln!(
            s,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{}\",NAME=\"{}\",DEFAULT=YES,AUTOSELECT=YES,URI=\"{}\"",
            a.group, a.name, a.uri
        );
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

/// A live media playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    pub version: u8,
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
    }
}
