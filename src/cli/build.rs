//! `flotilla build`: kustomize build of a directory.

use std::process::ExitCode;

/// Arguments of `flotilla build`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Builds and prints.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("flotilla build: not built yet");
    ExitCode::from(2)
}
