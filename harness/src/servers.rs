//! Starting and stopping a scenario's servers on the sockets a lab bound.
//!
//! Owns: spawning the DHCP server (and one more per voice VLAN, and the relay agent when
//! the scenario puts the phone behind one), the HTTP file server (and the HTTPS one when
//! the scenario has it) and every SIP controller over UDP, TCP and TLS as
//! the scenario configures it, each as a task of the current runtime reporting its events to
//! a channel the caller gives ([`EventSinks`]); and stopping them all.
//! Never: binds sockets (the lab does), turns the scenario into configurations (`lower`
//! does), or decides what becomes of the events — the engine and `phonecert serve` put them
//! in a timeline, a storm tallies them.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use pc_capture::Stamped;
use tokio::sync::{mpsc, watch};

use crate::error::HarnessError;
use crate::lab::{ServerSockets, VlanLeg};
use crate::lower;
use crate::scenario::Scenario;

/// Where one server sends its events.
pub type Sender<E> = mpsc::UnboundedSender<Stamped<E>>;

/// Where the servers' events go: a sender asked for as each server starts, so the caller may
/// give each server a channel of its own (and name the server in its events) or one channel
/// to all of a kind.
pub trait EventSinks {
    /// The DHCP server on the lab's untagged link.
    fn dhcp(&mut self) -> Sender<pc_dhcp::Event>;
    /// The DHCP server of voice VLAN `vlan`.
    fn vlan_dhcp(&mut self, vlan: u16) -> Sender<pc_dhcp::Event>;
    /// The file server, HTTP and HTTPS alike (its events say `tls`).
    fn http(&mut self) -> Sender<pc_http::shell::Event>;
    /// SIP controller `controller` (1-based, the scenario's order), listening on
    /// `listens_on`.
    fn sip(&mut self, controller: usize, listens_on: Option<SocketAddrV4>)
    -> Sender<pc_sip::Event>;
}

/// What the servers of a scenario start from.
pub struct ServerSetup<'a> {
    /// The scenario.
    pub sc: &'a Scenario,
    /// The lab's values for lowering.
    pub lab: lower::Lab<'a>,
    /// The sockets, bound in the lab.
    pub sockets: ServerSockets,
    /// The voice VLANs' legs.
    pub vlans: Vec<VlanLeg>,
    /// The relay agent's sockets on the router (the relayed topology); the agent runs when
    /// the scenario has `[dhcp.relay]` and the lab gave these.
    pub relay: Option<pc_dhcp::relay_shell::RelaySockets>,
    /// Where each SIP controller listens (named in its events).
    pub sip_eps: &'a [SocketAddrV4],
    /// Certificates are issued as of this time.
    pub now: time::OffsetDateTime,
    /// The registrars' nonces come from this seed (plus the controller's index).
    pub seed: u64,
    /// The only clients the DHCP servers answer; empty: any client.
    pub allowed_macs: Vec<[u8; 6]>,
    /// The capture's tap.
    pub tap: Arc<dyn pc_capture::Tap>,
}

impl std::fmt::Debug for ServerSetup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSetup")
            .field("scenario", &self.sc.spec.id)
            .field("sip_eps", &self.sip_eps)
            .field("seed", &self.seed)
            .field("allowed_macs", &self.allowed_macs)
            .finish_non_exhaustive()
    }
}

/// The running servers: the signal that stops them, and their tasks.
#[derive(Debug)]
pub struct Servers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Servers {
    /// Stops every server (each has 3 s); a server that ends with an error, or not in time,
    /// is logged, named by `scenario`.
    pub async fn stop(self, scenario: &str) {
        let _ = self.stop.send(true);
        for s in self.tasks {
            match tokio::time::timeout(Duration::from_secs(3), s).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!("a server of {scenario} ended with an error: {e}"),
                Ok(Err(e)) => tracing::warn!("a server task of {scenario} failed: {e}"),
                Err(_) => tracing::warn!("a server of {scenario} did not stop in time"),
            }
        }
    }
}

/// Starts the scenario's servers on their sockets — DHCP (and one per voice VLAN), the HTTP
/// file server, the HTTPS one when the scenario has it, and every SIP controller over UDP,
/// TCP and TLS as configured — each reporting its events to the sender `sinks` gives it.
pub fn start(setup: ServerSetup<'_>, sinks: &mut impl EventSinks) -> Result<Servers, HarnessError> {
    let ServerSetup {
        sc,
        lab,
        sockets,
        vlans,
        relay,
        sip_eps,
        now,
        seed,
        allowed_macs,
        tap,
    } = setup;
    let spec = &sc.spec;
    let configure = |why: String| HarnessError::Configure {
        scenario: spec.id.clone(),
        why,
    };
    let (stop_tx, stop_rx) = watch::channel(false);

    let dhcp_tx = sinks.dhcp();
    let dhcp_cfg = pc_dhcp::server::ServerConfig {
        allowed_macs: allowed_macs.clone(),
        ..lower::dhcp_config(sc, lab)
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
    let http_tx = sinks.http();
    let files = Arc::new(lower::file_table(sc, lab));
    let mut tasks = vec![
        tokio::spawn(pc_dhcp::shell::run(
            pc_dhcp::server::DhcpServer::new(dhcp_cfg),
            transport,
            tap.clone(),
            dhcp_tx,
            stop_rx.clone(),
        )),
        tokio::spawn(pc_http::shell::run(
            sockets.http,
            files.clone(),
            tap.clone(),
            http_tx.clone(),
            stop_rx.clone(),
        )),
    ];
    // The HTTPS file server: the same files on its own port, reporting to the same
    // timeline (its events say `tls`).
    if let (Some(listener), Some(setup), Some(ca)) = (sockets.https, &spec.https, lab.lab_ca) {
        let cert = pc_pki::ServerCertSpec {
            cert: setup.cert,
            key: setup.key,
        };
        let tls = ca
            .server_identity(cert, &[lab.addrs.server_ip.to_string()], now)
            .and_then(|id| id.server_config())
            .map_err(|e| configure(e.to_string()))?;
        tasks.push(tokio::spawn(pc_http::shell::run_tls(
            listener,
            tls,
            files,
            tap.clone(),
            http_tx,
            stop_rx.clone(),
        )));
    }
    // The relay agent in front of the phone, on the router between the two links.
    if let (Some(sockets), Some(cfg)) = (relay, lower::relay_config(sc, lab)) {
        tasks.push(tokio::spawn(pc_dhcp::relay_shell::run_relay(
            pc_dhcp::relay::RelayAgent::new(cfg),
            sockets,
            stop_rx.clone(),
        )));
    }
    // One more DHCP server per voice VLAN, its events tagged with the VLAN id.
    for leg in vlans {
        let Some(v) = spec.dhcp.vlan.iter().find(|v| v.id == leg.id) else {
            continue;
        };
        let tx = sinks.vlan_dhcp(leg.id);
        let cfg = pc_dhcp::server::ServerConfig {
            allowed_macs: allowed_macs.clone(),
            ..lower::vlan_dhcp_config(
                sc,
                v,
                lower::Lab {
                    addrs: &leg.addrs,
                    ..lab
                },
            )
        };
        tasks.push(tokio::spawn(pc_dhcp::vlan::run_vlan(
            pc_dhcp::server::DhcpServer::new(cfg),
            leg.raw,
            leg.id,
            tx,
            stop_rx.clone(),
        )));
    }
    // Controllers with TLS present a certificate made under the scenario's lab CA for the
    // server's address.
    let mut tcp_listeners = sockets.sip_tcp.into_iter();
    for (i, socket) in sockets.sip.into_iter().enumerate() {
        // A controller without TCP drops its listener: connections to it are refused.
        let tcp = tcp_listeners.next().filter(|_| lower::accepts_tcp(sc, i));
        let tls = match (sc.sip.controllers.get(i).and_then(|c| c.tls), lab.lab_ca) {
            (Some(cert), Some(ca)) => Some(
                ca.server_identity(cert, &[lab.addrs.server_ip.to_string()], now)
                    .and_then(|id| id.server_config())
                    .map_err(|e| configure(format!("sip controller {} over tls: {e}", i + 1)))?,
            ),
            _ => None,
        };
        let tx = sinks.sip(i + 1, sip_eps.get(i).copied());
        let registrar = lower::registrar_for(sc, i, seed.wrapping_add(i as u64));
        tasks.push(tokio::spawn(pc_sip::shell::run(
            registrar,
            pc_sip::shell::Listeners {
                udp: socket,
                tcp,
                tls,
            },
            tap.clone(),
            tx,
            stop_rx.clone(),
        )));
    }
    Ok(Servers {
        stop: stop_tx,
        tasks,
    })
}
