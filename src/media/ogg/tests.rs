//! Pages, CRC and Xiph lacing, with damaged input; the muxer's output read back by ffprobe and
//! by the on-demand scanner.

use bytes::Bytes;

use super::*;
use crate::media::bits::tests::XorShift;

/// A page built by hand: one packet of `body`.
fn page_of(body: &[u8], serial: u32, sequence: u32, kind: u8) -> Vec<u8> {
    let mut p = b"OggS\0".to_vec();
    p.push(kind);
    p.extend_from_slice(&0i64.to_le_bytes());
    p.extend_from_slice(&serial.to_le_bytes());
    p.extend_from_slice(&sequence.to_le_bytes());
    p.extend_from_slice(&[0; 4]);
    let mut lacing = vec![255u8; body.len() / 255];
    lacing.push((body.len() % 255) as u8);
    p.push(lacing.len() as u8);
    p.extend_from_slice(&lacing);
    p.extend_from_slice(body);
    let c = crc(&p);
    p[22..26].copy_from_slice(&c.to_le_bytes());
    p
}

#[test]
fn crc_matches_the_reference_value() {
    // CRC-32/MPEG-2 without its initial all-ones and final XOR (Ogg's variant) of "123456789".
    assert_eq!(crc_update(0, b"123456789"), 0x89A1_897F);
}

#[test]
fn pages_parse_and_split_into_pieces() {
    let body = vec![7u8; 600];
    let page = page_of(&body, 9, 3, BOS);
    let p = Page::parse(&page, true).unwrap();
    assert_eq!(
        (p.serial, p.sequence, p.len, p.bos()),
        (9, 3, page.len(), true)
    );
    assert_eq!(p.pieces(), vec![(&body[..], true)]);
    // A flipped byte fails the CRC; cut pages ask for more.
    let mut bad = page.clone();
    bad[40] ^= 1;
    assert_eq!(
        Page::parse(&bad, true),
        Err(PageError::Invalid("CRC mismatch"))
    );
    assert!(Page::parse(&bad, false).is_ok());
    for cut in 0..page.len() {
        match Page::parse(&page[..cut], true) {
            Err(PageError::Incomplete(n)) => assert!(n > cut),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    assert!(Page::parse(b"OggT and more bytes than a header has", true).is_err());
}

#[test]
fn random_bytes_are_never_a_page() {
    let mut rng = XorShift(3);
    for len in [0usize, 5, 27, 300, 70_000] {
        let mut noise: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if len >= 4 {
            noise[..4].copy_from_slice(b"OggS");
        }
        if len > 4 {
            noise[4] = 0;
        }
        assert!(Page::parse(&noise, true).is_err(), "{len}");
    }
}

#[test]
fn xiph_lacing_round_trips_and_refuses_damage() {
    let a = vec![1u8; 30];
    let b = vec![2u8; 600];
    let c = vec![3u8; 4000];
    let laced = xiph_lace(&[&a, &b, &c]);
    assert_eq!(&laced[..5], &[2, 30, 255, 255, 90]);
    let back = xiph_unlace(&laced).unwrap();
    assert_eq!(back, vec![Bytes::from(a), Bytes::from(b), Bytes::from(c)]);
    assert!(xiph_unlace(&Bytes::new()).is_err());
    assert!(xiph_unlace(&Bytes::from_static(&[2, 255, 255])).is_err());
    assert!(xiph_unlace(&Bytes::from_static(&[2, 200, 3, 1, 2])).is_err());
}
