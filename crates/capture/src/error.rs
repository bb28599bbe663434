//! Errors of the capture crate.
//!
//! Owns: the one error type every fallible capture operation returns. Each variant names the
//! file, interface or namespace involved, so a failed run says *where* the evidence broke.
//! Never: hides the underlying OS or pcapng error (it is kept as the source).

use std::path::PathBuf;

/// What went wrong while producing capture evidence.
#[derive(thiserror::Error, Debug)]
pub enum CaptureError {
    /// The pcapng file could not be created or opened.
    #[error("cannot create capture file {}: {source}", path.display())]
    CreateFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing a block to the pcapng file failed.
    #[error("cannot write capture file {}: {source}", path.display())]
    WriteFile {
        path: PathBuf,
        source: pcap_file::pcapng::PcapNgWriteError,
    },
    /// A pcapng file could not be opened or parsed.
    #[error("cannot read capture file {}: {reason}", path.display())]
    ReadFile { path: PathBuf, reason: String },
    /// A frame number beyond the end of a capture file.
    #[error("capture file {} has no frame {frame} (it has {frames})", path.display())]
    NoSuchFrame {
        path: PathBuf,
        frame: u64,
        frames: u64,
    },
    /// A frame was larger than a pcapng block can hold (4 GiB): never seen on a real link.
    #[error("frame of {len} bytes is too large for capture file {}", path.display())]
    FrameTooLarge { path: PathBuf, len: usize },
    /// The timestamp lies before the UNIX epoch (a clock set far in the past).
    #[error("timestamp before 1970 for capture file {}", path.display())]
    TimestampBeforeEpoch { path: PathBuf },
    /// Opening, configuring or reading the capture socket of an interface failed.
    #[error("capture on interface {iface}: {source}")]
    Interface {
        iface: String,
        source: std::io::Error,
    },
    /// The capture thread of an interface panicked.
    #[error("capture thread for interface {iface} panicked")]
    ThreadPanicked { iface: String },
}
