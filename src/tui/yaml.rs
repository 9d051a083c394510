//! The YAML view of one object: fetched on demand, managedFields hidden, Secret data masked.

use crate::model::row::RowKey;
use serde_json::Value;

/// An open YAML view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlView {
    /// The object shown.
    pub key: RowKey,
    /// The rendered lines (empty while loading).
    pub lines: Vec<String>,
    /// First visible line.
    pub scroll: usize,
    /// Still waiting for the fetch.
    pub loading: bool,
    /// The search term (`/` in the YAML view), if any.
    pub search: Option<String>,
    /// The search line is open and takes the keys.
    pub typing: bool,
}

impl YamlView {
    /// A view waiting for its object.
    pub fn loading(key: RowKey) -> YamlView {
        YamlView {
            key,
            lines: Vec::new(),
            scroll: 0,
            loading: true,
            search: None,
            typing: false,
        }
    }

    /// Whether line `i` matches the search (case-insensitive substring).
    pub fn is_match(&self, i: usize) -> bool {
        match (&self.search, self.lines.get(i)) {
            (Some(term), Some(line)) if !term.is_empty() => {
                line.to_lowercase().contains(&term.to_lowercase())
            }
            _ => false,
        }
    }

    /// Scrolls to the next (or previous) matching line after (before) the current top line, wrapping;
    /// returns whether one was found.
    pub fn jump(&mut self, forward: bool, include_current: bool) -> bool {
        let n = self.lines.len();
        if n == 0 {
            return false;
        }
        let start = if include_current { 0 } else { 1 };
        for step in start..=n {
            let i = if forward {
                (self.scroll + step) % n
            } else {
                (self.scroll + n * 2 - step) % n
            };
            if self.is_match(i) {
                self.scroll = i;
                return true;
            }
        }
        false
    }
}

/// Removes `metadata.managedFields` and masks every value of a Secret's `data`/`stringData`.
pub fn prepare(mut obj: Value) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    let is_secret = obj.get("kind").and_then(Value::as_str) == Some("Secret")
        && obj.get("apiVersion").and_then(Value::as_str) == Some("v1");
    if is_secret {
        for field in ["data", "stringData"] {
            if let Some(map) = obj.get_mut(field).and_then(Value::as_object_mut) {
                for v in map.values_mut() {
                    *v = Value::String("***".into());
                }
            }
        }
    }
    obj
}

/// The YAML text of a prepared object, one entry per line.
pub fn to_lines(obj: &Value) -> Vec<String> {
    match serde_saphyr::to_string(obj) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(e) => vec![format!("cannot render YAML: {e}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hides_managed_fields_and_masks_secret_data() {
        let secret = prepare(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "managedFields": [{"manager": "x"}]},
            "data": {"password": "aHVudGVyMg=="}, "stringData": {"token": "t"}}));
        let text = to_lines(&secret).join("\n");
        assert!(!text.contains("managedFields"), "{text}");
        assert!(!text.contains("aHVudGVyMg"), "{text}");
        assert!(
            text.contains("password: '***'") || text.contains("password: \"***\""),
            "{text}"
        );
        let mut view = YamlView::loading(RowKey {
            context: "c".into(),
            kind: "Secret",
            namespace: "n".into(),
            name: "s".into(),
        });
        view.lines = to_lines(&secret);
        view.search = Some("PASSWORD".into());
        assert!(view.jump(true, true));
        assert!(view.lines[view.scroll].contains("password"));
        let at = view.scroll;
        // The only match: wrapping comes back to it.
        assert!(view.jump(true, false));
        assert_eq!(view.scroll, at);
        assert!(view.jump(false, false));
        assert_eq!(view.scroll, at);
        view.search = Some("nowhere".into());
        assert!(!view.jump(true, true));
        let ks = prepare(json!({"kind": "Kustomization", "data": {"a": "b"}}));
        assert_eq!(ks["data"]["a"], "b");
        assert_eq!(prepare(json!(3)), json!(3));
    }
}
