//! `phonecert serve` from the outside: the servers of one scenario for phones started by
//! someone else (here the reference phone, run by hand as an admin would), stopped with
//! Ctrl-C, then a verdict per phone in the run folder. As root the servers run in the netns
//! lab and each phone in a namespace of its own, bridged to the lab's phone end (what an admin
//! does to put several phones on it); otherwise in the loopback lab, each phone on its own
//! leased 127.77.0.x address.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// Registers with the second controller; both phones use its one account.
const SCENARIO: &str = "scenarios/option242/sip-controller-list.toml";
const A: &str = "00:1b:4f:42:00:01";
const B: &str = "00:1b:4f:42:00:02";

/// A `phonecert serve` running in the background, its ready line read.
struct Serve {
    child: Child,
    ready: Value,
    stdout: BufReader<std::process::ChildStdout>,
    waited: bool,
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        Serve::started(spawn_phonecert(args))
    }

    /// `phonecert ARGS` inside namespace `ns` (`ip netns exec` execs it: the pid is serve's).
    fn start_in(ns: &str, args: &[&str]) -> Serve {
        use std::os::unix::process::CommandExt;
        let child = Command::new("ip")
            .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_phonecert")])
            .args(args)
            .process_group(0)
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start phonecert in its namespace");
        Serve::started(child)
    }

    fn started(mut child: Child) -> Serve {
        let mut stdout = BufReader::new(child.stdout.take().expect("serve's stdout"));
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            let _ = tx.send(line);
            stdout
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("serve printed no ready line within 60 s");
            }
        };
        let stdout = reader.join().expect("the reader thread");
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = s.read_to_string(&mut err);
            }
            panic!("the ready line is not JSON ({e}): {line:?}\n{err}")
        });
        assert_eq!(ready["event"], "ready", "{ready}");
        Serve {
            child,
            ready,
            stdout,
            waited: false,
        }
    }

    /// Ctrl-C (SIGINT to serve itself), then its exit code, the rest of its stdout and its
    /// stderr.
    fn interrupt(self) -> (Option<i32>, String, String) {
        self.sigint();
        self.finish()
    }

    fn sigint(&self) {
        // SAFETY: kill(2) on the child this test started and has not waited for yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGINT);
        }
    }

    fn finish(mut self) -> (Option<i32>, String, String) {
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        let mut err = String::new();
        if let Some(mut s) = self.child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        let status = self.child.wait().expect("wait for serve");
        self.waited = true;
        (status.code(), rest, err)
    }
}

impl Drop for Serve {
    /// A test that failed half-way still stops its serve, which removes its namespaces.
    fn drop(&mut self) {
        if !self.waited {
            self.sigint();
            let _ = self.child.wait();
        }
    }
}

/// A reference phone started by hand against `serve`, in the place its lab offers; its
/// namespace (netns lab) goes when it is dropped.
struct Phone {
    child: Child,
    log: PathBuf,
    ns: Option<String>,
}

impl Phone {
    /// Boots the phone with `mac` and the scenario's account and firmware (so it does not
    /// upgrade and reboot first).
    fn boot(ready: &Value, mac: &str, n: usize, dir: &Path) -> Phone {
        let log = dir.join(format!("phone-{n}.log"));
        let phone_args = [
            "--mac",
            mac,
            "--firmware",
            "S96x0_SALBR2_6_1_0.bin",
            "--user",
            "4204",
            "--password",
            "lab-4204",
            "--log",
            log.to_str().expect("utf-8 path"),
        ];
        let simphone = env!("CARGO_BIN_EXE_simphone");
        let (mut cmd, ns) = match (ready["netns"].as_object(), ready["phone_on"].as_array()) {
            // A segment of the test's own (the iface lab): the phone on its far end.
            (_, Some(place)) => {
                let ns = place[0].as_str().expect("namespace");
                let iface = place[1].as_str().expect("interface");
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, simphone, "--iface", iface]);
                (cmd, None)
            }
            (Some(lab), None) => {
                let lab_ns = lab["phone"].as_str().expect("phone namespace");
                let ns = bridge_in(lab_ns, lab["phone_iface"].as_str().expect("veth"), n);
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", &ns, simphone, "--iface", &format!("p{n}")]);
                (cmd, Some(ns))
            }
            (None, None) => {
                let mut cmd = Command::new(simphone);
                cmd.args(["--dhcp-server", ready["dhcp"].as_str().expect("dhcp")]);
                (cmd, None)
            }
        };
        let child = cmd
            .args(phone_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start simphone");
        Phone { child, log, ns }
    }

    /// Whether the phone's log has the milestone yet.
    fn reached(&self, milestone: &str) -> bool {
        std::fs::read_to_string(&self.log)
            .is_ok_and(|l| l.contains(&format!("\"milestone\":\"{milestone}\"")))
    }

    fn wait_for(&self, milestone: &str, limit: Duration) {
        let start = Instant::now();
        while !self.reached(milestone) {
            assert!(
                start.elapsed() < limit,
                "the phone did not reach `{milestone}` within {limit:?}; its log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(ns) = &self.ns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        text(&out.stderr)
    );
}

/// Puts phone `n` on the lab: a namespace of its own whose veth `p<n>` is bridged, in the
/// lab's phone namespace, with the lab's veth end (`br0`, made for the first phone).
fn bridge_in(lab_ns: &str, lab_veth: &str, n: usize) -> String {
    let ns = format!("pcserve-{:x}-{n}", std::process::id());
    let bridged = Command::new("ip")
        .args(["-n", lab_ns, "link", "show", "br0"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !bridged {
        ip(&["-n", lab_ns, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", lab_ns, "link", "set", lab_veth, "master", "br0"]);
        ip(&["-n", lab_ns, "link", "set", "br0", "up"]);
    }
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    ip(&["netns", "add", &ns]);
    let (p, b) = (format!("p{n}"), format!("b{n}"));
    ip(&[
        "link", "add", &p, "netns", &ns, "type", "veth", "peer", "name", &b, "netns", lab_ns,
    ]);
    ip(&["-n", lab_ns, "link", "set", &b, "master", "br0"]);
    ip(&["-n", lab_ns, "link", "set", &b, "up"]);
    ip(&["-n", &ns, "link", "set", &p, "up"]);
    ns
}

fn lab() -> &'static str {
    if is_root() {
        "netns"
    } else {
        eprintln!("note: not root: `phonecert serve` is tested in the loopback lab only");
        "loopback"
    }
}

fn report_of(run: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(run.join("report.json")).expect("report.json"))
        .expect("report.json is JSON")
}

/// The per-phone entries of a report: id → verdict.
fn verdicts(report: &Value) -> Vec<(String, String)> {
    report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_string(),
                s["verdict"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The DHCP events of `mac` in the saved session timeline: (kind, message type).
fn dhcp_of(run: &Path, mac: &str) -> Vec<(String, String)> {
    let saved: Value = serde_json::from_slice(
        &std::fs::read(run.join("timelines/session.json")).expect("the session's timeline"),
    )
    .expect("JSON");
    saved["timeline"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["proto"] == "dhcp" && e["fields"]["client_mac"] == mac)
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or("?").to_string(),
                e["fields"]["msg_type"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Only the MAC given is answered and judged: A registers and passes; B is heard, never
/// answered, and named in the report; the folder verifies and judges again on its own.
#[test]
fn serve_answers_and_judges_the_listed_phone_and_names_the_one_it_ignored() {
    let s = Scratch::new("serve-listed");
    let out = s.0.to_str().expect("utf-8");
    let lab = lab();
    let serve = Serve::start(&[
        "serve",
        SCENARIO,
        "--lab",
        lab,
        "--dut-mac",
        A,
        "--out",
        out,
    ]);
    assert_eq!(serve.ready["answers"][0], A, "{}", serve.ready);
    assert_eq!(serve.ready["lab"], lab);
    assert_eq!(serve.ready["sip"].as_array().map(Vec::len), Some(2));
    let b = Phone::boot(&serve.ready, B, 2, &s.0);
    let a = Phone::boot(&serve.ready, A, 1, &s.0);
    a.wait_for("registered", Duration::from_secs(40));
    b.wait_for("dhcp-client", Duration::from_secs(10));
    // B asks at least twice before the stop (its DISCOVER retransmits after 4 s).
    std::thread::sleep(Duration::from_secs(5));
    let (code, stdout, stderr) = serve.interrupt();
    drop((a, b));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let run = run_dir(&s.0);
    let report = report_of(&run);
    assert_eq!(
        verdicts(&report),
        vec![(
            "OPT242-004@00-1b-4f-42-00-01".to_string(),
            "pass".to_string()
        )],
        "{stderr}"
    );
    let phone = &report["scenarios"][0];
    assert_eq!(phone["checks"].as_array().map(Vec::len), Some(3));
    assert_eq!(phone["ignored_clients"][0]["mac"], B, "{phone}");
    assert!(phone["ignored_clients"][0]["requests"].as_u64() >= Some(2));
    assert_eq!(report["dut"]["kind"], "bench");
    assert!(
        report.get("warnings").is_none(),
        "no warning without --any-mac"
    );
    // B is in the session timeline: heard, never answered.
    let of_b = dhcp_of(&run, B);
    assert!(of_b.len() >= 2, "{of_b:?}");
    assert!(of_b.iter().all(|(kind, _)| kind == "ignored"), "{of_b:?}");
    let of_a = dhcp_of(&run, A);
    assert!(of_a.contains(&("sent".into(), "ACK".into())), "{of_a:?}");
    assert!(
        stderr.contains("not answered: ") && stderr.contains(B),
        "{stderr}"
    );
    let stopped: Value = serde_json::from_str(stdout.trim()).expect("the stopped line");
    assert_eq!(stopped["event"], "stopped");
    assert_eq!(stopped["ignored_clients"][0]["mac"], B);
    for f in [
        "junit.xml",
        "index.html",
        "compliance.json",
        "compliance.html",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let capture = s.0.join(phone["capture"].as_str().expect("capture"));
    assert!(capture.is_file(), "{}", capture.display());
    let run_arg = run.to_str().expect("utf-8");
    let verify = phonecert(&["verify", run_arg]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stdout));
    let judged = phonecert(&["judge", run_arg]);
    assert_eq!(
        judged.status.code(),
        Some(0),
        "{}{}",
        text(&judged.stdout),
        text(&judged.stderr)
    );
    assert!(text(&judged.stdout).contains("OPT242-004@00-1b-4f-42-00-01"));
}

/// `--any-mac` answers both phones, judges each under its own MAC, and warns on stderr and
/// in the report.
#[test]
fn serve_any_mac_answers_every_phone_judges_each_and_warns() {
    let s = Scratch::new("serve-any");
    let out = s.0.to_str().expect("utf-8");
    let serve = Serve::start(&["serve", SCENARIO, "--lab", lab(), "--any-mac", "--out", out]);
    assert_eq!(serve.ready["any_mac"], true);
    let a = Phone::boot(&serve.ready, A, 1, &s.0);
    let b = Phone::boot(&serve.ready, B, 2, &s.0);
    a.wait_for("registered", Duration::from_secs(40));
    b.wait_for("registered", Duration::from_secs(40));
    let (code, stdout, stderr) = serve.interrupt();
    drop((a, b));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("WARNING: --any-mac"), "{stderr}");
    let run = run_dir(&s.0);
    let report = report_of(&run);
    let mut got = verdicts(&report);
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "OPT242-004@00-1b-4f-42-00-01".to_string(),
                "pass".to_string()
            ),
            (
                "OPT242-004@00-1b-4f-42-00-02".to_string(),
                "pass".to_string()
            ),
        ]
    );
    assert!(
        report["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("--any-mac")),
        "{}",
        report["warnings"]
    );
    let index = std::fs::read_to_string(run.join("index.html")).expect("index.html");
    assert!(index.contains("--any-mac"), "the HTML report warns too");
    // A merge of the run keeps its warning, naming the run.
    let merged_root = s.0.join("merged");
    let merged = phonecert(&[
        "merge",
        run.to_str().expect("utf-8"),
        "--out",
        merged_root.to_str().expect("utf-8"),
    ]);
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged.stderr));
    let merged_report = report_of(&run_dir(&merged_root));
    let rid = report["run_id"].as_str().expect("run id");
    assert!(
        merged_report["warnings"][0]
            .as_str()
            .is_some_and(|w| w.starts_with(&format!("run {rid}: --any-mac"))),
        "{}",
        merged_report["warnings"]
    );
    // Each phone's timeline holds its own lease only.
    for (mac, other) in [(A, B), (B, A)] {
        let name = format!("OPT242-004@{}.json", mac.replace(':', "-"));
        let saved = std::fs::read_to_string(run.join("timelines").join(name)).expect("timeline");
        assert!(saved.contains(mac) && !saved.contains(other), "{mac}");
    }
}

/// `--duration` stops serve by itself; a listed phone that never asked is an error (exit 3),
/// with the reason.
#[test]
fn serve_stops_after_its_duration_and_a_phone_that_never_came_is_an_error() {
    let s = Scratch::new("serve-duration");
    let out = s.0.to_str().expect("utf-8");
    let started = Instant::now();
    let serve = Serve::start(&[
        "serve",
        SCENARIO,
        "--lab",
        "loopback",
        "--dut-mac",
        A,
        "--duration",
        "1",
        "--out",
        out,
    ]);
    assert_eq!(serve.ready["duration_s"], 1.0);
    let (code, stdout, stderr) = serve.finish();
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(code, Some(3), "{stdout}\n{stderr}");
    let report = report_of(&run_dir(&s.0));
    assert_eq!(report["scenarios"][0]["verdict"], "error");
    assert!(
        report["scenarios"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("sent no DHCP message")),
        "{}",
        report["scenarios"][0]
    );
}

#[test]
fn serve_refuses_bad_usage_before_anything_runs() {
    let s = Scratch::new("serve-usage");
    let out = s.0.to_str().expect("utf-8");
    for (args, says) in [
        (vec!["serve", SCENARIO, "--lab", "loopback"], "--dut-mac"),
        (
            vec![
                "serve",
                SCENARIO,
                "--lab",
                "loopback",
                "--dut-mac",
                A,
                "--any-mac",
            ],
            "cannot be used with",
        ),
        (
            vec!["serve", SCENARIO, "--lab", "loopback", "--dut-mac", "nope"],
            "not a MAC address",
        ),
        (
            vec![
                "serve",
                "scenarios/option242",
                "--lab",
                "loopback",
                "--any-mac",
            ],
            "runs one scenario",
        ),
        (
            vec![
                "serve",
                SCENARIO,
                "--lab",
                "loopback",
                "--any-mac",
                "--duration",
                "0",
            ],
            "--duration",
        ),
        (
            vec![
                "serve",
                "scenarios/option242/l2qvlan-fallback.toml",
                "--lab",
                "loopback",
                "--any-mac",
            ],
            "needs a lab with a link",
        ),
    ] {
        let mut args = args;
        args.extend(["--out", out]);
        let o = phonecert(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(says),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
    assert!(!s.0.join("reports").exists(), "nothing was written");
}

/// A load generator in the lab's phone namespace reaches the DHCP server (perfdhcp relays:
/// its address on the phone's veth end is the relay's), `--any-mac` leases to each of its
/// clients and `--duration` stops serve cleanly. The report is bounded: the first 16 clients
/// heard are judged, each with a full timeline and its own annotated capture; every client
/// has a summary whose counts add up to what the load generator saw.
#[test]
fn serve_in_netns_takes_a_perfdhcp_load_and_bounds_its_report() {
    if skip_unless_root(
        "serve_in_netns_takes_a_perfdhcp_load_and_bounds_its_report",
        "the netns lab",
    ) {
        return;
    }
    if !have_tool("perfdhcp") {
        eprintln!("skipped: perfdhcp (Debian kea-admin) is missing; the load test did NOT run");
        return;
    }
    let s = Scratch::new("serve-perfdhcp");
    let out = s.0.to_str().expect("utf-8");
    let serve = Serve::start(&[
        "serve",
        "scenarios/option242/httpsrvr.toml",
        "--lab",
        "netns",
        "--any-mac",
        "--duration",
        "8",
        "--out",
        out,
    ]);
    let ns = serve.ready["netns"]["phone"]
        .as_str()
        .expect("phone namespace");
    let veth = serve.ready["netns"]["phone_iface"].as_str().expect("veth");
    ip(&["-n", ns, "addr", "add", "10.66.0.50/24", "dev", veth]);
    // 80 clients (-R), 40 exchanges a second, 3 s.
    let load = Command::new("ip")
        .args(["netns", "exec", ns, "perfdhcp", "-4", "-l", veth])
        .args(["-R", "80", "-r", "40", "-p", "3"])
        .output()
        .expect("run perfdhcp");
    let report_text = text(&load.stdout);
    let (code, stdout, stderr) = serve.finish();
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let acks = report_text
        .split("***Statistics for: REQUEST-ACK***")
        .nth(1)
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("received packets: ")))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0);
    assert!(
        acks >= 65,
        "perfdhcp got {acks} ACK(s):\n{report_text}{}",
        text(&load.stderr)
    );
    let run = run_dir(&s.0);
    let report = report_of(&run);
    let phones = report["scenarios"].as_array().expect("scenarios");
    assert_eq!(phones.len(), 16, "the first 16 clients heard are judged");
    let rid = report["run_id"].as_str().unwrap_or("");
    for p in phones {
        // perfdhcp fetches no upgrade script: each client fails the scenario's one check.
        assert_eq!(p["verdict"], "fail", "{p}");
        let id = p["id"].as_str().unwrap_or("");
        assert_eq!(p["capture"], format!("captures/{rid}/{id}.pcapng"), "{p}");
    }
    let copies = std::fs::read_dir(s.0.join("captures").join(rid))
        .expect("captures")
        .count();
    assert_eq!(
        copies, 17,
        "the session's capture and a copy per judged phone"
    );
    let timelines = std::fs::read_dir(run.join("timelines"))
        .expect("timelines")
        .count();
    assert_eq!(
        timelines, 17,
        "the session's timeline and one per judged phone"
    );

    let clients = &report["clients"];
    assert_eq!(clients["judged_up_to"], 16, "{clients}");
    assert!(
        clients["note"]
            .as_str()
            .is_some_and(|n| n.contains("first 16")),
        "{clients}"
    );
    let listed = clients["clients"].as_array().expect("client summaries");
    assert!(listed.len() >= 65, "{} client(s) summarised", listed.len());
    let macs: std::collections::HashSet<&str> =
        listed.iter().filter_map(|c| c["mac"].as_str()).collect();
    assert_eq!(macs.len(), listed.len(), "one summary per MAC");
    let judged: Vec<String> = listed
        .iter()
        .filter(|c| c["judged"] == true)
        .filter_map(|c| c["mac"].as_str())
        .map(|m| format!("OPT242-001@{}", m.replace(':', "-")))
        .collect();
    let ids: Vec<&str> = phones.iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(
        judged, ids,
        "the judged clients are the results, in the order heard"
    );
    let count = |key: &str| listed.iter().filter_map(|c| c[key].as_u64()).sum::<u64>();
    assert!(
        count("acks") >= acks,
        "the server sent {} ACKs, perfdhcp received {acks}",
        count("acks")
    );
    assert!(count("dhcp_requests") >= 2 * acks, "{clients}");
    for c in listed {
        assert_eq!(c["answered"], true, "{c}");
        if c["acks"].as_u64().unwrap_or(0) > 0 {
            assert!(
                c["lease"]
                    .as_str()
                    .is_some_and(|l| l.starts_with("10.66.0.")),
                "{c}"
            );
        }
    }
    assert_eq!(
        clients["events"].as_u64(),
        Some(count("events")),
        "every event was a client's: {clients}"
    );
    let index = std::fs::read_to_string(run.join("index.html")).expect("index.html");
    assert!(
        index.contains("16 judged with a full timeline"),
        "the page says which clients are judged"
    );
}

/// Two namespaces joined by a veth pair, made by the test for the iface lab; removed (with
/// what runs in them) when dropped.
struct Segment {
    infra: String,
    phone: String,
}

impl Segment {
    fn create() -> Segment {
        let pid = std::process::id();
        let seg = Segment {
            infra: format!("pcserve-i-{pid:x}"),
            phone: format!("pcserve-p-{pid:x}"),
        };
        for ns in [&seg.infra, &seg.phone] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&[
            "link", "add", "lab0", "netns", &seg.infra, "type", "veth", "peer", "name", "phone0",
            "netns", &seg.phone,
        ]);
        ip(&["-n", &seg.infra, "link", "set", "lab0", "up"]);
        ip(&["-n", &seg.phone, "link", "set", "phone0", "up"]);
        seg
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        for ns in [&self.phone, &self.infra] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// On a lab port (`--lab iface:NAME`, here a veth end in a namespace of the test's own), serve
/// probes the segment, puts the lab address on the port, answers the phone, and takes the
/// address off again at the stop.
#[test]
fn serve_on_a_lab_port_answers_the_phone_and_puts_the_port_back() {
    if skip_unless_root(
        "serve_on_a_lab_port_answers_the_phone_and_puts_the_port_back",
        "the iface lab on a veth pair",
    ) {
        return;
    }
    let s = Scratch::new("serve-iface");
    let out = s.0.to_str().expect("utf-8");
    let seg = Segment::create();
    let mut serve = Serve::start_in(
        &seg.infra,
        &[
            "serve",
            SCENARIO,
            "--lab",
            "iface:lab0",
            "--dut-mac",
            A,
            "--out",
            out,
        ],
    );
    assert_eq!(serve.ready["lab"], "iface:lab0");
    assert_eq!(serve.ready["dhcp_iface"], "lab0");
    assert_eq!(serve.ready["server_ip"], "10.66.0.1");
    let addrs = Command::new("ip")
        .args(["-n", &seg.infra, "-4", "addr", "show", "lab0"])
        .output()
        .expect("ip addr");
    assert!(
        text(&addrs.stdout).contains("10.66.0.1/24"),
        "{}",
        text(&addrs.stdout)
    );
    serve.ready["phone_on"] = serde_json::json!([seg.phone, "phone0"]);
    let a = Phone::boot(&serve.ready, A, 1, &s.0);
    a.wait_for("registered", Duration::from_secs(40));
    let (code, stdout, stderr) = serve.interrupt();
    drop(a);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let report = report_of(&run_dir(&s.0));
    assert_eq!(report["lab"], "iface:lab0");
    assert_eq!(
        verdicts(&report),
        vec![(
            "OPT242-004@00-1b-4f-42-00-01".to_string(),
            "pass".to_string()
        )]
    );
    let addrs = Command::new("ip")
        .args(["-n", &seg.infra, "-4", "addr", "show", "lab0"])
        .output()
        .expect("ip addr");
    assert!(
        !text(&addrs.stdout).contains("10.66.0.1"),
        "{}",
        text(&addrs.stdout)
    );
}
