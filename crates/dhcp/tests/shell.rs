//! The tokio shell over real sockets: the loopback lab (UDP transport, tap) always, and the
//! raw-frame transport in a pair of network namespaces when running as root.

#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dhcproto::v4::{self, DhcpOption, Message, OptionCode};
use dhcproto::{Decodable, Encodable};
use pc_capture::{Stamped, Tap, TcpFlow};
use pc_dhcp::{DhcpServer, Event, MessageType, Rule, ServerConfig, Transport};
use tokio::sync::{mpsc, watch};

const MAC: [u8; 6] = [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a];
const SITE: &str = "HTTPSRVR=10.77.0.1,HTTPDIR=fw,SIP_CONTROLLER_LIST=10.77.0.1:5060;transport=udp";

/// Remembers every datagram the shell reports.
#[derive(Default)]
struct RecordingTap(Mutex<Vec<(SocketAddrV4, SocketAddrV4, usize)>>);

impl Tap for RecordingTap {
    fn udp(&self, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u64> {
        let mut seen = self.0.lock().unwrap();
        seen.push((src, dst, payload.len()));
        vec![seen.len() as u64]
    }
    fn tcp_open(&self, _: SocketAddrV4, _: SocketAddrV4) -> TcpFlow {
        TcpFlow(0)
    }
    fn tcp_data(&self, _: TcpFlow, _: bool, _: &[u8]) -> Vec<u64> {
        Vec::new()
    }
    fn tcp_close(&self, _: TcpFlow, _: bool, _: bool) -> Vec<u64> {
        Vec::new()
    }
}

fn config(server_ip: Ipv4Addr) -> ServerConfig {
    ServerConfig {
        server_ip,
        pool_start: Ipv4Addr::new(10, 77, 0, 100),
        pool_end: Ipv4Addr::new(10, 77, 0, 110),
        site_string: Some(SITE.as_bytes().to_vec()),
        ..ServerConfig::default()
    }
}

fn discover(xid: u32) -> Message {
    let mut m = Message::new_with_id(
        xid,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &MAC,
    );
    m.opts_mut()
        .insert(DhcpOption::MessageType(v4::MessageType::Discover));
    m.opts_mut()
        .insert(DhcpOption::Hostname("AVXB27312".into()));
    m.opts_mut().insert(DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::Unknown(242),
    ]));
    m
}

fn request(xid: u32, server: Ipv4Addr, ip: Ipv4Addr) -> Message {
    let mut m = Message::new_with_id(
        xid,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &MAC,
    );
    m.opts_mut()
        .insert(DhcpOption::MessageType(v4::MessageType::Request));
    m.opts_mut().insert(DhcpOption::ServerIdentifier(server));
    m.opts_mut().insert(DhcpOption::RequestedIpAddress(ip));
    m
}

fn site_option(m: &Message) -> Option<Vec<u8>> {
    match m.opts().get(OptionCode::Unknown(242)) {
        Some(DhcpOption::Unknown(u)) => Some(u.data().to_vec()),
        _ => None,
    }
}

async fn next_stamped(rx: &mut mpsc::UnboundedReceiver<Stamped<Event>>) -> Stamped<Event> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("event within 5 s")
        .expect("event channel open")
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<Stamped<Event>>) -> (Instant, Event) {
    let s = next_stamped(rx).await;
    (s.at, s.event)
}

#[tokio::test]
async fn loopback_dora_over_udp_with_tap_and_events() {
    let server_ip = Ipv4Addr::new(10, 77, 0, 1);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_addr = socket.local_addr().unwrap();
    let tap = Arc::new(RecordingTap::default());
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let task = tokio::spawn(pc_dhcp::run(
        DhcpServer::new(config(server_ip)),
        Transport::Udp { socket },
        tap.clone(),
        ev_tx,
        stop_rx,
    ));

    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = vec![0u8; 2048];

    client
        .send_to(&discover(0x1111).to_vec().unwrap(), server_addr)
        .await
        .unwrap();
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
        .await
        .expect("offer within 5 s")
        .unwrap();
    assert_eq!(from, server_addr);
    assert!(n >= 300, "padded to the bootp minimum, got {n}");
    let offer = Message::from_bytes(&buf[..n]).unwrap();
    assert_eq!(offer.opts().msg_type(), Some(v4::MessageType::Offer));
    assert_eq!(offer.xid(), 0x1111);
    assert_eq!(site_option(&offer).as_deref(), Some(SITE.as_bytes()));
    let ip = offer.yiaddr();
    assert_eq!(ip, Ipv4Addr::new(10, 77, 0, 100));

    client
        .send_to(
            &request(0x1111, server_ip, ip).to_vec().unwrap(),
            server_addr,
        )
        .await
        .unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
        .await
        .expect("ack within 5 s")
        .unwrap();
    let ack = Message::from_bytes(&buf[..n]).unwrap();
    assert_eq!(ack.opts().msg_type(), Some(v4::MessageType::Ack));
    assert_eq!(ack.yiaddr(), ip);
    assert_eq!(site_option(&ack).as_deref(), Some(SITE.as_bytes()));

    let mut got = Vec::new();
    let mut frames = Vec::new();
    for _ in 0..4 {
        let s = next_stamped(&mut ev_rx).await;
        frames.push(s.frames);
        got.push((s.at, s.event));
    }
    // Each event carries the frame the tap numbered for its datagram.
    assert_eq!(frames, [[1], [2], [3], [4]]);
    let kinds: Vec<String> = got
        .iter()
        .map(|(_, e)| match e {
            Event::Received { msg_type, .. } => format!("received {msg_type}"),
            Event::Sent { msg_type, .. } => format!("sent {msg_type}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "received DISCOVER",
            "sent OFFER",
            "received REQUEST",
            "sent ACK"
        ]
    );
    assert!(
        got.windows(2).all(|w| w[0].0 <= w[1].0),
        "stamps are in order"
    );
    assert!(got[0].0 >= started);
    if let Event::Sent { site_option, .. } = &got[1].1 {
        assert_eq!(site_option.as_deref(), Some(SITE));
    }
    if let Event::Received { hostname, .. } = &got[0].1 {
        assert_eq!(hostname.as_deref(), Some("AVXB27312"));
    }

    let client_addr = match client.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("v4 client, got {other}"),
    };
    let server_v4 = match server_addr {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("v4 server, got {other}"),
    };
    let seen = tap.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!((seen[0].0, seen[0].1), (client_addr, server_v4));
    assert_eq!((seen[1].0, seen[1].1), (server_v4, client_addr));
    assert!(seen[1].2 >= 300);

    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("server stops within 5 s")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn malformed_datagram_gives_event_and_no_reply() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_addr = socket.local_addr().unwrap();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(pc_dhcp::run(
        DhcpServer::new(config(Ipv4Addr::new(10, 77, 0, 1))),
        Transport::Udp { socket },
        Arc::new(pc_capture::NoTap),
        ev_tx,
        stop_rx,
    ));
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(b"not dhcp", server_addr).await.unwrap();
    let (_, e) = next_event(&mut ev_rx).await;
    assert_eq!(
        e,
        Event::Malformed {
            from: "127.0.0.1".into(),
            len: 8,
            error: "message is 8 bytes, shorter than the 236-byte bootp header".into()
        }
    );
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), client.recv_from(&mut buf))
            .await
            .is_err(),
        "no reply to a malformed datagram"
    );
    // Dropping the shutdown sender also stops the server.
    drop(stop_tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("server stops within 5 s")
        .unwrap()
        .unwrap();
}

fn inform(xid: u32, mac: [u8; 6], ciaddr: Ipv4Addr) -> Message {
    let mut m = Message::new_with_id(
        xid,
        ciaddr,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &mac,
    );
    m.opts_mut()
        .insert(DhcpOption::MessageType(v4::MessageType::Inform));
    m
}

#[tokio::test]
async fn delayed_offer_arrives_late_without_holding_up_other_replies() {
    const DELAY: Duration = Duration::from_millis(800);
    let rule = Rule::Delay {
        msg_type: MessageType::Discover,
        delay: DELAY,
    };
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_addr = socket.local_addr().unwrap();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(pc_dhcp::run(
        DhcpServer::new(ServerConfig {
            rules: vec![rule.clone()],
            ..config(Ipv4Addr::new(10, 77, 0, 1))
        }),
        Transport::Udp { socket },
        Arc::new(pc_capture::NoTap),
        ev_tx,
        stop_rx,
    ));
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = vec![0u8; 2048];

    let asked = Instant::now();
    client
        .send_to(&discover(0x3333).to_vec().unwrap(), server_addr)
        .await
        .unwrap();
    let other = [0x00, 0x1b, 0x4f, 0x00, 0x00, 0x02];
    client
        .send_to(
            &inform(0x4444, other, Ipv4Addr::new(10, 77, 0, 50))
                .to_vec()
                .unwrap(),
            server_addr,
        )
        .await
        .unwrap();

    // The INFORM, sent second, is answered first and well before the delay is over.
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
        .await
        .expect("a reply within 5 s")
        .unwrap();
    let first_at = asked.elapsed();
    let ack = Message::from_bytes(&buf[..n]).unwrap();
    assert_eq!(ack.opts().msg_type(), Some(v4::MessageType::Ack));
    assert_eq!(ack.xid(), 0x4444);
    assert!(first_at < DELAY, "the ack waited {first_at:?}");

    let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
        .await
        .expect("the offer within 5 s")
        .unwrap();
    let offer_at = asked.elapsed();
    let offer = Message::from_bytes(&buf[..n]).unwrap();
    assert_eq!(offer.opts().msg_type(), Some(v4::MessageType::Offer));
    assert_eq!(offer.xid(), 0x3333);
    assert!(offer_at >= DELAY, "the offer came after {offer_at:?}");

    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(next_event(&mut ev_rx).await);
    }
    let kinds: Vec<String> = got
        .iter()
        .map(|(_, e)| match e {
            Event::Received { msg_type, .. } => format!("received {msg_type}"),
            Event::Sent {
                msg_type, delay_ms, ..
            } => format!("sent {msg_type} {delay_ms}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "received DISCOVER",
            "received INFORM",
            "sent ACK 0",
            "sent OFFER 800"
        ]
    );
    // The sent event is stamped when the offer went out.
    assert!(got[3].0 - got[0].0 >= DELAY);
    assert!(matches!(&got[3].1, Event::Sent { rules, .. } if *rules == vec![rule.clone()]));
    assert!(matches!(&got[2].1, Event::Sent { rules, .. } if rules.is_empty()));

    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("server stops within 5 s")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_reply_still_held_at_shutdown_is_not_sent() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_addr = socket.local_addr().unwrap();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(pc_dhcp::run(
        DhcpServer::new(ServerConfig {
            rules: vec![Rule::Delay {
                msg_type: MessageType::Discover,
                delay: Duration::from_secs(60),
            }],
            ..config(Ipv4Addr::new(10, 77, 0, 1))
        }),
        Transport::Udp { socket },
        Arc::new(pc_capture::NoTap),
        ev_tx,
        stop_rx,
    ));
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(&discover(0x5555).to_vec().unwrap(), server_addr)
        .await
        .unwrap();
    assert!(matches!(
        next_event(&mut ev_rx).await.1,
        Event::Received { .. }
    ));

    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("server stops at once, not after the delay")
        .unwrap()
        .unwrap();
    // The held reply is gone with the server: the channel closes without a sent event.
    let rest = tokio::time::timeout(Duration::from_secs(5), ev_rx.recv())
        .await
        .expect("event channel closes");
    assert!(rest.is_none(), "{rest:?}");
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), client.recv_from(&mut buf))
            .await
            .is_err(),
        "no offer after shutdown"
    );
}

mod netns {
    //! Raw transport between two namespaces joined by a veth pair: the client has no address,
    //! broadcasts from 0.0.0.0, and must get its OFFER as a frame to its own MAC.

    use super::*;
    use pc_capture::frame::{BROADCAST_MAC, UdpFrame, parse_udp, udp_frame};
    use pc_capture::netns::in_netns;
    use pc_capture::rawsock::RawSocket;
    use std::process::Command;

    fn ip(args: &[&str]) -> std::io::Result<()> {
        let out = Command::new("ip").args(args).output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// Deletes the namespaces (and with them the veth pair) however the test ends.
    struct Lab {
        server: String,
        client: String,
    }

    impl Drop for Lab {
        fn drop(&mut self) {
            let _ = ip(&["netns", "del", &self.server]);
            let _ = ip(&["netns", "del", &self.client]);
        }
    }

    fn setup() -> std::io::Result<Lab> {
        let pid = std::process::id();
        let lab = Lab {
            server: format!("pcdhcp-s{pid}"),
            client: format!("pcdhcp-c{pid}"),
        };
        ip(&["netns", "add", &lab.server])?;
        ip(&["netns", "add", &lab.client])?;
        ip(&[
            "link",
            "add",
            "dhcps0",
            "netns",
            &lab.server,
            "type",
            "veth",
            "peer",
            "name",
            "dhcpc0",
            "netns",
            &lab.client,
        ])?;
        ip(&[
            "-n",
            &lab.server,
            "addr",
            "add",
            "10.77.0.1/24",
            "dev",
            "dhcps0",
        ])?;
        ip(&["-n", &lab.server, "link", "set", "dhcps0", "up"])?;
        ip(&["-n", &lab.server, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &lab.client,
            "link",
            "set",
            "dhcpc0",
            "address",
            "00:1b:4f:27:31:2a",
        ])?;
        ip(&["-n", &lab.client, "link", "set", "dhcpc0", "up"])?;
        Ok(lab)
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    /// Waits for the next UDP frame to port 68 on `sock`.
    fn recv_reply(sock: &RawSocket) -> Option<pc_capture::frame::ParsedUdp> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = Vec::new();
        while Instant::now() < deadline {
            match sock.recv_frame(&mut buf) {
                Ok(meta) if !meta.outgoing() => {
                    if let Some(p) = parse_udp(&buf)
                        && p.dst.port() == 68
                    {
                        return Some(p);
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
        None
    }

    #[tokio::test]
    async fn raw_transport_answers_an_unconfigured_client_by_mac() {
        if !is_root() {
            println!("skipped: needs root");
            return;
        }
        let lab = setup().expect("netns lab");
        let server_ns = lab.server.clone();
        let (recv, raw) = in_netns(&server_ns, || {
            let s = socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::DGRAM,
                Some(socket2::Protocol::UDP),
            )?;
            s.set_reuse_address(true)?;
            s.set_broadcast(true)?;
            s.bind_device(Some(b"dhcps0"))?;
            s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 67).into())?;
            Ok((std::net::UdpSocket::from(s), RawSocket::open("dhcps0")?))
        })
        .expect("server sockets");
        let server_mac = raw.mac();
        let server_ip = Ipv4Addr::new(10, 77, 0, 1);
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(pc_dhcp::run(
            DhcpServer::new(config(server_ip)),
            Transport::Raw { recv, raw },
            Arc::new(pc_capture::NoTap),
            ev_tx,
            stop_rx,
        ));

        let client = in_netns(&lab.client, || RawSocket::open("dhcpc0")).expect("client socket");
        client.set_nonblocking(true).unwrap();
        let exchange = move |msg: Message| {
            let bytes = msg.to_vec().unwrap();
            client
                .send(&udp_frame(&UdpFrame {
                    src_mac: MAC,
                    dst_mac: BROADCAST_MAC,
                    vlan: None,
                    src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
                    dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
                    payload: &bytes,
                }))
                .unwrap();
            recv_reply(&client).expect("reply frame within 5 s")
        };
        let client_task = tokio::task::spawn_blocking(move || {
            let exchange = exchange;
            let offer = exchange(discover(0x2222));
            let ack = exchange(request(0x2222, server_ip, Ipv4Addr::new(10, 77, 0, 100)));
            (offer, ack)
        });
        let (offer, ack) = client_task.await.unwrap();

        // No broadcast flag: unicast to the client's MAC and the offered address.
        assert_eq!(offer.dst_mac, MAC);
        assert_eq!(offer.src_mac, server_mac);
        assert_eq!(offer.src, SocketAddrV4::new(server_ip, 67));
        assert_eq!(
            offer.dst,
            SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 100), 68)
        );
        let offer = Message::from_bytes(&offer.payload).unwrap();
        assert_eq!(offer.opts().msg_type(), Some(v4::MessageType::Offer));
        assert_eq!(site_option(&offer).as_deref(), Some(SITE.as_bytes()));
        let ack = Message::from_bytes(&ack.payload).unwrap();
        assert_eq!(ack.opts().msg_type(), Some(v4::MessageType::Ack));

        let mut kinds = Vec::new();
        for _ in 0..4 {
            kinds.push(match next_event(&mut ev_rx).await.1 {
                Event::Received { msg_type, .. } => format!("received {msg_type}"),
                Event::Sent { msg_type, dest, .. } => format!("sent {msg_type} {dest}"),
                other => format!("{other:?}"),
            });
        }
        assert_eq!(
            kinds,
            [
                "received DISCOVER",
                "sent OFFER unicast",
                "received REQUEST",
                "sent ACK unicast"
            ]
        );
        stop_tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("server stops")
            .unwrap()
            .unwrap();
        drop(lab);
    }
}
