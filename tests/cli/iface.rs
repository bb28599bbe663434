//! The iface lab without hardware: a veth pair between two namespaces this test creates
//! (`pc-t-infra-…`, `pc-t-phone-…`), phonecert run inside the infrastructure namespace with
//! `--lab iface:<its end>`, and the "real phone" on the other end started by a reboot
//! command (`recipes/reboot-simphone.sh`, the reference phone in the phone namespace).
//! Nothing here touches the root namespace's interfaces; every namespace, and every process
//! inside one, is removed when the [`Segment`] is dropped, also when an assertion fails.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::common::*;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// The phone's MAC, as the scenarios' own (`phone.mac` of OPT242-001).
const PHONE_MAC: &str = "00:1b:4f:42:00:01";
/// Another client on the segment, which must never be answered.
const STRANGER_MAC: &str = "02:00:00:00:00:99";

/// A lab segment: two namespaces joined by a veth, removed on drop with everything in them.
struct Segment {
    infra_ns: String,
    phone_ns: String,
    infra_if: String,
    phone_if: String,
    /// 10.99.`net`.0/24: the addresses this segment's own test devices use.
    net: u32,
    /// Output files of the test (the reboot command's pid file).
    scratch: Scratch,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Segment {
    fn create(name: &str) -> Segment {
        let pid = std::process::id();
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let seg = Segment {
            infra_ns: format!("pc-t-infra-{pid:x}-{n}"),
            phone_ns: format!("pc-t-phone-{pid:x}-{n}"),
            infra_if: format!("pti{pid:x}{n}"),
            phone_if: format!("ptp{pid:x}{n}"),
            net: 100 + (pid % 100) + n,
            scratch: Scratch::new(&format!("iface-{name}")),
        };
        for ns in [&seg.infra_ns, &seg.phone_ns] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&[
            "link",
            "add",
            &seg.infra_if,
            "netns",
            &seg.infra_ns,
            "type",
            "veth",
            "peer",
            "name",
            &seg.phone_if,
            "netns",
            &seg.phone_ns,
        ]);
        // An address the lab port already had, which the run must leave alone.
        ip(&[
            "-n",
            &seg.infra_ns,
            "addr",
            "add",
            &format!("10.99.{}.7/24", seg.net),
            "dev",
            &seg.infra_if,
        ]);
        seg.set_up(true, true);
        seg.await_carrier();
        seg
    }

    /// Waits until the lab port has carrier: the kernel reports it a moment after both ends
    /// are up, and the reference phone takes its end down and up to set its MAC.
    fn await_carrier(&self) {
        let carrier = (0..250).any(|_| {
            let out = Command::new("ip")
                .args(["-n", &self.infra_ns, "link", "show", "dev", &self.infra_if])
                .output()
                .map(|o| text(&o.stdout))
                .unwrap_or_default();
            if out.contains("LOWER_UP") {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            false
        });
        assert!(carrier, "the veth of {} never got carrier", self.infra_ns);
    }

    /// The MAC of the phone's end.
    fn phone_end_mac(&self) -> String {
        let link = Command::new("ip")
            .args([
                "-n",
                &self.phone_ns,
                "-o",
                "link",
                "show",
                "dev",
                &self.phone_if,
            ])
            .output()
            .expect("ip link");
        text(&link.stdout)
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .expect("a MAC")
            .to_string()
    }

    fn set_up(&self, infra: bool, phone: bool) {
        let state = |up| if up { "up" } else { "down" };
        ip(&[
            "-n",
            &self.infra_ns,
            "link",
            "set",
            &self.infra_if,
            state(infra),
        ]);
        ip(&[
            "-n",
            &self.phone_ns,
            "link",
            "set",
            &self.phone_if,
            state(phone),
        ]);
    }

    /// The IPv4 addresses on the lab port.
    fn infra_addrs(&self) -> Vec<String> {
        let out = Command::new("ip")
            .args(["-n", &self.infra_ns, "-4", "-o", "addr", "show", "dev"])
            .arg(&self.infra_if)
            .output()
            .expect("ip addr");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                w.find(|x| *x == "inet")?;
                w.next().map(str::to_string)
            })
            .collect()
    }

    /// `phonecert run SCENARIOS --lab iface:<lab port> --dut-mac <the phone> FLAGS`.
    fn lab_args(&self, scenarios: &[&str], flags: &[&str]) -> Vec<String> {
        let lab = format!("iface:{}", self.infra_if);
        let mut args = vec!["run"];
        args.extend_from_slice(scenarios);
        args.extend_from_slice(&["--lab", &lab, "--dut-mac", PHONE_MAC]);
        args.extend_from_slice(flags);
        args.into_iter().map(str::to_string).collect()
    }

    /// `phonecert ARGS` inside the infrastructure namespace, with the reference phone's
    /// reboot recipe set up for the phone namespace (`simphone_args` for the phone).
    fn command(&self, args: &[impl AsRef<OsStr>], simphone_args: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.infra_ns])
            .arg(env!("CARGO_BIN_EXE_phonecert"))
            .args(args)
            .current_dir(root())
            .env("SIMPHONE", env!("CARGO_BIN_EXE_simphone"))
            .env("SIMPHONE_NS", &self.phone_ns)
            .env("SIMPHONE_IFACE", &self.phone_if)
            .env("SIMPHONE_ARGS", simphone_args)
            .env("SIMPHONE_PIDFILE", self.scratch.0.join("phone.pid"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// The lab port's IPv4 forwarding (`net.ipv4.conf.<port>.forwarding` of its namespace).
    fn forwarding(&self) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.infra_ns, "cat"])
            .arg(format!(
                "/proc/sys/net/ipv4/conf/{}/forwarding",
                self.infra_if
            ))
            .output()
            .expect("read forwarding");
        text(&out.stdout).trim().to_string()
    }

    fn set_forwarding(&self, on: bool) {
        let status = Command::new("ip")
            .args(["netns", "exec", &self.infra_ns, "sh", "-c"])
            .arg(format!(
                "echo {} > /proc/sys/net/ipv4/conf/{}/forwarding",
                u8::from(on),
                self.infra_if
            ))
            .status()
            .expect("set forwarding");
        assert!(status.success());
    }

    fn run(&self, args: &[impl AsRef<OsStr>], simphone_args: &str) -> Output {
        self.command(args, simphone_args)
            .output()
            .expect("run phonecert")
    }

    /// Starts a program inside the phone namespace in a session of its own (the segment's
    /// drop kills it with everything else in the namespace).
    fn spawn_in_phone_ns(&self, program: &str, args: &[&str]) {
        // `setsid -f`: it forks the program into a session of its own and returns at once.
        let status = Command::new("setsid")
            .args(["-f", "ip", "netns", "exec", &self.phone_ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("start a program in the phone namespace");
        assert!(status.success(), "setsid {program}: {status}");
    }

    /// Waits (up to 20 s) until the run has put `cidr` on the lab port.
    fn await_lab_addr(&self, cidr: &str) {
        let on = (0..400).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            self.infra_addrs().iter().any(|a| a == cidr)
        });
        assert!(
            on,
            "the lab address never appeared: {:?}",
            self.infra_addrs()
        );
    }

    fn out(&self) -> String {
        self.scratch.0.join("out").display().to_string()
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        for ns in [&self.phone_ns, &self.infra_ns] {
            for _ in 0..50 {
                let pids = Command::new("ip")
                    .args(["netns", "pids", ns])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                let pids: Vec<i32> = pids.lines().filter_map(|l| l.trim().parse().ok()).collect();
                if pids.is_empty() {
                    break;
                }
                for pid in pids {
                    // SAFETY: kill(2) on a pid read from our own test namespace.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn recipe() -> String {
    root()
        .join("recipes/reboot-simphone.sh")
        .display()
        .to_string()
}

fn report(out_dir: &str) -> serde_json::Value {
    let run = run_dir(Path::new(out_dir));
    serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
        .expect("report.json is json")
}

/// The timeline file of scenario `s` of the report in `out_dir`.
fn timeline(out_dir: &str, s: &serde_json::Value) -> serde_json::Value {
    let run = run_dir(Path::new(out_dir));
    serde_json::from_slice(
        &std::fs::read(run.join(s["timeline"].as_str().expect("timeline"))).expect("read"),
    )
    .expect("json")
}

/// The DHCP messages in a capture: (source port, chaddr as text).
fn dhcp_frames(path: &Path) -> Vec<(u16, String)> {
    use etherparse::{SlicedPacket, TransportSlice};
    read_pcapng(path)
        .iter()
        .filter_map(|f| {
            let p = SlicedPacket::from_ethernet(f).ok()?;
            let Some(TransportSlice::Udp(u)) = p.transport else {
                return None;
            };
            let payload = u.payload();
            let chaddr = payload.get(28..34)?;
            let mac = chaddr
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            matches!(u.source_port(), 67 | 68).then_some((u.source_port(), mac))
        })
        .collect()
}

const PHONE_ARGS: &str =
    "--user 4201 --password lab-4201 --model 9620 --firmware S96x0_SALBR2_6_1_0.bin";

#[test]
fn a_phone_on_a_lab_port_is_judged_and_strangers_are_never_answered() {
    if skip_unless_root(
        "a_phone_on_a_lab_port_is_judged_and_strangers_are_never_answered",
        "network namespaces and a veth",
    ) {
        return;
    }
    let seg = Segment::create("judged");
    let before = seg.infra_addrs();
    // Another DHCP client on the segment, asking again every 0.2 s (a DISCOVER every 4 s
    // without back-off, its timers 20 times faster), so it asks during every scenario.
    let work = seg.scratch.0.join("stranger");
    std::fs::create_dir_all(&work).expect("mkdir");
    seg.spawn_in_phone_ns(
        env!("CARGO_BIN_EXE_simphone"),
        &[
            "--iface",
            &seg.phone_if,
            "--mac",
            STRANGER_MAC,
            "--time-scale",
            "20",
            "--fault",
            "discover-no-backoff",
            "--user",
            "4299",
            "--password",
            "stranger",
            "--state-dir",
            work.to_str().expect("utf-8"),
        ],
    );
    // It puts its MAC on the phone's end (down, address, up): the lab port must have
    // carrier again when phonecert checks it.
    let set = (0..250).any(|_| {
        if seg.phone_end_mac() == STRANGER_MAC {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        false
    });
    assert!(set, "the second client never took its MAC");
    seg.await_carrier();
    let out_dir = seg.out();
    let reboot = recipe();
    let out = seg.run(
        &seg.lab_args(
            &[
                "scenarios/option242/httpsrvr.toml",
                "scenarios/option242/httpdir.toml",
            ],
            &[
                "--reboot-cmd",
                &reboot,
                "--boot-wait",
                "20",
                "--out",
                &out_dir,
            ],
        ),
        PHONE_ARGS,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // The lab address came off again; the port's own address stayed.
    assert_eq!(seg.infra_addrs(), before);
    let rep = report(&out_dir);
    assert_eq!(rep["lab"], format!("iface:{}", seg.infra_if));
    assert_eq!(rep["dut"]["kind"], "attached");
    assert_eq!(rep["dut"]["mac"], PHONE_MAC);
    assert_eq!(rep["dut"]["reboot"], format!("--reboot-cmd '{reboot}'"));
    let scenarios = rep["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), 2);
    for s in scenarios {
        assert_eq!(s["verdict"], "pass", "{s}");
        // Each scenario's clock starts at the phone's first DISCOVER.
        let tl = timeline(&out_dir, s);
        let first = &tl["timeline"]["events"][0];
        assert_eq!(first["t"], 0.0, "{first}");
        assert_eq!(first["fields"]["msg_type"], "DISCOVER", "{first}");
        assert_eq!(first["fields"]["client_mac"], PHONE_MAC, "{first}");
        assert_eq!(tl["vars"]["server_ip"], "10.66.0.1");
    }
    // The stranger was heard, listed, and never answered: no server frame names its MAC.
    let listed: Vec<serde_json::Value> = scenarios
        .iter()
        .flat_map(|s| s["ignored_clients"].as_array().cloned().unwrap_or_default())
        .map(|c| c["mac"].clone())
        .collect();
    assert!(
        listed.iter().any(|m| *m == STRANGER_MAC),
        "ignored_clients: {listed:?}\n{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains(&format!("from {STRANGER_MAC}, not the device under test")));
    let mut heard_stranger = false;
    for s in scenarios {
        let capture = Path::new(&out_dir).join(s["capture"].as_str().expect("capture"));
        for (port, chaddr) in dhcp_frames(&capture) {
            if chaddr == STRANGER_MAC {
                heard_stranger = true;
                assert_eq!(port, 68, "the server answered the stranger in {capture:?}");
            }
        }
    }
    assert!(
        heard_stranger,
        "the capture of the lab port has the stranger's requests"
    );

    // The same phone with a fault switch fails the check that catches it. OPT242-001 as
    // shipped waits its whole 30 s timeout for a GET that never comes; a copy ends at 5 s.
    let copy = seg.scratch.0.join("opt242");
    std::fs::create_dir_all(copy.join("fixtures")).expect("mkdir");
    for f in ["96xxupgrade.txt", "46xxsettings.txt"] {
        std::fs::copy(
            root().join("scenarios/option242/fixtures").join(f),
            copy.join("fixtures").join(f),
        )
        .expect("copy fixture");
    }
    let shipped = std::fs::read_to_string(root().join("scenarios/option242/httpsrvr.toml"))
        .expect("OPT242-001");
    assert!(shipped.contains("\ntimeout = 30\n"));
    let scenario = copy.join("httpsrvr.toml");
    std::fs::write(
        &scenario,
        shipped.replace("\ntimeout = 30\n", "\ntimeout = 5\n"),
    )
    .expect("write the copy");
    let out_dir = seg.scratch.0.join("out-fault").display().to_string();
    let out = seg.run(
        &seg.lab_args(
            &[scenario.to_str().expect("utf-8")],
            &[
                "--reboot-cmd",
                &reboot,
                "--boot-wait",
                "20",
                "--out",
                &out_dir,
            ],
        ),
        &format!("{PHONE_ARGS} --fault ignore-option242"),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let rep = report(&out_dir);
    let checks = rep["scenarios"][0]["checks"].as_array().expect("checks");
    let check = checks
        .iter()
        .find(|c| c["id"] == "OPT242-001-01")
        .expect("OPT242-001-01");
    assert_eq!(check["verdict"], "fail", "{check}");
    assert_eq!(seg.infra_addrs(), before);
}

#[test]
fn another_dhcp_server_on_the_segment_stops_the_run_before_anything_changes() {
    if skip_unless_root(
        "another_dhcp_server_on_the_segment_stops_the_run_before_anything_changes",
        "network namespaces and a veth",
    ) {
        return;
    }
    if !have_tool("dnsmasq") {
        eprintln!(
            "skipped: another_dhcp_server_on_the_segment_stops_the_run_before_anything_changes needs dnsmasq (Debian dnsmasq-base, which .ci/run installs); it did NOT run"
        );
        return;
    }
    let seg = Segment::create("rogue");
    let rogue_ip = format!("10.99.{}.2", seg.net);
    ip(&[
        "-n",
        &seg.phone_ns,
        "addr",
        "add",
        &format!("{rogue_ip}/24"),
        "dev",
        &seg.phone_if,
    ]);
    // The phone end's MAC, read inside its namespace: dnsmasq answers from it.
    let rogue_mac = seg.phone_end_mac();
    let range = format!("10.99.{n}.50,10.99.{n}.60,1h", n = seg.net);
    let leases = seg.scratch.0.join("dnsmasq.leases");
    seg.spawn_in_phone_ns(
        "dnsmasq",
        &[
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--bind-interfaces",
            &format!("--interface={}", seg.phone_if),
            &format!("--dhcp-range={range}"),
            &format!("--dhcp-leasefile={}", leases.display()),
        ],
    );
    // dnsmasq is up once it holds port 67 in its namespace.
    let listening = (0..100).any(|_| {
        let ss = Command::new("ip")
            .args(["netns", "exec", &seg.phone_ns, "ss", "-uln"])
            .output()
            .map(|o| text(&o.stdout))
            .unwrap_or_default();
        if ss.contains(":67 ") {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        false
    });
    assert!(listening, "dnsmasq did not start");
    let before = seg.infra_addrs();
    let out_dir = seg.out();
    let out = seg.run(
        &seg.lab_args(
            &["scenarios/option242/httpsrvr.toml"],
            &["--reboot", "none", "--out", &out_dir],
        ),
        PHONE_ARGS,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "another DHCP server answers on the segment of {}: {rogue_ip} (MAC {rogue_mac}, OFFER of 10.99.{}.",
            seg.infra_if, seg.net
        )),
        "{stderr}"
    );
    // Refused before anything: the port is as it was, and no run folder exists.
    assert_eq!(seg.infra_addrs(), before);
    assert!(!Path::new(&out_dir).exists(), "{out_dir} was created");
}

#[test]
fn a_lab_port_that_is_missing_down_or_without_carrier_exits_3_with_the_reason() {
    // A missing interface needs no privileges to be refused.
    let out = phonecert(&[
        "run",
        "scenarios/option242/httpsrvr.toml",
        "--lab",
        "iface:pcnosuch0",
        "--dut-mac",
        PHONE_MAC,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("error: interface pcnosuch0 does not exist"),
        "{}",
        text(&out.stderr)
    );
    if skip_unless_root(
        "a_lab_port_that_is_missing_down_or_without_carrier_exits_3_with_the_reason (down, no carrier)",
        "network namespaces and a veth",
    ) {
        return;
    }
    let seg = Segment::create("link");
    let args = seg.lab_args(
        &["scenarios/option242/httpsrvr.toml"],
        &["--reboot", "none"],
    );
    seg.set_up(false, true);
    let out = seg.run(&args, "");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("error: interface {} is down", seg.infra_if)),
        "{}",
        text(&out.stderr)
    );
    // The lab port is up, the phone's end is not: no carrier.
    seg.set_up(true, false);
    let out = seg.run(&args, "");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("error: interface {} has no carrier", seg.infra_if)),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_phone_that_never_boots_is_an_error_after_the_wait_and_the_report_is_written() {
    if skip_unless_root(
        "a_phone_that_never_boots_is_an_error_after_the_wait_and_the_report_is_written",
        "network namespaces and a veth",
    ) {
        return;
    }
    let seg = Segment::create("noboot");
    let before = seg.infra_addrs();
    let out_dir = seg.out();
    let started = std::time::Instant::now();
    // A reboot command that reboots nothing, then one that fails.
    let out = seg.run(
        &seg.lab_args(
            &[
                "scenarios/option242/httpsrvr.toml",
                "scenarios/option242/httpdir.toml",
            ],
            &[
                "--reboot-cmd",
                "echo rebooting \"$PHONECERT_DUT_MAC\" for \"$PHONECERT_SCENARIO\"",
                "--boot-wait",
                "1.5",
                "--out",
                &out_dir,
            ],
        ),
        "",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(started.elapsed().as_secs_f64() >= 3.0);
    let rep = report(&out_dir);
    assert_eq!(rep["summary"]["error"], 2, "{rep}");
    assert_eq!(rep["not_run"], serde_json::json!([]));
    for s in rep["scenarios"].as_array().expect("scenarios") {
        assert_eq!(s["verdict"], "error");
        let error = s["error"].as_str().expect("error");
        assert!(
            error.contains(&format!(
                "the phone {PHONE_MAC} sent no DHCPDISCOVER on {} within 1.5 s",
                seg.infra_if
            )),
            "{error}"
        );
        // The reboot command ran with the phone's MAC and the scenario in its environment.
        let run = run_dir(Path::new(&out_dir));
        let log = std::fs::read_to_string(run.join(s["dut_log"].as_str().expect("log")))
            .expect("the device log");
        assert_eq!(
            log,
            format!(
                "rebooting {PHONE_MAC} for {}\n",
                s["id"].as_str().expect("id")
            )
        );
    }
    assert_eq!(seg.infra_addrs(), before);

    let out_dir = seg.scratch.0.join("out-fails").display().to_string();
    let out = seg.run(
        &seg.lab_args(
            &["scenarios/option242/httpsrvr.toml"],
            &[
                "--reboot-cmd",
                "echo the PDU refused; exit 7",
                "--out",
                &out_dir,
            ],
        ),
        "",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let rep = report(&out_dir);
    let error = rep["scenarios"][0]["error"].as_str().expect("error");
    assert!(
        error.contains("the reboot command 'echo the PDU refused; exit 7' failed (exit status: 7)")
            && error.contains("the PDU refused"),
        "{error}"
    );

    // A reboot command still running when the scenario ends is stopped with what it
    // started in its process group: nothing is left in the namespace phonecert ran in.
    let out_dir = seg.scratch.0.join("out-hangs").display().to_string();
    let out = seg.run(
        &seg.lab_args(
            &["scenarios/option242/httpsrvr.toml"],
            &[
                "--reboot-cmd",
                "sleep 417 & wait",
                "--boot-wait",
                "1",
                "--out",
                &out_dir,
            ],
        ),
        "",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let left = Command::new("ip")
        .args(["netns", "pids", &seg.infra_ns])
        .output()
        .expect("ip netns pids");
    assert_eq!(text(&left.stdout), "", "processes left in {}", seg.infra_ns);
}

#[test]
fn ctrl_c_while_waiting_for_the_phone_restores_the_lab_port() {
    if skip_unless_root(
        "ctrl_c_while_waiting_for_the_phone_restores_the_lab_port",
        "network namespaces and a veth",
    ) {
        return;
    }
    let seg = Segment::create("ctrlc");
    // A port of a host that forwards (a router, a container host).
    seg.set_forwarding(true);
    let before = seg.infra_addrs();
    let out_dir = seg.out();
    let child = seg
        .command(
            &seg.lab_args(
                &["scenarios/option242/httpsrvr.toml"],
                &[
                    "--reboot",
                    "none",
                    "--boot-wait",
                    "120",
                    "--lab-addr",
                    "192.168.213.1/24",
                    "--out",
                    &out_dir,
                ],
            ),
            "",
        )
        .spawn()
        .expect("start phonecert");
    // `ip netns exec` runs phonecert in its own process (exec), so the pid is phonecert's.
    let pid = i32::try_from(child.id()).expect("pid");
    seg.await_lab_addr("192.168.213.1/24");
    // The phone's default router is the lab address: nothing it sends is routed on.
    assert_eq!(seg.forwarding(), "0");
    // SAFETY: kill(2) on the child this test started.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert_eq!(seg.infra_addrs(), before);
    assert_eq!(seg.forwarding(), "1");
    let rep = report(&out_dir);
    assert_eq!(rep["interrupted"], true);
}

#[test]
fn the_iface_lab_needs_the_phones_mac_and_its_flags_need_the_iface_lab() {
    let out = phonecert(&["run", "--lab", "iface:eth9"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: --lab iface:eth9 needs --dut-mac MAC: the DHCP server answers that phone and no other device on the segment\n"
    );
    for (flag, value) in [
        ("--reboot", "none"),
        ("--reboot-cmd", "true"),
        ("--boot-wait", "5"),
        ("--lab-addr", "10.1.2.3/24"),
    ] {
        let out = phonecert(&["run", "--lab", "loopback", flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert_eq!(
            text(&out.stderr),
            format!("error: {flag} applies to a real phone on --lab iface:NAME only\n")
        );
    }
    let out = phonecert(&[
        "run",
        "--lab",
        "iface:eth9",
        "--dut-mac",
        PHONE_MAC,
        "--lab-addr",
        "10.1.2.150/24",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--lab-addr `10.1.2.150/24`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_operator_reboots_the_phone_when_asked_and_the_scenario_starts_at_its_discover() {
    if skip_unless_root(
        "the_operator_reboots_the_phone_when_asked_and_the_scenario_starts_at_its_discover",
        "network namespaces and a veth",
    ) {
        return;
    }
    use std::io::BufRead;
    let seg = Segment::create("operator");
    let out_dir = seg.out();
    let mut child = seg
        .command(
            &seg.lab_args(
                &["scenarios/option242/httpsrvr.toml"],
                &[
                    "--reboot",
                    "operator",
                    "--boot-wait",
                    "60",
                    "--out",
                    &out_dir,
                ],
            ),
            "",
        )
        .spawn()
        .expect("start phonecert");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("reboot the phone") {
                let _ = tx.send(line.clone());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let asked = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("phonecert asks the operator to reboot the phone");
    assert!(
        asked.contains(&format!(
            "OPT242-001: reboot the phone {PHONE_MAC} now (power it off and on again). Waiting up to 60 s for its DHCPDISCOVER on {}",
            seg.infra_if
        )),
        "{asked}"
    );
    // The operator takes a moment, then powers the phone on.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let work = seg.scratch.0.join("operator-phone");
    std::fs::create_dir_all(&work).expect("mkdir");
    let status = Command::new(recipe())
        .env("PHONECERT_DUT_MAC", PHONE_MAC)
        .env("PHONECERT_WORK_DIR", &work)
        .env("SIMPHONE", env!("CARGO_BIN_EXE_simphone"))
        .env("SIMPHONE_NS", &seg.phone_ns)
        .env("SIMPHONE_IFACE", &seg.phone_if)
        .env("SIMPHONE_ARGS", PHONE_ARGS)
        .env("SIMPHONE_PIDFILE", seg.scratch.0.join("phone.pid"))
        .stdout(Stdio::null())
        .status()
        .expect("power the phone on");
    assert!(status.success());
    let code = child.wait().expect("wait").code();
    let stderr = reader.join().expect("stderr reader");
    assert_eq!(code, Some(0), "{stderr}");
    let rep = report(&out_dir);
    let s = &rep["scenarios"][0];
    assert_eq!(s["verdict"], "pass");
    assert_eq!(rep["dut"]["reboot"], "--reboot operator");
    // The clock started at the DISCOVER, not when the operator was asked: the wait is not
    // part of the scenario.
    let tl = timeline(&out_dir, s);
    let events = tl["timeline"]["events"].as_array().expect("events");
    assert_eq!(events[0]["fields"]["msg_type"], "DISCOVER");
    assert_eq!(events[0]["t"], 0.0);
    let last = events.last().and_then(|e| e["t"].as_f64()).expect("a time");
    assert!(last < 1.0, "the scenario's events end at {last} s");
}

#[test]
fn a_second_run_keeps_off_a_claimed_port_and_a_killed_runs_leftovers_are_put_back() {
    if skip_unless_root(
        "a_second_run_keeps_off_a_claimed_port_and_a_killed_runs_leftovers_are_put_back",
        "network namespaces and a veth",
    ) {
        return;
    }
    let seg = Segment::create("claim");
    seg.set_forwarding(true);
    let before = seg.infra_addrs();
    let waiting = |out: &str, boot_wait: &str| {
        seg.command(
            &seg.lab_args(
                &["scenarios/option242/httpsrvr.toml"],
                &["--reboot", "none", "--boot-wait", boot_wait, "--out", out],
            ),
            "",
        )
    };
    let first_out = seg.scratch.0.join("out-first").display().to_string();
    let mut first = waiting(&first_out, "120")
        .spawn()
        .expect("start the first run");
    seg.await_lab_addr("10.66.0.1/24");
    // A second run on the same port is refused: its DHCP server would answer the phone too.
    let out = waiting(&seg.out(), "1").output().expect("the second run");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!(
            "error: interface {} is in use by the phonecert run with pid {}",
            seg.infra_if,
            first.id()
        )),
        "{}",
        text(&out.stderr)
    );
    // The first run is killed outright: it cannot clean up after itself.
    first.kill().expect("SIGKILL");
    first.wait().expect("reap");
    assert!(seg.infra_addrs().iter().any(|a| a == "10.66.0.1/24"));
    assert_eq!(seg.forwarding(), "0");
    // The next run puts the port back as it was, then runs, then leaves it as it was.
    let out = waiting(&seg.scratch.0.join("out-next").display().to_string(), "1")
        .output()
        .expect("the next run");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!(
            "note: {} is put back as the killed run {} left it: removed 10.66.0.1/24, forwarding set back to 1",
            seg.infra_if,
            first.id()
        )),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(seg.infra_addrs(), before);
    assert_eq!(seg.forwarding(), "1");
}
