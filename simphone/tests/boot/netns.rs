//! `--iface` mode end to end: a network namespace with a veth pair, the phone on one end
//! (raw-frame DHCP, address configured with `ip`), the mini responders on the other.
//! Needs root; prints "skipped: needs root" otherwise. The namespace is deleted by a Drop
//! guard even when the test fails.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fixtures::{self, NEW_APP, OLD_APP, PASSWORD, USER};
use crate::mini::{self, Log, Seen};
use simphone::boot::{NetMode, Phone, PhoneConfig};
use simphone::fault::{Fault, Faults};

const PHONE_MAC: [u8; 6] = [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2b];

fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A network namespace that is deleted when dropped.
struct Netns(String);

impl Netns {
    fn create(name: &str) -> Result<Self, String> {
        let _ = ip(&["netns", "del", name]);
        ip(&["netns", "add", name])?;
        Ok(Netns(name.to_string()))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.0]);
    }
}

/// Move the calling thread into namespace `name`.
fn enter(name: &str) -> std::io::Result<()> {
    let f = std::fs::File::open(format!("/var/run/netns/{name}"))?;
    // SAFETY: f is an open namespace file for the call's duration; setns only changes the
    // calling thread's network namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Run `body` on a new thread inside namespace `ns` with its own runtime, until `stop` fires.
fn in_namespace<F, Fut>(
    ns: String,
    stop: tokio::sync::oneshot::Receiver<()>,
    body: F,
) -> std::thread::JoinHandle<()>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    std::thread::spawn(move || {
        enter(&ns).expect("setns");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            tokio::task::spawn_local(body());
            let _ = stop.await;
        });
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Two namespaces joined by a veth: `phone0` in the phone's, `srv0` (10.77.0.1/24, up) in
/// the servers'. Both are deleted when the pair is dropped.
struct Pair {
    phone: Netns,
    srv: Netns,
}

fn pair(tag: &str) -> Pair {
    let pid = std::process::id();
    let phone = Netns::create(&format!("simphone-p{tag}{pid}")).expect("phone netns");
    let srv = Netns::create(&format!("simphone-s{tag}{pid}")).expect("server netns");
    ip(&[
        "-n", &phone.0, "link", "add", "phone0", "type", "veth", "peer", "name", "srv0", "netns",
        &srv.0,
    ])
    .expect("veth");
    ip(&["-n", &srv.0, "link", "set", "lo", "up"]).expect("lo up");
    ip(&["-n", &srv.0, "addr", "add", "10.77.0.1/24", "dev", "srv0"]).expect("srv addr");
    ip(&["-n", &srv.0, "link", "set", "srv0", "up"]).expect("srv up");
    Pair { phone, srv }
}

fn phone_config(mac: [u8; 6], faults: Faults) -> PhoneConfig {
    PhoneConfig {
        mode: NetMode::Iface("phone0".into()),
        mac,
        model4: "9620".into(),
        hardware: "D01A".into(),
        firmware: OLD_APP.into(),
        state_dir: None,
        user: USER.into(),
        password: PASSWORD.into(),
        sson: 242,
        upgrade_file: "96xxupgrade.txt".into(),
        time_scale: 20.0,
        seed: 3,
        trust_key: provisioning::firmware::lab_signing_key().verifying_key(),
        faults,
        boot: simphone::boot::BootOptions::default(),
    }
}

fn run_phone(
    ns: String,
    stop: tokio::sync::oneshot::Receiver<()>,
    cfg: PhoneConfig,
) -> std::thread::JoinHandle<()> {
    in_namespace(ns, stop, move || async move {
        if let Err(e) = Phone::new(cfg).expect("phone").run().await {
            panic!("phone stopped: {e}");
        }
    })
}

/// Wait up to `limit` for `done` on the log.
fn wait_for(log: &Log, limit: Duration, done: impl Fn(&[Seen]) -> bool) {
    let start = std::time::Instant::now();
    while start.elapsed() < limit && !done(&mini::snapshot(log)) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn registered_from(seen: &[Seen], addr: Ipv4Addr) -> bool {
    seen.iter().any(|s| {
        matches!(s, Seen::Register { answered: 200, peer, .. } if peer.ip() == IpAddr::V4(addr))
    })
}

/// A DHCP frame from the phone as a raw socket on the servers' end of the veth saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Captured {
    kind: u8,
    vlan: Option<u16>,
    src: Ipv4Addr,
    at: Duration,
}

type Capture = Arc<Mutex<Vec<Captured>>>;

/// Capture every DHCP client frame arriving on `iface` (a raw socket of its own, with the
/// VLAN tag from PACKET_AUXDATA or from the bytes).
fn capture(iface: &str, out: Capture) {
    use simphone::net::raw::RawSocket;
    let sock = RawSocket::open(iface).expect("capture socket");
    let start = std::time::Instant::now();
    tokio::task::spawn_local(async move {
        while let Ok(frame) = sock.recv().await {
            let Some(udp) = frame.udp() else { continue };
            if udp.dst_port != 67 || udp.payload.len() < 240 {
                continue;
            }
            let kind = simphone::dhcp::client::message_type_of(&udp.payload)
                .map(|k| k.code())
                .unwrap_or(0);
            out.lock().expect("capture").push(Captured {
                kind,
                vlan: udp.vlan,
                src: udp.src_ip,
                at: start.elapsed(),
            });
        }
    });
}

const DISCOVER: u8 = 1;
const RELEASE: u8 = 7;

#[test]
fn iface_mode_boots_over_raw_dhcp_and_configures_the_address() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = pair("a");
    let (phone_ns, srv_ns) = (&lab.phone, &lab.srv);
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let server = Ipv4Addr::new(10, 77, 0, 1);
    let (stop_srv, srv_stop_rx) = tokio::sync::oneshot::channel();
    let (stop_phone, phone_stop_rx) = tokio::sync::oneshot::channel();
    let srv_log = log.clone();
    let servers = in_namespace(srv_ns.0.clone(), srv_stop_rx, move || async move {
        let sip = mini::registrar(srv_log.clone(), IpAddr::V4(server), USER, PASSWORD).await;
        let mut files = HashMap::new();
        files.insert(
            "/fw/96xxupgrade.txt".to_string(),
            fixtures::upgrade_script().into_bytes(),
        );
        files.insert(
            "/fw/46xxsettings.txt".to_string(),
            fixtures::settings_file(sip).into_bytes(),
        );
        files.insert(format!("/fw/{NEW_APP}"), fixtures::image(false));
        let http = mini::http(srv_log.clone(), IpAddr::V4(server), files).await;
        mini::dhcp_raw(
            srv_log,
            "srv0",
            mini::Plan::new(
                Ipv4Addr::new(10, 77, 0, 50),
                server,
                Ipv4Addr::new(255, 255, 255, 0),
                format!("HTTPSRVR=10.77.0.1,HTTPPORT={},HTTPDIR=fw", http.port()),
            ),
        );
    });
    let phone = run_phone(
        phone_ns.0.clone(),
        phone_stop_rx,
        phone_config(PHONE_MAC, Faults::none()),
    );
    let start = std::time::Instant::now();
    let mut addr = String::new();
    while start.elapsed() < Duration::from_secs(15) {
        if mini::snapshot(&log)
            .iter()
            .any(|e| matches!(e, Seen::Register { answered: 200, .. }))
        {
            addr = ip(&["-n", &phone_ns.0, "addr", "show", "dev", "phone0"]).unwrap_or_default();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = stop_phone.send(());
    let _ = stop_srv.send(());
    let _ = phone.join();
    let _ = servers.join();
    let seen = mini::snapshot(&log);
    assert!(
        addr.contains("10.77.0.50/24"),
        "address configured: {addr}\n{seen:#?}"
    );
    assert!(
        addr.contains("00:1b:4f:27:31:2b"),
        "interface carries the phone MAC: {addr}"
    );
    assert!(
        mini::rebooted_after(&seen, &format!("/fw/{NEW_APP}")),
        "a reboot (DISCOVER) after the binary download: {seen:#?}"
    );
    let lease = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 50));
    let (ua, peer) = seen
        .iter()
        .find_map(|s| match s {
            Seen::Register {
                answered: 200,
                user_agent,
                peer,
                ..
            } => Some((user_agent.clone(), peer.ip())),
            _ => None,
        })
        .expect("registered");
    assert_eq!(peer, lease);
    assert!(ua.contains(&fixtures::version(NEW_APP)), "{ua}");
}

/// What answers on the voice VLAN in a VLAN lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VlanSide {
    /// Nobody: tagged DISCOVERs go unanswered.
    Nobody,
    /// A DHCP responder on `srv0` that tags its own raw frames (lease 10.78.0.50, no files):
    /// needs no kernel 802.1Q support.
    RawDhcp(u16),
    /// A VLAN device `srv0.ID` (10.78.0.1/24) with DHCP, file server and registrar on it.
    Device(u16),
}

/// Whether this kernel can make 802.1Q VLAN devices (CONFIG_VLAN_8021Q), tried in `ns`.
fn vlan_devices_supported(ns: &str) -> bool {
    let ok = ip(&[
        "-n", ns, "link", "add", "link", "srv0", "name", "probe0", "type", "vlan", "id", "4000",
    ])
    .is_ok();
    if ok {
        let _ = ip(&["-n", ns, "link", "del", "probe0"]);
    }
    ok
}

/// The servers of a VLAN lab: an untagged DHCP server on `srv0` whose option 242 is
/// `untagged_site`, and whatever `side` says on the VLAN. File server and registrar live on
/// the VLAN device with [`VlanSide::Device`], on the untagged side otherwise. Every DHCP
/// client frame on `srv0` is captured.
fn vlan_servers(
    lab: &Pair,
    side: VlanSide,
    untagged_site: &'static str,
    log: Log,
    cap: Capture,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> std::thread::JoinHandle<()> {
    if let VlanSide::Device(id) = side {
        let dev = format!("srv0.{id}");
        ip(&[
            "-n",
            &lab.srv.0,
            "link",
            "add",
            "link",
            "srv0",
            "name",
            &dev,
            "type",
            "vlan",
            "id",
            &id.to_string(),
        ])
        .expect("server vlan device");
        ip(&["-n", &lab.srv.0, "addr", "add", "10.78.0.1/24", "dev", &dev]).expect("vlan addr");
        ip(&["-n", &lab.srv.0, "link", "set", &dev, "up"]).expect("vlan up");
    }
    in_namespace(lab.srv.0.clone(), stop, move || async move {
        capture("srv0", cap);
        let vlan_server = Ipv4Addr::new(10, 78, 0, 1);
        let vlan_plan = |site: String| {
            mini::Plan::new(
                Ipv4Addr::new(10, 78, 0, 50),
                vlan_server,
                Ipv4Addr::new(255, 255, 255, 0),
                site,
            )
        };
        let server = match side {
            VlanSide::Device(_) => vlan_server,
            _ => Ipv4Addr::new(10, 77, 0, 1),
        };
        let sip = mini::registrar(log.clone(), IpAddr::V4(server), USER, PASSWORD).await;
        let mut files = HashMap::new();
        files.insert(
            "/fw/96xxupgrade.txt".to_string(),
            fixtures::upgrade_script().into_bytes(),
        );
        files.insert(
            "/fw/46xxsettings.txt".to_string(),
            fixtures::settings_file(sip).into_bytes(),
        );
        files.insert(format!("/fw/{NEW_APP}"), fixtures::image(false));
        let http = mini::http(log.clone(), IpAddr::V4(server), files).await;
        let files_site = format!("HTTPSRVR={server},HTTPPORT={},HTTPDIR=fw", http.port());
        let site_untagged = match side {
            VlanSide::Nobody => format!("{untagged_site},{files_site}"),
            _ => untagged_site.to_string(),
        };
        mini::dhcp_raw(
            log.clone(),
            "srv0",
            mini::Plan::new(
                Ipv4Addr::new(10, 77, 0, 50),
                Ipv4Addr::new(10, 77, 0, 1),
                Ipv4Addr::new(255, 255, 255, 0),
                site_untagged,
            ),
        );
        match side {
            VlanSide::Nobody => {}
            VlanSide::RawDhcp(id) => mini::dhcp_raw_on(
                log,
                "srv0",
                Some(id),
                vlan_plan(format!("HTTPSRVR={vlan_server}")),
            ),
            VlanSide::Device(id) => {
                mini::dhcp_raw(log, &format!("srv0.{id}"), vlan_plan(files_site));
            }
        }
    })
}

fn frames(cap: &Capture) -> Vec<Captured> {
    cap.lock().expect("capture").clone()
}

const REQUEST: u8 = 3;

#[test]
fn l2qvlan_releases_the_lease_and_runs_dhcp_tagged() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = pair("t");
    let devices = vlan_devices_supported(&lab.srv.0);
    let log: Log = Arc::default();
    let cap: Capture = Arc::default();
    let (stop_srv, srv_rx) = tokio::sync::oneshot::channel();
    let (stop_phone, phone_rx) = tokio::sync::oneshot::channel();
    let servers = vlan_servers(
        &lab,
        VlanSide::RawDhcp(10),
        "L2Q=1,L2QVLAN=10",
        log.clone(),
        cap.clone(),
        srv_rx,
    );
    let mac = [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2c];
    let phone = run_phone(
        lab.phone.0.clone(),
        phone_rx,
        phone_config(mac, Faults::none()),
    );
    let vlan_lease = Ipv4Addr::new(10, 78, 0, 50);
    let start = std::time::Instant::now();
    let mut phone_vlan_dev = String::new();
    while start.elapsed() < Duration::from_secs(10) {
        let f = frames(&cap);
        let tagged_request = f
            .iter()
            .position(|x| x.kind == REQUEST && x.vlan == Some(10));
        let done = match tagged_request {
            // With 802.1Q support the lease goes on phone0.10.
            Some(_) if devices => {
                phone_vlan_dev = ip(&["-n", &lab.phone.0, "addr", "show", "dev", "phone0.10"])
                    .unwrap_or_default();
                phone_vlan_dev.contains("10.78.0.50/24")
            }
            // Without, the phone gives the VLAN lease back and DHCPs untagged.
            Some(at) => f[at..]
                .iter()
                .any(|x| x.kind == DISCOVER && x.vlan.is_none()),
            None => false,
        };
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = stop_phone.send(());
    let _ = stop_srv.send(());
    let _ = phone.join();
    let _ = servers.join();
    let f = frames(&cap);
    // On the wire: untagged DISCOVER, untagged RELEASE of the first lease, then tagged
    // DISCOVER and — the tagged OFFER came back through the phone's raw socket — REQUEST.
    assert_eq!(
        f.first().map(|x| (x.kind, x.vlan)),
        Some((DISCOVER, None)),
        "{f:#?}"
    );
    let release = f
        .iter()
        .position(|x| x.kind == RELEASE)
        .expect("a DHCPRELEASE");
    assert_eq!(
        (f[release].vlan, f[release].src),
        (None, Ipv4Addr::new(10, 77, 0, 50)),
        "{f:#?}"
    );
    let tagged_discover = f[release..]
        .iter()
        .position(|x| x.kind == DISCOVER && x.vlan == Some(10))
        .map(|i| i + release)
        .expect("a tagged DISCOVER after the release");
    assert!(
        f[tagged_discover..]
            .iter()
            .any(|x| x.kind == REQUEST && x.vlan == Some(10)),
        "a tagged REQUEST: the tagged OFFER was received: {f:#?}"
    );
    if devices {
        assert!(
            phone_vlan_dev.contains("10.78.0.50/24"),
            "the VLAN lease sits on phone0.10: {phone_vlan_dev}"
        );
    } else {
        eprintln!(
            "note: kernel without 802.1Q VLAN devices: checked the phone gives the VLAN lease back"
        );
        let back = f
            .iter()
            .rposition(|x| x.kind == RELEASE && x.vlan == Some(10) && x.src == vlan_lease)
            .expect("the VLAN lease is released, tagged");
        assert!(
            f[back..]
                .iter()
                .any(|x| x.kind == DISCOVER && x.vlan.is_none()),
            "{f:#?}"
        );
    }
}

#[test]
fn l2qvlan_boot_runs_over_a_vlan_device_end_to_end() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = pair("v");
    if !vlan_devices_supported(&lab.srv.0) {
        eprintln!("skipped: this kernel has no 802.1Q VLAN devices (CONFIG_VLAN_8021Q)");
        return;
    }
    let log: Log = Arc::default();
    let cap: Capture = Arc::default();
    let (stop_srv, srv_rx) = tokio::sync::oneshot::channel();
    let (stop_phone, phone_rx) = tokio::sync::oneshot::channel();
    let servers = vlan_servers(
        &lab,
        VlanSide::Device(10),
        "L2QVLAN=10",
        log.clone(),
        cap.clone(),
        srv_rx,
    );
    let mac = [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2f];
    let phone = run_phone(
        lab.phone.0.clone(),
        phone_rx,
        phone_config(mac, Faults::none()),
    );
    let vlan_lease = Ipv4Addr::new(10, 78, 0, 50);
    wait_for(&log, Duration::from_secs(20), |s| {
        registered_from(s, vlan_lease)
    });
    let _ = stop_phone.send(());
    let _ = stop_srv.send(());
    let _ = phone.join();
    let _ = servers.join();
    let seen = mini::snapshot(&log);
    assert!(registered_from(&seen, vlan_lease), "{seen:#?}");
    for s in &seen {
        match s {
            Seen::Http { peer, .. } | Seen::Register { peer, .. } => {
                assert_eq!(peer.ip(), IpAddr::V4(vlan_lease), "{s:?}")
            }
            Seen::Dhcp { .. } => {}
        }
    }
    assert!(
        mini::rebooted_after(&seen, &format!("/fw/{NEW_APP}")),
        "the upgrade reboot also ends on the VLAN: {seen:#?}"
    );
}

#[test]
fn fault_ignore_l2qvlan_never_tags_or_releases() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = pair("i");
    let log: Log = Arc::default();
    let cap: Capture = Arc::default();
    let (stop_srv, srv_rx) = tokio::sync::oneshot::channel();
    let (stop_phone, phone_rx) = tokio::sync::oneshot::channel();
    let servers = vlan_servers(
        &lab,
        VlanSide::RawDhcp(10),
        "L2QVLAN=10",
        log.clone(),
        cap.clone(),
        srv_rx,
    );
    let mac = [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2d];
    let phone = run_phone(
        lab.phone.0.clone(),
        phone_rx,
        phone_config(mac, Faults::from_list(&[Fault::IgnoreL2qvlan])),
    );
    // Two seconds real are 40 s of phone time: far more than the clean phone needs.
    wait_for(&log, Duration::from_secs(2), |_| false);
    let _ = stop_phone.send(());
    let _ = stop_srv.send(());
    let _ = phone.join();
    let _ = servers.join();
    let f = frames(&cap);
    assert!(
        f.iter().any(|x| x.kind == REQUEST && x.vlan.is_none()),
        "it took the untagged lease: {f:#?}"
    );
    assert!(f.iter().all(|x| x.vlan.is_none()), "{f:#?}");
    assert!(f.iter().all(|x| x.kind != RELEASE), "{f:#?}");
}

#[test]
fn without_an_offer_on_the_vlan_the_phone_falls_back_untagged_after_vlantest() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = pair("f");
    let log: Log = Arc::default();
    let cap: Capture = Arc::default();
    let (stop_srv, srv_rx) = tokio::sync::oneshot::channel();
    let (stop_phone, phone_rx) = tokio::sync::oneshot::channel();
    let servers = vlan_servers(
        &lab,
        VlanSide::Nobody,
        "L2QVLAN=10,VLANTEST=8",
        log.clone(),
        cap.clone(),
        srv_rx,
    );
    let mac = [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2e];
    let phone = run_phone(
        lab.phone.0.clone(),
        phone_rx,
        phone_config(mac, Faults::none()),
    );
    let lease = Ipv4Addr::new(10, 77, 0, 50);
    wait_for(&log, Duration::from_secs(20), |s| registered_from(s, lease));
    let _ = stop_phone.send(());
    let _ = stop_srv.send(());
    let _ = phone.join();
    let _ = servers.join();
    let seen = mini::snapshot(&log);
    let f = frames(&cap);
    assert!(registered_from(&seen, lease), "{seen:#?}\n{f:#?}");
    let first_tagged = f
        .iter()
        .position(|x| x.vlan == Some(10))
        .expect("tagged DISCOVERs");
    assert_eq!(f[first_tagged].kind, DISCOVER);
    let back = f[first_tagged..]
        .iter()
        .find(|x| x.kind == DISCOVER && x.vlan.is_none())
        .expect("an untagged DISCOVER after the tagged ones");
    // VLANTEST=8 s phone time at --time-scale 20 is 0.4 s of real time.
    let waited = (back.at - f[first_tagged].at).as_secs_f64() * 20.0;
    assert!(
        (7.0..12.0).contains(&waited),
        "fell back after {waited} phone s"
    );
    // Once VLANTEST expired the VLAN is not tried again (not even after the upgrade reboot).
    assert_eq!(f.iter().filter(|x| x.kind == RELEASE).count(), 1, "{f:#?}");
    assert!(
        f.iter()
            .filter(|x| x.vlan.is_some())
            .all(|x| x.at <= back.at)
    );
}
