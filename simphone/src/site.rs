//! What a lease tells the phone about provisioning: `siaddr` and option 66 (low-precedence
//! HTTPSRVR), option 43 behind Avaya's `6889` marker, and the site-specific option (SSON,
//! default 242), applied to [`Settings`] in the documented precedence (domain.md "DHCP").
//!
//! Owns: the order in which those values are applied, which pairs are ignored and why, and
//! the fault switches that bend exactly one of these rules (`ignore-option242`,
//! `option242-case-sensitive-names`, `option242-stop-at-malformed`,
//! `option242-accept-overlong`, `option43-without-marker`, `siaddr-over-site-option`).
//! Never: parses the option string or validates a value itself — `provisioning::option242`
//! splits, `provisioning::settings` validates — and never touches the network. The caller
//! logs the returned [`Applied`] report as a milestone.

use provisioning::option242::{self, Pair};
use provisioning::settings::{MAX_VALUE_LEN, Settings, Source};
use serde_json::{Value, json};

use crate::dhcp::Lease;
use crate::fault::{Fault, Faults};

/// What applying a lease did, for the log: one entry per value offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// `(name, value, where from)` that took effect.
    pub applied: Vec<(String, String, &'static str)>,
    /// `(name, value, why)` that did not.
    pub ignored: Vec<(String, String, String)>,
    /// Malformations of the site option string, as `provisioning` reports them.
    pub findings: Vec<String>,
}

impl Applied {
    fn took(&mut self, name: &str, value: &str, from: &'static str) {
        self.applied
            .push((name.to_string(), value.to_string(), from));
    }

    fn refused(&mut self, name: &str, value: &str, why: impl Into<String>) {
        self.ignored
            .push((name.to_string(), value.to_string(), why.into()));
    }

    /// The milestone fields: `applied`, `ignored`, `findings`.
    pub fn to_json(&self) -> Value {
        let applied: Vec<Value> = self
            .applied
            .iter()
            .map(|(n, v, from)| json!({"name": n, "value": v, "from": from}))
            .collect();
        let ignored: Vec<Value> = self
            .ignored
            .iter()
            .map(|(n, v, why)| json!({"name": n, "value": v, "why": why}))
            .collect();
        json!({"applied": applied, "ignored": ignored, "findings": self.findings})
    }
}

/// The HTTPSRVR the DHCP header and standard options name: option 66, else `siaddr`.
fn dhcp_file_server(lease: &Lease) -> Option<(String, &'static str)> {
    if let Some(name) = lease.option66.as_deref().filter(|s| !s.is_empty()) {
        return Some((name.to_string(), "option 66"));
    }
    (!lease.siaddr.is_unspecified()).then(|| (lease.siaddr.to_string(), "siaddr"))
}

/// Feed what a lease carries into `settings`: siaddr and option 66 as low-precedence
/// HTTPSRVR (Source::Dhcp; option 66 beats siaddr), then option 43 and the site option
/// (Source::SiteOption; the site option comes last, so it wins over option 43 too).
pub fn apply_lease(settings: &mut Settings, lease: &Lease, faults: &Faults) -> Applied {
    let mut report = Applied::default();
    let dhcp_server = dhcp_file_server(lease);
    if !lease.siaddr.is_unspecified() {
        set(
            settings,
            &mut report,
            "HTTPSRVR",
            &lease.siaddr.to_string(),
            Source::Dhcp,
            "siaddr",
        );
    }
    if let Some(name) = lease.option66.as_deref().filter(|s| !s.is_empty()) {
        set(
            settings,
            &mut report,
            "HTTPSRVR",
            name,
            Source::Dhcp,
            "option 66",
        );
    }
    if faults.has(Fault::IgnoreOption242) {
        if lease.site_option.is_some() || lease.option43.is_some() {
            tracing::info!("fault ignore-option242: site option not applied");
            report.refused("*", "", "fault ignore-option242: site option not applied");
        }
        return report;
    }
    if let Some(raw) = &lease.option43 {
        apply_option43(settings, &mut report, raw, faults);
    }
    if let Some(raw) = &lease.site_option {
        apply_site_option(settings, &mut report, raw, faults);
    }
    if faults.has(Fault::SiaddrOverSiteOption)
        && let Some((server, from)) = dhcp_server
    {
        // The fault: the DHCP-level server is applied as if it outranked the site option.
        tracing::info!(%server, "fault siaddr-over-site-option: {from} overrides HTTPSRVR");
        set(
            settings,
            &mut report,
            "HTTPSRVR",
            &server,
            Source::SiteOption,
            "siaddr-over-site-option",
        );
    }
    report
}

fn set(
    settings: &mut Settings,
    report: &mut Applied,
    name: &str,
    value: &str,
    source: Source,
    from: &'static str,
) {
    match settings.set(name, value, source) {
        Ok(()) => report.took(name, value, from),
        Err(why) => report.refused(name, value, format!("{from}: {why}")),
    }
}

/// Option 43 counts only when its first sub-option is code 1 = `6889` (domain.md "DHCP").
fn apply_option43(settings: &mut Settings, report: &mut Applied, raw: &[u8], faults: &Faults) {
    let pairs = match option242::parse_option43(raw) {
        Some(pairs) => pairs,
        None if faults.has(Fault::Option43WithoutMarker) => {
            tracing::info!("fault option43-without-marker: option 43 applied without 6889");
            let subs = option242::option43_suboptions(raw);
            option242::option43_values(&subs)
        }
        None => {
            tracing::info!("option 43 without the 6889 marker: ignored");
            report.refused("option 43", "", "no 6889 marker in sub-option 1");
            return;
        }
    };
    for (name, value) in pairs {
        set(
            settings,
            report,
            &name,
            &value,
            Source::SiteOption,
            "option 43",
        );
    }
}

/// Apply the site option string pair by pair, with the faults that bend the rules.
fn apply_site_option(settings: &mut Settings, report: &mut Applied, raw: &[u8], faults: &Faults) {
    let text = String::from_utf8_lossy(raw);
    let site = option242::parse(&text);
    report.findings = site.findings.iter().map(|f| f.to_string()).collect();
    let stop_at = if faults.has(Fault::Option242StopAtMalformed) {
        site.findings
            .iter()
            .filter(|f| f.kind.is_malformed_pair())
            .map(|f| f.offset)
            .min()
    } else {
        None
    };
    for Pair {
        name,
        value,
        offset,
    } in &site.pairs
    {
        if let Some(stop) = stop_at
            && *offset >= stop
        {
            report.refused(
                name,
                value,
                "fault option242-stop-at-malformed: after a malformed pair",
            );
            continue;
        }
        if faults.has(Fault::Option242CaseSensitiveNames) && *name != name.to_ascii_uppercase() {
            report.refused(
                name,
                value,
                "fault option242-case-sensitive-names: unknown name",
            );
            continue;
        }
        let value = if faults.has(Fault::Option242AcceptOverlong)
            && value.chars().count() > MAX_VALUE_LEN
        {
            tracing::info!(%name, "fault option242-accept-overlong: value cut to 255");
            value.chars().take(MAX_VALUE_LEN).collect()
        } else {
            value.clone()
        };
        set(
            settings,
            report,
            name,
            &value,
            Source::SiteOption,
            "site option",
        );
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;

    fn lease(site: Option<&str>, option66: Option<&str>) -> Lease {
        Lease {
            address: Ipv4Addr::new(10, 0, 0, 50),
            subnet_mask: None,
            router: None,
            dns: Vec::new(),
            server_id: Ipv4Addr::new(10, 0, 0, 1),
            siaddr: Ipv4Addr::new(10, 0, 0, 2),
            option66: option66.map(str::to_string),
            site_option: site.map(|s| s.as_bytes().to_vec()),
            option43: None,
            lease_time: Duration::from_secs(3600),
            t1: Duration::from_secs(1800),
            t2: Duration::from_secs(3150),
            start: Duration::ZERO,
            vlan: None,
        }
    }

    /// Apply `site` with and without `fault`.
    fn both(site: &str, fault: Fault) -> (Settings, Settings) {
        let l = lease(Some(site), None);
        let mut clean = Settings::new();
        apply_lease(&mut clean, &l, &Faults::none());
        let mut faulty = Settings::new();
        apply_lease(&mut faulty, &l, &Faults::from_list(&[fault]));
        (clean, faulty)
    }

    #[test]
    fn site_option_overrides_siaddr_and_option66_overrides_siaddr() {
        let mut s = Settings::new();
        let report = apply_lease(
            &mut s,
            &lease(Some("HTTPSRVR=10.0.0.9,HTTPDIR=fw\0"), Some("10.0.0.3")),
            &Faults::none(),
        );
        assert_eq!(s.http_servers(), vec!["10.0.0.9".to_string()]);
        assert_eq!(s.http_dir(), "fw");
        assert!(
            report
                .applied
                .iter()
                .any(|(n, v, from)| n == "HTTPSRVR" && v == "10.0.0.9" && *from == "site option")
        );
        let mut s = Settings::new();
        apply_lease(&mut s, &lease(None, Some("10.0.0.3")), &Faults::none());
        assert_eq!(s.http_servers(), vec!["10.0.0.3".to_string()]);
        let mut s = Settings::new();
        apply_lease(&mut s, &lease(None, None), &Faults::none());
        assert_eq!(s.http_servers(), vec!["10.0.0.2".to_string()]);
    }

    #[test]
    fn fault_siaddr_over_site_option_lets_the_dhcp_header_win() {
        let (clean, faulty) = both("HTTPSRVR=10.0.0.9", Fault::SiaddrOverSiteOption);
        assert_eq!(clean.http_servers(), vec!["10.0.0.9".to_string()]);
        assert_eq!(faulty.http_servers(), vec!["10.0.0.2".to_string()]);
        let l = lease(Some("HTTPSRVR=10.0.0.9"), Some("10.0.0.3"));
        let mut faulty = Settings::new();
        apply_lease(
            &mut faulty,
            &l,
            &Faults::from_list(&[Fault::SiaddrOverSiteOption]),
        );
        assert_eq!(faulty.http_servers(), vec!["10.0.0.3".to_string()]);
    }

    #[test]
    fn fault_ignore_option242_leaves_only_the_dhcp_fallbacks() {
        let (clean, faulty) = both("HTTPSRVR=10.0.0.9,HTTPDIR=fw", Fault::IgnoreOption242);
        assert_eq!(clean.http_servers(), vec!["10.0.0.9".to_string()]);
        assert_eq!(faulty.http_servers(), vec!["10.0.0.2".to_string()]);
        assert_eq!(faulty.http_dir(), "");
    }

    #[test]
    fn names_are_case_insensitive_and_values_keep_their_case() {
        let (clean, faulty) = both(
            "httpsrvr=10.0.0.9,HttpDir=FW/Lab,HTTPPORT=8080",
            Fault::Option242CaseSensitiveNames,
        );
        assert_eq!(clean.http_servers(), vec!["10.0.0.9".to_string()]);
        assert_eq!(clean.http_dir(), "FW/Lab");
        assert_eq!(clean.http_port(), 8080);
        // The fault: lower- and mixed-case names are unknown; upper-case ones still apply.
        assert_eq!(faulty.http_servers(), vec!["10.0.0.2".to_string()]);
        assert_eq!(faulty.http_dir(), "");
        assert_eq!(faulty.http_port(), 8080);
    }

    #[test]
    fn quoted_lists_keep_their_order() {
        let mut s = Settings::new();
        apply_lease(
            &mut s,
            &lease(Some("HTTPSRVR=\"10.0.0.9,10.0.0.1\",HTTPDIR=fw"), None),
            &Faults::none(),
        );
        assert_eq!(s.http_servers(), vec!["10.0.0.9", "10.0.0.1"]);
        assert_eq!(s.http_dir(), "fw");
    }

    #[test]
    fn unknown_names_and_invalid_values_are_ignored_and_defaults_stay() {
        let mut s = Settings::new();
        let report = apply_lease(
            &mut s,
            &lease(
                Some("FOO=bar,HTTPPORT=99999,L2QVLAN=5000,HTTPSRVR=10.0.0.9,HTTPDIR=fw"),
                None,
            ),
            &Faults::none(),
        );
        assert_eq!(s.http_port(), 80);
        assert_eq!(s.get("L2QVLAN"), Some("0"));
        assert_eq!(s.http_servers(), vec!["10.0.0.9"]);
        assert_eq!(s.http_dir(), "fw");
        let ignored: Vec<&str> = report.ignored.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(ignored, vec!["FOO", "HTTPPORT", "L2QVLAN"]);
    }

    #[test]
    fn malformed_pairs_are_skipped_and_later_good_pairs_still_apply() {
        for site in [
            "HTTPDIR,HTTPSRVR=10.0.0.9,HTTPPORT=8080",
            "SIG=,HTTPSRVR=10.0.0.9,HTTPPORT=8080",
            "HTTPDIR = x,HTTPSRVR=10.0.0.9,HTTPPORT=8080",
            ",,HTTPSRVR=10.0.0.9,HTTPPORT=8080,",
        ] {
            let (clean, faulty) = both(site, Fault::Option242StopAtMalformed);
            assert_eq!(clean.http_servers(), vec!["10.0.0.9"], "{site}");
            assert_eq!(clean.http_port(), 8080, "{site}");
            assert_eq!(clean.http_dir(), "", "{site}");
            // The fault loses everything after the first malformed pair.
            assert_eq!(faulty.http_servers(), vec!["10.0.0.2"], "{site}");
            assert_eq!(faulty.http_port(), 80, "{site}");
        }
        // A malformed pair at the end costs the faulty phone nothing: it is that precise.
        let (clean, faulty) = both("HTTPSRVR=10.0.0.9,", Fault::Option242StopAtMalformed);
        assert_eq!(clean, faulty);
    }

    #[test]
    fn over_long_values_are_ignored_unless_accept_overlong() {
        let long_dir = "d".repeat(256);
        let site = format!("HTTPDIR={long_dir},HTTPSRVR=10.0.0.9");
        let (clean, faulty) = both(&site, Fault::Option242AcceptOverlong);
        assert_eq!(clean.http_dir(), "");
        assert_eq!(clean.http_servers(), vec!["10.0.0.9"]);
        assert_eq!(faulty.http_dir(), "d".repeat(255));
        // 255 characters exactly is fine for both.
        let (clean, _) = both(
            &format!("HTTPDIR={}", "d".repeat(255)),
            Fault::Option242AcceptOverlong,
        );
        assert_eq!(clean.http_dir().len(), 255);
        // Over-long names are unknown names either way.
        let (clean, faulty) = both(
            &format!("{}=1,HTTPSRVR=10.0.0.9", "N".repeat(31)),
            Fault::Option242AcceptOverlong,
        );
        assert_eq!(clean, faulty);
        assert_eq!(clean.http_servers(), vec!["10.0.0.9"]);
    }

    fn tlv(code: u8, v: &[u8]) -> Vec<u8> {
        let mut out = vec![code, v.len() as u8];
        out.extend_from_slice(v);
        out
    }

    #[test]
    fn option43_counts_only_with_the_6889_marker() {
        let mut l = lease(None, None);
        l.option43 = Some([tlv(1, b"6889"), tlv(2, b"10.0.0.7"), tlv(3, b"fw")].concat());
        let mut s = Settings::new();
        apply_lease(&mut s, &l, &Faults::none());
        assert_eq!(s.http_servers(), vec!["10.0.0.7".to_string()]);
        assert_eq!(s.http_dir(), "fw");
        for unmarked in [
            [tlv(1, b"1234"), tlv(2, b"10.0.0.7")].concat(),
            [tlv(2, b"10.0.0.7"), tlv(1, b"6889")].concat(),
            tlv(2, b"10.0.0.7"),
        ] {
            l.option43 = Some(unmarked.clone());
            let mut clean = Settings::new();
            let report = apply_lease(&mut clean, &l, &Faults::none());
            assert_eq!(clean.http_servers(), vec!["10.0.0.2".to_string()]);
            assert!(report.ignored.iter().any(|(n, _, _)| n == "option 43"));
            let mut faulty = Settings::new();
            apply_lease(
                &mut faulty,
                &l,
                &Faults::from_list(&[Fault::Option43WithoutMarker]),
            );
            assert_eq!(faulty.http_servers(), vec!["10.0.0.7".to_string()]);
        }
    }

    #[test]
    fn the_site_option_outranks_option43() {
        let mut l = lease(Some("HTTPSRVR=10.0.0.9"), None);
        l.option43 = Some([tlv(1, b"6889"), tlv(2, b"10.0.0.7"), tlv(3, b"fw")].concat());
        let mut s = Settings::new();
        apply_lease(&mut s, &l, &Faults::none());
        assert_eq!(s.http_servers(), vec!["10.0.0.9".to_string()]);
        assert_eq!(s.http_dir(), "fw");
    }

    proptest::proptest! {
        #[test]
        fn applying_any_lease_never_panics(
            site in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)),
            near in "[A-Za-z=,\" \\x00]{0,80}",
            option43 in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)),
            faults in proptest::collection::vec(0usize..Fault::ALL.len(), 0..4),
        ) {
            let faults: Vec<Fault> = faults.into_iter().map(|i| Fault::ALL[i]).collect();
            let faults = Faults::from_list(&faults);
            for raw in [site.clone(), Some(near.clone().into_bytes())] {
                let mut l = lease(None, Some("files.lab.test"));
                l.site_option = raw;
                l.option43 = option43.clone();
                let mut s = Settings::new();
                let report = apply_lease(&mut s, &l, &faults);
                let _ = report.to_json();
            }
        }
    }

    #[test]
    fn the_report_names_every_decision() {
        let mut s = Settings::new();
        let r = apply_lease(
            &mut s,
            &lease(Some("HTTPDIR,FOO=1,HTTPSRVR=10.0.0.9"), None),
            &Faults::none(),
        );
        let j = r.to_json();
        assert_eq!(j["findings"].as_array().map(Vec::len), Some(1));
        assert_eq!(j["ignored"][0]["name"], "FOO");
        assert!(
            j["applied"]
                .as_array()
                .is_some_and(|a| a.iter().any(|p| p["value"] == "10.0.0.9"))
        );
    }
}
