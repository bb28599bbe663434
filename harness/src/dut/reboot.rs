//! Reboot control of a real phone on the iface lab, between scenarios.
//!
//! Owns: the three ways a phone the harness does not run is made to boot again — a user's
//! command (`--reboot-cmd`: a PoE switch, a PDU, ssh; started with `sh -c`, the phone's MAC
//! in its environment, its output in the scenario's device log), asking the operator on the
//! terminal (`--reboot operator`), or nothing (`--reboot none`: the phone's own DHCP is
//! awaited) — and stopping a reboot command that is still running when the scenario ends.
//!
//! Never: decides that the phone is back (the engine sees its first DHCPDISCOVER in the
//! timeline), powers anything itself. The command is started through [`crate::proc`], so it
//! dies with the harness.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::error::HarnessError;

/// How the phone is made to boot at the start of each scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reboot {
    /// `sh -c COMMAND` (`--reboot-cmd`).
    Cmd(String),
    /// Ask on the terminal (`--reboot operator`).
    Operator,
    /// Wait for the phone's own DHCP (`--reboot none`).
    None,
}

impl Reboot {
    /// How reports and messages name it.
    pub fn describe(&self) -> String {
        match self {
            Reboot::Cmd(c) => format!("--reboot-cmd '{c}'"),
            Reboot::Operator => "--reboot operator".into(),
            Reboot::None => "--reboot none".into(),
        }
    }

    /// What starts the wait for the phone's DHCPDISCOVER, for the message when it never
    /// comes.
    pub fn wait_start(&self) -> &'static str {
        match self {
            Reboot::Cmd(_) => "the reboot command's start",
            Reboot::Operator => "asking the operator to reboot it",
            Reboot::None => "the scenario's start (--reboot none: the phone's own DHCP)",
        }
    }
}

/// What a reboot is told.
#[derive(Debug, Clone)]
pub struct RebootConfig {
    /// How.
    pub reboot: Reboot,
    /// The phone's MAC.
    pub mac: String,
    /// The lab interface.
    pub iface: String,
    /// The infrastructure's address.
    pub server_ip: std::net::Ipv4Addr,
    /// The scenario id.
    pub scenario: String,
    /// A scratch folder for the command.
    pub work_dir: PathBuf,
    /// Where the command's output goes (the scenario's device log).
    pub log: PathBuf,
    /// How long the phone has to send its first DHCPDISCOVER.
    pub boot_wait: Duration,
}

/// A reboot under way: the command's process group while it runs.
#[derive(Debug)]
pub struct Rebooting {
    command: Option<(Child, Option<libc::pid_t>)>,
}

impl Rebooting {
    /// Starts the reboot: the command (in a process group of its own, output to the log,
    /// environment `PHONECERT_DUT_MAC`, `PHONECERT_IFACE`, `PHONECERT_SERVER_IP`,
    /// `PHONECERT_SCENARIO`, `PHONECERT_WORK_DIR`), or the operator's request on the terminal
    /// (standard error), or only a note that the phone's own DHCP is awaited.
    pub fn start(cfg: &RebootConfig) -> Result<Rebooting, HarnessError> {
        Rebooting::power_on(cfg, super::PowerOn::First)
    }

    /// Starts the reboot, the scenario's first or again for its power cycle (the log goes
    /// on then).
    pub fn power_on(
        cfg: &RebootConfig,
        power_on: super::PowerOn,
    ) -> Result<Rebooting, HarnessError> {
        let log = super::open_log(&cfg.log, power_on).map_err(|source| HarnessError::Folder {
            path: cfg.log.clone(),
            source,
        })?;
        let wait = cfg.boot_wait.as_secs_f64();
        let command = match &cfg.reboot {
            Reboot::Cmd(command) => {
                std::fs::create_dir_all(&cfg.work_dir).map_err(|source| HarnessError::Folder {
                    path: cfg.work_dir.clone(),
                    source,
                })?;
                let log_err = log.try_clone().map_err(|source| HarnessError::Folder {
                    path: cfg.log.clone(),
                    source,
                })?;
                let mut cmd = Command::new("sh");
                cmd.args(["-c", command])
                    .env("PHONECERT_DUT_MAC", &cfg.mac)
                    .env("PHONECERT_IFACE", &cfg.iface)
                    .env("PHONECERT_SERVER_IP", cfg.server_ip.to_string())
                    .env("PHONECERT_SCENARIO", &cfg.scenario)
                    .env("PHONECERT_WORK_DIR", &cfg.work_dir)
                    .current_dir(&cfg.work_dir)
                    .stdin(Stdio::null())
                    .stdout(log)
                    .stderr(log_err)
                    .process_group(0)
                    .kill_on_drop(true);
                let child =
                    crate::proc::spawn_tied(cmd).map_err(|source| HarnessError::DutStart {
                        what: format!("the reboot command '{command}'"),
                        source,
                    })?;
                let pgid = child.id().and_then(|pid| libc::pid_t::try_from(pid).ok());
                eprintln!(
                    "{}: rebooting the phone {} ('{command}'); waiting up to {wait} s for its DHCPDISCOVER on {}",
                    cfg.scenario, cfg.mac, cfg.iface
                );
                Some((child, pgid))
            }
            Reboot::Operator => {
                eprintln!(
                    "\n>>> {}: reboot the phone {} now (power it off and on again). Waiting up to {wait} s for its DHCPDISCOVER on {} …",
                    cfg.scenario, cfg.mac, cfg.iface
                );
                None
            }
            Reboot::None => {
                eprintln!(
                    "{}: waiting up to {wait} s for the phone {} to send a DHCPDISCOVER on {} by itself",
                    cfg.scenario, cfg.mac, cfg.iface
                );
                None
            }
        };
        Ok(Rebooting { command })
    }

    /// The command's exit status once it has ended (`None` while it runs, or without one).
    pub fn ended(&mut self) -> Option<std::process::ExitStatus> {
        let (child, _) = self.command.as_mut()?;
        child.try_wait().ok().flatten()
    }

    /// Stops what is left of the command (its process group): SIGTERM, then SIGKILL after two
    /// seconds. What it started in a session of its own (the phone's power, a daemon) is not
    /// touched.
    pub async fn stop(self) {
        let Some((mut child, pgid)) = self.command else {
            return;
        };
        let signal_group = |sig| {
            if let Some(pgid) = pgid {
                // SAFETY: kill(2) on the process group we created; at worst ESRCH.
                unsafe {
                    libc::kill(-pgid, sig);
                }
            }
        };
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        signal_group(libc::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(2), child.wait())
            .await
            .is_err()
        {
            signal_group(libc::SIGKILL);
            let _ = child.wait().await;
        }
    }
}
