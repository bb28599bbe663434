//! The `phonecert` binary: a thin shell over the `phonecert` library (see `harness/`).

fn main() -> std::process::ExitCode {
    phonecert::cli::main()
}
