//! The samples of a track: the sample tables of `stbl`, and the track runs of each `moof`.

use super::boxes::{be32, boxes, child, need, Cur};
use super::{bad, Budget, Trak, VodError, NOT_SYNC};

/// The entries of the FullBox table `kind` of `stbl` (u32 count, then `entry` bytes each).
fn table<'a>(
    stbl: &'a [u8],
    kind: &'static str,
    entry: usize,
) -> Result<Option<&'a [u8]>, VodError> {
    let code = kind
        .as_bytes()
        .try_into()
        .map_err(|_| bad("bad box type"))?;
    let Some(body) = child(stbl, code)? else {
        return Ok(None);
    };
    let mut c = Cur::new(body, kind);
    c.full()?;
    let count = c.u32()?;
    c.table(count, entry).map(Some)
}

/// Sample sizes: `stsz` (one for all, or u32 each) or `stz2` (4, 8 or 16 bits each).
struct Sizes<'a> {
    fixed: u32,
    bits: u32,
    table: &'a [u8],
}

impl Sizes<'_> {
    fn get(&self, i: usize) -> Option<u32> {
        let t = self.table;
        match self.bits {
            _ if self.fixed != 0 => Some(self.fixed),
            32 => be32(t, i, 4, 0),
            16 => Some(u32::from(u16::from_be_bytes(
                t.get(i * 2..i * 2 + 2)?.try_into().ok()?,
            ))),
            8 => t.get(i).map(|&b| u32::from(b)),
            _ => t
                .get(i / 2)
                .map(|&b| u32::from(if i % 2 == 0 { b >> 4 } else { b & 0x0F })),
        }
    }
}

/// The sample count and sizes of a `stbl`.
fn sizes(stbl: &[u8]) -> Result<(u32, Sizes<'_>), VodError> {
    if let Some(stsz) = child(stbl, b"stsz")? {
        let mut c = Cur::new(stsz, "stsz");
        c.full()?;
        let (fixed, count) = (c.u32()?, c.u32()?);
        let table = if fixed == 0 { c.table(count, 4)? } else { &[] };
        return Ok((
            count,
            Sizes {
                fixed,
                bits: 32,
                table,
            },
        ));
    }
    let mut c = Cur::new(need(stbl, b"stz2")?, "stz2");
    c.full()?;
    let bits = c.u32()? & 0xFF; // reserved u24, field_size u8
    let count = c.u32()?;
    if !matches!(bits, 4 | 8 | 16) {
        return Err(bad(format!("stz2 box with {bits}-bit sizes")));
    }
    let bytes = (u64::from(count) * u64::from(bits)).div_ceil(8);
    let table = c.table(u32::try_from(bytes).unwrap_or(u32::MAX), 1)?;
    Ok((
        count,
        Sizes {
            fixed: 0,
            bits,
            table,
        },
    ))
}

/// The samples of a `stbl` (none in a fragmented file's `moov`): chunks from `stco`/`co64`,
/// samples per chunk from `stsc`, sizes, durations from `stts`, composition offsets from
/// `ctts`, sync samples from `stss`.
pub(super) fn sample_table(t: &mut Trak, trak: &[u8], budget: &mut Budget) -> Result<(), VodError> {
    let stbl = need(need(need(trak, b"mdia")?, b"minf")?, b"stbl")?;
    let (count, sizes) = sizes(stbl)?;
    if count == 0 {
        return Ok(());
    }
    if u64::from(count) > budget.len {
        let len = budget.len;
        return Err(bad(format!(
            "track {}: {count} samples in a file of {len} bytes",
            t.file_id
        )));
    }
    let (offsets, wide) = match table(stbl, "stco", 4)? {
        Some(stco) => (stco, 4),
        None => (
            table(stbl, "co64", 8)?.ok_or_else(|| bad("no stco or co64 box"))?,
            8,
        ),
    };
    let stsc = table(stbl, "stsc", 12)?.unwrap_or_default();
    let mut stts = Runs::new(table(stbl, "stts", 8)?.ok_or_else(|| bad("stts box missing"))?);
    let mut ctts = Runs::new(table(stbl, "ctts", 8)?.unwrap_or_default());
    let stss = table(stbl, "stss", 4)?;
    let (mut sample, mut run, mut sync) = (0usize, 0usize, 0usize);
    'chunks: for chunk in 0..offsets.len() / wide {
        // stsc: runs of chunks (first_chunk from 1) with the same samples_per_chunk.
        while be32(stsc, run + 1, 12, 0).is_some_and(|first| first as usize <= chunk + 1) {
            run += 1;
        }
        let per_chunk = be32(stsc, run, 12, 4).ok_or_else(|| bad("stsc box is empty"))?;
        let at = chunk * wide;
        let mut pos = match offsets.get(at..at + wide) {
            Some(b) if wide == 8 => b.try_into().map(u64::from_be_bytes).unwrap_or(0),
            _ => be32(offsets, chunk, 4, 0).map_or(0, u64::from),
        };
        for _ in 0..per_chunk {
            if sample >= count as usize {
                break 'chunks;
            }
            let size = sizes
                .get(sample)
                .ok_or_else(|| bad("stsz box is cut short"))?;
            let key = stss.is_none_or(|stss| {
                // stss lists sync samples (numbered from 1) in increasing order.
                let number = sample as u64 + 1;
                while be32(stss, sync, 4, 0).is_some_and(|s| u64::from(s) < number) {
                    sync += 1;
                }
                be32(stss, sync, 4, 0).is_some_and(|s| u64::from(s) == number)
            });
            // Version 0 offsets are unsigned by the letter of the spec; writers put negative
            // ones there too, and players read them as signed.
            let cts = i64::from(ctts.next().unwrap_or(0) as i32);
            let duration = stts.next().unwrap_or(stts.value);
            t.push(pos, size, cts, key, duration, budget)?;
            pos = pos.saturating_add(u64::from(size));
            sample += 1;
        }
    }
    Ok(())
}

/// Run-length (count, value) pairs of `stts` and `ctts`, one value per sample.
struct Runs<'a> {
    data: &'a [u8],
    left: u32,
    value: u32,
}

impl<'a> Runs<'a> {
    fn new(data: &'a [u8]) -> Self {
        Runs {
            data,
            left: 0,
            value: 0,
        }
    }

    fn next(&mut self) -> Option<u32> {
        while self.left == 0 {
            self.left = be32(self.data, 0, 8, 0)?;
            self.value = be32(self.data, 0, 8, 4)?;
            self.data = self.data.get(8..).unwrap_or_default();
        }
        self.left -= 1;
        Some(self.value)
    }
}

/// The samples of one `moof` at `moof_pos` (8.8.7 `tfhd`, 8.8.12 `tfdt`, 8.8.8 `trun`).
pub(super) fn fragment(
    moof: &[u8],
    moof_pos: u64,
    traks: &mut [Trak],
    budget: &mut Budget,
) -> Result<(), VodError> {
    // Without a base_data_offset or default-base-is-moof, a traf's data follows the previous
    // traf's, the first one's the moof.
    let mut next_base = moof_pos;
    for (kind, traf) in boxes(moof)? {
        if &kind != b"traf" {
            continue;
        }
        let mut c = Cur::new(need(traf, b"tfhd")?, "tfhd");
        let (_, flags) = c.full()?;
        let id = c.u32()?;
        let t = traks.iter_mut().find(|t| t.file_id == id).ok_or_else(|| {
            bad(format!(
                "a moof has samples of track {id}, which moov lacks"
            ))
        })?;
        let base = match flags {
            f if f & 0x01 != 0 => c.uint(8)?,
            f if f & 0x02_0000 != 0 => moof_pos,
            _ => next_base,
        };
        if flags & 0x02 != 0 {
            c.skip(4)?;
        }
        let mut d = t.trex;
        if flags & 0x08 != 0 {
            d.duration = c.u32()?;
        }
        if flags & 0x10 != 0 {
            d.size = c.u32()?;
        }
        if flags & 0x20 != 0 {
            d.flags = c.u32()?;
        }
        if let Some(tfdt) = child(traf, b"tfdt")? {
            let mut c = Cur::new(tfdt, "tfdt");
            let (version, _) = c.full()?;
            let time = c.uint(if version == 1 { 8 } else { 4 })?;
            t.end_dts = i64::try_from(time).map_err(|_| bad("tfdt time overflows"))?;
        }
        let mut pos = base;
        for (kind, trun) in boxes(traf)? {
            if &kind != b"trun" {
                continue;
            }
            let mut c = Cur::new(trun, "trun");
            let (_, flags) = c.full()?;
            let count = c.u32()?;
            if flags & 0x01 != 0 {
                let offset = i64::from(c.u32()? as i32);
                pos = base
                    .checked_add_signed(offset)
                    .ok_or_else(|| bad("trun data offset before the file"))?;
            }
            let first_flags = if flags & 0x04 != 0 {
                Some(c.u32()?)
            } else {
                None
            };
            let fields = (flags & 0x0F00).count_ones() as usize * 4;
            let mut table = Cur::new(c.table(count, fields)?, "trun");
            if flags & 0x200 == 0 && d.size == 0 {
                // No sample has bytes: only time passes.
                let time = i64::from(count) * i64::from(d.duration);
                t.end_dts = t.end_dts.saturating_add(time);
                continue;
            }
            for i in 0..count {
                if fields == 0 && pos >= budget.len {
                    // The file ends before these samples (all of one size and duration).
                    t.lost(count - i, d.duration);
                    break;
                }
                let mut field = |bit: u32, default: u32| {
                    if flags & bit != 0 {
                        table.u32()
                    } else {
                        Ok(default)
                    }
                };
                let duration = field(0x100, d.duration)?;
                let size = field(0x200, d.size)?;
                let sample_flags = field(0x400, d.flags)?;
                let cts = field(0x800, 0)?;
                let sample_flags = match first_flags {
                    Some(f) if i == 0 => f,
                    _ => sample_flags,
                };
                let cts = i64::from(cts as i32);
                t.push(
                    pos,
                    size,
                    cts,
                    sample_flags & NOT_SYNC == 0,
                    duration,
                    budget,
                )?;
                pos = pos.saturating_add(u64::from(size));
            }
        }
        next_base = pos;
    }
    Ok(())
}
