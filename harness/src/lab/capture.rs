//! The lab's capture: every scenario's pcapng, recorded the way its lab allows.
//!
//! Owns: choosing and starting the capture of a lab — the kernel's AF_PACKET capture of the
//! infrastructure side of the veth link in the netns lab or of the lab interface in the
//! iface lab, frame synthesis from the servers'
//! socket I/O in the loopback lab — the section header comment that says which it is and
//! which time scale the run used, the [`Tap`] the servers report to, and closing the file.
//!
//! Never: reads the capture back or links it to the timeline (that is `evidence`), decides
//! what a frame means. The capture decorates the lab (smoltcp's model): servers never know
//! whether the kernel or the synthesiser records them.
//!
//! Follows: pcapng (draft-ietf-opsawg-pcapng) §4.1 for the section comment (`opt_comment`).

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pc_capture::Tap;

/// The link a kernel capture records: an interface, in a namespace or in the harness's own.
#[derive(Debug, Clone, Copy)]
pub struct KernelLink<'a> {
    /// The lab's name for the section comment (`netns`, `iface:eth1`).
    pub lab: &'a str,
    /// The namespace holding the interface; `None`: the harness's own.
    pub ns: Option<&'a str>,
    /// The interface.
    pub iface: &'a str,
}

/// Why a capture could not be started or finished.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file or the capture socket could not be set up.
    #[error("cannot start the capture {path}: {source}")]
    Start {
        /// The pcapng file.
        path: PathBuf,
        /// What failed.
        source: pc_capture::CaptureError,
    },
    /// Writing or closing the file failed.
    #[error("capture {path} failed: {source}")]
    Finish {
        /// The pcapng file.
        path: PathBuf,
        /// What failed.
        source: pc_capture::CaptureError,
    },
    /// A server still held the synthesiser when the capture was closed.
    #[error("capture {path} failed: the synthesiser is still in use by a server")]
    StillInUse {
        /// The pcapng file.
        path: PathBuf,
    },
}

/// What the capture's section header says about the run.
#[derive(Debug, Clone)]
pub struct CaptureNote<'a> {
    /// The run id.
    pub run_id: &'a str,
    /// The scenario id.
    pub scenario: &'a str,
    /// The scenario title.
    pub title: &'a str,
    /// Phone seconds per lab second.
    pub time_scale: f64,
}

/// The sentence that tells a reader of the capture how its clock relates to the report's.
/// The capture is stamped in lab (wall-clock) time; the report and the scenario speak phone
/// time, which runs `time_scale` times faster.
pub fn time_scale_sentence(time_scale: f64) -> String {
    if (time_scale - 1.0).abs() < 1e-9 {
        "time scale: phone time = lab time × 1 (timestamps here and times in the report agree)"
            .to_owned()
    } else {
        format!(
            "time scale: phone time = lab time × {time_scale} (the phone's timers ran {time_scale} \
             times faster; the report gives phone time, these timestamps are lab time)"
        )
    }
}

/// What a closed capture holds and what it missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureCount {
    /// Frames written to the file.
    pub frames: u64,
    /// Frames the kernel dropped because the capture socket's buffer was full
    /// (PACKET_STATISTICS); `None` for a synthesised capture, which has no kernel buffer:
    /// the servers write each frame themselves as they send or receive it.
    pub kernel_drops: Option<u64>,
}

/// A scenario's capture, real or synthesised.
#[derive(Debug)]
pub enum Capture {
    /// The kernel's AF_PACKET capture (netns and iface labs).
    Kernel {
        /// The running capture.
        handle: pc_capture::afpacket::CaptureHandle,
        /// The pcapng file.
        path: PathBuf,
    },
    /// Frames synthesised from the servers' I/O (loopback lab).
    Synth {
        /// The synthesiser, shared with the servers as their tap.
        synth: Arc<pc_capture::synth::Synthesizer>,
        /// The pcapng file.
        path: PathBuf,
    },
}

impl Capture {
    /// Starts capturing into `path`: on the lab's link when there is one (the netns pair's
    /// infrastructure end, the iface lab's interface), else by synthesis, with the servers' endpoints mapped to their well-known ports
    /// (DHCP 67, HTTP 80, SIP 5060 and up) so Wireshark dissects them.
    pub fn start(
        link: Option<KernelLink<'_>>,
        path: &Path,
        note: &CaptureNote<'_>,
        dhcp: SocketAddrV4,
        http: SocketAddrV4,
        https: Option<SocketAddrV4>,
        sip: &[SocketAddrV4],
    ) -> Result<Capture, CaptureError> {
        let err = |source| CaptureError::Start {
            path: path.to_owned(),
            source,
        };
        let scale = time_scale_sentence(note.time_scale);
        match link {
            Some(link) => {
                let place = match link.ns {
                    Some(ns) => format!(" in namespace {ns}"),
                    None => String::new(),
                };
                let comment = format!(
                    "phonecert run {} scenario {} ({}): lab {}, AF_PACKET capture of {}{place}; {scale}",
                    note.run_id, note.scenario, note.title, link.lab, link.iface
                );
                let writer = pc_capture::pcapng::PcapngWriter::create(path, link.iface, &comment)
                    .map_err(err)?;
                let handle = match link.ns {
                    Some(ns) => pc_capture::afpacket::start_in_netns(ns, link.iface, writer),
                    None => pc_capture::afpacket::start(link.iface, writer),
                }
                .map_err(err)?;
                Ok(Capture::Kernel {
                    handle,
                    path: path.to_owned(),
                })
            }
            None => {
                let note = format!(
                    "phonecert run {} scenario {} ({}): lab loopback; {scale}",
                    note.run_id, note.scenario, note.title
                );
                let map: HashMap<SocketAddrV4, u16> = [(dhcp, 67), (http, 80)]
                    .into_iter()
                    .chain(https.map(|a| (a, 443)))
                    .chain(sip.iter().zip(5060..).map(|(a, p)| (*a, p)))
                    .collect();
                let synth = pc_capture::synth::Synthesizer::create(path, "lo-synth", &note, map)
                    .map_err(err)?;
                Ok(Capture::Synth {
                    synth: Arc::new(synth),
                    path: path.to_owned(),
                })
            }
        }
    }

    /// The tap the servers report to: the synthesiser, or nothing where the kernel sees all.
    pub fn tap(&self) -> Arc<dyn Tap> {
        match self {
            Capture::Kernel { .. } => Arc::new(pc_capture::NoTap),
            Capture::Synth { synth, .. } => synth.clone(),
        }
    }

    /// Stops capturing and closes the file; returns the number of frames. Every tap handed
    /// out must have been dropped first.
    pub fn finish(self) -> Result<u64, CaptureError> {
        self.finish_counted().map(|c| c.frames)
    }

    /// [`finish`](Self::finish), also returning what the kernel said it dropped.
    pub fn finish_counted(self) -> Result<CaptureCount, CaptureError> {
        match self {
            Capture::Kernel { handle, path } => handle
                .stop()
                .map(|s| CaptureCount {
                    frames: s.frames_written,
                    kernel_drops: Some(s.kernel_drops),
                })
                .map_err(|source| CaptureError::Finish { path, source }),
            Capture::Synth { synth, path } => match Arc::try_unwrap(synth) {
                Ok(s) => s
                    .finish()
                    .map(|frames| CaptureCount {
                        frames,
                        kernel_drops: None,
                    })
                    .map_err(|source| CaptureError::Finish { path, source }),
                Err(_) => Err(CaptureError::StillInUse { path }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_capture_says_its_time_scale_and_that_it_is_synthesised() {
        let dir = std::env::temp_dir().join(format!("phonecert-capture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("S-1.pcapng");
        let ep = |p| SocketAddrV4::new(std::net::Ipv4Addr::new(127, 77, 0, 1), p);
        let note = CaptureNote {
            run_id: "r1",
            scenario: "S-1",
            title: "a title",
            time_scale: 10.0,
        };
        let capture = Capture::start(None, &path, &note, ep(40067), ep(40080), None, &[ep(45060)])
            .expect("start");
        let frames = capture
            .tap()
            .udp(ep(40000), ep(45060), b"REGISTER sip:x SIP/2.0\r\n\r\n");
        assert_eq!(frames, vec![1]);
        assert_eq!(capture.finish().expect("finish"), 1);
        let stored = pc_capture::pcapng::read_frames(&path).expect("read back");
        let comment = stored.section_comments.join(" | ");
        assert!(comment.contains("phone time = lab time × 10"), "{comment}");
        assert!(comment.contains("scenario S-1"), "{comment}");
        assert!(comment.contains("synthesised"), "{comment}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn real_time_runs_say_the_clocks_agree() {
        assert!(time_scale_sentence(1.0).contains("× 1 "));
        assert!(time_scale_sentence(2.5).contains("phone time = lab time × 2.5"));
    }
}
