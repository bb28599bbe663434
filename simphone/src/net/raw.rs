//! A small AF_PACKET raw socket and the Ethernet/IPv4/UDP framing the DHCP client needs.
//!
//! Owns: opening a `SOCK_RAW` packet socket bound to one interface (Linux `packet(7)`),
//! sending whole Ethernet frames, receiving frames, and building/slicing the DHCP
//! frames (`0.0.0.0:68 → 255.255.255.255:67` before a lease; the server's replies come
//! unicast to the phone's MAC because the phone never sets the broadcast flag).
//! Never: interprets DHCP (that is `dhcp::client`), never panics on a received frame.
//! Needs CAP_NET_RAW (root in the lab namespace).

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use etherparse::{LinkSlice, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

const ETH_P_IP: u16 = 0x0800;
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];
pub const DHCP_CLIENT_PORT: u16 = 68;
pub const DHCP_SERVER_PORT: u16 = 67;

/// A received UDP datagram with the link and network addresses it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpFrame {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

/// Build an Ethernet II / IPv4 / UDP frame (TTL 64, checksums filled).
pub fn build_udp_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    payload: &[u8],
) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src.0.octets(), dst.0.octets(), 64)
        .udp(src.1, dst.1);
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    // Writing to a Vec cannot fail for I/O reasons; a payload too large for UDP is the only
    // error and DHCP messages are far below it.
    if builder.write(&mut out, payload).is_err() {
        out.clear();
    }
    out
}

/// Slice an Ethernet frame; `None` unless it is IPv4 + UDP.
pub fn parse_udp_frame(frame: &[u8]) -> Option<UdpFrame> {
    let sliced = SlicedPacket::from_ethernet(frame).ok()?;
    let (src_mac, dst_mac) = match sliced.link? {
        LinkSlice::Ethernet2(eth) => (eth.source(), eth.destination()),
        _ => return None,
    };
    let (src_ip, dst_ip) = match sliced.net? {
        NetSlice::Ipv4(ip) => (ip.header().source_addr(), ip.header().destination_addr()),
        _ => return None,
    };
    match sliced.transport? {
        TransportSlice::Udp(udp) => Some(UdpFrame {
            src_mac,
            dst_mac,
            src_ip,
            dst_ip,
            src_port: udp.source_port(),
            dst_port: udp.destination_port(),
            payload: udp.payload().to_vec(),
        }),
        _ => None,
    }
}

/// The MAC of a local interface (SIOCGIFHWADDR, netdevice(7)). Asked through a socket so
/// the answer comes from the calling thread's network namespace (sysfs shows the mount's).
pub fn interface_mac(name: &str) -> io::Result<[u8; 6]> {
    if name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, b) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = b as libc::c_char;
    }
    // SAFETY: the fd is open, req is a valid ifreq with a nul-terminated name, and
    // SIOCGIFHWADDR writes only inside it.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after a successful SIOCGIFHWADDR the union holds ifru_hwaddr.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (m, d) in mac.iter_mut().zip(data.iter()) {
        *m = *d as u8;
    }
    Ok(mac)
}

/// `00:1b:4f:27:31:2a` (or with `-`) → bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (slot, part) in mac.iter_mut().zip(parts) {
        if part.len() != 2 {
            return None;
        }
        *slot = u8::from_str_radix(part, 16).ok()?;
    }
    Some(mac)
}

/// An AF_PACKET socket bound to one interface, registered with tokio.
#[derive(Debug)]
pub struct RawSocket {
    fd: AsyncFd<Socket>,
}

impl RawSocket {
    /// Open a raw packet socket for IPv4 frames on interface `ifname`.
    pub fn open(ifname: &str) -> io::Result<Self> {
        let proto = ETH_P_IP.to_be();
        let socket = Socket::new(
            Domain::PACKET,
            Type::RAW,
            Some(Protocol::from(i32::from(proto))),
        )?;
        let cname = std::ffi::CString::new(ifname)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name has a nul"))?;
        // SAFETY: cname is a valid nul-terminated string for the call's duration.
        let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if index == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid starting value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = proto;
        addr.sll_ifindex = index as i32;
        // SAFETY: addr is a properly initialised sockaddr_ll and the length matches it.
        let rc = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        socket.set_nonblocking(true)?;
        // SAFETY: the socket owns its descriptor and moves into the AsyncFd, which keeps it
        // open exactly as long as the registration lives (the I/O-safety condition).
        let fd = unsafe { AsyncFd::register(socket) }?;
        Ok(Self { fd })
    }

    /// Send one whole Ethernet frame out of the bound interface.
    pub async fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|inner| inner.get_ref().send(frame)) {
                Ok(result) => return result.map(|_| ()),
                Err(_would_block) => continue,
            }
        }
    }

    /// Receive one Ethernet frame (up to 64 KiB).
    pub async fn recv(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; 65536];
        loop {
            let mut guard = self.fd.readable().await?;
            let raw = guard.get_inner().as_raw_fd();
            match guard.try_io(|_| {
                // SAFETY: buf is valid for buf.len() bytes of writes; the fd is open.
                let n = unsafe { libc::recv(raw, buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(Ok(n)) => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dhcp_discover_frame_is_broadcast_from_zero_and_slices_back() {
        let mac = [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a];
        let frame = build_udp_frame(
            mac,
            BROADCAST_MAC,
            (Ipv4Addr::UNSPECIFIED, DHCP_CLIENT_PORT),
            (Ipv4Addr::BROADCAST, DHCP_SERVER_PORT),
            b"hello",
        );
        // Golden prefix: Ethernet destination, source, ethertype IPv4.
        assert_eq!(&frame[0..6], &BROADCAST_MAC);
        assert_eq!(&frame[6..12], &mac);
        assert_eq!(&frame[12..14], &[0x08, 0x00]);
        assert_eq!(frame.len(), 14 + 20 + 8 + 5);
        let back = parse_udp_frame(&frame).expect("udp frame");
        assert_eq!(back.src_ip, Ipv4Addr::UNSPECIFIED);
        assert_eq!(back.dst_ip, Ipv4Addr::BROADCAST);
        assert_eq!((back.src_port, back.dst_port), (68, 67));
        assert_eq!(back.payload, b"hello");
    }

    #[test]
    fn loopback_has_an_all_zero_mac_and_unknown_interfaces_are_errors() {
        assert_eq!(interface_mac("lo").expect("lo exists"), [0u8; 6]);
        assert!(interface_mac("no-such-if0").is_err());
    }

    #[test]
    fn macs_parse_strictly() {
        assert_eq!(
            parse_mac("00:1b:4f:27:31:2a"),
            Some([0, 0x1b, 0x4f, 0x27, 0x31, 0x2a])
        );
        assert_eq!(
            parse_mac("00-1B-4F-27-31-2A"),
            Some([0, 0x1b, 0x4f, 0x27, 0x31, 0x2a])
        );
        assert_eq!(parse_mac("00:1b:4f:27:31"), None);
        assert_eq!(parse_mac("00:1b:4f:27:31:2g"), None);
        assert_eq!(parse_mac("001:b:4f:27:31:2a"), None);
    }

    proptest! {
        #[test]
        fn parse_udp_frame_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_udp_frame(&bytes);
        }
    }
}
