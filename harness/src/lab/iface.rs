//! The `iface:NAME` lab: the infrastructure serves on a real interface, and the phone is
//! whatever is plugged into it.
//!
//! Owns: checking the interface (it exists, is up, has carrier), the rogue-server guard's
//! run (one probe before anything else happens; the probe itself is `pc_dhcp::probe`),
//! putting the lab address on the interface and taking it off again — on every way out:
//! the end of the run, an error, Ctrl-C or SIGTERM (the run stops and this value is dropped),
//! a panic (drop during unwinding) — and binding the servers' sockets to that interface.
//!
//! Never: touches anything but the one address it added and the interface's IPv4
//! forwarding (the link state, MTU and other addresses stay as they were), sends beyond the
//! segment: every socket is bound to the interface (SO_BINDTODEVICE), the DHCP server answers
//! the one `--dut-mac` only, the guard's probe is a single link-local broadcast, and the
//! kernel does not route what the phone sends to its default router (the lab address) on to
//! other networks: forwarding of packets arriving on the interface is off for the run. What SIGKILL leaves (the address)
//! cannot be cleaned by the process that was killed: a claim file under
//! [`CLAIM_DIR`] records what the run changed, so the next run on the interface puts it back
//! ([`Claim::take`]); the same file keeps two runs off one interface, where two DHCP servers
//! would answer the phone and the guard could not tell (each answers only its own phone).
//!
//! Follows: Linux sysfs-class-net (`flags`, `carrier`, `operstate`), RFC 2131 §4.1 for the
//! broadcast the guard and the DHCP server rely on.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::{LabAddrs, LabError, ServerSockets, VlanLeg};

/// The lab address used when `--lab-addr` is not given (the netns lab's own).
pub const DEFAULT_LAB_ADDR: &str = "10.66.0.1/24";

/// How long the guard listens for another DHCP server before the first scenario. Servers
/// that check an address is free before offering it answer late: dnsmasq pings it and waits
/// about 3 s, ISC dhcpd 1 s; the probe is sent again every second meanwhile.
pub const PROBE_LISTEN: Duration = Duration::from_secs(6);

/// Where runs claim interfaces (one file per network namespace and interface).
pub const CLAIM_DIR: &str = "/run/phonecert";

/// `IFF_UP` in `/sys/class/net/NAME/flags` (linux/if.h).
const IFF_UP: u32 = 0x1;

/// The lab's own address on the interface, as `--lab-addr` gives it (`A.B.C.D/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabAddr {
    /// The infrastructure's address.
    pub ip: Ipv4Addr,
    /// Prefix length, 8 to 24.
    pub prefix: u8,
}

impl LabAddr {
    /// Reads `A.B.C.D/N`. The subnet must hold the pool (`.100`–`.199` of the server's /24
    /// block) and the dead address (`.254`), so the prefix is 8 to 24; the server address
    /// must be neither of them.
    pub fn parse(text: &str) -> Result<LabAddr, String> {
        let (ip, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not an address with a prefix like 10.66.0.1/24"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("`{ip}` in `{text}` is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=24).contains(p))
            .ok_or_else(|| {
                format!("the prefix of `{text}` must be 8 to 24 (the pool is .100-.199 of a /24)")
            })?;
        let addr = LabAddr { ip, prefix };
        let host = ip.octets()[3];
        if (100..=199).contains(&host) || host == 254 || host == 0 || host == 255 {
            return Err(format!(
                "`{text}`: the server address must not end in .0, .100-.199 (the pool), .254 (the dead address) or .255"
            ));
        }
        Ok(addr)
    }

    /// The addresses the lab uses around it: the pool is `.100`–`.199` and the dead
    /// address `.254` of the server's /24 block.
    pub fn addrs(&self) -> LabAddrs {
        let [a, b, c, _] = self.ip.octets();
        let mask = u32::MAX << (32 - u32::from(self.prefix));
        LabAddrs {
            server_ip: self.ip,
            mask: Ipv4Addr::from(mask),
            pool_start: Ipv4Addr::new(a, b, c, 100),
            pool_end: Ipv4Addr::new(a, b, c, 199),
            dead_ip: Ipv4Addr::new(a, b, c, 254),
        }
    }
}

impl std::fmt::Display for LabAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix)
    }
}

fn sys(name: &str, file: &str) -> PathBuf {
    PathBuf::from("/sys/class/net").join(name).join(file)
}

/// Whether `name` can be a Linux interface name (so it is safe in a sysfs path).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != ':')
}

/// Checks that interface `name` exists, is up and has carrier: the three ways a lab port is
/// not ready, each with its reason.
pub fn check_link(name: &str) -> Result<(), LabError> {
    let why = |why: &str| LabError::Interface {
        name: name.to_string(),
        why: why.to_string(),
    };
    if !sys(name, "").is_dir() {
        return Err(why(
            "does not exist (see `ip link`; in a network namespace, run phonecert inside it)",
        ));
    }
    let flags = std::fs::read_to_string(sys(name, "flags"))
        .ok()
        .and_then(|t| u32::from_str_radix(t.trim().trim_start_matches("0x"), 16).ok())
        .ok_or_else(|| why("has no readable flags in /sys/class/net"))?;
    if flags & IFF_UP == 0 {
        return Err(why(&format!(
            "is down (administratively); bring it up with `ip link set {name} up`"
        )));
    }
    // Reading `carrier` fails (EINVAL) while the interface is down; it is up here.
    let carrier = std::fs::read_to_string(sys(name, "carrier")).unwrap_or_default();
    if carrier.trim() != "1" {
        return Err(why(
            "has no carrier: no cable, or the phone or switch at the other end is off",
        ));
    }
    Ok(())
}

/// The IPv4 addresses on `name` (`ip -4 -o addr show dev NAME`), as `A.B.C.D/N`.
pub fn ipv4_addrs(name: &str) -> Result<Vec<String>, LabError> {
    let out = ip_output(&["-4", "-o", "addr", "show", "dev", name])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "inet")?;
            words.next().map(str::to_string)
        })
        .collect())
}

fn ip_output(args: &[&str]) -> Result<String, LabError> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    crate::proc::die_with_parent(&mut cmd);
    let command = format!("ip {}", args.join(" "));
    let out = cmd.output().map_err(|e| LabError::Command {
        command: command.clone(),
        why: format!("could not start: {e} (is iproute2 installed?)"),
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Command {
            command,
            why: format!(
                "failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

/// Probes the segment of `name` for another DHCP server (a DISCOVER from a random locally
/// administered MAC, [`PROBE_LISTEN`]); `Err(LabError::ForeignDhcp)` naming each one that
/// answered.
pub async fn guard(name: &str) -> Result<(), LabError> {
    let mut random = [0u8; 10];
    fill_random(&mut random);
    let mac = pc_dhcp::guard::local_mac([
        random[0], random[1], random[2], random[3], random[4], random[5],
    ]);
    let xid = u32::from_be_bytes([random[6], random[7], random[8], random[9]]);
    let found = pc_dhcp::probe::probe(name, mac, xid, PROBE_LISTEN)
        .await
        .map_err(|source| LabError::Probe {
            name: name.to_string(),
            source,
        })?;
    if found.is_empty() {
        return Ok(());
    }
    let servers = found
        .iter()
        .map(|s| {
            format!(
                "{} (MAC {}, {} of {})",
                s.ip,
                pc_dhcp::format_mac(&s.mac),
                s.msg_type,
                s.offered
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(LabError::ForeignDhcp {
        name: name.to_string(),
        servers,
    })
}

/// Random bytes from the kernel (getrandom(2)); the probe's MAC and xid only need to differ
/// from run to run, so a short read falls back to the pid and the clock.
fn fill_random(buf: &mut [u8]) {
    // SAFETY: getrandom writes at most `buf.len()` bytes into `buf`, which we own.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if usize::try_from(n).ok() != Some(buf.len()) {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            ^ u128::from(std::process::id());
        for (b, s) in buf.iter_mut().zip(seed.to_le_bytes().iter().cycle()) {
            *b = *s;
        }
    }
}

/// A run's claim on an interface: a file naming the run's pid and what it changed (the
/// address it added, the forwarding it turned off), removed when the claim is dropped.
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
}

/// What a claim file says.
#[derive(Debug, Default, PartialEq, Eq)]
struct ClaimState {
    pid: u32,
    added: Option<String>,
    forwarding_was: Option<String>,
}

impl ClaimState {
    fn parse(text: &str) -> ClaimState {
        let mut st = ClaimState::default();
        for line in text.lines() {
            match line.split_once('=') {
                Some(("pid", v)) => st.pid = v.trim().parse().unwrap_or(0),
                Some(("added", v)) if !v.trim().is_empty() => st.added = Some(v.trim().into()),
                Some(("forwarding", v)) if !v.trim().is_empty() => {
                    st.forwarding_was = Some(v.trim().into());
                }
                _ => {}
            }
        }
        st
    }

    fn text(&self) -> String {
        format!(
            "pid={}\nadded={}\nforwarding={}\n",
            self.pid,
            self.added.as_deref().unwrap_or(""),
            self.forwarding_was.as_deref().unwrap_or("")
        )
    }
}

impl Claim {
    /// Claims interface `name` (of this network namespace) for this process. A claim of a
    /// live process: `Err(LabError::InUse)`. A claim of a process that is gone (killed with
    /// SIGKILL): what it changed is put back first, and said on standard error.
    pub fn take(name: &str) -> Result<Claim, LabError> {
        let ns = std::fs::read_link("/proc/self/ns/net")
            .map(|l| {
                l.to_string_lossy()
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect::<String>()
            })
            .unwrap_or_default();
        let dir = PathBuf::from(CLAIM_DIR);
        let path = dir.join(format!("iface-{ns}-{name}"));
        let io = |e: std::io::Error| LabError::Command {
            command: format!("claim {}", path.display()),
            why: e.to_string(),
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let own = std::process::id();
        for _ in 0..3 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    let state = ClaimState {
                        pid: own,
                        ..ClaimState::default()
                    };
                    f.write_all(state.text().as_bytes()).map_err(io)?;
                    return Ok(Claim { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let old =
                        ClaimState::parse(&std::fs::read_to_string(&path).unwrap_or_default());
                    if old.pid != 0
                        && old.pid != own
                        && std::path::Path::new(&format!("/proc/{}", old.pid)).exists()
                    {
                        return Err(LabError::InUse {
                            name: name.to_string(),
                            pid: old.pid,
                            claim: path.display().to_string(),
                        });
                    }
                    put_back(name, &old);
                    std::fs::remove_file(&path).map_err(io)?;
                }
                Err(e) => return Err(io(e)),
            }
        }
        Err(io(std::io::Error::other(
            "the claim file keeps coming back",
        )))
    }

    /// Records what the run has changed, so that a later run can put it back if this one
    /// is killed.
    fn record(&self, state: &ClaimState) {
        if let Err(e) = std::fs::write(&self.path, state.text()) {
            eprintln!(
                "warning: cannot record the lab's changes in {}: {e}",
                self.path.display()
            );
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Puts back what a killed run recorded in its claim on `name`.
fn put_back(name: &str, old: &ClaimState) {
    let mut done = Vec::new();
    if let Some(cidr) = &old.added
        && ipv4_addrs(name).is_ok_and(|a| a.contains(cidr))
        && ip_output(&["addr", "del", cidr, "dev", name]).is_ok()
    {
        done.push(format!("removed {cidr}"));
    }
    if let Some(was) = &old.forwarding_was
        && std::fs::write(forwarding_path(name), was).is_ok()
    {
        done.push(format!("forwarding set back to {was}"));
    }
    if !done.is_empty() {
        eprintln!(
            "note: {name} is put back as the killed run {} left it: {}",
            old.pid,
            done.join(", ")
        );
    }
}

/// The interface lab of a run: the interface, its lab address, and what to undo.
#[derive(Debug)]
pub struct IfaceLab {
    /// The interface.
    pub name: String,
    /// The lab address on it.
    pub addr: LabAddr,
    /// Addresses used.
    pub addrs: LabAddrs,
    /// The IPv4 addresses the interface had before.
    before: Vec<String>,
    /// Whether the lab address was added by this run (and so must be removed).
    added: bool,
    /// `net.ipv4.conf.NAME.forwarding` as it was, when this run turned it off.
    forwarding_was: Option<String>,
    /// The run's claim on the interface (dropped after the restore).
    claim: Claim,
}

/// The sysctl that lets the kernel forward IPv4 packets arriving on `name`.
fn forwarding_path(name: &str) -> PathBuf {
    PathBuf::from("/proc/sys/net/ipv4/conf")
        .join(name)
        .join("forwarding")
}

/// A TCP listener (`SO_REUSEADDR`) on `ip:port`, bound to the interface `device` so only
/// the lab port's traffic reaches it; `what` names the server in the error.
fn tcp_listener_on(
    device: &[u8],
    ip: Ipv4Addr,
    port: u16,
    what: &'static str,
) -> Result<TcpListener, LabError> {
    (|| {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        s.bind_device(Some(device))?;
        s.bind(&std::net::SocketAddr::from((ip, port)).into())?;
        s.listen(128)?;
        Ok(TcpListener::from(s))
    })()
    .map_err(|source| LabError::Bind {
        what,
        addr: format!("{ip}:{port}"),
        source,
    })
}

impl IfaceLab {
    /// Puts `addr` on interface `name` unless it is already there (then it is used as it is
    /// and left there at the end), under the run's `claim` on it. Needs root; the link is
    /// checked first ([`check_link`]).
    pub fn open(name: &str, addr: LabAddr, claim: Claim) -> Result<IfaceLab, LabError> {
        check_link(name)?;
        if !super::is_root() {
            return Err(LabError::IfaceNeedsRoot);
        }
        let before = ipv4_addrs(name)?;
        // The lease names the lab address as the phone's router: a host that forwards
        // (a router, a container host) would carry the phone's traffic off the segment.
        let forwarding = forwarding_path(name);
        let was = std::fs::read_to_string(&forwarding)
            .map(|v| v.trim().to_string())
            .unwrap_or_default();
        let forwarding_was = if was == "0" || was.is_empty() {
            None
        } else {
            std::fs::write(&forwarding, "0").map_err(|e| LabError::Command {
                command: format!("echo 0 > {}", forwarding.display()),
                why: e.to_string(),
            })?;
            Some(was)
        };
        let cidr = addr.to_string();
        let present = before.contains(&cidr);
        let mut state = ClaimState {
            pid: std::process::id(),
            added: (!present).then(|| cidr.clone()),
            forwarding_was: forwarding_was.clone(),
        };
        // Recorded before the change: a kill between the two leaves a record of an address
        // that is not there, which the next run checks.
        claim.record(&state);
        let mut lab = IfaceLab {
            name: name.to_string(),
            addr,
            addrs: addr.addrs(),
            before,
            added: false,
            forwarding_was,
            claim,
        };
        if !present {
            // `noprefixroute` is not used: the phone's subnet must be reachable through this
            // interface and only it, which is what the connected route says. On an error the
            // drop of `lab` puts the forwarding back.
            if let Err(e) = ip_output(&["addr", "add", &cidr, "dev", name]) {
                state.added = None;
                lab.claim.record(&state);
                return Err(e);
            }
            lab.added = true;
        }
        Ok(lab)
    }

    /// Binds the servers on the interface: DHCP on 0.0.0.0:67 plus a raw socket for replies
    /// to a client without an address, HTTP on the lab address and `http_port`, SIP (UDP and
    /// TCP) on :5060 and further controllers on :5061 …; every socket bound to the interface.
    pub fn bind_servers(
        &self,
        controllers: usize,
        http_port: u16,
        https_port: Option<u16>,
    ) -> Result<ServerSockets, LabError> {
        let ip = self.addrs.server_ip;
        let name = self.name.as_bytes();
        let dhcp = (|| {
            let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
            s.set_reuse_address(true)?;
            s.set_broadcast(true)?;
            s.bind_device(Some(name))?;
            s.bind(&std::net::SocketAddr::from((Ipv4Addr::UNSPECIFIED, 67)).into())?;
            Ok(UdpSocket::from(s))
        })()
        .map_err(|source| LabError::Bind {
            what: "dhcp",
            addr: format!("0.0.0.0:67 on {}", self.name),
            source,
        })?;
        let raw =
            pc_capture::rawsock::RawSocket::open(&self.name).map_err(|source| LabError::Bind {
                what: "dhcp",
                addr: format!("raw socket on {}", self.name),
                source,
            })?;
        let http = tcp_listener_on(name, ip, http_port, "http")?;
        // HTTPS beside HTTP, when the scenario has an HTTPS file server.
        let https = match https_port {
            Some(port) => Some(tcp_listener_on(name, ip, port, "https")?),
            None => None,
        };
        let sip = (0..controllers.max(1))
            .map(|i| {
                let port = 5060 + u16::try_from(i).unwrap_or(0);
                (|| {
                    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
                    s.bind_device(Some(name))?;
                    s.bind(&std::net::SocketAddr::from((ip, port)).into())?;
                    Ok(UdpSocket::from(s))
                })()
                .map_err(|source| LabError::Bind {
                    what: "sip",
                    addr: format!("{ip}:{port}"),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // SIP over TCP on the same ports (RFC 3261 §18.2.1), bound to the interface too.
        let sip_tcp = (0..controllers.max(1))
            .map(|i| tcp_listener_on(name, ip, 5060 + u16::try_from(i).unwrap_or(0), "sip tcp"))
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

    /// Serves 802.1Q VLAN `id` in user space on the interface (as the netns lab does):
    /// a raw socket and the VLAN's subnet 10.(67+`n`).0.0/24.
    pub fn add_vlan(&self, id: u16, n: u8) -> Result<VlanLeg, LabError> {
        let raw =
            pc_capture::rawsock::RawSocket::open(&self.name).map_err(|source| LabError::Bind {
                what: "dhcp (vlan)",
                addr: format!("VLAN {id} on {}", self.name),
                source,
            })?;
        Ok(VlanLeg {
            id,
            addrs: super::vlan_addrs(n),
            raw,
        })
    }

    /// Puts the interface's forwarding back, takes the lab address off again (when this run
    /// added it) and says whether the interface's IPv4 addresses are what they were. Called by `Drop`; safe to call twice.
    pub fn restore(&mut self) {
        if let Some(was) = self.forwarding_was.take() {
            let path = forwarding_path(&self.name);
            if let Err(e) = std::fs::write(&path, &was) {
                eprintln!(
                    "warning: could not set {} back to {was}: {e}",
                    path.display()
                );
            }
        }
        if !self.added {
            return;
        }
        self.added = false;
        let cidr = self.addr.to_string();
        if let Err(e) = ip_output(&["addr", "del", &cidr, "dev", &self.name]) {
            eprintln!(
                "warning: could not remove {cidr} from {}: {e}; remove it with `ip addr del {cidr} dev {}`",
                self.name, self.name
            );
            return;
        }
        match ipv4_addrs(&self.name) {
            Ok(now) if now != self.before => eprintln!(
                "warning: {} had IPv4 addresses [{}] before the run and has [{}] now",
                self.name,
                self.before.join(", "),
                now.join(", ")
            ),
            _ => {}
        }
    }
}

impl Drop for IfaceLab {
    fn drop(&mut self) {
        self.restore();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_addresses_are_read_and_placed_around_the_server() {
        let a = LabAddr::parse("192.168.50.1/24").expect("valid");
        let addrs = a.addrs();
        assert_eq!(addrs.server_ip, Ipv4Addr::new(192, 168, 50, 1));
        assert_eq!(addrs.mask, Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(addrs.pool_start, Ipv4Addr::new(192, 168, 50, 100));
        assert_eq!(addrs.pool_end, Ipv4Addr::new(192, 168, 50, 199));
        assert_eq!(addrs.dead_ip, Ipv4Addr::new(192, 168, 50, 254));
        assert_eq!(a.to_string(), "192.168.50.1/24");
        let wide = LabAddr::parse("10.20.3.5/16").expect("valid").addrs();
        assert_eq!(wide.mask, Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!(wide.pool_start, Ipv4Addr::new(10, 20, 3, 100));
    }

    #[test]
    fn lab_addresses_that_cannot_hold_the_pool_are_refused() {
        for bad in [
            "10.66.0.1",
            "10.66.0.1/25",
            "10.66.0.1/7",
            "10.66.0.150/24",
            "10.66.0.254/24",
            "10.66.0.0/24",
            "nonsense/24",
            "10.66.0.1/x",
        ] {
            assert!(LabAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn interface_names_are_checked_before_they_reach_a_path() {
        assert!(valid_name("eth0"));
        assert!(valid_name("enp3s0f1"));
        for bad in [
            "",
            "../etc",
            "a/b",
            ".",
            "..",
            "name with space",
            "x".repeat(16).as_str(),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_claim_reads_back_what_it_recorded() {
        let state = ClaimState {
            pid: 4242,
            added: Some("10.66.0.1/24".into()),
            forwarding_was: Some("1".into()),
        };
        assert_eq!(ClaimState::parse(&state.text()), state);
        let bare = ClaimState {
            pid: 7,
            ..ClaimState::default()
        };
        assert_eq!(ClaimState::parse(&bare.text()), bare);
        assert_eq!(ClaimState::parse("garbage\npid=x"), ClaimState::default());
    }

    #[test]
    fn a_missing_interface_says_so() {
        let e = check_link("pcnosuch0").expect_err("no such interface");
        assert!(e.to_string().contains("pcnosuch0"), "{e}");
        assert!(e.to_string().contains("does not exist"), "{e}");
    }

    #[test]
    fn loopback_is_up_with_carrier() {
        // `lo` exists, is up and reports carrier in every network namespace.
        check_link("lo").expect("lo is usable");
    }
}
