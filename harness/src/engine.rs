//! The engine: runs one scenario end to end.
//!
//! Owns the order of things: lab up → servers bound and configured from the scenario →
//! capture started → phone powered on → events gathered into the timeline until the
//! scenario's `until` check has passed (plus settle time) or its timeout → phone off →
//! servers stopped → capture closed → lab removed → judge → timeline saved.
//!
//! Never: decides conformance itself (the judge does), formats reports (the report module
//! does). Harness failures are kept apart from the phone's: a lab that cannot be set up is
//! an [`EngineError`] (exit 3), a scenario that breaks midway is a scenario `error`.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::dut::{SimConfig, SimPhone, SimPlacement};
use crate::judge::{self, Verdict};
use crate::lab::{self, LabAddrs, LabError, LabKind, NetnsPair, ServerSockets};
use crate::report::ScenarioReport;
use crate::scenario::vars::{Vars, expand};
use crate::scenario::{FileContent, Scenario};
use crate::timeline::{Proto, Timeline};

/// Settings that hold for every scenario of a run.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The run id (folder name under captures/ and reports/).
    pub run_id: String,
    /// The lab.
    pub lab: LabKind,
    /// `captures/<run-id>`.
    pub captures_dir: PathBuf,
    /// `reports/<run-id>`.
    pub reports_dir: PathBuf,
    /// The simphone binary.
    pub simphone: PathBuf,
    /// Fault switches for simphone.
    pub faults: Vec<String>,
    /// Phone timers run this many times faster; windows are scaled the same way. `None`: the
    /// scenario's `phone.time_scale`, else 1.
    pub time_scale: Option<f64>,
    /// Turns true on Ctrl-C.
    pub cancel: watch::Receiver<bool>,
}

/// The harness itself could not run (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The lab could not be set up.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// Interrupted by the operator.
    #[error("interrupted")]
    Interrupted,
}

/// A saved run of one scenario: enough to judge it again (`phonecert judge`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedTimeline {
    /// The scenario file.
    pub scenario_file: String,
    /// Lab variable values used.
    pub vars: std::collections::BTreeMap<String, String>,
    /// Phone seconds per real second in this run.
    #[serde(default = "one")]
    pub time_scale: f64,
    /// The events.
    pub timeline: Timeline,
}

fn one() -> f64 {
    1.0
}

type Shared = Arc<Mutex<Timeline>>;

fn forward<E: Serialize + Send + 'static>(
    origin: Instant,
    proto: Proto,
    mut rx: mpsc::UnboundedReceiver<(Instant, E)>,
    tl: Shared,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some((at, ev)) = rx.recv().await {
            if let Ok(mut t) = tl.lock() {
                t.push(origin, at, proto, &ev);
            }
        }
    })
}

fn rel(p: &Path) -> String {
    p.display().to_string()
}

/// Runs one scenario and returns its report. `Err` only when the harness cannot go on.
pub async fn run_scenario(sc: &Scenario, ctx: &RunContext) -> Result<ScenarioReport, EngineError> {
    let started = Instant::now();
    let spec = &sc.spec;
    let mut report = ScenarioReport {
        id: spec.id.clone(),
        title: spec.title.clone(),
        family: format!("{:?}", spec.family).to_lowercase(),
        file: rel(&sc.file),
        verdict: Verdict::Error,
        requirements: spec.requirements.clone(),
        duration_s: 0.0,
        time_scale: 1.0,
        capture: None,
        capture_frames: None,
        timeline: None,
        dut_log: None,
        error: None,
        checks: Vec::new(),
    };

    // Lab and sockets.
    let (netns, addrs, sockets) = match ctx.lab {
        LabKind::Netns => {
            let pair = NetnsPair::create()?;
            let sockets = pair.bind_servers()?;
            let addrs = pair.addrs.clone();
            (Some(pair), addrs, sockets)
        }
        LabKind::Loopback => {
            let addrs = lab::loopback_addrs();
            let sockets = lab::bind_loopback(&addrs)?;
            (None, addrs, sockets)
        }
    };

    let outcome = run_in_lab(sc, ctx, netns.as_ref(), &addrs, sockets, &mut report).await;
    drop(netns); // namespaces go before judging: nothing may outlive the scenario
    report.duration_s = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {}
        Err(Fatal::Interrupted) => return Err(EngineError::Interrupted),
        Err(Fatal::Scenario(msg)) => {
            report.verdict = Verdict::Error;
            report.error = Some(msg);
        }
    }
    Ok(report)
}

enum Fatal {
    Interrupted,
    Scenario(String),
}

async fn run_in_lab(
    sc: &Scenario,
    ctx: &RunContext,
    netns: Option<&NetnsPair>,
    addrs: &LabAddrs,
    sockets: ServerSockets,
    report: &mut ScenarioReport,
) -> Result<(), Fatal> {
    let spec = &sc.spec;
    let fail = |what: &str, e: &dyn std::fmt::Display| Fatal::Scenario(format!("{what}: {e}"));
    let (dhcp_ep, http_ep, sip_ep) = sockets
        .endpoints()
        .map_err(|e| fail("cannot read server addresses", &e))?;

    let scale = ctx
        .time_scale
        .or(spec.phone.time_scale)
        .unwrap_or(1.0)
        .max(1e-6);
    report.time_scale = scale;

    // Lab variables.
    let mac = crate::scenario::parse_mac(&spec.phone.mac)
        .ok_or_else(|| Fatal::Scenario("bad MAC".into()))?;
    let mut vars = Vars::new();
    vars.insert("server_ip", addrs.server_ip.to_string());
    vars.insert("http_port", http_ep.port().to_string());
    vars.insert("sip_port", sip_ep.port().to_string());
    vars.insert("phone_mac", spec.phone.mac.to_lowercase());
    vars.insert(
        "phone_mac_hex",
        mac.iter().map(|b| format!("{b:02x}")).collect(),
    );
    vars.insert("sip_domain", spec.sip.domain.clone());

    // Capture.
    std::fs::create_dir_all(&ctx.captures_dir)
        .map_err(|e| fail("cannot create capture folder", &e))?;
    let pcap_path = ctx.captures_dir.join(format!("{}.pcapng", spec.id));
    let capture = Capture::start(ctx, netns, &pcap_path, dhcp_ep, http_ep, sip_ep, spec)?;
    report.capture = Some(rel(&pcap_path));

    // Servers.
    let origin = Instant::now();
    let timeline: Shared = Arc::new(Mutex::new(Timeline::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let tap = capture.tap();
    let mut tasks = Vec::new();

    let (dhcp_tx, dhcp_rx) = mpsc::unbounded_channel();
    tasks.push(forward(origin, Proto::Dhcp, dhcp_rx, timeline.clone()));
    let dhcp_cfg = pc_dhcp::server::ServerConfig {
        server_ip: addrs.server_ip,
        subnet_mask: addrs.mask,
        router: Some(addrs.server_ip),
        dns: Vec::new(),
        pool_start: addrs.pool_start,
        pool_end: addrs.pool_end,
        lease_time: Some(spec.dhcp.lease_time),
        sson: spec.dhcp.sson,
        site_string: spec
            .dhcp
            .option242
            .as_ref()
            .map(|s| expand(s, &vars).into_bytes()),
        siaddr: None,
        extra_options: Vec::new(),
        allowed_macs: vec![mac],
        ..Default::default()
    };
    let transport = match sockets.dhcp_raw {
        Some(raw) => pc_dhcp::shell::Transport::Raw {
            recv: sockets.dhcp,
            raw,
        },
        None => pc_dhcp::shell::Transport::Udp {
            socket: sockets.dhcp,
        },
    };
    let dhcp_server = pc_dhcp::server::DhcpServer::new(dhcp_cfg);
    let servers = vec![
        tokio::spawn(pc_dhcp::shell::run(
            dhcp_server,
            transport,
            tap.clone(),
            dhcp_tx,
            stop_rx.clone(),
        )),
        {
            let (tx, rx) = mpsc::unbounded_channel();
            tasks.push(forward(origin, Proto::Http, rx, timeline.clone()));
            let files =
                Arc::new(file_table(sc, &vars).map_err(|e| fail("cannot prepare files", &e))?);
            tokio::spawn(pc_http::shell::run(
                sockets.http,
                files,
                tap.clone(),
                tx,
                stop_rx.clone(),
            ))
        },
        {
            let (tx, rx) = mpsc::unbounded_channel();
            tasks.push(forward(origin, Proto::Sip, rx, timeline.clone()));
            let registrar = pc_sip::registrar::Registrar::new(pc_sip::registrar::RegistrarConfig {
                domain: spec.sip.domain.clone(),
                realm: spec
                    .sip
                    .realm
                    .clone()
                    .unwrap_or_else(|| spec.sip.domain.clone()),
                accounts: spec
                    .sip
                    .accounts
                    .iter()
                    .map(|a| (a.user.clone(), a.password.clone()))
                    .collect(),
                algorithm: pc_sip::digest::Algorithm::Md5,
                qop: false,
                expires: spec.sip.expires,
                nonce_seed: seed_of(&ctx.run_id, &spec.id),
            });
            tokio::spawn(pc_sip::shell::run_udp(
                registrar,
                sockets.sip,
                tap.clone(),
                tx,
                stop_rx.clone(),
            ))
        },
    ];

    // The phone.
    let dut_dir = ctx.reports_dir.join("dut");
    let log = dut_dir.join(format!("{}.log", spec.id));
    let placement = match netns {
        Some(p) => SimPlacement::Netns {
            ns: p.phone_ns.clone(),
            iface: p.phone_if.clone(),
        },
        None => SimPlacement::Loopback {
            dhcp_server: dhcp_ep,
        },
    };
    let sim = SimConfig {
        binary: ctx.simphone.clone(),
        placement,
        mac: spec.phone.mac.clone(),
        model: spec.phone.model.clone(),
        firmware: spec.phone.firmware.clone(),
        user: spec.phone.user.clone(),
        password: spec.phone.password.clone(),
        sson: spec.dhcp.sson,
        state_dir: dut_dir.join(format!("{}.state", spec.id)),
        log: log.clone(),
        faults: ctx.faults.clone(),
        time_scale: scale,
    };
    report.dut_log = Some(rel(&log));
    let mut phone = SimPhone::start(&sim).map_err(|e| {
        fail(
            &format!("cannot start simphone {}", ctx.simphone.display()),
            &e,
        )
    })?;

    // Watch until done.
    let timeout = Duration::from_secs_f64(spec.run.timeout / scale);
    let settle = Duration::from_secs_f64(spec.run.settle / scale);
    let jctx = judge::Ctx::new(&vars).scaled(scale);
    let mut until_met: Option<Instant> = None;
    let mut cancel = ctx.cancel.clone();
    let mut interrupted = false;
    let mut dut_exit = None;
    loop {
        if *cancel.borrow_and_update() {
            interrupted = true;
            break;
        }
        let now = Instant::now();
        if now.duration_since(origin) >= timeout {
            break;
        }
        if let Some(at) = until_met {
            if now.duration_since(at) >= settle {
                break;
            }
        } else if let Some(id) = &spec.run.until {
            let met = timeline
                .lock()
                .map(|t| judge::check_passed(spec, id, &t, jctx))
                .unwrap_or(false);
            if met {
                until_met = Some(now);
            }
        }
        if let Some(status) = phone.exited() {
            dut_exit = Some(status);
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = cancel.changed() => {}
        }
    }
    phone.stop().await;
    let _ = stop_tx.send(true);
    for s in servers {
        match tokio::time::timeout(Duration::from_secs(3), s).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("a server of {} ended with an error: {e}", spec.id),
            Ok(Err(e)) => tracing::warn!("a server task of {} failed: {e}", spec.id),
            Err(_) => tracing::warn!("a server of {} did not stop in time", spec.id),
        }
    }
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
    }
    drop(tap);
    let frames = capture.finish().map_err(|e| fail("capture failed", &e))?;
    report.capture_frames = Some(frames);
    if interrupted {
        return Err(Fatal::Interrupted);
    }

    let mut timeline = match Arc::try_unwrap(timeline) {
        Ok(m) => m.into_inner().unwrap_or_default(),
        Err(shared) => shared.lock().map(|t| t.clone()).unwrap_or_default(),
    };
    if let Some(status) = dut_exit {
        let mut f = serde_json::Map::new();
        f.insert("status".into(), status.to_string().into());
        let t = origin.elapsed().as_secs_f64();
        timeline.push_fields(t, Proto::Dut, "exited".into(), f);
    }

    // Judge and keep the evidence.
    report.checks = judge::judge(spec, &timeline, judge::Ctx::new(&vars).scaled(scale));
    report.verdict = judge::scenario_verdict(&report.checks);
    if let Some(status) = dut_exit {
        report.error = Some(format!(
            "the phone exited on its own ({status}); see {}",
            log.display()
        ));
        if report.verdict == Verdict::Pass {
            report.verdict = Verdict::Error;
        }
    }
    let saved = SavedTimeline {
        scenario_file: rel(&sc.file),
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        time_scale: scale,
        timeline,
    };
    let tl_dir = ctx.reports_dir.join("timelines");
    let tl_path = tl_dir.join(format!("{}.json", spec.id));
    std::fs::create_dir_all(&tl_dir)
        .and_then(|()| serde_json::to_vec_pretty(&saved).map_err(std::io::Error::other))
        .and_then(|bytes| std::fs::write(&tl_path, bytes))
        .map_err(|e| fail("cannot save the timeline", &e))?;
    report.timeline = Some(rel(&tl_path));
    Ok(())
}

/// A stable seed per run and scenario (the registrar's nonces), so runs are reproducible
/// given their id.
fn seed_of(run_id: &str, scenario: &str) -> u64 {
    // FNV-1a: small, stable across Rust versions (unlike DefaultHasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in run_id.bytes().chain([0]).chain(scenario.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The file server's table for this scenario and lab.
fn file_table(sc: &Scenario, vars: &Vars) -> Result<pc_http::files::FileTable, String> {
    use pc_http::files::{Behaviour, FileEntry, FileTable};
    let mut table = FileTable::new();
    let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01
    let key = provisioning::firmware::lab_signing_key();
    for (path, content) in &sc.files {
        let spec = sc.spec.files.get(path);
        let (body, _) = match content {
            FileContent::Text(t) => (expand(t, vars).into_bytes(), ()),
            FileContent::Firmware(fw) => {
                let app = path.rsplit('/').next().unwrap_or(path);
                let payload: Vec<u8> = (0..fw.size)
                    .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
                    .collect();
                let models: Vec<&str> = fw.models.iter().map(String::as_str).collect();
                (
                    provisioning::firmware::build(app, &models, &fw.version, &payload, &key),
                    (),
                )
            }
            FileContent::StatusOnly => (Vec::new(), ()),
        };
        let behaviour = match spec.and_then(|s| s.status) {
            Some(code) => Behaviour::Status { code },
            None => Behaviour::Serve,
        };
        let entry = FileEntry {
            body: body.into(),
            content_type: pc_http::files::content_type_for(path).to_string(),
            last_modified: modified,
            behaviour,
        };
        table
            .insert(&format!("/{path}"), entry)
            .map_err(|e| format!("file `{path}`: {e}"))?;
    }
    Ok(table)
}

/// The scenario's capture, real or synthesised.
enum Capture {
    Kernel(pc_capture::afpacket::CaptureHandle),
    Synth(Arc<pc_capture::synth::Synthesizer>),
}

impl Capture {
    #[allow(clippy::too_many_arguments)]
    fn start(
        ctx: &RunContext,
        netns: Option<&NetnsPair>,
        path: &Path,
        dhcp: SocketAddrV4,
        http: SocketAddrV4,
        sip: SocketAddrV4,
        spec: &crate::scenario::ScenarioSpec,
    ) -> Result<Capture, Fatal> {
        let err = |e: &dyn std::fmt::Display| {
            Fatal::Scenario(format!("cannot start the capture {}: {e}", path.display()))
        };
        match netns {
            Some(pair) => {
                let comment = format!(
                    "phonecert run {} scenario {} ({}): lab netns, AF_PACKET capture of {} in namespace {}",
                    ctx.run_id, spec.id, spec.title, pair.infra_if, pair.infra_ns
                );
                let writer =
                    pc_capture::pcapng::PcapngWriter::create(path, &pair.infra_if, &comment)
                        .map_err(|e| err(&e))?;
                let h =
                    pc_capture::afpacket::start_in_netns(&pair.infra_ns, &pair.infra_if, writer)
                        .map_err(|e| err(&e))?;
                Ok(Capture::Kernel(h))
            }
            None => {
                let comment = format!(
                    "phonecert run {} scenario {} ({}): lab loopback, frames synthesised from the servers' socket I/O",
                    ctx.run_id, spec.id, spec.title
                );
                let writer = pc_capture::pcapng::PcapngWriter::create(path, "lo-synth", &comment)
                    .map_err(|e| err(&e))?;
                let map: HashMap<SocketAddrV4, u16> =
                    [(dhcp, 67), (http, 80), (sip, 5060)].into_iter().collect();
                Ok(Capture::Synth(Arc::new(
                    pc_capture::synth::Synthesizer::new(writer, map),
                )))
            }
        }
    }

    fn tap(&self) -> Arc<dyn pc_capture::Tap> {
        match self {
            Capture::Kernel(_) => Arc::new(pc_capture::NoTap),
            Capture::Synth(s) => s.clone(),
        }
    }

    fn finish(self) -> Result<u64, String> {
        match self {
            Capture::Kernel(h) => h
                .stop()
                .map(|s| s.frames_written)
                .map_err(|e| e.to_string()),
            Capture::Synth(s) => match Arc::try_unwrap(s) {
                Ok(s) => s.finish().map_err(|e| e.to_string()),
                Err(_) => Err("the synthesiser is still in use by a server".into()),
            },
        }
    }
}
