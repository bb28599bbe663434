//! DHCP I/O shell: moves the client's messages over raw frames (`--iface`), a UDP socket
//! (`--dhcp-server`, loopback) or a frame link shared by many phones of one process, and runs
//! the client's timers on the phone clock.
//!
//! Owns: the DHCP task and its link; publishes the current lease through a watch channel;
//! tags raw frames with the VLAN each message names and tells the client which VLAN a reply
//! came on; logs a milestone for each DHCP decision (release, renewal, rebinding, NAK, VLAN
//! fallback, ignored replies).
//! Never: decides anything about DHCP — that is `dhcp::client`. In loopback mode there is no
//! link layer, so nothing can be tagged: a tagged message is sent plain and logged.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::json;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::clock::PhoneClock;
use super::raw::{self, BROADCAST_MAC, DHCP_CLIENT_PORT, DHCP_SERVER_PORT, RawSocket};
use crate::dhcp::wire::MessageType;
use crate::dhcp::{Destination, DhcpClient, Event, Lease, Transmit};
use crate::milestone;

/// Where DHCP messages travel.
#[derive(Debug)]
pub enum DhcpLink {
    /// Lab mode: whole Ethernet frames on one interface.
    Raw {
        socket: RawSocket,
        mac: [u8; 6],
        /// The server's MAC, learnt from its replies (for unicast renewal).
        server_mac: Option<[u8; 6]>,
        /// A UDP socket on port 68, so that unicast replies after the address is configured
        /// do not draw ICMP port-unreachable from the kernel. Only drained.
        drain: Option<UdpSocket>,
    },
    /// Loopback mode: one UDP socket on 127.0.0.1, everything goes to the server address.
    Udp {
        socket: UdpSocket,
        server: SocketAddr,
    },
    /// Shared mode: whole Ethernet frames, as on `Raw`, through a link that many phones of one
    /// process share. The link's owner sends every frame put in `out` and hands this phone,
    /// through `inbox`, the DHCP frames for its MAC.
    Frames {
        out: mpsc::Sender<Vec<u8>>,
        inbox: mpsc::Receiver<Vec<u8>>,
        mac: [u8; 6],
        /// The server's MAC, learnt from its replies (for unicast renewal).
        server_mac: Option<[u8; 6]>,
    },
}

impl DhcpLink {
    /// Open the raw link on `ifname` for `mac`.
    pub fn raw(ifname: &str, mac: [u8; 6]) -> io::Result<Self> {
        let socket = RawSocket::open(ifname)?;
        let drain = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, DHCP_CLIENT_PORT))
            .and_then(|s| {
                s.set_nonblocking(true)?;
                UdpSocket::from_std(s)
            })
            .map_err(|e| tracing::debug!(error = %e, "no udp/68 drain socket"))
            .ok();
        Ok(DhcpLink::Raw {
            socket,
            mac,
            server_mac: None,
            drain,
        })
    }

    /// The shared link of a phone with `mac`: frames out through `out`, its DHCP frames in
    /// through `inbox`.
    pub fn frames(
        out: mpsc::Sender<Vec<u8>>,
        inbox: mpsc::Receiver<Vec<u8>>,
        mac: [u8; 6],
    ) -> Self {
        DhcpLink::Frames {
            out,
            inbox,
            mac,
            server_mac: None,
        }
    }

    /// Open the loopback link towards `server`.
    pub async fn udp(server: SocketAddr) -> io::Result<Self> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        Ok(DhcpLink::Udp { socket, server })
    }

    async fn send(&mut self, tx: &Transmit) -> io::Result<()> {
        match self {
            DhcpLink::Raw {
                socket,
                mac,
                server_mac,
                ..
            } => {
                let frame = client_frame(tx, *mac, *server_mac);
                socket.send(&frame).await
            }
            DhcpLink::Frames {
                out,
                mac,
                server_mac,
                ..
            } => {
                let frame = client_frame(tx, *mac, *server_mac);
                out.send(frame).await.map_err(|_| {
                    io::Error::new(io::ErrorKind::BrokenPipe, "the shared link is closed")
                })
            }
            DhcpLink::Udp { socket, server } => {
                if let Some(vlan) = tx.vlan {
                    tracing::warn!(vlan, "loopback mode cannot tag frames: sent untagged");
                }
                socket.send_to(&tx.payload, *server).await.map(|_| ())
            }
        }
    }

    /// The next DHCP reply: the VLAN it came on (`None`: untagged) and the UDP payload.
    async fn recv(&mut self) -> io::Result<(Option<u16>, Vec<u8>)> {
        match self {
            DhcpLink::Raw {
                socket,
                server_mac,
                drain,
                ..
            } => loop {
                let mut scratch = [0u8; 2048];
                let frame = match drain {
                    Some(d) => tokio::select! {
                        f = socket.recv() => f?,
                        _ = d.recv_from(&mut scratch) => continue,
                    },
                    None => socket.recv().await?,
                };
                if let Some(udp) = frame.udp()
                    && udp.dst_port == DHCP_CLIENT_PORT
                    && udp.src_port == DHCP_SERVER_PORT
                {
                    *server_mac = Some(udp.src_mac);
                    return Ok((udp.vlan, udp.payload));
                }
            },
            DhcpLink::Frames {
                inbox, server_mac, ..
            } => loop {
                let Some(bytes) = inbox.recv().await else {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the shared link is closed",
                    ));
                };
                if let Some(udp) = raw::parse_udp_frame(&bytes)
                    && udp.dst_port == DHCP_CLIENT_PORT
                    && udp.src_port == DHCP_SERVER_PORT
                {
                    *server_mac = Some(udp.src_mac);
                    return Ok((udp.vlan, udp.payload));
                }
            },
            // The 64 KiB buffer (a UDP datagram's limit) exists only while a datagram is
            // read, not while the phone waits: a process running many phones keeps none.
            DhcpLink::Udp { socket, .. } => loop {
                socket.readable().await?;
                let mut buf = vec![0u8; 65536];
                match socket.try_recv_from(&mut buf) {
                    Ok((n, _from)) => return Ok((None, buf[..n].to_vec())),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            },
        }
    }
}

/// The Ethernet frame carrying `tx` from `mac`: broadcast, or to the server's MAC once known.
fn client_frame(tx: &Transmit, mac: [u8; 6], server_mac: Option<[u8; 6]>) -> Vec<u8> {
    let (dst_mac, dst_ip) = match tx.destination {
        Destination::Broadcast => (BROADCAST_MAC, Ipv4Addr::BROADCAST),
        Destination::Server(ip) => (server_mac.unwrap_or(BROADCAST_MAC), ip),
    };
    raw::build_udp_frame(
        mac,
        dst_mac,
        tx.vlan,
        (tx.source, DHCP_CLIENT_PORT),
        (dst_ip, DHCP_SERVER_PORT),
        &tx.payload,
    )
}

/// The lease as the rest of the phone sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseStatus {
    /// Bumped on every new lease and every loss (not on a renewal of the same address).
    pub generation: u64,
    pub lease: Option<Lease>,
}

/// What the phone asks of its DHCP task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// Drop the lease, start again untagged at INIT (a reboot).
    Restart,
    /// Release the lease and run DHCP tagged with `vlan`; fall back untagged after
    /// `vlantest` without an offer (`None`: never).
    SwitchVlan {
        vlan: u16,
        vlantest: Option<Duration>,
    },
}

/// Control over the running DHCP task.
#[derive(Debug)]
pub struct DhcpHandle {
    pub status: watch::Receiver<LeaseStatus>,
    commands: mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
}

impl DhcpHandle {
    /// Drop the lease and start again at INIT (a reboot).
    pub async fn restart(&self) {
        let _ = self.commands.send(Command::Restart).await;
    }

    /// Release the lease and run DHCP again tagged with `vlan` (L2QVLAN), falling back to
    /// untagged DHCP after `vlantest` phone time without an offer (`None`: VLANTEST=0, never).
    /// `vlan` 0 releases the lease and runs DHCP untagged. The current lease is gone from
    /// then on (the generation moves on).
    pub async fn switch_vlan(&self, vlan: u16, vlantest: Option<Duration>) {
        let _ = self
            .commands
            .send(Command::SwitchVlan { vlan, vlantest })
            .await;
    }

    /// Wait for a lease newer than generation `after` and return it with its generation.
    /// (After [`restart`](Self::restart) the old lease may still be published for a moment;
    /// the generation tells it apart.)
    pub async fn wait_lease(&mut self, after: u64) -> (u64, Lease) {
        loop {
            {
                let s = self.status.borrow_and_update();
                if let Some(l) = &s.lease
                    && s.generation > after
                {
                    return (s.generation, l.clone());
                }
            }
            if self.status.changed().await.is_err() {
                // The DHCP task ended (cannot happen while the handle lives): wait forever.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Resolve when the lease of `generation` is gone (lost, or replaced by a new one).
    pub async fn lost(&self, generation: u64) {
        let mut rx = self.status.clone();
        loop {
            if rx.borrow_and_update().generation != generation {
                return;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Drop for DhcpHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start the DHCP task.
pub fn spawn(mut link: DhcpLink, mut client: DhcpClient, clock: PhoneClock) -> DhcpHandle {
    let (status_tx, status) = watch::channel(LeaseStatus::default());
    let (commands, mut commands_rx) = mpsc::channel::<Command>(4);
    let task = tokio::spawn(async move {
        let mut generation = 0u64;
        loop {
            // A year stands in for "never"; the client always has a deadline in practice.
            let deadline = client
                .next_deadline()
                .unwrap_or(Duration::from_secs(365 * 86_400));
            let events = tokio::select! {
                _ = clock.sleep_until(deadline) => client.poll(clock.now()),
                r = link.recv() => match r {
                    Ok((vlan, payload)) => client.handle_on(clock.now(), vlan, &payload),
                    Err(e) => {
                        tracing::warn!(error = %e, "dhcp receive failed");
                        clock.sleep(Duration::from_millis(500)).await;
                        Vec::new()
                    }
                },
                cmd = commands_rx.recv() => {
                    let Some(cmd) = cmd else { return };
                    generation += 1;
                    status_tx.send_replace(LeaseStatus { generation, lease: None });
                    match cmd {
                        Command::Restart => {
                            client.restart();
                            client.poll(clock.now())
                        }
                        Command::SwitchVlan { vlan, vlantest } => {
                            client.switch_vlan(clock.now(), vlan, vlantest)
                        }
                    }
                }
            };
            for event in events {
                match event {
                    Event::Transmit(tx) => {
                        if tx.message_type == MessageType::Release {
                            milestone::emit(
                                "dhcp-release",
                                json!({"address": tx.source.to_string(), "vlan": tx.vlan}),
                            );
                        }
                        if let Err(e) = link.send(&tx).await {
                            tracing::warn!(error = %e, kind = ?tx.message_type, "dhcp send failed");
                        }
                    }
                    Event::Bound(lease) => {
                        generation += 1;
                        status_tx.send_replace(LeaseStatus {
                            generation,
                            lease: Some(lease),
                        });
                    }
                    Event::Renewed(lease) => {
                        milestone::emit(
                            "lease-renewed",
                            json!({"address": lease.address.to_string(), "lease_s": lease.lease_time.as_secs(), "vlan": lease.vlan}),
                        );
                        let same = status_tx
                            .borrow()
                            .lease
                            .as_ref()
                            .is_some_and(|l| l.address == lease.address);
                        if !same {
                            generation += 1;
                        }
                        status_tx.send_replace(LeaseStatus {
                            generation,
                            lease: Some(lease),
                        });
                    }
                    Event::LeaseLost { reason } => {
                        tracing::warn!(%reason, "lease lost");
                        milestone::emit("lease-lost", json!({"reason": reason}));
                        generation += 1;
                        status_tx.send_replace(LeaseStatus {
                            generation,
                            lease: None,
                        });
                    }
                    Event::Ignored { reason } => {
                        tracing::info!(%reason, "dhcp reply ignored");
                        milestone::emit("dhcp-ignored", json!({"reason": reason}));
                    }
                    Event::Renewing { address, server } => milestone::emit(
                        "renewing",
                        json!({"address": address.to_string(), "server": server.to_string()}),
                    ),
                    Event::Rebinding { address } => {
                        milestone::emit("rebinding", json!({"address": address.to_string()}))
                    }
                    Event::VlanFallback { vlan, waited } => milestone::emit(
                        "vlan-fallback",
                        json!({"vlan": vlan, "waited_s": waited.as_secs_f64(), "now": "untagged"}),
                    ),
                }
            }
        }
    });
    DhcpHandle {
        status,
        commands,
        task,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x00, 0x1b, 0x4f, 0x42, 0x00, 0x07];
    const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];

    fn discover() -> Transmit {
        Transmit {
            destination: Destination::Broadcast,
            source: Ipv4Addr::UNSPECIFIED,
            message_type: MessageType::Discover,
            vlan: None,
            payload: vec![1, 2, 3],
        }
    }

    #[tokio::test]
    async fn a_shared_link_sends_from_the_phones_mac_and_takes_only_dhcp_replies() {
        let (out_tx, mut out_rx) = mpsc::channel(4);
        let (in_tx, in_rx) = mpsc::channel(4);
        let mut link = DhcpLink::frames(out_tx, in_rx, MAC);

        link.send(&discover()).await.expect("send");
        let sent = out_rx.recv().await.expect("a frame goes out");
        let udp = raw::parse_udp_frame(&sent).expect("an ethernet/ipv4/udp frame");
        assert_eq!(udp.src_mac, MAC);
        assert_eq!(udp.dst_mac, BROADCAST_MAC);
        assert_eq!((udp.src_port, udp.dst_port), (68, 67));
        assert_eq!(udp.payload, vec![1, 2, 3]);

        // Something that is not a DHCP reply is passed over; the reply after it is taken, and
        // its sender becomes the server a renewal is unicast to.
        let other = raw::build_udp_frame(
            SERVER_MAC,
            MAC,
            None,
            (Ipv4Addr::new(10, 66, 0, 1), 5060),
            (Ipv4Addr::new(10, 66, 0, 100), 5060),
            b"not dhcp",
        );
        let reply = raw::build_udp_frame(
            SERVER_MAC,
            BROADCAST_MAC,
            None,
            (Ipv4Addr::new(10, 66, 0, 1), 67),
            (Ipv4Addr::BROADCAST, 68),
            b"offer",
        );
        in_tx.send(other).await.expect("queue");
        in_tx.send(reply).await.expect("queue");
        let (vlan, payload) = link.recv().await.expect("the reply");
        assert_eq!((vlan, payload.as_slice()), (None, &b"offer"[..]));

        let renew = Transmit {
            destination: Destination::Server(Ipv4Addr::new(10, 66, 0, 1)),
            source: Ipv4Addr::new(10, 66, 0, 100),
            ..discover()
        };
        link.send(&renew).await.expect("send");
        let sent = out_rx.recv().await.expect("a frame goes out");
        let udp = raw::parse_udp_frame(&sent).expect("udp");
        assert_eq!(udp.dst_mac, SERVER_MAC);

        drop(in_tx);
        assert!(link.recv().await.is_err(), "a closed link is an error");
    }
}
