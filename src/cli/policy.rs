//! `flotilla policy`: evaluate image policies offline.

use std::process::ExitCode;

/// Arguments of `flotilla policy`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the policy subcommand.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("flotilla policy: not built yet");
    ExitCode::from(2)
}
