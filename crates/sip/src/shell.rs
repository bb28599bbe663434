//! Thin tokio shell around the [`Registrar`] core: SIP over UDP and TCP on one port
//! (RFC 3261 §18.2.1: a server listens on both for the same address and port), and TLS on
//! that TCP port too when [`Listeners::tls`] is set: a connection whose first byte is 0x16
//! (a TLS handshake record, RFC 8446 §5.1; no SIP message starts with it) is TLS, any other
//! is plain TCP. Every handshake, refused ones included, is a `tls_handshake` event.
//!
//! Owns: the sockets, one task per stream connection (read, frame with [`Framer`], write),
//! the numbering of stream connections (from 1, in the order they are accepted; the number
//! goes on the `request` and `tls_handshake` events of what each carried, so a check can
//! tell one connection reused from a new one opened from the same port),
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
//! The tap only knows IPv4; IPv6 peers are served but not reported to it. TLS records are not
//! reported to the tap byte by byte (the loopback capture shows the connection's opening and
//! closing; the netns capture has every encrypted segment).

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
/// How long a connection may take to send its first byte and to finish a TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where one registrar listens. `tcp` shares the UDP socket's port.
#[derive(Debug)]
pub struct Listeners {
    pub udp: StdUdpSocket,
    pub tcp: Option<StdTcpListener>,
    /// Accept TLS on the TCP listener too, presenting this configuration's certificate.
    pub tls: Option<Arc<rustls::ServerConfig>>,
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
    /// A whole message, with the frames that carried it and the connection's number.
    Message {
        peer: SocketAddr,
        transport: Transport,
        connection: u64,
        bytes: Vec<u8>,
        frames: Vec<u64>,
    },
    /// The stream cannot be framed any more, or ended inside a message; the connection is
    /// closing.
    Unframeable {
        peer: SocketAddr,
        held: usize,
        error: String,
    },
    /// An event of the connection itself (a TLS handshake); boxed, as events are large and
    /// messages the common case.
    Note { event: Box<Event> },
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
        tls: None,
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
    let tls = listeners.tls.map(tokio_rustls::TlsAcceptor::from);
    let origin = Instant::now();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let (in_tx, mut in_rx) = mpsc::unbounded_channel::<Inbound>();
    let mut conns: HashMap<SocketAddr, Conn> = HashMap::new();
    let mut next_id = 0u64;
    if *shutdown.borrow() {
        return Ok(());
    }
    loop {
        // (peer, transport, stream connection, bytes, frames of the bytes)
        let (peer, transport, connection, message, received) = tokio::select! {
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
                    (peer, Transport::Udp, None, datagram, frames)
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
                            stream, peer, next_id, tls.clone(), tap.clone(), in_tx.clone(),
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
                Inbound::Message { peer, transport, connection, bytes, frames } => {
                    (peer, transport, Some(connection), bytes, frames)
                }
                Inbound::Unframeable { peer, held, error } => {
                    emit(&events, Event::Malformed { from: peer.to_string(), len: held, error }, Vec::new());
                    continue;
                }
                Inbound::Note { event } => {
                    emit(&events, *event, Vec::new());
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
                Action::Event(mut event) => {
                    if let Some(id) = connection {
                        event.set_connection(id);
                    }
                    emit(&events, event, received.clone())
                }
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
    tls: Option<tokio_rustls::TlsAcceptor>,
    tap: Arc<dyn Tap>,
    inbound: mpsc::UnboundedSender<Inbound>,
) -> Conn {
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    // Every write is one whole answer: Nagle's algorithm would hold a second answer back
    // until the peer acknowledged the first, and the phone's timers would see that delay.
    if let Err(e) = stream.set_nodelay(true) {
        debug!(%peer, error = %e, "cannot set TCP_NODELAY");
    }
    let local = stream.local_addr().ok();
    let flow = local
        .and_then(|l| v4_pair(peer, l))
        .map(|(c, s)| tap.tcp_open(c, s));
    tokio::spawn(async move {
        let result = match tls {
            Some(acceptor) if starts_with_handshake(&stream).await => {
                match handshake(acceptor, stream, peer, id, &inbound).await {
                    Some(tls_stream) => {
                        let link = Link {
                            peer,
                            id,
                            transport: Transport::Tls,
                            flow: None,
                        };
                        serve(tls_stream, link, tap.as_ref(), out_rx, &inbound).await
                    }
                    None => Ok(()),
                }
            }
            _ => {
                let link = Link {
                    peer,
                    id,
                    transport: Transport::Tcp,
                    flow,
                };
                serve(stream, link, tap.as_ref(), out_rx, &inbound).await
            }
        };
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

/// Whether the first byte the peer sends opens a TLS handshake record. A peer that sends
/// nothing in time is served as plain TCP (and stays idle there).
async fn starts_with_handshake(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await,
        Ok(Ok(1))
    ) && first[0] == 0x16
}

/// Complete the TLS handshake and report it; `None` when it did not go through.
async fn handshake(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    inbound: &mpsc::UnboundedSender<Inbound>,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let failed = |outcome: &str, alert: Option<String>, error: String| Event::TlsHandshake {
        from: peer.to_string(),
        connection: id,
        outcome: outcome.to_owned(),
        sni: None,
        version: None,
        cipher: None,
        alert,
        error: Some(error),
    };
    let (event, accepted) =
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Err(_) => (
                failed("timeout", None, "no whole handshake in time".into()),
                None,
            ),
            Ok(Err(e)) => {
                let alert = alert_of(&e);
                let outcome = if alert.is_some() { "alert" } else { "failed" };
                (failed(outcome, alert, e.to_string()), None)
            }
            Ok(Ok(tls)) => {
                let session = tls.get_ref().1;
                let event = Event::TlsHandshake {
                    from: peer.to_string(),
                    connection: id,
                    outcome: "ok".to_owned(),
                    sni: session.server_name().map(str::to_owned),
                    version: session.protocol_version().map(|v| format!("{v:?}")),
                    cipher: session
                        .negotiated_cipher_suite()
                        .map(|c| format!("{:?}", c.suite())),
                    alert: None,
                    error: None,
                };
                (event, Some(tls))
            }
        };
    let _ = inbound.send(Inbound::Note {
        event: Box::new(event),
    });
    accepted
}

/// The fatal alert the peer sent, when that is why the handshake failed: rustls's name in
/// snake case (`UnknownCA` → `unknown_ca`).
fn alert_of(e: &io::Error) -> Option<String> {
    let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    let rustls::Error::AlertReceived(alert) = inner else {
        return None;
    };
    let name = format!("{alert:?}");
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let prev_lower = i > 0 && chars.get(i - 1).is_some_and(|p| p.is_ascii_lowercase());
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
        let prev_upper = i > 0 && chars.get(i - 1).is_some_and(|p| p.is_ascii_uppercase());
        if c.is_ascii_uppercase() && i > 0 && (prev_lower || (prev_upper && next_lower)) {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    Some(out)
}

/// Which connection a stream task serves.
struct Link {
    peer: SocketAddr,
    /// Its number, in the order the listener accepted it.
    id: u64,
    transport: Transport,
    /// The tap's flow, for plain TCP (TLS records are not reported byte by byte).
    flow: Option<TcpFlow>,
}

/// Read, frame and forward messages; write what the main loop sends; until either side ends.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    link: Link,
    tap: &dyn Tap,
    mut out: mpsc::UnboundedReceiver<Outbound>,
    inbound: &mpsc::UnboundedSender<Inbound>,
) -> io::Result<()> {
    let Link {
        peer,
        id,
        transport,
        flow,
    } = link;
    let mut framer = Framer::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut frames: Vec<u64> = Vec::new();
    loop {
        tokio::select! {
            read = stream.read(&mut chunk) => {
                let n = match read {
                    Ok(0) => {
                        unfinished(&mut framer, peer, transport, inbound);
                        return Ok(());
                    }
                    Ok(n) => n,
                    Err(e) => {
                        unfinished(&mut framer, peer, transport, inbound);
                        return Err(e);
                    }
                };
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
                            let _ = inbound.send(Inbound::Message { peer, transport, connection: id, bytes, frames });
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

/// The stream ended: an unfinished message it held is recorded (as `malformed`, like a
/// stream that cannot be framed), never silently dropped.
fn unfinished(
    framer: &mut Framer,
    peer: SocketAddr,
    transport: Transport,
    inbound: &mpsc::UnboundedSender<Inbound>,
) {
    let held = framer.pending();
    if let Some(e) = framer.finish() {
        let _ = inbound.send(Inbound::Unframeable {
            peer,
            held,
            error: format!("{} stream: {e}", transport.as_str()),
        });
    }
}

fn emit(events: &mpsc::UnboundedSender<Stamped<Event>>, event: Event, frames: Vec<u64>) {
    // A closed receiver only means nobody records the timeline any more.
    let _ = events.send(Stamped::new(Instant::now(), event, frames));
}
