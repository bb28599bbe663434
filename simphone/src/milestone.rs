//! Milestones: one JSON object per notable step of a boot, logged through `tracing` under the
//! target `simphone::milestone` (stderr or `--log FILE`, never stdout).
//!
//! Owns only the format: `{"milestone":"<kind>", ...fields}`. Useful when debugging a run;
//! the harness judges from the wire, never from these lines.

use serde_json::{Map, Value};

/// Log milestone `kind` with `fields` (an object; anything else is wrapped as `detail`).
pub fn emit(kind: &str, fields: Value) {
    tracing::info!(target: "simphone::milestone", "{}", line(kind, fields));
}

/// The JSON text of one milestone.
pub fn line(kind: &str, fields: Value) -> String {
    let mut obj = match fields {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            let mut m = Map::new();
            m.insert("detail".into(), other);
            m
        }
    };
    obj.remove("milestone");
    // `milestone` first so a reader can grep the kind at a fixed place.
    let head = format!("{{\"milestone\":{}", Value::String(kind.into()));
    if obj.is_empty() {
        return format!("{head}}}");
    }
    let rest = Value::Object(obj).to_string();
    format!("{head},{}", &rest[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestone_is_one_json_line_with_its_kind_first() {
        let l = line("leased", serde_json::json!({"address": "10.0.0.50"}));
        assert_eq!(l, r#"{"milestone":"leased","address":"10.0.0.50"}"#);
        assert!(!l.contains('\n'));
        assert_eq!(line("booted", Value::Null), r#"{"milestone":"booted"}"#);
    }
}
