//! Themes: one named style per screen element, loaded from YAML; `NO_COLOR` keeps only the modifiers.

use super::keymap::{ConfigError, line_of, parse_yaml, read_user_file};
use ratatui::style::{Color, Modifier, Style};
use serde_json::Value;
use std::path::Path;

/// The shipped themes, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.yaml")),
    ("light", include_str!("../../themes/light.yaml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.yaml"),
    ),
    ("dracula", include_str!("../../themes/dracula.yaml")),
];

macro_rules! theme_slots {
    ($($slot:ident),* $(,)?) => {
        /// The style of every screen element.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Theme {
            $(
                #[doc = concat!("Style of `", stringify!($slot), "`.")]
                pub $slot: Style,
            )*
        }

        const SLOTS: &[&str] = &[$(stringify!($slot)),*];

        impl Theme {
            fn slot_mut(&mut self, name: &str) -> Option<&mut Style> {
                match name {
                    $(stringify!($slot) => Some(&mut self.$slot),)*
                    _ => None,
                }
            }

            fn map_styles(&mut self, f: impl Fn(Style) -> Style) {
                $(self.$slot = f(self.$slot);)*
            }
        }
    };
}

theme_slots!(
    text,
    title,
    header_key,
    table_header,
    selected,
    marked,
    ready,
    failing,
    progressing,
    suspended,
    unknown,
    stale,
    ctx_live,
    ctx_connecting,
    ctx_stale,
    ctx_forbidden,
    ctx_unreachable,
    readonly_badge,
    crumb,
    crumb_active,
    flash_info,
    flash_error,
    prompt,
    suggestion,
    help_key,
    diff_add,
    diff_del,
    diff_hunk,
);

impl Theme {
    /// The embedded default theme.
    pub fn builtin_default() -> Theme {
        let mut t = Theme::default();
        // The shipped themes are tested (`builtin_themes_parse`), so this cannot fail at runtime.
        let _ = t.overlay("builtin:default", BUILTIN[0].1);
        t
    }

    /// Loads theme `name` (a user file in `<config_dir>/themes/` wins over a built-in one), laid over the
    /// default theme. `no_color` strips every colour and keeps bold/reverse/etc.
    pub fn load(
        name: &str,
        config_dir: Option<&Path>,
        no_color: bool,
    ) -> Result<Theme, ConfigError> {
        let mut theme = Theme::builtin_default();
        if let Some((file, text)) = read_user_file(config_dir, "themes", name)? {
            theme.overlay(&file, &text)?;
        } else if let Some((n, text)) = BUILTIN.iter().find(|(n, _)| *n == name) {
            theme.overlay(&format!("builtin:{n}"), text)?;
        } else {
            return Err(ConfigError::Unknown {
                what: "theme",
                name: name.to_string(),
                looked_in: config_dir
                    .map(|d| d.join("themes").display().to_string())
                    .unwrap_or_else(|| "(no config directory)".into()),
                builtin: BUILTIN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if no_color {
            theme.strip_colors();
        }
        Ok(theme)
    }

    /// A colourless theme (for `NO_COLOR`): modifiers only; the selection stays visible by reversing.
    pub fn strip_colors(&mut self) {
        self.map_styles(|s| Style {
            fg: None,
            bg: None,
            ..s
        });
        self.selected = self.selected.add_modifier(Modifier::REVERSED);
        self.table_header = self.table_header.add_modifier(Modifier::BOLD);
        self.failing = self.failing.add_modifier(Modifier::BOLD);
        self.readonly_badge = self.readonly_badge.add_modifier(Modifier::REVERSED);
        self.crumb_active = self.crumb_active.add_modifier(Modifier::REVERSED);
    }

    /// Replaces the styles `text` lists.
    pub fn overlay(&mut self, file: &str, text: &str) -> Result<(), ConfigError> {
        let invalid = |key: String, needle: &str, message: String| ConfigError::Invalid {
            file: file.to_string(),
            line: line_of(text, needle),
            key,
            message,
        };
        let doc = parse_yaml(file, text)?;
        let styles = match &doc {
            Value::Null => return Ok(()),
            Value::Object(m) => match m.get("styles") {
                Some(Value::Object(s)) => s,
                Some(_) => {
                    return Err(invalid(
                        "styles".into(),
                        "styles",
                        "expected a mapping of element: {fg, bg, bold, ...}".into(),
                    ));
                }
                None => return Ok(()),
            },
            _ => {
                return Err(invalid(
                    "(top level)".into(),
                    "",
                    "expected a mapping with `styles`".into(),
                ));
            }
        };
        for (name, spec) in styles {
            let path = format!("styles.{name}");
            let Some(_) = self.slot_mut(name) else {
                return Err(invalid(
                    path,
                    name,
                    format!("unknown element; known: {}", SLOTS.join(", ")),
                ));
            };
            let style = parse_style(spec).map_err(|m| invalid(path.clone(), name, m))?;
            if let Some(slot) = self.slot_mut(name) {
                *slot = style;
            }
        }
        Ok(())
    }
}

fn parse_style(spec: &Value) -> Result<Style, String> {
    let Value::Object(m) = spec else {
        return Err("expected a mapping like {fg: red, bold: true}".into());
    };
    let mut style = Style::default();
    for (k, v) in m {
        match k.as_str() {
            "fg" | "bg" => {
                let color = parse_color(v).ok_or_else(|| {
                    format!("{k}: not a colour: {v}; use a name (red, lightblue), #rrggbb or 0-255")
                })?;
                style = if k == "fg" {
                    style.fg(color)
                } else {
                    style.bg(color)
                };
            }
            flag => {
                let m = match flag {
                    "bold" => Modifier::BOLD,
                    "dim" => Modifier::DIM,
                    "italic" => Modifier::ITALIC,
                    "underlined" => Modifier::UNDERLINED,
                    "reversed" => Modifier::REVERSED,
                    _ => {
                        return Err(format!(
                            "unknown attribute {flag:?}; use fg, bg, bold, dim, italic, underlined, reversed"
                        ));
                    }
                };
                match v {
                    Value::Bool(true) => style = style.add_modifier(m),
                    Value::Bool(false) => {}
                    _ => return Err(format!("{flag}: expected true or false")),
                }
            }
        }
    }
    Ok(style)
}

fn parse_color(v: &Value) -> Option<Color> {
    match v {
        Value::String(s) => s.parse::<Color>().ok(),
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .map(Color::Indexed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_themes_parse_and_set_every_slot() {
        for (name, text) in BUILTIN {
            let mut t = Theme::default();
            t.overlay(name, text).unwrap();
            for slot in SLOTS {
                assert_ne!(
                    t.slot_mut(slot).copied(),
                    Some(Style::default()),
                    "{name} leaves {slot} unset"
                );
            }
        }
    }

    #[test]
    fn no_color_keeps_modifiers_only() {
        let t = Theme::load("default", None, true).unwrap();
        assert_eq!(t.failing.fg, None);
        assert!(t.failing.add_modifier.contains(Modifier::BOLD));
        assert!(t.selected.add_modifier.contains(Modifier::REVERSED));
        assert_eq!(t.ready.fg, None);
    }

    #[test]
    fn broken_theme_names_file_line_and_key() {
        let text = "styles:\n  ready: {fg: green}\n  failing: {fg: reddish}\n";
        let err = Theme::default().overlay("/t.yaml", text).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/t.yaml:3: styles.failing: fg: not a colour"),
            "{err}"
        );
        let err = Theme::default()
            .overlay("/t.yaml", "styles:\n  nope: {bold: true}\n")
            .unwrap_err();
        assert!(
            err.to_string().starts_with("/t.yaml:2: styles.nope"),
            "{err}"
        );
        for bad in [
            "styles: 1",
            "styles:\n  ready: 7",
            "styles:\n  ready: {bold: 2}",
            "styles:\n  ready: {blink: true}",
            "[1]",
            "styles: {ready: {fg: 999}}",
            "styles: [",
        ] {
            assert!(Theme::default().overlay("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_theme_wins_and_unknown_name_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("themes")).unwrap();
        std::fs::write(
            dir.path().join("themes/light.yaml"),
            "styles:\n  ready: {fg: magenta}\n",
        )
        .unwrap();
        let t = Theme::load("light", Some(dir.path()), false).unwrap();
        assert_eq!(t.ready.fg, Some(Color::Magenta));
        assert!(Theme::load("solarized", Some(dir.path()), false).is_err());
        assert!(Theme::load("dracula", None, false).is_ok());
    }
}
