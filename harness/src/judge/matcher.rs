//! Field matchers: does one event's field satisfy a scenario's condition?
//!
//! Values are compared in their JSON form. A string condition against a number compares the
//! number's decimal text, so `status = "401"` and `status = 401` both work.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::scenario::vars::{Vars, expand};
use crate::scenario::{MatchRule, Matcher};
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
pub fn match_event(
    e: &Event,
    matchers: &BTreeMap<String, Matcher>,
    vars: &Vars,
) -> Result<(), Mismatch> {
    for (field, m) in matchers {
        let owned = lookup(e, field);
        let v = owned.as_ref();
        if !holds(v, m, vars) {
            return Err(Mismatch {
                field: field.clone(),
                actual: v.map_or_else(|| "absent".to_string(), short),
                wanted: wanted(m, vars),
            });
        }
    }
    Ok(())
}

/// A field's value: a dotted path into the event, or `header.NAME` for a header of the
/// message the event carries (its `headers` list, which HTTP and SIP events both have),
/// matched case-insensitively, SIP compact forms included (RFC 3261 §7.3.3). Several headers
/// of the same name join with `, ` (RFC 9110 §5.3, RFC 3261 §7.3.1).
pub fn lookup(e: &Event, field: &str) -> Option<Value> {
    let Some(name) = field.strip_prefix("header.") else {
        return e.field(field).cloned();
    };
    let values = header_values(e, name);
    (!values.is_empty()).then(|| Value::String(values.join(", ")))
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
pub fn describe(field: &str, m: &Matcher, vars: &Vars) -> String {
    format!("{field} {}", wanted(m, vars))
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

fn wanted(m: &Matcher, vars: &Vars) -> String {
    match m {
        Matcher::Text(t) => format!("= {:?}", expand(t, vars)),
        Matcher::Integer(i) => format!("= {i}"),
        Matcher::Bool(b) => format!("= {b}"),
        Matcher::Rule(r) => {
            if let Some(x) = &r.equals {
                format!("= {:?}", expand(x, vars))
            } else if let Some(x) = &r.contains {
                format!("containing {}", toml_text(x, vars))
            } else if let Some(x) = &r.regex {
                format!("matching /{x}/")
            } else if let Some([lo, hi]) = r.range {
                format!("in [{lo}, {hi}]")
            } else if let Some(p) = r.present {
                if p { "present".into() } else { "absent".into() }
            } else {
                "(no condition)".into()
            }
        }
    }
}

fn toml_text(v: &toml::Value, vars: &Vars) -> String {
    match v {
        toml::Value::String(s) => format!("{:?}", expand(s, vars)),
        other => other.to_string(),
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

fn holds(v: Option<&Value>, m: &Matcher, vars: &Vars) -> bool {
    match m {
        Matcher::Text(t) => v.and_then(text_of).is_some_and(|s| s == expand(t, vars)),
        Matcher::Integer(i) => {
            v.is_some_and(|v| v.as_i64() == Some(*i) || text_of(v) == Some(i.to_string()))
        }
        Matcher::Bool(b) => v.and_then(Value::as_bool) == Some(*b),
        Matcher::Rule(r) => holds_rule(v, r, vars),
    }
}

fn holds_rule(v: Option<&Value>, r: &MatchRule, vars: &Vars) -> bool {
    if let Some(p) = r.present {
        let there = v.is_some_and(|v| !v.is_null());
        return there == p;
    }
    let Some(v) = v else { return false };
    if let Some(x) = &r.equals {
        return text_of(v).is_some_and(|s| s == expand(x, vars));
    }
    if let Some(x) = &r.contains {
        let needle = match x {
            toml::Value::String(s) => expand(s, vars),
            other => other.to_string(),
        };
        return match v {
            Value::String(s) => s.contains(&needle),
            // A list holds the needle as an element, or as the `code` of an element: typed
            // findings are objects named by their `code`.
            Value::Array(items) => items.iter().any(|i| {
                text_of(i)
                    .or_else(|| i.get("code").and_then(text_of))
                    .is_some_and(|t| t == needle)
            }),
            _ => false,
        };
    }
    if let Some(x) = &r.regex {
        return match (regex::Regex::new(x), text_of(v)) {
            (Ok(re), Some(s)) => re.is_match(&s),
            _ => false,
        };
    }
    if let Some([lo, hi]) = r.range {
        return v.as_f64().is_some_and(|n| n >= lo && n <= hi);
    }
    false
}
