use super::*;

#[test]
fn sources() {
    let p = |s: &str| parse(s);
    assert_eq!(
        p("tsudp://:9000"),
        Ok(UdpSource {
            host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 9000,
            interfaces: vec![]
        })
    );
    let m = p("tsudp://239.1.2.3:5000/eth0, 10.0.0.1").unwrap();
    assert!(m.is_multicast());
    assert_eq!(m.interfaces, ["eth0", "10.0.0.1"]);
    let v6 = p("tsudp://[ff02::1]:5000/lo").unwrap();
    assert!(v6.is_multicast() && v6.port == 5000);
    assert!(!p("tsudp://127.0.0.1:1234").unwrap().is_multicast());
    for bad in [
        "udp://:9000",
        "tsudp://",
        "tsudp://9000",
        "tsudp://:0",
        "tsudp://:99999",
        "tsudp://host.example:9000",
        "tsudp://[ff02::1:5000",
        "tsudp://[nope]:5000",
        "tsudp://:port",
    ] {
        assert!(p(bad).is_err(), "{bad}");
    }
}

#[test]
fn plain_and_rtp_datagrams() {
    let ts = [0x47u8, 0x40, 0x00, 0x10];
    assert_eq!(ts_payload(&ts), Some(&ts[..]));
    // RTP v2, payload type 33, no CSRC: the TS after 12 bytes.
    let mut rtp = vec![0x80, 33, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    rtp.extend_from_slice(&ts);
    assert_eq!(ts_payload(&rtp), Some(&ts[..]));
    // Two CSRCs, an extension of one word, two bytes of padding.
    let mut rich = vec![0xB2, 33, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    rich.extend_from_slice(&[0; 8]);
    rich.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]);
    rich.extend_from_slice(&ts);
    rich.extend_from_slice(&[0, 2]);
    assert_eq!(ts_payload(&rich), Some(&ts[..]));
    // Not TS: noise, RTP with another payload, truncated headers, padding past the end.
    for bad in [
        &[][..],
        &[0x12, 0x47][..],
        &[0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x11][..],
        &[0x80, 33, 0][..],
        &[0x90, 33, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE][..],
        &[0xA0, 33, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x47, 200][..],
    ] {
        assert_eq!(ts_payload(bad), None, "{bad:?}");
    }
}

#[test]
fn random_datagrams_never_panic() {
    let mut x = 0x1234_5678_9abc_def0u64;
    for len in 0..2000usize {
        let d: Vec<u8> = (0..len % 64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let _ = ts_payload(&d);
        let s = String::from_utf8_lossy(&d);
        let _ = parse(&format!("tsudp://{s}"));
    }
}
