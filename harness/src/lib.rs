//! phonecert: a conformance harness for SIP desk phones during boot and provisioning.
//!
//! The library behind the `phonecert` binary. The map (design.md §2):
//! scenario files ([`scenario`]) configure the lab's servers (crates `pc-dhcp`, `pc-http`,
//! `pc-sip`) inside a [`lab`]; every server event lands in a [`timeline`]; the capture
//! (`pc-capture`, started by the lab) keeps the frames, and [`evidence`] links them to the
//! events and, after judging, to the verdicts; the [`judge`] turns checks and timeline into verdicts;
//! [`report`] writes them. [`engine`] runs one scenario end to end, [`serve`] runs one scenario's servers alone for
//! phones an admin brings, [`servers`] starts and stops a scenario's servers for both (and
//! for a storm), [`cli`] is the command line.

pub mod cli;
pub mod dut;
pub mod engine;
pub mod error;
pub mod evidence;
pub mod firmware_tool;
pub mod from_capture;
pub mod judge;
pub mod lab;
pub mod lower;
pub mod proc;
pub mod profile;
pub mod progress;
pub mod provisioning_tool;
pub mod report;
pub mod run_folder;
pub mod scenario;
pub mod schedule;
pub mod select;
pub mod serve;
pub mod servers;
pub mod session;
pub mod stream;
pub mod timeline;
pub mod vocab;
