//! The phone's DHCP client: wire format and the sans-IO state machine.
//!
//! Owns: `wire` (message bytes) and `client` (RFC 2131 client states). The I/O shells that
//! move these bytes over a raw socket or a UDP socket live in `crate::net`.

pub mod client;
pub mod wire;

pub use client::{ClientConfig, ClientState, Destination, DhcpClient, Event, Lease, Transmit};
