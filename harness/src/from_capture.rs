//! Judging a capture taken anywhere: `phonecert judge --capture FILE.pcapng SCENARIO`.
//!
//! Owns: rebuilding a timeline from the frames of a pcapng file — what the phone sent, as
//! our servers would have recorded it — the lab variables the capture shows (or that the
//! user gives), and the rule saying which checks a capture can judge.
//!
//! Never: captures, or writes into a run folder; decides a verdict itself (the judge does,
//! over the rebuilt timeline, exactly as over a recorded one).
//!
//! How the phone's messages become events, with the workspace's own code, so fields are
//! named and filled as in a run:
//! - DHCP (RFC 2131): every datagram to port 67 goes through a fresh `pc-dhcp` server core,
//!   whose `received` (or `malformed`) event is kept; its replies are not. Between a relay
//!   agent and the server (port 67 to port 67, RFC 2131 §4.1) the op field tells a relayed
//!   request (kept, with its `relay` path) from a reply to the agent (a `sent` to `relay`).
//! - SIP over UDP (RFC 3261 §18): every datagram to a SIP server endpoint (one the phone
//!   sent a request line to) goes through a `pc-sip` registrar configured from the scenario,
//!   one per endpoint, numbered as controllers by port; its `request`, `peer_response` and
//!   `malformed` events are kept, with `controller` and `server` as the engine adds them.
//! - HTTP (RFC 9112 over RFC 9293): each TCP connection's client bytes, in sequence order
//!   (retransmitted segments once), are parsed with httparse into `request` events.
//!
//! - The servers' DHCP replies and SIP responses, as they were on the wire, become `sent`
//!   and `response` events: what the phone was answered, whoever answered it.
//!
//! What a capture cannot judge: what only a server knew about itself (silences, faults,
//! drops it was told to make; HTTP responses; `auth`: whether a digest matched a nonce it
//! issued; a SIP response being a `retransmission`; DHCP `rules`, `delay_ms`, `max_size`;
//! HTTP `conn` numbering and `findings`), and checks anchored on or relating to such
//! checks. They come out `skip`, saying why, never `pass`.
//!
//! Times: the timeline starts at the first frame, and every event is at the capture time of
//! its frame (time base `capture`); a run's own capture starts a few milliseconds after the
//! run's origin, which windows measured from the start absorb.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pc_capture::frame::{ParsedTcp, ParsedUdp, parse_tcp, parse_udp};

use crate::judge::{self, CheckResult, Verdict};
use crate::scenario::vars::{KNOWN, Vars};
use crate::scenario::{Check, Kind, Scenario};
use crate::timeline::{Proto, Timeline};
use crate::vocab::SipOrigin;

/// The event kinds a capture shows as our servers would have recorded them: what the phone
/// sent, and the servers' DHCP replies and SIP responses as they were on the wire (what the
/// phone was answered, whoever answered it).
const WIRE_KINDS: [(Proto, &str); 8] = [
    (Proto::Dhcp, "received"),
    (Proto::Dhcp, "malformed"),
    (Proto::Dhcp, "sent"),
    (Proto::Http, "request"),
    (Proto::Sip, "request"),
    (Proto::Sip, "peer_response"),
    (Proto::Sip, "malformed"),
    (Proto::Sip, "response"),
];

/// Fields of those events that only the server that answered could fill, per protocol.
const SERVER_FIELDS: [(Proto, &str); 7] = [
    (Proto::Sip, "auth"),
    (Proto::Sip, "retransmission"),
    (Proto::Http, "conn"),
    (Proto::Http, "findings"),
    (Proto::Dhcp, "rules"),
    (Proto::Dhcp, "delay_ms"),
    (Proto::Dhcp, "max_size"),
];

/// DHCP ports (RFC 2131 §4.1).
const DHCP_SERVER_PORT: u16 = 67;
const DHCP_CLIENT_PORT: u16 = 68;

/// A capture that cannot be judged.
#[derive(Debug, thiserror::Error)]
pub enum FromCaptureError {
    /// Not a pcapng file, or cut short.
    #[error("{path} is not a readable pcapng capture: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        reason: String,
    },
    /// A pcapng file without a single packet.
    #[error("{path} holds no packets")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A `--var` that is not `NAME=VALUE` with a known name.
    #[error("--var `{given}`: {why}")]
    BadVar {
        /// As given.
        given: String,
        /// What is wrong.
        why: String,
    },
}

/// A timeline rebuilt from a capture, with what judging it needs.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    /// The phone's events.
    pub timeline: Timeline,
    /// Lab variables: derived from the capture, then overridden by `--var`.
    pub vars: Vars,
    /// Phone seconds per capture second.
    pub time_scale: f64,
    /// Frames in the file.
    pub frames: usize,
    /// How each variable was found, for the reader.
    pub notes: Vec<String>,
    /// Protocols the capture carries in a form not decoded here (SIP over TCP, anything over
    /// TLS), with what was seen: checks on their events are not judged.
    pub undecoded: Vec<(Proto, String)>,
}

/// One frame, decoded as far as rebuilding needs.
struct Wire {
    number: u64,
    t: f64,
    udp: Option<ParsedUdp>,
    tcp: Option<ParsedTcp>,
}

/// Reads `path` and rebuilds the phone's side of `sc`'s timeline. `profile` gives the
/// `${profile.NAME}` variables; `vars` (`NAME=VALUE`) override what the capture shows;
/// `time_scale` overrides the section comment's.
pub fn rebuild(
    path: &Path,
    sc: &Scenario,
    profile: &crate::profile::Profile,
    vars: &[String],
    time_scale: Option<f64>,
) -> Result<Rebuilt, FromCaptureError> {
    let overrides = parse_vars(vars)?;
    let stored =
        pc_capture::pcapng::read_frames(path).map_err(|e| FromCaptureError::Unreadable {
            path: path.to_owned(),
            reason: why_unreadable(path, &e),
        })?;
    let origin = stored
        .frames
        .iter()
        .map(|f| f.timestamp)
        .min()
        .ok_or_else(|| FromCaptureError::Empty {
            path: path.to_owned(),
        })?;
    let mut wires: Vec<Wire> = stored
        .frames
        .iter()
        .map(|f| Wire {
            number: f.number,
            t: f.timestamp.saturating_sub(origin).as_secs_f64(),
            udp: parse_udp(&f.data),
            tcp: parse_tcp(&f.data),
        })
        .collect();
    wires.sort_by(|a, b| a.t.total_cmp(&b.t).then(a.number.cmp(&b.number)));
    let comment = stored.section_comments.join("; ");
    let mut notes = Vec::new();

    // Lab variables as the capture shows them.
    let mut found: BTreeMap<&'static str, String> = BTreeMap::new();
    // The DHCP server: the server identifier (option 54) of the first reply, else the
    // reply's source. Behind a relay agent a request also leaves port 67 (the agent's) and a
    // reply reaches the phone from the agent's address, so neither source alone is the server.
    let server_ip = wires
        .iter()
        .filter_map(|w| w.udp.as_ref())
        .filter(|u| u.src.port() == DHCP_SERVER_PORT)
        .find_map(|u| {
            let m = pc_dhcp::wire::walk(&u.payload).ok()?;
            (m.header.op == 2).then(|| {
                m.concatenated(54)
                    .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
                    .map_or(*u.src.ip(), Ipv4Addr::from)
            })
        });
    let sip_servers = sip_endpoints(&wires, &overrides);
    let http_server = http_connections(&wires).first().map(|c| c.server);
    let server_ip = server_ip
        .or_else(|| http_server.map(|s| *s.ip()))
        .or_else(|| sip_servers.first().map(|s| *s.0.ip()));
    if let Some(ip) = server_ip {
        found.insert("server_ip", ip.to_string());
        let o = ip.octets();
        // phonecert's labs keep the dead server at .254 of the server's /24.
        found.insert("dead_ip", Ipv4Addr::new(o[0], o[1], o[2], 254).to_string());
    }
    if let Some(s) = http_server {
        found.insert("http_port", s.port().to_string());
    }
    for (s, n) in &sip_servers {
        if let Some(name) = SIP_PORT_VARS.get(n - 1) {
            found.insert(name, s.port().to_string());
        }
    }
    // The phone's MAC as it gives it in DHCP (chaddr): the frame's own source MAC may be a
    // relay's, or synthesised.
    if let Some(mac) = wires
        .iter()
        .filter_map(|w| w.udp.as_ref())
        .filter(|u| u.dst.port() == DHCP_SERVER_PORT)
        .find_map(|u| pc_dhcp::wire::walk(&u.payload).ok())
        .map(|m| pc_dhcp::format_mac(&m.header.mac()))
    {
        found.insert("phone_mac_hex", mac.replace(':', ""));
        found.insert("phone_mac", mac);
    }
    found.insert("sip_domain", sc.spec.sip.domain.clone());
    for (k, v) in &found {
        if !overrides.contains_key(k) {
            notes.push(format!("{k} = {v} (from the capture)"));
        }
    }
    let mut from_profile = crate::scenario::vars::Vars::new();
    profile.add_vars(&mut from_profile);
    for (k, v) in from_profile {
        if !overrides.contains_key(k) {
            notes.push(format!("{k} = {v} (profile {})", profile.name));
        }
        found.insert(k, v);
    }
    let mut all = found;
    for (k, v) in overrides {
        notes.push(format!("{k} = {v} (--var)"));
        all.insert(k, v);
    }

    let scale = time_scale
        .or_else(|| scale_in(&comment))
        .unwrap_or(1.0)
        .max(1e-6);
    let mut undecoded = Vec::new();
    for c in http_connections(&wires) {
        let Some((_, _, _, first)) = c.data.iter().min_by_key(|d| d.0) else {
            continue;
        };
        if first.first() == Some(&0x16) {
            // A TLS handshake record (RFC 8446 §5.1): HTTPS or SIP over TLS, unreadable here.
            let what = format!("TLS to {}", c.server);
            undecoded.push((Proto::Http, what.clone()));
            undecoded.push((Proto::Sip, what));
        } else if is_sip_request(first) {
            undecoded.push((Proto::Sip, format!("SIP over TCP to {}", c.server)));
        }
    }
    undecoded.dedup();
    let mut timeline = Timeline::default();
    rebuild_dhcp(&wires, all.get("server_ip"), sc, &mut timeline);
    rebuild_sip(&wires, &sip_servers, sc, &comment, &mut timeline);
    rebuild_http(&wires, &mut timeline);
    Ok(Rebuilt {
        timeline,
        vars: all,
        time_scale: scale,
        frames: stored.frames.len(),
        notes,
        undecoded,
    })
}

/// What is wrong with a file the pcapng reader refused, from its first bytes.
fn why_unreadable(path: &Path, e: &pc_capture::CaptureError) -> String {
    use std::io::Read;
    let mut head = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    match &head[..n] {
        [] => "the file is empty".into(),
        // The Section Header Block's type (pcapng §4.1): a pcapng file cut short or damaged.
        [0x0a, 0x0d, 0x0d, 0x0a] => format!(
            "it starts as pcapng but is cut short or damaged ({e}); a capture still being \
             written, or copied before its end, reads once complete"
        ),
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d] => {
            "it is a classic pcap file, not pcapng: `editcap -F pcapng IN OUT` converts it".into()
        }
        other => format!(
            "it is not pcapng (a pcapng file starts with 0a 0d 0d 0a; this one with {})",
            other
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn parse_vars(given: &[String]) -> Result<BTreeMap<&'static str, String>, FromCaptureError> {
    let mut out = BTreeMap::new();
    for g in given {
        let bad = |why: String| FromCaptureError::BadVar {
            given: g.clone(),
            why,
        };
        let (name, value) = g
            .split_once('=')
            .ok_or_else(|| bad("not NAME=VALUE".into()))?;
        let known = KNOWN
            .iter()
            .find(|k| **k == name.trim())
            .ok_or_else(|| bad(format!("the variables are: {}", KNOWN.join(", "))))?;
        out.insert(*known, value.trim().to_string());
    }
    Ok(out)
}

/// `phone time = lab time × 10` in a phonecert capture's section comment.
fn scale_in(comment: &str) -> Option<f64> {
    let rest = comment.split("phone time = lab time × ").nth(1)?;
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse().ok()
}

/// `phonecert run <run-id> scenario <id>` in a phonecert capture's section comment.
fn run_of(comment: &str) -> Option<(String, String)> {
    let rest = comment.split("phonecert run ").nth(1)?;
    let mut words = rest.split_whitespace();
    let run = words.next()?.to_string();
    (words.next()? == "scenario").then_some(())?;
    let id = words.next()?.to_string();
    Some((run, id))
}

fn push(
    timeline: &mut Timeline,
    t: f64,
    proto: Proto,
    event: &impl serde::Serialize,
    frames: Vec<u64>,
    extra: Option<&serde_json::Map<String, serde_json::Value>>,
) {
    let (kind, mut fields) = crate::timeline::fields_of(event);
    if let Some(extra) = extra {
        fields.extend(extra.clone());
    }
    let i = timeline.push_fields(t, proto, kind, fields);
    if let Some(e) = timeline.events.get_mut(i) {
        e.frames = frames;
        // Every event rebuilt here is at the capture time of its frame.
        e.time_base = crate::timeline::TimeBase::Capture;
    }
}

fn rebuild_dhcp(
    wires: &[Wire],
    server_ip: Option<&String>,
    sc: &Scenario,
    timeline: &mut Timeline,
) {
    let mut config = pc_dhcp::server::ServerConfig::default();
    if let Some(ip) = server_ip.and_then(|s| s.parse().ok()) {
        config.server_ip = ip;
    }
    let mut core = pc_dhcp::server::DhcpServer::new(config);
    for w in wires {
        let Some(u) = &w.udp else { continue };
        // Between a relay agent and the server both ends use port 67 (RFC 2131 §4.1): the op
        // field tells a request from a reply there.
        let relayed = u.src.port() == DHCP_SERVER_PORT && u.dst.port() == DHCP_SERVER_PORT;
        let op = relayed.then(|| u.payload.first().copied()).flatten();
        if u.src.port() == DHCP_SERVER_PORT && u.dst.port() == DHCP_CLIENT_PORT || op == Some(2) {
            if let Some(e) = dhcp_sent(u, sc.spec.dhcp.sson) {
                push_dhcp(timeline, w, u, &e);
            }
            continue;
        }
        let from_client = u.src.port() == DHCP_CLIENT_PORT || op == Some(1);
        if u.dst.port() != DHCP_SERVER_PORT || !from_client {
            continue;
        }
        let now = Duration::from_secs_f64(w.t);
        for out in core.handle(now, *u.src.ip(), u.vlan, &u.payload) {
            if let pc_dhcp::server::Output::Event(
                e @ (pc_dhcp::Event::Received { .. } | pc_dhcp::Event::Malformed { .. }),
            ) = out
            {
                push_dhcp(timeline, w, u, &e);
            }
        }
    }
}

/// Adds a DHCP event of frame `w` to the timeline. A voice VLAN's server tags its events
/// with the VLAN, as the engine does.
fn push_dhcp(timeline: &mut Timeline, w: &Wire, u: &ParsedUdp, e: &pc_dhcp::Event) {
    let extra = u
        .vlan
        .map(|v| crate::timeline::fields_of(&crate::vocab::VlanOrigin { vlan: v }).1);
    push(
        timeline,
        w.t,
        Proto::Dhcp,
        e,
        vec![w.number],
        extra.as_ref(),
    );
}

/// A DHCP server's reply as it was on the wire (RFC 2131 §4.3), in the shape of the server's
/// `sent` event; what only the server knew (its rules, delays, option 57 fitting) stays
/// empty.
fn dhcp_sent(u: &ParsedUdp, sson: u8) -> Option<pc_dhcp::Event> {
    let m = pc_dhcp::wire::walk(&u.payload).ok()?;
    if m.header.op != 2 {
        return None;
    }
    let msg_type = m
        .all(53)
        .next()
        .and_then(|o| o.value.first().copied())
        .map_or_else(
            || "NONE".into(),
            |c| pc_dhcp::MessageType::from_code(c).name(),
        );
    let lease_time = m
        .all(51)
        .next()
        .and_then(|o| <[u8; 4]>::try_from(o.value.as_slice()).ok())
        .map(u32::from_be_bytes);
    Some(pc_dhcp::Event::Sent {
        xid: m.header.xid,
        client_mac: pc_dhcp::format_mac(&m.header.mac()),
        msg_type,
        yiaddr: m.header.yiaddr.to_string(),
        siaddr: m.header.siaddr.to_string(),
        dest: if u.dst.port() == DHCP_SERVER_PORT {
            "relay".into()
        } else if u.dst_mac == [0xff; 6] {
            "broadcast".into()
        } else {
            "unicast".into()
        },
        site_option: m
            .concatenated(sson)
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        lease_time,
        options: m.options.iter().map(pc_dhcp::WireOption::from).collect(),
        rules: Vec::new(),
        delay_ms: 0,
        max_size: None,
    })
}

/// A SIP server's response as it was on the wire, in the shape of the registrar's
/// `response` event (`retransmission` is the registrar's own knowledge: false here).
fn sip_sent(u: &ParsedUdp) -> Option<pc_sip::Event> {
    pc_sip::Message::parse(&u.payload).ok()?.status()?;
    match pc_sip::registrar::sent_event(&u.payload, SocketAddr::V4(u.dst), false) {
        pc_sip::Action::Event(e) => Some(e),
        _ => None,
    }
}

/// The lab variables naming the controllers' ports, in controller order.
const SIP_PORT_VARS: [&str; 4] = ["sip_port", "sip_port_2", "sip_port_3", "sip_port_4"];

/// Whether a datagram starts with a SIP request line (`METHOD uri SIP/2.0`).
fn is_sip_request(payload: &[u8]) -> bool {
    let line = payload.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let line = line.trim_end();
    line.ends_with(" SIP/2.0") && line.split(' ').count() == 3
}

/// The endpoints the phone sent SIP requests to, each with its controller number: the one
/// whose `sip_port*` variable (`--var`) names its port; else, when every port is one of
/// phonecert's labs' (5060 for the first controller, 5061 for the second …), by that; else
/// in the order of (port, address).
fn sip_endpoints(
    wires: &[Wire],
    overrides: &BTreeMap<&'static str, String>,
) -> Vec<(SocketAddrV4, usize)> {
    let mut eps: Vec<SocketAddrV4> = wires
        .iter()
        .filter_map(|w| w.udp.as_ref())
        .filter(|u| u.dst.port() != DHCP_SERVER_PORT && is_sip_request(&u.payload))
        .map(|u| u.dst)
        .collect();
    eps.sort_by_key(|e| (e.port(), *e.ip()));
    eps.dedup();
    let given = |ep: &SocketAddrV4| {
        SIP_PORT_VARS
            .iter()
            .position(|v| {
                overrides
                    .get(v)
                    .is_some_and(|p| *p == ep.port().to_string())
            })
            .map(|i| i + 1)
    };
    let lab_convention = eps.iter().all(|e| (5060..5064).contains(&e.port()))
        && eps.windows(2).all(|w| w[0].port() != w[1].port());
    eps.iter()
        .enumerate()
        .map(|(i, ep)| {
            let n = given(ep).unwrap_or(if lab_convention {
                usize::from(ep.port() - 5059)
            } else {
                i + 1
            });
            (*ep, n)
        })
        .collect()
}

fn rebuild_sip(
    wires: &[Wire],
    endpoints: &[(SocketAddrV4, usize)],
    sc: &Scenario,
    comment: &str,
    timeline: &mut Timeline,
) {
    // Our own capture names its run: the registrars are seeded as they were, so what they
    // note (retransmissions, findings) comes out the same.
    let seed = run_of(comment)
        .filter(|(_, id)| *id == sc.spec.id)
        .map_or(0, |(run, id)| crate::engine::seed_of(&run, &id));
    let mut cores: HashMap<SocketAddrV4, (usize, pc_sip::Registrar)> = endpoints
        .iter()
        .map(|(ep, n)| {
            let i = n - 1;
            (
                *ep,
                (i, crate::lower::registrar_for(sc, i, seed + i as u64)),
            )
        })
        .collect();
    for w in wires {
        let Some(u) = &w.udp else { continue };
        if let Some((i, _)) = cores.get(&u.src) {
            // The server's answer, as the phone received it.
            if let Some(e) = sip_sent(u) {
                let origin = crate::timeline::fields_of(&SipOrigin {
                    controller: *i + 1,
                    server: u.src.to_string(),
                })
                .1;
                push(timeline, w.t, Proto::Sip, &e, vec![w.number], Some(&origin));
            }
            continue;
        }
        let Some((i, core)) = cores.get_mut(&u.dst) else {
            continue;
        };
        let origin = crate::timeline::fields_of(&SipOrigin {
            controller: *i + 1,
            server: u.dst.to_string(),
        })
        .1;
        let now = Duration::from_secs_f64(w.t);
        for action in core.handle(
            now,
            SocketAddr::V4(u.src),
            pc_sip::Transport::Udp,
            &u.payload,
        ) {
            if let pc_sip::Action::Event(
                e @ (pc_sip::Event::Request { .. }
                | pc_sip::Event::Response { .. }
                | pc_sip::Event::Malformed { .. }),
            ) = action
            {
                push(timeline, w.t, Proto::Sip, &e, vec![w.number], Some(&origin));
            }
        }
    }
}

/// One TCP connection's client side.
struct Connection {
    client: SocketAddrV4,
    server: SocketAddrV4,
    /// Client data segments: (seq, time, frame, payload), in capture order.
    data: Vec<(u32, f64, u64, Vec<u8>)>,
}

/// TCP connections, each from the side that sent the first SYN, in the order they opened.
fn http_connections(wires: &[Wire]) -> Vec<Connection> {
    let mut conns: Vec<Connection> = Vec::new();
    for w in wires {
        let Some(t) = &w.tcp else { continue };
        if t.flags.syn && !t.flags.ack {
            // A client port used again is a new connection.
            conns.push(Connection {
                client: t.src,
                server: t.dst,
                data: Vec::new(),
            });
            continue;
        }
        if t.payload.is_empty() {
            continue;
        }
        if let Some(c) = conns
            .iter_mut()
            .rev()
            .find(|c| c.client == t.src && c.server == t.dst)
        {
            c.data.push((t.seq, w.t, w.number, t.payload.clone()));
        }
    }
    conns
}

fn rebuild_http(wires: &[Wire], timeline: &mut Timeline) {
    for (n, c) in http_connections(wires).into_iter().enumerate() {
        // In sequence order, each byte once: a retransmitted segment adds nothing new.
        let mut segs = c.data;
        segs.sort_by_key(|s| s.0);
        let Some(first_seq) = segs.first().map(|s| s.0) else {
            continue;
        };
        let mut stream: Vec<u8> = Vec::new();
        // (end offset in the stream, time, frame) of each segment that added bytes.
        let mut marks: Vec<(usize, f64, u64)> = Vec::new();
        for (seq, t, frame, payload) in segs {
            let offset = seq.wrapping_sub(first_seq) as usize;
            if offset + payload.len() <= stream.len() || offset > stream.len() {
                continue;
            }
            stream.extend_from_slice(&payload[stream.len() - offset..]);
            marks.push((stream.len(), t, frame));
        }
        let mut at = 0;
        while at < stream.len() {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            let Ok(httparse::Status::Complete(len)) = req.parse(&stream[at..]) else {
                break;
            };
            let hs: Vec<(String, String)> = req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).trim().to_string(),
                    )
                })
                .collect();
            let value = |name: &str| {
                hs.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            let body: usize = value("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let end = at + len;
            // The head is complete with the segment that brought its last byte.
            let head_done = marks.iter().find(|(e, _, _)| *e >= end);
            let t = head_done.map_or(0.0, |m| m.1);
            let frames: Vec<u64> = marks
                .iter()
                .filter(|(e, _, _)| *e > at && head_done.is_some_and(|h| *e <= h.0))
                .map(|m| m.2)
                .collect();
            let event = pc_http::shell::Event::Request {
                conn: n as u64 + 1,
                client: c.client.to_string(),
                server: c.server.to_string(),
                method: req.method.unwrap_or_default().to_string(),
                path: req.path.unwrap_or_default().to_string(),
                version: format!("HTTP/1.{}", req.version.unwrap_or(1)),
                user_agent: value("user-agent"),
                host: value("host"),
                headers: hs.clone(),
                findings: Vec::new(),
                // Only plain HTTP can be read back from a capture.
                tls: false,
            };
            push(timeline, t, Proto::Http, &event, frames, None);
            at = end.saturating_add(body);
        }
    }
}

/// Why `c` cannot be judged from a capture, or `None` when it can. `undecoded`: what the
/// capture carries that is not decoded ([`Rebuilt::undecoded`]).
pub fn not_judged(sc: &Scenario, c: &Check, undecoded: &[(Proto, String)]) -> Option<String> {
    not_judged_at(sc, c, undecoded, 0)
}

fn server_field(proto: Proto, field: &str) -> bool {
    SERVER_FIELDS
        .iter()
        .any(|(p, f)| *p == proto && (field == *f || field.starts_with(&format!("{f}."))))
}

fn not_judged_at(
    sc: &Scenario,
    c: &Check,
    undecoded: &[(Proto, String)],
    depth: usize,
) -> Option<String> {
    if depth > sc.checks.len() {
        return Some("its check references form a cycle".into());
    }
    let dep = |id: &str| -> Option<String> {
        let other = sc.check(id)?;
        not_judged_at(sc, other, undecoded, depth + 1)
            .map(|_| format!("it rests on {id}, which a capture cannot judge"))
    };
    match &c.kind {
        Kind::Order { first, then } => dep(first).or_else(|| dep(then)),
        Kind::Compare { left, right, .. } => {
            for v in [left, right] {
                if let Some(why) = dep(&v.check) {
                    return Some(why);
                }
                if let Some((sel, _)) = sc.check(&v.check).and_then(|o| o.kind.selection())
                    && server_field(sel.proto, &v.field)
                {
                    return Some(format!(
                        "it compares `{}`, which only the server that answered knows",
                        v.field
                    ));
                }
            }
            None
        }
        kind => {
            let (select, window) = kind.selection()?;
            if !WIRE_KINDS
                .iter()
                .any(|(p, k)| *p == select.proto && *k == select.event)
            {
                return Some(format!(
                    "it judges {} `{}` events, which only the server that made them records (a capture shows what was on the wire, not what a server decided)",
                    select.proto, select.event
                ));
            }
            if let Some((_, what)) = undecoded.iter().find(|(p, _)| *p == select.proto) {
                return Some(format!(
                    "the capture carries {what}, which is not decoded, so {} events may be missing",
                    select.proto
                ));
            }
            if let Some(m) = select
                .matchers
                .iter()
                .find(|m| server_field(select.proto, &m.field))
            {
                return Some(format!(
                    "it looks at `{}`, which only the server that answered knows",
                    m.field
                ));
            }
            window.after.as_deref().and_then(dep)
        }
    }
}

/// Judges `sc` over a rebuilt timeline: every check a capture can judge as the judge says,
/// the others `skip` with the reason.
pub fn judge(sc: &Scenario, rebuilt: &Rebuilt) -> Vec<CheckResult> {
    let ctx = judge::Ctx::new(&rebuilt.vars).scaled(rebuilt.time_scale);
    let mut results = judge::judge(sc, &rebuilt.timeline, ctx);
    for r in &mut results {
        let Some(c) = sc.check(&r.id) else { continue };
        if let Some(why) = not_judged(sc, c, &rebuilt.undecoded) {
            r.verdict = Verdict::Skip;
            r.violation = None;
            r.observed = format!("not judged from a capture: {why}");
            r.events.clear();
            r.frames.clear();
            r.at_s = None;
            r.time_base = None;
        }
    }
    results
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_section_comment_gives_run_and_time_scale() {
        let c = "phonecert run 20261130T1Z-1a scenario REG-002 (t): lab loopback; time scale: phone time = lab time × 10 (the phone's timers …)";
        assert_eq!(scale_in(c), Some(10.0));
        assert_eq!(
            run_of(c),
            Some(("20261130T1Z-1a".to_string(), "REG-002".to_string()))
        );
        assert_eq!(scale_in("tcpdump"), None);
        assert_eq!(run_of("tcpdump"), None);
    }

    #[test]
    fn sip_request_lines_are_told_from_other_datagrams() {
        assert!(is_sip_request(
            b"REGISTER sip:lab.test SIP/2.0\r\nVia: x\r\n"
        ));
        assert!(!is_sip_request(b"SIP/2.0 200 OK\r\n"));
        assert!(!is_sip_request(&[0x01, 0x02, 0xff]));
        assert!(!is_sip_request(b""));
    }

    #[test]
    fn vars_must_be_known_names() {
        assert!(parse_vars(&["server_ip=10.0.0.1".into()]).is_ok());
        let e = parse_vars(&["sever_ip=1".into()]).unwrap_err();
        assert!(e.to_string().contains("server_ip"), "{e}");
        assert!(parse_vars(&["server_ip".into()]).is_err());
    }

    fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("pc-fromcap-{name}-{}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn any_scenario() -> Scenario {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/downloads");
        let files = crate::scenario::discover(&[root]).unwrap();
        crate::scenario::load_file(&files[0]).unwrap()
    }

    #[test]
    fn bad_files_are_errors_naming_the_file_never_panics() {
        let sc = any_scenario();
        for (name, bytes) in [
            ("text", b"not a capture at all\n".to_vec()),
            ("empty", Vec::new()),
            ("pcap-magic", vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]),
        ] {
            let p = scratch(name, &bytes);
            let profile = crate::profile::Profile::named(crate::profile::DEFAULT).unwrap();
            let e = rebuild(&p, &sc, &profile, &[], None).unwrap_err();
            assert!(
                e.to_string().starts_with(&format!("{} ", p.display())),
                "{name}: {e}"
            );
            std::fs::remove_file(&p).ok();
        }
    }
}
