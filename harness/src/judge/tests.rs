//! Every rule of the judge, each shown passing and failing. Checks are written the way
//! scenario files write them, and loaded through the real loader.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::{Map, Value, json};

use super::*;
use crate::scenario::load_str;
use crate::timeline::Proto;

const HEAD: &str = r#"
id = "T"
title = "t"
family = "boot"
[phone]
model = "9620"
firmware = "S96x0_SALBR2_6_0_0.bin"
mac = "00:1b:4f:00:00:01"
user = "2001"
password = "p"
[dhcp]
[sip]
domain = "lab.test"
accounts = []
[run]
timeout = 10
"#;

fn spec(checks: &str) -> Scenario {
    let text = format!("{HEAD}\n{checks}");
    match load_str(Path::new("judge-test.toml"), &text) {
        Ok(s) => s,
        Err(e) => panic!("test scenario does not load: {e}"),
    }
}

fn tl(events: &[(f64, Proto, &str, Value)]) -> Timeline {
    let mut t = Timeline::default();
    for (at, p, kind, fields) in events {
        let f: Map<String, Value> = fields.as_object().cloned().unwrap_or_default();
        t.push_fields(*at, *p, kind.to_string(), f);
    }
    t
}

/// A first boot, as the servers would record it.
fn boot() -> Timeline {
    tl(&[
        (
            0.10,
            Proto::Dhcp,
            "received",
            json!({"msg_type": "DISCOVER", "parameter_request_list": [1, 3, 242]}),
        ), // #0
        (
            0.20,
            Proto::Dhcp,
            "sent",
            json!({"msg_type": "ACK", "yiaddr": "10.66.0.100"}),
        ), // #1
        (
            0.50,
            Proto::Http,
            "request",
            json!({"path": "/fw/96xxupgrade.txt", "user_agent": "AVAYA/96x0 9620",
            "headers": [["Host", "10.66.0.1"], ["User-Agent", "AVAYA/96x0 9620"]]}),
        ), // #2
        (
            0.60,
            Proto::Http,
            "response",
            json!({"path": "/fw/96xxupgrade.txt", "status": 200, "body_bytes_sent": 300}),
        ), // #3
        (
            0.70,
            Proto::Http,
            "request",
            json!({"path": "/fw/S96x0_SALBR2_6_1_0.bin"}),
        ), // #4
        (
            2.50,
            Proto::Sip,
            "request",
            json!({"method": "REGISTER", "auth": null,
            "headers": [["v", "SIP/2.0/UDP 10.66.0.100"],
                ["User-Agent", "Avaya one-X Deskphone 2.6.1.0 001b4f000001"]]}),
        ), // #5
        (
            2.51,
            Proto::Sip,
            "request",
            json!({"method": "REGISTER", "auth": {"result": "ok"},
            "user_agent": "Avaya one-X Deskphone 2.6.1.0 001b4f000001"}),
        ), // #6
    ])
}

/// REGISTER attempts at the given times.
fn registers(times: &[f64]) -> Timeline {
    let ev: Vec<(f64, Proto, &str, Value)> = times
        .iter()
        .map(|t| (*t, Proto::Sip, "request", json!({"method": "REGISTER"})))
        .collect();
    tl(&ev)
}

fn judge_all(checks: &str, timeline: &Timeline) -> Vec<CheckResult> {
    judge(&spec(checks), timeline, Ctx::new(&Vars::new()))
}

/// Judges and returns the result of the last check.
fn last(checks: &str, timeline: &Timeline) -> CheckResult {
    judge_all(checks, timeline).pop().unwrap()
}

fn event(proto: &str, kind: &str, extra: &str) -> String {
    format!(
        "[[check]]\nid = \"X\"\ntitle = \"x\"\nrequirement = \"r\"\nkind = \"event\"\nproto = \"{proto}\"\nevent = \"{kind}\"\n{extra}\n"
    )
}

fn verdict(checks: &str, timeline: &Timeline) -> Verdict {
    last(checks, timeline).verdict
}

#[test]
fn equals_passes_and_a_miss_names_the_nearest_candidate() {
    let ok = last(
        &event(
            "http",
            "request",
            r#"match = { path = "/fw/96xxupgrade.txt" }"#,
        ),
        &boot(),
    );
    assert_eq!(ok.verdict, Verdict::Pass);
    assert_eq!(ok.events, vec![2]);
    let bad = last(
        &event(
            "http",
            "request",
            r#"match = { path = "/96xxupgrade.txt" }"#,
        ),
        &boot(),
    );
    assert_eq!(bad.verdict, Verdict::Fail);
    assert_eq!(bad.violation, Some(Violation::Missing));
    assert!(
        bad.observed
            .contains(r#"path is "/fw/96xxupgrade.txt", expected = "/96xxupgrade.txt""#),
        "{}",
        bad.observed
    );
    assert!(bad.line().starts_with("X fail (judge-test.toml:19): expected HTTP request with path = \"/96xxupgrade.txt\"; observed 2 request event(s), none matching"), "{}", bad.line());
}

#[test]
fn numbers_match_as_numbers_or_as_text() {
    assert_eq!(
        verdict(
            &event("http", "response", "match = { status = 200 }"),
            &boot()
        ),
        Verdict::Pass
    );
    assert_eq!(
        verdict(
            &event("http", "response", r#"match = { status = "200" }"#),
            &boot()
        ),
        Verdict::Pass
    );
    assert_eq!(
        verdict(
            &event("http", "response", "match = { status = 404 }"),
            &boot()
        ),
        Verdict::Fail
    );
}

#[test]
fn contains_works_on_strings_and_lists() {
    assert_eq!(
        verdict(
            &event(
                "dhcp",
                "received",
                "match = { parameter_request_list = { contains = 242 } }"
            ),
            &boot()
        ),
        Verdict::Pass
    );
    assert_eq!(
        verdict(
            &event(
                "dhcp",
                "received",
                "match = { parameter_request_list = { contains = 66 } }"
            ),
            &boot()
        ),
        Verdict::Fail
    );
    assert_eq!(
        verdict(
            &event(
                "http",
                "request",
                r#"match = { user_agent = { contains = "96x0" } }"#
            ),
            &boot()
        ),
        Verdict::Pass
    );
    assert_eq!(
        verdict(
            &event(
                "http",
                "request",
                r#"match = { user_agent = { contains = "46xx" } }"#
            ),
            &boot()
        ),
        Verdict::Fail
    );
}

#[test]
fn regex_and_range() {
    assert_eq!(
        verdict(
            &event(
                "http",
                "request",
                r#"match = { path = { regex = "\\.bin$" } }"#
            ),
            &boot()
        ),
        Verdict::Pass
    );
    assert_eq!(
        verdict(
            &event(
                "http",
                "request",
                r#"match = { path = { regex = "\\.tar$" } }"#
            ),
            &boot()
        ),
        Verdict::Fail
    );
    assert_eq!(
        verdict(
            &event(
                "http",
                "response",
                "match = { body_bytes_sent = { range = [1, 300] } }"
            ),
            &boot()
        ),
        Verdict::Pass
    );
    assert_eq!(
        verdict(
            &event(
                "http",
                "response",
                "match = { body_bytes_sent = { range = [301, 900] } }"
            ),
            &boot()
        ),
        Verdict::Fail
    );
}

#[test]
fn present_and_absent_fields_and_headers() {
    // auth is null on the first REGISTER: absent; an object on the second: present.
    let first_without = last(
        &event("sip", "request", "match = { auth = { present = false } }"),
        &boot(),
    );
    assert_eq!(
        (first_without.verdict, first_without.events.clone()),
        (Verdict::Pass, vec![5])
    );
    assert_eq!(
        last(
            &event("sip", "request", "match = { auth = { present = true } }"),
            &boot()
        )
        .events,
        vec![6]
    );
    assert_eq!(
        verdict(
            &event("http", "request", "match = { host = { present = true } }"),
            &boot()
        ),
        Verdict::Fail
    );
    // HTTP headers list, any case.
    assert_eq!(
        verdict(
            &event(
                "http",
                "request",
                r#"match = { "header.user-agent" = "AVAYA/96x0 9620" }"#
            ),
            &boot()
        ),
        Verdict::Pass
    );
    assert_eq!(
        verdict(
            &event(
                "http",
                "request",
                r#"match = { "header.Authorization" = { present = true } }"#
            ),
            &boot()
        ),
        Verdict::Fail
    );
    assert_eq!(
        verdict(
            &event(
                "http",
                "request",
                r#"match = { "header.Authorization" = { present = false } }"#
            ),
            &boot()
        ),
        Verdict::Pass
    );
    // SIP headers as sent, compact form `v` for Via (RFC 3261 §7.3.3), asked for either way.
    assert_eq!(
        verdict(
            &event(
                "sip",
                "request",
                r#"match = { "header.Via" = { contains = "10.66.0.100" } }"#
            ),
            &boot()
        ),
        Verdict::Pass
    );
    assert_eq!(
        verdict(
            &event(
                "sip",
                "request",
                r#"match = { "header.Via" = { contains = "10.66.0.9" } }"#
            ),
            &boot()
        ),
        Verdict::Fail
    );
    assert_eq!(
        verdict(
            &event(
                "sip",
                "request",
                r#"match = { "header.V" = { contains = "10.66.0.100" } }"#
            ),
            &boot()
        ),
        Verdict::Pass
    );
}

#[test]
fn typed_findings_are_matched_by_name() {
    let tl = tl(&[
        (
            0.1,
            Proto::Sip,
            "request",
            json!({"method": "REGISTER", "findings": [
                {"code": "lf_line_endings", "offset": 29, "lines": 9},
                {"code": "retransmission"}]}),
        ),
        (
            0.2,
            Proto::Http,
            "request",
            json!({"path": "/x", "findings": ["duplicate_slash"]}),
        ),
    ]);
    let named = |proto: &str, name: &str| {
        verdict(
            &event(
                proto,
                "request",
                &format!(r#"match = {{ findings = {{ contains = "{name}" }} }}"#),
            ),
            &tl,
        )
    };
    assert_eq!(named("sip", "retransmission"), Verdict::Pass);
    assert_eq!(named("sip", "lf_line_endings"), Verdict::Pass);
    assert_eq!(named("sip", "folded_header"), Verdict::Fail);
    assert_eq!(named("http", "duplicate_slash"), Verdict::Pass);
    assert_eq!(
        verdict(
            &event("sip", "request", r#"match = { "findings.0.lines" = 9 }"#),
            &tl
        ),
        Verdict::Pass
    );
}

#[test]
fn within_a_window_from_the_start_and_too_late() {
    assert_eq!(
        verdict(&event("sip", "request", "within = 3"), &boot()),
        Verdict::Pass
    );
    let late = last(&event("sip", "request", "within = 2"), &boot());
    assert_eq!(late.verdict, Verdict::Fail);
    assert!(
        matches!(late.violation, Some(Violation::TooLate { within_s, .. }) if within_s == 2.0),
        "{late:?}"
    );
}

#[test]
fn not_before_rejects_an_early_event() {
    let early = last(
        &event(
            "http",
            "request",
            "match = { path = { regex = \"upgrade\" } }\nnot_before = 1\nwithin = 5",
        ),
        &boot(),
    );
    assert_eq!(early.verdict, Verdict::Fail);
    assert!(
        matches!(early.violation, Some(Violation::TooEarly { not_before_s, .. }) if not_before_s == 1.0)
    );
    assert_eq!(
        verdict(
            &event("sip", "request", "not_before = 2\nwithin = 3"),
            &boot()
        ),
        Verdict::Pass
    );
}

#[test]
fn after_opens_the_window_at_another_checks_event() {
    let checks = format!(
        "{}{}",
        event("dhcp", "sent", r#"match = { msg_type = "ACK" }"#).replace("\"X\"", "\"ACK\""),
        event("http", "request", "after = \"ACK\"\nwithin = 0.35")
    );
    let r = last(&checks, &boot());
    assert_eq!(r.verdict, Verdict::Pass);
    assert!(r.expected.contains("after ACK (event #1"), "{}", r.expected);
    // measured from the ACK at 0.20 s: the request at 0.50 s is +0.30 s.
    assert!(r.observed.contains("+0.300 s"), "{}", r.observed);
    let tight = checks.replace("within = 0.35", "within = 0.25");
    assert_eq!(verdict(&tight, &boot()), Verdict::Fail);
}

#[test]
fn a_step_whose_anchor_never_came_is_not_exercised() {
    let checks = format!(
        "{}{}",
        event("dhcp", "sent", r#"match = { msg_type = "NAK" }"#).replace("\"X\"", "\"NAK\""),
        event("dhcp", "received", "after = \"NAK\"")
    );
    let rs = judge_all(&checks, &boot());
    assert_eq!(rs[0].verdict, Verdict::Fail);
    assert_eq!(rs[1].verdict, Verdict::NotExercised);
    assert!(rs[1].observed.contains("`NAK` found no event"));
    assert_eq!(
        scenario_verdict(&rs[1..]),
        Verdict::Fail,
        "not exercised is no pass"
    );
}

#[test]
fn absent_passes_when_nothing_matches_and_names_the_forbidden_event() {
    let absent = |m: &str| {
        format!(
            "[[check]]\nid = \"X\"\ntitle = \"x\"\nrequirement = \"r\"\nkind = \"absent\"\nproto = \"http\"\nevent = \"request\"\n{m}\n"
        )
    };
    let ok = last(
        &absent(r#"match = { path = { regex = "\\.tar$" } }"#),
        &boot(),
    );
    assert_eq!(ok.verdict, Verdict::Pass);
    let bad = last(
        &absent(r#"match = { path = { regex = "\\.bin$" } }"#),
        &boot(),
    );
    assert_eq!(
        (bad.verdict, bad.violation.clone(), bad.events.clone()),
        (Verdict::Fail, Some(Violation::Forbidden), vec![4])
    );
    // only inside its window: the .bin request at 0.70 s is outside `within = 0.6`
    assert_eq!(
        verdict(
            &absent("match = { path = { regex = \"\\\\.bin$\" } }\nwithin = 0.6"),
            &boot()
        ),
        Verdict::Pass
    );
}

#[test]
fn counts_exactly_at_least_at_most() {
    let count = |k: &str| {
        format!(
            "[[check]]\nid = \"X\"\ntitle = \"x\"\nrequirement = \"r\"\nkind = \"count\"\nproto = \"sip\"\nevent = \"request\"\n{k}\n"
        )
    };
    let tl = registers(&[1.0, 2.0, 3.0]);
    assert_eq!(verdict(&count("exactly = 3"), &tl), Verdict::Pass);
    let two = last(&count("exactly = 2"), &tl);
    assert_eq!(two.violation, Some(Violation::WrongCount { seen: 3 }));
    assert_eq!(verdict(&count("at_least = 3"), &tl), Verdict::Pass);
    assert_eq!(verdict(&count("at_least = 4"), &tl), Verdict::Fail);
    assert_eq!(verdict(&count("at_most = 3"), &tl), Verdict::Pass);
    assert_eq!(verdict(&count("at_most = 2"), &tl), Verdict::Fail);
    assert_eq!(
        verdict(&count("at_most = 2\nwithin = 2.5"), &tl),
        Verdict::Pass
    );
}

#[test]
fn order_of_two_checks() {
    let base = format!(
        "{}{}",
        event(
            "http",
            "request",
            r#"match = { path = "/fw/96xxupgrade.txt" }"#
        )
        .replace("\"X\"", "\"SCRIPT\""),
        event(
            "http",
            "request",
            r#"match = { path = { regex = "\\.bin$" } }"#
        )
        .replace("\"X\"", "\"BIN\"")
    );
    let order = |a: &str, b: &str| {
        format!(
            "{base}[[check]]\nid = \"O\"\ntitle = \"o\"\nrequirement = \"r\"\nkind = \"order\"\nfirst = \"{a}\"\nthen = \"{b}\"\n"
        )
    };
    assert_eq!(verdict(&order("SCRIPT", "BIN"), &boot()), Verdict::Pass);
    let wrong = last(&order("BIN", "SCRIPT"), &boot());
    assert_eq!(
        wrong.violation,
        Some(Violation::OutOfOrder { first: 4, then: 2 })
    );
    let no_bin = tl(&[(
        0.5,
        Proto::Http,
        "request",
        json!({"path": "/fw/96xxupgrade.txt"}),
    )]);
    assert_eq!(
        verdict(&order("SCRIPT", "BIN"), &no_bin),
        Verdict::NotExercised
    );
}

fn interval(extra: &str) -> String {
    format!(
        "[[check]]\nid = \"X\"\ntitle = \"x\"\nrequirement = \"r\"\nkind = \"interval\"\nproto = \"sip\"\nevent = \"request\"\n{extra}\n"
    )
}

#[test]
fn interval_gaps_in_a_range() {
    let tl = registers(&[0.0, 30.0, 61.0, 90.5]);
    assert_eq!(verdict(&interval("gap = [29, 31]"), &tl), Verdict::Pass);
    let bad = last(&interval("gap = [29, 30.5]"), &tl);
    assert!(
        matches!(bad.violation, Some(Violation::BadGap { n: 2, .. })),
        "{bad:?}"
    );
    assert!(
        bad.observed.contains("gaps [30.000, 31.000, 29.500] s"),
        "{}",
        bad.observed
    );
}

#[test]
fn interval_needs_enough_events() {
    let one = last(&interval("gap = [1, 2]"), &registers(&[5.0]));
    assert_eq!(
        one.violation,
        Some(Violation::TooFewEvents { seen: 1, needed: 2 })
    );
    let three = last(
        &interval("gap = [1, 2]\nmin_events = 3"),
        &registers(&[1.0, 2.5]),
    );
    assert_eq!(
        three.violation,
        Some(Violation::TooFewEvents { seen: 2, needed: 3 })
    );
    assert_eq!(
        verdict(
            &interval("gap = [1, 2]\nmin_events = 3"),
            &registers(&[1.0, 2.5, 4.0])
        ),
        Verdict::Pass
    );
}

#[test]
fn interval_growth_doubling() {
    let g = "growth = { factor = 2.0, tolerance = 0.1 }";
    assert_eq!(
        verdict(&interval(g), &registers(&[0.0, 2.0, 6.0, 14.0])),
        Verdict::Pass
    );
    let flat = last(&interval(g), &registers(&[0.0, 2.0, 4.0, 6.0]));
    assert!(
        matches!(flat.violation, Some(Violation::BadGrowth { n: 2, ratio }) if (ratio - 1.0).abs() < 1e-9),
        "{flat:?}"
    );
}

#[test]
fn interval_random_spread_of_a_base_time() {
    // 50–90 % of 60 s: each gap in [30, 54] s.
    let s = "spread = { of = 60, min_pct = 50, max_pct = 90, varied = true }";
    assert_eq!(
        verdict(&interval(s), &registers(&[0.0, 41.0, 75.0, 126.0])),
        Verdict::Pass
    );
    let long = last(&interval(s), &registers(&[0.0, 41.0, 101.0]));
    assert!(
        matches!(long.violation, Some(Violation::BadGap { n: 2, .. })),
        "{long:?}"
    );
    let fixed = last(&interval(s), &registers(&[0.0, 45.0, 90.0, 135.0]));
    assert!(
        matches!(fixed.violation, Some(Violation::NotVaried { .. })),
        "{fixed:?}"
    );
    // without `varied`, fixed gaps inside the share pass
    assert_eq!(
        verdict(
            &interval("spread = { of = 60, min_pct = 50, max_pct = 90 }"),
            &registers(&[0.0, 45.0, 90.0])
        ),
        Verdict::Pass
    );
}

fn compare(left_regex: &str, right_regex: &str) -> String {
    format!(
        "{}{}[[check]]\nid = \"C\"\ntitle = \"c\"\nrequirement = \"r\"\nkind = \"compare\"\nleft = {{ check = \"BIN\", field = \"path\", regex = \"{left_regex}\" }}\nright = {{ check = \"REG\", field = \"user_agent\", regex = \"{right_regex}\" }}\n",
        event(
            "http",
            "request",
            r#"match = { path = { regex = "\\.bin$" } }"#
        )
        .replace("\"X\"", "\"BIN\""),
        event("sip", "request", "match = { auth = { present = true } }")
            .replace("\"X\"", "\"REG\""),
    )
}

#[test]
fn compare_values_taken_from_two_events() {
    let same = last(
        &compare(r"R(\\d+)_(\\d+)_(\\d+)_(\\d+)\\.bin$", r"Deskphone (\\S+) "),
        &boot(),
    );
    assert_eq!(same.verdict, Verdict::Pass, "{}", same.line());
    assert!(
        same.observed
            .contains(r#"left "2.6.1.0" from event #4; right "2.6.1.0" from event #6"#),
        "{}",
        same.observed
    );
    let differ = last(
        &compare(r"R(\\d+)_(\\d+)_(\\d+)", r"Deskphone (\\S+) "),
        &boot(),
    );
    assert_eq!(
        differ.violation,
        Some(Violation::ValuesDiffer {
            left: "2.6.1".into(),
            right: "2.6.1.0".into()
        })
    );
    let none = last(
        &compare(r"R(\\d+)_(\\d+)_(\\d+)_(\\d+)\\.bin$", r"Phone (\\S+) "),
        &boot(),
    );
    assert_eq!(
        none.violation,
        Some(Violation::NoValue {
            side: "right".into()
        })
    );
}

#[test]
fn windows_are_in_phone_time_under_a_time_scale() {
    // REGISTER at real 2.51 s; with timers 10× faster that is 25.1 s of phone time.
    let sp = spec(&event(
        "sip",
        "request",
        "match = { auth = { present = true } }\nwithin = 30",
    ));
    let vars = Vars::new();
    let at10 = judge(&sp, &boot(), Ctx::new(&vars).scaled(10.0))
        .pop()
        .unwrap();
    assert_eq!(at10.verdict, Verdict::Pass);
    assert!(at10.observed.contains("+25.100 s"), "{}", at10.observed);
    let at20 = judge(&sp, &boot(), Ctx::new(&vars).scaled(20.0))
        .pop()
        .unwrap();
    assert!(
        matches!(at20.violation, Some(Violation::TooLate { .. })),
        "{at20:?}"
    );
}

#[test]
fn scenario_verdict_from_check_levels() {
    let checks = format!(
        "{}{}",
        event("sip", "request", "").replace("\"X\"", "\"MUST\""),
        event(
            "http",
            "request",
            "level = \"should\"\nmatch = { path = \"/nope\" }"
        )
        .replace("\"X\"", "\"SHOULD\"")
    );
    let rs = judge_all(&checks, &boot());
    assert_eq!(
        (rs[0].verdict, rs[1].verdict),
        (Verdict::Pass, Verdict::Fail)
    );
    assert_eq!(
        scenario_verdict(&rs),
        Verdict::Pass,
        "a failing `should` only informs"
    );
    let must_fails = checks.replace("level = \"should\"\n", "");
    assert_eq!(
        scenario_verdict(&judge_all(&must_fails, &boot())),
        Verdict::Fail
    );
    assert_eq!(scenario_verdict(&[]), Verdict::Error);
    let mut err = rs.clone();
    err[0].verdict = Verdict::Error;
    assert_eq!(scenario_verdict(&err), Verdict::Error);
}

#[test]
fn until_is_reached_when_its_check_passed_or_can_no_longer_pass() {
    let sp = spec(&event(
        "sip",
        "request",
        "within = 5\nmatch = { auth = { present = true } }",
    ));
    let vars = Vars::new();
    let running = |now| Ctx::new(&vars).running_at(now);
    assert!(until_reached(&sp, "X", &boot(), running(3.0)));
    // no such REGISTER yet, and the window is still open
    assert!(!until_reached(&sp, "X", &registers(&[1.0]), running(3.0)));
    // the window closed without one: it can no longer pass
    assert!(until_reached(&sp, "X", &registers(&[1.0]), running(5.2)));
    assert!(!until_reached(&sp, "nope", &boot(), running(3.0)));
}

#[test]
fn until_on_a_protocol_the_device_does_not_speak_is_never_reached() {
    // A plain DHCP client: its `until` on SIP is settled (not exercised) from the start, but
    // it says nothing about how far the client got, so the run must not end on it.
    let sp = spec(&event("sip", "request", "within = 5"));
    let vars = Vars::new();
    let dhcp_only = [Proto::Dhcp];
    let ctx = Ctx::new(&vars).speaking(&dhcp_only).running_at(0.1);
    assert!(judge(&sp, &boot(), ctx)[0].settled);
    assert!(!until_reached(&sp, "X", &boot(), ctx));
    let all = [Proto::Dhcp, Proto::Http, Proto::Sip];
    let ctx = Ctx::new(&vars).speaking(&all).running_at(0.1);
    assert!(until_reached(&sp, "X", &boot(), ctx));
}

#[test]
fn checks_on_a_protocol_the_device_does_not_speak_are_skipped() {
    let checks = format!(
        "{}{}{}{}",
        event("dhcp", "received", r#"match = { msg_type = "DISCOVER" }"#).replace("\"X\"", "\"D\""),
        event("http", "request", "after = \"D\"").replace("\"X\"", "\"H\""),
        // A DHCP check anchored on the HTTP one, and a comparison resting on it: both are
        // about what the device did not take part in.
        event("dhcp", "sent", "after = \"H\"").replace("\"X\"", "\"A\""),
        "[[check]]\nid = \"C\"\ntitle = \"c\"\nrequirement = \"r\"\nkind = \"compare\"\n\
         left = { check = \"D\", field = \"msg_type\" }\nright = { check = \"H\", field = \"path\" }\n",
    );
    let sp = spec(&checks);
    let vars = Vars::new();
    let dhcp_only = [Proto::Dhcp];
    let rs = judge(&sp, &boot(), Ctx::new(&vars).speaking(&dhcp_only));
    let verdicts: Vec<Verdict> = rs.iter().map(|r| r.verdict).collect();
    assert_eq!(
        verdicts,
        vec![Verdict::Pass, Verdict::Skip, Verdict::Skip, Verdict::Skip]
    );
    assert!(
        rs[1].observed.contains("does not take part in http"),
        "{}",
        rs[1].observed
    );
    assert!(rs[2].observed.contains("`H`"), "{}", rs[2].observed);
    assert!(rs.iter().all(|r| r.settled && r.violation.is_none()));
    assert_eq!(
        scenario_verdict(&rs),
        Verdict::Pass,
        "a skipped check neither passes nor fails the scenario"
    );
    // Every check skipped: nothing was judged, so the scenario is no pass either.
    let http_only = spec(&event("http", "request", ""));
    let rs = judge(&http_only, &boot(), Ctx::new(&vars).speaking(&dhcp_only));
    assert_eq!(rs[0].verdict, Verdict::Skip);
    assert_eq!(scenario_verdict(&rs), Verdict::Skip);
    // A failing judged check still fails the scenario beside skipped ones.
    let failing = format!(
        "{}{}",
        event("dhcp", "received", r#"match = { msg_type = "INFORM" }"#).replace("\"X\"", "\"D\""),
        event("http", "request", "")
    );
    let rs = judge(
        &spec(&failing),
        &boot(),
        Ctx::new(&vars).speaking(&dhcp_only),
    );
    assert_eq!(scenario_verdict(&rs), Verdict::Fail);
    let all = judge(&sp, &boot(), Ctx::new(&vars));
    assert_eq!(all[1].verdict, Verdict::Pass);
}

#[test]
fn nothing_after_the_stop_mark_is_judged() {
    // A UA that un-REGISTERs (Expires 0) when it is stopped at 30 s: that REGISTER is no
    // refresh, and no forbidden REGISTER either.
    let mut t = registers(&[1.0, 30.5]);
    t.push_fields(30.0, Proto::Dut, "stopping".into(), Map::new());
    let refresh = event("sip", "request", "within = 60\nnot_before = 10");
    let r = last(&refresh, &t);
    assert_eq!(r.verdict, Verdict::Fail, "{}", r.observed);
    // Only the REGISTER before the mark is seen (too early); #2, after it, is not.
    assert!(
        matches!(r.violation, Some(Violation::TooEarly { .. })),
        "{:?}",
        r.violation
    );
    assert_eq!(r.events, vec![0]);
    let quiet =
        event("sip", "request", "not_before = 10").replace("\"event\"\nproto", "\"absent\"\nproto");
    assert_eq!(last(&quiet, &t).verdict, Verdict::Pass);
    let count =
        event("sip", "request", "exactly = 1").replace("\"event\"\nproto", "\"count\"\nproto");
    assert_eq!(last(&count, &t).verdict, Verdict::Pass);
    assert_eq!(stop_mark(&t), Some(30.0));
    // Without the mark the same REGISTER is judged.
    let unmarked = registers(&[1.0, 30.5]);
    assert_eq!(last(&refresh, &unmarked).verdict, Verdict::Pass);
    assert_eq!(last(&quiet, &unmarked).verdict, Verdict::Fail);
}

/// A check `X` of `kind` on SIP requests with `extra` keys.
fn sip_check(kind: &str, extra: &str) -> String {
    format!(
        "[[check]]\nid = \"X\"\ntitle = \"x\"\nrequirement = \"r\"\nkind = \"{kind}\"\nproto = \"sip\"\nevent = \"request\"\n{extra}\n"
    )
}

/// (verdict, settled) of the last check, judged `now` phone seconds into a running scenario
/// (`None`: the run is over).
fn at_time(checks: &str, timeline: &Timeline, now: Option<f64>) -> (Verdict, bool) {
    let vars = Vars::new();
    let ctx = match now {
        Some(n) => Ctx::new(&vars).running_at(n),
        None => Ctx::new(&vars),
    };
    let r = judge(&spec(checks), timeline, ctx).pop().unwrap();
    (r.verdict, r.settled)
}

#[test]
fn an_event_settles_when_it_is_seen_or_its_window_closes() {
    let c = sip_check("event", "within = 5");
    let none = registers(&[]);
    assert_eq!(at_time(&c, &none, Some(1.0)), (Verdict::Fail, false));
    assert_eq!(
        at_time(&c, &registers(&[1.0]), Some(1.2)),
        (Verdict::Pass, true)
    );
    // closed only once events stamped inside it have had time to arrive
    assert_eq!(at_time(&c, &none, Some(5.05)), (Verdict::Fail, false));
    assert_eq!(at_time(&c, &none, Some(5.2)), (Verdict::Fail, true));
    // one too early may still be followed by one in time
    let early = sip_check("event", "not_before = 2\nwithin = 5");
    assert_eq!(
        at_time(&early, &registers(&[1.0]), Some(1.5)),
        (Verdict::Fail, false)
    );
    // without `within` only the end of the run closes the window
    let open = sip_check("event", "");
    assert_eq!(at_time(&open, &none, Some(1000.0)), (Verdict::Fail, false));
    assert_eq!(at_time(&open, &none, None), (Verdict::Fail, true));
}

#[test]
fn an_absence_settles_when_violated_or_when_its_window_closes() {
    let c = sip_check("absent", "within = 5");
    assert_eq!(
        at_time(&c, &registers(&[2.0]), Some(2.1)),
        (Verdict::Fail, true)
    );
    assert_eq!(
        at_time(&c, &registers(&[]), Some(4.0)),
        (Verdict::Pass, false)
    );
    assert_eq!(
        at_time(&c, &registers(&[6.0]), Some(6.0)),
        (Verdict::Pass, true)
    );
    let open = sip_check("absent", "");
    assert_eq!(
        at_time(&open, &registers(&[]), Some(60.0)),
        (Verdict::Pass, false)
    );
    assert_eq!(
        at_time(&open, &registers(&[61.0]), Some(61.0)),
        (Verdict::Fail, true)
    );
}

#[test]
fn a_count_settles_when_its_window_closes_or_an_upper_bound_is_passed() {
    let at_most = sip_check("count", "at_most = 1\nwithin = 10");
    assert_eq!(
        at_time(&at_most, &registers(&[1.0]), Some(2.0)),
        (Verdict::Pass, false)
    );
    assert_eq!(
        at_time(&at_most, &registers(&[1.0, 2.0]), Some(2.0)),
        (Verdict::Fail, true)
    );
    let at_least = sip_check("count", "at_least = 2\nwithin = 10");
    // enough already, but a third could still come: only the window's end settles it
    assert_eq!(
        at_time(&at_least, &registers(&[1.0, 2.0]), Some(3.0)),
        (Verdict::Pass, false)
    );
    assert_eq!(
        at_time(&at_least, &registers(&[1.0, 2.0]), Some(10.2)),
        (Verdict::Pass, true)
    );
    let exactly = sip_check("count", "exactly = 1");
    assert_eq!(
        at_time(&exactly, &registers(&[1.0, 2.0]), Some(3.0)),
        (Verdict::Fail, true)
    );
    assert_eq!(
        at_time(&exactly, &registers(&[1.0]), Some(3.0)),
        (Verdict::Pass, false)
    );
}

#[test]
fn an_interval_settles_on_a_bad_gap_or_when_its_window_closes() {
    let c = sip_check("interval", "gap = [1, 2]\nwithin = 20");
    assert_eq!(
        at_time(&c, &registers(&[0.0, 1.5, 7.0]), Some(7.0)),
        (Verdict::Fail, true)
    );
    assert_eq!(
        at_time(&c, &registers(&[0.0, 1.5, 3.0]), Some(3.0)),
        (Verdict::Pass, false)
    );
    assert_eq!(
        at_time(&c, &registers(&[0.0, 1.5, 3.0]), Some(20.2)),
        (Verdict::Pass, true)
    );
    let growth = sip_check(
        "interval",
        "growth = { factor = 2, tolerance = 0.1 }\nwithin = 20",
    );
    assert_eq!(
        at_time(&growth, &registers(&[0.0, 1.0, 2.0]), Some(2.0)),
        (Verdict::Fail, true)
    );
    // too few events yet is no verdict yet
    assert_eq!(
        at_time(&c, &registers(&[0.0]), Some(1.0)),
        (Verdict::Fail, false)
    );
}

#[test]
fn anchored_checks_wait_for_their_anchor() {
    let anchor = sip_check("event", "within = 5").replace("\"X\"", "\"A\"");
    let then = format!(
        "{anchor}{}",
        sip_check("absent", "after = \"A\"\nwithin = 2")
    );
    // the anchor has not come yet: nothing is settled
    assert_eq!(
        at_time(&then, &registers(&[]), Some(1.0)),
        (Verdict::NotExercised, false)
    );
    // the anchor's window closed empty: the step never came up, and that is final
    assert_eq!(
        at_time(&then, &registers(&[]), Some(5.2)),
        (Verdict::NotExercised, true)
    );
    // the anchor came; the absence holds so far, then its window closes
    assert_eq!(
        at_time(&then, &registers(&[1.0]), Some(2.0)),
        (Verdict::Pass, false)
    );
    assert_eq!(
        at_time(&then, &registers(&[1.0]), Some(3.2)),
        (Verdict::Pass, true)
    );
    // an anchor that can still move keeps the check open: a count's first event
    let count_anchor = sip_check("count", "at_least = 1").replace("\"X\"", "\"A\"");
    let after_count = format!(
        "{count_anchor}{}",
        sip_check("absent", "after = \"A\"\nwithin = 2")
    );
    assert_eq!(
        at_time(&after_count, &registers(&[1.0]), Some(9.0)),
        (Verdict::Pass, false)
    );
    assert_eq!(
        at_time(&after_count, &registers(&[1.0]), None),
        (Verdict::Pass, true)
    );
}

#[test]
fn order_and_compare_settle_with_the_checks_they_relate() {
    let a = sip_check("event", "within = 5").replace("\"X\"", "\"A\"");
    let b = sip_check("event", "after = \"A\"").replace("\"X\"", "\"B\"");
    let order = format!(
        "{a}{b}[[check]]\nid = \"X\"\ntitle = \"x\"\nrequirement = \"r\"\nkind = \"order\"\nfirst = \"A\"\nthen = \"B\"\n"
    );
    assert_eq!(
        at_time(&order, &registers(&[1.0]), Some(2.0)),
        (Verdict::NotExercised, false)
    );
    assert_eq!(
        at_time(&order, &registers(&[1.0, 2.0]), Some(2.0)),
        (Verdict::Pass, true)
    );
    let compare = format!(
        "{a}{b}[[check]]\nid = \"X\"\ntitle = \"x\"\nrequirement = \"r\"\nkind = \"compare\"\nleft = {{ check = \"A\", field = \"method\" }}\nright = {{ check = \"B\", field = \"method\" }}\n"
    );
    assert_eq!(
        at_time(&compare, &registers(&[1.0, 2.0]), Some(2.0)),
        (Verdict::Pass, true)
    );
    assert_eq!(
        at_time(&compare, &registers(&[]), Some(2.0)),
        (Verdict::NotExercised, false)
    );
}

#[test]
fn all_settled_is_every_check_settled() {
    let checks = format!(
        "{}{}",
        sip_check("event", "within = 5").replace("\"X\"", "\"A\""),
        sip_check("absent", "after = \"A\"\nwithin = 2")
    );
    let sp = spec(&checks);
    let vars = Vars::new();
    let tl = registers(&[1.0]);
    assert!(!all_settled(&sp, &tl, Ctx::new(&vars).running_at(2.0)));
    assert!(all_settled(&sp, &tl, Ctx::new(&vars).running_at(3.2)));
    assert!(all_settled(&sp, &registers(&[]), Ctx::new(&vars)));
}

#[test]
fn scaled_runs_show_phone_and_lab_time_side_by_side() {
    let sp = spec(&sip_check("event", "within = 50"));
    let vars = Vars::new();
    let scaled = judge(&sp, &registers(&[0.442]), Ctx::new(&vars).scaled(10.0));
    assert!(
        scaled[0]
            .observed
            .ends_with("at +4.420 s phone time (+0.442 s lab, event #0)"),
        "{}",
        scaled[0].observed
    );
    let plain = judge(&sp, &registers(&[0.442]), Ctx::new(&vars));
    assert!(
        plain[0].observed.ends_with("at +0.442 s (event #0)"),
        "{}",
        plain[0].observed
    );
    assert_eq!(plain[0].location, "judge-test.toml:19");
}

#[test]
fn next_judges_the_first_event_of_the_kind_and_settles_on_it() {
    let next = event(
        "http",
        "request",
        "within = 30\nnext = true\nmatch = { path = \"/fw/96xxupgrade.txt\" }",
    );
    // the first HTTP request is the upgrade script: pass, settled
    assert_eq!(at_time(&next, &boot(), Some(0.6)), (Verdict::Pass, true));
    // another request came first: a failure now, though the right one might still come
    let wrong_first = tl(&[
        (
            0.5,
            Proto::Http,
            "request",
            json!({"path": "/96xxupgrade.txt"}),
        ),
        (
            0.9,
            Proto::Http,
            "request",
            json!({"path": "/fw/96xxupgrade.txt"}),
        ),
    ]);
    assert_eq!(
        at_time(&next, &wrong_first, Some(0.6)),
        (Verdict::Fail, true)
    );
    let r = last(&next, &wrong_first);
    assert_eq!(r.violation, Some(Violation::Unexpected));
    assert_eq!(r.events, vec![0]);
    assert!(
        r.observed.starts_with("the next http request was another:  /96xxupgrade.txt from  at +0.500 s (event #0) — path is \"/96xxupgrade.txt\""),
        "{}",
        r.observed
    );
    assert!(
        r.expected
            .ends_with(", as the next HTTP request, within 30 s of the scenario start"),
        "{}",
        r.expected
    );
    // without `next` the later one passes
    let plain = event(
        "http",
        "request",
        "within = 30\nmatch = { path = \"/fw/96xxupgrade.txt\" }",
    );
    assert_eq!(verdict(&plain, &wrong_first), Verdict::Pass);
    // nothing yet: waits for the window like any event check
    assert_eq!(
        at_time(&next, &registers(&[]), Some(5.0)),
        (Verdict::Fail, false)
    );
}

/// Two REGISTERs of one registration, then a 401 with and one without `stale`.
fn registration() -> Timeline {
    let challenge = |stale: Option<&str>| {
        let mut c = json!({"realm": "lab.test", "nonce": "n1", "algorithm": "MD5", "qop": "auth", "opaque": null, "stale": null});
        if let Some(s) = stale {
            c["stale"] = json!(s);
        }
        c
    };
    tl(&[
        (
            1.0,
            Proto::Sip,
            "request",
            json!({"method": "REGISTER", "cseq": 7, "call_id": "a@1", "headers": [["Via", "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1;rport"]]}),
        ), // #0
        (
            1.1,
            Proto::Sip,
            "response",
            json!({"status": 401, "cseq": 7, "challenges": [challenge(None)],
                   "headers": [["WWW-Authenticate", "Digest realm=\"lab.test\", nonce=\"n1\""]]}),
        ), // #1
        (
            1.2,
            Proto::Sip,
            "request",
            json!({"method": "REGISTER", "cseq": 8, "call_id": "a@1", "auth": {"nc": "00000001"}, "headers": [["v", "SIP/2.0/UDP 10.0.0.5;rport;branch=z9hG4bK2"]]}),
        ), // #2
        (
            2.0,
            Proto::Sip,
            "response",
            json!({"status": 401, "cseq": 9, "challenges": [challenge(Some("true"))],
                   "headers": [["WWW-Authenticate", "Digest realm=\"lab.test\", nonce=\"n2\", stale=true"]]}),
        ), // #3
    ])
}

fn related(field: &str, relation: &str) -> String {
    format!(
        "{}{}[[check]]\nid = \"C\"\ntitle = \"c\"\nrequirement = \"r\"\nkind = \"compare\"\nleft = {{ check = \"R1\", field = \"{field}\" }}\nright = {{ check = \"R2\", field = \"{field}\" }}\nrelation = \"{relation}\"\n",
        event("sip", "request", "match = { auth = { present = false } }")
            .replace("\"X\"", "\"R1\""),
        event("sip", "request", "match = { auth = { present = true } }").replace("\"X\"", "\"R2\""),
    )
}

#[test]
fn compare_relations_keep_a_call_id_and_count_cseq_up_by_one() {
    let t = registration();
    for (field, relation) in [
        ("call_id", "equal"),
        ("cseq", "successor"),
        ("cseq", "greater"),
        ("header.Via;branch", "different"),
    ] {
        let r = last(&related(field, relation), &t);
        assert_eq!(r.verdict, Verdict::Pass, "{field} {relation}: {}", r.line());
    }
    let r = last(&related("call_id", "different"), &t);
    assert_eq!(
        r.violation,
        Some(Violation::RelationNotMet {
            relation: "different".into(),
            left: "a@1".into(),
            right: "a@1".into()
        })
    );
    assert!(
        r.expected
            .contains("call_id of R1 different from call_id of R2"),
        "{}",
        r.expected
    );
    // CSeq 7 → 8 is one more, not equal and not the other way round.
    let r = last(&related("cseq", "equal"), &t);
    assert_eq!(
        r.violation,
        Some(Violation::ValuesDiffer {
            left: "7".into(),
            right: "8".into()
        })
    );
    // Text where a number is needed names the side.
    let r = last(&related("call_id", "successor"), &t);
    assert_eq!(
        r.violation,
        Some(Violation::NoValue {
            side: "left".into()
        })
    );
}

#[test]
fn a_header_parameter_or_a_challenge_field_can_be_required_absent() {
    let t = registration();
    let fresh = |m: &str| {
        event(
            "sip",
            "response",
            &format!("match = {{ status = 401, {m} }}"),
        )
    };
    // The first 401 has no stale; the second has.
    for m in [
        r#""header.WWW-Authenticate;stale" = { present = false }"#,
        r#""challenges.0.stale" = { present = false }"#,
    ] {
        let r = last(&fresh(m), &t);
        assert_eq!(r.verdict, Verdict::Pass, "{m}: {}", r.line());
        assert_eq!(r.events, vec![1], "{m}");
    }
    let r = last(
        &event(
            "sip",
            "response",
            r#"match = { cseq = 9, "header.WWW-Authenticate;stale" = { present = false } }"#,
        ),
        &t,
    );
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(
        r.observed.contains("2 response event(s), none matching"),
        "{}",
        r.observed
    );
    let r = last(
        &event(
            "sip",
            "response",
            r#"match = { "challenges.0.stale" = "true" }"#,
        ),
        &t,
    );
    assert_eq!(r.events, vec![3]);
}

#[test]
fn a_result_says_which_clock_its_times_came_from_the_anchors_included() {
    let checks = r#"
[[check]]
id = "A"
title = "a"
requirement = "r"
kind = "event"
proto = "http"
event = "request"
match = { path = "/fw/96xxupgrade.txt" }

[[check]]
id = "B"
title = "b"
requirement = "r"
kind = "event"
proto = "sip"
event = "request"
after = "A"
within = 5
"#;
    let mut t = boot();
    let judged = |t: &Timeline| {
        judge_all(checks, t)
            .iter()
            .map(|r| r.time_base)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        judged(&t),
        vec![Some(CheckTimeBase::Server), Some(CheckTimeBase::Server)]
    );
    // The request found at its frame's time; the REGISTER measured from it still at the
    // server's.
    t.events[2].time_base = TimeBase::Capture;
    assert_eq!(
        judged(&t),
        vec![Some(CheckTimeBase::Capture), Some(CheckTimeBase::Mixed)]
    );
    t.events[5].time_base = TimeBase::Capture;
    assert_eq!(
        judged(&t),
        vec![Some(CheckTimeBase::Capture), Some(CheckTimeBase::Capture)]
    );
    let none = last(
        &event("dhcp", "received", r#"match = { msg_type = "INFORM" }"#),
        &tl(&[]),
    );
    assert_eq!(none.time_base, None);
}
