//! SIP for a registering phone: just enough message syntax, digest auth, and the sans-IO
//! registration state machine (RFC 3261 §10, §17.1.2, §22; RFC 2617 digest).
//!
//! The UDP/TCP shell that carries these bytes is `crate::net::sip_io`.

pub mod digest;
pub mod msg;
pub mod register;
