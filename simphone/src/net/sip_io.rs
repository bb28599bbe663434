//! SIP transport shell: carries the registration machine's bytes over UDP (one socket on
//! the leased address, port 5060 when free), TCP or TLS (one connection per controller,
//! Content-Length framing, RFC 3261 §18.3; TLS with the client configuration the phone's
//! trusted certificates make, RFC 3261 §26.3.1), and runs its timers on the phone clock.
//!
//! Owns sockets and address resolution only; every decision is in `sip::register`. A TLS
//! controller whose certificate is refused (by a configuration trusting nothing, every one
//! is: [`trusting_nothing`]) is a transport error, as a refused connection is. A controller's
//! connection, once open, carries every later request to it until it closes (RFC 3261 §18:
//! connections are kept open and reused); the `new-connection-per-request` fault opens a new
//! one for each request instead and leaves the old one open and unused.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};
use tokio::sync::mpsc;

use super::clock::PhoneClock;
use crate::milestone;
use crate::sip::register::{Action, Controller, Registration, SipTransport};

/// Bind the phone's UDP SIP socket on `ip` (port 5060, or any port if 5060 is taken).
pub async fn bind_udp(ip: IpAddr) -> io::Result<UdpSocket> {
    match UdpSocket::bind(SocketAddr::new(ip, 5060)).await {
        Ok(s) => Ok(s),
        Err(e) => {
            tracing::info!(error = %e, "udp 5060 unavailable, using an ephemeral port");
            UdpSocket::bind(SocketAddr::new(ip, 0)).await
        }
    }
}

async fn resolve(c: &Controller) -> Option<SocketAddr> {
    if let Ok(ip) = c.host.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, c.port));
    }
    tokio::net::lookup_host((c.host.as_str(), c.port))
        .await
        .ok()?
        .next()
}

/// Split complete SIP messages off a TCP stream buffer (Content-Length framing).
pub fn take_framed(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    // Skip CRLF keep-alives between messages (RFC 5626 §3.5.1).
    while buf.starts_with(b"\r\n") {
        buf.drain(..2);
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]);
    let len = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            let n = n.trim();
            (n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("l"))
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    if buf.len() < end + len {
        return None;
    }
    let msg: Vec<u8> = buf.drain(..end + len).collect();
    Some(msg)
}

/// The writing half of a controller's TCP or TLS connection.
type StreamWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// A controller's open stream connection.
struct Stream {
    /// Numbers the phone's connections, so the end of one it no longer uses is not taken
    /// for the end of the one it does.
    serial: u64,
    writer: StreamWriter,
}

/// What a connection's reader hands on: (controller, connection serial, a framed message,
/// or `None` when the connection ended).
type Inbound = (usize, u64, Option<Vec<u8>>);

/// Whether requests to a controller reuse its open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Every request goes over the controller's open connection (RFC 3261 §18).
    Keep,
    /// Every request opens a new one (the `new-connection-per-request` fault).
    NewPerRequest,
}

/// Stream connections to the controllers, and those a faulty phone left open unused.
struct Streams {
    open: HashMap<usize, Stream>,
    abandoned: Vec<StreamWriter>,
    next_serial: u64,
    reuse: Reuse,
}

/// Run the registration machine forever (until the caller drops the future).
pub async fn run(
    mut reg: Registration,
    controllers: Vec<Controller>,
    udp: UdpSocket,
    local_ip: IpAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
    reuse: Reuse,
    clock: PhoneClock,
) {
    let mut addrs: HashMap<usize, SocketAddr> = HashMap::new();
    let mut tcp = Streams {
        open: HashMap::new(),
        abandoned: Vec::new(),
        next_serial: 0,
        reuse,
    };
    let connector = tls.map(tokio_rustls::TlsConnector::from);
    let (tcp_in_tx, mut tcp_in) = mpsc::channel::<Inbound>(16);
    let mut actions = reg.start(clock.now());
    let mut buf = vec![0u8; 65536];
    loop {
        for action in std::mem::take(&mut actions) {
            match action {
                Action::Send { controller, bytes } => {
                    let Some(ctl) = controllers.get(controller) else {
                        continue;
                    };
                    let addr = match addrs.get(&controller) {
                        Some(a) => Some(*a),
                        None => {
                            let a = resolve(ctl).await;
                            if let Some(a) = a {
                                addrs.insert(controller, a);
                            }
                            a
                        }
                    };
                    let Some(addr) = addr else {
                        actions.extend(reg.transport_error(
                            clock.now(),
                            controller,
                            &format!("cannot resolve {}", ctl.host),
                        ));
                        continue;
                    };
                    let result = match ctl.transport {
                        SipTransport::Udp => udp.send_to(&bytes, addr).await.map(|_| ()),
                        SipTransport::Tcp | SipTransport::Tls => {
                            let tls = match ctl.transport {
                                SipTransport::Tls => Some((connector.as_ref(), ctl.host.as_str())),
                                _ => None,
                            };
                            let link = Link {
                                controller,
                                addr,
                                local_ip,
                                tls,
                            };
                            send_stream(&mut tcp, link, &bytes, &tcp_in_tx, &clock).await
                        }
                    };
                    if let Err(e) = result {
                        tcp.open.remove(&controller);
                        actions.extend(reg.transport_error(
                            clock.now(),
                            controller,
                            &e.to_string(),
                        ));
                    }
                }
                Action::Registered {
                    controller,
                    expires,
                } => {
                    let c = &controllers[controller];
                    milestone::emit(
                        "registered",
                        serde_json::json!({"controller": format!("{}:{}", c.host, c.port), "expires_s": expires.as_secs()}),
                    );
                }
                Action::Failed { controller, reason } => {
                    tracing::warn!(controller, %reason, "registration attempt failed");
                }
                Action::Stopped => {
                    milestone::emit(
                        "registration-stopped",
                        serde_json::json!({"reason": "every controller refused"}),
                    );
                }
            }
        }
        let deadline = reg
            .next_deadline()
            .unwrap_or(Duration::from_secs(365 * 86_400));
        tokio::select! {
            _ = clock.sleep_until(deadline) => actions = reg.poll(clock.now()),
            r = udp.recv_from(&mut buf) => match r {
                Ok((n, _from)) => actions = reg.handle(clock.now(), &buf[..n]),
                Err(e) => {
                    tracing::debug!(error = %e, "sip udp receive error");
                    clock.sleep(Duration::from_millis(100)).await;
                }
            },
            Some((controller, serial, msg)) = tcp_in.recv() => match msg {
                Some(bytes) => actions = reg.handle(clock.now(), &bytes),
                None if tcp.open.get(&controller).is_some_and(|s| s.serial == serial) => {
                    tcp.open.remove(&controller);
                    actions = reg.transport_error(clock.now(), controller, "tcp connection closed");
                }
                // The end of a connection no longer in use changes nothing.
                None => {}
            },
        }
    }
}

/// The TLS client of a phone that trusts no certificate yet: every server certificate is
/// refused (the handshake ends with the phone's `unknown_ca` alert), as a 9600 without
/// TRUSTCERTS refuses them. `None` if rustls cannot build it.
pub fn trusting_nothing() -> Option<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()
        .map(|b| {
            Arc::new(
                b.with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
        })
}

/// Where one controller's stream goes, and over what.
struct Link<'a> {
    controller: usize,
    addr: SocketAddr,
    local_ip: IpAddr,
    /// TLS: the connector (none when nothing is trusted) and the name to check.
    tls: Option<(Option<&'a tokio_rustls::TlsConnector>, &'a str)>,
}

async fn send_stream(
    streams: &mut Streams,
    link: Link<'_>,
    bytes: &[u8],
    inbound: &mpsc::Sender<Inbound>,
    clock: &PhoneClock,
) -> io::Result<()> {
    let controller = link.controller;
    if streams.reuse == Reuse::NewPerRequest
        && let Some(old) = streams.open.remove(&controller)
    {
        // Kept, not dropped: dropping would close it, and the fault is to leave it open.
        streams.abandoned.push(old.writer);
    }
    if let std::collections::hash_map::Entry::Vacant(slot) = streams.open.entry(controller) {
        streams.next_serial += 1;
        let serial = streams.next_serial;
        let addr = link.addr;
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if link.local_ip.is_ipv4() == addr.is_ipv4() {
            socket.bind(SocketAddr::new(link.local_ip, 0))?;
        }
        let stream = tokio::time::timeout(clock.real(Duration::from_secs(4)), socket.connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "tcp connect timed out"))??;
        let writer: StreamWriter = match link.tls {
            None => {
                let (read, write) = stream.into_split();
                spawn_reader(read, controller, serial, inbound.clone());
                Box::new(write)
            }
            Some((None, _)) => {
                return Err(io::Error::other(
                    "no trusted certificate: a tls controller cannot be verified",
                ));
            }
            Some((Some(connector), host)) => {
                let name = server_name(host)?;
                let tls = tokio::time::timeout(
                    clock.real(Duration::from_secs(4)),
                    connector.connect(name, stream),
                )
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "tls handshake timed out")
                })??;
                milestone::emit(
                    "sip-tls",
                    serde_json::json!({"controller": addr.to_string(), "outcome": "ok"}),
                );
                let (read, write) = tokio::io::split(tls);
                spawn_reader(read, controller, serial, inbound.clone());
                Box::new(write)
            }
        };
        slot.insert(Stream { serial, writer });
    }
    match streams.open.get_mut(&controller).map(|s| &mut s.writer) {
        Some(w) => {
            w.write_all(bytes).await?;
            w.flush().await
        }
        None => Err(io::Error::other("no stream connection")),
    }
}

/// The name a controller's certificate is checked against: its address, or its host name.
fn server_name(host: &str) -> io::Result<rustls::pki_types::ServerName<'static>> {
    rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| io::Error::other(format!("`{host}` is no server name: {e}")))
}

/// Read a controller's stream, frame messages, hand them on; `None` when it ends.
fn spawn_reader<R: AsyncRead + Send + Unpin + 'static>(
    mut read: R,
    controller: usize,
    serial: u64,
    tx: mpsc::Sender<Inbound>,
) {
    tokio::spawn(async move {
        let mut acc = Vec::new();
        let mut chunk = vec![0u8; 8192];
        loop {
            match read.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    let _ = tx.send((controller, serial, None)).await;
                    return;
                }
                Ok(n) => {
                    acc.extend_from_slice(&chunk[..n]);
                    while let Some(m) = take_framed(&mut acc) {
                        if tx.send((controller, serial, Some(m))).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_framing_honours_content_length_and_waits_for_the_rest() {
        let mut buf = b"\r\nSIP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nabcSIP/2.0 401 X\r\nl: 0\r\n\r\nSIP/2.0".to_vec();
        assert_eq!(
            take_framed(&mut buf).as_deref(),
            Some(&b"SIP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nabc"[..])
        );
        assert_eq!(
            take_framed(&mut buf).as_deref(),
            Some(&b"SIP/2.0 401 X\r\nl: 0\r\n\r\n"[..])
        );
        assert_eq!(take_framed(&mut buf), None);
        assert_eq!(buf, b"SIP/2.0");
    }
}
