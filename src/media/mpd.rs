//! The DASH manifest (ISO/IEC 23009-1) for a live stream: `type="dynamic"`, one adaptation set
//! per track, `SegmentTemplate` with a `SegmentTimeline` in milliseconds, CMAF segments named
//! `$RepresentationID$/chunk_$Time$.m4s` with the init segment at `$RepresentationID$/init.m4s`.

use std::fmt::Write;

/// One track as a DASH representation.
#[derive(Debug, Clone, PartialEq)]
pub struct Representation {
    /// The track id (also the URL folder).
    pub id: u32,
    pub video: bool,
    pub codecs: String,
    pub bandwidth: u64,
    pub width: u32,
    pub height: u32,
    /// Frames per second ×1000 (0 unknown).
    pub fpks: u32,
    pub sample_rate: u32,
    pub channels: u32,
}

/// The live manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveManifest {
    /// Wall-clock time of media time 0, as `YYYY-MM-DDTHH:MM:SS.sssZ`.
    pub availability_start: String,
    pub publish_time: String,
    /// How far back viewers may seek (the buffer window), ms.
    pub time_shift_ms: i64,
    /// How often players should reload the manifest, ms.
    pub update_ms: i64,
    pub min_buffer_ms: i64,
    /// Segments as (start ms, duration ms), shared by every representation.
    pub segments: Vec<(i64, i64)>,
    pub representations: Vec<Representation>,
    /// Appended to segment URLs (a session token, `?tkn=...`).
    pub url_suffix: String,
}

/// Escapes text for an XML attribute value.
fn xml_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

fn secs(ms: i64) -> String {
    format!("PT{}.{:03}S", ms / 1000, (ms % 1000).abs())
}

/// The manifest text.
pub fn live(m: &LiveManifest) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" \
         profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"dynamic\" \
         availabilityStartTime=\"{}\" publishTime=\"{}\" minimumUpdatePeriod=\"{}\" \
         minBufferTime=\"{}\" timeShiftBufferDepth=\"{}\" suggestedPresentationDelay=\"{}\">\n\
         <Period id=\"0\" start=\"PT0S\">\n",
        m.availability_start,
        m.publish_time,
        secs(m.update_ms),
        secs(m.min_buffer_ms),
        secs(m.time_shift_ms),
        secs(m.min_buffer_ms * 2),
    );
    let mut timeline = String::new();
    for (i, (start, dur)) in m.segments.iter().enumerate() {
        if i == 0 {
            let _ = write!(timeline, "<S t=\"{start}\" d=\"{dur}\"/>");
        } else {
            let _ = write!(timeline, "<S d=\"{dur}\"/>");
        }
    }
    for r in &m.representations {
        let (content, mime) = if r.video {
            ("video", "video/mp4")
        } else {
            ("audio", "audio/mp4")
        };
        let _ = writeln!(
            s,
            "<AdaptationSet contentType=\"{content}\" mimeType=\"{mime}\" segmentAlignment=\"true\" startWithSAP=\"1\">\n\
             <SegmentTemplate timescale=\"1000\" media=\"$RepresentationID$/chunk_$Time$.m4s{suffix}\" \
             initialization=\"$RepresentationID$/init.m4s{suffix}\"><SegmentTimeline>{timeline}</SegmentTimeline></SegmentTemplate>",
            suffix = xml_attr(&m.url_suffix)
        );
        let _ = write!(
            s,
            "<Representation id=\"{}\" codecs=\"{}\" bandwidth=\"{}\"",
            r.id,
            r.codecs,
            r.bandwidth.max(1)
        );
        if r.video {
            let _ = write!(s, " width=\"{}\" height=\"{}\"", r.width, r.height);
            if r.fpks > 0 {
                let _ = write!(s, " frameRate=\"{}/1000\"", r.fpks);
            }
            s.push_str("/>\n");
        } else {
            let _ = writeln!(
                s,
                " audioSamplingRate=\"{}\"><AudioChannelConfiguration \
                 schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"{}\"/></Representation>",
                r.sample_rate, r.channels
            );
        }
        s.push_str("</AdaptationSet>\n");
    }
    s.push_str("</Period>\n</MPD>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_shape() {
        let m = LiveManifest {
            availability_start: "2026-01-01T00:00:00.000Z".into(),
            publish_time: "2026-01-01T00:01:00.000Z".into(),
            time_shift_ms: 50_000,
            update_ms: 2_000,
            min_buffer_ms: 4_000,
            segments: vec![(1000, 2000), (3000, 2040)],
            representations: vec![
                Representation {
                    id: 1,
                    video: true,
                    codecs: "avc1.64001F".into(),
                    bandwidth: 2_000_000,
                    width: 640,
                    height: 360,
                    fpks: 25_000,
                    sample_rate: 0,
                    channels: 0,
                },
                Representation {
                    id: 2,
                    video: false,
                    codecs: "mp4a.40.2".into(),
                    bandwidth: 96_000,
                    width: 0,
                    height: 0,
                    fpks: 0,
                    sample_rate: 44_100,
                    channels: 2,
                },
            ],
            url_suffix: "?tkn=a&b".into(),
        };
        let text = live(&m);
        assert!(text.contains("chunk_$Time$.m4s?tkn=a&amp;b"));
        assert!(text.contains("type=\"dynamic\""));
        assert!(text.contains("<S t=\"1000\" d=\"2000\"/><S d=\"2040\"/>"));
        assert!(text.contains("<Representation id=\"1\" codecs=\"avc1.64001F\" bandwidth=\"2000000\" width=\"640\" height=\"360\" frameRate=\"25000/1000\"/>"));
        assert!(text.contains("audioSamplingRate=\"44100\""));
        assert!(text.contains("timeShiftBufferDepth=\"PT50.000S\""));
        assert_eq!(text.matches("<AdaptationSet").count(), 2);
    }
}
