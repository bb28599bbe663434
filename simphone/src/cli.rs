//! The `simphone` command line: flags → [`PhoneConfig`], logging, signals, exit codes.
//!
//! Owns: flag parsing and validation (two stages: clap, then checks that need several
//! flags), the `--list-faults` text, tracing setup (stderr or `--log FILE`, never stdout),
//! and mapping outcomes to exit codes: 0 stopped by SIGTERM/SIGINT, 1 the phone could not
//! run (e.g. no raw socket), 2 bad usage. Only `--help`, `--version` and `--list-faults`
//! write to stdout.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ed25519_dalek::VerifyingKey;

use crate::boot::{BootOptions, MissingScript, NetMode, Phone, PhoneConfig};
use crate::fault::{self, Fault, Faults};
use crate::net::raw::parse_mac;

const LONG_ABOUT: &str = "\
simphone is phonecert's reference Avaya 9600-series SIP phone (96x0 SIP R2.x profile). One boot is:
DHCP (DISCOVER/OFFER/REQUEST/ACK, option 242 or --sson) -> GET 96xxupgrade.txt -> download, verify
and install the binary named by APPNAME if it differs from the running one (then reboot) -> GET the
settings file the script names -> REGISTER with SIP_CONTROLLER_LIST (digest auth, refresh, failover).
It keeps running (renewing the lease, refreshing the registration) until SIGTERM/SIGINT.

Running it by hand against any servers:

  Loopback (no privileges): run a DHCP server on 127.0.0.1 that hands out 127.x.y.z addresses
  and puts HTTPSRVR/SIP_CONTROLLER_LIST in option 242, a file server and a SIP registrar on
  127.0.0.1 (or any local address), then:
    simphone --dhcp-server 127.0.0.1:6767 --mac 00:1b:4f:27:31:2a --user 2001 --password 1234

  Lab interface (root): a veth end, a VLAN or a real NIC whose other side has the servers:
    simphone --iface veth-phone --mac 00:1b:4f:27:31:2a --user 2001 --password 1234
  DHCP then runs over raw Ethernet frames; the leased address, mask and default route are
  configured with `ip`, and flushed on every reboot. An L2QVLAN from DHCP makes the phone
  release the lease and DHCP again tagged with that 802.1Q VLAN (untagged again after VLANTEST
  seconds without an offer); the VLAN lease goes on a VLAN device IFACE.N. In loopback mode
  VLANs cannot work: the phone logs it and stays untagged.

Add --time-scale 20 to run every phone timer 20 times faster, --state-dir DIR to keep the
installed firmware across restarts, --fault NAME to break one behaviour (see --list-faults).
Milestones (booted, dhcp-client, leased, lease-values, vlan, dhcp-release, vlan-fallback,
renewing, lease-lost, file-server, file-server-not-answering, downloaded, installed,
rejected-firmware, registered, ...) are logged as JSON lines under target simphone::milestone.";

/// Command-line flags (stage one: syntax).
#[derive(Debug, Parser)]
#[command(name = "simphone", version, about = "reference Avaya 9600 SIP phone (device under test for phonecert)", long_about = LONG_ABOUT)]
pub struct Args {
    /// Lab mode: DHCP over raw frames on this interface, address configured with `ip` (root).
    #[arg(long, value_name = "NAME", conflicts_with = "dhcp_server")]
    pub iface: Option<String>,
    /// Loopback mode: DHCP over UDP to this server; HTTP/SIP bound to the leased 127.x address.
    #[arg(long, value_name = "IP:PORT")]
    pub dhcp_server: Option<SocketAddr>,
    /// The phone's MAC address, e.g. 00:1b:4f:27:31:2a.
    #[arg(long, value_name = "MAC")]
    pub mac: Option<String>,
    /// MODEL4 (9620, 9630, 9640, 9650); MODEL is MODEL4 + the hardware version.
    #[arg(long, default_value = "9620")]
    pub model: String,
    /// Hardware version (four letters and digits); firmware images must name it (or `*`).
    #[arg(long, value_name = "REV", default_value = "D01A")]
    pub hardware: String,
    /// Application running at first boot when the state dir records none.
    #[arg(long, value_name = "APPNAME", default_value = "S96x0_SALBR2_6_0_0.bin")]
    pub firmware: String,
    /// Directory that keeps the installed application across reboots and restarts.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// SIP login (extension), like FORCE_SIP_USERNAME.
    #[arg(long)]
    pub user: Option<String>,
    /// SIP password, like FORCE_SIP_PASSWORD.
    #[arg(long)]
    pub password: Option<String>,
    /// Site-specific DHCP option number (128-255).
    #[arg(long, default_value_t = 242, value_parser = clap::value_parser!(u8).range(128..=255))]
    pub sson: u8,
    /// Name of the upgrade script.
    #[arg(long, value_name = "FILE", default_value = "96xxupgrade.txt")]
    pub upgrade_file: String,
    /// Run every phone timer this many times faster than real time.
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    pub time_scale: f64,
    /// Seed for every random choice (xids, tags, jitter, recovery waits).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Ed25519 public key (64 hex digits) trusted for firmware; default: the lab key.
    #[arg(long, value_name = "HEX")]
    pub trust_key: Option<String>,
    /// Switch on a fault (repeatable); see --list-faults.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<Fault>,
    /// Print the fault switches, one per line, and exit.
    #[arg(long)]
    pub list_faults: bool,
    /// Write the log to this file instead of stderr.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Trust this CA certificate (PEM) for HTTPS from power-up, as if TRUSTCERTS had
    /// installed it earlier (repeatable).
    #[arg(long = "trust-cert", value_name = "PEM")]
    pub trust_certs: Vec<PathBuf>,
    /// $BOOTNAME: the boot code running at first boot.
    #[arg(long, value_name = "NAME", default_value = crate::boot::BOOTNAME)]
    pub bootname: String,
    /// $HWVERS: the hardware version (empty: unknown).
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub hwvers: String,
    /// $GROUP (0-999).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=999))]
    pub group: u16,
    /// With no upgrade script: fetch 46xxsettings.txt then register (`settings`), or register
    /// with the DHCP values only (`register`).
    #[arg(long, value_name = "settings|register", default_value = "settings")]
    pub on_missing_upgrade_script: MissingScript,
}

/// Stage-two errors: flags that parse but do not make a phone.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UsageError {
    #[error("one of --iface NAME or --dhcp-server IP:PORT is required")]
    NoMode,
    #[error("--mac is required")]
    NoMac,
    #[error("bad --mac '{0}' (want six hex octets like 00:1b:4f:27:31:2a)")]
    BadMac(String),
    #[error("--user and --password are required")]
    NoLogin,
    #[error("bad --trust-key: {0}")]
    BadKey(String),
    #[error("--time-scale must be a positive number, got {0}")]
    BadScale(f64),
    #[error("--model must be four characters like 9620, got '{0}'")]
    BadModel(String),
    #[error("--trust-cert {path}: {why}")]
    BadTrustCert { path: String, why: String },
    #[error("--hardware must be four letters or digits like D01A, got '{0}'")]
    BadHardware(String),
}

/// Parse a hex Ed25519 public key.
pub fn parse_trust_key(hex_text: &str) -> Result<VerifyingKey, UsageError> {
    let bytes = hex::decode(hex_text.trim()).map_err(|e| UsageError::BadKey(e.to_string()))?;
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| UsageError::BadKey(format!("{} bytes, want 32", bytes.len())))?;
    VerifyingKey::from_bytes(&arr).map_err(|e| UsageError::BadKey(e.to_string()))
}

impl Args {
    /// Stage two: validate and build the phone's configuration.
    pub fn config(&self) -> Result<PhoneConfig, UsageError> {
        let mode = match (&self.iface, self.dhcp_server) {
            (Some(i), _) => NetMode::Iface(i.clone()),
            (None, Some(s)) => NetMode::Loopback(s),
            (None, None) => return Err(UsageError::NoMode),
        };
        let mac_text = self.mac.as_deref().ok_or(UsageError::NoMac)?;
        let mac = parse_mac(mac_text).ok_or_else(|| UsageError::BadMac(mac_text.to_string()))?;
        let (Some(user), Some(password)) = (&self.user, &self.password) else {
            return Err(UsageError::NoLogin);
        };
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(UsageError::BadScale(self.time_scale));
        }
        if self.model.len() != 4 {
            return Err(UsageError::BadModel(self.model.clone()));
        }
        if self.hardware.len() != 4 || !self.hardware.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(UsageError::BadHardware(self.hardware.clone()));
        }
        let mut trusted_pems = Vec::new();
        for path in &self.trust_certs {
            let bad = |why: String| UsageError::BadTrustCert {
                path: path.display().to_string(),
                why,
            };
            let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            crate::net::tls::TrustStore::default()
                .add_pem(&pem)
                .map_err(bad)?;
            trusted_pems.push(pem);
        }
        let trust_key = match &self.trust_key {
            Some(h) => parse_trust_key(h)?,
            None => provisioning::firmware::lab_signing_key().verifying_key(),
        };
        Ok(PhoneConfig {
            mode,
            mac,
            model4: self.model.clone(),
            hardware: self.hardware.clone(),
            firmware: self.firmware.clone(),
            state_dir: self.state_dir.clone(),
            user: user.clone(),
            password: password.clone(),
            sson: self.sson,
            upgrade_file: self.upgrade_file.clone(),
            time_scale: self.time_scale,
            seed: self.seed,
            trust_key,
            faults: Faults::from_list(&self.faults),
            boot: BootOptions {
                bootname: self.bootname.clone(),
                hwvers: self.hwvers.clone(),
                group: self.group,
                trusted_pems,
                missing_script: self.on_missing_upgrade_script,
            },
        })
    }
}

fn init_logging(log: Option<&PathBuf>) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    match log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?;
            builder.with_writer(std::sync::Mutex::new(file)).init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

/// The binary's entry point.
pub fn main() -> ExitCode {
    main_from(std::env::args_os())
}

/// The entry point over a given command line (the first item is the program's name), for a
/// binary that carries the phone under a subcommand of its own.
pub fn main_from(argv: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if args.list_faults {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(fault::list_text().as_bytes());
        return ExitCode::SUCCESS;
    }
    let cfg = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("simphone: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = init_logging(args.log.as_ref()) {
        eprintln!("simphone: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("simphone: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async move {
        let faults: Vec<&str> = cfg.faults.iter().map(|f| f.name()).collect();
        tracing::info!(?faults, mode = ?cfg.mode, "simphone starting");
        let phone = match Phone::new(cfg) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                eprintln!("simphone: {e}");
                return 1u8;
            }
        };
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("simphone: cannot watch SIGTERM: {e}");
                    return 1;
                }
            };
        tokio::select! {
            r = phone.run() => match r {
                Ok(()) => 0,
                Err(e) => {
                    tracing::error!(error = %e, "phone stopped");
                    eprintln!("simphone: {e}");
                    1
                }
            },
            _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: stopping"); 0 }
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); 0 }
        }
    });
    // Do not wait for blocked tasks (e.g. a stalled download) on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("simphone").chain(argv.iter().copied()))
            .expect("parses")
    }

    #[test]
    fn loopback_flags_make_a_config() {
        let a = parse(&[
            "--dhcp-server",
            "127.0.0.1:6767",
            "--mac",
            "00:1b:4f:27:31:2a",
            "--user",
            "2001",
            "--password",
            "1234",
            "--fault",
            "no-auth-retry",
            "--time-scale",
            "10",
        ]);
        let c = a.config().expect("config");
        assert_eq!(
            c.mode,
            NetMode::Loopback("127.0.0.1:6767".parse().expect("addr"))
        );
        assert_eq!(c.model(), "9620D01A");
        assert_eq!(c.mac_hex(), "001b4f27312a");
        assert!(c.faults.has(Fault::NoAuthRetry));
        assert_eq!(c.sson, 242);
    }

    #[test]
    fn clap_definition_is_consistent_and_help_explains_manual_runs() {
        use clap::CommandFactory;
        Args::command().debug_assert();
        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("--dhcp-server 127.0.0.1:6767"), "{help}");
        assert!(help.contains("--iface"));
        assert!(help.contains("--list-faults"));
    }

    #[test]
    fn usage_errors_are_named() {
        assert_eq!(
            parse(&["--mac", "00:1b:4f:27:31:2a"]).config().err(),
            Some(UsageError::NoMode)
        );
        assert_eq!(
            parse(&["--iface", "x", "--mac", "zz"]).config().err(),
            Some(UsageError::BadMac("zz".into()))
        );
        assert_eq!(
            parse(&["--iface", "x", "--mac", "00:1b:4f:27:31:2a"])
                .config()
                .err(),
            Some(UsageError::NoLogin)
        );
        assert!(Args::try_parse_from(["simphone", "--sson", "100"]).is_err());
        assert!(Args::try_parse_from(["simphone", "--fault", "bogus"]).is_err());
        assert!(
            Args::try_parse_from(["simphone", "--iface", "a", "--dhcp-server", "127.0.0.1:1"])
                .is_err()
        );
        assert!(matches!(
            parse_trust_key("abcd"),
            Err(UsageError::BadKey(_))
        ));
        let lab = provisioning::firmware::lab_signing_key().verifying_key();
        assert_eq!(parse_trust_key(&hex::encode(lab.to_bytes())), Ok(lab));
    }
}
