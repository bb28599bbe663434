//! Scenario rules: where the server departs on purpose from its ordinary answers, so a
//! scenario can watch what a phone does when its DHCP server stays silent, answers late or
//! refuses a REQUEST.
//!
//! Owns: the [`Rule`] type and its serde shape (internally tagged by `action` =
//! `drop_first` | `nak_request` | `delay` | `answer_after`; message types by their event names,
//! `DISCOVER`, `REQUEST`, …; durations in whole milliseconds as `delay_ms` / `after_ms`), which
//! rule matches which message, and the per-client message counts the rules are keyed on.
//!
//! Never: builds replies or events (the server module does), reads a clock (time is the `now`
//! the server is handed), sleeps (a delay leaves the core as data on the reply and the shell
//! waits).
//!
//! Counting: the Nth message of a type from a MAC is the Nth `received` event of that type
//! from that MAC on the timeline, whatever became of the earlier ones (dropped, NAKed,
//! ignored). Only messages that give a `received` event with a valid option 53 count.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::wire::MessageType;

/// One scenario rule. Several may be given; they are looked at in the order listed.
///
/// JSON / TOML shape, one per variant:
/// `{"action":"drop_first","msg_type":"DISCOVER","count":2}`,
/// `{"action":"nak_request","nth":2}`,
/// `{"action":"delay","msg_type":"DISCOVER","delay_ms":1500}`,
/// `{"action":"answer_after","after_ms":10000}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// Stay silent to the first `count` messages of `msg_type` from each client, as if the
    /// datagram had been lost: no reply, no change to the lease table, a `dropped` event.
    DropFirst { msg_type: MessageType, count: u32 },
    /// Answer the `nth` (1-based) REQUEST from each client with a NAK, whatever the client's
    /// state (selecting, init-reboot, renewing, rebinding: RFC 2131 §4.3.2) and whatever the
    /// answer would have been; the lease table is left as it was. Counting starts at 1, so 0
    /// never matches.
    NakRequest { nth: u32 },
    /// Hold every reply to `msg_type` for `delay` after the message arrived. Delays of several
    /// matching rules add up.
    Delay {
        msg_type: MessageType,
        #[serde(rename = "delay_ms", with = "millis")]
        #[schemars(with = "u64")]
        delay: Duration,
    },
    /// Stay silent (as [`Rule::DropFirst`]) to every message that arrives earlier than `after`
    /// since the server started.
    AnswerAfter {
        #[serde(rename = "after_ms", with = "millis")]
        #[schemars(with = "u64")]
        after: Duration,
    },
}

impl Rule {
    /// Whether this rule silences the `nth` message of type `ty` arriving at `now`.
    pub(crate) fn drops(&self, now: Duration, ty: MessageType, nth: u32) -> bool {
        match self {
            Rule::DropFirst { msg_type, count } => *msg_type == ty && nth <= *count,
            Rule::AnswerAfter { after } => now < *after,
            Rule::NakRequest { .. } | Rule::Delay { .. } => false,
        }
    }

    /// Whether this rule turns the answer to the `nth` message of type `ty` into a NAK.
    pub(crate) fn naks(&self, ty: MessageType, nth: u32) -> bool {
        matches!(self, Rule::NakRequest { nth: n } if ty == MessageType::Request && *n == nth)
    }

    /// How long this rule holds a reply to a message of type `ty`, if it does.
    pub(crate) fn delay(&self, ty: MessageType) -> Option<Duration> {
        match self {
            Rule::Delay { msg_type, delay } if *msg_type == ty => Some(*delay),
            _ => None,
        }
    }
}

/// How many messages of each type each client has sent.
#[derive(Debug, Default)]
pub(crate) struct Counts(BTreeMap<([u8; 6], u8), u32>);

impl Counts {
    /// Counts one more message of type `ty` from `mac` and returns its 1-based number.
    pub(crate) fn bump(&mut self, mac: [u8; 6], ty: MessageType) -> u32 {
        let n = self.0.entry((mac, ty.code())).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }
}

/// A [`Duration`] as whole milliseconds (sub-millisecond parts are cut off, an absurdly long
/// one saturates at `u64::MAX`).
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn as_millis(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(as_millis(*d))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_round_trips() {
        let cases = [
            (
                Rule::DropFirst {
                    msg_type: MessageType::Discover,
                    count: 2,
                },
                r#"{"action":"drop_first","msg_type":"DISCOVER","count":2}"#,
            ),
            (
                Rule::NakRequest { nth: 2 },
                r#"{"action":"nak_request","nth":2}"#,
            ),
            (
                Rule::Delay {
                    msg_type: MessageType::Request,
                    delay: Duration::from_millis(1500),
                },
                r#"{"action":"delay","msg_type":"REQUEST","delay_ms":1500}"#,
            ),
            (
                Rule::AnswerAfter {
                    after: Duration::from_secs(10),
                },
                r#"{"action":"answer_after","after_ms":10000}"#,
            ),
        ];
        for (rule, json) in cases {
            assert_eq!(serde_json::to_string(&rule).unwrap(), json);
            assert_eq!(serde_json::from_str::<Rule>(json).unwrap(), rule);
        }
    }

    #[test]
    fn message_types_read_by_name_any_case_or_by_code() {
        let read = |json: &str| serde_json::from_str::<Rule>(json);
        let want = Rule::DropFirst {
            msg_type: MessageType::Inform,
            count: 1,
        };
        for ty in [r#""INFORM""#, r#""inform""#, "8"] {
            let json = format!(r#"{{"action":"drop_first","msg_type":{ty},"count":1}}"#);
            assert_eq!(read(&json).unwrap(), want, "{json}");
        }
        let unknown = read(r#"{"action":"drop_first","msg_type":"UNKNOWN(42)","count":1}"#);
        assert_eq!(
            unknown.unwrap(),
            Rule::DropFirst {
                msg_type: MessageType::Unknown(42),
                count: 1
            }
        );
        assert!(read(r#"{"action":"drop_first","msg_type":"DISCOVERY","count":1}"#).is_err());
        assert!(read(r#"{"action":"drop_first","msg_type":256,"count":1}"#).is_err());
        assert!(read(r#"{"action":"nak_request","nth":2,"state":"renewing"}"#).is_err());
        assert!(read(r#"{"action":"drop_all"}"#).is_err());
        assert!(read(r#"{"action":"delay","msg_type":"DISCOVER","delay_ms":-1}"#).is_err());
    }

    #[test]
    fn matching() {
        let drop2 = Rule::DropFirst {
            msg_type: MessageType::Discover,
            count: 2,
        };
        assert!(drop2.drops(Duration::ZERO, MessageType::Discover, 1));
        assert!(drop2.drops(Duration::ZERO, MessageType::Discover, 2));
        assert!(!drop2.drops(Duration::ZERO, MessageType::Discover, 3));
        assert!(!drop2.drops(Duration::ZERO, MessageType::Request, 1));

        let after = Rule::AnswerAfter {
            after: Duration::from_secs(5),
        };
        assert!(after.drops(Duration::from_millis(4999), MessageType::Release, 7));
        assert!(!after.drops(Duration::from_secs(5), MessageType::Discover, 1));

        let nak = Rule::NakRequest { nth: 2 };
        assert!(nak.naks(MessageType::Request, 2));
        assert!(!nak.naks(MessageType::Request, 1));
        assert!(!nak.naks(MessageType::Request, 3));
        assert!(!nak.naks(MessageType::Discover, 2));

        let delay = Rule::Delay {
            msg_type: MessageType::Discover,
            delay: Duration::from_secs(1),
        };
        assert_eq!(
            delay.delay(MessageType::Discover),
            Some(Duration::from_secs(1))
        );
        assert_eq!(delay.delay(MessageType::Request), None);
        for r in [&drop2, &after, &nak] {
            assert_eq!(r.delay(MessageType::Discover), None);
        }
        assert!(!delay.drops(Duration::ZERO, MessageType::Discover, 1));
        assert!(!delay.naks(MessageType::Request, 1));
    }

    #[test]
    fn counts_are_per_mac_and_type() {
        let mut c = Counts::default();
        let a = [2, 0, 0, 0, 0, 1];
        let b = [2, 0, 0, 0, 0, 2];
        assert_eq!(c.bump(a, MessageType::Discover), 1);
        assert_eq!(c.bump(a, MessageType::Discover), 2);
        assert_eq!(c.bump(a, MessageType::Request), 1);
        assert_eq!(c.bump(b, MessageType::Discover), 1);
        assert_eq!(c.bump(a, MessageType::Discover), 3);
    }
}
