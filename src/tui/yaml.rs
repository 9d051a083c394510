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
        let ks = prepare(json!({"kind": "Kustomization", "data": {"a": "b"}}));
        assert_eq!(ks["data"]["a"], "b");
        assert_eq!(prepare(json!(3)), json!(3));
    }
}
