//! End-to-end boots of simphone in loopback mode against the test-only mini responders in
//! `mini`: DHCP → upgrade script → binary → reboot → script → settings → REGISTER 401 →
//! REGISTER 200, and every boot-level fault switch shown to change what the phone does.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fixtures::{self, NEW_APP, OLD_APP, PASSWORD, USER, version};
use crate::mini::{self, Log, Seen};
use simphone::boot::{NetMode, Phone, PhoneConfig};
use simphone::fault::{Fault, Faults};

/// Knobs of the lab, beside the phone's faults.
#[derive(Debug, Clone, Copy, Default)]
struct Lab {
    corrupt_binary: bool,
    /// Option 242 instead of the usual one; `{port}` stands for the file server's port.
    site: Option<&'static str>,
    /// More DHCP options (code, text with `{port}`).
    extra: &'static [(u8, &'static str)],
    /// The phone's `--sson` (default 242).
    sson: Option<u8>,
    /// Option 51 (default 3600 s).
    lease_secs: Option<u32>,
    /// The DHCP server NAKs renewals.
    nak_renewals: bool,
}

static NEXT: AtomicU8 = AtomicU8::new(1);

fn lease_address() -> Ipv4Addr {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    Ipv4Addr::new(127, 88, (std::process::id() % 200) as u8 + 1, n)
}

struct Run {
    seen: Vec<Seen>,
    lease: Ipv4Addr,
    state_dir: PathBuf,
}

impl Run {
    fn paths(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Http { path, .. } => Some(path.clone()),
                _ => None,
            })
            .collect()
    }
    fn registers(&self) -> Vec<(bool, String, u16)> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Register {
                    authorized,
                    user_agent,
                    answered,
                    ..
                } => Some((*authorized, user_agent.clone(), *answered)),
                _ => None,
            })
            .collect()
    }
    fn registered_ua(&self) -> Option<String> {
        self.registers()
            .into_iter()
            .find(|r| r.2 == 200)
            .map(|r| r.1)
    }
    fn count(&self, path: &str) -> usize {
        self.paths().iter().filter(|p| *p == path).count()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// Boot a phone with `faults` in a fresh lab; stop when `done` holds or after `limit`.
async fn boot(faults: &[Fault], lab: Lab, limit: Duration, done: fn(&[Seen]) -> bool) -> Run {
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let sip = mini::registrar(log.clone(), localhost, USER, PASSWORD).await;
    let mut files = HashMap::new();
    files.insert(
        "/fw/96xxupgrade.txt".to_string(),
        fixtures::upgrade_script().into_bytes(),
    );
    files.insert(
        "/fw/46xxsettings.txt".to_string(),
        fixtures::settings_file(sip).into_bytes(),
    );
    files.insert(
        format!("/fw/{NEW_APP}"),
        fixtures::image(lab.corrupt_binary),
    );
    let http = mini::http(log.clone(), localhost, files).await;
    let lease = lease_address();
    let port = http.port().to_string();
    let mut plan = mini::Plan::new(
        lease,
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::new(255, 0, 0, 0),
        lab.site
            .unwrap_or("HTTPSRVR=127.0.0.1,HTTPPORT={port},HTTPDIR=fw")
            .replace("{port}", &port),
    );
    plan.extra = lab
        .extra
        .iter()
        .map(|(code, text)| (*code, text.replace("{port}", &port).into_bytes()))
        .collect();
    plan.lease_secs = lab.lease_secs.unwrap_or(3600);
    plan.nak_renewals = lab.nak_renewals;
    let dhcp = mini::dhcp(log.clone(), plan).await;
    let state_dir =
        std::env::temp_dir().join(format!("simphone-e2e-{}-{}", std::process::id(), lease));
    let _ = std::fs::remove_dir_all(&state_dir);
    let cfg = PhoneConfig {
        mode: NetMode::Loopback(dhcp),
        mac: [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a],
        model4: "9620".into(),
        hardware: "D01A".into(),
        firmware: OLD_APP.into(),
        state_dir: Some(state_dir.clone()),
        user: USER.into(),
        password: PASSWORD.into(),
        sson: lab.sson.unwrap_or(242),
        upgrade_file: "96xxupgrade.txt".into(),
        time_scale: 20.0,
        seed: 7,
        trust_key: provisioning::firmware::lab_signing_key().verifying_key(),
        faults: Faults::from_list(faults),
        boot: simphone::boot::BootOptions::default(),
    };
    let phone = Phone::new(cfg).expect("phone");
    let task = tokio::spawn(phone.run());
    let start = tokio::time::Instant::now();
    while start.elapsed() < limit && !done(&mini::snapshot(&log)) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let _ = task.await;
    Run {
        seen: mini::snapshot(&log),
        lease,
        state_dir,
    }
}

fn registered(s: &[Seen]) -> bool {
    s.iter()
        .any(|e| matches!(e, Seen::Register { answered: 200, .. }))
}

const LIMIT: Duration = Duration::from_secs(8);
const SHORT: Duration = Duration::from_millis(2500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn clean_phone_upgrades_reboots_and_registers_with_the_new_version() {
    let run = boot(&[], Lab::default(), LIMIT, registered).await;
    let dhcp: Vec<&Seen> = run
        .seen
        .iter()
        .filter(|s| matches!(s, Seen::Dhcp { .. }))
        .collect();
    match dhcp.first() {
        Some(Seen::Dhcp {
            kind: 1,
            hostname,
            params,
            ..
        }) => {
            assert_eq!(hostname.as_deref(), Some("AVX27312A"));
            assert_eq!(params, &vec![1, 3, 6, 7, 15, 26, 42, 43, 242]);
        }
        other => panic!("first DHCP message should be a DISCOVER: {other:?}"),
    }
    let bin = format!("/fw/{NEW_APP}");
    assert_eq!(
        run.paths(),
        vec![
            "/fw/96xxupgrade.txt",
            bin.as_str(),
            "/fw/96xxupgrade.txt",
            "/fw/46xxsettings.txt"
        ],
        "{:#?}",
        run.seen
    );
    // The reboot shows as a DISCOVER between the binary and the second script fetch.
    assert!(mini::rebooted_after(&run.seen, &bin), "{:#?}", run.seen);
    let regs = run.registers();
    assert_eq!(
        regs.first().map(|r| (r.0, r.2)),
        Some((false, 401)),
        "{regs:?}"
    );
    assert!(regs.iter().any(|r| r.0 && r.2 == 200), "{regs:?}");
    assert!(
        regs.iter().all(|r| r.0 || r.2 == 401),
        "no 200 without credentials: {regs:?}"
    );
    let new_ua = format!("Avaya one-X Deskphone {} 001b4f27312a", version(NEW_APP));
    assert_eq!(run.registered_ua().as_deref(), Some(new_ua.as_str()));
    // Every request came from the leased address.
    for s in &run.seen {
        match s {
            Seen::Http {
                peer, user_agent, ..
            } => {
                assert_eq!(peer.ip(), IpAddr::V4(run.lease));
                assert!(
                    user_agent.starts_with("AVAYA/96x0-IPT-SIP-") && user_agent.ends_with(" 9620"),
                    "{user_agent}"
                );
            }
            Seen::Register { peer, .. } => assert_eq!(peer.ip(), IpAddr::V4(run.lease)),
            _ => {}
        }
    }
    let state =
        std::fs::read_to_string(run.state_dir.join("simphone-state.json")).expect("state written");
    assert!(state.contains(NEW_APP), "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn corrupt_binary_is_rejected_unless_accept_corrupt_binary() {
    let lab = Lab {
        corrupt_binary: true,
        ..Lab::default()
    };
    let (clean, faulty) = tokio::join!(
        boot(&[], lab, LIMIT, registered),
        boot(&[Fault::AcceptCorruptBinary], lab, LIMIT, registered)
    );
    let old_ua = format!("Avaya one-X Deskphone {} 001b4f27312a", version(OLD_APP));
    let new_ua = format!("Avaya one-X Deskphone {} 001b4f27312a", version(NEW_APP));
    assert_eq!(
        clean.registered_ua().as_deref(),
        Some(old_ua.as_str()),
        "{:#?}",
        clean.seen
    );
    assert!(
        !clean.state_dir.join("download.part").exists(),
        "rejected download deleted"
    );
    assert_eq!(
        clean.count("/fw/96xxupgrade.txt"),
        1,
        "no reboot after a rejected image"
    );
    assert_eq!(
        faulty.registered_ua().as_deref(),
        Some(new_ua.as_str()),
        "{:#?}",
        faulty.seen
    );
    assert_eq!(
        faulty.count("/fw/96xxupgrade.txt"),
        2,
        "installed and rebooted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn ignore_option242_httpdir_fetches_from_the_root() {
    let (clean, faulty) = tokio::join!(
        boot(&[], Lab::default(), LIMIT, registered),
        boot(
            &[Fault::IgnoreOption242Httpdir],
            Lab::default(),
            SHORT,
            |s| s.iter().any(|e| matches!(e, Seen::Http { .. }))
        )
    );
    assert_eq!(
        clean.paths().first().map(String::as_str),
        Some("/fw/96xxupgrade.txt")
    );
    assert_eq!(
        faulty.paths().first().map(String::as_str),
        Some("/96xxupgrade.txt"),
        "{:#?}",
        faulty.seen
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn ignore_option242_never_reaches_the_file_server() {
    let (clean, faulty) = tokio::join!(
        boot(&[], Lab::default(), LIMIT, registered),
        boot(&[Fault::IgnoreOption242], Lab::default(), SHORT, |_| false)
    );
    assert!(!clean.paths().is_empty());
    // Without the site option only siaddr (127.0.0.1) on port 80 remains: our server is
    // never asked.
    assert!(faulty.paths().is_empty(), "{:#?}", faulty.seen);
    assert!(faulty.registers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn always_download_binary_fetches_it_again_after_the_upgrade() {
    let (clean, faulty) = tokio::join!(
        boot(&[], Lab::default(), LIMIT, registered),
        boot(
            &[Fault::AlwaysDownloadBinary],
            Lab::default(),
            LIMIT,
            registered
        )
    );
    let bin = format!("/fw/{NEW_APP}");
    assert_eq!(clean.count(&bin), 1);
    assert_eq!(faulty.count(&bin), 2, "{:#?}", faulty.seen);
    assert!(faulty.registered_ua().is_some(), "no boot loop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn never_download_binary_keeps_the_old_version() {
    let (clean, faulty) = tokio::join!(
        boot(&[], Lab::default(), LIMIT, registered),
        boot(
            &[Fault::NeverDownloadBinary],
            Lab::default(),
            LIMIT,
            registered
        )
    );
    let bin = format!("/fw/{NEW_APP}");
    assert_eq!(clean.count(&bin), 1);
    assert_eq!(faulty.count(&bin), 0, "{:#?}", faulty.seen);
    let old_ua = format!("Avaya one-X Deskphone {} 001b4f27312a", version(OLD_APP));
    assert_eq!(faulty.registered_ua().as_deref(), Some(old_ua.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn skip_settings_file_never_gets_it() {
    let (clean, faulty) = tokio::join!(
        boot(&[], Lab::default(), LIMIT, registered),
        boot(&[Fault::SkipSettingsFile], Lab::default(), SHORT, |_| false)
    );
    assert_eq!(clean.count("/fw/46xxsettings.txt"), 1);
    assert_eq!(
        faulty.count("/fw/46xxsettings.txt"),
        0,
        "{:#?}",
        faulty.seen
    );
    assert!(
        faulty.registers().is_empty(),
        "the controller list only comes from the settings file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn ignore_settings_file_fetches_but_does_not_apply_it() {
    let (clean, faulty) = tokio::join!(
        boot(&[], Lab::default(), LIMIT, registered),
        boot(&[Fault::IgnoreSettingsFile], Lab::default(), SHORT, |_| {
            false
        })
    );
    assert!(!clean.registers().is_empty());
    assert_eq!(
        faulty.count("/fw/46xxsettings.txt"),
        1,
        "{:#?}",
        faulty.seen
    );
    assert!(faulty.registers().is_empty(), "{:#?}", faulty.seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn stale_user_agent_version_reports_the_old_version_after_the_upgrade() {
    let (clean, faulty) = tokio::join!(
        boot(&[], Lab::default(), LIMIT, registered),
        boot(
            &[Fault::StaleUserAgentVersion],
            Lab::default(),
            LIMIT,
            registered
        )
    );
    let old = version(OLD_APP);
    let new = version(NEW_APP);
    assert_ne!(old, new);
    assert!(clean.registered_ua().expect("registered").contains(&new));
    let ua = faulty.registered_ua().expect("registered");
    assert!(ua.contains(&old) && !ua.contains(&new), "{ua}");
    assert_eq!(
        faulty.count("/fw/96xxupgrade.txt"),
        2,
        "the upgrade itself happened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn wrong_digest_response_is_never_accepted() {
    let (clean, faulty) = tokio::join!(
        boot(&[], Lab::default(), LIMIT, registered),
        boot(&[Fault::WrongDigestResponse], Lab::default(), SHORT, |_| {
            false
        })
    );
    assert!(clean.registered_ua().is_some());
    let regs = faulty.registers();
    assert!(regs.iter().any(|r| r.0), "credentials were sent: {regs:?}");
    assert!(regs.iter().all(|r| r.2 == 401), "{regs:?}");
}

fn dhcp_kinds(run: &Run) -> Vec<(u8, Ipv4Addr)> {
    run.seen
        .iter()
        .filter_map(|s| match s {
            Seen::Dhcp { kind, ciaddr, .. } => Some((*kind, *ciaddr)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn a_quoted_httpsrvr_list_fails_over_to_the_server_that_answers() {
    // 127.0.0.2 refuses (nothing listens there); 127.0.0.1 is the file server.
    let lab = Lab {
        site: Some("HTTPSRVR=\"127.0.0.2,127.0.0.1\",HTTPPORT={port},HTTPDIR=fw"),
        ..Lab::default()
    };
    let (clean, faulty) = tokio::join!(
        boot(&[], lab, LIMIT, registered),
        boot(&[Fault::HttpFirstServerOnly], lab, SHORT, |_| false)
    );
    assert_eq!(
        clean.paths().first().map(String::as_str),
        Some("/fw/96xxupgrade.txt"),
        "{:#?}",
        clean.seen
    );
    assert!(clean.registered_ua().is_some(), "{:#?}", clean.seen);
    assert!(faulty.paths().is_empty(), "{:#?}", faulty.seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn a_non_default_sson_is_asked_for_and_its_option_read() {
    // Option 242 is a decoy (another directory); option 176 holds the real site string.
    let lab = Lab {
        site: Some("HTTPSRVR=127.0.0.1,HTTPPORT={port},HTTPDIR=decoy"),
        extra: &[(176, "HTTPSRVR=127.0.0.1,HTTPPORT={port},HTTPDIR=fw")],
        sson: Some(176),
        ..Lab::default()
    };
    let (clean, faulty) = tokio::join!(
        boot(&[], lab, LIMIT, registered),
        boot(&[Fault::SsonAlways242], lab, SHORT, |s| {
            s.iter().any(|e| matches!(e, Seen::Http { .. }))
        })
    );
    let params = |run: &Run| {
        run.seen.iter().find_map(|s| match s {
            Seen::Dhcp {
                kind: 1, params, ..
            } => params.last().copied(),
            _ => None,
        })
    };
    assert_eq!(params(&clean), Some(176));
    assert_eq!(
        clean.paths().first().map(String::as_str),
        Some("/fw/96xxupgrade.txt")
    );
    assert!(clean.registered_ua().is_some(), "{:#?}", clean.seen);
    assert_eq!(params(&faulty), Some(242));
    assert_eq!(
        faulty.paths().first().map(String::as_str),
        Some("/decoy/96xxupgrade.txt"),
        "{:#?}",
        faulty.seen
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn a_nak_on_renewal_sends_the_phone_back_to_discover() {
    // Lease 60 s: T1 at 30 s phone time (1.5 s real at ×20), T2 52.5 s, expiry 60 s.
    let lab = Lab {
        lease_secs: Some(60),
        nak_renewals: true,
        ..Lab::default()
    };
    fn renewed_then_next(s: &[Seen]) -> bool {
        let renewal = s.iter().position(
            |e| matches!(e, Seen::Dhcp { kind: 3, ciaddr, .. } if !ciaddr.is_unspecified()),
        );
        renewal.is_some_and(|at| s[at + 1..].iter().any(|e| matches!(e, Seen::Dhcp { .. })))
    }
    let limit = Duration::from_secs(6);
    let (clean, faulty) = tokio::join!(
        boot(&[], lab, limit, renewed_then_next),
        boot(&[Fault::IgnoreNakOnRenewal], lab, limit, renewed_then_next)
    );
    let next_after_renewal = |run: &Run| {
        let k = dhcp_kinds(run);
        let at = k
            .iter()
            .position(|(kind, ciaddr)| *kind == 3 && !ciaddr.is_unspecified())
            .expect("a renewal REQUEST (ciaddr set)");
        assert_eq!(k[at].1, run.lease);
        k.get(at + 1).copied()
    };
    assert_eq!(
        next_after_renewal(&clean).map(|k| k.0),
        Some(1),
        "DISCOVER right after the NAK: {:?}",
        dhcp_kinds(&clean)
    );
    // The faulty phone keeps its address and asks again (rebinding) instead.
    assert_eq!(
        next_after_renewal(&faulty),
        Some((3, faulty.lease)),
        "{:?}",
        dhcp_kinds(&faulty)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn l2qvlan_cannot_work_in_loopback_mode_and_the_phone_stays_untagged() {
    let lab = Lab {
        site: Some("L2QVLAN=10,HTTPSRVR=127.0.0.1,HTTPPORT={port},HTTPDIR=fw"),
        ..Lab::default()
    };
    let run = boot(&[], lab, LIMIT, registered).await;
    assert!(run.registered_ua().is_some(), "{:#?}", run.seen);
    assert!(
        dhcp_kinds(&run).iter().all(|(kind, _)| *kind != 7),
        "no DHCPRELEASE: {:?}",
        dhcp_kinds(&run)
    );
}
