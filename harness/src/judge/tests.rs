//! Every rule of the judge, each shown passing and failing.
#![allow(clippy::unwrap_used)]

use serde_json::{Map, Value, json};

use super::*;
use crate::scenario::{
    CountSpec, DhcpSetup, Family, MatchRule, Matcher, PhoneSetup, RunSetup, SipSetup,
};
use crate::timeline::Proto;

fn spec(checks: Vec<CheckSpec>) -> ScenarioSpec {
    ScenarioSpec {
        id: "T".into(),
        title: "t".into(),
        family: Family::Boot,
        description: None,
        requirements: vec![],
        tags: vec![],
        phone: PhoneSetup {
            model: "9620".into(),
            firmware: "a".into(),
            mac: "00:00:00:00:00:01".into(),
            user: "u".into(),
            password: "p".into(),
        },
        dhcp: DhcpSetup {
            option242: None,
            sson: 242,
            lease_time: 60,
        },
        files: Default::default(),
        sip: SipSetup {
            domain: "d".into(),
            realm: None,
            accounts: vec![],
            expires: 60,
        },
        run: RunSetup {
            timeout: 1.0,
            until: None,
            settle: 0.0,
        },
        checks,
    }
}

fn check(id: &str, proto: Proto, event: &str, m: &[(&str, Matcher)]) -> CheckSpec {
    CheckSpec {
        id: id.into(),
        title: id.into(),
        requirement: "r".into(),
        level: Level::Must,
        proto,
        event: event.into(),
        matchers: m.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        after: None,
        within: None,
        absent: false,
        count: None,
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

fn boot() -> Timeline {
    tl(&[
        (
            0.10,
            Proto::Dhcp,
            "received",
            json!({"msg_type": "DISCOVER", "parameter_request_list": [1, 3, 242]}),
        ),
        (
            0.20,
            Proto::Dhcp,
            "sent",
            json!({"msg_type": "ACK", "yiaddr": "10.66.0.100"}),
        ),
        (
            0.50,
            Proto::Http,
            "request",
            json!({"path": "/fw/96xxupgrade.txt", "user_agent": "AVAYA/96x0 9620"}),
        ),
        (
            0.60,
            Proto::Http,
            "response",
            json!({"path": "/fw/96xxupgrade.txt", "status": 200, "body_bytes_sent": 300}),
        ),
        (
            2.50,
            Proto::Sip,
            "request",
            json!({"method": "REGISTER", "auth": null}),
        ),
        (
            2.51,
            Proto::Sip,
            "request",
            json!({"method": "REGISTER", "auth": {"result": "ok"}, "user_agent": "Avaya one-X Deskphone 2.6.1.0 001b4f27312a"}),
        ),
    ])
}

fn t(s: &str) -> Matcher {
    Matcher::Text(s.into())
}

fn rule(f: impl FnOnce(&mut MatchRule)) -> Matcher {
    let mut r = MatchRule::default();
    f(&mut r);
    Matcher::Rule(r)
}

fn one(c: CheckSpec, timeline: &Timeline) -> CheckResult {
    judge(&spec(vec![c]), timeline, &Vars::new()).remove(0)
}

#[test]
fn equals_passes_and_fails_with_the_nearest_candidate_named() {
    let ok = one(
        check(
            "A",
            Proto::Http,
            "request",
            &[("path", t("/fw/96xxupgrade.txt"))],
        ),
        &boot(),
    );
    assert_eq!(ok.verdict, Verdict::Pass);
    assert_eq!(ok.events, vec![2]);
    let bad = one(
        check(
            "A",
            Proto::Http,
            "request",
            &[("path", t("/96xxupgrade.txt"))],
        ),
        &boot(),
    );
    assert_eq!(bad.verdict, Verdict::Fail);
    assert_eq!(bad.violation, Some(Violation::Missing));
    assert!(
        bad.observed.contains("path is \"/fw/96xxupgrade.txt\""),
        "{}",
        bad.observed
    );
}

#[test]
fn numbers_match_as_numbers_or_text() {
    assert_eq!(
        one(
            check(
                "A",
                Proto::Http,
                "response",
                &[("status", Matcher::Integer(200))]
            ),
            &boot()
        )
        .verdict,
        Verdict::Pass
    );
    assert_eq!(
        one(
            check("A", Proto::Http, "response", &[("status", t("200"))]),
            &boot()
        )
        .verdict,
        Verdict::Pass
    );
    assert_eq!(
        one(
            check(
                "A",
                Proto::Http,
                "response",
                &[("status", Matcher::Integer(404))]
            ),
            &boot()
        )
        .verdict,
        Verdict::Fail
    );
}

#[test]
fn contains_works_on_strings_and_lists() {
    let c = |f: &str, v: toml::Value| {
        check(
            "A",
            Proto::Dhcp,
            "received",
            &[(f, rule(|r| r.contains = Some(v)))],
        )
    };
    assert_eq!(
        one(
            c("parameter_request_list", toml::Value::Integer(242)),
            &boot()
        )
        .verdict,
        Verdict::Pass
    );
    assert_eq!(
        one(
            c("parameter_request_list", toml::Value::Integer(150)),
            &boot()
        )
        .verdict,
        Verdict::Fail
    );
    assert_eq!(
        one(c("msg_type", "COVER".into()), &boot()).verdict,
        Verdict::Pass
    );
    assert_eq!(
        one(c("msg_type", "OFFER".into()), &boot()).verdict,
        Verdict::Fail
    );
}

#[test]
fn regex_range_and_present() {
    let ua = |re: &str| {
        check(
            "A",
            Proto::Sip,
            "request",
            &[("user_agent", rule(|r| r.regex = Some(re.into())))],
        )
    };
    assert_eq!(
        one(ua(r"Deskphone 2\.6\.1\.0 "), &boot()).verdict,
        Verdict::Pass
    );
    assert_eq!(
        one(ua(r"Deskphone 2\.6\.0\.0 "), &boot()).verdict,
        Verdict::Fail
    );
    let rng = |lo, hi| {
        check(
            "A",
            Proto::Http,
            "response",
            &[("body_bytes_sent", rule(|r| r.range = Some([lo, hi])))],
        )
    };
    assert_eq!(one(rng(100.0, 300.0), &boot()).verdict, Verdict::Pass);
    assert_eq!(one(rng(301.0, 400.0), &boot()).verdict, Verdict::Fail);
    let present = |p| {
        check(
            "A",
            Proto::Sip,
            "request",
            &[("auth", rule(|r| r.present = Some(p)))],
        )
    };
    let absent_auth = one(present(false), &boot());
    assert_eq!(absent_auth.events, vec![4], "null counts as absent");
    assert_eq!(one(present(true), &boot()).events, vec![5]);
    let never = check(
        "A",
        Proto::Sip,
        "request",
        &[("nonce_count", rule(|r| r.present = Some(true)))],
    );
    assert_eq!(one(never, &boot()).verdict, Verdict::Fail);
}

#[test]
fn nested_fields_match_by_dotted_path() {
    assert_eq!(
        one(
            check("A", Proto::Sip, "request", &[("auth.result", t("ok"))]),
            &boot()
        )
        .verdict,
        Verdict::Pass
    );
    assert_eq!(
        one(
            check(
                "A",
                Proto::Sip,
                "request",
                &[("auth.result", t("wrong_response"))]
            ),
            &boot()
        )
        .verdict,
        Verdict::Fail
    );
}

#[test]
fn after_orders_events_and_opens_the_window() {
    let mut first = check("ACK", Proto::Dhcp, "sent", &[("msg_type", t("ACK"))]);
    let mut get = check("GET", Proto::Http, "request", &[]);
    get.after = Some("ACK".into());
    let r = judge(
        &spec(vec![first.clone(), get.clone()]),
        &boot(),
        &Vars::new(),
    );
    assert_eq!(r[1].verdict, Verdict::Pass);
    // the same GET required after the REGISTER: nothing comes after it
    first = check("REG", Proto::Sip, "request", &[("auth.result", t("ok"))]);
    get.after = Some("REG".into());
    let r = judge(&spec(vec![first, get]), &boot(), &Vars::new());
    assert_eq!(r[1].verdict, Verdict::Fail);
    assert!(
        r[1].observed.contains("no http request event at all"),
        "{}",
        r[1].observed
    );
}

#[test]
fn a_missing_anchor_makes_dependents_not_exercised() {
    let first = check("NAK", Proto::Dhcp, "sent", &[("msg_type", t("NAK"))]);
    let mut then = check("B", Proto::Dhcp, "received", &[]);
    then.after = Some("NAK".into());
    let r = judge(&spec(vec![first, then]), &boot(), &Vars::new());
    assert_eq!(r[0].verdict, Verdict::Fail);
    assert_eq!(r[1].verdict, Verdict::NotExercised);
    assert_eq!(scenario_verdict(&r), Verdict::Fail);
}

#[test]
fn within_distinguishes_on_time_from_too_late() {
    let ack = check("ACK", Proto::Dhcp, "sent", &[]);
    let mut reg = check("REG", Proto::Sip, "request", &[]);
    reg.after = Some("ACK".into());
    reg.within = Some(5.0);
    assert_eq!(
        judge(&spec(vec![ack.clone(), reg.clone()]), &boot(), &Vars::new())[1].verdict,
        Verdict::Pass
    );
    reg.within = Some(1.0);
    let r = judge(&spec(vec![ack, reg]), &boot(), &Vars::new());
    assert_eq!(r[1].verdict, Verdict::Fail);
    assert!(matches!(r[1].violation, Some(Violation::TooLate { within_s, .. }) if within_s == 1.0));
}

#[test]
fn absent_passes_on_silence_and_fails_on_the_first_offender() {
    let mut no_bin = check(
        "NOBIN",
        Proto::Http,
        "request",
        &[("path", rule(|r| r.regex = Some(r"\.bin$".into())))],
    );
    no_bin.absent = true;
    assert_eq!(one(no_bin.clone(), &boot()).verdict, Verdict::Pass);
    no_bin
        .matchers
        .insert("path".into(), rule(|r| r.regex = Some(r"\.txt$".into())));
    let r = one(no_bin, &boot());
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.violation, Some(Violation::Forbidden));
    assert_eq!(r.events, vec![2]);
}

#[test]
fn counts_bound_the_number_of_matches() {
    let mut c = check("C", Proto::Sip, "request", &[("method", t("REGISTER"))]);
    c.count = Some(CountSpec {
        min: Some(2),
        max: Some(2),
    });
    assert_eq!(one(c.clone(), &boot()).verdict, Verdict::Pass);
    c.count = Some(CountSpec {
        min: None,
        max: Some(1),
    });
    let r = one(c, &boot());
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.violation, Some(Violation::WrongCount { seen: 2 }));
}

#[test]
fn variables_are_expanded_in_matchers() {
    let mut vars = Vars::new();
    vars.insert("server_ip", "10.66.0.100".into());
    let c = check("A", Proto::Dhcp, "sent", &[("yiaddr", t("${server_ip}"))]);
    assert_eq!(
        judge(&spec(vec![c.clone()]), &boot(), &vars)[0].verdict,
        Verdict::Pass
    );
    assert_eq!(
        judge(&spec(vec![c]), &boot(), &Vars::new())[0].verdict,
        Verdict::Fail
    );
}

#[test]
fn should_checks_do_not_fail_the_scenario_and_errors_win() {
    let mut c = check("S", Proto::Http, "request", &[("path", t("/nope"))]);
    c.level = Level::Should;
    let r = judge(&spec(vec![c]), &boot(), &Vars::new());
    assert_eq!(r[0].verdict, Verdict::Fail);
    assert_eq!(scenario_verdict(&r), Verdict::Pass);
    let mut e = r[0].clone();
    e.verdict = Verdict::Error;
    assert_eq!(scenario_verdict(&[e]), Verdict::Error);
    assert_eq!(scenario_verdict(&[]), Verdict::Error);
}

#[test]
fn check_passed_reports_the_until_condition() {
    let s = spec(vec![check(
        "REG",
        Proto::Sip,
        "request",
        &[("auth.result", t("ok"))],
    )]);
    assert!(check_passed(&s, "REG", &boot(), &Vars::new()));
    let empty = Timeline::default();
    assert!(!check_passed(&s, "REG", &empty, &Vars::new()));
}
