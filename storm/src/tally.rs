//! The tally: how far each phone of a storm got, read from what the servers saw.
//!
//! Owns: following each phone through its boot from the servers' events — DHCP by the
//! client's MAC, HTTP and SIP by the address its lease gave it — and deciding when the storm
//! is over (every phone registered, or refused a lease by a full pool) and where each phone
//! that did not register stopped.
//! Never: touches a socket or a clock (times come in with the events, in seconds since the
//! phones were powered on), and never reads the phones' own logs: like the judge, it believes
//! the wire.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use serde::Serialize;

/// One server event, reduced to what the tally follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// A DHCP message from `mac` (`DISCOVER`, `REQUEST` …).
    DhcpIn { mac: String, msg_type: String },
    /// A DHCP reply to `mac`.
    DhcpOut {
        mac: String,
        msg_type: String,
        yiaddr: Ipv4Addr,
    },
    /// The DHCP server did not answer `mac`, and why.
    DhcpIgnored { mac: String, reason: String },
    /// An HTTP request from `client`.
    HttpRequest { client: Ipv4Addr, path: String },
    /// An HTTP response to `client`.
    HttpResponse { client: Ipv4Addr, status: u16 },
    /// A SIP REGISTER from `from`.
    Register { from: Ipv4Addr },
    /// The registrar's answer to a REGISTER from `to`.
    RegisterAnswer { to: Ipv4Addr, status: u16 },
}

impl Seen {
    /// The phone address an HTTP or SIP event names (DHCP events name a MAC instead).
    fn address(&self) -> Option<Ipv4Addr> {
        match self {
            Seen::HttpRequest { client, .. } | Seen::HttpResponse { client, .. } => Some(*client),
            Seen::Register { from } => Some(*from),
            Seen::RegisterAnswer { to, .. } => Some(*to),
            Seen::DhcpIn { .. } | Seen::DhcpOut { .. } | Seen::DhcpIgnored { .. } => None,
        }
    }
}

/// The steps of a boot, in order; a phone that did not register stopped at one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// DHCP: no lease.
    Dhcp,
    /// HTTP: leased, but no file fetched.
    Http,
    /// SIP: files fetched, but no REGISTER accepted.
    Register,
}

impl Step {
    /// The step's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Step::Dhcp => "dhcp",
            Step::Http => "http",
            Step::Register => "register",
        }
    }
}

/// What the servers saw of one phone.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Progress {
    /// First DHCPDISCOVER.
    pub discover_s: Option<f64>,
    /// The DHCPACK that gave it its address.
    pub leased_s: Option<f64>,
    /// The address.
    pub address: Option<Ipv4Addr>,
    /// First HTTP request.
    pub first_get_s: Option<f64>,
    /// HTTP responses it was given, and how many were 200.
    pub http_answers: u32,
    pub http_ok: u32,
    /// First REGISTER.
    pub register_s: Option<f64>,
    /// The first 2xx to its REGISTER: registered.
    pub registered_s: Option<f64>,
    /// The last non-2xx final answer to its REGISTER (a 401 challenge is expected first).
    pub last_refusal: Option<u16>,
    /// Why the DHCP server did not answer it, when it did not.
    pub not_answered: Option<String>,
}

impl Progress {
    /// Registered, or refused a lease: nothing more will happen during a storm.
    fn settled(&self) -> bool {
        self.registered_s.is_some() || (self.address.is_none() && self.not_answered.is_some())
    }

    /// Where a phone that did not register stopped, and why in words.
    pub fn failure(&self) -> Option<(Step, String)> {
        if self.registered_s.is_some() {
            return None;
        }
        Some(match (self.address, self.first_get_s, self.register_s) {
            (None, _, _) => (
                Step::Dhcp,
                match (&self.not_answered, self.discover_s) {
                    (Some(why), _) => format!("no lease: {why}"),
                    (None, Some(_)) => "no lease: DISCOVER sent, no DHCPACK".to_string(),
                    (None, None) => "no lease: no DHCPDISCOVER reached the server".to_string(),
                },
            ),
            (Some(ip), None, None) => (Step::Http, format!("leased {ip}, but no file requested")),
            (Some(ip), _, None) => (
                Step::Register,
                format!(
                    "leased {ip}, {} of {} HTTP answers 200, but no REGISTER",
                    self.http_ok, self.http_answers
                ),
            ),
            (Some(_), _, Some(_)) => (
                Step::Register,
                match self.last_refusal {
                    Some(code) => format!("REGISTER not accepted (last answer {code})"),
                    None => "REGISTER sent, no 2xx".to_string(),
                },
            ),
        })
    }
}

/// Every phone's progress, fed event by event.
///
/// The servers report on separate channels, so a phone's first HTTP request or REGISTER may
/// arrive here before the DHCPACK that says whose address it came from: such events wait in
/// `unplaced` until the address is leased, and every time keeps the earliest instant seen.
#[derive(Debug, Clone)]
pub struct Tally {
    macs: HashMap<String, usize>,
    by_ip: HashMap<Ipv4Addr, usize>,
    unplaced: HashMap<Ipv4Addr, Vec<(f64, Seen)>>,
    phones: Vec<Progress>,
    settled: usize,
}

/// `slot` becomes `at` when it is empty or later.
fn earliest(slot: &mut Option<f64>, at: f64) {
    if slot.is_none_or(|t| at < t) {
        *slot = Some(at);
    }
}

impl Tally {
    /// A tally of the phones with these MACs (lower-case colon hex), in phone order.
    pub fn new(macs: &[String]) -> Tally {
        Tally {
            macs: macs
                .iter()
                .enumerate()
                .map(|(i, m)| (m.to_ascii_lowercase(), i))
                .collect(),
            by_ip: HashMap::new(),
            unplaced: HashMap::new(),
            phones: vec![Progress::default(); macs.len()],
            settled: 0,
        }
    }

    /// Take one event seen `at` seconds after power-on.
    pub fn see(&mut self, at: f64, seen: &Seen) {
        let Some(i) = self.phone_of(seen) else {
            if let Some(ip) = seen.address() {
                self.unplaced
                    .entry(ip)
                    .or_default()
                    .push((at, seen.clone()));
            }
            return;
        };
        let Some(p) = self.phones.get_mut(i) else {
            return;
        };
        let was = p.settled();
        match seen {
            Seen::DhcpIn { msg_type, .. } => {
                if msg_type == "DISCOVER" {
                    earliest(&mut p.discover_s, at);
                }
            }
            Seen::DhcpOut {
                msg_type, yiaddr, ..
            } => {
                if msg_type == "ACK" && p.address != Some(*yiaddr) {
                    p.leased_s = Some(at);
                    p.address = Some(*yiaddr);
                    p.not_answered = None;
                    self.by_ip.insert(*yiaddr, i);
                    if !was && p.settled() {
                        self.settled += 1;
                    }
                    for (t, waiting) in self.unplaced.remove(yiaddr).unwrap_or_default() {
                        self.see(t, &waiting);
                    }
                    return;
                }
            }
            Seen::DhcpIgnored { reason, .. } => {
                if p.address.is_none() {
                    p.not_answered = Some(reason.clone());
                }
            }
            Seen::HttpRequest { .. } => earliest(&mut p.first_get_s, at),
            Seen::HttpResponse { status, .. } => {
                p.http_answers += 1;
                if *status == 200 {
                    p.http_ok += 1;
                }
            }
            Seen::Register { .. } => earliest(&mut p.register_s, at),
            Seen::RegisterAnswer { status, .. } => match status {
                200..=299 => earliest(&mut p.registered_s, at),
                100..=199 | 401 | 407 => {}
                other => p.last_refusal = Some(*other),
            },
        }
        if !was && p.settled() {
            self.settled += 1;
        }
    }

    fn phone_of(&self, seen: &Seen) -> Option<usize> {
        match seen {
            Seen::DhcpIn { mac, .. }
            | Seen::DhcpOut { mac, .. }
            | Seen::DhcpIgnored { mac, .. } => self.macs.get(mac.as_str()).copied(),
            Seen::HttpRequest { client, .. } | Seen::HttpResponse { client, .. } => {
                self.by_ip.get(client).copied()
            }
            Seen::Register { from } => self.by_ip.get(from).copied(),
            Seen::RegisterAnswer { to, .. } => self.by_ip.get(to).copied(),
        }
    }

    /// Every phone registered or was refused a lease.
    pub fn all_settled(&self) -> bool {
        self.settled == self.phones.len()
    }

    /// Phones registered so far.
    pub fn registered(&self) -> usize {
        self.phones
            .iter()
            .filter(|p| p.registered_s.is_some())
            .count()
    }

    /// Each phone's progress, in phone order.
    pub fn phones(&self) -> &[Progress] {
        &self.phones
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 66, 128, last)
    }

    fn booted(t: &mut Tally, mac: &str, addr: Ipv4Addr) {
        t.see(
            0.1,
            &Seen::DhcpIn {
                mac: mac.into(),
                msg_type: "DISCOVER".into(),
            },
        );
        t.see(
            0.2,
            &Seen::DhcpOut {
                mac: mac.into(),
                msg_type: "ACK".into(),
                yiaddr: addr,
            },
        );
        t.see(
            0.3,
            &Seen::HttpRequest {
                client: addr,
                path: "/96xxupgrade.txt".into(),
            },
        );
        t.see(
            0.31,
            &Seen::HttpResponse {
                client: addr,
                status: 200,
            },
        );
        t.see(0.4, &Seen::Register { from: addr });
        t.see(
            0.41,
            &Seen::RegisterAnswer {
                to: addr,
                status: 401,
            },
        );
    }

    #[test]
    fn a_phone_registers_on_its_first_2xx_after_a_challenge() {
        let macs = vec!["00:1b:4f:e0:00:01".to_string()];
        let mut t = Tally::new(&macs);
        booted(&mut t, &macs[0], ip(1));
        assert!(!t.all_settled(), "a 401 is not a registration");
        assert_eq!(t.phones()[0].failure().map(|f| f.0), Some(Step::Register));
        t.see(
            0.5,
            &Seen::RegisterAnswer {
                to: ip(1),
                status: 200,
            },
        );
        assert!(t.all_settled());
        assert_eq!(t.registered(), 1);
        assert_eq!(t.phones()[0].registered_s, Some(0.5));
        assert_eq!(t.phones()[0].failure(), None);
    }

    #[test]
    fn what_a_phone_did_before_its_lease_was_reported_counts_once_it_is() {
        let macs = vec!["00:1b:4f:e0:00:01".to_string()];
        let mut t = Tally::new(&macs);
        // The SIP and HTTP servers reported before the DHCP server did.
        t.see(0.4, &Seen::Register { from: ip(1) });
        t.see(
            0.5,
            &Seen::RegisterAnswer {
                to: ip(1),
                status: 200,
            },
        );
        t.see(
            0.3,
            &Seen::HttpRequest {
                client: ip(1),
                path: "/96xxupgrade.txt".into(),
            },
        );
        assert_eq!(t.registered(), 0);
        t.see(
            0.2,
            &Seen::DhcpOut {
                mac: macs[0].clone(),
                msg_type: "ACK".into(),
                yiaddr: ip(1),
            },
        );
        assert!(t.all_settled());
        let p = &t.phones()[0];
        assert_eq!(
            (p.leased_s, p.first_get_s, p.register_s, p.registered_s),
            (Some(0.2), Some(0.3), Some(0.4), Some(0.5))
        );
        // A refresh later does not move the registration.
        t.see(
            80.0,
            &Seen::RegisterAnswer {
                to: ip(1),
                status: 200,
            },
        );
        assert_eq!(t.phones()[0].registered_s, Some(0.5));
    }

    #[test]
    fn events_of_other_clients_and_addresses_are_not_counted() {
        let macs = vec!["00:1b:4f:e0:00:01".to_string()];
        let mut t = Tally::new(&macs);
        t.see(
            0.1,
            &Seen::DhcpOut {
                mac: "00:1b:4f:99:99:99".into(),
                msg_type: "ACK".into(),
                yiaddr: ip(9),
            },
        );
        t.see(
            0.2,
            &Seen::RegisterAnswer {
                to: ip(9),
                status: 200,
            },
        );
        assert_eq!(t.registered(), 0);
        assert_eq!(t.phones()[0], Progress::default());
    }

    #[test]
    fn a_phone_refused_by_a_full_pool_is_settled_without_a_lease() {
        let macs = vec![
            "00:1b:4f:e0:00:01".to_string(),
            "00:1b:4f:e0:00:02".to_string(),
        ];
        let mut t = Tally::new(&macs);
        booted(&mut t, &macs[0], ip(1));
        t.see(
            0.5,
            &Seen::RegisterAnswer {
                to: ip(1),
                status: 200,
            },
        );
        t.see(
            0.6,
            &Seen::DhcpIgnored {
                mac: macs[1].clone(),
                reason: "address pool exhausted: no offer".into(),
            },
        );
        assert!(t.all_settled());
        let (step, why) = t.phones()[1].failure().expect("no lease");
        assert_eq!(step, Step::Dhcp);
        assert!(why.contains("pool exhausted"), "{why}");
    }

    #[test]
    fn each_step_a_phone_stopped_at_is_named() {
        let macs = vec!["00:1b:4f:e0:00:01".to_string()];
        let mut t = Tally::new(&macs);
        assert_eq!(t.phones()[0].failure().map(|f| f.0), Some(Step::Dhcp));
        t.see(
            0.2,
            &Seen::DhcpOut {
                mac: macs[0].clone(),
                msg_type: "ACK".into(),
                yiaddr: ip(1),
            },
        );
        assert_eq!(t.phones()[0].failure().map(|f| f.0), Some(Step::Http));
        t.see(
            0.3,
            &Seen::HttpRequest {
                client: ip(1),
                path: "/x".into(),
            },
        );
        t.see(0.4, &Seen::Register { from: ip(1) });
        t.see(
            0.5,
            &Seen::RegisterAnswer {
                to: ip(1),
                status: 403,
            },
        );
        let (step, why) = t.phones()[0].failure().expect("not registered");
        assert_eq!(step, Step::Register);
        assert!(why.contains("403"), "{why}");
        assert!(!t.all_settled());
    }
}
