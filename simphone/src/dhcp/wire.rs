//! DHCP message wire format as the phone's client needs it (RFC 2131 §2, RFC 2132, RFC 3396).
//!
//! Owns: encoding the client's DISCOVER/REQUEST and decoding whatever a server sends back,
//! keeping options in wire order with duplicates (so RFC 3396 concatenation is possible).
//! Never: decides anything about leases (that is `dhcp::client`), never panics on input —
//! a malformed message is an error value, and a malformed option list stops at the damage
//! with what came before it kept.
//! Not supported: option overload (52) into `sname`/`file` — the fields are kept raw.

use std::net::Ipv4Addr;

/// The magic cookie that starts the options field (RFC 2131 §3).
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// BOOTP fixed header length before the cookie.
const FIXED_LEN: usize = 236;
/// Minimum BOOTP message length (RFC 1542 §2.1): pad short messages up to it.
const MIN_LEN: usize = 300;

pub const OPT_PAD: u8 = 0;
pub const OPT_SUBNET_MASK: u8 = 1;
pub const OPT_ROUTER: u8 = 3;
pub const OPT_DNS: u8 = 6;
pub const OPT_HOST_NAME: u8 = 12;
pub const OPT_VENDOR_SPECIFIC: u8 = 43;
pub const OPT_REQUESTED_IP: u8 = 50;
pub const OPT_LEASE_TIME: u8 = 51;
pub const OPT_MESSAGE_TYPE: u8 = 53;
pub const OPT_SERVER_ID: u8 = 54;
pub const OPT_PARAM_LIST: u8 = 55;
pub const OPT_RENEWAL_T1: u8 = 58;
pub const OPT_REBINDING_T2: u8 = 59;
pub const OPT_VENDOR_CLASS: u8 = 60;
pub const OPT_CLIENT_ID: u8 = 61;
pub const OPT_TFTP_SERVER_NAME: u8 = 66;
pub const OPT_END: u8 = 255;

/// DHCP message types (option 53), with `Unknown` so nothing is lost.
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
            MessageType::Unknown(c) => c,
        }
    }

    pub fn from_code(c: u8) -> Self {
        match c {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            other => MessageType::Unknown(other),
        }
    }
}

/// Why a received datagram is not a usable DHCP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("dhcp message too short: {0} bytes, need at least 240")]
    TooShort(usize),
    #[error("dhcp magic cookie missing: got {0:02x?}")]
    BadCookie([u8; 4]),
}

/// One DHCP message. Options keep wire order and repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
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
    pub options: Vec<(u8, Vec<u8>)>,
    /// True when the option list ended in damage (length past the end) rather than at END.
    pub options_truncated: bool,
}

impl Message {
    /// A client (BOOTREQUEST) message for an Ethernet MAC, all addresses zero.
    pub fn client(xid: u32, mac: [u8; 6]) -> Self {
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&mac);
        Self {
            op: 1,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            sname: [0; 64],
            file: [0; 128],
            options: Vec::new(),
            options_truncated: false,
        }
    }

    /// The first six chaddr bytes (the Ethernet MAC).
    pub fn mac(&self) -> [u8; 6] {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.chaddr[..6]);
        m
    }

    /// Every instance of `code`, concatenated in wire order (RFC 3396 §6); `None` if absent.
    pub fn option(&self, code: u8) -> Option<Vec<u8>> {
        let mut found = false;
        let mut out = Vec::new();
        for (c, v) in &self.options {
            if *c == code {
                found = true;
                out.extend_from_slice(v);
            }
        }
        found.then_some(out)
    }

    /// The message type (option 53), if present and one byte long.
    pub fn message_type(&self) -> Option<MessageType> {
        match self.option(OPT_MESSAGE_TYPE)?.as_slice() {
            [c] => Some(MessageType::from_code(*c)),
            _ => None,
        }
    }

    /// An option holding one IPv4 address (the first four bytes; `None` if shorter).
    pub fn option_ip(&self, code: u8) -> Option<Ipv4Addr> {
        let v = self.option(code)?;
        let b: [u8; 4] = v.get(..4)?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    }

    /// An option holding a 32-bit big-endian number.
    pub fn option_u32(&self, code: u8) -> Option<u32> {
        let v = self.option(code)?;
        let b: [u8; 4] = v.as_slice().try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    /// Append one option, splitting values over 255 bytes into several instances (RFC 3396).
    pub fn push_option(&mut self, code: u8, value: &[u8]) {
        if value.is_empty() {
            self.options.push((code, Vec::new()));
            return;
        }
        for chunk in value.chunks(255) {
            self.options.push((code, chunk.to_vec()));
        }
    }

    /// The wire bytes: fixed header, cookie, options in order, END, padded to 300 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MIN_LEN);
        out.push(self.op);
        out.push(self.htype);
        out.push(self.hlen);
        out.push(self.hops);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.secs.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for a in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            out.extend_from_slice(&a.octets());
        }
        out.extend_from_slice(&self.chaddr);
        out.extend_from_slice(&self.sname);
        out.extend_from_slice(&self.file);
        out.extend_from_slice(&MAGIC_COOKIE);
        for (code, value) in &self.options {
            out.push(*code);
            // push_option keeps values ≤ 255; a longer one built by hand is cut, not wrapped.
            let len = value.len().min(255);
            out.push(len as u8);
            out.extend_from_slice(&value[..len]);
        }
        out.push(OPT_END);
        if out.len() < MIN_LEN {
            out.resize(MIN_LEN, OPT_PAD);
        }
        out
    }

    /// Decode a datagram. Never panics; a damaged option list keeps what came before it.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() < FIXED_LEN + 4 {
            return Err(WireError::TooShort(bytes.len()));
        }
        let ip = |at: usize| Ipv4Addr::new(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
        let mut cookie = [0u8; 4];
        cookie.copy_from_slice(&bytes[FIXED_LEN..FIXED_LEN + 4]);
        if cookie != MAGIC_COOKIE {
            return Err(WireError::BadCookie(cookie));
        }
        let mut chaddr = [0u8; 16];
        chaddr.copy_from_slice(&bytes[28..44]);
        let mut sname = [0u8; 64];
        sname.copy_from_slice(&bytes[44..108]);
        let mut file = [0u8; 128];
        file.copy_from_slice(&bytes[108..236]);
        let (options, options_truncated) = walk_options(&bytes[FIXED_LEN + 4..]);
        Ok(Self {
            op: bytes[0],
            htype: bytes[1],
            hlen: bytes[2],
            hops: bytes[3],
            xid: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            secs: u16::from_be_bytes([bytes[8], bytes[9]]),
            flags: u16::from_be_bytes([bytes[10], bytes[11]]),
            ciaddr: ip(12),
            yiaddr: ip(16),
            siaddr: ip(20),
            giaddr: ip(24),
            chaddr,
            sname,
            file,
            options,
            options_truncated,
        })
    }
}

/// Walk a TLV option area: PAD skipped, END stops, a length past the end stops (flagged).
fn walk_options(mut rest: &[u8]) -> (Vec<(u8, Vec<u8>)>, bool) {
    let mut out = Vec::new();
    loop {
        match rest {
            [] => return (out, false),
            [OPT_END, ..] => return (out, false),
            [OPT_PAD, tail @ ..] => rest = tail,
            [code, len, tail @ ..] if tail.len() >= *len as usize => {
                let (value, after) = tail.split_at(*len as usize);
                out.push((*code, value.to_vec()));
                rest = after;
            }
            _ => return (out, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encode_pads_to_300_and_places_fields_at_their_offsets() {
        let mut m = Message::client(0x0102_0304, [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a]);
        m.push_option(OPT_MESSAGE_TYPE, &[1]);
        let b = m.encode();
        assert_eq!(b.len(), 300);
        assert_eq!(&b[0..4], &[1, 1, 6, 0]);
        assert_eq!(&b[4..8], &[1, 2, 3, 4]);
        assert_eq!(&b[10..12], &[0, 0], "no broadcast flag");
        assert_eq!(&b[28..34], &[0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a]);
        assert_eq!(&b[236..240], &MAGIC_COOKIE);
        assert_eq!(&b[240..244], &[53, 1, 1, 255]);
        assert!(b[244..].iter().all(|&x| x == 0));
    }

    #[test]
    fn repeated_options_concatenate_in_wire_order() {
        let mut m = Message::client(1, [0; 6]);
        m.options.push((242, b"HTTPSRVR=1.2.3.4,".to_vec()));
        m.options.push((53, vec![2]));
        m.options.push((242, b"HTTPDIR=fw".to_vec()));
        let back = Message::parse(&m.encode()).expect("round trip");
        assert_eq!(
            back.option(242).as_deref(),
            Some(&b"HTTPSRVR=1.2.3.4,HTTPDIR=fw"[..])
        );
        assert_eq!(back.message_type(), Some(MessageType::Offer));
        assert_eq!(back.option(66), None);
    }

    #[test]
    fn long_values_split_into_255_byte_instances() {
        let mut m = Message::client(1, [0; 6]);
        let long = vec![b'a'; 600];
        m.push_option(242, &long);
        assert_eq!(m.options.len(), 3);
        assert_eq!(m.options[0].1.len(), 255);
        let back = Message::parse(&m.encode()).expect("round trip");
        assert_eq!(back.option(242), Some(long));
    }

    #[test]
    fn damaged_option_list_keeps_the_good_prefix() {
        let mut b = Message::client(1, [0; 6]).encode();
        b.truncate(240);
        b.extend_from_slice(&[53, 1, 2, 51, 4, 0, 0]);
        let m = Message::parse(&b).expect("header is fine");
        assert_eq!(m.message_type(), Some(MessageType::Offer));
        assert_eq!(m.option(51), None);
        assert!(m.options_truncated);
    }

    #[test]
    fn short_and_cookieless_messages_are_errors() {
        assert_eq!(Message::parse(&[0u8; 10]), Err(WireError::TooShort(10)));
        let mut b = Message::client(1, [0; 6]).encode();
        b[236] = 0;
        assert!(matches!(Message::parse(&b), Err(WireError::BadCookie(_))));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Message::parse(&bytes);
        }

        #[test]
        fn parse_never_panics_after_a_valid_header(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut b = Message::client(9, [1; 6]).encode();
            b.truncate(240);
            b.extend_from_slice(&tail);
            let _ = Message::parse(&b);
        }

        #[test]
        fn encode_parse_round_trips(xid in any::<u32>(), opts in proptest::collection::vec((1u8..255, proptest::collection::vec(any::<u8>(), 0..255)), 0..6)) {
            let mut m = Message::client(xid, [2; 6]);
            for (c, v) in &opts { m.options.push((*c, v.clone())); }
            let back = Message::parse(&m.encode()).expect("own encoding parses");
            prop_assert_eq!(back, m);
        }
    }
}
