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
    // Listed (and run) in id order, not in the order of their file names.
    let ids: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
    assert_eq!(ids.first(), Some(&"BOOT-001"));
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

/// `phonecert judge` re-judges a saved run from its timeline alone, in phone time: the same
/// verdicts, and a different verdict when the saved evidence says otherwise.
#[test]
fn judge_rejudges_a_saved_run_without_the_network() {
    let scratch = Scratch::new("judge");
    let run = run_passing(
        "scenarios/registration/retry-after-503.toml",
        "loopback",
        &scratch.0,
    );
    let run_arg = run.to_str().expect("utf-8 path");
    let again = phonecert(&["judge", run_arg]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("PASS  REG-002"));
    // Move the retry 20 phone seconds earlier (2 real seconds at 10×) in the saved timeline:
    // now it came before Retry-After ran out.
    let tl_path = run.join("timelines/REG-002.json");
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&tl_path).expect("timeline")).expect("json");
    assert_eq!(saved["time_scale"], 10.0);
    let events = saved["timeline"]["events"].as_array_mut().expect("events");
    let first_503 = events
        .iter()
        .position(|e| e["kind"] == "response" && e["fields"]["status"] == 503)
        .expect("the 503");
    let t503 = events[first_503]["t"].as_f64().expect("t");
    for e in events.iter_mut().skip(first_503 + 1) {
        let t = e["t"].as_f64().expect("t");
        e["t"] = serde_json::json!((t - 2.0).max(t503 + 0.1));
    }
    std::fs::write(&tl_path, serde_json::to_vec(&saved).expect("json")).expect("write");
    let tampered = phonecert(&["judge", run_arg]);
    let text = String::from_utf8_lossy(&tampered.stdout);
    // Waiting out Retry-After is a SHOULD (RFC 3261 §21.5.4): reported, the scenario passes.
    assert_eq!(tampered.status.code(), Some(0), "{text}");
    assert!(text.contains("REG-002-02 fail"), "{text}");
    assert!(text.contains("PASS  REG-002"), "{text}");
    // Without anything after the 503 the phone never came back: a failure.
    let events = saved["timeline"]["events"].as_array_mut().expect("events");
    events.truncate(first_503 + 1);
    std::fs::write(&tl_path, serde_json::to_vec(&saved).expect("json")).expect("write");
    let silent = phonecert(&["judge", run_arg]);
    let text = String::from_utf8_lossy(&silent.stdout);
    assert_eq!(silent.status.code(), Some(1), "{text}");
    assert!(text.contains("REG-002-03 fail"), "{text}");
}
