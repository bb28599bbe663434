//! Reports: one result model, written as JSON (for tools), JUnit XML (for CI) and a text
//! summary (for the terminal).
//!
//! Owns: the `phonecert.report/1` schema (design.md §4) and every file under
//! `reports/<run-id>/`.
//!
//! Never: judges (it only writes down what the judge said), prints to stdout.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::judge::{CheckResult, Verdict};

/// The schema identifier other tools check before reading a report.
pub const SCHEMA: &str = "phonecert.report/1";

/// The device under test as the report names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DutInfo {
    /// `sim` (the reference phone) or `cmd` (a program given with `--dut-cmd`).
    pub kind: String,
    /// The command of a `cmd` device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
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
    /// Scenarios not run.
    pub skip: u32,
}

impl Summary {
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
    /// The scenario file.
    pub file: String,
    /// pass / fail / error / skip.
    pub verdict: Verdict,
    /// Requirements the scenario covers.
    pub requirements: Vec<String>,
    /// Seconds the scenario ran.
    pub duration_s: f64,
    /// Phone seconds per real second (`--time-scale`); windows were judged in phone time.
    #[serde(default = "one")]
    pub time_scale: f64,
    /// The pcapng evidence, relative to the working directory.
    pub capture: Option<String>,
    /// Frames in the capture.
    pub capture_frames: Option<u64>,
    /// The saved timeline (for `phonecert judge`).
    pub timeline: Option<String>,
    /// The device's own log, when the harness has one (simphone).
    pub dut_log: Option<String>,
    /// Why the harness could not run or judge it.
    pub error: Option<String>,
    /// Check verdicts in file order.
    pub checks: Vec<CheckResult>,
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
    /// Every scenario.
    pub scenarios: Vec<ScenarioReport>,
}

/// Writes `report.json` and `junit.xml` into `dir`.
pub fn write_all(dir: &Path, report: &RunReport) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    write_atomic(&dir.join("report.json"), json.as_bytes())?;
    write_atomic(&dir.join("junit.xml"), junit(report)?.as_bytes())?;
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// JUnit XML: one test suite per scenario, one test case per check (classname = scenario id),
/// so CI systems show each requirement on its own line.
pub fn junit(report: &RunReport) -> std::io::Result<String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut r = Report::new(format!("phonecert {}", report.run_id));
    for s in &report.scenarios {
        let mut suite = TestSuite::new(s.id.clone());
        suite.add_property(("file", s.file.as_str()));
        if let Some(c) = &s.capture {
            suite.add_property(("capture", c.as_str()));
        }
        if let Some(e) = &s.error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(e.clone());
            let mut tc = TestCase::new(format!("{} (harness)", s.id), status);
            tc.set_classname(s.id.clone());
            suite.add_test_case(tc);
        }
        for c in &s.checks {
            let status = match c.verdict {
                Verdict::Pass => TestCaseStatus::success(),
                Verdict::Skip => TestCaseStatus::skipped(),
                Verdict::Fail | Verdict::NotExercised => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(c.line());
                    st.set_type(c.verdict.as_str());
                    st
                }
                Verdict::Error => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                    st.set_message(c.line());
                    st
                }
            };
            let mut tc = TestCase::new(format!("{} {}", c.id, c.title), status);
            tc.set_classname(s.id.clone());
            tc.add_property(("requirement", c.requirement.as_str()));
            suite.add_test_case(tc);
        }
        r.add_test_suite(suite);
    }
    r.to_string().map_err(std::io::Error::other)
}

/// The text summary printed at the end of a run (to stdout by the CLI).
pub fn text_summary(report: &RunReport, report_dir: &Path) -> String {
    let mut out = String::new();
    for s in &report.scenarios {
        out.push_str(&format!(
            "{:<5} {}  {}  ({:.1} s)\n",
            s.verdict.as_str().to_uppercase(),
            s.id,
            s.title,
            s.duration_s
        ));
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
    }
    let m = report.summary;
    out.push_str(&format!(
        "\n{} scenario(s): {} passed, {} failed, {} error, {} skipped in {:.1} s (lab {}, dut {} {})\nreports: {}\n",
        report.scenarios.len(),
        m.pass,
        m.fail,
        m.error,
        m.skip,
        report.duration_s,
        report.lab,
        report.dut.kind,
        report.dut.model,
        report_dir.display()
    ));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::scenario::Level;

    fn sample() -> RunReport {
        let check = |id: &str, verdict| CheckResult {
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
        };
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
                model: "9620".into(),
                mac: "m".into(),
                firmware_start: "f".into(),
                firmware_observed: None,
                faults: vec![],
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
                timeline: None,
                dut_log: None,
                error: None,
                checks: vec![check("C-1", Verdict::Pass), check("C-2", Verdict::Fail)],
            }],
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
        let back: RunReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, sample());
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
