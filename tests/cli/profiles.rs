//! `--profile`: the reference phone plays the chosen family, checks read its parameters, and
//! a scenario written for another family is skipped, never failed.

use crate::common::*;

#[test]
fn the_96x1_profile_fetches_its_own_script_and_skips_what_is_not_for_it() {
    let scratch = Scratch::new("profiles");
    // DL-001 as shipped (for every profile), and a copy that says it is for 96x0 only.
    let only = scratch.0.join("only-96x0");
    std::fs::create_dir_all(only.join("fixtures")).expect("mkdir");
    std::fs::copy(
        root().join("scenarios/downloads/fixtures/96xxupgrade-same-app.txt"),
        only.join("fixtures/96xxupgrade-same-app.txt"),
    )
    .expect("copy fixture");
    let text =
        std::fs::read_to_string(root().join("scenarios/downloads/same-appname-no-download.toml"))
            .expect("DL-001")
            .replace("id = \"DL-001\"", "id = \"DL-901\"")
            .replace("DL-001-", "DL-901-")
            .replace(
                "../option242/fixtures/",
                &format!("{}/", root().join("scenarios/option242/fixtures").display()),
            )
            .replacen("[phone]", "profiles = [\"avaya-96x0-sip\"]\n[phone]", 1);
    std::fs::write(only.join("r2-only.toml"), text).expect("write");
    let out_dir = scratch.0.join("out");
    let out = phonecert(&[
        "run",
        "scenarios/downloads/same-appname-no-download.toml",
        only.join("r2-only.toml").to_str().expect("utf-8 path"),
        "--lab",
        "loopback",
        "--profile",
        "avaya-96x1-sip",
        "--out",
        out_dir.to_str().expect("utf-8 path"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("skipped: this scenario is for avaya-96x0-sip, the run for avaya-96x1-sip"),
        "{stdout}"
    );
    let run = run_dir(&out_dir);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
            .expect("json");
    assert_eq!(report["dut"]["profile"], "avaya-96x1-sip");
    let verdict = |id: &str| {
        report["scenarios"]
            .as_array()
            .expect("scenarios")
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["verdict"].clone())
    };
    assert_eq!(verdict("DL-001"), Some("pass".into()));
    assert_eq!(verdict("DL-901"), Some("skip".into()));
    // The 96x1 phone asked for its own script, with its own User-Agent form.
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run.join("timelines/DL-001.json")).expect("timeline"),
    )
    .expect("json");
    let first = saved["timeline"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["proto"] == "http" && e["kind"] == "request")
        .expect("an HTTP request");
    assert_eq!(first["fields"]["path"], "/96x1Supgrade.txt");
    assert!(
        first["fields"]["user_agent"]
            .as_str()
            .is_some_and(|ua| ua.starts_with("AVAYA/96x1-IPT-SIP-R")),
        "{first}"
    );
}

#[test]
fn an_unknown_profile_is_refused_before_anything_runs() {
    let out = phonecert(&["run", "--profile", "polycom-vvx", "--lab", "loopback"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "--profile `polycom-vvx` is no phone profile; known: avaya-96x0-sip, avaya-96x1-sip"
        ),
        "{err}"
    );
}
