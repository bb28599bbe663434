//! The tokio shell around [`DhcpServer`]: receives datagrams, feeds the core, puts replies on
//! the wire, and forwards the core's events stamped with the instant they happened.
//!
//! Owns: the receive loop, turning a [`ReplyDest`] into an actual frame or datagram
//! (RFC 2131 §4.1: a client without an address is reached by Ethernet address, which a UDP
//! socket cannot do — hence raw frames), holding a reply the core gave a delay (in a task of
//! its own, so other clients are answered meanwhile), the loopback tap (each event goes on
//! with the frames the tap returned: the request's for what the core made of it, the
//! reply's for `sent`), shutdown. Replies to a relay agent, and to a client that has an
//! address on another subnet (behind a relay, renewing by unicast), are routed by the kernel.
//!
//! Never: decides anything about DHCP (the core does), creates its sockets (the lab does, in
//! the right namespace and with the right options), prints to stdout.
//!
//! VLANs: the `Raw` transport receives on a UDP socket, and the kernel hands a UDP socket no
//! 802.1Q tag (a tagged request reaches a socket bound to the VLAN's own interface, e.g.
//! `eth0.20`, untagged). So the core is told `vlan: None`, replies go out untagged on the raw
//! socket's interface, and a voice-VLAN lab opens both sockets on the VLAN interface, where the
//! kernel adds the tag on the way out.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use pc_capture::frame::{BROADCAST_MAC, UdpFrame, udp_frame};
use pc_capture::rawsock::RawSocket;
use pc_capture::{Stamped, Tap};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::event::Event;
use crate::server::{DhcpServer, Output, Reply, ReplyDest};

/// DHCP server port (RFC 2131 §4.1).
pub const SERVER_PORT: u16 = 67;
/// DHCP client port.
pub const CLIENT_PORT: u16 = 68;

/// Largest datagram read; DHCP messages are far smaller, a larger one is cut and then
/// reported by the walker as it finds it.
const RECV_BUF: usize = 65_536;

/// How the server meets the network.
#[derive(Debug)]
pub enum Transport {
    /// netns/iface labs: `recv` is a std UdpSocket bound to 0.0.0.0:67 with SO_BINDTODEVICE
    /// and SO_BROADCAST (created by the caller, possibly inside a namespace); replies to
    /// clients go out as raw Ethernet frames on `raw` from the server address:67 and the
    /// interface MAC — to the client's MAC and yiaddr:68, to ff:ff:ff:ff:ff:ff and
    /// 255.255.255.255:68, or to the client's MAC and ciaddr:68 — and replies for a relay
    /// go to giaddr:67 through `recv`.
    Raw {
        recv: std::net::UdpSocket,
        raw: RawSocket,
    },
    /// loopback lab: everything over one UDP socket on a high port; replies go back to the
    /// request's source address; every datagram in and out is reported to the tap.
    Udp { socket: std::net::UdpSocket },
}

/// Runs the server until `shutdown` turns true (or its sender is dropped). Events are sent
/// with the `Instant` the datagram was received (for `received`, `ignored`, `dropped`,
/// `malformed`) or the reply sent (for `sent`); a reply that could not be sent is logged and
/// has no `sent` event. A reply with a delay goes out that long after its request was received
/// while the loop goes on serving; one still waiting when the server stops is not sent and has
/// no `sent` event.
pub async fn run(
    mut server: DhcpServer,
    transport: Transport,
    tap: Arc<dyn Tap>,
    events: UnboundedSender<Stamped<Event>>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let start = Instant::now();
    let (socket, raw) = match transport {
        Transport::Raw { recv, raw } => (recv, Some(raw)),
        Transport::Udp { socket } => (socket, None),
    };
    socket.set_nonblocking(true)?;
    let socket = Arc::new(tokio::net::UdpSocket::from_std(socket)?);
    let local = v4(socket.local_addr()?);
    let out = Sender {
        socket: socket.clone(),
        raw: raw.map(Arc::new),
        tap: tap.clone(),
        events,
        server_ip: server.config().server_ip,
        mask: server.config().subnet_mask,
        local,
    };
    // Delayed replies; dropping the set when `run` returns aborts the ones still waiting.
    let mut held = JoinSet::new();
    let mut buf = vec![0u8; RECV_BUF];

    loop {
        if *shutdown.borrow_and_update() {
            return Ok(());
        }
        let (n, peer) = tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                continue;
            }
            Some(_) = held.join_next(), if !held.is_empty() => continue,
            received = socket.recv_from(&mut buf) => match received {
                Ok(r) => r,
                // An ICMP error from an earlier send, reported on this socket: not fatal.
                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset) => {
                    tracing::debug!(error = %e, "dhcp socket: icmp error from an earlier send");
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        let received_at = Instant::now();
        let datagram = &buf[..n];
        let peer = v4(peer);
        let received = if out.raw.is_none() {
            tap.udp(peer, local, datagram)
        } else {
            Vec::new()
        };
        let mut outputs = server
            .handle(received_at - start, *peer.ip(), None, datagram)
            .into_iter()
            .peekable();

        while let Some(output) = outputs.next() {
            match output {
                Output::Send(reply) => {
                    // The core puts a reply's `sent` event right after it.
                    let sent = outputs
                        .next_if(|o| matches!(o, Output::Event(Event::Sent { .. })))
                        .and_then(|o| match o {
                            Output::Event(e) => Some(e),
                            Output::Send(_) => None,
                        });
                    if reply.delay.is_zero() {
                        out.deliver(peer, &reply, sent).await;
                    } else {
                        let out = out.clone();
                        let due =
                            tokio::time::Instant::from_std(received_at).checked_add(reply.delay);
                        held.spawn(async move {
                            match due {
                                Some(due) => tokio::time::sleep_until(due).await,
                                // Beyond what the clock can express: never due.
                                None => std::future::pending().await,
                            }
                            out.deliver(peer, &reply, sent).await;
                        });
                    }
                }
                Output::Event(event) => out.record(received_at, event, received.clone()),
            }
        }
    }
}

/// What a reply needs to go out, now or later.
#[derive(Clone)]
struct Sender {
    socket: Arc<tokio::net::UdpSocket>,
    raw: Option<Arc<RawSocket>>,
    tap: Arc<dyn Tap>,
    events: UnboundedSender<Stamped<Event>>,
    server_ip: Ipv4Addr,
    mask: Ipv4Addr,
    local: SocketAddrV4,
}

impl Sender {
    /// Sends `reply` (over the UDP transport: to `peer`, where the request came from), then
    /// records its `sent` event stamped with the moment it went out.
    async fn deliver(&self, peer: SocketAddrV4, reply: &Reply, sent: Option<Event>) {
        let result = match &self.raw {
            Some(raw) => send_raw(raw, &self.socket, (self.server_ip, self.mask), reply)
                .await
                .map(|()| Vec::new()),
            None => {
                send_udp(
                    &self.socket,
                    self.tap.as_ref(),
                    self.local,
                    peer,
                    &reply.bytes,
                )
                .await
            }
        };
        match result {
            Ok(frames) => {
                if let Some(sent) = sent {
                    self.record(Instant::now(), sent, frames);
                }
            }
            Err(e) => tracing::warn!(error = %e, dest = ?reply.dest, "dhcp reply not sent"),
        }
    }

    fn record(&self, at: Instant, event: Event, frames: Vec<u64>) {
        // The receiver going away means nobody records the run any more; the server still
        // answers until told to stop.
        let _ = self.events.send(Stamped::new(at, event, frames));
    }
}

fn v4(addr: SocketAddr) -> SocketAddrV4 {
    match addr {
        SocketAddr::V4(a) => a,
        // DHCPv4 sockets are IPv4; an IPv4-mapped peer is shown as its IPv4 address.
        SocketAddr::V6(a) => SocketAddrV4::new(
            a.ip().to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
            a.port(),
        ),
    }
}

async fn send_udp(
    socket: &tokio::net::UdpSocket,
    tap: &dyn Tap,
    local: SocketAddrV4,
    peer: SocketAddrV4,
    bytes: &[u8],
) -> io::Result<Vec<u64>> {
    socket.send_to(bytes, peer).await?;
    Ok(tap.udp(local, peer, bytes))
}

async fn send_raw(
    raw: &RawSocket,
    socket: &tokio::net::UdpSocket,
    (server_ip, mask): (Ipv4Addr, Ipv4Addr),
    reply: &Reply,
) -> io::Result<()> {
    // Addresses that have an IP stack answering ARP go through the kernel, which routes
    // them: a relay agent (to giaddr, port 67), and a client with an address on another
    // subnet (behind a relay, renewing by unicast: RFC 2131 §4.3.2), reached through its
    // router rather than by an Ethernet address that is not on this link.
    let m = u32::from(mask);
    let routed = match reply.dest {
        ReplyDest::Relay(giaddr) => Some(SocketAddrV4::new(giaddr, SERVER_PORT)),
        ReplyDest::UnicastIp(ip) if u32::from(ip) & m != u32::from(server_ip) & m => {
            Some(SocketAddrV4::new(ip, CLIENT_PORT))
        }
        _ => None,
    };
    if let Some(to) = routed {
        socket.send_to(&reply.bytes, to).await?;
        return Ok(());
    }
    match reply_frame(raw.mac(), server_ip, None, reply) {
        Some(frame) => raw.send(&frame),
        None => Ok(()),
    }
}

/// The Ethernet frame of a reply to a client on the link (RFC 2131 §4.1: broadcast, or
/// unicast to the client's MAC and the offered or current address), tagged with `vlan` when
/// given. `None` for a reply to a relay agent, which goes through the kernel instead.
pub(crate) fn reply_frame(
    src_mac: pc_capture::frame::Mac,
    server_ip: Ipv4Addr,
    vlan: Option<u16>,
    reply: &Reply,
) -> Option<Vec<u8>> {
    let (dst_mac, dst_ip) = match reply.dest {
        ReplyDest::BroadcastMac => (BROADCAST_MAC, Ipv4Addr::BROADCAST),
        ReplyDest::UnicastMac { mac, ip } => (mac, ip),
        ReplyDest::UnicastIp(ip) => (reply.chaddr, ip),
        ReplyDest::Relay(_) => return None,
    };
    Some(udp_frame(&UdpFrame {
        src_mac,
        dst_mac,
        vlan,
        src: SocketAddrV4::new(server_ip, SERVER_PORT),
        dst: SocketAddrV4::new(dst_ip, CLIENT_PORT),
        payload: &reply.bytes,
    }))
}
