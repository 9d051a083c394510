//! The `flotilla` binary: parse the command line, set up logging to a file, dispatch.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = flotilla::cli::parse_args();
    let _log_guard = match flotilla::cli::logging::init(cli.log_file.as_deref(), cli.verbose) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("flotilla: {e:#}");
            return ExitCode::from(2);
        }
    };
    flotilla::cli::run(cli)
}
