//! BOOT-001 end to end: the reference phone boots, upgrades, reboots and registers.

use crate::common::*;

/// Runs BOOT-001 in `lab`, checks everything a user would read, returns phonecert's pid.
fn run_boot(lab: &str) -> u32 {
    let scratch = Scratch::new(&format!("boot-{lab}"));
    let out_dir = scratch.0.to_str().expect("utf-8 path");
    let (out, pid) = phonecert_with_pid(&[
        "run",
        "scenarios/boot/first-boot-upgrade.toml",
        "--lab",
        lab,
        "--out",
        out_dir,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run = run_dir(&scratch.0);
    let dut_log = std::fs::read_to_string(run.join("dut/BOOT-001.log")).unwrap_or_default();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}\nsimphone log:\n{dut_log}"
    );
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");

    // report.json
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
            .expect("json");
    assert_eq!(report["schema"], "phonecert.report/1");
    assert_eq!(report["lab"], lab);
    assert_eq!(report["summary"]["pass"], 1);
    assert_eq!(report["dut"]["firmware_observed"], "2.6.1.0");
    let sc = &report["scenarios"][0];
    assert_eq!(sc["id"], "BOOT-001");
    assert_eq!(sc["verdict"], "pass");
    let checks = sc["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 17);
    for c in checks {
        assert_eq!(c["verdict"], "pass", "{c}");
        assert!(!c["requirement"].as_str().unwrap_or("").is_empty());
    }
    // junit.xml and reports/latest
    let junit = std::fs::read_to_string(run.join("junit.xml")).expect("junit.xml");
    assert!(
        junit.contains("tests=\"17\"") && junit.contains("failures=\"0\""),
        "{junit}"
    );
    let latest = std::fs::read_link(scratch.0.join("reports/latest")).expect("reports/latest link");
    assert_eq!(Some(latest.as_os_str()), run.file_name());

    // the capture: DHCP both ways, HTTP, SIP
    // The capture is named relative to the output root, two folders above the run folder.
    let pcap = run
        .join("../..")
        .join(sc["capture"].as_str().expect("capture path"));
    let frames = read_pcapng(&pcap);
    let (udp, tcp) = ports(&frames);
    assert!(
        udp.contains(&(68, 67)),
        "a DHCP client→server datagram in {udp:?}"
    );
    assert!(
        udp.contains(&(67, 68)),
        "a DHCP server→client datagram in {udp:?}"
    );
    assert!(
        udp.iter().any(|&(s, d)| s == 5060 || d == 5060),
        "SIP in {udp:?}"
    );
    assert!(tcp.iter().any(|&(_, d)| d == 80), "HTTP in {tcp:?}");
    if let Some(text) = tshark(&pcap) {
        for proto in ["DHCP", "HTTP", "SIP"] {
            assert!(text.contains(proto), "tshark shows no {proto}:\n{text}");
        }
        assert!(
            !text.contains("Malformed"),
            "tshark found malformed frames:\n{text}"
        );
        assert!(text.contains("REGISTER"), "{text}");
    } else {
        eprintln!(
            "note: tshark is not installed; the capture was checked without Wireshark's dissectors"
        );
    }
    pid
}

#[test]
fn boot_scenario_passes_on_loopback() {
    run_boot("loopback");
}

#[test]
fn boot_scenario_passes_in_netns_and_leaves_nothing_behind() {
    if skip_unless_root(
        "boot_scenario_passes_in_netns_and_leaves_nothing_behind",
        "network namespaces",
    ) {
        return;
    }
    let pid = run_boot("netns");
    // Only this run's namespaces: other tests may be running labs of their own meanwhile.
    let left = namespaces_of(pid);
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}
