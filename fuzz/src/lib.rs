//! Helpers shared by Eddy's fuzz targets (see `fuzz_targets/`).

/// Splits fuzz input into the pieces a socket or file reader might hand over: the first byte
/// seeds the piece sizes (1..=256 bytes, varying), the rest is the stream. Parsers that keep
/// state across reads must give the same answers however the bytes arrive.
pub fn pieces(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let (seed, mut rest) = match data.split_first() {
        Some((&s, rest)) => (s, rest),
        None => (0, data),
    };
    let mut state = u32::from(seed) | 1;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        // xorshift32: cheap, deterministic piece sizes.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = if seed & 0x80 != 0 {
            // Whole-buffer reads, as from a file.
            rest.len()
        } else {
            (state % 256) as usize + 1
        };
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        Some(piece)
    })
}
