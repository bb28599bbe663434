//! DUT adapters: how the harness starts, reboots and stops the device under test.
//!
//! Owns: the `sim` adapter (the reference phone `simphone`, started as a child process in
//! the phone's namespace or on loopback, one fresh process per scenario so every scenario
//! begins with a cold boot).
//!
//! Never: looks at what the phone says on the network (that is the servers' and the
//! judge's job) — the adapter only powers the phone on and off.

use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

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
    /// The simphone binary.
    pub binary: PathBuf,
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
}

/// A running reference phone.
#[derive(Debug)]
pub struct SimPhone {
    child: Child,
}

/// Finds the `simphone` binary: `$PHONECERT_SIMPHONE`, else next to the running executable
/// (cargo builds both binaries into the same folder), else one folder up (test binaries live
/// in `target/<profile>/deps`).
pub fn find_simphone() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("PHONECERT_SIMPHONE") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let mut dir = exe.parent().map(Path::to_path_buf);
    for _ in 0..2 {
        if let Some(d) = dir {
            let candidate = d.join("simphone");
            if candidate.is_file() {
                return Ok(candidate);
            }
            dir = d.parent().map(Path::to_path_buf);
        }
    }
    Err(format!(
        "the reference phone binary `simphone` was not found next to {}; build it with `cargo build --release` or set PHONECERT_SIMPHONE",
        exe.display()
    ))
}

impl SimPhone {
    /// Powers the phone on.
    pub fn start(cfg: &SimConfig) -> std::io::Result<SimPhone> {
        std::fs::create_dir_all(&cfg.state_dir)?;
        let mut cmd = match &cfg.placement {
            SimPlacement::Netns { ns, iface } => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns])
                    .arg(&cfg.binary)
                    .args(["--iface", iface]);
                c
            }
            SimPlacement::Loopback { dhcp_server } => {
                let mut c = Command::new(&cfg.binary);
                c.args(["--dhcp-server", &dhcp_server.to_string()]);
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
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        Ok(SimPhone {
            child: cmd.spawn()?,
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
}

impl CmdDut {
    /// Starts the command. Its environment names the lab: `PHONECERT_IFACE`,
    /// `PHONECERT_MAC`, `PHONECERT_SERVER_IP`, `PHONECERT_SCENARIO`, `PHONECERT_WORK_DIR`.
    pub fn start(cfg: &CmdConfig) -> std::io::Result<CmdDut> {
        std::fs::create_dir_all(&cfg.work_dir)?;
        let status = std::process::Command::new("ip")
            .args([
                "-n", &cfg.ns, "link", "set", "dev", &cfg.iface, "address", &cfg.mac,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()?;
        if !status.status.success() {
            return Err(std::io::Error::other(format!(
                "cannot set the MAC of {} in {} to {}: {}",
                cfg.iface,
                cfg.ns,
                cfg.mac,
                String::from_utf8_lossy(&status.stderr).trim()
            )));
        }
        if let Some(dir) = cfg.log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let log = std::fs::File::create(&cfg.log)?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &cfg.ns, "sh", "-c", &cfg.command])
            .env("PHONECERT_IFACE", &cfg.iface)
            .env("PHONECERT_MAC", &cfg.mac)
            .env("PHONECERT_SERVER_IP", cfg.server_ip.to_string())
            .env("PHONECERT_SCENARIO", &cfg.scenario)
            .env("PHONECERT_WORK_DIR", &cfg.work_dir)
            .current_dir(&cfg.work_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group, so stopping it also stops what it started (dhclient
            // runs its script as a child).
            .process_group(0)
            .kill_on_drop(true);
        Ok(CmdDut {
            child: cmd.spawn()?,
        })
    }

    /// Whether it has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the whole process group: SIGTERM, then SIGKILL after two seconds.
    pub async fn stop(mut self) {
        let group = self.child.id().map(|pid| pid as libc::pid_t);
        if let Some(pgid) = group {
            // SAFETY: kill(2) on the process group we created; at worst ESRCH.
            unsafe {
                libc::kill(-pgid, libc::SIGTERM);
            }
        }
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
            && let Some(pgid) = group
        {
            // SAFETY: as above.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            let _ = self.child.wait().await;
        } else if let Some(pgid) = group {
            // The leader is gone; its children may not be.
            // SAFETY: as above.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
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
}

impl Dut {
    /// Whether it has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        match self {
            Dut::Sim(p) => p.exited(),
            Dut::Cmd(p) => p.exited(),
        }
    }

    /// Powers it off.
    pub async fn stop(self) {
        match self {
            Dut::Sim(p) => p.stop().await,
            Dut::Cmd(p) => p.stop().await,
        }
    }
}
