//! Sans-IO DHCP client state machine (RFC 2131 §4.4, timers §4.1 and §4.4.5).
//!
//! Owns: the client states INIT → SELECTING → REQUESTING → BOUND → RENEWING → REBINDING,
//! retransmission with exponential backoff and ±1 s jitter, T1/T2/expiry handling, and what
//! the phone puts in its messages (domain.md "DHCP": host name, option 60, option 55 with
//! the SSON, no broadcast flag).
//! Never: touches a socket or a clock — time comes in as phone-time `Duration` since an
//! origin, randomness from a seeded [`Rng`]; bytes come in and [`Event`]s go out.
//! VLAN (domain.md "Boot sequence" step 2): [`DhcpClient::switch_vlan`] releases the lease
//! (DHCPRELEASE), tags every later message with the voice VLAN and arms the VLANTEST timer;
//! without a DHCPOFFER on that VLAN before it fires the client falls back to untagged DHCP.
//! Replies are matched against the VLAN they arrived on.
//! Fault switches bent here: `option242-first-fragment-only`, `accept-offer-without-lease-time`,
//! `ignore-nak-on-renewal`, `sson-always-242`, `discover-no-backoff`, `ignore-router`,
//! `renew-by-broadcast`.
//! Not supported: INIT-REBOOT (every boot starts with DISCOVER), DHCPDECLINE after an ARP
//! probe, DHCPINFORM, option overload, relay agents, priority tagging (VLAN 0 with L2Q=1).

use std::net::Ipv4Addr;
use std::time::Duration;

use super::wire::{
    self, Message, MessageType, OPT_CLIENT_ID, OPT_DNS, OPT_HOST_NAME, OPT_LEASE_TIME,
    OPT_MESSAGE_TYPE, OPT_PARAM_LIST, OPT_REBINDING_T2, OPT_RENEWAL_T1, OPT_REQUESTED_IP,
    OPT_ROUTER, OPT_SERVER_ID, OPT_SUBNET_MASK, OPT_TFTP_SERVER_NAME, OPT_VENDOR_CLASS,
    OPT_VENDOR_SPECIFIC,
};
use crate::fault::{Fault, Faults};
use crate::rng::Rng;

/// Vendor class identifier the phone sends (domain.md: `ccp.avaya.com`, unsure for 96x0).
pub const VENDOR_CLASS: &str = "ccp.avaya.com";
/// The letter after `AV` in the host name. The OUI→letter table is not public; simphone
/// always uses `X`, as in the documented example `AVXB27312`.
pub const HOST_NAME_LETTER: char = 'X';
/// First retransmission delay (RFC 2131 §4.1: 4 s, doubled up to 64 s, ±1 s).
const FIRST_BACKOFF: Duration = Duration::from_secs(4);
const MAX_BACKOFF: Duration = Duration::from_secs(64);
/// REQUEST transmissions in REQUESTING before giving up and starting again at INIT.
const MAX_REQUESTS: u32 = 4;
/// RFC 2131 §4.4.5: in RENEWING/REBINDING wait half the remaining time, at least 60 s.
const MIN_RENEW_RETRY: Duration = Duration::from_secs(60);
/// The lease a phone with `accept-offer-without-lease-time` assumes when option 51 is missing
/// from both OFFER and ACK (one day; the conforming phone never gets this far).
pub const ASSUMED_LEASE_WITHOUT_51: Duration = Duration::from_secs(86_400);
/// The site option code a phone with `sson-always-242` uses whatever it was configured with.
pub const DEFAULT_SSON: u8 = 242;

/// What identifies the phone on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub mac: [u8; 6],
    /// Site-specific option number (128–255, default 242).
    pub sson: u8,
    /// Fault switches (only the DHCP ones matter here).
    pub faults: Faults,
}

impl ClientConfig {
    /// `AV` + letter + last three MAC octets in upper-case hex, e.g. `AVX27312A`.
    pub fn host_name(&self) -> String {
        format!(
            "AV{}{:02X}{:02X}{:02X}",
            HOST_NAME_LETTER, self.mac[3], self.mac[4], self.mac[5]
        )
    }

    /// Option 61: hardware type 1 (Ethernet) followed by the MAC.
    pub fn client_id(&self) -> Vec<u8> {
        let mut v = vec![1u8];
        v.extend_from_slice(&self.mac);
        v
    }

    /// The option the phone reads its site option from and asks for in option 55: the SSON
    /// (242 whatever the SSON with the `sson-always-242` fault).
    pub fn site_option_code(&self) -> u8 {
        if self.faults.has(Fault::SsonAlways242) {
            DEFAULT_SSON
        } else {
            self.sson
        }
    }

    /// Option 55: the parameters the phone asks for.
    pub fn parameter_list(&self) -> Vec<u8> {
        vec![1, 3, 6, 7, 15, 26, 42, 43, self.site_option_code()]
    }
}

/// What the phone keeps from an ACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub subnet_mask: Option<Ipv4Addr>,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub server_id: Ipv4Addr,
    /// BOOTP `siaddr` (next server): lowest-precedence HTTPSRVR fallback.
    pub siaddr: Ipv4Addr,
    /// Option 66 as text, another low-precedence HTTPSRVR fallback.
    pub option66: Option<String>,
    /// The SSON value, all instances concatenated (RFC 3396).
    pub site_option: Option<Vec<u8>>,
    /// Option 43 (vendor specific), concatenated.
    pub option43: Option<Vec<u8>>,
    pub lease_time: Duration,
    pub t1: Duration,
    pub t2: Duration,
    /// Phone time at which the lease started (when the REQUEST that got the ACK was sent).
    pub start: Duration,
    /// The 802.1Q VLAN the lease was obtained on (`None`: untagged).
    pub vlan: Option<u16>,
}

impl Lease {
    pub fn renew_at(&self) -> Duration {
        self.start + self.t1
    }
    pub fn rebind_at(&self) -> Duration {
        self.start + self.t2
    }
    pub fn expires_at(&self) -> Duration {
        self.start + self.lease_time
    }
    /// Prefix length of the subnet mask (default /24 when the server sent none).
    pub fn prefix_len(&self) -> u32 {
        self.subnet_mask
            .map(|m| u32::from(m).count_ones())
            .unwrap_or(24)
    }
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// 255.255.255.255:67 from 0.0.0.0 (or from ciaddr while rebinding).
    Broadcast,
    /// Unicast to the server that gave the lease (renewal).
    Server(Ipv4Addr),
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub destination: Destination,
    /// Source IP to use (0.0.0.0 before a lease).
    pub source: Ipv4Addr,
    pub message_type: MessageType,
    /// 802.1Q VLAN to tag the frame with (`None`: untagged).
    pub vlan: Option<u16>,
    pub payload: Vec<u8>,
}

/// What the client tells its shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Transmit(Transmit),
    /// A new lease (from REQUESTING).
    Bound(Lease),
    /// The lease was extended (from RENEWING or REBINDING).
    Renewed(Lease),
    /// A NAK or expiry took the address away; the phone must stop using it.
    LeaseLost {
        reason: String,
    },
    /// An offer or ack that was not acceptable (logged; the client keeps waiting).
    Ignored {
        reason: String,
    },
    /// T1 passed: the client asks its server to extend the lease (unicast).
    Renewing {
        address: Ipv4Addr,
        server: Ipv4Addr,
    },
    /// T2 passed: the client asks any server to extend the lease (broadcast).
    Rebinding {
        address: Ipv4Addr,
    },
    /// VLANTEST expired without a DHCPOFFER on `vlan`: DHCP starts again untagged.
    VlanFallback {
        vlan: u16,
        waited: Duration,
    },
}

/// RFC 2131 client states, each holding only its own data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientState {
    Init,
    Selecting {
        xid: u32,
        started: Duration,
        delay: Duration,
        next_tx: Duration,
    },
    Requesting {
        xid: u32,
        started: Duration,
        offer: Box<Lease>,
        sent_at: Duration,
        sends: u32,
        delay: Duration,
        next_tx: Duration,
    },
    Bound {
        lease: Box<Lease>,
    },
    Renewing {
        lease: Box<Lease>,
        xid: u32,
        sent_at: Duration,
        next_tx: Duration,
    },
    Rebinding {
        lease: Box<Lease>,
        xid: u32,
        sent_at: Duration,
        next_tx: Duration,
    },
}

/// The client: configuration, state and its own random stream.
#[derive(Debug)]
pub struct DhcpClient {
    config: ClientConfig,
    state: ClientState,
    rng: Rng,
    /// The VLAN DHCP runs on (`None`: untagged).
    vlan: Option<u16>,
    /// While no OFFER has arrived on `vlan`: when VLANTEST expires and since when it ran.
    vlan_test: Option<VlanTest>,
}

/// The VLANTEST timer of a switch to a tagged VLAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct VlanTest {
    started: Duration,
    deadline: Duration,
}

impl DhcpClient {
    pub fn new(config: ClientConfig, rng: Rng) -> Self {
        Self {
            config,
            state: ClientState::Init,
            rng,
            vlan: None,
            vlan_test: None,
        }
    }

    /// The VLAN DHCP currently runs on (`None`: untagged).
    pub fn vlan(&self) -> Option<u16> {
        self.vlan
    }

    pub fn state(&self) -> &ClientState {
        &self.state
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The current lease, if the client holds one (BOUND, RENEWING, REBINDING).
    pub fn lease(&self) -> Option<&Lease> {
        match &self.state {
            ClientState::Bound { lease }
            | ClientState::Renewing { lease, .. }
            | ClientState::Rebinding { lease, .. } => Some(lease),
            _ => None,
        }
    }

    /// Forget everything and start over at INIT, untagged (a reboot).
    pub fn restart(&mut self) {
        self.state = ClientState::Init;
        self.vlan = None;
        self.vlan_test = None;
    }

    /// Move DHCP to 802.1Q VLAN `vlan` (domain.md "Boot sequence" step 2): release the lease
    /// held on the current link (DHCPRELEASE, sent the way the lease was obtained), then start
    /// again at INIT with every message tagged. `vlantest` is how long to wait for a DHCPOFFER
    /// on the VLAN before falling back to untagged DHCP; `None` (VLANTEST=0) waits forever.
    /// `vlan` 0 means untagged: release and start again without a tag.
    pub fn switch_vlan(
        &mut self,
        now: Duration,
        vlan: u16,
        vlantest: Option<Duration>,
    ) -> Vec<Event> {
        let mut out = Vec::new();
        if let Some(lease) = self.lease().cloned() {
            let xid = self.rng.next_u32();
            out.push(self.release(xid, &lease));
        }
        self.vlan = Some(vlan).filter(|v| *v != 0);
        self.vlan_test = match (self.vlan, vlantest) {
            (Some(_), Some(wait)) => Some(VlanTest {
                started: now,
                deadline: now + wait,
            }),
            _ => None,
        };
        tracing::info!(vlan = ?self.vlan, ?vlantest, "DHCP moves to another VLAN");
        self.state = ClientState::Init;
        out.extend(self.poll(now));
        out
    }

    /// When [`poll`](Self::poll) next has something to do; `None` = never (cannot happen).
    pub fn next_deadline(&self) -> Option<Duration> {
        match &self.state {
            ClientState::Init => Some(Duration::ZERO),
            ClientState::Selecting { next_tx, .. } => Some(match self.vlan_test {
                Some(t) => (*next_tx).min(t.deadline),
                None => *next_tx,
            }),
            ClientState::Requesting { next_tx, .. } => Some(*next_tx),
            ClientState::Bound { lease } => Some(lease.renew_at()),
            ClientState::Renewing { lease, next_tx, .. } => Some((*next_tx).min(lease.rebind_at())),
            ClientState::Rebinding { lease, next_tx, .. } => {
                Some((*next_tx).min(lease.expires_at()))
            }
        }
    }

    /// Run timers due at `now`.
    pub fn poll(&mut self, now: Duration) -> Vec<Event> {
        let mut out = Vec::new();
        if let (Some(vlan), Some(test)) = (self.vlan, self.vlan_test)
            && now >= test.deadline
            && matches!(self.state, ClientState::Selecting { .. })
        {
            let waited = now.saturating_sub(test.started);
            tracing::warn!(
                vlan,
                ?waited,
                "no DHCPOFFER on the VLAN within VLANTEST: untagged again"
            );
            out.push(Event::VlanFallback { vlan, waited });
            self.vlan = None;
            self.vlan_test = None;
            return self.restart_and_poll(now, out);
        }
        let state = std::mem::replace(&mut self.state, ClientState::Init);
        self.state = match state {
            ClientState::Init => {
                let xid = self.rng.next_u32();
                out.push(self.discover(xid, now, now));
                let delay = FIRST_BACKOFF;
                ClientState::Selecting {
                    xid,
                    started: now,
                    delay,
                    next_tx: now + self.jitter(delay),
                }
            }
            ClientState::Selecting {
                xid,
                started,
                delay,
                next_tx,
            } if now >= next_tx => {
                out.push(self.discover(xid, started, now));
                let delay = if self.config.faults.has(Fault::DiscoverNoBackoff) {
                    // The fault: the wait never grows past the first one.
                    delay
                } else {
                    (delay * 2).min(MAX_BACKOFF)
                };
                ClientState::Selecting {
                    xid,
                    started,
                    delay,
                    next_tx: now + self.jitter(delay),
                }
            }
            ClientState::Requesting {
                xid,
                started,
                offer,
                sent_at,
                sends,
                delay,
                next_tx,
            } if now >= next_tx => {
                if sends >= MAX_REQUESTS {
                    tracing::warn!(xid, "no answer to DHCPREQUEST, back to INIT");
                    return self.restart_and_poll(now, out);
                }
                out.push(self.request_selecting(xid, &offer, started, now));
                let delay = (delay * 2).min(MAX_BACKOFF);
                ClientState::Requesting {
                    xid,
                    started,
                    offer,
                    sent_at,
                    sends: sends + 1,
                    delay,
                    next_tx: now + self.jitter(delay),
                }
            }
            ClientState::Bound { lease } if now >= lease.renew_at() => {
                let xid = self.rng.next_u32();
                out.push(Event::Renewing {
                    address: lease.address,
                    server: lease.server_id,
                });
                out.push(self.request_extend(xid, &lease, self.renew_to(&lease)));
                let next_tx = now + half_remaining(now, lease.rebind_at());
                ClientState::Renewing {
                    lease,
                    xid,
                    sent_at: now,
                    next_tx,
                }
            }
            ClientState::Renewing { lease, xid, .. } if now >= lease.rebind_at() => {
                let _ = xid;
                let xid = self.rng.next_u32();
                out.push(Event::Rebinding {
                    address: lease.address,
                });
                out.push(self.request_extend(xid, &lease, Destination::Broadcast));
                let next_tx = now + half_remaining(now, lease.expires_at());
                ClientState::Rebinding {
                    lease,
                    xid,
                    sent_at: now,
                    next_tx,
                }
            }
            ClientState::Renewing {
                lease,
                xid,
                sent_at,
                next_tx,
            } if now >= next_tx => {
                out.push(self.request_extend(xid, &lease, self.renew_to(&lease)));
                let _ = sent_at;
                let next_tx = now + half_remaining(now, lease.rebind_at());
                ClientState::Renewing {
                    lease,
                    xid,
                    sent_at: now,
                    next_tx,
                }
            }
            ClientState::Rebinding { lease, .. } if now >= lease.expires_at() => {
                out.push(Event::LeaseLost {
                    reason: format!("lease on {} expired", lease.address),
                });
                return self.restart_and_poll(now, out);
            }
            ClientState::Rebinding {
                lease,
                xid,
                next_tx,
                ..
            } if now >= next_tx => {
                out.push(self.request_extend(xid, &lease, Destination::Broadcast));
                let next_tx = now + half_remaining(now, lease.expires_at());
                ClientState::Rebinding {
                    lease,
                    xid,
                    sent_at: now,
                    next_tx,
                }
            }
            other => other,
        };
        out
    }

    fn restart_and_poll(&mut self, now: Duration, mut out: Vec<Event>) -> Vec<Event> {
        self.state = ClientState::Init;
        out.extend(self.poll(now));
        out
    }

    /// Feed one received untagged datagram (the UDP payload) at `now`.
    pub fn handle(&mut self, now: Duration, bytes: &[u8]) -> Vec<Event> {
        self.handle_on(now, None, bytes)
    }

    /// Feed one datagram that arrived on 802.1Q VLAN `vlan` (`None` or `Some(0)`: untagged).
    /// A reply on another VLAN than the one DHCP runs on is not ours.
    pub fn handle_on(&mut self, now: Duration, vlan: Option<u16>, bytes: &[u8]) -> Vec<Event> {
        if vlan.filter(|v| *v != 0) != self.vlan {
            tracing::debug!(?vlan, current = ?self.vlan, "dhcp reply on another VLAN: not ours");
            return Vec::new();
        }
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => return vec![ignored(format!("undecodable reply: {e}"))],
        };
        if msg.op != 2 || msg.mac() != self.config.mac {
            // Another client's traffic on a shared link: silently not ours.
            return Vec::new();
        }
        let Some(xid) = self.current_xid() else {
            return Vec::new();
        };
        if msg.xid != xid {
            return Vec::new();
        }
        let kind = msg.message_type();
        let state = std::mem::replace(&mut self.state, ClientState::Init);
        let mut out = Vec::new();
        self.state = match (state, kind) {
            (
                ClientState::Selecting {
                    xid,
                    started,
                    delay,
                    next_tx,
                },
                Some(MessageType::Offer),
            ) => match lease_from(&msg, &self.config, now) {
                Ok(offer) => {
                    tracing::info!(address = %offer.address, server = %offer.server_id, vlan = ?self.vlan, "accepted DHCPOFFER");
                    // An offer on the VLAN proves it works: VLANTEST no longer applies.
                    self.vlan_test = None;
                    out.push(self.request_selecting(xid, &offer, started, now));
                    let _ = (delay, next_tx);
                    ClientState::Requesting {
                        xid,
                        started,
                        offer: Box::new(offer),
                        sent_at: now,
                        sends: 1,
                        delay: FIRST_BACKOFF,
                        next_tx: now + self.jitter(FIRST_BACKOFF),
                    }
                }
                Err(reason) => {
                    tracing::warn!(%reason, "rejected DHCPOFFER");
                    out.push(ignored(format!("offer rejected: {reason}")));
                    ClientState::Selecting {
                        xid,
                        started,
                        delay,
                        next_tx,
                    }
                }
            },
            (ClientState::Requesting { offer, sent_at, .. }, Some(MessageType::Ack)) => {
                let mut lease = ack_lease(&msg, &offer, &self.config, sent_at);
                lease.vlan = self.vlan;
                tracing::info!(address = %lease.address, lease_s = lease.lease_time.as_secs(), "DHCPACK: bound");
                out.push(Event::Bound(lease.clone()));
                ClientState::Bound {
                    lease: Box::new(lease),
                }
            }
            (ClientState::Requesting { .. }, Some(MessageType::Nak)) => {
                tracing::warn!("DHCPNAK while requesting, back to INIT");
                out.push(ignored("nak while requesting".to_string()));
                return self.restart_and_poll(now, out);
            }
            (
                ClientState::Renewing { lease, sent_at, .. }
                | ClientState::Rebinding { lease, sent_at, .. },
                Some(MessageType::Ack),
            ) => {
                let mut renewed = ack_lease(&msg, &lease, &self.config, sent_at);
                renewed.vlan = self.vlan;
                tracing::info!(address = %renewed.address, "lease renewed");
                out.push(Event::Renewed(renewed.clone()));
                ClientState::Bound {
                    lease: Box::new(renewed),
                }
            }
            (
                state @ (ClientState::Renewing { .. } | ClientState::Rebinding { .. }),
                Some(MessageType::Nak),
            ) if self.config.faults.has(Fault::IgnoreNakOnRenewal) => {
                tracing::warn!("fault ignore-nak-on-renewal: DHCPNAK ignored, address kept");
                out.push(ignored(
                    "fault ignore-nak-on-renewal: nak on renewal ignored".to_string(),
                ));
                state
            }
            (
                ClientState::Renewing { lease, .. } | ClientState::Rebinding { lease, .. },
                Some(MessageType::Nak),
            ) => {
                tracing::warn!(address = %lease.address, "DHCPNAK on renewal: address lost");
                out.push(Event::LeaseLost {
                    reason: format!("nak on renewal of {}", lease.address),
                });
                return self.restart_and_poll(now, out);
            }
            (other, _) => other,
        };
        out
    }

    fn current_xid(&self) -> Option<u32> {
        match &self.state {
            ClientState::Selecting { xid, .. }
            | ClientState::Requesting { xid, .. }
            | ClientState::Renewing { xid, .. }
            | ClientState::Rebinding { xid, .. } => Some(*xid),
            ClientState::Init | ClientState::Bound { .. } => None,
        }
    }

    /// `delay` randomised by ±1 s (RFC 2131 §4.1).
    fn jitter(&mut self, delay: Duration) -> Duration {
        let secs = delay.as_secs_f64() + self.rng.range_f64(-1.0, 1.0);
        Duration::from_secs_f64(secs.max(0.0))
    }

    fn base(&self, xid: u32, kind: MessageType, started: Duration, now: Duration) -> Message {
        let mut m = Message::client(xid, self.config.mac);
        m.secs = now.saturating_sub(started).as_secs().min(u16::MAX as u64) as u16;
        m.push_option(OPT_MESSAGE_TYPE, &[kind.code()]);
        m.push_option(OPT_CLIENT_ID, &self.config.client_id());
        m
    }

    fn finish(&self, m: &mut Message) {
        m.push_option(OPT_HOST_NAME, self.config.host_name().as_bytes());
        m.push_option(OPT_VENDOR_CLASS, VENDOR_CLASS.as_bytes());
        m.push_option(OPT_PARAM_LIST, &self.config.parameter_list());
    }

    fn discover(&self, xid: u32, started: Duration, now: Duration) -> Event {
        let mut m = self.base(xid, MessageType::Discover, started, now);
        self.finish(&mut m);
        tracing::debug!(xid, "DHCPDISCOVER");
        Event::Transmit(Transmit {
            destination: Destination::Broadcast,
            source: Ipv4Addr::UNSPECIFIED,
            message_type: MessageType::Discover,
            vlan: self.vlan,
            payload: m.encode(),
        })
    }

    fn request_selecting(
        &self,
        xid: u32,
        offer: &Lease,
        started: Duration,
        now: Duration,
    ) -> Event {
        let mut m = self.base(xid, MessageType::Request, started, now);
        m.push_option(OPT_REQUESTED_IP, &offer.address.octets());
        m.push_option(OPT_SERVER_ID, &offer.server_id.octets());
        self.finish(&mut m);
        tracing::debug!(xid, address = %offer.address, "DHCPREQUEST (selecting)");
        Event::Transmit(Transmit {
            destination: Destination::Broadcast,
            source: Ipv4Addr::UNSPECIFIED,
            message_type: MessageType::Request,
            vlan: self.vlan,
            payload: m.encode(),
        })
    }

    /// DHCPRELEASE (RFC 2131 §4.4.6, table 5): ciaddr, options 53, 54 and 61 only, unicast
    /// to the server that gave the lease, on the link (VLAN) the lease came from.
    fn release(&self, xid: u32, lease: &Lease) -> Event {
        let mut m = Message::client(xid, self.config.mac);
        m.ciaddr = lease.address;
        m.push_option(OPT_MESSAGE_TYPE, &[MessageType::Release.code()]);
        m.push_option(OPT_SERVER_ID, &lease.server_id.octets());
        m.push_option(OPT_CLIENT_ID, &self.config.client_id());
        tracing::info!(address = %lease.address, server = %lease.server_id, "DHCPRELEASE");
        Event::Transmit(Transmit {
            destination: Destination::Server(lease.server_id),
            source: lease.address,
            message_type: MessageType::Release,
            vlan: lease.vlan,
            payload: m.encode(),
        })
    }

    /// RENEWING/REBINDING request: ciaddr filled, no 50/54 (RFC 2131 §4.3.2).
    /// Where a RENEWING request goes: unicast to the server that gave the lease (RFC 2131
    /// §4.4.5), or broadcast with the `renew-by-broadcast` fault.
    fn renew_to(&self, lease: &Lease) -> Destination {
        if self.config.faults.has(Fault::RenewByBroadcast) {
            Destination::Broadcast
        } else {
            Destination::Server(lease.server_id)
        }
    }

    fn request_extend(&self, xid: u32, lease: &Lease, destination: Destination) -> Event {
        let mut m = self.base(xid, MessageType::Request, Duration::ZERO, Duration::ZERO);
        m.ciaddr = lease.address;
        self.finish(&mut m);
        tracing::debug!(xid, ?destination, "DHCPREQUEST (extend)");
        Event::Transmit(Transmit {
            destination,
            source: lease.address,
            message_type: MessageType::Request,
            vlan: self.vlan,
            payload: m.encode(),
        })
    }
}

fn ignored(reason: String) -> Event {
    Event::Ignored { reason }
}

/// Half the time left until `until`, at least 60 s but never past `until` (RFC 2131 §4.4.5).
fn half_remaining(now: Duration, until: Duration) -> Duration {
    let left = until.saturating_sub(now);
    (left / 2)
        .max(MIN_RENEW_RETRY)
        .min(left.max(Duration::from_millis(1)))
}

/// Build a lease from an OFFER; the phone rejects an offer without a lease time (51) unless
/// the `accept-offer-without-lease-time` fault is on.
fn lease_from(msg: &Message, config: &ClientConfig, now: Duration) -> Result<Lease, String> {
    if msg.yiaddr.is_unspecified() {
        return Err("yiaddr is 0.0.0.0".into());
    }
    let lease_secs = match msg.option_u32(OPT_LEASE_TIME) {
        Some(s) => s,
        None if config.faults.has(Fault::AcceptOfferWithoutLeaseTime) => {
            tracing::warn!("fault accept-offer-without-lease-time: offer without option 51 taken");
            ASSUMED_LEASE_WITHOUT_51.as_secs() as u32
        }
        None => return Err("no lease time (option 51)".to_string()),
    };
    let server_id = msg
        .option_ip(OPT_SERVER_ID)
        .ok_or_else(|| "no server identifier (option 54)".to_string())?;
    Ok(lease_fields(msg, config, lease_secs, server_id, now))
}

/// The lease an ACK grants; fields the ACK omits fall back to what `prior` had.
fn ack_lease(msg: &Message, prior: &Lease, config: &ClientConfig, start: Duration) -> Lease {
    let lease_secs = msg
        .option_u32(OPT_LEASE_TIME)
        .unwrap_or(prior.lease_time.as_secs().min(u32::MAX as u64) as u32);
    let server_id = msg.option_ip(OPT_SERVER_ID).unwrap_or(prior.server_id);
    let mut lease = lease_fields(msg, config, lease_secs, server_id, start);
    if lease.address.is_unspecified() {
        lease.address = prior.address;
    }
    lease
}

/// The site option as the phone reads it: every instance concatenated (RFC 3396), or only
/// the first with the `option242-first-fragment-only` fault.
fn site_option(msg: &Message, config: &ClientConfig) -> Option<Vec<u8>> {
    let code = config.site_option_code();
    if config.faults.has(Fault::Option242FirstFragmentOnly) {
        return msg
            .options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.clone());
    }
    msg.option(code)
}

fn lease_fields(
    msg: &Message,
    config: &ClientConfig,
    lease_secs: u32,
    server_id: Ipv4Addr,
    start: Duration,
) -> Lease {
    let lease_time = Duration::from_secs(u64::from(lease_secs));
    let t1 = msg
        .option_u32(OPT_RENEWAL_T1)
        .map(|s| Duration::from_secs(u64::from(s)))
        .filter(|t| *t < lease_time)
        .unwrap_or(lease_time / 2);
    let t2 = msg
        .option_u32(OPT_REBINDING_T2)
        .map(|s| Duration::from_secs(u64::from(s)))
        .filter(|t| *t < lease_time && *t >= t1)
        .unwrap_or_else(|| (lease_time * 7 / 8).max(t1));
    let dns = msg
        .option(OPT_DNS)
        .map(|v| {
            v.chunks_exact(4)
                .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                .collect()
        })
        .unwrap_or_default();
    Lease {
        address: msg.yiaddr,
        subnet_mask: msg.option_ip(OPT_SUBNET_MASK),
        router: msg
            .option_ip(OPT_ROUTER)
            .filter(|_| !config.faults.has(Fault::IgnoreRouter)),
        dns,
        server_id,
        siaddr: msg.siaddr,
        option66: msg.option(OPT_TFTP_SERVER_NAME).map(|v| {
            String::from_utf8_lossy(&v)
                .trim_end_matches('\0')
                .to_string()
        }),
        site_option: site_option(msg, config),
        option43: msg.option(OPT_VENDOR_SPECIFIC),
        lease_time,
        t1,
        t2,
        start,
        vlan: None,
    }
}

/// Used by tests and by the loopback transport to recognise message kinds.
pub fn message_type_of(bytes: &[u8]) -> Option<MessageType> {
    wire::Message::parse(bytes).ok()?.message_type()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a];
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);

    fn client() -> DhcpClient {
        client_with(242, &[])
    }

    fn client_with(sson: u8, faults: &[Fault]) -> DhcpClient {
        DhcpClient::new(
            ClientConfig {
                mac: MAC,
                sson,
                faults: Faults::from_list(faults),
            },
            Rng::new(42),
        )
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn transmits(ev: &[Event]) -> Vec<&Transmit> {
        ev.iter()
            .filter_map(|e| match e {
                Event::Transmit(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    fn sent(ev: &[Event]) -> Message {
        let t = transmits(ev);
        assert_eq!(t.len(), 1, "exactly one transmit in {ev:?}");
        Message::parse(&t[0].payload).expect("own message parses")
    }

    fn reply(xid: u32, kind: MessageType, opts: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut m = Message::client(xid, MAC);
        m.op = 2;
        m.yiaddr = ADDR;
        m.siaddr = Ipv4Addr::new(10, 0, 0, 9);
        m.push_option(OPT_MESSAGE_TYPE, &[kind.code()]);
        for (c, v) in opts {
            m.options.push((*c, v.clone()));
        }
        m.encode()
    }

    fn std_opts(lease: u32) -> Vec<(u8, Vec<u8>)> {
        vec![
            (OPT_SERVER_ID, SERVER.octets().to_vec()),
            (OPT_LEASE_TIME, lease.to_be_bytes().to_vec()),
            (OPT_SUBNET_MASK, vec![255, 255, 255, 0]),
            (OPT_ROUTER, vec![10, 0, 0, 1]),
            (242, b"HTTPSRVR=10.0.0.9,".to_vec()),
            (242, b"HTTPDIR=fw".to_vec()),
        ]
    }

    /// Drive a fresh client to BOUND at t=0, returning it.
    fn bound(lease: u32) -> DhcpClient {
        bound_with(lease, &[])
    }

    fn bound_with(lease: u32, faults: &[Fault]) -> DhcpClient {
        let mut c = client_with(242, faults);
        let d = sent(&c.poll(Duration::ZERO));
        let r = sent(&c.handle(
            secs(0.1),
            &reply(d.xid, MessageType::Offer, &std_opts(lease)),
        ));
        let ev = c.handle(secs(0.2), &reply(r.xid, MessageType::Ack, &std_opts(lease)));
        assert!(matches!(ev.as_slice(), [Event::Bound(_)]), "{ev:?}");
        c
    }

    #[test]
    fn discover_carries_the_phone_identity_and_no_broadcast_flag() {
        let mut c = client();
        let ev = c.poll(Duration::ZERO);
        let t = transmits(&ev);
        assert_eq!(t[0].destination, Destination::Broadcast);
        let m = sent(&ev);
        assert_eq!(m.flags, 0);
        assert_eq!(m.message_type(), Some(MessageType::Discover));
        assert_eq!(
            m.option(OPT_CLIENT_ID),
            Some(vec![1, 0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a])
        );
        assert_eq!(m.option(OPT_HOST_NAME), Some(b"AVX27312A".to_vec()));
        assert_eq!(m.option(OPT_VENDOR_CLASS), Some(b"ccp.avaya.com".to_vec()));
        assert_eq!(
            m.option(OPT_PARAM_LIST),
            Some(vec![1, 3, 6, 7, 15, 26, 42, 43, 242])
        );
        // Golden wire order of the options area.
        let b = &t[0].payload;
        assert_eq!(&b[240..243], &[53, 1, 1]);
        assert_eq!(
            &b[243..252],
            &[61, 7, 1, 0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a]
        );
        assert_eq!(&b[252..254], &[12, 9]);
        assert_eq!(&b[254..263], b"AVX27312A");
    }

    #[test]
    fn parameter_list_follows_the_sson() {
        let c = ClientConfig {
            mac: MAC,
            sson: 176,
            faults: Faults::none(),
        };
        assert_eq!(c.parameter_list().last(), Some(&176));
    }

    #[test]
    fn discover_is_retransmitted_with_exponential_backoff_and_jitter() {
        let mut c = client();
        let first = sent(&c.poll(Duration::ZERO));
        let mut times = Vec::new();
        let mut t = Duration::ZERO;
        while times.len() < 5 {
            t += Duration::from_millis(10);
            let ev = c.poll(t);
            if !ev.is_empty() {
                let m = sent(&ev);
                assert_eq!(m.xid, first.xid, "retransmission keeps the xid");
                times.push(t);
            }
        }
        let gaps: Vec<f64> = std::iter::once(times[0])
            .chain(times.windows(2).map(|w| w[1] - w[0]))
            .map(|d| d.as_secs_f64())
            .collect();
        for (gap, nominal) in gaps.iter().zip([4.0, 8.0, 16.0, 32.0, 64.0]) {
            assert!((gap - nominal).abs() <= 1.02, "gap {gap} vs {nominal}");
        }
    }

    /// The gaps before each of the first `n` retransmissions of `c`'s DISCOVER (the first
    /// measured from the original), checking that every one keeps the xid.
    fn discover_gaps(mut c: DhcpClient, n: usize) -> Vec<f64> {
        let first = sent(&c.poll(Duration::ZERO));
        let mut times = vec![Duration::ZERO];
        let mut t = Duration::ZERO;
        while times.len() <= n {
            t += Duration::from_millis(10);
            let ev = c.poll(t);
            if !ev.is_empty() {
                let m = sent(&ev);
                assert_eq!(m.message_type(), Some(MessageType::Discover));
                assert_eq!(m.xid, first.xid, "retransmission keeps the xid");
                times.push(t);
            }
        }
        times
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect()
    }

    #[test]
    fn fault_discover_no_backoff_keeps_every_wait_at_the_first() {
        let clean = discover_gaps(client(), 4);
        let faulty = discover_gaps(client_with(242, &[Fault::DiscoverNoBackoff]), 4);
        // The first wait is the same 4 ± 1 s either way; only the doubling is gone.
        for gaps in [&clean, &faulty] {
            assert!((gaps[0] - 4.0).abs() <= 1.02, "{gaps:?}");
        }
        for (gap, nominal) in clean.iter().zip([4.0, 8.0, 16.0, 32.0]) {
            assert!((gap - nominal).abs() <= 1.02, "clean {clean:?}");
        }
        for gap in &faulty {
            assert!((gap - 4.0).abs() <= 1.02, "faulty {faulty:?}");
        }
    }

    #[test]
    fn fault_discover_no_backoff_leaves_the_offer_and_request_alone() {
        let mut c = client_with(242, &[Fault::DiscoverNoBackoff]);
        let d = sent(&c.poll(Duration::ZERO));
        let r = sent(&c.handle(
            secs(0.1),
            &reply(d.xid, MessageType::Offer, &std_opts(3600)),
        ));
        assert_eq!(r.message_type(), Some(MessageType::Request));
        assert_eq!(r.option_ip(OPT_REQUESTED_IP), Some(ADDR));
        // An unanswered REQUEST still backs off: 4 ± 1 s, then 8 ± 1 s.
        let mut times = vec![secs(0.1)];
        let mut t = secs(0.1);
        while times.len() < 3 {
            t += Duration::from_millis(10);
            let ev = c.poll(t);
            if !ev.is_empty() {
                assert_eq!(sent(&ev).message_type(), Some(MessageType::Request));
                times.push(t);
            }
        }
        let gaps: Vec<f64> = times
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        assert!((gaps[0] - 4.0).abs() <= 1.02, "{gaps:?}");
        assert!((gaps[1] - 8.0).abs() <= 1.02, "{gaps:?}");
    }

    #[test]
    fn offer_without_lease_time_is_rejected_and_the_next_one_accepted() {
        let mut c = client();
        let d = sent(&c.poll(Duration::ZERO));
        let no51 = reply(
            d.xid,
            MessageType::Offer,
            &[(OPT_SERVER_ID, SERVER.octets().to_vec())],
        );
        let ev = c.handle(secs(0.1), &no51);
        assert!(matches!(&ev[..], [Event::Ignored { reason }] if reason.contains("option 51")));
        assert!(matches!(c.state(), ClientState::Selecting { .. }));
        let ev = c.handle(
            secs(0.2),
            &reply(d.xid, MessageType::Offer, &std_opts(3600)),
        );
        let r = sent(&ev);
        assert_eq!(r.message_type(), Some(MessageType::Request));
        assert_eq!(r.option_ip(OPT_REQUESTED_IP), Some(ADDR));
        assert_eq!(r.option_ip(OPT_SERVER_ID), Some(SERVER));
        assert_eq!(r.ciaddr, Ipv4Addr::UNSPECIFIED);
    }

    #[test]
    fn replies_for_another_xid_or_mac_are_not_ours() {
        let mut c = client();
        let d = sent(&c.poll(Duration::ZERO));
        assert!(
            c.handle(
                secs(0.1),
                &reply(d.xid ^ 1, MessageType::Offer, &std_opts(60))
            )
            .is_empty()
        );
        let mut other =
            Message::parse(&reply(d.xid, MessageType::Offer, &std_opts(60))).expect("parse");
        other.chaddr[5] ^= 0xff;
        assert!(c.handle(secs(0.1), &other.encode()).is_empty());
        assert!(
            c.handle(secs(0.1), b"garbage")
                .iter()
                .all(|e| matches!(e, Event::Ignored { .. }))
        );
    }

    #[test]
    fn ack_binds_with_site_option_concatenated_and_default_timers() {
        let c = bound(3600);
        let lease = c.lease().expect("bound");
        assert_eq!(lease.address, ADDR);
        assert_eq!(
            lease.site_option.as_deref(),
            Some(&b"HTTPSRVR=10.0.0.9,HTTPDIR=fw"[..])
        );
        assert_eq!(lease.t1, Duration::from_secs(1800));
        assert_eq!(lease.t2, Duration::from_secs(3150));
        assert_eq!(lease.prefix_len(), 24);
        assert_eq!(lease.router, Some(Ipv4Addr::new(10, 0, 0, 1)));
    }

    #[test]
    fn nak_while_requesting_goes_back_to_init_and_rediscovers() {
        let mut c = client();
        let d = sent(&c.poll(Duration::ZERO));
        let r = sent(&c.handle(secs(0.1), &reply(d.xid, MessageType::Offer, &std_opts(60))));
        let ev = c.handle(
            secs(0.2),
            &reply(
                r.xid,
                MessageType::Nak,
                &[(OPT_SERVER_ID, SERVER.octets().to_vec())],
            ),
        );
        let again: Vec<_> = transmits(&ev);
        assert_eq!(again.len(), 1);
        assert_eq!(
            Message::parse(&again[0].payload)
                .expect("parse")
                .message_type(),
            Some(MessageType::Discover)
        );
        assert!(matches!(c.state(), ClientState::Selecting { .. }));
    }

    #[test]
    fn renews_unicast_at_t1_then_rebinds_broadcast_at_t2_then_loses_the_lease() {
        let mut c = bound(100);
        // Lease started when the REQUEST went out (t=0.1): T1=50.1, T2=87.6, expiry 100.1.
        assert!(c.poll(secs(50.0)).is_empty());
        let ev = c.poll(secs(50.2));
        let t = transmits(&ev);
        assert_eq!(t[0].destination, Destination::Server(SERVER));
        assert_eq!(t[0].source, ADDR);
        let m = sent(&ev);
        assert_eq!(m.ciaddr, ADDR);
        assert_eq!(m.option(OPT_REQUESTED_IP), None);
        assert_eq!(m.option(OPT_SERVER_ID), None);
        assert!(matches!(c.state(), ClientState::Renewing { .. }));
        let ev = c.poll(secs(87.7));
        assert_eq!(transmits(&ev)[0].destination, Destination::Broadcast);
        assert!(matches!(c.state(), ClientState::Rebinding { .. }));
        let ev = c.poll(secs(100.2));
        assert!(matches!(&ev[0], Event::LeaseLost { .. }));
        assert!(matches!(c.state(), ClientState::Selecting { .. }));
    }

    #[test]
    fn with_renew_by_broadcast_the_renewal_is_broadcast_and_without_it_unicast() {
        let ev = bound_with(100, &[Fault::RenewByBroadcast]).poll(secs(50.2));
        assert_eq!(transmits(&ev)[0].destination, Destination::Broadcast);
        assert_eq!(sent(&ev).ciaddr, ADDR);
        let ev = bound(100).poll(secs(50.2));
        assert_eq!(transmits(&ev)[0].destination, Destination::Server(SERVER));
    }

    #[test]
    fn with_ignore_router_the_lease_has_no_router() {
        let lease = |c: &DhcpClient| match c.state() {
            ClientState::Bound { lease } => lease.clone(),
            other => panic!("not bound: {other:?}"),
        };
        assert_eq!(lease(&bound(100)).router, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(lease(&bound_with(100, &[Fault::IgnoreRouter])).router, None);
    }

    #[test]
    fn explicit_t1_t2_are_honoured_and_an_ack_on_renewal_extends() {
        let mut opts = std_opts(1000);
        opts.push((OPT_RENEWAL_T1, 100u32.to_be_bytes().to_vec()));
        opts.push((OPT_REBINDING_T2, 200u32.to_be_bytes().to_vec()));
        let mut c = client();
        let d = sent(&c.poll(Duration::ZERO));
        let r = sent(&c.handle(secs(0.0), &reply(d.xid, MessageType::Offer, &opts)));
        c.handle(secs(0.0), &reply(r.xid, MessageType::Ack, &opts));
        assert!(c.poll(secs(99.9)).is_empty());
        let renew = sent(&c.poll(secs(100.0)));
        let ev = c.handle(secs(100.5), &reply(renew.xid, MessageType::Ack, &opts));
        match &ev[..] {
            [Event::Renewed(l)] => assert_eq!(l.renew_at(), secs(200.0)),
            other => panic!("expected renewal, got {other:?}"),
        }
        assert!(matches!(c.state(), ClientState::Bound { .. }));
    }

    #[test]
    fn nak_on_renewal_loses_the_address_and_rediscovers() {
        let mut c = bound(100);
        let ev = c.poll(secs(60.0));
        assert!(
            matches!(&ev[0], Event::Renewing { address, server } if *address == ADDR && *server == SERVER)
        );
        let renew = sent(&ev);
        let ev = c.handle(secs(60.1), &reply(renew.xid, MessageType::Nak, &[]));
        assert!(matches!(&ev[0], Event::LeaseLost { .. }));
        assert!(c.lease().is_none());
        let again = sent(&ev);
        assert_eq!(again.message_type(), Some(MessageType::Discover));
        assert_eq!(again.ciaddr, Ipv4Addr::UNSPECIFIED);
        assert!(matches!(c.state(), ClientState::Selecting { .. }));
    }

    #[test]
    fn fault_ignore_nak_on_renewal_keeps_the_address_until_expiry() {
        let mut c = bound_with(100, &[Fault::IgnoreNakOnRenewal]);
        let renew = sent(&c.poll(secs(60.0)));
        let ev = c.handle(secs(60.1), &reply(renew.xid, MessageType::Nak, &[]));
        assert!(matches!(&ev[..], [Event::Ignored { .. }]), "{ev:?}");
        assert_eq!(c.lease().map(|l| l.address), Some(ADDR));
        assert!(matches!(c.state(), ClientState::Renewing { .. }));
        // It keeps asking its server (no DISCOVER) and loses the address only at expiry.
        let ev = c.poll(secs(88.0));
        assert_eq!(sent(&ev).message_type(), Some(MessageType::Request));
        let ev = c.poll(secs(100.2));
        assert!(matches!(&ev[0], Event::LeaseLost { .. }));
    }

    #[test]
    fn offer_without_lease_time_is_taken_with_fault_accept_offer_without_lease_time() {
        let mut c = client_with(242, &[Fault::AcceptOfferWithoutLeaseTime]);
        let d = sent(&c.poll(Duration::ZERO));
        let no51 = reply(
            d.xid,
            MessageType::Offer,
            &[(OPT_SERVER_ID, SERVER.octets().to_vec())],
        );
        let r = sent(&c.handle(secs(0.1), &no51));
        assert_eq!(r.message_type(), Some(MessageType::Request));
        assert_eq!(r.option_ip(OPT_REQUESTED_IP), Some(ADDR));
        // An ACK without 51 as well: the assumed lease applies.
        let ev = c.handle(secs(0.2), &reply(r.xid, MessageType::Ack, &[]));
        match &ev[..] {
            [Event::Bound(l)] => assert_eq!(l.lease_time, ASSUMED_LEASE_WITHOUT_51),
            other => panic!("expected a lease, got {other:?}"),
        }
    }

    fn two_site_options() -> Vec<(u8, Vec<u8>)> {
        let mut opts = std_opts(3600);
        opts.retain(|(c, _)| *c != 242);
        opts.push((242, b"HTTPSRVR=10.0.0.242".to_vec()));
        opts.push((176, b"HTTPSRVR=10.0.0.176".to_vec()));
        opts
    }

    fn site_option_after_boot(mut c: DhcpClient) -> (Vec<u8>, Option<Vec<u8>>) {
        let d = sent(&c.poll(Duration::ZERO));
        let params = d.option(OPT_PARAM_LIST).unwrap_or_default();
        let r = sent(&c.handle(
            secs(0.1),
            &reply(d.xid, MessageType::Offer, &two_site_options()),
        ));
        c.handle(
            secs(0.2),
            &reply(r.xid, MessageType::Ack, &two_site_options()),
        );
        (params, c.lease().and_then(|l| l.site_option.clone()))
    }

    #[test]
    fn a_non_default_sson_is_asked_for_and_read_from_its_own_code() {
        let (params, site) = site_option_after_boot(client_with(176, &[]));
        assert_eq!(params, vec![1, 3, 6, 7, 15, 26, 42, 43, 176]);
        assert_eq!(site.as_deref(), Some(&b"HTTPSRVR=10.0.0.176"[..]));
    }

    #[test]
    fn fault_sson_always_242_asks_for_and_reads_242() {
        let (params, site) = site_option_after_boot(client_with(176, &[Fault::SsonAlways242]));
        assert_eq!(params, vec![1, 3, 6, 7, 15, 26, 42, 43, 242]);
        assert_eq!(site.as_deref(), Some(&b"HTTPSRVR=10.0.0.242"[..]));
    }

    #[test]
    fn fault_option242_first_fragment_only_drops_the_continuation() {
        let c = bound_with(3600, &[Fault::Option242FirstFragmentOnly]);
        assert_eq!(
            c.lease().and_then(|l| l.site_option.as_deref()),
            Some(&b"HTTPSRVR=10.0.0.9,"[..])
        );
    }

    /// A client bound untagged at t≈0, then switched to VLAN 10 at t=1 with VLANTEST `test`.
    fn switched(test: Option<Duration>) -> (DhcpClient, Vec<Event>) {
        let mut c = bound(3600);
        let ev = c.switch_vlan(secs(1.0), 10, test);
        (c, ev)
    }

    #[test]
    fn switch_vlan_releases_the_untagged_lease_then_discovers_tagged() {
        let (c, ev) = switched(Some(Duration::from_secs(60)));
        let t = transmits(&ev);
        assert_eq!(t.len(), 2, "{ev:?}");
        assert_eq!(t[0].message_type, MessageType::Release);
        assert_eq!(t[0].vlan, None, "the release leaves the way the lease came");
        assert_eq!(t[0].destination, Destination::Server(SERVER));
        assert_eq!(t[0].source, ADDR);
        let rel = Message::parse(&t[0].payload).expect("release parses");
        assert_eq!(rel.ciaddr, ADDR);
        let codes: Vec<u8> = rel.options.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, vec![OPT_MESSAGE_TYPE, OPT_SERVER_ID, OPT_CLIENT_ID]);
        assert_eq!(rel.option_ip(OPT_SERVER_ID), Some(SERVER));
        assert_eq!(t[1].message_type, MessageType::Discover);
        assert_eq!(t[1].vlan, Some(10));
        assert_eq!(c.vlan(), Some(10));
        assert!(c.lease().is_none());
    }

    #[test]
    fn switching_to_vlan_zero_releases_the_tagged_lease_and_goes_untagged() {
        let (mut c, ev) = switched(None);
        let d = Message::parse(&transmits(&ev)[1].payload).expect("discover");
        let r = sent(&c.handle_on(
            secs(1.1),
            Some(10),
            &reply(d.xid, MessageType::Offer, &std_opts(3600)),
        ));
        c.handle_on(
            secs(1.2),
            Some(10),
            &reply(r.xid, MessageType::Ack, &std_opts(3600)),
        );
        let ev = c.switch_vlan(secs(2.0), 0, None);
        let t = transmits(&ev);
        assert_eq!(
            (t[0].message_type, t[0].vlan),
            (MessageType::Release, Some(10))
        );
        assert_eq!(
            (t[1].message_type, t[1].vlan),
            (MessageType::Discover, None)
        );
        assert_eq!(c.vlan(), None);
    }

    #[test]
    fn on_the_vlan_only_tagged_replies_count_and_the_lease_records_the_vlan() {
        let (mut c, ev) = switched(Some(Duration::from_secs(60)));
        let d = Message::parse(&transmits(&ev)[1].payload).expect("discover");
        let offer = reply(d.xid, MessageType::Offer, &std_opts(3600));
        assert!(c.handle(secs(1.1), &offer).is_empty(), "untagged offer");
        assert!(
            c.handle_on(secs(1.1), Some(20), &offer).is_empty(),
            "other VLAN"
        );
        let ev = c.handle_on(secs(1.2), Some(10), &offer);
        assert_eq!(transmits(&ev)[0].vlan, Some(10));
        let r = sent(&ev);
        let ev = c.handle_on(
            secs(1.3),
            Some(10),
            &reply(r.xid, MessageType::Ack, &std_opts(3600)),
        );
        match &ev[..] {
            [Event::Bound(l)] => assert_eq!(l.vlan, Some(10)),
            other => panic!("expected a lease, got {other:?}"),
        }
        // Renewal stays on the VLAN.
        let ev = c.poll(secs(1.2 + 1800.1));
        assert_eq!(transmits(&ev)[0].vlan, Some(10));
    }

    #[test]
    fn vlantest_expiry_without_an_offer_falls_back_to_untagged_dhcp() {
        let (mut c, _) = switched(Some(Duration::from_secs(60)));
        assert_eq!(c.next_deadline().map(|d| d <= secs(61.0)), Some(true));
        let mut t = secs(1.0);
        let mut tagged = 0;
        let mut fell_back_at = None;
        while t < secs(120.0) && fell_back_at.is_none() {
            t += Duration::from_millis(100);
            for e in c.poll(t) {
                match e {
                    Event::Transmit(tx) if tx.vlan == Some(10) => tagged += 1,
                    Event::VlanFallback { vlan: 10, waited } => {
                        assert!(waited >= Duration::from_secs(60));
                        fell_back_at = Some(t);
                    }
                    _ => {}
                }
            }
        }
        let at = fell_back_at.expect("fell back");
        assert!((at.as_secs_f64() - 61.0).abs() < 0.2, "{at:?}");
        assert!(
            tagged >= 3,
            "tagged DISCOVERs retransmitted meanwhile: {tagged}"
        );
        assert_eq!(c.vlan(), None);
        // The very next DISCOVER is untagged, and untagged offers count again.
        let ev = c.poll(t);
        assert!(ev.is_empty() || transmits(&ev).iter().all(|t| t.vlan.is_none()));
    }

    #[test]
    fn vlantest_zero_keeps_dhcp_on_the_vlan_forever() {
        let (mut c, _) = switched(None);
        let mut t = secs(1.0);
        while t < secs(1000.0) {
            t += Duration::from_millis(500);
            for e in c.poll(t) {
                match e {
                    Event::Transmit(tx) => assert_eq!(tx.vlan, Some(10)),
                    Event::VlanFallback { .. } => panic!("fell back with VLANTEST=0"),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn an_offer_on_the_vlan_disarms_vlantest_and_a_reboot_starts_untagged() {
        let (mut c, ev) = switched(Some(Duration::from_secs(60)));
        let d = Message::parse(&transmits(&ev)[1].payload).expect("discover");
        let r = sent(&c.handle_on(
            secs(1.5),
            Some(10),
            &reply(d.xid, MessageType::Offer, &std_opts(3600)),
        ));
        // The ACK never comes: REQUESTING gives up, SELECTING again, still on the VLAN.
        let mut t = secs(1.5);
        while t < secs(200.0) {
            t += Duration::from_millis(250);
            for e in c.poll(t) {
                assert!(
                    !matches!(e, Event::VlanFallback { .. }),
                    "offer seen: no fallback"
                );
            }
        }
        let _ = r;
        assert_eq!(c.vlan(), Some(10));
        c.restart();
        assert_eq!(c.vlan(), None);
        assert_eq!(transmits(&c.poll(t))[0].vlan, None);
    }

    #[test]
    fn unanswered_requests_fall_back_to_init() {
        let mut c = client();
        let d = sent(&c.poll(Duration::ZERO));
        sent(&c.handle(secs(0.0), &reply(d.xid, MessageType::Offer, &std_opts(60))));
        let mut t = Duration::ZERO;
        let mut discovered = false;
        while t < secs(200.0) && !discovered {
            t += Duration::from_millis(100);
            for e in c.poll(t) {
                if let Event::Transmit(tx) = e {
                    discovered |= tx.message_type == MessageType::Discover;
                }
            }
        }
        assert!(discovered, "client should restart discovery");
    }
}
