//! Reports: one result model, written as JSON (for tools), JUnit XML (for CI), HTML (for
//! people: [`html`]) and a text summary (for the terminal).
//!
//! Owns: the `phonecert.report/1` schema (design.md §4) and every file under
//! `reports/<run-id>/`.
//!
//! Never: judges (it only writes down what the judge said), prints to stdout.

pub mod compliance;
pub mod diff;
pub mod html;
pub mod merge;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::judge::{CheckResult, Verdict};

/// The schema identifier other tools check before reading a report.
pub const SCHEMA: &str = "phonecert.report/1";

/// The device under test as the report names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DutInfo {
    /// `sim` (the reference phone), `cmd` (a program given with `--dut-cmd`), `attached`
    /// (whatever is plugged into the iface lab's interface) or `bench` (the phones
    /// `phonecert serve` answered; `mac` lists them, or says `any MAC`).
    pub kind: String,
    /// The command of a `cmd` device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// How an `attached` phone was rebooted between scenarios (`--reboot-cmd '…'`,
    /// `--reboot operator`, `--reboot none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot: Option<String>,
    /// Model (MODEL4) as configured.
    pub model: String,
    /// MAC address.
    pub mac: String,
    /// The application file name running at the start.
    pub firmware_start: String,
    /// The firmware version the phone announced last (SIP User-Agent), if any.
    pub firmware_observed: Option<String>,
    /// Fault switches given to the reference phone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<String>,
    /// The phone profile the run was for (`--profile`).
    #[serde(default)]
    pub profile: String,
}

impl DutInfo {
    /// The device in a few words, as a person would name it: `the reference phone (9620)`,
    /// `--dut-cmd dhclient`. A program is named by its first word, past `exec`, `env` and
    /// `NAME=value` assignments, without its directory.
    pub fn describe(&self) -> String {
        match (self.kind.as_str(), &self.command) {
            ("sim", _) => {
                let mut d = format!("the reference phone ({})", self.model);
                if !self.faults.is_empty() {
                    d.push_str(&format!(" with --sim-fault {}", self.faults.join(",")));
                }
                d
            }
            (_, Some(cmd)) => format!("--dut-cmd {}", program_of(cmd)),
            ("attached", None) => format!("the phone {} on the lab port", self.mac),
            ("merged", None) => format!("the devices of several runs ({})", self.mac),
            ("bench", None) => format!("the phones at the bench ({})", self.mac),
            (kind, None) if self.mac.is_empty() => kind.to_string(),
            (kind, None) => format!("{kind} {}", self.mac),
        }
    }
}

/// The program a shell command runs: `exec env A=1 /usr/sbin/dhclient -d …` → `dhclient`.
fn program_of(cmd: &str) -> String {
    cmd.split_whitespace()
        .find(|w| !matches!(*w, "exec" | "env" | "sudo" | "nohup") && !w.contains('='))
        .map(|w| {
            let w = w.trim_matches(|c| c == '\'' || c == '"');
            w.rsplit('/').next().unwrap_or(w).to_string()
        })
        .unwrap_or_else(|| cmd.to_string())
}

/// Counts of scenario verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Scenarios that passed.
    pub pass: u32,
    /// Scenarios the phone failed.
    pub fail: u32,
    /// Scenarios the harness could not run or judge.
    pub error: u32,
    /// Scenarios not run, or whose every check was skipped.
    pub skip: u32,
    /// Check verdicts over every scenario.
    #[serde(default)]
    pub checks: CheckCounts,
}

/// Counts of check verdicts. `skip` (a check about a protocol the device under test does
/// not take part in) is its own count: neither a pass nor a failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckCounts {
    /// Checks passed.
    pub pass: u32,
    /// Checks failed.
    pub fail: u32,
    /// Checks whose step never came up.
    pub not_exercised: u32,
    /// Checks the harness could not judge.
    pub error: u32,
    /// Checks skipped.
    pub skip: u32,
}

impl Summary {
    /// Counts the scenarios' verdicts and their checks' verdicts.
    pub fn of_scenarios(scenarios: &[ScenarioReport]) -> Self {
        let mut s = Summary::of(scenarios.iter().map(|s| &s.verdict));
        for c in scenarios.iter().flat_map(|s| &s.checks) {
            let n = match c.verdict {
                Verdict::Pass => &mut s.checks.pass,
                Verdict::Fail => &mut s.checks.fail,
                Verdict::NotExercised => &mut s.checks.not_exercised,
                Verdict::Error => &mut s.checks.error,
                Verdict::Skip => &mut s.checks.skip,
            };
            *n += 1;
        }
        s
    }

    /// Counts verdicts.
    pub fn of<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> Self {
        let mut s = Summary::default();
        for v in verdicts {
            match v {
                Verdict::Pass => s.pass += 1,
                Verdict::Fail | Verdict::NotExercised => s.fail += 1,
                Verdict::Error => s.error += 1,
                Verdict::Skip => s.skip += 1,
            }
        }
        s
    }
}

fn one() -> f64 {
    1.0
}

/// One scenario's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// Scenario id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Family.
    pub family: String,
    /// The scenario file where it was when the run started (for people: the run folder
    /// keeps the copy that `phonecert judge` reads, under `scenarios/<id>/`).
    pub file: String,
    /// pass / fail / error / skip.
    pub verdict: Verdict,
    /// Requirements the scenario covers.
    pub requirements: Vec<String>,
    /// Lab (wall-clock) seconds the scenario took, set-up and tear-down included; never
    /// scaled: at `time_scale` 10 the phone lived ten times as long in its own time.
    pub duration_s: f64,
    /// Phone seconds per real second (`--time-scale`); windows were judged in phone time.
    #[serde(default = "one")]
    pub time_scale: f64,
    /// The pcapng evidence, relative to the output root (the folder holding `captures/` and
    /// `reports/`): `captures/<run-id>/<id>.pcapng`.
    pub capture: Option<String>,
    /// Frames in the capture.
    pub capture_frames: Option<u64>,
    /// Captures of the scenario's other links, relative to the output root like `capture`:
    /// in the lab's relayed topology `capture` is the server link (the frames the servers'
    /// events are linked to) and this holds the phone's own link,
    /// `captures/<run-id>/<id>.phone-link.pcapng`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_captures: Vec<String>,
    /// The saved timeline (for `phonecert judge`), relative to the run folder.
    pub timeline: Option<String>,
    /// The device's own log (its standard error included), relative to the run folder.
    pub dut_log: Option<String>,
    /// The last lines of that log, when the device ended on its own or could not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dut_log_tail: Option<String>,
    /// Why the harness could not run or judge it.
    pub error: Option<String>,
    /// Check verdicts in file order.
    pub checks: Vec<CheckResult>,
    /// DHCP clients other than the device under test that the server heard and never
    /// answered (a real segment carries other devices), over the whole scenario, the wait
    /// for the phone's boot included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_clients: Vec<IgnoredClient>,
}

/// A DHCP client the server did not answer because it is not the device under test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredClient {
    /// Its MAC (`chaddr`).
    pub mac: String,
    /// How many of its requests were heard.
    pub requests: u32,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Run id (also the folder name).
    pub run_id: String,
    /// RFC 3339 start time (UTC).
    pub started: String,
    /// Wall time of the whole run in seconds.
    pub duration_s: f64,
    /// The lab: `netns`, `loopback` or `iface:NAME`.
    pub lab: String,
    /// phonecert's version.
    pub phonecert_version: String,
    /// The device under test.
    pub dut: DutInfo,
    /// Scenario verdict counts.
    pub summary: Summary,
    /// Whether the run was stopped by the operator (Ctrl-C or SIGTERM) before its end.
    #[serde(default)]
    pub interrupted: bool,
    /// The scenarios that did not run to their end (interrupted, or never started), in
    /// order; each is also in `scenarios` with verdict `skip` and the reason.
    #[serde(default)]
    pub not_run: Vec<String>,
    /// Every scenario.
    pub scenarios: Vec<ScenarioReport>,
    /// The runs a `phonecert merge` joined into this one, in the order given; empty for a
    /// run of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<MergedRun>,
    /// Evidence files that differed from the run's own record when `phonecert judge --write`
    /// put new verdicts into this report: the verdicts rest on the edited files, and
    /// `phonecert verify` says so (the folder is no longer the run's own evidence).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edited_after_run: Vec<EditedEvidence>,
    /// What the operator must know of how the run was made (`phonecert serve --any-mac`
    /// answered every DHCP client on the segment), shown first wherever the run is shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// `phonecert serve` only: every client heard, summarised, and which of them have a full
    /// timeline and a result in `scenarios` (the bounds applied, said in `note`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<crate::session::SessionClients>,
}

/// An evidence file edited after the run and judged as edited (`judge --write`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditedEvidence {
    /// The file, relative to the run folder.
    pub path: String,
    /// Its SHA-256 (hex) as the run recorded it.
    pub recorded_sha256: String,
    /// Its SHA-256 (hex) when it was judged.
    pub judged_sha256: String,
}

/// A run that `phonecert merge` joined: who it was, and what it said of itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedRun {
    /// Its run id (its files are under `runs/<run_id>/` of the merged run folder).
    pub run_id: String,
    /// When it started.
    pub started: String,
    /// Its lab.
    pub lab: String,
    /// Its device.
    pub dut: DutInfo,
    /// Its own counts.
    pub summary: Summary,
    /// Whether it was interrupted.
    pub interrupted: bool,
    /// SHA-256 of the `compliance.json` it was verified against before merging.
    pub compliance_sha256: String,
    /// Its scenarios, by their ids in the merged report.
    pub scenarios: Vec<String>,
}

impl ScenarioReport {
    /// A scenario that never started, with the reason.
    pub fn not_run(id: &str, title: &str, family: &str, file: &str, why: String) -> Self {
        ScenarioReport {
            id: id.into(),
            title: title.into(),
            family: family.into(),
            file: file.into(),
            verdict: Verdict::Skip,
            requirements: Vec::new(),
            duration_s: 0.0,
            time_scale: 1.0,
            capture: None,
            capture_frames: None,
            link_captures: Vec::new(),
            timeline: None,
            dut_log: None,
            dut_log_tail: None,
            error: Some(why),
            checks: Vec::new(),
            ignored_clients: Vec::new(),
        }
    }
}

/// Writes `report.json`, `junit.xml`, `index.html`, and then `compliance.json` and
/// `compliance.html` into `dir` (the run folder, whose saved timelines the HTML report's
/// ladders and the compliance summary's wire identity are drawn from).
pub fn write_all(dir: &Path, report: &RunReport) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    write_atomic(&dir.join("report.json"), json.as_bytes())?;
    write_atomic(&dir.join("junit.xml"), junit(report)?.as_bytes())?;
    let page = html::render_index(dir, report)
        .map_err(|e| std::io::Error::other(format!("index.html: {e:#}")))?;
    write_atomic(&dir.join("index.html"), page.as_bytes())?;
    // Last: it hashes every file written before it.
    compliance::write(dir, report)?;
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// JUnit XML: one test suite per scenario, one test case per check (classname = scenario id),
/// so CI systems show each requirement on its own line.
///
/// Times (seconds): the whole report's is the run's wall time, a suite's the scenario's lab
/// time, a case's the lab time from the scenario's start to the last event its verdict rests
/// on (a check resting on no event waited for the whole scenario). Each case carries its
/// requirement, level and location as properties; a failure carries the one-line form as
/// its message and expected / observed / violation / frames as its text. A check whose step
/// never came up (`not_exercised`) is a skipped case carrying the same text: it was not
/// judged, and the check it waited on carries the failure.
pub fn junit(report: &RunReport) -> std::io::Result<String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    use std::time::Duration;
    let secs = |s: f64| Duration::try_from_secs_f64(s).unwrap_or_default();
    let mut r = Report::new(format!("phonecert {}", report.run_id));
    r.set_time(secs(report.duration_s));
    for s in &report.scenarios {
        let mut suite = TestSuite::new(s.id.clone());
        suite.set_time(secs(s.duration_s));
        suite.add_property(("title", s.title.as_str()));
        suite.add_property(("family", s.family.as_str()));
        suite.add_property(("file", s.file.as_str()));
        for req in &s.requirements {
            suite.add_property(("requirement", req.as_str()));
        }
        if let Some(c) = &s.capture {
            suite.add_property(("capture", c.as_str()));
        }
        if report.not_run.contains(&s.id) {
            // Not run to its end: one skipped case that says why, and no check results.
            let mut status = TestCaseStatus::skipped();
            status.set_message(s.error.clone().unwrap_or_else(|| "not run".into()));
            let mut tc = TestCase::new(format!("{} (not run)", s.id), status);
            tc.set_classname(s.id.clone());
            tc.set_time(secs(s.duration_s));
            suite.add_test_case(tc);
            r.add_test_suite(suite);
            continue;
        }
        if let Some(e) = &s.error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(e.clone());
            if let Some(tail) = &s.dut_log_tail {
                status.set_description(tail.clone());
            }
            let mut tc = TestCase::new(format!("{} (harness)", s.id), status);
            tc.set_classname(s.id.clone());
            tc.set_time(secs(s.duration_s));
            suite.add_test_case(tc);
        }
        for c in &s.checks {
            let status = match c.verdict {
                Verdict::Pass => TestCaseStatus::success(),
                Verdict::Skip => TestCaseStatus::skipped(),
                // The step it judges never came up: nothing was judged, so the case is
                // skipped, with the reason; the check that went another way is a failure of
                // its own (or, a `should` check, said so), so the suite fails without this
                // case failing twice.
                Verdict::NotExercised => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(c.line());
                    st.set_type(c.verdict.as_str());
                    st.set_description(failure_text(c));
                    st
                }
                Verdict::Fail => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(c.line());
                    st.set_type(c.verdict.as_str());
                    st.set_description(failure_text(c));
                    st
                }
                Verdict::Error => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                    st.set_message(c.line());
                    st.set_description(failure_text(c));
                    st
                }
            };
            let mut tc = TestCase::new(format!("{} {}", c.id, c.title), status);
            tc.set_classname(s.id.clone());
            tc.set_time(secs(c.at_s.unwrap_or(s.duration_s)));
            tc.add_property(("requirement", c.requirement.as_str()));
            tc.add_property(("level", level_name(c.level)));
            if !c.location.is_empty() {
                tc.add_property(("location", c.location.as_str()));
            }
            if let Some(b) = c.time_base {
                tc.add_property(("time_base", b.as_str()));
            }
            suite.add_test_case(tc);
        }
        r.add_test_suite(suite);
    }
    r.to_string().map_err(std::io::Error::other)
}

/// `must` / `should`, as scenario files write it.
pub fn level_name(l: crate::scenario::Level) -> &'static str {
    match l {
        crate::scenario::Level::Must => "must",
        crate::scenario::Level::Should => "should",
    }
}

/// The body of a JUnit failure: everything a reader needs without opening the report.
fn failure_text(c: &CheckResult) -> String {
    let mut t = format!(
        "requirement: {} ({})\nexpected: {}\nobserved: {}\n",
        c.requirement,
        level_name(c.level),
        c.expected,
        c.observed
    );
    if let Some(v) = &c.violation {
        t.push_str(&format!("violation: {}\n", violation_name(v)));
    }
    if !c.frames.is_empty() {
        let f: Vec<String> = c.frames.iter().map(u64::to_string).collect();
        t.push_str(&format!("capture frames: {}\n", f.join(", ")));
    }
    if !c.location.is_empty() {
        t.push_str(&format!("check: {}\n", c.location));
    }
    t
}

/// The name a violation has in report.json (`too_late`, `forbidden` …).
pub fn violation_name(v: &crate::judge::Violation) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| {
            j.get("violation")
                .and_then(|n| n.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// The text summary of a whole run: every scenario's block, then the totals (what
/// `phonecert judge` prints).
pub fn text_summary(report: &RunReport, report_dir: &Path) -> String {
    let mut out = String::new();
    for s in &report.scenarios {
        out.push_str(&scenario_block(s));
    }
    out.push_str(&totals(report, report_dir));
    out
}

/// One scenario's verdict, and each check that did not pass, as printed the moment the
/// scenario ends.
pub fn scenario_block(s: &ScenarioReport) -> String {
    let mut out = format!(
        "{:<5} {}  {}  ({})\n",
        s.verdict.as_str().to_uppercase(),
        s.id,
        s.title,
        lab_duration(s)
    );
    if let Some(e) = &s.error {
        if s.verdict == Verdict::Skip {
            out.push_str(&format!("      {e}\n"));
        } else {
            out.push_str(&format!("      error: {e}\n"));
        }
    }
    for c in s.checks.iter().filter(|c| c.verdict != Verdict::Pass) {
        out.push_str(&format!("      {}\n", c.line()));
    }
    for c in &s.ignored_clients {
        out.push_str(&format!(
            "      not answered: {} request(s) from {}, not the device under test\n",
            c.requests, c.mac
        ));
    }
    out
}

/// The end of a run's output: what did not run, the counts, the device, where the reports
/// are.
pub fn totals(report: &RunReport, report_dir: &Path) -> String {
    let mut out = String::new();
    let m = report.summary;
    for w in &report.warnings {
        out.push_str(&format!("\nWARNING: {w}\n"));
    }
    if report.interrupted {
        out.push_str(&format!(
            "\ninterrupted: {} scenario(s) did not run to their end: {}\n",
            report.not_run.len(),
            report.not_run.join(", ")
        ));
    } else if !report.not_run.is_empty() {
        out.push_str(&format!(
            "\nthe run stopped early: {} scenario(s) did not run: {}\n",
            report.not_run.len(),
            report.not_run.join(", ")
        ));
    }
    let c = m.checks;
    out.push_str(&format!(
        "\n{} scenario(s): {} passed, {} failed, {} error, {} skipped in {:.1} s (lab {}, device: {})\n\
         checks: {} passed, {} failed, {} not exercised, {} error, {} skipped\nreports: {}\n",
        report.scenarios.len(),
        m.pass,
        m.fail,
        m.error,
        m.skip,
        report.duration_s,
        report.lab,
        report.dut.describe(),
        c.pass,
        c.fail,
        c.not_exercised,
        c.error,
        c.skip,
        report_dir.display()
    ));
    out
}

/// `1.4 s` for a scenario run in real time, `1.4 s lab, phone time ×10` for a scaled one:
/// durations are lab seconds, and the terminal says so where the two differ.
fn lab_duration(s: &ScenarioReport) -> String {
    if (s.time_scale - 1.0).abs() < 1e-9 {
        format!("{:.1} s", s.duration_s)
    } else {
        format!("{:.1} s lab, phone time ×{}", s.duration_s, s.time_scale)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::scenario::Level;

    /// A check result for report tests.
    pub(crate) fn check(id: &str, verdict: Verdict) -> CheckResult {
        CheckResult {
            id: id.into(),
            location: "f.toml:12".into(),
            settled: false,
            title: "t".into(),
            requirement: "RFC 2131 §4.3".into(),
            level: Level::Must,
            verdict,
            expected: "e".into(),
            observed: "o".into(),
            violation: None,
            events: vec![1],
            frames: vec![],
            at_s: Some(0.5),
            time_base: None,
        }
    }

    /// A small run with one failing scenario.
    pub(crate) fn sample() -> RunReport {
        RunReport {
            schema: SCHEMA.into(),
            run_id: "r1".into(),
            started: "2026-11-24T00:00:00Z".into(),
            duration_s: 1.0,
            lab: "loopback".into(),
            phonecert_version: "0.1.0".into(),
            dut: DutInfo {
                kind: "sim".into(),
                command: None,
                reboot: None,
                model: "9620".into(),
                mac: "m".into(),
                firmware_start: "f".into(),
                firmware_observed: None,
                faults: vec![],
                profile: "avaya-96x0-sip".into(),
            },
            summary: Summary::of(&[Verdict::Fail]),
            scenarios: vec![ScenarioReport {
                id: "S-1".into(),
                title: "s".into(),
                family: "boot".into(),
                file: "f.toml".into(),
                verdict: Verdict::Fail,
                requirements: vec![],
                duration_s: 1.0,
                time_scale: 1.0,
                capture: Some("captures/r1/S-1.pcapng".into()),
                capture_frames: Some(3),
                link_captures: Vec::new(),
                timeline: None,
                dut_log: None,
                dut_log_tail: None,
                error: None,
                checks: vec![check("C-1", Verdict::Pass), check("C-2", Verdict::Fail)],
                ignored_clients: vec![IgnoredClient {
                    mac: "02:00:00:00:00:09".into(),
                    requests: 2,
                }],
            }],
            interrupted: false,
            not_run: Vec::new(),
            edited_after_run: Vec::new(),
            clients: None,
            warnings: Vec::new(),
            merged_from: Vec::new(),
        }
    }

    #[test]
    fn json_has_the_documented_shape() {
        let v = serde_json::to_value(sample()).unwrap();
        assert_eq!(v["schema"], "phonecert.report/1");
        assert_eq!(v["summary"]["fail"], 1);
        assert_eq!(v["scenarios"][0]["capture"], "captures/r1/S-1.pcapng");
        assert_eq!(v["scenarios"][0]["checks"][1]["verdict"], "fail");
        assert_eq!(
            v["scenarios"][0]["checks"][1]["requirement"],
            "RFC 2131 §4.3"
        );
        assert_eq!(
            v["scenarios"][0]["ignored_clients"][0]["mac"],
            "02:00:00:00:00:09"
        );
        let text = text_summary(&sample(), Path::new("reports/r1"));
        assert!(
            text.contains("not answered: 2 request(s) from 02:00:00:00:00:09"),
            "{text}"
        );
        let page = html::render_index(Path::new("reports/r1"), &sample()).unwrap();
        assert!(
            page.contains("<code>02:00:00:00:00:09</code> (2 requests)"),
            "{page}"
        );
        let back: RunReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn an_interrupted_run_says_so_and_lists_what_did_not_run() {
        let mut r = sample();
        r.interrupted = true;
        r.not_run = vec!["S-2".into()];
        r.scenarios.push(ScenarioReport::not_run(
            "S-2",
            "second",
            "boot",
            "g.toml",
            "not run: the run was interrupted".into(),
        ));
        r.summary = Summary::of(r.scenarios.iter().map(|s| &s.verdict));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["interrupted"], true);
        assert_eq!(v["not_run"], serde_json::json!(["S-2"]));
        assert_eq!(v["summary"]["skip"], 1);
        let x = junit(&r).unwrap();
        assert!(x.contains("S-2 (not run)"), "{x}");
        assert!(x.contains("not run: the run was interrupted"), "{x}");
        assert!(x.contains("skipped=\"1\""), "{x}");
        let text = text_summary(&r, Path::new("reports/r1"));
        assert!(
            text.contains("interrupted: 1 scenario(s) did not run to their end: S-2"),
            "{text}"
        );
        // A report written before these fields existed still reads.
        let mut old = serde_json::to_value(sample()).unwrap();
        let obj = old.as_object_mut().unwrap();
        obj.remove("interrupted");
        obj.remove("not_run");
        let back: RunReport = serde_json::from_value(old).unwrap();
        assert!(!back.interrupted && back.not_run.is_empty());
    }

    #[test]
    fn terminal_durations_say_they_are_lab_seconds_when_the_phone_was_scaled() {
        let mut r = sample();
        r.scenarios[0].duration_s = 1.44;
        r.scenarios[0].time_scale = 1.0;
        let text = text_summary(&r, Path::new("reports/r1"));
        assert!(text.contains("(1.4 s)\n"), "{text}");
        r.scenarios[0].time_scale = 10.0;
        let text = text_summary(&r, Path::new("reports/r1"));
        assert!(text.contains("(1.4 s lab, phone time ×10)\n"), "{text}");
    }

    #[test]
    fn junit_carries_times_requirements_and_the_failure_text() {
        let mut r = sample();
        r.duration_s = 12.5;
        r.scenarios[0].duration_s = 3.25;
        r.scenarios[0].requirements = vec!["RFC 2131 §4.1".into()];
        r.scenarios[0].checks[1].violation = Some(crate::judge::Violation::Missing);
        r.scenarios[0].checks[1].frames = vec![4, 7];
        r.scenarios[0].checks[1].at_s = None;
        let x = junit(&r).unwrap();
        assert!(
            x.contains("errors=\"0\" time=\"12.500\">\n    <testsuite name=\"S-1\""),
            "{x}"
        );
        assert!(x.contains("time=\"3.250\""), "{x}");
        // A passing check resting on an event at 0.5 s; the failing one on none: the whole
        // scenario.
        assert!(
            x.contains("name=\"C-1 t\" classname=\"S-1\" time=\"0.500\""),
            "{x}"
        );
        assert!(
            x.contains("name=\"C-2 t\" classname=\"S-1\" time=\"3.250\""),
            "{x}"
        );
        assert!(
            x.contains("<property name=\"requirement\" value=\"RFC 2131 §4.1\"/>"),
            "{x}"
        );
        assert!(
            x.contains("<property name=\"level\" value=\"must\"/>"),
            "{x}"
        );
        assert!(
            x.contains("<property name=\"location\" value=\"f.toml:12\"/>"),
            "{x}"
        );
        assert!(x.contains("violation: missing"), "{x}");
        assert!(x.contains("capture frames: 4, 7"), "{x}");
        assert!(x.contains("expected: e\nobserved: o"), "{x}");
    }

    #[test]
    fn the_device_is_named_as_a_person_would() {
        let mut d = sample().dut;
        assert_eq!(d.describe(), "the reference phone (9620)");
        d.faults = vec!["accept-corrupt-binary".into()];
        assert_eq!(
            d.describe(),
            "the reference phone (9620) with --sim-fault accept-corrupt-binary"
        );
        d.kind = "cmd".into();
        d.command = Some(
            "exec /usr/sbin/dhclient -d -sf /bin/true -lf \"$PHONECERT_WORK_DIR/leases\"".into(),
        );
        assert_eq!(d.describe(), "--dut-cmd dhclient");
        d.command = Some("env A=1 busybox udhcpc -f".into());
        assert_eq!(d.describe(), "--dut-cmd busybox");
        let attached = DutInfo {
            kind: "attached".into(),
            command: None,
            reboot: Some("--reboot operator".into()),
            mac: "00:1b:4f:27:31:2a".into(),
            ..sample().dut
        };
        assert_eq!(
            attached.describe(),
            "the phone 00:1b:4f:27:31:2a on the lab port"
        );
        let mut r = sample();
        r.dut.kind = "cmd".into();
        r.dut.command = Some("exec dhclient -d".into());
        let text = totals(&r, Path::new("reports/r1"));
        assert!(text.contains("device: --dut-cmd dhclient)"), "{text}");
        assert!(!text.contains("9620"), "{text}");
    }

    #[test]
    fn skipped_checks_are_counted_apart_everywhere() {
        let mut r = sample();
        let mut skipped = r.scenarios[0].checks[0].clone();
        skipped.id = "C-3".into();
        skipped.verdict = Verdict::Skip;
        r.scenarios[0].checks.push(skipped);
        r.summary = Summary::of_scenarios(&r.scenarios);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v["summary"]["checks"],
            serde_json::json!({"pass": 1, "fail": 1, "not_exercised": 0, "error": 0, "skip": 1})
        );
        assert_eq!(v["scenarios"][0]["checks"][2]["verdict"], "skip");
        let x = junit(&r).unwrap();
        assert!(x.contains("skipped=\"1\""), "{x}");
        assert!(x.contains("failures=\"1\""), "{x}");
        let text = text_summary(&r, Path::new("reports/r1"));
        assert!(
            text.contains("checks: 1 passed, 1 failed, 0 not exercised, 0 error, 1 skipped"),
            "{text}"
        );
    }

    #[test]
    fn a_check_never_exercised_is_a_skipped_case_with_its_reason_not_a_failure() {
        let mut r = sample();
        let mut ne = r.scenarios[0].checks[1].clone();
        ne.id = "C-3".into();
        ne.verdict = Verdict::NotExercised;
        ne.observed = "not exercised: `C-2` found no event, so this step never came up".into();
        r.scenarios[0].checks.push(ne);
        r.summary = Summary::of_scenarios(&r.scenarios);
        // report.json counts it apart from failures.
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v["summary"]["checks"],
            serde_json::json!({"pass": 1, "fail": 1, "not_exercised": 1, "error": 0, "skip": 0})
        );
        // JUnit: the failing check stays the one failure; the step that never came up is
        // skipped with the reason as its message.
        let x = junit(&r).unwrap();
        assert!(x.contains("failures=\"1\""), "{x}");
        assert!(x.contains("skipped=\"1\""), "{x}");
        let case = x
            .split("<testcase ")
            .find(|c| c.contains("name=\"C-3 "))
            .unwrap();
        assert!(
            case.contains("<skipped message=\"C-3 not_exercised"),
            "{case}"
        );
        assert!(case.contains("type=\"not_exercised\""), "{case}");
        assert!(!case.contains("<failure"), "{case}");
    }

    #[test]
    fn junit_has_a_case_per_check_and_names_the_failure() {
        let x = junit(&sample()).unwrap();
        assert!(x.contains("tests=\"2\""), "{x}");
        assert!(x.contains("failures=\"1\""), "{x}");
        assert!(
            x.contains("C-2 fail (f.toml:12): expected e; observed o"),
            "{x}"
        );
    }
}
