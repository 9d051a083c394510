//! A HelmRelease's values: `valuesFrom` in order (ConfigMap/Secret, `valuesKey`, `targetPath`,
//! `optional`), then `spec.values` on top, merged the way Helm merges maps; and the config digest
//! helm-controller records (`sha256:` of the values as `sigs.k8s.io/yaml` prints them).

use super::spec::ValuesReference;
use super::strings;
use crate::helm::value::Value as HValue;
use crate::runtime::rest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Deep-merges `src` into `dst` (maps merge recursively, anything else replaces), as Helm's
/// `MergeMaps` does.
pub fn merge_maps(dst: &mut Map<String, Value>, src: &Map<String, Value>) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(Value::Object(d)), Value::Object(s)) => merge_maps(d, s),
            _ => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The `sha256:<hex>` digest helm-controller records for values (`configDigest`).
pub fn config_digest(values: &Map<String, Value>) -> String {
    let text = if values.is_empty() {
        String::new()
    } else {
        crate::helm::yaml::to_yaml(&HValue::from_json(&Value::Object(values.clone()), false))
    };
    format!("sha256:{:x}", Sha256::digest(text.as_bytes()))
}

/// Sets `path` (Helm's `--set` path syntax) to the text `value` in `values`.
pub fn set_target_path(
    values: &mut Map<String, Value>,
    path: &str,
    value: &str,
) -> Result<(), String> {
    let mut dest: BTreeMap<String, HValue> = values
        .iter()
        .map(|(k, v)| (k.clone(), HValue::from_json(v, true)))
        .collect();
    // The value is one --set argument: commas in it must not split it.
    let escaped = value.replace('\\', "\\\\").replace(',', "\\,");
    crate::helm::strvals::parse_into(&format!("{path}={escaped}"), &mut dest, false)
        .map_err(|e| format!("unable to replace values at target path '{path}': {e}"))?;
    *values = dest.into_iter().map(|(k, v)| (k, v.to_json())).collect();
    Ok(())
}

/// Reads one `valuesFrom` object's key as text; `Ok(None)` when an optional source is missing.
async fn read_source(
    client: &kube::Client,
    namespace: &str,
    r: &ValuesReference,
) -> Result<Option<String>, String> {
    let plural = if r.kind == "Secret" {
        "secrets"
    } else {
        "configmaps"
    };
    let path = format!(
        "/api/v1/namespaces/{}/{plural}/{}",
        rest::escape(namespace),
        rest::escape(&r.name)
    );
    let obj = match rest::send(client, Method::GET, &path, None, Vec::new()).await {
        Ok(o) => o,
        Err(e) if rest::is_not_found(&e) => {
            if r.optional {
                return Ok(None);
            }
            return Err(strings::values_source_not_found(
                &r.kind, namespace, &r.name,
            ));
        }
        Err(e) => {
            return Err(format!(
                "could not get {} '{namespace}/{}': {e}",
                r.kind, r.name
            ));
        }
    };
    let key = &r.values_key;
    let text = if r.kind == "Secret" {
        obj.pointer("/data")
            .and_then(|d| d.get(key))
            .and_then(Value::as_str)
            .map(|b| {
                STANDARD
                    .decode(b)
                    .map(|raw| String::from_utf8_lossy(&raw).into_owned())
                    .map_err(|e| format!("Secret '{namespace}/{}' key '{key}': {e}", r.name))
            })
            .transpose()?
            .or_else(|| {
                obj.pointer("/stringData")
                    .and_then(|d| d.get(key))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
    } else {
        obj.pointer("/data")
            .and_then(|d| d.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match text {
        Some(t) => Ok(Some(t)),
        None if r.optional => Ok(None),
        None => Err(strings::values_key_missing(
            key, &r.kind, namespace, &r.name,
        )),
    }
}

/// The composed values of a HelmRelease in `namespace`.
pub async fn compose(
    client: &kube::Client,
    namespace: &str,
    refs: &[ValuesReference],
    inline: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for r in refs {
        let Some(text) = read_source(client, namespace, r).await? else {
            continue;
        };
        match &r.target_path {
            Some(path) => set_target_path(&mut out, path, text.trim_end_matches('\n'))?,
            None => {
                let parsed = crate::helm::yaml::parse_yaml_json(&text).map_err(|e| {
                    format!(
                        "unable to read values from key '{}' in {} '{namespace}/{}': {e}",
                        r.values_key, r.kind, r.name
                    )
                })?;
                match parsed {
                    Value::Object(m) => merge_maps(&mut out, &m),
                    Value::Null => {}
                    _ => {
                        return Err(format!(
                            "unable to read values from key '{}' in {} '{namespace}/{}': not a map",
                            r.values_key, r.kind, r.name
                        ));
                    }
                }
            }
        }
    }
    merge_maps(&mut out, inline);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_and_target_paths() {
        let mut a = json!({"a": {"b": 1, "c": 2}, "l": [1]})
            .as_object()
            .cloned()
            .unwrap();
        merge_maps(
            &mut a,
            json!({"a": {"c": 3}, "l": [2]}).as_object().unwrap(),
        );
        assert_eq!(
            Value::Object(a.clone()),
            json!({"a": {"b": 1, "c": 3}, "l": [2]})
        );
        set_target_path(&mut a, "x.y", "p,q").unwrap();
        assert_eq!(a["x"]["y"], "p,q");
        set_target_path(&mut a, "n", "3").unwrap();
        assert_eq!(a["n"], 3);
    }

    #[test]
    fn digest_of_empty_values_is_sha256_of_nothing() {
        assert_eq!(
            config_digest(&Map::new()),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
