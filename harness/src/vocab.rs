//! The event vocabulary: which event kinds each protocol reports and which field paths
//! those events have, so a scenario check can be held to them when it loads.
//!
//! Owns: the derivation of that vocabulary from the code, and the fields the harness itself
//! adds to events ([`SipOrigin`], [`VlanOrigin`], [`CaptureOrigin`]) and the events it reports
//! about the device under test ([`DutEvent`]). The engine adds exactly these types to the
//! timeline, so what it adds and what checks may name cannot part.
//!
//! Never: keeps a second, hand-written list of kinds or fields. Everything comes from the
//! JSON Schema `schemars` derives from the same types serde turns into timeline events
//! (`pc_dhcp::Event`, `pc_http::shell::Event`, `pc_sip::Event` and the types here): the
//! `kind` tag's constants are the event kinds, the properties (through `$ref`s, options,
//! lists and tagged enums) are the field paths. A field added to a protocol crate's event
//! is matchable at once; a field renamed there makes the scenarios that name it fail to load.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::timeline::Proto;

/// Fields the engine adds to every SIP event: which controller heard it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SipOrigin {
    /// 1 for the controller `${sip_port}` names, 2 for `${sip_port_2}` …
    pub controller: usize,
    /// The controller's `ip:port`.
    pub server: String,
}

/// Fields the engine adds to events of a voice-VLAN DHCP server.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VlanOrigin {
    /// The 802.1Q VLAN id of the server that heard it.
    pub vlan: u16,
}

/// Fields of a DHCP message no server heard, read back from the capture (a tagged message on
/// a VLAN without a server).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CaptureOrigin {
    /// The 802.1Q VLAN id it was tagged with.
    pub vlan: u16,
    /// Always `capture`.
    pub heard_by: HeardBy,
}

/// Who heard an event that no server answered.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HeardBy {
    /// Only the capture.
    Capture,
}

/// What the harness reports about the device under test itself (proto `dut`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DutEvent {
    /// The device's process ended before the scenario did.
    Exited {
        /// The exit status as the OS gives it (`exit status: 2`).
        status: String,
    },
    /// The harness started stopping the device (the scenario's end): what the device sends
    /// from then on is outside every check's window.
    Stopping,
    /// The scenario's power cycle switched the device off.
    PowerOff,
    /// … and on again: a new boot begins.
    PowerOn,
}

/// The shape of a field, as far as paths into it are concerned.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// A string, number, boolean or null: no path goes further.
    Scalar,
    /// Named fields.
    Object(BTreeMap<String, Shape>),
    /// Elements addressed by index.
    List(Box<Shape>),
    /// Anything goes below (a free-form map).
    Any,
}

impl Shape {
    fn merge(self, other: Shape) -> Shape {
        match (self, other) {
            (Shape::Object(mut a), Shape::Object(b)) => {
                for (k, v) in b {
                    let merged = match a.remove(&k) {
                        Some(old) => old.merge(v),
                        None => v,
                    };
                    a.insert(k, merged);
                }
                Shape::Object(a)
            }
            (Shape::List(a), Shape::List(b)) => Shape::List(Box::new(a.merge(*b))),
            (Shape::Scalar, Shape::Scalar) => Shape::Scalar,
            _ => Shape::Any,
        }
    }
}

/// Reads a JSON Schema (with its `$defs`) into a [`Shape`].
struct Reader<'a> {
    defs: &'a serde_json::Map<String, Value>,
}

impl Reader<'_> {
    fn shape(&self, s: &Value, depth: usize) -> Shape {
        // Recursive types would go on for ever; no event type nests this deep.
        if depth > 16 {
            return Shape::Any;
        }
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or(r);
            return match self.defs.get(name) {
                Some(def) => self.shape(def, depth + 1),
                None => Shape::Any,
            };
        }
        // An object's own properties and those of its alternatives (a flattened tagged enum
        // puts its fields in `oneOf` beside the struct's `properties`) all count.
        let mut parts: Vec<Shape> = Vec::new();
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            parts.push(Shape::Object(
                props
                    .iter()
                    .map(|(k, v)| (k.clone(), self.shape(v, depth + 1)))
                    .collect(),
            ));
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(alts) = s.get(key).and_then(Value::as_array) {
                let shapes = alts
                    .iter()
                    .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                    .map(|a| self.shape(a, depth + 1));
                parts.extend(shapes.reduce(Shape::merge));
            }
        }
        if let Some(merged) = parts.into_iter().reduce(Shape::merge) {
            return merged;
        }
        if let Some(items) = s.get("items") {
            return Shape::List(Box::new(self.shape(items, depth + 1)));
        }
        if let Some(items) = s.get("prefixItems").and_then(Value::as_array) {
            let each = items
                .iter()
                .map(|i| self.shape(i, depth + 1))
                .reduce(Shape::merge)
                .unwrap_or(Shape::Scalar);
            return Shape::List(Box::new(each));
        }
        let is_object = match s.get("type") {
            Some(Value::String(t)) => t == "object",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
            _ => s.as_object().is_some_and(serde_json::Map::is_empty),
        };
        if is_object || s.as_bool() == Some(true) {
            Shape::Any
        } else {
            Shape::Scalar
        }
    }
}

/// The event kinds (the `kind` tag's constants) and their fields, from an event type.
fn kinds_of<E: JsonSchema>() -> BTreeMap<String, BTreeMap<String, Shape>> {
    let root = schemars::schema_for!(E).to_value();
    let empty = serde_json::Map::new();
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let reader = Reader { defs };
    let mut out = BTreeMap::new();
    for variant in root
        .get("oneOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(kind) = variant
            .pointer("/properties/kind/const")
            .and_then(Value::as_str)
        else {
            continue;
        };
        if let Shape::Object(mut fields) = reader.shape(variant, 0) {
            fields.remove("kind");
            out.insert(kind.to_string(), fields);
        }
    }
    out
}

/// The fields of a type the engine adds to events.
fn fields_of<T: JsonSchema>() -> BTreeMap<String, Shape> {
    let root = schemars::schema_for!(T).to_value();
    let empty = serde_json::Map::new();
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    match (Reader { defs }).shape(&root, 0) {
        Shape::Object(f) => f,
        _ => BTreeMap::new(),
    }
}

/// Adds `extra` to the fields of every kind in `kinds`.
fn with_extra(
    mut kinds: BTreeMap<String, BTreeMap<String, Shape>>,
    extra: &BTreeMap<String, Shape>,
) -> BTreeMap<String, BTreeMap<String, Shape>> {
    for fields in kinds.values_mut() {
        for (k, v) in extra {
            let merged = match fields.remove(k) {
                Some(old) => old.merge(v.clone()),
                None => v.clone(),
            };
            fields.insert(k.clone(), merged);
        }
    }
    kinds
}

/// What every protocol's events can hold.
#[derive(Debug)]
pub struct Vocabulary {
    kinds: BTreeMap<Proto, BTreeMap<String, BTreeMap<String, Shape>>>,
}

/// Why a name is not in the vocabulary, ready to be put into a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// What is wrong.
    pub message: String,
    /// The nearest known name, when one is close.
    pub suggestion: Option<String>,
}

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, "; did you mean `{s}`?")?;
        }
        Ok(())
    }
}

/// The vocabulary of this build, derived once.
pub fn vocabulary() -> &'static Vocabulary {
    static V: LazyLock<Vocabulary> = LazyLock::new(Vocabulary::derive);
    &V
}

impl Vocabulary {
    fn derive() -> Self {
        let dhcp_extra = fields_of::<VlanOrigin>()
            .into_iter()
            .chain(fields_of::<CaptureOrigin>())
            .collect();
        let mut kinds = BTreeMap::new();
        kinds.insert(
            Proto::Dhcp,
            with_extra(kinds_of::<pc_dhcp::Event>(), &dhcp_extra),
        );
        kinds.insert(Proto::Http, kinds_of::<pc_http::shell::Event>());
        kinds.insert(
            Proto::Sip,
            with_extra(kinds_of::<pc_sip::Event>(), &fields_of::<SipOrigin>()),
        );
        kinds.insert(Proto::Dut, kinds_of::<DutEvent>());
        Vocabulary { kinds }
    }

    /// The event kinds of a protocol, sorted.
    pub fn kinds(&self, proto: Proto) -> Vec<&str> {
        self.kinds
            .get(&proto)
            .map(|k| k.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether `proto` reports events of kind `kind`.
    pub fn check_kind(&self, proto: Proto, kind: &str) -> Result<(), Unknown> {
        let kinds = self.kinds(proto);
        if kinds.contains(&kind) {
            return Ok(());
        }
        Err(Unknown {
            message: format!(
                "{proto} has no event `{kind}` (its events: {})",
                kinds.join(", ")
            ),
            suggestion: nearest(kind, kinds.iter().copied()),
        })
    }

    /// Whether a dotted field path (`auth.result`, `options.0.code`, `header.NAME`) can name
    /// something in a `proto` `kind` event. The kind must be known.
    pub fn check_field(&self, proto: Proto, kind: &str, path: &str) -> Result<(), Unknown> {
        let Some(fields) = self.kinds.get(&proto).and_then(|k| k.get(kind)) else {
            return Ok(());
        };
        // `header.NAME` reads the message's `headers` list (the judge's `lookup`): only
        // events that carry one have headers.
        if let Some(name) = path.strip_prefix("header.") {
            if let Some((header, param)) = name.split_once(';')
                && (header.is_empty()
                    || param.is_empty()
                    || !param
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)))
            {
                return Err(Unknown {
                    message: format!(
                        "`{path}`: a header parameter is written `header.NAME;PARAM`, PARAM a token"
                    ),
                    suggestion: None,
                });
            }
            if fields.contains_key("headers") && !name.is_empty() {
                return Ok(());
            }
            return Err(Unknown {
                message: format!("{proto} {kind} events carry no headers to read `{path}` from"),
                suggestion: None,
            });
        }
        let mut shape = Shape::Object(fields.clone());
        let mut walked = String::new();
        for seg in path.split('.') {
            let here = if walked.is_empty() {
                format!("{proto} {kind} events")
            } else {
                format!("`{walked}`")
            };
            shape = match shape {
                Shape::Any => return Ok(()),
                Shape::Object(mut m) => match m.remove(seg) {
                    Some(s) => s,
                    None => {
                        let verb = if walked.is_empty() { "have" } else { "has" };
                        return Err(Unknown {
                            message: format!("{here} {verb} no field `{seg}`"),
                            suggestion: nearest(seg, m.keys().map(String::as_str)),
                        });
                    }
                },
                Shape::List(item) => {
                    if seg.parse::<usize>().is_err() {
                        return Err(Unknown {
                            message: format!(
                                "{here} is a list: name an element by its index (`{walked}.0`), not `{seg}`"
                            ),
                            suggestion: None,
                        });
                    }
                    *item
                }
                Shape::Scalar => {
                    return Err(Unknown {
                        message: format!("{here} is a single value and has no field `{seg}`"),
                        suggestion: None,
                    });
                }
            };
            if !walked.is_empty() {
                walked.push('.');
            }
            walked.push_str(seg);
        }
        Ok(())
    }
}

/// The known name closest to `word` by edit distance, when it is close enough to be a typo:
/// at most 2 edits, and fewer than half the word's length.
pub fn nearest<'a>(word: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    let limit = 2.min(word.chars().count().saturating_sub(1) / 2 + 1);
    known
        .map(|k| (edit_distance(word, k), k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k.to_string())
}

/// Optimal string alignment distance: Levenshtein plus swapping two neighbours, the commonest
/// typing slip (`mehtod`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_event_types() {
        let v = vocabulary();
        assert_eq!(
            v.kinds(Proto::Dhcp),
            ["dropped", "ignored", "malformed", "received", "sent"]
        );
        assert_eq!(
            v.kinds(Proto::Http),
            ["closed", "fault", "request", "response", "tls_handshake"]
        );
        assert_eq!(
            v.kinds(Proto::Sip),
            [
                "closed",
                "malformed",
                "peer_response",
                "request",
                "response",
                "silence",
                "tls_handshake"
            ]
        );
        assert_eq!(
            v.kinds(Proto::Dut),
            ["exited", "power_off", "power_on", "stopping"]
        );
    }

    #[test]
    fn a_misspelt_kind_gets_a_suggestion() {
        let e = vocabulary().check_kind(Proto::Sip, "requst").unwrap_err();
        assert_eq!(
            e.to_string(),
            "sip has no event `requst` (its events: closed, malformed, peer_response, request, response, silence, tls_handshake); did you mean `request`?"
        );
        let e = vocabulary().check_kind(Proto::Http, "banana").unwrap_err();
        assert_eq!(e.suggestion, None);
    }

    #[test]
    fn field_paths_follow_the_event_types() {
        let v = vocabulary();
        for (proto, kind, path) in [
            (Proto::Dhcp, "received", "msg_type"),
            (Proto::Dhcp, "received", "options.0.code"),
            (Proto::Dhcp, "received", "parameter_request_list"),
            (Proto::Dhcp, "received", "vlan"),
            (Proto::Dhcp, "received", "heard_by"),
            (Proto::Dhcp, "received", "relay.giaddr"),
            (Proto::Dhcp, "received", "relay.hops"),
            (Proto::Dhcp, "received", "relay.agent_info.0.name"),
            (Proto::Dhcp, "received", "relay.agent_info.1.value"),
            (Proto::Dhcp, "sent", "lease_time"),
            (Proto::Dhcp, "sent", "rules.0.msg_type"),
            (Proto::Dhcp, "dropped", "rule.count"),
            (Proto::Sip, "request", "auth.result"),
            (Proto::Sip, "request", "auth.username"),
            (Proto::Sip, "request", "auth.missing"),
            (Proto::Sip, "request", "controller"),
            (Proto::Sip, "response", "server"),
            (Proto::Sip, "request", "header.Contact"),
            (Proto::Sip, "request", "header.Contact;expires"),
            (Proto::Sip, "request", "auth.cnonce"),
            (Proto::Sip, "response", "challenges.0.stale"),
            (Proto::Sip, "response", "header.WWW-Authenticate;stale"),
            (Proto::Sip, "closed", "transport"),
            (Proto::Http, "request", "header.User-Agent"),
            (Proto::Http, "request", "headers.0.1"),
            (Proto::Http, "response", "complete"),
            (Proto::Dut, "exited", "status"),
        ] {
            assert_eq!(
                v.check_field(proto, kind, path),
                Ok(()),
                "{proto} {kind} {path}"
            );
        }
    }

    #[test]
    fn a_misspelt_field_gets_a_suggestion() {
        let v = vocabulary();
        assert_eq!(
            v.check_field(Proto::Sip, "request", "mehtod")
                .unwrap_err()
                .to_string(),
            "sip request events have no field `mehtod`; did you mean `method`?"
        );
        assert_eq!(
            v.check_field(Proto::Sip, "request", "auth.reslt")
                .unwrap_err()
                .to_string(),
            "`auth` has no field `reslt`; did you mean `result`?"
        );
        assert_eq!(
            v.check_field(Proto::Dhcp, "received", "relay.giadr")
                .unwrap_err()
                .to_string(),
            "`relay` has no field `giadr`; did you mean `giaddr`?"
        );
        assert_eq!(
            v.check_field(Proto::Dhcp, "received", "msg_type.x")
                .unwrap_err()
                .to_string(),
            "`msg_type` is a single value and has no field `x`"
        );
        assert_eq!(
            v.check_field(Proto::Dhcp, "received", "options.code")
                .unwrap_err()
                .to_string(),
            "`options` is a list: name an element by its index (`options.0`), not `code`"
        );
        assert_eq!(
            v.check_field(Proto::Http, "closed", "header.Server")
                .unwrap_err()
                .to_string(),
            "http closed events carry no headers to read `header.Server` from"
        );
        assert!(
            v.check_field(Proto::Http, "response", "header.Content-Type")
                .is_ok()
        );
        assert_eq!(
            v.check_field(Proto::Sip, "response", "header.WWW-Authenticate;")
                .unwrap_err()
                .to_string(),
            "`header.WWW-Authenticate;`: a header parameter is written `header.NAME;PARAM`, PARAM a token"
        );
        assert_eq!(
            v.check_field(Proto::Sip, "response", "challenges.0.stal")
                .unwrap_err()
                .to_string(),
            "`challenges.0` has no field `stal`; did you mean `stale`?"
        );
        // Fields the engine adds belong to their protocol only.
        assert!(v.check_field(Proto::Http, "request", "controller").is_err());
    }

    #[test]
    fn edit_distance_counts_swaps_as_one() {
        assert_eq!(edit_distance("mehtod", "method"), 1);
        assert_eq!(edit_distance("requst", "request"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(nearest("xyz", ["method", "path"].into_iter()), None);
    }
}
