//! The `flotilla` binary: parse the command line, set up logging to a file, dispatch.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = flotilla::cli::parse_args();
    // `flotilla helm` logs nothing; its log writer's line buffer alone would be ~4 MB of the
    // render's peak memory (BENCHMARKS.md compares that with `helm template`).
    let logs = !matches!(cli.command, Some(flotilla::cli::Command::Helm(_)));
    let init = if logs {
        flotilla::cli::logging::init(cli.log_file.as_deref(), cli.verbose)
    } else {
        Ok(None)
    };
    let _log_guard = match init {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("flotilla: {e:#}");
            return ExitCode::from(2);
        }
    };
    flotilla::cli::run(cli)
}
