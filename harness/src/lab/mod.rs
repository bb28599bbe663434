//! Labs: where the network between the phone and the infrastructure lives.
//!
//! Owns: choosing a lab, creating and removing network namespaces and veth links, the
//! addresses and ports each lab uses, and binding the servers' sockets in the right place.
//!
//! Never: speaks a protocol. A lab hands out sockets; the protocol crates use them.
//!
//! - `netns` (default as root on Linux): two namespaces joined by a veth pair — the phone in
//!   one, the infrastructure in the other — so DHCP is real broadcast on a real link and the
//!   capture sees real frames. Names are unique per process and scenario so runs can overlap.
//!   Everything is removed when the [`NetnsPair`] is dropped, also after a failure; what a
//!   killed run left is removed by the next run ([`remove_stale`]).
//! - `iface:NAME` (root): a real interface with a real phone plugged in ([`iface`]): the lab
//!   address is put on it for the run and taken off again, the servers are bound to it, the
//!   DHCP server answers the `--dut-mac` alone, and a probe for another DHCP server on the
//!   segment runs before the first scenario.
//! - `loopback` (no privileges): the servers bind 127.77.N.1 on high ports, the phone is
//!   leased an address in 127.77.N.0/24 (all of 127/8 is local on Linux), frames are
//!   synthesised from the servers' socket I/O. N is the first subnet no other loopback lab
//!   holds ([`LoopbackSlot`]), in this run or another: 0 when one scenario runs alone, so
//!   the phone's own fixed ports (SIP 5060 on its leased address) are never another phone's.
//!
//! The capture belongs to the lab ([`capture`]): which kind a scenario gets follows from its
//! lab, and the engine only asks for it.
//!
//! Server sockets are made roomy ([`server_udp`], [`server_tcp`]): a floor of phones booting
//! at once sends a thousand DISCOVERs, connections or REGISTERs within milliseconds, more than
//! the kernel's default receive buffer (net.core.rmem_default) and listen backlog (128) hold.

pub mod capture;
pub mod iface;
mod netns;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

pub use capture::{Capture, CaptureNote, KernelLink};
pub use iface::{Claim, IfaceLab, LabAddr};
pub use netns::{NetnsPair, Router, remove_stale};

/// Receive buffer asked for each server socket: room for a burst of a thousand requests.
pub const SERVER_RCVBUF: usize = 8 << 20;

/// Listen backlog of each TCP server (the kernel caps it at net.core.somaxconn).
pub const LISTEN_BACKLOG: i32 = 4096;

/// Gives `socket` a receive buffer of [`SERVER_RCVBUF`]: beyond net.core.rmem_max where the
/// process may (SO_RCVBUFFORCE, root), else as much as rmem_max allows. Best effort: a
/// smaller buffer only drops sooner, and the kernel counts what it drops.
pub fn enlarge_recv_buffer(socket: &Socket) {
    let value = libc::c_int::try_from(SERVER_RCVBUF).unwrap_or(libc::c_int::MAX);
    // SAFETY: the pointer and length describe `value`, alive for the call; the descriptor is
    // the socket's own.
    let forced = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(socket),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    } == 0;
    if !forced && let Err(e) = socket.set_recv_buffer_size(SERVER_RCVBUF) {
        tracing::debug!("cannot enlarge a server socket's receive buffer: {e}");
    }
}

/// A server's UDP socket on `addr`, with a roomy receive buffer.
pub fn server_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    enlarge_recv_buffer(&s);
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// A server's TCP listener on `addr`, with a long backlog.
pub fn server_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As std's TcpListener::bind does: a restarted server may take its port back at once.
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(LISTEN_BACKLOG)?;
    Ok(s.into())
}

/// Which lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabKind {
    /// Network namespaces joined by a veth pair (root).
    Netns,
    /// Loopback, high ports (no privileges).
    Loopback,
    /// A real interface with a real phone on it (root).
    Iface(String),
}

impl LabKind {
    /// The name used on the command line and in reports.
    pub fn name(&self) -> String {
        match self {
            LabKind::Netns => "netns".into(),
            LabKind::Loopback => "loopback".into(),
            LabKind::Iface(name) => format!("iface:{name}"),
        }
    }
}

/// Why a lab could not be set up. The harness exits 3 with this message.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The chosen lab needs root.
    #[error(
        "the netns lab needs root (CAP_NET_ADMIN) to create network namespaces; run as root, or use `--lab loopback`"
    )]
    NeedsRoot,
    /// A command such as `ip` failed.
    #[error("lab setup failed: `{command}` {why}")]
    Command {
        /// The command line.
        command: String,
        /// What went wrong.
        why: String,
    },
    /// The iface lab needs root.
    #[error(
        "the iface lab needs root (CAP_NET_ADMIN) to put the lab address on the interface and open raw sockets"
    )]
    IfaceNeedsRoot,
    /// The lab interface is missing, down or without carrier.
    #[error("interface {name} {why}")]
    Interface {
        /// The interface.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// Another phonecert run holds the interface.
    #[error(
        "interface {name} is in use by the phonecert run with pid {pid} (its claim: {claim}); two runs on one port would both answer the phone"
    )]
    InUse {
        /// The interface.
        name: String,
        /// The other run's pid.
        pid: u32,
        /// The claim file.
        claim: String,
    },
    /// Another DHCP server answered the guard's probe.
    #[error(
        "another DHCP server answers on the segment of {name}: {servers}; phonecert does not start next to it (two servers would both answer the phone); unplug or disable it"
    )]
    ForeignDhcp {
        /// The interface.
        name: String,
        /// Each server: its address, MAC and what it answered.
        servers: String,
    },
    /// The guard's probe could not be sent or heard.
    #[error("cannot probe the segment of {name} for another DHCP server: {source}")]
    Probe {
        /// The interface.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The loopback lab's claim on its subnet could not be taken.
    #[error("cannot claim a loopback subnet through {path}: {source}")]
    LoopbackClaim {
        /// The claim's lock file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Every loopback subnet is held by a running scenario.
    #[error(
        "all {LOOPBACK_SUBNETS} loopback subnets (127.77.0.0/24 … 127.77.255.0/24) are held by running scenarios; run fewer at once (--jobs)"
    )]
    LoopbackFull,
    /// A socket could not be bound.
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        /// Which server.
        what: &'static str,
        /// Where.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Picks the lab: the requested one, else `netns` when root on Linux, else `loopback`.
pub fn choose(requested: Option<&str>) -> Result<LabKind, String> {
    match requested {
        Some("netns") => Ok(LabKind::Netns),
        Some("loopback") => Ok(LabKind::Loopback),
        Some(other) => match other.strip_prefix("iface:") {
            Some(name) if iface::valid_name(name) => Ok(LabKind::Iface(name.to_string())),
            Some(name) => Err(format!(
                "`{name}` is not an interface name (iface:NAME, e.g. iface:eth1)"
            )),
            None => Err(format!(
                "unknown lab `{other}`: use netns, loopback or iface:NAME"
            )),
        },
        None => Ok(if is_root() && cfg!(target_os = "linux") {
            LabKind::Netns
        } else {
            LabKind::Loopback
        }),
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Addresses of one lab instance.
#[derive(Debug, Clone)]
pub struct LabAddrs {
    /// The infrastructure's address (DHCP, HTTP and SIP servers).
    pub server_ip: Ipv4Addr,
    /// Subnet mask of the lab network.
    pub mask: Ipv4Addr,
    /// First address the DHCP server leases.
    pub pool_start: Ipv4Addr,
    /// Last address the DHCP server leases.
    pub pool_end: Ipv4Addr,
    /// An address in the lab where nothing answers (a dead server for failover scenarios).
    pub dead_ip: Ipv4Addr,
}

/// A voice VLAN of the netns lab: its addresses and the raw socket its DHCP server uses.
#[derive(Debug)]
pub struct VlanLeg {
    /// The 802.1Q VLAN id.
    pub id: u16,
    /// The VLAN's subnet, served by the infrastructure at `.1`.
    pub addrs: LabAddrs,
    /// Raw socket on the lab interface (tagged frames in and out).
    pub raw: pc_capture::rawsock::RawSocket,
}

/// The subnet of the `n`th voice VLAN: 10.(67+`n`).0.0/24, served at `.1`.
pub fn vlan_addrs(n: u8) -> LabAddrs {
    let net = 67u8.saturating_add(n);
    LabAddrs {
        server_ip: Ipv4Addr::new(10, net, 0, 1),
        mask: Ipv4Addr::new(255, 255, 255, 0),
        pool_start: Ipv4Addr::new(10, net, 0, 100),
        pool_end: Ipv4Addr::new(10, net, 0, 199),
        dead_ip: Ipv4Addr::new(10, net, 0, 254),
    }
}

/// The sockets the servers run on, bound in the right place.
#[derive(Debug)]
pub struct ServerSockets {
    /// DHCP receive socket (0.0.0.0:67 bound to the lab interface, or loopback high port).
    pub dhcp: UdpSocket,
    /// Raw socket for DHCP replies to clients without an address (netns only).
    pub dhcp_raw: Option<pc_capture::rawsock::RawSocket>,
    /// HTTP listener.
    pub http: TcpListener,
    /// HTTPS listener, when the scenario has an HTTPS file server.
    pub https: Option<TcpListener>,
    /// SIP UDP sockets, one per controller (the first is `${sip_port}`).
    pub sip: Vec<UdpSocket>,
    /// SIP TCP listeners on the same ports, one per controller (RFC 3261 §18.2.1).
    pub sip_tcp: Vec<TcpListener>,
}

impl ServerSockets {
    /// Where the HTTPS file server listens, if there is one.
    pub fn https_endpoint(&self) -> std::io::Result<Option<SocketAddrV4>> {
        match &self.https {
            None => Ok(None),
            Some(l) => match l.local_addr()? {
                std::net::SocketAddr::V4(a) => Ok(Some(a)),
                std::net::SocketAddr::V6(a) => Err(std::io::Error::other(format!(
                    "unexpected IPv6 address {a}"
                ))),
            },
        }
    }

    /// Where each server listens (for `${…}` variables and the capture's port map).
    pub fn endpoints(&self) -> std::io::Result<(SocketAddrV4, SocketAddrV4, Vec<SocketAddrV4>)> {
        let v4 = |a: std::net::SocketAddr| match a {
            std::net::SocketAddr::V4(a) => Ok(a),
            std::net::SocketAddr::V6(a) => Err(std::io::Error::other(format!(
                "unexpected IPv6 address {a}"
            ))),
        };
        Ok((
            v4(self.dhcp.local_addr()?)?,
            v4(self.http.local_addr()?)?,
            self.sip
                .iter()
                .map(|s| v4(s.local_addr()?))
                .collect::<std::io::Result<Vec<_>>>()?,
        ))
    }
}

/// How many loopback labs can run at once on one machine: one per 127.77.N.0/24.
pub const LOOPBACK_SUBNETS: usize = 256;

/// Where the loopback labs' claims live: one lock file per subnet, shared by every user and
/// run on the machine (a claim is an advisory lock, which the kernel drops with the process,
/// so a killed run leaves no claim behind).
const LOOPBACK_CLAIMS: &str = "/tmp";

/// The addresses of loopback subnet `n`: 127.77.`n`.0/24, served at `.1`.
pub fn loopback_addrs(n: u8) -> LabAddrs {
    LabAddrs {
        server_ip: Ipv4Addr::new(127, 77, n, 1),
        mask: Ipv4Addr::new(255, 255, 255, 0),
        pool_start: Ipv4Addr::new(127, 77, n, 100),
        pool_end: Ipv4Addr::new(127, 77, n, 199),
        dead_ip: Ipv4Addr::new(127, 77, n, 254),
    }
}

/// A loopback lab's subnet, held for as long as the value lives. Labs running at the same
/// time (scenarios of one run with `--jobs`, or two runs) each get their own, so a phone's
/// leased address and the fixed port it binds there (SIP 5060) belong to it alone.
#[derive(Debug)]
pub struct LoopbackSlot {
    /// The subnet's addresses.
    pub addrs: LabAddrs,
    /// The lock held on the subnet's claim file; released when dropped.
    _claim: std::fs::File,
}

impl LoopbackSlot {
    /// Claims the first subnet no other loopback lab holds.
    pub fn claim() -> Result<LoopbackSlot, LabError> {
        for n in 0..=u8::MAX {
            let path =
                std::path::Path::new(LOOPBACK_CLAIMS).join(format!("phonecert-loopback-{n}.lock"));
            let claim_err = |source| LabError::LoopbackClaim {
                path: path.display().to_string(),
                source,
            };
            // Another user's claim file may not be writable; a lock needs only an open file.
            let file = match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
            {
                Ok(f) => f,
                Err(_) => std::fs::File::open(&path).map_err(claim_err)?,
            };
            match file.try_lock() {
                Ok(()) => {
                    return Ok(LoopbackSlot {
                        addrs: loopback_addrs(n),
                        _claim: file,
                    });
                }
                Err(std::fs::TryLockError::WouldBlock) => continue,
                Err(std::fs::TryLockError::Error(e)) => return Err(claim_err(e)),
            }
        }
        Err(LabError::LoopbackFull)
    }
}

/// Binds the servers' sockets on loopback, on ports the OS picks; `controllers` SIP sockets,
/// and an HTTPS listener when `https`.
pub fn bind_loopback(
    addrs: &LabAddrs,
    controllers: usize,
    https: bool,
) -> Result<ServerSockets, LabError> {
    let ip = addrs.server_ip;
    let udp = |what| {
        server_udp((ip, 0).into()).map_err(|source| LabError::Bind {
            what,
            addr: format!("{ip}:0"),
            source,
        })
    };
    let http = server_tcp((ip, 0).into()).map_err(|source| LabError::Bind {
        what: "http",
        addr: format!("{ip}:0"),
        source,
    })?;
    let https = if https {
        Some(server_tcp((ip, 0).into()).map_err(|source| LabError::Bind {
            what: "https",
            addr: format!("{ip}:0"),
            source,
        })?)
    } else {
        None
    };
    let (sip, sip_tcp): (Vec<UdpSocket>, Vec<TcpListener>) = (0..controllers.max(1))
        .map(|_| udp_and_tcp(ip))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    Ok(ServerSockets {
        dhcp: udp("dhcp")?,
        dhcp_raw: None,
        http,
        https,
        sip,
        sip_tcp,
    })
}

/// A UDP socket and a TCP listener on the same loopback port the OS picks: a port free for
/// UDP may be taken for TCP, so a few are tried.
fn udp_and_tcp(ip: Ipv4Addr) -> Result<(UdpSocket, TcpListener), LabError> {
    let mut last = None;
    for _ in 0..32 {
        let udp = server_udp((ip, 0).into()).map_err(|source| LabError::Bind {
            what: "sip",
            addr: format!("{ip}:0"),
            source,
        })?;
        let port = udp.local_addr().map(|a| a.port()).unwrap_or(0);
        match server_tcp((ip, port).into()) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some((port, e)),
        }
    }
    let (port, source) = last.unwrap_or((0, std::io::Error::other("no port tried")));
    Err(LabError::Bind {
        what: "sip tcp",
        addr: format!("{ip}:{port}"),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_server_listener_takes_a_burst_of_connections_beyond_the_default_backlog() {
        let listener = server_tcp((Ipv4Addr::LOCALHOST, 0).into()).expect("listen");
        let addr = listener.local_addr().expect("address");
        // Nobody accepts: every connection waits in the backlog. With the default of 128,
        // the kernel drops the SYNs beyond it and those connects time out.
        let mut held = Vec::new();
        for n in 0..300 {
            let c = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                .unwrap_or_else(|e| panic!("connection {n} of a burst of 300: {e}"));
            held.push(c);
        }
        assert_eq!(held.len(), 300);
    }

    #[test]
    fn a_server_udp_socket_has_more_room_than_a_default_one() {
        let roomy = server_udp((Ipv4Addr::LOCALHOST, 0).into()).expect("bind");
        let plain = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let size = |s: &UdpSocket| socket2::SockRef::from(s).recv_buffer_size().expect("size");
        assert!(
            size(&roomy) > size(&plain),
            "{} vs {}",
            size(&roomy),
            size(&plain)
        );
    }

    #[test]
    fn loopback_labs_held_at_once_get_subnets_of_their_own() {
        let a = LoopbackSlot::claim().expect("a first subnet");
        let b = LoopbackSlot::claim().expect("a second subnet");
        assert_ne!(a.addrs.server_ip, b.addrs.server_ip);
        drop(a);
        // A freed subnet can be claimed again; the one still held never is.
        let c = LoopbackSlot::claim().expect("a subnet again");
        assert_ne!(c.addrs.server_ip, b.addrs.server_ip);
    }

    #[test]
    fn a_loopback_subnet_is_one_slash_24_served_at_dot_1() {
        let a = loopback_addrs(7);
        assert_eq!(a.server_ip, Ipv4Addr::new(127, 77, 7, 1));
        assert_eq!(a.pool_start, Ipv4Addr::new(127, 77, 7, 100));
        assert_eq!(a.pool_end, Ipv4Addr::new(127, 77, 7, 199));
        assert_eq!(a.dead_ip, Ipv4Addr::new(127, 77, 7, 254));
    }
}
