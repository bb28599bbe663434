//! Sans-IO SIP registrar: the role Avaya SES / Session Manager plays for a 9600 phone.
//!
//! Owns: answering REGISTER (digest challenge, credential check, binding table with expiry),
//! OPTIONS and everything else a phone may send; non-INVITE server transactions so UDP
//! retransmissions get the same answer (RFC 3261 §17.2.2); the per-attempt response script
//! that registration-retry scenarios use; the events that record all of it.
//!
//! Never: touches sockets, reads a clock or draws random numbers. Time comes in as `now`
//! (elapsed since an origin the shell chose), nonces and tags are derived from
//! `nonce_seed` and a counter, so a run can be replayed byte for byte.
//!
//! Follows RFC 3261 §10.3 (processing REGISTER), §8.2.6 (building responses), §17.2.2 and
//! §17.2.3 (non-INVITE server transactions, matching), §18.2.2 (where responses go),
//! §22 (authentication), RFC 3581 (rport), RFC 2617 / RFC 7616 (digest).
//!
//! Decisions where the RFCs leave room:
//! - unknown user → 403 (not a new 401): a phone with a wrong extension should stop, and
//!   RFC 3261 §22.1 lets a server refuse credentials it cannot use;
//! - wrong password → 403; a correct digest over a nonce we issued but that expired
//!   (`nonce_lifetime`) or that we never issued → 401 with `stale=true` and a fresh nonce
//!   (RFC 7616 §3.3: stale means "the digest was right, the nonce was not");
//! - credentials for another realm, a non-Digest scheme or an unsupported algorithm → a fresh
//!   401 (§22.1: credentials that do not match the realm are ignored); missing digest
//!   parameters or an unparseable Authorization → 400;
//! - granted expiry = min(requested, `config.expires`), `config.expires` when the request
//!   asks for none (§10.3 step 7 lets a registrar shorten, never lengthen);
//! - methods a registrar recognises but does not serve (INVITE, SUBSCRIBE, NOTIFY, …) → 405
//!   with `Allow: REGISTER, OPTIONS` (§8.2.1); unknown methods → 501; CANCEL → 481; ACK and
//!   responses are recorded and never answered;
//! - the response script counts REGISTER transactions only (retransmissions are not new
//!   attempts and get the same answer, or the same silence), and only requests it serves:
//!   one refused for its form ([`refusal`]: 505, 416 or 400) is no attempt.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::debug;

use crate::digest::{self, Algorithm, DigestCheck};
use crate::event::{AuthSummary, ChallengeSummary, Event, Observation, RequestFinding};
use crate::headers::{DigestParams, NameAddr, SipUri, Via};
use crate::message::{self, Message};

/// How long a server transaction remembers its answer: Timer J = 64·T1 (RFC 3261 §17.2.2).
const TRANSACTION_LIFETIME: Duration = Duration::from_secs(32);
/// Default nonce lifetime: longer than the 900 s REGISTERWAIT, so a refresh can reuse the
/// nonce with the next `nc`, as 9600 phones do.
const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(3600);
/// Bound on remembered nonces: beyond it the oldest is forgotten (a client still using it gets
/// a fresh challenge with `stale=true`, as for a nonce we never issued), so a flood of
/// unauthenticated REGISTERs cannot grow the table. Large enough (a few MB) that at 10,000
/// challenges a second a nonce lives for seconds: a client whose first REGISTER was lost and
/// retransmitted still finds its nonce.
pub const MAX_NONCES: usize = 65_536;
/// How often expired transactions and bindings are swept out. Lookups check the age of what
/// they find, so the sweep only bounds memory; doing it on every message made each message
/// cost as much as the number of transactions of the last 32 s.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
const WWW_AUTHENTICATE: &str = "WWW-Authenticate";
/// Room a response is built in: a challenge or a 200 with one binding fits.
const RESPONSE_CAPACITY: usize = 1024;
/// The methods named in `Allow`.
const ALLOW: &str = "REGISTER, OPTIONS";
/// Methods we recognise but do not serve (→ 405 rather than 501).
const KNOWN_METHODS: &[&str] = &[
    "INVITE",
    "BYE",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "MESSAGE",
    "INFO",
    "PRACK",
    "UPDATE",
    "REFER",
];

/// Transport a message arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// Registrar settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrarConfig {
    /// The SIP domain (SIPDOMAIN): a REGISTER whose Request-URI names another host is
    /// still served, with a `request_uri_domain_mismatch` finding.
    pub domain: String,
    /// Digest realm offered in challenges and required in credentials.
    pub realm: String,
    /// `(user, password)` pairs; the user is the digest `username`.
    pub accounts: Vec<(String, String)>,
    pub algorithm: Algorithm,
    /// Offer `qop="auth"` in challenges.
    pub qop: bool,
    /// Longest registration granted, and the one granted when none is asked for.
    pub expires: u32,
    /// Nonces and To-tags are derived from this seed and a counter.
    pub nonce_seed: u64,
    /// Answer a wrong password or an unknown user with a fresh 401 challenge (as many
    /// registrars do) instead of 403.
    #[serde(default)]
    pub challenge_wrong_credentials: bool,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            domain: "lab.test".into(),
            realm: "lab.test".into(),
            accounts: Vec::new(),
            algorithm: Algorithm::Md5,
            qop: true,
            expires: 900,
            nonce_seed: 0,
            challenge_wrong_credentials: false,
        }
    }
}

/// How to answer one REGISTER attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum ScriptedAnswer {
    /// Behave like a normal registrar (challenge, check, bind).
    Normal,
    /// Answer with this status and these extra header lines (`Retry-After`, `Min-Expires`,
    /// anything, in order); a 401 or 407 also carries one fresh challenge per entry of
    /// `challenges` (the configured algorithm when empty), each with its own nonce, in order,
    /// with `stale=true` when `stale` (RFC 7616 §3.3, RFC 8760 §2.4).
    Status {
        code: u16,
        reason: String,
        headers: Vec<(String, String)>,
        challenges: Vec<Algorithm>,
        stale: bool,
    },
    /// Send nothing, also for retransmissions of this attempt.
    Silence,
    /// Close the connection the attempt came on without answering (TCP/TLS); over UDP this
    /// is silence.
    Close,
    /// Normal service, but a binding made by this attempt is granted at most `expires`
    /// seconds (RFC 3261 §10.3 step 7: the registrar may shorten the requested duration).
    Grant { expires: u32 },
}

/// What the shell must do.
// Events are produced at datagram rate; matching `Action::Event(e)` directly matters more
// than the enum's size.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Over UDP: a datagram to `to`; over TCP/TLS: on the connection whose peer is `to`.
    Send {
        to: SocketAddr,
        bytes: Vec<u8>,
    },
    /// Close the stream connection whose peer is `peer`.
    Close {
        peer: SocketAddr,
    },
    Event(Event),
}

/// One registered contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The contact URI as the phone wrote it.
    pub uri: String,
    /// The whole contact value as sent (with parameters).
    pub contact: String,
    pub expires_at: Duration,
    pub call_id: String,
    pub cseq: u32,
    pub instance: Option<String>,
    pub source: SocketAddr,
    pub transport: Transport,
}

#[derive(Debug, Clone)]
enum Answer {
    Response { to: SocketAddr, bytes: Vec<u8> },
    Silence,
    Close,
}

#[derive(Debug, Clone)]
struct Transaction {
    created: Duration,
    answer: Answer,
}

/// What the credentials in a REGISTER amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AuthOutcome {
    NoCredentials,
    Malformed,
    Checked(DigestCheck),
}

/// An issued nonce: when, and the highest `nc` a request with it carried (RFC 7616 §3.4:
/// the client counts every request it sends with one nonce).
#[derive(Debug, Clone)]
struct NonceState {
    issued: Duration,
    /// The highest `nc` seen and the transaction that carried it (a retransmission repeats
    /// its `nc` legitimately).
    last_nc: Option<(u32, String)>,
}

/// The registrar core. Feed it every message with [`Registrar::handle`].
#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    nonce_lifetime: Duration,
    nonce_counter: u64,
    nonces: HashMap<String, NonceState>,
    /// The keys of `nonces` in the order they were issued: the oldest is forgotten first.
    nonce_order: VecDeque<String>,
    bindings: BTreeMap<String, Vec<Binding>>,
    script: Vec<ScriptedAnswer>,
    /// How attempts past the end of the script are answered.
    after_script: ScriptedAnswer,
    register_attempts: usize,
    transactions: HashMap<String, Transaction>,
    /// When `expire` next sweeps.
    next_sweep: Duration,
}

impl Registrar {
    pub fn new(config: RegistrarConfig) -> Self {
        Registrar {
            config,
            nonce_lifetime: DEFAULT_NONCE_LIFETIME,
            nonce_counter: 0,
            nonces: HashMap::new(),
            nonce_order: VecDeque::new(),
            bindings: BTreeMap::new(),
            script: Vec::new(),
            after_script: ScriptedAnswer::Normal,
            register_attempts: 0,
            transactions: HashMap::new(),
            next_sweep: Duration::ZERO,
        }
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// Answers for REGISTER attempts 1, 2, …; attempts beyond the script get the
    /// [`set_after_script`](Self::set_after_script) answer (`Normal` unless set).
    /// Counting restarts: the next new REGISTER transaction is attempt 1.
    pub fn set_script(&mut self, script: Vec<ScriptedAnswer>) {
        self.script = script;
        self.register_attempts = 0;
    }

    /// How every attempt past the script is answered: `Silence` makes a dead controller
    /// that still records what reaches it.
    pub fn set_after_script(&mut self, answer: ScriptedAnswer) {
        self.after_script = answer;
    }

    /// How long an issued nonce stays valid (default one hour).
    pub fn set_nonce_lifetime(&mut self, lifetime: Duration) {
        self.nonce_lifetime = lifetime;
    }

    /// REGISTER transactions seen since the last `set_script` (retransmissions excluded).
    pub fn register_attempts(&self) -> usize {
        self.register_attempts
    }

    /// Live bindings of an address-of-record (`sip:user@host`, host lower-case).
    pub fn bindings(&self, aor: &str, now: Duration) -> Vec<&Binding> {
        self.bindings
            .get(aor)
            .map(|v| v.iter().filter(|b| b.expires_at > now).collect())
            .unwrap_or_default()
    }

    /// Every AOR with at least one live binding.
    pub fn registered_aors(&self, now: Duration) -> Vec<&str> {
        self.bindings
            .iter()
            .filter(|(_, v)| v.iter().any(|b| b.expires_at > now))
            .map(|(k, _)| k.as_str())
            .collect()
    }

    /// Process one message from `from`. Returns events and datagrams to send, in order.
    pub fn handle(
        &mut self,
        now: Duration,
        from: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) -> Vec<Action> {
        self.expire(now);
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                debug!(%from, error = %e, "malformed sip message");
                return vec![Action::Event(Event::Malformed {
                    from: from.to_string(),
                    len: bytes.len(),
                    error: e.to_string(),
                })];
            }
        };
        if !msg.is_request() {
            return vec![Action::Event(response_event(&msg, from))];
        }
        self.handle_request(now, from, transport, &msg)
    }

    fn handle_request(
        &mut self,
        now: Duration,
        from: SocketAddr,
        transport: Transport,
        msg: &Message,
    ) -> Vec<Action> {
        let method = msg.method().unwrap_or_default().to_owned();
        let mut findings: Vec<RequestFinding> = msg
            .findings()
            .iter()
            .cloned()
            .map(RequestFinding::Message)
            .collect();
        if transport != Transport::Udp && msg.header("Content-Length").is_none() {
            // Mandatory on stream transports (RFC 3261 §18.3); missing where the body starts.
            findings.push(RequestFinding::Message(message::Finding {
                offset: msg.body_span().start,
                kind: message::FindingKind::MissingContentLength,
            }));
        }
        // A header that is there but does not parse: the 400 (or the silence, for Via) it
        // earns names it.
        let views = [
            (
                "Via",
                msg.top_via().err().filter(|_| msg.header("Via").is_some()),
            ),
            (
                "From",
                msg.from_addr()
                    .err()
                    .filter(|_| msg.header("From").is_some()),
            ),
            (
                "To",
                msg.to_addr().err().filter(|_| msg.header("To").is_some()),
            ),
            (
                "CSeq",
                msg.cseq().err().filter(|_| msg.header("CSeq").is_some()),
            ),
            (
                "Contact",
                msg.contacts()
                    .err()
                    .filter(|_| msg.header("Contact").is_some()),
            ),
        ];
        for (name, error) in views {
            if let Some(e) = error {
                findings.push(RequestFinding::Registrar(Observation::InvalidHeader {
                    name: name.to_owned(),
                    error: e.to_string(),
                }));
            }
        }
        if method == "REGISTER"
            && let Ok(contacts) = msg.contacts()
            && contacts.iter().any(NameAddr::is_wildcard)
            && (contacts.len() != 1 || msg.expires().and_then(Result::ok) != Some(0))
        {
            findings.push(RequestFinding::Registrar(
                Observation::InvalidWildcardContact,
            ));
        }
        if method == "REGISTER"
            && let Some(ruri) = msg.request_uri()
        {
            match SipUri::parse(ruri) {
                Ok(u) if u.host.eq_ignore_ascii_case(&self.config.domain) => {}
                Ok(u) => findings.push(RequestFinding::Registrar(
                    Observation::RequestUriDomainMismatch {
                        host: u.host.clone(),
                        domain: self.config.domain.clone(),
                    },
                )),
                Err(e) => {
                    findings.push(RequestFinding::Registrar(Observation::InvalidRequestUri {
                        error: e.to_string(),
                    }))
                }
            }
        }
        let key = transaction_key(msg);
        let (auth, outcome) = if method == "REGISTER" {
            self.evaluate_auth(msg, now, key.as_deref(), &mut findings)
        } else {
            (None, AuthOutcome::NoCredentials)
        };
        let cached = key
            .as_ref()
            .and_then(|k| self.transactions.get(k))
            .filter(|t| now.saturating_sub(t.created) < TRANSACTION_LIFETIME)
            .map(|t| t.answer.clone());
        if cached.is_some() {
            findings.push(RequestFinding::Registrar(Observation::Retransmission));
        }
        let used_nonce = match (&outcome, &auth, &key) {
            (AuthOutcome::Checked(DigestCheck::Ok), Some(a), Some(k)) => {
                Some((a.clone(), k.clone()))
            }
            _ => None,
        };
        let refusal = refusal(msg, &findings);
        let mut actions = vec![Action::Event(request_event(
            msg, from, transport, auth, findings,
        ))];
        if method == "ACK" {
            return actions;
        }
        let cseq = msg.cseq().map(|c| c.number).unwrap_or(0);
        if let Some(answer) = cached {
            match answer {
                Answer::Response { to, bytes } => {
                    actions.push(sent_event(&bytes, to, true));
                    actions.push(Action::Send { to, bytes });
                }
                Answer::Silence => actions.push(Action::Event(Event::Silence {
                    from: from.to_string(),
                    method,
                    cseq,
                })),
                Answer::Close => close(&mut actions, from, transport, method, cseq),
            }
            return actions;
        }
        if let Some((a, k)) = &used_nonce {
            self.count_nonce_use(a, k);
        }

        let answer = self.answer(now, from, transport, msg, outcome, refusal);
        if let Some(key) = key {
            self.transactions.insert(
                key,
                Transaction {
                    created: now,
                    answer: answer.clone(),
                },
            );
        }
        match answer {
            Answer::Response { to, bytes } => {
                actions.push(sent_event(&bytes, to, false));
                actions.push(Action::Send { to, bytes });
            }
            Answer::Silence => actions.push(Action::Event(Event::Silence {
                from: from.to_string(),
                method,
                cseq,
            })),
            Answer::Close => close(&mut actions, from, transport, method, cseq),
        }
        actions
    }

    /// Remember the highest `nc` used with a nonce (only for credentials that checked out).
    fn count_nonce_use(&mut self, auth: &AuthSummary, key: &str) {
        let Some(nc) = auth
            .nc
            .as_deref()
            .and_then(|n| u32::from_str_radix(n, 16).ok())
        else {
            return;
        };
        if let Some(state) = self.nonces.get_mut(&auth.nonce)
            && state.last_nc.as_ref().is_none_or(|(last, _)| nc > *last)
        {
            state.last_nc = Some((nc, key.to_owned()));
        }
    }

    /// Decide the answer to a new (non-retransmitted, non-ACK) request.
    fn answer(
        &mut self,
        now: Duration,
        from: SocketAddr,
        transport: Transport,
        msg: &Message,
        outcome: AuthOutcome,
        refusal: Option<(u16, &'static str)>,
    ) -> Answer {
        let method = msg.method().unwrap_or_default();
        let Ok(top_via) = msg.top_via() else {
            // Without a Via there is nowhere RFC 3261 would send a response: stay silent.
            return Answer::Silence;
        };
        let to = response_destination(&top_via, from, transport);
        let respond =
            |me: &Self, code: u16, reason: &str, extra: Vec<(String, String)>| Answer::Response {
                to,
                bytes: me.build_response(msg, &top_via, from, code, reason, &extra),
            };
        let headers_ok = msg.from_addr().is_ok()
            && msg.to_addr().is_ok()
            && msg.call_id().is_some()
            && msg.cseq().is_ok();
        if !headers_ok {
            return respond(self, 400, "Bad Request", Vec::new());
        }
        if let Some((code, reason)) = refusal {
            return respond(self, code, reason, Vec::new());
        }
        match method {
            "REGISTER" => {}
            "OPTIONS" => {
                return respond(
                    self,
                    200,
                    "OK",
                    vec![
                        ("Allow".to_owned(), ALLOW.to_owned()),
                        ("Accept".to_owned(), "application/sdp".to_owned()),
                    ],
                );
            }
            "CANCEL" => return respond(self, 481, "Call/Transaction Does Not Exist", Vec::new()),
            m if KNOWN_METHODS.contains(&m) => {
                return respond(
                    self,
                    405,
                    "Method Not Allowed",
                    vec![("Allow".to_owned(), ALLOW.to_owned())],
                );
            }
            _ => {
                return respond(
                    self,
                    501,
                    "Not Implemented",
                    vec![("Allow".to_owned(), ALLOW.to_owned())],
                );
            }
        }

        self.register_attempts += 1;
        let scripted = self
            .script
            .get(self.register_attempts - 1)
            .cloned()
            .unwrap_or_else(|| self.after_script.clone());
        let cap = match scripted {
            ScriptedAnswer::Grant { expires } => Some(expires),
            _ => None,
        };
        match scripted {
            ScriptedAnswer::Silence => Answer::Silence,
            ScriptedAnswer::Close => match transport {
                Transport::Udp => Answer::Silence,
                Transport::Tcp | Transport::Tls => Answer::Close,
            },
            ScriptedAnswer::Status {
                code,
                reason,
                headers,
                challenges,
                stale,
            } => {
                let mut extra: Vec<(String, String)> = Vec::new();
                if code == 401 || code == 407 {
                    let name = if code == 401 {
                        "WWW-Authenticate"
                    } else {
                        "Proxy-Authenticate"
                    };
                    let algorithms = if challenges.is_empty() {
                        vec![self.config.algorithm]
                    } else {
                        challenges
                    };
                    for a in algorithms {
                        extra.push((name.to_owned(), self.challenge(now, stale, a)));
                    }
                }
                extra.extend(headers);
                respond(self, code, &reason, extra)
            }
            ScriptedAnswer::Normal | ScriptedAnswer::Grant { .. } => match outcome {
                AuthOutcome::NoCredentials
                | AuthOutcome::Checked(
                    DigestCheck::WrongRealm
                    | DigestCheck::NotDigest
                    | DigestCheck::UnsupportedAlgorithm
                    | DigestCheck::UnsupportedQop,
                ) => {
                    let c = self.challenge(now, false, self.config.algorithm);
                    respond(
                        self,
                        401,
                        "Unauthorized",
                        vec![(WWW_AUTHENTICATE.into(), c)],
                    )
                }
                AuthOutcome::Checked(DigestCheck::StaleNonce | DigestCheck::UnknownNonce) => {
                    let c = self.challenge(now, true, self.config.algorithm);
                    respond(
                        self,
                        401,
                        "Unauthorized",
                        vec![(WWW_AUTHENTICATE.into(), c)],
                    )
                }
                AuthOutcome::Checked(DigestCheck::UnknownUser | DigestCheck::WrongResponse)
                    if self.config.challenge_wrong_credentials =>
                {
                    let c = self.challenge(now, false, self.config.algorithm);
                    respond(
                        self,
                        401,
                        "Unauthorized",
                        vec![(WWW_AUTHENTICATE.into(), c)],
                    )
                }
                AuthOutcome::Checked(DigestCheck::UnknownUser | DigestCheck::WrongResponse) => {
                    respond(self, 403, "Forbidden", Vec::new())
                }
                AuthOutcome::Malformed | AuthOutcome::Checked(DigestCheck::MissingParam(_)) => {
                    respond(self, 400, "Bad Request", Vec::new())
                }
                AuthOutcome::Checked(DigestCheck::Ok) => {
                    match self.bind(now, from, transport, msg, cap) {
                        Ok(extra) => respond(self, 200, "OK", extra),
                        Err(reason) => respond(self, 400, reason, Vec::new()),
                    }
                }
            },
        }
    }

    /// Read and check the credentials that match our realm. Pure: no state changes, so a
    /// retransmission is summarised the same way.
    fn evaluate_auth(
        &self,
        msg: &Message,
        now: Duration,
        transaction: Option<&str>,
        findings: &mut Vec<RequestFinding>,
    ) -> (Option<AuthSummary>, AuthOutcome) {
        let all = msg.authorizations();
        if all.is_empty() {
            return (None, AuthOutcome::NoCredentials);
        }
        let parsed: Vec<&DigestParams> = all.iter().filter_map(|r| r.as_ref().ok()).collect();
        // RFC 3261 §22.1: pick the credentials for our realm; else report the first.
        let Some(creds) = parsed
            .iter()
            .find(|c| c.realm() == Some(self.config.realm.as_str()))
            .or_else(|| parsed.first())
        else {
            if let Some(Err(e)) = all.first() {
                findings.push(RequestFinding::Registrar(
                    Observation::MalformedAuthorization {
                        error: e.to_string(),
                    },
                ));
            }
            return (None, AuthOutcome::Malformed);
        };
        let password = creds.username().and_then(|u| {
            self.config
                .accounts
                .iter()
                .find(|(user, _)| user == u)
                .map(|(_, p)| p.as_str())
        });
        let method = msg.method().unwrap_or_default();
        let mut check = if !creds.is_digest() {
            DigestCheck::NotDigest
        } else if creds.realm().is_some() && creds.realm() != Some(self.config.realm.as_str()) {
            DigestCheck::WrongRealm
        } else {
            digest::verify(creds, method, password)
        };
        if check == DigestCheck::Ok {
            // The digest is right; now is the nonce one of ours, and fresh?
            let state = creds.nonce().and_then(|n| self.nonces.get(n));
            check = match state {
                None => DigestCheck::UnknownNonce,
                Some(st) if now.saturating_sub(st.issued) > self.nonce_lifetime => {
                    DigestCheck::StaleNonce
                }
                Some(_) => DigestCheck::Ok,
            };
            // RFC 7616 §3.4: each request with a nonce carries the next count; the same or
            // a lower count from another transaction is a replay of the counter.
            if let (Some(st), Some(nc)) = (state, creds.nc_value())
                && let Some((last, key)) = &st.last_nc
                && nc <= *last
                && transaction != Some(key.as_str())
            {
                findings.push(RequestFinding::Registrar(Observation::NcNotIncremented {
                    nc: creds.nc().unwrap_or_default().to_owned(),
                    last: format!("{last:08x}"),
                }));
            }
        }
        if let DigestCheck::MissingParam(p) = check {
            findings.push(RequestFinding::Registrar(
                Observation::IncompleteCredentials { missing: p },
            ));
        }
        if self.config.qop && creds.is_digest() && creds.qop().is_none() {
            findings.push(RequestFinding::Registrar(Observation::DigestWithoutQop));
        }
        if let (Some(uri), Some(ruri)) = (creds.uri(), msg.request_uri())
            && uri != ruri
        {
            findings.push(RequestFinding::Registrar(Observation::DigestUriMismatch {
                uri: uri.to_owned(),
                request_uri: ruri.to_owned(),
            }));
        }
        let algorithm = creds.algorithm().unwrap_or("MD5").to_owned();
        let summary = AuthSummary {
            username: creds.username().unwrap_or_default().to_owned(),
            realm: creds.realm().unwrap_or_default().to_owned(),
            nonce: creds.nonce().unwrap_or_default().to_owned(),
            uri: creds.uri().unwrap_or_default().to_owned(),
            algorithm,
            qop: creds.qop().map(str::to_owned),
            nc: creds.nc().map(str::to_owned),
            cnonce: creds.cnonce().map(str::to_owned),
            opaque: creds.opaque().map(str::to_owned),
            result: check,
        };
        (Some(summary), AuthOutcome::Checked(check))
    }

    /// A fresh `Digest …` challenge value; remembers the nonce.
    fn challenge(&mut self, now: Duration, stale: bool, algorithm: Algorithm) -> String {
        self.nonce_counter += 1;
        let nonce = derive_hex(
            "nonce",
            self.config.nonce_seed,
            &self.nonce_counter.to_be_bytes(),
            16,
        );
        while self.nonces.len() >= MAX_NONCES {
            let Some(oldest) = self.nonce_order.pop_front() else {
                break;
            };
            self.nonces.remove(&oldest);
        }
        self.nonce_order.push_back(nonce.clone());
        self.nonces.insert(
            nonce.clone(),
            NonceState {
                issued: now,
                last_nc: None,
            },
        );
        let mut c = format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm={}",
            self.config.realm,
            nonce,
            algorithm.as_str()
        );
        if self.config.qop {
            c.push_str(", qop=\"auth\"");
        }
        if stale {
            c.push_str(", stale=true");
        }
        c
    }

    /// Apply the Contact headers of an authenticated REGISTER (RFC 3261 §10.3 steps 5–8).
    /// `cap` shortens what is granted below the configured maximum (a scripted answer).
    /// Returns the extra headers of the 200, or the reason phrase of a 400.
    fn bind(
        &mut self,
        now: Duration,
        from: SocketAddr,
        transport: Transport,
        msg: &Message,
        cap: Option<u32>,
    ) -> Result<Vec<(String, String)>, &'static str> {
        let max = cap.map_or(self.config.expires, |c| c.min(self.config.expires));
        let to = msg.to_addr().map_err(|_| "Bad To Header")?;
        let aor = match to.sip_uri() {
            Ok(u) => u.aor(),
            Err(_) => to.uri.clone(),
        };
        let contacts = msg.contacts().map_err(|_| "Bad Contact Header")?;
        let header_expires = match msg.expires() {
            None => None,
            Some(Ok(v)) => Some(v),
            // §20.19: a malformed Expires is treated as 3600.
            Some(Err(_)) => Some(3600),
        };
        let call_id = msg.call_id().unwrap_or_default().to_owned();
        let cseq = msg.cseq().map(|c| c.number).unwrap_or(0);
        let mut granted_first: Option<u32> = None;

        if contacts.iter().any(NameAddr::is_wildcard) {
            // §10.3 step 6: `*` only alone and only with Expires: 0.
            if contacts.len() != 1 || header_expires != Some(0) {
                return Err("Wildcard Contact Needs Expires 0");
            }
            self.bindings.remove(&aor);
            granted_first = Some(0);
        } else {
            let list = self.bindings.entry(aor.clone()).or_default();
            for c in &contacts {
                let requested = match c.expires() {
                    Some(Ok(v)) => Some(v),
                    Some(Err(_)) => Some(3600),
                    None => header_expires,
                };
                let granted = match requested {
                    Some(r) => r.min(max),
                    None => max,
                };
                granted_first.get_or_insert(granted);
                list.retain(|b| b.uri != c.uri);
                if granted > 0 {
                    list.push(Binding {
                        uri: c.uri.clone(),
                        contact: contact_text(c),
                        expires_at: now + Duration::from_secs(u64::from(granted)),
                        call_id: call_id.clone(),
                        cseq,
                        instance: c.instance(),
                        source: from,
                        transport,
                    });
                }
            }
            if list.is_empty() {
                self.bindings.remove(&aor);
            }
        }

        let mut extra = Vec::new();
        for b in self.bindings(&aor, now) {
            let left = b.expires_at.saturating_sub(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            extra.push(("Contact".into(), format!("<{}>;expires={secs}", b.uri)));
        }
        if let Some(g) = granted_first {
            extra.push(("Expires".into(), g.to_string()));
        }
        Ok(extra)
    }

    /// RFC 3261 §8.2.6: status line, copied Via/From/To/Call-ID/CSeq, our headers.
    fn build_response(
        &self,
        req: &Message,
        top_via: &Via,
        from: SocketAddr,
        code: u16,
        reason: &str,
        extra: &[(String, String)],
    ) -> Vec<u8> {
        use std::fmt::Write as _;
        // Written in place (writing to a String cannot fail), in a buffer sized for a usual
        // answer, instead of a `format!` per line grown into a buffer doubling as it goes.
        let mut out = String::with_capacity(RESPONSE_CAPACITY);
        let _ = write!(out, "SIP/2.0 {code} {reason}\r\n");
        let mut first = true;
        for h in req.headers_named("Via") {
            if first {
                first = false;
                let mut via = top_via.clone();
                stamp_via(&mut via, from);
                let _ = write!(out, "Via: {}", via.to_wire());
                // Keep any further via-parms of the same header line as sent.
                if let Some((_, rest)) = h.value().split_once(',') {
                    let _ = write!(out, ", {}", rest.trim());
                }
                out.push_str("\r\n");
            } else {
                let _ = write!(out, "Via: {}\r\n", h.value());
            }
        }
        if let Some(h) = req.header("From") {
            let _ = write!(out, "From: {}\r\n", h.value());
        }
        if let Some(h) = req.header("To") {
            let has_tag = req.to_addr().map(|t| t.tag().is_some()).unwrap_or(false);
            if has_tag || code == 100 {
                let _ = write!(out, "To: {}\r\n", h.value());
            } else {
                let _ = write!(out, "To: {};tag={}\r\n", h.value(), self.to_tag(req));
            }
        }
        if let Some(h) = req.header("Call-ID") {
            let _ = write!(out, "Call-ID: {}\r\n", h.value());
        }
        if let Some(h) = req.header("CSeq") {
            let _ = write!(out, "CSeq: {}\r\n", h.value());
        }
        for (name, value) in extra {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        out.push_str("Server: phonecert\r\nContent-Length: 0\r\n\r\n");
        out.into_bytes()
    }

    /// A To-tag that is the same for every response to one client's registration dialog
    /// (Call-ID and From-tag), derived from the seed.
    fn to_tag(&self, req: &Message) -> String {
        let from_tag = req
            .from_addr()
            .ok()
            .and_then(|f| f.tag())
            .unwrap_or_default();
        let material = format!("{}\n{}", req.call_id().unwrap_or_default(), from_tag);
        derive_hex("to-tag", self.config.nonce_seed, material.as_bytes(), 8)
    }

    fn expire(&mut self, now: Duration) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + SWEEP_INTERVAL;
        self.transactions
            .retain(|_, t| now.saturating_sub(t.created) < TRANSACTION_LIFETIME);
        for list in self.bindings.values_mut() {
            list.retain(|b| b.expires_at > now);
        }
        self.bindings.retain(|_, list| !list.is_empty());
    }
}

/// A request RFC 3261 refuses whatever its method, from what was found in it: another SIP
/// version → 505 (§21.5.6); a Request-URI that is not a SIP URI → 416 (§8.2.2.1), one that is
/// but does not parse → 400; a Content-Length that is not a number or promises more body than
/// arrived → 400 (§18.3, §20.14); a CSeq naming another method → 400 (§8.1.1.5); From, To,
/// Call-ID or CSeq twice → 400 (§7.3.1: they take one value). Everything else is served, with
/// its findings recorded.
fn refusal(msg: &Message, findings: &[RequestFinding]) -> Option<(u16, &'static str)> {
    let sip_scheme = msg
        .request_uri()
        .and_then(|u| u.split_once(':'))
        .is_some_and(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")
        });
    let mut worst: Option<(u16, &'static str)> = None;
    for f in findings {
        let verdict = match f {
            RequestFinding::Message(m) => match &m.kind {
                message::FindingKind::UnexpectedVersion { .. } => {
                    Some((505, "Version Not Supported"))
                }
                message::FindingKind::InvalidContentLength { .. }
                | message::FindingKind::CseqMethodMismatch { .. } => Some((400, "Bad Request")),
                message::FindingKind::ContentLengthMismatch { declared, actual }
                    if declared > actual =>
                {
                    Some((400, "Bad Request"))
                }
                message::FindingKind::DuplicateHeader { name }
                    if ["From", "To", "Call-ID", "CSeq"]
                        .iter()
                        .any(|h| message::canonical_name(name).eq_ignore_ascii_case(h)) =>
                {
                    Some((400, "Bad Request"))
                }
                _ => None,
            },
            RequestFinding::Registrar(Observation::InvalidRequestUri { .. }) if !sip_scheme => {
                Some((416, "Unsupported URI Scheme"))
            }
            RequestFinding::Registrar(Observation::InvalidRequestUri { .. }) => {
                Some((400, "Bad Request"))
            }
            RequestFinding::Registrar(_) => None,
        };
        // 505 outranks the rest: nothing else of a message in another version is reliable.
        worst = match (worst, verdict) {
            (Some((505, r)), _) => Some((505, r)),
            (_, Some(v)) if v.0 == 505 || worst.is_none() => Some(v),
            (w, _) => w,
        };
    }
    worst
}

/// The script closes the stream without an answer (a `closed` event, then the close).
fn close(
    actions: &mut Vec<Action>,
    peer: SocketAddr,
    transport: Transport,
    method: String,
    cseq: u32,
) {
    actions.push(Action::Event(Event::Closed {
        from: peer.to_string(),
        transport: transport.as_str().to_owned(),
        method,
        cseq,
    }));
    actions.push(Action::Close { peer });
}

/// `hex(SHA-256(label ‖ seed ‖ data))`, first `bytes` bytes: deterministic, seed-dependent.
fn derive_hex(label: &str, seed: u64, data: &[u8], bytes: usize) -> String {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update(seed.to_be_bytes());
    h.update(data);
    let out = h.finalize();
    hex::encode(out.get(..bytes).unwrap_or_default())
}

fn contact_text(c: &NameAddr) -> String {
    let mut s = format!("<{}>", c.uri);
    for p in &c.params {
        s.push(';');
        s.push_str(&p.name);
        if let Some(v) = &p.value {
            s.push('=');
            s.push_str(v);
        }
    }
    s
}

/// RFC 3261 §18.2.1 `received` when sent-by is not the source address; RFC 3581 §4
/// `received` and `rport` when the client asked with a bare `rport`.
fn stamp_via(via: &mut Via, from: SocketAddr) {
    let ip = from.ip().to_string();
    let asked_rport = via.rport().is_some();
    let sent_by_ip: Option<IpAddr> = via
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok();
    if asked_rport || sent_by_ip != Some(from.ip()) {
        via.set_param("received", Some(ip));
    }
    if asked_rport {
        via.set_param("rport", Some(from.port().to_string()));
    }
}

/// RFC 3261 §18.2.2 / RFC 3581 §4: over UDP, answer the source address; the source port when
/// the client asked for rport, otherwise the sent-by port (5060 by default). Over TCP/TLS,
/// answer on the connection (the peer address). `maddr` is not honoured.
fn response_destination(via: &Via, from: SocketAddr, transport: Transport) -> SocketAddr {
    match transport {
        Transport::Tcp | Transport::Tls => from,
        Transport::Udp => {
            if via.rport().is_some() {
                from
            } else {
                SocketAddr::new(from.ip(), via.port.unwrap_or(5060))
            }
        }
    }
}

/// RFC 3261 §17.2.3: branch (with the magic cookie) + sent-by + method; CANCEL/ACK keep
/// their own method so they never match the request they refer to. Older clients without the
/// cookie are matched by Call-ID, CSeq and From-tag.
fn transaction_key(msg: &Message) -> Option<String> {
    let via = msg.top_via().ok()?;
    let cseq = msg.cseq().ok()?;
    let method = msg.method().unwrap_or_default();
    match via.branch() {
        Some(b) if b.starts_with("z9hG4bK") => Some(format!(
            "{b}|{}:{}|{method}",
            via.host.to_ascii_lowercase(),
            via.port.unwrap_or(5060)
        )),
        _ => {
            let from_tag = msg
                .from_addr()
                .ok()
                .and_then(|f| f.tag())
                .unwrap_or_default();
            Some(format!(
                "{}|{}|{}|{from_tag}|{method}",
                msg.call_id().unwrap_or_default(),
                cseq.number,
                cseq.method
            ))
        }
    }
}

fn uri_of(addr: Result<NameAddr, crate::headers::ViewError>, raw: Option<&str>) -> String {
    match addr {
        Ok(a) => a.uri,
        Err(_) => raw.unwrap_or_default().to_owned(),
    }
}

fn message_expires(msg: &Message) -> Option<u32> {
    let from_contact = msg
        .contacts()
        .ok()
        .and_then(|c| c.first().and_then(|c| c.expires()))
        .and_then(Result::ok);
    from_contact.or_else(|| msg.expires().and_then(Result::ok))
}

fn request_event(
    msg: &Message,
    from: SocketAddr,
    transport: Transport,
    auth: Option<AuthSummary>,
    findings: Vec<RequestFinding>,
) -> Event {
    let contact = msg
        .contacts()
        .ok()
        .and_then(|c| c.first().map(contact_text));
    Event::Request {
        method: msg.method().unwrap_or_default().to_owned(),
        request_uri: msg.request_uri().unwrap_or_default().to_owned(),
        from: from.to_string(),
        transport: transport.as_str().to_owned(),
        connection: None,
        call_id: msg.call_id().unwrap_or_default().to_owned(),
        cseq: msg.cseq().map(|c| c.number).unwrap_or(0),
        from_uri: uri_of(msg.from_addr(), msg.header("From").map(|h| h.value())),
        to_uri: uri_of(msg.to_addr(), msg.header("To").map(|h| h.value())),
        contact: contact.or_else(|| msg.header("Contact").map(|h| h.value().to_owned())),
        expires: message_expires(msg),
        user_agent: msg.user_agent().map(str::to_owned),
        headers: headers_of(msg),
        auth,
        findings,
        raw: String::from_utf8_lossy(msg.as_bytes()).into_owned(),
    }
}

fn response_event(msg: &Message, from: SocketAddr) -> Event {
    let cseq = msg.cseq().ok();
    Event::Response {
        status: msg.status().unwrap_or(0),
        reason: msg.reason().unwrap_or_default().to_owned(),
        to: from.to_string(),
        method: cseq.as_ref().map(|c| c.method.clone()).unwrap_or_default(),
        cseq: cseq.map(|c| c.number).unwrap_or(0),
        call_id: msg.call_id().unwrap_or_default().to_owned(),
        expires: message_expires(msg),
        headers: headers_of(msg),
        raw: String::from_utf8_lossy(msg.as_bytes()).into_owned(),
    }
}

/// Every header as sent (name as on the wire, value unfolded), in order.
fn headers_of(msg: &Message) -> Vec<(String, String)> {
    msg.headers()
        .iter()
        .map(|h| (h.raw_name().to_owned(), h.value().to_owned()))
        .collect()
}

/// The digest challenges of a response we built, parameter by parameter.
fn challenges_of(msg: &Message) -> Vec<ChallengeSummary> {
    msg.headers()
        .iter()
        .filter(|h| {
            let n = message::canonical_name(h.raw_name());
            n.eq_ignore_ascii_case("WWW-Authenticate")
                || n.eq_ignore_ascii_case("Proxy-Authenticate")
        })
        .filter_map(|h| DigestParams::parse(h.value()).ok())
        .map(|d| ChallengeSummary {
            realm: d.realm().map(str::to_owned),
            nonce: d.nonce().map(str::to_owned),
            algorithm: d.algorithm().map(str::to_owned),
            qop: d.qop().map(str::to_owned),
            stale: d.stale().map(str::to_owned),
            opaque: d.opaque().map(str::to_owned),
        })
        .collect()
}

/// The `response` event for a response going to `to` (also used to rebuild the event from
/// a captured response).
pub fn sent_event(bytes: &[u8], to: SocketAddr, retransmission: bool) -> Action {
    let (status, reason, method, cseq, call_id, headers, challenges) = match Message::parse(bytes) {
        Ok(m) => {
            let c = m.cseq().ok();
            (
                m.status().unwrap_or(0),
                m.reason().unwrap_or_default().to_owned(),
                c.as_ref().map(|c| c.method.clone()).unwrap_or_default(),
                c.map(|c| c.number).unwrap_or(0),
                m.call_id().unwrap_or_default().to_owned(),
                headers_of(&m),
                challenges_of(&m),
            )
        }
        Err(_) => (
            0,
            String::new(),
            String::new(),
            0,
            String::new(),
            Vec::new(),
            Vec::new(),
        ),
    };
    Action::Event(Event::Sent {
        status,
        reason,
        to: to.to_string(),
        method,
        cseq,
        call_id,
        retransmission,
        headers,
        challenges,
        raw: String::from_utf8_lossy(bytes).into_owned(),
    })
}

/// The standard reason phrase of a status code (RFC 3261 §21), for scripts that give none.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Unknown",
    }
}
