//! The judge: scenario checks × timeline → verdicts. Pure functions only.
//!
//! Owns: what each check kind means, the verdict vocabulary and the wording of
//! "expected … / observed …" that reports show.
//!
//! Never: touches the network, the clock or the file system. A saved run (its timeline, lab
//! variables and time scale) can be judged again later with the same result.
//!
//! A verdict keeps the phone's fault apart from ours (model: rustls' `PeerMisbehaved`):
//! `fail` carries a named [`Violation`] of the phone; `not_exercised` says an earlier step
//! went another way so this one never came up; `error` is a harness or scenario problem.
//!
//! Time: scenario windows are written in the phone's time. A run with `--time-scale F` runs
//! the phone's timers F times faster, so an event `d` real seconds after the window opened
//! is `d × F` seconds in phone time; every comparison and every reported offset uses phone
//! time.

mod matcher;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scenario::vars::Vars;
use crate::scenario::{CheckKind, CheckSpec, Level, ScenarioSpec, ValueFrom};
use crate::timeline::{Event, Proto, Timeline};

pub use matcher::{Mismatch, match_event};

/// Slack for float comparisons of seconds (1 ms).
const EPS: f64 = 1e-3;

/// What the judge needs besides the scenario and the timeline.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// Lab variables (`${server_ip}` …).
    pub vars: &'a Vars,
    /// Phone seconds per real second (`--time-scale`); 1 for real phones.
    pub time_scale: f64,
    /// The protocols the device under test takes part in; checks on others are not
    /// exercised (a plain DHCP client fetches no files). `None`: all of them.
    pub speaks: Option<&'a [Proto]>,
}

impl<'a> Ctx<'a> {
    /// A context at real time.
    pub fn new(vars: &'a Vars) -> Self {
        Ctx {
            vars,
            time_scale: 1.0,
            speaks: None,
        }
    }

    /// The same context for a device that only takes part in `protos`.
    pub fn speaking(self, protos: &'a [Proto]) -> Self {
        Ctx {
            speaks: Some(protos),
            ..self
        }
    }

    /// The same context with timers `f` times faster.
    pub fn scaled(self, f: f64) -> Self {
        Ctx {
            time_scale: f,
            ..self
        }
    }

    fn phone_s(&self, real_s: f64) -> f64 {
        real_s * self.time_scale
    }
}

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

/// How the phone misbehaved, by name. Times are phone seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "violation", rename_all = "snake_case")]
pub enum Violation {
    /// The expected event never happened in the window.
    Missing,
    /// It happened, but only after the window closed.
    TooLate {
        /// Seconds after the window opened.
        after_s: f64,
        /// The window's end.
        within_s: f64,
    },
    /// It happened before the window's `not_before`, and not again in the window.
    TooEarly {
        /// Seconds after the window opened.
        after_s: f64,
        /// The window's start.
        not_before_s: f64,
    },
    /// An event that must not happen did.
    Forbidden,
    /// Too few or too many matching events.
    WrongCount {
        /// How many matched.
        seen: u32,
    },
    /// The two events came in the wrong order.
    OutOfOrder {
        /// Event index of the check that should have come first.
        first: usize,
        /// Event index of the check that should have come after it.
        then: usize,
    },
    /// Too few events to measure gaps between them.
    TooFewEvents {
        /// How many matched.
        seen: u32,
        /// How many are needed.
        needed: u32,
    },
    /// A gap between consecutive events was outside the allowed range.
    BadGap {
        /// 1-based number of the gap.
        n: usize,
        /// Its length.
        gap_s: f64,
        /// Allowed minimum.
        min_s: f64,
        /// Allowed maximum.
        max_s: f64,
    },
    /// A gap did not grow by the expected factor.
    BadGrowth {
        /// 1-based number of the gap (compared with the one before).
        n: usize,
        /// Its ratio to the gap before.
        ratio: f64,
    },
    /// Every gap was the same: no randomisation.
    NotVaried {
        /// The one gap length seen.
        gap_s: f64,
    },
    /// The compared values differ.
    ValuesDiffer {
        /// The left value.
        left: String,
        /// The right value.
        right: String,
    },
    /// A compared value could not be taken from the phone's event.
    NoValue {
        /// `left` or `right`.
        side: String,
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

    fn with_evidence(mut self, evs: &[&Event]) -> Self {
        self.events = evs.iter().map(|e| e.index).collect();
        self.frames = evs.iter().flat_map(|e| e.frames.iter().copied()).collect();
        self
    }

    fn violating(mut self, v: Violation) -> Self {
        self.verdict = Verdict::Fail;
        self.violation = Some(v);
        self
    }
}

/// Judges every check of a scenario against a timeline. Checks are returned in file order.
pub fn judge(spec: &ScenarioSpec, timeline: &Timeline, ctx: Ctx<'_>) -> Vec<CheckResult> {
    let mut j = Judge {
        spec,
        tl: timeline,
        ctx,
        done: BTreeMap::new(),
    };
    for c in &spec.checks {
        j.run(c, 0);
    }
    spec.checks
        .iter()
        .filter_map(|c| j.done.remove(&c.id).map(|(r, _)| r))
        .collect()
}

/// Whether a single check has passed yet (the engine uses this to end a run early).
pub fn check_passed(spec: &ScenarioSpec, id: &str, timeline: &Timeline, ctx: Ctx<'_>) -> bool {
    let mut j = Judge {
        spec,
        tl: timeline,
        ctx,
        done: BTreeMap::new(),
    };
    spec.checks
        .iter()
        .find(|c| c.id == id)
        .map(|c| j.run(c, 0).verdict == Verdict::Pass)
        .unwrap_or(false)
}

/// The scenario verdict from its checks: any failing `must` check (or one never exercised)
/// fails it; an error anywhere makes it an error; `should` checks only inform.
pub fn scenario_verdict(results: &[CheckResult]) -> Verdict {
    if results.is_empty() || results.iter().any(|r| r.verdict == Verdict::Error) {
        return Verdict::Error;
    }
    if results
        .iter()
        .filter(|r| r.level == Level::Must)
        .any(|r| matches!(r.verdict, Verdict::Fail | Verdict::NotExercised))
    {
        return Verdict::Fail;
    }
    Verdict::Pass
}

/// Memoised judging of one scenario: each check once, dependencies first.
struct Judge<'a> {
    spec: &'a ScenarioSpec,
    tl: &'a Timeline,
    ctx: Ctx<'a>,
    /// Check id → (result, the event it ends on, if any).
    done: BTreeMap<String, (CheckResult, Option<usize>)>,
}

/// A check's window, resolved against the timeline.
struct Window<'e> {
    /// The events the check considers: right protocol and kind, after the anchor.
    candidates: Vec<&'e Event>,
    /// Those that match every field matcher.
    matching: Vec<&'e Event>,
    /// Those matching and inside the window.
    inside: Vec<&'e Event>,
    /// Real time the window opened.
    start_t: f64,
}

impl<'a> Judge<'a> {
    fn run(&mut self, c: &CheckSpec, depth: usize) -> CheckResult {
        if let Some((r, _)) = self.done.get(&c.id) {
            return r.clone();
        }
        let (result, ends_on) = if depth > self.spec.checks.len() {
            (self.error(c, "check references form a cycle".into()), None)
        } else {
            self.judge_kind(c, depth)
        };
        self.done.insert(c.id.clone(), (result.clone(), ends_on));
        result
    }

    /// The event another check ended on, judging it first. `Err` is this check's result
    /// when the other one found nothing.
    fn event_of(
        &mut self,
        c: &CheckSpec,
        other: &str,
        depth: usize,
    ) -> Result<&'a Event, Box<CheckResult>> {
        let Some(dep) = self.spec.checks.iter().find(|d| d.id == other) else {
            return Err(Box::new(
                self.error(c, format!("check refers to unknown check `{other}`")),
            ));
        };
        self.run(dep, depth + 1);
        match self.done.get(other) {
            Some((_, Some(i))) => self.tl.events.get(*i).ok_or_else(|| {
                Box::new(self.error(c, format!("event #{i} of `{other}` is not in the timeline")))
            }),
            _ => Err(Box::new(self.not_exercised(c, other))),
        }
    }

    fn judge_kind(&mut self, c: &CheckSpec, depth: usize) -> (CheckResult, Option<usize>) {
        if let (Some(p), Some(speaks)) = (c.proto, self.ctx.speaks)
            && !speaks.contains(&p)
        {
            let r = self.base(
                c,
                Verdict::NotExercised,
                self.describe(c, None),
                format!("not exercised: the device under test does not take part in {p}"),
            );
            return (r, None);
        }
        match c.kind {
            CheckKind::Order => return (self.order(c, depth), None),
            CheckKind::Compare => return (self.compare(c, depth), None),
            _ => {}
        }
        let anchor = match &c.after {
            None => None,
            Some(id) => match self.event_of(c, id, depth) {
                Ok(e) => Some((id.as_str(), e)),
                Err(r) => return (*r, None),
            },
        };
        let w = self.window(c, anchor.map(|(_, e)| e));
        let expected = self.describe(c, anchor);
        match c.kind {
            CheckKind::Event => self.event(c, &w, expected),
            CheckKind::Absent => (self.absent(c, &w, expected), None),
            CheckKind::Count => self.count(c, &w, expected),
            CheckKind::Interval => self.interval(c, &w, expected),
            CheckKind::Order | CheckKind::Compare => {
                (self.error(c, "unreachable kind".into()), None)
            }
        }
    }

    fn window(&self, c: &CheckSpec, anchor: Option<&Event>) -> Window<'a> {
        let (start_idx, start_t) = anchor.map_or((0, 0.0), |e| (e.index + 1, e.t));
        let event = c.event.as_deref().unwrap_or("");
        let candidates: Vec<&Event> = self
            .tl
            .events
            .iter()
            .skip(start_idx)
            .filter(|e| Some(e.proto) == c.proto && e.kind == event)
            .collect();
        let matching: Vec<&Event> = candidates
            .iter()
            .copied()
            .filter(|e| match_event(e, &c.matchers, self.ctx.vars).is_ok())
            .collect();
        let inside = matching
            .iter()
            .copied()
            .filter(|e| {
                let d = self.ctx.phone_s(e.t - start_t);
                c.within.is_none_or(|w| d <= w + EPS) && c.not_before.is_none_or(|nb| d >= nb - EPS)
            })
            .collect();
        Window {
            candidates,
            matching,
            inside,
            start_t,
        }
    }

    fn base(
        &self,
        c: &CheckSpec,
        verdict: Verdict,
        expected: String,
        observed: String,
    ) -> CheckResult {
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

    fn error(&self, c: &CheckSpec, why: String) -> CheckResult {
        self.base(c, Verdict::Error, self.describe(c, None), why)
    }

    fn not_exercised(&self, c: &CheckSpec, dep: &str) -> CheckResult {
        self.base(
            c,
            Verdict::NotExercised,
            self.describe(c, None),
            format!("not exercised: `{dep}` found no event, so this step never came up"),
        )
    }

    /// "at +2.100 s (event #14, frame 14)" relative to the window start, phone time.
    fn at(&self, e: &Event, start_t: f64) -> String {
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
            "{} at +{:.3} s (event #{}{frames})",
            e.summary(),
            self.ctx.phone_s(e.t - start_t),
            e.index
        )
    }

    /// What the check expects, in words.
    fn describe(&self, c: &CheckSpec, anchor: Option<(&str, &Event)>) -> String {
        let vars = self.ctx.vars;
        match c.kind {
            CheckKind::Order => {
                return format!(
                    "the event of {} before the event of {}",
                    c.first.as_deref().unwrap_or("?"),
                    c.then.as_deref().unwrap_or("?")
                );
            }
            CheckKind::Compare => {
                let side = |v: &Option<ValueFrom>| {
                    v.as_ref().map_or_else(String::new, |v| match &v.regex {
                        Some(r) => format!("{} of {} (/{r}/)", v.field, v.check),
                        None => format!("{} of {}", v.field, v.check),
                    })
                };
                return format!("{} equal to {}", side(&c.left), side(&c.right));
            }
            _ => {}
        }
        let mut s = String::new();
        if c.kind == CheckKind::Absent {
            s.push_str("no ");
        }
        s.push_str(&format!(
            "{} {}",
            c.proto.map_or("?", |p| p.as_str()).to_uppercase(),
            c.event.as_deref().unwrap_or("?")
        ));
        let conds: Vec<String> = c
            .matchers
            .iter()
            .map(|(k, m)| matcher::describe(k, m, vars))
            .collect();
        if !conds.is_empty() {
            s.push_str(&format!(" with {}", conds.join(", ")));
        }
        match (c.exactly, c.at_least, c.at_most) {
            (Some(n), _, _) => s.push_str(&format!(", exactly {n} time(s)")),
            (None, Some(a), Some(b)) => s.push_str(&format!(", {a} to {b} times")),
            (None, Some(a), None) => s.push_str(&format!(", at least {a} time(s)")),
            (None, None, Some(b)) => s.push_str(&format!(", at most {b} time(s)")),
            (None, None, None) => {}
        }
        if let Some([lo, hi]) = c.gap {
            s.push_str(&format!(", each gap {lo}–{hi} s"));
        }
        if let Some(g) = c.growth {
            s.push_str(&format!(
                ", each gap {}× the previous (±{:.0} %)",
                g.factor,
                g.tolerance * 100.0
            ));
        }
        if let Some(sp) = c.spread {
            s.push_str(&format!(
                ", each gap {}–{} % of {} s{}",
                sp.min_pct,
                sp.max_pct,
                sp.of,
                if sp.varied { ", not all equal" } else { "" }
            ));
        }
        match (c.not_before, c.within) {
            (Some(a), Some(b)) => s.push_str(&format!(", {a}–{b} s")),
            (Some(a), None) => s.push_str(&format!(", not before {a} s")),
            (None, Some(b)) => s.push_str(&format!(", within {b} s")),
            (None, None) => {}
        }
        match (anchor, &c.after) {
            (Some((id, ev)), _) => s.push_str(&format!(
                " after {id} (event #{} at {:.3} s)",
                ev.index,
                self.ctx.phone_s(ev.t)
            )),
            (None, Some(id)) => s.push_str(&format!(" after {id}")),
            (None, None) if c.within.is_some() || c.not_before.is_some() => {
                s.push_str(" of the scenario start");
            }
            (None, None) => {}
        }
        s
    }

    fn nearest_miss(&self, c: &CheckSpec, w: &Window<'_>) -> String {
        let event = c.event.as_deref().unwrap_or("?");
        let proto = c.proto.map_or("?", |p| p.as_str());
        match w.candidates.first() {
            None => format!("no {proto} {event} event at all after the window opened"),
            Some(near) => {
                let why = match_event(near, &c.matchers, self.ctx.vars)
                    .err()
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                format!(
                    "{} {event} event(s), none matching; first: {} — {why}",
                    w.candidates.len(),
                    self.at(near, w.start_t)
                )
            }
        }
    }

    fn event(
        &self,
        c: &CheckSpec,
        w: &Window<'a>,
        expected: String,
    ) -> (CheckResult, Option<usize>) {
        if let Some(ev) = w.inside.first() {
            let r = self.base(c, Verdict::Pass, expected, self.at(ev, w.start_t));
            return (r.with_evidence(&[ev]), Some(ev.index));
        }
        if let Some(first) = w.matching.first() {
            let d = self.ctx.phone_s(first.t - w.start_t);
            let r = self.base(c, Verdict::Fail, expected, self.at(first, w.start_t));
            let v = match c.not_before {
                Some(nb) if d < nb => Violation::TooEarly {
                    after_s: d,
                    not_before_s: nb,
                },
                _ => Violation::TooLate {
                    after_s: d,
                    within_s: c.within.unwrap_or(0.0),
                },
            };
            return (r.violating(v).with_evidence(&[first]), None);
        }
        let r = self.base(c, Verdict::Fail, expected, self.nearest_miss(c, w));
        let near: Vec<&Event> = w.candidates.iter().copied().take(1).collect();
        (r.violating(Violation::Missing).with_evidence(&near), None)
    }

    fn absent(&self, c: &CheckSpec, w: &Window<'a>, expected: String) -> CheckResult {
        match w.inside.first() {
            None => self.base(
                c,
                Verdict::Pass,
                expected,
                format!(
                    "none among {} {} event(s) in the window",
                    w.candidates.len(),
                    c.event.as_deref().unwrap_or("?")
                ),
            ),
            Some(first) => self
                .base(c, Verdict::Fail, expected, self.at(first, w.start_t))
                .violating(Violation::Forbidden)
                .with_evidence(&[first]),
        }
    }

    fn count(
        &self,
        c: &CheckSpec,
        w: &Window<'a>,
        expected: String,
    ) -> (CheckResult, Option<usize>) {
        let n = u32::try_from(w.inside.len()).unwrap_or(u32::MAX);
        let (lo, hi) = match c.exactly {
            Some(x) => (Some(x), Some(x)),
            None => (c.at_least, c.at_most),
        };
        let ok = lo.is_none_or(|m| n >= m) && hi.is_none_or(|m| n <= m);
        let list: Vec<String> = w
            .inside
            .iter()
            .map(|e| {
                format!(
                    "#{} at +{:.3} s",
                    e.index,
                    self.ctx.phone_s(e.t - w.start_t)
                )
            })
            .collect();
        let observed = if list.is_empty() {
            format!("0 matching events; {}", self.nearest_miss(c, w))
        } else {
            format!("{n} matching event(s): {}", list.join(", "))
        };
        let mut r = self.base(c, Verdict::Pass, expected, observed);
        if !ok {
            r = r.violating(Violation::WrongCount { seen: n });
        }
        let first = w.inside.first().map(|e| e.index);
        (r.with_evidence(&w.inside), first)
    }

    fn interval(
        &self,
        c: &CheckSpec,
        w: &Window<'a>,
        expected: String,
    ) -> (CheckResult, Option<usize>) {
        let needed = c.min_events.unwrap_or(2).max(2);
        let n = u32::try_from(w.inside.len()).unwrap_or(u32::MAX);
        let first = w.inside.first().map(|e| e.index);
        let gaps: Vec<f64> = w
            .inside
            .windows(2)
            .map(|p| self.ctx.phone_s(p[1].t - p[0].t))
            .collect();
        let shown: Vec<String> = gaps.iter().map(|g| format!("{g:.3}")).collect();
        let observed = format!(
            "{n} matching event(s) ({}), gaps [{}] s",
            w.inside
                .iter()
                .map(|e| format!("#{}", e.index))
                .collect::<Vec<_>>()
                .join(", "),
            shown.join(", ")
        );
        let r = self
            .base(c, Verdict::Pass, expected, observed)
            .with_evidence(&w.inside);
        if n < needed {
            let r = if n == 0 {
                let miss = self.nearest_miss(c, w);
                CheckResult {
                    observed: miss,
                    ..r
                }
            } else {
                r
            };
            return (
                r.violating(Violation::TooFewEvents { seen: n, needed }),
                first,
            );
        }
        let range_fail = |lo: f64, hi: f64| -> Option<Violation> {
            gaps.iter().enumerate().find_map(|(i, &g)| {
                (g < lo - EPS || g > hi + EPS).then_some(Violation::BadGap {
                    n: i + 1,
                    gap_s: g,
                    min_s: lo,
                    max_s: hi,
                })
            })
        };
        if let Some([lo, hi]) = c.gap
            && let Some(v) = range_fail(lo, hi)
        {
            return (r.violating(v), first);
        }
        if let Some(sp) = c.spread {
            if let Some(v) = range_fail(sp.of * sp.min_pct / 100.0, sp.of * sp.max_pct / 100.0) {
                return (r.violating(v), first);
            }
            if sp.varied && gaps.len() >= 2 {
                let lo = gaps.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = gaps.iter().copied().fold(0.0, f64::max);
                // Equal within 1 % of the base: a timer, not a random draw.
                if hi - lo <= sp.of * 0.01 {
                    return (r.violating(Violation::NotVaried { gap_s: lo }), first);
                }
            }
        }
        if let Some(g) = c.growth {
            let (lo, hi) = (
                g.factor * (1.0 - g.tolerance),
                g.factor * (1.0 + g.tolerance),
            );
            for (i, p) in gaps.windows(2).enumerate() {
                let ratio = if p[0] > 0.0 {
                    p[1] / p[0]
                } else {
                    f64::INFINITY
                };
                if !(lo..=hi).contains(&ratio) {
                    return (r.violating(Violation::BadGrowth { n: i + 2, ratio }), first);
                }
            }
        }
        (r, first)
    }

    fn order(&mut self, c: &CheckSpec, depth: usize) -> CheckResult {
        let (Some(a), Some(b)) = (c.first.clone(), c.then.clone()) else {
            return self.error(c, "order needs `first` and `then`".into());
        };
        let ea = match self.event_of(c, &a, depth) {
            Ok(e) => e,
            Err(r) => return *r,
        };
        let eb = match self.event_of(c, &b, depth) {
            Ok(e) => e,
            Err(r) => return *r,
        };
        let expected = self.describe(c, None);
        let observed = format!("{a}: {}; {b}: {}", self.at(ea, 0.0), self.at(eb, 0.0));
        let r = self
            .base(c, Verdict::Pass, expected, observed)
            .with_evidence(&[ea, eb]);
        if ea.index < eb.index {
            r
        } else {
            r.violating(Violation::OutOfOrder {
                first: ea.index,
                then: eb.index,
            })
        }
    }

    fn compare(&mut self, c: &CheckSpec, depth: usize) -> CheckResult {
        let (Some(l), Some(rt)) = (c.left.clone(), c.right.clone()) else {
            return self.error(c, "compare needs `left` and `right`".into());
        };
        let el = match self.event_of(c, &l.check, depth) {
            Ok(e) => e,
            Err(r) => return *r,
        };
        let er = match self.event_of(c, &rt.check, depth) {
            Ok(e) => e,
            Err(r) => return *r,
        };
        let expected = self.describe(c, None);
        let vl = take_value(el, &l);
        let vr = take_value(er, &rt);
        let show = |v: &Result<String, String>| match v {
            Ok(s) => format!("{s:?}"),
            Err(why) => why.clone(),
        };
        let observed = format!(
            "left {} from event #{}; right {} from event #{}",
            show(&vl),
            el.index,
            show(&vr),
            er.index
        );
        let r = self
            .base(c, Verdict::Pass, expected, observed)
            .with_evidence(&[el, er]);
        match (vl, vr) {
            (Err(_), _) => r.violating(Violation::NoValue {
                side: "left".into(),
            }),
            (_, Err(_)) => r.violating(Violation::NoValue {
                side: "right".into(),
            }),
            (Ok(a), Ok(b)) if a == b => r,
            (Ok(left), Ok(right)) => r.violating(Violation::ValuesDiffer { left, right }),
        }
    }
}

/// The value a [`ValueFrom`] takes from an event: the field's text, narrowed by the regex.
fn take_value(e: &Event, from: &ValueFrom) -> Result<String, String> {
    let text =
        matcher::field_text(e, &from.field).ok_or_else(|| format!("no field `{}`", from.field))?;
    let Some(r) = &from.regex else {
        return Ok(text);
    };
    let re = regex::Regex::new(r).map_err(|e| format!("bad regex: {e}"))?;
    let caps = re
        .captures(&text)
        .ok_or_else(|| format!("`{}` = {text:?} does not match /{r}/", from.field))?;
    if caps.len() == 1 {
        return Ok(caps.get(0).map_or("", |m| m.as_str()).to_string());
    }
    let join = from.join.as_deref().unwrap_or(".");
    Ok(caps
        .iter()
        .skip(1)
        .map(|m| m.map_or("", |m| m.as_str()))
        .collect::<Vec<_>>()
        .join(join))
}

#[cfg(test)]
mod tests;
