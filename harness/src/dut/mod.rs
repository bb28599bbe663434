//! DUT adapters: how the harness starts, reboots and stops the device under test.
//!
//! Owns: the `sim` adapter (the reference phone `simphone`, started as a child process in
//! the phone's namespace or on loopback, one fresh process per scenario so every scenario
//! begins with a cold boot), the `cmd` adapter (`--dut-cmd`), the reboot control of a real
//! phone on the iface lab ([`reboot`]), finding the reference phone's
//! program, and the device's log (its standard error goes there too, so a device that
//! refuses its arguments leaves its reason where the report points).
//!
//! Never: looks at what the phone says on the network (that is the servers' and the
//! judge's job) — the adapter only powers the phone on and off. Every child is started
//! through [`crate::proc`], so it dies with the harness.

use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::error::HarnessError;

mod reboot;

pub use reboot::{Reboot, RebootConfig, Rebooting};

/// The hidden subcommand under which the `phonecert` binary runs the reference phone it
/// carries (`phonecert simphone ARGS…` is `simphone ARGS…`), so that a build of `phonecert`
/// alone can run the suite.
pub const EMBEDDED_SIMPHONE: &str = "simphone";

/// How to start the reference phone: a program and the arguments that come before the
/// phone's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimphoneProgram {
    /// The executable.
    pub program: PathBuf,
    /// Arguments before the phone's flags (the hidden subcommand of an embedding binary).
    pub leading_args: Vec<OsString>,
}

impl SimphoneProgram {
    /// A command line that starts the reference phone, without the phone's flags yet.
    fn command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(&self.program);
        c.args(&self.leading_args);
        c
    }

    /// How reports and messages name it.
    pub fn describe(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.leading_args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// The phone's fault switches (`--list-faults`: one `name — description` per line).
    pub fn list_faults(&self) -> Result<Vec<String>, HarnessError> {
        let mut cmd = self.command();
        cmd.arg("--list-faults")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        crate::proc::die_with_parent(&mut cmd);
        let out = cmd.output().map_err(|source| HarnessError::DutStart {
            what: format!("the reference phone {}", self.describe()),
            source,
        })?;
        if !out.status.success() {
            return Err(HarnessError::DutStart {
                what: format!("the reference phone {}", self.describe()),
                source: std::io::Error::other(format!(
                    "`--list-faults` exited with {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect())
    }
}

/// Finds the reference phone: `$PHONECERT_SIMPHONE`; else, when the running binary carries
/// the phone (`embedded`), the running binary itself under [`EMBEDDED_SIMPHONE`] — built from
/// the same sources at the same time, so never stale; else a `simphone` binary next to the
/// running executable (cargo builds both binaries into the same folder) or one folder up
/// (test binaries live in `target/<profile>/deps`).
pub fn find_simphone(embedded: bool) -> Result<SimphoneProgram, HarnessError> {
    if let Some(p) = std::env::var_os("PHONECERT_SIMPHONE") {
        let program = PathBuf::from(p);
        if !program.is_file() {
            return Err(HarnessError::ReferencePhoneMissing { program });
        }
        return Ok(SimphoneProgram {
            program,
            leading_args: Vec::new(),
        });
    }
    let exe = std::env::current_exe().map_err(HarnessError::OwnExecutable)?;
    if embedded {
        return Ok(SimphoneProgram {
            program: exe,
            leading_args: vec![OsString::from(EMBEDDED_SIMPHONE)],
        });
    }
    let mut dir = exe.parent().map(Path::to_path_buf);
    for _ in 0..2 {
        if let Some(d) = dir {
            let candidate = d.join("simphone");
            if candidate.is_file() {
                return Ok(SimphoneProgram {
                    program: candidate,
                    leading_args: Vec::new(),
                });
            }
            dir = d.parent().map(Path::to_path_buf);
        }
    }
    Err(HarnessError::ReferencePhoneNotFound { next_to: exe })
}

/// The last lines of a device's log (at most 20 lines and 4 KiB): what it said before it
/// ended, for the report.
pub fn log_tail(path: &Path) -> String {
    const MAX_BYTES: u64 = 4096;
    const MAX_LINES: usize = 20;
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(MAX_BYTES);
    let mut bytes = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    // A cut in the middle of the first line leaves half a line: drop it.
    let text = if start > 0 {
        text.split_once('\n').map_or("", |(_, rest)| rest)
    } else {
        &text
    };
    let lines: Vec<&str> = text.lines().collect();
    let keep = lines.len().saturating_sub(MAX_LINES);
    let mut out = lines[keep..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Whether a power-on starts the device's log afresh (the scenario's first) or goes on
/// with it (after a power cycle, so one log tells the whole scenario).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerOn {
    First,
    Again,
}

/// Creates (empties, at the first power-on) a device's log and returns it opened for
/// appending, for its standard error: the log file exists as soon as the report can name it.
fn open_log(path: &Path, power_on: PowerOn) -> Result<std::fs::File, std::io::Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if power_on == PowerOn::First {
        std::fs::File::create(path)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// How the reference phone is reached in this lab.
#[derive(Debug, Clone)]
pub enum SimPlacement {
    /// Inside a namespace, DHCP on a real interface.
    Netns {
        /// The phone's namespace.
        ns: String,
        /// The phone's interface.
        iface: String,
    },
    /// On loopback, DHCP over UDP to this server address.
    Loopback {
        /// The DHCP server.
        dhcp_server: SocketAddrV4,
    },
}

/// What the reference phone is told at power-on.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The reference phone's program.
    pub program: SimphoneProgram,
    /// Where it runs.
    pub placement: SimPlacement,
    /// MAC address.
    pub mac: String,
    /// MODEL4.
    pub model: String,
    /// Application running at the first boot.
    pub firmware: String,
    /// SIP user.
    pub user: String,
    /// SIP password.
    pub password: String,
    /// Site-specific option number.
    pub sson: u8,
    /// Persistent state (installed firmware) across the phone's own reboots.
    pub state_dir: PathBuf,
    /// The phone's log file.
    pub log: PathBuf,
    /// Fault switches.
    pub faults: Vec<String>,
    /// Timer speed-up.
    pub time_scale: f64,
    /// CA certificates (PEM files) the phone trusts from the start.
    pub trust_certs: Vec<PathBuf>,
    /// Further identity and profile flags the scenario sets (`--bootname`, `--hwvers`,
    /// `--group`, `--on-missing-upgrade-script`), as flag and value.
    pub identity: Vec<(&'static str, String)>,
}

/// A running reference phone.
#[derive(Debug)]
pub struct SimPhone {
    child: Child,
}

impl SimPhone {
    /// Powers the phone on. Its standard error goes to its log, so a phone that refuses its
    /// arguments says why in the file the report names.
    pub fn start(cfg: &SimConfig) -> Result<SimPhone, HarnessError> {
        SimPhone::power_on(cfg, PowerOn::First)
    }

    /// Powers the phone on, the first time or again after a power cycle (its state dir, hence
    /// its installed application, is kept either way).
    pub fn power_on(cfg: &SimConfig, power_on: PowerOn) -> Result<SimPhone, HarnessError> {
        let what = || format!("the reference phone {}", cfg.program.describe());
        let dut_start = |source| HarnessError::DutStart {
            what: what(),
            source,
        };
        std::fs::create_dir_all(&cfg.state_dir).map_err(|source| HarnessError::Folder {
            path: cfg.state_dir.clone(),
            source,
        })?;
        let log = open_log(&cfg.log, power_on).map_err(|source| HarnessError::Folder {
            path: cfg.log.clone(),
            source,
        })?;
        let mut cmd = match &cfg.placement {
            SimPlacement::Netns { ns, iface } => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns])
                    .arg(&cfg.program.program)
                    .args(&cfg.program.leading_args)
                    .args(["--iface", iface]);
                c
            }
            SimPlacement::Loopback { dhcp_server } => {
                let mut c = Command::new(&cfg.program.program);
                c.args(&cfg.program.leading_args)
                    .args(["--dhcp-server", &dhcp_server.to_string()]);
                c
            }
        };
        cmd.args([
            "--mac",
            &cfg.mac,
            "--model",
            &cfg.model,
            "--firmware",
            &cfg.firmware,
        ])
        .args(["--user", &cfg.user, "--password", &cfg.password])
        .args([
            "--sson",
            &cfg.sson.to_string(),
            "--time-scale",
            &cfg.time_scale.to_string(),
        ])
        .arg("--state-dir")
        .arg(&cfg.state_dir)
        .arg("--log")
        .arg(&cfg.log);
        for f in &cfg.faults {
            cmd.args(["--fault", f]);
        }
        for pem in &cfg.trust_certs {
            cmd.arg("--trust-cert").arg(pem);
        }
        for (flag, value) in &cfg.identity {
            cmd.arg(flag).arg(value);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // A group of its own: Ctrl-C at the terminal reaches the harness alone, which
            // then powers the phone off itself (a phone that quit first would look like one
            // that died on its own).
            .process_group(0)
            .kill_on_drop(true);
        Ok(SimPhone {
            child: crate::proc::spawn_tied(cmd).map_err(dut_start)?,
        })
    }

    /// Whether it has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Powers the phone off: SIGTERM, then SIGKILL if it has not gone within two seconds.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on our own child's pid; at worst it fails with ESRCH.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Any program as the device under test (`--dut-cmd`): started with `sh -c` inside the
/// phone's namespace of the netns lab, one fresh process per scenario.
#[derive(Debug, Clone)]
pub struct CmdConfig {
    /// The shell command.
    pub command: String,
    /// The phone's namespace.
    pub ns: String,
    /// The phone's interface; its MAC is set to `mac` before the command starts.
    pub iface: String,
    /// The DUT's MAC address (the DHCP server answers only this one).
    pub mac: String,
    /// The infrastructure's address.
    pub server_ip: std::net::Ipv4Addr,
    /// The scenario id.
    pub scenario: String,
    /// A scratch folder for the command (lease files, configuration).
    pub work_dir: PathBuf,
    /// Where its standard output and error go.
    pub log: PathBuf,
}

/// A running external DUT: the process group of `sh -c COMMAND`.
#[derive(Debug)]
pub struct CmdDut {
    child: Child,
    /// The process group, recorded at spawn: once [`CmdDut::exited`] has reaped the shell,
    /// the child no longer knows its pid, yet what the shell started may still run in the
    /// group.
    pgid: Option<libc::pid_t>,
}

impl CmdDut {
    /// Starts the command. Its environment names the lab: `PHONECERT_IFACE`,
    /// `PHONECERT_MAC`, `PHONECERT_SERVER_IP`, `PHONECERT_SCENARIO`, `PHONECERT_WORK_DIR`.
    pub fn start(cfg: &CmdConfig) -> Result<CmdDut, HarnessError> {
        CmdDut::power_on(cfg, PowerOn::First)
    }

    /// Starts the command, the first time or again after a power cycle.
    pub fn power_on(cfg: &CmdConfig, power_on: PowerOn) -> Result<CmdDut, HarnessError> {
        let dut_start = |source| HarnessError::DutStart {
            what: format!("--dut-cmd '{}'", cfg.command),
            source,
        };
        std::fs::create_dir_all(&cfg.work_dir).map_err(|source| HarnessError::Folder {
            path: cfg.work_dir.clone(),
            source,
        })?;
        let mut set_mac = std::process::Command::new("ip");
        set_mac
            .args([
                "-n", &cfg.ns, "link", "set", "dev", &cfg.iface, "address", &cfg.mac,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        crate::proc::die_with_parent(&mut set_mac);
        let status = set_mac.output().map_err(dut_start)?;
        if !status.status.success() {
            return Err(dut_start(std::io::Error::other(format!(
                "cannot set the MAC of {} in {} to {}: {}",
                cfg.iface,
                cfg.ns,
                cfg.mac,
                String::from_utf8_lossy(&status.stderr).trim()
            ))));
        }
        let log = open_log(&cfg.log, power_on).map_err(|source| HarnessError::Folder {
            path: cfg.log.clone(),
            source,
        })?;
        let log_err = log.try_clone().map_err(|source| HarnessError::Folder {
            path: cfg.log.clone(),
            source,
        })?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &cfg.ns, "sh", "-c", &cfg.command])
            .env("PHONECERT_IFACE", &cfg.iface)
            .env("PHONECERT_MAC", &cfg.mac)
            .env("PHONECERT_SERVER_IP", cfg.server_ip.to_string())
            .env("PHONECERT_SCENARIO", &cfg.scenario)
            .env("PHONECERT_WORK_DIR", &cfg.work_dir)
            .current_dir(&cfg.work_dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group, so stopping it also stops what it started (dhclient
            // runs its script as a child).
            .process_group(0)
            .kill_on_drop(true);
        let child = crate::proc::spawn_tied(cmd).map_err(dut_start)?;
        // `process_group(0)`: the group's id is the leader's pid.
        let pgid = child.id().and_then(|pid| libc::pid_t::try_from(pid).ok());
        Ok(CmdDut { child, pgid })
    }

    /// Whether it has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the whole process group: SIGTERM, then SIGKILL once the shell has gone or two
    /// seconds have passed. Works after the shell has been reaped too: the group is the one
    /// recorded at spawn. A process that left the group (a daemon's setsid) is beyond reach
    /// here; the lab kills it with everything else in the namespace.
    pub async fn stop(mut self) {
        let signal_group = |sig| {
            if let Some(pgid) = self.pgid {
                // SAFETY: kill(2) on the process group we created; at worst ESRCH.
                unsafe {
                    libc::kill(-pgid, sig);
                }
            }
        };
        signal_group(libc::SIGTERM);
        let ended = tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_ok();
        // The leader is gone (or would not go); its children may not be.
        signal_group(libc::SIGKILL);
        if !ended {
            let _ = self.child.wait().await;
        }
    }
}

/// The device under test of a run.
#[derive(Debug)]
pub enum Dut {
    /// The reference phone.
    Sim(SimPhone),
    /// An external program.
    Cmd(CmdDut),
    /// A real phone on the iface lab, being (or done being) rebooted.
    Attached(Rebooting),
}

impl Dut {
    /// Whether it has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        match self {
            Dut::Sim(p) => p.exited(),
            Dut::Cmd(p) => p.exited(),
            // A real phone has no process here; its reboot command is not the phone.
            Dut::Attached(_) => None,
        }
    }

    /// Powers it off.
    pub async fn stop(self) {
        match self {
            Dut::Sim(p) => p.stop().await,
            Dut::Cmd(p) => p.stop().await,
            Dut::Attached(r) => r.stop().await,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_log_tail_is_the_last_whole_lines_within_bounds() {
        let dir = std::env::temp_dir().join(format!("phonecert-logtail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("x.log");
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&log, &text).unwrap();
        let tail = log_tail(&log);
        assert_eq!(tail.lines().count(), 20);
        assert!(
            tail.starts_with("line 11\n") && tail.ends_with("line 30\n"),
            "{tail}"
        );
        // Long lines: at most 4 KiB, and no half line at the start.
        let long: String = (0..10)
            .map(|i| format!("{i}{}\n", "x".repeat(999)))
            .collect();
        std::fs::write(&log, &long).unwrap();
        let tail = log_tail(&log);
        assert!(tail.len() <= 4096, "{}", tail.len());
        assert!(tail.lines().all(|l| l.len() == 1000), "{tail}");
        assert_eq!(log_tail(&dir.join("missing.log")), "");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
