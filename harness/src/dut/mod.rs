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
