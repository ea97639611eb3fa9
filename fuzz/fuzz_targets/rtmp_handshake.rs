//! RTMP handshake: C0+C1 from a client, plain or with a Flash-style digest.
//!
//! Byte 0 of the input picks how C1 is used: bit 0 set signs it with the client key (scheme 0
//! or 1 by bit 1), so the digest branch of `server_response` runs too; the rest is C0+C1 (and
//! whatever a client pipelines after it).
#![no_main]

use eddy::protocols::rtmp::handshake::{
    client_digest_scheme, server_response, C0C1_LEN, S0S1S2_LEN,
};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];

/// Writes a valid digest into the 1536-byte `c1` for `scheme`.
fn sign(c1: &mut [u8], scheme: u8) {
    let (at, base) = if scheme == 0 { (8, 12) } else { (772, 776) };
    let sum: usize = c1[at..at + 4].iter().map(|b| usize::from(*b)).sum();
    let off = sum % 728 + base;
    let mut key = Vec::from(&b"Genuine Adobe Flash Player 001"[..]);
    key.extend_from_slice(&KEY_TAIL);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key[..30]).unwrap();
    mac.update(&c1[..off]);
    mac.update(&c1[off + 32..]);
    let digest = mac.finalize().into_bytes();
    c1[off..off + 32].copy_from_slice(&digest);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut c0c1 = rest.to_vec();
    let scheme = (mode >> 1) & 1;
    if mode & 1 == 1 && c0c1.len() >= C0C1_LEN {
        sign(&mut c0c1[1..C0C1_LEN], scheme);
    }
    let found = c0c1.get(1..).map(client_digest_scheme);
    if let Ok(out) = server_response(&c0c1) {
        assert_eq!(out.len(), S0S1S2_LEN);
        assert_eq!(out[0], 3);
        let c1 = &c0c1[1..C0C1_LEN];
        match found.flatten() {
            // Plain handshake: S2 echoes C1.
            None => assert_eq!(&out[1 + 1536..], c1),
            Some(_) => assert_ne!(&out[5..9], &[0, 0, 0, 0]),
        }
    }
    if mode & 1 == 1 && c0c1.len() >= C0C1_LEN {
        assert!(found.flatten().is_some(), "a signed C1 must verify");
    }
});
