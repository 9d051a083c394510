//! Logging to a file (never to the terminal the console owns).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// The default log file: `$XDG_STATE_HOME/flotilla/flotilla.log`, else `~/.local/state/flotilla/flotilla.log`.
pub fn default_log_file() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("flotilla").join("flotilla.log"))
}

/// Starts file logging. `verbose` raises the level (info → debug → trace); `FLOTILLA_LOG` overrides it.
/// Returns the guard that flushes the log when dropped.
pub fn init(log_file: Option<&Path>, verbose: u8) -> Result<Option<WorkerGuard>> {
    let Some(path) = log_file.map(Path::to_path_buf).or_else(default_log_file) else {
        return Ok(None);
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create log directory {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open log file {}", path.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let level = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("FLOTILLA_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("flotilla={level},warn")));
    // A second init (tests calling run twice) keeps the first subscriber; that is fine.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init();
    Ok(Some(guard))
}
