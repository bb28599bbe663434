//! Fitting a reply into the client's maximum DHCP message size (RFC 2132 §9.10, option 57).
//!
//! Owns: what the server does when the reply it would send is longer than the client said it
//! accepts, under the scenario's [`MaxSizePolicy`], and the record of it ([`MaxSizeFit`]) that
//! goes on the `sent` event as evidence.
//!
//! Never: decides which options a reply carries in the first place (the server does), reads
//! the clock or sockets.
//!
//! Decisions:
//! - Option 57 counts the whole IP datagram: RFC 2131 §2 pairs its 576-octet minimum with a
//!   312-octet options field, i.e. a 548-byte DHCP message under 20 bytes of IP and 8 of UDP
//!   header. A value below 576 is illegal (RFC 2132 §9.10) and is read as 576.
//! - Only a client that sent option 57 is fitted: without it the reply goes out as the
//!   scenario made it, since what a phone does with a long reply is part of what scenarios
//!   test.
//! - `fit`: (1) options the client did not ask for in option 55 go, except the ones RFC 2131
//!   table 3 requires in OFFER and ACK (53, 54, 51) and T1/T2 (58, 59) that come with the
//!   lease; (2) then option 52 overloads `file`, then `sname` as well (RFC 2131 §4.1), long
//!   options split across the areas per RFC 3396; (3) if that still does not fit, the
//!   remaining options that may go are dropped from the last one back.
//! - `report`: nothing changes form; a reply that does not fit is recorded as exceeding the
//!   client's size and goes out as the largest prefix of its options that fits (53 and 54
//!   always kept): the longest reply the client accepts, cut where the scenario's order puts
//!   the cut.

use serde::{Deserialize, Serialize};

use crate::wire::{self, HEADER_LEN, Header, MAGIC_COOKIE, OPT_END, OPT_OVERLOAD, OPT_PAD};

/// IP (20) and UDP (8) headers around a DHCP message.
pub const IP_UDP_OVERHEAD: usize = 28;
/// The smallest maximum message size a client may state (RFC 2132 §9.10).
pub const MIN_MAX_MESSAGE_SIZE: u16 = 576;

/// Options a fitted OFFER or ACK never loses: message type, server id and lease time
/// (RFC 2131 table 3: MUST), T1 and T2 (they go with the lease).
const ESSENTIAL: [u8; 5] = [53, 54, 51, 58, 59];
/// What `report` keeps whatever the cut: message type and server id.
const HEAD: [u8; 2] = [53, 54];

/// What the server does with a reply longer than the client's option 57 allows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MaxSizePolicy {
    /// Make it fit: drop what was not asked for, overload `file` and `sname`.
    #[default]
    Fit,
    /// Record that it exceeds the client's size and send the largest prefix that fits.
    Report,
}

/// How a reply and the client's maximum message size met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FitOutcome {
    /// The reply fitted as it was.
    Fits,
    /// It was made to fit (`fit`).
    Fitted,
    /// It did not fit (`report`, or nothing left to drop): sent cut to the largest form that
    /// fits, or as small as it could be made.
    Exceeds,
}

/// The evidence of fitting one reply, on its `sent` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MaxSizeFit {
    /// Option 57 as the client sent it.
    pub client_max: u16,
    /// The longest DHCP message (UDP payload) that allowed.
    pub limit: usize,
    /// The scenario's policy.
    pub policy: MaxSizePolicy,
    /// What happened.
    pub outcome: FitOutcome,
    /// Length of the reply as built, before fitting.
    pub full_len: usize,
    /// Length of the reply sent.
    pub sent_len: usize,
    /// Option codes left out to fit, in the order they were dropped.
    pub dropped: Vec<u8>,
    /// Option 52's value when `file` (1), `sname` (2) or both (3) carry options.
    pub overload: Option<u8>,
}

/// The reply to send and what fitting did. `options` as the server built them; `requested`
/// the client's option 55.
pub fn fit(
    header: &Header,
    options: &[(u8, Vec<u8>)],
    client_max: u16,
    requested: &[u8],
    policy: MaxSizePolicy,
) -> (Vec<u8>, MaxSizeFit) {
    let limit = usize::from(client_max.max(MIN_MAX_MESSAGE_SIZE)) - IP_UDP_OVERHEAD;
    let full = wire::encode(header, options);
    let mut record = MaxSizeFit {
        client_max,
        limit,
        policy,
        outcome: FitOutcome::Fits,
        full_len: full.len(),
        sent_len: full.len(),
        dropped: Vec::new(),
        overload: None,
    };
    if full.len() <= limit {
        return (full, record);
    }
    let (bytes, dropped, overload, fits) = match policy {
        MaxSizePolicy::Fit => fit_reply(header, options, requested, limit),
        MaxSizePolicy::Report => cut_reply(header, options, limit),
    };
    record.outcome = if fits && policy == MaxSizePolicy::Fit {
        FitOutcome::Fitted
    } else {
        FitOutcome::Exceeds
    };
    record.sent_len = bytes.len();
    record.dropped = dropped;
    record.overload = overload;
    (bytes, record)
}

type Attempt = (Vec<u8>, Vec<u8>, Option<u8>, bool);

fn fit_reply(
    header: &Header,
    options: &[(u8, Vec<u8>)],
    requested: &[u8],
    limit: usize,
) -> Attempt {
    let mut dropped = Vec::new();
    let mut kept: Vec<(u8, Vec<u8>)> = Vec::new();
    for (code, value) in options {
        if ESSENTIAL.contains(code) || requested.contains(code) {
            kept.push((*code, value.clone()));
        } else if !dropped.contains(code) {
            dropped.push(*code);
        }
    }
    loop {
        let plain = wire::encode(header, &kept);
        if plain.len() <= limit {
            return (plain, dropped, None, true);
        }
        if let Some((bytes, which)) = overloaded(header, &kept, limit) {
            return (bytes, dropped, Some(which), true);
        }
        // Still too long: the last option that may go, goes.
        let Some(i) = kept.iter().rposition(|(c, _)| !ESSENTIAL.contains(c)) else {
            return (plain, dropped, None, false);
        };
        let (code, _) = kept.remove(i);
        if !dropped.contains(&code) {
            dropped.push(code);
        }
    }
}

fn cut_reply(header: &Header, options: &[(u8, Vec<u8>)], limit: usize) -> Attempt {
    let mut kept = options.to_vec();
    let mut dropped = Vec::new();
    loop {
        let plain = wire::encode(header, &kept);
        if plain.len() <= limit {
            return (plain, dropped, None, false);
        }
        let Some(i) = kept.iter().rposition(|(c, _)| !HEAD.contains(c)) else {
            return (plain, dropped, None, false);
        };
        let (code, _) = kept.remove(i);
        if !dropped.contains(&code) {
            dropped.push(code);
        }
    }
}

/// The option bytes of `options` (each value split into 255-byte pieces, RFC 3396), as
/// (code, piece) pairs.
fn pieces(options: &[(u8, Vec<u8>)]) -> Vec<(u8, Vec<u8>)> {
    options
        .iter()
        .flat_map(|(code, value)| {
            if value.is_empty() {
                vec![(*code, Vec::new())]
            } else {
                value
                    .chunks(usize::from(u8::MAX))
                    .map(|c| (*code, c.to_vec()))
                    .collect()
            }
        })
        .collect()
}

/// Packs `options` into the options field (as much as `limit` leaves room for), then `file`,
/// then `sname`, splitting an option where an area ends (RFC 3396: the pieces are joined in
/// that order). `None` when even all three areas cannot hold them.
fn overloaded(header: &Header, options: &[(u8, Vec<u8>)], limit: usize) -> Option<(Vec<u8>, u8)> {
    // The options field holds the cookie, option 52 (3 bytes) and the end byte around what
    // it carries.
    let field_room = limit.checked_sub(HEADER_LEN + MAGIC_COOKIE.len() + 3 + 1)?;
    // Each overloaded area ends with its own end byte.
    let mut areas: Vec<(usize, Vec<u8>)> = vec![
        (field_room, Vec::new()),
        (header.file.len() - 1, Vec::new()),
        (header.sname.len() - 1, Vec::new()),
    ];
    let mut area = 0;
    for (code, value) in pieces(options) {
        // Message type and server id go whole into the options field, which RFC 2131 §4.1
        // has a receiver read first.
        let whole = HEAD.contains(&code);
        let mut rest: &[u8] = &value;
        loop {
            if whole && area > 0 {
                return None;
            }
            let (room, buf) = areas.get_mut(area)?;
            let free = room.saturating_sub(buf.len());
            let fits_here = if matches!(code, OPT_PAD | OPT_END) {
                free >= 1
            } else if whole || rest.is_empty() {
                free >= 2 + rest.len()
            } else {
                free >= 3
            };
            if !fits_here {
                area += 1;
                continue;
            }
            if matches!(code, OPT_PAD | OPT_END) {
                buf.push(code);
                break;
            }
            let take = rest.len().min(free - 2);
            buf.push(code);
            buf.push(u8::try_from(take).unwrap_or(u8::MAX));
            buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if rest.is_empty() {
                break;
            }
            area += 1;
        }
    }
    let which = match (areas[1].1.is_empty(), areas[2].1.is_empty()) {
        (_, false) => 3,
        (false, true) => 1,
        (true, true) => return None, // no overload needed: the caller tried the plain form
    };
    let mut h = header.clone();
    let mut file = [OPT_PAD; 128];
    let mut sname = [OPT_PAD; 64];
    if which & 1 != 0 {
        write_area(&mut file, &areas[1].1);
    }
    if which & 2 != 0 {
        write_area(&mut sname, &areas[2].1);
    }
    h.file = file;
    h.sname = sname;
    let mut field = vec![(OPT_OVERLOAD, vec![which])];
    field.extend(raw_pieces(&areas[0].1));
    let bytes = wire::encode(&h, &field);
    (bytes.len() <= limit).then_some((bytes, which))
}

/// `area` followed by an end byte, the rest padding.
fn write_area(dst: &mut [u8], area: &[u8]) {
    dst[..area.len()].copy_from_slice(area);
    dst[area.len()] = OPT_END;
}

/// Already-encoded option bytes back into (code, value) pairs for [`wire::encode`], which
/// writes them unchanged (each is at most 255 bytes).
fn raw_pieces(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&code) = bytes.get(i) {
        if matches!(code, OPT_PAD | OPT_END) {
            out.push((code, Vec::new()));
            i += 1;
            continue;
        }
        let len = bytes.get(i + 1).copied().map_or(0, usize::from);
        let value = bytes.get(i + 2..i + 2 + len).unwrap_or_default().to_vec();
        out.push((code, value));
        i += 2 + len;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::walk;

    fn header() -> Header {
        Header {
            op: 2,
            htype: 1,
            hlen: 6,
            xid: 7,
            ..Header::default()
        }
    }

    /// An OFFER with a 300-byte site option and an unrequested option 43.
    fn long_offer() -> Vec<(u8, Vec<u8>)> {
        vec![
            (53, vec![2]),
            (54, vec![10, 66, 0, 1]),
            (51, 3600u32.to_be_bytes().to_vec()),
            (58, 1800u32.to_be_bytes().to_vec()),
            (59, 3150u32.to_be_bytes().to_vec()),
            (1, vec![255, 255, 255, 0]),
            (242, vec![b'x'; 300]),
            (43, vec![b'o'; 40]),
        ]
    }

    #[test]
    fn a_reply_that_fits_is_left_alone() {
        let opts = &long_offer()[..6];
        let (bytes, rec) = fit(&header(), opts, 576, &[1, 3], MaxSizePolicy::Fit);
        assert_eq!(bytes, wire::encode(&header(), opts));
        assert_eq!(rec.outcome, FitOutcome::Fits);
        assert_eq!((rec.limit, rec.full_len, rec.sent_len), (548, 300, 300));
        assert!(rec.dropped.is_empty() && rec.overload.is_none());
    }

    #[test]
    fn fit_drops_what_was_not_asked_for_then_overloads_file() {
        let (bytes, rec) = fit(&header(), &long_offer(), 576, &[1, 242], MaxSizePolicy::Fit);
        assert_eq!(rec.full_len, 620);
        assert!(bytes.len() <= 548, "{}", bytes.len());
        assert_eq!(rec.sent_len, bytes.len());
        assert_eq!(rec.outcome, FitOutcome::Fitted);
        assert_eq!(rec.dropped, vec![43]);
        assert_eq!(rec.overload, Some(1));
        // A receiver that reads option 52 gets the whole site option back (RFC 3396).
        let m = walk(&bytes).unwrap();
        assert!(m.findings.is_empty(), "{:?}", m.findings);
        assert_eq!(m.concatenated(242).unwrap(), vec![b'x'; 300]);
        assert_eq!(m.concatenated(53).unwrap(), vec![2]);
        assert_eq!(m.concatenated(1).unwrap(), vec![255, 255, 255, 0]);
        assert!(m.concatenated(43).is_none());
        // Message type and server id stay first in the options field.
        assert_eq!(m.options[0].code, 52);
        assert_eq!((m.options[1].code, m.options[2].code), (53, 54));
    }

    #[test]
    fn a_bigger_stated_size_keeps_everything() {
        let (bytes, rec) = fit(&header(), &long_offer(), 1500, &[1], MaxSizePolicy::Fit);
        assert_eq!(rec.outcome, FitOutcome::Fits);
        assert_eq!(bytes, wire::encode(&header(), &long_offer()));
    }

    #[test]
    fn an_illegal_size_below_576_counts_as_576() {
        let (_, rec) = fit(&header(), &long_offer()[..6], 300, &[], MaxSizePolicy::Fit);
        assert_eq!((rec.client_max, rec.limit), (300, 548));
    }

    #[test]
    fn fit_overloads_sname_too_then_drops_from_the_end() {
        // 100 more bytes need `sname` as well as `file`.
        let mut opts = long_offer();
        opts.push((66, vec![b's'; 100]));
        let (bytes, rec) = fit(&header(), &opts, 576, &[1, 242, 66], MaxSizePolicy::Fit);
        assert!(bytes.len() <= 548);
        assert_eq!((rec.outcome, rec.overload), (FitOutcome::Fitted, Some(3)));
        assert_eq!(rec.dropped, vec![43]);
        let m = walk(&bytes).unwrap();
        assert!(m.findings.is_empty(), "{:?}", m.findings);
        assert_eq!(m.concatenated(242).unwrap(), vec![b'x'; 300]);
        assert_eq!(m.concatenated(66).unwrap(), vec![b's'; 100]);
        // 200 more cannot fit even in all three areas: the last option that may go, goes.
        opts.pop();
        opts.push((66, vec![b's'; 200]));
        let (bytes, rec) = fit(&header(), &opts, 576, &[1, 242, 66], MaxSizePolicy::Fit);
        assert!(bytes.len() <= 548);
        assert_eq!(rec.outcome, FitOutcome::Fitted);
        assert_eq!(rec.dropped, vec![43, 66]);
        let m = walk(&bytes).unwrap();
        assert_eq!(m.concatenated(242).unwrap().len(), 300);
    }

    #[test]
    fn report_keeps_the_form_and_cuts_the_tail() {
        let (bytes, rec) = fit(
            &header(),
            &long_offer(),
            576,
            &[1, 242],
            MaxSizePolicy::Report,
        );
        assert_eq!(rec.outcome, FitOutcome::Exceeds);
        assert!(bytes.len() <= 548);
        assert_eq!(rec.dropped, vec![43, 242]);
        assert_eq!(rec.overload, None);
        let m = walk(&bytes).unwrap();
        let codes: Vec<u8> = m.options.iter().map(|o| o.code).collect();
        assert_eq!(codes, vec![53, 54, 51, 58, 59, 1]);
    }

    proptest::proptest! {
        /// Any options and any stated size: no panic, and a `fit` reply within the limit
        /// walks back to every option it kept, whole.
        #[test]
        fn fitting_never_panics_and_keeps_what_it_sends_whole(
            opts in proptest::collection::vec((1u8..=254, proptest::collection::vec(proptest::num::u8::ANY, 0..400)), 0..8),
            requested in proptest::collection::vec(1u8..=254, 0..10),
            max in proptest::num::u16::ANY,
            report in proptest::bool::ANY,
        ) {
            let opts: Vec<(u8, Vec<u8>)> = opts.into_iter().filter(|(c, _)| *c != OPT_OVERLOAD).collect();
            let policy = if report { MaxSizePolicy::Report } else { MaxSizePolicy::Fit };
            let (bytes, rec) = fit(&header(), &opts, max, &requested, policy);
            proptest::prop_assert_eq!(rec.sent_len, bytes.len());
            if bytes.len() <= rec.limit {
                let m = walk(&bytes).unwrap();
                proptest::prop_assert!(m.findings.is_empty(), "{:?}", m.findings);
                for (code, _) in opts.iter().filter(|(c, _)| !rec.dropped.contains(c)) {
                    let joined: Vec<u8> = opts.iter().filter(|(c, _)| c == code).flat_map(|(_, v)| v.clone()).collect();
                    proptest::prop_assert_eq!(m.concatenated(*code).unwrap_or_default(), joined);
                }
            } else {
                proptest::prop_assert_eq!(rec.outcome, FitOutcome::Exceeds);
            }
        }
    }

    #[test]
    fn the_record_reads_as_the_timeline_shows_it() {
        let (_, rec) = fit(&header(), &long_offer(), 576, &[1, 242], MaxSizePolicy::Fit);
        let v = serde_json::to_value(&rec).unwrap();
        assert_eq!(v["outcome"], "fitted");
        assert_eq!(v["policy"], "fit");
        assert_eq!(v["dropped"], serde_json::json!([43]));
        assert_eq!(v["overload"], 1);
    }
}
