//! Boot orchestration: one boot is DHCP lease → upgrade script → (binary) → settings file →
//! REGISTER, and a reboot runs it again from DHCP (domain.md "Boot sequence").
//!
//! Owns: the order of the steps, which provisioning values feed which request (precedence
//! via `provisioning::settings::Source`), the download decision and installation, interface
//! configuration in `--iface` mode, and where each fault switch bends the sequence.
//! Never: parses option 242 or scripts itself (`provisioning` does), never implements a
//! protocol (the `dhcp`, `sip` cores and `net` shells do).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use provisioning::firmware;
use provisioning::option242;
use provisioning::script::{self, Interpreter, PhoneVars, Step};
use provisioning::settings::{Settings, Source, Transport};
use serde_json::json;

use crate::dhcp::{ClientConfig, DhcpClient, Lease};
use crate::fault::{Fault, Faults};
use crate::milestone;
use crate::net::clock::PhoneClock;
use crate::net::dhcp_io::{self, DhcpLink};
use crate::net::http::{HttpClient, HttpError, HttpResponse};
use crate::net::sip_io;
use crate::rng::Rng;
use crate::sip::register::{Controller, RegConfig, Registration, SipTransport};
use crate::state::{Installed, Store};

/// Where the phone's network lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetMode {
    /// Lab mode: raw DHCP on this interface, address configured with `ip`.
    Iface(String),
    /// Loopback mode: DHCP over UDP to this server; sockets bound to the leased 127.x address.
    Loopback(SocketAddr),
}

/// Everything fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    pub mode: NetMode,
    pub mac: [u8; 6],
    /// MODEL4, e.g. `9620`.
    pub model4: String,
    /// The application running at first boot when the state has none.
    pub firmware: String,
    pub state_dir: Option<PathBuf>,
    pub user: String,
    pub password: String,
    pub sson: u8,
    pub upgrade_file: String,
    pub time_scale: f64,
    pub seed: u64,
    pub trust_key: VerifyingKey,
    pub faults: Faults,
}

impl PhoneConfig {
    /// MODEL (e.g. `9620D01A`): MODEL4 + hardware revision `D01A`.
    pub fn model(&self) -> String {
        format!("{}D01A", self.model4)
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
}

/// How one boot ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new application was installed: start over from DHCP.
    Reboot,
    /// The lease went away: start over from DHCP.
    LeaseLost,
}

/// The boot code name the phone reports as `$BOOTNAME` (simphone has no separate boot code;
/// a fixed name keeps scripts that test it deterministic).
pub const BOOTNAME: &str = "simphone_boot_1_0.bin";

/// The version string of an application name (falls back to the name without `.bin`).
pub fn version_of(app_name: &str) -> String {
    firmware::version_from_appname(app_name)
        .unwrap_or_else(|| app_name.trim_end_matches(".bin").to_string())
}

/// The HTTP User-Agent: `AVAYA/96x0-IPT-SIP-<version> <MODEL4>` (modelled on the 96x1 form
/// `AVAYA/96x1-IPT-SIP-R7_1_15_0_4 9608G` seen in the field).
pub fn http_user_agent(version: &str, model4: &str) -> String {
    format!("AVAYA/96x0-IPT-SIP-{version} {model4}")
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

/// Feed what a lease carries into Settings: siaddr and option 66 as low-precedence
/// HTTPSRVR (Source::Dhcp), option 43 and the site option (Source::SiteOption).
pub fn apply_lease(settings: &mut Settings, lease: &Lease, faults: &Faults) {
    if !lease.siaddr.is_unspecified() {
        let _ = settings.set("HTTPSRVR", &lease.siaddr.to_string(), Source::Dhcp);
    }
    if let Some(name) = lease.option66.as_deref().filter(|s| !s.is_empty()) {
        // Option 66 names one server; it overrides siaddr (both are DHCP-level values).
        let _ = settings.set("HTTPSRVR", name, Source::Dhcp);
    }
    if faults.has(Fault::IgnoreOption242) {
        if lease.site_option.is_some() {
            tracing::info!("fault ignore-option242: site option not applied");
        }
        return;
    }
    if let Some(raw) = &lease.option43 {
        match option242::parse_option43(raw) {
            Some(pairs) => {
                for (pair, why) in option242::apply_option43(&pairs, settings) {
                    tracing::info!(?pair, ?why, "option 43 value ignored");
                }
            }
            None => tracing::debug!("option 43 without the 6889 marker: ignored"),
        }
    }
    if let Some(raw) = &lease.site_option {
        let text = String::from_utf8_lossy(raw);
        // A terminating NUL is common in DHCP strings; it is not part of the value.
        let text = text.trim_end_matches('\0');
        let site = option242::parse(text);
        for (pair, why) in site.apply(settings) {
            tracing::info!(?pair, ?why, "site option pair ignored");
        }
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
}

impl Phone {
    pub fn new(cfg: PhoneConfig) -> Result<Self, PhoneError> {
        let store = Store::new(cfg.state_dir.clone()).map_err(PhoneError::State)?;
        let clock = PhoneClock::new(cfg.time_scale);
        let rng = Rng::new(cfg.seed);
        Ok(Self {
            cfg,
            store,
            clock,
            rng,
        })
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
        http_user_agent(&self.reported_version(), &self.cfg.model4)
    }

    /// Run boots forever (the caller stops the phone by dropping this future).
    pub async fn run(mut self) -> Result<(), PhoneError> {
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
        };
        let client = DhcpClient::new(
            ClientConfig {
                mac: self.cfg.mac,
                sson: self.cfg.sson,
            },
            self.rng.fork(),
        );
        let mut dhcp = dhcp_io::spawn(link, client, self.clock);
        let mut boot_no = 0u32;
        let mut last_generation = 0u64;
        loop {
            boot_no += 1;
            milestone::emit(
                "booted",
                json!({"boot": boot_no, "app_name": self.running_app(), "version": self.reported_version(), "mac": self.cfg.mac_hex(), "model": self.cfg.model()}),
            );
            let (generation, lease) = dhcp.wait_lease(last_generation).await;
            last_generation = generation;
            milestone::emit(
                "leased",
                json!({"address": lease.address.to_string(), "prefix": lease.prefix_len(), "server": lease.server_id.to_string(), "lease_s": lease.lease_time.as_secs()}),
            );
            if let NetMode::Iface(name) = &self.cfg.mode {
                configure_iface(name, &lease).await?;
            }
            let outcome = tokio::select! {
                o = self.boot(&lease) => o,
                _ = dhcp.lost(generation) => Outcome::LeaseLost,
            };
            if let NetMode::Iface(name) = &self.cfg.mode {
                flush_iface(name).await;
            }
            match outcome {
                Outcome::Reboot => {
                    milestone::emit("rebooting", json!({"app_name": self.running_app()}));
                    tracing::info!("rebooting");
                    dhcp.restart().await;
                }
                Outcome::LeaseLost => {
                    tracing::warn!("lease lost: starting over");
                }
            }
        }
    }

    /// One boot on `lease`. Returns only to reboot; otherwise registers forever.
    async fn boot(&mut self, lease: &Lease) -> Outcome {
        let local_ip = IpAddr::V4(lease.address);
        let http = HttpClient::new(Some(local_ip), self.clock.scale());
        let mut settings = Settings::new();
        apply_lease(&mut settings, lease, &self.cfg.faults);

        let running = self.running_app();
        let vars = PhoneVars {
            model4: self.cfg.model4.clone(),
            model: self.cfg.model(),
            group: "0".to_string(),
            macaddr: self.cfg.mac_hex(),
            bootname: BOOTNAME.to_string(),
            appname: running.clone(),
            sig_in_use: "2".to_string(),
            sha2capable: "1".to_string(),
            vpnactive: "0".to_string(),
        };
        let mut interp = Interpreter::new(vars);
        let upgrade = self.cfg.upgrade_file.clone();
        let mut binary_checked = false;
        // With `ignore-settings-file`, SETs of every file after the upgrade script land here.
        let mut scratch: Option<Settings> = None;
        match self.fetch(&http, &settings, &upgrade).await {
            Some(text) => {
                interp.start(script::parse(&upgrade, &text));
                loop {
                    let step = match scratch.as_mut() {
                        Some(s) => interp.next(s),
                        None => interp.next(&mut settings),
                    };
                    match step {
                        Step::Get { file, .. } => {
                            if !binary_checked {
                                binary_checked = true;
                                if self.check_binary(&http, &settings).await {
                                    return Outcome::Reboot;
                                }
                            }
                            if self.cfg.faults.has(Fault::SkipSettingsFile) {
                                tracing::info!(%file, "fault skip-settings-file: not fetching");
                                interp.fetched(None);
                                continue;
                            }
                            match self.fetch(&http, &settings, &file).await {
                                Some(text) => {
                                    if self.cfg.faults.has(Fault::IgnoreSettingsFile)
                                        && scratch.is_none()
                                    {
                                        tracing::info!(%file, "fault ignore-settings-file: SETs discarded");
                                        scratch = Some(Settings::new());
                                    }
                                    interp.fetched(Some(script::parse(&file, &text)));
                                }
                                None => interp.fetched(None),
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
        if !binary_checked && self.check_binary(&http, &settings).await {
            return Outcome::Reboot;
        }
        self.register(&settings, local_ip).await;
        Outcome::LeaseLost
    }

    /// GET `file` from the configured servers; `Some(text)` only for a complete 200.
    async fn fetch(&self, http: &HttpClient, settings: &Settings, file: &str) -> Option<String> {
        let resp = self.fetch_bytes(http, settings, file).await?;
        Some(String::from_utf8_lossy(&resp.body).into_owned())
    }

    async fn fetch_bytes(
        &self,
        http: &HttpClient,
        settings: &Settings,
        file: &str,
    ) -> Option<HttpResponse> {
        let servers = settings.http_servers();
        if servers.is_empty() {
            tracing::warn!(%file, "no HTTPSRVR known: cannot fetch");
            return None;
        }
        let port = settings.http_port();
        let dir = if self.cfg.faults.has(Fault::IgnoreOption242Httpdir) {
            String::new()
        } else {
            settings.http_dir()
        };
        let path = file_path(&dir, file);
        let ua = self.http_ua();
        for server in servers {
            let addrs = match HttpClient::resolve(&server, port).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "file server unusable, trying the next");
                    continue;
                }
            };
            for addr in addrs {
                match http
                    .get(addr, &host_header(&server, port), &path, &ua)
                    .await
                {
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
                    Err(e) if e.is_connect_failure() => {
                        tracing::warn!(error = %e, "cannot reach file server, trying the next");
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

    /// Decide, download, verify and install the binary. `true` = installed, reboot.
    async fn check_binary(&mut self, http: &HttpClient, settings: &Settings) -> bool {
        let Some(appname) = setting(settings, "APPNAME") else {
            return false;
        };
        let running = self.running_app();
        let same = appname == running;
        if self.cfg.faults.has(Fault::NeverDownloadBinary) {
            tracing::info!(%appname, "fault never-download-binary: not downloading");
            return false;
        }
        if same && !self.cfg.faults.has(Fault::AlwaysDownloadBinary) {
            tracing::info!(%appname, "APPNAME is the running application: no download");
            return false;
        }
        let Some(resp) = self.fetch_bytes(http, settings, &appname).await else {
            return false;
        };
        if let Err(e) = self.store.stage_download(&resp.body) {
            tracing::warn!(error = %e, "cannot stage the download");
        }
        let version = if self.cfg.faults.has(Fault::AcceptCorruptBinary) {
            tracing::info!("fault accept-corrupt-binary: not verifying");
            version_of(&appname)
        } else {
            match firmware::verify(&resp.body, &self.cfg.model4, &self.cfg.trust_key) {
                Ok(info) => info.version.to_string(),
                Err(e) => {
                    self.store.discard_download();
                    milestone::emit(
                        "rejected-firmware",
                        json!({"app_name": appname, "reason": e.to_string(), "keeps_running": running}),
                    );
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
        let installed = Installed {
            app_name: appname.clone(),
            version: Some(version.clone()),
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

    /// REGISTER with the controllers; runs until the boot is abandoned.
    async fn register(&mut self, settings: &Settings, local_ip: IpAddr) {
        let controllers: Vec<Controller> = settings
            .sip_controllers()
            .into_iter()
            .filter_map(|e| {
                let transport = match e.transport {
                    Transport::Udp => SipTransport::Udp,
                    Transport::Tcp => SipTransport::Tcp,
                    other => {
                        tracing::warn!(host = %e.host, transport = ?other, "controller transport not supported, skipped");
                        return None;
                    }
                };
                Some(Controller {
                    host: e.host.clone(),
                    port: e.port,
                    transport,
                })
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
        sip_io::run(reg, controllers, udp, local_ip, self.clock).await;
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

async fn configure_iface(name: &str, lease: &Lease) -> Result<(), PhoneError> {
    let err = |detail| PhoneError::Iface {
        iface: name.to_string(),
        detail,
    };
    flush_iface(name).await;
    let cidr = format!("{}/{}", lease.address, lease.prefix_len());
    run_ip(&["addr", "add", &cidr, "dev", name])
        .await
        .map_err(err)?;
    if let Some(router) = lease.router.filter(|r| *r != Ipv4Addr::UNSPECIFIED) {
        let r = router.to_string();
        if let Err(e) = run_ip(&["route", "replace", "default", "via", &r, "dev", name]).await {
            tracing::warn!(error = %e, "cannot set the default route");
        }
    }
    tracing::info!(iface = name, %cidr, "address configured");
    Ok(())
}

async fn flush_iface(name: &str) {
    if let Err(e) = run_ip(&["addr", "flush", "dev", name]).await {
        tracing::warn!(error = %e, "cannot flush the interface");
    }
}

#[cfg(test)]
mod tests {
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
        }
    }

    #[test]
    fn site_option_overrides_siaddr_and_option66_overrides_siaddr() {
        let mut s = Settings::new();
        apply_lease(
            &mut s,
            &lease(Some("HTTPSRVR=10.0.0.9,HTTPDIR=fw\0"), None),
            &Faults::none(),
        );
        assert_eq!(s.http_servers(), vec!["10.0.0.9".to_string()]);
        assert_eq!(s.http_dir(), "fw");
        let mut s = Settings::new();
        apply_lease(&mut s, &lease(None, Some("10.0.0.3")), &Faults::none());
        assert_eq!(s.http_servers(), vec!["10.0.0.3".to_string()]);
        let mut s = Settings::new();
        apply_lease(&mut s, &lease(None, None), &Faults::none());
        assert_eq!(s.http_servers(), vec!["10.0.0.2".to_string()]);
    }

    #[test]
    fn fault_ignore_option242_leaves_only_the_dhcp_fallbacks() {
        let l = lease(Some("HTTPSRVR=10.0.0.9,HTTPDIR=fw"), None);
        let mut clean = Settings::new();
        apply_lease(&mut clean, &l, &Faults::none());
        let mut faulty = Settings::new();
        apply_lease(
            &mut faulty,
            &l,
            &Faults::from_list(&[Fault::IgnoreOption242]),
        );
        assert_eq!(clean.http_servers(), vec!["10.0.0.9".to_string()]);
        assert_eq!(faulty.http_servers(), vec!["10.0.0.2".to_string()]);
        assert_eq!(faulty.http_dir(), "");
    }

    #[test]
    fn option43_counts_only_with_the_6889_marker() {
        let mut l = lease(None, None);
        l.option43 = Some([&[1u8, 4][..], b"6889", &[2, 8], b"10.0.0.7"].concat());
        let mut s = Settings::new();
        apply_lease(&mut s, &l, &Faults::none());
        assert_eq!(s.http_servers(), vec!["10.0.0.7".to_string()]);
        l.option43 = Some([&[1u8, 4][..], b"1234", &[2, 8], b"10.0.0.7"].concat());
        let mut s = Settings::new();
        apply_lease(&mut s, &l, &Faults::none());
        assert_eq!(s.http_servers(), vec!["10.0.0.2".to_string()]);
    }

    #[test]
    fn paths_hosts_and_user_agents() {
        assert_eq!(file_path("", "96xxupgrade.txt"), "/96xxupgrade.txt");
        assert_eq!(file_path("fw", "a.bin"), "/fw/a.bin");
        assert_eq!(file_path("/fw/9600/", "a.bin"), "/fw/9600/a.bin");
        assert_eq!(host_header("10.0.0.9", 80), "10.0.0.9");
        assert_eq!(host_header("10.0.0.9", 8080), "10.0.0.9:8080");
        assert_eq!(
            http_user_agent("2.6.0.0", "9620"),
            "AVAYA/96x0-IPT-SIP-2.6.0.0 9620"
        );
        assert_eq!(
            sip_user_agent("2.6.0.0", "001b4f27312a"),
            "Avaya one-X Deskphone 2.6.0.0 001b4f27312a"
        );
    }
}
