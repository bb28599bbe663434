//! DHCP wire format, byte for byte: a raw option walker and an order-preserving encoder.
//!
//! Owns: the fixed BOOTP header (RFC 951 / RFC 2131 §2), the magic cookie (RFC 2131 §3,
//! RFC 1497), walking the options area in wire order (RFC 2132 §2 pad/end, RFC 2131 §4.1
//! option 52 overload into `file`/`sname`), RFC 3396 concatenation of repeated options, and
//! encoding replies with options in exactly the caller's order, padded to the 300-byte BOOTP
//! minimum (RFC 1542 §3.1.1).
//!
//! Why our own: typed parsers (dhcproto) sort options, keep only one of two repeats and stop
//! silently at the first malformed option. What a phone really sent — order, duplicates,
//! lengths, offsets — is evidence, so the walker keeps all of it and reports every oddity as a
//! [`Finding`] instead of failing. Only a message whose header or cookie is missing is an
//! error ([`WireError`]).
//!
//! Also owns [`MessageType`] (option 53, RFC 2132 §9.6), the one option value every layer
//! names, so the rules, the server and the harness share it without importing each other.
//!
//! Never: interprets option values (the server module does), panics on any input.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Length of the fixed BOOTP header, up to and excluding the magic cookie.
pub const HEADER_LEN: usize = 236;
/// The DHCP magic cookie (RFC 2131 §3: 99.130.83.99).
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Offset of the first option: header plus cookie.
pub const OPTIONS_OFFSET: usize = HEADER_LEN + 4;
/// Minimum BOOTP message length that relays and old clients expect (RFC 1542 §3.1.1).
pub const MIN_BOOTP_LEN: usize = 300;
/// Offset of the `sname` field in the header.
pub const SNAME_OFFSET: usize = 44;
/// Offset of the `file` field in the header.
pub const FILE_OFFSET: usize = 108;

/// Option code of the pad byte (RFC 2132 §3.1).
pub const OPT_PAD: u8 = 0;
/// Option code of the end marker (RFC 2132 §3.2).
pub const OPT_END: u8 = 255;
/// Option overload (RFC 2132 §9.3).
pub const OPT_OVERLOAD: u8 = 52;

/// The fixed BOOTP header (RFC 2131 §2, figure 1), every field as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub op: u8,
    pub htype: u8,
    pub hlen: u8,
    pub hops: u8,
    pub xid: u32,
    pub secs: u16,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 16],
    pub sname: [u8; 64],
    pub file: [u8; 128],
}

impl Default for Header {
    fn default() -> Self {
        Header {
            op: 0,
            htype: 0,
            hlen: 0,
            hops: 0,
            xid: 0,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; 16],
            sname: [0; 64],
            file: [0; 128],
        }
    }
}

impl Header {
    /// The broadcast bit (RFC 2131 §2, figure 2: the leftmost bit of `flags`).
    pub fn broadcast(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// The first six bytes of `chaddr`: the client's Ethernet address.
    pub fn mac(&self) -> [u8; 6] {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&self.chaddr[..6]);
        mac
    }

    /// Reads the header from the first [`HEADER_LEN`] bytes.
    fn read(b: &[u8; HEADER_LEN]) -> Header {
        let ip = |at: usize| Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]);
        let mut chaddr = [0u8; 16];
        chaddr.copy_from_slice(&b[28..44]);
        let mut sname = [0u8; 64];
        sname.copy_from_slice(&b[SNAME_OFFSET..FILE_OFFSET]);
        let mut file = [0u8; 128];
        file.copy_from_slice(&b[FILE_OFFSET..HEADER_LEN]);
        Header {
            op: b[0],
            htype: b[1],
            hlen: b[2],
            hops: b[3],
            xid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            secs: u16::from_be_bytes([b[8], b[9]]),
            flags: u16::from_be_bytes([b[10], b[11]]),
            ciaddr: ip(12),
            yiaddr: ip(16),
            siaddr: ip(20),
            giaddr: ip(24),
            chaddr,
            sname,
            file,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.op, self.htype, self.hlen, self.hops]);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.secs.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for ip in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            out.extend_from_slice(&ip.octets());
        }
        out.extend_from_slice(&self.chaddr);
        out.extend_from_slice(&self.sname);
        out.extend_from_slice(&self.file);
    }
}

/// Which part of the message an option was found in (RFC 2131 §4.1: options first, then
/// `file` and `sname` when option 52 says they are overloaded).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    Options,
    File,
    Sname,
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Area::Options => "options",
            Area::File => "file",
            Area::Sname => "sname",
        })
    }
}

/// One option exactly as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOption {
    pub code: u8,
    /// The length byte as sent (equals `value.len()`: an option whose length runs past the
    /// end is not kept as an option but reported as [`Finding::OptionOverrun`]).
    pub len: u8,
    pub value: Vec<u8>,
    /// Offset of the code byte from the start of the message.
    pub offset: usize,
    pub area: Area,
}

/// Something odd in a message that did not stop the walk. Serialised as an object whose
/// `code` is the stable snake_case name (`option_overrun`, `missing_length`, `missing_end`,
/// `data_after_end`, `bad_overload`) beside the details; an option's code is `option`.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Finding {
    /// An option's length byte says more than the area holds.
    OptionOverrun {
        area: Area,
        #[serde(rename = "option")]
        code: u8,
        offset: usize,
        declared: u8,
        available: usize,
    },
    /// The area ends right after an option code, with no length byte.
    MissingLength {
        area: Area,
        #[serde(rename = "option")]
        code: u8,
        offset: usize,
    },
    /// The area has no end option (255).
    MissingEnd { area: Area },
    /// Non-pad bytes follow the end option.
    DataAfterEnd {
        area: Area,
        offset: usize,
        len: usize,
    },
    /// Option 52 is present but its value is not a single byte 1, 2 or 3.
    BadOverload { value: Vec<u8> },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::OptionOverrun {
                area,
                code,
                offset,
                declared,
                available,
            } => write!(
                f,
                "option {code} at offset {offset} ({area}) declares length {declared} but only {available} bytes remain"
            ),
            Finding::MissingLength { area, code, offset } => write!(
                f,
                "option {code} at offset {offset} ({area}) has no length byte"
            ),
            Finding::MissingEnd { area } => write!(f, "no end option (255) in {area}"),
            Finding::DataAfterEnd { area, offset, len } => write!(
                f,
                "{len} bytes after the end option at offset {offset} ({area}) are not padding"
            ),
            Finding::BadOverload { value } => write!(
                f,
                "option 52 (overload) has value {} (expected one byte 1, 2 or 3)",
                hex::encode(value)
            ),
        }
    }
}

/// Why a datagram is not a DHCP message at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("message is {len} bytes, shorter than the {HEADER_LEN}-byte bootp header")]
    TruncatedHeader { len: usize },
    #[error("message is {len} bytes: the bootp header is complete but the magic cookie is missing")]
    MissingCookie { len: usize },
    #[error("bad magic cookie {}, expected 63825363", hex::encode(found))]
    BadCookie { found: [u8; 4] },
}

/// A message as walked: header, options in wire order (duplicates kept), oddities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    pub header: Header,
    /// Every option except pad and end, in wire order: the options area first, then the
    /// overloaded `file` and `sname` areas (RFC 2131 §4.1).
    pub options: Vec<RawOption>,
    /// Pad bytes seen before the end option of the options area.
    pub pads: usize,
    /// Offset of the end option of the options area, when there was one.
    pub end_offset: Option<usize>,
    /// Total length of the datagram.
    pub len: usize,
    pub findings: Vec<Finding>,
}

impl RawMessage {
    /// Every occurrence of `code`, in wire order.
    pub fn all(&self, code: u8) -> impl Iterator<Item = &RawOption> {
        self.options.iter().filter(move |o| o.code == code)
    }

    /// How many times `code` occurs.
    pub fn count(&self, code: u8) -> usize {
        self.all(code).count()
    }

    /// The value of `code` with every occurrence concatenated in wire order, as RFC 3396 §5
    /// asks a receiver to do; `None` when the option is absent.
    pub fn concatenated(&self, code: u8) -> Option<Vec<u8>> {
        let mut found = false;
        let mut value = Vec::new();
        for o in self.all(code) {
            found = true;
            value.extend_from_slice(&o.value);
        }
        found.then_some(value)
    }
}

/// Walks one area of options. Returns whether an end option was found.
fn walk_area(
    bytes: &[u8],
    start: usize,
    end: usize,
    area: Area,
    options: &mut Vec<RawOption>,
    findings: &mut Vec<Finding>,
    pads: &mut usize,
) -> Option<usize> {
    let mut at = start;
    while at < end {
        let code = bytes[at];
        match code {
            OPT_PAD => {
                *pads += 1;
                at += 1;
            }
            OPT_END => {
                let rest = &bytes[at + 1..end];
                if let Some(first) = rest.iter().position(|&b| b != OPT_PAD) {
                    let last = rest.iter().rposition(|&b| b != OPT_PAD).unwrap_or(first);
                    findings.push(Finding::DataAfterEnd {
                        area,
                        offset: at + 1 + first,
                        len: last - first + 1,
                    });
                }
                return Some(at);
            }
            _ => {
                if at + 1 >= end {
                    findings.push(Finding::MissingLength {
                        area,
                        code,
                        offset: at,
                    });
                    return None;
                }
                let declared = bytes[at + 1];
                let value_start = at + 2;
                let available = end - value_start;
                if usize::from(declared) > available {
                    findings.push(Finding::OptionOverrun {
                        area,
                        code,
                        offset: at,
                        declared,
                        available,
                    });
                    return None;
                }
                let value_end = value_start + usize::from(declared);
                options.push(RawOption {
                    code,
                    len: declared,
                    value: bytes[value_start..value_end].to_vec(),
                    offset: at,
                    area,
                });
                at = value_end;
            }
        }
    }
    findings.push(Finding::MissingEnd { area });
    None
}

/// Walks a datagram: header, cookie, then every option in wire order.
///
/// Errors only when the header or the cookie is missing or wrong; everything past the cookie
/// is reported as findings.
pub fn walk(bytes: &[u8]) -> Result<RawMessage, WireError> {
    let Some(head) = bytes.first_chunk::<HEADER_LEN>() else {
        return Err(WireError::TruncatedHeader { len: bytes.len() });
    };
    let header = Header::read(head);
    let Some(cookie) = bytes
        .get(HEADER_LEN..OPTIONS_OFFSET)
        .and_then(|c| <[u8; 4]>::try_from(c).ok())
    else {
        return Err(WireError::MissingCookie { len: bytes.len() });
    };
    if cookie != MAGIC_COOKIE {
        return Err(WireError::BadCookie { found: cookie });
    }

    let mut options = Vec::new();
    let mut findings = Vec::new();
    let mut pads = 0usize;
    let end_offset = walk_area(
        bytes,
        OPTIONS_OFFSET,
        bytes.len(),
        Area::Options,
        &mut options,
        &mut findings,
        &mut pads,
    );

    // RFC 2131 §4.1: with option 52 the file and/or sname fields carry more options, read
    // after the options field, file before sname. Pads there are not counted.
    let overload: Vec<u8> = options
        .iter()
        .filter(|o| o.code == OPT_OVERLOAD)
        .flat_map(|o| o.value.iter().copied())
        .collect();
    if options.iter().any(|o| o.code == OPT_OVERLOAD) {
        let which = match overload.as_slice() {
            [v @ 1..=3] => *v,
            _ => {
                findings.push(Finding::BadOverload {
                    value: overload.clone(),
                });
                0
            }
        };
        let mut ignored_pads = 0usize;
        if which & 1 != 0 {
            walk_area(
                bytes,
                FILE_OFFSET,
                HEADER_LEN,
                Area::File,
                &mut options,
                &mut findings,
                &mut ignored_pads,
            );
        }
        if which & 2 != 0 {
            walk_area(
                bytes,
                SNAME_OFFSET,
                FILE_OFFSET,
                Area::Sname,
                &mut options,
                &mut findings,
                &mut ignored_pads,
            );
        }
    }

    Ok(RawMessage {
        header,
        options,
        pads,
        end_offset,
        len: bytes.len(),
        findings,
    })
}

/// Encodes a message with `options` in exactly the given order, then an end option, then pad
/// bytes up to [`MIN_BOOTP_LEN`].
///
/// A value longer than 255 bytes is written as consecutive options of the same code, 255
/// bytes each (RFC 3396 §6), which a receiver concatenates back. Codes 0 and 255 are written
/// as the single pad or end byte they are on the wire (their value is ignored), so a caller
/// can place a deliberate early end or padding between options.
pub fn encode(header: &Header, options: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MIN_BOOTP_LEN);
    header.write(&mut out);
    out.extend_from_slice(&MAGIC_COOKIE);
    for (code, value) in options {
        match *code {
            OPT_PAD | OPT_END => out.push(*code),
            _ if value.is_empty() => out.extend_from_slice(&[*code, 0]),
            _ => {
                for chunk in value.chunks(usize::from(u8::MAX)) {
                    out.push(*code);
                    // chunks() bounds each piece to 255 bytes, so the length fits a u8.
                    out.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
                    out.extend_from_slice(chunk);
                }
            }
        }
    }
    out.push(OPT_END);
    if out.len() < MIN_BOOTP_LEN {
        out.resize(MIN_BOOTP_LEN, OPT_PAD);
    }
    out
}

/// Adds option `code` with `value` (split into 255-byte pieces, RFC 3396) as the last
/// option of an encoded message's options field, just before its END; bytes after END
/// (padding) stay after it. A message without an END in its options field (not one this
/// module encoded) is left as it is, and `false` says so.
pub fn insert_before_end(bytes: &mut Vec<u8>, code: u8, value: &[u8]) -> bool {
    let mut i = HEADER_LEN + MAGIC_COOKIE.len();
    let end = loop {
        match bytes.get(i) {
            None => return false,
            Some(&OPT_END) => break i,
            Some(&OPT_PAD) => i += 1,
            Some(_) => match bytes.get(i + 1) {
                Some(&len) => i += 2 + usize::from(len),
                None => return false,
            },
        }
    };
    let mut option = Vec::with_capacity(value.len() + 2);
    if value.is_empty() {
        option.extend_from_slice(&[code, 0]);
    }
    for chunk in value.chunks(usize::from(u8::MAX)) {
        option.push(code);
        // chunks() bounds each piece to 255 bytes, so the length fits a u8.
        option.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
        option.extend_from_slice(chunk);
    }
    bytes.splice(end..end, option);
    true
}

/// Removes every occurrence of option `code` from an encoded message's options field (the
/// `file` and `sname` areas are left as they are), then pads the message back to the
/// 300-byte BOOTP minimum when it fell below it (RFC 1542 §3.1.1). Returns how many
/// occurrences were removed. A message whose options field ends without an END option or
/// mid-option is left as it is, and `None` says so: what cannot be walked cannot be cut
/// safely.
pub fn remove_option(bytes: &mut Vec<u8>, code: u8) -> Option<usize> {
    let mut i = OPTIONS_OFFSET;
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    loop {
        match *bytes.get(i)? {
            OPT_END => break,
            OPT_PAD => i += 1,
            c => {
                let len = usize::from(*bytes.get(i + 1)?);
                let next = i + 2 + len;
                if next > bytes.len() {
                    return None;
                }
                if c == code {
                    cuts.push((i, next));
                }
                i = next;
            }
        }
    }
    for &(from, to) in cuts.iter().rev() {
        bytes.drain(from..to);
    }
    if bytes.len() < MIN_BOOTP_LEN {
        bytes.resize(MIN_BOOTP_LEN, OPT_PAD);
    }
    Some(cuts.len())
}

/// DHCP message types (RFC 2132 §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
    Unknown(u8),
}

impl MessageType {
    pub fn from_code(code: u8) -> Self {
        match code {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            n => MessageType::Unknown(n),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
            MessageType::Unknown(n) => n,
        }
    }

    /// The upper-case name used in events: `DISCOVER`, …, `UNKNOWN(n)`.
    pub fn name(self) -> String {
        match self {
            MessageType::Discover => "DISCOVER".into(),
            MessageType::Offer => "OFFER".into(),
            MessageType::Request => "REQUEST".into(),
            MessageType::Decline => "DECLINE".into(),
            MessageType::Ack => "ACK".into(),
            MessageType::Nak => "NAK".into(),
            MessageType::Release => "RELEASE".into(),
            MessageType::Inform => "INFORM".into(),
            MessageType::Unknown(n) => format!("UNKNOWN({n})"),
        }
    }

    /// The inverse of [`MessageType::name`], in any letter case; `None` for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        let upper = name.trim().to_ascii_uppercase();
        if let Some(code) = upper
            .strip_prefix("UNKNOWN(")
            .and_then(|rest| rest.strip_suffix(')'))
        {
            return code.parse().ok().map(MessageType::Unknown);
        }
        (1..=8)
            .map(MessageType::from_code)
            .find(|t| t.name() == upper)
    }
}

/// Serialised as its [`MessageType::name`].
impl Serialize for MessageType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// A name in scenario schemas and event vocabularies: the upper-case name, or a code.
impl schemars::JsonSchema for MessageType {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MessageType".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "DHCP message type (RFC 2132 §9.6): DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM, UNKNOWN(n), or its option 53 code",
            "type": ["string", "integer"]
        })
    }
}

/// Read from a name (`"DISCOVER"`, `"discover"`, `"UNKNOWN(42)"`) or an option 53 code (`1`).
impl<'de> Deserialize<'de> for MessageType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = MessageType;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a dhcp message type name (DISCOVER, REQUEST, …) or code 0-255")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MessageType, E> {
                MessageType::from_name(v).ok_or_else(|| {
                    E::custom(format!(
                        "`{v}` is no DHCP message type; one of DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM or UNKNOWN(n)"
                    ))
                })
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<MessageType, E> {
                u8::try_from(v)
                    .map(MessageType::from_code)
                    .map_err(|_| E::custom(format!("dhcp message type code {v} is over 255")))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<MessageType, E> {
                u8::try_from(v)
                    .map(MessageType::from_code)
                    .map_err(|_| E::custom(format!("dhcp message type code {v} is not 0-255")))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    #[test]
    fn an_option_goes_in_before_end_and_padding_stays_after_it() {
        let h = Header {
            op: 2,
            ..Header::default()
        };
        let mut bytes = encode(&h, &[(53, vec![2]), (1, vec![255, 255, 255, 0])]);
        let len = bytes.len();
        assert!(insert_before_end(&mut bytes, 82, &[1, 1, 9]));
        assert_eq!(bytes.len(), len + 5);
        let m = walk(&bytes).unwrap();
        let codes: Vec<u8> = m.options.iter().map(|o| o.code).collect();
        assert_eq!(codes, vec![53, 1, 82]);
        assert!(m.findings.is_empty(), "{:?}", m.findings);
        // Bytes that hold no END in their options field are left alone.
        let mut cut = bytes[..OPTIONS_OFFSET + 3].to_vec();
        assert!(!insert_before_end(&mut cut, 82, &[1]));
        assert_eq!(cut, bytes[..OPTIONS_OFFSET + 3]);
    }
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_option_comes_out_of_the_options_field_in_every_piece() {
        let h = Header {
            op: 2,
            ..Header::default()
        };
        let long: Vec<u8> = (0..300u32).map(|i| (i % 7) as u8).collect();
        let mut bytes = encode(
            &h,
            &[(53, vec![2]), (82, long), (1, vec![255, 255, 255, 0])],
        );
        assert_eq!(remove_option(&mut bytes, 82), Some(2));
        let m = walk(&bytes).unwrap();
        let codes: Vec<u8> = m.options.iter().map(|o| o.code).collect();
        assert_eq!(codes, vec![53, 1]);
        assert!(m.findings.is_empty(), "{:?}", m.findings);
        assert_eq!(bytes.len(), MIN_BOOTP_LEN);
        // Nothing to remove: the bytes stay as they were.
        let before = bytes.clone();
        assert_eq!(remove_option(&mut bytes, 82), Some(0));
        assert_eq!(bytes, before);
        // An options field cut mid-option is not touched.
        let mut cut = bytes[..OPTIONS_OFFSET + 4].to_vec();
        assert_eq!(remove_option(&mut cut, 53), None);
        assert_eq!(cut, bytes[..OPTIONS_OFFSET + 4]);
    }

    fn sample_header() -> Header {
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&[0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a]);
        Header {
            op: 1,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: 0xdead_beef,
            secs: 3,
            flags: 0x8000,
            ciaddr: Ipv4Addr::new(10, 0, 0, 9),
            chaddr,
            ..Header::default()
        }
    }

    #[test]
    fn header_fields_are_at_their_rfc_offsets() {
        let bytes = encode(&sample_header(), &[]);
        assert_eq!(&bytes[0..4], &[1, 1, 6, 0]);
        assert_eq!(&bytes[4..8], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(&bytes[8..10], &[0, 3]);
        assert_eq!(&bytes[10..12], &[0x80, 0]);
        assert_eq!(&bytes[12..16], &[10, 0, 0, 9]);
        assert_eq!(&bytes[28..34], &[0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a]);
        assert_eq!(&bytes[236..240], &[99, 130, 83, 99]);
        assert_eq!(bytes[240], 255);
        assert_eq!(bytes.len(), 300);
        assert!(bytes[241..].iter().all(|&b| b == 0));
    }

    #[test]
    fn walker_keeps_order_duplicates_and_offsets() {
        let mut bytes = encode(&sample_header(), &[]);
        bytes.truncate(OPTIONS_OFFSET);
        // 53=1, pad, 12="AV", 53=3 (duplicate), end, zero padding.
        bytes.extend_from_slice(&[53, 1, 1, 0, 12, 2, b'A', b'V', 53, 1, 3, 255, 0, 0]);
        let m = walk(&bytes).unwrap();
        let codes: Vec<(u8, usize)> = m.options.iter().map(|o| (o.code, o.offset)).collect();
        assert_eq!(codes, vec![(53, 240), (12, 244), (53, 248)]);
        assert_eq!(m.options[1].value, b"AV");
        assert_eq!(m.pads, 1);
        assert_eq!(m.end_offset, Some(251));
        assert!(m.findings.is_empty(), "{:?}", m.findings);
        assert_eq!(m.count(53), 2);
        assert_eq!(m.concatenated(53), Some(vec![1, 3]));
        assert_eq!(m.concatenated(54), None);
    }

    #[test]
    fn walker_reports_overrun_missing_end_and_trailing_data() {
        let base = {
            let mut b = encode(&sample_header(), &[]);
            b.truncate(OPTIONS_OFFSET);
            b
        };
        let mut overrun = base.clone();
        overrun.extend_from_slice(&[53, 1, 1, 12, 9, b'x']);
        let m = walk(&overrun).unwrap();
        assert_eq!(m.options.len(), 1);
        assert_eq!(
            m.findings,
            vec![Finding::OptionOverrun {
                area: Area::Options,
                code: 12,
                offset: 243,
                declared: 9,
                available: 1
            }]
        );

        let mut no_end = base.clone();
        no_end.extend_from_slice(&[53, 1, 1]);
        assert_eq!(
            walk(&no_end).unwrap().findings,
            vec![Finding::MissingEnd {
                area: Area::Options
            }]
        );

        let mut no_len = base.clone();
        no_len.extend_from_slice(&[53]);
        assert_eq!(
            walk(&no_len).unwrap().findings,
            vec![Finding::MissingLength {
                area: Area::Options,
                code: 53,
                offset: 240
            }]
        );

        let mut after = base.clone();
        after.extend_from_slice(&[255, 0, 7, 0, 8, 0]);
        assert_eq!(
            walk(&after).unwrap().findings,
            vec![Finding::DataAfterEnd {
                area: Area::Options,
                offset: 242,
                len: 3
            }]
        );
    }

    #[test]
    fn walker_errors_on_header_and_cookie() {
        assert_eq!(walk(&[1, 2, 3]), Err(WireError::TruncatedHeader { len: 3 }));
        let bytes = encode(&sample_header(), &[]);
        assert_eq!(
            walk(&bytes[..238]),
            Err(WireError::MissingCookie { len: 238 })
        );
        let mut bad = bytes.clone();
        bad[236] = 0;
        assert_eq!(
            walk(&bad),
            Err(WireError::BadCookie {
                found: [0, 130, 83, 99]
            })
        );
        assert_eq!(
            WireError::BadCookie {
                found: [0, 130, 83, 99]
            }
            .to_string(),
            "bad magic cookie 00825363, expected 63825363"
        );
    }

    #[test]
    fn overloaded_file_and_sname_are_walked_after_options() {
        let mut h = sample_header();
        h.file[..4].copy_from_slice(&[66, 1, b'f', 255]);
        h.sname[..4].copy_from_slice(&[67, 1, b's', 255]);
        let bytes = encode(&h, &[(53, vec![1]), (52, vec![3])]);
        let m = walk(&bytes).unwrap();
        let got: Vec<(u8, Area, usize)> = m
            .options
            .iter()
            .map(|o| (o.code, o.area, o.offset))
            .collect();
        assert_eq!(
            got,
            vec![
                (53, Area::Options, 240),
                (52, Area::Options, 243),
                (66, Area::File, FILE_OFFSET),
                (67, Area::Sname, SNAME_OFFSET),
            ]
        );
        assert!(m.findings.is_empty(), "{:?}", m.findings);
    }

    #[test]
    fn long_values_split_per_rfc3396_and_rejoin() {
        let value: Vec<u8> = (0..600u32).map(|i| (i % 251) as u8).collect();
        let bytes = encode(
            &sample_header(),
            &[(242, value.clone()), (1, vec![1, 2, 3, 4])],
        );
        let m = walk(&bytes).unwrap();
        let lens: Vec<(u8, u8)> = m.options.iter().map(|o| (o.code, o.len)).collect();
        assert_eq!(lens, vec![(242, 255), (242, 255), (242, 90), (1, 4)]);
        assert_eq!(m.concatenated(242), Some(value));
        assert!(bytes.len() > MIN_BOOTP_LEN);
        assert_eq!(bytes.last(), Some(&255));
    }

    fn header_strategy() -> impl Strategy<Value = Header> {
        (
            (any::<[u8; 4]>(), any::<u32>(), any::<u16>(), any::<u16>()),
            any::<[u32; 4]>(),
            any::<[u8; 16]>(),
            proptest::collection::vec(any::<u8>(), 64),
            proptest::collection::vec(any::<u8>(), 128),
        )
            .prop_map(|((b, xid, secs, flags), ips, chaddr, sname, file)| {
                let mut h = Header {
                    op: b[0],
                    htype: b[1],
                    hlen: b[2],
                    hops: b[3],
                    xid,
                    secs,
                    flags,
                    ciaddr: Ipv4Addr::from(ips[0]),
                    yiaddr: Ipv4Addr::from(ips[1]),
                    siaddr: Ipv4Addr::from(ips[2]),
                    giaddr: Ipv4Addr::from(ips[3]),
                    chaddr,
                    ..Header::default()
                };
                h.sname.copy_from_slice(&sname);
                h.file.copy_from_slice(&file);
                h
            })
    }

    fn option_strategy() -> impl Strategy<Value = (u8, Vec<u8>)> {
        (
            (1u8..=254).prop_filter("overload changes the walk", |c| *c != OPT_OVERLOAD),
            proptest::collection::vec(any::<u8>(), 0..=255),
        )
    }

    proptest! {
        #[test]
        fn encode_then_walk_round_trips(
            header in header_strategy(),
            options in proptest::collection::vec(option_strategy(), 0..12),
        ) {
            let bytes = encode(&header, &options);
            prop_assert!(bytes.len() >= MIN_BOOTP_LEN);
            let m = walk(&bytes).expect("our own encoding walks");
            prop_assert_eq!(&m.header, &header);
            let got: Vec<(u8, Vec<u8>)> =
                m.options.iter().map(|o| (o.code, o.value.clone())).collect();
            prop_assert_eq!(got, options);
            prop_assert!(m.findings.is_empty());
            for o in &m.options {
                prop_assert_eq!(usize::from(o.len), o.value.len());
                prop_assert_eq!(bytes[o.offset], o.code);
            }
        }

        #[test]
        fn remove_option_never_panics(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..700),
            code in any::<u8>(),
        ) {
            let _ = remove_option(&mut bytes, code);
        }

        #[test]
        fn walk_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
            let _ = walk(&bytes);
        }

        #[test]
        fn walk_never_panics_behind_a_valid_cookie(
            tail in proptest::collection::vec(any::<u8>(), 0..400),
            overload in 0u8..5,
        ) {
            let mut h = Header::default();
            h.file[0] = 66;
            h.file[1] = 200;
            h.sname[0] = 67;
            let mut bytes = encode(&h, &[(52, vec![overload])]);
            bytes.truncate(OPTIONS_OFFSET + 3);
            bytes.extend_from_slice(&tail);
            let m = walk(&bytes).expect("header and cookie are intact");
            for o in &m.options {
                prop_assert_eq!(usize::from(o.len), o.value.len());
            }
        }
    }
}
