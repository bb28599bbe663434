//! Real third-party clients as the device under test, each run through its shipped recipe
//! (`recipes/`), over the scenarios of the protocol it speaks: no check may falsely fail a
//! correct client.
//!
//! Each test lists the checks that fail with that client and why the verdict is right (an
//! Avaya-only rule, a SHOULD the client does not follow); any other check that fails, is not
//! exercised or is an error fails the test, and so does a listed check that no longer fails
//! (the list is stale). A check whose failure depends on a random back-off is listed as one
//! that may fail. Model: hickory-dns's conformance tests, known failures listed with a reason
//! and checked to still fail.

use std::collections::BTreeMap;

use crate::common::*;

/// A check that fails with a client, and why that is the right verdict.
struct Known {
    check: &'static str,
    /// `true`: it fails on every run; `false`: it may (a random back-off decides).
    always: bool,
    why: &'static str,
}

const fn fails(check: &'static str, why: &'static str) -> Known {
    Known {
        check,
        always: true,
        why,
    }
}

const fn may_fail(check: &'static str, why: &'static str) -> Known {
    Known {
        check,
        always: false,
        why,
    }
}

/// Avaya-only rules no generic DHCP client follows, with the reason each verdict is right.
const AVAYA_DHCP: [Known; 9] = [
    fails(
        "OPT242-015-02",
        "Avaya admin guide: a 9600 rejects an offer without option 51; RFC 2131 lets a generic client take it",
    ),
    fails(
        "OPT242-017-02",
        "Avaya admin guide: L2QVLAN makes the phone release its lease; generic clients know no L2QVLAN",
    ),
    fails(
        "OPT242-017-03",
        "Avaya admin guide: DHCP again tagged with L2QVLAN; generic clients know no L2QVLAN",
    ),
    fails(
        "OPT242-017-04",
        "not exercised: rests on 017-03, the tagged DISCOVER that never came",
    ),
    fails(
        "OPT242-017-05",
        "not exercised: rests on 017-04, the tagged REQUEST that never came",
    ),
    fails(
        "OPT242-018-02",
        "Avaya admin guide: DHCP again tagged with L2QVLAN; generic clients know no L2QVLAN",
    ),
    fails(
        "OPT242-018-03",
        "not exercised: rests on 018-02, the tagged DISCOVER that never came",
    ),
    fails(
        "OPT242-018-05",
        "not exercised: rests on 018-03, the VLANTEST fallback that never came",
    ),
    // Listed here, judged per client below: whether the client DISCOVERs again after taking
    // the lease-less offer depends on what it does with the ACK.
    may_fail(
        "OPT242-015-03",
        "follows from 015-02: a client that took the lease-less offer need not DISCOVER again",
    ),
];

/// A client's run, held to its list of known failures.
struct ClientRun {
    /// Checks that passed.
    passed: Vec<String>,
    /// The run folder (kept while this lives).
    run: std::path::PathBuf,
    _scratch: Scratch,
}

/// Runs `phonecert run` with `command` as the device over `paths`, speaking `protocols`,
/// and holds every check to `known`.
fn run_client(
    test: &str,
    command: &str,
    protocols: &str,
    paths: &[&str],
    known: &[Known],
) -> ClientRun {
    let scratch = Scratch::new(test);
    let out_dir = scratch.0.join("out");
    let mut args = vec![
        "run",
        "--dut-cmd",
        command,
        "--dut-protocols",
        protocols,
        "--out",
        out_dir.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(paths);
    let out = phonecert(&args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "phonecert could not run the client: {text}"
    );
    let run = run_dir(&out_dir);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
            .expect("json");
    let mut verdicts = BTreeMap::new();
    for s in report["scenarios"].as_array().expect("scenarios") {
        assert_ne!(s["verdict"], "error", "{}: {}", s["id"], s["error"]);
        for c in s["checks"].as_array().expect("checks") {
            verdicts.insert(
                c["id"].as_str().unwrap_or("?").to_string(),
                (
                    c["verdict"].as_str().unwrap_or("?").to_string(),
                    format!("{} {}: observed {}", c["id"], c["verdict"], c["observed"]),
                ),
            );
        }
    }
    let mut problems = Vec::new();
    let (mut passed, mut failed) = (Vec::new(), Vec::new());
    for (id, (verdict, line)) in &verdicts {
        let listed = known.iter().find(|k| k.check == id);
        match (verdict.as_str(), listed) {
            ("pass" | "skip", Some(k)) if k.always => problems.push(format!(
                "{id} is listed as failing ({}) but came out {verdict}: the list is stale",
                k.why
            )),
            ("pass", _) => passed.push(id.clone()),
            ("skip", _) => {}
            (_, Some(_)) => failed.push(id.clone()),
            (_, None) => problems.push(format!("a check falsely fails the client: {line}")),
        }
    }
    for k in known {
        if !verdicts.contains_key(k.check) {
            problems.push(format!("{} is listed but no scenario has it", k.check));
        }
    }
    assert!(
        problems.is_empty(),
        "{test}:\n  {}\n{text}",
        problems.join("\n  ")
    );
    eprintln!(
        "{test}: {} check(s) passed: {}; {} failed as listed: {}",
        passed.len(),
        passed.join(" "),
        failed.len(),
        failed.join(" ")
    );
    ClientRun {
        passed,
        run,
        _scratch: scratch,
    }
}

fn recipe(file: &str) -> String {
    root().join("recipes").join(file).display().to_string()
}

#[test]
fn dhclient_is_failed_only_for_what_avaya_asks_beyond_rfc_2131() {
    let test = "dhclient_is_failed_only_for_what_avaya_asks_beyond_rfc_2131";
    if skip_unless_root(test, "network namespaces") || !needs(test, "dhclient") {
        return;
    }
    let command = format!(
        "exec dhclient -d -sf {} -cf {} -lf \"$PHONECERT_WORK_DIR/leases\" -pf \"$PHONECERT_WORK_DIR/pid\" \"$PHONECERT_IFACE\"",
        recipe("dhclient-script.sh"),
        recipe("dhclient.conf")
    );
    run_dhcp_client(
        test,
        &command,
        [
            may_fail(
                "BOOT-002-02",
                "RFC 2131 §4.1 SHOULD (4 ± 1 s); dhclient draws its own first back-off, at times past 5 s",
            ),
            may_fail(
                "BOOT-002-03",
                "RFC 2131 §4.1 SHOULD (doubling, ±1 s); dhclient's back-off is randomised more widely",
            ),
            may_fail(
                "BOOT-002-06",
                "not exercised when 02 or 03 found no retransmission in its window",
            ),
        ],
    );
}

#[test]
fn udhcpc_is_failed_only_for_what_avaya_asks_beyond_rfc_2131() {
    let test = "udhcpc_is_failed_only_for_what_avaya_asks_beyond_rfc_2131";
    if skip_unless_root(test, "network namespaces") || !needs(test, "busybox") {
        return;
    }
    // `-R`: udhcpc releases its lease when it is stopped, after the harness's stop mark, so
    // that RELEASE must not count as the L2QVLAN release of OPT242-017-02 (listed failing).
    let command = format!(
        "exec busybox udhcpc -f -R -i \"$PHONECERT_IFACE\" -s {} -O 242 -O 243",
        recipe("udhcpc-script.sh")
    );
    run_dhcp_client(
        test,
        &command,
        [
            fails(
                "BOOT-002-03",
                "RFC 2131 §4.1 SHOULD: the wait doubles; udhcpc retransmits every 3 s (its -T default)",
            ),
            may_fail(
                "BOOT-002-02",
                "RFC 2131 §4.1 SHOULD (4 ± 1 s); udhcpc's fixed 3 s sits on the window's edge",
            ),
            fails(
                "BOOT-002-06",
                "not exercised: rests on 03, whose doubled wait never came",
            ),
        ],
    );
}

/// Runs a DHCP client's recipe over the option242 and boot scenarios: the Avaya-only rules
/// and the client's `own` known failures may fail, nothing else; and what every DHCP client
/// must do, it did: the lease, the SSON asked for, the renewal at a fuzzed T1, the NAK
/// handled.
fn run_dhcp_client(test: &str, command: &str, own: impl IntoIterator<Item = Known>) {
    let mut known: Vec<Known> = AVAYA_DHCP.into_iter().collect();
    known.extend(own);
    let passed = run_client(
        test,
        command,
        "dhcp",
        &["scenarios/option242", "scenarios/boot"],
        &known,
    )
    .passed;
    for id in [
        "BOOT-001-01",
        "BOOT-001-02",
        "BOOT-002-04",
        "BOOT-003-01",
        "BOOT-003-04",
        "BOOT-003-05",
        "OPT242-014-01",
        "OPT242-016-02",
        "OPT242-016-03",
    ] {
        assert!(passed.iter().any(|p| p == id), "{id} did not pass");
    }
}

#[test]
fn baresip_is_failed_only_for_what_avaya_asks_beyond_rfc_3261() {
    let test = "baresip_is_failed_only_for_what_avaya_asks_beyond_rfc_3261";
    if skip_unless_root(test, "network namespaces") || !needs(test, "baresip") {
        return;
    }
    let command = format!("exec sh {}", recipe("baresip.sh"));
    // What the recipe cannot give a generic UA: it registers over UDP with the one registrar
    // it is configured for, asking its own registration time; an Avaya phone takes the
    // controller list, their transports and REGISTERWAIT from the settings file.
    let settings_file = "Avaya admin guide: SIP_CONTROLLER_LIST and REGISTERWAIT come from the settings file, which a generic UA does not read";
    let rests = "not exercised: rests on a step the UA did not take";
    let recovery_wait = "Avaya admin guide: retry within 90 % of RECOVERYREGISTERWAIT (54 s); baresip retries after its own randomised back-off, which can end past it";
    let known = [
        fails(
            "REG-001-04",
            "Avaya admin guide: fail over along SIP_CONTROLLER_LIST; the recipe gives baresip one registrar",
        ),
        fails("REG-001-05", rests),
        fails("REG-001-06", rests),
        fails(
            "REG-002-02",
            "RFC 3261 §21.5.4 SHOULD NOT retry before Retry-After; baresip retries after its own wait",
        ),
        fails(
            "REG-005-02",
            "RFC 8760 SHA-256 digest: baresip 1.0 answers MD5 challenges only, so it sends nothing",
        ),
        fails("REG-005-03", rests),
        fails(
            "REG-006-02",
            "RFC 8760 SHA-256 digest: baresip 1.0 answers MD5 challenges only, so it sends nothing",
        ),
        fails("REG-006-03", rests),
        fails("REG-006-04", rests),
        fails(
            "REG-010-03",
            "RFC 3261 §22.2 SHOULD NOT re-send refused credentials; baresip answers the second 401 with them at once",
        ),
        fails(
            "REG-011-02",
            "RFC 3261 §21.4.4 SHOULD NOT repeat after 403; baresip retries after its own wait",
        ),
        fails(
            "REG-016-02",
            "RFC 3261 §21.5.4 SHOULD NOT retry before Retry-After; baresip retries after its own wait",
        ),
        // After a 404, 500 or 503 baresip waits its own randomised back-off, not 50–90 % of
        // RECOVERYREGISTERWAIT: one run retries inside the window, another past it.
        may_fail("REG-012-03", recovery_wait),
        may_fail("REG-012-04", rests),
        may_fail("REG-014-03", recovery_wait),
        may_fail("REG-014-04", rests),
        may_fail("REG-015-03", recovery_wait),
        may_fail("REG-015-04", rests),
        fails("REG-018-01", settings_file),
        fails("REG-018-02", rests),
        fails("REG-018-03", rests),
        fails("REG-018-04", rests),
        fails("REG-018-05", rests),
        fails("REG-020-02", settings_file),
        fails("REG-020-03", rests),
        fails("REG-020-04", rests),
        fails("REG-021-01", settings_file),
        fails("REG-021-02", rests),
        fails("REG-021-03", rests),
        fails("REG-021-04", rests),
        fails("REG-023-01", settings_file),
        fails("REG-023-02", rests),
        fails("REG-023-03", rests),
        // SIP over TLS is a transport of SIP_CONTROLLER_LIST: the recipe registers over UDP.
        fails("REG-022-01", settings_file),
        fails("REG-022-03", rests),
        fails("REG-022-04", rests),
        fails("REG-024-01", settings_file),
        fails("REG-024-02", rests),
        fails("REG-024-03", rests),
        // The refused certificates (expired, for another name) are those of a TLS controller.
        fails("REG-025-01", settings_file),
        fails("REG-025-02", settings_file),
        fails("REG-025-04", rests),
        fails("REG-025-05", rests),
        fails("REG-026-01", settings_file),
        fails("REG-026-02", settings_file),
        fails("REG-026-04", rests),
        fails("REG-026-05", rests),
    ];
    let run = run_client(test, &command, "sip", &["scenarios/registration"], &known);
    // RFC 3261 Timer E and F exactly, CSeq wherever it starts, and the refresh in time.
    for id in [
        "REG-001-01",
        "REG-001-02",
        "REG-001-03",
        "REG-001-07",
        "REG-002-03",
        "REG-002-04",
        "REG-003-03",
    ] {
        assert!(run.passed.iter().any(|p| p == id), "{id} did not pass");
    }
    // Stopped at the scenario's end, baresip un-REGISTERs (Expires 0): after the stop mark,
    // so no check used it.
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run.run.join("timelines/REG-003.json")).expect("REG-003 timeline"),
    )
    .expect("json");
    let events = saved["timeline"]["events"].as_array().expect("events");
    let stop = events
        .iter()
        .position(|e| e["proto"] == "dut" && e["kind"] == "stopping")
        .expect("the stop mark");
    let unregister = events
        .iter()
        .skip(stop)
        .find(|e| e["kind"] == "request" && e["fields"]["expires"] == 0)
        .expect("baresip un-REGISTERs when stopped");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.run.join("report.json")).expect("report"))
            .expect("json");
    let used: Vec<&serde_json::Value> = report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .filter(|s| s["id"] == "REG-003")
        .flat_map(|s| s["checks"].as_array().into_iter().flatten())
        .flat_map(|c| c["events"].as_array().into_iter().flatten())
        .collect();
    assert!(
        !used.contains(&&unregister["index"]),
        "the un-REGISTER after the stop mark was judged: {unregister}"
    );
}

/// Whether `tool` is installed (`.ci/run` installs it); says the test did not run when not.
fn needs(test: &str, tool: &str) -> bool {
    if have_tool(tool) {
        return true;
    }
    eprintln!("skipped: {test} needs {tool} (.ci/run installs it); it did NOT run");
    false
}
