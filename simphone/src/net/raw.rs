//! A small AF_PACKET raw socket and the Ethernet/802.1Q/IPv4/UDP framing the DHCP client needs.
//!
//! Owns: opening a `SOCK_RAW` packet socket bound to one interface (Linux `packet(7)`),
//! sending whole Ethernet frames, receiving frames with the VLAN tag the kernel took off,
//! and building/slicing the DHCP frames (`0.0.0.0:68 → 255.255.255.255:67` before a lease;
//! the server's replies come unicast to the phone's MAC because the phone never sets the
//! broadcast flag), untagged or with one 802.1Q tag (the voice VLAN, L2QVLAN).
//!
//! Why ETH_P_ALL and PACKET_AUXDATA: on receive the kernel moves an 802.1Q tag out of the
//! frame bytes before any packet socket sees it (`skb_vlan_untag` in
//! `__netif_receive_skb_core`). Sockets of protocol ETH_P_ALL get the frame with the tag
//! still attached to the skb, so `PACKET_AUXDATA` reports it (`tp_vlan_tci` with
//! `TP_STATUS_VLAN_VALID`); a socket bound to ETH_P_IP gets tagged frames only after the tag
//! was cleared (marked PACKET_OTHERHOST when no VLAN device claims the id), or not at all
//! when a VLAN device does — it could not tell tagged from untagged. So the phone opens
//! ETH_P_ALL, reads the tag from auxdata, and still accepts a tag left inline in the bytes
//! (other drivers and paths); frames it sent itself (PACKET_OUTGOING) are dropped.
//! Never: interprets DHCP (that is `dhcp::client`), never panics on a received frame.
//! Needs CAP_NET_RAW (root in the lab namespace).

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use etherparse::{LinkSlice, NetSlice, PacketBuilder, SlicedPacket, TransportSlice, VlanId};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

/// Every protocol: needed to see VLAN tags (see the module header).
const ETH_P_ALL: u16 = 0x0003;
/// The 802.1Q tag protocol identifier.
pub const ETH_P_8021Q: u16 = 0x8100;
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
    /// The 802.1Q VLAN id the frame carried (`None`: untagged or priority-tagged VID 0).
    pub vlan: Option<u16>,
    pub payload: Vec<u8>,
}

/// Build an Ethernet II / IPv4 / UDP frame (TTL 64, checksums filled), with one 802.1Q tag
/// (priority 0) when `vlan` is given. Empty when the frame cannot be built: a VLAN id above
/// 4094 or a payload too large for UDP (DHCP messages are far below it).
pub fn build_udp_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    vlan: Option<u16>,
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    payload: &[u8],
) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(src_mac, dst_mac);
    let mut out = Vec::new();
    // Writing to a Vec cannot fail for I/O reasons.
    let written = match vlan {
        None => {
            let b = eth
                .ipv4(src.0.octets(), dst.0.octets(), 64)
                .udp(src.1, dst.1);
            out.reserve(b.size(payload.len()));
            b.write(&mut out, payload).is_ok()
        }
        Some(id) => match VlanId::try_new(id).ok().filter(|_| id < 4095) {
            Some(id) => {
                let b = eth
                    .single_vlan(id)
                    .ipv4(src.0.octets(), dst.0.octets(), 64)
                    .udp(src.1, dst.1);
                out.reserve(b.size(payload.len()));
                b.write(&mut out, payload).is_ok()
            }
            None => false,
        },
    };
    if !written {
        out.clear();
    }
    out
}

/// Slice an Ethernet frame; `None` unless it is IPv4 + UDP, untagged or with one 802.1Q
/// tag left in the bytes (its id goes to [`UdpFrame::vlan`]). Double-tagged frames are
/// `None`: the phone never speaks QinQ.
pub fn parse_udp_frame(frame: &[u8]) -> Option<UdpFrame> {
    let sliced = SlicedPacket::from_ethernet(frame).ok()?;
    let ids = sliced.vlan_ids();
    let vlan = match ids.as_slice() {
        [] => None,
        [one] => Some(one.value()).filter(|v| *v != 0),
        _ => return None,
    };
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
            vlan,
            payload: udp.payload().to_vec(),
        }),
        _ => None,
    }
}

/// The VLAN id of a `tpacket_auxdata` (packet(7)): valid when `TP_STATUS_VLAN_VALID` is set
/// (or, on kernels before that flag, when the TCI is non-zero). VID 0 (priority tagging)
/// counts as untagged.
pub fn vlan_from_auxdata(tp_status: u32, tp_vlan_tci: u16) -> Option<u16> {
    let valid = tp_status & libc::TP_STATUS_VLAN_VALID != 0 || tp_vlan_tci != 0;
    Some(tp_vlan_tci & 0x0fff).filter(|id| valid && *id != 0)
}

/// One frame as a packet socket received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RxFrame {
    /// The frame bytes from the Ethernet header on (an 802.1Q tag is usually not in them).
    pub bytes: Vec<u8>,
    /// The VLAN id the kernel took off the frame (PACKET_AUXDATA), if any.
    pub aux_vlan: Option<u16>,
    /// The frame was sent by this host (PACKET_OUTGOING), not received.
    pub outgoing: bool,
}

impl RxFrame {
    /// Slice it as IPv4/UDP with the VLAN it travelled on, from auxdata or from the bytes.
    /// A tag in both places is a double-tagged frame: `None`.
    pub fn udp(&self) -> Option<UdpFrame> {
        parse_rx_frame(&self.bytes, self.aux_vlan)
    }
}

/// [`parse_udp_frame`] with the VLAN the kernel reported beside the bytes.
pub fn parse_rx_frame(bytes: &[u8], aux_vlan: Option<u16>) -> Option<UdpFrame> {
    let mut udp = parse_udp_frame(bytes)?;
    let has_inline_tag = bytes.get(12..14) == Some(&ETH_P_8021Q.to_be_bytes()[..]);
    match (aux_vlan.filter(|v| *v != 0), has_inline_tag) {
        (None, _) => Some(udp),
        (Some(outer), false) => {
            udp.vlan = Some(outer);
            Some(udp)
        }
        (Some(_), true) => None,
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
    /// Open a raw packet socket for every frame on interface `ifname`, with PACKET_AUXDATA
    /// (VLAN tags) on and the host's own frames ignored where the kernel can (4.20+).
    pub fn open(ifname: &str) -> io::Result<Self> {
        let proto = ETH_P_ALL.to_be();
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
        set_int_option(&socket, libc::PACKET_AUXDATA, 1)?;
        // Best effort: older kernels do not know it, and `recv` drops outgoing frames anyway.
        let _ = set_int_option(&socket, libc::PACKET_IGNORE_OUTGOING, 1);
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

    /// Receive one frame (up to 64 KiB) that this host did not send, with its VLAN tag.
    pub async fn recv(&self) -> io::Result<RxFrame> {
        let mut buf = vec![0u8; 65536];
        loop {
            let mut guard = self.fd.readable().await?;
            let raw = guard.get_inner().as_raw_fd();
            match guard.try_io(|_| recv_frame(raw, &mut buf)) {
                Ok(Ok(frame)) if frame.outgoing => continue,
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

fn set_int_option(socket: &Socket, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: the fd is open; the option value is a c_int that lives for the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One `recvmsg` on a packet socket: the bytes, the sender's `sll_pkttype` and the
/// PACKET_AUXDATA control message.
fn recv_frame(fd: libc::c_int, buf: &mut [u8]) -> io::Result<RxFrame> {
    // SAFETY: sockaddr_ll and msghdr are plain old data; all-zero is a valid starting value.
    let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at live buffers (name, one iovec over buf, control) of the sizes it
    // states; the kernel writes only inside them.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let len = (n as usize).min(buf.len());
    let mut aux_vlan = None;
    let want = std::mem::size_of::<libc::tpacket_auxdata>();
    // SAFETY: msg was filled by recvmsg; CMSG_FIRSTHDR/NXTHDR stay inside msg_control and
    // return null at its end.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg is non-null and points at a cmsghdr inside the control buffer.
        let header = unsafe { &*cmsg };
        // SAFETY: CMSG_LEN only computes a length.
        let full = unsafe { libc::CMSG_LEN(want as u32) } as usize;
        if header.cmsg_level == libc::SOL_PACKET
            && header.cmsg_type == libc::PACKET_AUXDATA
            && header.cmsg_len as usize >= full
        {
            // SAFETY: the control message holds at least a tpacket_auxdata (checked above);
            // read_unaligned copes with any alignment of its data.
            let aux: libc::tpacket_auxdata =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
            aux_vlan = vlan_from_auxdata(aux.tp_status, aux.tp_vlan_tci);
        }
        // SAFETY: msg and cmsg are valid as above.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(RxFrame {
        bytes: buf[..len].to_vec(),
        aux_vlan,
        outgoing: from.sll_pkttype == libc::PACKET_OUTGOING,
    })
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
            None,
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
        assert_eq!(back.vlan, None);
        assert_eq!(back.payload, b"hello");
    }

    #[test]
    fn tagged_discover_frame_carries_one_8021q_header_and_slices_back() {
        let mac = [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a];
        let frame = build_udp_frame(
            mac,
            BROADCAST_MAC,
            Some(0x123),
            (Ipv4Addr::UNSPECIFIED, DHCP_CLIENT_PORT),
            (Ipv4Addr::BROADCAST, DHCP_SERVER_PORT),
            b"hello",
        );
        // Golden: destination, source, TPID 0x8100, TCI (PCP 0, DEI 0, VID 0x123), IPv4.
        assert_eq!(&frame[0..6], &BROADCAST_MAC);
        assert_eq!(&frame[6..12], &mac);
        assert_eq!(&frame[12..18], &[0x81, 0x00, 0x01, 0x23, 0x08, 0x00]);
        assert_eq!(frame.len(), 14 + 4 + 20 + 8 + 5);
        let back = parse_udp_frame(&frame).expect("udp frame");
        assert_eq!(back.vlan, Some(0x123));
        assert_eq!(
            (back.src_port, back.dst_port, back.payload.as_slice()),
            (68, 67, &b"hello"[..])
        );
        // An inline tag and a tag in auxdata at once is QinQ: not the phone's.
        assert_eq!(
            parse_rx_frame(&frame, None).map(|u| u.vlan),
            Some(Some(0x123))
        );
        assert_eq!(parse_rx_frame(&frame, Some(7)), None);
        // VLAN ids the tag cannot carry give no frame at all.
        let none = |v| {
            build_udp_frame(
                mac,
                BROADCAST_MAC,
                Some(v),
                (Ipv4Addr::UNSPECIFIED, 68),
                (Ipv4Addr::BROADCAST, 67),
                b"x",
            )
        };
        assert!(none(4095).is_empty());
        assert!(none(5000).is_empty());
    }

    #[test]
    fn the_vlan_of_a_stripped_tag_comes_from_auxdata() {
        let untagged = build_udp_frame(
            [2; 6],
            [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a],
            None,
            (Ipv4Addr::new(10, 0, 0, 1), DHCP_SERVER_PORT),
            (Ipv4Addr::new(10, 0, 0, 50), DHCP_CLIENT_PORT),
            b"offer",
        );
        let rx = RxFrame {
            bytes: untagged.clone(),
            aux_vlan: vlan_from_auxdata(libc::TP_STATUS_VLAN_VALID, 0x6000 | 10),
            outgoing: false,
        };
        assert_eq!(rx.aux_vlan, Some(10), "priority bits are not the VLAN id");
        assert_eq!(rx.udp().map(|u| u.vlan), Some(Some(10)));
        // Priority-tagged (VID 0) and no tag at all are both untagged.
        assert_eq!(vlan_from_auxdata(libc::TP_STATUS_VLAN_VALID, 0xa000), None);
        assert_eq!(vlan_from_auxdata(0, 0), None);
        // Kernels before TP_STATUS_VLAN_VALID: a non-zero TCI still counts.
        assert_eq!(vlan_from_auxdata(0, 42), Some(42));
        assert_eq!(parse_rx_frame(&untagged, None).map(|u| u.vlan), Some(None));
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

        #[test]
        fn parse_rx_frame_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            aux in proptest::option::of(any::<u16>()),
            status in any::<u32>(),
            tci in any::<u16>(),
        ) {
            let _ = parse_rx_frame(&bytes, aux);
            let _ = vlan_from_auxdata(status, tci);
        }

        #[test]
        fn tagged_frames_round_trip(
            vlan in proptest::option::of(1u16..4095),
            payload in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let frame = build_udp_frame(
                [2; 6],
                BROADCAST_MAC,
                vlan,
                (Ipv4Addr::UNSPECIFIED, DHCP_CLIENT_PORT),
                (Ipv4Addr::BROADCAST, DHCP_SERVER_PORT),
                &payload,
            );
            let back = parse_udp_frame(&frame).expect("own frame parses");
            prop_assert_eq!(back.vlan, vlan);
            prop_assert_eq!(back.payload, payload);
        }
    }
}
