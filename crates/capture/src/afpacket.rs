//! Kernel capture of one lab interface into a pcapng file (netns and iface labs).
//!
//! Owns: a dedicated thread reading every frame of one interface from an AF_PACKET SOCK_RAW
//! ETH_P_ALL socket (`rawsock`) and writing it to a [`PcapngWriter`]: whole frames (262144-byte
//! buffer, MSG_TRUNC detects anything larger and records its real length), the 802.1Q tag put
//! back from PACKET_AUXDATA, the kernel's receive timestamp (SO_TIMESTAMPNS), frames this host
//! sent included exactly once (on a loopback device, where each sent frame also comes back as
//! received, the outgoing copy is dropped). Stopping: a flag checked between `poll()`s of at
//! most 50 ms, then what is still queued is drained. Frames are appended to the file and
//! flushed once per burst (when the socket has nothing queued, or every 512 frames); after a
//! round that read frames the thread waits 2 ms before polling again, so under load it wakes
//! a few hundred times a second rather than once per frame.
//! Never: filters (the evidence is everything on the lab link), parses what it captures, or
//! uses a memory-mapped ring (TPACKET_V3): lab traffic is a few hundred frames per scenario.
//! Follows: packet(7), socket(7); design.md §5 (why not pnet or libpcap).

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::SystemTime;

use crate::CaptureError;
use crate::netns::in_netns;
use crate::pcapng::PcapngWriter;
use crate::rawsock::{MAX_FRAME, RawSocket};

/// Longest wait between two looks at the stop flag.
const POLL_MS: libc::c_int = 50;

/// Kernel socket receive buffer asked for, so a burst (a firmware download at full speed)
/// is not dropped while the thread writes to disk.
const RCVBUF: usize = 8 << 20;

/// How long the capture lets frames gather after a round that read some.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

/// Frames appended to the file between two flushes while a burst lasts; each burst is
/// flushed when the socket has nothing more queued. A crash loses at most these.
const FLUSH_EVERY: u64 = 512;

/// What a capture did, returned by [`CaptureHandle::stop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CaptureStats {
    /// Frames written to the pcapng file by this capture.
    pub frames_written: u64,
    /// Of those, frames longer than the buffer, kept truncated (their real length is in the
    /// file).
    pub frames_truncated: u64,
    /// Frames the kernel dropped because the socket buffer was full (PACKET_STATISTICS).
    pub kernel_drops: u64,
    /// The writer's frame count when closed (frames written before the capture started
    /// included).
    pub writer_frames: u64,
}

/// A running capture; [`CaptureHandle::stop`] ends it. Dropping the handle without `stop`
/// also ends the thread (after at most one poll interval) but loses the stats.
#[derive(Debug)]
pub struct CaptureHandle {
    iface: String,
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
    thread: Option<JoinHandle<Result<CaptureStats, CaptureError>>>,
}

/// Capture `iface` of the current network namespace into `writer`.
pub fn start(iface: &str, writer: PcapngWriter) -> Result<CaptureHandle, CaptureError> {
    let socket = open_capture_socket(iface).map_err(|source| CaptureError::Interface {
        iface: iface.to_owned(),
        source,
    })?;
    spawn(iface, socket, writer)
}

/// Capture `iface` of the network namespace `/run/netns/<netns>` into `writer`: the socket is
/// created inside the namespace (see `netns::in_netns`) and read from a thread of ours.
pub fn start_in_netns(
    netns: &str,
    iface: &str,
    writer: PcapngWriter,
) -> Result<CaptureHandle, CaptureError> {
    let name = iface.to_owned();
    let socket = in_netns(netns, move || open_capture_socket(&name)).map_err(|source| {
        CaptureError::Interface {
            iface: format!("{iface} (netns {netns})"),
            source,
        }
    })?;
    spawn(iface, socket, writer)
}

fn open_capture_socket(iface: &str) -> std::io::Result<RawSocket> {
    let socket = RawSocket::open(iface)?;
    socket.enable_timestamps()?;
    socket.set_nonblocking(true)?;
    // Best effort: SO_RCVBUF is capped by net.core.rmem_max (about 200 KiB by default, a few
    // hundred frames), so a burst of many clients would overflow it; SO_RCVBUFFORCE lifts the
    // cap for a privileged process (the netns and iface labs run as root). Without either,
    // bursts are only riskier: drops are counted and reported either way.
    let sock = socket2::SockRef::from(&socket);
    if let Err(err) = force_recv_buffer(&socket, RCVBUF) {
        tracing::debug!(%err, iface, "SO_RCVBUFFORCE refused: asking within rmem_max");
        if let Err(err) = sock.set_recv_buffer_size(RCVBUF) {
            tracing::debug!(%err, iface, "could not enlarge the capture socket buffer");
        }
    }
    // Reset the kernel's counters so the drops reported are this capture's.
    let _ = packet_statistics(&socket);
    Ok(socket)
}

fn spawn(
    iface: &str,
    socket: RawSocket,
    writer: PcapngWriter,
) -> Result<CaptureHandle, CaptureError> {
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let (stop_t, written_t) = (Arc::clone(&stop), Arc::clone(&written));
    let thread = std::thread::Builder::new()
        .name(format!("capture-{iface}"))
        .spawn(move || run(socket, writer, &stop_t, &written_t))
        .map_err(|source| CaptureError::Interface {
            iface: iface.to_owned(),
            source,
        })?;
    Ok(CaptureHandle {
        iface: iface.to_owned(),
        stop,
        written,
        thread: Some(thread),
    })
}

impl CaptureHandle {
    /// The captured interface.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// Frames written so far (changes while the capture runs).
    pub fn frames_written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Stop capturing: returns within about 50 ms plus the time to write what is queued,
    /// then closes the file.
    pub fn stop(mut self) -> Result<CaptureStats, CaptureError> {
        self.stop.store(true, Ordering::Release);
        let Some(thread) = self.thread.take() else {
            return Err(CaptureError::ThreadPanicked {
                iface: self.iface.clone(),
            });
        };
        match thread.join() {
            Ok(result) => result,
            Err(_) => Err(CaptureError::ThreadPanicked {
                iface: self.iface.clone(),
            }),
        }
    }
}

impl Drop for CaptureHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

struct Counters {
    written: u64,
    truncated: u64,
}

fn run(
    socket: RawSocket,
    mut writer: PcapngWriter,
    stop: &AtomicBool,
    written: &AtomicU64,
) -> Result<CaptureStats, CaptureError> {
    let iface = socket.iface().to_owned();
    let io_err = |source| CaptureError::Interface {
        iface: iface.clone(),
        source,
    };
    let mut counters = Counters {
        written: 0,
        truncated: 0,
    };
    let mut buf = Vec::with_capacity(MAX_FRAME);
    loop {
        // Read the flag before polling: whatever arrived before stop() was called is then
        // either drained by this round or the final drain below.
        let stopping = stop.load(Ordering::Acquire);
        let mut pfd = libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, alive for the call.
        let rc = unsafe { libc::poll(&raw mut pfd, 1, if stopping { 0 } else { POLL_MS }) };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(io_err(err));
            }
        } else if pfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
            return Err(io_err(std::io::Error::other(format!(
                "poll reported an error on the capture socket (revents {:#x})",
                pfd.revents
            ))));
        }
        let before = counters.written;
        drain(&socket, &mut writer, &mut buf, &mut counters, written)?;
        if stopping {
            break;
        }
        // Under load, waking for every frame or two costs more than reading them: after a
        // round that found frames, let the next ones gather in the socket buffer (8 MiB,
        // thousands of frames) before polling again. Idle, poll() wakes on the first frame.
        if counters.written > before {
            std::thread::sleep(GATHER);
        }
    }
    let kernel_drops = packet_statistics(&socket)
        .map(|(_, drops)| drops)
        .unwrap_or(0);
    if kernel_drops > 0 {
        tracing::warn!(iface = %iface, kernel_drops, "the kernel dropped frames during capture");
    }
    let writer_frames = writer.finish()?;
    Ok(CaptureStats {
        frames_written: counters.written,
        frames_truncated: counters.truncated,
        kernel_drops,
        writer_frames,
    })
}

/// Write every frame queued on the socket.
fn drain(
    socket: &RawSocket,
    writer: &mut PcapngWriter,
    buf: &mut Vec<u8>,
    counters: &mut Counters,
    written: &AtomicU64,
) -> Result<(), CaptureError> {
    loop {
        let meta = match socket.recv_frame(buf) {
            Ok(meta) => meta,
            // The burst is read: it goes to the file in one write.
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return writer.flush(),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(CaptureError::Interface {
                    iface: socket.iface().to_owned(),
                    source,
                });
            }
        };
        // On a loopback device every sent frame is also received: keep the received copy.
        if socket.is_loopback() && meta.outgoing() {
            continue;
        }
        if meta.truncated {
            counters.truncated += 1;
            tracing::warn!(
                iface = socket.iface(),
                len = meta.orig_len,
                kept = meta.captured_len,
                "frame larger than the capture buffer; kept truncated"
            );
        }
        let ts = meta.timestamp.unwrap_or_else(SystemTime::now);
        writer.append(ts, buf, meta.orig_len)?;
        counters.written += 1;
        written.store(counters.written, Ordering::Relaxed);
        if counters.written.is_multiple_of(FLUSH_EVERY) {
            writer.flush()?;
        }
    }
}

/// SO_RCVBUFFORCE (socket(7)): a receive buffer of `bytes` beyond net.core.rmem_max, for a
/// process with CAP_NET_ADMIN.
fn force_recv_buffer(socket: &RawSocket, bytes: usize) -> std::io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: the pointer and length describe `value`, alive for the call; the descriptor is
    // the socket's own.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// PACKET_STATISTICS: (frames received, frames dropped) since the last call (reading resets).
fn packet_statistics(socket: &RawSocket) -> std::io::Result<(u64, u64)> {
    let mut stats = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: `stats` and `len` are valid for writes and `len` is the size of `stats`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&raw mut stats).cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((u64::from(stats.tp_packets), u64::from(stats.tp_drops)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_interface_is_named() {
        let path =
            std::env::temp_dir().join(format!("pc-capture-af-{}.pcapng", std::process::id()));
        let writer = PcapngWriter::create(&path, "pcnosuch0", "").expect("create");
        let err = start("pcnosuch0", writer).expect_err("no such interface");
        assert!(err.to_string().contains("pcnosuch0"), "{err}");
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn missing_netns_is_named() {
        let path =
            std::env::temp_dir().join(format!("pc-capture-af-ns-{}.pcapng", std::process::id()));
        let writer = PcapngWriter::create(&path, "eth0", "").expect("create");
        let ns = format!("pc-missing-{}", std::process::id());
        let err = start_in_netns(&ns, "eth0", writer).expect_err("no such namespace");
        assert!(err.to_string().contains(&ns), "{err}");
        std::fs::remove_file(&path).ok();
    }
}
