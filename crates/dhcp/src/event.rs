//! What the DHCP server tells the harness timeline: one [`Event`] per message seen, sent,
//! ignored, dropped by a scenario rule or not understood.
//!
//! Owns: the event types and their JSON shape. Checks in scenario files match on these field
//! names (`kind` = `received` | `sent` | `ignored` | `dropped` | `malformed`), so they are
//! plain and stable; addresses are dotted quads, MACs lower-case colon hex, byte strings
//! lower-case hex, scenario rules in their own serde shape (see `rules`), findings typed
//! objects named by `code` (see [`Finding`]).
//!
//! Never: decides anything; the server module fills these in.
//!
//! The JSON Schema derived here is the vocabulary scenario checks are held to: a `match`
//! key the schema does not have is refused when the scenario loads.

use serde::{Deserialize, Serialize};

use crate::fit::MaxSizeFit;
use crate::rules::Rule;
use crate::wire::RawOption;

/// One option as it was on the wire, for the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WireOption {
    pub code: u8,
    pub len: usize,
    /// The value bytes, in lower-case hex once serialised: formatted when the event is
    /// written, not for every message served.
    #[serde(with = "hex_text")]
    #[schemars(with = "String")]
    pub value: Vec<u8>,
}

impl From<&RawOption> for WireOption {
    fn from(o: &RawOption) -> Self {
        WireOption {
            code: o.code,
            len: o.value.len(),
            value: o.value.clone(),
        }
    }
}

/// Bytes as lower-case hex text, as the timeline has always shown option values.
mod hex_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(&text).map_err(serde::de::Error::custom)
    }
}

/// Something odd about a received message that did not stop it from being answered.
/// Serialised as one object whose `code` names it (stable snake_case, listed on
/// [`wire::Finding`](crate::wire::Finding) and [`MessageFinding`]) beside its details:
/// `{"code": "repeated_option", "option": 12, "times": 2}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Finding {
    /// Found while walking the bytes (RFC 2131 §4.1, RFC 3396).
    Wire(crate::wire::Finding),
    /// Found in what the fields and options say (RFC 2131 §2, §4.3.2, table 5).
    Message(MessageFinding),
}

/// A DHCP-level oddity of a client message: header fields, option lengths and what RFC 2131
/// table 5 says each message type must and must not carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum MessageFinding {
    /// `htype` is not 1 (Ethernet).
    HtypeNotEthernet { htype: u8 },
    /// `hlen` is not 6 (Ethernet).
    HlenNotEthernet { hlen: u8 },
    /// Reserved bits of `flags` are set (RFC 2131 §2: must be zero).
    ReservedFlags { flags: u16 },
    /// An option appears more than once; its values were joined (RFC 3396).
    RepeatedOption { option: u8, times: usize },
    /// A fixed-length option has the wrong length and was ignored.
    WrongOptionLength {
        option: u8,
        len: usize,
        expected: usize,
    },
    /// No option 53.
    NoMessageType,
    /// `ciaddr` set in a DISCOVER (table 5: 0).
    CiaddrInDiscover,
    /// Option 54 in a DISCOVER (table 5: must not).
    ServerIdInDiscover,
    /// `ciaddr` set in a REQUEST in SELECTING state (§4.3.2: must be 0).
    CiaddrInSelectingRequest,
    /// Option 50 with `ciaddr` set (§4.3.2: must not when renewing).
    RequestedIpWhileRenewing,
    /// A RELEASE without option 54 (table 5: must).
    ReleaseWithoutServerId,
    /// Option 50 in a RELEASE (table 5: must not).
    RequestedIpInRelease,
    /// A DECLINE without option 54 (table 5: must).
    DeclineWithoutServerId,
    /// A DECLINE without option 50 (table 5: must).
    DeclineWithoutRequestedIp,
    /// Option 50 or 51 in an INFORM (table 5: must not).
    LeaseOptionInInform,
}

/// A DHCP server event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A request from an answered client, as it was on the wire.
    Received {
        xid: u32,
        /// `00:1b:4f:27:31:2a`
        client_mac: String,
        /// `DISCOVER`, `REQUEST`, `DECLINE`, `RELEASE`, `INFORM` (also `OFFER`, `ACK`, `NAK`
        /// if a client sends those), `UNKNOWN(n)`, or `NONE` without option 53.
        msg_type: String,
        ciaddr: String,
        /// Option 50.
        requested_ip: Option<String>,
        /// Option 54.
        server_id: Option<String>,
        /// Option 12, lossy UTF-8.
        hostname: Option<String>,
        /// Option 60, lossy UTF-8.
        vendor_class: Option<String>,
        /// Option 61 in hex.
        client_id: Option<String>,
        /// Option 55 in the order the client sent it.
        parameter_request_list: Vec<u8>,
        /// Option 57, the largest DHCP message (IP datagram) the client accepts.
        #[serde(default)]
        max_message_size: Option<u16>,
        /// Every option in wire order, duplicates kept.
        options: Vec<WireOption>,
        broadcast_flag: bool,
        /// The 802.1Q tag the request arrived with, when the transport knows it.
        vlan: Option<u16>,
        /// How a relay agent carried the request (`giaddr`, `hops`, option 82), when one
        /// did: `None` for a request straight from the client.
        #[serde(default)]
        relay: Option<RelayPath>,
        /// Oddities in the message, wire-level and DHCP-level, each an object whose `code` is
        /// its stable name (see [`Finding`]).
        findings: Vec<Finding>,
    },
    /// A reply the server sent.
    Sent {
        xid: u32,
        client_mac: String,
        /// `OFFER`, `ACK` or `NAK`.
        msg_type: String,
        yiaddr: String,
        siaddr: String,
        /// `broadcast` (Ethernet broadcast), `unicast` (to the client's MAC or address) or
        /// `relay` (to the relay agent at giaddr, port 67).
        dest: String,
        /// The site-specific option's value as text (lossy UTF-8), after RFC 3396 joining.
        site_option: Option<String>,
        /// Option 51 as sent.
        lease_time: Option<u32>,
        /// Every option in wire order, as encoded.
        options: Vec<WireOption>,
        /// The scenario rules that shaped this reply (a `nak_request` that made it a NAK,
        /// `delay`s), in configuration order; empty for an ordinary reply.
        #[serde(default)]
        rules: Vec<Rule>,
        /// How long after the request arrived the reply was held (the sum of the `delay`
        /// rules), in milliseconds; 0 when it went out at once. The event's timestamp is when
        /// it was actually sent.
        #[serde(default)]
        delay_ms: u64,
        /// How the reply met the client's option 57, when the client sent one: what was
        /// dropped or moved into `file`/`sname` to fit, or that it exceeds it.
        #[serde(default)]
        max_size: Option<MaxSizeFit>,
    },
    /// A well-formed datagram the server chose not to answer.
    Ignored {
        client_mac: Option<String>,
        reason: String,
    },
    /// A request a scenario rule silenced (`drop_first`, `answer_after`): not answered and not
    /// acted on, as if it had been lost. Follows the request's `received` event.
    Dropped {
        xid: u32,
        client_mac: String,
        /// `DISCOVER`, `REQUEST`, … as in `received`.
        msg_type: String,
        /// Which message of this type from this client it was, 1-based, counting every
        /// `received` one.
        nth: u32,
        /// The first rule, in configuration order, that silenced it.
        rule: Rule,
    },
    /// A datagram that is not a DHCP message.
    Malformed {
        from: String,
        len: usize,
        error: String,
    },
}

/// The relay agent's part of a request: set when `giaddr` is not 0.0.0.0 or the request
/// carries option 82 (RFC 3046 §2.1; a layer-2 agent may add option 82 without giaddr).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RelayPath {
    /// The relay agent's address, `0.0.0.0` when none set it.
    pub giaddr: String,
    /// Relay agents the request went through (RFC 2131 §2: `hops`).
    pub hops: u8,
    /// Option 82's sub-options in wire order; empty without option 82.
    pub agent_info: Vec<AgentSubOption>,
    /// Bytes at the end of option 82 that do not make a whole sub-option, in hex; `None`
    /// when it is well formed.
    #[serde(default)]
    pub agent_info_trailing: Option<String>,
}

/// One sub-option of option 82 (RFC 3046 §2.0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentSubOption {
    pub code: u8,
    /// `circuit_id` (1), `remote_id` (2, RFC 3046 §2.0), `link_selection` (5, RFC 3527),
    /// `subscriber_id` (6, RFC 3993), `server_id_override` (11, RFC 5107), or `unknown`.
    pub name: String,
    /// The value in lower-case hex.
    pub value: String,
}

/// The name of an option 82 sub-option code, `unknown` for one not listed.
pub fn agent_sub_option_name(code: u8) -> &'static str {
    match code {
        1 => "circuit_id",
        2 => "remote_id",
        5 => "link_selection",
        6 => "subscriber_id",
        11 => "server_id_override",
        _ => "unknown",
    }
}

impl RelayPath {
    /// The relay's part of a request with this header and option 82 value (RFC 3396-joined),
    /// `None` for a request no relay touched.
    pub fn read(h: &crate::wire::Header, agent_info: Option<&[u8]>) -> Option<RelayPath> {
        if h.giaddr.is_unspecified() && agent_info.is_none() {
            return None;
        }
        let mut subs = Vec::new();
        let mut rest = agent_info.unwrap_or_default();
        let mut trailing = None;
        while let Some((&code, tail)) = rest.split_first() {
            let Some((&len, tail)) = tail.split_first() else {
                trailing = Some(hex::encode(rest));
                break;
            };
            let Some((value, tail)) = tail.split_at_checked(usize::from(len)) else {
                trailing = Some(hex::encode(rest));
                break;
            };
            subs.push(AgentSubOption {
                code,
                name: agent_sub_option_name(code).into(),
                value: hex::encode(value),
            });
            rest = tail;
        }
        Some(RelayPath {
            giaddr: h.giaddr.to_string(),
            hops: h.hops,
            agent_info: subs,
            agent_info_trailing: trailing,
        })
    }
}

/// Formats a MAC address as lower-case colon-separated hex.
pub fn format_mac(mac: &[u8; 6]) -> String {
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Option values are kept as bytes and written as lower-case hex, and read back so.
    #[test]
    fn option_values_serialise_as_hex_and_read_back() {
        let o = WireOption::from(&RawOption {
            code: 242,
            len: 16,
            value: b"MCIPADD=10.0.0.1".to_vec(),
            offset: 240,
            area: crate::wire::Area::Options,
        });
        let text = serde_json::to_value(&o).expect("serialise");
        assert_eq!(
            text,
            serde_json::json!({"code": 242, "len": 16, "value": "4d4349504144443d31302e302e302e31"})
        );
        let back: WireOption = serde_json::from_value(text).expect("read back");
        assert_eq!(back, o);
        assert!(
            serde_json::from_value::<WireOption>(
                serde_json::json!({"code": 1, "len": 1, "value": "zz"})
            )
            .is_err()
        );
    }

    #[test]
    fn json_shape_is_plain() {
        let e = Event::Ignored {
            client_mac: Some(format_mac(&[0, 0x1b, 0x4f, 0x27, 0x31, 0x2a])),
            reason: "mac not allowed".into(),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"ignored","client_mac":"00:1b:4f:27:31:2a","reason":"mac not allowed"}"#
        );
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);

        let m = Event::Malformed {
            from: "0.0.0.0".into(),
            len: 3,
            error: "x".into(),
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap()["kind"],
            serde_json::json!("malformed")
        );
    }

    #[test]
    fn sent_without_rule_fields_still_reads() {
        // A timeline saved before `rules` and `delay_ms` existed.
        let json = r#"{"kind":"sent","xid":1,"client_mac":"00:1b:4f:27:31:2a","msg_type":"ACK",
            "yiaddr":"10.0.0.100","siaddr":"0.0.0.0","dest":"unicast","site_option":null,
            "lease_time":3600,"options":[]}"#;
        match serde_json::from_str::<Event>(json).unwrap() {
            Event::Sent {
                rules, delay_ms, ..
            } => {
                assert!(rules.is_empty());
                assert_eq!(delay_ms, 0);
            }
            other => panic!("expected sent, got {other:?}"),
        }
    }
}
