//! The rogue-server guard's shell: sends the probe DISCOVER on a segment and listens for
//! answers.
//!
//! Owns: the frames — the probe goes out as a raw Ethernet broadcast from the probing MAC
//! (0.0.0.0:68 → 255.255.255.255:67), so it needs no address on the interface and claims
//! none — resending it once a second while listening, and handing every IPv4/UDP frame to
//! port 68 to the core ([`crate::guard`]).
//!
//! Never: decides what counts as an answer (the core does), picks the MAC or xid (the caller
//! does, at random), sends anything but the probe: one DHCPDISCOVER, broadcast on this one
//! segment, which no router forwards (RFC 2131 §4.1; only a relay agent would, and it answers
//! for its own server, which is then found and named all the same).

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pc_capture::frame::{BROADCAST_MAC, UdpFrame, parse_udp, udp_frame};
use pc_capture::rawsock::{AsyncRawSocket, RawSocket};

use crate::guard::{ForeignServer, answer_to_probe, probe_discover};
use crate::shell::{CLIENT_PORT, SERVER_PORT};

/// EtherType of IPv4: the probe's socket sees nothing else.
const ETHERTYPE_IPV4: u16 = 0x0800;

/// How often the probe is sent again while listening (a lost broadcast is not a clean
/// segment).
const RESEND_EVERY: Duration = Duration::from_secs(1);

/// After the first answer, how long to go on listening for others (so every server on the
/// segment is named, not only the fastest).
const AFTER_FIRST: Duration = Duration::from_millis(500);

/// Probes the segment of interface `iface` for DHCP servers: a DISCOVER from `mac` with `xid`,
/// listening for `listen`. Returns every server that answered (none: the segment is clean).
/// Must run inside a tokio runtime, in the namespace holding `iface`.
pub async fn probe(
    iface: &str,
    mac: [u8; 6],
    xid: u32,
    listen: Duration,
) -> io::Result<Vec<ForeignServer>> {
    let raw = AsyncRawSocket::new(RawSocket::open_protocol(iface, ETHERTYPE_IPV4)?)?;
    let frame = udp_frame(&UdpFrame {
        src_mac: mac,
        dst_mac: BROADCAST_MAC,
        vlan: None,
        src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT),
        dst: SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
        payload: &probe_discover(mac, xid),
    });
    let mut found: Vec<ForeignServer> = Vec::new();
    let mut deadline = tokio::time::Instant::now() + listen;
    let mut resend = tokio::time::interval(RESEND_EVERY);
    let mut buf = Vec::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return Ok(found),
            _ = resend.tick() => raw.send(&frame).await?,
            received = raw.recv(&mut buf) => {
                received?;
                let Some(udp) = parse_udp(&buf) else { continue };
                if udp.dst.port() != CLIENT_PORT {
                    continue;
                }
                let Some(server) =
                    answer_to_probe(&udp.payload, *udp.src.ip(), udp.src_mac, mac, xid)
                else {
                    continue;
                };
                tracing::debug!(iface, server = %server.ip, "probe: a DHCP server answered");
                if !found.iter().any(|f| f.ip == server.ip && f.mac == server.mac) {
                    if found.is_empty() {
                        deadline = deadline.min(tokio::time::Instant::now() + AFTER_FIRST);
                    }
                    found.push(server);
                }
            }
        }
    }
}
