//! The file server over real loopback TCP: a raw client writes request bytes itself and
//! reads until the server closes; the response bytes, timeline events and tap calls are
//! checked exactly.

#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pc_capture::{Stamped, Tap, TcpFlow};
use pc_http::files::{FaultMark, LastModified, RangePolicy};
use pc_http::{Behaviour, Event, FileEntry, FileTable, Finding};
use pc_http::{Body, FileBody, Patch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

#[derive(Debug, Clone, PartialEq, Eq)]
enum TapCall {
    Open(SocketAddrV4, SocketAddrV4),
    Data { from_client: bool, bytes: Vec<u8> },
    Close { by_client: bool, reset: bool },
}

#[derive(Debug, Default)]
struct RecordingTap {
    calls: Mutex<Vec<(TcpFlow, TapCall)>>,
    /// Say the payload is not needed, as the kernel-captured labs' tap does.
    without_payload: bool,
}

/// Each data or close call is one frame, numbered in call order (as a capture would).
fn frame_number(calls: &[(TcpFlow, TapCall)]) -> Vec<u64> {
    let n = calls
        .iter()
        .filter(|(_, c)| !matches!(c, TapCall::Open(..)))
        .count();
    vec![n as u64]
}

impl RecordingTap {
    /// Calls for one flow, with consecutive data in the same direction merged (how the
    /// bytes were split into writes is not part of the contract).
    fn flow_calls(&self, flow: TcpFlow) -> Vec<TapCall> {
        let mut merged: Vec<TapCall> = Vec::new();
        for (f, call) in self.calls.lock().unwrap().iter() {
            if *f != flow {
                continue;
            }
            match (merged.last_mut(), call) {
                (
                    Some(TapCall::Data {
                        from_client: a,
                        bytes,
                    }),
                    TapCall::Data {
                        from_client: b,
                        bytes: more,
                    },
                ) if a == b => bytes.extend_from_slice(more),
                _ => merged.push(call.clone()),
            }
        }
        merged
    }

    fn flow_for(&self, client: SocketAddrV4) -> TcpFlow {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .find_map(|(f, call)| match call {
                TapCall::Open(c, _) if *c == client => Some(*f),
                _ => None,
            })
            .expect("tcp_open was reported for the client")
    }
}

impl Tap for RecordingTap {
    fn udp(&self, _: SocketAddrV4, _: SocketAddrV4, _: &[u8]) -> Vec<u64> {
        Vec::new()
    }
    fn tcp_open(&self, client: SocketAddrV4, server: SocketAddrV4) -> TcpFlow {
        let mut calls = self.calls.lock().unwrap();
        let flow = TcpFlow(calls.len() as u64 + 100);
        calls.push((flow, TapCall::Open(client, server)));
        flow
    }
    fn tcp_data(&self, flow: TcpFlow, from_client: bool, data: &[u8]) -> Vec<u64> {
        let mut calls = self.calls.lock().unwrap();
        calls.push((
            flow,
            TapCall::Data {
                from_client,
                bytes: data.to_vec(),
            },
        ));
        frame_number(&calls)
    }
    fn tcp_close(&self, flow: TcpFlow, by_client: bool, reset: bool) -> Vec<u64> {
        let mut calls = self.calls.lock().unwrap();
        calls.push((flow, TapCall::Close { by_client, reset }));
        frame_number(&calls)
    }
    fn needs_tcp_payload(&self) -> bool {
        !self.without_payload
    }
}

fn lm() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(784_111_777)
}

const SCRIPT: &[u8] = b"SET APPNAME x.bin\n";

fn table() -> FileTable {
    let mut t = FileTable::new();
    t.insert(
        "/fw/96xxupgrade.txt",
        FileEntry::serve("96xxupgrade.txt", SCRIPT, lm()),
    )
    .unwrap();
    let firmware: Vec<u8> = (0..100u8).collect();
    let fw = FileEntry::serve("fw.bin", firmware, lm());
    let mut add = |path: &str, b: Behaviour| {
        t.insert(path, fw.clone().with_behaviour(b)).unwrap();
    };
    add(
        "/delay.bin",
        Behaviour::Delay {
            before: Duration::from_millis(300),
            then: Box::new(Behaviour::Serve),
        },
    );
    add(
        "/cut-fin.bin",
        Behaviour::CutAfter {
            bytes: 10,
            reset: false,
        },
    );
    add(
        "/cut-rst.bin",
        Behaviour::CutAfter {
            bytes: 10,
            reset: true,
        },
    );
    add("/long.bin", Behaviour::WrongLength { declared: 150 });
    add("/short.bin", Behaviour::WrongLength { declared: 40 });
    add(
        "/stall.bin",
        Behaviour::StallAfter {
            bytes: 5,
            pause: Duration::from_millis(300),
        },
    );
    add("/busy.bin", Behaviour::Status { code: 503 });
    add("/chunked.bin", Behaviour::Chunked { chunk: 40 });
    add(
        "/drip.bin",
        Behaviour::Drip {
            bytes: 25,
            every: Duration::from_millis(100),
        },
    );
    add("/silent.bin", Behaviour::Silence);
    add(
        "/stall-long.bin",
        Behaviour::StallAfter {
            bytes: 5,
            pause: Duration::from_secs(30),
        },
    );
    let mut odd = fw.clone();
    odd.content_type = Some("text/html".into());
    odd.last_modified = LastModified::Raw("Sunday, 06-Nov-94 08:49:37 GMT".into());
    odd.etag = Some("W/\"v1\"".into());
    odd.range = RangePolicy::Honour;
    t.insert("/ranged.bin", odd).unwrap();
    t
}

struct Server {
    addr: SocketAddr,
    events: mpsc::UnboundedReceiver<Stamped<Event>>,
    tap: Arc<RecordingTap>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    fn start() -> Server {
        Server::with(table())
    }

    fn with(files: FileTable) -> Server {
        Server::with_tls(files, None)
    }

    /// The server over TLS with `tls`, or plain with `None`.
    fn with_tls(files: FileTable, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        Server::tapped(files, tls, RecordingTap::default())
    }

    /// Plain HTTP with a tap that does not need the payload (the kernel captures it).
    fn kernel_captured(files: FileTable) -> Server {
        let tap = RecordingTap {
            without_payload: true,
            ..RecordingTap::default()
        };
        Server::tapped(files, None, tap)
    }

    fn tapped(
        files: FileTable,
        tls: Option<Arc<rustls::ServerConfig>>,
        tap: RecordingTap,
    ) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, events) = mpsc::unbounded_channel();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let tap = Arc::new(tap);
        let files = Arc::new(files);
        let task = match tls {
            None => tokio::spawn(pc_http::run(listener, files, tap.clone(), tx, shutdown_rx)),
            Some(tls) => tokio::spawn(pc_http::shell::run_tls(
                listener,
                tls,
                files,
                tap.clone(),
                tx,
                shutdown_rx,
            )),
        };
        Server {
            addr,
            events,
            tap,
            shutdown,
            task,
        }
    }

    /// Events of one connection up to and including its Closed.
    async fn events_until_closed(&mut self) -> Vec<(Instant, Event)> {
        self.stamped_until_closed()
            .await
            .into_iter()
            .map(|s| (s.at, s.event))
            .collect()
    }

    /// As [`Server::events_until_closed`], with the frames each event carries.
    async fn stamped_until_closed(&mut self) -> Vec<Stamped<Event>> {
        let mut out = Vec::new();
        loop {
            let stamped = tokio::time::timeout(Duration::from_secs(10), self.events.recv())
                .await
                .expect("events arrive in time")
                .expect("event channel open");
            let closed = matches!(stamped.event, Event::Closed { .. });
            out.push(stamped);
            if closed {
                return out;
            }
        }
    }

    async fn stop(self) {
        self.shutdown.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("server stops in time")
            .unwrap()
            .unwrap();
    }
}

struct Exchange {
    client: SocketAddrV4,
    received: Vec<u8>,
    error: Option<std::io::ErrorKind>,
}

/// Write `request`, then read until EOF or error.
async fn exchange(addr: SocketAddr, request: &[u8]) -> Exchange {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let client = match stream.local_addr().unwrap() {
        SocketAddr::V4(v4) => v4,
        SocketAddr::V6(_) => panic!("loopback v4 expected"),
    };
    stream.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let error = loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("server answers and closes in time")
        {
            Ok(0) => break None,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) => break Some(e.kind()),
        }
    };
    Exchange {
        client,
        received,
        error,
    }
}

fn firmware_head(declared: u64) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nServer: phonecert\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {declared}\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         Connection: close\r\n\r\n"
    )
}

fn firmware(n: usize) -> Vec<u8> {
    (0..100u8).take(n).collect()
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 10.1.1.5\r\n\r\n").into_bytes()
}

/// The fault events: (fault, body bytes sent, bytes sent).
fn faults_of(events: &[(Instant, Event)]) -> Vec<(FaultMark, u64, u64)> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Fault {
                fault,
                body_bytes_sent,
                bytes_sent,
                ..
            } => Some((*fault, *body_bytes_sent, *bytes_sent)),
            _ => None,
        })
        .collect()
}

fn response_of(events: &[(Instant, Event)]) -> Event {
    events
        .iter()
        .find(|(_, e)| matches!(e, Event::Response { .. }))
        .map(|(_, e)| e.clone())
        .expect("a response event")
}

#[tokio::test]
async fn serves_200_with_exact_title_case_head() {
    let mut server = Server::start();
    // Lower-case request header names: the response's names must not follow them.
    let request = b"GET /fw//96xxupgrade.txt HTTP/1.1\r\nhost: 10.1.1.5\r\n\
user-agent: AVAYA/96x1-IPT-SIP-R7_1_15_0_4 9608G\r\nrange: bytes=0-3\r\n\r\n";
    let ex = exchange(server.addr, request).await;
    let expected = [
        &b"HTTP/1.1 200 OK\r\n\
Server: phonecert\r\n\
Content-Type: text/plain\r\n\
Content-Length: 18\r\n\
Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
Connection: close\r\n\r\n"[..],
        SCRIPT,
    ]
    .concat();
    assert_eq!(
        String::from_utf8_lossy(&ex.received),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(ex.error, None);

    let stamped = server.stamped_until_closed().await;
    // The request carries the frames of the bytes read, the response those written, the close
    // its FIN: every frame the tap wrote belongs to exactly one event, in order.
    let frames: Vec<&[u64]> = stamped.iter().map(|s| s.frames.as_slice()).collect();
    assert!(frames.iter().all(|f| !f.is_empty()), "{frames:?}");
    let all: Vec<u64> = frames.concat();
    let total = all.len() as u64;
    assert_eq!(all, (1..=total).collect::<Vec<_>>(), "{frames:?}");
    let events: Vec<(Instant, Event)> = stamped.into_iter().map(|s| (s.at, s.event)).collect();
    let client = ex.client.to_string();
    let server_addr = server.addr.to_string();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        events[0].1,
        Event::Request {
            conn: 1,
            client: client.clone(),
            server: server_addr.clone(),
            method: "GET".into(),
            path: "/fw//96xxupgrade.txt".into(),
            version: "HTTP/1.1".into(),
            user_agent: Some("AVAYA/96x1-IPT-SIP-R7_1_15_0_4 9608G".into()),
            host: Some("10.1.1.5".into()),
            headers: vec![
                ("host".into(), "10.1.1.5".into()),
                (
                    "user-agent".into(),
                    "AVAYA/96x1-IPT-SIP-R7_1_15_0_4 9608G".into()
                ),
                ("range".into(), "bytes=0-3".into()),
            ],
            tls: false,
            findings: vec![Finding::DuplicateSlash, Finding::RangeRequested],
        }
    );
    assert_eq!(
        events[1].1,
        Event::Response {
            conn: 1,
            client: client.clone(),
            path: "/fw//96xxupgrade.txt".into(),
            status: 200,
            content_length: Some(18),
            body_bytes_sent: 18,
            bytes_sent: expected.len() as u64,
            complete: true,
            behaviour: "serve".into(),
            headers: vec![
                ("Server".into(), "phonecert".into()),
                ("Content-Type".into(), "text/plain".into()),
                ("Content-Length".into(), "18".into()),
                (
                    "Last-Modified".into(),
                    "Sun, 06 Nov 1994 08:49:37 GMT".into()
                ),
                ("Connection".into(), "close".into()),
            ],
        }
    );
    assert_eq!(
        events[2].1,
        Event::Closed {
            conn: 1,
            client,
            by: "server".into(),
            reset: false,
        }
    );
    assert!(events[0].0 <= events[1].0 && events[1].0 <= events[2].0);

    let flow = server.tap.flow_for(ex.client);
    let SocketAddr::V4(server_v4) = server.addr else {
        panic!("v4 server")
    };
    assert_eq!(
        server.tap.flow_calls(flow),
        vec![
            TapCall::Open(ex.client, server_v4),
            TapCall::Data {
                from_client: true,
                bytes: request.to_vec()
            },
            TapCall::Data {
                from_client: false,
                bytes: expected
            },
            TapCall::Close {
                by_client: false,
                reset: false
            },
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn missing_file_is_404_and_configured_503() {
    let mut server = Server::start();
    let ex = exchange(server.addr, &get("/fw/46xxsettings.txt")).await;
    assert_eq!(
        String::from_utf8_lossy(&ex.received),
        "HTTP/1.1 404 Not Found\r\nServer: phonecert\r\nContent-Type: text/plain\r\n\
Content-Length: 14\r\nConnection: close\r\n\r\n404 Not Found\n"
    );
    let events = server.events_until_closed().await;
    let Event::Response {
        status,
        behaviour,
        complete,
        ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!(
        (status, behaviour.as_str(), complete),
        (404, "not_found", true)
    );

    let ex = exchange(server.addr, &get("/busy.bin")).await;
    assert!(
        ex.received
            .starts_with(b"HTTP/1.1 503 Service Unavailable\r\n")
    );
    assert!(ex.received.ends_with(b"\r\n\r\n503 Service Unavailable\n"));
    let events = server.events_until_closed().await;
    let Event::Response {
        conn,
        status,
        behaviour,
        ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!((conn, status, behaviour.as_str()), (2, 503, "status"));
    server.stop().await;
}

#[tokio::test]
async fn head_gets_headers_only() {
    let mut server = Server::start();
    let ex = exchange(
        server.addr,
        b"HEAD /fw/96xxupgrade.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&ex.received),
        "HTTP/1.1 200 OK\r\nServer: phonecert\r\nContent-Type: text/plain\r\n\
Content-Length: 18\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n"
    );
    let events = server.events_until_closed().await;
    assert_eq!(
        response_of(&events),
        Event::Response {
            conn: 1,
            client: ex.client.to_string(),
            path: "/fw/96xxupgrade.txt".into(),
            status: 200,
            content_length: Some(18),
            body_bytes_sent: 0,
            bytes_sent: ex.received.len() as u64,
            complete: true,
            behaviour: "serve".into(),
            headers: vec![
                ("Server".into(), "phonecert".into()),
                ("Content-Type".into(), "text/plain".into()),
                ("Content-Length".into(), "18".into()),
                (
                    "Last-Modified".into(),
                    "Sun, 06 Nov 1994 08:49:37 GMT".into()
                ),
                ("Connection".into(), "close".into()),
            ],
        }
    );
    server.stop().await;
}

#[tokio::test]
async fn post_is_405_with_allow() {
    let mut server = Server::start();
    let ex = exchange(
        server.addr,
        b"POST /fw/96xxupgrade.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&ex.received),
        "HTTP/1.1 405 Method Not Allowed\r\nServer: phonecert\r\nAllow: GET, HEAD\r\n\
Content-Type: text/plain\r\nContent-Length: 23\r\nConnection: close\r\n\r\n405 Method Not Allowed\n"
    );
    let events = server.events_until_closed().await;
    let Event::Closed { reset, .. } = &events.last().unwrap().1 else {
        unreachable!()
    };
    assert!(!reset);
    server.stop().await;
}

#[tokio::test]
async fn http_1_0_and_bare_lf_still_get_exact_http_1_1_answer() {
    let mut server = Server::start();
    let ex = exchange(server.addr, b"GET /fw/96xxupgrade.txt HTTP/1.0\n\n").await;
    assert!(
        ex.received
            .starts_with(b"HTTP/1.1 200 OK\r\nServer: phonecert\r\n"),
        "{}",
        String::from_utf8_lossy(&ex.received)
    );
    assert!(ex.received.ends_with(SCRIPT));
    let events = server.events_until_closed().await;
    let Event::Request {
        version, findings, ..
    } = &events[0].1
    else {
        unreachable!()
    };
    assert_eq!(version, "HTTP/1.0");
    assert_eq!(findings, &vec![Finding::Http10, Finding::BareLf]);
    server.stop().await;
}

#[tokio::test]
async fn garbage_gets_400() {
    let mut server = Server::start();
    let ex = exchange(server.addr, b"\x16\x03\x01\x00\xa5 hello\r\n\r\n").await;
    assert!(ex.received.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    let events = server.events_until_closed().await;
    let Event::Request { findings, .. } = &events[0].1 else {
        unreachable!()
    };
    assert_eq!(findings, &vec![Finding::MalformedRequestHead]);
    let Event::Response {
        status, behaviour, ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!((status, behaviour.as_str()), (400, "bad_request"));
    server.stop().await;
}

#[tokio::test]
async fn delay_holds_the_answer_back() {
    let mut server = Server::start();
    let started = Instant::now();
    let ex = exchange(server.addr, &get("/delay.bin")).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        ex.received,
        [firmware_head(100).as_bytes(), &firmware(100)].concat()
    );
    let events = server.events_until_closed().await;
    let request_at = events[0].0;
    let (response_at, response) = events[1].clone();
    assert!(response_at.duration_since(request_at) >= Duration::from_millis(300));
    let Event::Response {
        behaviour,
        complete,
        ..
    } = response
    else {
        unreachable!()
    };
    assert_eq!((behaviour.as_str(), complete), ("serve", true));
    server.stop().await;
}

#[tokio::test]
async fn cut_after_with_fin() {
    let mut server = Server::start();
    let ex = exchange(server.addr, &get("/cut-fin.bin")).await;
    assert_eq!(ex.error, None, "a FIN, not a reset");
    assert_eq!(
        ex.received,
        [firmware_head(100).as_bytes(), &firmware(10)].concat()
    );
    let events = server.events_until_closed().await;
    assert_eq!(
        response_of(&events),
        Event::Response {
            conn: 1,
            client: ex.client.to_string(),
            path: "/cut-fin.bin".into(),
            status: 200,
            content_length: Some(100),
            body_bytes_sent: 10,
            bytes_sent: (firmware_head(100).len() + 10) as u64,
            complete: false,
            behaviour: "cut_after".into(),
            headers: vec![
                ("Server".into(), "phonecert".into()),
                ("Content-Type".into(), "application/octet-stream".into()),
                ("Content-Length".into(), "100".into()),
                (
                    "Last-Modified".into(),
                    "Sun, 06 Nov 1994 08:49:37 GMT".into()
                ),
                ("Connection".into(), "close".into()),
            ],
        }
    );
    // The cut is in the timeline, with the bytes sent when it happened.
    assert_eq!(
        faults_of(&events),
        vec![(FaultMark::Cut, 10, (firmware_head(100).len() + 10) as u64)]
    );
    assert_eq!(
        events.last().unwrap().1,
        Event::Closed {
            conn: 1,
            client: ex.client.to_string(),
            by: "server".into(),
            reset: false
        }
    );
    let calls = server.tap.flow_calls(server.tap.flow_for(ex.client));
    assert_eq!(
        calls.last(),
        Some(&TapCall::Close {
            by_client: false,
            reset: false
        })
    );
    server.stop().await;
}

#[tokio::test]
async fn cut_after_with_rst() {
    let mut server = Server::start();
    let ex = exchange(server.addr, &get("/cut-rst.bin")).await;
    assert_eq!(ex.error, Some(std::io::ErrorKind::ConnectionReset));
    // The bytes before the cut arrive before the reset.
    assert_eq!(
        ex.received,
        [firmware_head(100).as_bytes(), &firmware(10)].concat()
    );
    let events = server.events_until_closed().await;
    let Event::Response {
        body_bytes_sent,
        complete,
        behaviour,
        ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!(
        (body_bytes_sent, complete, behaviour.as_str()),
        (10, false, "cut_after")
    );
    assert_eq!(
        events.last().unwrap().1,
        Event::Closed {
            conn: 1,
            client: ex.client.to_string(),
            by: "server".into(),
            reset: true
        }
    );
    let calls = server.tap.flow_calls(server.tap.flow_for(ex.client));
    assert_eq!(
        calls.last(),
        Some(&TapCall::Close {
            by_client: false,
            reset: true
        })
    );
    server.stop().await;
}

#[tokio::test]
async fn wrong_length_longer_and_shorter() {
    let mut server = Server::start();
    let ex = exchange(server.addr, &get("/long.bin")).await;
    assert_eq!(ex.error, None);
    assert_eq!(
        ex.received,
        [firmware_head(150).as_bytes(), &firmware(100)].concat()
    );
    let events = server.events_until_closed().await;
    let Event::Response {
        content_length,
        body_bytes_sent,
        complete,
        behaviour,
        ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!(
        (
            content_length,
            body_bytes_sent,
            complete,
            behaviour.as_str()
        ),
        (Some(150), 100, false, "wrong_length")
    );

    let ex = exchange(server.addr, &get("/short.bin")).await;
    assert_eq!(
        ex.received,
        [firmware_head(40).as_bytes(), &firmware(100)].concat()
    );
    let events = server.events_until_closed().await;
    let Event::Response {
        content_length,
        body_bytes_sent,
        complete,
        ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!(
        (content_length, body_bytes_sent, complete),
        (Some(40), 100, true)
    );
    server.stop().await;
}

#[tokio::test]
async fn stall_pauses_mid_body() {
    let mut server = Server::start();
    let started = Instant::now();
    let ex = exchange(server.addr, &get("/stall.bin")).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        ex.received,
        [firmware_head(100).as_bytes(), &firmware(100)].concat()
    );
    let events = server.events_until_closed().await;
    let Event::Response {
        complete,
        behaviour,
        ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!((complete, behaviour.as_str()), (true, "stall_after"));
    server.stop().await;
}

#[tokio::test]
async fn client_that_goes_away_first_is_recorded() {
    let mut server = Server::start();
    let stream = TcpStream::connect(server.addr).await.unwrap();
    drop(stream);
    let events = server.events_until_closed().await;
    assert_eq!(events.len(), 1, "no request, so only the close: {events:?}");
    let Event::Closed { by, reset, .. } = &events[0].1 else {
        unreachable!()
    };
    assert_eq!((by.as_str(), *reset), ("client", false));
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_idle_connections() {
    let mut server = Server::start();
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    // Let the server accept it before asking it to stop.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.shutdown.send(true).unwrap();
    let events = server.events_until_closed().await;
    let Event::Closed { by, .. } = &events[0].1 else {
        unreachable!()
    };
    assert_eq!(by, "server");
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
        .await
        .expect("server closes the idle connection")
        .unwrap();
    assert_eq!(n, 0);
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("server stops in time")
        .unwrap()
        .unwrap();
}

/// A lab CA and a TLS server presenting the certificate `cert` for 127.0.0.1.
fn tls_server(cert: pc_pki::CertChoice) -> (pc_pki::LabCa, Server) {
    let now = time_now();
    let ca = pc_pki::LabCa::generate(pc_pki::KeyKind::EcdsaP256, now).unwrap();
    let spec = pc_pki::ServerCertSpec {
        cert,
        key: pc_pki::KeyKind::EcdsaP256,
    };
    let id = ca
        .server_identity(spec, &["127.0.0.1".to_string()], now)
        .unwrap();
    let server = Server::with_tls(table(), Some(id.server_config().unwrap()));
    (ca, server)
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// GET `path` over TLS from a client trusting only `ca`: the plaintext answer, or the
/// client's handshake error.
async fn https_get(ca: &pc_pki::LabCa, addr: SocketAddr, path: &str) -> Result<Vec<u8>, String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(ca.client_config().unwrap()));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(&get(path)).await.unwrap();
    let mut out = Vec::new();
    // The server closes after its answer; a missing close_notify is not this test's concern.
    let _ = tls.read_to_end(&mut out).await;
    Ok(out)
}

#[tokio::test]
async fn https_serves_the_same_answer_after_a_handshake_event() {
    let (ca, mut server) = tls_server(pc_pki::CertChoice::LabCa);
    let body = https_get(&ca, server.addr, "/fw/96xxupgrade.txt")
        .await
        .expect("handshake accepted");
    assert!(body.starts_with(b"HTTP/1.1 200 OK\r\n"), "{body:?}");
    assert!(body.ends_with(SCRIPT));
    let stamped = server.stamped_until_closed().await;
    let events: Vec<&Event> = stamped.iter().map(|s| &s.event).collect();
    match events.as_slice() {
        [
            Event::TlsHandshake {
                outcome,
                version,
                alert: None,
                ..
            },
            Event::Request {
                path, tls: true, ..
            },
            Event::Response {
                status: 200,
                complete: true,
                ..
            },
            Event::Closed { .. },
        ] => {
            assert_eq!(outcome, "ok");
            assert!(
                version.as_deref().is_some_and(|v| v.starts_with("TLSv1_")),
                "{version:?}"
            );
            assert_eq!(path, "/fw/96xxupgrade.txt");
        }
        other => panic!("unexpected events {other:?}"),
    }
    // The tap saw TLS records, never the plaintext request or script.
    assert!(stamped[0].frames.iter().all(|f| *f > 0) && !stamped[0].frames.is_empty());
    let client = match stamped.iter().find_map(|s| match &s.event {
        Event::Request { client, .. } => Some(client.clone()),
        _ => None,
    }) {
        Some(c) => c.parse::<SocketAddrV4>().unwrap(),
        None => panic!("no request"),
    };
    let flow = server.tap.flow_for(client);
    for call in server.tap.flow_calls(flow) {
        if let TapCall::Data { bytes, .. } = call {
            assert!(!bytes.windows(SCRIPT.len()).any(|w| w == SCRIPT));
            assert!(!bytes.windows(4).any(|w| w == b"GET "));
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_refused_certificate_is_a_handshake_event_with_the_clients_alert() {
    for (cert, alert) in [
        (pc_pki::CertChoice::SelfSigned, "unknown_ca"),
        (pc_pki::CertChoice::Expired, "certificate_expired"),
        (pc_pki::CertChoice::WrongName, "bad_certificate"),
    ] {
        let (ca, mut server) = tls_server(cert);
        let refused = https_get(&ca, server.addr, "/fw/96xxupgrade.txt").await;
        assert!(refused.is_err(), "{cert:?}: {refused:?}");
        let events = server.events_until_closed().await;
        match events.first().map(|(_, e)| e) {
            Some(Event::TlsHandshake {
                outcome,
                alert: Some(got),
                error: Some(_),
                ..
            }) => {
                assert_eq!(outcome, "alert", "{cert:?}");
                assert_eq!(got, alert, "{cert:?}");
            }
            other => panic!("{cert:?}: {other:?}"),
        }
        assert!(
            !events
                .iter()
                .any(|(_, e)| matches!(e, Event::Request { .. })),
            "{cert:?}: no request after a refused handshake"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn plain_http_on_the_tls_port_is_a_failed_handshake() {
    let (_ca, mut server) = tls_server(pc_pki::CertChoice::LabCa);
    let _ = exchange(server.addr, &get("/fw/96xxupgrade.txt")).await;
    let events = server.events_until_closed().await;
    assert!(
        matches!(events.first().map(|(_, e)| e), Some(Event::TlsHandshake { outcome, alert: None, .. }) if outcome == "failed"),
        "{events:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn chunked_body_is_framed_per_rfc_9112() {
    let mut server = Server::start();
    let ex = exchange(server.addr, &get("/chunked.bin")).await;
    let head = "HTTP/1.1 200 OK\r\nServer: phonecert\r\nContent-Type: application/octet-stream\r\n\
Transfer-Encoding: chunked\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n";
    let body = firmware(100);
    let expected = [
        head.as_bytes(),
        b"28\r\n",
        &body[..40],
        b"\r\n28\r\n",
        &body[40..80],
        b"\r\n14\r\n",
        &body[80..],
        b"\r\n0\r\n\r\n",
    ]
    .concat();
    assert_eq!(ex.received, expected);
    let events = server.events_until_closed().await;
    let Event::Response {
        content_length,
        body_bytes_sent,
        bytes_sent,
        complete,
        behaviour,
        ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!(
        (
            content_length,
            body_bytes_sent,
            complete,
            behaviour.as_str()
        ),
        (None, 100, true, "chunked")
    );
    assert_eq!(bytes_sent, expected.len() as u64);
    server.stop().await;
}

#[tokio::test]
async fn drip_spaces_the_body_out() {
    let mut server = Server::start();
    let started = Instant::now();
    let ex = exchange(server.addr, &get("/drip.bin")).await;
    // Four pieces of 25 bytes: three gaps of 100 ms.
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        ex.received,
        [firmware_head(100).as_bytes(), &firmware(100)].concat()
    );
    let events = server.events_until_closed().await;
    assert_eq!(
        faults_of(&events),
        vec![(FaultMark::Drip, 0, firmware_head(100).len() as u64)]
    );
    let Event::Response {
        complete,
        behaviour,
        ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!((complete, behaviour.as_str()), (true, "drip"));
    server.stop().await;
}

#[tokio::test]
async fn silence_holds_the_connection_until_the_client_leaves() {
    let mut server = Server::start();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&get("/silent.bin")).await.unwrap();
    let mut buf = [0u8; 64];
    let quiet = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await;
    assert!(quiet.is_err(), "nothing at all is sent: {quiet:?}");
    drop(stream);
    let events = server.events_until_closed().await;
    assert_eq!(faults_of(&events), vec![(FaultMark::Silence, 0, 0)]);
    assert!(
        !events
            .iter()
            .any(|(_, e)| matches!(e, Event::Response { .. })),
        "no response: {events:?}"
    );
    let Event::Closed { by, .. } = &events.last().unwrap().1 else {
        unreachable!()
    };
    assert_eq!(by, "client");
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_gives_up_during_a_stall_ends_it() {
    let mut server = Server::start();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&get("/stall-long.bin")).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < firmware_head(100).len() + 5 {
        let n = stream.read(&mut buf).await.unwrap();
        assert_ne!(n, 0);
        got.extend_from_slice(&buf[..n]);
    }
    let started = Instant::now();
    drop(stream);
    let events = server.events_until_closed().await;
    // Long before the 30 s pause would have ended.
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        faults_of(&events),
        vec![(FaultMark::Stall, 5, (firmware_head(100).len() + 5) as u64)]
    );
    let Event::Response {
        body_bytes_sent,
        complete,
        ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!((body_bytes_sent, complete), (5, false));
    let Event::Closed { by, .. } = &events.last().unwrap().1 else {
        unreachable!()
    };
    assert_eq!(by, "client");
    // The server goes on serving.
    let ex = exchange(server.addr, &get("/fw/96xxupgrade.txt")).await;
    assert!(ex.received.ends_with(SCRIPT));
    server.stop().await;
}

#[tokio::test]
async fn header_variants_and_an_honoured_range() {
    let mut server = Server::start();
    let request = b"GET /ranged.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n";
    let ex = exchange(server.addr, request).await;
    let expected = [
        &b"HTTP/1.1 206 Partial Content\r\nServer: phonecert\r\nContent-Type: text/html\r\n\
Content-Length: 10\r\nContent-Range: bytes 10-19/100\r\nAccept-Ranges: bytes\r\n\
Last-Modified: Sunday, 06-Nov-94 08:49:37 GMT\r\nETag: W/\"v1\"\r\nConnection: close\r\n\r\n"[..],
        &firmware(20)[10..],
    ]
    .concat();
    assert_eq!(
        String::from_utf8_lossy(&ex.received),
        String::from_utf8_lossy(&expected)
    );
    let events = server.events_until_closed().await;
    let Event::Response {
        status,
        body_bytes_sent,
        complete,
        behaviour,
        ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!(
        (status, body_bytes_sent, complete, behaviour.as_str()),
        (206, 10, true, "range")
    );

    // A stale If-Range gets the whole file.
    let request =
        b"GET /ranged.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\nIf-Range: \"v0\"\r\n\r\n";
    let ex = exchange(server.addr, request).await;
    assert!(ex.received.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(ex.received.ends_with(&firmware(100)));
    server.stop().await;
}

/// A file of its own for one test, removed when the test ends.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("pc-http-{name}-{}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn file_entry(path: &std::path::Path, len: u64, patches: Vec<Patch>) -> FileEntry {
    FileEntry {
        body: Body::file(FileBody {
            path: path.to_path_buf(),
            len,
            patches,
        }),
        ..FileEntry::serve("image.bin", &b""[..], lm())
    }
}

#[tokio::test]
async fn a_file_body_streams_from_disk_truncated_and_patched() {
    let file = TempFile::new("patched");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file.0, &data).unwrap();
    let mut t = FileTable::new();
    let patches = vec![
        Patch::Replace {
            offset: 0,
            bytes: b"MZ".to_vec(),
        },
        // In the second 64 KiB piece: patches cross piece boundaries correctly.
        Patch::Xor {
            offset: 70_000,
            mask: 0x01,
        },
    ];
    t.insert("/real.bin", file_entry(&file.0, 150_000, patches))
        .unwrap();
    let mut server = Server::with(t);
    let ex = exchange(server.addr, &get("/real.bin")).await;
    let mut want = data[..150_000].to_vec();
    want[..2].copy_from_slice(b"MZ");
    want[70_000] ^= 0x01;
    let head = firmware_head(150_000);
    assert_eq!(&ex.received[..head.len()], head.as_bytes());
    assert!(ex.received[head.len()..] == want[..], "the body differs");
    let events = server.events_until_closed().await;
    let Event::Response {
        body_bytes_sent,
        complete,
        ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!((body_bytes_sent, complete), (150_000, true));
    server.stop().await;
}

/// What the server wrote to a flow that the tap was given.
fn tapped_from_server(tap: &RecordingTap, client: SocketAddrV4) -> usize {
    tap.flow_calls(tap.flow_for(client))
        .iter()
        .map(|c| match c {
            TapCall::Data {
                from_client: false,
                bytes,
            } => bytes.len(),
            _ => 0,
        })
        .sum()
}

#[tokio::test]
async fn a_file_body_sent_from_the_page_cache_is_still_patched_ranged_and_cut() {
    let file = TempFile::new("zerocopy");
    // Over one `sendfile` piece, so runs between patches take several calls.
    let size = 9_000_000usize;
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file.0, &data).unwrap();
    let patches = vec![
        Patch::Replace {
            offset: 0,
            bytes: b"MZ".to_vec(),
        },
        Patch::Xor {
            offset: 4_500_000,
            mask: 0x40,
        },
        Patch::Replace {
            offset: size as u64 - 3,
            bytes: b"END".to_vec(),
        },
    ];
    let mut patched = data.clone();
    patched[..2].copy_from_slice(b"MZ");
    patched[4_500_000] ^= 0x40;
    patched[size - 3..].copy_from_slice(b"END");
    let entry = file_entry(&file.0, size as u64, patches);
    let mut ranged = entry.clone();
    ranged.range = RangePolicy::Honour;
    let mut t = FileTable::new();
    t.insert("/whole.bin", entry.clone()).unwrap();
    t.insert("/ranged.bin", ranged).unwrap();
    t.insert(
        "/cut.bin",
        entry.with_behaviour(Behaviour::CutAfter {
            bytes: 6_000_000,
            reset: false,
        }),
    )
    .unwrap();
    let mut server = Server::kernel_captured(t);

    let ex = exchange(server.addr, &get("/whole.bin")).await;
    let head = firmware_head(size as u64).replace("fw.bin", "image.bin");
    assert_eq!(&ex.received[..head.len()], head.as_bytes());
    assert!(ex.received[head.len()..] == patched[..], "the body differs");
    let events = server.events_until_closed().await;
    let Event::Response {
        body_bytes_sent,
        bytes_sent,
        complete,
        ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!(
        (body_bytes_sent, bytes_sent, complete),
        (size as u64, ex.received.len() as u64, true)
    );
    // Only the head and the pieces around the patches passed through the process.
    let copied = tapped_from_server(&server.tap, ex.client);
    assert!(
        copied > head.len() && copied < size / 4,
        "{copied} bytes went through the process"
    );

    // A range from inside the first patch's reach to past the middle one.
    let request = b"GET /ranged.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1-4500001\r\n\r\n".to_vec();
    let ex = exchange(server.addr, &request).await;
    assert!(ex.received.starts_with(b"HTTP/1.1 206 Partial Content\r\n"));
    assert!(ex.received.ends_with(&patched[1..=4_500_001]));
    let events = server.events_until_closed().await;
    let Event::Response {
        body_bytes_sent, ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!(body_bytes_sent, 4_500_001);

    // A cut ends the body exactly where the scenario says, and the fault event says so.
    let ex = exchange(server.addr, &get("/cut.bin")).await;
    let body_at = ex
        .received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap()
        + 4;
    assert!(ex.received[body_at..] == patched[..6_000_000]);
    let events = server.events_until_closed().await;
    assert_eq!(
        faults_of(&events),
        vec![(FaultMark::Cut, 6_000_000, ex.received.len() as u64)]
    );
    server.stop().await;
}

/// The largest resident set this process has had, in KiB (Linux `VmHWM`).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_2_gib_image_streams_and_a_client_leaving_mid_body_does_not_stop_the_server() {
    let file = TempFile::new("2gib");
    // Sparse: 2 GiB on paper, nothing on disk.
    let size: u64 = 2 << 30;
    std::fs::File::create(&file.0)
        .unwrap()
        .set_len(size)
        .unwrap();
    let mut t = FileTable::new();
    t.insert("/big.bin", file_entry(&file.0, size, Vec::new()))
        .unwrap();
    t.insert(
        "/fw/96xxupgrade.txt",
        FileEntry::serve("96xxupgrade.txt", SCRIPT, lm()),
    )
    .unwrap();
    let mut server = Server::with(t);

    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&get("/big.bin")).await.unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    // 32 MiB of the body, then the "phone" goes away mid-download.
    while got < 32 << 20 {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the body keeps coming")
            .unwrap();
        assert_ne!(n, 0, "the server must not end the body early");
        got += n;
    }
    drop(stream);
    let events = server.events_until_closed().await;
    let Event::Response {
        content_length,
        body_bytes_sent,
        complete,
        ..
    } = response_of(&events)
    else {
        unreachable!()
    };
    assert_eq!(content_length, Some(size));
    assert!(!complete);
    assert!(body_bytes_sent >= 32 << 20 && body_bytes_sent < size);
    // Streamed, not read whole: far below the 2 GiB a whole read would have taken.
    assert!(
        peak_rss_kib() < 512 * 1024,
        "peak rss {} KiB",
        peak_rss_kib()
    );
    // The server goes on serving.
    let ex = exchange(server.addr, &get("/fw/96xxupgrade.txt")).await;
    assert!(ex.received.ends_with(SCRIPT));
    server.stop().await;
}
