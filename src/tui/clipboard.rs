//! Copying to the clipboard: the system clipboard through arboard when there is a local display, else
//! (or when arboard fails) an OSC 52 escape sequence that the terminal — even across SSH and tmux —
//! turns into a clipboard write. Never panics without a display.

use base64::Engine;

/// How a copy reaches the clipboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The system clipboard (arboard), falling back to OSC 52 when it fails.
    System,
    /// OSC 52 only (remote session or no display).
    Osc52,
}

/// The environment facts the choice depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Environment {
    /// Inside tmux (`TMUX` set).
    pub tmux: bool,
    /// Over SSH (`SSH_TTY` or `SSH_CONNECTION` set).
    pub ssh: bool,
    /// A local display exists (`DISPLAY` or `WAYLAND_DISPLAY` set, or not Linux/BSD).
    pub display: bool,
}

impl Environment {
    /// Reads the process environment.
    pub fn from_env() -> Environment {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        Environment {
            tmux: set("TMUX"),
            ssh: set("SSH_TTY") || set("SSH_CONNECTION"),
            display: set("DISPLAY")
                || set("WAYLAND_DISPLAY")
                || !cfg!(any(
                    target_os = "linux",
                    target_os = "freebsd",
                    target_os = "openbsd",
                    target_os = "netbsd"
                )),
        }
    }
}

/// Picks the method: OSC 52 under SSH or tmux (arboard would write to the wrong machine's clipboard or
/// to a tmux-less display) and when there is no display; the system clipboard otherwise.
pub fn choose(env: Environment) -> Method {
    if env.ssh || env.tmux || !env.display {
        Method::Osc52
    } else {
        Method::System
    }
}

/// The OSC 52 sequence that sets the clipboard to `text`; inside tmux it is wrapped in a DCS
/// passthrough (every ESC doubled) so tmux forwards it to the outer terminal.
pub fn osc52(text: &str, tmux: bool) -> String {
    let payload = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let seq = format!("\x1b]52;c;{payload}\x07");
    if tmux {
        format!("\x1bPtmux;{}\x1b\\", seq.replace('\x1b', "\x1b\x1b"))
    } else {
        seq
    }
}

/// Copies `text` with `method`; returns how it was copied (`clipboard` or `OSC 52`) or why not.
/// `write_osc` writes the escape sequence to the terminal.
pub fn copy(
    text: &str,
    method: Method,
    env: Environment,
    system: &mut Option<arboard::Clipboard>,
    write_osc: impl FnOnce(&str) -> std::io::Result<()>,
) -> Result<&'static str, String> {
    if method == Method::System {
        // The clipboard object is kept alive: on X11 the copied text is served by its owner thread.
        if system.is_none() {
            *system = arboard::Clipboard::new().ok();
        }
        if let Some(cb) = system.as_mut()
            && cb.set_text(text.to_string()).is_ok()
        {
            return Ok("clipboard");
        }
    }
    write_osc(&osc52(text, env.tmux))
        .map(|()| "OSC 52")
        .map_err(|e| format!("cannot write the OSC 52 sequence to the terminal: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_encodes_base64_and_wraps_for_tmux() {
        assert_eq!(osc52("hello", false), "\x1b]52;c;aGVsbG8=\x07");
        assert_eq!(
            osc52("hello", true),
            "\x1bPtmux;\x1b\x1b]52;c;aGVsbG8=\x07\x1b\\"
        );
        assert_eq!(osc52("", false), "\x1b]52;c;\x07");
        // Multi-byte text is encoded as UTF-8 bytes.
        assert_eq!(osc52("é", false), "\x1b]52;c;w6k=\x07");
    }

    #[test]
    fn remote_or_displayless_sessions_use_osc52() {
        let local = Environment {
            tmux: false,
            ssh: false,
            display: true,
        };
        assert_eq!(choose(local), Method::System);
        assert_eq!(choose(Environment { ssh: true, ..local }), Method::Osc52);
        assert_eq!(
            choose(Environment {
                tmux: true,
                ..local
            }),
            Method::Osc52
        );
        assert_eq!(
            choose(Environment {
                display: false,
                ..local
            }),
            Method::Osc52
        );
    }

    #[test]
    fn osc52_is_the_fallback_and_its_errors_are_reported() {
        let env = Environment::default();
        let mut none = None;
        let mut written = String::new();
        let how = copy("name", Method::Osc52, env, &mut none, |s| {
            written.push_str(s);
            Ok(())
        });
        assert_eq!(how, Ok("OSC 52"));
        assert_eq!(written, osc52("name", false));
        let err = copy("name", Method::Osc52, env, &mut none, |_| {
            Err(std::io::Error::other("closed"))
        });
        assert!(err.unwrap_err().contains("closed"));
    }
}
