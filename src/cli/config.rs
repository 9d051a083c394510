//! `~/.config/flotilla/config.yaml` (or `$XDG_CONFIG_HOME/flotilla/config.yaml`): the console's
//! defaults. Command-line flags win over it. A broken file is an error naming file, line and key.
//!
//! ```yaml
//! theme: dracula          # a built-in theme or a file in themes/
//! keymap: vim             # a built-in keymap or a file in keymaps/
//! readonly: false         # refuse every mutation
//! defaultView: failing    # the view the console opens on (all, failing, ks, app, ...)
//! favourites: [all, flux-system, argocd]   # namespaces for the keys 0-9
//! contexts:
//!   production: {readonly: true}           # refuse mutations in this context only
//! ```

use crate::tui::ViewKind;
use crate::tui::keymap::{ConfigError, line_of, parse_yaml};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// The parsed config file (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Theme name.
    pub theme: Option<String>,
    /// Keymap name.
    pub keymap: Option<String>,
    /// Refuse every mutation.
    pub readonly: bool,
    /// The view to open on (validated).
    pub default_view: Option<String>,
    /// Namespace favourites for the keys 0-9.
    pub favourites: Vec<String>,
    /// Contexts where mutations are refused.
    pub readonly_contexts: BTreeSet<String>,
}

impl Config {
    /// Reads `<dir>/config.yaml` (or `.yml`); a missing file is the default config.
    pub fn load(dir: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(dir) = dir else {
            return Ok(Config::default());
        };
        for name in ["config.yaml", "config.yml"] {
            let path = dir.join(name);
            if path.is_file() {
                let file = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Read {
                    file: file.clone(),
                    message: e.to_string(),
                })?;
                return Config::parse(&file, &text);
            }
        }
        Ok(Config::default())
    }

    /// Parses config text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let invalid = |key: &str, needle: &str, message: String| ConfigError::Invalid {
            file: file.to_string(),
            line: line_of(text, needle),
            key: key.to_string(),
            message,
        };
        let doc = parse_yaml(file, text)?;
        let map = match doc {
            Value::Null => return Ok(Config::default()),
            Value::Object(m) => m,
            _ => {
                return Err(invalid(
                    "(top level)",
                    "",
                    "expected a mapping (theme, keymap, readonly, defaultView, favourites, contexts)"
                        .into(),
                ));
            }
        };
        let mut config = Config::default();
        for (key, value) in &map {
            let string = |what: &str| -> Result<String, ConfigError> {
                match value {
                    Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                    _ => Err(invalid(key, key, format!("expected {what}"))),
                }
            };
            match key.as_str() {
                "theme" => config.theme = Some(string("a theme name")?),
                "keymap" => config.keymap = Some(string("a keymap name")?),
                "readonly" => {
                    config.readonly = value
                        .as_bool()
                        .ok_or_else(|| invalid(key, key, "expected true or false".into()))?;
                }
                "defaultView" | "default_view" => {
                    let view =
                        string("a view name (all, failing, suspended, events, ks, app, ...)")?;
                    if ViewKind::parse(&view).is_none() {
                        return Err(invalid(
                            key,
                            key,
                            format!(
                                "unknown view {view:?}; use all, failing, suspended, events or a kind (ks, gr, hr, app, ...)"
                            ),
                        ));
                    }
                    config.default_view = Some(view);
                }
                "favourites" | "favorites" => {
                    let Value::Array(items) = value else {
                        return Err(invalid(key, key, "expected a list of namespaces".into()));
                    };
                    if items.len() > 10 {
                        return Err(invalid(
                            key,
                            key,
                            format!("{} favourites; the keys 0-9 allow at most 10", items.len()),
                        ));
                    }
                    for (i, item) in items.iter().enumerate() {
                        match item {
                            Value::String(s) if !s.trim().is_empty() => {
                                config.favourites.push(s.trim().to_string())
                            }
                            _ => {
                                return Err(invalid(
                                    &format!("{key}[{i}]"),
                                    key,
                                    "expected a namespace name (or `all`)".into(),
                                ));
                            }
                        }
                    }
                }
                "contexts" => {
                    let Value::Object(contexts) = value else {
                        return Err(invalid(
                            key,
                            key,
                            "expected a mapping of context name: {readonly: true}".into(),
                        ));
                    };
                    for (name, settings) in contexts {
                        let path = format!("contexts.{name}");
                        let Value::Object(settings) = settings else {
                            return Err(invalid(
                                &path,
                                name,
                                "expected a mapping like {readonly: true}".into(),
                            ));
                        };
                        for (k, v) in settings {
                            let path = format!("{path}.{k}");
                            match (k.as_str(), v) {
                                ("readonly", Value::Bool(true)) => {
                                    config.readonly_contexts.insert(name.clone());
                                }
                                ("readonly", Value::Bool(false)) => {}
                                ("readonly", _) => {
                                    return Err(invalid(
                                        &path,
                                        name,
                                        "expected true or false".into(),
                                    ));
                                }
                                _ => {
                                    return Err(invalid(
                                        &path,
                                        k,
                                        "unknown context setting; known: readonly".into(),
                                    ));
                                }
                            }
                        }
                    }
                }
                _ => {
                    return Err(invalid(
                        key,
                        key,
                        "unknown setting; known: theme, keymap, readonly, defaultView, favourites, contexts"
                            .into(),
                    ));
                }
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_setting() {
        let text = "theme: dracula\nkeymap: vim\nreadonly: true\ndefaultView: failing\nfavourites: [all, flux-system]\ncontexts:\n  prod: {readonly: true}\n  dev: {readonly: false}\n";
        let c = Config::parse("c.yaml", text).unwrap();
        assert_eq!(c.theme.as_deref(), Some("dracula"));
        assert_eq!(c.keymap.as_deref(), Some("vim"));
        assert!(c.readonly);
        assert_eq!(c.default_view.as_deref(), Some("failing"));
        assert_eq!(c.favourites, ["all", "flux-system"]);
        assert_eq!(c.readonly_contexts.iter().collect::<Vec<_>>(), ["prod"]);
        assert_eq!(Config::parse("c.yaml", "").unwrap(), Config::default());
    }

    #[test]
    fn broken_config_names_file_line_and_key() {
        let err = Config::parse("/c.yaml", "theme: x\nreadonly: yes please\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/c.yaml:2: readonly: expected true or false"
        );
        let err = Config::parse("/c.yaml", "theme: x\ncontexts:\n  prod:\n    readonly: 3\n")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/c.yaml:3: contexts.prod.readonly"),
            "{err}"
        );
        let err = Config::parse("/c.yaml", "defaultView: pods\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/c.yaml:1: defaultView: unknown view"),
            "{err}"
        );
        let err = Config::parse("/c.yaml", "colour: red\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/c.yaml:1: colour: unknown setting"),
            "{err}"
        );
        for bad in [
            "[1]",
            "theme: [a]",
            "favourites: x",
            "favourites: [1]",
            "favourites: [a,b,c,d,e,f,g,h,i,j,k]",
            "contexts: 1",
            "contexts: {a: 1}",
            "contexts: {a: {colour: red}}",
            "theme: {",
            "theme: ''",
        ] {
            assert!(Config::parse("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn load_reads_the_config_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::load(Some(dir.path())).unwrap(), Config::default());
        assert_eq!(Config::load(None).unwrap(), Config::default());
        std::fs::write(dir.path().join("config.yaml"), "keymap: vim\n").unwrap();
        assert_eq!(
            Config::load(Some(dir.path())).unwrap().keymap.as_deref(),
            Some("vim")
        );
    }
}
