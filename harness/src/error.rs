//! What can break on the harness's side of a scenario, as one error type.
//!
//! Owns: [`HarnessError`], whose variants name the part that broke (lab, capture, the device
//! under test's start or death, the timeline's save, …). A `HarnessError` makes the scenario's
//! verdict `error` (the harness could not tell whether the phone conforms), never `fail`.
//!
//! Never: describes the phone's nonconformance (that is the judge's `Violation`), and never
//! stops the whole run by itself: the engine decides that (`EngineError`).

use std::path::PathBuf;

use crate::lab::LabError;

/// The harness could not run or finish one scenario.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The lab (namespaces, links, sockets) could not be set up or read.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// A folder of the run could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The servers' addresses could not be read back from their sockets.
    #[error("cannot read the servers' addresses: {0}")]
    ServerAddresses(std::io::Error),
    /// The scenario could not be turned into the servers' configuration.
    #[error("scenario {scenario}: {why}")]
    Configure {
        /// The scenario id.
        scenario: String,
        /// What did not fit.
        why: String,
    },
    /// The capture could not be started or closed.
    #[error(transparent)]
    Capture(#[from] crate::lab::capture::CaptureError),
    /// The closed capture could not be read back, linked to the timeline or annotated.
    #[error("capture {}: {source}", path.display())]
    Evidence {
        /// The pcapng file.
        path: PathBuf,
        /// What went wrong.
        source: pc_capture::CaptureError,
    },
    /// `PHONECERT_SIMPHONE` names no file.
    #[error("PHONECERT_SIMPHONE names {}, which is not a file", program.display())]
    ReferencePhoneMissing {
        /// What the variable names.
        program: PathBuf,
    },
    /// No reference phone: the running binary does not carry one and no `simphone` binary
    /// is beside it.
    #[error(
        "the reference phone binary `simphone` was not found next to {}; build it with `cargo build --release` or set PHONECERT_SIMPHONE",
        next_to.display()
    )]
    ReferencePhoneNotFound {
        /// The running executable.
        next_to: PathBuf,
    },
    /// The running executable cannot be located (to find the reference phone beside it).
    #[error("cannot find own executable: {0}")]
    OwnExecutable(std::io::Error),
    /// The device under test could not be started.
    #[error("cannot start {what}: {source}")]
    DutStart {
        /// The program (`the reference phone /path/simphone`, `--dut-cmd 'COMMAND'`).
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The device under test ended before it did anything the servers saw: it refused its
    /// arguments, could not run, or the command was not found.
    #[error("{what} exited at start ({status}) before the servers saw it: {}; see {log}", tail_line(.tail))]
    DutDiedAtStart {
        /// Which device.
        what: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// Its log, relative to the run folder.
        log: String,
        /// The last lines it wrote.
        tail: String,
    },
    /// The device under test ended on its own after taking part (for the reference phone,
    /// which only stops when told to, a fault of the harness's reference).
    #[error("{what} exited on its own ({status}): {}; see {log}", tail_line(.tail))]
    DutDied {
        /// Which device.
        what: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// Its log, relative to the run folder.
        log: String,
        /// The last lines it wrote.
        tail: String,
    },
    /// The reboot command (`--reboot-cmd`) failed before the phone came back.
    #[error("the reboot command '{command}' failed ({status}) before the phone {mac} sent a DHCPDISCOVER: {}; see {log}", tail_line(.tail))]
    RebootFailed {
        /// The command.
        command: String,
        /// The phone's MAC.
        mac: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// Its output, relative to the run folder.
        log: String,
        /// The last lines it wrote.
        tail: String,
    },
    /// The phone sent no DHCPDISCOVER within `--boot-wait` of its reboot.
    #[error(
        "the phone {mac} sent no DHCPDISCOVER on {iface} within {waited_s} s of {how} (--boot-wait); it did not come back, or its DHCP goes elsewhere"
    )]
    NoBoot {
        /// The phone's MAC.
        mac: String,
        /// The lab interface.
        iface: String,
        /// The wait, in seconds.
        waited_s: f64,
        /// What started the wait (the reboot command, the operator's request, nothing).
        how: String,
    },
    /// The run folder could not take the scenario's timeline or scenario copy.
    #[error("cannot save {}: {source}", path.display())]
    Save {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl HarnessError {
    /// The last lines the device under test wrote, when the error is about its death.
    pub fn dut_tail(&self) -> Option<&str> {
        match self {
            HarnessError::DutDiedAtStart { tail, .. }
            | HarnessError::DutDied { tail, .. }
            | HarnessError::RebootFailed { tail, .. } => Some(tail),
            _ => None,
        }
    }
}

/// The line of a log tail that says most, for one-line messages: the last one that speaks of
/// an error, else the last one.
fn tail_line(tail: &str) -> &str {
    let lines = || tail.lines().rev().map(str::trim).filter(|l| !l.is_empty());
    lines()
        .find(|l| l.to_ascii_lowercase().contains("error"))
        .or_else(|| lines().next())
        .unwrap_or("it wrote nothing")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_dut_that_dies_at_start_is_named_with_its_last_words() {
        let e = HarnessError::DutDiedAtStart {
            what: "the reference phone".into(),
            status: std::process::ExitStatus::from_raw(2 << 8),
            log: "dut/BOOT-002.log".into(),
            tail: "error: invalid value 'x' for '--fault <NAME>'\n\nFor more information, try '--help'.\n"
                .into(),
        };
        assert_eq!(
            e.to_string(),
            "the reference phone exited at start (exit status: 2) before the servers saw it: error: invalid value 'x' for '--fault <NAME>'; see dut/BOOT-002.log"
        );
        assert!(e.dut_tail().is_some_and(|t| t.contains("invalid value")));
    }
}
