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

/// Opens `path` for appending, created mode 0600 (logs carry object names and messages); an
/// existing file is narrowed to 0600 too.
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    // Only regular files: `--log-file /dev/null` must keep working.
    let meta = file.metadata()?;
    if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
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
    let file =
        open_private(&path).with_context(|| format!("cannot open log file {}", path.display()))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn log_files_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fresh = dir.path().join("new.log");
        open_private(&fresh).expect("open");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&fresh), 0o600);
        let old = dir.path().join("old.log");
        std::fs::write(&old, "x").expect("write");
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        open_private(&old).expect("open");
        assert_eq!(mode(&old), 0o600);
    }
}
