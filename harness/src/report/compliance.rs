//! The compliance summary (`compliance.json`, `compliance.html`): what a certification body
//! is handed, and `phonecert verify`, which re-checks it.
//!
//! Owns: the `phonecert.compliance/1` document — the device as it showed itself on the wire
//! (MACs, DHCP host names and vendor classes, HTTP and SIP User-Agents, the model and the
//! firmware before and after read from them), the profile if the report names one, the
//! harness version, the suite version (one SHA-256 over the scenario files and fixtures the
//! run used), the requirement → verdict matrix, and the SHA-256 of every evidence file — and
//! the comparison of a run folder against it.
//!
//! Never: judges (verdicts come from `report.json`), or lets a requirement look better than
//! its checks: a requirement passes only when every check of it passed; one never exercised
//! says so, it is never counted as passed.
//!
//! What is hashed: every file under the run folder except the two compliance files
//! themselves (they cannot hold their own hash), and each scenario's capture, found through
//! the output root (`captures/<run-id>/<id>.pcapng`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{RunReport, level_name};
use crate::judge::Verdict;
use crate::timeline::{Proto, Timeline};

/// The schema identifier of `compliance.json`.
pub const SCHEMA: &str = "phonecert.compliance/1";
/// The compliance files, which are not evidence of themselves.
pub const FILES: [&str; 2] = ["compliance.json", "compliance.html"];
/// The HTML template.
pub(crate) const TEMPLATE: &str = include_str!("templates/compliance.html");

/// The whole compliance document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compliance {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The run.
    pub run_id: String,
    /// When it started (RFC 3339, UTC).
    pub started: String,
    /// The lab.
    pub lab: String,
    /// `phonecert <version>`.
    pub harness: String,
    /// `sha256:<hex>` over the scenario files and fixtures the run used (see [`suite_hash`]).
    pub suite_version: String,
    /// The phone profile the run judged against: the report's, else the profiles its
    /// scenario files are written for.
    pub profile: Option<String>,
    /// The device, as configured and as seen on the wire.
    pub dut: WireIdentity,
    /// Scenario counts.
    pub summary: super::Summary,
    /// Scenarios that did not run to their end: their requirements were not exercised.
    pub not_run: Vec<String>,
    /// Scenarios skipped without a single check judged (a lab they need, a protocol the
    /// device does not speak), each with the reason: nothing of them was exercised.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// Requirement → verdict, sorted by requirement.
    pub requirements: Vec<RequirementRow>,
    /// Every evidence file of the run folder, relative to it, with its hash.
    pub evidence: Vec<Hashed>,
    /// Every capture, relative to the output root, with its hash.
    pub captures: Vec<Hashed>,
    /// Evidence files edited after the run on which `judge --write` based the verdicts
    /// (see [`super::RunReport::edited_after_run`]); `verify` reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edited_after_run: Vec<super::EditedEvidence>,
}

/// The device under test: what the run was told and what the wire showed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WireIdentity {
    /// The device in words (`the reference phone (9620)`, `--dut-cmd dhclient`).
    pub described: String,
    /// MAC addresses seen as DHCP client addresses.
    pub macs: Vec<String>,
    /// The model read from an HTTP User-Agent (`AVAYA/… 9620`), if any.
    pub model: Option<String>,
    /// The firmware version in the first User-Agent of the run.
    pub firmware_before: Option<String>,
    /// The firmware version in the last User-Agent of the run.
    pub firmware_after: Option<String>,
    /// Every distinct HTTP User-Agent.
    pub http_user_agents: Vec<String>,
    /// Every distinct SIP User-Agent.
    pub sip_user_agents: Vec<String>,
    /// Every distinct DHCP host name (option 12).
    pub dhcp_host_names: Vec<String>,
    /// Every distinct DHCP vendor class (option 60).
    pub dhcp_vendor_classes: Vec<String>,
}

/// One requirement's line in the matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequirementRow {
    /// The requirement as the checks cite it.
    pub requirement: String,
    /// `must` when any of its checks is a must, else `should`.
    pub level: String,
    /// The worst verdict of its checks: fail, error, not_exercised, skip, then pass.
    pub verdict: Verdict,
    /// Each check citing it.
    pub checks: Vec<CheckRef>,
}

/// A check in the matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRef {
    /// Scenario id.
    pub scenario: String,
    /// Check id.
    pub check: String,
    /// Its verdict.
    pub verdict: Verdict,
}

/// A scenario none of whose checks was judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// Scenario id.
    pub scenario: String,
    /// Why, as the report says.
    pub why: String,
}

/// A file and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hashed {
    /// The path (relative, `/`-separated).
    pub path: String,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
}

/// How bad a verdict is for a requirement: the matrix shows the worst.
fn badness(v: Verdict) -> u8 {
    match v {
        Verdict::Pass => 0,
        Verdict::Skip => 1,
        Verdict::NotExercised => 2,
        Verdict::Error => 3,
        Verdict::Fail => 4,
    }
}

/// Builds the compliance document of the run in `run_dir`.
pub fn build(run_dir: &Path, report: &RunReport) -> std::io::Result<Compliance> {
    let mut rows: BTreeMap<String, RequirementRow> = BTreeMap::new();
    for s in &report.scenarios {
        for c in &s.checks {
            let row = rows
                .entry(c.requirement.clone())
                .or_insert_with(|| RequirementRow {
                    requirement: c.requirement.clone(),
                    level: "should".into(),
                    verdict: Verdict::Pass,
                    checks: Vec::new(),
                });
            if level_name(c.level) == "must" {
                row.level = "must".into();
            }
            if badness(c.verdict) > badness(row.verdict) {
                row.verdict = c.verdict;
            }
            row.checks.push(CheckRef {
                scenario: s.id.clone(),
                check: c.id.clone(),
                verdict: c.verdict,
            });
        }
    }
    let timelines: Vec<Timeline> = report
        .scenarios
        .iter()
        .filter_map(|s| s.timeline.as_deref())
        .filter_map(|t| super::html::read_timeline(run_dir, t).ok())
        .collect();
    let mut dut = wire_identity(&timelines);
    dut.described = report.dut.describe();
    let mut captures = Vec::new();
    // `phonecert serve` names one session capture from several results: hashed once.
    let mut hashed = std::collections::HashSet::new();
    for s in &report.scenarios {
        for stored in s.capture.iter().chain(&s.link_captures) {
            if !hashed.insert(stored.as_str()) {
                continue;
            }
            if let Ok(path) = crate::run_folder::capture_file(run_dir, stored)
                && path.is_file()
            {
                captures.push(hash_file(&path, stored.to_string())?);
            }
        }
    }
    Ok(Compliance {
        schema: SCHEMA.into(),
        run_id: report.run_id.clone(),
        started: report.started.clone(),
        lab: report.lab.clone(),
        harness: format!("phonecert {}", report.phonecert_version),
        suite_version: suite_hash_of(&scenario_copies(run_dir, report))?,
        profile: profile_of(report).or_else(|| scenario_profiles(run_dir, report)),
        dut,
        summary: report.summary,
        not_run: report.not_run.clone(),
        edited_after_run: report.edited_after_run.clone(),
        skipped: report
            .scenarios
            .iter()
            .filter(|s| s.checks.is_empty() && !report.not_run.contains(&s.id))
            .map(|s| Skipped {
                scenario: s.id.clone(),
                why: s
                    .error
                    .clone()
                    .unwrap_or_else(|| format!("verdict {}", s.verdict)),
            })
            .collect(),
        requirements: rows.into_values().collect(),
        evidence: evidence_files(run_dir)?,
        captures,
    })
}

/// Where the run folder keeps its copies of the scenarios: `scenarios/`, or for a merged
/// run each input's (see [`super::merge`]).
fn scenario_copies(run_dir: &Path, report: &RunReport) -> Vec<PathBuf> {
    if report.merged_from.is_empty() {
        vec![run_dir.join("scenarios")]
    } else {
        report
            .merged_from
            .iter()
            .map(|m| super::merge::input_dir(run_dir, &m.run_id).join("scenarios"))
            .collect()
    }
}

/// The profile a report names (`"profile"` at its top level or in `dut`), if it has one.
fn profile_of(report: &RunReport) -> Option<String> {
    let v = serde_json::to_value(report).ok()?;
    let p = v.get("profile").or_else(|| v.get("dut")?.get("profile"))?;
    match p {
        serde_json::Value::String(s) if s.is_empty() => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The profiles the run's scenarios are written for (`profiles` in each scenario file), read
/// from the copies the run kept: `avaya-96x0-sip`, or several joined with `, `; for a run
/// whose report does not name its own profile.
fn scenario_profiles(run_dir: &Path, report: &RunReport) -> Option<String> {
    #[derive(Deserialize)]
    struct Saved {
        scenario_file: String,
    }
    let mut profiles: Vec<String> = Vec::new();
    for stored in report
        .scenarios
        .iter()
        .filter_map(|s| s.timeline.as_deref())
    {
        let Ok(path) = crate::run_folder::resolve(run_dir, stored) else {
            continue;
        };
        let Some(saved) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Saved>(&b).ok())
        else {
            continue;
        };
        let Ok(file) = crate::run_folder::resolve(run_dir, &saved.scenario_file) else {
            continue;
        };
        if let Ok(sc) = crate::scenario::load_file(&file) {
            for p in sc.spec.profiles {
                if !profiles.contains(&p) {
                    profiles.push(p);
                }
            }
        }
    }
    (!profiles.is_empty()).then(|| profiles.join(", "))
}

/// What the device said about itself on the wire, over every scenario's timeline in run
/// order.
pub(crate) fn wire_identity(timelines: &[Timeline]) -> WireIdentity {
    let mut id = WireIdentity::default();
    let mut versions = Vec::new();
    let push = |list: &mut Vec<String>, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty())
            && !list.iter().any(|x| x == v)
        {
            list.push(v.to_string());
        }
    };
    for tl in timelines {
        for e in &tl.events {
            let s = |k: &str| e.field(k).and_then(|v| v.as_str());
            match (e.proto, e.kind.as_str()) {
                (Proto::Dhcp, "received") => {
                    push(&mut id.macs, s("client_mac"));
                    push(&mut id.dhcp_host_names, s("hostname"));
                    push(&mut id.dhcp_vendor_classes, s("vendor_class"));
                }
                (Proto::Http, "request") => {
                    push(&mut id.http_user_agents, s("user_agent"));
                    if let Some((v, model)) = s("user_agent").and_then(avaya_http_ua) {
                        versions.push(v);
                        id.model = Some(model);
                    }
                }
                (Proto::Sip, "request") => {
                    push(&mut id.sip_user_agents, s("user_agent"));
                    if let Some(v) = s("user_agent").and_then(avaya_sip_ua) {
                        versions.push(v);
                    }
                }
                _ => {}
            }
        }
    }
    id.firmware_before = versions.first().cloned();
    id.firmware_after = versions.last().cloned();
    id
}

/// `Avaya one-X Deskphone <version> <mac>` → version (domain.md: registration).
fn avaya_sip_ua(ua: &str) -> Option<String> {
    ua.strip_prefix("Avaya one-X Deskphone ")?
        .split_whitespace()
        .next()
        .map(str::to_string)
}

/// `AVAYA/96x1-IPT-SIP-R7_1_15_0_4 9608G` → (version, model) (domain.md: file server).
fn avaya_http_ua(ua: &str) -> Option<(String, String)> {
    let rest = ua.strip_prefix("AVAYA/")?;
    let (product, model) = rest.split_once(' ')?;
    let version = product.split_once("-SIP-")?.1;
    Some((version.to_string(), model.trim().to_string()))
}

/// SHA-256 of a file, under the name `path`.
fn hash_file(file: &Path, path: String) -> std::io::Result<Hashed> {
    // Streamed: a session's capture under load is hundreds of megabytes.
    use std::io::Read;
    let mut hasher = Sha256::new();
    let mut f = std::fs::File::open(file)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(buf.get(..n).unwrap_or_default());
        bytes += n as u64;
    }
    Ok(Hashed {
        path,
        sha256: hex::encode(hasher.finalize()),
        bytes,
    })
}

/// Every regular file under `dir`, as `/`-separated paths relative to it, sorted.
pub(crate) fn files_under(dir: &Path) -> std::io::Result<Vec<String>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(base, &path, out)?;
            } else if kind.is_file()
                && let Ok(rel) = path.strip_prefix(base)
            {
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    if dir.is_dir() {
        walk(dir, dir, &mut out)?;
    }
    out.sort();
    Ok(out)
}

/// Hashes every evidence file of the run folder (all but the compliance files and
/// half-written `.tmp` files).
fn evidence_files(run_dir: &Path) -> std::io::Result<Vec<Hashed>> {
    files_under(run_dir)?
        .into_iter()
        .filter(|p| !FILES.contains(&p.as_str()) && !p.ends_with(".tmp"))
        .map(|p| hash_file(&run_dir.join(&p), p))
        .collect()
}

/// The suite's version: SHA-256 over the lines `<sha256>  <path>` (sorted by path) of every
/// file under the run's copy of its scenarios and fixtures. The same files give the same
/// version on any machine; any edit to a scenario or fixture gives another.
pub fn suite_hash(scenarios_dir: &Path) -> std::io::Result<String> {
    suite_hash_of(std::slice::from_ref(&scenarios_dir.to_path_buf()))
}

/// The suite version over several copies of scenarios (a merged run's, one per input):
/// the lines of every copy, each line once, so benches that ran the same files give the
/// version of those files, and one that ran another version of a file adds its line.
pub fn suite_hash_of(scenarios_dirs: &[PathBuf]) -> std::io::Result<String> {
    let mut lines = std::collections::BTreeSet::new();
    for dir in scenarios_dirs {
        for p in files_under(dir)? {
            let f = hash_file(&dir.join(&p), p)?;
            lines.insert((f.path, f.sha256));
        }
    }
    let mut h = Sha256::new();
    for (path, sha256) in lines {
        h.update(format!("{sha256}  {path}\n").as_bytes());
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// Writes `compliance.json` and `compliance.html` into the run folder.
pub fn write(run_dir: &Path, report: &RunReport) -> std::io::Result<Compliance> {
    let doc = build(run_dir, report)?;
    let json = serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?;
    super::write_atomic(&run_dir.join("compliance.json"), json.as_bytes())?;
    let page = render(&doc, report)
        .map_err(|e| std::io::Error::other(format!("compliance.html: {e:#}")))?;
    super::write_atomic(&run_dir.join("compliance.html"), page.as_bytes())?;
    Ok(doc)
}

fn render(doc: &Compliance, report: &RunReport) -> Result<String, minijinja::Error> {
    #[derive(Serialize)]
    struct Page<'a> {
        title: String,
        report: &'a RunReport,
        doc: &'a Compliance,
        counts: BTreeMap<&'static str, usize>,
    }
    let mut counts = BTreeMap::new();
    for r in &doc.requirements {
        *counts.entry(r.verdict.as_str()).or_insert(0) += 1;
    }
    let page = Page {
        title: format!("phonecert compliance {}", doc.run_id),
        report,
        doc,
        counts,
    };
    super::html::environment()?
        .get_template("compliance.html")?
        .render(minijinja::value::Serde(&page))
}

/// What `phonecert verify` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verification {
    /// Files whose hash matched.
    pub intact: usize,
    /// Files whose bytes changed: (path, recorded sha256, current sha256).
    pub changed: Vec<(String, String, String)>,
    /// Files recorded but gone.
    pub missing: Vec<String>,
    /// Files in the run folder that the record does not list.
    pub added: Vec<String>,
    /// Files the record says were edited after the run and then judged (`judge --write`):
    /// the hashes match, but the folder is not the run's own evidence any more.
    pub edited: Vec<super::EditedEvidence>,
    /// Every recorded capture is gone with its folder: the run folder was copied (or kept)
    /// without its captures. Not counted in `missing`.
    pub captures_absent: Option<CapturesAbsent>,
}

/// Every capture a run recorded, gone together with the folder that held them.
#[derive(Debug, PartialEq, Eq)]
pub struct CapturesAbsent {
    /// How many captures `compliance.json` records.
    pub count: usize,
    /// Their folders as recorded, relative to the output root (`captures/<run-id>/`).
    pub folders: Vec<String>,
}

impl Verification {
    /// Whether every recorded file is there unchanged and nothing was added.
    pub fn is_intact(&self) -> bool {
        self.changed.is_empty()
            && self.missing.is_empty()
            && self.captures_absent.is_none()
            && self.added.is_empty()
            && self.edited.is_empty()
    }

    /// Files recorded but gone, the absent captures included.
    pub fn missing_count(&self) -> usize {
        self.missing.len() + self.captures_absent.as_ref().map_or(0, |a| a.count)
    }

    /// One line per finding: `changed: timelines/REG-002.json (sha256 ab12… → cd34…)`.
    pub fn lines(&self) -> Vec<String> {
        let short = |h: &str| h.get(..12).unwrap_or(h).to_string();
        let mut out = Vec::new();
        for (p, was, now) in &self.changed {
            out.push(format!(
                "changed: {p} (sha256 {}… recorded, {}… now)",
                short(was),
                short(now)
            ));
        }
        for e in &self.edited {
            out.push(format!(
                "edited after the run, then judged with judge --write: {} (sha256 {}… at the run, {}… judged)",
                e.path,
                short(&e.recorded_sha256),
                short(&e.judged_sha256)
            ));
        }
        out.extend(self.missing.iter().map(|p| format!("missing: {p}")));
        if let Some(a) = &self.captures_absent {
            out.push(format!(
                "missing: all {} capture(s), with their folder {} (found from the run folder as ../../{}): the run folder was copied without its captures? `phonecert verify --no-captures` checks the rest",
                a.count,
                a.folders.join(", "),
                a.folders.first().map_or("captures/", String::as_str)
            ));
        }
        out.extend(
            self.added
                .iter()
                .map(|p| format!("added: {p} (not in compliance.json)")),
        );
        out
    }
}

/// Why a run folder cannot be verified at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No readable `compliance.json`.
    #[error("cannot read {path}: {why}")]
    Record {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
}

/// Reads a run folder's `compliance.json`.
pub fn read(run_dir: &Path) -> Result<Compliance, VerifyError> {
    let path = run_dir.join("compliance.json");
    let bytes = std::fs::read(&path).map_err(|e| VerifyError::Record {
        path: path.clone(),
        why: e.to_string(),
    })?;
    let doc: Compliance = serde_json::from_slice(&bytes).map_err(|e| VerifyError::Record {
        path: path.clone(),
        why: e.to_string(),
    })?;
    if doc.schema != SCHEMA {
        return Err(VerifyError::Record {
            path,
            why: format!("schema `{}`, expected `{SCHEMA}`", doc.schema),
        });
    }
    Ok(doc)
}

/// Re-checks every hash `compliance.json` records: the run folder's files, and (with
/// `captures`) the captures through the output root.
pub fn verify(run_dir: &Path, captures: bool) -> Result<Verification, VerifyError> {
    let doc = read(run_dir)?;
    let mut v = Verification {
        edited: doc.edited_after_run.clone(),
        ..Verification::default()
    };
    let check = |v: &mut Verification, file: PathBuf, rec: &Hashed| match std::fs::read(&file) {
        Ok(bytes) => {
            let now = hex::encode(Sha256::digest(&bytes));
            if now == rec.sha256 {
                v.intact += 1;
            } else {
                v.changed.push((rec.path.clone(), rec.sha256.clone(), now));
            }
        }
        Err(_) => v.missing.push(rec.path.clone()),
    };
    for rec in &doc.evidence {
        check(&mut v, run_dir.join(&rec.path), rec);
    }
    if captures {
        // A folder copied without its captures misses every one: said once, not per file.
        let mut gone = Vec::new();
        let mut a_folder_is_there = false;
        for rec in &doc.captures {
            match crate::run_folder::capture_file(run_dir, &rec.path) {
                Ok(file) if file.exists() => check(&mut v, file, rec),
                Ok(file) => {
                    a_folder_is_there |= file.parent().is_some_and(Path::is_dir);
                    gone.push(rec.path.clone());
                }
                Err(_) => gone.push(rec.path.clone()),
            }
        }
        if !gone.is_empty() && gone.len() == doc.captures.len() && !a_folder_is_there {
            let folders: std::collections::BTreeSet<String> = gone
                .iter()
                .map(|p| {
                    Path::new(p)
                        .parent()
                        .map_or_else(|| p.clone(), |d| format!("{}/", d.display()))
                })
                .collect();
            v.captures_absent = Some(CapturesAbsent {
                count: gone.len(),
                folders: folders.into_iter().collect(),
            });
        } else {
            v.missing.extend(gone);
        }
    }
    let listed: std::collections::BTreeSet<&str> =
        doc.evidence.iter().map(|h| h.path.as_str()).collect();
    v.added = files_under(run_dir)
        .map_err(|e| VerifyError::Record {
            path: run_dir.to_path_buf(),
            why: e.to_string(),
        })?
        .into_iter()
        .filter(|p| {
            !FILES.contains(&p.as_str()) && !p.ends_with(".tmp") && !listed.contains(p.as_str())
        })
        .collect();
    Ok(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::report::tests::{check, sample};

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pc-compliance-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("scenarios/S-1/boot")).unwrap();
        d
    }

    #[test]
    fn a_requirement_passes_only_when_every_check_of_it_passed() {
        let mut r = sample();
        let mut a = check("A-1", Verdict::Pass);
        a.requirement = "RFC 1".into();
        let mut b = check("A-2", Verdict::NotExercised);
        b.requirement = "RFC 1".into();
        let mut c = check("A-3", Verdict::Pass);
        c.requirement = "RFC 2".into();
        c.level = crate::scenario::Level::Should;
        r.scenarios[0].checks = vec![a, b, c];
        let dir = scratch("matrix");
        let doc = build(&dir, &r).unwrap();
        let rows: Vec<_> = doc
            .requirements
            .iter()
            .map(|r| (r.requirement.as_str(), r.level.as_str(), r.verdict))
            .collect();
        assert_eq!(
            rows,
            [
                ("RFC 1", "must", Verdict::NotExercised),
                ("RFC 2", "should", Verdict::Pass)
            ]
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn verify_names_what_changed_went_missing_or_was_added() {
        let dir = scratch("verify");
        std::fs::write(dir.join("report.json"), "{}").unwrap();
        std::fs::write(dir.join("scenarios/S-1/boot/s.toml"), "id = 1").unwrap();
        std::fs::write(dir.join("junit.xml"), "<x/>").unwrap();
        let doc = write(&dir, &sample()).unwrap();
        assert_eq!(doc.evidence.len(), 3);
        assert!(doc.suite_version.starts_with("sha256:"));
        let v = verify(&dir, true).unwrap();
        assert!(v.is_intact(), "{v:?}");
        assert_eq!(v.intact, 3);
        // Rewriting the compliance files is no change to the evidence.
        write(&dir, &sample()).unwrap();
        assert!(verify(&dir, true).unwrap().is_intact());
        std::fs::write(dir.join("report.json"), "{ }").unwrap();
        std::fs::remove_file(dir.join("junit.xml")).unwrap();
        std::fs::write(dir.join("extra.txt"), "x").unwrap();
        let v = verify(&dir, true).unwrap();
        assert_eq!(v.changed.len(), 1);
        assert_eq!(v.changed[0].0, "report.json");
        assert_eq!(v.missing, ["junit.xml"]);
        assert_eq!(v.added, ["extra.txt"]);
        let lines = v.lines();
        assert!(
            lines[0].starts_with("changed: report.json (sha256 "),
            "{lines:?}"
        );
        // The suite's version follows its files.
        let before = suite_hash(&dir.join("scenarios")).unwrap();
        std::fs::write(dir.join("scenarios/S-1/boot/s.toml"), "id = 2").unwrap();
        assert_ne!(before, suite_hash(&dir.join("scenarios")).unwrap());
        std::fs::remove_file(dir.join("compliance.json")).unwrap();
        let e = verify(&dir, true).unwrap_err();
        assert!(e.to_string().contains("compliance.json"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_run_folder_without_its_captures_is_said_once_not_per_capture() {
        // An output root with the run folder and its captures, as a run leaves them.
        let root = std::env::temp_dir().join(format!("pc-compliance-nocap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let run = root.join("reports/r1");
        std::fs::create_dir_all(run.join("scenarios/S-1/boot")).unwrap();
        std::fs::create_dir_all(root.join("captures/r1")).unwrap();
        let mut r = sample();
        let mut second = r.scenarios[0].clone();
        second.id = "S-2".into();
        second.capture = Some("captures/r1/S-2.pcapng".into());
        r.scenarios.push(second);
        for id in ["S-1", "S-2"] {
            std::fs::write(root.join(format!("captures/r1/{id}.pcapng")), id).unwrap();
        }
        std::fs::write(run.join("report.json"), "{}").unwrap();
        let doc = write(&run, &r).unwrap();
        assert_eq!(doc.captures.len(), 2);
        assert!(verify(&run, true).unwrap().is_intact());

        // One capture removed: named as before.
        std::fs::remove_file(root.join("captures/r1/S-2.pcapng")).unwrap();
        let v = verify(&run, true).unwrap();
        assert_eq!(v.missing, ["captures/r1/S-2.pcapng"]);
        assert_eq!(v.captures_absent, None);

        // The folder gone with every capture: one line that says what it likely is.
        std::fs::remove_dir_all(root.join("captures")).unwrap();
        let v = verify(&run, true).unwrap();
        assert!(!v.is_intact());
        assert!(v.missing.is_empty(), "{v:?}");
        assert_eq!(
            v.captures_absent,
            Some(CapturesAbsent {
                count: 2,
                folders: vec!["captures/r1/".into()]
            })
        );
        assert_eq!(v.missing_count(), 2);
        assert_eq!(
            v.lines(),
            [
                "missing: all 2 capture(s), with their folder captures/r1/ (found from the run folder as ../../captures/r1/): the run folder was copied without its captures? `phonecert verify --no-captures` checks the rest"
            ]
        );
        assert!(verify(&run, false).unwrap().is_intact());
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn the_wire_identity_comes_from_user_agents_and_dhcp() {
        let mut tl = Timeline::default();
        let obj = |v: serde_json::Value| v.as_object().cloned().unwrap();
        tl.push_fields(
            0.1,
            Proto::Dhcp,
            "received".into(),
            obj(serde_json::json!({"client_mac": "00:1b:4f:00:00:01", "hostname": "AVX000001"})),
        );
        tl.push_fields(
            0.2,
            Proto::Http,
            "request".into(),
            obj(serde_json::json!({"user_agent": "AVAYA/96x0-IPT-SIP-2.6.0.1 9620"})),
        );
        tl.push_fields(
            0.3,
            Proto::Sip,
            "request".into(),
            obj(serde_json::json!({"user_agent": "Avaya one-X Deskphone 2.6.1.0 001b4f000001"})),
        );
        let id = wire_identity(&[tl]);
        assert_eq!(id.macs, ["00:1b:4f:00:00:01"]);
        assert_eq!(id.model.as_deref(), Some("9620"));
        assert_eq!(id.firmware_before.as_deref(), Some("2.6.0.1"));
        assert_eq!(id.firmware_after.as_deref(), Some("2.6.1.0"));
        assert_eq!(id.dhcp_host_names, ["AVX000001"]);
        assert_eq!(id.sip_user_agents.len(), 1);
    }
}
