//! HTTP digest authentication as SIP uses it.
//!
//! Owns: computing `response` for MD5, MD5-sess, SHA-256 and SHA-256-sess, with and without
//! `qop=auth`; checking a client's credentials against a password.
//!
//! Never: normalises what the client sent. The hash is taken over the raw `uri`, `nc` and
//! `cnonce` strings from the Authorization header (a phone that hashes a different URI than it
//! declares must fail, and `nc` is 8 hex digits — `0000000a` is the tenth use, not an error).
//! Never decides about realms or nonces: those belong to whoever issued the challenge
//! ([`crate::registrar`]), which maps them to [`DigestCheck::WrongRealm`] /
//! [`DigestCheck::StaleNonce`].
//!
//! Follows RFC 2617 §3.2.2 and RFC 7616 §3.4.1–3.4.3 (RFC 3261 §22.4 uses it unchanged).

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::headers::DigestParams;

/// Digest hash algorithm (RFC 7616 §3.3 `algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Algorithm {
    #[default]
    #[serde(rename = "MD5")]
    Md5,
    #[serde(rename = "MD5-sess")]
    Md5Sess,
    #[serde(rename = "SHA-256")]
    Sha256,
    #[serde(rename = "SHA-256-sess")]
    Sha256Sess,
}

impl Algorithm {
    /// The token as it appears in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Case-insensitive, as RFC 7616 §3.3 says tokens are.
    pub fn parse(s: &str) -> Option<Algorithm> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// Lower-case hex of the hash of `data`.
    pub fn hex_hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex::encode(Md5::digest(data.as_bytes())),
            Algorithm::Sha256 | Algorithm::Sha256Sess => {
                hex::encode(Sha256::digest(data.as_bytes()))
            }
        }
    }
}

/// The `qop=auth` part of a response computation: the strings exactly as the client sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QopAuth<'a> {
    pub nc: &'a str,
    pub cnonce: &'a str,
}

/// Everything the response hash covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestInput<'a> {
    pub algorithm: Algorithm,
    pub username: &'a str,
    pub realm: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub nonce: &'a str,
    /// `None`: RFC 2069 compatibility (no qop); `Some`: `qop=auth`.
    pub qop: Option<QopAuth<'a>>,
    /// Needed by the `-sess` algorithms even without qop; ignored otherwise.
    pub cnonce: Option<&'a str>,
}

/// The `response` value, lower-case hex.
pub fn compute_response(input: &DigestInput<'_>) -> String {
    let alg = input.algorithm;
    let mut ha1 = alg.hex_hash(&format!(
        "{}:{}:{}",
        input.username, input.realm, input.password
    ));
    if alg.is_sess() {
        let cnonce = input
            .qop
            .map(|q| q.cnonce)
            .or(input.cnonce)
            .unwrap_or_default();
        ha1 = alg.hex_hash(&format!("{ha1}:{}:{cnonce}", input.nonce));
    }
    let ha2 = alg.hex_hash(&format!("{}:{}", input.method, input.uri));
    match input.qop {
        Some(q) => alg.hex_hash(&format!(
            "{ha1}:{}:{}:{}:auth:{ha2}",
            input.nonce, q.nc, q.cnonce
        )),
        None => alg.hex_hash(&format!("{ha1}:{}:{ha2}", input.nonce)),
    }
}

/// Outcome of checking credentials. [`verify`] produces the credential-only outcomes; the
/// registrar adds the ones that need its state.
///
/// Serialised adjacently tagged, to be flattened into the event that carries it: `result` is
/// the stable name ([`DigestCheck::as_str`]) and, for [`DigestCheck::MissingParam`], `missing`
/// names the parameter (`{"result": "missing_param", "missing": "cnonce"}`), so a check
/// matches `auth.result = "ok"` and nothing is lost.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(tag = "result", content = "missing", rename_all = "snake_case")]
pub enum DigestCheck {
    Ok,
    WrongResponse,
    UnknownUser,
    /// A nonce we issued, but too old.
    StaleNonce,
    /// A nonce we never issued (or forgot).
    UnknownNonce,
    WrongRealm,
    UnsupportedAlgorithm,
    /// `auth-int` or an unknown qop token.
    UnsupportedQop,
    /// A parameter the credentials must carry is absent.
    MissingParam(DigestParam),
    /// A scheme other than Digest.
    NotDigest,
}

/// The digest parameters a response must carry (RFC 7616 §3.4; `nc` and `cnonce` with a qop
/// or a `-sess` algorithm).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DigestParam {
    Username,
    Realm,
    Nonce,
    Uri,
    Response,
    Nc,
    Cnonce,
}

impl DigestParam {
    /// The parameter's name in the Authorization header.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestParam::Username => "username",
            DigestParam::Realm => "realm",
            DigestParam::Nonce => "nonce",
            DigestParam::Uri => "uri",
            DigestParam::Response => "response",
            DigestParam::Nc => "nc",
            DigestParam::Cnonce => "cnonce",
        }
    }
}

impl DigestCheck {
    /// The snake_case name used in events (`AuthSummary::result`).
    pub fn as_str(self) -> &'static str {
        match self {
            DigestCheck::Ok => "ok",
            DigestCheck::WrongResponse => "wrong_response",
            DigestCheck::UnknownUser => "unknown_user",
            DigestCheck::StaleNonce => "stale_nonce",
            DigestCheck::UnknownNonce => "unknown_nonce",
            DigestCheck::WrongRealm => "wrong_realm",
            DigestCheck::UnsupportedAlgorithm => "unsupported_algorithm",
            DigestCheck::UnsupportedQop => "unsupported_qop",
            DigestCheck::MissingParam(_) => "missing_param",
            DigestCheck::NotDigest => "not_digest",
        }
    }
}

/// Check `authorization` for a request with `method`; `password` is `None` when the user is
/// unknown. Realm and nonce freshness are not checked here (see module docs).
pub fn verify(authorization: &DigestParams, method: &str, password: Option<&str>) -> DigestCheck {
    if !authorization.is_digest() {
        return DigestCheck::NotDigest;
    }
    let required = |p: DigestParam| authorization.get(p.as_str()).ok_or(p);
    let fields = (|| {
        Ok::<_, DigestParam>((
            required(DigestParam::Username)?,
            required(DigestParam::Realm)?,
            required(DigestParam::Nonce)?,
            required(DigestParam::Uri)?,
            required(DigestParam::Response)?,
        ))
    })();
    let (username, realm, nonce, uri, response) = match fields {
        Ok(f) => f,
        Err(name) => return DigestCheck::MissingParam(name),
    };
    let Some(password) = password else {
        return DigestCheck::UnknownUser;
    };
    let algorithm = match authorization.algorithm() {
        None => Algorithm::Md5,
        Some(a) => match Algorithm::parse(a) {
            Some(a) => a,
            None => return DigestCheck::UnsupportedAlgorithm,
        },
    };
    let qop = match authorization.qop() {
        None => None,
        Some(q) if q.eq_ignore_ascii_case("auth") => {
            let Some(nc) = authorization.nc() else {
                return DigestCheck::MissingParam(DigestParam::Nc);
            };
            let Some(cnonce) = authorization.cnonce() else {
                return DigestCheck::MissingParam(DigestParam::Cnonce);
            };
            Some(QopAuth { nc, cnonce })
        }
        Some(_) => return DigestCheck::UnsupportedQop,
    };
    if algorithm.is_sess() && authorization.cnonce().is_none() {
        return DigestCheck::MissingParam(DigestParam::Cnonce);
    }
    let expected = compute_response(&DigestInput {
        algorithm,
        username,
        realm,
        password,
        method,
        uri,
        nonce,
        qop,
        cnonce: authorization.cnonce(),
    });
    if expected.eq_ignore_ascii_case(response) {
        DigestCheck::Ok
    } else {
        DigestCheck::WrongResponse
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rfc2617() -> DigestInput<'static> {
        DigestInput {
            algorithm: Algorithm::Md5,
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: "Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop: Some(QopAuth {
                nc: "00000001",
                cnonce: "0a4f113b",
            }),
            cnonce: None,
        }
    }

    #[test]
    fn rfc2617_section_3_5_example() {
        assert_eq!(
            compute_response(&rfc2617()),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    fn rfc7616(algorithm: Algorithm) -> DigestInput<'static> {
        DigestInput {
            algorithm,
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop: Some(QopAuth {
                nc: "00000001",
                cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            }),
            cnonce: None,
        }
    }

    #[test]
    fn rfc7616_section_3_9_1_examples() {
        assert_eq!(
            compute_response(&rfc7616(Algorithm::Sha256)),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert_eq!(
            compute_response(&rfc7616(Algorithm::Md5)),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
    }

    #[test]
    fn without_qop_is_rfc2069_form() {
        let mut input = rfc2617();
        input.qop = None;
        // H(H(A1):nonce:H(A2)) computed step by step.
        let ha1 = hex::encode(Md5::digest(b"Mufasa:testrealm@host.com:Circle Of Life"));
        let ha2 = hex::encode(Md5::digest(b"GET:/dir/index.html"));
        let want = hex::encode(Md5::digest(
            format!("{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{ha2}").as_bytes(),
        ));
        assert_eq!(compute_response(&input), want);
    }

    #[test]
    fn sess_variant_rehashes_ha1() {
        let mut input = rfc2617();
        input.algorithm = Algorithm::Md5Sess;
        let ha1 = hex::encode(Md5::digest(b"Mufasa:testrealm@host.com:Circle Of Life"));
        let ha1 = hex::encode(Md5::digest(
            format!("{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:0a4f113b").as_bytes(),
        ));
        let ha2 = hex::encode(Md5::digest(b"GET:/dir/index.html"));
        let want = hex::encode(Md5::digest(
            format!("{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}")
                .as_bytes(),
        ));
        assert_eq!(compute_response(&input), want);
    }

    fn header(extra: &str) -> DigestParams {
        DigestParams::parse(&format!(
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\"{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn verify_outcomes() {
        let good = header(
            ", qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"6629FAE49393A05397450978507C4EF1\"",
        );
        assert_eq!(
            verify(&good, "GET", Some("Circle Of Life")),
            DigestCheck::Ok
        );
        assert_eq!(
            verify(&good, "GET", Some("circle of life")),
            DigestCheck::WrongResponse
        );
        assert_eq!(
            verify(&good, "POST", Some("Circle Of Life")),
            DigestCheck::WrongResponse
        );
        assert_eq!(verify(&good, "GET", None), DigestCheck::UnknownUser);
        let no_nc = header(", qop=auth, cnonce=\"0a4f113b\", response=\"x\"");
        assert_eq!(
            verify(&no_nc, "GET", Some("p")),
            DigestCheck::MissingParam(DigestParam::Nc)
        );
        let int = header(", qop=auth-int, nc=00000001, cnonce=\"c\", response=\"x\"");
        assert_eq!(verify(&int, "GET", Some("p")), DigestCheck::UnsupportedQop);
        let alg = header(", algorithm=SHA-512-256, response=\"x\"");
        assert_eq!(
            verify(&alg, "GET", Some("p")),
            DigestCheck::UnsupportedAlgorithm
        );
        let no_resp = header("");
        assert_eq!(
            verify(&no_resp, "GET", Some("p")),
            DigestCheck::MissingParam(DigestParam::Response)
        );
        let basic = DigestParams::parse("Basic realm=\"x\"").unwrap();
        assert_eq!(verify(&basic, "GET", Some("p")), DigestCheck::NotDigest);
    }

    #[test]
    fn nc_is_hashed_as_sent() {
        let mut input = rfc2617();
        input.qop = Some(QopAuth {
            nc: "0000000a",
            cnonce: "0a4f113b",
        });
        let response = compute_response(&input);
        let creds = header(&format!(
            ", qop=auth, nc=0000000a, cnonce=\"0a4f113b\", response=\"{response}\""
        ));
        assert_eq!(creds.nc_value(), Some(10));
        assert_eq!(
            verify(&creds, "GET", Some("Circle Of Life")),
            DigestCheck::Ok
        );
        // Re-encoding nc as decimal "00000010" gives a different hash.
        input.qop = Some(QopAuth {
            nc: "00000010",
            cnonce: "0a4f113b",
        });
        assert_ne!(compute_response(&input), response);
    }

    #[test]
    fn algorithm_tokens() {
        assert_eq!(Algorithm::parse("md5"), Some(Algorithm::Md5));
        assert_eq!(Algorithm::parse("SHA-256"), Some(Algorithm::Sha256));
        assert_eq!(
            Algorithm::parse("sha-256-SESS"),
            Some(Algorithm::Sha256Sess)
        );
        assert_eq!(Algorithm::parse("SHA-1"), None);
    }
}
