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

/// The suite is written once for every family: with the 96x1 profile the reference phone is a
/// 96x1 model and is served the 96x1 script, application names, images and branches, so
/// scenarios of every family pass, and a scenario about the 96x0 alone is skipped.
#[test]
fn with_the_96x1_profile_a_96x1_reference_phone_passes_scenarios_of_every_family() {
    let scratch = Scratch::new("profiles-96x1");
    let out_dir = scratch.0.join("out");
    let ids = [
        "BOOT-001", // upgrade: the 96x1 script, a 96x1 application, a 96x1 image
        "DL-002",   // IF $MODEL4 branch to the settings file of the phone's model
        "DL-012",   // CRLF script with a model branch
        "DL-010",   // a 96x0 is not SHA-2 capable: for the 96x0 profile only
        "FW-003",   // an image for the other family is refused
        "FW-012",   // a 404 for the binary: the old 96x1 User-Agent stays
        "OPT242-001",
        "REG-004",
    ];
    let mut args = vec!["run", "--lab", "loopback", "--profile", "avaya-96x1-sip"];
    for id in &ids {
        args.extend(["--id", id]);
    }
    args.extend(["--out", out_dir.to_str().expect("utf-8 path")]);
    let out = phonecert(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = run_dir(&out_dir);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
            .expect("json");
    assert_eq!(report["dut"]["model"], "9611");
    assert_eq!(report["dut"]["firmware_start"], "S96x1_SALBR2_6_0_0.bin");
    let verdicts: Vec<(String, String)> = report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or("?").to_string(),
                s["verdict"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    assert_eq!(verdicts.len(), ids.len(), "{verdicts:?}");
    for (id, verdict) in &verdicts {
        let expected = if id == "DL-010" { "skip" } else { "pass" };
        assert_eq!(verdict, expected, "{id}: {stdout}");
    }
    // The phone was a 9611 fetching the 96x1 script and a 96x1 application.
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run.join("timelines/BOOT-001.json")).expect("timeline"),
    )
    .expect("json");
    let requests: Vec<(String, String)> = saved["timeline"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["proto"] == "http" && e["kind"] == "request")
        .map(|e| {
            (
                e["fields"]["path"].as_str().unwrap_or("").to_string(),
                e["fields"]["user_agent"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        requests.first().map(|r| r.0.as_str()),
        Some("/fw/96x1Supgrade.txt"),
        "{requests:?}"
    );
    assert_eq!(
        requests.first().map(|r| r.1.as_str()),
        Some("AVAYA/96x1-IPT-SIP-R2_6_0_0 9611"),
        "{requests:?}"
    );
    assert!(
        requests.iter().any(|r| r.0 == "/fw/S96x1_SALBR2_6_1_0.bin"),
        "{requests:?}"
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
