//! The phone's small HTTP/1.1 client (RFC 9112), written by hand on a tokio `TcpStream`.
//!
//! Owns: one `GET` per connection (`Connection: close`), status line and header parsing,
//! and exact body framing — `Content-Length` bytes, chunked, or up to EOF — so a body that
//! is short, reset or stalled is a failed download, never a silently truncated file.
//! It tells a server that does not answer (refused, no connection or no first response byte
//! within [`HTTP_ANSWER_TIMEOUT`], closed before answering: [`HttpError::is_no_answer`], the
//! caller moves on to the next HTTPSRVR) from one that answered badly (a failed download).
//! Over HTTPS ([`HttpClient::get_tls`]) the same exchange runs inside a TLS session set up by
//! [`super::tls`] (which decides what certificates to accept).
//! Never: follows redirects, keeps connections alive, caches.
//! Timeouts (phone time, scaled by the caller's clock): connect, and the first response byte
//! after the request, each within HTTP_ANSWER_TIMEOUT (10 s); after that at most
//! 2·FAST_RESPONSE_TIMEOUT (8 s) between two reads.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Avaya's FAST_RESPONSE_TIMEOUT (domain.md "Registration" timers): 4 s.
pub const FAST_RESPONSE_TIMEOUT: Duration = Duration::from_secs(4);
/// How long a file server has to accept the connection, and then to send the first byte of
/// its response, before the phone counts it as not answering and tries the next HTTPSRVR.
/// Avaya documents no value (domain.md "File server": timeouts are not documented, measure
/// them); 10 s phone time is simphone's choice — well above any lab round trip and above
/// FAST_RESPONSE_TIMEOUT so a slow but live server is not skipped, short enough that a
/// two-server list fails over inside a scenario's 30 s window. Scaled by `--time-scale`.
pub const HTTP_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest header block accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Largest body accepted (firmware images are a few MiB).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    #[error("connect to {0} timed out")]
    ConnectTimeout(SocketAddr),
    #[error("{addr} sent no response within {waited:?} of the request")]
    NoAnswer { addr: SocketAddr, waited: Duration },
    #[error("{addr} closed the connection without answering")]
    ClosedWithoutAnswer { addr: SocketAddr },
    #[error("cannot resolve '{host}': {source}")]
    Resolve { host: String, source: io::Error },
    #[error("connection failed while sending the request: {0}")]
    Send(io::Error),
    #[error("no data for {0:?} after {1} body bytes")]
    Stalled(Duration, usize),
    #[error("body cut short: {received} of {expected} bytes (content-length)")]
    Truncated { expected: usize, received: usize },
    #[error("connection reset after {received} body bytes: {source}")]
    Reset { received: usize, source: io::Error },
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error("response too large")]
    TooLarge,
    #[error("tls handshake with {addr} failed: {why}")]
    Tls { addr: SocketAddr, why: String },
}

impl HttpError {
    /// True when the server could not be reached at all.
    pub fn is_connect_failure(&self) -> bool {
        matches!(
            self,
            HttpError::Connect { .. } | HttpError::ConnectTimeout(_) | HttpError::Resolve { .. }
        )
    }

    /// True when the server did not answer: unreachable, silent, or gone before the first
    /// response byte. The phone then tries the next HTTPSRVR; any other error means the
    /// server answered and the download itself failed.
    pub fn is_no_answer(&self) -> bool {
        self.is_connect_failure()
            || matches!(
                self,
                HttpError::NoAnswer { .. }
                    | HttpError::ClosedWithoutAnswer { .. }
                    | HttpError::Send(_)
            )
    }
}

/// How the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// The parsed head of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
}

/// Find the end of the head (`CRLFCRLF`, or bare `LFLF`); returns the body offset.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Parse a response head. Never panics.
fn parse_head(bytes: &[u8]) -> Result<Head, HttpError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| HttpError::Malformed("head is not utf-8".into()))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed(format!("status line '{status_line}'")));
    }
    let status = parts
        .next()
        .filter(|s| s.len() == 3)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| HttpError::Malformed(format!("status line '{status_line}'")))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| HttpError::Malformed(format!("header line '{line}'")))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(Head {
        status,
        reason,
        headers,
    })
}

fn framing(head: &Head) -> Result<Framing, HttpError> {
    let get = |n: &str| {
        head.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    if get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return Ok(Framing::Chunked);
    }
    match get("content-length") {
        Some(v) => v
            .parse::<usize>()
            .map(Framing::Length)
            .map_err(|_| HttpError::Malformed(format!("content-length '{v}'"))),
        None if head.status == 204 || head.status == 304 => Ok(Framing::Length(0)),
        None => Ok(Framing::UntilClose),
    }
}

/// Decode a complete chunked body; `Ok(None)` = needs more bytes.
fn dechunk(buf: &[u8]) -> Result<Option<Vec<u8>>, HttpError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    loop {
        let Some(nl) = buf[at..].iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&buf[at..at + nl]);
        let size_text = line
            .trim()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        let size = usize::from_str_radix(size_text.trim(), 16)
            .map_err(|_| HttpError::Malformed(format!("chunk size '{size_text}'")))?;
        at += nl + 1;
        if size == 0 {
            return Ok(Some(out));
        }
        if size > MAX_BODY || out.len() + size > MAX_BODY {
            return Err(HttpError::TooLarge);
        }
        if buf.len() < at + size {
            return Ok(None);
        }
        out.extend_from_slice(&buf[at..at + size]);
        at += size;
        // The CRLF after the chunk data.
        match buf.get(at..) {
            Some([b'\r', b'\n', ..]) => at += 2,
            Some([b'\n', ..]) => at += 1,
            Some([]) | Some([b'\r']) => return Ok(None),
            _ => return Err(HttpError::Malformed("chunk not followed by crlf".into())),
        }
    }
}

/// The request bytes the phone sends.
pub fn request_bytes(host: &str, path: &str, user_agent: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {user_agent}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// A one-shot HTTP client.
#[derive(Debug, Clone)]
pub struct HttpClient {
    /// Source address to bind (the leased address in loopback mode).
    pub local_ip: Option<IpAddr>,
    /// Real-time connect timeout.
    pub connect_timeout: Duration,
    /// Real-time limit from the request to the first response byte.
    pub answer_timeout: Duration,
    /// Real-time limit between two reads.
    pub idle_timeout: Duration,
    /// Deliberate departures from RFC 9112 framing (fault switches); none by default.
    pub quirks: Quirks,
}

/// Ways the client can be told to read bodies wrongly, for the reference phone's fault
/// switches. The default reads every body as RFC 9112 §6.3 says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quirks {
    /// A body that ends before its Content-Length is returned as if complete.
    pub keep_truncated: bool,
    /// A body delimited by the close (no Content-Length, not chunked) is refused.
    pub require_length: bool,
}

impl HttpClient {
    /// A client whose timeouts follow the phone clock's `scale`.
    pub fn new(local_ip: Option<IpAddr>, scale: f64) -> Self {
        let scale = if scale > 0.0 { scale } else { 1.0 };
        Self {
            local_ip,
            connect_timeout: HTTP_ANSWER_TIMEOUT.div_f64(scale),
            answer_timeout: HTTP_ANSWER_TIMEOUT.div_f64(scale),
            idle_timeout: (FAST_RESPONSE_TIMEOUT * 2).div_f64(scale),
            quirks: Quirks::default(),
        }
    }

    /// The same client reading bodies with `quirks`.
    pub fn with_quirks(mut self, quirks: Quirks) -> Self {
        self.quirks = quirks;
        self
    }

    /// Resolve `host:port` (a literal address or a name) to socket addresses.
    pub async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, HttpError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        tokio::net::lookup_host((host, port))
            .await
            .map(|it| it.collect())
            .map_err(|source| HttpError::Resolve {
                host: host.to_string(),
                source,
            })
    }

    async fn connect(&self, addr: SocketAddr) -> Result<TcpStream, HttpError> {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(|source| HttpError::Connect { addr, source })?;
        if let Some(ip) = self.local_ip
            && ip.is_ipv4() == addr.is_ipv4()
        {
            socket
                .bind(SocketAddr::new(ip, 0))
                .map_err(|source| HttpError::Connect { addr, source })?;
        }
        match tokio::time::timeout(self.connect_timeout, socket.connect(addr)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(source)) => Err(HttpError::Connect { addr, source }),
            Err(_) => Err(HttpError::ConnectTimeout(addr)),
        }
    }

    /// `GET path` from `addr`, with `host` as the Host header value.
    pub async fn get(
        &self,
        addr: SocketAddr,
        host: &str,
        path: &str,
        user_agent: &str,
    ) -> Result<HttpResponse, HttpError> {
        let stream = self.connect(addr).await?;
        self.exchange(stream, addr, host, path, user_agent).await
    }

    /// `GET path` over TLS from `addr`: the handshake (with `tls`, verifying the certificate
    /// for `server_name`) within the answer timeout, then the same exchange as [`get`].
    ///
    /// [`get`]: HttpClient::get
    pub async fn get_tls(
        &self,
        addr: SocketAddr,
        tls: Arc<rustls::ClientConfig>,
        server_name: &str,
        host: &str,
        path: &str,
        user_agent: &str,
    ) -> Result<HttpResponse, HttpError> {
        let name =
            rustls::pki_types::ServerName::try_from(server_name.to_string()).map_err(|e| {
                HttpError::Tls {
                    addr,
                    why: format!("'{server_name}' is no server name: {e}"),
                }
            })?;
        let tcp = self.connect(addr).await?;
        let connector = tokio_rustls::TlsConnector::from(tls);
        let stream =
            match tokio::time::timeout(self.answer_timeout, connector.connect(name, tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    return Err(HttpError::Tls {
                        addr,
                        why: e.to_string(),
                    });
                }
                Err(_) => {
                    return Err(HttpError::NoAnswer {
                        addr,
                        waited: self.answer_timeout,
                    });
                }
            };
        self.exchange(stream, addr, host, path, user_agent).await
    }

    /// Send the request on `stream` and read the whole response.
    async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        addr: SocketAddr,
        host: &str,
        path: &str,
        user_agent: &str,
    ) -> Result<HttpResponse, HttpError> {
        stream
            .write_all(&request_bytes(host, path, user_agent))
            .await
            .map_err(HttpError::Send)?;
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        // The first byte tells whether the server answers at all.
        let first = match tokio::time::timeout(self.answer_timeout, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Err(HttpError::ClosedWithoutAnswer { addr }),
            Ok(Ok(n)) => n,
            Err(_) => {
                return Err(HttpError::NoAnswer {
                    addr,
                    waited: self.answer_timeout,
                });
            }
        };
        buf.extend_from_slice(&chunk[..first]);
        // Head.
        let body_at = loop {
            if let Some(end) = head_end(&buf) {
                break end;
            }
            if buf.len() > MAX_HEAD {
                return Err(HttpError::Malformed("header block too large".into()));
            }
            let n = self.read(&mut stream, &mut chunk, 0).await?;
            if n == 0 {
                return Err(HttpError::Malformed(format!(
                    "connection closed inside the head after {} bytes",
                    buf.len()
                )));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = parse_head(&buf[..body_at])?;
        let framing = framing(&head)?;
        let mut body = buf.split_off(body_at);
        let body = match framing {
            Framing::Length(expected) => {
                if expected > MAX_BODY {
                    return Err(HttpError::TooLarge);
                }
                while body.len() < expected {
                    let n = self.read(&mut stream, &mut chunk, body.len()).await?;
                    if n == 0 {
                        if self.quirks.keep_truncated {
                            break;
                        }
                        return Err(HttpError::Truncated {
                            expected,
                            received: body.len(),
                        });
                    }
                    body.extend_from_slice(&chunk[..n]);
                }
                // Bytes past Content-Length are not part of this response.
                body.truncate(expected);
                body
            }
            Framing::Chunked => loop {
                if let Some(decoded) = dechunk(&body)? {
                    break decoded;
                }
                let n = self.read(&mut stream, &mut chunk, body.len()).await?;
                if n == 0 {
                    return Err(HttpError::Malformed(
                        "connection closed inside chunked body".into(),
                    ));
                }
                body.extend_from_slice(&chunk[..n]);
                if body.len() > MAX_BODY + 64 * 1024 {
                    return Err(HttpError::TooLarge);
                }
            },
            Framing::UntilClose if self.quirks.require_length => {
                return Err(HttpError::Malformed(
                    "neither content-length nor chunked: body not read".into(),
                ));
            }
            Framing::UntilClose => loop {
                let n = self.read(&mut stream, &mut chunk, body.len()).await?;
                if n == 0 {
                    break body;
                }
                body.extend_from_slice(&chunk[..n]);
                if body.len() > MAX_BODY {
                    return Err(HttpError::TooLarge);
                }
            },
        };
        Ok(HttpResponse {
            status: head.status,
            reason: head.reason,
            headers: head.headers,
            body,
        })
    }

    async fn read<S: AsyncRead + Unpin>(
        &self,
        stream: &mut S,
        chunk: &mut [u8],
        received: usize,
    ) -> Result<usize, HttpError> {
        match tokio::time::timeout(self.idle_timeout, stream.read(chunk)).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(source)) => Err(HttpError::Reset { received, source }),
            Err(_) => Err(HttpError::Stalled(self.idle_timeout, received)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tokio::net::TcpListener;

    /// Serve one connection: read the request, write `reply`, optionally keep it open.
    async fn serve_once(
        reply: Vec<u8>,
        hold_open: bool,
    ) -> (SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut req = Vec::new();
            let mut b = [0u8; 1024];
            while head_end(&req).is_none() {
                let n = s.read(&mut b).await.expect("read");
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&b[..n]);
            }
            s.write_all(&reply).await.expect("write");
            if hold_open {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            req
        });
        (addr, task)
    }

    fn client() -> HttpClient {
        HttpClient {
            local_ip: None,
            connect_timeout: Duration::from_secs(2),
            answer_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(300),
            quirks: Quirks::default(),
        }
    }

    #[test]
    fn request_is_byte_exact() {
        assert_eq!(
            request_bytes("10.0.0.9:8080", "/fw/96xxupgrade.txt", "AVAYA/96x0-IPT-SIP-2.6.0.0 9620"),
            b"GET /fw/96xxupgrade.txt HTTP/1.1\r\nHost: 10.0.0.9:8080\r\nUser-Agent: AVAYA/96x0-IPT-SIP-2.6.0.0 9620\r\nAccept: */*\r\nConnection: close\r\n\r\n".to_vec()
        );
    }

    #[tokio::test]
    async fn content_length_is_honoured_and_extra_bytes_dropped() {
        let (addr, task) = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello-extra"
                .to_vec(),
            false,
        )
        .await;
        let r = client().get(addr, "h", "/x", "ua").await.expect("get");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hello");
        assert_eq!(r.header("content-length"), Some("5"));
        let req = task.await.expect("server");
        assert!(req.starts_with(b"GET /x HTTP/1.1\r\nHost: h\r\nUser-Agent: ua\r\n"));
    }

    #[tokio::test]
    async fn short_body_is_a_failed_download() {
        let (addr, _t) = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-this".to_vec(),
            false,
        )
        .await;
        let e = client()
            .get(addr, "h", "/x", "ua")
            .await
            .expect_err("truncated");
        assert!(
            matches!(
                e,
                HttpError::Truncated {
                    expected: 100,
                    received: 9
                }
            ),
            "{e}"
        );
    }

    #[tokio::test]
    async fn stalled_body_times_out() {
        let (addr, _t) = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial".to_vec(),
            true,
        )
        .await;
        let e = client()
            .get(addr, "h", "/x", "ua")
            .await
            .expect_err("stalled");
        assert!(matches!(e, HttpError::Stalled(_, 7)), "{e}");
    }

    #[tokio::test]
    async fn body_without_length_runs_to_eof_and_404_is_a_response() {
        let (addr, _t) = serve_once(b"HTTP/1.0 404 Not Found\r\n\r\nnope".to_vec(), false).await;
        let r = client().get(addr, "h", "/x", "ua").await.expect("get");
        assert_eq!((r.status, r.body.as_slice()), (404, &b"nope"[..]));
    }

    #[tokio::test]
    async fn quirks_keep_a_short_body_or_refuse_one_without_length() {
        let (addr, _t) = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-this".to_vec(),
            false,
        )
        .await;
        let keep = Quirks {
            keep_truncated: true,
            ..Quirks::default()
        };
        let r = client()
            .with_quirks(keep)
            .get(addr, "h", "/x", "ua")
            .await
            .expect("kept");
        assert_eq!(r.body, b"only-this");
        let (addr, _t) = serve_once(b"HTTP/1.1 200 OK\r\n\r\nto-the-close".to_vec(), false).await;
        let strict = Quirks {
            require_length: true,
            ..Quirks::default()
        };
        let e = client()
            .with_quirks(strict)
            .get(addr, "h", "/x", "ua")
            .await
            .expect_err("refused");
        assert!(matches!(e, HttpError::Malformed(_)), "{e}");
    }

    #[tokio::test]
    async fn chunked_bodies_are_decoded() {
        let (addr, _t) = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n".to_vec(),
            true,
        )
        .await;
        let r = client().get(addr, "h", "/x", "ua").await.expect("get");
        assert_eq!(r.body, b"hello world");
    }

    #[tokio::test]
    async fn refused_connection_is_a_connect_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let e = client()
            .get(addr, "h", "/x", "ua")
            .await
            .expect_err("refused");
        assert!(e.is_connect_failure(), "{e}");
        assert!(e.is_no_answer(), "{e}");
    }

    #[tokio::test]
    async fn a_server_that_accepts_but_never_answers_is_not_answering() {
        let (addr, _t) = serve_once(Vec::new(), true).await;
        let e = client()
            .get(addr, "h", "/x", "ua")
            .await
            .expect_err("silent");
        assert!(matches!(e, HttpError::NoAnswer { .. }), "{e}");
        assert!(e.is_no_answer());
        let (addr, _t) = serve_once(Vec::new(), false).await;
        let e = client()
            .get(addr, "h", "/x", "ua")
            .await
            .expect_err("closed");
        assert!(matches!(e, HttpError::ClosedWithoutAnswer { .. }), "{e}");
        assert!(e.is_no_answer());
    }

    #[tokio::test]
    async fn a_stall_after_the_first_byte_is_a_failed_download_not_silence() {
        let (addr, _t) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Len".to_vec(), true).await;
        let e = client()
            .get(addr, "h", "/x", "ua")
            .await
            .expect_err("stall");
        assert!(matches!(e, HttpError::Stalled(_, 0)), "{e}");
        assert!(!e.is_no_answer());
    }

    #[test]
    fn timeouts_follow_the_phone_clock() {
        let c = HttpClient::new(None, 20.0);
        assert_eq!(c.connect_timeout, HTTP_ANSWER_TIMEOUT / 20);
        assert_eq!(c.answer_timeout, Duration::from_millis(500));
        assert_eq!(c.idle_timeout, Duration::from_millis(400));
    }

    #[test]
    fn heads_parse_or_fail_cleanly() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n").expect("ok");
        assert_eq!(h.status, 200);
        assert_eq!(h.headers, vec![("A".into(), "b".into())]);
        assert!(parse_head(b"FTP 200 OK\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 20 OK\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nnocolon\r\n\r\n").is_err());
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\n\n").expect("lf").status, 200);
    }

    proptest! {
        #[test]
        fn head_and_chunk_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_head(&bytes);
            let _ = head_end(&bytes);
            let _ = dechunk(&bytes);
        }
    }
}
