//! Properties: the tokenizer, the typed views and the registrar never panic on any input,
//! and the tokenizer always gives back the exact bytes it was given.

use std::net::SocketAddr;
use std::time::Duration;

use pc_sip::Message;
use pc_sip::headers::{CSeq, DigestParams, NameAddr, SipUri, Via};
use pc_sip::registrar::{Registrar, Transport};
use proptest::prelude::*;

use crate::registrar::{config, register};

pub(crate) const AUTH: &str = "Digest username=\"1001\",realm=\"lab.test\",nonce=\"abc\",uri=\"sip:lab.test\",response=\"00\",algorithm=MD5,cnonce=\"x\",qop=auth,nc=0000000a";

fn valid_messages() -> Vec<String> {
    vec![
        register(1, "z9hG4bK1", None, 3600),
        register(2, "z9hG4bK2", Some(AUTH), 0),
        "SIP/2.0 200 OK\r\nv: SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport=1;received=1.2.3.4\r\nf: <sip:a@b>;tag=1\r\nt: \"B\" <sip:a@b>;tag=2\r\ni: x\r\nCSeq: 1 REGISTER\r\nm: <sip:a@1.2.3.4>;expires=60;+sip.instance=\"<urn:uuid:1>\"\r\nl: 5\r\n\r\nhello".to_owned(),
    ]
}

/// One edit: replace, insert or delete a byte, biased to SIP's structural characters.
#[derive(Debug, Clone)]
pub(crate) enum Edit {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        proptest::sample::select(b"\r\n \t:;,=\"<>@[]/\\*0123456789".to_vec()),
        any::<u8>(),
    ]
}

pub(crate) fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), interesting_byte()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<usize>(), interesting_byte()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
    ]
}

/// `bytes` after `edits`, each position taken modulo the length at that point.
pub(crate) fn apply(edits: &[Edit], mut bytes: Vec<u8>) -> Vec<u8> {
    for e in edits {
        let len = bytes.len();
        match *e {
            Edit::Replace(i, b) if len > 0 => bytes[i % len] = b,
            Edit::Insert(i, b) => bytes.insert(i % (len + 1), b),
            Edit::Delete(i) if len > 0 => {
                bytes.remove(i % len);
            }
            _ => {}
        }
    }
    bytes
}

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (0..3usize, proptest::collection::vec(edit(), 0..8))
        .prop_map(|(which, edits)| apply(&edits, valid_messages()[which].clone().into_bytes()))
}

/// Parse, check the round trip and span bounds, and exercise every typed view.
fn exercise(bytes: &[u8]) {
    if let Ok(m) = Message::parse(bytes) {
        assert_eq!(m.as_bytes(), bytes);
        for h in m.headers() {
            assert!(h.span().end <= bytes.len() && h.span().start <= h.span().end);
            assert!(h.value_span().end <= bytes.len());
            assert!(h.value_span().start <= h.value_span().end);
        }
        assert!(m.body_span().end <= bytes.len());
        for f in m.findings() {
            assert!(f.offset <= bytes.len());
            let _ = f.to_string();
        }
        let _ = (
            m.vias(),
            m.top_via(),
            m.contacts(),
            m.cseq(),
            m.from_addr(),
            m.to_addr(),
        );
        let _ = (
            m.expires(),
            m.authorizations(),
            m.challenges(),
            m.call_id(),
            m.user_agent(),
        );
        if let Ok(c) = m.contacts() {
            for c in c {
                let _ = (c.sip_uri(), c.expires(), c.instance(), c.tag());
            }
        }
        for d in m.authorizations().into_iter().flatten() {
            let _ = pc_sip::digest::verify(&d, "REGISTER", Some("pw"));
            let _ = d.nc_value();
        }
    }
    if let Ok(Some((m, used))) = Message::parse_stream(bytes) {
        assert!(used <= bytes.len());
        assert_eq!(m.as_bytes(), &bytes[..used]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        exercise(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic_and_round_trip(bytes in mutated()) {
        exercise(&bytes);
        let peer: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let mut reg = Registrar::new(config());
        let _ = reg.handle(Duration::ZERO, peer, Transport::Udp, &bytes);
        let _ = reg.handle(Duration::from_secs(1), peer, Transport::Udp, &bytes);
    }

    #[test]
    fn views_never_panic(s in "\\PC{0,80}", t in "[ -~]{0,80}") {
        for input in [&s, &t] {
            let _ = Via::parse(input);
            let _ = NameAddr::parse(input);
            let _ = SipUri::parse(input);
            let _ = DigestParams::parse(input);
            let _ = CSeq::parse(input);
        }
    }

    /// Any mix of CRLF/LF endings and compact or long names parses to the same values.
    #[test]
    fn line_endings_and_compact_names_do_not_change_values(
        lf in proptest::collection::vec(any::<bool>(), 13),
        compact in any::<bool>(),
    ) {
        let base = register(5, "z9hG4bKp", Some(AUTH), 60);
        let mut text = base.clone();
        if compact {
            text = text.replace("Via:", "v:").replace("From:", "f:").replace("To:", "t:")
                .replace("Call-ID:", "i:").replace("Contact:", "m:").replace("Content-Length:", "l:");
        }
        let mut out = String::new();
        for (i, line) in text.split_inclusive("\r\n").enumerate() {
            if lf.get(i).copied().unwrap_or(false) {
                out.push_str(line.trim_end_matches("\r\n"));
                out.push('\n');
            } else {
                out.push_str(line);
            }
        }
        let a = Message::parse(base.as_bytes()).unwrap();
        let b = Message::parse(out.as_bytes()).unwrap();
        prop_assert_eq!(b.as_bytes(), out.as_bytes());
        let values = |m: &Message| m.headers().iter().map(|h| (h.name().to_owned(), h.value().to_owned())).collect::<Vec<_>>();
        prop_assert_eq!(values(&a), values(&b));
        prop_assert_eq!(a.findings().is_empty(), true);
        prop_assert_eq!(b.findings().iter().all(|f| f.code() == "lf_line_endings"), true);
    }

    /// Splitting a stream anywhere never yields a message early or a different one.
    #[test]
    fn stream_framing_is_split_invariant(cut in 0usize..600) {
        let one = valid_messages()[2].clone();
        let two = register(1, "z9hG4bK1", None, 3600);
        let stream = format!("{one}{two}");
        let cut = cut % (stream.len() + 1);
        match Message::parse_stream(&stream.as_bytes()[..cut]).unwrap() {
            None => prop_assert!(cut < one.len()),
            Some((m, used)) => {
                prop_assert_eq!(used, one.len());
                prop_assert_eq!(m.as_bytes(), one.as_bytes());
            }
        }
    }
}

/// What one mutated REGISTER did to a fresh registrar: checks the invariants RFC 3261 sets
/// for any input and returns nothing; panics (failing the property) otherwise.
fn judge_one(transport: Transport, bytes: &[u8]) {
    use pc_sip::Event;
    use pc_sip::registrar::Action;
    let peer: SocketAddr = "10.1.1.20:5060".parse().unwrap();
    let mut reg = Registrar::new(config());
    let actions = reg.handle(Duration::ZERO, peer, transport, bytes);
    let events: Vec<&Event> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    let sends = actions
        .iter()
        .filter(|a| matches!(a, Action::Send { .. }))
        .count();
    let answers = events
        .iter()
        .filter(|e| matches!(e, Event::Sent { .. }))
        .count();
    assert_eq!(answers, sends, "every answer is recorded");
    judge_events(&events, bytes);
}

/// The invariants RFC 3261 sets for what a registrar made of one message, whatever it was:
/// `events` are those it reported for it, in order, the first saying what the message was
/// (a request, a response, or bytes that are none); panics (failing the property) otherwise.
pub(crate) fn judge_events(events: &[&pc_sip::Event], bytes: &[u8]) {
    use pc_sip::Event;
    let sends = events
        .iter()
        .filter(|e| matches!(e, Event::Sent { .. }))
        .count();
    match events.first() {
        // Not a message: recorded, never answered.
        Some(Event::Malformed { error, .. }) => {
            assert_eq!(events.len(), 1);
            assert_eq!(sends, 0);
            assert!(!error.is_empty());
        }
        // A response from the phone is recorded, never answered.
        Some(Event::Response { .. }) => assert_eq!(sends, 0),
        Some(Event::Request {
            findings, method, ..
        }) => {
            let answers: Vec<u16> = events
                .iter()
                .filter_map(|e| match e {
                    Event::Sent { status, .. } => Some(*status),
                    _ => None,
                })
                .collect();
            assert!(answers.len() <= 1, "one answer per request: {answers:?}");
            match answers.first() {
                // RFC 3261 refusals of a request's form name what was wrong with it.
                Some(400 | 416 | 505) => assert!(
                    !findings.is_empty(),
                    "a refusal without a named finding: {}",
                    String::from_utf8_lossy(bytes)
                ),
                Some(code) => assert!((200..700).contains(code), "{code}"),
                // No answer: an ACK, or no Via to answer to (which is named).
                None => assert!(
                    method == "ACK"
                        || findings
                            .iter()
                            .any(|f| matches!(f.code(), "missing_header" | "invalid_header")),
                    "unanswered without a reason: {}",
                    String::from_utf8_lossy(bytes)
                ),
            }
        }
        other => panic!("unexpected first event {other:?}"),
    }
}

/// A REGISTER mutated by up to eight byte edits.
fn mutated_register() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(edit(), 0..8).prop_map(|edits| {
        apply(
            &edits,
            register(1, "z9hG4bKm", Some(AUTH), 3600).into_bytes(),
        )
    })
}

proptest! {
    // 100,000 mutations per transport: a registrar facing a phone's bugs for a whole
    // certification run sees fewer malformed messages than that.
    #![proptest_config(ProptestConfig::with_cases(100_000))]

    #[test]
    fn a_mutated_register_over_udp_is_answered_or_ignored_with_a_reason(bytes in mutated_register()) {
        judge_one(Transport::Udp, &bytes);
    }

    /// Over TCP the bytes come through the stream framer, cut at an arbitrary point, with a
    /// second copy behind them: each framed message obeys the same rules, and a stream that
    /// cannot be framed ends with a named error.
    #[test]
    fn a_mutated_register_over_tcp_is_framed_then_answered_or_ignored(
        bytes in mutated_register(),
        cut in any::<usize>(),
    ) {
        let mut stream = bytes.clone();
        stream.extend_from_slice(&bytes);
        let cut = cut % (stream.len() + 1);
        let mut framer = pc_sip::framing::Framer::new();
        for part in [&stream[..cut], &stream[cut..]] {
            framer.push(part);
            while let Some(next) = framer.next_message() {
                match next {
                    Ok(message) => {
                        prop_assert!(message.len() <= stream.len());
                        judge_one(Transport::Tcp, &message);
                    }
                    Err(e) => prop_assert!(!e.to_string().is_empty()),
                }
            }
        }
    }
}
