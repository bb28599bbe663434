//! `phonecert script eval`, `phonecert lint` and `phonecert option242 explain` as an
//! administrator runs them: what they print as text and JSON, exit codes, and bad input.

use std::path::Path;

use crate::common::*;

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

fn write(dir: &Path, name: &str, body: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write fixture");
    path.to_str().expect("utf-8 path").to_string()
}

const OPTION: &str = "TLSSRVR=198.51.100.7,HTTPSRVR=\"198.51.100.7,198.51.100.8\",HTTPDIR=fw,\
HTTPPORT=99999,NOSUCH=1,SIP_CONTROLLER_LIST=198.51.100.9:5060;transport=tcp,HTTPDIR=phones,BAD";

#[test]
fn option242_explain_names_each_pair_the_urls_and_the_controllers() {
    let out = phonecert(&["option242", "explain", OPTION]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for want in [
        "@58   HTTPDIR=fw",
        "ignored: replaced by the pair at offset 145",
        "HTTPPORT=99999",
        "ignored: invalid value \"99999\" for HTTPPORT: out of range 1–65535",
        "ignored: unknown parameter name \"NOSUCH\"",
        "@160  no '=' in \"BAD\"",
        "file servers, in the order the phone tries them:\n  https://198.51.100.7/\n  http://198.51.100.7/phones/\n  http://198.51.100.8/phones/\n",
        "SIP controllers, in priority order:\n  198.51.100.9:5060;transport=tcp\n",
    ] {
        assert!(shown.contains(want), "{want:?} missing from:\n{shown}");
    }

    let out = phonecert(&["option242", "explain", OPTION, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["schema"], "phonecert.option242-explain/1");
    let outcomes: Vec<&str> = v["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .map(|p| p["outcome"].as_str().expect("outcome"))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            "applied",
            "applied",
            "overridden",
            "refused",
            "refused",
            "applied",
            "applied"
        ]
    );
    assert_eq!(v["pairs"][3]["code"], "invalid-value");
    assert_eq!(v["pairs"][4]["code"], "unknown-name");
    assert_eq!(v["pairs"][2]["overridden_by"], 145);
    assert_eq!(v["findings"][0]["offset"], 160);
    assert_eq!(v["findings"][0]["malformed_pair"], true);
    assert_eq!(v["file_servers"][0]["url"], "https://198.51.100.7/");
    assert_eq!(v["file_servers"][2]["scheme"], "http");
    assert_eq!(v["controllers"][0]["transport"], "tcp");
    assert_eq!(v["controllers"][0]["port"], 5060);

    let h323 = phonecert(&[
        "option242",
        "explain",
        "MCIPADD=\"203.0.113.4,203.0.113.5\",SIP_CONTROLLER_LIST=203.0.113.6",
    ]);
    let shown = text(&h323.stdout);
    assert!(shown.contains("MCIPADD=203.0.113.4,203.0.113.5  ignored: an H.323 phone's parameter, not a SIP phone's"), "{shown}");
    assert!(
        shown.contains("SIP controllers, in priority order:\n  203.0.113.6:5061;transport=tls\n"),
        "{shown}"
    );
    assert!(shown.contains("H.323 call servers (MCIPADD), which a SIP phone does not use:\n  203.0.113.4\n  203.0.113.5\n"), "{shown}");

    let nothing = phonecert(&["option242", "explain", "NOSUCH=1"]);
    assert_eq!(nothing.status.code(), Some(0));
    assert!(text(&nothing.stdout).contains("none (no HTTPSRVR or TLSSRVR"));
    assert_eq!(phonecert(&["option242", "explain"]).status.code(), Some(2));
}

const UPGRADE: &str = "\
## upgrade script
IF $MODEL4 SEQ 9608 GOTO R7
IF $MODEL4 SEQ 9620 GOTO R2
GOTO END
# R2
SET APPNAME S96x0_SALBR2_6_1_0.bin
GET 46xxsettings.txt
# R7
SET APPNAME S96x1_SALBR7_0_0_0.bin
GET 96x1settings.txt
GET 46xxsettings.txt
# END
";

const SETTINGS: &str = "\
SET SIPDOMAIN example.lab
SET HTTPPORT 99999
IF $GROUP SEQ 5 GOTO FIVE
GOTO END
# FIVE
SET REGISTERWAIT 120
# END
SET LANGUAGES lang_one.xml
";

#[test]
fn script_eval_prints_fetches_settings_with_their_lines_and_what_was_ignored() {
    let s = Scratch::new("script-eval");
    let up = write(&s.0, "96xxupgrade.txt", UPGRADE.as_bytes());
    let sub = s.0.join("site");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let set = write(&sub, "46xxsettings.txt", SETTINGS.as_bytes());

    let out = phonecert(&["script", "eval", &up, &set, "--model", "9620"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for want in [
        "phone: MODEL4=9620 MODEL=9620D01A GROUP=0",
        "(unknown: MACADDR BOOTNAME HWVERS APPNAME)",
        "1  96xxupgrade.txt         upgrade script\n",
        "2  S96x0_SALBR2_6_1_0.bin  application (APPNAME at",
        &format!("3  46xxsettings.txt        GET at {up}:7"),
        "4  lang_one.xml            language file named by LANGUAGES — not given, would be fetched",
        &format!("SIPDOMAIN  example.lab             {set}:1"),
        "HTTPPORT=80",
        &format!("{set}:2: SET HTTPPORT 99999: refused: invalid value"),
        &format!("{set}:6: SET REGISTERWAIT 120: not reached by this phone"),
        &format!("{up}:9: SET APPNAME S96x1_SALBR7_0_0_0.bin: not reached by this phone"),
    ] {
        assert!(shown.contains(want), "{want:?} missing from:\n{shown}");
    }

    // A 96x1 in group 5 whose application is current: another branch, another file.
    let out = phonecert(&[
        "script",
        "eval",
        &up,
        &set,
        "--model",
        "9608",
        "--group",
        "5",
        "--var",
        "APPNAME=S96x1_SALBR7_0_0_0.bin",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(v["schema"], "phonecert.script-eval/1");
    assert_eq!(v["phone"]["SHA2CAPABLE"], "1");
    assert_eq!(v["phone"]["BOOTNAME"], serde_json::Value::Null);
    let fetches: Vec<(&str, &str, bool, bool)> = v["fetches"]
        .as_array()
        .expect("fetches")
        .iter()
        .map(|f| {
            (
                f["file"].as_str().expect("file"),
                f["kind"].as_str().expect("kind"),
                f["given"].as_bool().expect("given"),
                f["requested"].as_bool().expect("requested"),
            )
        })
        .collect();
    assert_eq!(
        fetches,
        vec![
            (up.as_str(), "upgrade-script", true, true),
            ("S96x1_SALBR7_0_0_0.bin", "application", false, false),
            ("96x1settings.txt", "get", false, true),
            ("46xxsettings.txt", "get", true, true),
            ("lang_one.xml", "language", false, true),
        ]
    );
    assert_eq!(v["fetches"][1]["decision"], "already-running");
    assert_eq!(v["fetches"][2]["from"]["line"], 10);
    let rw = v["settings"]
        .as_array()
        .expect("settings")
        .iter()
        .find(|s| s["name"] == "REGISTERWAIT")
        .expect("REGISTERWAIT");
    assert_eq!((&rw["value"], &rw["line"]), (&"120".into(), &6.into()));
    assert_eq!(rw["source"], "settings-file");
    let codes: Vec<&str> = v["ignored"]
        .as_array()
        .expect("ignored")
        .iter()
        .map(|i| i["code"].as_str().expect("code"))
        .collect();
    assert_eq!(codes, vec!["not-reached", "invalid-value"]);
    assert!(v["trace"].as_array().is_some_and(|t| !t.is_empty()));
}

#[test]
fn script_eval_says_why_each_given_file_is_never_fetched() {
    let s = Scratch::new("script-eval-unfetched");
    let up = write(&s.0, "96xxupgrade.txt", UPGRADE.as_bytes());
    let set = write(&s.0, "46xxsettings.txt", SETTINGS.as_bytes());
    let r7 = write(&s.0, "96x1settings.txt", b"SET SIPDOMAIN r7.example.lab\n");
    let stray = write(&s.0, "notes.txt", b"## nothing names this file\n");

    // A 9620 finds 46xxsettings.txt and never comes back for the 96x1 file below it.
    let out = phonecert(&["script", "eval", &up, &set, &r7, &stray, "--model", "9620"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    let want = format!(
        "given but never fetched by this phone:\n  \
         96x1settings.txt: the GET at {up}:10 runs only if the GET of 46xxsettings.txt at {up}:7 fails; that file was found, and the phone does not come back from it\n  \
         notes.txt: no GET in the files given names it, nor TRUSTCERTS or LANGUAGES\n"
    );
    assert!(shown.ends_with(&want), "{want}\nat the end of:\n{shown}");

    // A model no branch names: the 9620's branch is not taken, and the script's own GOTO
    // takes it past the 96x1 file's GET, which the line before its label falls into.
    let out = phonecert(&[
        "script", "eval", &up, &set, &r7, "--model", "9630", "--format", "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(
        v["unfetched"],
        serde_json::json!(["46xxsettings.txt", "96x1settings.txt"])
    );
    let why = |i: usize| {
        let u = &v["unfetched_why"][i];
        (
            u["code"].as_str().unwrap_or_default().to_string(),
            u["named_at"]["line"].as_u64(),
            u["why"].as_str().unwrap_or_default().to_string(),
        )
    };
    assert_eq!(
        why(0),
        (
            "branch-not-taken".into(),
            Some(7),
            format!(
                "the GET at {up}:7 is under `# R2`, a branch this phone does not take: `IF $MODEL4 SEQ 9620 GOTO R2` at {up}:3 did not match ($MODEL4 is \"9630\")"
            )
        )
    );
    assert_eq!(
        why(1),
        (
            "jumped-over".into(),
            Some(10),
            format!("`GOTO END` at {up}:4 jumped over the GET at {up}:10")
        )
    );
    assert_eq!(v["unfetched_why"][0]["named_at"]["file"], up.as_str());
}

#[test]
fn script_eval_takes_a_parameter_var_as_held_before_the_script() {
    let s = Scratch::new("script-eval-param");
    let up = write(
        &s.0,
        "96xxupgrade.txt",
        b"IF $SIG SEQ 1 GOTO H323\nSET SIPDOMAIN sip.example.lab\nGOTO END\n# H323\nSET APPNAME ha96xxua3_00.bin\n# END\n",
    );
    let out = phonecert(&[
        "script",
        "eval",
        &up,
        "--model",
        "9620",
        "--var",
        "SIG=1",
        "--var",
        "L2QVLAN=12",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for want in [
        "L2QVLAN  12                --var, as from the site option",
        "SIG      1                 --var, as from the site option",
        &format!("{up}:2: SET SIPDOMAIN sip.example.lab: not reached by this phone"),
    ] {
        assert!(shown.contains(want), "{want:?} missing from:\n{shown}");
    }
    let out = phonecert(&["script", "eval", &up, "--model", "9620", "--format", "json"]);
    let v = json(&out);
    let sig = v["settings"]
        .as_array()
        .expect("settings")
        .iter()
        .find(|s| s["name"] == "SIG")
        .expect("SIG");
    assert_eq!(
        (&sig["value"], &sig["source"]),
        (&"0".into(), &"default".into())
    );
}

#[test]
fn script_eval_refuses_bad_usage_naming_what_is_wrong() {
    let s = Scratch::new("script-eval-usage");
    let up = write(&s.0, "96xxupgrade.txt", UPGRADE.as_bytes());
    let a = write(&s.0, "46xxsettings.txt", b"SET L2Q 1\n");
    std::fs::create_dir_all(s.0.join("b")).expect("mkdir");
    let b = write(&s.0.join("b"), "46xxsettings.txt", b"SET L2Q 2\n");
    for (args, want) in [
        (
            vec![up.as_str(), "--model", "9999"],
            "unknown model \"9999\"",
        ),
        (
            vec![up.as_str(), "--model", "9620", "--group", "1000"],
            "out of range 0–999",
        ),
        (
            vec![up.as_str(), "--model", "9620", "--var", "FOO=1"],
            "--var \"FOO=1\"",
        ),
        (
            vec![up.as_str(), "--model", "9620", "--var", "L2QVLAN=5000"],
            "--var \"L2QVLAN=5000\": invalid value",
        ),
        (
            vec![up.as_str(), "--model", "9620", "--var", "REGISTERWAIT=60"],
            "cannot be set from the site option",
        ),
        (
            vec![up.as_str(), &a, &b, "--model", "9620"],
            "the same file name",
        ),
        (
            vec!["/nonexistent/96xxupgrade.txt", "--model", "9620"],
            "cannot read /nonexistent/96xxupgrade.txt",
        ),
    ] {
        let mut all = vec!["script", "eval"];
        all.extend(args);
        let out = phonecert(&all);
        assert_eq!(out.status.code(), Some(2), "{all:?}");
        assert!(
            text(&out.stderr).contains(want),
            "{want:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn lint_reports_what_a_phone_ignores_with_exit_1_and_clean_files_exit_0() {
    let s = Scratch::new("lint");
    let bad = write(
        &s.0,
        "46xxsettings.txt",
        "\u{feff}SET SIPDOMAIN example.lab\nSET NOSUCH 1\nSET DIALPLAN “1xxx”\nSET SIP_CONTROLLER_LIST\n  192.0.2.5\n# SET GROUP 4\nGOTO END\nSET L2Q 1\n# END\n"
            .as_bytes(),
    );
    let out = phonecert(&["lint", &bad]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    let tags: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            let (head, _) = l.split_once(": ")?;
            let (_, line) = head.rsplit_once(':')?;
            let code = l.rsplit_once('[')?.1.trim_end_matches(']');
            Some(format!("{line} {code}"))
        })
        .collect();
    assert_eq!(
        tags,
        vec![
            "1 byte-order-mark",
            "2 unknown-name",
            "3 curly-quote",
            "4 split-set",
            "6 label-shadows-statement",
            "8 unreachable",
        ],
        "{lines:?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("5 error(s), 1 warning(s) in 1 file(s)")
    );

    let out = phonecert(&["lint", &bad, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["schema"], "phonecert.lint/1");
    assert_eq!((&v["errors"], &v["warnings"]), (&5.into(), &1.into()));
    let f = &v["files"][0]["findings"][5];
    assert_eq!(
        (&f["line"], &f["severity"], &f["code"]),
        (&8.into(), &"warning".into(), &"unreachable".into())
    );

    let clean = write(
        &s.0,
        "clean.txt",
        b"## settings\nSET SIPDOMAIN example.lab\r\nGOTO END\n# END\n",
    );
    let warn_only = write(&s.0, "warn.txt", b"GOTO END\nSET L2Q 1\n# END\n");
    let out = phonecert(&["lint", &clean, &warn_only]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).ends_with("0 error(s), 1 warning(s) in 2 file(s)\n"));

    let out = phonecert(&["lint", "/nonexistent/46xxsettings.txt"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/46xxsettings.txt"));
    assert_eq!(phonecert(&["lint"]).status.code(), Some(2));
}

#[test]
fn lint_and_eval_turn_binary_huge_and_long_line_files_into_findings() {
    let s = Scratch::new("lint-bad-input");
    let mut binary = b"SET SIPDOMAIN example.lab\nSET L2Q 1\n".to_vec();
    binary.extend_from_slice(&[0x7f, b'E', b'L', b'F', 0, 0, 1, b'\n']);
    let binary = write(&s.0, "binary.txt", &binary);
    let huge = write(&s.0, "huge.txt", "SET L2Q 1\n".repeat(120_000).as_bytes());
    let long = write(
        &s.0,
        "long.txt",
        format!(
            "SET L2Q 1\nSET DIALPLAN {}\nSET SIPDOMAIN example.lab\n",
            "9".repeat(100 * 1024)
        )
        .as_bytes(),
    );
    let out = phonecert(&["lint", &binary, &huge, &long]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for want in [
        format!(
            "{binary}:3: error: binary data (a NUL byte at offset 40): the whole file is ignored [binary]"
        ),
        format!(
            "{huge}:104858: error: file is 1200000 bytes, over the 1048576-byte limit from this line on: the whole file is ignored [file-too-large]"
        ),
        format!(
            "{long}:2: error: line of 102413 bytes, over the 4096-byte limit: ignored [line-too-long]"
        ),
    ] {
        assert!(shown.contains(&want), "{want:?} missing from:\n{shown}");
    }
    assert!(
        shown.ends_with("3 error(s), 0 warning(s) in 3 file(s)\n"),
        "{shown}"
    );

    // The phone keeps what it had: nothing of the binary file is in force.
    let up = write(&s.0, "up.txt", b"GET binary.txt\n");
    let out = phonecert(&[
        "script", "eval", &up, &binary, "--model", "9620", "--format", "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    assert!(
        v["settings"]
            .as_array()
            .expect("settings")
            .iter()
            .all(|s| s["file"].is_null())
    );
    assert_eq!(v["ignored"][0]["code"], "binary");
    assert_eq!(v["ignored"][0]["line"], 3);
}

const VENDOR: &str = "provisioning/tests/fixtures/vendor-style";

#[test]
fn lint_over_every_vendor_style_fixture_exits_as_its_findings_say() {
    for (site, files, code, errors, warnings) in [
        (
            "campus",
            &["96xxupgrade.txt", "46xxsettings.txt"][..],
            0,
            0,
            0,
        ),
        (
            "branch",
            &["96x1Supgrade.txt", "46xxsettings.txt", "46xxbranch.txt"][..],
            1,
            12,
            1,
        ),
        (
            "hospital",
            &["96xxupgrade.txt", "46xxsettings.txt"][..],
            0,
            0,
            2,
        ),
    ] {
        let paths: Vec<String> = files
            .iter()
            .map(|f| format!("{VENDOR}/{site}/{f}"))
            .collect();
        let mut args = vec!["lint", "--format", "json"];
        args.extend(paths.iter().map(String::as_str));
        let out = phonecert(&args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{site}: {}",
            text(&out.stdout)
        );
        let v = json(&out);
        assert_eq!(
            (&v["errors"], &v["warnings"]),
            (&errors.into(), &warnings.into()),
            "{site}"
        );
        assert_eq!(v["files"].as_array().map(Vec::len), Some(files.len()));
    }
    let out = phonecert(&["lint", &format!("{VENDOR}/branch/46xxsettings.txt")]);
    let shown = text(&out.stdout);
    for want in [
        format!(
            "{VENDOR}/branch/46xxsettings.txt:201: error: SET SIP_CONTROLLER_LIST is split over two lines: line 202 is a comment to a phone, so this SET is ignored [split-set]"
        ),
        format!(
            "{VENDOR}/branch/46xxsettings.txt:214: error: no label \"MODEL_9641\" in this file: the jump ends the file [missing-label]"
        ),
    ] {
        assert!(shown.contains(&want), "{want:?} missing from:\n{shown}");
    }
}

#[test]
fn script_eval_over_every_vendor_style_fixture() {
    for (site, upgrade, others, args, want_fetches, want_setting) in [
        (
            "campus",
            "96xxupgrade.txt",
            &["46xxsettings.txt"][..],
            &["--model", "9620", "--var", "BOOTNAME=hb96xxua2_00.bin"][..],
            &[
                "96xxupgrade.txt",
                "hb96xxua3_00.bin",
                "46xxsettings.txt",
                "campus_root_ca.pem",
                "Mlf_S96x0_Campus_French.xml",
                "Mlf_S96x0_Campus_German.xml",
            ][..],
            ("L2QVLAN", "110", "46xxsettings.txt", 226),
        ),
        (
            "branch",
            "96x1Supgrade.txt",
            &["46xxsettings.txt", "46xxbranch.txt"][..],
            &["--model", "9611", "--group", "7"][..],
            &[
                "96x1Supgrade.txt",
                "S96x1_SALBR7_1_2_0.bin",
                "46xxsettings.txt",
                "46xxbranch.txt",
                "Mlf_96x1_Branch_Spanish.xml",
                "Mlf_96x1_Branch_Dutch.xml",
            ][..],
            ("SIMULTANEOUS_REGISTRATIONS", "1", "46xxbranch.txt", 62),
        ),
        (
            "hospital",
            "96xxupgrade.txt",
            &["46xxsettings.txt"][..],
            &[
                "--model",
                "9611",
                "--group",
                "20",
                "--var",
                "MODEL=9611D02A",
            ][..],
            &[
                "96xxupgrade.txt",
                "S96x1_SALBR7_0_0_0.bin",
                "46xxsettings.txt",
                "hospital_root_ca.pem",
                "Mlf_96x1_Hospital_Polish.xml",
                "Mlf_96x1_Hospital_Arabic.xml",
            ][..],
            ("L2QVLAN", "220", "46xxsettings.txt", 197),
        ),
    ] {
        let up = format!("{VENDOR}/{site}/{upgrade}");
        let paths: Vec<String> = others
            .iter()
            .map(|f| format!("{VENDOR}/{site}/{f}"))
            .collect();
        let mut all = vec!["script", "eval", up.as_str()];
        all.extend(paths.iter().map(String::as_str));
        all.extend(args);
        all.extend(["--format", "json"]);
        let out = phonecert(&all);
        assert_eq!(out.status.code(), Some(0), "{site}: {}", text(&out.stderr));
        let v = json(&out);
        let fetches: Vec<&str> = v["fetches"]
            .as_array()
            .expect("fetches")
            .iter()
            .map(|f| f["file"].as_str().expect("file"))
            .collect();
        let mut want: Vec<String> = want_fetches.iter().map(|f| f.to_string()).collect();
        want[0] = up.clone();
        assert_eq!(fetches, want, "{site}");
        let (name, value, file, line) = want_setting;
        let s = v["settings"]
            .as_array()
            .expect("settings")
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{site}: {name}"));
        assert_eq!(s["value"], value, "{site}");
        assert_eq!(s["file"], format!("{VENDOR}/{site}/{file}"), "{site}");
        assert_eq!(s["line"], line, "{site}");

        // The same as text: one line per fetch, the setting with its file:line.
        all.truncate(all.len() - 2);
        let shown = text(&phonecert(&all).stdout);
        assert!(
            shown.contains(&format!("{VENDOR}/{site}/{file}:{line}")),
            "{shown}"
        );
    }
}

#[test]
fn every_scenario_fixture_script_lints_and_evaluates_without_a_usage_error() {
    let mut folders = Vec::new();
    for family in std::fs::read_dir(root().join("scenarios")).expect("scenarios") {
        let fixtures = family.expect("entry").path().join("fixtures");
        if fixtures.is_dir() {
            folders.push(fixtures);
        }
    }
    let mut seen = 0;
    for folder in folders {
        let mut txt: Vec<String> = std::fs::read_dir(&folder)
            .expect("fixtures")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .map(|p| p.to_str().expect("utf-8").to_string())
            .collect();
        txt.sort();
        for file in &txt {
            seen += 1;
            let out = phonecert(&["lint", file, "--format", "json"]);
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{file}: {}",
                text(&out.stderr)
            );
            let lines = std::fs::read(file)
                .expect("read")
                .split(|b| *b == b'\n')
                .count();
            for f in json(&out)["files"][0]["findings"]
                .as_array()
                .expect("findings")
            {
                let line = f["line"].as_u64().expect("line") as usize;
                assert!(
                    (1..=lines).contains(&line),
                    "{file}: finding on line {line}"
                );
            }
        }
        // Each upgrade script of the folder with every file beside it, for a 9620.
        for up in txt.iter().filter(|f| f.contains("upgrade")) {
            let settings: Vec<&str> = txt
                .iter()
                .filter(|f| !f.contains("upgrade"))
                .map(String::as_str)
                .collect();
            let mut args = vec!["script", "eval", up.as_str()];
            args.extend(settings);
            args.extend(["--model", "9620", "--format", "json"]);
            let out = phonecert(&args);
            assert_eq!(out.status.code(), Some(0), "{up}: {}", text(&out.stderr));
            assert_eq!(json(&out)["fetches"][0]["file"], up.as_str());
        }
    }
    assert!(seen >= 20, "only {seen} fixture scripts found");
}
