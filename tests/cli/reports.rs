//! What a run shows and leaves for people and machines: scenario selection in `list` and
//! `run`, each verdict as it comes (text and `--format json`), the status line on a terminal
//! only, JUnit with times and requirements.

use std::io::{BufRead, BufReader};
use std::process::Command;

use crate::common::*;

/// The scenario ids `phonecert list ARGS` prints (the lines that are neither checks nor the
/// total).
fn listed(args: &[&str]) -> Vec<String> {
    let mut all = vec!["list"];
    all.extend_from_slice(args);
    let out = phonecert(&all);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains("  ["))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn list_and_run_select_by_tag_family_and_id_glob() {
    let regs = listed(&["--family", "registration"]);
    assert!(
        !regs.is_empty() && regs.iter().all(|i| i.starts_with("REG-")),
        "{regs:?}"
    );
    // Expected sets come from the whole suite's list, so scenarios added later keep this true.
    let all = listed(&[]);
    let want = |f: &dyn Fn(&str) -> bool| -> Vec<String> {
        all.iter().filter(|i| f(i)).cloned().collect()
    };
    let globbed = listed(&["--id", "opt242-00?"]);
    assert!(!globbed.is_empty());
    assert_eq!(
        globbed,
        want(&|i| i.starts_with("OPT242-00") && i.len() == "OPT242-001".len())
    );
    // Different flags must all match; the same flag twice matches either.
    let both = listed(&["--tag", "tcp", "--family", "registration"]);
    assert!(!both.is_empty(), "some registration scenarios carry #tcp");
    let tcp: Vec<String> = listed(&["--tag", "tcp"])
        .into_iter()
        .filter(|i| regs.contains(i))
        .collect();
    assert_eq!(both, tcp, "the intersection of --tag and --family");
    assert!(regs.len() > both.len(), "{regs:?}");
    let either = listed(&["--id", "DL-001", "--id", "FW-*"]);
    assert_eq!(either, want(&|i| i == "DL-001" || i.starts_with("FW-")));
    assert!(either.len() >= 2 && either[0] == "DL-001", "{either:?}");
    // `run` takes the same flags: nothing selected is a usage error before anything runs.
    let scratch = Scratch::new("select-none");
    let out = phonecert(&[
        "run",
        "--id",
        "NOPE-*",
        "--lab",
        "loopback",
        "--out",
        scratch.0.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no scenario matches --id NOPE-*"),
        "{}",
        text(&out.stderr)
    );
    assert!(!scratch.0.join("reports").exists(), "nothing ran");
    let out = phonecert(&["list", "--family", "optoin242"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("option242"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn json_streams_one_object_per_scenario_as_each_ends() {
    let scratch = Scratch::new("json-stream");
    // DL-001 ends in a fraction of a second; OPT242-016 then runs for seconds.
    let mut child = spawn_phonecert(&[
        "run",
        "--id",
        "DL-001",
        "--id",
        "OPT242-016",
        "--lab",
        "loopback",
        "--format",
        "json",
        "--out",
        scratch.0.to_str().expect("utf-8"),
    ]);
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a first line").expect("utf-8 line");
    let still_running = child.try_wait().expect("try_wait").is_none();
    let first: serde_json::Value = serde_json::from_str(&first).expect("one JSON object");
    assert_eq!(first["event"], "scenario");
    assert_eq!(first["scenario"]["id"], "DL-001");
    assert_eq!(first["scenario"]["verdict"], "pass");
    assert!(
        still_running,
        "DL-001's verdict came only when the whole run had ended"
    );
    let rest: Vec<serde_json::Value> = lines
        .map(|l| serde_json::from_str(&l.expect("line")).expect("JSON line"))
        .collect();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert_eq!(rest[0]["scenario"]["id"], "OPT242-016");
    assert_eq!(rest[1]["event"], "summary");
    assert_eq!(rest[1]["summary"]["pass"], 2);
    assert_eq!(rest[1]["dut"], "the reference phone (9620)");
    // Nothing but JSON objects on stdout: no status line, no terminal codes.
    let run = run_dir(&scratch.0);
    let junit = std::fs::read_to_string(run.join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("<testsuite name=\"DL-001\""), "{junit}");
    for tc in junit
        .lines()
        .filter(|l| l.trim_start().starts_with("<testcase"))
    {
        assert!(tc.contains(" time=\""), "a test case without time: {tc}");
    }
    assert!(junit.contains("<property name=\"requirement\""), "{junit}");
    assert!(
        junit.contains("<property name=\"level\" value=\"must\"/>"),
        "{junit}"
    );
}

/// `phonecert ARGS` on a pseudo-terminal (util-linux `script`), with `env` added: what a
/// person at a terminal sees, escape codes included.
fn on_a_terminal(args: &str, env: &[(&str, &str)]) -> Option<String> {
    if !have_tool("script") {
        eprintln!("skipped: the terminal status line needs `script` (util-linux); it did NOT run");
        return None;
    }
    let cmd = format!("{} {args}", env!("CARGO_BIN_EXE_phonecert"));
    let out = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .current_dir(root())
        .env("PHONECERT_SIMPHONE", env!("CARGO_BIN_EXE_simphone"))
        .env("COLUMNS", "200")
        .envs(env.iter().copied())
        .output()
        .expect("run script");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    Some(text(&out.stdout))
}

#[test]
fn a_terminal_gets_a_status_line_saying_what_is_awaited_and_a_pipe_does_not() {
    let scratch = Scratch::new("status-line");
    let out_dir = scratch.0.to_str().expect("utf-8");
    let args = format!("run --id OPT242-016 --lab loopback --out {out_dir}");
    let Some(seen) = on_a_terminal(&args, &[]) else {
        return;
    };
    assert!(
        seen.contains("OPT242-016: waiting for OPT242-016-0"),
        "{seen}"
    );
    assert!(seen.contains("\x1b[36m"), "the spinner is coloured: {seen}");
    assert!(seen.contains("PASS  OPT242-016"), "{seen}");
    let Some(plain) = on_a_terminal(&args, &[("NO_COLOR", "1")]) else {
        return;
    };
    assert!(plain.contains("waiting for"), "{plain}");
    assert!(
        !plain.contains("\x1b[36m"),
        "NO_COLOR is respected: {plain}"
    );
    // Through a pipe: the verdicts and the totals only.
    let piped = phonecert(&[
        "run",
        "--id",
        "OPT242-016",
        "--lab",
        "loopback",
        "--out",
        out_dir,
    ]);
    assert_eq!(piped.status.code(), Some(0));
    let stdout = text(&piped.stdout);
    assert!(stdout.starts_with("PASS  OPT242-016"), "{stdout}");
    assert!(
        !stdout.contains("waiting for") && !stdout.contains('\x1b'),
        "{stdout}"
    );
    assert!(
        stdout.contains("device: the reference phone (9620)"),
        "{stdout}"
    );
}

/// What headless Chromium made of a page: the screenshot's size and bytes, the console
/// lines (errors, blocked loads), the DOM after loading.
struct Rendered {
    png_w: u32,
    png_h: u32,
    png_bytes: usize,
    console: Vec<String>,
    dom: String,
}

/// Opens `page` in headless Chromium (Debian `chromium`) at 1400×2400: a screenshot, the
/// console, the DOM. `None` (and a line saying the test did NOT run) without Chromium.
fn chromium(page: &std::path::Path, scratch: &Scratch) -> Option<Rendered> {
    if !have_tool("chromium") {
        eprintln!(
            "skipped: rendering the HTML report needs chromium (Debian `chromium`); it did NOT run"
        );
        return None;
    }
    let url = format!("file://{}", page.display());
    let shot = scratch.0.join("shot.png");
    // Root has no user namespace sandbox to offer; the page is our own file.
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1400,2400",
    ];
    let out = Command::new("chromium")
        .args(base)
        .arg(format!("--screenshot={}", shot.display()))
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(&url)
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium: {}", text(&out.stderr));
    let console = text(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    let png = std::fs::read(&shot).expect("the screenshot");
    assert_eq!(&png[1..4], b"PNG", "a PNG file");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let dom = Command::new("chromium")
        .args(base)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium --dump-dom");
    Some(Rendered {
        png_w: be(&png[16..20]),
        png_h: be(&png[20..24]),
        png_bytes: png.len(),
        console,
        dom: text(&dom.stdout),
    })
}

#[test]
fn the_html_report_renders_in_chromium_with_a_ladder_and_no_console_errors() {
    let scratch = Scratch::new("html-report");
    let out = phonecert(&[
        "run",
        "--id",
        "DL-001",
        "--id",
        "REG-001",
        "--sim-fault",
        "always-download-binary",
        "--lab",
        "loopback",
        "--out",
        scratch.0.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let run = run_dir(&scratch.0);
    let page = run.join("index.html");
    let html = std::fs::read_to_string(&page).expect("index.html is written with the run");
    // Self-contained: nothing is fetched from anywhere, and the page forbids it.
    assert!(html.contains("Content-Security-Policy"), "no CSP");
    for attr in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "<script",
        "@import",
    ] {
        assert!(
            !html.contains(attr),
            "index.html refers outside itself: {attr}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
            .expect("JSON");
    let events: usize = ["DL-001", "REG-001"]
        .iter()
        .map(|id| {
            let tl: serde_json::Value = serde_json::from_slice(
                &std::fs::read(run.join(format!("timelines/{id}.json"))).expect("timeline"),
            )
            .expect("timeline JSON");
            tl["timeline"]["events"].as_array().expect("events").len()
        })
        .sum();
    let Some(r) = chromium(&page, &scratch) else {
        return;
    };
    assert!(r.console.is_empty(), "console: {:#?}", r.console);
    assert_eq!((r.png_w, r.png_h), (1400, 2400));
    // A blank page compresses to a few kilobytes; tables and ladders do not.
    assert!(r.png_bytes > 60_000, "screenshot of {} bytes", r.png_bytes);
    // Two ladders, one row per timeline event, the failing check marked on its message.
    assert_eq!(r.dom.matches("<svg class=\"ladder\"").count(), 2, "ladders");
    assert_eq!(r.dom.matches("class=\"msg-row\"").count(), events);
    let failing = report["scenarios"][0]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["verdict"] == "fail")
        .expect("DL-001 fails under always-download-binary");
    assert_eq!(failing["id"], "DL-001-02");
    assert!(
        r.dom.contains("class=\"mark fail\""),
        "the failing check's mark is on the ladder"
    );
    assert!(r.dom.contains("id=\"check-DL-001-02\""), "the check's row");
    assert!(r.dom.contains("phone (DUT)") && r.dom.contains("SIP registrar 2"));

    // The same checks catch a page that breaks the rules: an external image, a script.
    let bad = scratch.0.join("bad.html");
    std::fs::write(
        &bad,
        html.replacen(
            "<body>",
            "<body><img src=\"https://example.invalid/x.png\"><script>throw 1</script>",
            1,
        ),
    )
    .expect("write bad.html");
    let r = chromium(&bad, &scratch).expect("chromium ran a moment ago");
    assert_eq!(r.console.len(), 2, "console: {:#?}", r.console);
}

#[test]
fn compliance_names_the_device_from_the_wire_and_verify_names_every_changed_file() {
    let scratch = Scratch::new("compliance");
    let run = run_passing(
        "scenarios/boot/first-boot-upgrade.toml",
        "loopback",
        &scratch.0,
    );
    let run_arg = run.to_str().expect("utf-8");
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run.join("compliance.json")).expect("compliance.json"),
    )
    .expect("JSON");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
            .expect("JSON");
    assert_eq!(doc["schema"], "phonecert.compliance/1");
    // The scenario's phone.mac, as the DHCP server heard it.
    assert_eq!(
        doc["dut"]["macs"],
        serde_json::json!([report["dut"]["mac"]])
    );
    assert_eq!(doc["dut"]["model"], "9620");
    // BOOT-001 upgrades the phone: the first User-Agent has the old version, the last the new.
    let before = doc["dut"]["firmware_before"].as_str().expect("before");
    let after = doc["dut"]["firmware_after"].as_str().expect("after");
    assert_ne!(before, after, "{doc}");
    assert!(
        doc["dut"]["sip_user_agents"][0]
            .as_str()
            .is_some_and(|ua| ua.starts_with("Avaya one-X Deskphone "))
    );
    assert!(
        doc["suite_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("sha256:") && v.len() == 71)
    );
    assert!(
        doc["harness"]
            .as_str()
            .is_some_and(|h| h.starts_with("phonecert "))
    );
    let rows = doc["requirements"].as_array().expect("matrix");
    assert!(!rows.is_empty() && rows.iter().all(|r| r["verdict"] == "pass"));
    let evidence: Vec<&str> = doc["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    for f in [
        "report.json",
        "junit.xml",
        "index.html",
        "timelines/BOOT-001.json",
        "dut/BOOT-001.log",
    ] {
        assert!(evidence.contains(&f), "{f} is not hashed: {evidence:?}");
    }
    assert_eq!(doc["captures"].as_array().expect("captures").len(), 1);

    let verify = |args: &[&str]| {
        let mut all = vec!["verify", run_arg];
        all.extend_from_slice(args);
        let out = phonecert(&all);
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, stdout, _) = verify(&[]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.starts_with(&format!("intact: {} file(s)", evidence.len() + 1)),
        "{stdout}"
    );

    // An edited timeline, a removed log, a removed capture, an added file: each named.
    let tl = run.join("timelines/BOOT-001.json");
    let mut bytes = std::fs::read(&tl).expect("timeline");
    bytes.push(b'\n');
    std::fs::write(&tl, bytes).expect("edit");
    std::fs::remove_file(run.join("dut/BOOT-001.log")).expect("remove the log");
    let capture = scratch
        .0
        .join(doc["captures"][0]["path"].as_str().expect("capture path"));
    std::fs::remove_file(&capture).expect("remove the capture");
    std::fs::write(run.join("notes.txt"), "added later").expect("add");
    let (code, stdout, _) = verify(&[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("changed: timelines/BOOT-001.json (sha256 "),
        "{stdout}"
    );
    assert!(stdout.contains("missing: dut/BOOT-001.log\n"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "missing: {}\n",
            doc["captures"][0]["path"].as_str().expect("path")
        )),
        "{stdout}"
    );
    assert!(stdout.contains("added: notes.txt"), "{stdout}");
    assert!(
        stdout.contains("not intact: 1 changed, 2 missing, 1 added"),
        "{stdout}"
    );
    let (_, stdout, _) = verify(&["--no-captures"]);
    assert!(stdout.contains("1 changed, 1 missing, 1 added"), "{stdout}");
    // Judging reads the edited timeline, and says it is not the run's own.
    let judged = phonecert(&["judge", run_arg]);
    assert_eq!(judged.status.code(), Some(0));
    assert!(
        text(&judged.stderr).contains("timelines/BOOT-001.json was changed after the run"),
        "{}",
        text(&judged.stderr)
    );
    // A file judging needs, gone: named, exit 2.
    std::fs::remove_file(&tl).expect("remove the timeline");
    let judged = phonecert(&["judge", run_arg]);
    assert_eq!(judged.status.code(), Some(2));
    assert!(
        text(&judged.stderr).contains(&tl.display().to_string()),
        "{}",
        text(&judged.stderr)
    );
    // Without the record there is nothing to verify against: a usage error naming it.
    std::fs::remove_file(run.join("compliance.json")).expect("remove");
    let (code, _, stderr) = verify(&[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("compliance.json"), "{stderr}");
}

#[test]
fn the_compliance_page_renders_in_chromium_without_console_errors() {
    let scratch = Scratch::new("compliance-html");
    let run = run_passing(
        "scenarios/downloads/same-appname-no-download.toml",
        "loopback",
        &scratch.0,
    );
    let page = run.join("compliance.html");
    let Some(r) = chromium(&page, &scratch) else {
        return;
    };
    assert!(r.console.is_empty(), "console: {:#?}", r.console);
    assert_eq!((r.png_w, r.png_h), (1400, 2400));
    assert!(r.dom.contains("Requirement → verdict"));
    assert!(
        r.dom.contains("00:1b:4f:d1:00:01"),
        "the MAC seen on the wire"
    );
    assert!(r.dom.matches("class=\"row-pass\"").count() >= 3);
}

#[test]
fn a_scenario_skipped_whole_is_listed_as_not_exercised_never_as_passed() {
    let scratch = Scratch::new("compliance-skip");
    // OPT242-017 needs 802.1Q VLANs: the loopback lab skips it without judging a check.
    let run = run_passing("scenarios/option242/l2qvlan.toml", "loopback", &scratch.0);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("compliance.json")).expect("compliance"))
            .expect("JSON");
    assert_eq!(doc["skipped"][0]["scenario"], "OPT242-017", "{doc}");
    assert!(
        doc["skipped"][0]["why"]
            .as_str()
            .is_some_and(|w| w.contains("netns"))
    );
    assert!(
        doc["requirements"]
            .as_array()
            .expect("matrix")
            .iter()
            .all(|r| r["verdict"] != "pass"),
        "{doc}"
    );
}

#[test]
fn diff_puts_new_failures_first_and_exits_1_only_when_something_that_passed_fails() {
    let scratch = Scratch::new("diff");
    let a_out = scratch.0.join("a");
    let b_out = scratch.0.join("b");
    let a = run_passing("scenarios/downloads", "loopback", &a_out);
    let faulty = phonecert(&[
        "run",
        "scenarios/downloads",
        "--sim-fault",
        "always-download-binary",
        "--lab",
        "loopback",
        "--out",
        b_out.to_str().expect("utf-8"),
    ]);
    assert_eq!(faulty.status.code(), Some(1), "{}", text(&faulty.stderr));
    let b = run_dir(&b_out);
    let (a_arg, b_arg) = (a.to_str().expect("utf-8"), b.to_str().expect("utf-8"));

    let out = phonecert(&["diff", a_arg, b_arg]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("--sim-fault always-download-binary"),
        "{stdout}"
    );
    let first_heading = stdout
        .lines()
        .find(|l| l.ends_with("):"))
        .expect("a heading");
    assert!(first_heading.starts_with("new failures ("), "{stdout}");
    assert!(stdout.contains("  DL-001-02  pass → fail  "), "{stdout}");
    assert!(stdout.contains("      B observed "), "{stdout}");
    // The other way round the phone got better: nothing that passed fails.
    let back = phonecert(&["diff", b_arg, a_arg]);
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stdout));
    assert!(
        text(&back.stdout).contains("fixed ("),
        "{}",
        text(&back.stdout)
    );
    assert!(!text(&back.stdout).contains("new failures"));

    let json = phonecert(&["diff", a_arg, b_arg, "--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let d: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(d["schema"], "phonecert.diff/1");
    assert_eq!(d["changes"][0]["kind"], "new_failure");
    assert_eq!(d["changes"][0]["check"], "DL-001-02");
    assert_eq!(d["changes"][0]["a"], "pass");
    let page = phonecert(&["diff", a_arg, b_arg, "--format", "html"]);
    assert_eq!(page.status.code(), Some(1));
    let page_text = text(&page.stdout);
    assert!(page_text.starts_with("<!DOCTYPE html>") && page_text.contains("DL-001-02"));
    let page_file = scratch.0.join("diff.html");
    std::fs::write(&page_file, &page.stdout).expect("write diff.html");
    if let Some(r) = chromium(&page_file, &scratch) {
        assert!(r.console.is_empty(), "console: {:#?}", r.console);
        assert!(r.dom.contains("id=\"new_failure\""), "new failures section");
    }

    // A report edited after the run, or gone: named, exit 2, nothing compared.
    let report_a = a.join("report.json");
    let original = std::fs::read(&report_a).expect("report.json");
    let edited = String::from_utf8_lossy(&original).replacen("\"fail\"", "\"pass\"", 1);
    std::fs::write(&report_a, edited.as_bytes()).expect("edit");
    let out = phonecert(&["diff", a_arg, b_arg]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains(&format!("{} was changed after the run", report_a.display())),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(&report_a, &original).expect("restore");
    std::fs::remove_file(b.join("report.json")).expect("remove");
    let out = phonecert(&["diff", a_arg, b_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&b.join("report.json").display().to_string()),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

/// `phonecert judge --capture CAPTURE SCENARIO`: (exit code, check id → verdict, stdout).
fn judge_capture(
    capture: &std::path::Path,
    scenario: &str,
) -> (
    Option<i32>,
    std::collections::BTreeMap<String, String>,
    String,
) {
    let out = phonecert(&[
        "judge",
        "--capture",
        capture.to_str().expect("utf-8"),
        scenario,
    ]);
    let stdout = text(&out.stdout);
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
    let verdicts = stdout
        .lines()
        .filter(|l| l.starts_with("      "))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect();
    (out.status.code(), verdicts, stdout)
}

/// Every check judged from a run's own captures has the verdict the run recorded; `(judged,
/// all)` checks.
fn round_trip(out: &std::path::Path) -> (usize, usize) {
    let run = run_dir(out);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
            .expect("JSON");
    let (mut judged, mut all) = (0, 0);
    for s in report["scenarios"].as_array().expect("scenarios") {
        let checks = s["checks"].as_array().expect("checks");
        if checks.is_empty() {
            continue;
        }
        let capture = out.join(s["capture"].as_str().expect("capture"));
        let (code, got, stdout) = judge_capture(&capture, s["file"].as_str().expect("file"));
        assert!(matches!(code, Some(0 | 1)), "{stdout}");
        for c in checks {
            all += 1;
            let id = c["id"].as_str().expect("id");
            let from_capture = got
                .get(id)
                .unwrap_or_else(|| panic!("{id} missing: {stdout}"));
            if from_capture == "skip" {
                assert!(stdout.contains("not judged from a capture: "), "{stdout}");
                continue;
            }
            judged += 1;
            assert_eq!(
                from_capture.as_str(),
                c["verdict"].as_str().expect("verdict"),
                "{id}: recorded {} but judged {from_capture} from the capture\n{stdout}",
                c["verdict"]
            );
        }
    }
    (judged, all)
}

#[test]
fn a_runs_own_captures_judge_as_its_recorded_timelines_did() {
    let scratch = Scratch::new("capture-round-trip");
    let clean = scratch.0.join("clean");
    let out = phonecert(&[
        "run",
        "scenarios/boot",
        "scenarios/option242",
        "--lab",
        "loopback",
        "--out",
        clean.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let (judged, all) = round_trip(&clean);
    // Most checks rest on the phone's messages and what it was answered; the test fails if
    // the capture judged too few to mean anything.
    assert!(
        judged * 3 >= all * 2,
        "only {judged} of {all} checks judged from the captures"
    );
    // A faulty phone: the failing check fails from its capture too.
    let faulty = scratch.0.join("faulty");
    let out = phonecert(&[
        "run",
        "scenarios/downloads",
        "--sim-fault",
        "always-download-binary",
        "--lab",
        "loopback",
        "--out",
        faulty.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    round_trip(&faulty);
    let run = run_dir(&faulty);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report"))
            .expect("JSON");
    let dl1 = &report["scenarios"][0];
    let (code, got, stdout) = judge_capture(
        &faulty.join(dl1["capture"].as_str().expect("capture")),
        dl1["file"].as_str().expect("file"),
    );
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(
        got.get("DL-001-02").map(String::as_str),
        Some("fail"),
        "{stdout}"
    );
}

#[test]
fn a_capture_that_is_cut_short_or_not_pcapng_is_a_clear_error_never_a_panic() {
    let scratch = Scratch::new("capture-bad");
    let run = run_passing(
        "scenarios/downloads/same-appname-no-download.toml",
        "loopback",
        &scratch.0,
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report"))
            .expect("JSON");
    let capture = std::fs::read(
        scratch
            .0
            .join(report["scenarios"][0]["capture"].as_str().expect("capture")),
    )
    .expect("capture");
    let scenario = "scenarios/downloads/same-appname-no-download.toml";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "cut.pcapng",
            capture[..capture.len() / 2].to_vec(),
            "cut short or damaged",
        ),
        (
            "cut-header.pcapng",
            capture[..10].to_vec(),
            "cut short or damaged",
        ),
        (
            "text.pcapng",
            b"GET / HTTP/1.1\r\n".to_vec(),
            "it is not pcapng",
        ),
        ("empty.pcapng", Vec::new(), "the file is empty"),
        (
            "classic.pcap",
            vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0],
            "classic pcap",
        ),
    ];
    for (name, bytes, says) in cases {
        let path = scratch.0.join(name);
        std::fs::write(&path, bytes).expect("write");
        let out = phonecert(&[
            "judge",
            "--capture",
            path.to_str().expect("utf-8"),
            scenario,
        ]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.starts_with(&format!(
                "error: {} is not a readable pcapng capture: ",
                path.display()
            )),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}");
    }
    // A capture of nothing the scenario speaks of: judged, each check said not seen, no panic.
    let out = phonecert(&[
        "judge",
        "--capture",
        scratch.0.join("missing.pcapng").to_str().expect("utf-8"),
        scenario,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("missing.pcapng"),
        "{}",
        text(&out.stderr)
    );
    let out = phonecert(&[
        "judge",
        "--capture",
        "x.pcapng",
        scenario,
        "--var",
        "nope=1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // A scenario whose only check rests on what the server decided: nothing can be judged
    // from the capture, and that is no pass.
    let text_of = std::fs::read_to_string(scenario).expect("scenario");
    let here = std::path::Path::new("scenarios/downloads")
        .canonicalize()
        .expect("scenarios/downloads");
    let head = text_of
        .split("[[check]]")
        .next()
        .expect("head")
        .replace("fixture = \"", &format!("fixture = \"{}/", here.display()));
    let server_only = scratch.0.join("server-only.toml");
    std::fs::write(
        &server_only,
        format!(
            "{}[[check]]\nid = \"DL-001-01\"\ntitle = \"The script is answered\"\nrequirement = \"RFC 9110 §15\"\nkind = \"event\"\nproto = \"http\"\nevent = \"response\"\nwithin = 30\n",
            head.replace("until = \"DL-001-03\"", "until = \"DL-001-01\"")
        ),
    )
    .expect("write scenario");
    let whole = scratch.0.join("whole.pcapng");
    std::fs::write(&whole, &capture).expect("write capture");
    let (code, got, stdout) = judge_capture(&whole, server_only.to_str().expect("utf-8"));
    assert_eq!(
        got.get("DL-001-01").map(String::as_str),
        Some("skip"),
        "{stdout}"
    );
    assert_eq!(code, Some(1), "nothing judged must not exit 0\n{stdout}");
}

#[test]
fn a_kernel_capture_of_a_netns_run_judges_as_its_recorded_timelines_did() {
    if skip_unless_root(
        "a_kernel_capture_of_a_netns_run_judges_as_its_recorded_timelines_did",
        "the netns lab captures real frames with AF_PACKET",
    ) {
        return;
    }
    let scratch = Scratch::new("capture-round-trip-netns");
    let out = phonecert(&[
        "run",
        "scenarios/boot",
        // Plain-HTTP downloads: HTTPS is not decoded from a capture, so its checks are skipped.
        "scenarios/downloads/same-appname-no-download.toml",
        "scenarios/downloads/settings-by-model.toml",
        "scenarios/option242/l2qvlan.toml",
        "--lab",
        "netns",
        "--out",
        scratch.0.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let (judged, all) = round_trip(&scratch.0);
    assert!(
        judged * 3 >= all * 2,
        "only {judged} of {all} checks judged from the captures"
    );
}

#[test]
fn scenarios_running_at_once_each_have_a_status_line_on_the_terminal() {
    let scratch = Scratch::new("status-lines");
    let out_dir = scratch.0.to_str().expect("utf-8");
    // BOOT-002 waits seconds for retransmissions while OPT242-016 runs beside it.
    let args = format!("run --id BOOT-002 --id OPT242-016 --lab loopback --jobs 2 --out {out_dir}");
    let Some(seen) = on_a_terminal(&args, &[]) else {
        return;
    };
    // One redraw (what lies between two line clears) shows both scenarios' lines.
    assert!(
        seen.split("\x1b[2K")
            .any(|redraw| redraw.contains("BOOT-002: waiting for")
                && redraw.contains("OPT242-016: waiting for")),
        "{seen}"
    );
    assert!(
        seen.contains("PASS  BOOT-002") && seen.contains("PASS  OPT242-016"),
        "{seen}"
    );
}

/// Every file a run leaves in its folder is named in the README's table of the run folder:
/// what it is for and whether it is evidence. A scenario over HTTPS (its lab CA) and one
/// that upgrades the reference phone (its flash) leave every kind the reference phone does.
#[test]
fn the_readme_names_every_file_of_a_run_folder() {
    let s = Scratch::new("run-folder-files");
    let out = phonecert(&[
        "run",
        "scenarios/downloads/https-first.toml",
        "scenarios/boot/first-boot-upgrade.toml",
        "--lab",
        "loopback",
        "--out",
        s.0.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let run = run_dir(&s.0);
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = readme
        .find("The run folder, file by file")
        .expect("the README's run folder table");
    let end = readme[start..]
        .find("The captures sit beside")
        .map_or(readme.len(), |e| start + e);
    let table = &readme[start..end];
    let mut files = Vec::new();
    let mut stack = vec![run.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read run folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(&run).expect("inside").to_string_lossy();
                files.push(rel.replace("DL-003", "<id>").replace("BOOT-001", "<id>"));
            }
        }
    }
    assert!(
        files.iter().any(|f| f == "dut/<id>.lab-ca.pem"),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.starts_with("dut/<id>.state/")),
        "{files:?}"
    );
    for f in &files {
        let named: Vec<String> = if f.starts_with("scenarios/<id>/") {
            vec!["`scenarios/<id>/…`".into()]
        } else if let Some(inside) = f.strip_prefix("dut/<id>.state/") {
            vec!["`dut/<id>.state/`".into(), format!("`{inside}`")]
        } else {
            vec![format!("`{f}`")]
        };
        for n in named {
            assert!(
                table.contains(&n),
                "{f}: the README's run folder table does not name {n}"
            );
        }
    }
}
