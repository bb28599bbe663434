//! One storm end to end: lab up → servers from the scenario → capture → N reference phones
//! powered on at once → the servers' events tallied until every phone registered or was
//! refused a lease (or the timeout) → phones off → servers stopped → capture closed → report.
//!
//! Owns: the storm's addresses (a /16 with the pool at its upper half, so a pool of thousands
//! fits), giving each phone its MAC and its own SIP account (the registrar answers each
//! REGISTER with every binding of the AOR, RFC 3261 §10.3, so a thousand phones on one
//! account would get ever larger answers), starting the phones as tasks of this process, and
//! measuring memory.
//! Never: decides conformance (a storm judges no checks), parses DHCP or SIP (the servers and
//! the phones' own cores do), lowers the scenario or starts its servers itself
//! (`phonecert::servers` does, as for `phonecert run`).
//!
//! Why tasks, not processes: a reference phone process costs a few MiB of resident memory
//! and a runtime of its own; a thousand of them would not fit the small lab machines this
//! runs on (2 cores). As tasks they share one runtime with one worker thread per core. In the
//! netns lab they share one packet socket for DHCP ([`crate::link`]); their HTTP and SIP go
//! through the phone namespace's kernel, which holds the whole pool as local addresses
//! (`ip route add local POOL dev lo`), so a lease needs no `ip addr add`: each phone still
//! binds only the address its DHCP client was given.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use phonecert::lab::{self, LabAddrs, NetnsPair, ServerSockets};
use phonecert::lower;
use phonecert::profile::Profile;
use phonecert::run_folder::RunFolders;
use phonecert::scenario::vars::Vars;
use phonecert::scenario::{Account, FileContent, Scenario};
use phonecert::servers::{EventSinks, Sender, ServerSetup};
use simphone::boot::{BootOptions, Family, NetMode, Phone, PhoneConfig};
use simphone::net::dhcp_io::DhcpLink;
use tokio::sync::mpsc;

use crate::link::{INBOX, SharedLink};
use crate::report::{CaptureSummary, Distribution, Memory, PhoneRow, StormReport};
use crate::tally::{Seen, Tally};

/// Where the phones boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StormLab {
    /// Two namespaces and a veth (root): real broadcast DHCP, a kernel capture.
    Netns,
    /// Loopback addresses, no privileges, a synthesised capture.
    Loopback,
}

impl StormLab {
    /// The lab's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            StormLab::Netns => "netns",
            StormLab::Loopback => "loopback",
        }
    }
}

/// What a storm is asked to do.
#[derive(Debug, Clone)]
pub struct StormConfig {
    pub phones: usize,
    pub scenario: PathBuf,
    pub lab: StormLab,
    /// Addresses in the DHCP pool.
    pub pool_size: u32,
    /// The output root (`reports/<id>`, `captures/<id>` under it).
    pub out: PathBuf,
    /// Longest the storm runs, lab time.
    pub timeout: Duration,
    /// The phone profile (`${profile.NAME}`, the upgrade script the phones ask for).
    pub profile: String,
}

/// The largest pool: the upper half of the storm's /16, less its broadcast address.
pub const MAX_POOL: u32 = (1 << 15) - 2;

/// The most phones a storm numbers (their MACs end in two bytes of phone number).
pub const MAX_PHONES: usize = 65_535;

/// Why a storm could not run. Errors of the input come first (exit 2), then the harness's.
#[derive(Debug, thiserror::Error)]
pub enum StormError {
    #[error("{0}")]
    Scenario(#[from] phonecert::scenario::ScenarioErrors),
    #[error(
        "{file}: the scenario names ${{phone_mac}}: a storm serves every phone from one configuration, so it cannot run a scenario made for one phone's MAC"
    )]
    PerPhoneScenario { file: String },
    #[error(
        "{file}: the scenario uses TLS (an HTTPS file server, SIP over TLS or the lab CA): a storm serves HTTP and SIP over UDP and TCP only"
    )]
    TlsScenario { file: String },
    #[error(
        "no SCENARIO given, and the default {default} is not under {cwd}: it is a path from the phonecert repository's root; run from there or name the scenario file (phonecert storm --phones N PATH/TO/SCENARIO.toml)"
    )]
    NoDefaultScenario { default: String, cwd: String },
    #[error("--profile `{0}` is no phone profile; known: {1}")]
    Profile(String, String),
    #[error("--phones must be between 1 and {MAX_PHONES}, got {0}")]
    Phones(usize),
    #[error("--pool-size must be between 1 and {MAX_POOL}, got {0}")]
    PoolSize(u32),
    #[error("the netns lab needs root; run as root or use --lab loopback")]
    NeedsRoot,
    #[error("lab: {0}")]
    Lab(#[from] phonecert::lab::LabError),
    #[error("capture: {0}")]
    Capture(#[from] phonecert::lab::capture::CaptureError),
    #[error("servers: {0}")]
    Servers(#[from] phonecert::error::HarnessError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl StormError {
    /// A bad request (exit 2), as opposed to a harness that could not run it (exit 3).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            StormError::Scenario(_)
                | StormError::PerPhoneScenario { .. }
                | StormError::TlsScenario { .. }
                | StormError::NoDefaultScenario { .. }
                | StormError::Profile(..)
                | StormError::Phones(_)
                | StormError::PoolSize(_)
        )
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StormError {
    let what = what.into();
    move |source| StormError::Io { what, source }
}

/// The storm's addresses in `lab`: the servers at .0.1 of a /16, the pool from .128.1 on.
pub fn storm_addrs(lab: StormLab, pool_size: u32) -> LabAddrs {
    let (a, b) = match lab {
        StormLab::Netns => (10, 66),
        StormLab::Loopback => (127, 77),
    };
    let pool_start = Ipv4Addr::new(a, b, 128, 1);
    LabAddrs {
        server_ip: Ipv4Addr::new(a, b, 0, 1),
        mask: Ipv4Addr::new(255, 255, 0, 0),
        pool_start,
        pool_end: Ipv4Addr::from(u32::from(pool_start) + pool_size.clamp(1, MAX_POOL) - 1),
        dead_ip: Ipv4Addr::new(a, b, 0, 254),
    }
}

/// Phone `i`'s MAC (0-based): Avaya's OUI, then `e0` and the phone number.
pub fn phone_mac(i: usize) -> [u8; 6] {
    let n = u16::try_from(i + 1).unwrap_or(u16::MAX);
    let [hi, lo] = n.to_be_bytes();
    [0x00, 0x1b, 0x4f, 0xe0, hi, lo]
}

/// A MAC as lower-case colon hex, as the servers' events write it.
pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Phone `i`'s SIP user: the scenario's user followed by the 5-digit phone number.
pub fn phone_user(base: &str, i: usize) -> String {
    format!("{base}{:05}", i + 1)
}

/// Checks the request and loads the scenario; every error here is the caller's (exit 2).
pub fn prepare(cfg: &StormConfig) -> Result<(Scenario, Profile), StormError> {
    if cfg.phones == 0 || cfg.phones > MAX_PHONES {
        return Err(StormError::Phones(cfg.phones));
    }
    if cfg.pool_size == 0 || cfg.pool_size > MAX_POOL {
        return Err(StormError::PoolSize(cfg.pool_size));
    }
    let profile = Profile::named(&cfg.profile)
        .ok_or_else(|| StormError::Profile(cfg.profile.clone(), Profile::names().join(", ")))?;
    let mut sc = phonecert::scenario::load_file(&cfg.scenario)?;
    let file = cfg.scenario.display().to_string();
    let text = std::fs::read_to_string(&cfg.scenario).map_err(io(format!("read {file}")))?;
    if text.contains("${phone_mac") {
        return Err(StormError::PerPhoneScenario { file });
    }
    if sc.spec.https.is_some()
        || sc.spec.phone.trusts_lab_ca
        || sc.files.values().any(|f| f.content == FileContent::LabCa)
        || sc.sip.controllers.iter().any(|c| c.tls.is_some())
    {
        return Err(StormError::TlsScenario { file });
    }
    let base = sc.spec.phone.user.clone();
    let password = sc.spec.phone.password.clone();
    sc.spec.sip.accounts = (0..cfg.phones)
        .map(|i| Account {
            user: phone_user(&base, i),
            password: password.clone(),
        })
        .collect();
    Ok((sc, profile))
}

/// The lab a storm runs in, with the servers' sockets bound.
pub struct StormPlace {
    pub lab: StormLab,
    pub addrs: LabAddrs,
    pub pair: Option<NetnsPair>,
    pub sockets: ServerSockets,
}

impl std::fmt::Debug for StormPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StormPlace")
            .field("lab", &self.lab)
            .field("pair", &self.pair)
            .finish_non_exhaustive()
    }
}

fn ip_cmd(args: &[&str]) -> Result<(), StormError> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(io(format!("ip {}", args.join(" "))))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(StormError::Io {
            what: format!("ip {}", args.join(" ")),
            source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        })
    }
}

/// Sets the lab up: the namespace pair (the phones' end holding the pool as local addresses)
/// or loopback, and the servers' sockets.
pub fn open_place(sc: &Scenario, lab: StormLab, pool_size: u32) -> Result<StormPlace, StormError> {
    let addrs = storm_addrs(lab, pool_size);
    let controllers = sc.sip.controllers.len().max(1);
    match lab {
        StormLab::Loopback => {
            let sockets = lab::bind_loopback(&addrs, controllers, false)?;
            Ok(StormPlace {
                lab,
                addrs,
                pair: None,
                sockets,
            })
        }
        StormLab::Netns => {
            if !lab::is_root() {
                return Err(StormError::NeedsRoot);
            }
            let removed = lab::remove_stale();
            if !removed.is_empty() {
                eprintln!(
                    "removed what killed runs left behind: {}",
                    removed.join(", ")
                );
            }
            let pair = NetnsPair::create_with(addrs.clone())?;
            let pool_net = format!(
                "{}/17",
                Ipv4Addr::from(u32::from(addrs.pool_start) & 0xffff_8000)
            );
            let lab_net = format!(
                "{}/16",
                Ipv4Addr::from(u32::from(addrs.server_ip) & 0xffff_0000)
            );
            ip_cmd(&[
                "-n",
                &pair.phone_ns,
                "route",
                "add",
                "local",
                &pool_net,
                "dev",
                "lo",
            ])?;
            ip_cmd(&[
                "-n",
                &pair.phone_ns,
                "route",
                "add",
                &lab_net,
                "dev",
                &pair.phone_if,
            ])?;
            let sockets = pair.bind_servers(controllers, 80, None)?;
            Ok(StormPlace {
                lab,
                addrs,
                pair: Some(pair),
                sockets,
            })
        }
    }
}

/// Resident memory of this process, KiB: (`VmRSS`, `VmHWM`) from /proc/self/status.
pub fn memory_kib() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Lets this process hold a socket per phone and more: the soft open-file limit raised to
/// the hard one.
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct given, alive for the calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn v4(s: &str) -> Option<Ipv4Addr> {
    s.parse::<SocketAddr>().ok().and_then(|a| match a {
        SocketAddr::V4(a) => Some(*a.ip()),
        SocketAddr::V6(_) => None,
    })
}

fn dhcp_seen(e: &pc_dhcp::Event) -> Option<Seen> {
    use pc_dhcp::Event as E;
    match e {
        E::Received {
            client_mac,
            msg_type,
            ..
        } => Some(Seen::DhcpIn {
            mac: client_mac.clone(),
            msg_type: msg_type.clone(),
        }),
        E::Sent {
            client_mac,
            msg_type,
            yiaddr,
            ..
        } => Some(Seen::DhcpOut {
            mac: client_mac.clone(),
            msg_type: msg_type.clone(),
            yiaddr: yiaddr.parse().ok()?,
        }),
        E::Ignored {
            client_mac: Some(mac),
            reason,
        } => Some(Seen::DhcpIgnored {
            mac: mac.clone(),
            reason: reason.clone(),
        }),
        _ => None,
    }
}

fn http_seen(e: &pc_http::shell::Event) -> Option<Seen> {
    use pc_http::shell::Event as E;
    match e {
        E::Request { client, path, .. } => Some(Seen::HttpRequest {
            client: v4(client)?,
            path: path.clone(),
        }),
        E::Response { client, status, .. } => Some(Seen::HttpResponse {
            client: v4(client)?,
            status: *status,
        }),
        _ => None,
    }
}

fn sip_seen(e: &pc_sip::Event) -> Option<Seen> {
    use pc_sip::Event as E;
    match e {
        E::Request { method, from, .. } if method == "REGISTER" => {
            Some(Seen::Register { from: v4(from)? })
        }
        E::Sent {
            status, to, method, ..
        } if method == "REGISTER" => Some(Seen::RegisterAnswer {
            to: v4(to)?,
            status: *status,
        }),
        _ => None,
    }
}

/// The servers' events, one channel per kind: the tally tells phones apart by MAC and
/// address, not by the server that heard them.
struct OneChannelEach {
    dhcp: Sender<pc_dhcp::Event>,
    http: Sender<pc_http::shell::Event>,
    sip: Sender<pc_sip::Event>,
}

impl EventSinks for OneChannelEach {
    fn dhcp(&mut self) -> Sender<pc_dhcp::Event> {
        self.dhcp.clone()
    }

    fn vlan_dhcp(&mut self, _vlan: u16) -> Sender<pc_dhcp::Event> {
        self.dhcp.clone()
    }

    fn http(&mut self) -> Sender<pc_http::shell::Event> {
        self.http.clone()
    }

    fn sip(
        &mut self,
        _controller: usize,
        _listens_on: Option<SocketAddrV4>,
    ) -> Sender<pc_sip::Event> {
        self.sip.clone()
    }
}

/// Runs the storm in `place` (inside the runtime whose workers are in the phones' namespace
/// in the netns lab) and writes its run folder.
pub async fn storm(
    cfg: &StormConfig,
    sc: &Scenario,
    profile: &Profile,
    place: StormPlace,
    folders: &RunFolders,
) -> Result<StormReport, StormError> {
    raise_fd_limit();
    let StormPlace {
        lab: kind,
        addrs,
        pair,
        sockets,
    } = place;
    let spec = &sc.spec;
    let (dhcp_ep, http_ep, sip_eps) = sockets.endpoints().map_err(io("server addresses"))?;
    let scale = spec.phone.time_scale.unwrap_or(1.0).max(1e-6);

    let macs: Vec<[u8; 6]> = (0..cfg.phones).map(phone_mac).collect();
    let mac_texts: Vec<String> = macs.iter().map(|m| mac_text(*m)).collect();

    let mut vars = Vars::new();
    vars.insert("server_ip", addrs.server_ip.to_string());
    vars.insert("dead_ip", addrs.dead_ip.to_string());
    vars.insert("http_port", http_ep.port().to_string());
    vars.insert("https_port", "443".to_string());
    for (i, ep) in sip_eps.iter().enumerate() {
        if let Some(name) = ["sip_port", "sip_port_2", "sip_port_3", "sip_port_4"].get(i) {
            vars.insert(name, ep.port().to_string());
        }
    }
    vars.insert("sip_domain", spec.sip.domain.clone());
    profile.add_vars(&mut vars);

    // Capture.
    let pcap_name = "storm.pcapng";
    let pcap_path = folders.captures.join(pcap_name);
    let note = lab::CaptureNote {
        run_id: &folders.id,
        scenario: &format!("storm of {} phones, {}", cfg.phones, spec.id),
        title: &spec.title,
        time_scale: scale,
    };
    let link = pair.as_ref().map(|p| lab::KernelLink {
        lab: "netns",
        ns: Some(p.infra_ns.as_str()),
        iface: p.infra_if.as_str(),
    });
    let capture = lab::Capture::start(link, &pcap_path, &note, dhcp_ep, http_ep, None, &sip_eps)?;
    let tap = capture.tap();

    // Servers: the scenario's, started as `phonecert run` starts them, answering every
    // phone of the storm; all events of a kind go to one channel.
    let lower_lab = lower::Lab {
        addrs: &addrs,
        vars: &vars,
        mac: macs[0],
        time_scale: scale,
        lab_ca: None,
        // A storm's phones share the servers' link: no relay in front of them.
        relayed: None,
    };
    let (dhcp_tx, mut dhcp_rx) = mpsc::unbounded_channel();
    let (http_tx, mut http_rx) = mpsc::unbounded_channel();
    let (sip_tx, mut sip_rx) = mpsc::unbounded_channel();
    let servers = phonecert::servers::start(
        ServerSetup {
            sc,
            lab: lower_lab,
            sockets,
            vlans: Vec::new(),
            relay: None,
            sip_eps: &sip_eps,
            now: time::OffsetDateTime::now_utc(),
            seed: 0x5707,
            allowed_macs: macs.clone(),
            tap: tap.clone(),
        },
        &mut OneChannelEach {
            dhcp: dhcp_tx,
            http: http_tx,
            sip: sip_tx,
        },
    )?;

    // Phones.
    let family: Family = profile.name.parse().unwrap_or(Family::R2);
    let (before_kib, _) = memory_kib();
    let mut inboxes = HashMap::new();
    let mut links = Vec::new();
    for mac in &macs {
        match kind {
            StormLab::Netns => {
                let (tx, rx) = mpsc::channel(INBOX);
                inboxes.insert(*mac, tx);
                links.push(Some(rx));
            }
            StormLab::Loopback => links.push(None),
        }
    }
    let shared = match &pair {
        Some(p) => {
            let iface = p.phone_if.clone();
            let raw = pc_capture::netns::in_netns(&p.phone_ns, move || {
                pc_capture::rawsock::RawSocket::open_protocol(&iface, 0x0800)
            })
            .map_err(io("the phones' packet socket"))?;
            Some(SharedLink::start(raw, inboxes).map_err(io("the phones' packet socket"))?)
        }
        None => None,
    };
    let t0 = Instant::now();
    let mut phones = Vec::with_capacity(cfg.phones);
    for (i, (mac, inbox)) in macs.iter().zip(links).enumerate() {
        let phone_cfg = PhoneConfig {
            mode: match kind {
                StormLab::Netns => NetMode::Shared,
                StormLab::Loopback => NetMode::Loopback(SocketAddr::V4(dhcp_ep)),
            },
            mac: *mac,
            model4: spec.phone.model.clone(),
            hardware: "D01A".to_string(),
            firmware: spec.phone.firmware.clone(),
            state_dir: None,
            user: phone_user(&spec.phone.user, i),
            password: spec.phone.password.clone(),
            sson: spec.dhcp.sson,
            upgrade_file: family.upgrade_script().to_string(),
            family,
            time_scale: scale,
            seed: i as u64 + 1,
            trust_key: provisioning::firmware::lab_signing_key().verifying_key(),
            faults: simphone::fault::Faults::default(),
            boot: BootOptions {
                bootname: spec
                    .phone
                    .bootname
                    .clone()
                    .unwrap_or_else(|| simphone::boot::BOOTNAME.to_string()),
                hwvers: spec.phone.hwvers.clone().unwrap_or_default(),
                group: spec.phone.group.unwrap_or(0),
                trusted_pems: Vec::new(),
                missing_script: match spec.phone.on_missing_upgrade_script {
                    Some(phonecert::scenario::MissingScript::Register) => {
                        simphone::boot::MissingScript::Register
                    }
                    _ => simphone::boot::MissingScript::FetchSettings,
                },
            },
        };
        let phone = Phone::new(phone_cfg).map_err(|e| StormError::Io {
            what: format!("phone {}", i + 1),
            source: std::io::Error::other(e.to_string()),
        })?;
        let run = match (inbox, &shared) {
            (Some(inbox), Some(link)) => {
                let dhcp = DhcpLink::frames(link.out.clone(), inbox, *mac);
                tokio::spawn(async move { phone.run_on(dhcp).await })
            }
            _ => tokio::spawn(phone.run()),
        };
        phones.push(run);
    }

    // Tally until every phone is settled, or the timeout.
    let mut tally = Tally::new(&mac_texts);
    let deadline = t0 + cfg.timeout;
    let since = |at: Instant| at.saturating_duration_since(t0).as_secs_f64();
    let mut timed_out = false;
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    while !tally.all_settled() {
        let seen = tokio::select! {
            _ = &mut ctrl_c => {
                interrupted = true;
                break;
            }
            e = dhcp_rx.recv() => e.map(|s| (s.at, dhcp_seen(&s.event))),
            e = http_rx.recv() => e.map(|s| (s.at, http_seen(&s.event))),
            e = sip_rx.recv() => e.map(|s| (s.at, sip_seen(&s.event))),
            () = tokio::time::sleep_until(deadline.into()) => {
                timed_out = true;
                break;
            }
        };
        if let Some((at, Some(seen))) = seen {
            tally.see(since(at), &seen);
        }
    }
    let elapsed_s = since(Instant::now());

    // Phones off, servers stopped, capture closed.
    for p in &phones {
        p.abort();
    }
    for p in phones {
        let _ = p.await;
    }
    let link_drops = shared.as_ref().map_or(0, SharedLink::stop);
    servers.stop("the storm").await;
    // Events still queued belong to the storm's end; the tally is already decided.
    drop((dhcp_rx, http_rx, sip_rx));
    drop(tap);
    let count = capture.finish_counted()?;
    let (_, peak_kib) = memory_kib();
    drop(pair);

    let registered: Vec<f64> = tally
        .phones()
        .iter()
        .filter_map(|p| p.registered_s)
        .collect();
    let (failures, failures_by_step) = StormReport::failures_of(&mac_texts, tally.phones());
    let n = cfg.phones as f64;
    let report = StormReport {
        schema: crate::report::SCHEMA,
        run_id: folders.id.clone(),
        lab: kind.name().to_string(),
        scenario: cfg.scenario.display().to_string(),
        phones: cfg.phones,
        pool_size: cfg.pool_size,
        time_scale: scale,
        registered: registered.len(),
        time_to_all_registered_s: (registered.len() == cfg.phones)
            .then(|| registered.iter().copied().fold(0.0, f64::max)),
        elapsed_s,
        timed_out,
        interrupted,
        boot_time: Distribution::of(&registered),
        failures,
        failures_by_step,
        capture: CaptureSummary {
            file: format!("captures/{}/{pcap_name}", folders.id),
            how: match count.kernel_drops {
                Some(_) => "kernel".to_string(),
                None => "synthesised".to_string(),
            },
            frames: count.frames,
            drops: count.kernel_drops.unwrap_or(0),
            drops_from: match count.kernel_drops {
                Some(_) => "PACKET_STATISTICS of the capture socket".to_string(),
                None => "none: the servers write every frame themselves".to_string(),
            },
        },
        report_file: format!("reports/{}/storm.json", folders.id),
        link_drops,
        memory: Memory {
            peak_rss_kib: peak_kib,
            before_phones_kib: before_kib,
            per_phone_kib: peak_kib as f64 / n,
            added_per_phone_kib: peak_kib.saturating_sub(before_kib) as f64 / n,
        },
        per_phone: tally
            .phones()
            .iter()
            .zip(&mac_texts)
            .enumerate()
            .map(|(i, (p, mac))| PhoneRow {
                phone: i + 1,
                mac: mac.clone(),
                progress: p.clone(),
            })
            .collect(),
    };
    write_report(&folders.reports, &report)?;
    Ok(report)
}

/// `reports/<id>/storm.json` and `storm.txt`.
fn write_report(dir: &Path, report: &StormReport) -> Result<(), StormError> {
    let json = serde_json::to_vec_pretty(report).map_err(|e| StormError::Io {
        what: "storm.json".into(),
        source: std::io::Error::other(e),
    })?;
    let path = dir.join("storm.json");
    std::fs::write(&path, json).map_err(io(format!("write {}", path.display())))?;
    let path = dir.join("storm.txt");
    std::fs::write(&path, report.text()).map_err(io(format!("write {}", path.display())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_sits_in_the_upper_half_of_a_slash_16_apart_from_the_servers() {
        let a = storm_addrs(StormLab::Netns, 1000);
        assert_eq!(a.server_ip, Ipv4Addr::new(10, 66, 0, 1));
        assert_eq!(a.pool_start, Ipv4Addr::new(10, 66, 128, 1));
        assert_eq!(a.pool_end, Ipv4Addr::new(10, 66, 131, 232));
        let a = storm_addrs(StormLab::Loopback, MAX_POOL);
        assert_eq!(a.pool_end, Ipv4Addr::new(127, 77, 255, 254));
    }

    #[test]
    fn phones_get_distinct_macs_and_users() {
        assert_eq!(mac_text(phone_mac(0)), "00:1b:4f:e0:00:01");
        assert_eq!(mac_text(phone_mac(999)), "00:1b:4f:e0:03:e8");
        assert_eq!(phone_user("4201", 0), "420100001");
        let macs: std::collections::BTreeSet<_> = (0..MAX_PHONES).map(phone_mac).collect();
        assert_eq!(macs.len(), MAX_PHONES);
    }
}
