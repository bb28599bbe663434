//! `phonecert storm`: flags, the runtime the phones run in, output and exit codes.
//!
//! Owns: parsing and checking the flags (ripgrep's two stages: clap, then
//! [`run::prepare`]), claiming the run folder, building the runtime — in the netns lab its
//! threads join the phones' namespace, so every socket a phone opens is on the phones' side —
//! and mapping the outcome to an exit code.
//! Never: runs a storm step itself (`run` does).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::run::{self, StormConfig, StormError, StormLab};

/// The scenario a storm uses when none is named: relative to the repository's root, where
/// `scenarios/` is (as for `phonecert run`).
pub const DEFAULT_SCENARIO: &str = "scenarios/option242/httpsrvr.toml";

/// Every phone registered and the capture dropped nothing.
pub const EXIT_CLEAN: u8 = 0;
/// A phone did not register, or frames were dropped.
pub const EXIT_FAILED: u8 = 1;
/// Bad flags or a scenario a storm cannot run.
pub const EXIT_USAGE: u8 = 2;
/// The harness could not run the storm (lab, privileges, sockets).
pub const EXIT_HARNESS: u8 = 3;
/// Ctrl-C: the report is written for what happened until then.
pub const EXIT_INTERRUPTED: u8 = 130;

const AFTER_HELP: &str = "\
Each phone has its own MAC (00:1b:4f:e0:00:01, :02 …) and its own SIP account (the scenario's
user followed by the 5-digit phone number, the scenario's password). The servers are the
scenario's, as `phonecert run` sets them up, answering every phone of the storm.

SCENARIO defaults to scenarios/option242/httpsrvr.toml, a path relative to the phonecert
repository's root (like `phonecert run`'s scenarios/): from another folder, name the file.

Writes reports/<run-id>/storm.json (schema phonecert.storm/1, every phone's progress) and
storm.txt, and captures/<run-id>/storm.pcapng, and prints where. Times are lab seconds (the
wall clock); a phone's own timers run the scenario's time scale faster (phone seconds = lab
seconds × time scale).

Exit codes: 0 every phone registered and the capture dropped nothing; 1 a phone did not
register (a phone left without a lease by --pool-size included) or frames were dropped;
2 bad usage or a scenario a storm cannot run; 3 the harness could not run the storm;
130 interrupted.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LabArg {
    Netns,
    Loopback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Boot many reference phones at once against one lab.
#[derive(Debug, Parser)]
#[command(name = "phonecert storm", after_help = AFTER_HELP)]
struct Args {
    /// How many phones boot at once.
    #[arg(long, value_name = "N")]
    phones: usize,
    /// The scenario whose servers, files and phone setup the storm uses (its checks are not
    /// judged) [default: scenarios/option242/httpsrvr.toml, from the repository's root].
    #[arg(value_name = "SCENARIO")]
    scenario: Option<PathBuf>,
    /// The lab: `netns` (root; the default as root) or `loopback` (the default otherwise).
    #[arg(long, value_enum)]
    lab: Option<LabArg>,
    /// Addresses in the DHCP pool (default: one per phone). Phones beyond it get no lease.
    #[arg(long, value_name = "N")]
    pool_size: Option<u32>,
    /// `text` (default) or `json` (the report, as written to storm.json).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Output root: reports/<run-id> and captures/<run-id> go under it.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Longest the storm runs, in seconds; phones not registered by then are failures.
    #[arg(long, value_name = "S", default_value_t = 300.0)]
    timeout: f64,
    /// The phone profile (the upgrade script the phones ask for, `${profile.NAME}`).
    #[arg(long, value_name = "NAME", default_value = phonecert::profile::DEFAULT)]
    profile: String,
}

/// `phonecert storm ARGS…`; `argv` starts with the program name.
pub fn main_from(argv: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        eprintln!("error: --timeout must be a positive number of seconds");
        return ExitCode::from(EXIT_USAGE);
    }
    let lab = match args.lab {
        Some(LabArg::Netns) => StormLab::Netns,
        Some(LabArg::Loopback) => StormLab::Loopback,
        None if phonecert::lab::is_root() => StormLab::Netns,
        None => StormLab::Loopback,
    };
    let scenario = match scenario_path(args.scenario.as_deref(), Path::new(DEFAULT_SCENARIO)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let cfg = StormConfig {
        phones: args.phones,
        scenario,
        lab,
        pool_size: args
            .pool_size
            .unwrap_or_else(|| u32::try_from(args.phones).unwrap_or(u32::MAX)),
        out: args.out.clone(),
        timeout: Duration::from_secs_f64(args.timeout.min(86_400.0)),
        profile: args.profile.clone(),
    };
    let report = match storm(&cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(if e.is_usage() {
                EXIT_USAGE
            } else {
                EXIT_HARNESS
            });
        }
    };
    match args.format {
        Format::Text => {
            print!("{}", report.text());
            // Where the run folder is, as `phonecert run` says it.
            println!(
                "reports: {} (storm.json, storm.txt)",
                cfg.out.join("reports").join(&report.run_id).display()
            );
        }
        Format::Json => match serde_json::to_string(&report) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("error: cannot write the report as JSON: {e}");
                return ExitCode::from(EXIT_HARNESS);
            }
        },
    }
    ExitCode::from(if report.interrupted {
        EXIT_INTERRUPTED
    } else if report.clean() {
        EXIT_CLEAN
    } else {
        EXIT_FAILED
    })
}

/// The scenario to use: the one named, else `default` when it is there. The default is a
/// path from the repository's root; from any other folder it is not found, and the error
/// says so rather than only "no such file".
fn scenario_path(named: Option<&Path>, default: &Path) -> Result<PathBuf, StormError> {
    match named {
        Some(p) => Ok(p.to_path_buf()),
        None if default.is_file() => Ok(default.to_path_buf()),
        None => Err(StormError::NoDefaultScenario {
            default: default.display().to_string(),
            cwd: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| "this folder".into()),
        }),
    }
}

/// Joins the calling thread to network namespace `name` (a runtime's thread, before it runs
/// any task).
fn enter_netns(name: &str) -> std::io::Result<()> {
    let file = std::fs::File::open(pc_capture::netns::netns_path(name))?;
    // SAFETY: the descriptor is open for the duration of the call; setns only changes the
    // namespace of the calling thread, one of the storm runtime's own.
    let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn storm(cfg: &StormConfig) -> Result<crate::report::StormReport, StormError> {
    let (sc, profile) = run::prepare(cfg)?;
    let place = run::open_place(&sc, cfg.lab, cfg.pool_size)?;
    let folders = phonecert::run_folder::RunFolders::claim(
        &cfg.out,
        time::OffsetDateTime::now_utc(),
        std::process::id(),
    )
    .map_err(|source| StormError::Io {
        what: format!("create the run's folders under {}", cfg.out.display()),
        source,
    })?;
    let phone_ns = place.pair.as_ref().map(|p| p.phone_ns.clone());
    let cfg = cfg.clone();
    // The runtime lives on a thread of its own: in the netns lab that thread and every
    // worker join the phones' namespace before running anything.
    let worker = std::thread::Builder::new()
        .name("storm".into())
        .spawn(move || -> Result<crate::report::StormReport, StormError> {
            let io = |what: &str| {
                let what = what.to_string();
                move |source| StormError::Io { what, source }
            };
            if let Some(ns) = &phone_ns {
                enter_netns(ns).map_err(io("join the phones' namespace"))?;
            }
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.enable_all();
            if let Some(ns) = phone_ns.clone() {
                builder.on_thread_start(move || {
                    if let Err(e) = enter_netns(&ns) {
                        // A worker outside the phones' namespace would open phone sockets
                        // where nothing answers: stop rather than measure that.
                        eprintln!("error: a storm thread cannot join namespace {ns}: {e}");
                        std::process::abort();
                    }
                });
            }
            let rt = builder.build().map_err(io("start the async runtime"))?;
            rt.block_on(run::storm(&cfg, &sc, &profile, place, &folders))
        })
        .map_err(|source| StormError::Io {
            what: "start the storm thread".into(),
            source,
        })?;
    worker.join().unwrap_or_else(|_| {
        Err(StormError::Io {
            what: "the storm thread".into(),
            source: std::io::Error::other("panicked"),
        })
    })
}
