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
//! went another way so this one never came up; `skip` says the check is about a protocol
//! the device under test does not take part in (`--dut-protocols`), or rests on one that
//! is, so it says nothing either way; `error` is a harness or scenario problem.
//!
//! The stop mark: once the harness starts stopping the device (the `dut` event
//! `stopping`), whatever the device still sends — an un-REGISTER with `Expires: 0`, a
//! DHCPRELEASE — is a reaction to being stopped, not behaviour a check asked about. Events
//! from that mark on are outside every window and never matched.
//!
//! Time: scenario windows are written in the phone's time. A run with `--time-scale F` runs
//! the phone's timers F times faster, so an event `d` real seconds after the window opened
//! is `d × F` seconds in phone time; every comparison uses phone time, and observed texts
//! give the lab's (capture) time beside it when the two differ.
//!
//! Settledness: judged while the run goes on (a [`Ctx`] with `now`), every result also says
//! whether more events could still change it. The rule per kind: `event` is settled by a
//! matching event in its window (pass) or by the window closing (fail), and with `next` by
//! the first event of its kind in the window, matching or not; `absent` by a
//! forbidden event (fail) or the window closing (pass); `count` by the window closing, or
//! at once when an upper bound is exceeded; `interval` by a bad gap or growth between
//! consecutive events (fail) or the window closing; `order` and `compare` when the checks
//! they relate are settled. A check anchored on another (`after`) waits for its anchor, and
//! is settled `not_exercised` when the anchor settled without an event. A window without
//! `within` closes only when the run ends. The engine ends a scenario once every check is
//! settled ([`all_settled`]).

mod matcher;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scenario::vars::Vars;
use crate::scenario::{Bounds, Check, Kind, Level, Relation, Scenario, Select, ValueFrom, Window};
use crate::timeline::{Event, Proto, TimeBase, Timeline};

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
    /// Phone seconds since the scenario started, while the run goes on; `None` once it has
    /// ended (every window is closed then).
    pub now: Option<f64>,
}

impl<'a> Ctx<'a> {
    /// A context at real time.
    pub fn new(vars: &'a Vars) -> Self {
        Ctx {
            vars,
            time_scale: 1.0,
            speaks: None,
            now: None,
        }
    }

    /// The same context while the run is still going, `now` phone seconds after its start.
    pub fn running_at(self, now: f64) -> Self {
        Ctx {
            now: Some(now),
            ..self
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

    /// Whether phone and lab time differ (a scaled run).
    fn scaled_run(&self) -> bool {
        (self.time_scale - 1.0).abs() > 1e-9
    }

    /// `real_s` after a start as "+4.420 s phone time (+0.442 s lab)", or "+4.420 s" when
    /// both times are the same.
    fn when(&self, real_s: f64) -> String {
        if self.scaled_run() {
            format!(
                "+{:.3} s phone time (+{real_s:.3} s lab)",
                self.phone_s(real_s)
            )
        } else {
            format!("+{real_s:.3} s")
        }
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
    /// Not run (a scenario), or not judged because it is about a protocol the device under
    /// test does not take part in (a check): neither a pass nor a failure.
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

/// Which clock the times a verdict rests on came from: every event at the capture time of
/// its frame, every one at its server's stamp (no capture, or events no frame carried), or
/// some of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckTimeBase {
    /// Capture timestamps only.
    Capture,
    /// Server stamps only.
    Server,
    /// Some of each.
    Mixed,
}

impl CheckTimeBase {
    /// `so_far` with the time of `e` added.
    fn with(so_far: Option<CheckTimeBase>, e: &Event) -> CheckTimeBase {
        let this = match e.time_base {
            TimeBase::Capture => CheckTimeBase::Capture,
            TimeBase::Server => CheckTimeBase::Server,
        };
        match so_far {
            None => this,
            Some(b) if b == this => b,
            Some(_) => CheckTimeBase::Mixed,
        }
    }

    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckTimeBase::Capture => "capture",
            CheckTimeBase::Server => "server",
            CheckTimeBase::Mixed => "mixed",
        }
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
    /// The next event of the kind in the window (a check with `next`) was not the expected one.
    Unexpected,
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
    /// The compared values do not stand in the check's relation (`different`, `greater`,
    /// `successor`).
    RelationNotMet {
        /// The relation, as the scenario names it.
        relation: String,
        /// The left value.
        left: String,
        /// The right value.
        right: String,
    },
    /// A compared value could not be taken from the phone's event (or is not an integer
    /// where the relation needs one).
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
    /// Where the check is written, `file:line`.
    #[serde(default)]
    pub location: String,
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
    /// Lab seconds from the scenario's start to the last event the verdict rests on (the
    /// JUnit `time` of the check); `None` when it rests on no event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_s: Option<f64>,
    /// Which clock the times of those events (and of the event its window opened at) came
    /// from; `None` when it rests on no event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_base: Option<CheckTimeBase>,
    /// Whether no later event can change the verdict (always true once the run is over).
    #[serde(skip)]
    pub settled: bool,
}

impl CheckResult {
    /// `OPT242-003 fail (scenarios/x.toml:51): expected …; observed …` — the one-line form
    /// for terminals.
    pub fn line(&self) -> String {
        let at = if self.location.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.location)
        };
        format!(
            "{} {}{at}: expected {}; observed {}",
            self.id, self.verdict, self.expected, self.observed
        )
    }

    fn with_evidence(mut self, evs: &[&Event]) -> Self {
        self.events = evs.iter().map(|e| e.index).collect();
        self.frames = evs.iter().flat_map(|e| e.frames.iter().copied()).collect();
        self.at_s = evs.iter().map(|e| e.t).reduce(f64::max);
        self.time_base = evs
            .iter()
            .fold(None, |b, e| Some(CheckTimeBase::with(b, e)));
        self
    }

    fn violating(mut self, v: Violation) -> Self {
        self.verdict = Verdict::Fail;
        self.violation = Some(v);
        self
    }
}

/// Judges every check of a scenario against a timeline. Checks are returned in file order,
/// each saying whether its verdict is settled at `ctx.now`.
pub fn judge(sc: &Scenario, timeline: &Timeline, ctx: Ctx<'_>) -> Vec<CheckResult> {
    let mut j = Judge {
        sc,
        tl: timeline,
        ctx,
        done: BTreeMap::new(),
    };
    for c in &sc.checks {
        j.run(c, 0);
    }
    sc.checks
        .iter()
        .filter_map(|c| j.done.remove(&c.id).map(|d| d.result))
        .collect()
}

/// Whether every check's verdict is settled at `ctx.now`: nothing the phone does from now on
/// can change the scenario's outcome, so the engine can end it.
pub fn all_settled(sc: &Scenario, timeline: &Timeline, ctx: Ctx<'_>) -> bool {
    judge(sc, timeline, ctx).iter().all(|r| r.settled)
}

/// Whether the run has reached its `run.until` check: it has passed, or its verdict is
/// settled (it can no longer pass). From then on the run only watches `run.settle` more
/// seconds for what must not happen.
///
/// An `until` check on a protocol the device under test does not take part in (a plain DHCP
/// client and an HTTP `until`) is never reached: it says nothing about how far that device
/// got, so the run ends when every verdict is settled or at the timeout instead.
pub fn until_reached(sc: &Scenario, id: &str, timeline: &Timeline, ctx: Ctx<'_>) -> bool {
    let Some(c) = sc.check(id) else {
        return false;
    };
    if let (Some(speaks), Some((select, _))) = (ctx.speaks, c.kind.selection())
        && !speaks.contains(&select.proto)
    {
        return false;
    }
    let mut j = Judge {
        sc,
        tl: timeline,
        ctx,
        done: BTreeMap::new(),
    };
    let r = j.run(c, 0).result;
    r.verdict == Verdict::Pass || r.settled
}

/// The scenario verdict from its checks: any failing `must` check (or one never exercised)
/// fails it; an error anywhere makes it an error; `should` checks only inform. Skipped
/// checks count neither way: a scenario whose judged checks all pass passes, and one whose
/// every check was skipped (nothing in it is about what the device speaks) is a `skip`.
pub fn scenario_verdict(results: &[CheckResult]) -> Verdict {
    if results.is_empty() || results.iter().any(|r| r.verdict == Verdict::Error) {
        return Verdict::Error;
    }
    if results.iter().all(|r| r.verdict == Verdict::Skip) {
        return Verdict::Skip;
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

/// Events reach the timeline a little after the moment they are stamped with (they travel
/// from the server task through a channel). A window counts as closed only this many real
/// seconds after its end, so an event stamped inside it cannot still be on its way.
const ARRIVAL_SLACK_S: f64 = 0.1;

/// One judged check.
#[derive(Debug, Clone)]
struct Outcome {
    result: CheckResult,
    /// The event other checks refer to (`after`, `order`, `compare`), if it found one.
    ends_on: Option<usize>,
}

/// Memoised judging of one scenario: each check once, dependencies first.
struct Judge<'a> {
    sc: &'a Scenario,
    tl: &'a Timeline,
    ctx: Ctx<'a>,
    /// Check id → its outcome.
    done: BTreeMap<String, Outcome>,
}

/// A check's window, resolved against the timeline.
struct Resolved<'e> {
    /// The events the check considers: right protocol and kind, after the anchor.
    candidates: Vec<&'e Event>,
    /// Those inside the window, matching or not.
    in_window: Vec<&'e Event>,
    /// Those that match every field matcher.
    matching: Vec<&'e Event>,
    /// Those matching and inside the window.
    inside: Vec<&'e Event>,
    /// Real time the window opened.
    start_t: f64,
    /// Whether the window has closed (the run is over, or `within` has passed).
    closed: bool,
}

impl<'a> Judge<'a> {
    fn run(&mut self, c: &Check, depth: usize) -> Outcome {
        if let Some(o) = self.done.get(&c.id) {
            return o.clone();
        }
        let mut outcome = if depth > self.sc.checks.len() {
            // The loader refuses cycles; a hand-made scenario could still hold one.
            Outcome {
                result: self.error(c, "check references form a cycle".into()),
                ends_on: None,
            }
        } else {
            self.judge_kind(c, depth)
        };
        if self.ctx.now.is_none() {
            outcome.result.settled = true;
        }
        self.done.insert(c.id.clone(), outcome.clone());
        outcome
    }

    /// The event another check ended on (judging it first) and whether that check is
    /// settled. `Err` is this check's outcome when the other one found nothing.
    fn event_of(
        &mut self,
        c: &Check,
        other: &str,
        depth: usize,
    ) -> Result<(&'a Event, bool), Box<Outcome>> {
        let Some(dep) = self.sc.check(other) else {
            return Err(Box::new(Outcome {
                result: self.error(c, format!("check refers to unknown check `{other}`")),
                ends_on: None,
            }));
        };
        let o = self.run(dep, depth + 1);
        let settled = o.result.settled;
        if o.result.verdict == Verdict::Skip {
            let mut r = self.base(
                c,
                Verdict::Skip,
                self.describe(c, None),
                format!("skip: it rests on `{other}`, which was skipped"),
            );
            r.settled = true;
            return Err(Box::new(Outcome {
                result: r,
                ends_on: None,
            }));
        }
        match o.ends_on {
            Some(i) => match self.tl.events.get(i) {
                Some(e) => Ok((e, settled)),
                None => Err(Box::new(Outcome {
                    result: self
                        .error(c, format!("event #{i} of `{other}` is not in the timeline")),
                    ends_on: None,
                })),
            },
            None => {
                let mut r = self.not_exercised(c, other);
                r.settled = settled;
                Err(Box::new(Outcome {
                    result: r,
                    ends_on: None,
                }))
            }
        }
    }

    fn judge_kind(&mut self, c: &Check, depth: usize) -> Outcome {
        match &c.kind {
            Kind::Order { first, then } => self.order(c, first, then, depth),
            Kind::Compare {
                left,
                right,
                relation,
            } => self.compare(c, left, right, *relation, depth),
            Kind::Event {
                select,
                window,
                next,
            } => self.selecting(c, select, window, Rule::Event { next: *next }, depth),
            Kind::Absent { select, window } => {
                self.selecting(c, select, window, Rule::Absent, depth)
            }
            Kind::Count {
                select,
                window,
                bounds,
            } => self.selecting(c, select, window, Rule::Count(*bounds), depth),
            Kind::Interval {
                select,
                window,
                gap,
                growth,
                spread,
                min_events,
            } => {
                let rules = IntervalRules {
                    gap: *gap,
                    growth: *growth,
                    spread: *spread,
                    min_events: *min_events,
                };
                self.selecting(c, select, window, Rule::Interval(rules), depth)
            }
        }
    }

    /// The kinds that select events: resolve the window (after the anchor), then apply the
    /// kind's rule.
    fn selecting(
        &mut self,
        c: &Check,
        select: &Select,
        window: &Window,
        rule: Rule,
        depth: usize,
    ) -> Outcome {
        if let Some(speaks) = self.ctx.speaks
            && !speaks.contains(&select.proto)
        {
            let mut r = self.base(
                c,
                Verdict::Skip,
                self.describe(c, None),
                format!(
                    "skip: the device under test does not take part in {}",
                    select.proto
                ),
            );
            r.settled = true;
            return Outcome {
                result: r,
                ends_on: None,
            };
        }
        let (anchor, anchor_settled) = match &window.after {
            None => (None, true),
            Some(id) => match self.event_of(c, id, depth) {
                Ok((e, settled)) => (Some((id.as_str(), e)), settled),
                Err(o) => return *o,
            },
        };
        let w = self.resolve(select, window, anchor.map(|(_, e)| e));
        let expected = self.describe(c, anchor);
        let mut o = match rule {
            Rule::Event { next } => self.event(c, select, window, next, &w, expected),
            Rule::Absent => self.absent(c, select, &w, expected),
            Rule::Count(bounds) => self.count(c, select, bounds, &w, expected),
            Rule::Interval(rules) => self.interval(c, select, &w, expected, rules),
        };
        // While the anchor may still move, so may the window.
        o.result.settled &= anchor_settled;
        // The window's times are measured from the anchor: its clock counts too.
        if let Some((_, a)) = anchor {
            o.result.time_base = Some(CheckTimeBase::with(o.result.time_base, a));
        }
        o
    }

    fn resolve(&self, select: &Select, window: &Window, anchor: Option<&Event>) -> Resolved<'a> {
        let (start_idx, start_t) = anchor.map_or((0, 0.0), |e| (e.index + 1, e.t));
        let stop = stop_mark(self.tl);
        let candidates: Vec<&Event> = self
            .tl
            .events
            .iter()
            .skip(start_idx)
            .take_while(|e| stop.is_none_or(|s| e.t < s))
            .filter(|e| e.proto == select.proto && e.kind == select.event)
            .collect();
        let matching: Vec<&Event> = candidates
            .iter()
            .copied()
            .filter(|e| match_event(e, &select.matchers, self.ctx.vars).is_ok())
            .collect();
        let in_time = |e: &&Event| {
            let d = self.ctx.phone_s(e.t - start_t);
            window.within.is_none_or(|w| d <= w + EPS)
                && window.not_before.is_none_or(|nb| d >= nb - EPS)
        };
        let in_window: Vec<&Event> = candidates.iter().copied().filter(in_time).collect();
        let inside = matching.iter().copied().filter(in_time).collect();
        let closed = match self.ctx.now {
            None => true,
            Some(now) => window.within.is_some_and(|w| {
                let now_real = now / self.ctx.time_scale;
                now_real - start_t >= w / self.ctx.time_scale + ARRIVAL_SLACK_S
            }),
        };
        Resolved {
            candidates,
            in_window,
            matching,
            inside,
            start_t,
            closed,
        }
    }

    fn base(&self, c: &Check, verdict: Verdict, expected: String, observed: String) -> CheckResult {
        CheckResult {
            id: c.id.clone(),
            location: format!("{}:{}", c.location.file.display(), c.location.line),
            title: c.title.clone(),
            requirement: c.requirement.clone(),
            level: c.level,
            verdict,
            expected,
            observed,
            violation: None,
            events: Vec::new(),
            frames: Vec::new(),
            at_s: None,
            time_base: None,
            settled: false,
        }
    }

    /// A harness or scenario problem: nothing later changes it.
    fn error(&self, c: &Check, why: String) -> CheckResult {
        let mut r = self.base(c, Verdict::Error, self.describe(c, None), why);
        r.settled = true;
        r
    }

    fn not_exercised(&self, c: &Check, dep: &str) -> CheckResult {
        self.base(
            c,
            Verdict::NotExercised,
            self.describe(c, None),
            format!("not exercised: `{dep}` found no event, so this step never came up"),
        )
    }

    /// "DHCPDISCOVER … at +4.420 s phone time (+0.442 s lab, event #3, frame 3)" relative to
    /// the window start; at time scale 1 only one time.
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
        let real = e.t - start_t;
        if self.ctx.scaled_run() {
            format!(
                "{} at +{:.3} s phone time (+{real:.3} s lab, event #{}{frames})",
                e.summary(),
                self.ctx.phone_s(real),
                e.index
            )
        } else {
            format!(
                "{} at +{real:.3} s (event #{}{frames})",
                e.summary(),
                e.index
            )
        }
    }

    /// What the check expects, in words.
    fn describe(&self, c: &Check, anchor: Option<(&str, &Event)>) -> String {
        let vars = self.ctx.vars;
        let (select, window) = match &c.kind {
            Kind::Order { first, then } => {
                return format!("the event of {first} before the event of {then}");
            }
            Kind::Compare {
                left,
                right,
                relation,
            } => {
                let side = |v: &ValueFrom| match &v.regex {
                    Some(r) => format!("{} of {} (/{}/)", v.field, v.check, r.as_str()),
                    None => format!("{} of {}", v.field, v.check),
                };
                let how = match relation {
                    Relation::Equal => "equal to",
                    Relation::Different => "different from",
                    Relation::Greater => "less than",
                    Relation::Successor => "one less than",
                };
                return format!("{} {how} {}", side(left), side(right));
            }
            Kind::Event { select, window, .. }
            | Kind::Absent { select, window }
            | Kind::Count { select, window, .. }
            | Kind::Interval { select, window, .. } => (select, window),
        };
        let mut s = String::new();
        if matches!(c.kind, Kind::Absent { .. }) {
            s.push_str("no ");
        }
        s.push_str(&format!(
            "{} {}",
            select.proto.as_str().to_uppercase(),
            select.event
        ));
        let conds: Vec<String> = select
            .matchers
            .iter()
            .map(|m| matcher::describe(m, vars))
            .collect();
        if !conds.is_empty() {
            s.push_str(&format!(" with {}", conds.join(", ")));
        }
        match &c.kind {
            Kind::Count { bounds, .. } => s.push_str(&match *bounds {
                Bounds::Exactly(n) => format!(", exactly {n} time(s)"),
                Bounds::Between(a, b) => format!(", {a} to {b} times"),
                Bounds::AtLeast(a) => format!(", at least {a} time(s)"),
                Bounds::AtMost(b) => format!(", at most {b} time(s)"),
            }),
            Kind::Interval {
                gap,
                growth,
                spread,
                ..
            } => {
                if let Some((lo, hi)) = gap {
                    s.push_str(&format!(", each gap {lo}–{hi} s"));
                }
                if let Some(g) = growth {
                    s.push_str(&format!(
                        ", each gap {}× the previous (±{:.0} %)",
                        g.factor,
                        g.tolerance * 100.0
                    ));
                }
                if let Some(sp) = spread {
                    s.push_str(&format!(
                        ", each gap {}–{} % of {} s{}",
                        sp.min_pct,
                        sp.max_pct,
                        sp.of,
                        if sp.varied { ", not all equal" } else { "" }
                    ));
                }
            }
            _ => {}
        }
        if let Kind::Event { next: true, .. } = c.kind {
            s.push_str(&format!(
                ", as the next {} {}",
                select.proto.as_str().to_uppercase(),
                select.event
            ));
        }
        match (window.not_before, window.within) {
            (Some(a), Some(b)) => s.push_str(&format!(", {a}–{b} s")),
            (Some(a), None) => s.push_str(&format!(", not before {a} s")),
            (None, Some(b)) => s.push_str(&format!(", within {b} s")),
            (None, None) => {}
        }
        match (anchor, &window.after) {
            (Some((id, ev)), _) => s.push_str(&format!(
                " after {id} (event #{} at {})",
                ev.index,
                self.ctx.when(ev.t).trim_start_matches('+')
            )),
            (None, Some(id)) => s.push_str(&format!(" after {id}")),
            (None, None) if window.within.is_some() || window.not_before.is_some() => {
                s.push_str(" of the scenario start");
            }
            (None, None) => {}
        }
        s
    }

    fn nearest_miss(&self, select: &Select, w: &Resolved<'_>) -> String {
        let event = &select.event;
        match w.candidates.first() {
            None => format!(
                "no {} {event} event at all after the window opened",
                select.proto
            ),
            Some(near) => {
                let why = match_event(near, &select.matchers, self.ctx.vars)
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
        c: &Check,
        select: &Select,
        window: &Window,
        next: bool,
        w: &Resolved<'a>,
        expected: String,
    ) -> Outcome {
        // `next`: the first event of the kind in the window is the answer, matching or not.
        if next && let Some(first) = w.in_window.first() {
            let mut r = match match_event(first, &select.matchers, self.ctx.vars) {
                Ok(()) => self.base(c, Verdict::Pass, expected, self.at(first, w.start_t)),
                Err(why) => self
                    .base(
                        c,
                        Verdict::Fail,
                        expected,
                        format!(
                            "the next {} {} was another: {} — {why}",
                            select.proto,
                            select.event,
                            self.at(first, w.start_t)
                        ),
                    )
                    .violating(Violation::Unexpected),
            }
            .with_evidence(&[first]);
            r.settled = true;
            let ends_on = (r.verdict == Verdict::Pass).then_some(first.index);
            return Outcome { result: r, ends_on };
        }
        if let Some(ev) = w.inside.first() {
            let mut r = self
                .base(c, Verdict::Pass, expected, self.at(ev, w.start_t))
                .with_evidence(&[ev]);
            r.settled = true;
            return Outcome {
                result: r,
                ends_on: Some(ev.index),
            };
        }
        let mut r = if let Some(first) = w.matching.first() {
            let d = self.ctx.phone_s(first.t - w.start_t);
            let v = match window.not_before {
                Some(nb) if d < nb => Violation::TooEarly {
                    after_s: d,
                    not_before_s: nb,
                },
                _ => Violation::TooLate {
                    after_s: d,
                    within_s: window.within.unwrap_or(0.0),
                },
            };
            self.base(c, Verdict::Fail, expected, self.at(first, w.start_t))
                .violating(v)
                .with_evidence(&[first])
        } else {
            let near: Vec<&Event> = w.candidates.iter().copied().take(1).collect();
            self.base(c, Verdict::Fail, expected, self.nearest_miss(select, w))
                .violating(Violation::Missing)
                .with_evidence(&near)
        };
        r.settled = w.closed;
        Outcome {
            result: r,
            ends_on: None,
        }
    }

    fn absent(&self, c: &Check, select: &Select, w: &Resolved<'a>, expected: String) -> Outcome {
        let r = match w.inside.first() {
            None => {
                let mut r = self.base(
                    c,
                    Verdict::Pass,
                    expected,
                    format!(
                        "none among {} {} event(s) in the window",
                        w.candidates.len(),
                        select.event
                    ),
                );
                r.settled = w.closed;
                r
            }
            Some(first) => {
                let mut r = self
                    .base(c, Verdict::Fail, expected, self.at(first, w.start_t))
                    .violating(Violation::Forbidden)
                    .with_evidence(&[first]);
                r.settled = true;
                r
            }
        };
        Outcome {
            result: r,
            ends_on: None,
        }
    }

    fn count(
        &self,
        c: &Check,
        select: &Select,
        bounds: Bounds,
        w: &Resolved<'a>,
        expected: String,
    ) -> Outcome {
        let n = u32::try_from(w.inside.len()).unwrap_or(u32::MAX);
        let ok = bounds.min().is_none_or(|m| n >= m) && bounds.max().is_none_or(|m| n <= m);
        let list: Vec<String> = w
            .inside
            .iter()
            .map(|e| format!("#{} at {}", e.index, self.ctx.when(e.t - w.start_t)))
            .collect();
        let observed = if list.is_empty() {
            format!("0 matching events; {}", self.nearest_miss(select, w))
        } else {
            format!("{n} matching event(s): {}", list.join(", "))
        };
        let mut r = self.base(c, Verdict::Pass, expected, observed);
        if !ok {
            r = r.violating(Violation::WrongCount { seen: n });
        }
        let exceeded = bounds.max().is_some_and(|m| n > m);
        let mut r = r.with_evidence(&w.inside);
        r.settled = w.closed || exceeded;
        Outcome {
            result: r,
            ends_on: w.inside.first().map(|e| e.index),
        }
    }

    fn interval(
        &self,
        c: &Check,
        select: &Select,
        w: &Resolved<'a>,
        expected: String,
        rules: IntervalRules,
    ) -> Outcome {
        let needed = rules.min_events.max(2);
        let n = u32::try_from(w.inside.len()).unwrap_or(u32::MAX);
        let first = w.inside.first().map(|e| e.index);
        let real_gaps: Vec<f64> = w.inside.windows(2).map(|p| p[1].t - p[0].t).collect();
        let gaps: Vec<f64> = real_gaps.iter().map(|g| self.ctx.phone_s(*g)).collect();
        let show = |g: &[f64]| g.iter().map(|g| format!("{g:.3}")).collect::<Vec<_>>();
        let lab = if self.ctx.scaled_run() {
            format!(" phone time ([{}] s lab)", show(&real_gaps).join(", "))
        } else {
            String::new()
        };
        let observed = format!(
            "{n} matching event(s) ({}), gaps [{}] s{lab}",
            w.inside
                .iter()
                .map(|e| format!("#{}", e.index))
                .collect::<Vec<_>>()
                .join(", "),
            show(&gaps).join(", ")
        );
        let r = self
            .base(c, Verdict::Pass, expected, observed)
            .with_evidence(&w.inside);
        let done = |mut r: CheckResult, settled: bool| {
            r.settled = settled;
            Outcome {
                result: r,
                ends_on: first,
            }
        };
        if n < needed {
            let r = if n == 0 {
                CheckResult {
                    observed: self.nearest_miss(select, w),
                    ..r
                }
            } else {
                r
            };
            return done(
                r.violating(Violation::TooFewEvents { seen: n, needed }),
                w.closed,
            );
        }
        // A gap or a growth between two events already seen cannot be undone by later ones:
        // those settle the verdict at once.
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
        if let Some((lo, hi)) = rules.gap
            && let Some(v) = range_fail(lo, hi)
        {
            return done(r.violating(v), true);
        }
        if let Some(sp) = rules.spread {
            if let Some(v) = range_fail(sp.of * sp.min_pct / 100.0, sp.of * sp.max_pct / 100.0) {
                return done(r.violating(v), true);
            }
            if sp.varied && gaps.len() >= 2 {
                let lo = gaps.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = gaps.iter().copied().fold(0.0, f64::max);
                // Equal within 1 % of the base: a timer, not a random draw. A later gap could
                // still differ, so this waits for the window to close.
                if hi - lo <= sp.of * 0.01 {
                    return done(r.violating(Violation::NotVaried { gap_s: lo }), w.closed);
                }
            }
        }
        if let Some(g) = rules.growth {
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
                    return done(r.violating(Violation::BadGrowth { n: i + 2, ratio }), true);
                }
            }
        }
        done(r, w.closed)
    }

    fn order(&mut self, c: &Check, a: &str, b: &str, depth: usize) -> Outcome {
        let none = |result| Outcome {
            result,
            ends_on: None,
        };
        let (ea, sa) = match self.event_of(c, a, depth) {
            Ok(e) => e,
            Err(o) => return *o,
        };
        let (eb, sb) = match self.event_of(c, b, depth) {
            Ok(e) => e,
            Err(o) => return *o,
        };
        let expected = self.describe(c, None);
        let observed = format!("{a}: {}; {b}: {}", self.at(ea, 0.0), self.at(eb, 0.0));
        let mut r = self
            .base(c, Verdict::Pass, expected, observed)
            .with_evidence(&[ea, eb]);
        if ea.index >= eb.index {
            r = r.violating(Violation::OutOfOrder {
                first: ea.index,
                then: eb.index,
            });
        }
        r.settled = sa && sb;
        none(r)
    }

    fn compare(
        &mut self,
        c: &Check,
        l: &ValueFrom,
        rt: &ValueFrom,
        relation: Relation,
        depth: usize,
    ) -> Outcome {
        let (el, sl) = match self.event_of(c, &l.check, depth) {
            Ok(e) => e,
            Err(o) => return *o,
        };
        let (er, sr) = match self.event_of(c, &rt.check, depth) {
            Ok(e) => e,
            Err(o) => return *o,
        };
        let expected = self.describe(c, None);
        let vl = take_value(el, l);
        let vr = take_value(er, rt);
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
        let mut r = match (vl, vr) {
            (Err(_), _) => r.violating(Violation::NoValue {
                side: "left".into(),
            }),
            (_, Err(_)) => r.violating(Violation::NoValue {
                side: "right".into(),
            }),
            (Ok(left), Ok(right)) => match relation.holds(&left, &right) {
                Ok(true) => r,
                Ok(false) if relation == Relation::Equal => {
                    r.violating(Violation::ValuesDiffer { left, right })
                }
                Ok(false) => r.violating(Violation::RelationNotMet {
                    relation: relation.as_str().into(),
                    left,
                    right,
                }),
                Err(side) => r.violating(Violation::NoValue { side: side.into() }),
            },
        };
        r.settled = sl && sr;
        Outcome {
            result: r,
            ends_on: None,
        }
    }
}

/// What a check that selects events does with them.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Event { next: bool },
    Absent,
    Count(Bounds),
    Interval(IntervalRules),
}

/// The gap rules of an interval check.
#[derive(Debug, Clone, Copy)]
struct IntervalRules {
    gap: Option<(f64, f64)>,
    growth: Option<crate::scenario::Growth>,
    spread: Option<crate::scenario::Spread>,
    min_events: u32,
}

/// When the harness started stopping the device (the first `dut` `stopping` event), if it
/// did: nothing from then on is judged.
pub fn stop_mark(tl: &Timeline) -> Option<f64> {
    tl.events
        .iter()
        .find(|e| e.proto == Proto::Dut && e.kind == STOPPING)
        .map(|e| e.t)
}

/// The `dut` event kind of the stop mark ([`crate::vocab::DutEvent::Stopping`]).
const STOPPING: &str = "stopping";

/// The value a [`ValueFrom`] takes from an event: the field's text, narrowed by the regex.
fn take_value(e: &Event, from: &ValueFrom) -> Result<String, String> {
    let text =
        matcher::field_text(e, &from.field).ok_or_else(|| format!("no field `{}`", from.field))?;
    let Some(re) = &from.regex else {
        return Ok(text);
    };
    let caps = re.0.captures(&text).ok_or_else(|| {
        format!(
            "`{}` = {text:?} does not match /{}/",
            from.field,
            re.as_str()
        )
    })?;
    if caps.len() == 1 {
        return Ok(caps.get(0).map_or("", |m| m.as_str()).to_string());
    }
    Ok(caps
        .iter()
        .skip(1)
        .map(|m| m.map_or("", |m| m.as_str()))
        .collect::<Vec<_>>()
        .join(&from.join))
}

#[cfg(test)]
mod tests;
