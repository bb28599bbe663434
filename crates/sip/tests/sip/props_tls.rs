//! The 100,000 mutated REGISTERs over TLS: each travels over a real TLS connection on
//! loopback into the registrar's shell (TLS on its TCP port), and every message the shell
//! framed out of it obeys the rules the sans-IO properties check (`props::judge_events`);
//! the shell never stops, every connection ending is named, and nothing it framed goes
//! unrecorded.
//!
//! A TLS handshake per case would cost more than the case, so the cases share one
//! connection until it cannot carry another: the registrar closes it after a stream it
//! cannot frame, and the client closes it after a case that stops inside a message (the
//! registrar records the cut). Then the next case opens a new one. The client frames its own
//! bytes with the registrar's `Framer` to know which of the three will happen, and waits for
//! the event that must come: the answer to a well-formed probe REGISTER sent behind the case,
//! or the `malformed` event that ends the connection. Everything reported before it belongs
//! to the case.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pc_sip::Event;
use pc_sip::framing::Framer;
use pc_sip::registrar::Registrar;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::props::{AUTH, Edit, apply, edit, judge_events};
use crate::registrar::{config, register};
use crate::shell::{Running, lab_tls, start_with_tls};

/// Longest wait for an event that must come: far beyond any case's cost, short enough that
/// a registrar that stopped answering fails the property instead of hanging it.
const MUST_COME: Duration = Duration::from_secs(10);

/// One open TLS connection to the registrar, and the client's copy of its framer state.
struct Connection {
    write: WriteHalf<TlsStream<TcpStream>>,
    /// The address the registrar sees this connection come from.
    local: SocketAddr,
    /// Fed the same bytes as the registrar's framer for this connection, so it is in the
    /// same state.
    model: Framer,
    /// Reads (and drops) the answers until the connection ends.
    reader: tokio::task::JoinHandle<()>,
}

/// How a case's connection ends, known before its bytes are sent.
enum Ending {
    /// It carried whole messages: a probe follows and the connection stays.
    Probe { call_id: String },
    /// The registrar cannot frame the stream and closes it, naming why.
    RegistrarCloses { error: String },
    /// The case stops inside a message: the client closes, the registrar names the cut.
    ClientCloses { error: String },
}

/// The registrar, a client that trusts its certificate, and the connection in use.
struct Bench {
    rt: tokio::runtime::Runtime,
    run: Running,
    connector: tokio_rustls::TlsConnector,
    conn: Option<Connection>,
    case: u64,
}

impl Bench {
    fn start() -> Bench {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (ca, server) = lab_tls(pc_pki::CertChoice::LabCa);
        let run = {
            let _guard = rt.enter();
            start_with_tls(Registrar::new(config()), Some(server))
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(ca.client_config().unwrap()));
        Bench {
            rt,
            run,
            connector,
            conn: None,
            case: 0,
        }
    }

    /// Send a batch of mutated REGISTERs and judge everything the registrar reported for
    /// each.
    fn case(&mut self, batch: &[Vec<Edit>]) -> Result<(), TestCaseError> {
        let messages: Vec<Vec<u8>> = batch
            .iter()
            .map(|edits| {
                self.case += 1;
                let template = register(1, &format!("z9hG4bKtls{}", self.case), Some(AUTH), 3600)
                    .replace("SIP/2.0/UDP 10.1.1.20:5060", "SIP/2.0/TLS 10.1.1.20:5061")
                    .replace(";transport=udp", ";transport=tls");
                apply(edits, template.into_bytes())
            })
            .collect();
        let mut rest = messages.as_slice();
        let mut result = Ok(());
        while !rest.is_empty() && result.is_ok() {
            self.case += 1;
            result = self.rt.block_on(Self::exchange(
                &mut self.run,
                &self.connector,
                &mut self.conn,
                self.case,
                &mut rest,
            ));
        }
        if result.is_err()
            && let Some(conn) = self.conn.take()
        {
            // Whatever state the connection was left in, the next case starts afresh.
            conn.reader.abort();
        }
        prop_assert!(
            !self.run.task.is_finished(),
            "the registrar's shell stopped"
        );
        result
    }

    /// Send messages from the front of `rest` over the connection (opening one if needed)
    /// until one of them ends it or none is left, wait for the event that must follow, and
    /// judge what was reported for each message the registrar framed.
    async fn exchange(
        run: &mut Running,
        connector: &tokio_rustls::TlsConnector,
        slot: &mut Option<Connection>,
        n: u64,
        rest: &mut &[Vec<u8>],
    ) -> Result<(), TestCaseError> {
        if slot.is_none() {
            *slot = Some(connect(run, connector).await?);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(TestCaseError::fail("no connection"));
        };
        // What the registrar's framer will make of the bytes, message by message.
        let mut bytes = Vec::new();
        let mut framed = Vec::new();
        let mut ending = None;
        while ending.is_none()
            && let Some((message, tail)) = rest.split_first()
        {
            *rest = tail;
            bytes.extend_from_slice(message);
            conn.model.push(message);
            while let Some(next) = conn.model.next_message() {
                match next {
                    Ok(m) => framed.push(m),
                    Err(e) => {
                        ending = Some(Ending::RegistrarCloses {
                            error: format!("tls stream: {e}"),
                        })
                    }
                }
            }
            if ending.is_none()
                && let Some(e) = conn.model.finish()
            {
                ending = Some(Ending::ClientCloses {
                    error: format!("tls stream: {e}"),
                });
            }
        }
        let ending = ending.unwrap_or_else(|| Ending::Probe {
            call_id: format!("probe-{n}@10.1.1.20"),
        });
        if let Ending::Probe { call_id } = &ending {
            let probe = register(1, &format!("z9hG4bKprobe{n}"), None, 3600)
                .replace("SIP/2.0/UDP 10.1.1.20:5060", "SIP/2.0/TLS 10.1.1.20:5061")
                .replace("1j9FpLxk3uxtm8tn@10.1.1.20", call_id);
            bytes.extend_from_slice(probe.as_bytes());
        }
        let sent = async {
            conn.write.write_all(&bytes).await?;
            match &ending {
                Ending::ClientCloses { .. } => conn.write.shutdown().await,
                _ => conn.write.flush().await,
            }
        };
        // The registrar may close first (it stops reading at a framing error): that is the
        // ending the events are judged on, not a failure to send.
        let _ = sent.await;
        let local = conn.local.to_string();
        let mut events = Vec::new();
        loop {
            let next = tokio::time::timeout(MUST_COME, run.events.recv())
                .await
                .map_err(|_| {
                    TestCaseError::fail(format!(
                        "no end to the exchange in {MUST_COME:?}: {}",
                        String::from_utf8_lossy(&bytes)
                    ))
                })?
                .ok_or_else(|| TestCaseError::fail("the event channel closed"))?
                .event;
            let last = match (&ending, &next) {
                (Ending::Probe { call_id }, Event::Sent { call_id: id, .. }) => id == call_id,
                (
                    Ending::RegistrarCloses { error } | Ending::ClientCloses { error },
                    Event::Malformed {
                        from, error: got, ..
                    },
                ) if *from == local && got == error => true,
                _ => false,
            };
            events.push(next);
            if last {
                break;
            }
        }
        match ending {
            Ending::Probe { .. } => {
                // The probe's request and answer close the list; they are not a case's.
                let probe_answer = events.pop();
                let probe = events.pop();
                prop_assert!(
                    matches!(&probe, Some(Event::Request { .. })),
                    "{probe:?} {probe_answer:?}"
                );
            }
            Ending::RegistrarCloses { .. } | Ending::ClientCloses { .. } => {
                // The last event names the ending; the connection is gone.
                events.pop();
                if let Some(conn) = slot.take() {
                    let _ = tokio::time::timeout(MUST_COME, conn.reader).await;
                }
            }
        }
        // One group per framed message: the event saying what it was, then its answers.
        let mut groups: Vec<Vec<&Event>> = Vec::new();
        for e in &events {
            match e {
                // An answer, or the silence that replaces one (no Via to answer to).
                Event::Sent { .. } | Event::Silence { .. } => match groups.last_mut() {
                    Some(g) => g.push(e),
                    None => {
                        return Err(TestCaseError::fail(format!("an answer to nothing: {e:?}")));
                    }
                },
                Event::Request { .. } | Event::Response { .. } | Event::Malformed { .. } => {
                    groups.push(vec![e])
                }
                other => return Err(TestCaseError::fail(format!("unexpected event {other:?}"))),
            }
        }
        prop_assert_eq!(
            groups.len(),
            framed.len(),
            "every framed message is recorded once: {:?}",
            events
        );
        for (group, message) in groups.iter().zip(&framed) {
            if let Some(Event::Request {
                transport,
                connection,
                ..
            }) = group.first()
            {
                prop_assert_eq!(transport.as_str(), "tls");
                prop_assert!(connection.is_some());
            }
            judge_events(group, message);
        }
        Ok(())
    }
}

/// Open a TLS connection to the registrar and wait for its handshake event.
async fn connect(
    run: &mut Running,
    connector: &tokio_rustls::TlsConnector,
) -> Result<Connection, TestCaseError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| TestCaseError::fail(format!("{what}: {e}"));
    let tcp = TcpStream::connect(run.addr)
        .await
        .map_err(|e| fail("connect", &e))?;
    // Each case is written whole and waited for: Nagle's delay would only add latency.
    tcp.set_nodelay(true).map_err(|e| fail("nodelay", &e))?;
    let local = tcp.local_addr().map_err(|e| fail("local address", &e))?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")
        .map_err(|e| fail("server name", &e))?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| fail("handshake", &e))?;
    // The previous connection's events were all taken: the next one is this handshake's.
    let handshake = tokio::time::timeout(MUST_COME, run.events.recv())
        .await
        .map_err(|e| fail("handshake event", &e))?
        .ok_or_else(|| TestCaseError::fail("the event channel closed"))?;
    match handshake.event {
        Event::TlsHandshake { outcome, from, .. } if from == local.to_string() => {
            prop_assert_eq!(outcome, "ok");
        }
        other => return Err(fail("before the handshake", &format!("{other:?}"))),
    }
    let (mut read, write) = tokio::io::split(tls);
    let reader = tokio::spawn(async move {
        let mut sink = vec![0u8; 16 * 1024];
        while matches!(read.read(&mut sink).await, Ok(n) if n > 0) {}
    });
    Ok(Connection {
        write,
        local,
        model: Framer::new(),
        reader,
    })
}

thread_local! {
    /// Cases run one after another on the test's thread and share the registrar.
    static BENCH: RefCell<Option<Bench>> = const { RefCell::new(None) };
}

/// Mutated REGISTERs sent back to back before one probe: the probe and the wait for it cost
/// as much as a message, so they are shared.
const BATCH: usize = 10;

proptest! {
    // 10,000 batches of 10: as many mutated REGISTERs as over UDP and TCP (`props`).
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn a_mutated_register_over_tls_is_framed_then_answered_or_ignored_with_a_reason(
        batch in proptest::collection::vec(proptest::collection::vec(edit(), 0..8), BATCH),
    ) {
        BENCH.with(|bench| {
            let mut bench = bench.borrow_mut();
            bench.get_or_insert_with(Bench::start).case(&batch)
        })?;
    }
}
