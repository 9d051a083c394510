//! The YAML view of one object: fetched on demand, managedFields hidden, Secret data and URL
//! passwords masked.

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
    /// Wrapped or scrolled sideways.
    pub fit: super::chrome::Fit,
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
            fit: super::chrome::Fit::default(),
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
        match next_match(
            self.lines.len(),
            self.scroll,
            forward,
            include_current,
            |i| self.is_match(i),
        ) {
            Some(i) => {
                self.scroll = i;
                true
            }
            None => false,
        }
    }
}

/// The first line from `from` (after it unless `include_current`) going forward or backward, with
/// wrap-around, for which `is_match` holds; `None` when no line of `n` matches.
pub fn next_match(
    n: usize,
    from: usize,
    forward: bool,
    include_current: bool,
    is_match: impl Fn(usize) -> bool,
) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let start = usize::from(!include_current);
    (start..=n)
        .map(|step| {
            if forward {
                (from + step) % n
            } else {
                (from + n * 2 - step) % n
            }
        })
        .find(|&i| is_match(i))
}

/// Removes `metadata.managedFields`, masks every value of a Secret's `data`/`stringData` and the
/// password of every URL in a string value (`http://alice:xxxxx@host`).
pub fn prepare(mut obj: Value) -> Value {
    redact_urls(&mut obj);
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

/// Masks URL passwords in every string of `v`.
fn redact_urls(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(masked) = crate::model::redact::redact(s) {
                *s = masked;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_urls),
        Value::Object(o) => o.values_mut().for_each(redact_urls),
        _ => {}
    }
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

    #[test]
    fn next_match_wraps_both_ways_and_skips_the_current_line_unless_asked() {
        let hits = |i: usize| i == 1 || i == 4;
        assert_eq!(next_match(5, 1, true, true, hits), Some(1));
        assert_eq!(next_match(5, 1, true, false, hits), Some(4));
        assert_eq!(
            next_match(5, 4, true, false, hits),
            Some(1),
            "wraps forward"
        );
        assert_eq!(
            next_match(5, 1, false, false, hits),
            Some(4),
            "wraps backward"
        );
        assert_eq!(next_match(5, 4, false, false, hits), Some(1));
        assert_eq!(next_match(5, 2, true, true, |_| false), None);
        assert_eq!(next_match(0, 0, true, true, |_| true), None);
        // The only match is the current line: found again after a full turn.
        assert_eq!(next_match(3, 2, true, false, |i| i == 2), Some(2));
    }

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
        let repo = prepare(json!({"kind": "GitRepository",
            "spec": {"url": "https://alice:s3cret@git.example.com/repo.git"},
            "status": {"conditions": [{"message": "fetch https://alice:s3cret@git.example.com/repo.git failed"}]}}));
        let text = to_lines(&repo).join("\n");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            text.contains("https://alice:xxxxx@git.example.com/repo.git"),
            "{text}"
        );
        let ks = prepare(json!({"kind": "Kustomization", "data": {"a": "b"}}));
        assert_eq!(ks["data"]["a"], "b");
        assert_eq!(prepare(json!(3)), json!(3));
    }
}
