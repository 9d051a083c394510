//! `flotilla apiserver`: run the embedded Kubernetes API server.

use std::process::ExitCode;

/// Arguments of `flotilla apiserver`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the server until SIGINT/SIGTERM.
pub fn run(_args: Args, _verbose: u8) -> ExitCode {
    eprintln!("flotilla apiserver: not built yet");
    ExitCode::from(2)
}
