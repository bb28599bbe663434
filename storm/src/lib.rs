//! phonecert storm: boots many reference phones at once against one lab — one DHCP server,
//! one file server, the registrars — and measures how the infrastructure and the harness hold
//! up: time until every phone registered, each phone's boot time, where phones that did not
//! register stopped, what the capture dropped, and the harness's memory per phone.
//!
//! The phones are `simphone`'s, run as tasks of this process (`run` says why); this crate is
//! the only place that joins the reference phone to the harness, which keeps the phone free
//! of the servers' and the judge's code (and the harness free of the phone's).
//!
//! Modules: `cli` (flags, exit codes, the runtime), `run` (one storm end to end), `link` (the
//! packet socket the phones share in the netns lab), `tally` (each phone's progress from the
//! servers' events), `report` (what is written and printed).

pub mod cli;
pub mod link;
pub mod report;
pub mod run;
pub mod tally;
