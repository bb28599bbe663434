//! AF_PACKET raw sockets bound to one interface: send and receive whole Ethernet frames.
//!
//! Owns: opening an AF_PACKET/SOCK_RAW socket bound to an interface (by name, in the
//! namespace of the calling thread — see `netns::in_netns`), reading the interface's MAC,
//! sending frames as given, and receiving frames as they were on the wire: the 802.1Q tag the
//! kernel moved into metadata is put back from PACKET_AUXDATA, truncation is detected with
//! MSG_TRUNC, and the kernel receive timestamp (SO_TIMESTAMPNS) is returned when enabled.
//! Used by the DHCP server (replies to a client that has no address yet, unicast to its MAC),
//! by simphone, and by the capture (`afpacket`).
//! Never: builds or interprets frames (that is `frame`), filters by protocol beyond the
//! ethertype given at open.
//! Follows: packet(7), socket(7) (SO_TIMESTAMPNS), netdevice(7) (SIOCGIFHWADDR, SIOCGIFFLAGS).

use std::ffi::CString;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use socket2::{Domain, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::frame::{self, Mac};

/// Receive buffer size: whole frames even on loopback (MTU 65536) or with GRO/TSO aggregates
/// up to 64 KiB of payload, plus the 4 bytes of a re-inserted 802.1Q tag. Equals the snaplen
/// written in our pcapng interface blocks.
pub const MAX_FRAME: usize = 262_144;

/// `ETH_P_ALL`: every ethertype.
pub const ETH_P_ALL: u16 = 0x0003;

/// What the kernel told us about one received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    /// Bytes now in the buffer (the frame, with its 802.1Q tag when it had one).
    pub captured_len: usize,
    /// Length of the frame on the wire (including a re-inserted tag); larger than
    /// `captured_len` only when `truncated`.
    pub orig_len: usize,
    /// The frame did not fit the buffer.
    pub truncated: bool,
    /// `sll_pkttype`: PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST or
    /// PACKET_OUTGOING (a frame this host sent on the interface).
    pub pkttype: u8,
    /// An 802.1Q tag was re-inserted from PACKET_AUXDATA.
    pub vlan_reinserted: bool,
    /// Kernel receive timestamp, when SO_TIMESTAMPNS is enabled.
    pub timestamp: Option<SystemTime>,
}

impl RecvMeta {
    /// The frame was sent by this host (seen on the way out).
    pub fn outgoing(&self) -> bool {
        self.pkttype == libc::PACKET_OUTGOING
    }
}

/// An AF_PACKET SOCK_RAW socket bound to one interface.
#[derive(Debug)]
pub struct RawSocket {
    socket: Socket,
    iface: String,
    ifindex: i32,
    mac: Mac,
    loopback: bool,
}

impl RawSocket {
    /// Open a socket on `iface` receiving every ethertype (ETH_P_ALL), with PACKET_AUXDATA on
    /// so received 802.1Q tags can be restored. Errors name the interface.
    pub fn open(iface: &str) -> io::Result<RawSocket> {
        Self::open_protocol(iface, ETH_P_ALL)
    }

    /// As [`RawSocket::open`], receiving only frames of `ethertype` (e.g. 0x0800 for IPv4;
    /// VLAN-tagged IPv4 matches too, since the kernel matches the inner type).
    pub fn open_protocol(iface: &str, ethertype: u16) -> io::Result<RawSocket> {
        let ctx = |what: &str, e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("raw socket on interface {iface}: {what}: {e}"),
            )
        };
        let ifindex = ifindex_of(iface).map_err(|e| ctx("unknown interface", e))?;
        // Protocol 0 at creation: the socket receives nothing until bind() names the protocol
        // and the interface, so no frame of another interface slips in between.
        let socket = Socket::new(Domain::PACKET, Type::RAW, None).map_err(|e| ctx("socket", e))?;
        bind_ll(socket.as_raw_fd(), ifindex, ethertype).map_err(|e| ctx("bind", e))?;
        set_int_opt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_AUXDATA,
            1,
        )
        .map_err(|e| ctx("PACKET_AUXDATA", e))?;
        let mac = hw_addr(socket.as_raw_fd(), iface).map_err(|e| ctx("SIOCGIFHWADDR", e))?;
        let flags = if_flags(socket.as_raw_fd(), iface).map_err(|e| ctx("SIOCGIFFLAGS", e))?;
        Ok(RawSocket {
            socket,
            iface: iface.to_owned(),
            ifindex,
            mac,
            loopback: flags & libc::IFF_LOOPBACK != 0,
        })
    }

    /// The interface's MAC address.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// The interface's index in its namespace.
    pub fn ifindex(&self) -> i32 {
        self.ifindex
    }

    /// The interface name given at open.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// The interface is a loopback device (every sent frame is also received once).
    pub fn is_loopback(&self) -> bool {
        self.loopback
    }

    /// Switch blocking mode (sockets open blocking).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.socket.set_nonblocking(nonblocking)
    }

    /// Ask the kernel for receive timestamps (SO_TIMESTAMPNS), reported in [`RecvMeta`].
    pub fn enable_timestamps(&self) -> io::Result<()> {
        set_int_opt(
            self.socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            1,
        )
        .map_err(|e| self.error("SO_TIMESTAMPNS", e))
    }

    /// Do not receive the frames this host sends (PACKET_IGNORE_OUTGOING, Linux ≥ 4.20).
    pub fn ignore_outgoing(&self) -> io::Result<()> {
        set_int_opt(
            self.socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            1,
        )
        .map_err(|e| self.error("PACKET_IGNORE_OUTGOING", e))
    }

    /// Send one complete Ethernet frame (the caller builds the header, e.g. with
    /// `frame::udp_frame`). A short write is an error.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: the pointer and length describe `frame`, alive for the call.
        let n = unsafe {
            libc::send(
                self.socket.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Err(e);
            }
            return Err(self.error("send", e));
        }
        if usize::try_from(n).ok() != Some(frame.len()) {
            return Err(self.error(
                "send",
                io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("short write: {n} of {} bytes", frame.len()),
                ),
            ));
        }
        Ok(())
    }

    /// Receive one frame into `buf` (replacing its contents). Blocks unless non-blocking mode
    /// is set, in which case it fails with `WouldBlock` when nothing is queued.
    pub fn recv_frame(&self, buf: &mut Vec<u8>) -> io::Result<RecvMeta> {
        recv_frame(self.socket.as_raw_fd(), buf)
    }

    fn error(&self, what: &str, e: io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!("raw socket on interface {}: {what}: {e}", self.iface),
        )
    }
}

impl AsRawFd for RawSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl AsFd for RawSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// A [`RawSocket`] registered with tokio.
#[derive(Debug)]
pub struct AsyncRawSocket {
    inner: AsyncFd<RawSocket>,
}

impl AsyncRawSocket {
    /// Register `socket` with the current tokio runtime (switches it to non-blocking).
    /// Must be called from within a tokio runtime (tokio panics otherwise).
    pub fn new(socket: RawSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let iface = socket.iface.clone();
        // SAFETY: a RawSocket owns its descriptor (socket2::Socket) for its whole life and
        // always reports that same descriptor; the AsyncFd owns the RawSocket.
        let registered = unsafe {
            AsyncFd::register_with_interest(socket, Interest::READABLE | Interest::WRITABLE)
        };
        let inner = registered.map_err(|e| {
            let (_, e) = e.into_parts();
            io::Error::new(
                e.kind(),
                format!("raw socket on interface {iface}: register with tokio: {e}"),
            )
        })?;
        Ok(Self { inner })
    }

    /// The wrapped socket (for `mac()`, `ifindex()`, …).
    pub fn get_ref(&self) -> &RawSocket {
        self.inner.get_ref()
    }

    /// Receive the next frame that arrived *from the network* into `buf` (replacing its
    /// contents) and return its length. The frame is whole, with the 802.1Q tag re-inserted
    /// when the kernel stripped it. Frames this host sent (PACKET_OUTGOING, e.g. our own
    /// replies seen by an ETH_P_ALL socket) are skipped; truncated frames (over
    /// [`MAX_FRAME`]) are returned truncated.
    pub async fn recv(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            let meta = self.recv_frame(buf).await?;
            if !meta.outgoing() {
                return Ok(meta.captured_len);
            }
        }
    }

    /// Receive the next frame, outgoing ones included, with what the kernel said about it.
    pub async fn recv_frame(&self, buf: &mut Vec<u8>) -> io::Result<RecvMeta> {
        loop {
            let mut guard = self.inner.readable().await?;
            match guard.try_io(|fd| fd.get_ref().recv_frame(buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Send one complete Ethernet frame, waiting while the socket's send buffer is full.
    pub async fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            let mut guard = self.inner.writable().await?;
            match guard.try_io(|fd| fd.get_ref().send(frame)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

fn ifindex_of(iface: &str) -> io::Result<i32> {
    let name = CString::new(iface)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name contains NUL"))?;
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    i32::try_from(index)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "interface index out of range"))
}

fn bind_ll(fd: RawFd, ifindex: i32, ethertype: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as libc::c_ushort;
    addr.sll_protocol = ethertype.to_be();
    addr.sll_ifindex = ifindex;
    // SAFETY: `addr` is a properly initialised sockaddr_ll and the length matches it.
    let rc = unsafe {
        libc::bind(
            fd,
            (&raw const addr).cast::<libc::sockaddr>(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a c_int alive for the call and the length says so.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn ifreq_for(iface: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = iface.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    Ok(req)
}

fn hw_addr(fd: RawFd, iface: &str) -> io::Result<Mac> {
    let mut req = ifreq_for(iface)?;
    // SAFETY: SIOCGIFHWADDR reads the name and writes ifru_hwaddr of the ifreq we own.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFHWADDR, &raw mut req) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the ioctl succeeded, so the union holds the hardware address.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(data.iter()) {
        *dst = *src as u8;
    }
    Ok(mac)
}

fn if_flags(fd: RawFd, iface: &str) -> io::Result<libc::c_int> {
    let mut req = ifreq_for(iface)?;
    // SAFETY: SIOCGIFFLAGS reads the name and writes ifru_flags of the ifreq we own.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &raw mut req) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the ioctl succeeded, so the union holds the flags.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    Ok(libc::c_int::from(flags) & 0xffff)
}

/// Control buffer for one recvmsg: room for PACKET_AUXDATA and a timespec, 8-byte aligned.
#[repr(C, align(8))]
struct CmsgBuf([u8; 256]);

/// recvmsg one frame from an AF_PACKET socket into `buf`, restoring the VLAN tag.
pub(crate) fn recv_frame(fd: RawFd, buf: &mut Vec<u8>) -> io::Result<RecvMeta> {
    buf.clear();
    buf.reserve(MAX_FRAME);
    // Leave 4 bytes so a re-inserted tag never needs a reallocation (capacity ≥ MAX_FRAME).
    let room = buf.capacity().saturating_sub(4);
    // SAFETY: all-zero is a valid sockaddr_ll and msghdr.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut control = CmsgBuf([0; 256]);
    let spare = buf.spare_capacity_mut();
    let mut iov = libc::iovec {
        iov_base: spare.as_mut_ptr().cast(),
        iov_len: room,
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&raw mut addr).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len() as _;
    // MSG_TRUNC makes packet sockets return the real frame length even when it was cut.
    // SAFETY: every pointer in `msg` points at memory we own that outlives the call; the
    // kernel writes at most `room` bytes into the spare capacity of `buf`.
    let n = unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_TRUNC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let wire_len = usize::try_from(n).unwrap_or(0);
    let captured = wire_len.min(room);
    // SAFETY: the kernel initialised the first `captured` bytes of the spare capacity.
    unsafe { buf.set_len(captured) };
    let truncated = wire_len > room || msg.msg_flags & libc::MSG_TRUNC != 0;

    let mut aux: Option<libc::tpacket_auxdata> = None;
    let mut timestamp = None;
    // SAFETY: `msg` was filled by recvmsg; the CMSG_* macros walk the control buffer within
    // msg_controllen, and each payload is read unaligned with the size its type says.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        while !cmsg.is_null() {
            let level = (*cmsg).cmsg_level;
            let kind = (*cmsg).cmsg_type;
            let data = libc::CMSG_DATA(cmsg);
            let payload_len =
                ((*cmsg).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            if level == libc::SOL_PACKET
                && kind == libc::PACKET_AUXDATA
                && payload_len >= size_of::<libc::tpacket_auxdata>()
            {
                aux = Some(std::ptr::read_unaligned(
                    data.cast::<libc::tpacket_auxdata>(),
                ));
            } else if level == libc::SOL_SOCKET
                && kind == libc::SCM_TIMESTAMPNS
                && payload_len >= size_of::<libc::timespec>()
            {
                let ts = std::ptr::read_unaligned(data.cast::<libc::timespec>());
                timestamp = timespec_to_system_time(ts.tv_sec as i64, ts.tv_nsec as i64);
            }
            cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
        }
    }

    let mut orig_len = wire_len;
    let mut vlan_reinserted = false;
    if let Some(aux) = aux
        && aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0
    {
        let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
            aux.tp_vlan_tpid
        } else {
            frame::TPID_8021Q
        };
        frame::insert_vlan_tag(buf, tpid, aux.tp_vlan_tci);
        orig_len += 4;
        vlan_reinserted = true;
    }
    Ok(RecvMeta {
        captured_len: buf.len(),
        orig_len,
        truncated,
        pkttype: addr.sll_pkttype,
        vlan_reinserted,
        timestamp,
    })
}

fn timespec_to_system_time(sec: i64, nsec: i64) -> Option<SystemTime> {
    let sec = u64::try_from(sec).ok()?;
    let nsec = u32::try_from(nsec).ok().filter(|n| *n < 1_000_000_000)?;
    UNIX_EPOCH.checked_add(Duration::new(sec, nsec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_interface_error_names_it() {
        let err = RawSocket::open("pcnosuchif0").expect_err("no such interface");
        assert!(err.to_string().contains("pcnosuchif0"), "{err}");
    }

    #[test]
    fn timespec_conversion() {
        assert_eq!(
            timespec_to_system_time(1, 5),
            Some(UNIX_EPOCH + Duration::new(1, 5))
        );
        assert_eq!(timespec_to_system_time(-1, 0), None);
        assert_eq!(timespec_to_system_time(0, 1_000_000_000), None);
    }
}
