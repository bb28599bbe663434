//! The file server's behaviour core: which bytes answer which request.
//!
//! Owns: the table of served files ([`FileTable`]), each with its body, its header variants
//! (Content-Type, Last-Modified and ETag as given, or left out; `Range` honoured or ignored)
//! and [`Behaviour`] (serve it, answer a fixed status, delay, or one of the byte-level
//! faults: cut mid-body with FIN or RST, lying Content-Length, stall mid-body, chunked
//! body, a body ended only by the close, drip, silence); request-target normalisation (RFC 9112 §3.2 origin-form and
//! absolute-form, RFC 3986 §2.1 percent-decoding and §5.2.4 dot segments); the exact response
//! a request gets ([`Decision`]: status line, ordered header list, body and how to deliver
//! it); and the delivery as a sequence of [`Step`]s — bytes to write, pauses, fault marks, the
//! close — so that the shell only writes, waits, closes or resets.
//!
//! Never: touches sockets or clocks. Last-Modified comes from the table, delays are handed to
//! the shell as durations, and no `Date` header is generated (there is no clock here; the
//! shell sends exactly the head this module renders, so responses are byte-for-byte
//! reproducible and golden-testable).
//!
//! Follows RFC 9110 (methods §9.1 are case-sensitive, 405 carries `Allow` §15.5.6, Range
//! §14.2 may be ignored by serving the full 200 or honoured with 206 §15.3.7 / 416
//! §15.5.17, `If-Range` §13.1.5, IMF-fixdate §5.6.7), RFC 9112 §7.1 (chunked transfer
//! coding), RFC 9112 §6.3 (a body without a length runs to the close) and the Avaya 96xx admin guide's expectation of a plain `HTTP/1.1 200 OK` with
//! Content-Type, Content-Length, Last-Modified and `Connection: close`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::body::Body;

/// The `Server` header value on every response.
pub const SERVER_NAME: &str = "phonecert";

/// The methods the file server implements, as listed in `Allow`.
pub const ALLOWED_METHODS: &str = "GET, HEAD";

/// What the file server does when a path is requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 with the file's body.
    Serve,
    /// A fixed status (404, 500, 503, …) with a short text body naming it, whatever the file.
    Status { code: u16 },
    /// Wait `before` (without reading the request body or answering), then do `then`.
    Delay {
        before: Duration,
        then: Box<Behaviour>,
    },
    /// A 200 that declares the whole body but closes after `bytes` body bytes: FIN, or RST
    /// (SO_LINGER 0) when `reset`.
    CutAfter { bytes: u64, reset: bool },
    /// A 200 whose Content-Length says `declared` while the whole real body is sent; then the
    /// connection closes (FIN). Shorter or longer than the body, as the scenario wants.
    WrongLength { declared: u64 },
    /// A 200 that sends `bytes` body bytes, goes quiet for `pause`, then sends the rest.
    StallAfter { bytes: u64, pause: Duration },
    /// A 200 with `Transfer-Encoding: chunked` (no Content-Length), `chunk` body bytes per
    /// chunk (RFC 9112 §7.1).
    Chunked { chunk: u64 },
    /// A 200 with neither Content-Length nor Transfer-Encoding: the body ends where the
    /// server closes the connection (RFC 9112 §6.3, the last rule).
    CloseDelimited,
    /// A 200 that sends `bytes` body bytes, then waits `every`, and so on to the end: a very
    /// slow download.
    Drip { bytes: u64, every: Duration },
    /// Read the request and never answer: the connection stays open, silent, until the
    /// client closes it (or the server stops).
    Silence,
}

impl Behaviour {
    /// Stable snake_case name of the behaviour (the leaf, for `Delay`), as used in events.
    pub fn name(&self) -> &'static str {
        match self.leaf().1 {
            Behaviour::Serve => "serve",
            Behaviour::Status { .. } => "status",
            Behaviour::CutAfter { .. } => "cut_after",
            Behaviour::WrongLength { .. } => "wrong_length",
            Behaviour::StallAfter { .. } => "stall_after",
            Behaviour::Chunked { .. } => "chunked",
            Behaviour::CloseDelimited => "close_delimited",
            Behaviour::Drip { .. } => "drip",
            Behaviour::Silence => "silence",
            // `leaf` never returns a Delay.
            Behaviour::Delay { .. } => "delay",
        }
    }

    /// The total delay before the first non-delay behaviour, and that behaviour.
    fn leaf(&self) -> (Duration, &Behaviour) {
        // A loop rather than recursion: a long chain of delays from a scenario must not be
        // able to exhaust the stack.
        let mut total = Duration::ZERO;
        let mut current = self;
        while let Behaviour::Delay { before, then } = current {
            total = total.saturating_add(*before);
            current = then;
        }
        (total, current)
    }
}

/// The `Last-Modified` a file is served with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastModified {
    /// This time as an IMF-fixdate; given by whoever builds the table, never read from a
    /// clock.
    At(SystemTime),
    /// This value exactly as written (a malformed or obsolete date format, for a fault).
    Raw(String),
    /// No `Last-Modified` header.
    Omit,
}

/// What the server does with a request's `Range` header for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RangePolicy {
    /// Record it and send the full 200 (RFC 9110 §14.2 allows this).
    #[default]
    Ignore,
    /// A single satisfiable byte range gets 206 with Content-Range, an unsatisfiable one 416;
    /// several ranges, a syntax the server does not read or a stale `If-Range` get the full
    /// 200. Replies carry `Accept-Ranges: bytes`.
    Honour,
}

/// One served file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub body: Body,
    /// The Content-Type value exactly as sent; `None` leaves the header out.
    pub content_type: Option<String>,
    pub last_modified: LastModified,
    /// The ETag value exactly as sent (quotes and `W/` included); `None` sends none.
    pub etag: Option<String>,
    pub range: RangePolicy,
    pub behaviour: Behaviour,
    /// What the second and later requests for this path get (it may have its own `then`
    /// for the third …); `None`: this entry answers every request.
    pub then: Option<Box<FileEntry>>,
}

impl FileEntry {
    /// A file served normally, its content type chosen from `name`'s extension.
    pub fn serve(name: &str, body: impl Into<Bytes>, last_modified: SystemTime) -> FileEntry {
        FileEntry {
            body: Body::Memory(body.into()),
            content_type: Some(content_type_for(name).to_owned()),
            last_modified: LastModified::At(last_modified),
            etag: None,
            range: RangePolicy::Ignore,
            behaviour: Behaviour::Serve,
            then: None,
        }
    }

    /// The same file, answered by `next` from the second request on.
    pub fn then(mut self, next: FileEntry) -> FileEntry {
        self.then = Some(Box::new(next));
        self
    }

    /// The entry that answers the `nth` request (0-based): this one, then each `then` in
    /// turn, the last answering every request after it.
    pub fn for_request(&self, nth: u64) -> &FileEntry {
        // A loop, not recursion: a long chain from a scenario cannot exhaust the stack.
        let mut entry = self;
        let mut left = nth;
        while left > 0 {
            match &entry.then {
                Some(next) => {
                    entry = next;
                    left -= 1;
                }
                None => break,
            }
        }
        entry
    }

    /// The same file with another behaviour.
    pub fn with_behaviour(mut self, behaviour: Behaviour) -> FileEntry {
        self.behaviour = behaviour;
        self
    }

    /// The value sent as Last-Modified, if one is.
    fn last_modified_value(&self) -> Option<String> {
        match &self.last_modified {
            LastModified::At(t) => Some(http_date(*t)),
            LastModified::Raw(v) => Some(v.clone()),
            LastModified::Omit => None,
        }
    }
}

/// Content type by file extension (case-insensitive). Phones fetch scripts and settings as
/// text and firmware as octets; anything unknown is octets too.
pub fn content_type_for(name: &str) -> &'static str {
    let file = name.rsplit('/').next().unwrap_or(name);
    let ext = match file.rsplit_once('.') {
        Some((_, ext)) => ext.to_ascii_lowercase(),
        None => return "application/octet-stream",
    };
    match ext.as_str() {
        "txt" | "scr" | "cfg" | "ini" | "conf" | "log" => "text/plain",
        "xml" => "application/xml",
        "htm" | "html" => "text/html",
        "json" => "application/json",
        "pem" => "application/x-pem-file",
        "crt" | "cer" | "der" => "application/x-x509-ca-cert",
        "tar" => "application/x-tar",
        "gz" | "tgz" => "application/gzip",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// Something noteworthy about a request that did not stop it from being answered. Evidence
/// for the judge; names are stable: each serialises as its snake_case name ([`Finding::as_str`]),
/// which is what a scenario matches (`findings = { contains = "duplicate_slash" }`).
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
pub enum Finding {
    /// `//` inside the path (e.g. an empty HTTPDIR joined with a slash).
    DuplicateSlash,
    /// The path used `%XX` escapes.
    PercentEncoded,
    /// `.` or `..` segments that stayed inside the root.
    DotSegment,
    /// `http://host/path` instead of `/path`.
    AbsoluteForm,
    /// A `?query` (ignored for the lookup).
    QueryString,
    /// A `#fragment`, which clients must not send (RFC 9112 §3.2).
    Fragment,
    /// A `Range` header (honoured only for a file whose range policy says so).
    RangeRequested,
    /// `If-Modified-Since` / `If-None-Match`: ignored, the full 200 was planned.
    ConditionalRequest,
    /// HTTP/1.1 request without `Host` (RFC 9112 §3.2 says it must be there).
    MissingHost,
    /// More than one `Host` header.
    DuplicateHost,
    /// An HTTP/1.0 request.
    #[serde(rename = "http_1_0")]
    Http10,
    /// Lines in the request head ended with a bare LF instead of CRLF.
    BareLf,
    /// The request head did not parse (answered 400).
    MalformedRequestHead,
    /// The path did not start with `/` and was not absolute-form (answered 400).
    NotOriginForm,
    /// A `%` not followed by two hex digits (answered 400).
    InvalidPercentEncoding,
    /// Percent-decoded path is not UTF-8 (answered 400).
    #[serde(rename = "non_utf8_path")]
    NonUtf8Path,
    /// `..` would climb above the served root (answered 400).
    PathEscapesRoot,
}

impl Finding {
    /// Stable snake_case name, as it appears in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::DuplicateSlash => "duplicate_slash",
            Finding::PercentEncoded => "percent_encoded",
            Finding::DotSegment => "dot_segment",
            Finding::AbsoluteForm => "absolute_form",
            Finding::QueryString => "query_string",
            Finding::Fragment => "fragment",
            Finding::RangeRequested => "range_requested",
            Finding::ConditionalRequest => "conditional_request",
            Finding::MissingHost => "missing_host",
            Finding::DuplicateHost => "duplicate_host",
            Finding::Http10 => "http_1_0",
            Finding::BareLf => "bare_lf",
            Finding::MalformedRequestHead => "malformed_request_head",
            Finding::NotOriginForm => "not_origin_form",
            Finding::InvalidPercentEncoding => "invalid_percent_encoding",
            Finding::NonUtf8Path => "non_utf8_path",
            Finding::PathEscapesRoot => "path_escapes_root",
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request target cannot name a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("request target is neither origin-form nor absolute-form")]
    NotOriginForm,
    #[error("invalid percent-encoding in request path")]
    InvalidPercentEncoding,
    #[error("percent-decoded request path is not utf-8")]
    NonUtf8,
    #[error("request path climbs above the served root")]
    EscapesRoot,
}

impl PathError {
    /// The finding recorded when a request is refused for this reason.
    pub fn finding(self) -> Finding {
        match self {
            PathError::NotOriginForm => Finding::NotOriginForm,
            PathError::InvalidPercentEncoding => Finding::InvalidPercentEncoding,
            PathError::NonUtf8 => Finding::NonUtf8Path,
            PathError::EscapesRoot => Finding::PathEscapesRoot,
        }
    }
}

/// A request target reduced to the key of a file, plus what was odd about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalisedPath {
    pub path: String,
    pub findings: Vec<Finding>,
}

/// Reduce a request target to a lookup key: strip an absolute-form scheme and authority, the
/// query and fragment; percent-decode; collapse duplicate slashes; resolve `.` and `..` (a
/// `..` that would leave the root is refused). A trailing slash is kept (a directory is not
/// a file, so it will not be found).
pub fn normalise_path(target: &str) -> Result<NormalisedPath, PathError> {
    let mut findings = Vec::new();
    let mut rest = target;

    if let Some(after_scheme) = strip_prefix_ignore_case(rest, "http://")
        .or_else(|| strip_prefix_ignore_case(rest, "https://"))
    {
        findings.push(Finding::AbsoluteForm);
        rest = match after_scheme.find('/') {
            Some(i) => &after_scheme[i..],
            None => "/",
        };
    }
    if let Some((before, _)) = rest.split_once('#') {
        findings.push(Finding::Fragment);
        rest = before;
    }
    if let Some((before, _)) = rest.split_once('?') {
        findings.push(Finding::QueryString);
        rest = before;
    }
    if !rest.starts_with('/') {
        return Err(PathError::NotOriginForm);
    }

    let decoded = percent_decode(rest)?;
    if decoded.had_escape {
        findings.push(Finding::PercentEncoded);
    }
    let decoded = String::from_utf8(decoded.bytes).map_err(|_| PathError::NonUtf8)?;

    // `decoded` starts with '/', so the first split piece is empty and skipped.
    let pieces: Vec<&str> = decoded.split('/').skip(1).collect();
    let last = pieces.len().saturating_sub(1);
    let mut stack: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    let mut duplicate = false;
    let mut dot = false;
    for (i, piece) in pieces.iter().enumerate() {
        match *piece {
            "" if i == last => trailing_slash = true,
            "" => duplicate = true,
            "." => {
                dot = true;
                if i == last {
                    trailing_slash = true;
                }
            }
            ".." => {
                dot = true;
                if stack.pop().is_none() {
                    return Err(PathError::EscapesRoot);
                }
                if i == last {
                    trailing_slash = true;
                }
            }
            segment => stack.push(segment),
        }
    }
    if duplicate {
        findings.push(Finding::DuplicateSlash);
    }
    if dot {
        findings.push(Finding::DotSegment);
    }

    let mut path = String::with_capacity(decoded.len());
    for segment in &stack {
        path.push('/');
        path.push_str(segment);
    }
    if trailing_slash || stack.is_empty() {
        path.push('/');
    }
    Ok(NormalisedPath { path, findings })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

struct Decoded {
    bytes: Vec<u8>,
    had_escape: bool,
}

fn percent_decode(s: &str) -> Result<Decoded, PathError> {
    let raw = s.as_bytes();
    let mut bytes = Vec::with_capacity(raw.len());
    let mut had_escape = false;
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hi = raw.get(i + 1).and_then(|b| hex_value(*b));
            let lo = raw.get(i + 2).and_then(|b| hex_value(*b));
            match (hi, lo) {
                (Some(hi), Some(lo)) => {
                    bytes.push(hi << 4 | lo);
                    had_escape = true;
                    i += 3;
                }
                _ => return Err(PathError::InvalidPercentEncoding),
            }
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    Ok(Decoded { bytes, had_escape })
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Format a time as an IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
/// Times outside 1970‥9999 are clamped to those ends (the format cannot express them).
pub fn http_date(t: SystemTime) -> String {
    // 9999-12-31T23:59:59Z
    const MAX_SECS: u64 = 253_402_300_799;
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .min(MAX_SECS);
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// The reason phrase sent with a status code (RFC 9110 §15); unknown codes get "Status".
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

/// How the body bytes of a [`Decision`] go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// All of `body`, then a normal close (FIN).
    Whole,
    /// The first `bytes` of `body`, then close: FIN, or RST when `reset`.
    CutAfter { bytes: u64, reset: bool },
    /// The first `bytes` of `body`, a pause, then the rest.
    StallAfter { bytes: u64, pause: Duration },
    /// `body` in chunks of `chunk` bytes with chunked framing, then the last chunk.
    Chunked { chunk: u64 },
    /// All of `body` with no length declared, then FIN: the close ends the body.
    CloseDelimited,
    /// `body` in pieces of `bytes`, `every` apart.
    Drip { bytes: u64, every: Duration },
    /// Nothing at all; the connection is held open until the client closes it.
    Silence,
}

/// A fault the file server commits on purpose, at the point of the delivery where it
/// happens. The shell records each as a timeline event with the bytes sent by then.
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
pub enum FaultMark {
    /// The body is cut here; the connection closes with FIN.
    Cut,
    /// The body is cut here; the connection closes with RST.
    Reset,
    /// The server goes quiet mid-body.
    Stall,
    /// The server goes on after a stall.
    Resume,
    /// A slow (drip) body begins.
    Drip,
    /// The request is read and will not be answered.
    Silence,
    /// The body sent is not as long as the Content-Length declared; the server closes.
    LengthMismatch,
}

impl FaultMark {
    /// Stable snake_case name, as it appears in events.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultMark::Cut => "cut",
            FaultMark::Reset => "reset",
            FaultMark::Stall => "stall",
            FaultMark::Resume => "resume",
            FaultMark::Drip => "drip",
            FaultMark::Silence => "silence",
            FaultMark::LengthMismatch => "length_mismatch",
        }
    }
}

/// One thing the shell does to deliver a [`Decision`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Bytes decided here: the response head, chunk-size lines and chunk ends.
    Raw(Bytes),
    /// `len` bytes of [`Decision::body`] from `offset`.
    Body { offset: u64, len: u64 },
    /// Record this fault in the timeline now.
    Fault(FaultMark),
    /// Send nothing for this long (a client that closes meanwhile ends the delivery).
    Pause(Duration),
    /// End the connection: FIN, or RST when `reset`.
    Close { reset: bool },
    /// Send nothing more and keep the connection until the client closes it.
    Hold,
}

/// The steps of one delivery: a few fixed steps around a body that may be cut into many
/// pieces (chunks, drips), produced lazily so that a large body never becomes a large list.
#[derive(Debug, Clone)]
pub struct Steps {
    before: VecDeque<Step>,
    pieces: Option<Pieces>,
    after: VecDeque<Step>,
}

/// The body from `next` to `end` in pieces of `piece` bytes, each framed as a chunk when
/// `chunked`, with `gap` between pieces.
#[derive(Debug, Clone)]
struct Pieces {
    next: u64,
    end: u64,
    piece: u64,
    chunked: bool,
    gap: Option<Duration>,
    pending: VecDeque<Step>,
}

impl Iterator for Steps {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        if let Some(step) = self.before.pop_front() {
            return Some(step);
        }
        if let Some(pieces) = &mut self.pieces {
            if let Some(step) = pieces.next_step() {
                return Some(step);
            }
            self.pieces = None;
        }
        self.after.pop_front()
    }
}

impl Pieces {
    fn next_step(&mut self) -> Option<Step> {
        if let Some(step) = self.pending.pop_front() {
            return Some(step);
        }
        if self.next >= self.end {
            return None;
        }
        let len = self.piece.max(1).min(self.end - self.next);
        let offset = self.next;
        self.next += len;
        if self.chunked {
            self.pending
                .push_back(Step::Raw(Bytes::from(format!("{len:X}\r\n"))));
            self.pending.push_back(Step::Body { offset, len });
            self.pending
                .push_back(Step::Raw(Bytes::from_static(b"\r\n")));
        } else {
            self.pending.push_back(Step::Body { offset, len });
        }
        if let Some(gap) = self.gap
            && self.next < self.end
        {
            self.pending.push_back(Step::Pause(gap));
        }
        self.pending.pop_front()
    }
}

/// The complete answer to one request, decided before any byte is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Wait this long before writing anything.
    pub delay: Duration,
    pub status: u16,
    pub reason: String,
    /// Header fields in wire order, names exactly as they are written.
    pub headers: Vec<(String, String)>,
    /// The body available to send (empty for HEAD; the requested part for a 206), in
    /// memory or streamed from a file. With a lying Content-Length this differs from what
    /// the header declares.
    pub body: Body,
    pub delivery: Delivery,
    /// Stable behaviour name for events: a [`Behaviour::name`], or `not_found`,
    /// `method_not_allowed`, `bad_request` for answers the table did not configure, or
    /// `range` / `range_not_satisfiable` for an honoured `Range`.
    pub behaviour: &'static str,
    /// The path the request was looked up under, when it normalised.
    pub normalised_path: Option<String>,
    pub findings: Vec<Finding>,
    /// The request was HEAD: the declared body is not sent.
    pub head_only: bool,
}

impl Decision {
    /// The status line and header block exactly as they go on the wire.
    pub fn head_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.headers.len() * 32);
        out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", self.status, self.reason).as_bytes());
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The Content-Length this response declares, if it declares one that parses.
    pub fn content_length(&self) -> Option<u64> {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse().ok())
    }

    /// How many body bytes a client should receive for the response to be complete: the
    /// declared length, 0 for HEAD or silence, or the planned body when nothing is declared
    /// (chunked).
    pub fn expected_body_len(&self) -> u64 {
        if self.head_only || self.delivery == Delivery::Silence {
            0
        } else {
            self.content_length().unwrap_or(self.body.len())
        }
    }

    /// Everything the shell does to deliver this answer, in order, ending with a close (or a
    /// hold, for silence). Body steps stay within [`Decision::body`].
    pub fn steps(&self) -> Steps {
        let len = if self.head_only { 0 } else { self.body.len() };
        let mut before = VecDeque::new();
        let mut pieces = None;
        let mut after = VecDeque::new();
        if self.delivery == Delivery::Silence {
            before.push_back(Step::Fault(FaultMark::Silence));
            before.push_back(Step::Hold);
            return Steps {
                before,
                pieces,
                after,
            };
        }
        before.push_back(Step::Raw(Bytes::from(self.head_bytes())));
        let body = |offset: u64, n: u64| (n > 0).then_some(Step::Body { offset, len: n });
        match self.delivery {
            Delivery::Whole | Delivery::CloseDelimited | Delivery::Silence => {
                before.extend(body(0, len));
                if !self.head_only && self.content_length().is_some_and(|d| d != len) {
                    after.push_back(Step::Fault(FaultMark::LengthMismatch));
                }
            }
            Delivery::CutAfter { bytes, reset } => {
                before.extend(body(0, bytes.min(len)));
                if !self.head_only {
                    after.push_back(Step::Fault(if reset {
                        FaultMark::Reset
                    } else {
                        FaultMark::Cut
                    }));
                }
                after.push_back(Step::Close { reset });
                return Steps {
                    before,
                    pieces,
                    after,
                };
            }
            Delivery::StallAfter { bytes, pause } => {
                let first = bytes.min(len);
                before.extend(body(0, first));
                if !self.head_only {
                    before.push_back(Step::Fault(FaultMark::Stall));
                    before.push_back(Step::Pause(pause));
                    before.push_back(Step::Fault(FaultMark::Resume));
                }
                before.extend(body(first, len - first));
            }
            Delivery::Chunked { chunk } => {
                pieces = Some(Pieces {
                    next: 0,
                    end: len,
                    piece: chunk,
                    chunked: true,
                    gap: None,
                    pending: VecDeque::new(),
                });
                if !self.head_only {
                    after.push_back(Step::Raw(Bytes::from_static(b"0\r\n\r\n")));
                }
            }
            Delivery::Drip { bytes, every } => {
                if !self.head_only {
                    before.push_back(Step::Fault(FaultMark::Drip));
                }
                pieces = Some(Pieces {
                    next: 0,
                    end: len,
                    piece: bytes,
                    chunked: false,
                    gap: Some(every),
                    pending: VecDeque::new(),
                });
            }
        }
        after.push_back(Step::Close { reset: false });
        Steps {
            before,
            pieces,
            after,
        }
    }

    /// A 400 for a request that could not be understood.
    pub fn bad_request(findings: Vec<Finding>) -> Decision {
        let mut d = status_decision(400, false, "bad_request", Vec::new());
        d.findings = findings;
        d
    }
}

fn common_tail(headers: &mut Vec<(String, String)>) {
    headers.push(("Connection".to_owned(), "close".to_owned()));
}

/// A short text response: "404 Not Found\n" and the like.
fn status_decision(
    code: u16,
    head_only: bool,
    behaviour: &'static str,
    extra: Vec<(String, String)>,
) -> Decision {
    let reason = reason_phrase(code);
    // 1xx, 204 and 304 never carry content (RFC 9110 §6.4.1), so no body and no length.
    let bodiless = (100..200).contains(&code) || code == 204 || code == 304;
    let text = if bodiless {
        Bytes::new()
    } else {
        Bytes::from(format!("{code} {reason}\n"))
    };
    let mut headers = vec![("Server".to_owned(), SERVER_NAME.to_owned())];
    headers.extend(extra);
    if !bodiless {
        headers.push(("Content-Type".to_owned(), "text/plain".to_owned()));
        headers.push(("Content-Length".to_owned(), text.len().to_string()));
    }
    common_tail(&mut headers);
    Decision {
        delay: Duration::ZERO,
        status: code,
        reason: reason.to_owned(),
        headers,
        body: Body::Memory(if head_only { Bytes::new() } else { text }),
        delivery: Delivery::Whole,
        behaviour,
        normalised_path: None,
        findings: Vec::new(),
        head_only,
    }
}

/// The files the server knows, by normalised path, and how many GET and HEAD requests each
/// has answered (a file may answer its first request differently from the next:
/// [`FileEntry::then`]).
#[derive(Debug, Default)]
pub struct FileTable {
    entries: BTreeMap<String, FileEntry>,
    answered: Mutex<BTreeMap<String, u64>>,
}

impl Clone for FileTable {
    fn clone(&self) -> FileTable {
        FileTable {
            entries: self.entries.clone(),
            answered: Mutex::new(self.answered_counts()),
        }
    }
}

impl FileTable {
    pub fn new() -> FileTable {
        FileTable::default()
    }

    /// Add or replace a file. `path` is normalised like a request path (a missing leading
    /// `/` is added), so `fw/96xxupgrade.txt` and `/fw//96xxupgrade.txt` name the same file.
    pub fn insert(&mut self, path: &str, entry: FileEntry) -> Result<(), PathError> {
        let key = table_key(path)?;
        self.entries.insert(key, entry);
        Ok(())
    }

    /// The file stored under `path` (normalised the same way as in [`FileTable::insert`]).
    pub fn get(&self, path: &str) -> Option<&FileEntry> {
        self.entries.get(&table_key(path).ok()?)
    }

    /// The normalised paths of all files, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many GET and HEAD requests each path has answered so far.
    pub fn answered_counts(&self) -> BTreeMap<String, u64> {
        // A poisoned lock only means a panic elsewhere mid-count; the counts stay usable.
        match self.answered.lock() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Count one more answer for `path`; returns how many it had before (0 for the first).
    fn count_answer(&self, path: &str) -> u64 {
        let mut map = match self.answered.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let n = map.entry(path.to_owned()).or_insert(0);
        let before = *n;
        *n = n.saturating_add(1);
        before
    }

    /// Decide the answer to `method target` with request `headers` (names as sent, any
    /// case). Order: unusable target → 400; method other than GET/HEAD → 405 with Allow;
    /// unknown path → 404; otherwise the file's behaviour. Range and conditional headers are
    /// recorded; a Range is honoured only for a served file whose [`RangePolicy`] says so.
    pub fn respond(&self, method: &str, target: &str, headers: &[(String, String)]) -> Decision {
        let mut header_findings = Vec::new();
        if has_header(headers, "range") {
            header_findings.push(Finding::RangeRequested);
        }
        if has_header(headers, "if-modified-since") || has_header(headers, "if-none-match") {
            header_findings.push(Finding::ConditionalRequest);
        }

        let normalised = match normalise_path(target) {
            Ok(n) => n,
            Err(e) => {
                let mut findings = vec![e.finding()];
                findings.extend(header_findings);
                return Decision::bad_request(findings);
            }
        };
        let mut findings = normalised.findings.clone();
        findings.extend(header_findings);

        // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET.
        let head_only = match method {
            "GET" => false,
            "HEAD" => true,
            _ => {
                let mut d = status_decision(
                    405,
                    false,
                    "method_not_allowed",
                    vec![("Allow".to_owned(), ALLOWED_METHODS.to_owned())],
                );
                d.findings = findings;
                d.normalised_path = Some(normalised.path);
                return d;
            }
        };

        let mut decision = match self.entries.get(&normalised.path) {
            None => status_decision(404, head_only, "not_found", Vec::new()),
            Some(entry) => {
                let nth = self.count_answer(&normalised.path);
                entry_decision(entry.for_request(nth), head_only, headers)
            }
        };
        decision.findings = findings;
        decision.normalised_path = Some(normalised.path);
        decision
    }
}

fn table_key(path: &str) -> Result<String, PathError> {
    let normalised = if path.starts_with('/') {
        normalise_path(path)?
    } else {
        normalise_path(&format!("/{path}"))?
    };
    Ok(normalised.path)
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn entry_decision(entry: &FileEntry, head_only: bool, request: &[(String, String)]) -> Decision {
    let (delay, leaf) = entry.behaviour.leaf();
    let name = entry.behaviour.name();
    let real_len = entry.body.len();
    let whole = |delivery: Delivery| file_decision(entry, head_only, real_len, delivery, name);

    let mut decision = match *leaf {
        Behaviour::Status { code } => status_decision(code, head_only, name, Vec::new()),
        Behaviour::Serve | Behaviour::Delay { .. } => match ranged(entry, request) {
            Some(r) => range_decision(entry, head_only, r),
            None => whole(Delivery::Whole),
        },
        Behaviour::CutAfter { bytes, reset } => whole(Delivery::CutAfter { bytes, reset }),
        Behaviour::WrongLength { declared } => {
            file_decision(entry, head_only, declared, Delivery::Whole, name)
        }
        Behaviour::StallAfter { bytes, pause } => whole(Delivery::StallAfter { bytes, pause }),
        Behaviour::Chunked { chunk } => whole(Delivery::Chunked { chunk }),
        Behaviour::CloseDelimited => whole(Delivery::CloseDelimited),
        Behaviour::Drip { bytes, every } => whole(Delivery::Drip { bytes, every }),
        Behaviour::Silence => whole(Delivery::Silence),
    };
    decision.delay = delay;
    decision
}

/// The part of a file a request's `Range` asks for, when the file honours ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ranged {
    /// Bytes `first..=last`.
    Part { first: u64, last: u64 },
    /// A well-formed single range that misses the body.
    Unsatisfiable,
}

/// `Some` when the file honours ranges and the request carries one range this server reads
/// (`bytes=a-b`, `bytes=a-`, `bytes=-n`) whose `If-Range`, if any, still names this file.
fn ranged(entry: &FileEntry, request: &[(String, String)]) -> Option<Ranged> {
    if entry.range != RangePolicy::Honour {
        return None;
    }
    let spec = header(request, "range")?.trim();
    if let Some(validator) = header(request, "if-range") {
        let validator = validator.trim();
        let current = entry.etag.as_deref() == Some(validator)
            || entry.last_modified_value().as_deref() == Some(validator);
        if !current {
            return None;
        }
    }
    let (unit, set) = spec.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return None;
    }
    let (a, b) = set.trim().split_once('-')?;
    let number = |t: &str| -> Option<u64> {
        let t = t.trim();
        if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let len = entry.body.len();
    let (first, last) = match (a.trim().is_empty(), b.trim().is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => {
            let n = number(b)?;
            if n == 0 || len == 0 {
                return Some(Ranged::Unsatisfiable);
            }
            (len.saturating_sub(n), len - 1)
        }
        (false, true) => (number(a)?, u64::MAX),
        (false, false) => (number(a)?, number(b)?),
        (true, true) => return None,
    };
    if last < first {
        // Invalid syntax by RFC 9110 §14.1.1: ignored like any range not understood.
        return None;
    }
    if first >= len {
        return Some(Ranged::Unsatisfiable);
    }
    Some(Ranged::Part {
        first,
        last: last.min(len - 1),
    })
}

fn range_decision(entry: &FileEntry, head_only: bool, ranged: Ranged) -> Decision {
    let total = entry.body.len();
    match ranged {
        Ranged::Unsatisfiable => status_decision(
            416,
            head_only,
            "range_not_satisfiable",
            vec![
                ("Content-Range".to_owned(), format!("bytes */{total}")),
                ("Accept-Ranges".to_owned(), "bytes".to_owned()),
            ],
        ),
        Ranged::Part { first, last } => {
            let len = last - first + 1;
            let mut d = file_decision(entry, head_only, len, Delivery::Whole, "range");
            d.status = 206;
            d.reason = reason_phrase(206).to_owned();
            // Content-Range right after Content-Length (RFC 9110 §14.4).
            let at = d
                .headers
                .iter()
                .position(|(n, _)| n == "Content-Length")
                .map_or(1, |i| i + 1);
            d.headers.insert(
                at,
                (
                    "Content-Range".to_owned(),
                    format!("bytes {first}-{last}/{total}"),
                ),
            );
            if !head_only {
                // `first..=last` lies inside the body: `ranged` clamps `last` to it.
                d.body = entry.body.slice(first, last + 1);
            }
            d
        }
    }
}

fn file_decision(
    entry: &FileEntry,
    head_only: bool,
    declared_len: u64,
    delivery: Delivery,
    behaviour: &'static str,
) -> Decision {
    let mut headers = vec![("Server".to_owned(), SERVER_NAME.to_owned())];
    if let Some(ct) = &entry.content_type {
        headers.push(("Content-Type".to_owned(), ct.clone()));
    }
    match delivery {
        Delivery::Chunked { .. } => {
            headers.push(("Transfer-Encoding".to_owned(), "chunked".to_owned()));
        }
        // The close is the only end of the body: no framing header at all.
        Delivery::CloseDelimited => {}
        _ => headers.push(("Content-Length".to_owned(), declared_len.to_string())),
    }
    if entry.range == RangePolicy::Honour {
        headers.push(("Accept-Ranges".to_owned(), "bytes".to_owned()));
    }
    if let Some(lm) = entry.last_modified_value() {
        headers.push(("Last-Modified".to_owned(), lm));
    }
    if let Some(etag) = &entry.etag {
        headers.push(("ETag".to_owned(), etag.clone()));
    }
    common_tail(&mut headers);
    Decision {
        delay: Duration::ZERO,
        status: 200,
        reason: reason_phrase(200).to_owned(),
        headers,
        body: if head_only {
            Body::default()
        } else {
            entry.body.clone()
        },
        delivery,
        behaviour,
        normalised_path: None,
        findings: Vec::new(),
        head_only,
    }
}

/// Findings about the request head as it came off the wire: HTTP version, Host, line
/// endings. `minor_version` is the `x` of `HTTP/1.x`; `raw_head` is the bytes up to and
/// including the blank line.
pub fn head_findings(
    minor_version: u8,
    headers: &[(String, String)],
    raw_head: &[u8],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if minor_version == 0 {
        findings.push(Finding::Http10);
    }
    let hosts = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
        .count();
    if hosts == 0 && minor_version >= 1 {
        findings.push(Finding::MissingHost);
    }
    if hosts > 1 {
        findings.push(Finding::DuplicateHost);
    }
    let bare_lf = raw_head
        .iter()
        .enumerate()
        .any(|(i, b)| *b == b'\n' && (i == 0 || raw_head[i - 1] != b'\r'));
    if bare_lf {
        findings.push(Finding::BareLf);
    }
    findings
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A body's bytes, when it is in memory (every body these tests make is).
    fn mem(b: &Body) -> &[u8] {
        b.in_memory().map(|b| &b[..]).expect("an in-memory body")
    }

    #[test]
    fn findings_serialise_as_their_stable_names() {
        let all = [
            Finding::DuplicateSlash,
            Finding::PercentEncoded,
            Finding::DotSegment,
            Finding::AbsoluteForm,
            Finding::QueryString,
            Finding::Fragment,
            Finding::RangeRequested,
            Finding::ConditionalRequest,
            Finding::MissingHost,
            Finding::DuplicateHost,
            Finding::Http10,
            Finding::BareLf,
            Finding::MalformedRequestHead,
            Finding::NotOriginForm,
            Finding::InvalidPercentEncoding,
            Finding::NonUtf8Path,
            Finding::PathEscapesRoot,
        ];
        for f in all {
            let json = serde_json::to_value(f).unwrap();
            assert_eq!(json, serde_json::json!(f.as_str()));
            assert_eq!(serde_json::from_value::<Finding>(json).unwrap(), f);
        }
    }

    fn lm() -> SystemTime {
        // Sun, 06 Nov 1994 08:49:37 GMT, the RFC's own example.
        UNIX_EPOCH + Duration::from_secs(784_111_777)
    }

    fn table() -> FileTable {
        let mut t = FileTable::new();
        t.insert(
            "/fw/96xxupgrade.txt",
            FileEntry::serve("96xxupgrade.txt", &b"SET APPNAME x.bin\n"[..], lm()),
        )
        .unwrap();
        t
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn http_date_is_imf_fixdate() {
        assert_eq!(http_date(lm()), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        // Before the epoch clamps instead of panicking.
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(http_date(before), "Thu, 01 Jan 1970 00:00:00 GMT");
        let far = UNIX_EPOCH + Duration::from_secs(u64::MAX / 4);
        assert_eq!(http_date(far), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn serve_head_golden_bytes() {
        let d = table().respond("GET", "/fw/96xxupgrade.txt", &[]);
        assert_eq!(d.status, 200);
        assert_eq!(d.behaviour, "serve");
        assert_eq!(d.delivery, Delivery::Whole);
        assert_eq!(d.delay, Duration::ZERO);
        assert_eq!(
            String::from_utf8(d.head_bytes()).unwrap(),
            "HTTP/1.1 200 OK\r\n\
             Server: phonecert\r\n\
             Content-Type: text/plain\r\n\
             Content-Length: 18\r\n\
             Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Connection: close\r\n\
             \r\n"
        );
        assert_eq!(mem(&d.body), b"SET APPNAME x.bin\n");
        assert_eq!(d.content_length(), Some(18));
        assert_eq!(d.expected_body_len(), 18);
        assert!(d.findings.is_empty());
    }

    #[test]
    fn head_has_headers_but_no_body() {
        let d = table().respond("HEAD", "/fw/96xxupgrade.txt", &[]);
        assert_eq!(d.status, 200);
        assert!(d.head_only);
        assert!(d.body.is_empty());
        assert_eq!(d.content_length(), Some(18));
        assert_eq!(d.expected_body_len(), 0);
    }

    #[test]
    fn missing_file_is_404() {
        let d = table().respond("GET", "/fw/46xxsettings.txt", &[]);
        assert_eq!(d.behaviour, "not_found");
        assert_eq!(
            d.head_bytes(),
            b"HTTP/1.1 404 Not Found\r\nServer: phonecert\r\nContent-Type: text/plain\r\n\
Content-Length: 14\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(mem(&d.body), b"404 Not Found\n");
        assert_eq!(d.normalised_path.as_deref(), Some("/fw/46xxsettings.txt"));
    }

    #[test]
    fn other_methods_get_405_with_allow() {
        for method in ["POST", "PUT", "get", "OPTIONS", ""] {
            let d = table().respond(method, "/fw/96xxupgrade.txt", &[]);
            assert_eq!(d.status, 405, "{method}");
            assert_eq!(d.behaviour, "method_not_allowed");
            assert_eq!(
                d.headers,
                h(&[
                    ("Server", "phonecert"),
                    ("Allow", "GET, HEAD"),
                    ("Content-Type", "text/plain"),
                    ("Content-Length", "23"),
                    ("Connection", "close"),
                ])
            );
            assert_eq!(mem(&d.body), b"405 Method Not Allowed\n");
        }
    }

    #[test]
    fn configured_status_whatever_the_file() {
        let mut t = table();
        for (code, body) in [
            (404u16, "404 Not Found\n"),
            (500, "500 Internal Server Error\n"),
            (503, "503 Service Unavailable\n"),
        ] {
            t.insert(
                "/fw/x.bin",
                FileEntry::serve("x.bin", &b"firmware"[..], lm())
                    .with_behaviour(Behaviour::Status { code }),
            )
            .unwrap();
            let d = t.respond("GET", "/fw/x.bin", &[]);
            assert_eq!(d.status, code);
            assert_eq!(d.behaviour, "status");
            assert_eq!(mem(&d.body), body.as_bytes());
            assert_eq!(
                d.headers,
                h(&[
                    ("Server", "phonecert"),
                    ("Content-Type", "text/plain"),
                    ("Content-Length", &body.len().to_string()),
                    ("Connection", "close"),
                ])
            );
        }
        // Bodiless statuses carry neither body nor length.
        t.insert(
            "/fw/x.bin",
            FileEntry::serve("x.bin", &b"firmware"[..], lm())
                .with_behaviour(Behaviour::Status { code: 304 }),
        )
        .unwrap();
        let d = t.respond("GET", "/fw/x.bin", &[]);
        assert_eq!(
            d.head_bytes(),
            b"HTTP/1.1 304 Not Modified\r\nServer: phonecert\r\nConnection: close\r\n\r\n"
        );
        assert!(d.body.is_empty());
    }

    #[test]
    fn nested_delays_add_up_and_name_the_leaf() {
        let mut t = table();
        t.insert(
            "/a.bin",
            FileEntry::serve("a.bin", &b"abc"[..], lm()).with_behaviour(Behaviour::Delay {
                before: Duration::from_millis(300),
                then: Box::new(Behaviour::Delay {
                    before: Duration::from_millis(200),
                    then: Box::new(Behaviour::Status { code: 503 }),
                }),
            }),
        )
        .unwrap();
        let d = t.respond("GET", "/a.bin", &[]);
        assert_eq!(d.delay, Duration::from_millis(500));
        assert_eq!(d.status, 503);
        assert_eq!(d.behaviour, "status");
    }

    #[test]
    fn byte_faults_plan_the_delivery() {
        let mut t = FileTable::new();
        let body = vec![7u8; 1000];
        let entry = FileEntry::serve("fw.bin", body.clone(), lm());
        t.insert(
            "/cut.bin",
            entry.clone().with_behaviour(Behaviour::CutAfter {
                bytes: 100,
                reset: true,
            }),
        )
        .unwrap();
        t.insert(
            "/lie.bin",
            entry
                .clone()
                .with_behaviour(Behaviour::WrongLength { declared: 5000 }),
        )
        .unwrap();
        t.insert(
            "/stall.bin",
            entry.with_behaviour(Behaviour::StallAfter {
                bytes: 10,
                pause: Duration::from_secs(2),
            }),
        )
        .unwrap();

        let cut = t.respond("GET", "/cut.bin", &[]);
        assert_eq!(cut.behaviour, "cut_after");
        assert_eq!(
            cut.delivery,
            Delivery::CutAfter {
                bytes: 100,
                reset: true
            }
        );
        assert_eq!(cut.content_length(), Some(1000));
        assert_eq!(cut.body.len(), 1000);

        let lie = t.respond("GET", "/lie.bin", &[]);
        assert_eq!(lie.behaviour, "wrong_length");
        assert_eq!(
            lie.headers[1..3],
            h(&[
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", "5000")
            ])
        );
        assert_eq!(lie.body.len(), 1000);
        assert_eq!(lie.expected_body_len(), 5000);

        let stall = t.respond("GET", "/stall.bin", &[]);
        assert_eq!(stall.behaviour, "stall_after");
        assert_eq!(
            stall.delivery,
            Delivery::StallAfter {
                bytes: 10,
                pause: Duration::from_secs(2)
            }
        );
    }

    /// What a delivery puts on the wire, and the other steps by name in order.
    fn render(d: &Decision) -> (Vec<u8>, Vec<String>) {
        let mut wire = Vec::new();
        let mut rest = Vec::new();
        for step in d.steps() {
            match step {
                Step::Raw(b) => wire.extend_from_slice(&b),
                Step::Body { offset, len } => {
                    let (o, l) = (offset as usize, len as usize);
                    wire.extend_from_slice(&mem(&d.body)[o..o + l]);
                }
                Step::Fault(m) => rest.push(format!("fault {}@{}", m.as_str(), wire.len())),
                Step::Pause(p) => rest.push(format!("pause {}ms@{}", p.as_millis(), wire.len())),
                Step::Close { reset } => rest.push(format!("close reset={reset}")),
                Step::Hold => rest.push("hold".to_owned()),
            }
        }
        (wire, rest)
    }

    fn ten_bytes(b: Behaviour) -> Decision {
        let mut t = FileTable::new();
        t.insert(
            "/f.bin",
            FileEntry::serve("f.bin", &b"0123456789"[..], lm()).with_behaviour(b),
        )
        .unwrap();
        t.respond("GET", "/f.bin", &[])
    }

    const HEAD10: &str = "HTTP/1.1 200 OK\r\nServer: phonecert\r\n\
Content-Type: application/octet-stream\r\nContent-Length: 10\r\n\
Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n";

    #[test]
    fn steps_of_each_delivery() {
        let h = HEAD10.len();
        let (wire, rest) = render(&ten_bytes(Behaviour::Serve));
        assert_eq!(wire, [HEAD10.as_bytes(), b"0123456789"].concat());
        assert_eq!(rest, ["close reset=false"]);

        let (wire, rest) = render(&ten_bytes(Behaviour::CutAfter {
            bytes: 4,
            reset: true,
        }));
        assert_eq!(wire, [HEAD10.as_bytes(), b"0123"].concat());
        assert_eq!(
            rest,
            [format!("fault reset@{}", h + 4), "close reset=true".into()]
        );

        let (_, rest) = render(&ten_bytes(Behaviour::CutAfter {
            bytes: 40,
            reset: false,
        }));
        assert_eq!(
            rest,
            [format!("fault cut@{}", h + 10), "close reset=false".into()]
        );

        let (wire, rest) = render(&ten_bytes(Behaviour::StallAfter {
            bytes: 3,
            pause: Duration::from_millis(700),
        }));
        assert_eq!(wire, [HEAD10.as_bytes(), b"0123456789"].concat());
        assert_eq!(
            rest,
            [
                format!("fault stall@{}", h + 3),
                format!("pause 700ms@{}", h + 3),
                format!("fault resume@{}", h + 3),
                "close reset=false".into()
            ]
        );

        let (wire, rest) = render(&ten_bytes(Behaviour::WrongLength { declared: 12 }));
        assert!(wire.ends_with(b"0123456789"));
        assert_eq!(
            rest,
            [
                format!("fault length_mismatch@{}", wire.len()),
                "close reset=false".into()
            ]
        );

        let (wire, rest) = render(&ten_bytes(Behaviour::Drip {
            bytes: 4,
            every: Duration::from_millis(50),
        }));
        assert_eq!(wire, [HEAD10.as_bytes(), b"0123456789"].concat());
        assert_eq!(
            rest,
            [
                format!("fault drip@{h}"),
                format!("pause 50ms@{}", h + 4),
                format!("pause 50ms@{}", h + 8),
                "close reset=false".into()
            ]
        );

        let (wire, rest) = render(&ten_bytes(Behaviour::Silence));
        assert!(wire.is_empty());
        assert_eq!(rest, ["fault silence@0", "hold"]);
    }

    #[test]
    fn chunked_golden_bytes() {
        let d = ten_bytes(Behaviour::Chunked { chunk: 4 });
        assert_eq!(d.content_length(), None);
        assert_eq!(d.expected_body_len(), 10);
        let (wire, rest) = render(&d);
        assert_eq!(
            String::from_utf8(wire).unwrap(),
            "HTTP/1.1 200 OK\r\nServer: phonecert\r\n\
Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\
Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n\
4\r\n0123\r\n4\r\n4567\r\n2\r\n89\r\n0\r\n\r\n"
        );
        assert_eq!(rest, ["close reset=false"]);
        // A chunk size of 0 would never end: it is taken as 1.
        let (wire, _) = render(&ten_bytes(Behaviour::Chunked { chunk: 0 }));
        assert!(wire.ends_with(b"1\r\n9\r\n0\r\n\r\n"));
    }

    #[test]
    fn close_delimited_golden_bytes() {
        let d = ten_bytes(Behaviour::CloseDelimited);
        assert_eq!(d.content_length(), None);
        assert_eq!(d.expected_body_len(), 10);
        assert_eq!(d.behaviour, "close_delimited");
        let (wire, rest) = render(&d);
        assert_eq!(
            String::from_utf8(wire).unwrap(),
            "HTTP/1.1 200 OK\r\nServer: phonecert\r\n\
Content-Type: application/octet-stream\r\n\
Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n\
0123456789"
        );
        assert_eq!(rest, ["close reset=false"]);
    }

    #[test]
    fn head_requests_get_no_body_steps_and_no_body_faults() {
        let mut t = FileTable::new();
        t.insert(
            "/f.bin",
            FileEntry::serve("f.bin", &b"0123456789"[..], lm()).with_behaviour(
                Behaviour::StallAfter {
                    bytes: 3,
                    pause: Duration::from_secs(1),
                },
            ),
        )
        .unwrap();
        let (wire, rest) = render(&t.respond("HEAD", "/f.bin", &[]));
        assert_eq!(wire, HEAD10.as_bytes());
        assert_eq!(rest, ["close reset=false"]);
    }

    #[test]
    fn steps_are_lazy_for_large_bodies() {
        // Two million one-byte chunks are never all held at once.
        let d = Decision {
            body: Body::Memory(Bytes::from(vec![0u8; 2_000_000])),
            ..ten_bytes(Behaviour::Chunked { chunk: 1 })
        };
        let mut steps = d.steps();
        assert!(steps.pieces.is_some());
        assert!(steps.after.len() <= 2);
        assert_eq!(steps.nth(3), Some(Step::Raw(Bytes::from_static(b"\r\n"))));
        assert!(steps.pieces.as_ref().is_some_and(|p| p.pending.len() <= 3));
        assert_eq!(steps.count(), 3 * 2_000_000 - 3 + 2);
    }

    fn variant_table(range: RangePolicy) -> FileTable {
        let mut t = FileTable::new();
        let mut e = FileEntry::serve("f.bin", &b"0123456789"[..], lm());
        e.range = range;
        e.etag = Some("\"abc\"".into());
        t.insert("/f.bin", e.clone()).unwrap();
        e.content_type = None;
        e.last_modified = LastModified::Omit;
        e.etag = None;
        t.insert("/bare.bin", e.clone()).unwrap();
        e.content_type = Some("text/plain; charset=iso-8859-1".into());
        e.last_modified = LastModified::Raw("not a date".into());
        t.insert("/odd.bin", e).unwrap();
        t
    }

    #[test]
    fn header_variants_go_out_as_given() {
        let t = variant_table(RangePolicy::Ignore);
        assert_eq!(
            t.respond("GET", "/f.bin", &[]).headers,
            h(&[
                ("Server", "phonecert"),
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", "10"),
                ("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
                ("ETag", "\"abc\""),
                ("Connection", "close"),
            ])
        );
        assert_eq!(
            t.respond("GET", "/bare.bin", &[]).headers,
            h(&[
                ("Server", "phonecert"),
                ("Content-Length", "10"),
                ("Connection", "close"),
            ])
        );
        assert_eq!(
            t.respond("GET", "/odd.bin", &[]).headers,
            h(&[
                ("Server", "phonecert"),
                ("Content-Type", "text/plain; charset=iso-8859-1"),
                ("Content-Length", "10"),
                ("Last-Modified", "not a date"),
                ("Connection", "close"),
            ])
        );
    }

    #[test]
    fn ranges_honoured_or_ignored() {
        let honour = variant_table(RangePolicy::Honour);
        let ask = |t: &FileTable, extra: &[(&str, &str)]| t.respond("GET", "/f.bin", &h(extra));

        let d = ask(&honour, &[("Range", "bytes=2-5")]);
        assert_eq!((d.status, d.behaviour), (206, "range"));
        assert_eq!(mem(&d.body), b"2345");
        assert_eq!(
            d.headers[2..5],
            h(&[
                ("Content-Length", "4"),
                ("Content-Range", "bytes 2-5/10"),
                ("Accept-Ranges", "bytes"),
            ])
        );
        assert_eq!(d.findings, vec![Finding::RangeRequested]);
        assert_eq!(mem(&ask(&honour, &[("range", "bytes=7-")]).body), b"789");
        assert_eq!(mem(&ask(&honour, &[("Range", "bytes=-3")]).body), b"789");
        assert_eq!(mem(&ask(&honour, &[("Range", "bytes=8-99")]).body), b"89");
        let d = ask(&honour, &[("Range", "bytes=10-")]);
        assert_eq!((d.status, d.behaviour), (416, "range_not_satisfiable"));
        assert!(
            d.headers
                .contains(&("Content-Range".into(), "bytes */10".into()))
        );
        // Not understood, several ranges, or a stale If-Range: the whole file.
        for extra in [
            &[("Range", "bytes=1-2,4-5")][..],
            &[("Range", "lines=1-2")],
            &[("Range", "bytes=5-2")],
            &[("Range", "bytes=x-")],
            &[("Range", "bytes=2-5"), ("If-Range", "\"old\"")],
        ] {
            let d = ask(&honour, extra);
            assert_eq!((d.status, d.body.len()), (200, 10), "{extra:?}");
        }
        let d = ask(&honour, &[("Range", "bytes=2-5"), ("If-Range", "\"abc\"")]);
        assert_eq!(d.status, 206);
        let d = ask(
            &honour,
            &[
                ("Range", "bytes=2-5"),
                ("If-Range", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ],
        );
        assert_eq!(d.status, 206);

        let ignore = variant_table(RangePolicy::Ignore);
        let d = ask(&ignore, &[("Range", "bytes=2-5")]);
        assert_eq!((d.status, d.body.len()), (200, 10));
        assert!(!d.headers.iter().any(|(n, _)| n == "Accept-Ranges"));
    }

    #[test]
    fn later_requests_get_the_next_answer_and_the_last_stays() {
        let mut t = FileTable::new();
        let base = FileEntry::serve("f.bin", &b"0123456789"[..], lm());
        t.insert(
            "/f.bin",
            base.clone()
                .with_behaviour(Behaviour::Status { code: 404 })
                .then(
                    base.clone()
                        .with_behaviour(Behaviour::CutAfter {
                            bytes: 3,
                            reset: false,
                        })
                        .then(base.clone()),
                ),
        )
        .unwrap();
        t.insert("/g.bin", base).unwrap();
        let statuses: Vec<&str> = (0..5)
            .map(|_| t.respond("GET", "/f.bin", &[]).behaviour)
            .collect();
        assert_eq!(statuses, ["status", "cut_after", "serve", "serve", "serve"]);
        // Counted per path, spelling aside; unknown paths and other methods are not counted.
        t.respond("GET", "//g.bin", &[]);
        t.respond("POST", "/g.bin", &[]);
        t.respond("GET", "/missing.bin", &[]);
        let counts = t.answered_counts();
        assert_eq!(counts.get("/f.bin"), Some(&5));
        assert_eq!(counts.get("/g.bin"), Some(&1));
        assert_eq!(counts.len(), 2);
        assert_eq!(t.clone().answered_counts(), counts);
    }

    #[test]
    fn range_is_ignored_but_recorded() {
        let d = table().respond(
            "GET",
            "/fw/96xxupgrade.txt",
            &h(&[("RANGE", "bytes=0-3"), ("If-Modified-Since", "x")]),
        );
        assert_eq!(d.status, 200);
        assert_eq!(d.body.len(), 18);
        assert_eq!(
            d.findings,
            vec![Finding::RangeRequested, Finding::ConditionalRequest]
        );
    }

    #[test]
    fn normalisation() {
        let n = normalise_path("/fw//96xxupgrade.txt").unwrap();
        assert_eq!(n.path, "/fw/96xxupgrade.txt");
        assert_eq!(n.findings, vec![Finding::DuplicateSlash]);

        let n = normalise_path("/fw/96xx%75pgrade.txt?x=1").unwrap();
        assert_eq!(n.path, "/fw/96xxupgrade.txt");
        assert_eq!(
            n.findings,
            vec![Finding::QueryString, Finding::PercentEncoded]
        );

        let n = normalise_path("HTTP://10.1.1.5:8080/fw/./a/../96xxupgrade.txt").unwrap();
        assert_eq!(n.path, "/fw/96xxupgrade.txt");
        assert_eq!(n.findings, vec![Finding::AbsoluteForm, Finding::DotSegment]);

        assert_eq!(normalise_path("http://host").unwrap().path, "/");
        assert_eq!(normalise_path("/").unwrap().path, "/");
        assert_eq!(normalise_path("/fw/").unwrap().path, "/fw/");
        assert_eq!(normalise_path("/fw/..").unwrap().path, "/");

        assert_eq!(
            normalise_path("/../etc/passwd"),
            Err(PathError::EscapesRoot)
        );
        assert_eq!(normalise_path("/fw/../../x"), Err(PathError::EscapesRoot));
        assert_eq!(normalise_path("/%2e%2e/x"), Err(PathError::EscapesRoot));
        assert_eq!(normalise_path("fw/x"), Err(PathError::NotOriginForm));
        assert_eq!(normalise_path("*"), Err(PathError::NotOriginForm));
        assert_eq!(
            normalise_path("/a%2"),
            Err(PathError::InvalidPercentEncoding)
        );
        assert_eq!(
            normalise_path("/a%zz"),
            Err(PathError::InvalidPercentEncoding)
        );
        assert_eq!(normalise_path("/%ff"), Err(PathError::NonUtf8));
    }

    #[test]
    fn escaping_path_is_400_with_finding() {
        let d = table().respond("GET", "/fw/../../96xxupgrade.txt", &[]);
        assert_eq!(d.status, 400);
        assert_eq!(d.behaviour, "bad_request");
        assert_eq!(d.findings, vec![Finding::PathEscapesRoot]);
        assert_eq!(mem(&d.body), b"400 Bad Request\n");
    }

    #[test]
    fn table_keys_are_normalised() {
        let t = table();
        assert!(t.get("fw/96xxupgrade.txt").is_some());
        assert!(t.get("/fw//96xxupgrade.txt").is_some());
        assert_eq!(t.paths().collect::<Vec<_>>(), vec!["/fw/96xxupgrade.txt"]);
        let d = t.respond("GET", "//fw/96xxupgrade.txt", &[]);
        assert_eq!(d.status, 200);
        assert_eq!(d.findings, vec![Finding::DuplicateSlash]);
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type_for("96xxupgrade.txt"), "text/plain");
        assert_eq!(
            content_type_for("/fw/S96x1_SALBR7_1.BIN"),
            "application/octet-stream"
        );
        assert_eq!(content_type_for("46xxsettings.scr"), "text/plain");
        assert_eq!(content_type_for("phone.cfg"), "text/plain");
        assert_eq!(content_type_for("cfg0004f2.xml"), "application/xml");
        assert_eq!(content_type_for("noext"), "application/octet-stream");
        assert_eq!(content_type_for("a.dir/noext"), "application/octet-stream");
    }

    #[test]
    fn head_level_findings() {
        let crlf = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(head_findings(1, &h(&[("Host", "x")]), crlf).is_empty());
        assert_eq!(
            head_findings(0, &[], b"GET / HTTP/1.0\n\n"),
            vec![Finding::Http10, Finding::BareLf]
        );
        assert_eq!(
            head_findings(1, &[], b"GET / HTTP/1.1\r\n\r\n"),
            vec![Finding::MissingHost]
        );
        assert_eq!(
            head_findings(1, &h(&[("Host", "a"), ("host", "b")]), crlf),
            vec![Finding::DuplicateHost]
        );
    }

    proptest! {
        #[test]
        fn respond_never_panics(method in ".{0,12}", target in ".{0,64}",
                                raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let t = table();
            let d = t.respond(&method, &target, &[("Range".to_owned(), "bytes=1-".to_owned())]);
            prop_assert!(d.head_bytes().ends_with(b"\r\n\r\n"));
            // Arbitrary bytes as a (lossy) target too.
            let lossy = String::from_utf8_lossy(&raw);
            let _ = t.respond("GET", &lossy, &[]);
        }

        #[test]
        fn normalised_paths_are_stable(target in "/[a-z%./]{0,40}") {
            if let Ok(n) = normalise_path(&target) {
                prop_assert!(n.path.starts_with('/'));
                prop_assert!(!n.path.contains("//"));
                // Normalising a normalised path changes nothing, unless decoding produced
                // new escapes or dot segments.
                if !target.contains('%') {
                    let again = normalise_path(&n.path).expect("normalised path normalises");
                    prop_assert_eq!(again.path, n.path);
                    prop_assert!(again.findings.is_empty());
                }
            }
        }
    }
}
