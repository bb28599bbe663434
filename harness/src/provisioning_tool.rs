//! `phonecert script eval`, `phonecert lint` and `phonecert option242 explain`: what a phone
//! will make of an upgrade script, a settings file or an option 242 string, before an
//! administrator rolls it out.
//!
//! Owns: reading the files from disk, mapping each `GET` onto the files given (by file
//! name), the phone's variables from the model table and `--var`, and the text and JSON the
//! three commands print (schemas `phonecert.script-eval/1`, `phonecert.lint/1`,
//! `phonecert.option242-explain/1`, README "Other commands").
//! Never: parses or interprets the language itself — `provisioning` does, the same code the
//! reference phone runs — and never touches the network or rewrites an address.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use provisioning::eval::{
    self, AppDecision, Evaluation, FetchKind, IgnoredWhy, Origin, UnfetchedWhy,
};
use provisioning::model;
use provisioning::option242::{self, PairOutcome};
use provisioning::script::{self, PhoneVars, Script, Severity};
use provisioning::settings::{Rejected, Settings, Source};
use serde_json::{Value, json};

/// What stops a command before it says anything about the files.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} has no file name to match a GET against")]
    NoFileName { path: PathBuf },
    #[error("{first} and {second} have the same file name: a GET could not tell them apart")]
    SameName { first: PathBuf, second: PathBuf },
    #[error("unknown model {0:?} (known: {known})", known = known_models())]
    UnknownModel(String),
    #[error("--group {0} is out of range 0–999")]
    BadGroup(u16),
    #[error(
        "--var {0:?}: want NAME=VALUE with NAME one of MODEL, GROUP, MACADDR, BOOTNAME, HWVERS, APPNAME, SIG_IN_USE, SHA2CAPABLE, VPNACTIVE, or a parameter option 242 may set (SIG, HTTPSRVR …)"
    )]
    BadVar(String),
    #[error("--var {given:?}: {why}")]
    BadSetting { given: String, why: Rejected },
}

fn known_models() -> String {
    model::MODELS
        .iter()
        .map(|m| m.model4)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `text` or `json` on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// Read and parse a file as a phone would receive it: never fails on its contents (a binary
/// or huge file becomes a finding), only on the file system.
fn read_script(path: &Path) -> Result<Script, ToolError> {
    let bytes = std::fs::read(path).map_err(|source| ToolError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(script::parse_bytes(&path.display().to_string(), &bytes))
}

/// The phone `--model`, `--group` and `--var` describe: its variables, and the settings it
/// holds before the script (a `--var` naming a parameter is taken as the site option gives
/// it, with the site option's precedence and validation).
pub fn phone(
    model4: &str,
    group: u16,
    vars: &[String],
) -> Result<(PhoneVars, Settings), ToolError> {
    let m = model::find(model4).ok_or_else(|| ToolError::UnknownModel(model4.to_string()))?;
    if group > 999 {
        return Err(ToolError::BadGroup(group));
    }
    let mut v = m.vars(group);
    let mut settings = Settings::new();
    for given in vars {
        let (name, value) = given
            .split_once('=')
            .ok_or_else(|| ToolError::BadVar(given.clone()))?;
        let slot = match name.to_ascii_uppercase().as_str() {
            "MODEL" => &mut v.model,
            "GROUP" => &mut v.group,
            "MACADDR" => &mut v.macaddr,
            "BOOTNAME" => &mut v.bootname,
            "HWVERS" => &mut v.hwvers,
            "APPNAME" => &mut v.appname,
            "SIG_IN_USE" => &mut v.sig_in_use,
            "SHA2CAPABLE" => &mut v.sha2capable,
            "VPNACTIVE" => &mut v.vpnactive,
            _ => {
                match settings.set(name, value, Source::SiteOption) {
                    Ok(()) => {}
                    Err(Rejected::UnknownName(_)) => {
                        return Err(ToolError::BadVar(given.clone()));
                    }
                    Err(why) => {
                        return Err(ToolError::BadSetting {
                            given: given.clone(),
                            why,
                        });
                    }
                }
                continue;
            }
        };
        *slot = value.to_string();
    }
    Ok((v, settings))
}

fn vars_table(v: &PhoneVars) -> Vec<(&'static str, &str)> {
    vec![
        ("MODEL4", v.model4.as_str()),
        ("MODEL", v.model.as_str()),
        ("GROUP", v.group.as_str()),
        ("MACADDR", v.macaddr.as_str()),
        ("BOOTNAME", v.bootname.as_str()),
        ("HWVERS", v.hwvers.as_str()),
        ("APPNAME", v.appname.as_str()),
        ("SIG_IN_USE", v.sig_in_use.as_str()),
        ("SHA2CAPABLE", v.sha2capable.as_str()),
        ("VPNACTIVE", v.vpnactive.as_str()),
    ]
}

/// `phonecert script eval`: `paths[0]` is the upgrade script, the others the files its GETs
/// may name. Returns what to print.
pub fn script_eval(
    paths: &[PathBuf],
    (vars, before): (PhoneVars, Settings),
    format: OutputFormat,
) -> Result<String, ToolError> {
    let Some((first, rest)) = paths.split_first() else {
        return Ok(String::new());
    };
    let upgrade = read_script(first)?;
    let mut files: BTreeMap<String, Script> = BTreeMap::new();
    let mut from: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in rest {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| ToolError::NoFileName { path: path.clone() })?;
        if let Some(prev) = from.insert(name.clone(), path.clone()) {
            return Err(ToolError::SameName {
                first: prev,
                second: path.clone(),
            });
        }
        files.insert(name, read_script(path)?);
    }
    let e = eval::evaluate_from(vars.clone(), before, upgrade, &files);
    Ok(match format {
        OutputFormat::Text => eval_text(&vars, &e),
        OutputFormat::Json => pretty(&eval_json(&vars, &e)),
    })
}

fn pretty(v: &Value) -> String {
    // Serialising a `Value` cannot fail; `{}` keeps the output valid JSON if it ever did.
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

fn fetch_how(kind: &FetchKind) -> String {
    match kind {
        FetchKind::UpgradeScript => "upgrade script".into(),
        FetchKind::Get { file, line } => format!("GET at {file}:{line}"),
        FetchKind::Application {
            set_at,
            boot_code,
            decision,
        } => {
            let what = if *boot_code {
                "boot code"
            } else {
                "application"
            };
            let at = set_at
                .as_ref()
                .map(|(f, l)| format!(" (APPNAME at {f}:{l})"))
                .unwrap_or_default();
            let running = if *boot_code { "BOOTNAME" } else { "APPNAME" };
            let then = match decision {
                AppDecision::AlreadyRunning => "already running: not fetched".to_string(),
                AppDecision::Differs => {
                    "differs from what runs: fetched, installed, then the phone reboots and runs the script again".to_string()
                }
                AppDecision::RunningUnknown => format!(
                    "fetched unless it already runs (what runs is unknown: --var {running}=…)"
                ),
            };
            format!("{what}{at}, checked before the first GET: {then}")
        }
        FetchKind::TrustCert => "certificate named by TRUSTCERTS".into(),
        FetchKind::Language => "language file named by LANGUAGES".into(),
    }
}

fn origin_text(o: &Origin) -> String {
    match o {
        Origin::Default => "default".into(),
        Origin::Line { file, line } => format!("{file}:{line}"),
        Origin::Given(source) => format!("--var, as from the {source}"),
    }
}

fn ignored_text(why: &IgnoredWhy) -> String {
    match why {
        IgnoredWhy::Refused(r) => format!("refused: {r}"),
        IgnoredWhy::Finding(k) => k.to_string(),
        IgnoredWhy::NotReached => "not reached by this phone".into(),
        IgnoredWhy::MissingLabel { label } => {
            format!("no label {label:?} in this file: the rest of the file never runs")
        }
        IgnoredWhy::UnknownVariable { var } => {
            format!(
                "this phone does not report ${var} (--var {var}=… gives it): the IF does nothing"
            )
        }
        IgnoredWhy::LoopGuard { executed } => {
            format!("stopped after {executed} statements: the script loops")
        }
    }
}

fn ignored_code(why: &IgnoredWhy) -> &'static str {
    match why {
        IgnoredWhy::Refused(r) => script::rejected_code(r),
        IgnoredWhy::Finding(k) => k.code(),
        IgnoredWhy::NotReached => "not-reached",
        IgnoredWhy::MissingLabel { .. } => "missing-label",
        IgnoredWhy::UnknownVariable { .. } => "unknown-variable",
        IgnoredWhy::LoopGuard { .. } => "loop-guard",
    }
}

fn eval_text(vars: &PhoneVars, e: &Evaluation) -> String {
    let mut out = String::new();
    let (known, unknown): (Vec<_>, Vec<_>) = vars_table(vars)
        .into_iter()
        .partition(|(_, v)| !v.is_empty());
    let known: Vec<String> = known.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let _ = write!(out, "phone: {}", known.join(" "));
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|(n, _)| *n).collect();
        let _ = write!(out, " (unknown: {})", names.join(" "));
    }
    out.push_str("\n\nfetches, in order:\n");
    // The upgrade script by the name the phone asks for; its path is in the line numbers.
    let shown = |f: &eval::Fetch| match f.kind {
        FetchKind::UpgradeScript => Path::new(&f.file)
            .file_name()
            .map_or_else(|| f.file.clone(), |n| n.to_string_lossy().into_owned()),
        _ => f.file.clone(),
    };
    let width = e.fetches.iter().map(|f| shown(f).len()).max().unwrap_or(0);
    for (i, f) in e.fetches.iter().enumerate() {
        let given = if f.given || matches!(f.kind, FetchKind::Application { .. }) {
            ""
        } else {
            " — not given, would be fetched"
        };
        let _ = writeln!(
            out,
            "  {:>2}  {:<width$}  {}{given}",
            i + 1,
            shown(f),
            fetch_how(&f.kind)
        );
    }
    let (from_files, defaults): (Vec<_>, Vec<_>) = e
        .settings
        .iter()
        .partition(|s| !matches!(s.origin, Origin::Default));
    out.push_str("\nsettings in force, set by the files or --var:\n");
    if from_files.is_empty() {
        out.push_str("  none\n");
    }
    let width = from_files.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let vwidth = from_files
        .iter()
        .map(|s| s.value.chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    for s in &from_files {
        let _ = writeln!(
            out,
            "  {:<width$}  {:<vwidth$}  {}",
            s.name,
            s.value,
            origin_text(&s.origin)
        );
    }
    out.push_str("\nsettings in force at their defaults:\n");
    let mut row = String::from(" ");
    for s in &defaults {
        let item = format!(" {}={}", s.name, s.value);
        if row.len() + item.len() > 92 {
            let _ = writeln!(out, "{row}");
            row = String::from(" ");
        }
        row.push_str(&item);
    }
    if row.trim().is_empty() {
        row.push_str(" none");
    }
    let _ = writeln!(out, "{row}");
    out.push_str("\nignored or misread:\n");
    if e.ignored.is_empty() {
        out.push_str("  nothing\n");
    }
    for i in &e.ignored {
        let stmt = i
            .statement
            .as_ref()
            .map(|s| format!("{s}: "))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}:{}: {stmt}{}",
            i.file,
            i.line,
            ignored_text(&i.why)
        );
    }
    if !e.unfetched.is_empty() {
        out.push_str("\ngiven but never fetched by this phone:\n");
        for u in &e.unfetched {
            let _ = writeln!(out, "  {}: {}", u.file, unfetched_text(&u.why));
        }
    }
    out
}

/// Why a given file is never fetched, in a line for people.
fn unfetched_text(why: &UnfetchedWhy) -> String {
    match why {
        UnfetchedWhy::BranchNotTaken {
            get,
            label,
            branch,
            statement,
            value,
        } => {
            let var = match statement {
                script::Statement::If { var, .. } => format!("${var} is {value:?}"),
                _ => format!("the value is {value:?}"),
            };
            format!(
                "the GET at {get} is under `# {label}`, a branch this phone does not take: `{statement}` at {branch} did not match ({var})"
            )
        }
        UnfetchedWhy::JumpedOver {
            get,
            jump,
            statement,
        } => format!("`{statement}` at {jump} jumped over the GET at {get}"),
        UnfetchedWhy::EarlierGetSucceeded {
            get,
            earlier,
            fetched,
        } => format!(
            "the GET at {get} runs only if the GET of {fetched} at {earlier} fails; that file was found, and the phone does not come back from it"
        ),
        UnfetchedWhy::FileEnded { get, jump, label } => format!(
            "the jump at {jump} names no label {label:?}: {} ends there, before the GET at {get}",
            jump.file
        ),
        UnfetchedWhy::LoopGuard { get, at } => {
            format!("the script loops: stopped at {at}, before the GET at {get}")
        }
        UnfetchedWhy::OnlyInFilesNotRun { get } => {
            format!("only the GET at {get} names it, in a file this phone never runs")
        }
        UnfetchedWhy::SetNotInForce { set, name } => format!(
            "no GET names it; the SET {name} at {set} that does is not in force for this phone"
        ),
        UnfetchedWhy::NotReached { get } => {
            format!("the GET at {get} is not reached by this phone")
        }
        UnfetchedWhy::NotNamed => {
            "no GET in the files given names it, nor TRUSTCERTS or LANGUAGES".into()
        }
    }
}

fn unfetched_code(why: &UnfetchedWhy) -> &'static str {
    match why {
        UnfetchedWhy::BranchNotTaken { .. } => "branch-not-taken",
        UnfetchedWhy::JumpedOver { .. } => "jumped-over",
        UnfetchedWhy::EarlierGetSucceeded { .. } => "earlier-get-succeeded",
        UnfetchedWhy::FileEnded { .. } => "missing-label",
        UnfetchedWhy::LoopGuard { .. } => "loop-guard",
        UnfetchedWhy::OnlyInFilesNotRun { .. } => "only-in-files-not-run",
        UnfetchedWhy::SetNotInForce { .. } => "set-not-in-force",
        UnfetchedWhy::NotReached { .. } => "not-reached",
        UnfetchedWhy::NotNamed => "not-named",
    }
}

/// The `GET` (or `SET`) an explanation rests on.
fn unfetched_line(why: &UnfetchedWhy) -> Option<&eval::At> {
    match why {
        UnfetchedWhy::BranchNotTaken { get, .. }
        | UnfetchedWhy::JumpedOver { get, .. }
        | UnfetchedWhy::EarlierGetSucceeded { get, .. }
        | UnfetchedWhy::FileEnded { get, .. }
        | UnfetchedWhy::LoopGuard { get, .. }
        | UnfetchedWhy::OnlyInFilesNotRun { get }
        | UnfetchedWhy::NotReached { get } => Some(get),
        UnfetchedWhy::SetNotInForce { set, .. } => Some(set),
        UnfetchedWhy::NotNamed => None,
    }
}

fn eval_json(vars: &PhoneVars, e: &Evaluation) -> Value {
    let phone: serde_json::Map<String, Value> = vars_table(vars)
        .into_iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                if v.is_empty() { Value::Null } else { json!(v) },
            )
        })
        .collect();
    let fetches: Vec<Value> = e
        .fetches
        .iter()
        .map(|f| {
            let mut o = json!({
                "file": f.file,
                "given": f.given,
                "requested": f.requested(),
            });
            let extra = match &f.kind {
                FetchKind::UpgradeScript => json!({"kind": "upgrade-script"}),
                FetchKind::Get { file, line } => {
                    json!({"kind": "get", "from": {"file": file, "line": line}})
                }
                FetchKind::Application {
                    set_at,
                    boot_code,
                    decision,
                } => json!({
                    "kind": if *boot_code { "boot-code" } else { "application" },
                    "from": set_at.as_ref().map(|(f, l)| json!({"file": f, "line": l})),
                    "decision": match decision {
                        AppDecision::AlreadyRunning => "already-running",
                        AppDecision::Differs => "differs",
                        AppDecision::RunningUnknown => "running-unknown",
                    },
                }),
                FetchKind::TrustCert => json!({"kind": "trust-cert"}),
                FetchKind::Language => json!({"kind": "language"}),
            };
            if let (Some(o), Value::Object(x)) = (o.as_object_mut(), extra) {
                o.extend(x);
            }
            o
        })
        .collect();
    let settings: Vec<Value> = e
        .settings
        .iter()
        .map(|s| {
            let (source, file, line) = match &s.origin {
                Origin::Default => ("default", None, None),
                Origin::Line { file, line } => ("settings-file", Some(file), Some(line)),
                Origin::Given(_) => ("var", None, None),
            };
            json!({"name": s.name, "value": s.value, "source": source, "file": file, "line": line})
        })
        .collect();
    let ignored: Vec<Value> = e
        .ignored
        .iter()
        .map(|i| {
            json!({
                "file": i.file,
                "line": i.line,
                "statement": i.statement.as_ref().map(ToString::to_string),
                "code": ignored_code(&i.why),
                "why": ignored_text(&i.why),
            })
        })
        .collect();
    let trace: Vec<Value> = e
        .trace
        .iter()
        .map(|t| {
            json!({
                "file": t.file,
                "line": t.line,
                "statement": t.statement.as_ref().map(ToString::to_string),
                "effect": t.effect.to_string(),
            })
        })
        .collect();
    json!({
        "schema": "phonecert.script-eval/1",
        "phone": phone,
        "fetches": fetches,
        "settings": settings,
        "ignored": ignored,
        "unfetched": e.unfetched.iter().map(|u| u.file.as_str()).collect::<Vec<_>>(),
        "unfetched_why": e.unfetched.iter().map(|u| json!({
            "file": u.file,
            "code": unfetched_code(&u.why),
            "why": unfetched_text(&u.why),
            "named_at": unfetched_line(&u.why).map(|a| json!({"file": a.file, "line": a.line})),
        })).collect::<Vec<_>>(),
        "trace": trace,
    })
}

/// What `phonecert lint` found: the text to print and whether any finding is an error.
#[derive(Debug)]
pub struct LintReport {
    pub output: String,
    pub errors: usize,
}

/// `phonecert lint`: every file on its own, as a phone would receive it.
pub fn lint(paths: &[PathBuf], format: OutputFormat) -> Result<LintReport, ToolError> {
    let scripts = paths
        .iter()
        .map(|p| read_script(p))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut errors, mut warnings) = (0, 0);
    let mut text = String::new();
    let mut files = Vec::new();
    for s in &scripts {
        let mut found = Vec::new();
        for (line, issue) in s.lint() {
            let severity = issue.severity();
            match severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
            let _ = writeln!(
                text,
                "{}:{line}: {severity}: {issue} [{}]",
                s.file,
                issue.code()
            );
            found.push(json!({
                "line": line,
                "severity": severity.to_string(),
                "code": issue.code(),
                "message": issue.to_string(),
            }));
        }
        files.push(json!({"file": s.file, "findings": found}));
    }
    let _ = writeln!(
        text,
        "{errors} error(s), {warnings} warning(s) in {} file(s)",
        scripts.len()
    );
    let output = match format {
        OutputFormat::Text => text,
        OutputFormat::Json => pretty(&json!({
            "schema": "phonecert.lint/1",
            "files": files,
            "errors": errors,
            "warnings": warnings,
        })),
    };
    Ok(LintReport { output, errors })
}

/// `phonecert option242 explain`: MCIPADD's H.323 call servers are shown apart from the SIP
/// controllers, since a SIP phone registers only with the latter.
pub fn option242_explain(string: &str, format: OutputFormat) -> String {
    let e = option242::explain(string);
    let servers = e.file_servers();
    let controllers = e.controllers();
    match format {
        OutputFormat::Text => {
            let mut out = String::from("pairs:\n");
            if e.pairs.is_empty() {
                out.push_str("  none\n");
            }
            let width = e
                .pairs
                .iter()
                .map(|(p, _)| p.name.len() + p.value.len() + 1)
                .max()
                .unwrap_or(0)
                .min(60);
            for (p, outcome) in &e.pairs {
                let what = match outcome {
                    PairOutcome::Applied => "applied".to_string(),
                    PairOutcome::Overridden { by } => {
                        format!("ignored: replaced by the pair at offset {by}")
                    }
                    PairOutcome::Refused(r) => format!("ignored: {r}"),
                    PairOutcome::H323Only => {
                        "ignored: an H.323 phone's parameter, not a SIP phone's".to_string()
                    }
                };
                let pair = format!("{}={}", p.name, p.value);
                let _ = writeln!(out, "  @{:<4} {pair:<width$}  {what}", p.offset);
            }
            if !e.findings.is_empty() {
                out.push_str("\nignored parts of the string:\n");
                for f in &e.findings {
                    let _ = writeln!(out, "  @{:<4} {}", f.offset, f.kind);
                }
            }
            out.push_str("\nfile servers, in the order the phone tries them:\n");
            if servers.is_empty() {
                out.push_str("  none (no HTTPSRVR or TLSSRVR: the phone has nowhere to fetch its upgrade script from)\n");
            }
            for s in &servers {
                let _ = writeln!(out, "  {}", s.url(""));
            }
            out.push_str("\nSIP controllers, in priority order:\n");
            if controllers.is_empty() {
                out.push_str("  none from this string\n");
            }
            for c in &controllers {
                let _ = writeln!(out, "  {c}");
            }
            if !e.h323_servers.is_empty() {
                let _ = writeln!(
                    out,
                    "\nH.323 call servers (MCIPADD), which a SIP phone does not use:\n  {}",
                    e.h323_servers.join("\n  ")
                );
            }
            out
        }
        OutputFormat::Json => {
            let pairs: Vec<Value> = e
                .pairs
                .iter()
                .map(|(p, outcome)| {
                    let (status, code, why, by) = match outcome {
                        PairOutcome::Applied => ("applied", None, None, None),
                        PairOutcome::Overridden { by } => (
                            "overridden",
                            Some("overridden"),
                            Some(format!("replaced by the pair at offset {by}")),
                            Some(*by),
                        ),
                        PairOutcome::Refused(r) => (
                            "refused",
                            Some(script::rejected_code(r)),
                            Some(r.to_string()),
                            None,
                        ),
                        PairOutcome::H323Only => (
                            "refused",
                            Some("h323-only"),
                            Some("an H.323 phone's parameter, not a SIP phone's".to_string()),
                            None,
                        ),
                    };
                    json!({
                        "offset": p.offset,
                        "name": p.name,
                        "value": p.value,
                        "outcome": status,
                        "code": code,
                        "why": why,
                        "overridden_by": by,
                    })
                })
                .collect();
            let findings: Vec<Value> = e
                .findings
                .iter()
                .map(|f| {
                    json!({
                        "offset": f.offset,
                        "malformed_pair": f.kind.is_malformed_pair(),
                        "message": f.kind.to_string(),
                    })
                })
                .collect();
            let servers: Vec<Value> = servers
                .iter()
                .map(|s| {
                    json!({
                        "scheme": s.scheme.as_str(),
                        "host": s.host,
                        "port": s.port,
                        "dir": s.dir,
                        "url": s.url(""),
                    })
                })
                .collect();
            let controllers: Vec<Value> = controllers
                .iter()
                .map(|c| {
                    json!({
                        "host": c.host,
                        "port": c.port,
                        "transport": c.transport.to_string(),
                        "entry": c.to_string(),
                    })
                })
                .collect();
            pretty(&json!({
                "schema": "phonecert.option242-explain/1",
                "string": string,
                "pairs": pairs,
                "findings": findings,
                "file_servers": servers,
                "controllers": controllers,
                "h323_servers": e.h323_servers,
            }))
        }
    }
}
