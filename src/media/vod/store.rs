//! The index stored beside its file (MistServer keeps a `.dtsh` there), so a second open costs
//! one read instead of a scan.
//!
//! ```text
//! "EDDYVIDX"            magic, 8 bytes
//! u16 version           (VERSION)
//! u64 len, i128 mtime   the FileStamp of the file indexed
//! u8 container          Container::code
//! u32 tracks            then per track:
//!     u32 id, u8 codec (0 = none), u32 + bytes init, u32 + UTF-8 codec_string,
//!     u32 width, height, fpks, rate, channels, size, u64 bps, i64 firstms, lastms,
//!     u32 source id, u32 + UTF-8 lang
//! u32 skipped           then per name: u32 + UTF-8
//! u64 entries           then ENTRY_LEN bytes each:
//!     u32 track, i64 time, i32 offset, u8 keyframe, u64 pos, u32 raw_len, u32 size
//! u64 checksum          of every byte before it
//! ```
//!
//! Everything is little-endian. [`from_bytes`] refuses, with a [`VodError::BadIndex`] saying
//! why, anything that is not exactly this: another magic or version, a checksum mismatch
//! (damage), another file stamp, counts or lengths beyond the bytes there are, bytes left over,
//! unknown codes, entries naming no track. Nothing is allocated before the bytes for it are
//! known to be there.

use bytes::Bytes;

use super::{Container, Index, IndexEntry, VodError};
use crate::media::{Codec, Track};

/// What identifies the version of a file an index was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub len: u64,
    /// Modification time, ns since the Unix epoch.
    pub modified_ns: i128,
}

const MAGIC: &[u8; 8] = b"EDDYVIDX";
/// The format's version: a change of layout or meaning gets a new one (3: MP4 tracks have their
/// `mdhd` language; 4: container code 8, Matroska; 5: MP4 and TS files' AC-3 tracks, left out
/// before, are indexed).
pub const VERSION: u16 = 5;
/// Bytes of one stored entry.
pub const ENTRY_LEN: usize = 33;
/// Bytes of a track without its init, codec string and language.
const TRACK_LEN: usize = 4 + 1 + 4 + 4 + 6 * 4 + 8 * 3 + 4 + 4;

/// Stable numbers for the codecs (0 = none).
fn codec_code(codec: Option<Codec>) -> u8 {
    match codec {
        None => 0,
        Some(Codec::H264) => 1,
        Some(Codec::Hevc) => 2,
        Some(Codec::Av1) => 3,
        Some(Codec::Vp9) => 4,
        Some(Codec::Aac) => 5,
        Some(Codec::Mp3) => 6,
        Some(Codec::Amf) => 7,
        Some(Codec::Opus) => 8,
        Some(Codec::Vorbis) => 9,
        Some(Codec::Theora) => 10,
        Some(Codec::Ac3) => 11,
        Some(Codec::Pcm) => 12,
        Some(Codec::Alaw) => 13,
        Some(Codec::Ulaw) => 14,
    }
}

fn codec_of(code: u8) -> Option<Option<Codec>> {
    let all = [
        None,
        Some(Codec::H264),
        Some(Codec::Hevc),
        Some(Codec::Av1),
        Some(Codec::Vp9),
    ];
    let audio = [
        Some(Codec::Aac),
        Some(Codec::Mp3),
        Some(Codec::Amf),
        Some(Codec::Opus),
        Some(Codec::Vorbis),
        Some(Codec::Theora),
        Some(Codec::Ac3),
    ];
    let raw = [Some(Codec::Pcm), Some(Codec::Alaw), Some(Codec::Ulaw)];
    all.into_iter()
        .chain(audio)
        .chain(raw)
        .find(|&c| codec_code(c) == code)
}

/// A 64-bit checksum of 8-byte words (FNV-1a over words, the tail zero-padded): any change of
/// a single word always changes it.
pub(super) fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ bytes.len() as u64;
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(0x0000_0100_0000_01B3);
        h ^= h >> 29;
    }
    h
}

/// The index as bytes to store.
pub fn to_bytes(index: &Index, stamp: FileStamp) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + index.entries.len() * ENTRY_LEN);
    let put = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&stamp.len.to_le_bytes());
    out.extend_from_slice(&stamp.modified_ns.to_le_bytes());
    out.push(index.container.code());
    out.extend_from_slice(&(index.tracks.len() as u32).to_le_bytes());
    for (i, t) in index.tracks.iter().enumerate() {
        out.extend_from_slice(&t.id.to_le_bytes());
        out.push(codec_code(t.codec));
        put(&mut out, &t.init);
        put(&mut out, t.codec_string.as_bytes());
        for v in [t.width, t.height, t.fpks, t.rate, t.channels, t.size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&t.bps.to_le_bytes());
        out.extend_from_slice(&t.firstms.to_le_bytes());
        out.extend_from_slice(&t.lastms.to_le_bytes());
        let source = index.source_ids.get(i).copied().unwrap_or(0);
        out.extend_from_slice(&source.to_le_bytes());
        put(&mut out, t.lang.as_bytes());
    }
    out.extend_from_slice(&(index.skipped.len() as u32).to_le_bytes());
    for name in &index.skipped {
        put(&mut out, name.as_bytes());
    }
    out.extend_from_slice(&(index.entries.len() as u64).to_le_bytes());
    for e in &index.entries {
        out.extend_from_slice(&e.track.to_le_bytes());
        out.extend_from_slice(&e.time.to_le_bytes());
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.push(u8::from(e.keyframe));
        out.extend_from_slice(&e.pos.to_le_bytes());
        out.extend_from_slice(&e.raw_len.to_le_bytes());
        out.extend_from_slice(&e.size.to_le_bytes());
    }
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn bad(why: impl Into<String>) -> VodError {
    VodError::BadIndex(why.into())
}

/// Little-endian reads, each checked against the bytes left.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], VodError> {
        if n > self.rest.len() {
            return Err(bad("cut short"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], VodError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, VodError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, VodError> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, VodError> {
        self.array().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Result<i64, VodError> {
        self.array().map(i64::from_le_bytes)
    }

    /// A count of items of at least `min_len` bytes each, refused when the bytes left cannot
    /// hold that many.
    fn count(&mut self, min_len: usize, what: &str) -> Result<usize, VodError> {
        let n = self.u32()? as usize;
        if n.checked_mul(min_len)
            .is_none_or(|need| need > self.rest.len())
        {
            return Err(bad(format!(
                "{n} {what} cannot fit in {} bytes",
                self.rest.len()
            )));
        }
        Ok(n)
    }

    /// u32 length + bytes.
    fn blob(&mut self) -> Result<&'a [u8], VodError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn text(&mut self) -> Result<String, VodError> {
        let b = self.blob()?;
        String::from_utf8(b.to_vec()).map_err(|_| bad("a name is not UTF-8"))
    }
}

/// An index read back; an error when it is damaged, of another version, or made from another
/// version of the file.
pub fn from_bytes(bytes: &[u8], stamp: FileStamp) -> Result<Index, VodError> {
    let mut r = Reader { rest: bytes };
    if r.take(8).ok() != Some(&MAGIC[..]) {
        return Err(bad("not an Eddy index"));
    }
    let version = u16::from_le_bytes(r.array()?);
    if version != VERSION {
        return Err(bad(format!("format version {version}, not {VERSION}")));
    }
    let (body, sum) = bytes.split_at(bytes.len().saturating_sub(8));
    if body.len() < 10 || u64::from_le_bytes(sum.try_into().unwrap_or_default()) != checksum(body) {
        return Err(bad("damaged (checksum mismatch)"));
    }
    let mut r = Reader {
        rest: body.get(10..).unwrap_or_default(),
    };
    let made_from = FileStamp {
        len: r.u64()?,
        modified_ns: i128::from_le_bytes(r.array()?),
    };
    if made_from != stamp {
        return Err(bad(
            "made from another version of the file (size or time differ)",
        ));
    }
    let container = Container::from_code(r.u8()?).ok_or_else(|| bad("unknown container code"))?;
    let n = r.count(TRACK_LEN, "tracks")?;
    let mut tracks = Vec::with_capacity(n);
    let mut source_ids = Vec::with_capacity(n);
    for _ in 0..n {
        let id = r.u32()?;
        let codec = codec_of(r.u8()?).ok_or_else(|| bad("unknown codec code"))?;
        let init = Bytes::copy_from_slice(r.blob()?);
        let codec_string = r.text()?;
        let mut v = [0u32; 6];
        for x in &mut v {
            *x = r.u32()?;
        }
        let [width, height, fpks, rate, channels, size] = v;
        if id == 0 || tracks.iter().any(|t: &Track| t.id == id) {
            return Err(bad(format!("track id {id} is 0 or repeated")));
        }
        tracks.push(Track {
            id,
            codec,
            init,
            codec_string,
            width,
            height,
            fpks,
            rate,
            channels,
            size,
            bps: r.u64()?,
            firstms: r.i64()?,
            lastms: r.i64()?,
            lang: String::new(),
        });
        source_ids.push(r.u32()?);
        if let Some(track) = tracks.last_mut() {
            track.lang = r.text()?;
        }
    }
    let n = r.count(4, "skipped names")?;
    let mut skipped = Vec::with_capacity(n);
    for _ in 0..n {
        skipped.push(r.text()?);
    }
    let n = r.u64()?;
    let want = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_mul(ENTRY_LEN));
    if want != Some(r.rest.len()) {
        let left = r.rest.len();
        return Err(bad(format!(
            "{n} entries do not match the {left} bytes left"
        )));
    }
    let mut entries = Vec::with_capacity(r.rest.len() / ENTRY_LEN);
    for record in r.rest.chunks_exact(ENTRY_LEN) {
        let mut e = Reader { rest: record };
        let entry = IndexEntry {
            track: e.u32()?,
            time: e.i64()?,
            offset: i32::from_le_bytes(e.array()?),
            keyframe: match e.u8()? {
                0 => false,
                1 => true,
                _ => return Err(bad("a keyframe flag is neither 0 nor 1")),
            },
            pos: e.u64()?,
            raw_len: e.u32()?,
            size: e.u32()?,
        };
        if !tracks.iter().any(|t| t.id == entry.track) {
            return Err(bad(format!("an entry names track {}", entry.track)));
        }
        entries.push(entry);
    }
    Ok(Index {
        container,
        tracks,
        source_ids,
        entries,
        skipped,
    })
}
