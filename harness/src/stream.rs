//! One direction of a captured TCP connection as the byte stream its receiver read, and the
//! TLS records in it.
//!
//! Owns: putting a connection's data segments back in sequence order (RFC 9293 §3.4; a
//! retransmitted segment adds only the bytes not seen yet), remembering which segment
//! brought each byte and when, and walking TLS records (RFC 8446 §5.1, RFC 5246 §6.2.1)
//! to find where a handshake ends.
//!
//! Never: decides which segments belong to a connection (the caller picks them), decrypts
//! anything, or parses a record's contents beyond its header.

/// A segment that added bytes to the stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    /// Offset just past its last new byte.
    pub end: usize,
    /// Its capture time.
    pub t: f64,
    /// Its frame number.
    pub frame: u64,
}

/// One direction's bytes, in sequence order.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    /// The bytes, each once.
    pub bytes: Vec<u8>,
    /// The segments that brought them, in stream order.
    pub marks: Vec<Mark>,
}

/// One data segment as captured.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Its sequence number.
    pub seq: u32,
    /// Its capture time.
    pub t: f64,
    /// Its frame number.
    pub frame: u64,
    /// Its payload.
    pub payload: &'a [u8],
}

impl Stream {
    /// Rebuilds the stream from `segments` (any order). Sequence numbers are taken relative
    /// to the earliest captured segment's, so a stream crossing 2³² is read rightly; a
    /// segment that leaves a gap (one the capture missed) ends the stream there.
    pub fn rebuild(segments: &[Segment<'_>]) -> Stream {
        let Some(first) = segments
            .iter()
            .min_by(|a, b| a.t.total_cmp(&b.t).then(a.frame.cmp(&b.frame)))
        else {
            return Stream::default();
        };
        // Relative to the first captured segment; a retransmission of earlier bytes captured
        // later still sorts before it only if the capture missed the original, which the
        // window below keeps apart from a wrap.
        let base = first.seq;
        let rel = |s: &Segment<'_>| s.seq.wrapping_sub(base) as i64;
        let mut ordered: Vec<&Segment<'_>> = segments.iter().collect();
        ordered.sort_by(|a, b| {
            let (ra, rb) = (signed(rel(a)), signed(rel(b)));
            ra.cmp(&rb).then(a.t.total_cmp(&b.t))
        });
        let start = ordered.first().map_or(0, |s| signed(rel(s)));
        let mut out = Stream::default();
        for s in ordered {
            let Ok(offset) = usize::try_from(signed(rel(s)) - start) else {
                continue;
            };
            let have = out.bytes.len();
            if offset > have {
                break;
            }
            let Some(new) = s.payload.get(have - offset..) else {
                continue;
            };
            if new.is_empty() {
                continue;
            }
            out.bytes.extend_from_slice(new);
            out.marks.push(Mark {
                end: out.bytes.len(),
                t: s.t,
                frame: s.frame,
            });
        }
        out
    }

    /// The segment that brought the byte just before `end` (the last byte of a message
    /// ending there).
    pub fn mark_for(&self, end: usize) -> Option<&Mark> {
        let i = self.marks.partition_point(|m| m.end < end);
        self.marks.get(i)
    }

    /// The frames that brought bytes of `start..end`, in stream order.
    pub fn frames_of(&self, start: usize, end: usize) -> Vec<u64> {
        let mut prev_end = 0;
        let mut out = Vec::new();
        for m in &self.marks {
            if m.end > start && prev_end < end {
                out.push(m.frame);
            }
            prev_end = m.end;
        }
        out
    }
}

/// A 32-bit sequence offset as a signed distance (RFC 9293 §3.4: comparisons modulo 2³²).
fn signed(rel: i64) -> i64 {
    i64::from(rel as u32 as i32)
}

/// TLS record content types (RFC 8446 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// 20.
    ChangeCipherSpec,
    /// 21.
    Alert,
    /// 22.
    Handshake,
    /// 23.
    ApplicationData,
    /// Anything else.
    Other(u8),
}

impl ContentType {
    fn of(b: u8) -> ContentType {
        match b {
            20 => ContentType::ChangeCipherSpec,
            21 => ContentType::Alert,
            22 => ContentType::Handshake,
            23 => ContentType::ApplicationData,
            o => ContentType::Other(o),
        }
    }
}

/// One TLS record's place in a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Its content type (the outer one: TLS 1.3 hides the real type inside).
    pub kind: ContentType,
    /// Offset of its header.
    pub start: usize,
    /// Offset just past it.
    pub end: usize,
}

/// Size of a TLS record header.
const RECORD_HEADER: usize = 5;

/// The whole TLS records at the start of `bytes`, in order; stops at a partial record or at
/// bytes that are not a record header (a major version other than 3).
pub fn tls_records(bytes: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(h) = bytes.get(at..at + RECORD_HEADER) {
        if h[1] != 3 {
            break;
        }
        let end = at + RECORD_HEADER + usize::from(u16::from_be_bytes([h[3], h[4]]));
        if end > bytes.len() {
            break;
        }
        out.push(Record {
            kind: ContentType::of(h[0]),
            start: at,
            end,
        });
        at = end;
    }
    out
}

/// Where the client's part of a TLS handshake ends in its records: the record after its
/// ChangeCipherSpec (its Finished: TLS 1.2 always, TLS 1.3 in the compatible mode most
/// clients use), else its first application-data record (a TLS 1.3 Finished sent without
/// ChangeCipherSpec), else an alert it sent instead. `None`: the handshake did not end in
/// what was captured.
pub fn client_handshake_end(records: &[Record]) -> Option<&Record> {
    let mut after_ccs = false;
    for r in records {
        match r.kind {
            ContentType::Alert => return Some(r),
            ContentType::ChangeCipherSpec => after_ccs = true,
            _ if after_ccs => return Some(r),
            ContentType::ApplicationData => return Some(r),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(seq: u32, t: f64, frame: u64, payload: &[u8]) -> Segment<'_> {
        Segment {
            seq,
            t,
            frame,
            payload,
        }
    }

    #[test]
    fn segments_out_of_order_and_retransmitted_read_as_one_stream() {
        let s = Stream::rebuild(&[
            seg(100, 0.1, 1, b"abc"),
            seg(106, 0.3, 3, b"ghi"),
            seg(103, 0.2, 2, b"def"),
            // A retransmission overlapping what came: only "j" is new.
            seg(106, 0.4, 4, b"ghij"),
        ]);
        assert_eq!(s.bytes, b"abcdefghij");
        let ends: Vec<(usize, u64)> = s.marks.iter().map(|m| (m.end, m.frame)).collect();
        assert_eq!(ends, vec![(3, 1), (6, 2), (9, 3), (10, 4)]);
        assert_eq!(s.mark_for(9).map(|m| m.frame), Some(3));
        assert_eq!(s.mark_for(10).map(|m| m.frame), Some(4));
        assert_eq!(s.frames_of(2, 7), vec![1, 2, 3]);
    }

    #[test]
    fn a_stream_across_the_sequence_wrap_keeps_its_order_and_a_gap_ends_it() {
        let s = Stream::rebuild(&[
            seg(u32::MAX - 1, 0.1, 1, b"ab"),
            seg(0, 0.2, 2, b"cd"),
            seg(10, 0.3, 3, b"zz"),
        ]);
        assert_eq!(s.bytes, b"abcd");
    }

    fn record(kind: u8, len: u16) -> Vec<u8> {
        let mut r = vec![kind, 3, 3];
        r.extend_from_slice(&len.to_be_bytes());
        r.extend(std::iter::repeat_n(0u8, usize::from(len)));
        r
    }

    #[test]
    fn the_clients_handshake_ends_with_its_finished_or_its_alert() {
        // TLS 1.2: ClientHello; ClientKeyExchange, ChangeCipherSpec, Finished; then data.
        let tls12: Vec<u8> = [
            record(22, 40),
            record(22, 70),
            record(20, 1),
            record(22, 40),
        ]
        .concat()
        .into_iter()
        .chain(record(23, 100))
        .collect();
        let recs = tls_records(&tls12);
        assert_eq!(recs.len(), 5);
        assert_eq!(client_handshake_end(&recs), recs.get(3));
        // TLS 1.3 without ChangeCipherSpec: the first application-data record.
        let tls13 = [record(22, 200), record(23, 53), record(23, 90)].concat();
        let recs = tls_records(&tls13);
        assert_eq!(client_handshake_end(&recs), recs.get(1));
        // A client refusing the certificate.
        let refused = [record(22, 200), record(21, 2)].concat();
        let recs = tls_records(&refused);
        assert_eq!(
            client_handshake_end(&recs).map(|r| r.kind),
            Some(ContentType::Alert)
        );
        // Only the ClientHello so far, and a cut record: no end.
        let partial = [record(22, 200), record(22, 10)[..8].to_vec()].concat();
        let recs = tls_records(&partial);
        assert_eq!(recs.len(), 1);
        assert_eq!(client_handshake_end(&recs), None);
        // Not TLS at all.
        assert!(tls_records(b"GET / HTTP/1.1\r\n\r\n").is_empty());
    }
}
