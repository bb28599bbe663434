//! The rogue-server guard's protocol half: the DHCPDISCOVER that asks a segment "is any other
//! DHCP server here?", and reading the answers.
//!
//! Owns: building the probe (a DISCOVER from a given client MAC and xid, broadcast flag set so
//! any server answers with a broadcast the prober hears without claiming the MAC), and
//! deciding whether a received BOOTREPLY answers that probe and who sent it.
//!
//! Never: opens a socket, picks random numbers or reads a clock — the prober's shell
//! (`probe`) does; it hands the MAC and xid in, and the frames it heard.
//!
//! Follows RFC 2131 §4.1 (broadcast bit, server identifier), §4.3.1 (a server answers a
//! DISCOVER with an OFFER) and RFC 2132 §9.6/§9.7.

use std::net::Ipv4Addr;

use crate::wire::{self, Header, MessageType};

/// Option 53, DHCP message type.
const OPT_MESSAGE_TYPE: u8 = 53;
/// Option 54, server identifier.
const OPT_SERVER_ID: u8 = 54;
/// Option 55, parameter request list.
const OPT_PARAMETER_LIST: u8 = 55;
/// Option 61, client identifier.
const OPT_CLIENT_ID: u8 = 61;

/// The probe's DISCOVER (the UDP payload, client port 68 to server port 67).
///
/// The client identifier is the hardware type and `mac` (RFC 2132 §9.14), so a server that
/// keys leases on it sees a client of its own; the parameter request list is the one a
/// minimal client sends (mask, router, DNS): the probe wants an answer, not options.
pub fn probe_discover(mac: [u8; 6], xid: u32) -> Vec<u8> {
    let mut chaddr = [0u8; 16];
    chaddr[..6].copy_from_slice(&mac);
    let header = Header {
        op: 1,
        htype: 1,
        hlen: 6,
        xid,
        // Broadcast: the probing MAC belongs to no interface, so a unicast OFFER to it
        // would not reach the prober on every NIC.
        flags: 0x8000,
        chaddr,
        ..Header::default()
    };
    let mut client_id = vec![1u8];
    client_id.extend_from_slice(&mac);
    wire::encode(
        &header,
        &[
            (OPT_MESSAGE_TYPE, vec![MessageType::Discover.code()]),
            (OPT_CLIENT_ID, client_id),
            (OPT_PARAMETER_LIST, vec![1, 3, 6]),
        ],
    )
}

/// A DHCP server that answered the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignServer {
    /// Its address: the server identifier (option 54) when present, else the IP source.
    pub ip: Ipv4Addr,
    /// The Ethernet source of its answer.
    pub mac: [u8; 6],
    /// What it answered (normally `OFFER`).
    pub msg_type: String,
    /// The address it offered (`yiaddr`).
    pub offered: Ipv4Addr,
}

/// Whether `payload`, received from `src_ip`/`src_mac`, is a server's answer to the probe
/// with `xid` sent from `mac`. Anything else on the segment (other clients' traffic, replies
/// to other clients, malformed datagrams) is `None`: only an answer to the probe proves a
/// server that would answer the phone.
pub fn answer_to_probe(
    payload: &[u8],
    src_ip: Ipv4Addr,
    src_mac: [u8; 6],
    mac: [u8; 6],
    xid: u32,
) -> Option<ForeignServer> {
    let msg = wire::walk(payload).ok()?;
    let h = &msg.header;
    if h.op != 2 || h.xid != xid || h.mac() != mac {
        return None;
    }
    let msg_type = msg
        .concatenated(OPT_MESSAGE_TYPE)
        .and_then(|v| v.first().copied())
        .map_or_else(|| "BOOTP".to_string(), |c| MessageType::from_code(c).name());
    let ip = msg
        .concatenated(OPT_SERVER_ID)
        .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
        .map_or(src_ip, Ipv4Addr::from);
    Some(ForeignServer {
        ip,
        mac: src_mac,
        msg_type,
        offered: h.yiaddr,
    })
}

/// A locally administered, unicast MAC made from `random` bytes (IEEE 802 §8.2: bit 1 of the
/// first octet set, bit 0 clear), so the probe never borrows a vendor's address.
pub fn local_mac(random: [u8; 6]) -> [u8; 6] {
    let mut mac = random;
    mac[0] = (mac[0] | 0x02) & !0x01;
    mac
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::server::{DhcpServer, Output, ServerConfig};
    use std::time::Duration;

    const PROBE_MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
    const SERVER_MAC: [u8; 6] = [0x52, 0x54, 0, 0xaa, 0xbb, 0xcc];

    #[test]
    fn the_probe_is_a_broadcast_discover_from_the_given_mac() {
        let bytes = probe_discover(PROBE_MAC, 0xdead_beef);
        let msg = wire::walk(&bytes).unwrap();
        assert_eq!(msg.header.op, 1);
        assert_eq!(msg.header.xid, 0xdead_beef);
        assert_eq!(msg.header.mac(), PROBE_MAC);
        assert!(msg.header.broadcast());
        assert_eq!(msg.concatenated(53), Some(vec![1]));
        assert_eq!(
            msg.concatenated(61),
            Some(vec![1, 2, 0x11, 0x22, 0x33, 0x44, 0x55])
        );
        assert!(bytes.len() >= wire::MIN_BOOTP_LEN);
    }

    /// Another server (our own core, configured as any ordinary server) offers to the probe,
    /// and the guard names it by its server identifier and MAC.
    #[test]
    fn an_offer_to_the_probe_names_its_server() {
        let mut server = DhcpServer::new(ServerConfig {
            server_ip: Ipv4Addr::new(192, 168, 7, 1),
            pool_start: Ipv4Addr::new(192, 168, 7, 100),
            pool_end: Ipv4Addr::new(192, 168, 7, 110),
            ..ServerConfig::default()
        });
        let out = server.handle(
            Duration::ZERO,
            Ipv4Addr::UNSPECIFIED,
            None,
            &probe_discover(PROBE_MAC, 7),
        );
        let reply = out
            .iter()
            .find_map(|o| match o {
                Output::Send(r) => Some(r.bytes.clone()),
                Output::Event(_) => None,
            })
            .expect("the server offers");
        // The IP source may differ from the identifier (a multi-homed server): option 54 wins.
        let found =
            answer_to_probe(&reply, Ipv4Addr::new(10, 0, 0, 9), SERVER_MAC, PROBE_MAC, 7).unwrap();
        assert_eq!(found.ip, Ipv4Addr::new(192, 168, 7, 1));
        assert_eq!(found.mac, SERVER_MAC);
        assert_eq!(found.msg_type, "OFFER");
        assert_eq!(found.offered, Ipv4Addr::new(192, 168, 7, 100));
        // The same reply is not an answer to another probe, nor to another MAC.
        assert_eq!(
            answer_to_probe(&reply, Ipv4Addr::new(10, 0, 0, 9), SERVER_MAC, PROBE_MAC, 8),
            None
        );
        assert_eq!(
            answer_to_probe(&reply, Ipv4Addr::new(10, 0, 0, 9), SERVER_MAC, [2; 6], 7),
            None
        );
    }

    #[test]
    fn a_reply_without_server_identifier_is_named_by_its_ip_source() {
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&PROBE_MAC);
        let bootp = wire::encode(
            &Header {
                op: 2,
                htype: 1,
                hlen: 6,
                xid: 9,
                chaddr,
                yiaddr: Ipv4Addr::new(10, 1, 1, 5),
                ..Header::default()
            },
            &[],
        );
        let found =
            answer_to_probe(&bootp, Ipv4Addr::new(10, 1, 1, 1), SERVER_MAC, PROBE_MAC, 9).unwrap();
        assert_eq!(found.ip, Ipv4Addr::new(10, 1, 1, 1));
        assert_eq!(found.msg_type, "BOOTP");
    }

    #[test]
    fn requests_and_garbage_are_not_answers() {
        let discover = probe_discover(PROBE_MAC, 1);
        assert_eq!(
            answer_to_probe(&discover, Ipv4Addr::UNSPECIFIED, PROBE_MAC, PROBE_MAC, 1),
            None
        );
        assert_eq!(
            answer_to_probe(b"nonsense", Ipv4Addr::LOCALHOST, SERVER_MAC, PROBE_MAC, 1),
            None
        );
    }

    #[test]
    fn probe_macs_are_locally_administered_unicast() {
        for random in [[0xff; 6], [0; 6], [0x01, 2, 3, 4, 5, 6]] {
            let mac = local_mac(random);
            assert_eq!(mac[0] & 0x02, 0x02, "{mac:?}");
            assert_eq!(mac[0] & 0x01, 0, "{mac:?}");
            assert_eq!(mac[1..], random[1..]);
        }
    }
}
