//! DHCP I/O shell: moves the client's messages over raw frames (`--iface`) or a UDP socket
//! (`--dhcp-server`, loopback), and runs the client's timers on the phone clock.
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
                let (dst_mac, dst_ip) = match tx.destination {
                    Destination::Broadcast => (BROADCAST_MAC, Ipv4Addr::BROADCAST),
                    Destination::Server(ip) => (server_mac.unwrap_or(BROADCAST_MAC), ip),
                };
                let frame = raw::build_udp_frame(
                    *mac,
                    dst_mac,
                    tx.vlan,
                    (tx.source, DHCP_CLIENT_PORT),
                    (dst_ip, DHCP_SERVER_PORT),
                    &tx.payload,
                );
                socket.send(&frame).await
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
            DhcpLink::Udp { socket, .. } => {
                let mut buf = vec![0u8; 65536];
                let (n, _from) = socket.recv_from(&mut buf).await?;
                buf.truncate(n);
                Ok((None, buf))
            }
        }
    }
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
