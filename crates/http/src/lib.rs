//! phonecert's HTTP file server: the server phones fetch upgrade scripts, settings files and
//! firmware from.
//!
//! Owns: the per-file behaviour core (`files`: sans-IO, decides every byte of each answer)
//! and the tokio shell (`shell`: sockets, hyper for well-formed answers, a raw TCP path for
//! byte-level faults, tap reporting and timeline events).
//!
//! Never: judges the phone, or parses provisioning scripts (it serves bytes it is given).

pub mod body;
pub mod files;
pub mod shell;

pub use body::{Body, FileBody, Patch};
pub use files::{
    Behaviour, Decision, Delivery, FaultMark, FileEntry, FileTable, Finding, LastModified,
    PathError, RangePolicy, Step,
};
pub use shell::{Event, run};
