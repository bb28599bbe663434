//! Field matchers: does one event's field satisfy a scenario's condition?
//!
//! Values are compared in their JSON form. A string condition against a number compares the
//! number's decimal text, so `status = "401"` and `status = 401` both work.

use std::fmt;

use serde_json::Value;

use crate::scenario::vars::{Vars, expand};
use crate::scenario::{Cond, FieldMatch};
use crate::timeline::{Event, Proto};

/// Why an event did not match: the first condition that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Field path.
    pub field: String,
    /// What the field held (`absent` when missing).
    pub actual: String,
    /// The condition, in words.
    pub wanted: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is {}, expected {}",
            self.field, self.actual, self.wanted
        )
    }
}

/// Checks every matcher against the event; the first failing one is returned.
pub fn match_event(e: &Event, matchers: &[FieldMatch], vars: &Vars) -> Result<(), Mismatch> {
    for m in matchers {
        let owned = lookup(e, &m.field);
        let v = owned.as_ref();
        if !holds(v, &m.cond, vars) {
            return Err(Mismatch {
                field: m.field.clone(),
                actual: v.map_or_else(|| "absent".to_string(), short),
                wanted: wanted(&m.cond, vars),
            });
        }
    }
    Ok(())
}

/// A field's value: a dotted path into the event, or `header.NAME` for a header of the
/// message the event carries (its `headers` list, which HTTP and SIP events both have),
/// matched case-insensitively, SIP compact forms included (RFC 3261 §7.3.3). Several headers
/// of the same name join with `, ` (RFC 9110 §5.3, RFC 3261 §7.3.1).
///
/// `header.NAME;PARAM` is one parameter of that header: the first `PARAM=value` (or bare
/// `PARAM`, whose value is empty text) in the headers of that name, in order — a Contact's
/// `expires`, a Via's `rport`, a digest challenge's `stale` — with quotes removed; absent
/// when no header of that name has it.
pub fn lookup(e: &Event, field: &str) -> Option<Value> {
    let Some(name) = field.strip_prefix("header.") else {
        return e.field(field).cloned();
    };
    if let Some((name, param)) = name.split_once(';') {
        return header_values(e, name)
            .iter()
            .find_map(|v| header_param(v, param))
            .map(Value::String);
    }
    let values = header_values(e, name);
    (!values.is_empty()).then(|| Value::String(values.join(", ")))
}

/// The value of parameter `param` in one header value. Parameters are separated by `;` or
/// `,` outside quotes and `<…>`; a scheme before the first (`Digest realm=…`) is skipped.
pub fn header_param(value: &str, param: &str) -> Option<String> {
    let mut pieces = Vec::new();
    let (mut quoted, mut angle, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, ch) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match ch {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ';' | ',' if !quoted && !angle => {
                pieces.push(value.get(start..i).unwrap_or_default());
                start = i + ch.len_utf8();
            }
            _ => {}
        }
    }
    pieces.push(value.get(start..).unwrap_or_default());
    pieces.into_iter().find_map(|piece| {
        let (key, val) = match piece.split_once('=') {
            Some((k, v)) => (k, Some(v.trim())),
            None => (piece, None),
        };
        let key = key.split_whitespace().last()?;
        if !key.eq_ignore_ascii_case(param) {
            return None;
        }
        let val = val.unwrap_or_default();
        let unquoted = val
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(val);
        Some(unquoted.to_owned())
    })
}

/// The text of a field (strings as they are, numbers in decimal), for comparisons.
pub fn field_text(e: &Event, field: &str) -> Option<String> {
    lookup(e, field).as_ref().and_then(text_of)
}

fn header_values(e: &Event, name: &str) -> Vec<String> {
    // SIP names have compact forms (`v` is `Via`); the SIP crate's table expands them.
    let canonical = |n: &str| match e.proto {
        Proto::Sip => pc_sip::message::canonical_name(n.trim()).to_ascii_lowercase(),
        _ => n.trim().to_ascii_lowercase(),
    };
    let wanted = canonical(name);
    let Some(Value::Array(list)) = e.fields.get("headers") else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|pair| {
            let pair = pair.as_array()?;
            let n = pair.first()?.as_str()?;
            let v = pair.get(1)?.as_str()?;
            (canonical(n) == wanted).then(|| v.to_string())
        })
        .collect()
}

/// `field = "x"` style description for reports.
pub fn describe(m: &FieldMatch, vars: &Vars) -> String {
    format!("{} {}", m.field, wanted(&m.cond, vars))
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

fn wanted(c: &Cond, vars: &Vars) -> String {
    match c {
        Cond::Equals(t) => format!("= {:?}", expand(t, vars)),
        Cond::Integer(i) => format!("= {i}"),
        Cond::Bool(b) => format!("= {b}"),
        Cond::Contains(x) => format!("containing {:?}", expand(x, vars)),
        Cond::Regex(r) => format!("matching /{}/", r.as_str()),
        Cond::Range(lo, hi) => format!("in [{lo}, {hi}]"),
        Cond::Present(true) => "present".into(),
        Cond::Present(false) => "absent".into(),
    }
}

/// The text form of a JSON scalar (strings without quotes).
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn holds(v: Option<&Value>, c: &Cond, vars: &Vars) -> bool {
    match c {
        Cond::Present(p) => v.is_some_and(|v| !v.is_null()) == *p,
        Cond::Equals(t) => v.and_then(text_of).is_some_and(|s| s == expand(t, vars)),
        Cond::Integer(i) => {
            v.is_some_and(|v| v.as_i64() == Some(*i) || text_of(v) == Some(i.to_string()))
        }
        Cond::Bool(b) => v.and_then(Value::as_bool) == Some(*b),
        Cond::Contains(x) => {
            let needle = expand(x, vars);
            match v {
                Some(Value::String(s)) => s.contains(&needle),
                // A list holds the needle as an element, or as the `code` of an element:
                // typed findings are objects named by their `code`.
                Some(Value::Array(items)) => items.iter().any(|i| {
                    text_of(i)
                        .or_else(|| i.get("code").and_then(text_of))
                        .is_some_and(|t| t == needle)
                }),
                _ => false,
            }
        }
        Cond::Regex(re) => v.and_then(text_of).is_some_and(|s| re.0.is_match(&s)),
        Cond::Range(lo, hi) => v
            .and_then(Value::as_f64)
            .is_some_and(|n| n >= *lo && n <= *hi),
    }
}

#[cfg(test)]
mod tests {
    use super::header_param;

    #[test]
    fn header_parameters_are_found_by_name_outside_quotes_and_brackets() {
        let challenge =
            r#"Digest realm="lab.test", nonce="a,stale=true;b", algorithm=MD5, stale=TRUE"#;
        assert_eq!(
            header_param(challenge, "realm").as_deref(),
            Some("lab.test")
        );
        assert_eq!(header_param(challenge, "STALE").as_deref(), Some("TRUE"));
        assert_eq!(
            header_param(challenge, "nonce").as_deref(),
            Some("a,stale=true;b")
        );
        assert_eq!(header_param(challenge, "opaque"), None);
        let fresh = r#"Digest realm="lab.test", nonce="stale=true""#;
        assert_eq!(header_param(fresh, "stale"), None);
        let contact = "<sip:2001@10.0.0.5:5060;transport=tcp>;expires=60;+sip.instance=\"<urn:x>\"";
        assert_eq!(header_param(contact, "expires").as_deref(), Some("60"));
        assert_eq!(header_param(contact, "transport"), None);
        let via = "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport";
        assert_eq!(header_param(via, "rport").as_deref(), Some(""));
        assert_eq!(header_param(via, "received"), None);
    }
}
