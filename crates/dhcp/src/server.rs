//! The DHCP server core, sans-IO: datagram bytes and time in, replies and events out.
//!
//! Owns: the lease table (keyed by client MAC), address choice, the answer to each client
//! message (RFC 2131 §4.3: DISCOVER → OFFER, REQUEST → ACK/NAK in the selecting,
//! init-reboot, renewing and rebinding states, RELEASE, DECLINE, INFORM), the options a reply
//! carries (RFC 2131 §4.3.1 table 3, RFC 2132) including the site-specific option (SSON, 242 by
//! default) that Avaya phones are provisioned through, and where a reply goes (RFC 2131 §4.1).
//!
//! Scenario control: the [`Rule`]s in the configuration (see `rules`) silence a message, turn
//! a REQUEST's answer into a NAK or hold a reply for a while; `omit_options` and
//! `option_order` shape what OFFER and ACK carry. What a rule did is in the events (`dropped`,
//! and `rules` / `delay_ms` on `sent`), so a judge can tell a deliberate silence or NAK from a
//! fault.
//!
//! Never: touches sockets or clocks (`now` comes in as the time since the server started, a
//! delay goes out as a duration on the [`Reply`]), panics on any input, or answers a MAC that
//! the scenario did not allow.
//!
//! Decisions where the RFC leaves room (a lab server that is the only one on its network):
//! - Authoritative: a REQUEST for an address we do not hold for that MAC (init-reboot or
//!   renew, including a client we have no record of) gets a NAK rather than silence
//!   (RFC 2131 §4.3.2 allows silence for unknown clients), so a phone rebooted between
//!   scenarios restarts DISCOVER at once instead of waiting out its timers.
//! - Address choice (RFC 2131 §4.3.1 order): the MAC's current or previous address, else the
//!   address the DISCOVER asks for in option 50 when it is in the pool and free, else the
//!   lowest free pool address, else the lowest address whose holder released it, let it
//!   expire or did not take an offer within [`OFFER_HOLD`]. Never the server's own address,
//!   the router, the subnet's network or broadcast address, a declined address, or
//!   192.168.2.x (9600 phones reserve that subnet internally).
//! - Replies carry every configured option whatever the client's option 55 asks for, and the
//!   site option always: phones do not always list the SSON in option 55, and what the phone
//!   does with an option it did not ask for is part of what the suite tests. Order on the
//!   wire: 53, 54, 51, 58, 59, 1, 3, 6, the site option (split into 255-byte pieces per
//!   RFC 3396 when longer), then `extra_options` verbatim (even when a code repeats one of
//!   ours: scenarios use that for deliberately duplicated options). In OFFER and ACK, the
//!   codes in `omit_options` are left out of that list (and only those: omitting 51 keeps 58
//!   and 59), and `option_order` moves the codes it names to the front in its order; neither
//!   touches `extra_options` or NAK, and the reply is still padded to the 300-byte BOOTP
//!   minimum (RFC 1542 §3.1.1).
//! - A client that sends option 57 (maximum DHCP message size, RFC 2132 §9.10) gets OFFER
//!   and ACK fitted into it under the scenario's [`MaxSizePolicy`] (module `fit`), and the
//!   `sent` event records what was done (`max_size`); without option 57 the reply goes out
//!   as built.
//! - T1 (58) and T2 (59) are 0.5 and 0.875 of the lease (RFC 2131 §4.4.5); they are left out
//!   with option 51 when the lease is omitted, and for an infinite lease (0xffffffff).
//! - NAK carries 53, 54 and a message (56) saying why (RFC 2131 table 3).
//! - Relays (RFC 2131 §4.1, §4.3.1; RFC 3046): a request with a non-zero `giaddr` is
//!   answered to the relay agent at giaddr, server port 67, never by the server's own
//!   broadcast or unicast to the client, and the address comes from the pool of the relay's
//!   subnet (the [`RelaySubnet`] whose network holds giaddr; mask and router in the reply are
//!   that subnet's). A giaddr on the server's own subnet uses the server's pool; one no pool
//!   serves is not answered (an address from another subnet would be useless to the
//!   client), and a REQUEST for an address outside the relay's subnet is NAKed (§4.3.2: the
//!   client moved). A NAK through a relay sets the broadcast bit, so the relay broadcasts
//!   it on the client's segment (§4.3.2).
//! - Option 82 (relay agent information, RFC 3046 §2.2) in a request is echoed unchanged in
//!   every reply, NAK included, as the last option of the options field, right before its
//!   END. The relay removes it before the client sees the reply (§2.1.1), so a reply is
//!   fitted to the client's option 57 without it, and option 82 is added after the fitting;
//!   when the fitting overloaded `file` or `sname` (option 52), the options there still
//!   follow it in reading order (those areas are fixed-size and have no room to spare).
//! - Repeated options are concatenated per RFC 3396 before they are interpreted; a
//!   fixed-length option (50, 53, 54) whose joined value has the wrong length counts as
//!   absent, and both facts are findings.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::event::{Event, Finding, MessageFinding, RelayPath, WireOption, format_mac};
use crate::fit::{self, MaxSizePolicy};
use crate::rules::{Counts, Rule, millis};
pub use crate::wire::MessageType;
use crate::wire::{self, Header, RawMessage};

/// How long an offered address stays reserved for the client it was offered to before another
/// client may get it.
pub const OFFER_HOLD: Duration = Duration::from_secs(60);

/// The infinite lease (RFC 2131 §3.3).
pub const INFINITE_LEASE: u32 = u32::MAX;

// Option codes used here (RFC 2132).
const OPT_SUBNET_MASK: u8 = 1;
const OPT_ROUTER: u8 = 3;
const OPT_DNS: u8 = 6;
const OPT_HOSTNAME: u8 = 12;
const OPT_REQUESTED_IP: u8 = 50;
const OPT_LEASE_TIME: u8 = 51;
const OPT_MESSAGE_TYPE: u8 = 53;
const OPT_SERVER_ID: u8 = 54;
const OPT_PARAMETER_LIST: u8 = 55;
const OPT_MESSAGE: u8 = 56;
const OPT_MAX_MESSAGE_SIZE: u8 = 57;
const OPT_RENEWAL_T1: u8 = 58;
const OPT_REBINDING_T2: u8 = 59;
const OPT_VENDOR_CLASS: u8 = 60;
const OPT_CLIENT_ID: u8 = 61;
const OPT_RELAY_AGENT_INFO: u8 = 82;

/// A subnet behind a relay agent, served from its own pool (RFC 2131 §4.3.1: the server
/// chooses from the subnet of `giaddr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySubnet {
    /// Any address of the subnet: with `mask`, the relay's subnet. A request whose giaddr is
    /// on it is served from this pool.
    pub network: Ipv4Addr,
    pub mask: Ipv4Addr,
    /// Option 3 for clients on this subnet (usually the relay's own address).
    pub router: Option<Ipv4Addr>,
    pub pool_start: Ipv4Addr,
    pub pool_end: Ipv4Addr,
}

impl RelaySubnet {
    fn holds(&self, ip: Ipv4Addr) -> bool {
        let m = u32::from(self.mask);
        u32::from(ip) & m == u32::from(self.network) & m
    }
}

/// The pool one request is served from, with the options that go with it.
#[derive(Debug, Clone, Copy)]
struct Pool {
    start: Ipv4Addr,
    end: Ipv4Addr,
    mask: Ipv4Addr,
    router: Option<Ipv4Addr>,
}

impl Pool {
    fn contains(&self, ip: Ipv4Addr) -> bool {
        (self.start..=self.end).contains(&ip)
    }
}

/// What the server hands out. `Default` is a small lab network: 10.0.0.1/24, pool
/// .100–.199, one-hour lease, SSON 242, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub server_ip: Ipv4Addr,
    pub subnet_mask: Ipv4Addr,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub pool_start: Ipv4Addr,
    pub pool_end: Ipv4Addr,
    /// Seconds; `None` leaves option 51 (and 58/59) out of every reply.
    pub lease_time: Option<u32>,
    /// Site-specific option number; 242 by default. 0 and 255 are pad and end on the wire, so
    /// with those no site option is sent.
    pub sson: u8,
    /// The site option's value; longer than 255 bytes goes out as several consecutive options
    /// of the same code (RFC 3396).
    pub site_string: Option<Vec<u8>>,
    /// `siaddr` in OFFER and ACK; 0.0.0.0 when `None`.
    pub siaddr: Option<Ipv4Addr>,
    /// Appended verbatim, in order, after the standard options.
    pub extra_options: Vec<(u8, Vec<u8>)>,
    /// Answer only these MACs; empty answers any.
    pub allowed_macs: Vec<[u8; 6]>,
    /// Scenario rules, looked at in this order; empty for an ordinary server.
    pub rules: Vec<Rule>,
    /// Option codes left out of OFFER and ACK (51, 1, 3, 54, …). Only the options this server
    /// writes itself: `extra_options` go out as configured, NAK is not affected.
    pub omit_options: Vec<u8>,
    /// When set, these codes come first in OFFER and ACK, in exactly this order; the other
    /// options follow in the usual order, then `extra_options`. A code the reply does not
    /// carry is skipped.
    pub option_order: Option<Vec<u8>>,
    /// What OFFER and ACK do when longer than the client's option 57 allows (see `fit`).
    pub max_size_policy: MaxSizePolicy,
    /// Subnets behind relay agents, each with its own pool; empty serves only the server's
    /// own subnet.
    pub relay_subnets: Vec<RelaySubnet>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            server_ip: Ipv4Addr::new(10, 0, 0, 1),
            subnet_mask: Ipv4Addr::new(255, 255, 255, 0),
            router: None,
            dns: Vec::new(),
            pool_start: Ipv4Addr::new(10, 0, 0, 100),
            pool_end: Ipv4Addr::new(10, 0, 0, 199),
            lease_time: Some(3600),
            sson: 242,
            site_string: None,
            siaddr: None,
            extra_options: Vec::new(),
            allowed_macs: Vec::new(),
            rules: Vec::new(),
            omit_options: Vec::new(),
            option_order: None,
            max_size_policy: MaxSizePolicy::Fit,
            relay_subnets: Vec::new(),
        }
    }
}

/// What [`DhcpServer::handle`] asks the shell to do or record, in order.
// Outputs live for one `handle()` call; boxing the event would only make matching clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Send(Reply),
    Event(Event),
}

/// A reply to put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub dest: ReplyDest,
    pub chaddr: [u8; 6],
    /// How long after the request arrived the reply goes out (a [`Rule::Delay`]); zero for
    /// at once. The shell waits, the core does not.
    pub delay: Duration,
}

/// Where a reply goes (RFC 2131 §4.1, "the server … sends"):
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyDest {
    /// Ethernet and IP broadcast: the client set the broadcast flag, or this is a NAK.
    BroadcastMac,
    /// To the client's MAC and the address being offered: the client has no address yet and
    /// did not ask for broadcast.
    UnicastMac { mac: [u8; 6], ip: Ipv4Addr },
    /// To `ciaddr`: the client already has an address (renewing, rebinding, inform).
    UnicastIp(Ipv4Addr),
    /// To the relay agent at `giaddr`, server port 67.
    Relay(Ipv4Addr),
}

/// Where a MAC's address stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Offered at `since`, not yet requested.
    Offered,
    /// Acknowledged; `expires` is `None` for an infinite or unstated lease.
    Bound { expires: Option<Duration> },
    /// Released by the client; the address stays associated with the MAC until someone else
    /// needs it.
    Released,
}

/// One row of the lease table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub state: LeaseState,
    /// When the state was last set.
    pub since: Duration,
}

impl Lease {
    fn reclaimable(&self, now: Duration) -> bool {
        match self.state {
            LeaseState::Released => true,
            LeaseState::Offered => now >= self.since + OFFER_HOLD,
            LeaseState::Bound { expires } => expires.is_some_and(|e| now >= e),
        }
    }
}

/// The DHCP server: configuration and lease table.
#[derive(Debug)]
pub struct DhcpServer {
    config: ServerConfig,
    leases: BTreeMap<[u8; 6], Lease>,
    /// The same rows keyed by address: who holds each one. Kept with `leases` by
    /// [`DhcpServer::set_lease`] and [`DhcpServer::drop_lease`], so choosing an address never
    /// walks the whole table (a floor of phones booting at once makes that table large).
    holders: BTreeMap<Ipv4Addr, [u8; 6]>,
    /// Per pool (keyed by its first address): every address of the pool below this one is
    /// held or unusable, so the search for the lowest free address starts here instead of at
    /// the pool's start. Lowered whenever an address stops being held.
    free_floor: BTreeMap<Ipv4Addr, u64>,
    declined: BTreeSet<Ipv4Addr>,
    /// Messages received per client and type, for the rules.
    counts: Counts,
}

/// The typed view of a request this server acts on, with what was odd about it.
struct Request {
    msg_type: Option<MessageType>,
    requested_ip: Option<Ipv4Addr>,
    server_id: Option<Ipv4Addr>,
    /// Option 57 (RFC 2132 §9.10).
    max_message_size: Option<u16>,
    /// Option 55, as sent.
    parameter_request_list: Vec<u8>,
    findings: Vec<Finding>,
}

impl Request {
    fn read(m: &RawMessage) -> Request {
        let mut findings: Vec<Finding> = m.findings.iter().cloned().map(Finding::Wire).collect();
        let h = &m.header;
        if h.htype != 1 {
            findings.push(Finding::Message(MessageFinding::HtypeNotEthernet {
                htype: h.htype,
            }));
        }
        if h.hlen != 6 {
            findings.push(Finding::Message(MessageFinding::HlenNotEthernet {
                hlen: h.hlen,
            }));
        }
        if h.flags & 0x7fff != 0 {
            findings.push(Finding::Message(MessageFinding::ReservedFlags {
                flags: h.flags,
            }));
        }
        let mut seen = BTreeSet::new();
        for o in &m.options {
            if !seen.insert(o.code) {
                continue;
            }
            let n = m.count(o.code);
            if n > 1 {
                findings.push(Finding::Message(MessageFinding::RepeatedOption {
                    option: o.code,
                    times: n,
                }));
            }
        }
        let msg_type = fixed(m, OPT_MESSAGE_TYPE, 1, &mut findings)
            .and_then(|v| v.first().copied())
            .map(MessageType::from_code);
        let ip = |code, findings: &mut Vec<Finding>| {
            fixed(m, code, 4, findings).map(|v| Ipv4Addr::new(v[0], v[1], v[2], v[3]))
        };
        let requested_ip = ip(OPT_REQUESTED_IP, &mut findings);
        let server_id = ip(OPT_SERVER_ID, &mut findings);
        let max_message_size = fixed(m, OPT_MAX_MESSAGE_SIZE, 2, &mut findings)
            .map(|v| u16::from_be_bytes([v[0], v[1]]));
        if m.count(OPT_MESSAGE_TYPE) == 0 {
            findings.push(Finding::Message(MessageFinding::NoMessageType));
        }
        Request {
            msg_type,
            requested_ip,
            server_id,
            max_message_size,
            parameter_request_list: m.concatenated(OPT_PARAMETER_LIST).unwrap_or_default(),
            findings,
        }
    }
}

/// The RFC 3396-joined value of a fixed-length option, `None` (with a finding) when its length
/// is wrong.
fn fixed(m: &RawMessage, code: u8, len: usize, findings: &mut Vec<Finding>) -> Option<Vec<u8>> {
    let v = m.concatenated(code)?;
    if v.len() == len {
        Some(v)
    } else {
        findings.push(Finding::Message(MessageFinding::WrongOptionLength {
            option: code,
            len: v.len(),
            expected: len,
        }));
        None
    }
}

fn lossy(v: Vec<u8>) -> String {
    String::from_utf8_lossy(&v).into_owned()
}

impl DhcpServer {
    pub fn new(config: ServerConfig) -> Self {
        if matches!(config.sson, wire::OPT_PAD | wire::OPT_END) && config.site_string.is_some() {
            tracing::warn!(
                sson = config.sson,
                "site option number is pad/end on the wire; the site string will not be sent"
            );
        }
        DhcpServer {
            config,
            leases: BTreeMap::new(),
            holders: BTreeMap::new(),
            free_floor: BTreeMap::new(),
            declined: BTreeSet::new(),
            counts: Counts::default(),
        }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The lease table row of `mac`, if any.
    pub fn lease(&self, mac: &[u8; 6]) -> Option<Lease> {
        self.leases.get(mac).copied()
    }

    /// The pool for a request relayed through `giaddr` (0.0.0.0: not relayed): the server's
    /// own for its own subnet, else the relay subnet holding giaddr, else none. A request no
    /// relay carried whose `ciaddr` lies in a relay subnet is a client behind that relay
    /// renewing by unicast, routed to us (RFC 2131 §4.3.2, RENEWING: "no relay agents will
    /// be involved … the DHCP server will trust the value in 'ciaddr'"): its subnet's pool.
    fn pool_for(&self, giaddr: Ipv4Addr, ciaddr: Ipv4Addr) -> Option<Pool> {
        let c = &self.config;
        let own = Pool {
            start: c.pool_start,
            end: c.pool_end,
            mask: c.subnet_mask,
            router: c.router,
        };
        let m = u32::from(c.subnet_mask);
        let on_own = |ip: Ipv4Addr| u32::from(ip) & m == u32::from(c.server_ip) & m;
        let client_net = if !giaddr.is_unspecified() {
            giaddr
        } else if !ciaddr.is_unspecified()
            && !on_own(ciaddr)
            && c.relay_subnets.iter().any(|r| r.holds(ciaddr))
        {
            ciaddr
        } else {
            return Some(own);
        };
        if on_own(client_net) {
            return Some(own);
        }
        c.relay_subnets
            .iter()
            .find(|r| r.holds(client_net))
            .map(|r| Pool {
                start: r.pool_start,
                end: r.pool_end,
                mask: r.mask,
                router: r.router,
            })
    }

    /// Addresses clients declined (RFC 2131 §4.3.3); never offered again by this server.
    pub fn declined(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.declined.iter().copied()
    }

    /// `now`: time since the server started (no clock inside). `vlan`: the 802.1Q tag the
    /// request arrived with, if known. Returns what to send and what happened, in order; each
    /// [`Output::Send`] is followed by its `sent` event.
    pub fn handle(
        &mut self,
        now: Duration,
        from: Ipv4Addr,
        vlan: Option<u16>,
        bytes: &[u8],
    ) -> Vec<Output> {
        let msg = match wire::walk(bytes) {
            Ok(m) => m,
            Err(e) => {
                return vec![Output::Event(Event::Malformed {
                    from: from.to_string(),
                    len: bytes.len(),
                    error: e.to_string(),
                })];
            }
        };
        let mac = msg.header.mac();
        let ignored = |reason: String| {
            vec![Output::Event(Event::Ignored {
                client_mac: Some(format_mac(&mac)),
                reason,
            })]
        };
        if msg.header.op != 1 {
            return ignored(format!("op is {}, not a bootrequest (1)", msg.header.op));
        }
        if !self.config.allowed_macs.is_empty() && !self.config.allowed_macs.contains(&mac) {
            return ignored("client mac is not in the allowed list".into());
        }

        let mut req = Request::read(&msg);
        let h = &msg.header;
        self.type_findings(&msg, &mut req);
        let mut out = vec![Output::Event(Event::Received {
            xid: h.xid,
            client_mac: format_mac(&mac),
            msg_type: req
                .msg_type
                .map_or_else(|| "NONE".into(), MessageType::name),
            ciaddr: h.ciaddr.to_string(),
            requested_ip: req.requested_ip.map(|ip| ip.to_string()),
            server_id: req.server_id.map(|ip| ip.to_string()),
            hostname: msg.concatenated(OPT_HOSTNAME).map(lossy),
            vendor_class: msg.concatenated(OPT_VENDOR_CLASS).map(lossy),
            client_id: msg.concatenated(OPT_CLIENT_ID).map(hex::encode),
            parameter_request_list: req.parameter_request_list.clone(),
            max_message_size: req.max_message_size,
            options: msg.options.iter().map(WireOption::from).collect(),
            broadcast_flag: h.broadcast(),
            vlan,
            relay: RelayPath::read(h, msg.concatenated(OPT_RELAY_AGENT_INFO).as_deref()),
            findings: std::mem::take(&mut req.findings),
        })];
        let Some(pool) = self.pool_for(h.giaddr, h.ciaddr) else {
            out.extend(ignored(format!(
                "relayed through {} and no pool serves that subnet",
                h.giaddr
            )));
            return out;
        };

        // Scenario rules: a dropped message is not acted on at all, as if it had been lost.
        let counted = req.msg_type.map(|t| (t, self.counts.bump(mac, t)));
        if let Some((ty, nth)) = counted
            && let Some(rule) = self.config.rules.iter().find(|r| r.drops(now, ty, nth))
        {
            out.push(Output::Event(Event::Dropped {
                xid: h.xid,
                client_mac: format_mac(&mac),
                msg_type: ty.name(),
                nth,
                rule: rule.clone(),
            }));
            return out;
        }
        let shaping: Vec<Rule> = counted
            .map(|(ty, nth)| {
                self.config
                    .rules
                    .iter()
                    .filter(|r| r.naks(ty, nth) || r.delay(ty).is_some())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let refused = counted.filter(|(ty, nth)| shaping.iter().any(|r| r.naks(*ty, *nth)));

        let action = if let Some((_, nth)) = refused {
            // The REQUEST is not looked at: its state and address do not matter to the rule,
            // and the lease table stays as it was.
            Action::Reply(
                ReplyKind::Nak(format!(
                    "request {nth} from this client is refused by the scenario"
                )),
                Ipv4Addr::UNSPECIFIED,
            )
        } else {
            match req.msg_type {
                Some(MessageType::Discover) => self.discover(now, &msg, &req, &pool),
                Some(MessageType::Request) => self.request(now, &msg, &req, &pool),
                Some(MessageType::Release) => self.release(now, &msg, &req),
                Some(MessageType::Decline) => self.decline(&msg, &req, &pool),
                Some(MessageType::Inform) => {
                    Action::Reply(ReplyKind::InformAck, Ipv4Addr::UNSPECIFIED)
                }
                Some(other) => Action::Ignore(format!(
                    "message type {} is not a client request",
                    other.name()
                )),
                None => Action::Ignore("no valid message type (option 53): not answered".into()),
            }
        };
        match action {
            Action::None => {}
            Action::Ignore(reason) => out.extend(ignored(reason)),
            Action::Reply(kind, ip) => {
                let agent_info = msg.concatenated(OPT_RELAY_AGENT_INFO);
                let reply = ReplyPlan {
                    kind,
                    ip,
                    pool,
                    agent_info,
                };
                out.extend(self.reply(&msg.header, &req, reply, from, shaping));
            }
        }
        out
    }

    /// Findings that depend on the message type (RFC 2131 §4.4.1 table 5: what a client
    /// MUST and MUST NOT send).
    fn type_findings(&self, m: &RawMessage, req: &mut Request) {
        let h = &m.header;
        let has = |code| m.count(code) > 0;
        let mut found = Vec::new();
        let f = &mut found;
        match req.msg_type {
            Some(MessageType::Discover) => {
                if !h.ciaddr.is_unspecified() {
                    f.push(MessageFinding::CiaddrInDiscover);
                }
                if has(OPT_SERVER_ID) {
                    f.push(MessageFinding::ServerIdInDiscover);
                }
            }
            Some(MessageType::Request) => {
                if has(OPT_SERVER_ID) && !h.ciaddr.is_unspecified() {
                    f.push(MessageFinding::CiaddrInSelectingRequest);
                }
                if has(OPT_REQUESTED_IP) && !h.ciaddr.is_unspecified() {
                    f.push(MessageFinding::RequestedIpWhileRenewing);
                }
            }
            Some(MessageType::Release) => {
                if !has(OPT_SERVER_ID) {
                    f.push(MessageFinding::ReleaseWithoutServerId);
                }
                if has(OPT_REQUESTED_IP) {
                    f.push(MessageFinding::RequestedIpInRelease);
                }
            }
            Some(MessageType::Decline) => {
                if !has(OPT_SERVER_ID) {
                    f.push(MessageFinding::DeclineWithoutServerId);
                }
                if !has(OPT_REQUESTED_IP) {
                    f.push(MessageFinding::DeclineWithoutRequestedIp);
                }
            }
            Some(MessageType::Inform) if has(OPT_REQUESTED_IP) || has(OPT_LEASE_TIME) => {
                f.push(MessageFinding::LeaseOptionInInform);
            }
            _ => {}
        }
        req.findings.extend(found.into_iter().map(Finding::Message));
    }

    fn discover(&mut self, now: Duration, m: &RawMessage, req: &Request, pool: &Pool) -> Action {
        let mac = m.header.mac();
        let Some(ip) = self.choose(now, &mac, req.requested_ip, pool) else {
            return Action::Ignore("address pool exhausted: no offer".into());
        };
        self.set_lease(
            mac,
            Lease {
                ip,
                state: LeaseState::Offered,
                since: now,
            },
        );
        Action::Reply(ReplyKind::Offer, ip)
    }

    fn request(&mut self, now: Duration, m: &RawMessage, req: &Request, pool: &Pool) -> Action {
        let h = &m.header;
        let mac = h.mac();
        let held = self.leases.get(&mac).map(|l| l.ip);
        let ciaddr = (!h.ciaddr.is_unspecified()).then_some(h.ciaddr);
        let (wanted, state) = match (req.server_id, req.requested_ip) {
            (Some(sid), _) if sid != self.config.server_ip => {
                // The client chose another server's offer (RFC 2131 §4.3.2): free ours.
                if let Some(l) = self.leases.get_mut(&mac)
                    && l.state == LeaseState::Offered
                {
                    l.state = LeaseState::Released;
                    l.since = now;
                }
                return Action::Ignore(format!("request selects another server ({sid})"));
            }
            (Some(_), requested) => (requested.or(ciaddr), "selecting"),
            (None, Some(requested)) => (Some(requested), "init-reboot"),
            (None, None) => match ciaddr {
                Some(c) => (Some(c), "renewing"),
                None => {
                    return Action::Ignore(
                        "request has no server id (54), requested address (50) or ciaddr".into(),
                    );
                }
            },
        };
        match (wanted, held) {
            // An address outside the pool of the client's subnet is NAKed: the client moved
            // (RFC 2131 §4.3.2, "on the wrong network").
            (Some(w), Some(ip)) if w == ip && !self.declined.contains(&ip) && pool.contains(ip) => {
                let expires = match self.config.lease_time {
                    Some(t) if t != INFINITE_LEASE => Some(now + Duration::from_secs(t.into())),
                    _ => None,
                };
                self.set_lease(
                    mac,
                    Lease {
                        ip,
                        state: LeaseState::Bound { expires },
                        since: now,
                    },
                );
                Action::Reply(ReplyKind::Ack, ip)
            }
            (Some(w), _) => Action::Reply(
                ReplyKind::Nak(format!(
                    "{state}: {w} is not the address held for this client"
                )),
                Ipv4Addr::UNSPECIFIED,
            ),
            (None, _) => Action::Reply(
                ReplyKind::Nak(format!("{state}: no requested address")),
                Ipv4Addr::UNSPECIFIED,
            ),
        }
    }

    fn release(&mut self, now: Duration, m: &RawMessage, req: &Request) -> Action {
        let h = &m.header;
        if let Some(sid) = req.server_id
            && sid != self.config.server_ip
        {
            return Action::Ignore(format!("release addressed to another server ({sid})"));
        }
        match self.leases.get_mut(&h.mac()) {
            Some(l) if l.ip == h.ciaddr => {
                l.state = LeaseState::Released;
                l.since = now;
                Action::None
            }
            _ => Action::Ignore(format!(
                "release of {} which is not held for this client",
                h.ciaddr
            )),
        }
    }

    fn decline(&mut self, m: &RawMessage, req: &Request, pool: &Pool) -> Action {
        if let Some(sid) = req.server_id
            && sid != self.config.server_ip
        {
            return Action::Ignore(format!("decline addressed to another server ({sid})"));
        }
        let Some(ip) = req.requested_ip else {
            return Action::Ignore("decline without a valid requested address (50)".into());
        };
        let mac = m.header.mac();
        if self.leases.get(&mac).is_some_and(|l| l.ip == ip) {
            self.drop_lease(&mac);
        }
        if pool.contains(ip) {
            tracing::warn!(%ip, client = %format_mac(&mac), "address declined; not offered again");
            self.declined.insert(ip);
        }
        Action::None
    }

    /// Whether `ip` may ever be handed out from `pool`.
    fn usable(&self, ip: Ipv4Addr, pool: &Pool) -> bool {
        let c = &self.config;
        let mask = u32::from(pool.mask);
        let host = u32::from(ip) & !mask;
        // /31 and /32 have no network or broadcast address (RFC 3021).
        let special_host = mask < 0xffff_fffe && (host == 0 || host == !mask);
        let phone_reserved = ip.octets()[..3] == [192, 168, 2];
        pool.contains(ip)
            && ip != c.server_ip
            && Some(ip) != pool.router
            && !special_host
            && !phone_reserved
            && !self.declined.contains(&ip)
    }

    fn holder(&self, ip: Ipv4Addr) -> Option<(&[u8; 6], &Lease)> {
        let mac = self.holders.get(&ip)?;
        self.leases.get_key_value(mac)
    }

    /// Puts `lease` in `mac`'s row; an address the row held before is given up.
    fn set_lease(&mut self, mac: [u8; 6], lease: Lease) {
        if let Some(old) = self.leases.insert(mac, lease)
            && old.ip != lease.ip
        {
            self.holders.remove(&old.ip);
            self.given_up(old.ip);
        }
        self.holders.insert(lease.ip, mac);
    }

    /// Removes `mac`'s row; its address is given up.
    fn drop_lease(&mut self, mac: &[u8; 6]) {
        if let Some(old) = self.leases.remove(mac) {
            self.holders.remove(&old.ip);
            self.given_up(old.ip);
        }
    }

    /// `ip` is no longer held: no pool's search may start above it.
    fn given_up(&mut self, ip: Ipv4Addr) {
        let ip = u64::from(u32::from(ip));
        for floor in self.free_floor.values_mut() {
            *floor = (*floor).min(ip);
        }
    }

    /// The lowest usable address of `pool` nobody holds, searched from the pool's floor
    /// (below which all is held or unusable) over the held addresses in order; the floor
    /// moves up to what was found (or past the end: the pool is full until an address is
    /// given up).
    fn lowest_free(&mut self, pool: &Pool) -> Option<Ipv4Addr> {
        let start = u64::from(u32::from(pool.start));
        let end = u64::from(u32::from(pool.end));
        let floor = self
            .free_floor
            .get(&pool.start)
            .copied()
            .unwrap_or(start)
            .max(start);
        let mut held = self
            .holders
            .range(Ipv4Addr::from(u32::try_from(floor).unwrap_or(u32::MAX))..)
            .map(|(ip, _)| u64::from(u32::from(*ip)))
            .peekable();
        let mut at = floor;
        let found = loop {
            if at > end {
                break None;
            }
            while held.next_if(|h| *h < at).is_some() {}
            let ip = Ipv4Addr::from(u32::try_from(at).unwrap_or(u32::MAX));
            if held.peek() != Some(&at) && self.usable(ip, pool) {
                break Some(ip);
            }
            at += 1;
        };
        self.free_floor.insert(pool.start, at);
        found
    }

    /// The address to offer `mac` (RFC 2131 §4.3.1 order; see the module header).
    fn choose(
        &mut self,
        now: Duration,
        mac: &[u8; 6],
        requested: Option<Ipv4Addr>,
        pool: &Pool,
    ) -> Option<Ipv4Addr> {
        if let Some(l) = self.leases.get(mac)
            && self.usable(l.ip, pool)
        {
            return Some(l.ip);
        }
        if let Some(r) = requested
            && self.usable(r, pool)
            && self.holder(r).is_none()
        {
            return Some(r);
        }
        if let Some(free) = self.lowest_free(pool) {
            return Some(free);
        }
        // Every usable address is held: the lowest one whose holder may lose it. Held
        // addresses are walked in order, the unusable ones (declined since) skipped.
        let (ip, other) = self
            .holders
            .range(pool.start..=pool.end)
            .filter(|(ip, _)| self.usable(**ip, pool))
            .find_map(|(ip, m)| {
                self.leases
                    .get(m)
                    .filter(|l| m != mac && l.reclaimable(now))
                    .map(|_| (*ip, *m))
            })?;
        self.drop_lease(&other);
        Some(ip)
    }

    /// Builds one reply and its `Sent` event. `rules`: the scenario rules that shaped it (a
    /// NAK rule, delays), in configuration order.
    fn reply(
        &self,
        req: &Header,
        asked: &Request,
        plan: ReplyPlan,
        from: Ipv4Addr,
        rules: Vec<Rule>,
    ) -> Vec<Output> {
        let ReplyPlan {
            kind,
            ip,
            pool,
            agent_info,
        } = plan;
        let c = &self.config;
        let delay = rules
            .iter()
            .filter_map(|r| match r {
                Rule::Delay { delay, .. } => Some(*delay),
                _ => None,
            })
            .fold(Duration::ZERO, Duration::saturating_add);
        let mut header = Header {
            op: 2,
            htype: req.htype,
            hlen: req.hlen,
            hops: 0,
            xid: req.xid,
            secs: 0,
            flags: req.flags,
            giaddr: req.giaddr,
            chaddr: req.chaddr,
            ..Header::default()
        };
        let server_id = (OPT_SERVER_ID, c.server_ip.octets().to_vec());
        let options = match &kind {
            ReplyKind::Nak(why) => {
                // RFC 2131 §4.3.2: through a relay, a NAK goes out broadcast on the client's
                // segment, which the relay does when the broadcast bit is set.
                if !req.giaddr.is_unspecified() {
                    header.flags |= 0x8000;
                }
                vec![
                    (OPT_MESSAGE_TYPE, vec![MessageType::Nak.code()]),
                    server_id,
                    (OPT_MESSAGE, why.clone().into_bytes()),
                ]
            }
            ReplyKind::Offer | ReplyKind::Ack | ReplyKind::InformAck => {
                let msg_type = match kind {
                    ReplyKind::Offer => MessageType::Offer,
                    _ => MessageType::Ack,
                };
                header.yiaddr = ip;
                header.siaddr = c.siaddr.unwrap_or(Ipv4Addr::UNSPECIFIED);
                if !matches!(kind, ReplyKind::Offer) {
                    header.ciaddr = req.ciaddr;
                }
                let mut o = vec![(OPT_MESSAGE_TYPE, vec![msg_type.code()]), server_id];
                if let (Some(lease), false) = (c.lease_time, matches!(kind, ReplyKind::InformAck)) {
                    o.push((OPT_LEASE_TIME, lease.to_be_bytes().to_vec()));
                    if lease != INFINITE_LEASE {
                        let t1 = u64::from(lease) / 2;
                        let t2 = u64::from(lease) * 7 / 8;
                        for (code, t) in [(OPT_RENEWAL_T1, t1), (OPT_REBINDING_T2, t2)] {
                            // Both are below `lease`, so they fit a u32.
                            let t = u32::try_from(t).unwrap_or(lease);
                            o.push((code, t.to_be_bytes().to_vec()));
                        }
                    }
                }
                o.push((OPT_SUBNET_MASK, pool.mask.octets().to_vec()));
                if let Some(r) = pool.router {
                    o.push((OPT_ROUTER, r.octets().to_vec()));
                }
                if !c.dns.is_empty() {
                    o.push((OPT_DNS, c.dns.iter().flat_map(|d| d.octets()).collect()));
                }
                if let Some(site) = &c.site_string
                    && !matches!(c.sson, wire::OPT_PAD | wire::OPT_END)
                {
                    o.push((c.sson, site.clone()));
                }
                o.retain(|(code, _)| !c.omit_options.contains(code));
                if let Some(order) = &c.option_order {
                    o = ordered(o, order);
                }
                o.extend(c.extra_options.iter().cloned());
                o
            }
        };

        // A client that states its maximum message size gets OFFER and ACK fitted into it; a
        // NAK is a few dozen bytes.
        let (mut bytes, max_size) = match (&kind, asked.max_message_size) {
            (ReplyKind::Nak(_), _) | (_, None) => (wire::encode(&header, &options), None),
            (_, Some(client_max)) => {
                let (bytes, record) = fit::fit(
                    &header,
                    &options,
                    client_max,
                    &asked.parameter_request_list,
                    c.max_size_policy,
                );
                (bytes, Some(record))
            }
        };
        if let Some(info) = &agent_info {
            wire::insert_before_end(&mut bytes, OPT_RELAY_AGENT_INFO, info);
        }
        let dest = self.destination(req, &kind, ip, from);
        let walked = wire::walk(&bytes).ok();
        let site_option = if matches!(kind, ReplyKind::Nak(_)) {
            None
        } else {
            walked
                .as_ref()
                .and_then(|w| w.concatenated(c.sson))
                .filter(|_| c.site_string.is_some())
                .map(lossy)
        };
        let msg_type = match kind {
            ReplyKind::Offer => MessageType::Offer,
            ReplyKind::Ack | ReplyKind::InformAck => MessageType::Ack,
            ReplyKind::Nak(_) => MessageType::Nak,
        };
        let sent = Event::Sent {
            xid: header.xid,
            client_mac: format_mac(&req.mac()),
            msg_type: msg_type.name(),
            yiaddr: header.yiaddr.to_string(),
            siaddr: header.siaddr.to_string(),
            dest: match dest {
                ReplyDest::BroadcastMac => "broadcast".into(),
                ReplyDest::Relay(_) => "relay".into(),
                _ => "unicast".into(),
            },
            site_option,
            lease_time: walked
                .as_ref()
                .and_then(|w| w.all(OPT_LEASE_TIME).next())
                .and_then(|o| <[u8; 4]>::try_from(o.value.as_slice()).ok())
                .map(u32::from_be_bytes),
            options: walked
                .map(|w| w.options.iter().map(WireOption::from).collect())
                .unwrap_or_default(),
            rules,
            delay_ms: millis::as_millis(delay),
            max_size,
        };
        vec![
            Output::Send(Reply {
                bytes,
                dest,
                chaddr: req.mac(),
                delay,
            }),
            Output::Event(sent),
        ]
    }

    /// RFC 2131 §4.1: relay first; a NAK is broadcast; a client with an address gets it
    /// unicast; then the broadcast flag decides between broadcast and unicast to the MAC.
    fn destination(
        &self,
        req: &Header,
        kind: &ReplyKind,
        yiaddr: Ipv4Addr,
        from: Ipv4Addr,
    ) -> ReplyDest {
        if !req.giaddr.is_unspecified() {
            return ReplyDest::Relay(req.giaddr);
        }
        match kind {
            ReplyKind::Nak(_) => ReplyDest::BroadcastMac,
            ReplyKind::InformAck => {
                // RFC 2131 §4.3.5: to ciaddr; a client that left it empty is answered where
                // the datagram came from, or by broadcast.
                if !req.ciaddr.is_unspecified() {
                    ReplyDest::UnicastIp(req.ciaddr)
                } else if !from.is_unspecified() && !from.is_broadcast() {
                    ReplyDest::UnicastIp(from)
                } else {
                    ReplyDest::BroadcastMac
                }
            }
            ReplyKind::Offer | ReplyKind::Ack => {
                if !req.ciaddr.is_unspecified() {
                    ReplyDest::UnicastIp(req.ciaddr)
                } else if req.broadcast() {
                    ReplyDest::BroadcastMac
                } else {
                    ReplyDest::UnicastMac {
                        mac: req.mac(),
                        ip: yiaddr,
                    }
                }
            }
        }
    }
}

/// `options` with the codes of `order` first, in that order (every option of a code, in the
/// order they had), then the rest as they were.
fn ordered(options: Vec<(u8, Vec<u8>)>, order: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::with_capacity(options.len());
    let mut rest = options;
    for code in order {
        let (first, others): (Vec<_>, Vec<_>) = rest.into_iter().partition(|(c, _)| c == code);
        out.extend(first);
        rest = others;
    }
    out.extend(rest);
    out
}

/// What one reply answers with: its kind, its address, the pool it came from and the
/// relay agent information to echo.
struct ReplyPlan {
    kind: ReplyKind,
    ip: Ipv4Addr,
    pool: Pool,
    agent_info: Option<Vec<u8>>,
}

enum ReplyKind {
    Offer,
    Ack,
    InformAck,
    /// With the text for option 56.
    Nak(String),
}

enum Action {
    /// Nothing to send, nothing more to say (RELEASE, DECLINE).
    None,
    Ignore(String),
    /// Reply with `kind`, `yiaddr` = the address.
    Reply(ReplyKind, Ipv4Addr),
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
