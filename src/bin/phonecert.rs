//! The `phonecert` binary: a thin shell over the `phonecert` library (see `harness/`).
//!
//! It also carries the reference phone: `phonecert simphone ARGS…` is `simphone ARGS…`, so
//! that `cargo run -- run`, which builds this binary alone, finds a phone to run the suite
//! against. `simphone` stays a binary of its own for running the phone by hand.
//!
//! `phonecert storm ARGS…` runs many reference phones at once in this process (the `storm`
//! crate, which joins the phone to the harness so that neither depends on the other).

use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).peekable();
    if args
        .next_if(|a| *a == *phonecert::dut::EMBEDDED_SIMPHONE)
        .is_some()
    {
        return simphone::cli::main_from(std::iter::once(OsString::from("simphone")).chain(args));
    }
    if args.next_if(|a| a == "storm").is_some() {
        return storm::cli::main_from(
            std::iter::once(OsString::from("phonecert storm")).chain(args),
        );
    }
    phonecert::cli::main(true)
}
