//! The DHCP server on an 802.1Q voice VLAN, entirely in user space.
//!
//! Owns: reading tagged frames from an AF_PACKET socket on the (untagged) lab interface,
//! keeping those of one VLAN id addressed to the server port, handing them to the sans-IO
//! core with that VLAN, and sending its replies as tagged frames.
//!
//! Why user space: the phone's voice VLAN must exist even where the kernel has no 802.1Q
//! support (no `vlan` link type); AF_PACKET hands us the tag either in the frame or in
//! PACKET_AUXDATA (re-inserted by `pc_capture::rawsock`), and we write tags ourselves
//! (IEEE 802.1Q §9.6: TPID 0x8100, PCP 0, VID 12 bits).
//!
//! Never: answers untagged frames or other VLANs (the untagged server does that), or relays.
//! Delays from rules are not applied here (the VLAN server is not scripted).

use std::io;
use std::net::Ipv4Addr;
use std::time::Instant;

use pc_capture::Stamped;
use pc_capture::frame::parse_udp;
use pc_capture::rawsock::{AsyncRawSocket, RawSocket};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use crate::event::Event;
use crate::server::{DhcpServer, Output, Reply, ReplyDest};
use crate::shell::{SERVER_PORT, reply_frame};

/// Serves VLAN `vid` on `raw` (a socket on the lab interface) as `server_ip` until
/// `shutdown` turns true. Events go out stamped like the other shells', with no frames: this
/// server runs only in the kernel-captured netns lab, whose frames are joined to events
/// after the capture is closed.
pub async fn run_vlan(
    mut server: DhcpServer,
    raw: RawSocket,
    vid: u16,
    events: UnboundedSender<Stamped<Event>>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let start = Instant::now();
    let server_ip = server.config().server_ip;
    let socket = AsyncRawSocket::new(raw)?;
    let mut buf = Vec::new();
    loop {
        if *shutdown.borrow_and_update() {
            return Ok(());
        }
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            got = socket.recv(&mut buf) => {
                let n = got?;
                let Some(udp) = parse_udp(&buf[..n]) else { continue };
                if udp.vlan != Some(vid & 0x0fff) || udp.dst.port() != SERVER_PORT {
                    continue;
                }
                let at = Instant::now();
                for out in server.handle(at - start, *udp.src.ip(), Some(vid), &udp.payload) {
                    match out {
                        Output::Send(reply) => {
                            let frame = tagged_reply(&socket, server_ip, vid, &reply);
                            if let Err(e) = socket.send(&frame).await {
                                tracing::warn!(error = %e, vid, "tagged dhcp reply not sent");
                            }
                        }
                        Output::Event(e) => {
                            let _ = events.send(Stamped::new(Instant::now(), e, Vec::new()));
                        }
                    }
                }
            }
        }
    }
}

/// The reply as a frame tagged with `vid`. There are no relay agents on a lab VLAN: a reply
/// meant for one is broadcast on the VLAN instead.
fn tagged_reply(socket: &AsyncRawSocket, server_ip: Ipv4Addr, vid: u16, reply: &Reply) -> Vec<u8> {
    let mac = socket.get_ref().mac();
    reply_frame(mac, server_ip, Some(vid), reply).unwrap_or_else(|| {
        let broadcast = Reply {
            dest: ReplyDest::BroadcastMac,
            ..reply.clone()
        };
        reply_frame(mac, server_ip, Some(vid), &broadcast).unwrap_or_default()
    })
}
