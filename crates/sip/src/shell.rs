//! Thin tokio UDP shell around the [`Registrar`] core.
//!
//! Owns: the UDP socket, the monotonic origin that becomes the core's `now`, stamping events
//! with `Instant::now()`, reporting every datagram in and out to the capture [`Tap`].
//!
//! Never: decides anything about SIP — every byte goes through the core; never stops on a
//! per-datagram error (a send failure or an ICMP-triggered receive error is logged and the
//! loop goes on).
//!
//! The tap only knows IPv4; IPv6 datagrams are served but not reported to it. When the socket
//! is bound to an unspecified address the tap sees that address as the local end (the
//! loopback lab binds a concrete one).

use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::Instant;

use pc_capture::Tap;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::event::Event;
use crate::registrar::{Action, Registrar, Transport};

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

fn tap_udp(tap: &dyn Tap, src: SocketAddr, dst: SocketAddr, payload: &[u8]) {
    if let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src, dst) {
        tap.udp(s, d, payload);
    }
}

/// Serve `socket` until `shutdown` becomes true (or its sender is dropped).
pub async fn run_udp(
    mut registrar: Registrar,
    socket: StdUdpSocket,
    tap: Arc<dyn Tap>,
    events: mpsc::UnboundedSender<(Instant, Event)>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    socket.set_nonblocking(true)?;
    let socket = UdpSocket::from_std(socket)?;
    let local = socket.local_addr()?;
    let origin = Instant::now();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    if *shutdown.borrow() {
        return Ok(());
    }
    loop {
        let (len, peer) = tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return Ok(());
                }
                continue;
            }
            received = socket.recv_from(&mut buf) => match received {
                Ok(r) => r,
                Err(e) => {
                    // Linux reports ICMP port-unreachable for an earlier send here; that is
                    // the phone's problem, not a reason to stop serving.
                    warn!(error = %e, "sip udp receive failed");
                    continue;
                }
            },
        };
        let datagram = buf.get(..len).unwrap_or_default();
        tap_udp(tap.as_ref(), peer, local, datagram);
        let actions = registrar.handle(origin.elapsed(), peer, Transport::Udp, datagram);
        for action in actions {
            match action {
                Action::Event(event) => {
                    // A closed receiver only means nobody records the timeline any more.
                    let _ = events.send((Instant::now(), event));
                }
                Action::Send { to, bytes } => match socket.send_to(&bytes, to).await {
                    Ok(_) => {
                        tap_udp(tap.as_ref(), local, to, &bytes);
                        debug!(%to, len = bytes.len(), "sip response sent");
                    }
                    Err(e) => warn!(%to, error = %e, "sip udp send failed"),
                },
            }
        }
    }
}
