//! The timeline: every protocol event of one scenario run, in the order it happened.
//!
//! Owns: the [`Event`] record (which server saw it, when, what kind, its fields, the capture
//! frames that carried it) and the conversion from each protocol crate's typed events into
//! that uniform record.
//!
//! Never: decides anything about conformance (that is `judge`), touches the network.
//!
//! The fields of an event are the protocol crate's own serde representation, so a scenario
//! check addresses them by the same names the crate documents (`msg_type`, `path`,
//! `user_agent`, `auth.result`, …). A timeline is saved with every run
//! (`reports/<run-id>/timelines/<scenario>.json`) so the judge can be run again later.
//!
//! Time: every event is stamped on the scenario's clock (seconds from its origin). A server
//! stamps what it saw when its task got to it; once the capture is linked, an event that
//! crossed the wire is re-stamped with its frame's capture time (`evidence`), keeping the
//! server's stamp in `server_at`. [`TimeBase`] says which of the two `t` is.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Which protocol (and so which server) an event belongs to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// The DHCP server.
    Dhcp,
    /// The HTTP file server.
    Http,
    /// The SIP registrar.
    Sip,
    /// The device under test as the harness sees it (started, exited).
    Dut,
}

impl Proto {
    /// The name used in scenario files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Dhcp => "dhcp",
            Proto::Http => "http",
            Proto::Sip => "sip",
            Proto::Dut => "dut",
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an event's time comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeBase {
    /// The server's own stamp: when its task got to the event (monotonic clock). Late by
    /// however long the task waited for a core.
    #[default]
    Server,
    /// The capture's timestamp of the frame that carried the event across the wire.
    Capture,
}

impl TimeBase {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeBase::Server => "server",
            TimeBase::Capture => "capture",
        }
    }

    fn is_server(&self) -> bool {
        *self == TimeBase::Server
    }
}

/// One thing that happened on the lab network, as a server saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the timeline (0-based); checks and reports refer to events by it.
    pub index: usize,
    /// Seconds since the scenario started, on the clock `time_base` names.
    pub t: f64,
    /// Which clock `t` was read from; a saved timeline without it is the server's.
    #[serde(default, skip_serializing_if = "TimeBase::is_server")]
    pub time_base: TimeBase,
    /// The server's own stamp, kept when `t` was replaced by the capture's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_at: Option<f64>,
    /// Protocol / server.
    pub proto: Proto,
    /// Event kind within the protocol (`received`, `sent`, `request`, `response`, …).
    pub kind: String,
    /// The event's fields, as the protocol crate names them.
    pub fields: Map<String, Value>,
    /// Capture frame numbers (1-based) that carried it, when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<u64>,
}

impl Event {
    /// Looks up a field by a dotted path (`auth.result`). Array elements can be addressed by
    /// index (`options.0.code`).
    pub fn field(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let first = parts.next()?;
        let mut cur = self.fields.get(first)?;
        for p in parts {
            cur = match cur {
                Value::Object(m) => m.get(p)?,
                Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// A one-line human summary used in reports and failure messages.
    pub fn summary(&self) -> String {
        let s = |k: &str| self.field(k).and_then(Value::as_str).unwrap_or("");
        let n = |k: &str| self.field(k).map(|v| v.to_string()).unwrap_or_default();
        match (self.proto, self.kind.as_str()) {
            (Proto::Dhcp, "received") => format!("DHCP{} from {}", s("msg_type"), s("client_mac")),
            (Proto::Dhcp, "sent") => format!(
                "DHCP{} {} to {}",
                s("msg_type"),
                s("yiaddr"),
                s("client_mac")
            ),
            (Proto::Http, "request") => {
                format!("{} {} from {}", s("method"), s("path"), s("client"))
            }
            (Proto::Http, "response") => format!(
                "{} {} ({} bytes) for {}",
                n("status"),
                s("path"),
                n("body_bytes_sent"),
                s("client")
            ),
            (Proto::Http, "fault") => format!(
                "fault {} on {} after {} body bytes, {} in all, for {}",
                s("fault"),
                s("path"),
                n("body_bytes_sent"),
                n("bytes_sent"),
                s("client")
            ),
            (Proto::Sip, "request") => {
                format!("{} {} from {}", s("method"), s("request_uri"), s("from"))
            }
            (Proto::Sip, "response") => format!(
                "{} {} to {} ({})",
                n("status"),
                s("reason"),
                s("to"),
                s("method")
            ),
            (Proto::Dhcp, "dropped") => format!(
                "DHCP{} #{} from {} dropped by the scenario",
                s("msg_type"),
                n("nth"),
                s("client_mac")
            ),
            (Proto::Sip, "silence") => format!(
                "{} from {} left unanswered by the scenario",
                s("method"),
                s("from")
            ),
            (proto, kind) => format!("{proto} {kind}"),
        }
    }
}

/// Turns a protocol crate's event into the timeline's uniform shape. The crate's serde
/// representation is internally tagged with `kind`.
pub fn fields_of<E: Serialize>(event: &E) -> (String, Map<String, Value>) {
    match serde_json::to_value(event) {
        Ok(Value::Object(mut m)) => {
            let kind = match m.remove("kind") {
                Some(Value::String(k)) => k,
                _ => "unknown".to_string(),
            };
            (kind, m)
        }
        Ok(other) => {
            let mut m = Map::new();
            m.insert("value".into(), other);
            ("unknown".into(), m)
        }
        Err(e) => {
            let mut m = Map::new();
            m.insert("error".into(), Value::String(e.to_string()));
            ("unserialisable".into(), m)
        }
    }
}

/// All events of one scenario run, ordered by time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The events, `events[i].index == i`.
    pub events: Vec<Event>,
}

impl Timeline {
    /// Appends an event stamped `at`, measured from `origin`.
    pub fn push<E: Serialize>(&mut self, origin: Instant, at: Instant, proto: Proto, event: &E) {
        let (kind, fields) = fields_of(event);
        self.push_fields(
            at.saturating_duration_since(origin).as_secs_f64(),
            proto,
            kind,
            fields,
        );
    }

    /// Appends an already-shaped event at `t` seconds and returns its index. Events arriving
    /// out of order (two servers racing) are inserted at their place so the timeline stays
    /// ordered by time.
    pub fn push_fields(
        &mut self,
        t: f64,
        proto: Proto,
        kind: String,
        fields: Map<String, Value>,
    ) -> usize {
        let pos = self.events.partition_point(|e| e.t <= t);
        self.events.insert(
            pos,
            Event {
                index: pos,
                t,
                time_base: TimeBase::Server,
                server_at: None,
                proto,
                kind,
                fields,
                frames: Vec::new(),
            },
        );
        for (i, e) in self.events.iter_mut().enumerate().skip(pos) {
            e.index = i;
        }
        pos
    }

    /// Puts the events back in time order after some were re-stamped, keeping the order
    /// of events with the same time (a `dropped` after the `received` it shares a frame
    /// with), and renumbers them.
    pub fn sort_by_time(&mut self) {
        self.events.sort_by(|a, b| a.t.total_cmp(&b.t));
        for (i, e) in self.events.iter_mut().enumerate() {
            e.index = i;
        }
    }

    /// Once the capture is linked: the event the server stamped at the scenario's very start
    /// (`server_at` 0, the event the clock was started at) was on the wire a little earlier;
    /// every time, server stamps included, moves so that the scenario starts at its frame.
    /// Nothing changes when that event has no capture time.
    pub fn start_at_capture_of_origin_event(&mut self) {
        let Some(d) = self
            .events
            .iter()
            .find(|e| e.time_base == TimeBase::Capture && e.server_at == Some(0.0))
            .map(|e| e.t)
        else {
            return;
        };
        for e in &mut self.events {
            e.t -= d;
            if let Some(s) = e.server_at.as_mut() {
                *s -= d;
            }
        }
    }

    /// Moves the scenario's start to `t0` (seconds on the current clock): the events before
    /// it leave the timeline and are returned (they happened before the scenario began —
    /// a real phone's last words before its reboot), the others are re-stamped from `t0`
    /// (their server stamps too).
    pub fn start_at(&mut self, t0: f64) -> Vec<Event> {
        let split = self.events.partition_point(|e| e.t < t0);
        let before: Vec<Event> = self.events.drain(..split).collect();
        for (i, e) in self.events.iter_mut().enumerate() {
            e.index = i;
            e.t -= t0;
            if let Some(s) = e.server_at.as_mut() {
                *s -= t0;
            }
        }
        before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_later_start_drops_what_came_before_and_restamps_the_rest() {
        let mut tl = Timeline::default();
        for (t, kind) in [(0.5, "a"), (2.0, "b"), (3.5, "c")] {
            tl.push_fields(t, Proto::Dhcp, kind.into(), Map::new());
        }
        let before = tl.start_at(2.0);
        assert_eq!(before.len(), 1);
        assert_eq!(before[0].kind, "a");
        let seen: Vec<(usize, f64, &str)> = tl
            .events
            .iter()
            .map(|e| (e.index, e.t, e.kind.as_str()))
            .collect();
        assert_eq!(seen, vec![(0, 0.0, "b"), (1, 1.5, "c")]);
    }

    #[derive(Serialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Sample {
        Request { path: String, auth: Option<Inner> },
    }
    #[derive(Serialize)]
    struct Inner {
        result: String,
    }

    #[test]
    fn tagged_events_become_kind_and_fields() {
        let (kind, fields) = fields_of(&Sample::Request {
            path: "/fw/x".into(),
            auth: Some(Inner {
                result: "ok".into(),
            }),
        });
        assert_eq!(kind, "request");
        assert_eq!(fields.get("path"), Some(&json!("/fw/x")));
        assert!(!fields.contains_key("kind"));
    }

    #[test]
    fn dotted_paths_reach_nested_fields_and_array_items() {
        let mut tl = Timeline::default();
        let mut f = Map::new();
        f.insert("auth".into(), json!({"result": "ok"}));
        f.insert("list".into(), json!([1, 3, 242]));
        tl.push_fields(0.5, Proto::Sip, "request".into(), f);
        let e = &tl.events[0];
        assert_eq!(e.field("auth.result"), Some(&json!("ok")));
        assert_eq!(e.field("list.2"), Some(&json!(242)));
        assert_eq!(e.field("list.9"), None);
        assert_eq!(e.field("auth.missing"), None);
    }

    #[test]
    fn a_scenario_begun_at_an_event_begins_at_its_frame_once_linked() {
        let mut tl = Timeline::default();
        for (t, kind) in [(0.0, "discover"), (0.5, "offer"), (0.9, "power_off")] {
            tl.push_fields(t, Proto::Dhcp, kind.into(), Map::new());
        }
        for (i, wire) in [(0, -0.0003), (1, 0.4996)] {
            let e = &mut tl.events[i];
            e.server_at = Some(e.t);
            e.t = wire;
            e.time_base = TimeBase::Capture;
        }
        tl.start_at_capture_of_origin_event();
        let seen: Vec<(f64, Option<f64>)> = tl
            .events
            .iter()
            .map(|e| {
                let r = |t: f64| (t * 1e6).round() / 1e6;
                (r(e.t), e.server_at.map(r))
            })
            .collect();
        assert_eq!(
            seen,
            vec![(0.0, Some(0.0003)), (0.4999, Some(0.5003)), (0.9003, None)]
        );
    }

    #[test]
    fn sorting_by_time_keeps_ties_in_their_order_and_renumbers() {
        let mut tl = Timeline::default();
        for (t, kind) in [(1.0, "a"), (2.0, "b"), (3.0, "c")] {
            tl.push_fields(t, Proto::Sip, kind.into(), Map::new());
        }
        tl.events[2].t = 0.5;
        tl.events[1].t = 1.0;
        tl.sort_by_time();
        let seen: Vec<(usize, &str)> = tl
            .events
            .iter()
            .map(|e| (e.index, e.kind.as_str()))
            .collect();
        assert_eq!(seen, vec![(0, "c"), (1, "a"), (2, "b")]);
    }

    #[test]
    fn a_saved_event_without_a_time_base_is_the_servers_and_a_server_one_says_nothing() {
        let e: Event = serde_json::from_value(
            json!({"index": 0, "t": 1.5, "proto": "sip", "kind": "request", "fields": {}}),
        )
        .expect("old event");
        assert_eq!(e.time_base, TimeBase::Server);
        assert_eq!(e.server_at, None);
        let v = serde_json::to_value(&e).expect("json");
        assert!(
            v.get("time_base").is_none() && v.get("server_at").is_none(),
            "{v}"
        );
        let mut wired = e;
        wired.time_base = TimeBase::Capture;
        wired.server_at = Some(1.5007);
        let v = serde_json::to_value(&wired).expect("json");
        assert_eq!(v.get("time_base"), Some(&json!("capture")));
        assert_eq!(v.get("server_at"), Some(&json!(1.5007)));
    }

    #[test]
    fn late_events_are_inserted_in_time_order_and_reindexed() {
        let mut tl = Timeline::default();
        tl.push_fields(1.0, Proto::Dhcp, "a".into(), Map::new());
        tl.push_fields(3.0, Proto::Dhcp, "c".into(), Map::new());
        tl.push_fields(2.0, Proto::Http, "b".into(), Map::new());
        let kinds: Vec<_> = tl
            .events
            .iter()
            .map(|e| (e.index, e.kind.as_str()))
            .collect();
        assert_eq!(kinds, vec![(0, "a"), (1, "b"), (2, "c")]);
    }
}
