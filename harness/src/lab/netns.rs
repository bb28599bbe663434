//! The `netns` lab: two network namespaces joined by a veth pair.
//!
//! Setup and teardown use iproute2's `ip` (present on every Linux lab machine, and what an
//! admin would type to reproduce the lab by hand); the servers' sockets are then created
//! inside the infrastructure namespace with `pc_capture::netns::in_netns`.
//!
//! Namespace names carry the creating process's pid (hex) and a counter, apart:
//! `pc-<pid>-<n>-infra` / `pc-<pid>-<n>-phone` (and `pc-<pid>-<n>-router`, below). The veth is created with its ends already
//! inside the two namespaces (`pc<pid><n>i`, `pc<pid><n>p`), so no link ever exists outside
//! them and the namespaces are all a run can leave. A run killed with SIGKILL cannot remove
//! its pair; [`remove_stale`] does, at the start of a later run, for every pid that no
//! longer exists — never for a live one, and never for a name not made this way.
//!
//! Relayed topology ([`NetnsPair::create_relayed`]): a third namespace, the router
//! (`pc-<pid>-<n>-router`), sits between the two on two veth links — the phone's link
//! (`…p` in the phone's namespace, `…a` in the router's, 10.66.1.0/24 with the router at
//! .1) and the server link (`…b` in the router's, `…i` in the infrastructure's,
//! 10.66.0.0/24 with the servers at .1 and the router at .2). IP forwarding is switched on
//! in the router's namespace alone (each namespace has its own `net.ipv4.ip_forward`), the
//! infrastructure reaches the phone's subnet through the router, and the phone reaches the
//! servers only through its default router (option 3). The DHCP relay agent runs on the
//! router (`pc_dhcp::relay_shell`), on the sockets [`NetnsPair::bind_relay`] makes there.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, UdpSocket};
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
    /// The router between the phone's link and the server link, in the relayed topology.
    pub router: Option<Router>,
    created: Vec<String>,
}

/// The router of the relayed topology: its namespace, its two interfaces and addresses.
#[derive(Debug, Clone)]
pub struct Router {
    /// The router's namespace.
    pub ns: String,
    /// Its end of the phone's link (the relay agent listens here; captured).
    pub client_if: String,
    /// Its end of the server link.
    pub server_if: String,
    /// Its address on the phone's link: the relay agent's `giaddr` and the phone's option 3.
    pub client_ip: Ipv4Addr,
    /// Its address on the server link.
    pub server_side_ip: Ipv4Addr,
    /// The phone's subnet (the router at `server_ip`, the pool the DHCP server leases there).
    pub subnet: LabAddrs,
}

impl Router {
    /// The addresses of the relayed topology's phone subnet: 10.66.1.0/24, router at .1.
    pub fn subnet() -> LabAddrs {
        LabAddrs {
            server_ip: Ipv4Addr::new(10, 66, 1, 1),
            mask: Ipv4Addr::new(255, 255, 255, 0),
            pool_start: Ipv4Addr::new(10, 66, 1, 100),
            pool_end: Ipv4Addr::new(10, 66, 1, 199),
            dead_ip: Ipv4Addr::new(10, 66, 1, 254),
        }
    }
}

fn run(args: &[&str]) -> Result<(), LabError> {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..]);
    crate::proc::die_with_parent(&mut cmd);
    let out = cmd.output().map_err(|e| LabError::Command {
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
        Self::create_with(Self::addrs())
    }

    /// Creates the pair with `addrs` instead of the usual ones: the server address goes on
    /// the infrastructure's end with the prefix of `addrs.mask` (a boot storm needs a pool
    /// larger than a /24).
    pub fn create_with(addrs: LabAddrs) -> Result<NetnsPair, LabError> {
        if !super::is_root() {
            return Err(LabError::NeedsRoot);
        }
        let pid = std::process::id();
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let mut pair = NetnsPair {
            infra_ns: format!("pc-{pid:x}-{seq}-infra"),
            phone_ns: format!("pc-{pid:x}-{seq}-phone"),
            infra_if: format!("pc{pid:x}{seq}i"),
            phone_if: format!("pc{pid:x}{seq}p"),
            addrs,
            router: None,
            created: Vec::new(),
        };
        pair.setup()?;
        Ok(pair)
    }

    /// Creates the relayed topology (see the module header): phone, router and
    /// infrastructure namespaces on two links. On any error, what was created so far is
    /// removed again.
    pub fn create_relayed() -> Result<NetnsPair, LabError> {
        if !super::is_root() {
            return Err(LabError::NeedsRoot);
        }
        let pid = std::process::id();
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let subnet = Router::subnet();
        let mut pair = NetnsPair {
            infra_ns: format!("pc-{pid:x}-{seq}-infra"),
            phone_ns: format!("pc-{pid:x}-{seq}-phone"),
            infra_if: format!("pc{pid:x}{seq}i"),
            phone_if: format!("pc{pid:x}{seq}p"),
            addrs: Self::addrs(),
            router: Some(Router {
                ns: format!("pc-{pid:x}-{seq}-router"),
                client_if: format!("pc{pid:x}{seq}a"),
                server_if: format!("pc{pid:x}{seq}b"),
                client_ip: subnet.server_ip,
                server_side_ip: Ipv4Addr::new(10, 66, 0, 2),
                subnet,
            }),
            created: Vec::new(),
        };
        pair.setup_relayed()?;
        Ok(pair)
    }

    fn setup_relayed(&mut self) -> Result<(), LabError> {
        let Some(r) = self.router.clone() else {
            return self.setup();
        };
        let (ins, pns, iif, pif) = (
            self.infra_ns.clone(),
            self.phone_ns.clone(),
            self.infra_if.clone(),
            self.phone_if.clone(),
        );
        for ns in [&ins, &pns, &r.ns] {
            run(&["ip", "netns", "add", ns])?;
            self.created.push(ns.clone());
        }
        // The phone's link, then the server link; every end born in its namespace.
        run(&[
            "ip",
            "link",
            "add",
            &pif,
            "netns",
            &pns,
            "type",
            "veth",
            "peer",
            "name",
            &r.client_if,
            "netns",
            &r.ns,
        ])?;
        run(&[
            "ip",
            "link",
            "add",
            &iif,
            "netns",
            &ins,
            "type",
            "veth",
            "peer",
            "name",
            &r.server_if,
            "netns",
            &r.ns,
        ])?;
        for (ns, devs) in [
            (&ins, vec![&iif]),
            (&pns, vec![&pif]),
            (&r.ns, vec![&r.client_if, &r.server_if]),
        ] {
            let mut script = String::from("for k in all default");
            for d in &devs {
                script.push(' ');
                script.push_str(d);
            }
            script.push_str(
                "; do echo 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6 2>/dev/null; done; true",
            );
            run(&["ip", "netns", "exec", ns, "sh", "-c", &script])?;
        }
        let prefix = |m: Ipv4Addr| u32::from(m).leading_ones();
        let server_cidr = format!("{}/{}", self.addrs.server_ip, prefix(self.addrs.mask));
        let uplink_cidr = format!("{}/{}", r.server_side_ip, prefix(self.addrs.mask));
        let client_cidr = format!("{}/{}", r.client_ip, prefix(r.subnet.mask));
        run(&["ip", "-n", &ins, "addr", "add", &server_cidr, "dev", &iif])?;
        run(&[
            "ip",
            "-n",
            &r.ns,
            "addr",
            "add",
            &uplink_cidr,
            "dev",
            &r.server_if,
        ])?;
        run(&[
            "ip",
            "-n",
            &r.ns,
            "addr",
            "add",
            &client_cidr,
            "dev",
            &r.client_if,
        ])?;
        for (ns, dev) in [
            (&ins, &iif),
            (&pns, &pif),
            (&r.ns, &r.client_if),
            (&r.ns, &r.server_if),
        ] {
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
            run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        // Forwarding only in the router's own namespace: the harness's and the host's stay
        // as they are.
        run(&[
            "ip",
            "netns",
            "exec",
            &r.ns,
            "sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv4/ip_forward",
        ])?;
        let phone_net = format!(
            "{}/{}",
            Ipv4Addr::from(u32::from(r.subnet.server_ip) & u32::from(r.subnet.mask)),
            prefix(r.subnet.mask)
        );
        let via = r.server_side_ip.to_string();
        run(&[
            "ip", "-n", &ins, "route", "add", &phone_net, "via", &via, "dev", &iif,
        ])?;
        Ok(())
    }

    /// The relay agent's sockets in the router's namespace: port 67 on each of its two
    /// interfaces, and a raw socket on the phone's link. `None` outside the relayed topology.
    pub fn bind_relay(&self) -> Option<Result<pc_dhcp::relay_shell::RelaySockets, LabError>> {
        let r = self.router.clone()?;
        let what = format!(
            "0.0.0.0:67 on {} and {} in {}",
            r.client_if, r.server_if, r.ns
        );
        let result = pc_capture::netns::in_netns(&r.ns, move || {
            let on = |dev: &str| -> std::io::Result<UdpSocket> {
                let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
                s.set_reuse_address(true)?;
                s.set_broadcast(true)?;
                super::enlarge_recv_buffer(&s);
                s.bind_device(Some(dev.as_bytes()))?;
                s.bind(&std::net::SocketAddr::from((Ipv4Addr::UNSPECIFIED, 67)).into())?;
                Ok(UdpSocket::from(s))
            };
            Ok(pc_dhcp::relay_shell::RelaySockets {
                client: on(&r.client_if)?,
                server: on(&r.server_if)?,
                raw: pc_capture::rawsock::RawSocket::open(&r.client_if)?,
            })
        });
        Some(result.map_err(|source| LabError::Bind {
            what: "dhcp relay",
            addr: what,
            source,
        }))
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
        // Both ends are born in their namespaces: nothing is ever left outside them.
        run(&[
            "ip", "link", "add", &iif, "netns", &ins, "type", "veth", "peer", "name", &pif,
            "netns", &pns,
        ])?;
        // No IPv6 on the lab link: router solicitations and MLD reports would only be noise
        // in the evidence (the 9600 SIP profile is IPv4).
        for (ns, dev) in [(&ins, &iif), (&pns, &pif)] {
            let script = format!(
                "for k in all default {dev}; do echo 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6 2>/dev/null; done; true"
            );
            run(&["ip", "netns", "exec", ns, "sh", "-c", &script])?;
        }
        let prefix = u32::from(self.addrs.mask).leading_ones();
        let cidr = format!("{}/{prefix}", self.addrs.server_ip);
        run(&["ip", "-n", &ins, "addr", "add", &cidr, "dev", &iif])?;
        for (ns, dev) in [(&ins, &iif), (&pns, &pif)] {
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
            run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(())
    }

    /// Binds the servers inside the infrastructure namespace: DHCP on 0.0.0.0:67 bound to the
    /// lab interface (it must hear broadcasts from clients without an address) plus a raw socket
    /// for unicast replies to a MAC; HTTP on :80 (HTTPS on `https_port` when given) and SIP
    /// on :5060 of the server address, and further controllers on :5061, :5062 ….
    pub fn bind_servers(
        &self,
        controllers: usize,
        http_port: u16,
        https_port: Option<u16>,
    ) -> Result<ServerSockets, LabError> {
        let iface = self.infra_if.clone();
        let ip = self.addrs.server_ip;
        let err =
            |what: &'static str, addr: String| move |source| LabError::Bind { what, addr, source };
        let (dhcp, raw) = self.bind_dhcp(&iface)?;
        let http = pc_capture::netns::in_netns(&self.infra_ns, move || {
            super::server_tcp((ip, http_port).into())
        })
        .map_err(err("http", format!("{ip}:{http_port}")))?;
        let https = match https_port {
            Some(port) => Some(
                pc_capture::netns::in_netns(&self.infra_ns, move || {
                    super::server_tcp((ip, port).into())
                })
                .map_err(err("https", format!("{ip}:{port}")))?,
            ),
            None => None,
        };
        let sip = (0..controllers.max(1))
            .map(|i| {
                let port = 5060 + u16::try_from(i).unwrap_or(0);
                pc_capture::netns::in_netns(&self.infra_ns, move || {
                    super::server_udp((ip, port).into())
                })
                .map_err(err("sip", format!("{ip}:{port}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sip_tcp = (0..controllers.max(1))
            .map(|i| {
                let port = 5060 + u16::try_from(i).unwrap_or(0);
                pc_capture::netns::in_netns(&self.infra_ns, move || {
                    super::server_tcp((ip, port).into())
                })
                .map_err(err("sip tcp", format!("{ip}:{port}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ServerSockets {
            dhcp,
            dhcp_raw: Some(raw),
            http,
            https,
            sip,
            sip_tcp,
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
        Ok(VlanLeg {
            id,
            addrs: super::vlan_addrs(n),
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
                super::enlarge_recv_buffer(&s);
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

    /// Removes the namespaces (and with them the veth): first every process still inside
    /// them, then the namespaces. A device under test may leave processes behind that its
    /// process group does not hold (a daemon that called setsid); as long as one lives, the
    /// namespace and its veth outlive `ip netns del`. Called by `Drop`; safe to call twice.
    pub fn remove(&mut self) {
        for ns in self.created.drain(..) {
            if let Err(e) = empty_and_delete(&ns) {
                tracing::warn!("could not remove namespace {ns}: {e}");
            }
        }
    }
}

/// The pid in a lab namespace name (`pc-<pid in hex>-<n>-infra|phone`), if it is one.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("pc-")?;
    let (hex, rest) = rest.split_once('-')?;
    let (seq, role) = rest.split_once('-')?;
    let digits = |t: &str, radix| !t.is_empty() && t.chars().all(|c| c.is_digit(radix));
    if !digits(hex, 16) || !digits(seq, 10) || !matches!(role, "infra" | "phone" | "router") {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

/// Whether process `pid` exists (pid namespaces aside, `/proc/<pid>` is there exactly then).
fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The processes whose network namespace is `ns` (`ip netns pids`), the harness itself
/// excepted.
fn pids_in(ns: &str) -> Vec<libc::pid_t> {
    let own = i64::from(std::process::id());
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "pids", ns]);
    crate::proc::die_with_parent(&mut cmd);
    let Ok(out) = cmd.output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<libc::pid_t>().ok())
        .filter(|&pid| pid > 0 && i64::from(pid) != own)
        .collect()
}

/// How long [`empty_and_delete`] waits for killed processes to leave their namespace.
const EMPTY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Kills every process inside namespace `ns` with SIGKILL, waits (bounded) until none is
/// left, then deletes the namespace. The one way a lab namespace goes, at the end of a
/// scenario and for a dead run's leftovers alike: `ip netns del` alone only drops the name,
/// and the namespace with its veth lives on as long as any process inside it does.
fn empty_and_delete(ns: &str) -> Result<(), LabError> {
    let deadline = std::time::Instant::now() + EMPTY_WITHIN;
    loop {
        let pids = pids_in(ns);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            // SAFETY: kill(2) on a pid read from the namespace; at worst ESRCH.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        if std::time::Instant::now() >= deadline {
            tracing::warn!("processes are still inside namespace {ns} after SIGKILL");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    run(&["ip", "netns", "del", ns])
}

/// Removes the namespaces (and with them their veth) that runs whose process is gone left
/// behind (a run killed with SIGKILL): first every process still inside such a namespace (a
/// device under test that outlived its harness), then the namespace. Pairs of live
/// processes are never touched (a reused pid keeps its leftovers until it ends, the safe
/// side). Returns the names removed.
pub fn remove_stale() -> Vec<String> {
    let mut removed = Vec::new();
    let own = std::process::id();
    let stale = |name: &str| owner_pid(name).is_some_and(|pid| pid != own && !alive(pid));
    let namespaces: BTreeSet<String> = std::fs::read_dir(pc_capture::netns::NETNS_RUN_DIR)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for ns in namespaces.iter().filter(|n| stale(n)) {
        match empty_and_delete(ns) {
            Ok(()) => removed.push(ns.clone()),
            Err(e) => tracing::warn!("could not remove the stale namespace {ns}: {e}"),
        }
    }
    removed
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        self.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_names_give_back_their_pid_and_nothing_else_does() {
        assert_eq!(owner_pid("pc-1a2b3-0-infra"), Some(0x1a2b3));
        assert_eq!(owner_pid("pc-1a2b3-12-phone"), Some(0x1a2b3));
        assert_eq!(owner_pid("pc-1a2b3-4-router"), Some(0x1a2b3));
        // Names of the older form `pc-<pid><n>-…` cannot be read back (pid and counter run
        // together): they are never taken for a dead run's, nor are foreign names.
        for other in [
            "pc-493c11-infra",
            "pc-1a2b3--infra",
            "pc--1-infra",
            "pc-1a2b3-x-phone",
            "pc-1a2b3-0-other",
            "pc-zz-0-infra",
            "pc1a2b30i",
            "netns0",
        ] {
            assert_eq!(owner_pid(other), None, "{other}");
        }
    }

    #[test]
    fn interface_names_fit_the_kernel_limit() {
        let pid = 4_194_304u32; // the largest pid_max
        assert!(format!("pc{pid:x}{}p", 999_999).len() <= 15);
    }

    #[test]
    fn live_processes_are_alive_and_made_up_ones_are_not() {
        assert!(alive(std::process::id()));
        assert!(!alive(u32::MAX));
    }
}
