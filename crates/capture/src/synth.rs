//! Frame synthesis for the loopback lab: socket I/O in, Ethernet frames in a pcapng out.
//!
//! Owns: the [`Synthesizer`], a [`Tap`] that turns what the servers report (UDP datagrams,
//! TCP connections and their bytes) into Ethernet II / IPv4 / UDP and TCP frames — a 3-way
//! handshake on open, data segments of at most 1460 bytes with consistent sequence and
//! acknowledgement numbers, FIN/ACK exchange or RST on close — written to a [`PcapngWriter`]
//! with the wall-clock time of the call. MACs come from the IPv4 address
//! (`frame::mac_for_ipv4`), initial sequence numbers from the flow number, so two runs give
//! comparable files. Ports are rewritten through a port map so Wireshark dissects DHCP, HTTP
//! and SIP, which it recognises by well-known port only.
//! Never: touches a socket, invents traffic the servers did not report (no pure ACKs, no
//! retransmissions), or pretends to be a capture: the section comment says the frames were
//! synthesised (see [`section_comment`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddrV4;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use crate::CaptureError;
use crate::frame::{self, TcpFlags, TcpSegment, UdpFrame, mac_for_ipv4};
use crate::pcapng::PcapngWriter;
use crate::tap::{Tap, TcpFlow};

/// Largest TCP payload per synthesised segment (Ethernet MTU 1500 − 20 IPv4 − 20 TCP).
pub const TCP_MSS: usize = 1460;

/// Advertised TCP window in synthesised segments.
const WINDOW: u16 = 64240;

const DHCP_SERVER_PORT: u16 = 67;
const DHCP_CLIENT_PORT: u16 = 68;

/// The section comment a synthesised capture should carry: `note` (which lab, which run)
/// followed by the statement that frames were synthesised and the port mapping used.
pub fn section_comment(note: &str, port_map: &HashMap<SocketAddrV4, u16>) -> String {
    let mut text = String::new();
    if !note.is_empty() {
        text.push_str(note);
        text.push_str("; ");
    }
    text.push_str(
        "frames synthesised by phonecert from the servers' socket I/O (loopback lab, not a \
         kernel capture): MACs are 02:00 + IPv4 address, TCP has no pure ACKs or \
         retransmissions",
    );
    if port_map.is_empty() {
        text.push_str("; no port mapping");
    } else {
        text.push_str("; ports rewritten:");
        let sorted: BTreeMap<String, u16> =
            port_map.iter().map(|(a, p)| (a.to_string(), *p)).collect();
        for (addr, port) in sorted {
            let _ = write!(text, " {addr}->{port}");
        }
        let _ = write!(
            text,
            " (a client of a port mapped to {DHCP_SERVER_PORT} appears as port {DHCP_CLIENT_PORT})"
        );
    }
    text
}

/// The loopback lab's [`Tap`]: writes synthesised frames to a pcapng file. Thread-safe.
#[derive(Debug)]
pub struct Synthesizer {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    writer: PcapngWriter,
    port_map: HashMap<SocketAddrV4, u16>,
    flows: HashMap<u64, Flow>,
    next_flow: u64,
    last_ts: Option<SystemTime>,
    /// The first write error: later calls write nothing, `finish` reports it.
    failed: Option<CaptureError>,
}

/// One synthesised TCP connection, addresses already mapped.
#[derive(Debug, Clone, Copy)]
struct Flow {
    client: SocketAddrV4,
    server: SocketAddrV4,
    /// Sequence number of the next byte the client sends.
    client_next: u32,
    /// Sequence number of the next byte the server sends.
    server_next: u32,
}

impl Synthesizer {
    /// Synthesise into `writer`. `port_map` says "this server endpoint is really service port
    /// N" (e.g. 127.0.0.1:40067 → 67). The writer's section comment should come from
    /// [`section_comment`] (as [`Synthesizer::create`] does).
    pub fn new(writer: PcapngWriter, port_map: HashMap<SocketAddrV4, u16>) -> Self {
        Self {
            state: Mutex::new(State {
                writer,
                port_map,
                flows: HashMap::new(),
                next_flow: 1,
                last_ts: None,
                failed: None,
            }),
        }
    }

    /// Create the pcapng file at `path` with the section comment of [`section_comment`]`(note,
    /// port_map)` and synthesise into it.
    pub fn create(
        path: &Path,
        if_name: &str,
        note: &str,
        port_map: HashMap<SocketAddrV4, u16>,
    ) -> Result<Self, CaptureError> {
        let writer = PcapngWriter::create(path, if_name, &section_comment(note, &port_map))?;
        Ok(Self::new(writer, port_map))
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.lock().writer.frames()
    }

    /// Flush and close the file; returns the number of frames, or the first write error.
    pub fn finish(self) -> Result<u64, CaptureError> {
        let state = self
            .state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(err) = state.failed {
            return Err(err);
        }
        state.writer.finish()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves a consistent writer (every block is
        // written whole or not at all), so keep going rather than losing the evidence.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
    fn map(&self, addr: SocketAddrV4) -> SocketAddrV4 {
        match self.port_map.get(&addr) {
            Some(port) => SocketAddrV4::new(*addr.ip(), *port),
            None => addr,
        }
    }

    /// Map both ends; an unmapped peer of a DHCP server port becomes the DHCP client port.
    fn map_pair(&self, a: SocketAddrV4, b: SocketAddrV4) -> (SocketAddrV4, SocketAddrV4) {
        let (ma, mb) = (self.map(a), self.map(b));
        let a_mapped = self.port_map.contains_key(&a);
        let b_mapped = self.port_map.contains_key(&b);
        let dhcp_peer = |m: SocketAddrV4| SocketAddrV4::new(*m.ip(), DHCP_CLIENT_PORT);
        match (a_mapped, b_mapped) {
            (true, false) if ma.port() == DHCP_SERVER_PORT => (ma, dhcp_peer(mb)),
            (false, true) if mb.port() == DHCP_SERVER_PORT => (dhcp_peer(ma), mb),
            _ => (ma, mb),
        }
    }

    /// Now, but never earlier than the previous frame (the wall clock may step back).
    fn now(&mut self) -> SystemTime {
        let now = SystemTime::now();
        let ts = match self.last_ts {
            Some(last) if last > now => last,
            _ => now,
        };
        self.last_ts = Some(ts);
        ts
    }

    fn write(&mut self, ts: SystemTime, bytes: &[u8], out: &mut Vec<u64>) {
        if self.failed.is_some() {
            return;
        }
        match self.writer.write(ts, bytes, None) {
            Ok(n) => out.push(n),
            Err(err) => {
                tracing::error!(%err, "synthesised capture stopped");
                self.failed = Some(err);
            }
        }
    }
}

/// One synthesised TCP segment as a frame.
fn segment(
    from: SocketAddrV4,
    to: SocketAddrV4,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    payload: &[u8],
) -> Vec<u8> {
    frame::tcp_frame(&TcpSegment {
        src_mac: mac_for_ipv4(*from.ip()),
        dst_mac: mac_for_ipv4(*to.ip()),
        vlan: None,
        src: from,
        dst: to,
        seq,
        ack,
        flags,
        window: WINDOW,
        payload,
    })
}

/// Deterministic initial sequence numbers, different per flow and per direction.
fn isns(flow: u64) -> (u32, u32) {
    let x = flow.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((x >> 32) as u32, x as u32 ^ 0x5bd1_e995)
}

impl Tap for Synthesizer {
    fn udp(&self, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u64> {
        let mut st = self.lock();
        let (src, dst) = st.map_pair(src, dst);
        let bytes = frame::udp_frame(&UdpFrame {
            src_mac: mac_for_ipv4(*src.ip()),
            dst_mac: if dst.ip().is_broadcast() {
                frame::BROADCAST_MAC
            } else {
                mac_for_ipv4(*dst.ip())
            },
            vlan: None,
            src,
            dst,
            payload,
        });
        let ts = st.now();
        let mut out = Vec::with_capacity(1);
        st.write(ts, &bytes, &mut out);
        out
    }

    fn tcp_open(&self, client: SocketAddrV4, server: SocketAddrV4) -> TcpFlow {
        let mut st = self.lock();
        let id = st.next_flow;
        st.next_flow += 1;
        let (client, server) = st.map_pair(client, server);
        let (c_isn, s_isn) = isns(id);
        let ts = st.now();
        let mut out = Vec::with_capacity(3);
        st.write(
            ts,
            &segment(client, server, c_isn, 0, TcpFlags::SYN, &[]),
            &mut out,
        );
        st.write(
            ts,
            &segment(
                server,
                client,
                s_isn,
                c_isn.wrapping_add(1),
                TcpFlags::SYN_ACK,
                &[],
            ),
            &mut out,
        );
        st.write(
            ts,
            &segment(
                client,
                server,
                c_isn.wrapping_add(1),
                s_isn.wrapping_add(1),
                TcpFlags::ACK,
                &[],
            ),
            &mut out,
        );
        st.flows.insert(
            id,
            Flow {
                client,
                server,
                client_next: c_isn.wrapping_add(1),
                server_next: s_isn.wrapping_add(1),
            },
        );
        TcpFlow(id)
    }

    fn tcp_data(&self, flow: TcpFlow, from_client: bool, data: &[u8]) -> Vec<u64> {
        let mut st = self.lock();
        let Some(mut f) = st.flows.get(&flow.0).copied() else {
            tracing::debug!(
                flow = flow.0,
                "tcp data on an unknown or closed flow; no frames"
            );
            return Vec::new();
        };
        let ts = st.now();
        let mut out = Vec::with_capacity(data.len().div_ceil(TCP_MSS));
        let chunks: Vec<&[u8]> = data.chunks(TCP_MSS).collect();
        let last = chunks.len().saturating_sub(1);
        for (i, chunk) in chunks.into_iter().enumerate() {
            let flags = if i == last {
                TcpFlags::PSH_ACK
            } else {
                TcpFlags::ACK
            };
            let len = chunk.len() as u32; // ≤ TCP_MSS
            if from_client {
                st.write(
                    ts,
                    &segment(
                        f.client,
                        f.server,
                        f.client_next,
                        f.server_next,
                        flags,
                        chunk,
                    ),
                    &mut out,
                );
                f.client_next = f.client_next.wrapping_add(len);
            } else {
                st.write(
                    ts,
                    &segment(
                        f.server,
                        f.client,
                        f.server_next,
                        f.client_next,
                        flags,
                        chunk,
                    ),
                    &mut out,
                );
                f.server_next = f.server_next.wrapping_add(len);
            }
        }
        st.flows.insert(flow.0, f);
        out
    }

    fn tcp_close(&self, flow: TcpFlow, by_client: bool, reset: bool) -> Vec<u64> {
        let mut st = self.lock();
        let Some(f) = st.flows.remove(&flow.0) else {
            tracing::debug!(
                flow = flow.0,
                "close of an unknown or closed flow; no frames"
            );
            return Vec::new();
        };
        let (closer, peer, closer_next, peer_next) = if by_client {
            (f.client, f.server, f.client_next, f.server_next)
        } else {
            (f.server, f.client, f.server_next, f.client_next)
        };
        let ts = st.now();
        let mut out = Vec::with_capacity(3);
        if reset {
            st.write(
                ts,
                &segment(closer, peer, closer_next, peer_next, TcpFlags::RST_ACK, &[]),
                &mut out,
            );
        } else {
            // FIN from the closer, the peer's FIN acknowledging it, the closer's last ACK.
            st.write(
                ts,
                &segment(closer, peer, closer_next, peer_next, TcpFlags::FIN_ACK, &[]),
                &mut out,
            );
            st.write(
                ts,
                &segment(
                    peer,
                    closer,
                    peer_next,
                    closer_next.wrapping_add(1),
                    TcpFlags::FIN_ACK,
                    &[],
                ),
                &mut out,
            );
            st.write(
                ts,
                &segment(
                    closer,
                    peer,
                    closer_next.wrapping_add(1),
                    peer_next.wrapping_add(1),
                    TcpFlags::ACK,
                    &[],
                ),
                &mut out,
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{ParsedTcp, parse_tcp, parse_udp};
    use crate::pcapng::read_frames;
    use std::sync::Arc;

    fn addr(s: &str) -> SocketAddrV4 {
        s.parse().expect("test address")
    }

    fn temp_path(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("pc-capture-synth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join(name)
    }

    fn port_map() -> HashMap<SocketAddrV4, u16> {
        HashMap::from([
            (addr("127.0.0.1:40067"), 67),
            (addr("127.0.0.1:40080"), 80),
            (addr("127.0.0.1:45060"), 5060),
        ])
    }

    #[test]
    fn udp_and_tcp_flow_are_consistent() {
        let path = temp_path("flow.pcapng");
        let synth = Synthesizer::create(&path, "lo-synth", "run 7", port_map()).expect("create");

        // DHCP: client socket on a high port talks to the mapped server port.
        let dhcp = synth.udp(
            addr("127.0.0.2:41068"),
            addr("127.0.0.1:40067"),
            b"DISCOVER",
        );
        assert_eq!(dhcp, vec![1]);
        // SIP: the client keeps its own port.
        assert_eq!(
            synth.udp(addr("127.0.0.2:5062"), addr("127.0.0.1:45060"), b"REGISTER"),
            vec![2]
        );

        let client = addr("127.0.0.2:50000");
        let server = addr("127.0.0.1:40080");
        let flow = synth.tcp_open(client, server);
        let request = b"GET /96x1Supgrade.txt HTTP/1.1\r\nHost: x\r\n\r\n";
        let req_frames = synth.tcp_data(flow, true, request);
        assert_eq!(req_frames, vec![6]);
        let body = vec![0x5a; 3000]; // three segments: 1460 + 1460 + 80
        let resp_frames = synth.tcp_data(flow, false, &body);
        assert_eq!(resp_frames, vec![7, 8, 9]);
        assert_eq!(synth.tcp_close(flow, false, false), vec![10, 11, 12]);
        // The flow is gone: nothing more is written for it.
        assert!(synth.tcp_data(flow, true, b"late").is_empty());
        assert!(synth.tcp_close(flow, true, true).is_empty());

        let flow2 = synth.tcp_open(addr("127.0.0.2:50001"), server);
        assert_eq!(synth.tcp_data(flow2, true, b"GET"), vec![16]);
        assert_eq!(synth.tcp_close(flow2, true, true), vec![17]);
        assert_eq!(synth.frames(), 17);
        assert_eq!(synth.finish().expect("finish"), 17);

        let stored = read_frames(&path).expect("read back");
        assert_eq!(stored.frames.len(), 17);
        assert!(stored.section_comments[0].starts_with("run 7; frames synthesised"));
        assert!(stored.section_comments[0].contains("127.0.0.1:40067->67"));
        let ts: Vec<_> = stored.frames.iter().map(|f| f.timestamp).collect();
        assert!(
            ts.windows(2).all(|w| w[0] <= w[1]),
            "timestamps never go back"
        );

        let d = parse_udp(&stored.frames[0].data).expect("dhcp frame");
        assert_eq!((d.src, d.dst), (addr("127.0.0.2:68"), addr("127.0.0.1:67")));
        assert_eq!(d.src_mac, [2, 0, 127, 0, 0, 2]);
        assert_eq!(d.payload, b"DISCOVER");
        let s = parse_udp(&stored.frames[1].data).expect("sip frame");
        assert_eq!(
            (s.src, s.dst),
            (addr("127.0.0.2:5062"), addr("127.0.0.1:5060"))
        );

        let tcp: Vec<ParsedTcp> = stored.frames[2..]
            .iter()
            .map(|f| parse_tcp(&f.data).expect("tcp frame"))
            .collect();
        let c = addr("127.0.0.2:50000");
        let sv = addr("127.0.0.1:80");
        // Handshake.
        let (syn, synack, ack) = (&tcp[0], &tcp[1], &tcp[2]);
        assert_eq!((syn.src, syn.dst, syn.flags), (c, sv, TcpFlags::SYN));
        assert_eq!(
            (synack.src, synack.dst, synack.flags),
            (sv, c, TcpFlags::SYN_ACK)
        );
        assert_eq!(synack.ack, syn.seq.wrapping_add(1));
        assert_eq!(ack.flags, TcpFlags::ACK);
        assert_eq!(
            (ack.seq, ack.ack),
            (syn.seq.wrapping_add(1), synack.seq.wrapping_add(1))
        );
        // Request.
        let req = &tcp[3];
        assert_eq!(
            (req.seq, req.ack, req.flags),
            (ack.seq, ack.ack, TcpFlags::PSH_ACK)
        );
        assert_eq!(req.payload, request);
        // Response in ≤ 1460-byte segments, contiguous, acking the whole request.
        let resp = &tcp[4..7];
        let mut next = synack.seq.wrapping_add(1);
        let mut reassembled = Vec::new();
        for seg in resp {
            assert_eq!((seg.src, seg.dst), (sv, c));
            assert!(seg.payload.len() <= TCP_MSS);
            assert_eq!(seg.seq, next);
            assert_eq!(seg.ack, req.seq.wrapping_add(request.len() as u32));
            next = next.wrapping_add(seg.payload.len() as u32);
            reassembled.extend_from_slice(&seg.payload);
        }
        assert_eq!(reassembled, body);
        assert_eq!(
            resp.iter().map(|s| s.payload.len()).collect::<Vec<_>>(),
            [1460, 1460, 80]
        );
        assert_eq!(resp[0].flags, TcpFlags::ACK);
        assert_eq!(resp[2].flags, TcpFlags::PSH_ACK);
        // Close by the server: FIN, FIN acking it, final ACK.
        let (fin1, fin2, last) = (&tcp[7], &tcp[8], &tcp[9]);
        assert_eq!(
            (fin1.src, fin1.flags, fin1.seq),
            (sv, TcpFlags::FIN_ACK, next)
        );
        assert_eq!(fin1.ack, req.seq.wrapping_add(request.len() as u32));
        assert_eq!(
            (fin2.src, fin2.flags, fin2.seq),
            (c, TcpFlags::FIN_ACK, fin1.ack)
        );
        assert_eq!(fin2.ack, next.wrapping_add(1));
        assert_eq!((last.src, last.flags), (sv, TcpFlags::ACK));
        assert_eq!(
            (last.seq, last.ack),
            (next.wrapping_add(1), fin2.seq.wrapping_add(1))
        );
        // Second flow: different ISN, reset by the client after its data.
        let syn2 = &tcp[10];
        assert_ne!(syn2.seq, syn.seq);
        let data2 = &tcp[13];
        let rst = &tcp[14];
        assert_eq!(rst.flags, TcpFlags::RST_ACK);
        assert_eq!(rst.src, addr("127.0.0.2:50001"));
        assert_eq!(rst.seq, data2.seq.wrapping_add(3));
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn concurrent_taps_number_frames_uniquely() {
        let path = temp_path("threads.pcapng");
        let synth = Arc::new(Synthesizer::create(&path, "lo", "", HashMap::new()).expect("create"));
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                let s = Arc::clone(&synth);
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    for i in 0..25u16 {
                        got.extend(s.udp(
                            SocketAddrV4::new([127, 0, 0, t + 1].into(), 1000 + i),
                            addr("127.0.0.1:9"),
                            &[t],
                        ));
                    }
                    got
                })
            })
            .collect();
        let mut all: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (1..=100).collect::<Vec<u64>>());
        let synth = Arc::into_inner(synth).expect("last reference");
        assert_eq!(synth.finish().expect("finish"), 100);
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn dhcp_server_reply_goes_to_port_68() {
        let path = temp_path("dhcp.pcapng");
        let synth = Synthesizer::create(&path, "lo", "", port_map()).expect("create");
        synth.udp(
            addr("127.0.0.1:40067"),
            addr("255.255.255.255:41068"),
            b"OFFER",
        );
        synth.finish().expect("finish");
        let stored = read_frames(&path).expect("read");
        let p = parse_udp(&stored.frames[0].data).expect("udp");
        assert_eq!(
            (p.src, p.dst),
            (addr("127.0.0.1:67"), addr("255.255.255.255:68"))
        );
        assert_eq!(p.dst_mac, frame::BROADCAST_MAC);
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn section_comment_lists_the_mapping_in_order() {
        let text = section_comment("", &port_map());
        let a = text.find("127.0.0.1:40067->67").expect("dhcp");
        let b = text.find("127.0.0.1:40080->80").expect("http");
        let c = text.find("127.0.0.1:45060->5060").expect("sip");
        assert!(a < b && b < c, "{text}");
        assert!(section_comment("x", &HashMap::new()).ends_with("no port mapping"));
    }
}
