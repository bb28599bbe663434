//! `phonecert storm`: many reference phones booting at once against one lab — every phone
//! registered, the report's fields filled from what was measured, the capture read back; and
//! a pool smaller than the storm, whose extra phones are reported without a lease while the
//! others register.

use std::path::Path;

use crate::common::*;

/// The netns lab as root (its kernel capture is what counts drops), loopback otherwise.
fn lab() -> &'static str {
    if is_root() { "netns" } else { "loopback" }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("readable json")).expect("json")
}

fn output_text(out: &std::process::Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

#[test]
fn a_storm_of_twenty_phones_registers_every_phone_and_reports_what_it_measured() {
    let s = Scratch::new("storm-20");
    let out_dir = s.0.to_str().expect("utf-8");
    let (out, pid) = phonecert_with_pid(&[
        "storm",
        "--phones",
        "20",
        "--lab",
        lab(),
        "--out",
        out_dir,
        "--format",
        "json",
        "--timeout",
        "60",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(namespaces_of(pid).is_empty(), "the storm removed its lab");
    let printed: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is the JSON report");
    let run = run_dir(&s.0);
    let saved = json(&run.join("storm.json"));
    assert_eq!(printed, saved, "stdout and storm.json say the same");

    let r = &saved;
    assert_eq!(r["schema"], "phonecert.storm/1");
    assert_eq!(r["lab"], lab());
    assert_eq!(r["phones"], 20);
    assert_eq!(r["registered"], 20);
    assert_eq!(r["failures"], serde_json::json!([]));
    let all = r["time_to_all_registered_s"]
        .as_f64()
        .expect("every phone registered");
    let b = &r["boot_time"];
    let (min, median, p99, max) = (
        b["min_s"].as_f64().expect("min"),
        b["median_s"].as_f64().expect("median"),
        b["p99_s"].as_f64().expect("p99"),
        b["max_s"].as_f64().expect("max"),
    );
    assert!(
        0.0 < min && min <= median && median <= p99 && p99 <= max,
        "{b}"
    );
    assert_eq!(max, all, "the last phone to register ends the storm's boot");

    // Every phone: its own MAC, its own address, each step seen by the servers; in order
    // where one server saw both (each server stamps its own events, so a DHCPACK's stamp may
    // fall a moment after the phone's first GET).
    let phones = r["per_phone"].as_array().expect("per_phone");
    assert_eq!(phones.len(), 20);
    let mut macs = std::collections::BTreeSet::new();
    let mut addrs = std::collections::BTreeSet::new();
    for p in phones {
        macs.insert(p["mac"].as_str().expect("mac").to_string());
        addrs.insert(p["address"].as_str().expect("a leased address").to_string());
        let at = |k: &str| p[k].as_f64().unwrap_or_else(|| panic!("{k} in {p}"));
        assert!(at("discover_s") <= at("leased_s"), "{p}");
        assert!(at("first_get_s") > 0.0, "{p}");
        assert!(at("register_s") <= at("registered_s"), "{p}");
        assert_eq!(p["http_ok"], p["http_answers"], "{p}");
    }
    assert_eq!((macs.len(), addrs.len()), (20, 20));

    // The capture: frames counted by the capture layer and read back from the file.
    let c = &r["capture"];
    assert_eq!(c["drops"], 0);
    assert_eq!(c["how"], if is_root() { "kernel" } else { "synthesised" });
    let pcap = s.0.join(c["file"].as_str().expect("capture file"));
    let frames = read_pcapng(&pcap);
    assert_eq!(Some(frames.len() as u64), c["frames"].as_u64());
    let (udp, tcp) = ports(&frames);
    assert!(
        udp.iter().filter(|p| **p == (68, 67)).count() >= 40,
        "20 DISCOVERs and 20 REQUESTs"
    );
    assert!(tcp.iter().any(|p| p.1 == 80), "HTTP in the capture");
    assert!(udp.iter().any(|p| p.1 == 5060), "SIP in the capture");

    let m = &r["memory"];
    let peak = m["peak_rss_kib"].as_f64().expect("peak");
    assert!(peak > 0.0);
    assert_eq!(m["per_phone_kib"].as_f64(), Some(peak / 20.0));
}

#[test]
fn phones_beyond_the_pool_are_reported_without_a_lease_and_the_others_register() {
    let s = Scratch::new("storm-pool");
    let out = phonecert(&[
        "storm",
        "--phones",
        "12",
        "--pool-size",
        "8",
        "--lab",
        lab(),
        "--out",
        s.0.to_str().expect("utf-8"),
        "--timeout",
        "60",
    ]);
    let said = output_text(&out);
    let r = json(&run_dir(&s.0).join("storm.json"));
    assert_eq!(out.status.code(), Some(1), "{said}\n{r:#}");
    assert!(said.contains("registered: 8 of 12"), "{said}\n{r:#}");
    assert!(said.contains("failures: 4 (4 at dhcp)"), "{said}");
    assert_eq!(r["registered"], 8);
    assert_eq!(r["time_to_all_registered_s"], serde_json::Value::Null);
    let failures = r["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 4);
    for f in failures {
        assert_eq!(f["step"], "dhcp", "{f}");
        assert!(
            f["why"]
                .as_str()
                .is_some_and(|w| w.contains("pool exhausted")),
            "{f}"
        );
        // The line on the terminal names the phone and its MAC.
        let line = format!(
            "phone {} {}: dhcp: no lease",
            f["phone"],
            f["mac"].as_str().expect("mac")
        );
        assert!(said.contains(&line), "{line} in {said}");
    }
    // Every phone with a lease registered: the servers kept answering while others were
    // refused.
    for p in r["per_phone"].as_array().expect("per_phone") {
        assert_eq!(
            p["address"].is_string(),
            p["registered_s"].is_number(),
            "{p}"
        );
    }
}

#[test]
fn a_storm_refuses_what_it_cannot_run() {
    let s = Scratch::new("storm-refused");
    let out_dir = s.0.to_str().expect("utf-8");
    for (args, says) in [
        (vec!["--phones", "0"], "--phones must be between 1"),
        (
            vec!["--phones", "2", "--pool-size", "0"],
            "--pool-size must be between 1",
        ),
        (
            vec!["--phones", "2", "scenarios/downloads/https-first.toml"],
            "uses TLS",
        ),
        (
            vec!["--phones", "2", "scenarios/downloads/per-mac-folder.toml"],
            "${phone_mac}",
        ),
    ] {
        let mut argv = vec!["storm", "--lab", "loopback", "--out", out_dir];
        argv.extend(args.iter().copied());
        let out = phonecert(&argv);
        let said = output_text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert!(said.contains(says), "{args:?}: {said}");
    }
    assert!(
        !s.0.join("reports").exists(),
        "nothing is written for a refused storm"
    );
    let help = phonecert(&["--help"]);
    assert!(
        text(&help.stdout).contains("storm "),
        "phonecert --help lists storm"
    );
}

/// `phonecert ARGS` run from `dir` rather than the repository's root.
fn phonecert_in(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_phonecert"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run phonecert")
}

#[test]
fn outside_the_repository_a_storm_asks_for_its_scenario_and_says_where_it_wrote() {
    let s = Scratch::new("storm-elsewhere");
    // The default scenario is a path from the repository's root: elsewhere it is not
    // found, and the error says why and what to do.
    let out = phonecert_in(&s.0, &["storm", "--phones", "2", "--lab", "loopback"]);
    let said = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains(
            "no SCENARIO given, and the default scenarios/option242/httpsrvr.toml is not under"
        ) && said.contains("name the scenario file"),
        "{said}"
    );
    assert!(!s.0.join("reports").exists(), "nothing written: {said}");

    // Named, it runs from anywhere; the text says which clock its times are on and where
    // the report went.
    let scenario = root().join("scenarios/option242/httpsrvr.toml");
    let out = phonecert_in(
        &s.0,
        &[
            "storm",
            "--phones",
            "3",
            "--lab",
            "loopback",
            "--timeout",
            "60",
            scenario.to_str().expect("utf-8"),
        ],
    );
    let said = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("times: lab seconds (the wall clock); the phones' timers ran 10 times faster: phone seconds = lab seconds × 10"),
        "{said}"
    );
    let run = run_dir(&s.0);
    let id = run.file_name().expect("run id").to_str().expect("utf-8");
    let line = format!("reports: ./reports/{id} (storm.json, storm.txt)\n");
    assert!(said.ends_with(&line), "{line} at the end of {said}");
    let r = json(&run.join("storm.json"));
    assert_eq!(r["report_file"], format!("reports/{id}/storm.json"));
    assert!(s.0.join(r["report_file"].as_str().expect("path")).is_file());
}
