//! Lossless SIP message tokenizer.
//!
//! Owns: splitting a SIP message into start line, raw headers (name, value, byte spans) and
//! body, exactly as the peer sent it; Content-Length framing for stream transports; the list
//! of deviations ([`Finding`]) a conformance tool must report with byte offsets.
//!
//! Never: rewrites, normalises or drops bytes (`as_bytes()` is always the input), interprets
//! header values (that is [`crate::headers`]), panics on any input.
//!
//! Follows RFC 3261 §7 (message structure, §7.3.1 folding, §7.3.3 compact forms), §18.3
//! (framing), §25 (ABNF), §8.1.1 (mandatory request headers).

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// Largest header section accepted on a stream before the framer gives up: a peer that never
/// sends the empty line must not make us buffer forever.
pub const MAX_HEAD_LEN: usize = 64 * 1024;

/// A byte range in [`Message::as_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start)
    }
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// Why a message could not be tokenized: where, and what the tokenizer expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sip parse error at byte {offset}: expected {expected}")]
pub struct ParseError {
    pub offset: usize,
    pub expected: &'static str,
}

fn err<T>(offset: usize, expected: &'static str) -> Result<T, ParseError> {
    Err(ParseError { offset, expected })
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request {
        method: String,
        request_uri: String,
        version: String,
    },
    Response {
        version: String,
        status: u16,
        reason: String,
    },
}

/// Which line endings the message used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    Crlf,
    /// Every line ended with a bare LF.
    Lf,
    /// Some CRLF, some bare LF.
    Mixed,
}

/// One header as sent. `value` is the unfolded value (continuation lines joined by one space,
/// outer whitespace trimmed); the exact bytes stay reachable through the spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    raw_name: String,
    /// Known names borrow their RFC spelling: no allocation per header for them.
    name: Cow<'static, str>,
    value: String,
    span: Span,
    name_span: Span,
    value_span: Span,
    folded: bool,
}

impl Header {
    /// The canonical name (`Call-ID` for `i`, `call-id` or `CALL-ID`); unknown names as sent.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The name exactly as it appeared on the wire.
    pub fn raw_name(&self) -> &str {
        &self.raw_name
    }
    /// True when the raw name was a compact form (RFC 3261 §7.3.3).
    pub fn is_compact(&self) -> bool {
        self.raw_name.len() == 1 && self.name.len() > 1
    }
    pub fn value(&self) -> &str {
        &self.value
    }
    /// The whole header, from the first byte of its name to the end of its last line
    /// (line ending excluded).
    pub fn span(&self) -> Span {
        self.span
    }
    pub fn name_span(&self) -> Span {
        self.name_span
    }
    /// The raw value bytes, including any folding.
    pub fn value_span(&self) -> Span {
        self.value_span
    }
    /// True when the value continued on further lines (RFC 3261 §7.3.1).
    pub fn is_folded(&self) -> bool {
        self.folded
    }
    /// Case-insensitive match against the canonical name; compact forms match too.
    pub fn is(&self, name: &str) -> bool {
        self.is_canonical(canonical_name(name))
    }
    /// [`Header::is`] for a name already in canonical form: lookups over every header
    /// canonicalise the name they look for once, not once per header.
    fn is_canonical(&self, canonical: &str) -> bool {
        self.name.eq_ignore_ascii_case(canonical)
    }
}

/// What kind of deviation a [`Finding`] records. Serialised with its stable snake_case name
/// ([`Finding::code`]) in a `code` field beside its details, e.g.
/// `{"code": "folded_header", "offset": 120, "name": "Contact"}`.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum FindingKind {
    /// Empty lines before the start line (tolerated by RFC 3261 §7.5 on streams).
    LeadingEmptyLines { count: usize },
    /// Lines ended with a bare LF instead of CRLF (RFC 3261 §7).
    LfLineEndings { lines: usize },
    /// A header value continued on a further line (RFC 3261 §7.3.1).
    FoldedHeader { name: String },
    /// A header RFC 3261 §8.1.1 (requests) or §8.2.6.2 (responses) requires is absent.
    MissingHeader { name: String },
    /// A header that may appear once appeared again (RFC 3261 §7.3.1, §20).
    DuplicateHeader { name: String },
    /// Content-Length disagrees with the bytes that follow the headers (RFC 3261 §18.3).
    ContentLengthMismatch { declared: usize, actual: usize },
    /// Content-Length is not a decimal number.
    InvalidContentLength { value: String },
    /// No Content-Length on a stream transport, where it is mandatory (RFC 3261 §18.3, §20.14).
    MissingContentLength,
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5).
    CseqMethodMismatch { method: String, cseq: String },
    /// A SIP version other than SIP/2.0.
    UnexpectedVersion { version: String },
    /// A header value is not valid UTF-8 (shown lossily).
    InvalidUtf8 { name: String },
}

/// A deviation from RFC 3261, with the byte offset where it shows.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Finding {
    pub offset: usize,
    #[serde(flatten)]
    pub kind: FindingKind,
}

impl Finding {
    /// A stable snake_case code, for checks that match on findings.
    pub fn code(&self) -> &'static str {
        match self.kind {
            FindingKind::LeadingEmptyLines { .. } => "leading_empty_lines",
            FindingKind::LfLineEndings { .. } => "lf_line_endings",
            FindingKind::FoldedHeader { .. } => "folded_header",
            FindingKind::MissingHeader { .. } => "missing_header",
            FindingKind::DuplicateHeader { .. } => "duplicate_header",
            FindingKind::ContentLengthMismatch { .. } => "content_length_mismatch",
            FindingKind::InvalidContentLength { .. } => "invalid_content_length",
            FindingKind::MissingContentLength => "missing_content_length",
            FindingKind::CseqMethodMismatch { .. } => "cseq_method_mismatch",
            FindingKind::UnexpectedVersion { .. } => "unexpected_version",
            FindingKind::InvalidUtf8 { .. } => "invalid_utf8",
        }
    }
}

impl fmt::Display for Finding {
    /// `code@offset: detail` — the form carried in timeline events.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}: ", self.code(), self.offset)?;
        match &self.kind {
            FindingKind::LeadingEmptyLines { count } => {
                write!(f, "{count} empty line(s) before the start line")
            }
            FindingKind::LfLineEndings { lines } => {
                write!(
                    f,
                    "{lines} line(s) end with bare LF instead of CRLF (RFC 3261 §7)"
                )
            }
            FindingKind::FoldedHeader { name } => {
                write!(f, "{name} is folded over several lines (RFC 3261 §7.3.1)")
            }
            FindingKind::MissingHeader { name } => {
                write!(f, "mandatory header {name} is missing (RFC 3261 §8.1.1)")
            }
            FindingKind::DuplicateHeader { name } => {
                write!(f, "single-valued header {name} appears more than once")
            }
            FindingKind::ContentLengthMismatch { declared, actual } => write!(
                f,
                "Content-Length says {declared} but {actual} body byte(s) follow (RFC 3261 §18.3)"
            ),
            FindingKind::InvalidContentLength { value } => {
                write!(f, "Content-Length {value:?} is not a decimal number")
            }
            FindingKind::MissingContentLength => {
                write!(
                    f,
                    "no Content-Length on a stream transport (RFC 3261 §18.3)"
                )
            }
            FindingKind::CseqMethodMismatch { method, cseq } => write!(
                f,
                "CSeq method {cseq} differs from request method {method} (RFC 3261 §8.1.1.5)"
            ),
            FindingKind::UnexpectedVersion { version } => {
                write!(f, "SIP version {version:?} is not SIP/2.0")
            }
            FindingKind::InvalidUtf8 { name } => write!(f, "{name} value is not valid UTF-8"),
        }
    }
}

/// A tokenized SIP message that keeps its original bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    raw: Vec<u8>,
    start_line: StartLine,
    start_span: Span,
    headers: Vec<Header>,
    body_span: Span,
    line_ending: LineEnding,
    findings: Vec<Finding>,
}

/// (canonical name, compact form). RFC 3261 §7.3.3 / §20 plus the compact forms later RFCs
/// registered (3515, 3841, 3892, 4028, 6665, 8224).
const KNOWN_HEADERS: &[(&str, Option<&str>)] = &[
    ("Accept", None),
    ("Accept-Contact", Some("a")),
    ("Accept-Encoding", None),
    ("Accept-Language", None),
    ("Alert-Info", None),
    ("Allow", None),
    ("Allow-Events", Some("u")),
    ("Authentication-Info", None),
    ("Authorization", None),
    ("Call-ID", Some("i")),
    ("Call-Info", None),
    ("Contact", Some("m")),
    ("Content-Disposition", None),
    ("Content-Encoding", Some("e")),
    ("Content-Language", None),
    ("Content-Length", Some("l")),
    ("Content-Type", Some("c")),
    ("CSeq", None),
    ("Date", None),
    ("Error-Info", None),
    ("Event", Some("o")),
    ("Expires", None),
    ("From", Some("f")),
    ("Identity", Some("y")),
    ("Identity-Info", Some("n")),
    ("In-Reply-To", None),
    ("Max-Forwards", None),
    ("MIME-Version", None),
    ("Min-Expires", None),
    ("Organization", None),
    ("Path", None),
    ("Priority", None),
    ("Proxy-Authenticate", None),
    ("Proxy-Authorization", None),
    ("Proxy-Require", None),
    ("Record-Route", None),
    ("Refer-To", Some("r")),
    ("Referred-By", Some("b")),
    ("Reject-Contact", Some("j")),
    ("Reply-To", None),
    ("Request-Disposition", Some("d")),
    ("Require", None),
    ("Retry-After", None),
    ("Route", None),
    ("Server", None),
    ("Session-Expires", Some("x")),
    ("Subject", Some("s")),
    ("Subscription-State", None),
    ("Supported", Some("k")),
    ("Timestamp", None),
    ("To", Some("t")),
    ("Unsupported", None),
    ("User-Agent", None),
    ("Via", Some("v")),
    ("Warning", None),
    ("WWW-Authenticate", None),
];

/// How many headers a message's header list has room for before it grows.
const TYPICAL_HEADERS: usize = 16;

/// Headers that RFC 3261 §20 allows only once.
const SINGLE_VALUED: &[&str] = &[
    "Call-ID",
    "CSeq",
    "From",
    "To",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "Expires",
    "Min-Expires",
    "User-Agent",
    "Server",
    "Date",
    "Retry-After",
    "Timestamp",
    "MIME-Version",
];

/// Canonical spelling of a header name: compact forms expanded, known names in their RFC
/// spelling, anything else returned unchanged.
pub fn canonical_name(raw: &str) -> &str {
    known_name(raw).unwrap_or(raw)
}

/// The RFC spelling of a known header name, in any case or its compact form.
fn known_name(raw: &str) -> Option<&'static str> {
    KNOWN_HEADERS
        .iter()
        .find(|(full, compact)| {
            full.eq_ignore_ascii_case(raw) || compact.is_some_and(|c| c.eq_ignore_ascii_case(raw))
        })
        .map(|(full, _)| *full)
}

/// RFC 3261 §25.1 `token` characters.
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// One physical line: content `start..end`, next line starts at `next`.
struct Line {
    start: usize,
    end: usize,
    next: usize,
    lf_only: bool,
}

fn next_line(buf: &[u8], pos: usize) -> Option<Line> {
    let rest = buf.get(pos..)?;
    let nl = rest.iter().position(|&b| b == b'\n')? + pos;
    let crlf = nl > pos && buf.get(nl - 1) == Some(&b'\r');
    Some(Line {
        start: pos,
        end: if crlf { nl - 1 } else { nl },
        next: nl + 1,
        lf_only: !crlf,
    })
}

/// The header section, parsed; `end` is the first body byte.
struct Head {
    start_line: StartLine,
    start_span: Span,
    headers: Vec<Header>,
    end: usize,
    lf_lines: usize,
    crlf_lines: usize,
    first_lf: Option<usize>,
    findings: Vec<Finding>,
}

/// Parse the header section. `complete` means the buffer is the whole message (a datagram):
/// running out of bytes is then an error instead of `Ok(None)`.
fn parse_head(buf: &[u8], complete: bool) -> Result<Option<Head>, ParseError> {
    let mut findings = Vec::new();
    let mut lf_lines = 0usize;
    let mut crlf_lines = 0usize;
    let mut first_lf = None;
    let mut count_ending = |line: &Line| {
        if line.lf_only {
            lf_lines += 1;
            first_lf.get_or_insert(line.end);
        } else {
            crlf_lines += 1;
        }
    };
    let incomplete = |at: usize, expected: &'static str| {
        if complete {
            err(at, expected)
        } else if buf.len() > MAX_HEAD_LEN {
            err(MAX_HEAD_LEN, "end of header section within 65536 bytes")
        } else {
            Ok(None)
        }
    };

    // RFC 3261 §7.5: empty lines before the start line are ignored (stream keep-alives).
    let mut pos = 0;
    let mut leading = 0;
    let first = loop {
        match next_line(buf, pos) {
            None if complete && pos < buf.len() => {
                // A datagram without any line ending: say what is wrong with the line itself
                // when we can, rather than only that it never ends.
                let span = Span {
                    start: pos,
                    end: buf.len(),
                };
                parse_start_line(buf, span, &mut findings)?;
                return err(buf.len(), "line ending after the start line");
            }
            None => return incomplete(buf.len(), "line ending after the start line"),
            Some(line) if line.start == line.end => {
                count_ending(&line);
                leading += 1;
                pos = line.next;
            }
            Some(line) => break line,
        }
    };
    if leading > 0 {
        findings.push(Finding {
            offset: 0,
            kind: FindingKind::LeadingEmptyLines { count: leading },
        });
    }
    count_ending(&first);
    let start_span = Span {
        start: first.start,
        end: first.end,
    };
    let start_line = parse_start_line(buf, start_span, &mut findings)?;

    // Room for a phone's usual dozen or so headers at once: growing a vector of headers
    // one doubling at a time was a tenth of the registrar's time per message.
    let mut headers: Vec<Header> = Vec::with_capacity(TYPICAL_HEADERS);
    let mut pos = first.next;
    let end = loop {
        let Some(line) = next_line(buf, pos) else {
            return incomplete(buf.len(), "empty line ending the header section");
        };
        count_ending(&line);
        pos = line.next;
        let content = buf.get(line.start..line.end).unwrap_or_default();
        if content.is_empty() {
            break line.next;
        }
        if content.first().copied().is_some_and(is_ws) {
            // RFC 3261 §7.3.1: a line starting with whitespace continues the previous header.
            let Some(last) = headers.last_mut() else {
                return err(line.start, "a header name, not a continuation line");
            };
            last.span.end = line.end;
            last.value_span.end = line.end;
            last.folded = true;
            continue;
        }
        headers.push(parse_header_line(buf, &line)?);
    };

    for h in &mut headers {
        let raw_value = buf.get(h.value_span.range()).unwrap_or_default();
        let (value, valid) = unfold(raw_value);
        h.value = value;
        if !valid {
            findings.push(Finding {
                offset: h.value_span.start,
                kind: FindingKind::InvalidUtf8 {
                    name: h.name.to_string(),
                },
            });
        }
        if h.folded {
            findings.push(Finding {
                offset: h.span.start,
                kind: FindingKind::FoldedHeader {
                    name: h.name.to_string(),
                },
            });
        }
    }

    Ok(Some(Head {
        start_line,
        start_span,
        headers,
        end,
        lf_lines,
        crlf_lines,
        first_lf,
        findings,
    }))
}

fn parse_header_line(buf: &[u8], line: &Line) -> Result<Header, ParseError> {
    let content = buf.get(line.start..line.end).unwrap_or_default();
    let Some(colon) = content.iter().position(|&b| b == b':') else {
        return err(line.start, "':' after a header name");
    };
    // HCOLON = *( SP / HTAB ) ":" SWS — `CSeq : 2` is legal.
    let name_bytes = content.get(..colon).unwrap_or_default();
    let name_len = name_bytes.len() - name_bytes.iter().rev().take_while(|&&b| is_ws(b)).count();
    let name_bytes = name_bytes.get(..name_len).unwrap_or_default();
    if name_bytes.is_empty() {
        return err(line.start, "a header name");
    }
    if let Some(bad) = name_bytes.iter().position(|&b| !is_token_byte(b)) {
        return err(line.start + bad, "a token character in the header name");
    }
    let raw_name = String::from_utf8_lossy(name_bytes).into_owned();
    let name = match known_name(&raw_name) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(raw_name.clone()),
    };
    let after = colon + 1;
    let skip = content
        .get(after..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| is_ws(b))
        .count();
    Ok(Header {
        raw_name,
        name,
        value: String::new(),
        span: Span {
            start: line.start,
            end: line.end,
        },
        name_span: Span {
            start: line.start,
            end: line.start + name_len,
        },
        value_span: Span {
            start: line.start + after + skip,
            end: line.end,
        },
        folded: false,
    })
}

/// Join continuation lines with one space; report whether the bytes were valid UTF-8.
fn unfold(raw: &[u8]) -> (String, bool) {
    let valid = std::str::from_utf8(raw).is_ok();
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    for piece in text.split('\n') {
        let piece = piece.trim_end_matches('\r').trim_matches([' ', '\t']);
        if piece.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(piece);
    }
    (out, valid)
}

fn parse_start_line(
    buf: &[u8],
    span: Span,
    findings: &mut Vec<Finding>,
) -> Result<StartLine, ParseError> {
    let line = buf.get(span.range()).unwrap_or_default();
    let at = span.start;
    let is_version =
        |b: &[u8]| b.len() >= 4 && b.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"));
    let check_version = |v: &[u8], off: usize| -> Result<String, ParseError> {
        // SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT
        let rest = v.get(4..).unwrap_or_default();
        let mut parts = rest.split(|&b| b == b'.');
        let major = parts.next().unwrap_or_default();
        let minor = parts.next().unwrap_or_default();
        let digits = |p: &[u8]| !p.is_empty() && p.iter().all(u8::is_ascii_digit);
        if !is_version(v) || !digits(major) || !digits(minor) || parts.next().is_some() {
            return err(off, "SIP version (SIP/2.0)");
        }
        Ok(String::from_utf8_lossy(v).into_owned())
    };
    let note_version = |version: &str, findings: &mut Vec<Finding>, off: usize| {
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            findings.push(Finding {
                offset: off,
                kind: FindingKind::UnexpectedVersion {
                    version: version.to_owned(),
                },
            });
        }
    };

    if is_version(line) {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp1 = line.iter().position(|&b| b == b' ');
        let Some(sp1) = sp1 else {
            return err(at + line.len(), "SP after the SIP version");
        };
        let version = check_version(line.get(..sp1).unwrap_or_default(), at)?;
        let code = line.get(sp1 + 1..sp1 + 4).unwrap_or_default();
        if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
            return err(at + sp1 + 1, "a three-digit status code");
        }
        let status = code
            .iter()
            .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
        if !(100..=699).contains(&status) {
            return err(at + sp1 + 1, "a status code between 100 and 699");
        }
        let reason = match line.get(sp1 + 4) {
            None => String::new(),
            Some(b' ') => {
                String::from_utf8_lossy(line.get(sp1 + 5..).unwrap_or_default()).into_owned()
            }
            Some(_) => return err(at + sp1 + 4, "SP after the status code"),
        };
        note_version(&version, findings, at);
        return Ok(StartLine::Response {
            version,
            status,
            reason,
        });
    }

    // Request-Line = Method SP Request-URI SP SIP-Version
    let method_len = line.iter().take_while(|&&b| is_token_byte(b)).count();
    if method_len == 0 {
        return err(at, "a method token or SIP version");
    }
    if line.get(method_len) != Some(&b' ') {
        return err(at + method_len, "SP after the method");
    }
    let uri_start = method_len + 1;
    let uri_len = line
        .get(uri_start..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b != b' ' && b != b'\t')
        .count();
    if uri_len == 0 {
        return err(at + uri_start, "a Request-URI");
    }
    let sp2 = uri_start + uri_len;
    if line.get(sp2) != Some(&b' ') {
        return err(at + sp2, "SP after the Request-URI");
    }
    let version = check_version(line.get(sp2 + 1..).unwrap_or_default(), at + sp2 + 1)?;
    note_version(&version, findings, at + sp2 + 1);
    Ok(StartLine::Request {
        method: String::from_utf8_lossy(line.get(..method_len).unwrap_or_default()).into_owned(),
        request_uri: String::from_utf8_lossy(line.get(uri_start..sp2).unwrap_or_default())
            .into_owned(),
        version,
    })
}

fn parse_content_length(h: &Header) -> Option<usize> {
    let v = h.value();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

impl Message {
    /// Parse one whole message, as carried by a UDP datagram: the datagram is the message,
    /// and a Content-Length that disagrees is a finding, not an error (RFC 3261 §18.3).
    pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
        let head = match parse_head(bytes, true)? {
            Some(head) => head,
            None => return err(bytes.len(), "a complete header section"),
        };
        let available = bytes.len() - head.end;
        let mut findings = Vec::new();
        let mut body_len = available;
        if let Some(h) = head.headers.iter().find(|h| h.is("Content-Length")) {
            match parse_content_length(h) {
                None => findings.push(Finding {
                    offset: h.value_span.start,
                    kind: FindingKind::InvalidContentLength {
                        value: h.value.clone(),
                    },
                }),
                Some(declared) => {
                    if declared != available {
                        findings.push(Finding {
                            offset: head.end,
                            kind: FindingKind::ContentLengthMismatch {
                                declared,
                                actual: available,
                            },
                        });
                    }
                    // Extra bytes after the declared body are not part of it (§18.3).
                    body_len = declared.min(available);
                }
            }
        }
        Ok(Self::assemble(bytes.to_vec(), head, body_len, findings))
    }

    /// Frame one message from the front of a stream buffer (TCP/TLS, RFC 3261 §18.3):
    /// `Ok(None)` until the header section and the Content-Length body have arrived.
    /// Returns the message and how many bytes of `buf` it used.
    pub fn parse_stream(buf: &[u8]) -> Result<Option<(Message, usize)>, ParseError> {
        let Some(head) = parse_head(buf, false)? else {
            return Ok(None);
        };
        let mut findings = Vec::new();
        let body_len = match head.headers.iter().find(|h| h.is("Content-Length")) {
            Some(h) => match parse_content_length(h) {
                Some(n) => n,
                None => return err(h.value_span.start, "a decimal Content-Length"),
            },
            None => {
                findings.push(Finding {
                    offset: head.end,
                    kind: FindingKind::MissingContentLength,
                });
                0
            }
        };
        let Some(total) = head.end.checked_add(body_len) else {
            return err(head.end, "a Content-Length that fits in memory");
        };
        if buf.len() < total {
            return Ok(None);
        }
        let raw = buf.get(..total).unwrap_or_default().to_vec();
        Ok(Some((Self::assemble(raw, head, body_len, findings), total)))
    }

    fn assemble(raw: Vec<u8>, head: Head, body_len: usize, extra: Vec<Finding>) -> Message {
        let mut findings = head.findings;
        if head.lf_lines > 0 {
            findings.push(Finding {
                offset: head.first_lf.unwrap_or(0),
                kind: FindingKind::LfLineEndings {
                    lines: head.lf_lines,
                },
            });
        }
        let line_ending = match (head.lf_lines, head.crlf_lines) {
            (0, _) => LineEnding::Crlf,
            (_, 0) => LineEnding::Lf,
            _ => LineEnding::Mixed,
        };
        let mut msg = Message {
            raw,
            start_line: head.start_line,
            start_span: head.start_span,
            headers: head.headers,
            body_span: Span {
                start: head.end,
                end: head.end + body_len,
            },
            line_ending,
            findings,
        };
        msg.validate(head.end);
        msg.findings.extend(extra);
        msg.findings.sort_by_key(|f| f.offset);
        msg
    }

    /// Header-level checks: mandatory headers, duplicates, CSeq method.
    fn validate(&mut self, head_end: usize) {
        let mandatory: &[&'static str] = if self.is_request() {
            &["To", "From", "CSeq", "Call-ID", "Max-Forwards", "Via"]
        } else {
            &["To", "From", "CSeq", "Call-ID", "Via"]
        };
        for name in mandatory {
            if self.header(name).is_none() {
                self.findings.push(Finding {
                    offset: head_end,
                    kind: FindingKind::MissingHeader {
                        name: (*name).to_owned(),
                    },
                });
            }
        }
        for name in SINGLE_VALUED {
            let second = self.headers_named(name).nth(1).map(|h| h.span.start);
            if let Some(offset) = second {
                self.findings.push(Finding {
                    offset,
                    kind: FindingKind::DuplicateHeader {
                        name: (*name).to_owned(),
                    },
                });
            }
        }
        if let (Some(method), Some(cseq)) = (self.method(), self.header("CSeq"))
            && let Some(cseq_method) = cseq.value().split_ascii_whitespace().nth(1)
            && cseq_method != method
        {
            self.findings.push(Finding {
                offset: cseq.value_span.start,
                kind: FindingKind::CseqMethodMismatch {
                    method: method.to_owned(),
                    cseq: cseq_method.to_owned(),
                },
            });
        }
    }

    /// The exact bytes the message was parsed from.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }
    pub fn start_line(&self) -> &StartLine {
        &self.start_line
    }
    pub fn start_line_span(&self) -> Span {
        self.start_span
    }
    pub fn is_request(&self) -> bool {
        matches!(self.start_line, StartLine::Request { .. })
    }
    pub fn method(&self) -> Option<&str> {
        match &self.start_line {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start_line {
            StartLine::Request { request_uri, .. } => Some(request_uri),
            StartLine::Response { .. } => None,
        }
    }
    pub fn status(&self) -> Option<u16> {
        match &self.start_line {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }
    pub fn reason(&self) -> Option<&str> {
        match &self.start_line {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }
    /// All headers in wire order.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }
    /// The first header with this name (canonical, any case, or compact).
    pub fn header(&self, name: &str) -> Option<&Header> {
        let name = canonical_name(name);
        self.headers.iter().find(|h| h.is_canonical(name))
    }
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Header> + 'a {
        let name = canonical_name(name);
        self.headers.iter().filter(move |h| h.is_canonical(name))
    }
    /// The body: the Content-Length bytes after the header section (all of them when the
    /// datagram carries fewer than declared).
    pub fn body(&self) -> &[u8] {
        self.raw.get(self.body_span.range()).unwrap_or_default()
    }
    pub fn body_span(&self) -> Span {
        self.body_span
    }
    pub fn line_ending(&self) -> LineEnding {
        self.line_ending
    }
    /// Deviations found while tokenizing, ordered by offset.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn findings_serialise_under_their_stable_codes() {
        let s = || String::from("x");
        let kinds = [
            FindingKind::LeadingEmptyLines { count: 1 },
            FindingKind::LfLineEndings { lines: 2 },
            FindingKind::FoldedHeader { name: s() },
            FindingKind::MissingHeader { name: s() },
            FindingKind::DuplicateHeader { name: s() },
            FindingKind::ContentLengthMismatch {
                declared: 1,
                actual: 2,
            },
            FindingKind::InvalidContentLength { value: s() },
            FindingKind::MissingContentLength,
            FindingKind::CseqMethodMismatch {
                method: s(),
                cseq: s(),
            },
            FindingKind::UnexpectedVersion { version: s() },
            FindingKind::InvalidUtf8 { name: s() },
        ];
        for kind in kinds {
            let f = Finding { offset: 7, kind };
            let json = serde_json::to_value(&f).unwrap();
            assert_eq!(json["code"], f.code(), "{json}");
            assert_eq!(json["offset"], 7);
            assert_eq!(serde_json::from_value::<Finding>(json).unwrap(), f);
        }
    }

    const REGISTER: &str = "REGISTER sip:lab.test SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.1.1.20:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: <sip:1001@lab.test>\r\n\
From: \"Desk 1001\" <sip:1001@lab.test>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@10.1.1.20\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:1001@10.1.1.20:5060>\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\
\r\n";

    fn codes(m: &Message) -> Vec<&'static str> {
        m.findings().iter().map(Finding::code).collect()
    }

    #[test]
    fn clean_register_has_no_findings_and_round_trips() {
        let m = Message::parse(REGISTER.as_bytes()).unwrap();
        assert_eq!(m.as_bytes(), REGISTER.as_bytes());
        assert!(m.findings().is_empty(), "{:?}", m.findings());
        assert_eq!(m.method(), Some("REGISTER"));
        assert_eq!(m.request_uri(), Some("sip:lab.test"));
        assert_eq!(m.headers().len(), 9);
        let cseq = m.header("cseq").unwrap();
        assert_eq!(cseq.value(), "1 REGISTER");
        assert_eq!(
            &REGISTER.as_bytes()[cseq.span().range()],
            b"CSeq: 1 REGISTER"
        );
        assert_eq!(
            &REGISTER.as_bytes()[cseq.value_span().range()],
            b"1 REGISTER"
        );
        assert_eq!(m.line_ending(), LineEnding::Crlf);
        assert!(m.body().is_empty());
    }

    #[test]
    fn compact_names_map_to_canonical_and_keep_raw() {
        let text = REGISTER
            .replace("Via:", "v:")
            .replace("To:", "t:")
            .replace("From:", "f:")
            .replace("Call-ID:", "i:")
            .replace("Contact:", "m:")
            .replace("Content-Length:", "l:");
        let m = Message::parse(text.as_bytes()).unwrap();
        assert!(m.findings().is_empty(), "{:?}", m.findings());
        let ci = m.header("Call-ID").unwrap();
        assert_eq!(ci.raw_name(), "i");
        assert_eq!(ci.name(), "Call-ID");
        assert!(ci.is_compact());
        assert_eq!(m.header("m").unwrap().value(), "<sip:1001@10.1.1.20:5060>");
        assert_eq!(canonical_name("k"), "Supported");
        assert_eq!(canonical_name("e"), "Content-Encoding");
        assert_eq!(canonical_name("s"), "Subject");
        assert_eq!(canonical_name("c"), "Content-Type");
        assert_eq!(canonical_name("X-Odd"), "X-Odd");
        assert_eq!(m.as_bytes(), text.as_bytes());
    }

    #[test]
    fn folded_header_is_unfolded_and_reported() {
        let text = REGISTER.replace(
            "Contact: <sip:1001@10.1.1.20:5060>\r\n",
            "Contact: <sip:1001@10.1.1.20:5060>\r\n  ;expires=60\r\n\t;q=0.5\r\n",
        );
        let m = Message::parse(text.as_bytes()).unwrap();
        let c = m.header("Contact").unwrap();
        assert!(c.is_folded());
        assert_eq!(c.value(), "<sip:1001@10.1.1.20:5060> ;expires=60 ;q=0.5");
        assert_eq!(codes(&m), vec!["folded_header"]);
        assert_eq!(m.findings()[0].offset, c.span().start);
        assert!(
            std::str::from_utf8(&text.as_bytes()[c.span().range()])
                .unwrap()
                .ends_with(";q=0.5")
        );
        assert_eq!(m.as_bytes(), text.as_bytes());
    }

    #[test]
    fn lf_line_endings_parse_with_a_finding() {
        let text = REGISTER.replace("\r\n", "\n");
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(m.line_ending(), LineEnding::Lf);
        assert_eq!(codes(&m), vec!["lf_line_endings"]);
        // The first bare LF ends the request line.
        assert_eq!(
            m.findings()[0].offset,
            "REGISTER sip:lab.test SIP/2.0".len()
        );
        assert_eq!(m.header("Expires").unwrap().value(), "3600");
        assert_eq!(m.as_bytes(), text.as_bytes());

        let mixed = REGISTER.replacen("\r\n", "\n", 3);
        let m = Message::parse(mixed.as_bytes()).unwrap();
        assert_eq!(m.line_ending(), LineEnding::Mixed);
        assert!(
            m.findings()[0]
                .to_string()
                .starts_with("lf_line_endings@29: 3 line(s)")
        );
    }

    #[test]
    fn whitespace_before_colon_is_legal() {
        let text = REGISTER.replace("CSeq: 1 REGISTER", "CSeq :   2 REGISTER  ");
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(m.header("CSeq").unwrap().value(), "2 REGISTER");
        assert_eq!(m.header("CSeq").unwrap().raw_name(), "CSeq");
        assert!(m.findings().is_empty());
    }

    #[test]
    fn missing_mandatory_headers_are_findings() {
        let text = REGISTER
            .replace("Max-Forwards: 70\r\n", "")
            .replace("Call-ID: a84b4c76e66710@10.1.1.20\r\n", "");
        let m = Message::parse(text.as_bytes()).unwrap();
        let missing: Vec<_> = m
            .findings()
            .iter()
            .filter_map(|f| match &f.kind {
                FindingKind::MissingHeader { name } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(missing, vec!["Call-ID", "Max-Forwards"]);
        assert_eq!(m.findings()[0].offset, text.len());
    }

    #[test]
    fn duplicates_and_cseq_mismatch_are_findings() {
        let text = REGISTER
            .replace("CSeq: 1 REGISTER", "CSeq: 1 INVITE")
            .replace("Expires: 3600\r\n", "Expires: 3600\r\nexpires: 60\r\n");
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(codes(&m), vec!["cseq_method_mismatch", "duplicate_header"]);
        let dup = &m.findings()[1];
        assert_eq!(&text.as_bytes()[dup.offset..dup.offset + 7], b"expires");
    }

    #[test]
    fn datagram_content_length_mismatch_is_a_finding() {
        let text = REGISTER.replace("Content-Length: 0", "Content-Length: 10") + "abc";
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(codes(&m), vec!["content_length_mismatch"]);
        assert_eq!(
            m.findings()[0].kind,
            FindingKind::ContentLengthMismatch {
                declared: 10,
                actual: 3
            }
        );
        assert_eq!(m.body(), b"abc");

        let text = REGISTER.replace("Content-Length: 0", "Content-Length: 2") + "abcd";
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(m.body(), b"ab");
        assert_eq!(m.as_bytes(), text.as_bytes());
    }

    #[test]
    fn stream_framing_waits_for_body_and_splits_messages() {
        let body_msg = REGISTER.replace("Content-Length: 0", "Content-Length: 4") + "v=0\n";
        let mut stream = body_msg.clone().into_bytes();
        stream.extend_from_slice(REGISTER.as_bytes());
        for cut in 0..body_msg.len() {
            assert_eq!(
                Message::parse_stream(&stream[..cut]).unwrap(),
                None,
                "cut {cut}"
            );
        }
        let (m, used) = Message::parse_stream(&stream).unwrap().unwrap();
        assert_eq!(used, body_msg.len());
        assert_eq!(m.body(), b"v=0\n");
        let (m2, used2) = Message::parse_stream(&stream[used..]).unwrap().unwrap();
        assert_eq!(used2, REGISTER.len());
        assert_eq!(m2.as_bytes(), REGISTER.as_bytes());
    }

    #[test]
    fn stream_without_content_length_is_a_finding_and_bad_length_an_error() {
        let text = REGISTER.replace("Content-Length: 0\r\n", "");
        let (m, used) = Message::parse_stream(text.as_bytes()).unwrap().unwrap();
        assert_eq!(used, text.len());
        assert_eq!(codes(&m), vec!["missing_content_length"]);

        let text = REGISTER.replace("Content-Length: 0", "Content-Length: x1");
        let e = Message::parse_stream(text.as_bytes()).unwrap_err();
        assert_eq!(e.expected, "a decimal Content-Length");
        assert_eq!(&text.as_bytes()[e.offset..e.offset + 2], b"x1");
    }

    #[test]
    fn errors_carry_offsets() {
        let truncated = &REGISTER[..REGISTER.len() - 2];
        let e = Message::parse(truncated.as_bytes()).unwrap_err();
        assert_eq!(e.offset, truncated.len());
        assert_eq!(e.expected, "empty line ending the header section");

        let e = Message::parse(b"REGISTER  sip:x SIP/2.0\r\n\r\n").unwrap_err();
        assert_eq!((e.offset, e.expected), (9, "a Request-URI"));
        let e = Message::parse(b"REGISTER sip:x SIP/2\r\n\r\n").unwrap_err();
        assert_eq!((e.offset, e.expected), (15, "SIP version (SIP/2.0)"));
        let e = Message::parse(b"SIP/2.0 20 OK\r\n\r\n").unwrap_err();
        assert_eq!((e.offset, e.expected), (8, "a three-digit status code"));
        let e = Message::parse(b"OPTIONS sip:x SIP/2.0\r\n  folded\r\n\r\n").unwrap_err();
        assert_eq!(e.offset, 23);
        let e = Message::parse(b"OPTIONS sip:x SIP/2.0\r\nNoColon\r\n\r\n").unwrap_err();
        assert_eq!((e.offset, e.expected), (23, "':' after a header name"));
        let e = Message::parse(b"OPTIONS sip:x SIP/2.0\r\nBad Name: x\r\n\r\n").unwrap_err();
        assert_eq!(e.offset, 26);
        assert!(
            e.to_string()
                .starts_with("sip parse error at byte 26: expected")
        );
    }

    #[test]
    fn responses_parse() {
        let text = "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(m.status(), Some(401));
        assert_eq!(m.reason(), Some("Unauthorized"));
        assert!(m.findings().is_empty(), "{:?}", m.findings());
        let empty_reason = Message::parse(b"SIP/2.0 200 \r\n\r\n").unwrap();
        assert_eq!(empty_reason.reason(), Some(""));
    }

    #[test]
    fn leading_empty_lines_are_kept_and_reported() {
        let text = format!("\r\n\r\n{REGISTER}");
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(codes(&m), vec!["leading_empty_lines"]);
        assert_eq!(m.start_line_span().start, 4);
        assert_eq!(m.as_bytes(), text.as_bytes());
    }
}
