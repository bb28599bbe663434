//! Evidence: the links between the timeline, the capture and the verdicts.
//!
//! Owns: (1) linking each timeline event to the capture frames that carried it, after the
//! capture is closed — by protocol identity, never by position, because the kernel numbers
//! frames independently of the servers; (2) the DHCP messages only the capture heard (tagged
//! for a voice VLAN no server listens on), which join the timeline from here; (3) after
//! judging, the packet comments (`OPT242-003-01 pass: GET /fw/96xxupgrade.txt`) that put each
//! verdict on the frames it rests on.
//!
//! Never: captures (that is the lab), decides a verdict (that is the judge), changes an event
//! that already has frames: the loopback lab's shells hand events over with the frames their
//! tap wrote, so linking here only fills what the servers could not know.
//!
//! How an event finds its frames (each within [`BEFORE`] seconds before the event and
//! [`AFTER`] after it, the nearest earlier unused frame first, so retransmissions of the same
//! bytes each get their own):
//! - DHCP (RFC 2131 §2): direction (to or from port 67), `xid`, client MAC (`chaddr`) and
//!   message type (option 53), and the 802.1Q VLAN when the event names one; `dropped` shares
//!   the frame of its `received`; `ignored` by client MAC; `malformed` by length.
//! - SIP (RFC 3261 §18) over UDP: the exact UDP payload (the event's `raw`) and the peer's
//!   address; `silence` shares the frame of the request it left unanswered; `malformed` by
//!   length. Over TCP: the phone's connection, its bytes put back in order and cut into
//!   messages by Content-Length (§18.3), the message with the event's bytes. Over TLS: a
//!   `tls_handshake` as for HTTP below, and a message by its connection and the segment
//!   times, since the bytes are sealed: the phone's data segments before the server's
//!   stamp back to the registrar's latest, the registrar's after the phone's latest.
//! - HTTP (RFC 9112 over RFC 9293): the TCP connection, identified by the client's
//!   `ip:port` and its segments since the client's latest SYN (at most [`CONNECTION_SPAN`]
//!   seconds back); a `request` gets the client's data segments, a `response` the server's
//!   (those still leaving after the server recorded it included, up to the client's next
//!   request), a `closed` the FIN and RST segments, a `tls_handshake` both sides' records up
//!   to the client's Finished or alert (RFC 8446 §4; found by walking the client's TLS
//!   records, `stream`).
//!
//! Times: frame timestamps are wall-clock, events are measured on the monotonic clock from
//! the scenario's origin; `origin_wall` (read at the same moment as the origin) relates them.
//! Both clocks run at the same rate (the kernel slews them alike); only a step of the wall
//! clock (someone setting it) moves one against the other, so the offset is checked again
//! when linking, and a capture whose clock moved by more than [`CLOCK_STEP`] is linked but
//! not used for times.
//!
//! Event times from the wire: a server stamps an event when its task gets to it, which on a
//! busy machine is later than the frame by however long the task waited for a core (an HTTP
//! response has been seen stamped after the SIP 200 it caused). Once linked, an event's `t`
//! becomes the capture time of the frame that stands for it, and the server's stamp stays in
//! `server_at`. Which frame, per protocol:
//! - DHCP and SIP over UDP: the one datagram that carried the message, both directions (a
//!   `dropped` or `silence` shares the frame of the message it is about).
//! - HTTP `request`: the client's last data segment up to the event, the one that completed
//!   the request head — the server could not act before it arrived.
//! - HTTP `response`: the server's last data segment of it. The server records a response
//!   once it has all gone out (bytes counted, `complete` known), so its time is when the
//!   phone had the whole of it, not when the first byte left; a phone acting on a file acts
//!   after its last byte.
//! - HTTP `closed`: the connection's first FIN or RST, when the side `by` names closed it
//!   (the server records the close once both sides are done, which may be much later).
//! - `tls_handshake`: the last segment of the handshake (the phone's Finished, or its alert).
//! - HTTP `fault` keeps the server's stamp: its frames are the response so far, the context
//!   of the fault, not the fault itself (a `resume` after a stall has no frame of its own).
//! - `dut` events have no frame and keep the server's stamp.
//!
//! The timeline is sorted again afterwards. Events of two time bases still compare rightly:
//! the capture time of a frame is never later than the server's stamp of the same event,
//! and events without frames are the harness's own marks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddrV4;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use pc_capture::frame::{ParsedTcp, ParsedUdp, parse_tcp, parse_udp};
use serde_json::Value;

use crate::judge::CheckResult;
use crate::timeline::{Event, Proto, TimeBase, Timeline};

/// How long before an event its frame may have been captured, in lab seconds: a server
/// records what it received after the datagram arrived and what it sent once it is out.
pub const BEFORE: f64 = 2.0;
/// How long after an event its frame may carry a timestamp (clock granularity and the
/// moment the two clocks were read).
pub const AFTER: f64 = 0.05;

/// How far the wall clock may have moved against the monotonic clock between the scenario's
/// origin and linking, in seconds, before capture times are no longer trusted to be on the
/// scenario's clock. Far above the microseconds that reading the two clocks one after the
/// other costs; far below any window a check measures.
pub const CLOCK_STEP: f64 = 0.002;

/// How far back an HTTP event looks for the segments of its connection, in lab seconds: a
/// client port used again after longer than this is taken for another connection, whose
/// segments stay out. Longer than any stall the file server is told to make.
pub const CONNECTION_SPAN: f64 = 60.0;

/// DHCP server port (RFC 2131 §4.1).
const DHCP_SERVER_PORT: u16 = 67;
/// DHCP Message Type option (RFC 2132 §9.6).
const DHCP_MESSAGE_TYPE: u8 = 53;

/// One frame of the capture, decoded as far as linking needs.
struct Wire {
    number: u64,
    /// Seconds since the scenario's origin.
    t: f64,
    packet: Packet,
}

enum Packet {
    Udp(ParsedUdp),
    Tcp(ParsedTcp),
    Other,
}

/// What a DHCP datagram says about itself.
struct DhcpId {
    xid: u32,
    mac: String,
    msg_type: String,
}

fn dhcp_id(payload: &[u8]) -> Option<DhcpId> {
    let m = pc_dhcp::wire::walk(payload).ok()?;
    let msg_type = m
        .all(DHCP_MESSAGE_TYPE)
        .next()
        .and_then(|o| o.value.first().copied())
        .map_or_else(
            || "NONE".to_owned(),
            |code| pc_dhcp::MessageType::from_code(code).name(),
        );
    Some(DhcpId {
        xid: m.header.xid,
        mac: pc_dhcp::format_mac(&m.header.mac()),
        msg_type,
    })
}

/// The scenario's origin on both clocks: events are stamped from `mono`, frames carry wall
/// time, and `wall` was read at the same moment as `mono`.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    /// The origin on the monotonic clock.
    pub mono: Instant,
    /// The origin on the wall clock.
    pub wall: SystemTime,
}

impl Origin {
    /// Reads both clocks now, as close together as the machine allows: a read whose two
    /// wall-clock samples lie more than a few microseconds apart (the thread lost its core
    /// between them) is tried again, since the difference would shift every capture time.
    pub fn now() -> Origin {
        let mut best: Option<(Duration, Origin)> = None;
        for _ in 0..8 {
            let before = SystemTime::now();
            let mono = Instant::now();
            let after = SystemTime::now();
            let spread = after.duration_since(before).unwrap_or_default();
            let wall = before + spread / 2;
            if best.is_none_or(|(s, _)| spread < s) {
                best = Some((spread, Origin { mono, wall }));
            }
            if spread < TIGHT_READ {
                break;
            }
        }
        best.map_or_else(
            || Origin {
                mono: Instant::now(),
                wall: SystemTime::now(),
            },
            |(_, o)| o,
        )
    }

    /// Both clocks `by` later.
    pub fn shifted(self, by: Duration) -> Origin {
        Origin {
            mono: self.mono + by,
            wall: self.wall + by,
        }
    }

    /// Seconds the wall clock moved against the monotonic one since this origin was read
    /// (positive: set forward).
    pub fn wall_drift(&self) -> f64 {
        let now = Origin::now();
        let mono = now.mono.saturating_duration_since(self.mono).as_secs_f64();
        let wall = match now.wall.duration_since(self.wall) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        };
        wall - mono
    }
}

/// A read of both clocks this tight is taken at once.
const TIGHT_READ: Duration = Duration::from_micros(20);

/// How the events of a linked timeline got their times.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Linked {
    /// Events now at the capture time of their frame.
    pub from_capture: usize,
    /// Events with frames that kept the server's stamp (a `fault`, or a clock that moved).
    pub kept_server: usize,
    /// How far the wall clock moved against the monotonic one during the scenario.
    pub wall_drift_s: f64,
}

/// Read the closed capture at `path`, add the DHCP messages only it heard (tagged for a VLAN
/// not in `served`), link every event without frames to the frames that carried it, and put
/// every event that crossed the wire at its frame's capture time (module header).
pub fn link_capture(
    path: &Path,
    origin: Origin,
    served: &[u16],
    timeline: &mut Timeline,
) -> Result<Linked, pc_capture::CaptureError> {
    let stored = pc_capture::pcapng::read_frames(path)?;
    let wall_drift_s = origin.wall_drift();
    let origin = origin
        .wall
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let mut wires: Vec<Wire> = stored
        .frames
        .iter()
        .map(|f| Wire {
            number: f.number,
            t: f.timestamp.as_secs_f64() - origin,
            packet: match (parse_udp(&f.data), parse_tcp(&f.data)) {
                (Some(u), _) => Packet::Udp(u),
                (None, Some(t)) => Packet::Tcp(t),
                (None, None) => Packet::Other,
            },
        })
        .collect();
    tagged_dhcp(&wires, served, timeline);
    // Kernel timestamps are almost always in capture order; sorted, a time window is a slice.
    wires.sort_by(|a, b| a.t.total_cmp(&b.t));
    let frames = Frames::new(wires);
    link(&frames, timeline);
    let mut linked = Linked {
        wall_drift_s,
        ..Linked::default()
    };
    if wall_drift_s.abs() <= CLOCK_STEP {
        linked = retime(&frames, timeline);
        linked.wall_drift_s = wall_drift_s;
    } else {
        tracing::warn!(
            capture = %path.display(),
            drift_s = wall_drift_s,
            "the wall clock moved during the scenario: events keep the servers' times"
        );
        linked.kept_server = timeline
            .events
            .iter()
            .filter(|e| !e.frames.is_empty())
            .count();
    }
    Ok(linked)
}

/// Which of an event's frames stands for it, or `None` when the event keeps the server's
/// stamp (module header).
fn moment(e: &Event, frames: &[&Wire]) -> Option<f64> {
    let last = frames.iter().map(|w| w.t).reduce(f64::max);
    match (e.proto, e.kind.as_str()) {
        (Proto::Dut, _) | (Proto::Http, "fault") => None,
        (Proto::Http, "closed") => frames
            .iter()
            .filter(|w| matches!(&w.packet, Packet::Tcp(t) if t.flags.fin || t.flags.rst))
            .map(|w| w.t)
            .reduce(f64::min)
            .or(last),
        _ => last,
    }
}

/// Re-stamps every event that has frames with the capture time of the one that stands for
/// it, keeping the server's stamp in `server_at`, and sorts the timeline again.
fn retime(frames: &Frames, timeline: &mut Timeline) -> Linked {
    let mut linked = Linked::default();
    for e in &mut timeline.events {
        if e.frames.is_empty() || e.time_base == TimeBase::Capture {
            continue;
        }
        let carried: Vec<&Wire> = e.frames.iter().filter_map(|n| frames.get(*n)).collect();
        match moment(e, &carried) {
            Some(t) => {
                e.server_at = Some(e.t);
                e.t = t;
                e.time_base = TimeBase::Capture;
                linked.from_capture += 1;
            }
            None => linked.kept_server += 1,
        }
    }
    timeline.sort_by_time();
    linked
}

/// The capture's frames, ordered by time, with the TCP segments of each endpoint indexed,
/// so linking stays proportional to the events even when a phone floods the lab.
struct Frames {
    wires: Vec<Wire>,
    /// TCP endpoint → positions in `wires` of the segments it sent or received.
    tcp: HashMap<SocketAddrV4, Vec<usize>>,
    /// Frame number → position in `wires`.
    by_number: HashMap<u64, usize>,
}

impl Frames {
    fn new(wires: Vec<Wire>) -> Frames {
        let mut tcp: HashMap<SocketAddrV4, Vec<usize>> = HashMap::new();
        for (i, w) in wires.iter().enumerate() {
            if let Packet::Tcp(t) = &w.packet {
                tcp.entry(t.src).or_default().push(i);
                if t.dst != t.src {
                    tcp.entry(t.dst).or_default().push(i);
                }
            }
        }
        let by_number = wires
            .iter()
            .enumerate()
            .map(|(i, w)| (w.number, i))
            .collect();
        Frames {
            wires,
            tcp,
            by_number,
        }
    }

    /// The frame numbered `number`.
    fn get(&self, number: u64) -> Option<&Wire> {
        self.by_number.get(&number).and_then(|&i| self.wires.get(i))
    }

    /// The frames within the time bounds of `e`.
    fn around(&self, e: &Event) -> &[Wire] {
        let lo = self.wires.partition_point(|w| w.t < e.t - BEFORE);
        let hi = self.wires.partition_point(|w| w.t <= e.t + AFTER);
        self.wires.get(lo..hi.max(lo)).unwrap_or_default()
    }
}

/// DHCP messages the phone sent tagged with an 802.1Q VLAN that no server listens on (a voice
/// VLAN that is not there, so the phone must fall back): they join the timeline as `dhcp
/// received` events with `vlan` set, `heard_by = "capture"` and their frame, decoded by the
/// same server core as live ones.
fn tagged_dhcp(wires: &[Wire], served: &[u16], timeline: &mut Timeline) {
    // A server core used only as a decoder: what it would answer is thrown away.
    let mut decoder = pc_dhcp::server::DhcpServer::new(pc_dhcp::server::ServerConfig::default());
    for w in wires {
        let Packet::Udp(udp) = &w.packet else {
            continue;
        };
        let Some(vid) = udp.vlan else { continue };
        if served.contains(&vid) || udp.dst.port() != DHCP_SERVER_PORT {
            continue;
        }
        let now = crate::lower::real_time(w.t);
        for out in decoder.handle(now, *udp.src.ip(), Some(vid), &udp.payload) {
            if let pc_dhcp::server::Output::Event(ev @ pc_dhcp::Event::Received { .. }) = out {
                let (kind, mut fields) = crate::timeline::fields_of(&ev);
                // Declared in the event vocabulary, so checks may name these fields.
                let (_, heard) = crate::timeline::fields_of(&crate::vocab::CaptureOrigin {
                    vlan: vid,
                    heard_by: crate::vocab::HeardBy::Capture,
                });
                fields.extend(heard);
                let i = timeline.push_fields(w.t, Proto::Dhcp, kind, fields);
                if let Some(e) = timeline.events.get_mut(i) {
                    e.frames.push(w.number);
                    // No server heard it: the capture's time is its only one.
                    e.time_base = TimeBase::Capture;
                }
            }
        }
    }
}

/// Links every event that has no frames yet, in timeline order.
fn link(frames: &Frames, timeline: &mut Timeline) {
    let mut used: HashSet<u64> = timeline
        .events
        .iter()
        .flat_map(|e| e.frames.iter().copied())
        .collect();
    for i in 0..timeline.events.len() {
        let Some(e) = timeline.events.get(i) else {
            continue;
        };
        if !e.frames.is_empty() || e.proto == Proto::Dut {
            continue;
        }
        let earlier = timeline.events.get(..i).unwrap_or_default();
        let found = match e.proto {
            Proto::Dhcp => dhcp_frames(frames, &used, e, earlier),
            Proto::Sip => sip_frames(frames, &used, e, earlier),
            Proto::Http => http_frames(frames, &used, e),
            Proto::Dut => Vec::new(),
        };
        used.extend(found.iter().copied());
        if let Some(e) = timeline.events.get_mut(i) {
            e.frames = found;
        }
    }
}

fn text<'e>(e: &'e Event, field: &str) -> Option<&'e str> {
    e.field(field).and_then(Value::as_str)
}

fn number(e: &Event, field: &str) -> Option<u64> {
    e.field(field).and_then(Value::as_u64)
}

/// The nearest unused frame that `fits`: the latest at or before the event, else the first
/// after it, within the bounds.
fn nearest(
    frames: &Frames,
    used: &HashSet<u64>,
    e: &Event,
    fits: impl Fn(&Wire) -> bool,
) -> Vec<u64> {
    let window = frames.around(e);
    let split = window.partition_point(|w| w.t <= e.t);
    let (before, after) = window.split_at(split);
    let free = |w: &&Wire| !used.contains(&w.number) && fits(w);
    // A server records an event once its frame has passed, so the latest frame at or before
    // the event is the one; a frame just after it only when the two clocks disagree.
    before
        .iter()
        .rev()
        .find(free)
        .or_else(|| after.iter().find(free))
        .map(|w| vec![w.number])
        .unwrap_or_default()
}

/// The frames of the latest earlier event of `kind`, within [`BEFORE`] of `e`, that `same`
/// accepts (an event about the same message, like `dropped` after its `received`).
fn shared(earlier: &[Event], e: &Event, kind: &str, same: impl Fn(&Event) -> bool) -> Vec<u64> {
    earlier
        .iter()
        .rev()
        .take_while(|o| o.t >= e.t - BEFORE)
        .find(|o| o.kind == kind && same(o))
        .map(|o| o.frames.clone())
        .unwrap_or_default()
}

fn dhcp_frames(frames: &Frames, used: &HashSet<u64>, e: &Event, earlier: &[Event]) -> Vec<u64> {
    let vlan = number(e, "vlan").and_then(|v| u16::try_from(v).ok());
    let same_message = |w: &Wire, to_server: bool| -> Option<DhcpId> {
        let Packet::Udp(u) = &w.packet else {
            return None;
        };
        let port = if to_server {
            u.dst.port()
        } else {
            u.src.port()
        };
        if port != DHCP_SERVER_PORT || vlan.is_some_and(|v| u.vlan != Some(v)) {
            return None;
        }
        dhcp_id(&u.payload)
    };
    let is = |id: &DhcpId| {
        Some(u64::from(id.xid)) == number(e, "xid")
            && Some(id.mac.as_str()) == text(e, "client_mac")
            && Some(id.msg_type.as_str()) == text(e, "msg_type")
    };
    match e.kind.as_str() {
        "received" => nearest(frames, used, e, |w| {
            same_message(w, true).is_some_and(|id| is(&id))
        }),
        "sent" => nearest(frames, used, e, |w| {
            same_message(w, false).is_some_and(|id| is(&id))
        }),
        "dropped" => shared(earlier, e, "received", |o| {
            o.proto == Proto::Dhcp
                && ["xid", "client_mac", "msg_type"]
                    .iter()
                    .all(|f| o.field(f) == e.field(f))
        }),
        "ignored" => nearest(frames, used, e, |w| {
            same_message(w, true)
                .is_some_and(|id| text(e, "client_mac").is_none_or(|mac| mac == id.mac))
        }),
        "malformed" => nearest(frames, used, e, |w| match &w.packet {
            Packet::Udp(u) => {
                u.dst.port() == DHCP_SERVER_PORT && Some(u.payload.len() as u64) == number(e, "len")
            }
            _ => false,
        }),
        _ => Vec::new(),
    }
}

fn udp(w: &Wire) -> Option<&ParsedUdp> {
    match &w.packet {
        Packet::Udp(u) => Some(u),
        _ => None,
    }
}

fn sip_frames(frames: &Frames, used: &HashSet<u64>, e: &Event, earlier: &[Event]) -> Vec<u64> {
    let addr = |field: &str| text(e, field).and_then(|a| a.parse::<SocketAddrV4>().ok());
    let carries_raw = |u: &ParsedUdp| {
        text(e, "raw").is_some_and(|raw| String::from_utf8_lossy(&u.payload) == raw)
    };
    // Over a stream, when no datagram carried it: the phone's connection.
    let over_stream = |phone: Option<SocketAddrV4>, from_phone: bool| match (phone, text(e, "raw"))
    {
        (Some(phone), Some(raw)) => sip_stream_frames(frames, used, e, phone, from_phone, raw),
        _ => Vec::new(),
    };
    match e.kind.as_str() {
        "request" | "peer_response" => {
            let from = addr("from").or_else(|| addr("to"));
            let found = nearest(frames, used, e, |w| {
                udp(w).is_some_and(|u| from.is_none_or(|a| u.src == a) && carries_raw(u))
            });
            if found.is_empty() {
                over_stream(from, true)
            } else {
                found
            }
        }
        "response" => {
            let to = addr("to");
            let found = nearest(frames, used, e, |w| {
                udp(w).is_some_and(|u| to.is_none_or(|a| u.dst == a) && carries_raw(u))
            });
            if found.is_empty() {
                over_stream(to, false)
            } else {
                found
            }
        }
        "silence" => shared(earlier, e, "request", |o| {
            o.proto == Proto::Sip
                && ["from", "method", "cseq"]
                    .iter()
                    .all(|f| o.field(f) == e.field(f))
        }),
        // Over TLS: the handshake on the phone's connection, as for HTTPS.
        "tls_handshake" => addr("from")
            .map(|from| tls_handshake_frames(frames, used, e, from))
            .unwrap_or_default(),
        "malformed" => {
            let from = addr("from");
            nearest(frames, used, e, |w| {
                udp(w).is_some_and(|u| {
                    from.is_none_or(|a| u.src == a)
                        && Some(u.payload.len() as u64) == number(e, "len")
                })
            })
        }
        _ => Vec::new(),
    }
}

/// The frames of a SIP message that went over the phone's TCP or TLS connection
/// (RFC 3261 §18.3), in the direction `from_phone` says.
///
/// Over TCP the phone's (or the registrar's) bytes are put back in order and cut into
/// messages by Content-Length, as the registrar's framer cuts them; the message with the
/// event's bytes whose last segment is nearest the event (the latest at or before it,
/// else the first after) is the one, and that segment completed it. Over TLS the bytes
/// cannot be read: the message is found by its segments' times ([`sealed_message_frames`]).
fn sip_stream_frames(
    frames: &Frames,
    used: &HashSet<u64>,
    e: &Event,
    phone: SocketAddrV4,
    from_phone: bool,
    raw: &str,
) -> Vec<u64> {
    // The whole connection: a phone keeps one open for its refreshes, and framing must
    // start at the stream's beginning.
    let segs: Vec<(&Wire, &ParsedTcp)> = connection(frames, phone, e, f64::INFINITY, e.t + AFTER)
        .into_iter()
        .filter(|(_, t)| {
            !t.payload.is_empty()
                && (if from_phone {
                    t.src == phone
                } else {
                    t.dst == phone
                })
        })
        .collect();
    let stream = crate::stream::Stream::rebuild(
        &segs
            .iter()
            .map(|(w, t)| crate::stream::Segment {
                seq: t.seq,
                t: w.t,
                frame: w.number,
                payload: &t.payload,
            })
            .collect::<Vec<_>>(),
    );
    if is_tls(&stream.bytes) {
        return sealed_message_frames(frames, used, e, phone, from_phone);
    }
    let mut framer = pc_sip::framing::Framer::new();
    framer.push(&stream.bytes);
    let total = stream.bytes.len();
    // (completing segment, frames) of each message carrying the event's bytes.
    let mut candidates: Vec<(crate::stream::Mark, Vec<u64>)> = Vec::new();
    while let Some(Ok(message)) = framer.next_message() {
        let end = total - framer.pending();
        let start = end.saturating_sub(message.len());
        if String::from_utf8_lossy(&message) != raw {
            continue;
        }
        if let Some(mark) = stream.mark_for(end) {
            candidates.push((*mark, stream.frames_of(start, end)));
        }
    }
    let free: Vec<&(crate::stream::Mark, Vec<u64>)> = candidates
        .iter()
        .filter(|(m, _)| !used.contains(&m.frame))
        .collect();
    free.iter()
        .rev()
        .filter(|(m, _)| m.t >= e.t - BEFORE)
        .find(|(m, _)| m.t <= e.t)
        .or_else(|| free.iter().find(|(m, _)| m.t > e.t))
        .map(|(_, f)| f.clone())
        .unwrap_or_default()
}

/// A message sealed in TLS on the phone's connection, found by the segment times. What the
/// phone sent: its data segments that came before the server's stamp (a server records
/// what it read after it arrived), back to the registrar's latest segment before them.
/// What the registrar sent: its data segments after the phone's latest segment before the
/// stamp, up to the phone's next (the registrar records its answer as it hands it to TLS,
/// so the frames may follow the stamp). The last of them completed it.
fn sealed_message_frames(
    frames: &Frames,
    used: &HashSet<u64>,
    e: &Event,
    phone: SocketAddrV4,
    from_phone: bool,
) -> Vec<u64> {
    let data: Vec<(&Wire, &ParsedTcp)> = connection(frames, phone, e, BEFORE, e.t + AFTER)
        .into_iter()
        .filter(|(_, t)| !t.payload.is_empty())
        .collect();
    let mut out: Vec<u64> = Vec::new();
    if from_phone {
        for (w, t) in data.iter().rev().filter(|(w, _)| w.t <= e.t + CLOCK_READ) {
            if t.src == phone {
                if !used.contains(&w.number) {
                    out.push(w.number);
                }
            } else if !out.is_empty() {
                break;
            }
        }
        out.sort_unstable();
        return out;
    }
    let asked = data
        .iter()
        .filter(|(w, t)| t.src == phone && w.t <= e.t + CLOCK_READ)
        .map(|(w, _)| w.t)
        .fold(f64::NEG_INFINITY, f64::max);
    for (w, t) in data.iter().filter(|(w, _)| w.t > asked) {
        if t.dst == phone {
            if !used.contains(&w.number) {
                out.push(w.number);
            }
        } else if !out.is_empty() {
            break;
        }
    }
    out
}

/// How much later than a server's stamp the frame of what it read (or wrote) may be
/// stamped: the two clocks are read together to within microseconds ([`Origin::now`]), and
/// a phone may answer a challenge within a fraction of a millisecond, so the next
/// message's frame must stay out.
const CLOCK_READ: f64 = 0.000_05;

/// Whether a stream's bytes are TLS records rather than SIP text.
fn is_tls(bytes: &[u8]) -> bool {
    !crate::stream::tls_records(bytes).is_empty()
}

/// The segments of the TCP connection of `client` as `e` knew it: every segment to or from
/// the client's ip:port since its latest SYN before the event, at most `span` seconds
/// before it, and none after `until`. The ephemeral port names the connection; the SYN and
/// the lower bound keep a reused port's earlier connection out.
fn connection<'f>(
    frames: &'f Frames,
    client: SocketAddrV4,
    e: &Event,
    span: f64,
    until: f64,
) -> Vec<(&'f Wire, &'f ParsedTcp)> {
    let positions = frames
        .tcp
        .get(&client)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let all: Vec<(&Wire, &ParsedTcp)> = positions
        .iter()
        .filter_map(|i| {
            let w = frames.wires.get(*i)?;
            match &w.packet {
                Packet::Tcp(t) => Some((w, t)),
                _ => None,
            }
        })
        .collect();
    let opened = all
        .iter()
        .filter(|(w, t)| t.src == client && t.flags.syn && !t.flags.ack && w.t <= e.t + AFTER)
        .map(|(w, _)| w.t)
        .fold(e.t - span, f64::max);
    all.into_iter()
        .filter(|(w, _)| w.t >= opened && w.t <= until)
        .collect()
}

/// The frames of a TLS handshake on the connection of `client` (RFC 8446 §4, RFC 5246
/// §7.3): both sides' records up to the one that ended the client's part — its Finished, or
/// the alert it refused the server with. None when that end is not in the capture (a
/// handshake that timed out or failed on the server's side keeps the server's stamp).
fn tls_handshake_frames(
    frames: &Frames,
    used: &HashSet<u64>,
    e: &Event,
    client: SocketAddrV4,
) -> Vec<u64> {
    let segs: Vec<(&Wire, &ParsedTcp)> =
        connection(frames, client, e, CONNECTION_SPAN, e.t + AFTER)
            .into_iter()
            .filter(|(w, t)| !t.payload.is_empty() && !used.contains(&w.number))
            .collect();
    let from_client: Vec<crate::stream::Segment<'_>> = segs
        .iter()
        .filter(|(_, t)| t.src == client)
        .map(|(w, t)| crate::stream::Segment {
            seq: t.seq,
            t: w.t,
            frame: w.number,
            payload: &t.payload,
        })
        .collect();
    let stream = crate::stream::Stream::rebuild(&from_client);
    let records = crate::stream::tls_records(&stream.bytes);
    let Some(end) = crate::stream::client_handshake_end(&records) else {
        return Vec::new();
    };
    let Some(mark) = stream.mark_for(end.end) else {
        return Vec::new();
    };
    let mut out = stream.frames_of(0, end.end);
    out.extend(
        segs.iter()
            .filter(|(w, t)| t.dst == client && w.t <= mark.t)
            .map(|(w, _)| w.number),
    );
    out.sort_unstable();
    out.dedup();
    out
}

fn http_frames(frames: &Frames, used: &HashSet<u64>, e: &Event) -> Vec<u64> {
    let Some(client) = text(e, "client").and_then(|c| c.parse::<SocketAddrV4>().ok()) else {
        return Vec::new();
    };
    // A response may still be leaving when the server records it: the kernel sends what the
    // server handed it as the phone's window opens.
    let until = if e.kind == "response" {
        e.t + BEFORE
    } else {
        e.t + AFTER
    };
    let segments = connection(frames, client, e, CONNECTION_SPAN, until).into_iter();
    let mut picked: Vec<u64> = match e.kind.as_str() {
        "request" => segments
            .filter(|(w, t)| {
                t.src == client
                    && !t.payload.is_empty()
                    && w.t <= e.t + AFTER
                    && !used.contains(&w.number)
            })
            .map(|(w, _)| w.number)
            .collect(),
        "response" => {
            // The server's data, up to the client's next request on the connection (the next
            // exchange) or the server's FIN or RST.
            let mut out = Vec::new();
            for (w, t) in
                segments.filter(|(w, t)| !t.payload.is_empty() && !used.contains(&w.number))
            {
                if t.dst == client {
                    out.push(w.number);
                    if t.flags.fin || t.flags.rst {
                        break;
                    }
                } else if !out.is_empty() {
                    break;
                }
            }
            out
        }
        // A FIN may ride on the response's last data segment, already that response's: the
        // close shares it.
        "closed" => segments
            .filter(|(_, t)| t.flags.fin || t.flags.rst)
            .map(|(w, _)| w.number)
            .collect(),
        "tls_handshake" => tls_handshake_frames(frames, used, e, client),
        _ => Vec::new(),
    };
    picked.sort_unstable();
    picked
}

/// The packet comment a check puts on a frame: `OPT242-003-01 pass: GET /fw/x from …`.
fn comment(check: &CheckResult, event: Option<&Event>) -> String {
    match event {
        Some(e) => format!("{} {}: {}", check.id, check.verdict, e.summary()),
        None => format!("{} {}: {}", check.id, check.verdict, check.title),
    }
}

/// Whether a packet comment is one [`annotate`] wrote for one of `checks` (so annotating
/// again, after a new judging, replaces it).
fn is_verdict_of(checks: &[CheckResult], text: &str) -> bool {
    checks.iter().any(|c| {
        text.strip_prefix(c.id.as_str())
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|rest| rest.split_once(": "))
            .is_some_and(|(verdict, _)| !verdict.contains(' '))
    })
}

/// After judging: gives every frame a check result rests on a packet comment saying the
/// check's id, verdict and the event the frame carried, replacing the comments an earlier
/// judging wrote for the same checks. Returns the number of frames annotated.
pub fn annotate(
    path: &Path,
    checks: &[CheckResult],
    timeline: &Timeline,
) -> Result<u64, pc_capture::CaptureError> {
    let mut comments: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for c in checks {
        let mut done = HashSet::new();
        for i in &c.events {
            let Some(e) = timeline.events.get(*i) else {
                continue;
            };
            for f in &e.frames {
                if done.insert(*f) {
                    comments.entry(*f).or_default().push(comment(c, Some(e)));
                }
            }
        }
        // Frames a result names without an event of this timeline (an older saved run).
        for f in &c.frames {
            if done.insert(*f) {
                comments.entry(*f).or_default().push(comment(c, None));
            }
        }
    }
    pc_capture::pcapng::annotate_in_place(path, &comments, &|text| !is_verdict_of(checks, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pc_capture::frame::{TcpFlags, TcpSegment, UdpFrame, tcp_frame, udp_frame};
    use pc_capture::pcapng::{PcapngWriter, read_frames};
    use serde_json::json;
    use std::time::Duration;

    const MAC: [u8; 6] = [0x00, 0x1b, 0x4f, 0x27, 0x31, 0x2a];

    fn addr(s: &str) -> SocketAddrV4 {
        s.parse().expect("address")
    }

    fn dhcp(op: u8, xid: u32, msg_type: u8) -> Vec<u8> {
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&MAC);
        let header = pc_dhcp::wire::Header {
            op,
            htype: 1,
            hlen: 6,
            xid,
            chaddr,
            ..Default::default()
        };
        pc_dhcp::wire::encode(&header, &[(DHCP_MESSAGE_TYPE, vec![msg_type])])
    }

    fn udp(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
        udp_frame(&UdpFrame {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            vlan: None,
            src: addr(src),
            dst: addr(dst),
            payload,
        })
    }

    fn tcp(src: &str, dst: &str, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
        tcp_frame(&TcpSegment {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            vlan: None,
            src: addr(src),
            dst: addr(dst),
            seq: 1,
            ack: 1,
            flags,
            window: 64240,
            payload,
        })
    }

    fn event(tl: &mut Timeline, t: f64, proto: Proto, kind: &str, fields: Value) {
        let Value::Object(fields) = fields else {
            panic!("fields are an object")
        };
        tl.push_fields(t, proto, kind.into(), fields);
    }

    const REGISTER: &str = "REGISTER sip:lab SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\n\r\n";
    const OK: &str = "SIP/2.0 200 OK\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\n\r\n";

    /// A capture of a DHCP retransmission, a SIP exchange and an HTTP fetch, with a frame of
    /// unrelated traffic in between, as the kernel would number it.
    fn capture(path: &Path, origin: SystemTime) {
        let at = |s: f64| origin + Duration::from_secs_f64(s);
        let mut w = PcapngWriter::create(path, "veth", "test").expect("create");
        let frames: Vec<(f64, Vec<u8>)> = vec![
            (
                0.10,
                udp("0.0.0.0:68", "255.255.255.255:67", &dhcp(1, 7, 1)),
            ),
            (
                0.50,
                udp("0.0.0.0:68", "255.255.255.255:67", &dhcp(1, 7, 1)),
            ),
            (
                0.51,
                udp("10.0.0.1:67", "255.255.255.255:68", &dhcp(2, 7, 2)),
            ),
            (0.60, udp("10.0.0.9:999", "10.0.0.1:53", b"unrelated")),
            (
                1.00,
                udp("10.0.0.100:5060", "10.0.0.1:5060", REGISTER.as_bytes()),
            ),
            (1.01, udp("10.0.0.1:5060", "10.0.0.100:5060", OK.as_bytes())),
            (
                2.00,
                tcp("10.0.0.100:40000", "10.0.0.1:80", TcpFlags::SYN, b""),
            ),
            (
                2.01,
                tcp(
                    "10.0.0.100:40000",
                    "10.0.0.1:80",
                    TcpFlags::PSH_ACK,
                    b"GET /x HTTP/1.1\r\n\r\n",
                ),
            ),
            (
                2.02,
                tcp(
                    "10.0.0.1:80",
                    "10.0.0.100:40000",
                    TcpFlags::PSH_ACK,
                    b"HTTP/1.1 200 OK\r\n\r\n",
                ),
            ),
            (
                2.03,
                tcp("10.0.0.1:80", "10.0.0.100:40000", TcpFlags::FIN_ACK, b""),
            ),
        ];
        for (t, f) in frames {
            w.write(at(t), &f, None).expect("write");
        }
        w.finish().expect("finish");
    }

    fn sample_timeline() -> Timeline {
        let mut tl = Timeline::default();
        let discover = json!({"xid": 7, "client_mac": "00:1b:4f:27:31:2a", "msg_type": "DISCOVER"});
        event(&mut tl, 0.101, Proto::Dhcp, "received", discover.clone());
        event(&mut tl, 0.501, Proto::Dhcp, "received", discover.clone());
        event(&mut tl, 0.5015, Proto::Dhcp, "dropped", discover);
        event(
            &mut tl,
            0.511,
            Proto::Dhcp,
            "sent",
            json!({"xid": 7, "client_mac": "00:1b:4f:27:31:2a", "msg_type": "OFFER"}),
        );
        event(
            &mut tl,
            1.001,
            Proto::Sip,
            "request",
            json!({"from": "10.0.0.100:5060", "method": "REGISTER", "cseq": 1, "raw": REGISTER}),
        );
        event(
            &mut tl,
            1.011,
            Proto::Sip,
            "response",
            json!({"to": "10.0.0.100:5060", "method": "REGISTER", "cseq": 1, "raw": OK}),
        );
        event(
            &mut tl,
            2.011,
            Proto::Http,
            "request",
            json!({"client": "10.0.0.100:40000", "method": "GET", "path": "/x"}),
        );
        event(
            &mut tl,
            2.021,
            Proto::Http,
            "response",
            json!({"client": "10.0.0.100:40000"}),
        );
        event(
            &mut tl,
            2.031,
            Proto::Http,
            "closed",
            json!({"client": "10.0.0.100:40000"}),
        );
        event(&mut tl, 2.5, Proto::Dut, "exited", json!({}));
        tl
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("phonecert-evidence-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join(name)
    }

    #[test]
    fn events_find_their_frames_by_protocol_identity() {
        let path = temp("link.pcapng");
        let origin = Origin::now();
        capture(&path, origin.wall);
        let mut tl = sample_timeline();
        link_capture(&path, origin, &[], &mut tl).expect("link");
        let frames: Vec<(&str, Vec<u64>)> = tl
            .events
            .iter()
            .map(|e| (e.kind.as_str(), e.frames.clone()))
            .collect();
        assert_eq!(
            frames,
            vec![
                // Each DISCOVER its own frame, though their bytes are the same.
                ("received", vec![1]),
                ("received", vec![2]),
                ("dropped", vec![2]),
                ("sent", vec![3]),
                ("request", vec![5]),
                ("response", vec![6]),
                ("request", vec![8]),
                ("response", vec![9]),
                ("closed", vec![10]),
                ("exited", vec![]),
            ]
        );
        std::fs::remove_file(&path).ok();
    }

    /// On a busy machine a server task stamps its event late: here the file server stamps
    /// its response after the SIP 200 the phone's REGISTER (sent once it had the file) drew.
    /// Linked, every event is at its frame's time, in the order of the wire.
    #[test]
    fn linked_events_take_their_frames_capture_time_and_keep_the_servers_stamp() {
        let path = temp("retime.pcapng");
        let origin = Origin::now();
        let mut w = PcapngWriter::create(&path, "veth", "retime").expect("create");
        let (client, server) = ("10.0.0.100:40000", "10.0.0.1:80");
        let frames: Vec<(f64, Vec<u8>)> = vec![
            (
                1.000,
                tcp(
                    client,
                    server,
                    TcpFlags::PSH_ACK,
                    b"GET /46xxsettings.txt HTTP/1.1\r\n",
                ),
            ),
            (
                1.001,
                tcp(client, server, TcpFlags::PSH_ACK, b"Host: x\r\n\r\n"),
            ),
            (
                1.010,
                tcp(
                    server,
                    client,
                    TcpFlags::PSH_ACK,
                    b"HTTP/1.1 200 OK\r\n\r\n",
                ),
            ),
            (
                1.011,
                tcp(
                    server,
                    client,
                    TcpFlags::PSH_ACK,
                    b"SET SIP_CONTROLLER_LIST x",
                ),
            ),
            (1.012, tcp(server, client, TcpFlags::FIN_ACK, b"")),
            (1.013, tcp(client, server, TcpFlags::FIN_ACK, b"")),
            (
                1.020,
                udp("10.0.0.100:5060", "10.0.0.1:5060", REGISTER.as_bytes()),
            ),
            (
                1.021,
                udp("10.0.0.1:5060", "10.0.0.100:5060", OK.as_bytes()),
            ),
        ];
        for (t, f) in frames {
            w.write(origin.wall + Duration::from_secs_f64(t), &f, None)
                .expect("write");
        }
        w.finish().expect("finish");
        let mut tl = Timeline::default();
        let c = json!({"client": client});
        event(&mut tl, 1.0015, Proto::Http, "request", c.clone());
        event(
            &mut tl,
            1.0204,
            Proto::Sip,
            "request",
            json!({"from": "10.0.0.100:5060", "raw": REGISTER}),
        );
        event(
            &mut tl,
            1.0212,
            Proto::Sip,
            "response",
            json!({"to": "10.0.0.100:5060", "raw": OK}),
        );
        // Stamped 0.6 ms after the SIP 200 it caused.
        event(&mut tl, 1.0218, Proto::Http, "response", c.clone());
        event(&mut tl, 1.0219, Proto::Http, "closed", c.clone());
        event(&mut tl, 1.5, Proto::Dut, "stopping", json!({}));
        let linked = link_capture(&path, origin, &[], &mut tl).expect("link");
        assert_eq!(linked.from_capture, 5);
        assert!(linked.wall_drift_s.abs() < CLOCK_STEP, "{linked:?}");
        /// Index, protocol, kind, time, server stamp, time base.
        type Seen<'a> = (usize, Proto, &'a str, f64, Option<f64>, TimeBase);
        let seen: Vec<Seen<'_>> = tl
            .events
            .iter()
            .map(|e| {
                let ms = |t: f64| (t * 10_000.0).round() / 10_000.0;
                (
                    e.index,
                    e.proto,
                    e.kind.as_str(),
                    ms(e.t),
                    e.server_at.map(ms),
                    e.time_base,
                )
            })
            .collect();
        use TimeBase::{Capture, Server};
        assert_eq!(
            seen,
            vec![
                // The segment that completed the request head.
                (0, Proto::Http, "request", 1.001, Some(1.0015), Capture),
                // The last byte of the file, before the REGISTER it caused.
                (1, Proto::Http, "response", 1.011, Some(1.0218), Capture),
                // The server closed it with its FIN.
                (2, Proto::Http, "closed", 1.012, Some(1.0219), Capture),
                (3, Proto::Sip, "request", 1.02, Some(1.0204), Capture),
                (4, Proto::Sip, "response", 1.021, Some(1.0212), Capture),
                (5, Proto::Dut, "stopping", 1.5, None, Server),
            ]
        );
        std::fs::remove_file(&path).ok();
    }

    /// The kernel still sends what the server handed it after the server recorded the
    /// response: its last segment is the response's time; the client's next request on the
    /// connection and what follows belong to the next exchange, and a FIN riding on the
    /// last data closes the connection too.
    #[test]
    fn a_response_ends_with_its_last_segment_even_after_the_servers_stamp() {
        let path = temp("trailing.pcapng");
        let origin = Origin::now();
        let mut w = PcapngWriter::create(&path, "veth", "trailing").expect("create");
        let (client, server) = ("10.0.0.100:40001", "10.0.0.1:80");
        let get = b"GET /fw/x.bin HTTP/1.1\r\n\r\n".as_slice();
        let data_fin = TcpFlags {
            fin: true,
            ..TcpFlags::PSH_ACK
        };
        let frames: Vec<(f64, Vec<u8>)> = vec![
            (1.000, tcp(client, server, TcpFlags::SYN, b"")),
            (1.001, tcp(client, server, TcpFlags::PSH_ACK, get)),
            (
                1.002,
                tcp(
                    server,
                    client,
                    TcpFlags::PSH_ACK,
                    b"HTTP/1.1 200 OK\r\n\r\nAAAA",
                ),
            ),
            (1.300, tcp(server, client, TcpFlags::PSH_ACK, b"BBBB")),
            (1.301, tcp(client, server, TcpFlags::PSH_ACK, get)),
            (
                1.302,
                tcp(server, client, data_fin, b"HTTP/1.1 200 OK\r\n\r\nCCCC"),
            ),
            (1.303, tcp(client, server, TcpFlags::FIN_ACK, b"")),
        ];
        for (t, f) in frames {
            w.write(origin.wall + Duration::from_secs_f64(t), &f, None)
                .expect("write");
        }
        w.finish().expect("finish");
        let mut tl = Timeline::default();
        let c = json!({"client": client});
        for (t, kind) in [
            (1.0012, "request"),
            (1.0100, "response"),
            (1.3012, "request"),
            (1.3025, "response"),
            (1.3040, "closed"),
        ] {
            event(&mut tl, t, Proto::Http, kind, c.clone());
        }
        link_capture(&path, origin, &[], &mut tl).expect("link");
        let seen: Vec<(&str, Vec<u64>, f64)> = tl
            .events
            .iter()
            .map(|e| {
                (
                    e.kind.as_str(),
                    e.frames.clone(),
                    (e.t * 1000.0).round() / 1000.0,
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("request", vec![2], 1.001),
                ("response", vec![3, 4], 1.3),
                ("request", vec![5], 1.301),
                ("response", vec![6], 1.302),
                ("closed", vec![6, 7], 1.302),
            ]
        );
        std::fs::remove_file(&path).ok();
    }

    fn tls_record(kind: u8, len: u16) -> Vec<u8> {
        let mut r = vec![kind, 3, 3];
        r.extend_from_slice(&len.to_be_bytes());
        r.extend(std::iter::repeat_n(0x5a, usize::from(len)));
        r
    }

    /// TLS 1.3 lets a client send its request right behind its Finished, before the server's
    /// task has recorded the handshake: linked, the handshake is at the client's Finished
    /// and the request after it, as a check anchored on the handshake needs.
    #[test]
    fn a_tls_handshake_ends_at_the_clients_finished_before_the_request_it_carried() {
        let path = temp("tls.pcapng");
        let origin = Origin::now();
        let mut w = PcapngWriter::create(&path, "veth", "tls").expect("create");
        let (client, server) = ("10.0.0.100:40002", "10.0.0.1:443");
        let seg = |src: &str, dst: &str, seq: u32, payload: &[u8]| {
            tcp_frame(&TcpSegment {
                src_mac: [2, 0, 0, 0, 0, 1],
                dst_mac: [2, 0, 0, 0, 0, 2],
                vlan: None,
                src: addr(src),
                dst: addr(dst),
                seq,
                ack: 1,
                flags: TcpFlags::PSH_ACK,
                window: 64240,
                payload,
            })
        };
        let hello = tls_record(22, 200);
        let finished = [tls_record(20, 1), tls_record(23, 53)].concat();
        let request = tls_record(23, 120);
        let frames: Vec<(f64, Vec<u8>)> = vec![
            (1.000, tcp(client, server, TcpFlags::SYN, b"")),
            (1.001, seg(client, server, 1, &hello)),
            (1.003, seg(server, client, 1, &tls_record(22, 900))),
            (
                1.005,
                seg(client, server, 1 + hello.len() as u32, &finished),
            ),
            (
                1.006,
                seg(
                    client,
                    server,
                    1 + (hello.len() + finished.len()) as u32,
                    &request,
                ),
            ),
            (1.008, seg(server, client, 906, &tls_record(23, 400))),
        ];
        for (t, f) in frames {
            w.write(origin.wall + Duration::from_secs_f64(t), &f, None)
                .expect("write");
        }
        w.finish().expect("finish");
        let mut tl = Timeline::default();
        let c = json!({"client": client});
        // The handshake's task ran late: recorded after the request's frame.
        for (t, kind) in [
            (1.0065, "tls_handshake"),
            (1.0068, "request"),
            (1.0085, "response"),
        ] {
            event(&mut tl, t, Proto::Http, kind, c.clone());
        }
        link_capture(&path, origin, &[], &mut tl).expect("link");
        let seen: Vec<(&str, Vec<u64>, f64)> = tl
            .events
            .iter()
            .map(|e| {
                (
                    e.kind.as_str(),
                    e.frames.clone(),
                    (e.t * 1000.0).round() / 1000.0,
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("tls_handshake", vec![2, 3, 4], 1.005),
                ("request", vec![5], 1.006),
                ("response", vec![6], 1.008),
            ]
        );
        std::fs::remove_file(&path).ok();
    }

    /// SIP over TCP: the phone's bytes put back in order and cut by Content-Length; each
    /// REGISTER is at the segment that completed it, the same bytes sent twice each find
    /// their own, and the registrar's answer is found in its direction.
    #[test]
    fn sip_over_tcp_messages_are_cut_from_the_stream_and_end_at_their_last_segment() {
        let path = temp("sip-tcp.pcapng");
        let origin = Origin::now();
        let mut w = PcapngWriter::create(&path, "veth", "sip-tcp").expect("create");
        let (phone, registrar) = ("10.0.0.100:41000", "10.0.0.1:5060");
        let reg = "REGISTER sip:lab SIP/2.0\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
        let ok = "SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
        let seg = |src: &str, dst: &str, seq: u32, payload: &[u8]| {
            tcp_frame(&TcpSegment {
                src_mac: [2, 0, 0, 0, 0, 1],
                dst_mac: [2, 0, 0, 0, 0, 2],
                vlan: None,
                src: addr(src),
                dst: addr(dst),
                seq,
                ack: 1,
                flags: TcpFlags::PSH_ACK,
                window: 64240,
                payload,
            })
        };
        let r = reg.as_bytes();
        let n = r.len() as u32;
        let frames: Vec<(f64, Vec<u8>)> = vec![
            (1.000, tcp(phone, registrar, TcpFlags::SYN, b"")),
            (1.001, seg(phone, registrar, 1, &r[..20])),
            (1.002, seg(phone, registrar, 21, &r[20..])),
            // The same REGISTER again, then the answer.
            (1.500, seg(phone, registrar, 1 + n, r)),
            (1.501, seg(registrar, phone, 1, ok.as_bytes())),
        ];
        for (t, f) in frames {
            w.write(origin.wall + Duration::from_secs_f64(t), &f, None)
                .expect("write");
        }
        w.finish().expect("finish");
        let mut tl = Timeline::default();
        event(
            &mut tl,
            1.0031,
            Proto::Sip,
            "request",
            json!({"from": phone, "transport": "tcp", "raw": reg}),
        );
        event(
            &mut tl,
            1.5012,
            Proto::Sip,
            "request",
            json!({"from": phone, "transport": "tcp", "raw": reg}),
        );
        event(
            &mut tl,
            1.5019,
            Proto::Sip,
            "response",
            json!({"to": phone, "raw": ok}),
        );
        link_capture(&path, origin, &[], &mut tl).expect("link");
        let seen: Vec<(Vec<u64>, f64)> = tl
            .events
            .iter()
            .map(|e| (e.frames.clone(), (e.t * 1000.0).round() / 1000.0))
            .collect();
        assert_eq!(
            seen,
            vec![(vec![2, 3], 1.002), (vec![4], 1.5), (vec![5], 1.501)]
        );
        std::fs::remove_file(&path).ok();
    }

    /// SIP inside TLS cannot be read: a challenge answered within a fraction of a
    /// millisecond still gets each message its own segment — the phone's before the
    /// registrar's stamp, the registrar's after the phone's (it records its answer as it
    /// hands it to TLS, so its frame may follow the stamp).
    #[test]
    fn sip_inside_tls_is_found_by_its_segments_times() {
        let path = temp("sip-tls.pcapng");
        let origin = Origin::now();
        let mut w = PcapngWriter::create(&path, "veth", "sip-tls").expect("create");
        let (phone, registrar) = ("10.0.0.100:41001", "10.0.0.1:5061");
        let seg = |src: &str, dst: &str, seq: u32, payload: &[u8]| {
            tcp_frame(&TcpSegment {
                src_mac: [2, 0, 0, 0, 0, 1],
                dst_mac: [2, 0, 0, 0, 0, 2],
                vlan: None,
                src: addr(src),
                dst: addr(dst),
                seq,
                ack: 1,
                flags: TcpFlags::PSH_ACK,
                window: 64240,
                payload,
            })
        };
        let rec = tls_record(23, 100);
        let n = rec.len() as u32;
        let frames: Vec<(f64, Vec<u8>)> = vec![
            (1.0000, tcp(phone, registrar, TcpFlags::SYN, b"")),
            // The registrar's session ticket after the handshake: no answer to anything.
            (1.0050, seg(registrar, phone, 1, &rec)),
            (1.0100, seg(phone, registrar, 1, &rec)),
            (1.0112, seg(registrar, phone, 1 + n, &rec)),
            (1.0115, seg(phone, registrar, 1 + n, &rec)),
            (1.0122, seg(registrar, phone, 1 + 2 * n, &rec)),
        ];
        for (t, f) in frames {
            w.write(origin.wall + Duration::from_secs_f64(t), &f, None)
                .expect("write");
        }
        w.finish().expect("finish");
        let mut tl = Timeline::default();
        let req = json!({"from": phone, "transport": "tls", "raw": "REGISTER"});
        let resp = json!({"to": phone, "raw": "SIP/2.0 401"});
        event(&mut tl, 1.0101, Proto::Sip, "request", req.clone());
        event(&mut tl, 1.0111, Proto::Sip, "response", resp.clone());
        event(&mut tl, 1.0116, Proto::Sip, "request", req);
        event(&mut tl, 1.0121, Proto::Sip, "response", resp);
        link_capture(&path, origin, &[], &mut tl).expect("link");
        let linked: Vec<Vec<u64>> = tl.events.iter().map(|e| e.frames.clone()).collect();
        assert_eq!(linked, vec![vec![3], vec![4], vec![5], vec![6]]);
        std::fs::remove_file(&path).ok();
    }

    /// A fault's frames are the response so far; the fault itself happened when the server
    /// says (a `resume` after a stall comes long after its last frame).
    #[test]
    fn a_fault_keeps_the_servers_stamp_though_it_carries_frames() {
        let path = temp("fault.pcapng");
        let origin = Origin::now();
        capture(&path, origin.wall);
        let mut tl = Timeline::default();
        event(
            &mut tl,
            2.011,
            Proto::Http,
            "request",
            json!({"client": "10.0.0.100:40000"}),
        );
        event(
            &mut tl,
            9.0,
            Proto::Http,
            "fault",
            json!({"client": "10.0.0.100:40000", "fault": "resume"}),
        );
        tl.events[1].frames = vec![9];
        link_capture(&path, origin, &[], &mut tl).expect("link");
        assert_eq!(tl.events[1].kind, "fault");
        assert_eq!(
            (tl.events[1].t, tl.events[1].time_base),
            (9.0, TimeBase::Server)
        );
        assert_eq!(tl.events[1].server_at, None);
        assert_eq!(tl.events[0].time_base, TimeBase::Capture);
        std::fs::remove_file(&path).ok();
    }

    /// A wall clock set during the scenario puts the capture's times on another clock than
    /// the servers': the frames are still linked, the times stay the servers'.
    #[test]
    fn a_wall_clock_that_moved_during_the_scenario_keeps_the_servers_times() {
        let path = temp("stepped.pcapng");
        let now = Origin::now();
        // The monotonic origin 5 s before the wall one: the wall clock was set back 5 s.
        let Some(mono) = now.mono.checked_sub(Duration::from_secs(5)) else {
            return;
        };
        let origin = Origin {
            mono,
            wall: now.wall,
        };
        capture(&path, origin.wall);
        let mut tl = sample_timeline();
        let linked = link_capture(&path, origin, &[], &mut tl).expect("link");
        assert!(linked.wall_drift_s < -4.9, "{linked:?}");
        assert_eq!(linked.from_capture, 0);
        assert_eq!(tl.events[4].frames, vec![5]);
        assert_eq!(
            (tl.events[4].t, tl.events[4].time_base),
            (1.001, TimeBase::Server)
        );
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn the_two_clocks_are_read_together() {
        let o = Origin::now();
        assert!(o.wall_drift().abs() < CLOCK_STEP, "{}", o.wall_drift());
        let later = o.shifted(Duration::from_secs(3));
        assert_eq!(later.mono - o.mono, Duration::from_secs(3));
        assert_eq!(
            later.wall.duration_since(o.wall).ok(),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn frames_outside_the_time_bound_are_not_linked() {
        let path = temp("bound.pcapng");
        let origin = Origin::now();
        capture(&path, origin.wall);
        let mut tl = Timeline::default();
        // The same SIP bytes, but recorded long after the frame: another datagram.
        event(
            &mut tl,
            1.0 + BEFORE + 1.0,
            Proto::Sip,
            "request",
            json!({"from": "10.0.0.100:5060", "raw": REGISTER}),
        );
        // Known frames are kept as they are.
        event(
            &mut tl,
            0.101,
            Proto::Dhcp,
            "received",
            json!({"xid": 7, "client_mac": "00:1b:4f:27:31:2a", "msg_type": "DISCOVER"}),
        );
        tl.events[0].frames = vec![4];
        link_capture(&path, origin, &[], &mut tl).expect("link");
        assert_eq!(tl.events[0].frames, vec![4]);
        assert!(tl.events[1].frames.is_empty(), "{:?}", tl.events[1]);
        std::fs::remove_file(&path).ok();
    }

    /// A client port used again long after: the earlier connection's response and FIN,
    /// never linked to an event, stay out of the later connection's events.
    #[test]
    fn a_reused_client_port_keeps_its_earlier_connection_out_of_every_http_event() {
        let path = temp("reused-port.pcapng");
        let origin = Origin::now();
        let mut w = PcapngWriter::create(&path, "veth", "reuse").expect("create");
        let (client, server) = ("10.0.0.100:40000", "10.0.0.1:80");
        let get = b"GET /x HTTP/1.1\r\n\r\n".as_slice();
        let ok = b"HTTP/1.1 200 OK\r\n\r\n".as_slice();
        let later = CONNECTION_SPAN + 10.0;
        let frames: Vec<(f64, Vec<u8>)> = vec![
            (1.00, tcp(client, server, TcpFlags::PSH_ACK, get)),
            (1.01, tcp(server, client, TcpFlags::PSH_ACK, ok)),
            (1.02, tcp(server, client, TcpFlags::FIN_ACK, b"")),
            (later, tcp(client, server, TcpFlags::PSH_ACK, get)),
            (later + 0.01, tcp(server, client, TcpFlags::PSH_ACK, ok)),
            (later + 0.02, tcp(server, client, TcpFlags::FIN_ACK, b"")),
        ];
        for (t, f) in frames {
            w.write(origin.wall + Duration::from_secs_f64(t), &f, None)
                .expect("write");
        }
        w.finish().expect("finish");
        let mut tl = Timeline::default();
        for (dt, kind) in [(0.001, "request"), (0.011, "response"), (0.021, "closed")] {
            event(
                &mut tl,
                later + dt,
                Proto::Http,
                kind,
                json!({"client": client}),
            );
        }
        link_capture(&path, origin, &[], &mut tl).expect("link");
        let linked: Vec<Vec<u64>> = tl.events.iter().map(|e| e.frames.clone()).collect();
        assert_eq!(linked, vec![vec![4], vec![5], vec![6]]);
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn a_flood_of_identical_garbage_links_one_frame_per_event() {
        let path = temp("flood.pcapng");
        let origin = Origin::now();
        let mut w = PcapngWriter::create(&path, "veth", "flood").expect("create");
        let mut tl = Timeline::default();
        let n = 5_000u32;
        for i in 0..n {
            let t = f64::from(i) * 0.001;
            w.write(
                origin.wall + Duration::from_secs_f64(t),
                &udp("10.0.0.100:5060", "10.0.0.1:5060", b"garbage!"),
                None,
            )
            .expect("write");
            event(
                &mut tl,
                t + 0.0001,
                Proto::Sip,
                "malformed",
                json!({"from": "10.0.0.100:5060", "len": 8, "error": "not sip"}),
            );
        }
        w.finish().expect("finish");
        link_capture(&path, origin, &[], &mut tl).expect("link");
        let wrong: Vec<(usize, &[u64])> = tl
            .events
            .iter()
            .filter(|e| e.frames != [e.index as u64 + 1])
            .map(|e| (e.index, e.frames.as_slice()))
            .take(5)
            .collect();
        assert!(wrong.is_empty(), "events and their frames: {wrong:?}");
        std::fs::remove_file(&path).ok();
    }

    fn result(id: &str, verdict: crate::judge::Verdict, events: Vec<usize>) -> CheckResult {
        CheckResult {
            id: id.into(),
            location: "x.toml:3".into(),
            title: "t".into(),
            requirement: "r".into(),
            level: crate::scenario::Level::Must,
            verdict,
            expected: String::new(),
            observed: String::new(),
            violation: None,
            events,
            frames: Vec::new(),
            at_s: None,
            time_base: None,
            settled: true,
        }
    }

    #[test]
    fn verdicts_become_packet_comments_and_a_new_judging_replaces_them() {
        use crate::judge::Verdict;
        let path = temp("annotate.pcapng");
        let origin = Origin::now();
        capture(&path, origin.wall);
        let mut tl = sample_timeline();
        link_capture(&path, origin, &[], &mut tl).expect("link");
        let checks = vec![
            result("S-1-01", Verdict::Fail, vec![0]),
            result("S-1-02", Verdict::Pass, vec![0, 6]),
        ];
        assert_eq!(annotate(&path, &checks, &tl).expect("annotate"), 2);
        let checks = vec![
            result("S-1-01", Verdict::Pass, vec![0]),
            result("S-1-02", Verdict::Pass, vec![6]),
        ];
        assert_eq!(annotate(&path, &checks, &tl).expect("annotate again"), 2);
        let stored = read_frames(&path).expect("read");
        assert_eq!(
            stored.frames[0].comments,
            vec!["S-1-01 pass: DHCPDISCOVER from 00:1b:4f:27:31:2a"]
        );
        assert_eq!(
            stored.frames[7].comments,
            vec!["S-1-02 pass: GET /x from 10.0.0.100:40000"]
        );
        assert!(stored.frames[1].comments.is_empty());
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn only_verdict_comments_of_these_checks_are_replaced() {
        let checks = vec![result("S-1-01", crate::judge::Verdict::Pass, vec![])];
        assert!(is_verdict_of(&checks, "S-1-01 fail: DHCPDISCOVER from x"));
        assert!(is_verdict_of(&checks, "S-1-01 not_exercised: t"));
        assert!(!is_verdict_of(&checks, "S-1-011 pass: x"));
        assert!(!is_verdict_of(&checks, "S-1-01 was seen here: x"));
        assert!(!is_verdict_of(&checks, "written by the capture"));
    }
}
