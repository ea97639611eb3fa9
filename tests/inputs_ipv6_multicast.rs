//! TS over UDP to an IPv6 multicast group, across a real link: the test makes a network
//! namespace with a veth pair (`va` ⇄ `vb`), runs Eddy inside it with a stream whose source
//! joins `ff12::e:1` on `vb`, ffmpeg sending the test clip to the group out of `va`, and ffprobe
//! playing the stream's HTTP-FLV. (The loopback interface does not loop IPv6 multicast back, so
//! the IPv4 test's set-up on 127.0.0.1 cannot be used.) Needs `ip netns` (root); without it the
//! test says so and passes.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use common::{eventually, free_port, md5_hex};

/// A network namespace, deleted (with what runs in it) when dropped.
struct Namespace {
    name: String,
    children: Vec<Child>,
}

impl Namespace {
    fn create(name: &str) -> Option<Namespace> {
        let _ = Command::new("ip").args(["netns", "del", name]).status();
        let made = Command::new("ip")
            .args(["netns", "add", name])
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success();
        made.then(|| Namespace {
            name: name.to_string(),
            children: Vec::new(),
        })
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    fn sh(&self, script: &str) {
        let out = self.command("sh").args(["-c", script]).output().unwrap();
        assert!(out.status.success(), "{script}: {out:?}");
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn ts_over_udp_to_an_ipv6_multicast_group() {
    let name = format!("eddy-mc6-{}", std::process::id());
    let Some(mut ns) = Namespace::create(&name) else {
        eprintln!("SKIPPED: `ip netns add` is not allowed here (run as root)");
        return;
    };
    ns.sh(
        "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 && \
         ip link set lo up && ip link add va type veth peer name vb && \
         ip link set va up && ip link set vb up",
    );
    let dir = tempfile::tempdir().unwrap();
    let (api, http, udp) = (free_port(), free_port(), free_port());
    let config = json!({
        "account": {"test": {"password": md5_hex("test")}},
        "config": {"protocols": [
            {"connector": "HTTP", "port": http, "interface": "127.0.0.1"},
            {"connector": "FLV"}
        ]},
        "streams": {"mc6": {"source": format!("tsudp://[ff12::e:1]:{udp}/vb"), "always_on": true}}
    });
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let eddy = ns
        .command(env!("CARGO_BIN_EXE_eddy"))
        .current_dir(dir.path())
        .args([
            "-c",
            "config.json",
            "-p",
            &api.to_string(),
            "-i",
            "127.0.0.1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    ns.children.push(eddy);
    let stderr = || std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(10), || stderr()
            .contains("TS over UDP: listening on ff12::e:1")),
        "{}",
        stderr()
    );
    let clip = common::media::h264_clip().to_string_lossy().to_string();
    let target = format!("udp://[ff12::e:1%va]:{udp}?pkt_size=1316");
    let sender = ns
        .command("ffmpeg")
        .args(["-v", "error", "-re", "-stream_loop", "-1", "-i", &clip])
        .args(["-c", "copy", "-f", "mpegts", &target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ns.children.push(sender);
    let url = format!("http://127.0.0.1:{http}/mc6.flv");
    let probe = ns
        .command("ffprobe")
        .args(["-v", "error", "-rw_timeout", "15000000", "-show_entries"])
        .args(["stream=codec_name", "-of", "csv=p=0", &url])
        .output()
        .unwrap();
    let mut codecs: Vec<String> = String::from_utf8_lossy(&probe.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    codecs.sort();
    assert_eq!(
        codecs,
        ["aac", "h264"],
        "{} {}",
        String::from_utf8_lossy(&probe.stderr),
        stderr()
    );
}
