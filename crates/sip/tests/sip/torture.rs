//! Torture messages in the manner of RFC 4475 (our own messages, each built from a valid
//! REGISTER with one flaw, named after the RFC 4475 test it mirrors): over UDP and over TCP
//! (framed by the stream framer first), the registrar answers what RFC 3261 says, ignores
//! what it cannot answer, and names every flaw it saw.

use std::net::SocketAddr;
use std::time::Duration;

use pc_sip::Event;
use pc_sip::framing::Framer;
use pc_sip::registrar::{Action, Registrar, Transport};

use crate::registrar::{config, register};

/// What the registrar must do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Answer with this status.
    Answer(u16),
    /// Record it and send nothing (not a message, or no Via to answer to).
    Ignore,
}

struct Vector {
    name: &'static str,
    bytes: Vec<u8>,
    outcome: Outcome,
    /// Finding codes the request event must carry (or, for ignored bytes that do not parse,
    /// nothing: the `malformed` event is the record).
    findings: &'static [&'static str],
    /// What a TCP stream makes of it, where that differs from a datagram.
    stream: Stream,
}

/// How the stream framer takes a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    /// One whole message, judged like the datagram.
    Message,
    /// Not a whole message yet: the Content-Length says more is coming (RFC 3261 §18.3).
    Waits,
    /// The stream cannot be framed: the shell records it as malformed and closes it.
    Unframeable,
}

fn base() -> String {
    register(1, "z9hG4bKtort", None, 60)
}

fn edit(from: &str, to: &str) -> Vec<u8> {
    let b = base();
    assert!(b.contains(from), "{from}");
    b.replacen(from, to, 1).into_bytes()
}

fn vectors() -> Vec<Vector> {
    use Outcome::{Answer, Ignore};
    let v = |name, bytes, outcome, findings| Vector {
        name,
        bytes,
        outcome,
        findings,
        stream: Stream::Message,
    };
    vec![
        // §3.1.1.1-like: legal but unusual formatting is served as usual.
        v(
            "whitespace before colons, compact names, tabs",
            edit("Call-ID:", "i\t :"),
            Answer(401),
            &[],
        ),
        v(
            "a folded header value (LWS continuation)",
            edit(
                "User-Agent: Avaya one-X Deskphone",
                "User-Agent: Avaya one-X\r\n   Deskphone",
            ),
            Answer(401),
            &["folded_header"],
        ),
        v(
            "bare LF line endings",
            base().replace("\r\n", "\n").into_bytes(),
            Answer(401),
            &["lf_line_endings"],
        ),
        v(
            "an unknown header and an unknown parameter",
            edit(
                "Max-Forwards: 70\r\n",
                "Max-Forwards: 70\r\nX-Odd-Header: ;;,,\"\r\n",
            ),
            Answer(401),
            &[],
        ),
        // §3.1.2.7-like: Content-Length promises more than arrived.
        v(
            "content-length larger than the body",
            edit("Content-Length: 0", "Content-Length: 9000"),
            Answer(400),
            &["content_length_mismatch"],
        )
        .over_tcp(Stream::Waits),
        // §3.1.2.8-like: negative Content-Length.
        v(
            "negative content-length",
            edit("Content-Length: 0", "Content-Length: -1"),
            Answer(400),
            &["invalid_content_length"],
        )
        .over_tcp(Stream::Unframeable),
        // §3.1.2.11-like: a required header is missing.
        v(
            "no Call-ID",
            edit("Call-ID: 1j9FpLxk3uxtm8tn@10.1.1.20\r\n", ""),
            Answer(400),
            &["missing_header"],
        ),
        v(
            "no CSeq",
            edit("CSeq: 1 REGISTER\r\n", ""),
            Answer(400),
            &["missing_header"],
        ),
        // §3.1.2.9-like: a single-value header given twice.
        v(
            "two different To headers",
            edit(
                "To: <sip:1001@lab.test>\r\n",
                "To: <sip:1001@lab.test>\r\nTo: <sip:9999@lab.test>\r\n",
            ),
            Answer(400),
            &["duplicate_header"],
        ),
        // §3.1.2.13-like: the CSeq method disagrees with the request method.
        v(
            "CSeq names another method",
            edit("CSeq: 1 REGISTER", "CSeq: 1 INVITE"),
            Answer(400),
            &["cseq_method_mismatch"],
        ),
        v(
            "a CSeq number beyond 2^31",
            edit("CSeq: 1 REGISTER", "CSeq: 99999999999 REGISTER"),
            Answer(400),
            &["invalid_header"],
        ),
        // §3.1.2.16-like: another protocol version.
        v(
            "SIP/7.0 in the request line",
            edit("sip:lab.test SIP/2.0", "sip:lab.test SIP/7.0"),
            Answer(505),
            &["unexpected_version"],
        ),
        // §3.1.2.10-like: a Request-URI of an unknown scheme.
        v(
            "a Request-URI without a SIP scheme",
            edit("REGISTER sip:lab.test", "REGISTER zz:lab.test"),
            Answer(416),
            &["invalid_request_uri"],
        ),
        v(
            "a SIP Request-URI whose host does not parse",
            edit("REGISTER sip:lab.test", "REGISTER sip:lab..[test"),
            Answer(400),
            &["invalid_request_uri"],
        ),
        // §3.1.1.3-like: an unknown method is refused, not misread.
        v(
            "an unknown method",
            base()
                .replacen("REGISTER sip:", "NEWMETHOD sip:", 1)
                .replace("1 REGISTER", "1 NEWMETHOD")
                .into_bytes(),
            Answer(501),
            &[],
        ),
        // No Via: there is nowhere to send an answer (RFC 3261 §18.2.2).
        v(
            "no Via",
            edit(
                "Via: SIP/2.0/UDP 10.1.1.20:5060;branch=z9hG4bKtort;rport\r\n",
                "",
            ),
            Ignore,
            &["missing_header"],
        ),
        // §3.1.2.1-like: not a SIP message at all.
        v(
            "a request line that is no request line",
            b"\x01\x02 nonsense\r\n\r\n".to_vec(),
            Ignore,
            &[],
        ),
        v(
            "a NUL byte in the start line",
            edit("REGISTER sip:lab.test", "REGIS\0TER sip:lab.test"),
            Ignore,
            &[],
        ),
        v(
            "bytes that are not UTF-8 in a header value",
            {
                let mut b = edit("User-Agent: Avaya", "User-Agent: Av\u{fffd}aya");
                let at = b
                    .windows(3)
                    .position(|w| w == "\u{fffd}".as_bytes())
                    .unwrap();
                b.splice(at..at + 3, [0xff, 0xfe]);
                b
            },
            Answer(401),
            &["invalid_utf8"],
        ),
    ]
}

impl Vector {
    fn over_tcp(self, stream: Stream) -> Self {
        Self { stream, ..self }
    }
}

fn peer() -> SocketAddr {
    "10.1.1.20:5060".parse().unwrap()
}

/// Feed `bytes` as one message and return (statuses sent, finding codes, malformed events).
fn run(transport: Transport, bytes: &[u8]) -> (Vec<u16>, Vec<String>, usize) {
    let mut reg = Registrar::new(config());
    let actions = reg.handle(Duration::ZERO, peer(), transport, bytes);
    let mut statuses = Vec::new();
    let mut findings = Vec::new();
    let mut malformed = 0;
    for a in &actions {
        match a {
            Action::Event(Event::Sent { status, .. }) => statuses.push(*status),
            Action::Event(Event::Request { findings: f, .. }) => {
                findings.extend(f.iter().map(|f| f.code().to_owned()));
            }
            Action::Event(Event::Malformed { .. }) => malformed += 1,
            _ => {}
        }
    }
    let sends = actions
        .iter()
        .filter(|a| matches!(a, Action::Send { .. }))
        .count();
    assert_eq!(sends, statuses.len(), "every answer sent is recorded");
    (statuses, findings, malformed)
}

#[test]
fn each_torture_message_is_answered_or_ignored_as_rfc_3261_says_over_udp_and_tcp() {
    for v in vectors() {
        for transport in [Transport::Udp, Transport::Tcp] {
            // Over TCP the message arrives through the framer, as the shell hands it on.
            let message = if transport == Transport::Tcp {
                let mut f = Framer::new();
                f.push(&v.bytes);
                match (f.next_message(), v.stream) {
                    (Some(Ok(m)), Stream::Message) => m,
                    (None, Stream::Waits) => continue,
                    (Some(Err(_)), Stream::Unframeable) => continue,
                    (other, want) => panic!("{}: the framer gave {other:?}, not {want:?}", v.name),
                }
            } else {
                v.bytes.clone()
            };
            let (statuses, findings, malformed) = run(transport, &message);
            let context = format!("{} over {transport:?}", v.name);
            match v.outcome {
                Outcome::Answer(code) => assert_eq!(statuses, [code], "{context}"),
                Outcome::Ignore => {
                    assert!(statuses.is_empty(), "{context}: {statuses:?}");
                    assert!(
                        malformed == 1 || !findings.is_empty(),
                        "{context}: ignored without a record"
                    );
                }
            }
            for want in v.findings {
                assert!(
                    findings.iter().any(|f| f == want),
                    "{context}: {want} not in {findings:?}"
                );
            }
        }
    }
}

#[test]
fn a_refused_request_is_no_attempt_of_the_script() {
    let mut reg = Registrar::new(config());
    reg.set_script(vec![pc_sip::ScriptedAnswer::Silence]);
    let bad = edit("CSeq: 1 REGISTER", "CSeq: 1 INVITE");
    let actions = reg.handle(Duration::ZERO, peer(), Transport::Udp, &bad);
    assert!(actions.iter().any(|a| matches!(a, Action::Send { .. })));
    assert_eq!(reg.register_attempts(), 0);
}
