//! The engine: runs one scenario end to end.
//!
//! Owns the order of things: lab up → servers bound and configured from the scenario →
//! capture started → phone powered on (a real phone on the iface lab: rebooted, and the
//! scenario's clock starts at its first DHCPDISCOVER, or the scenario is an `error` when it
//! sends none within `--boot-wait`; when the scenario has a `power_cycle`, off and on again
//! once its check is reached, what it installed kept) → events gathered into the timeline
//! until every
//! check's verdict is settled (the judge says so; polled, and on every event), or the
//! scenario's `until` check is reached (passed, or settled) plus settle time, or its
//! timeout → phone off → servers stopped → capture closed → lab removed → judge → timeline
//! saved.
//!
//! Never: decides conformance itself (the judge does), turns the scenario into server
//! configurations (the lowering module does), formats reports (the report module does).
//! Harness failures are kept apart from the phone's: a lab that cannot be set up is an
//! [`EngineError`] (the run stops, exit 3); anything else that breaks on the harness's
//! side — the capture, the reference phone refusing its arguments or dying, a `--dut-cmd`
//! that cannot start, the timeline's save — is a [`HarnessError`] that makes this scenario's
//! verdict `error`, with the device's last log lines in the report.

use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pc_capture::Stamped;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::dut::{
    CmdConfig, CmdDut, Dut, PowerOn, Reboot, RebootConfig, Rebooting, SimConfig, SimPhone,
    SimPlacement, SimphoneProgram, SipAccount,
};
use crate::error::HarnessError;
use crate::evidence::Origin;
use crate::judge::{self, Verdict};
use crate::lab::{
    self, IfaceLab, KernelLink, LabAddrs, LabError, LabKind, NetnsPair, ServerSockets, VlanLeg,
};
use crate::lower;
use crate::report::{IgnoredClient, ScenarioReport};
use crate::scenario::vars::Vars;
use crate::scenario::{FileContent, Scenario};
pub(crate) use crate::servers::ServerSetup;
use crate::timeline::{Proto, Timeline};
use crate::vocab::{DutEvent, SipOrigin, VlanOrigin};

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
    /// The reference phone's program.
    pub simphone: SimphoneProgram,
    /// Fault switches for simphone.
    pub faults: Vec<String>,
    /// An external program as the device under test instead of simphone (`--dut-cmd`).
    pub external: Option<ExternalDut>,
    /// The iface lab's interface, set up once for the whole run (`--lab iface:NAME`).
    pub iface: Option<Arc<IfaceLab>>,
    /// The real phone on the iface lab and how it is rebooted.
    pub attached: Option<AttachedPhone>,
    /// Phone timers run this many times faster; windows are scaled the same way. `None`: the
    /// scenario's `phone.time_scale`, else 1.
    pub time_scale: Option<f64>,
    /// Turns true on Ctrl-C.
    pub cancel: watch::Receiver<bool>,
    /// The phone profile of the run (`--profile`): scenarios for other profiles are skipped,
    /// its parameters are the `${profile.NAME}` variables, and the reference phone plays it.
    pub profile: crate::profile::Profile,
    /// Told what the scenario is waiting for, while it runs.
    pub progress: Arc<dyn crate::progress::Progress>,
}

/// An external device under test (`--dut-cmd`).
#[derive(Debug, Clone)]
pub struct ExternalDut {
    /// Started with `sh -c` in the phone's namespace.
    pub command: String,
    /// Its MAC (`--dut-mac`); else each scenario's `phone.mac`.
    pub mac: Option<String>,
    /// The protocols it takes part in (`--dut-protocols`).
    pub speaks: Vec<Proto>,
}

/// A real phone plugged into the iface lab's interface.
#[derive(Debug, Clone)]
pub struct AttachedPhone {
    /// Its MAC (`--dut-mac`): the only client the DHCP server answers.
    pub mac: String,
    /// How it is rebooted at the start of each scenario.
    pub reboot: Reboot,
    /// How long it has to send its first DHCPDISCOVER after the reboot (`--boot-wait`).
    pub boot_wait: Duration,
    /// The protocols it takes part in (`--dut-protocols`).
    pub speaks: Vec<Proto>,
}

/// What stops the whole run (as opposed to a [`HarnessError`], which ends one scenario).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The lab could not be set up (exit 3).
    #[error(transparent)]
    Lab(#[from] LabError),
    /// Interrupted by the operator (exit 130); carries what is known of the scenario that
    /// was running (verdict `skip`, not judged).
    #[error("interrupted")]
    Interrupted(Box<ScenarioReport>),
}

/// How the device under test is powered on, kept for the power cycle.
enum Starter {
    Sim(Box<SimConfig>),
    Cmd(Box<CmdConfig>),
    /// A real phone: powering it on is rebooting it.
    Attached(Box<RebootConfig>),
}

impl Starter {
    fn power_on(&self, power_on: PowerOn) -> Result<Dut, HarnessError> {
        match self {
            Starter::Sim(cfg) => SimPhone::power_on(cfg, power_on).map(Dut::Sim),
            Starter::Cmd(cfg) => CmdDut::power_on(cfg, power_on).map(Dut::Cmd),
            Starter::Attached(cfg) => Rebooting::power_on(cfg, power_on).map(Dut::Attached),
        }
    }
}

/// A saved run of one scenario: enough to judge it again (`phonecert judge`), from the run
/// folder alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedTimeline {
    /// The copy of the scenario file kept in the run folder, relative to it
    /// (`scenarios/<id>/<family>/<file>.toml`, its fixtures beside it).
    pub scenario_file: String,
    /// Where the scenario file was when the run started (for people; never read back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_origin: Option<String>,
    /// Lab variable values used.
    pub vars: std::collections::BTreeMap<String, String>,
    /// Phone seconds per real second in this run.
    #[serde(default = "one")]
    pub time_scale: f64,
    /// The protocols the device took part in, when not all (an external DUT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaks: Option<Vec<Proto>>,
    /// The events.
    pub timeline: Timeline,
}

fn one() -> f64 {
    1.0
}

/// The timeline being gathered, and a signal for each event that joins it.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) timeline: Arc<Mutex<Timeline>>,
    pub(crate) arrived: Arc<tokio::sync::Notify>,
    /// Where events go instead of `timeline` when set: `phonecert serve` keeps only what its
    /// report can use, so a load generator cannot make it hold every event of the session.
    pub(crate) sink: Option<Arc<Mutex<dyn crate::session::EventSink>>>,
}

impl Shared {
    /// An empty timeline.
    pub(crate) fn new() -> Shared {
        Shared {
            timeline: Arc::new(Mutex::new(Timeline::default())),
            arrived: Arc::new(tokio::sync::Notify::new()),
            sink: None,
        }
    }

    /// Events go to `sink`; the timeline stays empty.
    pub(crate) fn into(sink: Arc<Mutex<dyn crate::session::EventSink>>) -> Shared {
        Shared {
            sink: Some(sink),
            ..Shared::new()
        }
    }
}

/// The scenario's clock: the instant (and wall-clock time) its events are stamped from.
/// It starts when the servers do, and the iface lab moves it to the phone's first
/// DHCPDISCOVER ([`Clock::start_at`]).
#[derive(Clone)]
pub(crate) struct Clock(Arc<Mutex<Origin>>);

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock(Arc::new(Mutex::new(Origin::now())))
    }

    pub(crate) fn origin(&self) -> Origin {
        match self.0.lock() {
            Ok(o) => *o,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    /// Seconds from the origin to `at`; negative before it.
    fn offset(&self, at: Instant) -> f64 {
        let origin = self.origin().mono;
        match at.checked_duration_since(origin) {
            Some(d) => d.as_secs_f64(),
            None => -origin.duration_since(at).as_secs_f64(),
        }
    }

    /// Moves the origin `t0` seconds later.
    fn start_at(&self, t0: f64) {
        let shift = Duration::from_secs_f64(t0.max(0.0));
        if let Ok(mut o) = self.0.lock() {
            *o = o.shifted(shift);
        }
    }
}

/// How often a running scenario is judged for settled verdicts, besides on every event.
const JUDGE_EVERY: Duration = Duration::from_millis(25);

fn forward<E: Serialize + crate::session::Glance + Send + 'static>(
    origin: Clock,
    proto: Proto,
    rx: mpsc::UnboundedReceiver<Stamped<E>>,
    tl: Shared,
) -> tokio::task::JoinHandle<()> {
    forward_tagged(origin, proto, rx, tl, &serde_json::Map::new())
}

/// Like [`forward`], adding the fields of `origin_fields` (one of the types the event
/// vocabulary declares: [`SipOrigin`], [`VlanOrigin`]) to every event. The frames a shell's
/// tap wrote for an event become the timeline event's frames.
fn forward_tagged<E: Serialize + crate::session::Glance + Send + 'static>(
    origin: Clock,
    proto: Proto,
    mut rx: mpsc::UnboundedReceiver<Stamped<E>>,
    tl: Shared,
    origin_fields: &impl Serialize,
) -> tokio::task::JoinHandle<()> {
    let (_, extra) = crate::timeline::fields_of(origin_fields);
    tokio::spawn(async move {
        while let Some(Stamped { at, event, frames }) = rx.recv().await {
            // A sink decides from a glance whether it keeps the event before it is shaped:
            // under load most events are only counted.
            let t = origin.offset(at);
            if let Some(sink) = &tl.sink
                && let Some(g) = event.glance()
                && !sink.lock().is_ok_and(|mut s| s.glimpsed(t, proto, &g))
            {
                continue;
            }
            let (kind, mut fields) = crate::timeline::fields_of(&event);
            fields.extend(extra.clone());
            if let Some(sink) = &tl.sink {
                if let Ok(mut sink) = sink.lock() {
                    let e = crate::timeline::Event {
                        index: 0,
                        t,
                        time_base: crate::timeline::TimeBase::Server,
                        server_at: None,
                        proto,
                        kind,
                        fields,
                        frames,
                    };
                    if event.glance().is_some() {
                        sink.keep(e);
                    } else {
                        sink.record(e);
                    }
                }
                continue;
            }
            if let Ok(mut timeline) = tl.timeline.lock() {
                // Read under the timeline's lock: the clock only moves under it too.
                let t = origin.offset(at);
                let i = timeline.push_fields(t, proto, kind, fields);
                if let Some(e) = timeline.events.get_mut(i) {
                    e.frames = frames;
                }
            }
            tl.arrived.notify_one();
        }
    })
}

fn rel(p: &Path) -> String {
    p.display().to_string()
}

/// The fixture files a scenario reads, as written (relative to the scenario file).
fn fixtures_of(sc: &Scenario) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for f in sc.spec.files.values() {
        // The answers to later requests (`then`) may read fixtures of their own.
        let mut next = Some(f);
        while let Some(spec) = next {
            if let Some(fixture) = &spec.fixture {
                out.push(PathBuf::from(fixture));
            }
            next = spec.then.as_deref();
        }
    }
    out
}

/// The user-supplied images a scenario names by a relative path (in `then` answers too).
fn images_of(sc: &Scenario) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for f in sc.spec.files.values() {
        let mut next = Some(f);
        while let Some(spec) = next {
            if let Some(image) = &spec.image
                && Path::new(image).is_relative()
            {
                out.push(PathBuf::from(image));
            }
            next = spec.then.as_deref();
        }
    }
    out
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
        link_captures: Vec::new(),
        timeline: None,
        dut_log: None,
        dut_log_tail: None,
        error: None,
        checks: Vec::new(),
        ignored_clients: Vec::new(),
    };

    // Lab and sockets.
    let needs_netns =
        !spec.dhcp.vlan.is_empty() || spec.run.lab == Some(crate::scenario::RequiredLab::Netns);
    if !spec.profiles.is_empty() && !spec.profiles.contains(&ctx.profile.name) {
        report.verdict = Verdict::Skip;
        report.error = Some(format!(
            "skipped: this scenario is for {}, the run for {} (--profile)",
            spec.profiles.join(", "),
            ctx.profile.name
        ));
        return Ok(report);
    }
    if ctx.lab == LabKind::Loopback && needs_netns {
        report.verdict = Verdict::Skip;
        report.error = Some(
            "skipped: this scenario needs the netns lab (802.1Q voice VLANs); run as root without --lab loopback"
                .into(),
        );
        return Ok(report);
    }
    // Behind a relay the phone needs a subnet and a router of its own: the netns lab builds
    // them; loopback has no link layer, and a lab port holds the phone on the servers' link.
    if spec.dhcp.relay.is_some() && ctx.lab != LabKind::Netns {
        report.verdict = Verdict::Skip;
        report.error = Some(format!(
            "skipped: this scenario needs the netns lab (the phone behind a DHCP relay agent, on a subnet and router of its own; this run's lab: {}); run as root with --lab netns",
            ctx.lab.name()
        ));
        return Ok(report);
    }
    let opened = open_lab(&ctx.lab, ctx.iface.as_deref(), spec)?;
    let relay = opened.relay;
    let (netns, addrs, sockets, vlans) = (opened.netns, opened.addrs, opened.sockets, opened.vlans);
    // Held until the scenario ends: the loopback subnet is this scenario's alone.
    let loopback = opened.loopback;
    let iface = match ctx.lab {
        LabKind::Iface(_) => ctx.iface.as_deref(),
        _ => None,
    };

    let place = Place {
        netns: netns.as_ref(),
        iface,
        addrs: &addrs,
    };
    let outcome = run_in_lab(sc, ctx, place, sockets, vlans, relay, &mut report).await;
    drop(netns); // namespaces go before judging: nothing may outlive the scenario
    drop(loopback);
    report.duration_s = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {}
        Err(Fatal::Interrupted) => {
            report.verdict = Verdict::Skip;
            report.checks.clear();
            report.error = Some(format!(
                "interrupted after {:.1} s: not judged",
                report.duration_s
            ));
            return Err(EngineError::Interrupted(Box::new(report)));
        }
        Err(Fatal::Scenario(e)) => {
            report.verdict = Verdict::Error;
            report.dut_log_tail = e.dut_tail().map(str::to_string);
            report.error = Some(e.to_string());
        }
    }
    Ok(report)
}

/// A lab opened for one scenario's servers: the netns pair (removed when dropped), the
/// addresses, the servers' sockets bound in place, and one leg per voice VLAN.
pub(crate) struct OpenLab {
    /// The namespaces of the netns lab.
    pub netns: Option<NetnsPair>,
    /// The lab's addresses.
    pub addrs: LabAddrs,
    /// The servers' sockets.
    pub sockets: ServerSockets,
    /// The voice VLANs' legs (netns and iface labs).
    pub vlans: Vec<VlanLeg>,
    /// The loopback lab's claim on its subnet, released when dropped.
    pub loopback: Option<lab::LoopbackSlot>,
    /// The relay agent's sockets on the router, in the relayed topology.
    pub relay: Option<pc_dhcp::relay_shell::RelaySockets>,
}

/// Opens `kind` for the servers `spec` asks for: as many SIP sockets as controllers, the
/// HTTP port, an HTTPS listener when it has an HTTPS file server, a leg per voice VLAN.
pub(crate) fn open_lab(
    kind: &LabKind,
    iface: Option<&IfaceLab>,
    spec: &crate::scenario::ScenarioSpec,
) -> Result<OpenLab, LabError> {
    let controllers = 1 + spec.sip.controller.len();
    let https_port = spec.https.as_ref().map(|h| h.port.unwrap_or(443));
    let http_port = spec.http.port.unwrap_or(80);
    let vlan_n = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
    match kind {
        LabKind::Iface(name) => {
            let lab = iface.ok_or_else(|| LabError::Interface {
                name: name.clone(),
                why: "was not set up for this run".into(),
            })?;
            let sockets = lab.bind_servers(controllers, http_port, https_port)?;
            let mut vlans = Vec::new();
            for (n, v) in spec.dhcp.vlan.iter().enumerate() {
                vlans.push(lab.add_vlan(v.id, vlan_n(n))?);
            }
            Ok(OpenLab {
                netns: None,
                addrs: lab.addrs.clone(),
                sockets,
                vlans,
                loopback: None,
                relay: None,
            })
        }
        LabKind::Netns => {
            let pair = if spec.dhcp.relay.is_some() {
                NetnsPair::create_relayed()?
            } else {
                NetnsPair::create()?
            };
            let sockets = pair.bind_servers(controllers, http_port, https_port)?;
            let relay = pair.bind_relay().transpose()?;
            let mut vlans = Vec::new();
            for (n, v) in spec.dhcp.vlan.iter().enumerate() {
                vlans.push(pair.add_vlan(v.id, vlan_n(n))?);
            }
            let addrs = pair.addrs.clone();
            Ok(OpenLab {
                netns: Some(pair),
                addrs,
                sockets,
                vlans,
                loopback: None,
                relay,
            })
        }
        LabKind::Loopback => {
            let slot = lab::LoopbackSlot::claim()?;
            let addrs = slot.addrs.clone();
            let sockets = lab::bind_loopback(&addrs, controllers, spec.https.is_some())?;
            Ok(OpenLab {
                netns: None,
                addrs,
                sockets,
                vlans: Vec::new(),
                loopback: Some(slot),
                relay: None,
            })
        }
    }
}

/// The reference phone's flags for what `[phone]` sets beyond model and firmware.
fn sim_identity(phone: &crate::scenario::PhoneSetup) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(b) = &phone.bootname {
        out.push(("--bootname", b.clone()));
    }
    if let Some(h) = &phone.hardware {
        out.push(("--hardware", h.clone()));
    }
    if let Some(h) = &phone.hwvers {
        out.push(("--hwvers", h.clone()));
    }
    if let Some(g) = phone.group {
        out.push(("--group", g.to_string()));
    }
    if let Some(m) = phone.on_missing_upgrade_script {
        out.push(("--on-missing-upgrade-script", m.name().to_string()));
    }
    out
}

/// Why a scenario stopped before its end.
enum Fatal {
    Interrupted,
    Scenario(HarnessError),
}

impl<E: Into<HarnessError>> From<E> for Fatal {
    fn from(e: E) -> Fatal {
        Fatal::Scenario(e.into())
    }
}

/// Where a scenario runs: the netns pair or the iface lab (neither: loopback), and its
/// addresses.
#[derive(Clone, Copy)]
struct Place<'a> {
    netns: Option<&'a NetnsPair>,
    iface: Option<&'a IfaceLab>,
    addrs: &'a LabAddrs,
}

impl Place<'_> {
    /// The link the kernel captures, if the lab has one.
    fn link<'b>(&'b self, lab: &'b str) -> Option<KernelLink<'b>> {
        match (self.netns, self.iface) {
            (Some(pair), _) => Some(KernelLink {
                lab,
                ns: Some(&pair.infra_ns),
                iface: &pair.infra_if,
            }),
            (None, Some(i)) => Some(KernelLink {
                lab,
                ns: None,
                iface: &i.name,
            }),
            (None, None) => None,
        }
    }

    /// The phone's own link, when the servers are on another (the relayed topology): the
    /// router's end of it, where the relay agent listens.
    fn phone_link<'b>(&'b self, lab: &'b str) -> Option<KernelLink<'b>> {
        let router = self.netns?.router.as_ref()?;
        Some(KernelLink {
            lab,
            ns: Some(&router.ns),
            iface: &router.client_if,
        })
    }

    /// The phone's subnet behind the router, in the relayed topology.
    fn relayed(&self) -> Option<&LabAddrs> {
        self.netns?.router.as_ref().map(|r| &r.subnet)
    }
}

async fn run_in_lab(
    sc: &Scenario,
    ctx: &RunContext,
    place: Place<'_>,
    sockets: ServerSockets,
    vlans: Vec<VlanLeg>,
    relay: Option<pc_dhcp::relay_shell::RelaySockets>,
    report: &mut ScenarioReport,
) -> Result<(), Fatal> {
    let spec = &sc.spec;
    let (netns, addrs) = (place.netns, place.addrs);
    let configure = |why: String| HarnessError::Configure {
        scenario: spec.id.clone(),
        why,
    };
    let (dhcp_ep, http_ep, sip_eps) = sockets.endpoints().map_err(HarnessError::ServerAddresses)?;
    let https_ep = sockets
        .https_endpoint()
        .map_err(HarnessError::ServerAddresses)?;

    let scale = time_scale_for(ctx, spec);
    report.time_scale = scale;

    // Lab variables.
    let mac_text = ctx
        .attached
        .as_ref()
        .map(|a| a.mac.clone())
        .or_else(|| ctx.external.as_ref().and_then(|d| d.mac.clone()))
        .unwrap_or_else(|| spec.phone.mac.clone())
        .to_lowercase();
    let mac = crate::scenario::parse_mac(&mac_text)
        .ok_or_else(|| configure(format!("`{mac_text}` is not a MAC address")))?;
    let mut vars = lab_vars(
        sc,
        addrs,
        Endpoints {
            http: http_ep,
            https: https_ep,
            sip: &sip_eps,
        },
        &mac_text,
        mac,
    )
    .map_err(configure)?;
    ctx.profile.add_vars(&mut vars);

    // Capture.
    std::fs::create_dir_all(&ctx.captures_dir).map_err(|source| HarnessError::Folder {
        path: ctx.captures_dir.clone(),
        source,
    })?;
    let pcap_path = ctx.captures_dir.join(format!("{}.pcapng", spec.id));
    let note = lab::CaptureNote {
        run_id: &ctx.run_id,
        scenario: &spec.id,
        title: &spec.title,
        time_scale: scale,
    };
    let lab_name = ctx.lab.name();
    let capture = lab::Capture::start(
        place.link(&lab_name),
        &pcap_path,
        &note,
        dhcp_ep,
        http_ep,
        https_ep,
        &sip_eps,
    )?;
    // Behind a relay, the phone's own link too: what the phone sent and was sent, before the
    // relay agent and the router touched it (the first capture is the server link, where the
    // servers' events are linked).
    let phone_link_path = ctx
        .captures_dir
        .join(format!("{}.phone-link.pcapng", spec.id));
    let phone_link_capture = match place.phone_link(&lab_name) {
        Some(link) => Some(lab::Capture::start(
            Some(link),
            &phone_link_path,
            &note,
            dhcp_ep,
            http_ep,
            https_ep,
            &sip_eps,
        )?),
        None => None,
    };
    if phone_link_capture.is_some() {
        report.link_captures = vec![format!(
            "captures/{}/{}.phone-link.pcapng",
            ctx.run_id, spec.id
        )];
    }

    // The lab CA, made fresh for the scenario when it uses TLS or hands out the CA; its PEM
    // is kept beside the device's log (evidence, and what the reference phone is given).
    let now = time::OffsetDateTime::now_utc();
    let lab_ca = lab_ca_for(sc, now).map_err(configure)?;
    let dut_dir = ctx.reports_dir.join("dut");
    let ca_path = dut_dir.join(format!("{}.lab-ca.pem", spec.id));
    if let Some(ca) = &lab_ca {
        std::fs::create_dir_all(&dut_dir).map_err(|source| HarnessError::Folder {
            path: dut_dir.clone(),
            source,
        })?;
        ca.write_pem(&ca_path)
            .map_err(|e| configure(e.to_string()))?;
    }
    report.capture = Some(format!("captures/{}/{}.pcapng", ctx.run_id, spec.id));

    // Servers.
    let clock = Clock::new();
    let live = Shared::new();
    let timeline = live.timeline.clone();
    let arrived = live.arrived.clone();
    let lab = lower::Lab {
        addrs,
        vars: &vars,
        mac,
        time_scale: scale,
        lab_ca: lab_ca.as_ref(),
        relayed: place.relayed(),
    };
    let servers = start_servers(
        ServerSetup {
            sc,
            lab,
            sockets,
            vlans,
            relay,
            sip_eps: &sip_eps,
            now,
            seed: seed_of(&ctx.run_id, &spec.id),
            allowed_macs: vec![mac],
            tap: capture.tap(),
        },
        &clock,
        &live,
    )?;

    // The phone.
    let log = dut_dir.join(format!("{}.log", spec.id));
    let log_ref = format!("dut/{}.log", spec.id);
    report.dut_log = Some(log_ref.clone());
    // A device that cannot start ends the scenario like any other end: the servers
    // already run and the capture is open, so both are stopped and closed, and the
    // (empty) timeline is kept, before the scenario becomes an `error`.
    let starter: Result<Starter, HarnessError> = match (&ctx.external, netns) {
        _ if ctx.attached.is_some() => match (&ctx.attached, place.iface) {
            (Some(att), Some(lab)) => Ok(Starter::Attached(Box::new(RebootConfig {
                reboot: att.reboot.clone(),
                mac: mac_text.clone(),
                iface: lab.name.clone(),
                server_ip: addrs.server_ip,
                scenario: spec.id.clone(),
                work_dir: dut_dir.join(format!("{}.work", spec.id)),
                log: log.clone(),
                boot_wait: att.boot_wait,
            }))),
            _ => Err(configure(
                "a real phone (--dut-mac with --lab iface:NAME) needs the iface lab".into(),
            )),
        },
        (Some(ext), Some(pair)) => {
            let cfg = CmdConfig {
                command: ext.command.clone(),
                ns: pair.phone_ns.clone(),
                iface: pair.phone_if.clone(),
                mac: mac_text.clone(),
                server_ip: addrs.server_ip,
                scenario: spec.id.clone(),
                work_dir: dut_dir.join(format!("{}.work", spec.id)),
                log: log.clone(),
                sip: SipAccount {
                    user: spec.phone.user.clone(),
                    password: spec.phone.password.clone(),
                    domain: spec.sip.domain.clone(),
                    ports: sip_eps.iter().map(|ep| ep.port()).collect(),
                },
            };
            Ok(Starter::Cmd(Box::new(cfg)))
        }
        (Some(_), None) => Err(configure(
            "an external DUT (--dut-cmd) needs the netns lab".into(),
        )),
        (None, _) => {
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
                program: ctx.simphone.clone(),
                placement,
                mac: mac_text.clone(),
                // A scenario written for every family names its phone through the profile
                // (`model = "${profile.model}"`): the reference phone plays the run's family.
                model: crate::scenario::vars::expand(&spec.phone.model, &vars),
                firmware: crate::scenario::vars::expand(&spec.phone.firmware, &vars),
                user: spec.phone.user.clone(),
                password: spec.phone.password.clone(),
                sson: spec.dhcp.sson,
                state_dir: dut_dir.join(format!("{}.state", spec.id)),
                log: log.clone(),
                faults: ctx.faults.clone(),
                time_scale: scale,
                profile: ctx.profile.name.clone(),
                trust_certs: if spec.phone.trusts_lab_ca && lab_ca.is_some() {
                    vec![ca_path.clone()]
                } else {
                    Vec::new()
                },
                identity: sim_identity(&spec.phone),
            };
            Ok(Starter::Sim(Box::new(sim)))
        }
    };
    let (starter, started_phone) = match starter {
        Ok(s) => {
            let on = s.power_on(PowerOn::First);
            (Some(s), on)
        }
        Err(e) => (None, Err(e)),
    };
    let (mut dut, mut start_error) = match started_phone {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(e)),
    };
    let mut cancel = ctx.cancel.clone();
    let mut interrupted = false;

    // A real phone: the scenario begins at its first DHCPDISCOVER.
    let mut before_start = Vec::new();
    // A real phone's scenario starts at its first DISCOVER (stamped 0 by the server).
    let mut started_at_discover = false;
    if let (Some(att), Some(Dut::Attached(rebooting))) = (&ctx.attached, dut.as_mut()) {
        match await_boot(att, rebooting, &live, &clock, &mac_text, &mut cancel).await {
            Boot::Started(before) => {
                before_start = before;
                started_at_discover = true;
            }
            Boot::Interrupted => interrupted = true,
            Boot::Failed(status) => {
                start_error = Some(HarnessError::RebootFailed {
                    command: match &att.reboot {
                        Reboot::Cmd(c) => c.clone(),
                        _ => String::new(),
                    },
                    mac: mac_text.clone(),
                    status,
                    log: log_ref.clone(),
                    tail: crate::dut::log_tail(&log),
                });
            }
            Boot::NotBack => {
                start_error = Some(HarnessError::NoBoot {
                    mac: mac_text.clone(),
                    iface: place.iface.map(|i| i.name.clone()).unwrap_or_default(),
                    waited_s: att.boot_wait.as_secs_f64(),
                    how: att.reboot.wait_start().into(),
                });
            }
        }
        if (start_error.is_some() || interrupted)
            && let Some(p) = dut.take()
        {
            p.stop().await;
        }
    }
    let clock_origin = clock.origin();
    let origin = clock_origin.mono;

    // Watch until done.
    let timeout = lower::real_time(spec.run.timeout / scale);
    let settle = lower::real_time(spec.run.settle / scale);
    let speaks = ctx
        .attached
        .as_ref()
        .map(|a| a.speaks.clone())
        .or_else(|| ctx.external.as_ref().map(|d| d.speaks.clone()));
    let jctx = judge::Ctx::new(&vars).scaled(scale);
    let jctx = match &speaks {
        Some(p) => jctx.speaking(p),
        None => jctx,
    };
    let mut until_met: Option<Instant> = None;
    let mut dut_exit = None;
    let mut power_cycle = spec.run.power_cycle.clone();
    while let Some(phone) = dut.as_mut() {
        if *cancel.borrow_and_update() {
            interrupted = true;
            break;
        }
        let now = Instant::now();
        if now.duration_since(origin) >= timeout {
            break;
        }
        // Early verdicts: once nothing the phone does can change any check, the scenario
        // is over.
        let phone_now = now.duration_since(origin).as_secs_f64() * scale;
        let settled = timeline
            .lock()
            .map(|t| {
                let results = judge::judge(sc, &t, jctx.running_at(phone_now));
                let pending: Vec<_> = results.iter().filter(|r| !r.settled).collect();
                ctx.progress.waiting(&crate::progress::Waiting {
                    scenario: &spec.id,
                    elapsed_s: now.duration_since(origin).as_secs_f64(),
                    timeout_s: timeout.as_secs_f64(),
                    events: t.events.len(),
                    pending: &pending,
                });
                pending.is_empty()
            })
            .unwrap_or(false);
        if settled {
            break;
        }
        if let Some(at) = until_met {
            if now.duration_since(at) >= settle {
                break;
            }
        } else if let Some(id) = &spec.run.until {
            let met = timeline
                .lock()
                .map(|t| judge::until_reached(sc, id, &t, jctx.running_at(phone_now)))
                .unwrap_or(false);
            if met {
                until_met = Some(now);
            }
        }
        let cycle_now = power_cycle.as_ref().is_some_and(|cycle| {
            timeline
                .lock()
                .map(|t| judge::until_reached(sc, &cycle.after, &t, jctx.running_at(phone_now)))
                .unwrap_or(false)
        });
        if cycle_now && let (Some(cycle), Some(starter)) = (power_cycle.take(), &starter) {
            let mark = |event: DutEvent| {
                let (kind, f) = crate::timeline::fields_of(&event);
                if let Ok(mut t) = timeline.lock() {
                    t.push_fields(origin.elapsed().as_secs_f64(), Proto::Dut, kind, f);
                }
            };
            mark(DutEvent::PowerOff);
            if let Some(off) = dut.take() {
                off.stop().await;
            }
            tokio::time::sleep(lower::real_time(cycle.off / scale)).await;
            mark(DutEvent::PowerOn);
            match starter.power_on(PowerOn::Again) {
                Ok(on) => dut = Some(on),
                Err(e) => {
                    start_error = Some(e);
                    break;
                }
            }
            continue;
        }
        if let Some(status) = phone.exited() {
            // Stamped now: stopping the servers, closing the capture and linking it take
            // their time, and the exit belongs where the device ended.
            let at = origin.elapsed().as_secs_f64();
            // A device killed by the same Ctrl-C as the harness did not end on its own.
            if *cancel.borrow_and_update() {
                interrupted = true;
            } else {
                dut_exit = Some((status, at));
            }
            break;
        }
        // Windows close with time, so poll; an event may settle checks at once, so wake
        // on each too.
        tokio::select! {
            _ = tokio::time::sleep(JUDGE_EVERY) => {}
            _ = arrived.notified() => {}
            _ = cancel.changed() => {}
        }
    }
    // The stop mark: from here on the device reacts to being stopped (a UA un-REGISTERs,
    // a DHCP client releases), and none of that is judged.
    let stop_at = dut.as_ref().map(|_| origin.elapsed().as_secs_f64());
    if let Some(phone) = dut {
        phone.stop().await;
    }
    servers.stop(&spec.id).await;
    let frames = capture.finish()?;
    report.capture_frames = Some(frames);
    if let Some(c) = phone_link_capture {
        c.finish()?;
    }
    if interrupted {
        return Err(Fatal::Interrupted);
    }

    drop(live);
    let mut timeline = match Arc::try_unwrap(timeline) {
        Ok(m) => m.into_inner().unwrap_or_default(),
        Err(shared) => shared.lock().map(|t| t.clone()).unwrap_or_default(),
    };
    report.ignored_clients = ignored_clients(
        before_start.iter().chain(&timeline.events),
        std::slice::from_ref(&mac_text),
    );
    let served: Vec<u16> = spec.dhcp.vlan.iter().map(|v| v.id).collect();
    crate::evidence::link_capture(&pcap_path, clock_origin, &served, &mut timeline).map_err(
        |source| HarnessError::Evidence {
            path: pcap_path.clone(),
            source,
        },
    )?;
    if let Some((status, at)) = dut_exit {
        let (kind, f) = crate::timeline::fields_of(&DutEvent::Exited {
            status: status.to_string(),
        });
        timeline.push_fields(at, Proto::Dut, kind, f);
    }
    if let Some(at) = stop_at {
        let (kind, f) = crate::timeline::fields_of(&DutEvent::Stopping);
        timeline.push_fields(at, Proto::Dut, kind, f);
    }
    if started_at_discover {
        // On the wire that DISCOVER came a little before the server stamped it: the
        // scenario starts at its frame.
        timeline.start_at_capture_of_origin_event();
    }

    // Judge and keep the evidence; a device that never started is not judged.
    if start_error.is_none() {
        report.checks = judge::judge(sc, &timeline, jctx);
        report.verdict = judge::scenario_verdict(&report.checks);
        crate::evidence::annotate(&pcap_path, &report.checks, &timeline).map_err(|source| {
            HarnessError::Evidence {
                path: pcap_path.clone(),
                source,
            }
        })?;
    }
    if let Some((status, _)) = dut_exit {
        judge_dut_exit(ctx, status, &timeline, &log, log_ref, report);
    }
    let saved = SavedTimeline {
        scenario_file: snapshot(&ctx.reports_dir, sc)?,
        scenario_origin: Some(rel(&sc.file)),
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        time_scale: scale,
        speaks: speaks.clone(),
        timeline,
    };
    report.timeline = Some(save_timeline(&ctx.reports_dir, &spec.id, &saved)?);
    match start_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Where the file servers and SIP controllers listen (for the `${…}` variables).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Endpoints<'a> {
    /// The HTTP file server.
    pub http: SocketAddrV4,
    /// The HTTPS file server, if the scenario has one.
    pub https: Option<SocketAddrV4>,
    /// The SIP controllers, in order.
    pub sip: &'a [SocketAddrV4],
}

/// The lab variables of a scenario in one lab (`${server_ip}`, `${http_port}`,
/// `${sip_port_2}`, `${phone_mac}` …), the profile's left out. `Err`: why (too many
/// controllers).
pub(crate) fn lab_vars(
    sc: &Scenario,
    addrs: &LabAddrs,
    eps: Endpoints<'_>,
    mac_text: &str,
    mac: [u8; 6],
) -> Result<Vars, String> {
    let mut vars = Vars::new();
    vars.insert("server_ip", addrs.server_ip.to_string());
    vars.insert("dead_ip", addrs.dead_ip.to_string());
    vars.insert("http_port", eps.http.port().to_string());
    // Without an HTTPS server the port is the well-known one, where nothing listens.
    vars.insert(
        "https_port",
        eps.https.map_or(443, |ep| ep.port()).to_string(),
    );
    for (i, ep) in eps.sip.iter().enumerate() {
        let name = ["sip_port", "sip_port_2", "sip_port_3", "sip_port_4"]
            .get(i)
            .ok_or_else(|| "too many SIP controllers".to_string())?;
        vars.insert(name, ep.port().to_string());
    }
    vars.insert("phone_mac", mac_text.to_string());
    vars.insert(
        "phone_mac_hex",
        mac.iter().map(|b| format!("{b:02x}")).collect(),
    );
    vars.insert("sip_domain", sc.spec.sip.domain.clone());
    Ok(vars)
}

/// The lab CA, made fresh when the scenario uses TLS or hands out the CA. `Err`: why.
pub(crate) fn lab_ca_for(
    sc: &Scenario,
    now: time::OffsetDateTime,
) -> Result<Option<pc_pki::LabCa>, String> {
    let spec = &sc.spec;
    let wants_ca = spec.https.is_some()
        || spec.phone.trusts_lab_ca
        || sc.files.values().any(|f| f.content == FileContent::LabCa)
        || sc.sip.controllers.iter().any(|c| c.tls.is_some());
    if !wants_ca {
        return Ok(None);
    }
    let key = spec.https.as_ref().map(|h| h.key).unwrap_or_default();
    pc_pki::LabCa::generate(key, now)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The running servers of a scenario and the tasks that carry their events into the
/// timeline.
pub(crate) struct Servers {
    servers: crate::servers::Servers,
    forwarders: Vec<tokio::task::JoinHandle<()>>,
}

impl Servers {
    /// Stops every server (each has 3 s) and waits for its last events to reach the
    /// timeline; a server that ends with an error is logged, named by `scenario`.
    pub(crate) async fn stop(self, scenario: &str) {
        self.servers.stop(scenario).await;
        for t in self.forwarders {
            let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
        }
    }
}

/// Each server's events into the timeline `live`, stamped by `clock`: a channel per server,
/// its events tagged with the server that heard them (the VLAN, the SIP controller).
struct IntoTimeline<'a> {
    clock: &'a Clock,
    live: &'a Shared,
    forwarders: Vec<tokio::task::JoinHandle<()>>,
}

impl crate::servers::EventSinks for IntoTimeline<'_> {
    fn dhcp(&mut self) -> crate::servers::Sender<pc_dhcp::Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.forwarders.push(forward(
            self.clock.clone(),
            Proto::Dhcp,
            rx,
            self.live.clone(),
        ));
        tx
    }

    fn vlan_dhcp(&mut self, vlan: u16) -> crate::servers::Sender<pc_dhcp::Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.forwarders.push(forward_tagged(
            self.clock.clone(),
            Proto::Dhcp,
            rx,
            self.live.clone(),
            &VlanOrigin { vlan },
        ));
        tx
    }

    fn http(&mut self) -> crate::servers::Sender<pc_http::shell::Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.forwarders.push(forward(
            self.clock.clone(),
            Proto::Http,
            rx,
            self.live.clone(),
        ));
        tx
    }

    fn sip(
        &mut self,
        controller: usize,
        listens_on: Option<SocketAddrV4>,
    ) -> crate::servers::Sender<pc_sip::Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        let heard_by = SipOrigin {
            controller,
            server: listens_on.map(|a| a.to_string()).unwrap_or_default(),
        };
        self.forwarders.push(forward_tagged(
            self.clock.clone(),
            Proto::Sip,
            rx,
            self.live.clone(),
            &heard_by,
        ));
        tx
    }
}

/// Starts the scenario's servers ([`crate::servers::start`]), each reporting its events
/// into `live`, stamped by `clock`.
pub(crate) fn start_servers(
    setup: ServerSetup<'_>,
    clock: &Clock,
    live: &Shared,
) -> Result<Servers, HarnessError> {
    let mut sinks = IntoTimeline {
        clock,
        live,
        forwarders: Vec::new(),
    };
    let servers = crate::servers::start(setup, &mut sinks)?;
    Ok(Servers {
        servers,
        forwarders: sinks.forwarders,
    })
}

/// Copies the scenario file and its fixtures into the run folder (`scenarios/<id>/…`);
/// returns the copy's path relative to the run folder, as saved timelines name it.
pub(crate) fn snapshot(reports_dir: &Path, sc: &Scenario) -> Result<String, HarnessError> {
    let snapshot_dir = reports_dir.join("scenarios").join(&sc.spec.id);
    let copy = crate::run_folder::snapshot_scenario(
        &sc.file,
        &fixtures_of(sc),
        &images_of(sc),
        &snapshot_dir,
    )
    .map_err(|source| HarnessError::Save {
        path: snapshot_dir.clone(),
        source,
    })?;
    Ok(Path::new("scenarios")
        .join(&sc.spec.id)
        .join(copy)
        .display()
        .to_string())
}

/// Writes `timelines/<name>.json` into the run folder; returns that path relative to it.
pub(crate) fn save_timeline(
    reports_dir: &Path,
    name: &str,
    saved: &SavedTimeline,
) -> Result<String, HarnessError> {
    let tl_dir = reports_dir.join("timelines");
    let tl_path = tl_dir.join(format!("{name}.json"));
    std::fs::create_dir_all(&tl_dir)
        .and_then(|()| serde_json::to_vec_pretty(saved).map_err(std::io::Error::other))
        .and_then(|bytes| std::fs::write(&tl_path, bytes))
        .map_err(|source| HarnessError::Save {
            path: tl_path.clone(),
            source,
        })?;
    Ok(format!("timelines/{name}.json"))
}

/// How the wait for a real phone's boot ended.
enum Boot {
    /// Its first DHCPDISCOVER came: the clock now starts there; the events before it.
    Started(Vec<crate::timeline::Event>),
    /// The reboot command failed before the phone came back.
    Failed(std::process::ExitStatus),
    /// No DHCPDISCOVER within `--boot-wait`.
    NotBack,
    /// Ctrl-C.
    Interrupted,
}

/// Waits for the phone's first DHCPDISCOVER (at most `--boot-wait`); when it comes, the
/// scenario's clock is moved to it, and what happened before leaves the timeline.
async fn await_boot(
    att: &AttachedPhone,
    rebooting: &mut Rebooting,
    live: &Shared,
    clock: &Clock,
    mac: &str,
    cancel: &mut watch::Receiver<bool>,
) -> Boot {
    let deadline = Instant::now() + att.boot_wait;
    loop {
        if *cancel.borrow_and_update() {
            return Boot::Interrupted;
        }
        if let Ok(mut timeline) = live.timeline.lock() {
            let first = timeline.events.iter().find(|e| {
                e.proto == Proto::Dhcp
                    && e.kind == "received"
                    && e.field("msg_type").and_then(|v| v.as_str()) == Some("DISCOVER")
                    && e.field("client_mac").and_then(|v| v.as_str()) == Some(mac)
            });
            if let Some(t0) = first.map(|e| e.t) {
                clock.start_at(t0);
                return Boot::Started(timeline.start_at(t0));
            }
        }
        if let Some(status) = rebooting.ended()
            && !status.success()
        {
            return Boot::Failed(status);
        }
        if Instant::now() >= deadline {
            return Boot::NotBack;
        }
        tokio::select! {
            _ = tokio::time::sleep(JUDGE_EVERY) => {}
            _ = live.arrived.notified() => {}
            _ = cancel.changed() => {}
        }
    }
}

/// The DHCP clients other than those `answered` the server heard and did not answer, with
/// how often.
pub(crate) fn ignored_clients<'a>(
    events: impl Iterator<Item = &'a crate::timeline::Event>,
    answered: &[String],
) -> Vec<IgnoredClient> {
    let mut seen: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
    for e in events {
        if e.proto != Proto::Dhcp || e.kind != "ignored" {
            continue;
        }
        if let Some(m) = e.field("client_mac").and_then(|v| v.as_str())
            && !answered.iter().any(|a| a == m)
        {
            *seen.entry(m.to_string()).or_default() += 1;
        }
    }
    seen.into_iter()
        .map(|(mac, requests)| IgnoredClient { mac, requests })
        .collect()
}

/// What the device's exit on its own means for the scenario.
///
/// The reference phone only stops when told to: whenever it ends by itself (it refused its
/// arguments, could not open its interface, crashed) the harness's reference is broken, and
/// the scenario is an `error`. A `--dut-cmd` that ends before the servers saw anything of it
/// did not start (command not found, refused its options): also an `error`. A `--dut-cmd`
/// that ends with a failure after taking part is the device's behaviour: the checks decide,
/// and a scenario that would pass anyway becomes an `error`.
fn judge_dut_exit(
    ctx: &RunContext,
    status: std::process::ExitStatus,
    timeline: &Timeline,
    log: &Path,
    log_ref: String,
    report: &mut ScenarioReport,
) {
    let took_part = timeline.events.iter().any(|e| e.proto != Proto::Dut);
    let tail = crate::dut::log_tail(log);
    let (what, harness_side) = match &ctx.external {
        None => ("the reference phone".to_string(), true),
        Some(_) if status.success() => return,
        Some(ext) => (format!("--dut-cmd '{}'", ext.command), !took_part),
    };
    let err = if took_part {
        HarnessError::DutDied {
            what,
            status,
            log: log_ref,
            tail: tail.clone(),
        }
    } else {
        HarnessError::DutDiedAtStart {
            what,
            status,
            log: log_ref,
            tail: tail.clone(),
        }
    };
    report.error = Some(err.to_string());
    report.dut_log_tail = Some(tail);
    if harness_side || report.verdict == Verdict::Pass {
        report.verdict = Verdict::Error;
    }
}

/// The time scale of one scenario's run: phone seconds per lab second.
///
/// Only the reference phone runs its timers faster: `--time-scale`, else the scenario's
/// `phone.time_scale`, else 1. A device the harness does not control (`--dut-cmd`, a real
/// phone) keeps its own clock, so its scale is always 1 whatever the scenario file says, and
/// every window is judged in real seconds.
fn time_scale_for(ctx: &RunContext, spec: &crate::scenario::ScenarioSpec) -> f64 {
    if ctx.external.is_some() || ctx.attached.is_some() {
        return 1.0;
    }
    ctx.time_scale
        .or(spec.phone.time_scale)
        .unwrap_or(1.0)
        .max(1e-6)
}

/// A stable seed per run and scenario (the registrar's nonces), so runs are reproducible
/// given their id.
pub(crate) fn seed_of(run_id: &str, scenario: &str) -> u64 {
    // FNV-1a: small, stable across Rust versions (unlike DefaultHasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in run_id.bytes().chain([0]).chain(scenario.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
