//! Keymaps: which key triggers which command, per focus (`global`, `table`, the overlays' scopes),
//! loaded from YAML. A key resolves in the focused scope first, then in `overlay` (for the scrolling
//! overlays), then in `global`.
//!
//! The shipped keymaps (`keymaps/*.yaml`) are embedded; a file `~/.config/flotilla/keymaps/<name>.yaml`
//! overrides the bindings it lists on top of the default keymap.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The shipped keymaps, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../keymaps/default.yaml")),
    ("vim", include_str!("../../keymaps/vim.yaml")),
];

/// Something a key can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    /// Leave the console.
    Quit,
    /// Show the active bindings.
    Help,
    /// Open the `:` prompt.
    Prompt,
    /// Open the `/` filter line.
    Filter,
    /// Clear the filter, close an overlay, or go back one view.
    Back,
    /// Move the selection up.
    Up,
    /// Move the selection down.
    Down,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// One page up.
    PageUp,
    /// One page down.
    PageDown,
    /// Sort by name.
    SortName,
    /// Sort by age.
    SortAge,
    /// Sort by status (health).
    SortStatus,
    /// Sort by the READY column.
    SortReady,
    /// Mark or unmark the selected row.
    Mark,
    /// Open the detail of the selected row.
    Detail,
    /// Open the YAML of the selected row.
    Yaml,
    /// Suspend (Flux) or pause auto-sync (Argo CD).
    Suspend,
    /// Resume.
    Resume,
    /// Request a reconcile.
    Reconcile,
    /// Request a reconcile of the source, then of the object.
    ReconcileSource,
    /// HelmRelease: reconcile with force (one-off upgrade).
    HelmForce,
    /// HelmRelease: reconcile with reset of remediation retries.
    HelmReset,
    /// Argo CD: normal refresh.
    Refresh,
    /// Argo CD: hard refresh.
    HardRefresh,
    /// Argo CD: sync.
    Sync,
    /// Delete the object (with confirmation).
    Delete,
    /// Copy `context/namespace/name` (in the YAML view: the whole YAML).
    Copy,
    /// Copy the name alone.
    CopyName,
    /// Overlays: wrap long lines (toggle).
    Wrap,
    /// Overlays: scroll sideways to the left.
    ScrollLeft,
    /// Overlays: scroll sideways to the right.
    ScrollRight,
    /// The live health tree of a Kustomization, HelmRelease or Application.
    Tree,
    /// The dependsOn chain and reverse chain of a Kustomization or HelmRelease.
    DependsOn,
    /// Which Kustomization or HelmRelease manages the object, from which source.
    Trace,
    /// What applying a Kustomization would change.
    Diff,
    /// The image decisions of an ImagePolicy, ImageRepository or workload.
    Images,
    /// Switch to namespace favourite N (0-9).
    Favourite(u8),
    /// Dialog: carry out the action.
    Confirm,
    /// Dialog: drop the action.
    Cancel,
    /// Picker: choose the highlighted entry.
    Pick,
    /// Context picker: show or hide the highlighted context; tree: fold or unfold the node.
    Toggle,
    /// Context picker: show every context.
    ShowAll,
    /// YAML and diff: open the search line.
    Search,
    /// YAML: next search match.
    NextMatch,
    /// YAML: previous search match.
    PrevMatch,
    /// Tree: close the node (or go to its parent).
    Collapse,
    /// Tree: open the node (or go to its first child).
    Expand,
    /// Diff: switch between unified and side-by-side.
    SideBySide,
    /// Diff: next hunk (next match while searching).
    NextHunk,
    /// Diff: previous hunk (previous match while searching).
    PrevHunk,
    /// Diff: copy the hunk at the top line.
    CopyHunk,
    /// Diff: copy the whole diff.
    CopyAll,
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Everywhere (unless a prompt takes text input).
    Global,
    /// The table view.
    Table,
    /// Scrolling, shared by every overlay (dialog, pickers, YAML, detail, tree, diff, reports); the
    /// reports have no keys of their own and use this scope alone.
    Overlay,
    /// The confirmation dialog.
    Dialog,
    /// The context and namespace pickers.
    Picker,
    /// The YAML view.
    Yaml,
    /// The detail view.
    Detail,
    /// The health tree.
    Tree,
    /// The diff view.
    Diff,
}

/// Every scope, in the order help and errors list them.
pub const SCOPES: &[Scope] = &[
    Scope::Global,
    Scope::Table,
    Scope::Overlay,
    Scope::Dialog,
    Scope::Picker,
    Scope::Yaml,
    Scope::Detail,
    Scope::Tree,
    Scope::Diff,
];

impl Scope {
    /// The scope's section name in keymap YAML.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Table => "table",
            Scope::Overlay => "overlay",
            Scope::Dialog => "dialog",
            Scope::Picker => "picker",
            Scope::Yaml => "yaml",
            Scope::Detail => "detail",
            Scope::Tree => "tree",
            Scope::Diff => "diff",
        }
    }

    fn parse(name: &str) -> Option<Scope> {
        SCOPES.iter().copied().find(|s| s.name() == name)
    }

    /// The scopes a key is looked up in while this one has focus, first match wins.
    pub fn chain(self) -> &'static [Scope] {
        match self {
            Scope::Global => &[Scope::Global],
            Scope::Table => &[Scope::Table, Scope::Global],
            Scope::Overlay => &[Scope::Overlay, Scope::Global],
            Scope::Dialog => &[Scope::Dialog, Scope::Overlay, Scope::Global],
            Scope::Picker => &[Scope::Picker, Scope::Overlay, Scope::Global],
            Scope::Yaml => &[Scope::Yaml, Scope::Overlay, Scope::Global],
            Scope::Detail => &[Scope::Detail, Scope::Overlay, Scope::Global],
            Scope::Tree => &[Scope::Tree, Scope::Overlay, Scope::Global],
            Scope::Diff => &[Scope::Diff, Scope::Overlay, Scope::Global],
        }
    }

    /// Whether a command of an outer scope (`overlay`, `global`) does something while this scope has
    /// focus: only those must keep a key (a global `filter` may be shadowed in the YAML view, whose
    /// own `search` replaces it).
    pub fn uses(self, outer: Command) -> bool {
        use Command::*;
        match outer {
            Quit | Help => true,
            Up | Down | Top | Bottom | PageUp | PageDown => true,
            Prompt | Filter => self == Scope::Table,
            Back => self != Scope::Dialog,
            Copy => !matches!(self, Scope::Dialog | Scope::Picker | Scope::Diff),
            _ => false,
        }
    }
}

/// Every command with its YAML name, scope and help text.
pub const COMMANDS: &[(Command, Scope, &str, &str)] = &[
    (Command::Quit, Scope::Global, "quit", "quit"),
    (Command::Help, Scope::Global, "help", "this help"),
    (Command::Prompt, Scope::Global, "command", "command prompt"),
    (
        Command::Filter,
        Scope::Global,
        "filter",
        "filter: regex ! -f -l",
    ),
    (Command::Back, Scope::Global, "back", "clear filter / back"),
    (Command::Up, Scope::Table, "up", "up"),
    (Command::Down, Scope::Table, "down", "down"),
    (Command::Top, Scope::Table, "top", "first row"),
    (Command::Bottom, Scope::Table, "bottom", "last row"),
    (Command::PageUp, Scope::Table, "page_up", "page up"),
    (Command::PageDown, Scope::Table, "page_down", "page down"),
    (Command::SortName, Scope::Table, "sort_name", "sort by name"),
    (Command::SortAge, Scope::Table, "sort_age", "sort by age"),
    (
        Command::SortStatus,
        Scope::Table,
        "sort_status",
        "sort by status",
    ),
    (
        Command::SortReady,
        Scope::Table,
        "sort_ready",
        "sort by ready",
    ),
    (Command::Mark, Scope::Table, "mark", "mark row"),
    (Command::Detail, Scope::Table, "detail", "detail"),
    (Command::Yaml, Scope::Table, "yaml", "YAML"),
    (Command::Suspend, Scope::Table, "suspend", "suspend"),
    (Command::Resume, Scope::Table, "resume", "resume"),
    (Command::Reconcile, Scope::Table, "reconcile", "reconcile"),
    (
        Command::ReconcileSource,
        Scope::Table,
        "reconcile_source",
        "reconcile with source",
    ),
    (
        Command::HelmForce,
        Scope::Table,
        "helm_force",
        "HelmRelease force",
    ),
    (
        Command::HelmReset,
        Scope::Table,
        "helm_reset",
        "HelmRelease reset",
    ),
    (Command::Refresh, Scope::Table, "refresh", "Argo refresh"),
    (
        Command::HardRefresh,
        Scope::Table,
        "hard_refresh",
        "Argo hard refresh",
    ),
    (Command::Sync, Scope::Table, "sync", "Argo sync"),
    (Command::Delete, Scope::Table, "delete", "delete"),
    (
        Command::Copy,
        Scope::Global,
        "copy",
        "copy ctx/ns/name / YAML",
    ),
    (
        Command::CopyName,
        Scope::Table,
        "copy_name",
        "copy the name alone",
    ),
    (Command::Tree, Scope::Table, "tree", "health tree"),
    (
        Command::DependsOn,
        Scope::Table,
        "depends_on",
        "dependsOn chains",
    ),
    (Command::Trace, Scope::Table, "trace", "trace the manager"),
    (Command::Diff, Scope::Table, "diff", "diff vs the cluster"),
    (Command::Images, Scope::Table, "images", "image decisions"),
    (
        Command::Favourite(0),
        Scope::Table,
        "favourite_0",
        "namespace favourite",
    ),
    (
        Command::Favourite(1),
        Scope::Table,
        "favourite_1",
        "namespace favourite",
    ),
    (
        Command::Favourite(2),
        Scope::Table,
        "favourite_2",
        "namespace favourite",
    ),
    (
        Command::Favourite(3),
        Scope::Table,
        "favourite_3",
        "namespace favourite",
    ),
    (
        Command::Favourite(4),
        Scope::Table,
        "favourite_4",
        "namespace favourite",
    ),
    (
        Command::Favourite(5),
        Scope::Table,
        "favourite_5",
        "namespace favourite",
    ),
    (
        Command::Favourite(6),
        Scope::Table,
        "favourite_6",
        "namespace favourite",
    ),
    (
        Command::Favourite(7),
        Scope::Table,
        "favourite_7",
        "namespace favourite",
    ),
    (
        Command::Favourite(8),
        Scope::Table,
        "favourite_8",
        "namespace favourite",
    ),
    (
        Command::Favourite(9),
        Scope::Table,
        "favourite_9",
        "namespace favourite",
    ),
    (Command::Up, Scope::Overlay, "up", "scroll up"),
    (Command::Down, Scope::Overlay, "down", "scroll down"),
    (Command::Top, Scope::Overlay, "top", "top"),
    (Command::Bottom, Scope::Overlay, "bottom", "bottom"),
    (Command::PageUp, Scope::Overlay, "page_up", "page up"),
    (Command::PageDown, Scope::Overlay, "page_down", "page down"),
    (Command::Wrap, Scope::Overlay, "wrap", "wrap long lines"),
    (Command::ScrollLeft, Scope::Overlay, "left", "scroll left"),
    (
        Command::ScrollRight,
        Scope::Overlay,
        "right",
        "scroll right",
    ),
    (Command::Confirm, Scope::Dialog, "confirm", "yes: run it"),
    (Command::Cancel, Scope::Dialog, "cancel", "no: cancel"),
    (
        Command::Pick,
        Scope::Picker,
        "pick",
        "pick (context: only this)",
    ),
    (
        Command::Toggle,
        Scope::Picker,
        "toggle",
        "show/hide context",
    ),
    (Command::ShowAll, Scope::Picker, "show_all", "every context"),
    (Command::Search, Scope::Yaml, "search", "search"),
    (Command::NextMatch, Scope::Yaml, "next_match", "next match"),
    (
        Command::PrevMatch,
        Scope::Yaml,
        "prev_match",
        "previous match",
    ),
    (Command::Yaml, Scope::Detail, "yaml", "YAML"),
    (Command::Tree, Scope::Detail, "tree", "health tree"),
    (
        Command::DependsOn,
        Scope::Detail,
        "depends_on",
        "dependsOn chains",
    ),
    (Command::Trace, Scope::Detail, "trace", "trace the manager"),
    (Command::Diff, Scope::Detail, "diff", "diff vs the cluster"),
    (Command::Images, Scope::Detail, "images", "image decisions"),
    (Command::Suspend, Scope::Detail, "suspend", "suspend"),
    (Command::Resume, Scope::Detail, "resume", "resume"),
    (Command::Reconcile, Scope::Detail, "reconcile", "reconcile"),
    (
        Command::ReconcileSource,
        Scope::Detail,
        "reconcile_source",
        "reconcile with source",
    ),
    (
        Command::HelmForce,
        Scope::Detail,
        "helm_force",
        "HelmRelease force",
    ),
    (
        Command::HelmReset,
        Scope::Detail,
        "helm_reset",
        "HelmRelease reset",
    ),
    (Command::Refresh, Scope::Detail, "refresh", "Argo refresh"),
    (
        Command::HardRefresh,
        Scope::Detail,
        "hard_refresh",
        "Argo hard refresh",
    ),
    (Command::Sync, Scope::Detail, "sync", "Argo sync"),
    (Command::Delete, Scope::Detail, "delete", "delete"),
    (Command::Toggle, Scope::Tree, "toggle", "fold / unfold"),
    (
        Command::Collapse,
        Scope::Tree,
        "collapse",
        "close / to parent",
    ),
    (Command::Expand, Scope::Tree, "expand", "open / to child"),
    (Command::Tree, Scope::Tree, "tree", "health tree of node"),
    (
        Command::DependsOn,
        Scope::Tree,
        "depends_on",
        "dependsOn of node",
    ),
    (Command::Trace, Scope::Tree, "trace", "trace the node"),
    (Command::Diff, Scope::Tree, "diff", "diff of node"),
    (Command::Images, Scope::Tree, "images", "images of node"),
    (
        Command::SideBySide,
        Scope::Diff,
        "side_by_side",
        "unified / side by side",
    ),
    (
        Command::NextHunk,
        Scope::Diff,
        "next_hunk",
        "next hunk / match",
    ),
    (
        Command::PrevHunk,
        Scope::Diff,
        "prev_hunk",
        "previous hunk / match",
    ),
    (Command::Search, Scope::Diff, "search", "search"),
    (
        Command::CopyHunk,
        Scope::Diff,
        "copy_hunk",
        "copy the top hunk",
    ),
    (
        Command::CopyAll,
        Scope::Diff,
        "copy_all",
        "copy the whole diff",
    ),
];

/// A key as the keymap names it: a code plus ctrl/alt (shift is folded into characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The key code (characters carry their case).
    pub code: KeyCode,
    /// Ctrl held.
    pub ctrl: bool,
    /// Alt held.
    pub alt: bool,
}

impl Key {
    /// The normalised key of a terminal key event.
    pub fn from_event(ev: &KeyEvent) -> Key {
        let code = match ev.code {
            // Terminals report shift-tab as BackTab; characters already carry their case.
            KeyCode::Char(c) if ev.modifiers.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            other => other,
        };
        Key {
            code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
            alt: ev.modifiers.contains(KeyModifiers::ALT),
        }
    }

    /// Parses `j`, `N`, `shift-n`, `ctrl-c`, `alt-x`, `enter`, `pgdn`, `f1`, `space`, `?`.
    pub fn parse(spec: &str) -> Option<Key> {
        let mut ctrl = false;
        let mut alt = false;
        let mut shift = false;
        let mut rest = spec;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.chars().count() > 1 && lower.starts_with("ctrl-") {
                ctrl = true;
                rest = &rest[5..];
            } else if rest.chars().count() > 1 && lower.starts_with("alt-") {
                alt = true;
                rest = &rest[4..];
            } else if rest.chars().count() > 1 && lower.starts_with("shift-") {
                shift = true;
                rest = &rest[6..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => {
                let c = if shift {
                    c.to_ascii_uppercase()
                } else if ctrl {
                    c.to_ascii_lowercase()
                } else {
                    c
                };
                KeyCode::Char(c)
            }
            _ => named_key(&rest.to_ascii_lowercase())?,
        };
        Some(Key { code, ctrl, alt })
    }

    /// The key as view titles show it: [`Key::label`] with arrows as glyphs (`←`).
    pub fn short_label(&self) -> String {
        if self.ctrl || self.alt {
            return self.label();
        }
        match self.code {
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            _ => self.label(),
        }
    }

    /// How help shows the key (`ctrl-c`, `N`, `pgdn`).
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "enter".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Tab => "tab".into(),
            KeyCode::BackTab => "backtab".into(),
            KeyCode::Backspace => "backspace".into(),
            KeyCode::Up => "up".into(),
            KeyCode::Down => "down".into(),
            KeyCode::Left => "left".into(),
            KeyCode::Right => "right".into(),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            KeyCode::Home => "home".into(),
            KeyCode::End => "end".into(),
            KeyCode::Delete => "delete".into(),
            KeyCode::F(n) => format!("f{n}"),
            _ => "?".into(),
        };
        let mut out = String::new();
        if self.ctrl {
            out.push_str("ctrl-");
        }
        if self.alt {
            out.push_str("alt-");
        }
        out.push_str(&base);
        out
    }
}

fn named_key(name: &str) -> Option<KeyCode> {
    Some(match name {
        "enter" | "return" => KeyCode::Enter,
        "esc" | "escape" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "backspace" => KeyCode::Backspace,
        "space" => KeyCode::Char(' '),
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "pgup" | "pageup" => KeyCode::PageUp,
        "pgdn" | "pagedown" => KeyCode::PageDown,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "delete" | "del" => KeyCode::Delete,
        f if f.starts_with('f') => {
            let n: u8 = f[1..].parse().ok()?;
            if (1..=12).contains(&n) {
                KeyCode::F(n)
            } else {
                return None;
            }
        }
        _ => return None,
    })
}

/// A theme, keymap or config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {message}")]
    Read {
        /// The file.
        file: String,
        /// The OS error.
        message: String,
    },
    /// A problem at a place in the file.
    #[error("{file}:{line}: {key}: {message}")]
    Invalid {
        /// The file (or `builtin:<name>`).
        file: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// The offending key (dotted path).
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// No shipped or user file has this name.
    #[error("no {what} named {name:?} (looked in {looked_in} and the built-in ones: {builtin})")]
    Unknown {
        /// `theme` or `keymap`.
        what: &'static str,
        /// The requested name.
        name: String,
        /// The user directory searched.
        looked_in: String,
        /// Built-in names.
        builtin: String,
    },
}

/// Parses YAML text into JSON, mapping a syntax error to a [`ConfigError`] with its line.
pub(crate) fn parse_yaml(file: &str, text: &str) -> Result<Value, ConfigError> {
    // YAML 1.2 booleans only: `y` and `n` are keys here, not yes/no.
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| ConfigError::Invalid {
        file: file.to_string(),
        line: e.location().map(|l| l.line() as usize).unwrap_or(0),
        key: "(syntax)".into(),
        message: format!("not valid YAML: {e}"),
    })
}

/// The 1-based line of the first occurrence of `needle` as a YAML key or value (0 when not found).
pub(crate) fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            !l.starts_with('#') && l.contains(needle)
        })
        .map(|i| i + 1)
        .unwrap_or(0)
}

/// The directory holding user overrides: `$XDG_CONFIG_HOME/flotilla`, else `~/.config/flotilla`.
pub fn config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("flotilla"))
}

/// Finds `<dir>/<sub>/<name>.yaml` (or `.yml`) if the user has one, and reads it.
pub(crate) fn read_user_file(
    dir: Option<&Path>,
    sub: &str,
    name: &str,
) -> Result<Option<(String, String)>, ConfigError> {
    let Some(dir) = dir else { return Ok(None) };
    for ext in ["yaml", "yml"] {
        let path = dir.join(sub).join(format!("{name}.{ext}"));
        if path.is_file() {
            let file = path.display().to_string();
            return std::fs::read_to_string(&path)
                .map(|t| Some((file.clone(), t)))
                .map_err(|e| ConfigError::Read {
                    file,
                    message: e.to_string(),
                });
        }
    }
    Ok(None)
}

/// Bindings: (scope, key) → command, plus the keys of each command for help.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: BTreeMap<(Scope, Command), Vec<Key>>,
}

impl Keymap {
    /// The embedded default keymap.
    pub fn builtin_default() -> Keymap {
        let mut km = Keymap {
            bindings: BTreeMap::new(),
        };
        // The shipped default is tested (`builtin_keymaps_parse`), so this cannot fail at runtime.
        let _ = km.overlay("builtin:default", BUILTIN[0].1);
        km
    }

    /// Loads keymap `name`: a user file in `<config_dir>/keymaps/` overrides the built-in of that name;
    /// either is laid over the default keymap.
    pub fn load(name: &str, config_dir: Option<&Path>) -> Result<Keymap, ConfigError> {
        let mut km = Keymap::builtin_default();
        if let Some((file, text)) = read_user_file(config_dir, "keymaps", name)? {
            km.overlay(&file, &text)?;
            return Ok(km);
        }
        match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => {
                km.overlay(&format!("builtin:{n}"), text)?;
                Ok(km)
            }
            None => Err(ConfigError::Unknown {
                what: "keymap",
                name: name.to_string(),
                looked_in: config_dir
                    .map(|d| d.join("keymaps").display().to_string())
                    .unwrap_or_else(|| "(no config directory)".into()),
                builtin: BUILTIN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Replaces the bindings that `text` lists, then checks that no key means two things in one
    /// scope and that no command a scope uses lost all its keys there.
    pub fn overlay(&mut self, file: &str, text: &str) -> Result<(), ConfigError> {
        let invalid = |key: String, line: usize, message: String| ConfigError::Invalid {
            file: file.to_string(),
            line,
            key,
            message,
        };
        let scope_names = || {
            SCOPES
                .iter()
                .map(|s| format!("`{}`", s.name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let doc = parse_yaml(file, text)?;
        let sections = match doc {
            Value::Null => return Ok(()),
            Value::Object(m) => m,
            _ => {
                return Err(invalid(
                    "(top level)".into(),
                    line_of(text, ""),
                    format!("expected a mapping with sections {}", scope_names()),
                ));
            }
        };
        let mut listed = BTreeSet::new();
        for (section, body) in &sections {
            let Some(scope) = Scope::parse(section) else {
                return Err(invalid(
                    section.clone(),
                    section_line(text, section),
                    format!("unknown section; use {}", scope_names()),
                ));
            };
            let Value::Object(entries) = body else {
                return Err(invalid(
                    section.clone(),
                    section_line(text, section),
                    "expected a mapping of command: [keys]".into(),
                ));
            };
            for (name, keys) in entries {
                let path = format!("{section}.{name}");
                let line = entry_line(text, section, name);
                let Some((cmd, _, _, _)) = COMMANDS
                    .iter()
                    .find(|(_, s, n, _)| *s == scope && *n == name.as_str())
                else {
                    let known: Vec<&str> = COMMANDS
                        .iter()
                        .filter(|(_, s, _, _)| *s == scope)
                        .map(|(_, _, n, _)| *n)
                        .collect();
                    return Err(invalid(
                        path,
                        line,
                        format!(
                            "unknown command in `{}`; known: {}",
                            scope.name(),
                            known.join(", ")
                        ),
                    ));
                };
                let specs: Vec<&Value> = match keys {
                    Value::Array(a) => a.iter().collect(),
                    Value::Null => Vec::new(),
                    one => vec![one],
                };
                let mut parsed = Vec::new();
                for spec in specs {
                    let s = match spec {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => {
                            return Err(invalid(
                                path,
                                line,
                                "a key must be a string like `j`, `ctrl-c` or `pgdn`".into(),
                            ));
                        }
                    };
                    match Key::parse(&s) {
                        Some(k) => {
                            if !parsed.contains(&k) {
                                parsed.push(k);
                            }
                        }
                        None => {
                            return Err(invalid(
                                path,
                                line,
                                format!(
                                    "unknown key {s:?}; use a character, ctrl-X, alt-X, enter, esc, tab, space, backspace, up/down/left/right, pgup/pgdn, home/end or f1..f12"
                                ),
                            ));
                        }
                    }
                }
                self.bindings.insert((scope, *cmd), parsed);
                listed.insert((scope, *cmd));
            }
        }
        match self.conflict(&listed) {
            None => Ok(()),
            Some(c) => Err(invalid(
                format!(
                    "{}.{}",
                    c.blame.0.name(),
                    command_name(c.blame.0, c.blame.1)
                ),
                entry_line(text, c.blame.0.name(), command_name(c.blame.0, c.blame.1)),
                c.message,
            )),
        }
    }

    /// The command bound to `key` in `scope`, else in the outer scopes of [`Scope::chain`].
    pub fn command(&self, scope: Scope, key: Key) -> Option<Command> {
        scope.chain().iter().find_map(|s| self.bound_in(*s, key))
    }

    /// The command `key` means in exactly `scope` (no fallback).
    fn bound_in(&self, scope: Scope, key: Key) -> Option<Command> {
        self.bindings
            .range((scope, Command::Quit)..)
            .take_while(|((s, _), _)| *s == scope)
            .find(|(_, keys)| keys.contains(&key))
            .map(|((_, c), _)| *c)
    }

    /// The keys bound to a command in any scope.
    pub fn keys_for(&self, command: Command) -> Vec<Key> {
        self.bindings
            .iter()
            .filter(|((_, c), _)| *c == command)
            .flat_map(|(_, keys)| keys.iter().copied())
            .collect()
    }

    /// The keys bound to a command in exactly `scope`.
    pub fn keys_in(&self, scope: Scope, command: Command) -> &[Key] {
        self.bindings
            .get(&(scope, command))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// How a view's title names the key of `command` in exactly `scope`: its first key (arrows as
    /// glyphs), or `-` when the user unbound it. Titles follow remapped keys this way.
    pub fn hint(&self, scope: Scope, command: Command) -> String {
        self.keys_in(scope, command)
            .first()
            .map_or_else(|| "-".to_string(), Key::short_label)
    }

    /// Every key of `command` in exactly `scope`, joined by `/` (`y/enter`), or `-` when unbound.
    pub fn hint_all(&self, scope: Scope, command: Command) -> String {
        let keys: Vec<String> = self
            .keys_in(scope, command)
            .iter()
            .map(Key::short_label)
            .collect();
        if keys.is_empty() {
            "-".into()
        } else {
            keys.join("/")
        }
    }

    /// What help shows while `scope` has focus: (keys, help text) for every command that works
    /// there and has a key, in [`COMMANDS`] order. Namespace favourites are left to the caller.
    pub fn help_lines(&self, scope: Scope) -> Vec<(Vec<Key>, &'static str)> {
        let chain = scope.chain();
        COMMANDS
            .iter()
            .filter(|(cmd, s, _, _)| {
                !matches!(cmd, Command::Favourite(_))
                    && chain.contains(s)
                    && (*s == scope || scope.uses(*cmd))
            })
            .map(|(cmd, s, _, help)| (self.keys_in(*s, *cmd).to_vec(), *help))
            .filter(|(keys, _)| !keys.is_empty())
            .collect()
    }

    /// The first conflict: a key bound to two commands of one scope, or a command some focus uses
    /// whose every key an inner scope took. `listed` (the bindings the file being loaded names)
    /// decides which binding the error blames.
    fn conflict(&self, listed: &BTreeSet<(Scope, Command)>) -> Option<Conflict> {
        for &scope in SCOPES {
            let mut seen: BTreeMap<String, Command> = BTreeMap::new();
            for ((_, cmd), keys) in self.bindings.iter().filter(|((s, _), _)| *s == scope) {
                for key in keys {
                    match seen.get(&key.label()) {
                        Some(other) if other != cmd => {
                            let blame = if listed.contains(&(scope, *cmd)) {
                                *cmd
                            } else {
                                *other
                            };
                            let partner = if blame == *cmd { *other } else { *cmd };
                            return Some(Conflict {
                                blame: (scope, blame),
                                message: format!(
                                    "key {} is also bound to `{}.{}`; a key may mean one command per scope",
                                    key.label(),
                                    scope.name(),
                                    command_name(scope, partner)
                                ),
                            });
                        }
                        _ => {
                            seen.insert(key.label(), *cmd);
                        }
                    }
                }
            }
        }
        for &focus in SCOPES.iter().filter(|s| **s != Scope::Global) {
            let chain = focus.chain();
            for (i, &outer) in chain.iter().enumerate().skip(1) {
                for ((_, cmd), keys) in self.bindings.iter().filter(|((s, _), _)| *s == outer) {
                    if keys.is_empty() || !focus.uses(*cmd) {
                        continue;
                    }
                    let takers: Vec<(Scope, Command)> = keys
                        .iter()
                        .filter_map(|k| {
                            chain[..i]
                                .iter()
                                .find_map(|s| self.bound_in(*s, *k).map(|c| (*s, c)))
                        })
                        .collect();
                    if takers.len() < keys.len() {
                        continue;
                    }
                    let blame = takers
                        .iter()
                        .copied()
                        .find(|t| listed.contains(t))
                        .unwrap_or((outer, *cmd));
                    let labels: Vec<String> = keys.iter().map(Key::label).collect();
                    let by: Vec<String> = takers
                        .iter()
                        .map(|(s, c)| format!("`{}.{}`", s.name(), command_name(*s, *c)))
                        .collect();
                    return Some(Conflict {
                        blame,
                        message: format!(
                            "`{}.{}` would have no key left in `{}`: {} taken by {}; give one of them another key",
                            outer.name(),
                            command_name(outer, *cmd),
                            focus.name(),
                            labels.join(", "),
                            by.join(", ")
                        ),
                    });
                }
            }
        }
        None
    }
}

/// A keymap conflict: the binding to blame and what is wrong.
struct Conflict {
    blame: (Scope, Command),
    message: String,
}

/// The YAML name of `command` in `scope`.
fn command_name(scope: Scope, command: Command) -> &'static str {
    COMMANDS
        .iter()
        .find(|(c, s, _, _)| *c == command && *s == scope)
        .map(|(_, _, n, _)| *n)
        .unwrap_or("?")
}

/// Whether `line` (unindented) opens YAML mapping key `name`.
fn opens_key(line: &str, name: &str) -> bool {
    [name.to_string(), format!("\"{name}\""), format!("'{name}'")]
        .iter()
        .any(|n| {
            line.strip_prefix(n.as_str())
                .is_some_and(|r| r.trim_start().starts_with(':'))
        })
}

/// The 1-based line where top-level section `section` starts (0 when not found).
fn section_line(text: &str, section: &str) -> usize {
    text.lines()
        .position(|l| opens_key(l, section))
        .map(|i| i + 1)
        .unwrap_or(0)
}

/// The 1-based line of entry `name` inside top-level section `section` (else the section's line).
fn entry_line(text: &str, section: &str, name: &str) -> usize {
    let start = section_line(text, section);
    if start == 0 {
        return line_of(text, name);
    }
    for (i, l) in text.lines().enumerate().skip(start) {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.len() == l.len() {
            // The next section: the entry is not in this file's section.
            break;
        }
        if opens_key(trimmed, name) {
            return i + 1;
        }
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_keymaps_parse() {
        for (name, text) in BUILTIN {
            let mut km = Keymap::builtin_default();
            km.overlay(name, text).unwrap();
        }
        let km = Keymap::builtin_default();
        assert_eq!(
            km.command(Scope::Table, Key::parse("j").unwrap()),
            Some(Command::Down)
        );
        assert_eq!(
            km.command(Scope::Table, Key::parse("shift-n").unwrap()),
            Some(Command::SortName)
        );
        assert_eq!(
            km.command(Scope::Table, Key::parse("ctrl-c").unwrap()),
            Some(Command::Quit)
        );
        for (key, cmd) in [
            ("t", Command::Tree),
            ("D", Command::DependsOn),
            ("T", Command::Trace),
            ("x", Command::Diff),
            ("i", Command::Images),
        ] {
            assert_eq!(
                km.command(Scope::Table, Key::parse(key).unwrap()),
                Some(cmd)
            );
        }
        // vim keeps D for delete and moves dependsOn to o.
        let vim = Keymap::load("vim", None).unwrap();
        assert_eq!(
            vim.command(Scope::Table, Key::parse("D").unwrap()),
            Some(Command::Delete)
        );
        assert_eq!(
            vim.command(Scope::Table, Key::parse("o").unwrap()),
            Some(Command::DependsOn)
        );
    }

    #[test]
    fn key_specs() {
        assert_eq!(Key::parse("N"), Key::parse("shift-n"));
        assert_eq!(Key::parse("ctrl-C"), Key::parse("ctrl-c"));
        assert_eq!(Key::parse("f13"), None);
        assert_eq!(Key::parse("bogus"), None);
        assert_eq!(Key::parse(""), None);
        assert_eq!(Key::parse("ctrl-"), None);
        assert_eq!(Key::parse("-").map(|k| k.code), Some(KeyCode::Char('-')));
        assert_eq!(Key::parse("space").unwrap().label(), "space");
    }

    #[test]
    fn broken_keymap_names_file_line_and_key() {
        let text = "table:\n  down: [j]\n  sideways: [x]\n";
        let err = Keymap::builtin_default()
            .overlay("/u/k.yaml", text)
            .unwrap_err();
        assert_eq!(
            err.to_string().split(": unknown").next(),
            Some("/u/k.yaml:3: table.sideways")
        );
        let err = Keymap::builtin_default()
            .overlay("/u/k.yaml", "global:\n  quit: [ctrl-c, hyper-q]\n")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/u/k.yaml:2: global.quit: unknown key")
        );
        let err = Keymap::builtin_default()
            .overlay("/u/k.yaml", "global: [\n")
            .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{err}");
        for bad in ["- 1\n- 2", "global: 3", "table:\n  up: [{a: 1}]", "42"] {
            assert!(
                Keymap::builtin_default().overlay("x", bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn user_keymap_overrides_only_what_it_lists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keymaps")).unwrap();
        std::fs::write(
            dir.path().join("keymaps/mine.yaml"),
            "table:\n  down: [n]\n",
        )
        .unwrap();
        let km = Keymap::load("mine", Some(dir.path())).unwrap();
        let n = Key::parse("n").unwrap();
        assert_eq!(km.command(Scope::Table, n), Some(Command::Down));
        assert_eq!(km.command(Scope::Table, Key::parse("j").unwrap()), None);
        assert_eq!(
            km.command(Scope::Table, Key::parse("k").unwrap()),
            Some(Command::Up)
        );
        assert!(matches!(
            Keymap::load("nope", Some(dir.path())),
            Err(ConfigError::Unknown { .. })
        ));
    }

    fn overlay_err(text: &str) -> String {
        Keymap::builtin_default()
            .overlay("/u/k.yaml", text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn new_scopes_resolve_before_overlay_and_global() {
        let km = Keymap::builtin_default();
        let k = |s: &str| Key::parse(s).unwrap();
        assert_eq!(km.command(Scope::Dialog, k("y")), Some(Command::Confirm));
        assert_eq!(km.command(Scope::Dialog, k("esc")), Some(Command::Cancel));
        assert_eq!(km.command(Scope::Dialog, k("j")), Some(Command::Down));
        assert_eq!(km.command(Scope::Dialog, k("ctrl-c")), Some(Command::Quit));
        assert_eq!(km.command(Scope::Picker, k("a")), Some(Command::ShowAll));
        assert_eq!(km.command(Scope::Yaml, k("/")), Some(Command::Search));
        assert_eq!(km.command(Scope::Yaml, k("N")), Some(Command::PrevMatch));
        assert_eq!(km.command(Scope::Tree, k("space")), Some(Command::Toggle));
        assert_eq!(km.command(Scope::Tree, k("T")), Some(Command::Trace));
        assert_eq!(km.command(Scope::Diff, k("Y")), Some(Command::CopyAll));
        assert_eq!(
            km.command(Scope::Detail, k("ctrl-d")),
            Some(Command::Delete)
        );
        // The table's keys do not leak into overlays any more.
        assert_eq!(km.command(Scope::Yaml, k("s")), None);
        assert_eq!(km.command(Scope::Overlay, k("t")), None);
        // vim: ctrl-d pages in overlays, D deletes in the detail view.
        let vim = Keymap::load("vim", None).unwrap();
        assert_eq!(
            vim.command(Scope::Detail, k("ctrl-d")),
            Some(Command::PageDown)
        );
        assert_eq!(vim.command(Scope::Detail, k("D")), Some(Command::Delete));
        assert_eq!(vim.command(Scope::Picker, k("l")), Some(Command::Pick));
        assert_eq!(vim.command(Scope::Tree, k("o")), Some(Command::DependsOn));
    }

    #[test]
    fn default_keymap_lists_every_command() {
        // default.yaml names every command of every scope with its keys.
        let doc = parse_yaml("default", BUILTIN[0].1).unwrap();
        for (_, scope, name, _) in COMMANDS {
            assert!(
                doc.get(scope.name()).and_then(|s| s.get(name)).is_some(),
                "default.yaml lacks {}.{name}",
                scope.name()
            );
        }
    }

    #[test]
    fn unknown_section_command_and_key_in_new_scopes() {
        let err = overlay_err("table:\n  down: [j]\ndialogue:\n  confirm: [o]\n");
        assert!(
            err.starts_with("/u/k.yaml:3: dialogue: unknown section; use `global`"),
            "{err}"
        );
        // `tree` is both a table command and a section: the error points into the section.
        let err = overlay_err("table:\n  tree: [t]\ntree:\n  unfold: [l]\n");
        assert!(
            err.starts_with("/u/k.yaml:4: tree.unfold: unknown command in `tree`; known: toggle"),
            "{err}"
        );
        let err = overlay_err("diff:\n  side_by_side: [hyper-v]\n");
        assert!(
            err.starts_with("/u/k.yaml:2: diff.side_by_side: unknown key"),
            "{err}"
        );
    }

    #[test]
    fn a_key_bound_twice_in_one_scope_is_an_error() {
        let err = overlay_err("# mine\ndialog:\n  confirm: [n]\n");
        assert_eq!(
            err,
            "/u/k.yaml:3: dialog.confirm: key n is also bound to `dialog.cancel`; a key may mean one command per scope"
        );
        let err = overlay_err("picker:\n  pick: [enter]\n  toggle: [space, enter]\n");
        assert!(
            err.starts_with("/u/k.yaml:3: picker.toggle: key enter"),
            "{err}"
        );
        // The same key in two scopes is fine, and so is moving a key away first.
        let mut km = Keymap::builtin_default();
        km.overlay("x", "diff:\n  side_by_side: [v]\ntree:\n  expand: [v]\n")
            .unwrap();
        km.overlay("x", "dialog:\n  confirm: [n]\n  cancel: [esc]\n")
            .unwrap();
    }

    #[test]
    fn shadowing_a_used_outer_command_is_an_error() {
        // yaml's next_match on c would leave global copy without a key in the YAML view.
        let err = overlay_err("yaml:\n  next_match: [c]\n");
        assert_eq!(
            err,
            "/u/k.yaml:2: yaml.next_match: `global.copy` would have no key left in `yaml`: c taken by `yaml.next_match`; give one of them another key"
        );
        // Scrolling in overlays: taking both keys of overlay.up in the detail view.
        let err = overlay_err("detail:\n  yaml: [k, up]\n");
        assert!(
            err.starts_with("/u/k.yaml:2: detail.yaml: `overlay.up`"),
            "{err}"
        );
        // Blame falls on the outer command when only it was listed.
        let err = overlay_err("overlay:\n  down: [s]\ndetail:\n  suspend: [s]\n");
        assert!(
            err.contains("`overlay.down` would have no key left in `detail`"),
            "{err}"
        );
        // Shadowing what the scope does not use is allowed: diff's `/` replaces global filter, and
        // a partial shadow leaves the other key.
        let mut km = Keymap::builtin_default();
        km.overlay("x", "tree:\n  toggle: [k]\n").unwrap();
        assert_eq!(
            km.command(Scope::Tree, Key::parse("k").unwrap()),
            Some(Command::Toggle)
        );
        assert_eq!(
            km.command(Scope::Tree, Key::parse("up").unwrap()),
            Some(Command::Up)
        );
        // Unbinding a command on purpose is not a conflict.
        km.overlay("x", "global:\n  copy: []\nyaml:\n  next_match: [c]\n")
            .unwrap();
    }

    #[test]
    fn help_lists_the_focused_scope_and_the_outer_commands_it_uses() {
        let km = Keymap::builtin_default();
        let texts =
            |s: Scope| -> Vec<&str> { km.help_lines(s).into_iter().map(|(_, h)| h).collect() };
        let yaml = texts(Scope::Yaml);
        assert!(
            yaml.contains(&"search") && yaml.contains(&"scroll down") && yaml.contains(&"quit")
        );
        assert!(!yaml.contains(&"command prompt") && !yaml.contains(&"suspend"));
        let table = texts(Scope::Table);
        assert!(table.contains(&"command prompt") && !table.contains(&"scroll down"));
        assert!(!texts(Scope::Dialog).contains(&"copy ctx/ns/name / YAML"));
    }
}
