//! The provisioning language over vendor-style fixtures: upgrade scripts and settings files
//! of a few hundred lines with the structure administrators meet (banner comments, MODEL4
//! and MODEL ladders, GROUP branches, padded columns, commented-out SETs, GOTO END), written
//! for this suite. For each: what every line is to a phone (lint, exactly), and for several
//! phones what they fetch in order and which settings end up in force from which line.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use provisioning::eval::{
    self, AppDecision, At, Evaluation, FetchKind, IgnoredWhy, Origin, UnfetchedWhy,
};
use provisioning::model;
use provisioning::script::{self, PhoneVars, Script, Severity, Statement};

fn dir(site: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/vendor-style")
        .join(site)
}

fn load(site: &str, name: &str) -> Script {
    let bytes = std::fs::read(dir(site).join(name)).unwrap();
    script::parse_bytes(name, &bytes)
}

/// `(line, code)` of every lint finding of one file.
fn lint(site: &str, name: &str) -> Vec<(usize, &'static str)> {
    load(site, name)
        .lint()
        .iter()
        .map(|(n, i)| (*n, i.code()))
        .collect()
}

fn phone(model4: &str, group: u16, vars: &[(&str, &str)]) -> PhoneVars {
    let mut v = model::find(model4).unwrap().vars(group);
    for (name, value) in vars {
        let slot = match *name {
            "MODEL" => &mut v.model,
            "BOOTNAME" => &mut v.bootname,
            "APPNAME" => &mut v.appname,
            "SHA2CAPABLE" => &mut v.sha2capable,
            other => panic!("no variable {other} in this test"),
        };
        *slot = value.to_string();
    }
    v
}

fn run(site: &str, upgrade: &str, others: &[&str], vars: PhoneVars) -> Evaluation {
    let files: BTreeMap<String, Script> = others
        .iter()
        .map(|n| (n.to_string(), load(site, n)))
        .collect();
    eval::evaluate(vars, load(site, upgrade), &files)
}

/// The files asked for, in order (an application that already runs is not asked for).
fn fetched(e: &Evaluation) -> Vec<&str> {
    e.fetches
        .iter()
        .filter(|f| f.requested())
        .map(|f| f.file.as_str())
        .collect()
}

/// A setting in force and where it came from: `(value, "file:line")` or `(value, "default")`.
fn setting(e: &Evaluation, name: &str) -> (String, String) {
    let s = e
        .settings
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} not in force"));
    let at = match &s.origin {
        Origin::Default => "default".to_string(),
        Origin::Line { file, line } => format!("{file}:{line}"),
        Origin::Given(source) => source.to_string(),
    };
    (s.value.clone(), at)
}

fn pair(value: &str, at: &str) -> (String, String) {
    (value.to_string(), at.to_string())
}

#[test]
fn every_fixture_is_read_to_its_last_line_without_a_refused_file() {
    for (site, files) in [
        ("campus", &["96xxupgrade.txt", "46xxsettings.txt"][..]),
        (
            "branch",
            &["96x1Supgrade.txt", "46xxsettings.txt", "46xxbranch.txt"][..],
        ),
        ("hospital", &["96xxupgrade.txt", "46xxsettings.txt"][..]),
    ] {
        for name in files {
            let bytes = std::fs::read(dir(site).join(name)).unwrap();
            let lines = bytes.iter().filter(|b| **b == b'\n').count();
            let least = if *name == "46xxbranch.txt" { 60 } else { 200 };
            assert!(lines >= least, "{site}/{name}: {lines} lines");
            let s = script::parse_bytes(name, &bytes);
            assert!(!s.lines.is_empty(), "{site}/{name} has statements");
            assert!(
                s.lines.last().unwrap().number <= lines,
                "{site}/{name}: line numbers stay inside the file"
            );
        }
    }
}

#[test]
fn campus_lints_clean() {
    assert_eq!(lint("campus", "96xxupgrade.txt"), vec![]);
    assert_eq!(lint("campus", "46xxsettings.txt"), vec![]);
}

#[test]
fn campus_96x0_takes_the_boot_code_first_then_the_application() {
    let files = ["46xxsettings.txt"];
    let old = run(
        "campus",
        "96xxupgrade.txt",
        &files,
        phone("9620", 0, &[("BOOTNAME", "hb96xxua2_00.bin")]),
    );
    assert_eq!(
        fetched(&old),
        vec![
            "96xxupgrade.txt",
            "hb96xxua3_00.bin",
            "46xxsettings.txt",
            "campus_root_ca.pem",
            "Mlf_S96x0_Campus_French.xml",
            "Mlf_S96x0_Campus_German.xml"
        ]
    );
    assert_eq!(
        old.fetches[1].kind,
        FetchKind::Application {
            set_at: Some(("96xxupgrade.txt".into(), 75)),
            boot_code: true,
            decision: AppDecision::Differs
        }
    );
    let current = run(
        "campus",
        "96xxupgrade.txt",
        &files,
        phone(
            "9620",
            0,
            &[
                ("BOOTNAME", "hb96xxua3_00.bin"),
                ("APPNAME", "S96x0_SALBR2_6_1_0.bin"),
            ],
        ),
    );
    assert_eq!(current.fetches[1].file, "S96x0_SALBR2_6_1_0.bin");
    assert!(!current.fetches[1].requested(), "already running");
    for e in [&old, &current] {
        assert_eq!(
            setting(e, "SIPDOMAIN"),
            pair("example.lab", "46xxsettings.txt:51")
        );
        assert_eq!(
            setting(e, "SIP_CONTROLLER_LIST"),
            pair(
                "192.0.2.20:5061;transport=tls,192.0.2.21:5061;transport=tls",
                "46xxsettings.txt:60"
            )
        );
        assert_eq!(
            setting(e, "REGISTERWAIT"),
            pair("600", "46xxsettings.txt:83")
        );
        assert_eq!(setting(e, "L2QVLAN"), pair("110", "46xxsettings.txt:226"));
        assert_eq!(setting(e, "HTTPPORT"), pair("80", "default"));
    }
}

#[test]
fn campus_sha2_phones_groups_and_unknown_models() {
    let files = ["46xxsettings.txt"];
    let sha2 = run(
        "campus",
        "96xxupgrade.txt",
        &files,
        phone("9650", 1, &[("SHA2CAPABLE", "1")]),
    );
    assert_eq!(fetched(&sha2)[1], "S96x0_SALBR2_6_1_0_sha2.bin");
    assert_eq!(
        setting(&sha2, "REGISTERWAIT"),
        pair("300", "46xxsettings.txt:262")
    );
    assert_eq!(
        setting(&sha2, "SIP_CONTROLLER_LIST").1,
        "46xxsettings.txt:263"
    );
    assert_eq!(
        setting(&sha2, "FAST_RESPONSE_TIMEOUT"),
        pair("2", "46xxsettings.txt:264")
    );

    let lobby = run("campus", "96xxupgrade.txt", &files, phone("9641", 90, &[]));
    assert_eq!(
        fetched(&lobby),
        vec![
            "96xxupgrade.txt",
            "S96x1_SALBR6_7_5_0.bin",
            "46xxsettings.txt",
            "campus_root_ca.pem",
            "Mlf_96x1_Campus_French.xml"
        ]
    );
    assert_eq!(
        setting(&lobby, "PHY2STAT"),
        pair("0", "46xxsettings.txt:276")
    );
    assert_eq!(
        setting(&lobby, "DIALPLAN"),
        pair("[2-7]xxx", "46xxsettings.txt:277")
    );
    assert!(
        lobby.ignored.iter().any(|i| i.file == "46xxsettings.txt"
            && i.line == 269
            && i.why == IgnoredWhy::NotReached)
    );

    let stranger = PhoneVars {
        model4: "9999".into(),
        ..PhoneVars::default()
    };
    let e = run("campus", "96xxupgrade.txt", &files, stranger);
    assert_eq!(fetched(&e), vec!["96xxupgrade.txt"]);
    assert_eq!(e.unfetched.len(), 1);
    assert_eq!(e.unfetched[0].file, "46xxsettings.txt");
    // No branch matched: the script's own `GOTO END` took the phone past the GET.
    assert_eq!(
        e.unfetched[0].why,
        UnfetchedWhy::JumpedOver {
            get: At {
                file: "96xxupgrade.txt".into(),
                line: 107
            },
            jump: At {
                file: "96xxupgrade.txt".into(),
                line: 51
            },
            statement: Statement::Goto {
                label: "END".into()
            }
        }
    );
}

#[test]
fn branch_lints_every_mistake_at_its_line() {
    assert_eq!(
        lint("branch", "96x1Supgrade.txt"),
        vec![(103, "unreachable")]
    );
    assert_eq!(
        lint("branch", "46xxsettings.txt"),
        vec![
            (1, "byte-order-mark"),
            (193, "unknown-name"),
            (195, "invalid-value"),
            (197, "invalid-value"),
            (199, "curly-quote"),
            (201, "split-set"),
            (204, "label-shadows-statement"),
            (206, "name-too-long"),
            (208, "value-too-long"),
            (210, "indented-statement"),
            (212, "extra-text"),
            (214, "missing-label"),
        ]
    );
    assert_eq!(lint("branch", "46xxbranch.txt"), vec![]);
    let severities: Vec<Severity> = load("branch", "46xxsettings.txt")
        .lint()
        .iter()
        .map(|(_, i)| i.severity())
        .collect();
    assert!(severities.iter().all(|s| *s == Severity::Error));
}

#[test]
fn branch_phones_chain_into_the_branch_file_unless_a_jump_ends_the_common_one() {
    let files = ["46xxsettings.txt", "46xxbranch.txt"];
    let reception = run("branch", "96x1Supgrade.txt", &files, phone("9611", 7, &[]));
    assert_eq!(
        fetched(&reception),
        vec![
            "96x1Supgrade.txt",
            "S96x1_SALBR7_1_2_0.bin",
            "46xxsettings.txt",
            "46xxbranch.txt",
            "Mlf_96x1_Branch_Spanish.xml",
            "Mlf_96x1_Branch_Dutch.xml"
        ]
    );
    assert_eq!(
        reception.fetches[3].kind,
        FetchKind::Get {
            file: "46xxsettings.txt".into(),
            line: 228
        }
    );
    // Line 1 survives the byte order mark; the refused values keep what came before.
    assert_eq!(
        setting(&reception, "SIPDOMAIN"),
        pair("branch.example.lab", "46xxsettings.txt:17")
    );
    assert_eq!(
        setting(&reception, "REGISTERWAIT"),
        pair("1800", "46xxsettings.txt:49")
    );
    assert_eq!(setting(&reception, "HTTPPORT"), pair("80", "default"));
    // The curly quotes are read as part of the value.
    assert_eq!(
        setting(&reception, "DIALPLAN"),
        pair("\u{201c}[2-7]xxx|9xxxxxxx\u{201d}", "46xxsettings.txt:199")
    );
    assert_eq!(
        setting(&reception, "SIP_CONTROLLER_LIST"),
        pair(
            "192.0.2.117:5061;transport=tls,192.0.2.20:5061;transport=tls",
            "46xxbranch.txt:61"
        )
    );
    assert_eq!(
        setting(&reception, "L2QVLAN"),
        pair("317", "46xxbranch.txt:38")
    );

    // A 9641 jumps to a label the common file lacks: no languages, no branch file.
    let d02a = run(
        "branch",
        "96x1Supgrade.txt",
        &files,
        phone("9641", 0, &[("MODEL", "9641D02A")]),
    );
    assert_eq!(
        fetched(&d02a),
        vec![
            "96x1Supgrade.txt",
            "S96x1_SALBR7_1_2_0_sha2.bin",
            "46xxsettings.txt"
        ]
    );
    assert_eq!(d02a.unfetched.len(), 1);
    assert_eq!(d02a.unfetched[0].file, "46xxbranch.txt");
    assert_eq!(
        d02a.unfetched[0].why,
        UnfetchedWhy::FileEnded {
            get: At {
                file: "46xxsettings.txt".into(),
                line: 228
            },
            jump: At {
                file: "46xxsettings.txt".into(),
                line: 214
            },
            label: "MODEL_9641".into()
        }
    );
    assert!(d02a.ignored.iter().any(|i| i.line == 214
        && i.why
            == IgnoredWhy::MissingLabel {
                label: "MODEL_9641".into()
            }));
    assert_eq!(setting(&d02a, "L2QVLAN"), pair("0", "default"));

    // A D02A that cannot check SHA-2 is left alone: no application, no settings.
    let stuck = run(
        "branch",
        "96x1Supgrade.txt",
        &files,
        phone("9608", 0, &[("MODEL", "9608D02A"), ("SHA2CAPABLE", "0")]),
    );
    assert_eq!(fetched(&stuck), vec!["96x1Supgrade.txt"]);
}

#[test]
fn hospital_lints_its_warnings_only_and_crlf_changes_nothing() {
    assert_eq!(lint("hospital", "96xxupgrade.txt"), vec![]);
    assert_eq!(
        lint("hospital", "46xxsettings.txt"),
        vec![(206, "unreachable"), (225, "duplicate-label")]
    );
    let bytes = std::fs::read(dir("hospital").join("46xxsettings.txt")).unwrap();
    assert!(
        bytes.windows(2).any(|w| w == b"\r\n"),
        "the fixture is CRLF"
    );
    let lf = String::from_utf8(bytes).unwrap().replace("\r\n", "\n");
    let crlf = load("hospital", "46xxsettings.txt");
    assert_eq!(script::parse("46xxsettings.txt", &lf).lines, crlf.lines);
}

#[test]
fn hospital_full_model_names_and_group_ladders() {
    let files = ["46xxsettings.txt"];
    let desk = run(
        "hospital",
        "96xxupgrade.txt",
        &files,
        phone("9620", 0, &[("MODEL", "9620D02A")]),
    );
    assert_eq!(
        fetched(&desk),
        vec![
            "96xxupgrade.txt",
            "S96x0_SALBR2_6_1_0.bin",
            "46xxsettings.txt",
            "hospital_root_ca.pem",
            "Mlf_S96x0_Hospital_Polish.xml"
        ]
    );
    assert_eq!(
        setting(&desk, "APPNAME"),
        pair("S96x0_SALBR2_6_1_0.bin", "96xxupgrade.txt:43")
    );
    assert_eq!(
        setting(&desk, "L2QVLAN"),
        pair("230", "46xxsettings.txt:203")
    );

    let older = run("hospital", "96xxupgrade.txt", &files, phone("9620", 0, &[]));
    assert_eq!(fetched(&older)[1], "S96x0_SALBR2_6_0_0.bin");

    let ward = run(
        "hospital",
        "96xxupgrade.txt",
        &files,
        phone("9608", 12, &[]),
    );
    assert_eq!(
        setting(&ward, "L2QVLAN"),
        pair("210", "46xxsettings.txt:192")
    );
    assert_eq!(
        setting(&ward, "DIALPLAN"),
        pair("[1-8]xxxx|112", "46xxsettings.txt:193")
    );
    assert_eq!(
        setting(&ward, "LANGUAGES"),
        pair(
            "Mlf_96x1_Hospital_Polish.xml,Mlf_96x1_Hospital_Arabic.xml",
            "46xxsettings.txt:223"
        )
    );

    let theatre = run(
        "hospital",
        "96xxupgrade.txt",
        &files,
        phone("9611", 20, &[("MODEL", "9611D02A")]),
    );
    assert_eq!(fetched(&theatre)[1], "S96x1_SALBR7_0_0_0.bin");
    assert_eq!(
        setting(&theatre, "SIMULTANEOUS_REGISTRATIONS"),
        pair("2", "46xxsettings.txt:199")
    );
    assert_eq!(
        setting(&theatre, "VLANTEST"),
        pair("15", "46xxsettings.txt:210")
    );

    // A model the ladder does not name goes to GOTO END.
    let other = run("hospital", "96xxupgrade.txt", &files, phone("9641", 0, &[]));
    assert_eq!(fetched(&other), vec!["96xxupgrade.txt"]);
}
