//! Boot orchestration: one boot is DHCP lease → upgrade script → (binary) → settings file →
//! REGISTER, and a reboot runs it again from DHCP (domain.md "Boot sequence").
//!
//! Owns: the order of the steps, which provisioning values feed which request (precedence
//! via `provisioning::settings::Source`, applied by [`crate::site`]), the move to the voice
//! VLAN (L2QVLAN, VLANTEST, L2Q), which file server of an HTTPSRVR list serves the boot,
//! the download decision and installation, interface configuration in `--iface` mode
//! (a VLAN device when the lease came tagged), and where each fault switch bends the
//! sequence.
//! Also: HTTPS first when TLSSRVR is set (then HTTP for the same file), the files the
//! settings file directs (TRUSTCERTS, LANGUAGES), boot code told apart from the application,
//! the read-only variables a scenario sets (BOOTNAME, HWVERS, GROUP) and SHA2CAPABLE by
//! model, and what happens when the upgrade script cannot be had.
//! Never: parses option 242 or scripts itself (`provisioning` does), never implements a
//! protocol (the `dhcp`, `sip` cores and `net` shells do).
//!
//! Decisions where the admin guide is silent (domain.md marks them unsure):
//! - HTTPS is tried for scripts, settings, certificates and language files, never for
//!   firmware (domain.md "File server": firmware over HTTP only). A file HTTPS does not
//!   deliver (refused certificate, no answer, any status but 200) is then fetched over HTTP.
//!   The HTTPS path is TLSDIR, the port TLSPORT.
//! - Boot code is told from an application by Avaya's file naming: boot code files start
//!   with `hb` (`hb96xxua3_00.bin`). Such an APPNAME is compared with $BOOTNAME, the image
//!   must be boot code (the image-kind check), and it is installed as the boot code: the
//!   application keeps running, and the phone reboots so the script sees the new $BOOTNAME.
//! - SHA2CAPABLE is `1` on the 96x1 models (9608, 9611, 9621, 9641), `0` on the 96x0 ones.
//! - No upgrade script (404, 5xx, no answer): by default the phone fetches the settings file
//!   `46xxsettings.txt` itself and then registers ([`MissingScript`], a profile parameter).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use provisioning::firmware;
use provisioning::script::{self, Interpreter, PhoneVars, Step};
use provisioning::settings::{Settings, Transport};
use serde_json::json;

use crate::dhcp::{ClientConfig, DhcpClient, Lease};
use crate::fault::{Fault, Faults};
use crate::milestone;
use crate::net::clock::PhoneClock;
use crate::net::dhcp_io::{self, DhcpLink};
use crate::net::http::{HttpClient, HttpError, HttpResponse, Quirks};
use crate::net::sip_io;
use crate::net::tls::{self, TrustStore};
use crate::rng::Rng;
use crate::sip::register::{Controller, RegConfig, Registration, SipTransport};
use crate::site;
use crate::state::{Installed, Store};

/// Where the phone's network lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetMode {
    /// Lab mode: raw DHCP on this interface, address configured with `ip`.
    Iface(String),
    /// Loopback mode: DHCP over UDP to this server; sockets bound to the leased 127.x address.
    Loopback(SocketAddr),
    /// One of many phones in one process: DHCP frames through the link the caller hands to
    /// [`Phone::run_on`], sockets bound to the leased address, which the caller has made
    /// local (the phone configures no interface).
    Shared,
}

/// Everything fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    pub mode: NetMode,
    pub mac: [u8; 6],
    /// MODEL4, e.g. `9620`.
    pub model4: String,
    /// Hardware version, e.g. `D01A` (MODEL is MODEL4 followed by it).
    pub hardware: String,
    /// The application running at first boot when the state has none.
    pub firmware: String,
    pub state_dir: Option<PathBuf>,
    pub user: String,
    pub password: String,
    pub sson: u8,
    pub upgrade_file: String,
    /// The family it plays: the HTTP User-Agent's form.
    pub family: Family,
    pub time_scale: f64,
    pub seed: u64,
    pub trust_key: VerifyingKey,
    pub faults: Faults,
    /// What a scenario may set beyond model and firmware.
    pub boot: BootOptions,
}

/// The settings file a phone fetches on its own when there is no upgrade script.
pub const DEFAULT_SETTINGS_FILE: &str = "46xxsettings.txt";

/// What the phone does when the upgrade script cannot be had (404, 5xx, no answer). The
/// admin guide does not say: a profile parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingScript {
    /// GET [`DEFAULT_SETTINGS_FILE`], then register.
    #[default]
    FetchSettings,
    /// Register with the values DHCP gave, fetching nothing more.
    Register,
}

impl std::str::FromStr for MissingScript {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "settings" => Ok(MissingScript::FetchSettings),
            "register" => Ok(MissingScript::Register),
            other => Err(format!("'{other}' is neither 'settings' nor 'register'")),
        }
    }
}

/// The phone's identity beyond model and firmware, and its profile parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootOptions {
    /// `$BOOTNAME` until a boot code image is installed.
    pub bootname: String,
    /// `$HWVERS` (empty: unknown, an `IF` on it is a no-op).
    pub hwvers: String,
    /// `$GROUP`, 0–999.
    pub group: u16,
    /// CA certificates (PEM file contents) trusted from power-up.
    pub trusted_pems: Vec<Vec<u8>>,
    /// What happens when the upgrade script cannot be had.
    pub missing_script: MissingScript,
}

impl Default for BootOptions {
    fn default() -> Self {
        BootOptions {
            bootname: BOOTNAME.to_string(),
            hwvers: String::new(),
            group: 0,
            trusted_pems: Vec::new(),
            missing_script: MissingScript::default(),
        }
    }
}

/// `$SHA2CAPABLE` by model: the 96x1 models verify SHA-2 signed files, the 96x0 ones do not.
/// The model table is provisioning's, shared with `phonecert script eval`.
pub fn sha2_capable(model4: &str) -> bool {
    provisioning::model::find(model4).is_some_and(|m| m.sha2capable())
}

/// Whether an APPNAME names boot code (Avaya's boot code files start with `hb`).
pub fn is_boot_code(appname: &str) -> bool {
    provisioning::eval::is_boot_code(appname)
}

/// A file as a phone with the `cut-long-lines` fault reads it: every line over
/// [`script::MAX_LINE_BYTES`] cut to that many bytes, so its start runs as a statement.
fn cut_long_lines(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len().min(script::MAX_FILE_BYTES));
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(&line[..line.len().min(script::MAX_LINE_BYTES)]);
    }
    out
}

/// A file as a phone with the `crlf-only` fault reads it: only CRLF ends a line, so each
/// bare LF becomes a space and the lines it separated run together.
fn join_bare_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, b) in bytes.iter().enumerate() {
        let bare = *b == b'\n' && (i == 0 || bytes[i - 1] != b'\r');
        out.push(if bare { b' ' } else { *b });
    }
    out
}

/// With `set-group-from-settings-file`: a `SET GROUP` the interpreter refused (GROUP is
/// read-only) becomes `$GROUP` for the files fetched after it.
fn take_group_from_sets(interp: &mut Interpreter) {
    let set = interp.trace().iter().rev().find_map(|t| match &t.effect {
        script::Effect::Rejected { name, value, .. } if name.eq_ignore_ascii_case("GROUP") => {
            Some(value.clone())
        }
        _ => None,
    });
    if let Some(group) = set {
        interp.vars_mut().group = group;
    }
}

/// Text of a fetched file as a phone with the `keep-bom` fault reads it: every byte one
/// ISO-8859-1 character (a UTF-8 BOM becomes `ï»¿`, and line 1 a comment).
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|b| char::from(*b)).collect()
}

impl PhoneConfig {
    /// MODEL (e.g. `9620D01A`): MODEL4 + hardware version.
    pub fn model(&self) -> String {
        format!("{}{}", self.model4, self.hardware)
    }

    /// What the DHCP client needs: identity, SSON and the fault switches.
    pub fn dhcp_client_config(&self) -> ClientConfig {
        ClientConfig {
            mac: self.mac,
            sson: self.sson,
            faults: self.faults.clone(),
        }
    }

    /// MAC as 12 lower-case hex digits (SIP User-Agent, MACADDR).
    pub fn mac_hex(&self) -> String {
        hex::encode(self.mac)
    }
}

/// Errors that stop the phone before it can boot.
#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    #[error("cannot open the dhcp link: {0}")]
    DhcpLink(std::io::Error),
    #[error("cannot open the state dir: {0}")]
    State(std::io::Error),
    #[error("cannot configure interface {iface}: {detail}")]
    Iface { iface: String, detail: String },
    #[error("a phone on a shared link is started with its link (Phone::run_on)")]
    NoSharedLink,
}

/// How one boot ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new application was installed: start over from DHCP.
    Reboot,
    /// The lease went away: start over from DHCP.
    LeaseLost,
    /// The lease names a voice VLAN: release it and run DHCP again tagged with `vlan`,
    /// untagged again after `vlantest` without an offer (`None`: VLANTEST=0, never).
    SwitchVlan {
        vlan: u16,
        vlantest: Option<Duration>,
    },
}

/// What the phone does about L2QVLAN after a lease (domain.md "Boot sequence" step 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VlanDecision {
    /// Nothing to do: no VLAN named, or already on it.
    Stay,
    /// A VLAN is named but the phone stays untagged, for this reason.
    Untagged { vlan: u16, reason: String },
    /// Release the lease and run DHCP tagged with `vlan`.
    Switch {
        vlan: u16,
        vlantest: Option<Duration>,
    },
}

/// Decide about the voice VLAN from the settings a lease produced. `lease_vlan` is the VLAN
/// the lease came on; `failed` are VLANs given up since the process started, with why
/// (VLANTEST expired — Avaya: the phone stays on the default VLAN until it is reset — or
/// the host cannot make VLAN devices); `can_tag` is false in loopback mode, which has no
/// link layer.
pub fn vlan_decision(
    settings: &Settings,
    lease_vlan: Option<u16>,
    failed: &BTreeMap<u16, String>,
    can_tag: bool,
    faults: &Faults,
) -> VlanDecision {
    let vlan = settings
        .get("L2QVLAN")
        .and_then(|v| v.parse::<u16>().ok())
        .unwrap_or(0);
    if vlan == 0 || lease_vlan.is_some() {
        return VlanDecision::Stay;
    }
    let untagged = |reason: &str| VlanDecision::Untagged {
        vlan,
        reason: reason.to_string(),
    };
    if faults.has(Fault::IgnoreL2qvlan) {
        return untagged("fault ignore-l2qvlan");
    }
    if settings.get("L2Q") == Some("2") {
        return untagged("L2Q=2: VLAN tagging is off");
    }
    if let Some(why) = failed.get(&vlan) {
        return untagged(&format!("{why} earlier: untagged until restart"));
    }
    if !can_tag {
        return untagged("loopback mode has no link layer to tag: staying untagged");
    }
    let secs = setting(settings, "VLANTEST")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(60);
    VlanDecision::Switch {
        vlan,
        vlantest: (secs > 0).then(|| Duration::from_secs(secs)),
    }
}

/// Which server of an HTTPSRVR list serves this boot: the first one that answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileServers {
    chosen: Option<String>,
}

impl FileServers {
    /// The servers to try, in order: the one that answered earlier in this boot first (if
    /// the list still names it), then the list in its order. With `first_only` (the
    /// `http-first-server-only` fault) only the list's first entry.
    pub fn order(&self, list: &[String], first_only: bool) -> Vec<String> {
        if first_only {
            return list.iter().take(1).cloned().collect();
        }
        match self.chosen.as_ref().filter(|c| list.contains(c)) {
            Some(c) => std::iter::once(c.clone())
                .chain(list.iter().filter(|s| *s != c).cloned())
                .collect(),
            None => list.to_vec(),
        }
    }

    /// `server` answered; returns true when that changes the choice.
    pub fn answered(&mut self, server: &str) -> bool {
        if self.chosen.as_deref() == Some(server) {
            return false;
        }
        self.chosen = Some(server.to_string());
        true
    }

    pub fn chosen(&self) -> Option<&str> {
        self.chosen.as_deref()
    }
}

/// The boot code name the phone reports as `$BOOTNAME` unless told otherwise (`--bootname`)
/// or a boot code image was installed.
pub const BOOTNAME: &str = "simphone_boot_1_0.bin";

/// The version string of an application name (falls back to the name without `.bin`).
pub fn version_of(app_name: &str) -> String {
    firmware::version_from_appname(app_name)
        .unwrap_or_else(|| app_name.trim_end_matches(".bin").to_string())
}

/// How many times a failed application download is tried in one boot. Avaya documents no
/// value (domain.md "File server": measure it); scenarios state the bound they expect.
pub const BINARY_ATTEMPTS: u32 = 3;
/// Phone time between two attempts at a failed application download (scaled like every
/// phone timer).
pub const BINARY_RETRY_WAIT: Duration = Duration::from_secs(10);

/// The phone family simphone plays (`--profile`, named as phonecert's profiles are): the
/// upgrade script it asks for and the form of its HTTP User-Agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `avaya-96x0-sip`: 9600 SIP R2.x (9620, 9630, 9640, 9650).
    R2,
    /// `avaya-96x1-sip`: 96x1 SIP R6/R7 (9608, 9611, 9621, 9641).
    R7,
}

impl Family {
    /// The profile name.
    pub fn name(self) -> &'static str {
        match self {
            Family::R2 => "avaya-96x0-sip",
            Family::R7 => "avaya-96x1-sip",
        }
    }

    /// The upgrade script the family asks for first (domain.md "Boot sequence" step 3).
    pub fn upgrade_script(self) -> &'static str {
        match self {
            Family::R2 => "96xxupgrade.txt",
            Family::R7 => "96x1Supgrade.txt",
        }
    }
}

impl std::str::FromStr for Family {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Family::R2, Family::R7]
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("`{s}` is no profile; one of avaya-96x0-sip, avaya-96x1-sip"))
    }
}

/// The HTTP User-Agent. 96x0: `AVAYA/96x0-IPT-SIP-<version> <MODEL4>`; 96x1, the form seen in
/// the field (`AVAYA/96x1-IPT-SIP-R7_1_15_0_4 9608G`): `AVAYA/96x1-IPT-SIP-R<version with
/// underscores> <MODEL4>`.
pub fn http_user_agent(family: Family, version: &str, model4: &str) -> String {
    match family {
        Family::R2 => format!("AVAYA/96x0-IPT-SIP-{version} {model4}"),
        Family::R7 => format!("AVAYA/96x1-IPT-SIP-R{} {model4}", version.replace('.', "_")),
    }
}

/// The SIP User-Agent: `Avaya one-X Deskphone <version> <mac>`.
pub fn sip_user_agent(version: &str, mac_hex: &str) -> String {
    format!("Avaya one-X Deskphone {version} {mac_hex}")
}

/// `/HTTPDIR/file`, with no double slash when HTTPDIR is empty.
pub fn file_path(dir: &str, file: &str) -> String {
    let dir = dir.trim_matches('/');
    let file = file.trim_start_matches('/');
    if dir.is_empty() {
        format!("/{file}")
    } else {
        format!("/{dir}/{file}")
    }
}

/// The Host header value: `host`, or `host:port` when the port is not 80.
pub fn host_header(host: &str, port: u16) -> String {
    if port == 80 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

/// A setting as text, if set and not empty.
fn setting(settings: &Settings, name: &str) -> Option<String> {
    settings
        .get(name)
        .map(|v| v.to_string())
        .filter(|v| !v.is_empty())
}

/// A setting in seconds, or `default`.
fn setting_secs(settings: &Settings, name: &str, default: u64) -> Duration {
    Duration::from_secs(
        setting(settings, name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default),
    )
}

/// The phone: configuration, persistent state, clock and randomness.
#[derive(Debug)]
pub struct Phone {
    cfg: PhoneConfig,
    store: Store,
    clock: PhoneClock,
    rng: Rng,
    /// Voice VLANs given up, with why (not tried again until the process restarts).
    failed_vlans: BTreeMap<u16, String>,
    /// The VLAN device created for a tagged lease in `--iface` mode.
    vlan_dev: Option<String>,
    /// CA certificates trusted for HTTPS: given at power-up, and from TRUSTCERTS.
    trust: TrustStore,
}

impl Phone {
    pub fn new(cfg: PhoneConfig) -> Result<Self, PhoneError> {
        let store = Store::new(cfg.state_dir.clone()).map_err(PhoneError::State)?;
        let clock = PhoneClock::new(cfg.time_scale);
        let rng = Rng::new(cfg.seed);
        let mut trust = TrustStore::default();
        for pem in &cfg.boot.trusted_pems {
            if let Err(why) = trust.add_pem(pem) {
                tracing::warn!(%why, "a trusted certificate given at power-up is unusable");
            }
        }
        Ok(Self {
            cfg,
            store,
            clock,
            rng,
            failed_vlans: BTreeMap::new(),
            vlan_dev: None,
            trust,
        })
    }

    /// `$BOOTNAME`: the boot code installed last, else the one the phone came with.
    pub fn boot_name(&self) -> String {
        self.store
            .load()
            .and_then(|s| s.boot_name)
            .unwrap_or_else(|| self.cfg.boot.bootname.clone())
    }

    /// `$SHA2CAPABLE` as text.
    fn sha2capable(&self) -> String {
        let yes =
            self.cfg.faults.has(Fault::Sha2capableEveryModel) || sha2_capable(&self.cfg.model4);
        if yes { "1" } else { "0" }.to_string()
    }

    /// The application currently running.
    pub fn running_app(&self) -> String {
        self.store
            .load()
            .map(|s| s.app_name)
            .unwrap_or_else(|| self.cfg.firmware.clone())
    }

    /// The version the phone reports (the first-boot one with `stale-user-agent-version`).
    pub fn reported_version(&self) -> String {
        if self.cfg.faults.has(Fault::StaleUserAgentVersion) {
            return version_of(&self.cfg.firmware);
        }
        match self.store.load() {
            Some(Installed {
                version: Some(v), ..
            }) => v,
            Some(Installed { app_name, .. }) => version_of(&app_name),
            None => version_of(&self.cfg.firmware),
        }
    }

    fn http_ua(&self) -> String {
        http_user_agent(self.cfg.family, &self.reported_version(), &self.cfg.model4)
    }

    /// Run boots forever (the caller stops the phone by dropping this future).
    pub async fn run(self) -> Result<(), PhoneError> {
        let link = match &self.cfg.mode {
            NetMode::Iface(name) => {
                // The phone *is* --mac: give the interface that address so the server's
                // unicast replies to it are accepted by the NIC.
                let mac = self
                    .cfg
                    .mac
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":");
                let err = |detail| PhoneError::Iface {
                    iface: name.clone(),
                    detail,
                };
                let current = crate::net::raw::interface_mac(name).ok();
                if current != Some(self.cfg.mac) {
                    run_ip(&["link", "set", "dev", name, "down"])
                        .await
                        .map_err(err)?;
                    run_ip(&["link", "set", "dev", name, "address", &mac])
                        .await
                        .map_err(err)?;
                }
                run_ip(&["link", "set", "dev", name, "up"])
                    .await
                    .map_err(err)?;
                flush_iface(name).await;
                DhcpLink::raw(name, self.cfg.mac).map_err(PhoneError::DhcpLink)?
            }
            NetMode::Loopback(server) => {
                DhcpLink::udp(*server).await.map_err(PhoneError::DhcpLink)?
            }
            NetMode::Shared => return Err(PhoneError::NoSharedLink),
        };
        self.run_on(link).await
    }

    /// Run boots forever with DHCP on `link` (the caller stops the phone by dropping this
    /// future). [`run`](Self::run) opens the link its mode names; a phone on a shared link is
    /// handed its link here.
    pub async fn run_on(mut self, link: DhcpLink) -> Result<(), PhoneError> {
        let client_cfg = self.cfg.dhcp_client_config();
        milestone::emit(
            "dhcp-client",
            json!({"sson": client_cfg.site_option_code(), "parameter_list": client_cfg.parameter_list(), "host_name": client_cfg.host_name()}),
        );
        let client = DhcpClient::new(client_cfg, self.rng.fork());
        let mut dhcp = dhcp_io::spawn(link, client, self.clock);
        let mut boot_no = 0u32;
        let mut last_generation = 0u64;
        // The VLAN DHCP was moved to, until the next lease shows whether it worked.
        let mut pending_vlan: Option<u16> = None;
        // A new boot starts at power-up and after each reboot; a lost lease or a move to the
        // voice VLAN only runs DHCP again within the same boot.
        let mut new_boot = true;
        loop {
            if std::mem::take(&mut new_boot) {
                boot_no += 1;
                milestone::emit(
                    "booted",
                    json!({"boot": boot_no, "app_name": self.running_app(), "version": self.reported_version(), "mac": self.cfg.mac_hex(), "model": self.cfg.model()}),
                );
            }
            let (generation, lease) = dhcp.wait_lease(last_generation).await;
            last_generation = generation;
            if let Some(vlan) = pending_vlan.take()
                && lease.vlan != Some(vlan)
            {
                self.failed_vlans
                    .insert(vlan, "no DHCPOFFER within VLANTEST".to_string());
            }
            milestone::emit(
                "leased",
                json!({"address": lease.address.to_string(), "prefix": lease.prefix_len(), "server": lease.server_id.to_string(), "lease_s": lease.lease_time.as_secs(), "t1_s": lease.t1.as_secs_f64(), "t2_s": lease.t2.as_secs_f64(), "vlan": lease.vlan}),
            );
            if let NetMode::Iface(name) = &self.cfg.mode {
                match configure_iface(name, &lease).await {
                    Ok(dev) => self.vlan_dev = dev,
                    Err(e) => match lease.vlan {
                        // The host cannot carry IP on the VLAN (no 802.1Q support in the
                        // kernel): the lease is useless, so give it back and stay untagged
                        // rather than talk untagged from a VLAN address.
                        Some(vlan) => {
                            tracing::error!(vlan, error = %e, "cannot use the VLAN lease: back to untagged DHCP");
                            milestone::emit(
                                "vlan-unsupported",
                                json!({"vlan": vlan, "error": e.to_string(), "now": "releasing the VLAN lease, DHCP untagged"}),
                            );
                            self.failed_vlans
                                .insert(vlan, "no 802.1Q VLAN device possible".to_string());
                            flush_iface(name).await;
                            dhcp.switch_vlan(0, None).await;
                            continue;
                        }
                        None => return Err(e),
                    },
                }
            }
            let outcome = tokio::select! {
                o = self.boot(&lease) => o,
                _ = dhcp.lost(generation) => Outcome::LeaseLost,
            };
            if let NetMode::Iface(name) = &self.cfg.mode {
                flush_iface(name).await;
                if let Some(dev) = self.vlan_dev.take() {
                    delete_link(&dev).await;
                }
            }
            match outcome {
                Outcome::Reboot => {
                    milestone::emit("rebooting", json!({"app_name": self.running_app()}));
                    tracing::info!("rebooting");
                    new_boot = true;
                    dhcp.restart().await;
                }
                Outcome::LeaseLost => {
                    tracing::warn!("lease lost: starting over");
                }
                Outcome::SwitchVlan { vlan, vlantest } => {
                    pending_vlan = Some(vlan);
                    dhcp.switch_vlan(vlan, vlantest).await;
                }
            }
        }
    }

    /// One boot on `lease`. Returns only to reboot or to move to the voice VLAN; otherwise
    /// registers forever.
    async fn boot(&mut self, lease: &Lease) -> Outcome {
        let local_ip = IpAddr::V4(lease.address);
        let http = HttpClient::new(Some(local_ip), self.clock.scale()).with_quirks(Quirks {
            keep_truncated: self.cfg.faults.has(Fault::ApplyIncompleteDownload),
            require_length: self.cfg.faults.has(Fault::RequireContentLength),
        });
        let mut settings = Settings::new();
        let report = site::apply_lease(&mut settings, lease, &self.cfg.faults);
        let mut fields = report.to_json();
        fields["sson"] = json!(self.cfg.dhcp_client_config().site_option_code());
        fields["site_option"] = json!(
            lease
                .site_option
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
        );
        milestone::emit("lease-values", fields);
        let can_tag = matches!(self.cfg.mode, NetMode::Iface(_));
        match vlan_decision(
            &settings,
            lease.vlan,
            &self.failed_vlans,
            can_tag,
            &self.cfg.faults,
        ) {
            VlanDecision::Stay => {}
            VlanDecision::Untagged { vlan, reason } => {
                tracing::info!(vlan, %reason, "L2QVLAN not used");
                milestone::emit(
                    "vlan",
                    json!({"decision": "untagged", "vlan": vlan, "reason": reason}),
                );
            }
            VlanDecision::Switch { vlan, vlantest } => {
                tracing::info!(
                    vlan,
                    ?vlantest,
                    "L2QVLAN: releasing the lease, DHCP again tagged"
                );
                milestone::emit(
                    "vlan",
                    json!({"decision": "switch", "vlan": vlan, "vlantest_s": vlantest.map(|d| d.as_secs()), "releasing": lease.address.to_string()}),
                );
                return Outcome::SwitchVlan { vlan, vlantest };
            }
        }
        let mut servers = FileServers::default();

        let running = self.running_app();
        let vars = PhoneVars {
            model4: self.cfg.model4.clone(),
            model: self.script_model(),
            group: self.script_group(),
            macaddr: self.cfg.mac_hex(),
            bootname: self.boot_name(),
            hwvers: self.cfg.boot.hwvers.clone(),
            appname: running.clone(),
            sig_in_use: if self.cfg.faults.has(Fault::SigVariablesUnknown) {
                String::new()
            } else {
                "2".to_string()
            },
            sha2capable: self.sha2capable(),
            vpnactive: "0".to_string(),
        };
        let mut interp = Interpreter::new(vars);
        let mut upgrade = self.cfg.upgrade_file.clone();
        let mut binary_checked = false;
        // With `ignore-settings-file`, SETs of every file after the upgrade script land here.
        let mut scratch: Option<Settings> = None;
        let mut script_text = self.fetch(&http, &settings, &upgrade, &mut servers).await;
        if script_text.is_none() {
            if self.cfg.faults.has(Fault::StopAfterMissingUpgradeScript) {
                tracing::info!("fault stop-after-missing-upgrade-script: stopping here");
                milestone::emit(
                    "stopped",
                    json!({"why": "fault stop-after-missing-upgrade-script"}),
                );
                std::future::pending::<()>().await;
            }
            match self.cfg.boot.missing_script {
                MissingScript::FetchSettings => {
                    tracing::warn!(file = %upgrade, "no upgrade script: fetching {DEFAULT_SETTINGS_FILE} itself");
                    milestone::emit(
                        "no-upgrade-script",
                        json!({"file": upgrade, "then": DEFAULT_SETTINGS_FILE}),
                    );
                    // The settings file runs like a script of its own.
                    upgrade = DEFAULT_SETTINGS_FILE.to_string();
                    script_text = self.fetch(&http, &settings, &upgrade, &mut servers).await;
                }
                MissingScript::Register => {
                    milestone::emit(
                        "no-upgrade-script",
                        json!({"file": upgrade, "then": "register"}),
                    );
                }
            }
        }
        match script_text {
            Some(bytes) => {
                interp.start(self.parse_file(&upgrade, &bytes));
                loop {
                    let step = match scratch.as_mut() {
                        Some(s) => interp.next(s),
                        None => interp.next(&mut settings),
                    };
                    if self.cfg.faults.has(Fault::SetGroupFromSettingsFile) {
                        take_group_from_sets(&mut interp);
                    }
                    match step {
                        Step::Get { file, .. } => {
                            if !binary_checked {
                                binary_checked = true;
                                if self.check_binary(&http, &settings, &mut servers).await {
                                    return Outcome::Reboot;
                                }
                            }
                            if self.cfg.faults.has(Fault::SkipSettingsFile) {
                                tracing::info!(%file, "fault skip-settings-file: not fetching");
                                interp.fetched(None);
                                continue;
                            }
                            match self.fetch(&http, &settings, &file, &mut servers).await {
                                Some(bytes) => {
                                    if self.cfg.faults.has(Fault::IgnoreSettingsFile)
                                        && scratch.is_none()
                                    {
                                        tracing::info!(%file, "fault ignore-settings-file: SETs discarded");
                                        scratch = Some(Settings::new());
                                    }
                                    interp.fetched(Some(self.parse_file(&file, &bytes)));
                                }
                                None => {
                                    if self.cfg.faults.has(Fault::StopAfterFailedGet) {
                                        tracing::info!(%file, "fault stop-after-failed-get: stopping here");
                                        milestone::emit(
                                            "stopped",
                                            json!({"why": "fault stop-after-failed-get", "file": file}),
                                        );
                                        std::future::pending::<()>().await;
                                    }
                                    interp.fetched(None)
                                }
                            }
                        }
                        Step::Done => break,
                    }
                }
            }
            None => {
                tracing::warn!(file = %upgrade, "no upgrade script: continuing with DHCP values")
            }
        }
        if !binary_checked && self.check_binary(&http, &settings, &mut servers).await {
            return Outcome::Reboot;
        }
        self.directed_files(&http, &settings, &mut servers).await;
        self.register(&settings, local_ip).await;
        Outcome::LeaseLost
    }

    /// `$MODEL`: MODEL4 and the hardware version (MODEL4 alone with `model-without-hardware`).
    fn script_model(&self) -> String {
        if self.cfg.faults.has(Fault::ModelWithoutHardware) {
            self.cfg.model4.clone()
        } else {
            self.cfg.model()
        }
    }

    /// `$GROUP` as entered at the phone (0 with `group-always-zero`).
    fn script_group(&self) -> String {
        let group = if self.cfg.faults.has(Fault::GroupAlwaysZero) {
            0
        } else {
            self.cfg.boot.group
        };
        group.to_string()
    }

    /// Parse a fetched script or settings file, logging what was odd about it.
    fn parse_file(&self, file: &str, bytes: &[u8]) -> script::Script {
        let cut;
        let bytes = if self.cfg.faults.has(Fault::CutLongLines) {
            cut = cut_long_lines(bytes);
            &cut[..]
        } else {
            bytes
        };
        let joined;
        let bytes = if self.cfg.faults.has(Fault::CrlfOnly) {
            joined = join_bare_lf(bytes);
            &joined[..]
        } else {
            bytes
        };
        let mut parsed = if self.cfg.faults.has(Fault::KeepBom) {
            script::parse(file, &latin1(bytes))
        } else if self.cfg.faults.has(Fault::ReadAnyFile) {
            script::parse(file, &String::from_utf8_lossy(bytes))
        } else {
            script::parse_bytes(file, bytes)
        };
        if self.cfg.faults.has(Fault::SigVariablesUnknown) {
            // The fault: the phone has no such variables, so an IF on them is a no-op.
            parsed.lines.retain(|l| {
                !matches!(&l.statement, script::Statement::If { var, .. }
                    if var.eq_ignore_ascii_case("SIG") || var.eq_ignore_ascii_case("SIG_IN_USE"))
            });
        }
        if self.cfg.faults.has(Fault::MissingLabelContinues) {
            // The fault: jumps to labels the file lacks are dropped, so the file goes on.
            let labels: Vec<String> = parsed
                .lines
                .iter()
                .filter_map(|l| match &l.statement {
                    script::Statement::Label { name } => Some(name.to_ascii_uppercase()),
                    _ => None,
                })
                .collect();
            parsed.lines.retain(|l| match &l.statement {
                script::Statement::Goto { label } | script::Statement::If { label, .. } => {
                    labels.contains(&label.to_ascii_uppercase())
                }
                _ => true,
            });
        }
        if !parsed.findings.is_empty() {
            let findings: Vec<serde_json::Value> = parsed
                .findings
                .iter()
                .map(|(line, why)| json!({"line": line, "why": why.to_string()}))
                .collect();
            milestone::emit(
                "script-findings",
                json!({"file": file, "findings": findings}),
            );
        }
        parsed
    }

    /// The files the settings directed, after the script ran (domain.md "Boot sequence"
    /// step 6): certificates to trust (TRUSTCERTS), then language files (LANGUAGES).
    async fn directed_files(
        &mut self,
        http: &HttpClient,
        settings: &Settings,
        servers: &mut FileServers,
    ) {
        for file in settings.files("TRUSTCERTS") {
            let Some(bytes) = self.fetch(http, settings, &file, servers).await else {
                continue;
            };
            match self.trust.add_pem(&bytes) {
                Ok(added) => milestone::emit(
                    "trusted-certificate",
                    json!({"file": file, "added": added, "trusted": self.trust.len()}),
                ),
                Err(why) => {
                    tracing::warn!(%file, %why, "TRUSTCERTS file refused");
                    milestone::emit("certificate-refused", json!({"file": file, "why": why}));
                }
            }
        }
        if self.cfg.faults.has(Fault::IgnoreLanguages) {
            tracing::info!("fault ignore-languages: language files not fetched");
            return;
        }
        for file in settings.files("LANGUAGES") {
            if let Some(bytes) = self.fetch(http, settings, &file, servers).await {
                milestone::emit("language", json!({"file": file, "bytes": bytes.len()}));
            }
        }
    }

    /// GET a script, settings, certificate or language file: over HTTPS first when TLSSRVR
    /// is set, then over HTTP. `Some(body)` only for a complete 200.
    async fn fetch(
        &self,
        http: &HttpClient,
        settings: &Settings,
        file: &str,
        servers: &mut FileServers,
    ) -> Option<Vec<u8>> {
        let tls_servers = settings.tls_servers();
        if !tls_servers.is_empty() {
            if self.cfg.faults.has(Fault::IgnoreTlssrvr) {
                tracing::info!("fault ignore-tlssrvr: HTTPS not tried");
            } else {
                if let Some(body) = self.fetch_tls(http, settings, &tls_servers, file).await {
                    return Some(body);
                }
                if self.cfg.faults.has(Fault::NoHttpFallback) {
                    tracing::info!(%file, "fault no-http-fallback: not trying HTTP");
                    return None;
                }
            }
        }
        let resp = self.fetch_bytes(http, settings, file, servers).await?;
        Some(resp.body)
    }

    /// GET `file` over HTTPS from each TLSSRVR in turn; `None` when none delivered it.
    async fn fetch_tls(
        &self,
        http: &HttpClient,
        settings: &Settings,
        tls_servers: &[String],
        file: &str,
    ) -> Option<Vec<u8>> {
        let policy = tls::Policy {
            check_name: settings.get("TLSSRVRID") == Some("1"),
            verify: !self.cfg.faults.has(Fault::AcceptAnyServerCert),
        };
        let config = match tls::client_config(&self.trust, policy) {
            Ok(c) => c,
            Err(why) => {
                tracing::warn!(%why, "no HTTPS client");
                return None;
            }
        };
        let port = settings.tls_port();
        let path = file_path(&settings.tls_dir(), file);
        let host = if port == 443 { None } else { Some(port) };
        let ua = self.http_ua();
        for server in tls_servers {
            let host_value = match host {
                None => server.clone(),
                Some(p) => format!("{server}:{p}"),
            };
            let addrs = match HttpClient::resolve(server, port).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTPS server unusable");
                    continue;
                }
            };
            for addr in addrs {
                let url = format!("https://{host_value}{path}");
                match http
                    .get_tls(addr, config.clone(), server, &host_value, &path, &ua)
                    .await
                {
                    Ok(resp) if resp.status == 200 => {
                        milestone::emit(
                            "downloaded",
                            json!({"file": file, "url": url, "bytes": resp.body.len()}),
                        );
                        return Some(resp.body);
                    }
                    Ok(resp) => {
                        milestone::emit(
                            "https-failed",
                            json!({"file": file, "url": url, "status": resp.status}),
                        );
                    }
                    Err(e) => {
                        tracing::warn!(%url, error = %e, "HTTPS download failed");
                        milestone::emit(
                            "https-failed",
                            json!({"file": file, "url": url, "error": e.to_string()}),
                        );
                    }
                }
            }
        }
        None
    }

    /// GET `file`: from the server that answered earlier in this boot, else from each
    /// HTTPSRVR in list order until one answers (refused, silent or closed before the first
    /// response byte = not answering). The first answer decides: a 404 is not retried
    /// elsewhere.
    pub async fn fetch_bytes(
        &self,
        http: &HttpClient,
        settings: &Settings,
        file: &str,
        servers: &mut FileServers,
    ) -> Option<HttpResponse> {
        let list = settings.http_servers();
        if list.is_empty() {
            tracing::warn!(%file, "no HTTPSRVR known: cannot fetch");
            return None;
        }
        let first_only = self.cfg.faults.has(Fault::HttpFirstServerOnly);
        if first_only && list.len() > 1 {
            tracing::info!("fault http-first-server-only: only {} is tried", list[0]);
        }
        let port = settings.http_port();
        let dir = if self.cfg.faults.has(Fault::IgnoreOption242Httpdir) {
            String::new()
        } else {
            settings.http_dir()
        };
        let path = file_path(&dir, file);
        let ua = self.http_ua();
        for server in servers.order(&list, first_only) {
            let addrs = match HttpClient::resolve(&server, port).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "file server unusable, trying the next");
                    milestone::emit(
                        "file-server-not-answering",
                        json!({"server": server, "port": port, "file": file, "error": e.to_string()}),
                    );
                    continue;
                }
            };
            for addr in addrs {
                let result = http
                    .get(addr, &host_header(&server, port), &path, &ua)
                    .await;
                match &result {
                    Err(e) if e.is_no_answer() => {}
                    _ => {
                        if servers.answered(&server) {
                            milestone::emit(
                                "file-server",
                                json!({"server": server, "address": addr.to_string(), "list": list, "file": file}),
                            );
                        }
                    }
                }
                match result {
                    Ok(resp) if resp.status == 200 => {
                        milestone::emit(
                            "downloaded",
                            json!({"file": file, "url": format!("http://{}{}", host_header(&server, port), path), "bytes": resp.body.len()}),
                        );
                        return Some(resp);
                    }
                    Ok(resp) => {
                        tracing::warn!(%file, status = resp.status, "file not available");
                        return None;
                    }
                    Err(e) if e.is_no_answer() => {
                        tracing::warn!(error = %e, "file server does not answer, trying the next");
                        milestone::emit(
                            "file-server-not-answering",
                            json!({"server": server, "address": addr.to_string(), "file": file, "error": e.to_string()}),
                        );
                        continue;
                    }
                    Err(e) => {
                        self.download_failed(file, &e);
                        return None;
                    }
                }
            }
        }
        tracing::warn!(%file, "no file server reachable");
        None
    }

    fn download_failed(&self, file: &str, e: &HttpError) {
        tracing::warn!(%file, error = %e, "download failed");
        milestone::emit(
            "download-failed",
            json!({"file": file, "error": e.to_string()}),
        );
    }

    /// Decide, download, verify and install the binary. `true` = reboot (installed, or the
    /// `reboot-after-rejected-image` fault).
    ///
    /// A download that fails (an error status, a body cut, short, stalled past the read
    /// timeout, no server) is tried [`BINARY_ATTEMPTS`] times in all, [`BINARY_RETRY_WAIT`]
    /// apart; an image that arrives whole but fails verification is not fetched again in
    /// this boot (the server would hand over the same bytes). Either way the download is
    /// deleted and the running application stays.
    async fn check_binary(
        &mut self,
        http: &HttpClient,
        settings: &Settings,
        servers: &mut FileServers,
    ) -> bool {
        let Some(appname) = setting(settings, "APPNAME") else {
            return false;
        };
        let running = self.running_app();
        // Boot code is compared with the boot code, an application with the application.
        let boot_code =
            is_boot_code(&appname) && !self.cfg.faults.has(Fault::BootCodeAsApplication);
        let current = if boot_code {
            self.boot_name()
        } else {
            running.clone()
        };
        let same = appname == current;
        if self.cfg.faults.has(Fault::NeverDownloadBinary) {
            tracing::info!(%appname, "fault never-download-binary: not downloading");
            return false;
        }
        if same && !self.cfg.faults.has(Fault::AlwaysDownloadBinary) {
            tracing::info!(%appname, boot_code, "APPNAME is what runs already: no download");
            return false;
        }
        let forever = self.cfg.faults.has(Fault::RetryDownloadForever);
        let mut attempt = 0u32;
        let resp = loop {
            attempt += 1;
            if let Some(resp) = self.fetch_bytes(http, settings, &appname, servers).await {
                break resp;
            }
            if attempt >= BINARY_ATTEMPTS && !forever {
                milestone::emit(
                    "download-abandoned",
                    json!({"file": appname, "attempts": attempt, "keeps_running": running}),
                );
                return false;
            }
            if self.cfg.faults.has(Fault::RetryDownloadAtOnce) {
                tracing::info!(%appname, "fault retry-download-at-once: no wait");
            } else {
                self.clock.sleep(BINARY_RETRY_WAIT).await;
            }
            milestone::emit(
                "download-retry",
                json!({"file": appname, "attempt": attempt + 1}),
            );
        };
        if let Err(e) = self.store.stage_download(&resp.body) {
            tracing::warn!(error = %e, "cannot stage the download");
        }
        let version = if self.cfg.faults.has(Fault::AcceptCorruptBinary) {
            tracing::info!("fault accept-corrupt-binary: not verifying");
            version_of(&appname)
        } else {
            let kind = if boot_code {
                firmware::ImageKind::BootCode
            } else {
                firmware::ImageKind::Application
            };
            match self.verify_image(&resp.body, kind) {
                Ok(header) => header.version,
                Err(e) => {
                    self.store.discard_download();
                    milestone::emit(
                        "rejected-firmware",
                        json!({"app_name": appname, "check": e.check().map(|c| c.as_str()), "reason": e.to_string(), "keeps_running": running}),
                    );
                    if self.cfg.faults.has(Fault::RebootAfterRejectedImage) {
                        tracing::info!("fault reboot-after-rejected-image: rebooting");
                        return true;
                    }
                    return false;
                }
            }
        };
        if same {
            self.store.discard_download();
            tracing::info!(%appname, "downloaded image is the running application: not reinstalling");
            return false;
        }
        if let Err(e) = self.store.commit_download() {
            tracing::warn!(error = %e, "cannot move the image into place");
        }
        let previous = self.store.load();
        if boot_code {
            // New boot code; the application keeps running and keeps its version.
            let installed = Installed {
                app_name: running.clone(),
                version: Some(self.reported_version()),
                boot_name: Some(appname.clone()),
            };
            if let Err(e) = self.store.save(&installed) {
                tracing::warn!(error = %e, "cannot record the installed boot code");
                return false;
            }
            milestone::emit(
                "installed-boot-code",
                json!({"boot_name": appname, "boot_version": version, "previous": current, "app_name": running}),
            );
            return true;
        }
        let installed = Installed {
            app_name: appname.clone(),
            version: Some(version.clone()),
            boot_name: previous.and_then(|p| p.boot_name),
        };
        if let Err(e) = self.store.save(&installed) {
            tracing::warn!(error = %e, "cannot record the installed application");
            return false;
        }
        milestone::emit(
            "installed",
            json!({"app_name": appname, "version": version, "previous": running}),
        );
        true
    }

    /// Verify a downloaded image of the `kind` APPNAME names (boot code or application) in
    /// the documented order (signer, model, hardware, kind, signature, hash), skipping the
    /// checks a fault switch breaks.
    fn verify_image(
        &self,
        image: &[u8],
        kind: firmware::ImageKind,
    ) -> Result<firmware::Header, firmware::FirmwareError> {
        let trusted = [self.cfg.trust_key];
        let target = firmware::Target {
            model4: &self.cfg.model4,
            hardware: &self.cfg.hardware,
            kind,
            trusted: &trusted,
        };
        let faults = &self.cfg.faults;
        firmware::verify_skipping(image, &target, |check| {
            let fault = match check {
                firmware::Check::Signer => Fault::TrustAnySigner,
                firmware::Check::Model => Fault::IgnoreImageModel,
                firmware::Check::Hardware => Fault::IgnoreImageHardware,
                firmware::Check::Kind => Fault::IgnoreImageKind,
                firmware::Check::Signature => Fault::SkipSignatureCheck,
                firmware::Check::Hash => Fault::SkipHashCheck,
            };
            let skip = faults.has(fault);
            if skip {
                tracing::info!(%check, "fault {fault}: check skipped");
            }
            skip
        })
    }

    /// REGISTER with the controllers; runs until the boot is abandoned.
    async fn register(&mut self, settings: &Settings, local_ip: IpAddr) {
        let controllers: Vec<Controller> = settings
            .sip_controllers()
            .into_iter()
            .map(|e| {
                let transport = match e.transport {
                    // The fault: the entry's transport is not read.
                    _ if self.cfg.faults.has(Fault::IgnoreControllerTransport) => SipTransport::Udp,
                    Transport::Udp => SipTransport::Udp,
                    Transport::Tcp => SipTransport::Tcp,
                    Transport::Tls => SipTransport::Tls,
                };
                Controller {
                    host: e.host.clone(),
                    port: e.port,
                    transport,
                }
            })
            .collect();
        if controllers.is_empty() {
            tracing::warn!("no usable SIP controller: not registering");
            milestone::emit("no-controller", json!({}));
            std::future::pending::<()>().await;
        }
        let udp = match sip_io::bind_udp(local_ip).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, %local_ip, "cannot bind the sip socket");
                std::future::pending::<()>().await;
                return;
            }
        };
        let local_port = udp.local_addr().map(|a| a.port()).unwrap_or(5060);
        let user = setting(settings, "FORCE_SIP_USERNAME").unwrap_or_else(|| self.cfg.user.clone());
        let password =
            setting(settings, "FORCE_SIP_PASSWORD").unwrap_or_else(|| self.cfg.password.clone());
        let cfg = RegConfig {
            user,
            password,
            domain: settings.sip_domain(),
            controllers: controllers.clone(),
            local_ip,
            local_port,
            user_agent: sip_user_agent(&self.reported_version(), &self.cfg.mac_hex()),
            register_wait: setting_secs(settings, "REGISTERWAIT", 900),
            recovery_wait: setting_secs(settings, "RECOVERYREGISTERWAIT", 60),
            faults: self.cfg.faults.clone(),
        };
        let reg = Registration::new(cfg, self.rng.fork());
        // TLS controllers are checked like the HTTPS server: against the certificates the
        // phone trusts (given at power-up, TRUSTCERTS), the name only with TLSSRVRID=1.
        let policy = tls::Policy {
            check_name: settings.get("TLSSRVRID") == Some("1"),
            verify: !self.cfg.faults.has(Fault::AcceptAnyServerCert),
        };
        let tls_config = match tls::client_config(&self.trust, policy) {
            Ok(c) => Some(c),
            Err(why) => {
                tracing::warn!(%why, "no TLS client for SIP: every certificate is refused");
                sip_io::trusting_nothing()
            }
        };
        let reuse = if self.cfg.faults.has(Fault::NewConnectionPerRequest) {
            sip_io::Reuse::NewPerRequest
        } else {
            sip_io::Reuse::Keep
        };
        sip_io::run(
            reg,
            controllers,
            udp,
            local_ip,
            tls_config,
            reuse,
            self.clock,
        )
        .await;
    }
}

/// Run `ip ARGS…`; the error text is its stderr.
async fn run_ip(args: &[&str]) -> Result<(), String> {
    let out = tokio::process::Command::new("ip")
        .args(args)
        .output()
        .await
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The name of the VLAN device for `vlan` on `parent`: `parent.vlan`, the parent's name cut
/// so the whole fits IFNAMSIZ (15 characters).
pub fn vlan_dev_name(parent: &str, vlan: u16) -> String {
    let suffix = format!(".{vlan}");
    let keep = (libc::IFNAMSIZ - 1).saturating_sub(suffix.len());
    let head: String = parent.chars().take(keep).collect();
    format!("{head}{suffix}")
}

/// Configure the leased address (and default route) in `--iface` mode. A lease obtained on
/// a voice VLAN goes on a VLAN device over the interface, so that HTTP and SIP leave tagged
/// like the DHCP frames did; returns that device's name.
async fn configure_iface(name: &str, lease: &Lease) -> Result<Option<String>, PhoneError> {
    let err = |detail| PhoneError::Iface {
        iface: name.to_string(),
        detail,
    };
    flush_iface(name).await;
    let (dev, vlan_dev) = match lease.vlan {
        Some(vlan) => {
            let dev = vlan_dev_name(name, vlan);
            delete_link(&dev).await;
            let id = vlan.to_string();
            run_ip(&[
                "link", "add", "link", name, "name", &dev, "type", "vlan", "id", &id,
            ])
            .await
            .map_err(err)?;
            if let Err(e) = run_ip(&["link", "set", "dev", &dev, "up"]).await {
                delete_link(&dev).await;
                return Err(err(e));
            }
            (dev.clone(), Some(dev))
        }
        None => (name.to_string(), None),
    };
    let cidr = format!("{}/{}", lease.address, lease.prefix_len());
    if let Err(e) = run_ip(&["addr", "add", &cidr, "dev", &dev]).await {
        if let Some(v) = &vlan_dev {
            delete_link(v).await;
        }
        return Err(err(e));
    }
    if let Some(router) = lease.router.filter(|r| *r != Ipv4Addr::UNSPECIFIED) {
        let r = router.to_string();
        if let Err(e) = run_ip(&["route", "replace", "default", "via", &r, "dev", &dev]).await {
            tracing::warn!(error = %e, "cannot set the default route");
        }
    }
    tracing::info!(iface = %dev, %cidr, vlan = ?lease.vlan, "address configured");
    Ok(vlan_dev)
}

async fn flush_iface(name: &str) {
    if let Err(e) = run_ip(&["addr", "flush", "dev", name]).await {
        tracing::warn!(error = %e, "cannot flush the interface");
    }
}

/// Remove a link the phone created (a VLAN device); quiet when it is already gone.
async fn delete_link(dev: &str) {
    let _ = run_ip(&["link", "del", "dev", dev]).await;
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn sha2_boot_code_and_latin1_decisions() {
        for m in ["9608", "9611", "9621", "9641"] {
            assert!(sha2_capable(m), "{m}");
        }
        for m in ["9610", "9620", "9630", "9640", "9650"] {
            assert!(!sha2_capable(m), "{m}");
        }
        assert!(is_boot_code("hb96xxua3_00.bin"));
        assert!(is_boot_code("HB96xxua3_00.bin"));
        assert!(!is_boot_code("S96x0_SALBR2_6_1_0.bin"));
        assert!(!is_boot_code("h"));
        assert_eq!(latin1(&[0xEF, 0xBB, 0xBF, b'S']), "\u{ef}\u{bb}\u{bf}S");
        assert_eq!("settings".parse(), Ok(MissingScript::FetchSettings));
        assert_eq!("register".parse(), Ok(MissingScript::Register));
        assert!("stop".parse::<MissingScript>().is_err());
    }

    #[test]
    fn keep_bom_costs_line_one_and_the_clean_phone_keeps_it() {
        let bytes = [
            &[0xEF, 0xBB, 0xBF][..],
            b"SET SIPDOMAIN lab.test\nSET GROUP 1\n",
        ]
        .concat();
        let clean = phone(&[]).parse_file("46xxsettings.txt", &bytes);
        assert_eq!(clean.lines.len(), 2);
        let faulty = phone(&[Fault::KeepBom]).parse_file("46xxsettings.txt", &bytes);
        assert_eq!(faulty.lines.len(), 1, "line 1 became a comment");
        assert_eq!(faulty.lines[0].number, 2);
    }

    #[test]
    fn a_jump_to_a_missing_label_ends_the_file_unless_the_fault_is_on() {
        let text = b"GOTO NOWHERE\nSET GROUP 1\n# THERE\nGOTO THERE\n";
        let clean = phone(&[]).parse_file("f", text);
        assert_eq!(clean.lines.len(), 4);
        let faulty = phone(&[Fault::MissingLabelContinues]).parse_file("f", text);
        assert_eq!(
            faulty.lines.len(),
            3,
            "only the jump to the missing label is gone"
        );
        assert_eq!(faulty.lines[0].number, 2);
    }

    #[test]
    fn bad_files_are_refused_or_cut_unless_a_fault_reads_them() {
        let binary = b"\x1f\x8b\0\xff\nSET REGISTERWAIT 120\n";
        assert!(phone(&[]).parse_file("f", binary).lines.is_empty());
        let read = phone(&[Fault::ReadAnyFile]).parse_file("f", binary);
        assert_eq!(read.lines.len(), 1, "the SET after the NUL runs");
        let long = [
            &b"SET SIPDOMAIN lab.test "[..],
            &vec![b'x'; 100 * 1024],
            b"\nSET REGISTERWAIT 120",
        ]
        .concat();
        let clean = phone(&[]).parse_file("f", &long);
        assert_eq!(clean.lines.len(), 1);
        assert!(clean.findings.iter().any(|(n, _)| *n == 1));
        let cut = phone(&[Fault::CutLongLines]).parse_file("f", &long);
        assert_eq!(cut.lines.len(), 2, "the cut line runs as a SET");
        assert_eq!(cut_long_lines(b"ab\ncd"), b"ab\ncd");
        let lf = b"## comment\nSET SIPDOMAIN lab.test\r\nSET REGISTERWAIT 120\n";
        assert_eq!(phone(&[]).parse_file("f", lf).lines.len(), 2);
        let crlf_only = phone(&[Fault::CrlfOnly]).parse_file("f", lf);
        assert_eq!(crlf_only.lines.len(), 1, "line 1 swallowed line 2");
        assert_eq!(crlf_only.lines[0].number, 2);
    }

    #[test]
    fn model_group_and_sig_as_scripts_see_them() {
        let clean = phone(&[]);
        assert_eq!(clean.script_model(), "9620D01A");
        assert_eq!(phone(&[Fault::ModelWithoutHardware]).script_model(), "9620");
        let ladder = b"IF $SIG SEQ 2 GOTO SIP\nIF $SIG_IN_USE SEQ 2 GOTO SIP\n# SIP\n";
        assert_eq!(clean.parse_file("f", ladder).lines.len(), 3);
        let faulty = phone(&[Fault::SigVariablesUnknown]).parse_file("f", ladder);
        assert_eq!(faulty.lines.len(), 1, "only the label is left");
        let mut interp = Interpreter::new(PhoneVars {
            group: "2".into(),
            ..PhoneVars::default()
        });
        interp.start(script::parse("u", "SET GROUP 1\nGET s\n"));
        let mut settings = Settings::new();
        assert!(matches!(interp.next(&mut settings), Step::Get { .. }));
        assert_eq!(interp.vars().group, "2", "SET GROUP is refused");
        take_group_from_sets(&mut interp);
        assert_eq!(interp.vars().group, "1");
    }

    #[test]
    fn sha2capable_reports_the_model_unless_the_fault_is_on() {
        assert_eq!(phone(&[]).sha2capable(), "0");
        assert_eq!(phone(&[Fault::Sha2capableEveryModel]).sha2capable(), "1");
    }

    #[test]
    fn paths_hosts_and_user_agents() {
        assert_eq!(file_path("", "96xxupgrade.txt"), "/96xxupgrade.txt");
        assert_eq!(file_path("fw", "a.bin"), "/fw/a.bin");
        assert_eq!(file_path("/fw/9600/", "a.bin"), "/fw/9600/a.bin");
        assert_eq!(host_header("10.0.0.9", 80), "10.0.0.9");
        assert_eq!(host_header("10.0.0.9", 8080), "10.0.0.9:8080");
        assert_eq!(
            http_user_agent(Family::R2, "2.6.0.0", "9620"),
            "AVAYA/96x0-IPT-SIP-2.6.0.0 9620"
        );
        assert_eq!(
            http_user_agent(Family::R7, "7.1.15.0", "9608"),
            "AVAYA/96x1-IPT-SIP-R7_1_15_0 9608"
        );
        assert_eq!("avaya-96x1-sip".parse::<Family>(), Ok(Family::R7));
        assert_eq!(Family::R7.upgrade_script(), "96x1Supgrade.txt");
        assert!("polycom".parse::<Family>().is_err());
        assert_eq!(
            sip_user_agent("2.6.0.0", "001b4f27312a"),
            "Avaya one-X Deskphone 2.6.0.0 001b4f27312a"
        );
    }

    fn site(text: &str) -> Settings {
        let mut s = Settings::new();
        provisioning::option242::parse(text).apply(&mut s);
        s
    }

    #[test]
    fn a_non_zero_l2qvlan_moves_dhcp_to_that_vlan_with_vlantest() {
        let none = BTreeMap::new();
        let clean = Faults::none();
        assert_eq!(
            vlan_decision(&site("L2QVLAN=10"), None, &none, true, &clean),
            VlanDecision::Switch {
                vlan: 10,
                vlantest: Some(Duration::from_secs(60))
            },
            "VLANTEST defaults to 60 s"
        );
        assert_eq!(
            vlan_decision(&site("L2QVLAN=10,VLANTEST=5"), None, &none, true, &clean),
            VlanDecision::Switch {
                vlan: 10,
                vlantest: Some(Duration::from_secs(5))
            }
        );
        assert_eq!(
            vlan_decision(&site("L2QVLAN=10,VLANTEST=0"), None, &none, true, &clean),
            VlanDecision::Switch {
                vlan: 10,
                vlantest: None
            },
            "VLANTEST=0: never fall back"
        );
        // Nothing to do without a VLAN, or once on it.
        for (text, on) in [
            ("L2QVLAN=0", None),
            ("HTTPDIR=fw", None),
            ("L2QVLAN=10", Some(10)),
        ] {
            assert_eq!(
                vlan_decision(&site(text), on, &none, true, &clean),
                VlanDecision::Stay
            );
        }
    }

    #[test]
    fn l2qvlan_stays_untagged_when_it_cannot_or_must_not_be_used() {
        let none = BTreeMap::new();
        let clean = Faults::none();
        let untagged = |d: VlanDecision| matches!(d, VlanDecision::Untagged { vlan: 10, .. });
        assert!(untagged(vlan_decision(
            &site("L2QVLAN=10,L2Q=2"),
            None,
            &none,
            true,
            &clean
        )));
        assert!(untagged(vlan_decision(
            &site("L2QVLAN=10"),
            None,
            &BTreeMap::from([(10, "no DHCPOFFER within VLANTEST".to_string())]),
            true,
            &clean
        )));
        match vlan_decision(&site("L2QVLAN=10"), None, &none, false, &clean) {
            VlanDecision::Untagged { reason, .. } => assert!(reason.contains("loopback")),
            other => panic!("loopback cannot tag: {other:?}"),
        }
    }

    #[test]
    fn fault_ignore_l2qvlan_never_switches() {
        let d = vlan_decision(
            &site("L2QVLAN=10"),
            None,
            &BTreeMap::new(),
            true,
            &Faults::from_list(&[Fault::IgnoreL2qvlan]),
        );
        assert!(
            matches!(&d, VlanDecision::Untagged { vlan: 10, reason } if reason.contains("ignore-l2qvlan")),
            "{d:?}"
        );
    }

    #[test]
    fn vlan_device_names_fit_ifnamsiz() {
        assert_eq!(vlan_dev_name("phone0", 10), "phone0.10");
        let long = vlan_dev_name("averyverylongname0", 4094);
        assert_eq!(long, "averyveryl.4094");
        assert!(long.len() < libc::IFNAMSIZ);
    }

    #[test]
    fn the_server_that_answered_is_tried_first_for_the_rest_of_the_boot() {
        let list = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let mut f = FileServers::default();
        assert_eq!(f.order(&list, false), list);
        assert!(f.answered("b"));
        assert!(!f.answered("b"));
        assert_eq!(f.order(&list, false), vec!["b", "a", "c"]);
        // A settings file may name other servers: the choice then no longer applies.
        assert_eq!(f.order(&["x".to_string()], false), vec!["x"]);
        assert_eq!(f.order(&list, true), vec!["a"], "fault: first only");
    }

    fn phone(faults: &[Fault]) -> Phone {
        phone_at(faults, 1.0)
    }

    fn phone_at(faults: &[Fault], time_scale: f64) -> Phone {
        Phone::new(PhoneConfig {
            mode: NetMode::Loopback("127.0.0.1:9".parse().expect("addr")),
            mac: [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a],
            model4: "9620".into(),
            hardware: "D01A".into(),
            firmware: "S96x0_SALBR2_6_0_0.bin".into(),
            state_dir: None,
            user: "2001".into(),
            password: "1234".into(),
            sson: 242,
            upgrade_file: "96xxupgrade.txt".into(),
            family: Family::R2,
            time_scale,
            seed: 1,
            trust_key: provisioning::firmware::lab_signing_key().verifying_key(),
            faults: Faults::from_list(faults),
            boot: crate::boot::BootOptions::default(),
        })
        .expect("phone")
    }

    type Paths = Arc<Mutex<Vec<String>>>;

    /// A file server on `ip`:`port` (0 = any) answering 200 to every path; returns its port
    /// and the request paths it saw.
    async fn file_server(ip: &str, port: u16) -> (u16, Paths) {
        let listener = TcpListener::bind((ip, port)).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen: Paths = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut req = Vec::new();
                let mut b = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&b[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req).into_owned();
                let path = text.split(' ').nth(1).unwrap_or_default().to_string();
                log.lock().expect("log").push(path);
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            }
        });
        (port, seen)
    }

    /// A server on `ip`:`port` that accepts and never says a word; counts connections.
    async fn silent_server(ip: &str, port: u16) -> Arc<Mutex<usize>> {
        let listener = TcpListener::bind((ip, port)).await.expect("bind");
        let count: Arc<Mutex<usize>> = Arc::default();
        let c = count.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                *c.lock().expect("count") += 1;
                held.push(s);
            }
        });
        count
    }

    fn quick_client() -> HttpClient {
        HttpClient {
            local_ip: None,
            connect_timeout: Duration::from_millis(500),
            answer_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_millis(500),
            quirks: Quirks::default(),
        }
    }

    fn listed(port: u16) -> Settings {
        site(&format!(
            "HTTPSRVR=\"127.0.0.1,127.0.0.2\",HTTPPORT={port},HTTPDIR=fw"
        ))
    }

    #[tokio::test]
    async fn a_refused_first_server_is_skipped_and_the_second_serves_the_whole_boot() {
        let (port, second) = file_server("127.0.0.2", 0).await;
        let p = phone(&[]);
        let settings = listed(port);
        let mut servers = FileServers::default();
        let http = quick_client();
        let body = p
            .fetch_bytes(&http, &settings, "96xxupgrade.txt", &mut servers)
            .await
            .expect("second server answered");
        assert_eq!(body.body, b"ok");
        assert_eq!(servers.chosen(), Some("127.0.0.2"));
        // Now the silent first server exists: the boot must not go back to it.
        let first = silent_server("127.0.0.1", port).await;
        p.fetch_bytes(&http, &settings, "46xxsettings.txt", &mut servers)
            .await
            .expect("still the second server");
        assert_eq!(*first.lock().expect("count"), 0);
        assert_eq!(
            *second.lock().expect("paths"),
            vec!["/fw/96xxupgrade.txt", "/fw/46xxsettings.txt"]
        );
    }

    #[tokio::test]
    async fn a_silent_first_server_is_skipped_after_the_answer_timeout() {
        let (port, second) = file_server("127.0.0.2", 0).await;
        let first = silent_server("127.0.0.1", port).await;
        let p = phone(&[]);
        let mut servers = FileServers::default();
        let started = std::time::Instant::now();
        p.fetch_bytes(
            &quick_client(),
            &listed(port),
            "96xxupgrade.txt",
            &mut servers,
        )
        .await
        .expect("second server answered");
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(*first.lock().expect("count"), 1);
        assert_eq!(*second.lock().expect("paths"), vec!["/fw/96xxupgrade.txt"]);
    }

    #[tokio::test]
    async fn fault_http_first_server_only_never_reaches_the_second_server() {
        let (port, second) = file_server("127.0.0.2", 0).await;
        let first = silent_server("127.0.0.1", port).await;
        let p = phone(&[Fault::HttpFirstServerOnly]);
        let mut servers = FileServers::default();
        let got = p
            .fetch_bytes(
                &quick_client(),
                &listed(port),
                "96xxupgrade.txt",
                &mut servers,
            )
            .await;
        assert!(got.is_none());
        assert_eq!(*first.lock().expect("count"), 1);
        assert!(second.lock().expect("paths").is_empty());
    }

    /// An application image for a 9620 D01A, damaged so that exactly `check` refuses it.
    fn image_failing(check: firmware::Check) -> Vec<u8> {
        let lab = firmware::lab_signing_key();
        let other = firmware::SigningKey::from_bytes(&[3; 32]);
        let mut spec = firmware::ImageSpec {
            kind: firmware::ImageKind::Application,
            models: &["9620"],
            hardware: &["D01A"],
            version: "2.6.1.0",
            app_name: "S96x0_SALBR2_6_1_0.bin",
        };
        let mut key = &lab;
        match check {
            firmware::Check::Signer => key = &other,
            firmware::Check::Model => spec.models = &["9608"],
            firmware::Check::Hardware => spec.hardware = &["D02B"],
            firmware::Check::Kind => spec.kind = firmware::ImageKind::BootCode,
            firmware::Check::Signature | firmware::Check::Hash => {}
        }
        let mut image = firmware::build(&spec, b"application payload", key);
        let header = firmware::parse_header(&image).expect("header");
        match check {
            firmware::Check::Signature => image[header.signed_len + 1] ^= 1,
            firmware::Check::Hash => image[header.len + 1] ^= 1,
            _ => {}
        }
        image
    }

    #[test]
    fn each_image_check_is_made_and_has_its_own_fault_switch() {
        let switches = [
            (firmware::Check::Signer, Fault::TrustAnySigner),
            (firmware::Check::Model, Fault::IgnoreImageModel),
            (firmware::Check::Hardware, Fault::IgnoreImageHardware),
            (firmware::Check::Kind, Fault::IgnoreImageKind),
            (firmware::Check::Signature, Fault::SkipSignatureCheck),
            (firmware::Check::Hash, Fault::SkipHashCheck),
        ];
        for (check, fault) in switches {
            let image = image_failing(check);
            let refused = phone(&[])
                .verify_image(&image, firmware::ImageKind::Application)
                .expect_err("clean phone refuses");
            assert_eq!(refused.check(), Some(check), "{fault}");
            assert!(
                phone(&[fault])
                    .verify_image(&image, firmware::ImageKind::Application)
                    .is_ok(),
                "{fault}"
            );
            // Every other switch leaves this check alone.
            for (_, other) in switches.iter().filter(|(c, _)| *c != check) {
                assert!(
                    phone(&[*other])
                        .verify_image(&image, firmware::ImageKind::Application)
                        .is_err(),
                    "{other} on {check}"
                );
            }
        }
        let good = firmware::build(
            &firmware::ImageSpec {
                kind: firmware::ImageKind::Application,
                models: &["96x0"],
                hardware: &["*"],
                version: "2.6.1.0",
                app_name: "S96x0_SALBR2_6_1_0.bin",
            },
            b"payload",
            &firmware::lab_signing_key(),
        );
        assert_eq!(
            phone(&[])
                .verify_image(&good, firmware::ImageKind::Application)
                .expect("good")
                .version,
            "2.6.1.0"
        );
    }

    /// A file server that answers every request 500; returns its port and the times of
    /// the requests.
    async fn failing_server() -> (u16, Arc<Mutex<Vec<std::time::Instant>>>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen: Arc<Mutex<Vec<std::time::Instant>>> = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut b = [0u8; 1024];
                let _ = s.read(&mut b).await;
                log.lock().expect("log").push(std::time::Instant::now());
                let _ = s
                    .write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            }
        });
        (port, seen)
    }

    fn upgrade_to(port: u16) -> Settings {
        let mut s = site(&format!("HTTPSRVR=127.0.0.1,HTTPPORT={port},HTTPDIR=fw"));
        s.set(
            "APPNAME",
            "S96x0_SALBR2_6_1_0.bin",
            provisioning::settings::Source::SettingsFile,
        )
        .expect("APPNAME");
        s
    }

    /// Gaps between consecutive request times.
    fn gaps(times: &[std::time::Instant]) -> Vec<Duration> {
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[tokio::test]
    async fn a_failed_binary_download_is_tried_three_times_spaced() {
        let (port, seen) = failing_server().await;
        // 10 s phone time between attempts is 100 ms at ×100.
        let mut p = phone_at(&[], 100.0);
        let reboot = p
            .check_binary(
                &quick_client(),
                &upgrade_to(port),
                &mut FileServers::default(),
            )
            .await;
        assert!(!reboot);
        let times = seen.lock().expect("times").clone();
        assert_eq!(times.len(), BINARY_ATTEMPTS as usize);
        for gap in gaps(&times) {
            assert!(gap >= Duration::from_millis(95), "{gap:?}");
        }
        assert_eq!(p.running_app(), "S96x0_SALBR2_6_0_0.bin");
    }

    #[tokio::test]
    async fn fault_retry_download_at_once_does_not_wait() {
        let (port, seen) = failing_server().await;
        // At ×1 the wait would be 10 s: the test would not end in time if it were kept.
        let mut p = phone_at(&[Fault::RetryDownloadAtOnce], 1.0);
        let done = tokio::time::timeout(
            Duration::from_secs(5),
            p.check_binary(
                &quick_client(),
                &upgrade_to(port),
                &mut FileServers::default(),
            ),
        )
        .await;
        assert_eq!(done, Ok(false));
        assert_eq!(seen.lock().expect("times").len(), BINARY_ATTEMPTS as usize);
    }

    #[tokio::test]
    async fn fault_retry_download_forever_never_gives_up() {
        let (port, seen) = failing_server().await;
        let mut p = phone_at(&[Fault::RetryDownloadForever], 1000.0);
        let done = tokio::time::timeout(
            Duration::from_millis(500),
            p.check_binary(
                &quick_client(),
                &upgrade_to(port),
                &mut FileServers::default(),
            ),
        )
        .await;
        assert!(done.is_err(), "still retrying");
        assert!(seen.lock().expect("times").len() > BINARY_ATTEMPTS as usize);
    }

    /// A file server that answers every request 200 with `body`; counts requests.
    async fn image_server(body: Vec<u8>) -> (u16, Arc<Mutex<usize>>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let count: Arc<Mutex<usize>> = Arc::default();
        let c = count.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut b = [0u8; 1024];
                let _ = s.read(&mut b).await;
                *c.lock().expect("count") += 1;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(&[head.as_bytes(), &body].concat()).await;
            }
        });
        (port, count)
    }

    #[tokio::test]
    async fn a_refused_image_is_fetched_once_and_the_old_application_stays() {
        let (port, count) = image_server(image_failing(firmware::Check::Hash)).await;
        let mut p = phone_at(&[], 100.0);
        let reboot = p
            .check_binary(
                &quick_client(),
                &upgrade_to(port),
                &mut FileServers::default(),
            )
            .await;
        assert!(!reboot);
        assert_eq!(*count.lock().expect("count"), 1);
        assert_eq!(p.running_app(), "S96x0_SALBR2_6_0_0.bin");
        assert_eq!(p.reported_version(), "2.6.0.0");

        let mut looping = phone_at(&[Fault::RebootAfterRejectedImage], 100.0);
        let reboot = looping
            .check_binary(
                &quick_client(),
                &upgrade_to(port),
                &mut FileServers::default(),
            )
            .await;
        assert!(reboot, "fault reboot-after-rejected-image reboots");
        assert_eq!(looping.running_app(), "S96x0_SALBR2_6_0_0.bin");
    }
}
