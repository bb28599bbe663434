//! HTTP Digest authentication as SIP uses it (RFC 3261 §22.4, RFC 2617 §3.2.2), with MD5 and
//! SHA-256 (RFC 8760, RFC 7616 §3.4).
//!
//! Owns: parsing a `WWW-Authenticate`/`Proxy-Authenticate` Digest challenge and computing the
//! `Authorization` value (qop=auth with nc/cnonce when offered, RFC 2069 style otherwise).
//! Never: keeps state (nonce counts live in the registration machine), never panics on input.
//! Not supported: the -sess algorithms, SHA-512-256, qop=auth-int.

use md5::{Digest, Md5};
use sha2::Sha256;

/// A digest algorithm the phone can answer, weakest first (so `max` is the strongest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    Md5,
    Sha256,
}

impl DigestAlgorithm {
    pub fn token(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    fn hex(self, data: &str) -> String {
        match self {
            DigestAlgorithm::Md5 => md5_hex(data),
            DigestAlgorithm::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

/// A parsed Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// MD5 when the challenge names none (RFC 2617 §3.2.1).
    pub algorithm: DigestAlgorithm,
    /// The qop tokens offered (`auth`, `auth-int`), empty when none.
    pub qop: Vec<String>,
    pub stale: bool,
}

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("challenge is not a digest challenge: '{0}'")]
    NotDigest(String),
    #[error("digest challenge without {0}")]
    Missing(&'static str),
    #[error("unsupported digest algorithm '{0}'")]
    Algorithm(String),
    #[error("unsupported qop '{0}' (only auth)")]
    Qop(String),
}

/// Split `a="x, y", b=z` into pairs (commas inside quotes kept).
fn params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut push = |cur: &mut String| {
        if let Some((k, v)) = cur.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .unwrap_or(v);
            out.push((k.trim().to_ascii_lowercase(), v.to_string()));
        }
        cur.clear();
    };
    for ch in s.chars() {
        if escaped {
            escaped = false;
            cur.push(ch);
            continue;
        }
        match ch {
            '\\' if quoted => {
                escaped = true;
                continue;
            }
            '"' => quoted = !quoted,
            ',' if !quoted => {
                push(&mut cur);
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    push(&mut cur);
    out
}

impl Challenge {
    /// Parse the value of a `WWW-Authenticate` or `Proxy-Authenticate` header.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let v = value.trim();
        let (scheme, rest) = v.split_once(char::is_whitespace).unwrap_or((v, ""));
        if !scheme.eq_ignore_ascii_case("digest") {
            return Err(DigestError::NotDigest(v.chars().take(40).collect()));
        }
        let ps = params(rest);
        let get = |k: &str| ps.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let algorithm = match get("algorithm") {
            None => DigestAlgorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("md5") => DigestAlgorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("sha-256") => DigestAlgorithm::Sha256,
            Some(a) => return Err(DigestError::Algorithm(a)),
        };
        Ok(Self {
            realm: get("realm").ok_or(DigestError::Missing("realm"))?,
            nonce: get("nonce").ok_or(DigestError::Missing("nonce"))?,
            opaque: get("opaque"),
            algorithm,
            qop: get("qop")
                .map(|q| {
                    q.split(',')
                        .map(|t| t.trim().to_ascii_lowercase())
                        .filter(|t| !t.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }
}

/// Lower-case hex MD5.
pub fn md5_hex(data: &str) -> String {
    hex::encode(Md5::digest(data.as_bytes()))
}

/// The inputs of one answer.
#[derive(Debug, Clone)]
pub struct Credentials<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    /// Nonce count for this nonce (1 for the first use).
    pub nc: u32,
    pub cnonce: &'a str,
}

/// The `response` value (RFC 2617 §3.2.2.1).
pub fn response(ch: &Challenge, c: &Credentials<'_>) -> Result<String, DigestError> {
    let alg = ch.algorithm;
    let ha1 = alg.hex(&format!("{}:{}:{}", c.username, ch.realm, c.password));
    let ha2 = alg.hex(&format!("{}:{}", c.method, c.uri));
    if ch.qop.is_empty() {
        return Ok(alg.hex(&format!("{ha1}:{}:{ha2}", ch.nonce)));
    }
    if !ch.qop.iter().any(|q| q == "auth") {
        return Err(DigestError::Qop(ch.qop.join(",")));
    }
    Ok(alg.hex(&format!(
        "{ha1}:{}:{:08x}:{}:auth:{ha2}",
        ch.nonce, c.nc, c.cnonce
    )))
}

/// The full `Authorization` header value carrying `response_hex`.
pub fn authorization(ch: &Challenge, c: &Credentials<'_>, response_hex: &str) -> String {
    let mut v = format!(
        "Digest username=\"{}\",realm=\"{}\",nonce=\"{}\",uri=\"{}\",response=\"{}\",algorithm={}",
        c.username,
        ch.realm,
        ch.nonce,
        c.uri,
        response_hex,
        ch.algorithm.token()
    );
    if !ch.qop.is_empty() {
        v.push_str(&format!(
            ",cnonce=\"{}\",qop=auth,nc={:08x}",
            c.cnonce, c.nc
        ));
    }
    if let Some(o) = &ch.opaque {
        v.push_str(&format!(",opaque=\"{o}\""));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc2617_worked_example() {
        // RFC 2617 §3.5 (HTTP GET, qop=auth): the published response value.
        let ch = Challenge::parse(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .expect("parse");
        assert_eq!(ch.qop, vec!["auth", "auth-int"]);
        let c = Credentials {
            username: "Mufasa",
            password: "Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            nc: 1,
            cnonce: "0a4f113b",
        };
        assert_eq!(
            response(&ch, &c).expect("auth"),
            "6629fae49393a05397450978507c4ef1"
        );
        let h = authorization(&ch, &c, "6629fae49393a05397450978507c4ef1");
        assert!(h.contains("nc=00000001"), "{h}");
        assert!(h.contains("qop=auth,"), "{h}");
        assert!(
            h.ends_with("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
            "{h}"
        );
    }

    #[test]
    fn no_qop_uses_rfc2069_form() {
        let ch = Challenge::parse(r#"Digest realm="r", nonce="n""#).expect("parse");
        let c = Credentials {
            username: "u",
            password: "p",
            method: "REGISTER",
            uri: "sip:d",
            nc: 1,
            cnonce: "c",
        };
        let ha1 = md5_hex("u:r:p");
        let ha2 = md5_hex("REGISTER:sip:d");
        assert_eq!(
            response(&ch, &c).expect("ok"),
            md5_hex(&format!("{ha1}:n:{ha2}"))
        );
        assert!(!authorization(&ch, &c, "x").contains("qop"));
    }

    #[test]
    fn unsupported_challenges_are_errors() {
        assert!(matches!(
            Challenge::parse("Basic realm=\"x\""),
            Err(DigestError::NotDigest(_))
        ));
        assert!(matches!(
            Challenge::parse(r#"Digest realm="r", nonce="n", algorithm=SHA-512-256"#),
            Err(DigestError::Algorithm(_))
        ));
        assert!(matches!(
            Challenge::parse(r#"Digest realm="r""#),
            Err(DigestError::Missing("nonce"))
        ));
        let ch = Challenge::parse(r#"Digest realm="r", nonce="n", qop="auth-int""#).expect("parse");
        let c = Credentials {
            username: "u",
            password: "p",
            method: "REGISTER",
            uri: "sip:d",
            nc: 1,
            cnonce: "c",
        };
        assert!(matches!(response(&ch, &c), Err(DigestError::Qop(_))));
    }

    #[test]
    fn sha256_hashes_every_step_with_sha256() {
        // RFC 7616 §3.9.1 computes the same chain for HTTP; here over SIP's method and URI.
        let ch = Challenge::parse(
            r#"Digest realm="lab.test", nonce="n1", algorithm=SHA-256, qop="auth""#,
        )
        .expect("parse");
        assert_eq!(ch.algorithm, DigestAlgorithm::Sha256);
        let c = Credentials {
            username: "2001",
            password: "1234",
            method: "REGISTER",
            uri: "sip:lab.test",
            nc: 2,
            cnonce: "c0",
        };
        let h = |s: &str| hex::encode(Sha256::digest(s.as_bytes()));
        let ha1 = h("2001:lab.test:1234");
        let ha2 = h("REGISTER:sip:lab.test");
        let want = h(&format!("{ha1}:n1:00000002:c0:auth:{ha2}"));
        assert_eq!(response(&ch, &c).expect("ok"), want);
        assert_eq!(want.len(), 64);
        assert!(authorization(&ch, &c, &want).contains(",algorithm=SHA-256,"));
    }

    proptest! {
        #[test]
        fn challenge_parse_never_panics(s in "\\PC{0,120}") {
            let _ = Challenge::parse(&s);
            let _ = Challenge::parse(&format!("Digest {s}"));
        }
    }
}
