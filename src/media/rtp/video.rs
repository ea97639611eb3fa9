//! What H.264 (RFC 6184) and HEVC (RFC 7798) over RTP share: access units assembled from NAL
//! units ([`NalAssembler`]), and frames cut into single-NAL and fragment payloads
//! ([`nal_payloads`]). The per-format packet types live in [`super::h264`] and [`super::hevc`].
//!
//! An access unit is the NAL units of one RTP timestamp; it ends at the marker bit (RFC 6184
//! 5.1) or when the timestamp changes (for senders that forget the marker). As the TS demuxer
//! does, parameter sets update the track (avcC / hvcC rebuilt, [`super::RtpEvent::Track`]) and
//! are left out of the frame, access unit delimiters are dropped, and the rest become
//! 4-byte-length-prefixed NAL units. A frame is a keyframe when it holds an IDR / IRAP picture.
//! Nothing comes out before the track has its parameter sets, and after a loss nothing until
//! the next keyframe.

use bytes::Bytes;

use super::super::nal::{self, NalFlavor};
use super::super::{h264, hevc, Track};
use super::depacketize::Sink;
use super::{RtpError, MAX_FRAME};

/// Assembles access units from single NAL units and fragments.
#[derive(Debug)]
pub(super) struct NalAssembler {
    flavor: NalFlavor,
    vps: Option<Bytes>,
    sps: Option<Bytes>,
    pps: Option<Bytes>,
    /// The access unit so far, length-prefixed.
    au: Vec<u8>,
    au_ticks: Option<i64>,
    au_keyframe: bool,
    /// A NAL unit being rebuilt from fragments (header included).
    fragment: Option<Vec<u8>>,
    wait_keyframe: bool,
}

impl NalAssembler {
    /// Starts with the parameter sets of `init` (avcC / hvcC), when it parses.
    pub(super) fn new(flavor: NalFlavor, init: &Bytes) -> NalAssembler {
        let (mut vps, mut sps, mut pps) = (None, None, None);
        match flavor {
            NalFlavor::H264 => {
                if let Ok(cfg) = h264::parse_avcc(init) {
                    sps = cfg.sps.first().cloned();
                    pps = cfg.pps.first().cloned();
                }
            }
            NalFlavor::Hevc => {
                if let Ok(cfg) = hevc::parse_hvcc(init) {
                    vps = cfg.vps.first().cloned();
                    sps = cfg.sps.first().cloned();
                    pps = cfg.pps.first().cloned();
                }
            }
        }
        NalAssembler {
            flavor,
            vps,
            sps,
            pps,
            au: Vec::new(),
            au_ticks: None,
            au_keyframe: false,
            fragment: None,
            wait_keyframe: true,
        }
    }

    pub(super) fn push(
        &mut self,
        payload: &[u8],
        marker: bool,
        ticks: i64,
        sink: &mut Sink,
    ) -> Result<(), String> {
        if self.au_ticks != Some(ticks) {
            if self.fragment.is_some() {
                self.au_ticks = Some(ticks);
                return Err("fragmented NAL unit never completed".into());
            }
            self.flush(sink);
            self.au_ticks = Some(ticks);
        }
        match self.flavor {
            NalFlavor::H264 => super::h264::depacketize(self, payload, sink)?,
            NalFlavor::Hevc => super::hevc::depacketize(self, payload, sink)?,
        }
        if marker {
            if self.fragment.is_some() {
                return Err("marker bit inside a fragmented NAL unit".into());
            }
            self.flush(sink);
        }
        Ok(())
    }

    /// Drops the access unit in progress and waits for a keyframe.
    pub(super) fn loss(&mut self) {
        self.au.clear();
        self.au_keyframe = false;
        self.fragment = None;
        self.wait_keyframe = true;
    }

    /// One whole NAL unit of the access unit.
    pub(super) fn nal(&mut self, unit: &[u8], sink: &mut Sink) -> Result<(), String> {
        if unit.is_empty() {
            return Err("empty NAL unit".into());
        }
        let flavor = self.flavor;
        if flavor.is_delimiter(unit) {
            return Ok(());
        }
        if flavor.is_parameter_set(unit) {
            return self.parameter_set(unit, sink);
        }
        if self.au.len().saturating_add(unit.len()) > MAX_FRAME {
            return Err(format!("access unit over {MAX_FRAME} bytes"));
        }
        self.au_keyframe |= flavor.is_random_access(unit);
        nal::put_length_prefixed(&mut self.au, unit).map_err(|e| e.to_string())
    }

    /// The first fragment of a NAL unit: its rebuilt header and first bytes.
    pub(super) fn fragment_start(&mut self, header: &[u8], data: &[u8]) -> Result<(), String> {
        if self.fragment.is_some() {
            return Err("fragment start inside an unfinished fragmented NAL unit".into());
        }
        let mut unit = Vec::with_capacity(header.len() + data.len() * 4);
        unit.extend_from_slice(header);
        unit.extend_from_slice(data);
        self.fragment = Some(unit);
        Ok(())
    }

    /// A later fragment; the unit is complete at `end`.
    pub(super) fn fragment_more(
        &mut self,
        data: &[u8],
        end: bool,
        sink: &mut Sink,
    ) -> Result<(), String> {
        let Some(unit) = self.fragment.as_mut() else {
            return Err("fragment without a start".into());
        };
        if unit.len().saturating_add(data.len()) > MAX_FRAME {
            return Err(format!("fragmented NAL unit over {MAX_FRAME} bytes"));
        }
        unit.extend_from_slice(data);
        if end {
            let unit = self.fragment.take().unwrap_or_default();
            self.nal(&unit, sink)?;
        }
        Ok(())
    }

    fn parameter_set(&mut self, unit: &[u8], sink: &mut Sink) -> Result<(), String> {
        let kind = self.flavor.nal_type(unit);
        let slot = match (self.flavor, kind) {
            (NalFlavor::Hevc, Some(hevc::NAL_VPS)) => &mut self.vps,
            (NalFlavor::H264, Some(h264::NAL_SPS)) | (NalFlavor::Hevc, Some(hevc::NAL_SPS)) => {
                &mut self.sps
            }
            _ => &mut self.pps,
        };
        if slot.as_deref() == Some(unit) {
            return Ok(());
        }
        *slot = Some(Bytes::copy_from_slice(unit));
        match self.track() {
            Some(Ok(track)) => sink.announce(track),
            Some(Err(reason)) => return Err(reason),
            None => {}
        }
        Ok(())
    }

    /// The track the parameter sets make, once all are there.
    fn track(&self) -> Option<Result<Track, String>> {
        let (sps, pps) = (self.sps.as_ref()?, self.pps.as_ref()?);
        Some(match self.flavor {
            NalFlavor::H264 => h264::build_avcc(sps, pps)
                .and_then(h264::track_from_avcc)
                .map_err(|e| format!("parameter sets: {e}")),
            NalFlavor::Hevc => hevc::build_hvcc(self.vps.as_ref()?, sps, pps)
                .and_then(hevc::track_from_hvcc)
                .map_err(|e| format!("parameter sets: {e}")),
        })
    }

    /// Sends the access unit in progress, when it can be decoded.
    fn flush(&mut self, sink: &mut Sink) {
        let keyframe = std::mem::take(&mut self.au_keyframe);
        if self.au.is_empty() {
            return;
        }
        let data = Bytes::from(std::mem::take(&mut self.au));
        if sink.track().init.is_empty() || (self.wait_keyframe && !keyframe) {
            return;
        }
        self.wait_keyframe = false;
        if let Some(ticks) = self.au_ticks {
            sink.packet(ticks, keyframe, data);
        }
    }
}

/// The payloads of one frame (length-prefixed NAL units of `length_size` bytes): each unit in
/// a single-NAL payload when it fits `mtu`, else in fragments (`fragment` cuts one unit). On
/// keyframes `parameter_sets` go first unless the frame carries its own.
pub(super) fn nal_payloads(
    flavor: NalFlavor,
    data: &[u8],
    length_size: u8,
    parameter_sets: &[Bytes],
    keyframe: bool,
    mtu: usize,
) -> Result<Vec<Vec<u8>>, RtpError> {
    let invalid = |e: nal::NalError| RtpError::Payload {
        codec: flavor_name(flavor),
        reason: e.to_string(),
    };
    let mut units = Vec::new();
    for unit in nal::length_prefixed(data, length_size) {
        let unit = unit.map_err(invalid)?;
        if !unit.is_empty() && !flavor.is_delimiter(unit) {
            units.push(unit);
        }
    }
    let own_sets = units.iter().any(|u| flavor.is_parameter_set(u));
    let mut out = Vec::new();
    if keyframe && !own_sets {
        for set in parameter_sets {
            put_unit(flavor, set, mtu, &mut out);
        }
    }
    for unit in units {
        put_unit(flavor, unit, mtu, &mut out);
    }
    Ok(out)
}

fn put_unit(flavor: NalFlavor, unit: &[u8], mtu: usize, out: &mut Vec<Vec<u8>>) {
    if unit.len() <= mtu {
        out.push(unit.to_vec());
        return;
    }
    match flavor {
        NalFlavor::H264 => super::h264::fragment(unit, mtu, out),
        NalFlavor::Hevc => super::hevc::fragment(unit, mtu, out),
    }
}

fn flavor_name(flavor: NalFlavor) -> &'static str {
    match flavor {
        NalFlavor::H264 => "H264",
        NalFlavor::Hevc => "HEVC",
    }
}
