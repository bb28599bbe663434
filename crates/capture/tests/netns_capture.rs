//! Root-only: a real veth between two network namespaces, captured on both ends.
//!
//! Checks what the netns lab relies on: frames sent and received appear exactly once, the
//! 802.1Q tag stripped by the receiving kernel is back in the file, timestamps come from the
//! kernel and are sane, raw sockets send and receive whole tagged frames, and (when tshark is
//! installed) Wireshark's reader accepts the file.

#![allow(clippy::unwrap_used)]

use std::net::{SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pc_capture::afpacket;
use pc_capture::frame::{UdpFrame, parse_udp, udp_frame};
use pc_capture::netns::in_netns;
use pc_capture::pcapng::{PcapngWriter, StoredCapture, read_frames};
use pc_capture::rawsock::{AsyncRawSocket, RawSocket};

/// Deletes the namespaces (and with them the veth pair) however the test ends.
struct Lab {
    ns_a: String,
    ns_b: String,
    veth_a: String,
    veth_b: String,
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn setup() -> Lab {
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("pc-capture-netns-{pid}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let lab = Lab {
        ns_a: format!("pct{pid}a"),
        ns_b: format!("pct{pid}b"),
        veth_a: format!("pcv{pid}a"),
        veth_b: format!("pcv{pid}b"),
        dir,
    };
    ip(&["netns", "add", &lab.ns_a]);
    ip(&["netns", "add", &lab.ns_b]);
    ip(&[
        "link",
        "add",
        &lab.veth_a,
        "netns",
        &lab.ns_a,
        "type",
        "veth",
        "peer",
        "name",
        &lab.veth_b,
        "netns",
        &lab.ns_b,
    ]);
    ip(&[
        "-n",
        &lab.ns_a,
        "addr",
        "add",
        "10.250.0.1/24",
        "dev",
        &lab.veth_a,
    ]);
    ip(&[
        "-n",
        &lab.ns_b,
        "addr",
        "add",
        "10.250.0.2/24",
        "dev",
        &lab.veth_b,
    ]);
    ip(&["-n", &lab.ns_a, "link", "set", &lab.veth_a, "up"]);
    ip(&["-n", &lab.ns_b, "link", "set", &lab.veth_b, "up"]);
    ip(&["-n", &lab.ns_a, "link", "set", "lo", "up"]);
    lab
}

fn frames_with_payload<'a>(
    cap: &'a StoredCapture,
    payload: &[u8],
) -> Vec<&'a pc_capture::pcapng::StoredFrame> {
    cap.frames
        .iter()
        .filter(|f| parse_udp(&f.data).is_some_and(|p| p.payload == payload))
        .collect()
}

fn tshark_check(path: &Path) {
    let Ok(out) = Command::new("tshark")
        .args(["-r"])
        .arg(path)
        .args(["-T", "fields", "-e", "vlan.id", "-e", "udp.dstport"])
        .output()
    else {
        eprintln!("tshark not installed: skipped the Wireshark reader check");
        return;
    };
    assert!(
        out.status.success(),
        "tshark rejects {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().filter(|l| l.trim() == "100\t9998").count(),
        1,
        "tshark sees the VLAN 100 frame once in {}:\n{text}",
        path.display()
    );
}

#[test]
fn netns_capture_records_every_frame_once_with_vlan_tags() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: needs root");
        return;
    }
    let lab = setup();
    let before = SystemTime::now();

    let path_a = lab.dir.join("a.pcapng");
    let path_b = lab.dir.join("b.pcapng");
    let cap_a = afpacket::start_in_netns(
        &lab.ns_a,
        &lab.veth_a,
        PcapngWriter::create(&path_a, &lab.veth_a, "test: sender side").expect("create a"),
    )
    .expect("capture a");
    let cap_b = afpacket::start_in_netns(
        &lab.ns_b,
        &lab.veth_b,
        PcapngWriter::create(&path_b, &lab.veth_b, "test: receiver side").expect("create b"),
    )
    .expect("capture b");

    let path_lo = lab.dir.join("lo.pcapng");
    let cap_lo = afpacket::start_in_netns(
        &lab.ns_a,
        "lo",
        PcapngWriter::create(&path_lo, "lo", "test: loopback").expect("create lo"),
    )
    .expect("capture lo");

    // Sockets created in their namespaces, used from this thread.
    let receiver = in_netns(&lab.ns_b, || {
        let s = UdpSocket::bind("10.250.0.2:9999")?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(s)
    })
    .expect("receiver in b");
    let sender = in_netns(&lab.ns_a, || UdpSocket::bind("10.250.0.1:0")).expect("sender in a");
    let veth_a = lab.veth_a.clone();
    let raw_a = in_netns(&lab.ns_a, move || RawSocket::open(&veth_a)).expect("raw socket in a");
    let veth_b = lab.veth_b.clone();
    let raw_b = in_netns(&lab.ns_b, move || RawSocket::open(&veth_b)).expect("raw socket in b");
    assert!(raw_a.ifindex() > 0);
    assert_ne!(raw_a.mac(), raw_b.mac());
    assert_eq!(raw_a.mac()[0] & 1, 0, "unicast MAC");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let async_b = rt
        .block_on(async { AsyncRawSocket::new(raw_b) })
        .expect("async raw b");

    let payloads: Vec<Vec<u8>> = (0..3)
        .map(|i| format!("datagram {i}").into_bytes())
        .collect();
    let target: SocketAddrV4 = "10.250.0.2:9999".parse().unwrap();
    let mut got = [0u8; 64];
    for p in &payloads {
        sender.send_to(p, target).expect("send");
        let (n, _) = receiver.recv_from(&mut got).expect("datagram arrives in b");
        assert_eq!(&got[..n], p.as_slice());
    }

    // On a loopback device each sent frame is also received: it must be on file once.
    let lo_pair = in_netns(&lab.ns_a, || {
        let rx = UdpSocket::bind("127.0.0.1:0")?;
        rx.set_read_timeout(Some(Duration::from_secs(5)))?;
        let tx = UdpSocket::bind("127.0.0.1:0")?;
        Ok((rx, tx))
    })
    .expect("loopback sockets in a");
    let lo_payload = b"over loopback".to_vec();
    lo_pair
        .1
        .send_to(&lo_payload, lo_pair.0.local_addr().unwrap())
        .expect("send on lo");
    let (n, _) = lo_pair.0.recv_from(&mut got).expect("loopback datagram");
    assert_eq!(&got[..n], lo_payload.as_slice());
    let stats_lo = cap_lo.stop().expect("stop lo");
    let cap = read_frames(&path_lo).expect("read lo capture");
    assert_eq!(cap.frames.len() as u64, stats_lo.frames_written);
    assert_eq!(
        frames_with_payload(&cap, &lo_payload).len(),
        1,
        "loopback frame once"
    );
    assert_eq!(cap.interfaces, vec!["lo"]);

    // A VLAN-tagged frame sent raw from a: the kernel of b strips the tag on receive.
    let tagged_payload = b"voice vlan frame".to_vec();
    let tagged = udp_frame(&UdpFrame {
        src_mac: raw_a.mac(),
        dst_mac: async_b.get_ref().mac(),
        vlan: Some(100),
        src: "10.250.0.1:5060".parse().unwrap(),
        dst: "10.250.0.2:9998".parse().unwrap(),
        payload: &tagged_payload,
    });
    raw_a.send(&tagged).expect("raw send");
    // The async raw socket of b receives the whole frame, tag re-inserted.
    let received = rt.block_on(async {
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let meta = async_b.recv_frame(&mut buf).await?;
                if parse_udp(&buf).is_some_and(|p| p.payload == tagged_payload) {
                    // The receiving kernel moved the tag to metadata; we put it back.
                    assert!(meta.vlan_reinserted, "tag came from PACKET_AUXDATA");
                    assert!(!meta.outgoing() && !meta.truncated);
                    assert!(
                        meta.timestamp.is_none(),
                        "no SO_TIMESTAMPNS asked on this socket"
                    );
                    return Ok::<_, std::io::Error>(buf.clone());
                }
            }
        })
        .await
    });
    let received = received.expect("tagged frame within 5 s").expect("recv");
    assert_eq!(
        received, tagged,
        "raw socket returns the frame as sent, 802.1Q tag included"
    );

    let stats_a = cap_a.stop().expect("stop a");
    let stats_b = cap_b.stop().expect("stop b");
    let after = SystemTime::now();
    assert_eq!(stats_a.frames_truncated, 0);
    assert_eq!(stats_b.kernel_drops, 0);
    assert_eq!(stats_a.frames_written, stats_a.writer_frames);
    assert_eq!(stats_b.frames_written, stats_b.writer_frames);

    let lo = before.duration_since(UNIX_EPOCH).unwrap();
    let hi = after.duration_since(UNIX_EPOCH).unwrap();
    for (name, path, stats) in [("a", &path_a, stats_a), ("b", &path_b, stats_b)] {
        let cap = read_frames(path).expect("read capture");
        assert_eq!(cap.frames.len() as u64, stats.frames_written, "side {name}");
        for p in &payloads {
            let hits = frames_with_payload(&cap, p);
            assert_eq!(
                hits.len(),
                1,
                "side {name}: {:?} captured exactly once",
                String::from_utf8_lossy(p)
            );
            let f = parse_udp(&hits[0].data).unwrap();
            assert_eq!(f.vlan, None);
            assert_eq!(f.dst, target);
        }
        let tagged_hits = frames_with_payload(&cap, &tagged_payload);
        assert_eq!(
            tagged_hits.len(),
            1,
            "side {name}: tagged frame exactly once"
        );
        assert_eq!(
            tagged_hits[0].data, tagged,
            "side {name}: frame on file as on the wire"
        );
        assert_eq!(parse_udp(&tagged_hits[0].data).unwrap().vlan, Some(100));
        let mut last = Duration::ZERO;
        for f in &cap.frames {
            assert!(
                f.timestamp >= lo && f.timestamp <= hi,
                "side {name}: kernel timestamp within the test"
            );
            assert!(f.timestamp >= last, "side {name}: timestamps in order");
            last = f.timestamp;
            assert_eq!(f.original_len as usize, f.data.len());
        }
        tshark_check(path);
    }
    drop(lab);
}
