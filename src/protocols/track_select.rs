//! Which tracks an output carries: MistServer's `?video=` and `?audio=` query parameters (facts
//! §9.2, common parameters), parsed once here and used by every output.
//!
//! A value is a comma-separated list; each item is a track id (`2`), a codec name (`aac`,
//! `h264`, `hevc`/`h265`, ... as MistServer names them, any case), a language code (ISO 639-1
//! `fr` or 639-2 `fra`/`fre`, matched against [`Track::lang`]), `all` or `*` (every track of
//! that kind), or `none` / `-1` (no track of that kind). A track is chosen when any item
//! matches it. Items that are none of these are ignored; a value with no usable item, an empty
//! one, or an absent parameter means the output's default: the first track of the kind for
//! outputs that carry one of each (FLV, RTMP, progressive TS/MP4/MP3/AAC), every track for the
//! segmented ones (HLS, DASH), which list each as a variant or rendition.

use crate::media::{Codec, Track, TrackKind};

/// One item of a `?video=`/`?audio=` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Id(u32),
    Codec(Codec),
    /// An ISO 639-2 code (terminological or bibliographic), lower case.
    Lang(String),
}

/// What one parameter asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KindChoice {
    /// Absent, empty or not understood: the output's default.
    #[default]
    Default,
    None,
    All,
    Some(Vec<Item>),
}

/// How an output fills a kind nobody asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// The first track of the kind.
    First,
    /// Every track of the kind.
    Every,
}

/// The `?video=` and `?audio=` choices of one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackSelector {
    pub video: KindChoice,
    pub audio: KindChoice,
}

impl TrackSelector {
    /// The choices in a query string (`a=1&audio=fra,2`); other parameters are ignored.
    pub fn from_query(query: &str) -> TrackSelector {
        let mut sel = TrackSelector::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "video" => sel.video = KindChoice::parse(&v),
                "audio" => sel.audio = KindChoice::parse(&v),
                _ => {}
            }
        }
        sel
    }

    /// Whether the request chose nothing (every kind at its default).
    pub fn is_default(&self) -> bool {
        self.video == KindChoice::Default && self.audio == KindChoice::Default
    }

    /// The chosen tracks of `tracks`: video first, then audio, each in the stream's order.
    pub fn select(&self, tracks: &[Track], fill: Fill) -> Vec<Track> {
        let mut out = Vec::new();
        for (kind, choice) in [
            (TrackKind::Video, &self.video),
            (TrackKind::Audio, &self.audio),
        ] {
            let of_kind = tracks.iter().filter(|t| t.kind() == Some(kind));
            match choice {
                KindChoice::None => {}
                KindChoice::All => out.extend(of_kind.cloned()),
                KindChoice::Some(items) => out.extend(
                    of_kind
                        .filter(|t| items.iter().any(|i| matches(i, t)))
                        .cloned(),
                ),
                KindChoice::Default => match fill {
                    Fill::First => out.extend(of_kind.take(1).cloned()),
                    Fill::Every => out.extend(of_kind.cloned()),
                },
            }
        }
        out
    }

    /// At most one video and one audio track: the first chosen of each (FLV, RTMP).
    pub fn select_one_each(&self, tracks: &[Track]) -> (Option<Track>, Option<Track>) {
        let chosen = self.select(tracks, Fill::First);
        let first = |kind| chosen.iter().find(|t| t.kind() == Some(kind)).cloned();
        (first(TrackKind::Video), first(TrackKind::Audio))
    }
}

impl KindChoice {
    /// One parameter's value; never fails (see the module doc for what is ignored).
    pub fn parse(value: &str) -> KindChoice {
        let mut items = Vec::new();
        for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let lower = word.to_ascii_lowercase();
            match lower.as_str() {
                "none" | "-1" => return KindChoice::None,
                "all" | "*" => return KindChoice::All,
                _ => {}
            }
            if let Some(item) = parse_item(&lower) {
                items.push(item);
            }
        }
        if items.is_empty() {
            KindChoice::Default
        } else {
            KindChoice::Some(items)
        }
    }
}

fn parse_item(word: &str) -> Option<Item> {
    if word.bytes().all(|b| b.is_ascii_digit()) {
        return word.parse().ok().map(Item::Id);
    }
    if let Some(codec) = codec_named(word) {
        return Some(Item::Codec(codec));
    }
    if word.bytes().all(|b| b.is_ascii_lowercase()) {
        return match word.len() {
            2 => iso639_2(word).map(|l| Item::Lang(l.to_string())),
            3 => Some(Item::Lang(word.to_string())),
            _ => None,
        };
    }
    None
}

/// A codec by MistServer's name or a common alias (lower case).
fn codec_named(word: &str) -> Option<Codec> {
    Some(match word {
        "h264" | "avc" | "avc1" => Codec::H264,
        "hevc" | "h265" | "hev1" | "hvc1" => Codec::Hevc,
        "av1" => Codec::Av1,
        "vp9" => Codec::Vp9,
        "theora" => Codec::Theora,
        "aac" | "mp4a" => Codec::Aac,
        "mp3" => Codec::Mp3,
        "opus" => Codec::Opus,
        "vorbis" => Codec::Vorbis,
        "ac3" => Codec::Ac3,
        "pcm" => Codec::Pcm,
        "alaw" => Codec::Alaw,
        "ulaw" => Codec::Ulaw,
        _ => return None,
    })
}

/// ISO 639-1 to 639-2/T for common languages.
fn iso639_2(two: &str) -> Option<&'static str> {
    const TABLE: &[(&str, &str)] = &[
        ("ar", "ara"),
        ("bg", "bul"),
        ("ca", "cat"),
        ("cs", "ces"),
        ("cy", "cym"),
        ("da", "dan"),
        ("de", "deu"),
        ("el", "ell"),
        ("en", "eng"),
        ("es", "spa"),
        ("et", "est"),
        ("eu", "eus"),
        ("fa", "fas"),
        ("fi", "fin"),
        ("fr", "fra"),
        ("ga", "gle"),
        ("he", "heb"),
        ("hi", "hin"),
        ("hr", "hrv"),
        ("hu", "hun"),
        ("id", "ind"),
        ("is", "isl"),
        ("it", "ita"),
        ("ja", "jpn"),
        ("ko", "kor"),
        ("lt", "lit"),
        ("lv", "lav"),
        ("mk", "mkd"),
        ("ms", "msa"),
        ("nl", "nld"),
        ("no", "nor"),
        ("pl", "pol"),
        ("pt", "por"),
        ("ro", "ron"),
        ("ru", "rus"),
        ("sk", "slk"),
        ("sl", "slv"),
        ("sq", "sqi"),
        ("sr", "srp"),
        ("sv", "swe"),
        ("th", "tha"),
        ("tr", "tur"),
        ("uk", "ukr"),
        ("vi", "vie"),
        ("zh", "zho"),
    ];
    TABLE.iter().find(|(a, _)| *a == two).map(|(_, b)| *b)
}

/// The ISO 639-2/B codes that differ from the /T ones, as (B, T).
const BIBLIOGRAPHIC: &[(&str, &str)] = &[
    ("alb", "sqi"),
    ("chi", "zho"),
    ("cze", "ces"),
    ("dut", "nld"),
    ("fre", "fra"),
    ("ger", "deu"),
    ("gre", "ell"),
    ("ice", "isl"),
    ("mac", "mkd"),
    ("may", "msa"),
    ("per", "fas"),
    ("rum", "ron"),
    ("slo", "slk"),
    ("wel", "cym"),
    ("baq", "eus"),
];

/// The /T form of a 639-2 code.
fn terminological(code: &str) -> &str {
    BIBLIOGRAPHIC
        .iter()
        .find(|(b, _)| *b == code)
        .map_or(code, |(_, t)| t)
}

fn matches(item: &Item, track: &Track) -> bool {
    match item {
        Item::Id(id) => track.id == *id,
        Item::Codec(c) => track.codec == Some(*c),
        Item::Lang(l) => {
            let lang = track.lang.to_ascii_lowercase();
            !lang.is_empty() && terminological(&lang) == terminological(l)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: u32, codec: Codec, lang: &str) -> Track {
        Track {
            id,
            codec: Some(codec),
            lang: lang.into(),
            ..Default::default()
        }
    }

    fn ids(sel: &TrackSelector, tracks: &[Track], d: Fill) -> Vec<u32> {
        sel.select(tracks, d).iter().map(|t| t.id).collect()
    }

    #[test]
    fn ids_codecs_languages_all_and_none() {
        let tracks = [
            t(1, Codec::H264, ""),
            t(2, Codec::Aac, "eng"),
            t(3, Codec::Aac, "fra"),
            t(4, Codec::Hevc, ""),
            t(5, Codec::Mp3, "ger"),
        ];
        let q = |s: &str| TrackSelector::from_query(s);
        assert_eq!(ids(&q(""), &tracks, Fill::First), [1, 2]);
        assert_eq!(ids(&q(""), &tracks, Fill::Every), [1, 4, 2, 3, 5]);
        assert_eq!(ids(&q("audio=3"), &tracks, Fill::First), [1, 3]);
        assert_eq!(ids(&q("audio=fra"), &tracks, Fill::First), [1, 3]);
        assert_eq!(ids(&q("audio=fr"), &tracks, Fill::First), [1, 3]);
        assert_eq!(ids(&q("audio=fre"), &tracks, Fill::First), [1, 3]);
        assert_eq!(ids(&q("audio=de"), &tracks, Fill::First), [1, 5]);
        assert_eq!(ids(&q("audio=none"), &tracks, Fill::First), [1]);
        assert_eq!(ids(&q("video=none"), &tracks, Fill::First), [2]);
        assert_eq!(ids(&q("audio=all"), &tracks, Fill::First), [1, 2, 3, 5]);
        assert_eq!(ids(&q("audio=*&video=-1"), &tracks, Fill::First), [2, 3, 5]);
        assert_eq!(ids(&q("video=hevc"), &tracks, Fill::First), [4, 2]);
        assert_eq!(ids(&q("video=H264,4"), &tracks, Fill::First), [1, 4, 2]);
        assert_eq!(ids(&q("audio=mp3,eng"), &tracks, Fill::First), [1, 2, 5]);
        // An id of the other kind, or one that does not exist, chooses nothing of this kind.
        assert_eq!(ids(&q("audio=1"), &tracks, Fill::First), [1]);
        assert_eq!(ids(&q("audio=9"), &tracks, Fill::First), [1]);
        let (v, a) = q("audio=all").select_one_each(&tracks);
        assert_eq!((v.map(|t| t.id), a.map(|t| t.id)), (Some(1), Some(2)));
    }

    #[test]
    fn malformed_values_fall_back_to_the_default() {
        let tracks = [t(1, Codec::H264, ""), t(2, Codec::Aac, "eng")];
        for query in [
            "audio=",
            "audio=,,,",
            "audio=%FF%FE",
            "audio=99999999999999999999",
            "audio=english",
            "audio=e",
            "audio=%00",
            "audio=x-y",
            "video=&audio",
            "audio=%",
        ] {
            let sel = TrackSelector::from_query(query);
            assert_eq!(sel.audio, KindChoice::Default, "{query}");
            assert_eq!(ids(&sel, &tracks, Fill::First), [1, 2], "{query}");
        }
        // Good items survive next to bad ones.
        let sel = TrackSelector::from_query("audio=junk!,2");
        assert_eq!(sel.audio, KindChoice::Some(vec![Item::Id(2)]));
    }

    #[test]
    fn random_queries_never_panic() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let alphabet = b"audiovideo=&,*-1234567890nonealfr%FE ";
        for _ in 0..2000 {
            let len = (seed % 40) as usize;
            let mut s = String::new();
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize] as char);
            }
            let sel = TrackSelector::from_query(&s);
            let _ = sel.select(&[t(1, Codec::H264, "")], Fill::Every);
        }
    }
}
