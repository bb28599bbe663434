//! Minimal SIP message syntax for a UAC that only sends REGISTER (RFC 3261 §7, §20).
//!
//! Owns: parsing responses (status line, headers with compact names and folding, CRLF or
//! LF, comma-separated header lists) into a small typed view, and the helpers the
//! registration logic needs (top Via branch, CSeq, Expires, Contact `expires`, Retry-After).
//! Never: builds requests (that is `register`), never panics on input.
//! Not supported: bodies (ignored), SIP requests arriving at the phone (not answered).

/// A parsed SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Header name (long form, lower case) and raw value, in order; lists stay unsplit.
    pub headers: Vec<(String, String)>,
}

/// Why bytes are not a usable SIP response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipParseError {
    #[error("sip message is not utf-8")]
    NotUtf8,
    #[error("sip message is a request ('{0}'), not a response")]
    Request(String),
    #[error("bad sip status line '{0}'")]
    BadStatusLine(String),
    #[error("bad sip header line '{0}'")]
    BadHeader(String),
}

/// Expand a compact header name (RFC 3261 §7.3.3) and lower-case it.
pub fn long_name(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    match lower.as_str() {
        "i" => "call-id",
        "m" => "contact",
        "e" => "content-encoding",
        "l" => "content-length",
        "c" => "content-type",
        "f" => "from",
        "s" => "subject",
        "k" => "supported",
        "t" => "to",
        "v" => "via",
        other => other,
    }
    .to_string()
}

/// Split a header value on commas that are outside quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut angle, mut escaped) = (false, false, false);
    for ch in value.chars() {
        if escaped {
            escaped = false;
            cur.push(ch);
            continue;
        }
        match ch {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// `;name=value` parameters after the URI part of a header value (`<...>` skipped).
pub fn header_param(value: &str, name: &str) -> Option<String> {
    let after_uri = match (value.find('<'), value.find('>')) {
        (Some(open), Some(close)) if close > open => &value[close + 1..],
        _ => value,
    };
    after_uri.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

impl Response {
    /// Parse a datagram or a framed TCP message.
    pub fn parse(bytes: &[u8]) -> Result<Self, SipParseError> {
        let text = std::str::from_utf8(bytes).map_err(|_| SipParseError::NotUtf8)?;
        let head = match (text.find("\r\n\r\n"), text.find("\n\n")) {
            (Some(a), Some(b)) => &text[..a.min(b)],
            (Some(a), None) | (None, Some(a)) => &text[..a],
            (None, None) => text,
        };
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let first = lines.next().unwrap_or_default().trim_start();
        if !first.starts_with("SIP/") {
            return Err(SipParseError::Request(first.chars().take(60).collect()));
        }
        let mut parts = first.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err(SipParseError::BadStatusLine(first.to_string()));
        }
        let status = parts
            .next()
            .filter(|s| s.len() == 3)
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| (100..700).contains(s))
            .ok_or_else(|| SipParseError::BadStatusLine(first.to_string()))?;
        let reason = parts.next().unwrap_or_default().to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                // Folded continuation of the previous header (RFC 3261 §7.3.1).
                match headers.last_mut() {
                    Some((_, v)) => {
                        v.push(' ');
                        v.push_str(line.trim());
                        continue;
                    }
                    None => return Err(SipParseError::BadHeader(line.to_string())),
                }
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| SipParseError::BadHeader(line.to_string()))?;
            if name.trim().is_empty() {
                return Err(SipParseError::BadHeader(line.to_string()));
            }
            headers.push((long_name(name), value.trim().to_string()));
        }
        Ok(Self {
            status,
            reason,
            headers,
        })
    }

    /// The first value of a header (long or compact name).
    pub fn header(&self, name: &str) -> Option<&str> {
        let want = long_name(name);
        self.headers
            .iter()
            .find(|(n, _)| *n == want)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, comma lists split.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        let want = long_name(name);
        self.headers
            .iter()
            .filter(|(n, _)| *n == want)
            .flat_map(|(_, v)| {
                // WWW-Authenticate values contain commas between parameters: never split.
                if want.ends_with("authenticate") {
                    vec![v.clone()]
                } else {
                    split_list(v)
                }
            })
            .collect()
    }

    /// `branch` of the top Via.
    pub fn top_via_branch(&self) -> Option<String> {
        let top = self.header_values("via").into_iter().next()?;
        header_param(&top, "branch")
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, String)> {
        let v = self.header("cseq")?;
        let mut it = v.split_whitespace();
        let n = it.next()?.parse().ok()?;
        let m = it.next()?.to_string();
        Some((n, m))
    }

    /// The `Expires` header in seconds.
    pub fn expires(&self) -> Option<u32> {
        self.header("expires")?.trim().parse().ok()
    }

    /// `Min-Expires` in seconds (RFC 3261 §20.23), from a 423.
    pub fn min_expires(&self) -> Option<u32> {
        self.header("min-expires")?.trim().parse().ok()
    }

    /// `expires` of the Contact whose URI contains `needle` (our `ip:port`).
    pub fn contact_expires(&self, needle: &str) -> Option<u32> {
        self.header_values("contact")
            .iter()
            .filter(|c| c.contains(needle))
            .find_map(|c| header_param(c, "expires")?.parse().ok())
    }

    /// Retry-After in seconds (leading number; comments and parameters ignored).
    pub fn retry_after(&self) -> Option<u32> {
        let v = self.header("retry-after")?;
        let digits: String = v
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OK: &str = "SIP/2.0 200 OK\r\n\
v: SIP/2.0/UDP 10.0.0.50:5060;branch=z9hG4bKabc;rport=5060;received=10.0.0.50\r\n\
From: <sip:2001@lab.test>;tag=t1\r\n\
To: <sip:2001@lab.test>;tag=srv\r\n\
i: c1@10.0.0.50\r\n\
CSeq : 2 REGISTER\r\n\
Contact: <sip:2001@10.0.0.99:5060>;expires=30, <sip:2001@10.0.0.50:5060;transport=udp>\r\n\
\x20;expires=600\r\n\
Expires: 900\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn parses_compact_names_folding_lists_and_params() {
        let r = Response::parse(OK.as_bytes()).expect("parse");
        assert_eq!(r.status, 200);
        assert_eq!(r.reason, "OK");
        assert_eq!(r.top_via_branch().as_deref(), Some("z9hG4bKabc"));
        assert_eq!(r.header("call-id"), Some("c1@10.0.0.50"));
        assert_eq!(r.cseq(), Some((2, "REGISTER".into())));
        assert_eq!(r.contact_expires("10.0.0.50:5060"), Some(600));
        assert_eq!(r.contact_expires("10.0.0.99:5060"), Some(30));
        assert_eq!(r.expires(), Some(900));
    }

    #[test]
    fn lf_only_and_retry_after_with_comment() {
        let r =
            Response::parse(b"SIP/2.0 503 Busy\nRetry-After: 120 (maintenance);duration=60\n\n")
                .expect("parse");
        assert_eq!(r.status, 503);
        assert_eq!(r.retry_after(), Some(120));
    }

    #[test]
    fn requests_and_garbage_are_errors() {
        assert!(matches!(
            Response::parse(b"OPTIONS sip:x SIP/2.0\r\n\r\n"),
            Err(SipParseError::Request(_))
        ));
        assert!(Response::parse(b"SIP/2.0 99 Low\r\n\r\n").is_err());
        assert!(Response::parse(b"SIP/2.0 200 OK\r\nno colon here\r\n\r\n").is_err());
        assert!(Response::parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn lists_split_outside_quotes_and_brackets() {
        assert_eq!(
            split_list(r#""a, b" <sip:x@y;p=1,2>;q=1, <sip:z>"#),
            vec![
                r#""a, b" <sip:x@y;p=1,2>;q=1"#.to_string(),
                "<sip:z>".to_string()
            ]
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(r) = Response::parse(&bytes) {
                let _ = (r.top_via_branch(), r.cseq(), r.expires(), r.retry_after(), r.contact_expires("x"));
            }
        }

        #[test]
        fn parse_never_panics_on_text(s in "SIP/2.0 [0-9]{3} [ -~]{0,10}(\r?\n[ -~]{0,40}){0,6}") {
            if let Ok(r) = Response::parse(s.as_bytes()) {
                let _ = (r.top_via_branch(), r.cseq(), r.header_values("contact"));
            }
        }
    }
}
