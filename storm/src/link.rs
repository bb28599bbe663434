//! The shared link: one packet socket on the phones' end of the netns lab's veth, carrying the
//! DHCP frames of every phone of a storm.
//!
//! Owns: sending the frames the phones build (each from its own MAC) and handing each phone
//! the DHCP replies for it, chosen by the client hardware address the server wrote in the
//! reply (`chaddr`, RFC 2131 §2): broadcast and unicast replies alike. Counts what it could not
//! hand over (a phone's inbox full).
//! Never: reads or answers DHCP itself — each phone's own DHCP client does, through
//! `simphone`'s `DhcpLink::frames` — and never carries HTTP or SIP: those go through the
//! phone namespace's kernel, on sockets bound to each phone's leased address.
//!
//! Why one socket for all: a packet socket per phone would see every broadcast reply, so N
//! phones would make the kernel copy each of the N² replies; one socket copies each once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pc_capture::rawsock::{AsyncRawSocket, RawSocket};
use tokio::sync::mpsc;

/// Frames a phone may have waiting before the link drops its next one (a DHCP exchange has
/// at most a few replies in flight).
pub const INBOX: usize = 16;

/// Frames waiting to go out, for all phones together.
pub const OUTBOX: usize = 4096;

/// The UDP ports of a reply from a DHCP server to a client (RFC 2131 §4.1).
const SERVER_PORT: u16 = 67;
const CLIENT_PORT: u16 = 68;

/// The MAC a DHCP reply is for: `chaddr`, bytes 28..34 of the message, when `frame` is an
/// Ethernet/IPv4/UDP frame from port 67 to port 68 with hardware type Ethernet.
pub fn reply_for(frame: &[u8]) -> Option<[u8; 6]> {
    let udp = simphone::net::raw::parse_udp_frame(frame)?;
    if (udp.src_port, udp.dst_port) != (SERVER_PORT, CLIENT_PORT) {
        return None;
    }
    let msg = udp.payload;
    // op 2 (BOOTREPLY), htype 1 (Ethernet), hlen 6.
    if msg.get(..3) != Some(&[2, 1, 6][..]) {
        return None;
    }
    msg.get(28..34)?.try_into().ok()
}

/// The running link: where phones put their frames, and what it could not deliver.
#[derive(Debug)]
pub struct SharedLink {
    /// Cloned into every phone's `DhcpLink::frames`.
    pub out: mpsc::Sender<Vec<u8>>,
    /// DHCP replies not handed to a phone because its inbox was full.
    pub dropped: Arc<AtomicU64>,
    socket: Arc<AsyncRawSocket>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SharedLink {
    /// Start the link on `socket` (opened on the phones' end, in their namespace) for the
    /// phones whose inboxes are `inboxes`. Must be called inside the runtime.
    pub fn start(
        socket: RawSocket,
        inboxes: HashMap<[u8; 6], mpsc::Sender<Vec<u8>>>,
    ) -> std::io::Result<SharedLink> {
        // Room for the burst of a storm's replies; what still does not fit is counted by the
        // kernel and read back in `dropped`.
        phonecert::lab::enlarge_recv_buffer(&socket2::SockRef::from(&socket));
        let _ = kernel_drops(&socket);
        let socket = Arc::new(AsyncRawSocket::new(socket)?);
        let socket_ref = socket.clone();
        let (out, mut outbox) = mpsc::channel::<Vec<u8>>(OUTBOX);
        let dropped = Arc::new(AtomicU64::new(0));
        let sender = {
            let socket = socket.clone();
            tokio::spawn(async move {
                while let Some(frame) = outbox.recv().await {
                    if let Err(e) = socket.send(&frame).await {
                        tracing::warn!(error = %e, "shared link: a phone's frame was not sent");
                    }
                }
            })
        };
        let receiver = {
            let dropped = dropped.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    if let Err(e) = socket.recv(&mut buf).await {
                        tracing::warn!(error = %e, "shared link: receive failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                    let Some(inbox) = reply_for(&buf).and_then(|mac| inboxes.get(&mac)) else {
                        continue;
                    };
                    if inbox.try_send(buf.clone()).is_err() {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        Ok(SharedLink {
            out,
            dropped,
            socket: socket_ref,
            tasks: vec![sender, receiver],
        })
    }

    /// Stop both directions; returns the frames lost on the way in: those the kernel dropped
    /// because the socket's buffer was full (PACKET_STATISTICS) and DHCP replies not handed
    /// to a phone whose inbox was full.
    pub fn stop(&self) -> u64 {
        for t in &self.tasks {
            t.abort();
        }
        let kernel = kernel_drops(self.socket.get_ref()).unwrap_or(0);
        kernel + self.dropped.load(Ordering::Relaxed)
    }
}

/// PACKET_STATISTICS (packet(7)): frames dropped since the last call (reading resets).
fn kernel_drops(socket: &RawSocket) -> std::io::Result<u64> {
    let mut stats = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `stats`, alive for the call; the descriptor is
    // the socket's own.
    let rc = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(socket),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            std::ptr::addr_of_mut!(stats).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(u64::from(stats.tp_drops))
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn frame(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
        simphone::net::raw::build_udp_frame(
            [2, 0, 0, 0, 0, 1],
            [0xff; 6],
            None,
            (Ipv4Addr::new(10, 66, 0, 1), src_port),
            (Ipv4Addr::BROADCAST, dst_port),
            payload,
        )
    }

    #[test]
    fn a_reply_goes_to_the_chaddr_it_names() {
        let mac = [0x00, 0x1b, 0x4f, 0xe0, 0x00, 0x2a];
        let mut msg = vec![0u8; 240];
        msg[..3].copy_from_slice(&[2, 1, 6]);
        msg[28..34].copy_from_slice(&mac);
        assert_eq!(reply_for(&frame(67, 68, &msg)), Some(mac));
        // A request (op 1), another port pair, or a message cut before chaddr is no reply.
        let mut request = msg.clone();
        request[0] = 1;
        assert_eq!(reply_for(&frame(67, 68, &request)), None);
        assert_eq!(reply_for(&frame(5060, 68, &msg)), None);
        assert_eq!(reply_for(&frame(67, 68, &msg[..30])), None);
    }
}
