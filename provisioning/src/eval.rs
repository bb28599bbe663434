//! What one phone makes of an upgrade script and the files it fetches: the files in the
//! order it asks for them, every setting in force with the line that set it, and every line
//! that did nothing and why, and why each file given is never asked for. The core of
//! `phonecert script eval`.
//!
//! Owns: driving the [`Interpreter`] over files the caller already has, the application
//! check at the first `GET` (domain.md "Boot sequence": the phone compares APPNAME before it
//! fetches the settings file), and the files the settings direct afterwards (TRUSTCERTS,
//! LANGUAGES).
//!
//! Never does: read files or talk to a server. A `GET` of a file the caller does not have is
//! answered as a failed fetch (the script goes on after it, as after a 404) and marked as
//! not given, so the output says the phone would ask for it.
//!
//! Decisions where the guides are silent (the reference phone decides the same way):
//! - An APPNAME starting with `hb` names boot code and is compared with `$BOOTNAME`; any
//!   other is compared with the running application (`$APPNAME`). An unknown one is reported
//!   as such, never guessed.
//! - Why a given file is never fetched is told for the `GET` of it in the last file the
//!   phone ran that has one (the phone left earlier files for a later one, so that is where
//!   the news is), from what the run did: an `IF` to the `GET`'s branch that did not match
//!   (only when the line before the label is a `GOTO`, so nothing falls into the branch),
//!   else the last jump, successful `GET` or missing label above it.
//! - A downloaded application makes the phone reboot and run the script again; this
//!   evaluation follows the first run only, and says so through [`AppDecision::Differs`].

use std::collections::{BTreeMap, BTreeSet};

use crate::script::{
    Effect, FindingKind, Interpreter, PhoneVars, Script, Statement, Step, TraceEntry,
};
use crate::settings::{Rejected, Settings, Source};

/// Why the phone fetches a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchKind {
    /// The upgrade script, the first file of every boot.
    UpgradeScript,
    /// A `GET` statement at `file:line`.
    Get { file: String, line: usize },
    /// The application (or boot code) APPNAME names, checked at the first `GET` or at the
    /// end of the script when it has none.
    Application {
        /// The `SET APPNAME` that named it, if a file did.
        set_at: Option<(String, usize)>,
        /// Boot code (`hb…`), compared with `$BOOTNAME`.
        boot_code: bool,
        decision: AppDecision,
    },
    /// A certificate TRUSTCERTS names, after the script.
    TrustCert,
    /// A language file LANGUAGES names, after the script.
    Language,
}

/// Whether the phone downloads the file APPNAME names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppDecision {
    /// It is what runs already: not fetched.
    AlreadyRunning,
    /// It differs: fetched, installed, and the phone reboots.
    Differs,
    /// What runs is unknown (no `$APPNAME` / `$BOOTNAME` given): fetched unless it runs.
    RunningUnknown,
}

/// One file the phone asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub file: String,
    pub kind: FetchKind,
    /// Whether the caller has the file (and so the evaluation ran it).
    pub given: bool,
}

impl Fetch {
    /// False only for an application that already runs.
    pub fn requested(&self) -> bool {
        !matches!(
            self.kind,
            FetchKind::Application {
                decision: AppDecision::AlreadyRunning,
                ..
            }
        )
    }
}

/// Where a value in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The profile's default.
    Default,
    /// A `SET` at this file and line.
    Line { file: String, line: usize },
    /// Held before the script ran (DHCP, the site option): given by the caller.
    Given(Source),
}

/// One setting in force at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InForce {
    pub name: String,
    pub value: String,
    pub origin: Origin,
}

/// Why a line did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoredWhy {
    /// The phone refused the value; the old one stays.
    Refused(Rejected),
    /// Found while parsing the file (the line is no statement, or is misread).
    Finding(FindingKind),
    /// The phone's path through the file never came to this `SET`.
    NotReached,
    /// A jump to a label the file does not have: the rest of the file never runs.
    MissingLabel { label: String },
    /// An `IF` on a variable this phone does not report: a no-op.
    UnknownVariable { var: String },
    /// The loop guard stopped the run here.
    LoopGuard { executed: usize },
}

/// A line that did nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub file: String,
    pub line: usize,
    pub statement: Option<Statement>,
    pub why: IgnoredWhy,
}

/// A line of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub file: String,
    pub line: usize,
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A given file the phone never asks for, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfetched {
    /// The name it was given by.
    pub file: String,
    pub why: UnfetchedWhy,
}

/// Why a given file is never fetched. Told from the run itself: the first `GET` of the file
/// in the last file the phone ran that has one, and what kept the phone from that line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnfetchedWhy {
    /// The `GET` sits under a label that only a jump reaches (the line before the label is a
    /// `GOTO`), and the `IF` that jumps there did not match for this phone.
    BranchNotTaken {
        get: At,
        label: String,
        /// The `IF` that did not match.
        branch: At,
        statement: Statement,
        /// What the `IF`'s variable was for this phone.
        value: String,
    },
    /// A `GOTO`, or an `IF` that matched, jumped over the `GET`.
    JumpedOver {
        get: At,
        jump: At,
        statement: Statement,
    },
    /// An earlier `GET` succeeded: the phone went on in the file it fetched and never came
    /// back, so this `GET` (a fallback, run only when that one fails) never ran.
    EarlierGetSucceeded {
        get: At,
        earlier: At,
        fetched: String,
    },
    /// A jump to a label the file lacks ended the file before the `GET`.
    FileEnded { get: At, jump: At, label: String },
    /// The loop guard stopped the run before the `GET`.
    LoopGuard { get: At, at: At },
    /// Only files this phone never runs have a `GET` of it.
    OnlyInFilesNotRun { get: At },
    /// No `GET` names it; a `SET` of a list the phone fetches from after the script
    /// (TRUSTCERTS, LANGUAGES) does, and is not what is in force at the end.
    SetNotInForce { set: At, name: String },
    /// The `GET` is not reached, and the run shows nothing that skipped it.
    NotReached { get: At },
    /// No `GET` of the files given names it, nor a TRUSTCERTS or LANGUAGES setting.
    NotNamed,
}

/// Everything one phone does with a script and the files it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The files the phone asks for, in order.
    pub fetches: Vec<Fetch>,
    /// Every setting with a value at the end, in name order.
    pub settings: Vec<InForce>,
    /// Lines that did nothing, by file (in the order the phone ran them), then line.
    pub ignored: Vec<Ignored>,
    /// Given files the phone never asked for, each with why.
    pub unfetched: Vec<Unfetched>,
    /// Every statement executed, in order.
    pub trace: Vec<TraceEntry>,
}

/// Whether an APPNAME names boot code (Avaya's boot code files start with `hb`).
pub fn is_boot_code(appname: &str) -> bool {
    appname
        .get(..2)
        .is_some_and(|p| p.eq_ignore_ascii_case("hb"))
}

/// Run `upgrade` as the phone `vars` describes, answering each `GET` from `files` (by file
/// name: as written in the GET, else the last part of its path), from the profile's
/// defaults.
pub fn evaluate(vars: PhoneVars, upgrade: Script, files: &BTreeMap<String, Script>) -> Evaluation {
    evaluate_from(vars, Settings::new(), upgrade, files)
}

/// [`evaluate`] from the settings the phone holds before its upgrade script (what DHCP and
/// the site option gave it): a `SET` overrides them as its precedence allows.
pub fn evaluate_from(
    vars: PhoneVars,
    mut settings: Settings,
    upgrade: Script,
    files: &BTreeMap<String, Script>,
) -> Evaluation {
    let mut interp = Interpreter::new(vars.clone());
    let mut fetches = vec![Fetch {
        file: upgrade.file.clone(),
        kind: FetchKind::UpgradeScript,
        given: true,
    }];
    let mut ran: Vec<Script> = vec![upgrade.clone()];
    interp.start(upgrade.clone());
    let mut app_checked = false;
    while let Step::Get { file, from_line } = interp.next(&mut settings) {
        if !app_checked {
            app_checked = true;
            fetches.extend(application(&vars, &settings, interp.trace()));
        }
        let from = interp
            .trace()
            .last()
            .map(|t| t.file.clone())
            .unwrap_or_default();
        let found = given(files, &file).cloned();
        fetches.push(Fetch {
            file: file.clone(),
            kind: FetchKind::Get {
                file: from,
                line: from_line,
            },
            given: found.is_some(),
        });
        if let Some(script) = &found
            && !ran.iter().any(|r| r.file == script.file)
        {
            ran.push(script.clone());
        }
        interp.fetched(found);
    }
    if !app_checked {
        fetches.extend(application(&vars, &settings, interp.trace()));
    }
    for (name, kind) in [
        ("TRUSTCERTS", FetchKind::TrustCert),
        ("LANGUAGES", FetchKind::Language),
    ] {
        for file in settings.files(name) {
            fetches.push(Fetch {
                given: given(files, &file).is_some(),
                file,
                kind: kind.clone(),
            });
        }
    }
    let trace = interp.trace().to_vec();
    let fetched: BTreeSet<&str> = fetches
        .iter()
        .map(|f| f.file.rsplit('/').next().unwrap_or(&f.file))
        .collect();
    let every: Vec<&Script> = std::iter::once(&upgrade).chain(files.values()).collect();
    let unfetched = files
        .keys()
        .filter(|f| !fetched.contains(f.as_str()))
        .map(|f| Unfetched {
            file: f.clone(),
            why: why_unfetched(f, &every, &ran, &trace),
        })
        .collect();
    Evaluation {
        settings: in_force(&settings, &trace),
        ignored: ignored(&ran, &trace),
        fetches,
        unfetched,
        trace,
    }
}

/// Whether a `GET` of `target` is answered with the file given as `name`.
fn names(target: &str, name: &str) -> bool {
    target == name
        || target
            .rsplit_once('/')
            .is_some_and(|(_, last)| last == name)
}

/// Why the file given as `name` is never fetched: the first `GET` of it in the last file the
/// phone ran that has one, and what kept the phone from that line; else where else it is
/// named.
fn why_unfetched(
    name: &str,
    every: &[&Script],
    ran: &[Script],
    trace: &[TraceEntry],
) -> UnfetchedWhy {
    let gets_in = |script: &Script| -> Vec<At> {
        script
            .lines
            .iter()
            .filter(|l| matches!(&l.statement, Statement::Get { file } if names(file, name)))
            .map(|l| At {
                file: script.file.clone(),
                line: l.number,
            })
            .collect()
    };
    // The last file run that has such a GET: an earlier file's GET was left because the
    // phone went on to a later file, and what happened there is the news.
    for script in ran.iter().rev() {
        if let Some(get) = gets_in(script).into_iter().next() {
            return branch_not_taken(script, &get, trace)
                .unwrap_or_else(|| skipped_by(&get, trace));
        }
    }
    if let Some(get) = every.iter().find_map(|s| gets_in(s).into_iter().next()) {
        return UnfetchedWhy::OnlyInFilesNotRun { get };
    }
    for script in every {
        for l in &script.lines {
            if let Statement::Set { name: set, value } = &l.statement
                && ["TRUSTCERTS", "LANGUAGES"]
                    .iter()
                    .any(|n| set.eq_ignore_ascii_case(n))
                && value.split(',').any(|v| v.trim() == name)
            {
                return UnfetchedWhy::SetNotInForce {
                    set: At {
                        file: script.file.clone(),
                        line: l.number,
                    },
                    name: set.to_ascii_uppercase(),
                };
            }
        }
    }
    UnfetchedWhy::NotNamed
}

/// The `GET` is under a label only a jump reaches (the statement before the label is a
/// `GOTO`), no jump there happened, and an `IF` to that label ran and did not match.
fn branch_not_taken(script: &Script, get: &At, trace: &[TraceEntry]) -> Option<UnfetchedWhy> {
    let above = script.lines.iter().take_while(|l| l.number < get.line);
    let (i, label) = above
        .enumerate()
        .filter_map(|(i, l)| match &l.statement {
            Statement::Label { name } => Some((i, name.clone())),
            _ => None,
        })
        .last()?;
    let before = i.checked_sub(1).and_then(|j| script.lines.get(j))?;
    if !matches!(before.statement, Statement::Goto { .. }) {
        return None;
    }
    let to_label = |s: &Statement| match s {
        Statement::If { label: l, .. } | Statement::Goto { label: l } => {
            l.eq_ignore_ascii_case(&label)
        }
        _ => false,
    };
    let here = trace.iter().filter(|t| t.file == script.file);
    let jumped_there = here.clone().any(|t| {
        matches!(t.effect, Effect::Jump { .. } | Effect::BranchTaken { .. })
            && t.statement.as_ref().is_some_and(to_label)
    });
    if jumped_there {
        return None;
    }
    here.filter_map(|t| match (&t.effect, &t.statement) {
        (Effect::BranchNotTaken { value }, Some(stmt)) if to_label(stmt) => {
            Some(UnfetchedWhy::BranchNotTaken {
                get: get.clone(),
                label: label.clone(),
                branch: At {
                    file: t.file.clone(),
                    line: t.line,
                },
                statement: stmt.clone(),
                value: value.clone(),
            })
        }
        _ => None,
    })
    .next()
}

/// What moved the phone past the `GET` at `get` (never executed): the last transfer of
/// control in that file, in the order the phone ran, from a line above the `GET`. Whatever
/// ran after it did not reach the `GET`, so that transfer is the one that skipped it.
fn skipped_by(get: &At, trace: &[TraceEntry]) -> UnfetchedWhy {
    let at = |t: &TraceEntry| At {
        file: t.file.clone(),
        line: t.line,
    };
    let last = trace
        .iter()
        .filter(|t| t.file == get.file && t.line < get.line)
        .rfind(|t| {
            matches!(
                t.effect,
                Effect::Jump { .. }
                    | Effect::BranchTaken { .. }
                    | Effect::Fetched { .. }
                    | Effect::MissingLabel { .. }
                    | Effect::LoopGuard { .. }
            )
        });
    let Some(t) = last else {
        // The loop guard may have stopped the run in another file.
        return match trace.last() {
            Some(t) if matches!(t.effect, Effect::LoopGuard { .. }) => UnfetchedWhy::LoopGuard {
                get: get.clone(),
                at: at(t),
            },
            _ => UnfetchedWhy::NotReached { get: get.clone() },
        };
    };
    match (&t.effect, &t.statement) {
        (Effect::Fetched { file }, _) => UnfetchedWhy::EarlierGetSucceeded {
            get: get.clone(),
            earlier: at(t),
            fetched: file.clone(),
        },
        (Effect::MissingLabel { label }, _) => UnfetchedWhy::FileEnded {
            get: get.clone(),
            jump: at(t),
            label: label.clone(),
        },
        (Effect::LoopGuard { .. }, _) => UnfetchedWhy::LoopGuard {
            get: get.clone(),
            at: at(t),
        },
        (_, Some(statement)) => UnfetchedWhy::JumpedOver {
            get: get.clone(),
            jump: at(t),
            statement: statement.clone(),
        },
        (_, None) => UnfetchedWhy::NotReached { get: get.clone() },
    }
}

/// The file a `GET` names: by its name as written, else by the last part of its path
/// (`GET site/46xxsettings.txt` is answered with a file named `46xxsettings.txt`).
fn given<'a>(files: &'a BTreeMap<String, Script>, get: &str) -> Option<&'a Script> {
    files
        .get(get)
        .or_else(|| get.rsplit_once('/').and_then(|(_, name)| files.get(name)))
}

/// The application check: what APPNAME names and whether the phone fetches it.
fn application(vars: &PhoneVars, settings: &Settings, trace: &[TraceEntry]) -> Option<Fetch> {
    let appname = settings.get("APPNAME")?.to_string();
    let set_at = last_set(trace, "APPNAME");
    let boot_code = is_boot_code(&appname);
    let running = if boot_code {
        &vars.bootname
    } else {
        &vars.appname
    };
    let decision = if running.is_empty() {
        AppDecision::RunningUnknown
    } else if *running == appname {
        AppDecision::AlreadyRunning
    } else {
        AppDecision::Differs
    };
    Some(Fetch {
        file: appname,
        kind: FetchKind::Application {
            set_at,
            boot_code,
            decision,
        },
        given: false,
    })
}

/// The file and line of the last accepted `SET name`.
fn last_set(trace: &[TraceEntry], name: &str) -> Option<(String, usize)> {
    trace.iter().rev().find_map(|t| match &t.effect {
        Effect::Set { name: n, .. } if n.eq_ignore_ascii_case(name) => {
            Some((t.file.clone(), t.line))
        }
        _ => None,
    })
}

fn in_force(settings: &Settings, trace: &[TraceEntry]) -> Vec<InForce> {
    settings
        .iter()
        .map(|(name, value, source)| InForce {
            name: name.to_string(),
            value: value.to_string(),
            origin: match (source, last_set(trace, name)) {
                (Source::Default, _) => Origin::Default,
                (Source::SettingsFile, Some((file, line))) => Origin::Line { file, line },
                (other, _) => Origin::Given(other),
            },
        })
        .collect()
}

/// The lines of the files the phone ran that did nothing: parse findings (a jump to a
/// missing label and unreachable statements are told from the run itself), refused values,
/// `IF`s on unknown variables, jumps that ended a file, and `SET`s the run never came to.
fn ignored(ran: &[Script], trace: &[TraceEntry]) -> Vec<Ignored> {
    let mut out = Vec::new();
    for script in ran {
        let mut here = Vec::new();
        for (line, kind) in &script.findings {
            if matches!(
                kind,
                FindingKind::MissingLabel { .. } | FindingKind::Unreachable { .. }
            ) {
                continue;
            }
            here.push(Ignored {
                file: script.file.clone(),
                line: *line,
                statement: None,
                why: IgnoredWhy::Finding(kind.clone()),
            });
        }
        let mut executed = BTreeSet::new();
        for t in trace.iter().filter(|t| t.file == script.file) {
            if t.statement.is_some() {
                executed.insert(t.line);
            }
            let why = match &t.effect {
                Effect::Rejected { why, .. } => IgnoredWhy::Refused(why.clone()),
                Effect::MissingLabel { label } => IgnoredWhy::MissingLabel {
                    label: label.clone(),
                },
                Effect::UnknownVariable { var } => IgnoredWhy::UnknownVariable { var: var.clone() },
                Effect::LoopGuard { executed } => IgnoredWhy::LoopGuard {
                    executed: *executed,
                },
                _ => continue,
            };
            here.push(Ignored {
                file: t.file.clone(),
                line: t.line,
                statement: t.statement.clone(),
                why,
            });
        }
        for line in &script.lines {
            if matches!(line.statement, Statement::Set { .. }) && !executed.contains(&line.number) {
                here.push(Ignored {
                    file: script.file.clone(),
                    line: line.number,
                    statement: Some(line.statement.clone()),
                    why: IgnoredWhy::NotReached,
                });
            }
        }
        here.sort_by_key(|i| i.line);
        here.dedup();
        out.extend(here);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model;
    use crate::script::parse;

    const UPGRADE: &str = "\
## upgrade script
IF $MODEL4 SEQ 9608 GOTO R7
IF $MODEL4 SEQ 9620 GOTO R2
GOTO END
# R2
SET APPNAME S96x0_SALBR2_6_1_0.bin
GET 46xxsettings.txt
# R7
SET APPNAME S96x1_SALBR7_0_0_0.bin
GET 46xxsettings.txt
# END
";

    const SETTINGS: &str = "\
SET SIPDOMAIN example.lab
SET HTTPPORT 99999
IF $GROUP SEQ 5 GOTO FIVE
GOTO END
# FIVE
SET REGISTERWAIT 120
# END
SET LANGUAGES lang_one.xml,lang_two.xml
SET NOSUCH 1
";

    fn files() -> BTreeMap<String, Script> {
        [(
            "46xxsettings.txt".to_string(),
            parse("46xxsettings.txt", SETTINGS),
        )]
        .into_iter()
        .collect()
    }

    fn names(e: &Evaluation) -> Vec<&str> {
        e.fetches
            .iter()
            .filter(|f| f.requested())
            .map(|f| f.file.as_str())
            .collect()
    }

    #[test]
    fn a_9620_fetches_its_application_then_settings_then_languages() {
        let vars = model::find("9620").unwrap().vars(0);
        let e = evaluate(vars, parse("96xxupgrade.txt", UPGRADE), &files());
        assert_eq!(
            names(&e),
            vec![
                "96xxupgrade.txt",
                "S96x0_SALBR2_6_1_0.bin",
                "46xxsettings.txt",
                "lang_one.xml",
                "lang_two.xml"
            ]
        );
        assert_eq!(
            e.fetches[1].kind,
            FetchKind::Application {
                set_at: Some(("96xxupgrade.txt".into(), 6)),
                boot_code: false,
                decision: AppDecision::RunningUnknown
            }
        );
        assert!(!e.fetches[3].given);
        let sip = e.settings.iter().find(|s| s.name == "SIPDOMAIN").unwrap();
        assert_eq!(
            sip.origin,
            Origin::Line {
                file: "46xxsettings.txt".into(),
                line: 1
            }
        );
        let port = e.settings.iter().find(|s| s.name == "HTTPPORT").unwrap();
        assert_eq!(
            (port.value.as_str(), &port.origin),
            ("80", &Origin::Default)
        );
        let why: Vec<(&str, usize, &IgnoredWhy)> = e
            .ignored
            .iter()
            .map(|i| (i.file.as_str(), i.line, &i.why))
            .collect();
        assert!(
            matches!(
                why.as_slice(),
                [
                    ("96xxupgrade.txt", 9, IgnoredWhy::NotReached),
                    (
                        "46xxsettings.txt",
                        2,
                        IgnoredWhy::Refused(Rejected::InvalidValue { .. })
                    ),
                    ("46xxsettings.txt", 6, IgnoredWhy::NotReached),
                    (
                        "46xxsettings.txt",
                        9,
                        IgnoredWhy::Refused(Rejected::UnknownName(_))
                    ),
                ]
            ),
            "{why:?}"
        );
    }

    #[test]
    fn group_and_running_application_change_the_outcome() {
        let mut vars = model::find("9620").unwrap().vars(5);
        vars.appname = "S96x0_SALBR2_6_1_0.bin".into();
        let e = evaluate(vars, parse("96xxupgrade.txt", UPGRADE), &files());
        assert!(!e.fetches[1].requested(), "already running");
        let rw = e
            .settings
            .iter()
            .find(|s| s.name == "REGISTERWAIT")
            .unwrap();
        assert_eq!(rw.value, "120");
    }

    #[test]
    fn an_unknown_model_ends_at_goto_end_and_a_missing_file_is_not_given() {
        let vars = PhoneVars {
            model4: "9999".into(),
            ..PhoneVars::default()
        };
        let e = evaluate(vars, parse("96xxupgrade.txt", UPGRADE), &files());
        assert_eq!(names(&e), vec!["96xxupgrade.txt"]);
        // Both GETs are in branches only a matching IF reaches; the first is told.
        assert_eq!(
            e.unfetched,
            vec![Unfetched {
                file: "46xxsettings.txt".into(),
                why: UnfetchedWhy::BranchNotTaken {
                    get: at("96xxupgrade.txt", 7),
                    label: "R2".into(),
                    branch: at("96xxupgrade.txt", 3),
                    statement: Statement::If {
                        var: "MODEL4".into(),
                        value: "9620".into(),
                        label: "R2".into()
                    },
                    value: "9999".into(),
                }
            }]
        );

        let vars = model::find("9608").unwrap().vars(0);
        let e = evaluate(vars, parse("96xxupgrade.txt", UPGRADE), &BTreeMap::new());
        assert_eq!(
            names(&e),
            vec![
                "96xxupgrade.txt",
                "S96x1_SALBR7_0_0_0.bin",
                "46xxsettings.txt"
            ]
        );
        assert!(!e.fetches[2].given);
    }

    #[test]
    fn values_held_before_the_script_keep_their_source_until_a_set_overrides_them() {
        let mut before = Settings::new();
        before
            .set("SIPDOMAIN", "dhcp.example.lab", Source::SiteOption)
            .unwrap();
        before.set("L2QVLAN", "12", Source::SiteOption).unwrap();
        before.set("SIG", "1", Source::SiteOption).unwrap();
        let vars = model::find("9620").unwrap().vars(0);
        let e = evaluate_from(vars, before, parse("96xxupgrade.txt", UPGRADE), &files());
        let sip = e.settings.iter().find(|s| s.name == "SIPDOMAIN").unwrap();
        assert_eq!(sip.value, "example.lab", "the settings file wins");
        let vlan = e.settings.iter().find(|s| s.name == "L2QVLAN").unwrap();
        assert_eq!(
            (vlan.value.as_str(), &vlan.origin),
            ("12", &Origin::Given(Source::SiteOption))
        );
        let sig = e.settings.iter().find(|s| s.name == "SIG").unwrap();
        assert_eq!(sig.origin, Origin::Given(Source::SiteOption));
    }

    fn at(file: &str, line: usize) -> At {
        At {
            file: file.into(),
            line,
        }
    }

    /// Why each given file is not fetched, for `upgrade` run by a 9620 given `names`
    /// (each file holding `body`).
    fn why_not(upgrade: &str, given: &[(&str, &str)]) -> Vec<(String, UnfetchedWhy)> {
        let files: BTreeMap<String, Script> = given
            .iter()
            .map(|(n, body)| (n.to_string(), parse(n, body)))
            .collect();
        let vars = model::find("9620").unwrap().vars(0);
        evaluate(vars, parse("up.txt", upgrade), &files)
            .unfetched
            .into_iter()
            .map(|u| (u.file, u.why))
            .collect()
    }

    #[test]
    fn a_given_file_never_fetched_says_what_kept_the_phone_from_its_get() {
        // A fallback GET: runs only when the one before it fails.
        assert_eq!(
            why_not(
                "GET primary.txt\nGET fallback.txt\n",
                &[("primary.txt", ""), ("fallback.txt", "")]
            ),
            [(
                "fallback.txt".into(),
                UnfetchedWhy::EarlierGetSucceeded {
                    get: at("up.txt", 2),
                    earlier: at("up.txt", 1),
                    fetched: "primary.txt".into()
                }
            )]
        );
        // The same GET after a failed one, skipped by the GOTO meant for that failure.
        assert_eq!(
            why_not(
                "GET primary.txt\nGOTO END\nGET other.txt\n# END\n",
                &[("other.txt", "")]
            ),
            [(
                "other.txt".into(),
                UnfetchedWhy::JumpedOver {
                    get: at("up.txt", 3),
                    jump: at("up.txt", 2),
                    statement: Statement::Goto {
                        label: "END".into()
                    }
                }
            )]
        );
        // A matching IF that jumps past the GET.
        assert!(matches!(
            &why_not(
                "IF $MODEL4 SEQ 9620 GOTO SKIP\nGET other.txt\n# SKIP\n",
                &[("other.txt", "")]
            )[0].1,
            UnfetchedWhy::JumpedOver { jump, statement: Statement::If { .. }, .. } if jump.line == 1
        ));
        // A jump to a label the file lacks ends it.
        assert_eq!(
            why_not("GOTO NOWHERE\nGET other.txt\n", &[("other.txt", "")]),
            [(
                "other.txt".into(),
                UnfetchedWhy::FileEnded {
                    get: at("up.txt", 2),
                    jump: at("up.txt", 1),
                    label: "NOWHERE".into()
                }
            )]
        );
        // Named only in a file the phone never runs; by a LANGUAGES it does not keep; by
        // nothing at all.
        assert_eq!(
            why_not(
                "GET a.txt\n",
                &[
                    ("a.txt", "SET LANGUAGES x.xml\nSET LANGUAGES y.xml\n"),
                    ("b.txt", "GET c.txt\n"),
                    ("c.txt", ""),
                    ("x.xml", ""),
                    ("z.txt", "")
                ]
            ),
            [
                ("b.txt".into(), UnfetchedWhy::NotNamed),
                (
                    "c.txt".into(),
                    UnfetchedWhy::OnlyInFilesNotRun {
                        get: at("b.txt", 1)
                    }
                ),
                (
                    "x.xml".into(),
                    UnfetchedWhy::SetNotInForce {
                        set: at("a.txt", 1),
                        name: "LANGUAGES".into()
                    }
                ),
                ("z.txt".into(), UnfetchedWhy::NotNamed),
            ]
        );
        // A label that the line before falls into is no branch: the GET is told by what
        // skipped it.
        assert!(matches!(
            &why_not(
                "IF $MODEL4 SEQ 9608 GOTO R7\nGET a.txt\n# R7\nGET b.txt\n",
                &[("a.txt", ""), ("b.txt", "")]
            )[0].1,
            UnfetchedWhy::EarlierGetSucceeded { earlier, .. } if earlier.line == 2
        ));
    }

    #[test]
    fn a_get_with_a_folder_is_answered_by_the_file_of_its_last_name() {
        let vars = model::find("9620").unwrap().vars(0);
        let e = evaluate(
            vars,
            parse("up.txt", "GET site/46xxsettings.txt\n"),
            &files(),
        );
        assert!(e.fetches[1].given, "{:?}", e.fetches);
        assert_eq!(e.fetches[1].file, "site/46xxsettings.txt");
        assert!(e.unfetched.is_empty());
        let sip = e.settings.iter().find(|s| s.name == "SIPDOMAIN").unwrap();
        assert_eq!(sip.value, "example.lab");
    }

    #[test]
    fn boot_code_is_compared_with_bootname_and_unknown_variables_are_reported() {
        let script =
            "IF $BOOTNAME SEQ hb96xxua3_00.bin GOTO DONE\nSET APPNAME hb96xxua3_00.bin\n# DONE\n";
        let vars = model::find("9620").unwrap().vars(0);
        let e = evaluate(vars.clone(), parse("up.txt", script), &BTreeMap::new());
        assert!(matches!(
            e.ignored[0].why,
            IgnoredWhy::UnknownVariable { ref var } if var == "BOOTNAME"
        ));
        assert!(matches!(
            e.fetches[1].kind,
            FetchKind::Application {
                boot_code: true,
                decision: AppDecision::RunningUnknown,
                ..
            }
        ));
        let mut old = vars;
        old.bootname = "hb96xxua2_00.bin".into();
        let e = evaluate(old, parse("up.txt", script), &BTreeMap::new());
        assert!(matches!(
            e.fetches[1].kind,
            FetchKind::Application {
                decision: AppDecision::Differs,
                ..
            }
        ));
    }
}
