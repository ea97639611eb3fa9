//! The elementary streams' payloads: H.264 / HEVC access units (parameter sets update the
//! track, the rest become length-prefixed NAL units), ADTS AAC frames, MPEG audio frames and
//! AC-3 syncframes.

use bytes::Bytes;

use super::super::super::nal::{self, NalFlavor};
use super::super::super::{aac, ac3, h264, hevc, mp3, Track};
use super::super::{opus, psi};
use super::{Es, TsDemuxer};

/// The codec side of an elementary stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EsKind {
    Video(NalFlavor),
    Aac,
    MpegAudio,
    Ac3,
    /// Opus with its channel_config_code (one that makes an OpusHead).
    Opus(u8),
    /// AAC in LOAS / LATM.
    Latm,
}

impl EsKind {
    pub(super) fn of(stream: &psi::PmtStream) -> Option<EsKind> {
        if let Some(code) = stream.opus {
            return code
                .filter(|&code| opus::opus_head(code, 0).is_ok())
                .map(EsKind::Opus);
        }
        match stream.stream_type {
            psi::STREAM_TYPE_H264 => Some(EsKind::Video(NalFlavor::H264)),
            psi::STREAM_TYPE_HEVC => Some(EsKind::Video(NalFlavor::Hevc)),
            psi::STREAM_TYPE_AAC_ADTS => Some(EsKind::Aac),
            psi::STREAM_TYPE_MPEG1_AUDIO | psi::STREAM_TYPE_MPEG2_AUDIO => Some(EsKind::MpegAudio),
            psi::STREAM_TYPE_AC3 => Some(EsKind::Ac3),
            psi::STREAM_TYPE_AAC_LATM => Some(EsKind::Latm),
            _ => None,
        }
    }
}

impl TsDemuxer {
    pub(super) fn on_video(
        &mut self,
        index: usize,
        flavor: NalFlavor,
        dts: i64,
        pts: i64,
        random_access: bool,
        payload: &Bytes,
    ) {
        let Some(es) = self.streams.get_mut(index) else {
            return;
        };
        // Parameter sets first: they may change the track this access unit belongs to.
        for unit in nal::annex_b(payload) {
            let slot =
                match (flavor, flavor.nal_type(unit)) {
                    (NalFlavor::Hevc, Some(hevc::NAL_VPS)) => &mut es.vps,
                    (NalFlavor::H264, Some(h264::NAL_SPS))
                    | (NalFlavor::Hevc, Some(hevc::NAL_SPS)) => &mut es.sps,
                    (NalFlavor::H264, Some(h264::NAL_PPS))
                    | (NalFlavor::Hevc, Some(hevc::NAL_PPS)) => &mut es.pps,
                    _ => continue,
                };
            if slot.as_deref() != Some(unit) {
                *slot = Some(payload.slice_ref(unit));
                es.built = false;
            }
        }
        if !es.built {
            if let Some(track) = video_track(flavor, es) {
                es.built = true;
                match track {
                    Ok(track) => self.announce(index, track),
                    Err(reason) => self.stream_error(index, reason),
                }
            }
        }
        let Some(es) = self.streams.get(index) else {
            return;
        };
        let in_config = |unit: &[u8]| {
            [&es.vps, &es.sps, &es.pps]
                .iter()
                .any(|set| set.as_deref() == Some(unit))
        };
        let mut data = Vec::with_capacity(payload.len().saturating_add(64));
        let mut keyframe = random_access;
        for unit in nal::annex_b(payload) {
            if flavor.is_delimiter(unit) || (flavor.is_parameter_set(unit) && in_config(unit)) {
                continue;
            }
            keyframe |= flavor.is_random_access(unit);
            if let Err(e) = nal::put_length_prefixed(&mut data, unit) {
                return self.stream_error(index, e.to_string());
            }
        }
        self.packet(index, dts, pts, keyframe, Bytes::from(data));
    }

    pub(super) fn on_aac(&mut self, index: usize, pts: i64, payload: &Bytes) {
        let mut at = 0usize;
        let (mut frame_time, mut samples) = (pts, 0i64);
        while at < payload.len() {
            let header = match aac::parse_adts(payload.get(at..).unwrap_or_default()) {
                Ok(h) => h,
                Err(e) => return self.stream_error(index, format!("ADTS: {e}")),
            };
            let end = at.saturating_add(header.frame_len);
            if end > payload.len() {
                return self.stream_error(index, "ADTS frame runs past its PES".into());
            }
            if header.raw_blocks != 1 {
                self.stream_error(
                    index,
                    "ADTS frames of several raw data blocks are not supported".into(),
                );
                at = end;
                continue;
            }
            match aac::track_from_asc(header.audio_specific_config()) {
                Ok(track) => self.announce(index, track),
                Err(e) => return self.stream_error(index, format!("ADTS: {e}")),
            }
            let data = payload.slice(at + header.header_len..end);
            self.packet(index, frame_time, frame_time, false, data);
            // 1024 samples a frame, in 90 kHz ticks (counted from the PES's time, so the
            // rounding does not add up).
            let rate = i64::from(header.asc.sample_rate.max(1));
            samples += 1024;
            frame_time = pts.saturating_add(samples * 90_000 / rate);
            at = end;
        }
    }

    pub(super) fn on_mpeg_audio(&mut self, index: usize, pts: i64, payload: &Bytes) {
        let mut at = 0usize;
        let (mut frame_time, mut samples) = (pts, 0i64);
        while at < payload.len() {
            let rest = payload.get(at..).unwrap_or_default();
            let header = match mp3::parse_header(rest) {
                Ok(h) => h,
                Err(e) => return self.stream_error(index, format!("MPEG audio: {e}")),
            };
            let end = at.saturating_add(header.frame_len);
            if end > payload.len() || header.frame_len == 0 {
                return self.stream_error(index, "MPEG audio frame runs past its PES".into());
            }
            match mp3::track_from_frame(rest) {
                Ok(track) => self.announce(index, track),
                Err(e) => return self.stream_error(index, format!("MPEG audio: {e}")),
            }
            self.packet(index, frame_time, frame_time, false, payload.slice(at..end));
            let rate = i64::from(header.sample_rate.max(1));
            samples += i64::from(header.samples_per_frame);
            frame_time = pts.saturating_add(samples * 90_000 / rate);
            at = end;
        }
    }
}

impl TsDemuxer {
    /// AC-3: one packet per syncframe, 1536 samples apart from the PES's time.
    pub(super) fn on_ac3(&mut self, index: usize, pts: i64, payload: &Bytes) {
        let mut at = 0usize;
        let (mut frame_time, mut samples) = (pts, 0i64);
        while at < payload.len() {
            let rest = payload.get(at..).unwrap_or_default();
            let header = match ac3::parse_header(rest) {
                Ok(h) => h,
                Err(e) => return self.stream_error(index, format!("AC-3: {e}")),
            };
            let end = at.saturating_add(header.frame_len);
            if end > payload.len() {
                return self.stream_error(index, "AC-3 syncframe runs past its PES".into());
            }
            match ac3::track_from_frame(rest) {
                Ok(track) => self.announce(index, track),
                Err(e) => return self.stream_error(index, format!("AC-3: {e}")),
            }
            self.packet(index, frame_time, frame_time, false, payload.slice(at..end));
            let rate = i64::from(header.sample_rate.max(1));
            samples += i64::from(ac3::SAMPLES_PER_FRAME);
            frame_time = pts.saturating_add(samples * 90_000 / rate);
            at = end;
        }
    }
}

/// The track of a video stream once its parameter sets are all there: `Some(Err)` when they do
/// not make a configuration.
fn video_track(flavor: NalFlavor, es: &Es) -> Option<Result<Track, String>> {
    let (sps, pps) = (es.sps.as_ref()?, es.pps.as_ref()?);
    Some(match flavor {
        NalFlavor::H264 => h264::build_avcc(sps, pps)
            .and_then(h264::track_from_avcc)
            .map_err(|e| format!("H.264 parameter sets: {e}")),
        NalFlavor::Hevc => {
            let vps = es.vps.as_ref()?;
            hevc::build_hvcc(vps, sps, pps)
                .and_then(hevc::track_from_hvcc)
                .map_err(|e| format!("HEVC parameter sets: {e}"))
        }
    })
}
