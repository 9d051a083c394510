//! Secret values never reach the terminal: `***` where unchanged or one-sided, `*** (before)` /
//! `*** (after)` where they differ (as `flux diff` prints them).

use serde_json::{Map, Value};

/// The mask of an unchanged or one-sided value.
pub const MASK: &str = "***";
/// The mask of a changed value, old side.
pub const MASK_BEFORE: &str = "*** (before)";
/// The mask of a changed value, new side.
pub const MASK_AFTER: &str = "*** (after)";

fn is_secret(obj: Option<&Value>) -> bool {
    obj.is_some_and(|o| {
        o.get("kind").and_then(Value::as_str) == Some("Secret")
            && o.get("apiVersion").and_then(Value::as_str) == Some("v1")
    })
}

/// Masks `data` and `stringData` of a Secret on both sides of a diff (either side may be absent);
/// objects that are not core/v1 Secrets are left alone.
pub fn mask_secret_data(before: Option<&mut Value>, after: Option<&mut Value>) {
    let (mut before, mut after) = (
        before.filter(|b| is_secret(Some(b))),
        after.filter(|a| is_secret(Some(a))),
    );
    for field in ["data", "stringData"] {
        let old: Option<Map<String, Value>> = before
            .as_ref()
            .and_then(|b| b.get(field))
            .and_then(Value::as_object)
            .cloned();
        let new: Option<Map<String, Value>> = after
            .as_ref()
            .and_then(|a| a.get(field))
            .and_then(Value::as_object)
            .cloned();
        let masked =
            |own: &Map<String, Value>, other: Option<&Map<String, Value>>, changed: &str| {
                own.iter()
                    .map(|(k, v)| {
                        let m = match other.and_then(|o| o.get(k)) {
                            Some(w) if w != v => changed,
                            _ => MASK,
                        };
                        (k.clone(), Value::String(m.to_string()))
                    })
                    .collect::<Map<String, Value>>()
            };
        if let (Some(b), Some(o)) = (before.as_deref_mut().and_then(Value::as_object_mut), &old) {
            b.insert(
                field.into(),
                Value::Object(masked(o, new.as_ref(), MASK_BEFORE)),
            );
        }
        if let (Some(a), Some(n)) = (after.as_deref_mut().and_then(Value::as_object_mut), &new) {
            a.insert(
                field.into(),
                Value::Object(masked(n, old.as_ref(), MASK_AFTER)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data})
    }

    #[test]
    fn same_changed_and_one_sided_values_are_masked() {
        let mut before = secret(json!({"same": "YQ==", "changed": "Yg==", "gone": "Yw=="}));
        let mut after = secret(json!({"same": "YQ==", "changed": "ZA==", "new": "ZQ=="}));
        mask_secret_data(Some(&mut before), Some(&mut after));
        assert_eq!(
            before["data"],
            json!({"same": "***", "changed": "*** (before)", "gone": "***"})
        );
        assert_eq!(
            after["data"],
            json!({"same": "***", "changed": "*** (after)", "new": "***"})
        );
        let mut only = secret(json!({"k": "dg=="}));
        only["stringData"] = json!({"p": "plain"});
        mask_secret_data(None, Some(&mut only));
        assert_eq!(only["data"], json!({"k": "***"}));
        assert_eq!(only["stringData"], json!({"p": "***"}));
    }

    #[test]
    fn other_kinds_and_garbage_are_untouched() {
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}});
        let orig = cm.clone();
        mask_secret_data(Some(&mut cm), None);
        assert_eq!(cm, orig);
        let mut weird = json!({"apiVersion": "v1", "kind": "Secret", "data": "notamap"});
        mask_secret_data(Some(&mut weird), None);
        assert_eq!(weird["data"], "notamap");
    }
}
