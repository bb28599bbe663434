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
use simphone::fault::Faults;

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

#[test]
fn iface_mode_boots_over_raw_dhcp_and_configures_the_address() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let pid = std::process::id();
    let phone_ns = Netns::create(&format!("simphone-p{pid}")).expect("phone netns");
    let srv_ns = Netns::create(&format!("simphone-s{pid}")).expect("server netns");
    ip(&[
        "-n",
        &phone_ns.0,
        "link",
        "add",
        "phone0",
        "type",
        "veth",
        "peer",
        "name",
        "srv0",
        "netns",
        &srv_ns.0,
    ])
    .expect("veth");
    ip(&["-n", &srv_ns.0, "link", "set", "lo", "up"]).expect("lo up");
    ip(&[
        "-n",
        &srv_ns.0,
        "addr",
        "add",
        "10.77.0.1/24",
        "dev",
        "srv0",
    ])
    .expect("srv addr");
    ip(&["-n", &srv_ns.0, "link", "set", "srv0", "up"]).expect("srv up");

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
            mini::Plan {
                lease: Ipv4Addr::new(10, 77, 0, 50),
                server,
                mask: Ipv4Addr::new(255, 255, 255, 0),
                site: format!("HTTPSRVR=10.77.0.1,HTTPPORT={},HTTPDIR=fw", http.port()),
            },
        );
    });
    let phone = in_namespace(phone_ns.0.clone(), phone_stop_rx, || async move {
        let cfg = PhoneConfig {
            mode: NetMode::Iface("phone0".into()),
            mac: PHONE_MAC,
            model4: "9620".into(),
            firmware: OLD_APP.into(),
            state_dir: None,
            user: USER.into(),
            password: PASSWORD.into(),
            sson: 242,
            upgrade_file: "96xxupgrade.txt".into(),
            time_scale: 20.0,
            seed: 3,
            trust_key: provisioning::firmware::lab_signing_key().verifying_key(),
            faults: Faults::none(),
        };
        if let Err(e) = Phone::new(cfg).expect("phone").run().await {
            panic!("phone stopped: {e}");
        }
    });
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
