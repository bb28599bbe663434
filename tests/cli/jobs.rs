//! `phonecert run --jobs N`: scenarios run at the same time, each in its own lab, and every
//! check comes out as in a run of one scenario at a time; the report lists the scenarios in
//! the same order either way. Two families (20 scenarios, long and short ones mixed) so the
//! parallel run really overlaps; in the netns lab when root, else on loopback.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::*;

/// What a run shows: every check's verdict, the scenarios in report order, and the time
/// the scenarios spent running against the run's wall time.
struct Ran {
    /// (scenario id, check id, verdict), in report order.
    verdicts: Vec<(String, String, String)>,
    /// (scenario id, scenario verdict), in report order.
    scenarios: Vec<(String, String)>,
    /// The run's wall time (`duration_s`).
    wall_s: f64,
    /// The scenarios' own durations, summed.
    busy_s: f64,
    /// Each scenario's capture, as report.json names it.
    captures: Vec<String>,
}

fn run(lab: &str, jobs: &str, out: &Path) -> Ran {
    let (output, pid) = phonecert_with_pid(&[
        "run",
        "--family",
        "boot",
        "--family",
        "option242",
        "--lab",
        lab,
        "--jobs",
        jobs,
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "--jobs {jobs}:\n{all}");
    assert!(
        namespaces_of(pid).is_empty(),
        "--jobs {jobs} left namespaces behind: {:?}",
        namespaces_of(pid)
    );
    let run = run_dir(out);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
            .expect("json");
    let mut ran = Ran {
        verdicts: Vec::new(),
        scenarios: Vec::new(),
        wall_s: report["duration_s"].as_f64().expect("duration_s"),
        busy_s: 0.0,
        captures: Vec::new(),
    };
    for s in report["scenarios"].as_array().expect("scenarios") {
        let id = s["id"].as_str().expect("id").to_string();
        ran.scenarios
            .push((id.clone(), s["verdict"].as_str().expect("verdict").into()));
        ran.busy_s += s["duration_s"].as_f64().expect("scenario duration_s");
        if let Some(c) = s["capture"].as_str() {
            ran.captures.push(c.to_string());
        }
        for c in s["checks"].as_array().expect("checks") {
            ran.verdicts.push((
                id.clone(),
                c["id"].as_str().expect("check id").into(),
                c["verdict"].as_str().expect("check verdict").into(),
            ));
        }
    }
    ran
}

#[test]
fn jobs_give_every_check_the_verdict_of_a_serial_run_in_the_same_order() {
    let lab = if is_root() {
        "netns"
    } else {
        eprintln!("note: not root, so --jobs is tested in the loopback lab only");
        "loopback"
    };
    let scratch = Scratch::new("jobs");
    let serial = run(lab, "1", &scratch.0.join("serial"));
    let parallel = run(lab, "2", &scratch.0.join("parallel"));

    assert_eq!(serial.scenarios.len(), 21, "{:?}", serial.scenarios);
    let ids: Vec<&String> = serial.scenarios.iter().map(|(id, _)| id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "a run lists its scenarios in id order");
    // Same scenarios, same order, same verdicts: scenario by scenario and check by check.
    assert_eq!(parallel.scenarios, serial.scenarios);
    for (s, p) in serial.verdicts.iter().zip(&parallel.verdicts) {
        assert_eq!(s, p, "a check judged differently with --jobs 2");
    }
    assert_eq!(parallel.verdicts.len(), serial.verdicts.len());
    assert!(serial.verdicts.len() > 50, "{}", serial.verdicts.len());

    // One scenario at a time: the run lasts at least as long as its scenarios together.
    // Several at once: they overlapped, so together they took longer than the run.
    assert!(
        serial.wall_s >= serial.busy_s,
        "serial: {:.1} s of wall time for {:.1} s of scenarios",
        serial.wall_s,
        serial.busy_s
    );
    assert!(
        parallel.wall_s < 0.8 * parallel.busy_s,
        "--jobs 2 did not run scenarios at the same time: {:.1} s of wall time for {:.1} s of scenarios",
        parallel.wall_s,
        parallel.busy_s
    );
    eprintln!(
        "{lab}: --jobs 1 {:.1} s, --jobs 2 {:.1} s (scenarios {:.1} s together)",
        serial.wall_s, parallel.wall_s, parallel.busy_s
    );
    // Every scenario kept its own capture.
    let distinct: BTreeSet<&String> = parallel.captures.iter().collect();
    assert_eq!(distinct.len(), parallel.captures.len());
    for c in &parallel.captures {
        let path = scratch.0.join("parallel").join(c);
        let frames = read_pcapng(&path);
        assert!(!frames.is_empty(), "{} has no frame", path.display());
    }
}

#[test]
fn a_real_phone_runs_one_scenario_at_a_time_and_says_so() {
    // The iface lab's checks on the interface come after the flags are read: a missing
    // interface still says first that --jobs is not used there.
    let out = phonecert(&[
        "run",
        "--id",
        "BOOT-001",
        "--lab",
        "iface:pcnoiface0",
        "--dut-mac",
        "00:1b:4f:00:00:01",
        "--reboot",
        "none",
        "--jobs",
        "4",
    ]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "--jobs 4 is not used with --lab iface:pcnoiface0: one real phone runs one scenario at a time"
        ),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(3), "{stderr}");
}

#[test]
fn jobs_of_zero_is_refused() {
    let out = phonecert(&["run", "--id", "BOOT-001", "--jobs", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--jobs"),
        "{}",
        text(&out.stderr)
    );
}
