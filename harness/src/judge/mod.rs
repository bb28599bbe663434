//! The judge: scenario checks × timeline → verdicts. Pure functions only.
//!
//! Owns: what each check kind means, the verdict vocabulary and the wording of
//! "expected … / observed …" that reports show.
//!
//! Never: touches the network, the clock or the file system. A saved run (its timeline and
//! lab variables) can be judged again later with the same result.
//!
//! A verdict keeps the phone's fault apart from ours (model: rustls' `PeerMisbehaved`):
//! `fail` carries a named [`Violation`] of the phone; `not_exercised` says an earlier step
//! went another way so this one never came up; `error` is a harness or scenario problem.

mod matcher;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scenario::vars::Vars;
use crate::scenario::{CheckSpec, Level, ScenarioSpec};
use crate::timeline::{Event, Timeline};

pub use matcher::{Mismatch, match_event};

/// The outcome of one check or scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The phone did what the requirement says.
    Pass,
    /// The phone did not conform.
    Fail,
    /// What the check judges never came up (an earlier step went another way).
    NotExercised,
    /// The harness or the scenario could not judge it.
    Error,
    /// Not run.
    Skip,
}

impl Verdict {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NotExercised => "not_exercised",
            Verdict::Error => "error",
            Verdict::Skip => "skip",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the phone misbehaved, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "violation", rename_all = "snake_case")]
pub enum Violation {
    /// The expected event never happened in the window.
    Missing,
    /// It happened, but after the window closed.
    TooLate {
        /// Seconds after the window opened.
        after_s: f64,
        /// The window length.
        within_s: f64,
    },
    /// An event that must not happen did.
    Forbidden,
    /// Too few or too many matching events.
    WrongCount {
        /// How many matched.
        seen: u32,
    },
}

/// The verdict of one check with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Check id.
    pub id: String,
    /// Check title.
    pub title: String,
    /// Requirement reference.
    pub requirement: String,
    /// must / should.
    pub level: Level,
    /// The verdict.
    pub verdict: Verdict,
    /// What the check expected, in words.
    pub expected: String,
    /// What was observed, in words (with event indices and times).
    pub observed: String,
    /// The named misbehaviour when the verdict is `fail`.
    #[serde(default, skip_serializing_if = "Option::is_none", flatten)]
    pub violation: Option<Violation>,
    /// Timeline indices of the events the verdict rests on.
    pub events: Vec<usize>,
    /// Capture frames of those events, when linked.
    pub frames: Vec<u64>,
}

impl CheckResult {
    /// `OPT242-003 fail: expected …; observed …` — the one-line form for terminals.
    pub fn line(&self) -> String {
        format!(
            "{} {}: expected {}; observed {}",
            self.id, self.verdict, self.expected, self.observed
        )
    }
}

/// Judges every check of a scenario against a timeline. Checks are returned in file order.
pub fn judge(spec: &ScenarioSpec, timeline: &Timeline, vars: &Vars) -> Vec<CheckResult> {
    let mut done: BTreeMap<String, (CheckResult, Option<usize>)> = BTreeMap::new();
    for c in &spec.checks {
        judge_with_deps(spec, c, timeline, vars, &mut done, 0);
    }
    spec.checks
        .iter()
        .filter_map(|c| done.remove(&c.id).map(|(r, _)| r))
        .collect()
}

/// Whether a single check has passed yet (the engine uses this to end a run early).
pub fn check_passed(spec: &ScenarioSpec, id: &str, timeline: &Timeline, vars: &Vars) -> bool {
    let mut done = BTreeMap::new();
    spec.checks
        .iter()
        .find(|c| c.id == id)
        .map(|c| judge_with_deps(spec, c, timeline, vars, &mut done, 0).verdict == Verdict::Pass)
        .unwrap_or(false)
}

/// The scenario verdict from its checks: any failing `must` check (or one never exercised)
/// fails it; an error anywhere makes it an error; `should` checks only inform.
pub fn scenario_verdict(results: &[CheckResult]) -> Verdict {
    if results.iter().any(|r| r.verdict == Verdict::Error) {
        return Verdict::Error;
    }
    let must = results.iter().filter(|r| r.level == Level::Must);
    if must
        .clone()
        .any(|r| matches!(r.verdict, Verdict::Fail | Verdict::NotExercised))
    {
        return Verdict::Fail;
    }
    if results.is_empty() {
        return Verdict::Error;
    }
    Verdict::Pass
}

fn judge_with_deps(
    spec: &ScenarioSpec,
    c: &CheckSpec,
    tl: &Timeline,
    vars: &Vars,
    done: &mut BTreeMap<String, (CheckResult, Option<usize>)>,
    depth: usize,
) -> CheckResult {
    if let Some((r, _)) = done.get(&c.id) {
        return r.clone();
    }
    // The anchor: where this check's window opens.
    let anchor: Result<Option<(String, usize)>, CheckResult> = match &c.after {
        None => Ok(None),
        Some(dep_id) => match spec.checks.iter().find(|d| &d.id == dep_id) {
            None => Err(error(
                c,
                format!("check refers to unknown check `{dep_id}`"),
            )),
            Some(_) if depth > spec.checks.len() => {
                Err(error(c, "`after` references form a cycle".into()))
            }
            Some(dep) => {
                judge_with_deps(spec, dep, tl, vars, done, depth + 1);
                match done.get(dep_id) {
                    Some((_, Some(ev))) => Ok(Some((dep_id.clone(), *ev))),
                    _ => Err(not_exercised(c, dep_id)),
                }
            }
        },
    };
    let (result, matched) = match anchor {
        Err(r) => (r, None),
        Ok(anchor) => judge_one(
            c,
            tl,
            vars,
            anchor.as_ref().map(|(id, i)| (id.as_str(), &tl.events[*i])),
        ),
    };
    done.insert(c.id.clone(), (result.clone(), matched));
    result
}

fn base(c: &CheckSpec, verdict: Verdict, expected: String, observed: String) -> CheckResult {
    CheckResult {
        id: c.id.clone(),
        title: c.title.clone(),
        requirement: c.requirement.clone(),
        level: c.level,
        verdict,
        expected,
        observed,
        violation: None,
        events: Vec::new(),
        frames: Vec::new(),
    }
}

fn error(c: &CheckSpec, why: String) -> CheckResult {
    base(c, Verdict::Error, describe(c, None, &Vars::new()), why)
}

fn not_exercised(c: &CheckSpec, dep: &str) -> CheckResult {
    base(
        c,
        Verdict::NotExercised,
        describe(c, None, &Vars::new()),
        format!("not exercised: `{dep}` found no event, so this step never came up"),
    )
}

/// "DHCP received msg_type = DISCOVER, within 30 s after BOOT-01 (+1.20 s)".
fn describe(c: &CheckSpec, anchor: Option<(&str, &Event)>, vars: &Vars) -> String {
    let mut s = String::new();
    if c.absent {
        s.push_str("no ");
    }
    s.push_str(&format!("{} {}", c.proto.as_str().to_uppercase(), c.event));
    let conds: Vec<String> = c
        .matchers
        .iter()
        .map(|(k, m)| matcher::describe(k, m, vars))
        .collect();
    if !conds.is_empty() {
        s.push_str(&format!(" with {}", conds.join(", ")));
    }
    if let Some(count) = c.count {
        match (count.min, count.max) {
            (Some(a), Some(b)) if a == b => s.push_str(&format!(", exactly {a} time(s)")),
            (Some(a), Some(b)) => s.push_str(&format!(", {a} to {b} times")),
            (Some(a), None) => s.push_str(&format!(", at least {a} time(s)")),
            (None, Some(b)) => s.push_str(&format!(", at most {b} time(s)")),
            (None, None) => {}
        }
    }
    if let Some(w) = c.within {
        s.push_str(&format!(", within {w} s"));
    }
    match (anchor, &c.after) {
        (Some((id, ev)), _) => s.push_str(&format!(
            " after {id} (event #{} at +{:.3} s)",
            ev.index, ev.t
        )),
        (None, Some(id)) => s.push_str(&format!(" after {id}")),
        (None, None) => s.push_str(if c.within.is_some() {
            " of the scenario start"
        } else {
            ""
        }),
    }
    s
}

fn judge_one(
    c: &CheckSpec,
    tl: &Timeline,
    vars: &Vars,
    anchor: Option<(&str, &Event)>,
) -> (CheckResult, Option<usize>) {
    let expected = describe(c, anchor, vars);
    let (start_idx, start_t) = anchor.map_or((0, 0.0), |(_, e)| (e.index + 1, e.t));
    let candidates: Vec<&Event> = tl
        .events
        .iter()
        .skip(start_idx)
        .filter(|e| e.proto == c.proto && e.kind == c.event)
        .collect();
    let matching: Vec<&Event> = candidates
        .iter()
        .copied()
        .filter(|e| match_event(e, &c.matchers, vars).is_ok())
        .collect();
    let in_window: Vec<&Event> = matching
        .iter()
        .copied()
        .filter(|e| c.within.is_none_or(|w| e.t - start_t <= w + 1e-9))
        .collect();

    let evidence = |evs: &[&Event]| -> (Vec<usize>, Vec<u64>) {
        (
            evs.iter().map(|e| e.index).collect(),
            evs.iter().flat_map(|e| e.frames.iter().copied()).collect(),
        )
    };

    if c.absent {
        return match in_window.first() {
            None => {
                let r = base(
                    c,
                    Verdict::Pass,
                    expected,
                    format!(
                        "none among {} {} event(s) in the window",
                        candidates.len(),
                        c.event
                    ),
                );
                (r, None)
            }
            Some(first) => {
                let mut r = base(
                    c,
                    Verdict::Fail,
                    expected,
                    format!("{} (+{:.3} s)", at(first), first.t - start_t),
                );
                r.violation = Some(Violation::Forbidden);
                (
                    r.with_evidence(evidence(&in_window[..1])),
                    Some(first.index),
                )
            }
        };
    }

    if let Some(count) = c.count {
        let n = u32::try_from(in_window.len()).unwrap_or(u32::MAX);
        let ok = count.min.is_none_or(|m| n >= m) && count.max.is_none_or(|m| n <= m);
        let observed = format!(
            "{n} matching event(s){}",
            if in_window.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    in_window
                        .iter()
                        .map(|e| format!("#{}", e.index))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        let mut r = base(
            c,
            if ok { Verdict::Pass } else { Verdict::Fail },
            expected,
            observed,
        );
        if !ok {
            r.violation = Some(Violation::WrongCount { seen: n });
        }
        let first = in_window.first().map(|e| e.index);
        return (r.with_evidence(evidence(&in_window)), first);
    }

    match (in_window.first(), matching.first()) {
        (Some(ev), _) => {
            let r = base(
                c,
                Verdict::Pass,
                expected,
                format!("{} (+{:.3} s)", at(ev), ev.t - start_t),
            );
            (r.with_evidence(evidence(&[ev])), Some(ev.index))
        }
        (None, Some(late)) => {
            let after_s = late.t - start_t;
            let within_s = c.within.unwrap_or(0.0);
            let mut r = base(
                c,
                Verdict::Fail,
                expected,
                format!("{}, {after_s:.3} s after the window opened", at(late)),
            );
            r.violation = Some(Violation::TooLate { after_s, within_s });
            (r.with_evidence(evidence(&[late])), None)
        }
        (None, None) => {
            let observed = match candidates.first() {
                None => format!(
                    "no {} {} event at all after the window opened",
                    c.proto, c.event
                ),
                Some(near) => {
                    let why = match_event(near, &c.matchers, vars)
                        .err()
                        .map(|m| m.to_string())
                        .unwrap_or_default();
                    format!(
                        "{} {} event(s), none matching; first: {} — {why}",
                        candidates.len(),
                        c.event,
                        at(near)
                    )
                }
            };
            let mut r = base(c, Verdict::Fail, expected, observed);
            r.violation = Some(Violation::Missing);
            let near: Vec<&Event> = candidates.into_iter().take(1).collect();
            (r.with_evidence(evidence(&near)), None)
        }
    }
}

fn at(e: &Event) -> String {
    let frames = if e.frames.is_empty() {
        String::new()
    } else {
        format!(
            ", frame {}",
            e.frames
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join("/")
        )
    };
    format!(
        "{} at {:.3} s (event #{}{frames})",
        e.summary(),
        e.t,
        e.index
    )
}

impl CheckResult {
    fn with_evidence(mut self, (events, frames): (Vec<usize>, Vec<u64>)) -> Self {
        self.events = events;
        self.frames = frames;
        self
    }
}

#[cfg(test)]
mod tests;
