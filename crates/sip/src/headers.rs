//! Typed views over header values, parsed on demand.
//!
//! Owns: the grammar of the header values a registrar reads — Via, name-addr (From, To,
//! Contact), CSeq, Expires, SIP URIs and HTTP-style digest credentials/challenges — and
//! `Message` accessors that return them.
//!
//! Never: changes the message, panics, or guesses: a value that does not follow the grammar is
//! a [`ViewError`] naming what was expected and where (character offset within the value).
//!
//! Follows RFC 3261 §19.1 (SIP URI), §20 (header fields), §25.1 (ABNF); RFC 3581 (rport);
//! RFC 2617 §3.2 / RFC 7616 §3.4 (digest parameters).

use crate::message::{Message, is_token_byte};

/// Why a header value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("invalid {what} at char {offset} of {input:?}")]
    Syntax {
        what: &'static str,
        offset: usize,
        input: String,
    },
}

fn syntax<T>(what: &'static str, offset: usize, input: &str) -> Result<T, ViewError> {
    Err(ViewError::Syntax {
        what,
        offset,
        input: input.to_owned(),
    })
}

/// A `;name[=value]` parameter. `value` is as written (quotes kept); see [`Param::unquoted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
}

impl Param {
    /// The value with surrounding double quotes and backslash escapes removed.
    pub fn unquoted(&self) -> Option<String> {
        self.value.as_deref().map(unquote)
    }
}

fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return v.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn find_param<'a>(params: &'a [Param], name: &str) -> Option<&'a Param> {
    params.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Split `s` at `sep` where it is outside double quotes and angle brackets.
fn split_outside(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut angle = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '<' => angle = true,
            '>' => angle = false,
            c if c == sep && !angle => {
                parts.push(s.get(start..i).unwrap_or_default());
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(s.get(start..).unwrap_or_default());
    parts
}

/// Parse `;a=b;c` (the text after the first `;`, already split by the caller).
fn parse_params(pieces: &[&str], input: &str) -> Result<Vec<Param>, ViewError> {
    let mut out = Vec::new();
    for piece in pieces {
        let (name, value) = match piece.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (piece.trim(), None),
        };
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return syntax("parameter name", input.find(piece).unwrap_or(0), input);
        }
        out.push(Param {
            name: name.to_owned(),
            value: value.map(str::to_owned),
        });
    }
    Ok(out)
}

/// Split `host[:port]` (IPv6 references in brackets).
fn parse_hostport(s: &str, input: &str) -> Result<(String, Option<u16>), ViewError> {
    let at = input.find(s).unwrap_or(0);
    let (host, port) = if s.starts_with('[') {
        let Some(close) = s.find(']') else {
            return syntax("IPv6 reference", at, input);
        };
        let host = s.get(..=close).unwrap_or_default();
        match s.get(close + 1..).unwrap_or_default() {
            "" => (host, None),
            rest => match rest.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None => return syntax("':' before port", at + close + 1, input),
            },
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty()
        || !(host.starts_with('[')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
    {
        return syntax("host", at, input);
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return syntax("port", at + host.len() + 1, input),
        },
    };
    Ok((host.to_owned(), port))
}

/// A `sip:` or `sips:` URI (RFC 3261 §19.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sip` or `sips`, lower-cased.
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<Param>,
    /// The `?`-part, unparsed.
    pub headers: Option<String>,
}

impl SipUri {
    pub fn parse(input: &str) -> Result<SipUri, ViewError> {
        let s = input.trim();
        let Some((scheme, rest)) = s.split_once(':') else {
            return syntax("URI scheme", 0, input);
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "sip" && scheme != "sips" {
            return syntax("sip or sips scheme", 0, input);
        }
        let (rest, headers) = match rest.split_once('?') {
            Some((r, h)) => (r, Some(h.to_owned())),
            None => (rest, None),
        };
        let (userinfo, hostpart) = match rest.rfind('@') {
            Some(i) => (
                Some(rest.get(..i).unwrap_or_default()),
                rest.get(i + 1..).unwrap_or_default(),
            ),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => {
                let (user, pw) = match u.split_once(':') {
                    Some((a, b)) => (a, Some(b.to_owned())),
                    None => (u, None),
                };
                if user.is_empty() {
                    return syntax("user", scheme.len() + 1, input);
                }
                (Some(user.to_owned()), pw)
            }
        };
        let mut pieces = hostpart.split(';');
        let hostport = pieces.next().unwrap_or_default();
        let (host, port) = parse_hostport(hostport, input)?;
        let rest: Vec<&str> = pieces.collect();
        let params = parse_params(&rest, input)?;
        Ok(SipUri {
            scheme,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        find_param(&self.params, name)
    }

    /// `scheme:user@host` with the host lower-cased: the address-of-record key (RFC 3261
    /// §10.3 step 5 compares AORs by URI equality, where host is case-insensitive).
    pub fn aor(&self) -> String {
        match &self.user {
            Some(u) => format!("{}:{}@{}", self.scheme, u, self.host.to_ascii_lowercase()),
            None => format!("{}:{}", self.scheme, self.host.to_ascii_lowercase()),
        }
    }
}

/// `[display-name] <uri> *(;param)` or `addr-spec *(;param)` (RFC 3261 §20.10, §20.20, §20.39).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted.
    pub display_name: Option<String>,
    /// The URI as written, without angle brackets (`*` for a wildcard Contact).
    pub uri: String,
    /// Header parameters (after the URI), e.g. `tag`, `expires`, `+sip.instance`.
    pub params: Vec<Param>,
    /// Whether the URI was inside `<>`.
    pub bracketed: bool,
}

impl NameAddr {
    pub fn parse(input: &str) -> Result<NameAddr, ViewError> {
        let s = input.trim();
        if s.is_empty() {
            return syntax("name-addr", 0, input);
        }
        let lead = input.len() - input.trim_start().len();
        let (display_name, after_display) = if let Some(body) = s.strip_prefix('"') {
            let mut escaped = false;
            let mut close = None;
            for (i, c) in body.char_indices() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    close = Some(i);
                    break;
                }
            }
            let Some(close) = close else {
                return syntax("closing quote of display name", lead, input);
            };
            let quoted = s.get(..close + 2).unwrap_or_default();
            (
                Some(unquote(quoted)),
                s.get(close + 2..).unwrap_or_default(),
            )
        } else {
            let lt = s.find('<');
            let semi = s.find(';');
            match lt {
                Some(i) if semi.is_none_or(|j| i < j) => {
                    let name = s.get(..i).unwrap_or_default().trim();
                    (
                        (!name.is_empty()).then(|| name.to_owned()),
                        s.get(i..).unwrap_or_default(),
                    )
                }
                _ => (None, s),
            }
        };
        let rest = after_display.trim_start();
        let (uri, bracketed, params_text) = if let Some(inner) = rest.strip_prefix('<') {
            let Some(close) = inner.find('>') else {
                return syntax("'>' closing the URI", input.len(), input);
            };
            (
                inner.get(..close).unwrap_or_default().trim(),
                true,
                inner.get(close + 1..).unwrap_or_default(),
            )
        } else {
            if display_name.is_some() {
                return syntax(
                    "'<' after the display name",
                    input.len() - rest.len(),
                    input,
                );
            }
            // addr-spec form: any ';' belongs to the header, not the URI (§20.10).
            match rest.find(';') {
                Some(i) => (
                    rest.get(..i).unwrap_or_default().trim(),
                    false,
                    rest.get(i..).unwrap_or_default(),
                ),
                None => (rest.trim(), false, ""),
            }
        };
        if uri.is_empty() {
            return syntax("URI", input.len() - rest.len(), input);
        }
        let params_text = params_text.trim();
        let params = if params_text.is_empty() {
            Vec::new()
        } else {
            let Some(p) = params_text.strip_prefix(';') else {
                return syntax(
                    "';' before a parameter",
                    input.len() - params_text.len(),
                    input,
                );
            };
            parse_params(&split_outside(p, ';'), input)?
        };
        Ok(NameAddr {
            display_name,
            uri: uri.to_owned(),
            params,
            bracketed,
        })
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        find_param(&self.params, name)
    }
    pub fn tag(&self) -> Option<String> {
        self.param("tag").and_then(Param::unquoted)
    }
    /// The `expires` parameter of a Contact; `None` when absent, `Some(Err)` when not a number.
    pub fn expires(&self) -> Option<Result<u32, ViewError>> {
        let v = self.param("expires")?.unquoted().unwrap_or_default();
        Some(parse_delta_seconds(&v))
    }
    /// The `+sip.instance` parameter (RFC 5626 §4.1), unquoted.
    pub fn instance(&self) -> Option<String> {
        self.param("+sip.instance").and_then(Param::unquoted)
    }
    pub fn is_wildcard(&self) -> bool {
        self.uri == "*" && !self.bracketed
    }
    pub fn sip_uri(&self) -> Result<SipUri, ViewError> {
        SipUri::parse(&self.uri)
    }
}

fn parse_delta_seconds(v: &str) -> Result<u32, ViewError> {
    let t = v.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return syntax("delta-seconds", 0, v);
    }
    t.parse()
        .or_else(|_| syntax("delta-seconds below 2^32", 0, v))
}

/// One via-parm (RFC 3261 §20.42, RFC 3581).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `SIP/2.0`.
    pub protocol: String,
    /// `UDP`, `TCP`, `TLS`… as written.
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<Param>,
}

impl Via {
    pub fn parse(input: &str) -> Result<Via, ViewError> {
        let s = input.trim();
        // sent-protocol = protocol-name SLASH protocol-version SLASH transport, LWS around '/'.
        let mut parts = s.splitn(3, '/');
        let name = parts.next().unwrap_or_default().trim();
        let version = parts.next().unwrap_or_default().trim();
        let rest = parts.next().unwrap_or_default().trim_start();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return syntax("protocol name", 0, input);
        }
        if version.is_empty() || !version.bytes().all(is_token_byte) {
            return syntax("protocol version", name.len(), input);
        }
        let transport_len = rest.bytes().take_while(|&b| is_token_byte(b)).count();
        let transport = rest.get(..transport_len).unwrap_or_default();
        if transport.is_empty() {
            return syntax("transport", input.len() - rest.len(), input);
        }
        let after = rest.get(transport_len..).unwrap_or_default();
        let after_trim = after.trim_start();
        if after_trim.len() == after.len() {
            return syntax(
                "whitespace before sent-by",
                input.len() - after.len(),
                input,
            );
        }
        let mut pieces = split_outside(after_trim, ';').into_iter();
        let sent_by = pieces.next().unwrap_or_default().trim();
        let (host, port) = parse_hostport(sent_by, input)?;
        let rest: Vec<&str> = pieces.collect();
        let params = parse_params(&rest, input)?;
        Ok(Via {
            protocol: format!("{name}/{version}"),
            transport: transport.to_owned(),
            host,
            port,
            params,
        })
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        find_param(&self.params, name)
    }
    pub fn branch(&self) -> Option<&str> {
        self.param("branch").and_then(|p| p.value.as_deref())
    }
    pub fn received(&self) -> Option<&str> {
        self.param("received").and_then(|p| p.value.as_deref())
    }
    /// `None`: no rport; `Some(None)`: bare `rport` (the client asks for it, RFC 3581 §3);
    /// `Some(Some(port))`: filled in by a server.
    pub fn rport(&self) -> Option<Option<u16>> {
        let p = self.param("rport")?;
        Some(p.value.as_deref().and_then(|v| v.parse().ok()))
    }

    /// Serialise back to via-parm text (used for responses, after adding received/rport).
    pub fn to_wire(&self) -> String {
        let mut out = format!("{} {}", self.protocol_and_transport(), self.host);
        if let Some(port) = self.port {
            out.push_str(&format!(":{port}"));
        }
        for p in &self.params {
            out.push(';');
            out.push_str(&p.name);
            if let Some(v) = &p.value {
                out.push('=');
                out.push_str(v);
            }
        }
        out
    }

    fn protocol_and_transport(&self) -> String {
        format!("{}/{}", self.protocol, self.transport)
    }

    /// Set or replace a parameter, keeping its position when it exists.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        match self
            .params
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            Some(p) => p.value = value,
            None => self.params.push(Param {
                name: name.to_owned(),
                value,
            }),
        }
    }
}

/// `CSeq: number method` (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub number: u32,
    pub method: String,
}

impl CSeq {
    pub fn parse(input: &str) -> Result<CSeq, ViewError> {
        let mut it = input.split_ascii_whitespace();
        let number = it.next().unwrap_or_default();
        let method = it.next().unwrap_or_default();
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return syntax("CSeq number", 0, input);
        }
        let Ok(number) = number.parse::<u32>() else {
            return syntax("CSeq number below 2^32", 0, input);
        };
        if method.is_empty() || !method.bytes().all(is_token_byte) || it.next().is_some() {
            return syntax("CSeq method", input.find(method).unwrap_or(0), input);
        }
        Ok(CSeq {
            number,
            method: method.to_owned(),
        })
    }
}

/// One `name=value` of a digest challenge or credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParam {
    pub name: String,
    /// Unquoted, escapes resolved.
    pub value: String,
    /// Whether the peer sent it as a quoted-string (RFC 7616 fixes which ones must be).
    pub quoted: bool,
}

/// `Authorization`, `Proxy-Authorization`, `WWW-Authenticate` or `Proxy-Authenticate`:
/// scheme plus comma-separated auth-params (RFC 3261 §25.1, RFC 7616 §3.3–3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestParams {
    pub scheme: String,
    pub params: Vec<AuthParam>,
}

impl DigestParams {
    pub fn parse(input: &str) -> Result<DigestParams, ViewError> {
        let s = input.trim_start();
        let base = input.len() - s.len();
        let scheme_len = s.bytes().take_while(|&b| is_token_byte(b)).count();
        if scheme_len == 0 {
            return syntax("auth scheme", base, input);
        }
        let scheme = s.get(..scheme_len).unwrap_or_default().to_owned();
        let bytes = s.as_bytes();
        let mut i = scheme_len;
        let mut params = Vec::new();
        let skip_ws = |i: &mut usize| {
            while bytes.get(*i).is_some_and(|b| b.is_ascii_whitespace()) {
                *i += 1;
            }
        };
        loop {
            skip_ws(&mut i);
            if i >= bytes.len() {
                break;
            }
            let name_start = i;
            while bytes.get(i).copied().is_some_and(is_token_byte) {
                i += 1;
            }
            if i == name_start {
                return syntax("auth-param name", base + i, input);
            }
            let name = s.get(name_start..i).unwrap_or_default().to_owned();
            skip_ws(&mut i);
            if bytes.get(i) != Some(&b'=') {
                return syntax("'=' after auth-param name", base + i, input);
            }
            i += 1;
            skip_ws(&mut i);
            let (value, quoted) = if bytes.get(i) == Some(&b'"') {
                i += 1;
                let mut v = Vec::new();
                loop {
                    match bytes.get(i) {
                        None => return syntax("closing quote", base + i, input),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            if let Some(&c) = bytes.get(i + 1) {
                                v.push(c);
                            }
                            i += 2;
                        }
                        Some(&c) => {
                            v.push(c);
                            i += 1;
                        }
                    }
                }
                (String::from_utf8_lossy(&v).into_owned(), true)
            } else {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|&b| b != b',' && !b.is_ascii_whitespace())
                {
                    i += 1;
                }
                if i == start {
                    return syntax("auth-param value", base + i, input);
                }
                (s.get(start..i).unwrap_or_default().to_owned(), false)
            };
            params.push(AuthParam {
                name,
                value,
                quoted,
            });
            skip_ws(&mut i);
            match bytes.get(i) {
                None => break,
                Some(b',') => i += 1,
                Some(_) => return syntax("',' between auth-params", base + i, input),
            }
        }
        Ok(DigestParams { scheme, params })
    }

    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_str())
    }
    pub fn username(&self) -> Option<&str> {
        self.get("username")
    }
    pub fn realm(&self) -> Option<&str> {
        self.get("realm")
    }
    pub fn nonce(&self) -> Option<&str> {
        self.get("nonce")
    }
    pub fn uri(&self) -> Option<&str> {
        self.get("uri")
    }
    pub fn response(&self) -> Option<&str> {
        self.get("response")
    }
    pub fn algorithm(&self) -> Option<&str> {
        self.get("algorithm")
    }
    pub fn qop(&self) -> Option<&str> {
        self.get("qop")
    }
    /// The nonce count exactly as sent (8 hex digits per RFC 7616).
    pub fn nc(&self) -> Option<&str> {
        self.get("nc")
    }
    /// The nonce count as a number: it is hexadecimal (`0000000a` is 10).
    pub fn nc_value(&self) -> Option<u32> {
        let nc = self.nc()?;
        if nc.is_empty() || nc.len() > 8 {
            return None;
        }
        u32::from_str_radix(nc, 16).ok()
    }
    pub fn cnonce(&self) -> Option<&str> {
        self.get("cnonce")
    }
    pub fn opaque(&self) -> Option<&str> {
        self.get("opaque")
    }
    pub fn stale(&self) -> Option<&str> {
        self.get("stale")
    }
}

/// Typed accessors on a message.
impl Message {
    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID").map(|h| h.value())
    }
    pub fn user_agent(&self) -> Option<&str> {
        self.header("User-Agent").map(|h| h.value())
    }
    pub fn cseq(&self) -> Result<CSeq, ViewError> {
        CSeq::parse(
            self.header("CSeq")
                .ok_or(ViewError::Missing("CSeq"))?
                .value(),
        )
    }
    pub fn from_addr(&self) -> Result<NameAddr, ViewError> {
        NameAddr::parse(
            self.header("From")
                .ok_or(ViewError::Missing("From"))?
                .value(),
        )
    }
    pub fn to_addr(&self) -> Result<NameAddr, ViewError> {
        NameAddr::parse(self.header("To").ok_or(ViewError::Missing("To"))?.value())
    }
    /// Every via-parm, in order, across all Via headers.
    pub fn vias(&self) -> Result<Vec<Via>, ViewError> {
        let mut out = Vec::new();
        for h in self.headers_named("Via") {
            for part in split_outside(h.value(), ',') {
                out.push(Via::parse(part)?);
            }
        }
        if out.is_empty() {
            return Err(ViewError::Missing("Via"));
        }
        Ok(out)
    }
    pub fn top_via(&self) -> Result<Via, ViewError> {
        let h = self.header("Via").ok_or(ViewError::Missing("Via"))?;
        let first = split_outside(h.value(), ',')
            .into_iter()
            .next()
            .unwrap_or_default();
        Via::parse(first)
    }
    /// Every contact, in order, across all Contact headers (empty when there is none).
    pub fn contacts(&self) -> Result<Vec<NameAddr>, ViewError> {
        let mut out = Vec::new();
        for h in self.headers_named("Contact") {
            for part in split_outside(h.value(), ',') {
                out.push(NameAddr::parse(part)?);
            }
        }
        Ok(out)
    }
    /// The Expires header: `None` when absent.
    pub fn expires(&self) -> Option<Result<u32, ViewError>> {
        self.header("Expires")
            .map(|h| parse_delta_seconds(h.value()))
    }
    /// Every `Authorization` header, parsed.
    pub fn authorizations(&self) -> Vec<Result<DigestParams, ViewError>> {
        self.headers_named("Authorization")
            .map(|h| DigestParams::parse(h.value()))
            .collect()
    }
    /// Every `WWW-Authenticate` header, parsed.
    pub fn challenges(&self) -> Vec<Result<DigestParams, ViewError>> {
        self.headers_named("WWW-Authenticate")
            .map(|h| DigestParams::parse(h.value()))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn via_with_rport_and_lws() {
        let v = Via::parse("SIP / 2.0 / UDP  10.1.1.20:5062 ;branch=z9hG4bK77;rport").unwrap();
        assert_eq!(v.protocol, "SIP/2.0");
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "10.1.1.20");
        assert_eq!(v.port, Some(5062));
        assert_eq!(v.branch(), Some("z9hG4bK77"));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), None);
        let mut v2 = v.clone();
        v2.set_param("rport", Some("4000".into()));
        v2.set_param("received", Some("10.9.9.9".into()));
        assert_eq!(
            v2.to_wire(),
            "SIP/2.0/UDP 10.1.1.20:5062;branch=z9hG4bK77;rport=4000;received=10.9.9.9"
        );
        let v6 = Via::parse("SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKx").unwrap();
        assert_eq!(v6.host, "[2001:db8::1]");
        assert_eq!(v6.port, Some(5061));
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("SIP/2.0/UDP host:99999").is_err());
        assert!(Via::parse("garbage").is_err());
    }

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse("\"Desk \\\"1\\\"\" <sip:1001@lab.test;transport=tcp>;tag=abc")
            .unwrap();
        assert_eq!(a.display_name.as_deref(), Some("Desk \"1\""));
        assert_eq!(a.uri, "sip:1001@lab.test;transport=tcp");
        assert_eq!(a.tag().as_deref(), Some("abc"));
        let b = NameAddr::parse("Desk <sip:1@h>").unwrap();
        assert_eq!(b.display_name.as_deref(), Some("Desk"));
        let c = NameAddr::parse("sip:1001@10.1.1.20:5060;expires=60").unwrap();
        assert_eq!(c.uri, "sip:1001@10.1.1.20:5060");
        assert_eq!(c.expires(), Some(Ok(60)));
        let d = NameAddr::parse(
            "<sip:1001@10.1.1.20;transport=udp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-00001b4f1234>\";expires=3600",
        )
        .unwrap();
        assert_eq!(
            d.instance().as_deref(),
            Some("<urn:uuid:00000000-0000-1000-8000-00001b4f1234>")
        );
        assert_eq!(d.expires(), Some(Ok(3600)));
        assert!(NameAddr::parse("*").unwrap().is_wildcard());
        assert!(NameAddr::parse("<sip:a@b").is_err());
        assert!(NameAddr::parse("\"open <sip:a@b>").is_err());
        assert!(
            NameAddr::parse("<sip:a@b>;expires=soon")
                .unwrap()
                .expires()
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn sip_uri_parts() {
        let u = SipUri::parse("sip:1001:pw@Lab.Test:5070;transport=tcp;lr?subject=x").unwrap();
        assert_eq!(u.scheme, "sip");
        assert_eq!(u.user.as_deref(), Some("1001"));
        assert_eq!(u.password.as_deref(), Some("pw"));
        assert_eq!(u.host, "Lab.Test");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.param("transport").unwrap().value.as_deref(), Some("tcp"));
        assert_eq!(u.param("lr").unwrap().value, None);
        assert_eq!(u.headers.as_deref(), Some("subject=x"));
        assert_eq!(u.aor(), "sip:1001@lab.test");
        assert_eq!(
            SipUri::parse("sips:lab.test").unwrap().aor(),
            "sips:lab.test"
        );
        assert!(SipUri::parse("tel:+123").is_err());
        assert!(SipUri::parse("sip:").is_err());
        assert!(SipUri::parse("sip:a@h:x").is_err());
    }

    #[test]
    fn cseq_and_expires() {
        assert_eq!(
            CSeq::parse("  2   REGISTER ").unwrap(),
            CSeq {
                number: 2,
                method: "REGISTER".into()
            }
        );
        assert!(CSeq::parse("REGISTER 2").is_err());
        assert!(CSeq::parse("99999999999 REGISTER").is_err());
        assert!(CSeq::parse("1").is_err());
        assert_eq!(parse_delta_seconds(" 900 "), Ok(900));
        assert!(parse_delta_seconds("-1").is_err());
    }

    #[test]
    fn digest_credentials_with_hex_nc() {
        let d = DigestParams::parse(
            "Digest username=\"1001\",realm=\"lab.test\", nonce=\"abc\", uri=\"sip:lab.test\", \
             response=\"0123\", algorithm=MD5, qop=auth, nc=0000000a, cnonce=\"x\\\"y\", opaque=\"o\"",
        )
        .unwrap();
        assert!(d.is_digest());
        assert_eq!(d.username(), Some("1001"));
        assert_eq!(d.realm(), Some("lab.test"));
        assert_eq!(d.uri(), Some("sip:lab.test"));
        assert_eq!(d.algorithm(), Some("MD5"));
        assert_eq!(d.qop(), Some("auth"));
        assert_eq!(d.nc(), Some("0000000a"));
        assert_eq!(d.nc_value(), Some(10));
        assert_eq!(d.cnonce(), Some("x\"y"));
        assert_eq!(d.opaque(), Some("o"));
        assert!(
            d.params
                .iter()
                .find(|p| p.name == "qop")
                .is_some_and(|p| !p.quoted)
        );
        assert!(DigestParams::parse("Digest realm=\"unterminated").is_err());
        assert!(DigestParams::parse("Digest realm").is_err());
        assert!(DigestParams::parse("Digest a=b c=d").is_err());
        assert!(DigestParams::parse("").is_err());
    }

    #[test]
    fn message_accessors() {
        let text = "REGISTER sip:lab.test SIP/2.0\r\n\
v: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.3;branch=z9hG4bK2\r\n\
f: <sip:1@lab.test>;tag=9\r\nt: sip:1@lab.test\r\ni: cid\r\nCSeq: 7 REGISTER\r\n\
m: <sip:1@10.0.0.2>;expires=30, <sip:1@10.0.0.9>\r\nExpires: 60\r\n\
User-Agent: Avaya one-X Deskphone 2.6.14 00:1b:4f:12:34:56\r\n\r\n";
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(m.vias().unwrap().len(), 2);
        assert_eq!(m.top_via().unwrap().host, "10.0.0.2");
        assert_eq!(m.from_addr().unwrap().tag().as_deref(), Some("9"));
        assert_eq!(m.to_addr().unwrap().uri, "sip:1@lab.test");
        assert_eq!(m.call_id(), Some("cid"));
        assert_eq!(m.cseq().unwrap().number, 7);
        assert_eq!(m.contacts().unwrap().len(), 2);
        assert_eq!(m.expires(), Some(Ok(60)));
        assert!(m.user_agent().unwrap().starts_with("Avaya one-X"));
        assert!(m.authorizations().is_empty());
    }
}
