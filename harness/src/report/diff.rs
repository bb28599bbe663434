//! `phonecert diff RUN_A RUN_B`: check-by-check changes between two runs (firmware A vs
//! firmware B, or a provisioning change before and after), as text, JSON or HTML.
//!
//! Owns: pairing the checks of two reports by (scenario, check id), classifying each change
//! — a new failure (passed in A; fails, errs, is not exercised or is missing in B: a run cut
//! short or run over fewer scenarios is no evidence that B still passes), fixed, otherwise
//! changed, only in A, only in B — and ordering them new failures first.
//!
//! Never: judges (both sides are what their `report.json` says), or reads anything but the
//! two reports and their compliance records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::RunReport;
use crate::judge::Verdict;

/// The schema identifier of `diff --format json`.
pub const SCHEMA: &str = "phonecert.diff/1";
/// The HTML template.
pub(crate) const TEMPLATE: &str = include_str!("templates/diff.html");

/// How a check changed from A to B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Passed in A; fails, errs, is not exercised or is missing in B.
    NewFailure,
    /// Another change of verdict (fail → not exercised, pass → skip, …).
    Changed,
    /// Did not pass in A, passes in B.
    Fixed,
    /// Only in B (a scenario or check A did not have).
    OnlyInB,
    /// Only in A, where it did not pass (a check that passed in A and is missing in B is a
    /// [`ChangeKind::NewFailure`]).
    OnlyInA,
}

impl ChangeKind {
    /// The heading the text and HTML forms use.
    pub fn heading(self) -> &'static str {
        match self {
            ChangeKind::NewFailure => "new failures",
            ChangeKind::Changed => "changed",
            ChangeKind::Fixed => "fixed",
            ChangeKind::OnlyInB => "only in B",
            ChangeKind::OnlyInA => "only in A",
        }
    }
}

/// One run as the diff names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// The run folder as given.
    pub path: String,
    /// Its run id.
    pub run_id: String,
    /// The device in words.
    pub dut: String,
    /// The firmware it announced last, if any.
    pub firmware: Option<String>,
    /// Scenario counts.
    pub summary: super::Summary,
    /// Whether the run was interrupted before its last scenario ended.
    #[serde(default)]
    pub interrupted: bool,
}

/// One changed check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// What kind of change.
    pub kind: ChangeKind,
    /// Scenario id.
    pub scenario: String,
    /// Check id.
    pub check: String,
    /// Check title (B's when both have it).
    pub title: String,
    /// Requirement.
    pub requirement: String,
    /// The verdict in A.
    pub a: Option<Verdict>,
    /// The verdict in B.
    pub b: Option<Verdict>,
    /// What A observed.
    pub a_observed: Option<String>,
    /// What B observed.
    pub b_observed: Option<String>,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDiff {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The first run.
    pub a: Side,
    /// The second run.
    pub b: Side,
    /// Every changed check, new failures first, then by scenario and check.
    pub changes: Vec<Change>,
    /// Checks with the same verdict in both.
    pub unchanged: usize,
}

impl RunDiff {
    /// Whether something that passed in A fails in B (exit 1).
    pub fn has_new_failures(&self) -> bool {
        self.changes
            .iter()
            .any(|c| c.kind == ChangeKind::NewFailure)
    }

    /// How many changes of each kind.
    pub fn count(&self, kind: ChangeKind) -> usize {
        self.changes.iter().filter(|c| c.kind == kind).count()
    }
}

/// Why two runs cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A report that cannot be read.
    #[error("cannot read {path}: {why}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// A run folder whose files are not those its compliance record lists.
    #[error("{path} was {what} after the run (compliance.json records it); not compared")]
    Tampered {
        /// The file.
        path: PathBuf,
        /// `changed` or `missing`.
        what: &'static str,
    },
}

/// Reads a run folder's report for comparison: its files must be as the run left them
/// (when it has a compliance record; a run from before such records is taken as it is).
pub fn load(run_dir: &Path) -> Result<RunReport, DiffError> {
    if run_dir.join("compliance.json").is_file() {
        let v = super::compliance::verify(run_dir, false).map_err(|e| DiffError::Unreadable {
            path: run_dir.join("compliance.json"),
            why: e.to_string(),
        })?;
        if let Some((p, _, _)) = v.changed.first() {
            return Err(DiffError::Tampered {
                path: run_dir.join(p),
                what: "changed",
            });
        }
        if let Some(p) = v.missing.first() {
            return Err(DiffError::Tampered {
                path: run_dir.join(p),
                what: "removed",
            });
        }
    }
    let path = run_dir.join("report.json");
    let bytes = std::fs::read(&path).map_err(|e| DiffError::Unreadable {
        path: path.clone(),
        why: e.to_string(),
    })?;
    let report: RunReport = serde_json::from_slice(&bytes).map_err(|e| DiffError::Unreadable {
        path: path.clone(),
        why: e.to_string(),
    })?;
    if report.schema != super::SCHEMA {
        return Err(DiffError::Unreadable {
            path,
            why: format!("schema `{}`, expected `{}`", report.schema, super::SCHEMA),
        });
    }
    Ok(report)
}

fn side(path: &Path, r: &RunReport) -> Side {
    Side {
        path: path.display().to_string(),
        run_id: r.run_id.clone(),
        dut: r.dut.describe(),
        firmware: r.dut.firmware_observed.clone(),
        summary: r.summary,
        interrupted: r.interrupted,
    }
}

fn failing(v: Verdict) -> bool {
    matches!(v, Verdict::Fail | Verdict::Error | Verdict::NotExercised)
}

/// Compares two reports check by check.
pub fn compare(a_path: &Path, a: &RunReport, b_path: &Path, b: &RunReport) -> RunDiff {
    type Key = (String, String);
    let index = |r: &RunReport| -> BTreeMap<Key, (String, String, Verdict, String)> {
        r.scenarios
            .iter()
            .flat_map(|s| {
                s.checks.iter().map(move |c| {
                    (
                        (s.id.clone(), c.id.clone()),
                        (
                            c.title.clone(),
                            c.requirement.clone(),
                            c.verdict,
                            c.observed.clone(),
                        ),
                    )
                })
            })
            .collect()
    };
    let ia = index(a);
    let ib = index(b);
    let mut changes = Vec::new();
    let mut unchanged = 0;
    let keys: std::collections::BTreeSet<&Key> = ia.keys().chain(ib.keys()).collect();
    for key in keys {
        let (scenario, check) = key.clone();
        let ca = ia.get(key);
        let cb = ib.get(key);
        let kind = match (ca, cb) {
            (Some(x), Some(y)) if x.2 == y.2 => {
                unchanged += 1;
                continue;
            }
            (Some(x), Some(y)) if x.2 == Verdict::Pass && failing(y.2) => ChangeKind::NewFailure,
            (Some(_), Some(y)) if y.2 == Verdict::Pass => ChangeKind::Fixed,
            (Some(_), Some(_)) => ChangeKind::Changed,
            (None, Some(_)) => ChangeKind::OnlyInB,
            (Some(x), None) if x.2 == Verdict::Pass => ChangeKind::NewFailure,
            (Some(_), None) => ChangeKind::OnlyInA,
            (None, None) => continue,
        };
        let named = cb.or(ca);
        changes.push(Change {
            kind,
            scenario,
            check,
            title: named.map(|n| n.0.clone()).unwrap_or_default(),
            requirement: named.map(|n| n.1.clone()).unwrap_or_default(),
            a: ca.map(|x| x.2),
            b: cb.map(|y| y.2),
            a_observed: ca.map(|x| x.3.clone()),
            b_observed: cb.map(|y| y.3.clone()),
        });
    }
    changes.sort_by(|x, y| (x.kind, &x.scenario, &x.check).cmp(&(y.kind, &y.scenario, &y.check)));
    RunDiff {
        schema: SCHEMA.into(),
        a: side(a_path, a),
        b: side(b_path, b),
        changes,
        unchanged,
    }
}

/// The text form: the two runs, then each kind of change under its heading.
pub fn text(d: &RunDiff) -> String {
    let v = |x: Option<Verdict>| x.map_or("—", Verdict::as_str);
    let who = |s: &Side| {
        format!(
            "{} ({}{}){}",
            s.run_id,
            s.dut,
            s.firmware
                .as_deref()
                .map(|f| format!(", firmware {f}"))
                .unwrap_or_default(),
            if s.interrupted {
                " — interrupted: not every scenario ran"
            } else {
                ""
            }
        )
    };
    let mut out = format!("A: {}\nB: {}\n", who(&d.a), who(&d.b));
    for kind in [
        ChangeKind::NewFailure,
        ChangeKind::Changed,
        ChangeKind::Fixed,
        ChangeKind::OnlyInB,
        ChangeKind::OnlyInA,
    ] {
        let of: Vec<&Change> = d.changes.iter().filter(|c| c.kind == kind).collect();
        if of.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{} ({}):\n", kind.heading(), of.len()));
        for c in of {
            out.push_str(&format!(
                "  {}  {} → {}  {} — {}\n",
                c.check,
                v(c.a),
                v(c.b),
                c.title,
                c.requirement
            ));
            if kind == ChangeKind::NewFailure || kind == ChangeKind::Changed {
                if let Some(o) = &c.a_observed {
                    out.push_str(&format!("      A observed {o}\n"));
                }
                if let Some(o) = &c.b_observed {
                    out.push_str(&format!("      B observed {o}\n"));
                }
            }
        }
    }
    out.push_str(&format!(
        "\n{} new failure(s), {} changed, {} fixed, {} only in B, {} only in A, {} unchanged\n",
        d.count(ChangeKind::NewFailure),
        d.count(ChangeKind::Changed),
        d.count(ChangeKind::Fixed),
        d.count(ChangeKind::OnlyInB),
        d.count(ChangeKind::OnlyInA),
        d.unchanged
    ));
    out
}

/// The HTML form (one self-contained page, like the run's reports).
pub fn html(d: &RunDiff) -> Result<String, minijinja::Error> {
    #[derive(Serialize)]
    struct Group<'a> {
        heading: &'static str,
        kind: ChangeKind,
        changes: Vec<&'a Change>,
    }
    #[derive(Serialize)]
    struct Page<'a> {
        title: String,
        report: BTreeMap<&'static str, String>,
        d: &'a RunDiff,
        groups: Vec<Group<'a>>,
    }
    let groups = [
        ChangeKind::NewFailure,
        ChangeKind::Changed,
        ChangeKind::Fixed,
        ChangeKind::OnlyInB,
        ChangeKind::OnlyInA,
    ]
    .into_iter()
    .map(|kind| Group {
        heading: kind.heading(),
        kind,
        changes: d.changes.iter().filter(|c| c.kind == kind).collect(),
    })
    .filter(|g| !g.changes.is_empty())
    .collect();
    let mut report = BTreeMap::new();
    report.insert("phonecert_version", env!("CARGO_PKG_VERSION").to_string());
    let page = Page {
        title: format!("phonecert diff {} → {}", d.a.run_id, d.b.run_id),
        report,
        d,
        groups,
    };
    super::html::environment()?
        .get_template("diff.html")?
        .render(minijinja::value::Serde(&page))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::report::tests::{check, sample};

    #[test]
    fn new_failures_come_first_and_each_kind_is_told_apart() {
        let a = sample(); // C-1 pass, C-2 fail
        let mut b = sample();
        b.scenarios[0].checks[0].verdict = Verdict::NotExercised; // pass → not exercised
        b.scenarios[0].checks[1].verdict = Verdict::Pass; // fail → pass
        b.scenarios[0].checks.push(check("C-3", Verdict::Pass));
        let d = compare(Path::new("a"), &a, Path::new("b"), &b);
        let got: Vec<_> = d
            .changes
            .iter()
            .map(|c| (c.kind, c.check.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (ChangeKind::NewFailure, "C-1"),
                (ChangeKind::Fixed, "C-2"),
                (ChangeKind::OnlyInB, "C-3")
            ]
        );
        assert!(d.has_new_failures());
        let t = text(&d);
        assert!(
            t.find("new failures (1)").unwrap() < t.find("fixed (1)").unwrap(),
            "{t}"
        );
        assert!(
            t.contains("  C-1  pass → not_exercised  t — RFC 2131 §4.3"),
            "{t}"
        );
        assert!(
            t.ends_with(
                "1 new failure(s), 0 changed, 1 fixed, 1 only in B, 0 only in A, 0 unchanged\n"
            ),
            "{t}"
        );
        // The other way round: C-2 passed in B and fails in A, and C-3 passed in B and is
        // missing from A — both are new failures; C-1 is fixed.
        let back = compare(Path::new("b"), &b, Path::new("a"), &a);
        let new: Vec<_> = back
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::NewFailure)
            .map(|c| (c.check.as_str(), c.b))
            .collect();
        assert_eq!(new, [("C-2", Some(Verdict::Fail)), ("C-3", None)]);
        let same = compare(Path::new("a"), &a, Path::new("a"), &a);
        assert!(same.changes.is_empty() && !same.has_new_failures());
        assert_eq!(same.unchanged, 2);
        let page = html(&d).unwrap();
        assert!(page.contains("new failures") && page.contains("C-1"));
    }

    #[test]
    fn a_run_cut_short_is_no_evidence_that_what_passed_still_passes() {
        let a = sample(); // C-1 pass, C-2 fail
        let mut b = sample();
        b.scenarios[0].checks.clear();
        b.interrupted = true;
        let d = compare(Path::new("a"), &a, Path::new("b"), &b);
        let kinds: Vec<_> = d
            .changes
            .iter()
            .map(|c| (c.kind, c.check.as_str()))
            .collect();
        // C-1 passed and was not run in B: a new failure; C-2 never passed: only in A.
        assert_eq!(
            kinds,
            [
                (ChangeKind::NewFailure, "C-1"),
                (ChangeKind::OnlyInA, "C-2")
            ]
        );
        assert!(d.has_new_failures());
        let t = text(&d);
        assert!(t.contains("interrupted: not every scenario ran"), "{t}");
        assert!(t.contains("  C-1  pass → —  "), "{t}");
    }
}
