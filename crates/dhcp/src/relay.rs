//! A DHCP relay agent core, sans-IO: a datagram from one side in, what to send on the other
//! side out.
//!
//! Owns: what a relay agent does to a BOOTREQUEST heard on the client's segment (RFC 1542
//! §4.1.1, RFC 2131 §4.1: count the hop, set `giaddr` to the agent's address on that segment
//! when it is zero, add the relay agent information option per RFC 3046 §2.1, forward to each
//! configured server's port 67) and to a BOOTREPLY from a server (RFC 1542 §4.1.2 and §5.4:
//! accept only one whose `giaddr` is ours, remove option 82 before the client sees it, RFC
//! 3046 §2.1, and deliver it on the client's segment to port 68 — broadcast or unicast to
//! `yiaddr` at `chaddr`).
//!
//! Never: touches sockets, clocks or the lease table (a relay keeps no state per client), and
//! panics on any input: every message it cannot handle becomes a [`Discard`] naming why.
//!
//! Decisions where the RFCs leave room:
//! - Hops: a request whose `hops` is already over `max_hops` is discarded (RFC 1542 §4.1.1:
//!   "MUST silently discard … whose 'hops' field exceeds the value 16", a smaller threshold
//!   configurable, 4 by default); [`RelayConfig::max_hops`] is capped at 16.
//! - The client's circuit is untrusted (a phone port): a request that arrives with option 82
//!   already present and `giaddr` zero is discarded (RFC 3046 §2.1: such a packet from an
//!   untrusted circuit "SHALL" be discarded). One with `giaddr` already set came through a
//!   relay closer to the client and is forwarded with its `giaddr` and its option 82
//!   untouched, no second option 82 added (RFC 3046 §2.1.1; RFC 1542 §4.1.1: a relay does
//!   not change a non-zero `giaddr`).
//! - Option 82 is added only when this agent sets `giaddr` (it is the first hop, and its
//!   circuit-id names the circuit the client is on), only when a circuit-id or remote-id is
//!   configured, as the last option before END (RFC 3046 §2.1); when the request would then
//!   be longer than [`MAX_FORWARD`] (one Ethernet frame) it is forwarded without it, as
//!   RFC 3046 §2.1 allows.
//! - A reply's option 82: absent is fine (a server unaware of option 82 does not echo it,
//!   RFC 3046 §2.2); present, it must carry exactly the circuit-id this agent inserts (none
//!   when it inserts none), or the reply is discarded — it was not answered to our request.
//! - Delivery (RFC 1542 §5.4, RFC 2131 §4.1 table): broadcast when the broadcast bit is set,
//!   when the client has no Ethernet address the agent can unicast to (`htype` 1, `hlen` 6
//!   are needed), or when the reply carries neither `yiaddr` nor `ciaddr` (a NAK); else
//!   unicast to `yiaddr` (or `ciaddr` for an INFORM's ACK) at `chaddr`.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::wire::{self, Header, MIN_BOOTP_LEN};

/// The relay agent information option (RFC 3046 §2.0).
pub const OPT_RELAY_AGENT_INFO: u8 = 82;
/// Sub-option 1 of option 82: the agent circuit id.
pub const SUB_CIRCUIT_ID: u8 = 1;
/// Sub-option 2 of option 82: the agent remote id.
pub const SUB_REMOTE_ID: u8 = 2;
/// RFC 1542 §4.1.1: the default hops threshold.
pub const DEFAULT_MAX_HOPS: u8 = 4;
/// RFC 1542 §4.1.1: the threshold is never above 16.
pub const HOPS_LIMIT: u8 = 16;
/// The longest request the agent forwards after adding option 82: an Ethernet MTU (1500)
/// less the IPv4 (20) and UDP (8) headers.
pub const MAX_FORWARD: usize = 1472;

const BOOTREQUEST: u8 = 1;
const BOOTREPLY: u8 = 2;
const SERVER_PORT: u16 = 67;
const HTYPE_ETHERNET: u8 = 1;

/// What the agent is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// The agent's address on the client's segment: `giaddr` of what it forwards, and the
    /// only `giaddr` it accepts replies for.
    pub address: Ipv4Addr,
    /// The DHCP servers requests are forwarded to (port 67), in order (`ip helper-address`).
    pub servers: Vec<Ipv4Addr>,
    /// Option 82 sub-option 1, when the agent inserts one.
    pub circuit_id: Option<Vec<u8>>,
    /// Option 82 sub-option 2, when the agent inserts one.
    pub remote_id: Option<Vec<u8>>,
    /// Requests whose `hops` is over this are discarded (at most [`HOPS_LIMIT`]).
    pub max_hops: u8,
}

impl RelayConfig {
    /// An agent at `address` forwarding to `servers`, without option 82, default hops limit.
    pub fn new(address: Ipv4Addr, servers: Vec<Ipv4Addr>) -> RelayConfig {
        RelayConfig {
            address,
            servers,
            circuit_id: None,
            remote_id: None,
            max_hops: DEFAULT_MAX_HOPS,
        }
    }

    /// The option 82 value this agent inserts, `None` when it inserts none: circuit-id
    /// first, then remote-id (RFC 3046 §2.0), each cut to the 255 bytes a sub-option holds.
    pub fn agent_info(&self) -> Option<Vec<u8>> {
        let mut value = Vec::new();
        for (code, sub) in [
            (SUB_CIRCUIT_ID, &self.circuit_id),
            (SUB_REMOTE_ID, &self.remote_id),
        ] {
            if let Some(v) = sub {
                let v = &v[..v.len().min(usize::from(u8::MAX))];
                value.push(code);
                value.push(u8::try_from(v.len()).unwrap_or(u8::MAX));
                value.extend_from_slice(v);
            }
        }
        (!value.is_empty()).then_some(value)
    }
}

/// A request to send to the servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The message as forwarded.
    pub bytes: Vec<u8>,
    /// Each server's port 67.
    pub to: Vec<SocketAddrV4>,
    /// Whether this agent set `giaddr` (false: a relay closer to the client had).
    pub set_giaddr: bool,
    /// Whether this agent added option 82.
    pub added_agent_info: bool,
}

/// A reply to put on the client's segment, to port 68.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliver {
    /// The reply without option 82.
    pub bytes: Vec<u8>,
    pub dest: ClientDest,
}

/// Where on the client's segment a reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientDest {
    /// Ethernet ff:ff:ff:ff:ff:ff, IP 255.255.255.255.
    Broadcast,
    /// The client's Ethernet address and the address it is given (or has).
    Unicast { mac: [u8; 6], ip: Ipv4Addr },
}

/// Why a message is not relayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Discard {
    #[error("not a dhcp message: {0}")]
    Malformed(wire::WireError),
    #[error("op {op} from the {side} side (expected {expected})")]
    WrongOp {
        op: u8,
        side: &'static str,
        expected: &'static str,
    },
    #[error("hops {hops} is over the limit of {max}")]
    TooManyHops { hops: u8, max: u8 },
    #[error(
        "option 82 already present with giaddr 0.0.0.0 on an untrusted circuit (rfc 3046 §2.1)"
    )]
    UntrustedAgentInfo,
    #[error("no server to forward to")]
    NoServer,
    #[error("giaddr {giaddr} is not this agent's address {ours}")]
    NotOurs { giaddr: Ipv4Addr, ours: Ipv4Addr },
    #[error("option 82 circuit-id {found} is not the one this agent inserts ({ours})")]
    ForeignCircuit { found: String, ours: String },
    #[error("the options field cannot be walked to remove option 82")]
    UnwalkableOptions,
}

/// The relay agent.
#[derive(Debug, Clone)]
pub struct RelayAgent {
    config: RelayConfig,
    agent_info: Option<Vec<u8>>,
}

impl RelayAgent {
    pub fn new(mut config: RelayConfig) -> RelayAgent {
        config.max_hops = config.max_hops.min(HOPS_LIMIT);
        let agent_info = config.agent_info();
        RelayAgent { config, agent_info }
    }

    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// A datagram heard on the client's segment, port 67.
    pub fn from_client(&self, bytes: &[u8]) -> Result<Forward, Discard> {
        let msg = wire::walk(bytes).map_err(Discard::Malformed)?;
        let h = &msg.header;
        if h.op != BOOTREQUEST {
            return Err(Discard::WrongOp {
                op: h.op,
                side: "client",
                expected: "1, bootrequest",
            });
        }
        if h.hops > self.config.max_hops {
            return Err(Discard::TooManyHops {
                hops: h.hops,
                max: self.config.max_hops,
            });
        }
        if self.config.servers.is_empty() {
            return Err(Discard::NoServer);
        }
        let has_agent_info = msg.count(OPT_RELAY_AGENT_INFO) > 0;
        let set_giaddr = h.giaddr.is_unspecified();
        if set_giaddr && has_agent_info {
            return Err(Discard::UntrustedAgentInfo);
        }
        let mut out = bytes.to_vec();
        // hops (offset 3) and giaddr (offset 24) are fixed header fields; `walk` succeeded,
        // so the header is all there.
        out[3] = h.hops.saturating_add(1);
        if set_giaddr {
            out[24..28].copy_from_slice(&self.config.address.octets());
        }
        let mut added_agent_info = false;
        if set_giaddr && let Some(info) = &self.agent_info {
            let mut with = out.clone();
            if wire::insert_before_end(&mut with, OPT_RELAY_AGENT_INFO, info) {
                trim_padding(&mut with);
                if with.len() <= MAX_FORWARD {
                    out = with;
                    added_agent_info = true;
                }
            }
        }
        Ok(Forward {
            bytes: out,
            to: self
                .config
                .servers
                .iter()
                .map(|ip| SocketAddrV4::new(*ip, SERVER_PORT))
                .collect(),
            set_giaddr,
            added_agent_info,
        })
    }

    /// A datagram from a server, port 67.
    pub fn from_server(&self, bytes: &[u8]) -> Result<Deliver, Discard> {
        let msg = wire::walk(bytes).map_err(Discard::Malformed)?;
        let h = &msg.header;
        if h.op != BOOTREPLY {
            return Err(Discard::WrongOp {
                op: h.op,
                side: "server",
                expected: "2, bootreply",
            });
        }
        if h.giaddr != self.config.address {
            return Err(Discard::NotOurs {
                giaddr: h.giaddr,
                ours: self.config.address,
            });
        }
        if let Some(echoed) = msg.concatenated(OPT_RELAY_AGENT_INFO) {
            let found = circuit_id(&echoed);
            let ours = self.config.circuit_id.as_deref();
            if found != ours {
                let show = |v: Option<&[u8]>| v.map_or_else(|| "none".to_string(), hex::encode);
                return Err(Discard::ForeignCircuit {
                    found: show(found),
                    ours: show(ours),
                });
            }
        }
        let mut out = bytes.to_vec();
        wire::remove_option(&mut out, OPT_RELAY_AGENT_INFO).ok_or(Discard::UnwalkableOptions)?;
        Ok(Deliver {
            dest: client_dest(h),
            bytes: out,
        })
    }
}

/// Sub-option 1 of an option 82 value, when it has one.
fn circuit_id(info: &[u8]) -> Option<&[u8]> {
    let mut rest = info;
    while let [code, len, tail @ ..] = rest {
        let (value, tail) = tail.split_at_checked(usize::from(*len))?;
        if *code == SUB_CIRCUIT_ID {
            return Some(value);
        }
        rest = tail;
    }
    None
}

/// Pad bytes after END that only filled the message up to the BOOTP minimum are dropped
/// again once an added option has made it longer.
fn trim_padding(bytes: &mut Vec<u8>) {
    while bytes.len() > MIN_BOOTP_LEN && bytes.last() == Some(&wire::OPT_PAD) {
        bytes.pop();
    }
}

/// RFC 1542 §5.4 and RFC 2131 §4.1: where a reply goes on the client's segment.
fn client_dest(h: &Header) -> ClientDest {
    let ethernet = h.htype == HTYPE_ETHERNET && h.hlen == 6;
    if h.broadcast() || !ethernet {
        return ClientDest::Broadcast;
    }
    let ip = if !h.yiaddr.is_unspecified() {
        h.yiaddr
    } else if !h.ciaddr.is_unspecified() {
        h.ciaddr
    } else {
        return ClientDest::Broadcast;
    };
    ClientDest::Unicast { mac: h.mac(), ip }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::{OPTIONS_OFFSET, encode, walk};
    use proptest::prelude::*;

    const AGENT: Ipv4Addr = Ipv4Addr::new(10, 66, 1, 1);
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
    const MAC: [u8; 6] = [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a];

    fn agent(circuit: Option<&str>, remote: Option<&str>) -> RelayAgent {
        RelayAgent::new(RelayConfig {
            circuit_id: circuit.map(|c| c.as_bytes().to_vec()),
            remote_id: remote.map(|r| r.as_bytes().to_vec()),
            ..RelayConfig::new(AGENT, vec![SERVER])
        })
    }

    fn header(op: u8) -> Header {
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&MAC);
        Header {
            op,
            htype: 1,
            hlen: 6,
            xid: 0x0102_0304,
            chaddr,
            ..Header::default()
        }
    }

    fn discover() -> Vec<u8> {
        encode(&header(1), &[(53, vec![1]), (55, vec![1, 3, 242])])
    }

    #[test]
    fn a_discover_gets_a_hop_our_giaddr_and_option_82_as_its_last_option() {
        let fwd = agent(Some("port-1"), Some("sw-a"))
            .from_client(&discover())
            .unwrap();
        assert!(fwd.set_giaddr && fwd.added_agent_info);
        assert_eq!(fwd.to, vec![SocketAddrV4::new(SERVER, 67)]);
        let b = &fwd.bytes;
        assert_eq!(b[3], 1, "hops");
        assert_eq!(&b[24..28], &[10, 66, 1, 1], "giaddr");
        // 53, 55, then 82 = [1, 6, "port-1", 2, 4, "sw-a"], then END; padding up to 300.
        let mut opts = vec![53, 1, 1, 55, 3, 1, 3, 242, 82, 14, 1, 6];
        opts.extend_from_slice(b"port-1");
        opts.extend_from_slice(&[2, 4]);
        opts.extend_from_slice(b"sw-a");
        opts.push(255);
        assert_eq!(&b[OPTIONS_OFFSET..OPTIONS_OFFSET + opts.len()], &opts[..]);
        assert_eq!(b.len(), MIN_BOOTP_LEN);
        assert!(b[OPTIONS_OFFSET + opts.len()..].iter().all(|&x| x == 0));
        // Everything else is as the client sent it.
        let mut original = discover();
        original[3] = 1;
        original[24..28].copy_from_slice(&[10, 66, 1, 1]);
        assert_eq!(&b[..OPTIONS_OFFSET + 8], &original[..OPTIONS_OFFSET + 8]);
    }

    #[test]
    fn without_ids_no_option_82_is_added() {
        let fwd = agent(None, None).from_client(&discover()).unwrap();
        assert!(!fwd.added_agent_info);
        let mut expected = discover();
        expected[3] = 1;
        expected[24..28].copy_from_slice(&AGENT.octets());
        assert_eq!(fwd.bytes, expected);
    }

    #[test]
    fn a_request_relayed_before_keeps_its_giaddr_and_option_82() {
        let mut h = header(1);
        h.hops = 1;
        h.giaddr = Ipv4Addr::new(10, 9, 9, 1);
        let bytes = encode(&h, &[(53, vec![1]), (82, vec![1, 1, b'x'])]);
        let fwd = agent(Some("port-1"), None).from_client(&bytes).unwrap();
        assert!(!fwd.set_giaddr && !fwd.added_agent_info);
        let mut expected = bytes.clone();
        expected[3] = 2;
        assert_eq!(fwd.bytes, expected);
        // Relayed before without option 82: no option 82 of ours either.
        let plain = encode(&h, &[(53, vec![1])]);
        let fwd = agent(Some("port-1"), None).from_client(&plain).unwrap();
        assert_eq!(walk(&fwd.bytes).unwrap().count(82), 0);
    }

    #[test]
    fn option_82_from_the_client_itself_is_discarded() {
        let bytes = encode(&header(1), &[(53, vec![1]), (82, vec![1, 1, b'x'])]);
        assert_eq!(
            agent(None, None).from_client(&bytes),
            Err(Discard::UntrustedAgentInfo)
        );
    }

    #[test]
    fn hops_over_the_limit_are_discarded_and_the_limit_is_capped_at_16() {
        let mut h = header(1);
        h.hops = DEFAULT_MAX_HOPS;
        h.giaddr = Ipv4Addr::new(10, 9, 9, 1);
        let at = encode(&h, &[(53, vec![1])]);
        assert_eq!(agent(None, None).from_client(&at).unwrap().bytes[3], 5);
        h.hops = DEFAULT_MAX_HOPS + 1;
        let over = encode(&h, &[(53, vec![1])]);
        assert_eq!(
            agent(None, None).from_client(&over),
            Err(Discard::TooManyHops { hops: 5, max: 4 })
        );
        let wide = RelayAgent::new(RelayConfig {
            max_hops: 200,
            ..RelayConfig::new(AGENT, vec![SERVER])
        });
        assert_eq!(wide.config().max_hops, HOPS_LIMIT);
        h.hops = 17;
        assert!(matches!(
            wide.from_client(&encode(&h, &[(53, vec![1])])),
            Err(Discard::TooManyHops { hops: 17, max: 16 })
        ));
    }

    #[test]
    fn replies_and_garbage_from_the_client_side_are_not_forwarded() {
        let a = agent(None, None);
        assert!(matches!(
            a.from_client(&encode(&header(2), &[(53, vec![2])])),
            Err(Discard::WrongOp { op: 2, .. })
        ));
        assert!(matches!(
            a.from_client(&[1, 2, 3]),
            Err(Discard::Malformed(_))
        ));
        let none = RelayAgent::new(RelayConfig::new(AGENT, Vec::new()));
        assert_eq!(none.from_client(&discover()), Err(Discard::NoServer));
    }

    #[test]
    fn a_long_request_goes_without_option_82_rather_than_over_one_frame() {
        let big = encode(&header(1), &[(53, vec![1]), (43, vec![7; 1200])]);
        assert!(big.len() <= MAX_FORWARD);
        let long_id = "c".repeat(255);
        let fwd = agent(Some(&long_id), Some(&long_id))
            .from_client(&big)
            .unwrap();
        assert!(!fwd.added_agent_info);
        assert_eq!(fwd.bytes.len(), big.len());
    }

    fn offer(flags: u16, yiaddr: Ipv4Addr, info: Option<Vec<u8>>) -> Vec<u8> {
        let mut h = header(2);
        h.flags = flags;
        h.yiaddr = yiaddr;
        h.giaddr = AGENT;
        h.hops = 1;
        let mut opts = vec![(53, vec![2]), (54, SERVER.octets().to_vec())];
        if let Some(i) = info {
            opts.push((82, i));
        }
        encode(&h, &opts)
    }

    #[test]
    fn a_reply_loses_option_82_and_goes_to_yiaddr_at_chaddr() {
        let yiaddr = Ipv4Addr::new(10, 66, 1, 100);
        let echoed = vec![1, 6, b'p', b'o', b'r', b't', b'-', b'1'];
        let d = agent(Some("port-1"), None)
            .from_server(&offer(0, yiaddr, Some(echoed)))
            .unwrap();
        assert_eq!(
            d.dest,
            ClientDest::Unicast {
                mac: MAC,
                ip: yiaddr
            }
        );
        assert_eq!(d.bytes, offer(0, yiaddr, None), "the same reply without 82");
    }

    #[test]
    fn the_broadcast_bit_a_nak_and_a_non_ethernet_client_are_broadcast() {
        let a = agent(None, None);
        let yiaddr = Ipv4Addr::new(10, 66, 1, 100);
        let d = a.from_server(&offer(0x8000, yiaddr, None)).unwrap();
        assert_eq!(d.dest, ClientDest::Broadcast);
        let nak = a
            .from_server(&offer(0, Ipv4Addr::UNSPECIFIED, None))
            .unwrap();
        assert_eq!(nak.dest, ClientDest::Broadcast);
        let mut other = offer(0, yiaddr, None);
        other[1] = 6; // IEEE 802 token ring
        assert_eq!(a.from_server(&other).unwrap().dest, ClientDest::Broadcast);
        // An INFORM's ACK carries no yiaddr: to ciaddr at chaddr.
        let mut ack = offer(0, Ipv4Addr::UNSPECIFIED, None);
        ack[12..16].copy_from_slice(&[10, 66, 1, 7]);
        assert_eq!(
            a.from_server(&ack).unwrap().dest,
            ClientDest::Unicast {
                mac: MAC,
                ip: Ipv4Addr::new(10, 66, 1, 7)
            }
        );
    }

    #[test]
    fn replies_for_another_agent_or_circuit_are_discarded() {
        let a = agent(Some("port-1"), None);
        let yiaddr = Ipv4Addr::new(10, 66, 1, 100);
        let mut other = offer(0, yiaddr, None);
        other[24..28].copy_from_slice(&[10, 66, 2, 1]);
        assert!(matches!(
            a.from_server(&other),
            Err(Discard::NotOurs { .. })
        ));
        let foreign = offer(
            0,
            yiaddr,
            Some(vec![1, 6, b'p', b'o', b'r', b't', b'-', b'2']),
        );
        assert_eq!(
            a.from_server(&foreign),
            Err(Discard::ForeignCircuit {
                found: hex::encode("port-2"),
                ours: hex::encode("port-1"),
            })
        );
        // We insert no circuit-id: one in the reply is not ours either.
        let plain = agent(None, Some("sw-a"));
        assert!(matches!(
            plain.from_server(&offer(0, yiaddr, Some(vec![1, 1, b'x']))),
            Err(Discard::ForeignCircuit { .. })
        ));
        // A server that does not echo option 82 is still relayed.
        assert!(a.from_server(&offer(0, yiaddr, None)).is_ok());
        // A request from the server side is not a reply.
        assert!(matches!(
            a.from_server(&discover()),
            Err(Discard::WrongOp { op: 1, .. })
        ));
    }

    #[test]
    fn what_the_agent_forwards_the_server_core_reads_as_relayed() {
        let fwd = agent(Some("port-1"), Some("sw-a"))
            .from_client(&discover())
            .unwrap();
        let m = walk(&fwd.bytes).unwrap();
        assert!(m.findings.is_empty(), "{:?}", m.findings);
        let path = crate::event::RelayPath::read(&m.header, m.concatenated(82).as_deref()).unwrap();
        assert_eq!(path.giaddr, "10.66.1.1");
        assert_eq!(path.hops, 1);
        let names: Vec<&str> = path.agent_info.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["circuit_id", "remote_id"]);
        assert_eq!(path.agent_info[0].value, hex::encode("port-1"));
    }

    proptest! {
        #[test]
        fn any_bytes_from_either_side_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..800),
        ) {
            let a = agent(Some("port-1"), Some("sw-a"));
            let _ = a.from_client(&bytes);
            let _ = a.from_server(&bytes);
        }

        #[test]
        fn any_options_behind_a_valid_header_never_panic(
            op in 1u8..=2,
            hops in any::<u8>(),
            tail in proptest::collection::vec(any::<u8>(), 0..500),
        ) {
            let mut h = header(op);
            h.hops = hops;
            h.giaddr = if op == 2 { AGENT } else { Ipv4Addr::UNSPECIFIED };
            let mut bytes = encode(&h, &[]);
            bytes.truncate(OPTIONS_OFFSET);
            bytes.extend_from_slice(&tail);
            let a = agent(Some("port-1"), None);
            if let Ok(f) = a.from_client(&bytes) {
                prop_assert!(f.bytes.len() <= bytes.len().max(MAX_FORWARD));
                prop_assert_eq!(f.bytes[3], hops + 1);
            }
            if let Ok(d) = a.from_server(&bytes) {
                prop_assert!(d.bytes.len() >= MIN_BOOTP_LEN.min(bytes.len()));
            }
        }
    }
}
