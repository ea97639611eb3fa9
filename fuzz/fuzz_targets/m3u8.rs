//! HLS playlists fetched by the HLS pull input: `m3u8::parse::parse` against a base URL,
//! attribute lists, and URL resolution.
#![no_main]

use eddy::media::m3u8::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse::parse(
        &text,
        "https://cdn.example.com/live/stream/index.m3u8?token=1",
    );
    for line in text.lines().take(16) {
        if let Some((_, attrs)) = line.split_once(':') {
            let _ = parse::attributes(attrs);
        }
        let _ = parse::resolve("https://cdn.example.com/live/index.m3u8", line);
    }
});
