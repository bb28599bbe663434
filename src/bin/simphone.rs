//! The `simphone` binary: a thin shell over the `simphone` library (see `simphone/`).

fn main() -> std::process::ExitCode {
    simphone::cli::main()
}
