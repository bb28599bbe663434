//! Sans-IO registration state machine (RFC 3261 §10.2, non-INVITE client transaction
//! §17.1.2, digest §22.2) with the Avaya controller-list failover (domain.md
//! "Registration").
//!
//! Owns: building REGISTER requests, matching responses to the open transaction, UDP
//! retransmission (Timer E: T1 doubling to T2; Timer F: 64·T1), digest answers, refresh
//! scheduling, and what happens on 403, 503 + Retry-After, silence and other failures.
//! Never: touches sockets or clocks — time comes in as phone-time `Duration`, randomness
//! from a seeded [`Rng`]; the shell moves [`Action::Send`] bytes to the controller.
//!
//! Decisions where the 9600 guides are silent:
//! - One controller at a time, in list order (96x0 failover; 96x1's parallel mode is not
//!   modelled). On no answer or a failure response the phone moves to the next entry; after
//!   the last it waits a random 50–90 % of RECOVERYREGISTERWAIT and starts over at the first.
//! - The first REGISTER to a controller carries no credentials. A refresh carries the
//!   credentials of the last challenge answered there, with the next `nc` for that nonce
//!   (RFC 7616 §3.4). A 401/407 is answered once per cycle; a second one is answered only
//!   with `stale=true` (RFC 7616 §3.3), otherwise the credentials count as rejected.
//! - Of several challenges the phone answers the strongest algorithm it supports (SHA-256 over
//!   MD5, RFC 8760 §2.4; the first of equals).
//! - 403 and rejected credentials mark that controller as refused: it is never tried again
//!   with these credentials (RFC 3261 §22.2: no retry with credentials that failed).
//! - 423 with a larger Min-Expires: the same controller at once, asking for Min-Expires from
//!   then on (RFC 3261 §10.2.8); a 423 without one is an ordinary failure.
//! - 503 with Retry-After: wait that long, then try the same controller again; 503 without
//!   it is an ordinary failure.
//! - Refresh at min(granted·0.9, REGISTERWAIT) after the 200.
//!
//! Fault switches bent here: `wrong-digest-response`, `no-auth-retry`,
//! `register-first-controller-only`, `ignore-retry-after`, `ignore-granted-expires`,
//! `digest-md5-only`, `nc-not-incremented`, `ignore-stale`, `refresh-401-drops-registration`,
//! `retry-rejected-credentials`, `retry-after-403`, `ignore-min-expires`, `no-recovery-wait`,
//! `retry-after-comment-unparsed`, `tcp-retransmit`, `refresh-after-expiry`.

use std::net::IpAddr;
use std::time::Duration;

use super::digest::{self, Challenge, Credentials, DigestAlgorithm};
use super::msg::Response;
use crate::fault::{Fault, Faults};
use crate::rng::Rng;

/// RFC 3261 §17.1.1.1 timer values.
pub const T1: Duration = Duration::from_millis(500);
pub const T2: Duration = Duration::from_secs(4);
pub const TIMER_F: Duration = Duration::from_millis(500 * 64);

/// Transport to a controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipTransport {
    Udp,
    Tcp,
    Tls,
}

impl SipTransport {
    pub fn via_token(self) -> &'static str {
        match self {
            SipTransport::Udp => "UDP",
            SipTransport::Tcp => "TCP",
            SipTransport::Tls => "TLS",
        }
    }
    pub fn param(self) -> &'static str {
        match self {
            SipTransport::Udp => "udp",
            SipTransport::Tcp => "tcp",
            SipTransport::Tls => "tls",
        }
    }
    /// TCP and TLS deliver or fail on their own: no retransmission (RFC 3261 §17.1.2.2).
    pub fn reliable(self) -> bool {
        self != SipTransport::Udp
    }
}

/// One SIP_CONTROLLER_LIST entry the phone can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    pub host: String,
    pub port: u16,
    pub transport: SipTransport,
}

/// Everything the registration needs to know, fixed for one boot.
#[derive(Debug, Clone)]
pub struct RegConfig {
    pub user: String,
    pub password: String,
    /// SIPDOMAIN; when `None` each controller's host is the domain.
    pub domain: Option<String>,
    pub controllers: Vec<Controller>,
    pub local_ip: IpAddr,
    pub local_port: u16,
    /// The full User-Agent header value.
    pub user_agent: String,
    /// REGISTERWAIT (requested Expires and the longest refresh interval).
    pub register_wait: Duration,
    /// RECOVERYREGISTERWAIT.
    pub recovery_wait: Duration,
    pub faults: Faults,
}

/// What the shell must do or may report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes to controller `controller`.
    Send { controller: usize, bytes: Vec<u8> },
    /// A 200 OK: registered for `expires`.
    Registered {
        controller: usize,
        expires: Duration,
    },
    /// This controller failed; the machine has moved on.
    Failed { controller: usize, reason: String },
    /// Nothing is left to try (every controller refused these credentials).
    Stopped,
}

/// The open client transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Transaction {
    controller: usize,
    branch: String,
    cseq: u32,
    bytes: Vec<u8>,
    started: Duration,
    next_retransmit: Option<Duration>,
    interval: Duration,
    /// Credentialed attempts already sent in this cycle.
    auth_sent: u32,
}

/// Registration states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegState {
    Idle,
    Trying(Box<TransactionView>),
    Registered {
        controller: usize,
        refresh_at: Duration,
    },
    Waiting {
        controller: usize,
        until: Duration,
    },
    Stopped,
}

/// Public view of an open transaction (for tests and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionView {
    pub controller: usize,
    pub cseq: u32,
    pub branch: String,
}

/// Per-controller dialog-ish data: stable Call-ID and From tag, CSeq, nonce count.
#[derive(Debug, Clone)]
struct PerController {
    call_id: String,
    from_tag: String,
    cseq: u32,
    refused: bool,
    nonce: Option<String>,
    nc: u32,
    /// The last challenge answered here and the header it came in (`Authorization` or
    /// `Proxy-Authorization` answers it): refreshes carry credentials for it.
    challenge: Option<(Challenge, &'static str)>,
    /// Expires to ask for here, once a 423 named a Min-Expires.
    expires: Option<u32>,
}

/// The registration machine.
#[derive(Debug)]
pub struct Registration {
    cfg: RegConfig,
    rng: Rng,
    per: Vec<PerController>,
    tx: Option<Transaction>,
    state: RegState,
}

impl Registration {
    pub fn new(cfg: RegConfig, mut rng: Rng) -> Self {
        let per = cfg
            .controllers
            .iter()
            .map(|_| PerController {
                call_id: format!("{}@{}", rng.hex(12), cfg.local_ip),
                from_tag: rng.hex(6),
                cseq: 0,
                refused: false,
                nonce: None,
                nc: 0,
                challenge: None,
                expires: None,
            })
            .collect();
        Self {
            cfg,
            rng,
            per,
            tx: None,
            state: RegState::Idle,
        }
    }

    pub fn state(&self) -> &RegState {
        &self.state
    }

    /// Controllers the phone may use (all, or just the first with the fault).
    fn usable(&self) -> usize {
        if self.cfg.faults.has(Fault::RegisterFirstControllerOnly) {
            self.cfg.controllers.len().min(1)
        } else {
            self.cfg.controllers.len()
        }
    }

    /// Begin with the first controller.
    pub fn start(&mut self, now: Duration) -> Vec<Action> {
        match (0..self.usable()).find(|&i| !self.per[i].refused) {
            Some(i) => self.begin(now, i, None),
            None => {
                self.state = RegState::Stopped;
                vec![Action::Stopped]
            }
        }
    }

    /// When [`poll`](Self::poll) next has work.
    pub fn next_deadline(&self) -> Option<Duration> {
        match &self.state {
            RegState::Trying(_) => self.tx.as_ref().map(|t| {
                let give_up = t.started + TIMER_F;
                t.next_retransmit.map_or(give_up, |r| r.min(give_up))
            }),
            RegState::Registered { refresh_at, .. } => Some(*refresh_at),
            RegState::Waiting { until, .. } => Some(*until),
            RegState::Idle | RegState::Stopped => None,
        }
    }

    /// Run timers due at `now`.
    pub fn poll(&mut self, now: Duration) -> Vec<Action> {
        match self.state.clone() {
            RegState::Registered {
                controller,
                refresh_at,
            } if now >= refresh_at => self.refresh(now, controller),
            RegState::Waiting { controller, until } if now >= until => {
                self.begin(now, controller, None)
            }
            RegState::Trying(_) => {
                let Some(tx) = self.tx.as_mut() else {
                    return Vec::new();
                };
                if now >= tx.started + TIMER_F {
                    let c = tx.controller;
                    return self.fail(now, c, "no answer within 64*T1 (timer F)".into());
                }
                match tx.next_retransmit {
                    Some(at) if now >= at => {
                        tx.interval = (tx.interval * 2).min(T2);
                        tx.next_retransmit = Some(now + tx.interval);
                        vec![Action::Send {
                            controller: tx.controller,
                            bytes: tx.bytes.clone(),
                        }]
                    }
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// The shell could not send to (or connect to) the controller: treat as a failure.
    pub fn transport_error(
        &mut self,
        now: Duration,
        controller: usize,
        error: &str,
    ) -> Vec<Action> {
        match &self.tx {
            Some(tx) if tx.controller == controller => {
                self.fail(now, controller, format!("transport error: {error}"))
            }
            _ => Vec::new(),
        }
    }

    /// Feed one received message.
    pub fn handle(&mut self, now: Duration, bytes: &[u8]) -> Vec<Action> {
        let resp = match Response::parse(bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "sip message ignored");
                return Vec::new();
            }
        };
        let Some(tx) = self.tx.as_mut() else {
            return Vec::new();
        };
        let matches = resp.top_via_branch().as_deref() == Some(tx.branch.as_str())
            && resp
                .cseq()
                .is_some_and(|(n, m)| n == tx.cseq && m.eq_ignore_ascii_case("REGISTER"));
        if !matches {
            tracing::debug!(
                status = resp.status,
                "response for another transaction ignored"
            );
            return Vec::new();
        }
        let c = tx.controller;
        match resp.status {
            100..=199 => {
                // Proceeding: keep retransmitting, but at T2 (RFC 3261 §17.1.2.2).
                if tx.next_retransmit.is_some() {
                    tx.interval = T2;
                    tx.next_retransmit = Some(now + T2);
                }
                Vec::new()
            }
            200..=299 => {
                let requested = self.requested_expires(c);
                let needle = format!("{}:{}", self.cfg.local_ip, self.cfg.local_port);
                let granted = if self.cfg.faults.has(Fault::IgnoreGrantedExpires) {
                    // The fault: the phone trusts what it asked for, not what it was given.
                    requested
                } else {
                    resp.contact_expires(&needle)
                        .or_else(|| resp.expires())
                        .unwrap_or(requested)
                };
                let expires = Duration::from_secs(u64::from(granted));
                let refresh = if self.cfg.faults.has(Fault::RefreshAfterExpiry) {
                    // The fault: the registration has lapsed before the refresh goes out.
                    expires.mul_f64(1.1)
                } else {
                    expires.mul_f64(0.9).min(self.cfg.register_wait)
                }
                .max(Duration::from_secs(1));
                self.tx = None;
                self.state = RegState::Registered {
                    controller: c,
                    refresh_at: now + refresh,
                };
                vec![Action::Registered {
                    controller: c,
                    expires,
                }]
            }
            401 | 407 => self.challenged(now, c, &resp),
            423 if !self.cfg.faults.has(Fault::IgnoreMinExpires) => match resp.min_expires() {
                Some(min) if min > self.requested_expires(c) => {
                    self.per[c].expires = Some(min);
                    self.tx = None;
                    self.begin(now, c, None)
                }
                _ => self.fail(now, c, "423 without a larger min-expires".into()),
            },
            403 => {
                if !self.cfg.faults.has(Fault::RetryAfterForbidden) {
                    self.per[c].refused = true;
                }
                self.fail(
                    now,
                    c,
                    "403 forbidden: not retrying these credentials here".into(),
                )
            }
            503 => match resp
                .retry_after()
                .filter(|_| !self.cfg.faults.has(Fault::IgnoreRetryAfter))
                .filter(|_| {
                    // The fault: anything beyond the digits makes the header unreadable.
                    !self.cfg.faults.has(Fault::RetryAfterCommentUnparsed)
                        || resp
                            .header("retry-after")
                            .is_some_and(|v| v.trim().chars().all(|ch| ch.is_ascii_digit()))
                }) {
                Some(secs) => {
                    self.tx = None;
                    self.state = RegState::Waiting {
                        controller: c,
                        until: now + Duration::from_secs(u64::from(secs)),
                    };
                    vec![Action::Failed {
                        controller: c,
                        reason: format!("503 with retry-after {secs}s"),
                    }]
                }
                None => self.fail(now, c, "503 without retry-after".into()),
            },
            other => self.fail(now, c, format!("{other} {}", resp.reason)),
        }
    }

    fn challenged(&mut self, now: Duration, c: usize, resp: &Response) -> Vec<Action> {
        if self.cfg.faults.has(Fault::NoAuthRetry) {
            return self.fail(now, c, format!("{} challenge not answered", resp.status));
        }
        let (header, answer_name) = if resp.status == 407 {
            ("proxy-authenticate", "Proxy-Authorization")
        } else {
            ("www-authenticate", "Authorization")
        };
        let md5_only = self.cfg.faults.has(Fault::DigestMd5Only);
        let challenges: Vec<Challenge> = resp
            .header_values(header)
            .iter()
            .filter_map(|v| Challenge::parse(v).ok())
            .filter(|ch| !md5_only || ch.algorithm == DigestAlgorithm::Md5)
            .collect();
        // The strongest algorithm offered; the first of equals (RFC 8760 §2.4).
        let best = challenges.iter().map(|ch| ch.algorithm).max();
        let Some(ch) = challenges.into_iter().find(|ch| Some(ch.algorithm) == best) else {
            return self.fail(
                now,
                c,
                format!("{} without a usable digest challenge", resp.status),
            );
        };
        let auth_sent = self.tx.as_ref().map_or(0, |t| t.auth_sent);
        let stale = ch.stale && !self.cfg.faults.has(Fault::IgnoreStale);
        if auth_sent >= 2 || (auth_sent == 1 && !stale) {
            // RFC 3261 §22.2: credentials that failed are not sent again.
            if !self.cfg.faults.has(Fault::RetryRejectedCredentials) {
                self.per[c].refused = true;
            }
            return self.fail(
                now,
                c,
                format!("{} again: credentials rejected", resp.status),
            );
        }
        match self.authorization(c, &ch, answer_name) {
            Ok(value) => self.begin(now, c, Some((answer_name, value, auth_sent + 1))),
            Err(e) => self.fail(now, c, format!("cannot answer challenge: {e}")),
        }
    }

    /// The credentials answering `ch` on controller `c`, counting the nonce's uses; the
    /// challenge is remembered for refreshes.
    fn authorization(
        &mut self,
        c: usize,
        ch: &Challenge,
        name: &'static str,
    ) -> Result<String, digest::DigestError> {
        let repeat_nc = self.cfg.faults.has(Fault::NcNotIncremented);
        let per = &mut self.per[c];
        if per.nonce.as_deref() != Some(ch.nonce.as_str()) {
            per.nonce = Some(ch.nonce.clone());
            per.nc = 0;
        }
        if !(repeat_nc && per.nc > 0) {
            per.nc += 1;
        }
        per.challenge = Some((ch.clone(), name));
        let nc = per.nc;
        let cnonce = self.rng.hex(8);
        let uri = self.request_uri(c);
        let mut password = self.cfg.password.clone();
        if self.cfg.faults.has(Fault::WrongDigestResponse) {
            // The fault: hash a password that is not the configured one.
            password.push('!');
        }
        let creds = Credentials {
            username: &self.cfg.user,
            password: &password,
            method: "REGISTER",
            uri: &uri,
            nc,
            cnonce: &cnonce,
        };
        let r = digest::response(ch, &creds)?;
        Ok(digest::authorization(ch, &creds, &r))
    }

    /// Refresh on `c`, with credentials for the last challenge answered there.
    fn refresh(&mut self, now: Duration, c: usize) -> Vec<Action> {
        let Some((ch, name)) = self.per[c].challenge.clone() else {
            return self.begin(now, c, None);
        };
        // Pre-emptive credentials answer no challenge of this cycle, so a 401 to them is the
        // cycle's first (RFC 3261 §22.2: a new nonce is answered like any challenge).
        let counted = u32::from(
            self.cfg
                .faults
                .has(Fault::RefreshChallengeDropsRegistration),
        );
        match self.authorization(c, &ch, name) {
            Ok(value) => self.begin(now, c, Some((name, value, counted))),
            Err(_) => self.begin(now, c, None),
        }
    }

    /// The Expires this phone asks for on `c`.
    fn requested_expires(&self, c: usize) -> u32 {
        self.per[c]
            .expires
            .unwrap_or_else(|| self.cfg.register_wait.as_secs().min(u64::from(u32::MAX)) as u32)
    }

    /// A failure on `c`: move to the next controller, or wait and start over.
    fn fail(&mut self, now: Duration, c: usize, reason: String) -> Vec<Action> {
        tracing::warn!(controller = c, %reason, "registration failed");
        self.tx = None;
        let mut out = vec![Action::Failed {
            controller: c,
            reason,
        }];
        let usable = self.usable();
        if let Some(next) = (c + 1..usable).find(|&i| !self.per[i].refused) {
            out.extend(self.begin(now, next, None));
            return out;
        }
        match (0..usable).find(|&i| !self.per[i].refused) {
            Some(first) => {
                let wait = if self.cfg.faults.has(Fault::NoRecoveryWait) {
                    Duration::from_secs(1)
                } else {
                    self.cfg.recovery_wait.mul_f64(self.rng.range_f64(0.5, 0.9))
                };
                self.state = RegState::Waiting {
                    controller: first,
                    until: now + wait,
                };
            }
            None => {
                self.state = RegState::Stopped;
                out.push(Action::Stopped);
            }
        }
        out
    }

    fn domain(&self, c: usize) -> String {
        self.cfg
            .domain
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| self.cfg.controllers[c].host.clone())
    }

    fn request_uri(&self, c: usize) -> String {
        format!("sip:{}", self.domain(c))
    }

    /// Open a new transaction on controller `c`.
    fn begin(&mut self, now: Duration, c: usize, auth: Option<(&str, String, u32)>) -> Vec<Action> {
        let branch = format!("z9hG4bK{}", self.rng.hex(10));
        let domain = self.domain(c);
        let expires = self.requested_expires(c);
        let per = &mut self.per[c];
        per.cseq += 1;
        let cseq = per.cseq;
        let ctl = &self.cfg.controllers[c];
        let host_port = match self.cfg.local_ip {
            IpAddr::V6(ip) => format!("[{ip}]:{}", self.cfg.local_port),
            IpAddr::V4(ip) => format!("{ip}:{}", self.cfg.local_port),
        };
        let mut m = format!(
            "REGISTER sip:{domain} SIP/2.0\r\n\
             Via: SIP/2.0/{} {host_port};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@{domain}>;tag={tag}\r\n\
             To: <sip:{user}@{domain}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@{host_port};transport={}>\r\n\
             Expires: {expires}\r\n\
             User-Agent: {ua}\r\n",
            ctl.transport.via_token(),
            ctl.transport.param(),
            user = self.cfg.user,
            tag = per.from_tag,
            call_id = per.call_id,
            expires = expires,
            ua = self.cfg.user_agent,
        );
        let auth_sent = match auth {
            Some((name, value, n)) => {
                m.push_str(&format!("{name}: {value}\r\n"));
                n
            }
            None => 0,
        };
        m.push_str("Content-Length: 0\r\n\r\n");
        let bytes = m.into_bytes();
        let reliable = ctl.transport.reliable() && !self.cfg.faults.has(Fault::TcpRetransmit);
        self.tx = Some(Transaction {
            controller: c,
            branch: branch.clone(),
            cseq,
            bytes: bytes.clone(),
            started: now,
            next_retransmit: (!reliable).then_some(now + T1),
            interval: T1,
            auth_sent,
        });
        self.state = RegState::Trying(Box::new(TransactionView {
            controller: c,
            cseq,
            branch,
        }));
        vec![Action::Send {
            controller: c,
            bytes,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn cfg(n: usize, faults: &[Fault]) -> RegConfig {
        RegConfig {
            user: "2001".into(),
            password: "1234".into(),
            domain: Some("lab.test".into()),
            controllers: (0..n)
                .map(|i| Controller {
                    host: format!("10.0.0.{}", 6 + i),
                    port: 5060,
                    transport: SipTransport::Udp,
                })
                .collect(),
            local_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 50)),
            local_port: 5060,
            user_agent: "Avaya one-X Deskphone 2.6.0.0 001b4f27312a".into(),
            register_wait: Duration::from_secs(900),
            recovery_wait: Duration::from_secs(60),
            faults: Faults::from_list(faults),
        }
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn sent(actions: &[Action]) -> (usize, String) {
        let sends: Vec<_> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Send { controller, bytes } => {
                    Some((*controller, String::from_utf8(bytes.clone()).expect("utf8")))
                }
                _ => None,
            })
            .collect();
        assert_eq!(sends.len(), 1, "one send in {actions:?}");
        sends[0].clone()
    }

    fn header<'a>(req: &'a str, name: &str) -> Option<&'a str> {
        req.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// A response to `req` with `status` and extra header lines.
    fn respond(req: &str, status: &str, extra: &str) -> Vec<u8> {
        let mut r = format!("SIP/2.0 {status}\r\n");
        for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
            r.push_str(&format!("{h}: {}\r\n", header(req, h).expect("header")));
        }
        r.push_str(extra);
        r.push_str("Content-Length: 0\r\n\r\n");
        r.into_bytes()
    }

    const CHALLENGE: &str = "WWW-Authenticate: Digest realm=\"lab.test\", nonce=\"abc123\", qop=\"auth\", opaque=\"op\"\r\n";

    fn auth_params(req: &str) -> Vec<(String, String)> {
        let v = header(req, "Authorization").expect("authorization");
        v.trim_start_matches("Digest ")
            .split(',')
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            })
            .collect()
    }

    fn param<'a>(ps: &'a [(String, String)], k: &str) -> &'a str {
        ps.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .expect("param")
    }

    #[test]
    fn first_register_has_the_rfc3261_shape() {
        let mut r = Registration::new(cfg(1, &[]), Rng::new(1));
        let (c, req) = sent(&r.start(Duration::ZERO));
        assert_eq!(c, 0);
        assert!(
            req.starts_with("REGISTER sip:lab.test SIP/2.0\r\n"),
            "{req}"
        );
        let via = header(&req, "Via").expect("via");
        assert!(
            via.starts_with("SIP/2.0/UDP 10.0.0.50:5060;branch=z9hG4bK"),
            "{via}"
        );
        assert!(via.ends_with(";rport"));
        assert_eq!(header(&req, "Max-Forwards"), Some("70"));
        assert!(
            header(&req, "From")
                .expect("from")
                .starts_with("<sip:2001@lab.test>;tag=")
        );
        assert_eq!(header(&req, "To"), Some("<sip:2001@lab.test>"));
        assert_eq!(header(&req, "CSeq"), Some("1 REGISTER"));
        assert_eq!(
            header(&req, "Contact"),
            Some("<sip:2001@10.0.0.50:5060;transport=udp>")
        );
        assert_eq!(header(&req, "Expires"), Some("900"));
        assert_eq!(
            header(&req, "User-Agent"),
            Some("Avaya one-X Deskphone 2.6.0.0 001b4f27312a")
        );
        assert!(req.ends_with("Content-Length: 0\r\n\r\n"));
        assert!(header(&req, "Authorization").is_none());
    }

    #[test]
    fn without_sipdomain_the_controller_host_is_the_domain() {
        let mut c = cfg(1, &[]);
        c.domain = None;
        let mut r = Registration::new(c, Rng::new(1));
        let (_, req) = sent(&r.start(Duration::ZERO));
        assert!(req.starts_with("REGISTER sip:10.0.0.6 SIP/2.0"));
        assert_eq!(header(&req, "To"), Some("<sip:2001@10.0.0.6>"));
    }

    #[test]
    fn challenge_is_answered_with_a_correct_digest_then_200_registers() {
        let mut r = Registration::new(cfg(1, &[]), Rng::new(1));
        let (_, first) = sent(&r.start(Duration::ZERO));
        let (_, second) =
            sent(&r.handle(secs(0.1), &respond(&first, "401 Unauthorized", CHALLENGE)));
        assert_eq!(header(&second, "CSeq"), Some("2 REGISTER"));
        assert_eq!(header(&second, "Call-ID"), header(&first, "Call-ID"));
        assert_eq!(
            header(&second, "From").map(|f| f.split("tag=").nth(1)),
            header(&first, "From").map(|f| f.split("tag=").nth(1))
        );
        assert_ne!(header(&second, "Via"), header(&first, "Via"), "new branch");
        let ps = auth_params(&second);
        assert_eq!(param(&ps, "nc"), "00000001");
        assert_eq!(param(&ps, "qop"), "auth");
        assert_eq!(param(&ps, "uri"), "sip:lab.test");
        assert_eq!(param(&ps, "opaque"), "op");
        let ha1 = digest::md5_hex("2001:lab.test:1234");
        let ha2 = digest::md5_hex("REGISTER:sip:lab.test");
        let expect = digest::md5_hex(&format!(
            "{ha1}:abc123:00000001:{}:auth:{ha2}",
            param(&ps, "cnonce")
        ));
        assert_eq!(param(&ps, "response"), expect);
        let acts = r.handle(
            secs(0.2),
            &respond(
                &second,
                "200 OK",
                "Contact: <sip:2001@10.0.0.50:5060;transport=udp>;expires=300\r\n",
            ),
        );
        assert_eq!(
            acts,
            vec![Action::Registered {
                controller: 0,
                expires: Duration::from_secs(300)
            }]
        );
        // Refresh at 0.9·300 = 270 s, keeping the Call-ID, incrementing CSeq.
        assert!(r.poll(secs(270.1)).is_empty());
        let (_, refresh) = sent(&r.poll(secs(270.3)));
        assert_eq!(header(&refresh, "Call-ID"), header(&first, "Call-ID"));
        assert_eq!(header(&refresh, "CSeq"), Some("3 REGISTER"));
    }

    #[test]
    fn refresh_is_capped_at_registerwait() {
        let mut r = Registration::new(cfg(1, &[]), Rng::new(1));
        let (_, req) = sent(&r.start(Duration::ZERO));
        r.handle(secs(0.0), &respond(&req, "200 OK", "Expires: 7200\r\n"));
        assert_eq!(r.next_deadline(), Some(secs(900.0)));
    }

    #[test]
    fn fault_wrong_digest_response_changes_the_response_value() {
        let run = |faults: &[Fault]| {
            let mut r = Registration::new(cfg(1, faults), Rng::new(1));
            let (_, first) = sent(&r.start(Duration::ZERO));
            let (_, second) =
                sent(&r.handle(secs(0.1), &respond(&first, "401 Unauthorized", CHALLENGE)));
            param(&auth_params(&second), "response").to_string()
        };
        assert_ne!(run(&[]), run(&[Fault::WrongDigestResponse]));
    }

    #[test]
    fn fault_no_auth_retry_gives_up_on_401() {
        let mut r = Registration::new(cfg(1, &[Fault::NoAuthRetry]), Rng::new(1));
        let (_, first) = sent(&r.start(Duration::ZERO));
        let acts = r.handle(secs(0.1), &respond(&first, "401 Unauthorized", CHALLENGE));
        assert!(
            acts.iter().all(|a| !matches!(a, Action::Send { .. })),
            "{acts:?}"
        );
        assert!(matches!(acts[0], Action::Failed { controller: 0, .. }));
    }

    #[test]
    fn a_second_challenge_fails_unless_stale() {
        let mut r = Registration::new(cfg(1, &[]), Rng::new(1));
        let (_, a) = sent(&r.start(Duration::ZERO));
        let (_, b) = sent(&r.handle(secs(0.1), &respond(&a, "401 Unauthorized", CHALLENGE)));
        let stale = "WWW-Authenticate: Digest realm=\"lab.test\", nonce=\"n2\", qop=\"auth\", stale=true\r\n";
        let (_, c) = sent(&r.handle(secs(0.2), &respond(&b, "401 Unauthorized", stale)));
        assert_eq!(
            param(&auth_params(&c), "nc"),
            "00000001",
            "new nonce restarts nc"
        );
        let acts = r.handle(secs(0.3), &respond(&c, "401 Unauthorized", CHALLENGE));
        assert!(matches!(acts[0], Action::Failed { .. }), "{acts:?}");
        // Rejected credentials are not sent again (RFC 3261 §22.2).
        assert_eq!(r.state(), &RegState::Stopped);
    }

    #[test]
    fn udp_retransmits_t1_doubling_to_t2_then_times_out_at_64_t1() {
        let mut r = Registration::new(cfg(1, &[]), Rng::new(1));
        let (_, first) = sent(&r.start(Duration::ZERO));
        let mut at = Vec::new();
        let mut t = Duration::ZERO;
        let mut failed_at = None;
        while t < secs(40.0) && failed_at.is_none() {
            t += Duration::from_millis(10);
            for a in r.poll(t) {
                match a {
                    Action::Send { bytes, .. } => {
                        assert_eq!(bytes, first.as_bytes(), "retransmission is identical");
                        at.push(t.as_secs_f64());
                    }
                    Action::Failed { .. } => failed_at = Some(t.as_secs_f64()),
                    _ => {}
                }
            }
        }
        let expected = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5];
        assert_eq!(at.len(), expected.len(), "{at:?}");
        for (got, want) in at.iter().zip(expected) {
            assert!((got - want).abs() < 0.02, "{at:?}");
        }
        let f = failed_at.expect("timer F");
        assert!((f - 32.0).abs() < 0.02, "{f}");
        // Then recovery: a random 50–90 % of 60 s.
        match r.state() {
            RegState::Waiting {
                controller: 0,
                until,
            } => {
                let w = until.as_secs_f64() - f;
                assert!((30.0..54.0).contains(&w), "{w}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn provisional_response_slows_retransmission_to_t2() {
        let mut r = Registration::new(cfg(1, &[]), Rng::new(1));
        let (_, first) = sent(&r.start(Duration::ZERO));
        r.handle(secs(0.1), &respond(&first, "100 Trying", ""));
        assert!(r.poll(secs(4.0)).is_empty());
        assert_eq!(sent(&r.poll(secs(4.11))).1, first);
    }

    #[test]
    fn timeout_fails_over_in_list_order_unless_first_only() {
        let mut r = Registration::new(cfg(3, &[]), Rng::new(1));
        sent(&r.start(Duration::ZERO));
        let acts = r.poll(secs(32.0));
        assert!(matches!(acts[0], Action::Failed { controller: 0, .. }));
        let (c, req) = sent(&acts);
        assert_eq!(c, 1);
        assert!(req.contains("CSeq: 1 REGISTER"));
        let acts = r.poll(secs(64.0));
        assert_eq!(sent(&acts).0, 2);

        let mut only =
            Registration::new(cfg(3, &[Fault::RegisterFirstControllerOnly]), Rng::new(1));
        sent(&only.start(Duration::ZERO));
        let acts = only.poll(secs(32.0));
        assert!(
            acts.iter().all(|a| !matches!(a, Action::Send { .. })),
            "{acts:?}"
        );
        assert!(matches!(
            only.state(),
            RegState::Waiting { controller: 0, .. }
        ));
    }

    #[test]
    fn forbidden_controller_is_never_retried() {
        let mut r = Registration::new(cfg(2, &[]), Rng::new(1));
        let (_, a) = sent(&r.start(Duration::ZERO));
        let acts = r.handle(secs(0.1), &respond(&a, "403 Forbidden", ""));
        let (c, b) = sent(&acts);
        assert_eq!(c, 1);
        // Controller 1 errors: the only candidate left would be 0, which refused — wait, then 1.
        let acts = r.handle(secs(0.2), &respond(&b, "500 Server Error", ""));
        assert!(
            matches!(r.state(), RegState::Waiting { controller: 1, .. }),
            "{acts:?}"
        );
        let acts = r.handle(secs(0.2), &respond(&b, "403 Forbidden", ""));
        assert!(acts.is_empty(), "stale transaction");
        let mut single = Registration::new(cfg(1, &[]), Rng::new(1));
        let (_, a) = sent(&single.start(Duration::ZERO));
        let acts = single.handle(secs(0.1), &respond(&a, "403 Forbidden", ""));
        assert_eq!(acts.last(), Some(&Action::Stopped));
        assert_eq!(single.next_deadline(), None);
    }

    #[test]
    fn retry_after_is_honoured_on_the_same_controller() {
        let mut r = Registration::new(cfg(2, &[]), Rng::new(1));
        let (_, a) = sent(&r.start(Duration::ZERO));
        let acts = r.handle(
            secs(1.0),
            &respond(&a, "503 Service Unavailable", "Retry-After: 20\r\n"),
        );
        assert!(acts.iter().all(|a| !matches!(a, Action::Send { .. })));
        assert_eq!(r.next_deadline(), Some(secs(21.0)));
        assert!(r.poll(secs(20.9)).is_empty());
        assert_eq!(sent(&r.poll(secs(21.0))).0, 0);
    }

    /// Where `r` stands after controller 0 answers its first REGISTER with `status` and
    /// `extra` header lines at 1 s: the controller it sends to at once, if any, and when
    /// it acts next.
    fn after_answer(
        faults: &[Fault],
        n: usize,
        status: &str,
        extra: &str,
    ) -> (Option<usize>, Option<Duration>) {
        let mut r = Registration::new(cfg(n, faults), Rng::new(7));
        let (_, a) = sent(&r.start(Duration::ZERO));
        let acts = r.handle(secs(1.0), &respond(&a, status, extra));
        let now = acts.iter().find_map(|a| match a {
            Action::Send { controller, .. } => Some(*controller),
            _ => None,
        });
        (now, r.next_deadline())
    }

    #[test]
    fn fault_ignore_retry_after_treats_503_as_if_it_had_none() {
        const BUSY: &str = "503 Service Unavailable";
        const LATER: &str = "Retry-After: 120\r\n";
        let clean = after_answer(&[], 1, BUSY, LATER);
        assert_eq!(clean, (None, Some(secs(121.0))), "clean waits as told");
        let faulty = after_answer(&[Fault::IgnoreRetryAfter], 1, BUSY, LATER);
        // Alone, it takes its own recovery wait (50–90 % of 60 s), exactly as for a bare 503.
        assert_eq!(faulty, after_answer(&[], 1, BUSY, ""));
        let wait = faulty.1.expect("a deadline").as_secs_f64() - 1.0;
        assert!((30.0..54.0).contains(&wait), "{wait}");
        // With a second controller it goes there at once.
        assert_eq!(after_answer(&[], 2, BUSY, LATER).0, None);
        assert_eq!(
            after_answer(&[Fault::IgnoreRetryAfter], 2, BUSY, LATER).0,
            Some(1)
        );
        // Nothing else moves: a bare 503, a 500 and a 200's refresh are as without it.
        for (status, extra) in [
            (BUSY, ""),
            ("500 Server Error", LATER),
            ("200 OK", "Expires: 300\r\n"),
        ] {
            assert_eq!(
                after_answer(&[Fault::IgnoreRetryAfter], 2, status, extra),
                after_answer(&[], 2, status, extra),
                "{status}"
            );
        }
    }

    #[test]
    fn fault_ignore_granted_expires_refreshes_on_the_requested_time() {
        const GRANT: &str = "Contact: <sip:2001@10.0.0.50:5060;transport=udp>;expires=60\r\n";
        // Clean: 0.9 · 60 s after the 200 at 1 s.
        assert_eq!(
            after_answer(&[], 1, "200 OK", GRANT),
            (None, Some(secs(55.0)))
        );
        // Faulty: 0.9 · the 900 s it asked for, long after the 60 s binding is gone.
        assert_eq!(
            after_answer(&[Fault::IgnoreGrantedExpires], 1, "200 OK", GRANT),
            (None, Some(secs(811.0)))
        );
        // Nothing else moves: a 200 without Expires, a 503 with Retry-After, a 401.
        for (status, extra) in [
            ("200 OK", ""),
            ("503 Service Unavailable", "Retry-After: 20\r\n"),
            ("401 Unauthorized", CHALLENGE),
        ] {
            assert_eq!(
                after_answer(&[Fault::IgnoreGrantedExpires], 1, status, extra),
                after_answer(&[], 1, status, extra),
                "{status}"
            );
        }
    }

    #[test]
    fn responses_to_other_transactions_are_ignored() {
        let mut r = Registration::new(cfg(1, &[]), Rng::new(1));
        let (_, a) = sent(&r.start(Duration::ZERO));
        let other = String::from_utf8(respond(&a, "200 OK", ""))
            .expect("utf8")
            .replace("z9hG4bK", "z9hG4bKx");
        assert!(r.handle(secs(0.1), other.as_bytes()).is_empty());
        assert!(r.handle(secs(0.1), b"not sip").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn any_response_text_never_panics_the_machine(
            status in 100u16..700,
            extra in "([A-Za-z-]{1,16}: [ -~]{0,40}\r\n){0,4}",
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let mut r = Registration::new(cfg(2, &[]), Rng::new(5));
            let (_, req) = sent(&r.start(Duration::ZERO));
            let _ = r.handle(secs(0.1), &junk);
            let _ = r.handle(secs(0.2), &respond(&req, &format!("{status} X"), &extra));
            let _ = r.poll(secs(100.0));
        }
    }

    #[test]
    fn tcp_and_tls_controllers_are_not_retransmitted() {
        for (transport, via, param) in [
            (SipTransport::Tcp, "Via: SIP/2.0/TCP ", ";transport=tcp>"),
            (SipTransport::Tls, "Via: SIP/2.0/TLS ", ";transport=tls>"),
        ] {
            let mut c = cfg(1, &[]);
            c.controllers[0].transport = transport;
            let mut r = Registration::new(c, Rng::new(1));
            let (_, req) = sent(&r.start(Duration::ZERO));
            assert!(req.contains(via), "{req}");
            assert!(req.contains(param), "{req}");
            assert!(r.poll(secs(10.0)).is_empty());
            assert!(matches!(r.poll(secs(32.0))[0], Action::Failed { .. }));
        }
    }

    /// Register through one challenge (as `challenge` offers), granted `expires`; returns
    /// the machine, the credentialed request and the refresh it sends when due.
    fn registered_then_refresh(
        faults: &[Fault],
        challenge: &str,
    ) -> (Registration, String, String) {
        let mut r = Registration::new(cfg(1, faults), Rng::new(3));
        let (_, a) = sent(&r.start(Duration::ZERO));
        let (_, b) = sent(&r.handle(secs(0.1), &respond(&a, "401 Unauthorized", challenge)));
        r.handle(secs(0.2), &respond(&b, "200 OK", "Expires: 100\r\n"));
        let (_, refresh) = sent(&r.poll(secs(90.3)));
        (r, b, refresh)
    }

    #[test]
    fn the_strongest_of_several_challenges_is_answered_unless_md5_only() {
        let two = "WWW-Authenticate: Digest realm=\"lab.test\", nonce=\"m\", algorithm=MD5, qop=\"auth\"\r\n\
                   WWW-Authenticate: Digest realm=\"lab.test\", nonce=\"s\", algorithm=SHA-256, qop=\"auth\"\r\n";
        let answer = |faults: &[Fault]| {
            let mut r = Registration::new(cfg(1, faults), Rng::new(1));
            let (_, a) = sent(&r.start(Duration::ZERO));
            let (_, b) = sent(&r.handle(secs(0.1), &respond(&a, "401 Unauthorized", two)));
            let ps = auth_params(&b);
            (
                param(&ps, "algorithm").to_string(),
                param(&ps, "nonce").to_string(),
                param(&ps, "response").len(),
            )
        };
        assert_eq!(answer(&[]), ("SHA-256".into(), "s".into(), 64));
        assert_eq!(
            answer(&[Fault::DigestMd5Only]),
            ("MD5".into(), "m".into(), 32)
        );
        // Only SHA-256 on offer: the MD5-only phone has nothing to answer.
        let mut r = Registration::new(cfg(1, &[Fault::DigestMd5Only]), Rng::new(1));
        let (_, a) = sent(&r.start(Duration::ZERO));
        let sha = "WWW-Authenticate: Digest realm=\"lab.test\", nonce=\"s\", algorithm=SHA-256\r\n";
        let acts = r.handle(secs(0.1), &respond(&a, "401 Unauthorized", sha));
        assert!(matches!(acts[0], Action::Failed { .. }), "{acts:?}");
    }

    #[test]
    fn a_refresh_carries_credentials_with_the_next_nc_unless_the_fault_repeats_it() {
        let (_, b, refresh) = registered_then_refresh(&[], CHALLENGE);
        assert_eq!(param(&auth_params(&b), "nc"), "00000001");
        let ps = auth_params(&refresh);
        assert_eq!(param(&ps, "nc"), "00000002");
        assert_eq!(param(&ps, "nonce"), "abc123");
        assert_ne!(param(&ps, "cnonce"), param(&auth_params(&b), "cnonce"));
        let (_, _, refresh) = registered_then_refresh(&[Fault::NcNotIncremented], CHALLENGE);
        assert_eq!(param(&auth_params(&refresh), "nc"), "00000001");
    }

    #[test]
    fn a_401_to_a_credentialed_refresh_is_answered_with_the_new_nonce() {
        let fresh = "WWW-Authenticate: Digest realm=\"lab.test\", nonce=\"new1\", qop=\"auth\"\r\n";
        let (mut r, _, refresh) = registered_then_refresh(&[], CHALLENGE);
        let (_, again) = sent(&r.handle(secs(90.4), &respond(&refresh, "401 Unauthorized", fresh)));
        let ps = auth_params(&again);
        assert_eq!(
            (param(&ps, "nonce"), param(&ps, "nc")),
            ("new1", "00000001")
        );
        // Answering it again with 401 is a rejection: the phone stops there.
        let acts = r.handle(secs(90.5), &respond(&again, "401 Unauthorized", fresh));
        assert!(acts.contains(&Action::Stopped), "{acts:?}");

        let (mut r, _, refresh) =
            registered_then_refresh(&[Fault::RefreshChallengeDropsRegistration], CHALLENGE);
        let acts = r.handle(secs(90.4), &respond(&refresh, "401 Unauthorized", fresh));
        assert!(
            !acts.iter().any(|a| matches!(a, Action::Send { .. })),
            "{acts:?}"
        );
    }

    #[test]
    fn stale_is_answered_unless_ignored_and_rejected_credentials_stop_unless_retried() {
        let stale = "WWW-Authenticate: Digest realm=\"lab.test\", nonce=\"n2\", qop=\"auth\", stale=true\r\n";
        let run = |faults: &[Fault], second: &str| {
            let mut r = Registration::new(cfg(1, faults), Rng::new(1));
            let (_, a) = sent(&r.start(Duration::ZERO));
            let (_, b) = sent(&r.handle(secs(0.1), &respond(&a, "401 Unauthorized", CHALLENGE)));
            let acts = r.handle(secs(0.2), &respond(&b, "401 Unauthorized", second));
            (acts, r.state().clone())
        };
        let (acts, _) = run(&[], stale);
        assert!(acts.iter().any(|a| matches!(a, Action::Send { .. })));
        let (_, state) = run(&[Fault::IgnoreStale], stale);
        assert_eq!(state, RegState::Stopped);
        let (acts, state) = run(&[], CHALLENGE);
        assert!(acts.contains(&Action::Stopped));
        assert_eq!(state, RegState::Stopped);
        let (_, state) = run(&[Fault::RetryRejectedCredentials], CHALLENGE);
        assert!(
            matches!(state, RegState::Waiting { controller: 0, .. }),
            "{state:?}"
        );
    }

    #[test]
    fn forbidden_stops_unless_the_fault_retries_it() {
        assert_eq!(after_answer(&[], 1, "403 Forbidden", ""), (None, None));
        let (now, later) = after_answer(&[Fault::RetryAfterForbidden], 1, "403 Forbidden", "");
        assert_eq!(now, None);
        let later = later.expect("a retry");
        assert!(later >= secs(31.0) && later <= secs(55.0), "{later:?}");
    }

    #[test]
    fn interval_too_brief_asks_again_at_once_for_min_expires() {
        let mut r = Registration::new(cfg(1, &[]), Rng::new(1));
        let (_, a) = sent(&r.start(Duration::ZERO));
        let (c, b) = sent(&r.handle(
            secs(0.1),
            &respond(&a, "423 Interval Too Brief", "Min-Expires: 3600\r\n"),
        ));
        assert_eq!(c, 0);
        assert_eq!(header(&b, "Expires"), Some("3600"));
        assert_eq!(header(&b, "CSeq"), Some("2 REGISTER"));
        // A second 423 naming no larger value is a failure, not a loop.
        let acts = r.handle(
            secs(0.2),
            &respond(&b, "423 Interval Too Brief", "Min-Expires: 3600\r\n"),
        );
        assert!(matches!(acts[0], Action::Failed { .. }), "{acts:?}");
        // The fault: an ordinary failure, and the retry asks for the same 900 s.
        let (now, later) = after_answer(
            &[Fault::IgnoreMinExpires],
            1,
            "423 Interval Too Brief",
            "Min-Expires: 3600\r\n",
        );
        assert_eq!(now, None);
        assert!(later.is_some_and(|t| t >= secs(31.0)), "{later:?}");
    }

    #[test]
    fn failures_wait_for_recovery_unless_no_recovery_wait() {
        for status in [
            "500 Server Internal Error",
            "404 Not Found",
            "503 Service Unavailable",
        ] {
            let (_, later) = after_answer(&[], 1, status, "");
            let later = later.expect("a retry");
            assert!(
                later >= secs(31.0) && later <= secs(55.0),
                "{status}: {later:?}"
            );
            assert_eq!(
                after_answer(&[Fault::NoRecoveryWait], 1, status, "").1,
                Some(secs(2.0))
            );
        }
    }

    #[test]
    fn retry_after_with_a_comment_is_honoured_unless_only_bare_numbers_are_read() {
        const BUSY: &str = "503 Service Unavailable";
        const LATER: &str = "Retry-After: 100 (maintenance)\r\n";
        assert_eq!(after_answer(&[], 1, BUSY, LATER), (None, Some(secs(101.0))));
        let (_, later) = after_answer(&[Fault::RetryAfterCommentUnparsed], 1, BUSY, LATER);
        assert!(later.is_some_and(|t| t < secs(56.0)), "{later:?}");
        assert_eq!(
            after_answer(
                &[Fault::RetryAfterCommentUnparsed],
                1,
                BUSY,
                "Retry-After: 100\r\n"
            ),
            (None, Some(secs(101.0)))
        );
    }

    #[test]
    fn fault_tcp_retransmit_retransmits_over_tcp() {
        let mut c = cfg(1, &[Fault::TcpRetransmit]);
        c.controllers[0].transport = SipTransport::Tcp;
        let mut r = Registration::new(c, Rng::new(1));
        let (_, req) = sent(&r.start(Duration::ZERO));
        let (_, again) = sent(&r.poll(secs(0.5)));
        assert_eq!(req, again);
    }

    #[test]
    fn fault_refresh_after_expiry_refreshes_too_late() {
        const GRANT: &str = "Expires: 100\r\n";
        assert_eq!(
            after_answer(&[], 1, "200 OK", GRANT),
            (None, Some(secs(91.0)))
        );
        assert_eq!(
            after_answer(&[Fault::RefreshAfterExpiry], 1, "200 OK", GRANT),
            (None, Some(secs(111.0)))
        );
    }
}
