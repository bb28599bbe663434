//! Thin tokio shell around the [`Registrar`] core: SIP over UDP and TCP on one port
//! (RFC 3261 §18.2.1: a server listens on both for the same address and port), and TLS on
//! that TCP port too when [`Listeners::tls`] is set: a connection whose first byte is 0x16
//! (a TLS handshake record, RFC 8446 §5.1; no SIP message starts with it) is TLS, any other
//! is plain TCP. Every handshake, refused ones included, is a `tls_handshake` event.
//!
//! Owns: the sockets, a few tasks receiving on the UDP socket (each fetches one datagram and
//! runs the core on it under the core's lock, so messages reach the core, the tap and the
//! timeline in the order they arrived; then it sends and records the answer without the
//! lock, while another takes the next datagram), one task per stream connection (read,
//! frame with [`Framer`], write),
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
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pc_capture::{Stamped, Tap, TcpFlow};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
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

/// How many tasks receive UDP at once: one per core the runtime can use, at most
/// [`MAX_UDP_RECEIVERS`]. While one runs the core (under its lock), the others receive,
/// send and record, so a burst of phones is not served by one core alone.
fn udp_receivers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_UDP_RECEIVERS)
}

/// Bound on [`udp_receivers`]: past it more tasks only wait for the core's lock.
const MAX_UDP_RECEIVERS: usize = 4;

/// What every task of one registrar shares: the core (behind a lock: one message changes
/// it at a time, in the order the lock is taken), the UDP socket, the tap and the timeline.
struct Shared {
    registrar: Mutex<Registrar>,
    socket: UdpSocket,
    local: SocketAddr,
    origin: Instant,
    tap: Arc<dyn Tap>,
    events: mpsc::UnboundedSender<Stamped<Event>>,
}

impl Shared {
    /// The core. Held only for the core's own work on one message (and, for UDP, the
    /// non-blocking receive that fetched it): nothing awaits under it.
    fn core(&self) -> std::sync::MutexGuard<'_, Registrar> {
        match self.registrar.lock() {
            Ok(r) => r,
            // A panic in the core on another task: its state is whatever the panic left,
            // which is still the best answer this registrar has.
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Run the core on one message and record at once the events it made of it (with the
    /// frames that carried it), under the core's lock, so they keep the order in which the
    /// core saw the messages. Returns the rest: answers to send, each after the `response`
    /// event that describes it.
    fn handle(
        &self,
        core: &mut Registrar,
        peer: SocketAddr,
        transport: Transport,
        connection: Option<u64>,
        message: &[u8],
        received: &[u64],
    ) -> Vec<Action> {
        let actions = core.handle(self.origin.elapsed(), peer, transport, message);
        let mut rest = Vec::new();
        for action in actions {
            match action {
                Action::Event(event @ Event::Sent { .. }) => rest.push(Action::Event(event)),
                Action::Event(mut event) => {
                    if let Some(id) = connection {
                        event.set_connection(id);
                    }
                    emit(&self.events, event, received.to_vec());
                }
                other => rest.push(other),
            }
        }
        rest
    }
}

/// Serve every listener until `shutdown` becomes true (or its sender is dropped).
pub async fn run(
    registrar: Registrar,
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
    let shared = Arc::new(Shared {
        registrar: Mutex::new(registrar),
        socket,
        local,
        origin: Instant::now(),
        tap,
        events,
    });
    let (in_tx, mut in_rx) = mpsc::unbounded_channel::<Inbound>();
    let mut conns: HashMap<SocketAddr, Conn> = HashMap::new();
    let mut next_id = 0u64;
    if *shutdown.borrow() {
        return Ok(());
    }
    let mut udp = JoinSet::new();
    for _ in 0..udp_receivers() {
        udp.spawn(serve_udp(Arc::clone(&shared), shutdown.clone()));
    }
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    for conn in conns.values() {
                        let _ = conn.out.send(Outbound::Close);
                    }
                    break;
                }
            }
            accepted = accept(tcp.as_ref()) => {
                match accepted {
                    Ok((stream, peer)) => {
                        if conns.len() >= MAX_CONNECTIONS {
                            warn!(%peer, "too many sip connections: closing the new one");
                            continue;
                        }
                        next_id += 1;
                        let conn = spawn_connection(
                            stream, peer, next_id, tls.clone(), shared.tap.clone(), in_tx.clone(),
                        );
                        // A peer address reused by a new connection replaces the old one.
                        if let Some(old) = conns.insert(peer, conn) {
                            let _ = old.out.send(Outbound::Close);
                        }
                    }
                    Err(e) => warn!(error = %e, "sip tcp accept failed"),
                }
            }
            Some(inbound) = in_rx.recv() => match inbound {
                Inbound::Message { peer, transport, connection, bytes, frames } => {
                    let answers = {
                        let mut core = shared.core();
                        shared.handle(&mut core, peer, transport, Some(connection), &bytes, &frames)
                    };
                    carry_out(&shared, answers, transport, &mut conns).await;
                }
                Inbound::Unframeable { peer, held, error } => {
                    emit(&shared.events, Event::Malformed { from: peer.to_string(), len: held, error }, Vec::new());
                }
                Inbound::Note { event } => {
                    emit(&shared.events, *event, Vec::new());
                }
                Inbound::Gone { peer, id } => {
                    if conns.get(&peer).is_some_and(|c| c.id == id) {
                        conns.remove(&peer);
                    }
                }
            },
        }
    }
    // Every receiver has seen the same shutdown; the events they still send go out first.
    while let Some(joined) = udp.join_next().await {
        if let Err(e) = joined {
            warn!(error = %e, "sip udp receiver failed");
        }
    }
    Ok(())
}

/// One UDP receiver: datagrams in, the core's answers out, until shutdown. Several run on
/// one socket ([`udp_receivers`]). Each takes the core's lock before it fetches a datagram,
/// so datagrams reach the core, the tap and the timeline in the order the socket queued
/// them, whichever receiver takes them; sending the answers and recording them happen
/// after the lock is released, in parallel with the next datagram.
async fn serve_udp(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    // Answers to UDP requests go out over UDP (§18.2.2): a receiver has no connections.
    let mut no_conns = HashMap::new();
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
                continue;
            }
            ready = shared.socket.readable() => if let Err(e) = ready {
                warn!(error = %e, "sip udp socket failed");
                continue;
            },
        }
        let answers = {
            let mut core = shared.core();
            let (len, peer) = match shared.socket.try_recv_from(&mut buf) {
                Ok(got) => got,
                // Another receiver took the datagram this one was woken for.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    // Linux reports ICMP port-unreachable for an earlier send here; that is
                    // the phone's problem, not a reason to stop serving.
                    warn!(error = %e, "sip udp receive failed");
                    continue;
                }
            };
            let datagram = buf.get(..len).unwrap_or_default();
            let frames = tap_udp(shared.tap.as_ref(), peer, shared.local, datagram);
            shared.handle(&mut core, peer, Transport::Udp, None, datagram, &frames)
        };
        carry_out(&shared, answers, Transport::Udp, &mut no_conns).await;
    }
}

/// Send the answers the core gave to one message and record each `response` event with
/// the frames of the answer it describes ([`Shared::handle`] recorded the other events).
async fn carry_out(
    shared: &Shared,
    actions: Vec<Action>,
    transport: Transport,
    conns: &mut HashMap<SocketAddr, Conn>,
) {
    let events = &shared.events;
    let tap = shared.tap.as_ref();
    // The core puts a `response` event just before the message it describes; it waits
    // here until that message is out and its frames are known.
    let mut pending: Option<Event> = None;
    for action in actions {
        match action {
            Action::Event(event) => {
                if let Some(earlier) = pending.replace(event) {
                    emit(events, earlier, Vec::new());
                }
            }
            Action::Send { to, bytes } => {
                let frames = match transport {
                    Transport::Udp => match shared.socket.send_to(&bytes, to).await {
                        Ok(_) => {
                            debug!(%to, len = bytes.len(), "sip response sent");
                            tap_udp(tap, shared.local, to, &bytes)
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
                    emit(events, sent, frames);
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
        emit(events, sent, Vec::new());
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
