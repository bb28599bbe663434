//! The DHCP site-specific option string (SSON, default option 242) and Avaya's option 43.
//!
//! Owns: splitting `NAME=value,NAME="a,b",…` into pairs with byte offsets, naming every
//! malformation as a [`Finding`], applying the pairs to [`Settings`] as
//! [`Source::SiteOption`], and reading option 43 sub-options behind the `6889` marker.
//!
//! Never does: decide which names or values are valid — that is [`Settings::set`]'s job, so a
//! pair that parses cleanly may still be refused when applied. Never panics on any input.
//!
//! Follows domain.md "DHCP". Decisions where the sources are silent:
//! - Structurally broken pairs (no `=`, empty name, empty value, unterminated quote) are not
//!   returned as pairs; the rest of the string still is ("good pairs still apply").
//! - Lexical oddities (spaces around a name or value, over-long names or values, text after a
//!   closing quote, a `"` inside an unquoted value) are reported but the pair is kept *as
//!   written*; applying it then fails or succeeds exactly as the phone's validation decides.
//! - An unquoted list (`HTTPSRVR=10.1.1.5,10.1.1.6`) keeps only its first element: the second
//!   has no `=` and is reported. Whether real phones accept unquoted lists is unsure
//!   (domain.md); the harness tests both, this parser implements the documented syntax.
//! - Trailing NUL bytes (common in DHCP strings) are reported and ignored.

use std::fmt;

use crate::settings::{self, MAX_NAME_LEN, MAX_VALUE_LEN, Rejected, Settings, Source};

/// A parsed site-specific option string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SiteString {
    /// Well-formed pairs in order of appearance.
    pub pairs: Vec<Pair>,
    /// What was wrong, in order of appearance.
    pub findings: Vec<Finding>,
}

/// One `NAME=value` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// As written (case preserved).
    pub name: String,
    /// Quotes removed, otherwise as written.
    pub value: String,
    /// Byte offset of the name in the string.
    pub offset: usize,
}

/// A malformation at a byte offset of the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub offset: usize,
    pub kind: FindingKind,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {}: {}", self.offset, self.kind)
    }
}

/// What is wrong with a part of the string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FindingKind {
    #[error("empty option string")]
    EmptyString,
    #[error("no '=' in {text:?} (a list value must be wrapped in double quotes)")]
    NoEquals { text: String },
    #[error("empty pair between commas")]
    EmptyPair,
    #[error("empty name before '='")]
    EmptyName,
    #[error("empty value for {name}")]
    EmptyValue { name: String },
    #[error("stray space around the name or value of {name:?}")]
    StraySpace { name: String },
    #[error("trailing comma")]
    TrailingComma,
    #[error("unterminated double quote in the value of {name}")]
    UnterminatedQuote { name: String },
    #[error("text after the closing quote of {name} ignored")]
    JunkAfterQuote { name: String },
    #[error("double quote inside the unquoted value of {name}")]
    StrayQuote { name: String },
    #[error("name {name:?} is {len} characters long (at most {MAX_NAME_LEN})")]
    NameTooLong { name: String, len: usize },
    #[error("value of {name} is {len} characters long (at most {MAX_VALUE_LEN})")]
    ValueTooLong { name: String, len: usize },
    #[error("trailing NUL byte(s) ignored")]
    TrailingNul,
}

impl FindingKind {
    /// True when the finding marks a malformed pair (structure or stray characters): the
    /// pair it belongs to is ignored while the good pairs still apply. Over-long names and
    /// values, an empty string and trailing NULs are not malformations of a pair.
    pub fn is_malformed_pair(&self) -> bool {
        match self {
            FindingKind::NoEquals { .. }
            | FindingKind::EmptyPair
            | FindingKind::EmptyName
            | FindingKind::EmptyValue { .. }
            | FindingKind::StraySpace { .. }
            | FindingKind::TrailingComma
            | FindingKind::UnterminatedQuote { .. }
            | FindingKind::JunkAfterQuote { .. }
            | FindingKind::StrayQuote { .. } => true,
            FindingKind::EmptyString
            | FindingKind::NameTooLong { .. }
            | FindingKind::ValueTooLong { .. }
            | FindingKind::TrailingNul => false,
        }
    }
}

/// Parse a site-specific option string. Never panics.
pub fn parse(s: &str) -> SiteString {
    let mut out = SiteString::default();
    let body = s.trim_end_matches('\0');
    if body.len() < s.len() {
        out.findings.push(Finding {
            offset: body.len(),
            kind: FindingKind::TrailingNul,
        });
    }
    if body.is_empty() {
        out.findings.push(Finding {
            offset: 0,
            kind: FindingKind::EmptyString,
        });
        return out;
    }
    let mut pos = 0;
    loop {
        let rest = &body[pos..];
        // Where this pair's name ends: at '=' or, if a ',' comes first, the pair has none.
        let eq = rest.find('=');
        let comma = rest.find(',');
        let name_end = match (eq, comma) {
            (Some(e), Some(c)) if e < c => Some(e),
            (Some(e), None) => Some(e),
            _ => None,
        };
        let Some(name_end) = name_end else {
            // No '=' before the next comma (or the end).
            let seg_end = comma.unwrap_or(rest.len());
            let text = &rest[..seg_end];
            let kind = if text.is_empty() {
                FindingKind::EmptyPair
            } else {
                FindingKind::NoEquals {
                    text: text.to_string(),
                }
            };
            out.findings.push(Finding { offset: pos, kind });
            match comma {
                Some(c) => {
                    let comma_at = pos + c;
                    if advance_past_comma(&mut out, body, &mut pos, comma_at) {
                        break;
                    }
                    continue;
                }
                None => break,
            }
        };
        let name = &rest[..name_end];
        let value_start = pos + name_end + 1;
        let mut findings = Vec::new();
        let (value, quoted, next_comma) = match read_value(body, value_start, name, &mut findings) {
            Some(v) => v,
            None => {
                // Unterminated quote: the rest of the string is its value; nothing follows.
                out.findings.extend(findings);
                break;
            }
        };
        if name.is_empty() {
            findings.push(Finding {
                offset: pos,
                kind: FindingKind::EmptyName,
            });
        } else if value.is_empty() {
            findings.push(Finding {
                offset: value_start,
                kind: FindingKind::EmptyValue {
                    name: name.to_string(),
                },
            });
        }
        let spaced = |t: &str| t.trim() != t;
        if spaced(name) || (!quoted && spaced(value)) {
            findings.push(Finding {
                offset: pos,
                kind: FindingKind::StraySpace {
                    name: name.to_string(),
                },
            });
        }
        let name_len = name.chars().count();
        if name_len > MAX_NAME_LEN {
            findings.push(Finding {
                offset: pos,
                kind: FindingKind::NameTooLong {
                    name: name.to_string(),
                    len: name_len,
                },
            });
        }
        let value_len = value.chars().count();
        if value_len > MAX_VALUE_LEN {
            findings.push(Finding {
                offset: value_start,
                kind: FindingKind::ValueTooLong {
                    name: name.to_string(),
                    len: value_len,
                },
            });
        }
        if !name.is_empty() && !value.is_empty() {
            out.pairs.push(Pair {
                name: name.to_string(),
                value: value.to_string(),
                offset: pos,
            });
        }
        out.findings.extend(findings);
        match next_comma {
            Some(c) => {
                if advance_past_comma(&mut out, body, &mut pos, c) {
                    break;
                }
            }
            None => break,
        }
    }
    out
}

/// Move `pos` past the comma at `comma`. Returns true (stop) when the comma ends the string.
fn advance_past_comma(out: &mut SiteString, body: &str, pos: &mut usize, comma: usize) -> bool {
    *pos = comma + 1;
    if *pos >= body.len() {
        out.findings.push(Finding {
            offset: comma,
            kind: FindingKind::TrailingComma,
        });
        return true;
    }
    false
}

/// Read the value starting at `start`: `(value, was_quoted, offset of the comma after it)`.
/// `None` when a quote is never closed.
fn read_value<'a>(
    body: &'a str,
    start: usize,
    name: &str,
    findings: &mut Vec<Finding>,
) -> Option<(&'a str, bool, Option<usize>)> {
    let rest = &body[start..];
    if let Some(inner) = rest.strip_prefix('"') {
        let Some(close) = inner.find('"') else {
            findings.push(Finding {
                offset: start,
                kind: FindingKind::UnterminatedQuote {
                    name: name.to_string(),
                },
            });
            return None;
        };
        let value = &inner[..close];
        let after = start + 1 + close + 1;
        let tail = &body[after..];
        let comma = tail.find(',');
        let junk_end = comma.unwrap_or(tail.len());
        if junk_end > 0 {
            findings.push(Finding {
                offset: after,
                kind: FindingKind::JunkAfterQuote {
                    name: name.to_string(),
                },
            });
        }
        Some((value, true, comma.map(|c| after + c)))
    } else {
        let comma = rest.find(',');
        let value = &rest[..comma.unwrap_or(rest.len())];
        if value.contains('"') {
            findings.push(Finding {
                offset: start,
                kind: FindingKind::StrayQuote {
                    name: name.to_string(),
                },
            });
        }
        Some((value, false, comma.map(|c| start + c)))
    }
}

impl SiteString {
    /// Apply every pair to `settings` as [`Source::SiteOption`], in order (a later pair of the
    /// same name wins). Returns the pairs that were refused and why.
    pub fn apply(&self, settings: &mut Settings) -> Vec<(Pair, Rejected)> {
        self.pairs
            .iter()
            .filter_map(|p| {
                settings
                    .set(&p.name, &p.value, Source::SiteOption)
                    .err()
                    .map(|e| (p.clone(), e))
            })
            .collect()
    }
}

/// What became of one well-formed pair when a phone applied the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairOutcome {
    /// The value is in force.
    Applied,
    /// The value was accepted, then replaced by a later pair of the same name (at `by`).
    Overridden { by: usize },
    /// The phone refused the value; the default stays.
    Refused(Rejected),
    /// A name only H.323 phones use (MCIPADD, the call servers): a SIP phone ignores it.
    H323Only,
}

/// Names the site option carries for H.323 phones, which a SIP phone ignores.
pub const H323_NAMES: &[&str] = &["MCIPADD", "MCPORT"];

/// A site-specific option string as a phone reads it, for `phonecert option242 explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Every well-formed pair in order, with what became of it.
    pub pairs: Vec<(Pair, PairOutcome)>,
    /// Malformations: the parts of the string that are not pairs, or pairs read oddly.
    pub findings: Vec<Finding>,
    /// The phone's settings after the string: defaults plus what the string set.
    pub settings: Settings,
    /// The H.323 call servers MCIPADD names (the last MCIPADD pair), which a SIP phone
    /// does not register with.
    pub h323_servers: Vec<String>,
}

impl Explanation {
    /// Where the phone fetches its upgrade script, HTTPS first, then HTTP.
    pub fn file_servers(&self) -> Vec<settings::FileServer> {
        self.settings.file_servers()
    }

    /// The SIP controllers the phone registers with, in priority order.
    pub fn controllers(&self) -> Vec<settings::SipControllerEntry> {
        self.settings.sip_controllers()
    }
}

/// Read `s` as a phone without faults does: parse it, apply every pair in order as
/// [`Source::SiteOption`] to the profile's defaults, and say what became of each pair.
/// Addresses are taken as written. Never panics.
pub fn explain(s: &str) -> Explanation {
    let site = parse(s);
    let mut settings = Settings::new();
    let mut pairs: Vec<(Pair, PairOutcome)> = Vec::with_capacity(site.pairs.len());
    for pair in &site.pairs {
        let outcome = match settings.set(&pair.name, &pair.value, Source::SiteOption) {
            Ok(()) => {
                for (earlier, was) in pairs.iter_mut() {
                    if *was == PairOutcome::Applied && earlier.name.eq_ignore_ascii_case(&pair.name)
                    {
                        *was = PairOutcome::Overridden { by: pair.offset };
                    }
                }
                PairOutcome::Applied
            }
            Err(Rejected::UnknownName(_))
                if H323_NAMES
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(&pair.name)) =>
            {
                PairOutcome::H323Only
            }
            Err(why) => PairOutcome::Refused(why),
        };
        pairs.push((pair.clone(), outcome));
    }
    let h323_servers = site
        .pairs
        .iter()
        .rev()
        .find(|p| p.name.eq_ignore_ascii_case("MCIPADD"))
        .map(|p| {
            p.value
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Explanation {
        pairs,
        findings: site.findings,
        settings,
        h323_servers,
    }
}

/// Option 43 sub-option codes 2–15 after the `6889` marker (domain.md "DHCP").
const OPTION43_NAMES: [&str; 14] = [
    "HTTPSRVR",
    "HTTPDIR",
    "HTTPPORT",
    "TLSSRVR",
    "TLSDIR",
    "TLSPORT",
    "TLSSRVRID",
    "L2Q",
    "L2QVLAN",
    "PHY1STAT",
    "PHY2STAT",
    "PROCSTAT",
    "SIG",
    "SIP_CONTROLLER_LIST",
];

/// The sub-option code Avaya's marker sits in, and the marker itself.
pub const OPTION43_MARKER_CODE: u8 = 1;
pub const OPTION43_MARKER: &[u8] = b"6889";

/// The parameter name an option 43 sub-option code (2–15) stands for.
pub fn option43_name(code: u8) -> Option<&'static str> {
    code.checked_sub(2)
        .and_then(|i| OPTION43_NAMES.get(usize::from(i)))
        .copied()
}

/// Walk option 43's code/length/value sub-options in wire order: pad (0) is skipped, end
/// (255) stops, and a sub-option whose length runs past the end is dropped with everything
/// after it. No meaning is attached here (see [`parse_option43`]). Never panics.
pub fn option43_suboptions(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&code) = bytes.get(i) {
        if code == 0 {
            i += 1;
            continue;
        }
        if code == 255 {
            break;
        }
        let Some(&len) = bytes.get(i + 1) else { break };
        let end = i + 2 + usize::from(len);
        let Some(value) = bytes.get(i + 2..end) else {
            break;
        };
        out.push((code, value));
        i = end;
    }
    out
}

/// The named values of sub-options 2–15 in `subs`, in wire order; other codes are skipped.
pub fn option43_values(subs: &[(u8, &[u8])]) -> Vec<(String, String)> {
    subs.iter()
        .filter_map(|(code, value)| {
            option43_name(*code).map(|name| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value).into_owned(),
                )
            })
        })
        .collect()
}

/// Read option 43 (vendor-specific information, code/length/value sub-options). It counts
/// only if its first sub-option is code 1 with the value `6889`; `None` otherwise. Codes 2–15
/// map to names; other codes are skipped; pad (0) is skipped, end (255) stops. A sub-option
/// whose length runs past the end is dropped with everything after it. Never panics.
pub fn parse_option43(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    let subs = option43_suboptions(bytes);
    match subs.first() {
        Some((OPTION43_MARKER_CODE, marker)) if *marker == OPTION43_MARKER => {
            Some(option43_values(&subs[1..]))
        }
        _ => None,
    }
}

/// Apply option 43 pairs (from [`parse_option43`]) to `settings` as [`Source::SiteOption`].
/// Returns the refused ones, as [`Pair`]s whose offset is their index in `pairs`.
pub fn apply_option43(
    pairs: &[(String, String)],
    settings: &mut Settings,
) -> Vec<(Pair, settings::Rejected)> {
    pairs
        .iter()
        .enumerate()
        .filter_map(|(i, (name, value))| {
            settings
                .set(name, value, Source::SiteOption)
                .err()
                .map(|e| {
                    (
                        Pair {
                            name: name.clone(),
                            value: value.clone(),
                            offset: i,
                        },
                        e,
                    )
                })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kinds(s: &SiteString) -> Vec<&FindingKind> {
        s.findings.iter().map(|f| &f.kind).collect()
    }

    fn names(s: &SiteString) -> Vec<(&str, &str)> {
        s.pairs
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect()
    }

    #[test]
    fn explain_says_what_became_of_each_pair_and_where_the_phone_goes() {
        let e = explain(
            "TLSSRVR=198.51.100.7,HTTPSRVR=\"198.51.100.7,198.51.100.8\",HTTPDIR=fw,HTTPPORT=99999,\
             NOSUCH=1,SIP_CONTROLLER_LIST=198.51.100.9:5060;transport=tcp,HTTPDIR=phones,BAD",
        );
        let outcomes: Vec<(&str, &PairOutcome)> =
            e.pairs.iter().map(|(p, o)| (p.name.as_str(), o)).collect();
        assert_eq!(outcomes[0], ("TLSSRVR", &PairOutcome::Applied));
        assert_eq!(outcomes[1], ("HTTPSRVR", &PairOutcome::Applied));
        let second_dir = e.pairs[6].0.offset;
        assert_eq!(
            outcomes[2],
            ("HTTPDIR", &PairOutcome::Overridden { by: second_dir })
        );
        assert!(matches!(
            outcomes[3],
            (
                "HTTPPORT",
                PairOutcome::Refused(Rejected::InvalidValue { .. })
            )
        ));
        assert!(matches!(
            outcomes[4],
            ("NOSUCH", PairOutcome::Refused(Rejected::UnknownName(_)))
        ));
        assert_eq!(outcomes[6], ("HTTPDIR", &PairOutcome::Applied));
        assert!(matches!(
            e.findings.as_slice(),
            [Finding {
                kind: FindingKind::NoEquals { .. },
                ..
            }]
        ));
        let urls: Vec<String> = e.file_servers().iter().map(|f| f.url("")).collect();
        assert_eq!(
            urls,
            vec![
                "https://198.51.100.7/",
                "http://198.51.100.7/phones/",
                "http://198.51.100.8/phones/"
            ]
        );
        let c = e.controllers();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].to_string(), "198.51.100.9:5060;transport=tcp");
        assert!(e.h323_servers.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn explain_never_panics_and_offsets_stay_in_the_string(s in "[A-Za-z_=,\" ;:.0-9\u{0}]{0,80}") {
            let e = explain(&s);
            for (p, _) in &e.pairs {
                proptest::prop_assert!(p.offset < s.len());
            }
            for f in &e.findings {
                proptest::prop_assert!(f.offset <= s.len());
            }
            let _ = (e.file_servers(), e.controllers());
        }
    }

    #[test]
    fn explain_tells_h323_call_servers_apart_from_sip_controllers() {
        let e = explain("MCIPADD=\"203.0.113.4,203.0.113.5\",mcport=1719,HTTPSRVR=203.0.113.9");
        let outcomes: Vec<&PairOutcome> = e.pairs.iter().map(|(_, o)| o).collect();
        assert_eq!(
            outcomes,
            vec![
                &PairOutcome::H323Only,
                &PairOutcome::H323Only,
                &PairOutcome::Applied
            ]
        );
        assert_eq!(e.h323_servers, vec!["203.0.113.4", "203.0.113.5"]);
        assert!(e.controllers().is_empty());
    }

    #[test]
    fn domain_example_applies() {
        let s = parse(
            "HTTPSRVR=10.1.1.5,HTTPDIR=fw,SIPDOMAIN=lab.test,SIP_CONTROLLER_LIST=10.1.1.6:5060;transport=tcp",
        );
        assert!(s.findings.is_empty(), "{:?}", s.findings);
        assert_eq!(
            s.pairs[1],
            Pair {
                name: "HTTPDIR".into(),
                value: "fw".into(),
                offset: 18
            }
        );
        let mut set = Settings::new();
        assert!(s.apply(&mut set).is_empty());
        assert_eq!(set.http_servers(), vec!["10.1.1.5"]);
        assert_eq!(set.http_dir(), "fw");
        assert_eq!(set.sip_domain().as_deref(), Some("lab.test"));
        let c = set.sip_controllers();
        assert_eq!(
            (c[0].host.as_str(), c[0].port, c[0].transport),
            ("10.1.1.6", 5060, crate::Transport::Tcp)
        );
        assert_eq!(set.source_of("HTTPDIR"), Some(Source::SiteOption));
    }

    #[test]
    fn lower_case_names_apply_values_keep_case() {
        let s = parse("httpsrvr=10.1.1.5,HttpDir=FW/Lab");
        assert!(s.findings.is_empty());
        assert_eq!(
            names(&s),
            vec![("httpsrvr", "10.1.1.5"), ("HttpDir", "FW/Lab")]
        );
        let mut set = Settings::new();
        assert!(s.apply(&mut set).is_empty());
        assert_eq!(set.get("HTTPSRVR"), Some("10.1.1.5"));
        assert_eq!(set.http_dir(), "FW/Lab");
    }

    #[test]
    fn reordered_pairs_mean_the_same() {
        let a = parse("HTTPDIR=fw,HTTPSRVR=10.1.1.5");
        let b = parse("HTTPSRVR=10.1.1.5,HTTPDIR=fw");
        let (mut sa, mut sb) = (Settings::new(), Settings::new());
        a.apply(&mut sa);
        b.apply(&mut sb);
        assert_eq!(sa, sb);
    }

    #[test]
    fn quoted_list_keeps_its_commas() {
        let s = parse("HTTPSRVR=\"10.1.1.5,10.1.1.6\",HTTPDIR=fw");
        assert!(s.findings.is_empty(), "{:?}", s.findings);
        assert_eq!(
            names(&s),
            vec![("HTTPSRVR", "10.1.1.5,10.1.1.6"), ("HTTPDIR", "fw")]
        );
        let mut set = Settings::new();
        s.apply(&mut set);
        assert_eq!(set.http_servers(), vec!["10.1.1.5", "10.1.1.6"]);
    }

    #[test]
    fn unquoted_list_keeps_first_element_and_reports_the_rest() {
        let s = parse("HTTPSRVR=10.1.1.5,10.1.1.6,HTTPDIR=fw");
        assert_eq!(names(&s), vec![("HTTPSRVR", "10.1.1.5"), ("HTTPDIR", "fw")]);
        assert_eq!(
            s.findings,
            vec![Finding {
                offset: 18,
                kind: FindingKind::NoEquals {
                    text: "10.1.1.6".into()
                }
            }]
        );
    }

    #[test]
    fn unknown_names_are_ignored_rest_applies() {
        let s = parse("FOO=bar,HTTPSRVR=10.1.1.5,REGISTERWAIT=60");
        assert!(s.findings.is_empty());
        let mut set = Settings::new();
        let refused = s.apply(&mut set);
        assert_eq!(refused.len(), 2);
        assert_eq!(refused[0].1, Rejected::UnknownName("FOO".into()));
        assert!(matches!(refused[1].1, Rejected::NotSettableFrom { .. }));
        assert_eq!(set.get("HTTPSRVR"), Some("10.1.1.5"));
        assert_eq!(set.get("REGISTERWAIT"), Some("900"));
    }

    #[test]
    fn invalid_values_keep_defaults() {
        let s = parse("HTTPPORT=99999,L2QVLAN=5000,HTTPSRVR=10.1.1.5");
        let mut set = Settings::new();
        let refused = s.apply(&mut set);
        assert_eq!(refused.len(), 2);
        assert_eq!(set.http_port(), 80);
        assert_eq!(set.get("L2QVLAN"), Some("0"));
        assert_eq!(set.get("HTTPSRVR"), Some("10.1.1.5"));
    }

    #[test]
    fn malformed_pairs_reported_good_pairs_apply() {
        let s = parse("HTTPDIR,=x,SIG=,HTTPSRVR=10.1.1.5,,L2Q=1,");
        assert_eq!(names(&s), vec![("HTTPSRVR", "10.1.1.5"), ("L2Q", "1")]);
        assert_eq!(
            kinds(&s),
            vec![
                &FindingKind::NoEquals {
                    text: "HTTPDIR".into()
                },
                &FindingKind::EmptyName,
                &FindingKind::EmptyValue { name: "SIG".into() },
                &FindingKind::EmptyPair,
                &FindingKind::TrailingComma,
            ]
        );
        assert_eq!(s.findings[1].offset, 8);
        assert_eq!(s.findings[4].offset, 40);
        let mut set = Settings::new();
        assert!(s.apply(&mut set).is_empty());
        assert_eq!(set.get("L2Q"), Some("1"));
    }

    #[test]
    fn stray_spaces_reported_and_refused_on_apply() {
        let s = parse("HTTPSRVR = 10.1.1.5,HTTPDIR=fw");
        assert_eq!(
            kinds(&s),
            vec![&FindingKind::StraySpace {
                name: "HTTPSRVR ".into()
            }]
        );
        let mut set = Settings::new();
        let refused = s.apply(&mut set);
        assert_eq!(refused.len(), 1);
        assert_eq!(set.get("HTTPSRVR"), None);
        assert_eq!(set.http_dir(), "fw");
        let s = parse("HTTPSRVR=10.1.1.5 ");
        assert_eq!(
            kinds(&s),
            vec![&FindingKind::StraySpace {
                name: "HTTPSRVR".into()
            }]
        );
    }

    #[test]
    fn unterminated_quote_drops_the_rest() {
        let s = parse("HTTPDIR=fw,HTTPSRVR=\"10.1.1.5,L2Q=1");
        assert_eq!(names(&s), vec![("HTTPDIR", "fw")]);
        assert_eq!(
            s.findings,
            vec![Finding {
                offset: 20,
                kind: FindingKind::UnterminatedQuote {
                    name: "HTTPSRVR".into()
                }
            }]
        );
    }

    #[test]
    fn junk_after_quote_and_stray_quote() {
        let s = parse("HTTPSRVR=\"10.1.1.5\"x,HTTPDIR=f\"w");
        assert_eq!(
            names(&s),
            vec![("HTTPSRVR", "10.1.1.5"), ("HTTPDIR", "f\"w")]
        );
        assert_eq!(
            kinds(&s),
            vec![
                &FindingKind::JunkAfterQuote {
                    name: "HTTPSRVR".into()
                },
                &FindingKind::StrayQuote {
                    name: "HTTPDIR".into()
                }
            ]
        );
    }

    #[test]
    fn over_long_names_and_values_are_ignored() {
        let long_value = format!("HTTPDIR={},HTTPSRVR=10.1.1.5", "d".repeat(256));
        let s = parse(&long_value);
        assert_eq!(
            kinds(&s),
            vec![&FindingKind::ValueTooLong {
                name: "HTTPDIR".into(),
                len: 256
            }]
        );
        let mut set = Settings::new();
        let refused = s.apply(&mut set);
        assert_eq!(refused[0].1, Rejected::ValueTooLong);
        assert_eq!(set.http_dir(), "");
        assert_eq!(set.get("HTTPSRVR"), Some("10.1.1.5"));
        let max = format!("HTTPDIR={}", "d".repeat(255));
        let s = parse(&max);
        assert!(s.findings.is_empty());
        assert!(s.apply(&mut set).is_empty());
        let long_name = format!("{}=1,L2Q=1", "N".repeat(31));
        let s = parse(&long_name);
        assert!(matches!(
            s.findings[0].kind,
            FindingKind::NameTooLong { len: 31, .. }
        ));
        assert_eq!(s.apply(&mut set)[0].1, Rejected::NameTooLong);
        assert_eq!(set.get("L2Q"), Some("1"));
    }

    #[test]
    fn trailing_nul_and_empty() {
        let s = parse("HTTPDIR=fw\0");
        assert_eq!(names(&s), vec![("HTTPDIR", "fw")]);
        assert_eq!(
            s.findings,
            vec![Finding {
                offset: 10,
                kind: FindingKind::TrailingNul
            }]
        );
        assert_eq!(kinds(&parse("")), vec![&FindingKind::EmptyString]);
    }

    #[test]
    fn finding_display_names_offset() {
        let s = parse("HTTPDIR,L2Q=1");
        assert_eq!(
            s.findings[0].to_string(),
            "at offset 0: no '=' in \"HTTPDIR\" (a list value must be wrapped in double quotes)"
        );
    }

    fn tlv(code: u8, v: &[u8]) -> Vec<u8> {
        let mut out = vec![code, v.len() as u8];
        out.extend_from_slice(v);
        out
    }

    #[test]
    fn option43_with_marker() {
        let mut b = tlv(1, b"6889");
        b.extend(tlv(2, b"10.1.1.5"));
        b.extend(tlv(3, b"fw"));
        b.extend(tlv(4, b"8080"));
        b.push(0); // pad
        b.extend(tlv(15, b"10.1.1.6;transport=tcp"));
        b.extend(tlv(16, b"ignored"));
        b.extend(tlv(14, b"2"));
        b.push(255);
        b.extend(tlv(9, b"1")); // after end: not read
        let pairs = parse_option43(&b).unwrap();
        assert_eq!(
            pairs,
            vec![
                ("HTTPSRVR".to_string(), "10.1.1.5".to_string()),
                ("HTTPDIR".into(), "fw".into()),
                ("HTTPPORT".into(), "8080".into()),
                (
                    "SIP_CONTROLLER_LIST".into(),
                    "10.1.1.6;transport=tcp".into()
                ),
                ("SIG".into(), "2".into()),
            ]
        );
        let mut set = Settings::new();
        assert!(apply_option43(&pairs, &mut set).is_empty());
        assert_eq!(set.http_port(), 8080);
        assert_eq!(set.sip_controllers()[0].port, 5060);
    }

    #[test]
    fn option43_suboptions_walk_every_code_in_wire_order() {
        let mut b = tlv(2, b"10.1.1.5");
        b.push(0);
        b.extend(tlv(1, b"6889"));
        b.extend(tlv(20, b"x"));
        b.extend([3, 9, b'f']);
        let subs = option43_suboptions(&b);
        assert_eq!(
            subs,
            vec![(2, &b"10.1.1.5"[..]), (1, &b"6889"[..]), (20, &b"x"[..])]
        );
        assert_eq!(
            option43_values(&subs),
            vec![("HTTPSRVR".to_string(), "10.1.1.5".to_string())]
        );
        assert_eq!(option43_name(1), None);
        assert_eq!(option43_name(10), Some("L2QVLAN"));
        assert_eq!(option43_name(15), Some("SIP_CONTROLLER_LIST"));
        assert_eq!(option43_name(16), None);
    }

    #[test]
    fn malformations_are_told_apart_from_length_findings() {
        let s = parse("A,=x,SIG=,B = 1,C=\"x\"y,D=a\"b,E=\"q,");
        assert!(s.findings.iter().all(|f| f.kind.is_malformed_pair()));
        let long = parse(&format!("HTTPDIR={}\0", "d".repeat(256)));
        assert!(!long.findings.iter().any(|f| f.kind.is_malformed_pair()));
        assert!(!FindingKind::EmptyString.is_malformed_pair());
    }

    #[test]
    fn option43_without_marker_is_ignored() {
        let mut wrong = tlv(1, b"6888");
        wrong.extend(tlv(2, b"10.1.1.5"));
        assert_eq!(parse_option43(&wrong), None);
        let mut late = tlv(2, b"10.1.1.5");
        late.extend(tlv(1, b"6889"));
        assert_eq!(parse_option43(&late), None);
        assert_eq!(parse_option43(&[]), None);
        assert_eq!(parse_option43(&[1, 4, b'6', b'8']), None);
        // Marker present, then a truncated sub-option: what came before counts.
        let mut cut = tlv(1, b"6889");
        cut.extend(tlv(3, b"fw"));
        cut.extend([2, 9, b'1']);
        assert_eq!(
            parse_option43(&cut),
            Some(vec![("HTTPDIR".into(), "fw".into())])
        );
    }
}
