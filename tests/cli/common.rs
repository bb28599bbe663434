//! Shared helpers: running `phonecert`, a scratch folder per test, reading captures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch folder removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("phonecert-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch folder");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A process's output as text (lossy: a test shows what it got, whatever it got).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `phonecert ARGS` from the repository root.
pub fn phonecert(args: &[&str]) -> Output {
    phonecert_with_pid(args).0
}

/// Like [`phonecert`], also returning the process id (the netns lab names its namespaces
/// `pc-<pid in hex><n>-…`, so a test can look for exactly its own).
pub fn phonecert_with_pid(args: &[&str]) -> (Output, u32) {
    let child = Command::new(env!("CARGO_BIN_EXE_phonecert"))
        .args(args)
        .current_dir(root())
        .env("PHONECERT_SIMPHONE", env!("CARGO_BIN_EXE_simphone"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start phonecert");
    let pid = child.id();
    (child.wait_with_output().expect("wait for phonecert"), pid)
}

/// Runs `phonecert ARGS` from the repository root with extra environment variables.
pub fn phonecert_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phonecert"))
        .args(args)
        .current_dir(root())
        .env("PHONECERT_SIMPHONE", env!("CARGO_BIN_EXE_simphone"))
        .envs(env.iter().copied())
        .output()
        .expect("run phonecert")
}

/// Starts `phonecert ARGS` in the background (output piped), for tests that signal it. It
/// leads a process group of its own, as a command started from a shell does, so a test can
/// signal the group as a terminal's Ctrl-C would.
pub fn spawn_phonecert(args: &[&str]) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    Command::new(env!("CARGO_BIN_EXE_phonecert"))
        .args(args)
        .process_group(0)
        .current_dir(root())
        .env("PHONECERT_SIMPHONE", env!("CARGO_BIN_EXE_simphone"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start phonecert")
}

/// Network namespaces a `phonecert` process with this pid created and left behind (the
/// netns lab names them `pc-<pid in hex>-<n>-infra|phone`).
pub fn namespaces_of(pid: u32) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let prefix = format!("pc-{pid:x}-");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| {
            n.strip_prefix(&prefix)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(str::to_string)
        .collect()
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// For a test that needs root: true (and a line saying the test did NOT run, and why) when
/// this process is not root, so the test returns instead of passing silently.
pub fn skip_unless_root(test: &str, why: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipped: {test} needs root ({why}); it did NOT run");
    true
}

/// `phonecert run SCENARIO --lab LAB --out OUT`, which must pass (exit 0): its run folder.
pub fn run_passing(scenario: &str, lab: &str, out: &Path) -> PathBuf {
    let output = phonecert(&[
        "run",
        scenario,
        "--lab",
        lab,
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    run_dir(out)
}

/// The single run folder under `out/reports/` (not the `latest` link).
pub fn run_dir(out: &Path) -> PathBuf {
    let reports = out.join("reports");
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&reports)
        .expect("reports folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n != "latest") && p.is_dir())
        .collect();
    assert_eq!(
        runs.len(),
        1,
        "exactly one run folder in {}",
        reports.display()
    );
    runs.remove(0)
}

/// Every frame of a pcapng file, with the interface's timestamp resolution checked.
pub fn read_pcapng(path: &Path) -> Vec<Vec<u8>> {
    use pcap_file::pcapng::{Block, PcapNgReader};
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut reader = PcapNgReader::new(file).expect("pcapng header");
    let mut frames = Vec::new();
    while let Some(block) = reader.next_block() {
        match block.expect("a well-formed block").0 {
            Block::EnhancedPacket(p) => frames.push(p.data.to_vec()),
            Block::SimplePacket(p) => frames.push(p.data.to_vec()),
            _ => {}
        }
    }
    frames
}

/// A (source, destination) port pair.
pub type PortPair = (u16, u16);

/// (UDP ports, TCP ports) seen in the frames.
pub fn ports(frames: &[Vec<u8>]) -> (Vec<PortPair>, Vec<PortPair>) {
    use etherparse::{SlicedPacket, TransportSlice};
    let mut udp = Vec::new();
    let mut tcp = Vec::new();
    for f in frames {
        if let Ok(p) = SlicedPacket::from_ethernet(f) {
            match p.transport {
                Some(TransportSlice::Udp(u)) => udp.push((u.source_port(), u.destination_port())),
                Some(TransportSlice::Tcp(t)) => tcp.push((t.source_port(), t.destination_port())),
                _ => {}
            }
        }
    }
    (udp, tcp)
}

/// Whether a tool the tests use is installed. When `PHONECERT_REQUIRE_TOOLS=1` (set by
/// `.ci/run`, which installs them) a missing tool is a failure, not a skipped check.
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found && std::env::var("PHONECERT_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{tool} is missing, and PHONECERT_REQUIRE_TOOLS=1 says it must be installed");
    }
    found
}

/// `tshark -r` over the capture, if tshark is installed: (summary lines, any malformed?).
pub fn tshark(path: &Path) -> Option<String> {
    if !have_tool("tshark") {
        return None;
    }
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .arg("-n")
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}
