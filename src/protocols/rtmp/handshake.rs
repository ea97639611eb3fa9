//! RTMP server-side handshake (C0/C1 -> S0/S1/S2).
//!
//! Reference: Adobe RTMP specification 1.0, section 5.2 (5.2.2 C0/S0,
//! 5.2.3 C1/S1, 5.2.4 C2/S2, 5.2.5 handshake diagram). The "digest"
//! (a.k.a. complex) handshake used by Flash Player 9+, FMLE and ffmpeg is
//! not in the public spec; its layout (offsets, keys, HMAC-SHA256) is the
//! widely documented de-facto format described below.
//!
//! Plain handshake (spec 5.2.2 – 5.2.4):
//!
//! ```text
//!  C0/S0:  +---------+
//!          | version |  1 byte, 3 = plain RTMP (6 = RTMPE, refused here)
//!          +---------+
//!  C1/S1:  +---------------+---------------+---------------------------+
//!          | time (4, BE)  | zero (4)      | random bytes (1528)       |
//!          +---------------+---------------+---------------------------+
//!  C2/S2:  +---------------+---------------+---------------------------+
//!          | time (4)      | time2 (4)     | random echo (1528)        |
//!          +---------------+---------------+---------------------------+
//!          S2 here is a verbatim echo of C1.
//! ```
//!
//! Digest handshake: bytes 4..8 of C1/S1 carry a version (non-zero) and a
//! 32-byte HMAC-SHA256 digest is hidden in one of the two 764-byte halves:
//!
//! ```text
//!  scheme 0:  0      4      8     12                         772          1536
//!             | time | ver  | off  | .. digest @ (sum(off)%728+12) .. | key half |
//!  scheme 1:  0      4      8                               772    776         1536
//!             | time | ver  |  key half                       | off  | .. digest @ (sum(off)%728+776) .. |
//!
//!  digest = HMAC-SHA256(key, C1 without the 32 digest bytes)
//!    C1 key: "Genuine Adobe Flash Player 001"        (first 30 bytes of FP key)
//!    S1 key: "Genuine Adobe Flash Media Server 001"  (first 36 bytes of FMS key)
//!  S2 = random(1504) | HMAC-SHA256(HMAC-SHA256(FMS key (68 bytes), C1 digest),
//!                                  random(1504))
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of C0 + C1 as read from the client.
pub const C0C1_LEN: usize = 1537;
/// Length of C2 (and of C1, S1, S2).
pub const C2_LEN: usize = 1536;
/// Length of S0 + S1 + S2 returned by [`server_response`].
pub const S0S1S2_LEN: usize = 1 + 2 * C2_LEN;

const HANDSHAKE_LEN: usize = C2_LEN;
const DIGEST_LEN: usize = 32;
const RTMP_VERSION: u8 = 3;
const RTMPE_VERSION: u8 = 6;
/// Version advertised in S1 bytes 4..8 for the digest handshake.
const SERVER_VERSION: [u8; 4] = [0x0d, 0x0e, 0x0a, 0x0d];

const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];
const CLIENT_KEY_TEXT: &[u8; 30] = b"Genuine Adobe Flash Player 001";
const SERVER_KEY_TEXT: &[u8; 36] = b"Genuine Adobe Flash Media Server 001";

/// Handshake errors.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HandshakeError {
    #[error("handshake truncated: need {needed} bytes of C0+C1, got {got}")]
    Truncated { needed: usize, got: usize },
    #[error("unsupported RTMP version {0} in C0 (only 3 is accepted)")]
    UnsupportedVersion(u8),
    #[error("encrypted RTMP (RTMPE, C0 version 6) is not supported")]
    EncryptedNotSupported,
    #[error("HMAC key setup failed")]
    Hmac,
}

fn client_key() -> [u8; 62] {
    let mut k = [0u8; 62];
    k[..30].copy_from_slice(CLIENT_KEY_TEXT);
    k[30..].copy_from_slice(&KEY_TAIL);
    k
}

fn server_key() -> [u8; 68] {
    let mut k = [0u8; 68];
    k[..36].copy_from_slice(SERVER_KEY_TEXT);
    k[36..].copy_from_slice(&KEY_TAIL);
    k
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 32], HandshakeError> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| HandshakeError::Hmac)?;
    for p in parts {
        mac.update(p);
    }
    Ok(mac.finalize().into_bytes().into())
}

/// Offset of the 32-byte digest in a 1536-byte C1/S1 for `scheme` (0 or 1).
fn digest_offset(block: &[u8], scheme: u8) -> Option<usize> {
    let (at, base) = if scheme == 0 { (8, 12) } else { (772, 776) };
    let bytes = block.get(at..at + 4)?;
    let sum: usize = bytes.iter().map(|b| usize::from(*b)).sum();
    let off = sum % 728 + base;
    // Always in range: max 727 + 776 + 32 = 1535 <= 1536; checked anyway.
    (off + DIGEST_LEN <= HANDSHAKE_LEN).then_some(off)
}

/// HMAC-SHA256 of `block` without the digest bytes at `off`.
fn block_digest(block: &[u8], off: usize, key: &[u8]) -> Option<[u8; 32]> {
    let before = block.get(..off)?;
    let after = block.get(off.checked_add(DIGEST_LEN)?..HANDSHAKE_LEN)?;
    hmac_sha256(key, &[before, after]).ok()
}

fn verify_scheme(c1: &[u8], scheme: u8) -> Option<usize> {
    let off = digest_offset(c1, scheme)?;
    let before = c1.get(..off)?;
    let digest = c1.get(off..off + DIGEST_LEN)?;
    let after = c1.get(off + DIGEST_LEN..HANDSHAKE_LEN)?;
    let key = client_key();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key[..30]).ok()?;
    mac.update(before);
    mac.update(after);
    // Constant-time comparison.
    mac.verify_slice(digest).ok().map(|()| off)
}

/// Which digest scheme (0 or 1) the 1536-byte C1 (without C0) uses, or
/// `None` for a plain handshake / invalid digest.
pub fn client_digest_scheme(c1: &[u8]) -> Option<u8> {
    if c1.len() < HANDSHAKE_LEN {
        return None;
    }
    [0u8, 1]
        .into_iter()
        .find(|s| verify_scheme(c1, *s).is_some())
}

/// Tiny non-cryptographic PRNG (xorshift64*) for handshake filler bytes.
struct XorShift(u64);

impl XorShift {
    fn seeded() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // splitmix64 of the mixed seed; never zero afterwards.
        let mut z = nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift(z | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Builds S0+S1+S2 (3073 bytes) for the first [`C0C1_LEN`] bytes of
/// `c0c1`. Bytes beyond that (e.g. a pipelined C2) are ignored.
pub fn server_response(c0c1: &[u8]) -> Result<Vec<u8>, HandshakeError> {
    let (&version, rest) = c0c1.split_first().ok_or(HandshakeError::Truncated {
        needed: C0C1_LEN,
        got: 0,
    })?;
    match version {
        RTMP_VERSION => {}
        RTMPE_VERSION => return Err(HandshakeError::EncryptedNotSupported),
        v => return Err(HandshakeError::UnsupportedVersion(v)),
    }
    let c1 = rest.get(..HANDSHAKE_LEN).ok_or(HandshakeError::Truncated {
        needed: C0C1_LEN,
        got: c0c1.len(),
    })?;

    let mut rng = XorShift::seeded();
    let mut out = vec![0u8; S0S1S2_LEN];
    out[0] = RTMP_VERSION;
    let (s1, s2) = out[1..].split_at_mut(HANDSHAKE_LEN);
    // S1: time = 0 (our chunk timestamps start at 0), then random filler.
    rng.fill(&mut s1[8..]);

    let scheme = [0u8, 1]
        .into_iter()
        .find_map(|s| verify_scheme(c1, s).map(|off| (s, off)));
    match scheme {
        None => {
            // Plain handshake: S1 zero field stays zero, S2 echoes C1.
            s2.copy_from_slice(c1);
        }
        Some((scheme, c1_off)) => {
            s1[4..8].copy_from_slice(&SERVER_VERSION);
            let skey = server_key();
            let s1_off = digest_offset(s1, scheme).ok_or(HandshakeError::Hmac)?;
            let s1_digest = block_digest(s1, s1_off, &skey[..36]).ok_or(HandshakeError::Hmac)?;
            s1[s1_off..s1_off + DIGEST_LEN].copy_from_slice(&s1_digest);

            let c1_digest = c1
                .get(c1_off..c1_off + DIGEST_LEN)
                .ok_or(HandshakeError::Hmac)?;
            let s2_key = hmac_sha256(&skey, &[c1_digest])?;
            let (s2_random, s2_digest) = s2.split_at_mut(HANDSHAKE_LEN - DIGEST_LEN);
            rng.fill(s2_random);
            s2_digest.copy_from_slice(&hmac_sha256(&s2_key, &[s2_random])?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a C1 with a valid digest for `scheme`, like a Flash client.
    fn digest_c1(scheme: u8, seed: u64) -> Vec<u8> {
        let mut rng = XorShift(seed | 1);
        let mut c1 = vec![0u8; HANDSHAKE_LEN];
        rng.fill(&mut c1);
        c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
        let off = digest_offset(&c1, scheme).unwrap();
        let d = block_digest(&c1, off, &client_key()[..30]).unwrap();
        c1[off..off + 32].copy_from_slice(&d);
        c1
    }

    fn with_c0(c1: &[u8]) -> Vec<u8> {
        let mut v = vec![3u8];
        v.extend_from_slice(c1);
        v
    }

    /// Verifies S1 and S2 the way a Flash/ffmpeg client does.
    fn check_digest_response(c1: &[u8], scheme: u8, resp: &[u8]) {
        assert_eq!(resp.len(), 3073);
        assert_eq!(resp[0], 3);
        let s1 = &resp[1..1537];
        let s2 = &resp[1537..];
        assert_eq!(&s1[4..8], &SERVER_VERSION);
        let s1_off = digest_offset(s1, scheme).unwrap();
        let expect = block_digest(s1, s1_off, &server_key()[..36]).unwrap();
        assert_eq!(&s1[s1_off..s1_off + 32], &expect);

        let c1_off = digest_offset(c1, scheme).unwrap();
        let key = hmac_sha256(&server_key(), &[&c1[c1_off..c1_off + 32]]).unwrap();
        let sig = hmac_sha256(&key, &[&s2[..1504]]).unwrap();
        assert_eq!(&s2[1504..], &sig);
    }

    #[test]
    fn plain_c1_is_echoed() {
        let mut c1 = vec![0u8; HANDSHAKE_LEN];
        XorShift(42).fill(&mut c1[8..]);
        c1[..4].copy_from_slice(&[0, 0, 1, 2]);
        assert_eq!(client_digest_scheme(&c1), None);
        let resp = server_response(&with_c0(&c1)).unwrap();
        assert_eq!(resp.len(), 3073);
        assert_eq!(resp[0], 3);
        assert_eq!(&resp[1..5], &[0, 0, 0, 0]);
        assert_eq!(&resp[5..9], &[0, 0, 0, 0]);
        assert_eq!(&resp[1537..], &c1[..]);
    }

    #[test]
    fn scheme0_and_scheme1_detected() {
        for seed in 1..20u64 {
            for scheme in [0u8, 1] {
                let c1 = digest_c1(scheme, seed * 7919 + u64::from(scheme));
                assert_eq!(client_digest_scheme(&c1), Some(scheme));
                let resp = server_response(&with_c0(&c1)).unwrap();
                check_digest_response(&c1, scheme, &resp);
            }
        }
    }

    #[test]
    fn tampered_digest_falls_back_to_plain() {
        let mut c1 = digest_c1(0, 99);
        let off = digest_offset(&c1, 0).unwrap();
        c1[off] ^= 1;
        assert_eq!(client_digest_scheme(&c1), None);
        let resp = server_response(&with_c0(&c1)).unwrap();
        assert_eq!(&resp[1537..], &c1[..]);
    }

    #[test]
    fn ffmpeg_c1_uses_scheme0() {
        // C0+C1 captured from ffmpeg 5.1 publishing to 127.0.0.1.
        let c0c1 = include_bytes!("testdata/ffmpeg_c0c1.bin");
        assert_eq!(c0c1.len(), C0C1_LEN);
        assert_eq!(client_digest_scheme(&c0c1[1..]), Some(0));
        let resp = server_response(c0c1).unwrap();
        check_digest_response(&c0c1[1..], 0, &resp);
    }

    #[test]
    fn errors() {
        assert_eq!(
            server_response(&[]),
            Err(HandshakeError::Truncated {
                needed: 1537,
                got: 0
            })
        );
        assert_eq!(
            server_response(&[3; 1000]),
            Err(HandshakeError::Truncated {
                needed: 1537,
                got: 1000
            })
        );
        assert_eq!(
            server_response(&[6; 1537]),
            Err(HandshakeError::EncryptedNotSupported)
        );
        assert_eq!(
            server_response(&[2; 1537]),
            Err(HandshakeError::UnsupportedVersion(2))
        );
        assert_eq!(client_digest_scheme(&[0; 100]), None);
        // Extra trailing bytes (pipelined C2) are ignored.
        let mut long = vec![3u8; 3000];
        long[1..9].copy_from_slice(&[0; 8]);
        let resp = server_response(&long).unwrap();
        assert_eq!(&resp[1537..], &long[1..1537]);
    }

    #[test]
    fn prng_outputs_differ() {
        let a = server_response(&[3; 1537]).unwrap();
        let b = server_response(&[3; 1537]).unwrap();
        assert_ne!(&a[9..1537], &b[9..1537]);
    }

    #[test]
    fn fuzz_no_panic() {
        let mut rng = XorShift(0xDEAD_BEEF);
        let mut buf = vec![0u8; 1600];
        for i in 0..300 {
            rng.fill(&mut buf);
            buf[0] = if i % 3 == 0 { 3 } else { buf[0] };
            let len = (rng.next() % 1600) as usize;
            if let Ok(r) = server_response(&buf[..len]) {
                assert_eq!(r.len(), S0S1S2_LEN);
            }
            let _ = client_digest_scheme(&buf[1..len.max(1)]);
        }
    }
}
