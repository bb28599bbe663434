//! Timeline events the SIP side reports.
//!
//! Owns: the serialised shape of SIP evidence (`kind`-tagged JSON with plain field names,
//! which the judge's checks match on). Headers come from the lossless tokenizer
//! (`message`), in the same `[name, value]` list shape as the file server's, so a check
//! reads `header.NAME` from the event and nothing downstream re-parses SIP text.
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
        /// Which stream connection carried it: the registrar numbers the TCP and TLS
        /// connections it accepts from 1, in order; none over UDP. Two requests with the same
        /// number came over one connection (a phone reusing it, RFC 3261 §18), whatever the
        /// source port says.
        connection: Option<u64>,
        call_id: String,
        cseq: u32,
        from_uri: String,
        to_uri: String,
        /// The first contact as `<uri>;params` (display name dropped).
        contact: Option<String>,
        /// First Contact's `expires` parameter, else the Expires header.
        expires: Option<u32>,
        user_agent: Option<String>,
        /// Every header as sent, in order: the name as on the wire (a compact form stays
        /// `v`; [`crate::message::canonical_name`] expands it), the value unfolded.
        headers: Vec<(String, String)>,
        auth: Option<AuthSummary>,
        /// Tokenizer findings plus registrar observations, each an object whose `code` is its
        /// stable name (see [`RequestFinding`]).
        findings: Vec<RequestFinding>,
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
        /// Every header as sent, as in `request`.
        headers: Vec<(String, String)>,
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
    /// A TLS handshake on the controller's port ended, accepted or not (a phone that refuses
    /// the certificate says so with an alert before any request). Kind `tls_handshake`.
    TlsHandshake {
        /// Peer `ip:port`.
        from: String,
        /// The connection it opened, numbered as in `request`.
        connection: u64,
        /// `ok`, `alert` (the phone sent a fatal alert: `alert` names it), `failed` (another
        /// error: `error` says which) or `timeout` (no whole handshake in time).
        outcome: String,
        /// The server name the phone asked for (SNI); none when it connected by address.
        sni: Option<String>,
        /// The protocol version agreed (`TLSv1_2`, `TLSv1_3`).
        version: Option<String>,
        /// The cipher suite agreed.
        cipher: Option<String>,
        /// The alert the phone sent, snake case (`unknown_ca`, `bad_certificate`,
        /// `certificate_expired` …).
        alert: Option<String>,
        /// What went wrong, in words.
        error: Option<String>,
    },
    /// The response script said to close the connection this request came on, unanswered.
    Closed {
        /// Peer `ip:port`.
        from: String,
        /// `tcp` or `tls`.
        transport: String,
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
        /// Every header of the response, as in `request`.
        headers: Vec<(String, String)>,
        /// Each `WWW-Authenticate` / `Proxy-Authenticate` digest challenge, in order, its
        /// parameters as sent (absent ones absent).
        challenges: Vec<ChallengeSummary>,
        raw: String,
    },
}

impl Event {
    /// Record the stream connection a request came over (the shell owns connections; the
    /// core, which sees only bytes and a peer, leaves it unset). Other events are untouched.
    pub fn set_connection(&mut self, id: u64) {
        if let Event::Request { connection, .. } = self {
            *connection = Some(id);
        }
    }
}

/// One digest challenge of a response, parameter by parameter (RFC 7616 §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChallengeSummary {
    pub realm: Option<String>,
    pub nonce: Option<String>,
    pub algorithm: Option<String>,
    pub qop: Option<String>,
    /// `true` / `false` as sent; absent when the challenge has no `stale`.
    pub stale: Option<String>,
    pub opaque: Option<String>,
}

/// Something odd about a request: what the tokenizer found in its bytes, or what the
/// registrar noticed about its meaning. Serialised as one object whose `code` names it
/// (stable snake_case, listed on [`FindingKind`] and [`Observation`]) beside its details:
/// `{"code": "lf_line_endings", "offset": 29, "lines": 9}`, `{"code": "retransmission"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum RequestFinding {
    /// From the lossless tokenizer, with the byte offset where it shows (RFC 3261 §7).
    Message(crate::message::Finding),
    /// From the registrar.
    Registrar(Observation),
}

impl RequestFinding {
    /// The stable snake_case name.
    pub fn code(&self) -> &'static str {
        match self {
            RequestFinding::Message(f) => f.code(),
            RequestFinding::Registrar(o) => o.code(),
        }
    }
}

/// What the registrar noticed about a request's meaning (the tokenizer sees only its form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Observation {
    /// A REGISTER whose Request-URI names another domain than ours (RFC 3261 §10.2).
    RequestUriDomainMismatch { host: String, domain: String },
    /// The Request-URI is not a SIP URI (RFC 3261 §19.1).
    InvalidRequestUri { error: String },
    /// A Via, From, To or CSeq header that is present but does not follow its grammar
    /// (RFC 3261 §20, §25.1).
    InvalidHeader { name: String, error: String },
    /// A retransmitted request, answered from the server transaction (RFC 3261 §17.2).
    Retransmission,
    /// An Authorization header that does not parse (RFC 3261 §22.4).
    MalformedAuthorization { error: String },
    /// Digest credentials without a parameter the response needs (RFC 2617 §3.2.2).
    IncompleteCredentials { missing: crate::digest::DigestParam },
    /// `Contact: *` with other contacts or without `Expires: 0` (RFC 3261 §10.2.2).
    InvalidWildcardContact,
    /// The challenge offered `qop=auth` and the credentials carry none (RFC 7616 §3.4).
    DigestWithoutQop,
    /// The digest `uri` differs from the Request-URI (RFC 2617 §3.2.2.5).
    DigestUriMismatch { uri: String, request_uri: String },
    /// A request reuses a nonce with an `nc` no higher than an earlier request's
    /// (RFC 7616 §3.4: the count of requests sent with that nonce, this one included).
    NcNotIncremented { nc: String, last: String },
}

impl Observation {
    /// The stable snake_case name, as serialised in `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Observation::RequestUriDomainMismatch { .. } => "request_uri_domain_mismatch",
            Observation::InvalidRequestUri { .. } => "invalid_request_uri",
            Observation::InvalidHeader { .. } => "invalid_header",
            Observation::Retransmission => "retransmission",
            Observation::MalformedAuthorization { .. } => "malformed_authorization",
            Observation::IncompleteCredentials { .. } => "incomplete_credentials",
            Observation::InvalidWildcardContact => "invalid_wildcard_contact",
            Observation::DigestWithoutQop => "digest_without_qop",
            Observation::DigestUriMismatch { .. } => "digest_uri_mismatch",
            Observation::NcNotIncremented { .. } => "nc_not_incremented",
        }
    }
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
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    /// The verdict on the credentials, flattened: `result` is `ok`, `wrong_response`,
    /// `unknown_user`, `stale_nonce`, `unknown_nonce`, `wrong_realm`, `unsupported_algorithm`,
    /// `unsupported_qop`, `missing_param` (with `missing`: the parameter) or `not_digest`.
    #[serde(flatten)]
    pub result: crate::digest::DigestCheck,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::digest::{DigestCheck, DigestParam};
    use serde_json::json;

    fn summary(result: DigestCheck) -> AuthSummary {
        AuthSummary {
            username: "1001".into(),
            realm: "lab.test".into(),
            nonce: "n".into(),
            uri: "sip:lab.test".into(),
            algorithm: "MD5".into(),
            qop: None,
            nc: None,
            cnonce: None,
            opaque: None,
            result,
        }
    }

    #[test]
    fn the_digest_verdict_reads_as_its_name_and_keeps_the_missing_parameter() {
        let ok = serde_json::to_value(summary(DigestCheck::Ok)).unwrap();
        assert_eq!(ok["result"], "ok");
        assert!(ok.get("missing").is_none(), "{ok}");
        let missing =
            serde_json::to_value(summary(DigestCheck::MissingParam(DigestParam::Cnonce))).unwrap();
        assert_eq!(missing["result"], "missing_param");
        assert_eq!(missing["missing"], "cnonce");
        for check in [
            DigestCheck::Ok,
            DigestCheck::StaleNonce,
            DigestCheck::MissingParam(DigestParam::Nc),
        ] {
            let json = serde_json::to_value(summary(check)).unwrap();
            assert_eq!(json["result"], check.as_str());
            assert_eq!(
                serde_json::from_value::<AuthSummary>(json).unwrap(),
                summary(check)
            );
        }
        assert_eq!(
            serde_json::to_value(Observation::Retransmission).unwrap(),
            json!({"code": "retransmission"})
        );
    }
}
