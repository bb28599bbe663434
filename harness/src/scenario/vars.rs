//! `${name}` lab variables in scenario strings and text fixtures.
//!
//! A scenario is written once and runs in every lab, but addresses and ports differ per lab
//! (`10.66.0.1:80` in a namespace, `127.77.0.1:41234` on loopback, `127.77.1.1:…` for a
//! second loopback scenario running at the same time). The lab fills in these
//! values; everything else in the file is literal. `$NAME` without braces is left alone: it
//! belongs to Avaya's script language (`IF $MODEL4 SEQ 9620 …`).

use std::collections::BTreeMap;

/// Every variable a scenario may use.
pub const KNOWN: &[&str] = &[
    "server_ip",
    "dead_ip",
    "http_port",
    "https_port",
    "sip_port",
    "sip_port_2",
    "sip_port_3",
    "sip_port_4",
    "phone_mac",
    "phone_mac_hex",
    "sip_domain",
    // The run's phone profile (`crate::profile`), one per parameter.
    "profile.upgrade_script",
    "profile.http_user_agent",
    "profile.sip_user_agent",
    "profile.model",
    "profile.image_models",
    "profile.other_image_models",
    "profile.app_prefix",
    "profile.http_user_agent_at_start",
];

/// Controllers a scenario may have (`${sip_port}` and `${sip_port_2}` … `${sip_port_4}`).
pub const MAX_CONTROLLERS: usize = 4;

/// The values for one run.
pub type Vars = BTreeMap<&'static str, String>;

/// Finds the first `${name}` whose name is not known.
pub fn check_known(s: &str) -> Result<(), String> {
    for name in names(s) {
        if !KNOWN.contains(&name) {
            return Err(name.to_string());
        }
    }
    Ok(())
}

/// The name of every `${name}` in `s`, in order.
pub fn names(s: &str) -> impl Iterator<Item = &str> {
    s.match_indices("${").filter_map(move |(i, _)| {
        let rest = &s[i + 2..];
        rest.find('}').map(|end| &rest[..end])
    })
}

/// `s` with every `${name}` replaced by `0`: what a value looks like for checks that do
/// not depend on the lab (a file path's syntax).
pub fn with_sample_values(s: &str) -> String {
    let zeros: Vars = KNOWN.iter().map(|k| (*k, "0".to_string())).collect();
    expand(s, &zeros)
}

/// Replaces every known `${name}`; unknown names stay as written (loading refused them).
pub fn expand(s: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[i..i + 3 + end]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_known_and_keeps_script_variables() {
        let mut v = Vars::new();
        v.insert("server_ip", "10.66.0.1".into());
        v.insert("http_port", "80".into());
        assert_eq!(
            expand(
                "HTTPSRVR=${server_ip},HTTPPORT=${http_port} IF $MODEL4 SEQ 9620 ${x",
                &v
            ),
            "HTTPSRVR=10.66.0.1,HTTPPORT=80 IF $MODEL4 SEQ 9620 ${x"
        );
        assert_eq!(check_known("a ${server_ip} b ${nope}"), Err("nope".into()));
        assert_eq!(check_known("$MODEL4 and ${sip_port}"), Ok(()));
        assert_eq!(with_sample_values("${phone_mac_hex}/a.txt"), "0/a.txt");
    }
}
