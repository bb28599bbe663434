//! simphone: an independent reference implementation of the Avaya 9600-series SIP phone boot
//! sequence (DHCP → upgrade script → binary → settings → REGISTER), used as phonecert's
//! device under test, with named fault switches.
//!
//! Layers (smoltcp-style): `dhcp` and `sip` hold the protocol code — the DHCP client and the
//! registration logic are sans-IO state machines; `net` holds the I/O shells (phone clock,
//! raw AF_PACKET frames, the HTTP client, UDP/TCP for SIP); `boot` drives one boot after
//! another with the `provisioning` crate; `cli` is the binary. Shares no code with the
//! harness's servers or judge.

pub mod boot;
pub mod cli;
pub mod dhcp;
pub mod fault;
pub mod milestone;
pub mod net;
pub mod rng;
pub mod sip;
pub mod site;
pub mod state;
