//! Splitting a TCP or TLS byte stream into SIP messages (RFC 3261 §18.3).
//!
//! Owns: the per-connection buffer, the end of a message head (`CRLF CRLF`, or `LF LF` from
//! clients that end lines with LF alone — the tokenizer reports those), the body length from
//! `Content-Length` (compact form `l` included), the CRLF keep-alives between messages
//! (RFC 5626 §3.5.1), and the limits that keep one connection from holding unbounded memory.
//!
//! Never: interprets anything else of the message (the registrar core and its tokenizer do),
//! touches a socket, or panics on any input.
//!
//! Why not [`crate::message::Message::parse_stream`]: framing must not depend on the head
//! parsing — a request with a garbled start line but a readable Content-Length is one bad
//! message (recorded, maybe answered 400), not the end of the connection — and a peer must
//! not be able to make the registrar hold an unbounded head or body.
//!
//! Decisions: a head without `Content-Length` has an empty body (RFC 3261 §18.3 makes the
//! header mandatory on streams; the core records `missing_content_length`). A stream that
//! cannot be framed — a `Content-Length` that is not a number, two that disagree, a head or
//! a body over the limits — cannot be resynchronised: the error ends the connection. A
//! stream that ends inside a message (a head without its empty line, a body short of its
//! Content-Length) is named too ([`Framer::finish`]): what the peer cut off is evidence.

use thiserror::Error;

/// Longest message head accepted on a stream.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest body accepted on a stream (a REGISTER has none; other methods little).
pub const MAX_BODY: usize = 1024 * 1024;

/// Why a stream can no longer be framed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FramingError {
    #[error("message head longer than {MAX_HEAD} bytes without an empty line")]
    HeadTooLong,
    #[error("content-length `{0}` is not a number")]
    InvalidContentLength(String),
    #[error("content-length given twice with different values ({0} and {1})")]
    ConflictingContentLength(usize, usize),
    #[error("body of {0} bytes is over the {MAX_BODY}-byte limit")]
    BodyTooLong(usize),
    #[error("stream ended inside a message ({0} bytes held)")]
    EndedInsideMessage(usize),
}

/// One stream's framer: push bytes as they arrive, take whole messages out.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    failed: bool,
}

impl Framer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes held that are not yet a whole message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, `None` while more bytes are needed, or the error that ends
    /// the stream (after which it yields nothing more).
    pub fn next_message(&mut self) -> Option<Result<Vec<u8>, FramingError>> {
        if self.failed {
            return None;
        }
        let skip = self
            .buf
            .iter()
            .position(|b| *b != b'\r' && *b != b'\n')
            .unwrap_or(self.buf.len());
        self.buf.drain(..skip);
        let Some(head_end) = head_end(&self.buf) else {
            if self.buf.len() > MAX_HEAD {
                return Some(Err(self.fail(FramingError::HeadTooLong)));
            }
            return None;
        };
        if head_end > MAX_HEAD {
            return Some(Err(self.fail(FramingError::HeadTooLong)));
        }
        let len = match content_length(self.buf.get(..head_end).unwrap_or_default()) {
            Ok(len) => len,
            Err(e) => return Some(Err(self.fail(e))),
        };
        if len > MAX_BODY {
            return Some(Err(self.fail(FramingError::BodyTooLong(len))));
        }
        if self.buf.len() < head_end + len {
            return None;
        }
        Some(Ok(self.buf.drain(..head_end + len).collect()))
    }

    /// The stream ended: the error naming an unfinished message when bytes of one are held
    /// (line ends between messages are keep-alives, not a message). Call after
    /// [`Framer::next_message`] has given every whole message.
    pub fn finish(&mut self) -> Option<FramingError> {
        if self.failed {
            return None;
        }
        let held = self
            .buf
            .iter()
            .filter(|b| **b != b'\r' && **b != b'\n')
            .count();
        (held > 0).then(|| self.fail(FramingError::EndedInsideMessage(self.buf.len())))
    }

    fn fail(&mut self, e: FramingError) -> FramingError {
        self.failed = true;
        self.buf.clear();
        e
    }
}

/// The offset just past the empty line that ends the head.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(rel) = buf.get(i..)?.iter().position(|b| *b == b'\n') {
        let nl = i + rel;
        let rest = buf.get(nl + 1..)?;
        if rest.first() == Some(&b'\n') {
            return Some(nl + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

/// The body length a head declares: every `Content-Length` / `l` line must agree.
fn content_length(head: &[u8]) -> Result<usize, FramingError> {
    let mut found: Option<usize> = None;
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let name = String::from_utf8_lossy(name);
        let name = name.trim();
        if !(name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l")) {
            continue;
        }
        let text = String::from_utf8_lossy(value.get(1..).unwrap_or_default())
            .trim()
            .to_owned();
        let len = text
            .parse::<usize>()
            .map_err(|_| FramingError::InvalidContentLength(text.chars().take(40).collect()))?;
        match found {
            Some(prev) if prev != len => {
                return Err(FramingError::ConflictingContentLength(prev, len));
            }
            _ => found = Some(len),
        }
    }
    Ok(found.unwrap_or(0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn all(f: &mut Framer) -> Vec<Result<Vec<u8>, FramingError>> {
        std::iter::from_fn(|| f.next_message()).collect()
    }

    #[test]
    fn messages_split_by_content_length_across_any_chunking() {
        let stream = b"\r\n\r\nREGISTER sip:a SIP/2.0\r\nContent-Length: 3\r\n\r\nabcOPTIONS sip:a SIP/2.0\r\nl: 0\r\n\r\n";
        for cut in 0..stream.len() {
            let mut f = Framer::new();
            f.push(&stream[..cut]);
            let mut got = all(&mut f);
            f.push(&stream[cut..]);
            got.extend(all(&mut f));
            let got: Vec<Vec<u8>> = got.into_iter().map(Result::unwrap).collect();
            assert_eq!(
                got,
                vec![
                    b"REGISTER sip:a SIP/2.0\r\nContent-Length: 3\r\n\r\nabc".to_vec(),
                    b"OPTIONS sip:a SIP/2.0\r\nl: 0\r\n\r\n".to_vec(),
                ],
                "cut at {cut}"
            );
            assert_eq!(f.pending(), 0);
        }
    }

    #[test]
    fn lf_only_heads_and_a_missing_length_frame_with_an_empty_body() {
        let mut f = Framer::new();
        f.push(b"REGISTER sip:a SIP/2.0\nVia: x\n\nREG");
        assert_eq!(
            f.next_message().unwrap().unwrap(),
            b"REGISTER sip:a SIP/2.0\nVia: x\n\n"
        );
        assert_eq!(f.next_message(), None);
        assert_eq!(f.pending(), 3);
    }

    #[test]
    fn unframeable_streams_end_with_a_named_error_and_nothing_after() {
        let cases: [(&[u8], FramingError); 3] = [
            (
                b"R\r\nContent-Length: -1\r\n\r\n",
                FramingError::InvalidContentLength("-1".into()),
            ),
            (
                b"R\r\nContent-Length: 1\r\nl: 2\r\n\r\nab",
                FramingError::ConflictingContentLength(1, 2),
            ),
            (
                b"R\r\nContent-Length: 99999999\r\n\r\n",
                FramingError::BodyTooLong(99_999_999),
            ),
        ];
        for (bytes, want) in cases {
            let mut f = Framer::new();
            f.push(bytes);
            assert_eq!(f.next_message(), Some(Err(want)));
            f.push(b"OPTIONS sip:a SIP/2.0\r\n\r\n");
            assert_eq!(f.next_message(), None);
        }
        let mut f = Framer::new();
        f.push(&vec![b'a'; MAX_HEAD + 1]);
        assert_eq!(f.next_message(), Some(Err(FramingError::HeadTooLong)));
        assert_eq!(f.finish(), None, "one error per stream");
    }

    #[test]
    fn a_stream_that_ends_inside_a_message_is_named_and_keep_alives_are_not() {
        let mut f = Framer::new();
        f.push(b"OPTIONS sip:a SIP/2.0\r\nl: 0\r\n\r\n\r\n\r\n");
        assert!(f.next_message().unwrap().is_ok());
        assert_eq!(f.next_message(), None);
        assert_eq!(f.finish(), None, "keep-alives only");
        for cut in [
            &b"REGISTER sip:a SIP/2.0\r\nVia: x\r\n"[..],
            b"REGISTER sip:a SIP/2.0\r\nContent-Length: 4\r\n\r\nab",
        ] {
            let mut f = Framer::new();
            f.push(cut);
            assert_eq!(f.next_message(), None);
            assert_eq!(
                f.finish(),
                Some(FramingError::EndedInsideMessage(cut.len()))
            );
            assert_eq!(f.finish(), None, "named once");
        }
    }
}
