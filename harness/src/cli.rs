//! The command line (design.md §4). Flags are parsed by clap, then turned into a validated
//! configuration — every usage mistake is refused here, before anything runs — then `main`
//! maps outcomes to exit codes ([`EXIT_CODES`]).
//!
//! Output: the run summary goes to stdout; progress, warnings and errors to stderr.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use crate::dut::SimphoneProgram;
use crate::engine::{self, RunContext, SavedTimeline};
use crate::judge::{self, Verdict};
use crate::lab;
use crate::progress::{Format, Live};
use crate::provisioning_tool::{self, OutputFormat};
use crate::report::{self, DutInfo, RunReport, Summary};
use crate::run_folder::{self, RunFolders};
use crate::scenario::{self, Scenario};
use crate::schedule;
use crate::select::Selection;

/// Exit code: every scenario passed.
pub const EXIT_PASS: u8 = 0;
/// Exit code: the phone failed at least one scenario.
pub const EXIT_FAIL: u8 = 1;
/// Exit code: bad usage or a bad scenario file.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the harness could not run.
pub const EXIT_HARNESS: u8 = 3;
/// Exit code: interrupted by the operator (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The exit codes, as `--help` and the README give them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    every scenario passed
  1    the phone failed at least one scenario
  2    bad usage or a bad scenario file (unknown fault switch, unknown lab, a path that does
       not exist, a bad --dut-mac, --lab iface:NAME without --dut-mac …), refused before
       anything runs
  3    the harness could not run a scenario: lab, privileges, the reference phone or the
       --dut-cmd refusing to start or dying (the report has its last log lines); with
       --lab iface:NAME also: the interface does not exist, is down, has no carrier or is
       in use by another phonecert run,
       another DHCP server answered the probe (its address and MAC are named), or a phone
       that did not come back within --boot-wait (that scenario is an error, the run goes on)
  130  interrupted (Ctrl-C or SIGTERM): report.json says \"interrupted\": true and lists the
       scenarios that did not run (junit.xml marks them skipped); reports/latest keeps
       pointing at the last run that ran to its end";

#[derive(Debug, Parser)]
#[command(
    name = "phonecert",
    version,
    about = "Conformance harness for SIP desk phones during boot and provisioning",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenario files or folders (default `scenarios/`) against the phone.
    #[command(after_help = EXIT_CODES)]
    Run(Box<RunArgs>),
    /// List the scenarios and their checks (the same selection flags as `run`).
    List {
        /// Scenario files or folders.
        paths: Vec<PathBuf>,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// Validate scenario files without running them.
    Check {
        /// Scenario files or folders.
        paths: Vec<PathBuf>,
    },
    /// Judge a saved run again, without any network: `phonecert judge reports/<run-id>`.
    /// Reads only the run folder (its timelines and its copy of each scenario), so a copied
    /// folder is judged from its own files. An interrupted run is judged as far as it went
    /// and exits 130 again.
    ///
    /// `phonecert judge --capture FILE.pcapng SCENARIO` judges a capture taken anywhere (a
    /// tcpdump of a real boot) against a scenario file: the phone's DHCP, HTTP and SIP
    /// messages are decoded from the frames, every check that rests only on the phone's
    /// behaviour is judged, and the others are reported as not judged from a capture.
    /// Exit 0 / 1 as for a run, except that a capture from which no check at all could be
    /// judged exits 1 (nothing is shown to pass); 2 for a file that is not a readable pcapng
    /// capture.
    Judge {
        /// A run's report folder; with --capture, the scenario file to judge the capture
        /// against.
        run: PathBuf,
        /// Also write the new verdicts into the run: `report.json`, `junit.xml` and the
        /// captures' packet comments, so the report and the evidence agree. Without it the
        /// run folder and its captures are left exactly as they are.
        #[arg(long, conflicts_with = "capture")]
        write: bool,
        /// Judge this pcapng capture instead of a run folder.
        #[arg(long, value_name = "FILE.pcapng")]
        capture: Option<PathBuf>,
        /// With --capture: a lab variable the scenario uses (`server_ip=10.1.1.5`,
        /// `sip_port_2=5070` …), where the capture does not show it or shows it otherwise.
        #[arg(long = "var", value_name = "NAME=VALUE", requires = "capture")]
        vars: Vec<String>,
        /// With --capture: phone seconds per capture second (default: what a phonecert
        /// capture's section comment says, else 1).
        #[arg(long, requires = "capture")]
        time_scale: Option<f64>,
        /// With --capture: the phone profile the capture was taken for, whose parameters are
        /// the checks' `${profile.NAME}` (default avaya-96x0-sip).
        #[arg(long, value_name = "NAME", requires = "capture", default_value = crate::profile::DEFAULT)]
        profile: String,
    },
    /// Re-check the SHA-256 of every evidence file that a run's `compliance.json` records
    /// (the run folder's files and, through the output root, its captures), and name every
    /// file that changed, went missing or was added. Exit 0: all intact; 1: something
    /// changed; 2: no readable `compliance.json`.
    Verify {
        /// A run's report folder (`reports/<run-id>`).
        run: PathBuf,
        /// Check the run folder only, not the captures (a folder copied without them).
        #[arg(long)]
        no_captures: bool,
    },
    /// Compare two runs check by check (firmware A vs firmware B): new failures first, then
    /// other changes, fixes, and checks only one run has. Exit 0: nothing that passed in A
    /// fails in B; 1: something did; 2: a run folder cannot be read, or a file in it
    /// differs from its compliance.json (named).
    Diff {
        /// The first run's report folder.
        run_a: PathBuf,
        /// The second run's report folder.
        run_b: PathBuf,
        /// `text`, `json` (schema phonecert.diff/1) or `html` (a self-contained page), to
        /// stdout.
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
    },
    /// Join the run folders of several benches (a CI matrix: one job per bench) into one run
    /// folder under `--out`: one report.json, junit.xml and index.html, and one compliance
    /// summary hashing every evidence file, so `phonecert verify` passes on it. Each input is
    /// verified first (captures included); each keeps its files under `runs/<run-id>/` and
    /// its captures under `captures/<merged-id>/<run-id>/`; a scenario run by several inputs
    /// is named `<id>@<run-id>`. Exit as for `run` over the merged verdicts (0, 1, 3, 130
    /// when an input was interrupted); 2: an input is missing, unreadable, edited or given
    /// twice (the file is named) and nothing is written; 3 also when the merged run could
    /// not be written.
    Merge {
        /// The run folders (`reports/<run-id>`), in the order the merged report lists them.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Output root: the merged run goes to `reports/<id>/` and `captures/<id>/` under it.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Serve one scenario's infrastructure alone, for phones an admin points at it: the DHCP
    /// server with the scenario's site option, the file server (HTTP, and HTTPS when the
    /// scenario has one) and the SIP registrar (UDP, TCP and TLS as configured). Only the
    /// --dut-mac phones are answered (or any client with --any-mac, with a warning). Once
    /// every server listens, one JSON line on stdout says where (`"event": "ready"`), and
    /// stderr says it for people. On Ctrl-C, SIGTERM or after --duration the servers stop and
    /// the run folder is written: each phone's timeline (cut from the session's by its MAC
    /// and leased address, its clock starting at its first DHCP message) judged by the
    /// scenario's checks, one result per phone named `<scenario-id>@<mac>`.
    /// Exit 0: every phone passed; 1: a phone failed; 2: bad usage or scenario; 3: the lab
    /// or the servers could not be set up, or a --dut-mac phone never asked for DHCP.
    Serve(Box<ServeArgs>),
    /// Print the JSON Schema of the scenario format (for editors: TOML language servers
    /// such as Taplo or Even Better TOML read it).
    Schema,
    /// Make and explain images in the reference firmware format (the reference phone's).
    #[command(subcommand)]
    Firmware(FirmwareCommand),
    /// What a phone makes of an upgrade script and its settings files (no network).
    #[command(subcommand)]
    Script(ScriptCommand),
    /// Report, with file:line, what a phone would silently ignore or misread in upgrade
    /// scripts and settings files (no network).
    ///
    /// Found: unknown names, invalid values, names over 30 or values
    /// over 255 characters, IF on a variable no phone has, GOTO to a missing label,
    /// unreachable statements, a UTF-8 byte
    /// order mark, curly quotes, a SET split over two lines, a `# ` label that shadows a
    /// statement, binary or over-long files and lines. Each file is read on its own, as a
    /// phone receives it. `--format json`: schema phonecert.lint/1 (README).
    #[command(after_help = LINT_EXIT_CODES)]
    Lint {
        /// Upgrade scripts and settings files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Read DHCP site-specific option strings (option 242) as a phone does.
    #[command(subcommand)]
    Option242(Option242Command),
    /// Boot many reference phones at once against one lab and measure how it holds up: time
    /// until every phone registered, boot times, failures by phone and step, capture drops,
    /// memory per phone (`phonecert storm --help`).
    #[command(disable_help_flag = true)]
    Storm {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// `phonecert lint`'s exit codes.
const LINT_EXIT_CODES: &str = "\
Exit codes:
  0  no finding of error severity (warnings — unreachable statements, a duplicate label,
     invalid UTF-8 read lossily — do not fail)
  1  at least one error: a line a phone ignores or misreads
  2  bad usage, or a file that cannot be read (named)";

#[derive(Debug, Subcommand)]
enum ScriptCommand {
    /// Run an upgrade script as one phone would: `phonecert script eval 96xxupgrade.txt
    /// 46xxsettings.txt --model 9620`. Prints the files the phone fetches, in order; every
    /// setting in force with the file:line that set it (or `default`); and every line that
    /// did nothing, with why (refused value, unknown name, not reached by this phone, IF on a
    /// variable it does not report, GOTO to a missing label, a parse finding).
    ///
    /// The first FILE is the upgrade script; the others are the files its GETs may fetch.
    /// A GET is matched to a given file by file name: as written in the GET, else the last
    /// part of the GET's path (the folder the given file sits in does not matter); a GET of a file not given is listed as
    /// "not given, would be fetched" and the script goes on after it, as after a 404. The
    /// application APPNAME names is checked before the first GET, as the phone does; it is
    /// never read. The phone's variables come from the model table (MODEL4, MODEL with
    /// hardware D01A, SHA2CAPABLE 1 on 96x1 models, SIG_IN_USE 2, VPNACTIVE 0) and --group;
    /// --var sets any of them, and MACADDR, BOOTNAME, HWVERS and APPNAME (the running
    /// application), which are unknown otherwise (an IF on an unknown one does nothing).
    /// A --var naming a parameter (SIG, HTTPSRVR, L2QVLAN …) is a value the phone holds
    /// before the script, as option 242 would give it: a SET in the files overrides it.
    /// `--format json`: schema phonecert.script-eval/1 (README). Exit 0, or 2 for bad usage
    /// or a file that cannot be read.
    Eval {
        /// The upgrade script, then the settings files (and other files) it may GET.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The phone's MODEL4: 9610, 9620, 9630, 9640, 9650, 9608, 9611, 9621, 9641.
        #[arg(long)]
        model: String,
        /// The phone's GROUP, 0–999.
        #[arg(long, default_value_t = 0)]
        group: u16,
        /// A variable the phone reports, overriding the model table: `BOOTNAME=hb96xxua3_00.bin`,
        /// `APPNAME=S96x0_SALBR2_6_0_0.bin`, `HWVERS=…`, `MACADDR=…`, `SHA2CAPABLE=1`; or a
        /// parameter the phone holds before the script, as option 242 would give it:
        /// `SIG=1`, `HTTPSRVR=…`, `L2QVLAN=…` (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
}

#[derive(Debug, Subcommand)]
enum Option242Command {
    /// Each pair of the string and what a phone does with it (applied, replaced by a later
    /// pair, or ignored and why), the parts that are no pair, and what results: the file
    /// servers in the order the phone tries them (every TLSSRVR over HTTPS, then every
    /// HTTPSRVR over HTTP, with their ports and folders) and the SIP controllers. Addresses
    /// are taken as written. `--format json`: schema phonecert.option242-explain/1
    /// (README). Exit 0, or 2 for bad usage.
    Explain {
        /// The option string, as the DHCP server sends it: 'HTTPSRVR=10.1.1.5,HTTPDIR=fw'.
        string: String,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
}

#[derive(Debug, Subcommand)]
enum FirmwareCommand {
    /// Build a signed image: `phonecert firmware build --model 96x0 --version 2.6.1.0
    /// --out S96x0_SALBR2_6_1_0.bin`. The payload is a file (`--payload`) or deterministic
    /// filler (`--size`); it is streamed, never held in memory. Exit 0, or 2.
    Build {
        /// Model or model family the image is for (repeatable): 9620, 96x0.
        #[arg(long = "model", value_name = "MODEL", required = true)]
        models: Vec<String>,
        /// Hardware version the image is for (repeatable); `*` is any.
        #[arg(long = "hardware", value_name = "REV", default_value = "*")]
        hardware: Vec<String>,
        /// The version the header carries: 2.6.1.0.
        #[arg(long)]
        version: String,
        /// The application name the header carries (default: the output file's name).
        #[arg(long, value_name = "NAME")]
        app_name: Option<String>,
        /// `application` or `boot-code`.
        #[arg(long, default_value = "application")]
        kind: String,
        /// The payload file.
        #[arg(long, value_name = "FILE", conflicts_with = "size")]
        payload: Option<PathBuf>,
        /// Payload of this many bytes of deterministic filler.
        #[arg(long, value_name = "BYTES")]
        size: Option<u64>,
        /// Sign with the Ed25519 key of this seed (64 hex digits) instead of the lab key.
        #[arg(long, value_name = "HEX")]
        key_seed: Option<String>,
        /// Where to write the image.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Explain an image: each header field, the payload's length and SHA-256 (streamed),
    /// then each check in the order a phone makes them, for the phone described. Exit 0 when
    /// the phone would accept it, 1 when it would refuse it, 2 when the file cannot be read.
    Inspect {
        /// The image file.
        file: PathBuf,
        /// The phone's MODEL4 (without it the model check is skipped).
        #[arg(long)]
        model: Option<String>,
        /// The phone's hardware version (without it the hardware check is skipped).
        #[arg(long)]
        hardware: Option<String>,
        /// What the phone is installing: `application` or `boot-code` (without it the kind
        /// check is skipped).
        #[arg(long)]
        kind: Option<String>,
        /// A trusted signer's public key, 64 hex digits (repeatable; default: the lab key).
        #[arg(long = "trust-key", value_name = "HEX")]
        trust_keys: Vec<String>,
    },
}

/// Which scenarios of the given paths: each flag may be repeated and matches when any of its
/// values does; different flags must all match.
#[derive(Debug, Clone, clap::Args)]
struct SelectArgs {
    /// Only scenarios carrying this tag (the scenario file's `tags`).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Only scenarios of this family: boot, option242, downloads, firmware, registration.
    #[arg(long = "family", value_name = "FAMILY")]
    families: Vec<String>,
    /// Only scenarios whose id matches this glob (`OPT242-01?`, `REG-*`), in any case.
    #[arg(long = "id", value_name = "GLOB")]
    ids: Vec<String>,
}

/// The forms of `phonecert diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DiffFormat {
    Text,
    Json,
    Html,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Scenario files or folders.
    paths: Vec<PathBuf>,
    #[command(flatten)]
    select: SelectArgs,
    /// What stdout carries: `text` (each verdict as it comes, a status line while waiting
    /// when stdout is a terminal, then the totals) or `json` (one JSON object per line: one
    /// per scenario as it ends, then the summary).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Lab: `netns` (default as root), `loopback` (default otherwise), or `iface:NAME` — a
    /// real phone plugged into interface NAME (root; needs --dut-mac). The iface lab checks
    /// that NAME exists, is up and has carrier, probes the segment for another DHCP server
    /// for 6 s (a DISCOVER from a random locally administered MAC) and refuses to start when
    /// one answers, puts --lab-addr on NAME for the run (and turns IPv4 forwarding of NAME
    /// off) and puts both back at the end, on an error and on Ctrl-C/SIGTERM (after a
    /// SIGKILL: when the next run on NAME starts).
    #[arg(long)]
    lab: Option<String>,
    /// The iface lab's own address on the interface, `A.B.C.D/N` with N from 8 to 24: the
    /// DHCP, HTTP and SIP servers use it, and the phone is leased .100-.199 of its /24. When
    /// the interface already has this address it is used as is and left in place.
    #[arg(long, value_name = "CIDR", default_value = crate::lab::iface::DEFAULT_LAB_ADDR)]
    lab_addr: String,
    /// Run the reference phone with this fault switch (repeatable); see `phonecert simphone
    /// --list-faults`. An unknown name is refused before anything runs.
    #[arg(long = "sim-fault", value_name = "NAME")]
    sim_faults: Vec<String>,
    /// Run the reference phone's timers this many times faster; windows are scaled the same
    /// way. Default: the scenario's `phone.time_scale`, else 1. Refused with `--dut-cmd` and
    /// `--lab iface:NAME`: a device the harness does not control always runs, and is judged,
    /// in real time.
    #[arg(long)]
    time_scale: Option<f64>,
    /// Where captures/ and reports/ go (the output root). `reports/latest` points at the last
    /// run that ran to its end.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Use this program as the device under test instead of the reference phone: `sh -c
    /// COMMAND` inside the phone's namespace of the netns lab, restarted for every scenario.
    /// Its environment names the lab: PHONECERT_IFACE, PHONECERT_MAC, PHONECERT_SERVER_IP,
    /// PHONECERT_SCENARIO, PHONECERT_WORK_DIR.
    #[arg(long, value_name = "COMMAND")]
    dut_cmd: Option<String>,
    /// The MAC of the external device. With --dut-cmd: default each scenario's
    /// `phone.mac`, set on the phone's interface before the command starts. With
    /// --lab iface:NAME: required, the phone plugged in; DHCP from any other MAC is never
    /// answered (the report lists it under `ignored_clients`).
    #[arg(long, value_name = "MAC")]
    dut_mac: Option<String>,
    /// The protocols the external device takes part in (default dhcp,http,sip); checks on
    /// the others (and checks resting on those) are reported as `skip`, neither pass nor
    /// fail (a plain DHCP client: `dhcp`).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    dut_protocols: Option<Vec<String>>,
    /// iface lab: reboots the phone at the start of every scenario with `sh -c CMD` (a PoE
    /// switch, a PDU, ssh). Its environment: PHONECERT_DUT_MAC, PHONECERT_IFACE,
    /// PHONECERT_SERVER_IP, PHONECERT_SCENARIO, PHONECERT_WORK_DIR (also its working
    /// folder); its output goes to the scenario's dut/<id>.log. A command that fails before
    /// the phone's first DHCPDISCOVER makes the scenario an error; one still running when the
    /// scenario ends is stopped (its process group).
    #[arg(long, value_name = "CMD", conflicts_with = "reboot")]
    reboot_cmd: Option<String>,
    /// iface lab, without --reboot-cmd: `operator` (default) asks on the terminal to reboot
    /// the phone and waits for its first DHCPDISCOVER; `none` only waits for the phone's own
    /// DHCP.
    #[arg(long, value_name = "MODE", value_parser = ["operator", "none"])]
    reboot: Option<String>,
    /// iface lab: seconds the phone has, from its reboot, to send its first DHCPDISCOVER
    /// (default 180). Each scenario's clock starts at that DISCOVER; a phone that sends none
    /// in time makes the scenario an error (not a fail), and the run goes on.
    #[arg(long, value_name = "SECS")]
    boot_wait: Option<f64>,
    /// Scenarios run at once, each in its own lab (its own namespaces, or loopback subnet,
    /// capture, timeline and device folders): default the number of cores; 1 runs them one
    /// after another. Verdicts and reports are those of a run with --jobs 1, scenarios
    /// listed in the same order; only timings and the order verdicts are printed in differ.
    /// A real phone on --lab iface:NAME is one device: its scenarios always run one at a
    /// time (a larger --jobs is ignored there, and said so).
    #[arg(long, value_name = "N")]
    jobs: Option<NonZeroUsize>,
    /// The phone profile (`scenarios/profiles/`): `avaya-96x0-sip` (96x0 R2.x) or
    /// `avaya-96x1-sip` (96x1 R6/R7). Scenarios written for other profiles are skipped; the
    /// profile's parameters are the checks' `${profile.NAME}`; the reference phone plays it.
    #[arg(long, value_name = "NAME", default_value = crate::profile::DEFAULT)]
    profile: String,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The scenario file: its `[dhcp]`, `[files]`, `[https]` and `[sip]` make the servers,
    /// its checks judge each phone.
    scenario: PathBuf,
    /// Lab: `loopback` (servers on 127.77.0.1, high ports, no privileges), `netns` (root: a
    /// namespace pair joined by a veth; run the phones in the phone namespace, or bridge its
    /// veth end) or `iface:NAME` (root: a real port; probed for another DHCP server first).
    /// Default: netns as root, else loopback.
    #[arg(long)]
    lab: Option<String>,
    /// The iface lab's own address on the interface (as for `run`).
    #[arg(long, value_name = "CIDR", default_value = crate::lab::iface::DEFAULT_LAB_ADDR)]
    lab_addr: String,
    /// A phone to answer (repeatable); DHCP from any other MAC is never answered, and the
    /// report lists it under `ignored_clients`.
    #[arg(
        long = "dut-mac",
        value_name = "MAC",
        required_unless_present = "any_mac"
    )]
    dut_macs: Vec<String>,
    /// Answer every DHCP client on the segment, and judge each one that asks (a loud
    /// warning on stderr and in the report: other devices get leases too).
    #[arg(long, conflicts_with = "dut_macs")]
    any_mac: bool,
    /// Stop by itself after this many seconds (default: only on Ctrl-C or SIGTERM).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Where captures/ and reports/ go (the output root).
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// The phone profile whose parameters are the checks' `${profile.NAME}`.
    #[arg(long, value_name = "NAME", default_value = crate::profile::DEFAULT)]
    profile: String,
}

/// The default of `--boot-wait`: a 9600 SIP phone takes about a minute from power to its
/// first DISCOVER, more after a firmware upgrade.
pub const DEFAULT_BOOT_WAIT_S: f64 = 180.0;

/// Entry point of the `phonecert` binary. `embedded_simphone`: the binary also runs the
/// reference phone as `phonecert simphone …` ([`crate::dut::EMBEDDED_SIMPHONE`]); runs use it
/// unless `PHONECERT_SIMPHONE` names another program.
pub fn main(embedded_simphone: bool) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PHONECERT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_PASS
            });
        }
    };
    ExitCode::from(match cli.command {
        Command::Run(args) => cmd_run(*args, embedded_simphone),
        Command::List { paths, select } => cmd_list(&paths, &select),
        Command::Check { paths } => cmd_check(&paths),
        Command::Judge {
            run,
            capture: Some(capture),
            vars,
            time_scale,
            profile,
            ..
        } => cmd_judge_capture(&capture, &run, &vars, time_scale, &profile),
        Command::Judge { run, write, .. } => cmd_judge(&run, write),
        Command::Verify { run, no_captures } => cmd_verify(&run, !no_captures),
        Command::Diff {
            run_a,
            run_b,
            format,
        } => cmd_diff(&run_a, &run_b, format),
        Command::Merge { runs, out } => cmd_merge(&runs, &out),
        Command::Serve(args) => cmd_serve(*args),
        Command::Schema => cmd_schema(),
        Command::Firmware(command) => cmd_firmware(command),
        Command::Script(ScriptCommand::Eval {
            files,
            model,
            group,
            vars,
            format,
        }) => cmd_script_eval(&files, &model, group, &vars, format),
        Command::Lint { files, format } => cmd_lint(&files, format),
        Command::Option242(Option242Command::Explain { string, format }) => {
            print_out(&provisioning_tool::option242_explain(&string, format));
            EXIT_PASS
        }
        // The phonecert binary runs `storm` itself (it joins the reference phone to the
        // harness); this library alone does not carry the phone.
        Command::Storm { .. } => {
            eprintln!(
                "error: `storm` is run by the phonecert binary, which carries the reference phone"
            );
            EXIT_USAGE
        }
    })
}

fn cmd_firmware(command: FirmwareCommand) -> u8 {
    use crate::firmware_tool::{self as tool, ToolError};
    use std::io::Write;
    let result: Result<u8, ToolError> = (|| match command {
        FirmwareCommand::Build {
            models,
            hardware,
            version,
            app_name,
            kind,
            payload,
            size,
            key_seed,
            out,
        } => {
            let payload = match (payload, size) {
                (Some(file), None) => tool::Payload::File(file),
                (None, Some(n)) => tool::Payload::Filler(n),
                _ => {
                    return Err(ToolError::Usage(
                        "give the payload: --payload FILE or --size BYTES".into(),
                    ));
                }
            };
            let app_name = match app_name {
                Some(name) => name,
                None => out
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| ToolError::Usage("--out names no file".into()))?,
            };
            let req = tool::BuildRequest {
                kind: tool::parse_kind(&kind)?,
                models,
                hardware,
                version,
                app_name,
                payload,
                key_seed: key_seed.as_deref().map(tool::key_bytes).transpose()?,
                out,
            };
            let header = tool::build(&req)?;
            let _ = writeln!(
                std::io::stdout(),
                "wrote {} ({} header + {} payload bytes)",
                req.out.display(),
                header.len,
                header.payload_len
            );
            Ok(EXIT_PASS)
        }
        FirmwareCommand::Inspect {
            file,
            model,
            hardware,
            kind,
            trust_keys,
        } => {
            let target = tool::InspectTarget {
                model4: model,
                hardware,
                kind: kind.as_deref().map(tool::parse_kind).transpose()?,
                trusted: trust_keys
                    .iter()
                    .map(|k| tool::key_bytes(k))
                    .collect::<Result<_, _>>()?,
            };
            let found = tool::inspect(&file, &target)?;
            let _ = write!(std::io::stdout(), "{}", found.text);
            Ok(if found.refused { EXIT_FAIL } else { EXIT_PASS })
        }
    })();
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        EXIT_USAGE
    })
}

/// Print to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn print_out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn cmd_script_eval(
    files: &[PathBuf],
    model: &str,
    group: u16,
    vars: &[String],
    format: OutputFormat,
) -> u8 {
    let run = || {
        let phone = provisioning_tool::phone(model, group, vars)?;
        provisioning_tool::script_eval(files, phone, format)
    };
    match run() {
        Ok(text) => {
            print_out(&text);
            EXIT_PASS
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
    }
}

fn cmd_lint(files: &[PathBuf], format: OutputFormat) -> u8 {
    match provisioning_tool::lint(files, format) {
        Ok(report) => {
            print_out(&report.output);
            if report.errors > 0 {
                EXIT_FAIL
            } else {
                EXIT_PASS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
    }
}

fn cmd_schema() -> u8 {
    use std::io::Write;
    match serde_json::to_string_pretty(&scenario::json_schema()) {
        Ok(text) => {
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{text}");
            EXIT_PASS
        }
        Err(e) => {
            eprintln!("error: cannot print the schema: {e}");
            EXIT_HARNESS
        }
    }
}

fn default_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths.to_vec()
    }
}

/// Loads every scenario under `paths`. Every error of every file is printed, files in path
/// order, and then `Err(2)`. The scenarios come back in id order (`BOOT-001` before
/// `BOOT-002`, whatever their file names): the order they are listed, run and reported in.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>, u8> {
    let files = scenario::discover(&default_paths(paths)).map_err(|e| {
        eprintln!("{e}");
        EXIT_USAGE
    })?;
    if files.is_empty() {
        eprintln!(
            "error: no scenario files under {}",
            default_paths(paths)
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Err(EXIT_USAGE);
    }
    let mut out = Vec::new();
    let mut bad = false;
    for f in files {
        match scenario::load_file(&f) {
            Ok(s) => out.push(s),
            Err(e) => {
                eprintln!("{e}");
                bad = true;
            }
        }
    }
    if bad {
        return Err(EXIT_USAGE);
    }
    let mut seen = std::collections::BTreeMap::new();
    for s in &out {
        if let Some(prev) = seen.insert(s.spec.id.clone(), s.file.clone()) {
            eprintln!(
                "error: scenario id `{}` is used by both {} and {}",
                s.spec.id,
                prev.display(),
                s.file.display()
            );
            return Err(EXIT_USAGE);
        }
    }
    out.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
    Ok(out)
}

fn cmd_check(paths: &[PathBuf]) -> u8 {
    match load_all(paths) {
        Ok(all) => {
            let checks: usize = all.iter().map(|s| s.checks.len()).sum();
            println!("{} scenario file(s), {checks} check(s): ok", all.len());
            EXIT_PASS
        }
        Err(code) => code,
    }
}

/// Loads the scenarios under `paths` and keeps those `select` picks; picking none is a usage
/// error (exit 2), like a path without scenarios.
fn load_selected(paths: &[PathBuf], select: &SelectArgs) -> Result<Vec<Scenario>, u8> {
    let sel = Selection::new(&select.tags, &select.families, &select.ids).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_USAGE
    })?;
    let all = load_all(paths)?;
    let total = all.len();
    let picked = sel.apply(all);
    if picked.is_empty() {
        eprintln!(
            "error: no scenario matches {} (of {total} loaded)",
            sel.describe()
        );
        return Err(EXIT_USAGE);
    }
    Ok(picked)
}

fn cmd_list(paths: &[PathBuf], select: &SelectArgs) -> u8 {
    match load_selected(paths, select) {
        Ok(all) => {
            let (mut real, mut sim) = (0.0, 0.0);
            for s in &all {
                let tags = if s.spec.tags.is_empty() {
                    String::new()
                } else {
                    format!("  #{}", s.spec.tags.join(" #"))
                };
                let (r, m) = real_time_length(s);
                real += r;
                sim += m;
                println!(
                    "{}  [{}]  {}  ({}){tags}  — {}",
                    s.spec.id,
                    crate::select::family_name(s),
                    s.spec.title,
                    s.file.display(),
                    length_text(r, m)
                );
                for c in &s.checks {
                    println!("    {}  {}  — {}", c.id, c.title, c.requirement);
                }
            }
            println!(
                "{} scenario(s): up to {} of real time on a real phone or any --dut-cmd device; up to {} with the reference phone",
                all.len(),
                clock(real),
                clock(sim)
            );
            EXIT_PASS
        }
        Err(code) => code,
    }
}

/// How long a scenario can take, in lab seconds: (a device the harness does not control, the
/// reference phone). A scenario ends at its timeout at the latest (earlier once every verdict
/// is settled); a real device runs in real time (scale 1), the reference phone at the
/// scenario's `phone.time_scale`.
fn real_time_length(s: &scenario::Scenario) -> (f64, f64) {
    let timeout = s.spec.run.timeout;
    let scale = s.spec.phone.time_scale.unwrap_or(1.0).max(1e-6);
    (timeout, timeout / scale)
}

fn length_text(real: f64, sim: f64) -> String {
    if (real - sim).abs() < 1e-9 {
        format!("up to {} real time", clock(real))
    } else {
        format!(
            "up to {} real time ({} for the reference phone)",
            clock(real),
            clock(sim)
        )
    }
}

/// `45 s`, `4 min 5 s`, `1 h 2 min`.
fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, sec) => format!("{m} min {sec} s"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

fn cmd_diff(a_dir: &Path, b_dir: &Path, format: DiffFormat) -> u8 {
    use report::diff;
    let (a, b) = match (diff::load(a_dir), diff::load(b_dir)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let d = diff::compare(a_dir, &a, b_dir, &b);
    let out = match format {
        DiffFormat::Text => Ok(diff::text(&d)),
        DiffFormat::Json => serde_json::to_string_pretty(&d)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        DiffFormat::Html => diff::html(&d).map_err(|e| format!("{e:#}")),
    };
    match out {
        Ok(text) => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(text.as_bytes());
        }
        Err(e) => {
            eprintln!("error: cannot write the comparison: {e}");
            return EXIT_HARNESS;
        }
    }
    if d.has_new_failures() {
        EXIT_FAIL
    } else {
        EXIT_PASS
    }
}

fn cmd_judge_capture(
    capture: &Path,
    scenario: &Path,
    vars: &[String],
    scale: Option<f64>,
    profile: &str,
) -> u8 {
    use crate::from_capture;
    if scale.is_some_and(|f| !f.is_finite() || f <= 0.0) {
        eprintln!("error: --time-scale must be more than 0");
        return EXIT_USAGE;
    }
    let Some(profile) = crate::profile::Profile::named(profile) else {
        eprintln!(
            "error: --profile `{profile}` is no phone profile; known: {}",
            crate::profile::Profile::names().join(", ")
        );
        return EXIT_USAGE;
    };
    let sc = match scenario::load_file(scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_USAGE;
        }
    };
    let rebuilt = match from_capture::rebuild(capture, &sc, &profile, vars, scale) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let checks = from_capture::judge(&sc, &rebuilt);
    let judged: Vec<&judge::CheckResult> = checks
        .iter()
        .filter(|c| c.verdict != Verdict::Skip)
        .collect();
    let verdict = if judged.is_empty() {
        Verdict::Skip
    } else {
        judge::scenario_verdict(&checks)
    };
    println!(
        "{:<5} {}  {}  (from {}: {} frame(s), {} event(s) of the phone; phone time = capture time × {})",
        verdict.as_str().to_uppercase(),
        sc.spec.id,
        sc.spec.title,
        capture.display(),
        rebuilt.frames,
        rebuilt.timeline.events.len(),
        rebuilt.time_scale
    );
    for c in &checks {
        println!("      {}", c.line());
    }
    for n in &rebuilt.notes {
        eprintln!("note: {n}");
    }
    println!(
        "\n{} check(s) judged from the capture: {} passed, {} not passed; {} not judged from a capture",
        judged.len(),
        judged.iter().filter(|c| c.verdict == Verdict::Pass).count(),
        judged.iter().filter(|c| c.verdict != Verdict::Pass).count(),
        checks.len() - judged.len()
    );
    if judged.is_empty() {
        // A capture that shows none of the scenario's checks demonstrates nothing; exiting 0
        // would let a pipeline count it as a pass.
        eprintln!(
            "error: no check of {} could be judged from {}: nothing is shown to pass",
            sc.spec.id,
            capture.display()
        );
        return EXIT_FAIL;
    }
    match verdict {
        Verdict::Fail => EXIT_FAIL,
        Verdict::Error => EXIT_HARNESS,
        _ => EXIT_PASS,
    }
}

/// Claims the run's folders under `out` (`reports/<run-id>/`, `captures/<run-id>/`) and, in
/// the netns lab, removes what killed runs left behind; `None` (said on stderr) when the
/// folders cannot be created. Shared by `run` and `serve`.
fn claim_run_folders(
    out: &Path,
    lab: &lab::LabKind,
    started_at: time::OffsetDateTime,
) -> Option<RunFolders> {
    let folders = match RunFolders::claim(out, started_at, std::process::id()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "error: cannot create the run's folders under {}: {e}",
                out.display()
            );
            return None;
        }
    };
    if *lab == lab::LabKind::Netns {
        let removed = lab::remove_stale();
        if !removed.is_empty() {
            eprintln!(
                "removed what killed runs left behind: {}",
                removed.join(", ")
            );
        }
    }
    Some(folders)
}

fn cmd_merge(runs: &[PathBuf], out: &Path) -> u8 {
    let now = time::OffsetDateTime::now_utc();
    match report::merge::merge(runs, out, now, std::process::id()) {
        Err(e) => {
            eprintln!("error: {e}");
            if e.is_input() {
                EXIT_USAGE
            } else {
                EXIT_HARNESS
            }
        }
        Ok((rep, dir)) => {
            print!("{}", report::totals(&rep, &dir));
            println!("merged {} run(s)", rep.merged_from.len());
            if rep.interrupted {
                EXIT_INTERRUPTED
            } else {
                exit_for(&rep.summary)
            }
        }
    }
}

fn cmd_verify(run: &Path, captures: bool) -> u8 {
    match report::compliance::verify(run, captures) {
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
        Ok(v) if v.is_intact() => {
            println!(
                "intact: {} file(s) match compliance.json in {}",
                v.intact,
                run.display()
            );
            EXIT_PASS
        }
        Ok(v) => {
            for line in v.lines() {
                println!("{line}");
            }
            println!(
                "not intact: {} changed, {} missing, {} added, {} edited and judged; {} file(s) match compliance.json in {}",
                v.changed.len(),
                v.missing_count(),
                v.added.len(),
                v.edited.len(),
                v.intact,
                run.display()
            );
            EXIT_FAIL
        }
    }
}

/// Notes on stderr, for a command that reads a run folder, each file that differs from what
/// its `compliance.json` recorded: what is read is the folder as it is now (that is how a
/// timeline is edited to ask "what if"), and the reader is told it is not the run's own.
/// Returns those files, for `judge --write` to record.
fn note_drift(run: &Path) -> Vec<report::EditedEvidence> {
    if !run.join("compliance.json").is_file() {
        return Vec::new();
    }
    match report::compliance::verify(run, false) {
        Ok(v) => v
            .changed
            .into_iter()
            .map(|(path, recorded_sha256, judged_sha256)| {
                eprintln!(
                    "note: {} was changed after the run (its SHA-256 differs from compliance.json); it is read as it is now",
                    run.join(&path).display()
                );
                report::EditedEvidence {
                    path,
                    recorded_sha256,
                    judged_sha256,
                }
            })
            .collect(),
        Err(e) => {
            eprintln!("note: the evidence is not checked: {e}");
            Vec::new()
        }
    }
}

fn cmd_judge(run: &Path, write: bool) -> u8 {
    let edited = note_drift(run);
    let report_path = run.join("report.json");
    let mut rep: RunReport = match std::fs::read(&report_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", report_path.display());
            return EXIT_USAGE;
        }
    };
    let mut missing_captures = Vec::new();
    for s in &mut rep.scenarios {
        let Some(tl) = &s.timeline else { continue };
        let saved = match read_saved(run, tl) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: scenario {}: {e}", s.id);
                return EXIT_USAGE;
            }
        };
        let scenario_file = match run_folder::resolve(run, &saved.scenario_file) {
            Ok(p) => p,
            Err(e) => {
                eprintln!(
                    "error: scenario {}: its timeline's scenario_file: {e}",
                    s.id
                );
                return EXIT_USAGE;
            }
        };
        let sc = match scenario::load_file(&scenario_file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return EXIT_USAGE;
            }
        };
        let vars = saved
            .vars
            .into_iter()
            .filter_map(|(k, v)| {
                scenario::vars::KNOWN
                    .iter()
                    .find(|n| **n == k)
                    .map(|n| (*n, v))
            })
            .collect();
        let ctx = judge::Ctx::new(&vars).scaled(saved.time_scale);
        let ctx = match &saved.speaks {
            Some(p) => ctx.speaking(p),
            None => ctx,
        };
        s.checks = judge::judge(&sc, &saved.timeline, ctx);
        s.verdict = if s.error.is_some() {
            Verdict::Error
        } else {
            judge::scenario_verdict(&s.checks)
        };
        if !write {
            continue;
        }
        // The capture's packet comments follow the new verdicts (they replace the old ones).
        match s
            .capture
            .as_deref()
            .map(|c| run_folder::capture_file(run, c))
        {
            Some(Ok(capture)) if capture.exists() => {
                if let Err(e) = crate::evidence::annotate(&capture, &s.checks, &saved.timeline) {
                    eprintln!("warning: the verdicts were not written into the capture: {e}");
                }
            }
            Some(Err(e)) => {
                eprintln!(
                    "warning: scenario {}: its capture is not annotated: {e}",
                    s.id
                );
            }
            // A run folder copied without its captures: judged all the same, and said so.
            Some(Ok(capture)) => missing_captures.push(capture),
            None => {}
        }
    }
    if let Some(first) = missing_captures.first() {
        let more = match missing_captures.len() - 1 {
            0 => String::new(),
            n => format!(" (and {n} more in the same way)"),
        };
        eprintln!(
            "note: the capture was not found at {}{more}; verdicts are judged from the timeline only and no capture gets them",
            first.display()
        );
    }
    rep.summary = Summary::of_scenarios(&rep.scenarios);
    // Written verdicts that rest on edited files say so, for good: `verify` names them, and
    // a file edited twice keeps the hash the run recorded.
    for e in edited {
        match rep.edited_after_run.iter_mut().find(|k| k.path == e.path) {
            Some(known) => known.judged_sha256 = e.judged_sha256,
            None => rep.edited_after_run.push(e),
        }
    }
    if write && let Err(e) = report::write_all(run, &rep) {
        eprintln!(
            "error: cannot write the new verdicts to {}: {e}",
            run.display()
        );
        return EXIT_HARNESS;
    }
    print!("{}", report::text_summary(&rep, run));
    if rep.interrupted {
        EXIT_INTERRUPTED
    } else {
        exit_for(&rep.summary)
    }
}

/// A saved timeline, through the path `report.json` stores (relative to the run folder).
fn read_saved(run: &Path, stored: &str) -> Result<SavedTimeline, String> {
    let path = run_folder::resolve(run, stored)?;
    std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| format!("cannot read timeline {}: {e}", path.display()))
}

fn exit_for(s: &Summary) -> u8 {
    if s.error > 0 {
        EXIT_HARNESS
    } else if s.fail > 0 {
        EXIT_FAIL
    } else {
        EXIT_PASS
    }
}

/// The external device of `--dut-cmd`, validated; `Ok(None)` without `--dut-cmd`.
fn external_dut(args: &RunArgs, lab: &lab::LabKind) -> Result<Option<engine::ExternalDut>, String> {
    let Some(command) = &args.dut_cmd else {
        return Ok(None);
    };
    if !args.sim_faults.is_empty() {
        return Err("--sim-fault applies to the reference phone, not to --dut-cmd".into());
    }
    if let Some(m) = &args.dut_mac {
        dut_mac(m)?;
    }
    let speaks = dut_protocols(args)?;
    if let lab::LabKind::Iface(name) = lab {
        return Err(format!(
            "--dut-cmd runs a program in the netns lab's phone namespace; with --lab iface:{name} the device under test is the phone plugged into {name}"
        ));
    }
    if *lab != lab::LabKind::Netns {
        return Err(
            "--dut-cmd needs the netns lab (the device gets the phone's namespace and interface); run as root without --lab loopback"
                .into(),
        );
    }
    Ok(Some(engine::ExternalDut {
        command: command.clone(),
        mac: args.dut_mac.clone(),
        speaks,
    }))
}

fn dut_mac(m: &str) -> Result<String, String> {
    match scenario::parse_mac(m) {
        Some(_) => Ok(m.to_lowercase()),
        None => Err(format!(
            "--dut-mac `{m}` is not a MAC address like 00:1b:4f:27:31:2a"
        )),
    }
}

/// `--dut-protocols`, validated (default: all three).
fn dut_protocols(args: &RunArgs) -> Result<Vec<crate::timeline::Proto>, String> {
    let Some(list) = &args.dut_protocols else {
        return Ok(vec![
            crate::timeline::Proto::Dhcp,
            crate::timeline::Proto::Http,
            crate::timeline::Proto::Sip,
        ]);
    };
    let mut speaks = Vec::new();
    for p in list {
        match p.trim().to_ascii_lowercase().as_str() {
            "dhcp" => speaks.push(crate::timeline::Proto::Dhcp),
            "http" => speaks.push(crate::timeline::Proto::Http),
            "sip" => speaks.push(crate::timeline::Proto::Sip),
            other => {
                return Err(format!(
                    "--dut-protocols: `{other}` is not dhcp, http or sip"
                ));
            }
        }
    }
    Ok(speaks)
}

/// The real phone of the iface lab, validated; `Ok(None)` in the other labs, where the
/// iface lab's flags are refused.
fn attached_phone(
    args: &RunArgs,
    lab: &lab::LabKind,
) -> Result<Option<(engine::AttachedPhone, lab::LabAddr)>, String> {
    let lab::LabKind::Iface(name) = lab else {
        let iface_only = [
            ("--reboot-cmd", args.reboot_cmd.is_some()),
            ("--reboot", args.reboot.is_some()),
            ("--boot-wait", args.boot_wait.is_some()),
            (
                "--lab-addr",
                args.lab_addr != crate::lab::iface::DEFAULT_LAB_ADDR,
            ),
        ];
        if let Some((flag, _)) = iface_only.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{flag} applies to a real phone on --lab iface:NAME only"
            ));
        }
        if args.dut_cmd.is_none() && args.dut_mac.is_some() {
            return Err("--dut-mac names the device of --dut-cmd or of --lab iface:NAME".into());
        }
        if args.dut_cmd.is_none() && args.dut_protocols.is_some() {
            return Err(
                "--dut-protocols names what the device of --dut-cmd or of --lab iface:NAME speaks"
                    .into(),
            );
        }
        return Ok(None);
    };
    if args.dut_cmd.is_some() {
        // external_dut says why.
        return Ok(None);
    }
    if !args.sim_faults.is_empty() {
        return Err(format!(
            "--sim-fault applies to the reference phone, not to the phone on {name}"
        ));
    }
    if args.time_scale.is_some() {
        return Err(format!(
            "--time-scale applies to the reference phone; the phone on {name} runs in real time"
        ));
    }
    let Some(mac) = &args.dut_mac else {
        return Err(format!(
            "--lab iface:{name} needs --dut-mac MAC: the DHCP server answers that phone and no other device on the segment"
        ));
    };
    let mac = dut_mac(mac)?;
    let addr = lab::LabAddr::parse(&args.lab_addr).map_err(|e| format!("--lab-addr {e}"))?;
    let boot_wait = args.boot_wait.unwrap_or(DEFAULT_BOOT_WAIT_S);
    if !boot_wait.is_finite() || boot_wait <= 0.0 || boot_wait > 86_400.0 {
        return Err("--boot-wait must be more than 0 and at most 86400 seconds".into());
    }
    let reboot = match (&args.reboot_cmd, args.reboot.as_deref()) {
        (Some(cmd), _) if cmd.trim().is_empty() => {
            return Err("--reboot-cmd is empty".into());
        }
        (Some(cmd), _) => crate::dut::Reboot::Cmd(cmd.clone()),
        (None, Some("none")) => crate::dut::Reboot::None,
        (None, _) => crate::dut::Reboot::Operator,
    };
    Ok(Some((
        engine::AttachedPhone {
            mac,
            reboot,
            boot_wait: std::time::Duration::from_secs_f64(boot_wait),
            speaks: dut_protocols(args)?,
        },
        addr,
    )))
}

/// Sets up the iface lab before the first scenario: the interface is checked and claimed
/// (what a killed run left on it put back), the segment probed for another DHCP server
/// (before anything on the interface changes), then the lab address put on it. Ctrl-C
/// meanwhile: `Err(None)`.
async fn open_iface(
    name: &str,
    addr: lab::LabAddr,
    cancel: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<lab::IfaceLab, Option<lab::LabError>> {
    lab::iface::check_link(name).map_err(Some)?;
    if !lab::is_root() {
        return Err(Some(lab::LabError::IfaceNeedsRoot));
    }
    // Claimed before the probe: another phonecert on the port answers only its own phone,
    // so the probe would not find it.
    let claim = lab::Claim::take(name).map_err(Some)?;
    eprintln!(
        "probing the segment of {name} for another DHCP server ({} s) …",
        lab::iface::PROBE_LISTEN.as_secs()
    );
    tokio::select! {
        r = lab::iface::guard(name) => r.map_err(Some)?,
        _ = cancel.wait_for(|c| *c) => return Err(None),
    }
    lab::IfaceLab::open(name, addr, claim).map_err(Some)
}

/// The fault switches, checked against the reference phone's own list (`--list-faults`).
fn check_faults(program: &SimphoneProgram, faults: &[String]) -> Result<(), (u8, String)> {
    if faults.is_empty() {
        return Ok(());
    }
    let known = program
        .list_faults()
        .map_err(|e| (EXIT_HARNESS, e.to_string()))?;
    for f in faults {
        if !known.contains(f) {
            return Err((
                EXIT_USAGE,
                format!(
                    "--sim-fault `{f}` is not a fault switch of the reference phone; it has: {}",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn cmd_run(args: RunArgs, embedded_simphone: bool) -> u8 {
    let scenarios = match load_selected(&args.paths, &args.select) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if args.time_scale.is_some_and(|f| !f.is_finite() || f <= 0.0) {
        eprintln!("error: --time-scale must be more than 0");
        return EXIT_USAGE;
    }
    let lab = match lab::choose(args.lab.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if args.time_scale.is_some() && args.dut_cmd.is_some() {
        eprintln!(
            "error: --time-scale applies to the reference phone; a --dut-cmd device runs in real time"
        );
        return EXIT_USAGE;
    }
    let external = match external_dut(&args, &lab) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let attached = match attached_phone(&args, &lab) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let jobs = run_jobs(&lab, args.jobs);
    let Some(profile) = crate::profile::Profile::named(&args.profile) else {
        eprintln!(
            "error: --profile `{}` is no phone profile; known: {}",
            args.profile,
            crate::profile::Profile::names().join(", ")
        );
        return EXIT_USAGE;
    };
    let simphone = match crate::dut::find_simphone(embedded_simphone) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_HARNESS;
        }
    };
    if let Err((code, e)) = check_faults(&simphone, &args.sim_faults) {
        eprintln!("error: {e}");
        return code;
    }
    if lab == lab::LabKind::Netns && !lab::is_root() {
        eprintln!("error: {}", lab::LabError::NeedsRoot);
        return EXIT_HARNESS;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return EXIT_HARNESS;
        }
    };
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    rt.spawn(async move {
        if stop_requested().await.is_ok() {
            eprintln!("interrupted: stopping the phone, the servers and the lab …");
            let _ = cancel_tx.send(true);
        }
    });
    // The iface lab is checked and the segment probed before the run claims its folders:
    // a lab port that cannot be used leaves nothing behind.
    let iface = match (&lab, &attached) {
        (lab::LabKind::Iface(name), Some((_, addr))) => {
            let mut cancel = cancel_rx.clone();
            match rt.block_on(open_iface(name, *addr, &mut cancel)) {
                Ok(i) => Some(std::sync::Arc::new(i)),
                Err(Some(e)) => {
                    eprintln!("error: {e}");
                    return EXIT_HARNESS;
                }
                Err(None) => return EXIT_INTERRUPTED,
            }
        }
        _ => None,
    };
    let attached = attached.map(|(a, _)| a);
    let started_at = time::OffsetDateTime::now_utc();
    let Some(folders) = claim_run_folders(&args.out, &lab, started_at) else {
        return EXIT_HARNESS;
    };
    let id = folders.id.clone();
    let started = Instant::now();
    let live = std::sync::Arc::new(Live::new(args.format));
    let code = (move || {
        let ctx = RunContext {
            run_id: id.clone(),
            lab: lab.clone(),
            captures_dir: folders.captures.clone(),
            reports_dir: folders.reports.clone(),
            simphone,
            faults: args.sim_faults.clone(),
            external: external.clone(),
            iface,
            attached: attached.clone(),
            time_scale: args.time_scale,
            cancel: cancel_rx,
            progress: live.clone(),
            profile: profile.clone(),
        };
        let schedule::Outcome {
            reports,
            interrupted,
            stopped,
            not_run,
        } = schedule::run_all(&scenarios, &ctx, jobs, &live);
        let first = scenarios.first().map(|s| &s.spec.phone);
        let dir = &folders.reports;
        let firmware_observed = reports.iter().rev().find_map(|r| observed_firmware(dir, r));
        let rep = RunReport {
            schema: report::SCHEMA.into(),
            run_id: id.clone(),
            started: started_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            duration_s: started.elapsed().as_secs_f64(),
            lab: lab.name(),
            phonecert_version: env!("CARGO_PKG_VERSION").into(),
            dut: DutInfo {
                kind: match (&external, &attached) {
                    (Some(_), _) => "cmd",
                    (None, Some(_)) => "attached",
                    (None, None) => "sim",
                }
                .into(),
                command: external.as_ref().map(|d| d.command.clone()),
                reboot: attached.as_ref().map(|a| a.reboot.describe()),
                model: first.map(|p| profile.expand(&p.model)).unwrap_or_default(),
                mac: attached
                    .as_ref()
                    .map(|a| a.mac.clone())
                    .or_else(|| args.dut_mac.clone())
                    .or_else(|| first.map(|p| p.mac.clone()))
                    .unwrap_or_default(),
                firmware_start: first
                    .map(|p| profile.expand(&p.firmware))
                    .unwrap_or_default(),
                firmware_observed,
                faults: args.sim_faults,
                profile: profile.name.clone(),
            },
            summary: Summary::of_scenarios(&reports),
            interrupted,
            not_run,
            scenarios: reports,
            merged_from: Vec::new(),
            edited_after_run: Vec::new(),
            clients: None,
            warnings: Vec::new(),
        };
        if let Err(e) = report::write_all(dir, &rep) {
            eprintln!("error: cannot write reports to {}: {e}", dir.display());
            return EXIT_HARNESS;
        }
        let reports_root = args.out.join("reports");
        if rep.not_run.is_empty() {
            if let Err(e) = run_folder::point_latest(&reports_root, &id) {
                eprintln!(
                    "warning: could not point {} at {id}: {e}",
                    reports_root.join("latest").display()
                );
            }
        } else {
            eprintln!(
                "note: {} was not moved: this run did not run every scenario",
                reports_root.join("latest").display()
            );
        }
        live.finished(&rep, dir);
        if interrupted {
            EXIT_INTERRUPTED
        } else if stopped.is_some() {
            EXIT_HARNESS
        } else {
            exit_for(&rep.summary)
        }
    })();
    // The iface lab's address comes off (with the context that held it) before the exit.
    drop(rt);
    code
}

/// How many scenarios run at once: `--jobs`, else one per core; always one for the real
/// phone of an iface lab (one device cannot boot into two scenarios at once), said on
/// stderr when more were asked for.
fn run_jobs(lab: &lab::LabKind, asked: Option<NonZeroUsize>) -> NonZeroUsize {
    match (lab, asked) {
        (lab::LabKind::Iface(name), Some(n)) if n.get() > 1 => {
            eprintln!(
                "note: --jobs {n} is not used with --lab iface:{name}: one real phone runs one scenario at a time"
            );
            NonZeroUsize::MIN
        }
        (lab::LabKind::Iface(_), _) => NonZeroUsize::MIN,
        (_, Some(n)) => n,
        (_, None) => schedule::default_jobs(),
    }
}

/// Resolves when the operator asks the run to stop: Ctrl-C (SIGINT) or SIGTERM.
fn stop_requested() -> impl std::future::Future<Output = std::io::Result<()>> {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        let mut term = term?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
}

/// The version the phone announced in its last REGISTER User-Agent
/// (`Avaya one-X Deskphone <version> <mac>`), read from the saved timeline.
fn observed_firmware(run: &Path, r: &report::ScenarioReport) -> Option<String> {
    let saved = read_saved(run, r.timeline.as_ref()?).ok()?;
    saved.timeline.events.iter().rev().find_map(|e| {
        if e.proto != crate::timeline::Proto::Sip || e.kind != "request" {
            return None;
        }
        let ua = e.field("user_agent")?.as_str()?;
        let rest = ua.strip_prefix("Avaya one-X Deskphone ")?;
        rest.split_whitespace().next().map(str::to_string)
    })
}

/// `phonecert serve`: flags checked, the lab up, the servers run until the stop, then the run
/// folder written with a verdict per phone.
fn cmd_serve(args: ServeArgs) -> u8 {
    let usage = |e: String| {
        eprintln!("error: {e}");
        EXIT_USAGE
    };
    let sc = match load_all(std::slice::from_ref(&args.scenario)) {
        Ok(mut all) if all.len() == 1 => all.remove(0),
        Ok(all) => {
            return usage(format!(
                "phonecert serve runs one scenario; {} holds {}",
                args.scenario.display(),
                all.len()
            ));
        }
        Err(code) => return code,
    };
    let lab = match lab::choose(args.lab.as_deref()) {
        Ok(l) => l,
        Err(e) => return usage(e),
    };
    let addr = match (&lab, args.lab_addr.as_str()) {
        (lab::LabKind::Iface(_), text) => match lab::LabAddr::parse(text) {
            Ok(a) => Some(a),
            Err(e) => return usage(format!("--lab-addr {e}")),
        },
        (_, crate::lab::iface::DEFAULT_LAB_ADDR) => None,
        _ => return usage("--lab-addr applies to --lab iface:NAME only".into()),
    };
    let answer = if args.any_mac {
        crate::serve::Answer::Any
    } else {
        let mut macs: Vec<String> = Vec::new();
        for m in &args.dut_macs {
            match dut_mac(m) {
                Ok(m) if !macs.contains(&m) => macs.push(m),
                Ok(_) => {}
                Err(e) => return usage(e),
            }
        }
        crate::serve::Answer::Only(macs)
    };
    let duration = match args.duration {
        None => None,
        Some(d) if d.is_finite() && d > 0.0 && d <= 30.0 * 86_400.0 => {
            Some(std::time::Duration::from_secs_f64(d))
        }
        Some(_) => return usage("--duration must be more than 0 and at most 30 days".into()),
    };
    let Some(profile) = crate::profile::Profile::named(&args.profile) else {
        return usage(format!(
            "--profile `{}` is no phone profile; known: {}",
            args.profile,
            crate::profile::Profile::names().join(", ")
        ));
    };
    let spec = &sc.spec;
    if !spec.profiles.is_empty() && !spec.profiles.contains(&profile.name) {
        return usage(format!(
            "{} is for {}, not for {} (--profile)",
            spec.id,
            spec.profiles.join(", "),
            profile.name
        ));
    }
    if lab == lab::LabKind::Loopback
        && (!spec.dhcp.vlan.is_empty() || spec.run.lab == Some(scenario::RequiredLab::Netns))
    {
        return usage(format!(
            "{} needs a lab with a link (voice VLANs, real broadcast DHCP): use --lab netns or --lab iface:NAME",
            spec.id
        ));
    }
    if lab == lab::LabKind::Netns && !lab::is_root() {
        eprintln!("error: {}", lab::LabError::NeedsRoot);
        return EXIT_HARNESS;
    }
    let warnings: Vec<String> = if args.any_mac {
        eprintln!("WARNING: {}", crate::serve::ANY_MAC_WARNING);
        vec![crate::serve::ANY_MAC_WARNING.to_string()]
    } else {
        Vec::new()
    };
    // One worker: the servers' work is short and per message, and a second worker mostly
    // woke up to take events from the first, on cores the capture thread and the phones (or
    // a load generator) need; under perfdhcp one worker served about a quarter more leases.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return EXIT_HARNESS;
        }
    };
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    rt.spawn(async move {
        if stop_requested().await.is_ok() {
            eprintln!("stopping: the servers, the capture and the lab, then the report …");
            let _ = cancel_tx.send(true);
        }
    });
    let iface = match (&lab, addr) {
        (lab::LabKind::Iface(name), Some(addr)) => {
            let mut cancel = cancel_rx.clone();
            match rt.block_on(open_iface(name, addr, &mut cancel)) {
                Ok(i) => Some(std::sync::Arc::new(i)),
                Err(Some(e)) => {
                    eprintln!("error: {e}");
                    return EXIT_HARNESS;
                }
                Err(None) => return EXIT_INTERRUPTED,
            }
        }
        _ => None,
    };
    let started_at = time::OffsetDateTime::now_utc();
    let Some(folders) = claim_run_folders(&args.out, &lab, started_at) else {
        return EXIT_HARNESS;
    };
    let started = Instant::now();
    let dir = folders.reports.clone();
    let answered = match &answer {
        crate::serve::Answer::Only(macs) => macs.join(", "),
        crate::serve::Answer::Any => "any MAC".into(),
    };
    let cfg = crate::serve::ServeConfig {
        scenario: sc,
        lab: lab.clone(),
        iface,
        answer,
        duration,
        run_id: folders.id.clone(),
        captures_dir: folders.captures.clone(),
        reports_dir: folders.reports.clone(),
        profile: profile.clone(),
        cancel: cancel_rx,
    };
    let any_mac = args.any_mac;
    let outcome = rt.block_on(crate::serve::serve(&cfg, |listening| {
        match serde_json::to_string(listening) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("warning: the ready line could not be written: {e}"),
        }
        eprint!("{}", listening.text());
        if any_mac {
            eprintln!("WARNING: {}", crate::serve::ANY_MAC_WARNING);
        }
    }));
    let served = match outcome {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_HARNESS;
        }
    };
    let phones = served.phones;
    let firmware_observed = phones.iter().rev().find_map(|r| observed_firmware(&dir, r));
    let rep = RunReport {
        schema: report::SCHEMA.into(),
        run_id: folders.id.clone(),
        started: started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        duration_s: started.elapsed().as_secs_f64(),
        lab: lab.name(),
        phonecert_version: env!("CARGO_PKG_VERSION").into(),
        dut: DutInfo {
            kind: "bench".into(),
            command: None,
            reboot: None,
            model: String::new(),
            mac: answered,
            firmware_start: String::new(),
            firmware_observed,
            faults: Vec::new(),
            profile: profile.name.clone(),
        },
        summary: Summary::of_scenarios(&phones),
        interrupted: false,
        not_run: Vec::new(),
        scenarios: phones,
        merged_from: Vec::new(),
        edited_after_run: Vec::new(),
        warnings: warnings.into_iter().chain(served.warnings).collect(),
        clients: Some(served.clients),
    };
    if let Err(e) = report::write_all(&dir, &rep) {
        eprintln!("error: cannot write reports to {}: {e}", dir.display());
        return EXIT_HARNESS;
    }
    if let Err(e) = run_folder::point_latest(&args.out.join("reports"), &rep.run_id) {
        eprintln!(
            "warning: could not point reports/latest at {}: {e}",
            rep.run_id
        );
    }
    if rep.scenarios.is_empty() {
        eprintln!(
            "\nno phone asked for DHCP in the {:.1} s the servers ran: nothing to judge",
            served.served_s
        );
    }
    eprint!("{}", report::text_summary(&rep, &dir));
    let stopped = serde_json::json!({
        "event": "stopped",
        "run_id": rep.run_id,
        "report": dir.display().to_string(),
        "served_s": served.served_s,
        "summary": rep.summary,
        "phones": rep.scenarios.iter().map(|s| serde_json::json!({
            "id": s.id,
            "verdict": s.verdict,
        })).collect::<Vec<_>>(),
        "ignored_clients": served.ignored,
    });
    println!("{stopped}");
    drop(rt);
    exit_for(&rep.summary)
}
