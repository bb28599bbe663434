//! BOOT-003 end to end: the reference phone behind the netns lab's DHCP relay agent. What is
//! checked here is the lab itself — the relay agent, the router, the two captures, the
//! teardown — which the scenario's checks leave alone because none of it depends on the phone.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::common::*;

const GIADDR: Ipv4Addr = Ipv4Addr::new(10, 66, 1, 1);

/// Every DHCP message in a capture: (source IP, destination IP, walked message).
fn dhcp_in(path: &Path) -> Vec<(Ipv4Addr, Ipv4Addr, pc_dhcp::RawMessage)> {
    read_pcapng(path)
        .iter()
        .filter_map(|f| pc_capture::frame::parse_udp(f))
        .filter(|u| [67, 68].contains(&u.dst.port()))
        .filter_map(|u| {
            let m = pc_dhcp::wire::walk(&u.payload).ok()?;
            Some((*u.src.ip(), *u.dst.ip(), m))
        })
        .collect()
}

fn circuit_id(m: &pc_dhcp::RawMessage) -> Option<Vec<u8>> {
    let info = m.concatenated(82)?;
    let (code, rest) = info.split_first()?;
    let (len, rest) = rest.split_first()?;
    (*code == 1).then(|| rest.get(..usize::from(*len)).unwrap_or_default().to_vec())
}

#[test]
fn behind_the_relay_both_links_are_captured_and_nothing_is_left_behind() {
    if skip_unless_root(
        "behind_the_relay_both_links_are_captured_and_nothing_is_left_behind",
        "network namespaces",
    ) {
        return;
    }
    let scratch = Scratch::new("relay-netns");
    let out_dir = scratch.0.to_str().expect("utf-8 path");
    let (out, pid) = phonecert_with_pid(&[
        "run",
        "scenarios/boot/behind-a-relay.toml",
        "--lab",
        "netns",
        "--out",
        out_dir,
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let left = namespaces_of(pid);
    assert!(left.is_empty(), "namespaces left behind: {left:?}");

    let run = run_dir(&scratch.0);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
            .expect("json");
    let sc = &report["scenarios"][0];
    let root = run.join("../..");
    let server_link = root.join(sc["capture"].as_str().expect("capture"));
    let phone_link = root.join(sc["link_captures"][0].as_str().expect("the phone's link"));
    assert!(
        phone_link.ends_with("BOOT-003.phone-link.pcapng"),
        "{}",
        phone_link.display()
    );
    let compliance = std::fs::read_to_string(run.join("compliance.json")).expect("compliance");
    assert!(
        compliance.contains("BOOT-003.phone-link.pcapng"),
        "the phone's link is hashed as evidence"
    );

    // The server link: requests relayed with our giaddr, one hop and option 82; replies to
    // the relay agent with option 82 echoed; the renewal routed from the phone itself.
    let server = dhcp_in(&server_link);
    let relayed: Vec<_> = server.iter().filter(|(_, _, m)| m.header.op == 1).collect();
    assert!(
        relayed.len() >= 3,
        "DISCOVER, REQUEST, renewal: {}",
        relayed.len()
    );
    for (src, dst, m) in relayed
        .iter()
        .filter(|(_, _, m)| m.header.ciaddr.is_unspecified())
    {
        assert_eq!(m.header.giaddr, GIADDR);
        assert_eq!(m.header.hops, 1);
        assert_eq!(circuit_id(m).as_deref(), Some(&b"Gi1/0/7"[..]));
        assert_eq!(
            (*src, *dst),
            (Ipv4Addr::new(10, 66, 0, 2), Ipv4Addr::new(10, 66, 0, 1))
        );
    }
    let renewal = relayed
        .iter()
        .find(|(_, _, m)| !m.header.ciaddr.is_unspecified())
        .expect("the renewal on the server link");
    assert_eq!(
        renewal.0, renewal.2.header.ciaddr,
        "sent by the phone, routed"
    );
    assert!(renewal.2.header.giaddr.is_unspecified());
    assert!(
        server
            .iter()
            .any(|(_, dst, m)| m.header.op == 2 && *dst == GIADDR && circuit_id(m).is_some()),
        "a reply to the relay agent with option 82 echoed"
    );

    // The phone's link: what the phone sent is untouched (no giaddr, no option 82); what it
    // was handed comes from the relay agent's address, without option 82.
    let phone = dhcp_in(&phone_link);
    let from_relay: Vec<_> = phone
        .iter()
        .filter(|(src, _, m)| m.header.op == 2 && *src == GIADDR)
        .collect();
    assert!(from_relay.len() >= 2, "OFFER and ACK from the relay agent");
    for (_, dst, m) in &from_relay {
        assert_eq!(m.count(82), 0, "option 82 reached the phone");
        assert_eq!(
            *dst, m.header.yiaddr,
            "unicast to yiaddr (no broadcast bit)"
        );
        assert!(dst.octets()[..3] == [10, 66, 1], "{dst}");
    }
    for (_, _, m) in phone.iter().filter(|(_, _, m)| m.header.op == 1) {
        assert_eq!(m.count(82), 0);
        assert!(m.header.giaddr.is_unspecified());
    }
}

#[test]
fn a_relayed_scenario_is_skipped_on_loopback_saying_it_needs_netns() {
    let scratch = Scratch::new("relay-loopback");
    let out_dir = scratch.0.to_str().expect("utf-8 path");
    let out = phonecert(&[
        "run",
        "scenarios/boot/behind-a-relay.toml",
        "--lab",
        "loopback",
        "--out",
        out_dir,
    ]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("needs the netns lab") && stdout.contains("DHCP relay agent"),
        "{stdout}"
    );
    assert!(stdout.contains("1 skipped"), "{stdout}");
}
