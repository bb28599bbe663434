//! The registrar core: golden responses, the REGISTER → 401 → REGISTER+auth → 200 flow with
//! the digest computed independently (md-5 directly), failures, scripts, retransmissions.

use std::net::SocketAddr;
use std::time::Duration;

use md5::Md5;
use pc_sip::registrar::{Action, Registrar, RegistrarConfig, ScriptedAnswer, Transport};
use pc_sip::{Algorithm, DigestCheck, Event, FindingKind, Message, Observation, RequestFinding};
use sha2::Digest;

const PHONE: &str = "10.1.1.20:5060";

pub fn config() -> RegistrarConfig {
    RegistrarConfig {
        domain: "lab.test".into(),
        realm: "lab.test".into(),
        accounts: vec![("1001".into(), "1234".into())],
        algorithm: Algorithm::Md5,
        qop: true,
        expires: 900,
        nonce_seed: 7,
        challenge_wrong_credentials: false,
    }
}

pub fn register(cseq: u32, branch: &str, auth: Option<&str>, expires: u32) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:lab.test SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.1.1.20:5060;branch={branch};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:1001@lab.test>;tag=a73kszlfl\r\n\
To: <sip:1001@lab.test>\r\n\
Call-ID: 1j9FpLxk3uxtm8tn@10.1.1.20\r\n\
CSeq: {cseq} REGISTER\r\n\
Contact: <sip:1001@10.1.1.20:5060;transport=udp>\r\n\
{auth}\
Expires: {expires}\r\n\
User-Agent: Avaya one-X Deskphone 2.6.14.5 001b4f123456\r\n\
Content-Length: 0\r\n\
\r\n"
    )
}

fn peer() -> SocketAddr {
    PHONE.parse().unwrap()
}

/// The single datagram sent (exactly one expected).
fn sent(actions: &[Action]) -> (SocketAddr, String) {
    let sends: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, bytes } => Some((*to, String::from_utf8(bytes.clone()).unwrap())),
            Action::Event(_) | Action::Close { .. } => None,
        })
        .collect();
    assert_eq!(sends.len(), 1, "expected one datagram, got {actions:?}");
    sends.into_iter().next().unwrap()
}

fn request_event(actions: &[Action]) -> &Event {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Event(e @ Event::Request { .. }) => Some(e),
            _ => None,
        })
        .expect("a request event")
}

/// Pull `name="value"` out of a challenge.
fn challenge_param(response: &str, name: &str) -> String {
    let line = response
        .lines()
        .find(|l| l.starts_with("WWW-Authenticate:"))
        .expect("a challenge");
    let key = format!("{name}=\"");
    let start = line.find(&key).expect("param present") + key.len();
    line[start..].split('"').next().unwrap().to_owned()
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// RFC 2617 §3.2.2.1 with qop=auth, computed here without pc-sip's digest module.
fn md5_response(user: &str, pass: &str, nonce: &str, uri: &str, nc: &str, cnonce: &str) -> String {
    let ha1 = md5_hex(&format!("{user}:lab.test:{pass}"));
    let ha2 = md5_hex(&format!("REGISTER:{uri}"));
    md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
}

fn authorization(user: &str, pass: &str, nonce: &str, nc: &str) -> String {
    let response = md5_response(user, pass, nonce, "sip:lab.test", nc, "0a4f113b");
    format!(
        "Digest username=\"{user}\",realm=\"lab.test\",nonce=\"{nonce}\",uri=\"sip:lab.test\",\
response=\"{response}\",algorithm=MD5,cnonce=\"0a4f113b\",qop=auth,nc={nc}"
    )
}

const GOLDEN_401: &str = "SIP/2.0 401 Unauthorized\r\n\
Via: SIP/2.0/UDP 10.1.1.20:5060;branch=z9hG4bK-reg-1;rport=5060;received=10.1.1.20\r\n\
From: <sip:1001@lab.test>;tag=a73kszlfl\r\n\
To: <sip:1001@lab.test>;tag=59c38d051506c751\r\n\
Call-ID: 1j9FpLxk3uxtm8tn@10.1.1.20\r\n\
CSeq: 1 REGISTER\r\n\
WWW-Authenticate: Digest realm=\"lab.test\", nonce=\"94b854bf22c303366b7469952abcadf4\", algorithm=MD5, qop=\"auth\"\r\n\
Server: phonecert\r\n\
Content-Length: 0\r\n\
\r\n";

const GOLDEN_200: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 10.1.1.20:5060;branch=z9hG4bK-reg-2;rport=5060;received=10.1.1.20\r\n\
From: <sip:1001@lab.test>;tag=a73kszlfl\r\n\
To: <sip:1001@lab.test>;tag=59c38d051506c751\r\n\
Call-ID: 1j9FpLxk3uxtm8tn@10.1.1.20\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:1001@10.1.1.20:5060;transport=udp>;expires=900\r\n\
Expires: 900\r\n\
Server: phonecert\r\n\
Content-Length: 0\r\n\
\r\n";

fn sha256_hex(parts: &[&[u8]], bytes: usize) -> String {
    let mut h = sha2::Sha256::new();
    for p in parts {
        sha2::Digest::update(&mut h, p);
    }
    h.finalize()[..bytes]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn golden_401_then_200() {
    // Nonce and To-tag are seed-derived: check the golden values independently.
    assert_eq!(
        sha256_hex(&[b"nonce", &7u64.to_be_bytes(), &1u64.to_be_bytes()], 16),
        "94b854bf22c303366b7469952abcadf4"
    );
    assert_eq!(
        sha256_hex(
            &[
                b"to-tag",
                &7u64.to_be_bytes(),
                b"1j9FpLxk3uxtm8tn@10.1.1.20\na73kszlfl"
            ],
            8
        ),
        "59c38d051506c751"
    );

    let mut reg = Registrar::new(config());
    let first = register(1, "z9hG4bK-reg-1", None, 3600);
    let actions = reg.handle(
        Duration::from_secs(10),
        peer(),
        Transport::Udp,
        first.as_bytes(),
    );
    let (to, challenge) = sent(&actions);
    assert_eq!(to, peer());
    assert_eq!(challenge, GOLDEN_401);

    let nonce = challenge_param(&challenge, "nonce");
    let auth = authorization("1001", "1234", &nonce, "00000001");
    let second = register(2, "z9hG4bK-reg-2", Some(&auth), 3600);
    let actions = reg.handle(
        Duration::from_secs(11),
        peer(),
        Transport::Udp,
        second.as_bytes(),
    );
    let (to, ok) = sent(&actions);
    assert_eq!(to, peer());
    assert_eq!(ok, GOLDEN_200);
    // Our own responses are clean SIP by our own tokenizer.
    for r in [GOLDEN_401, GOLDEN_200] {
        assert!(Message::parse(r.as_bytes()).unwrap().findings().is_empty());
    }
}

#[test]
fn full_flow_events_and_binding_lifecycle() {
    let mut reg = Registrar::new(config());
    let t0 = Duration::from_secs(100);
    let actions = reg.handle(
        t0,
        peer(),
        Transport::Udp,
        register(1, "z9hG4bK1", None, 3600).as_bytes(),
    );
    let (_, challenge) = sent(&actions);
    assert!(challenge.starts_with("SIP/2.0 401 "));
    match request_event(&actions) {
        Event::Request {
            method,
            cseq,
            auth,
            expires,
            user_agent,
            from,
            transport,
            from_uri,
            to_uri,
            contact,
            ..
        } => {
            assert_eq!(method, "REGISTER");
            assert_eq!(*cseq, 1);
            assert_eq!(*auth, None);
            assert_eq!(*expires, Some(3600));
            assert_eq!(from, PHONE);
            assert_eq!(transport, "udp");
            assert_eq!(from_uri, "sip:1001@lab.test");
            assert_eq!(to_uri, "sip:1001@lab.test");
            assert_eq!(
                contact.as_deref(),
                Some("<sip:1001@10.1.1.20:5060;transport=udp>")
            );
            assert_eq!(
                user_agent.as_deref(),
                Some("Avaya one-X Deskphone 2.6.14.5 001b4f123456")
            );
        }
        other => panic!("{other:?}"),
    }
    let nonce = challenge_param(&challenge, "nonce");
    let auth = authorization("1001", "1234", &nonce, "00000001");
    let actions = reg.handle(
        t0,
        peer(),
        Transport::Udp,
        register(2, "z9hG4bK2", Some(&auth), 120).as_bytes(),
    );
    let (_, ok) = sent(&actions);
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");
    assert!(ok.contains("\r\nExpires: 120\r\n"));
    match request_event(&actions) {
        Event::Request { auth: Some(a), .. } => {
            assert_eq!(a.result, DigestCheck::Ok);
            assert_eq!(a.username, "1001");
            assert_eq!(a.nonce, nonce);
            assert_eq!(a.nc.as_deref(), Some("00000001"));
            assert_eq!(a.qop.as_deref(), Some("auth"));
            assert_eq!(a.algorithm, "MD5");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(reg.registered_aors(t0), vec!["sip:1001@lab.test"]);
    let b = reg.bindings("sip:1001@lab.test", t0);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].expires_at, t0 + Duration::from_secs(120));

    // Binding expires on its own...
    assert!(
        reg.bindings("sip:1001@lab.test", t0 + Duration::from_secs(120))
            .is_empty()
    );
    // ...and a refresh half-way reports the remaining time of what is left.
    let t1 = t0 + Duration::from_secs(60);
    let auth = authorization("1001", "1234", &nonce, "00000002");
    let actions = reg.handle(
        t1,
        peer(),
        Transport::Udp,
        register(3, "z9hG4bK3", Some(&auth), 600).as_bytes(),
    );
    let (_, ok) = sent(&actions);
    assert!(
        ok.contains(";expires=600\r\n") && ok.contains("\r\nExpires: 600\r\n"),
        "{ok}"
    );

    // Expires: 0 removes the binding.
    let auth = authorization("1001", "1234", &nonce, "00000003");
    let actions = reg.handle(
        t1,
        peer(),
        Transport::Udp,
        register(4, "z9hG4bK4", Some(&auth), 0).as_bytes(),
    );
    let (_, ok) = sent(&actions);
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"));
    assert!(!ok.contains("Contact:"), "{ok}");
    assert!(ok.contains("\r\nExpires: 0\r\n"));
    assert!(reg.registered_aors(t1).is_empty());
}

fn challenged(reg: &mut Registrar, now: Duration) -> String {
    let actions = reg.handle(
        now,
        peer(),
        Transport::Udp,
        register(1, "z9hG4bKc", None, 3600).as_bytes(),
    );
    challenge_param(&sent(&actions).1, "nonce")
}

fn auth_result(actions: &[Action]) -> DigestCheck {
    match request_event(actions) {
        Event::Request { auth: Some(a), .. } => a.result,
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_password_and_unknown_user_get_403() {
    let mut reg = Registrar::new(config());
    let nonce = challenged(&mut reg, Duration::ZERO);
    let auth = authorization("1001", "wrong", &nonce, "00000001");
    let actions = reg.handle(
        Duration::ZERO,
        peer(),
        Transport::Udp,
        register(2, "z9hG4bK2", Some(&auth), 60).as_bytes(),
    );
    assert!(sent(&actions).1.starts_with("SIP/2.0 403 Forbidden\r\n"));
    assert_eq!(auth_result(&actions), DigestCheck::WrongResponse);
    assert!(reg.registered_aors(Duration::ZERO).is_empty());

    let auth = authorization("9999", "1234", &nonce, "00000001");
    let actions = reg.handle(
        Duration::ZERO,
        peer(),
        Transport::Udp,
        register(3, "z9hG4bK3", Some(&auth), 60).as_bytes(),
    );
    assert!(sent(&actions).1.starts_with("SIP/2.0 403 Forbidden\r\n"));
    assert_eq!(auth_result(&actions), DigestCheck::UnknownUser);
}

#[test]
fn tenth_use_of_a_nonce_with_hex_nc_works() {
    let mut reg = Registrar::new(config());
    let nonce = challenged(&mut reg, Duration::ZERO);
    let auth = authorization("1001", "1234", &nonce, "0000000a");
    let actions = reg.handle(
        Duration::ZERO,
        peer(),
        Transport::Udp,
        register(11, "z9hG4bK11", Some(&auth), 60).as_bytes(),
    );
    assert!(sent(&actions).1.starts_with("SIP/2.0 200 OK\r\n"));
    match request_event(&actions) {
        Event::Request { auth: Some(a), .. } => assert_eq!(a.nc.as_deref(), Some("0000000a")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_and_expired_nonces_get_stale_challenges() {
    let mut reg = Registrar::new(config());
    let auth = authorization("1001", "1234", "not-ours", "00000001");
    let actions = reg.handle(
        Duration::ZERO,
        peer(),
        Transport::Udp,
        register(2, "z9hG4bK2", Some(&auth), 60).as_bytes(),
    );
    let (_, r) = sent(&actions);
    assert!(r.starts_with("SIP/2.0 401 Unauthorized\r\n"));
    assert!(r.contains(", stale=true\r\n"), "{r}");
    assert_eq!(auth_result(&actions), DigestCheck::UnknownNonce);

    reg.set_nonce_lifetime(Duration::from_secs(30));
    let nonce = challenged(&mut reg, Duration::ZERO);
    let auth = authorization("1001", "1234", &nonce, "00000001");
    let actions = reg.handle(
        Duration::from_secs(31),
        peer(),
        Transport::Udp,
        register(3, "z9hG4bK3", Some(&auth), 60).as_bytes(),
    );
    let (_, r) = sent(&actions);
    assert!(r.contains("stale=true"), "{r}");
    assert_eq!(auth_result(&actions), DigestCheck::StaleNonce);
    assert_ne!(challenge_param(&r, "nonce"), nonce);
}

#[test]
fn sha256_without_qop() {
    let mut cfg = config();
    cfg.algorithm = Algorithm::Sha256;
    cfg.qop = false;
    let mut reg = Registrar::new(cfg);
    let actions = reg.handle(
        Duration::ZERO,
        peer(),
        Transport::Udp,
        register(1, "z9hG4bK1", None, 60).as_bytes(),
    );
    let (_, c) = sent(&actions);
    assert!(c.contains("algorithm=SHA-256\r\n"), "{c}");
    let nonce = challenge_param(&c, "nonce");
    let h = |s: String| sha256_hex(&[s.as_bytes()], 32);
    let ha1 = h("1001:lab.test:1234".to_owned());
    let ha2 = h("REGISTER:sip:lab.test".to_owned());
    let response = h(format!("{ha1}:{nonce}:{ha2}"));
    let auth = format!(
        "Digest username=\"1001\", realm=\"lab.test\", nonce=\"{nonce}\", uri=\"sip:lab.test\", response=\"{response}\", algorithm=SHA-256"
    );
    let actions = reg.handle(
        Duration::ZERO,
        peer(),
        Transport::Udp,
        register(2, "z9hG4bK2", Some(&auth), 60).as_bytes(),
    );
    assert!(sent(&actions).1.starts_with("SIP/2.0 200 OK\r\n"));
}

#[test]
fn script_503_then_silence_then_normal_and_retransmissions() {
    let mut reg = Registrar::new(config());
    reg.set_script(vec![
        ScriptedAnswer::Status {
            code: 503,
            reason: "Service Unavailable".into(),
            headers: vec![("Retry-After".into(), "30".into())],
            challenges: Vec::new(),
            stale: false,
        },
        ScriptedAnswer::Silence,
    ]);
    let req1 = register(1, "z9hG4bKs1", None, 60);
    let actions = reg.handle(Duration::ZERO, peer(), Transport::Udp, req1.as_bytes());
    let (_, r) = sent(&actions);
    assert!(r.starts_with("SIP/2.0 503 Service Unavailable\r\n"));
    assert!(r.contains("\r\nRetry-After: 30\r\n"));
    // A retransmission (same branch) gets the same bytes and is not a new attempt.
    let again = reg.handle(
        Duration::from_millis(500),
        peer(),
        Transport::Udp,
        req1.as_bytes(),
    );
    assert_eq!(sent(&again).1, r);
    assert!(again.iter().any(|a| matches!(
        a,
        Action::Event(Event::Sent {
            retransmission: true,
            ..
        })
    )));
    assert_eq!(reg.register_attempts(), 1);

    let req2 = register(2, "z9hG4bKs2", None, 60);
    for t in [0u64, 500, 1500] {
        let actions = reg.handle(
            Duration::from_millis(2000 + t),
            peer(),
            Transport::Udp,
            req2.as_bytes(),
        );
        assert!(!actions.iter().any(|a| matches!(a, Action::Send { .. })));
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Event(Event::Silence { cseq: 2, .. })))
        );
    }
    assert_eq!(reg.register_attempts(), 2);

    let actions = reg.handle(
        Duration::from_secs(5),
        peer(),
        Transport::Udp,
        register(3, "z9hG4bKs3", None, 60).as_bytes(),
    );
    assert!(sent(&actions).1.starts_with("SIP/2.0 401 Unauthorized\r\n"));

    // After Timer J the transaction is forgotten: the same branch is a new attempt.
    let late = reg.handle(
        Duration::from_secs(40),
        peer(),
        Transport::Udp,
        req1.as_bytes(),
    );
    assert!(sent(&late).1.starts_with("SIP/2.0 401 "));
}

#[test]
fn other_methods_responses_and_garbage() {
    let mut reg = Registrar::new(config());
    let options = register(1, "z9hG4bKo", None, 60)
        .replace("REGISTER sip:lab.test", "OPTIONS sip:lab.test")
        .replace("CSeq: 1 REGISTER", "CSeq: 1 OPTIONS");
    let (_, r) = sent(&reg.handle(Duration::ZERO, peer(), Transport::Udp, options.as_bytes()));
    assert!(r.starts_with("SIP/2.0 200 OK\r\n") && r.contains("\r\nAllow: REGISTER, OPTIONS\r\n"));

    let subscribe = options
        .replace("OPTIONS", "SUBSCRIBE")
        .replace("z9hG4bKo", "z9hG4bKs");
    let (_, r) = sent(&reg.handle(Duration::ZERO, peer(), Transport::Udp, subscribe.as_bytes()));
    assert!(r.starts_with("SIP/2.0 405 Method Not Allowed\r\n"), "{r}");

    let odd = options
        .replace("OPTIONS", "FROBNICATE")
        .replace("z9hG4bKo", "z9hG4bKf");
    let (_, r) = sent(&reg.handle(Duration::ZERO, peer(), Transport::Udp, odd.as_bytes()));
    assert!(r.starts_with("SIP/2.0 501 Not Implemented\r\n"));

    let ack = options
        .replace("OPTIONS", "ACK")
        .replace("z9hG4bKo", "z9hG4bKa");
    let actions = reg.handle(Duration::ZERO, peer(), Transport::Udp, ack.as_bytes());
    assert_eq!(actions.len(), 1);
    assert!(matches!(&actions[0], Action::Event(Event::Request { method, .. }) if method == "ACK"));

    let response = GOLDEN_200;
    let actions = reg.handle(Duration::ZERO, peer(), Transport::Udp, response.as_bytes());
    assert_eq!(actions.len(), 1);
    match &actions[0] {
        Action::Event(Event::Response {
            status,
            method,
            cseq,
            expires,
            ..
        }) => {
            assert_eq!(
                (*status, method.as_str(), *cseq, *expires),
                (200, "REGISTER", 2, Some(900))
            );
        }
        other => panic!("{other:?}"),
    }

    let actions = reg.handle(Duration::ZERO, peer(), Transport::Udp, b"\x00\x01hello");
    assert_eq!(actions.len(), 1);
    match &actions[0] {
        Action::Event(Event::Malformed { len, error, from }) => {
            assert_eq!(*len, 7);
            assert_eq!(from, PHONE);
            assert!(error.contains("at byte 0"), "{error}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn response_routing_without_rport_uses_sent_by_port() {
    let mut reg = Registrar::new(config());
    let req = register(1, "z9hG4bKn", None, 60).replace(";rport", "");
    let from: SocketAddr = "10.1.1.20:40000".parse().unwrap();
    let (to, r) = sent(&reg.handle(Duration::ZERO, from, Transport::Udp, req.as_bytes()));
    assert_eq!(to, peer());
    // sent-by equals the source IP and no rport: the Via is copied unchanged.
    assert!(
        r.contains("Via: SIP/2.0/UDP 10.1.1.20:5060;branch=z9hG4bKn\r\n"),
        "{r}"
    );

    let req = register(2, "z9hG4bKr", None, 60);
    let (to, r) = sent(&reg.handle(Duration::ZERO, from, Transport::Udp, req.as_bytes()));
    assert_eq!(to, from);
    assert!(r.contains(";rport=40000;received=10.1.1.20\r\n"), "{r}");
}

#[test]
fn compact_folded_lf_register_is_served_with_findings() {
    let mut reg = Registrar::new(config());
    let req = register(1, "z9hG4bKx", None, 60)
        .replace("Via:", "v:")
        .replace("From:", "f:")
        .replace("To:", "t:")
        .replace("Call-ID:", "i:")
        .replace(
            "Contact: <sip:1001@10.1.1.20:5060;transport=udp>",
            "m: <sip:1001@10.1.1.20:5060;transport=udp>\r\n ;expires=45",
        )
        .replace("CSeq: 1", "CSeq : 1")
        .replace("\r\n", "\n");
    let actions = reg.handle(Duration::ZERO, peer(), Transport::Udp, req.as_bytes());
    let (_, r) = sent(&actions);
    assert!(r.starts_with("SIP/2.0 401 "));
    assert!(r.contains("\r\nCall-ID: 1j9FpLxk3uxtm8tn@10.1.1.20\r\n"));
    match request_event(&actions) {
        Event::Request {
            findings,
            expires,
            call_id,
            headers,
            ..
        } => {
            assert_eq!(*expires, Some(45));
            assert_eq!(call_id, "1j9FpLxk3uxtm8tn@10.1.1.20");
            // Headers as sent: compact names kept, folded values unfolded, in order.
            let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(
                names,
                [
                    "v",
                    "Max-Forwards",
                    "f",
                    "t",
                    "i",
                    "CSeq",
                    "m",
                    "Expires",
                    "User-Agent",
                    "Content-Length"
                ]
            );
            assert_eq!(
                headers[6].1,
                "<sip:1001@10.1.1.20:5060;transport=udp> ;expires=45"
            );
            assert_eq!(
                headers[0].1,
                "SIP/2.0/UDP 10.1.1.20:5060;branch=z9hG4bKx;rport"
            );
            assert!(
                findings.iter().any(|f| matches!(
                    f,
                    RequestFinding::Message(m)
                        if m.offset == 29 && matches!(m.kind, FindingKind::LfLineEndings { .. })
                )),
                "{findings:?}"
            );
            assert!(
                findings.iter().any(|f| f.code() == "folded_header"),
                "{findings:?}"
            );
            // Serialised by name, with the details beside it.
            let json = serde_json::to_value(findings).unwrap();
            let folded = json
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["code"] == "folded_header")
                .expect("folded_header in JSON");
            assert_eq!(folded["name"], "Contact");
            assert!(folded["offset"].is_u64());
            let back: Vec<RequestFinding> = serde_json::from_value(json).unwrap();
            assert_eq!(&back, findings);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn events_serialise_with_plain_kind_tags() {
    let mut reg = Registrar::new(config());
    let actions = reg.handle(
        Duration::ZERO,
        peer(),
        Transport::Udp,
        register(1, "z9hG4bK1", None, 60).as_bytes(),
    );
    let json = serde_json::to_value(request_event(&actions)).unwrap();
    assert_eq!(json["kind"], "request");
    assert_eq!(json["method"], "REGISTER");
    assert_eq!(json["cseq"], 1);
    assert_eq!(json["transport"], "udp");
    assert!(json["auth"].is_null());
    assert_eq!(
        json["headers"][5],
        serde_json::json!(["CSeq", "1 REGISTER"])
    );
    let back: Event = serde_json::from_value(json).unwrap();
    assert_eq!(&back, request_event(&actions));
    // Our own answer carries its headers the same way.
    let answer = actions
        .iter()
        .find_map(|a| match a {
            Action::Event(e @ Event::Sent { .. }) => Some(serde_json::to_value(e).unwrap()),
            _ => None,
        })
        .expect("a response event");
    assert_eq!(answer["kind"], "response");
    let names: Vec<&str> = answer["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h[0].as_str())
        .collect();
    assert!(names.contains(&"WWW-Authenticate"), "{answer}");
    let silence = serde_json::to_value(Event::Silence {
        from: PHONE.into(),
        method: "REGISTER".into(),
        cseq: 3,
    })
    .unwrap();
    assert_eq!(silence["kind"], "silence");
    let script: Vec<ScriptedAnswer> = serde_json::from_str(
        r#"[{"answer":"status","code":503,"reason":"Service Unavailable","headers":[["Retry-After","30"]],"challenges":[],"stale":false},{"answer":"silence"},{"answer":"close"}]"#,
    )
    .unwrap();
    assert_eq!(script.len(), 3);
}

#[test]
fn register_to_another_domain_and_tcp_without_length_are_findings() {
    let mut reg = Registrar::new(config());
    let req = register(1, "z9hG4bKd", None, 60)
        .replace("REGISTER sip:lab.test", "REGISTER sip:10.9.9.9")
        .replace("Content-Length: 0\r\n", "");
    let actions = reg.handle(Duration::ZERO, peer(), Transport::Tcp, req.as_bytes());
    let (to, r) = sent(&actions);
    assert_eq!(to, peer());
    assert!(r.starts_with("SIP/2.0 401 "));
    match request_event(&actions) {
        Event::Request {
            findings,
            transport,
            ..
        } => {
            assert_eq!(transport, "tcp");
            assert!(
                findings.contains(&RequestFinding::Registrar(
                    Observation::RequestUriDomainMismatch {
                        host: "10.9.9.9".into(),
                        domain: "lab.test".into(),
                    }
                )),
                "{findings:?}"
            );
            assert!(
                findings
                    .iter()
                    .any(|f| f.code() == "missing_content_length"),
                "{findings:?}"
            );
            let json = serde_json::to_value(findings).unwrap();
            assert!(
                json.as_array()
                    .unwrap()
                    .contains(&serde_json::json!({"code": "request_uri_domain_mismatch",
                        "host": "10.9.9.9", "domain": "lab.test"})),
                "{json}"
            );
            let back: Vec<RequestFinding> = serde_json::from_value(json).unwrap();
            assert_eq!(&back, findings);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_scripted_grant_shortens_the_binding_and_only_for_its_attempt() {
    let mut reg = Registrar::new(config());
    reg.set_script(vec![
        ScriptedAnswer::Normal,
        ScriptedAnswer::Grant { expires: 60 },
    ]);
    // Attempt 1: challenged as usual.
    let nonce = challenged(&mut reg, Duration::ZERO);
    // Attempt 2: authenticated, asks for 3600, is granted 60.
    let auth = authorization("1001", "1234", &nonce, "00000001");
    let actions = reg.handle(
        Duration::from_millis(10),
        peer(),
        Transport::Udp,
        register(2, "z9hG4bKg2", Some(&auth), 3600).as_bytes(),
    );
    let (_, ok) = sent(&actions);
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");
    assert!(ok.contains("expires=60"), "{ok}");
    // Attempt 3 is past the script: the configured maximum (900) again.
    let auth = authorization("1001", "1234", &nonce, "00000002");
    let actions = reg.handle(
        Duration::from_millis(20),
        peer(),
        Transport::Udp,
        register(3, "z9hG4bKg3", Some(&auth), 3600).as_bytes(),
    );
    let (_, ok) = sent(&actions);
    assert!(ok.contains("expires=900"), "{ok}");
}

#[test]
fn after_the_script_a_silent_controller_stays_silent() {
    let mut reg = Registrar::new(config());
    reg.set_after_script(ScriptedAnswer::Silence);
    for (n, branch) in ["z9hG4bKd1", "z9hG4bKd2", "z9hG4bKd3"]
        .into_iter()
        .enumerate()
    {
        let cseq = u32::try_from(n).unwrap_or(0) + 1;
        let actions = reg.handle(
            Duration::from_secs(u64::from(cseq)),
            peer(),
            Transport::Udp,
            register(cseq, branch, None, 60).as_bytes(),
        );
        assert!(!actions.iter().any(|a| matches!(a, Action::Send { .. })));
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Event(Event::Silence { .. })))
        );
    }
    assert_eq!(reg.register_attempts(), 3);
}

fn findings_of(actions: &[Action]) -> Vec<&'static str> {
    match request_event(actions) {
        Event::Request { findings, .. } => findings.iter().map(RequestFinding::code).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reusing_a_nonce_without_counting_up_is_a_finding_but_a_retransmission_is_not() {
    let mut reg = Registrar::new(config());
    let nonce = challenged(&mut reg, Duration::ZERO);
    let first = register(
        2,
        "z9hG4bKn2",
        Some(&authorization("1001", "1234", &nonce, "00000001")),
        60,
    );
    let actions = reg.handle(Duration::ZERO, peer(), Transport::Udp, first.as_bytes());
    assert!(sent(&actions).1.starts_with("SIP/2.0 200 OK\r\n"));
    assert!(!findings_of(&actions).contains(&"nc_not_incremented"));
    // The same transaction again: a retransmission, not a reuse of the count.
    let again = reg.handle(
        Duration::from_millis(500),
        peer(),
        Transport::Udp,
        first.as_bytes(),
    );
    assert_eq!(findings_of(&again), vec!["retransmission"]);
    // A refresh that counts up is clean; one that repeats the count is named.
    let up = register(
        3,
        "z9hG4bKn3",
        Some(&authorization("1001", "1234", &nonce, "00000002")),
        60,
    );
    let actions = reg.handle(
        Duration::from_secs(1),
        peer(),
        Transport::Udp,
        up.as_bytes(),
    );
    assert!(!findings_of(&actions).contains(&"nc_not_incremented"));
    let same = register(
        4,
        "z9hG4bKn4",
        Some(&authorization("1001", "1234", &nonce, "00000002")),
        60,
    );
    let actions = reg.handle(
        Duration::from_secs(2),
        peer(),
        Transport::Udp,
        same.as_bytes(),
    );
    assert!(
        findings_of(&actions).contains(&"nc_not_incremented"),
        "{actions:?}"
    );
    match request_event(&actions) {
        Event::Request {
            findings,
            auth: Some(a),
            ..
        } => {
            assert_eq!(a.cnonce.as_deref(), Some("0a4f113b"));
            assert!(
                findings.contains(&RequestFinding::Registrar(Observation::NcNotIncremented {
                    nc: "00000002".into(),
                    last: "00000002".into(),
                }))
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn scripted_status_carries_any_headers_and_several_challenges_in_order() {
    let mut reg = Registrar::new(config());
    reg.set_script(vec![
        ScriptedAnswer::Status {
            code: 423,
            reason: "Interval Too Brief".into(),
            headers: vec![("Min-Expires".into(), "3600".into())],
            challenges: Vec::new(),
            stale: false,
        },
        ScriptedAnswer::Status {
            code: 401,
            reason: "Unauthorized".into(),
            headers: vec![("Retry-After".into(), "300 (maintenance)".into())],
            challenges: vec![Algorithm::Sha256, Algorithm::Md5],
            stale: true,
        },
    ]);
    let actions = reg.handle(
        Duration::ZERO,
        peer(),
        Transport::Udp,
        register(1, "z9hG4bKa", None, 60).as_bytes(),
    );
    let (_, r) = sent(&actions);
    assert!(r.starts_with("SIP/2.0 423 Interval Too Brief\r\n"), "{r}");
    assert!(r.contains("\r\nMin-Expires: 3600\r\n"), "{r}");
    assert!(!r.contains("WWW-Authenticate"), "{r}");

    let actions = reg.handle(
        Duration::ZERO,
        peer(),
        Transport::Udp,
        register(2, "z9hG4bKb", None, 3600).as_bytes(),
    );
    let (_, r) = sent(&actions);
    let challenges: Vec<&str> = r
        .lines()
        .filter(|l| l.starts_with("WWW-Authenticate:"))
        .collect();
    assert_eq!(challenges.len(), 2, "{r}");
    assert!(challenges[0].contains("algorithm=SHA-256") && challenges[0].contains("stale=true"));
    assert!(challenges[1].contains("algorithm=MD5"));
    assert!(r.contains("\r\nRetry-After: 300 (maintenance)\r\n"), "{r}");
    let summary = actions.iter().find_map(|a| match a {
        Action::Event(Event::Sent { challenges, .. }) => Some(challenges.clone()),
        _ => None,
    });
    let summary = summary.expect("a response event");
    assert_eq!(summary.len(), 2);
    assert_eq!(summary[0].algorithm.as_deref(), Some("SHA-256"));
    assert_eq!(summary[0].stale.as_deref(), Some("true"));
    assert_eq!(summary[1].stale.as_deref(), Some("true"));
    assert_eq!(summary[1].qop.as_deref(), Some("auth"));
    assert_eq!(summary[0].opaque, None);
    assert_ne!(summary[0].nonce, summary[1].nonce);

    // The phone answers the MD5 one: the registrar checks the algorithm it chose.
    let nonce = summary[1].nonce.clone().expect("nonce");
    let auth = authorization("1001", "1234", &nonce, "00000001");
    let actions = reg.handle(
        Duration::ZERO,
        peer(),
        Transport::Udp,
        register(3, "z9hG4bKc", Some(&auth), 3600).as_bytes(),
    );
    assert!(sent(&actions).1.starts_with("SIP/2.0 200 OK\r\n"));
}

#[test]
fn a_scripted_close_closes_a_stream_and_is_silence_over_udp() {
    let mut reg = Registrar::new(config());
    reg.set_script(vec![ScriptedAnswer::Close, ScriptedAnswer::Close]);
    let actions = reg.handle(
        Duration::ZERO,
        peer(),
        Transport::Tcp,
        register(1, "z9hG4bKt", None, 60).as_bytes(),
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Close { peer: p } if *p == peer())),
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Event(Event::Closed { cseq: 1, .. })))
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::Send { .. })));
    let actions = reg.handle(
        Duration::ZERO,
        peer(),
        Transport::Udp,
        register(2, "z9hG4bKu", None, 60).as_bytes(),
    );
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Send { .. } | Action::Close { .. }))
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Event(Event::Silence { cseq: 2, .. })))
    );
}

#[test]
fn wrong_credentials_can_be_challenged_again_instead_of_forbidden() {
    let mut reg = Registrar::new(RegistrarConfig {
        challenge_wrong_credentials: true,
        ..config()
    });
    let nonce = challenged(&mut reg, Duration::ZERO);
    let auth = authorization("1001", "wrong", &nonce, "00000001");
    let actions = reg.handle(
        Duration::ZERO,
        peer(),
        Transport::Udp,
        register(2, "z9hG4bK2", Some(&auth), 60).as_bytes(),
    );
    let (_, r) = sent(&actions);
    assert!(r.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{r}");
    assert!(!r.contains("stale"), "{r}");
    assert_eq!(auth_result(&actions), DigestCheck::WrongResponse);
}

#[test]
fn past_the_nonce_bound_the_oldest_nonce_is_forgotten_and_gets_a_stale_challenge() {
    let mut reg = Registrar::new(config());
    let first = challenged(&mut reg, Duration::ZERO);
    let mut last = String::new();
    for i in 0..pc_sip::registrar::MAX_NONCES {
        // A new branch each time: a new transaction, so a new challenge and nonce.
        let actions = reg.handle(
            Duration::from_millis(i as u64),
            peer(),
            Transport::Udp,
            register(1, &format!("z9hG4bKn{i}"), None, 60).as_bytes(),
        );
        last = challenge_param(&sent(&actions).1, "nonce");
    }
    let at = Duration::from_secs(10);
    let auth = authorization("1001", "1234", &first, "00000001");
    let actions = reg.handle(
        at,
        peer(),
        Transport::Udp,
        register(2, "z9hG4bKold", Some(&auth), 60).as_bytes(),
    );
    assert_eq!(auth_result(&actions), DigestCheck::UnknownNonce);
    assert!(sent(&actions).1.contains("stale=true"));
    let auth = authorization("1001", "1234", &last, "00000001");
    let actions = reg.handle(
        at,
        peer(),
        Transport::Udp,
        register(3, "z9hG4bKnew", Some(&auth), 60).as_bytes(),
    );
    assert!(sent(&actions).1.starts_with("SIP/2.0 200 OK\r\n"));
}

#[test]
fn a_request_after_its_transaction_ended_is_new_even_before_the_next_sweep() {
    let mut reg = Registrar::new(config());
    let first = challenged(&mut reg, Duration::ZERO);
    // Another request just before the 32 s transaction lifetime ends, so no sweep is due
    // when the same branch comes back just after it.
    let options = "OPTIONS sip:lab.test SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.1.1.20:5060;branch=z9hG4bKopt\r\n\
Max-Forwards: 70\r\n\
From: <sip:1001@lab.test>;tag=o1\r\n\
To: <sip:lab.test>\r\n\
Call-ID: opt@10.1.1.20\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";
    reg.handle(
        Duration::from_millis(31_900),
        peer(),
        Transport::Udp,
        options.as_bytes(),
    );
    let again = challenged(&mut reg, Duration::from_millis(32_100));
    assert_ne!(again, first, "answered from a transaction that had ended");
}
