//! The `netns` lab: two network namespaces joined by a veth pair.
//!
//! Setup and teardown use iproute2's `ip` (present on every Linux lab machine, and what an
//! admin would type to reproduce the lab by hand); the servers' sockets are then created
//! inside the infrastructure namespace with `pc_capture::netns::in_netns`.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use socket2::{Domain, Protocol, Socket, Type};

use super::{LabAddrs, LabError, ServerSockets, VlanLeg};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A namespace pair and its veth link; removed on drop.
#[derive(Debug)]
pub struct NetnsPair {
    /// The infrastructure namespace.
    pub infra_ns: String,
    /// The phone's namespace.
    pub phone_ns: String,
    /// The infrastructure end of the veth (capture runs here).
    pub infra_if: String,
    /// The phone's end of the veth.
    pub phone_if: String,
    /// Addresses used.
    pub addrs: LabAddrs,
    created: Vec<String>,
}

fn run(args: &[&str]) -> Result<(), LabError> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| LabError::Command {
            command: args.join(" "),
            why: format!("could not start: {e} (is iproute2 installed?)"),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError::Command {
            command: args.join(" "),
            why: format!(
                "failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

impl NetnsPair {
    /// The addresses every netns lab uses (namespaces isolate them, so runs can overlap).
    pub fn addrs() -> LabAddrs {
        LabAddrs {
            server_ip: Ipv4Addr::new(10, 66, 0, 1),
            mask: Ipv4Addr::new(255, 255, 255, 0),
            pool_start: Ipv4Addr::new(10, 66, 0, 100),
            pool_end: Ipv4Addr::new(10, 66, 0, 199),
            dead_ip: Ipv4Addr::new(10, 66, 0, 254),
        }
    }

    /// Creates the pair. On any error, what was created so far is removed again.
    pub fn create() -> Result<NetnsPair, LabError> {
        if !super::is_root() {
            return Err(LabError::NeedsRoot);
        }
        let pid = std::process::id();
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{pid:x}{seq}");
        let mut pair = NetnsPair {
            infra_ns: format!("pc-{tag}-infra"),
            phone_ns: format!("pc-{tag}-phone"),
            infra_if: format!("pc{tag}i"),
            phone_if: format!("pc{tag}p"),
            addrs: Self::addrs(),
            created: Vec::new(),
        };
        pair.setup()?;
        Ok(pair)
    }

    fn setup(&mut self) -> Result<(), LabError> {
        let (ins, pns, iif, pif) = (
            self.infra_ns.clone(),
            self.phone_ns.clone(),
            self.infra_if.clone(),
            self.phone_if.clone(),
        );
        for ns in [&ins, &pns] {
            run(&["ip", "netns", "add", ns])?;
            self.created.push(ns.clone());
        }
        run(&[
            "ip", "link", "add", &iif, "type", "veth", "peer", "name", &pif,
        ])?;
        // From here the veth dies with the namespaces it is moved into; until then, remove it
        // by hand if moving fails.
        let moved = run(&["ip", "link", "set", &iif, "netns", &ins])
            .and_then(|()| run(&["ip", "link", "set", &pif, "netns", &pns]));
        if let Err(e) = moved {
            let _ = run(&["ip", "link", "del", &iif]);
            return Err(e);
        }
        // No IPv6 on the lab link: router solicitations and MLD reports would only be noise
        // in the evidence (the 9600 SIP profile is IPv4).
        for (ns, dev) in [(&ins, &iif), (&pns, &pif)] {
            let script = format!(
                "for k in all default {dev}; do echo 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6 2>/dev/null; done; true"
            );
            run(&["ip", "netns", "exec", ns, "sh", "-c", &script])?;
        }
        let cidr = format!("{}/24", self.addrs.server_ip);
        run(&["ip", "-n", &ins, "addr", "add", &cidr, "dev", &iif])?;
        for (ns, dev) in [(&ins, &iif), (&pns, &pif)] {
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
            run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(())
    }

    /// Binds the servers inside the infrastructure namespace: DHCP on 0.0.0.0:67 bound to the
    /// lab interface (it must hear broadcasts from clients without an address) plus a raw socket
    /// for unicast replies to a MAC; HTTP on :80 and SIP on :5060 of the server address, and
    /// further controllers on :5061, :5062 ….
    pub fn bind_servers(
        &self,
        controllers: usize,
        http_port: u16,
    ) -> Result<ServerSockets, LabError> {
        let iface = self.infra_if.clone();
        let ip = self.addrs.server_ip;
        let err =
            |what: &'static str, addr: String| move |source| LabError::Bind { what, addr, source };
        let (dhcp, raw) = self.bind_dhcp(&iface)?;
        let http =
            pc_capture::netns::in_netns(&self.infra_ns, move || TcpListener::bind((ip, http_port)))
                .map_err(err("http", format!("{ip}:{http_port}")))?;
        let sip = (0..controllers.max(1))
            .map(|i| {
                let port = 5060 + u16::try_from(i).unwrap_or(0);
                pc_capture::netns::in_netns(&self.infra_ns, move || UdpSocket::bind((ip, port)))
                    .map_err(err("sip", format!("{ip}:{port}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ServerSockets {
            dhcp,
            dhcp_raw: Some(raw),
            http,
            sip,
        })
    }

    /// Adds 802.1Q VLAN `id` on the infrastructure's end of the link, served in user space
    /// (`pc_dhcp::vlan`): a raw socket on the lab interface and the VLAN's subnet
    /// 10.(67+`n`).0.0/24. No kernel VLAN device is needed, so this works where the kernel
    /// lacks 802.1Q support; the capture of the link keeps the tags.
    pub fn add_vlan(&self, id: u16, n: u8) -> Result<VlanLeg, LabError> {
        let iface = self.infra_if.clone();
        let raw = pc_capture::netns::in_netns(&self.infra_ns, {
            let iface = iface.clone();
            move || pc_capture::rawsock::RawSocket::open(&iface)
        })
        .map_err(|source| LabError::Bind {
            what: "dhcp (vlan)",
            addr: format!("VLAN {id} on {iface}"),
            source,
        })?;
        let net = 67u8.saturating_add(n);
        Ok(VlanLeg {
            id,
            addrs: LabAddrs {
                server_ip: Ipv4Addr::new(10, net, 0, 1),
                mask: Ipv4Addr::new(255, 255, 255, 0),
                pool_start: Ipv4Addr::new(10, net, 0, 100),
                pool_end: Ipv4Addr::new(10, net, 0, 199),
                dead_ip: Ipv4Addr::new(10, net, 0, 254),
            },
            raw,
        })
    }

    /// DHCP on 0.0.0.0:67 bound to `iface` in the infrastructure namespace, plus a raw socket
    /// for replies to clients without an address.
    fn bind_dhcp(
        &self,
        iface: &str,
    ) -> Result<(UdpSocket, pc_capture::rawsock::RawSocket), LabError> {
        let iface = iface.to_string();
        pc_capture::netns::in_netns(&self.infra_ns, {
            let iface = iface.clone();
            move || {
                let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
                s.set_reuse_address(true)?;
                s.set_broadcast(true)?;
                s.bind_device(Some(iface.as_bytes()))?;
                s.bind(&std::net::SocketAddr::from((Ipv4Addr::UNSPECIFIED, 67)).into())?;
                let raw = pc_capture::rawsock::RawSocket::open(&iface)?;
                Ok((UdpSocket::from(s), raw))
            }
        })
        .map_err(|source| LabError::Bind {
            what: "dhcp",
            addr: format!("0.0.0.0:67 on {iface}"),
            source,
        })
    }

    /// Removes the namespaces (and with them the veth). Called by `Drop`; safe to call twice.
    pub fn remove(&mut self) {
        for ns in self.created.drain(..) {
            if let Err(e) = run(&["ip", "netns", "del", &ns]) {
                tracing::warn!("could not remove namespace {ns}: {e}");
            }
        }
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        self.remove();
    }
}
