//! The proof that the suite discriminates: every simphone fault switch makes its named check
//! fail, and the clean reference phone passes every scenario those checks live in.
//!
//! `cargo test --test faults` (filters, `--list`, `--exact` work as usual). The mapping is
//! `scenarios/expectations/faults.toml`; each entry is one trial, `FAULT@SCENARIO`, that
//! runs the real `phonecert` binary on the loopback lab with that one `--sim-fault` and reads
//! `report.json`: exit code 1, the report names the fault, the scenario's verdict is `fail`,
//! the entry's `check` is `fail`, checks in `also` may come out any way, every other check of
//! the scenario is `pass`. When the entry's `check` is a `should` (a fault that breaks only
//! what its RFC SHOULD-s) the check still fails, but the scenario passes and the exit code
//! is 0: a `should` is reported, never failed. A fault that breaks several scenarios has one entry for each.
//! `clean` runs the named scenarios without a fault: exit code 0, every check `pass`.
//! `every_fault_is_listed` compares `simphone --list-faults` with the mapping both ways.
//! `every_scenario_is_covered` fails, naming them, when scenarios of the suite have no entry
//! that is not pending: a scenario no fault is shown to fail proves nothing.
//! A `pending` entry is an ignored trial; run anyway (`--ignored`), it fails with its reason,
//! since nothing has been shown.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use serde::Deserialize;
use serde_json::Value;

const MAPPING: &str = "scenarios/expectations/faults.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mapping {
    #[serde(default)]
    fault: Vec<FaultEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultEntry {
    name: String,
    #[serde(default)]
    scenario: Option<String>,
    #[serde(default)]
    check: Option<String>,
    #[serde(default)]
    also: Vec<String>,
    why: String,
    #[serde(default)]
    pending: Option<String>,
    /// `netns` when the scenario needs the netns lab (802.1Q VLANs, a relay agent); the trial then runs
    /// there as root and is ignored, saying so, without root.
    #[serde(default)]
    lab: Option<String>,
}

/// What an entry asks for, once its fields are known to be consistent.
#[derive(Debug, Clone)]
enum Expectation {
    /// `scenario` run with the fault must fail `check`.
    Fails {
        scenario: String,
        check: String,
        also: BTreeSet<String>,
    },
    /// No scenario can expose the fault yet.
    Pending(String),
}

impl FaultEntry {
    fn expectation(&self) -> Result<Expectation, String> {
        match (&self.scenario, &self.check, &self.pending) {
            (Some(scenario), Some(check), None) => {
                if self.also.iter().any(|a| a == check) {
                    return Err(format!("`{}`: `also` repeats `check` {check}", self.name));
                }
                Ok(Expectation::Fails {
                    scenario: scenario.clone(),
                    check: check.clone(),
                    also: self.also.iter().cloned().collect(),
                })
            }
            (None, None, Some(reason)) if self.also.is_empty() => {
                Ok(Expectation::Pending(reason.clone()))
            }
            _ => Err(format!(
                "`{}`: an entry has either `scenario` and `check` (and optionally `also`), or `pending` alone",
                self.name
            )),
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An output folder for one trial, removed when dropped (also when the trial fails).
struct OutDir(PathBuf);

impl OutDir {
    fn new(trial: &str) -> OutDir {
        let dir =
            std::env::temp_dir().join(format!("phonecert-faults-{}-{trial}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        OutDir(dir)
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Scenario id → the files declaring it, from every `.toml` under `scenarios/` outside
/// `fixtures/` and `expectations/`. Files that do not parse are left to `phonecert check`.
fn scenario_files() -> BTreeMap<String, Vec<PathBuf>> {
    fn walk(dir: &Path, found: &mut BTreeMap<String, Vec<PathBuf>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                if !path
                    .file_name()
                    .is_some_and(|n| n == "fixtures" || n == "expectations")
                {
                    walk(&path, found);
                }
            } else if path.extension().is_some_and(|e| e == "toml") {
                let id = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| text.parse::<toml::Table>().ok())
                    .and_then(|table| table.get("id")?.as_str().map(str::to_owned));
                if let Some(id) = id {
                    found.entry(id).or_default().push(path);
                }
            }
        }
    }
    let mut found = BTreeMap::new();
    walk(&root().join("scenarios"), &mut found);
    found
}

fn scenario_file(files: &BTreeMap<String, Vec<PathBuf>>, id: &str) -> Result<PathBuf, String> {
    match files.get(id).map(Vec::as_slice) {
        Some([one]) => Ok(one.clone()),
        Some(many) => Err(format!(
            "scenario {id} is declared by several files: {many:?}"
        )),
        None => Err(format!(
            "no scenario file under scenarios/ has id = \"{id}\""
        )),
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// How far apart the runs of concurrent trials start.
const STAGGER: Duration = Duration::from_millis(150);

/// Waits for this run's start slot: [`STAGGER`] after the previous run's, or now when that
/// has passed. Starting a lab and a phone is the busiest moment of a run; dozens at once
/// would land on the timers of scenarios already running, whose windows are tens of
/// milliseconds at 10× (REG-001's T1 is 50 ms). Trials that run one at a time never wait.
fn wait_for_start_slot() {
    static NEXT: Mutex<Option<Instant>> = Mutex::new(None);
    let slot = {
        let mut next = NEXT.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let slot = next.map_or(now, |n| n.max(now));
        *next = Some(slot + STAGGER);
        slot
    };
    std::thread::sleep(slot.saturating_duration_since(Instant::now()));
}

/// Runs `phonecert run --lab LAB [--sim-fault FAULT] --out OUT FILES…` and returns the
/// exit code, the report and the command's output (for messages).
fn run(
    trial: &str,
    lab: &str,
    fault: Option<&str>,
    files: &[PathBuf],
) -> Result<(Option<i32>, Value, String), Failed> {
    wait_for_start_slot();
    let out_dir = OutDir::new(trial);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_phonecert"));
    cmd.args(["run", "--lab", lab]);
    if let Some(fault) = fault {
        cmd.args(["--sim-fault", fault]);
    }
    let out = cmd
        .arg("--out")
        .arg(&out_dir.0)
        .args(files)
        .current_dir(root())
        .env("PHONECERT_SIMPHONE", env!("CARGO_BIN_EXE_simphone"))
        .output()
        .map_err(|e| Failed::from(format!("cannot start phonecert: {e}")))?;
    let text = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let path = out_dir.0.join("reports/latest/report.json");
    let report = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
        .map_err(|e| {
            Failed::from(format!(
                "phonecert exited {:?} without a readable {}: {e}\n{text}",
                out.status.code(),
                path.display()
            ))
        })?;
    Ok((out.status.code(), report, text))
}

/// The checks of scenario `id` in the report, as (check id, verdict, the whole entry).
fn checks<'a>(report: &'a Value, id: &str) -> Result<Vec<(&'a str, &'a str, &'a Value)>, Failed> {
    let scenario = report["scenarios"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["id"] == id))
        .ok_or_else(|| Failed::from(format!("the report has no scenario {id}")))?;
    let checks = scenario["checks"]
        .as_array()
        .ok_or_else(|| Failed::from(format!("scenario {id} has no checks in the report")))?;
    Ok(checks
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or("?"),
                c["verdict"].as_str().unwrap_or("?"),
                c,
            )
        })
        .collect())
}

fn describe(check: &Value) -> String {
    format!(
        "{} {}: expected {}; observed {}",
        check["id"].as_str().unwrap_or("?"),
        check["verdict"].as_str().unwrap_or("?"),
        check["expected"],
        check["observed"]
    )
}

/// One `[[fault]]` entry made runnable: the fault `name` on `scenario` (from `file`), in
/// `lab`, as the trial called `trial`.
struct FaultTrial {
    trial: String,
    lab: &'static str,
    name: String,
    scenario: String,
    check: String,
    also: BTreeSet<String>,
    why: String,
    file: Result<PathBuf, String>,
}

fn fault_trial(t: &FaultTrial) -> Result<(), Failed> {
    let FaultTrial {
        trial,
        lab,
        name,
        scenario,
        check,
        also,
        why,
        file,
    } = t;
    let (name, scenario, check) = (name.as_str(), scenario.as_str(), check.as_str());
    let file = file.clone()?;
    let (code, report, text) = run(trial, lab, Some(name), &[file])?;
    let faults = report["dut"]["faults"].as_array();
    if !faults.is_some_and(|f| f.iter().any(|f| f == name)) {
        return Err(format!(
            "the report's dut.faults is {}, not naming {name}",
            report["dut"]["faults"]
        )
        .into());
    }
    let verdict = report["scenarios"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["id"] == scenario))
        .map(|s| s["verdict"].clone())
        .unwrap_or(Value::Null);
    let checks = checks(&report, scenario)?;
    let known: BTreeSet<&str> = checks.iter().map(|(id, _, _)| *id).collect();
    let stale: Vec<&str> = std::iter::once(check)
        .chain(also.iter().map(String::as_str))
        .filter(|c| !known.contains(c))
        .collect();
    if !stale.is_empty() {
        return Err(
            format!("{MAPPING}: {name} names checks {scenario} does not have: {stale:?}").into(),
        );
    }
    // A `should` check is reported, not failed: a fault that breaks only a SHOULD of its RFC
    // fails that check while the scenario passes (exit 0).
    let should = checks
        .iter()
        .any(|(id, _, entry)| *id == check && entry["level"] == "should");
    let (want_verdict, want_code) = if should { ("pass", 0) } else { ("fail", 1) };
    let mut problems = Vec::new();
    if verdict != want_verdict {
        problems.push(format!(
            "scenario {scenario} is {verdict}, not \"{want_verdict}\""
        ));
    }
    for (id, verdict, entry) in &checks {
        if *id == check {
            if *verdict != "fail" {
                problems.push(format!("the named check must be fail: {}", describe(entry)));
            }
        } else if !also.contains(*id) && *verdict != "pass" {
            problems.push(format!("an unrelated check flipped: {}", describe(entry)));
        }
    }
    if code != Some(want_code) {
        problems.push(format!("phonecert exited {code:?}, not {want_code}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "with --sim-fault {name} ({why}):\n  {}\n{text}",
            problems.join("\n  ")
        )
        .into())
    }
}

/// The clean reference phone on `files`, in `lab`, as the trial called `trial` (which names
/// its output folder, so the loopback and netns runs never share one).
fn clean_trial(
    trial: &str,
    lab: &str,
    files: Result<Vec<(String, PathBuf)>, String>,
) -> Result<(), Failed> {
    let files = files?;
    if files.is_empty() {
        return Err(format!("{MAPPING} names no scenario").into());
    }
    let paths: Vec<PathBuf> = files.iter().map(|(_, p)| p.clone()).collect();
    let (code, report, text) = run(trial, lab, None, &paths)?;
    let mut problems = Vec::new();
    if report["dut"]["faults"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
    {
        problems.push(format!("dut.faults is {}", report["dut"]["faults"]));
    }
    for (id, _) in &files {
        for (_, verdict, entry) in checks(&report, id)? {
            if verdict != "pass" {
                problems.push(describe(entry));
            }
        }
    }
    if code != Some(0) {
        problems.push(format!("phonecert exited {code:?}, not 0"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the clean reference phone:\n  {}\n{text}",
            problems.join("\n  ")
        )
        .into())
    }
}

/// `mapped` is every entry's (fault name, scenario or `None` when pending).
fn every_fault_is_listed(mapped: &[(String, Option<String>)]) -> Result<(), Failed> {
    let out = Command::new(env!("CARGO_BIN_EXE_simphone"))
        .arg("--list-faults")
        .output()
        .map_err(|e| Failed::from(format!("cannot start simphone: {e}")))?;
    if !out.status.success() {
        return Err(format!(
            "simphone --list-faults exited {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let listed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    if listed.is_empty() {
        return Err("simphone --list-faults listed no fault".into());
    }
    let mut problems = Vec::new();
    let mut seen: BTreeMap<&str, Vec<Option<&str>>> = BTreeMap::new();
    for (name, scenario) in mapped {
        let scenarios = seen.entry(name).or_default();
        let scenario = scenario.as_deref();
        if scenarios.contains(&scenario) {
            match scenario {
                Some(id) => problems.push(format!("{name} has more than one entry for {id}")),
                None => problems.push(format!("{name} has more than one pending entry")),
            }
        } else if scenario.is_none() && !scenarios.is_empty()
            || scenario.is_some() && scenarios.contains(&None)
        {
            problems.push(format!(
                "{name} is both pending and shown by a scenario; drop the pending entry"
            ));
        }
        scenarios.push(scenario);
        if !listed.contains(name) {
            problems.push(format!(
                "{name} has an entry but simphone has no such fault switch"
            ));
        }
    }
    for name in &listed {
        if !seen.contains_key(name.as_str()) {
            problems.push(format!("fault switch {name} has no entry"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{MAPPING}:\n  {}", problems.join("\n  ")).into())
    }
}

/// Every scenario id of the suite (`suite`) must be the `scenario` of an entry that is not
/// pending (`covered`).
fn every_scenario_is_covered(
    suite: &BTreeSet<String>,
    covered: &BTreeSet<String>,
) -> Result<(), Failed> {
    if suite.is_empty() {
        return Err("no scenario file under scenarios/ declares an id".into());
    }
    let uncovered: Vec<&str> = suite.difference(covered).map(String::as_str).collect();
    if uncovered.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{MAPPING}: {} of {} scenarios are shown to fail under no fault switch: {}; give each a [[fault]] entry whose check fails",
            uncovered.len(),
            suite.len(),
            uncovered.join(", ")
        )
        .into())
    }
}

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    let mapping: Mapping = match std::fs::read_to_string(root().join(MAPPING))
        .map_err(|e| e.to_string())
        .and_then(|t| toml::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {MAPPING}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if mapping.fault.is_empty() {
        eprintln!("error: {MAPPING} has no [[fault]] entry");
        return ExitCode::FAILURE;
    }
    let files = scenario_files();
    let mut trials = Vec::new();
    let mut named: BTreeMap<String, Result<PathBuf, String>> = BTreeMap::new();
    let mut named_netns: BTreeMap<String, Result<PathBuf, String>> = BTreeMap::new();
    for entry in &mapping.fault {
        let name = entry.name.clone();
        match entry.expectation() {
            Err(e) => {
                eprintln!("error: {MAPPING}: {e}");
                return ExitCode::FAILURE;
            }
            Ok(Expectation::Pending(reason)) => trials.push(
                Trial::test(name, move || {
                    Err(format!("pending, nothing shown: {reason}").into())
                })
                .with_kind("pending")
                .with_ignored_flag(true),
            ),
            Ok(Expectation::Fails {
                scenario,
                check,
                also,
            }) => {
                let file = scenario_file(&files, &scenario);
                let needs_netns = entry.lab.as_deref() == Some("netns");
                let lab = if needs_netns { "netns" } else { "loopback" };
                if needs_netns {
                    named_netns.insert(scenario.clone(), file.clone());
                } else {
                    named.insert(scenario.clone(), file.clone());
                }
                let spec = FaultTrial {
                    trial: format!("{name}@{scenario}"),
                    lab,
                    name,
                    scenario,
                    check,
                    also,
                    why: entry.why.clone(),
                    file,
                };
                let trial =
                    Trial::test(spec.trial.clone(), move || fault_trial(&spec)).with_kind(lab);
                if needs_netns && !is_root() {
                    eprintln!(
                        "skipped: fault `{}` on {} needs the netns lab (root); its trial did NOT run",
                        entry.name,
                        entry.scenario.as_deref().unwrap_or("?")
                    );
                    trials.push(trial.with_ignored_flag(true));
                } else {
                    trials.push(trial);
                }
            }
        }
    }
    let clean_files: Result<Vec<(String, PathBuf)>, String> = named
        .into_iter()
        .map(|(id, file)| file.map(|f| (id, f)))
        .collect();
    trials.push(
        Trial::test("clean", move || {
            clean_trial("clean", "loopback", clean_files)
        })
        .with_kind("loopback"),
    );
    if !named_netns.is_empty() {
        let netns_files: Result<Vec<(String, PathBuf)>, String> = named_netns
            .into_iter()
            .map(|(id, file)| file.map(|f| (id, f)))
            .collect();
        let trial = Trial::test("clean_netns", move || {
            clean_trial("clean_netns", "netns", netns_files)
        })
        .with_kind("netns");
        if is_root() {
            trials.push(trial);
        } else {
            eprintln!("skipped: clean_netns needs the netns lab (root); it did NOT run");
            trials.push(trial.with_ignored_flag(true));
        }
    }
    let mapped: Vec<(String, Option<String>)> = mapping
        .fault
        .iter()
        .map(|e| (e.name.clone(), e.scenario.clone()))
        .collect();
    trials.push(Trial::test("every_fault_is_listed", move || {
        every_fault_is_listed(&mapped)
    }));
    let suite: BTreeSet<String> = files.keys().cloned().collect();
    let covered: BTreeSet<String> = mapping
        .fault
        .iter()
        .filter(|e| e.pending.is_none())
        .filter_map(|e| e.scenario.clone())
        .collect();
    trials.push(Trial::test("every_scenario_is_covered", move || {
        every_scenario_is_covered(&suite, &covered)
    }));
    // A trial mostly waits for the scenario's timeout, so all of them run at once (their
    // starts spaced by `wait_for_start_slot`) unless `--test-threads` says otherwise.
    if args.test_threads.is_none() {
        args.test_threads = Some(trials.len());
    }
    libtest_mimic::run(&args, trials).exit_code()
}
