//! The tokio shell around [`RelayAgent`]: hears requests on the client's segment and replies
//! from the servers, and puts what the agent decides on the wire.
//!
//! Owns: the two receive loops (one UDP socket on port 67 bound to the client-facing
//! interface, one bound to the server-facing interface, so the kernel tells the two sides
//! apart by where a datagram came in), sending forwarded requests to the servers through the
//! kernel (they are routed, RFC 1542 §4.1.1), and delivering replies on the client's segment
//! as raw Ethernet frames from the agent's address, port 67, to port 68 (RFC 1542 §5.4: a
//! client without an address yet is reached by its Ethernet address, which a UDP socket
//! cannot do — the DHCP server's shell does the same for the same reason).
//!
//! Never: decides anything (the core does), creates its sockets (the lab does, inside the
//! router's namespace), prints to stdout. What it discards is logged at debug level with
//! the core's reason; the capture of both links is the evidence of what it did.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use pc_capture::frame::{BROADCAST_MAC, UdpFrame, udp_frame};
use pc_capture::rawsock::RawSocket;
use tokio::sync::watch;

use crate::relay::{ClientDest, Deliver, RelayAgent};
use crate::shell::{CLIENT_PORT, SERVER_PORT};

/// Largest datagram read.
const RECV_BUF: usize = 65_536;

/// The agent's sockets, made by the lab in the router's namespace.
#[derive(Debug)]
pub struct RelaySockets {
    /// 0.0.0.0:67 with SO_BINDTODEVICE on the client-facing interface and SO_BROADCAST.
    pub client: std::net::UdpSocket,
    /// 0.0.0.0:67 with SO_BINDTODEVICE on the server-facing interface: replies to giaddr
    /// arrive here, and forwarded requests leave from here.
    pub server: std::net::UdpSocket,
    /// A raw socket on the client-facing interface, for replies to the client.
    pub raw: RawSocket,
}

/// Runs the agent until `shutdown` turns true (or its sender is dropped).
pub async fn run_relay(
    agent: RelayAgent,
    sockets: RelaySockets,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    sockets.client.set_nonblocking(true)?;
    sockets.server.set_nonblocking(true)?;
    let client = tokio::net::UdpSocket::from_std(sockets.client)?;
    let server = tokio::net::UdpSocket::from_std(sockets.server)?;
    let raw = sockets.raw;
    let source = agent.config().address;
    let mut from_client = vec![0u8; RECV_BUF];
    let mut from_server = vec![0u8; RECV_BUF];
    loop {
        if *shutdown.borrow_and_update() {
            return Ok(());
        }
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            got = client.recv_from(&mut from_client) => {
                let Some((n, peer)) = tolerate(got)? else { continue };
                let bytes = &from_client[..n];
                match agent.from_client(bytes) {
                    Ok(fwd) => {
                        for to in &fwd.to {
                            if let Err(e) = server.send_to(&fwd.bytes, *to).await {
                                tracing::warn!(error = %e, %to, "relay: request not forwarded");
                            }
                        }
                    }
                    Err(why) => tracing::debug!(%peer, %why, "relay: request discarded"),
                }
            }
            got = server.recv_from(&mut from_server) => {
                let Some((n, peer)) = tolerate(got)? else { continue };
                match agent.from_server(&from_server[..n]) {
                    Ok(reply) => {
                        if let Err(e) = raw.send(&client_frame(raw.mac(), source, &reply)) {
                            tracing::warn!(error = %e, dest = ?reply.dest, "relay: reply not delivered");
                        }
                    }
                    Err(why) => tracing::debug!(%peer, %why, "relay: reply discarded"),
                }
            }
        }
    }
}

/// A received datagram, `None` for an ICMP error an earlier send left on the socket.
fn tolerate<T>(got: io::Result<T>) -> io::Result<Option<T>> {
    match got {
        Ok(v) => Ok(Some(v)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
            ) =>
        {
            tracing::debug!(error = %e, "relay socket: icmp error from an earlier send");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The Ethernet frame of a reply on the client's segment: from the agent's MAC and address,
/// port 67, to port 68 of the client (or of everyone).
pub fn client_frame(src_mac: pc_capture::frame::Mac, source: Ipv4Addr, reply: &Deliver) -> Vec<u8> {
    let (dst_mac, dst_ip) = match reply.dest {
        ClientDest::Broadcast => (BROADCAST_MAC, Ipv4Addr::BROADCAST),
        ClientDest::Unicast { mac, ip } => (mac, ip),
    };
    udp_frame(&UdpFrame {
        src_mac,
        dst_mac,
        vlan: None,
        src: SocketAddrV4::new(source, SERVER_PORT),
        dst: SocketAddrV4::new(dst_ip, CLIENT_PORT),
        payload: &reply.bytes,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_frame_goes_from_the_agent_port_67_to_the_client_port_68() {
        let mac = [2, 0, 0, 0, 0, 9];
        let reply = Deliver {
            bytes: vec![7; 300],
            dest: ClientDest::Unicast {
                mac,
                ip: Ipv4Addr::new(10, 66, 1, 100),
            },
        };
        let agent_mac = [2, 0, 0, 0, 0, 1];
        let frame = client_frame(agent_mac, Ipv4Addr::new(10, 66, 1, 1), &reply);
        let udp = pc_capture::frame::parse_udp(&frame).unwrap();
        assert_eq!(udp.src, SocketAddrV4::new(Ipv4Addr::new(10, 66, 1, 1), 67));
        assert_eq!(
            udp.dst,
            SocketAddrV4::new(Ipv4Addr::new(10, 66, 1, 100), 68)
        );
        assert_eq!(&frame[..6], &mac);
        assert_eq!(&frame[6..12], &agent_mac);
        assert_eq!(udp.payload, reply.bytes);
        let b = Deliver {
            dest: ClientDest::Broadcast,
            ..reply
        };
        let frame = client_frame(agent_mac, Ipv4Addr::new(10, 66, 1, 1), &b);
        assert_eq!(&frame[..6], &BROADCAST_MAC);
        let udp = pc_capture::frame::parse_udp(&frame).unwrap();
        assert_eq!(*udp.dst.ip(), Ipv4Addr::BROADCAST);
    }
}
