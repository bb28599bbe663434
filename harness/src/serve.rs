//! `phonecert serve`: one scenario's infrastructure alone — the DHCP server with the
//! scenario's site option, the file server (HTTP, and HTTPS when the scenario has one) and the
//! SIP registrar (UDP, TCP and TLS as the scenario configures it) — for phones an admin points
//! at it, and afterwards a verdict per phone.
//!
//! Owns: which DHCP clients are answered (the MACs given, or any with `--any-mac`), saying
//! where each server listens ([`Listening`], the "ready" line), waiting for the stop (Ctrl-C,
//! SIGTERM or `--duration`), and splitting the session's one timeline into a timeline per
//! phone ([`phone_timelines`]): DHCP events by the client's MAC, HTTP and SIP events by the
//! address the DHCP server had leased to that MAC when they happened. Each phone's clock
//! starts at its first DHCP message, as a real phone's scenario starts at its first
//! DHCPDISCOVER in the iface lab, so the scenario's windows are measured from its boot.
//!
//! Never: starts, stops or reboots a phone (the admin does); sets up a lab or a server of its
//! own (the engine's, shared with `run`); decides a verdict (the judge does, once per phone);
//! formats the report (the report module does).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::engine::{self, Clock, Endpoints, SavedTimeline, ServerSetup, Shared};
use crate::error::HarnessError;
use crate::judge::{self, Verdict};
use crate::lab::{self, IfaceLab, KernelLink, LabKind};
use crate::lower;
use crate::report::{IgnoredClient, ScenarioReport};
use crate::scenario::Scenario;
use crate::session::peer_ip;
use crate::session::{
    EVENTS_PER_TIMELINE, FULL_TIMELINES_ANY_MAC, Judged, OTHER_EVENTS_KEPT, Recorded, Recorder,
    SessionClients,
};
use crate::timeline::{Proto, Timeline};

/// Which DHCP clients the servers answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// These MACs only (lower case, `00:1b:4f:…`), in the order given.
    Only(Vec<String>),
    /// Every client that asks (`--any-mac`): on a shared segment that includes devices that
    /// are not phones.
    Any,
}

/// The warning `--any-mac` prints and puts in the report.
pub const ANY_MAC_WARNING: &str = "--any-mac: the DHCP server answers EVERY client on the segment, not only the phones under test; any device that asks gets a lease and the scenario's site option";

/// Up to this many phones, each phone's result gets its own copy of the session's capture
/// with its verdicts as packet comments. Beyond it (a load generator's thousands of clients)
/// the copies would cost the capture's size per phone, so every result names the session's
/// capture, without comments.
pub const ANNOTATED_COPIES_UP_TO: usize = 64;

/// Up to this many frames, the session's capture is linked to the kept events (each event
/// names its frames) and copied per phone with packet comments. Linking looks, for each
/// event, at the frames of the seconds around it: under a load generator's tens of
/// thousands of frames a second that is minutes of work for frames no reviewer opens one by
/// one. Beyond it, the capture is written as always, every frame in it, and not linked.
pub const LINK_FRAMES_UP_TO: u64 = 50_000;

/// Everything one `phonecert serve` needs.
#[derive(Debug)]
pub struct ServeConfig {
    /// The scenario whose servers run and whose checks each phone is judged by.
    pub scenario: Scenario,
    /// The lab.
    pub lab: LabKind,
    /// The iface lab, set up (`--lab iface:NAME`).
    pub iface: Option<Arc<IfaceLab>>,
    /// Which clients are answered.
    pub answer: Answer,
    /// Stop by itself after this long (`--duration`); else only on Ctrl-C or SIGTERM.
    pub duration: Option<Duration>,
    /// The run id.
    pub run_id: String,
    /// `captures/<run-id>`.
    pub captures_dir: PathBuf,
    /// `reports/<run-id>`.
    pub reports_dir: PathBuf,
    /// The phone profile (`${profile.NAME}`).
    pub profile: crate::profile::Profile,
    /// Turns true on Ctrl-C or SIGTERM.
    pub cancel: watch::Receiver<bool>,
}

/// Where every server listens, said once all of them do: JSON on stdout (one line, `"event":
/// "ready"`) for programs, [`Listening::text`] on stderr for people.
#[derive(Debug, Clone, Serialize)]
pub struct Listening {
    /// Always `ready`.
    pub event: &'static str,
    /// The run id (the folder names under `captures/` and `reports/`).
    pub run_id: String,
    /// The scenario id.
    pub scenario: String,
    /// `netns`, `loopback` or `iface:NAME`.
    pub lab: String,
    /// The servers' address: what phones are leased as router and what `${server_ip}` is.
    pub server_ip: String,
    /// The lab's subnet mask.
    pub mask: String,
    /// The addresses leased: first and last.
    pub pool: [String; 2],
    /// The DHCP server's socket (`0.0.0.0:67` on the lab interface in the netns and iface
    /// labs, a high port on 127.77.0.1 on loopback).
    pub dhcp: String,
    /// The interface the DHCP server is bound to (netns and iface labs).
    pub dhcp_iface: Option<String>,
    /// The HTTP file server.
    pub http: String,
    /// The HTTPS file server, when the scenario has one.
    pub https: Option<String>,
    /// The SIP controllers, in order.
    pub sip: Vec<SipListening>,
    /// The netns lab's namespaces.
    pub netns: Option<NetnsPlace>,
    /// The MACs answered; empty with `any_mac`.
    pub answers: Vec<String>,
    /// Whether every client is answered.
    pub any_mac: bool,
    /// The lab CA the HTTPS server's and TLS controllers' certificates are issued under
    /// (PEM), when the scenario uses TLS.
    pub lab_ca: Option<String>,
    /// The session's capture.
    pub capture: String,
    /// When the servers stop by themselves, in seconds from now.
    pub duration_s: Option<f64>,
}

/// One SIP controller's sockets.
#[derive(Debug, Clone, Serialize)]
pub struct SipListening {
    /// 1 for `[sip]`, then each `[[sip.controller]]`.
    pub controller: usize,
    /// Its UDP socket.
    pub udp: String,
    /// Its TCP listener on the same port, unless the scenario refuses TCP there.
    pub tcp: Option<String>,
    /// Whether connections to that port speak TLS (SIPS).
    pub tls: bool,
}

/// Where the netns lab put things: phones go into `phone` (or onto a bridge with
/// `phone_iface`), the servers live in `infra`.
#[derive(Debug, Clone, Serialize)]
pub struct NetnsPlace {
    /// The servers' namespace.
    pub infra: String,
    /// The servers' end of the veth pair.
    pub infra_iface: String,
    /// The phones' namespace.
    pub phone: String,
    /// The phones' end of the veth pair.
    pub phone_iface: String,
}

impl Listening {
    /// The same, for people: one line per server, then how to reach it.
    pub fn text(&self) -> String {
        let mut out = format!(
            "phonecert serve {} ({}), lab {}, run {}\n",
            self.scenario,
            if self.any_mac {
                "answering ANY MAC".to_string()
            } else {
                format!("answering {}", self.answers.join(", "))
            },
            self.lab,
            self.run_id
        );
        let on = self
            .dhcp_iface
            .as_ref()
            .map(|i| format!(" on {i}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  dhcp   {}{on}: leases {}-{} (mask {}, router {})\n",
            self.dhcp, self.pool[0], self.pool[1], self.mask, self.server_ip
        ));
        out.push_str(&format!("  http   {}\n", self.http));
        if let Some(https) = &self.https {
            out.push_str(&format!("  https  {https}\n"));
        }
        for s in &self.sip {
            let mut line = format!("  sip {}  udp {}", s.controller, s.udp);
            if let Some(tcp) = &s.tcp {
                line.push_str(&format!(", {} {tcp}", if s.tls { "tls" } else { "tcp" }));
            }
            out.push_str(&line);
            out.push('\n');
        }
        if let Some(ca) = &self.lab_ca {
            out.push_str(&format!("  lab CA {ca}\n"));
        }
        if let Some(ns) = &self.netns {
            out.push_str(&format!(
                "  phones: run them in namespace {} on {} (`ip netns exec {} …`), or bridge {} with your own links; the servers are in {} on {}\n",
                ns.phone, ns.phone_iface, ns.phone, ns.phone_iface, ns.infra, ns.infra_iface
            ));
        }
        out.push_str(&format!("  capture {}\n", self.capture));
        out.push_str(&match self.duration_s {
            Some(d) => format!("stopping after {d} s, or on Ctrl-C\n"),
            None => "stop with Ctrl-C (or SIGTERM): the report is written then\n".into(),
        });
        out
    }
}

/// What a session served.
#[derive(Debug)]
pub struct Served {
    /// One report per phone, named `<scenario-id>@<mac with dashes>`.
    pub phones: Vec<ScenarioReport>,
    /// The clients heard and not answered (with `--dut-mac`).
    pub ignored: Vec<IgnoredClient>,
    /// Seconds the servers ran.
    pub served_s: f64,
    /// Every client heard, summarised, and the bounds applied to what was kept.
    pub clients: SessionClients,
    /// What a reader must know of what was not kept (a judged phone's timeline cut short).
    pub warnings: Vec<String>,
}

/// Runs the scenario's servers until Ctrl-C, SIGTERM or `--duration`, calling `ready` once
/// every server listens; then judges each phone. `Err`: the lab or the servers could not be
/// set up, or the evidence could not be written (exit 3).
pub async fn serve(
    cfg: &ServeConfig,
    ready: impl FnOnce(&Listening),
) -> Result<Served, HarnessError> {
    let sc = &cfg.scenario;
    let spec = &sc.spec;
    let configure = |why: String| HarnessError::Configure {
        scenario: spec.id.clone(),
        why,
    };
    let opened = engine::open_lab(&cfg.lab, cfg.iface.as_deref(), spec)?;
    let (dhcp_ep, http_ep, sip_eps) = opened
        .sockets
        .endpoints()
        .map_err(HarnessError::ServerAddresses)?;
    let https_ep = opened
        .sockets
        .https_endpoint()
        .map_err(HarnessError::ServerAddresses)?;
    let addrs = opened.addrs.clone();

    // The servers are configured once for every phone: `${phone_mac}` in what they serve is
    // the first MAC given (the scenario's own with --any-mac); each phone is judged with its
    // own.
    let answered: Vec<String> = match &cfg.answer {
        Answer::Only(macs) => macs.clone(),
        Answer::Any => Vec::new(),
    };
    let mac_text = answered
        .first()
        .cloned()
        .unwrap_or_else(|| spec.phone.mac.to_lowercase());
    let mac = crate::scenario::parse_mac(&mac_text)
        .ok_or_else(|| configure(format!("`{mac_text}` is not a MAC address")))?;
    let allowed = answered
        .iter()
        .map(|m| {
            crate::scenario::parse_mac(m)
                .ok_or_else(|| configure(format!("`{m}` is not a MAC address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let eps = Endpoints {
        http: http_ep,
        https: https_ep,
        sip: &sip_eps,
    };
    let mut vars = engine::lab_vars(sc, &addrs, eps, &mac_text, mac).map_err(configure)?;
    cfg.profile.add_vars(&mut vars);

    // The capture of the whole session.
    std::fs::create_dir_all(&cfg.captures_dir).map_err(|source| HarnessError::Folder {
        path: cfg.captures_dir.clone(),
        source,
    })?;
    let pcap_path = cfg.captures_dir.join(format!("{}.pcapng", spec.id));
    let lab_name = cfg.lab.name();
    let link = match (&opened.netns, cfg.iface.as_deref(), &cfg.lab) {
        (Some(pair), _, _) => Some(KernelLink {
            lab: &lab_name,
            ns: Some(&pair.infra_ns),
            iface: &pair.infra_if,
        }),
        (None, Some(i), LabKind::Iface(_)) => Some(KernelLink {
            lab: &lab_name,
            ns: None,
            iface: &i.name,
        }),
        _ => None,
    };
    let note = lab::CaptureNote {
        run_id: &cfg.run_id,
        scenario: &spec.id,
        title: &spec.title,
        time_scale: 1.0,
    };
    let capture = lab::Capture::start(
        link, &pcap_path, &note, dhcp_ep, http_ep, https_ep, &sip_eps,
    )?;

    let now = time::OffsetDateTime::now_utc();
    let lab_ca = engine::lab_ca_for(sc, now).map_err(configure)?;
    let ca_path = cfg.reports_dir.join("lab-ca.pem");
    if let Some(ca) = &lab_ca {
        std::fs::create_dir_all(&cfg.reports_dir).map_err(|source| HarnessError::Folder {
            path: cfg.reports_dir.clone(),
            source,
        })?;
        ca.write_pem(&ca_path)
            .map_err(|e| configure(e.to_string()))?;
    }

    let clock = Clock::new();
    let judged = match &cfg.answer {
        Answer::Only(macs) => Judged::Only(macs.clone()),
        Answer::Any => Judged::FirstHeard(FULL_TIMELINES_ANY_MAC),
    };
    let recorder = Arc::new(Mutex::new(Recorder::new(judged.clone())));
    let live = Shared::into(recorder.clone());
    let lab = lower::Lab {
        addrs: &addrs,
        vars: &vars,
        mac,
        time_scale: 1.0,
        lab_ca: lab_ca.as_ref(),
        relayed: opened
            .netns
            .as_ref()
            .and_then(|p| p.router.as_ref())
            .map(|r| &r.subnet),
    };
    let servers = engine::start_servers(
        ServerSetup {
            sc,
            lab,
            sockets: opened.sockets,
            vlans: opened.vlans,
            relay: opened.relay,
            sip_eps: &sip_eps,
            now,
            seed: engine::seed_of(&cfg.run_id, &spec.id),
            allowed_macs: allowed,
            tap: capture.tap(),
        },
        &clock,
        &live,
    )?;
    let clock_origin = clock.origin();
    let origin = clock_origin.mono;

    ready(&Listening {
        event: "ready",
        run_id: cfg.run_id.clone(),
        scenario: spec.id.clone(),
        lab: lab_name.clone(),
        server_ip: addrs.server_ip.to_string(),
        mask: addrs.mask.to_string(),
        pool: [addrs.pool_start.to_string(), addrs.pool_end.to_string()],
        dhcp: dhcp_ep.to_string(),
        dhcp_iface: match (&opened.netns, &cfg.lab) {
            (Some(pair), _) => Some(pair.infra_if.clone()),
            (None, LabKind::Iface(name)) => Some(name.clone()),
            _ => None,
        },
        http: http_ep.to_string(),
        https: https_ep.map(|e| e.to_string()),
        sip: sip_eps
            .iter()
            .enumerate()
            .map(|(i, ep)| SipListening {
                controller: i + 1,
                udp: ep.to_string(),
                tcp: lower::accepts_tcp(sc, i).then(|| ep.to_string()),
                tls: sc.sip.controllers.get(i).is_some_and(|c| c.tls.is_some()),
            })
            .collect(),
        netns: opened.netns.as_ref().map(|p| NetnsPlace {
            infra: p.infra_ns.clone(),
            infra_iface: p.infra_if.clone(),
            phone: p.phone_ns.clone(),
            phone_iface: p.phone_if.clone(),
        }),
        answers: answered.clone(),
        any_mac: cfg.answer == Answer::Any,
        lab_ca: lab_ca.as_ref().map(|_| ca_path.display().to_string()),
        capture: pcap_path.display().to_string(),
        duration_s: cfg.duration.map(|d| d.as_secs_f64()),
    });

    // Serve until told to stop.
    let mut cancel = cfg.cancel.clone();
    let until = cfg.duration.map(|d| tokio::time::Instant::now() + d);
    tokio::select! {
        _ = cancel.wait_for(|c| *c) => {}
        _ = async {
            match until {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        } => {}
    }
    let served_s = origin.elapsed().as_secs_f64();
    servers.stop(&spec.id).await;
    let frames = capture.finish()?;
    drop(opened.netns); // the namespaces go (and whatever the admin ran in them) before judging

    drop(live);
    let recorder = match Arc::try_unwrap(recorder) {
        Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()),
        Err(shared) => match shared.lock() {
            Ok(mut r) => std::mem::replace(&mut *r, Recorder::new(judged)),
            Err(p) => std::mem::replace(&mut *p.into_inner(), Recorder::new(judged)),
        },
    };
    let linked = frames <= LINK_FRAMES_UP_TO;
    let Recorded {
        phones,
        session: mut timeline,
        clients,
        cut,
    } = recorder.finish(linked);
    if linked {
        let served_vlans: Vec<u16> = spec.dhcp.vlan.iter().map(|v| v.id).collect();
        crate::evidence::link_capture(&pcap_path, clock_origin, &served_vlans, &mut timeline)
            .map_err(|source| HarnessError::Evidence {
                path: pcap_path.clone(),
                source,
            })?;
    }
    let mut warnings = Vec::new();
    let mut cut: Vec<(Option<String>, u64)> = cut.into_iter().collect();
    cut.sort();
    for (who, n) in cut {
        warnings.push(match who {
            Some(mac) => format!(
                "phone {mac}: its timeline keeps its first {EVENTS_PER_TIMELINE} events and it is judged on those; {n} later events are counted in its summary, not kept (every frame is in the capture)"
            ),
            None => format!(
                "timelines/session.json keeps {OTHER_EVENTS_KEPT} events of no judged phone; {n} more were counted, not kept (every frame is in the capture)"
            ),
        });
    }
    if !linked {
        warnings.push(format!(
            "the capture holds {frames} frames, more than the {LINK_FRAMES_UP_TO} linked to events: no event names its frames, and no result has a copy with packet comments"
        ));
    }
    let ignored: Vec<IgnoredClient> = clients
        .clients
        .iter()
        .filter(|c| !c.answered)
        .map(|c| IgnoredClient {
            mac: c.mac.clone(),
            requests: u32::try_from(c.dhcp_requests).unwrap_or(u32::MAX),
        })
        .collect();
    let scenario_file = engine::snapshot(&cfg.reports_dir, sc)?;
    let saved = |timeline: Timeline, vars: &crate::scenario::vars::Vars| SavedTimeline {
        scenario_file: scenario_file.clone(),
        scenario_origin: Some(sc.file.display().to_string()),
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        time_scale: 1.0,
        speaks: None,
        timeline,
    };
    // The whole session, every client included: what the per-phone timelines were cut from.
    let mut split = phone_timelines(&timeline, &phones);
    engine::save_timeline(&cfg.reports_dir, "session", &saved(timeline, &vars))?;
    let copies = linked && phones.len() <= ANNOTATED_COPIES_UP_TO;
    let mut reports = Vec::new();
    for phone in &phones {
        let name = format!("{}@{}", spec.id, phone.replace(':', "-"));
        let mut report = ScenarioReport {
            id: name.clone(),
            title: format!("{} — phone {phone}", spec.title),
            family: format!("{:?}", spec.family).to_lowercase(),
            file: sc.file.display().to_string(),
            verdict: Verdict::Error,
            requirements: spec.requirements.clone(),
            duration_s: served_s,
            time_scale: 1.0,
            capture: None,
            capture_frames: Some(frames),
            link_captures: Vec::new(),
            timeline: None,
            dut_log: None,
            dut_log_tail: None,
            error: None,
            checks: Vec::new(),
            ignored_clients: ignored.clone(),
        };
        let Some((t0, tl)) = split.remove(phone) else {
            report.error = Some(format!(
                "the phone {phone} sent no DHCP message in the {served_s:.1} s the servers ran: not judged"
            ));
            reports.push(report);
            continue;
        };
        report.duration_s = (served_s - t0).max(0.0);
        let mut phone_vars = vars.clone();
        phone_vars.insert("phone_mac", phone.clone());
        phone_vars.insert("phone_mac_hex", phone.replace(':', ""));
        report.checks = judge::judge(sc, &tl, judge::Ctx::new(&phone_vars));
        report.verdict = judge::scenario_verdict(&report.checks);
        if copies {
            // Each phone's verdicts go into a copy of the session's capture: the frame
            // numbers stay those of the timeline, and the packet comments are this phone's.
            let copy = cfg.captures_dir.join(format!("{name}.pcapng"));
            std::fs::copy(&pcap_path, &copy).map_err(|source| HarnessError::Save {
                path: copy.clone(),
                source,
            })?;
            crate::evidence::annotate(&copy, &report.checks, &tl).map_err(|source| {
                HarnessError::Evidence {
                    path: copy.clone(),
                    source,
                }
            })?;
            report.capture = Some(format!("captures/{}/{name}.pcapng", cfg.run_id));
        } else {
            report.capture = Some(format!("captures/{}/{}.pcapng", cfg.run_id, spec.id));
        }
        report.timeline = Some(engine::save_timeline(
            &cfg.reports_dir,
            &name,
            &saved(tl, &phone_vars),
        )?);
        reports.push(report);
    }
    Ok(Served {
        phones: reports,
        ignored,
        served_s,
        clients,
        warnings,
    })
}

/// Each phone's share of the session, in one pass over it: its DHCP messages (by MAC) and
/// the HTTP and SIP traffic from the address the DHCP server had acknowledged to it at that
/// moment, restamped from its first DHCP message (returned, in session seconds). A phone of
/// `phones` that sent no DHCP message has no entry.
pub fn phone_timelines(session: &Timeline, phones: &[String]) -> HashMap<String, (f64, Timeline)> {
    let mut leased: HashMap<String, String> = HashMap::new();
    let mut mine: HashMap<&str, Timeline> = phones
        .iter()
        .map(|p| (p.as_str(), Timeline::default()))
        .collect();
    for e in &session.events {
        let owner = match e.proto {
            Proto::Dhcp => match e.field("client_mac").and_then(|v| v.as_str()) {
                Some(m) => {
                    if e.kind == "sent"
                        && e.field("msg_type").and_then(|v| v.as_str()) == Some("ACK")
                        && let Some(ip) = e.field("yiaddr").and_then(|v| v.as_str())
                        && ip != "0.0.0.0"
                    {
                        leased.insert(ip.to_string(), m.to_string());
                    }
                    Some(m.to_string())
                }
                None => peer_ip(e).and_then(|ip| leased.get(&ip).cloned()),
            },
            Proto::Http | Proto::Sip => peer_ip(e).and_then(|ip| leased.get(&ip).cloned()),
            Proto::Dut => None,
        };
        if let Some(tl) = owner.and_then(|m| mine.get_mut(m.as_str())) {
            let mut kept = e.clone();
            kept.index = tl.events.len();
            tl.events.push(kept);
        }
    }
    mine.into_iter()
        .filter_map(|(mac, mut tl)| {
            let t0 = tl
                .events
                .iter()
                .find(|e| e.proto == Proto::Dhcp && e.kind == "received")?
                .t;
            tl.start_at(t0);
            Some((mac.to_string(), (t0, tl)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn push(tl: &mut Timeline, t: f64, proto: Proto, kind: &str, fields: Value) {
        let Value::Object(map) = fields else {
            panic!("fields must be an object");
        };
        tl.push_fields(t, proto, kind.into(), map);
    }

    const A: &str = "00:1b:4f:42:00:01";
    const B: &str = "00:1b:4f:42:00:02";

    /// Two phones booting side by side; B's address is later acked to A.
    fn session() -> Timeline {
        let mut tl = Timeline::default();
        let dhcp = |mac: &str, msg: &str, ip: &str| json!({"client_mac": mac, "msg_type": msg, "yiaddr": ip});
        push(
            &mut tl,
            1.0,
            Proto::Dhcp,
            "received",
            dhcp(A, "DISCOVER", ""),
        );
        push(
            &mut tl,
            1.1,
            Proto::Dhcp,
            "sent",
            dhcp(A, "OFFER", "10.66.0.100"),
        );
        push(
            &mut tl,
            1.5,
            Proto::Dhcp,
            "received",
            dhcp(B, "DISCOVER", ""),
        );
        push(
            &mut tl,
            1.6,
            Proto::Dhcp,
            "sent",
            dhcp(A, "ACK", "10.66.0.100"),
        );
        push(
            &mut tl,
            1.7,
            Proto::Dhcp,
            "sent",
            dhcp(B, "ACK", "10.66.0.101"),
        );
        push(
            &mut tl,
            2.0,
            Proto::Http,
            "request",
            json!({"client": "10.66.0.100:40000", "path": "/a"}),
        );
        push(
            &mut tl,
            2.1,
            Proto::Http,
            "request",
            json!({"client": "10.66.0.101:40001", "path": "/b"}),
        );
        push(
            &mut tl,
            2.5,
            Proto::Sip,
            "request",
            json!({"from": "10.66.0.101:5060", "method": "REGISTER"}),
        );
        push(
            &mut tl,
            2.6,
            Proto::Sip,
            "response",
            json!({"to": "10.66.0.101:5060", "status": 200}),
        );
        push(
            &mut tl,
            2.7,
            Proto::Http,
            "request",
            json!({"client": "10.66.0.250:1", "path": "/stranger"}),
        );
        push(
            &mut tl,
            3.0,
            Proto::Dhcp,
            "sent",
            dhcp(A, "ACK", "10.66.0.101"),
        );
        push(
            &mut tl,
            3.5,
            Proto::Sip,
            "request",
            json!({"from": "10.66.0.101:5060", "method": "REGISTER"}),
        );
        tl
    }

    fn kinds(tl: &Timeline) -> Vec<(f64, String)> {
        tl.events
            .iter()
            .map(|e| {
                let what = e
                    .field("path")
                    .or_else(|| e.field("msg_type"))
                    .or_else(|| e.field("method"))
                    .or_else(|| e.field("status"))
                    .map(|v| v.to_string().trim_matches('"').to_string())
                    .unwrap_or_default();
                ((e.t * 10.0).round() / 10.0, what)
            })
            .collect()
    }

    #[test]
    fn each_phone_gets_its_dhcp_by_mac_and_its_traffic_by_the_address_leased_to_it_then() {
        let tl = session();
        let mut split = phone_timelines(&tl, &[A.to_string(), B.to_string()]);
        let (t0, a) = split.remove(A).expect("A was heard");
        assert_eq!(t0, 1.0);
        let want_a: Vec<(f64, String)> = [
            (0.0, "DISCOVER"),
            (0.1, "OFFER"),
            (0.6, "ACK"),
            (1.0, "/a"),
            (2.0, "ACK"),
            (2.5, "REGISTER"),
        ]
        .iter()
        .map(|(t, w)| (*t, w.to_string()))
        .collect();
        assert_eq!(kinds(&a), want_a);
        assert!(a.events.iter().enumerate().all(|(i, e)| e.index == i));

        let (t0, b) = split.remove(B).expect("B was heard");
        assert_eq!(t0, 1.5);
        let want_b: Vec<(f64, String)> = [
            (0.0, "DISCOVER"),
            (0.2, "ACK"),
            (0.6, "/b"),
            (1.0, "REGISTER"),
            (1.1, "200"),
        ]
        .iter()
        .map(|(t, w)| (*t, w.to_string()))
        .collect();
        assert_eq!(kinds(&b), want_b);
    }

    #[test]
    fn a_phone_that_never_asked_has_no_timeline() {
        let tl = session();
        let nobody = "00:1b:4f:42:00:09".to_string();
        let split = phone_timelines(&tl, &[nobody.clone(), A.to_string()]);
        assert!(!split.contains_key(&nobody));
        assert_eq!(split.len(), 1);
        assert!(phone_timelines(&Timeline::default(), &[A.to_string()]).is_empty());
    }

    #[test]
    fn peers_are_read_from_each_protocols_own_field() {
        let mut tl = Timeline::default();
        push(
            &mut tl,
            0.0,
            Proto::Sip,
            "peer_response",
            json!({"to": "10.0.0.5:5060"}),
        );
        push(
            &mut tl,
            0.0,
            Proto::Dhcp,
            "malformed",
            json!({"from": "10.0.0.6:68"}),
        );
        push(
            &mut tl,
            0.0,
            Proto::Sip,
            "silence",
            json!({"from": "10.0.0.7:5060"}),
        );
        push(&mut tl, 0.0, Proto::Dut, "exited", json!({"status": "0"}));
        let peers: Vec<Option<String>> = tl.events.iter().map(peer_ip).collect();
        assert_eq!(
            peers,
            vec![
                Some("10.0.0.5".into()),
                Some("10.0.0.6".into()),
                Some("10.0.0.7".into()),
                None
            ]
        );
    }
}
