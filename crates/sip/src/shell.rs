//! Thin tokio UDP shell around the [`Registrar`] core.
//!
//! Owns: the UDP socket, the monotonic origin that becomes the core's `now`, stamping events
//! with `Instant::now()`, reporting every datagram in and out to the capture [`Tap`] and
//! handing each event on with the frames the tap returned for it: the received datagram's
//! for what the core made of it, the sent datagram's for a `response` event.
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

use pc_capture::{Stamped, Tap};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::event::Event;
use crate::registrar::{Action, Registrar, Transport};

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

fn tap_udp(tap: &dyn Tap, src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u64> {
    match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => tap.udp(s, d, payload),
        _ => Vec::new(),
    }
}

/// Serve `socket` until `shutdown` becomes true (or its sender is dropped).
pub async fn run_udp(
    mut registrar: Registrar,
    socket: StdUdpSocket,
    tap: Arc<dyn Tap>,
    events: mpsc::UnboundedSender<Stamped<Event>>,
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
        let received = tap_udp(tap.as_ref(), peer, local, datagram);
        let actions = registrar.handle(origin.elapsed(), peer, Transport::Udp, datagram);
        // The core puts a `response` event just before the datagram it describes; it waits
        // here until that datagram is out and its frames are known.
        let mut pending: Option<Event> = None;
        for action in actions {
            match action {
                Action::Event(event @ Event::Sent { .. }) => {
                    if let Some(earlier) = pending.replace(event) {
                        emit(&events, earlier, Vec::new());
                    }
                }
                Action::Event(event) => emit(&events, event, received.clone()),
                Action::Send { to, bytes } => {
                    let frames = match socket.send_to(&bytes, to).await {
                        Ok(_) => {
                            debug!(%to, len = bytes.len(), "sip response sent");
                            tap_udp(tap.as_ref(), local, to, &bytes)
                        }
                        Err(e) => {
                            warn!(%to, error = %e, "sip udp send failed");
                            Vec::new()
                        }
                    };
                    if let Some(sent) = pending.take() {
                        emit(&events, sent, frames);
                    }
                }
            }
        }
        if let Some(sent) = pending {
            emit(&events, sent, Vec::new());
        }
    }
}

fn emit(events: &mpsc::UnboundedSender<Stamped<Event>>, event: Event, frames: Vec<u64>) {
    // A closed receiver only means nobody records the timeline any more.
    let _ = events.send(Stamped::new(Instant::now(), event, frames));
}
