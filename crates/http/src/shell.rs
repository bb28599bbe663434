//! The file server's tokio shell: accepts TCP connections, reads each request head, asks the
//! [`FileTable`] for a [`Decision`], and writes it; reports every byte to the capture
//! [`Tap`] and every request, response, deliberate fault and close to the timeline as an
//! [`Event`], with the frames the tap returned for it: a request carries the frames of the
//! bytes read for it, a response those of the bytes written, a fault the frames written
//! before it, a close the FIN/RST frames and anything after.
//!
//! Owns: sockets, timers, reading file bodies from disk piece by piece (or, over plain TCP
//! with a kernel capture, handing their unpatched runs to the socket with `sendfile`), the
//! TLS layer of the HTTPS listener ([`run_tls`]: rustls, with the configuration the caller
//! built) and the choice of writer. Never: decides what a response contains or when it pauses, cuts or
//! goes silent (that is `files`: the shell carries out its [`Step`]s), chooses certificates
//! (`pc-pki` does), judges the phone.
//!
//! HTTPS (RFC 9110 §4.2.2, RFC 8446): the handshake comes first and is an event of its own,
//! [`Event::TlsHandshake`], whether it went through or the client refused the certificate
//! with an alert; the tap sees the TLS records, the timeline the plaintext requests. After a
//! handshake everything below is the same as for plain HTTP.
//!
//! How a connection goes (one request per connection: every response says
//! `Connection: close`, RFC 9112 §9.6, which is what the 96xx phones expect):
//! 1. The request head is read here with `httparse` (not by hyper), because the timeline
//!    needs the header names, order and line endings exactly as the phone sent them, and the
//!    writer can only be chosen once the path, hence the behaviour, is known.
//! 2. Delay, if the behaviour says so, while still watching the socket (a client that resets
//!    meanwhile is recorded).
//! 3. A well-formed answer (HTTP/1.1 request, status 200–599 other than 204/304, declared
//!    length equal to the body, title-case names, whole body) is written by hyper
//!    (`title_case_headers`, no automatic Date) from the bytes already read. Everything else —
//!    lying Content-Length, cut, stalled, chunked or dripped bodies, silence, file bodies,
//!    odd status codes, HTTP/1.0 requests (hyper would downgrade the status line) — is
//!    written step by step ([`Decision::steps`]) on the raw stream, which hyper cannot be
//!    made to do. A client that closes during a pause ends the delivery; one that goes away
//!    mid-body ends only its own connection.
//! 4. Close: FIN (then drain until the client's FIN, so unread bytes do not turn it into a
//!    RST), or RST via `SO_LINGER 0` once the send queue has drained.
//!
//! hyper's `header_read_timeout` is not used (it needs a timer); the head-read deadline is
//! enforced here with tokio's timer instead.

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use pc_capture::{Stamped, Tap, TcpFlow};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::body::Body;
use crate::files::{Decision, Delivery, FaultMark, FileTable, Finding, Step, head_findings};

/// How long a client may take to send its request head.
pub const HEAD_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head accepted; a longer one is answered 400.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Largest number of request header fields accepted.
pub const MAX_HEADERS: usize = 64;
/// After our FIN, how long to keep reading for the client's FIN before closing anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Before a deliberate RST, how long to wait for the send queue to empty so the bytes meant
/// to arrive do arrive.
const SEND_QUEUE_WAIT: Duration = Duration::from_secs(2);

/// What the file server saw and did, for the timeline. Field names are stable: checks match
/// on them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A request head arrived (also for a head that did not parse: then `method`, `path` and
    /// `version` are empty and `findings` says `malformed_request_head`).
    Request {
        conn: u64,
        /// `ip:port`
        client: String,
        server: String,
        method: String,
        /// The request target as sent.
        path: String,
        /// `HTTP/1.1` or `HTTP/1.0`.
        version: String,
        user_agent: Option<String>,
        host: Option<String>,
        /// Header fields as sent: names in their case, in order.
        headers: Vec<(String, String)>,
        /// What was odd about the request, each by its stable name (`duplicate_slash`, …).
        findings: Vec<Finding>,
        /// The request came over TLS (the HTTPS listener).
        #[serde(default)]
        tls: bool,
    },
    /// A TLS handshake on the HTTPS listener ended, accepted or not. A client that refuses
    /// the server's certificate says so with an alert before any request.
    TlsHandshake {
        conn: u64,
        client: String,
        server: String,
        /// `ok`, `alert` (the client sent a fatal alert: `alert` names it), `failed` (another
        /// error: `error` says which), `timeout` (no whole handshake in time).
        outcome: String,
        /// The server name the client asked for (SNI); phones given an address send none.
        sni: Option<String>,
        /// The protocol version agreed (`TLSv1_2`, `TLSv1_3`) when the handshake went through.
        version: Option<String>,
        /// The cipher suite agreed when the handshake went through.
        cipher: Option<String>,
        /// The alert the client sent, in snake case (`unknown_ca`, `bad_certificate`,
        /// `certificate_expired` …).
        alert: Option<String>,
        /// What went wrong, in words, when the handshake did not go through.
        error: Option<String>,
    },
    /// The answer went out (or stopped going out).
    Response {
        conn: u64,
        client: String,
        path: String,
        /// The status code on the wire.
        status: u16,
        /// The Content-Length the response declared.
        content_length: Option<u64>,
        /// Body bytes that went out (payload only: chunk framing is not counted).
        body_bytes_sent: u64,
        /// Every byte that went out on this connection, head and framing included.
        bytes_sent: u64,
        /// The whole declared body (none for HEAD) went out.
        complete: bool,
        /// `serve`, `status`, `cut_after`, `wrong_length`, `stall_after`, `chunked`, `drip`,
        /// `range`, `range_not_satisfiable`, `not_found`, `method_not_allowed`,
        /// `bad_request`.
        behaviour: String,
        /// The response's header fields as written, in order.
        headers: Vec<(String, String)>,
    },
    /// The server committed one of its configured faults (a cut, a stall, silence …), at
    /// this point of the response.
    Fault {
        conn: u64,
        client: String,
        path: String,
        /// `cut`, `reset`, `stall`, `resume`, `drip`, `silence`, `length_mismatch`.
        fault: FaultMark,
        /// The behaviour the file is configured with.
        behaviour: String,
        /// Body bytes sent before this point.
        body_bytes_sent: u64,
        /// Every byte sent before this point, head and framing included.
        bytes_sent: u64,
    },
    /// The connection ended.
    Closed {
        conn: u64,
        client: String,
        /// `client` when the client closed (or reset) first, else `server`.
        by: String,
        reset: bool,
    },
}

/// Serve `files` on `listener` until `shutdown` becomes true (or its sender is dropped).
/// Connections still open then are closed; returns once they all are.
pub async fn run(
    listener: std::net::TcpListener,
    files: Arc<FileTable>,
    tap: Arc<dyn Tap>,
    events: mpsc::UnboundedSender<Stamped<Event>>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    serve(listener, None, files, tap, events, shutdown).await
}

/// [`run`] over TLS: each connection first completes a TLS handshake with `tls` (reported as
/// [`Event::TlsHandshake`], refused ones included), then is served exactly like plain HTTP.
/// The tap sees the TLS records, as a capture on the wire would.
pub async fn run_tls(
    listener: std::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    files: Arc<FileTable>,
    tap: Arc<dyn Tap>,
    events: mpsc::UnboundedSender<Stamped<Event>>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    serve(listener, Some(acceptor), files, tap, events, shutdown).await
}

async fn serve(
    listener: std::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    files: Arc<FileTable>,
    tap: Arc<dyn Tap>,
    events: mpsc::UnboundedSender<Stamped<Event>>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut tasks = JoinSet::new();
    let mut next_conn: u64 = 1;

    loop {
        tokio::select! {
            () = shutdown_requested(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let server = match stream.local_addr() {
                        Ok(addr) => addr,
                        Err(e) => {
                            tracing::warn!(error = %e, "no local address for accepted connection");
                            continue;
                        }
                    };
                    let conn = ConnCtx {
                        id: next_conn,
                        client: canonical(peer),
                        server: canonical(server),
                        files: Arc::clone(&files),
                        tap: Arc::clone(&tap),
                        events: events.clone(),
                    };
                    next_conn += 1;
                    tasks.spawn(serve_connection(conn, stream, tls.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // Per-connection failures (ECONNABORTED) and resource limits (EMFILE)
                    // must not end the server; back off briefly so a limit is not a spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = joined {
                    tracing::error!(error = %e, "connection task failed");
                }
            }
        }
    }
    drop(listener);
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            tracing::error!(error = %e, "connection task failed");
        }
    }
    Ok(())
}

async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            // Nobody can ask any more: treat the owner's disappearance as the request.
            return;
        }
    }
}

/// IPv4-mapped IPv6 addresses shown (and tapped) as the IPv4 addresses they are.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, v6.port())),
            None => addr,
        },
        v4 => v4,
    }
}

struct ConnCtx {
    id: u64,
    client: SocketAddr,
    server: SocketAddr,
    files: Arc<FileTable>,
    tap: Arc<dyn Tap>,
    events: mpsc::UnboundedSender<Stamped<Event>>,
}

impl ConnCtx {
    fn emit(&self, event: Event, frames: Vec<u64>) {
        // A dropped receiver means nobody records this run any more; serving goes on.
        let _ = self
            .events
            .send(Stamped::new(Instant::now(), event, frames));
    }
}

/// How a connection is to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Orderly close from our side (FIN), after the client's FIN if that came first.
    Close,
    /// Abortive close from our side (RST).
    Reset,
    /// The client reset the connection; nothing left to do but drop it.
    ClientReset,
    /// The server is shutting down.
    Shutdown,
}

async fn serve_connection(
    conn: ConnCtx,
    stream: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let flow = match (conn.client, conn.server) {
        (SocketAddr::V4(c), SocketAddr::V4(s)) => Some(conn.tap.tcp_open(c, s)),
        _ => None,
    };
    tracing::debug!(conn = conn.id, client = %conn.client, tls = tls.is_some(), "http connection");
    let tcp = TcpTap::new(stream, Arc::clone(&conn.tap), flow);
    let mut io = match tls {
        None => TapIo::new(Transport::Plain(tcp)),
        Some(acceptor) => {
            let accepted = tokio::select! {
                a = handshake(&conn, acceptor, tcp) => a,
                () = shutdown_requested(&mut shutdown) => None,
            };
            match accepted {
                Some(tls) => TapIo::new(Transport::Tls(Box::new(tls))),
                None => {
                    // The socket is gone with the failed handshake; the capture still needs
                    // the connection's end.
                    if let Some(flow) = flow {
                        let frames = conn.tap.tcp_close(flow, false, false);
                        conn.emit(
                            Event::Closed {
                                conn: conn.id,
                                client: conn.client.to_string(),
                                by: "server".to_owned(),
                                reset: false,
                            },
                            frames,
                        );
                    }
                    return;
                }
            }
        }
    };

    let ending = tokio::select! {
        ending = handle(&conn, &mut io) => ending,
        () = shutdown_requested(&mut shutdown) => Ending::Shutdown,
    };

    let (by_client, reset) = match ending {
        Ending::ClientReset => (true, true),
        Ending::Reset => {
            wait_send_queue_empty(io.tcp_stream(), SEND_QUEUE_WAIT).await;
            if let Err(e) = socket2::SockRef::from(io.tcp_stream()).set_linger(Some(Duration::ZERO))
            {
                tracing::warn!(conn = conn.id, error = %e, "cannot set SO_LINGER 0; closing with FIN");
            }
            (false, true)
        }
        Ending::Close => {
            let by_client = io.client_eof;
            let _ = io.shutdown().await;
            if !io.client_eof {
                drain_until_eof(&mut io, DRAIN_TIMEOUT).await;
            }
            (
                by_client,
                io.read_error == Some(io::ErrorKind::ConnectionReset),
            )
        }
        Ending::Shutdown => {
            let _ = io.shutdown().await;
            (false, false)
        }
    };
    // Bytes read or written after the response (a drained request body) go with the close.
    let mut frames = io.take_read_frames();
    frames.extend(io.take_written_frames());
    drop(io);
    if let Some(flow) = flow {
        frames.extend(conn.tap.tcp_close(flow, by_client, reset));
    }
    frames.sort_unstable();
    conn.emit(
        Event::Closed {
            conn: conn.id,
            client: conn.client.to_string(),
            by: if by_client { "client" } else { "server" }.to_owned(),
            reset,
        },
        frames,
    );
}

/// Run the TLS handshake on `tcp` and report it; `None` when it did not go through (the
/// connection is then closed).
async fn handshake(
    conn: &ConnCtx,
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: TcpTap,
) -> Option<tokio_rustls::server::TlsStream<TcpTap>> {
    let attempt = tokio::time::timeout(HEAD_READ_TIMEOUT, acceptor.accept(tcp).into_fallible());
    let (result, frames) = match attempt.await {
        Err(_) => (
            Err(("timeout", None, "no whole handshake in time".to_owned())),
            Vec::new(),
        ),
        Ok(Ok(mut tls)) => {
            let frames = tls.get_mut().0.take_all_frames();
            (Ok(tls), frames)
        }
        Ok(Err((e, mut tcp))) => {
            let frames = tcp.take_all_frames();
            let alert = received_alert(&e);
            let outcome = if alert.is_some() { "alert" } else { "failed" };
            (Err((outcome, alert, e.to_string())), frames)
        }
    };
    let (event, accepted) = match result {
        Ok(tls) => {
            let session = tls.get_ref().1;
            let event = Event::TlsHandshake {
                conn: conn.id,
                client: conn.client.to_string(),
                server: conn.server.to_string(),
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
        Err((outcome, alert, error)) => {
            tracing::debug!(conn = conn.id, %error, "tls handshake did not go through");
            let event = Event::TlsHandshake {
                conn: conn.id,
                client: conn.client.to_string(),
                server: conn.server.to_string(),
                outcome: outcome.to_owned(),
                sni: None,
                version: None,
                cipher: None,
                alert,
                error: Some(error),
            };
            (event, None)
        }
    };
    conn.emit(event, frames);
    accepted
}

/// The fatal alert the client sent, if that is why the handshake failed, in snake case.
fn received_alert(e: &io::Error) -> Option<String> {
    match e.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(alert) => Some(snake_case(&format!("{alert:?}"))),
        _ => None,
    }
}

/// `UnknownCA` → `unknown_ca`, `CertificateExpired` → `certificate_expired`.
fn snake_case(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev_lower = chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit();
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev_lower || (chars[i - 1].is_ascii_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// One request, one response.
async fn handle(conn: &ConnCtx, io: &mut TapIo) -> Ending {
    let head = match tokio::time::timeout(HEAD_READ_TIMEOUT, read_head(io)).await {
        Err(_) => {
            tracing::debug!(conn = conn.id, "no request head in time");
            return Ending::Close;
        }
        Ok(Err(e)) => return ending_after_error(io, e),
        Ok(Ok(HeadRead::Eof)) => return Ending::Close,
        Ok(Ok(HeadRead::Malformed)) => {
            conn.emit(
                Event::Request {
                    conn: conn.id,
                    client: conn.client.to_string(),
                    server: conn.server.to_string(),
                    method: String::new(),
                    path: String::new(),
                    version: String::new(),
                    user_agent: None,
                    host: None,
                    headers: Vec::new(),
                    findings: vec![Finding::MalformedRequestHead],
                    tls: io.is_tls(),
                },
                io.take_read_frames(),
            );
            let decision = Decision::bad_request(vec![Finding::MalformedRequestHead]);
            return write_raw(conn, io, &decision, "").await;
        }
        Ok(Ok(HeadRead::Complete(head))) => head,
    };

    let decision = conn
        .files
        .respond(&head.method, &head.target, &head.headers);
    let mut findings = head_findings(head.minor_version, &head.headers, &head.raw_head);
    findings.extend(decision.findings.iter().copied());
    let request = Event::Request {
        conn: conn.id,
        client: conn.client.to_string(),
        server: conn.server.to_string(),
        method: head.method.clone(),
        path: head.target.clone(),
        version: format!("HTTP/1.{}", head.minor_version),
        user_agent: header_value(&head.headers, "user-agent"),
        host: header_value(&head.headers, "host"),
        headers: head.headers.clone(),
        findings,
        tls: io.is_tls(),
    };
    conn.emit(request, io.take_read_frames());

    let mut buffered = head.buffered;
    if !decision.delay.is_zero()
        && let Some(ending) = delay_watching(io, decision.delay, &mut buffered).await
    {
        return ending;
    }

    match hyper_template(&decision, head.minor_version) {
        Some(template) => {
            write_with_hyper(conn, io, &decision, &template, buffered, &head.target).await
        }
        None => write_raw(conn, io, &decision, &head.target).await,
    }
}

fn header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

fn ending_after_error(io: &TapIo, e: io::Error) -> Ending {
    tracing::debug!(error = %e, "http connection i/o error");
    if e.kind() == io::ErrorKind::ConnectionReset
        || io.read_error == Some(io::ErrorKind::ConnectionReset)
        || io.write_error == Some(io::ErrorKind::ConnectionReset)
    {
        Ending::ClientReset
    } else {
        Ending::Close
    }
}

struct Head {
    method: String,
    target: String,
    minor_version: u8,
    headers: Vec<(String, String)>,
    raw_head: Vec<u8>,
    /// Everything read so far, head included: replayed to hyper.
    buffered: Vec<u8>,
}

enum HeadRead {
    Complete(Head),
    /// The client closed before sending a whole head (possibly before sending anything).
    Eof,
    /// Not HTTP/1.x, or longer than [`MAX_HEAD_BYTES`].
    Malformed,
}

async fn read_head(io: &mut TapIo) -> io::Result<HeadRead> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Ok(HeadRead::Eof);
        }
        buf.extend_from_slice(&chunk[..n]);
        match parse_head(&buf) {
            Parsed::Partial if buf.len() < MAX_HEAD_BYTES => continue,
            Parsed::Partial | Parsed::Invalid => return Ok(HeadRead::Malformed),
            Parsed::Complete(mut head) => {
                head.buffered = buf;
                return Ok(HeadRead::Complete(head));
            }
        }
    }
}

enum Parsed {
    Complete(Head),
    Partial,
    Invalid,
}

fn parse_head(buf: &[u8]) -> Parsed {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let (Some(method), Some(target), Some(minor_version)) =
                (req.method, req.path, req.version)
            else {
                return Parsed::Invalid;
            };
            let headers = req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            Parsed::Complete(Head {
                method: method.to_owned(),
                target: target.to_owned(),
                minor_version,
                headers,
                raw_head: buf.get(..len).unwrap_or(buf).to_vec(),
                buffered: Vec::new(),
            })
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => Parsed::Invalid,
    }
}

/// Sleep `delay`, reading (and keeping) whatever the client sends meanwhile. Returns an
/// ending when the client reset the connection.
async fn delay_watching(io: &mut TapIo, delay: Duration, buffered: &mut Vec<u8>) -> Option<Ending> {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    let mut chunk = [0u8; 4096];
    loop {
        if io.client_eof {
            // Nothing more can be read; a half-closed client may still want the answer.
            sleep.as_mut().await;
            return None;
        }
        tokio::select! {
            () = sleep.as_mut() => return None,
            read = io.read(&mut chunk) => match read {
                Ok(n) => buffered.extend_from_slice(&chunk[..n]),
                Err(e) => return Some(ending_after_error(io, e)),
            },
        }
    }
}

/// What hyper needs to write a [`Decision`] byte-exactly, when it can.
struct HyperTemplate {
    status: StatusCode,
    reason: hyper::ext::ReasonPhrase,
    headers: HeaderMap,
    body: Bytes,
}

impl HyperTemplate {
    fn response(&self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response.extensions_mut().insert(self.reason.clone());
        response
    }
}

/// `Some` when hyper writes exactly [`Decision::head_bytes`] and the body: see the module
/// header for the conditions.
fn hyper_template(decision: &Decision, request_minor_version: u8) -> Option<HyperTemplate> {
    if request_minor_version != 1 || decision.delivery != Delivery::Whole {
        return None;
    }
    if !(200..600).contains(&decision.status) || matches!(decision.status, 204 | 304) {
        return None;
    }
    let declared = decision.content_length()?;
    // A file body streams from disk: only the raw path reads it piece by piece.
    let body = decision.body.in_memory()?;
    if !decision.head_only && declared != body.len() as u64 {
        return None;
    }
    let mut headers = HeaderMap::with_capacity(decision.headers.len());
    for (name, value) in &decision.headers {
        let header_name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        // hyper writes names title-cased from their lower-case form; anything else must go
        // out raw to keep its exact spelling. Repeated names would be regrouped: raw too.
        if title_case(header_name.as_str()) != *name || headers.contains_key(&header_name) {
            return None;
        }
        headers.insert(header_name, HeaderValue::from_str(value).ok()?);
    }
    Some(HyperTemplate {
        status: StatusCode::from_u16(decision.status).ok()?,
        reason: hyper::ext::ReasonPhrase::try_from(decision.reason.clone().into_bytes()).ok()?,
        headers,
        body: body.clone(),
    })
}

fn title_case(lower: &str) -> String {
    let mut out = String::with_capacity(lower.len());
    let mut upper_next = true;
    for c in lower.chars() {
        if upper_next {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
        upper_next = c == '-';
    }
    out
}

async fn write_with_hyper(
    conn: &ConnCtx,
    io: &mut TapIo,
    decision: &Decision,
    template: &HyperTemplate,
    buffered: Vec<u8>,
    target: &str,
) -> Ending {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .title_case_headers(true)
        .auto_date_header(false)
        // A client that shuts down its sending side after the request still gets its answer.
        .half_close(true);
    let service = hyper::service::service_fn(|_request| {
        std::future::ready(Ok::<_, Infallible>(template.response()))
    });
    let rewind = Rewind {
        prefix: Bytes::from(buffered),
        io: &mut *io,
    };
    let served = builder
        .serve_connection(hyper_util::rt::TokioIo::new(rewind), service)
        .without_shutdown()
        .await;
    let ending = match served {
        Ok(_) => Ending::Close,
        Err(e) => {
            tracing::debug!(conn = conn.id, error = %e, "hyper connection error");
            if io.write_error == Some(io::ErrorKind::ConnectionReset)
                || io.read_error == Some(io::ErrorKind::ConnectionReset)
            {
                Ending::ClientReset
            } else {
                Ending::Close
            }
        }
    };
    emit_response(conn, io, decision, target);
    ending
}

async fn write_raw(conn: &ConnCtx, io: &mut TapIo, decision: &Decision, target: &str) -> Ending {
    let result = deliver(conn, io, decision, target).await;
    if decision.delivery != Delivery::Silence {
        emit_response(conn, io, decision, target);
    }
    match result {
        Ok(ending) => ending,
        Err(e) => ending_after_error(io, e),
    }
}

/// Largest single write of body bytes: keeps a large body from being one huge buffer handed
/// to the kernel at once.
const WRITE_PIECE: usize = 64 * 1024;

/// Largest single read of a file body. Each read of a tokio file is a round trip to the
/// blocking thread pool (two thread wake-ups); at 64 KiB those hand-offs, not the copying,
/// were half the cost of serving a firmware image. 256 KiB per download in progress is the
/// memory this takes.
const FILE_PIECE: usize = 256 * 1024;

/// Carry out the decision's [`Step`]s: write, pause, mark a fault, close or hold.
async fn deliver(
    conn: &ConnCtx,
    io: &mut TapIo,
    decision: &Decision,
    target: &str,
) -> io::Result<Ending> {
    // A file body's file, opened at its first piece and kept for the rest.
    let mut opened: Option<tokio::fs::File> = None;
    for step in decision.steps() {
        match step {
            Step::Raw(bytes) => io.write_all(&bytes).await?,
            Step::Body { offset, len } => {
                send_body(io, &decision.body, offset, len, &mut opened).await?;
            }
            Step::Fault(mark) => {
                io.flush().await?;
                emit_fault(conn, io, decision, target, mark);
            }
            Step::Pause(pause) => {
                io.flush().await?;
                if let Some(ending) = pause_watching(io, pause).await {
                    return Ok(ending);
                }
            }
            Step::Close { reset } => {
                io.flush().await?;
                return Ok(if reset { Ending::Reset } else { Ending::Close });
            }
            Step::Hold => return Ok(hold(io).await),
        }
    }
    io.flush().await?;
    Ok(Ending::Close)
}

/// Largest single `sendfile` call. The socket's send buffer bounds what one call moves
/// anyway; the bound keeps one call (which may have to read pages from disk first) short.
const SENDFILE_PIECE: u64 = 4 * 1024 * 1024;

/// Write `len` bytes of `body` from `offset`: a slice of memory, or the file's bytes. Over
/// plain TCP, when the capture is the kernel's, the bytes no patch touches go from the page
/// cache to the socket with `sendfile` (never copied through this process); every other
/// piece is read, patched and written, one [`FILE_PIECE`] at a time (a file of any size is
/// never in memory at once).
async fn send_body(
    io: &mut TapIo,
    body: &Body,
    offset: u64,
    len: u64,
    opened: &mut Option<tokio::fs::File>,
) -> io::Result<()> {
    match body {
        Body::Memory(bytes) => {
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let end = usize::try_from(offset.saturating_add(len))
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            for piece in bytes[start..end].chunks(WRITE_PIECE) {
                io.write_all(piece).await?;
                io.body_sent += piece.len() as u64;
            }
        }
        Body::File { file, start, .. } => {
            use tokio::io::AsyncSeekExt;
            let f = match opened {
                Some(f) => f,
                None => opened.insert(tokio::fs::File::open(&file.path).await?),
            };
            let at = start.saturating_add(offset);
            let zero_copy = io.can_send_file();
            let shrunk = |offset: u64| {
                // The file shrank since the scenario was loaded.
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} ended at offset {offset} before the {} bytes to serve",
                        file.path.display(),
                        file.len
                    ),
                )
            };
            let mut buf = Vec::new();
            // Where the file's cursor stands: `sendfile` and page-cache reads use explicit
            // offsets and leave it alone, so a read through the cursor seeks first.
            let mut cursor = None;
            let mut done = 0u64;
            while done < len {
                let pos = at + done;
                let left = len - done;
                if zero_copy {
                    let clean = file.unpatched_run(pos, left);
                    if clean > 0 {
                        let n = io.send_file(f, pos, clean.min(SENDFILE_PIECE)).await?;
                        if n == 0 {
                            return Err(shrunk(pos));
                        }
                        io.body_sent += n;
                        done += n;
                        continue;
                    }
                }
                if buf.is_empty() {
                    buf = vec![0u8; FILE_PIECE];
                }
                let want = usize::try_from(left).unwrap_or(FILE_PIECE).min(FILE_PIECE);
                let n = match read_cached(f, pos, &mut buf[..want]) {
                    Some(n) => n,
                    None => {
                        if cursor != Some(pos) {
                            f.seek(io::SeekFrom::Start(pos)).await?;
                        }
                        let n = f.read(&mut buf[..want]).await?;
                        cursor = Some(pos + n as u64);
                        n
                    }
                };
                if n == 0 {
                    return Err(shrunk(pos));
                }
                let piece = &mut buf[..n];
                file.patch(pos, piece);
                io.write_all(piece).await?;
                io.body_sent += n as u64;
                done += n as u64;
            }
        }
    }
    Ok(())
}

/// Read up to `buf.len()` bytes of `file` at `offset` if the page cache holds them
/// (`preadv2` with `RWF_NOWAIT`): `None` when a read would have to wait for the disk, or
/// cannot be done this way, and the caller reads through tokio's blocking pool instead.
/// A firmware image just served is in the cache; reading it here saves two thread
/// hand-offs per piece without ever blocking the runtime on the disk.
fn read_cached(file: &tokio::fs::File, offset: u64, buf: &mut [u8]) -> Option<usize> {
    use std::os::fd::AsRawFd;
    let off = libc::off_t::try_from(offset).ok()?;
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: the descriptor is open and owned by `file`, borrowed for this call; `iov`
    // describes `buf`, valid for writes of `buf.len()` bytes, and is the one iovec passed.
    let rc = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, off, libc::RWF_NOWAIT) };
    usize::try_from(rc).ok().filter(|&n| n > 0)
}

/// Pause mid-response while watching the client: a client that gives up (FIN) or resets
/// meanwhile ends the delivery, since anything written after its FIN would only draw a RST.
async fn pause_watching(io: &mut TapIo, pause: Duration) -> Option<Ending> {
    let sleep = tokio::time::sleep(pause);
    tokio::pin!(sleep);
    let mut chunk = [0u8; 4096];
    loop {
        if io.client_eof {
            return Some(Ending::Close);
        }
        tokio::select! {
            () = sleep.as_mut() => return None,
            read = io.read(&mut chunk) => if let Err(e) = read {
                return Some(ending_after_error(io, e));
            },
        }
    }
}

/// Say nothing until the client closes (or resets); the server's shutdown ends it too.
async fn hold(io: &mut TapIo) -> Ending {
    let mut chunk = [0u8; 4096];
    loop {
        match io.read(&mut chunk).await {
            Ok(0) => return Ending::Close,
            Ok(_) => {}
            Err(e) => return ending_after_error(io, e),
        }
    }
}

fn emit_fault(conn: &ConnCtx, io: &TapIo, decision: &Decision, target: &str, mark: FaultMark) {
    let event = Event::Fault {
        conn: conn.id,
        client: conn.client.to_string(),
        path: target.to_owned(),
        fault: mark,
        behaviour: decision.behaviour.to_owned(),
        body_bytes_sent: io.body_sent,
        bytes_sent: io.out.total,
    };
    // The frames that carried the response so far: the fault happened right after them.
    conn.emit(event, io.written_frames());
}

fn emit_response(conn: &ConnCtx, io: &mut TapIo, decision: &Decision, target: &str) {
    // The hyper path counts the body from the head's end; the raw path counts payload only.
    let body_bytes_sent = if io.body_sent > 0 || decision.delivery != Delivery::Whole {
        io.body_sent
    } else {
        io.out.body_bytes()
    };
    let response = Event::Response {
        conn: conn.id,
        client: conn.client.to_string(),
        path: target.to_owned(),
        // What actually went out, should hyper ever have answered on its own.
        status: io.out.status().unwrap_or(decision.status),
        content_length: decision.content_length(),
        body_bytes_sent,
        bytes_sent: io.out.total,
        complete: io.out.head_end.is_some() && body_bytes_sent >= decision.expected_body_len(),
        behaviour: decision.behaviour.to_owned(),
        headers: decision.headers.clone(),
    };
    conn.emit(response, io.take_written_frames());
}

/// Read until the client's FIN (or an error, or `limit`), so that bytes it sent after its
/// request do not make our close a RST.
async fn drain_until_eof(io: &mut TapIo, limit: Duration) {
    let mut chunk = [0u8; 4096];
    let _ = tokio::time::timeout(limit, async {
        loop {
            match io.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// Wait (bounded) until the kernel has sent everything we wrote, so an abortive close does
/// not throw away the bytes that were meant to reach the client before the RST.
async fn wait_send_queue_empty(stream: &TcpStream, limit: Duration) {
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let mut queued: libc::c_int = 0;
        // SAFETY: `fd` is an open TCP socket owned by `stream`, which outlives this call;
        // TIOCOUTQ (SIOCOUTQ) writes one c_int through the valid pointer given.
        let rc = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued as *mut libc::c_int) };
        if rc != 0 || queued == 0 || tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What the shell learns from the bytes it writes: how many, where the response head ended,
/// and the status code on the wire.
#[derive(Debug, Default)]
struct OutScan {
    total: u64,
    /// Offset in the outgoing stream just past the first blank line.
    head_end: Option<u64>,
    /// How much of `\r\n\r\n` the outgoing stream currently ends with.
    blank_line_match: u8,
    /// The first bytes written, enough for the status line's code.
    prefix: Vec<u8>,
}

impl OutScan {
    const PREFIX_LEN: usize = 16;

    fn record(&mut self, data: &[u8]) {
        if self.prefix.len() < Self::PREFIX_LEN {
            let take = (Self::PREFIX_LEN - self.prefix.len()).min(data.len());
            self.prefix.extend_from_slice(&data[..take]);
        }
        if self.head_end.is_none() {
            for (i, b) in data.iter().enumerate() {
                self.blank_line_match = match (self.blank_line_match, *b) {
                    (0 | 2, b'\r') => self.blank_line_match + 1,
                    (1 | 3, b'\n') => self.blank_line_match + 1,
                    (_, b'\r') => 1,
                    _ => 0,
                };
                if self.blank_line_match == 4 {
                    self.head_end = Some(self.total + i as u64 + 1);
                    break;
                }
            }
        }
        self.total += data.len() as u64;
    }

    /// `n` bytes went out that this process never held (a file sent from the page cache).
    /// Only after the head: the head's end and the status line are known by then.
    fn record_unseen(&mut self, n: u64) {
        debug_assert!(
            self.head_end.is_some(),
            "unseen bytes before the head's end"
        );
        self.total += n;
    }

    /// Bytes written after the response head.
    fn body_bytes(&self) -> u64 {
        self.head_end
            .map(|end| self.total.saturating_sub(end))
            .unwrap_or(0)
    }

    /// The status code of the first status line written, if one was.
    fn status(&self) -> Option<u16> {
        let line = self.prefix.strip_prefix(b"HTTP/1.")?;
        let code = std::str::from_utf8(line.get(2..5)?).ok()?;
        code.parse().ok()
    }
}

/// The TCP layer of a connection: a TcpStream that mirrors every byte read and written to
/// the tap (for HTTPS these are the TLS records, as on the wire) and keeps the frames the
/// tap wrote in each direction until an event takes them.
struct TcpTap {
    stream: TcpStream,
    tap: Arc<dyn Tap>,
    flow: Option<TcpFlow>,
    read_frames: Vec<u64>,
    written_frames: Vec<u64>,
}

impl TcpTap {
    fn new(stream: TcpStream, tap: Arc<dyn Tap>, flow: Option<TcpFlow>) -> TcpTap {
        TcpTap {
            stream,
            tap,
            flow,
            read_frames: Vec::new(),
            written_frames: Vec::new(),
        }
    }

    /// Frames of every byte read or written since the last call, in order.
    fn take_all_frames(&mut self) -> Vec<u64> {
        let mut frames = std::mem::take(&mut self.read_frames);
        frames.append(&mut self.written_frames);
        frames.sort_unstable();
        frames
    }
}

impl AsyncRead for TcpTap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let new = &buf.filled()[before..];
            if !new.is_empty()
                && let Some(flow) = this.flow
            {
                let frames = this.tap.tcp_data(flow, true, new);
                this.read_frames.extend(frames);
            }
        }
        polled
    }
}

impl AsyncWrite for TcpTap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.stream).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = polled
            && let Some(flow) = this.flow
        {
            let frames = this.tap.tcp_data(flow, false, &data[..n]);
            this.written_frames.extend(frames);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// What carries the HTTP bytes: the TCP connection itself, or TLS over it.
enum Transport {
    Plain(TcpTap),
    Tls(Box<tokio_rustls::server::TlsStream<TcpTap>>),
}

/// A connection as the HTTP code sees it (plain bytes, whatever the transport), and what the
/// shell needs to describe the exchange: the outgoing HTTP bytes ([`OutScan`]), the frames
/// the tap wrote since the last event took them, EOF and errors.
struct TapIo {
    transport: Transport,
    out: OutScan,
    client_eof: bool,
    read_error: Option<io::ErrorKind>,
    write_error: Option<io::ErrorKind>,
    /// Body payload bytes written by the raw path.
    body_sent: u64,
}

impl std::fmt::Debug for TapIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapIo")
            .field("tls", &self.is_tls())
            .field("out", &self.out)
            .finish_non_exhaustive()
    }
}

impl TapIo {
    fn new(transport: Transport) -> TapIo {
        TapIo {
            transport,
            out: OutScan::default(),
            client_eof: false,
            read_error: None,
            write_error: None,
            body_sent: 0,
        }
    }

    fn is_tls(&self) -> bool {
        matches!(self.transport, Transport::Tls(_))
    }

    fn tcp(&mut self) -> &mut TcpTap {
        match &mut self.transport {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(tls) => tls.get_mut().0,
        }
    }

    fn tcp_stream(&self) -> &TcpStream {
        match &self.transport {
            Transport::Plain(tcp) => &tcp.stream,
            Transport::Tls(tls) => &tls.get_ref().0.stream,
        }
    }

    /// Whether file bytes may go out with [`TapIo::send_file`]: plain TCP (TLS must encrypt
    /// them here), a tap that does not need the payload, and the response head already
    /// written (so the stream's scan has what it needs from the bytes it saw).
    fn can_send_file(&self) -> bool {
        match &self.transport {
            Transport::Plain(tcp) => !tcp.tap.needs_tcp_payload() && self.out.head_end.is_some(),
            Transport::Tls(_) => false,
        }
    }

    /// Send up to `count` bytes of `file` from `offset` with `sendfile(2)`, waiting while the
    /// socket's send buffer is full; returns how many went (0: the file ends at `offset`).
    /// Only when [`TapIo::can_send_file`] says so.
    async fn send_file(
        &mut self,
        file: &tokio::fs::File,
        offset: u64,
        count: u64,
    ) -> io::Result<u64> {
        use std::os::fd::AsRawFd;
        let Transport::Plain(tcp) = &self.transport else {
            return Err(io::Error::other("sendfile on a TLS connection"));
        };
        let (Ok(mut off), Ok(count)) = (libc::off_t::try_from(offset), usize::try_from(count))
        else {
            return Err(io::Error::other(format!(
                "file offset {offset} out of range for sendfile"
            )));
        };
        let (sock, src) = (tcp.stream.as_raw_fd(), file.as_raw_fd());
        let sent = tcp
            .stream
            .async_io(tokio::io::Interest::WRITABLE, || {
                // SAFETY: `sock` and `src` are open descriptors owned by the stream and the
                // file, both borrowed for this call; `off` is a valid off_t the kernel reads
                // and advances (the file's own cursor is left alone).
                let rc = unsafe { libc::sendfile(sock, src, &mut off, count) };
                usize::try_from(rc).map_err(|_| io::Error::last_os_error())
            })
            .await;
        match sent {
            Ok(n) => {
                let n = n as u64;
                self.out.record_unseen(n);
                Ok(n)
            }
            Err(e) => {
                self.write_error.get_or_insert(e.kind());
                Err(e)
            }
        }
    }

    /// Frames of the bytes read since the last call.
    fn take_read_frames(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.tcp().read_frames)
    }

    /// Frames of the bytes written since the last take, left in place.
    fn written_frames(&self) -> Vec<u64> {
        match &self.transport {
            Transport::Plain(tcp) => tcp.written_frames.clone(),
            Transport::Tls(tls) => tls.get_ref().0.written_frames.clone(),
        }
    }

    /// Frames of the bytes written since the last call.
    fn take_written_frames(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.tcp().written_frames)
    }
}

impl AsyncRead for TapIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let wanted = buf.remaining() > 0;
        let polled = match &mut this.transport {
            Transport::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        };
        match &polled {
            Poll::Ready(Ok(())) if wanted && buf.filled().len() == before => {
                this.client_eof = true;
            }
            Poll::Ready(Err(e)) => {
                this.read_error.get_or_insert(e.kind());
            }
            _ => {}
        }
        polled
    }
}

impl AsyncWrite for TapIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = match &mut this.transport {
            Transport::Plain(tcp) => Pin::new(tcp).poll_write(cx, data),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, data),
        };
        match &polled {
            Poll::Ready(Ok(n)) => this.out.record(&data[..*n]),
            Poll::Ready(Err(e)) => {
                this.write_error.get_or_insert(e.kind());
            }
            Poll::Pending => {}
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.transport {
            Transport::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.transport {
            Transport::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Hands hyper the bytes this shell already read, then the stream itself.
struct Rewind<'a> {
    prefix: Bytes,
    io: &'a mut TapIo,
}

impl AsyncRead for Rewind<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut *self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hyper_writes_only_what_it_can_write_exactly() {
        use crate::files::{Behaviour, FileEntry};
        let mut t = FileTable::new();
        let lm = std::time::UNIX_EPOCH;
        let entry = FileEntry::serve("a.bin", &b"0123456789"[..], lm);
        t.insert("/ok.bin", entry.clone()).unwrap();
        for (path, b) in [
            (
                "/cut.bin",
                Behaviour::CutAfter {
                    bytes: 1,
                    reset: false,
                },
            ),
            ("/lie.bin", Behaviour::WrongLength { declared: 3 }),
            (
                "/stall.bin",
                Behaviour::StallAfter {
                    bytes: 1,
                    pause: Duration::from_millis(1),
                },
            ),
            ("/odd.bin", Behaviour::Status { code: 99 }),
            ("/nm.bin", Behaviour::Status { code: 304 }),
            ("/busy.bin", Behaviour::Status { code: 503 }),
        ] {
            t.insert(path, entry.clone().with_behaviour(b)).unwrap();
        }
        let by_hyper = |method: &str, path: &str, minor: u8| {
            hyper_template(&t.respond(method, path, &[]), minor).is_some()
        };
        assert!(by_hyper("GET", "/ok.bin", 1));
        assert!(by_hyper("HEAD", "/ok.bin", 1));
        assert!(by_hyper("GET", "/missing", 1));
        assert!(by_hyper("POST", "/ok.bin", 1));
        assert!(by_hyper("GET", "/busy.bin", 1));
        assert!(!by_hyper("GET", "/ok.bin", 0));
        for path in ["/cut.bin", "/lie.bin", "/stall.bin", "/odd.bin", "/nm.bin"] {
            assert!(!by_hyper("GET", path, 1), "{path}");
        }
    }

    #[test]
    fn status_on_wire_and_head_end_are_tracked() {
        let mut scan = OutScan::default();
        scan.record(b"HTTP/1.1 404 Not");
        scan.record(b" Found\r\nA: b\r\n\r");
        assert_eq!(scan.head_end, None);
        scan.record(b"\nbody");
        assert_eq!(scan.head_end, Some(32));
        assert_eq!(scan.total, 36);
        assert_eq!(scan.body_bytes(), 4);
        assert_eq!(scan.status(), Some(404));
    }

    #[tokio::test]
    async fn cached_reads_give_the_files_bytes_and_nothing_past_its_end() {
        let path = std::env::temp_dir().join(format!("pc-http-cached-{}", std::process::id()));
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = tokio::fs::File::open(&path).await.unwrap();
        let mut buf = vec![0u8; 4096];
        // Just written: the page cache has it.
        assert_eq!(read_cached(&file, 9000, &mut buf), Some(1000));
        assert_eq!(&buf[..1000], &data[9000..]);
        assert_eq!(read_cached(&file, 100, &mut buf), Some(4096));
        assert_eq!(&buf[..], &data[100..4196]);
        assert_eq!(read_cached(&file, 10_000, &mut buf), None);
        drop(file);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn title_case_matches_hyper() {
        assert_eq!(title_case("content-type"), "Content-Type");
        assert_eq!(title_case("www-authenticate"), "Www-Authenticate");
    }

    #[test]
    fn parse_head_keeps_names_and_order() {
        let raw = b"GET /fw/x.txt HTTP/1.1\r\nHOST: a\r\nuser-agent: AVAYA/96x1\r\n\r\nextra";
        let Parsed::Complete(head) = parse_head(raw) else {
            panic!("head should parse");
        };
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/fw/x.txt");
        assert_eq!(head.minor_version, 1);
        assert_eq!(
            head.headers,
            vec![
                ("HOST".to_owned(), "a".to_owned()),
                ("user-agent".to_owned(), "AVAYA/96x1".to_owned())
            ]
        );
        assert_eq!(head.raw_head.len(), raw.len() - "extra".len());
        assert!(matches!(
            parse_head(b"GET / HTTP/1.1\r\nHost"),
            Parsed::Partial
        ));
        assert!(matches!(
            parse_head(b"\x00\x01 garbage\r\n\r\n"),
            Parsed::Invalid
        ));
    }

    #[test]
    fn event_json_field_names() {
        let e = Event::Closed {
            conn: 3,
            client: "127.0.0.1:4000".to_owned(),
            by: "server".to_owned(),
            reset: true,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"kind":"closed","conn":3,"client":"127.0.0.1:4000","by":"server","reset":true}"#
        );
        let r = Event::Response {
            conn: 1,
            client: "c".to_owned(),
            path: "/a".to_owned(),
            status: 200,
            content_length: Some(3),
            body_bytes_sent: 3,
            bytes_sent: 40,
            complete: true,
            behaviour: "serve".to_owned(),
            headers: vec![("Server".to_owned(), "phonecert".to_owned())],
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"response","conn":1,"client":"c","path":"/a","status":200,"content_length":3,"body_bytes_sent":3,"bytes_sent":40,"complete":true,"behaviour":"serve","headers":[["Server","phonecert"]]}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), r);
        let f = Event::Fault {
            conn: 1,
            client: "c".to_owned(),
            path: "/a".to_owned(),
            fault: FaultMark::Reset,
            behaviour: "cut_after".to_owned(),
            body_bytes_sent: 10,
            bytes_sent: 150,
        };
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"fault","conn":1,"client":"c","path":"/a","fault":"reset","behaviour":"cut_after","body_bytes_sent":10,"bytes_sent":150}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), f);
    }
}
