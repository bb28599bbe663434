//! What `phonecert serve` keeps of its session: full timelines for the phones it judges, a
//! summary for every other client, and counts for what it keeps neither of.
//!
//! Owns: [`Recorder`], which takes each server event as it arrives, gives it to its owner —
//! DHCP by the client's MAC, HTTP and SIP by the address the DHCP server had acknowledged to a
//! MAC when they happened — and keeps it only if the owner is judged; [`SessionClients`], the
//! per-MAC summaries and the bounds applied, as `report.json` carries them; the bounds
//! themselves ([`FULL_TIMELINES_ANY_MAC`], [`EVENTS_PER_TIMELINE`], [`OTHER_EVENTS_KEPT`],
//! [`CLIENTS_LISTED`]).
//!
//! Never: judges (the judge does, once per judged phone), reads the capture (every frame is
//! in the pcapng whatever is kept here), writes files.
//!
//! Why bounds: a load generator (perfdhcp at full rate) makes tens of thousands of events a
//! second from thousands of MACs. Keeping them all, judging each MAC and writing a timeline
//! per MAC cost gigabytes and minutes after ten seconds of load, for a report no reviewer
//! reads MAC by MAC. Under `--any-mac` the first [`FULL_TIMELINES_ANY_MAC`] clients heard
//! are judged with full timelines; under `--dut-mac` every listed phone is. Every client,
//! judged or not, gets a summary (counts, first and last seen, lease), up to
//! [`CLIENTS_LISTED`] MACs; beyond, its events are only counted.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::timeline::{Event, Proto, Timeline};

/// Under `--any-mac`, how many clients (the first heard) get a full timeline and a verdict.
pub const FULL_TIMELINES_ANY_MAC: usize = 16;
/// How many events one judged phone's timeline keeps; the rest are counted in its summary
/// (a phone booting makes tens, a day of renewals and re-registrations a few hundred; a
/// load generator's client thousands a minute).
pub const EVENTS_PER_TIMELINE: usize = 1_000;
/// How many events owned by no judged phone (traffic from addresses never leased, DHCP from
/// clients not answered) the session's timeline keeps.
pub const OTHER_EVENTS_KEPT: usize = 10_000;
/// How many MACs get a summary; the events of clients beyond are only counted.
pub const CLIENTS_LISTED: usize = 100_000;
/// How long an event waits before it is given to its owner, in seconds of event time: the
/// servers' events reach the recorder through one queue per server, so an HTTP request can
/// arrive before the DHCP ACK that leased its address; they are taken in time order.
pub const REORDER_S: f64 = 2.0;

/// One client of the session, judged or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientSummary {
    /// Its MAC (`chaddr`), lower case.
    pub mac: String,
    /// Whether the DHCP server answered it (every client with `--any-mac`).
    pub answered: bool,
    /// Whether it has a full timeline and a verdict (a result in `scenarios`).
    pub judged: bool,
    /// First and last event, in seconds from the servers' start.
    pub first_s: f64,
    /// Last event.
    pub last_s: f64,
    /// DHCP messages heard from it (answered or not).
    pub dhcp_requests: u64,
    /// DHCPOFFERs sent to it.
    pub offers: u64,
    /// DHCPACKs sent to it.
    pub acks: u64,
    /// DHCPNAKs sent to it.
    pub naks: u64,
    /// The address last acknowledged to it.
    pub lease: Option<String>,
    /// HTTP events from its leased address.
    pub http: u64,
    /// SIP events from its leased address.
    pub sip: u64,
    /// Every event it owned.
    pub events: u64,
}

/// What the session kept and what it only counted, for `report.json` (`clients`) and
/// `index.html`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionClients {
    /// The bounds applied, in one sentence for people.
    pub note: String,
    /// Under `--any-mac`, how many clients get a full timeline; `None`: every `--dut-mac`.
    pub judged_up_to: Option<usize>,
    /// How many events a judged phone's timeline keeps.
    pub events_per_timeline: usize,
    /// How many MACs get a summary.
    pub listed_up_to: usize,
    /// Events the servers reported.
    pub events: u64,
    /// Events kept in timelines (the judged phones' and the others' in `session.json`).
    pub events_kept: u64,
    /// Events of clients beyond `listed_up_to`: counted here only.
    pub events_of_unlisted_clients: u64,
    /// Whether the capture's frames were linked to the kept events (not past
    /// [`crate::serve::LINK_FRAMES_UP_TO`] frames).
    pub capture_linked: bool,
    /// Every client heard, in the order first heard, up to `listed_up_to`.
    pub clients: Vec<ClientSummary>,
}

/// Which MACs the recorder keeps full timelines for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    /// These (the `--dut-mac` phones): the others were not answered.
    Only(Vec<String>),
    /// The first `n` clients heard (`--any-mac`): every client was answered.
    FirstHeard(usize),
}

/// One event waiting in the reorder window, ordered by time then arrival.
struct Waiting {
    seq: u64,
    event: Event,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiting {
    /// Reversed: the heap's top is the earliest event.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .event
            .t
            .total_cmp(&self.event.t)
            .then(other.seq.cmp(&self.seq))
    }
}

/// Takes the session's events as they arrive and keeps what the report can use.
pub struct Recorder {
    judged: Judged,
    /// Judged MACs in the order they were chosen; `Slot` indexes it.
    phones: Vec<String>,
    slot_of: HashMap<String, u32>,
    /// Events kept per judged phone.
    kept_per_phone: Vec<usize>,
    /// Every kept event.
    kept: Vec<Event>,
    other_kept: usize,
    /// Address → MAC, from the DHCP ACKs so far.
    leased: HashMap<String, String>,
    summaries: HashMap<String, ClientSummary>,
    order: Vec<String>,
    window: BinaryHeap<Waiting>,
    newest: f64,
    seq: u64,
    events: u64,
    unlisted_events: u64,
    /// Events not kept because of a bound: (owner's MAC or none, count).
    cut: HashMap<Option<String>, u64>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("judged", &self.judged)
            .field("events", &self.events)
            .field("kept", &self.kept.len())
            .field("clients", &self.order.len())
            .finish_non_exhaustive()
    }
}

/// What the recorder kept, once the session is over.
#[derive(Debug)]
pub struct Recorded {
    /// The judged phones, in order (listed, or first heard).
    pub phones: Vec<String>,
    /// The kept events in time order: `timelines/session.json`, and what each judged
    /// phone's timeline is cut from.
    pub session: Timeline,
    /// The summaries and bounds.
    pub clients: SessionClients,
    /// Judged phones whose timeline was cut at [`EVENTS_PER_TIMELINE`], with the events
    /// counted beyond; and (key `None`) the other events beyond [`OTHER_EVENTS_KEPT`].
    pub cut: HashMap<Option<String>, u64>,
}

impl Recorder {
    /// A recorder that keeps full timelines for `judged`.
    pub fn new(judged: Judged) -> Recorder {
        let mut r = Recorder {
            judged: judged.clone(),
            phones: Vec::new(),
            slot_of: HashMap::new(),
            kept_per_phone: Vec::new(),
            kept: Vec::new(),
            other_kept: 0,
            leased: HashMap::new(),
            summaries: HashMap::new(),
            order: Vec::new(),
            window: BinaryHeap::new(),
            newest: f64::NEG_INFINITY,
            seq: 0,
            events: 0,
            unlisted_events: 0,
            cut: HashMap::new(),
        };
        if let Judged::Only(macs) = judged {
            for m in macs {
                r.judge(&m);
            }
        }
        r
    }

    fn judge(&mut self, mac: &str) -> u32 {
        if let Some(s) = self.slot_of.get(mac) {
            return *s;
        }
        let slot = u32::try_from(self.phones.len()).unwrap_or(u32::MAX);
        self.phones.push(mac.to_string());
        self.slot_of.insert(mac.to_string(), slot);
        self.kept_per_phone.push(0);
        slot
    }

    /// One event as a server reported it, already shaped into fields.
    pub fn push(&mut self, event: Event) {
        if event.proto == Proto::Dhcp
            && let Some(g) = glimpse_of(&event)
        {
            if self.glimpsed(event.t, event.proto, &g) {
                self.keep(event);
            }
            return;
        }
        self.events += 1;
        self.newest = self.newest.max(event.t);
        self.seq += 1;
        self.window.push(Waiting {
            seq: self.seq,
            event,
        });
        self.release();
    }

    /// A DHCP event of a known client, before it is shaped into fields: counted in the
    /// client's summary at once (its owner is its MAC, whatever the order of arrival; an ACK
    /// leases its address from now on). `true`: keep it — pass it whole to [`Recorder::keep`].
    /// Deciding here spares shaping the events of the clients only summarised.
    pub fn glimpsed(&mut self, t: f64, proto: Proto, g: &Glimpse<'_>) -> bool {
        self.events += 1;
        self.newest = self.newest.max(t);
        if g.kind == "sent" && g.msg_type == "ACK" && !g.yiaddr.is_empty() && g.yiaddr != "0.0.0.0"
        {
            self.leased
                .insert(g.yiaddr.to_string(), g.client_mac.to_string());
        }
        let slot = self.slot_for(g.client_mac, proto == Proto::Dhcp && g.kind == "received");
        self.summarise(
            g.client_mac,
            slot.is_some(),
            t,
            proto,
            g.kind,
            g.msg_type,
            g.yiaddr,
        );
        let keep = self.decide(Some(g.client_mac), slot);
        self.release();
        keep
    }

    /// An event [`Recorder::glimpsed`] said to keep.
    pub fn keep(&mut self, event: Event) {
        self.kept.push(event);
    }

    /// Gives out the events older than the reorder window.
    fn release(&mut self) {
        while self
            .window
            .peek()
            .is_some_and(|w| w.event.t < self.newest - REORDER_S)
        {
            if let Some(w) = self.window.pop() {
                self.take(w.event);
            }
        }
    }

    /// The judged phone `mac` is, choosing it when it is among the first heard.
    fn slot_for(&mut self, mac: &str, first_request: bool) -> Option<u32> {
        match &self.judged {
            Judged::Only(_) => self.slot_of.get(mac).copied(),
            Judged::FirstHeard(n) => match self.slot_of.get(mac) {
                Some(s) => Some(*s),
                None if self.phones.len() < *n && first_request => Some(self.judge(mac)),
                None => None,
            },
        }
    }

    /// Whether an event of `owner` (judged as `slot`) is kept, counting what is not.
    fn decide(&mut self, owner: Option<&str>, slot: Option<u32>) -> bool {
        // A client answered but not judged has its summary only; what belongs to nobody or
        // to a client not answered stays in the session's timeline, up to a bound.
        let answered = match (owner, &self.judged) {
            (None, _) => false,
            (Some(_), Judged::FirstHeard(_)) => true,
            (Some(m), Judged::Only(_)) => self.slot_of.contains_key(m),
        };
        match slot {
            Some(s) => {
                let Some(n) = self.kept_per_phone.get_mut(s as usize) else {
                    return false;
                };
                if *n < EVENTS_PER_TIMELINE {
                    *n += 1;
                    true
                } else {
                    *self.cut.entry(owner.map(str::to_string)).or_default() += 1;
                    false
                }
            }
            None if answered => false,
            None if self.other_kept < OTHER_EVENTS_KEPT => {
                self.other_kept += 1;
                true
            }
            None => {
                *self.cut.entry(None).or_default() += 1;
                false
            }
        }
    }

    /// Gives an event without a client MAC (HTTP, SIP, a malformed datagram), in time order,
    /// to the client its peer address was leased to.
    fn take(&mut self, e: Event) {
        let owner = peer_ip(&e).and_then(|ip| self.leased.get(&ip).cloned());
        let slot = owner.as_deref().and_then(|m| self.slot_for(m, false));
        if let Some(mac) = &owner {
            let kind = e.kind.clone();
            self.summarise(mac, slot.is_some(), e.t, e.proto, &kind, "", "");
        }
        if self.decide(owner.as_deref(), slot) {
            self.kept.push(e);
        }
    }

    /// Counts an event in its client's summary, listing the client if there is room.
    #[allow(clippy::too_many_arguments)]
    fn summarise(
        &mut self,
        mac: &str,
        judged: bool,
        t: f64,
        proto: Proto,
        kind: &str,
        msg_type: &str,
        yiaddr: &str,
    ) {
        if !self.summaries.contains_key(mac) {
            if self.summaries.len() >= CLIENTS_LISTED {
                self.unlisted_events += 1;
                return;
            }
            self.order.push(mac.to_string());
            self.summaries.insert(
                mac.to_string(),
                ClientSummary {
                    mac: mac.to_string(),
                    answered: matches!(self.judged, Judged::FirstHeard(_)) || judged,
                    judged,
                    first_s: t,
                    last_s: t,
                    dhcp_requests: 0,
                    offers: 0,
                    acks: 0,
                    naks: 0,
                    lease: None,
                    http: 0,
                    sip: 0,
                    events: 0,
                },
            );
        }
        let Some(s) = self.summaries.get_mut(mac) else {
            return;
        };
        s.judged |= judged;
        s.first_s = s.first_s.min(t);
        s.last_s = s.last_s.max(t);
        s.events += 1;
        match (proto, kind) {
            (Proto::Dhcp, "received" | "ignored") => s.dhcp_requests += 1,
            (Proto::Dhcp, "sent") => match msg_type {
                "OFFER" => s.offers += 1,
                "ACK" => {
                    s.acks += 1;
                    if !yiaddr.is_empty() && yiaddr != "0.0.0.0" {
                        s.lease = Some(yiaddr.to_string());
                    }
                }
                "NAK" => s.naks += 1,
                _ => {}
            },
            (Proto::Http, _) => s.http += 1,
            (Proto::Sip, _) => s.sip += 1,
            _ => {}
        }
    }

    /// Ends the session: the events still in the reorder window are given out, and what was
    /// kept is returned in time order.
    pub fn finish(mut self, capture_linked: bool) -> Recorded {
        while let Some(w) = self.window.pop() {
            self.take(w.event);
        }
        self.kept.sort_by(|a, b| a.t.total_cmp(&b.t));
        for (i, e) in self.kept.iter_mut().enumerate() {
            e.index = i;
        }
        let clients: Vec<ClientSummary> = self
            .order
            .iter()
            .filter_map(|m| self.summaries.remove(m))
            .collect();
        let judged_up_to = match self.judged {
            Judged::FirstHeard(n) => Some(n),
            Judged::Only(_) => None,
        };
        let who = match judged_up_to {
            Some(n) => format!(
                "the first {n} clients heard get a full timeline and a verdict; every other client a summary"
            ),
            None => "every --dut-mac phone gets a full timeline and a verdict; every other client heard a summary".to_string(),
        };
        let note = format!(
            "{who} (counts, first and last seen, lease), up to {CLIENTS_LISTED} MACs; a timeline keeps up to {EVENTS_PER_TIMELINE} events per phone and {OTHER_EVENTS_KEPT} of no judged phone; every frame is in the capture either way"
        );
        Recorded {
            clients: SessionClients {
                note,
                judged_up_to,
                events_per_timeline: EVENTS_PER_TIMELINE,
                listed_up_to: CLIENTS_LISTED,
                events: self.events,
                events_kept: self.kept.len() as u64,
                events_of_unlisted_clients: self.unlisted_events,
                capture_linked,
                clients,
            },
            phones: self.phones,
            session: Timeline { events: self.kept },
            cut: self.cut,
        }
    }
}

/// Takes each server event as it arrives, instead of the shared timeline.
pub(crate) trait EventSink: Send {
    /// A DHCP event placed by a glance; `true`: it is wanted whole, through `keep`.
    fn glimpsed(&mut self, t: f64, proto: Proto, g: &Glimpse<'_>) -> bool;
    /// An event `glimpsed` wanted.
    fn keep(&mut self, event: Event);
    /// Any other event.
    fn record(&mut self, event: Event);
}

impl EventSink for Recorder {
    fn glimpsed(&mut self, t: f64, proto: Proto, g: &Glimpse<'_>) -> bool {
        Recorder::glimpsed(self, t, proto, g)
    }
    fn keep(&mut self, event: Event) {
        Recorder::keep(self, event);
    }
    fn record(&mut self, event: Event) {
        self.push(event);
    }
}

/// What the recorder reads of a DHCP event to place it, before the event is shaped into
/// fields (the names are those of the event's fields).
#[derive(Debug, Clone, Copy)]
pub struct Glimpse<'a> {
    /// `received`, `sent`, `ignored`, `dropped`.
    pub kind: &'static str,
    /// The client's MAC.
    pub client_mac: &'a str,
    /// `DISCOVER`, `ACK` …; empty when the event has none.
    pub msg_type: &'a str,
    /// The address offered or acknowledged; empty when the event has none.
    pub yiaddr: &'a str,
}

/// A server's event type, as far as the recorder can place it before shaping it.
pub trait Glance {
    /// The event's client and message, when it names a client; `None`: shape it and place it
    /// by its fields.
    fn glance(&self) -> Option<Glimpse<'_>> {
        None
    }
}

impl Glance for pc_dhcp::event::Event {
    fn glance(&self) -> Option<Glimpse<'_>> {
        use pc_dhcp::event::Event as E;
        let (kind, client_mac, msg_type, yiaddr) = match self {
            E::Received {
                client_mac,
                msg_type,
                ..
            } => ("received", client_mac, msg_type.as_str(), ""),
            E::Sent {
                client_mac,
                msg_type,
                yiaddr,
                ..
            } => ("sent", client_mac, msg_type.as_str(), yiaddr.as_str()),
            E::Ignored {
                client_mac: Some(client_mac),
                ..
            } => ("ignored", client_mac, "", ""),
            E::Dropped {
                client_mac,
                msg_type,
                ..
            } => ("dropped", client_mac, msg_type.as_str(), ""),
            _ => return None,
        };
        Some(Glimpse {
            kind,
            client_mac,
            msg_type,
            yiaddr,
        })
    }
}

impl Glance for pc_http::Event {}
impl Glance for pc_sip::Event {}

/// The same, read from a shaped event's fields.
fn glimpse_of(e: &Event) -> Option<Glimpse<'_>> {
    let kind = match e.kind.as_str() {
        "received" => "received",
        "sent" => "sent",
        "ignored" => "ignored",
        "dropped" => "dropped",
        _ => return None,
    };
    Some(Glimpse {
        kind,
        client_mac: text(e, "client_mac")?,
        msg_type: text(e, "msg_type").unwrap_or(""),
        yiaddr: text(e, "yiaddr").unwrap_or(""),
    })
}

fn text<'e>(e: &'e Event, field: &str) -> Option<&'e str> {
    e.field(field).and_then(Value::as_str)
}

/// The address of the other end of an HTTP or SIP event (or of a malformed DHCP datagram).
pub(crate) fn peer_ip(e: &Event) -> Option<String> {
    let field = match (e.proto, e.kind.as_str()) {
        (Proto::Http, _) => "client",
        (Proto::Sip, "response" | "peer_response") => "to",
        (Proto::Sip, _) | (Proto::Dhcp, "malformed") => "from",
        _ => return None,
    };
    let text = e.field(field)?.as_str()?;
    // SIP names the transport's peer as `ip:port`, sometimes with a scheme before it.
    let addr = text.rsplit('/').next().unwrap_or(text);
    addr.parse::<SocketAddr>().ok().map(|a| a.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(t: f64, proto: Proto, kind: &str, fields: Value) -> Event {
        let Value::Object(fields) = fields else {
            panic!("fields must be an object");
        };
        Event {
            index: 0,
            t,
            time_base: crate::timeline::TimeBase::Server,
            server_at: None,
            proto,
            kind: kind.into(),
            fields,
            frames: Vec::new(),
        }
    }

    fn mac(n: usize) -> String {
        format!("02:00:00:00:{:02x}:{:02x}", n / 256, n % 256)
    }

    /// One client's boot: DISCOVER, OFFER, REQUEST, ACK, then an HTTP request from its lease.
    fn boot(r: &mut Recorder, t: f64, n: usize) {
        let m = mac(n);
        let ip = format!("10.66.{}.{}", n / 250, n % 250);
        let dhcp = |kind: &str, msg: &str, yiaddr: &str| {
            event(
                t,
                Proto::Dhcp,
                kind,
                json!({"client_mac": m, "msg_type": msg, "yiaddr": yiaddr}),
            )
        };
        r.push(dhcp("received", "DISCOVER", ""));
        r.push(dhcp("sent", "OFFER", &ip));
        r.push(dhcp("received", "REQUEST", ""));
        r.push(dhcp("sent", "ACK", &ip));
        r.push(event(
            t + 0.001,
            Proto::Http,
            "request",
            json!({"client": format!("{ip}:40000"), "path": "/fw"}),
        ));
    }

    /// A load generator's many MACs under --any-mac: the first few are judged with every
    /// event; every client, judged or not, is summarised with the right counts; nothing of
    /// the others is kept.
    #[test]
    fn under_any_mac_the_first_clients_are_kept_whole_and_the_rest_summarised() {
        let mut r = Recorder::new(Judged::FirstHeard(FULL_TIMELINES_ANY_MAC));
        let clients = 500;
        for n in 0..clients {
            boot(&mut r, n as f64 * 0.01, n);
        }
        // The first client boots again later: twice the counts.
        boot(&mut r, 10.0, 0);
        let rec = r.finish(true);
        assert_eq!(rec.phones.len(), FULL_TIMELINES_ANY_MAC);
        assert_eq!(rec.phones, (0..16).map(mac).collect::<Vec<_>>());
        assert_eq!(rec.session.events.len(), 5 * (FULL_TIMELINES_ANY_MAC + 1));
        assert!(
            rec.session
                .events
                .iter()
                .enumerate()
                .all(|(i, e)| e.index == i)
        );
        let c = &rec.clients;
        assert_eq!(c.events, 5 * (clients as u64 + 1));
        assert_eq!(c.events_kept, 5 * (FULL_TIMELINES_ANY_MAC as u64 + 1));
        assert_eq!(c.clients.len(), clients);
        assert_eq!(c.clients.iter().filter(|s| s.judged).count(), 16);
        assert!(c.clients.iter().all(|s| s.answered));
        let first = &c.clients[0];
        assert_eq!(
            (first.dhcp_requests, first.offers, first.acks, first.http),
            (4, 2, 2, 2)
        );
        assert_eq!((first.first_s, first.last_s), (0.0, 10.001));
        let last = &c.clients[clients - 1];
        assert_eq!(last.mac, mac(clients - 1));
        assert!(!last.judged);
        assert_eq!(
            (
                last.dhcp_requests,
                last.offers,
                last.acks,
                last.naks,
                last.http,
                last.sip,
                last.events
            ),
            (2, 1, 1, 0, 1, 0, 5)
        );
        assert_eq!(last.lease.as_deref(), Some("10.66.1.249"));
        assert!(rec.cut.is_empty());
    }

    /// A judged phone that never stops talking keeps its first events only, and the cut is
    /// counted; with --dut-mac the others are not answered, their DHCP is kept for the
    /// session's timeline and listed.
    #[test]
    fn a_judged_timeline_is_cut_at_its_bound_and_unanswered_clients_are_listed() {
        let phone = mac(1);
        let mut r = Recorder::new(Judged::Only(vec![phone.clone()]));
        let extra = 7;
        for i in 0..EVENTS_PER_TIMELINE + extra {
            r.push(event(
                i as f64 * 0.001,
                Proto::Dhcp,
                "received",
                json!({"client_mac": phone, "msg_type": "DISCOVER"}),
            ));
        }
        r.push(event(
            0.5,
            Proto::Dhcp,
            "ignored",
            json!({"client_mac": mac(2), "msg_type": "DISCOVER"}),
        ));
        let rec = r.finish(true);
        assert_eq!(rec.phones, vec![phone.clone()]);
        assert_eq!(rec.cut.get(&Some(phone.clone())), Some(&(extra as u64)));
        assert_eq!(rec.session.events.len(), EVENTS_PER_TIMELINE + 1);
        let summary = &rec.clients.clients;
        assert_eq!(summary.len(), 2);
        assert_eq!(
            summary[0].dhcp_requests,
            (EVENTS_PER_TIMELINE + extra) as u64
        );
        assert!(summary[0].judged && summary[0].answered);
        assert!(!summary[1].judged && !summary[1].answered);
        assert_eq!(rec.clients.judged_up_to, None);
    }

    /// Events reach the recorder out of order within the window: an HTTP request that
    /// arrives before the ACK that leased its address still goes to the phone.
    #[test]
    fn an_event_that_overtakes_the_ack_of_its_address_still_finds_its_owner() {
        let mut r = Recorder::new(Judged::FirstHeard(1));
        let m = mac(3);
        r.push(event(
            1.0,
            Proto::Dhcp,
            "received",
            json!({"client_mac": m, "msg_type": "REQUEST"}),
        ));
        r.push(event(
            1.5,
            Proto::Http,
            "request",
            json!({"client": "10.66.0.7:1", "path": "/a"}),
        ));
        r.push(event(
            1.1,
            Proto::Dhcp,
            "sent",
            json!({"client_mac": m, "msg_type": "ACK", "yiaddr": "10.66.0.7"}),
        ));
        let rec = r.finish(true);
        assert_eq!(rec.clients.clients[0].http, 1);
        let kinds: Vec<&str> = rec.session.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, vec!["received", "sent", "request"]);
    }

    /// Beyond the listed clients, events are counted and nothing more is held.
    #[test]
    fn clients_beyond_the_listed_bound_are_counted_only() {
        let mut r = Recorder::new(Judged::FirstHeard(0));
        for n in 0..CLIENTS_LISTED + 3 {
            r.push(event(
                0.0,
                Proto::Dhcp,
                "received",
                json!({"client_mac": format!("{n:012x}"), "msg_type": "DISCOVER"}),
            ));
        }
        let rec = r.finish(false);
        assert_eq!(rec.clients.clients.len(), CLIENTS_LISTED);
        assert_eq!(rec.clients.events_of_unlisted_clients, 3);
        assert!(rec.session.events.is_empty());
        assert!(!rec.clients.capture_linked);
    }
}
