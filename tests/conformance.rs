//! The conformance suite as a test: one trial per scenario file under `scenarios/`, run by the
//! real `phonecert` binary against the clean reference phone.
//!
//! `cargo test --test conformance` (filters, `--list`, `--exact` work as usual). The lab is
//! `netns` when running as root, `loopback` otherwise (printed once). Scenarios listed in
//! `scenarios/expectations/simphone.toml` must fail; if one passes, its entry is stale and the
//! trial fails. An empty suite is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use libtest_mimic::{Arguments, Failed, Trial};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectations {
    #[serde(default)]
    expected_failure: Vec<Expected>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    scenario: String,
    reason: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lab() -> &'static str {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        "netns"
    } else {
        "loopback"
    }
}

fn run_one(file: &Path, id: &str, expected: Option<&str>) -> Result<(), Failed> {
    let out_dir =
        std::env::temp_dir().join(format!("phonecert-conformance-{}-{id}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = Command::new(env!("CARGO_BIN_EXE_phonecert"))
        .arg("run")
        .arg(file)
        .args(["--lab", lab(), "--out"])
        .arg(&out_dir)
        .current_dir(root())
        .env("PHONECERT_SIMPHONE", env!("CARGO_BIN_EXE_simphone"))
        .output()
        .map_err(|e| Failed::from(format!("cannot start phonecert: {e}")))?;
    let _ = std::fs::remove_dir_all(&out_dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match (out.status.code(), expected) {
        (Some(0), None) => Ok(()),
        (Some(0), Some(reason)) => Err(format!(
            "{id} passed but scenarios/expectations/simphone.toml expects it to fail ({reason}); remove the stale entry"
        )
        .into()),
        (Some(1), Some(_)) => Ok(()),
        (code, _) => Err(format!("phonecert exited {code:?}:\n{text}").into()),
    }
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let scenarios = root().join("scenarios");
    let expectations: Expectations =
        match std::fs::read_to_string(scenarios.join("expectations/simphone.toml"))
            .map_err(|e| e.to_string())
            .and_then(|t| toml::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: scenarios/expectations/simphone.toml: {e}");
                return ExitCode::FAILURE;
            }
        };
    let files = match phonecert::scenario::discover(&[scenarios]) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut trials = Vec::new();
    let mut ids = Vec::new();
    for file in files {
        let sc = match phonecert::scenario::load_file(&file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let id = sc.spec.id.clone();
        ids.push(id.clone());
        let expected = expectations
            .expected_failure
            .iter()
            .find(|e| e.scenario == id)
            .map(|e| e.reason.clone());
        let family = format!("{:?}", sc.spec.family).to_lowercase();
        let needs_netns = !sc.spec.dhcp.vlan.is_empty()
            || sc.spec.run.lab == Some(phonecert::scenario::RequiredLab::Netns);
        let name = format!("{family}::{id}");
        let trial = Trial::test(name.clone(), move || {
            run_one(&file, &id, expected.as_deref())
        })
        .with_kind(lab());
        if needs_netns && lab() != "netns" {
            eprintln!("skipped: {name} needs the netns lab (root); it did NOT run");
            trials.push(trial.with_ignored_flag(true));
        } else {
            trials.push(trial);
        }
    }
    if trials.is_empty() {
        eprintln!("error: the conformance suite is empty: no scenario files under scenarios/");
        return ExitCode::FAILURE;
    }
    for e in &expectations.expected_failure {
        if !ids.contains(&e.scenario) {
            eprintln!(
                "error: scenarios/expectations/simphone.toml names `{}`, which is no scenario",
                e.scenario
            );
            return ExitCode::FAILURE;
        }
    }
    libtest_mimic::run(&args, trials).exit_code()
}
