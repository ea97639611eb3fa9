//! The DASH manifest (ISO/IEC 23009-1): `type="dynamic"` for a live stream (5.3.1.2: its
//! window of segments, reloaded), `type="static"` with `mediaPresentationDuration` for a file
//! (every segment listed once). Video tracks are the representations of one adaptation set (a
//! player switches between them, ABR); audio tracks are grouped into adaptation sets by
//! language (5.3.3.2 `lang`). Every set has a `SegmentTemplate` with a `SegmentTimeline` in
//! milliseconds (5.3.9.6), CMAF segments named `$RepresentationID$/chunk_$Time$.m4s` and the
//! init segment at `$RepresentationID$/init.m4s`.

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
    /// ISO 639 language of an audio track; empty when unknown.
    pub lang: String,
}

/// How the presentation is timed.
#[derive(Debug, Clone, PartialEq)]
pub enum Timing {
    /// A live stream's window (`type="dynamic"`).
    Live {
        /// Wall-clock time of media time 0, as `YYYY-MM-DDTHH:MM:SS.sssZ`.
        availability_start: String,
        publish_time: String,
        /// How far back viewers may seek (the buffer window), ms.
        time_shift_ms: i64,
        /// How often players should reload the manifest, ms.
        update_ms: i64,
    },
    /// A file (`type="static"`), this long in ms.
    OnDemand { duration_ms: i64 },
}

/// A manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub timing: Timing,
    pub min_buffer_ms: i64,
    /// Segments as (start ms, duration ms), shared by every representation.
    pub segments: Vec<(i64, i64)>,
    pub representations: Vec<Representation>,
    /// Appended to segment URLs (a session token, `?tkn=...`).
    pub url_suffix: String,
    /// Put into media segment names before `.m4s` (`chunk_$Time$<tag>.m4s`): which life of
    /// the stream they belong to (empty: none).
    pub segment_tag: String,
    /// Put into the init segment's name (`init<tag>.m4s`; empty: none).
    pub init_tag: String,
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

/// The `SegmentTimeline` entries (5.3.9.6.2): runs of equal durations as one `S` with `r`.
fn timeline(segments: &[(i64, i64)]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while let Some(&(start, dur)) = segments.get(i) {
        let mut repeat = 0;
        while segments.get(i + 1 + repeat).is_some_and(|&(_, d)| d == dur) {
            repeat += 1;
        }
        let _ = write!(out, "<S t=\"{start}\" d=\"{dur}\"");
        if repeat > 0 {
            let _ = write!(out, " r=\"{repeat}\"");
        }
        out.push_str("/>");
        i += 1 + repeat;
    }
    out
}

/// The manifest text.
pub fn manifest(m: &Manifest) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" ",
    );
    match &m.timing {
        Timing::Live {
            availability_start,
            publish_time,
            time_shift_ms,
            update_ms,
        } => {
            let _ = writeln!(
                s,
                "profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"dynamic\" \
                 availabilityStartTime=\"{availability_start}\" publishTime=\"{publish_time}\" \
                 minimumUpdatePeriod=\"{}\" minBufferTime=\"{}\" timeShiftBufferDepth=\"{}\" \
                 suggestedPresentationDelay=\"{}\">",
                secs(*update_ms),
                secs(m.min_buffer_ms),
                secs(*time_shift_ms),
                secs(m.min_buffer_ms * 2),
            );
        }
        Timing::OnDemand { duration_ms } => {
            let _ = writeln!(
                s,
                "profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"static\" \
                 mediaPresentationDuration=\"{}\" minBufferTime=\"{}\">",
                secs(*duration_ms),
                secs(m.min_buffer_ms),
            );
        }
    }
    s.push_str("<Period id=\"0\" start=\"PT0S\">\n");
    let template = format!(
        "<SegmentTemplate timescale=\"1000\" media=\"$RepresentationID$/chunk_$Time${seg}.m4s{suffix}\" \
         initialization=\"$RepresentationID$/init{init}.m4s{suffix}\"><SegmentTimeline>{}</SegmentTimeline></SegmentTemplate>",
        timeline(&m.segments),
        suffix = xml_attr(&m.url_suffix),
        seg = xml_attr(&m.segment_tag),
        init = xml_attr(&m.init_tag),
    );
    let video: Vec<&Representation> = m.representations.iter().filter(|r| r.video).collect();
    let mut sets: Vec<(Option<&str>, Vec<&Representation>)> = Vec::new();
    if !video.is_empty() {
        sets.push((None, video));
    }
    for r in m.representations.iter().filter(|r| !r.video) {
        match sets
            .iter_mut()
            .find(|(lang, reps)| *lang == Some(r.lang.as_str()) && !reps[0].video)
        {
            Some((_, reps)) => reps.push(r),
            None => sets.push((Some(r.lang.as_str()), vec![r])),
        }
    }
    for (lang, reps) in sets {
        let (content, mime) = match lang {
            None => ("video", "video/mp4"),
            Some(_) => ("audio", "audio/mp4"),
        };
        let _ = write!(
            s,
            "<AdaptationSet contentType=\"{content}\" mimeType=\"{mime}\" segmentAlignment=\"true\" startWithSAP=\"1\""
        );
        if let Some(l) = lang.filter(|l| !l.is_empty()) {
            let _ = write!(s, " lang=\"{}\"", xml_attr(l));
        }
        let _ = writeln!(s, ">\n{template}");
        for r in reps {
            representation(&mut s, r);
        }
        s.push_str("</AdaptationSet>\n");
    }
    s.push_str("</Period>\n</MPD>\n");
    s
}

fn representation(s: &mut String, r: &Representation) {
    let _ = write!(
        s,
        "<Representation id=\"{}\" codecs=\"{}\" bandwidth=\"{}\"",
        r.id,
        xml_attr(&r.codecs),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(id: u32, video: bool, lang: &str) -> Representation {
        Representation {
            id,
            video,
            codecs: if video { "avc1.64001F" } else { "mp4a.40.2" }.into(),
            bandwidth: if video { 2_000_000 } else { 96_000 },
            width: if video { 640 } else { 0 },
            height: if video { 360 } else { 0 },
            fpks: if video { 25_000 } else { 0 },
            sample_rate: if video { 0 } else { 44_100 },
            channels: if video { 0 } else { 2 },
            lang: lang.into(),
        }
    }

    #[test]
    fn live_manifest_shape() {
        let m = Manifest {
            timing: Timing::Live {
                availability_start: "2026-01-01T00:00:00.000Z".into(),
                publish_time: "2026-01-01T00:01:00.000Z".into(),
                time_shift_ms: 50_000,
                update_ms: 2_000,
            },
            min_buffer_ms: 4_000,
            segments: vec![(1000, 2000), (3000, 2040)],
            representations: vec![rep(1, true, ""), rep(2, false, "")],
            url_suffix: "?tkn=a&b".into(),
            segment_tag: String::new(),
            init_tag: String::new(),
        };
        let text = manifest(&m);
        assert!(text.contains("chunk_$Time$.m4s?tkn=a&amp;b"));
        assert!(text.contains("type=\"dynamic\""));
        assert!(text.contains("<S t=\"1000\" d=\"2000\"/><S t=\"3000\" d=\"2040\"/>"));
        assert!(text.contains("<Representation id=\"1\" codecs=\"avc1.64001F\" bandwidth=\"2000000\" width=\"640\" height=\"360\" frameRate=\"25000/1000\"/>"));
        assert!(text.contains("audioSamplingRate=\"44100\""));
        assert!(text.contains("timeShiftBufferDepth=\"PT50.000S\""));
        assert_eq!(text.matches("<AdaptationSet").count(), 2);
    }

    #[test]
    fn static_manifest_groups_video_and_audio_by_language() {
        let m = Manifest {
            timing: Timing::OnDemand {
                duration_ms: 7_200_040,
            },
            min_buffer_ms: 4_000,
            segments: vec![(0, 2000), (2000, 2000), (4000, 2000), (6000, 1500)],
            representations: vec![
                rep(1, true, ""),
                rep(2, true, ""),
                rep(3, false, "eng"),
                rep(4, false, "fra"),
                rep(5, false, "eng"),
            ],
            url_suffix: String::new(),
            segment_tag: "_g1".into(),
            init_tag: "_g1-2".into(),
        };
        let text = manifest(&m);
        assert!(text.contains("type=\"static\" mediaPresentationDuration=\"PT7200.040S\""));
        assert!(!text.contains("minimumUpdatePeriod"));
        assert!(text.contains("media=\"$RepresentationID$/chunk_$Time$_g1.m4s\""));
        assert!(text.contains("initialization=\"$RepresentationID$/init_g1-2.m4s\""));
        assert!(text.contains("<S t=\"0\" d=\"2000\" r=\"2\"/><S t=\"6000\" d=\"1500\"/>"));
        assert_eq!(text.matches("<AdaptationSet").count(), 3);
        assert_eq!(text.matches("contentType=\"video\"").count(), 1);
        assert!(text.contains("lang=\"eng\"") && text.contains("lang=\"fra\""));
        let eng = text.split("lang=\"eng\"").nth(1).unwrap_or_default();
        let eng = eng.split("</AdaptationSet>").next().unwrap_or_default();
        assert_eq!(eng.matches("<Representation").count(), 2);
    }
}
