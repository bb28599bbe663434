//! Timeline events the SIP side reports.
//!
//! Owns: the serialised shape of SIP evidence (`kind`-tagged JSON with plain field names,
//! which the judge's checks match on).
//!
//! Never: carries timestamps (the shell stamps them) or judges anything.
//!
//! The derived JSON Schema is the vocabulary scenario checks are held to when they load.

use serde::{Deserialize, Serialize};

/// What the registrar saw or did.
// Plain fields (no boxing) keep the JSON flat and pattern matching simple; events are few.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A request arrived (including ACK and retransmissions).
    Request {
        method: String,
        request_uri: String,
        /// Peer `ip:port`.
        from: String,
        /// `udp`, `tcp` or `tls`.
        transport: String,
        call_id: String,
        cseq: u32,
        from_uri: String,
        to_uri: String,
        /// The first contact as `<uri>;params` (display name dropped).
        contact: Option<String>,
        /// First Contact's `expires` parameter, else the Expires header.
        expires: Option<u32>,
        user_agent: Option<String>,
        auth: Option<AuthSummary>,
        /// Tokenizer findings (`code@offset: detail`) plus registrar observations.
        findings: Vec<String>,
        /// The datagram, lossily decoded as UTF-8.
        raw: String,
    },
    /// A response arrived from the peer (the registrar does not send requests, so these are
    /// unsolicited; recorded as evidence). Kind `peer_response`.
    #[serde(rename = "peer_response")]
    Response {
        status: u16,
        reason: String,
        /// Peer `ip:port`.
        to: String,
        /// Method from CSeq.
        method: String,
        cseq: u32,
        call_id: String,
        expires: Option<u32>,
        raw: String,
    },
    /// Bytes that are not a SIP message; nothing was answered.
    Malformed {
        from: String,
        len: usize,
        error: String,
    },
    /// The response script said to stay silent for this request.
    Silence {
        from: String,
        method: String,
        cseq: u32,
    },
    /// A response the registrar sent (so the timeline has both directions). Kind `response`,
    /// like the file server's answers: `request` is what the phone sent, `response` ours.
    #[serde(rename = "response")]
    Sent {
        status: u16,
        reason: String,
        /// Destination `ip:port`.
        to: String,
        method: String,
        cseq: u32,
        call_id: String,
        /// True when this re-sends the answer to a retransmitted request.
        retransmission: bool,
        raw: String,
    },
}

/// The digest credentials a request carried and what the registrar made of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuthSummary {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    /// As sent; `MD5` when the client omitted it (the RFC 2617 default).
    pub algorithm: String,
    pub qop: Option<String>,
    /// Raw 8-hex nonce count.
    pub nc: Option<String>,
    /// `ok`, `wrong_response`, `unknown_user`, `stale_nonce`, `unknown_nonce`, `wrong_realm`,
    /// `unsupported_algorithm`, `unsupported_qop`, `missing_param`, `not_digest`, `malformed`.
    pub result: String,
}
