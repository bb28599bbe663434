//! The UDP shell over 127.0.0.1: a tokio client registers through it, every datagram shows up
//! at the tap, events arrive stamped, and shutdown stops it.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pc_capture::{Tap, TcpFlow};
use pc_sip::registrar::Registrar;
use pc_sip::{Event, shell};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::registrar::{config, register};

#[derive(Default)]
struct RecordingTap(Mutex<Vec<(SocketAddrV4, SocketAddrV4, Vec<u8>)>>);

impl Tap for RecordingTap {
    fn udp(&self, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u64> {
        let mut v = self.0.lock().unwrap();
        v.push((src, dst, payload.to_vec()));
        vec![v.len() as u64]
    }
    fn tcp_open(&self, _: SocketAddrV4, _: SocketAddrV4) -> TcpFlow {
        TcpFlow(0)
    }
    fn tcp_data(&self, _: TcpFlow, _: bool, _: &[u8]) -> Vec<u64> {
        Vec::new()
    }
    fn tcp_close(&self, _: TcpFlow, _: bool, _: bool) -> Vec<u64> {
        Vec::new()
    }
}

async fn recv(client: &UdpSocket) -> String {
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
        .await
        .expect("a response within 5 s")
        .unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

#[tokio::test]
async fn loopback_register_through_the_shell() {
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_addr = server.local_addr().unwrap();
    let tap = Arc::new(RecordingTap::default());
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(shell::run_udp(
        Registrar::new(config()),
        server,
        tap.clone(),
        ev_tx,
        stop_rx,
    ));

    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let client_addr = client.local_addr().unwrap();
    // rport: the answer must come back to our ephemeral port, whatever the Via says.
    client
        .send_to(register(1, "z9hG4bKl1", None, 60).as_bytes(), server_addr)
        .await
        .unwrap();
    let challenge = recv(&client).await;
    assert!(
        challenge.starts_with("SIP/2.0 401 Unauthorized\r\n"),
        "{challenge}"
    );
    assert!(challenge.contains(&format!(";rport={};received=127.0.0.1", client_addr.port())));

    client.send_to(b"garbage", server_addr).await.unwrap();

    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let response = pc_sip::digest::compute_response(&pc_sip::digest::DigestInput {
        algorithm: pc_sip::Algorithm::Md5,
        username: "1001",
        realm: "lab.test",
        password: "1234",
        method: "REGISTER",
        uri: "sip:lab.test",
        nonce: &nonce,
        qop: Some(pc_sip::digest::QopAuth {
            nc: "00000001",
            cnonce: "c0ffee",
        }),
        cnonce: None,
    });
    let auth = format!(
        "Digest username=\"1001\", realm=\"lab.test\", nonce=\"{nonce}\", uri=\"sip:lab.test\", response=\"{response}\", qop=auth, nc=00000001, cnonce=\"c0ffee\""
    );
    client
        .send_to(
            register(2, "z9hG4bKl2", Some(&auth), 60).as_bytes(),
            server_addr,
        )
        .await
        .unwrap();
    let ok = recv(&client).await;
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");

    // Events: request, sent 401, malformed, request, sent 200 — in that order, stamped, each
    // with the frame the tap numbered for its datagram.
    let mut kinds = Vec::new();
    let mut frames = Vec::new();
    let mut last = None;
    while kinds.len() < 5 {
        let pc_capture::Stamped {
            at,
            event: ev,
            frames: carried,
        } = tokio::time::timeout(Duration::from_secs(5), ev_rx.recv())
            .await
            .expect("event in time")
            .expect("channel open");
        if let Some(prev) = last {
            assert!(at >= prev);
        }
        last = Some(at);
        frames.push(carried);
        kinds.push(match ev {
            Event::Request { cseq, from, .. } => {
                assert_eq!(from, client_addr.to_string());
                format!("request {cseq}")
            }
            Event::Sent { status, .. } => format!("sent {status}"),
            Event::Malformed { len, .. } => format!("malformed {len}"),
            other => format!("{other:?}"),
        });
    }
    assert_eq!(
        kinds,
        [
            "request 1",
            "sent 401",
            "malformed 7",
            "request 2",
            "sent 200"
        ]
    );
    assert_eq!(frames, [[1], [2], [3], [4], [5]]);

    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("shell stops on shutdown")
        .unwrap()
        .unwrap();

    let (SocketAddr::V4(c), SocketAddr::V4(s)) = (client_addr, server_addr) else {
        panic!("ipv4 loopback expected");
    };
    let seen = tap.0.lock().unwrap();
    let dirs: Vec<_> = seen
        .iter()
        .map(|(src, dst, _)| (*src == c && *dst == s, *src == s && *dst == c))
        .collect();
    assert_eq!(
        dirs,
        [
            (true, false),
            (false, true),
            (true, false),
            (true, false),
            (false, true)
        ]
    );
    assert_eq!(seen[2].2, b"garbage");
    assert_eq!(seen[4].2, ok.as_bytes());
}

/// UDP and TCP listeners on one port of 127.0.0.1 (retrying while the port is taken).
pub fn udp_and_tcp_on_one_port() -> (std::net::UdpSocket, std::net::TcpListener) {
    for _ in 0..50 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return (udp, tcp);
        }
    }
    panic!("no port free for both udp and tcp");
}

fn tcp_register(cseq: u32, branch: &str, port: u16) -> String {
    register(cseq, branch, None, 60)
        .replace(
            "SIP/2.0/UDP 10.1.1.20:5060",
            &format!("SIP/2.0/TCP 127.0.0.1:{port}"),
        )
        .replace(";transport=udp", ";transport=tcp")
}

async fn read_message(stream: &mut tokio::net::TcpStream) -> Option<String> {
    read_framed(stream, &mut pc_sip::framing::Framer::new()).await
}

async fn read_framed(
    stream: &mut tokio::net::TcpStream,
    framer: &mut pc_sip::framing::Framer,
) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(m) = framer.next_message() {
            return Some(String::from_utf8(m.unwrap()).unwrap());
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("an answer or a close within 5 s")
            .unwrap();
        if n == 0 {
            return None;
        }
        framer.push(&chunk[..n]);
    }
}

/// A registrar shell serving UDP, TCP and maybe TLS on one port of 127.0.0.1.
pub(crate) struct Running {
    pub addr: SocketAddr,
    pub events: mpsc::UnboundedReceiver<pc_capture::Stamped<Event>>,
    pub stop: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn start(registrar: Registrar) -> Running {
    start_with_tls(registrar, None)
}

pub(crate) fn start_with_tls(
    registrar: Registrar,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Running {
    let (udp, tcp) = udp_and_tcp_on_one_port();
    let addr = udp.local_addr().unwrap();
    let (ev_tx, events) = mpsc::unbounded_channel();
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(shell::run(
        registrar,
        shell::Listeners {
            udp,
            tcp: Some(tcp),
            tls,
        },
        Arc::new(pc_capture::NoTap),
        ev_tx,
        stop_rx,
    ));
    Running {
        addr,
        events,
        stop,
        task,
    }
}

#[tokio::test]
async fn tcp_on_the_udp_port_answers_on_the_connection_whatever_the_chunking() {
    use tokio::io::AsyncWriteExt;
    let mut run = start(Registrar::new(config()));
    // UDP still answers on the same port.
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(register(1, "z9hG4bKu1", None, 60).as_bytes(), run.addr)
        .await
        .unwrap();
    assert!(recv(&client).await.starts_with("SIP/2.0 401 "));

    let mut stream = tokio::net::TcpStream::connect(run.addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    // Two requests in one stream, cut mid-header and mid-second-message.
    let both = format!(
        "{}{}",
        tcp_register(1, "z9hG4bKt1", local.port()),
        tcp_register(2, "z9hG4bKt2", local.port())
    );
    let (a, b) = both.as_bytes().split_at(37);
    stream.write_all(a).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(b).await.unwrap();
    let mut framer = pc_sip::framing::Framer::new();
    for cseq in [1, 2] {
        let answer = read_framed(&mut stream, &mut framer)
            .await
            .expect("an answer");
        assert!(answer.starts_with("SIP/2.0 401 "), "{answer}");
        assert!(
            answer.contains(&format!("CSeq: {cseq} REGISTER")),
            "{answer}"
        );
    }
    // A second connection: its request carries another number than the first two.
    let mut second = tokio::net::TcpStream::connect(run.addr).await.unwrap();
    let port = second.local_addr().unwrap().port();
    second
        .write_all(tcp_register(3, "z9hG4bKt3", port).as_bytes())
        .await
        .unwrap();
    assert!(
        read_message(&mut second)
            .await
            .unwrap()
            .starts_with("SIP/2.0 401 ")
    );
    let mut transports = Vec::new();
    while transports.len() < 4 {
        let e = tokio::time::timeout(Duration::from_secs(5), run.events.recv())
            .await
            .unwrap()
            .unwrap();
        if let Event::Request {
            transport,
            from,
            connection,
            ..
        } = e.event
        {
            transports.push((transport, from == local.to_string(), connection));
        }
    }
    assert_eq!(
        transports,
        [
            ("udp".into(), false, None),
            ("tcp".into(), true, Some(1)),
            ("tcp".into(), true, Some(1)),
            ("tcp".into(), false, Some(2)),
        ]
    );
    run.stop.send(true).unwrap();
    run.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_thousand_idle_connections_and_garbage_streams_do_not_stop_the_registrar() {
    use tokio::io::AsyncWriteExt;
    let mut run = start(Registrar::new(config()));
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(tokio::net::TcpStream::connect(run.addr).await.unwrap());
    }
    // A stream that cannot be framed is closed and recorded.
    let mut bad = tokio::net::TcpStream::connect(run.addr).await.unwrap();
    bad.write_all(b"REGISTER sip:lab.test SIP/2.0\r\nContent-Length: lots\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_message(&mut bad).await, None, "closed");
    let malformed = loop {
        let e = tokio::time::timeout(Duration::from_secs(5), run.events.recv())
            .await
            .unwrap()
            .unwrap();
        if let Event::Malformed { error, .. } = e.event {
            break error;
        }
    };
    assert!(malformed.contains("content-length `lots`"), "{malformed}");
    // A real phone still gets its answer, over TCP and over UDP.
    let mut stream = tokio::net::TcpStream::connect(run.addr).await.unwrap();
    let port = stream.local_addr().unwrap().port();
    stream
        .write_all(tcp_register(1, "z9hG4bKi1", port).as_bytes())
        .await
        .unwrap();
    let answer = read_message(&mut stream).await.expect("an answer");
    assert!(answer.starts_with("SIP/2.0 401 "), "{answer}");
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(register(1, "z9hG4bKi2", None, 60).as_bytes(), run.addr)
        .await
        .unwrap();
    assert!(recv(&client).await.starts_with("SIP/2.0 401 "));
    drop(idle);
    run.stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), run.task)
        .await
        .expect("stops with idle connections open")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_connection_closed_inside_a_message_is_recorded_with_what_it_held() {
    use tokio::io::AsyncWriteExt;
    let mut run = start(Registrar::new(config()));
    let mut stream = tokio::net::TcpStream::connect(run.addr).await.unwrap();
    let port = stream.local_addr().unwrap().port();
    let whole = tcp_register(1, "z9hG4bKe1", port);
    // One whole message, then half of the next: the first is answered, the cut recorded.
    let half = &whole[..whole.len() / 2];
    stream
        .write_all(format!("{whole}{half}").as_bytes())
        .await
        .unwrap();
    assert!(
        read_message(&mut stream)
            .await
            .unwrap()
            .starts_with("SIP/2.0 401 ")
    );
    stream.shutdown().await.unwrap();
    let malformed = loop {
        let e = tokio::time::timeout(Duration::from_secs(5), run.events.recv())
            .await
            .unwrap()
            .unwrap();
        if let Event::Malformed { from, len, error } = e.event {
            break (from, len, error);
        }
    };
    assert_eq!(
        malformed,
        (
            stream.local_addr().unwrap().to_string(),
            half.len(),
            format!(
                "tcp stream: stream ended inside a message ({} bytes held)",
                half.len()
            )
        )
    );
    run.stop.send(true).unwrap();
}

#[tokio::test]
async fn a_scripted_close_ends_the_connection_unanswered() {
    use tokio::io::AsyncWriteExt;
    let mut reg = Registrar::new(config());
    reg.set_script(vec![pc_sip::ScriptedAnswer::Close]);
    let run = start(reg);
    let mut stream = tokio::net::TcpStream::connect(run.addr).await.unwrap();
    let port = stream.local_addr().unwrap().port();
    stream
        .write_all(tcp_register(1, "z9hG4bKc1", port).as_bytes())
        .await
        .unwrap();
    assert_eq!(read_message(&mut stream).await, None);
    run.stop.send(true).unwrap();
}

/// A lab CA and a controller certificate for 127.0.0.1 under it.
pub(crate) fn lab_tls(choice: pc_pki::CertChoice) -> (pc_pki::LabCa, Arc<rustls::ServerConfig>) {
    let now = time::OffsetDateTime::now_utc();
    let ca = pc_pki::LabCa::generate(pc_pki::KeyKind::EcdsaP256, now).unwrap();
    let id = ca
        .server_identity(
            pc_pki::ServerCertSpec {
                cert: choice,
                key: pc_pki::KeyKind::EcdsaP256,
            },
            &["127.0.0.1".to_owned()],
            now,
        )
        .unwrap();
    let config = id.server_config().unwrap();
    (ca, config)
}

async fn next_handshake(run: &mut Running) -> (String, Option<String>) {
    let (outcome, alert, _) = next_handshake_on(run).await;
    (outcome, alert)
}

/// The next handshake's outcome, alert and connection number.
async fn next_handshake_on(run: &mut Running) -> (String, Option<String>, u64) {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(5), run.events.recv())
            .await
            .expect("a handshake event in time")
            .unwrap();
        if let Event::TlsHandshake {
            outcome,
            alert,
            connection,
            ..
        } = e.event
        {
            return (outcome, alert, connection);
        }
    }
}

#[tokio::test]
async fn tls_on_the_tcp_port_is_told_apart_by_its_first_byte_and_every_handshake_is_recorded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (ca, server) = lab_tls(pc_pki::CertChoice::LabCa);
    let mut run = start_with_tls(Registrar::new(config()), Some(server));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(ca.client_config().unwrap()));
    let tcp = tokio::net::TcpStream::connect(run.addr).await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name.clone(), tcp).await.unwrap();
    assert_eq!(
        next_handshake_on(&mut run).await,
        ("ok".to_owned(), None, 1)
    );
    let request = tcp_register(1, "z9hG4bKs1", port).replace("SIP/2.0/TCP", "SIP/2.0/TLS");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut framer = pc_sip::framing::Framer::new();
    let mut chunk = [0u8; 4096];
    let answer = loop {
        if let Some(m) = framer.next_message() {
            break String::from_utf8(m.unwrap()).unwrap();
        }
        let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before the answer");
        framer.push(&chunk[..n]);
    };
    assert!(answer.starts_with("SIP/2.0 401 "), "{answer}");
    let transport = loop {
        let e = run.events.recv().await.unwrap();
        if let Event::Request {
            transport,
            connection,
            ..
        } = e.event
        {
            break (transport, connection);
        }
    };
    assert_eq!(transport, ("tls".to_owned(), Some(1)));
    // Plain TCP still works on the same port.
    let mut plain = tokio::net::TcpStream::connect(run.addr).await.unwrap();
    let p = plain.local_addr().unwrap().port();
    plain
        .write_all(tcp_register(1, "z9hG4bKs2", p).as_bytes())
        .await
        .unwrap();
    assert!(
        read_message(&mut plain)
            .await
            .unwrap()
            .starts_with("SIP/2.0 401 ")
    );
    // A client that does not trust the certificate refuses it with an alert, recorded.
    let (other_ca, _) = lab_tls(pc_pki::CertChoice::LabCa);
    let strict = tokio_rustls::TlsConnector::from(Arc::new(other_ca.client_config().unwrap()));
    let tcp = tokio::net::TcpStream::connect(run.addr).await.unwrap();
    assert!(strict.connect(name, tcp).await.is_err());
    let (outcome, alert) = next_handshake(&mut run).await;
    assert_eq!(outcome, "alert");
    // Another CA of the same name: the signature does not verify (`decrypt_error`).
    assert!(
        alert
            .as_deref()
            .is_some_and(|a| a.chars().all(|c| c.is_ascii_lowercase() || c == '_')),
        "{alert:?}"
    );
    run.stop.send(true).unwrap();
    run.task.await.unwrap().unwrap();
}
