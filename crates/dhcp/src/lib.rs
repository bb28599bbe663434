//! phonecert's DHCP server.
//!
//! Owns: the raw wire format (`wire`: a walker that keeps every option as sent, and an
//! encoder that writes options in the given order), the sans-IO server core (`server`), the
//! scenario rules that make it stay silent, refuse or answer late on purpose (`rules`), the
//! events it reports to the harness timeline (`event`), fitting a reply into the client's
//! maximum message size (`fit`, option 57), the tokio shell that moves datagrams and holds
//! delayed replies (`shell`), and the rogue-server guard: its probe and how answers are read
//! (`guard`), and the socket that sends and hears them (`probe`); and a DHCP relay agent for
//! the lab's relayed topology: its sans-IO core (`relay`, RFC 1542 §4.1, RFC 3046 §2.1) and
//! its shell (`relay_shell`).
//!
//! Never: judges the phone (the harness does, from the events), prints to stdout.
//! Follows RFC 2131, RFC 2132, RFC 3396 and RFC 1542; Avaya specifics are in the design
//! notes (`domain.md`, "DHCP").

pub mod event;
pub mod fit;
pub mod guard;
pub mod probe;
pub mod relay;
pub mod relay_shell;
pub mod rules;
pub mod server;
pub mod shell;
pub mod vlan;
pub mod wire;

pub use event::{
    AgentSubOption, Event, Finding, MessageFinding, RelayPath, WireOption, format_mac,
};
pub use rules::Rule;
pub use server::{
    DhcpServer, Lease, LeaseState, MessageType, Output, RelaySubnet, Reply, ReplyDest, ServerConfig,
};
pub use shell::{Transport, run};
pub use wire::{RawMessage, RawOption, WireError};
