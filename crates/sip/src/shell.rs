//! Thin tokio shell around the [`Registrar`] core: SIP over UDP and TCP on one port
//! (RFC 3261 §18.2.1: a server listens on both for the same address and port).
//!
//! Owns: the sockets, one task per stream connection (read, frame with [`Framer`], write),
//! the monotonic origin that becomes the core's `now`, stamping events with
//! `Instant::now()`, reporting I/O to the capture [`Tap`] and handing each event on with the
//! frames the tap returned for it: the received message's for what the core made of it, the
//! sent message's for a `response` event.
//!
//! Never: decides anything about SIP — every message goes through the core, which answers
//! stream requests on the connection they came on (§18.2.2); never stops on a per-message or
//! per-connection error (it is logged, the connection closed, the loop goes on). Idle
//! connections cost one small task each and are never a reason to stop; past
//! [`MAX_CONNECTIONS`] new ones are closed at once.
//!
//! The tap only knows IPv4; IPv6 peers are served but not reported to it.

use std::collections::HashMap;
use std::io;
use std::net::{
    SocketAddr, SocketAddrV4, TcpListener as StdTcpListener, UdpSocket as StdUdpSocket,
};
use std::sync::Arc;
use std::time::Instant;

use pc_capture::{Stamped, Tap, TcpFlow};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::event::Event;
use crate::framing::Framer;
use crate::registrar::{Action, Registrar, Transport};

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;
/// Stream connections served at once; more are closed as they arrive.
pub const MAX_CONNECTIONS: usize = 4096;

/// Where one registrar listens. `tcp` shares the UDP socket's port.
#[derive(Debug)]
pub struct Listeners {
    pub udp: StdUdpSocket,
    pub tcp: Option<StdTcpListener>,
}

fn tap_udp(tap: &dyn Tap, src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u64> {
    match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => tap.udp(s, d, payload),
        _ => Vec::new(),
    }
}

fn v4_pair(client: SocketAddr, server: SocketAddr) -> Option<(SocketAddrV4, SocketAddrV4)> {
    match (client, server) {
        (SocketAddr::V4(c), SocketAddr::V4(s)) => Some((c, s)),
        _ => None,
    }
}

/// What a connection task hands the main loop.
enum Inbound {
    /// A whole message, with the frames that carried it.
    Message {
        peer: SocketAddr,
        transport: Transport,
        bytes: Vec<u8>,
        frames: Vec<u64>,
    },
    /// The stream cannot be framed any more; the connection is closing.
    Unframeable {
        peer: SocketAddr,
        held: usize,
        error: String,
    },
    /// The connection is gone.
    Gone { peer: SocketAddr, id: u64 },
}

/// What the main loop asks of a connection task.
enum Outbound {
    Bytes(Vec<u8>),
    Close,
}

struct Conn {
    id: u64,
    out: mpsc::UnboundedSender<Outbound>,
    flow: Option<TcpFlow>,
}

/// Serve UDP only, until `shutdown` becomes true (or its sender is dropped).
pub async fn run_udp(
    registrar: Registrar,
    socket: StdUdpSocket,
    tap: Arc<dyn Tap>,
    events: mpsc::UnboundedSender<Stamped<Event>>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let listeners = Listeners {
        udp: socket,
        tcp: None,
    };
    run(registrar, listeners, tap, events, shutdown).await
}

/// Serve every listener until `shutdown` becomes true (or its sender is dropped).
pub async fn run(
    mut registrar: Registrar,
    listeners: Listeners,
    tap: Arc<dyn Tap>,
    events: mpsc::UnboundedSender<Stamped<Event>>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    listeners.udp.set_nonblocking(true)?;
    let socket = UdpSocket::from_std(listeners.udp)?;
    let local = socket.local_addr()?;
    let tcp = match listeners.tcp {
        Some(l) => {
            l.set_nonblocking(true)?;
            Some(TcpListener::from_std(l)?)
        }
        None => None,
    };
    let origin = Instant::now();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let (in_tx, mut in_rx) = mpsc::unbounded_channel::<Inbound>();
    let mut conns: HashMap<SocketAddr, Conn> = HashMap::new();
    let mut next_id = 0u64;
    if *shutdown.borrow() {
        return Ok(());
    }
    loop {
        // (peer, transport, bytes, frames of the bytes)
        let (peer, transport, message, received) = tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    for conn in conns.values() {
                        let _ = conn.out.send(Outbound::Close);
                    }
                    return Ok(());
                }
                continue;
            }
            got = socket.recv_from(&mut buf) => match got {
                Ok((len, peer)) => {
                    let datagram = buf.get(..len).unwrap_or_default().to_vec();
                    let frames = tap_udp(tap.as_ref(), peer, local, &datagram);
                    (peer, Transport::Udp, datagram, frames)
                }
                Err(e) => {
                    // Linux reports ICMP port-unreachable for an earlier send here; that is
                    // the phone's problem, not a reason to stop serving.
                    warn!(error = %e, "sip udp receive failed");
                    continue;
                }
            },
            accepted = accept(tcp.as_ref()) => {
                match accepted {
                    Ok((stream, peer)) => {
                        if conns.len() >= MAX_CONNECTIONS {
                            warn!(%peer, "too many sip connections: closing the new one");
                            continue;
                        }
                        next_id += 1;
                        let conn = spawn_connection(
                            stream, peer, next_id, tap.clone(), in_tx.clone(),
                        );
                        // A peer address reused by a new connection replaces the old one.
                        if let Some(old) = conns.insert(peer, conn) {
                            let _ = old.out.send(Outbound::Close);
                        }
                    }
                    Err(e) => warn!(error = %e, "sip tcp accept failed"),
                }
                continue;
            }
            Some(inbound) = in_rx.recv() => match inbound {
                Inbound::Message { peer, transport, bytes, frames } => (peer, transport, bytes, frames),
                Inbound::Unframeable { peer, held, error } => {
                    emit(&events, Event::Malformed { from: peer.to_string(), len: held, error }, Vec::new());
                    continue;
                }
                Inbound::Gone { peer, id } => {
                    if conns.get(&peer).is_some_and(|c| c.id == id) {
                        conns.remove(&peer);
                    }
                    continue;
                }
            },
        };
        let actions = registrar.handle(origin.elapsed(), peer, transport, &message);
        // The core puts a `response` event just before the message it describes; it waits
        // here until that message is out and its frames are known.
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
                    let frames = match transport {
                        Transport::Udp => match socket.send_to(&bytes, to).await {
                            Ok(_) => {
                                debug!(%to, len = bytes.len(), "sip response sent");
                                tap_udp(tap.as_ref(), local, to, &bytes)
                            }
                            Err(e) => {
                                warn!(%to, error = %e, "sip udp send failed");
                                Vec::new()
                            }
                        },
                        Transport::Tcp | Transport::Tls => match conns.get(&to) {
                            Some(conn) => {
                                let frames = match conn.flow {
                                    Some(flow) => tap.tcp_data(flow, false, &bytes),
                                    None => Vec::new(),
                                };
                                if conn.out.send(Outbound::Bytes(bytes)).is_err() {
                                    warn!(%to, "sip connection closed before the answer");
                                }
                                frames
                            }
                            None => {
                                // §18.2.2 would open a new connection to the Via's sent-by;
                                // a registrar answering a phone that hung up does not.
                                warn!(%to, "sip connection gone: answer dropped");
                                Vec::new()
                            }
                        },
                    };
                    if let Some(sent) = pending.take() {
                        emit(&events, sent, frames);
                    }
                }
                Action::Close { peer } => {
                    if let Some(conn) = conns.remove(&peer) {
                        let _ = conn.out.send(Outbound::Close);
                    }
                }
            }
        }
        if let Some(sent) = pending {
            emit(&events, sent, Vec::new());
        }
    }
}

async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

fn spawn_connection(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    tap: Arc<dyn Tap>,
    inbound: mpsc::UnboundedSender<Inbound>,
) -> Conn {
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let local = stream.local_addr().ok();
    let flow = local
        .and_then(|l| v4_pair(peer, l))
        .map(|(c, s)| tap.tcp_open(c, s));
    tokio::spawn(async move {
        let result = serve(
            stream,
            peer,
            Transport::Tcp,
            flow,
            tap.as_ref(),
            out_rx,
            &inbound,
        )
        .await;
        if let Err(e) = result {
            debug!(%peer, error = %e, "sip connection ended with an error");
        }
        if let Some(flow) = flow {
            tap.tcp_close(flow, true, false);
        }
        let _ = inbound.send(Inbound::Gone { peer, id });
    });
    Conn {
        id,
        out: out_tx,
        flow,
    }
}

/// Read, frame and forward messages; write what the main loop sends; until either side ends.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    transport: Transport,
    flow: Option<TcpFlow>,
    tap: &dyn Tap,
    mut out: mpsc::UnboundedReceiver<Outbound>,
    inbound: &mpsc::UnboundedSender<Inbound>,
) -> io::Result<()> {
    let mut framer = Framer::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut frames: Vec<u64> = Vec::new();
    loop {
        tokio::select! {
            read = stream.read(&mut chunk) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                let data = chunk.get(..n).unwrap_or_default();
                if let Some(flow) = flow {
                    frames.extend(tap.tcp_data(flow, true, data));
                }
                framer.push(data);
                while let Some(next) = framer.next_message() {
                    match next {
                        Ok(bytes) => {
                            let frames = if framer.pending() == 0 {
                                std::mem::take(&mut frames)
                            } else {
                                frames.clone()
                            };
                            let _ = inbound.send(Inbound::Message { peer, transport, bytes, frames });
                        }
                        Err(e) => {
                            let _ = inbound.send(Inbound::Unframeable {
                                peer,
                                held: n,
                                error: format!("{} stream: {e}", transport.as_str()),
                            });
                            let _ = stream.shutdown().await;
                            return Ok(());
                        }
                    }
                }
            }
            next = out.recv() => match next {
                Some(Outbound::Bytes(bytes)) => {
                    stream.write_all(&bytes).await?;
                    stream.flush().await?;
                }
                Some(Outbound::Close) | None => {
                    let _ = stream.shutdown().await;
                    return Ok(());
                }
            },
        }
    }
}

fn emit(events: &mpsc::UnboundedSender<Stamped<Event>>, event: Event, frames: Vec<u64>) {
    // A closed receiver only means nobody records the timeline any more.
    let _ = events.send(Stamped::new(Instant::now(), event, frames));
}
