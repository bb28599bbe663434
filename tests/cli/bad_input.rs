//! Bad scenario files and bad usage: exit 2 with a message that names file:line:col.

use crate::common::*;

fn write(s: &Scratch, name: &str, text: &str) -> String {
    let p = s.0.join(name);
    std::fs::write(&p, text).expect("write scenario");
    p.to_str().expect("utf-8").to_string()
}

fn boot_text() -> String {
    std::fs::read_to_string(root().join("scenarios/boot/first-boot-upgrade.toml"))
        .expect("boot scenario")
}

#[test]
fn unknown_field_exits_2_with_file_line_col() {
    let s = Scratch::new("unknown-field");
    let text = boot_text().replace("lease_time = 3600", "lease_time = 3600\nleese = 5");
    let line = text
        .lines()
        .position(|l| l.starts_with("leese"))
        .expect("line")
        + 1;
    let f = write(&s, "bad.toml", &text);
    let out = phonecert(&["check", &f]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{f}:{line}:1: unknown field `leese`")),
        "{err}"
    );
    assert!(err.contains("^"), "caret snippet: {err}");
    // `run` refuses it the same way, before touching the network
    let out = phonecert(&[
        "run",
        &f,
        "--lab",
        "loopback",
        "--out",
        s.0.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !s.0.join("reports").exists(),
        "no run may start from a bad file"
    );
}

#[test]
fn missing_fixture_exits_2_naming_it() {
    let s = Scratch::new("missing-fixture");
    let text = boot_text().replace("fixtures/46xxsettings.txt", "fixtures/nowhere.txt");
    let f = write(&s, "x.toml", &text);
    let out = phonecert(&["check", &f]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nowhere.txt"), "{err}");
    assert!(err.contains(&format!("{f}:")), "{err}");
}

#[test]
fn check_and_list_accept_the_shipped_suite() {
    let out = phonecert(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = phonecert(&["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("BOOT-001") && text.contains("BOOT-001-14"),
        "{text}"
    );
}

#[test]
fn unknown_lab_and_bad_flags_exit_2() {
    let out = phonecert(&["run", "--lab", "moon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown lab `moon`"));
    let out = phonecert(&["run", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn schema_describes_the_closed_format() {
    let out = phonecert(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    let kinds: Vec<&str> = schema["$defs"]["CheckKind"]["oneOf"]
        .as_array()
        .expect("check kinds")
        .iter()
        .filter_map(|k| k["const"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["event", "absent", "count", "order", "interval", "compare"]
    );
    // unknown keys are refused by the schema as by the loader
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["$defs"]["CheckSpec"]["additionalProperties"], false);
    let required = schema["$defs"]["CheckSpec"]["required"]
        .as_array()
        .expect("required keys");
    assert!(required.iter().any(|k| k == "kind"), "{required:?}");
}
