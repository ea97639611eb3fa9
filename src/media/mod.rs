//! The internal media model and the formats: pure code, no sockets, no actors, no async.
//!
//! - [`Track`] describes one elementary stream (codec, init data, size or rate); [`Packet`] is one
//!   frame of it, with its payload as shared [`bytes::Bytes`] (never copied per viewer).
//! - [`amf0`]: AMF0 values (script data, RTMP commands), decoder and encoder.
//! - [`flv`]: FLV files and tags, the audio/video tag bodies RTMP carries (legacy and Enhanced
//!   RTMP FourCC forms) parsed and built, `onMetaData`, and the depacketizer that turns tag bodies
//!   into tracks and packets.
//! - [`h264`], [`hevc`], [`aac`], [`mp3`], [`ac3`]: codec parameter parsing and building (decoder
//!   configuration records, SPS, AudioSpecificConfig and ADTS, MP3 frame headers, AC-3
//!   syncframe headers and `dac3`).
//! - [`nal`]: NAL units of H.264 and HEVC in Annex B and length-prefixed form.
//! - [`ts`]: MPEG-TS: PSI, PES, the muxer (with the shared-PES, per-viewer packetization) and the
//!   demuxer.
//! - [`mp4`]: fragmented MP4 (CMAF): boxes, init segments, media segments (also without copying
//!   the samples) and recorded files.
//! - [`m3u8`], [`mpd`]: HLS playlists and the DASH manifest, as text.
//! - [`rtp`]: RTP for RTSP: the header, per-track depacketizers and packetizers (H.264, HEVC,
//!   AAC, Opus, G.711, MPEG audio) and RTCP; [`sdp`]: session descriptions built from tracks
//!   and parsed into tracks and depacketizers.
//! - [`record`]: whole files (FLV, TS, fragmented MP4, MP3, ADTS AAC) for recording pushes.
//! - [`ogg`]: Ogg pages, the Opus/Vorbis/Theora headers and the Ogg muxer; [`wav`]: WAV
//!   headers.
//! - [`vod`]: on-demand files (MP4/MOV, FLV, TS, MP3, ADTS AAC, Ogg, WAV, Matroska/WebM): the
//!   index of tracks and packets built by scanning a file, stored beside it, and the packets
//!   read back from it.
//! - [`dtsc`]: MistServer's DTSC: packed values, frames, and the header and packets as
//!   our tracks and packets.
//! - [`bits`]: a bit reader with Exp-Golomb codes for the parameter-set parsers.
//!
//! Times are milliseconds: a packet's `time` is its decode time and `offset` the composition
//! offset, so its presentation time is `time + offset`.

pub mod aac;
pub mod ac3;
pub mod amf0;
pub mod bits;
pub mod decode_order;
pub mod dtsc;
pub mod flv;
pub mod h264;
pub mod hevc;
pub mod m3u8;
pub mod mp3;
pub mod mp4;
pub mod mpd;
pub mod nal;
pub mod ogg;
pub mod record;
pub mod rtp;
pub mod sdp;
pub mod ts;
pub mod vod;
pub mod wav;

#[cfg(test)]
pub(crate) mod testutil;

use bytes::Bytes;

/// What a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    Video,
    Audio,
    Meta,
}

/// Codecs Eddy knows by name. Names follow MistServer's (`H264`, `HEVC`, `AAC`, `MP3`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    H264,
    Hevc,
    Av1,
    Vp9,
    Aac,
    Mp3,
    /// Opus (RFC 6716): one Opus packet per [`Packet`]; init is the `OpusHead` identification
    /// header of RFC 7845 section 5.1 (as Ogg and Matroska carry it).
    Opus,
    /// Vorbis: one Vorbis packet per [`Packet`]; init is the three header packets
    /// (identification, comment, setup) in Xiph lacing, as Matroska's CodecPrivate has them.
    Vorbis,
    /// Theora: one frame per [`Packet`]; init is the three header packets in Xiph lacing.
    Theora,
    /// AC-3 (ATSC A/52): one syncframe per [`Packet`]; init is the 3-byte `dac3` payload (ETSI
    /// TS 102 366 F.4) when known, else empty.
    Ac3,
    /// Linear PCM: signed samples of `size` bits, big-endian (MistServer's `PCM`), channels
    /// interleaved; no init.
    Pcm,
    /// G.711 A-law, 8 bits a sample; no init.
    Alaw,
    /// G.711 mu-law, 8 bits a sample; no init.
    Ulaw,
    /// AMF script data (onMetaData and friends) carried as a meta track.
    Amf,
}

impl Codec {
    /// MistServer's codec name, as `json_`, `capabilities` and DTSC use it.
    pub fn mist_name(self) -> &'static str {
        match self {
            Codec::H264 => "H264",
            Codec::Hevc => "HEVC",
            Codec::Av1 => "AV1",
            Codec::Vp9 => "VP9",
            Codec::Aac => "AAC",
            Codec::Mp3 => "MP3",
            Codec::Opus => "opus",
            Codec::Vorbis => "vorbis",
            Codec::Theora => "theora",
            Codec::Ac3 => "AC3",
            Codec::Pcm => "PCM",
            Codec::Alaw => "ALAW",
            Codec::Ulaw => "ULAW",
            Codec::Amf => "JSON",
        }
    }

    /// The codec MistServer calls `name` (the inverse of [`Codec::mist_name`]); also its
    /// older spellings (`H265`, `Opus`, `Vorbis`, `Theora` as DTSC headers may have them).
    pub fn from_mist_name(name: &str) -> Option<Codec> {
        Some(match name {
            "H264" => Codec::H264,
            "HEVC" | "H265" => Codec::Hevc,
            "AV1" => Codec::Av1,
            "VP9" => Codec::Vp9,
            "AAC" => Codec::Aac,
            "MP3" => Codec::Mp3,
            "opus" | "Opus" => Codec::Opus,
            "vorbis" | "Vorbis" => Codec::Vorbis,
            "theora" | "Theora" => Codec::Theora,
            "AC3" => Codec::Ac3,
            "PCM" => Codec::Pcm,
            "ALAW" => Codec::Alaw,
            "ULAW" => Codec::Ulaw,
            "JSON" => Codec::Amf,
            _ => return None,
        })
    }

    pub fn kind(self) -> TrackKind {
        match self {
            Codec::H264 | Codec::Hevc | Codec::Av1 | Codec::Vp9 | Codec::Theora => TrackKind::Video,
            Codec::Aac
            | Codec::Mp3
            | Codec::Opus
            | Codec::Vorbis
            | Codec::Ac3
            | Codec::Pcm
            | Codec::Alaw
            | Codec::Ulaw => TrackKind::Audio,
            Codec::Amf => TrackKind::Meta,
        }
    }
}

/// One elementary stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Track {
    /// Track id within its stream, from 1.
    pub id: u32,
    pub codec: Option<Codec>,
    /// Decoder configuration: avcC for H.264, hvcC for HEVC, av1C for AV1, the
    /// AudioSpecificConfig for AAC; empty when the codec needs none.
    pub init: Bytes,
    /// RFC 6381 codec string (`avc1.64001F`, `mp4a.40.2`), when known.
    pub codec_string: String,
    pub width: u32,
    pub height: u32,
    /// Frames per 1000 seconds (MistServer's `fpks`); 0 when unknown.
    pub fpks: u32,
    /// Audio sample rate in Hz.
    pub rate: u32,
    pub channels: u32,
    /// Bits per audio sample.
    pub size: u32,
    /// Average bytes per second over the buffer.
    pub bps: u64,
    pub firstms: i64,
    pub lastms: i64,
    /// Language, an ISO 639-2 code (`eng`); empty when unknown.
    pub lang: String,
}

impl Track {
    pub fn kind(&self) -> Option<TrackKind> {
        self.codec.map(Codec::kind)
    }
}

/// One frame of one track.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub track: u32,
    /// Decode time in milliseconds.
    pub time: i64,
    /// Composition offset in milliseconds (presentation = time + offset).
    pub offset: i32,
    pub keyframe: bool,
    /// The frame: length-prefixed NAL units for H.264/HEVC (as in avcC/hvcC), raw AAC or MP3
    /// frames for audio, AMF bytes for script data.
    pub data: Bytes,
}
