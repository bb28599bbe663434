//! `phonecert merge`: joins the run folders of several benches (one CI job per bench) into
//! one run folder with one report and one compliance summary.
//!
//! Owns: checking each input against its own `compliance.json` before anything is read,
//! where each input's files land in the merged folder, naming scenarios apart when two
//! inputs ran the same one, and the merged run's header (device, lab, times).
//!
//! Never: judges (every verdict is the input's), writes reports itself (the report module's
//! [`super::write_all`] writes `report.json`, `junit.xml`, `index.html` and the compliance
//! files, exactly as for a run), or touches an input folder.
//!
//! Layout: input run `R` keeps its files under `runs/R/` of the merged run folder (its
//! timelines, device logs and scenario copies, each timeline's `scenario_file` made to name
//! the copy there), and its captures under `captures/<merged-id>/R/`. The input's own
//! reports are not copied: the merged `report.json` lists each input in `merged_from`, with
//! the SHA-256 of the `compliance.json` it was verified against.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{DutInfo, MergedRun, RunReport, ScenarioReport, Summary, compliance};
use crate::run_folder::{self, RunFolders};

/// The files a run writes about itself: rewritten for the merged run, not copied.
const GENERATED: [&str; 5] = [
    "report.json",
    "junit.xml",
    "index.html",
    "compliance.json",
    "compliance.html",
];

/// Why runs cannot be merged. Every variant but [`MergeError::Write`] is about an input,
/// and is found before the merged folder is created.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// An input whose evidence cannot be checked (no readable `compliance.json`).
    #[error("{run}: {why}")]
    Unverifiable {
        /// The input run folder.
        run: PathBuf,
        /// What went wrong.
        why: compliance::VerifyError,
    },
    /// An input that is not as its run left it.
    #[error("{run} is not as its run left it: {}", findings.join("; "))]
    NotIntact {
        /// The input run folder.
        run: PathBuf,
        /// One line per changed, missing or added file.
        findings: Vec<String>,
    },
    /// An input whose `report.json` cannot be read.
    #[error("cannot read {path}: {why}")]
    Report {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The same run given twice (or two copies of it).
    #[error("run {run_id} is given twice ({first} and {second})")]
    SameRun {
        /// Its id.
        run_id: String,
        /// The first folder.
        first: PathBuf,
        /// The second folder.
        second: PathBuf,
    },
    /// The merged run could not be written.
    #[error("cannot write the merged run: {0}")]
    Write(#[from] std::io::Error),
}

impl MergeError {
    /// Whether the fault is an input's (exit 2) rather than the merged folder's (exit 3).
    pub fn is_input(&self) -> bool {
        !matches!(self, MergeError::Write(_))
    }
}

/// Where a merged run folder keeps the files of input run `run_id`.
pub fn input_dir(merged: &Path, run_id: &str) -> PathBuf {
    merged.join("runs").join(run_id)
}

/// One input, verified and read.
struct Input {
    dir: PathBuf,
    report: RunReport,
    compliance_sha256: String,
}

/// Verifies every input (captures included), then writes the merged run under the output
/// root `out` (`reports/<id>/`, `captures/<id>/`). Returns the merged report and its
/// folder.
pub fn merge(
    runs: &[PathBuf],
    out: &Path,
    now: time::OffsetDateTime,
    pid: u32,
) -> Result<(RunReport, PathBuf), MergeError> {
    let inputs = read_inputs(runs)?;
    let folders = RunFolders::claim(out, now, pid)?;
    let result = write_merged(&inputs, &folders);
    if result.is_err() {
        // A half-written merge is not a run: leave nothing that looks like one.
        let _ = std::fs::remove_dir_all(&folders.reports);
        let _ = std::fs::remove_dir_all(&folders.captures);
    }
    result.map(|r| (r, folders.reports))
}

fn read_inputs(runs: &[PathBuf]) -> Result<Vec<Input>, MergeError> {
    let mut inputs: Vec<Input> = Vec::new();
    for dir in runs {
        let v = compliance::verify(dir, true).map_err(|why| MergeError::Unverifiable {
            run: dir.clone(),
            why,
        })?;
        if !v.is_intact() {
            return Err(MergeError::NotIntact {
                run: dir.clone(),
                findings: v.lines(),
            });
        }
        let path = dir.join("report.json");
        let report: RunReport = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            .map_err(|why| MergeError::Report {
                path: path.clone(),
                why,
            })?;
        // The run id becomes a folder name in the merged run: one plain name, nothing else.
        let mut parts = Path::new(&report.run_id).components();
        if !matches!(
            (parts.next(), parts.next()),
            (Some(Component::Normal(_)), None)
        ) {
            return Err(MergeError::Report {
                path,
                why: format!("run_id `{}` is not a folder name", report.run_id),
            });
        }
        if let Some(first) = inputs.iter().find(|i| i.report.run_id == report.run_id) {
            return Err(MergeError::SameRun {
                run_id: report.run_id,
                first: first.dir.clone(),
                second: dir.clone(),
            });
        }
        let record = dir.join("compliance.json");
        let bytes = std::fs::read(&record).map_err(|e| MergeError::Report {
            path: record,
            why: e.to_string(),
        })?;
        inputs.push(Input {
            dir: dir.clone(),
            report,
            compliance_sha256: hex::encode(Sha256::digest(&bytes)),
        });
    }
    Ok(inputs)
}

fn write_merged(inputs: &[Input], folders: &RunFolders) -> Result<RunReport, MergeError> {
    // A scenario id run by more than one input is named with its run (`BOOT-001@<run-id>`)
    // in every input, so no input's result reads as another's.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for i in inputs {
        for s in &i.report.scenarios {
            *seen.entry(s.id.as_str()).or_default() += 1;
        }
    }
    let mut scenarios = Vec::new();
    let mut not_run = Vec::new();
    let mut merged_from = Vec::new();
    for input in inputs {
        let rid = &input.report.run_id;
        let prefix = format!("runs/{rid}");
        copy_run_files(input, &input_dir(&folders.reports, rid), &prefix)?;
        let rename = |id: &str| {
            if seen.get(id).copied().unwrap_or(0) > 1 {
                format!("{id}@{rid}")
            } else {
                id.to_string()
            }
        };
        let mut ids = Vec::new();
        for s in &input.report.scenarios {
            let mut s: ScenarioReport = s.clone();
            if let Some(stored) = s.capture.take() {
                let from = run_folder::capture_file(&input.dir, &stored).map_err(|why| {
                    MergeError::Report {
                        path: input.dir.join("report.json"),
                        why,
                    }
                })?;
                let name = Path::new(&stored)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| format!("{}.pcapng", s.id));
                if from.is_file() {
                    let to_dir = folders.captures.join(rid);
                    std::fs::create_dir_all(&to_dir)?;
                    std::fs::copy(&from, to_dir.join(&name))?;
                    s.capture = Some(format!("captures/{}/{rid}/{name}", folders.id));
                }
            }
            let mut links = Vec::new();
            for stored in std::mem::take(&mut s.link_captures) {
                let from = run_folder::capture_file(&input.dir, &stored).map_err(|why| {
                    MergeError::Report {
                        path: input.dir.join("report.json"),
                        why,
                    }
                })?;
                if let Some(name) = Path::new(&stored).file_name()
                    && from.is_file()
                {
                    let name = name.to_string_lossy().into_owned();
                    let to_dir = folders.captures.join(rid);
                    std::fs::create_dir_all(&to_dir)?;
                    std::fs::copy(&from, to_dir.join(&name))?;
                    links.push(format!("captures/{}/{rid}/{name}", folders.id));
                }
            }
            s.link_captures = links;
            s.timeline = s.timeline.map(|t| format!("{prefix}/{t}"));
            s.dut_log = s.dut_log.map(|t| format!("{prefix}/{t}"));
            s.id = rename(&s.id);
            ids.push(s.id.clone());
            scenarios.push(s);
        }
        not_run.extend(input.report.not_run.iter().map(|id| rename(id)));
        merged_from.push(MergedRun {
            run_id: rid.clone(),
            started: input.report.started.clone(),
            lab: input.report.lab.clone(),
            dut: input.report.dut.clone(),
            summary: input.report.summary,
            interrupted: input.report.interrupted,
            compliance_sha256: input.compliance_sha256.clone(),
            scenarios: ids,
        });
    }
    let report = RunReport {
        schema: super::SCHEMA.into(),
        run_id: folders.id.clone(),
        // Runs strings are RFC 3339 UTC in one format, so the least is the earliest.
        started: inputs
            .iter()
            .map(|i| i.report.started.clone())
            .min()
            .unwrap_or_default(),
        // Lab time spent on the benches, not the CI's wall time: the benches ran apart.
        duration_s: inputs.iter().map(|i| i.report.duration_s).sum(),
        lab: distinct(inputs.iter().map(|i| i.report.lab.as_str())),
        phonecert_version: distinct(inputs.iter().map(|i| i.report.phonecert_version.as_str())),
        dut: merged_dut(inputs),
        summary: Summary::of_scenarios(&scenarios),
        interrupted: inputs.iter().any(|i| i.report.interrupted),
        not_run,
        scenarios,
        merged_from,
        // Every input was verified intact, so none rests on edited evidence.
        edited_after_run: Vec::new(),
        clients: None,
        // What an input warned of still holds for its results, named by the input.
        warnings: inputs
            .iter()
            .flat_map(|i| {
                let rid = &i.report.run_id;
                i.report
                    .warnings
                    .iter()
                    .map(move |w| format!("run {rid}: {w}"))
            })
            .collect(),
    };
    super::write_all(&folders.reports, &report)?;
    Ok(report)
}

/// Copies an input's evidence (everything but the reports it wrote about itself) into
/// `to`, its timelines made to name their scenario copy under `prefix`.
fn copy_run_files(input: &Input, to: &Path, prefix: &str) -> Result<(), MergeError> {
    let timelines: BTreeSet<&str> = input
        .report
        .scenarios
        .iter()
        .filter_map(|s| s.timeline.as_deref())
        .collect();
    for rel in compliance::files_under(&input.dir)? {
        if GENERATED.contains(&rel.as_str()) || rel.ends_with(".tmp") {
            continue;
        }
        let from = input.dir.join(&rel);
        let dest = to.join(&rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if timelines.contains(rel.as_str()) {
            let bytes = std::fs::read(&from)?;
            let mut saved: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| MergeError::Report {
                    path: from.clone(),
                    why: e.to_string(),
                })?;
            if let Some(file) = saved.get_mut("scenario_file")
                && let Some(stored) = file.as_str()
            {
                *file = serde_json::Value::String(format!("{prefix}/{stored}"));
            }
            let json = serde_json::to_vec_pretty(&saved).map_err(std::io::Error::other)?;
            std::fs::write(&dest, json)?;
        } else {
            std::fs::copy(&from, &dest)?;
        }
    }
    Ok(())
}

/// The distinct values in input order, joined with `, `.
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut out: Vec<&str> = Vec::new();
    for v in values {
        if !v.is_empty() && !out.contains(&v) {
            out.push(v);
        }
    }
    out.join(", ")
}

/// The device of the merged run: the inputs' when they all tested the same one, else a
/// `merged` device naming every MAC, model and firmware (each input's own is in
/// `merged_from`).
fn merged_dut(inputs: &[Input]) -> DutInfo {
    let duts: Vec<&DutInfo> = inputs.iter().map(|i| &i.report.dut).collect();
    if let Some(first) = duts.first()
        && duts.iter().all(|d| d == first)
    {
        return (*first).clone();
    }
    let mut faults: Vec<String> = Vec::new();
    for f in duts.iter().flat_map(|d| &d.faults) {
        if !faults.contains(f) {
            faults.push(f.clone());
        }
    }
    let observed = distinct(duts.iter().filter_map(|d| d.firmware_observed.as_deref()));
    DutInfo {
        kind: "merged".into(),
        command: None,
        reboot: None,
        model: distinct(duts.iter().map(|d| d.model.as_str())),
        mac: distinct(duts.iter().map(|d| d.mac.as_str())),
        firmware_start: distinct(duts.iter().map(|d| d.firmware_start.as_str())),
        firmware_observed: (!observed.is_empty()).then_some(observed),
        faults,
        profile: distinct(duts.iter().map(|d| d.profile.as_str())),
    }
}
