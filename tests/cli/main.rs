//! End-to-end tests of the `phonecert` binary against the reference phone, in every lab
//! this machine can offer. Each test runs the real binaries over real sockets and then reads
//! what a user would read: the exit code, `report.json`, `junit.xml` and the pcapng.

mod bad_input;
mod boot;
mod common;
mod dhclient;
mod evidence;
mod firmware;
mod iface;
mod jobs;
mod lifecycle;
mod merge;
mod profiles;
mod recipes;
mod relay;
mod reports;
mod scenario_errors;
mod script_tools;
mod serve;
mod storm;
