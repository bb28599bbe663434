//! Any program can be the phone: ISC dhclient, a DHCP client nobody here wrote, gets its
//! lease from phonecert's server with the exact option 242 bytes of the scenario.

use crate::common::*;

#[test]
fn dhclient_as_the_dut_gets_the_scenarios_option_242() {
    if skip_unless_root(
        "dhclient_as_the_dut_gets_the_scenarios_option_242",
        "network namespaces",
    ) {
        return;
    }
    if !have_tool("dhclient") {
        eprintln!(
            "skipped: dhclient_as_the_dut_gets_the_scenarios_option_242 needs dhclient (Debian isc-dhcp-client, which .ci/run installs); it did NOT run"
        );
        return;
    }
    let scratch = Scratch::new("dhclient");
    // The shipped recipe: it declares the site-specific option and asks for it, as a phone
    // does.
    let conf = root().join("recipes/dhclient.conf");
    // `-sf /bin/true`: no script touches the namespace or the host's resolver; the lease file
    // is the evidence of what dhclient accepted.
    let command = format!(
        "exec dhclient -d -v -sf /bin/true -cf {} -lf \"$PHONECERT_WORK_DIR/leases\" -pf \"$PHONECERT_WORK_DIR/pid\" \"$PHONECERT_IFACE\"",
        conf.display()
    );
    // BOOT-001 with one more check that keeps the run open for 3 s: a scenario ends as soon
    // as every verdict is settled, which for a DHCP-only device is the moment its ACK goes
    // out, before dhclient has written the lease this test reads.
    let boot = scratch.0.join("boot");
    std::fs::create_dir_all(boot.join("fixtures")).expect("mkdir");
    for f in ["96xxupgrade.txt", "46xxsettings.txt"] {
        std::fs::copy(
            root().join("scenarios/boot/fixtures").join(f),
            boot.join("fixtures").join(f),
        )
        .expect("copy fixture");
    }
    let scenario = boot.join("first-boot-upgrade.toml");
    let text = std::fs::read_to_string(root().join("scenarios/boot/first-boot-upgrade.toml"))
        .expect("BOOT-001");
    std::fs::write(
        &scenario,
        text + "\n[[check]]\nid = \"BOOT-001-99\"\ntitle = \"No DECLINE\"\nrequirement = \"RFC 2131 §4.4.1\"\nkind = \"absent\"\nproto = \"dhcp\"\nevent = \"received\"\nwithin = 3\nmatch = { msg_type = \"DECLINE\" }\n",
    )
    .expect("write scenario");
    let out_dir = scratch.0.join("out");
    let out = phonecert(&[
        "run",
        scenario.to_str().expect("utf-8 path"),
        "--dut-cmd",
        &command,
        "--dut-protocols",
        "dhcp",
        "--dut-mac",
        "02:00:5e:10:00:01",
        "--out",
        out_dir.to_str().expect("utf-8 path"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // A plain DHCP client is judged on DHCP only: the checks about files and registration
    // are skipped, neither passed nor failed, and the DHCP checks it met pass the scenario.
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = run_dir(&out_dir);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
            .expect("json");
    assert_eq!(report["dut"]["kind"], "cmd");
    assert_eq!(report["dut"]["mac"], "02:00:5e:10:00:01");
    let sc = &report["scenarios"][0];
    assert_eq!(sc["verdict"], "pass");
    let verdict_of = |id: &str| {
        sc["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["verdict"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    // DHCP checks are judged on what dhclient did…
    assert_eq!(verdict_of("BOOT-001-01"), "pass", "{sc}");
    assert_eq!(verdict_of("BOOT-001-02"), "pass", "{sc}");
    // …everything past the lease is skipped (HTTP and SIP, and the DHCP checks anchored on
    // them), and nothing else.
    for c in sc["checks"].as_array().expect("checks") {
        let id = c["id"].as_str().unwrap_or("");
        if id != "BOOT-001-01" && id != "BOOT-001-02" && id != "BOOT-001-99" {
            assert_eq!(c["verdict"], "skip", "{c}");
        }
    }
    assert_eq!(
        report["summary"]["checks"]["skip"], 15,
        "{}",
        report["summary"]
    );
    assert_eq!(
        report["summary"]["checks"]["pass"], 3,
        "{}",
        report["summary"]
    );
    // The lease dhclient wrote holds the option 242 string byte for byte.
    let leases = std::fs::read_to_string(run.join("dut/BOOT-001.work/leases")).expect("lease file");
    assert!(
        leases.contains("option avaya-242 \"HTTPSRVR=10.66.0.1,HTTPPORT=80,HTTPDIR=fw\";"),
        "{leases}"
    );
    assert!(leases.contains("fixed-address 10.66.0.10"), "{leases}");
    // dhclient's process group is gone with the scenario.
    let left = std::process::Command::new("pgrep")
        .args([
            "-f",
            &format!("{}", run.join("dut/BOOT-001.work").display()),
        ])
        .output()
        .expect("pgrep");
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "dhclient still running: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}
