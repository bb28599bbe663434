//! Evidence of what crossed the lab network.
//!
//! Owns: pcapng writing (`pcapng`), the AF_PACKET capture of a lab interface with kernel
//! timestamps, whole frames and 802.1Q tags (`afpacket`), raw Ethernet frame building and
//! sending (`frame`, `rawsock`), frame synthesis for the loopback lab (`synth`), and running
//! code inside a network namespace (`netns`).
//!
//! Never: interprets protocols beyond the headers it builds, judges anything.

pub mod afpacket;
pub mod error;
pub mod frame;
pub mod netns;
pub mod pcapng;
pub mod rawsock;
pub mod synth;
pub mod tap;

pub use error::CaptureError;
pub use tap::{NoTap, Stamped, Tap, TcpFlow};
