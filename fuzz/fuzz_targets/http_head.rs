//! The HTTP output listener's request heads: `parse_head` over pipelined requests, then the
//! pure parts of routing and answering that read the request (stream name and format from the
//! path, `?start=`/`?end=`, session token, Range, If-None-Match, the trigger URL).
#![no_main]

use eddy::protocols::http::mp4_range::{parse_range, ByteRange};
use eddy::protocols::http::progressive::match_path;
use eddy::protocols::http::response::Response;
use eddy::protocols::http::{
    parse_head, percent_decode, play_range, shared_by_viewers, stream_in, token_suffix,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut at = data;
    // Pipelined requests, as `serve_connection` takes them off its buffer.
    for _ in 0..8 {
        let Ok(Some((req, used))) = parse_head(at) else {
            break;
        };
        assert!(used > 0 && used <= at.len());
        at = &at[used..];
        let _ = req.url();
        let _ = req.is_head();
        let _ = token_suffix(&req);
        let _ = shared_by_viewers(&req);
        let range = play_range(&req);
        assert!(range.start_ms.is_none_or(|ms| ms >= 0));
        let _ = match_path(&req.path);
        let _ = stream_in(&req.path, "/hls/", "/index.m3u8");
        let len = u64::from(data.len() as u32) * 1000;
        if let ByteRange::Part { start, end } = parse_range(req.header("range"), len) {
            assert!(start < end && end <= len, "range {start}..{end} of {len}");
        }
        let answer = Response::ok("text/plain", "body").body_etag();
        let _ = answer.not_modified_for(&req);
        let _ = percent_decode(&req.query);
    }
});
