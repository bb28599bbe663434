//! Integration tests of pc-sip: the registrar core driven with bytes and simulated time,
//! property tests of the parsers, and the UDP shell over loopback.

#![allow(clippy::unwrap_used)]

mod props;
mod registrar;
mod shell;
