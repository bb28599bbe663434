//! Tests of the server core: golden replies, the DHCP exchanges of RFC 2131 §3 driven through
//! `handle()` with simulated time, and properties over arbitrary input.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::fit::FitOutcome;
use dhcproto::v4::{self, DhcpOption, Flags, Message, OptionCode};
use dhcproto::{Decodable, Encodable};
use proptest::prelude::*;

const MAC: [u8; 6] = [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a];
const OTHER_MAC: [u8; 6] = [0x00, 0x1b, 0x4f, 0x00, 0x00, 0x01];
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

fn config() -> ServerConfig {
    ServerConfig {
        server_ip: SERVER,
        subnet_mask: Ipv4Addr::new(255, 255, 255, 0),
        router: Some(Ipv4Addr::new(10, 0, 0, 254)),
        dns: vec![Ipv4Addr::new(10, 0, 0, 53)],
        pool_start: Ipv4Addr::new(10, 0, 0, 100),
        pool_end: Ipv4Addr::new(10, 0, 0, 102),
        lease_time: Some(3600),
        sson: 242,
        site_string: Some(b"HTTPSRVR=10.0.0.1".to_vec()),
        siaddr: None,
        extra_options: Vec::new(),
        allowed_macs: Vec::new(),
        rules: Vec::new(),
        omit_options: Vec::new(),
        option_order: None,
        max_size_policy: MaxSizePolicy::Fit,
        relay_subnets: vec![RelaySubnet {
            network: Ipv4Addr::new(10, 9, 0, 0),
            mask: Ipv4Addr::new(255, 255, 255, 0),
            router: Some(RELAY),
            pool_start: Ipv4Addr::new(10, 9, 0, 100),
            pool_end: Ipv4Addr::new(10, 9, 0, 109),
        }],
    }
}

/// The relay agent of the fixture's relayed subnet, 10.9.0.0/24.
const RELAY: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);

/// A client message as a 9600 phone sends it (no broadcast flag), built with dhcproto.
fn client_msg(
    mac: [u8; 6],
    xid: u32,
    ty: v4::MessageType,
    ciaddr: Ipv4Addr,
    extra: Vec<DhcpOption>,
) -> Vec<u8> {
    let mut m = Message::new_with_id(xid, ciaddr, ANY, ANY, ANY, &mac);
    m.opts_mut().insert(DhcpOption::MessageType(ty));
    for o in extra {
        m.opts_mut().insert(o);
    }
    m.to_vec().unwrap()
}

fn discover(mac: [u8; 6], xid: u32) -> Vec<u8> {
    client_msg(
        mac,
        xid,
        v4::MessageType::Discover,
        ANY,
        vec![
            DhcpOption::Hostname("AVXB27312".into()),
            DhcpOption::ParameterRequestList(vec![
                OptionCode::SubnetMask,
                OptionCode::Router,
                OptionCode::DomainNameServer,
                OptionCode::Unknown(242),
            ]),
        ],
    )
}

fn select(mac: [u8; 6], xid: u32, sid: Ipv4Addr, ip: Ipv4Addr) -> Vec<u8> {
    client_msg(
        mac,
        xid,
        v4::MessageType::Request,
        ANY,
        vec![
            DhcpOption::ServerIdentifier(sid),
            DhcpOption::RequestedIpAddress(ip),
        ],
    )
}

fn sends(out: &[Output]) -> Vec<&Reply> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(r) => Some(r),
            Output::Event(_) => None,
        })
        .collect()
}

fn events(out: &[Output]) -> Vec<&Event> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            Output::Send(_) => None,
        })
        .collect()
}

fn only_reply(out: &[Output]) -> (Reply, RawMessage) {
    let s = sends(out);
    assert_eq!(s.len(), 1, "expected one reply in {out:?}");
    (s[0].clone(), wire::walk(&s[0].bytes).unwrap())
}

fn msg_type(m: &RawMessage) -> u8 {
    m.concatenated(53).unwrap()[0]
}

/// The fixture without router and dns, so the golden replies are short enough to be padded.
fn golden_config() -> ServerConfig {
    ServerConfig {
        router: None,
        dns: Vec::new(),
        ..config()
    }
}

/// The OFFER `golden_config()` makes to the DISCOVER above, byte by byte.
fn golden_offer() -> Vec<u8> {
    let mut b = vec![
        2, 1, 6, 0, // op=BOOTREPLY, htype=ethernet, hlen=6, hops=0
        0x12, 0x34, 0x56, 0x78, // xid
        0, 0, // secs
        0, 0, // flags: no broadcast (copied from the request)
        0, 0, 0, 0, // ciaddr
        10, 0, 0, 100, // yiaddr: first pool address
        0, 0, 0, 0, // siaddr: not configured
        0, 0, 0, 0, // giaddr
        0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a, // chaddr
    ];
    b.extend_from_slice(&[0; 10]); // rest of chaddr
    b.extend_from_slice(&[0; 64]); // sname
    b.extend_from_slice(&[0; 128]); // file
    assert_eq!(b.len(), 236);
    b.extend_from_slice(&[99, 130, 83, 99]); // magic cookie
    b.extend_from_slice(&[53, 1, 2]); // OFFER
    b.extend_from_slice(&[54, 4, 10, 0, 0, 1]); // server id
    b.extend_from_slice(&[51, 4, 0, 0, 0x0e, 0x10]); // lease 3600
    b.extend_from_slice(&[58, 4, 0, 0, 0x07, 0x08]); // T1 1800
    b.extend_from_slice(&[59, 4, 0, 0, 0x0c, 0x4e]); // T2 3150
    b.extend_from_slice(&[1, 4, 255, 255, 255, 0]); // subnet mask; no router, no dns
    b.extend_from_slice(&[242, 17]);
    b.extend_from_slice(b"HTTPSRVR=10.0.0.1");
    b.push(255);
    assert_eq!(b.len(), 293);
    b.extend_from_slice(&[0; 7]); // pad to the BOOTP minimum of 300, RFC 1542 §3.1.1
    b
}

#[test]
fn golden_offer_bytes() {
    let mut s = DhcpServer::new(golden_config());
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 0x1234_5678));
    let (reply, _) = only_reply(&out);
    assert_eq!(reply.bytes, golden_offer());
    assert_eq!(
        reply.dest,
        ReplyDest::UnicastMac {
            mac: MAC,
            ip: Ipv4Addr::new(10, 0, 0, 100)
        }
    );
    assert_eq!(reply.chaddr, MAC);
}

#[test]
fn golden_ack_bytes() {
    let mut s = DhcpServer::new(golden_config());
    s.handle(Duration::ZERO, ANY, None, &discover(MAC, 0x1234_5678));
    let out = s.handle(
        Duration::from_secs(1),
        ANY,
        None,
        &select(MAC, 0x1234_5678, SERVER, Ipv4Addr::new(10, 0, 0, 100)),
    );
    let (reply, _) = only_reply(&out);
    let mut expected = golden_offer();
    expected[242] = 5; // the only difference: option 53 says ACK
    assert_eq!(reply.bytes, expected);
}

#[test]
fn replies_decode_with_a_standard_parser() {
    let mut s = DhcpServer::new(config());
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 7));
    let (reply, _) = only_reply(&out);
    let m = Message::from_bytes(&reply.bytes).unwrap();
    assert_eq!(m.opts().msg_type(), Some(v4::MessageType::Offer));
    assert_eq!(m.yiaddr(), Ipv4Addr::new(10, 0, 0, 100));
    assert_eq!(
        m.opts().get(OptionCode::AddressLeaseTime),
        Some(&DhcpOption::AddressLeaseTime(3600))
    );
}

#[test]
fn full_dora_then_renew_unicast() {
    let mut s = DhcpServer::new(config());
    let out = s.handle(Duration::ZERO, ANY, Some(20), &discover(MAC, 1));
    let ev = events(&out);
    match ev[0] {
        Event::Received {
            msg_type,
            client_mac,
            hostname,
            parameter_request_list,
            vlan,
            broadcast_flag,
            findings,
            options,
            ..
        } => {
            assert_eq!(msg_type, "DISCOVER");
            assert_eq!(client_mac, "00:1b:4f:27:31:2a");
            assert_eq!(hostname.as_deref(), Some("AVXB27312"));
            assert_eq!(parameter_request_list, &vec![1, 3, 6, 242]);
            assert_eq!(*vlan, Some(20));
            assert!(!broadcast_flag);
            assert!(findings.is_empty(), "{findings:?}");
            // dhcproto, which built this request, writes options sorted by code.
            let codes: Vec<u8> = options.iter().map(|o| o.code).collect();
            assert_eq!(codes, vec![12, 53, 55]);
        }
        other => panic!("expected received, got {other:?}"),
    }
    let (offer, m) = only_reply(&out);
    assert_eq!(msg_type(&m), 2);
    let ip = m.header.yiaddr;
    assert!(matches!(offer.dest, ReplyDest::UnicastMac { .. }));
    assert_eq!(
        s.lease(&MAC).map(|l| (l.ip, l.state)),
        Some((ip, LeaseState::Offered))
    );
    match ev[1] {
        Event::Sent {
            msg_type,
            site_option,
            lease_time,
            dest,
            yiaddr,
            ..
        } => {
            assert_eq!(msg_type, "OFFER");
            assert_eq!(site_option.as_deref(), Some("HTTPSRVR=10.0.0.1"));
            assert_eq!(*lease_time, Some(3600));
            assert_eq!(dest, "unicast");
            assert_eq!(yiaddr, "10.0.0.100");
        }
        other => panic!("expected sent, got {other:?}"),
    }

    let out = s.handle(
        Duration::from_secs(1),
        ANY,
        None,
        &select(MAC, 1, SERVER, ip),
    );
    let (_, ack) = only_reply(&out);
    assert_eq!(msg_type(&ack), 5);
    assert_eq!(ack.header.yiaddr, ip);
    assert_eq!(
        s.lease(&MAC).map(|l| l.state),
        Some(LeaseState::Bound {
            expires: Some(Duration::from_secs(3601))
        })
    );

    // Renewing at T1: unicast from the client's address, ciaddr set, no 50/54.
    let renew = client_msg(MAC, 2, v4::MessageType::Request, ip, vec![]);
    let out = s.handle(Duration::from_secs(1801), ip, None, &renew);
    let (reply, ack) = only_reply(&out);
    assert_eq!(msg_type(&ack), 5);
    assert_eq!(reply.dest, ReplyDest::UnicastIp(ip));
    assert_eq!(ack.header.ciaddr, ip);
    assert_eq!(ack.header.yiaddr, ip);
    assert_eq!(
        s.lease(&MAC).map(|l| l.state),
        Some(LeaseState::Bound {
            expires: Some(Duration::from_secs(1801 + 3600))
        })
    );
}

#[test]
fn same_mac_gets_the_same_address() {
    let mut s = DhcpServer::new(config());
    let first = only_reply(&s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1)))
        .1
        .header
        .yiaddr;
    let other = only_reply(&s.handle(Duration::ZERO, ANY, None, &discover(OTHER_MAC, 2)))
        .1
        .header
        .yiaddr;
    let again = only_reply(&s.handle(Duration::from_secs(5), ANY, None, &discover(MAC, 3)))
        .1
        .header
        .yiaddr;
    assert_eq!(first, again);
    assert_ne!(first, other);
}

#[test]
fn wrong_requested_ip_gets_nak_broadcast() {
    let mut s = DhcpServer::new(config());
    s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
    let out = s.handle(
        Duration::ZERO,
        ANY,
        None,
        &select(MAC, 1, SERVER, Ipv4Addr::new(10, 0, 0, 101)),
    );
    let (reply, nak) = only_reply(&out);
    assert_eq!(msg_type(&nak), 6);
    assert_eq!(reply.dest, ReplyDest::BroadcastMac);
    assert_eq!(nak.header.yiaddr, ANY);
    let codes: Vec<u8> = nak.options.iter().map(|o| o.code).collect();
    assert_eq!(codes, vec![53, 54, 56]);
    assert!(
        String::from_utf8_lossy(&nak.concatenated(56).unwrap()).contains("10.0.0.101"),
        "nak message names the address"
    );
    assert!(matches!(events(&out)[1], Event::Sent { msg_type, dest, .. }
        if msg_type == "NAK" && dest == "broadcast"));

    // Init-reboot for an address we never gave this client: authoritative NAK.
    let reboot = client_msg(
        OTHER_MAC,
        9,
        v4::MessageType::Request,
        ANY,
        vec![DhcpOption::RequestedIpAddress(Ipv4Addr::new(192, 0, 2, 7))],
    );
    let (_, nak) = only_reply(&s.handle(Duration::ZERO, ANY, None, &reboot));
    assert_eq!(msg_type(&nak), 6);

    // Renewing an address that is not ours for this MAC: NAK, broadcast (RFC 2131 §4.1).
    let renew = client_msg(
        MAC,
        10,
        v4::MessageType::Request,
        Ipv4Addr::new(10, 0, 0, 102),
        vec![],
    );
    let (reply, nak) = only_reply(&s.handle(Duration::ZERO, ANY, None, &renew));
    assert_eq!(msg_type(&nak), 6);
    assert_eq!(reply.dest, ReplyDest::BroadcastMac);
}

#[test]
fn init_reboot_for_held_address_is_acked() {
    let mut s = DhcpServer::new(config());
    let ip = only_reply(&s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1)))
        .1
        .header
        .yiaddr;
    s.handle(Duration::ZERO, ANY, None, &select(MAC, 1, SERVER, ip));
    let reboot = client_msg(
        MAC,
        2,
        v4::MessageType::Request,
        ANY,
        vec![DhcpOption::RequestedIpAddress(ip)],
    );
    let (reply, ack) = only_reply(&s.handle(Duration::from_secs(9), ANY, None, &reboot));
    assert_eq!(msg_type(&ack), 5);
    assert_eq!(reply.dest, ReplyDest::UnicastMac { mac: MAC, ip });
}

#[test]
fn request_for_another_server_frees_our_offer() {
    let mut s = DhcpServer::new(config());
    let ip = only_reply(&s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1)))
        .1
        .header
        .yiaddr;
    let out = s.handle(
        Duration::ZERO,
        ANY,
        None,
        &select(MAC, 1, Ipv4Addr::new(10, 0, 0, 2), ip),
    );
    assert!(sends(&out).is_empty());
    assert!(matches!(events(&out)[1], Event::Ignored { reason, .. }
        if reason.contains("another server")));
    assert_eq!(s.lease(&MAC).map(|l| l.state), Some(LeaseState::Released));
}

#[test]
fn not_allowed_mac_is_ignored_without_reply() {
    let mut s = DhcpServer::new(ServerConfig {
        allowed_macs: vec![OTHER_MAC],
        ..config()
    });
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
    assert_eq!(
        out,
        vec![Output::Event(Event::Ignored {
            client_mac: Some("00:1b:4f:27:31:2a".into()),
            reason: "client mac is not in the allowed list".into(),
        })]
    );
    assert!(s.lease(&MAC).is_none());
    let out = s.handle(Duration::ZERO, ANY, None, &discover(OTHER_MAC, 1));
    assert_eq!(sends(&out).len(), 1);
}

#[test]
fn long_site_string_is_split_per_rfc3396_and_rejoins() {
    let site: Vec<u8> = (0..300).map(|i| b"HTTPSRVR=10.0.0.1,"[i % 18]).collect();
    let mut s = DhcpServer::new(ServerConfig {
        site_string: Some(site.clone()),
        extra_options: vec![(43, vec![1, 4, b'6', b'8', b'8', b'9'])],
        ..config()
    });
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
    let (_, m) = only_reply(&out);
    let pieces: Vec<(u8, u8)> = m
        .options
        .iter()
        .filter(|o| o.code == 242)
        .map(|o| (o.code, o.len))
        .collect();
    assert_eq!(pieces, vec![(242, 255), (242, 45)]);
    // The pieces are consecutive and followed by the extra option.
    let codes: Vec<u8> = m.options.iter().map(|o| o.code).collect();
    assert_eq!(codes, vec![53, 54, 51, 58, 59, 1, 3, 6, 242, 242, 43]);
    assert_eq!(m.concatenated(242), Some(site.clone()));
    match events(&out)[1] {
        Event::Sent { site_option, .. } => {
            assert_eq!(
                site_option.as_deref(),
                Some(&*String::from_utf8_lossy(&site))
            );
        }
        other => panic!("expected sent, got {other:?}"),
    }
}

/// A DISCOVER stating a maximum message size (option 57) and asking for 1, 3 and 242.
fn discover_max(mac: [u8; 6], xid: u32, max: u16) -> Vec<u8> {
    client_msg(
        mac,
        xid,
        v4::MessageType::Discover,
        ANY,
        vec![
            DhcpOption::MaxMessageSize(max),
            DhcpOption::ParameterRequestList(vec![
                OptionCode::SubnetMask,
                OptionCode::Router,
                OptionCode::Unknown(242),
            ]),
        ],
    )
}

/// A 300-byte site string and an unrequested option 43: 632 bytes as built.
fn long_reply_config(policy: MaxSizePolicy) -> ServerConfig {
    ServerConfig {
        site_string: Some(vec![b'p'; 300]),
        extra_options: vec![(43, vec![b'o'; 40])],
        max_size_policy: policy,
        ..config()
    }
}

#[test]
fn option_57_fits_the_offer_and_says_how() {
    let mut s = DhcpServer::new(long_reply_config(MaxSizePolicy::Fit));
    let out = s.handle(Duration::ZERO, ANY, None, &discover_max(MAC, 1, 576));
    match &events(&out)[0] {
        Event::Received {
            max_message_size, ..
        } => assert_eq!(*max_message_size, Some(576)),
        other => panic!("expected received, got {other:?}"),
    }
    let (reply, m) = only_reply(&out);
    assert!(reply.bytes.len() <= 548, "{}", reply.bytes.len());
    // What was asked for arrives whole (option 52 and RFC 3396); option 6 and 43 were not.
    assert_eq!(m.concatenated(242), Some(vec![b'p'; 300]));
    assert!(m.concatenated(43).is_none() && m.concatenated(6).is_none());
    assert_eq!(m.concatenated(51), Some(3600u32.to_be_bytes().to_vec()));
    match sent(&out) {
        Event::Sent {
            max_size: Some(f), ..
        } => {
            assert_eq!(f.outcome, FitOutcome::Fitted);
            assert_eq!(f.full_len, 632);
            assert_eq!(f.sent_len, reply.bytes.len());
            assert_eq!(f.dropped, vec![6, 43]);
            assert_eq!(f.overload, Some(1));
        }
        other => panic!("expected a fitted sent event, got {other:?}"),
    }
    // The ACK is fitted the same way.
    let out = s.handle(
        Duration::from_secs(1),
        ANY,
        None,
        &select(MAC, 1, SERVER, Ipv4Addr::new(10, 0, 0, 100)),
    );
    let (_, m) = only_reply(&out);
    assert_eq!(msg_type(&m), 5);
}

#[test]
fn option_57_report_records_the_excess_and_cuts_the_tail() {
    let mut s = DhcpServer::new(long_reply_config(MaxSizePolicy::Report));
    let out = s.handle(Duration::ZERO, ANY, None, &discover_max(MAC, 1, 576));
    let (reply, m) = only_reply(&out);
    assert!(reply.bytes.len() <= 548);
    assert!(m.concatenated(242).is_none());
    match sent(&out) {
        Event::Sent {
            max_size: Some(f), ..
        } => {
            assert_eq!(f.outcome, FitOutcome::Exceeds);
            assert_eq!(f.dropped, vec![43, 242]);
            assert_eq!(f.overload, None);
        }
        other => panic!("expected a sent event that exceeds, got {other:?}"),
    }
}

#[test]
fn without_option_57_or_with_room_the_reply_is_as_built() {
    let mut s = DhcpServer::new(long_reply_config(MaxSizePolicy::Fit));
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
    let (reply, _) = only_reply(&out);
    assert_eq!(reply.bytes.len(), 632);
    assert!(matches!(sent(&out), Event::Sent { max_size: None, .. }));
    let out = s.handle(Duration::ZERO, ANY, None, &discover_max(OTHER_MAC, 2, 1500));
    let (reply, _) = only_reply(&out);
    assert_eq!(reply.bytes.len(), 632);
    match sent(&out) {
        Event::Sent {
            max_size: Some(f), ..
        } => assert_eq!((f.outcome, f.limit), (FitOutcome::Fits, 1472)),
        other => panic!("expected a sent event that fits, got {other:?}"),
    }
}

#[test]
fn lease_time_none_omits_51_58_59() {
    let mut s = DhcpServer::new(ServerConfig {
        lease_time: None,
        ..config()
    });
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
    let (_, m) = only_reply(&out);
    let codes: Vec<u8> = m.options.iter().map(|o| o.code).collect();
    assert_eq!(codes, vec![53, 54, 1, 3, 6, 242]);
    assert!(matches!(
        events(&out)[1],
        Event::Sent {
            lease_time: None,
            ..
        }
    ));
    let ip = m.header.yiaddr;
    s.handle(Duration::ZERO, ANY, None, &select(MAC, 1, SERVER, ip));
    assert_eq!(
        s.lease(&MAC).map(|l| l.state),
        Some(LeaseState::Bound { expires: None })
    );
}

#[test]
fn infinite_lease_has_no_t1_t2() {
    let mut s = DhcpServer::new(ServerConfig {
        lease_time: Some(INFINITE_LEASE),
        ..config()
    });
    let (_, m) = only_reply(&s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1)));
    assert_eq!(m.concatenated(51), Some(vec![255; 4]));
    assert_eq!(m.count(58) + m.count(59), 0);
}

#[test]
fn broadcast_flag_and_relay_choose_the_destination() {
    let mut s = DhcpServer::new(config());
    let mut m = Message::new_with_id(1, ANY, ANY, ANY, ANY, &MAC);
    m.set_flags(Flags::default().set_broadcast());
    m.opts_mut()
        .insert(DhcpOption::MessageType(v4::MessageType::Discover));
    let (reply, _) = only_reply(&s.handle(Duration::ZERO, ANY, None, &m.to_vec().unwrap()));
    assert_eq!(reply.dest, ReplyDest::BroadcastMac);

    let relay = RELAY;
    let mut m = Message::new_with_id(2, ANY, ANY, ANY, relay, &OTHER_MAC);
    m.opts_mut()
        .insert(DhcpOption::MessageType(v4::MessageType::Discover));
    let (reply, offer) = only_reply(&s.handle(Duration::ZERO, relay, None, &m.to_vec().unwrap()));
    assert_eq!(reply.dest, ReplyDest::Relay(relay));
    assert_eq!(offer.header.giaddr, relay);
}

#[test]
fn release_keeps_the_address_for_the_mac_and_decline_retires_it() {
    let mut s = DhcpServer::new(config());
    let ip = only_reply(&s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1)))
        .1
        .header
        .yiaddr;
    s.handle(Duration::ZERO, ANY, None, &select(MAC, 1, SERVER, ip));
    let release = client_msg(
        MAC,
        2,
        v4::MessageType::Release,
        ip,
        vec![DhcpOption::ServerIdentifier(SERVER)],
    );
    let out = s.handle(Duration::from_secs(5), ip, None, &release);
    assert!(sends(&out).is_empty());
    assert_eq!(events(&out).len(), 1, "only the received event: {out:?}");
    assert_eq!(s.lease(&MAC).map(|l| l.state), Some(LeaseState::Released));
    let again = only_reply(&s.handle(Duration::from_secs(6), ANY, None, &discover(MAC, 3)))
        .1
        .header
        .yiaddr;
    assert_eq!(again, ip);

    let decline = client_msg(
        MAC,
        4,
        v4::MessageType::Decline,
        ANY,
        vec![
            DhcpOption::ServerIdentifier(SERVER),
            DhcpOption::RequestedIpAddress(ip),
        ],
    );
    let out = s.handle(Duration::from_secs(7), ANY, None, &decline);
    assert!(sends(&out).is_empty());
    assert!(s.lease(&MAC).is_none());
    assert_eq!(s.declined().collect::<Vec<_>>(), vec![ip]);
    let next = only_reply(&s.handle(Duration::from_secs(8), ANY, None, &discover(MAC, 5)))
        .1
        .header
        .yiaddr;
    assert_ne!(next, ip);
}

#[test]
fn inform_gets_ack_without_address_or_lease() {
    let mut s = DhcpServer::new(config());
    let ip = Ipv4Addr::new(10, 0, 0, 42);
    let inform = client_msg(MAC, 1, v4::MessageType::Inform, ip, vec![]);
    let (reply, ack) = only_reply(&s.handle(Duration::ZERO, ip, None, &inform));
    assert_eq!(msg_type(&ack), 5);
    assert_eq!(reply.dest, ReplyDest::UnicastIp(ip));
    assert_eq!(ack.header.yiaddr, ANY);
    assert_eq!(ack.header.ciaddr, ip);
    let codes: Vec<u8> = ack.options.iter().map(|o| o.code).collect();
    assert_eq!(codes, vec![53, 54, 1, 3, 6, 242]);
    assert!(s.lease(&MAC).is_none());
}

#[test]
fn pool_exhaustion_then_reclaim_of_a_stale_offer() {
    let mut s = DhcpServer::new(config());
    for i in 0..3u8 {
        let mac = [2, 0, 0, 0, 0, i];
        assert_eq!(
            sends(&s.handle(Duration::ZERO, ANY, None, &discover(mac, 1))).len(),
            1
        );
    }
    let out = s.handle(Duration::from_secs(1), ANY, None, &discover(MAC, 1));
    assert!(sends(&out).is_empty());
    assert!(
        matches!(events(&out)[1], Event::Ignored { reason, .. } if reason.contains("exhausted"))
    );
    // After the offer hold time the first offer may go to someone else.
    let out = s.handle(
        OFFER_HOLD + Duration::from_secs(1),
        ANY,
        None,
        &discover(MAC, 2),
    );
    let (_, m) = only_reply(&out);
    assert_eq!(m.header.yiaddr, Ipv4Addr::new(10, 0, 0, 100));
    assert!(s.lease(&[2, 0, 0, 0, 0, 0]).is_none());
}

#[test]
fn an_address_a_client_gives_up_is_the_lowest_free_again() {
    let mut s = DhcpServer::new(config());
    let first = |out: &[Output]| only_reply(out).1.header.yiaddr;
    // MAC takes .100 on the server's own subnet, OTHER_MAC .101.
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
    assert_eq!(first(&out), Ipv4Addr::new(10, 0, 0, 100));
    let out = s.handle(Duration::ZERO, ANY, None, &discover(OTHER_MAC, 1));
    assert_eq!(first(&out), Ipv4Addr::new(10, 0, 0, 101));
    // MAC moves behind the relay: its row now holds a 10.9.0.x address, .100 is nobody's.
    let d = relayed(MAC, 2, RELAY, vec![(53, vec![1])], None);
    let out = s.handle(Duration::from_secs(1), RELAY, None, &d);
    assert_eq!(first(&out), Ipv4Addr::new(10, 9, 0, 100));
    // The next new client on the own subnet gets .100 back, not .102.
    let third = [2, 0, 0, 0, 0, 3];
    let out = s.handle(Duration::from_secs(2), ANY, None, &discover(third, 1));
    assert_eq!(first(&out), Ipv4Addr::new(10, 0, 0, 100));
}

#[test]
fn thousands_of_clients_in_a_large_pool_get_ascending_addresses() {
    // A floor of phones booting at once: each new client gets the next address, and the
    // choice does not walk the lease table (with a walk, this loop would not end in
    // reasonable time).
    let mut s = DhcpServer::new(ServerConfig {
        subnet_mask: Ipv4Addr::new(255, 255, 0, 0),
        pool_start: Ipv4Addr::new(10, 0, 1, 0),
        pool_end: Ipv4Addr::new(10, 0, 255, 254),
        relay_subnets: Vec::new(),
        ..config()
    });
    for i in 0..20_000u32 {
        let b = i.to_be_bytes();
        let mac = [2, 0, b[0], b[1], b[2], b[3]];
        let out = s.handle(Duration::ZERO, ANY, None, &discover(mac, i));
        let (_, m) = only_reply(&out);
        assert_eq!(
            m.header.yiaddr,
            Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 1, 0)) + i)
        );
    }
}

#[test]
fn discover_asking_for_a_free_address_gets_it() {
    let mut s = DhcpServer::new(config());
    let wanted = Ipv4Addr::new(10, 0, 0, 102);
    let d = client_msg(
        MAC,
        1,
        v4::MessageType::Discover,
        ANY,
        vec![DhcpOption::RequestedIpAddress(wanted)],
    );
    let (_, m) = only_reply(&s.handle(Duration::ZERO, ANY, None, &d));
    assert_eq!(m.header.yiaddr, wanted);
    // Outside the pool: ignored, pool address instead.
    let d = client_msg(
        OTHER_MAC,
        1,
        v4::MessageType::Discover,
        ANY,
        vec![DhcpOption::RequestedIpAddress(Ipv4Addr::new(
            192, 168, 2, 5,
        ))],
    );
    let (_, m) = only_reply(&s.handle(Duration::ZERO, ANY, None, &d));
    assert_eq!(m.header.yiaddr, Ipv4Addr::new(10, 0, 0, 100));
}

#[test]
fn received_event_keeps_wire_order_duplicates_and_findings() {
    let mut h = Header {
        op: 1,
        htype: 1,
        hlen: 6,
        xid: 0xabcd,
        ..Header::default()
    };
    h.chaddr[..6].copy_from_slice(&MAC);
    let bytes = wire::encode(
        &h,
        &[
            (12, b"AV".to_vec()),
            (53, vec![1]),
            (55, vec![1, 242]),
            (12, b"XB".to_vec()),
            (61, vec![1, 0, 0x1b]),
            (60, b"ccp.avaya.com".to_vec()),
        ],
    );
    let mut s = DhcpServer::new(config());
    let out = s.handle(Duration::ZERO, ANY, None, &bytes);
    let Event::Received {
        options,
        hostname,
        findings,
        client_id,
        vendor_class,
        ..
    } = events(&out)[0].clone()
    else {
        panic!("expected received: {out:?}");
    };
    let codes: Vec<u8> = options.iter().map(|o| o.code).collect();
    assert_eq!(codes, vec![12, 53, 55, 12, 61, 60]);
    assert_eq!(hex::encode(&options[0].value), "4156");
    assert_eq!(options[0].len, 2);
    assert_eq!(hostname.as_deref(), Some("AVXB"));
    assert_eq!(client_id.as_deref(), Some("01001b"));
    assert_eq!(vendor_class.as_deref(), Some("ccp.avaya.com"));
    assert_eq!(
        findings,
        vec![Finding::Message(MessageFinding::RepeatedOption {
            option: 12,
            times: 2
        })]
    );
    assert_eq!(sends(&out).len(), 1);

    let json = serde_json::to_value(events(&out)[0]).unwrap();
    assert_eq!(json["kind"], "received");
    assert_eq!(json["msg_type"], "DISCOVER");
    assert_eq!(json["options"][0]["code"], 12);
    assert_eq!(json["parameter_request_list"], serde_json::json!([1, 242]));
    // Findings by name, details beside it.
    assert_eq!(
        json["findings"],
        serde_json::json!([{"code": "repeated_option", "option": 12, "times": 2}])
    );
}

#[test]
fn malformed_and_odd_messages_give_events_not_replies() {
    let mut s = DhcpServer::new(config());
    let from = Ipv4Addr::new(10, 0, 0, 77);
    let out = s.handle(Duration::ZERO, from, None, &[1, 2, 3]);
    assert_eq!(
        out,
        vec![Output::Event(Event::Malformed {
            from: "10.0.0.77".into(),
            len: 3,
            error: "message is 3 bytes, shorter than the 236-byte bootp header".into(),
        })]
    );

    // No option 53: a plain BOOTP request is recorded but not answered.
    let mut h = Header {
        op: 1,
        htype: 1,
        hlen: 6,
        ..Header::default()
    };
    h.chaddr[..6].copy_from_slice(&MAC);
    let out = s.handle(Duration::ZERO, ANY, None, &wire::encode(&h, &[]));
    assert!(sends(&out).is_empty());
    assert!(
        matches!(events(&out)[0], Event::Received { msg_type, findings, .. }
        if msg_type == "NONE" && findings.contains(&Finding::Message(MessageFinding::NoMessageType)))
    );
    assert!(matches!(events(&out)[1], Event::Ignored { .. }));

    // A BOOTREPLY (another server's offer seen on the segment) is ignored.
    h.op = 2;
    let out = s.handle(
        Duration::ZERO,
        ANY,
        None,
        &wire::encode(&h, &[(53, vec![2])]),
    );
    assert!(
        matches!(&out[..], [Output::Event(Event::Ignored { reason, .. })] if reason.contains("op is 2"))
    );

    // An option running past the end is a finding; the message is still answered.
    h.op = 1;
    let mut bytes = wire::encode(&h, &[(53, vec![1])]);
    bytes.truncate(wire::OPTIONS_OFFSET + 3);
    bytes.extend_from_slice(&[12, 40, b'A']);
    let out = s.handle(Duration::ZERO, ANY, None, &bytes);
    assert!(matches!(events(&out)[0], Event::Received { findings, .. }
        if findings.iter().any(|f| matches!(f,
            Finding::Wire(wire::Finding::OptionOverrun { code: 12, declared: 40, .. })))));
    let json = serde_json::to_value(events(&out)[0]).unwrap();
    let overrun = &json["findings"][0];
    assert_eq!(overrun["code"], "option_overrun");
    assert_eq!(overrun["option"], 12);
    assert_eq!(overrun["area"], "options");
    let back: Event = serde_json::from_value(json).unwrap();
    assert_eq!(&back, events(&out)[0]);
    assert_eq!(sends(&out).len(), 1);
}

// Scenario rules and option control.

fn codes(m: &RawMessage) -> Vec<u8> {
    m.options.iter().map(|o| o.code).collect()
}

/// The `sent` event of a handle() result, which must be its last output, right after the
/// reply (the shell relies on that order).
fn sent(out: &[Output]) -> &Event {
    match out {
        [.., Output::Send(_), Output::Event(e @ Event::Sent { .. })] => e,
        other => panic!("expected a reply and its sent event last: {other:?}"),
    }
}

fn sent_rules(out: &[Output]) -> (Vec<Rule>, u64) {
    match sent(out) {
        Event::Sent {
            rules, delay_ms, ..
        } => (rules.clone(), *delay_ms),
        _ => unreachable!(),
    }
}

fn dropped(mac: [u8; 6], xid: u32, msg_type: &str, nth: u32, rule: &Rule) -> Event {
    Event::Dropped {
        xid,
        client_mac: format_mac(&mac),
        msg_type: msg_type.into(),
        nth,
        rule: rule.clone(),
    }
}

fn renew(mac: [u8; 6], xid: u32, ip: Ipv4Addr) -> Vec<u8> {
    client_msg(mac, xid, v4::MessageType::Request, ip, vec![])
}

fn init_reboot(mac: [u8; 6], xid: u32, ip: Ipv4Addr) -> Vec<u8> {
    client_msg(
        mac,
        xid,
        v4::MessageType::Request,
        ANY,
        vec![DhcpOption::RequestedIpAddress(ip)],
    )
}

const OFFERED: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);

#[test]
fn drop_first_two_discovers_then_answer_the_third() {
    let rule = Rule::DropFirst {
        msg_type: MessageType::Discover,
        count: 2,
    };
    let mut s = DhcpServer::new(ServerConfig {
        rules: vec![rule.clone()],
        ..golden_config()
    });
    for nth in 1..=2u32 {
        let out = s.handle(
            Duration::from_secs(nth.into()),
            ANY,
            None,
            &discover(MAC, 0x1234_5678),
        );
        assert!(sends(&out).is_empty(), "discover {nth}: {out:?}");
        let ev = events(&out);
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert!(matches!(ev[0], Event::Received { msg_type, .. } if msg_type == "DISCOVER"));
        assert_eq!(ev[1], &dropped(MAC, 0x1234_5678, "DISCOVER", nth, &rule));
        assert!(
            s.lease(&MAC).is_none(),
            "a dropped discover reserves nothing"
        );
    }
    // The third is answered exactly as without the rule.
    let out = s.handle(
        Duration::from_secs(3),
        ANY,
        None,
        &discover(MAC, 0x1234_5678),
    );
    let (reply, _) = only_reply(&out);
    assert_eq!(reply.bytes, golden_offer());
    assert_eq!(reply.delay, Duration::ZERO);
    assert_eq!(sent_rules(&out), (vec![], 0));

    // The rule is about DISCOVER only: the REQUEST is ACKed at once.
    let out = s.handle(
        Duration::from_secs(4),
        ANY,
        None,
        &select(MAC, 1, SERVER, OFFERED),
    );
    assert_eq!(msg_type(&only_reply(&out).1), 5);

    // Counting is per client: another MAC starts at 1.
    let out = s.handle(Duration::from_secs(5), ANY, None, &discover(OTHER_MAC, 9));
    assert!(sends(&out).is_empty());
    assert_eq!(
        events(&out)[1],
        &dropped(OTHER_MAC, 9, "DISCOVER", 1, &rule)
    );

    let json = serde_json::to_string(events(&out)[1]).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"dropped","xid":9,"client_mac":"00:1b:4f:00:00:01","msg_type":"DISCOVER","nth":1,"rule":{"action":"drop_first","msg_type":"DISCOVER","count":2}}"#
    );
}

#[test]
fn dropped_request_leaves_the_offer_and_the_retransmission_is_acked() {
    let rule = Rule::DropFirst {
        msg_type: MessageType::Request,
        count: 1,
    };
    let mut s = DhcpServer::new(ServerConfig {
        rules: vec![rule.clone()],
        ..config()
    });
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
    assert_eq!(sent_rules(&out), (vec![], 0), "discover is not affected");
    let out = s.handle(
        Duration::from_secs(1),
        ANY,
        None,
        &select(MAC, 1, SERVER, OFFERED),
    );
    assert!(sends(&out).is_empty());
    assert_eq!(events(&out)[1], &dropped(MAC, 1, "REQUEST", 1, &rule));
    assert_eq!(
        s.lease(&MAC).map(|l| (l.state, l.since)),
        Some((LeaseState::Offered, Duration::ZERO))
    );
    let out = s.handle(
        Duration::from_secs(5),
        ANY,
        None,
        &select(MAC, 1, SERVER, OFFERED),
    );
    assert_eq!(msg_type(&only_reply(&out).1), 5);
}

#[test]
fn nak_the_second_request_in_any_state() {
    let rule = Rule::NakRequest { nth: 2 };
    let mut s = DhcpServer::new(ServerConfig {
        rules: vec![rule.clone()],
        ..config()
    });
    s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
    // 1: selecting, ACKed (the DISCOVER before it is not a REQUEST and does not count).
    let out = s.handle(
        Duration::from_secs(1),
        ANY,
        None,
        &select(MAC, 1, SERVER, OFFERED),
    );
    assert_eq!(msg_type(&only_reply(&out).1), 5);
    assert_eq!(sent_rules(&out), (vec![], 0));
    let bound = s.lease(&MAC);

    // Another client's first REQUEST is its own first: ACKed.
    let ip = only_reply(&s.handle(Duration::from_secs(2), ANY, None, &discover(OTHER_MAC, 7)))
        .1
        .header
        .yiaddr;
    let out = s.handle(
        Duration::from_secs(2),
        ANY,
        None,
        &select(OTHER_MAC, 7, SERVER, ip),
    );
    assert_eq!(msg_type(&only_reply(&out).1), 5);

    // 2: renewing, which would be ACKed: NAK, broadcast, the lease table untouched.
    let out = s.handle(
        Duration::from_secs(1801),
        OFFERED,
        None,
        &renew(MAC, 2, OFFERED),
    );
    let (reply, nak) = only_reply(&out);
    assert_eq!(reply.dest, ReplyDest::BroadcastMac);
    assert_eq!(reply.delay, Duration::ZERO);
    assert_eq!(nak.header.yiaddr, ANY);
    let text = b"request 2 from this client is refused by the scenario";
    let mut options = vec![53, 1, 6, 54, 4, 10, 0, 0, 1, 56, text.len() as u8];
    options.extend_from_slice(text);
    options.push(255);
    assert_eq!(
        &reply.bytes[wire::OPTIONS_OFFSET..wire::OPTIONS_OFFSET + options.len()],
        &options[..]
    );
    assert!(
        reply.bytes[wire::OPTIONS_OFFSET + options.len()..]
            .iter()
            .all(|&b| b == 0)
    );
    assert!(matches!(sent(&out), Event::Sent { msg_type, .. } if msg_type == "NAK"));
    assert_eq!(sent_rules(&out), (vec![rule.clone()], 0));
    assert_eq!(s.lease(&MAC), bound);

    // 3: init-reboot, ACKed again.
    let out = s.handle(
        Duration::from_secs(1802),
        ANY,
        None,
        &init_reboot(MAC, 3, OFFERED),
    );
    assert_eq!(msg_type(&only_reply(&out).1), 5);
    assert_eq!(sent_rules(&out), (vec![], 0));

    let json = serde_json::to_value(sent(&out)).unwrap();
    assert_eq!(json["rules"], serde_json::json!([]));
    assert_eq!(json["delay_ms"], 0);
}

#[test]
fn nak_rule_applies_where_the_server_would_have_ignored_or_naked() {
    let rule = Rule::NakRequest { nth: 1 };
    let mut s = DhcpServer::new(ServerConfig {
        rules: vec![rule.clone()],
        ..config()
    });
    // A REQUEST without 50, 54 or ciaddr is normally ignored; as the first it is NAKed.
    let out = s.handle(Duration::ZERO, ANY, None, &renew(MAC, 1, ANY));
    assert_eq!(msg_type(&only_reply(&out).1), 6);
    assert_eq!(sent_rules(&out), (vec![rule], 0));
    let out = s.handle(Duration::ZERO, ANY, None, &renew(MAC, 2, ANY));
    assert!(sends(&out).is_empty());
    assert!(matches!(events(&out)[1], Event::Ignored { .. }));
}

#[test]
fn delay_goes_to_the_shell_with_the_reply() {
    let rule = Rule::Delay {
        msg_type: MessageType::Discover,
        delay: Duration::from_millis(1500),
    };
    let mut s = DhcpServer::new(ServerConfig {
        rules: vec![rule.clone()],
        ..golden_config()
    });
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 0x1234_5678));
    let (reply, _) = only_reply(&out);
    assert_eq!(reply.delay, Duration::from_millis(1500));
    assert_eq!(reply.bytes, golden_offer(), "only the timing changes");
    assert_eq!(sent_rules(&out), (vec![rule.clone()], 1500));
    // The core acts when the message arrives; only the sending waits.
    assert_eq!(s.lease(&MAC).map(|l| l.state), Some(LeaseState::Offered));
    let json = serde_json::to_value(sent(&out)).unwrap();
    assert_eq!(
        json["rules"],
        serde_json::json!([{"action": "delay", "msg_type": "DISCOVER", "delay_ms": 1500}])
    );
    assert_eq!(json["delay_ms"], 1500);

    // Replies to other message types go at once.
    let out = s.handle(
        Duration::from_secs(1),
        ANY,
        None,
        &select(MAC, 0x1234_5678, SERVER, OFFERED),
    );
    assert_eq!(only_reply(&out).0.delay, Duration::ZERO);
    assert_eq!(sent_rules(&out), (vec![], 0));
}

#[test]
fn delays_add_up_and_combine_with_a_nak() {
    let rules = vec![
        Rule::Delay {
            msg_type: MessageType::Request,
            delay: Duration::from_secs(1),
        },
        Rule::NakRequest { nth: 1 },
        Rule::Delay {
            msg_type: MessageType::Discover,
            delay: Duration::from_secs(9),
        },
        Rule::Delay {
            msg_type: MessageType::Request,
            delay: Duration::from_millis(250),
        },
    ];
    let mut s = DhcpServer::new(ServerConfig {
        rules: rules.clone(),
        ..config()
    });
    s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
    let out = s.handle(Duration::ZERO, ANY, None, &select(MAC, 1, SERVER, OFFERED));
    let (reply, nak) = only_reply(&out);
    assert_eq!(msg_type(&nak), 6);
    assert_eq!(reply.delay, Duration::from_millis(1250));
    let shaping = vec![rules[0].clone(), rules[1].clone(), rules[3].clone()];
    assert_eq!(sent_rules(&out), (shaping, 1250));
}

#[test]
fn answer_only_after_t_since_start() {
    let rule = Rule::AnswerAfter {
        after: Duration::from_secs(10),
    };
    let mut s = DhcpServer::new(ServerConfig {
        rules: vec![rule.clone()],
        ..config()
    });
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
    assert!(sends(&out).is_empty());
    assert_eq!(events(&out)[1], &dropped(MAC, 1, "DISCOVER", 1, &rule));
    // Every message type, not only DISCOVER: no NAK for a request we know nothing about.
    let out = s.handle(
        Duration::from_secs(5),
        ANY,
        None,
        &init_reboot(MAC, 2, OFFERED),
    );
    assert!(sends(&out).is_empty());
    assert_eq!(events(&out)[1], &dropped(MAC, 2, "REQUEST", 1, &rule));
    let out = s.handle(Duration::from_millis(9_999), ANY, None, &discover(MAC, 3));
    assert_eq!(events(&out)[1], &dropped(MAC, 3, "DISCOVER", 2, &rule));
    assert!(s.lease(&MAC).is_none());

    let out = s.handle(Duration::from_secs(10), ANY, None, &discover(MAC, 4));
    assert_eq!(msg_type(&only_reply(&out).1), 2);
    assert_eq!(sent_rules(&out), (vec![], 0));
}

#[test]
fn the_first_silencing_rule_in_order_is_the_one_recorded() {
    let first = Rule::DropFirst {
        msg_type: MessageType::Discover,
        count: 1,
    };
    let later = Rule::AnswerAfter {
        after: Duration::from_secs(10),
    };
    let mut s = DhcpServer::new(ServerConfig {
        rules: vec![first.clone(), later.clone()],
        ..config()
    });
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
    assert_eq!(events(&out)[1], &dropped(MAC, 1, "DISCOVER", 1, &first));
    let out = s.handle(Duration::from_secs(1), ANY, None, &discover(MAC, 2));
    assert_eq!(events(&out)[1], &dropped(MAC, 2, "DISCOVER", 2, &later));
}

#[test]
fn omit_51_leaves_everything_else_as_it_was() {
    let mut s = DhcpServer::new(ServerConfig {
        omit_options: vec![51],
        ..golden_config()
    });
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 0x1234_5678));
    let (reply, m) = only_reply(&out);
    // The golden offer with the six bytes of option 51 cut out and the padding grown by six.
    let mut expected = golden_offer();
    let at = wire::OPTIONS_OFFSET + 3 + 6;
    assert_eq!(&expected[at..at + 6], &[51, 4, 0, 0, 0x0e, 0x10]);
    expected.drain(at..at + 6);
    expected.extend_from_slice(&[0; 6]);
    assert_eq!(reply.bytes, expected);
    assert_eq!(reply.bytes.len(), wire::MIN_BOOTP_LEN);
    assert_eq!(codes(&m), vec![53, 54, 58, 59, 1, 242]);
    assert!(matches!(
        sent(&out),
        Event::Sent {
            lease_time: None,
            ..
        }
    ));

    let out = s.handle(
        Duration::from_secs(1),
        ANY,
        None,
        &select(MAC, 0x1234_5678, SERVER, OFFERED),
    );
    let (reply, _) = only_reply(&out);
    expected[wire::OPTIONS_OFFSET + 2] = 5;
    assert_eq!(reply.bytes, expected, "the ACK leaves 51 out too");
    // The server itself still keeps the configured lease.
    assert_eq!(
        s.lease(&MAC).map(|l| l.state),
        Some(LeaseState::Bound {
            expires: Some(Duration::from_secs(3601))
        })
    );
}

#[test]
fn omitting_leaves_extra_options_and_nak_alone_and_still_pads() {
    let mut s = DhcpServer::new(ServerConfig {
        omit_options: vec![54, 51, 58, 59, 1, 3, 6, 242],
        extra_options: vec![(51, vec![0, 0, 0, 60])],
        ..config()
    });
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
    let (reply, m) = only_reply(&out);
    assert_eq!(codes(&m), vec![53, 51]);
    assert_eq!(m.concatenated(51), Some(vec![0, 0, 0, 60]));
    assert_eq!(reply.bytes.len(), wire::MIN_BOOTP_LEN);
    assert!(matches!(
        sent(&out),
        Event::Sent {
            lease_time: Some(60),
            site_option: None,
            ..
        }
    ));
    // NAK keeps 53, 54, 56.
    let out = s.handle(
        Duration::ZERO,
        ANY,
        None,
        &select(MAC, 1, SERVER, Ipv4Addr::new(10, 0, 0, 101)),
    );
    let (_, nak) = only_reply(&out);
    assert_eq!(codes(&nak), vec![53, 54, 56]);
    // INFORM's ACK is an ACK: the same options are left out.
    let ip = Ipv4Addr::new(10, 0, 0, 42);
    let inform = client_msg(OTHER_MAC, 2, v4::MessageType::Inform, ip, vec![]);
    let (_, ack) = only_reply(&s.handle(Duration::ZERO, ip, None, &inform));
    assert_eq!(codes(&ack), vec![53, 51]);
}

#[test]
fn option_order_puts_the_listed_codes_first() {
    let mut s = DhcpServer::new(ServerConfig {
        // 3 is not in this reply (no router): skipped.
        option_order: Some(vec![242, 3, 1, 53]),
        ..golden_config()
    });
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 0x1234_5678));
    let (reply, _) = only_reply(&out);
    let golden = golden_offer();
    let mut expected = golden[..wire::OPTIONS_OFFSET].to_vec();
    expected.extend_from_slice(&[242, 17]);
    expected.extend_from_slice(b"HTTPSRVR=10.0.0.1");
    expected.extend_from_slice(&[1, 4, 255, 255, 255, 0]);
    expected.extend_from_slice(&[53, 1, 2]);
    expected.extend_from_slice(&[54, 4, 10, 0, 0, 1]);
    expected.extend_from_slice(&[51, 4, 0, 0, 0x0e, 0x10]);
    expected.extend_from_slice(&[58, 4, 0, 0, 0x07, 0x08]);
    expected.extend_from_slice(&[59, 4, 0, 0, 0x0c, 0x4e]);
    expected.push(255);
    expected.resize(wire::MIN_BOOTP_LEN, 0);
    assert_eq!(reply.bytes, expected);
    assert_eq!(reply.bytes.len(), golden.len(), "same options, same length");

    // An empty order changes nothing.
    let mut s = DhcpServer::new(ServerConfig {
        option_order: Some(Vec::new()),
        ..golden_config()
    });
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 0x1234_5678));
    assert_eq!(only_reply(&out).0.bytes, golden);
}

#[test]
fn option_order_keeps_split_pieces_together_and_extras_last_and_follows_omit() {
    let site: Vec<u8> = (0..300).map(|i| b"HTTPSRVR=10.0.0.1,"[i % 18]).collect();
    let mut s = DhcpServer::new(ServerConfig {
        site_string: Some(site.clone()),
        extra_options: vec![(43, vec![1, 2]), (53, vec![5])],
        option_order: Some(vec![43, 6, 242, 54, 53]),
        omit_options: vec![54],
        ..config()
    });
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
    let (_, m) = only_reply(&out);
    assert_eq!(
        codes(&m),
        vec![6, 242, 242, 53, 51, 58, 59, 1, 3, 43, 53],
        "43 and the second 53 are extra options: appended as configured"
    );
    assert_eq!(m.concatenated(242), Some(site));
    // NAK is not reordered.
    let out = s.handle(
        Duration::ZERO,
        ANY,
        None,
        &select(MAC, 1, SERVER, Ipv4Addr::new(10, 0, 0, 101)),
    );
    assert_eq!(codes(&only_reply(&out).1), vec![53, 54, 56]);
}

#[test]
fn no_rules_and_no_option_control_is_the_ordinary_server() {
    let d = ServerConfig::default();
    assert!(d.rules.is_empty() && d.omit_options.is_empty() && d.option_order.is_none());
    let mut s = DhcpServer::new(golden_config());
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 0x1234_5678));
    assert_eq!(only_reply(&out).0.delay, Duration::ZERO);
    assert_eq!(sent_rules(&out), (vec![], 0));
}

fn rule_strategy() -> impl Strategy<Value = Rule> {
    let ty = prop_oneof![
        Just(MessageType::Discover),
        Just(MessageType::Request),
        Just(MessageType::Inform),
        any::<u8>().prop_map(MessageType::from_code),
    ];
    prop_oneof![
        (ty.clone(), 0u32..4).prop_map(|(msg_type, count)| Rule::DropFirst { msg_type, count }),
        (0u32..4).prop_map(|nth| Rule::NakRequest { nth }),
        (ty, any::<u64>()).prop_map(|(msg_type, ms)| Rule::Delay {
            msg_type,
            delay: Duration::from_millis(ms),
        }),
        (0u64..100).prop_map(|s| Rule::AnswerAfter {
            after: Duration::from_secs(s),
        }),
    ]
}

fn option_code() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(1u8),
        Just(3),
        Just(6),
        Just(51),
        Just(53),
        Just(54),
        Just(58),
        Just(59),
        Just(242),
        any::<u8>(),
    ]
}

proptest! {
    #[test]
    fn option_control_keeps_replies_well_formed(
        omit in proptest::collection::vec(option_code(), 0..6),
        order in proptest::option::of(proptest::collection::vec(option_code(), 0..8)),
    ) {
        let ordinary = codes(&only_reply(
            &DhcpServer::new(config()).handle(Duration::ZERO, ANY, None, &discover(MAC, 1)),
        ).1);
        let mut s = DhcpServer::new(ServerConfig {
            omit_options: omit.clone(),
            option_order: order.clone(),
            ..config()
        });
        let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
        let (reply, m) = only_reply(&out);
        prop_assert!(reply.bytes.len() >= wire::MIN_BOOTP_LEN);
        prop_assert!(m.findings.is_empty(), "{:?}", m.findings);
        let got = codes(&m);
        let kept: Vec<u8> = ordinary.iter().copied().filter(|c| !omit.contains(c)).collect();
        let mut sorted_got = got.clone();
        sorted_got.sort_unstable();
        let mut sorted_kept = kept.clone();
        sorted_kept.sort_unstable();
        prop_assert_eq!(sorted_got, sorted_kept);
        // The listed codes lead, in the listed order; the rest keep the ordinary order.
        let mut lead: Vec<u8> = Vec::new();
        for c in order.iter().flatten() {
            if kept.contains(c) && !lead.contains(c) {
                lead.push(*c);
            }
        }
        prop_assert_eq!(&got[..lead.len()], &lead[..]);
        let tail: Vec<u8> = kept.iter().copied().filter(|c| !lead.contains(c)).collect();
        prop_assert_eq!(&got[lead.len()..], &tail[..]);
    }

    #[test]
    fn handle_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut s = DhcpServer::new(config());
        let _ = s.handle(Duration::ZERO, ANY, None, &bytes);
    }

    #[test]
    fn handle_never_panics_on_arbitrary_options(
        op in 0u8..3,
        flags in any::<u16>(),
        ciaddr in any::<u32>(),
        giaddr in prop_oneof![Just(0u32), any::<u32>()],
        mac_low in 0u8..4,
        options in proptest::collection::vec(
            (prop_oneof![Just(50u8), Just(53), Just(54), Just(55), Just(12), Just(52), Just(82), any::<u8>()],
             proptest::collection::vec(any::<u8>(), 0..8)),
            0..8),
        steps in 1usize..4,
        rules in proptest::collection::vec(rule_strategy(), 0..4),
    ) {
        let mut s = DhcpServer::new(ServerConfig {
            pool_end: Ipv4Addr::new(10, 0, 0, 101),
            rules,
            ..config()
        });
        let mut h = Header {
            op,
            htype: 1,
            hlen: 6,
            flags,
            ciaddr: Ipv4Addr::from(ciaddr),
            giaddr: Ipv4Addr::from(giaddr),
            ..Header::default()
        };
        h.chaddr[..6].copy_from_slice(&[2, 0, 0, 0, 0, mac_low]);
        let bytes = wire::encode(&h, &options);
        for i in 0..steps {
            let now = Duration::from_secs(40 * i as u64);
            for out in s.handle(now, ANY, None, &bytes) {
                if let Output::Send(r) = out {
                    let m = wire::walk(&r.bytes).expect("replies walk");
                    prop_assert!(r.bytes.len() >= wire::MIN_BOOTP_LEN);
                    prop_assert!(m.findings.is_empty());
                    prop_assert_eq!(m.header.xid, h.xid);
                    // Option 82 comes back as it came, as the last option.
                    let request = wire::walk(&bytes).expect("requests walk");
                    if let Some(info) = request.concatenated(82) {
                        prop_assert_eq!(m.concatenated(82), Some(info));
                        let codes = codes_to_end(&m);
                        prop_assert_eq!(codes.last(), Some(&82));
                    }
                }
            }
        }
    }
}

/// A small deterministic generator (xorshift64*) so a failing mutation can be replayed from
/// its number.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// What the server made of one datagram: nothing sent for damaged input, and the damage on
/// record as a `malformed` event or as findings on the `received` event.
fn recorded(out: &[Output]) -> (bool, bool) {
    let sent = out.iter().any(|o| matches!(o, Output::Send(_)));
    let flagged = out.iter().any(|o| match o {
        Output::Event(Event::Malformed { .. }) => true,
        Output::Event(Event::Received { findings, .. }) => !findings.is_empty(),
        _ => false,
    });
    (sent, flagged)
}

#[test]
fn truncated_bad_cookie_and_overlong_options_are_recorded_and_dropped() {
    let good = discover(MAC, 7);
    // Truncated inside the fixed header.
    let mut s = DhcpServer::new(config());
    assert_eq!(
        recorded(&s.handle(Duration::ZERO, ANY, None, &good[..100])),
        (false, true)
    );
    // A wrong magic cookie (RFC 2131 §3: 99.130.83.99).
    let mut bad_cookie = good.clone();
    bad_cookie[236] = 0;
    assert_eq!(
        recorded(&s.handle(Duration::ZERO, ANY, None, &bad_cookie)),
        (false, true)
    );
    // An option whose length runs past the end of the datagram.
    let mut past_end = good[..wire::OPTIONS_OFFSET].to_vec();
    past_end.extend_from_slice(&[53, 1, 1, 12, 200, b'A', b'V']);
    let (sent, flagged) = recorded(&s.handle(Duration::ZERO, ANY, None, &past_end));
    assert!(flagged, "the damage is on record");
    let _ = sent; // a DISCOVER whose host name is cut may still be answered; it is flagged
}

/// 10,000 random mutations of a real DISCOVER (bit flips, byte overwrites, truncation,
/// insertion): the server never panics, and every datagram is either answered as a
/// well-formed DISCOVER or recorded as what is wrong with it.
#[test]
fn ten_thousand_mutations_never_crash_the_server() {
    let good = discover(MAC, 42);
    let mut rng = Mutator(0x9e37_79b9_7f4a_7c15);
    let mut s = DhcpServer::new(config());
    let (mut answered, mut flagged) = (0, 0);
    for n in 0..10_000u32 {
        let mut bytes = good.clone();
        for _ in 0..=rng.below(4) {
            match rng.below(4) {
                0 => {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(8);
                }
                1 => {
                    let i = rng.below(bytes.len());
                    bytes[i] = rng.next() as u8;
                }
                2 => {
                    let keep = rng.below(bytes.len() + 1);
                    bytes.truncate(keep);
                }
                _ => {
                    let i = rng.below(bytes.len() + 1);
                    bytes.insert(i, rng.next() as u8);
                }
            }
            if bytes.is_empty() {
                break;
            }
        }
        let out = s.handle(Duration::from_millis(u64::from(n)), ANY, None, &bytes);
        let (sent, bad) = recorded(&out);
        answered += usize::from(sent);
        flagged += usize::from(bad);
        assert!(
            !out.is_empty(),
            "mutation {n} left no trace at all: {bytes:02x?}"
        );
    }
    // Most mutations damage the datagram; some leave a DISCOVER the server still answers.
    assert!(
        flagged > 1_000,
        "only {flagged} of 10,000 recorded as damaged"
    );
    assert!(answered > 0, "no mutation left a usable DISCOVER");
}

// Relay agents (RFC 2131 §4.1, §4.3.1; RFC 3046).

/// A request as a relay agent forwards it: `giaddr` set, `hops` 1, option 82 last.
fn relayed(
    mac: [u8; 6],
    xid: u32,
    giaddr: Ipv4Addr,
    mut options: Vec<(u8, Vec<u8>)>,
    agent_info: Option<Vec<u8>>,
) -> Vec<u8> {
    let mut h = Header {
        op: 1,
        htype: 1,
        hlen: 6,
        hops: 1,
        xid,
        giaddr,
        ..Header::default()
    };
    h.chaddr[..6].copy_from_slice(&mac);
    if let Some(info) = agent_info {
        options.push((82, info));
    }
    wire::encode(&h, &options)
}

/// Circuit id `Gi1/0/7` and remote id `sw-floor3`, as a switch fills them in.
fn agent_info() -> Vec<u8> {
    let mut v = vec![1, 7];
    v.extend_from_slice(b"Gi1/0/7");
    v.extend_from_slice(&[2, 9]);
    v.extend_from_slice(b"sw-floor3");
    v
}

fn received_relay(out: &[Output]) -> Option<RelayPath> {
    events(out).into_iter().find_map(|e| match e {
        Event::Received { relay, .. } => Some(relay.clone()),
        _ => None,
    })?
}

/// The codes of the options a reply carries in its options field, in wire order (those an
/// overloaded reply carries in `file` or `sname` are not in it).
fn codes_to_end(m: &RawMessage) -> Vec<u8> {
    m.options
        .iter()
        .filter(|o| o.area == wire::Area::Options)
        .map(|o| o.code)
        .collect()
}

#[test]
fn a_relayed_exchange_is_answered_to_the_relay_from_its_subnet_with_option_82_echoed_last() {
    let mut s = DhcpServer::new(config());
    let info = agent_info();
    let out = s.handle(
        Duration::ZERO,
        RELAY,
        None,
        &relayed(MAC, 7, RELAY, vec![(53, vec![1])], Some(info.clone())),
    );
    let (reply, offer) = only_reply(&out);
    assert_eq!(reply.dest, ReplyDest::Relay(RELAY));
    assert_eq!(offer.header.giaddr, RELAY);
    // The server never asks for the broadcast path itself: the client did not.
    assert_eq!(offer.header.flags, 0);
    let ip = offer.header.yiaddr;
    assert!(
        (Ipv4Addr::new(10, 9, 0, 100)..=Ipv4Addr::new(10, 9, 0, 109)).contains(&ip),
        "{ip} is not from the relay's pool"
    );
    assert_eq!(offer.concatenated(1), Some(vec![255, 255, 255, 0]));
    assert_eq!(offer.concatenated(3), Some(RELAY.octets().to_vec()));
    assert_eq!(offer.concatenated(82), Some(info.clone()));
    assert_eq!(codes_to_end(&offer).last(), Some(&82), "{offer:?}");
    // Right before END.
    let at = offer.options.iter().find(|o| o.code == 82).unwrap();
    assert_eq!(
        reply.bytes[at.offset + 2 + at.value.len()],
        wire::OPT_END,
        "{at:?}"
    );

    let path = received_relay(&out).expect("the received event names the relay");
    assert_eq!(path.giaddr, "10.9.0.1");
    assert_eq!(path.hops, 1);
    let subs: Vec<(u8, &str, String)> = path
        .agent_info
        .iter()
        .map(|o| (o.code, o.name.as_str(), o.value.clone()))
        .collect();
    assert_eq!(
        subs,
        vec![
            (1, "circuit_id", hex::encode("Gi1/0/7")),
            (2, "remote_id", hex::encode("sw-floor3")),
        ]
    );
    assert_eq!(path.agent_info_trailing, None);
    let sent = events(&out)
        .into_iter()
        .find_map(|e| match e {
            Event::Sent { dest, .. } => Some(dest.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(sent, "relay");

    // REQUEST through the same relay: ACK to the relay, option 82 again last.
    let out = s.handle(
        Duration::from_secs(1),
        RELAY,
        None,
        &relayed(
            MAC,
            8,
            RELAY,
            vec![
                (53, vec![3]),
                (54, SERVER.octets().to_vec()),
                (50, ip.octets().to_vec()),
            ],
            Some(info.clone()),
        ),
    );
    let (reply, ack) = only_reply(&out);
    assert_eq!(msg_type(&ack), 5);
    assert_eq!(reply.dest, ReplyDest::Relay(RELAY));
    assert_eq!(ack.header.yiaddr, ip);
    assert_eq!(ack.concatenated(82), Some(info));
    assert_eq!(codes_to_end(&ack).last(), Some(&82));
}

#[test]
fn a_request_straight_from_the_client_has_no_relay_and_no_option_82() {
    let mut s = DhcpServer::new(config());
    let out = s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1));
    assert_eq!(received_relay(&out), None);
    let (_, offer) = only_reply(&out);
    assert_eq!(offer.count(82), 0);
    assert!(
        (Ipv4Addr::new(10, 0, 0, 100)..=Ipv4Addr::new(10, 0, 0, 102))
            .contains(&offer.header.yiaddr)
    );
}

#[test]
fn a_relay_on_a_subnet_no_pool_serves_is_not_answered() {
    let mut s = DhcpServer::new(config());
    let elsewhere = Ipv4Addr::new(172, 16, 4, 1);
    let out = s.handle(
        Duration::ZERO,
        elsewhere,
        None,
        &relayed(MAC, 1, elsewhere, vec![(53, vec![1])], Some(agent_info())),
    );
    assert!(sends(&out).is_empty(), "{out:?}");
    let reason = events(&out)
        .into_iter()
        .find_map(|e| match e {
            Event::Ignored { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert!(reason.contains("172.16.4.1"), "{reason}");
    // A relay on the server's own subnet is served from the server's own pool.
    let local = Ipv4Addr::new(10, 0, 0, 250);
    let out = s.handle(
        Duration::ZERO,
        local,
        None,
        &relayed(MAC, 2, local, vec![(53, vec![1])], None),
    );
    let (reply, offer) = only_reply(&out);
    assert_eq!(reply.dest, ReplyDest::Relay(local));
    assert!(
        (Ipv4Addr::new(10, 0, 0, 100)..=Ipv4Addr::new(10, 0, 0, 102))
            .contains(&offer.header.yiaddr)
    );
    assert_eq!(offer.count(82), 0);
}

#[test]
fn a_client_that_moved_behind_a_relay_is_naked_through_the_relay_with_option_82() {
    let mut s = DhcpServer::new(config());
    // Bound on the server's own subnet ...
    let ip = only_reply(&s.handle(Duration::ZERO, ANY, None, &discover(MAC, 1)))
        .1
        .header
        .yiaddr;
    let (_, ack) = only_reply(&s.handle(Duration::ZERO, ANY, None, &select(MAC, 1, SERVER, ip)));
    assert_eq!(msg_type(&ack), 5);
    // ... then rebooted behind the relay, asking for the old address (init-reboot).
    let info = agent_info();
    let out = s.handle(
        Duration::from_secs(5),
        RELAY,
        None,
        &relayed(
            MAC,
            2,
            RELAY,
            vec![(53, vec![3]), (50, ip.octets().to_vec())],
            Some(info.clone()),
        ),
    );
    let (reply, nak) = only_reply(&out);
    assert_eq!(msg_type(&nak), 6);
    assert_eq!(reply.dest, ReplyDest::Relay(RELAY));
    // RFC 2131 §4.3.2: the relay broadcasts it on the client's segment.
    assert_eq!(nak.header.flags & 0x8000, 0x8000);
    assert_eq!(nak.concatenated(82), Some(info));
    assert_eq!(codes_to_end(&nak).last(), Some(&82));
}

#[test]
fn option_82_without_giaddr_is_echoed_and_the_reply_goes_to_the_client() {
    let mut s = DhcpServer::new(config());
    let out = s.handle(
        Duration::ZERO,
        ANY,
        None,
        &relayed(MAC, 1, ANY, vec![(53, vec![1])], Some(vec![1, 2, 0xab])),
    );
    let (reply, offer) = only_reply(&out);
    assert!(
        matches!(reply.dest, ReplyDest::UnicastMac { .. }),
        "{:?}",
        reply.dest
    );
    assert_eq!(offer.concatenated(82), Some(vec![1, 2, 0xab]));
    let path = received_relay(&out).unwrap();
    assert_eq!(path.giaddr, "0.0.0.0");
    // A sub-option cut short is kept, as bytes, not read as a sub-option.
    assert_eq!(path.agent_info, vec![]);
    assert_eq!(path.agent_info_trailing.as_deref(), Some("0102ab"));
}

#[test]
fn a_relayed_reply_is_fitted_to_the_client_without_option_82_and_then_gets_it() {
    let mut s = DhcpServer::new(ServerConfig {
        site_string: Some(vec![b'x'; 400]),
        ..config()
    });
    let info = vec![1, 200]
        .into_iter()
        .chain([b'c'; 200])
        .collect::<Vec<u8>>();
    let out = s.handle(
        Duration::ZERO,
        RELAY,
        None,
        &relayed(
            MAC,
            1,
            RELAY,
            vec![
                (53, vec![1]),
                (57, 576u16.to_be_bytes().to_vec()),
                (55, vec![1, 3, 242]),
            ],
            Some(info.clone()),
        ),
    );
    let (reply, offer) = only_reply(&out);
    assert_eq!(offer.concatenated(82), Some(info.clone()));
    assert_eq!(codes_to_end(&offer).last(), Some(&82));
    // The fitting overloaded `file`: the site option is there, after the options field.
    assert!(
        offer
            .options
            .iter()
            .any(|o| o.code == 242 && o.area != wire::Area::Options)
    );
    // Without the option the relay removes, the client gets no more than it accepts.
    let option_82 = 2 + info.len();
    assert!(
        reply.bytes.len() - option_82 <= 576 - 28,
        "{} bytes with a {option_82}-byte option 82",
        reply.bytes.len()
    );
}

#[test]
fn a_client_behind_a_relay_renewing_by_unicast_is_acked_from_its_subnet_to_ciaddr() {
    let mut s = DhcpServer::new(config());
    let (_, offer) = only_reply(&s.handle(
        Duration::ZERO,
        RELAY,
        None,
        &relayed(MAC, 1, RELAY, vec![(53, vec![1])], None),
    ));
    let ip = offer.header.yiaddr;
    let (_, ack) = only_reply(&s.handle(
        Duration::ZERO,
        RELAY,
        None,
        &relayed(
            MAC,
            2,
            RELAY,
            vec![
                (53, vec![3]),
                (50, ip.octets().to_vec()),
                (54, SERVER.octets().to_vec()),
            ],
            None,
        ),
    ));
    assert_eq!(msg_type(&ack), 5);
    // RFC 2131 §4.3.2: the renewal comes straight from the client (routed, no giaddr);
    // the server trusts ciaddr, keeps the lease and answers the client at ciaddr.
    let out = s.handle(Duration::from_secs(1800), ip, None, &renew(MAC, 3, ip));
    let (reply, ack) = only_reply(&out);
    assert_eq!(msg_type(&ack), 5, "{ack:?}");
    assert_eq!(ack.header.yiaddr, ip);
    assert_eq!(reply.dest, ReplyDest::UnicastIp(ip));
    assert_eq!(ack.concatenated(3), Some(RELAY.octets().to_vec()));
    assert!(received_relay(&out).is_none());
    // A ciaddr in no subnet we serve is still the server's own subnet's business: NAK.
    let stray = Ipv4Addr::new(10, 200, 0, 5);
    let (_, nak) = only_reply(&s.handle(
        Duration::from_secs(1801),
        stray,
        None,
        &renew(MAC, 4, stray),
    ));
    assert_eq!(msg_type(&nak), 6);
}
