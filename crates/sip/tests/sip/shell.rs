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
