//! Every rule of domain.md "Script language", one test each, plus a realistic upgrade script.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::settings::Transport;

fn stmts(s: &Script) -> Vec<&Statement> {
    s.lines.iter().map(|l| &l.statement).collect()
}

fn set(name: &str, value: &str) -> Statement {
    Statement::Set {
        name: name.into(),
        value: value.into(),
    }
}

fn vars(model4: &str) -> PhoneVars {
    PhoneVars {
        model4: model4.into(),
        model: format!("{model4}D01A"),
        group: "0".into(),
        macaddr: "00:1b:4f:27:31:2a".into(),
        sig_in_use: "2".into(),
        ..PhoneVars::default()
    }
}

/// Run `main` with the given other files available; returns (settings, interpreter, GETs).
fn eval(v: PhoneVars, main: &str, files: &[(&str, &str)]) -> (Settings, Interpreter, Vec<String>) {
    let mut settings = Settings::new();
    let mut it = Interpreter::new(v);
    it.start(parse("main.txt", main));
    let mut gets = Vec::new();
    it.run(&mut settings, |f| {
        gets.push(f.to_string());
        files
            .iter()
            .find(|(n, _)| *n == f)
            .map(|(n, t)| parse(n, t))
    });
    (settings, it, gets)
}

fn effects(it: &Interpreter) -> Vec<&Effect> {
    it.trace().iter().map(|t| &t.effect).collect()
}

#[test]
fn only_keyword_lines_are_statements() {
    let s = parse(
        "f",
        "SET SIG 2\nGET a.txt\nIF $MODEL4 SEQ 9620 GOTO X\nGOTO X\n# X\n## comment\n#X\nSETTINGS are here\nrandom text\n\n",
    );
    assert_eq!(
        stmts(&s),
        vec![
            &set("SIG", "2"),
            &Statement::Get {
                file: "a.txt".into()
            },
            &Statement::If {
                var: "MODEL4".into(),
                value: "9620".into(),
                label: "X".into()
            },
            &Statement::Goto { label: "X".into() },
            &Statement::Label { name: "X".into() },
        ]
    );
    assert!(s.findings.is_empty(), "{:?}", s.findings);
    assert_eq!(
        s.lines.iter().map(|l| l.number).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
}

#[test]
fn keywords_are_case_insensitive() {
    let s = parse(
        "f",
        "goto END\nset sig 2\nGet x.txt\nif $model4 seq 9620 goto END\nGoTo END\n# END\n",
    );
    assert_eq!(s.lines.len(), 6);
    assert_eq!(
        s.lines[0].statement,
        Statement::Goto {
            label: "END".into()
        }
    );
    assert_eq!(s.lines[1].statement, set("sig", "2"));
    assert_eq!(
        s.lines[3].statement,
        Statement::If {
            var: "model4".into(),
            value: "9620".into(),
            label: "END".into()
        }
    );
}

#[test]
fn hash_without_space_is_a_comment_with_space_a_label() {
    let s = parse("f", "#TAG\n##TAG\n# TAG\n");
    assert_eq!(stmts(&s), vec![&Statement::Label { name: "TAG".into() }]);
    assert_eq!(s.lines[0].number, 3);
    // `GOTO TAG` reaches only the real label.
    let (st, _, _) = eval(
        vars("9620"),
        "GOTO TAG\n#TAG\nSET SIG 1\n# TAG\nSET L2Q 2\n",
        &[],
    );
    assert_eq!(st.get("SIG"), Some("0"));
    assert_eq!(st.get("L2Q"), Some("2"));
}

#[test]
fn crlf_and_lf_parse_alike() {
    let lf = parse("f", "SET HTTPDIR fw\nGOTO A\n# A\nGET b.txt\n");
    let crlf = parse("f", "SET HTTPDIR fw\r\nGOTO A\r\n# A\r\nGET b.txt\r\n");
    assert_eq!(lf, crlf);
    assert_eq!(crlf.lines[0].statement, set("HTTPDIR", "fw"));
}

#[test]
fn quoted_values_may_contain_spaces() {
    let s = parse(
        "f",
        "SET FORCE_SIP_USERNAME \"Lab User 1\"\nSET DIALPLAN \"\"\n",
    );
    assert_eq!(
        stmts(&s),
        vec![
            &set("FORCE_SIP_USERNAME", "Lab User 1"),
            &set("DIALPLAN", "")
        ]
    );
    let (st, _, _) = eval(vars("9620"), "SET FORCE_SIP_USERNAME \"Lab User 1\"\n", &[]);
    assert_eq!(st.get("FORCE_SIP_USERNAME"), Some("Lab User 1"));
}

#[test]
fn unquoted_value_ends_at_a_space() {
    let s = parse("f", "SET FORCE_SIP_USERNAME Lab User\n");
    assert_eq!(stmts(&s), vec![&set("FORCE_SIP_USERNAME", "Lab")]);
    assert_eq!(s.findings.len(), 1);
    assert!(
        s.findings[0].1.to_string().contains("\"User\""),
        "{:?}",
        s.findings
    );
}

#[test]
fn malformed_statements_are_findings() {
    let s = parse(
        "f",
        "SET HTTPDIR\nSET HTTPDIR \"fw\nIF MODEL4 SEQ 9620 GOTO A\nIF $MODEL4 SNE 9620 GOTO A\nIF $MODEL4 SEQ 9620\nGET \n  SET SIG 2\nGOTO\n# A\n",
    );
    assert_eq!(stmts(&s), vec![&Statement::Label { name: "A".into() }]);
    let lines: Vec<usize> = s.findings.iter().map(|(n, _)| *n).collect();
    assert_eq!(lines, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(s.findings[1].1.to_string().contains("unterminated"));
    assert!(s.findings[3].1.to_string().contains("SEQ"));
    assert!(s.findings[6].1.to_string().contains("indented"));
}

#[test]
fn lint_findings_for_missing_and_duplicate_labels() {
    let s = parse("f", "GOTO NOWHERE\n# A\n# a\n");
    assert_eq!(s.findings.len(), 2);
    assert_eq!(s.findings[0].0, 1);
    assert_eq!(s.findings[1].0, 3);
}

#[test]
fn set_applies_as_settings_file() {
    let (st, it, _) = eval(vars("9620"), "SET HTTPDIR fw/new\nSET httpport 8080\n", &[]);
    assert_eq!(st.http_dir(), "fw/new");
    assert_eq!(st.http_port(), 8080);
    assert_eq!(st.source_of("HTTPDIR"), Some(Source::SettingsFile));
    assert_eq!(
        effects(&it)[1],
        &Effect::Set {
            name: "HTTPPORT".into(),
            value: "8080".into()
        }
    );
}

#[test]
fn empty_quotes_reset_to_default() {
    let (st, _, _) = eval(
        vars("9620"),
        "SET HTTPPORT 8080\nSET HTTPPORT \"\"\nSET HTTPDIR fw\nSET HTTPDIR \"\"\n",
        &[],
    );
    assert_eq!(st.http_port(), 80);
    assert_eq!(st.get("HTTPDIR"), None);
}

#[test]
fn invalid_values_are_ignored() {
    let (st, it, _) = eval(
        vars("9620"),
        "SET HTTPPORT 8080\nSET HTTPPORT 99999\nSET NOSUCH 1\nSET L2QVLAN 12\n",
        &[],
    );
    assert_eq!(st.http_port(), 8080);
    assert_eq!(st.get("L2QVLAN"), Some("12"));
    assert!(matches!(
        effects(&it)[1],
        Effect::Rejected {
            why: Rejected::InvalidValue { .. },
            ..
        }
    ));
    assert!(matches!(
        effects(&it)[2],
        Effect::Rejected {
            why: Rejected::UnknownName(_),
            ..
        }
    ));
}

#[test]
fn get_success_does_not_return() {
    let (st, it, gets) = eval(
        vars("9620"),
        "SET HTTPDIR a\nGET next.txt\nSET HTTPDIR after\n",
        &[("next.txt", "SET SIPDOMAIN lab.test\n")],
    );
    assert_eq!(gets, vec!["next.txt"]);
    assert_eq!(st.http_dir(), "a");
    assert_eq!(st.sip_domain().as_deref(), Some("lab.test"));
    let last = it.trace().last().unwrap();
    assert_eq!(
        (last.file.as_str(), &last.effect),
        ("next.txt", &Effect::EndOfFile)
    );
}

#[test]
fn get_failure_continues_with_the_next_line() {
    let (st, it, gets) = eval(vars("9620"), "GET missing.txt\nSET HTTPDIR after\n", &[]);
    assert_eq!(gets, vec!["missing.txt"]);
    assert_eq!(st.http_dir(), "after");
    assert_eq!(
        effects(&it)[1],
        &Effect::FetchFailed {
            file: "missing.txt".into()
        }
    );
}

#[test]
fn sans_io_steps() {
    let mut st = Settings::new();
    let mut it = Interpreter::new(vars("9620"));
    it.start(parse("up.txt", "SET L2Q 1\nGET s.txt\nSET L2Q 2\n"));
    assert_eq!(
        it.next(&mut st),
        Step::Get {
            file: "s.txt".into(),
            from_line: 2
        }
    );
    assert_eq!(st.get("L2Q"), Some("1"));
    it.fetched(None);
    assert_eq!(it.next(&mut st), Step::Done);
    assert_eq!(st.get("L2Q"), Some("2"));
    assert_eq!(it.next(&mut st), Step::Done);
    // A GET left unanswered counts as failed.
    it.start(parse("up.txt", "GET s.txt\nSET L2Q 0\n"));
    assert!(matches!(it.next(&mut st), Step::Get { .. }));
    assert_eq!(it.next(&mut st), Step::Done);
    assert_eq!(st.get("L2Q"), Some("0"));
    // A result with no GET pending is ignored.
    it.fetched(Some(parse("x", "SET L2Q 1\n")));
    assert_eq!(it.next(&mut st), Step::Done);
    assert_eq!(st.get("L2Q"), Some("0"));
    assert_eq!(
        it.trace().last().unwrap().effect,
        Effect::UnexpectedFetchResult
    );
}

#[test]
fn missing_label_ends_the_file() {
    let (st, it, gets) = eval(
        vars("9620"),
        "SET L2Q 1\nGOTO NOWHERE\nSET L2Q 2\nGET s.txt\n",
        &[],
    );
    assert_eq!(st.get("L2Q"), Some("1"));
    assert!(gets.is_empty());
    assert_eq!(
        effects(&it).last().unwrap(),
        &&Effect::MissingLabel {
            label: "NOWHERE".into()
        }
    );
    // The same through a taken IF.
    let (st, _, _) = eval(
        vars("9620"),
        "IF $MODEL4 SEQ 9620 GOTO NOWHERE\nSET L2Q 2\n",
        &[],
    );
    assert_eq!(st.get("L2Q"), Some("0"));
}

#[test]
fn goto_continues_after_the_label_backwards_too() {
    let (st, _, _) = eval(
        vars("9620"),
        "GOTO B\n# A\nSET L2Q 2\nGOTO END\n# B\nSET L2Q 1\nGOTO A\n# END\n",
        &[],
    );
    assert_eq!(st.get("L2Q"), Some("2"));
}

#[test]
fn labels_match_case_insensitively() {
    let (st, _, _) = eval(vars("9620"), "goto getset\nSET L2Q 1\n# GETSET\n", &[]);
    assert_eq!(st.get("L2Q"), Some("0"));
}

#[test]
fn unknown_variable_is_a_no_op() {
    let (st, it, _) = eval(
        vars("9620"),
        "IF $NOSUCHVAR SEQ 1 GOTO SKIP\nSET L2Q 1\n# SKIP\n",
        &[],
    );
    assert_eq!(st.get("L2Q"), Some("1"));
    assert_eq!(
        effects(&it)[0],
        &Effect::UnknownVariable {
            var: "NOSUCHVAR".into()
        }
    );
    // A phone variable the phone did not provide is unknown too.
    let (st, _, _) = eval(
        vars("9620"),
        "IF $VPNACTIVE SEQ \"\" GOTO SKIP\nSET L2Q 1\n# SKIP\n",
        &[],
    );
    assert_eq!(st.get("L2Q"), Some("1"));
}

#[test]
fn seq_is_case_insensitive_equality() {
    let mut v = vars("9620");
    v.model = "9620D01A".into();
    let (st, _, _) = eval(
        v.clone(),
        "IF $MODEL SEQ 9620d01a GOTO Y\nSET L2Q 1\n# Y\n",
        &[],
    );
    assert_eq!(st.get("L2Q"), Some("0"));
    // Equality, not prefix.
    let (st, _, _) = eval(v, "IF $MODEL SEQ 9620 GOTO Y\nSET L2Q 1\n# Y\n", &[]);
    assert_eq!(st.get("L2Q"), Some("1"));
}

#[test]
fn settings_are_visible_as_variables() {
    let (st, _, _) = eval(
        vars("9620"),
        "SET SIPDOMAIN Lab.Test\nIF $SIPDOMAIN SEQ lab.test GOTO Y\nSET L2Q 1\n# Y\nIF $SIG SEQ 0 GOTO Z\nSET L2Q 2\n# Z\n",
        &[],
    );
    assert_eq!(st.get("L2Q"), Some("0"));
}

#[test]
fn appname_is_the_running_app_until_set() {
    let mut v = vars("9620");
    v.appname = "old.bin".into();
    let (st, _, _) = eval(
        v,
        "IF $APPNAME SEQ old.bin GOTO A\nSET L2Q 1\n# A\nSET APPNAME new.bin\nIF $APPNAME SEQ new.bin GOTO B\nSET L2Q 2\n# B\n",
        &[],
    );
    assert_eq!(st.get("L2Q"), Some("0"));
    assert_eq!(st.get("APPNAME"), Some("new.bin"));
}

#[test]
fn loop_guard_stops_a_goto_loop() {
    let mut st = Settings::new();
    let mut it = Interpreter::new(vars("9620")).with_statement_limit(50);
    it.start(parse("loop.txt", "# A\nSET L2Q 1\nGOTO A\n"));
    assert_eq!(it.next(&mut st), Step::Done);
    assert_eq!(
        it.trace().last().unwrap().effect,
        Effect::LoopGuard { executed: 50 }
    );
    assert_eq!(it.trace().len(), 51);
    // The default guard also ends a loop of GETs of the same file.
    let (_, it, gets) = eval(
        vars("9620"),
        "GET main.txt\n",
        &[("main.txt", "GET main.txt\n")],
    );
    assert_eq!(gets.len(), DEFAULT_STATEMENT_LIMIT);
    assert!(matches!(
        it.trace().last().unwrap().effect,
        Effect::LoopGuard { .. }
    ));
}

#[test]
fn trace_lines_read_well() {
    let (_, it, _) = eval(
        vars("9620"),
        "IF $MODEL4 SEQ 9620 GOTO A\n# A\nSET L2Q 9\n",
        &[],
    );
    let text: Vec<String> = it.trace().iter().map(ToString::to_string).collect();
    assert_eq!(
        text[0],
        "main.txt:1: IF $MODEL4 SEQ 9620 GOTO A → branch taken (value \"9620\") to A"
    );
    assert!(
        text[1].starts_with("main.txt:3: SET L2Q 9 → rejected L2Q=9: invalid value"),
        "{}",
        text[1]
    );
    assert_eq!(text[2], "main.txt:3: end of file");
}

const UPGRADE: &str = "\
############################################################\r
## 96xxupgrade.txt -- phonecert lab copy, modelled on Avaya's\r
## Skip H.323 phones, pick the SIP application per model, then\r
## load the settings file.\r
############################################################\r
##\r
IF $SIG SEQ 1 GOTO END\r
IF $SIG_IN_USE SEQ 1 GOTO END\r
#\r
IF $MODEL4 SEQ 9620 GOTO SIP96X0\r
IF $MODEL4 SEQ 9630 GOTO SIP96X0\r
IF $MODEL4 SEQ 9640 GOTO SIP96X0\r
IF $MODEL4 SEQ 9650 GOTO SIP96X0\r
if $model4 seq 9608 goto SIP96X1\r
IF $MODEL4 SEQ 9611 GOTO SIP96X1\r
goto GETSET\r
#\r
# SIP96X0\r
IF $APPNAME SEQ S96x0_SALBR2_6_1_0.bin GOTO GETSET\r
SET APPNAME S96x0_SALBR2_6_1_0.bin\r
goto GETSET\r
#\r
# SIP96X1\r
IF $APPNAME SEQ S96x1_SALBR7_1_15_0_4.bin GOTO GETSET\r
SET APPNAME S96x1_SALBR7_1_15_0_4.bin\r
#\r
# GETSET\r
GET 46xxsettings.txt\r
##\r
# END\r
";

const SETTINGS: &str = "\
## 46xxsettings.txt -- lab\n\
SET SIPDOMAIN lab.test\n\
IF $MODEL4 SEQ 9608 GOTO SIP96X1\n\
SET SIP_CONTROLLER_LIST \"10.1.1.6:5060;transport=tcp,10.1.1.7:5060;transport=udp\"\n\
GOTO COMMON\n\
# SIP96X1\n\
SET SIP_CONTROLLER_LIST 10.1.1.8;transport=tls\n\
# COMMON\n\
SET FORCE_SIP_USERNAME \"Lab User\"\n\
SET REGISTERWAIT 3600\n\
SET NOSUCHPARAM 1\n\
SET HTTPPORT 99999\n\
GET 46xxlang.txt\n\
SET L2Q 2\n";

fn upgrade(model4: &str, running: &str, sig: Option<&str>) -> (Settings, Interpreter, Vec<String>) {
    let mut v = vars(model4);
    v.appname = running.into();
    let mut settings = Settings::new();
    if let Some(sig) = sig {
        settings.set("SIG", sig, Source::Manual).unwrap();
    }
    let mut it = Interpreter::new(v);
    it.start(parse("96xxupgrade.txt", UPGRADE));
    let mut gets = Vec::new();
    it.run(&mut settings, |f| {
        gets.push(f.to_string());
        (f == "46xxsettings.txt").then(|| parse(f, SETTINGS))
    });
    (settings, it, gets)
}

#[test]
fn upgrade_script_parses_cleanly() {
    let s = parse("96xxupgrade.txt", UPGRADE);
    assert!(s.findings.is_empty(), "{:?}", s.findings);
    assert_eq!(s.lines.len(), 19);
    assert!(parse("46xxsettings.txt", SETTINGS).findings.is_empty());
}

#[test]
fn upgrade_script_for_a_9620_running_old_firmware() {
    let (st, _, gets) = upgrade("9620", "S96x0_SALBR2_5_0_0.bin", None);
    assert_eq!(st.get("APPNAME"), Some("S96x0_SALBR2_6_1_0.bin"));
    assert_eq!(gets, vec!["46xxsettings.txt", "46xxlang.txt"]);
    let c = st.sip_controllers();
    assert_eq!(c.len(), 2);
    assert_eq!(
        (c[0].host.as_str(), c[0].port, c[0].transport),
        ("10.1.1.6", 5060, Transport::Tcp)
    );
    assert_eq!(c[1].transport, Transport::Udp);
    assert_eq!(st.sip_domain().as_deref(), Some("lab.test"));
    assert_eq!(st.get("FORCE_SIP_USERNAME"), Some("Lab User"));
    assert_eq!(st.get("REGISTERWAIT"), Some("3600"));
    assert_eq!(st.http_port(), 80);
    // The failed language file does not stop the settings file.
    assert_eq!(st.get("L2Q"), Some("2"));
}

#[test]
fn upgrade_script_for_a_9620_already_current() {
    let (st, it, gets) = upgrade("9620", "S96x0_SALBR2_6_1_0.bin", None);
    assert_eq!(st.get("APPNAME"), None);
    assert_eq!(gets, vec!["46xxsettings.txt", "46xxlang.txt"]);
    assert!(it.trace().iter().any(|t| t.line == 19
        && matches!(&t.effect, Effect::BranchTaken { label, .. } if label == "GETSET")));
}

#[test]
fn upgrade_script_for_a_9608() {
    let (st, _, gets) = upgrade("9608", "S96x1_SALBR6_0_0_0.bin", None);
    assert_eq!(st.get("APPNAME"), Some("S96x1_SALBR7_1_15_0_4.bin"));
    assert_eq!(gets, vec!["46xxsettings.txt", "46xxlang.txt"]);
    assert_eq!(
        st.sip_controllers(),
        vec![crate::SipControllerEntry {
            host: "10.1.1.8".into(),
            port: 5061,
            transport: Transport::Tls
        }]
    );
}

#[test]
fn upgrade_script_skips_h323_phones_and_unknown_models() {
    let (st, _, gets) = upgrade("9620", "x.bin", Some("1"));
    assert!(gets.is_empty());
    assert_eq!(st.get("APPNAME"), None);
    let (st, _, gets) = upgrade("1616", "x.bin", None);
    assert_eq!(st.get("APPNAME"), None);
    assert_eq!(gets[0], "46xxsettings.txt");
}

#[test]
fn names_and_values_over_the_limits_are_ignored() {
    let long_name = "N".repeat(31);
    let text = format!(
        "SET {long_name} 1\nSET DIALPLAN {}\nSET LANGUAGES {}\n",
        "x".repeat(256),
        "y".repeat(255)
    );
    let (st, it, _) = eval(vars("9620"), &text, &[]);
    assert!(matches!(
        effects(&it)[0],
        Effect::Rejected {
            why: Rejected::NameTooLong,
            ..
        }
    ));
    assert!(matches!(
        effects(&it)[1],
        Effect::Rejected {
            why: Rejected::ValueTooLong,
            ..
        }
    ));
    assert_eq!(st.get("DIALPLAN"), None);
    assert_eq!(st.get("LANGUAGES").map(str::len), Some(255));
}

#[test]
fn lint_adds_sets_a_phone_would_refuse() {
    let s = parse(
        "46xxsettings.txt",
        "SET HTTPPORT 99999\nSET MODEL4 9620\nSET SIPDOMAIN lab.test\nSET NOSUCH 1\nGOTO X\n",
    );
    let lint = s.lint();
    let lines: Vec<usize> = lint.iter().map(|(n, _)| *n).collect();
    assert_eq!(lines, vec![1, 2, 4, 5]);
    assert!(
        lint[0]
            .1
            .to_string()
            .starts_with("SET HTTPPORT would be ignored: invalid value"),
        "{}",
        lint[0].1
    );
    assert!(lint[1].1.to_string().contains("read-only"));
}

#[test]
fn labels_do_not_count_towards_the_loop_guard() {
    let mut st = Settings::new();
    let mut it = Interpreter::new(vars("9620")).with_statement_limit(2);
    it.start(parse("f", "# A\n# B\n# C\nSET L2Q 1\nSET L2Q 2\n"));
    assert_eq!(it.next(&mut st), Step::Done);
    assert_eq!(st.get("L2Q"), Some("2"));
    assert_eq!(it.trace().last().unwrap().effect, Effect::EndOfFile);
}

#[test]
fn a_byte_order_mark_is_dropped_with_a_finding_and_line_one_still_counts() {
    for text in [
        "\u{feff}SET SIPDOMAIN lab.test\nSET GROUP 1\n",
        "\u{feff}SET SIPDOMAIN lab.test\r\n",
    ] {
        let s = parse("46xxsettings.txt", text);
        assert_eq!(stmts(&s)[0], &set("SIPDOMAIN", "lab.test"));
        assert_eq!(s.lines[0].number, 1);
        assert!(
            s.findings
                .iter()
                .any(|(n, why)| *n == 1 && *why == FindingKind::ByteOrderMark),
            "{:?}",
            s.findings
        );
    }
    let bytes = [&[0xEF, 0xBB, 0xBF][..], b"SET SIPDOMAIN lab.test\n"].concat();
    assert_eq!(
        stmts(&parse_bytes("f", &bytes)),
        vec![&set("SIPDOMAIN", "lab.test")]
    );
}

#[test]
fn a_binary_file_is_refused_whole_with_the_line_of_its_first_nul() {
    let mut bytes = b"SET SIPDOMAIN lab.test\nSET GROUP 1\nxx".to_vec();
    bytes.extend_from_slice(&[0, 1, 2, 0xff, b'\n']);
    let s = parse_bytes("46xxsettings.txt", &bytes);
    assert!(s.lines.is_empty(), "no statement of a binary file runs");
    assert_eq!(s.findings.len(), 1);
    assert_eq!(s.findings[0].0, 3);
    assert!(
        s.findings[0].1.to_string().contains("binary"),
        "{:?}",
        s.findings
    );
    // Run it: the old values stay.
    let mut settings = Settings::new();
    settings
        .set("SIPDOMAIN", "old.test", Source::SettingsFile)
        .unwrap();
    let mut it = Interpreter::new(vars("9620"));
    it.start(s);
    it.run(&mut settings, |_| None);
    assert_eq!(settings.get("SIPDOMAIN"), Some("old.test"));
}

#[test]
fn a_file_over_one_mib_is_refused_whole_at_the_line_where_it_crosses() {
    let line = "SET SIPDOMAIN lab.test\n";
    let text = line.repeat(MAX_FILE_BYTES / line.len() + 10);
    let s = parse_bytes("big.txt", text.as_bytes());
    assert!(s.lines.is_empty());
    let crossing = MAX_FILE_BYTES / line.len() + 1;
    assert_eq!(s.findings, vec![(crossing, s.findings[0].1.clone())]);
    assert!(
        s.findings[0].1.to_string().contains("limit"),
        "{:?}",
        s.findings
    );
    // Exactly at the limit is still read.
    let at_limit = "##\n".repeat((MAX_FILE_BYTES - line.len()) / 3) + line;
    assert!(at_limit.len() <= MAX_FILE_BYTES);
    let ok = parse_bytes("ok.txt", at_limit.as_bytes());
    assert_eq!(ok.lines.len(), 1, "{:?}", ok.findings);
}

#[test]
fn a_line_of_100_kb_is_ignored_with_its_number_and_the_rest_applies() {
    let long = format!("SET SIPDOMAIN {}", "a".repeat(100 * 1024));
    let text = format!("SET GROUP 1\n{long}\nSET SIPDOMAIN lab.test\n");
    let s = parse_bytes("f", text.as_bytes());
    assert_eq!(
        stmts(&s),
        vec![&set("GROUP", "1"), &set("SIPDOMAIN", "lab.test")]
    );
    assert!(
        s.findings
            .iter()
            .any(|(n, why)| *n == 2 && matches!(why, FindingKind::LineTooLong { .. })),
        "{:?}",
        s.findings
    );
}

#[test]
fn invalid_utf8_is_read_lossily_with_a_finding_on_its_line() {
    let bytes = b"SET SIPDOMAIN lab.test\n## caf\xe9\nSET GROUP 2\n";
    let s = parse_bytes("f", bytes);
    assert_eq!(s.lines.len(), 2);
    assert!(
        s.findings
            .iter()
            .any(|(n, why)| *n == 2 && *why == FindingKind::InvalidUtf8)
    );
}

#[test]
fn hwvers_is_a_read_only_variable_scripts_can_test() {
    let mut v = vars("9620");
    v.hwvers = "9620D02A".into();
    let (_, it, gets) = eval(
        v,
        "IF $HWVERS SEQ 9620D02A GOTO NEW\nGET old.txt\n# NEW\nGET new.txt\n",
        &[],
    );
    assert_eq!(gets, vec!["new.txt"]);
    assert!(matches!(effects(&it)[0], Effect::BranchTaken { .. }));
    assert_eq!(
        Settings::new().set("HWVERS", "x", Source::SettingsFile),
        Err(Rejected::ReadOnly("HWVERS".into()))
    );
}

fn kinds(s: &Script) -> Vec<(usize, &FindingKind)> {
    s.findings.iter().map(|(n, k)| (*n, k)).collect()
}

#[test]
fn curly_quotes_on_a_statement_are_findings_and_stay_in_the_value() {
    let s = parse(
        "f",
        "## “quoted” in a comment is fine\nSET SIPDOMAIN “example.lab”\nSET DIALPLAN \"1xxx\"\n",
    );
    assert_eq!(
        kinds(&s),
        vec![(2, &FindingKind::CurlyQuote { quote: '\u{201c}' })]
    );
    assert_eq!(stmts(&s)[0], &set("SIPDOMAIN", "“example.lab”"));
    assert_eq!(
        FindingKind::CurlyQuote { quote: '“' }.severity(),
        Severity::Error
    );
}

#[test]
fn a_set_split_over_two_lines_is_named_with_both_lines() {
    let s = parse(
        "f",
        "SET SIP_CONTROLLER_LIST\n   192.0.2.5:5060;transport=tcp\nSET SIPDOMAIN \"example\nlab\"\nSET GROUP\n## end\n",
    );
    assert_eq!(
        kinds(&s),
        vec![
            (
                1,
                &FindingKind::SplitSet {
                    name: "SIP_CONTROLLER_LIST".into(),
                    next: 2
                }
            ),
            (
                3,
                &FindingKind::SplitSet {
                    name: "SIPDOMAIN".into(),
                    next: 4
                }
            ),
            (
                5,
                &FindingKind::Malformed("SET GROUP without a value (use \"\" to reset it)".into())
            ),
        ]
    );
    assert!(s.lines.is_empty());
}

#[test]
fn a_hash_label_named_like_a_keyword_shadows_a_commented_out_statement() {
    let s = parse(
        "f",
        "# SET SIPDOMAIN old.lab\n## SET SIPDOMAIN fine.lab\n# set\n",
    );
    assert_eq!(
        kinds(&s),
        vec![
            (
                1,
                &FindingKind::LabelShadowsStatement {
                    keyword: "SET".into()
                }
            ),
            (
                3,
                &FindingKind::LabelShadowsStatement {
                    keyword: "SET".into()
                }
            ),
            (
                3,
                &FindingKind::DuplicateLabel {
                    label: "set".into()
                }
            ),
        ]
    );
    assert_eq!(stmts(&s)[0], &Statement::Label { name: "SET".into() });
}

#[test]
fn statements_after_an_unconditional_jump_are_unreachable_until_a_label() {
    let s = parse(
        "f",
        "IF $MODEL4 SEQ 9620 GOTO A\nGOTO END\nSET GROUP 1\nSET GROUP 2\n# NOWHERE\nSET GROUP 3\n# A\nSET GROUP 4\nGOTO END\n# END\nGOTO GONE\nSET GROUP 5\n",
    );
    assert_eq!(
        kinds(&s),
        vec![
            (3, &FindingKind::Unreachable { last: 6 }),
            (
                11,
                &FindingKind::MissingLabel {
                    label: "GONE".into()
                }
            ),
            (12, &FindingKind::Unreachable { last: 12 }),
        ]
    );
    assert_eq!(
        FindingKind::Unreachable { last: 6 }.severity(),
        Severity::Warning
    );
}

#[test]
fn lint_names_an_if_on_a_variable_no_phone_has() {
    let s = parse(
        "f",
        "IF $MODLE4 SEQ 9620 GOTO A\nIF $model4 SEQ 9620 GOTO A\nIF $SIPDOMAIN SEQ x GOTO A\nIF $APPNAME SEQ y GOTO A\n# A\n",
    );
    let lint = s.lint();
    assert_eq!(
        lint,
        vec![(
            1,
            Issue::UnknownVariable {
                var: "MODLE4".into()
            }
        )]
    );
    assert_eq!(lint[0].1.code(), "unknown-variable");
    assert_eq!(lint[0].1.severity(), Severity::Error);
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// Bytes that look like a script now and then: keywords, labels, quotes of both kinds,
    /// line ends of both kinds, a BOM, a NUL, invalid UTF-8.
    fn scriptish() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"SET ".to_vec()),
            Just(b"GET ".to_vec()),
            Just(b"IF $MODEL4 SEQ ".to_vec()),
            Just(b" GOTO ".to_vec()),
            Just(b"GOTO ".to_vec()),
            Just(b"# ".to_vec()),
            Just(b"##".to_vec()),
            Just(b"\"".to_vec()),
            Just("\u{201c}".as_bytes().to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(vec![0xEF, 0xBB, 0xBF]),
            Just(vec![0]),
            Just(vec![0xff, 0xfe]),
            "[A-Za-z0-9_.]{0,12}".prop_map(String::into_bytes),
        ];
        proptest::collection::vec(piece, 0..60).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn parse_lint_and_run_any_bytes(bytes in scriptish()) {
            let s = parse_bytes("f.txt", &bytes);
            let lines = bytes.split(|b| *b == b'\n').count();
            for (line, issue) in s.lint() {
                prop_assert!((1..=lines).contains(&line), "{issue} on line {line} of {lines}");
            }
            let mut files = std::collections::BTreeMap::new();
            files.insert("f.txt".to_string(), s.clone());
            let e = crate::eval::evaluate(vars("9620"), s, &files);
            prop_assert_eq!(e.fetches[0].file.as_str(), "f.txt");
        }
    }
}
