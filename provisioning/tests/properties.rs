//! Property tests: every parser facing the network or a file never panics, and what we write
//! reads back the same (design.md "properties").
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use provisioning::firmware;
use provisioning::option242;
use provisioning::script::{self, Interpreter, PhoneVars, Statement};
use provisioning::settings::{Settings, SipControllerEntry, Source};

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_]{0,29}"
}

/// A value that needs no quoting in an option 242 string.
fn plain_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9./:;_-]{1,40}"
}

proptest! {
    #[test]
    fn option242_parse_never_panics(s in any::<String>()) {
        let parsed = option242::parse(&s);
        for p in &parsed.pairs {
            prop_assert!(s.get(p.offset..).is_some_and(|rest| rest.starts_with(&p.name)));
        }
        for f in &parsed.findings {
            prop_assert!(f.offset <= s.len());
            let _ = f.to_string();
        }
        let _ = parsed.apply(&mut Settings::new());
    }

    #[test]
    fn option242_parse_never_panics_on_near_miss_strings(s in "[A-Za-z=,\" \\x00]{0,60}") {
        let _ = option242::parse(&s).apply(&mut Settings::new());
    }

    #[test]
    fn option242_round_trip(
        pairs in prop::collection::vec((name(), plain_value(), any::<bool>(), prop::collection::vec(plain_value(), 0..3)), 1..8)
    ) {
        let mut text = Vec::new();
        let mut want = Vec::new();
        for (n, v, quoted, more) in &pairs {
            if *quoted || !more.is_empty() {
                let mut list = vec![v.clone()];
                list.extend(more.iter().cloned());
                let joined = list.join(",");
                text.push(format!("{n}=\"{joined}\""));
                want.push((n.clone(), joined));
            } else {
                text.push(format!("{n}={v}"));
                want.push((n.clone(), v.clone()));
            }
        }
        let parsed = option242::parse(&text.join(","));
        prop_assert!(parsed.findings.is_empty(), "{:?}", parsed.findings);
        let got: Vec<(String, String)> = parsed.pairs.into_iter().map(|p| (p.name, p.value)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn option43_never_panics(b in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Some(pairs) = option242::parse_option43(&b) {
            let _ = option242::apply_option43(&pairs, &mut Settings::new());
        }
        // The raw walk never reads past the input and keeps wire order.
        let subs = option242::option43_suboptions(&b);
        let walked: usize = subs.iter().map(|(_, v)| v.len() + 2).sum();
        prop_assert!(walked <= b.len());
        let _ = option242::option43_values(&subs);
    }

    #[test]
    fn script_parse_and_run_never_panic(s in any::<String>()) {
        let parsed = script::parse("f", &s);
        let mut it = Interpreter::new(PhoneVars { model4: "9620".into(), ..PhoneVars::default() })
            .with_statement_limit(200);
        it.start(parsed);
        let mut settings = Settings::new();
        it.run(&mut settings, |_| None);
    }

    #[test]
    fn script_bytes_never_panic_and_refused_files_run_nothing(
        b in prop::collection::vec(any::<u8>(), 0..2000),
        long in 0usize..6000,
    ) {
        let mut bytes = b.clone();
        bytes.extend(std::iter::repeat_n(b'x', long));
        let parsed = script::parse_bytes("f", &bytes);
        for (line, _) in &parsed.findings {
            prop_assert!(*line >= 1);
        }
        if bytes.contains(&0) {
            prop_assert!(parsed.lines.is_empty());
        }
        let mut it = Interpreter::new(PhoneVars::default()).with_statement_limit(200);
        it.start(parsed);
        let mut settings = Settings::new();
        it.run(&mut settings, |_| None);
    }

    #[test]
    fn script_like_text_never_panics(
        lines in prop::collection::vec("(SET|GET|IF|GOTO|# |#|set|goto|if) ?[A-Z$\" ]{0,12}( SEQ| GOTO)?[ A-Z\"]{0,8}\r?", 0..30)
    ) {
        let text = lines.join("\n");
        let mut it = Interpreter::new(PhoneVars::default()).with_statement_limit(500);
        it.start(script::parse("f", &text));
        let mut settings = Settings::new();
        let mut budget = 20;
        it.run(&mut settings, |f| {
            budget -= 1;
            (budget > 0).then(|| script::parse(f, &text))
        });
        prop_assert!(it.trace().len() <= 2 * 500 + 100);
    }

    #[test]
    fn statement_display_round_trips(
        st in prop_oneof![
            (name(), "[ -!#-~]{0,20}").prop_map(|(name, value)| Statement::Set { name, value }),
            "[!-~&&[^\"]]{1,20}".prop_map(|file| Statement::Get { file }),
            (name(), "[!-~&&[^\"]]{1,10}", name()).prop_map(|(var, value, label)| Statement::If { var, value, label }),
            name().prop_map(|label| Statement::Goto { label }),
            name().prop_map(|name| Statement::Label { name }),
        ]
    ) {
        let text = st.to_string();
        let parsed = script::parse("f", &text);
        prop_assert_eq!(parsed.lines.len(), 1, "{} {:?}", text, parsed.findings);
        prop_assert_eq!(&parsed.lines[0].statement, &st);
    }

    #[test]
    fn settings_set_never_panics(n in any::<String>(), v in any::<String>(), src in 0u8..5) {
        let source = [Source::Default, Source::Dhcp, Source::SiteOption, Source::SettingsFile, Source::Manual][usize::from(src)];
        let mut s = Settings::new();
        let before = s.clone();
        if s.set(&n, &v, source).is_err() {
            prop_assert_eq!(s, before);
        }
    }

    #[test]
    fn controller_entry_display_round_trips(s in any::<String>()) {
        if let Ok(e) = SipControllerEntry::parse(&s) {
            prop_assert_eq!(SipControllerEntry::parse(&e.to_string()).unwrap(), e);
        }
    }

    #[test]
    fn verify_never_panics(b in prop::collection::vec(any::<u8>(), 0..400)) {
        let keys = [firmware::lab_signing_key().verifying_key()];
        let target = firmware::Target {
            model4: "9620",
            hardware: "D01A",
            kind: firmware::ImageKind::Application,
            trusted: &keys,
        };
        prop_assert!(firmware::verify(&b, &target).is_err());
        let mut framed = b"PCFW\x02\x00".to_vec();
        framed.extend_from_slice(&b);
        prop_assert!(firmware::verify(&framed, &target).is_err());
        let _ = firmware::parse_header(&framed);
    }

    #[test]
    fn firmware_round_trip_and_any_single_flip_is_refused(
        app in "[A-Za-z0-9_.]{1,30}",
        version in "[0-9.]{1,12}",
        payload in prop::collection::vec(any::<u8>(), 0..200),
        flip_at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let key = firmware::lab_signing_key();
        let spec = firmware::ImageSpec {
            kind: firmware::ImageKind::Application,
            models: &["9620", "96x1"],
            hardware: &["D01A"],
            version: &version,
            app_name: &app,
        };
        let img = firmware::build(&spec, &payload, &key);
        let keys = [key.verifying_key()];
        let target = firmware::Target {
            model4: "9641",
            hardware: "D01A",
            kind: firmware::ImageKind::Application,
            trusted: &keys,
        };
        let info = firmware::verify(&img, &target).unwrap();
        prop_assert_eq!(info.app_name, app);
        prop_assert_eq!(info.version, version);
        prop_assert_eq!(info.payload_len, payload.len() as u64);
        let mut bad = img.clone();
        let i = flip_at.index(bad.len());
        bad[i] ^= 1 << bit;
        prop_assert!(firmware::verify(&bad, &target).is_err());
        let cut = flip_at.index(img.len());
        prop_assert!(firmware::verify(&img[..cut], &target).is_err());
    }
}
