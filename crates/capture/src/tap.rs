//! The `Tap`: how an I/O shell tells the capture what it sent and received.
//!
//! In the `netns` and `iface` labs the kernel sees every frame and the AF_PACKET capture
//! records it, so shells get a [`NoTap`]. In the `loopback` lab there are no Ethernet frames
//! to capture; the shells report their socket I/O here and the synthesiser turns it into
//! Ethernet/IPv4/UDP or TCP frames in the pcapng, so the evidence has the same shape in
//! every lab.
//!
//! Also owns [`Stamped`], the envelope in which every shell hands an event to the harness:
//! when it happened and which frames the tap wrote for it, so the timeline can point at the
//! packets without a second pass over the capture (in the loopback lab; the kernel-captured
//! labs join events to frames after the capture is closed).

use std::net::SocketAddrV4;
use std::time::Instant;

/// An event as an I/O shell reports it: the instant it happened and the capture frame numbers
/// (1-based) the tap returned for the bytes that carried it — empty with [`NoTap`], whose
/// frames the kernel capture numbers on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped<E> {
    /// When the shell saw or did it.
    pub at: Instant,
    /// The event itself.
    pub event: E,
    /// Frames the tap wrote for it, in capture order.
    pub frames: Vec<u64>,
}

impl<E> Stamped<E> {
    /// `event` at `at`, carried by `frames`.
    pub fn new(at: Instant, event: E, frames: Vec<u64>) -> Self {
        Self { at, event, frames }
    }
}

/// One TCP connection as the synthesiser knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpFlow(pub u64);

/// Receives socket-level I/O from the servers. Every method returns the capture frame
/// numbers (1-based, as Wireshark counts) of the frames it wrote, empty when it writes none.
pub trait Tap: Send + Sync + 'static {
    /// A UDP datagram `src` → `dst`, as sent or received by a server.
    fn udp(&self, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u64>;
    /// A TCP connection `client` → `server` was accepted (handshake frames).
    fn tcp_open(&self, client: SocketAddrV4, server: SocketAddrV4) -> TcpFlow;
    /// Bytes carried on `flow`, from the client when `from_client`.
    fn tcp_data(&self, flow: TcpFlow, from_client: bool, data: &[u8]) -> Vec<u64>;
    /// The connection ended; `reset` for an abortive close (RST instead of FIN).
    fn tcp_close(&self, flow: TcpFlow, by_client: bool, reset: bool) -> Vec<u64>;
    /// Whether [`Tap::tcp_data`] needs the bytes themselves. A tap that does not (the kernel
    /// captures them) lets a shell hand file bytes from the page cache straight to the
    /// socket without ever reading them; it is still told about the other calls.
    fn needs_tcp_payload(&self) -> bool {
        true
    }
}

/// The tap for labs where the kernel capture already sees every frame.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTap;

impl Tap for NoTap {
    fn udp(&self, _: SocketAddrV4, _: SocketAddrV4, _: &[u8]) -> Vec<u64> {
        Vec::new()
    }
    fn tcp_open(&self, _: SocketAddrV4, _: SocketAddrV4) -> TcpFlow {
        TcpFlow(0)
    }
    fn tcp_data(&self, _: TcpFlow, _: bool, _: &[u8]) -> Vec<u64> {
        Vec::new()
    }
    fn tcp_close(&self, _: TcpFlow, _: bool, _: bool) -> Vec<u64> {
        Vec::new()
    }
    fn needs_tcp_payload(&self) -> bool {
        false
    }
}
