//! Integration tests of pc-sip: the registrar core driven with bytes and simulated time,
//! property tests of the parsers and of 100,000 mutated REGISTERs per transport (over TLS
//! through the shell on loopback), torture messages in the manner of RFC 4475, and the UDP,
//! TCP and TLS shell over loopback.

#![allow(clippy::unwrap_used)]

mod props;
mod props_tls;
mod registrar;
mod shell;
mod torture;
