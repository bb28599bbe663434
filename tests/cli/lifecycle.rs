//! A run's life from the outside: usage refused before anything runs, the device under test
//! failing to start, Ctrl-C, SIGKILL, two runs in one folder, a run folder copied elsewhere,
//! a device that sends garbage. Each asserts what a user reads: exit code, message, report.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;

fn report_of(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
        .expect("report.json is JSON")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Copies a folder tree (scenarios with their fixtures).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for e in std::fs::read_dir(from)
        .expect("read folder")
        .filter_map(Result::ok)
    {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy file");
        }
    }
}

/// Waits until `f` returns something, at most `limit`.
fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// The first `.pcapng` under `dir/captures`, once a scenario has started.
fn first_capture(dir: &Path) -> Option<PathBuf> {
    let captures = dir.join("captures");
    for run in std::fs::read_dir(captures).ok()?.filter_map(Result::ok) {
        for f in std::fs::read_dir(run.path()).ok()?.filter_map(Result::ok) {
            if f.path().extension().is_some_and(|e| e == "pcapng") {
                return Some(f.path());
            }
        }
    }
    None
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet: it runs no more).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// The children of `parent` (pid, command line).
fn children_of(parent: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
    {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| text(&b).replace('\0', " "))
                .unwrap_or_default();
            out.push((pid, cmdline));
        }
    }
    out
}

#[test]
fn an_unknown_fault_switch_is_refused_before_anything_runs() {
    let s = Scratch::new("bogus-fault");
    let out = phonecert(&[
        "run",
        "--sim-fault",
        "bogus-fault",
        "--lab",
        "loopback",
        "--out",
        s.0.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(
            "error: --sim-fault `bogus-fault` is not a fault switch of the reference phone; it has: ignore-option242-httpdir, "
        ),
        "{err}"
    );
    assert!(!s.0.join("reports").exists(), "nothing may run");
    assert!(!s.0.join("captures").exists(), "nothing may run");
}

#[test]
fn a_path_that_does_not_exist_and_a_bad_dut_mac_are_refused_with_exit_2() {
    let s = Scratch::new("bad-usage");
    let out_dir = s.0.to_str().expect("utf-8");
    let out = phonecert(&["run", "scenarios/nowhere", "--out", out_dir]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "scenario error at scenarios/nowhere:1:1: no such scenario file or folder\n"
    );
    let out = phonecert(&[
        "run",
        "--dut-cmd",
        "true",
        "--dut-mac",
        "zz",
        "--lab",
        "loopback",
        "--out",
        out_dir,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: --dut-mac `zz` is not a MAC address like 00:1b:4f:27:31:2a\n"
    );
    let out = phonecert(&["run", "--lab", "moon", "--out", out_dir]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: unknown lab `moon`: use netns, loopback or iface:NAME\n"
    );
    // A device the harness does not control keeps its own clock.
    let out = phonecert(&[
        "run",
        "--dut-cmd",
        "true",
        "--time-scale",
        "10",
        "--out",
        out_dir,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: --time-scale applies to the reference phone; a --dut-cmd device runs in real time\n"
    );
    assert!(!s.0.join("reports").exists(), "nothing may run");
}

#[test]
fn help_names_every_exit_code_including_130() {
    for args in [&["--help"][..], &["run", "--help"][..]] {
        let out = phonecert(args);
        assert_eq!(out.status.code(), Some(0));
        let help = text(&out.stdout);
        for line in [
            "  2    bad usage or a bad scenario file",
            "  3    the harness could not run a scenario",
            "  130  interrupted (Ctrl-C or SIGTERM)",
        ] {
            assert!(help.contains(line), "{args:?} lacks {line:?}:\n{help}");
        }
    }
}

/// A reference phone that refuses its arguments is the harness's problem: the scenario is an
/// `error` (exit 3), its last words are in the report, and the log the report names exists.
#[test]
fn a_reference_phone_that_refuses_its_arguments_is_a_harness_error_with_its_stderr() {
    let s = Scratch::new("refusing-phone");
    let fake = s.0.join("fake-simphone");
    std::fs::write(
        &fake,
        "#!/bin/sh\ncase \"$*\" in *--list-faults*) exit 0;; esac\n\
         echo \"error: unexpected argument '--dhcp-server' found\" >&2\nexit 2\n",
    )
    .expect("write fake phone");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let out_dir = s.0.join("out");
    let out = phonecert_env(
        &[
            "run",
            "scenarios/registration/retry-after-503.toml",
            "--lab",
            "loopback",
            "--out",
            out_dir.to_str().expect("utf-8"),
        ],
        &[("PHONECERT_SIMPHONE", fake.to_str().expect("utf-8"))],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}{}", text(&out.stderr));
    let run = run_dir(&out_dir);
    let sc = &report_of(&run)["scenarios"][0];
    assert_eq!(sc["verdict"], "error");
    assert_eq!(
        sc["error"],
        "the reference phone exited at start (exit status: 2) before the servers saw it: error: unexpected argument '--dhcp-server' found; see dut/REG-002.log"
    );
    assert_eq!(
        sc["dut_log_tail"],
        "error: unexpected argument '--dhcp-server' found\n"
    );
    assert_eq!(sc["dut_log"], "dut/REG-002.log");
    let log = std::fs::read_to_string(run.join("dut/REG-002.log")).expect("the named log exists");
    assert!(log.contains("unexpected argument"), "{log}");
    assert!(stdout.contains("ERROR REG-002"), "{stdout}");
    let junit = std::fs::read_to_string(run.join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("unexpected argument"), "{junit}");
    assert_scenario_closed(&run, sc, "REG-002");
}

/// What a scenario whose device ended or never started still leaves behind: a complete
/// capture (every frame the report counts can be read back) and its timeline.
fn assert_scenario_closed(run: &Path, sc: &serde_json::Value, id: &str) {
    let capture = run.join("../..").join(
        sc["capture"]
            .as_str()
            .expect("the report names the capture"),
    );
    let stored = pc_capture::pcapng::read_frames(&capture)
        .unwrap_or_else(|e| panic!("{id}: the capture is not a readable pcapng: {e}"));
    assert_eq!(
        sc["capture_frames"].as_u64(),
        Some(stored.frames.len() as u64),
        "{id}: the capture was finished and counted: {sc}"
    );
    assert_eq!(
        sc["timeline"],
        format!("timelines/{id}.json").as_str(),
        "{sc}"
    );
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run.join(format!("timelines/{id}.json"))).expect("the timeline file"),
    )
    .expect("the timeline is JSON");
    assert!(saved["timeline"]["events"].is_array(), "{saved}");
}

/// A reference phone that cannot even be started (its program is not executable) ends the
/// scenario the way any other end does: servers stopped, capture closed, timeline kept, and
/// the scenario an `error` that says why.
#[test]
fn a_reference_phone_that_cannot_start_still_closes_the_capture_and_keeps_the_timeline() {
    let s = Scratch::new("unstartable-phone");
    let fake = s.0.join("not-executable");
    std::fs::write(&fake, "#!/bin/sh\nexit 0\n").expect("write fake phone");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let out_dir = s.0.join("out");
    let out = phonecert_env(
        &[
            "run",
            "scenarios/registration/retry-after-503.toml",
            "--lab",
            "loopback",
            "--out",
            out_dir.to_str().expect("utf-8"),
        ],
        &[("PHONECERT_SIMPHONE", fake.to_str().expect("utf-8"))],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    let run = run_dir(&out_dir);
    let sc = &report_of(&run)["scenarios"][0];
    assert_eq!(sc["verdict"], "error");
    assert_eq!(
        sc["error"],
        format!(
            "cannot start the reference phone {}: Permission denied (os error 13)",
            fake.display()
        )
        .as_str()
    );
    assert_eq!(
        sc["checks"],
        serde_json::json!([]),
        "a phone that never ran is not judged"
    );
    assert_scenario_closed(&run, sc, "REG-002");
}

/// Ctrl-C: the report says the run was interrupted and which scenarios did not run (the one
/// that was running is not taken for a phone that quit), junit marks them skipped, the exit
/// code is 130 and `reports/latest` is left alone.
#[test]
fn an_interrupted_run_says_so_lists_what_did_not_run_and_exits_130() {
    let s = Scratch::new("interrupted");
    let out_dir = s.0.to_str().expect("utf-8");
    let child = spawn_phonecert(&[
        "run",
        "scenarios/registration/controller-failover.toml",
        "scenarios/registration/retry-after-503.toml",
        "scenarios/registration/short-grant-refresh.toml",
        "--lab",
        "loopback",
        "--out",
        out_dir,
    ]);
    let pid = child.id();
    wait_for(Duration::from_secs(30), || first_capture(&s.0)).expect("the first scenario starts");
    wait_for(Duration::from_secs(10), || {
        children_of(pid)
            .into_iter()
            .find(|(_, cmd)| cmd.contains("simphone"))
    })
    .expect("the reference phone runs");
    std::thread::sleep(Duration::from_millis(500));
    // Ctrl-C at a terminal: SIGINT to the whole foreground process group.
    // SAFETY: kill(2) on the process group our child leads.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGINT);
    }
    let out = child.wait_with_output().expect("wait");
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{stdout}{}",
        text(&out.stderr)
    );
    let run = run_dir(&s.0);
    let report = report_of(&run);
    assert_eq!(report["interrupted"], true);
    assert_eq!(
        report["not_run"],
        serde_json::json!(["REG-001", "REG-002", "REG-003"])
    );
    assert_eq!(report["summary"]["skip"], 3);
    assert_eq!(report["summary"]["pass"], 0);
    let first = &report["scenarios"][0];
    assert_eq!(first["verdict"], "skip");
    assert!(
        first["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("interrupted after ") && e.ends_with(" s: not judged")),
        "{first}"
    );
    assert_eq!(
        report["scenarios"][2]["error"],
        "not run: the run was interrupted"
    );
    // The terminal's SIGINT reached the harness alone; the harness powered the phone off.
    let log = std::fs::read_to_string(run.join("dut/REG-001.log")).expect("phone log");
    assert!(
        log.contains("SIGTERM: stopping") && !log.contains("SIGINT"),
        "{log}"
    );
    let junit = std::fs::read_to_string(run.join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("skipped=\"3\""), "{junit}");
    assert!(junit.contains("REG-003 (not run)"), "{junit}");
    assert!(
        stdout.contains(
            "interrupted: 3 scenario(s) did not run to their end: REG-001, REG-002, REG-003"
        ),
        "{stdout}"
    );
    assert!(
        std::fs::symlink_metadata(s.0.join("reports/latest")).is_err(),
        "reports/latest must not point at an interrupted run"
    );
}

/// Two runs started together in one output folder: each its own run folder, both reports
/// whole, `latest` a valid link to one of them, no temporary link left.
#[test]
fn two_runs_in_one_folder_never_race() {
    let s = Scratch::new("two-runs");
    let out_dir = s.0.to_str().expect("utf-8");
    let args = [
        "run",
        "scenarios/registration/retry-after-503.toml",
        "--lab",
        "loopback",
        "--out",
        out_dir,
    ];
    let a = spawn_phonecert(&args);
    let b = spawn_phonecert(&args);
    for child in [a, b] {
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    }
    let reports = s.0.join("reports");
    let mut runs: Vec<String> = std::fs::read_dir(&reports)
        .expect("reports")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "latest")
        .collect();
    runs.sort();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for r in &runs {
        assert!(!r.starts_with(".latest"), "temporary link left: {r}");
        assert_eq!(report_of(&reports.join(r))["summary"]["pass"], 1);
    }
    let latest = std::fs::read_link(reports.join("latest")).expect("latest link");
    assert!(
        runs.iter().any(|r| Path::new(r) == latest),
        "{latest:?} in {runs:?}"
    );
}

/// A copied run folder is judged from its own files: the original scenario file, the
/// original run folder and the captures may all be gone; a change to the copy's timeline
/// changes the verdict.
#[test]
fn a_copied_run_folder_is_judged_from_its_own_files() {
    let s = Scratch::new("copied-run");
    let suite = s.0.join("suite");
    copy_tree(&root().join("scenarios"), &suite);
    let out_dir = s.0.join("out");
    let run = run_passing(
        suite
            .join("registration/retry-after-503.toml")
            .to_str()
            .expect("utf-8"),
        "loopback",
        &out_dir,
    );
    let report = report_of(&run);
    let run_id = report["run_id"].as_str().expect("run id");
    let sc = &report["scenarios"][0];
    assert_eq!(sc["timeline"], "timelines/REG-002.json");
    assert_eq!(sc["dut_log"], "dut/REG-002.log");
    assert_eq!(
        sc["capture"],
        format!("captures/{run_id}/REG-002.pcapng").as_str()
    );
    // The capture is found from the run folder through the output root.
    assert!(
        run.join("../..")
            .join(sc["capture"].as_str().expect("capture"))
            .is_file()
    );

    // With its captures in place, judging again says nothing about them.
    let in_place = phonecert(&["judge", run.to_str().expect("utf-8")]);
    assert_eq!(
        in_place.status.code(),
        Some(0),
        "{}",
        text(&in_place.stdout)
    );
    assert_eq!(text(&in_place.stderr), "");

    let copy = s.0.join("elsewhere/run");
    copy_tree(&run, &copy);
    std::fs::remove_dir_all(&suite).expect("remove the original scenarios");
    std::fs::remove_dir_all(&out_dir).expect("remove the original run");
    let again = phonecert(&["judge", "--write", copy.to_str().expect("utf-8")]);
    let stdout = text(&again.stdout);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{stdout}{}",
        text(&again.stderr)
    );
    assert!(stdout.contains("PASS  REG-002"), "{stdout}");
    // The copy's captures would be beside the copy's parent: not there, and said so once.
    assert_eq!(
        text(&again.stderr),
        format!(
            "note: the capture was not found at {}; verdicts are judged from the timeline only and no capture gets them\n",
            s.0.join(format!("captures/{run_id}/REG-002.pcapng"))
                .display()
        )
    );

    // Drop every REGISTER after the 503 from the copy's timeline: the copy is what is judged.
    let tl = copy.join("timelines/REG-002.json");
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&tl).expect("timeline")).expect("json");
    assert!(
        saved["scenario_file"]
            .as_str()
            .is_some_and(|f| f.starts_with("scenarios/REG-002/")),
        "{}",
        saved["scenario_file"]
    );
    let events = saved["timeline"]["events"].as_array_mut().expect("events");
    let first_503 = events
        .iter()
        .position(|e| e["kind"] == "response" && e["fields"]["status"] == 503)
        .expect("the 503");
    events.truncate(first_503 + 1);
    std::fs::write(&tl, serde_json::to_vec(&saved).expect("json")).expect("write");
    let verdict_in_report = || {
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(copy.join("report.json")).expect("report"))
                .expect("json");
        r["scenarios"][0]["verdict"].as_str().map(str::to_string)
    };
    let tampered = phonecert(&["judge", copy.to_str().expect("utf-8")]);
    assert_eq!(
        tampered.status.code(),
        Some(1),
        "{}",
        text(&tampered.stdout)
    );
    assert!(text(&tampered.stdout).contains("FAIL  REG-002"));
    // Without --write the report keeps the verdict the run gave; with it, the new one.
    assert_eq!(verdict_in_report().as_deref(), Some("pass"));
    let written = phonecert(&["judge", "--write", copy.to_str().expect("utf-8")]);
    assert_eq!(written.status.code(), Some(1));
    assert_eq!(verdict_in_report().as_deref(), Some("fail"));
    // The written verdicts rest on an edited timeline: verify says so, however the hashes
    // were sealed again.
    let verified = phonecert(&["verify", "--no-captures", copy.to_str().expect("utf-8")]);
    assert_eq!(
        verified.status.code(),
        Some(1),
        "{}",
        text(&verified.stdout)
    );
    assert!(
        text(&verified.stdout).contains(
            "edited after the run, then judged with judge --write: timelines/REG-002.json"
        ),
        "{}",
        text(&verified.stdout)
    );
    let junit = std::fs::read_to_string(copy.join("junit.xml")).expect("junit");
    assert!(
        junit.contains("failures=\"1\"") || junit.contains("<failure"),
        "{junit}"
    );
}

/// After `kill -9` of a running `phonecert run`, its reference phone dies with it, and the
/// next run removes the namespaces the killed run could not.
#[test]
fn a_killed_run_takes_its_phone_along_and_the_next_run_removes_its_lab() {
    if skip_unless_root(
        "a_killed_run_takes_its_phone_along_and_the_next_run_removes_its_lab",
        "network namespaces",
    ) {
        return;
    }
    let s = Scratch::new("killed");
    let out_dir = s.0.to_str().expect("utf-8");
    let mut child = spawn_phonecert(&[
        "run",
        "scenarios/registration/controller-failover.toml",
        "--lab",
        "netns",
        "--out",
        out_dir,
    ]);
    let pid = child.id();
    let phone = wait_for(Duration::from_secs(30), || {
        children_of(pid)
            .into_iter()
            .find(|(_, cmd)| cmd.contains("simphone"))
    })
    .expect("the reference phone starts");
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    assert!(
        wait_for(Duration::from_secs(5), || gone(phone.0).then_some(())).is_some(),
        "the reference phone {phone:?} outlived the killed harness"
    );
    let left = namespaces_of(pid);
    assert!(
        !left.is_empty(),
        "a killed run cannot remove its namespaces; the test expects some"
    );

    next_netns_run(out_dir);
    // Removed by that run or by another netns run that started meanwhile (tests run in
    // parallel): either way by a run that found the killed one's leftovers.
    assert_eq!(namespaces_of(pid), Vec::<String>::new(), "left: {left:?}");
}

/// The run after a killed one: a passing netns run that leaves no namespace of its own.
fn next_netns_run(out_dir: &str) {
    let (out, next) = phonecert_with_pid(&[
        "run",
        "scenarios/registration/retry-after-503.toml",
        "--lab",
        "netns",
        "--out",
        out_dir,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(namespaces_of(next), Vec::<String>::new());
}

/// A device that floods the servers with garbage (random UDP to the DHCP and SIP ports, junk
/// over HTTP) is judged like any phone: the run ends with its report and its capture.
#[test]
fn a_dut_sending_garbage_never_stops_the_report_and_the_capture() {
    if skip_unless_root(
        "a_dut_sending_garbage_never_stops_the_report_and_the_capture",
        "--dut-cmd runs in the netns lab",
    ) {
        return;
    }
    let s = Scratch::new("garbage-dut");
    let script = s.0.join("garbage.sh");
    std::fs::write(
        &script,
        r#"ip addr add 10.66.0.50/24 dev "$PHONECERT_IFACE"
srv=$PHONECERT_SERVER_IP
for i in $(seq 1 300); do
  head -c $((i % 700 + 1)) /dev/urandom > /dev/udp/$srv/67
  head -c $((i % 900 + 1)) /dev/urandom > /dev/udp/$srv/5060
done
printf 'REGISTER sip:x SIP/2.0\r\nVia: garbage\r\nContent-Length: 99999\r\n\r\n' > /dev/udp/$srv/5060
for i in $(seq 1 30); do
  { head -c 2000 /dev/urandom
    printf 'GET /%s HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n' "$i"
    head -c 500 /dev/urandom; } 2>/dev/null > /dev/tcp/$srv/80
done
echo "garbage sent"
sleep 60
"#,
    )
    .expect("write script");
    let out_dir = s.0.join("out");
    let command = format!("exec bash {}", script.display());
    let out = phonecert(&[
        "run",
        "scenarios/boot/first-boot-upgrade.toml",
        "--dut-cmd",
        &command,
        "--out",
        out_dir.to_str().expect("utf-8"),
    ]);
    let stdout = text(&out.stdout);
    let run = run_dir(&out_dir);
    let log = std::fs::read_to_string(run.join("dut/BOOT-001.log")).unwrap_or_default();
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{}\ndevice log:\n{log}",
        text(&out.stderr)
    );
    assert!(log.contains("garbage sent"), "{log}");
    let sc = &report_of(&run)["scenarios"][0];
    assert_eq!(sc["verdict"], "fail", "{sc}");
    let capture = run
        .join("../..")
        .join(sc["capture"].as_str().expect("capture"));
    let frames = read_pcapng(&capture);
    let (udp, tcp) = ports(&frames);
    assert!(
        udp.iter().any(|&(_, d)| d == 67),
        "garbage to DHCP in the capture"
    );
    assert!(
        udp.iter().any(|&(_, d)| d == 5060),
        "garbage to SIP in the capture"
    );
    assert!(
        tcp.iter().any(|&(_, d)| d == 80),
        "junk over HTTP in the capture"
    );
}

/// A `--dut-cmd` that cannot start is the harness's problem, not the phone's: `error`, exit 3,
/// with the shell's own complaint in the report.
#[test]
fn a_dut_cmd_that_cannot_start_is_a_harness_error_with_its_stderr() {
    if skip_unless_root(
        "a_dut_cmd_that_cannot_start_is_a_harness_error_with_its_stderr",
        "--dut-cmd runs in the netns lab",
    ) {
        return;
    }
    let s = Scratch::new("dut-cmd-missing");
    let out = phonecert(&[
        "run",
        "scenarios/boot/first-boot-upgrade.toml",
        "--dut-cmd",
        "/nonexistent/phone --boot",
        "--out",
        s.0.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    let run = run_dir(&s.0);
    let sc = &report_of(&run)["scenarios"][0];
    assert_eq!(sc["verdict"], "error");
    let error = sc["error"].as_str().expect("error");
    assert!(
        error.starts_with(
            "--dut-cmd '/nonexistent/phone --boot' exited at start (exit status: 127) before the servers saw it: "
        ) && error.ends_with("/nonexistent/phone: not found; see dut/BOOT-001.log"),
        "{error}"
    );
    assert!(
        sc["dut_log_tail"]
            .as_str()
            .is_some_and(|t| t.contains("/nonexistent/phone: not found")),
        "{sc}"
    );
    assert!(run.join("dut/BOOT-001.log").is_file());
}

/// What a killed run's `--dut-cmd` started outlives its shell (the parent-death signal is
/// not inherited), but it lives in the killed run's namespace: the next run kills it with
/// the namespace.
#[test]
fn what_a_killed_runs_dut_cmd_started_is_removed_by_the_next_run() {
    if skip_unless_root(
        "what_a_killed_runs_dut_cmd_started_is_removed_by_the_next_run",
        "network namespaces",
    ) {
        return;
    }
    let s = Scratch::new("killed-dut-cmd");
    let out_dir = s.0.to_str().expect("utf-8");
    let mut child = spawn_phonecert(&[
        "run",
        "scenarios/boot/first-boot-upgrade.toml",
        "--dut-cmd",
        "sleep 300 & echo $! > \"$PHONECERT_WORK_DIR/sleep.pid\"; wait",
        "--out",
        out_dir,
    ]);
    let pid = child.id();
    let pid_file = wait_for(Duration::from_secs(30), || {
        let reports = s.0.join("reports");
        std::fs::read_dir(reports)
            .ok()?
            .filter_map(Result::ok)
            .map(|run| run.path().join("dut/BOOT-001.work/sleep.pid"))
            .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.ends_with('\n')))
    })
    .expect("the command starts its child");
    let sleeper: u32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !gone(sleeper),
        "the test expects the command's child to outlive the killed harness"
    );
    assert!(!namespaces_of(pid).is_empty());

    next_netns_run(out_dir);
    assert!(
        wait_for(Duration::from_secs(5), || gone(sleeper).then_some(())).is_some(),
        "process {sleeper} of the killed run's device still runs"
    );
    assert_eq!(namespaces_of(pid), Vec::<String>::new());
}

/// A `--dut-cmd` whose shell exits at once, leaving one child in its process group and one
/// that left the group (a daemon's setsid, as `dhclient` without `-d` does): neither
/// outlives the scenario, and the run leaves no namespace behind.
#[test]
fn what_a_dut_cmd_left_running_when_its_shell_exited_ends_with_the_scenario() {
    if skip_unless_root(
        "what_a_dut_cmd_left_running_when_its_shell_exited_ends_with_the_scenario",
        "--dut-cmd runs in the netns lab",
    ) {
        return;
    }
    let s = Scratch::new("dut-cmd-leftovers");
    let out_dir = s.0.join("out");
    let (out, pid) = phonecert_with_pid(&[
        "run",
        "scenarios/boot/first-boot-upgrade.toml",
        "--dut-cmd",
        "sleep 300 & echo $! > \"$PHONECERT_WORK_DIR/child.pid\"; \
         setsid sleep 301 & echo $! > \"$PHONECERT_WORK_DIR/daemon.pid\"; exit 0",
        "--out",
        out_dir.to_str().expect("utf-8"),
    ]);
    let run = run_dir(&out_dir);
    assert!(
        run.join("report.json").is_file(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    for name in ["child.pid", "daemon.pid"] {
        let left: u32 = std::fs::read_to_string(run.join("dut/BOOT-001.work").join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .trim()
            .parse()
            .expect("a pid");
        assert!(
            gone(left),
            "process {left} ({name}) of the device outlived its scenario"
        );
    }
    assert_eq!(namespaces_of(pid), Vec::<String>::new());
}

/// The device's exit is stamped when the harness saw it, not after the teardown that
/// follows. Here the teardown is slow on purpose: a process the device left behind holds an
/// HTTP connection the server drains for two seconds before it can stop.
#[test]
fn a_dut_exit_is_stamped_when_it_happened_not_after_the_teardown() {
    if skip_unless_root(
        "a_dut_exit_is_stamped_when_it_happened_not_after_the_teardown",
        "--dut-cmd runs in the netns lab",
    ) {
        return;
    }
    let s = Scratch::new("dut-exit-time");
    let script = s.0.join("exits.sh");
    std::fs::write(
        &script,
        r#"ip addr add 10.66.0.50/24 dev "$PHONECERT_IFACE"
setsid bash -c 'exec 3<>/dev/tcp/$PHONECERT_SERVER_IP/80
printf "GET /nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" >&3
sleep 30' &
sleep 0.5
exit 3
"#,
    )
    .expect("write script");
    let out_dir = s.0.join("out");
    let command = format!("exec bash {}", script.display());
    let out = phonecert(&[
        "run",
        "scenarios/boot/first-boot-upgrade.toml",
        "--dut-cmd",
        &command,
        "--out",
        out_dir.to_str().expect("utf-8"),
    ]);
    let run = run_dir(&out_dir);
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run.join("timelines/BOOT-001.json")).unwrap_or_else(|e| {
            panic!("timeline: {e}\n{}{}", text(&out.stdout), text(&out.stderr))
        }),
    )
    .expect("json");
    let events = saved["timeline"]["events"].as_array().expect("events");
    let t_of = |proto: &str, kind: &str| {
        events
            .iter()
            .find(|e| e["proto"] == proto && e["kind"] == kind)
            .and_then(|e| e["t"].as_f64())
            .unwrap_or_else(|| panic!("no {proto} {kind} in {events:?}"))
    };
    let request = t_of("http", "request");
    let exited = t_of("dut", "exited");
    // The shell exits half a second after its request; the drain alone takes two.
    assert!(
        exited > request && exited - request < 1.5,
        "request at {request} s, exit stamped at {exited} s"
    );
}
