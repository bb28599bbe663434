//! The HTML report (`reports/<run-id>/index.html`): the run as a person reads it.
//!
//! Owns: the view of a [`RunReport`] and its saved timelines that the page shows — run
//! summary, the device, a table per family, and per scenario every check (requirement,
//! expected vs observed, violation, frames) and a message ladder (after TAHI's ladder
//! diagrams) with each check's mark on the messages its verdict rests on — and the layout of
//! that ladder as inline SVG.
//!
//! Never: judges or changes a verdict (it shows `report.json`'s), reaches the network or
//! refers to anything outside the file: the page has its style inline, no script, and a
//! Content-Security-Policy that forbids loading anything, so it opens the same on a laptop
//! without network as on the bench.
//!
//! Generic over events: lanes come from the protocols (and controllers, VLANs) the timeline
//! holds; an event kind's direction is read from its name (`received`, `request`,
//! `malformed` go to the server; `sent`, `response` to the phone; any other kind is a note
//! on its server's lane, and `dut` events on the phone's), so a new protocol or kind shows up
//! without a change here.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::{RunReport, ScenarioReport, level_name, violation_name};
use crate::judge::CheckResult;
use crate::timeline::{Event, Proto, Timeline};

/// The page template (minijinja, HTML auto-escaping by its `.html` name).
const INDEX: &str = include_str!("templates/index.html");
/// Style and page frame shared by every HTML file of a run.
const BASE: &str = include_str!("templates/base.html");

/// Left margin of the ladder: the time column.
const TIME_COL: f64 = 96.0;
/// Space between two lanes.
const LANE_GAP: f64 = 250.0;
/// Height of one message row.
const ROW_H: f64 = 30.0;
/// Height of the lane headers.
const HEAD_H: f64 = 44.0;
/// Width of the marks column right of the last lane.
const MARKS_W: f64 = 300.0;
/// Average width of one character of the labels, to shorten labels that would run past
/// the next lane.
const CHAR_W: f64 = 6.4;

/// A template environment holding every report template.
pub(crate) fn environment() -> Result<minijinja::Environment<'static>, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    env.add_template("base.html", BASE)?;
    env.add_template("index.html", INDEX)?;
    env.add_template("compliance.html", super::compliance::TEMPLATE)?;
    env.add_template("diff.html", super::diff::TEMPLATE)?;
    Ok(env)
}

/// Renders `index.html` for `report`, reading each scenario's saved timeline from
/// `run_dir` (a timeline that cannot be read leaves that scenario without a ladder, and the
/// page says why).
pub fn render_index(run_dir: &Path, report: &RunReport) -> Result<String, minijinja::Error> {
    let mut families: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut scenarios = Vec::new();
    let mut timelines = Vec::new();
    for s in &report.scenarios {
        families
            .entry(s.family.clone())
            .or_default()
            .push(Row::of(s));
        let (ladder, ladder_note) = match s.timeline.as_deref() {
            None => (
                None,
                Some("no timeline was saved for this scenario".to_string()),
            ),
            Some(stored) => match read_timeline(run_dir, stored) {
                Ok(tl) => {
                    let ladder = Ladder::of(&tl, &s.checks, s.time_scale);
                    timelines.push(tl);
                    (Some(ladder), None)
                }
                Err(e) => (None, Some(e)),
            },
        };
        scenarios.push(ScenarioView {
            id: s.id.clone(),
            title: s.title.clone(),
            family: s.family.clone(),
            file: s.file.clone(),
            verdict: s.verdict.as_str(),
            error: s.error.clone(),
            dut_log_tail: s.dut_log_tail.clone(),
            ignored_clients: s.ignored_clients.clone(),
            requirements: s.requirements.clone(),
            duration: super::lab_duration(s),
            time_scale: s.time_scale,
            capture: s.capture.clone(),
            capture_frames: s.capture_frames,
            checks: s.checks.iter().map(CheckView::of).collect(),
            ladder,
            ladder_note,
        });
    }
    let page = IndexPage {
        title: format!("phonecert run {}", report.run_id),
        report,
        dut: report.dut.describe(),
        // Every phone the run saw, as compliance.json names them: a merged run or `serve`
        // answers more than one, and `report.dut.mac` holds only what the run was told.
        macs: super::compliance::wire_identity(&timelines).macs,
        families: families
            .into_iter()
            .map(|(name, rows)| Family { name, rows })
            .collect(),
        scenarios,
        clients: report.clients.as_ref().map(|c| ClientsView {
            of: c,
            judged: c.clients.iter().filter(|s| s.judged).count(),
            shown: c.clients.get(..CLIENTS_SHOWN).unwrap_or(&c.clients),
            more: c.clients.len().saturating_sub(CLIENTS_SHOWN),
        }),
    };
    environment()?
        .get_template("index.html")?
        .render(minijinja::value::Serde(&page))
}

/// A saved timeline's events, through the path `report.json` stores.
pub(crate) fn read_timeline(run_dir: &Path, stored: &str) -> Result<Timeline, String> {
    #[derive(serde::Deserialize)]
    struct Saved {
        timeline: Timeline,
    }
    let path = crate::run_folder::resolve(run_dir, stored)?;
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice::<Saved>(&bytes)
        .map(|s| s.timeline)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[derive(Serialize)]
struct IndexPage<'a> {
    title: String,
    report: &'a RunReport,
    dut: String,
    /// The MAC addresses seen as DHCP clients over every scenario, in run order.
    macs: Vec<String>,
    families: Vec<Family>,
    scenarios: Vec<ScenarioView>,
    clients: Option<ClientsView<'a>>,
}

/// How many client summaries of a `phonecert serve` session the page lists; `report.json`
/// has all of them.
const CLIENTS_SHOWN: usize = 1_000;

/// A `phonecert serve` session's clients, as the page shows them.
#[derive(Serialize)]
struct ClientsView<'a> {
    of: &'a crate::session::SessionClients,
    judged: usize,
    shown: &'a [crate::session::ClientSummary],
    more: usize,
}

#[derive(Serialize)]
struct Family {
    name: String,
    rows: Vec<Row>,
}

/// One scenario's line in its family's table: its checks counted by verdict as
/// `report.json`'s summary counts them (a check never exercised is neither a pass nor a
/// failure).
#[derive(Serialize)]
struct Row {
    id: String,
    title: String,
    verdict: &'static str,
    checks: super::CheckCounts,
    duration: String,
}

impl Row {
    fn of(s: &ScenarioReport) -> Row {
        Row {
            id: s.id.clone(),
            title: s.title.clone(),
            verdict: s.verdict.as_str(),
            checks: super::Summary::of_scenarios(std::slice::from_ref(s)).checks,
            duration: super::lab_duration(s),
        }
    }
}

#[derive(Serialize)]
struct ScenarioView {
    id: String,
    title: String,
    family: String,
    file: String,
    verdict: &'static str,
    error: Option<String>,
    dut_log_tail: Option<String>,
    ignored_clients: Vec<super::IgnoredClient>,
    requirements: Vec<String>,
    duration: String,
    time_scale: f64,
    capture: Option<String>,
    capture_frames: Option<u64>,
    checks: Vec<CheckView>,
    ladder: Option<Ladder>,
    ladder_note: Option<String>,
}

/// A check as the page shows it.
#[derive(Serialize)]
pub(crate) struct CheckView {
    pub id: String,
    pub title: String,
    pub requirement: String,
    pub level: &'static str,
    pub verdict: &'static str,
    pub expected: String,
    pub observed: String,
    pub violation: Option<String>,
    pub frames: String,
    pub events: String,
    pub location: String,
    /// `capture`, `server` or `mixed`: the clock its event times came from.
    pub time_base: Option<&'static str>,
}

impl CheckView {
    pub(crate) fn of(c: &CheckResult) -> CheckView {
        let join = |v: Vec<String>| v.join(", ");
        CheckView {
            id: c.id.clone(),
            title: c.title.clone(),
            requirement: c.requirement.clone(),
            level: level_name(c.level),
            verdict: c.verdict.as_str(),
            expected: c.expected.clone(),
            observed: c.observed.clone(),
            violation: c.violation.as_ref().map(violation_name),
            frames: join(c.frames.iter().map(u64::to_string).collect()),
            events: join(c.events.iter().map(|e| format!("#{e}")).collect()),
            location: c.location.clone(),
            time_base: c.time_base.map(|b| b.as_str()),
        }
    }
}

/// Which way a message went on the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Dir {
    /// From the phone to a server.
    ToServer,
    /// From a server to the phone.
    ToPhone,
    /// Something a server noted (dropped, left unanswered, a fault it played).
    AtServer,
    /// Something about the device itself (it exited).
    AtPhone,
}

fn direction(e: &Event) -> Dir {
    if e.proto == Proto::Dut {
        return Dir::AtPhone;
    }
    match e.kind.as_str() {
        "received" | "request" | "malformed" => Dir::ToServer,
        "sent" | "response" => Dir::ToPhone,
        _ => Dir::AtServer,
    }
}

/// The lane an event belongs to: its protocol's server, told apart by the controller or
/// VLAN the engine tagged it with.
fn lane_of(e: &Event) -> (Proto, String) {
    if e.proto == Proto::Dut {
        return (Proto::Dut, "phone".into());
    }
    let name = match e.proto {
        Proto::Dhcp => "DHCP server".to_string(),
        Proto::Http => "HTTP server".to_string(),
        Proto::Sip => "SIP registrar".to_string(),
        other => format!("{} server", other.as_str().to_uppercase()),
    };
    if let Some(n) = e.field("controller").and_then(|v| v.as_u64()) {
        return (e.proto, format!("{name} {n}"));
    }
    if let Some(v) = e.field("vlan").and_then(|v| v.as_u64()) {
        return (e.proto, format!("{name} (VLAN {v})"));
    }
    (e.proto, name)
}

/// The ladder of one scenario, laid out.
#[derive(Serialize)]
struct Ladder {
    width: f64,
    height: f64,
    lanes: Vec<Lane>,
    rows: Vec<LadderRow>,
    /// The x where the marks column starts.
    marks_x: f64,
    /// Whether times are phone time different from lab time.
    scaled: bool,
}

#[derive(Serialize)]
struct Lane {
    x: f64,
    label: String,
}

#[derive(Serialize)]
struct LadderRow {
    index: usize,
    y: f64,
    /// `+1.234 s` in phone time.
    t: String,
    /// Lab seconds, for the tooltip of a scaled run.
    lab_t: String,
    dir: Dir,
    x1: f64,
    x2: f64,
    /// Where the label starts (left of the arrow's span).
    label_x: f64,
    label: String,
    full: String,
    frames: String,
    marks: Vec<Mark>,
}

#[derive(Serialize)]
struct Mark {
    id: String,
    verdict: &'static str,
    x: f64,
}

impl Ladder {
    fn of(tl: &Timeline, checks: &[CheckResult], time_scale: f64) -> Ladder {
        // Lanes: the phone, then each server in protocol order (and by name within one).
        let mut servers: Vec<(Proto, String)> = tl
            .events
            .iter()
            .filter(|e| e.proto != Proto::Dut)
            .map(lane_of)
            .collect();
        servers.sort();
        servers.dedup();
        let phone_x = TIME_COL + 60.0;
        let mut lanes = vec![Lane {
            x: phone_x,
            label: "phone (DUT)".into(),
        }];
        let mut lane_x: BTreeMap<(Proto, String), f64> = BTreeMap::new();
        for (i, key) in servers.into_iter().enumerate() {
            let x = phone_x + LANE_GAP * (i as f64 + 1.0);
            lanes.push(Lane {
                x,
                label: key.1.clone(),
            });
            lane_x.insert(key, x);
        }
        let last_x = lanes.last().map_or(phone_x, |l| l.x);
        // Far enough right of the last lane for its centred header.
        let marks_x = last_x + 110.0;
        // Each event's marks: the checks whose verdict rests on it.
        let mut marks: BTreeMap<usize, Vec<&CheckResult>> = BTreeMap::new();
        for c in checks {
            for &e in &c.events {
                marks.entry(e).or_default().push(c);
            }
        }
        let scaled = (time_scale - 1.0).abs() > 1e-9;
        let rows: Vec<LadderRow> = tl
            .events
            .iter()
            .enumerate()
            .map(|(n, e)| {
                let y = HEAD_H + ROW_H * (n as f64 + 1.0);
                let dir = direction(e);
                let server_x = lane_x.get(&lane_of(e)).copied().unwrap_or(phone_x);
                let (x1, x2) = match dir {
                    Dir::ToServer => (phone_x, server_x),
                    Dir::ToPhone => (server_x, phone_x),
                    Dir::AtServer => (server_x, server_x),
                    Dir::AtPhone => (phone_x, phone_x),
                };
                let full = e.summary();
                let (label_x, room) = if x1 == x2 {
                    // A note: to the right of its lane, as far as the marks column.
                    (x1 + 10.0, (marks_x - x1 - 14.0).max(LANE_GAP - 20.0))
                } else {
                    (x1.min(x2) + 8.0, (x1 - x2).abs() - 16.0)
                };
                let mut mx = marks_x;
                let row_marks = marks
                    .get(&e.index)
                    .map(|cs| {
                        cs.iter()
                            .map(|c| {
                                let m = Mark {
                                    id: c.id.clone(),
                                    verdict: c.verdict.as_str(),
                                    x: mx,
                                };
                                mx += CHAR_W * (c.id.len() as f64 + 3.0);
                                m
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                LadderRow {
                    index: e.index,
                    y,
                    t: format!("+{:.3} s", e.t * time_scale),
                    lab_t: format!("{:.3} s lab", e.t),
                    dir,
                    x1,
                    x2,
                    label_x,
                    label: shorten(&full, room),
                    full,
                    frames: e
                        .frames
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    marks: row_marks,
                }
            })
            .collect();
        let widest_marks = rows
            .iter()
            .filter_map(|r| r.marks.last().map(|m| m.x - marks_x))
            .fold(0.0, f64::max);
        Ladder {
            width: marks_x + widest_marks + MARKS_W,
            height: HEAD_H + ROW_H * (rows.len() as f64 + 1.5),
            lanes,
            rows,
            marks_x,
            scaled,
        }
    }
}

/// `text` cut to fit `room` pixels, with an ellipsis when cut.
fn shorten(text: &str, room: f64) -> String {
    let max = (room / CHAR_W).floor().max(4.0) as usize;
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::judge::Verdict;
    use serde_json::{Map, json};

    fn ev(tl: &mut Timeline, t: f64, proto: Proto, kind: &str, fields: serde_json::Value) {
        let f: Map<String, serde_json::Value> = match fields {
            serde_json::Value::Object(m) => m,
            _ => Map::new(),
        };
        let i = tl.push_fields(t, proto, kind.into(), f);
        tl.events[i].frames = vec![i as u64 + 1];
    }

    #[test]
    fn the_ladder_has_a_lane_per_server_and_marks_the_messages_checks_used() {
        let mut tl = Timeline::default();
        ev(
            &mut tl,
            0.1,
            Proto::Dhcp,
            "received",
            json!({"msg_type": "DISCOVER", "client_mac": "00:1b:4f:00:00:01"}),
        );
        ev(
            &mut tl,
            0.2,
            Proto::Dhcp,
            "sent",
            json!({"msg_type": "OFFER"}),
        );
        ev(
            &mut tl,
            0.3,
            Proto::Http,
            "request",
            json!({"method": "GET", "path": "/96xxupgrade.txt"}),
        );
        ev(
            &mut tl,
            0.4,
            Proto::Sip,
            "request",
            json!({"method": "REGISTER", "controller": 2}),
        );
        ev(
            &mut tl,
            0.5,
            Proto::Sip,
            "silence",
            json!({"controller": 2}),
        );
        ev(&mut tl, 0.6, Proto::Dut, "exited", json!({}));
        let mut check = crate::report::tests::check("C-1", Verdict::Fail);
        check.events = vec![2];
        let l = Ladder::of(&tl, &[check], 10.0);
        let labels: Vec<_> = l.lanes.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "phone (DUT)",
                "DHCP server",
                "HTTP server",
                "SIP registrar 2"
            ]
        );
        let dirs: Vec<_> = l.rows.iter().map(|r| r.dir).collect();
        assert_eq!(
            dirs,
            [
                Dir::ToServer,
                Dir::ToPhone,
                Dir::ToServer,
                Dir::ToServer,
                Dir::AtServer,
                Dir::AtPhone
            ]
        );
        // The HTTP request goes from the phone's lane to the HTTP server's.
        assert_eq!((l.rows[2].x1, l.rows[2].x2), (l.lanes[0].x, l.lanes[2].x));
        assert_eq!(l.rows[2].marks.len(), 1);
        assert_eq!(l.rows[2].marks[0].verdict, "fail");
        assert!(
            l.rows
                .iter()
                .enumerate()
                .all(|(i, r)| i == 2 || r.marks.is_empty())
        );
        // Phone time: lab 0.3 s at ×10.
        assert_eq!(l.rows[2].t, "+3.000 s");
        assert!(l.scaled);
    }

    #[test]
    fn the_page_names_every_phone_the_run_saw_and_counts_checks_as_report_json_does() {
        // Two scenarios, each a different phone (a merged run, or `serve` answering a bench).
        let dir = std::env::temp_dir().join(format!("pc-html-macs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("timelines")).unwrap();
        let mut r = crate::report::tests::sample();
        let mut second = r.scenarios[0].clone();
        second.id = "S-2".into();
        second.checks = vec![
            crate::report::tests::check("D-1", Verdict::Fail),
            crate::report::tests::check("D-2", Verdict::NotExercised),
        ];
        r.scenarios.push(second);
        for (s, mac) in r
            .scenarios
            .iter_mut()
            .zip(["00:1b:4f:00:00:01", "00:1b:4f:00:00:02"])
        {
            let mut tl = Timeline::default();
            ev(
                &mut tl,
                0.1,
                Proto::Dhcp,
                "received",
                json!({"msg_type": "DISCOVER", "client_mac": mac}),
            );
            let file = format!("timelines/{}.json", s.id);
            std::fs::write(
                dir.join(&file),
                serde_json::to_vec(&json!({ "timeline": tl })).unwrap(),
            )
            .unwrap();
            s.timeline = Some(file);
        }
        r.summary = crate::report::Summary::of_scenarios(&r.scenarios);
        let page = render_index(&dir, &r).unwrap();
        let row = page
            .lines()
            .find(|l| l.contains("<th>MAC address(es)</th>"))
            .unwrap();
        assert!(
            row.contains("<code>00:1b:4f:00:00:01</code><br><code>00:1b:4f:00:00:02</code>"),
            "{row}"
        );
        // S-2's row: 0 passed, 1 failed, 1 not exercised, 0 error, 0 skipped.
        let s2 = page.lines().find(|l| l.contains("href=\"#S-2\"")).unwrap();
        assert!(
            s2.contains("<td>0</td><td>1</td><td>1</td><td>0</td><td>0</td>"),
            "{s2}"
        );
        // The run's check counts: the not-exercised one apart from the failures.
        assert!(page.contains("not exercised</span> 1</span>"), "{page}");
        assert!(page.contains("v-fail\">fail</span> 2</span>"), "{page}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn long_labels_are_shortened_with_an_ellipsis() {
        assert_eq!(shorten("short", 200.0), "short");
        let s = shorten(&"x".repeat(100), 64.0);
        assert_eq!(s.chars().count(), 10);
        assert!(s.ends_with('…'));
    }
}
