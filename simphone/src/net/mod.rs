//! I/O shells: the phone clock, raw frames, the DHCP task, the HTTP(S) client and its trust
//! store, and SIP transport.
//!
//! Everything here touches sockets or the clock; the protocol decisions are in the sans-IO
//! cores (`crate::dhcp`, `crate::sip`).

pub mod clock;
pub mod dhcp_io;
pub mod http;
pub mod raw;
pub mod sip_io;
pub mod tls;
